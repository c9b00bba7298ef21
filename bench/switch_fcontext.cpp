/*
 * Greenlet switch benchmark: libgreen against boost.context (its raw
 * fcontext layer and its fiber API) and glibc's ucontext, all in one
 * process, interleaved (see bench_util.h).
 *
 * Every implementation does the three forms the same way:
 *  pingpong        main and a child context switch back and forth, passing
 *                  a value each way; ns per switch.
 *  pingpong_deep4  the same, but each side switches from the bottom of its
 *                  own chain of 4 non-inlined calls.  After a switch the
 *                  CPU's return-address predictor still holds the other
 *                  side's chain, so the returns mispredict as they do in
 *                  real programs; plain ping-pong hides that cost.
 *  cycle           create a context, switch into a body that returns its
 *                  argument at once, release it; ns per context.  libgreen
 *                  gets its stacks from its (warm) stack cache; the others
 *                  reuse one stack allocated once.
 *
 * fcontext and fiber are built only when Boost.Context is found
 * (BENCH_HAVE_FCONTEXT).
 */
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include <ucontext.h>

#ifdef BENCH_HAVE_FCONTEXT
#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#endif

#include "bench_util.h"
#include "green/greenlet.h"

namespace
{

enum Side { kMain = 0, kChild = 1 };

char stop_token;
void *const kStop = &stop_token; // tells the ping-pong child to finish

// The other implementations run their child on this one reused stack; only
// one child exists at a time.
constexpr std::size_t kReusedStackSize = 64 * 1024;
alignas(64) unsigned char reused_stack[kReusedStackSize];

[[noreturn]] void die(const char *what, int err)
{
    std::fprintf(stderr, "switch_fcontext: %s failed (%d: %s)\n", what, err,
                 std::strerror(err));
    std::exit(1);
}

// A body that returns its argument: the "trivial body" of the cycle form.
void *echo(void *value)
{
    return value;
}

/* ---- The implementations --------------------------------------------
 * Each provides:
 *   name
 *   start_child<Run>()        make a child context that will call Run with
 *                             the value of the first switch into it and
 *                             deliver Run's result back to main
 *   switch_to_peer<Side>(v)   switch from Side to the other side passing v;
 *                             returns the value switched back with
 *   release_child()           free the finished child
 */

struct Libgreen {
    static constexpr const char *name = "libgreen";
    // Indexed by Side.  The main greenlet is looked up once, before
    // main(), so that no form pays for the lookup.
    static inline greenlet_t *greenlets[2] = {greenlet_current(), nullptr};

    template <void *(*Run)(void *)> static void start_child()
    {
        static const greenlet_attr_t default_attr = {};
        int err = greenlet_new(&greenlets[kChild], Run, nullptr, &default_attr);
        if (err)
            die("greenlet_new", err);
    }

    template <int FromSide> static void *switch_to_peer(void *value)
    {
        void *result;
        int err = greenlet_switch(greenlets[1 - FromSide], value, &result);
        if (err)
            die("greenlet_switch", err);
        return result;
    }

    static void release_child()
    {
        int err = greenlet_destroy(greenlets[kChild]);
        if (err)
            die("greenlet_destroy", err);
    }
};

#ifdef BENCH_HAVE_FCONTEXT
namespace fctx = boost::context::detail;

struct Fcontext {
    static constexpr const char *name = "fcontext";
    // Only two contexts exist, so the peer of either side is whichever one
    // last switched to it.
    static inline fctx::fcontext_t peer;

    template <void *(*Run)(void *)> static void entry(fctx::transfer_t from)
    {
        peer = from.fctx;
        switch_to_peer<kChild>(Run(from.data));
        std::abort(); // a finished child is never resumed
    }

    template <void *(*Run)(void *)> static void start_child()
    {
        peer = fctx::make_fcontext(reused_stack + kReusedStackSize,
                                   kReusedStackSize, entry<Run>);
    }

    template <int FromSide> static void *switch_to_peer(void *value)
    {
        fctx::transfer_t back = fctx::jump_fcontext(peer, value);
        peer = back.fctx;
        return back.data;
    }

    static void release_child() {}
};

namespace bctx = boost::context;

// boost.context's public API over fcontext: a fiber owns its stack and is
// torn down when its function returns.  The stack here is the reused one.
struct Fiber {
    static constexpr const char *name = "fiber";
    static inline bctx::fiber peer; // as in Fcontext
    static inline void *transfer;   // fibers carry no value of their own

    // With a preallocated stack the fiber only ever gives it back.
    struct ReusedStack {
        bctx::stack_context allocate()
        {
            std::abort();
        }
        void deallocate(bctx::stack_context &) noexcept {}
    };

    // Returning the main fiber resumes it and destroys this one.
    template <void *(*Run)(void *)> static bctx::fiber entry(bctx::fiber &&main)
    {
        peer = std::move(main);
        transfer = Run(transfer);
        return std::move(peer);
    }

    template <void *(*Run)(void *)> static void start_child()
    {
        bctx::stack_context stack;
        stack.size = kReusedStackSize;
        stack.sp = reused_stack + kReusedStackSize;
        peer = bctx::fiber(std::allocator_arg,
                           bctx::preallocated(stack.sp, stack.size, stack),
                           ReusedStack(), entry<Run>);
    }

    template <int FromSide> static void *switch_to_peer(void *value)
    {
        transfer = value;
        peer = std::move(peer).resume();
        return transfer;
    }

    static void release_child() {}
};
#endif

struct Ucontext {
    static constexpr const char *name = "ucontext";
    static inline ucontext_t contexts[2]; // indexed by Side
    static inline void *transfer;         // the value being switched with

    // Returning resumes contexts[kMain] through uc_link.
    template <void *(*Run)(void *)> static void entry()
    {
        transfer = Run(transfer);
    }

    template <void *(*Run)(void *)> static void start_child()
    {
        ucontext_t *child = &contexts[kChild];
        if (getcontext(child))
            die("getcontext", errno);
        child->uc_stack.ss_sp = reused_stack;
        child->uc_stack.ss_size = kReusedStackSize;
        child->uc_link = &contexts[kMain];
        makecontext(child, entry<Run>, 0);
    }

    template <int FromSide> static void *switch_to_peer(void *value)
    {
        transfer = value;
        if (swapcontext(&contexts[FromSide], &contexts[1 - FromSide]))
            die("swapcontext", errno);
        return transfer;
    }

    static void release_child() {}
};

/* ---- The forms, written once for all implementations ---------------- */

// Keeps each call level a real call: not inlined, cloned, or (gcc's
// identical code folding) merged with its twin of the other side.  Clang
// has no noipa and folds no functions by default.
// Each level also starts a 64-byte line, so that the deep form does not
// depend on where the linker happens to put the harness: unaligned, moving
// the harness by 16 to 48 bytes alone took fcontext from 34.5 to 37.4 ns.
#if defined(__clang__)
#define CALL_LEVEL_ATTRIBUTES __attribute__((noinline, aligned(64)))
#else
#define CALL_LEVEL_ATTRIBUTES __attribute__((noipa, aligned(64)))
#endif

template <class Impl, Side FromSide, int Depth>
CALL_LEVEL_ATTRIBUTES void *call_level(void *value);

// Switch from FromSide below Depth non-inlined calls.  Each (Side, Depth)
// is its own function, so the two sides never share return addresses.
template <class Impl, Side FromSide, int Depth>
inline void *switch_at_depth(void *value)
{
    if constexpr (Depth == 0)
        return Impl::template switch_to_peer<FromSide>(value);
    else
        return call_level<Impl, FromSide, Depth>(value);
}

template <class Impl, Side FromSide, int Depth>
CALL_LEVEL_ATTRIBUTES void *call_level(void *value)
{
    void *result = switch_at_depth<Impl, FromSide, Depth - 1>(value);
    __asm__ volatile("" : "+r"(result)); // no tail call: the frame stays
    return result;
}

// The ping-pong child: echo every value until told to stop.
template <class Impl, int Depth> void *echo_until_stop(void *value)
{
    while (value != kStop)
        value = switch_at_depth<Impl, kChild, Depth>(value);
    return value;
}

// One iteration is a round trip: two switches.
template <class Impl, int Depth> void pingpong(void *, std::uint64_t rounds)
{
    Impl::template start_child<echo_until_stop<Impl, Depth>>();
    for (std::uint64_t i = 1; i <= rounds; i++) {
        void *sent = reinterpret_cast<void *>(i);
        if (switch_at_depth<Impl, kMain, Depth>(sent) != sent)
            die("ping-pong echo", 0);
    }
    if (Impl::template switch_to_peer<kMain>(kStop) != kStop)
        die("ping-pong stop", 0);
    Impl::release_child();
}

template <class Impl> void create_run_destroy(void *, std::uint64_t count)
{
    for (std::uint64_t i = 1; i <= count; i++) {
        void *sent = reinterpret_cast<void *>(i);
        Impl::template start_child<echo>();
        if (Impl::template switch_to_peer<kMain>(sent) != sent)
            die("cycle echo", 0);
        Impl::release_child();
    }
}

constexpr int kFormCount = 3; // cases per implementation, see add_cases

template <class Impl> void add_cases(std::vector<bench_case> &cases)
{
    cases.push_back({"switch", Impl::name, "pingpong", "ns/switch",
                     pingpong<Impl, 0>, nullptr, 2, 0, 0});
    cases.push_back({"switch", Impl::name, "pingpong_deep4", "ns/switch",
                     pingpong<Impl, 4>, nullptr, 2, 0, 0});
    cases.push_back({"create_run_destroy", Impl::name, "cycle", "ns/greenlet",
                     create_run_destroy<Impl>, nullptr, 1, 0, 0});
}

} // namespace

int main()
{
    // Implementation i's form f is cases[i * kFormCount + f]; libgreen is 0.
    std::vector<bench_case> cases;
    add_cases<Libgreen>(cases);
#ifdef BENCH_HAVE_FCONTEXT
    add_cases<Fcontext>(cases);
    add_cases<Fiber>(cases);
#endif
    add_cases<Ucontext>(cases);

    bench_run_interleaved(cases.data(), cases.size());

    for (const bench_case &c : cases)
        bench_print_case(&c);
    for (std::size_t other = kFormCount; other < cases.size();
         other += kFormCount)
        for (int form = 0; form < kFormCount; form++)
            bench_print_ratio(&cases[form], &cases[other + form]);
    return 0;
}

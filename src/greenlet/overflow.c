/*
 * Stack-overflow reports.
 *
 * Running off the end of a greenlet's stack hits its guard page.  A
 * SIGSEGV/SIGBUS handler, running on an alternate signal stack (the
 * faulting stack is full), names the greenlet and its stack bounds, then
 * aborts: no silent corruption.  Faults elsewhere go to the handler that
 * was installed before ours.
 */
#define _GNU_SOURCE
#include "greenlet_internal.h"
#include "sys.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define ALTSTACK_MIN ((size_t)64 * 1024)

static struct sigaction previous_segv, previous_bus;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;

/* Async-signal-safe output: write(2) of strings and hex numbers. */
static void put(const char *s)
{
    ssize_t unused = sys_libc()->write(STDERR_FILENO, s, strlen(s));
    (void)unused;
}

static void put_hex(uintptr_t value)
{
    char buf[2 + 2 * sizeof value + 1];
    char *p = buf + sizeof buf - 1;
    *p = '\0';
    do {
        *--p = "0123456789abcdef"[value & 0xf];
        value >>= 4;
    } while (value);
    *--p = 'x';
    *--p = '0';
    put(p);
}

static void report_overflow(const greenlet_t *g, uintptr_t addr)
{
    uintptr_t lo = (uintptr_t)g->stack.lo;
    put("libgreen: stack overflow in greenlet '");
    put(greenlet_name(g));
    put("': fault at ");
    put_hex(addr);
    put(", stack ");
    put_hex(lo);
    put("-");
    put_hex(lo + g->stack.size);
    put(", guard ");
    put_hex(lo - green_stack_guard_size());
    put("-");
    put_hex(lo);
    put("\n");
}

static void chain(int sig, siginfo_t *info, void *uctx)
{
    const struct sigaction *old =
        sig == SIGBUS ? &previous_bus : &previous_segv;
    struct sigaction default_action = {.sa_handler = SIG_DFL};

    if (old->sa_flags & SA_SIGINFO) {
        old->sa_sigaction(sig, info, uctx);
    } else if (old->sa_handler == SIG_DFL || old->sa_handler == SIG_IGN) {
        /* Returning re-executes the faulting access under the default
         * action, which produces the usual core dump. */
        sys_libc()->sigaction(sig, &default_action, NULL);
    } else {
        old->sa_handler(sig);
    }
}

/* True if addr lies in g's guard page. */
static int in_guard(const greenlet_t *g, uintptr_t addr)
{
    uintptr_t lo = (uintptr_t)g->stack.lo;
    return lo != 0 && addr < lo && addr >= lo - green_stack_guard_size();
}

/* The stack pointer the fault interrupted, or 0 where unknown. */
static uintptr_t interrupted_sp(const void *uctx)
{
    const ucontext_t *context = uctx;
#if defined(__x86_64__)
    return (uintptr_t)context->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)context->uc_mcontext.sp;
#else
    (void)context;
    return 0;
#endif
}

/* True if sp lies in g's stack or in its guard. */
static int on_stack(const greenlet_t *g, uintptr_t sp)
{
    uintptr_t lo = (uintptr_t)g->stack.lo;
    return lo != 0 && sp >= lo - green_stack_guard_size() &&
           sp <= lo + g->stack.size;
}

/* The greenlet whose stack overflowed into addr, or NULL.  Usually the
 * current one; but a switch makes its target current before it pushes the
 * registers of the greenlet it leaves, so an overflow in those pushes
 * belongs to the greenlet whose guard holds the fault and whose stack the
 * stack pointer.  (Requiring the stack pointer there keeps a stray write
 * into some other greenlet's guard from being reported as its overflow.) */
static const greenlet_t *overflowed(const struct green_tstate *ts,
                                    uintptr_t addr, uintptr_t sp)
{
    if (in_guard(ts->current, addr))
        return ts->current;
    for (const greenlet_t *g = ts->all; g && sp; g = g->next_in_thread)
        if (in_guard(g, addr) && on_stack(g, sp))
            return g;
    return NULL;
}

static void fault_handler(int sig, siginfo_t *info, void *uctx)
{
    struct green_tstate *ts = green_tstate_peek();
    const greenlet_t *g =
        ts ? overflowed(ts, (uintptr_t)info->si_addr, interrupted_sp(uctx))
           : NULL;
    if (g) {
        report_overflow(g, (uintptr_t)info->si_addr);
        abort();
    }
    chain(sig, info, uctx);
}

static void install_handler(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = fault_handler;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    sys_libc()->sigaction(SIGSEGV, &action, &previous_segv);
    sys_libc()->sigaction(SIGBUS, &action, &previous_bus);
}

void green_overflow_thread_init(struct green_tstate *ts)
{
    pthread_once(&handler_once, install_handler);

    /* Keep an alternate stack the thread already has (ASan's, the
     * program's own). */
    stack_t current;
    if (sigaltstack(NULL, &current) == 0 && !(current.ss_flags & SS_DISABLE))
        return;
    size_t size = (size_t)sysconf(_SC_MINSIGSTKSZ) * 4;
    if (size < ALTSTACK_MIN)
        size = ALTSTACK_MIN;
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return; /* overflows then die without a report, as before */
    stack_t alt = {.ss_sp = mem, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&alt, NULL) != 0) {
        munmap(mem, size);
        return;
    }
    ts->altstack = mem;
    ts->altstack_size = size;
}

void green_overflow_thread_exit(struct green_tstate *ts)
{
    if (!ts->altstack)
        return;
    stack_t off = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    munmap(ts->altstack, ts->altstack_size);
    ts->altstack = NULL;
}

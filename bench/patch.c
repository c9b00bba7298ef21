/*
 * libgreen_patch: what a hook costs.
 *
 * A one-byte write + read round trip on a socketpair, through the hooks
 * and through libc's own functions (looked up with dlsym(RTLD_NEXT), i.e.
 * what the hooks call), outside any green thread (the hooks must then be
 * plain pass-throughs: within 5%) and inside one (data always ready, so
 * nothing parks).  Then a ping-pong between two green threads where every
 * read parks: plain blocking read/write through the hooks against
 * libgreen's own green_read/green_write.
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <green/io.h>
#include <green/patch.h>
#include <green/thread.h>

#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);

static read_fn libc_read;
static write_fn libc_write;

struct pair {
    int fds[2];
    int use_libc; /* 0: the hooks, 1: libc via dlsym, 2: raw syscall */
    uint64_t iterations;
};

static void round_trips(struct pair *p, uint64_t iterations)
{
    char byte = 'b';

    for (uint64_t i = 0; i < iterations; i++) {
        switch (p->use_libc) {
        case 0:
            if (write(p->fds[0], &byte, 1) != 1 ||
                read(p->fds[1], &byte, 1) != 1)
                abort();
            break;
        case 1:
            if (libc_write(p->fds[0], &byte, 1) != 1 ||
                libc_read(p->fds[1], &byte, 1) != 1)
                abort();
            break;
        default:
            if (syscall(SYS_write, p->fds[0], &byte, 1) != 1 ||
                syscall(SYS_read, p->fds[1], &byte, 1) != 1)
                abort();
        }
    }
}

static void run_outside(void *context, uint64_t iterations)
{
    round_trips(context, iterations);
}

static void *green_round_trips(void *arg)
{
    struct pair *p = arg;

    round_trips(p, p->iterations);
    return NULL;
}

static void run_in_green_thread(void *context, uint64_t iterations)
{
    struct pair *p = context;
    green_thread_t *t;

    p->iterations = iterations;
    if (green_spawn(&t, green_round_trips, p) != 0 ||
        green_thread_wait(t, NULL) != 0)
        abort();
    green_thread_release(t);
}

/* ---- ping-pong with parking ------------------------------------------- */

struct pingpong {
    int fds[2];
    int use_green_io;
    uint64_t iterations;
};

static void transfer(const struct pingpong *pp, int fd, int sending)
{
    char byte = 'p';
    size_t n = 0;

    if (pp->use_green_io) {
        if ((sending ? green_write(fd, &byte, 1, &n)
                     : green_read(fd, &byte, 1, &n)) != 0 ||
            n != 1)
            abort();
    } else if ((sending ? write(fd, &byte, 1) : read(fd, &byte, 1)) != 1) {
        abort();
    }
}

static void *pong(void *arg)
{
    struct pingpong *pp = arg;

    for (uint64_t i = 0; i < pp->iterations; i++) {
        transfer(pp, pp->fds[1], 0);
        transfer(pp, pp->fds[1], 1);
    }
    return NULL;
}

static void *ping(void *arg)
{
    struct pingpong *pp = arg;

    for (uint64_t i = 0; i < pp->iterations; i++) {
        transfer(pp, pp->fds[0], 1);
        transfer(pp, pp->fds[0], 0);
    }
    return NULL;
}

static void run_pingpong(void *context, uint64_t iterations)
{
    struct pingpong *pp = context;
    green_thread_t *a, *b;

    pp->iterations = iterations;
    if (green_spawn(&a, ping, pp) != 0 || green_spawn(&b, pong, pp) != 0 ||
        green_thread_wait(a, NULL) != 0 || green_thread_wait(b, NULL) != 0)
        abort();
    green_thread_release(a);
    green_thread_release(b);
}

static struct bench_case patch_case(const char *implementation,
                                    const char *metric, bench_fn run,
                                    void *context)
{
    return (struct bench_case){.benchmark = "patch",
                               .implementation = implementation,
                               .metric = metric,
                               .unit = "ns/round-trip",
                               .run = run,
                               .context = context,
                               .ops_per_iteration = 1};
}

static void open_pair(int fds[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
        abort();
}

int main(void)
{
    struct pair hooked = {.use_libc = 0}, direct = {.use_libc = 1},
                raw = {.use_libc = 2};
    struct pair green_hooked = {.use_libc = 0}, green_direct = {.use_libc = 1};
    struct pingpong patched = {.use_green_io = 0},
                    green_io = {.use_green_io = 1};
    const char *outside = "write+read outside green thread";
    const char *inside = "write+read in green thread";
    const char *parked = "ping-pong, reads park";

    libc_read = (read_fn)dlsym(RTLD_NEXT, "read");
    libc_write = (write_fn)dlsym(RTLD_NEXT, "write");
    if (libc_read == NULL || libc_write == NULL || !green_patch_enabled())
        return 1;
    open_pair(hooked.fds);
    open_pair(direct.fds);
    open_pair(raw.fds);
    open_pair(green_hooked.fds);
    open_pair(green_direct.fds);
    open_pair(patched.fds);
    open_pair(green_io.fds);

    struct bench_case cases[] = {
        patch_case("hooked", outside, run_outside, &hooked),
        patch_case("libc", outside, run_outside, &direct),
        patch_case("syscall", outside, run_outside, &raw),
        patch_case("hooked", inside, run_in_green_thread, &green_hooked),
        patch_case("libc", inside, run_in_green_thread, &green_direct),
        patch_case("hooked", parked, run_pingpong, &patched),
        patch_case("green_io", parked, run_pingpong, &green_io),
    };
    size_t count = sizeof(cases) / sizeof(cases[0]);

    bench_run_interleaved(cases, count);
    for (size_t i = 0; i < count; i++)
        bench_print_case(&cases[i]);
    bench_print_ratio(&cases[0], &cases[1]);
    bench_print_ratio(&cases[3], &cases[4]);
    bench_print_ratio(&cases[5], &cases[6]);
    return 0;
}

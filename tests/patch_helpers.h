/*
 * Helpers for the libgreen_patch tests: green thread spawn/join from the
 * main greenlet, a ticker that proves the hub keeps running while a hooked
 * call is parked, and loopback ports.
 */
#ifndef GREEN_PATCH_HELPERS_H
#define GREEN_PATCH_HELPERS_H

#include "test_util.h"

#include <green/hub.h>
#include <green/patch.h>
#include <green/thread.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline green_thread_t *patch_spawn(green_thread_fn fn, void *arg)
{
    green_thread_t *thread = NULL;

    assert_int_equal(green_spawn(&thread, fn, arg), 0);
    return thread;
}

/* Wait for thread from the main greenlet; returns its result. */
static inline void *patch_join(green_thread_t *thread)
{
    void *result = NULL;

    assert_int_equal(green_thread_wait(thread, &result), 0);
    green_thread_release(thread);
    return result;
}

static inline double patch_seconds(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* Counts hub passes while `stop` is 0: a ticker that advanced shows that
 * other green threads ran while some hooked call was parked. */
struct ticker {
    volatile int stop;
    long ticks;
};

static inline void *ticker_every(struct ticker *ticker, double pause)
{
    while (!ticker->stop) {
        ticker->ticks++;
        green_sleep(pause);
    }
    return NULL;
}

/* Ticks every millisecond. */
static inline void *ticker_run(void *arg)
{
    return ticker_every(arg, 0.001);
}

/* Ticks each time it gets the CPU: any park of another green thread lets
 * it tick, however short (a millisecond ticker could miss one). */
static inline void *ticker_yield_run(void *arg)
{
    return ticker_every(arg, 0);
}

/* A free TCP port on 127.0.0.1 (the kernel's choice; released at once,
 * so a server started on it may still race another process: callers
 * retry). */
static inline int patch_free_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* A listening socket on 127.0.0.1 with a kernel-chosen port. */
static inline int patch_listen(int *port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(fd, 512), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    *port = ntohs(addr.sin_port);
    return fd;
}

#endif /* GREEN_PATCH_HELPERS_H */

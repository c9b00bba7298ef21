/*
 * Waiting hooks: poll, ppoll, select, pselect, epoll_wait, epoll_pwait.
 *
 * In a green thread each asks the real call with a zero timeout (and the
 * caller's signal mask, if any) what is ready; if nothing is, it parks on
 * an epoll set of the fds (for epoll_wait: the caller's epoll fd itself,
 * which is readable when one of its fds is ready) and asks again.  Libraries
 * with their own event loop, such as libcurl's, cooperate this way.
 *
 * Outside green threads these pass through (the hub's own waits call
 * libc directly, and signals reach parked hooks through the hub's
 * before-poll hook: see park.c).
 */
#include "patch_internal.h"

#include <errno.h>

const struct patch_symbol patch_poll_symbols[] = {
    PATCH_SYMBOL(poll),    PATCH_SYMBOL(ppoll),      PATCH_SYMBOL(select),
    PATCH_SYMBOL(pselect), PATCH_SYMBOL(epoll_wait), PATCH_SYMBOL(epoll_pwait),
    PATCH_SYMBOLS_END,
};

typedef struct wait_call wait_call_t;

struct wait_call {
    /* Ready count now (zero timeout), or -1 with errno. */
    int (*probe)(wait_call_t *call);
    /* Park until something may be ready: 0, or an errno (park.c). */
    int (*park)(wait_call_t *call, const patch_deadline_t *deadline);
    const sigset_t *mask;
    /* poll, ppoll */
    struct pollfd *fds;
    nfds_t nfds;
    /* select, pselect: the caller's sets and the copies asked about */
    int nfds_select;
    fd_set *sets[3];
    fd_set asked[3];
    /* epoll_wait, epoll_pwait */
    int epfd;
    struct epoll_event *events;
    int max_events;
};

static const struct timespec no_wait = {0, 0};

/* The probe-and-park loop of every waiting hook.  timeout in seconds,
 * negative for none.  Own timeouts end with a last probe, which also
 * leaves the caller's arrays as the real call would (all clear). */
static int wait_until_ready(wait_call_t *call, double timeout)
{
    patch_deadline_t deadline = patch_deadline_after(timeout, false);
    int n, err;

    for (;;) {
        n = call->probe(call);
        if (n != 0 || timeout == 0)
            return n;
        err = call->park(call, &deadline);
        if (err == PATCH_OWN_TIMEOUT)
            return call->probe(call);
        if (err != 0) {
            errno = err;
            return -1;
        }
    }
}

static double seconds_of_ms(int ms)
{
    return ms < 0 ? GREEN_FOREVER : ms / 1000.0;
}

static double seconds_of_timespec(const struct timespec *ts)
{
    return ts == NULL ? GREEN_FOREVER : ts->tv_sec + ts->tv_nsec / 1e9;
}

static bool timespec_valid(const struct timespec *ts)
{
    return ts == NULL ||
           (ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000);
}

/* ---- poll, ppoll ----------------------------------------------------- */

static int probe_pollfds(wait_call_t *call)
{
    return libc_real()->ppoll(call->fds, call->nfds, &no_wait, call->mask);
}

static int park_pollfds(wait_call_t *call, const patch_deadline_t *deadline)
{
    return patch_wait_pollfds(call->fds, call->nfds, deadline);
}

static int green_poll(struct pollfd *fds, nfds_t nfds, double timeout,
                      const sigset_t *mask)
{
    wait_call_t call = {.probe = probe_pollfds,
                        .park = park_pollfds,
                        .mask = mask,
                        .fds = fds,
                        .nfds = nfds};

    return wait_until_ready(&call, timeout);
}

int poll(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
    if (patch_in_green_thread())
        return green_poll(fds, nfds, seconds_of_ms(timeout_ms), NULL);
    return libc_real()->poll(fds, nfds, timeout_ms);
}

int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout,
          const sigset_t *mask)
{
    if (!patch_in_green_thread() || !timespec_valid(timeout))
        return libc_real()->ppoll(fds, nfds, timeout, mask);
    return green_poll(fds, nfds, seconds_of_timespec(timeout), mask);
}

/* ---- select, pselect ------------------------------------------------- */

static int probe_sets(wait_call_t *call)
{
    for (int i = 0; i < 3; i++)
        if (call->sets[i] != NULL)
            *call->sets[i] = call->asked[i];
    return libc_real()->pselect(call->nfds_select, call->sets[0], call->sets[1],
                                call->sets[2], &no_wait, call->mask);
}

static int park_sets(wait_call_t *call, const patch_deadline_t *deadline)
{
    static const short events[3] = {POLLIN, POLLOUT, POLLPRI};
    struct pollfd fds[FD_SETSIZE];
    nfds_t count = 0;

    for (int fd = 0; fd < call->nfds_select; fd++) {
        short wanted = 0;

        for (int i = 0; i < 3; i++)
            if (call->sets[i] != NULL && FD_ISSET(fd, &call->asked[i]))
                wanted |= events[i];
        if (wanted != 0)
            fds[count++] = (struct pollfd){.fd = fd, .events = wanted};
    }
    return patch_wait_pollfds(fds, count, deadline);
}

/* Beyond FD_SETSIZE the fd_sets are the caller's own larger arrays: the
 * real call, whatever it makes of them, is libc's behaviour. */
static bool select_handled(int nfds)
{
    return nfds >= 0 && nfds <= FD_SETSIZE && patch_in_green_thread();
}

static int green_select(int nfds, fd_set *sets[3], double timeout,
                        const sigset_t *mask)
{
    wait_call_t call = {.probe = probe_sets,
                        .park = park_sets,
                        .mask = mask,
                        .nfds_select = nfds};

    for (int i = 0; i < 3; i++) {
        call.sets[i] = sets[i];
        if (sets[i] != NULL)
            call.asked[i] = *sets[i];
    }
    return wait_until_ready(&call, timeout);
}

int select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
           struct timeval *timeout)
{
    fd_set *sets[3] = {readfds, writefds, exceptfds};
    double seconds, started;
    int n;

    if (!select_handled(nfds) ||
        (timeout != NULL && (timeout->tv_sec < 0 || timeout->tv_usec < 0 ||
                             timeout->tv_usec >= 1000000)))
        return libc_real()->select(nfds, readfds, writefds, exceptfds, timeout);
    seconds = timeout == NULL ? GREEN_FOREVER
                              : timeout->tv_sec + timeout->tv_usec / 1e6;
    started = green_now();
    n = green_select(nfds, sets, seconds, NULL);
    if (timeout != NULL) {
        /* Linux leaves the time not slept in *timeout. */
        double left = seconds - (green_now() - started);

        if (left < 0)
            left = 0;
        timeout->tv_sec = (time_t)left;
        timeout->tv_usec =
            (suseconds_t)((left - (double)timeout->tv_sec) * 1e6);
    }
    return n;
}

int pselect(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
            const struct timespec *timeout, const sigset_t *mask)
{
    fd_set *sets[3] = {readfds, writefds, exceptfds};

    if (!select_handled(nfds) || !timespec_valid(timeout))
        return libc_real()->pselect(nfds, readfds, writefds, exceptfds, timeout,
                                    mask);
    return green_select(nfds, sets, seconds_of_timespec(timeout), mask);
}

/* ---- epoll_wait, epoll_pwait ----------------------------------------- */

static int probe_epoll(wait_call_t *call)
{
    return libc_real()->epoll_pwait(call->epfd, call->events, call->max_events,
                                    0, call->mask);
}

static int park_epoll(wait_call_t *call, const patch_deadline_t *deadline)
{
    return patch_wait_fd(call->epfd, GREEN_READ, true, deadline);
}

static int green_epoll_wait(int epfd, struct epoll_event *events,
                            int max_events, int timeout_ms,
                            const sigset_t *mask)
{
    wait_call_t call = {.probe = probe_epoll,
                        .park = park_epoll,
                        .mask = mask,
                        .epfd = epfd,
                        .events = events,
                        .max_events = max_events};

    return wait_until_ready(&call, seconds_of_ms(timeout_ms));
}

int epoll_wait(int epfd, struct epoll_event *events, int max_events,
               int timeout_ms)
{
    if (patch_in_green_thread())
        return green_epoll_wait(epfd, events, max_events, timeout_ms, NULL);
    return libc_real()->epoll_wait(epfd, events, max_events, timeout_ms);
}

int epoll_pwait(int epfd, struct epoll_event *events, int max_events,
                int timeout_ms, const sigset_t *mask)
{
    if (!patch_in_green_thread())
        return libc_real()->epoll_pwait(epfd, events, max_events, timeout_ms,
                                        mask);
    return green_epoll_wait(epfd, events, max_events, timeout_ms, mask);
}

/* ---- _FORTIFY_SOURCE entry points ------------------------------------- */

extern void __chk_fail(void) __attribute__((noreturn));

int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout_ms,
               size_t fds_size);
int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout_ms, size_t fds_size)
{
    if (fds_size / sizeof(*fds) < nfds)
        __chk_fail();
    return poll(fds, nfds, timeout_ms);
}

int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout,
                const sigset_t *mask, size_t fds_size);
int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout,
                const sigset_t *mask, size_t fds_size)
{
    if (fds_size / sizeof(*fds) < nfds)
        __chk_fail();
    return ppoll(fds, nfds, timeout, mask);
}

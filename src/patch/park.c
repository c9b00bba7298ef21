/*
 * Parking a hook: the park-and-retry loop that every I/O hook uses, the
 * waits behind it, and the interruption of parked hooks by signals.
 *
 * A hook parked in a green thread is not in a system call, so a signal
 * cannot interrupt it directly.  Instead each parked hook is listed per
 * OS thread with the signal counts seen when it parked, and parks on its
 * own waiter (green/hub_hooks.h).  The hub's before-poll hook, which runs
 * on every loop pass and so soon after a signal cut the hub's wait short,
 * compares the counts and ends exactly the calls libc would have
 * interrupted, with green_unpark(EINTR) on their waiters: other waiters on
 * the same fds stay parked.
 */
#include "patch_internal.h"

#include <green/hub_hooks.h>

#include <errno.h>
#include <unistd.h>

typedef struct parked_hook {
    struct parked_hook *prev, *next;
    green_waiter_t waiter; /* what the hook parks on */
    int for_fd;            /* the user's fd a private set stands for */
    bool restartable;
    patch_signal_counts_t seen;
} parked_hook_t;

/* Only this OS thread's green threads and hub touch the list. */
static PATCH_TLS parked_hook_t *parked_hooks;

static void park_begin(parked_hook_t *hook, int for_fd, bool restartable)
{
    *hook = (parked_hook_t){.for_fd = for_fd,
                            .restartable = restartable,
                            .seen = patch_signal_counts(),
                            .next = parked_hooks};
    if (parked_hooks != NULL)
        parked_hooks->prev = hook;
    parked_hooks = hook;
}

static void park_end(parked_hook_t *hook)
{
    if (hook->prev != NULL)
        hook->prev->next = hook->next;
    else
        parked_hooks = hook->next;
    if (hook->next != NULL)
        hook->next->prev = hook->prev;
}

static bool interrupted_since(const patch_signal_counts_t *seen,
                              bool restartable)
{
    patch_signal_counts_t now = patch_signal_counts();

    return now.interrupting != seen->interrupting ||
           (!restartable && now.restarting != seen->restarting);
}

/* The hub's before-poll hook.  A hook already woken (its waiter no longer
 * pending) is left alone by green_unpark. */
static void deliver_interrupts(void)
{
    for (parked_hook_t *hook = parked_hooks; hook != NULL; hook = hook->next)
        if (interrupted_since(&hook->seen, hook->restartable))
            green_unpark(&hook->waiter, EINTR, NULL);
}

__attribute__((constructor)) static void install_before_poll(void)
{
    green_hub_set_before_poll(deliver_interrupts);
}

patch_deadline_t patch_deadline_after(double seconds, bool restartable)
{
    return (patch_deadline_t){.at = seconds < 0 ? GREEN_FOREVER
                                                : green_now() + seconds,
                              .restartable = restartable};
}

static bool deadline_passed(const patch_deadline_t *deadline)
{
    return deadline->at >= 0 && green_now() >= deadline->at;
}

/* Seconds left, GREEN_FOREVER for none. */
static double time_left(const patch_deadline_t *deadline)
{
    double left;

    if (deadline->at < 0)
        return GREEN_FOREVER;
    left = deadline->at - green_now();
    return left > 0 ? left : 0;
}

/* The result of a hub wait, as the hook reports it.  EBADF is someone's
 * close(): "ready", so that the retried call reports the closed fd
 * itself. */
static int wait_result(int err, const patch_deadline_t *deadline)
{
    switch (err) {
    case 0:
    case EBADF:
        return 0;
    case ETIMEDOUT:
        /* The hub does not say whose deadline it was. */
        return deadline_passed(deadline) ? PATCH_OWN_TIMEOUT : ETIMEDOUT;
    default:
        return err;
    }
}

static int park_on_fd(int fd, int for_fd, int events,
                      const patch_deadline_t *deadline, bool *busy)
{
    parked_hook_t hook;
    int err;

    if (deadline_passed(deadline))
        return PATCH_OWN_TIMEOUT;
    park_begin(&hook, for_fd, deadline->restartable);
    err = green_wait_fd_waiter(&hook.waiter, fd, events, time_left(deadline));
    park_end(&hook);
    *busy = err == EBUSY;
    return wait_result(err, deadline);
}

/* libc would return EINTR unless every handler that ran asked for
 * SA_RESTART (a handler we did not wrap counts as interrupting). */
static bool restart_after_eintr(const patch_signal_counts_t *seen,
                                bool restartable)
{
    patch_signal_counts_t now = patch_signal_counts();

    return restartable && now.interrupting == seen->interrupting &&
           now.restarting != seen->restarting;
}

/* Plain code on an fd libgreen made nonblocking: block in the kernel as
 * the real call would have. */
static int block_in_kernel(int fd, int events, const patch_deadline_t *deadline)
{
    struct pollfd pfd = {.fd = fd,
                         .events =
                             (short)(((events & GREEN_READ) ? POLLIN : 0) |
                                     ((events & GREEN_WRITE) ? POLLOUT : 0))};

    for (;;) {
        double left = time_left(deadline);
        patch_signal_counts_t seen = patch_signal_counts();
        /* Rounded up, so that a wake-up is never early. */
        int ms = left < 0      ? -1
                 : left >= 1e6 ? 1000000000
                               : (int)(left * 1000) + 1;
        int n;

        if (deadline_passed(deadline))
            return PATCH_OWN_TIMEOUT;
        n = libc_real()->poll(&pfd, 1, ms);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return errno;
        if (n < 0 && !restart_after_eintr(&seen, deadline->restartable))
            return EINTR;
    }
}

/* Park until one of fds is ready: a private epoll set holding them, which
 * is itself readable then.  for_fd: the user's fd when the set stands in
 * for a single-fd wait (close() must reach it), else -1. */
static int wait_on_set(const struct pollfd *fds, nfds_t nfds,
                       const patch_deadline_t *deadline, int for_fd)
{
    /* poll(2) and epoll share these bit values on Linux. */
    const uint32_t wanted = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP |
                            EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM |
                            EPOLLWRBAND;
    int set = epoll_create1(EPOLL_CLOEXEC);
    bool busy;
    int err;

    if (set < 0)
        return errno;
    for (nfds_t i = 0; i < nfds; i++) {
        struct epoll_event ev = {.events = (uint32_t)fds[i].events & wanted,
                                 .data.fd = fds[i].fd};

        if (fds[i].fd < 0)
            continue;
        if (epoll_ctl(set, EPOLL_CTL_ADD, fds[i].fd, &ev) == 0 ||
            errno != EEXIST)
            continue; /* an fd epoll refuses was reported by the probe */
        /* The same fd twice: wait for the union of its events. */
        for (nfds_t j = 0; j < i; j++)
            if (fds[j].fd == fds[i].fd)
                ev.events |= (uint32_t)fds[j].events & wanted;
        epoll_ctl(set, EPOLL_CTL_MOD, fds[i].fd, &ev);
    }
    /* An epoll fd is readable when one of its fds is ready. */
    err = park_on_fd(set, for_fd, GREEN_READ, deadline, &busy);
    green_notify_close(set);
    libc_real()->close(set);
    return err;
}

int patch_wait_fd(int fd, int events, bool green,
                  const patch_deadline_t *deadline)
{
    struct pollfd pfd = {.fd = fd};
    bool busy;
    int err;

    if (!green)
        return block_in_kernel(fd, events, deadline);
    fdstate_mark_waited(fd);
    err = park_on_fd(fd, -1, events, deadline, &busy);
    if (busy) {
        /* Another green thread waits for the same event on this fd (a
         * shared socket): wait on a private set instead. */
        pfd.events = (short)(((events & GREEN_READ) ? POLLIN : 0) |
                             ((events & GREEN_WRITE) ? POLLOUT : 0));
        err = wait_on_set(&pfd, 1, deadline, fd);
    }
    return patch_after_wait(err, &pfd, 1);
}

int patch_wait_pollfds(const struct pollfd *fds, nfds_t nfds,
                       const patch_deadline_t *deadline)
{
    return patch_after_wait(wait_on_set(fds, nfds, deadline, -1), fds, nfds);
}

void patch_wake_closing(int fd)
{
    for (parked_hook_t *hook = parked_hooks; hook != NULL; hook = hook->next)
        if (hook->for_fd == fd)
            green_unpark(&hook->waiter, EBADF, NULL);
}

int patch_wait_sleep(double seconds)
{
    parked_hook_t hook;
    patch_deadline_t deadline = patch_deadline_after(seconds, false);
    int err;

    park_begin(&hook, -1, false);
    green_waiter_init(&hook.waiter);
    err = green_park(&hook.waiter, seconds, NULL);
    park_end(&hook);
    err = wait_result(err, &deadline);
    return err == PATCH_OWN_TIMEOUT ? 0 : err;
}

ssize_t patch_io_blocked(int fd, int events, bool green, patch_io_fn attempt,
                         void *call)
{
    patch_deadline_t deadline;
    double timeout;
    ssize_t n;
    int err;

    if (!fdstate_wait_for_user(fd, green))
        return -1; /* the user's EAGAIN, errno intact */
    /* Per signal(7), SO_RCVTIMEO/SO_SNDTIMEO calls are never restarted. */
    timeout = fdstate_timeout(fd, events);
    deadline = patch_deadline_after(timeout, timeout < 0);
    for (;;) {
        err = patch_wait_fd(fd, events, green, &deadline);
        if (err != 0) {
            errno = err;
            return -1;
        }
        n = attempt(fd, call);
        if (n >= 0 || errno != EAGAIN)
            return n;
    }
}

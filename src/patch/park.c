/*
 * Parking a hook: the park-and-retry loop that every I/O hook uses, the
 * waits behind it, and the interruption of parked hooks by signals.
 *
 * A hook parked in a green thread is not in a system call, so a signal
 * cannot interrupt it directly.  Instead each parked hook is listed per
 * OS thread with the signal counts seen when it parked; the hub's own
 * epoll_wait/poll (hooked too, and interrupted by the signal) compares the
 * counts and wakes the hooks whose call libc would have interrupted: an fd
 * wait through green_notify_close (it sees EBADF and its interrupted
 * mark), a sleep through green_unpark.
 */
#include "patch_internal.h"

#include <green/greenlet.h>

#include <errno.h>
#include <unistd.h>

typedef struct parked_hook {
    struct parked_hook *prev, *next;
    int fd;                  /* the fd waited on, or -1 */
    int for_fd;              /* the user's fd a private set stands for */
    green_waiter_t *sleeper; /* for a sleep */
    bool restartable;
    bool interrupted;
    patch_signal_counts_t seen;
} parked_hook_t;

/* Only this OS thread's green threads and hub touch the list. */
static PATCH_TLS parked_hook_t *parked_hooks;

static void park_begin(parked_hook_t *hook, int fd, int for_fd,
                       green_waiter_t *sleeper, bool restartable)
{
    *hook = (parked_hook_t){.fd = fd,
                            .for_fd = for_fd,
                            .sleeper = sleeper,
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

bool patch_hub_deliver_interrupts(void)
{
    bool woke = false;

    if (parked_hooks == NULL || greenlet_is_main(greenlet_current()))
        return false;
    for (parked_hook_t *hook = parked_hooks; hook != NULL; hook = hook->next) {
        if (hook->interrupted ||
            !interrupted_since(&hook->seen, hook->restartable))
            continue;
        hook->interrupted = true;
        woke = true;
        if (hook->sleeper != NULL)
            green_unpark(hook->sleeper, EINTR, NULL);
        else
            green_notify_close(hook->fd);
    }
    return woke;
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

/* The result of a hub wait, as the hook reports it.  An EBADF that no
 * interruption caused is someone's close(): "ready", so that the retried
 * call reports the closed fd itself. */
static int wait_result(int err, const parked_hook_t *hook,
                       const patch_deadline_t *deadline)
{
    if (hook->interrupted && (err == EBADF || err == EINTR))
        return EINTR;
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
    park_begin(&hook, fd, for_fd, NULL, deadline->restartable);
    err = green_wait_fd(fd, events, time_left(deadline));
    park_end(&hook);
    *busy = err == EBUSY;
    return wait_result(err, &hook, deadline);
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
    if (!busy)
        return err;
    /* Another green thread waits for the same event on this fd (a shared
     * socket): wait on a private set instead. */
    pfd.events = (short)(((events & GREEN_READ) ? POLLIN : 0) |
                         ((events & GREEN_WRITE) ? POLLOUT : 0));
    return wait_on_set(&pfd, 1, deadline, fd);
}

int patch_wait_pollfds(const struct pollfd *fds, nfds_t nfds,
                       const patch_deadline_t *deadline)
{
    return wait_on_set(fds, nfds, deadline, -1);
}

void patch_wake_closing(int fd)
{
    for (parked_hook_t *hook = parked_hooks; hook != NULL; hook = hook->next)
        if (hook->for_fd == fd)
            green_notify_close(hook->fd);
}
int patch_wait_sleep(double seconds)
{
    parked_hook_t hook;
    green_waiter_t sleeper;
    patch_deadline_t deadline = patch_deadline_after(seconds, false);
    int err;

    green_waiter_init(&sleeper);
    park_begin(&hook, -1, -1, &sleeper, false);
    err = green_park(&sleeper, seconds, NULL);
    park_end(&hook);
    err = wait_result(err, &hook, &deadline);
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

/* The epoll backend (Linux default): see poll.h. */
#include "poll.h"

#include "greenlet/sys.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

typedef struct epoll_state {
    int epfd;
    struct epoll_event buffer[256];
} epoll_state_t;

static int epoll_create_state(void **out)
{
    epoll_state_t *state = malloc(sizeof(*state));

    if (state == NULL)
        return ENOMEM;
    state->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (state->epfd < 0) {
        int err = errno;

        free(state);
        return err;
    }
    *out = state;
    return 0;
}

static void epoll_destroy_state(void *opaque)
{
    epoll_state_t *state = opaque;

    sys_libc()->close(state->epfd);
    free(state);
}

/* EPOLL_CTL_ADD or _MOD of fd for the epoll events given. */
static int epoll_register(epoll_state_t *state, int fd, unsigned old_events,
                          uint32_t events)
{
    int first = old_events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int second = old_events ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    int retry_on = old_events ? ENOENT : EEXIST;
    struct epoll_event ev = {.events = events, .data.fd = fd};

    /* The hub's table may be out of date about an fd closed behind its
     * back (the kernel then dropped it) or reused, so a failed MOD retries
     * as ADD and a failed ADD as MOD. */
    if (epoll_ctl(state->epfd, first, fd, &ev) == 0)
        return 0;
    if (errno == retry_on && epoll_ctl(state->epfd, second, fd, &ev) == 0)
        return 0;
    return errno;
}

static int epoll_set(void *opaque, int fd, unsigned old_events, unsigned events)
{
    uint32_t ev = 0;

    if (events & POLL_EV_IN)
        ev |= EPOLLIN | EPOLLRDHUP;
    if (events & POLL_EV_OUT)
        ev |= EPOLLOUT;
    return epoll_register(opaque, fd, old_events, ev);
}

static int epoll_watch_edge(void *opaque, int fd, unsigned old_events)
{
    return epoll_register(opaque, fd, old_events,
                          EPOLLIN | EPOLLRDHUP | EPOLLOUT | EPOLLET);
}

static void epoll_remove(void *opaque, int fd)
{
    epoll_state_t *state = opaque;
    struct epoll_event unused = {0};

    epoll_ctl(state->epfd, EPOLL_CTL_DEL, fd, &unused);
}

static int epoll_wait_events(void *opaque, int timeout_ms, poll_event_t *out,
                             int max)
{
    epoll_state_t *state = opaque;
    int capacity = (int)(sizeof(state->buffer) / sizeof(state->buffer[0]));
    int n;

    if (max > capacity)
        max = capacity;
    n = sys_libc()->epoll_wait(state->epfd, state->buffer, max, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        uint32_t ev = state->buffer[i].events;

        out[i].fd = state->buffer[i].data.fd;
        out[i].events = ((ev & (EPOLLIN | EPOLLRDHUP)) ? POLL_EV_IN : 0u) |
                        ((ev & EPOLLOUT) ? POLL_EV_OUT : 0u) |
                        ((ev & (EPOLLERR | EPOLLHUP)) ? POLL_EV_ERR : 0u) |
                        ((ev & (EPOLLRDHUP | EPOLLHUP)) ? POLL_EV_HUP : 0u);
    }
    return n;
}

const poll_backend_t poll_backend_epoll = {
    .name = "epoll",
    .create = epoll_create_state,
    .destroy = epoll_destroy_state,
    .set = epoll_set,
    .watch_edge = epoll_watch_edge,
    .remove = epoll_remove,
    .wait = epoll_wait_events,
};

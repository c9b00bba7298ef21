/* The poll(2) backend, the portable fallback: see poll.h.  A dense pollfd
 * array plus an fd -> slot map keeps set and remove O(1). */
#include "fd_table.h"
#include "poll.h"

#include "greenlet/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

typedef struct pollfd_state {
    struct pollfd *fds;
    size_t count, capacity;
    size_t *slot_of_fd; /* fd -> index in fds + 1; 0 = not registered */
    size_t fd_capacity;
} pollfd_state_t;

static int poll_create_state(void **out)
{
    pollfd_state_t *state = calloc(1, sizeof(*state));

    if (state == NULL)
        return ENOMEM;
    *out = state;
    return 0;
}

static void poll_destroy_state(void *opaque)
{
    pollfd_state_t *state = opaque;

    free(state->fds);
    free(state->slot_of_fd);
    free(state);
}

static int poll_set(void *opaque, int fd, unsigned old_events, unsigned events)
{
    pollfd_state_t *state = opaque;
    short wanted = (short)(((events & POLL_EV_IN) ? POLLIN : 0) |
                           ((events & POLL_EV_OUT) ? POLLOUT : 0));
    size_t slot;

    (void)old_events; /* the slot map knows better */
    /* poll(2) would only flag a bad fd later, as POLLNVAL. */
    if (fd < 0 || sys_libc()->fcntl(fd, F_GETFD) < 0)
        return EBADF;
    if ((size_t)fd >= state->fd_capacity) {
        size_t *map = fd_array_grow(state->slot_of_fd, &state->fd_capacity,
                                    sizeof(*map), fd);
        if (map == NULL)
            return ENOMEM;
        state->slot_of_fd = map;
    }
    slot = state->slot_of_fd[fd];
    if (slot == 0) {
        if (state->count == state->capacity) {
            size_t capacity = state->capacity ? state->capacity * 2 : 64;
            struct pollfd *fds = realloc(state->fds, capacity * sizeof(*fds));

            if (fds == NULL)
                return ENOMEM;
            state->fds = fds;
            state->capacity = capacity;
        }
        slot = ++state->count;
        state->slot_of_fd[fd] = slot;
        state->fds[slot - 1].fd = fd;
    }
    state->fds[slot - 1].events = wanted;
    state->fds[slot - 1].revents = 0;
    return 0;
}

static void poll_remove(void *opaque, int fd)
{
    pollfd_state_t *state = opaque;
    size_t slot;

    if (fd < 0 || (size_t)fd >= state->fd_capacity)
        return;
    slot = state->slot_of_fd[fd];
    if (slot == 0)
        return;
    /* The last entry fills the hole. */
    state->fds[slot - 1] = state->fds[state->count - 1];
    state->slot_of_fd[state->fds[slot - 1].fd] = slot;
    state->count--;
    state->slot_of_fd[fd] = 0;
}

static int poll_wait_events(void *opaque, int timeout_ms, poll_event_t *out,
                            int max)
{
    pollfd_state_t *state = opaque;
    int n = sys_libc()->poll(state->fds, state->count, timeout_ms);
    int stored = 0;

    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (size_t i = 0; i < state->count && stored < n && stored < max; i++) {
        short re = state->fds[i].revents;

        if (re == 0)
            continue;
        out[stored].fd = state->fds[i].fd;
        out[stored].events =
            ((re & POLLIN) ? POLL_EV_IN : 0u) |
            ((re & POLLOUT) ? POLL_EV_OUT : 0u) |
            ((re & (POLLERR | POLLHUP | POLLNVAL)) ? POLL_EV_ERR : 0u) |
            ((re & POLLHUP) ? POLL_EV_HUP : 0u);
        stored++;
    }
    return stored;
}

const poll_backend_t poll_backend_poll = {
    .name = "poll",
    .create = poll_create_state,
    .destroy = poll_destroy_state,
    .set = poll_set,
    .watch_edge = NULL, /* poll(2) has no edge-triggered mode */
    .remove = poll_remove,
    .wait = poll_wait_events,
};

/*
 * Internal: the hub's I/O readiness backend, one small interface so that
 * epoll, poll(2), io_uring and later kqueue are interchangeable (the
 * libuv src/unix split).  Registrations made by set are level-triggered:
 * an fd stays reported while it is ready for a registered event; those
 * made by watch_edge are edge-triggered (see there).
 *
 * A backend must be safe to destroy in a forked child: destroy only closes
 * its own descriptors and never edits kernel state shared with the parent.
 */
#ifndef GREEN_POLL_H
#define GREEN_POLL_H

#define POLL_EV_IN 0x1u  /* same bits as GREEN_READ */
#define POLL_EV_OUT 0x2u /* same bits as GREEN_WRITE */
#define POLL_EV_ERR 0x4u /* error or hang-up: wakes readers and writers */
/* Reported with the others: the peer shut down its writing side, or
 * hang-up.  Unlike readiness this lasts (reads find end of file), so the
 * hub keeps it for an edge-triggered fd, whose edge for it comes only
 * once.  Not an error, which a read may clear (a UDP socket's ICMP). */
#define POLL_EV_HUP 0x8u

typedef struct poll_event {
    int fd;
    unsigned events;
} poll_event_t;

typedef struct poll_backend {
    const char *name;
    /* 0 or an errno code; *state is the backend's own data. */
    int (*create)(void **state);
    void (*destroy)(void *state);
    /* Register fd for events (POLL_EV_IN/POLL_EV_OUT), replacing the earlier
     * registration old_events (0: none, as far as the hub knows; the
     * backend copes with the hub being wrong about an fd closed behind its
     * back).  Errno codes: EBADF, EPERM (fd type not pollable), ENOMEM. */
    int (*set)(void *state, int fd, unsigned old_events, unsigned events);
    /* Optional (NULL if the backend cannot): register fd for POLL_EV_IN and
     * POLL_EV_OUT together, edge-triggered, replacing the earlier
     * registration old_events as set does.  fd is then reported once each
     * time it becomes readable or writable (or gets an error), not while it
     * stays so: the hub keeps it registered for the fd's whole life
     * instead of calling set for every wait.  Errno codes as for set. */
    int (*watch_edge)(void *state, int fd, unsigned old_events);
    /* Forget fd (no error if it was not registered). */
    void (*remove)(void *state, int fd);
    /* Wait up to timeout_ms (-1: no limit) and store up to max ready events
     * in out.  Returns how many, 0 on timeout or EINTR, or -errno. */
    int (*wait)(void *state, int timeout_ms, poll_event_t *out, int max);
    /* Optional, for backends that run operations (io_uring): cancel every
     * operation on fd now, not at the next wait, since the caller is about
     * to close fd and an operation holds the file open. */
    void (*cancel_ops)(void *state, int fd);
    /* Optional: the backend to use instead when create fails (the backend
     * has said why on stderr). */
    const struct poll_backend *fallback;
} poll_backend_t;

extern const poll_backend_t poll_backend_epoll;
extern const poll_backend_t poll_backend_poll;
#ifdef GREEN_HAVE_URING
extern const poll_backend_t poll_backend_uring; /* poll_uring.c, uring.h */
#endif

#endif /* GREEN_POLL_H */

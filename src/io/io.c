/*
 * Green I/O: nonblocking syscalls that park the calling green thread on
 * EAGAIN and retry (eventlet's trampoline pattern), plus the per-fd state
 * (timeout, "we made it nonblocking") they rely on.
 */
#define _GNU_SOURCE /* accept4 */
#include <green/io.h>

#include "greenlet/sys.h"
#include "hub/fd_record.h"
#include "hub/fd_table.h"
#include "io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- Per-fd state ---------------------------------------------------- */

/* Process-wide, in the hub's per-fd record (hub/fd_record.h): any hub
 * thread may use any fd.  NULL for an fd out of range, or when create is
 * 0 and the fd's record does not exist yet, or without memory. */
static struct fd_io_state *fd_state(int fd, int create)
{
    struct hub_fd_record *record = hub_fd_record(fd, create);

    return record != NULL ? &record->io : NULL;
}

/* Forget what we knew about fd (it is new, or being closed). */
static void fd_state_reset(int fd, int nonblocking)
{
    struct fd_io_state *state = fd_state(fd, nonblocking);

    if (state == NULL)
        return;
    for (int side = 0; side < 2; side++)
        atomic_store_explicit(&state->timeout_ns_plus_one[side], 0,
                              memory_order_relaxed);
    atomic_store_explicit(&state->nonblocking, nonblocking,
                          memory_order_relaxed);
}

/* An fd this layer made: nonblocking, no timeout, and managed by the hub
 * (green_fd_manage), since every wait here follows an EAGAIN and every
 * close goes through green_close.  Without memory for either record the
 * fd just takes the slower, general path. */
static void adopt_new_fd(int fd)
{
    fd_state_reset(fd, 1);
    (void)green_fd_manage(fd);
}

/* The stored form of a timeout: 0 for none, else nanoseconds plus one. */
static uint64_t timeout_encode(double seconds)
{
    if (seconds < 0)
        return 0;
    return seconds >= 1e9 ? UINT64_MAX : (uint64_t)(seconds * 1e9) + 1;
}

static double timeout_decode(const struct fd_io_state *state, int side)
{
    uint64_t encoded = atomic_load_explicit(&state->timeout_ns_plus_one[side],
                                            memory_order_relaxed);

    return encoded == 0 ? GREEN_FOREVER : (double)(encoded - 1) / 1e9;
}

int green_set_timeouts(int fd, double recv_seconds, double send_seconds)
{
    struct fd_io_state *state;

    if (fd < 0)
        return EBADF;
    if (isnan(recv_seconds) || isnan(send_seconds))
        return EINVAL;
    state = fd_state(fd, 1);
    if (state == NULL)
        return (size_t)fd >= FD_TABLE_MAX_FDS ? EBADF : ENOMEM;
    atomic_store_explicit(&state->timeout_ns_plus_one[0],
                          timeout_encode(recv_seconds), memory_order_relaxed);
    atomic_store_explicit(&state->timeout_ns_plus_one[1],
                          timeout_encode(send_seconds), memory_order_relaxed);
    return 0;
}

int green_set_timeout(int fd, double seconds)
{
    return green_set_timeouts(fd, seconds, seconds);
}

int green_get_timeouts(int fd, double *recv_seconds, double *send_seconds)
{
    struct fd_io_state *state;

    if (fd < 0)
        return EBADF;
    state = fd_state(fd, 0);
    if (recv_seconds != NULL)
        *recv_seconds =
            state != NULL ? timeout_decode(state, 0) : GREEN_FOREVER;
    if (send_seconds != NULL)
        *send_seconds =
            state != NULL ? timeout_decode(state, 1) : GREEN_FOREVER;
    return 0;
}

double green_get_timeout(int fd)
{
    double seconds;

    return green_get_timeouts(fd, &seconds, NULL) == 0 ? seconds
                                                       : GREEN_FOREVER;
}

/* The fd's timeout for a wait for `events`: the receive side's for
 * GREEN_READ, the send side's for GREEN_WRITE, the earlier for both. */
static double fd_timeout_for(int fd, int events)
{
    double recv_s, send_s;

    green_get_timeouts(fd, &recv_s, &send_s);
    if (!(events & GREEN_WRITE))
        return recv_s;
    if (!(events & GREEN_READ) || recv_s < 0)
        return send_s;
    return send_s < 0 || recv_s < send_s ? recv_s : send_s;
}

/* Calls that cannot use MSG_DONTWAIT need O_NONBLOCK on the fd itself. */
int io_ensure_nonblocking(int fd)
{
    struct fd_io_state *state = fd_state(fd, 1);
    int flags;

    if (state != NULL &&
        atomic_load_explicit(&state->nonblocking, memory_order_relaxed))
        return 0;
    flags = sys_libc()->fcntl(fd, F_GETFL);
    if (flags < 0)
        return errno;
    if (!(flags & O_NONBLOCK) &&
        sys_libc()->fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return errno;
    if (state != NULL)
        atomic_store_explicit(&state->nonblocking, 1, memory_order_relaxed);
    return 0;
}

/* ---- The retry loop ---------------------------------------------------- */

/* One call's time limit, worked out at the first wait: a call that never
 * blocks neither looks up the fd's timeout nor reads the clock, and the
 * *_all calls share one deadline across all their retries. */
#define IO_TIMEOUT_OF_FD (-2.0) /* not looked up yet */

struct io_deadline {
    double timeout; /* seconds; GREEN_FOREVER: none */
    double at;      /* absolute, once known; negative until then */
};

static struct io_deadline io_deadline_of_fd(void)
{
    struct io_deadline deadline = {IO_TIMEOUT_OF_FD, -1.0};
    return deadline;
}

/* Run attempt until it does not fail with EAGAIN, parking on fd for
 * `events` between tries.  The one place where green I/O blocks. */
static int io_retry(int fd, int events, struct io_deadline *deadline,
                    green_io_attempt_fn attempt, void *op, size_t *out)
{
    for (;;) {
        ssize_t done = attempt(fd, op);
        double wait = GREEN_FOREVER;
        int err;

        if (done >= 0) {
            if (out != NULL)
                *out = (size_t)done;
            return 0;
        }
        err = errno;
        if (err == EINTR)
            continue;
        if (err != EAGAIN && err != EWOULDBLOCK)
            return err;
        if (deadline->timeout == IO_TIMEOUT_OF_FD)
            deadline->timeout = fd_timeout_for(fd, events);
        if (deadline->timeout >= 0) {
            double now = green_now();

            if (deadline->at < 0)
                deadline->at = now + deadline->timeout;
            wait = deadline->at - now;
            if (wait <= 0)
                return ETIMEDOUT;
        }
        err = green_wait_fd(fd, events, wait);
        if (err != 0)
            return err;
    }
}

int green_io_retry(int fd, int events, double timeout,
                   green_io_attempt_fn attempt, void *op, size_t *out)
{
    struct io_deadline deadline = {timeout < 0 ? GREEN_FOREVER : timeout, -1.0};

    if (attempt == NULL || isnan(timeout))
        return EINVAL;
    return io_retry(fd, events, &deadline, attempt, op, out);
}

/* ---- Attempts ---------------------------------------------------------- */

struct io_message {
    void *buf;
    size_t len;
    int flags;
    struct sockaddr *addr;
    socklen_t *addrlen;        /* receive side */
    socklen_t addrlen_to_send; /* send side */
};

static ssize_t attempt_recvfrom(int fd, void *op)
{
    struct io_message *m = op;
    return sys_libc()->recvfrom(fd, m->buf, m->len, m->flags | MSG_DONTWAIT,
                                m->addr, m->addrlen);
}

static ssize_t attempt_sendto(int fd, void *op)
{
    struct io_message *m = op;
    return sys_libc()->sendto(fd, m->buf, m->len,
                              m->flags | MSG_DONTWAIT | MSG_NOSIGNAL, m->addr,
                              m->addrlen_to_send);
}

static ssize_t attempt_read(int fd, void *op)
{
    struct io_message *m = op;
    return sys_libc()->read(fd, m->buf, m->len);
}

static ssize_t attempt_write(int fd, void *op)
{
    struct io_message *m = op;
    return sys_libc()->write(fd, m->buf, m->len);
}

static ssize_t attempt_accept(int fd, void *op)
{
    struct io_message *m = op;
    return sys_libc()->accept4(fd, m->addr, m->addrlen,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
}

struct io_connect {
    const struct sockaddr *addr;
    socklen_t addrlen;
    int in_progress;
};

/* First attempt: connect().  Later ones, after the socket became writable:
 * the outcome from SO_ERROR, and getpeername() to tell a finished connect
 * from a spurious wake-up. */
static ssize_t attempt_connect(int fd, void *op)
{
    struct io_connect *c = op;
    struct sockaddr_storage peer;
    socklen_t length = sizeof(peer);
    int so_error = 0;

    if (!c->in_progress) {
        if (sys_libc()->connect(fd, c->addr, c->addrlen) == 0)
            return 0;
        if (errno == EINPROGRESS || errno == EALREADY) {
            c->in_progress = 1;
            errno = EAGAIN;
        }
        return -1;
    }
    if (sys_libc()->getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &length) <
        0)
        return -1;
    if (so_error != 0) {
        errno = so_error;
        return -1;
    }
    length = sizeof(peer);
    if (getpeername(fd, (struct sockaddr *)&peer, &length) < 0) {
        errno = errno == ENOTCONN ? EAGAIN : errno;
        return -1;
    }
    return 0;
}

/* ---- Public calls ------------------------------------------------------ */

/* Validate, prepare the fd, and run one attempt through io_retry. */
static int io_call(int fd, int events, green_io_attempt_fn attempt, void *op,
                   int needs_nonblocking, size_t *out)
{
    struct io_deadline deadline = io_deadline_of_fd();
    int err = needs_nonblocking ? io_ensure_nonblocking(fd) : 0;

    return err != 0 ? err : io_retry(fd, events, &deadline, attempt, op, out);
}

static int check_buffer(const void *buf, size_t len)
{
    return buf == NULL && len > 0 ? EINVAL : 0;
}

int green_socket(int *out_fd, int domain, int type, int protocol)
{
    int fd;

    if (out_fd == NULL)
        return EINVAL;
    fd = sys_libc()->socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC,
                            protocol);
    if (fd < 0)
        return errno;
    adopt_new_fd(fd);
    *out_fd = fd;
    return 0;
}

int green_close(int fd)
{
    if (fd < 0)
        return EBADF;
    /* Before the close: afterwards the number may already be reused. */
    fd_state_reset(fd, 0);
    return green_close_fd(fd);
}

int green_accept(int *out_fd, int listen_fd, struct sockaddr *addr,
                 socklen_t *addrlen)
{
    struct io_message m = {.addr = addr, .addrlen = addrlen};
    size_t fd = 0;
    int err;

    if (out_fd == NULL || (addr != NULL && addrlen == NULL))
        return EINVAL;
    err = io_call(listen_fd, GREEN_READ, attempt_accept, &m, 1, &fd);
    if (err != 0)
        return err;
    adopt_new_fd((int)fd);
    *out_fd = (int)fd;
    return 0;
}

int green_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    struct io_connect c = {.addr = addr, .addrlen = addrlen};

    if (addr == NULL)
        return EINVAL;
    return io_call(fd, GREEN_WRITE, attempt_connect, &c, 1, NULL);
}

int green_recvfrom(int fd, void *buf, size_t len, int flags,
                   struct sockaddr *addr, socklen_t *addrlen, size_t *out_len)
{
    struct io_message m = {buf, len, flags, addr, addrlen, 0};

    if (check_buffer(buf, len) != 0 || (addr != NULL && addrlen == NULL))
        return EINVAL;
    return io_call(fd, GREEN_READ, attempt_recvfrom, &m, 0, out_len);
}

int green_sendto(int fd, const void *buf, size_t len, int flags,
                 const struct sockaddr *addr, socklen_t addrlen,
                 size_t *out_len)
{
    struct io_message m = {(void *)buf, len,    flags, (struct sockaddr *)addr,
                           NULL,        addrlen};

    if (check_buffer(buf, len) != 0)
        return EINVAL;
    return io_call(fd, GREEN_WRITE, attempt_sendto, &m, 0, out_len);
}

int green_recv(int fd, void *buf, size_t len, int flags, size_t *out_len)
{
    return green_recvfrom(fd, buf, len, flags, NULL, NULL, out_len);
}

int green_send(int fd, const void *buf, size_t len, int flags, size_t *out_len)
{
    return green_sendto(fd, buf, len, flags, NULL, 0, out_len);
}

int green_read(int fd, void *buf, size_t len, size_t *out_len)
{
    struct io_message m = {.buf = buf, .len = len};

    if (check_buffer(buf, len) != 0)
        return EINVAL;
    return io_call(fd, GREEN_READ, attempt_read, &m, 1, out_len);
}

int green_write(int fd, const void *buf, size_t len, size_t *out_len)
{
    struct io_message m = {.buf = (void *)buf, .len = len};

    if (check_buffer(buf, len) != 0)
        return EINVAL;
    return io_call(fd, GREEN_WRITE, attempt_write, &m, 1, out_len);
}

/* Repeat one attempt until len bytes moved, the peer closed (a 0-byte
 * result), or an error; one deadline covers the whole transfer. */
static int io_transfer_all(int fd, int events, green_io_attempt_fn attempt,
                           void *buf, size_t len, size_t *out_len)
{
    struct io_deadline deadline = io_deadline_of_fd();
    size_t done = 0;
    int err = check_buffer(buf, len);

    while (err == 0 && done < len) {
        struct io_message m = {
            (char *)buf + done, len - done, 0, NULL, NULL, 0};
        size_t moved = 0;

        err = io_retry(fd, events, &deadline, attempt, &m, &moved);
        if (err == 0 && moved == 0)
            break;
        done += moved;
    }
    if (out_len != NULL)
        *out_len = done;
    return err;
}

int green_recv_all(int fd, void *buf, size_t len, size_t *out_len)
{
    return io_transfer_all(fd, GREEN_READ, attempt_recvfrom, buf, len, out_len);
}

int green_send_all(int fd, const void *buf, size_t len, size_t *out_len)
{
    return io_transfer_all(fd, GREEN_WRITE, attempt_sendto, (void *)buf, len,
                           out_len);
}

/*
 * Green I/O: nonblocking syscalls that park the calling green thread on
 * EAGAIN and retry (eventlet's trampoline pattern), plus the per-fd state
 * (timeout, "we made it nonblocking") they rely on.
 */
#define _GNU_SOURCE /* accept4 */
#include <green/file.h>
#include <green/io.h>

#include "greenlet/sys.h"
#include "hub/fd_record.h"
#include "hub/fd_table.h"
#include "hub/recvq.h"
#include "io_internal.h"
#ifdef GREEN_HAVE_URING
#include "hub/uring.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
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

/* Forget what we knew about fd: it is being closed, or it is a socket
 * this layer just made (made_here: nonblocking). */
static void fd_state_reset(int fd, int made_here)
{
    struct fd_io_state *state = fd_state(fd, made_here);

    if (state == NULL)
        return;
    for (int side = 0; side < 2; side++)
        atomic_store_explicit(&state->timeout_ns_plus_one[side], 0,
                              memory_order_relaxed);
    atomic_store_explicit(&state->nonblocking, made_here, memory_order_relaxed);
    atomic_store_explicit(&state->kind,
                          made_here ? IO_FD_STREAM : IO_FD_UNKNOWN,
                          memory_order_relaxed);
}

/* One fstat per fd, remembered until green_close(). */
int io_fd_kind(int fd)
{
    struct fd_io_state *state = fd_state(fd, 1);
    int kind = state != NULL
                   ? atomic_load_explicit(&state->kind, memory_order_relaxed)
                   : IO_FD_UNKNOWN;
    struct stat st;

    if (kind != IO_FD_UNKNOWN || fstat(fd, &st) != 0)
        return kind;
    if (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode))
        kind = IO_FD_STREAM;
    else
        kind = S_ISREG(st.st_mode) ? IO_FD_REGULAR : IO_FD_OTHER;
    if (state != NULL)
        atomic_store_explicit(&state->kind, (unsigned char)kind,
                              memory_order_relaxed);
    return kind;
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
 * GREEN_READ, the send side's for GREEN_WRITE, the earlier for both.  A
 * negative fd has none (its io_uring operation fails with EBADF). */
static double fd_timeout_for(int fd, int events)
{
    double recv_s = GREEN_FOREVER, send_s = GREEN_FOREVER;

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

/* Seconds left before the deadline: GREEN_FOREVER for none, 0 once it has
 * passed.  Called when the call is about to block. */
static double io_deadline_left(int fd, int events, struct io_deadline *deadline)
{
    double now;

    if (deadline->timeout == IO_TIMEOUT_OF_FD)
        deadline->timeout = fd_timeout_for(fd, events);
    if (deadline->timeout < 0)
        return GREEN_FOREVER;
    now = green_now();
    if (deadline->at < 0)
        deadline->at = now + deadline->timeout;
    return deadline->at > now ? deadline->at - now : 0;
}

__thread struct io_counts io_counts;

/* Run attempt until it does not fail with EAGAIN, parking on fd for
 * `events` between tries.  Where green I/O waits for readiness. */
static int io_retry(int fd, int events, struct io_deadline *deadline,
                    green_io_attempt_fn attempt, void *op, size_t *out)
{
    for (;;) {
        ssize_t done = attempt(fd, op);
        double wait;
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
        wait = io_deadline_left(fd, events, deadline);
        if (wait == 0)
            return ETIMEDOUT;
        io_counts.readiness_waits++;
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
    if ((events & GREEN_READ) && recvq_owned(fd))
        return EBUSY; /* its bytes may be queued: green_recv's */
    return io_retry(fd, events, &deadline, attempt, op, out);
}

/* ---- Operations ---------------------------------------------------------- */

/* One call, two ways: attempt makes one nonblocking try (between
 * readiness waits); prep fills an io_uring SQE for the whole call, on
 * hubs that run io_uring (NULL: readiness waits only).  done, if set,
 * finishes a call that prep's operation completed. */
struct io_uring_sqe;
struct io_way {
    green_io_attempt_fn attempt;
    void (*prep)(struct io_uring_sqe *sqe, void *op);
    void (*done)(void *op);
    unsigned char streams_only; /* prep only for sockets and pipes */
    unsigned char queued;       /* a read a multishot receive serves */
};

#ifdef GREEN_HAVE_URING
#define IO_PREP(fn) fn
#else
#define IO_PREP(fn) NULL
#endif

struct io_message {
    int fd;
    void *buf;
    size_t len;
    int flags;
    struct sockaddr *addr;
    socklen_t *addrlen;        /* receive side */
    socklen_t addrlen_to_send; /* send side */
#ifdef GREEN_HAVE_URING
    struct msghdr msg; /* recvmsg/sendmsg operations, with an address */
    struct iovec part;
#endif
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
    int fd;
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

#ifdef GREEN_HAVE_URING
/* The most one read or write moves on Linux (MAX_RW_COUNT); an SQE's
 * length has 32 bits only. */
#define IO_MAX_LEN ((size_t)0x7ffff000)

static unsigned io_op_len(const struct io_message *m)
{
    return (unsigned)(m->len < IO_MAX_LEN ? m->len : IO_MAX_LEN);
}

/* The message header of an operation with an address. */
static struct msghdr *io_message_header(struct io_message *m, socklen_t addrlen)
{
    m->part.iov_base = m->buf;
    m->part.iov_len = io_op_len(m);
    m->msg.msg_name = m->addr;
    m->msg.msg_namelen = addrlen;
    m->msg.msg_iov = &m->part;
    m->msg.msg_iovlen = 1;
    return &m->msg;
}

/* No MSG_DONTWAIT: an operation waits in the kernel. */
static void prep_recvfrom(struct io_uring_sqe *sqe, void *op)
{
    struct io_message *m = op;
    int flags = m->flags & ~MSG_DONTWAIT;

    if (m->addr == NULL)
        io_uring_prep_recv(sqe, m->fd, m->buf, io_op_len(m), flags);
    else
        io_uring_prep_recvmsg(sqe, m->fd, io_message_header(m, *m->addrlen),
                              (unsigned)flags);
}

static void done_recvfrom(void *op)
{
    struct io_message *m = op;

    if (m->addr != NULL)
        *m->addrlen = m->msg.msg_namelen;
}

static void prep_sendto(struct io_uring_sqe *sqe, void *op)
{
    struct io_message *m = op;
    int flags = (m->flags & ~MSG_DONTWAIT) | MSG_NOSIGNAL;

    if (m->addr == NULL)
        io_uring_prep_send(sqe, m->fd, m->buf, io_op_len(m), flags);
    else
        io_uring_prep_sendmsg(sqe, m->fd,
                              io_message_header(m, m->addrlen_to_send),
                              (unsigned)flags);
}

/* Offset -1: the file position, for the fds that have one (a tty). */
static void prep_read(struct io_uring_sqe *sqe, void *op)
{
    struct io_message *m = op;
    io_uring_prep_read(sqe, m->fd, m->buf, io_op_len(m), (uint64_t)-1);
}

static void prep_write(struct io_uring_sqe *sqe, void *op)
{
    struct io_message *m = op;
    io_uring_prep_write(sqe, m->fd, m->buf, io_op_len(m), (uint64_t)-1);
}

static void prep_accept(struct io_uring_sqe *sqe, void *op)
{
    struct io_message *m = op;
    io_uring_prep_accept(sqe, m->fd, m->addr, m->addrlen,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
}

static void prep_connect(struct io_uring_sqe *sqe, void *op)
{
    struct io_connect *c = op;
    io_uring_prep_connect(sqe, c->fd, c->addr, c->addrlen);
}
#endif /* GREEN_HAVE_URING */

static const struct io_way way_recvfrom = {
    attempt_recvfrom, IO_PREP(prep_recvfrom), IO_PREP(done_recvfrom), 0, 1};
static const struct io_way way_sendto = {attempt_sendto, IO_PREP(prep_sendto),
                                         NULL, 0, 0};
static const struct io_way way_read = {attempt_read, IO_PREP(prep_read), NULL,
                                       1, 1};
static const struct io_way way_write = {attempt_write, IO_PREP(prep_write),
                                        NULL, 1, 0};
static const struct io_way way_accept = {attempt_accept, IO_PREP(prep_accept),
                                         NULL, 0, 0};
static const struct io_way way_connect = {attempt_connect,
                                          IO_PREP(prep_connect), NULL, 0, 0};

/* ---- The op path ----------------------------------------------------- */

#ifdef GREEN_HAVE_URING
/* A socket or a pipe: fds whose operations wait in the kernel without a
 * worker thread (io_uring arms a poll).  Others (a tty, a timerfd...)
 * keep readiness waits. */
static int io_fd_is_stream(int fd)
{
    return io_fd_kind(fd) == IO_FD_STREAM;
}

/* Submit the call as one io_uring operation and park until it completes.
 * A cut call (timeout, scope, kill, green_close) returns once the hub has
 * cancelled the operation, so the kernel no longer uses the buffer.  An
 * fd whose operation reports EAGAIN instead of waiting (an older kernel)
 * gets readiness waits. */
static int io_submit(int fd, int events, struct io_deadline *deadline,
                     const struct io_way *way, void *op, size_t *out)
{
    int res, err;

    do {
        err = hub_uring_submit(fd, events, way->prep, op,
                               io_deadline_left(fd, events, deadline), &res);
        if (err != 0)
            return err;
        io_counts.ops++;
    } while (res == -EINTR);
    if (res == -EAGAIN)
        return io_retry(fd, events, deadline, way->attempt, op, out);
    if (res < 0)
        return -res;
    if (way->done != NULL)
        way->done(op);
    if (out != NULL)
        *out = (size_t)res;
    return 0;
}
#endif

#ifdef GREEN_HAVE_URING
/* A read's wait, for recvq_recv. */
struct io_read_wait {
    int fd;
    struct io_deadline *deadline;
};

static double io_read_wait_left(void *ctx)
{
    struct io_read_wait *wait = ctx;
    return io_deadline_left(wait->fd, GREEN_READ, wait->deadline);
}

/* A read of an fd received multishot, from its queue; RECVQ_NONE for
 * the other fds. */
static int io_queued_read(int fd, struct io_deadline *deadline,
                          struct io_message *m, size_t *out)
{
    struct io_read_wait wait = {fd, deadline};
    size_t got = 0;
    int err = recvq_recv(fd, m->buf, m->len, m->flags, m->addr != NULL,
                         io_read_wait_left, &wait, &got);

    if (err == 0 && out != NULL)
        *out = got;
    return err;
}
#endif

/* The call's way on this hub: from a multishot receive's queue, one
 * operation on io_uring, else attempts between readiness waits. */
static int io_run(int fd, int events, struct io_deadline *deadline,
                  const struct io_way *way, void *op, size_t *out)
{
#ifdef GREEN_HAVE_URING
    int err = way->queued ? io_queued_read(fd, deadline, op, out) : RECVQ_NONE;

    if (err != RECVQ_NONE)
        return err;
    if (way->prep != NULL && hub_uring_active() &&
        (!way->streams_only || io_fd_is_stream(fd)))
        return io_submit(fd, events, deadline, way, op, out);
#endif
    return io_retry(fd, events, deadline, way->attempt, op, out);
}

/* ---- Public calls ------------------------------------------------------ */

/* Validate, prepare the fd, and run the call. */
static int io_call(int fd, int events, const struct io_way *way, void *op,
                   int needs_nonblocking, size_t *out)
{
    struct io_deadline deadline = io_deadline_of_fd();
    int err = needs_nonblocking ? io_ensure_nonblocking(fd) : 0;

    return err != 0 ? err : io_run(fd, events, &deadline, way, op, out);
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
    int regular_file;

    if (fd < 0)
        return EBADF;
    regular_file = io_fd_kind(fd) == IO_FD_REGULAR;
    /* Before the close: afterwards the number may already be reused. */
    fd_state_reset(fd, 0);
    return regular_file ? file_close(fd) : green_close_fd(fd);
}

int green_accept(int *out_fd, int listen_fd, struct sockaddr *addr,
                 socklen_t *addrlen)
{
    struct io_message m = {.fd = listen_fd, .addr = addr, .addrlen = addrlen};
    size_t fd = 0;
    int err;

    if (out_fd == NULL || (addr != NULL && addrlen == NULL))
        return EINVAL;
    err = io_call(listen_fd, GREEN_READ, &way_accept, &m, 1, &fd);
    if (err != 0)
        return err;
    adopt_new_fd((int)fd);
    *out_fd = (int)fd;
    return 0;
}

int green_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    struct io_connect c = {.fd = fd, .addr = addr, .addrlen = addrlen};

    if (addr == NULL)
        return EINVAL;
    return io_call(fd, GREEN_WRITE, &way_connect, &c, 1, NULL);
}

int green_recvfrom(int fd, void *buf, size_t len, int flags,
                   struct sockaddr *addr, socklen_t *addrlen, size_t *out_len)
{
    struct io_message m = {.fd = fd,
                           .buf = buf,
                           .len = len,
                           .flags = flags,
                           .addr = addr,
                           .addrlen = addrlen};

    if (check_buffer(buf, len) != 0 || (addr != NULL && addrlen == NULL))
        return EINVAL;
    return io_call(fd, GREEN_READ, &way_recvfrom, &m, 0, out_len);
}

int green_sendto(int fd, const void *buf, size_t len, int flags,
                 const struct sockaddr *addr, socklen_t addrlen,
                 size_t *out_len)
{
    struct io_message m = {.fd = fd,
                           .buf = (void *)buf,
                           .len = len,
                           .flags = flags,
                           .addr = (struct sockaddr *)addr,
                           .addrlen_to_send = addrlen};

    if (check_buffer(buf, len) != 0)
        return EINVAL;
    return io_call(fd, GREEN_WRITE, &way_sendto, &m, 0, out_len);
}

int green_recv_multishot(int fd)
{
    int type = 0;
    socklen_t len = sizeof(type);

    if (fd < 0)
        return EBADF;
    if (sys_libc()->getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
        return errno;
    if (type != SOCK_STREAM)
        return EINVAL;
#ifdef GREEN_HAVE_URING
    return recvq_enable(fd);
#else
    return ENOTSUP;
#endif
}

int io_recv(int fd, void *buf, size_t len, double timeout, size_t *out_len)
{
    struct io_message m = {.fd = fd, .buf = buf, .len = len};
    struct io_deadline deadline = {timeout < 0 ? GREEN_FOREVER : timeout, -1.0};

    return io_run(fd, GREEN_READ, &deadline, &way_recvfrom, &m, out_len);
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
    struct io_message m = {.fd = fd, .buf = buf, .len = len};

    if (check_buffer(buf, len) != 0)
        return EINVAL;
    if (io_fd_kind(fd) == IO_FD_REGULAR)
        return green_file_read(fd, buf, len, out_len);
    return io_call(fd, GREEN_READ, &way_read, &m, 1, out_len);
}

int green_write(int fd, const void *buf, size_t len, size_t *out_len)
{
    struct io_message m = {.fd = fd, .buf = (void *)buf, .len = len};

    if (check_buffer(buf, len) != 0)
        return EINVAL;
    if (io_fd_kind(fd) == IO_FD_REGULAR)
        return green_file_write(fd, buf, len, out_len);
    return io_call(fd, GREEN_WRITE, &way_write, &m, 1, out_len);
}

/* Repeat one call until len bytes moved, the peer closed (a 0-byte
 * result), or an error; one deadline covers the whole transfer. */
static int io_transfer_all(int fd, int events, const struct io_way *way,
                           void *buf, size_t len, size_t *out_len)
{
    struct io_deadline deadline = io_deadline_of_fd();
    size_t done = 0;
    int err = check_buffer(buf, len);

    while (err == 0 && done < len) {
        struct io_message m = {
            .fd = fd, .buf = (char *)buf + done, .len = len - done};
        size_t moved = 0;

        err = io_run(fd, events, &deadline, way, &m, &moved);
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
    return io_transfer_all(fd, GREEN_READ, &way_recvfrom, buf, len, out_len);
}

int green_send_all(int fd, const void *buf, size_t len, size_t *out_len)
{
    return io_transfer_all(fd, GREEN_WRITE, &way_sendto, (void *)buf, len,
                           out_len);
}

/*
 * Data and connection hooks: each one tries the real call through
 * patch_io(), which parks the green thread when a descriptor the user
 * wants blocking has nothing to give yet.
 */
#include "patch_internal.h"

#include <green/file.h>

#include <errno.h>
#include <stdlib.h>

const struct patch_symbol patch_io_symbols[] = {
    PATCH_SYMBOL(read),    PATCH_SYMBOL(write),      PATCH_SYMBOL(readv),
    PATCH_SYMBOL(writev),  PATCH_SYMBOL(recvfrom),   PATCH_SYMBOL(sendto),
    PATCH_SYMBOL(recvmsg), PATCH_SYMBOL(sendmsg),    PATCH_SYMBOL(accept4),
    PATCH_SYMBOL(connect), PATCH_SYMBOL(getsockopt), PATCH_SYMBOLS_END,
};

/* The arguments of one call, whichever it is: small, because every hook
 * call initialises one. */
struct io_call {
    union {
        void *in;
        const void *out;
    } buf;
    size_t len;
    int flags;
    int iovcnt;
    const struct iovec *iov;
    union {
        struct msghdr *in;
        const struct msghdr *out;
    } msg;
    union {
        struct sockaddr *from;
        const struct sockaddr *to;
    } addr;
    union {
        socklen_t *from;
        socklen_t to;
    } addr_len;
};

static ssize_t attempt_read(int fd, void *call)
{
    struct io_call *c = call;
    return libc_real()->read(fd, c->buf.in, c->len);
}

static ssize_t attempt_write(int fd, void *call)
{
    struct io_call *c = call;
    return libc_real()->write(fd, c->buf.out, c->len);
}

static ssize_t attempt_readv(int fd, void *call)
{
    struct io_call *c = call;
    return libc_real()->readv(fd, c->iov, c->iovcnt);
}

static ssize_t attempt_writev(int fd, void *call)
{
    struct io_call *c = call;
    return libc_real()->writev(fd, c->iov, c->iovcnt);
}

static ssize_t attempt_recvfrom(int fd, void *call)
{
    struct io_call *c = call;
    return libc_real()->recvfrom(fd, c->buf.in, c->len, c->flags, c->addr.from,
                                 c->addr_len.from);
}

static ssize_t attempt_sendto(int fd, void *call)
{
    struct io_call *c = call;
    return libc_real()->sendto(fd, c->buf.out, c->len, c->flags, c->addr.to,
                               c->addr_len.to);
}

static ssize_t attempt_recvmsg(int fd, void *call)
{
    struct io_call *c = call;
    return libc_real()->recvmsg(fd, c->msg.in, c->flags);
}

static ssize_t attempt_sendmsg(int fd, void *call)
{
    struct io_call *c = call;
    return libc_real()->sendmsg(fd, c->msg.out, c->flags);
}

static ssize_t attempt_accept4(int fd, void *call)
{
    struct io_call *c = call;
    return libc_real()->accept4(fd, c->addr.from, c->addr_len.from, c->flags);
}

/* The iovecs of iov[0..count) that follow the first `skip` bytes, copied
 * into rest; returns their number. */
static size_t iovecs_after(const struct iovec *iov, size_t count, size_t skip,
                           struct iovec *rest)
{
    size_t kept = 0;

    for (size_t i = 0; i < count; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        rest[kept].iov_base = (char *)iov[i].iov_base + skip;
        rest[kept++].iov_len = iov[i].iov_len - skip;
        skip = 0;
    }
    return kept;
}

/* A blocking write to a stream socket or pipe transfers everything before
 * returning (or what it could before an error, a signal or a timeout),
 * while the nonblocking fd underneath takes it in parts.  Called after a
 * first attempt sent n > 0 bytes, maybe not all.  Ancillary data goes with
 * the first part only. */
static ssize_t write_rest(int fd, int flags, patch_io_fn attempt,
                          struct io_call *c, ssize_t n)
{
    const struct iovec *iov = c->msg.out ? c->msg.out->msg_iov : c->iov;
    size_t count = c->msg.out ? c->msg.out->msg_iovlen : (size_t)c->iovcnt;
    size_t total = c->len, done;
    struct iovec *rest = NULL;
    struct msghdr msg;

    /* Only for a descriptor libgreen drives for a blocking user. */
    if ((flags & MSG_DONTWAIT) || !fdstate_emulates_blocking(fd))
        return n;
    for (size_t i = 0; iov != NULL && i < count; i++)
        total += iov[i].iov_len;
    for (done = (size_t)n; done < total; done += (size_t)n) {
        if (iov == NULL) {
            c->buf.out = (const char *)c->buf.out + n;
            c->len -= (size_t)n;
        } else if (rest == NULL &&
                   (rest = malloc(count * sizeof(*rest))) == NULL) {
            break;
        } else if (c->msg.out != NULL) {
            msg = *c->msg.out;
            msg.msg_iov = rest;
            msg.msg_iovlen = iovecs_after(iov, count, done, rest);
            msg.msg_control = NULL;
            msg.msg_controllen = 0;
            c->msg.out = &msg;
        } else {
            c->iov = rest;
            c->iovcnt = (int)iovecs_after(iov, count, done, rest);
        }
        n = patch_io(fd, GREEN_WRITE, flags, attempt, c);
        if (n <= 0)
            break;
    }
    free(rest);
    return (ssize_t)done;
}

/* MSG_WAITALL on a blocking stream socket waits for all the bytes (or the
 * peer's close, an error, a signal), while the nonblocking socket
 * underneath returns what it has.  Called after a first attempt got
 * 0 < n < len bytes. */
static ssize_t recv_rest(int fd, struct io_call *c, ssize_t n)
{
    size_t total = c->len, done = (size_t)n;

    if (!(c->flags & MSG_WAITALL) || !fdstate_emulates_blocking(fd))
        return n;
    while (done < total) {
        c->buf.in = (char *)c->buf.in + n;
        c->len = total - done;
        n = patch_io(fd, GREEN_READ, c->flags, attempt_recvfrom, c);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

/* A regular file read or written in a green thread of an io_uring hub:
 * the call is an io_uring operation (green/file.h) that parks only the
 * green thread.  On epoll and poll hubs it stays the plain system call:
 * there the only way off the hub is a thread-pool round trip, which costs
 * far more than the page-cache hit that most small file reads and log
 * writes are (docs/patch.md). */
static bool file_routed(int fd)
{
    return patch_in_green_thread() && green_file_native() &&
           fdstate_regular_file(fd);
}

/* A green/file.h call's outcome as the syscall reports it. */
static ssize_t file_result(int err, const size_t *n)
{
    if (err != 0) {
        errno = err;
        return -1;
    }
    return (ssize_t)*n;
}

ssize_t read(int fd, void *buf, size_t len)
{
    struct io_call c = {.buf.in = buf, .len = len};
    size_t n = 0;

    if (file_routed(fd))
        return file_result(green_file_read(fd, buf, len, &n), &n);
    return patch_io(fd, GREEN_READ, 0, attempt_read, &c);
}

ssize_t write(int fd, const void *data, size_t len)
{
    struct io_call c = {.buf.out = data, .len = len};
    size_t written = 0;
    ssize_t n;

    if (file_routed(fd))
        return file_result(green_file_write(fd, data, len, &written), &written);
    n = patch_io(fd, GREEN_WRITE, 0, attempt_write, &c);

    return n > 0 && (size_t)n < len ? write_rest(fd, 0, attempt_write, &c, n)
                                    : n;
}

ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
    struct io_call c = {.iov = iov, .iovcnt = iovcnt};
    return patch_io(fd, GREEN_READ, 0, attempt_readv, &c);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    struct io_call c = {.iov = iov, .iovcnt = iovcnt};
    ssize_t n = patch_io(fd, GREEN_WRITE, 0, attempt_writev, &c);

    return n > 0 ? write_rest(fd, 0, attempt_writev, &c, n) : n;
}

/* recv and send are recvfrom and sendto without an address, as in libc. */
ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    struct io_call c = {.buf.in = buf, .len = len, .flags = flags};
    ssize_t n = patch_io(fd, GREEN_READ, flags, attempt_recvfrom, &c);

    return n > 0 && (size_t)n < len ? recv_rest(fd, &c, n) : n;
}

ssize_t send(int fd, const void *data, size_t len, int flags)
{
    struct io_call c = {.buf.out = data, .len = len, .flags = flags};
    ssize_t n = patch_io(fd, GREEN_WRITE, flags, attempt_sendto, &c);

    return n > 0 && (size_t)n < len
               ? write_rest(fd, flags, attempt_sendto, &c, n)
               : n;
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
                 struct sockaddr *from, socklen_t *from_len)
{
    struct io_call c = {.buf.in = buf,
                        .len = len,
                        .flags = flags,
                        .addr.from = from,
                        .addr_len.from = from_len};
    ssize_t n = patch_io(fd, GREEN_READ, flags, attempt_recvfrom, &c);

    return n > 0 && (size_t)n < len ? recv_rest(fd, &c, n) : n;
}

ssize_t sendto(int fd, const void *data, size_t len, int flags,
               const struct sockaddr *to, socklen_t to_len)
{
    struct io_call c = {.buf.out = data,
                        .len = len,
                        .flags = flags,
                        .addr.to = to,
                        .addr_len.to = to_len};
    ssize_t n = patch_io(fd, GREEN_WRITE, flags, attempt_sendto, &c);

    return n > 0 && (size_t)n < len
               ? write_rest(fd, flags, attempt_sendto, &c, n)
               : n;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    struct io_call c = {.msg.in = msg, .flags = flags};
    return patch_io(fd, GREEN_READ, flags, attempt_recvmsg, &c);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    struct io_call c = {.msg.out = msg, .flags = flags};
    ssize_t n = patch_io(fd, GREEN_WRITE, flags, attempt_sendmsg, &c);

    return n > 0 ? write_rest(fd, flags, attempt_sendmsg, &c, n) : n;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *addr_len, int flags)
{
    struct io_call c = {
        .addr.from = addr, .addr_len.from = addr_len, .flags = flags};
    int client = (int)patch_io(fd, GREEN_READ, 0, attempt_accept4, &c);

    /* A new descriptor: whatever was known about its number is stale. */
    if (client >= 0)
        fdstate_forget(client);
    return client;
}

int accept(int fd, struct sockaddr *addr, socklen_t *addr_len)
{
    return accept4(fd, addr, addr_len, 0);
}

/* A blocking connect on a nonblocking socket: wait for writability, then
 * take the outcome from SO_ERROR.  A wake-up that was not the connection
 * finishing (another hook's interruption) waits again. */
int connect(int fd, const struct sockaddr *addr, socklen_t addr_len)
{
    const struct patch_libc *libc = libc_real();
    bool green = patch_in_green_thread() && fdstate_cooperative(fd);
    struct pollfd done = {.fd = fd, .events = POLLOUT};
    socklen_t err_len = sizeof(int);
    patch_deadline_t deadline;
    double timeout;
    int err;

    if (libc->connect(fd, addr, addr_len) == 0)
        return 0;
    if (errno != EINPROGRESS || !fdstate_wait_for_user(fd, green))
        return -1;
    timeout = fdstate_timeout(fd, GREEN_WRITE);
    deadline = patch_deadline_after(timeout, timeout < 0);
    do {
        err = patch_wait_fd(fd, GREEN_WRITE, green, &deadline);
    } while (err == 0 && libc->poll(&done, 1, 0) == 0);
    /* Linux reports a blocking connect cut short by SO_SNDTIMEO so. */
    if (err == PATCH_OWN_TIMEOUT)
        err = EINPROGRESS;
    if (err == 0 &&
        libc->getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0)
        err = errno;
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

/* _FORTIFY_SOURCE entry points: the size check, then the hook. */
extern void __chk_fail(void) __attribute__((noreturn));

ssize_t __read_chk(int fd, void *buf, size_t len, size_t buf_size);
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buf_size)
{
    if (len > buf_size)
        __chk_fail();
    return read(fd, buf, len);
}

ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buf_size, int flags);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buf_size, int flags)
{
    if (len > buf_size)
        __chk_fail();
    return recv(fd, buf, len, flags);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buf_size,
                       int flags, struct sockaddr *from, socklen_t *from_len);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buf_size,
                       int flags, struct sockaddr *from, socklen_t *from_len)
{
    if (len > buf_size)
        __chk_fail();
    return recvfrom(fd, buf, len, flags, from, from_len);
}

/*
 * Descriptor lifecycle and settings: keep the fd table (fdstate.c) true
 * to what the user did, and wake green threads parked on an fd that is
 * closed.  These hooks keep the table up to date even while patching is
 * disabled, so that it is right when patching is enabled again.
 */
#include "patch_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <unistd.h>

const struct patch_symbol patch_fd_symbols[] = {
    PATCH_SYMBOL(close), PATCH_SYMBOL(socket),     PATCH_SYMBOL(socketpair),
    PATCH_SYMBOL(pipe),  PATCH_SYMBOL(pipe2),      PATCH_SYMBOL(dup),
    PATCH_SYMBOL(dup2),  PATCH_SYMBOL(dup3),       PATCH_SYMBOL(fcntl),
    PATCH_SYMBOL(ioctl), PATCH_SYMBOL(setsockopt), PATCH_SYMBOLS_END,
};

/* Wake this OS thread's green threads parked on fd (they see EBADF from
 * their retried call), but never from a signal handler, where the hub's
 * state may be half-updated. */
static void notify_closing(int fd)
{
    if (patch_handler_depth != 0)
        return;
    if (fdstate_was_waited(fd))
        patch_wake_closing(fd);
    /* Also for fds the hooks never waited on: a green io socket is managed
     * by its hub, which must forget it before the number is reused. */
    green_notify_close(fd);
}

int close(int fd)
{
    notify_closing(fd);
    fdstate_forget(fd);
    return libc_real()->close(fd);
}

int socket(int domain, int type, int protocol)
{
    int fd = libc_real()->socket(domain, type, protocol);

    if (fd >= 0)
        fdstate_forget(fd);
    return fd;
}

static void forget_pair(int result, const int fds[2])
{
    if (result == 0) {
        fdstate_forget(fds[0]);
        fdstate_forget(fds[1]);
    }
}

int socketpair(int domain, int type, int protocol, int fds[2])
{
    int result = libc_real()->socketpair(domain, type, protocol, fds);

    forget_pair(result, fds);
    return result;
}

int pipe(int fds[2])
{
    int result = libc_real()->pipe(fds);

    forget_pair(result, fds);
    return result;
}

int pipe2(int fds[2], int flags)
{
    int result = libc_real()->pipe2(fds, flags);

    forget_pair(result, fds);
    return result;
}

int dup(int fd)
{
    int copy = libc_real()->dup(fd);

    if (copy >= 0)
        fdstate_copy(fd, copy);
    return copy;
}

int dup2(int fd, int target)
{
    int result;

    if (fd != target)
        notify_closing(target);
    result = libc_real()->dup2(fd, target);
    if (result >= 0 && fd != target)
        fdstate_copy(fd, target);
    return result;
}

int dup3(int fd, int target, int flags)
{
    int result;

    if (fd != target)
        notify_closing(target);
    result = libc_real()->dup3(fd, target, flags);
    if (result >= 0)
        fdstate_copy(fd, target);
    return result;
}

/* F_GETFL shows the user's O_NONBLOCK; F_SETFL records it and keeps the
 * kernel flag on for a descriptor libgreen drives. */
static int fcntl_hook(int fd, int cmd, void *arg)
{
    const struct patch_libc *libc = libc_real();
    int flags, result;

    switch (cmd) {
    case F_GETFL:
        result = libc->fcntl(fd, F_GETFL);
        return result >= 0 ? fdstate_user_flags(fd, result) : result;
    case F_SETFL:
        flags = (int)(intptr_t)arg;
        result = libc->fcntl(fd, F_SETFL,
                             fdstate_driven(fd) ? flags | O_NONBLOCK : flags);
        if (result == 0)
            fdstate_set_user_nonblock(fd, (flags & O_NONBLOCK) != 0);
        return result;
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
        result = libc->fcntl(fd, cmd, arg);
        if (result >= 0)
            fdstate_copy(fd, result);
        return result;
    default:
        return libc->fcntl(fd, cmd, arg);
    }
}

/* The argument is read as a pointer, as glibc itself does: an int
 * argument travels in the same register. */
int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    void *arg;

    va_start(ap, cmd);
    arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_hook(fd, cmd, arg);
}

/* glibc's large-file name for the same call. */
int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

int ioctl(int fd, unsigned long request, ...)
{
    const struct patch_libc *libc = libc_real();
    static const int on = 1;
    va_list ap;
    void *arg;
    int result;

    va_start(ap, request);
    arg = va_arg(ap, void *);
    va_end(ap);
    if (request != FIONBIO)
        return libc->ioctl(fd, request, arg);
    result = libc->ioctl(fd, FIONBIO, fdstate_driven(fd) ? &on : arg);
    if (result == 0)
        fdstate_set_user_nonblock(fd, *(const int *)arg != 0);
    return result;
}

int setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
    int result = libc_real()->setsockopt(fd, level, name, value, len);

    if (result == 0 && level == SOL_SOCKET &&
        (name == SO_RCVTIMEO || name == SO_SNDTIMEO) &&
        len >= sizeof(struct timeval))
        fdstate_set_timeout(fd, name, value);
    return result;
}

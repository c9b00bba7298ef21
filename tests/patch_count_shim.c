/*
 * A test preload (test_patch_bypass): defines the libc functions that
 * libgreen calls internally and counts the calls made while counting is
 * on, passing each to the next definition (libgreen_patch's, then libc's).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_bool counting;
static atomic_ulong calls;
static char first[64]; /* the first counted call, for the message */

/* The child switches counting on and off (found with dlsym). */
void shim_set_counting(int on);
unsigned long shim_calls(const char **first_name);

void shim_set_counting(int on)
{
    atomic_store(&counting, on != 0);
}

unsigned long shim_calls(const char **first_name)
{
    *first_name = first;
    return atomic_load(&calls);
}

static void *next(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);

    if (f == NULL)
        abort();
    if (atomic_load(&counting) && atomic_fetch_add(&calls, 1) == 0)
        snprintf(first, sizeof(first), "%s", name);
    return f;
}

/* Each definition: count, then call the next one with the same name. */
#define FORWARD(ret, name, params, args)                                       \
    ret name params                                                            \
    {                                                                          \
        ret(*real) params = next(#name);                                       \
        return real args;                                                      \
    }

FORWARD(ssize_t, read, (int fd, void *buf, size_t len), (fd, buf, len))
FORWARD(ssize_t, write, (int fd, const void *buf, size_t len), (fd, buf, len))
FORWARD(ssize_t, recvfrom,
        (int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
         socklen_t *addr_len),
        (fd, buf, len, flags, addr, addr_len))
FORWARD(ssize_t, sendto,
        (int fd, const void *buf, size_t len, int flags,
         const struct sockaddr *addr, socklen_t addr_len),
        (fd, buf, len, flags, addr, addr_len))
FORWARD(int, accept4,
        (int fd, struct sockaddr *addr, socklen_t *addr_len, int flags),
        (fd, addr, addr_len, flags))
FORWARD(int, connect, (int fd, const struct sockaddr *addr, socklen_t len),
        (fd, addr, len))
FORWARD(int, socket, (int domain, int type, int protocol),
        (domain, type, protocol))
FORWARD(int, getsockopt,
        (int fd, int level, int name, void *value, socklen_t *len),
        (fd, level, name, value, len))
FORWARD(int, setsockopt,
        (int fd, int level, int name, const void *value, socklen_t len),
        (fd, level, name, value, len))
FORWARD(int, close, (int fd), (fd))
FORWARD(int, pipe, (int fds[2]), (fds))
FORWARD(int, poll, (struct pollfd * fds, nfds_t nfds, int timeout),
        (fds, nfds, timeout))
FORWARD(int, epoll_wait,
        (int epfd, struct epoll_event *events, int max, int timeout),
        (epfd, events, max, timeout))
FORWARD(int, sigaction,
        (int sig, const struct sigaction *act, struct sigaction *old),
        (sig, act, old))
FORWARD(int, getaddrinfo,
        (const char *node, const char *service, const struct addrinfo *hints,
         struct addrinfo **res),
        (node, service, hints, res))

int fcntl(int fd, int cmd, ...)
{
    int (*real)(int, int, ...) = next("fcntl");
    va_list ap;
    void *arg;

    va_start(ap, cmd);
    arg = va_arg(ap, void *);
    va_end(ap);
    return real(fd, cmd, arg);
}

/*
 * libgreen's own calls to the libc functions that an interposition layer
 * may define (internal).
 *
 * When libgreen_patch is preloaded (or linked first), a plain call to
 * read() from inside libgreen would reach the patch layer's read() by
 * symbol interposition: libgreen would be driving itself through its own
 * hooks (its wake-up eventfd classified as a green fd, its epoll_wait
 * treated as a hook, its signal handlers wrapped and counted as ones that
 * interrupt parked calls).  Every such call in libgreen goes through this
 * table instead, which holds libc's own definitions, whatever is loaded.
 */
#ifndef GREEN_SYS_H
#define GREEN_SYS_H

#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif

struct sys_libc {
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *,
                        socklen_t *);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *,
                      socklen_t);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    int (*socket)(int, int, int);
    int (*getsockopt)(int, int, int, void *, socklen_t *);
    int (*setsockopt)(int, int, int, const void *, socklen_t);
    int (*fcntl)(int, int, ...);
    int (*close)(int);
    int (*pipe)(int[2]);
    int (*pipe2)(int[2], int);
    int (*poll)(struct pollfd *, nfds_t, int);
#ifdef __linux__
    int (*epoll_wait)(int, struct epoll_event *, int, int);
#endif
    int (*sigaction)(int, const struct sigaction *, struct sigaction *);
    int (*getaddrinfo)(const char *, const char *, const struct addrinfo *,
                       struct addrinfo **);
};

extern struct sys_libc sys_table;
extern atomic_bool sys_resolved;
/* Fill sys_table (idempotent; a constructor calls it at load time, so
 * that a signal handler never runs dlsym). */
void sys_resolve(void);

/* libc's own functions: sys_libc()->read(fd, buf, len). */
static inline const struct sys_libc *sys_libc(void)
{
    if (!atomic_load_explicit(&sys_resolved, memory_order_acquire))
        sys_resolve();
    return &sys_table;
}

#endif /* GREEN_SYS_H */

/*
 * libgreen_patch internals: the real libc functions, the per-fd state
 * table, the park-and-retry helper and the signal bookkeeping that all
 * hooks share.
 */
#ifndef GREEN_PATCH_INTERNAL_H
#define GREEN_PATCH_INTERNAL_H

/* accept4, pipe2, dup3, ppoll, fcntl64...: every file includes this first. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <green/hub.h>
#include <green/patch.h>
#include <green/thread.h>

#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Thread-local state read from signal handlers must not be allocated
 * lazily (that may call malloc): initial-exec puts it in static TLS. */
#define PATCH_TLS __thread __attribute__((tls_model("initial-exec")))

/* ---- resolve.c: libc's own functions, looked up once ----------------- */

struct patch_libc {
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *,
                        socklen_t *);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *,
                      socklen_t);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    int (*poll)(struct pollfd *, nfds_t, int);
    int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *,
                 const sigset_t *);
    int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
    int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
                   const sigset_t *);
    int (*epoll_wait)(int, struct epoll_event *, int, int);
    int (*epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
    unsigned (*sleep)(unsigned);
    int (*usleep)(useconds_t);
    int (*nanosleep)(const struct timespec *, struct timespec *);
    int (*clock_nanosleep)(clockid_t, int, const struct timespec *,
                           struct timespec *);
    int (*getaddrinfo)(const char *, const char *, const struct addrinfo *,
                       struct addrinfo **);
    struct hostent *(*gethostbyname)(const char *);
    int (*gethostbyname_r)(const char *, struct hostent *, char *, size_t,
                           struct hostent **, int *);
    int (*close)(int);
    int (*socket)(int, int, int);
    int (*socketpair)(int, int, int, int[2]);
    int (*pipe)(int[2]);
    int (*pipe2)(int[2], int);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*fcntl)(int, int, ...);
    int (*ioctl)(int, unsigned long, ...);
    int (*setsockopt)(int, int, int, const void *, socklen_t);
    int (*getsockopt)(int, int, int, void *, socklen_t *);
    int (*sigaction)(int, const struct sigaction *, struct sigaction *);
};

extern struct patch_libc patch_libc;
extern atomic_bool patch_libc_resolved;
void patch_resolve_libc(void);

/* Each hook file lists the libc functions it wraps or calls, terminated
 * by {NULL, NULL}.  resolve.c walks every list, which also makes a static
 * link pull in every hook file as soon as one of them is used. */
struct patch_symbol {
    const char *name;
    void **slot;
};
#define PATCH_SYMBOL(symbol)                                                   \
    {                                                                          \
#symbol, (void **)&patch_libc.symbol                                   \
    }
#define PATCH_SYMBOLS_END                                                      \
    {                                                                          \
        NULL, NULL                                                             \
    }

extern const struct patch_symbol patch_io_symbols[];
extern const struct patch_symbol patch_poll_symbols[];
extern const struct patch_symbol patch_sleep_symbols[];
extern const struct patch_symbol patch_dns_symbols[];
extern const struct patch_symbol patch_fd_symbols[];
extern const struct patch_symbol patch_fdstate_symbols[];
extern const struct patch_symbol patch_signal_symbols[];

/* The real functions, resolved on first use (normally by a constructor,
 * so a signal handler never runs dlsym). */
static inline const struct patch_libc *libc_real(void)
{
    if (!atomic_load_explicit(&patch_libc_resolved, memory_order_acquire))
        patch_resolve_libc();
    return &patch_libc;
}

/* ---- enable.c: when a hook acts ------------------------------------ */

extern atomic_bool patch_on;
/* Depth of signal handlers running on this OS thread (signal_hooks.c). */
extern PATCH_TLS volatile sig_atomic_t patch_handler_depth;

/* True in a green thread with patching on, outside signal handlers: the
 * only place where a hook may park.  The main greenlet is excluded so that
 * plain code keeps libc's exact blocking behaviour. */
static inline bool patch_in_green_thread(void)
{
    /* green_thread_self() makes nothing: a thread without a hub (or the
     * main greenlet, or the hub itself) is answered with NULL at once, so
     * the pass-through stays within a few percent of libc. */
    return atomic_load_explicit(&patch_on, memory_order_relaxed) &&
           patch_handler_depth == 0 && green_thread_self() != NULL;
}

/* ---- fdstate.c: what the user asked for each descriptor ------------- */

/* A socket or pipe the user wants blocking: libgreen keeps it nonblocking
 * underneath and emulates blocking.  Classifies fd on first use (and sets
 * O_NONBLOCK then).  False for everything else, including a bad fd. */
bool fdstate_cooperative(int fd);
/* fd is a regular file (classified on first use, like the above). */
bool fdstate_regular_file(int fd);
/* libgreen set O_NONBLOCK on fd while the user wants it blocking (no
 * classification, no check: cheap). */
bool fdstate_emulates_blocking(int fd);
/* A call on fd would block (EAGAIN, EINPROGRESS): should the hook wait?
 * The same test, after checking that the number still names the file it
 * classified (one fstat: only on this slow path); a stale entry is
 * forgotten, and in a green thread (green) the fd learnt again. */
bool fdstate_wait_for_user(int fd, bool green);
/* SO_RCVTIMEO (events GREEN_READ) or SO_SNDTIMEO in seconds, or
 * GREEN_FOREVER. */
double fdstate_timeout(int fd, int events);
/* A patch hook waited on fd, so closing it must wake waiters. */
void fdstate_mark_waited(int fd);
bool fdstate_was_waited(int fd);

/* Forget fd (closed, or a new descriptor with this number). */
void fdstate_forget(int fd);
/* to shares from's open file description (dup). */
void fdstate_copy(int from, int to);
/* libgreen keeps O_NONBLOCK set on fd whatever the user asks. */
bool fdstate_driven(int fd);
/* The user asked for O_NONBLOCK on or off (fcntl F_SETFL, FIONBIO). */
void fdstate_set_user_nonblock(int fd, bool nonblock);
/* The user's view of F_GETFL flags. */
int fdstate_user_flags(int fd, int kernel_flags);
/* setsockopt(SO_RCVTIMEO/SO_SNDTIMEO) succeeded with tv. */
void fdstate_set_timeout(int fd, int optname, const struct timeval *tv);

/* ---- park.c: parking a hook ------------------------------------------ */

/* When to give up a wait: the fd's own timeout (reported as EAGAIN, or
 * 0 for poll) as an absolute green_now() deadline, or a negative value. */
typedef struct patch_deadline {
    double at;
    bool restartable; /* SA_RESTART applies (no socket timeout, not poll) */
} patch_deadline_t;

patch_deadline_t patch_deadline_after(double seconds, bool restartable);

/* Results of the waits below: 0 ready, or an errno value for the hook to
 * return: EAGAIN (own deadline), EINTR, ECANCELED, ETIMEDOUT (a timeout
 * scope), ENOMEM. */
#define PATCH_OWN_TIMEOUT EAGAIN

/* Wait until fd is ready for events (GREEN_READ/GREEN_WRITE) the way the
 * blocking call would: park in a green thread, or real poll(2) in plain
 * code for an fd libgreen made nonblocking. */
int patch_wait_fd(int fd, int events, bool green,
                  const patch_deadline_t *deadline);
/* Park until one of fds (poll(2) events) is ready or the deadline; the
 * caller then asks the real poll/select/epoll_wait what is ready. */
int patch_wait_pollfds(const struct pollfd *fds, nfds_t nfds,
                       const patch_deadline_t *deadline);
/* close(fd) from this OS thread: wake the hooks waiting for fd on a
 * private set (a shared fd), as green_notify_close does for the others. */
void patch_wake_closing(int fd);
/* Park for seconds (sleep hooks).  0 when slept in full. */
int patch_wait_sleep(double seconds);

/* cut.c: the result err of a green wait on fds; if it was cut short (a
 * kill or a timeout scope), shut down the connections among fds, as
 * green_patch_set_cut() says.  Returns err; errno is kept. */
int patch_after_wait(int err, const struct pollfd *fds, nfds_t nfds);

/* One attempt of a read/write-like call; -1 with errno on failure. */
typedef ssize_t (*patch_io_fn)(int fd, void *call);

/* The slow half of patch_io: the call would block. */
ssize_t patch_io_blocked(int fd, int events, bool green, patch_io_fn attempt,
                         void *call);

/* The park-and-retry loop shared by every I/O hook: try the call; if it
 * would block on a descriptor the user wants blocking, wait (green park or
 * real poll) and retry.  msg_flags with MSG_DONTWAIT means the user wants
 * EAGAIN: pure pass-through.  Inline, so that the pass-through path of each
 * hook is one direct call to libc. */
static inline ssize_t patch_io(int fd, int events, int msg_flags,
                               patch_io_fn attempt, void *call)
{
    bool dontwait = (msg_flags & MSG_DONTWAIT) != 0;
    /* Classifying first makes the fd nonblocking before the attempt. */
    bool green =
        !dontwait && patch_in_green_thread() && fdstate_cooperative(fd);
    ssize_t n = attempt(fd, call);

    if (n >= 0 || dontwait || errno != EAGAIN)
        return n;
    return patch_io_blocked(fd, events, green, attempt, call);
}

/* ---- signal_hooks.c: which signals ran handlers --------------------- */

/* Counts of handlers run on this OS thread, by SA_RESTART or not. */
typedef struct patch_signal_counts {
    unsigned long restarting, interrupting;
} patch_signal_counts_t;

patch_signal_counts_t patch_signal_counts(void);

#endif /* GREEN_PATCH_INTERNAL_H */

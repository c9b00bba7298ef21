/*
 * Per-descriptor state: whether the user asked for O_NONBLOCK, whether
 * libgreen set it underneath, and the socket timeouts.  Lock-free, because
 * hooks run in every thread and close() may be called from a signal
 * handler: each entry is the fd's record in the hub's process-wide table
 * (green_fd_hook_record in green/hub_hooks.h).
 */
#include "patch_internal.h"

#include <green/hub_hooks.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

const struct patch_symbol patch_fdstate_symbols[] = {
    PATCH_SYMBOL(fcntl),
    PATCH_SYMBOL(getsockopt),
    PATCH_SYMBOLS_END,
};

enum {
    FD_CLASSIFIED = 1u << 0,    /* the checks below were made */
    FD_DRIVEN = 1u << 1,        /* a socket or pipe with O_NONBLOCK forced on */
    FD_USER_KNOWN = 1u << 2,    /* FD_USER_NONBLOCK is meaningful */
    FD_USER_NONBLOCK = 1u << 3, /* the user wants EAGAIN */
    FD_WAITED = 1u << 4,        /* a hook parked on it once */
    FD_REGULAR = 1u << 5,       /* a regular file */
};

struct fd_entry {
    _Atomic uint32_t bits;
    /* The file classified, to notice a number reused behind the hooks'
     * back (closed by fclose or close_range, then reopened). */
    _Atomic uint64_t device, inode;
    _Atomic int64_t recv_timeout_us; /* 0: none */
    _Atomic int64_t send_timeout_us;
};

_Static_assert(sizeof(struct fd_entry) <= GREEN_FD_HOOK_BYTES,
               "an entry fits in the hub's per-fd record");

/* fd's entry if it exists (the hot path of every hook). */
static inline struct fd_entry *entry_if_any(int fd)
{
    return green_fd_hook_record(fd, 0);
}

/* fd's entry, made if needed (NULL: out of range or memory, or in a
 * signal handler: calloc is not async-signal-safe, so a handler only reads
 * the table). */
static struct fd_entry *entry_made(int fd)
{
    return green_fd_hook_record(fd, patch_handler_depth == 0);
}

/* An entry's bits; none without an entry. */
static uint32_t bits_in(struct fd_entry *e)
{
    return e != NULL ? atomic_load_explicit(&e->bits, memory_order_acquire) : 0;
}

static uint32_t bits_of(int fd)
{
    return bits_in(entry_if_any(fd));
}

/* libgreen set O_NONBLOCK on the fd while the user wants it blocking. */
static bool blocking_emulated(uint32_t bits)
{
    return (bits & FD_DRIVEN) && !(bits & FD_USER_NONBLOCK);
}

static int64_t socket_timeout_us(int fd, int optname)
{
    struct timeval tv;
    socklen_t len = sizeof(tv);

    if (libc_real()->getsockopt(fd, SOL_SOCKET, optname, &tv, &len) != 0)
        return 0;
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* First use in a green thread: sockets and pipes get O_NONBLOCK, and what
 * the user had is remembered (fds made before patching, or inherited, are
 * learnt here). */
static uint32_t classify(int fd, struct fd_entry *e, uint32_t bits)
{
    const struct patch_libc *libc = libc_real();
    uint32_t learnt = FD_CLASSIFIED;
    struct stat st;
    int flags;
    bool user_nonblock;

    if (fstat(fd, &st) != 0)
        return bits; /* a bad fd: the real call reports it */
    atomic_store(&e->device, (uint64_t)st.st_dev);
    atomic_store(&e->inode, (uint64_t)st.st_ino);
    if (S_ISREG(st.st_mode))
        learnt |= FD_REGULAR;
    if (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode)) {
        flags = libc->fcntl(fd, F_GETFL);
        if (flags < 0)
            return bits;
        user_nonblock = (bits & FD_USER_KNOWN) ? (bits & FD_USER_NONBLOCK)
                                               : (flags & O_NONBLOCK);
        if ((flags & O_NONBLOCK) ||
            libc->fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0)
            learnt |= FD_DRIVEN | FD_USER_KNOWN |
                      (user_nonblock ? FD_USER_NONBLOCK : 0);
        if (S_ISSOCK(st.st_mode)) {
            atomic_store(&e->recv_timeout_us,
                         socket_timeout_us(fd, SO_RCVTIMEO));
            atomic_store(&e->send_timeout_us,
                         socket_timeout_us(fd, SO_SNDTIMEO));
        }
    }
    return atomic_fetch_or(&e->bits, learnt) | learnt;
}

/* fd's bits, classified first if it was not yet (none without memory). */
static uint32_t classified_bits(int fd)
{
    uint32_t bits = bits_of(fd);

    if (!(bits & FD_CLASSIFIED)) {
        int saved_errno = errno;
        struct fd_entry *e = entry_made(fd);

        if (e == NULL)
            return 0;
        bits = classify(fd, e, atomic_load(&e->bits));
        errno = saved_errno;
    }
    return bits;
}

bool fdstate_cooperative(int fd)
{
    return blocking_emulated(classified_bits(fd));
}

bool fdstate_regular_file(int fd)
{
    return (classified_bits(fd) & FD_REGULAR) != 0;
}

bool fdstate_emulates_blocking(int fd)
{
    return blocking_emulated(bits_of(fd));
}

/* fd is still the file that was classified (errno kept). */
static bool same_file(int fd, const struct fd_entry *e)
{
    int saved_errno = errno;
    struct stat st;
    bool same = fstat(fd, &st) == 0 &&
                (uint64_t)st.st_dev == atomic_load(&e->device) &&
                (uint64_t)st.st_ino == atomic_load(&e->inode);

    errno = saved_errno;
    return same;
}

bool fdstate_wait_for_user(int fd, bool green)
{
    struct fd_entry *e = entry_if_any(fd);

    if (!blocking_emulated(bits_in(e)))
        return false;
    if (same_file(fd, e))
        return true;
    /* A stale entry: learn the new descriptor afresh. */
    fdstate_forget(fd);
    return green && fdstate_cooperative(fd);
}

double fdstate_timeout(int fd, int events)
{
    struct fd_entry *e = entry_if_any(fd);
    int64_t us;

    if (e == NULL)
        return GREEN_FOREVER;
    us = atomic_load((events & GREEN_READ) ? &e->recv_timeout_us
                                           : &e->send_timeout_us);
    return us > 0 ? (double)us / 1e6 : GREEN_FOREVER;
}

void fdstate_mark_waited(int fd)
{
    struct fd_entry *e = entry_made(fd);

    if (e != NULL)
        atomic_fetch_or(&e->bits, FD_WAITED);
}

bool fdstate_was_waited(int fd)
{
    return (bits_of(fd) & FD_WAITED) != 0;
}

void fdstate_forget(int fd)
{
    struct fd_entry *e = entry_if_any(fd);

    if (e == NULL)
        return;
    atomic_store(&e->bits, 0);
    atomic_store(&e->device, 0);
    atomic_store(&e->inode, 0);
    atomic_store(&e->recv_timeout_us, 0);
    atomic_store(&e->send_timeout_us, 0);
}

void fdstate_copy(int from, int to)
{
    struct fd_entry *source = entry_if_any(from);
    struct fd_entry *target;
    uint32_t bits = source != NULL ? atomic_load(&source->bits) : 0;

    if (bits == 0 || (target = entry_made(to)) == NULL) {
        fdstate_forget(to);
        return;
    }
    atomic_store(&target->device, atomic_load(&source->device));
    atomic_store(&target->inode, atomic_load(&source->inode));
    atomic_store(&target->recv_timeout_us,
                 atomic_load(&source->recv_timeout_us));
    atomic_store(&target->send_timeout_us,
                 atomic_load(&source->send_timeout_us));
    atomic_store(&target->bits, bits & ~(uint32_t)FD_WAITED);
}

bool fdstate_driven(int fd)
{
    return (bits_of(fd) & FD_DRIVEN) != 0;
}

void fdstate_set_user_nonblock(int fd, bool nonblock)
{
    struct fd_entry *e = entry_made(fd);

    if (e == NULL)
        return;
    if (nonblock)
        atomic_fetch_or(&e->bits, FD_USER_NONBLOCK);
    else
        atomic_fetch_and(&e->bits, ~(uint32_t)FD_USER_NONBLOCK);
    atomic_fetch_or(&e->bits, FD_USER_KNOWN);
}

int fdstate_user_flags(int fd, int kernel_flags)
{
    if (fdstate_wait_for_user(fd, false))
        return kernel_flags & ~O_NONBLOCK;
    return kernel_flags;
}

void fdstate_set_timeout(int fd, int optname, const struct timeval *tv)
{
    struct fd_entry *e = entry_made(fd);

    if (e == NULL)
        return;
    atomic_store(optname == SO_RCVTIMEO ? &e->recv_timeout_us
                                        : &e->send_timeout_us,
                 (int64_t)tv->tv_sec * 1000000 + tv->tv_usec);
}

/*
 * One process-wide record per file descriptor (internal), in a lock-free
 * table (fd_table.h) owned by hub.c: the hub's managed-fd token, green
 * I/O's settings, and the bytes an interposition layer keeps there
 * (green_fd_hook_record in green/hub_hooks.h).  Each user clears its own
 * part when it learns that the fd was closed.
 */
#ifndef GREEN_FD_RECORD_H
#define GREEN_FD_RECORD_H

#include <green/hub_hooks.h>

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* io.c's part. */
struct fd_io_state {
    /* Per direction ([0] receive, [1] send): 0 means no timeout, else the
     * timeout in nanoseconds plus one, so that a zeroed entry means "no
     * timeouts". */
    _Atomic uint64_t timeout_ns_plus_one[2];
    atomic_bool nonblocking; /* O_NONBLOCK is known to be set */
    atomic_uchar kind;       /* IO_FD_*: what the fd is, once known */
};

#define IO_FD_UNKNOWN 0
#define IO_FD_STREAM 1 /* a socket or a pipe */
#define IO_FD_OTHER 2
#define IO_FD_REGULAR 3 /* a regular file: green/file.h's calls */

struct hub_fd_record {
    _Atomic uint64_t token; /* hub.c: managed mode (green_fd_manage) */
    /* recvq.c: nonzero while a hub receives the fd multishot (its
     * request's token); a close in any thread clears it. */
    _Atomic uint64_t recvq;
    struct fd_io_state io;
    _Alignas(max_align_t) unsigned char hook[GREEN_FD_HOOK_BYTES];
};

/* fd's record, zeroed when made; NULL for an fd out of range, when create
 * is 0 and no record of its range exists yet, or without memory. */
struct hub_fd_record *hub_fd_record(int fd, int create);

#endif /* GREEN_FD_RECORD_H */

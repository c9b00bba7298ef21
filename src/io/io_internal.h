/*
 * Internal: what io.c shares with the other files of the io layer.
 */
#ifndef GREEN_IO_INTERNAL_H
#define GREEN_IO_INTERNAL_H

/* Put fd in O_NONBLOCK mode once, remembered in its fd record until
 * green_close(): 0 or errno. */
int io_ensure_nonblocking(int fd);

/* What fd is, IO_FD_* of hub/fd_record.h (IO_FD_UNKNOWN: a bad fd, which
 * the call itself then reports). */
int io_fd_kind(int fd);

/* file.c: close a regular file as green/file.h's operations are. */
int file_close(int fd);

/* Per thread: how green I/O calls blocked, so that tests can tell the
 * paths apart: waits for readiness (green_wait_fd), and io_uring
 * operations submitted. */
struct io_counts {
    unsigned long readiness_waits;
    unsigned long ops;
};
extern __thread struct io_counts io_counts;

#endif /* GREEN_IO_INTERNAL_H */

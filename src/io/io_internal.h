/*
 * Internal: what io.c shares with the other files of the io layer.
 */
#ifndef GREEN_IO_INTERNAL_H
#define GREEN_IO_INTERNAL_H

#include <stddef.h>

/* Put fd in O_NONBLOCK mode once, remembered in its fd record until
 * green_close(): 0 or errno. */
int io_ensure_nonblocking(int fd);

/* What fd is, IO_FD_* of hub/fd_record.h (IO_FD_UNKNOWN: a bad fd, which
 * the call itself then reports). */
int io_fd_kind(int fd);

/* One recv of up to len bytes from socket fd, within timeout (seconds;
 * GREEN_FOREVER: none) and the caller's timeout scope, as green_recv: on
 * an io_uring hub one operation, whose data is kept (returns 0) when it
 * completed despite a cut.  0 with *out_len (0: end of file) or errno. */
int io_recv(int fd, void *buf, size_t len, double timeout, size_t *out_len);

/* file.c: close a regular file as green/file.h's operations are. */
int file_close(int fd);

/* Per thread: how green I/O calls blocked, so that tests can tell the
 * paths apart: waits for readiness (green_wait_fd), and io_uring
 * operations submitted; and the sends TLS connections made (those with
 * MSG_MORE too) and their recvs that found nothing (tls.c). */
struct io_counts {
    unsigned long readiness_waits;
    unsigned long ops;
    unsigned long tls_sends;
    unsigned long tls_corked_sends;
    unsigned long tls_dry_recvs;
};
extern __thread struct io_counts io_counts;

#endif /* GREEN_IO_INTERNAL_H */

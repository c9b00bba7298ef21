/*
 * libgreen — regular files: open, read, write, pread, pwrite, fsync and
 * close that park only the calling green thread.
 *
 * A regular file is never "not ready" (it never reports EAGAIN), so the
 * readiness loop of green/io.h cannot keep a disk read off the hub.  These
 * calls hand the system call itself elsewhere instead: on a hub running
 * io_uring they are io_uring operations (IORING_OP_OPENAT, READ, WRITE,
 * FSYNC, CLOSE); on epoll and poll hubs they run in the thread pool
 * (green/tpool.h).  Either way the hub runs other green threads meanwhile.
 * From plain C code (the main greenlet) they behave like the blocking
 * syscalls.  green_read, green_write and green_close (green/io.h) send
 * regular files here: close files with green_close, which closes a
 * regular file as an operation like these.
 *
 * Error convention: every function returns 0 or a positive errno code (the
 * syscall's own: EBADF, ENOENT, EISDIR, EINVAL...; EINVAL also for a NULL
 * buffer with a non-zero length or a NULL out_fd).  Byte counts come back
 * through size_t *out_len, which may be NULL; a read of 0 bytes with len >
 * 0 is end of file.  Reads and writes may be short, as with the syscalls.
 * Per-fd timeouts (green_set_timeouts) do not apply to files; enclosing
 * green_timeout scopes and kills do:
 *
 * Cutting a call (a timeout scope fires, or the green thread is killed):
 *   - If the operation has not started, it never will, and the call
 *     returns ETIMEDOUT or ECANCELED.
 *   - A started operation is waited for, so that no memory of the
 *     caller's is touched after the call returns: on io_uring the call
 *     cancels it and waits for the cancel; in the thread pool, where a
 *     worker cannot be interrupted, a read or write waits for the worker's
 *     system call to return (blocking the hub for the rest of that one
 *     system call, since a cut green thread cannot park).  If the
 *     operation completed anyway, the call returns its result (the cut
 *     then fails the next blocking call, as for green_park); otherwise
 *     ETIMEDOUT or ECANCELED.
 *   - In the thread pool, open, fsync and close borrow no memory of the
 *     caller's: cut while started, they return at once and finish on
 *     their own (a file opened after its caller gave up is closed again).
 *   - Close is never skipped: like close(2) on Linux, it releases the fd
 *     whatever it returns.
 */
#ifndef GREEN_FILE_H
#define GREEN_FILE_H

#include <green/export.h>
#include <green/hub.h>

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* open(2) of path with flags (O_CLOEXEC is added) and mode (used with
 * O_CREAT or O_TMPFILE); *out_fd gets the fd. */
GREEN_EXTERN int green_file_open(int *out_fd, const char *path, int flags,
                                 mode_t mode);

/* read(2)/write(2) at the file offset, which they advance.  Meant for
 * regular files: on other fds they would block a pool worker, not the
 * green thread alone (green_read and green_write choose for you). */
GREEN_EXTERN int green_file_read(int fd, void *buf, size_t len,
                                 size_t *out_len);
GREEN_EXTERN int green_file_write(int fd, const void *buf, size_t len,
                                  size_t *out_len);

/* pread(2)/pwrite(2) at offset (>= 0, else EINVAL); the file offset does
 * not move.  Like the syscalls, one call moves at most 0x7ffff000 bytes. */
GREEN_EXTERN int green_pread(int fd, void *buf, size_t len, off_t offset,
                             size_t *out_len);
GREEN_EXTERN int green_pwrite(int fd, const void *buf, size_t len, off_t offset,
                              size_t *out_len);

/* fsync(2): the file's data and metadata reach the disk. */
GREEN_EXTERN int green_fsync(int fd);

/* 1 if the calling thread's hub (made if needed) runs these calls as
 * io_uring operations, 0 if they go through the thread pool. */
GREEN_EXTERN int green_file_native(void);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_FILE_H */

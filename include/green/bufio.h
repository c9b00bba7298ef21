/*
 * libgreen — buffered reading from a green fd: lines, exact counts, peeks
 * (Go's bufio.Reader, Python's readline/readexactly), as every protocol
 * parser needs.
 *
 * A reader owns a buffer, not the fd: it reads the fd with read(2) through
 * green_io_retry (green/io.h), so only the calling green thread blocks.
 * The fd is switched to O_NONBLOCK by green_bufio_new.  Once a reader
 * exists, read the fd only through it (bytes it buffered are not in the
 * fd any more); writing to the fd (a socket) is fine.  Closing the fd is
 * the caller's job, after green_bufio_destroy or before it.
 *
 * Errors follow green/io.h: every function returns 0 or a positive errno
 * code, ETIMEDOUT for the fd's timeout or a timeout scope, ECANCELED when
 * the caller is killed, EBADF when the fd is closed while waiting, EBUSY
 * when another green thread reads the fd.  The fd's timeout
 * (green_set_timeout) is one deadline for the whole call, as for
 * green_recv_all, not a limit per read.
 *
 * Nothing is lost to an error: a call that fails (timeout, kill, EMSGSIZE,
 * ENOMEM...) consumes nothing, and every byte it had already taken from
 * the fd stays buffered for the next call.  Only success consumes.
 *
 * A reader is used by one green thread at a time (not thread-safe).
 */
#ifndef GREEN_BUFIO_H
#define GREEN_BUFIO_H

#include <green/io.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct green_bufio green_bufio_t;

/* A reader over fd, reading chunks of `chunk` bytes (0: 4096).  The
 * buffer grows beyond a chunk only as far as a call needs (a long line, a
 * peek).  EINVAL for a NULL out or a negative fd; ENOMEM; fcntl's error
 * if fd cannot be made nonblocking (EBADF). */
GREEN_EXTERN int green_bufio_new(green_bufio_t **out, int fd, size_t chunk);
/* Free the reader and its buffered bytes; the fd stays open.  EINVAL for
 * NULL. */
GREEN_EXTERN int green_bufio_destroy(green_bufio_t *reader);

/* Read one line, up to and including its '\n', into line[0..size-1] and
 * NUL-terminate it; *out_len (may be NULL) gets its length without the
 * NUL.  So a line of at most size - 1 bytes (the '\n' included) fits.
 *  - At EOF, a last line without '\n' is returned as it is; *out_len == 0
 *    means EOF with nothing left.
 *  - EMSGSIZE: no '\n' among the next size - 1 bytes.  Nothing is
 *    consumed: those bytes stay readable by green_bufio_read (to skip or
 *    keep the long line), or by a read_line with a larger size.
 *  - EINVAL for a NULL reader or line, or size < 2. */
GREEN_EXTERN int green_bufio_read_line(green_bufio_t *reader, char *line,
                                       size_t size, size_t *out_len);

/* Read exactly len bytes into buf, or fewer only at EOF: then 0 is
 * returned with *out_len < len, those bytes consumed (as green_recv_all).
 * Bytes beyond what is buffered are read straight into buf, so a large
 * read costs no extra copy.  EINVAL for a NULL buf with len > 0. */
GREEN_EXTERN int green_bufio_read_exact(green_bufio_t *reader, void *buf,
                                        size_t len, size_t *out_len);

/* Read at most len bytes: the buffered ones if any, else one read of the
 * fd (blocking until something arrives).  *out_len == 0 means EOF (or len
 * was 0). */
GREEN_EXTERN int green_bufio_read(green_bufio_t *reader, void *buf, size_t len,
                                  size_t *out_len);

/* Look at the next len bytes without consuming them: waits until len
 * bytes are buffered, or EOF (then *out_len < len).  *out_data points into
 * the reader's buffer and stays valid until the next call on the reader.
 * EINVAL for a NULL reader or out parameter; ENOMEM. */
GREEN_EXTERN int green_bufio_peek(green_bufio_t *reader, size_t len,
                                  const void **out_data, size_t *out_len);

/* The number of bytes buffered now (readable without touching the fd);
 * 0 for NULL. */
GREEN_EXTERN size_t green_bufio_buffered(const green_bufio_t *reader);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_BUFIO_H */

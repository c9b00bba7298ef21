/*
 * Buffered reading over a green fd.  Bytes wait in reader->bytes; only a
 * successful call consumes them, so an error leaves everything that was
 * read from the fd in the buffer for the next call.
 */
#include <green/bufio.h>

#include "greenlet/sys.h"
#include "hub/bytes.h"
#include "hub/recvq.h"
#include "io_internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUFIO_DEFAULT_CHUNK 4096

struct green_bufio {
    int fd;
    size_t chunk;
    bytes_t bytes; /* read from fd, not yet taken */
};

/* One call's deadline: the fd's timeout counted once from the start of the
 * call (negative: none). */
typedef struct bufio_call {
    double at;
} bufio_call_t;

static bufio_call_t bufio_call_begin(const green_bufio_t *reader)
{
    double timeout = green_get_timeout(reader->fd);
    bufio_call_t call = {timeout < 0 ? -1.0 : green_now() + timeout};

    return call;
}

int green_bufio_new(green_bufio_t **out, int fd, size_t chunk)
{
    green_bufio_t *reader;
    int err;

    if (out == NULL || fd < 0)
        return EINVAL;
    err = io_ensure_nonblocking(fd);
    if (err != 0)
        return err;
    reader = calloc(1, sizeof(*reader));
    if (reader == NULL)
        return ENOMEM;
    reader->fd = fd;
    reader->chunk = chunk > 0 ? chunk : BUFIO_DEFAULT_CHUNK;
    *out = reader;
    return 0;
}

int green_bufio_destroy(green_bufio_t *reader)
{
    if (reader == NULL)
        return EINVAL;
    free(reader->bytes.data);
    free(reader);
    return 0;
}

size_t green_bufio_buffered(const green_bufio_t *reader)
{
    return reader != NULL ? bytes_count(&reader->bytes) : 0;
}

struct bufio_span {
    void *buf;
    size_t len;
};

static ssize_t bufio_attempt_read(int fd, void *op)
{
    struct bufio_span *span = op;

    return sys_libc()->read(fd, span->buf, span->len);
}

/* One read(2) of the fd into buf, within the call's deadline; *got == 0
 * at EOF. */
static int bufio_read_fd(green_bufio_t *reader, const bufio_call_t *call,
                         void *buf, size_t len, size_t *got)
{
    struct bufio_span span = {buf, len};
    double timeout = GREEN_FOREVER;

    if (call->at >= 0) {
        timeout = call->at - green_now();
        timeout = timeout > 0 ? timeout : 0;
    }
    /* A socket received multishot: its bytes may be queued. */
    if (recvq_owned(reader->fd))
        return io_recv(reader->fd, buf, len, timeout, got);
    return green_io_retry(reader->fd, GREEN_READ, timeout, bufio_attempt_read,
                          &span, got);
}

/* One read of the fd into the buffer, with room for at least `room` (and a
 * chunk) more bytes; *got == 0 at EOF. */
static int bufio_fill_once(green_bufio_t *reader, const bufio_call_t *call,
                           size_t room, size_t *got)
{
    int err = bytes_reserve(&reader->bytes,
                            room > reader->chunk ? room : reader->chunk,
                            reader->chunk);

    if (err != 0)
        return err;
    err = bufio_read_fd(reader, call, reader->bytes.data + reader->bytes.end,
                        reader->bytes.capacity - reader->bytes.end, got);
    if (err == 0)
        reader->bytes.end += *got;
    return err;
}

/* Buffer at least `len` bytes, or all there is before EOF. */
static int bufio_fill(green_bufio_t *reader, const bufio_call_t *call,
                      size_t len)
{
    size_t got = 1;
    int err = 0;

    while (err == 0 && got > 0 && bytes_count(&reader->bytes) < len)
        err = bufio_fill_once(reader, call, len - bytes_count(&reader->bytes),
                              &got);
    return err;
}

static void bufio_set_len(size_t *out_len, size_t len)
{
    if (out_len != NULL)
        *out_len = len;
}

/* Copy len buffered bytes to buf and consume them. */
static void bufio_take(green_bufio_t *reader, void *buf, size_t len,
                       size_t *out_len)
{
    if (len > 0)
        memcpy(buf, reader->bytes.data + reader->bytes.start, len);
    bytes_consume(&reader->bytes, len);
    bufio_set_len(out_len, len);
}

/* The length of the next line (with its '\n') if it is buffered within
 * the first `limit` bytes, else 0.  *scanned: bytes already known to hold
 * no '\n', so that each byte is searched once. */
static size_t bufio_find_line(const green_bufio_t *reader, size_t limit,
                              size_t *scanned)
{
    size_t buffered = bytes_count(&reader->bytes);
    size_t end = buffered < limit ? buffered : limit;
    const char *data = reader->bytes.data + reader->bytes.start;
    const char *newline = NULL;

    if (end > *scanned)
        newline = memchr(data + *scanned, '\n', end - *scanned);
    *scanned = end;
    return newline != NULL ? (size_t)(newline - data) + 1 : 0;
}

int green_bufio_read_line(green_bufio_t *reader, char *line, size_t size,
                          size_t *out_len)
{
    bufio_call_t call;
    size_t scanned = 0, length, got = 1;
    int err = 0;

    bufio_set_len(out_len, 0);
    if (reader == NULL || line == NULL || size < 2)
        return EINVAL;
    call = bufio_call_begin(reader);
    while ((length = bufio_find_line(reader, size - 1, &scanned)) == 0) {
        if (got == 0) { /* EOF: the last line has no '\n' */
            length = bytes_count(&reader->bytes);
            break;
        }
        if (scanned == size - 1)
            return EMSGSIZE;
        err = bufio_fill_once(reader, &call, 0, &got);
        if (err != 0)
            return err;
    }
    bufio_take(reader, line, length, out_len);
    line[length] = '\0';
    return 0;
}

/* read_exact beyond a chunk: the buffered bytes are copied (kept until
 * success), the rest is read straight into buf. */
static int bufio_read_exact_direct(green_bufio_t *reader,
                                   const bufio_call_t *call, char *buf,
                                   size_t len, size_t *out_len)
{
    size_t buffered = bytes_count(&reader->bytes), done = buffered, got = 1;
    int err = 0;

    if (buffered > 0)
        memcpy(buf, reader->bytes.data + reader->bytes.start, buffered);
    while (err == 0 && got > 0 && done < len) {
        err = bufio_read_fd(reader, call, buf + done, len - done, &got);
        done += err == 0 ? got : 0;
    }
    if (err != 0) {
        /* Give the bytes read straight into buf back to the reader, so
         * that a failed read_exact loses none of them. */
        int unread_err = bytes_append(&reader->bytes, buf + buffered,
                                      done - buffered, reader->chunk);

        return unread_err != 0 ? unread_err : err;
    }
    bytes_consume(&reader->bytes, buffered);
    bufio_set_len(out_len, done);
    return 0;
}

int green_bufio_read_exact(green_bufio_t *reader, void *buf, size_t len,
                           size_t *out_len)
{
    bufio_call_t call;
    size_t buffered;
    int err;

    bufio_set_len(out_len, 0);
    if (reader == NULL || (buf == NULL && len > 0))
        return EINVAL;
    buffered = bytes_count(&reader->bytes);
    if (buffered >= len) {
        bufio_take(reader, buf, len, out_len);
        return 0;
    }
    call = bufio_call_begin(reader);
    if (len - buffered >= reader->chunk)
        return bufio_read_exact_direct(reader, &call, buf, len, out_len);
    err = bufio_fill(reader, &call, len);
    if (err != 0)
        return err;
    buffered = bytes_count(&reader->bytes);
    bufio_take(reader, buf, buffered < len ? buffered : len, out_len);
    return 0;
}

int green_bufio_read(green_bufio_t *reader, void *buf, size_t len,
                     size_t *out_len)
{
    size_t buffered, got;
    int err;

    bufio_set_len(out_len, 0);
    if (reader == NULL || (buf == NULL && len > 0))
        return EINVAL;
    if (len > 0 && bytes_count(&reader->bytes) == 0) {
        bufio_call_t call = bufio_call_begin(reader);

        err = bufio_fill_once(reader, &call, 0, &got);
        if (err != 0)
            return err;
    }
    buffered = bytes_count(&reader->bytes);
    bufio_take(reader, buf, buffered < len ? buffered : len, out_len);
    return 0;
}

int green_bufio_peek(green_bufio_t *reader, size_t len, const void **out_data,
                     size_t *out_len)
{
    bufio_call_t call;
    size_t buffered;
    int err;

    if (reader == NULL || out_data == NULL || out_len == NULL)
        return EINVAL;
    *out_len = 0;
    if (bytes_count(&reader->bytes) < len) {
        call = bufio_call_begin(reader);
        err = bufio_fill(reader, &call, len);
        if (err != 0)
            return err;
    }
    buffered = bytes_count(&reader->bytes);
    *out_data = reader->bytes.data + reader->bytes.start;
    *out_len = buffered < len ? buffered : len;
    return 0;
}

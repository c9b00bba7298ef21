/*
 * Internal: a growable run of bytes, data[start, end) in capacity bytes.
 * It queues what a buffered reader (io/bufio.c) or a multishot receive
 * (recvq.c) took from an fd and nobody has read yet.  A zeroed bytes_t is
 * empty and owns nothing; free(data) ends it.
 */
#ifndef GREEN_HUB_BYTES_H
#define GREEN_HUB_BYTES_H

#include <stddef.h>

typedef struct bytes {
    char *data;
    size_t capacity, start, end;
} bytes_t;

static inline size_t bytes_count(const bytes_t *b)
{
    return b->end - b->start;
}

/* Room for at least `room` bytes after the held ones: they move to the
 * front, then the buffer doubles (from `first` bytes, if it has none)
 * until they fit.  0, or ENOMEM with the held bytes kept. */
int bytes_reserve(bytes_t *b, size_t room, size_t first);

/* Copy len bytes after the held ones (bytes_reserve's `first`): 0 or
 * ENOMEM, with nothing added. */
int bytes_append(bytes_t *b, const void *src, size_t len, size_t first);

/* Forget the first len held bytes; once none is left, start over at the
 * front. */
void bytes_consume(bytes_t *b, size_t len);

#endif /* GREEN_HUB_BYTES_H */

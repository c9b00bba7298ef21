/* A growable run of bytes (bytes.h). */
#include "bytes.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int bytes_reserve(bytes_t *b, size_t room, size_t first)
{
    size_t held = bytes_count(b), capacity = b->capacity;
    char *data;

    if (capacity - b->end >= room)
        return 0;
    if (b->start > 0)
        memmove(b->data, b->data + b->start, held);
    b->start = 0;
    b->end = held;
    if (capacity - held >= room)
        return 0;
    if (room > SIZE_MAX / 2 - held)
        return ENOMEM;
    if (capacity == 0)
        capacity = first;
    while (capacity - held < room)
        capacity *= 2;
    data = realloc(b->data, capacity);
    if (data == NULL)
        return ENOMEM;
    b->data = data;
    b->capacity = capacity;
    return 0;
}

int bytes_append(bytes_t *b, const void *src, size_t len, size_t first)
{
    int err = bytes_reserve(b, len, first);

    if (err != 0)
        return err;
    memcpy(b->data + b->end, src, len);
    b->end += len;
    return 0;
}

void bytes_consume(bytes_t *b, size_t len)
{
    b->start += len;
    if (b->start == b->end)
        b->start = b->end = 0;
}

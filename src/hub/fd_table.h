/*
 * A process-wide table indexed by file descriptor (internal).
 *
 * Any hub thread may touch any fd, so the table is lock-free: a two-level
 * array whose chunks are made on first use of an fd range and never move
 * or shrink, so readers need no lock (and threads still doing I/O at exit
 * never see it freed: valgrind counts it as reachable, not leaked).
 * Entries start zeroed.  A child of fork inherits the tables, as it
 * inherits the fds they describe.  fd_array_grow() serves the single-owner
 * arrays (one hub's, one poll set's) that may move when they grow.
 */
#ifndef GREEN_FD_TABLE_H
#define GREEN_FD_TABLE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define FD_TABLE_CHUNK_BITS 10
#define FD_TABLE_CHUNK_SIZE (1u << FD_TABLE_CHUNK_BITS)
#define FD_TABLE_CHUNKS 4096u /* up to 4M descriptors */
#define FD_TABLE_MAX_FDS ((size_t)FD_TABLE_CHUNKS * FD_TABLE_CHUNK_SIZE)

typedef struct fd_table {
    size_t entry_size;
    _Atomic(char *) chunks[FD_TABLE_CHUNKS];
} fd_table_t;

/* A static table of entries of the given type. */
#define FD_TABLE_INIT(type)                                                    \
    {                                                                          \
        .entry_size = sizeof(type)                                             \
    }

/* fd's entry; NULL when fd is out of range, when its chunk does not exist
 * and create is 0, or without memory. */
static inline void *fd_table_entry(fd_table_t *table, int fd, int create)
{
    size_t index = (size_t)fd >> FD_TABLE_CHUNK_BITS;
    char *chunk, *expected = NULL;

    if (fd < 0 || index >= FD_TABLE_CHUNKS)
        return NULL;
    chunk = atomic_load_explicit(&table->chunks[index], memory_order_acquire);
    if (chunk == NULL && create) {
        chunk = calloc(FD_TABLE_CHUNK_SIZE, table->entry_size);
        if (chunk != NULL && !atomic_compare_exchange_strong(
                                 &table->chunks[index], &expected, chunk)) {
            free(chunk); /* another thread made it first */
            chunk = expected;
        }
    }
    if (chunk == NULL)
        return NULL;
    return chunk + ((size_t)fd & (FD_TABLE_CHUNK_SIZE - 1)) * table->entry_size;
}

/* A single owner's array indexed by fd, grown by doubling so that fd fits,
 * the new entries zeroed.  Returns the array, which may have moved, with
 * *capacity updated; NULL without memory (the array and *capacity are
 * then unchanged). */
static inline void *fd_array_grow(void *array, size_t *capacity,
                                  size_t entry_size, int fd)
{
    size_t grown = *capacity ? *capacity : 64;
    char *bigger;

    while (grown <= (size_t)fd)
        grown *= 2;
    bigger = realloc(array, grown * entry_size);
    if (bigger == NULL)
        return NULL;
    memset(bigger + *capacity * entry_size, 0,
           (grown - *capacity) * entry_size);
    *capacity = grown;
    return bigger;
}

#endif /* GREEN_FD_TABLE_H */

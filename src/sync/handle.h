/*
 * Internal: the head of every sync object (event, semaphore, lock,
 * condition, queue, pool, pile, imap): its tag and its owner.
 *
 * The owner is the OS thread that made the object: the green threads of
 * that thread's hub (whichever hub it runs, also after
 * green_hub_destroy()) may use it.  A call from another OS thread would
 * park or wake tasks of a hub it does not run, so it is refused with
 * EPERM.  OS threads are numbered on first use, so a thread that exits
 * never passes its objects on to a new one.
 */
#ifndef GREEN_SYNC_HANDLE_H
#define GREEN_SYNC_HANDLE_H

#include "greenlet/tag.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sync_handle {
    uint32_t tag; /* first in every object, so any handle can be checked */
    uint64_t owner;
} sync_handle_t;

/* The calling OS thread's number; 0 until sync_thread_number() gave one. */
extern __thread uint64_t sync_thread
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
uint64_t sync_thread_number(void) __attribute__((visibility("hidden")));

static inline void sync_handle_init(sync_handle_t *handle, tag_t tag)
{
    handle->tag = tag;
    handle->owner = sync_thread_number();
}

/* Clear the tag of an object about to be freed. */
static inline void sync_handle_clear(sync_handle_t *handle)
{
    tag_clear(&handle->tag);
}

/* 0 if object is a live `tag` object of the calling OS thread; EINVAL for
 * NULL or a bad handle (reported on stderr), EPERM for another thread's.
 * The common case costs the tag compare and the owner compare. */
static inline int sync_check(const void *object, tag_t tag, const char *fn)
{
    const sync_handle_t *handle = object;
    int err;

    if (handle == NULL)
        return EINVAL;
    err = tag_check(handle, handle->tag, tag, fn);
    if (err != 0)
        return err;
    /* A thread still unnumbered (0) owns nothing. */
    return __builtin_expect(handle->owner == sync_thread, 1) ? 0 : EPERM;
}

#define sync_enter(object, tag) sync_check(object, tag, __func__)

#endif /* GREEN_SYNC_HANDLE_H */

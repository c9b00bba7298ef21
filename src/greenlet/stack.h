/*
 * Greenlet stacks (internal).
 *
 * Stacks are carved out of slabs: one anonymous mapping holds many stacks,
 * each preceded by a guard page.  The guards are installed with
 * MADV_GUARD_INSTALL (Linux 6.13+), which does not split the mapping, so
 * the number of stacks is not capped by vm.max_map_count; older kernels
 * fall back to mprotect(PROT_NONE), which does.  Only touched pages cost
 * memory.  Freed stacks go to a bounded per-thread cache for reuse.
 *
 * Callers see only acquire/release, so that a second stack mode (stack
 * copying, for millions of mostly idle greenlets) can be added behind the
 * same interface.
 */
#ifndef GREEN_STACK_H
#define GREEN_STACK_H

#include <stddef.h>

struct green_stack_slab;

struct green_stack {
    char *lo;    /* lowest usable byte; NULL when no stack is held */
    size_t size; /* usable bytes; the guard lies just below lo */
    struct green_stack_slab *slab;
    unsigned slot;
    unsigned valgrind_id;
};

/* Get a stack of at least `size` usable bytes (rounded up to pages, at
 * least GREENLET_STACK_MIN).  0, ENOMEM, or EAGAIN when no mapping could
 * be made. */
int green_stack_acquire(struct green_stack *stack, size_t size);

/* Where a context on this stack starts: the top bytes are kept for the
 * cache's bookkeeping, so that a greenlet can release its own stack just
 * before it switches away for the last time. */
#define GREEN_STACK_HEADER_BYTES 64

static inline void *green_stack_top(const struct green_stack *stack)
{
    return stack->lo + stack->size - GREEN_STACK_HEADER_BYTES;
}

static inline size_t green_stack_usable(const struct green_stack *stack)
{
    return stack->size - GREEN_STACK_HEADER_BYTES;
}

/* Give a stack back to the calling thread's cache; older cached stacks
 * beyond the cache's bound go back to their slab.  The stack itself is
 * never unmapped here, so a greenlet may release the stack it runs on (the
 * cache then holds one more than its bound until the next release). */
void green_stack_release(struct green_stack *stack);

/* Give a stack back to its slab, bypassing any cache (used for stacks of
 * exited threads and from threads other than the owner). */
void green_stack_release_to_slab(struct green_stack *stack);

/* Bound the calling thread's cache; extra stacks are released at once. */
void green_stack_set_cache_limit(size_t max_stacks);

/* Empty the calling thread's cache (at thread exit). */
void green_stack_flush_cache(void);

/* Size of the guard region below each stack. */
size_t green_stack_guard_size(void);

/* Hold and release the slab registry's lock across fork (greenlet.c's
 * atfork handlers), so that a child finds it unlocked.  Slots taken by
 * other threads' stacks stay taken in the child. */
void green_stack_fork_lock(void);
void green_stack_fork_unlock(void);

#endif /* GREEN_STACK_H */

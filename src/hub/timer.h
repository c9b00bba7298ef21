/*
 * Internal: the hub's timers, a binary min-heap ordered by deadline, then
 * by a scheduling sequence number (so equal deadlines fire in the order
 * they were scheduled).  Each node records its index in the heap, which
 * makes cancellation O(log n) without searching.
 *
 * Nodes are embedded in their owners (a green thread's park deadline, a
 * public green_timer_t); the heap array holds the sort keys next to the
 * node pointers, so sifting compares without touching the nodes.
 */
#ifndef GREEN_TIMER_H
#define GREEN_TIMER_H

#include <stddef.h>
#include <stdint.h>

#define TIMER_DETACHED SIZE_MAX

typedef struct timer_node {
    size_t index; /* position in the heap, TIMER_DETACHED if not in it */
    double deadline;
    uint64_t seq;
    void (*fire)(struct timer_node *node); /* called by the hub, detached */
} timer_node_t;

typedef struct timer_entry {
    double deadline;
    uint64_t seq;
    timer_node_t *node;
} timer_entry_t;

typedef struct timer_heap {
    timer_entry_t *entries;
    size_t count, capacity;
    uint64_t next_seq;
} timer_heap_t;

void timer_heap_init(timer_heap_t *heap);
void timer_heap_free(timer_heap_t *heap);

static inline void timer_node_init(timer_node_t *node,
                                   void (*fire)(timer_node_t *node))
{
    node->index = TIMER_DETACHED;
    node->deadline = 0;
    node->seq = 0;
    node->fire = fire;
}

static inline int timer_node_pending(const timer_node_t *node)
{
    return node->index != TIMER_DETACHED;
}

/* Schedule a detached node at deadline.  0 or ENOMEM. */
int timer_heap_push(timer_heap_t *heap, timer_node_t *node, double deadline);
/* Detach node if it is scheduled (idempotent). */
void timer_heap_remove(timer_heap_t *heap, timer_node_t *node);
/* The earliest node, or NULL. */
static inline timer_node_t *timer_heap_top(const timer_heap_t *heap)
{
    return heap->count > 0 ? heap->entries[0].node : NULL;
}

#endif /* GREEN_TIMER_H */

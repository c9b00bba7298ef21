/*
 * Queue: unbounded, bounded or channel (maxsize 0), in FIFO, LIFO or
 * priority order.
 *
 * All three orders share one binary heap of (item, sequence number): FIFO
 * pops the lowest sequence, LIFO the highest, priority the lowest item by
 * cmp with the sequence breaking ties.  An item handed back by a getter
 * that was killed gets a sequence that makes it the next one out, so it
 * keeps its place at the front.
 *
 * Hand-off: a put while getters wait gives the item to the first getter; a
 * get from a full queue moves the first putter's item in, and a get from a
 * channel takes the item straight from the first putter.  Stored items and
 * parked getters therefore never coexist, and neither do free room and
 * parked putters.
 *
 * Close wakes every parked getter and putter with EPIPE (a putter's item
 * stays its own); after it no putter parks, so only stored items remain.
 */
#include <green/sync.h>

#include "handle.h"
#include "choice.h"
#include "waitlist.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct queue_entry {
    void *item;
    int64_t seq;
} queue_entry_t;

struct green_queue {
    sync_handle_t handle; /* first */
    size_t maxsize;
    green_queue_order_t order;
    green_queue_cmp_fn cmp;
    queue_entry_t *heap;
    size_t count, capacity;
    int64_t next_back_seq;  /* for items put normally */
    int64_t next_front_seq; /* for items handed back: below every other */
    size_t unfinished;
    int closed;
    waitlist_t getters, putters, joiners;
};

int green_queue_new(green_queue_t **out, size_t maxsize,
                    green_queue_order_t order, green_queue_cmp_fn cmp)
{
    green_queue_t *queue;

    if (out == NULL || (order == GREEN_QUEUE_PRIORITY) != (cmp != NULL) ||
        (order != GREEN_QUEUE_FIFO && order != GREEN_QUEUE_LIFO &&
         order != GREEN_QUEUE_PRIORITY))
        return EINVAL;
    queue = calloc(1, sizeof(*queue));
    if (queue == NULL)
        return ENOMEM;
    sync_handle_init(&queue->handle, TAG_QUEUE);
    queue->maxsize = maxsize;
    queue->order = order;
    queue->cmp = cmp;
    queue->next_front_seq = -1;
    waitlist_init(&queue->getters);
    waitlist_init(&queue->putters);
    waitlist_init(&queue->joiners);
    *out = queue;
    return 0;
}

int green_queue_destroy(green_queue_t *queue, void (*free_item)(void *item))
{
    int err = sync_enter(queue, TAG_QUEUE);

    if (err != 0)
        return err;
    if (queue->getters.count > 0 || queue->putters.count > 0 ||
        queue->joiners.count > 0)
        return EBUSY;
    if (free_item != NULL) {
        for (size_t i = 0; i < queue->count; i++)
            free_item(queue->heap[i].item);
    }
    free(queue->heap);
    sync_handle_clear(&queue->handle);
    free(queue);
    return 0;
}

/* ---- The heap ---------------------------------------------------------- */

/* 1 if entry a must come out before entry b. */
static int queue_before(const green_queue_t *queue, const queue_entry_t *a,
                        const queue_entry_t *b)
{
    int order;

    switch (queue->order) {
    case GREEN_QUEUE_LIFO:
        return a->seq > b->seq;
    case GREEN_QUEUE_PRIORITY:
        order = queue->cmp(a->item, b->item);
        if (order != 0)
            return order < 0;
        return a->seq < b->seq;
    default:
        return a->seq < b->seq;
    }
}

static void queue_swap(queue_entry_t *a, queue_entry_t *b)
{
    queue_entry_t tmp = *a;

    *a = *b;
    *b = tmp;
}

/* Make room in the heap for one more entry. */
static int queue_reserve(green_queue_t *queue)
{
    size_t capacity;
    queue_entry_t *heap;

    if (queue->count < queue->capacity)
        return 0;
    capacity = queue->capacity > 0 ? queue->capacity * 2 : 16;
    heap = realloc(queue->heap, capacity * sizeof(*heap));
    if (heap == NULL)
        return ENOMEM;
    queue->heap = heap;
    queue->capacity = capacity;
    return 0;
}

/* Store an item after a successful queue_reserve(). */
static void queue_store(green_queue_t *queue, void *item, int64_t seq)
{
    size_t i = queue->count++;

    queue->heap[i].item = item;
    queue->heap[i].seq = seq;
    while (i > 0 &&
           queue_before(queue, &queue->heap[i], &queue->heap[(i - 1) / 2])) {
        queue_swap(&queue->heap[i], &queue->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
}

static void *queue_pop(green_queue_t *queue)
{
    void *item = queue->heap[0].item;
    size_t i = 0;

    queue->heap[0] = queue->heap[--queue->count];
    for (;;) {
        size_t first = i, left = 2 * i + 1, right = left + 1;

        if (left < queue->count &&
            queue_before(queue, &queue->heap[left], &queue->heap[first]))
            first = left;
        if (right < queue->count &&
            queue_before(queue, &queue->heap[right], &queue->heap[first]))
            first = right;
        if (first == i)
            break;
        queue_swap(&queue->heap[i], &queue->heap[first]);
        i = first;
    }
    return item;
}

/* ---- Hand-off ------------------------------------------------------- */

static int queue_has_room(const green_queue_t *queue)
{
    return queue->maxsize == GREEN_QUEUE_UNBOUNDED ||
           queue->count < queue->maxsize;
}

/* Move waiting putters' items in while there is room, in FIFO order.  The
 * slot is reserved before a putter is told its item was taken. */
static void queue_admit_putters(green_queue_t *queue)
{
    while (queue_has_room(queue) && queue->putters.count > 0 &&
           queue_reserve(queue) == 0) {
        waitlist_node_t *putter = waitlist_wake_first(&queue->putters, 0, NULL);

        if (putter == NULL)
            return;
        queue_store(queue, putter->item, queue->next_back_seq++);
        queue->unfinished++;
    }
}

/* An item handed to a getter that then timed out or was killed: give it to
 * the next getter, or store it where it will come out first.  Returns
 * ENOMEM if it could not be stored (the caller then keeps it). */
static int queue_give_back(green_queue_t *queue, void *item)
{
    int err;

    if (waitlist_wake_first(&queue->getters, 0, item) != NULL)
        return 0;
    err = queue_reserve(queue);
    if (err != 0)
        return err;
    queue_store(queue, item,
                queue->order == GREEN_QUEUE_LIFO ? queue->next_back_seq++
                                                 : queue->next_front_seq--);
    return 0;
}

/* ---- Put and get -------------------------------------------------------- */

int green_queue_try_put(green_queue_t *queue, void *item)
{
    int err = sync_enter(queue, TAG_QUEUE);

    if (err != 0)
        return err;
    if (queue->closed)
        return EPIPE;
    if (waitlist_wake_first(&queue->getters, 0, item) == NULL) {
        if (!queue_has_room(queue))
            return EAGAIN;
        err = queue_reserve(queue);
        if (err != 0)
            return err;
        queue_store(queue, item, queue->next_back_seq++);
    }
    queue->unfinished++;
    return 0;
}

int green_queue_put(green_queue_t *queue, void *item, double timeout)
{
    waitlist_node_t node;
    int err;

    err = green_queue_try_put(queue, item);
    if (err != EAGAIN)
        return err;
    waitlist_node_init(&node, item);
    err = waitlist_park(&queue->putters, &node, timeout, NULL);
    /* Handed: a getter took the item (0), or close refused it (EPIPE),
     * before the timeout or kill won. */
    return node.handed ? node.waiter.result : err;
}

int green_queue_try_get(green_queue_t *queue, void **item)
{
    waitlist_node_t *putter;
    int err = sync_enter(queue, TAG_QUEUE);

    if (err != 0)
        return err;
    if (item == NULL)
        return EINVAL;
    if (queue->count > 0) {
        *item = queue_pop(queue);
        queue_admit_putters(queue);
        return 0;
    }
    /* A channel, or a bounded queue whose storage failed: take the item
     * straight from the first putter. */
    putter = waitlist_wake_first(&queue->putters, 0, NULL);
    if (putter == NULL)
        return queue->closed ? EPIPE : EAGAIN;
    *item = putter->item;
    queue->unfinished++;
    return 0;
}

int green_queue_get(green_queue_t *queue, void **item, double timeout)
{
    waitlist_node_t node;
    void *received = NULL;
    int err;

    err = green_queue_try_get(queue, item);
    if (err != EAGAIN)
        return err;
    waitlist_node_init(&node, NULL);
    err = waitlist_park(&queue->getters, &node, timeout, &received);
    if (err == 0) {
        *item = received;
        return 0;
    }
    if (node.handed && node.waiter.result == 0 &&
        queue_give_back(queue, node.waiter.value) != 0) {
        *item = node.waiter.value; /* nowhere to put it: better kept */
        return 0;
    }
    return err;
}

int green_queue_close(green_queue_t *queue)
{
    int err = sync_enter(queue, TAG_QUEUE);

    if (err != 0)
        return err;
    if (queue->closed)
        return EALREADY;
    queue->closed = 1;
    waitlist_wake_all(&queue->getters, EPIPE, NULL);
    waitlist_wake_all(&queue->putters, EPIPE, NULL);
    return 0;
}

int green_queue_closed(const green_queue_t *queue)
{
    return sync_enter(queue, TAG_QUEUE) == 0 ? queue->closed : 0;
}

/* ---- Size, tasks, introspection -------------------------------------- */

int green_queue_resize(green_queue_t *queue, size_t maxsize)
{
    int err = sync_enter(queue, TAG_QUEUE);

    if (err != 0)
        return err;
    queue->maxsize = maxsize;
    queue_admit_putters(queue);
    return 0;
}

int green_queue_task_done(green_queue_t *queue)
{
    int err = sync_enter(queue, TAG_QUEUE);

    if (err != 0)
        return err;
    if (queue->unfinished == 0)
        return EINVAL;
    if (--queue->unfinished == 0)
        waitlist_wake_all(&queue->joiners, 0, NULL);
    return 0;
}

int green_queue_join(green_queue_t *queue, double timeout)
{
    waitlist_node_t node;
    int err = sync_enter(queue, TAG_QUEUE);

    if (err != 0)
        return err;
    if (queue->unfinished == 0)
        return 0;
    waitlist_node_init(&node, NULL);
    return waitlist_park(&queue->joiners, &node, timeout, NULL);
}

size_t green_queue_size(const green_queue_t *queue)
{
    return sync_enter(queue, TAG_QUEUE) == 0 ? queue->count : 0;
}

size_t green_queue_maxsize(const green_queue_t *queue)
{
    return sync_enter(queue, TAG_QUEUE) == 0 ? queue->maxsize : 0;
}

size_t green_queue_getters(const green_queue_t *queue)
{
    return sync_enter(queue, TAG_QUEUE) == 0 ? queue->getters.count : 0;
}

size_t green_queue_putters(const green_queue_t *queue)
{
    return sync_enter(queue, TAG_QUEUE) == 0 ? queue->putters.count : 0;
}

size_t green_queue_unfinished(const green_queue_t *queue)
{
    return sync_enter(queue, TAG_QUEUE) == 0 ? queue->unfinished : 0;
}

waitlist_t *queue_choice_list(green_queue_t *queue, int put)
{
    return put ? &queue->putters : &queue->getters;
}

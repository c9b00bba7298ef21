/*
 * FIFO wait lists of parked green threads: the one place where the sync
 * objects (event, semaphore, lock, condition, queue, pool) queue their
 * waiters and hand things over to them.
 *
 * Hand-off protocol.  A waker never lets a released permit or a put item
 * float for anyone to grab: it pops the first waiter, gives it the thing
 * through green_unpark(), and marks the node `handed`.  A waiter whose
 * timeout fired (or that was killed) before the waker got to it is already
 * unparked, so green_unpark() refuses it with EALREADY and the waker moves
 * on to the next one.  A waiter that comes back from green_park() with an
 * error but finds `handed` set was given something anyway (the hub let the
 * kill or timeout win after the hand-off) and must pass it on, so nothing
 * is ever swallowed.
 *
 * Choices (green_select).  One task may wait on several lists at once: it
 * parks on the shared waiter of a waitlist_choice_t, and each of its nodes
 * points to that choice.  Waking such a node claims the whole choice, and
 * only if nobody claimed it before: the first waker unparks the shared
 * waiter and records its node in `fired`; every later waker finds the
 * claim taken (EALREADY, like a timed-out waiter), drops that stale node
 * and hands its item or permit to the next waiter.  So a hand-off reaches
 * exactly one case of a choice, and never one that has already fired.
 */
#ifndef GREEN_WAITLIST_H
#define GREEN_WAITLIST_H

#include <green/hub.h>

#include <errno.h>
#include <stddef.h>

struct waitlist_node;

/* The waiter that a task waiting on several lists parks on. */
typedef struct waitlist_choice {
    green_waiter_t waiter;
    struct waitlist_node *fired; /* the node woken first; NULL until then */
} waitlist_choice_t;

/* A parked green thread.  Lives on the parker's stack. */
typedef struct waitlist_node {
    green_waiter_t waiter;     /* first: a waiter is its node */
    void *item;                /* offered by a putter, or handed to a getter */
    waitlist_choice_t *choice; /* NULL, or the choice this node is part of */
    int linked;                /* in a list: removal is idempotent */
    int handed;                /* a waker unparked it with something */
} waitlist_node_t;

typedef struct waitlist {
    waitlist_node_t *head, *tail;
    size_t count;
} waitlist_t;

static inline void waitlist_init(waitlist_t *list)
{
    list->head = list->tail = NULL;
    list->count = 0;
}

static inline void waitlist_node_init(waitlist_node_t *node, void *item)
{
    green_waiter_init(&node->waiter);
    node->item = item;
    node->choice = NULL;
    node->linked = 0;
    node->handed = 0;
}

static inline waitlist_node_t *waitlist_next(const waitlist_node_t *node)
{
    return (waitlist_node_t *)node->waiter.next;
}

static inline void waitlist_push(waitlist_t *list, waitlist_node_t *node)
{
    node->waiter.prev = (green_waiter_t *)list->tail;
    node->waiter.next = NULL;
    if (list->tail != NULL)
        list->tail->waiter.next = &node->waiter;
    else
        list->head = node;
    list->tail = node;
    node->linked = 1;
    list->count++;
}

/* Unlink node if it is still linked (a waker may have popped it). */
static inline void waitlist_remove(waitlist_t *list, waitlist_node_t *node)
{
    waitlist_node_t *prev = (waitlist_node_t *)node->waiter.prev;
    waitlist_node_t *next = waitlist_next(node);

    if (!node->linked)
        return;
    if (prev != NULL)
        prev->waiter.next = (green_waiter_t *)next;
    else
        list->head = next;
    if (next != NULL)
        next->waiter.prev = (green_waiter_t *)prev;
    else
        list->tail = prev;
    node->waiter.prev = node->waiter.next = NULL;
    node->linked = 0;
    list->count--;
}

/* Unpark node, or claim its choice: 0, or EALREADY if the node's waiter
 * (or its choice) was unparked already. */
static inline int waitlist_unpark(waitlist_node_t *node, int result,
                                  void *value)
{
    waitlist_choice_t *choice = node->choice;

    if (choice == NULL)
        return green_unpark(&node->waiter, result, value);
    if (choice->fired != NULL ||
        green_unpark(&choice->waiter, result, value) != 0)
        return EALREADY;
    choice->fired = node;
    return 0;
}

/* Wake the first waiter that is still parked, giving it (result, value);
 * waiters already unparked by their timeout or a kill are dropped.  Returns
 * the node handed to, or NULL if nobody was waiting. */
static inline waitlist_node_t *waitlist_wake_first(waitlist_t *list, int result,
                                                   void *value)
{
    while (list->head != NULL) {
        waitlist_node_t *node = list->head;

        waitlist_remove(list, node);
        if (waitlist_unpark(node, result, value) == 0) {
            node->handed = 1;
            return node;
        }
    }
    return NULL;
}

/* Wake every waiter with (result, value).  Returns how many were woken. */
static inline size_t waitlist_wake_all(waitlist_t *list, int result,
                                       void *value)
{
    size_t woken = 0;

    while (waitlist_wake_first(list, result, value) != NULL)
        woken++;
    return woken;
}

/* Queue node at the tail and park until woken, the timeout passes or the
 * caller is killed.  On error the node is off the list; node->handed then
 * says whether a waker had handed it something all the same. */
static inline int waitlist_park(waitlist_t *list, waitlist_node_t *node,
                                double timeout, void **value)
{
    int err;

    waitlist_push(list, node);
    err = green_park(&node->waiter, timeout, value);
    if (err != 0)
        waitlist_remove(list, node);
    return err;
}

#endif /* GREEN_WAITLIST_H */

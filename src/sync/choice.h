/*
 * Internal: what green_select (select.c) needs of the objects beyond their
 * try_* calls: the wait lists it joins, with the node's item set as each
 * list's waiters expect.  Called only after a try_* call checked the
 * handle.
 */
#ifndef GREEN_SYNC_CHOICE_H
#define GREEN_SYNC_CHOICE_H

#include <green/sync.h>

#include "waitlist.h"

/* The getters (put 0) or putters (put 1: node->item is the item). */
waitlist_t *queue_choice_list(green_queue_t *queue, int put);
waitlist_t *event_choice_list(green_event_t *event);
/* 0 with the event's error in *result and its value if it is set; EAGAIN
 * if not; EINVAL or EPERM for a refused handle. */
int event_choice_try(green_event_t *event, void **value, int *result);
waitlist_t *semaphore_choice_list(green_semaphore_t *sem);
/* Sets node->item to the caller's identity, which a release makes owner. */
waitlist_t *lock_choice_list(green_lock_t *lock, waitlist_node_t *node);

#endif /* GREEN_SYNC_CHOICE_H */

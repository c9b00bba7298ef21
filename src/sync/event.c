/*
 * Event: a one-shot value or error delivered to every waiter.
 */
#include <green/sync.h>

#include "handle.h"
#include "choice.h"
#include "waitlist.h"

#include <errno.h>
#include <stdlib.h>

struct green_event {
    sync_handle_t handle; /* first */
    int set;
    int error;
    void *value;
    waitlist_t waiters;
};

int green_event_new(green_event_t **out)
{
    green_event_t *event;

    if (out == NULL)
        return EINVAL;
    event = calloc(1, sizeof(*event));
    if (event == NULL)
        return ENOMEM;
    sync_handle_init(&event->handle, TAG_EVENT);
    waitlist_init(&event->waiters);
    *out = event;
    return 0;
}

int green_event_destroy(green_event_t *event)
{
    int err = sync_enter(event, TAG_EVENT);

    if (err != 0)
        return err;
    if (event->waiters.count > 0)
        return EBUSY;
    sync_handle_clear(&event->handle);
    free(event);
    return 0;
}

static int event_set(green_event_t *event, int error, void *value)
{
    if (event->set)
        return EALREADY;
    event->set = 1;
    event->error = error;
    event->value = value;
    waitlist_wake_all(&event->waiters, error, value);
    return 0;
}

int green_event_send(green_event_t *event, void *value)
{
    int err = sync_enter(event, TAG_EVENT);

    return err != 0 ? err : event_set(event, 0, value);
}

int green_event_send_error(green_event_t *event, int err)
{
    int check = sync_enter(event, TAG_EVENT);

    if (check != 0)
        return check;
    if (err == 0)
        return EINVAL;
    return event_set(event, err, NULL);
}

int green_event_wait(green_event_t *event, void **value, double timeout)
{
    waitlist_node_t node;
    void *received = NULL;
    int err = sync_enter(event, TAG_EVENT);

    if (err != 0)
        return err;
    if (event->set) {
        received = event->value;
        err = event->error;
    } else {
        waitlist_node_init(&node, NULL);
        /* A send wakes everyone, so a waiter that times out or is killed
         * takes nothing from the others: its own error is the answer. */
        err = waitlist_park(&event->waiters, &node, timeout, &received);
    }
    if (value != NULL)
        *value = err == 0 ? received : NULL;
    return err;
}

int green_event_ready(const green_event_t *event)
{
    return sync_enter(event, TAG_EVENT) == 0 && event->set;
}

int green_event_reset(green_event_t *event)
{
    int err = sync_enter(event, TAG_EVENT);

    if (err != 0)
        return err;
    if (!event->set)
        return EALREADY;
    event->set = 0;
    event->error = 0;
    event->value = NULL;
    return 0;
}

size_t green_event_waiting(const green_event_t *event)
{
    return sync_enter(event, TAG_EVENT) == 0 ? event->waiters.count : 0;
}

waitlist_t *event_choice_list(green_event_t *event)
{
    return &event->waiters;
}

int event_choice_try(green_event_t *event, void **value, int *result)
{
    int err = sync_enter(event, TAG_EVENT);

    if (err != 0)
        return err;
    if (!event->set)
        return EAGAIN;
    *result = event->error;
    *value = event->error == 0 ? event->value : NULL;
    return 0;
}

/*
 * Event: a one-shot value or error delivered to every waiter.
 */
#include <green/sync.h>

#include "waitlist.h"

#include <errno.h>
#include <stdlib.h>

struct green_event {
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
    waitlist_init(&event->waiters);
    *out = event;
    return 0;
}

int green_event_destroy(green_event_t *event)
{
    if (event == NULL)
        return EINVAL;
    if (event->waiters.count > 0)
        return EBUSY;
    free(event);
    return 0;
}

static int event_set(green_event_t *event, int error, void *value)
{
    if (event == NULL)
        return EINVAL;
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
    return event_set(event, 0, value);
}

int green_event_send_error(green_event_t *event, int err)
{
    if (err == 0)
        return EINVAL;
    return event_set(event, err, NULL);
}

int green_event_wait(green_event_t *event, void **value, double timeout)
{
    waitlist_node_t node;
    void *received = NULL;
    int err;

    if (event == NULL)
        return EINVAL;
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
    return event != NULL && event->set;
}

int green_event_reset(green_event_t *event)
{
    if (event == NULL)
        return EINVAL;
    if (!event->set)
        return EALREADY;
    event->set = 0;
    event->error = 0;
    event->value = NULL;
    return 0;
}

size_t green_event_waiting(const green_event_t *event)
{
    return event != NULL ? event->waiters.count : 0;
}

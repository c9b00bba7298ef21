/*
 * Timeout scopes.  A scope only records a deadline in its task's chain;
 * the one place that enforces it is hub_park() (and hub_yield()), which
 * arms the park's timer for the earliest open scope.  So every blocking
 * call — sleep, fd waits, green_park and all the sync objects on it —
 * honours the scopes without knowing about them.
 */
#include "hub_internal.h"
#include "task_scope.h"

#include <errno.h>
#include <math.h>

green_timeout_t *timeout_earliest(const task_t *task)
{
    green_timeout_t *earliest = task->timeouts;

    /* Walking outward with <=, a tie goes to the outer scope: it was the
     * first to promise that deadline. */
    for (green_timeout_t *t = earliest; t != NULL; t = t->outer)
        if (t->deadline <= earliest->deadline)
            earliest = t;
    return earliest;
}

void timeout_inherit(task_t *child, const task_t *parent,
                     green_timeout_t *scope)
{
    if (parent == NULL || parent->timeouts == NULL)
        return;
    /* No owner: only green_timeout_cancel() reads it, and no one cancels
     * this scope; it is dropped with the thread. */
    scope->owner = NULL;
    scope->deadline = timeout_earliest(parent)->deadline;
    scope->fired = 0;
    scope->active = 1;
    scope->outer = NULL;
    child->timeouts = scope;
}

int green_timeout_start(green_timeout_t *t, double seconds)
{
    green_hub_t *hub;
    task_t *task;
    int err;

    if (t == NULL || isnan(seconds) || seconds < 0)
        return EINVAL;
    err = hub_caller(&hub, &task);
    if (err != 0)
        return err;
    t->owner = task->greenlet;
    t->deadline = green_now() + seconds;
    t->fired = 0;
    t->active = 1;
    t->outer = task->timeouts;
    task->timeouts = t;
    return 0;
}

int green_timeout_cancel(green_timeout_t *t)
{
    green_hub_t *hub = hub_existing();
    task_t *task;

    if (t == NULL)
        return EINVAL;
    if (!t->active)
        return 0;
    t->active = 0;
    task = hub != NULL ? hub_current_task(hub) : NULL;
    /* Normally t is the innermost scope; tolerate any order.  A scope of a
     * thread that already ended was dropped with the thread. */
    if (task != NULL && task->greenlet == t->owner) {
        for (green_timeout_t **link = &task->timeouts; *link != NULL;
             link = &(*link)->outer) {
            if (*link == t) {
                *link = t->outer;
                break;
            }
        }
    }
    return 0;
}

int green_timeout_fired(const green_timeout_t *t)
{
    return t != NULL && t->fired;
}

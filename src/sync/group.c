/*
 * Task groups: children owned by a group, deadlines and cancellation
 * flowing downward.
 *
 * Every child starts inside the inherited timeout scope (its record holds
 * it) and runs group_child_main(), which, by being the thread's function,
 * marks the thread as a child of its group: thread_self_arg() finds the child
 * record from inside, so a group made there nests in the child's group in O(1).
 * A link on the child's thread gives its slot back however it ends (returned,
 * failed, killed, or killed before it started).  Cancels never block where they
 * start (a link, for GREEN_GROUP_FAIL_FAST): kills are delivered with
 * thread_kill_async(), and only green_group_cancel() waits for the ends.
 */
#include <green/group.h>
#include <green/timeout.h>

#include "handle.h"
#include "hub/task_scope.h"
#include "waitlist.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

typedef struct group_child {
    struct group_child *prev, *next;
    green_group_t *group;
    green_thread_t *thread; /* borrowed: the hub holds it while it lives */
    green_thread_fn fn;
    void *arg;
    thread_link_t ended;   /* runs group_child_ended */
    green_timeout_t scope; /* the inherited deadline, if any */
} group_child_t;

struct green_group {
    sync_handle_t handle; /* first */
    size_t limit;         /* 0: none */
    size_t running;       /* slots taken: children alive, spawns starting */
    unsigned flags;
    int err; /* the first error a child ended with */
    unsigned char cancelled;
    group_child_t *children; /* doubly linked, newest first */
    group_child_t *spare;    /* ended children's records, for reuse */
    waitlist_t spawners;     /* parked on a full group */
    waitlist_t waiters;      /* in green_group_wait() or cancel */
    green_group_t *parent;   /* the group it is nested in, or NULL */
    green_group_t *nested;   /* groups nested in it, linked by sibling */
    green_group_t *sibling_prev, *sibling_next;
};

/* The thread function of every child: it marks the thread as a child. */
static void *group_child_main(void *arg)
{
    group_child_t *child = arg;

    return child->fn(child->arg);
}

/* The caller's child record if it is a child of group, else NULL. */
static group_child_t *group_own_child(const green_group_t *group)
{
    group_child_t *child = thread_self_arg(group_child_main);

    return child != NULL && child->group == group ? child : NULL;
}

int green_group_new(green_group_t **out, size_t limit, unsigned flags)
{
    group_child_t *creator = thread_self_arg(group_child_main);
    green_group_t *group;

    if (out == NULL || (flags & ~(unsigned)GREEN_GROUP_FAIL_FAST) != 0)
        return EINVAL;
    group = calloc(1, sizeof(*group));
    if (group == NULL)
        return ENOMEM;
    sync_handle_init(&group->handle, TAG_GROUP);
    group->limit = limit;
    group->flags = flags;
    waitlist_init(&group->spawners);
    waitlist_init(&group->waiters);
    if (creator != NULL) {
        green_group_t *parent = creator->group;

        group->parent = parent;
        group->cancelled = parent->cancelled;
        group->sibling_next = parent->nested;
        if (parent->nested != NULL)
            parent->nested->sibling_prev = group;
        parent->nested = group;
    }
    *out = group;
    return 0;
}

/* Cancel group and its nested groups without blocking.  A kill of a child
 * not started yet runs its link here, which unlinks only that child. */
static void group_cancel_async(green_group_t *group)
{
    green_thread_t *self = green_thread_self();
    group_child_t *child, *next;

    group->cancelled = 1;
    waitlist_wake_all(&group->spawners, ECANCELED, NULL);
    for (green_group_t *n = group->nested; n != NULL; n = n->sibling_next)
        group_cancel_async(n);
    for (child = group->children; child != NULL; child = next) {
        next = child->next;
        if (child->thread != self)
            thread_kill_async(child->thread);
    }
}

/* Give a slot back: to the first parked spawner, or to the group. */
static inline void group_free_slot(green_group_t *group)
{
    waitlist_node_t *node = NULL;

    if (!group->cancelled)
        node = waitlist_wake_first(&group->spawners, 0, NULL);
    if (node != NULL)
        node->item = group; /* tells the spawner the slot is its own */
    else if (--group->running == 0)
        waitlist_wake_all(&group->waiters, 0, NULL);
}

static void group_child_ended(green_thread_t *thread, void *arg)
{
    group_child_t *child = arg;
    green_group_t *group = child->group;
    int err = child->ended.err;

    (void)thread;
    if (child->prev != NULL)
        child->prev->next = child->next;
    else
        group->children = child->next;
    if (child->next != NULL)
        child->next->prev = child->prev;
    child->next = group->spare;
    group->spare = child;
    /* Kills by the group's own cancel are not errors of the group. */
    if (err != 0 && !(err == ECANCELED && group->cancelled) &&
        group->err == 0) {
        group->err = err;
        if ((group->flags & GREEN_GROUP_FAIL_FAST) && !group->cancelled)
            group_cancel_async(group);
    }
    group_free_slot(group);
}

/* Take a slot, parking while the group is full. */
static int group_take_slot(green_group_t *group)
{
    waitlist_node_t node;
    int err;

    if (group->limit == 0 || group->running < group->limit) {
        group->running++;
        return 0;
    }
    if (group_own_child(group) != NULL)
        return EDEADLK;
    waitlist_node_init(&node, NULL);
    err = waitlist_park(&group->spawners, &node, GREEN_FOREVER, NULL);
    if (node.item != NULL && (err != 0 || group->cancelled)) {
        group_free_slot(group); /* handed a slot, but leaving */
        return err != 0 ? err : ECANCELED;
    }
    return err;
}

/* Start fn(arg) as a child in a slot already taken; *out is borrowed. */
static int group_start_child(green_group_t *group, green_thread_t **out,
                             green_thread_fn fn, void *arg)
{
    group_child_t *child = group->spare;
    green_thread_t *thread;
    int err;

    if (child != NULL) {
        group->spare = child->next;
    } else {
        child = malloc(sizeof(*child));
        if (child == NULL)
            return ENOMEM;
        child->ended.fn = group_child_ended;
        child->ended.arg = child;
    }
    child->group = group;
    child->fn = fn;
    child->arg = arg;
    err = thread_spawn_child(&thread, group_child_main, child, &child->ended,
                             &child->scope);
    if (err != 0) {
        child->next = group->spare;
        group->spare = child;
        return err;
    }
    child->thread = thread;
    child->prev = NULL;
    child->next = group->children;
    if (group->children != NULL)
        group->children->prev = child;
    group->children = child;
    *out = thread;
    return 0;
}

int green_group_spawn(green_group_t *group, green_thread_t **out,
                      green_thread_fn fn, void *arg)
{
    green_thread_t *thread;
    int err = sync_enter(group, TAG_GROUP);

    if (err != 0)
        return err;
    if (fn == NULL)
        return EINVAL;
    if (group->cancelled)
        return ECANCELED;
    err = group_take_slot(group);
    if (err != 0)
        return err;
    err = group_start_child(group, &thread, fn, arg);
    if (err != 0) {
        group_free_slot(group);
        return err;
    }
    if (out != NULL)
        *out = green_thread_retain(thread);
    return 0;
}

/* Park until no child runs. */
static int group_wait_empty(green_group_t *group, double timeout)
{
    waitlist_node_t node;

    if (group->running == 0)
        return 0;
    waitlist_node_init(&node, NULL);
    return waitlist_park(&group->waiters, &node, timeout, NULL);
}

int green_group_wait(green_group_t *group, double timeout)
{
    int err = sync_enter(group, TAG_GROUP);

    if (err != 0)
        return err;
    if (isnan(timeout))
        return EINVAL;
    if (group_own_child(group) != NULL)
        return EDEADLK;
    err = group_wait_empty(group, timeout);
    return err != 0 ? err : group->err;
}

int green_group_cancel(green_group_t *group)
{
    int err = sync_enter(group, TAG_GROUP);

    if (err != 0)
        return err;
    group_cancel_async(group);
    if (group_own_child(group) != NULL)
        return 0;
    return group_wait_empty(group, GREEN_FOREVER);
}

int green_group_destroy(green_group_t *group)
{
    int err = sync_enter(group, TAG_GROUP);

    if (err != 0)
        return err;
    if (group_own_child(group) != NULL)
        return EDEADLK;
    if (group->spawners.count > 0 || group->waiters.count > 0)
        return EBUSY;
    err = green_group_cancel(group);
    if (err != 0)
        return err;
    for (green_group_t *n = group->nested; n != NULL; n = n->sibling_next)
        n->parent = NULL;
    if (group->sibling_prev != NULL)
        group->sibling_prev->sibling_next = group->sibling_next;
    else if (group->parent != NULL)
        group->parent->nested = group->sibling_next;
    if (group->sibling_next != NULL)
        group->sibling_next->sibling_prev = group->sibling_prev;
    while (group->spare != NULL) {
        group_child_t *child = group->spare;

        group->spare = child->next;
        free(child);
    }
    sync_handle_clear(&group->handle);
    free(group);
    return 0;
}

size_t green_group_running(const green_group_t *group)
{
    return sync_enter(group, TAG_GROUP) == 0 ? group->running : 0;
}

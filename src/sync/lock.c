/*
 * Lock (a green mutex with an owner) and condition variable.
 *
 * Releasing a contended lock makes the first waiter its owner before it
 * even runs (hand-off), so the lock cannot be stolen by a green thread that
 * happens to run first.
 */
#include <green/sync.h>
#include <green/thread.h>

#include "handle.h"
#include "choice.h"
#include "waitlist.h"

#include <errno.h>
#include <stdlib.h>

struct green_lock {
    sync_handle_t handle; /* first */
    const void *owner;    /* caller_identity() of the holder; NULL when free */
    waitlist_t waiters;
};

struct green_cond {
    sync_handle_t handle; /* first */
    waitlist_t waiters;
};

int green_lock_new(green_lock_t **out)
{
    green_lock_t *lock;

    if (out == NULL)
        return EINVAL;
    lock = calloc(1, sizeof(*lock));
    if (lock == NULL)
        return ENOMEM;
    sync_handle_init(&lock->handle, TAG_LOCK);
    waitlist_init(&lock->waiters);
    *out = lock;
    return 0;
}

int green_lock_destroy(green_lock_t *lock)
{
    int err = sync_enter(lock, TAG_LOCK);

    if (err != 0)
        return err;
    if (lock->owner != NULL || lock->waiters.count > 0)
        return EBUSY;
    sync_handle_clear(&lock->handle);
    free(lock);
    return 0;
}

/* Who is calling: the green thread, or the greenlet outside green threads
 * (main).  Not the greenlet of a green thread: worker greenlets run one
 * green thread after another. */
static const void *caller_identity(void)
{
    green_thread_t *self = green_thread_self();

    return self != NULL ? (const void *)self : (const void *)greenlet_current();
}

/* Give the lock to the first waiter (its identity is the node's item), or
 * free it. */
static void lock_pass_on(green_lock_t *lock)
{
    waitlist_node_t *next = waitlist_wake_first(&lock->waiters, 0, NULL);

    lock->owner = next != NULL ? next->item : NULL;
}

int green_lock_try_acquire(green_lock_t *lock)
{
    const void *self;
    int err = sync_enter(lock, TAG_LOCK);

    if (err != 0)
        return err;
    self = caller_identity();
    if (self == NULL)
        return EINVAL;
    if (lock->owner == self)
        return EDEADLK;
    if (lock->owner != NULL)
        return EAGAIN;
    lock->owner = self;
    return 0;
}

int green_lock_acquire(green_lock_t *lock, double timeout)
{
    waitlist_node_t node;
    int err;

    err = green_lock_try_acquire(lock);
    if (err != EAGAIN)
        return err;
    waitlist_node_init(&node, (void *)caller_identity());
    err = waitlist_park(&lock->waiters, &node, timeout, NULL);
    if (err != 0 && node.handed)
        lock_pass_on(lock); /* made owner, but leaving: pass it on */
    return err;
}

int green_lock_release(green_lock_t *lock)
{
    int err = sync_enter(lock, TAG_LOCK);

    if (err != 0)
        return err;
    if (lock->owner == NULL || lock->owner != caller_identity())
        return EPERM;
    lock_pass_on(lock);
    return 0;
}

int green_lock_locked(const green_lock_t *lock)
{
    return sync_enter(lock, TAG_LOCK) == 0 && lock->owner != NULL;
}

int green_lock_owned(const green_lock_t *lock)
{
    return sync_enter(lock, TAG_LOCK) == 0 && lock->owner != NULL &&
           lock->owner == caller_identity();
}

int green_cond_new(green_cond_t **out)
{
    green_cond_t *cond;

    if (out == NULL)
        return EINVAL;
    cond = calloc(1, sizeof(*cond));
    if (cond == NULL)
        return ENOMEM;
    sync_handle_init(&cond->handle, TAG_COND);
    waitlist_init(&cond->waiters);
    *out = cond;
    return 0;
}

int green_cond_destroy(green_cond_t *cond)
{
    int err = sync_enter(cond, TAG_COND);

    if (err != 0)
        return err;
    if (cond->waiters.count > 0)
        return EBUSY;
    sync_handle_clear(&cond->handle);
    free(cond);
    return 0;
}

int green_cond_wait(green_cond_t *cond, green_lock_t *lock, double timeout)
{
    waitlist_node_t node;
    int err, relock_err;

    err = sync_enter(cond, TAG_COND);
    if (err == 0)
        err = sync_enter(lock, TAG_LOCK);
    if (err != 0)
        return err;
    if (!green_lock_owned(lock))
        return EPERM;
    /* Releasing never switches, so no notify can slip in before we park. */
    lock_pass_on(lock);
    waitlist_node_init(&node, NULL);
    err = waitlist_park(&cond->waiters, &node, timeout, NULL);
    if (err != 0 && node.handed)
        green_cond_notify(cond); /* a notify meant for a live waiter */
    relock_err = green_lock_acquire(lock, GREEN_FOREVER);
    return err != 0 ? err : relock_err;
}

int green_cond_notify(green_cond_t *cond)
{
    int err = sync_enter(cond, TAG_COND);

    if (err != 0)
        return err;
    waitlist_wake_first(&cond->waiters, 0, NULL);
    return 0;
}

int green_cond_notify_all(green_cond_t *cond)
{
    int err = sync_enter(cond, TAG_COND);

    if (err != 0)
        return err;
    waitlist_wake_all(&cond->waiters, 0, NULL);
    return 0;
}

waitlist_t *lock_choice_list(green_lock_t *lock, waitlist_node_t *node)
{
    node->item = (void *)caller_identity();
    return &lock->waiters;
}

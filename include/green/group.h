/*
 * libgreen — task groups: structured concurrency, like a Trio nursery, Go's
 * errgroup or a libdill bundle.
 *
 *     green_group_t *group;
 *     green_timeout_t t;
 *     green_timeout_start(&t, 0.2);            // one overall deadline
 *     green_group_new(&group, 20, GREEN_GROUP_FAIL_FAST);
 *     for (i = 0; i < n; i++)
 *         green_group_spawn(group, NULL, fetch, url[i]);
 *     err = green_group_wait(group, GREEN_FOREVER);
 *     green_group_destroy(group);
 *     green_timeout_cancel(&t);
 *
 * Deadlines flow downward: a child starts inside a timeout scope with the
 * spawner's earliest open deadline (timeout.h), as a Go context carries its
 * deadline, so every child's blocking calls fail with ETIMEDOUT when the
 * spawner's scope would have fired; no one computes the time left.
 *
 * Cancellation flows downward: cancelling a group (also by destroying it,
 * or by the first error with GREEN_GROUP_FAIL_FAST) cancels every group
 * nested in it, then kills its own children.  A group made by a child of
 * group G is nested in G.
 *
 * Groups and pools: a group with a limit bounds its running children like a
 * green_pool of that size: a spawn into a full group parks the spawner (FIFO)
 * until a child ends.  A child that spawns into its own full group would
 * wait for itself: that spawn fails with EDEADLK (no inline run, unlike a
 * pool: the work must stay under the group's cancellation).  A group owns
 * its children; a pool is shared and only counts slots.
 *
 * Functions are green_thread_fn: a child returns, or ends with an error by
 * green_thread_exit(err, NULL).  Every function returns 0 or a positive
 * errno code (EINVAL for NULL or a bad handle).  Blocking calls obey
 * timeout scopes and return ETIMEDOUT, ECANCELED (caller killed) or EPERM
 * like hub.h says.  As in sync.h, a group belongs to the OS thread that
 * made it (EPERM from any other).
 */
#ifndef GREEN_GROUP_H
#define GREEN_GROUP_H

#include <green/export.h>
#include <green/thread.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct green_group green_group_t;

/* Flags of green_group_new(). */
enum {
    /* The first child that ends with an error (ECANCELED included, not
     * counting kills by the group itself) cancels the group, without waiting:
     * the other children are killed at once, and green_group_wait()
     * returns that error. */
    GREEN_GROUP_FAIL_FAST = 1u
};

/* A group running at most `limit` children at once (0: no limit).  flags:
 * 0 or GREEN_GROUP_FAIL_FAST.  Nested in the caller's group, if the caller
 * is a child of one. */
GREEN_EXTERN int green_group_new(green_group_t **out, size_t limit,
                                 unsigned flags);

/* Cancel the group (see green_group_cancel) and free it.  Groups nested in
 * it that are still alive stay valid, no longer nested.  EBUSY while green
 * threads are blocked in green_group_spawn() or green_group_wait() on it;
 * EDEADLK from a child of the group (it would wait for itself). */
GREEN_EXTERN int green_group_destroy(green_group_t *group);

/* Run fn(arg) as a child, parking while the group is at its limit.  The
 * child inherits the caller's earliest open timeout deadline.  *out (may be
 * NULL) receives a handle to release with green_thread_release().
 * ECANCELED once the group was cancelled; EDEADLK from a child of a full
 * group; ENOMEM. */
GREEN_EXTERN int green_group_spawn(green_group_t *group, green_thread_t **out,
                                   green_thread_fn fn, void *arg);

/* Wait until no child runs, at most `timeout` seconds (GREEN_FOREVER: no
 * limit).  Returns the first error a child ended with (a child killed by
 * this group's cancel does not count), or 0; or the caller's own
 * ETIMEDOUT/ECANCELED (children then keep running); EDEADLK from a child. */
GREEN_EXTERN int green_group_wait(green_group_t *group, double timeout);

/* Cancel the groups nested in this one, kill every child (started or not),
 * and wait until they have ended.  Later spawns fail with ECANCELED.  From
 * a child of the group, the others are killed and it returns without
 * waiting for itself.  Idempotent. */
GREEN_EXTERN int green_group_cancel(green_group_t *group);

/* Children running or spawned and not ended (0 for a bad handle). */
GREEN_EXTERN size_t green_group_running(const green_group_t *group);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_GROUP_H */

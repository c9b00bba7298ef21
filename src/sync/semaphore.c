/*
 * Counting semaphore, with bounded and capped variants.
 *
 * A release while acquirers wait hands the permit to the first of them and
 * leaves the count alone, so a green thread that calls acquire in between
 * cannot take it first.  For the capped variant, symmetrically, an acquire
 * while releasers wait completes the first release on its behalf.
 */
#include <green/sync.h>

#include "handle.h"
#include "choice.h"
#include "waitlist.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

typedef enum semaphore_kind {
    SEMAPHORE_PLAIN,
    SEMAPHORE_BOUNDED, /* release above limit: EOVERFLOW */
    SEMAPHORE_CAPPED   /* release at limit: blocks */
} semaphore_kind_t;

struct green_semaphore {
    sync_handle_t handle; /* first */
    unsigned count;
    unsigned limit;
    semaphore_kind_t kind;
    waitlist_t acquirers;
    waitlist_t releasers; /* capped only */
};

static int semaphore_new(green_semaphore_t **out, unsigned value,
                         unsigned limit, semaphore_kind_t kind)
{
    green_semaphore_t *sem;

    if (out == NULL || value > limit)
        return EINVAL;
    sem = calloc(1, sizeof(*sem));
    if (sem == NULL)
        return ENOMEM;
    sync_handle_init(&sem->handle, TAG_SEMAPHORE);
    sem->count = value;
    sem->limit = limit;
    sem->kind = kind;
    waitlist_init(&sem->acquirers);
    waitlist_init(&sem->releasers);
    *out = sem;
    return 0;
}

int green_semaphore_new(green_semaphore_t **out, unsigned value)
{
    return semaphore_new(out, value, UINT_MAX, SEMAPHORE_PLAIN);
}

int green_semaphore_new_bounded(green_semaphore_t **out, unsigned value)
{
    return semaphore_new(out, value, value, SEMAPHORE_BOUNDED);
}

int green_semaphore_new_capped(green_semaphore_t **out, unsigned value,
                               unsigned limit)
{
    return semaphore_new(out, value, limit, SEMAPHORE_CAPPED);
}

int green_semaphore_destroy(green_semaphore_t *sem)
{
    int err = sync_enter(sem, TAG_SEMAPHORE);

    if (err != 0)
        return err;
    if (sem->acquirers.count > 0 || sem->releasers.count > 0)
        return EBUSY;
    sync_handle_clear(&sem->handle);
    free(sem);
    return 0;
}

/* Add one permit: to the first acquirer if any, else to the count. */
static void semaphore_add_permit(green_semaphore_t *sem)
{
    if (waitlist_wake_first(&sem->acquirers, 0, NULL) == NULL)
        sem->count++;
}

int green_semaphore_try_acquire(green_semaphore_t *sem)
{
    int err = sync_enter(sem, TAG_SEMAPHORE);

    if (err != 0)
        return err;
    /* Limit 0: a blocked release hands its permit straight over. */
    if (sem->count == 0)
        return waitlist_wake_first(&sem->releasers, 0, NULL) != NULL ? 0
                                                                     : EAGAIN;
    sem->count--;
    /* Room below the cap: complete the first blocked release. */
    if (waitlist_wake_first(&sem->releasers, 0, NULL) != NULL)
        sem->count++;
    return 0;
}

int green_semaphore_acquire(green_semaphore_t *sem, double timeout)
{
    waitlist_node_t node;
    int err;

    err = green_semaphore_try_acquire(sem);
    if (err != EAGAIN)
        return err;
    waitlist_node_init(&node, NULL);
    err = waitlist_park(&sem->acquirers, &node, timeout, NULL);
    if (err != 0 && node.handed)
        semaphore_add_permit(sem); /* not ours to keep: pass it on */
    return err;
}

int green_semaphore_release(green_semaphore_t *sem)
{
    waitlist_node_t node;
    int err = sync_enter(sem, TAG_SEMAPHORE);

    if (err != 0)
        return err;
    if (waitlist_wake_first(&sem->acquirers, 0, NULL) != NULL)
        return 0;
    if (sem->count < sem->limit) {
        sem->count++;
        return 0;
    }
    if (sem->kind != SEMAPHORE_CAPPED)
        return EOVERFLOW;
    waitlist_node_init(&node, NULL);
    err = waitlist_park(&sem->releasers, &node, GREEN_FOREVER, NULL);
    /* Handed means an acquire already counted this release. */
    return node.handed ? 0 : err;
}

unsigned green_semaphore_value(const green_semaphore_t *sem)
{
    return sync_enter(sem, TAG_SEMAPHORE) == 0 ? sem->count : 0;
}

size_t green_semaphore_waiting(const green_semaphore_t *sem)
{
    return sync_enter(sem, TAG_SEMAPHORE) == 0 ? sem->acquirers.count : 0;
}

waitlist_t *semaphore_choice_list(green_semaphore_t *sem)
{
    return &sem->acquirers;
}

/*
 * Pool: bounds how many green threads run at once.
 *
 * A slot is counted in `running` from the moment a spawner takes it until
 * the member ends (a link on its green thread gives it back, however it
 * ends: returned, failed, killed, or killed before it started).  A freed
 * slot goes straight to the first blocked spawner (hand-off), so a spawner
 * that arrives later cannot take it first.
 */
#include <green/pool.h>

#include "handle.h"
#include "waitlist.h"

#include <errno.h>
#include <stdlib.h>

typedef struct pool_member {
    struct pool_member *prev, *next;
    green_pool_t *pool;
    green_thread_t *thread; /* borrowed: the hub holds it while it lives */
} pool_member_t;

struct green_pool {
    sync_handle_t handle; /* first */
    size_t size;
    size_t running;
    pool_member_t *members; /* doubly linked, newest first */
    waitlist_t spawners;
    waitlist_t waitall;
};

int green_pool_new(green_pool_t **out, size_t size)
{
    green_pool_t *pool;

    if (out == NULL)
        return EINVAL;
    pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return ENOMEM;
    sync_handle_init(&pool->handle, TAG_POOL);
    pool->size = size;
    waitlist_init(&pool->spawners);
    waitlist_init(&pool->waitall);
    *out = pool;
    return 0;
}

/* 1 if the calling green thread is a member of pool. */
static int pool_is_member(const green_pool_t *pool)
{
    green_thread_t *self = green_thread_self();

    if (self == NULL)
        return 0;
    for (const pool_member_t *m = pool->members; m != NULL; m = m->next) {
        if (m->thread == self)
            return 1;
    }
    return 0;
}

int green_pool_destroy(green_pool_t *pool, int kill_members)
{
    int err = sync_enter(pool, TAG_POOL);

    if (err != 0)
        return err;
    if (pool->spawners.count > 0 || pool->waitall.count > 0)
        return EBUSY;
    if (pool->members != NULL) {
        if (!kill_members)
            return EBUSY;
        if (pool_is_member(pool))
            return EDEADLK;
    }
    /* Each kill yields, and the member's link unlinks it meanwhile. */
    while (pool->members != NULL) {
        green_thread_t *thread = green_thread_retain(pool->members->thread);

        err = green_thread_kill(thread);

        green_thread_release(thread);
        if (err != 0)
            return err;
    }
    sync_handle_clear(&pool->handle);
    free(pool);
    return 0;
}

/* Give a slot back: to the first blocked spawner if the pool is not over
 * its size (after a shrink), else to the pool. */
static void pool_free_slot(green_pool_t *pool)
{
    if (pool->running <= pool->size &&
        waitlist_wake_first(&pool->spawners, 0, NULL) != NULL)
        return;
    if (--pool->running == 0)
        waitlist_wake_all(&pool->waitall, 0, NULL);
}

/* Take a slot, waiting for one.  EDEADLK means the pool is full and the
 * caller is one of its members: it must run the work inline. */
static int pool_take_slot(green_pool_t *pool)
{
    waitlist_node_t node;
    int err;

    if (pool->running < pool->size) {
        pool->running++;
        return 0;
    }
    if (pool_is_member(pool))
        return EDEADLK;
    waitlist_node_init(&node, NULL);
    err = waitlist_park(&pool->spawners, &node, GREEN_FOREVER, NULL);
    if (err != 0 && node.handed)
        pool_free_slot(pool); /* the slot was ours, but we are leaving */
    return err;
}

static void pool_member_ended(green_thread_t *thread, void *arg)
{
    pool_member_t *member = arg;
    green_pool_t *pool = member->pool;

    (void)thread;
    if (member->prev != NULL)
        member->prev->next = member->next;
    else
        pool->members = member->next;
    if (member->next != NULL)
        member->next->prev = member->prev;
    free(member);
    pool_free_slot(pool);
}

/* Start fn(arg) as a member in a slot already taken. */
static int pool_start_member(green_pool_t *pool, green_thread_t **out,
                             green_thread_fn fn, void *arg)
{
    pool_member_t *member = calloc(1, sizeof(*member));
    green_thread_t *thread = NULL;
    int err;

    if (member == NULL)
        return ENOMEM;
    err = green_spawn(&thread, fn, arg);
    if (err == 0) {
        err = green_thread_link(thread, pool_member_ended, member);
        if (err != 0) {
            /* It has not started (spawn never runs it inline). */
            green_thread_cancel(thread);
            green_thread_release(thread);
        }
    }
    if (err != 0) {
        free(member);
        return err;
    }
    member->pool = pool;
    member->thread = thread;
    member->next = pool->members;
    if (pool->members != NULL)
        pool->members->prev = member;
    pool->members = member;
    *out = thread;
    return 0;
}

static void *pool_return_value(void *value)
{
    return value;
}

static int pool_spawn(green_pool_t *pool, green_thread_t **out,
                      green_thread_fn fn, void *arg)
{
    green_thread_t *thread;
    void *result;
    int err = sync_enter(pool, TAG_POOL);

    if (err != 0)
        return err;
    if (fn == NULL)
        return EINVAL;
    err = pool_take_slot(pool);
    if (err == EDEADLK) {
        /* A member spawning into its own full pool: waiting would wait for
         * itself, so run the work here, as eventlet does. */
        result = fn(arg);
        if (out == NULL)
            return 0;
        /* The handle of a thread that just hands back the result. */
        return green_spawn(out, pool_return_value, result);
    }
    if (err != 0)
        return err;
    err = pool_start_member(pool, &thread, fn, arg);
    if (err != 0) {
        pool_free_slot(pool);
        return err;
    }
    if (out != NULL)
        *out = thread;
    else
        green_thread_release(thread);
    return 0;
}

int green_pool_spawn(green_pool_t *pool, green_thread_t **out,
                     green_thread_fn fn, void *arg)
{
    if (out == NULL)
        return EINVAL;
    return pool_spawn(pool, out, fn, arg);
}

int green_pool_spawn_n(green_pool_t *pool, green_thread_fn fn, void *arg)
{
    return pool_spawn(pool, NULL, fn, arg);
}

int green_pool_waitall(green_pool_t *pool, double timeout)
{
    waitlist_node_t node;
    int err = sync_enter(pool, TAG_POOL);

    if (err != 0)
        return err;
    if (pool_is_member(pool))
        return EDEADLK;
    if (pool->running == 0)
        return 0;
    waitlist_node_init(&node, NULL);
    return waitlist_park(&pool->waitall, &node, timeout, NULL);
}

int green_pool_resize(green_pool_t *pool, size_t size)
{
    int err = sync_enter(pool, TAG_POOL);

    if (err != 0)
        return err;
    pool->size = size;
    while (pool->running < pool->size &&
           waitlist_wake_first(&pool->spawners, 0, NULL) != NULL)
        pool->running++;
    return 0;
}

size_t green_pool_size(const green_pool_t *pool)
{
    return sync_enter(pool, TAG_POOL) == 0 ? pool->size : 0;
}

size_t green_pool_running(const green_pool_t *pool)
{
    return sync_enter(pool, TAG_POOL) == 0 ? pool->running : 0;
}

size_t green_pool_available(const green_pool_t *pool)
{
    if (sync_enter(pool, TAG_POOL) != 0 || pool->running >= pool->size)
        return 0;
    return pool->size - pool->running;
}

size_t green_pool_waiting(const green_pool_t *pool)
{
    return sync_enter(pool, TAG_POOL) == 0 ? pool->spawners.count : 0;
}

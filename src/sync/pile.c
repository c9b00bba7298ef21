/*
 * Pile: spawns into a pool and hands the results back in spawn order.
 * imap: a pile fed lazily from an input sequence, never more than the
 * pool's size ahead of the consumer, so its memory is bounded.
 */
#include <green/pool.h>
#include <green/timeout.h>

#include "handle.h"
#include "waitlist.h"

#include <errno.h>
#include <stdlib.h>

/* One requested spawn, from the request until its result is taken.  It
 * holds its place in the order while its spawn waits for a pool slot. */
typedef struct pile_entry {
    struct pile_entry *prev, *next;
    green_thread_t *thread; /* NULL while the spawn waits for a slot */
} pile_entry_t;

struct green_pile {
    sync_handle_t handle; /* first */
    green_pool_t *pool;
    int owns_pool;
    pile_entry_t *head, *tail; /* in request order, oldest at head */
    size_t count;              /* entries */
    size_t spawning;           /* entries whose spawn waits for a slot */
    waitlist_t takers;         /* next() waiting for the head's spawn */
};

struct green_pool_imap {
    sync_handle_t handle; /* first */
    green_pile_t *pile;
    size_t limit; /* spawned and not yet taken, at most */
    green_thread_fn fn;
    green_input_fn next_input;
    void *input_context;
    void *held_input; /* pulled from the input but not yet spawned */
    int holding;
    int input_done;
    int input_err; /* reported once, in place of the end */
};

int green_pile_new(green_pile_t **out, green_pool_t *pool, size_t size)
{
    green_pile_t *pile;
    int err;

    if (out == NULL)
        return EINVAL;
    /* Only a handle at the start of the pool is read: it stays opaque. */
    if (pool != NULL && (err = sync_enter(pool, TAG_POOL)) != 0)
        return err;
    pile = calloc(1, sizeof(*pile));
    if (pile == NULL)
        return ENOMEM;
    sync_handle_init(&pile->handle, TAG_PILE);
    pile->pool = pool;
    waitlist_init(&pile->takers);
    if (pool == NULL) {
        err = green_pool_new(&pile->pool, size);
        if (err != 0) {
            free(pile);
            return err;
        }
        pile->owns_pool = 1;
    }
    *out = pile;
    return 0;
}

static void pile_unlink(green_pile_t *pile, pile_entry_t *entry)
{
    if (entry->prev != NULL)
        entry->prev->next = entry->next;
    else
        pile->head = entry->next;
    if (entry->next != NULL)
        entry->next->prev = entry->prev;
    else
        pile->tail = entry->prev;
    pile->count--;
    free(entry);
}

int green_pile_destroy(green_pile_t *pile)
{
    int err = sync_enter(pile, TAG_PILE);

    if (err != 0)
        return err;
    if (pile->spawning > 0 || pile->takers.count > 0)
        return EBUSY;
    while (pile->head != NULL) {
        green_thread_t *thread = pile->head->thread;

        pile_unlink(pile, pile->head);
        green_thread_kill(thread);
        green_thread_release(thread);
    }
    if (pile->owns_pool)
        err = green_pool_destroy(pile->pool, 1);
    sync_handle_clear(&pile->handle);
    free(pile);
    return err;
}

int green_pile_spawn(green_pile_t *pile, green_thread_fn fn, void *arg)
{
    pile_entry_t *entry;
    int err = sync_enter(pile, TAG_PILE);

    if (err != 0)
        return err;
    if (fn == NULL)
        return EINVAL;
    entry = calloc(1, sizeof(*entry));
    if (entry == NULL)
        return ENOMEM;
    /* The place is taken now: the spawn counts from its request. */
    entry->prev = pile->tail;
    if (pile->tail != NULL)
        pile->tail->next = entry;
    else
        pile->head = entry;
    pile->tail = entry;
    pile->count++;
    pile->spawning++;
    err = green_pool_spawn(pile->pool, &entry->thread, fn, arg);
    pile->spawning--;
    if (err != 0)
        pile_unlink(pile, entry);
    waitlist_wake_all(&pile->takers, 0, NULL);
    return err;
}

/* Take the head's result once its member is dead.  Another taker may take
 * it meanwhile: the member is retained, and the head looked at again. */
static int pile_take(green_pile_t *pile, void **result, int *job_err)
{
    waitlist_node_t node;
    green_thread_t *thread;
    void *value = NULL;
    int err;

    for (;;) {
        if (pile->head == NULL)
            return ENODATA;
        if (pile->head->thread == NULL) {
            waitlist_node_init(&node, NULL);
            err = waitlist_park(&pile->takers, &node, GREEN_FOREVER, NULL);
            if (err != 0)
                return err;
            continue;
        }
        thread = green_thread_retain(pile->head->thread);
        err = green_thread_wait(thread, &value);
        if (pile->head != NULL && pile->head->thread == thread)
            break;
        green_thread_release(thread);
    }
    /* green_thread_wait mixes the member's error with the caller's own:
     * only a dead member's result is the member's. */
    if (!green_thread_dead(thread)) {
        green_thread_release(thread);
        return err != 0 ? err : EAGAIN;
    }
    *job_err = green_thread_result(thread, &value);
    if (err != 0 && err != *job_err) {
        green_thread_release(thread);
        return err;
    }
    *result = value;
    pile_unlink(pile, pile->head);
    green_thread_release(thread); /* the pile's */
    green_thread_release(thread); /* ours */
    return 0;
}

int green_pile_next(green_pile_t *pile, void **result, int *job_err,
                    double timeout)
{
    green_timeout_t scope;
    int err = sync_enter(pile, TAG_PILE);

    if (err != 0)
        return err;
    if (result == NULL || job_err == NULL)
        return EINVAL;
    if (pile->head == NULL)
        return ENODATA;
    if (timeout >= 0) {
        err = green_timeout_start(&scope, timeout);
        if (err != 0)
            return err;
    }
    err = pile_take(pile, result, job_err);
    if (timeout >= 0)
        green_timeout_cancel(&scope);
    return err;
}

size_t green_pile_pending(const green_pile_t *pile)
{
    return sync_enter(pile, TAG_PILE) == 0 ? pile->count : 0;
}

/* ---- imap --------------------------------------------------------------- */

int green_pool_imap(green_pool_imap_t **out, green_pool_t *pool,
                    green_thread_fn fn, green_input_fn next_input,
                    void *input_context)
{
    green_pool_imap_t *map;
    int err;

    if (out == NULL || pool == NULL || fn == NULL || next_input == NULL)
        return EINVAL;
    map = calloc(1, sizeof(*map));
    if (map == NULL)
        return ENOMEM;
    err = green_pile_new(&map->pile, pool, 0);
    if (err != 0) {
        free(map);
        return err;
    }
    sync_handle_init(&map->handle, TAG_IMAP);
    map->limit = green_pool_size(pool) > 0 ? green_pool_size(pool) : 1;
    map->fn = fn;
    map->next_input = next_input;
    map->input_context = input_context;
    *out = map;
    return 0;
}

/* Spawn inputs until `limit` results are outstanding or the input ends. */
static int imap_fill(green_pool_imap_t *map)
{
    int err;

    while (green_pile_pending(map->pile) < map->limit) {
        if (!map->holding) {
            if (map->input_done)
                return 0;
            err = map->next_input(map->input_context, &map->held_input);
            if (err != 0) {
                map->input_done = 1;
                map->input_err = err == ENODATA ? 0 : err;
                return 0;
            }
            map->holding = 1;
        }
        /* On failure the input stays held and is spawned next time. */
        err = green_pile_spawn(map->pile, map->fn, map->held_input);
        if (err != 0)
            return err;
        map->holding = 0;
    }
    return 0;
}

int green_pool_imap_next(green_pool_imap_t *map, void **result, int *job_err,
                         double timeout)
{
    int err = sync_enter(map, TAG_IMAP);

    if (err != 0)
        return err;
    if (result == NULL || job_err == NULL)
        return EINVAL;
    err = imap_fill(map);
    if (err != 0)
        return err;
    if (green_pile_pending(map->pile) == 0) {
        err = map->input_err != 0 ? map->input_err : ENODATA;
        map->input_err = 0;
        return err;
    }
    return green_pile_next(map->pile, result, job_err, timeout);
}

int green_pool_imap_destroy(green_pool_imap_t *map)
{
    int err = sync_enter(map, TAG_IMAP);

    if (err != 0)
        return err;
    err = green_pile_destroy(map->pile);
    sync_handle_clear(&map->handle);
    free(map);
    return err;
}

/*
 * Pile: spawns into a pool and hands the results back in spawn order.
 * imap: a pile fed lazily from an input sequence, never more than the
 * pool's size ahead of the consumer, so its memory is bounded.
 */
#include <green/pool.h>
#include <green/timeout.h>

#include <errno.h>
#include <stdlib.h>

struct green_pile {
    green_pool_t *pool;
    int owns_pool;
    green_thread_t **ring; /* handles not yet taken, oldest at head */
    size_t head, count, capacity;
};

struct green_pool_imap {
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
    pile = calloc(1, sizeof(*pile));
    if (pile == NULL)
        return ENOMEM;
    pile->pool = pool;
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

static green_thread_t *pile_pop(green_pile_t *pile)
{
    green_thread_t *thread = pile->ring[pile->head];

    pile->head = (pile->head + 1) % pile->capacity;
    pile->count--;
    return thread;
}

int green_pile_destroy(green_pile_t *pile)
{
    int err = 0;

    if (pile == NULL)
        return EINVAL;
    while (pile->count > 0) {
        green_thread_t *thread = pile_pop(pile);

        green_thread_kill(thread);
        green_thread_release(thread);
    }
    if (pile->owns_pool)
        err = green_pool_destroy(pile->pool, 1);
    free(pile->ring);
    free(pile);
    return err;
}

static int pile_reserve(green_pile_t *pile)
{
    size_t capacity;
    green_thread_t **ring;

    if (pile->count < pile->capacity)
        return 0;
    capacity = pile->capacity > 0 ? pile->capacity * 2 : 8;
    ring = malloc(capacity * sizeof(*ring));
    if (ring == NULL)
        return ENOMEM;
    for (size_t i = 0; i < pile->count; i++)
        ring[i] = pile->ring[(pile->head + i) % pile->capacity];
    free(pile->ring);
    pile->ring = ring;
    pile->head = 0;
    pile->capacity = capacity;
    return 0;
}

int green_pile_spawn(green_pile_t *pile, green_thread_fn fn, void *arg)
{
    green_thread_t *thread;
    int err;

    if (pile == NULL || fn == NULL)
        return EINVAL;
    /* Room first, so that a spawned member is never left without a place. */
    err = pile_reserve(pile);
    if (err != 0)
        return err;
    err = green_pool_spawn(pile->pool, &thread, fn, arg);
    if (err != 0)
        return err;
    pile->ring[(pile->head + pile->count) % pile->capacity] = thread;
    pile->count++;
    return 0;
}

int green_pile_next(green_pile_t *pile, void **result, int *job_err,
                    double timeout)
{
    green_timeout_t scope;
    green_thread_t *thread;
    void *value = NULL;
    int err;

    if (pile == NULL || result == NULL || job_err == NULL)
        return EINVAL;
    if (pile->count == 0)
        return ENODATA;
    thread = pile->ring[pile->head];
    if (timeout >= 0) {
        err = green_timeout_start(&scope, timeout);
        if (err != 0)
            return err;
    }
    err = green_thread_wait(thread, &value);
    if (timeout >= 0)
        green_timeout_cancel(&scope);
    /* green_thread_wait mixes the member's error with the caller's own:
     * only a dead member's result is the member's. */
    if (!green_thread_dead(thread))
        return err != 0 ? err : EAGAIN;
    *job_err = green_thread_result(thread, &value);
    if (err != 0 && err != *job_err)
        return err;
    *result = value;
    green_thread_release(pile_pop(pile));
    return 0;
}

size_t green_pile_pending(const green_pile_t *pile)
{
    return pile != NULL ? pile->count : 0;
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
    int err;

    if (map == NULL || result == NULL || job_err == NULL)
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
    int err;

    if (map == NULL)
        return EINVAL;
    err = green_pile_destroy(map->pile);
    free(map);
    return err;
}

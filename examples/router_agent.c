/*
 * The neutron l3-agent loop with libgreen.
 *
 * A producer feeds router updates into a priority queue (lowest priority
 * number first).  _process_routers_loop keeps a pool of 8 workers busy:
 *
 *     pool = green_pool_new(8);
 *     for (;;) green_pool_spawn_n(pool, process_router_update, agent);
 *
 * green_pool_spawn_n blocks while 8 workers run, so the loop never spins;
 * each worker takes the next update and does simulated I/O (green_sleep).
 * After the last update the producer queues a stop marker of the lowest
 * priority; a worker that takes it puts it back for the others and tells
 * the loop to stop.
 *
 * Prints how many updates were processed, the peak concurrency and the
 * wall time against the serial time, and exits non-zero if the peak is not
 * exactly 8 or nothing was gained.
 */
#include <green/pool.h>
#include <green/sync.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#define POOL_SIZE 8
#define UPDATES 96
#define BATCH 16

struct router_update {
    int priority; /* lower is more urgent */
    int router_id;
    double io_seconds; /* simulated RPC and namespace work */
};

struct agent {
    green_queue_t *updates;
    int stopping;
    int processed;
    int active, peak;
    double serial_seconds;
};

static struct router_update stop_marker = {.priority = INT_MAX};

static int by_priority(const void *a, const void *b)
{
    const struct router_update *x = a, *y = b;

    return (x->priority > y->priority) - (x->priority < y->priority);
}

static void *produce_updates(void *arg)
{
    struct agent *agent = arg;
    unsigned seed = 12345;

    for (int i = 0; i < UPDATES; i++) {
        struct router_update *update = malloc(sizeof(*update));

        if (update == NULL)
            break;
        seed = seed * 1103515245u + 12345u;
        update->priority = (int)((seed >> 16) % 3); /* 0 = user action */
        update->router_id = i;
        /* 25-70 ms: a late wake-up on a loaded machine (valgrind, qemu)
         * is small beside it, so the speed-up holds there too. */
        update->io_seconds = 0.025 + 0.005 * (double)((seed >> 8) % 10);
        agent->serial_seconds += update->io_seconds;
        if (green_queue_put(agent->updates, update, GREEN_FOREVER) != 0) {
            free(update);
            break;
        }
        if (i % BATCH == BATCH - 1)
            green_sleep(0.002); /* updates arrive in bursts */
    }
    green_queue_put(agent->updates, &stop_marker, GREEN_FOREVER);
    return NULL;
}

static void *process_router_update(void *arg)
{
    struct agent *agent = arg;
    struct router_update *update;

    if (green_queue_get(agent->updates, (void **)&update, GREEN_FOREVER) != 0)
        return NULL;
    if (update == &stop_marker) {
        agent->stopping = 1;
        /* Leave the marker for the other idle workers. */
        green_queue_try_put(agent->updates, update);
        return NULL;
    }
    if (++agent->active > agent->peak)
        agent->peak = agent->active;
    green_sleep(update->io_seconds);
    agent->active--;
    agent->processed++;
    free(update);
    return NULL;
}

static int process_routers_loop(struct agent *agent)
{
    green_pool_t *pool;
    int err = green_pool_new(&pool, POOL_SIZE);

    if (err != 0)
        return err;
    while (!agent->stopping) {
        err = green_pool_spawn_n(pool, process_router_update, agent);
        if (err != 0)
            break;
    }
    green_pool_waitall(pool, GREEN_FOREVER);
    green_pool_destroy(pool, 0);
    return err;
}

int main(void)
{
    struct agent agent = {0};
    green_thread_t *producer;
    double start, wall;
    int err;

    err = green_queue_new(&agent.updates, GREEN_QUEUE_UNBOUNDED,
                          GREEN_QUEUE_PRIORITY, by_priority);
    if (err == 0)
        err = green_spawn(&producer, produce_updates, &agent);
    if (err != 0) {
        fprintf(stderr, "router_agent: setup failed: %d\n", err);
        return 1;
    }
    start = green_now();
    err = process_routers_loop(&agent);
    wall = green_now() - start;
    green_thread_wait(producer, NULL);
    green_thread_release(producer);
    /* Only the stop marker can be left; it is not ours to free. */
    green_queue_destroy(agent.updates, NULL);

    printf("router_agent: processed %d/%d updates, peak concurrency %d "
           "(pool of %d)\n",
           agent.processed, UPDATES, agent.peak, POOL_SIZE);
    printf("router_agent: wall %.3f s, serial %.3f s, speed-up %.1fx\n", wall,
           agent.serial_seconds, agent.serial_seconds / wall);
    if (err != 0 || agent.processed != UPDATES || agent.peak != POOL_SIZE ||
        wall >= agent.serial_seconds / 2) {
        fprintf(stderr, "router_agent: FAILED (err %d)\n", err);
        return 1;
    }
    return 0;
}

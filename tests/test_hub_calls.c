/* GREEN_TEST_BACKENDS */
/*
 * Cross-thread calls against hubs that go away: every call accepted with 0
 * runs exactly once, and a call addressed to a destroyed hub fails with
 * EPIPE, never running on a later hub that got the same address.
 */
#include "test_hub_util.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

/* ---- Exactly once: calls to a hub thread that exits after a few ms --- */

#define POSTERS 2

struct target {
    pthread_mutex_t lock;
    pthread_cond_t published;
    green_hub_t *hub;
    double lifetime; /* seconds the hub thread runs its hub */
    atomic_long ran;
    atomic_int wrong_thread;
    int retain_err;
    pthread_t thread;
};

struct poster {
    struct target *target;
    long accepted;
    int other_errors;
};

static void count_run(void *arg)
{
    struct target *t = arg;

    if (!pthread_equal(pthread_self(), t->thread))
        atomic_store(&t->wrong_thread, 1);
    atomic_fetch_add_explicit(&t->ran, 1, memory_order_relaxed);
}

/* Publishes its hub, runs it for t->lifetime, then exits: the hub is
 * destroyed with calls still coming in. */
static void *short_lived_hub(void *arg)
{
    struct target *t = arg;
    green_hub_t *hub = green_hub_current();

    t->retain_err = green_hub_retain(hub); /* for the posters */
    pthread_mutex_lock(&t->lock);
    t->hub = hub;
    pthread_cond_broadcast(&t->published);
    pthread_mutex_unlock(&t->lock);
    green_sleep(t->lifetime);
    return NULL;
}

static void *post_until_refused(void *arg)
{
    struct poster *p = arg;
    struct target *t = p->target;
    green_hub_t *hub;
    int err;

    pthread_mutex_lock(&t->lock);
    while (t->hub == NULL)
        pthread_cond_wait(&t->published, &t->lock);
    hub = t->hub;
    pthread_mutex_unlock(&t->lock);
    while ((err = green_hub_call_threadsafe(hub, count_run, t)) != EPIPE) {
        if (err == 0)
            p->accepted++;
        else
            p->other_errors++;
    }
    return NULL;
}

/* One round: a hub thread living `lifetime` seconds and POSTERS threads
 * posting to it until refused.  Returns the calls accepted. */
static long post_round(double lifetime)
{
    struct target t = {.lifetime = lifetime};
    struct poster posters[POSTERS];
    pthread_t threads[POSTERS];
    long accepted = 0;

    pthread_mutex_init(&t.lock, NULL);
    pthread_cond_init(&t.published, NULL);
    assert_int_equal(pthread_create(&t.thread, NULL, short_lived_hub, &t), 0);
    for (int i = 0; i < POSTERS; i++) {
        posters[i] = (struct poster){.target = &t};
        assert_int_equal(
            pthread_create(&threads[i], NULL, post_until_refused, &posters[i]),
            0);
    }
    for (int i = 0; i < POSTERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(posters[i].other_errors, 0);
        accepted += posters[i].accepted;
    }
    assert_int_equal(pthread_join(t.thread, NULL), 0);
    assert_int_equal(t.retain_err, 0);
    /* The thread is gone: every accepted call ran, once, on it. */
    assert_int_equal(atomic_load(&t.ran), accepted);
    assert_false(atomic_load(&t.wrong_thread));
    assert_int_equal(green_hub_release(t.hub), 0);
    pthread_cond_destroy(&t.published);
    pthread_mutex_destroy(&t.lock);
    return accepted;
}

static void test_calls_to_exiting_hub_run_exactly_once(void **state)
{
    long total = 0, target = (long)test_scaled(2000000);
    int rounds = 0;
    double start = green_now();

    (void)state;
    /* Rounds of 3 ms hubs until millions of calls were accepted (or the
     * time is up on a slow machine: every round checks the same thing). */
    while (total < target && green_now() - start < 60.0) {
        total += post_round(0.003);
        rounds++;
    }
    print_message("%ld calls accepted in %d rounds, %.1f s\n", total, rounds,
                  green_now() - start);
    assert_true(total > 0);
}

/* ---- Identity: a destroyed hub's address reused by a new hub ---------
 * Before hubs were retained, a plain build gave the next hub the old
 * address at once (with one malloc arena, see main) and it ran the call. */

struct identity {
    green_hub_t *old_hub;
    green_hub_t *new_hub;
    pthread_t new_thread;
    atomic_int ran_on_new;
    int call_err;
};

static void *make_hub_and_exit(void *arg)
{
    struct identity *id = arg;

    id->old_hub = green_hub_current();
    green_hub_retain(id->old_hub);
    return NULL; /* the hub is destroyed at thread exit */
}

static void ran_somewhere(void *arg)
{
    struct identity *id = arg;

    if (pthread_equal(pthread_self(), id->new_thread))
        atomic_store(&id->ran_on_new, 1);
}

/* A new hub thread: posts to the old hub, then runs its own hub a while,
 * so that a call that went to it would run. */
static void *new_hub_posts_to_old(void *arg)
{
    struct identity *id = arg;

    id->new_hub = green_hub_current();
    id->call_err = green_hub_call_threadsafe(id->old_hub, ran_somewhere, id);
    green_sleep(0.01);
    return NULL;
}

static void test_call_to_destroyed_hub_never_reaches_its_successor(void **state)
{
    struct identity id = {.call_err = -1};
    pthread_t thread;

    (void)state;
    assert_int_equal(pthread_create(&thread, NULL, make_hub_and_exit, &id), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    /* New hubs, each in a new thread: a plain build would give one of them
     * the old address at once, were it not retained. */
    for (int i = 0; i < 100; i++) {
        id.call_err = -1;
        assert_int_equal(
            pthread_create(&id.new_thread, NULL, new_hub_posts_to_old, &id), 0);
        assert_int_equal(pthread_join(id.new_thread, NULL), 0);
        assert_int_equal(id.call_err, EPIPE);
        assert_false(atomic_load(&id.ran_on_new));
        assert_ptr_not_equal(id.new_hub, id.old_hub);
    }
    assert_int_equal(green_hub_release(id.old_hub), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        hub_test(test_calls_to_exiting_hub_run_exactly_once),
        hub_test(test_call_to_destroyed_hub_never_reaches_its_successor),
    };

    test_filter_from_env();
    /* One malloc arena for every thread, so that a hub freed in one thread
     * can be reused by the next (glibc gives threads arenas of their own). */
    mallopt(M_ARENA_MAX, 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

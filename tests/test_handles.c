/*
 * Handles: a handle destroyed twice, freed, garbage or of another type is
 * refused with EINVAL and a message (or, in builds that recycle nothing,
 * caught by the sanitizer); sync objects refuse other OS threads (EPERM).
 * GREEN_TEST_BACKENDS
 */
#include "test_util.h"

#include <green/green.h>

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(GREEN_HAVE_VALGRIND_H)
#include <valgrind/memcheck.h>
#define TEST_ON_VALGRIND() RUNNING_ON_VALGRIND
#else
#define TEST_ON_VALGRIND() 0
#endif

/* ---- Handles used after their end ------------------------------------ */

/* A handle made and ended (destroyed, released, fired), then used again
 * with the function that must refuse it. */
struct misuse {
    const char *fn;
    void *(*end)(void); /* the ended handle, NULL if a step failed */
    int (*use)(void *handle);
};

/* Where memory is recycled (plain builds), or freed but not watched, a
 * use after the end must answer EINVAL with "libgreen: fn(" on stderr.
 * Builds that recycle nothing free the memory for real, so that the
 * sanitizer sees the use after free: ASan must report it; under valgrind
 * the freed block must be unaddressable (asked quietly, so the log stays
 * clean).  The use runs in a child, with its stderr captured, so that the
 * test itself stays clean. */
static void expect_refused(const struct misuse *m)
{
    char out[16384], expected[128];
    size_t length = 0;
    int pipe_fds[2], status, refused;
    ssize_t got;
    pid_t pid;

#if defined(GREEN_NO_RECYCLE) && defined(GREEN_HAVE_VALGRIND_H)
    if (TEST_ON_VALGRIND()) {
        unsigned char vbits[4];
        void *handle = m->end();

        assert_non_null(handle);
        assert_int_equal(VALGRIND_GET_VBITS(handle, vbits, sizeof(vbits)), 3);
        return;
    }
#endif
    assert_int_equal(pipe(pipe_fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        void *handle;

        dup2(pipe_fds[1], STDERR_FILENO);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        handle = m->end();
        _exit(handle != NULL && m->use(handle) == EINVAL ? 0 : 3);
    }
    close(pipe_fds[1]);
    while (length < sizeof(out) - 1 &&
           (got = read(pipe_fds[0], out + length, sizeof(out) - 1 - length)) >
               0)
        length += (size_t)got;
    out[length] = '\0';
    close(pipe_fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
#if defined(GREEN_NO_RECYCLE) && (defined(GREEN_ASAN) || defined(GREEN_TSAN))
    refused = strstr(out, "heap-use-after-free") != NULL;
    (void)expected;
#else
    snprintf(expected, sizeof(expected), "libgreen: %s(", m->fn);
    refused = WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
              strstr(out, expected) != NULL;
#endif
    if (!refused)
        fprintf(stderr, "%s: status %d, the child said: %s\n", m->fn, status,
                out);
    assert_true(refused);
}

static void *event_ended(void)
{
    green_event_t *event;

    if (green_event_new(&event) != 0 || green_event_destroy(event) != 0)
        return NULL;
    return event;
}

static int event_destroy(void *handle)
{
    return green_event_destroy(handle);
}

static void *semaphore_ended(void)
{
    green_semaphore_t *sem;

    if (green_semaphore_new(&sem, 1) != 0 || green_semaphore_destroy(sem) != 0)
        return NULL;
    return sem;
}

static int semaphore_destroy(void *handle)
{
    return green_semaphore_destroy(handle);
}

static void *lock_ended(void)
{
    green_lock_t *lock;

    if (green_lock_new(&lock) != 0 || green_lock_destroy(lock) != 0)
        return NULL;
    return lock;
}

static int lock_destroy(void *handle)
{
    return green_lock_destroy(handle);
}

static void *cond_ended(void)
{
    green_cond_t *cond;

    if (green_cond_new(&cond) != 0 || green_cond_destroy(cond) != 0)
        return NULL;
    return cond;
}

static int cond_destroy(void *handle)
{
    return green_cond_destroy(handle);
}

static void *queue_ended(void)
{
    green_queue_t *queue;

    if (green_queue_new(&queue, 4, GREEN_QUEUE_FIFO, NULL) != 0 ||
        green_queue_destroy(queue, NULL) != 0)
        return NULL;
    return queue;
}

static int queue_destroy(void *handle)
{
    return green_queue_destroy(handle, NULL);
}

static void *pool_ended(void)
{
    green_pool_t *pool;

    if (green_pool_new(&pool, 2) != 0 || green_pool_destroy(pool, 0) != 0)
        return NULL;
    return pool;
}

static int pool_destroy(void *handle)
{
    return green_pool_destroy(handle, 0);
}

static void *pile_ended(void)
{
    green_pile_t *pile;

    if (green_pile_new(&pile, NULL, 2) != 0 || green_pile_destroy(pile) != 0)
        return NULL;
    return pile;
}

static int pile_destroy(void *handle)
{
    return green_pile_destroy(handle);
}

static int no_input(void *context, void **arg)
{
    (void)context;
    (void)arg;
    return ENODATA;
}

static void *identity(void *arg)
{
    return arg;
}

static void *imap_ended(void)
{
    green_pool_imap_t *map;
    green_pool_t *pool;

    if (green_pool_new(&pool, 2) != 0 ||
        green_pool_imap(&map, pool, identity, no_input, NULL) != 0 ||
        green_pool_imap_destroy(map) != 0 || green_pool_destroy(pool, 0) != 0)
        return NULL;
    return map;
}

static int imap_destroy(void *handle)
{
    return green_pool_imap_destroy(handle);
}

static void *xqueue_ended(void)
{
    green_xqueue_t *queue;

    if (green_xqueue_new(&queue, 4) != 0 || green_xqueue_destroy(queue, NULL) != 0)
        return NULL;
    return queue;
}

static int xqueue_destroy(void *handle)
{
    return green_xqueue_destroy(handle, NULL);
}

static void *greenlet_ended(void)
{
    greenlet_t *g;

    if (greenlet_new(&g, identity, NULL, NULL) != 0 || greenlet_destroy(g) != 0)
        return NULL;
    return g;
}

static int greenlet_destroy_again(void *handle)
{
    return greenlet_destroy(handle);
}

static void *thread_ended(void)
{
    green_thread_t *t;

    if (green_spawn(&t, identity, NULL) != 0 || green_thread_wait(t, NULL) != 0)
        return NULL;
    green_thread_release(t);
    return t;
}

/* green_thread_release() returns nothing: the refused second release
 * shows in the message, and the handle stays refused afterwards. */
static int thread_release(void *handle)
{
    green_thread_release(handle);
    return green_thread_result(handle, NULL);
}

static void count_call(void *arg)
{
    (*(int *)arg)++;
}

/* A timer frees itself when it fires. */
static void *timer_fired(void)
{
    green_timer_t *timer;
    int calls = 0;

    if (green_timer_start(&timer, 0, count_call, &calls) != 0 ||
        green_sleep(0.001) != 0 || calls != 1)
        return NULL;
    return timer;
}

static void *timer_cancelled(void)
{
    green_timer_t *timer;
    int calls = 0;

    if (green_timer_start(&timer, 10, count_call, &calls) != 0 ||
        green_timer_cancel(timer) != 0)
        return NULL;
    return timer;
}

static int timer_cancel(void *handle)
{
    return green_timer_cancel(handle);
}

static void test_used_after_the_end(void **state)
{
    static const struct misuse cases[] = {
        {"green_event_destroy", event_ended, event_destroy},
        {"green_semaphore_destroy", semaphore_ended, semaphore_destroy},
        {"green_lock_destroy", lock_ended, lock_destroy},
        {"green_cond_destroy", cond_ended, cond_destroy},
        {"green_queue_destroy", queue_ended, queue_destroy},
        {"green_pool_destroy", pool_ended, pool_destroy},
        {"green_pile_destroy", pile_ended, pile_destroy},
        {"green_pool_imap_destroy", imap_ended, imap_destroy},
        {"green_xqueue_destroy", xqueue_ended, xqueue_destroy},
        {"greenlet_destroy", greenlet_ended, greenlet_destroy_again},
        {"green_thread_release", thread_ended, thread_release},
        {"green_timer_cancel", timer_fired, timer_cancel},
        {"green_timer_cancel", timer_cancelled, timer_cancel},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_refused(&cases[i]);
}

/* ---- Garbage and handles of another type ----------------------------- */

/* Zeroed memory, big enough for any handle: what a handle that was never
 * made (or was cleared) looks like.  Nothing is freed here, so every build
 * answers EINVAL. */
static alignas(64) unsigned char garbage[4096];

static void test_garbage_handles(void **state)
{
    (void)state;
    assert_int_equal(green_event_destroy((green_event_t *)garbage), EINVAL);
    assert_int_equal(green_event_send((green_event_t *)garbage, NULL), EINVAL);
    assert_int_equal(green_semaphore_release((green_semaphore_t *)garbage),
                     EINVAL);
    assert_int_equal(green_lock_try_acquire((green_lock_t *)garbage), EINVAL);
    assert_int_equal(green_cond_notify((green_cond_t *)garbage), EINVAL);
    assert_int_equal(green_queue_try_put((green_queue_t *)garbage, NULL),
                     EINVAL);
    assert_int_equal(green_pool_resize((green_pool_t *)garbage, 1), EINVAL);
    assert_int_equal(green_pile_destroy((green_pile_t *)garbage), EINVAL);
    assert_int_equal(green_pool_imap_destroy((green_pool_imap_t *)garbage),
                     EINVAL);
    assert_int_equal(green_xqueue_put((green_xqueue_t *)garbage, NULL, 0),
                     EINVAL);
    assert_int_equal(greenlet_destroy((greenlet_t *)garbage), EINVAL);
    assert_int_equal(green_thread_wait((green_thread_t *)garbage, NULL),
                     EINVAL);
    assert_int_equal(green_timer_cancel((green_timer_t *)garbage), EINVAL);
    for (size_t i = 0; i < sizeof(garbage); i++)
        assert_int_equal(garbage[i], 0); /* and nothing was written */
}

static void test_handle_of_another_type(void **state)
{
    green_event_t *event;
    green_queue_t *queue;
    green_lock_t *lock;
    green_thread_t *t;
    void *item = NULL;

    (void)state;
    assert_int_equal(green_event_new(&event), 0);
    assert_int_equal(green_queue_new(&queue, 1, GREEN_QUEUE_FIFO, NULL), 0);
    assert_int_equal(green_lock_new(&lock), 0);
    assert_int_equal(green_spawn(&t, identity, NULL), 0);
    assert_int_equal(green_event_destroy((green_event_t *)queue), EINVAL);
    assert_int_equal(green_queue_destroy((green_queue_t *)event, NULL), EINVAL);
    assert_int_equal(green_lock_release((green_lock_t *)event), EINVAL);
    assert_int_equal(green_pool_destroy((green_pool_t *)lock, 0), EINVAL);
    assert_int_equal(green_thread_cancel((green_thread_t *)event), EINVAL);
    assert_int_equal(green_event_send((green_event_t *)t, NULL), EINVAL);
    /* All of them still work. */
    assert_int_equal(green_queue_try_put(queue, &item), 0);
    assert_int_equal(green_queue_try_get(queue, &item), 0);
    assert_int_equal(green_event_send(event, NULL), 0);
    assert_int_equal(green_lock_try_acquire(lock), 0);
    assert_int_equal(green_lock_release(lock), 0);
    assert_int_equal(green_thread_wait(t, NULL), 0);
    green_thread_release(t);
    assert_int_equal(green_event_destroy(event), 0);
    assert_int_equal(green_queue_destroy(queue, NULL), 0);
    assert_int_equal(green_lock_destroy(lock), 0);
}

/* ---- Objects of another OS thread ------------------------------------ */

struct objects {
    green_event_t *event;
    green_semaphore_t *sem;
    green_lock_t *lock;
    green_cond_t *cond;
    green_queue_t *queue;
    green_pool_t *pool;
    green_pile_t *pile;
    green_pool_imap_t *map;
    int err[32];
    size_t sizes;
    int count;
};

static void record(struct objects *o, int err)
{
    o->err[o->count++] = err;
}

static void *use_from_other_thread(void *arg)
{
    struct objects *o = arg;
    void *item = NULL;
    int job_err;

    record(o, green_event_send(o->event, NULL));
    record(o, green_event_wait(o->event, NULL, 0));
    record(o, green_event_reset(o->event));
    record(o, green_event_destroy(o->event));
    record(o, green_semaphore_release(o->sem));
    record(o, green_semaphore_try_acquire(o->sem));
    record(o, green_semaphore_acquire(o->sem, 0));
    record(o, green_semaphore_destroy(o->sem));
    record(o, green_lock_try_acquire(o->lock));
    record(o, green_lock_acquire(o->lock, 0));
    record(o, green_lock_destroy(o->lock));
    record(o, green_cond_notify_all(o->cond));
    record(o, green_cond_wait(o->cond, o->lock, 0));
    record(o, green_cond_destroy(o->cond));
    record(o, green_queue_put(o->queue, &item, 0));
    record(o, green_queue_try_put(o->queue, &item));
    record(o, green_queue_try_get(o->queue, &item));
    record(o, green_queue_task_done(o->queue));
    record(o, green_queue_resize(o->queue, 9));
    record(o, green_queue_destroy(o->queue, NULL));
    record(o, green_pool_spawn_n(o->pool, identity, NULL));
    record(o, green_pool_waitall(o->pool, 0));
    record(o, green_pool_resize(o->pool, 9));
    record(o, green_pool_destroy(o->pool, 1));
    record(o, green_pile_spawn(o->pile, identity, NULL));
    record(o, green_pile_next(o->pile, &item, &job_err, 0));
    record(o, green_pile_destroy(o->pile));
    record(o, green_pool_imap_next(o->map, &item, &job_err, 0));
    record(o, green_pool_imap_destroy(o->map));
    /* Counts read from elsewhere say nothing. */
    o->sizes = green_queue_size(o->queue) + green_queue_unfinished(o->queue) +
               green_pool_size(o->pool) + green_semaphore_value(o->sem) +
               green_pile_pending(o->pile) +
               (size_t)green_event_ready(o->event);
    green_hub_destroy();
    return NULL;
}

static int counter_input(void *context, void **arg)
{
    int *left = context;

    if (*left == 0)
        return ENODATA;
    *arg = TEST_INT_VALUE((*left)--);
    return 0;
}

static void test_other_os_thread_refused(void **state)
{
    struct objects o = {0};
    int inputs = 3, job_err;
    void *item = &o;
    pthread_t thread;

    (void)state;
    assert_int_equal(green_event_new(&o.event), 0);
    assert_int_equal(green_semaphore_new(&o.sem, 1), 0);
    assert_int_equal(green_lock_new(&o.lock), 0);
    assert_int_equal(green_cond_new(&o.cond), 0);
    assert_int_equal(green_queue_new(&o.queue, 4, GREEN_QUEUE_FIFO, NULL), 0);
    assert_int_equal(green_pool_new(&o.pool, 2), 0);
    assert_int_equal(green_pile_new(&o.pile, NULL, 2), 0);
    assert_int_equal(
        green_pool_imap(&o.map, o.pool, identity, counter_input, &inputs), 0);
    assert_int_equal(green_queue_try_put(o.queue, item), 0);
    assert_int_equal(pthread_create(&thread, NULL, use_from_other_thread, &o),
                     0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(o.count, 29);
    for (int i = 0; i < o.count; i++) {
        if (o.err[i] != EPERM)
            fprintf(stderr, "call %d returned %d\n", i, o.err[i]);
        assert_int_equal(o.err[i], EPERM);
    }
    assert_int_equal(o.sizes, 0);
    /* Nothing changed, and everything works here. */
    assert_false(green_event_ready(o.event));
    assert_int_equal(green_semaphore_value(o.sem), 1);
    assert_int_equal(green_queue_size(o.queue), 1);
    assert_int_equal(green_queue_maxsize(o.queue), 4);
    assert_int_equal(green_pool_size(o.pool), 2);
    assert_int_equal(green_pile_pending(o.pile), 0);
    assert_int_equal(green_pool_imap_next(o.map, &item, &job_err, 1.0), 0);
    assert_int_equal(green_pool_imap_destroy(o.map), 0);
    assert_int_equal(green_pile_destroy(o.pile), 0);
    assert_int_equal(green_pool_destroy(o.pool, 0), 0);
    assert_int_equal(green_queue_try_get(o.queue, &item), 0);
    assert_int_equal(green_queue_destroy(o.queue, NULL), 0);
    assert_int_equal(green_cond_destroy(o.cond), 0);
    assert_int_equal(green_lock_destroy(o.lock), 0);
    assert_int_equal(green_semaphore_destroy(o.sem), 0);
    assert_int_equal(green_event_destroy(o.event), 0);
}

/* The case that hung: a put from another hub into a queue whose getter is
 * parked here woke nobody. */
struct getter {
    green_queue_t *queue;
    void *item;
    int err;
};

static void *get_one(void *arg)
{
    struct getter *g = arg;

    g->err = green_queue_get(g->queue, &g->item, GREEN_FOREVER);
    return NULL;
}

struct putter {
    green_queue_t *queue;
    int err;
};

static void *put_from_other_hub(void *arg)
{
    struct putter *p = arg;

    p->err = green_queue_put(p->queue, p, GREEN_FOREVER);
    green_hub_destroy();
    return NULL;
}

static void test_put_from_other_hub_refused(void **state)
{
    struct getter g = {.err = -1};
    struct putter p = {.err = -1};
    green_thread_t *t;
    pthread_t thread;
    int item;

    (void)state;
    assert_int_equal(green_queue_new(&g.queue, 0, GREEN_QUEUE_FIFO, NULL), 0);
    p.queue = g.queue;
    assert_int_equal(green_spawn(&t, get_one, &g), 0);
    green_sleep(0);
    assert_int_equal(green_queue_getters(g.queue), 1);
    assert_int_equal(pthread_create(&thread, NULL, put_from_other_hub, &p), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(p.err, EPERM);
    assert_int_equal(green_queue_getters(g.queue), 1);
    assert_int_equal(green_queue_put(g.queue, &item, 1.0), 0);
    assert_int_equal(green_thread_wait(t, NULL), 0);
    green_thread_release(t);
    assert_int_equal(g.err, 0);
    assert_ptr_equal(g.item, &item);
    assert_int_equal(green_queue_destroy(g.queue, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_used_after_the_end),
        cmocka_unit_test(test_garbage_handles),
        cmocka_unit_test(test_handle_of_another_type),
        cmocka_unit_test(test_other_os_thread_refused),
        cmocka_unit_test(test_put_from_other_hub_refused),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

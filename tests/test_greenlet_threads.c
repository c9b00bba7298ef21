/*
 * Greenlets and OS threads: each thread has its own main greenlet and runs
 * its own greenlets; greenlets of another thread are refused (EPERM while
 * it lives, EOWNERDEAD once it has exited); greenlets left suspended when
 * their thread exits are freed without running.
 *
 * Thread bodies only record; assertions run on the main thread after the
 * threads are joined or while they wait (see test_util.h).
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>

#include "test_util.h"

/* ---- A thread's own main greenlet ---------------------------------- */

struct first_use_report {
    greenlet_t *main_greenlet;
    greenlet_t *current;
    greenlet_t *new_parent;
    int new_rc;
    int is_main;
    int destroy_rc;
};

static void *return_value_run(void *value)
{
    return value;
}

/* The very first greenlet call of this thread is greenlet_new(). */
static void *first_use_thread(void *arg)
{
    struct first_use_report *report = arg;
    greenlet_t *g = NULL;

    report->new_rc = greenlet_new(&g, return_value_run, NULL, NULL);
    report->new_parent = greenlet_parent(g);
    report->main_greenlet = greenlet_main();
    report->current = greenlet_current();
    report->is_main = greenlet_is_main(report->main_greenlet);
    report->destroy_rc = greenlet_destroy(g);
    return NULL;
}

static void test_each_thread_gets_its_own_main_greenlet(void **state)
{
    struct first_use_report report;
    pthread_t thread;

    (void)state;
    memset(&report, 0, sizeof(report));
    assert_int_equal(pthread_create(&thread, NULL, first_use_thread, &report),
                     0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(report.new_rc, 0);
    assert_non_null(report.main_greenlet);
    assert_ptr_equal(report.new_parent, report.main_greenlet);
    assert_ptr_equal(report.current, report.main_greenlet);
    assert_true(report.is_main);
    assert_ptr_not_equal(report.main_greenlet, greenlet_main());
    assert_int_equal(report.destroy_rc, 0);
}

/* ---- Ten threads at once ------------------------------------------- */

#define WORKER_COUNT 10
#define WORKER_ROUNDS 20000
#define WORKER_BATCH 16

struct worker {
    pthread_t thread;
    pthread_barrier_t *start_line;
    pthread_barrier_t *finish_line;
    size_t rounds;
    greenlet_t *main_greenlet;
    long final_total;
    int failures;
};

/* Adds up the numbers it is sent and answers with the running total. */
static void *accumulate_run(void *value)
{
    intptr_t total = 0;

    for (;;) {
        total += TEST_VALUE_INT(value);
        if (greenlet_switch(greenlet_parent(greenlet_current()),
                            TEST_INT_VALUE(total), &value) != 0)
            return NULL;
    }
}

/* Short-lived greenlets made, run and destroyed in the middle of the
 * worker's long-lived conversation. */
static int run_batch(void)
{
    greenlet_t *batch[WORKER_BATCH];
    int failures = 0;
    intptr_t i;

    for (i = 0; i < WORKER_BATCH; i++)
        if (greenlet_new(&batch[i], return_value_run, NULL, NULL) != 0)
            return 1;
    for (i = 0; i < WORKER_BATCH; i++) {
        void *result = NULL;

        if (greenlet_switch(batch[i], TEST_INT_VALUE(i), &result) != 0 ||
            TEST_VALUE_INT(result) != i || !greenlet_dead(batch[i]))
            failures++;
    }
    for (i = 0; i < WORKER_BATCH; i++)
        if (greenlet_destroy(batch[i]) != 0)
            failures++;
    return failures;
}

static void *worker_thread(void *arg)
{
    struct worker *self = arg;
    greenlet_t *accumulator = NULL;
    intptr_t expected = 0;
    size_t round;

    pthread_barrier_wait(self->start_line);
    self->main_greenlet = greenlet_main();
    if (greenlet_new(&accumulator, accumulate_run, NULL, NULL) != 0)
        self->failures++;
    for (round = 1; accumulator != NULL && round <= self->rounds; round++) {
        void *total = NULL;

        expected += (intptr_t)round;
        if (greenlet_switch(accumulator, TEST_INT_VALUE(round), &total) != 0 ||
            TEST_VALUE_INT(total) != expected ||
            greenlet_current() != self->main_greenlet)
            self->failures++;
        if (round % 1000 == 0)
            self->failures += run_batch();
    }
    self->final_total = (long)expected;
    if (accumulator != NULL &&
        (greenlet_kill(accumulator) != 0 || !greenlet_dead(accumulator) ||
         greenlet_destroy(accumulator) != 0))
        self->failures++;
    /* Keep this thread, and so its main greenlet, alive until all have
     * recorded theirs. */
    pthread_barrier_wait(self->finish_line);
    return NULL;
}

static void test_ten_threads_run_their_own_greenlets(void **state)
{
    struct worker workers[WORKER_COUNT];
    pthread_barrier_t start_line, finish_line;
    size_t rounds = test_scaled(WORKER_ROUNDS);
    size_t i, j;

    (void)state;
    memset(workers, 0, sizeof(workers));
    assert_int_equal(pthread_barrier_init(&start_line, NULL, WORKER_COUNT), 0);
    assert_int_equal(pthread_barrier_init(&finish_line, NULL, WORKER_COUNT), 0);
    for (i = 0; i < WORKER_COUNT; i++) {
        workers[i].start_line = &start_line;
        workers[i].finish_line = &finish_line;
        workers[i].rounds = rounds;
        assert_int_equal(pthread_create(&workers[i].thread, NULL, worker_thread,
                                        &workers[i]),
                         0);
    }
    for (i = 0; i < WORKER_COUNT; i++)
        assert_int_equal(pthread_join(workers[i].thread, NULL), 0);
    pthread_barrier_destroy(&start_line);
    pthread_barrier_destroy(&finish_line);

    for (i = 0; i < WORKER_COUNT; i++) {
        assert_int_equal(workers[i].failures, 0);
        assert_int_equal(workers[i].final_total,
                         (long)(rounds * (rounds + 1) / 2));
        assert_non_null(workers[i].main_greenlet);
        assert_ptr_not_equal(workers[i].main_greenlet, greenlet_main());
        /* All threads were alive together (the barriers), so their
         * main greenlets must be distinct. */
        for (j = 0; j < i; j++)
            assert_ptr_not_equal(workers[i].main_greenlet,
                                 workers[j].main_greenlet);
    }
}

/* ---- Greenlets of another thread ----------------------------------- */

/* An owner thread makes greenlets in every state, hands them to the main
 * thread, and waits.  Then it either finishes them properly or exits
 * leaving them suspended. */
struct owner {
    pthread_t thread;
    sem_t ready;
    sem_t release;
    int finish_before_exit;

    greenlet_t *main_greenlet;
    greenlet_t *suspended; /* started, waiting in a switch */
    greenlet_t *nested;    /* started, a child of `suspended` */
    greenlet_t *unstarted;
    greenlet_t *dead;
    int setup_failures;

    /* What the owner's greenlets did, written only by the owner. */
    int cleanups_run;
    int unstarted_ran;
    void *finish_result;
    int finish_rc;
};

/* What follows a greenlet's switch: reached only if it is resumed, which
 * must never happen for greenlets whose thread has exited. */
static void *count_cleanup(struct owner *owner, int rc, void *resumed_with)
{
    owner->cleanups_run++;
    if (rc != 0)
        greenlet_exit(rc, NULL);
    return resumed_with;
}

static void *counting_cleanup_run(void *value)
{
    struct owner *owner = greenlet_userdata(greenlet_current());
    void *resumed_with = NULL;
    int rc = greenlet_switch(greenlet_main(), value, &resumed_with);

    return count_cleanup(owner, rc, resumed_with);
}

static void *must_not_run(void *value)
{
    struct owner *owner = greenlet_userdata(greenlet_current());

    owner->unstarted_ran++;
    return value;
}

/* Runs in `suspended`: makes `nested` as its child and starts it; nested
 * goes straight to the main greenlet, leaving this one waiting in its
 * switch to nested. */
static void *spawn_nested_run(void *value)
{
    struct owner *owner = greenlet_userdata(greenlet_current());
    void *resumed_with = NULL;
    int rc;

    (void)value;
    if (greenlet_new(&owner->nested, counting_cleanup_run, NULL, NULL) != 0) {
        owner->setup_failures++;
        return NULL;
    }
    greenlet_set_userdata(owner->nested, owner);
    rc = greenlet_switch(owner->nested, "nested", &resumed_with);
    return count_cleanup(owner, rc, resumed_with);
}

static greenlet_t *owner_new(struct owner *owner, greenlet_run_fn run)
{
    greenlet_t *g = NULL;

    if (greenlet_new(&g, run, NULL, NULL) != 0) {
        owner->setup_failures++;
        return NULL;
    }
    greenlet_set_userdata(g, owner);
    return g;
}

static void *owner_thread(void *arg)
{
    struct owner *owner = arg;

    owner->main_greenlet = greenlet_main();
    owner->suspended = owner_new(owner, spawn_nested_run);
    owner->unstarted = owner_new(owner, must_not_run);
    owner->dead = owner_new(owner, return_value_run);
    if (owner->setup_failures == 0 &&
        (greenlet_switch(owner->suspended, "suspended", NULL) != 0 ||
         greenlet_switch(owner->dead, "dead", NULL) != 0 ||
         !greenlet_active(owner->suspended) ||
         !greenlet_active(owner->nested) || !greenlet_dead(owner->dead)))
        owner->setup_failures++;

    sem_post(&owner->ready);
    sem_wait(&owner->release);

    if (owner->finish_before_exit) {
        /* The refused calls must have left everything as it was. */
        owner->finish_rc =
            greenlet_switch(owner->suspended, "finish", &owner->finish_result);
        if (greenlet_destroy(owner->nested) != 0 ||
            greenlet_destroy(owner->suspended) != 0 ||
            greenlet_destroy(owner->unstarted) != 0 ||
            greenlet_destroy(owner->dead) != 0)
            owner->setup_failures++;
    }
    return NULL;
}

static void start_owner(struct owner *owner, int finish_before_exit)
{
    memset(owner, 0, sizeof(*owner));
    owner->finish_before_exit = finish_before_exit;
    assert_int_equal(sem_init(&owner->ready, 0, 0), 0);
    assert_int_equal(sem_init(&owner->release, 0, 0), 0);
    assert_int_equal(pthread_create(&owner->thread, NULL, owner_thread, owner),
                     0);
    assert_int_equal(sem_wait(&owner->ready), 0);
    assert_int_equal(owner->setup_failures, 0);
}

static void release_owner(struct owner *owner)
{
    assert_int_equal(sem_post(&owner->release), 0);
    assert_int_equal(pthread_join(owner->thread, NULL), 0);
    sem_destroy(&owner->ready);
    sem_destroy(&owner->release);
}

/* Every call that would act on g from this thread is refused with code. */
static void assert_acting_refused(greenlet_t *g, int code)
{
    void *result = "sentinel";

    assert_int_equal(greenlet_switch(g, "intruder", &result), code);
    assert_int_equal(greenlet_throw(g, 99, &result), code);
    assert_int_equal(greenlet_kill(g), code);
    assert_int_equal(greenlet_set_parent(g, greenlet_main()), code);
    /* The caller keeps running. */
    assert_ptr_equal(greenlet_current(), greenlet_main());
}

static void test_other_live_threads_greenlets_are_refused(void **state)
{
    struct owner owner;

    (void)state;
    start_owner(&owner, 1);
    assert_acting_refused(owner.suspended, EPERM);
    assert_acting_refused(owner.nested, EPERM);
    assert_acting_refused(owner.unstarted, EPERM);
    assert_acting_refused(owner.dead, EPERM);
    assert_acting_refused(owner.main_greenlet, EPERM);
    assert_int_equal(greenlet_destroy(owner.suspended), EPERM);
    assert_int_equal(greenlet_destroy(owner.unstarted), EPERM);
    assert_int_equal(greenlet_destroy(owner.dead), EPERM);
    assert_int_equal(greenlet_destroy(owner.main_greenlet), EPERM);
    /* Their states, read while the owner waits, are untouched. */
    assert_true(greenlet_active(owner.suspended));
    assert_true(greenlet_active(owner.nested));
    assert_false(greenlet_started(owner.unstarted));
    assert_true(greenlet_dead(owner.dead));
    assert_ptr_equal(greenlet_parent(owner.nested), owner.suspended);
    assert_int_equal(owner.cleanups_run, 0);
    assert_int_equal(owner.unstarted_ran, 0);

    release_owner(&owner);
    /* The owner could still use them as if nothing had happened. */
    assert_int_equal(owner.setup_failures, 0);
    assert_int_equal(owner.finish_rc, 0);
    assert_string_equal((char *)owner.finish_result, "finish");
    /* suspended finished; nested and unstarted were destroyed by it. */
    assert_int_equal(owner.cleanups_run, 2);
    assert_int_equal(owner.unstarted_ran, 0);
}

static void test_exited_threads_greenlets_report_owner_dead(void **state)
{
    struct owner owner;

    (void)state;
    start_owner(&owner, 0);
    release_owner(&owner);

    /* Distinct from EPERM: the owner is gone for good. */
    assert_acting_refused(owner.suspended, EOWNERDEAD);
    assert_acting_refused(owner.nested, EOWNERDEAD);
    assert_acting_refused(owner.unstarted, EOWNERDEAD);
    assert_acting_refused(owner.dead, EOWNERDEAD);

    /* They were freed without running at the thread's exit; the handles
     * go now, still without running anything. */
    assert_int_equal(greenlet_destroy(owner.nested), 0);
    assert_int_equal(greenlet_destroy(owner.suspended), 0);
    assert_int_equal(greenlet_destroy(owner.unstarted), 0);
    assert_int_equal(greenlet_destroy(owner.dead), 0);
    assert_int_equal(owner.cleanups_run, 0);
    assert_int_equal(owner.unstarted_ran, 0);
}

static void *main_only_thread(void *arg)
{
    *(greenlet_t **)arg = greenlet_main();
    return NULL;
}

/* The main greenlet of an exited thread: refused with EOWNERDEAD, and
 * dead, whether or not its thread made greenlets of its own. */
static void assert_main_of_exited_thread(greenlet_t *main_greenlet)
{
    assert_acting_refused(main_greenlet, EOWNERDEAD);
    assert_int_equal(greenlet_destroy(main_greenlet), EPERM);
    assert_true(greenlet_is_main(main_greenlet));
    assert_true(greenlet_dead(main_greenlet));
    assert_false(greenlet_active(main_greenlet));
}

static void test_exited_threads_main_greenlet_reports_owner_dead(void **state)
{
    greenlet_t *main_greenlet = NULL;
    struct owner owner;
    pthread_t thread;

    (void)state;
    assert_int_equal(
        pthread_create(&thread, NULL, main_only_thread, &main_greenlet), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_non_null(main_greenlet);
    assert_main_of_exited_thread(main_greenlet);

    /* Its thread made greenlets: still valid after the last one goes. */
    start_owner(&owner, 0);
    release_owner(&owner);
    assert_int_equal(greenlet_destroy(owner.nested), 0);
    assert_int_equal(greenlet_destroy(owner.suspended), 0);
    assert_int_equal(greenlet_destroy(owner.unstarted), 0);
    assert_int_equal(greenlet_destroy(owner.dead), 0);
    assert_main_of_exited_thread(owner.main_greenlet);
}

static void *record_run(void *value)
{
    *(int *)value = 1;
    return value;
}

static void test_parent_of_other_thread_refused_once_started(void **state)
{
    struct owner owner;
    greenlet_t *started = test_greenlet_new(accumulate_run, NULL, 0, NULL);

    (void)state;
    assert_int_equal(greenlet_switch(started, TEST_INT_VALUE(1), NULL), 0);
    start_owner(&owner, 1);
    assert_int_equal(greenlet_set_parent(started, owner.suspended), EPERM);
    assert_int_equal(greenlet_set_parent(started, owner.main_greenlet), EPERM);
    release_owner(&owner);
    assert_ptr_equal(greenlet_parent(started), greenlet_main());
    assert_int_equal(greenlet_kill(started), 0);
    test_greenlet_destroy(started);
}

/* A greenlet can only ever run in its own thread, where a foreign parent
 * could never receive its result: such a parent is refused even before the
 * start, by greenlet_new and by greenlet_set_parent. */
static void test_parent_of_other_thread_refused_before_start(void **state)
{
    struct owner owner;
    int ran = 0;
    greenlet_t *unstarted = test_greenlet_new(record_run, NULL, 0, NULL);
    greenlet_t *made = NULL;
    int set_foreign_rc, new_foreign_rc;

    (void)state;
    start_owner(&owner, 1);
    set_foreign_rc = greenlet_set_parent(unstarted, owner.main_greenlet);
    new_foreign_rc = greenlet_new(&made, record_run, owner.main_greenlet, NULL);
    release_owner(&owner);

    assert_int_equal(set_foreign_rc, EPERM);
    assert_int_equal(new_foreign_rc, EPERM);
    assert_null(made);
    assert_false(greenlet_started(unstarted));
    assert_ptr_equal(greenlet_parent(unstarted), greenlet_main());
    assert_int_equal(greenlet_switch(unstarted, &ran, NULL), 0);
    assert_int_equal(ran, 1);
    test_greenlet_destroy(unstarted);
}

/* ---- Threads come and go ------------------------------------------- */

#define CHURN_THREADS 200
#define CHURN_GREENLETS 8
/* What a few threads' worth of glibc's own caches may add: map entries,
 * and address space (a thread stack or two). */
#define CHURN_MAP_SLACK 64
#define CHURN_VM_SLACK_KIB (8 * 1024)

struct churn_report {
    greenlet_t *left_parked; /* still suspended when the thread exits */
    int failures;
};

static void *park_forever_run(void *value)
{
    greenlet_switch(greenlet_main(), value, NULL);
    return value;
}

/* Makes, runs and destroys some greenlets, and leaves one parked. */
static void *churn_thread(void *arg)
{
    struct churn_report *report = arg;
    size_t i;

    for (i = 0; i < CHURN_GREENLETS; i++) {
        greenlet_t *g = NULL;

        if (greenlet_new(&g, park_forever_run, NULL, NULL) != 0 ||
            greenlet_switch(g, NULL, NULL) != 0) {
            report->failures++;
            continue;
        }
        if (i == 0)
            report->left_parked = g;
        else if (greenlet_destroy(g) != 0)
            report->failures++;
    }
    return NULL;
}

static void run_churn_thread(void)
{
    struct churn_report report;
    pthread_t thread;

    memset(&report, 0, sizeof(report));
    assert_int_equal(pthread_create(&thread, NULL, churn_thread, &report), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(report.failures, 0);
    assert_non_null(report.left_parked);
    assert_int_equal(greenlet_destroy(report.left_parked), 0);
}

/* Each thread's state (alternate signal stack, stack cache, greenlets
 * left behind) goes with it: many short-lived threads do not add up. */
static void test_thread_churn_leaves_nothing_behind(void **state)
{
    size_t threads = test_scaled(CHURN_THREADS);
    size_t lines_before, lines_after, vm_before, vm_after, i;

    (void)state;
    /* A first thread warms up whatever is made once per process. */
    run_churn_thread();
    lines_before = test_count_lines("/proc/self/maps");
    vm_before = test_proc_status_kib("VmSize");
    assert_true(lines_before > 0 && vm_before > 0);
    for (i = 0; i < threads; i++)
        run_churn_thread();
    lines_after = test_count_lines("/proc/self/maps");
    vm_after = test_proc_status_kib("VmSize");
    print_message("%zu threads: /proc/self/maps %zu -> %zu lines, "
                  "VmSize %zu -> %zu KiB\n",
                  threads, lines_before, lines_after, vm_before, vm_after);
    assert_true(lines_after <= lines_before + CHURN_MAP_SLACK);
    /* Under qemu-user, VmSize is the emulator's own, which keeps some
     * memory for every guest thread it ran. */
    assert_true(vm_after <= vm_before + CHURN_VM_SLACK_KIB +
                                (test_scale_is("qemu") ? threads * 512 : 0));
}

/* ---- Tracing is per thread ----------------------------------------- */

static int main_thread_hook_calls;

static void main_thread_hook(greenlet_event_t event, greenlet_t *origin,
                             greenlet_t *target)
{
    (void)event;
    (void)origin;
    (void)target;
    main_thread_hook_calls++;
}

static void other_thread_hook(greenlet_event_t event, greenlet_t *origin,
                              greenlet_t *target)
{
    (void)event;
    (void)origin;
    (void)target;
}

struct trace_report {
    greenlet_trace_fn hook_found;
    greenlet_trace_fn hook_returned;
    int switch_rc;
};

static void *tracing_thread(void *arg)
{
    struct trace_report *report = arg;
    greenlet_t *g = NULL;

    report->hook_found = greenlet_set_trace(other_thread_hook);
    report->switch_rc = greenlet_new(&g, return_value_run, NULL, NULL);
    if (report->switch_rc == 0) {
        report->switch_rc = greenlet_switch(g, NULL, NULL);
        greenlet_destroy(g);
    }
    report->hook_returned = greenlet_set_trace(NULL);
    return NULL;
}

static void test_trace_hook_is_per_thread(void **state)
{
    struct trace_report report;
    pthread_t thread;

    (void)state;
    main_thread_hook_calls = 0;
    assert_null(greenlet_set_trace(main_thread_hook));
    memset(&report, 0, sizeof(report));
    assert_int_equal(pthread_create(&thread, NULL, tracing_thread, &report), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_ptr_equal(greenlet_set_trace(NULL), main_thread_hook);

    assert_null(report.hook_found);
    assert_int_equal(report.switch_rc, 0);
    assert_ptr_equal(report.hook_returned, other_thread_hook);
    assert_int_equal(main_thread_hook_calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_thread_gets_its_own_main_greenlet),
        cmocka_unit_test(test_ten_threads_run_their_own_greenlets),
        cmocka_unit_test(test_other_live_threads_greenlets_are_refused),
        cmocka_unit_test(test_exited_threads_greenlets_report_owner_dead),
        cmocka_unit_test(test_exited_threads_main_greenlet_reports_owner_dead),
        cmocka_unit_test(test_parent_of_other_thread_refused_once_started),
        cmocka_unit_test(test_parent_of_other_thread_refused_before_start),
        cmocka_unit_test(test_thread_churn_leaves_nothing_behind),
        cmocka_unit_test(test_trace_hook_is_per_thread),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

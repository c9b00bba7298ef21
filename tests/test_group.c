/* GREEN_TEST_BACKENDS */
/*
 * green_group: wait for all, first error, limits, cancel and destroy,
 * nested cancel, and deadlines inherited by children.
 */
#include "test_util.h"

#include <green/group.h>
#include <green/io.h>
#include <green/timeout.h>

#include <errno.h>
#include <sys/socket.h>

static green_group_t *group_or_fail(size_t limit, unsigned flags)
{
    green_group_t *group = NULL;

    assert_int_equal(green_group_new(&group, limit, flags), 0);
    return group;
}

/* What the children saw, recorded for the main greenlet to check. */
static struct {
    int started, ended, running, max_running;
    int errs[64];
    double end_times[64];
} seen;

static void seen_reset(void)
{
    memset(&seen, 0, sizeof(seen));
}

/* Sleeps arg milliseconds; records its sleep's result and its end. */
static void *sleeper(void *arg)
{
    int i = seen.started++;

    if (++seen.running > seen.max_running)
        seen.max_running = seen.running;
    seen.errs[i] = green_sleep(0.001 * (double)TEST_VALUE_INT(arg));
    seen.end_times[i] = green_now();
    seen.running--;
    seen.ended++;
    return NULL;
}

/* Sleeps arg milliseconds, then ends with EIO. */
static void *failer(void *arg)
{
    green_sleep(0.001 * (double)TEST_VALUE_INT(arg));
    seen.ended++;
    green_thread_exit(EIO, NULL);
    return NULL;
}

static void test_wait_for_all(void **state)
{
    green_group_t *group = group_or_fail(0, 0);
    green_thread_t *handle = NULL;

    (void)state;
    seen_reset();
    for (int i = 0; i < 10; i++)
        assert_int_equal(green_group_spawn(group, i == 0 ? &handle : NULL,
                                           sleeper, TEST_INT_VALUE(10 - i)),
                         0);
    assert_int_equal(green_group_running(group), 10);
    assert_int_equal(green_group_wait(group, GREEN_FOREVER), 0);
    assert_int_equal(seen.ended, 10);
    assert_int_equal(green_group_running(group), 0);
    assert_true(green_thread_dead(handle));
    green_thread_release(handle);
    /* A group is reusable until cancelled. */
    assert_int_equal(green_group_spawn(group, NULL, sleeper, TEST_INT_VALUE(1)),
                     0);
    assert_int_equal(green_group_wait(group, GREEN_FOREVER), 0);
    assert_int_equal(seen.ended, 11);
    assert_int_equal(green_group_destroy(group), 0);
}

static void test_wait_reports_first_error(void **state)
{
    green_group_t *group = group_or_fail(0, 0);

    (void)state;
    seen_reset();
    assert_int_equal(green_group_spawn(group, NULL, failer, TEST_INT_VALUE(1)),
                     0);
    assert_int_equal(
        green_group_spawn(group, NULL, sleeper, TEST_INT_VALUE(30)), 0);
    /* Without FAIL_FAST the others run to their end. */
    assert_int_equal(green_group_wait(group, GREEN_FOREVER), EIO);
    assert_int_equal(seen.ended, 2);
    assert_int_equal(seen.errs[0], 0);
    assert_int_equal(green_group_destroy(group), 0);
}

static void test_first_error_cancels_the_rest(void **state)
{
    green_group_t *group = group_or_fail(0, GREEN_GROUP_FAIL_FAST);
    double start = green_now();

    (void)state;
    seen_reset();
    for (int i = 0; i < 5; i++)
        assert_int_equal(
            green_group_spawn(group, NULL, sleeper, TEST_INT_VALUE(60000)), 0);
    assert_int_equal(green_group_spawn(group, NULL, failer, TEST_INT_VALUE(5)),
                     0);
    assert_int_equal(green_group_wait(group, GREEN_FOREVER), EIO);
    assert_true(green_now() - start < 30.0); /* not the sleepers' 60 s */
    assert_int_equal(seen.ended, 6);
    for (int i = 0; i < 5; i++)
        assert_int_equal(seen.errs[i], ECANCELED);
    assert_int_equal(green_group_spawn(group, NULL, sleeper, TEST_INT_VALUE(1)),
                     ECANCELED);
    assert_int_equal(green_group_destroy(group), 0);
}

static void test_limit_parks_spawners(void **state)
{
    green_group_t *group = group_or_fail(3, 0);

    (void)state;
    seen_reset();
    for (int i = 0; i < 12; i++) {
        assert_int_equal(
            green_group_spawn(group, NULL, sleeper, TEST_INT_VALUE(2)), 0);
        assert_true(green_group_running(group) <= 3);
    }
    assert_int_equal(green_group_wait(group, GREEN_FOREVER), 0);
    assert_int_equal(seen.ended, 12);
    assert_int_equal(seen.max_running, 3);
    assert_int_equal(green_group_destroy(group), 0);
}

/* A child spawning into its own full group would wait for itself. */
static void *spawn_into_own_group(void *arg)
{
    seen.errs[0] = green_group_spawn(arg, NULL, sleeper, TEST_INT_VALUE(1));
    seen.errs[1] = green_group_wait(arg, GREEN_FOREVER);
    seen.errs[2] = green_group_destroy(arg);
    return NULL;
}

static void test_child_misuse(void **state)
{
    green_group_t *group = group_or_fail(1, 0);

    (void)state;
    seen_reset();
    assert_int_equal(
        green_group_spawn(group, NULL, spawn_into_own_group, group), 0);
    assert_int_equal(green_group_wait(group, GREEN_FOREVER), 0);
    assert_int_equal(seen.errs[0], EDEADLK);
    assert_int_equal(seen.errs[1], EDEADLK);
    assert_int_equal(seen.errs[2], EDEADLK);
    assert_int_equal(green_group_destroy(group), 0);
}

static void test_cancel_kills_and_waits(void **state)
{
    green_group_t *group = group_or_fail(4, 0);
    green_thread_t *handle = NULL;

    (void)state;
    seen_reset();
    for (int i = 0; i < 4; i++)
        assert_int_equal(green_group_spawn(group, i == 0 ? &handle : NULL,
                                           sleeper, TEST_INT_VALUE(10000)),
                         0);
    assert_int_equal(green_sleep(0), 0); /* let them start */
    assert_int_equal(seen.started, 4);
    assert_int_equal(green_group_cancel(group), 0);
    assert_int_equal(seen.ended, 4);
    assert_int_equal(green_group_running(group), 0);
    assert_int_equal(green_thread_wait(handle, NULL), ECANCELED);
    green_thread_release(handle);
    assert_int_equal(green_group_cancel(group), 0);
    /* Killed by the group: not an error of the group. */
    assert_int_equal(green_group_wait(group, GREEN_FOREVER), 0);
    assert_int_equal(green_group_spawn(group, NULL, sleeper, TEST_INT_VALUE(1)),
                     ECANCELED);
    assert_int_equal(green_group_destroy(group), 0);
}

static void test_destroy_kills_unstarted_and_running(void **state)
{
    green_group_t *group = group_or_fail(0, 0);

    (void)state;
    seen_reset();
    assert_int_equal(
        green_group_spawn(group, NULL, sleeper, TEST_INT_VALUE(10000)), 0);
    assert_int_equal(green_sleep(0), 0);
    /* Spawned, not started: it never runs. */
    assert_int_equal(
        green_group_spawn(group, NULL, sleeper, TEST_INT_VALUE(10000)), 0);
    assert_int_equal(green_group_destroy(group), 0);
    assert_int_equal(seen.started, 1);
    assert_int_equal(seen.ended, 1);
    assert_int_equal(seen.errs[0], ECANCELED);
}

static green_group_t *leaked_inner;

/* A child of the outer group that starts a nested group of sleepers and
 * leaves it to its fate: only the outer cancel can reach them. */
static void *nest(void *arg)
{
    (void)arg;
    if (green_group_new(&leaked_inner, 0, 0) != 0)
        return NULL;
    for (int i = 0; i < 3; i++)
        green_group_spawn(leaked_inner, NULL, sleeper, TEST_INT_VALUE(10000));
    return NULL;
}

static void test_nested_cancel(void **state)
{
    green_group_t *outer = group_or_fail(0, 0);

    (void)state;
    seen_reset();
    assert_int_equal(green_group_spawn(outer, NULL, nest, NULL), 0);
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(seen.started, 3);
    assert_int_equal(green_group_cancel(outer), 0);
    /* The kills are delivered; the grandchildren end on the next pass. */
    assert_int_equal(green_group_wait(leaked_inner, 30.0), 0);
    assert_int_equal(seen.ended, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(seen.errs[i], ECANCELED);
    /* Nested groups outlive their parent, no longer nested. */
    assert_int_equal(green_group_destroy(outer), 0);
    assert_int_equal(
        green_group_spawn(leaked_inner, NULL, sleeper, TEST_INT_VALUE(1)),
        ECANCELED);
    assert_int_equal(green_group_destroy(leaked_inner), 0);
}

/* ---- The fetcher's overall deadline ----------------------------------- */

enum { CHILDREN = 50 };
static int blocked_fds[CHILDREN][2];

/* Even children sleep long, odd ones block in a recv that never gets data
 * (one socket each: an fd has one reader): only the inherited deadline can
 * end them. */
static void *long_job(void *arg)
{
    int i = (int)TEST_VALUE_INT(arg);
    char byte;
    size_t got;

    if (i % 2 == 0)
        seen.errs[i] = green_sleep(120);
    else
        seen.errs[i] = green_recv(blocked_fds[i][0], &byte, 1, 0, &got);
    seen.end_times[i] = green_now();
    seen.ended++;
    return NULL;
}

static void test_children_inherit_the_deadline(void **state)
{
    green_group_t *group = group_or_fail(0, 0);
    green_timeout_t scope;
    double deadline, worst = 0;

    (void)state;
    seen_reset();
    for (int i = 0; i < CHILDREN; i++)
        assert_int_equal(
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, blocked_fds[i]),
            0);
    assert_int_equal(green_timeout_start(&scope, 0.2), 0);
    deadline = scope.deadline;
    for (int i = 0; i < CHILDREN; i++)
        assert_int_equal(
            green_group_spawn(group, NULL, long_job, TEST_INT_VALUE(i)), 0);
    /* The spawner's scope ends here: only the children carry it on. */
    assert_int_equal(green_timeout_cancel(&scope), 0);
    assert_int_equal(green_group_wait(group, GREEN_FOREVER), 0);
    assert_int_equal(seen.ended, CHILDREN);
    for (int i = 0; i < CHILDREN; i++) {
        double late = seen.end_times[i] - deadline;

        assert_int_equal(seen.errs[i], ETIMEDOUT);
        assert_true(late >= 0);
        if (late > worst)
            worst = late;
    }
    printf("group deadline: worst child stopped %.2f ms after it\n",
           worst * 1e3);
    /* ETIMEDOUT: only the deadline can end them before 120 s.  How soon
     * after it is a figure for bench/group.c: TSan at a load of 14 was
     * 4.5 s late, so the test asserts only a bound far from the 120 s
     * the children would otherwise take. */
    assert_true(worst < 40.0);
    assert_int_equal(green_group_destroy(group), 0);
    for (int i = 0; i < CHILDREN; i++) {
        green_close(blocked_fds[i][0]);
        green_close(blocked_fds[i][1]);
    }
}

static int grandchild_wait = -1;

/* A child's own nested group inherits the child's deadline in turn. */
static void *spawn_grandchild(void *arg)
{
    green_group_t *inner = NULL;

    (void)arg;
    if (green_group_new(&inner, 0, 0) != 0)
        return NULL;
    green_group_spawn(inner, NULL, sleeper, TEST_INT_VALUE(60000));
    grandchild_wait = green_group_wait(inner, GREEN_FOREVER);
    green_group_destroy(inner);
    return NULL;
}

static void test_deadline_flows_two_levels(void **state)
{
    green_group_t *group = group_or_fail(0, 0);
    green_timeout_t scope;

    (void)state;
    seen_reset();
    assert_int_equal(green_group_spawn(group, NULL, sleeper,
                                       TEST_INT_VALUE(1)), /* no scope: 0 */
                     0);
    assert_int_equal(green_group_wait(group, GREEN_FOREVER), 0);
    assert_int_equal(seen.errs[0], 0);
    /* The child and the grandchild must both have started before the
     * deadline: a grandchild that starts after it, behind its parent's
     * own ETIMEDOUT, is killed by the parent's destroy (ECANCELED).  A
     * stalled TSan run overran 0.05 s. */
    assert_int_equal(green_timeout_start(&scope, 1.0), 0);
    assert_int_equal(green_group_spawn(group, NULL, spawn_grandchild, NULL), 0);
    assert_int_equal(green_timeout_cancel(&scope), 0);
    assert_int_equal(green_group_wait(group, GREEN_FOREVER), 0);
    /* The grandchild's sleep timed out; its group reports that error. */
    assert_int_equal(seen.errs[1], ETIMEDOUT);
    assert_int_equal(grandchild_wait, ETIMEDOUT);
    assert_int_equal(seen.ended, 2);
    assert_true(seen.end_times[1] - scope.deadline < 10.0); /* not 60 s */
    assert_true(seen.end_times[1] >= scope.deadline);
    assert_int_equal(green_group_destroy(group), 0);
}

static void test_invalid_arguments(void **state)
{
    green_group_t *group = group_or_fail(0, 0);

    (void)state;
    assert_int_equal(green_group_new(NULL, 0, 0), EINVAL);
    assert_int_equal(green_group_new(&group, 0, 0x80), EINVAL);
    assert_int_equal(green_group_spawn(NULL, NULL, sleeper, NULL), EINVAL);
    assert_int_equal(green_group_spawn(group, NULL, NULL, NULL), EINVAL);
    assert_int_equal(green_group_wait(NULL, 0), EINVAL);
    assert_int_equal(green_group_cancel(NULL), EINVAL);
    assert_int_equal(green_group_destroy(NULL), EINVAL);
    assert_int_equal(green_group_running(NULL), 0);
    assert_int_equal(green_group_destroy(group), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wait_for_all),
        cmocka_unit_test(test_wait_reports_first_error),
        cmocka_unit_test(test_first_error_cancels_the_rest),
        cmocka_unit_test(test_limit_parks_spawners),
        cmocka_unit_test(test_child_misuse),
        cmocka_unit_test(test_cancel_kills_and_waits),
        cmocka_unit_test(test_destroy_kills_unstarted_and_running),
        cmocka_unit_test(test_nested_cancel),
        cmocka_unit_test(test_children_inherit_the_deadline),
        cmocka_unit_test(test_deadline_flows_two_levels),
        cmocka_unit_test(test_invalid_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Errors that travel between greenlets: greenlet_exit() and
 * greenlet_throw().
 *
 * Greenlet bodies only record what they see (see test_util.h); the
 * assertions run on the main greenlet.
 */
#include "test_greenlet_util.h"

/* ---- Errors: greenlet_exit ----------------------------------------- */

struct exit_request {
    int err;
    void *value;
};

static __attribute__((noinline)) void exit_from_depth(int depth,
                                                      struct exit_request *r)
{
    if (depth == 0)
        test_log_add(&events, "exit-returned(%d)",
                     greenlet_exit(r->err, r->value));
    else
        exit_from_depth(depth - 1, r);
    test_log_add(&events, "unwound(%d)", depth);
}

static void *exit_deep_run(void *value)
{
    test_log_add(&events, "exiting");
    exit_from_depth(5, value);
    test_log_add(&events, "after-exit");
    return "returned";
}

/* Runs a fresh exit_deep_run greenlet with the request; returns the
 * switch code and stores the result. */
static int run_exit_request(int err, void *value, void **result)
{
    struct exit_request request = {.err = err, .value = value};
    greenlet_t *g = test_greenlet_new(exit_deep_run, NULL, 0, NULL);
    int rc;

    test_log_reset(&events);
    *result = "sentinel";
    rc = greenlet_switch(g, &request, result);
    assert_true(greenlet_dead(g));
    assert_log_equal(&events, "exiting");
    test_greenlet_destroy(g);
    return rc;
}

static void test_exit_with_error_from_nested_calls(void **state)
{
    void *result;

    (void)state;
    assert_int_equal(run_exit_request(42, "ignored", &result), 42);
    assert_null(result);
}

static void test_transfer_reports_error_with_null_value(void **state)
{
    struct exit_request request = {.err = 42, .value = "ignored"};
    greenlet_t *g = test_greenlet_new(exit_deep_run, NULL, 0, NULL);
    greenlet_transfer_t back;

    (void)state;
    back = greenlet_transfer(g, &request);
    assert_int_equal(back.err, 42);
    assert_null(back.value);
    assert_true(greenlet_dead(g));
    test_greenlet_destroy(g);
}

static void test_exit_with_value_is_normal_result(void **state)
{
    void *result;

    (void)state;
    assert_int_equal(run_exit_request(0, "exit-value", &result), 0);
    assert_string_equal(str(result), "exit-value");
}

static void test_exit_with_greenlet_exit_is_normal_null_result(void **state)
{
    void *result;

    (void)state;
    assert_int_equal(run_exit_request(GREENLET_EXIT, "ignored", &result), 0);
    assert_null(result);
}

static void test_exit_on_main_is_refused(void **state)
{
    (void)state;
    assert_int_equal(greenlet_exit(0, NULL), EPERM);
    assert_int_equal(greenlet_exit(5, NULL), EPERM);
    assert_ptr_equal(greenlet_current(), greenlet_main());
}

static void *exit_error_run(void *value)
{
    greenlet_exit(TEST_VALUE_INT(value), NULL);
    return "not-reached";
}

static void test_error_into_unstarted_parent_passes_through(void **state)
{
    greenlet_t *a = test_greenlet_new(tagged_return_run, NULL, 0, "a");
    greenlet_t *b = test_greenlet_new(exit_error_run, a, 0, "b");
    void *result = "sentinel";

    (void)state;
    /* Like an exception thrown into an unstarted greenlet: a never runs
     * and the error goes on to a's parent (Python greenlet's behaviour). */
    assert_int_equal(greenlet_switch(b, TEST_INT_VALUE(9), &result), 9);
    assert_null(result);
    assert_log_equal(&events, "");
    assert_true(greenlet_dead(a));
    assert_true(greenlet_dead(b));
    test_greenlet_destroy(b);
    test_greenlet_destroy(a);
}

/* Each level makes the next as its child (NULL parent) and switches to
 * it; the deepest ends with an error, and every level above passes it
 * on, like an exception unwinding through nested calls. */
#define NESTING_DEPTH 4
#define NESTED_ERROR 21

static greenlet_t *nesting_levels[NESTING_DEPTH];

static void *nesting_run(void *value)
{
    intptr_t level = TEST_VALUE_INT(value);
    int rc;

    if (level == NESTING_DEPTH - 1)
        greenlet_exit(NESTED_ERROR, NULL);
    rc = greenlet_new(&nesting_levels[level + 1], nesting_run, NULL, NULL);
    if (rc == 0)
        rc = greenlet_switch(nesting_levels[level + 1],
                             TEST_INT_VALUE(level + 1), NULL);
    test_log_add(&events, "level%d:got(%d)", (int)level, rc);
    greenlet_exit(rc, NULL);
    return NULL;
}

static void test_error_travels_up_through_nested_greenlets(void **state)
{
    void *result = "sentinel";
    size_t i;

    (void)state;
    memset(nesting_levels, 0, sizeof(nesting_levels));
    nesting_levels[0] = test_greenlet_new(nesting_run, NULL, 0, NULL);
    assert_int_equal(
        greenlet_switch(nesting_levels[0], TEST_INT_VALUE(0), &result),
        NESTED_ERROR);
    assert_null(result);
    assert_log_equal(&events, "level2:got(21),level1:got(21),level0:got(21)");
    for (i = 0; i < NESTING_DEPTH; i++) {
        assert_non_null(nesting_levels[i]);
        assert_true(greenlet_dead(nesting_levels[i]));
        test_greenlet_destroy(nesting_levels[i]);
    }
}

/* ---- Errors: greenlet_throw ---------------------------------------- */

static void test_throw_into_suspended_greenlet(void **state)
{
    greenlet_t *g = new_suspended(suspend_run, NULL, "g");
    void *result = NULL;

    (void)state;
    result = "sentinel";
    /* g catches the error and returns normally. */
    assert_int_equal(greenlet_throw(g, 77, &result), 0);
    assert_string_equal(str(result), "done");
    assert_true(greenlet_dead(g));
    assert_log_equal(&events, "g:start(in),g:resumed(77,NULL)");
    test_greenlet_destroy(g);
}

static void test_throw_propagates_when_not_caught(void **state)
{
    greenlet_t *g = new_suspended(suspend_propagate_run, NULL, "g");
    void *result = NULL;

    (void)state;
    result = "sentinel";
    assert_int_equal(greenlet_throw(g, 78, &result), 78);
    assert_null(result);
    assert_true(greenlet_dead(g));
    assert_log_equal(&events, "g:start(in),g:resumed(78,NULL)");
    test_greenlet_destroy(g);
}

static void test_throw_into_unstarted_never_runs(void **state)
{
    greenlet_t *g = test_greenlet_new(tagged_return_run, NULL, 0, "g");
    void *result = "sentinel";

    (void)state;
    assert_int_equal(greenlet_throw(g, 5, &result), 5);
    assert_null(result);
    assert_true(greenlet_dead(g));
    assert_false(greenlet_active(g));
    assert_log_equal(&events, "");
    test_greenlet_destroy(g);
}

static void test_throw_into_unstarted_goes_to_its_parent(void **state)
{
    greenlet_t *relay = new_started_relay("relay");
    greenlet_t *g = test_greenlet_new(tagged_return_run, relay, 0, "g");
    void *result = "sentinel";

    (void)state;
    /* The error reaches relay's pending switch; relay then returns NULL,
     * which comes to main as a normal result. */
    assert_int_equal(greenlet_throw(g, 6, &result), 0);
    assert_null(result);
    assert_true(greenlet_dead(g));
    assert_true(greenlet_dead(relay));
    assert_log_equal(&events, "relay:got(start),relay:error(6)");
    test_greenlet_destroy(g);
    test_greenlet_destroy(relay);
}

static void test_throw_into_dead_goes_to_first_live_ancestor(void **state)
{
    greenlet_t *relay = new_started_relay("relay");
    greenlet_t *a = test_greenlet_new(return_value_run, relay, 0, "a");
    void *result = NULL;

    (void)state;
    assert_int_equal(greenlet_switch(a, "a-val", &result), 0);
    assert_true(greenlet_dead(a));
    result = "sentinel";
    assert_int_equal(greenlet_throw(a, 7, &result), 0);
    assert_null(result);
    assert_true(greenlet_dead(relay));
    assert_log_equal(&events,
                     "relay:got(start),relay:got(a-val),relay:error(7)");
    test_greenlet_destroy(a);
    test_greenlet_destroy(relay);
}

static void test_throw_into_dead_child_of_current_returns_at_once(void **state)
{
    greenlet_t *a = test_greenlet_new(return_value_run, NULL, 0, "a");
    void *result = NULL;

    (void)state;
    assert_int_equal(greenlet_switch(a, "a-val", &result), 0);
    /* The first live ancestor is the caller: like Python's throw() into
     * the current greenlet, the error is raised in the caller at once. */
    result = "sentinel";
    assert_int_equal(greenlet_throw(a, 8, &result), 8);
    assert_null(result);
    assert_ptr_equal(greenlet_current(), greenlet_main());
    test_greenlet_destroy(a);
}

/* As in greenlet, a kill thrown into a dead greenlet is a no-op: the exit
 * reaches the first live ancestor as a normal NULL result, the same answer
 * greenlet_kill() gives, so a second kill is harmless either way. */
static void test_throw_greenlet_exit_into_dead_is_normal_result(void **state)
{
    greenlet_t *relay = new_started_relay("relay");
    greenlet_t *a = test_greenlet_new(return_value_run, relay, 0, "a");
    greenlet_t *b = test_greenlet_new(return_value_run, NULL, 0, "b");
    void *result = NULL;

    (void)state;
    assert_int_equal(greenlet_switch(a, "a-val", &result), 0);
    result = "sentinel";
    assert_int_equal(greenlet_throw(a, GREENLET_EXIT, &result), 0);
    assert_null(result);
    assert_true(greenlet_active(relay));
    assert_log_equal(&events,
                     "relay:got(start),relay:got(a-val),relay:got(NULL)");

    assert_int_equal(greenlet_switch(b, "b-val", NULL), 0);
    result = "sentinel";
    assert_int_equal(greenlet_throw(b, GREENLET_EXIT, &result), 0);
    assert_null(result);
    assert_int_equal(greenlet_kill(b), 0);
    test_greenlet_destroy(a);
    test_greenlet_destroy(b);
    test_greenlet_destroy(relay);
}

static void test_throw_rejects_invalid_arguments(void **state)
{
    greenlet_t *g = test_greenlet_new(tagged_return_run, NULL, 0, "g");

    (void)state;
    assert_int_equal(greenlet_throw(NULL, 5, NULL), EINVAL);
    assert_int_equal(greenlet_throw(g, 0, NULL), EINVAL);
    assert_false(greenlet_started(g));
    assert_false(greenlet_dead(g));
    assert_log_equal(&events, "");
    test_greenlet_destroy(g);
}

static void test_throw_greenlet_exit_is_normal_result(void **state)
{
    greenlet_t *g = new_suspended(suspend_propagate_run, NULL, "g");
    void *result = NULL;

    (void)state;
    result = "sentinel";
    assert_int_equal(greenlet_throw(g, GREENLET_EXIT, &result), 0);
    assert_null(result);
    assert_true(greenlet_dead(g));
    assert_log_equal(&events, "g:start(in),g:resumed(-1,NULL)");
    test_greenlet_destroy(g);
}

#define TEST(name) cmocka_unit_test_setup(name, reset_state)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_exit_with_error_from_nested_calls),
        TEST(test_transfer_reports_error_with_null_value),
        TEST(test_exit_with_value_is_normal_result),
        TEST(test_exit_with_greenlet_exit_is_normal_null_result),
        TEST(test_exit_on_main_is_refused),
        TEST(test_error_into_unstarted_parent_passes_through),
        TEST(test_error_travels_up_through_nested_greenlets),
        TEST(test_throw_into_suspended_greenlet),
        TEST(test_throw_propagates_when_not_caught),
        TEST(test_throw_into_unstarted_never_runs),
        TEST(test_throw_into_unstarted_goes_to_its_parent),
        TEST(test_throw_into_dead_goes_to_first_live_ancestor),
        TEST(test_throw_into_dead_child_of_current_returns_at_once),
        TEST(test_throw_greenlet_exit_into_dead_is_normal_result),
        TEST(test_throw_rejects_invalid_arguments),
        TEST(test_throw_greenlet_exit_is_normal_result),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Core behaviour of the greenlet layer (include/green/greenlet.h):
 * creation, switching and switch values, parents, errors, kill, destroy,
 * introspection, tracing, and generators built on greenlets.
 *
 * Greenlet bodies only record what they see into `events` (see
 * test_util.h for why); the assertions run on the main greenlet.
 */
#include <errno.h>
#include <unistd.h>

#include "test_util.h"

static struct test_log events;

/* Some tests hand a greenlet a second greenlet to act on, or name the
 * greenlet a body should compare against. */
static greenlet_t *subject;
static greenlet_t *expected_parent;

static int reset_state(void **state)
{
    (void)state;
    test_log_reset(&events);
    subject = NULL;
    expected_parent = NULL;
    greenlet_set_trace(NULL);
    return 0;
}

/* Switch values are strings in most tests, so the log can show them. */
static const char *str(const void *value)
{
    return value != NULL ? (const char *)value : "NULL";
}

static const char *current_name(void)
{
    return greenlet_name(greenlet_current());
}

/* ---- Greenlet bodies shared by several tests ---------------------- */

static void *return_value_run(void *value)
{
    return value;
}

/* Logs that it ran, then returns its value. */
static void *tagged_return_run(void *value)
{
    test_log_add(&events, "%s:run(%s)", current_name(), str(value));
    return value;
}

/* Suspends to the main greenlet once, logging its start and how it was
 * resumed.  Returns the resume code; *resumed_with gets the value. */
static int suspend_to_main(void *start_value, void **resumed_with)
{
    int rc;

    test_log_add(&events, "%s:start(%s)", current_name(), str(start_value));
    *resumed_with = "unset";
    rc = greenlet_switch(greenlet_main(), "suspended", resumed_with);
    test_log_add(&events, "%s:resumed(%d,%s)", current_name(), rc,
                 str(*resumed_with));
    return rc;
}

/* Suspends once; whatever it is resumed with, it returns "done" (an error
 * is caught, like a try/except around the switch). */
static void *suspend_run(void *value)
{
    void *resumed_with;

    suspend_to_main(value, &resumed_with);
    return "done";
}

/* Suspends once; an error it is resumed with ends it with that error,
 * a value is returned. */
static void *suspend_propagate_run(void *value)
{
    void *resumed_with;
    int rc = suspend_to_main(value, &resumed_with);

    if (rc != 0)
        greenlet_exit(rc, NULL);
    return resumed_with;
}

/* Passes every value it gets to the main greenlet, until it is resumed
 * with an error: then it logs it and returns NULL. */
static void *relay_run(void *value)
{
    for (;;) {
        int rc;

        test_log_add(&events, "%s:got(%s)", current_name(), str(value));
        rc = greenlet_switch(greenlet_main(), value, &value);
        if (rc != 0) {
            test_log_add(&events, "%s:error(%d)", current_name(), rc);
            return NULL;
        }
    }
}

/* A relay started and suspended, ready to receive values. */
static greenlet_t *new_started_relay(const char *name)
{
    greenlet_t *relay = test_greenlet_new(relay_run, NULL, 0, name);
    void *result = NULL;

    assert_int_equal(greenlet_switch(relay, "start", &result), 0);
    assert_string_equal(str(result), "start");
    return relay;
}

/* A greenlet started with "in" and now suspended in its first switch to
 * the main greenlet (the bodies above that suspend send "suspended"). */
static greenlet_t *new_suspended(greenlet_run_fn run, greenlet_t *parent,
                                 const char *name)
{
    greenlet_t *g = test_greenlet_new(run, parent, 0, name);
    void *result = NULL;

    assert_int_equal(greenlet_switch(g, "in", &result), 0);
    assert_string_equal(str(result), "suspended");
    return g;
}

/* Refuses to die: resumed with an error, it logs it and suspends again;
 * resumed with a value, it returns that value. */
static void *stubborn_run(void *value)
{
    int rc;

    (void)value;
    do {
        rc = greenlet_switch(greenlet_main(), "suspended", &value);
        if (rc != 0)
            test_log_add(&events, "%s:refuses(%d)", current_name(), rc);
    } while (rc != 0);
    return value;
}

/* ---- The main greenlet --------------------------------------------- */

static void test_main_greenlet_made_on_first_use(void **state)
{
    greenlet_t *main_greenlet = greenlet_main();

    (void)state;
    assert_non_null(main_greenlet);
    assert_ptr_equal(greenlet_current(), main_greenlet);
    assert_ptr_equal(greenlet_main(), main_greenlet);
    assert_true(greenlet_is_main(main_greenlet));
    assert_true(greenlet_started(main_greenlet));
    assert_false(greenlet_dead(main_greenlet));
    assert_true(greenlet_active(main_greenlet));
    assert_null(greenlet_parent(main_greenlet));
    assert_string_equal(greenlet_name(main_greenlet), "main");
    assert_int_equal(greenlet_stack_size(main_greenlet), 0);
}

static greenlet_t *seen_current;
static greenlet_t *seen_main;
static int seen_is_main;

static void *record_identity_run(void *value)
{
    seen_current = greenlet_current();
    seen_main = greenlet_main();
    seen_is_main = greenlet_is_main(seen_current);
    return value;
}

static void test_current_inside_greenlet_is_that_greenlet(void **state)
{
    greenlet_t *g = test_greenlet_new(record_identity_run, NULL, 0, NULL);

    (void)state;
    seen_current = seen_main = NULL;
    seen_is_main = -1;
    assert_int_equal(greenlet_switch(g, NULL, NULL), 0);
    assert_ptr_equal(seen_current, g);
    assert_ptr_equal(seen_main, greenlet_main());
    assert_int_equal(seen_is_main, 0);
    assert_ptr_equal(greenlet_current(), greenlet_main());
    test_greenlet_destroy(g);
}

/* ---- Creation ------------------------------------------------------ */

/* The usable size is at least what was asked for; rounding up to whole
 * pages may add a little, never more than two pages. */
static void assert_stack_size_fits(const greenlet_t *g, size_t requested)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    assert_true(greenlet_stack_size(g) >= requested);
    assert_true(greenlet_stack_size(g) <= requested + 2 * page);
}

static void test_new_greenlet_is_unstarted_with_defaults(void **state)
{
    greenlet_t *g = NULL;

    (void)state;
    assert_int_equal(greenlet_new(&g, return_value_run, NULL, NULL), 0);
    assert_non_null(g);
    assert_false(greenlet_started(g));
    assert_false(greenlet_dead(g));
    assert_false(greenlet_active(g));
    assert_false(greenlet_is_main(g));
    assert_ptr_equal(greenlet_parent(g), greenlet_main());
    assert_string_equal(greenlet_name(g), "");
    assert_null(greenlet_userdata(g));
    assert_stack_size_fits(g, GREENLET_STACK_DEFAULT);
    test_greenlet_destroy(g);
}

static void test_new_copies_name_and_applies_stack_size(void **state)
{
    char name[] = "worker";
    greenlet_attr_t attr = {.stack_size = 100, .name = name};
    greenlet_t *g = NULL;

    (void)state;
    assert_int_equal(greenlet_new(&g, return_value_run, NULL, &attr), 0);
    name[0] = 'X';
    assert_string_equal(greenlet_name(g), "worker");
    /* Smaller than the minimum: rounded up to it. */
    assert_stack_size_fits(g, GREENLET_STACK_MIN);
    test_greenlet_destroy(g);

    attr.stack_size = GREENLET_STACK_MIN + 1;
    attr.name = NULL;
    assert_int_equal(greenlet_new(&g, return_value_run, NULL, &attr), 0);
    assert_stack_size_fits(g, GREENLET_STACK_MIN + 1);
    assert_string_equal(greenlet_name(g), "");
    test_greenlet_destroy(g);

    attr.stack_size = 0;
    assert_int_equal(greenlet_new(&g, return_value_run, NULL, &attr), 0);
    assert_stack_size_fits(g, GREENLET_STACK_DEFAULT);
    test_greenlet_destroy(g);
}

static void test_new_rejects_invalid_arguments(void **state)
{
    greenlet_t *untouched = (greenlet_t *)&events;
    greenlet_t *g = untouched;

    (void)state;
    assert_int_equal(greenlet_new(NULL, return_value_run, NULL, NULL), EINVAL);
    assert_int_equal(greenlet_new(&g, NULL, NULL, NULL), EINVAL);
    assert_ptr_equal(g, untouched);
}

static void test_new_with_explicit_parent(void **state)
{
    greenlet_t *parent = test_greenlet_new(return_value_run, NULL, 0, NULL);
    greenlet_t *child = test_greenlet_new(return_value_run, parent, 0, NULL);

    (void)state;
    assert_ptr_equal(greenlet_parent(child), parent);
    assert_ptr_equal(greenlet_parent(parent), greenlet_main());
    test_greenlet_destroy(child);
    test_greenlet_destroy(parent);
}

/* Makes a greenlet with a NULL parent from inside a greenlet: the parent
 * must be this greenlet, so the child's result comes back here. */
static void *spawn_child_run(void *value)
{
    greenlet_t *child = NULL;
    void *result = NULL;
    int rc;

    rc = greenlet_new(&child, return_value_run, NULL, NULL);
    test_log_add(&events, "new=%d", rc);
    if (rc != 0)
        return NULL;
    test_log_add(&events, "parent-is-creator=%d",
                 greenlet_parent(child) == greenlet_current());
    rc = greenlet_switch(child, value, &result);
    test_log_add(&events, "child-result(%d,%s)", rc, str(result));
    test_log_add(&events, "destroy=%d", greenlet_destroy(child));
    return "spawner-done";
}

static void test_null_parent_is_current_at_creation(void **state)
{
    greenlet_t *spawner = test_greenlet_new(spawn_child_run, NULL, 0, NULL);
    void *result = NULL;

    (void)state;
    assert_int_equal(greenlet_switch(spawner, "ping", &result), 0);
    assert_string_equal(str(result), "spawner-done");
    assert_log_equal(&events, "new=0,parent-is-creator=1,"
                              "child-result(0,ping),destroy=0");
    test_greenlet_destroy(spawner);
}

/* ---- Switching and values ------------------------------------------ */

static void *two_step_run(void *value)
{
    void *second = "unset";
    int rc;

    test_log_add(&events, "run(%s)", str(value));
    rc = greenlet_switch(greenlet_parent(greenlet_current()), "yielded",
                         &second);
    test_log_add(&events, "resumed(%d,%s)", rc, str(second));
    return "returned";
}

static void test_switch_values_flow_both_ways(void **state)
{
    greenlet_t *g = test_greenlet_new(two_step_run, NULL, 0, NULL);
    void *result = NULL;

    (void)state;
    assert_int_equal(greenlet_switch(g, "first", &result), 0);
    assert_string_equal(str(result), "yielded");
    assert_true(greenlet_started(g));
    assert_true(greenlet_active(g));
    assert_false(greenlet_dead(g));
    assert_log_equal(&events, "run(first)");

    assert_int_equal(greenlet_switch(g, "second", &result), 0);
    assert_string_equal(str(result), "returned");
    assert_true(greenlet_started(g));
    assert_false(greenlet_active(g));
    assert_true(greenlet_dead(g));
    assert_log_equal(&events, "run(first),resumed(0,second)");
    test_greenlet_destroy(g);
}

static void test_transfer_returns_error_and_value_together(void **state)
{
    greenlet_t *g = test_greenlet_new(two_step_run, NULL, 0, NULL);
    greenlet_transfer_t back;

    (void)state;
    back = greenlet_transfer(g, "first");
    assert_int_equal(back.err, 0);
    assert_string_equal(str(back.value), "yielded");
    back = greenlet_transfer(g, "second");
    assert_int_equal(back.err, 0);
    assert_string_equal(str(back.value), "returned");
    assert_log_equal(&events, "run(first),resumed(0,second)");
    test_greenlet_destroy(g);

    back = greenlet_transfer(NULL, "v");
    assert_int_equal(back.err, EINVAL);
    assert_null(back.value);
}

static void test_switch_result_pointer_may_be_null(void **state)
{
    greenlet_t *g = test_greenlet_new(two_step_run, NULL, 0, NULL);

    (void)state;
    assert_int_equal(greenlet_switch(g, "first", NULL), 0);
    assert_int_equal(greenlet_switch(g, "second", NULL), 0);
    assert_true(greenlet_dead(g));
    assert_log_equal(&events, "run(first),resumed(0,second)");
    test_greenlet_destroy(g);
}

static void *switch_to_self_run(void *value)
{
    void *result = NULL;
    int rc = greenlet_switch(greenlet_current(), value, &result);

    test_log_add(&events, "self(%d,%s)", rc, str(result));
    return "after-self";
}

static void test_switch_to_self_returns_value_at_once(void **state)
{
    greenlet_t *g = test_greenlet_new(switch_to_self_run, NULL, 0, NULL);
    void *result = NULL;

    (void)state;
    assert_int_equal(greenlet_switch(greenlet_current(), "me", &result), 0);
    assert_string_equal(str(result), "me");

    assert_int_equal(greenlet_switch(g, "mirror", &result), 0);
    assert_string_equal(str(result), "after-self");
    assert_log_equal(&events, "self(0,mirror)");
    test_greenlet_destroy(g);
}

/* A ring of greenlets, each switching straight to the next (not to its
 * parent), passing a counter around. */
#define RING_SIZE 8
#define RING_LAPS 1000

static greenlet_t *ring[RING_SIZE];

static void *ring_member_run(void *value)
{
    size_t index = 0;

    while (ring[index] != greenlet_current())
        index++;
    for (;;) {
        intptr_t count = TEST_VALUE_INT(value);
        greenlet_t *next = count + 1 >= RING_SIZE * RING_LAPS
                               ? greenlet_main()
                               : ring[(index + 1) % RING_SIZE];

        if (greenlet_switch(next, TEST_INT_VALUE(count + 1), &value) != 0)
            return NULL;
    }
}

static void test_ring_of_greenlets_passes_value_around(void **state)
{
    void *result = NULL;
    size_t i;

    (void)state;
    for (i = 0; i < RING_SIZE; i++)
        ring[i] = test_greenlet_new(ring_member_run, NULL, 0, NULL);
    assert_int_equal(greenlet_switch(ring[0], TEST_INT_VALUE(0), &result), 0);
    assert_int_equal(TEST_VALUE_INT(result), RING_SIZE * RING_LAPS);
    for (i = 0; i < RING_SIZE; i++) {
        assert_true(greenlet_active(ring[i]));
        test_greenlet_destroy(ring[i]);
    }
}

/* ---- Return values and parents ------------------------------------- */

static void test_return_value_goes_to_parent(void **state)
{
    greenlet_t *g = test_greenlet_new(tagged_return_run, NULL, 0, "g");
    void *result = NULL;

    (void)state;
    assert_int_equal(greenlet_switch(g, "value", &result), 0);
    assert_string_equal(str(result), "value");
    assert_true(greenlet_dead(g));
    assert_log_equal(&events, "g:run(value)");
    test_greenlet_destroy(g);
}

static void test_dead_parent_is_skipped(void **state)
{
    greenlet_t *a = test_greenlet_new(return_value_run, NULL, 0, "a");
    greenlet_t *b = test_greenlet_new(suspend_propagate_run, a, 0, "b");
    void *result = NULL;

    (void)state;
    assert_int_equal(greenlet_switch(b, "b-in", &result), 0);
    assert_string_equal(str(result), "suspended");
    assert_int_equal(greenlet_switch(a, "a-in", &result), 0);
    assert_string_equal(str(result), "a-in");
    assert_true(greenlet_dead(a));

    /* b's parent a is dead: b's result goes on to a's parent, main. */
    assert_int_equal(greenlet_switch(b, "b-again", &result), 0);
    assert_string_equal(str(result), "b-again");
    assert_true(greenlet_dead(b));
    assert_log_equal(&events, "b:start(b-in),b:resumed(0,b-again)");
    test_greenlet_destroy(b);
    test_greenlet_destroy(a);
}

static void test_dead_parents_skipped_up_the_chain(void **state)
{
    greenlet_t *a = test_greenlet_new(return_value_run, NULL, 0, "a");
    greenlet_t *b = test_greenlet_new(return_value_run, a, 0, "b");
    greenlet_t *relay = new_started_relay("relay");
    greenlet_t *c = test_greenlet_new(suspend_propagate_run, b, 0, "c");
    void *result = NULL;

    (void)state;
    /* Chain: c -> b -> a -> relay. */
    assert_int_equal(greenlet_set_parent(a, relay), 0);
    assert_int_equal(greenlet_switch(c, "c-in", &result), 0);
    /* Kill a and b without running them: they die with nothing to say. */
    assert_int_equal(greenlet_kill(b), 0);
    assert_int_equal(greenlet_kill(a), 0);
    assert_true(greenlet_dead(a));
    assert_true(greenlet_dead(b));
    assert_int_equal(greenlet_switch(c, "c-out", &result), 0);
    assert_string_equal(str(result), "c-out");
    assert_log_equal(&events, "relay:got(start),c:start(c-in),"
                              "c:resumed(0,c-out),relay:got(c-out)");
    assert_int_equal(greenlet_kill(relay), 0);
    test_greenlet_destroy(c);
    test_greenlet_destroy(b);
    test_greenlet_destroy(a);
    test_greenlet_destroy(relay);
}

static void test_unstarted_parent_is_started_with_result(void **state)
{
    greenlet_t *a = test_greenlet_new(tagged_return_run, NULL, 0, "a");
    greenlet_t *b = test_greenlet_new(tagged_return_run, a, 0, "b");
    void *result = NULL;

    (void)state;
    assert_int_equal(greenlet_switch(b, "v", &result), 0);
    assert_string_equal(str(result), "v");
    assert_log_equal(&events, "b:run(v),a:run(v)");
    assert_true(greenlet_dead(a));
    assert_true(greenlet_dead(b));
    test_greenlet_destroy(b);
    test_greenlet_destroy(a);
}

static void test_switch_to_dead_goes_to_first_live_ancestor(void **state)
{
    greenlet_t *relay = new_started_relay("relay");
    greenlet_t *a = test_greenlet_new(return_value_run, relay, 0, "a");
    void *result = NULL;

    (void)state;
    assert_int_equal(greenlet_switch(a, "a-val", &result), 0);
    assert_string_equal(str(result), "a-val");
    assert_true(greenlet_dead(a));

    assert_int_equal(greenlet_switch(a, "to-dead", &result), 0);
    assert_string_equal(str(result), "to-dead");
    assert_log_equal(&events,
                     "relay:got(start),relay:got(a-val),relay:got(to-dead)");
    assert_int_equal(greenlet_kill(relay), 0);
    test_greenlet_destroy(a);
    test_greenlet_destroy(relay);
}

static void test_switch_to_dead_child_of_current_returns_at_once(void **state)
{
    greenlet_t *a = test_greenlet_new(return_value_run, NULL, 0, "a");
    void *result = NULL;

    (void)state;
    assert_int_equal(greenlet_switch(a, "a-val", &result), 0);
    assert_true(greenlet_dead(a));
    /* Its first live ancestor is the caller itself. */
    assert_int_equal(greenlet_switch(a, "again", &result), 0);
    assert_string_equal(str(result), "again");
    test_greenlet_destroy(a);
}

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

/* ---- greenlet_kill ------------------------------------------------- */

static void test_kill_runs_cleanup_until_dead(void **state)
{
    greenlet_t *g = new_suspended(suspend_propagate_run, NULL, "g");

    (void)state;
    assert_int_equal(greenlet_kill(g), 0);
    assert_true(greenlet_dead(g));
    assert_log_equal(&events, "g:start(in),g:resumed(-1,NULL)");
    test_greenlet_destroy(g);
}

static void test_kill_of_greenlet_that_returns_normally(void **state)
{
    greenlet_t *g = new_suspended(suspend_run, NULL, "g");

    (void)state;
    assert_int_equal(greenlet_kill(g), 0);
    assert_true(greenlet_dead(g));
    assert_log_equal(&events, "g:start(in),g:resumed(-1,NULL)");
    test_greenlet_destroy(g);
}

static void test_kill_delivers_to_caller_not_parent(void **state)
{
    greenlet_t *relay = new_started_relay("relay");
    greenlet_t *g = new_suspended(suspend_propagate_run, relay, "g");

    (void)state;
    assert_int_equal(greenlet_kill(g), 0);
    assert_true(greenlet_dead(g));
    /* The relay never saw g's death, and is g's parent again. */
    assert_log_equal(&events, "relay:got(start),g:start(in),"
                              "g:resumed(-1,NULL)");
    assert_ptr_equal(greenlet_parent(g), relay);
    assert_int_equal(greenlet_kill(relay), 0);
    test_greenlet_destroy(g);
    test_greenlet_destroy(relay);
}

static void test_kill_of_greenlet_that_refuses_is_ebusy(void **state)
{
    greenlet_t *heir = test_greenlet_new(tagged_return_run, NULL, 0, "heir");
    greenlet_t *g = test_greenlet_new(stubborn_run, heir, 0, "g");
    void *result = NULL;

    (void)state;
    assert_int_equal(greenlet_switch(g, NULL, &result), 0);
    assert_int_equal(greenlet_kill(g), EBUSY);
    assert_true(greenlet_active(g));
    assert_ptr_equal(greenlet_parent(g), heir);
    assert_log_equal(&events, "g:refuses(-1)");

    /* Resumed with a value it returns it, to its restored parent. */
    assert_int_equal(greenlet_switch(g, "finally", &result), 0);
    assert_string_equal(str(result), "finally");
    assert_true(greenlet_dead(g));
    assert_log_equal(&events, "g:refuses(-1),heir:run(finally)");
    test_greenlet_destroy(g);
    test_greenlet_destroy(heir);
}

static void test_kill_of_unstarted_never_runs_it(void **state)
{
    greenlet_t *g = test_greenlet_new(tagged_return_run, NULL, 0, "g");

    (void)state;
    assert_int_equal(greenlet_kill(g), 0);
    assert_true(greenlet_dead(g));
    assert_log_equal(&events, "");
    test_greenlet_destroy(g);
}

static void test_kill_of_dead_is_harmless(void **state)
{
    greenlet_t *g = test_greenlet_new(tagged_return_run, NULL, 0, "g");

    (void)state;
    assert_int_equal(greenlet_switch(g, "v", NULL), 0);
    assert_int_equal(greenlet_kill(g), 0);
    assert_true(greenlet_dead(g));
    assert_log_equal(&events, "g:run(v)");
    test_greenlet_destroy(g);
}

static void *kill_self_and_main_run(void *value)
{
    test_log_add(&events, "kill-self=%d", greenlet_kill(greenlet_current()));
    test_log_add(&events, "kill-main=%d", greenlet_kill(greenlet_main()));
    return value;
}

static void test_kill_of_current_or_main_is_refused(void **state)
{
    greenlet_t *g = test_greenlet_new(kill_self_and_main_run, NULL, 0, "g");
    void *result = NULL;
    char expected[64];

    (void)state;
    assert_int_equal(greenlet_kill(greenlet_main()), EPERM);
    assert_int_equal(greenlet_kill(NULL), EINVAL);
    assert_int_equal(greenlet_switch(g, "v", &result), 0);
    assert_string_equal(str(result), "v");
    snprintf(expected, sizeof(expected), "kill-self=%d,kill-main=%d", EPERM,
             EPERM);
    assert_log_equal(&events, expected);
    test_greenlet_destroy(g);
}

/* On being killed, hands control to `subject` (a helper), which comes
 * back before this greenlet dies. */
static void *cleanup_via_helper_run(void *value)
{
    void *resumed_with;
    int rc = suspend_to_main(value, &resumed_with);

    if (rc != 0) {
        test_log_add(&events, "%s:to-helper=%d", current_name(),
                     greenlet_switch(subject, greenlet_current(), NULL));
        greenlet_exit(rc, NULL);
    }
    return resumed_with;
}

/* Switches back to the greenlet it was given, then waits. */
static void *helper_run(void *value)
{
    test_log_add(&events, "%s:helping", current_name());
    greenlet_switch(value, NULL, NULL);
    test_log_add(&events, "%s:resumed", current_name());
    return NULL;
}

static void test_kill_waits_for_cleanup_through_another_greenlet(void **state)
{
    greenlet_t *g = new_suspended(cleanup_via_helper_run, NULL, "g");
    greenlet_t *helper = test_greenlet_new(helper_run, NULL, 0, "helper");

    (void)state;
    subject = helper;
    /* g leaves and comes back before dying: control returns to the
     * killer only at g's death. */
    assert_int_equal(greenlet_kill(g), 0);
    assert_true(greenlet_dead(g));
    assert_true(greenlet_active(helper));
    assert_log_equal(&events, "g:start(in),g:resumed(-1,NULL),"
                              "helper:helping,g:to-helper=0");
    test_greenlet_destroy(g);
    test_greenlet_destroy(helper);
    assert_log_equal(&events, "g:start(in),g:resumed(-1,NULL),"
                              "helper:helping,g:to-helper=0,helper:resumed");
}

/* ---- greenlet_destroy ---------------------------------------------- */

static void test_destroy_unstarted_never_runs_it(void **state)
{
    greenlet_t *g = test_greenlet_new(tagged_return_run, NULL, 0, "g");

    (void)state;
    assert_int_equal(greenlet_destroy(g), 0);
    assert_log_equal(&events, "");
}

static void test_destroy_dead(void **state)
{
    greenlet_t *g = test_greenlet_new(tagged_return_run, NULL, 0, "g");

    (void)state;
    assert_int_equal(greenlet_switch(g, "v", NULL), 0);
    assert_int_equal(greenlet_destroy(g), 0);
    assert_log_equal(&events, "g:run(v)");
}

static void test_destroy_suspended_runs_its_cleanup(void **state)
{
    greenlet_t *g = new_suspended(suspend_propagate_run, NULL, "g");

    (void)state;
    assert_int_equal(greenlet_destroy(g), 0);
    assert_log_equal(&events, "g:start(in),g:resumed(-1,NULL)");
    assert_ptr_equal(greenlet_current(), greenlet_main());
}

/* Logs which greenlet is its parent while it cleans up: `expected_parent`
 * (the destroyer) or another one. */
static void *record_parent_at_cleanup_run(void *value)
{
    void *resumed_with;
    int rc = suspend_to_main(value, &resumed_with);

    test_log_add(&events, "%s:cleanup-parent-is-destroyer=%d", current_name(),
                 greenlet_parent(greenlet_current()) == expected_parent);
    if (rc != 0)
        greenlet_exit(rc, NULL);
    return "victim-result";
}

/* Destroys `subject` and logs the outcome. */
static void *destroyer_run(void *value)
{
    int rc = greenlet_destroy(subject);

    test_log_add(&events, "%s:destroy=%d", current_name(), rc);
    return value;
}

static void test_destroy_suspended_from_greenlet_delivers_to_it(void **state)
{
    greenlet_t *relay = new_started_relay("relay");
    greenlet_t *victim =
        new_suspended(record_parent_at_cleanup_run, relay, "victim");
    greenlet_t *destroyer = test_greenlet_new(destroyer_run, NULL, 0, "d");
    void *result = NULL;

    (void)state;
    subject = victim;
    expected_parent = destroyer;
    assert_int_equal(greenlet_switch(destroyer, "d-done", &result), 0);
    /* The victim's end came back to the destroyer, which went on and
     * returned; the relay (the victim's own parent) was never resumed. */
    assert_string_equal(str(result), "d-done");
    assert_log_equal(&events, "relay:got(start),victim:start(in),"
                              "victim:resumed(-1,NULL),"
                              "victim:cleanup-parent-is-destroyer=1,"
                              "d:destroy=0");
    assert_int_equal(greenlet_kill(relay), 0);
    test_greenlet_destroy(destroyer);
    test_greenlet_destroy(relay);
}

/* Its cleanup destroys `subject`, another suspended greenlet. */
static void *destroy_subject_on_cleanup_run(void *value)
{
    void *resumed_with;
    int rc = suspend_to_main(value, &resumed_with);

    if (rc != 0) {
        test_log_add(&events, "%s:destroy-other=%d", current_name(),
                     greenlet_destroy(subject));
        greenlet_exit(rc, NULL);
    }
    return resumed_with;
}

static void test_destroy_whose_cleanup_destroys_another(void **state)
{
    greenlet_t *other = new_suspended(suspend_propagate_run, NULL, "o");
    greenlet_t *victim =
        new_suspended(destroy_subject_on_cleanup_run, NULL, "v");

    (void)state;
    subject = other;
    assert_int_equal(greenlet_destroy(victim), 0);
    assert_ptr_equal(greenlet_current(), greenlet_main());
    assert_log_equal(&events, "o:start(in),v:start(in),v:resumed(-1,NULL),"
                              "o:resumed(-1,NULL),v:destroy-other=0");
}

static void test_destroy_of_greenlet_that_refuses_is_ebusy(void **state)
{
    greenlet_t *heir = test_greenlet_new(tagged_return_run, NULL, 0, "heir");
    greenlet_t *g = test_greenlet_new(stubborn_run, heir, 0, "g");
    void *result = NULL;

    (void)state;
    assert_int_equal(greenlet_switch(g, NULL, &result), 0);
    assert_int_equal(greenlet_destroy(g), EBUSY);
    /* Still alive and usable, with its own parent back. */
    assert_true(greenlet_active(g));
    assert_ptr_equal(greenlet_parent(g), heir);
    assert_int_equal(greenlet_destroy(g), EBUSY);
    assert_log_equal(&events, "g:refuses(-1),g:refuses(-1)");

    assert_int_equal(greenlet_switch(g, "finally", &result), 0);
    assert_string_equal(str(result), "finally");
    assert_log_equal(&events, "g:refuses(-1),g:refuses(-1),"
                              "heir:run(finally)");
    test_greenlet_destroy(g);
    test_greenlet_destroy(heir);
}

static void *destroy_self_and_main_run(void *value)
{
    test_log_add(&events, "destroy-self=%d",
                 greenlet_destroy(greenlet_current()));
    test_log_add(&events, "destroy-main=%d", greenlet_destroy(greenlet_main()));
    return value;
}

static void test_destroy_of_current_or_main_is_refused(void **state)
{
    greenlet_t *g = test_greenlet_new(destroy_self_and_main_run, NULL, 0, "g");
    char expected[64];

    (void)state;
    assert_int_equal(greenlet_destroy(greenlet_main()), EPERM);
    assert_int_equal(greenlet_destroy(NULL), EINVAL);
    assert_int_equal(greenlet_switch(g, "v", NULL), 0);
    snprintf(expected, sizeof(expected), "destroy-self=%d,destroy-main=%d",
             EPERM, EPERM);
    assert_log_equal(&events, expected);
    assert_true(greenlet_is_main(greenlet_current()));
    test_greenlet_destroy(g);
}

static void test_destroyed_dead_parent_still_skipped(void **state)
{
    greenlet_t *a = test_greenlet_new(return_value_run, NULL, 0, "a");
    greenlet_t *b = test_greenlet_new(suspend_propagate_run, a, 0, "b");
    greenlet_t *newcomer;
    void *result = NULL;

    (void)state;
    assert_int_equal(greenlet_switch(b, "b-in", &result), 0);
    assert_int_equal(greenlet_switch(a, "a-in", &result), 0);
    /* a is dead; its handle goes, but b still names it as parent.  A
     * greenlet made now must not take a's place as b's parent. */
    test_greenlet_destroy(a);
    newcomer = test_greenlet_new(tagged_return_run, NULL, 0, "newcomer");
    assert_int_equal(greenlet_switch(b, "b-out", &result), 0);
    assert_string_equal(str(result), "b-out");
    assert_false(greenlet_started(newcomer));
    assert_log_equal(&events, "b:start(b-in),b:resumed(0,b-out)");
    test_greenlet_destroy(newcomer);
    test_greenlet_destroy(b);
}

static void test_destroy_suspended_parent_of_live_child(void **state)
{
    greenlet_t *p = test_greenlet_new(suspend_run, NULL, 0, "p");
    greenlet_t *c = test_greenlet_new(suspend_propagate_run, p, 0, "c");
    void *result = NULL;

    (void)state;
    assert_int_equal(greenlet_switch(p, "p-in", &result), 0);
    assert_int_equal(greenlet_switch(c, "c-in", &result), 0);
    test_greenlet_destroy(p);
    /* c's parent is dead now: its result goes on to main. */
    assert_int_equal(greenlet_switch(c, "c-out", &result), 0);
    assert_string_equal(str(result), "c-out");
    assert_log_equal(&events, "p:start(p-in),c:start(c-in),"
                              "p:resumed(-1,NULL),c:resumed(0,c-out)");
    test_greenlet_destroy(c);
}

/* ---- Parents ------------------------------------------------------- */

static void test_set_parent_refuses_cycles(void **state)
{
    greenlet_t *a = test_greenlet_new(return_value_run, NULL, 0, "a");
    greenlet_t *b = test_greenlet_new(return_value_run, a, 0, "b");
    greenlet_t *c = test_greenlet_new(return_value_run, b, 0, "c");

    (void)state;
    assert_int_equal(greenlet_set_parent(a, a), ELOOP);
    assert_int_equal(greenlet_set_parent(a, b), ELOOP);
    assert_int_equal(greenlet_set_parent(a, c), ELOOP);
    assert_ptr_equal(greenlet_parent(a), greenlet_main());
    assert_ptr_equal(greenlet_parent(b), a);
    /* A main greenlet never has a parent. */
    assert_int_equal(greenlet_set_parent(greenlet_main(), c), EPERM);
    assert_null(greenlet_parent(greenlet_main()));
    test_greenlet_destroy(c);
    test_greenlet_destroy(b);
    test_greenlet_destroy(a);
}

static void test_set_parent_rejects_null(void **state)
{
    greenlet_t *g = test_greenlet_new(return_value_run, NULL, 0, "g");

    (void)state;
    assert_int_equal(greenlet_set_parent(g, NULL), EINVAL);
    assert_int_equal(greenlet_set_parent(NULL, g), EINVAL);
    assert_ptr_equal(greenlet_parent(g), greenlet_main());
    test_greenlet_destroy(g);
}

static void test_set_parent_redirects_result(void **state)
{
    greenlet_t *relay = new_started_relay("relay");
    greenlet_t *g = test_greenlet_new(return_value_run, NULL, 0, "g");
    void *result = NULL;

    (void)state;
    assert_int_equal(greenlet_set_parent(g, relay), 0);
    assert_ptr_equal(greenlet_parent(g), relay);
    assert_int_equal(greenlet_switch(g, "via-relay", &result), 0);
    assert_string_equal(str(result), "via-relay");
    assert_log_equal(&events, "relay:got(start),relay:got(via-relay)");
    assert_int_equal(greenlet_kill(relay), 0);
    test_greenlet_destroy(g);
    test_greenlet_destroy(relay);
}

static void test_set_parent_to_dead_greenlet_skips_it(void **state)
{
    greenlet_t *dead = test_greenlet_new(return_value_run, NULL, 0, "dead");
    greenlet_t *g = test_greenlet_new(tagged_return_run, NULL, 0, "g");
    void *result = NULL;

    (void)state;
    assert_int_equal(greenlet_switch(dead, "gone", NULL), 0);
    assert_int_equal(greenlet_set_parent(g, dead), 0);
    assert_ptr_equal(greenlet_parent(g), dead);
    assert_int_equal(greenlet_switch(g, "through", &result), 0);
    assert_string_equal(str(result), "through");
    assert_log_equal(&events, "g:run(through)");
    test_greenlet_destroy(g);
    test_greenlet_destroy(dead);
}

/* ---- Introspection ------------------------------------------------- */

static void test_name_and_userdata(void **state)
{
    greenlet_t *g = test_greenlet_new(return_value_run, NULL, 0, NULL);
    char new_name[] = "renamed";
    int data;
    int rc;

    (void)state;
    assert_int_equal(greenlet_set_name(g, new_name), 0);
    new_name[0] = 'X';
    assert_string_equal(greenlet_name(g), "renamed");
    assert_int_equal(greenlet_set_name(g, ""), 0);
    assert_string_equal(greenlet_name(g), "");
    assert_int_equal(greenlet_set_name(NULL, "x"), EINVAL);
    /* The header leaves a NULL name open: refused, or no name (as a NULL
     * attr.name gives). */
    assert_int_equal(greenlet_set_name(g, "again"), 0);
    rc = greenlet_set_name(g, NULL);
    assert_true(rc == EINVAL || rc == 0);
    assert_string_equal(greenlet_name(g), rc == 0 ? "" : "again");

    assert_null(greenlet_userdata(g));
    greenlet_set_userdata(g, &data);
    assert_ptr_equal(greenlet_userdata(g), &data);
    greenlet_set_userdata(g, NULL);
    assert_null(greenlet_userdata(g));
    test_greenlet_destroy(g);

    /* The main greenlet has one too. */
    greenlet_set_userdata(greenlet_main(), &data);
    assert_ptr_equal(greenlet_userdata(greenlet_main()), &data);
    greenlet_set_userdata(greenlet_main(), NULL);
    assert_null(greenlet_userdata(greenlet_main()));
}

static void test_null_handle_queries(void **state)
{
    const char *name;

    (void)state;
    assert_false(greenlet_started(NULL));
    assert_false(greenlet_dead(NULL));
    assert_false(greenlet_active(NULL));
    assert_false(greenlet_is_main(NULL));
    assert_null(greenlet_parent(NULL));
    assert_null(greenlet_userdata(NULL));
    assert_int_equal(greenlet_stack_size(NULL), 0);
    /* The header leaves the name of NULL open; it must not crash and
     * must not pretend to be a greenlet's name. */
    name = greenlet_name(NULL);
    assert_true(name == NULL || strcmp(name, "") == 0);
    greenlet_set_userdata(NULL, &events);
    assert_null(greenlet_userdata(NULL));
}

static void test_null_handle_operations(void **state)
{
    void *result = "sentinel";

    (void)state;
    assert_int_equal(greenlet_switch(NULL, "v", &result), EINVAL);
    assert_null(result);
    result = "sentinel";
    assert_int_equal(greenlet_throw(NULL, 3, &result), EINVAL);
    assert_null(result);
    assert_int_equal(greenlet_kill(NULL), EINVAL);
    assert_int_equal(greenlet_destroy(NULL), EINVAL);
    assert_int_equal(greenlet_set_parent(NULL, greenlet_main()), EINVAL);
    assert_int_equal(greenlet_set_name(NULL, "n"), EINVAL);
    assert_ptr_equal(greenlet_current(), greenlet_main());
}

/* ---- Tracing ------------------------------------------------------- */

#define MAX_TRACE_RECORDS 16

struct trace_record {
    greenlet_event_t event;
    greenlet_t *origin;
    greenlet_t *target;
    greenlet_t *running;  /* greenlet_current() inside the hook */
    uintptr_t hook_frame; /* a local of the hook: which stack it ran on */
};

static struct trace_record trace_records[MAX_TRACE_RECORDS];
static size_t trace_count;

static void recording_hook(greenlet_event_t event, greenlet_t *origin,
                           greenlet_t *target)
{
    volatile char frame_marker = 0;

    if (trace_count < MAX_TRACE_RECORDS) {
        trace_records[trace_count].hook_frame = (uintptr_t)&frame_marker;
        trace_records[trace_count].event = event;
        trace_records[trace_count].origin = origin;
        trace_records[trace_count].target = target;
        trace_records[trace_count].running = greenlet_current();
    }
    trace_count++;
}

static void other_hook(greenlet_event_t event, greenlet_t *origin,
                       greenlet_t *target)
{
    (void)event;
    (void)origin;
    (void)target;
}

static void test_settrace_returns_previous_hook(void **state)
{
    (void)state;
    assert_null(greenlet_set_trace(recording_hook));
    assert_ptr_equal(greenlet_set_trace(other_hook), recording_hook);
    assert_ptr_equal(greenlet_set_trace(NULL), other_hook);
    assert_null(greenlet_set_trace(NULL));
}

static void assert_trace_record(size_t index, greenlet_event_t event,
                                greenlet_t *origin, greenlet_t *target)
{
    assert_true(index < trace_count);
    assert_int_equal(trace_records[index].event, event);
    assert_ptr_equal(trace_records[index].origin, origin);
    assert_ptr_equal(trace_records[index].target, target);
    assert_ptr_equal(trace_records[index].running, target);
}

static void test_trace_hook_sees_switches_and_throws(void **state)
{
    greenlet_t *main_greenlet = greenlet_main();
    greenlet_t *g = test_greenlet_new(suspend_run, NULL, 0, "g");
    void *result = NULL;

    (void)state;
    trace_count = 0;
    assert_null(greenlet_set_trace(recording_hook));
    assert_int_equal(greenlet_switch(g, "in", &result), 0);
    assert_int_equal(greenlet_throw(g, 11, &result), 0);
    assert_ptr_equal(greenlet_set_trace(NULL), recording_hook);

    assert_int_equal(trace_count, 4);
    assert_trace_record(0, GREENLET_EVENT_SWITCH, main_greenlet, g);
    assert_trace_record(1, GREENLET_EVENT_SWITCH, g, main_greenlet);
    assert_trace_record(2, GREENLET_EVENT_THROW, main_greenlet, g);
    /* g's return is a switch from g to its parent. */
    assert_trace_record(3, GREENLET_EVENT_SWITCH, g, main_greenlet);

    /* Removed: no more calls. */
    test_greenlet_destroy(g);
    g = test_greenlet_new(tagged_return_run, NULL, 0, "g2");
    assert_int_equal(greenlet_switch(g, "x", NULL), 0);
    assert_int_equal(trace_count, 4);
    test_greenlet_destroy(g);
}

static void test_trace_hook_sees_deaths_by_error_and_kill(void **state)
{
    greenlet_t *main_greenlet = greenlet_main();
    greenlet_t *thrown = new_suspended(suspend_propagate_run, NULL, "t");
    greenlet_t *killed = new_suspended(suspend_propagate_run, NULL, "k");

    (void)state;
    trace_count = 0;
    assert_null(greenlet_set_trace(recording_hook));
    assert_int_equal(greenlet_throw(thrown, 12, NULL), 12);
    assert_int_equal(greenlet_kill(killed), 0);
    greenlet_set_trace(NULL);

    assert_int_equal(trace_count, 4);
    assert_trace_record(0, GREENLET_EVENT_THROW, main_greenlet, thrown);
    /* Dying with an error throws it into the parent. */
    assert_trace_record(1, GREENLET_EVENT_THROW, thrown, main_greenlet);
    assert_trace_record(2, GREENLET_EVENT_THROW, main_greenlet, killed);
    /* Dying with GREENLET_EXIT is a normal result: a switch. */
    assert_trace_record(3, GREENLET_EVENT_SWITCH, killed, main_greenlet);
    test_greenlet_destroy(thrown);
    test_greenlet_destroy(killed);
}

static uintptr_t traced_greenlet_frame;

/* Records where its stack is, then suspends twice, catching whatever it
 * is resumed with. */
static void *record_frame_then_suspend_run(void *value)
{
    volatile char frame_marker = 0;

    traced_greenlet_frame = (uintptr_t)&frame_marker;
    greenlet_switch(greenlet_main(), value, NULL);
    greenlet_switch(greenlet_main(), value, NULL);
    return value;
}

/* True if address lies on the stack of the greenlet whose run() has a
 * local at frame: within its stack size of that local. */
static int on_stack_of(uintptr_t address, uintptr_t frame, size_t stack_size)
{
    return address < frame ? frame - address < stack_size
                           : address - frame < stack_size;
}

static void test_trace_hook_runs_in_target_greenlet(void **state)
{
    greenlet_t *main_greenlet = greenlet_main();
    greenlet_t *g =
        test_greenlet_new(record_frame_then_suspend_run, NULL, 0, "g");
    size_t stack_size = greenlet_stack_size(g);
    size_t i;

    (void)state;
    trace_count = 0;
    assert_null(greenlet_set_trace(recording_hook));
    assert_int_equal(greenlet_switch(g, "start", NULL), 0);
    assert_int_equal(greenlet_switch(g, "resume", NULL), 0);
    assert_int_equal(greenlet_throw(g, 13, NULL), 0);
    greenlet_set_trace(NULL);

    /* Into g by its start, a switch and a throw; back to main by two
     * switches and g's return. */
    assert_int_equal(trace_count, 6);
    assert_trace_record(0, GREENLET_EVENT_SWITCH, main_greenlet, g);
    assert_trace_record(1, GREENLET_EVENT_SWITCH, g, main_greenlet);
    assert_trace_record(2, GREENLET_EVENT_SWITCH, main_greenlet, g);
    assert_trace_record(3, GREENLET_EVENT_SWITCH, g, main_greenlet);
    assert_trace_record(4, GREENLET_EVENT_THROW, main_greenlet, g);
    assert_trace_record(5, GREENLET_EVENT_SWITCH, g, main_greenlet);
    for (i = 0; i < trace_count; i++) {
        int on_g = on_stack_of(trace_records[i].hook_frame,
                               traced_greenlet_frame, stack_size);

        if (on_g != (trace_records[i].target == g))
            fail_msg("trace call %zu ran on the wrong stack", i);
    }
    test_greenlet_destroy(g);
}

/* ---- Generators ---------------------------------------------------- */

/* A generator: a greenlet whose body yields values to whoever calls
 * generator_next(), which is its parent. */
struct generator {
    greenlet_t *greenlet;
    void (*body)(struct generator *self);
    const char *items; /* for the permutation generators */
    char current[8];   /* the permutation being yielded */
};

static void *generator_run(void *value)
{
    struct generator *self = greenlet_userdata(greenlet_current());

    (void)value;
    self->body(self);
    return NULL;
}

/* Made on the consumer's greenlet, so the consumer is the parent. */
static int generator_init(struct generator *gen,
                          void (*body)(struct generator *), const char *items)
{
    int rc = greenlet_new(&gen->greenlet, generator_run, NULL, NULL);

    if (rc != 0)
        return rc;
    gen->body = body;
    gen->items = items;
    greenlet_set_userdata(gen->greenlet, gen);
    return 0;
}

/* An error from the consumer (a kill) ends the generator, like Python's
 * GeneratorExit. */
static void generator_yield(void *value)
{
    int rc = greenlet_switch(greenlet_parent(greenlet_current()), value, NULL);

    if (rc != 0)
        greenlet_exit(rc, NULL);
}

/* 1 and *value set while the generator yields, 0 once it has ended,
 * -1 on an error. */
static int generator_next(struct generator *gen, void **value)
{
    if (greenlet_switch(gen->greenlet, NULL, value) != 0)
        return -1;
    return greenlet_dead(gen->greenlet) ? 0 : 1;
}

#define TWICE_COUNT 50

/* Yielding from a nested call, not only from the body itself. */
static __attribute__((noinline)) void yield_twice(intptr_t number)
{
    generator_yield(TEST_INT_VALUE(number));
    generator_yield(TEST_INT_VALUE(number));
}

static void yield_each_number_twice(struct generator *self)
{
    intptr_t number;

    (void)self;
    for (number = 0; number < TWICE_COUNT; number++)
        yield_twice(number);
}

static void test_generator_yields_each_number_twice(void **state)
{
    struct generator gen;
    void *value = NULL;
    intptr_t expected = 0;
    int more;

    (void)state;
    assert_int_equal(generator_init(&gen, yield_each_number_twice, NULL), 0);
    while ((more = generator_next(&gen, &value)) == 1) {
        assert_int_equal(TEST_VALUE_INT(value), expected / 2);
        expected++;
    }
    assert_int_equal(more, 0);
    assert_int_equal(expected, 2 * TWICE_COUNT);
    test_greenlet_destroy(gen.greenlet);
}

static void test_abandoned_generator_is_cleaned_up(void **state)
{
    struct generator gen;
    void *value = NULL;

    (void)state;
    assert_int_equal(generator_init(&gen, yield_each_number_twice, NULL), 0);
    assert_int_equal(generator_next(&gen, &value), 1);
    assert_int_equal(generator_next(&gen, &value), 1);
    assert_int_equal(generator_next(&gen, &value), 1);
    assert_int_equal(TEST_VALUE_INT(value), 1);
    /* Suspended in the middle of yield_twice(): destroy kills it. */
    test_greenlet_destroy(gen.greenlet);
}

/* Yields every permutation of self->items, each built by a recursive
 * generator over the items without the one put first. */
static void yield_permutations(struct generator *self)
{
    size_t count = strlen(self->items);
    size_t first;

    if (count <= 1) {
        memcpy(self->current, self->items, count + 1);
        generator_yield(self->current);
        return;
    }
    for (first = 0; first < count; first++) {
        char rest[sizeof(self->current)];
        struct generator sub;
        void *tail;

        memcpy(rest, self->items, first);
        memcpy(rest + first, self->items + first + 1, count - first);
        if (generator_init(&sub, yield_permutations, rest) != 0)
            greenlet_exit(ENOMEM, NULL);
        while (generator_next(&sub, &tail) == 1) {
            self->current[0] = self->items[first];
            memcpy(self->current + 1, tail, count);
            generator_yield(self->current);
        }
        greenlet_destroy(sub.greenlet);
    }
}

static int is_permutation_of(const char *candidate, const char *items)
{
    size_t count = strlen(items);
    size_t i;

    if (strlen(candidate) != count)
        return 0;
    for (i = 0; i < count; i++)
        if (memchr(candidate, items[i], count) == NULL)
            return 0;
    return 1;
}

static void test_nested_generators_make_24_permutations(void **state)
{
    const char *items = "abcd";
    char seen[32][8];
    size_t seen_count = 0;
    struct generator gen;
    void *value = NULL;
    size_t i;
    int more;

    (void)state;
    assert_int_equal(generator_init(&gen, yield_permutations, items), 0);
    while ((more = generator_next(&gen, &value)) == 1) {
        assert_true(seen_count < 32);
        assert_true(is_permutation_of(value, items));
        for (i = 0; i < seen_count; i++)
            assert_string_not_equal(seen[i], value);
        strcpy(seen[seen_count++], value);
    }
    assert_int_equal(more, 0);
    assert_int_equal(seen_count, 24);
    test_greenlet_destroy(gen.greenlet);
}

/* ---- Machine state across switches --------------------------------- */

static void *bounce_run(void *value)
{
    while (greenlet_switch(greenlet_main(), value, &value) == 0)
        ;
    return NULL;
}

/* Many values live across switches, so the compiler keeps some in
 * callee-saved registers (integer and, on aarch64, d8-d15). */
static void test_registers_survive_switches(void **state)
{
    volatile long seed = 3;
    volatile double fseed = 1.25;
    long a = seed, b = seed * 2, c = seed * 3, d = seed * 5, e = seed * 7,
         f = seed * 11;
    double x = fseed, y = fseed * 2, z = fseed * 3, w = fseed * 4;
    greenlet_t *g = test_greenlet_new(bounce_run, NULL, 0, "bounce");
    long i;

    (void)state;
    for (i = 0; i < 1000; i++) {
        void *back = NULL;

        assert_int_equal(greenlet_switch(g, TEST_INT_VALUE(i), &back), 0);
        assert_int_equal(TEST_VALUE_INT(back), i);
        a += 1;
        b += a;
        c ^= b;
        d += c;
        e -= d;
        f += e ^ a;
        x += 0.5;
        y += x;
        z -= 0.25;
        w = w * 0.5 + y;
    }
    /* The same arithmetic without switches. */
    {
        long ea = seed, eb = seed * 2, ec = seed * 3, ed = seed * 5,
             ee = seed * 7, ef = seed * 11;
        double ex = fseed, ey = fseed * 2, ez = fseed * 3, ew = fseed * 4;

        for (i = 0; i < 1000; i++) {
            ea += 1;
            eb += ea;
            ec ^= eb;
            ed += ec;
            ee -= ed;
            ef += ee ^ ea;
            ex += 0.5;
            ey += ex;
            ez -= 0.25;
            ew = ew * 0.5 + ey;
        }
        assert_int_equal(a, ea);
        assert_int_equal(b, eb);
        assert_int_equal(c, ec);
        assert_int_equal(d, ed);
        assert_int_equal(e, ee);
        assert_int_equal(f, ef);
        assert_true(x == ex && y == ey && z == ez && w == ew);
    }
    assert_int_equal(greenlet_kill(g), 0);
    test_greenlet_destroy(g);
}

/* printf of a double in a greenlet uses SSE/NEON stores that need the
 * ABI's 16-byte stack alignment at function entry. */
static void *format_double_run(void *value)
{
    static char text[32];

    snprintf(text, sizeof(text), "%.3f|%Lf", *(double *)value,
             (long double)*(double *)value);
    return text;
}

static void test_greenlet_stack_is_abi_aligned(void **state)
{
    greenlet_t *g = test_greenlet_new(format_double_run, NULL, 0, NULL);
    double number = 1.5;
    void *result = NULL;

    (void)state;
    assert_int_equal(greenlet_switch(g, &number, &result), 0);
    assert_string_equal(str(result), "1.500|1.500000");
    test_greenlet_destroy(g);
}

#if defined(__x86_64__)
/* Each greenlet keeps its own SSE (MXCSR) and x87 control state, as the
 * switch saves and restores both. */
#define MXCSR_ROUND_UP 0x4000u
#define X87_ROUND_UP 0x0800u
#define ROUNDING_BITS_MXCSR 0x6000u
#define ROUNDING_BITS_X87 0x0c00u

static unsigned read_mxcsr(void)
{
    unsigned value;

    __asm__ volatile("stmxcsr %0" : "=m"(value));
    return value;
}

static void write_mxcsr(unsigned value)
{
    __asm__ volatile("ldmxcsr %0" : : "m"(value));
}

static unsigned short read_x87_control(void)
{
    unsigned short value;

    __asm__ volatile("fnstcw %0" : "=m"(value));
    return value;
}

static void write_x87_control(unsigned short value)
{
    __asm__ volatile("fldcw %0" : : "m"(value));
}

static unsigned child_mxcsr_after_resume;
static unsigned short child_x87_after_resume;

static void *round_up_run(void *value)
{
    unsigned mxcsr = read_mxcsr();
    unsigned short x87 = read_x87_control();

    write_mxcsr((mxcsr & ~ROUNDING_BITS_MXCSR) | MXCSR_ROUND_UP);
    write_x87_control(
        (unsigned short)((x87 & ~ROUNDING_BITS_X87) | X87_ROUND_UP));
    greenlet_switch(greenlet_main(), NULL, NULL);
    child_mxcsr_after_resume = read_mxcsr();
    child_x87_after_resume = read_x87_control();
    write_mxcsr(mxcsr);
    write_x87_control(x87);
    return value;
}

static void test_fp_control_state_is_per_greenlet(void **state)
{
    unsigned main_mxcsr = read_mxcsr();
    unsigned short main_x87 = read_x87_control();
    greenlet_t *g = test_greenlet_new(round_up_run, NULL, 0, NULL);

    (void)state;
    assert_int_equal(greenlet_switch(g, NULL, NULL), 0);
    assert_int_equal(read_mxcsr() & ROUNDING_BITS_MXCSR,
                     main_mxcsr & ROUNDING_BITS_MXCSR);
    assert_int_equal(read_x87_control() & ROUNDING_BITS_X87,
                     main_x87 & ROUNDING_BITS_X87);
    assert_int_equal(greenlet_switch(g, NULL, NULL), 0);
    assert_true(greenlet_dead(g));
    assert_int_equal(child_mxcsr_after_resume & ROUNDING_BITS_MXCSR,
                     MXCSR_ROUND_UP);
    assert_int_equal(child_x87_after_resume & ROUNDING_BITS_X87, X87_ROUND_UP);
    assert_int_equal(read_mxcsr(), main_mxcsr);
    assert_int_equal(read_x87_control(), main_x87);
    test_greenlet_destroy(g);
}
#endif

#define TEST(name) cmocka_unit_test_setup(name, reset_state)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_main_greenlet_made_on_first_use),
        TEST(test_current_inside_greenlet_is_that_greenlet),
        TEST(test_new_greenlet_is_unstarted_with_defaults),
        TEST(test_new_copies_name_and_applies_stack_size),
        TEST(test_new_rejects_invalid_arguments),
        TEST(test_new_with_explicit_parent),
        TEST(test_null_parent_is_current_at_creation),
        TEST(test_switch_values_flow_both_ways),
        TEST(test_transfer_returns_error_and_value_together),
        TEST(test_switch_result_pointer_may_be_null),
        TEST(test_switch_to_self_returns_value_at_once),
        TEST(test_ring_of_greenlets_passes_value_around),
        TEST(test_return_value_goes_to_parent),
        TEST(test_dead_parent_is_skipped),
        TEST(test_dead_parents_skipped_up_the_chain),
        TEST(test_unstarted_parent_is_started_with_result),
        TEST(test_switch_to_dead_goes_to_first_live_ancestor),
        TEST(test_switch_to_dead_child_of_current_returns_at_once),
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
        TEST(test_throw_rejects_invalid_arguments),
        TEST(test_throw_greenlet_exit_is_normal_result),
        TEST(test_kill_runs_cleanup_until_dead),
        TEST(test_kill_of_greenlet_that_returns_normally),
        TEST(test_kill_delivers_to_caller_not_parent),
        TEST(test_kill_of_greenlet_that_refuses_is_ebusy),
        TEST(test_kill_waits_for_cleanup_through_another_greenlet),
        TEST(test_kill_of_unstarted_never_runs_it),
        TEST(test_kill_of_dead_is_harmless),
        TEST(test_kill_of_current_or_main_is_refused),
        TEST(test_destroy_unstarted_never_runs_it),
        TEST(test_destroy_dead),
        TEST(test_destroy_suspended_runs_its_cleanup),
        TEST(test_destroy_suspended_from_greenlet_delivers_to_it),
        TEST(test_destroy_whose_cleanup_destroys_another),
        TEST(test_destroy_of_greenlet_that_refuses_is_ebusy),
        TEST(test_destroy_of_current_or_main_is_refused),
        TEST(test_destroyed_dead_parent_still_skipped),
        TEST(test_destroy_suspended_parent_of_live_child),
        TEST(test_set_parent_refuses_cycles),
        TEST(test_set_parent_rejects_null),
        TEST(test_set_parent_redirects_result),
        TEST(test_set_parent_to_dead_greenlet_skips_it),
        TEST(test_name_and_userdata),
        TEST(test_null_handle_queries),
        TEST(test_null_handle_operations),
        TEST(test_settrace_returns_previous_hook),
        TEST(test_trace_hook_sees_switches_and_throws),
        TEST(test_trace_hook_sees_deaths_by_error_and_kill),
        TEST(test_trace_hook_runs_in_target_greenlet),
        TEST(test_generator_yields_each_number_twice),
        TEST(test_abandoned_generator_is_cleaned_up),
        TEST(test_nested_generators_make_24_permutations),
        TEST(test_registers_survive_switches),
        TEST(test_greenlet_stack_is_abi_aligned),
#if defined(__x86_64__)
        TEST(test_fp_control_state_is_per_greenlet),
#endif
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The main greenlet, creation, switching and switch values, results
 * and parents, introspection.
 *
 * Greenlet bodies only record what they see (see test_util.h); the
 * assertions run on the main greenlet.
 */
#include "test_greenlet_util.h"

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
        TEST(test_set_parent_refuses_cycles),
        TEST(test_set_parent_rejects_null),
        TEST(test_set_parent_redirects_result),
        TEST(test_set_parent_to_dead_greenlet_skips_it),
        TEST(test_name_and_userdata),
        TEST(test_null_handle_queries),
        TEST(test_null_handle_operations),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

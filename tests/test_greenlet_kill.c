/*
 * Ending greenlets from outside: greenlet_kill() and greenlet_destroy().
 *
 * Greenlet bodies only record what they see (see test_util.h); the
 * assertions run on the main greenlet.
 */
#include "test_greenlet_util.h"

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

#define TEST(name) cmocka_unit_test_setup(name, reset_state)

int main(void)
{
    const struct CMUnitTest tests[] = {
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
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

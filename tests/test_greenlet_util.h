/*
 * Helpers shared by the test_greenlet_*.c programs: the event log, the
 * per-test reset, and greenlet bodies used by several of them.
 */
#ifndef GREEN_TEST_GREENLET_UTIL_H
#define GREEN_TEST_GREENLET_UTIL_H

#include <errno.h>
#include <unistd.h>

#include "test_util.h"

static struct test_log events;

/* Some tests hand a greenlet a second greenlet to act on, or name the
 * greenlet a body should compare against. */
static greenlet_t *subject;
static greenlet_t *expected_parent;

static inline int reset_state(void **state)
{
    (void)state;
    test_log_reset(&events);
    subject = NULL;
    expected_parent = NULL;
    greenlet_set_trace(NULL);
    return 0;
}

/* Switch values are strings in most tests, so the log can show them. */
static inline const char *str(const void *value)
{
    return value != NULL ? (const char *)value : "NULL";
}

static inline const char *current_name(void)
{
    return greenlet_name(greenlet_current());
}

/* ---- Greenlet bodies shared by several tests ---------------------- */

static inline void *return_value_run(void *value)
{
    return value;
}

/* Logs that it ran, then returns its value. */
static inline void *tagged_return_run(void *value)
{
    test_log_add(&events, "%s:run(%s)", current_name(), str(value));
    return value;
}

/* Suspends to the main greenlet once, logging its start and how it was
 * resumed.  Returns the resume code; *resumed_with gets the value. */
static inline int suspend_to_main(void *start_value, void **resumed_with)
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
static inline void *suspend_run(void *value)
{
    void *resumed_with;

    suspend_to_main(value, &resumed_with);
    return "done";
}

/* Suspends once; an error it is resumed with ends it with that error,
 * a value is returned. */
static inline void *suspend_propagate_run(void *value)
{
    void *resumed_with;
    int rc = suspend_to_main(value, &resumed_with);

    if (rc != 0)
        greenlet_exit(rc, NULL);
    return resumed_with;
}

/* Passes every value it gets to the main greenlet, until it is resumed
 * with an error: then it logs it and returns NULL. */
static inline void *relay_run(void *value)
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
static inline greenlet_t *new_started_relay(const char *name)
{
    greenlet_t *relay = test_greenlet_new(relay_run, NULL, 0, name);
    void *result = NULL;

    assert_int_equal(greenlet_switch(relay, "start", &result), 0);
    assert_string_equal(str(result), "start");
    return relay;
}

/* A greenlet started with "in" and now suspended in its first switch to
 * the main greenlet (the bodies above that suspend send "suspended"). */
static inline greenlet_t *new_suspended(greenlet_run_fn run, greenlet_t *parent,
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
static inline void *stubborn_run(void *value)
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

#endif /* GREEN_TEST_GREENLET_UTIL_H */

/*
 * Helpers shared by the tests of the hub and the layers above it.
 */
#ifndef GREEN_TEST_HUB_UTIL_H
#define GREEN_TEST_HUB_UTIL_H

#include "test_util.h"

#include <green/thread.h>

/* Teardown: every test leaves a fresh hub to the next one. */
static inline int destroy_hub(void **state)
{
    (void)state;
    return green_hub_destroy();
}

#define hub_test(fn) cmocka_unit_test_teardown(fn, destroy_hub)

static inline green_thread_t *spawn_or_fail(green_thread_fn fn, void *arg)
{
    green_thread_t *t = NULL;

    assert_int_equal(green_spawn(&t, fn, arg), 0);
    assert_non_null(t);
    return t;
}

#endif /* GREEN_TEST_HUB_UTIL_H */

/*
 * The trace hook (greenlet_set_trace()).
 *
 * Greenlet bodies only record what they see (see test_util.h); the
 * assertions run on the main greenlet.
 */
#include "test_greenlet_util.h"

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

/* Switches to itself, then throws into itself, with the hook on. */
static void *self_switch_run(void *value)
{
    greenlet_t *self = greenlet_current();

    greenlet_switch(self, value, NULL);
    greenlet_throw(self, 14, NULL);
    return value;
}

/* As in greenlet, a switch to the current greenlet is traced, with the
 * current greenlet as both origin and target. */
static void test_trace_hook_sees_switch_to_self(void **state)
{
    greenlet_t *main_greenlet = greenlet_main();
    greenlet_t *g = test_greenlet_new(self_switch_run, NULL, 0, "g");
    void *result = NULL;

    (void)state;
    trace_count = 0;
    assert_null(greenlet_set_trace(recording_hook));
    assert_int_equal(greenlet_switch(main_greenlet, "self", &result), 0);
    assert_string_equal(str(result), "self");
    assert_int_equal(greenlet_switch(g, "in", NULL), 0);
    greenlet_set_trace(NULL);

    assert_int_equal(trace_count, 5);
    assert_trace_record(0, GREENLET_EVENT_SWITCH, main_greenlet, main_greenlet);
    assert_trace_record(1, GREENLET_EVENT_SWITCH, main_greenlet, g);
    assert_trace_record(2, GREENLET_EVENT_SWITCH, g, g);
    assert_trace_record(3, GREENLET_EVENT_THROW, g, g);
    assert_trace_record(4, GREENLET_EVENT_SWITCH, g, main_greenlet);
    test_greenlet_destroy(g);
}

/* The greenlet the hook leaves for, once, when it sees `subject`. */
static greenlet_t *hook_detour;

static void detour_hook(greenlet_event_t event, greenlet_t *origin,
                        greenlet_t *target)
{
    greenlet_t *detour = hook_detour;

    (void)event;
    (void)origin;
    if (target == subject && detour != NULL) {
        hook_detour = NULL;
        greenlet_switch(detour, "to-detour", NULL);
    }
}

/* Goes straight back to `subject`, with a value of its own. */
static void *detour_run(void *value)
{
    test_log_add(&events, "detour(%s)", str(value));
    greenlet_switch(subject, "from-detour", NULL);
    return value;
}

/* As in greenlet, run() receives the value of the switch that started its
 * greenlet, even if the trace hook switched elsewhere and back first. */
static void test_start_value_survives_switches_in_hook(void **state)
{
    greenlet_t *detour = test_greenlet_new(detour_run, NULL, 0, "detour");
    greenlet_t *g = test_greenlet_new(tagged_return_run, NULL, 0, "g");
    void *result = NULL;

    (void)state;
    subject = g;
    hook_detour = detour;
    assert_null(greenlet_set_trace(detour_hook));
    assert_int_equal(greenlet_switch(g, "start", &result), 0);
    greenlet_set_trace(NULL);
    assert_string_equal(str(result), "start");
    assert_log_equal(&events, "detour(to-detour),g:run(start)");
    test_greenlet_destroy(g);
    test_greenlet_destroy(detour);
}

#define TEST(name) cmocka_unit_test_setup(name, reset_state)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_settrace_returns_previous_hook),
        TEST(test_trace_hook_sees_switches_and_throws),
        TEST(test_trace_hook_sees_deaths_by_error_and_kill),
        TEST(test_trace_hook_runs_in_target_greenlet),
        TEST(test_trace_hook_sees_switch_to_self),
        TEST(test_start_value_survives_switches_in_hook),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

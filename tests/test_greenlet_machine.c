/*
 * Machine state across switches: callee-saved registers, stack
 * alignment, floating-point control state.
 *
 * Greenlet bodies only record what they see (see test_util.h); the
 * assertions run on the main greenlet.
 */
#include "test_greenlet_util.h"

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
        TEST(test_registers_survive_switches),
        TEST(test_greenlet_stack_is_abi_aligned),
#if defined(__x86_64__)
        TEST(test_fp_control_state_is_per_greenlet),
#endif
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Helpers shared by the cmocka test programs.
 *
 * cmocka reports a failed assertion by longjmp()ing back to the test
 * runner, which lives on the main greenlet's stack of the main thread.  A
 * failing assertion inside another greenlet, or another OS thread, would
 * jump across stacks and leave the library's notion of the current greenlet
 * wrong.  So greenlet bodies and thread bodies only record what they see
 * (with test_log_add() or in plain variables), and the test asserts on the
 * record once control is back on the main greenlet.
 */
#ifndef GREEN_TEST_UTIL_H
#define GREEN_TEST_UTIL_H

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "green/greenlet.h"

/* ---- Scaling of heavy loops ---------------------------------------- */

/* Divides a heavy loop's iteration count when GREEN_TEST_SCALE says the
 * suite runs under valgrind, qemu or TSan, where each step costs 10-100
 * times more.  Never returns 0: the reduced run still exercises the code. */
static inline size_t test_scaled(size_t full_count)
{
    const char *scale = getenv("GREEN_TEST_SCALE");
    size_t divisor = 1;

    if (scale != NULL && strcmp(scale, "valgrind") == 0)
        divisor = 50;
    else if (scale != NULL &&
             (strcmp(scale, "qemu") == 0 || strcmp(scale, "tsan") == 0))
        divisor = 10;
    return full_count / divisor > 0 ? full_count / divisor : 1;
}

/* test_scaled() for a loop that starts a greenlet at every step: under
 * TSan each start makes a TSan fiber, milliseconds of work that grow with
 * the number of fibers alive, so such loops run a thousandth there. */
static inline size_t test_scaled_greenlets(size_t full_count)
{
    const char *scale = getenv("GREEN_TEST_SCALE");

    if (scale != NULL && strcmp(scale, "tsan") == 0)
        return full_count / 1000 > 0 ? full_count / 1000 : 1;
    return test_scaled(full_count);
}

/* True when GREEN_TEST_SCALE names the given runner ("valgrind", "qemu",
 * "tsan"). */
static inline int test_scale_is(const char *runner)
{
    const char *scale = getenv("GREEN_TEST_SCALE");

    return scale != NULL && strcmp(scale, runner) == 0;
}

/* ---- Example programs ----------------------------------------------- */

/* Path of an example built next to the tests: <dir of this test>/../
 * examples/<name>.  0 if it is there and executable. */
static inline int test_example_path(const char *name, char *path, size_t size)
{
    char self[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;

    if (length <= 0)
        return -1;
    self[length] = '\0';
    slash = strrchr(self, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    if (snprintf(path, size, "%s/../examples/%s", self, name) >= (int)size)
        return -1;
    return access(path, X_OK);
}

/* ---- Running one test ---------------------------------------------- */

/* GREEN_TEST_FILTER=<pattern> (cmocka's wildcards) runs only the matching
 * tests of a program, for debugging one failure.  Call in main() before
 * cmocka_run_group_tests(); unset, everything runs. */
static inline void test_filter_from_env(void)
{
    const char *pattern = getenv("GREEN_TEST_FILTER");

    if (pattern != NULL && pattern[0] != '\0')
        cmocka_set_test_filter(pattern);
}

/* ---- Reading /proc --------------------------------------------------- */

/* A "Name: N kB" field of /proc/self/status (VmRSS, VmSize, ...) in KiB;
 * 0 if it cannot be read.  No assertion, so a forked child may use it. */
static inline size_t test_proc_status_kib(const char *field)
{
    FILE *status = fopen("/proc/self/status", "r");
    size_t field_length = strlen(field);
    char line[256];
    size_t kib = 0;

    if (status == NULL)
        return 0;
    while (fgets(line, sizeof(line), status) != NULL)
        if (strncmp(line, field, field_length) == 0 &&
            line[field_length] == ':' &&
            sscanf(line + field_length + 1, "%zu", &kib) == 1)
            break;
    fclose(status);
    return kib;
}

/* The number of lines of a file such as /proc/self/maps; 0 if it cannot
 * be read. */
static inline size_t test_count_lines(const char *path)
{
    FILE *file = fopen(path, "r");
    size_t lines = 0;
    int c;

    if (file == NULL)
        return 0;
    while ((c = getc(file)) != EOF)
        if (c == '\n')
            lines++;
    fclose(file);
    return lines;
}

/* ---- Event log ----------------------------------------------------- */

/* An ordered record of what the greenlets of a test did, as a
 * comma-separated string, so that one assert_string_equal() checks both
 * which steps ran and in what order. */
#define TEST_LOG_CAPACITY 4096

struct test_log {
    char text[TEST_LOG_CAPACITY];
    size_t length;
    int overflowed;
};

static inline void test_log_reset(struct test_log *log)
{
    log->text[0] = '\0';
    log->length = 0;
    log->overflowed = 0;
}

/* Appends one entry, formatted like printf.  Running out of room is
 * recorded rather than asserted, since this runs inside greenlets. */
static inline void test_log_add(struct test_log *log, const char *format, ...)
{
    char entry[256];
    va_list args;
    int entry_length;

    va_start(args, format);
    entry_length = vsnprintf(entry, sizeof(entry), format, args);
    va_end(args);
    if (entry_length < 0 || (size_t)entry_length >= sizeof(entry) ||
        log->length + (size_t)entry_length + 2 > sizeof(log->text)) {
        log->overflowed = 1;
        return;
    }
    if (log->length > 0)
        log->text[log->length++] = ',';
    memcpy(log->text + log->length, entry, (size_t)entry_length + 1);
    log->length += (size_t)entry_length;
}

/* Asserts the log holds exactly the expected entries. */
#define assert_log_equal(log, expected)                                        \
    do {                                                                       \
        assert_false((log)->overflowed);                                       \
        assert_string_equal((log)->text, (expected));                          \
    } while (0)

/* ---- Greenlet creation --------------------------------------------- */

/* Makes a greenlet, failing the test if that fails.  stack_size 0 and
 * name NULL mean the defaults.  Call only from the main greenlet. */
static inline greenlet_t *test_greenlet_new(greenlet_run_fn run,
                                            greenlet_t *parent,
                                            size_t stack_size, const char *name)
{
    greenlet_attr_t attr = {.stack_size = stack_size, .name = name};
    greenlet_t *g = NULL;

    assert_int_equal(greenlet_new(&g, run, parent, &attr), 0);
    assert_non_null(g);
    return g;
}

/* Destroys a greenlet, failing the test if that is refused. */
static inline void test_greenlet_destroy(greenlet_t *g)
{
    assert_int_equal(greenlet_destroy(g), 0);
}

/* Pointer <-> integer for switch values. */
#define TEST_INT_VALUE(i) ((void *)(intptr_t)(i))
#define TEST_VALUE_INT(p) ((intptr_t)(p))

#endif /* GREEN_TEST_UTIL_H */

/*
 * Greenlet stacks: deep recursion near the stack size, guard-page overflow
 * reports (checked in child processes), 100,000 greenlets created, run and
 * destroyed, 200,000 guarded greenlets suspended at once within the default
 * vm.max_map_count, only touched pages costing memory, and clean failure
 * for impossible stack sizes.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

static size_t page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* ---- Deep recursion ------------------------------------------------ */

#define RECURSION_FRAME_BYTES 1024
/* Room left unused at the end of the stack: the last frame, the calls
 * above run() and, in sanitizer builds, larger frames. */
#define RECURSION_SPARE_BYTES ((size_t)24 * 1024)

struct recursion_probe {
    size_t target_bytes; /* how far below run()'s frame to reach */
    uintptr_t top;       /* a local of run() */
    uintptr_t deepest;   /* lowest frame reached */
    size_t corrupted;    /* frame bytes that changed behind our back */
};

/* Each frame holds a volatile array with a pattern checked on the way
 * back up, so a stack that is smaller than it claims, or shared, shows. */
static __attribute__((noinline)) void descend(struct recursion_probe *probe,
                                              unsigned depth)
{
    volatile unsigned char frame[RECURSION_FRAME_BYTES];
    uintptr_t here = (uintptr_t)frame;
    size_t i;

    for (i = 0; i < sizeof(frame); i++)
        frame[i] = (unsigned char)(depth * 7 + i);
    if (here < probe->deepest)
        probe->deepest = here;
    if (probe->top - here < probe->target_bytes)
        descend(probe, depth + 1);
    for (i = 0; i < sizeof(frame); i++)
        if (frame[i] != (unsigned char)(depth * 7 + i))
            probe->corrupted++;
}

static void *deep_recursion_run(void *value)
{
    struct recursion_probe *probe = value;
    volatile char top_marker = 0;

    probe->top = (uintptr_t)&top_marker;
    probe->deepest = probe->top;
    descend(probe, 0);
    return probe;
}

static void assert_recursion_reaches(size_t stack_size)
{
    greenlet_t *g =
        test_greenlet_new(deep_recursion_run, NULL, stack_size, "deep");
    struct recursion_probe probe = {.target_bytes =
                                        stack_size - RECURSION_SPARE_BYTES};
    void *result = NULL;

    assert_int_equal(greenlet_switch(g, &probe, &result), 0);
    assert_ptr_equal(result, &probe);
    assert_true(greenlet_dead(g));
    assert_int_equal(probe.corrupted, 0);
    assert_true(probe.top - probe.deepest >= probe.target_bytes);
    assert_true(probe.top - probe.deepest < greenlet_stack_size(g));
    test_greenlet_destroy(g);
}

static void test_recursion_close_to_default_stack_size(void **state)
{
    (void)state;
    assert_recursion_reaches(GREENLET_STACK_DEFAULT);
}

static void test_recursion_close_to_large_stack_size(void **state)
{
    (void)state;
    assert_recursion_reaches((size_t)1024 * 1024);
}

/* ---- Child processes ----------------------------------------------- */

/* cmocka installs its own SIGSEGV and SIGBUS handlers (with signal(): no
 * alternate stack) around every test, replacing the library's overflow
 * handler.  main() saves the handlers the library installed, and a child
 * that is meant to overflow puts them back: it then runs as any program
 * using libgreen would. */
static struct sigaction library_segv_action, library_bus_action;

static void restore_library_fault_handlers(void)
{
    sigaction(SIGSEGV, &library_segv_action, NULL);
    sigaction(SIGBUS, &library_bus_action, NULL);
}

#define CHILD_SURVIVED 77
#define CHILD_SETUP_FAILED 78
#define CHILD_OUTPUT_BYTES 16384

struct child_outcome {
    int status;
    int timed_out;
    char output[CHILD_OUTPUT_BYTES];
    size_t length;
};

/* Generous: an overflow takes milliseconds natively and a few seconds
 * under valgrind; still below CTest's own timeout, so that a hung child
 * fails this test with a clear message. */
/* Under valgrind at a load of 13, the two children that crash on a
 * guard among 4000 parked greenlets took about 80 s each. */
static int child_deadline_seconds(void)
{
    return test_scale_is("valgrind") || test_scale_is("qemu") ? 400 : 60;
}

/* Runs body(arg) in a forked child with its stderr captured; the child
 * exits with CHILD_SURVIVED if body returns. */
static void run_in_child(void (*body)(void *), void *arg,
                         struct child_outcome *outcome)
{
    int report_pipe[2];
    time_t deadline = time(NULL) + child_deadline_seconds();
    pid_t child;

    memset(outcome, 0, sizeof(*outcome));
    assert_int_equal(pipe(report_pipe), 0);
    fflush(stdout);
    fflush(stderr);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(report_pipe[0]);
        if (dup2(report_pipe[1], STDERR_FILENO) < 0)
            _exit(CHILD_SETUP_FAILED);
        restore_library_fault_handlers();
        body(arg);
        _exit(CHILD_SURVIVED);
    }
    close(report_pipe[1]);
    for (;;) {
        struct pollfd readable = {.fd = report_pipe[0], .events = POLLIN};
        ssize_t got;

        if (time(NULL) > deadline) {
            outcome->timed_out = 1;
            kill(child, SIGKILL);
            break;
        }
        if (poll(&readable, 1, 1000) <= 0)
            continue;
        if (outcome->length < sizeof(outcome->output) - 1) {
            got = read(report_pipe[0], outcome->output + outcome->length,
                       sizeof(outcome->output) - 1 - outcome->length);
            if (got > 0)
                outcome->length += (size_t)got;
        } else {
            /* Full: keep draining, so the child never blocks on us. */
            char excess[512];

            got = read(report_pipe[0], excess, sizeof(excess));
        }
        if (got <= 0)
            break;
    }
    outcome->output[outcome->length] = '\0';
    close(report_pipe[0]);
    assert_int_equal(waitpid(child, &outcome->status, 0), child);
}

/* ---- Guard-page overflow ------------------------------------------- */

#define OVERFLOW_NAME "overflow-victim"

/* Shared with the child, which records where its greenlet's stack is. */
struct overflow_probe {
    uintptr_t stack_address; /* a local in the greenlet's first frame */
    size_t stack_size;       /* greenlet_stack_size() */
    int reached_recursion;
};

/* Recursion without a reachable end; the sum after the call keeps it from
 * becoming a loop. */
static __attribute__((noinline)) size_t recurse_without_end(size_t depth)
{
    volatile unsigned char frame[256];

    frame[depth % sizeof(frame)] = (unsigned char)depth;
    if (depth == SIZE_MAX)
        return 0;
    return recurse_without_end(depth + 1) + frame[(depth * 3) % sizeof(frame)];
}

static void *overflow_run(void *value)
{
    struct overflow_probe *probe = value;
    volatile char marker = 0;

    probe->stack_address = (uintptr_t)&marker;
    probe->stack_size = greenlet_stack_size(greenlet_current());
    probe->reached_recursion = 1;
    return (void *)recurse_without_end(0);
}

/* In a child: run(arg) in a greenlet with the smallest stack. */
static void run_small_greenlet(greenlet_run_fn run, const char *name, void *arg)
{
    greenlet_t *g = NULL;

    if (greenlet_new(&g, run, NULL,
                     &(greenlet_attr_t){.stack_size = GREENLET_STACK_MIN,
                                        .name = name}) != 0)
        _exit(CHILD_SETUP_FAILED);
    greenlet_switch(g, arg, NULL);
}

static void overflow_in_greenlet(void *arg)
{
    run_small_greenlet(overflow_run, OVERFLOW_NAME, arg);
}

static void *overflow_thread(void *arg)
{
    overflow_in_greenlet(arg);
    return NULL;
}

/* The overflow happens in a thread other than the process's first, which
 * needs its own alternate signal stack. */
static void overflow_in_other_thread(void *arg)
{
    pthread_t thread;

    if (pthread_create(&thread, NULL, overflow_thread, arg) != 0)
        _exit(CHILD_SETUP_FAILED);
    pthread_join(thread, NULL);
}

/* True if text holds a range "0xLO-0xHI" around address whose length is
 * the greenlet's stack size (give or take the page rounding). */
static int mentions_stack_bounds(const char *text, uintptr_t address,
                                 size_t stack_size)
{
    const char *cursor = text;

    while ((cursor = strstr(cursor, "0x")) != NULL) {
        char *end;
        unsigned long long lo = strtoull(cursor, &end, 16);

        cursor += 2;
        if (end[0] == '-' && end[1] == '0' && end[2] == 'x') {
            unsigned long long hi = strtoull(end + 1, NULL, 16);

            if (lo <= address && address < hi && hi - lo >= stack_size &&
                hi - lo <= stack_size + 2 * page_size())
                return 1;
        }
    }
    return 0;
}

/* Zeroed memory that a forked child writes and the parent reads. */
static void *map_shared(size_t size)
{
    void *shared = mmap(NULL, size, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    assert_true(shared != MAP_FAILED);
    memset(shared, 0, size);
    return shared;
}

/* The child aborted with an overflow report naming `name` and giving the
 * bounds of the stack that holds stack_address. */
static void assert_child_reported(const struct child_outcome *outcome,
                                  const char *name, uintptr_t stack_address,
                                  size_t stack_size)
{
    /* Shown on failure, to see what the child said. */
    if (!WIFSIGNALED(outcome->status) || WTERMSIG(outcome->status) != SIGABRT ||
        strstr(outcome->output, name) == NULL)
        print_message("child status %#x, stderr:\n%s\n", outcome->status,
                      outcome->output);
    assert_false(outcome->timed_out);
    assert_true(WIFSIGNALED(outcome->status));
    assert_int_equal(WTERMSIG(outcome->status), SIGABRT);
    assert_non_null(strstr(outcome->output, name));
    assert_true(
        mentions_stack_bounds(outcome->output, stack_address, stack_size));
}

static void assert_overflow_reported(void (*body)(void *))
{
    struct overflow_probe *probe = map_shared(sizeof(*probe));
    struct child_outcome outcome;

    run_in_child(body, probe, &outcome);
    assert_true(probe->reached_recursion);
    assert_child_reported(&outcome, OVERFLOW_NAME, probe->stack_address,
                          probe->stack_size);
    munmap(probe, sizeof(*probe));
}

static void test_overflow_hits_guard_and_is_reported(void **state)
{
    (void)state;
    assert_overflow_reported(overflow_in_greenlet);
}

static void test_overflow_in_other_thread_is_reported(void **state)
{
    (void)state;
    assert_overflow_reported(overflow_in_other_thread);
}

/* ---- An overflow inside a switch ------------------------------------ */

/* A switch records its target as the current greenlet before it pushes the
 * switching greenlet's registers, so a stack that runs out in those pushes
 * belongs to a greenlet that is no longer current; it must still be the
 * one reported.  The child leaves `slack` bytes above the guard and
 * switches away; a sweep of slacks moves the fault from the first call
 * through the pushes. */
#define EDGE_NAME "edge-victim"

struct edge_probe {
    struct overflow_probe overflow;
    size_t slack;
};

static __attribute__((noinline)) void switch_away_at_the_edge(void)
{
    greenlet_switch(greenlet_main(), NULL, NULL);
}

static void *edge_run(void *value)
{
    struct edge_probe *probe = value;
    volatile char marker = 0;
    size_t page = page_size();
    size_t usable = greenlet_stack_size(greenlet_current());
    /* The first frame lies in the stack's top page; the stack's lowest
     * byte is its size (with the 64-byte header) below that page's end. */
    uintptr_t top = ((uintptr_t)&marker + page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t lo = top - usable - 64;
    volatile char *block;

    probe->overflow.stack_address = (uintptr_t)&marker;
    probe->overflow.stack_size = usable;
    probe->overflow.reached_recursion = 1;
    block = __builtin_alloca((uintptr_t)&marker - lo - probe->slack);
    block[0] = 0;
    switch_away_at_the_edge();
    return NULL;
}

static void overflow_while_switching(void *arg)
{
    run_small_greenlet(edge_run, EDGE_NAME, arg);
}

/* Slacks grow until the switch fits and the child survives: every fault
 * on the way, wherever it lands, must be reported.  Steps of 8 bytes over
 * the first 512 (an optimised switch needs about 100), then coarser: a
 * sanitizer build's switch runs C code that needs a few KiB. */
static void test_overflow_while_switching_is_reported(void **state)
{
    size_t reported = 0, slack;
    int survived = 0;

    (void)state;
    for (slack = 0; slack <= 16384 && !survived;
         slack += slack < 512 ? 8 : 64) {
        struct edge_probe *probe = map_shared(sizeof *probe);
        struct child_outcome outcome;

        probe->slack = slack;
        run_in_child(overflow_while_switching, probe, &outcome);
        assert_false(outcome.timed_out);
        survived = WIFEXITED(outcome.status) &&
                   WEXITSTATUS(outcome.status) == CHILD_SURVIVED;
        if (!survived) {
            assert_child_reported(&outcome, EDGE_NAME,
                                  probe->overflow.stack_address,
                                  probe->overflow.stack_size);
            reported++;
        }
        munmap(probe, sizeof *probe);
    }
    /* The sweep went from faulting to fitting, through the switch. */
    assert_true(survived);
    assert_true(reported >= 2);
}

/* ---- Many greenlets ------------------------------------------------ */

static void *increment_run(void *value)
{
    return TEST_INT_VALUE(TEST_VALUE_INT(value) + 1);
}

/* Creates, runs and destroys count greenlets one after another. */
static void assert_create_run_destroy(size_t count)
{
    size_t i;

    for (i = 0; i < count; i++) {
        greenlet_t *g = NULL;
        void *result = NULL;

        /* Asserting each call would dominate the loop; fail on the first
         * wrong answer instead. */
        if (greenlet_new(&g, increment_run, NULL, NULL) != 0 ||
            greenlet_switch(g, TEST_INT_VALUE(i), &result) != 0 ||
            TEST_VALUE_INT(result) != (intptr_t)i + 1 || !greenlet_dead(g) ||
            greenlet_destroy(g) != 0)
            fail_msg("greenlet %zu of %zu went wrong", i, count);
    }
}

static void test_100k_greenlets_created_run_destroyed(void **state)
{
    (void)state;
    assert_create_run_destroy(test_scaled_greenlets(100000));
}

static void test_greenlets_without_stack_cache(void **state)
{
    (void)state;
    greenlet_set_stack_cache(0);
    assert_create_run_destroy(test_scaled_greenlets(10000));
    greenlet_set_stack_cache(64);
    assert_create_run_destroy(test_scaled_greenlets(10000));
}

/* Parked greenlets: started, then suspended in a switch to main. */
struct parking {
    uintptr_t *frame_addresses; /* one per greenlet, in creation order */
    size_t cleanups;
};

static struct parking parking;

#define OVERFLOW_COMMAND ((void *)&parking)

static void *park_run(void *value)
{
    size_t index = (size_t)TEST_VALUE_INT(value);
    volatile char marker = 0;
    void *command = NULL;
    int rc;

    parking.frame_addresses[index] = (uintptr_t)&marker;
    rc = greenlet_switch(greenlet_main(), NULL, &command);
    if (rc == 0 && command == OVERFLOW_COMMAND)
        return (void *)recurse_without_end(0);
    parking.cleanups++;
    if (rc != 0)
        greenlet_exit(rc, NULL);
    return NULL;
}

static long read_long(const char *path)
{
    FILE *file = fopen(path, "r");
    long value = -1;

    assert_non_null(file);
    assert_int_equal(fscanf(file, "%ld", &value), 1);
    fclose(file);
    return value;
}

static int compare_addresses(const void *a, const void *b)
{
    uintptr_t left = *(const uintptr_t *)a, right = *(const uintptr_t *)b;

    return left < right ? -1 : left > right;
}

/* Stacks of distinct greenlets are disjoint: their first frames are at
 * least a stack apart. */
static void assert_frames_on_distinct_stacks(uintptr_t *addresses, size_t count)
{
    size_t i;

    qsort(addresses, count, sizeof(*addresses), compare_addresses);
    for (i = 1; i < count; i++)
        if (addresses[i] - addresses[i - 1] < GREENLET_STACK_MIN)
            fail_msg("greenlet frames %#lx and %#lx share a stack",
                     (unsigned long)addresses[i - 1],
                     (unsigned long)addresses[i]);
}

static greenlet_t *overflow_target;

/* In the child: the parked greenlet, deep among all the others, recurses
 * until it hits its guard. */
static void overflow_parked_greenlet(void *arg)
{
    struct overflow_probe *probe = arg;

    probe->stack_size = greenlet_stack_size(overflow_target);
    probe->reached_recursion = 1;
    greenlet_switch(overflow_target, OVERFLOW_COMMAND, NULL);
}

static void assert_parked_greenlet_guarded(greenlet_t *g, size_t index)
{
    struct overflow_probe *probe = map_shared(sizeof(*probe));
    struct child_outcome outcome;

    assert_int_equal(greenlet_set_name(g, OVERFLOW_NAME), 0);
    overflow_target = g;
    run_in_child(overflow_parked_greenlet, probe, &outcome);
    /* The parent's copy of the frame address is as good as the child's. */
    assert_child_reported(&outcome, OVERFLOW_NAME,
                          parking.frame_addresses[index], probe->stack_size);
    munmap(probe, sizeof(*probe));
}

#define PARKED_COUNT 200000
/* "Far below" the default vm.max_map_count of 65530: guards that split
 * mappings would need two map entries per greenlet. */
#define MAP_LINES_LIMIT 16384

static void test_200k_guarded_greenlets_suspended_at_once(void **state)
{
    size_t count = test_scaled_greenlets(PARKED_COUNT);
    long max_map_count = read_long("/proc/sys/vm/max_map_count");
    greenlet_t **parked = calloc(count, sizeof(*parked));
    uintptr_t *addresses;
    size_t i, map_lines;

    (void)state;
    assert_non_null(parked);
    parking.frame_addresses = calloc(count, sizeof(uintptr_t));
    assert_non_null(parking.frame_addresses);
    parking.cleanups = 0;
    print_message("vm.max_map_count is %ld; parking %zu greenlets\n",
                  max_map_count, count);

    for (i = 0; i < count; i++) {
        int rc =
            greenlet_new(&parked[i], park_run, NULL,
                         &(greenlet_attr_t){.stack_size = GREENLET_STACK_MIN});

        if (rc != 0)
            fail_msg("greenlet_new %zu of %zu: %s", i, count, strerror(rc));
        if (greenlet_switch(parked[i], TEST_INT_VALUE(i), NULL) != 0 ||
            !greenlet_active(parked[i]))
            fail_msg("greenlet %zu did not park", i);
    }

    map_lines = test_count_lines("/proc/self/maps");
    print_message("%zu lines in /proc/self/maps with all parked\n", map_lines);
    if (test_scale_is("qemu")) {
        /* qemu-user ignores MADV_GUARD_INSTALL, so the library guards
         * with mprotect() there, two map entries per greenlet: only the
         * (scaled) count fitting the limit can be checked. */
        assert_true(map_lines < (size_t)max_map_count);
    } else {
        assert_true(map_lines < MAP_LINES_LIMIT);
    }

    /* The guard of a greenlet deep inside the crowd, and of the last. */
    assert_parked_greenlet_guarded(parked[count / 2], count / 2);
    assert_parked_greenlet_guarded(parked[count - 1], count - 1);

    addresses = malloc(count * sizeof(*addresses));
    assert_non_null(addresses);
    memcpy(addresses, parking.frame_addresses, count * sizeof(*addresses));
    assert_frames_on_distinct_stacks(addresses, count);
    free(addresses);

    for (i = 0; i < count; i++)
        if (greenlet_destroy(parked[i]) != 0)
            fail_msg("greenlet_destroy %zu of %zu", i, count);
    assert_int_equal(parking.cleanups, count);
    free(parked);
    free(parking.frame_addresses);
    parking.frame_addresses = NULL;
}

/* ---- Memory -------------------------------------------------------- */

static size_t resident_kib(void)
{
    size_t kib = test_proc_status_kib("VmRSS");

    assert_true(kib > 0);
    return kib;
}

#define LARGE_STACK_COUNT 256
#define LARGE_STACK_BYTES ((size_t)4 * 1024 * 1024)

static void *park_briefly_run(void *value)
{
    int rc = greenlet_switch(greenlet_main(), value, NULL);

    if (rc != 0)
        greenlet_exit(rc, NULL);
    return value;
}

static void test_only_touched_stack_pages_cost_memory(void **state)
{
    greenlet_t *parked[LARGE_STACK_COUNT];
    size_t before, after, i;

    (void)state;
    before = resident_kib();
    for (i = 0; i < LARGE_STACK_COUNT; i++) {
        parked[i] =
            test_greenlet_new(park_briefly_run, NULL, LARGE_STACK_BYTES, NULL);
        assert_int_equal(greenlet_switch(parked[i], NULL, NULL), 0);
    }
    after = resident_kib();
    print_message("%d started greenlets with 4 MiB stacks: RSS +%zu KiB\n",
                  LARGE_STACK_COUNT, after > before ? after - before : 0);
    /* 1 GiB of stacks; a quarter of it resident would mean whole stacks
     * are being touched. */
    assert_true(after <
                before + LARGE_STACK_COUNT * LARGE_STACK_BYTES / 4 / 1024);
    for (i = 0; i < LARGE_STACK_COUNT; i++)
        test_greenlet_destroy(parked[i]);
}

/* Greenlets that recurse through most of a large stack and park at the
 * bottom, so that their touched pages stay resident until they die. */
#define DEEP_PARKED_COUNT 64
#define DEEP_PARKED_STACK_BYTES ((size_t)2 * 1024 * 1024)
#define DEEP_PARKED_TOUCH_BYTES ((size_t)1024 * 1024)

static __attribute__((noinline)) int touch_then_park(uintptr_t top)
{
    volatile unsigned char frame[RECURSION_FRAME_BYTES];
    int rc;

    memset((void *)frame, 0xa5, sizeof(frame));
    if (top - (uintptr_t)frame < DEEP_PARKED_TOUCH_BYTES)
        rc = touch_then_park(top);
    else
        rc = greenlet_switch(greenlet_main(), NULL, NULL);
    return rc + frame[rc & 0xff] - 0xa5;
}

static void *touch_then_park_run(void *value)
{
    volatile char top_marker = 0;
    int rc = touch_then_park((uintptr_t)&top_marker);

    if (rc != 0)
        greenlet_exit(rc, NULL);
    return value;
}

static void test_stacks_beyond_cache_bound_go_back_to_system(void **state)
{
    greenlet_t *parked[DEEP_PARKED_COUNT];
    size_t before, peak, after, i;

    (void)state;
    greenlet_set_stack_cache(0);
    before = resident_kib();
    for (i = 0; i < DEEP_PARKED_COUNT; i++) {
        parked[i] = test_greenlet_new(touch_then_park_run, NULL,
                                      DEEP_PARKED_STACK_BYTES, NULL);
        assert_int_equal(greenlet_switch(parked[i], NULL, NULL), 0);
        assert_true(greenlet_active(parked[i]));
    }
    peak = resident_kib();
    for (i = 0; i < DEEP_PARKED_COUNT; i++)
        test_greenlet_destroy(parked[i]);
    after = resident_kib();
    greenlet_set_stack_cache(64);
    print_message("RSS before %zu KiB, with %d deep greenlets %zu KiB, "
                  "after destroying them %zu KiB\n",
                  before, DEEP_PARKED_COUNT, peak, after);
    /* The touched stacks made most of the growth... */
    assert_true(peak > before + DEEP_PARKED_COUNT *
                                    (DEEP_PARKED_TOUCH_BYTES / 1024) / 2);
    /* ...and with no cache, most of it went back.  Under TSan, RSS also
     * holds TSan's shadow of the touched stacks, which MADV_DONTNEED
     * leaves in place: there only the growth is checked. */
    if (!test_scale_is("tsan"))
        assert_true(after < before + (peak - before) / 2);
}

/* ---- Impossible sizes ---------------------------------------------- */

static void test_huge_stack_size_fails_cleanly(void **state)
{
    greenlet_t *untouched = (greenlet_t *)&parking;
    greenlet_t *g = untouched;
    int rc;

    (void)state;
    rc = greenlet_new(&g, increment_run, NULL,
                      &(greenlet_attr_t){.stack_size = SIZE_MAX / 2});
    assert_true(rc == ENOMEM || rc == EAGAIN);
    assert_ptr_equal(g, untouched);

    /* Rounding SIZE_MAX up to pages must not wrap around to a small
     * size. */
    rc = greenlet_new(&g, increment_run, NULL,
                      &(greenlet_attr_t){.stack_size = SIZE_MAX});
    assert_true(rc == ENOMEM || rc == EAGAIN || rc == EINVAL);
    assert_ptr_equal(g, untouched);

    /* Nothing was left half made: ordinary creation still works. */
    assert_create_run_destroy(10);
}

/* Address-space exhaustion: under an RLIMIT_AS a little above what the
 * process already has, big stacks run out after a few greenlets. */
#define EXHAUSTION_HEADROOM ((size_t)1024 * 1024 * 1024)
#define EXHAUSTION_STACK_BYTES ((size_t)64 * 1024 * 1024)
/* 4 GiB of stacks: well past the headroom. */
#define EXHAUSTION_MAX_GREENLETS 64

struct exhaustion_report {
    int limit_set;
    int limit_enforced; /* a mapping beyond the limit really fails */
    size_t made;        /* greenlets made before the first failure */
    int failure_rc;     /* that failure's code */
    int out_untouched;
    size_t destroy_failures;
    int remade_rc; /* making one again after destroying all */
    int remade_ran;
};

static void exhaust_address_space(void *arg)
{
    struct exhaustion_report *report = arg;
    greenlet_t *made[EXHAUSTION_MAX_GREENLETS];
    const greenlet_attr_t big = {.stack_size = EXHAUSTION_STACK_BYTES};
    size_t vm = test_proc_status_kib("VmSize") * 1024;
    struct rlimit limit = {.rlim_cur = vm + EXHAUSTION_HEADROOM,
                           .rlim_max = vm + EXHAUSTION_HEADROOM};
    greenlet_t *g;
    void *result = NULL;
    void *beyond;
    size_t i;

    report->limit_set = vm > 0 && setrlimit(RLIMIT_AS, &limit) == 0;
    beyond = mmap(NULL, 2 * EXHAUSTION_HEADROOM, PROT_NONE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    report->limit_enforced = beyond == MAP_FAILED;
    if (beyond != MAP_FAILED)
        munmap(beyond, 2 * EXHAUSTION_HEADROOM);
    for (i = 0; i < EXHAUSTION_MAX_GREENLETS; i++) {
        greenlet_t *untouched = (greenlet_t *)report;

        made[i] = untouched;
        report->failure_rc = greenlet_new(&made[i], increment_run, NULL, &big);
        if (report->failure_rc != 0) {
            report->out_untouched = made[i] == untouched;
            break;
        }
    }
    report->made = i;
    for (i = 0; i < report->made; i++)
        if (greenlet_destroy(made[i]) != 0)
            report->destroy_failures++;
    /* What was given back can be had again. */
    report->remade_rc = greenlet_new(&g, increment_run, NULL, &big);
    if (report->remade_rc == 0) {
        report->remade_ran =
            greenlet_switch(g, TEST_INT_VALUE(41), &result) == 0 &&
            TEST_VALUE_INT(result) == 42;
        greenlet_destroy(g);
    }
}

static void test_address_space_exhaustion_fails_cleanly(void **state)
{
    struct exhaustion_report *report =
        mmap(NULL, sizeof(*report), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct child_outcome outcome;

    (void)state;
    assert_true(report != MAP_FAILED);
    memset(report, 0, sizeof(*report));
    run_in_child(exhaust_address_space, report, &outcome);
    if (!WIFEXITED(outcome.status))
        print_message("child status %#x, stderr:\n%s\n", outcome.status,
                      outcome.output);
    assert_true(WIFEXITED(outcome.status));
    assert_int_equal(WEXITSTATUS(outcome.status), CHILD_SURVIVED);
    assert_true(report->limit_set);
    assert_int_equal(report->destroy_failures, 0);
    if (!report->limit_enforced && test_scale_is("qemu")) {
        /* qemu-user accepts setrlimit(RLIMIT_AS) but does not apply it
         * to the guest; only the creation and destruction of many big
         * stacks can be checked there. */
        print_message("RLIMIT_AS not enforced under qemu: exhaustion "
                      "itself is checked by the native runs\n");
        assert_int_equal(report->made, EXHAUSTION_MAX_GREENLETS);
        assert_int_equal(report->remade_rc, 0);
        assert_true(report->remade_ran);
        munmap(report, sizeof(*report));
        return;
    }
    assert_true(report->limit_enforced);
    print_message("%zu greenlets with 64 MiB stacks before running out\n",
                  report->made);
    assert_true(report->made > 0);
    assert_true(report->made < EXHAUSTION_MAX_GREENLETS);
    assert_true(report->failure_rc == ENOMEM || report->failure_rc == EAGAIN);
    assert_true(report->out_untouched);
    assert_int_equal(report->remade_rc, 0);
    assert_true(report->remade_ran);
    munmap(report, sizeof(*report));
}

/* Called before cmocka runs anything: the library sets up its handlers
 * on first use, at the latest when a greenlet is made. */
static void save_library_fault_handlers(void)
{
    greenlet_t *g = NULL;

    if (greenlet_new(&g, increment_run, NULL, NULL) == 0)
        greenlet_destroy(g);
    sigaction(SIGSEGV, NULL, &library_segv_action);
    sigaction(SIGBUS, NULL, &library_bus_action);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recursion_close_to_default_stack_size),
        cmocka_unit_test(test_recursion_close_to_large_stack_size),
        cmocka_unit_test(test_overflow_hits_guard_and_is_reported),
        cmocka_unit_test(test_overflow_in_other_thread_is_reported),
        cmocka_unit_test(test_overflow_while_switching_is_reported),
        cmocka_unit_test(test_100k_greenlets_created_run_destroyed),
        cmocka_unit_test(test_greenlets_without_stack_cache),
        cmocka_unit_test(test_200k_guarded_greenlets_suspended_at_once),
        cmocka_unit_test(test_only_touched_stack_pages_cost_memory),
        cmocka_unit_test(test_stacks_beyond_cache_bound_go_back_to_system),
        cmocka_unit_test(test_huge_stack_size_fails_cleanly),
        cmocka_unit_test(test_address_space_exhaustion_fails_cleanly),
    };

    save_library_fault_handlers();
    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * libgreen_patch: sleeps and DNS in green threads.
 * GREEN_TEST_BACKENDS
 */
#include "patch_helpers.h"

#include <green/timeout.h>

#include <netdb.h>
#include <pthread.h>
#include <signal.h>

#define SLEEPERS 100
#define RESOLVERS 50

static void *sleep_one_second(void *arg)
{
    *(unsigned *)arg = sleep(1);
    return NULL;
}

static void test_sleep_in_100_green_threads(void **state)
{
    static unsigned left[SLEEPERS];
    green_thread_t *threads[SLEEPERS];
    double start = patch_seconds(), elapsed;

    (void)state;
    for (int i = 0; i < SLEEPERS; i++) {
        left[i] = 99;
        threads[i] = patch_spawn(sleep_one_second, &left[i]);
    }
    for (int i = 0; i < SLEEPERS; i++)
        patch_join(threads[i]);
    elapsed = patch_seconds() - start;
    print_message("100 x sleep(1): %.3f s (serial: 100 s)\n", elapsed);
    for (int i = 0; i < SLEEPERS; i++)
        assert_int_equal(left[i], 0);
    assert_true(elapsed >= 0.99);
    /* About 1 s: overlapped, where serial takes 100 s. */
    assert_true(elapsed < SLEEPERS / 2.0);
}

struct sleeps {
    int usleep_result, nanosleep_result, clock_result, absolute_result;
    struct ticker *ticker;
    long ticks_during[4]; /* the ticker's ticks during each form */
};

/* Each form of sleep, one after the other, while a ticker runs.  A form
 * that blocked the OS thread would see no tick at all. */
static void *every_sleep(void *arg)
{
    struct sleeps *s = arg;
    struct timespec tenth = {.tv_nsec = 100000000}, deadline;
    long ticks = s->ticker->ticks;

    s->usleep_result = usleep(100000);
    s->ticks_during[0] = s->ticker->ticks - ticks;
    ticks = s->ticker->ticks;
    s->nanosleep_result = nanosleep(&tenth, NULL);
    s->ticks_during[1] = s->ticker->ticks - ticks;
    ticks = s->ticker->ticks;
    s->clock_result = clock_nanosleep(CLOCK_MONOTONIC, 0, &tenth, NULL);
    s->ticks_during[2] = s->ticker->ticks - ticks;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += 100000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    ticks = s->ticker->ticks;
    s->absolute_result =
        clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &deadline, NULL);
    s->ticks_during[3] = s->ticker->ticks - ticks;
    return NULL;
}

static void test_every_sleep_form_cooperates(void **state)
{
    struct ticker ticker = {0};
    struct sleeps s = {-1, -1, -1, -1, .ticker = &ticker};
    green_thread_t *sleeper, *tick;
    double start = patch_seconds(), elapsed;

    (void)state;
    sleeper = patch_spawn(every_sleep, &s);
    tick = patch_spawn(ticker_run, &ticker);
    patch_join(sleeper);
    ticker.stop = 1;
    patch_join(tick);
    elapsed = patch_seconds() - start;
    assert_int_equal(s.usleep_result, 0);
    assert_int_equal(s.nanosleep_result, 0);
    assert_int_equal(s.clock_result, 0);
    assert_int_equal(s.absolute_result, 0);
    assert_true(elapsed >= 0.39 && elapsed < 10.0);
    /* Ticks counted, not timed: each form parked only its green thread. */
    for (int i = 0; i < 4; i++)
        assert_true(s.ticks_during[i] > 0);
}

struct bad_sleep {
    int result, error, clock_result;
};

static void *invalid_sleeps(void *arg)
{
    struct bad_sleep *b = arg;
    struct timespec bad = {.tv_sec = 0, .tv_nsec = 2000000000};

    b->result = nanosleep(&bad, NULL);
    b->error = errno;
    b->clock_result = clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, NULL);
    return NULL;
}

static void test_invalid_sleep_is_libc_einval(void **state)
{
    struct bad_sleep b = {0};

    (void)state;
    patch_join(patch_spawn(invalid_sleeps, &b));
    assert_int_equal(b.result, -1);
    assert_int_equal(b.error, EINVAL);
    assert_int_equal(b.clock_result, EINVAL);
}

/* ---- interruptions ------------------------------------------------------ */

struct interrupted_sleep {
    int result, error;
    struct timespec left;
    unsigned sleep_left;
};

static void *nanosleep_long(void *arg)
{
    struct interrupted_sleep *s = arg;
    /* Long enough that only the signal or the kill can end it. */
    struct timespec long_sleep = {.tv_sec = 30};

    s->result = nanosleep(&long_sleep, &s->left);
    s->error = errno;
    return NULL;
}

static volatile sig_atomic_t handled;

static void count_signal(int sig)
{
    (void)sig;
    handled++;
}

static void *signal_later(void *arg)
{
    usleep(100000);
    pthread_kill(*(pthread_t *)arg, SIGUSR2);
    return NULL;
}

/* nanosleep is interrupted even with SA_RESTART (signal(7)). */
static void test_signal_interrupts_nanosleep(void **state)
{
    struct interrupted_sleep s = {0};
    pthread_t self = pthread_self(), signaller;
    green_thread_t *sleeper;

    (void)state;
    handled = 0;
    assert_ptr_not_equal(signal(SIGUSR2, count_signal), SIG_ERR);
    sleeper = patch_spawn(nanosleep_long, &s);
    assert_int_equal(pthread_create(&signaller, NULL, signal_later, &self), 0);
    patch_join(sleeper);
    assert_int_equal(pthread_join(signaller, NULL), 0);
    signal(SIGUSR2, SIG_DFL);
    assert_int_equal(handled, 1);
    assert_int_equal(s.result, -1);
    assert_int_equal(s.error, EINTR);
    /* About 29.9 s were left. */
    assert_true(s.left.tv_sec < 30 && s.left.tv_sec >= 15);
}

static void test_killed_sleeper_gets_ecanceled(void **state)
{
    struct interrupted_sleep s = {0};
    green_thread_t *sleeper;

    (void)state;
    sleeper = patch_spawn(nanosleep_long, &s);
    green_sleep(0.05);
    assert_int_equal(green_thread_kill(sleeper), 0);
    green_thread_release(sleeper);
    assert_int_equal(s.result, -1);
    assert_int_equal(s.error, ECANCELED);
    assert_true(s.left.tv_sec >= 15);
}

static void *sleep_in_scope(void *arg)
{
    struct interrupted_sleep *s = arg;
    green_timeout_t scope;

    green_timeout_start(&scope, 0.05);
    s->sleep_left = sleep(30);
    s->error = errno;
    green_timeout_cancel(&scope);
    return NULL;
}

static void test_timeout_scope_ends_sleep(void **state)
{
    struct interrupted_sleep s = {0};

    (void)state;
    patch_join(patch_spawn(sleep_in_scope, &s));
    /* 30 s less the 0.05 s scope, in whole seconds; a late scope costs
     * some of the margin. */
    assert_true(s.sleep_left >= 15 && s.sleep_left <= 30);
    assert_int_equal(s.error, ETIMEDOUT);
}

/* ---- DNS ---------------------------------------------------------------- */

struct lookup {
    int gai_result;
    int family;
    int byname_ok, byname_r_ok;
};

static void *resolve_localhost(void *arg)
{
    struct lookup *l = arg;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;

    l->gai_result = getaddrinfo("localhost", "80", &hints, &res);
    if (l->gai_result == 0) {
        l->family = res->ai_family;
        freeaddrinfo(res);
    }
    return NULL;
}

static void test_getaddrinfo_in_50_green_threads(void **state)
{
    static struct lookup lookups[RESOLVERS];
    green_thread_t *threads[RESOLVERS];

    (void)state;
    for (int i = 0; i < RESOLVERS; i++) {
        lookups[i] = (struct lookup){.gai_result = -1};
        threads[i] = patch_spawn(resolve_localhost, &lookups[i]);
    }
    for (int i = 0; i < RESOLVERS; i++)
        patch_join(threads[i]);
    for (int i = 0; i < RESOLVERS; i++) {
        assert_int_equal(lookups[i].gai_result, 0);
        assert_true(lookups[i].family == AF_INET ||
                    lookups[i].family == AF_INET6);
    }
}

static void *resolve_bad_name(void *arg)
{
    struct lookup *l = arg;
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST};
    struct addrinfo *res = NULL;

    /* Not numeric, so refused without any lookup: EAI_NONAME as libc. */
    l->gai_result = getaddrinfo("not a number", NULL, &hints, &res);
    return NULL;
}

static void test_getaddrinfo_errors_as_libc(void **state)
{
    struct lookup l = {0};
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST};
    struct addrinfo *res = NULL;

    (void)state;
    patch_join(patch_spawn(resolve_bad_name, &l));
    assert_int_equal(l.gai_result,
                     getaddrinfo("not a number", NULL, &hints, &res));
}

static void *resolve_by_name(void *arg)
{
    struct lookup *l = arg;
    struct hostent host, *result = NULL, *byname;
    char buf[2048];
    int h_error = 0;

    byname = gethostbyname("localhost");
    l->byname_ok = byname != NULL && byname->h_addr_list[0] != NULL &&
                   byname->h_addrtype == AF_INET &&
                   byname->h_addr_list[0][0] == 127;
    if (gethostbyname_r("localhost", &host, buf, sizeof(buf), &result,
                        &h_error) == 0 &&
        result == &host && host.h_name != NULL && host.h_addr_list[0] != NULL &&
        /* Everything points into the caller's buffer. */
        host.h_name >= buf && host.h_name < buf + sizeof(buf) &&
        host.h_addr_list[0] >= buf && host.h_addr_list[0] < buf + sizeof(buf))
        l->byname_r_ok = host.h_addr_list[0][0] == 127;
    return NULL;
}

static void test_gethostbyname_forms(void **state)
{
    struct lookup l = {0};

    (void)state;
    patch_join(patch_spawn(resolve_by_name, &l));
    assert_true(l.byname_ok);
    assert_true(l.byname_r_ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sleep_in_100_green_threads),
        cmocka_unit_test(test_every_sleep_form_cooperates),
        cmocka_unit_test(test_invalid_sleep_is_libc_einval),
        cmocka_unit_test(test_signal_interrupts_nanosleep),
        cmocka_unit_test(test_killed_sleeper_gets_ecanceled),
        cmocka_unit_test(test_timeout_scope_ends_sleep),
        cmocka_unit_test(test_getaddrinfo_in_50_green_threads),
        cmocka_unit_test(test_getaddrinfo_errors_as_libc),
        cmocka_unit_test(test_gethostbyname_forms),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

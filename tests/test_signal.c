/* GREEN_TEST_BACKENDS */
/*
 * Green signal waits: signals sent while waiting and before, timeouts and
 * kills that leave the signal pending, several waiters in one hub and in
 * two, process- and thread-directed signals, misuse.
 *
 * main() blocks SIGUSR1 and SIGUSR2 before any thread exists, as the
 * header asks, so every thread of this program inherits the mask.
 */
#include "test_hub_util.h"

#include <green/signal.h>
#include <green/thread.h>
#include <green/timeout.h>

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

static sigset_t usr1, usr2, both;

static void *kill_later_main(void *arg)
{
    intptr_t sig = (intptr_t)arg;

    if (green_sleep(0.02) == 0)
        kill(getpid(), (int)sig);
    return NULL;
}

static void test_wait_for_a_signal(void **state)
{
    green_thread_t *sender = spawn_or_fail(kill_later_main, (void *)SIGUSR2);
    double start = green_now();
    int signo = 0;

    (void)state;
    assert_int_equal(green_signal_wait(&both, &signo, 10.0), 0);
    assert_int_equal(signo, SIGUSR2);
    assert_true(green_now() - start >= 0.015);
    assert_int_equal(green_thread_wait(sender, NULL), 0);
    green_thread_release(sender);
}

static void test_pending_signal_ends_the_wait_at_once(void **state)
{
    sigset_t pending;
    int signo = 0;

    (void)state;
    assert_int_equal(raise(SIGUSR1), 0); /* blocked: stays pending */
    assert_int_equal(green_signal_wait(&usr1, &signo, 0), 0);
    assert_int_equal(signo, SIGUSR1);
    assert_int_equal(sigpending(&pending), 0);
    assert_false(sigismember(&pending, SIGUSR1)); /* taken */
    /* Only the set's signals end a wait. */
    assert_int_equal(raise(SIGUSR2), 0);
    assert_int_equal(green_signal_wait(&usr1, &signo, 0.02), ETIMEDOUT);
    assert_int_equal(green_signal_wait(&usr2, &signo, 0), 0);
    assert_int_equal(signo, SIGUSR2);
}

struct waiter {
    const sigset_t *set;
    double timeout;
    _Atomic int err; /* read while another OS thread may still wait */
    int signo;
};

static void *waiter_main(void *arg)
{
    struct waiter *waiter = arg;

    waiter->err =
        green_signal_wait(waiter->set, &waiter->signo, waiter->timeout);
    return NULL;
}

/* How many of the two waiters got a signal, once one has or after
 * `seconds`. */
static int woken_within(struct waiter waiters[2], double seconds)
{
    double give_up = green_now() + seconds;

    while (waiters[0].err != 0 && waiters[1].err != 0 && green_now() < give_up)
        green_sleep(0.001);
    return (waiters[0].err == 0) + (waiters[1].err == 0);
}

static void test_timeout_and_kill_leave_the_signal_pending(void **state)
{
    struct waiter killed = {&usr1, GREEN_FOREVER, -1, 0};
    green_thread_t *t = spawn_or_fail(waiter_main, &killed);
    green_timeout_t scope;
    double start = green_now();
    int signo = 0;

    (void)state;
    assert_int_equal(green_signal_wait(&usr1, &signo, 0.05), ETIMEDOUT);
    assert_true(green_now() - start >= 0.04);
    assert_int_equal(green_timeout_start(&scope, 0.02), 0);
    assert_int_equal(green_signal_wait(&usr1, &signo, GREEN_FOREVER),
                     ETIMEDOUT);
    assert_int_equal(green_timeout_cancel(&scope), 0);
    assert_int_equal(green_thread_kill(t), 0);
    green_thread_release(t);
    assert_int_equal(killed.err, ECANCELED);
    assert_int_equal(raise(SIGUSR1), 0);
    assert_int_equal(green_signal_wait(&usr1, &signo, 1.0), 0);
    assert_int_equal(signo, SIGUSR1);
}

/* Two green threads of one hub wait for the same signal: each delivery
 * goes to exactly one of them. */
static void test_one_delivery_one_waiter(void **state)
{
    struct waiter waiters[2] = {{&usr1, 10.0, -1, 0}, {&usr1, 10.0, -1, 0}};
    green_thread_t *threads[2];

    (void)state;
    threads[0] = spawn_or_fail(waiter_main, &waiters[0]);
    threads[1] = spawn_or_fail(waiter_main, &waiters[1]);
    assert_int_equal(green_sleep(0.02), 0);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    /* Until one has it (a loaded machine may take long), then a moment
     * in which a second delivery would show. */
    assert_int_equal(woken_within(waiters, 30.0), 1);
    assert_int_equal(green_sleep(0.1), 0);
    assert_int_equal((waiters[0].err == 0) + (waiters[1].err == 0), 1);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(green_thread_wait(threads[i], NULL), 0);
        green_thread_release(threads[i]);
        assert_int_equal(waiters[i].err, 0);
        assert_int_equal(waiters[i].signo, SIGUSR1);
    }
}

/* ---- Across OS threads, one hub each ------------------------------------ */

static void *os_thread_waiter_main(void *arg)
{
    struct waiter *waiter = arg;

    waiter_main(waiter); /* from this thread's main greenlet */
    green_hub_destroy();
    return NULL;
}

static void start_os_waiters(pthread_t threads[2], struct waiter waiters[2])
{
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL,
                                        os_thread_waiter_main, &waiters[i]),
                         0);
    usleep(100000); /* both park in their hubs */
}

static void test_process_signal_reaches_one_hub(void **state)
{
    /* The one that gets no signal waits out its timeout: seconds, so that
     * the other's wait is not cut short on a loaded machine either. */
    struct waiter waiters[2] = {{&usr1, 3.0, -1, 0}, {&usr1, 3.0, -1, 0}};
    pthread_t threads[2];

    (void)state;
    start_os_waiters(threads, waiters);
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    assert_int_equal((waiters[0].err == 0) + (waiters[1].err == 0), 1);
    assert_int_equal(
        (waiters[0].err == ETIMEDOUT) + (waiters[1].err == ETIMEDOUT), 1);
}

static void test_thread_signal_reaches_that_hub(void **state)
{
    struct waiter waiters[2] = {{&usr2, 10.0, -1, 0}, {&usr2, 10.0, -1, 0}};
    pthread_t threads[2];

    (void)state;
    start_os_waiters(threads, waiters);
    assert_int_equal(pthread_kill(threads[1], SIGUSR2), 0);
    assert_int_equal(pthread_join(threads[1], NULL), 0);
    assert_int_equal(waiters[1].err, 0);
    assert_int_equal(waiters[1].signo, SIGUSR2);
    assert_int_equal(waiters[0].err, -1); /* still waiting */
    assert_int_equal(pthread_kill(threads[0], SIGUSR2), 0);
    assert_int_equal(pthread_join(threads[0], NULL), 0);
    assert_int_equal(waiters[0].err, 0);
}

/* ---- Misuse ------------------------------------------------------------ */

static void test_misuse(void **state)
{
    sigset_t empty, term, kill_set;
    int signo;

    (void)state;
    sigemptyset(&empty);
    sigemptyset(&term);
    sigaddset(&term, SIGTERM); /* not blocked here */
    sigemptyset(&kill_set);
    sigaddset(&kill_set, SIGKILL);
    assert_int_equal(green_signal_wait(NULL, &signo, 0), EINVAL);
    assert_int_equal(green_signal_wait(&usr1, NULL, 0), EINVAL);
    assert_int_equal(green_signal_wait(&empty, &signo, 0), EINVAL);
    assert_int_equal(green_signal_wait(&term, &signo, 0), EINVAL);
    assert_int_equal(green_signal_wait(&kill_set, &signo, 0), EINVAL);
    assert_int_equal(green_signal_block(NULL), EINVAL);
    assert_int_equal(green_signal_block(&kill_set), 0); /* a no-op */
    assert_int_equal(green_signal_wait(&kill_set, &signo, 0), EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        hub_test(test_wait_for_a_signal),
        hub_test(test_pending_signal_ends_the_wait_at_once),
        hub_test(test_timeout_and_kill_leave_the_signal_pending),
        hub_test(test_one_delivery_one_waiter),
        hub_test(test_process_signal_reaches_one_hub),
        hub_test(test_thread_signal_reaches_that_hub),
        hub_test(test_misuse),
    };

    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    sigemptyset(&both);
    sigaddset(&both, SIGUSR1);
    sigaddset(&both, SIGUSR2);
    if (green_signal_block(&both) != 0)
        return 1;
    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

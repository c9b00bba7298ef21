/*
 * green_signal_wait beside libgreen_patch's sigaction hooks: with the
 * patch layer on, a green thread waits for a blocked SIGUSR1 while another
 * signal has a handler installed through the hooked sigaction.  The
 * handler still runs and still interrupts a hooked read() (it has no
 * SA_RESTART), the wait still gets its signal, and the handler never runs
 * for the signal the wait took.
 * GREEN_TEST_BACKENDS
 */
#include "patch_helpers.h"

#include <green/signal.h>

#include <pthread.h>
#include <signal.h>

static volatile sig_atomic_t handled;

static void count_signal(int sig)
{
    (void)sig;
    handled++;
}

struct waiter {
    sigset_t set;
    int err, signo;
};

static void *waiter_main(void *arg)
{
    struct waiter *waiter = arg;

    waiter->err = green_signal_wait(&waiter->set, &waiter->signo, 10.0);
    return NULL;
}

struct reader {
    int fd, error;
    ssize_t result;
};

static void *reader_main(void *arg)
{
    struct reader *reader = arg;
    char byte;

    reader->result = read(reader->fd, &byte, 1); /* hooked: parks */
    reader->error = errno;
    return NULL;
}

static void test_wait_beside_handlers(void **state)
{
    struct sigaction act = {.sa_handler = count_signal}, old;
    struct waiter waiter = {.err = -1};
    struct reader reader = {.result = 99};
    green_thread_t *waiting, *reading;
    int fds[2];

    (void)state;
    assert_true(green_patch_enabled());
    sigemptyset(&act.sa_mask);
    assert_int_equal(sigaction(SIGUSR2, &act, NULL), 0);
    assert_int_equal(sigaction(SIGUSR1, &act, NULL), 0); /* blocked below */
    sigemptyset(&waiter.set);
    sigaddset(&waiter.set, SIGUSR1);
    assert_int_equal(green_signal_block(&waiter.set), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    reader.fd = fds[0];

    waiting = patch_spawn(waiter_main, &waiter);
    reading = patch_spawn(reader_main, &reader);
    green_sleep(0.05); /* both park */
    raise(SIGUSR2);
    green_sleep(0.05);
    assert_int_equal(handled, 1);
    assert_int_equal(waiter.err, -1); /* not its signal */
    raise(SIGUSR1);
    patch_join(waiting);
    patch_join(reading);
    assert_int_equal(waiter.err, 0);
    assert_int_equal(waiter.signo, SIGUSR1);
    assert_int_equal(handled, 1); /* the wait took SIGUSR1 */
    assert_int_equal(reader.result, -1);
    assert_int_equal(reader.error, EINTR);
    /* The hooks still report the program's own action. */
    assert_int_equal(sigaction(SIGUSR2, NULL, &old), 0);
    assert_ptr_equal(old.sa_handler, count_signal);

    close(fds[0]);
    close(fds[1]);
    assert_int_equal(pthread_sigmask(SIG_UNBLOCK, &waiter.set, NULL), 0);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wait_beside_handlers),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * libgreen_patch after fork: what the hooks learnt about a descriptor
 * (driven nonblocking underneath, blocking in the user's view, its socket
 * timeout) holds in a child, forked from the main greenlet or from a green
 * thread, where a hooked read on it parks only its green thread.
 * GREEN_TEST_BACKENDS
 */
#include "patch_helpers.h"
#include "test_fork_util.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/time.h>

/* A socket pair used through the hooks before fork. */
static int fds[2];

static void *read_byte(void *arg)
{
    char byte = 0;

    (void)arg;
    return TEST_INT_VALUE(read(fds[0], &byte, 1) == 1 ? byte : -errno);
}

/* A hooked read() parks a green thread, while others run, until the
 * caller writes. */
static int read_parks_until_write(char byte)
{
    struct ticker ticker = {0};
    green_thread_t *reader, *ticking;
    double deadline = green_now() + 10;
    void *result = NULL;

    if (green_spawn(&reader, read_byte, NULL) != 0 ||
        green_spawn(&ticking, ticker_run, &ticker) != 0)
        return 1;
    while (ticker.ticks < 3 && green_now() < deadline)
        green_sleep(0.001);
    if (ticker.ticks < 3 || green_thread_dead(reader))
        return 2;
    if (write(fds[1], &byte, 1) != 1 || green_thread_wait(reader, &result) != 0)
        return 3;
    ticker.stop = 1;
    if (green_thread_wait(ticking, NULL) != 0)
        return 4;
    green_thread_release(reader);
    green_thread_release(ticking);
    return TEST_VALUE_INT(result) == byte ? 0 : 5;
}

static int descriptor_state_holds(void)
{
    struct timeval timeout = {0};
    socklen_t len = sizeof(timeout);

    /* Driven underneath, blocking in the user's view. */
    if (!(syscall(SYS_fcntl, fds[0], F_GETFL) & O_NONBLOCK) ||
        (fcntl(fds[0], F_GETFL) & O_NONBLOCK))
        return 10;
    if (getsockopt(fds[0], SOL_SOCKET, SO_RCVTIMEO, &timeout, &len) != 0 ||
        timeout.tv_sec != 5)
        return 11;
    return read_parks_until_write('c');
}

static void test_descriptor_state_after_fork(void **state)
{
    struct timeval timeout = {.tv_sec = 5};

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    assert_int_equal(
        setsockopt(fds[0], SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)),
        0);
    assert_int_equal(read_parks_until_write('p'), 0);
    assert_child_ok(fork_child(descriptor_state_holds), "main");
    assert_child_ok(fork_from_green_thread(descriptor_state_holds),
                    "a green thread");
    assert_int_equal(read_parks_until_write('q'), 0);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor_state_after_fork),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

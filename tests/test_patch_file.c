/*
 * libgreen_patch: read() and write() on regular files.  On an io_uring hub
 * they are io_uring operations that park only the green thread; on epoll
 * and poll they stay the plain system calls (docs/patch.md says why).
 * GREEN_TEST_BACKENDS
 */
#include "patch_helpers.h"
#include "test_file_util.h"

#include <green/file.h>

#include <fcntl.h>
#include <string.h>

struct file_user {
    int fd;
    int rounds;
    ssize_t wrote, got;
    int err;
    char buf[16];
    long ticks_before, ticks_after;
    struct ticker *ticker;
};

/* Writes, seeks back and reads with the hooked calls; then reads the file
 * `rounds` times more without yielding otherwise. */
static void *file_user_main(void *arg)
{
    struct file_user *u = arg;

    u->ticks_before = u->ticker->ticks;
    u->wrote = write(u->fd, "patched", 7);
    if (lseek(u->fd, 0, SEEK_SET) != 0)
        u->err = errno;
    u->got = read(u->fd, u->buf, sizeof(u->buf));
    for (int i = 0; i < u->rounds && u->err == 0; i++)
        if (pread(u->fd, u->buf + 8, 1, 0) != 1 ||
            lseek(u->fd, 0, SEEK_SET) != 0 || read(u->fd, u->buf, 7) != 7)
            u->err = errno;
    u->ticks_after = u->ticker->ticks;
    return NULL;
}

static void test_read_write_regular_file(void **state)
{
    char path[64];
    struct ticker ticker = {0};
    struct file_user u = {.rounds = 50, .ticker = &ticker};
    green_thread_t *tick, *user;

    (void)state;
    u.fd = test_temp_file(path, sizeof(path));
    green_patch_enable();
    tick = patch_spawn(ticker_yield_run, &ticker);
    user = patch_spawn(file_user_main, &u);
    patch_join(user);
    ticker.stop = 1;
    patch_join(tick);
    green_patch_disable();
    assert_int_equal(u.err, 0);
    assert_int_equal(u.wrote, 7);
    assert_int_equal(u.got, 7);
    assert_memory_equal(u.buf, "patched", 7);
    assert_int_equal(green_file_native(), test_files_native());
    if (test_files_native())
        assert_true(u.ticks_after - u.ticks_before > 0); /* it parked */
    else
        assert_int_equal(u.ticks_after, u.ticks_before); /* plain calls */
    close(u.fd);
    unlink(path);
}

/* Errors come back as -1 with errno, from either path. */
static void *bad_fd_main(void *arg)
{
    int *err = arg;
    char c = 'x';

    err[0] = read(-1, &c, 1) == -1 ? errno : 0;
    err[1] = write(err[2], &c, 1) == -1 ? errno : 0;
    return NULL;
}

static void test_errors_as_errno(void **state)
{
    char path[64];
    int fd, err[3];

    (void)state;
    fd = test_temp_file(path, sizeof(path));
    close(fd);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    err[2] = fd; /* read-only: write fails with EBADF */
    green_patch_enable();
    patch_join(patch_spawn(bad_fd_main, err));
    green_patch_disable();
    assert_int_equal(err[0], EBADF);
    assert_int_equal(err[1], EBADF);
    close(fd);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_write_regular_file),
        cmocka_unit_test(test_errors_as_errno),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

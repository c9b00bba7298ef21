/* GREEN_TEST_BACKENDS */
/*
 * Regular files (green/file.h): round trips, end of file, errors, green
 * threads running while a file call waits, and cuts (timeout scopes,
 * kills) that must never leave an operation with the caller's buffer.
 */
#define _GNU_SOURCE
#include "test_hub_util.h"
#include "test_file_util.h"

#include <green/file.h>
#include <green/io.h>
#include <green/timeout.h>
#include <green/tpool.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_backend_path(void **state)
{
    (void)state;
    assert_int_equal(green_file_native(), test_files_native());
}

/* ---- Round trips ---------------------------------------------------------
 */

static void test_round_trip(void **state)
{
    char path[64], buf[16] = {0};
    size_t n = 0;
    int fd = -1;

    (void)state;
    close(test_temp_file(path, sizeof(path)));
    assert_int_equal(green_file_open(&fd, path, O_RDWR | O_TRUNC, 0), 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(green_pwrite(fd, "hello world", 11, 0, &n), 0);
    assert_int_equal(n, 11);
    assert_int_equal(green_pwrite(fd, "W", 1, 6, &n), 0);
    assert_int_equal(green_fsync(fd), 0);
    assert_int_equal(green_pread(fd, buf, sizeof(buf), 0, &n), 0);
    assert_int_equal(n, 11);
    assert_memory_equal(buf, "hello World", 11);
    /* pread and pwrite leave the file offset alone. */
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
    /* End of file: 0 bytes. */
    assert_int_equal(green_pread(fd, buf, sizeof(buf), 11, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(green_pread(fd, buf, sizeof(buf), 1000, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(green_close(fd), 0);
    assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed */
    unlink(path);
}

/* green_file_read/write, and green_read/write routed to them, move the
 * file offset. */
static void test_offset_calls(void **state)
{
    char path[64], buf[16] = {0};
    size_t n = 0;
    int fd = test_temp_file(path, sizeof(path));

    (void)state;
    assert_int_equal(green_file_write(fd, "abc", 3, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(green_write(fd, "def", 3, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 6);
    /* A regular file is not made nonblocking by green_write. */
    assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_int_equal(lseek(fd, 1, SEEK_SET), 1);
    assert_int_equal(green_file_read(fd, buf, 2, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(buf, "bc", 2);
    assert_int_equal(green_read(fd, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(buf, "def", 3);
    assert_int_equal(green_read(fd, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 0); /* end of file */
    assert_int_equal(green_file_read(fd, buf, sizeof(buf), NULL), 0);
    assert_int_equal(green_close(fd), 0);
    unlink(path);
}

/* Several MiB in one call, checked byte for byte. */
static void test_large_transfer(void **state)
{
    enum { SIZE = 8 << 20 };
    char path[64];
    unsigned char *out = malloc(SIZE), *in = calloc(1, SIZE);
    size_t n = 0, done = 0;
    int fd = test_temp_file(path, sizeof(path));

    (void)state;
    assert_non_null(out);
    assert_non_null(in);
    for (size_t i = 0; i < SIZE; i++)
        out[i] = (unsigned char)(i * 7 + (i >> 12));
    assert_int_equal(green_pwrite(fd, out, SIZE, 0, &n), 0);
    assert_int_equal(n, SIZE);
    assert_int_equal(green_fsync(fd), 0);
    while (done < SIZE) {
        assert_int_equal(green_pread(fd, in + done, SIZE - done, done, &n), 0);
        assert_true(n > 0);
        done += n;
    }
    assert_memory_equal(in, out, SIZE);
    assert_int_equal(green_close(fd), 0);
    unlink(path);
    free(in);
    free(out);
}

static void test_errors(void **state)
{
    char path[64], buf[4];
    int fd = -1, dir = -1;
    size_t n = 99;

    (void)state;
    assert_int_equal(
        green_file_open(&fd, "/nonexistent/green/file", O_RDONLY, 0), ENOENT);
    assert_int_equal(fd, -1);
    assert_int_equal(green_file_open(&fd, "/tmp", O_WRONLY, 0), EISDIR);
    assert_int_equal(green_file_open(NULL, "/tmp", O_RDONLY, 0), EINVAL);
    assert_int_equal(green_file_open(&fd, NULL, O_RDONLY, 0), EINVAL);
    assert_int_equal(green_file_open(&dir, "/tmp", O_RDONLY | O_DIRECTORY, 0),
                     0);
    assert_int_equal(green_pread(dir, buf, sizeof(buf), 0, &n), EISDIR);
    assert_int_equal(n, 99); /* untouched on error */
    assert_int_equal(green_close(dir), 0);

    fd = test_temp_file(path, sizeof(path));
    assert_int_equal(green_pread(fd, NULL, 1, 0, &n), EINVAL);
    assert_int_equal(green_pwrite(fd, NULL, 1, 0, &n), EINVAL);
    assert_int_equal(green_pread(fd, buf, sizeof(buf), -1, &n), EINVAL);
    assert_int_equal(green_pread(fd, NULL, 0, 0, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(green_close(fd), 0);
    /* fd is closed now. */
    assert_int_equal(green_pread(fd, buf, sizeof(buf), 0, &n), EBADF);
    assert_int_equal(green_pwrite(fd, "x", 1, 0, &n), EBADF);
    assert_int_equal(green_file_read(fd, buf, sizeof(buf), &n), EBADF);
    assert_int_equal(green_file_write(fd, "x", 1, &n), EBADF);
    assert_int_equal(green_fsync(fd), EBADF);
    assert_int_equal(green_fsync(-1), EBADF);
    assert_int_equal(green_close(-1), EBADF);
    /* Read-only: writing fails as write(2) does. */
    assert_int_equal(green_file_open(&fd, path, O_RDONLY, 0), 0);
    assert_int_equal(green_pwrite(fd, "x", 1, 0, &n), EBADF);
    assert_int_equal(green_close(fd), 0);
    unlink(path);
}

/* ---- Only the green thread waits -------------------------------------- */

static void *ticker_main(void *arg)
{
    atomic_long *ticks = arg;

    while (green_sleep(0) == 0 && atomic_load(ticks) >= 0)
        atomic_fetch_add(ticks, 1);
    return NULL;
}

enum {
    OP_OPEN,
    OP_PWRITE,
    OP_FSYNC,
    OP_PREAD,
    OP_WRITE,
    OP_READ,
    OP_CLOSE,
    OPS
};

struct file_user {
    const char *path;
    size_t chunk, rounds;
    int err;
    long parked[OPS]; /* the ticker's progress during each kind of call */
    atomic_long *ticks;
};

static int user_call(const struct file_user *u, int op, int *fd, char *buf,
                     off_t at)
{
    switch (op) {
    case OP_OPEN:
        return green_file_open(fd, u->path, O_RDWR, 0);
    case OP_PWRITE:
        return green_pwrite(*fd, buf, u->chunk, at, NULL);
    case OP_FSYNC:
        return green_fsync(*fd);
    case OP_PREAD:
        return green_pread(*fd, buf, u->chunk, at, NULL);
    case OP_WRITE:
        return green_write(*fd, buf, u->chunk, NULL);
    case OP_READ:
        return green_read(*fd, buf, u->chunk, NULL);
    default:
        return green_close(*fd);
    }
}

static void *user_main(void *arg)
{
    struct file_user *u = arg;
    char *buf = calloc(1, u->chunk);
    int fd = -1;

    u->err = buf == NULL ? ENOMEM : 0;
    for (size_t i = 0; u->err == 0 && i < u->rounds; i++)
        for (int op = 0; u->err == 0 && op < OPS; op++) {
            long before = atomic_load(u->ticks);

            u->err = user_call(u, op, &fd, buf, (off_t)(i * u->chunk));
            u->parked[op] += atomic_load(u->ticks) - before;
        }
    free(buf);
    return NULL;
}

/* The user never yields on its own: the ticker can only run while a file
 * call parks the user.  A call made as a plain system call would leave
 * the ticker where it was. */
static void test_other_threads_run(void **state)
{
    char path[64];
    atomic_long ticks = 0;
    struct file_user u = {
        .path = path, .chunk = 256 << 10, .rounds = 8, .ticks = &ticks};
    green_thread_t *ticker, *user;

    (void)state;
    close(test_temp_file(path, sizeof(path)));
    ticker = spawn_or_fail(ticker_main, &ticks);
    user = spawn_or_fail(user_main, &u);
    assert_int_equal(green_thread_wait(user, NULL), 0);
    atomic_store(&ticks, -1000000000L);
    assert_int_equal(green_thread_wait(ticker, NULL), 0);
    green_thread_release(user);
    green_thread_release(ticker);
    assert_int_equal(u.err, 0);
    for (int op = 0; op < OPS; op++)
        assert_true(u.parked[op] >= 1);
    unlink(path);
}

/* ---- Cuts: a started read keeps the buffer until it ends ------------------
 *
 * green_file_read on a pipe blocks until data comes: a stand-in for a
 * slow disk, as a read that is certainly under way when the cut comes.
 * The data comes from a plain OS thread, long after the cut (which comes
 * 0.1 s after the call: time enough for a warm worker to start the read).
 */

enum { LATE_DELAY_MS = 1000 };

/* One round trip first, so that a worker exists and picks the read up at
 * once (fsync of a pipe fails with EINVAL). */
static void warm_pool(int pipe_fd)
{
    assert_int_equal(green_fsync(pipe_fd), EINVAL);
}

struct late_writer {
    int fd;
    double delay;
    atomic_int wrote;
};

static void *late_writer_main(void *arg)
{
    struct late_writer *w = arg;

    usleep((useconds_t)(w->delay * 1e6));
    atomic_store(&w->wrote, 1);
    if (write(w->fd, "late", 4) != 4)
        atomic_store(&w->wrote, -1);
    return NULL;
}

struct cut_read {
    int fd;
    int err;
    int fired;
    int wrote_at_return;
    size_t n;
    char copy[8];
};

/* What the cut read saw, checked per path: the pool waited for its worker
 * (the read completed, into a buffer still alive); io_uring cancelled it
 * (the data is still in the pipe). */
static void check_cut_read(const struct cut_read *c, int cut_err, int fd)
{
    char rest[8] = {0};

    if (test_files_native()) {
        assert_int_equal(c->err, cut_err);
        assert_int_equal(read(fd, rest, sizeof(rest)), 4);
        assert_memory_equal(rest, "late", 4);
    } else {
        assert_int_equal(c->err, 0);
        assert_int_equal(c->wrote_at_return, 1);
        assert_int_equal(c->n, 4);
        assert_memory_equal(c->copy, "late", 4);
    }
}

static void *cut_read_main(void *arg)
{
    struct cut_read *c = arg;
    char buf[8] = {0}; /* dies with this call */

    c->err = green_file_read(c->fd, buf, sizeof(buf), &c->n);
    memcpy(c->copy, buf, sizeof(buf));
    return NULL;
}

static void test_timeout_scope_during_read(void **state)
{
    struct late_writer w = {.delay = LATE_DELAY_MS / 1000.0};
    struct cut_read c = {.n = 0};
    green_timeout_t scope;
    pthread_t writer;
    int fds[2];

    (void)state;
    assert_int_equal(pipe(fds), 0);
    c.fd = fds[0];
    w.fd = fds[1];
    warm_pool(fds[1]);
    assert_int_equal(pthread_create(&writer, NULL, late_writer_main, &w), 0);
    assert_int_equal(green_timeout_start(&scope, 0.1), 0);
    cut_read_main(&c);
    c.wrote_at_return = atomic_load(&w.wrote);
    c.fired = green_timeout_fired(&scope);
    green_timeout_cancel(&scope);
    assert_true(c.fired);
    pthread_join(writer, NULL);
    check_cut_read(&c, ETIMEDOUT, fds[0]);
    close(fds[0]);
    close(fds[1]);
}

struct killed_read {
    struct cut_read c;
    struct late_writer *w;
};

static void *killed_read_main(void *arg)
{
    struct killed_read *k = arg;

    cut_read_main(&k->c);
    k->c.wrote_at_return = atomic_load(&k->w->wrote);
    return NULL;
}

static void test_kill_during_read(void **state)
{
    struct late_writer w = {.delay = LATE_DELAY_MS / 1000.0};
    struct killed_read k = {.w = &w};
    green_thread_t *t;
    pthread_t writer;
    int fds[2];

    (void)state;
    assert_int_equal(pipe(fds), 0);
    k.c.fd = fds[0];
    w.fd = fds[1];
    warm_pool(fds[1]);
    assert_int_equal(pthread_create(&writer, NULL, late_writer_main, &w), 0);
    t = spawn_or_fail(killed_read_main, &k);
    assert_int_equal(green_sleep(0.1), 0); /* the read is under way */
    assert_int_equal(green_thread_kill(t), 0);
    assert_true(green_thread_dead(t));
    green_thread_release(t);
    pthread_join(writer, NULL);
    check_cut_read(&k.c, ECANCELED, fds[0]);
    close(fds[0]);
    close(fds[1]);
}

/* ---- Cuts: a queued operation never starts (the thread-pool path) --------
 *
 * A pool of one worker, held by a job until the test lets it go, keeps the
 * file calls queued while the cut comes.
 */

static atomic_int gate_open;

static void *hold_worker(void *unused)
{
    (void)unused;
    while (!atomic_load(&gate_open))
        usleep(1000);
    return NULL;
}

static void *holder_main(void *unused)
{
    (void)unused;
    return TEST_INT_VALUE(green_tpool_execute(hold_worker, NULL, NULL));
}

static green_thread_t *hold_pool(void)
{
    green_thread_t *holder;

    atomic_store(&gate_open, 0);
    assert_int_equal(green_tpool_set_size(1), 0);
    holder = spawn_or_fail(holder_main, NULL);
    assert_int_equal(green_sleep(0.05), 0); /* the worker holds the job */
    return holder;
}

static void release_pool(green_thread_t *holder)
{
    void *result = NULL;

    atomic_store(&gate_open, 1);
    assert_int_equal(green_thread_wait(holder, &result), 0);
    green_thread_release(holder);
    assert_int_equal(TEST_VALUE_INT(result), 0);
    assert_int_equal(green_tpool_set_size(GREEN_TPOOL_DEFAULT_SIZE), 0);
}

static void test_queued_calls_never_start(void **state)
{
    char path[64], created[80], *buf = malloc(4);
    green_thread_t *holder;
    green_timeout_t scope;
    int fd = test_temp_file(path, sizeof(path)), other = -1;
    size_t n = 0;

    (void)state;
    assert_non_null(buf);
    snprintf(created, sizeof(created), "%s.new", path);
    assert_int_equal(green_pwrite(fd, "keep", 4, 0, &n), 0);
    holder = hold_pool();
    assert_int_equal(green_timeout_start(&scope, 0.02), 0);
    assert_int_equal(green_pwrite(fd, "lost", 4, 0, &n), ETIMEDOUT);
    green_timeout_cancel(&scope);
    assert_int_equal(green_timeout_start(&scope, 0.02), 0);
    assert_int_equal(green_pread(fd, buf, 4, 0, &n), ETIMEDOUT);
    green_timeout_cancel(&scope);
    free(buf); /* a skipped read must not write here later (ASan) */
    assert_int_equal(green_timeout_start(&scope, 0.02), 0);
    assert_int_equal(green_file_open(&other, created, O_CREAT | O_RDWR, 0600),
                     ETIMEDOUT);
    green_timeout_cancel(&scope);
    release_pool(holder);
    /* The one worker runs jobs in order: this one comes after the three
     * skipped ones, which left the file as it was. */
    buf = calloc(1, 4);
    assert_non_null(buf);
    assert_int_equal(green_pread(fd, buf, 4, 0, &n), 0);
    assert_memory_equal(buf, "keep", 4);
    assert_int_equal(access(created, F_OK), -1);
    free(buf);
    close(fd);
    unlink(path);
}

/* A close is never skipped: the fd is released by the time the call
 * returns, whatever it says. */
static void test_queued_close_still_closes(void **state)
{
    char path[64];
    green_thread_t *holder;
    green_timeout_t scope;
    int fd = test_temp_file(path, sizeof(path));
    size_t n = 0;

    (void)state;
    assert_int_equal(green_read(fd, NULL, 0, &n), 0); /* known regular */
    holder = hold_pool();
    assert_int_equal(green_timeout_start(&scope, 0.02), 0);
    assert_int_equal(green_close(fd), ETIMEDOUT);
    green_timeout_cancel(&scope);
    assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed */
    release_pool(holder);
    unlink(path);
}

/* From the main greenlet, with no green thread: the calls block the
 * caller like the syscalls, and need no running hub. */
static void test_from_main(void **state)
{
    char path[64], buf[4];
    int fd = test_temp_file(path, sizeof(path));
    size_t n = 0;

    (void)state;
    assert_int_equal(green_pwrite(fd, "main", 4, 0, &n), 0);
    assert_int_equal(green_pread(fd, buf, 4, 0, &n), 0);
    assert_memory_equal(buf, "main", 4);
    assert_int_equal(green_close(fd), 0);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        hub_test(test_backend_path),
        hub_test(test_round_trip),
        hub_test(test_offset_calls),
        hub_test(test_large_transfer),
        hub_test(test_errors),
        hub_test(test_other_threads_run),
        hub_test(test_timeout_scope_during_read),
        hub_test(test_kill_during_read),
        hub_test(test_from_main),
    };
    /* The pool's own mechanics: on io_uring no pool is involved. */
    const struct CMUnitTest pool_tests[] = {
        hub_test(test_queued_calls_never_start),
        hub_test(test_queued_close_still_closes),
    };
    int failed;

    test_filter_from_env();
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (!test_files_native())
        failed += cmocka_run_group_tests(pool_tests, NULL, NULL);
    green_hub_destroy();
    return failed;
}

/* GREEN_TEST_BACKENDS */
/*
 * fork and exit: every piece of process-wide state (thread pool, hub
 * registry, watchdog, fd tables, cross-thread wake-ups) works in a child
 * forked after the piece was used, whether fork was called from the main
 * greenlet or from a green thread; and exit does not wait for a pool job
 * blocked in user code.  Each child runs under alarm(), so that a hang
 * fails instead of blocking the suite, and ends with exit(), so that the
 * atexit handlers run too.
 */
#define _GNU_SOURCE
#include "test_fork_util.h"
#include "test_hub_util.h"

#include <green/dns.h>
#include <green/io.h>
#include <green/tpool.h>
#include <green/xqueue.h>

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- Thread pool and DNS ---------------------------------------------- */

static void *add_one(void *arg)
{
    return TEST_INT_VALUE(TEST_VALUE_INT(arg) + 1);
}

static int tpool_execute_works(void)
{
    void *result = NULL;

    if (green_tpool_execute(add_one, TEST_INT_VALUE(1), &result) != 0)
        return 1;
    return TEST_VALUE_INT(result) == 2 ? 0 : 2;
}

static int tpool_works(void)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;

    if (tpool_execute_works() != 0)
        return 1;
    if (green_getaddrinfo("localhost", "80", &hints, &res, 10, NULL) != 0)
        return 2;
    freeaddrinfo(res);
    return 0;
}

static void test_tpool_and_dns_after_fork(void **state)
{
    (void)state;
    /* The parent's workers exist and are idle at fork.  They make no
     * lookup: glibc keeps a thread's resolver configuration where a child
     * forked while the thread lives cannot reach it (valgrind reports it
     * lost in the child, with or without libgreen). */
    assert_int_equal(tpool_execute_works(), 0);
    assert_child_ok(fork_child(tpool_works), "main");
    assert_child_ok(fork_from_green_thread(tpool_works), "a green thread");
    assert_int_equal(tpool_execute_works(), 0);
}

/* Jobs blocked in a parent's worker when it forks: one running, one
 * queued behind it (pool size 1). */
#define PENDING_JOBS 2

static int block_fds[2];
static atomic_int jobs_started, jobs_abandoned;
static int pending_err[PENDING_JOBS];
static green_thread_t *pending_callers[PENDING_JOBS];

static void *read_block_fd(void *arg)
{
    char byte;

    (void)arg;
    atomic_fetch_add(&jobs_started, 1);
    return TEST_INT_VALUE(read(block_fds[0], &byte, 1));
}

static void count_abandoned(void *arg, void *result)
{
    (void)arg;
    (void)result;
    atomic_fetch_add(&jobs_abandoned, 1);
}

static void *call_blocking_job(void *arg)
{
    int *err = arg;

    *err = green_tpool_execute_ex(read_block_fd, NULL, count_abandoned,
                                  GREEN_FOREVER, NULL);
    return NULL;
}

/* The callers' jobs belong to the parent's workers: in the child they
 * fail at once with EOWNERDEAD, arg going to `abandoned`, and the pool
 * still runs new jobs. */
static int pending_jobs_fail(void)
{
    for (int i = 0; i < PENDING_JOBS; i++)
        if (green_thread_wait(pending_callers[i], NULL) != 0 ||
            pending_err[i] != EOWNERDEAD)
            return 10 + i;
    if (atomic_load(&jobs_abandoned) != PENDING_JOBS)
        return 20;
    return tpool_works();
}

static void start_pending_jobs(void)
{
    assert_int_equal(pipe(block_fds), 0);
    atomic_store(&jobs_started, 0);
    atomic_store(&jobs_abandoned, 0);
    for (int i = 0; i < PENDING_JOBS; i++) {
        pending_err[i] = -1;
        pending_callers[i] = spawn_or_fail(call_blocking_job, &pending_err[i]);
    }
    while (atomic_load(&jobs_started) == 0)
        assert_int_equal(green_sleep(0.001), 0);
}

/* The parent's jobs are untouched by the fork: they finish here. */
static void finish_pending_jobs(void)
{
    char bytes[PENDING_JOBS] = {0};

    assert_int_equal(write(block_fds[1], bytes, sizeof(bytes)),
                     (ssize_t)sizeof(bytes));
    for (int i = 0; i < PENDING_JOBS; i++) {
        assert_int_equal(green_thread_wait(pending_callers[i], NULL), 0);
        green_thread_release(pending_callers[i]);
        assert_int_equal(pending_err[i], 0);
    }
    assert_int_equal(atomic_load(&jobs_abandoned), 0);
    close(block_fds[0]);
    close(block_fds[1]);
}

static void test_tpool_jobs_pending_at_fork(void **state)
{
    (void)state;
    assert_int_equal(green_tpool_set_size(1), 0);
    start_pending_jobs();
    assert_child_ok(fork_child(pending_jobs_fail), "main");
    finish_pending_jobs();
    start_pending_jobs();
    assert_child_ok(fork_from_green_thread(pending_jobs_fail),
                    "a green thread");
    finish_pending_jobs();
    assert_int_equal(green_tpool_set_size(GREEN_TPOOL_DEFAULT_SIZE), 0);
}

/* ---- Exit with a job blocked in user code ----------------------------- */

/* When the child called exit(), on the clock all processes share. */
static _Atomic double *exit_called_at;

/* A job blocks in read() on a pipe nobody writes; exit(0) must not wait
 * for it. */
static int exit_with_blocked_job(void)
{
    green_thread_t *caller;
    int err = -1;

    if (pipe(block_fds) != 0)
        return 1;
    atomic_store(&jobs_started, 0);
    if (green_spawn(&caller, call_blocking_job, &err) != 0)
        return 2;
    while (atomic_load(&jobs_started) == 0)
        if (green_sleep(0.001) != 0)
            return 3;
    atomic_store(exit_called_at, green_now());
    return 0;
}

static void test_exit_does_not_wait_for_blocked_job(void **state)
{
    /* The job blocks for good: an exit that waited for it would never
     * end, and the child's alarm would kill it (status not 0).  Valgrind's
     * leak check and qemu on a loaded machine take seconds, so the bound
     * is the alarm's, not a guess of how fast exit is. */
    double limit = CHILD_ALARM_S, seconds;

    (void)state;
    exit_called_at = mmap(NULL, sizeof(*exit_called_at), PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(exit_called_at != MAP_FAILED);
    atomic_store(exit_called_at, 0);
    assert_int_equal(wait_child(fork_child(exit_with_blocked_job)), 0);
    seconds = green_now() - atomic_load(exit_called_at);
    if (seconds >= limit)
        print_message("exit took %.1f s\n", seconds);
    assert_true(seconds < limit);
    munmap((void *)exit_called_at, sizeof(*exit_called_at));
}

/* ---- Hub registry ----------------------------------------------------- */

/* Another OS thread of the parent, with a hub, blocked at fork. */
static struct {
    pthread_t thread;
    int release[2];
    _Atomic(green_hub_t *) hub;
} other;

static void *other_thread_main(void *arg)
{
    char byte;

    (void)arg;
    atomic_store(&other.hub, green_hub_current());
    return TEST_INT_VALUE(read(other.release[0], &byte, 1));
}

struct xcall {
    green_hub_t *hub;
    int err;
    int ran;
    pthread_t ran_on;
};

static void mark_ran(void *arg)
{
    struct xcall *call = arg;

    call->ran = 1;
    call->ran_on = pthread_self();
}

static void *post_call(void *arg)
{
    struct xcall *call = arg;

    call->err = green_hub_call_threadsafe(call->hub, mark_ran, call);
    return NULL;
}

static void *sleep_then_seven(void *arg)
{
    (void)arg;
    return TEST_INT_VALUE(green_sleep(0.01) == 0 ? 7 : -1);
}

/* Spawn and sleep on the calling thread's hub. */
static int spawn_and_sleep(void)
{
    green_thread_t *t;
    void *result = NULL;
    int err = green_spawn(&t, sleep_then_seven, NULL);

    if (err != 0)
        return err;
    err = green_thread_wait(t, &result);
    green_thread_release(t);
    return err == 0 && TEST_VALUE_INT(result) == 7 ? 0 : EIO;
}

static void *new_hub_thread(void *arg)
{
    (void)arg;
    if (spawn_and_sleep() != 0)
        return TEST_INT_VALUE(1);
    return TEST_INT_VALUE(green_hub_destroy());
}

/* A call from a new thread of the child runs on the child's hub. */
static int call_from_new_thread(void)
{
    struct xcall call = {.hub = green_hub_current(), .err = -1};
    double deadline = green_now() + 10;
    pthread_t thread;

    if (pthread_create(&thread, NULL, post_call, &call) != 0)
        return 1;
    pthread_join(thread, NULL);
    if (call.err != 0)
        return 2;
    while (!call.ran && green_now() < deadline)
        green_sleep(0.001);
    return call.ran && pthread_equal(call.ran_on, pthread_self()) ? 0 : 3;
}

static int hub_works(void)
{
    struct xcall gone = {.hub = atomic_load(&other.hub), .err = -1};
    void *result = NULL;
    pthread_t thread;

    if (spawn_and_sleep() != 0)
        return 1;
    if (call_from_new_thread() != 0)
        return 2;
    /* Other threads' hubs do not exist in the child. */
    if (green_hub_call_threadsafe(gone.hub, mark_ran, &gone) != EPIPE)
        return 3;
    if (pthread_create(&thread, NULL, new_hub_thread, NULL) != 0 ||
        pthread_join(thread, &result) != 0 || result != NULL)
        return 4;
    return 0;
}

static void test_hub_registry_after_fork(void **state)
{
    (void)state;
    assert_int_equal(pipe(other.release), 0);
    atomic_store(&other.hub, NULL);
    assert_int_equal(
        pthread_create(&other.thread, NULL, other_thread_main, NULL), 0);
    while (atomic_load(&other.hub) == NULL)
        usleep(1000);
    assert_int_equal(spawn_and_sleep(), 0);
    assert_child_ok(fork_child(hub_works), "main");
    assert_child_ok(fork_from_green_thread(hub_works), "a green thread");
    assert_int_equal(write(other.release[1], "x", 1), 1);
    assert_int_equal(pthread_join(other.thread, NULL), 0);
    close(other.release[0]);
    close(other.release[1]);
}

/* ---- Watchdog --------------------------------------------------------- */

/* The text written to fd (a file) from offset 0, in text. */
static void read_log(int fd, char *text, size_t size)
{
    ssize_t n = pread(fd, text, size - 1, 0);

    text[n > 0 ? n : 0] = '\0';
}

/* Runs without yielding until the watchdog's report about it is in the
 * log (fd), at most 10 s: a loaded machine may be slow to report. */
static void *busy_until_reported(void *arg)
{
    double until = green_now() + 10;
    char text[8192];

    do
        read_log(*(int *)arg, text, sizeof(text));
    while (strstr(text, "'busy-bee'") == NULL && green_now() < until);
    return NULL;
}

/* The parent's 50 ms watchdog goes on in the child: a green thread
 * running without yielding is reported; it can be turned off and
 * on again. */
static int watchdog_works(void)
{
    green_thread_attr_t attr = {.name = "busy-bee"};
    int real_stderr = dup(STDERR_FILENO);
    FILE *log = tmpfile();
    int log_fd = log != NULL ? fileno(log) : -1;
    green_thread_t *t;
    char text[8192];

    if (real_stderr < 0 || log == NULL || dup2(log_fd, STDERR_FILENO) < 0)
        return 1;
    if (green_spawn_attr(&t, &attr, busy_until_reported, &log_fd) != 0)
        return 2;
    if (green_thread_wait(t, NULL) != 0)
        return 3;
    green_thread_release(t);
    read_log(log_fd, text, sizeof(text));
    dup2(real_stderr, STDERR_FILENO);
    fputs(text, stderr);
    if (strstr(text, "'busy-bee'") == NULL)
        return 4;
    if (green_watchdog_enable(0) != 0 || green_watchdog_enable(50) != 0 ||
        green_watchdog_enable(0) != 0)
        return 5;
    return 0;
}

static void test_watchdog_after_fork(void **state)
{
    (void)state;
    assert_int_equal(green_watchdog_enable(50), 0);
    assert_child_ok(fork_child(watchdog_works), "main");
    assert_child_ok(fork_from_green_thread(watchdog_works), "a green thread");
    assert_int_equal(green_watchdog_enable(0), 0);
}

/* ---- fd tables -------------------------------------------------------- */

/* A socket pair made and waited on (claimed by the parent's hub) before
 * fork; sock[0] has a timeout. */
static int sock[2];

static void *recv_one(void *arg)
{
    char byte = 0;
    size_t got = 0;
    int err = green_recv(sock[0], &byte, 1, 0, &got);

    (void)arg;
    return TEST_INT_VALUE(err == 0 && got == 1 ? byte : -err);
}

/* A reader parks on sock[0] (so its hub must watch the fd) and gets what
 * the caller sends. */
static int recv_after_send(char byte)
{
    green_thread_t *reader;
    void *result = NULL;
    size_t sent = 0;

    if (green_spawn(&reader, recv_one, NULL) != 0)
        return 1;
    if (green_sleep(0.01) != 0 ||
        green_send(sock[1], &byte, 1, 0, &sent) != 0 || sent != 1)
        return 2;
    if (green_thread_wait(reader, &result) != 0)
        return 3;
    green_thread_release(reader);
    return TEST_VALUE_INT(result) == byte ? 0 : 4;
}

static int fds_work(void)
{
    if (green_get_timeout(sock[0]) != 5.0)
        return 10;
    return recv_after_send('c');
}

static void test_fd_tables_after_fork(void **state)
{
    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sock),
                     0);
    assert_int_equal(green_fd_manage(sock[0]), 0);
    assert_int_equal(green_fd_manage(sock[1]), 0);
    assert_int_equal(green_set_timeout(sock[0], 5.0), 0);
    assert_int_equal(recv_after_send('p'), 0);
    assert_child_ok(fork_child(fds_work), "main");
    assert_child_ok(fork_from_green_thread(fds_work), "a green thread");
    assert_int_equal(recv_after_send('q'), 0);
    assert_int_equal(green_close(sock[0]), 0);
    assert_int_equal(green_close(sock[1]), 0);
}

/* ---- Cross-thread wake-ups -------------------------------------------- */

/* A getter parked on an xqueue at fork, woken in the child by a put from
 * a new OS thread. */
static green_xqueue_t *xq;
static green_thread_t *xq_getter;

static void *get_one(void *arg)
{
    void *item = NULL;
    int err = green_xqueue_get(xq, &item, 20);

    (void)arg;
    return err == 0 ? item : TEST_INT_VALUE(-err);
}

static void *put_five(void *arg)
{
    (void)arg;
    return TEST_INT_VALUE(green_xqueue_put(xq, TEST_INT_VALUE(5), 10));
}

static int xwake_works(void)
{
    void *result = NULL;
    pthread_t thread;

    if (pthread_create(&thread, NULL, put_five, NULL) != 0 ||
        pthread_join(thread, &result) != 0 || result != NULL)
        return 1;
    if (green_thread_wait(xq_getter, &result) != 0 ||
        TEST_VALUE_INT(result) != 5)
        return 2;
    return call_from_new_thread() != 0 ? 3 : 0;
}

static void start_getter(void)
{
    xq_getter = spawn_or_fail(get_one, NULL);
    assert_int_equal(green_sleep(0.01), 0); /* parked in the queue */
}

static void finish_getter(void)
{
    void *result = NULL;

    assert_int_equal(green_xqueue_put(xq, TEST_INT_VALUE(6), 0), 0);
    assert_int_equal(green_thread_wait(xq_getter, &result), 0);
    green_thread_release(xq_getter);
    assert_int_equal(TEST_VALUE_INT(result), 6);
}

static void test_xwake_after_fork(void **state)
{
    (void)state;
    assert_int_equal(green_xqueue_new(&xq, GREEN_XQUEUE_UNBOUNDED), 0);
    start_getter();
    assert_child_ok(fork_child(xwake_works), "main");
    finish_getter();
    start_getter();
    assert_child_ok(fork_from_green_thread(xwake_works), "a green thread");
    finish_getter();
    assert_int_equal(green_xqueue_destroy(xq, NULL), 0);
}

/* Teardown: no worker that made a lookup outlives its test (see above). */
static int stop_pool_and_hub(void **state)
{
    (void)state;
    return green_tpool_shutdown() == 0 ? green_hub_destroy() : -1;
}

#define fork_test(fn) cmocka_unit_test_teardown(fn, stop_pool_and_hub)

int main(void)
{
    const struct CMUnitTest tests[] = {
        fork_test(test_tpool_and_dns_after_fork),
        fork_test(test_tpool_jobs_pending_at_fork),
        fork_test(test_exit_does_not_wait_for_blocked_job),
        fork_test(test_hub_registry_after_fork),
        fork_test(test_watchdog_after_fork),
        fork_test(test_fd_tables_after_fork),
        fork_test(test_xwake_after_fork),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* GREEN_TEST_BACKENDS */
/*
 * The hub: backends, fd waits (EBUSY, EBADF on close, timeouts), deadlock
 * reports, managed fds (edge-triggered, registered once, safe to close
 * and reuse), green_hub_run, cross-thread calls and keepalive, the error
 * hook and hub restarts, fork, I/O not starved by sleep(0) loops, fresh
 * clock reads after CPU-heavy stretches.
 */
#define _GNU_SOURCE
#include "test_hub_util.h"

#include <green/thread.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int wait_and_release(green_thread_t *t)
{
    int err = green_thread_wait(t, NULL);

    green_thread_release(t);
    return err;
}

static void spin_for(double seconds)
{
    double until = green_now() + seconds;

    while (green_now() < until)
        ;
}

/* ---- Backends ---------------------------------------------------------- */

static void test_backend_selection(void **state)
{
    const char *env = getenv("GREEN_HUB_BACKEND");
    const char *name = green_hub_backend_name();

    (void)state;
    assert_non_null(name);
    assert_string_equal(name, env != NULL ? env : "epoll");
    assert_int_equal(green_hub_set_backend(GREEN_BACKEND_POLL), EBUSY);
    assert_int_equal(green_hub_destroy(), 0);
    assert_int_equal(green_hub_set_backend(GREEN_BACKEND_POLL), 0);
    assert_string_equal(green_hub_backend_name(), "poll");
    assert_int_equal(green_hub_destroy(), 0);
    assert_int_equal(green_hub_set_backend(GREEN_BACKEND_EPOLL), 0);
    assert_string_equal(green_hub_backend_name(), "epoll");
    assert_int_equal(green_hub_destroy(), 0);
    assert_int_equal(green_hub_set_backend((green_backend_t)42), EINVAL);
    assert_int_equal(green_hub_set_backend(GREEN_BACKEND_DEFAULT), 0);
}

/* ---- File descriptors --------------------------------------------------- */

struct fd_waiter {
    int fd;
    int events;
    double timeout;
    int err;
    int done;
};

static void *fd_wait_run(void *arg)
{
    struct fd_waiter *w = arg;

    w->err = green_wait_fd(w->fd, w->events, w->timeout);
    w->done = 1;
    return NULL;
}

static void test_wait_fd_readable(void **state)
{
    int fds[2];
    struct fd_waiter w;
    green_thread_t *t;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    w = (struct fd_waiter){
        .fd = fds[0], .events = GREEN_READ, .timeout = 10, .err = -1};
    t = spawn_or_fail(fd_wait_run, &w);
    assert_int_equal(green_sleep(0.01), 0);
    assert_false(w.done);
    assert_int_equal(write(fds[1], "x", 1), 1);
    assert_int_equal(wait_and_release(t), 0);
    assert_int_equal(w.err, 0);
    /* Still readable: a second wait returns at once, from main too. */
    assert_int_equal(green_wait_fd(fds[0], GREEN_READ, 1), 0);
    assert_int_equal(green_wait_fd(fds[1], GREEN_WRITE, 1), 0);
    assert_int_equal(green_wait_fd(fds[0], GREEN_READ | GREEN_WRITE, 1), 0);
    close(fds[0]);
    close(fds[1]);
}

static void test_wait_fd_timeout_and_misuse(void **state)
{
    int fds[2];
    double start;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    start = green_now();
    assert_int_equal(green_wait_fd(fds[0], GREEN_READ, 0.03), ETIMEDOUT);
    assert_true(green_now() - start >= 0.025);
    assert_int_equal(green_wait_fd(-1, GREEN_READ, 1), EINVAL);
    assert_int_equal(green_wait_fd(fds[0], 0, 1), EINVAL);
    assert_int_equal(green_wait_fd(fds[0], 0x10, 1), EINVAL);
    close(fds[0]);
    close(fds[1]);
    /* A closed fd number is refused by the kernel. */
    assert_int_equal(green_wait_fd(fds[0], GREEN_READ, 0.01), EBADF);
}

static void test_wait_fd_busy_and_close(void **state)
{
    int fds[2];
    struct fd_waiter r1, r2, wr;
    green_thread_t *t1, *t2, *tw;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    /* Fill the pipe so that a writer has to wait too. */
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    {
        char buffer[4096] = {0};

        while (write(fds[1], buffer, sizeof(buffer)) > 0)
            ;
    }
    r1 = (struct fd_waiter){.fd = fds[0],
                            .events = GREEN_READ,
                            .timeout = GREEN_FOREVER,
                            .err = -1};
    r2 = r1;
    wr = (struct fd_waiter){.fd = fds[1],
                            .events = GREEN_WRITE,
                            .timeout = GREEN_FOREVER,
                            .err = -1};
    /* An empty pipe of its own for the readers. */
    {
        int empty[2];

        assert_int_equal(pipe(empty), 0);
        r1.fd = r2.fd = empty[0];
        t1 = spawn_or_fail(fd_wait_run, &r1);
        t2 = spawn_or_fail(fd_wait_run, &r2);
        tw = spawn_or_fail(fd_wait_run, &wr);
        assert_int_equal(green_sleep(0.01), 0);
        assert_int_equal(wait_and_release(t2), 0);
        assert_int_equal(r2.err, EBUSY);
        assert_false(r1.done);
        assert_false(wr.done);
        /* A writer on the reader's fd is allowed alongside. */
        assert_int_equal(green_wait_fd(empty[0], GREEN_WRITE, 0.01), ETIMEDOUT);
        assert_int_equal(green_close_fd(empty[0]), 0);
        assert_int_equal(green_close_fd(fds[1]), 0);
        assert_int_equal(wait_and_release(t1), 0);
        assert_int_equal(wait_and_release(tw), 0);
        assert_int_equal(r1.err, EBADF);
        assert_int_equal(wr.err, EBADF);
        /* The number can be reused at once and waited on. */
        {
            int again[2];

            assert_int_equal(pipe(again), 0);
            assert_int_equal(write(again[1], "y", 1), 1);
            assert_int_equal(green_wait_fd(again[0], GREEN_READ, 1), 0);
            close(again[0]);
            close(again[1]);
        }
        close(empty[1]);
    }
    close(fds[0]);
    assert_int_equal(green_close_fd(-1), EBADF);
}

static void test_plain_close_and_reuse_is_safe(void **state)
{
    int a[2], b[2];

    (void)state;
    /* Registered, then closed behind the hub's back, the number reused. */
    assert_int_equal(pipe(a), 0);
    assert_int_equal(green_wait_fd(a[0], GREEN_READ, 0.005), ETIMEDOUT);
    close(a[0]);
    close(a[1]);
    assert_int_equal(pipe(b), 0);
    assert_int_equal(b[0], a[0]);
    assert_int_equal(write(b[1], "z", 1), 1);
    assert_int_equal(green_wait_fd(b[0], GREEN_READ, 2), 0);
    close(b[0]);
    close(b[1]);
}

static void test_regular_file_is_always_ready(void **state)
{
    char path[] = "/tmp/green_hub_test_XXXXXX";
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(green_wait_fd(fd, GREEN_READ, 1), 0);
    assert_int_equal(green_wait_fd(fd, GREEN_WRITE, 1), 0);
    close(fd);
}

/* ---- Managed fds --------------------------------------------------------- */

/* A nonblocking socket pair, both ends managed. */
static void managed_pair(int fds[2])
{
    assert_int_equal(
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds),
        0);
    assert_int_equal(green_fd_manage(fds[0]), 0);
    assert_int_equal(green_fd_manage(fds[1]), 0);
}

/* Read or write (w->events) one byte the way the io layer does: wait only
 * after EAGAIN, and try again after every wait. */
static void *managed_io_run(void *arg)
{
    struct fd_waiter *w = arg;
    char byte = 'x';

    for (;;) {
        ssize_t done = w->events == GREEN_READ
                           ? recv(w->fd, &byte, 1, MSG_DONTWAIT)
                           : send(w->fd, &byte, 1, MSG_DONTWAIT);

        if (done == 1) {
            w->err = 0;
            break;
        }
        w->err = errno == EAGAIN ? green_wait_fd(w->fd, w->events, w->timeout)
                                 : errno;
        if (w->err != 0)
            break;
    }
    w->done = 1;
    return NULL;
}

/* Send until the socket buffer is full. */
static void fill_socket(int fd)
{
    char buffer[4096] = {0};

    while (send(fd, buffer, sizeof(buffer), MSG_DONTWAIT) > 0)
        ;
    assert_int_equal(errno, EAGAIN);
}

static void drain_socket(int fd)
{
    char buffer[4096];

    while (recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT) > 0)
        ;
}

static void test_managed_fd_read_and_write(void **state)
{
    int fds[2];
    struct fd_waiter w;
    green_thread_t *t;

    (void)state;
    assert_int_equal(green_fd_manage(-1), EBADF);
    managed_pair(fds);
    /* Several rounds: the one registration keeps serving. */
    for (int round = 0; round < 3; round++) {
        w = (struct fd_waiter){
            .fd = fds[0], .events = GREEN_READ, .timeout = 5, .err = -1};
        t = spawn_or_fail(managed_io_run, &w);
        assert_int_equal(green_sleep(0.01), 0);
        assert_false(w.done);
        assert_int_equal(send(fds[1], "x", 1, 0), 1);
        assert_int_equal(wait_and_release(t), 0);
        assert_int_equal(w.err, 0);
    }
    fill_socket(fds[0]);
    w = (struct fd_waiter){
        .fd = fds[0], .events = GREEN_WRITE, .timeout = 5, .err = -1};
    t = spawn_or_fail(managed_io_run, &w);
    assert_int_equal(green_sleep(0.01), 0);
    assert_false(w.done);
    drain_socket(fds[1]);
    assert_int_equal(wait_and_release(t), 0);
    assert_int_equal(w.err, 0);
    assert_int_equal(green_close_fd(fds[0]), 0);
    assert_int_equal(green_close_fd(fds[1]), 0);
}

/* Data that arrives while nobody waits still answers the next wait. */
static void test_managed_edge_without_waiter_is_kept(void **state)
{
    int fds[2];
    double start;

    (void)state;
    managed_pair(fds);
    assert_int_equal(green_wait_fd(fds[0], GREEN_READ, 0.005), ETIMEDOUT);
    assert_int_equal(send(fds[1], "x", 1, 0), 1);
    assert_int_equal(green_sleep(0.01), 0); /* the hub sees the edge */
    start = green_now();
    assert_int_equal(green_wait_fd(fds[0], GREEN_READ, 30), 0);
    assert_true(green_now() - start < 10); /* not a lost edge's 30 s */
    assert_int_equal(green_close_fd(fds[0]), 0);
    assert_int_equal(green_close_fd(fds[1]), 0);
}

/* Data and the peer's shutdown arrive together, as one edge: a reader
 * that waits before each recv uses that edge for the data, and its next
 * wait must still return, since the fd stays at end of file. */
static void test_managed_hang_up_stays_ready(void **state)
{
    int fds[2];
    char buffer[8];

    (void)state;
    managed_pair(fds);
    assert_int_equal(send(fds[1], "ab", 2, 0), 2);
    assert_int_equal(shutdown(fds[1], SHUT_WR), 0);
    assert_int_equal(green_wait_fd(fds[0], GREEN_READ, 10), 0);
    assert_int_equal(recv(fds[0], buffer, sizeof(buffer), 0), 2);
    assert_int_equal(green_wait_fd(fds[0], GREEN_READ, 10), 0);
    assert_int_equal(green_wait_fd(fds[0], GREEN_READ, 10), 0);
    assert_int_equal(recv(fds[0], buffer, sizeof(buffer), 0), 0);
    /* The other direction is still open and waits as before. */
    assert_int_equal(green_wait_fd(fds[1], GREEN_READ, 0.005), ETIMEDOUT);
    assert_int_equal(green_close_fd(fds[0]), 0);
    assert_int_equal(green_close_fd(fds[1]), 0);
    /* A new managed fd with the same number starts without the hang-up. */
    managed_pair(fds);
    assert_int_equal(green_wait_fd(fds[0], GREEN_READ, 0.005), ETIMEDOUT);
    assert_int_equal(green_close_fd(fds[0]), 0);
    assert_int_equal(green_close_fd(fds[1]), 0);
}

static void *kill_target_run(void *arg)
{
    struct fd_waiter *w = arg;

    w->err = green_wait_fd(w->fd, GREEN_READ, GREEN_FOREVER);
    w->done = 1;
    return NULL;
}

static void test_managed_busy_timeout_kill_close(void **state)
{
    int fds[2];
    struct fd_waiter r1, r2, victim;
    green_thread_t *t1, *t2, *tv;

    (void)state;
    managed_pair(fds);
    assert_int_equal(green_wait_fd(fds[0], GREEN_READ, 0.005), ETIMEDOUT);
    r1 = (struct fd_waiter){
        .fd = fds[0], .events = GREEN_READ, .timeout = 5, .err = -1};
    r2 = r1;
    t1 = spawn_or_fail(fd_wait_run, &r1);
    t2 = spawn_or_fail(fd_wait_run, &r2);
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(wait_and_release(t2), 0);
    assert_int_equal(r2.err, EBUSY);
    assert_false(r1.done);
    /* A killed waiter leaves its place free. */
    victim = (struct fd_waiter){.fd = fds[1], .err = -1};
    tv = spawn_or_fail(kill_target_run, &victim);
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(green_thread_kill(tv), 0);
    green_thread_release(tv);
    assert_int_equal(victim.err, ECANCELED);
    assert_int_equal(green_wait_fd(fds[1], GREEN_READ, 0.005), ETIMEDOUT);
    assert_int_equal(green_close_fd(fds[0]), 0);
    assert_int_equal(wait_and_release(t1), 0);
    assert_int_equal(r1.err, EBADF);
    assert_int_equal(green_close_fd(fds[1]), 0);
}

/* A managed fd closed through the hub, its number reused: by a managed
 * socket, then by an unmanaged pipe, which keeps level-triggered waits. */
static void test_managed_close_and_reuse(void **state)
{
    int a[2], b[2], p[2];

    (void)state;
    managed_pair(a);
    assert_int_equal(green_wait_fd(a[0], GREEN_READ, 0.005), ETIMEDOUT);
    assert_int_equal(green_close_fd(a[0]), 0);
    assert_int_equal(green_close_fd(a[1]), 0);
    managed_pair(b);
    assert_int_equal(b[0], a[0]);
    assert_int_equal(green_wait_fd(b[0], GREEN_READ, 0.005), ETIMEDOUT);
    assert_int_equal(send(b[1], "x", 1, 0), 1);
    assert_int_equal(green_wait_fd(b[0], GREEN_READ, 2), 0);
    assert_int_equal(green_close_fd(b[0]), 0);
    assert_int_equal(green_close_fd(b[1]), 0);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(p[0], a[0]);
    assert_int_equal(write(p[1], "y", 1), 1);
    assert_int_equal(green_wait_fd(p[0], GREEN_READ, 2), 0);
    assert_int_equal(green_wait_fd(p[0], GREEN_READ, 2), 0);
    close(p[0]);
    close(p[1]);
}

static void *close_fd_elsewhere(void *arg)
{
    return TEST_INT_VALUE(green_close_fd(*(int *)arg));
}

/* Closed by another OS thread, which cannot touch this hub's table: the
 * number reused by an unmanaged pipe still gets level-triggered waits. */
static void test_managed_closed_in_other_thread(void **state)
{
    int a[2], p[2];
    pthread_t thread;
    void *result = NULL;

    (void)state;
    managed_pair(a);
    assert_int_equal(green_wait_fd(a[0], GREEN_READ, 0.005), ETIMEDOUT);
    assert_int_equal(pthread_create(&thread, NULL, close_fd_elsewhere, &a[0]),
                     0);
    assert_int_equal(pthread_join(thread, &result), 0);
    assert_int_equal(TEST_VALUE_INT(result), 0);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(p[0], a[0]);
    assert_int_equal(write(p[1], "y", 1), 1);
    assert_int_equal(green_wait_fd(p[0], GREEN_READ, 2), 0);
    assert_int_equal(green_wait_fd(p[0], GREEN_READ, 2), 0);
    close(p[0]);
    close(p[1]);
    assert_int_equal(green_close_fd(a[1]), 0);
}

/* How many of this process's epoll instances hold fd, from
 * /proc/self/fdinfo; *mask (may be NULL) gets the last one's events. */
static int epoll_registrations(int fd, unsigned *mask)
{
    char path[64], line[256];
    int count = 0;

    for (int epfd = 0; epfd < 1024; epfd++) {
        FILE *info;

        snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", epfd);
        info = fopen(path, "r");
        if (info == NULL)
            continue;
        while (fgets(line, sizeof(line), info) != NULL) {
            int tfd;
            unsigned events;

            if (sscanf(line, "tfd: %d events: %x", &tfd, &events) == 2 &&
                tfd == fd) {
                count++;
                if (mask != NULL)
                    *mask = events;
            }
        }
        fclose(info);
    }
    return count;
}

static void *managed_read_elsewhere(void *arg)
{
    struct fd_waiter *w = arg;

    managed_io_run(w);
    green_hub_destroy();
    return NULL;
}

/* Another hub's wait takes the fd over; the first hub drops its stale
 * registration at the next edge, and can take the fd back later. */
static void test_managed_fd_moves_between_hubs(void **state)
{
    int epoll = strcmp(green_hub_backend_name(), "epoll") == 0;
    int fds[2];
    struct fd_waiter w;
    green_thread_t *t;
    pthread_t thread;

    (void)state;
    managed_pair(fds);
    assert_int_equal(green_wait_fd(fds[0], GREEN_READ, 0.005), ETIMEDOUT);
    w = (struct fd_waiter){
        .fd = fds[0], .events = GREEN_READ, .timeout = 5, .err = -1};
    assert_int_equal(pthread_create(&thread, NULL, managed_read_elsewhere, &w),
                     0);
    /* Until the other hub has claimed the fd and parked (poll(2) has no
     * claims to see: there, a moment's sleep). */
    for (int i = 0;
         i < 5000 && (epoll ? epoll_registrations(fds[0], NULL) < 2 : i < 100);
         i++)
        usleep(1000);
    assert_int_equal(send(fds[1], "x", 1, 0), 1);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(w.err, 0);
    assert_int_equal(green_sleep(0.01), 0); /* this hub sees the edge */
    assert_int_equal(epoll_registrations(fds[0], NULL), 0);
    w = (struct fd_waiter){
        .fd = fds[0], .events = GREEN_READ, .timeout = 5, .err = -1};
    t = spawn_or_fail(managed_io_run, &w);
    assert_int_equal(green_sleep(0.01), 0);
    assert_false(w.done);
    assert_int_equal(send(fds[1], "y", 1, 0), 1);
    assert_int_equal(wait_and_release(t), 0);
    assert_int_equal(w.err, 0);
    assert_int_equal(green_close_fd(fds[0]), 0);
    assert_int_equal(green_close_fd(fds[1]), 0);
}

/* Registered once, edge-triggered, and left so between waits, so a wait
 * has nothing to tell epoll; an unmanaged fd is trimmed between waits. */
static void test_managed_fd_stays_registered(void **state)
{
    const unsigned epollet = 1u << 31;
    unsigned mask = 0;
    int fds[2], p[2];

    (void)state;
    if (strcmp(green_hub_backend_name(), "epoll") != 0)
        skip();
    managed_pair(fds);
    assert_int_equal(epoll_registrations(fds[0], NULL), 0);
    assert_int_equal(green_wait_fd(fds[0], GREEN_READ, 0.005), ETIMEDOUT);
    assert_int_equal(green_sleep(0.005), 0);
    assert_int_equal(epoll_registrations(fds[0], &mask), 1);
    assert_true(mask & epollet);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(green_wait_fd(p[0], GREEN_READ, 0.005), ETIMEDOUT);
    assert_int_equal(green_sleep(0.005), 0);
    assert_int_equal(epoll_registrations(p[0], NULL), 0);
    assert_int_equal(green_close_fd(fds[0]), 0);
    assert_int_equal(green_close_fd(fds[1]), 0);
    close(p[0]);
    close(p[1]);
}

/* ---- sleep(0) loops do not starve I/O ------------------------------------ */

struct spinner {
    const int *stop;
    long rounds;
};

static void *yield_until_stopped(void *arg)
{
    struct spinner *s = arg;

    while (!*s->stop && s->rounds < 10000000)
        if (green_sleep(0) == 0)
            s->rounds++;
    return NULL;
}

static void *read_then_stop(void *arg)
{
    struct fd_waiter *w = arg;

    w->err = green_wait_fd(w->fd, GREEN_READ, 5);
    w->done = 1;
    return NULL;
}

static void test_yield_loop_does_not_starve_io(void **state)
{
    int fds[2];
    struct fd_waiter w;
    struct spinner s = {.stop = &w.done};
    green_thread_t *spinner, *reader;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    w = (struct fd_waiter){.fd = fds[0], .err = -1};
    reader = spawn_or_fail(read_then_stop, &w);
    spinner = spawn_or_fail(yield_until_stopped, &s);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(write(fds[1], "x", 1), 1);
    assert_int_equal(wait_and_release(spinner), 0);
    assert_int_equal(wait_and_release(reader), 0);
    assert_int_equal(w.err, 0);
    assert_true(s.rounds < 10000000);
    close(fds[0]);
    close(fds[1]);
}

/* ---- The clock is read fresh -------------------------------------------- */

static void test_deadline_after_cpu_stretch(void **state)
{
    double start;

    (void)state;
    green_sleep(0); /* the hub has run a pass */
    spin_for(0.05);
    start = green_now();
    assert_int_equal(green_sleep(0.05), 0);
    /* A stale clock would end this sleep up to 50 ms early. */
    assert_true(green_now() - start >= 0.045);
}

/* ---- Deadlock and run ---------------------------------------------------- */

static void test_main_park_with_nothing_is_edeadlk(void **state)
{
    green_waiter_t w;

    (void)state;
    green_waiter_init(&w);
    assert_int_equal(green_park(&w, GREEN_FOREVER, NULL), EDEADLK);
    assert_int_equal(green_unpark(&w, 0, NULL), EALREADY);
    /* A timed park is not a deadlock. */
    assert_int_equal(green_park(&w, 0.01, NULL), ETIMEDOUT);
}

static void *unpark_later(void *arg)
{
    green_sleep(0.01);
    green_unpark(arg, 5, TEST_INT_VALUE(9));
    return NULL;
}

static void test_park_unpark_value(void **state)
{
    green_waiter_t w;
    green_thread_t *t;
    void *value = NULL;

    (void)state;
    green_waiter_init(&w);
    t = spawn_or_fail(unpark_later, &w);
    assert_int_equal(green_park(&w, GREEN_FOREVER, &value), 5);
    assert_int_equal(TEST_VALUE_INT(value), 9);
    assert_int_equal(wait_and_release(t), 0);
    assert_int_equal(green_park(NULL, 1, NULL), EINVAL);
    assert_int_equal(green_unpark(NULL, 0, NULL), EINVAL);
}

static void *count_after_sleep(void *arg)
{
    green_sleep(0.01);
    (*(int *)arg)++;
    return NULL;
}

static void test_hub_run_until_nothing_left(void **state)
{
    int count = 0;

    (void)state;
    assert_int_equal(green_hub_run(), 0); /* nothing at all */
    for (int i = 0; i < 5; i++)
        assert_int_equal(green_spawn_n(count_after_sleep, &count), 0);
    assert_int_equal(green_hub_run(), 0);
    assert_int_equal(count, 5);
}

static void *call_hub_run(void *arg)
{
    *(int *)arg = green_hub_run();
    return NULL;
}

static void test_hub_run_from_green_thread_refused(void **state)
{
    int err = -1;
    green_thread_t *t = spawn_or_fail(call_hub_run, &err);

    (void)state;
    assert_int_equal(wait_and_release(t), 0);
    assert_int_equal(err, EPERM);
}

/* ---- Cross-thread calls -------------------------------------------------- */

struct cross {
    green_hub_t *hub;
    green_waiter_t waiter;
    double delay;
    int call_err;
    int ran_on_hub_thread;
    pthread_t hub_thread;
};

static void cross_callback(void *arg)
{
    struct cross *c = arg;

    c->ran_on_hub_thread = pthread_equal(pthread_self(), c->hub_thread);
    green_unpark(&c->waiter, 0, TEST_INT_VALUE(3));
    green_hub_unref(c->hub);
}

static void *cross_thread_main(void *arg)
{
    struct cross *c = arg;
    struct timespec delay = {0, (long)(c->delay * 1e9)};

    nanosleep(&delay, NULL);
    c->call_err = green_hub_call_threadsafe(c->hub, cross_callback, c);
    return NULL;
}

static void test_call_threadsafe_wakes_hub(void **state)
{
    struct cross c = {.delay = 0.05, .call_err = -1};
    pthread_t thread;
    void *value = NULL;

    (void)state;
    c.hub = green_hub_current();
    c.hub_thread = pthread_self();
    green_waiter_init(&c.waiter);
    /* Without the keepalive this park would be a deadlock. */
    assert_int_equal(green_hub_ref(c.hub), 0);
    assert_int_equal(pthread_create(&thread, NULL, cross_thread_main, &c), 0);
    assert_int_equal(green_park(&c.waiter, GREEN_FOREVER, &value), 0);
    assert_int_equal(TEST_VALUE_INT(value), 3);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(c.call_err, 0);
    assert_true(c.ran_on_hub_thread);
    assert_int_equal(green_hub_unref(c.hub), EINVAL);
    assert_int_equal(green_hub_call_threadsafe(NULL, cross_callback, &c),
                     EINVAL);
}

static void *ref_from_other_thread(void *arg)
{
    return TEST_INT_VALUE(green_hub_ref(arg));
}

static void count_call(void *arg)
{
    (*(int *)arg)++;
}

static void test_call_threadsafe_many_and_after_destroy(void **state)
{
    green_hub_t *hub = green_hub_current();
    pthread_t thread;
    void *result = NULL;
    int count = 0;

    (void)state;
    assert_int_equal(pthread_create(&thread, NULL, ref_from_other_thread, hub),
                     0);
    assert_int_equal(pthread_join(thread, &result), 0);
    assert_int_equal(TEST_VALUE_INT(result), EPERM);
    for (int i = 0; i < 100; i++)
        assert_int_equal(green_hub_call_threadsafe(hub, count_call, &count), 0);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(count, 100);
    /* Calls still queued run while the hub is destroyed; later ones are
     * refused (the reference keeps the handle). */
    assert_int_equal(green_hub_call_threadsafe(hub, count_call, &count), 0);
    assert_int_equal(green_hub_retain(hub), 0);
    assert_int_equal(green_hub_destroy(), 0);
    assert_int_equal(count, 101);
    assert_int_equal(green_hub_call_threadsafe(hub, count_call, &count), EPIPE);
    assert_null(green_hub_greenlet(hub));
    assert_int_equal(green_hub_release(hub), 0);
    assert_int_equal(count, 101);
    assert_int_equal(green_hub_retain(NULL), EINVAL);
    assert_int_equal(green_hub_release(NULL), EINVAL);
    /* The thread's own use needs no reference, and has none to drop. */
    assert_int_equal(green_hub_release(green_hub_current()), EINVAL);
}

/* A hub per OS thread: a second thread runs its own green threads. */
static void *own_hub_thread(void *arg)
{
    int count = 0;
    green_hub_t *hub = green_hub_current();

    for (int i = 0; i < 10; i++)
        green_spawn_n(count_after_sleep, &count);
    green_hub_run();
    *(int *)arg = count + (hub != NULL && hub == green_hub_current());
    /* The hub is destroyed at thread exit. */
    return NULL;
}

static void test_hub_per_os_thread(void **state)
{
    pthread_t thread;
    int result = 0;

    (void)state;
    assert_int_equal(pthread_create(&thread, NULL, own_hub_thread, &result), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(result, 11);
}

/* A call posted from the hub's own thread does not write the wake-up fd;
 * the hub must still run it instead of sleeping in the kernel. */
struct own_post {
    green_waiter_t waiter;
    int post_err;
    int park_err;
};

static void unpark_poster(void *arg)
{
    struct own_post *p = arg;

    green_unpark(&p->waiter, 0, NULL);
}

static void *post_to_own_hub_then_park(void *arg)
{
    struct own_post *p = arg;

    green_waiter_init(&p->waiter);
    p->post_err =
        green_hub_call_threadsafe(green_hub_current(), unpark_poster, p);
    p->park_err = green_park(&p->waiter, 30, NULL);
    return NULL;
}

static void test_call_threadsafe_from_own_thread(void **state)
{
    struct own_post p = {.post_err = -1, .park_err = -1};
    double start;
    int fds[2];
    struct fd_waiter w;
    green_thread_t *poster, *reader;

    (void)state;
    /* An fd waiter makes the hub poll (and, with nothing ready, block). */
    assert_int_equal(pipe(fds), 0);
    w = (struct fd_waiter){
        .fd = fds[0], .events = GREEN_READ, .timeout = 60, .err = -1};
    reader = spawn_or_fail(fd_wait_run, &w);
    poster = spawn_or_fail(post_to_own_hub_then_park, &p);
    start = green_now();
    assert_int_equal(wait_and_release(poster), 0);
    assert_int_equal(p.post_err, 0);
    assert_int_equal(p.park_err, 0);
    /* Not held up until some deadline ends the kernel wait (30 s). */
    assert_true(green_now() - start < 10);
    assert_false(w.done);
    assert_int_equal(green_close_fd(fds[0]), 0);
    assert_int_equal(wait_and_release(reader), 0);
    assert_int_equal(w.err, EBADF);
    close(fds[1]);
}

/* Many OS threads posting at once: every call runs exactly once, on the
 * hub's thread. */
#define POSTERS 4

struct post_count {
    green_hub_t *hub;
    green_waiter_t waiter;
    int expected;
    int count;
    int wrong_thread;
    pthread_t hub_thread;
    int post_errors;
};

static void counted_call(void *arg)
{
    struct post_count *p = arg;

    if (!pthread_equal(pthread_self(), p->hub_thread))
        p->wrong_thread = 1;
    if (++p->count == p->expected) {
        green_unpark(&p->waiter, 0, NULL);
        green_hub_unref(p->hub);
    }
}

static void *post_many(void *arg)
{
    struct post_count *p = arg;
    int per_thread = p->expected / POSTERS;

    for (int i = 0; i < per_thread; i++)
        if (green_hub_call_threadsafe(p->hub, counted_call, p) != 0)
            __atomic_add_fetch(&p->post_errors, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void test_call_threadsafe_from_many_threads(void **state)
{
    struct post_count p = {.expected = POSTERS * (int)test_scaled(5000)};
    pthread_t threads[POSTERS];

    (void)state;
    p.hub = green_hub_current();
    p.hub_thread = pthread_self();
    green_waiter_init(&p.waiter);
    assert_int_equal(green_hub_ref(p.hub), 0);
    for (int i = 0; i < POSTERS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, post_many, &p), 0);
    assert_int_equal(green_park(&p.waiter, GREEN_FOREVER, NULL), 0);
    for (int i = 0; i < POSTERS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    assert_int_equal(p.post_errors, 0);
    assert_int_equal(p.count, p.expected);
    assert_false(p.wrong_thread);
}

/* A thread that exits with green threads still parked: its hub is
 * destroyed, the green threads are killed and their links run. */
static void count_link(green_thread_t *t, void *arg)
{
    (void)t;
    (*(int *)arg)++;
}

static void *park_until_killed(void *arg)
{
    green_waiter_t w;

    green_waiter_init(&w);
    *(int *)arg = green_park(&w, GREEN_FOREVER, NULL);
    return NULL;
}

struct exiting {
    int park_errs[3];
    int links;
};

static void *exit_with_parked_threads(void *arg)
{
    struct exiting *e = arg;

    for (int i = 0; i < 3; i++) {
        green_thread_t *t = NULL;

        if (green_spawn(&t, park_until_killed, &e->park_errs[i]) != 0)
            return NULL;
        green_thread_link(t, count_link, &e->links);
        green_thread_release(t);
    }
    green_sleep(0.01);
    return NULL;
}

static void test_thread_exit_kills_its_green_threads(void **state)
{
    struct exiting e = {.park_errs = {-1, -1, -1}};
    pthread_t thread;

    (void)state;
    assert_int_equal(
        pthread_create(&thread, NULL, exit_with_parked_threads, &e), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(e.links, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(e.park_errs[i], ECANCELED);
}

static void test_two_writers_busy(void **state)
{
    int fds[2];
    struct fd_waiter w1, w2;
    green_thread_t *t1, *t2;
    char buffer[4096] = {0};

    (void)state;
    assert_int_equal(pipe(fds), 0);
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    while (write(fds[1], buffer, sizeof(buffer)) > 0)
        ;
    w1 = (struct fd_waiter){
        .fd = fds[1], .events = GREEN_WRITE, .timeout = 5, .err = -1};
    w2 = w1;
    t1 = spawn_or_fail(fd_wait_run, &w1);
    t2 = spawn_or_fail(fd_wait_run, &w2);
    assert_int_equal(wait_and_release(t2), 0);
    assert_int_equal(w2.err, EBUSY);
    /* Drain: the first writer wakes. */
    while (read(fds[0], buffer, sizeof(buffer)) == (ssize_t)sizeof(buffer) &&
           !w1.done)
        green_sleep(0);
    assert_int_equal(wait_and_release(t1), 0);
    assert_int_equal(w1.err, 0);
    close(fds[0]);
    close(fds[1]);
}

/* ---- Errors go to the hook; the hub survives ------------------------------
 */

static struct test_log hook_log;

static void recording_hook(const char *thread_name, int err)
{
    test_log_add(&hook_log, "%s:%d", thread_name, err);
}

static void *fail_with_eio(void *arg)
{
    (void)arg;
    green_thread_exit(EIO, NULL);
    return NULL;
}

static void exit_hub_greenlet(void *arg)
{
    (void)arg;
    greenlet_exit(EPROTO, NULL);
}

static void test_errors_reach_hook_and_hub_survives(void **state)
{
    green_thread_attr_t attr = {.name = "named-fail"};
    green_thread_t *t = NULL;
    green_timer_t *timer;
    greenlet_t *first_hub;
    int count = 0;

    (void)state;
    test_log_reset(&hook_log);
    assert_non_null(green_hub_set_error_hook(recording_hook));
    /* A spawn_n body's error goes to the hook... */
    assert_int_equal(green_spawn_n(fail_with_eio, NULL), 0);
    assert_int_equal(green_sleep(0), 0);
    /* ...a handle's error goes to its waiter only. */
    assert_int_equal(green_spawn_attr(&t, &attr, fail_with_eio, NULL), 0);
    assert_int_equal(wait_and_release(t), EIO);
    {
        char expected[64];

        snprintf(expected, sizeof(expected), "green-1:%d", EIO);
        assert_log_equal(&hook_log, expected);
    }
    /* A callback ending the hub greenlet: reported, and a new hub greenlet
     * carries on with the same threads and timers. */
    first_hub = green_hub_greenlet(green_hub_current());
    t = spawn_or_fail(count_after_sleep, &count);
    assert_int_equal(green_sleep(0), 0);
    assert_int_equal(green_timer_start(&timer, 0, exit_hub_greenlet, NULL), 0);
    assert_int_equal(green_sleep(0.02), 0);
    assert_ptr_not_equal(green_hub_greenlet(green_hub_current()), first_hub);
    assert_int_equal(wait_and_release(t), 0);
    assert_int_equal(count, 1);
    {
        char expected[64];

        snprintf(expected, sizeof(expected), "green-1:%d,hub:%d", EIO, EPROTO);
        assert_log_equal(&hook_log, expected);
    }
    assert_ptr_equal(green_hub_set_error_hook(NULL), recording_hook);
}

static void test_default_hook_prints_name_once(void **state)
{
    green_thread_t *t = NULL;
    green_thread_attr_t attr = {.name = "doomed-worker"};
    char buffer[512] = {0};
    int pipe_fds[2], saved;
    ssize_t n;

    (void)state;
    assert_int_equal(pipe(pipe_fds), 0);
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    assert_int_equal(green_spawn_attr(&t, &attr, fail_with_eio, NULL), 0);
    green_thread_release(t);
    assert_int_equal(green_spawn_n(fail_with_eio, NULL), 0);
    assert_int_equal(green_sleep(0), 0);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(pipe_fds[1]);
    n = read(pipe_fds[0], buffer, sizeof(buffer) - 1);
    close(pipe_fds[0]);
    assert_true(n > 0);
    /* The handle's error stays with the handle (nobody waits: no print);
     * the spawn_n one is printed once, with its name. */
    assert_null(strstr(buffer, "doomed-worker"));
    assert_non_null(strstr(buffer, "green-2"));
    assert_null(strstr(strstr(buffer, "green-2") + 1, "green-2"));
}

/* ---- Public timers ------------------------------------------------------- */

static void log_timer(void *arg)
{
    test_log_add(&hook_log, "%s", (const char *)arg);
}

static void test_timer_start_cancel(void **state)
{
    green_timer_t *a, *b, *c;

    (void)state;
    test_log_reset(&hook_log);
    /* Far apart: a start delayed by a loaded machine (10 ms would have
     * swapped a and b) must not change their order. */
    assert_int_equal(green_timer_start(&a, 0.2, log_timer, "a"), 0);
    assert_int_equal(green_timer_start(&b, 0.05, log_timer, "b"), 0);
    assert_int_equal(green_timer_start(&c, 0.1, log_timer, "c"), 0);
    assert_int_equal(green_timer_cancel(c), 0);
    assert_int_equal(green_hub_run(), 0);
    assert_log_equal(&hook_log, "b,a");
    assert_int_equal(green_timer_start(&a, -1, log_timer, "x"), EINVAL);
    assert_int_equal(green_timer_start(NULL, 1, log_timer, "x"), EINVAL);
    assert_int_equal(green_timer_cancel(NULL), EINVAL);
    /* A pending timer is freed with the hub. */
    assert_int_equal(green_timer_start(&a, 100, log_timer, "never"), 0);
}

/* ---- fork ------------------------------------------------------------------
 */

static void *read_one_byte(void *arg)
{
    struct fd_waiter *w = arg;
    char byte;

    w->err = green_wait_fd(w->fd, GREEN_READ, w->timeout);
    if (w->err == 0 && read(w->fd, &byte, 1) != 1)
        w->err = EIO;
    w->done = 1;
    return NULL;
}

/* In the child: the hub works, and notifying the shared pipe's close only
 * touches the child's own (fresh) epoll instance. */
static int child_checks(int shared_fd)
{
    green_thread_t *t;
    int count = 0;

    green_notify_close(shared_fd);
    close(shared_fd);
    t = NULL;
    if (green_spawn(&t, count_after_sleep, &count) != 0)
        return 10;
    if (green_thread_wait(t, NULL) != 0 || count != 1)
        return 11;
    green_thread_release(t);
    {
        int fds[2];

        if (pipe(fds) != 0 || write(fds[1], "c", 1) != 1)
            return 12;
        if (green_wait_fd(fds[0], GREEN_READ, 2) != 0)
            return 13;
        close(fds[0]);
        close(fds[1]);
    }
    pthread_t thread;
    void *result = NULL;

    if (pthread_create(&thread, NULL, ref_from_other_thread,
                       green_hub_current()) != 0 ||
        pthread_join(thread, &result) != 0 || TEST_VALUE_INT(result) != EPERM)
        return 14;
    return 0;
}

static void test_fork_gives_child_fresh_hub(void **state)
{
    int fds[2];
    struct fd_waiter w;
    green_thread_t *reader;
    pid_t pid;
    int status = -1;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    /* The timeout outlasts the child, valgrind's leak check included. */
    w = (struct fd_waiter){.fd = fds[0], .timeout = 60, .err = -1};
    reader = spawn_or_fail(read_one_byte, &w);
    assert_int_equal(green_sleep(0.01), 0); /* registered with the backend */
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int code = child_checks(fds[0]);

        green_hub_destroy();
        green_thread_release(reader); /* the child's copy of the handle */
        _exit(code);
    }
    /* The parent waits green: its hub is intact. */
    while (waitpid(pid, &status, WNOHANG) == 0)
        assert_int_equal(green_sleep(0.005), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_false(w.done);
    assert_int_equal(write(fds[1], "p", 1), 1);
    assert_int_equal(wait_and_release(reader), 0);
    assert_int_equal(w.err, 0);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        hub_test(test_backend_selection),
        hub_test(test_wait_fd_readable),
        hub_test(test_wait_fd_timeout_and_misuse),
        hub_test(test_wait_fd_busy_and_close),
        hub_test(test_plain_close_and_reuse_is_safe),
        hub_test(test_regular_file_is_always_ready),
        hub_test(test_managed_fd_read_and_write),
        hub_test(test_managed_edge_without_waiter_is_kept),
        hub_test(test_managed_hang_up_stays_ready),
        hub_test(test_managed_busy_timeout_kill_close),
        hub_test(test_managed_close_and_reuse),
        hub_test(test_managed_closed_in_other_thread),
        hub_test(test_managed_fd_stays_registered),
        hub_test(test_managed_fd_moves_between_hubs),
        hub_test(test_yield_loop_does_not_starve_io),
        hub_test(test_deadline_after_cpu_stretch),
        hub_test(test_main_park_with_nothing_is_edeadlk),
        hub_test(test_park_unpark_value),
        hub_test(test_hub_run_until_nothing_left),
        hub_test(test_hub_run_from_green_thread_refused),
        hub_test(test_call_threadsafe_wakes_hub),
        hub_test(test_call_threadsafe_many_and_after_destroy),
        hub_test(test_hub_per_os_thread),
        hub_test(test_call_threadsafe_from_own_thread),
        hub_test(test_call_threadsafe_from_many_threads),
        hub_test(test_thread_exit_kills_its_green_threads),
        hub_test(test_two_writers_busy),
        hub_test(test_errors_reach_hook_and_hub_survives),
        hub_test(test_default_hook_prints_name_once),
        hub_test(test_timer_start_cancel),
        hub_test(test_fork_gives_child_fresh_hub),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

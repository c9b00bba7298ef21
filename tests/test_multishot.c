/* GREEN_TEST_BACKENDS */
/*
 * green_recv_multishot: on io_uring one multishot receive per socket and a
 * queue of its bytes; every read path (green_recv, green_recv_all,
 * green_read, bufio) takes the queue in order, and cuts, closes, ends of
 * file, a starved buffer ring and fork lose nothing.  On epoll and poll
 * the call is ENOTSUP and the same reads must give the same bytes.
 */
#include "test_hub_util.h"

#include "../src/io/io_internal.h"
#ifdef GREEN_HAVE_URING
#include "../src/hub/recvq.h"
#include "../src/hub/uring.h"
#endif

#include <green/bufio.h>
#include <green/hub.h>
#include <green/io.h>
#include <green/thread.h>
#include <green/timeout.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- Helpers ---------------------------------------------------------- */

static int on_uring(void)
{
    const char *name = green_hub_backend_name();

    return name != NULL && strcmp(name, "io_uring") == 0;
}

/* A connected stream pair; fds[0] is received multishot on io_uring. */
static void multishot_pair(int fds[2])
{
    assert_int_equal(
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds),
        0);
    assert_int_equal(green_recv_multishot(fds[0]), on_uring() ? 0 : ENOTSUP);
}

/* The same, with text sent to fds[0] already. */
static void multishot_pair_with(int fds[2], const char *text)
{
    multishot_pair(fds);
    assert_int_equal(green_send_all(fds[1], text, strlen(text), NULL), 0);
}

static void close_pair(int fds[2])
{
    assert_int_equal(green_close(fds[0]), 0);
    if (fds[1] >= 0)
        assert_int_equal(green_close(fds[1]), 0);
}

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 7 + (i >> 8));
}

static void fill_pattern(unsigned char *buf, size_t from, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pattern(from + i);
}

static void assert_pattern(const unsigned char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != pattern(i))
            fail_msg("byte %zu is %u, not %u", i, buf[i], pattern(i));
}

/* Per-thread counters of the multishot path (zero on other backends). */
struct counts {
    unsigned long arms, arrivals, fallbacks, ops;
};

static struct counts counts_now(void)
{
    struct counts c = {0, 0, 0, io_counts.ops};

#ifdef GREEN_HAVE_URING
    c.arms = recvq_counts.arms;
    c.arrivals = recvq_counts.arrivals;
    c.fallbacks = recvq_counts.fallbacks;
#endif
    return c;
}

/* ---- Writer: the peer's bytes in pieces --------------------------------- */

struct writer {
    int fd;
    size_t total, piece;
    double pause; /* seconds between pieces; 0: a yield */
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    unsigned char piece[65536];

    for (size_t done = 0; done < w->total;) {
        size_t n = w->total - done < w->piece ? w->total - done : w->piece;

        fill_pattern(piece, done, n);
        assert_int_equal(green_send_all(w->fd, piece, n, NULL), 0);
        done += n;
        assert_int_equal(green_sleep(w->pause), 0);
    }
    return NULL;
}

/* A pair whose peer writes w's bytes, from a green thread. */
static green_thread_t *pair_with_writer(int fds[2], struct writer *w)
{
    multishot_pair(fds);
    w->fd = fds[1];
    return spawn_or_fail(writer_main, w);
}

static void join_writer(green_thread_t *t)
{
    assert_int_equal(green_thread_wait(t, NULL), 0);
    green_thread_release(t);
}

/* ---- Small pieces, small reads: one request serves them all ------------ */

static void test_small_pieces(void **state)
{
    enum { TOTAL = 3000 };
    struct writer w = {.total = TOTAL, .piece = 7};
    unsigned char got[TOTAL];
    struct counts before;
    size_t have = 0, calls = 0;
    green_thread_t *t;
    int fds[2];

    (void)state;
    before = counts_now();
    t = pair_with_writer(fds, &w);
    while (have < TOTAL) {
        size_t n = 0;

        assert_int_equal(green_recv(fds[0], got + have, 5, 0, &n), 0);
        assert_true(n > 0 && n <= 5);
        have += n;
        calls++;
    }
    join_writer(t);
    assert_pattern(got, TOTAL);
    if (on_uring()) {
        /* One request; the only operations are the writer's sends. */
        assert_int_equal(counts_now().arms - before.arms, 1);
        assert_true(counts_now().arrivals > before.arrivals);
        assert_true(counts_now().ops - before.ops <= (TOTAL + 6) / 7);
    }
    assert_true(calls >= TOTAL / 5);
    close_pair(fds);
}

/* ---- One piece larger than a ring buffer, read whole -------------------- */

static void test_large_piece(void **state)
{
    enum { TOTAL = 50000 };
    static unsigned char got[TOTAL];
    struct writer w = {.total = TOTAL, .piece = TOTAL};
    struct counts before = counts_now();
    green_thread_t *t;
    size_t n = 0;
    int fds[2];

    (void)state;
    /* The writer runs once the read below has armed the request: the
     * bytes land in several buffers. */
    t = pair_with_writer(fds, &w);
    assert_int_equal(green_recv_all(fds[0], got, TOTAL, &n), 0);
    assert_int_equal(n, TOTAL);
    assert_pattern(got, TOTAL);
    join_writer(t);
    if (on_uring())
        assert_true(counts_now().arrivals - before.arrivals >= 2);
    close_pair(fds);
}

/* ---- Partial reads keep the rest, in order, across read calls ---------- */

static void test_partial_reads(void **state)
{
    char buf[64] = {0};
    size_t n = 0;
    int fds[2];

    (void)state;
    multishot_pair_with(fds, "hello world");
    assert_int_equal(green_recv(fds[0], buf, 3, 0, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(buf, "hel", 3);
    assert_int_equal(green_read(fds[0], buf, 2, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(buf, "lo", 2);
    assert_int_equal(green_recv_all(fds[0], buf, 6, &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(buf, " world", 6);
    close_pair(fds);
}

/* ---- Cuts: a timeout or a kill never loses or reorders a byte ---------- */

struct collector {
    int fd;
    unsigned char *got;
    size_t *have, total;
};

/* Read into a small stack buffer, then append: killed at any wait. */
static void *collector_main(void *arg)
{
    struct collector *c = arg;
    unsigned char buf[97];

    while (*c->have < c->total) {
        size_t n = 0;
        int err = green_recv(c->fd, buf, sizeof(buf), 0, &n);

        if (err != 0)
            return (void *)(intptr_t)err;
        memcpy(c->got + *c->have, buf, n);
        *c->have += n;
    }
    return NULL;
}

static void test_cut_by_timeout(void **state)
{
    enum { TOTAL = 40000 };
    static unsigned char got[TOTAL];
    struct writer w = {.total = TOTAL, .piece = 333, .pause = 0.0005};
    size_t have = 0;
    unsigned timeouts = 0;
    green_thread_t *t;
    int fds[2];

    (void)state;
    t = pair_with_writer(fds, &w);
    while (have < TOTAL) {
        unsigned char buf[97];
        green_timeout_t scope;
        size_t n = 0;
        int err;

        /* Alternate a scope and the fd's own timeout; both cut often. */
        assert_int_equal(green_set_timeout(fds[0], (have & 1) ? 0.0003 : -1),
                         0);
        assert_int_equal(green_timeout_start(&scope, 0.0002), 0);
        err = green_recv(fds[0], buf, sizeof(buf), 0, &n);
        green_timeout_cancel(&scope);
        if (err == ETIMEDOUT) {
            timeouts++;
            continue;
        }
        assert_int_equal(err, 0);
        memcpy(got + have, buf, n);
        have += n;
    }
    join_writer(t);
    assert_pattern(got, TOTAL);
    assert_true(timeouts > 0);
    close_pair(fds);
}

static void test_cut_by_kill(void **state)
{
    enum { TOTAL = 40000 };
    static unsigned char got[TOTAL];
    struct writer w = {.total = TOTAL, .piece = 501, .pause = 0.0003};
    struct collector c = {.got = got, .total = TOTAL};
    size_t have = 0;
    unsigned kills = 0;
    green_thread_t *writer;
    int fds[2];

    (void)state;
    writer = pair_with_writer(fds, &w);
    c.fd = fds[0];
    c.have = &have;
    while (have < TOTAL) {
        green_thread_t *reader = spawn_or_fail(collector_main, &c);
        int err;

        assert_int_equal(green_sleep(0.0007), 0);
        assert_int_equal(green_thread_kill(reader), 0);
        err = green_thread_wait(reader, NULL);
        assert_true(err == 0 || err == ECANCELED);
        kills += err == ECANCELED;
        green_thread_release(reader);
    }
    join_writer(writer);
    assert_pattern(got, TOTAL);
    assert_true(kills > 0);
    close_pair(fds);
}

/* ---- End of file and errors come after the queued bytes, and stay ------ */

static void test_eof_after_data(void **state)
{
    char buf[16];
    size_t n = 1;
    int fds[2];

    (void)state;
    multishot_pair_with(fds, "abc");
    assert_int_equal(green_close(fds[1]), 0);
    fds[1] = -1;
    /* Let the end of file be queued behind the bytes. */
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(green_recv(fds[0], buf, 2, 0, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(green_recv(fds[0], buf + 2, sizeof(buf), 0, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(buf, "abc", 3);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(green_recv(fds[0], buf, sizeof(buf), 0, &n), 0);
        assert_int_equal(n, 0);
    }
    close_pair(fds);
}

/* ---- Close while a reader waits: EBADF, and the request is cancelled --- */

static void *reader_main(void *arg)
{
    char buf[16];
    size_t n = 0;

    return (void *)(intptr_t)green_recv(*(int *)arg, buf, sizeof(buf), 0, &n);
}

static void test_close_while_waiting(void **state)
{
    void *result = NULL;
    green_thread_t *t;
    char buf[4];
    size_t n = 1;
    int fds[2];

    (void)state;
    multishot_pair(fds);
    t = spawn_or_fail(reader_main, &fds[0]);
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(green_close(fds[0]), 0);
    assert_int_equal(green_thread_wait(t, &result), 0);
    green_thread_release(t);
    assert_int_equal(TEST_VALUE_INT(result), EBADF);
    /* The peer sees the close: the request held no reference. */
    assert_int_equal(green_recv(fds[1], buf, sizeof(buf), 0, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(green_close(fds[1]), 0);
}

/* ---- green_wait_fd: readable while bytes are queued -------------------- */

static void test_wait_fd_with_queued_bytes(void **state)
{
    char buf[16];
    size_t n = 0;
    int fds[2];

    (void)state;
    multishot_pair_with(fds, "0123456789");
    assert_int_equal(green_recv(fds[0], buf, 2, 0, &n), 0);
    assert_int_equal(n, 2);
    /* On io_uring the socket is empty now: only the queue holds bytes. */
    assert_int_equal(green_wait_fd(fds[0], GREEN_READ, 5.0), 0);
    assert_int_equal(green_recv(fds[0], buf, sizeof(buf), 0, &n), 0);
    assert_int_equal(n, 8);
    assert_memory_equal(buf, "23456789", 8);
    assert_int_equal(green_wait_fd(fds[0], GREEN_READ, 0.01), ETIMEDOUT);
    close_pair(fds);
}

/* ---- A ring of two buffers: starved requests lose nothing --------------- */

static void test_starved_ring(void **state)
{
    enum { CONNS = 4, TOTAL = 100000 };
    static unsigned char got[CONNS][TOTAL];
    struct writer w[CONNS];
    green_thread_t *t[CONNS];
    struct counts before;
    size_t have[CONNS] = {0};
    int fds[CONNS][2];

    (void)state;
#ifdef GREEN_HAVE_URING
    assert_int_equal(hub_uring_set_buf_count(2), 0);
#endif
    assert_int_equal(green_hub_destroy(), 0); /* the next ring: 2 buffers */
    before = counts_now();
    for (int c = 0; c < CONNS; c++) {
        multishot_pair(fds[c]);
        w[c] = (struct writer){.fd = fds[c][1], .total = TOTAL, .piece = 20000};
        t[c] = spawn_or_fail(writer_main, &w[c]);
    }
    for (int done = 0; done < CONNS;) {
        done = 0;
        for (int c = 0; c < CONNS; c++) {
            size_t n = 0;

            if (have[c] == TOTAL) {
                done++;
                continue;
            }
            assert_int_equal(
                green_recv(fds[c][0], got[c] + have[c], TOTAL - have[c], 0, &n),
                0);
            have[c] += n;
        }
    }
    for (int c = 0; c < CONNS; c++) {
        assert_int_equal(green_thread_wait(t[c], NULL), 0);
        green_thread_release(t[c]);
        assert_pattern(got[c], TOTAL);
        close_pair(fds[c]);
    }
#ifdef GREEN_HAVE_URING
    assert_int_equal(hub_uring_set_buf_count(256), 0);
#endif
    if (on_uring())
        assert_true(counts_now().fallbacks > before.fallbacks);
}

/* ---- Fork: the child reads the queued bytes, then its own ring's -------- */

static int child_reads(int fd)
{
    char buf[8] = {0};
    size_t n = 0;

    if (green_recv_all(fd, buf, 4, &n) != 0 || n != 4 ||
        memcmp(buf, "bcde", 4) != 0)
        return 1;
    return green_recv(fd, buf, sizeof(buf), 0, &n) == 0 && n == 0 ? 0 : 2;
}

static void test_fork_child(void **state)
{
    char buf[1];
    size_t n = 0;
    int fds[2], status = 0;
    pid_t pid;

    (void)state;
    multishot_pair(fds);
    assert_int_equal(green_send_all(fds[1], "abc", 3, NULL), 0);
    assert_int_equal(green_recv(fds[0], buf, 1, 0, &n), 0);
    assert_int_equal(buf[0], 'a');
    assert_int_equal(green_sleep(0.01), 0); /* "bc" queued on io_uring */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(close(fds[1]) == 0 ? child_reads(fds[0]) : 3);
    /* The parent leaves the socket to the child before more comes. */
    assert_int_equal(green_close(fds[0]), 0);
    assert_int_equal(green_send_all(fds[1], "de", 2, NULL), 0);
    assert_int_equal(green_close(fds[1]), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- bufio reads the queue too ------------------------------------------ */

static void test_bufio_lines(void **state)
{
    green_bufio_t *reader = NULL;
    char line[32];
    size_t n = 0;
    int fds[2];

    (void)state;
    multishot_pair_with(fds, "one\ntwo\n");
    assert_int_equal(green_bufio_new(&reader, fds[0], 4), 0);
    assert_int_equal(green_bufio_read_line(reader, line, sizeof(line), &n), 0);
    assert_string_equal(line, "one\n");
    assert_int_equal(green_bufio_read_line(reader, line, sizeof(line), &n), 0);
    assert_string_equal(line, "two\n");
    assert_int_equal(green_bufio_destroy(reader), 0);
    close_pair(fds);
}

/* ---- Misuse: an error, never a read past the queue ---------------------- */

static ssize_t attempt_nothing(int fd, void *op)
{
    (void)fd;
    (void)op;
    return 0;
}

static void *other_thread_recv(void *arg)
{
    char buf[4];
    size_t n = 0;
    intptr_t err = green_recv(*(int *)arg, buf, sizeof(buf), MSG_DONTWAIT, &n);

    green_hub_destroy();
    return (void *)err;
}

static void test_misuse(void **state)
{
    char buf[4];
    size_t n = 0;
    int fds[2], pipe_fds[2], udp;
    pthread_t other;
    void *result = NULL;

    (void)state;
    assert_int_equal(green_recv_multishot(-1), EBADF);
    assert_int_equal(pipe(pipe_fds), 0);
    assert_int_equal(green_recv_multishot(pipe_fds[0]), ENOTSOCK);
    udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(udp >= 0);
    assert_int_equal(green_recv_multishot(udp), EINVAL);
    multishot_pair(fds);
    assert_int_equal(green_recv_multishot(fds[0]), on_uring() ? 0 : ENOTSUP);
    if (on_uring()) {
        assert_int_equal(green_recv(fds[0], buf, 1, MSG_PEEK, &n), EOPNOTSUPP);
        assert_int_equal(
            green_io_retry(fds[0], GREEN_READ, 0, attempt_nothing, NULL, NULL),
            EBUSY);
        assert_int_equal(
            pthread_create(&other, NULL, other_thread_recv, &fds[0]), 0);
        assert_int_equal(pthread_join(other, &result), 0);
        assert_int_equal((intptr_t)result, EBUSY);
    }
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    close(udp);
    close_pair(fds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        hub_test(test_small_pieces),
        hub_test(test_large_piece),
        hub_test(test_partial_reads),
        hub_test(test_cut_by_timeout),
        hub_test(test_cut_by_kill),
        hub_test(test_eof_after_data),
        hub_test(test_close_while_waiting),
        hub_test(test_wait_fd_with_queued_bytes),
        hub_test(test_starved_ring),
        hub_test(test_fork_child),
        hub_test(test_bufio_lines),
        hub_test(test_misuse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

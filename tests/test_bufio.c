/* GREEN_TEST_BACKENDS */
/*
 * Buffered reader: lines split across many writes, long lines, EOF in the
 * middle of a line or an exact read, peeks, and timeouts and kills in the
 * middle of a call that lose none of the bytes already read.
 */
#include "test_hub_util.h"

#include <green/bufio.h>
#include <green/io.h>
#include <green/thread.h>
#include <green/timeout.h>

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

struct pair {
    int fds[2]; /* read from 0, write to 1 */
    green_bufio_t *reader;
};

static void pair_open(struct pair *pair, size_t chunk)
{
    assert_int_equal(
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair->fds), 0);
    assert_int_equal(green_bufio_new(&pair->reader, pair->fds[0], chunk), 0);
}

static void pair_close(struct pair *pair)
{
    assert_int_equal(green_bufio_destroy(pair->reader), 0);
    assert_int_equal(green_close(pair->fds[0]), 0);
    if (pair->fds[1] >= 0)
        assert_int_equal(green_close(pair->fds[1]), 0);
}

static void pair_send(struct pair *pair, const char *text)
{
    assert_int_equal(green_send_all(pair->fds[1], text, strlen(text), NULL), 0);
}

/* The peer closes its end: the reader sees EOF. */
static void pair_eof(struct pair *pair)
{
    assert_int_equal(green_close(pair->fds[1]), 0);
    pair->fds[1] = -1;
}

static void expect_line(struct pair *pair, size_t size, const char *expected)
{
    char line[256];
    size_t length = 99;

    assert_true(size <= sizeof(line));
    assert_int_equal(green_bufio_read_line(pair->reader, line, size, &length),
                     0);
    assert_int_equal(length, strlen(expected));
    assert_string_equal(line, expected);
}

/* ---- Lines ------------------------------------------------------------ */

static const char trickled_text[] = "alpha\nbeta\n\ngamma delta\nlast\n";

/* Sends one byte at a time, yielding between them, so every line arrives
 * in pieces. */
static void *trickle_main(void *arg)
{
    struct pair *pair = arg;
    intptr_t err = 0;

    for (size_t i = 0; err == 0 && i < sizeof(trickled_text) - 1; i++) {
        err = green_send_all(pair->fds[1], &trickled_text[i], 1, NULL);
        if (err == 0)
            err = green_sleep(0.001);
    }
    return (void *)err;
}

static void test_lines_split_across_small_writes(void **state)
{
    struct pair pair;
    green_thread_t *writer;
    void *result;

    (void)state;
    pair_open(&pair, 4); /* a chunk smaller than most lines */
    writer = spawn_or_fail(trickle_main, &pair);
    expect_line(&pair, 64, "alpha\n");
    expect_line(&pair, 64, "beta\n");
    expect_line(&pair, 64, "\n");
    expect_line(&pair, 64, "gamma delta\n");
    expect_line(&pair, 64, "last\n");
    assert_int_equal(green_thread_wait(writer, &result), 0);
    assert_null(result);
    green_thread_release(writer);
    assert_int_equal(green_bufio_buffered(pair.reader), 0);
    pair_close(&pair);
}

static void test_line_longer_than_max(void **state)
{
    struct pair pair;
    char line[8], rest[64];
    size_t length = 99;

    (void)state;
    pair_open(&pair, 0);
    pair_send(&pair, "0123456789abcdef\nok\n");
    assert_int_equal(
        green_bufio_read_line(pair.reader, line, sizeof(line), &length),
        EMSGSIZE);
    assert_int_equal(length, 0);
    /* Nothing consumed: a larger size reads the whole line. */
    assert_true(green_bufio_buffered(pair.reader) >= sizeof(line) - 1);
    expect_line(&pair, 64, "0123456789abcdef\n");
    /* A line of exactly size - 1 bytes fits; one more byte does not. */
    expect_line(&pair, 4, "ok\n");
    pair_send(&pair, "abcdef\n");
    assert_int_equal(green_bufio_read_line(pair.reader, line, 7, NULL),
                     EMSGSIZE);
    expect_line(&pair, sizeof(line), "abcdef\n");
    /* The long line can also be taken in pieces. */
    pair_send(&pair, "0123456789\n");
    assert_int_equal(
        green_bufio_read_line(pair.reader, line, sizeof(line), NULL), EMSGSIZE);
    assert_int_equal(green_bufio_read_exact(pair.reader, rest, 11, &length), 0);
    assert_int_equal(length, 11);
    assert_memory_equal(rest, "0123456789\n", 11);
    pair_close(&pair);
}

static void test_eof_in_the_middle_of_a_line(void **state)
{
    struct pair pair;
    char line[64];
    size_t length = 99;

    (void)state;
    pair_open(&pair, 0);
    pair_send(&pair, "whole\npartial");
    pair_eof(&pair);
    expect_line(&pair, sizeof(line), "whole\n");
    expect_line(&pair, sizeof(line), "partial"); /* no '\n' at EOF */
    assert_int_equal(
        green_bufio_read_line(pair.reader, line, sizeof(line), &length), 0);
    assert_int_equal(length, 0);
    assert_string_equal(line, "");
    pair_close(&pair);
}

/* ---- Exact reads and peeks ------------------------------------------- */

static void test_eof_in_the_middle_of_an_exact_read(void **state)
{
    struct pair pair;
    char buffer[16];
    size_t length = 99;

    (void)state;
    pair_open(&pair, 0);
    pair_send(&pair, "12345");
    pair_eof(&pair);
    assert_int_equal(green_bufio_read_exact(pair.reader, buffer, 10, &length),
                     0);
    assert_int_equal(length, 5);
    assert_memory_equal(buffer, "12345", 5);
    assert_int_equal(green_bufio_read_exact(pair.reader, buffer, 10, &length),
                     0);
    assert_int_equal(length, 0);
    pair_close(&pair);

    /* The same through the direct path (more than a chunk missing). */
    pair_open(&pair, 4);
    pair_send(&pair, "123456789");
    pair_eof(&pair);
    assert_int_equal(green_bufio_read_exact(pair.reader, buffer, 2, &length),
                     0);
    assert_int_equal(green_bufio_read_exact(pair.reader, buffer, 16, &length),
                     0);
    assert_int_equal(length, 7);
    assert_memory_equal(buffer, "3456789", 7);
    pair_close(&pair);
}

static void test_peek(void **state)
{
    struct pair pair;
    const void *data;
    char buffer[16];
    size_t length = 99;

    (void)state;
    pair_open(&pair, 2);
    pair_send(&pair, "abcdefg");
    assert_int_equal(green_bufio_peek(pair.reader, 5, &data, &length), 0);
    assert_int_equal(length, 5);
    assert_memory_equal(data, "abcde", 5);
    assert_int_equal(green_bufio_read(pair.reader, buffer, 3, &length), 0);
    assert_int_equal(length, 3);
    assert_memory_equal(buffer, "abc", 3);
    pair_eof(&pair);
    assert_int_equal(green_bufio_peek(pair.reader, 10, &data, &length), 0);
    assert_int_equal(length, 4); /* EOF first */
    assert_memory_equal(data, "defg", 4);
    assert_int_equal(green_bufio_read_exact(pair.reader, buffer, 4, &length),
                     0);
    assert_memory_equal(buffer, "defg", 4);
    assert_int_equal(green_bufio_read(pair.reader, buffer, 4, &length), 0);
    assert_int_equal(length, 0);
    pair_close(&pair);
}

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 7 + (i >> 9));
}

struct big_send {
    int fd;
    unsigned char *data;
    size_t size;
};

static void *big_send_main(void *arg)
{
    struct big_send *send = arg;

    return (void *)(intptr_t)green_send_all(send->fd, send->data, send->size,
                                            NULL);
}

/* Larger than any socket buffer: read_exact reads straight into the
 * caller's buffer while the writer blocks. */
static void test_large_exact_read(void **state)
{
    size_t size = 4 << 20, length = 0;
    unsigned char *sent = malloc(size), *received = malloc(size + 3);
    struct pair pair;
    struct big_send send = {.data = sent, .size = size};
    green_thread_t *writer;
    void *result;

    (void)state;
    assert_non_null(sent);
    assert_non_null(received);
    for (size_t i = 0; i < size; i++)
        sent[i] = pattern(i);
    pair_open(&pair, 0);
    send.fd = pair.fds[1];
    writer = spawn_or_fail(big_send_main, &send);
    assert_int_equal(green_bufio_read_exact(pair.reader, received, 3, NULL), 0);
    assert_int_equal(
        green_bufio_read_exact(pair.reader, received + 3, size - 3, &length),
        0);
    assert_int_equal(length, size - 3);
    assert_memory_equal(received, sent, size);
    assert_int_equal(green_thread_wait(writer, &result), 0);
    assert_null(result);
    green_thread_release(writer);
    pair_close(&pair);
    free(sent);
    free(received);
}

/* ---- Timeouts and kills ---------------------------------------------- */

static void test_fd_timeout_mid_line_then_continue(void **state)
{
    struct pair pair;
    char line[64];
    size_t length = 99;
    double start;

    (void)state;
    pair_open(&pair, 0);
    assert_int_equal(green_set_timeout(pair.fds[0], 0.05), 0);
    pair_send(&pair, "hel");
    start = green_now();
    assert_int_equal(
        green_bufio_read_line(pair.reader, line, sizeof(line), &length),
        ETIMEDOUT);
    assert_true(green_now() - start >= 0.04);
    assert_int_equal(length, 0);
    assert_int_equal(green_bufio_buffered(pair.reader), 3);
    pair_send(&pair, "lo\n");
    expect_line(&pair, sizeof(line), "hello\n");
    pair_close(&pair);
}

/* A byte every few ms, never a '\n': the fd's timeout bounds the whole
 * read_line, not each read. */
static void *drip_main(void *arg)
{
    struct pair *pair = arg;

    while (green_send_all(pair->fds[1], "x", 1, NULL) == 0 &&
           green_sleep(0.005) == 0)
        ;
    return NULL;
}

static void test_fd_timeout_is_one_deadline(void **state)
{
    struct pair pair;
    green_thread_t *dripper;
    char line[100000];
    double start;

    (void)state;
    pair_open(&pair, 16);
    assert_int_equal(green_set_timeout(pair.fds[0], 0.1), 0);
    dripper = spawn_or_fail(drip_main, &pair);
    start = green_now();
    assert_int_equal(
        green_bufio_read_line(pair.reader, line, sizeof(line), NULL),
        ETIMEDOUT);
    assert_true(green_now() - start < 5.0);
    assert_true(green_bufio_buffered(pair.reader) > 0);
    assert_int_equal(green_thread_kill(dripper), 0);
    green_thread_release(dripper);
    pair_close(&pair);
}

/* A timeout scope cuts a large exact read in the direct path: the bytes
 * read into the caller's buffer go back to the reader. */
static void test_scope_timeout_mid_exact_then_continue(void **state)
{
    size_t half = 50000, length = 99;
    unsigned char *sent = malloc(2 * half), *received = malloc(2 * half);
    struct pair pair;
    green_timeout_t scope;

    (void)state;
    assert_non_null(sent);
    assert_non_null(received);
    for (size_t i = 0; i < 2 * half; i++)
        sent[i] = pattern(i);
    pair_open(&pair, 1024);
    assert_int_equal(green_send_all(pair.fds[1], sent, half, NULL), 0);
    assert_int_equal(green_bufio_read_exact(pair.reader, received, 10, NULL),
                     0);
    assert_int_equal(green_timeout_start(&scope, 0.05), 0);
    assert_int_equal(green_bufio_read_exact(pair.reader, received + 10,
                                            2 * half - 10, &length),
                     ETIMEDOUT);
    assert_int_equal(green_timeout_cancel(&scope), 0);
    assert_int_equal(length, 0);
    assert_int_equal(green_bufio_buffered(pair.reader), half - 10);
    assert_int_equal(green_send_all(pair.fds[1], sent + half, half, NULL), 0);
    assert_int_equal(green_bufio_read_exact(pair.reader, received + 10,
                                            2 * half - 10, &length),
                     0);
    assert_int_equal(length, 2 * half - 10);
    assert_memory_equal(received, sent, 2 * half);
    pair_close(&pair);
    free(sent);
    free(received);
}

struct line_reader {
    green_bufio_t *reader;
    char line[64];
    int err;
};

static void *line_reader_main(void *arg)
{
    struct line_reader *state = arg;

    state->err = green_bufio_read_line(state->reader, state->line,
                                       sizeof(state->line), NULL);
    return NULL;
}

static void test_kill_mid_line_then_continue(void **state)
{
    struct line_reader killed = {.err = -1};
    struct pair pair;
    green_thread_t *t;

    (void)state;
    pair_open(&pair, 0);
    killed.reader = pair.reader;
    t = spawn_or_fail(line_reader_main, &killed);
    pair_send(&pair, "par");
    assert_int_equal(green_sleep(0.02), 0); /* the reader takes "par" */
    assert_int_equal(killed.err, -1);
    assert_int_equal(green_thread_kill(t), 0);
    green_thread_release(t);
    assert_int_equal(killed.err, ECANCELED);
    assert_int_equal(green_bufio_buffered(pair.reader), 3);
    pair_send(&pair, "t\n");
    expect_line(&pair, 64, "part\n");
    pair_close(&pair);
}

/* ---- Misuse ------------------------------------------------------------ */

static void test_misuse(void **state)
{
    green_bufio_t *reader;
    const void *data;
    char line[8];
    size_t length;
    int fds[2];

    (void)state;
    assert_int_equal(green_bufio_new(NULL, 0, 0), EINVAL);
    assert_int_equal(green_bufio_new(&reader, -1, 0), EINVAL);
    assert_int_equal(green_bufio_destroy(NULL), EINVAL);
    assert_int_equal(green_bufio_buffered(NULL), 0);
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(close(fds[1]), 0);
    assert_int_equal(green_bufio_new(&reader, fds[1], 0), EBADF);
    assert_int_equal(green_bufio_new(&reader, fds[0], 0), 0);
    assert_int_equal(green_bufio_read_line(NULL, line, 8, &length), EINVAL);
    assert_int_equal(green_bufio_read_line(reader, NULL, 8, &length), EINVAL);
    assert_int_equal(green_bufio_read_line(reader, line, 1, &length), EINVAL);
    assert_int_equal(green_bufio_read_exact(reader, NULL, 1, &length), EINVAL);
    assert_int_equal(green_bufio_read(NULL, line, 1, &length), EINVAL);
    assert_int_equal(green_bufio_peek(reader, 1, NULL, &length), EINVAL);
    assert_int_equal(green_bufio_peek(reader, 1, &data, NULL), EINVAL);
    assert_int_equal(green_bufio_read_line(reader, line, 8, &length), 0);
    assert_int_equal(length, 0); /* the pipe's EOF */
    assert_int_equal(green_bufio_destroy(reader), 0);
    assert_int_equal(green_close(fds[0]), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        hub_test(test_lines_split_across_small_writes),
        hub_test(test_line_longer_than_max),
        hub_test(test_eof_in_the_middle_of_a_line),
        hub_test(test_eof_in_the_middle_of_an_exact_read),
        hub_test(test_peek),
        hub_test(test_large_exact_read),
        hub_test(test_fd_timeout_mid_line_then_continue),
        hub_test(test_fd_timeout_is_one_deadline),
        hub_test(test_scope_timeout_mid_exact_then_continue),
        hub_test(test_kill_mid_line_then_continue),
        hub_test(test_misuse),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

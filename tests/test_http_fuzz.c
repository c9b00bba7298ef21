/*
 * Fuzzing the request reader of examples/http_hello.c (examples/
 * http_parse.h) with seeded random mutations of valid requests.  Every
 * input is parsed from an exactly-sized heap copy, so ASan catches any
 * read past the end.  For each input the verdict must be consistent:
 *
 *   - COMPLETE: the head fits in the input, the same head alone is
 *     COMPLETE with the same fields, and every shorter prefix NEEDs MORE;
 *   - NEED_MORE: nothing seen is invalid: the input is no longer than the
 *     head limit;
 *   - BAD: more bytes never repair it.
 */
#include "test_util.h"

#include "../examples/http_parse.h"

#include <stdint.h>

#define MAX_HEAD 1024

static const char *const seeds[] = {
    "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "GET /index.html?q=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "POST /submit HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n"
    "\r\nhello",
    "HEAD / HTTP/1.1\r\nUser-Agent: wrk\r\nAccept: */*\r\n"
    "Connection: Keep-Alive, Upgrade\r\n\r\n",
    "PUT /x HTTP/1.1\r\nContent-Length:   12  \r\nX-Tab:\tvalue\r\n\r\n",
};

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    /* xorshift64*: reproducible from the seed printed on failure. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static size_t rng_below(size_t bound)
{
    return bound == 0 ? 0 : (size_t)(rng_next() % bound);
}

static enum http_parse_status parse_copy(const char *data, size_t length,
                                         struct http_request *request)
{
    char *copy = malloc(length > 0 ? length : 1);
    enum http_parse_status status;

    assert_non_null(copy);
    memcpy(copy, data, length);
    status = http_parse_request(copy, length, MAX_HEAD, request);
    free(copy);
    return status;
}

/* Bytes that matter to the grammar, mixed with random ones. */
static char interesting_byte(void)
{
    static const char bytes[] = "\r\n :\t/.,0123456789HTP\x7f";

    return rng_below(3) == 0 ? (char)rng_next()
                             : bytes[rng_below(sizeof(bytes) - 1)];
}

/* Apply one to four random edits to buffer (capacity MAX_HEAD * 2). */
static size_t mutate(char *buffer, size_t length)
{
    size_t edits = 1 + rng_below(4);

    for (size_t e = 0; e < edits; e++) {
        size_t at = rng_below(length + 1);

        switch (rng_below(6)) {
        case 0: /* flip a byte */
            if (length > 0)
                buffer[rng_below(length)] = interesting_byte();
            break;
        case 1: /* insert a byte */
            if (length < MAX_HEAD * 2) {
                memmove(buffer + at + 1, buffer + at, length - at);
                buffer[at] = interesting_byte();
                length++;
            }
            break;
        case 2: /* delete a byte */
            if (at < length) {
                memmove(buffer + at, buffer + at + 1, length - at - 1);
                length--;
            }
            break;
        case 3: /* truncate */
            length = at;
            break;
        case 4: { /* duplicate a span (long headers, repeated fields) */
            size_t span = rng_below(length - at + 1);
            if (length + span <= MAX_HEAD * 2) {
                memmove(buffer + at + span, buffer + at, length - at);
                length += span;
            }
            break;
        }
        default: /* a run of one byte, to hit the head limit */
            while (length < MAX_HEAD * 2 && rng_below(64) != 0)
                buffer[length++] = 'a';
            break;
        }
    }
    return length;
}

struct fuzz_counts {
    size_t complete, need_more, bad, inconsistent;
};

static void check_input(const char *data, size_t length,
                        struct fuzz_counts *counts)
{
    struct http_request request, again;
    enum http_parse_status status = parse_copy(data, length, &request);
    int consistent = 1;

    if (status == HTTP_PARSE_COMPLETE) {
        counts->complete++;
        consistent = request.head_length <= length &&
                     request.head_length <= MAX_HEAD &&
                     parse_copy(data, request.head_length, &again) ==
                         HTTP_PARSE_COMPLETE &&
                     memcmp(&again, &request, sizeof(again)) == 0 &&
                     request.minor_version <= 1;
        /* A random shorter prefix of the head needs more. */
        if (consistent && request.head_length > 0)
            consistent = parse_copy(data, rng_below(request.head_length),
                                    &again) == HTTP_PARSE_NEED_MORE;
    } else if (status == HTTP_PARSE_NEED_MORE) {
        counts->need_more++;
        consistent = length <= MAX_HEAD;
    } else if (status == HTTP_PARSE_BAD) {
        char extended[MAX_HEAD * 2 + 16];
        size_t extra = rng_below(16);

        counts->bad++;
        memcpy(extended, data, length);
        for (size_t i = 0; i < extra; i++)
            extended[length + i] = interesting_byte();
        consistent =
            parse_copy(extended, length + extra, &again) == HTTP_PARSE_BAD;
    } else {
        consistent = 0;
    }
    if (!consistent)
        counts->inconsistent++;
}

static void test_seeds_parse(void **state)
{
    struct http_request request;

    (void)state;
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
        assert_int_equal(parse_copy(seeds[i], strlen(seeds[i]), &request),
                         HTTP_PARSE_COMPLETE);
    assert_int_equal(parse_copy(seeds[0], strlen(seeds[0]), &request),
                     HTTP_PARSE_COMPLETE);
    assert_int_equal(request.keep_alive, 1);
    assert_int_equal(parse_copy(seeds[1], strlen(seeds[1]), &request),
                     HTTP_PARSE_COMPLETE);
    assert_int_equal(request.minor_version, 0);
    assert_int_equal(request.keep_alive, 1);
    assert_int_equal(parse_copy(seeds[2], strlen(seeds[2]), &request),
                     HTTP_PARSE_COMPLETE);
    assert_int_equal(request.keep_alive, 0);
    assert_int_equal(request.content_length, 5);
    assert_int_equal(request.head_length, strlen(seeds[2]) - 5);
    assert_int_equal(request.head, 0);
    assert_int_equal(parse_copy(seeds[3], strlen(seeds[3]), &request),
                     HTTP_PARSE_COMPLETE);
    assert_int_equal(request.head, 1);
    assert_int_equal(request.keep_alive, 1);
    assert_int_equal(parse_copy(seeds[4], strlen(seeds[4]), &request),
                     HTTP_PARSE_COMPLETE);
    assert_int_equal(request.content_length, 12);

    /* Hand-picked malformed requests. */
    static const char *const bad[] = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\n\n",
        "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nBad\x01Value: x\r\n\r\n",
        "\r\nGET / HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse_copy(bad[i], strlen(bad[i]), &request),
                         HTTP_PARSE_BAD);
    assert_int_equal(parse_copy("GET / HT", 8, &request), HTTP_PARSE_NEED_MORE);
    assert_int_equal(parse_copy("", 0, &request), HTTP_PARSE_NEED_MORE);
}

static void test_random_mutations(void **state)
{
    size_t iterations = test_scaled(100000);
    struct fuzz_counts counts = {0};
    char buffer[MAX_HEAD * 2];
    const char *seed_env = getenv("GREEN_FUZZ_SEED");
    uint64_t seed =
        seed_env != NULL ? strtoull(seed_env, NULL, 10) : 0x9e3779b97f4a7c15ull;

    (void)state;
    rng_state = seed;
    for (size_t i = 0; i < iterations; i++) {
        const char *base = seeds[rng_below(sizeof(seeds) / sizeof(seeds[0]))];
        size_t length = strlen(base);

        memcpy(buffer, base, length);
        length = mutate(buffer, length);
        check_input(buffer, length, &counts);
    }
    print_message("seed %llu: %zu inputs: %zu complete, %zu need more, "
                  "%zu bad, %zu inconsistent\n",
                  (unsigned long long)seed, iterations, counts.complete,
                  counts.need_more, counts.bad, counts.inconsistent);
    assert_int_equal(counts.inconsistent, 0);
    /* The mutations reach every verdict. */
    assert_true(counts.complete > 0);
    assert_true(counts.need_more > 0);
    assert_true(counts.bad > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeds_parse),
        cmocka_unit_test(test_random_mutations),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

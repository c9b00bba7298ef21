/*
 * libgreen_patch with a real client library: libcurl's easy (blocking)
 * interface in 50 green threads against a local HTTP server that delays
 * each response by 0.3 s.  The server runs in its own OS thread with its
 * own hub, written with plain blocking sockets: patched as well.
 * GREEN_TEST_BACKENDS
 */
#include "patch_helpers.h"

#include <green/timeout.h>

#include <pthread.h>

#if defined(GREEN_HAVE_CURL) && __has_include(<curl/curl.h>)
#include <curl/curl.h>
#define HAVE_CURL 1
#endif

#define FETCHES 50
#define DELAY_US 300000
#define BODY "hello from a slow server\n"

struct slow_server {
    int listen_fd, port;
    pthread_t thread;
    long served;
};

static struct slow_server server = {.listen_fd = -1};

/* One request, one response, then close.  Plain blocking calls: in this
 * green thread they park it only. */
static void *serve_client(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static const char response[] = "HTTP/1.1 200 OK\r\n"
                                   "Content-Type: text/plain\r\n"
                                   "Content-Length: 25\r\n"
                                   "Connection: close\r\n\r\n" BODY;
    char request[4096];
    size_t used = 0;
    ssize_t n;

    while (used < sizeof(request) - 1 &&
           (n = read(fd, request + used, sizeof(request) - 1 - used)) > 0) {
        used += (size_t)n;
        request[used] = '\0';
        if (strstr(request, "\r\n\r\n") != NULL)
            break;
    }
    usleep(DELAY_US);
    if (write(fd, response, sizeof(response) - 1) ==
        (ssize_t)(sizeof(response) - 1))
        server.served++;
    close(fd);
    return NULL;
}

/* Accepts until the listener is shut down (accept then fails). */
static void *accept_loop(void *arg)
{
    int fd;

    (void)arg;
    while ((fd = accept(server.listen_fd, NULL, NULL)) >= 0 || errno == EINTR)
        if (fd >= 0 && green_spawn_n(serve_client, (void *)(intptr_t)fd) != 0)
            close(fd);
    return NULL;
}

static void *server_thread(void *arg)
{
    green_thread_t *acceptor = NULL;

    (void)arg;
    if (green_spawn(&acceptor, accept_loop, NULL) == 0) {
        green_thread_wait(acceptor, NULL);
        green_thread_release(acceptor);
    }
    green_hub_run(); /* the last handlers */
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    server.listen_fd = patch_listen(&server.port);
#ifdef HAVE_CURL
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return -1;
#endif
    return pthread_create(&server.thread, NULL, server_thread, NULL);
}

static int teardown(void **state)
{
    (void)state;
    /* Wakes the parked accept with an error. */
    shutdown(server.listen_fd, SHUT_RDWR);
    pthread_join(server.thread, NULL);
    close(server.listen_fd);
#ifdef HAVE_CURL
    curl_global_cleanup();
#endif
    return 0;
}

#ifdef HAVE_CURL

struct fetch {
    size_t received;
    long status;
    CURLcode result;
};

static size_t count_body(char *data, size_t size, size_t count, void *arg)
{
    struct fetch *fetch = arg;

    (void)data;
    fetch->received += size * count;
    return size * count;
}

/* Fetches under way at once in the test's hub, and the most seen. */
static int fetching, most_fetching;

static void *fetch_one(void *arg)
{
    struct fetch *fetch = arg;
    char url[64];
    CURL *curl = curl_easy_init();

    if (curl == NULL) {
        fetch->result = CURLE_FAILED_INIT;
        return NULL;
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", server.port);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, count_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, fetch);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    if (++fetching > most_fetching)
        most_fetching = fetching;
    fetch->result = curl_easy_perform(curl);
    fetching--;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &fetch->status);
    curl_easy_cleanup(curl);
    return NULL;
}

static void test_50_slow_fetches_overlap(void **state)
{
    static struct fetch fetches[FETCHES];
    green_thread_t *threads[FETCHES];
    double start, elapsed;

    (void)state;
    start = patch_seconds();
    for (int i = 0; i < FETCHES; i++) {
        fetches[i] = (struct fetch){0};
        threads[i] = patch_spawn(fetch_one, &fetches[i]);
    }
    for (int i = 0; i < FETCHES; i++)
        patch_join(threads[i]);
    elapsed = patch_seconds() - start;
    print_message("50 x 0.3 s fetches: %.3f s (serial: 15 s)\n", elapsed);
    for (int i = 0; i < FETCHES; i++) {
        assert_int_equal(fetches[i].result, CURLE_OK);
        assert_int_equal(fetches[i].status, 200);
        assert_int_equal(fetches[i].received, strlen(BODY));
    }
    assert_true(elapsed >= DELAY_US / 1e6 * 0.9);
    /* Overlapped: counted, and under half of serial's 15 s (valgrind's
     * own slowness takes that margin there). */
    print_message("most fetches at once: %d\n", most_fetching);
    assert_true(most_fetching > 1);
    assert_true(elapsed <
                (test_scale_is("valgrind") ? 30.0 : FETCHES * DELAY_US / 2e6));
}

/* ---- A cut transfer, then the same multi handle again (#11 item 8) ---- */

/* Runs the multi handle until its transfers end or a call fails. */
static CURLMcode run_multi(CURLM *multi)
{
    CURLMcode code;
    int running = 1;

    do {
        code = curl_multi_perform(multi, &running);
        if (code == CURLM_OK && running)
            code = curl_multi_poll(multi, NULL, 0, 1000, NULL);
    } while (code == CURLM_OK && running);
    return code;
}

static CURL *new_fetch(struct fetch *fetch)
{
    char url[64];
    CURL *curl = curl_easy_init();

    assert_non_null(curl);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", server.port);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, count_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, fetch);
    return curl;
}

struct multi_case {
    CURLM *multi;
    CURLMcode cut, second;
    long status;
    size_t received;
    double idle_poll, woken_poll; /* seconds */
};

static void *wake_multi_later(void *arg)
{
    green_sleep(0.1);
    curl_multi_wakeup(arg);
    return NULL;
}

/* The poll of an idle multi handle waits for its timeout, or for
 * curl_multi_wakeup(): its internal socketpair still works. */
static void time_idle_polls(struct multi_case *c)
{
    green_thread_t *waker;
    double start = patch_seconds();

    curl_multi_poll(c->multi, NULL, 0, 500, NULL);
    c->idle_poll = patch_seconds() - start;
    waker = patch_spawn(wake_multi_later, c->multi);
    start = patch_seconds();
    curl_multi_poll(c->multi, NULL, 0, 30000, NULL);
    c->woken_poll = patch_seconds() - start;
    patch_join(waker);
}

static void *cut_then_fetch(void *arg)
{
    struct multi_case *c = arg;
    struct fetch first = {0}, second = {0};
    green_timeout_t scope;
    CURL *curl = new_fetch(&first);

    curl_multi_add_handle(c->multi, curl);
    green_timeout_start(&scope, 0.1); /* the server answers after 0.3 s */
    c->cut = run_multi(c->multi);
    green_timeout_cancel(&scope);
    curl_multi_remove_handle(c->multi, curl);
    curl_easy_cleanup(curl);

    time_idle_polls(c);
    curl = new_fetch(&second);
    curl_multi_add_handle(c->multi, curl);
    c->second = run_multi(c->multi);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &c->status);
    c->received = second.received;
    curl_multi_remove_handle(c->multi, curl);
    curl_easy_cleanup(curl);
    return NULL;
}

static void test_cut_transfer_then_same_multi(void **state)
{
    struct multi_case c = {.multi = curl_multi_init()};

    (void)state;
    assert_non_null(c.multi);
    patch_join(patch_spawn(cut_then_fetch, &c));
    curl_multi_cleanup(c.multi);
    print_message("idle poll %.3f s (0.5), woken poll %.3f s (0.1)\n",
                  c.idle_poll, c.woken_poll);
    assert_int_not_equal(c.cut, CURLM_OK); /* its poll() was cut */
    assert_true(c.idle_poll >= 0.4);
    /* Woken at 0.1 s, long before its 30 s timeout. */
    assert_true(c.woken_poll >= 0.05 && c.woken_poll < 10.0);
    assert_int_equal(c.second, CURLM_OK);
    assert_int_equal(c.status, 200);
    assert_int_equal(c.received, strlen(BODY));
}

#else

static void test_50_slow_fetches_overlap(void **state)
{
    (void)state;
    skip(); /* built without libcurl */
}

static void test_cut_transfer_then_same_multi(void **state)
{
    (void)state;
    skip(); /* built without libcurl */
}

#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_50_slow_fetches_overlap),
        cmocka_unit_test(test_cut_transfer_then_same_multi),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}

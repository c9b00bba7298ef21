/*
 * libgreen_patch with a real client library: hiredis's blocking API in
 * green threads against a redis-server this test starts on a free
 * loopback port (and always stops).
 * GREEN_TEST_BACKENDS
 */
#include "patch_helpers.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#if defined(GREEN_HAVE_HIREDIS) && __has_include(<hiredis/hiredis.h>)
#include <hiredis/hiredis.h>
#define HAVE_HIREDIS 1
#endif

#define CLIENTS 200

static pid_t server_pid = -1;
static int server_port = -1;
static char server_dir[] = "/tmp/green-redis-XXXXXX";

static void stop_server(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
        server_pid = -1;
    }
}

static bool server_answers(int port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port)};
    const char ping[] = "PING\r\n";
    char reply[8] = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok;

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
         write(fd, ping, sizeof(ping) - 1) == (ssize_t)(sizeof(ping) - 1) &&
         read(fd, reply, sizeof(reply) - 1) > 0 &&
         strncmp(reply, "+PONG", 5) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* redis-server on 127.0.0.1, no persistence, killed with this process if
 * it dies (PR_SET_PDEATHSIG) and at exit otherwise. */
static bool start_server_on(int port)
{
    char port_text[16];
    double deadline;

    snprintf(port_text, sizeof(port_text), "%d", port);
    server_pid = fork();
    if (server_pid == 0) {
        int quiet = open("/dev/null", O_WRONLY);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (quiet >= 0)
            dup2(quiet, STDOUT_FILENO);
        execlp("redis-server", "redis-server", "--port", port_text, "--bind",
               "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
               server_dir, "--loglevel", "warning", "--maxclients", "1000",
               (char *)NULL);
        _exit(127);
    }
    if (server_pid < 0)
        return false;
    deadline = patch_seconds() + 60; /* a loaded machine starts it slowly */
    while (patch_seconds() < deadline) {
        if (server_answers(port))
            return true;
        if (waitpid(server_pid, NULL, WNOHANG) == server_pid) {
            server_pid = -1; /* exited: the port was taken, or no binary */
            return false;
        }
        usleep(20000);
    }
    stop_server();
    return false;
}

static int setup(void **state)
{
    (void)state;
    if (mkdtemp(server_dir) == NULL)
        return -1;
    atexit(stop_server);
    for (int attempt = 0; attempt < 5; attempt++) {
        int port = patch_free_port();

        if (port > 0 && start_server_on(port)) {
            server_port = port;
            return 0;
        }
    }
    return 0; /* the tests skip without a server */
}

static int teardown(void **state)
{
    (void)state;
    stop_server();
    rmdir(server_dir);
    return 0;
}

#ifdef HAVE_HIREDIS

struct client {
    int index;
    int ok;
    long increments;
};

static redisContext *connect_client(void)
{
    redisContext *c = redisConnect("127.0.0.1", server_port);

    if (c != NULL && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* BLPOPs under way at once in this hub, and the most seen. */
static int blocking, most_blocking;

static void *blpop_client(void *arg)
{
    struct client *client = arg;
    redisContext *c = connect_client();
    redisReply *reply;

    if (c == NULL)
        return NULL;
    if (++blocking > most_blocking)
        most_blocking = blocking;
    reply = redisCommand(c, "BLPOP green:empty:%d 0.5", client->index);
    blocking--;
    /* The timeout passed with the list still empty: a nil reply. */
    client->ok = reply != NULL &&
                 (reply->type == REDIS_REPLY_NIL ||
                  (reply->type == REDIS_REPLY_ARRAY && reply->elements == 0));
    freeReplyObject(reply);
    redisFree(c);
    return NULL;
}

static void test_blpop_in_200_green_threads(void **state)
{
    static struct client clients[CLIENTS];
    green_thread_t *threads[CLIENTS];
    double start, elapsed;
    int ok = 0;

    (void)state;
    if (server_port < 0)
        skip();
    start = patch_seconds();
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = (struct client){.index = i};
        threads[i] = patch_spawn(blpop_client, &clients[i]);
    }
    for (int i = 0; i < CLIENTS; i++) {
        patch_join(threads[i]);
        ok += clients[i].ok;
    }
    elapsed = patch_seconds() - start;
    print_message("200 x BLPOP 0.5 s: %.3f s (serial: 100 s), "
                  "at most %d at once\n",
                  elapsed, most_blocking);
    assert_int_equal(ok, CLIENTS);
    /* Concurrent: counted in every build (a blocking BLPOP would hold the
     * OS thread, one at a time).  About 0.5 s, far below serial's 100 s,
     * except under valgrind: its 200 connections took 49 s on a loaded
     * machine, so the count is the proof there. */
    assert_true(most_blocking > 1);
    if (!test_scale_is("valgrind"))
        assert_true(elapsed < 30.0);
}

static long increments_each;

static void *incr_client(void *arg)
{
    struct client *client = arg;
    redisContext *c = connect_client();

    if (c == NULL)
        return NULL;
    for (long i = 0; i < increments_each; i++) {
        redisReply *reply = redisCommand(c, "INCR green:counter");

        if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
            freeReplyObject(reply);
            break;
        }
        freeReplyObject(reply);
        client->increments++;
    }
    redisFree(c);
    return NULL;
}

static void test_incr_counter_exact(void **state)
{
    static struct client clients[CLIENTS];
    green_thread_t *threads[CLIENTS];
    redisContext *c;
    redisReply *reply;
    long long expected, counted = 0;

    (void)state;
    if (server_port < 0)
        skip();
    increments_each = (long)test_scaled(1000);
    expected = (long long)CLIENTS * increments_each;
    /* Plain code in the main greenlet: hiredis as usual. */
    c = connect_client();
    assert_non_null(c);
    freeReplyObject(redisCommand(c, "DEL green:counter"));
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = (struct client){.index = i};
        threads[i] = patch_spawn(incr_client, &clients[i]);
    }
    for (int i = 0; i < CLIENTS; i++) {
        patch_join(threads[i]);
        counted += clients[i].increments;
    }
    assert_int_equal(counted, expected);
    reply = redisCommand(c, "GET green:counter");
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    assert_int_equal(strtoll(reply->str, NULL, 10), expected);
    freeReplyObject(reply);
    redisFree(c);
}

struct killed_client {
    int connected, reply_null, err;
    char errstr[128];
};

static void *blpop_forever(void *arg)
{
    struct killed_client *k = arg;
    redisContext *c = connect_client();
    redisReply *reply;

    if (c == NULL)
        return NULL;
    k->connected = 1;
    reply = redisCommand(c, "BLPOP green:never 0");
    k->reply_null = reply == NULL;
    k->err = c->err;
    snprintf(k->errstr, sizeof(k->errstr), "%s", c->errstr);
    freeReplyObject(reply);
    redisFree(c);
    return NULL;
}

/* A kill ends the blocked hiredis call with an I/O error (ECANCELED), and
 * the green thread unwinds through hiredis normally. */
static void test_killed_client_unwinds(void **state)
{
    struct killed_client k = {0};
    green_thread_t *client;

    (void)state;
    if (server_port < 0)
        skip();
    client = patch_spawn(blpop_forever, &k);
    green_sleep(0.1);
    assert_int_equal(green_thread_kill(client), 0);
    green_thread_release(client);
    assert_int_equal(k.connected, 1);
    assert_int_equal(k.reply_null, 1);
    assert_int_equal(k.err, REDIS_ERR_IO);
    print_message("killed client: %s\n", k.errstr);
}

#else

static void test_killed_client_unwinds(void **state)
{
    (void)state;
    skip();
}

static void test_blpop_in_200_green_threads(void **state)
{
    (void)state;
    skip(); /* built without hiredis */
}

static void test_incr_counter_exact(void **state)
{
    (void)state;
    skip();
}

#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blpop_in_200_green_threads),
        cmocka_unit_test(test_incr_counter_exact),
        cmocka_unit_test(test_killed_client_unwinds),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}

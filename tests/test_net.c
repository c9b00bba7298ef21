/* GREEN_TEST_BACKENDS */
/*
 * Network conveniences: green_listen address forms and options,
 * green_connect_tcp by name, and green_server (serve) with a pool as its
 * concurrency limit, stop and drain.
 */
#include "test_util.h"

#include <green/io.h>
#include <green/net.h>
#include <green/pool.h>
#include <green/thread.h>

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static int socket_option(int fd, int level, int name)
{
    int value = 0;
    socklen_t length = sizeof(value);

    assert_int_equal(getsockopt(fd, level, name, &value, &length), 0);
    return value;
}

static void test_listen_forms(void **state)
{
    int fd, other, port;
    struct sockaddr_storage addr;
    socklen_t length = sizeof(addr);

    (void)state;
    assert_int_equal(green_listen(&fd, ":0", 0, GREEN_LISTEN_REUSEADDR), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &length), 0);
    assert_int_equal(addr.ss_family, AF_INET);
    assert_int_equal(((struct sockaddr_in *)&addr)->sin_addr.s_addr,
                     htonl(INADDR_ANY));
    assert_true(socket_option(fd, SOL_SOCKET, SO_REUSEADDR));
    assert_false(socket_option(fd, SOL_SOCKET, SO_REUSEPORT));
    assert_int_equal(green_close(fd), 0);

    /* Two SO_REUSEPORT listeners share a port; a third without it may
     * not. */
    assert_int_equal(
        green_listen(&fd, "127.0.0.1:0", 0, GREEN_LISTEN_REUSEPORT), 0);
    assert_true(socket_option(fd, SOL_SOCKET, SO_REUSEPORT));
    assert_int_equal(green_local_port(fd, &port), 0);
    {
        char address[32];
        int third;

        snprintf(address, sizeof(address), "127.0.0.1:%d", port);
        assert_int_equal(
            green_listen(&other, address, 0, GREEN_LISTEN_REUSEPORT), 0);
        assert_int_equal(green_listen(&third, address, 0, 0), EADDRINUSE);
    }
    assert_int_equal(green_close(other), 0);
    assert_int_equal(green_close(fd), 0);

    /* Unix: a stale socket file from an earlier run is replaced. */
    {
        char address[64];

        snprintf(address, sizeof(address), "unix:/tmp/green_net_%d.sock",
                 (int)getpid());
        assert_int_equal(green_listen(&fd, address, 0, 0), 0);
        assert_int_equal(green_close(fd), 0);
        assert_int_equal(green_listen(&fd, address, 0, 0), 0);
        assert_int_equal(green_local_port(fd, &port), EAFNOSUPPORT);
        assert_int_equal(green_close(fd), 0);
        unlink(address + 5);
    }
}

static void test_connect_tcp_by_name(void **state)
{
    int listener, port, client, server;

    (void)state;
    assert_int_equal(green_listen(&listener, "127.0.0.1:0", 0, 0), 0);
    assert_int_equal(green_local_port(listener, &port), 0);
    /* "localhost" goes through the resolver (and /etc/hosts); whichever
     * address it gives first, 127.0.0.1 must answer in the end. */
    assert_int_equal(green_connect_tcp(&client, "localhost", port, 5.0), 0);
    assert_int_equal(green_accept(&server, listener, NULL, NULL), 0);
    assert_int_equal(green_close(server), 0);
    assert_int_equal(green_close(client), 0);
    assert_int_equal(
        green_connect_tcp(&client, "no such host.invalid", port, 5.0) != 0, 1);
    assert_int_equal(green_close(listener), 0);
}

/* ---- serve ------------------------------------------------------------- */

struct serve_case {
    green_server_t *server;
    int running, peak, handled;
    int hold; /* handlers wait while set */
};

static void holding_handler(int fd, void *arg)
{
    struct serve_case *c = arg;

    (void)fd;
    c->running++;
    if (c->running > c->peak)
        c->peak = c->running;
    while (c->hold)
        green_sleep(0.001);
    c->running--;
    c->handled++;
}

static void *serve_main(void *arg)
{
    return TEST_INT_VALUE(green_server_serve(arg));
}

static void *connect_main(void *arg)
{
    int port = (int)TEST_VALUE_INT(arg), fd;

    if (green_connect_tcp(&fd, "127.0.0.1", port, 10.0) == 0) {
        char byte;
        /* Wait until the server closes the connection. */
        green_recv(fd, &byte, 1, 0, NULL);
        green_close(fd);
    }
    return NULL;
}

static void test_serve_limit_stop_and_drain(void **state)
{
    enum { CLIENTS = 10, LIMIT = 3 };
    struct serve_case c = {.hold = 1};
    green_thread_t *server_thread, *clients[CLIENTS];
    green_pool_t *pool;
    int listener, port;
    void *result = NULL;

    (void)state;
    assert_int_equal(green_pool_new(&pool, LIMIT), 0);
    assert_int_equal(green_listen(&listener, "127.0.0.1:0", 0, 0), 0);
    assert_int_equal(green_local_port(listener, &port), 0);
    assert_int_equal(
        green_server_new(&c.server, listener, holding_handler, &c, pool), 0);
    assert_int_equal(green_spawn(&server_thread, serve_main, c.server), 0);
    for (int i = 0; i < CLIENTS; i++)
        assert_int_equal(
            green_spawn(&clients[i], connect_main, TEST_INT_VALUE(port)), 0);
    /* Let the clients connect until the pool is full and accepting has
     * paused (bounded: the test fails rather than hangs). */
    for (int i = 0; i < 5000 && green_server_active(c.server) < LIMIT + 1; i++)
        green_sleep(0.001);
    for (int i = 0; i < 20; i++)
        green_sleep(0.001); /* it must stay at the limit */
    assert_int_equal(c.running, LIMIT);
    /* The pool's members, plus the connection accepted last, whose spawn
     * waits for a slot (accepting has paused). */
    assert_int_equal(green_server_active(c.server), LIMIT + 1);

    c.hold = 0; /* the rest are served as slots free up */
    for (int i = 0; i < CLIENTS; i++) {
        assert_int_equal(green_thread_wait(clients[i], NULL), 0);
        green_thread_release(clients[i]);
    }
    assert_int_equal(c.handled, CLIENTS);
    assert_int_equal(c.peak, LIMIT);

    /* Stop while serve waits in accept. */
    green_server_stop(c.server);
    assert_int_equal(green_thread_wait(server_thread, &result), 0);
    assert_int_equal(TEST_VALUE_INT(result), 0);
    green_thread_release(server_thread);
    green_server_destroy(c.server);
    assert_int_equal(green_pool_destroy(pool, 0), 0);

    /* The listener stays open and usable. */
    {
        int client, server;

        assert_int_equal(green_connect_tcp(&client, "127.0.0.1", port, 5.0), 0);
        assert_int_equal(green_accept(&server, listener, NULL, NULL), 0);
        assert_int_equal(green_close(server), 0);
        assert_int_equal(green_close(client), 0);
    }
    assert_int_equal(green_close(listener), 0);
}

/* Serve c (hold set) on a fresh loopback listener in its own green thread,
 * connect one client, and return the listener once the handler runs. */
static int start_held_connection(struct serve_case *c,
                                 green_thread_t **server_thread,
                                 green_thread_t **client)
{
    int listener, port;

    assert_int_equal(green_listen(&listener, "127.0.0.1:0", 0, 0), 0);
    assert_int_equal(green_local_port(listener, &port), 0);
    assert_int_equal(
        green_server_new(&c->server, listener, holding_handler, c, NULL), 0);
    assert_int_equal(green_spawn(server_thread, serve_main, c->server), 0);
    assert_int_equal(green_spawn(client, connect_main, TEST_INT_VALUE(port)),
                     0);
    while (c->running == 0)
        green_sleep(0.001);
    return listener;
}

/* Stopping waits for running handlers to finish. */
static void test_stop_drains_handlers(void **state)
{
    struct serve_case c = {.hold = 1};
    green_thread_t *server_thread, *client;
    int listener;

    (void)state;
    listener = start_held_connection(&c, &server_thread, &client);
    green_server_stop(c.server);
    for (int i = 0; i < 20; i++)
        green_sleep(0.001);
    assert_false(green_thread_dead(server_thread)); /* still draining */
    c.hold = 0;
    assert_int_equal(green_thread_wait(server_thread, NULL), 0);
    assert_int_equal(c.handled, 1);
    assert_int_equal(green_thread_wait(client, NULL), 0);
    green_thread_release(server_thread);
    green_thread_release(client);
    green_server_destroy(c.server);
    assert_int_equal(green_close(listener), 0);
}

/* A killed serve returns ECANCELED and leaves handlers running; the server
 * memory lives until the last one ends. */
static void test_killed_serve_keeps_handlers(void **state)
{
    struct serve_case c = {.hold = 1};
    green_thread_t *server_thread, *client;
    void *result = NULL;
    int listener;

    (void)state;
    listener = start_held_connection(&c, &server_thread, &client);
    assert_int_equal(green_thread_kill(server_thread), 0);
    assert_int_equal(green_thread_wait(server_thread, &result), ECANCELED);
    green_thread_release(server_thread);
    green_server_destroy(c.server); /* freed by the last handler */
    c.hold = 0;
    assert_int_equal(green_thread_wait(client, NULL), 0);
    green_thread_release(client);
    assert_int_equal(c.handled, 1);
    assert_int_equal(green_close(listener), 0);
}

static void test_server_misuse(void **state)
{
    green_server_t *server;

    (void)state;
    assert_int_equal(green_server_new(NULL, 3, holding_handler, NULL, NULL),
                     EINVAL);
    assert_int_equal(green_server_new(&server, -1, holding_handler, NULL, NULL),
                     EINVAL);
    assert_int_equal(green_server_new(&server, 3, NULL, NULL, NULL), EINVAL);
    assert_int_equal(green_server_serve(NULL), EINVAL);
    green_server_stop(NULL);
    green_server_destroy(NULL);
    assert_int_equal(green_server_active(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_forms),
        cmocka_unit_test(test_connect_tcp_by_name),
        cmocka_unit_test(test_serve_limit_stop_and_drain),
        cmocka_unit_test(test_stop_drains_handlers),
        cmocka_unit_test(test_killed_serve_keeps_handlers),
        cmocka_unit_test(test_server_misuse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

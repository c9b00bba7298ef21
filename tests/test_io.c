/* GREEN_TEST_BACKENDS */
/*
 * Green I/O: loopback echo with many concurrent clients, timeouts of every
 * kind, notify-close, double readers, large transfers, UDP, IPv6, Unix
 * sockets and pipes, and blocking calls made from plain main().
 */
#include "test_hub_util.h"

#include "../src/io/io_internal.h"

#include <green/io.h>
#include <green/net.h>
#include <green/thread.h>
#include <green/timeout.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- Helpers ---------------------------------------------------------- */

static int listen_loopback(int *port)
{
    int fd;

    assert_int_equal(
        green_listen(&fd, "127.0.0.1:0", 0, GREEN_LISTEN_REUSEADDR), 0);
    assert_int_equal(green_local_port(fd, port), 0);
    return fd;
}

/* Wait for t, release it, and return its result as an int. */
static intptr_t join(green_thread_t *t)
{
    void *result = NULL;

    assert_int_equal(green_thread_wait(t, &result), 0);
    green_thread_release(t);
    return TEST_VALUE_INT(result);
}

static void socket_pair(int type, int fds[2])
{
    assert_int_equal(
        socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
}

/* A byte of client c's stream at offset i: every client's bytes differ. */
static unsigned char pattern_byte(size_t c, size_t i)
{
    return (unsigned char)(c * 131 + i * 7 + (i >> 8));
}

/* ---- Echo: many concurrent clients ------------------------------------ */

static void echo_handler(int fd, void *unused)
{
    char buffer[1500];
    size_t received;

    (void)unused;
    while (green_recv(fd, buffer, sizeof(buffer), 0, &received) == 0 &&
           received > 0)
        if (green_send_all(fd, buffer, received, NULL) != 0)
            return;
}

#define ECHO_BYTES 3000

struct echo_client {
    int port;
    size_t id;
    int ok;
};

static void *echo_client_main(void *arg)
{
    struct echo_client *client = arg;
    unsigned char out[ECHO_BYTES], in[ECHO_BYTES];
    size_t received;
    int fd;

    if (green_connect_tcp(&fd, "127.0.0.1", client->port, 30.0) != 0)
        return NULL;
    for (size_t i = 0; i < ECHO_BYTES; i++)
        out[i] = pattern_byte(client->id, i);
    client->ok = green_send_all(fd, out, sizeof(out), NULL) == 0 &&
                 green_recv_all(fd, in, sizeof(in), &received) == 0 &&
                 received == sizeof(in) && memcmp(in, out, sizeof(in)) == 0;
    green_close(fd);
    return NULL;
}

static void *serve_main(void *server)
{
    return TEST_INT_VALUE(green_server_serve(server));
}

static void test_echo_many_clients(void **state)
{
    size_t count = test_scaled(1000);
    struct echo_client *clients = calloc(count, sizeof(*clients));
    green_thread_t **threads = calloc(count, sizeof(*threads));
    green_server_t *server;
    green_thread_t *server_thread;
    int port, listener = listen_loopback(&port);
    size_t ok = 0;

    (void)state;
    assert_non_null(clients);
    assert_non_null(threads);
    assert_int_equal(
        green_server_new(&server, listener, echo_handler, NULL, NULL), 0);
    server_thread = spawn_or_fail(serve_main, server);
    for (size_t i = 0; i < count; i++) {
        clients[i].port = port;
        clients[i].id = i;
        threads[i] = spawn_or_fail(echo_client_main, &clients[i]);
    }
    for (size_t i = 0; i < count; i++)
        join(threads[i]);
    for (size_t i = 0; i < count; i++)
        ok += (size_t)clients[i].ok;
    assert_int_equal(ok, count);

    green_server_stop(server);
    assert_int_equal(join(server_thread), 0);
    assert_int_equal(green_server_active(server), 0);
    green_server_destroy(server);
    assert_int_equal(green_close(listener), 0);
    free(clients);
    free(threads);
}

/* ---- Timeouts ----------------------------------------------------------- */

static void test_recv_timeout(void **state)
{
    int fds[2];
    char byte;
    size_t received = 99;
    double start;

    (void)state;
    socket_pair(SOCK_STREAM, fds);
    assert_true(green_get_timeout(fds[0]) < 0);
    assert_int_equal(green_set_timeout(fds[0], 0.05), 0);
    assert_true(green_get_timeout(fds[0]) > 0.049 &&
                green_get_timeout(fds[0]) < 0.051);
    start = green_now();
    assert_int_equal(green_recv(fds[0], &byte, 1, 0, &received), ETIMEDOUT);
    assert_true(green_now() - start >= 0.04);
    assert_true(green_now() - start < 5.0);

    /* Timeout 0: fails at once if it would block; data still arrives. */
    assert_int_equal(green_set_timeout(fds[0], 0), 0);
    assert_int_equal(green_recv(fds[0], &byte, 1, 0, &received), ETIMEDOUT);
    assert_int_equal(green_send(fds[1], "x", 1, 0, NULL), 0);
    assert_int_equal(green_recv(fds[0], &byte, 1, 0, &received), 0);
    assert_int_equal(received, 1);
    assert_int_equal(byte, 'x');

    assert_int_equal(green_set_timeout(fds[0], GREEN_FOREVER), 0);
    assert_true(green_get_timeout(fds[0]) < 0);
    assert_int_equal(green_set_timeout(-1, 1.0), EBADF);
    assert_int_equal(green_close(fds[0]), 0);
    assert_int_equal(green_close(fds[1]), 0);
}

static void test_timeout_scope_applies(void **state)
{
    green_timeout_t scope;
    int fds[2];
    char byte;

    (void)state;
    socket_pair(SOCK_STREAM, fds);
    assert_int_equal(green_timeout_start(&scope, 0.05), 0);
    assert_int_equal(green_recv(fds[0], &byte, 1, 0, NULL), ETIMEDOUT);
    assert_true(green_timeout_fired(&scope));
    green_timeout_cancel(&scope);
    assert_int_equal(green_close(fds[0]), 0);
    assert_int_equal(green_close(fds[1]), 0);
}

/* send_all's timeout is one deadline for the whole transfer, and the
 * count tells how much went out before it expired. */
static void test_send_all_total_deadline(void **state)
{
    size_t size = 8 << 20, sent = 0;
    char *data = calloc(1, size);
    int fds[2];
    double start;

    (void)state;
    assert_non_null(data);
    socket_pair(SOCK_STREAM, fds);
    assert_int_equal(green_set_timeout(fds[0], 0.2), 0);
    start = green_now();
    assert_int_equal(green_send_all(fds[0], data, size, &sent), ETIMEDOUT);
    assert_true(sent > 0 && sent < size);
    assert_true(green_now() - start >= 0.15);
    assert_true(green_now() - start < 10.0);
    assert_int_equal(green_close(fds[0]), 0);
    assert_int_equal(green_close(fds[1]), 0);
    free(data);
}

/* Reads everything from fd after a pause, until the peer closes. */
static void *drain_later(void *arg)
{
    static char buffer[65536];
    int fd = (int)TEST_VALUE_INT(arg);
    size_t received, total = 0;

    green_sleep(0.2);
    while (green_recv(fd, buffer, sizeof(buffer), 0, &received) == 0 &&
           received > 0)
        total += received;
    return TEST_INT_VALUE(total);
}

/* A reader's idle timeout does not bound the same fd's writes, and the
 * other way round. */
static void test_timeouts_per_direction(void **state)
{
    size_t size = 8 << 20, sent = 0;
    char *data = calloc(1, size);
    double recv_s, send_s, start;
    green_thread_t *drainer;
    int fds[2];
    char byte;

    (void)state;
    assert_non_null(data);
    socket_pair(SOCK_STREAM, fds);
    assert_int_equal(green_set_timeouts(fds[0], 0.05, GREEN_FOREVER), 0);
    assert_int_equal(green_get_timeouts(fds[0], &recv_s, &send_s), 0);
    assert_true(recv_s > 0.049 && recv_s < 0.051);
    assert_true(send_s < 0);
    assert_true(green_get_timeout(fds[0]) > 0.049);
    start = green_now();
    assert_int_equal(green_recv(fds[0], &byte, 1, 0, NULL), ETIMEDOUT);
    assert_true(green_now() - start >= 0.04);
    /* The writer waits 0.2 s for the drainer, past the read timeout. */
    drainer = spawn_or_fail(drain_later, TEST_INT_VALUE(fds[1]));
    assert_int_equal(green_send_all(fds[0], data, size, &sent), 0);
    assert_int_equal(sent, size);
    assert_int_equal(shutdown(fds[0], SHUT_WR), 0);
    assert_int_equal(join(drainer), (intptr_t)size);

    /* The other way: a write timeout only.  Nobody reads fds[0] now. */
    assert_int_equal(green_set_timeouts(fds[1], GREEN_FOREVER, 0.05), 0);
    assert_int_equal(green_get_timeouts(fds[1], &recv_s, NULL), 0);
    assert_true(recv_s < 0);
    assert_true(green_get_timeout(fds[1]) < 0);
    assert_int_equal(green_send_all(fds[1], data, size, &sent), ETIMEDOUT);
    assert_true(sent > 0 && sent < size);

    /* green_set_timeout sets both. */
    assert_int_equal(green_set_timeout(fds[0], 0.5), 0);
    assert_int_equal(green_get_timeouts(fds[0], &recv_s, &send_s), 0);
    assert_true(recv_s > 0.49 && recv_s < 0.51);
    assert_true(send_s > 0.49 && send_s < 0.51);
    assert_int_equal(green_set_timeouts(-1, 1, 1), EBADF);
    assert_int_equal(green_set_timeouts(fds[0], NAN, 1), EINVAL);
    assert_int_equal(green_get_timeouts(-1, &recv_s, &send_s), EBADF);
    assert_int_equal(green_close(fds[0]), 0);
    assert_int_equal(green_close(fds[1]), 0);
    free(data);
}

/* ---- green_serve: the peer's address ----------------------------------- */

static struct sockaddr_in seen_peer;
static socklen_t seen_peer_len;
static int seen_peer_err = -1;
static green_server_t *peer_server;

/* Records the peer's address, then stops the server. */
static void peer_handler(int fd, void *unused)
{
    (void)fd;
    (void)unused;
    seen_peer_len = sizeof(seen_peer);
    seen_peer_err =
        green_server_peer((struct sockaddr *)&seen_peer, &seen_peer_len);
    green_server_stop(peer_server);
}

static void test_serve_peer_address(void **state)
{
    green_thread_t *server_thread;
    struct sockaddr_in mine;
    socklen_t mine_len = sizeof(mine), len = sizeof(mine);
    int port, listener = listen_loopback(&port), fd;

    (void)state;
    /* Outside a handler there is no peer. */
    assert_int_equal(green_server_peer((struct sockaddr *)&mine, &len), EPERM);
    assert_int_equal(green_server_peer(NULL, &len), EINVAL);
    assert_int_equal(
        green_server_new(&peer_server, listener, peer_handler, NULL, NULL), 0);
    server_thread = spawn_or_fail(serve_main, peer_server);
    assert_int_equal(green_connect_tcp(&fd, "127.0.0.1", port, 10.0), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&mine, &mine_len), 0);
    assert_int_equal(join(server_thread), 0);
    green_server_destroy(peer_server);

    assert_int_equal(seen_peer_err, 0);
    assert_int_equal(seen_peer_len, sizeof(struct sockaddr_in));
    assert_int_equal(seen_peer.sin_family, AF_INET);
    assert_int_equal(seen_peer.sin_port, mine.sin_port);
    assert_int_equal(seen_peer.sin_addr.s_addr, mine.sin_addr.s_addr);
    assert_int_equal(green_close(fd), 0);
    assert_int_equal(green_close(listener), 0);
}

static void test_accept_timeout(void **state)
{
    int port, listener = listen_loopback(&port), client;

    (void)state;
    assert_int_equal(green_set_timeout(listener, 0.05), 0);
    assert_int_equal(green_accept(&client, listener, NULL, NULL), ETIMEDOUT);
    assert_int_equal(green_close(listener), 0);
}

/* A listener whose accept queue is full (nobody accepts) leaves further
 * SYNs unanswered on Linux, so a connect to it times out. */
static void test_connect_timeout(void **state)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    int listener, port, fds[64], count = 0, err = 0;

    (void)state;
    assert_int_equal(green_listen(&listener, "127.0.0.1:0", 1, 0), 0);
    assert_int_equal(green_local_port(listener, &port), 0);
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    while (count < 64) {
        assert_int_equal(green_socket(&fds[count], AF_INET, SOCK_STREAM, 0), 0);
        assert_int_equal(green_set_timeout(fds[count], 0.2), 0);
        err = green_connect(fds[count], (struct sockaddr *)&addr, sizeof(addr));
        count++;
        if (err != 0)
            break;
    }
    assert_int_equal(err, ETIMEDOUT);
    while (count > 0)
        assert_int_equal(green_close(fds[--count]), 0);
    assert_int_equal(green_close(listener), 0);
}

static void test_connect_refused(void **state)
{
    int port, listener = listen_loopback(&port), fd;

    (void)state;
    assert_int_equal(green_close(listener), 0); /* nobody listens now */
    assert_int_equal(green_connect_tcp(&fd, "127.0.0.1", port, 5.0),
                     ECONNREFUSED);
}

/* ---- Closing and readers --------------------------------------------------
 */

struct reader {
    int fd;
    int err;
    size_t received;
};

static void *reader_main(void *arg)
{
    struct reader *reader = arg;
    char buffer[16];

    reader->err =
        green_recv(reader->fd, buffer, sizeof(buffer), 0, &reader->received);
    return NULL;
}

/* The peer of a closed socket reads its EOF as soon as green_close
 * returns, without the hub running in between: no readiness poll (on
 * io_uring, a request holding the file) outlives the close. */
static void assert_peer_sees_eof(int peer)
{
    char byte;

    assert_int_equal(recv(peer, &byte, 1, MSG_DONTWAIT), 0);
}

static void test_close_wakes_reader(void **state)
{
    struct reader reader = {.err = -1};
    green_thread_t *t;
    int fds[2];

    (void)state;
    socket_pair(SOCK_STREAM, fds);
    reader.fd = fds[0];
    t = spawn_or_fail(reader_main, &reader);
    assert_int_equal(green_sleep(0.01), 0); /* the reader blocks */
    assert_int_equal(reader.err, -1);
    assert_int_equal(green_close(fds[0]), 0);
    assert_peer_sees_eof(fds[1]);
    join(t);
    assert_int_equal(reader.err, EBADF);
    assert_int_equal(green_close(fds[1]), 0);
}

static void test_close_after_wait_ends_stream(void **state)
{
    int fds[2];

    (void)state;
    socket_pair(SOCK_STREAM, fds);
    assert_int_equal(green_wait_fd(fds[0], GREEN_READ, 0.01), ETIMEDOUT);
    assert_int_equal(green_close(fds[0]), 0);
    assert_peer_sees_eof(fds[1]);
    assert_int_equal(green_close(fds[1]), 0);
}

struct transfer {
    int fd;
    unsigned char *data;
    size_t size, done;
    int err;
};

static void *send_all_main(void *arg)
{
    struct transfer *t = arg;

    t->err = green_send_all(t->fd, t->data, t->size, &t->done);
    return NULL;
}

/* A writer blocked on a full socket wakes with EBADF, and its count tells
 * what went out before. */
static void test_close_wakes_writer(void **state)
{
    struct transfer t = {.size = 8u << 20, .err = -1};
    green_thread_t *writer;
    int fds[2];

    (void)state;
    t.data = calloc(1, t.size);
    assert_non_null(t.data);
    socket_pair(SOCK_STREAM, fds);
    t.fd = fds[0];
    writer = spawn_or_fail(send_all_main, &t);
    assert_int_equal(green_sleep(0.02), 0); /* the buffers are full now */
    assert_int_equal(t.err, -1);
    assert_int_equal(green_close(fds[0]), 0);
    join(writer);
    assert_int_equal(t.err, EBADF);
    assert_true(t.done > 0 && t.done < t.size);
    assert_int_equal(green_close(fds[1]), 0);
    free(t.data);
}

static void *accept_main(void *arg)
{
    int fd, listener = (int)TEST_VALUE_INT(arg);

    return TEST_INT_VALUE(green_accept(&fd, listener, NULL, NULL));
}

/* A listener closed under a blocked accept is closed at once: connects
 * are refused (on io_uring, the accept operation held it open). */
static void test_close_wakes_acceptor(void **state)
{
    int port, listener = listen_loopback(&port), fd;
    green_thread_t *t;
    void *result;

    (void)state;
    t = spawn_or_fail(accept_main, TEST_INT_VALUE(listener));
    assert_int_equal(green_sleep(0.01), 0); /* it blocks */
    assert_int_equal(green_close(listener), 0);
    assert_int_equal(green_connect_tcp(&fd, "127.0.0.1", port, 5.0),
                     ECONNREFUSED);
    assert_int_equal(green_thread_wait(t, &result), 0);
    green_thread_release(t);
    assert_int_equal(TEST_VALUE_INT(result), EBADF);
}

/* A closed fd's timeout does not stick to the next fd with its number. */
static void test_timeout_forgotten_on_close(void **state)
{
    int first, second;

    (void)state;
    assert_int_equal(green_socket(&first, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(green_set_timeout(first, 1.5), 0);
    assert_int_equal(green_close(first), 0);
    assert_int_equal(green_socket(&second, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(second, first); /* the lowest free number again */
    assert_true(green_get_timeout(second) < 0);
    assert_int_equal(green_close(second), 0);
}

static void test_second_reader_is_busy(void **state)
{
    struct reader first = {.err = -1}, second = {.err = -1};
    green_thread_t *t1, *t2;
    int fds[2];

    (void)state;
    socket_pair(SOCK_STREAM, fds);
    first.fd = second.fd = fds[0];
    t1 = spawn_or_fail(reader_main, &first);
    t2 = spawn_or_fail(reader_main, &second);
    join(t2);
    assert_int_equal(second.err, EBUSY);
    assert_int_equal(green_send(fds[1], "hi", 2, 0, NULL), 0);
    join(t1);
    assert_int_equal(first.err, 0);
    assert_int_equal(first.received, 2);
    assert_int_equal(green_close(fds[0]), 0);
    assert_int_equal(green_close(fds[1]), 0);
}

static void test_peer_close_gives_eof_and_epipe(void **state)
{
    int fds[2];
    char byte;
    size_t received = 99;

    (void)state;
    socket_pair(SOCK_STREAM, fds);
    assert_int_equal(green_close(fds[1]), 0);
    assert_int_equal(green_recv(fds[0], &byte, 1, 0, &received), 0);
    assert_int_equal(received, 0);
    assert_int_equal(green_send(fds[0], "x", 1, 0, NULL), EPIPE);
    assert_int_equal(green_close(fds[0]), 0);
}

/* ---- Large transfers --------------------------------------------------- */

static void test_send_all_10mb(void **state)
{
    size_t size = 10u << 20;
    struct transfer sender = {.size = size, .err = -1};
    unsigned char *received = malloc(size);
    green_thread_t *t;
    size_t got = 0;
    int port, listener = listen_loopback(&port), client, server;

    (void)state;
    sender.data = malloc(size);
    assert_non_null(sender.data);
    assert_non_null(received);
    for (size_t i = 0; i < size; i++)
        sender.data[i] = pattern_byte(7, i);
    assert_int_equal(green_connect_tcp(&client, "127.0.0.1", port, 5.0), 0);
    assert_int_equal(green_accept(&server, listener, NULL, NULL), 0);
    sender.fd = client;
    t = spawn_or_fail(send_all_main, &sender);
    assert_int_equal(green_recv_all(server, received, size, &got), 0);
    join(t);
    assert_int_equal(sender.err, 0);
    assert_int_equal(sender.done, size);
    assert_int_equal(got, size);
    assert_memory_equal(received, sender.data, size);

    /* recv_all stops short only at EOF. */
    assert_int_equal(green_send_all(client, "abc", 3, NULL), 0);
    assert_int_equal(green_close(client), 0);
    assert_int_equal(green_recv_all(server, received, 10, &got), 0);
    assert_int_equal(got, 3);
    assert_int_equal(green_close(server), 0);
    assert_int_equal(green_close(listener), 0);
    free(sender.data);
    free(received);
}

/* ---- UDP ------------------------------------------------------------------
 */

struct datagram_receiver {
    int fd;
    char text[64];
    size_t length;
    struct sockaddr_storage from;
    socklen_t from_length;
    int err;
};

/* from starts undefined: under valgrind, memcheck must see what the
 * kernel wrote (an io_uring operation writes it unseen). */
static void *recvfrom_main(void *arg)
{
    struct datagram_receiver *r = arg;
    struct sockaddr_storage from;

    r->from_length = sizeof(from);
    r->err =
        green_recvfrom(r->fd, r->text, sizeof(r->text) - 1, 0,
                       (struct sockaddr *)&from, &r->from_length, &r->length);
    r->from = from;
    return NULL;
}

static void test_udp(void **state)
{
    struct datagram_receiver r = {.err = -1};
    struct sockaddr_in to = {.sin_family = AF_INET};
    socklen_t length = sizeof(to);
    green_thread_t *t;
    int sender;
    size_t sent;

    (void)state;
    assert_int_equal(green_socket(&r.fd, AF_INET, SOCK_DGRAM, 0), 0);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(r.fd, (struct sockaddr *)&to, sizeof(to)), 0);
    assert_int_equal(getsockname(r.fd, (struct sockaddr *)&to, &length), 0);
    assert_int_equal(green_socket(&sender, AF_INET, SOCK_DGRAM, 0), 0);

    t = spawn_or_fail(recvfrom_main, &r); /* blocks before the send */
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(r.err, -1);
    assert_int_equal(green_sendto(sender, "datagram", 8, 0,
                                  (struct sockaddr *)&to, sizeof(to), &sent),
                     0);
    assert_int_equal(sent, 8);
    join(t);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.length, 8);
    assert_memory_equal(r.text, "datagram", 8);
    assert_int_equal(r.from.ss_family, AF_INET);
    assert_int_equal(green_close(sender), 0);
    assert_int_equal(green_close(r.fd), 0);
}

/* ---- IPv6 and Unix sockets ------------------------------------------------
 */

/* One echo round trip through listener, with client already connected. */
static void echo_round_trip(int listener, int client)
{
    char buffer[32];
    size_t got;
    int server;

    assert_int_equal(green_accept(&server, listener, NULL, NULL), 0);
    assert_int_equal(green_send_all(client, "ping", 4, NULL), 0);
    assert_int_equal(green_recv_all(server, buffer, 4, &got), 0);
    assert_int_equal(green_send_all(server, buffer, got, NULL), 0);
    assert_int_equal(green_recv_all(client, buffer, 4, &got), 0);
    assert_int_equal(got, 4);
    assert_memory_equal(buffer, "ping", 4);
    assert_int_equal(green_close(server), 0);
}

static void test_ipv6_loopback(void **state)
{
    int listener, client, port, probe;

    (void)state;
    probe = socket(AF_INET6, SOCK_STREAM, 0);
    if (probe < 0 && errno == EAFNOSUPPORT) {
        print_message("IPv6 is not supported by this kernel: skipped\n");
        skip();
    }
    assert_true(probe >= 0);
    close(probe);
    /* Any other failure to use ::1 is a real failure. */
    assert_int_equal(green_listen(&listener, "[::1]:0", 0, 0), 0);
    assert_int_equal(green_local_port(listener, &port), 0);
    assert_int_equal(green_connect_tcp(&client, "::1", port, 5.0), 0);
    echo_round_trip(listener, client);
    assert_int_equal(green_close(client), 0);
    assert_int_equal(green_close(listener), 0);
}

static void test_unix_sockets(void **state)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    char address[sizeof("unix:") + sizeof(addr.sun_path)];
    int listener, client, fds[2];
    char buffer[8];
    size_t got;

    (void)state;
    snprintf(addr.sun_path, sizeof(addr.sun_path), "/tmp/green_io_%d.sock",
             (int)getpid());
    snprintf(address, sizeof(address), "unix:%s", addr.sun_path);
    assert_int_equal(green_listen(&listener, address, 0, 0), 0);
    assert_int_equal(green_socket(&client, AF_UNIX, SOCK_STREAM, 0), 0);
    assert_int_equal(
        green_connect(client, (struct sockaddr *)&addr, sizeof(addr)), 0);
    echo_round_trip(listener, client);
    assert_int_equal(green_close(client), 0);
    assert_int_equal(green_close(listener), 0);
    unlink(addr.sun_path);

    /* Datagram Unix sockets: no address needed on a connected pair. */
    socket_pair(SOCK_DGRAM, fds);
    assert_int_equal(green_sendto(fds[0], "dgram", 5, 0, NULL, 0, NULL), 0);
    assert_int_equal(
        green_recvfrom(fds[1], buffer, sizeof(buffer), 0, NULL, NULL, &got), 0);
    assert_int_equal(got, 5);
    assert_int_equal(green_close(fds[0]), 0);
    assert_int_equal(green_close(fds[1]), 0);
}

/* ---- Pipes ----------------------------------------------------------------
 */

struct pipe_reader {
    int fd;
    char text[16];
    size_t length;
    int err;
};

static void *pipe_reader_main(void *arg)
{
    struct pipe_reader *r = arg;

    r->err = green_read(r->fd, r->text, sizeof(r->text), &r->length);
    return NULL;
}

static void test_pipe(void **state)
{
    struct pipe_reader r = {.err = -1};
    green_thread_t *t;
    int fds[2];
    size_t written;

    (void)state;
    assert_int_equal(pipe(fds), 0); /* blocking fds: made nonblocking */
    r.fd = fds[0];
    t = spawn_or_fail(pipe_reader_main, &r);
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(r.err, -1);
    assert_int_equal(green_write(fds[1], "piped", 5, &written), 0);
    assert_int_equal(written, 5);
    join(t);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.length, 5);
    assert_true(fcntl(fds[0], F_GETFL) & O_NONBLOCK);
    assert_int_equal(green_close(fds[0]), 0);
    assert_int_equal(green_close(fds[1]), 0);
}

/* ---- The retry loop for other syscalls --------------------------------- */

static ssize_t attempt_readv(int fd, void *op)
{
    struct iovec *parts = op;
    return readv(fd, parts, 2);
}

static void *write_two_parts(void *arg)
{
    int fd = (int)TEST_VALUE_INT(arg);

    green_sleep(0.01);
    green_send_all(fd, "headbody", 8, NULL);
    return NULL;
}

static void test_io_retry_other_syscall(void **state)
{
    char head[4], body[4];
    struct iovec parts[2] = {{head, sizeof(head)}, {body, sizeof(body)}};
    green_thread_t *writer;
    size_t got = 0;
    int fds[2];

    (void)state;
    socket_pair(SOCK_STREAM, fds);
    writer = spawn_or_fail(write_two_parts, TEST_INT_VALUE(fds[1]));
    assert_int_equal(
        green_io_retry(fds[0], GREEN_READ, 5.0, attempt_readv, parts, &got), 0);
    assert_int_equal(got, 8);
    assert_memory_equal(head, "head", 4);
    assert_memory_equal(body, "body", 4);
    join(writer);
    assert_int_equal(
        green_io_retry(fds[0], GREEN_READ, 0.02, attempt_readv, parts, &got),
        ETIMEDOUT);
    assert_int_equal(green_io_retry(fds[0], GREEN_READ, 1.0, NULL, NULL, NULL),
                     EINVAL);
    assert_int_equal(green_close(fds[0]), 0);
    assert_int_equal(green_close(fds[1]), 0);
}

/* ---- Cutting a call in progress ----------------------------------------- */

/* On io_uring a blocked call is an operation in the kernel, which owns its
 * buffer: a cut call must return only once the operation is cancelled.
 * Either way, the data that comes after the cut is the next call's, and
 * the buffer given up stays untouched (the kernel writes bypass ASan: the
 * pattern shows them). */
#define CUT_SIZE 64

static unsigned char *cut_buffer(void)
{
    unsigned char *buffer = malloc(CUT_SIZE);

    assert_non_null(buffer);
    memset(buffer, 0xA5, CUT_SIZE);
    return buffer;
}

static void assert_untouched(const unsigned char *buffer)
{
    for (size_t i = 0; i < CUT_SIZE; i++)
        assert_int_equal(buffer[i], 0xA5);
}

/* Send "after" into fds[1]; the next recv on fds[0] gets all of it. */
static void assert_next_recv_gets_all(int fds[2])
{
    char in[16];
    size_t got = 0;

    assert_int_equal(green_send_all(fds[1], "after", 5, NULL), 0);
    assert_int_equal(green_recv_all(fds[0], in, 5, &got), 0);
    assert_int_equal(got, 5);
    assert_memory_equal(in, "after", 5);
}

struct cut_recv {
    int fd;
    unsigned char *buffer;
    int err;
};

static void *cut_recv_main(void *arg)
{
    struct cut_recv *c = arg;

    c->err = green_recv(c->fd, c->buffer, CUT_SIZE, 0, NULL);
    return NULL;
}

static void test_cut_recv_keeps_stream(void **state)
{
    unsigned char *buffer = cut_buffer();
    struct cut_recv killed = {.err = -1};
    green_timeout_t scope;
    green_thread_t *t;
    int fds[2];

    (void)state;
    socket_pair(SOCK_STREAM, fds);
    /* The fd's timeout. */
    assert_int_equal(green_set_timeouts(fds[0], 0.02, GREEN_FOREVER), 0);
    assert_int_equal(green_recv(fds[0], buffer, CUT_SIZE, 0, NULL), ETIMEDOUT);
    assert_int_equal(green_set_timeout(fds[0], GREEN_FOREVER), 0);
    assert_next_recv_gets_all(fds);
    assert_untouched(buffer);
    /* A timeout scope. */
    assert_int_equal(green_timeout_start(&scope, 0.02), 0);
    assert_int_equal(green_recv(fds[0], buffer, CUT_SIZE, 0, NULL), ETIMEDOUT);
    assert_true(green_timeout_fired(&scope));
    green_timeout_cancel(&scope);
    assert_next_recv_gets_all(fds);
    assert_untouched(buffer);
    free(buffer);
    /* A kill; the buffer is freed before the data comes. */
    killed.fd = fds[0];
    killed.buffer = cut_buffer();
    t = spawn_or_fail(cut_recv_main, &killed);
    assert_int_equal(green_sleep(0.01), 0); /* it blocks */
    assert_int_equal(green_thread_kill(t), 0);
    assert_int_equal(green_thread_wait(t, NULL), ECANCELED);
    green_thread_release(t);
    assert_int_equal(killed.err, ECANCELED);
    free(killed.buffer);
    assert_next_recv_gets_all(fds);
    assert_int_equal(green_close(fds[0]), 0);
    assert_int_equal(green_close(fds[1]), 0);
}

/* A cut send_all reports what went out: the peer receives exactly that
 * much, though the buffer is freed first. */
static void test_cut_send_all_counts(void **state)
{
    size_t size = 8u << 20, sent = 0, received, total = 0;
    struct transfer killed = {.size = 8u << 20, .err = -1};
    char *data = calloc(1, size), buffer[65536];
    green_thread_t *writer;
    int fds[2];

    (void)state;
    assert_non_null(data);
    socket_pair(SOCK_STREAM, fds);
    assert_int_equal(green_set_timeouts(fds[0], GREEN_FOREVER, 0.05), 0);
    assert_int_equal(green_send_all(fds[0], data, size, &sent), ETIMEDOUT);
    free(data);
    assert_true(sent > 0 && sent < size);
    /* Killed: the writer's count is what went out since. */
    assert_int_equal(green_set_timeout(fds[0], GREEN_FOREVER), 0);
    killed.fd = fds[0];
    killed.data = calloc(1, killed.size);
    assert_non_null(killed.data);
    writer = spawn_or_fail(send_all_main, &killed);
    assert_int_equal(green_sleep(0.01), 0); /* it blocks: nobody reads */
    assert_int_equal(green_thread_kill(writer), 0);
    assert_int_equal(green_thread_wait(writer, NULL), ECANCELED);
    green_thread_release(writer);
    assert_int_equal(killed.err, ECANCELED);
    free(killed.data);
    assert_int_equal(shutdown(fds[0], SHUT_WR), 0);
    while (green_recv(fds[1], buffer, sizeof(buffer), 0, &received) == 0 &&
           received > 0)
        total += received;
    assert_int_equal(total, sent + killed.done);
    assert_int_equal(green_close(fds[0]), 0);
    assert_int_equal(green_close(fds[1]), 0);
}

/* ---- Which way the calls block ------------------------------------------ */

static void *accept_one(void *arg)
{
    int fd = -1, listener = (int)TEST_VALUE_INT(arg);

    assert_int_equal(green_accept(&fd, listener, NULL, NULL), 0);
    return TEST_INT_VALUE(fd);
}

/* Every kind of call, and three that block: accept, send (nobody reads)
 * and read (an empty pipe). */
static void block_every_call(void)
{
    static char big[1 << 20];
    int port, listener = listen_loopback(&port), client, server, pipe_fds[2];
    struct sockaddr_in addr = {.sin_family = AF_INET};
    struct transfer sender = {
        .data = (unsigned char *)big, .size = sizeof(big), .err = -1};
    struct pipe_reader r = {.err = -1};
    green_thread_t *t;
    size_t got;

    t = spawn_or_fail(accept_one, TEST_INT_VALUE(listener));
    assert_int_equal(green_sleep(0.01), 0);
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(green_socket(&client, AF_INET, SOCK_STREAM, 0), 0);
    assert_int_equal(
        green_connect(client, (struct sockaddr *)&addr, sizeof(addr)), 0);
    server = (int)join(t);
    sender.fd = server;
    t = spawn_or_fail(send_all_main, &sender); /* blocks: nobody reads */
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(green_recv_all(client, big, sizeof(big), &got), 0);
    join(t);
    assert_int_equal(sender.err, 0);
    assert_int_equal(green_close(server), 0);
    assert_int_equal(green_close(client), 0);
    assert_int_equal(green_close(listener), 0);

    assert_int_equal(pipe(pipe_fds), 0);
    r.fd = pipe_fds[0];
    t = spawn_or_fail(pipe_reader_main, &r); /* blocks: empty */
    assert_int_equal(green_sleep(0.01), 0);
    assert_int_equal(green_write(pipe_fds[1], "x", 1, &got), 0);
    join(t);
    assert_int_equal(r.err, 0);
    assert_int_equal(green_close(pipe_fds[0]), 0);
    assert_int_equal(green_close(pipe_fds[1]), 0);
}

/* On io_uring the calls submit operations and never wait for readiness;
 * elsewhere they wait for readiness.  Asked for io_uring, the hub must run
 * it: a silent fallback fails here. */
static void test_calls_block_as_operations(void **state)
{
    const char *asked = getenv("GREEN_HUB_BACKEND");
    int uring = strcmp(green_hub_backend_name(), "io_uring") == 0;
    struct io_counts before = io_counts;

    (void)state;
    if (asked != NULL && strcmp(asked, "io_uring") == 0)
        assert_true(uring);
    block_every_call();
    if (uring) {
        assert_int_equal(io_counts.readiness_waits, before.readiness_waits);
        assert_true(io_counts.ops - before.ops >= 7); /* one per call */
    } else {
        assert_true(io_counts.readiness_waits - before.readiness_waits >= 3);
        assert_int_equal(io_counts.ops, before.ops);
    }
}

/* ---- From plain main(), with no green thread --------------------------- */

static void *write_later(void *arg)
{
    int fd = (int)(intptr_t)arg;

    usleep(50 * 1000);
    return (void *)(intptr_t)write(fd, "late", 4);
}

static void test_blocking_from_main(void **state)
{
    pthread_t writer;
    int fds[2];
    char buffer[8];
    size_t got = 0;
    void *written;

    (void)state;
    socket_pair(SOCK_STREAM, fds);
    assert_int_equal(
        pthread_create(&writer, NULL, write_later, (void *)(intptr_t)fds[1]),
        0);
    /* Parks the main greenlet in the hub until the OS thread writes. */
    assert_int_equal(green_recv_all(fds[0], buffer, 4, &got), 0);
    assert_int_equal(got, 4);
    assert_memory_equal(buffer, "late", 4);
    assert_int_equal(pthread_join(writer, &written), 0);
    assert_int_equal((intptr_t)written, 4);
    assert_int_equal(green_close(fds[0]), 0);
    assert_int_equal(green_close(fds[1]), 0);
}

/* ---- Misuse -----------------------------------------------------------------
 */

static void test_misuse(void **state)
{
    int fd;

    (void)state;
    assert_int_equal(green_socket(NULL, AF_INET, SOCK_STREAM, 0), EINVAL);
    assert_int_equal(green_recv(-1, &fd, 1, 0, NULL), EBADF);
    assert_int_equal(green_read(0, NULL, 10, NULL), EINVAL);
    assert_int_equal(green_send(0, NULL, 10, 0, NULL), EINVAL);
    assert_int_equal(green_accept(NULL, 0, NULL, NULL), EINVAL);
    assert_int_equal(green_connect(0, NULL, 0), EINVAL);
    assert_int_equal(green_close(-1), EBADF);
    assert_int_equal(green_listen(&fd, "no-port", 0, 0), EINVAL);
    assert_int_equal(green_listen(&fd, "1.2.3:80", 0, 0), EINVAL);
    assert_int_equal(green_listen(&fd, "[::1:80", 0, 0), EINVAL);
    assert_int_equal(green_listen(&fd, "127.0.0.1:99999", 0, 0), EINVAL);
    assert_int_equal(green_listen(NULL, "127.0.0.1:0", 0, 0), EINVAL);
    assert_int_equal(green_connect_tcp(&fd, "127.0.0.1", 70000, 1.0), EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_many_clients),
        cmocka_unit_test(test_recv_timeout),
        cmocka_unit_test(test_timeout_scope_applies),
        cmocka_unit_test(test_send_all_total_deadline),
        cmocka_unit_test(test_timeouts_per_direction),
        cmocka_unit_test(test_serve_peer_address),
        cmocka_unit_test(test_accept_timeout),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_close_wakes_reader),
        cmocka_unit_test(test_close_after_wait_ends_stream),
        cmocka_unit_test(test_close_wakes_writer),
        cmocka_unit_test(test_close_wakes_acceptor),
        cmocka_unit_test(test_timeout_forgotten_on_close),
        cmocka_unit_test(test_second_reader_is_busy),
        cmocka_unit_test(test_peer_close_gives_eof_and_epipe),
        cmocka_unit_test(test_send_all_10mb),
        cmocka_unit_test(test_udp),
        cmocka_unit_test(test_ipv6_loopback),
        cmocka_unit_test(test_unix_sockets),
        cmocka_unit_test(test_pipe),
        cmocka_unit_test(test_io_retry_other_syscall),
        cmocka_unit_test(test_cut_recv_keeps_stream),
        cmocka_unit_test(test_cut_send_all_counts),
        cmocka_unit_test(test_calls_block_as_operations),
        cmocka_unit_test(test_blocking_from_main),
        cmocka_unit_test(test_misuse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

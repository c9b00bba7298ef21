/*
 * chat_server: every line a client sends goes to every other client.
 *
 *   chat_server [PORT]     serve on 127.0.0.1:PORT (default 6001; 0 picks a
 *                          free port) forever
 *   chat_server --demo     serve on a free port, run client green threads
 *                          that chat, check that each got every other's
 *                          lines, stop the server by closing its queues,
 *                          and exit
 *
 * One green thread per client and nothing else: it waits with green_select
 * for whichever comes first, a message in its own queue (to send to its
 * client) or data on its socket (to fan out into the others' queues).
 * Stopping closes every queue: each handler's select then fires with
 * EPIPE and the handler returns.
 */
#include <green/io.h>
#include <green/net.h>
#include <green/select.h>
#include <green/sync.h>
#include <green/thread.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The server ------------------------------------------------------- */

#define MAX_CLIENTS 64
#define OUTBOX_SIZE 1024 /* a client this far behind loses messages */

struct message {
    size_t length;
    char text[];
};

/* The clients connected now.  All in one hub, so no locking. */
struct room {
    green_queue_t *outbox[MAX_CLIENTS];
    size_t count;
    green_server_t *server;
    int closing;         /* room_close ran: the last to leave stops */
    green_event_t *full; /* demo: set once `expected` clients joined */
    size_t expected;
};

static struct room room;

static void message_free(void *item)
{
    free(item);
}

/* Queue a copy of text for every client but the sender (a full outbox
 * drops it: a slow client must not stall the room). */
static void room_broadcast(green_queue_t *from, const char *text, size_t n)
{
    for (size_t i = 0; i < room.count; i++) {
        struct message *m;

        if (room.outbox[i] == from || (m = malloc(sizeof(*m) + n)) == NULL)
            continue;
        m->length = n;
        memcpy(m->text, text, n);
        if (green_queue_try_put(room.outbox[i], m) != 0)
            free(m);
    }
}

static void room_leave(green_queue_t *outbox)
{
    for (size_t i = 0; i < room.count; i++) {
        if (room.outbox[i] == outbox) {
            room.outbox[i] = room.outbox[--room.count];
            break;
        }
    }
    green_queue_close(outbox); /* EALREADY if room_close did */
    green_queue_destroy(outbox, message_free);
    if (room.closing && room.count == 0)
        green_server_stop(room.server);
}

/* Stop the server: every handler's select fires with EPIPE, and the last
 * one to leave stops the accept loop. */
static void room_close(void)
{
    room.closing = 1;
    for (size_t i = 0; i < room.count; i++)
        green_queue_close(room.outbox[i]);
    if (room.count == 0)
        green_server_stop(room.server);
}

/* Send what fired on the outbox; 0 to go on. */
static int client_send(int client, const green_select_case_t *c)
{
    struct message *m = c->value;
    int err;

    if (c->result != 0)
        return c->result; /* closed: the server stops */
    err = green_send_all(client, m->text, m->length, NULL);
    free(m);
    return err;
}

/* Fan out what the socket has; 0 to go on. */
static int client_receive(int client, green_queue_t *outbox)
{
    char buffer[4096];
    size_t received;
    int err = green_recv(client, buffer, sizeof(buffer), 0, &received);

    if (err != 0 || received == 0)
        return err != 0 ? err : -1; /* -1: the client left */
    room_broadcast(outbox, buffer, received);
    return 0;
}

static void handle(int client, void *unused)
{
    green_queue_t *outbox;
    green_select_case_t cases[2];
    size_t fired;
    int err;

    (void)unused;
    if (room.count == MAX_CLIENTS ||
        green_queue_new(&outbox, OUTBOX_SIZE, GREEN_QUEUE_FIFO, NULL) != 0)
        return;
    room.outbox[room.count++] = outbox;
    if (room.count == room.expected)
        green_event_send(room.full, NULL);
    cases[0] = (green_select_case_t){.op = GREEN_SELECT_GET, .object = outbox};
    cases[1] = (green_select_case_t){
        .op = GREEN_SELECT_FD, .fd = client, .events = GREEN_READ};
    do {
        err = green_select(cases, 2, &fired);
        if (err == 0)
            err = fired == 0 ? client_send(client, &cases[0])
                             : client_receive(client, outbox);
    } while (err == 0);
    room_leave(outbox);
}

/* ---- Demo: clients in the same process ------------------------------- */

#define DEMO_CLIENTS 8
#define DEMO_LINES 50

static int demo_port;
static int demo_clients_left = DEMO_CLIENTS;
static int demo_failures;

/* Count newlines until `lines` came; then read on to the end of stream,
 * which comes when the server stops. */
static int demo_read(int fd, size_t lines)
{
    char buffer[4096];
    size_t received, seen = 0;
    int eof = 0;

    while (!eof) {
        if (green_recv(fd, buffer, sizeof(buffer), 0, &received) != 0)
            return 1;
        eof = received == 0;
        for (size_t i = 0; i < received; i++)
            seen += buffer[i] == '\n';
        if (seen == lines && --demo_clients_left == 0)
            room_close(); /* everyone has every line: stop */
    }
    return seen != lines;
}

static void *demo_writer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char line[64];

    for (int i = 0; i < DEMO_LINES; i++) {
        int length = snprintf(line, sizeof(line), "%d: line %d\n", fd, i);

        if (green_send_all(fd, line, (size_t)length, NULL) != 0)
            break;
        green_sleep(0);
    }
    return NULL;
}

static void *demo_client(void *unused)
{
    green_thread_t *writer;
    int fd;

    (void)unused;
    if (green_connect_tcp(&fd, "127.0.0.1", demo_port, 10.0) != 0) {
        demo_failures++;
        return NULL;
    }
    /* Everyone in the room before anyone speaks. */
    if (green_event_wait(room.full, NULL, 10.0) != 0 ||
        green_spawn(&writer, demo_writer, (void *)(intptr_t)fd) != 0) {
        demo_failures++;
    } else {
        demo_failures += demo_read(fd, (DEMO_CLIENTS - 1) * DEMO_LINES);
        green_thread_wait(writer, NULL);
        green_thread_release(writer);
    }
    green_close(fd);
    return NULL;
}

static int run_demo(int listener)
{
    green_thread_t *clients[DEMO_CLIENTS];
    int spawned = 0;
    int err = green_server_new(&room.server, listener, handle, NULL, NULL);

    room.expected = DEMO_CLIENTS;
    while (err == 0 && spawned < DEMO_CLIENTS) {
        err = green_spawn(&clients[spawned], demo_client, NULL);
        spawned += err == 0;
    }
    if (err == 0)
        err = green_server_serve(room.server);
    for (int i = 0; i < spawned; i++) {
        green_thread_wait(clients[i], NULL);
        green_thread_release(clients[i]);
    }
    green_server_destroy(room.server);
    green_close(listener);
    green_event_destroy(room.full);
    printf("demo: %d clients x %d lines, each got the others' %d lines, "
           "%d failures\n",
           DEMO_CLIENTS, DEMO_LINES, (DEMO_CLIENTS - 1) * DEMO_LINES,
           demo_failures);
    return err == 0 && demo_failures == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    int demo = argc > 1 && strcmp(argv[1], "--demo") == 0;
    char address[32];
    int listener, err;

    snprintf(address, sizeof(address), "127.0.0.1:%s",
             demo       ? "0"
             : argc > 1 ? argv[1]
                        : "6001");
    err = green_listen(&listener, address, 0, GREEN_LISTEN_REUSEADDR);
    if (err == 0)
        err = green_local_port(listener, &demo_port);
    if (err == 0)
        err = green_event_new(&room.full);
    if (err != 0) {
        fprintf(stderr, "chat_server: listen on %s: %s\n", address,
                strerror(err));
        return 1;
    }
    printf("chat server on 127.0.0.1:%d\n", demo_port);
    fflush(stdout);
    if (demo)
        return run_demo(listener);
    err = green_server_new(&room.server, listener, handle, NULL, NULL);
    if (err == 0)
        err = green_server_serve(room.server);
    fprintf(stderr, "chat_server: serve: %s\n", strerror(err));
    return 1;
}

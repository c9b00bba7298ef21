/*
 * An oslo.messaging-style RPC consumer with libgreen.
 *
 * A broker green thread writes request records into one end of a
 * non-blocking socketpair.  A reader green thread waits for the other end
 * with green_wait_fd, reads the records and feeds them into the incoming
 * queue.  The listener takes each message from that queue and spawns one
 * green thread per message with green_spawn, at most 64 at once (the
 * executor limit, a semaphore).  Each handler simulates its work with
 * green_sleep and puts its reply on the reply queue, so the main greenlet
 * receives the replies in order of completion, not of arrival.
 *
 * Exits non-zero unless every request got exactly one reply, the executor
 * reached its limit of 64 and never exceeded it, and the replies came back
 * in completion order.
 */
#include <green/sync.h>
#include <green/thread.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MESSAGES 300
#define EXECUTOR_LIMIT 64

struct request {
    int32_t id; /* -1: end of stream */
    int32_t work_ms;
};

struct reply {
    int id;
    double completed_at;
};

struct consumer {
    int fds[2]; /* [0] read by the reader, [1] written by the broker */
    green_queue_t *incoming; /* struct request *, NULL at the end */
    green_queue_t *replies;  /* struct reply * */
    green_semaphore_t *executor;
    int running, peak;
    int failures;
};

static void *broker_run(void *arg)
{
    struct consumer *c = arg;
    unsigned seed = 4242;

    for (int32_t id = 0; id <= MESSAGES; id++) {
        struct request request = {.id = id < MESSAGES ? id : -1};
        size_t sent = 0;

        seed = seed * 1103515245u + 12345u;
        /* 30-59 ms: long beside a late wake-up on a loaded machine, so
         * 64 handlers still run at once there. */
        request.work_ms = 30 + (int32_t)((seed >> 16) % 30);
        while (sent < sizeof(request)) {
            ssize_t n = write(c->fds[1], (char *)&request + sent,
                              sizeof(request) - sent);

            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno == EAGAIN)
                green_wait_fd(c->fds[1], GREEN_WRITE, GREEN_FOREVER);
            else {
                c->failures++;
                return NULL;
            }
        }
        if (id % 32 == 31)
            green_sleep(0.001); /* messages arrive in bursts */
    }
    return NULL;
}

/* Read whole records from the socket into the incoming queue. */
static void *reader_run(void *arg)
{
    struct consumer *c = arg;
    struct request buffer[64];
    size_t have = 0; /* bytes in buffer */

    for (;;) {
        ssize_t n =
            read(c->fds[0], (char *)buffer + have, sizeof(buffer) - have);
        size_t whole;

        if (n < 0 && errno == EAGAIN) {
            if (green_wait_fd(c->fds[0], GREEN_READ, GREEN_FOREVER) != 0)
                break;
            continue;
        }
        if (n <= 0)
            break;
        have += (size_t)n;
        whole = have / sizeof(struct request);
        for (size_t i = 0; i < whole; i++) {
            struct request *request = NULL;

            if (buffer[i].id >= 0) {
                request = malloc(sizeof(*request));
                if (request == NULL) {
                    c->failures++;
                    continue;
                }
                *request = buffer[i];
            }
            green_queue_put(c->incoming, request, GREEN_FOREVER);
            if (request == NULL)
                return NULL;
        }
        have -= whole * sizeof(struct request);
        memmove(buffer, (char *)buffer + whole * sizeof(struct request), have);
    }
    c->failures++;
    green_queue_put(c->incoming, NULL, GREEN_FOREVER);
    return NULL;
}

struct handler_args {
    struct consumer *consumer;
    struct request *request;
};

static void *handle_request(void *arg)
{
    struct handler_args *h = arg;
    struct consumer *c = h->consumer;
    struct reply *reply = malloc(sizeof(*reply));

    if (++c->running > c->peak)
        c->peak = c->running;
    green_sleep(h->request->work_ms / 1000.0);
    c->running--;
    if (reply == NULL) {
        c->failures++;
    } else {
        reply->id = h->request->id;
        reply->completed_at = green_now();
        green_queue_put(c->replies, reply, GREEN_FOREVER);
    }
    free(h->request);
    free(h);
    green_semaphore_release(c->executor);
    return NULL;
}

/* Take messages and dispatch each to its own green thread. */
static void *listener_run(void *arg)
{
    struct consumer *c = arg;
    struct request *request;

    while (green_queue_get(c->incoming, (void **)&request, GREEN_FOREVER) ==
               0 &&
           request != NULL) {
        struct handler_args *h = malloc(sizeof(*h));

        if (h == NULL ||
            green_semaphore_acquire(c->executor, GREEN_FOREVER) != 0) {
            c->failures++;
            free(h);
            free(request);
            continue;
        }
        *h = (struct handler_args){.consumer = c, .request = request};
        if (green_spawn_n(handle_request, h) != 0) {
            c->failures++;
            green_semaphore_release(c->executor);
            free(request);
            free(h);
        }
    }
    return NULL;
}

static int setup(struct consumer *c)
{
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, c->fds) != 0)
        return errno;
    for (int i = 0; i < 2; i++) {
        if (fcntl(c->fds[i], F_SETFL, fcntl(c->fds[i], F_GETFL) | O_NONBLOCK) !=
            0)
            return errno;
    }
    if (green_queue_new(&c->incoming, GREEN_QUEUE_UNBOUNDED, GREEN_QUEUE_FIFO,
                        NULL) != 0 ||
        green_queue_new(&c->replies, GREEN_QUEUE_UNBOUNDED, GREEN_QUEUE_FIFO,
                        NULL) != 0 ||
        green_semaphore_new(&c->executor, EXECUTOR_LIMIT) != 0)
        return ENOMEM;
    return 0;
}

int main(void)
{
    struct consumer c = {.fds = {-1, -1}};
    green_thread_t *threads[3];
    green_thread_fn bodies[3] = {broker_run, reader_run, listener_run};
    double last_completion = 0;
    int received = 0, in_completion_order = 1, in_id_order = 1;
    int seen[MESSAGES] = {0};
    int err = setup(&c);

    for (int i = 0; err == 0 && i < 3; i++)
        err = green_spawn(&threads[i], bodies[i], &c);
    if (err != 0) {
        fprintf(stderr, "rpc_consumer: setup failed: %s\n", strerror(err));
        return 1;
    }
    while (received < MESSAGES) {
        struct reply *reply;

        if (green_queue_get(c.replies, (void **)&reply, 10.0) != 0)
            break;
        if (reply->completed_at < last_completion)
            in_completion_order = 0;
        if (reply->id != received)
            in_id_order = 0;
        last_completion = reply->completed_at;
        seen[reply->id]++;
        received++;
        free(reply);
    }
    for (int i = 0; i < 3; i++) {
        green_thread_wait(threads[i], NULL);
        green_thread_release(threads[i]);
    }
    green_close_fd(c.fds[0]);
    green_close_fd(c.fds[1]);
    green_queue_destroy(c.incoming, free);
    green_queue_destroy(c.replies, free);
    green_semaphore_destroy(c.executor);

    for (int i = 0; i < MESSAGES; i++) {
        if (seen[i] != 1)
            c.failures++;
    }
    printf("rpc_consumer: %d/%d replies, executor peak %d (limit %d), "
           "in completion order: %s, in arrival order: %s\n",
           received, MESSAGES, c.peak, EXECUTOR_LIMIT,
           in_completion_order ? "yes" : "no", in_id_order ? "yes" : "no");
    if (c.failures != 0 || received != MESSAGES || c.peak != EXECUTOR_LIMIT ||
        !in_completion_order) {
        fprintf(stderr, "rpc_consumer: FAILED (%d failures)\n", c.failures);
        return 1;
    }
    return 0;
}

/*
 * epoll_server: the practical limit for bench/http.sh — a minimal,
 * hand-written, single-threaded epoll HTTP/1.1 keep-alive server that
 * answers every request with the same fixed response as
 * examples/http_hello.  No green threads, no parsing beyond finding the end
 * of each request head.
 *
 *   epoll_server PORT     serve on 127.0.0.1:PORT until killed
 *
 * Without arguments (as bench/run.sh runs every program) it prints nothing
 * and exits: bench/http.sh starts it.
 */
#define _GNU_SOURCE
#include "http_heads.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFFER_SIZE 8192
#define MAX_FDS 65536

/* Bytes of an unfinished request head, per connection. */
struct connection {
    size_t have;
    char buffer[BUFFER_SIZE];
};

static struct connection *connections[MAX_FDS];

static void drop(int epoll_fd, int fd)
{
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(connections[fd]);
    connections[fd] = NULL;
}

/* Read once, answer each complete head; returns -1 to close. */
static int serve(int fd)
{
    struct connection *c = connections[fd];
    ssize_t n = read(fd, c->buffer + c->have, BUFFER_SIZE - c->have);
    size_t answers;

    if (n <= 0)
        return n < 0 && errno == EAGAIN ? 0 : -1;
    c->have += (size_t)n;
    answers = http_heads_take(c->buffer, &c->have);
    if (c->have == BUFFER_SIZE)
        return -1;
    while (answers-- > 0)
        if (write(fd, http_heads_response, sizeof(http_heads_response) - 1) !=
            (ssize_t)sizeof(http_heads_response) - 1)
            return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    struct epoll_event event = {.events = EPOLLIN}, events[256];
    int listener, epoll_fd, one = 1;

    if (argc < 2)
        return 0;
    addr.sin_port = htons((uint16_t)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(listener, 1024) < 0) {
        perror("epoll_server");
        return 1;
    }
    epoll_fd = epoll_create1(0);
    event.data.fd = listener;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &event);
    printf("listening on 127.0.0.1:%s\n", argv[1]);
    fflush(stdout);

    for (;;) {
        int n = epoll_wait(epoll_fd, events, 256, -1);

        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;

            if (fd != listener) {
                if (serve(fd) < 0)
                    drop(epoll_fd, fd);
                continue;
            }
            while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                if (fd >= MAX_FDS ||
                    (connections[fd] = calloc(1, sizeof(struct connection))) ==
                        NULL) {
                    close(fd);
                    continue;
                }
                event.data.fd = fd;
                epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
            }
        }
    }
}

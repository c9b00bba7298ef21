/*
 * The fixed HTTP answer of the hand-written benchmark servers
 * (bench/epoll_server.c, bench/tls_epoll_server.c), and how they find
 * request heads: no parsing beyond each head's end.  memmem needs
 * _GNU_SOURCE defined before the first include.
 */
#ifndef GREEN_BENCH_HTTP_HEADS_H
#define GREEN_BENCH_HTTP_HEADS_H

#include <string.h>

static const char http_heads_response[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
    "\r\nHello, World!";

/* Count the complete heads in buffer[0, *have) and drop them, keeping an
 * unfinished rest at the start. */
static inline size_t http_heads_take(char *buffer, size_t *have)
{
    char *start = buffer, *end;
    size_t heads = 0;

    while ((end = memmem(start, *have - (size_t)(start - buffer), "\r\n\r\n",
                         4)) != NULL) {
        heads++;
        start = end + 4;
    }
    *have -= (size_t)(start - buffer);
    memmove(buffer, start, *have);
    return heads;
}

#endif /* GREEN_BENCH_HTTP_HEADS_H */

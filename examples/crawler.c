/*
 * crawler: eventlet's web crawler example.  Fetches N URLs concurrently
 * through a pool of 10 green threads, with green_connect_tcp and plain
 * HTTP/1.0.  The URLs are served by a small test server running in the
 * same process, on loopback.
 *
 *   crawler [N]      (default 100 URLs)
 */
#include <green/io.h>
#include <green/thread.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_SIZE 10
#define PAGE_FORMAT "<html><body>page %d</body></html>\n"

/* ---- The test server: answers GET /page/N with page N ---------------- */

static void serve_page(int fd, void *unused)
{
    char request[1024], page[128], response[256];
    size_t have = 0, received;
    int number = -1, length;

    (void)unused;
    /* HTTP/1.0: read the head, answer, close. */
    while (have < sizeof(request) - 1 &&
           green_recv(fd, request + have, sizeof(request) - 1 - have, 0,
                      &received) == 0 &&
           received > 0) {
        have += received;
        request[have] = '\0';
        if (strstr(request, "\r\n\r\n") != NULL)
            break;
    }
    request[have] = '\0';
    if (sscanf(request, "GET /page/%d HTTP/1.0", &number) != 1) {
        static const char not_found[] = "HTTP/1.0 404 Not Found\r\n\r\n";
        green_send_all(fd, not_found, sizeof(not_found) - 1, NULL);
        return;
    }
    snprintf(page, sizeof(page), PAGE_FORMAT, number);
    length = snprintf(response, sizeof(response),
                      "HTTP/1.0 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
                      strlen(page), page);
    green_send_all(fd, response, (size_t)length, NULL);
}

static void *run_server(void *server)
{
    green_server_serve(server);
    return NULL;
}

/* ---- The crawler ----------------------------------------------------- */

struct crawl {
    char (*urls)[64];
    int count;
    int next; /* the next URL a pool thread takes */
    int fetched, failed;
    size_t bytes;
};

/* Fetch one "http://host:port/path" URL; returns the body length, or -1. */
static long fetch(const char *url, int expected_page)
{
    char host[32], path[32], request[128], response[512], page[128];
    size_t have = 0, received;
    int port, fd, length;
    const char *body;
    long result = -1;

    if (sscanf(url, "http://%31[^:]:%d%31s", host, &port, path) != 3 ||
        green_connect_tcp(&fd, host, port, 10.0) != 0)
        return -1;
    length = snprintf(request, sizeof(request),
                      "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host);
    if (green_send_all(fd, request, (size_t)length, NULL) == 0) {
        /* HTTP/1.0: the body ends when the server closes. */
        while (have < sizeof(response) - 1 &&
               green_recv(fd, response + have, sizeof(response) - 1 - have, 0,
                          &received) == 0 &&
               received > 0)
            have += received;
        response[have] = '\0';
        body = strstr(response, "\r\n\r\n");
        snprintf(page, sizeof(page), PAGE_FORMAT, expected_page);
        if (strncmp(response, "HTTP/1.0 200 ", 13) == 0 && body != NULL &&
            strcmp(body + 4, page) == 0)
            result = (long)strlen(body + 4);
    }
    green_close(fd);
    return result;
}

/* A pool thread: take the next URL until none is left. */
static void *crawl_worker(void *arg)
{
    struct crawl *crawl = arg;

    while (crawl->next < crawl->count) {
        int index = crawl->next++;
        long length = fetch(crawl->urls[index], index);

        if (length < 0) {
            crawl->failed++;
        } else {
            crawl->fetched++;
            crawl->bytes += (size_t)length;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct crawl crawl = {.count = argc > 1 ? atoi(argv[1]) : 100};
    green_thread_t *pool[POOL_SIZE], *server_thread;
    green_server_t *server;
    int listener, port;
    double start;

    if (crawl.count <= 0 || crawl.count > 1000000) {
        fprintf(stderr, "usage: crawler [N]\n");
        return 2;
    }
    if (green_listen(&listener, "127.0.0.1:0", 0, GREEN_LISTEN_REUSEADDR) ||
        green_local_port(listener, &port) ||
        green_server_new(&server, listener, serve_page, NULL, 0) ||
        green_spawn(&server_thread, run_server, server))
        return 1;
    crawl.urls = calloc((size_t)crawl.count, sizeof(*crawl.urls));
    if (crawl.urls == NULL)
        return 1;
    for (int i = 0; i < crawl.count; i++)
        snprintf(crawl.urls[i], sizeof(crawl.urls[i]),
                 "http://127.0.0.1:%d/page/%d", port, i);

    start = green_now();
    for (int i = 0; i < POOL_SIZE; i++)
        if (green_spawn(&pool[i], crawl_worker, &crawl) != 0)
            return 1;
    for (int i = 0; i < POOL_SIZE; i++) {
        green_thread_wait(pool[i], NULL);
        green_thread_release(pool[i]);
    }
    printf("crawler: %d URLs, %d fetched (%zu bytes), %d failed, "
           "%d green threads, %.3f s\n",
           crawl.count, crawl.fetched, crawl.bytes, crawl.failed, POOL_SIZE,
           green_now() - start);

    green_server_stop(server);
    green_thread_wait(server_thread, NULL);
    green_thread_release(server_thread);
    green_server_free(server);
    green_close(listener);
    free(crawl.urls);
    return crawl.failed == 0 && crawl.fetched == crawl.count ? 0 : 1;
}

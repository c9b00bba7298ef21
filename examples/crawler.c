/*
 * crawler: eventlet's web crawler example.  Fetches N URLs concurrently
 * through a green pool of 10 (at most 10 fetches run at once), with
 * green_connect_tcp and plain HTTP/1.0.  The URLs are served by a small test
 * server running in the same process, on loopback.
 *
 *   crawler [N]      (default 100 URLs)
 */
#include <green/io.h>
#include <green/net.h>
#include <green/pool.h>
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
    int fetched, failed;
    size_t bytes;
};

/* One pool member's job: a URL and where its page goes. */
struct fetch_job {
    struct crawl *crawl;
    int index;
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

static void *fetch_main(void *arg)
{
    struct fetch_job *job = arg;
    struct crawl *crawl = job->crawl;
    long length = fetch(crawl->urls[job->index], job->index);

    if (length < 0) {
        crawl->failed++;
    } else {
        crawl->fetched++;
        crawl->bytes += (size_t)length;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct crawl crawl = {.count = argc > 1 ? atoi(argv[1]) : 100};
    green_thread_t *server_thread;
    struct fetch_job *jobs;
    green_pool_t *pool;
    green_server_t *server;
    int listener, port;
    double start;

    if (crawl.count <= 0 || crawl.count > 1000000) {
        fprintf(stderr, "usage: crawler [N]\n");
        return 2;
    }
    if (green_listen(&listener, "127.0.0.1:0", 0, GREEN_LISTEN_REUSEADDR) ||
        green_local_port(listener, &port) ||
        green_server_new(&server, listener, serve_page, NULL, NULL) ||
        green_spawn(&server_thread, run_server, server))
        return 1;
    crawl.urls = calloc((size_t)crawl.count, sizeof(*crawl.urls));
    jobs = calloc((size_t)crawl.count, sizeof(*jobs));
    if (crawl.urls == NULL || jobs == NULL ||
        green_pool_new(&pool, POOL_SIZE) != 0)
        return 1;
    for (int i = 0; i < crawl.count; i++)
        snprintf(crawl.urls[i], sizeof(crawl.urls[i]),
                 "http://127.0.0.1:%d/page/%d", port, i);

    start = green_now();
    /* Spawning into a full pool waits for a free slot. */
    for (int i = 0; i < crawl.count; i++) {
        jobs[i] = (struct fetch_job){&crawl, i};
        if (green_pool_spawn_n(pool, fetch_main, &jobs[i]) != 0)
            crawl.failed++;
    }
    green_pool_waitall(pool, GREEN_FOREVER);
    printf("crawler: %d URLs, %d fetched (%zu bytes), %d failed, "
           "pool of %d, %.3f s\n",
           crawl.count, crawl.fetched, crawl.bytes, crawl.failed, POOL_SIZE,
           green_now() - start);

    green_server_stop(server);
    green_thread_wait(server_thread, NULL);
    green_thread_release(server_thread);
    green_server_destroy(server);
    green_close(listener);
    green_pool_destroy(pool, 0);
    free(jobs);
    free(crawl.urls);
    return crawl.failed == 0 && crawl.fetched == crawl.count ? 0 : 1;
}

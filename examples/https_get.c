/*
 * https_get: fetch a URL over HTTPS with green/tls.h and print the
 * response (head and body) to stdout.
 *
 *   https_get [--cafile FILE] https://HOST[:PORT][/PATH]
 *
 * The server's certificate must be signed by a CA of the system's store
 * (or of FILE) and name HOST.  Exits 1 on any failure, telling why:
 * "certificate refused: <reason>" (expired, wrong host name, unknown CA...),
 * or "truncated" when the server closed without TLS's close_notify.
 */
#include <green/io.h>
#include <green/net.h>
#include <green/tls.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct url {
    char host[256];
    int port;
    const char *path;
};

static int parse_url(const char *text, struct url *url)
{
    const char *host = text + strlen("https://"), *end;
    size_t length;

    if (strncmp(text, "https://", 8) != 0)
        return -1;
    end = host + strcspn(host, ":/");
    length = (size_t)(end - host);
    if (length == 0 || length >= sizeof(url->host))
        return -1;
    memcpy(url->host, host, length);
    url->host[length] = '\0';
    url->port = *end == ':' ? atoi(end + 1) : 443;
    url->path = strchr(end, '/') != NULL ? strchr(end, '/') : "/";
    return url->port > 0 && url->port < 65536 ? 0 : -1;
}

/* Connect, verify, send the request, copy the answer to stdout. */
static int get(green_tls_ctx_t *ctx, const struct url *url)
{
    char buffer[16384];
    green_tls_t *tls = NULL;
    size_t n = 1;
    int fd, err, length;

    err = green_connect_tcp(&fd, url->host, url->port, 30.0);
    if (err != 0)
        return fprintf(stderr, "https_get: connect: %s\n", strerror(err)), 1;
    green_set_timeout(fd, 30.0);
    err = green_tls_new(&tls, ctx, fd);
    if (err == 0)
        err = green_tls_connect(tls, url->host);
    length =
        snprintf(buffer, sizeof(buffer),
                 "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                 url->path, url->host);
    if (err == 0)
        err = green_tls_write_all(tls, buffer, (size_t)length, NULL);
    while (err == 0 && n > 0) {
        err = green_tls_read(tls, buffer, sizeof(buffer), &n);
        fwrite(buffer, 1, err == 0 ? n : 0, stdout);
    }
    if (err != 0)
        fprintf(stderr, "https_get: %s: %s\n",
                err == ECONNABORTED   ? "truncated"
                : err == EKEYREJECTED ? "certificate refused"
                                      : strerror(err),
                tls != NULL ? green_tls_error_string(tls) : "");
    green_tls_destroy(tls);
    green_close(fd);
    return err != 0;
}

int main(int argc, char **argv)
{
    int cafile = argc == 4 && strcmp(argv[1], "--cafile") == 0;
    green_tls_ctx_t *ctx;
    struct url url;
    int err;

    if ((argc != 2 && !cafile) || parse_url(argv[argc - 1], &url) != 0) {
        fprintf(
            stderr,
            "usage: https_get [--cafile FILE] https://HOST[:PORT][/PATH]\n");
        return 2;
    }
    err = green_tls_ctx_new(&ctx, GREEN_TLS_CLIENT);
    if (err == 0 && cafile && (err = green_tls_ctx_load_ca(ctx, argv[2], NULL)))
        fprintf(stderr, "https_get: %s\n", green_tls_ctx_error_string(ctx));
    if (err != 0)
        return 1;
    err = get(ctx, &url);
    green_tls_ctx_destroy(ctx);
    return err;
}

/*
 * green/tls.h against real peers, run as child processes: `openssl
 * s_server` (our client: a SHA-256-checked download, ALPN, SNI, and
 * refusing a wrong name, an expired certificate and an unknown CA),
 * `openssl s_client` (our server: echo across a KeyUpdate the client
 * asks for) and curl (our server: a SHA-256-checked download, and curl
 * refusing a certificate it cannot verify).
 * GREEN_TEST_BACKENDS
 */
#define _GNU_SOURCE /* memmem */
#include "tls_util.h"

#include <green/io.h>
#include <green/net.h>
#include <green/process.h>
#include <green/thread.h>
#include <green/tls.h>

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

/* The downloads: 16 MB, scaled down under valgrind, qemu and TSan. */
static size_t download_size(void)
{
    return test_scaled((size_t)16 << 20);
}

static int pki_setup(void **state)
{
    char path[256];
    FILE *file;
    unsigned char chunk[65536];

    tls_pki_setup(state);
    /* The file s_server -WWW serves. */
    snprintf(path, sizeof(path), "%s/big.bin", pki.dir);
    file = fopen(path, "w");
    assert_non_null(file);
    for (size_t at = 0; at < download_size(); at += sizeof(chunk)) {
        size_t n = download_size() - at < sizeof(chunk) ? download_size() - at
                                                        : sizeof(chunk);
        tls_pattern(chunk, n, at);
        assert_int_equal(fwrite(chunk, 1, n, file), n);
    }
    fclose(file);
    return 0;
}

/* ---- Child processes -------------------------------------------------- */

/* Start argv in the PKI directory, its stdout and stderr into one pipe,
 * and its stdin a pipe when `input`. */
static green_process_t *spawn(char **argv, int input)
{
    green_process_attr_t attr = {{input ? GREEN_STDIO_PIPE : GREEN_STDIO_NULL,
                                  GREEN_STDIO_PIPE, GREEN_STDIO_STDOUT},
                                 NULL,
                                 pki.dir};
    green_process_t *process;

    assert_int_equal(green_process_spawn(&process, argv, &attr), 0);
    return process;
}

/* Read the child's output until it holds `want`; 0, or -1 at its end. */
static int read_until(green_process_t *process, char *buf, size_t size,
                      size_t *have, const char *want)
{
    int fd = green_process_fd(process, 1);

    green_set_timeout(fd, 60.0);
    for (;;) {
        size_t n;

        buf[*have] = '\0';
        if (strstr(buf, want) != NULL)
            return 0;
        if (*have + 1 >= size ||
            green_read(fd, buf + *have, size - 1 - *have, &n) != 0 || n == 0)
            return -1;
        *have += n;
    }
}

/* s_server with cert and extra arguments; its port, from its "ACCEPT
 * host:port". */
static green_process_t *start_s_server(char *cert, char **extra, int *port)
{
    char *argv[32] = {"openssl", "s_server", "-accept", "127.0.0.1:0",
                      "-cert",   cert,       "-key",    pki.key};
    char output[256];
    size_t have = 0, count = 8;
    green_process_t *process;

    while (*extra != NULL)
        argv[count++] = *extra++;
    process = spawn(argv, 0);
    if (read_until(process, output, sizeof(output), &have, "ACCEPT ") != 0 ||
        read_until(process, output, sizeof(output), &have, "\n") != 0)
        fail_msg("s_server said: %s", output);
    *port = atoi(strrchr(output, ':') + 1);
    assert_true(*port > 0);
    return process;
}

static void stop(green_process_t *process)
{
    green_process_kill(process, SIGTERM);
    green_process_wait(process, 60.0, NULL);
    green_process_destroy(process);
}

/* ---- Our client, s_server's end --------------------------------------- */

/* A client trusting our CA, offering alpn, connected to port as host;
 * the handshake's result. */
static int client_try(int port, const char *host, const char *alpn,
                      green_tls_t **conn)
{
    green_tls_ctx_t *ctx;
    int fd;

    assert_int_equal(green_tls_ctx_new(&ctx, GREEN_TLS_CLIENT), 0);
    assert_int_equal(green_tls_ctx_load_ca(ctx, pki.ca, NULL), 0);
    assert_int_equal(green_tls_ctx_set_alpn(ctx, alpn), 0);
    assert_int_equal(green_connect_tcp(&fd, "127.0.0.1", port, 60.0), 0);
    green_set_timeout(fd, 60.0);
    assert_int_equal(green_tls_new(conn, ctx, fd), 0);
    green_tls_ctx_destroy(ctx);
    return green_tls_connect(*conn, host);
}

static void client_close(green_tls_t *conn)
{
    int fd = green_tls_fd(conn);

    green_tls_destroy(conn);
    green_close(fd);
}

static green_tls_t *client_connect(int port, const char *host, const char *alpn)
{
    green_tls_t *conn;
    int err = client_try(port, host, alpn, &conn);

    if (err != 0)
        fail_msg("connect as %s: %d, %s", host, err,
                 green_tls_error_string(conn));
    return conn;
}

/* Refused by our client: s_server showing cert, with this X509_V_ERR_*. */
static void expect_refused(char *cert, const char *host, long verify)
{
    char *extra[] = {"-rev", NULL};
    green_process_t *server;
    green_tls_t *conn;
    int port;

    server = start_s_server(cert, extra, &port);
    assert_int_equal(client_try(port, host, NULL, &conn), EKEYREJECTED);
    assert_int_equal(green_tls_verify_result(conn), verify);
    client_close(conn);
    stop(server);
}

static void test_s_server_refused(void **state)
{
    (void)state;
    expect_refused(pki.localhost, "wrong.test", X509_V_ERR_HOSTNAME_MISMATCH);
    expect_refused(pki.expired, "localhost", X509_V_ERR_CERT_HAS_EXPIRED);
    expect_refused(pki.untrusted, "localhost",
                   X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

static void test_s_server_download_and_alpn(void **state)
{
    char *extra[] = {"-WWW", "-alpn", "h2,http/1.1", NULL};
    static char buf[65536];
    unsigned char expected[32], digest[32];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    green_process_t *server;
    green_tls_t *conn;
    size_t n = 1, body = 0, have = 0;
    char *head_end = NULL;
    int port, err = 0;

    (void)state;
    server = start_s_server(pki.localhost, extra, &port);
    conn = client_connect(port, "localhost", "spdy/1,http/1.1");
    assert_string_equal(green_tls_alpn(conn), "http/1.1");
    assert_int_equal(
        green_tls_write_all(conn, "GET /big.bin HTTP/1.0\r\n\r\n", 25, NULL),
        0);
    /* The head, then the body to the end, hashed as it comes. */
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    while (err == 0 && n > 0 && head_end == NULL) {
        err = green_tls_read(conn, buf + have, sizeof(buf) - 1 - have, &n);
        have += err == 0 ? n : 0;
        buf[have] = '\0';
        head_end = strstr(buf, "\r\n\r\n");
    }
    assert_non_null(head_end);
    assert_int_equal(strncmp(buf, "HTTP/1.0 200", 12), 0);
    body = have - (size_t)(head_end + 4 - buf);
    EVP_DigestUpdate(md, head_end + 4, body);
    while (err == 0 && n > 0) {
        err = green_tls_read(conn, buf, sizeof(buf), &n);
        EVP_DigestUpdate(md, buf, err == 0 ? n : 0);
        body += err == 0 ? n : 0;
    }
    EVP_DigestFinal_ex(md, digest, NULL);
    EVP_MD_CTX_free(md);
    assert_int_equal(err, 0); /* s_server ends with close_notify */
    assert_int_equal(body, download_size());
    tls_pattern_sha256(download_size(), expected);
    assert_memory_equal(digest, expected, 32);
    client_close(conn);
    stop(server);
}

static void test_s_server_sni(void **state)
{
    char *extra[] = {"-servername", "other.test", "-cert2", pki.other,
                     "-key2",       pki.key,      "-rev",   NULL};
    green_process_t *server;
    int port;

    (void)state;
    server = start_s_server(pki.localhost, extra, &port);
    /* Verification succeeds only with the certificate SNI chose. */
    client_close(client_connect(port, "other.test", NULL));
    client_close(client_connect(port, "localhost", NULL));
    stop(server);
}

/* ---- Our server, for s_client and curl ------------------------------ */

enum serve_mode { SERVE_ECHO, SERVE_DOWNLOAD };

struct one_server {
    int listener, port;
    enum serve_mode mode;
    green_tls_ctx_t *ctx;
    int err;
    char alpn[32], server_name[64];
};

static void server_open(struct one_server *s, enum serve_mode mode,
                        const char *alpn)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    assert_int_equal(green_listen(&s->listener, "127.0.0.1:0", 0, 0), 0);
    assert_int_equal(green_local_port(s->listener, &s->port), 0);
    assert_int_equal(green_tls_ctx_new(&s->ctx, GREEN_TLS_SERVER), 0);
    assert_int_equal(
        green_tls_ctx_use_certificate(s->ctx, pki.localhost, pki.key), 0);
    assert_int_equal(green_tls_ctx_set_alpn(s->ctx, alpn), 0);
}

/* Echo until the peer's close_notify. */
static int serve_echo(green_tls_t *conn)
{
    char buf[4096];
    size_t n = 1;
    int err = 0;

    while (err == 0 && n > 0) {
        err = green_tls_read(conn, buf, sizeof(buf), &n);
        if (err == 0 && n > 0)
            err = green_tls_write_all(conn, buf, n, NULL);
    }
    return err;
}

/* Read a request head, answer with the pattern as the body. */
static int serve_download(green_tls_t *conn)
{
    static unsigned char chunk[1 << 20];
    char head[4096];
    size_t have = 0, n = 1;
    int err = 0, length;

    while (err == 0 && n > 0 &&
           (have < 4 || !memmem(head, have, "\r\n\r\n", 4)))
        err = green_tls_read(conn, head + have, sizeof(head) - have, &n),
        have += err == 0 ? n : 0;
    length = snprintf(head, sizeof(head),
                      "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      download_size());
    if (err == 0)
        err = green_tls_write_all(conn, head, (size_t)length, NULL);
    for (size_t at = 0; err == 0 && at < download_size(); at += sizeof(chunk)) {
        size_t part = download_size() - at < sizeof(chunk)
                          ? download_size() - at
                          : sizeof(chunk);

        tls_pattern(chunk, part, at);
        err = green_tls_write_all(conn, chunk, part, NULL);
    }
    return err;
}

/* One connection, in a green thread. */
static void *server_main(void *arg)
{
    struct one_server *s = arg;
    green_tls_t *conn = NULL;
    int fd;

    s->err = green_accept(&fd, s->listener, NULL, NULL);
    if (s->err != 0)
        return NULL;
    green_set_timeout(fd, 60.0);
    s->err = green_tls_new(&conn, s->ctx, fd);
    if (s->err == 0 && (s->err = green_tls_accept(conn)) == 0) {
        snprintf(s->alpn, sizeof(s->alpn), "%s",
                 green_tls_alpn(conn) ? green_tls_alpn(conn) : "");
        snprintf(s->server_name, sizeof(s->server_name), "%s",
                 green_tls_server_name(conn) ? green_tls_server_name(conn)
                                             : "");
        s->err =
            s->mode == SERVE_ECHO ? serve_echo(conn) : serve_download(conn);
        if (s->err == 0)
            s->err = green_tls_shutdown(conn);
    }
    if (conn != NULL)
        green_tls_destroy(conn);
    green_close(fd);
    return NULL;
}

static void server_close(struct one_server *s)
{
    green_close(s->listener);
    green_tls_ctx_destroy(s->ctx);
}

static void test_s_client_echo_with_key_update(void **state)
{
    struct one_server s;
    char connect[64], output[8192];
    char *argv[] = {"openssl",
                    "s_client",
                    "-connect",
                    connect,
                    "-CAfile",
                    pki.ca,
                    "-verify_return_error",
                    "-servername",
                    "localhost",
                    "-alpn",
                    "h2",
                    "-brief",
                    NULL};
    green_process_t *client;
    green_thread_t *server;
    size_t have = 0;
    int status, in;

    (void)state;
    server_open(&s, SERVE_ECHO, "h2,http/1.1");
    snprintf(connect, sizeof(connect), "127.0.0.1:%d", s.port);
    assert_int_equal(green_spawn(&server, server_main, &s), 0);
    client = spawn(argv, 1);
    in = green_process_fd(client, 0);
    assert_int_equal(
        read_until(client, output, sizeof(output), &have, "Verification: OK"),
        0);
    assert_int_equal(green_write(in, "hello\n", 6, NULL), 0);
    assert_int_equal(
        read_until(client, output, sizeof(output), &have, "hello\n"), 0);
    /* "K": s_client sends a KeyUpdate asking for ours. */
    assert_int_equal(green_write(in, "K\n", 2, NULL), 0);
    assert_int_equal(
        read_until(client, output, sizeof(output), &have, "KEYUPDATE"), 0);
    assert_int_equal(green_write(in, "after the update\n", 17, NULL), 0);
    assert_int_equal(
        read_until(client, output, sizeof(output), &have, "after the update\n"),
        0);
    /* End of input: s_client closes with close_notify. */
    assert_int_equal(green_process_close_fd(client, 0), 0);
    assert_int_equal(green_thread_wait(server, NULL), 0);
    green_thread_release(server);
    assert_int_equal(s.err, 0);
    assert_string_equal(s.alpn, "h2");
    assert_string_equal(s.server_name, "localhost");
    assert_int_equal(green_process_wait(client, 60.0, &status), 0);
    assert_true(WIFEXITED(status));
    green_process_destroy(client);
    server_close(&s);
}

/* SHA-256 of a file. */
static void file_sha256(const char *path, size_t *size, unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char chunk[65536];
    FILE *file = fopen(path, "r");
    size_t n;

    assert_non_null(file);
    *size = 0;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    while ((n = fread(chunk, 1, sizeof(chunk), file)) > 0) {
        EVP_DigestUpdate(md, chunk, n);
        *size += n;
    }
    EVP_DigestFinal_ex(md, out, NULL);
    EVP_MD_CTX_free(md);
    fclose(file);
}

static void test_curl_download(void **state)
{
    struct one_server s;
    char url[64], path[256];
    char *argv[] = {"curl", "-sS", "--cacert", pki.ca, "-o", path, url, NULL};
    green_process_output_t output;
    unsigned char expected[32], digest[32];
    green_process_t *client;
    green_thread_t *server;
    size_t size;

    (void)state;
    server_open(&s, SERVE_DOWNLOAD, "http/1.1");
    snprintf(url, sizeof(url), "https://localhost:%d/big", s.port);
    snprintf(path, sizeof(path), "%s/curl.out", pki.dir);
    assert_int_equal(green_spawn(&server, server_main, &s), 0);
    client = spawn(argv, 0);
    assert_int_equal(green_process_communicate(client, NULL, 0, &output, 120.0),
                     0);
    if (output.status != 0)
        fail_msg("curl: %s", output.out);
    free(output.out);
    green_process_destroy(client);
    assert_int_equal(green_thread_wait(server, NULL), 0);
    green_thread_release(server);
    assert_int_equal(s.err, 0);
    assert_string_equal(s.alpn, "http/1.1");
    file_sha256(path, &size, digest);
    unlink(path);
    assert_int_equal(size, download_size());
    tls_pattern_sha256(download_size(), expected);
    assert_memory_equal(digest, expected, 32);

    /* Without our CA, curl refuses us (its exit code 60), which our
     * server sees as the peer's alert. */
    argv[2] = "-o";
    argv[3] = path;
    argv[4] = url;
    argv[5] = NULL;
    assert_int_equal(green_spawn(&server, server_main, &s), 0);
    client = spawn(argv, 0);
    assert_int_equal(green_process_communicate(client, NULL, 0, &output, 120.0),
                     0);
    free(output.out);
    assert_true(WIFEXITED(output.status));
    assert_int_equal(WEXITSTATUS(output.status), 60);
    green_process_destroy(client);
    assert_int_equal(green_thread_wait(server, NULL), 0);
    green_thread_release(server);
    assert_int_equal(s.err, EPROTO);
    server_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s_server_download_and_alpn),
        cmocka_unit_test(test_s_server_sni),
        cmocka_unit_test(test_s_server_refused),
        cmocka_unit_test(test_s_client_echo_with_key_update),
        cmocka_unit_test(test_curl_download),
    };

    /* A peer that exits while we write must not end the test. */
    signal(SIGPIPE, SIG_IGN);
    test_filter_from_env();
    return cmocka_run_group_tests(tests, pki_setup, tls_pki_teardown);
}

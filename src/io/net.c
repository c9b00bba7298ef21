/*
 * Network conveniences over green I/O: listeners from an address string,
 * TCP clients by host name, and eventlet's serve().
 */
#include <green/dns.h>
#include <green/io.h>
#include <green/net.h>
#include <green/pool.h>
#include <green/thread.h>
#include <green/timeout.h>

#include "greenlet/sys.h"
#include "hub/task_scope.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- Listeners ------------------------------------------------------- */

#define UNIX_PREFIX "unix:"

/* Parse a numeric "host:port", "[v6]:port" or "unix:/path" address. */
static int parse_address(const char *address, struct sockaddr_storage *out,
                         socklen_t *length)
{
    const char *colon, *host_end, *host = address;
    char host_text[INET6_ADDRSTRLEN];
    char *end;
    unsigned long port;
    size_t host_length;

    memset(out, 0, sizeof(*out));
    if (strncmp(address, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)out;
        const char *path = address + strlen(UNIX_PREFIX);

        if (*path == '\0' || strlen(path) >= sizeof(un->sun_path))
            return EINVAL;
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, path);
        *length = sizeof(*un);
        return 0;
    }
    colon = strrchr(address, ':');
    if (colon == NULL)
        return EINVAL;
    host_end = colon;
    if (*address == '[') {
        host = address + 1;
        if (colon == address || colon[-1] != ']')
            return EINVAL;
        host_end = colon - 1;
    }
    host_length = (size_t)(host_end - host);
    if (host_length >= sizeof(host_text))
        return EINVAL;
    memcpy(host_text, host, host_length);
    host_text[host_length] = '\0';
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port > 65535 || errno != 0)
        return EINVAL;

    if (*address == '[') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;

        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host_text, &in6->sin6_addr) != 1)
            return EINVAL;
        *length = sizeof(*in6);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)out;

        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        if (host_length == 0)
            in->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (inet_pton(AF_INET, host_text, &in->sin_addr) != 1)
            return EINVAL;
        *length = sizeof(*in);
    }
    return 0;
}

static int set_option(int fd, int level, int name)
{
    int on = 1;
    return sys_libc()->setsockopt(fd, level, name, &on, sizeof(on)) < 0 ? errno
                                                                        : 0;
}

int green_listen(int *out_fd, const char *address, int backlog, int flags)
{
    struct sockaddr_storage addr;
    socklen_t length;
    int fd = -1;
    int err;

    if (out_fd == NULL || address == NULL)
        return EINVAL;
    err = parse_address(address, &addr, &length);
    if (err == 0 && addr.ss_family == AF_UNIX) {
        /* A stale socket file from an earlier run would make bind fail;
         * anything that is not a socket is left alone. */
        const char *path = ((struct sockaddr_un *)&addr)->sun_path;
        struct stat st;

        if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(path);
    }
    if (err == 0)
        err = green_socket(&fd, addr.ss_family, SOCK_STREAM, 0);
    if (err == 0 && addr.ss_family == AF_INET6)
        err = set_option(fd, IPPROTO_IPV6, IPV6_V6ONLY);
    if (err == 0 && (flags & GREEN_LISTEN_REUSEADDR) &&
        addr.ss_family != AF_UNIX)
        err = set_option(fd, SOL_SOCKET, SO_REUSEADDR);
    if (err == 0 && (flags & GREEN_LISTEN_REUSEPORT) &&
        addr.ss_family != AF_UNIX)
        err = set_option(fd, SOL_SOCKET, SO_REUSEPORT);
    if (err == 0 && bind(fd, (struct sockaddr *)&addr, length) < 0)
        err = errno;
    if (err == 0 && listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0)
        err = errno;
    if (err != 0) {
        if (fd >= 0)
            green_close(fd);
        return err;
    }
    *out_fd = fd;
    return 0;
}

int green_local_port(int fd, int *out_port)
{
    struct sockaddr_storage addr;
    socklen_t length = sizeof(addr);

    if (out_port == NULL)
        return EINVAL;
    if (getsockname(fd, (struct sockaddr *)&addr, &length) < 0)
        return errno;
    if (addr.ss_family == AF_INET)
        *out_port = ntohs(((struct sockaddr_in *)&addr)->sin_port);
    else if (addr.ss_family == AF_INET6)
        *out_port = ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    else
        return EAFNOSUPPORT;
    return 0;
}

/* ---- TCP clients ----------------------------------------------------- */

/* Try each resolved address in turn; the first error of the last attempt
 * is reported if none connects. */
static int connect_first(int *out_fd, const struct addrinfo *list)
{
    int err = ENOENT;

    for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        int fd;

        err =
            green_socket(&fd, ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (err != 0)
            continue;
        err = green_connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (err == 0) {
            *out_fd = fd;
            return 0;
        }
        green_close(fd);
        if (err == ETIMEDOUT || err == ECANCELED)
            break; /* the caller's time is up: no point trying more */
    }
    return err;
}

int green_connect_tcp(int *out_fd, const char *host, int port, double timeout)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *list = NULL;
    green_timeout_t scope;
    char service[8];
    int err;

    if (out_fd == NULL || host == NULL || port < 0 || port > 65535)
        return EINVAL;
    snprintf(service, sizeof(service), "%d", port);
    /* One scope bounds resolution and all connection attempts. */
    if (timeout >= 0) {
        err = green_timeout_start(&scope, timeout);
        if (err != 0)
            return err;
    }
    err = green_getaddrinfo(host, service, &hints, &list, GREEN_FOREVER, NULL);
    if (err == 0)
        err = connect_first(out_fd, list);
    if (list != NULL)
        freeaddrinfo(list);
    if (timeout >= 0)
        green_timeout_cancel(&scope);
    return err;
}

/* ---- serve() --------------------------------------------------------- */

struct green_server {
    int listen_fd;
    green_serve_fn handler;
    void *arg;
    green_pool_t *pool; /* NULL: no limit */
    size_t active;
    int stopping;
    int in_accept;           /* serve is in green_accept */
    int released;            /* green_server_destroy was called */
    green_waiter_t *waiting; /* serve parked for the drain */
};

struct server_connection {
    green_server_t *server;
    int fd;
    socklen_t peer_len;
    struct sockaddr_storage peer; /* from accept */
};

/* The pause after an accept or spawn failure that may go away (no fds,
 * no memory), so a full process does not spin. */
#define SERVE_RETRY_PAUSE 0.1

int green_server_new(green_server_t **out, int listen_fd,
                     green_serve_fn handler, void *arg, green_pool_t *pool)
{
    green_server_t *server;

    if (out == NULL || handler == NULL || listen_fd < 0)
        return EINVAL;
    server = calloc(1, sizeof(*server));
    if (server == NULL)
        return ENOMEM;
    server->listen_fd = listen_fd;
    server->handler = handler;
    server->arg = arg;
    server->pool = pool;
    *out = server;
    return 0;
}

static void *server_connection_main(void *arg)
{
    struct server_connection *connection = arg;
    green_server_t *server = connection->server;

    server->handler(connection->fd, server->arg);
    green_close(connection->fd);
    free(connection);
    server->active--;
    if (server->waiting != NULL)
        green_unpark(server->waiting, 0, NULL);
    if (server->released && server->active == 0)
        free(server);
    return NULL;
}

int green_server_peer(struct sockaddr *addr, socklen_t *addrlen)
{
    const struct server_connection *connection =
        thread_self_arg(server_connection_main);

    if (addr == NULL || addrlen == NULL)
        return EINVAL;
    if (connection == NULL)
        return EPERM;
    memcpy(addr, &connection->peer,
           *addrlen < connection->peer_len ? *addrlen : connection->peer_len);
    *addrlen = connection->peer_len;
    return 0;
}

/* Park serve until a handler ends. */
static int server_park(green_server_t *server)
{
    green_waiter_t waiter;
    int err;

    green_waiter_init(&waiter);
    server->waiting = &waiter;
    err = green_park(&waiter, GREEN_FOREVER, NULL);
    server->waiting = NULL;
    return err;
}

static int accept_failure_is_transient(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM ||
           err == EAGAIN || err == ECONNABORTED || err == EPERM;
}

static int server_accept_one(green_server_t *server)
{
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof(peer);
    struct server_connection *connection;
    int fd, err;

    server->in_accept = 1;
    err = green_accept(&fd, server->listen_fd, (struct sockaddr *)&peer,
                       &peer_len);
    server->in_accept = 0;
    if (err != 0)
        return err;
    connection = malloc(sizeof(*connection));
    if (connection == NULL) {
        green_close(fd);
        return ENOMEM;
    }
    connection->server = server;
    connection->fd = fd;
    connection->peer = peer;
    connection->peer_len = peer_len;
    /* Counted first: a pool may run the handler before spawn returns. */
    server->active++;
    /* Into a full pool this waits for a slot: accepting pauses. */
    err = server->pool != NULL
              ? green_pool_spawn_n(server->pool, server_connection_main,
                                   connection)
              : green_spawn_n(server_connection_main, connection);
    if (err != 0) {
        server->active--;
        free(connection);
        green_close(fd);
    }
    return err;
}

int green_server_serve(green_server_t *server)
{
    int err = 0;

    if (server == NULL)
        return EINVAL;
    while (!server->stopping) {
        err = server_accept_one(server);
        if (err != 0 && !server->stopping && accept_failure_is_transient(err))
            err = green_sleep(SERVE_RETRY_PAUSE);
        if (err != 0 && !server->stopping)
            return err;
    }
    while (server->active > 0) {
        err = server_park(server);
        if (err != 0)
            return err;
    }
    return 0;
}

void green_server_stop(green_server_t *server)
{
    if (server == NULL)
        return;
    server->stopping = 1;
    /* Wake serve in accept (the listener stays open; the hub only forgets
     * its registration).  Waiting for a pool slot, it stops once one
     * frees. */
    if (server->in_accept)
        green_notify_close(server->listen_fd);
}

size_t green_server_active(const green_server_t *server)
{
    return server != NULL ? server->active : 0;
}

void green_server_destroy(green_server_t *server)
{
    if (server == NULL)
        return;
    server->released = 1;
    if (server->active == 0)
        free(server);
}

int green_serve(int listen_fd, green_serve_fn handler, void *arg,
                green_pool_t *pool)
{
    green_server_t *server;
    int err = green_server_new(&server, listen_fd, handler, arg, pool);

    if (err != 0)
        return err;
    err = green_server_serve(server);
    green_server_destroy(server);
    return err;
}

/*
 * libgreen_patch: I/O, waiting and descriptor hooks on sockets and pipes.
 * GREEN_TEST_BACKENDS
 */
#define _GNU_SOURCE /* ppoll */
#include "patch_helpers.h"

#include <green/io.h>
#include <green/timeout.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/syscall.h>

/* What a green thread saw from one hooked call. */
struct outcome {
    int fd;
    ssize_t result;
    int error;
    char byte;
    double seconds;
};

static void make_pair(int fds[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
}

static void close_pair(int fds[2])
{
    close(fds[0]);
    close(fds[1]);
}

/* The kernel's O_NONBLOCK, bypassing the fcntl hook. */
static int kernel_flags(int fd)
{
    return (int)syscall(SYS_fcntl, fd, F_GETFL);
}

static void *read_one(void *arg)
{
    struct outcome *out = arg;
    double start = patch_seconds();

    out->byte = 0;
    out->result = read(out->fd, &out->byte, 1);
    out->error = out->result < 0 ? errno : 0;
    out->seconds = patch_seconds() - start;
    return NULL;
}

struct delayed_write {
    int fd;
    double delay;
    char byte;
};

/* The ticker of the run_beside() under way, if it has one. */
static struct ticker *beside_ticker;

/* Until that ticker has ticked more than 5 times (30 s at most): a peer
 * that calls this before waking the subject makes "ticks > 5" a count of
 * hub passes while the subject was parked, however slow the machine. */
static void await_ticks(void)
{
    double give_up = patch_seconds() + 30;

    while (beside_ticker != NULL && beside_ticker->ticks <= 5 &&
           patch_seconds() < give_up)
        green_sleep(0.001);
}

static void *write_later(void *arg)
{
    struct delayed_write *w = arg;

    green_sleep(w->delay);
    await_ticks();
    if (write(w->fd, &w->byte, 1) != 1)
        return (void *)1;
    return NULL;
}

/* Runs fn(arg) in a green thread until it returns, beside an optional peer
 * green thread peer_fn(peer_arg) (typically the writer that wakes fn) and
 * an optional ticker.  The ticker stops as soon as fn returns, so that its
 * count covers only the time fn spent waiting.  Returns the peer's result
 * (NULL without a peer). */
static void *run_beside(green_thread_fn fn, void *arg, green_thread_fn peer_fn,
                        void *peer_arg, struct ticker *ticker)
{
    green_thread_t *subject, *peer = NULL, *tick = NULL;
    void *peer_result = NULL;

    beside_ticker = ticker;
    subject = patch_spawn(fn, arg);
    if (peer_fn)
        peer = patch_spawn(peer_fn, peer_arg);
    if (ticker)
        tick = patch_spawn(ticker_run, ticker);
    patch_join(subject);
    if (ticker)
        ticker->stop = 1;
    if (peer)
        peer_result = patch_join(peer);
    if (tick)
        patch_join(tick);
    beside_ticker = NULL;
    return peer_result;
}

/* ---- pass-through outside green threads -------------------------------- */

static void *os_thread_write_later(void *arg)
{
    struct delayed_write *w = arg;

    usleep((useconds_t)(w->delay * 1e6));
    if (write(w->fd, &w->byte, 1) != 1)
        return (void *)1;
    return NULL;
}

static void test_main_greenlet_blocks_as_libc(void **state)
{
    struct delayed_write w = {.delay = 0.1, .byte = 'm'};
    pthread_t writer;
    int fds[2];
    char byte = 0;

    (void)state;
    make_pair(fds);
    w.fd = fds[1];
    assert_int_equal(pthread_create(&writer, NULL, os_thread_write_later, &w),
                     0);
    /* Plain main() code: a real blocking read, and the fd is untouched. */
    assert_int_equal(read(fds[0], &byte, 1), 1);
    assert_int_equal(byte, 'm');
    assert_int_equal(kernel_flags(fds[0]) & O_NONBLOCK, 0);
    assert_int_equal(pthread_join(writer, NULL), 0);
    close_pair(fds);
}

/* ---- parking only the caller ------------------------------------------- */

static void test_read_parks_only_the_green_thread(void **state)
{
    struct outcome out = {0};
    struct delayed_write w = {.delay = 0.1, .byte = 'x'};
    struct ticker ticker = {0};
    int fds[2];

    (void)state;
    make_pair(fds);
    out.fd = fds[0];
    w.fd = fds[1];
    assert_null(run_beside(read_one, &out, write_later, &w, &ticker));

    assert_int_equal(out.result, 1);
    assert_int_equal(out.byte, 'x');
    assert_true(ticker.ticks > 5);
    /* Driven nonblocking underneath, blocking in the user's view. */
    assert_int_not_equal(kernel_flags(fds[0]) & O_NONBLOCK, 0);
    assert_int_equal(fcntl(fds[0], F_GETFL) & O_NONBLOCK, 0);
    close_pair(fds);
}

/* ---- the user's nonblocking choices ------------------------------------ */

struct nonblock_case {
    int fd;
    int via_fcntl_error, via_ioctl_error, dontwait_error;
    int flags_after_fcntl;
};

static void *try_nonblocking_reads(void *arg)
{
    struct nonblock_case *c = arg;
    int on = 1, off = 0;
    char byte;

    /* MSG_DONTWAIT on a blocking socket: EAGAIN, no parking. */
    c->dontwait_error = recv(c->fd, &byte, 1, MSG_DONTWAIT) < 0 ? errno : 0;
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->flags_after_fcntl = fcntl(c->fd, F_GETFL);
    c->via_fcntl_error = read(c->fd, &byte, 1) < 0 ? errno : 0;
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
    ioctl(c->fd, FIONBIO, &on);
    c->via_ioctl_error = recv(c->fd, &byte, 1, 0) < 0 ? errno : 0;
    ioctl(c->fd, FIONBIO, &off);
    return NULL;
}

static void test_user_nonblocking_gets_eagain(void **state)
{
    struct nonblock_case c = {0};
    int fds[2];

    (void)state;
    make_pair(fds);
    c.fd = fds[0];
    patch_join(patch_spawn(try_nonblocking_reads, &c));
    assert_int_equal(c.dontwait_error, EAGAIN);
    assert_int_equal(c.via_fcntl_error, EAGAIN);
    assert_int_equal(c.via_ioctl_error, EAGAIN);
    assert_int_not_equal(c.flags_after_fcntl & O_NONBLOCK, 0);
    /* Back to blocking in the user's view. */
    assert_int_equal(fcntl(fds[0], F_GETFL) & O_NONBLOCK, 0);
    close_pair(fds);
}

/* ---- SO_RCVTIMEO --------------------------------------------------------- */

static void test_rcvtimeo_expires_with_eagain(void **state)
{
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    struct outcome out = {0};
    struct ticker ticker = {0};
    int fds[2];

    (void)state;
    make_pair(fds);
    assert_int_equal(
        setsockopt(fds[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    out.fd = fds[0];
    run_beside(read_one, &out, NULL, NULL, &ticker);
    assert_int_equal(out.result, -1);
    assert_int_equal(out.error, EAGAIN);
    /* No data comes: without the timeout the read would never end. */
    assert_true(out.seconds > 0.15 && out.seconds < 20.0);
    assert_true(ticker.ticks > 5);
    close_pair(fds);
}

/* ---- descriptors made before patching was on --------------------------- */

static void test_fd_created_before_enable(void **state)
{
    struct outcome out = {0};
    struct delayed_write w = {.delay = 0.2, .byte = 'e'};
    struct ticker ticker = {0};
    int fds[2];

    (void)state;
    green_patch_disable();
    assert_int_equal(green_patch_enabled(), 0);
    assert_int_equal(pipe(fds), 0);
    green_patch_enable();
    assert_int_equal(green_patch_enabled(), 1);
    out.fd = fds[0];
    w.fd = fds[1];
    run_beside(read_one, &out, write_later, &w, &ticker);
    assert_int_equal(out.result, 1);
    assert_int_equal(out.byte, 'e');
    assert_true(ticker.ticks > 2);
    close_pair(fds);
}

/* ---- a number reused behind the hooks' back ------------------------------ */

struct reuse_case {
    int fd;
    ssize_t result;
    int error, flags;
};

static void *read_reused(void *arg)
{
    struct reuse_case *c = arg;
    char byte;

    c->result = read(c->fd, &byte, 1);
    c->error = errno;
    c->flags = fcntl(c->fd, F_GETFL);
    return NULL;
}

static void test_fd_reused_behind_the_hooks(void **state)
{
    struct outcome out = {0};
    struct delayed_write w = {.delay = 0.02, .byte = 'z'};
    struct reuse_case c = {0};
    int fds[2], other[2];

    (void)state;
    make_pair(fds);
    out.fd = fds[0];
    w.fd = fds[1];
    run_beside(read_one, &out, write_later, &w, NULL);
    /* fds[0] is driven now.  Close it and make a new nonblocking socket
     * with the same number, both without the hooks (as fclose or
     * libc-internal code would). */
    assert_int_equal(syscall(SYS_close, fds[0]), 0);
    assert_int_equal(
        syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, other),
        0);
    assert_int_equal(other[0], fds[0]);
    c.fd = other[0];
    patch_join(patch_spawn(read_reused, &c));
    /* The user's nonblocking socket: EAGAIN, and its own flags. */
    assert_int_equal(c.result, -1);
    assert_int_equal(c.error, EAGAIN);
    assert_int_not_equal(c.flags & O_NONBLOCK, 0);
    close(fds[1]);
    close_pair(other);
}

/* ---- disabled: a plain pass-through that blocks the OS thread ----------- */

static void *poll_nothing(void *arg)
{
    struct outcome *out = arg;
    struct pollfd pfd = {.fd = out->fd, .events = POLLIN};

    out->result = poll(&pfd, 1, 100);
    return NULL;
}

static void test_disabled_is_pass_through(void **state)
{
    struct outcome out = {0};
    struct ticker ticker = {0};
    green_thread_t *poller, *tick;
    int fds[2];

    (void)state;
    make_pair(fds);
    out.fd = fds[0];
    green_patch_disable();
    /* Ticker first, unlike run_beside(): it is already ticking when the
     * poll starts, so a poll that parked would show as many ticks. */
    tick = patch_spawn(ticker_run, &ticker);
    poller = patch_spawn(poll_nothing, &out);
    patch_join(poller);
    ticker.stop = 1;
    patch_join(tick);
    green_patch_enable();
    assert_int_equal(out.result, 0);
    /* The 100 ms poll held the OS thread: the ticker barely ran (it ticks
     * every millisecond when the poll parks). */
    assert_true(ticker.ticks <= 5);
    close_pair(fds);
}

/* ---- an fd shared with a plain OS thread -------------------------------- */

static void *os_thread_read(void *arg)
{
    struct outcome *out = arg;

    out->result = read(out->fd, &out->byte, 1);
    out->error = out->result < 0 ? errno : 0;
    return NULL;
}

static void test_fd_shared_with_os_thread(void **state)
{
    struct outcome green_side = {0}, os_side = {0};
    struct delayed_write w = {.delay = 0.02, .byte = 'g'};
    pthread_t os_reader;
    char byte = 'o';
    int fds[2];

    (void)state;
    make_pair(fds);
    green_side.fd = os_side.fd = fds[0];
    w.fd = fds[1];
    run_beside(read_one, &green_side, write_later, &w, NULL);
    assert_int_equal(green_side.byte, 'g');
    assert_int_not_equal(kernel_flags(fds[0]) & O_NONBLOCK, 0);

    /* Now a plain OS thread reads the driven fd: it must block, not see
     * EAGAIN, until the main thread writes. */
    assert_int_equal(pthread_create(&os_reader, NULL, os_thread_read, &os_side),
                     0);
    usleep(100000);
    assert_int_equal(write(fds[1], &byte, 1), 1);
    assert_int_equal(pthread_join(os_reader, NULL), 0);
    assert_int_equal(os_side.result, 1);
    assert_int_equal(os_side.byte, 'o');
    close_pair(fds);
}

/* ---- close while another green thread reads ----------------------------- */

static void *close_later(void *arg)
{
    int fd = *(int *)arg;

    green_sleep(0.05);
    close(fd);
    return NULL;
}

static void test_close_while_reading_gives_ebadf(void **state)
{
    struct outcome first = {0}, second = {0};
    green_thread_t *readers[2], *closer;
    int fds[2];

    (void)state;
    make_pair(fds);
    first.fd = second.fd = fds[0];
    /* The second reader of the same fd waits on a private set: the close
     * must reach it too. */
    readers[0] = patch_spawn(read_one, &first);
    readers[1] = patch_spawn(read_one, &second);
    closer = patch_spawn(close_later, &fds[0]);
    patch_join(readers[0]);
    patch_join(readers[1]);
    patch_join(closer);
    assert_int_equal(first.result, -1);
    assert_int_equal(first.error, EBADF);
    assert_int_equal(second.result, -1);
    assert_int_equal(second.error, EBADF);
    close(fds[1]);
}

/* ---- kill and timeout scopes --------------------------------------------- */

static void test_killed_reader_gets_ecanceled(void **state)
{
    struct outcome out = {.result = 99};
    green_thread_t *reader;
    int fds[2];

    (void)state;
    make_pair(fds);
    out.fd = fds[0];
    reader = patch_spawn(read_one, &out);
    green_sleep(0.02);
    assert_int_equal(green_thread_kill(reader), 0);
    green_thread_release(reader);
    assert_int_equal(out.result, -1);
    assert_int_equal(out.error, ECANCELED);
    close_pair(fds);
}

static void *read_with_scope(void *arg)
{
    struct outcome *out = arg;
    green_timeout_t scope;

    green_timeout_start(&scope, 0.05);
    read_one(out);
    green_timeout_cancel(&scope);
    return NULL;
}

static void test_timeout_scope_gives_etimedout(void **state)
{
    struct outcome out = {0};
    int fds[2];

    (void)state;
    make_pair(fds);
    out.fd = fds[0];
    patch_join(patch_spawn(read_with_scope, &out));
    assert_int_equal(out.result, -1);
    assert_int_equal(out.error, ETIMEDOUT);
    close_pair(fds);
}

/* ---- large writes to a pipe ---------------------------------------------- */

#define PIPE_BYTES (1 << 20)

struct pipe_transfer {
    int fd;
    size_t done;
    int error;
};

static void *write_all(void *arg)
{
    struct pipe_transfer *t = arg;
    static char chunk[PIPE_BYTES];

    memset(chunk, 'p', sizeof(chunk));
    /* One blocking write of 1 MiB: libc writes it all (pipe 64 KiB). */
    ssize_t n = write(t->fd, chunk, sizeof(chunk));
    t->done = n > 0 ? (size_t)n : 0;
    t->error = n < 0 ? errno : 0;
    return NULL;
}

static void *read_all(void *arg)
{
    struct pipe_transfer *t = arg;
    char buf[8192];
    ssize_t n;

    while (t->done < PIPE_BYTES && (n = read(t->fd, buf, sizeof(buf))) > 0)
        t->done += (size_t)n;
    return NULL;
}

static void test_large_pipe_write(void **state)
{
    struct pipe_transfer in = {0}, out = {0};
    int fds[2];

    (void)state;
    assert_int_equal(pipe(fds), 0);
    out.fd = fds[1];
    in.fd = fds[0];
    run_beside(write_all, &out, read_all, &in, NULL);
    assert_int_equal(out.error, 0);
    assert_int_equal(out.done, PIPE_BYTES);
    assert_int_equal(in.done, PIPE_BYTES);
    close_pair(fds);
}

/* ---- MSG_WAITALL ----------------------------------------------------------
 */

struct waitall_case {
    int fd;
    ssize_t result;
    char buf[4];
};

static void *recv_waitall(void *arg)
{
    struct waitall_case *c = arg;

    c->result = recv(c->fd, c->buf, sizeof(c->buf), MSG_WAITALL);
    return NULL;
}

static void *send_in_two_parts(void *arg)
{
    int fd = *(int *)arg;

    if (send(fd, "ab", 2, 0) != 2)
        return arg;
    green_sleep(0.05);
    if (send(fd, "cd", 2, 0) != 2)
        return arg;
    return NULL;
}

static void test_recv_waitall_waits_for_everything(void **state)
{
    struct waitall_case c = {0};
    int fds[2];

    (void)state;
    make_pair(fds);
    c.fd = fds[0];
    assert_null(run_beside(recv_waitall, &c, send_in_two_parts, &fds[1], NULL));
    assert_int_equal(c.result, 4);
    assert_memory_equal(c.buf, "abcd", 4);
    close_pair(fds);
}

/* ---- accept and connect -------------------------------------------------- */

struct tcp_case {
    int listen_fd, port;
    int accepted_fd, accept_flags;
    int connect_result, refused_error;
    char byte;
};

static void *accept_one(void *arg)
{
    struct tcp_case *c = arg;
    char byte = 'a';

    c->accepted_fd = accept(c->listen_fd, NULL, NULL);
    if (c->accepted_fd >= 0) {
        c->accept_flags = fcntl(c->accepted_fd, F_GETFL);
        if (write(c->accepted_fd, &byte, 1) != 1)
            c->accept_flags = -1;
    }
    return NULL;
}

static void *connect_one(void *arg)
{
    struct tcp_case *c = arg;
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)c->port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->connect_result = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
    if (c->connect_result == 0 && read(fd, &c->byte, 1) != 1)
        c->byte = 0;
    close(fd);
    return NULL;
}

static void *connect_refused(void *arg)
{
    struct tcp_case *c = arg;
    struct sockaddr_in addr = {.sin_family = AF_INET};
    int port = patch_free_port();
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->refused_error =
        connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ? errno : 0;
    close(fd);
    return NULL;
}

static void test_accept_and_connect(void **state)
{
    struct tcp_case c = {.accepted_fd = -1};
    green_thread_t *server, *client, *refused;

    (void)state;
    c.listen_fd = patch_listen(&c.port);
    server = patch_spawn(accept_one, &c);
    client = patch_spawn(connect_one, &c);
    refused = patch_spawn(connect_refused, &c);
    patch_join(server);
    patch_join(client);
    patch_join(refused);
    assert_true(c.accepted_fd >= 0);
    assert_int_equal(c.accept_flags & O_NONBLOCK, 0);
    assert_int_equal(c.connect_result, 0);
    assert_int_equal(c.byte, 'a');
    assert_int_equal(c.refused_error, ECONNREFUSED);
    close(c.accepted_fd);
    close(c.listen_fd);
}

/* Two green threads accepting on one listener wait for the same event on
 * the same fd, which the hub allows only once: the second waits on a
 * private set. */
static void test_two_acceptors_share_a_listener(void **state)
{
    struct tcp_case servers[2] = {{.accepted_fd = -1}, {.accepted_fd = -1}};
    struct tcp_case clients[2];
    green_thread_t *threads[4];
    int listen_fd, port;

    (void)state;
    listen_fd = patch_listen(&port);
    for (int i = 0; i < 2; i++) {
        servers[i].listen_fd = listen_fd;
        clients[i] = (struct tcp_case){.port = port};
        threads[i] = patch_spawn(accept_one, &servers[i]);
    }
    green_sleep(0.02); /* both acceptors parked */
    for (int i = 0; i < 2; i++)
        threads[2 + i] = patch_spawn(connect_one, &clients[i]);
    for (int i = 0; i < 4; i++)
        patch_join(threads[i]);
    for (int i = 0; i < 2; i++) {
        assert_true(servers[i].accepted_fd >= 0);
        assert_int_equal(clients[i].connect_result, 0);
        assert_int_equal(clients[i].byte, 'a');
        close(servers[i].accepted_fd);
    }
    close(listen_fd);
}

/* ---- datagrams ----------------------------------------------------------- */

struct udp_case {
    int fd, port;
    ssize_t received;
    char text[16];
    int from_loopback;
};

static void *udp_receive(void *arg)
{
    struct udp_case *c = arg;
    struct sockaddr_in from;
    socklen_t len = sizeof(from);

    c->received = recvfrom(c->fd, c->text, sizeof(c->text) - 1, 0,
                           (struct sockaddr *)&from, &len);
    c->from_loopback = from.sin_addr.s_addr == htonl(INADDR_LOOPBACK);
    return NULL;
}

static void *udp_send_later(void *arg)
{
    struct udp_case *c = arg;
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)c->port)};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    green_sleep(0.03);
    await_ticks();
    if (sendto(fd, "datagram", 8, 0, (struct sockaddr *)&to, sizeof(to)) != 8)
        c->port = -1;
    close(fd);
    return NULL;
}

static void test_udp_recvfrom_parks(void **state)
{
    struct udp_case c = {0};
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);
    struct ticker ticker = {0};

    (void)state;
    c.fd = socket(AF_INET, SOCK_DGRAM, 0);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(c.fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(c.fd, (struct sockaddr *)&addr, &len), 0);
    c.port = ntohs(addr.sin_port);
    run_beside(udp_receive, &c, udp_send_later, &c, &ticker);
    assert_int_equal(c.received, 8);
    assert_string_equal(c.text, "datagram");
    assert_true(c.from_loopback);
    assert_true(ticker.ticks > 5);
    close(c.fd);
}

/* A plain OS thread connecting a socket that a green thread made
 * nonblocking underneath still gets a blocking connect. */
static void *os_thread_connect(void *arg)
{
    struct tcp_case *c = arg;
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)c->port)};

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->connect_result =
        connect(c->accepted_fd, (struct sockaddr *)&addr, sizeof(addr));
    return NULL;
}

static void *probe_fd(void *arg)
{
    char byte;

    /* Any hooked read classifies the fd: a driven socket from now on. */
    if (recv(*(int *)arg, &byte, 1, 0) != -1 || errno != ENOTCONN)
        return arg;
    return NULL;
}

static void test_os_thread_connect_on_driven_socket(void **state)
{
    struct tcp_case c = {.connect_result = -2};
    pthread_t thread;
    int listen_fd, client;

    (void)state;
    listen_fd = patch_listen(&c.port);
    c.accepted_fd = socket(AF_INET, SOCK_STREAM, 0);
    /* Unconnected stream socket: recv fails (ENOTCONN) without parking,
     * but the fd is classified and driven. */
    assert_null(patch_join(patch_spawn(probe_fd, &c.accepted_fd)));
    assert_int_not_equal(kernel_flags(c.accepted_fd) & O_NONBLOCK, 0);
    assert_int_equal(pthread_create(&thread, NULL, os_thread_connect, &c), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(c.connect_result, 0);
    client = accept(listen_fd, NULL, NULL);
    assert_true(client >= 0);
    close(client);
    close(c.accepted_fd);
    close(listen_fd);
}

/* ---- poll, select, epoll_wait -------------------------------------------- */

struct wait_case {
    int fds[2];
    int other_fd;
    int result, error;
    short revents[4];
    int in_read_set;
};

static void *poll_mixed(void *arg)
{
    struct wait_case *c = arg;
    /* A socket nobody registered anywhere, an ignored entry and the fd
     * that becomes readable. */
    struct pollfd pfds[3] = {{.fd = c->other_fd, .events = POLLIN},
                             {.fd = -1, .events = POLLIN},
                             {.fd = c->fds[0], .events = POLLIN}};

    c->result = poll(pfds, 3, 5000);
    c->error = c->result < 0 ? errno : 0;
    for (int i = 0; i < 3; i++)
        c->revents[i] = pfds[i].revents;
    return NULL;
}

static void test_poll_with_unregistered_fds(void **state)
{
    struct wait_case c = {0};
    struct delayed_write w = {.delay = 0.2, .byte = 'p'};
    struct ticker ticker = {0};
    int other[2];
    struct pollfd bad = {.fd = 1000, .events = POLLIN};

    (void)state;
    make_pair(c.fds);
    make_pair(other);
    c.other_fd = other[0];
    w.fd = c.fds[1];
    run_beside(poll_mixed, &c, write_later, &w, &ticker);
    assert_int_equal(c.result, 1);
    assert_int_equal(c.revents[0], 0);
    assert_int_equal(c.revents[1], 0);
    assert_int_equal(c.revents[2], POLLIN);
    assert_true(ticker.ticks > 5);
    /* A closed fd is reported at once, as libc does. */
    assert_int_equal(poll(&bad, 1, 0), 1);
    assert_int_equal(bad.revents, POLLNVAL);
    close_pair(other);
    close_pair(c.fds);
}

static void *poll_timeout(void *arg)
{
    struct wait_case *c = arg;
    struct pollfd pfd = {.fd = c->fds[0], .events = POLLIN};
    double start = patch_seconds();

    c->result = poll(&pfd, 1, 100);
    c->revents[0] = pfd.revents;
    c->error = (int)((patch_seconds() - start) * 1000);
    return NULL;
}

static void test_poll_times_out(void **state)
{
    struct wait_case c = {0};

    (void)state;
    make_pair(c.fds);
    patch_join(patch_spawn(poll_timeout, &c));
    assert_int_equal(c.result, 0);
    assert_int_equal(c.revents[0], 0);
    assert_true(c.error >= 90 && c.error < 2000);
    close_pair(c.fds);
}

static void *select_read(void *arg)
{
    struct wait_case *c = arg;
    struct timeval tv = {.tv_sec = 5};
    fd_set readable;

    FD_ZERO(&readable);
    FD_SET(c->fds[0], &readable);
    FD_SET(c->other_fd, &readable);
    c->result = select(FD_SETSIZE, &readable, NULL, NULL, &tv);
    c->in_read_set =
        FD_ISSET(c->fds[0], &readable) && !FD_ISSET(c->other_fd, &readable);
    return NULL;
}

static void test_select_waits_cooperatively(void **state)
{
    struct wait_case c = {0};
    struct delayed_write w = {.delay = 0.2, .byte = 's'};
    int other[2];

    (void)state;
    make_pair(c.fds);
    make_pair(other);
    c.other_fd = other[0];
    w.fd = c.fds[1];
    run_beside(select_read, &c, write_later, &w, NULL);
    assert_int_equal(c.result, 1);
    assert_true(c.in_read_set);
    close_pair(other);
    close_pair(c.fds);
}

/* Beyond FD_SETSIZE the hook answers exactly as libc's select. */
struct select_limits {
    int hooked, hooked_error, direct, direct_error;
    int negative, negative_error;
};

typedef int (*select_fn)(int, fd_set *, fd_set *, fd_set *, struct timeval *);

static void *select_beyond_setsize(void *arg)
{
    select_fn libc_select = (select_fn)dlsym(RTLD_NEXT, "select");
    struct select_limits *l = arg;
    fd_set sets[2][4];
    struct timeval zero = {0}, zero2 = {0};

    memset(sets, 0, sizeof(sets));
    errno = 0;
    l->hooked = select(FD_SETSIZE * 3, sets[0], NULL, NULL, &zero);
    l->hooked_error = errno;
    errno = 0;
    l->direct = libc_select(FD_SETSIZE * 3, sets[1], NULL, NULL, &zero2);
    l->direct_error = errno;
    l->negative = select(-1, NULL, NULL, NULL, &zero);
    l->negative_error = errno;
    return NULL;
}

static void test_select_beyond_fd_setsize(void **state)
{
    struct select_limits l = {0};

    (void)state;
    patch_join(patch_spawn(select_beyond_setsize, &l));
    assert_int_equal(l.hooked, l.direct);
    assert_int_equal(l.hooked_error, l.direct_error);
    assert_int_equal(l.negative, -1);
    assert_int_equal(l.negative_error, EINVAL);
}

static void *epoll_wait_one(void *arg)
{
    struct wait_case *c = arg;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = c->fds[0]};
    int epfd = epoll_create1(EPOLL_CLOEXEC);

    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fds[0], &ev);
    c->result = epoll_wait(epfd, &ev, 1, 5000);
    c->in_read_set = ev.data.fd == c->fds[0];
    close(epfd);
    return NULL;
}

static void test_epoll_wait_cooperates(void **state)
{
    struct wait_case c = {0};
    struct delayed_write w = {.delay = 0.2, .byte = 'E'};
    struct ticker ticker = {0};

    (void)state;
    make_pair(c.fds);
    w.fd = c.fds[1];
    run_beside(epoll_wait_one, &c, write_later, &w, &ticker);
    assert_int_equal(c.result, 1);
    assert_true(c.in_read_set);
    assert_true(ticker.ticks > 5);
    close_pair(c.fds);
}

/* ---- ppoll, pselect, dup ------------------------------------------------- */

struct masked_case {
    int fds[2];
    int ppoll_result, pselect_result;
    int copy, copy_flags;
    ssize_t copy_read;
    char byte;
};

static void *masked_waits(void *arg)
{
    struct masked_case *c = arg;
    struct timespec five = {.tv_sec = 5};
    struct pollfd pfd = {.fd = c->fds[0], .events = POLLIN};
    sigset_t mask;
    fd_set readable;

    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    c->ppoll_result = ppoll(&pfd, 1, &five, &mask);
    if (read(c->fds[0], &c->byte, 1) != 1)
        c->byte = 0;
    FD_ZERO(&readable);
    FD_SET(c->fds[0], &readable);
    c->pselect_result =
        pselect(c->fds[0] + 1, &readable, NULL, NULL, &five, &mask);
    /* A copy shares the driven description and the user's view. */
    c->copy = dup(c->fds[0]);
    c->copy_flags = fcntl(c->copy, F_GETFL);
    c->copy_read = read(c->copy, &c->byte, 1);
    return NULL;
}

static void *write_twice(void *arg)
{
    int fd = *(int *)arg;

    green_sleep(0.03);
    if (write(fd, "1", 1) != 1)
        return arg;
    green_sleep(0.03);
    if (write(fd, "2", 1) != 1)
        return arg;
    return NULL;
}

static void test_ppoll_pselect_and_dup(void **state)
{
    struct masked_case c = {0};

    (void)state;
    make_pair(c.fds);
    assert_null(run_beside(masked_waits, &c, write_twice, &c.fds[1], NULL));
    assert_int_equal(c.ppoll_result, 1);
    assert_int_equal(c.pselect_result, 1);
    assert_true(c.copy >= 0);
    assert_int_equal(c.copy_flags & O_NONBLOCK, 0);
    assert_int_not_equal(kernel_flags(c.copy) & O_NONBLOCK, 0);
    assert_int_equal(c.copy_read, 1);
    assert_int_equal(c.byte, '2');
    close(c.copy);
    close_pair(c.fds);
}

/* ---- signals ------------------------------------------------------------ */

static volatile sig_atomic_t handled;

static void count_signal(int sig)
{
    (void)sig;
    handled++;
}

static void install(int flags)
{
    struct sigaction act = {.sa_handler = count_signal, .sa_flags = flags};
    struct sigaction old;

    sigemptyset(&act.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &act, NULL), 0);
    /* The wrapper is invisible: the old action is ours. */
    assert_int_equal(sigaction(SIGUSR1, NULL, &old), 0);
    assert_ptr_equal(old.sa_handler, count_signal);
    assert_int_equal(old.sa_flags & SA_RESTART, flags & SA_RESTART);
}

struct signal_shot {
    pthread_t target;
    double delay;
};

/* From another OS thread, so that the signal arrives while the hub sleeps
 * in its epoll_wait/poll. */
static void *signal_later(void *arg)
{
    struct signal_shot *shot = arg;

    usleep((useconds_t)(shot->delay * 1e6));
    pthread_kill(shot->target, SIGUSR1);
    return NULL;
}

/* Writes w->byte w->delay seconds after the signal was handled: after
 * it, however late a loaded machine delivers it (at most 30 s). */
static void *write_after_signal(void *arg)
{
    struct delayed_write *w = arg;
    double give_up = patch_seconds() + 30;

    while (!handled && patch_seconds() < give_up)
        green_sleep(0.001);
    return write_later(w);
}

/* A reader parked on a socket, and SIGUSR1 coming in after 0.1 s. */
struct signal_case {
    bool raise_inline;       /* raise() in the main greenlet instead of
                              * pthread_kill() from an OS thread */
    bool without_data;       /* else a byte 'r' arrives 0.2 s after it */
    struct timeval rcvtimeo; /* SO_RCVTIMEO on the reader's socket, if set */
    struct outcome out;      /* what the reader saw */
};

static void run_signal_case(struct signal_case *c)
{
    struct delayed_write w = {.delay = 0.2, .byte = 'r'};
    struct signal_shot shot = {.target = pthread_self(), .delay = 0.1};
    green_thread_t *reader, *writer = NULL;
    pthread_t signaller;
    int fds[2];

    make_pair(fds);
    if (c->rcvtimeo.tv_sec || c->rcvtimeo.tv_usec)
        assert_int_equal(setsockopt(fds[0], SOL_SOCKET, SO_RCVTIMEO,
                                    &c->rcvtimeo, sizeof(c->rcvtimeo)),
                         0);
    c->out.fd = fds[0];
    w.fd = fds[1];
    handled = 0;
    reader = patch_spawn(read_one, &c->out);
    if (!c->without_data)
        writer = patch_spawn(write_after_signal, &w);
    if (c->raise_inline) {
        /* Delivered while the main greenlet runs, not in the hub's wait. */
        green_sleep(0.1);
        raise(SIGUSR1);
    } else {
        assert_int_equal(pthread_create(&signaller, NULL, signal_later, &shot),
                         0);
    }
    patch_join(reader);
    if (writer)
        patch_join(writer);
    if (!c->raise_inline)
        assert_int_equal(pthread_join(signaller, NULL), 0);
    close_pair(fds);
}

static void test_signal_without_restart_gives_eintr(void **state)
{
    struct signal_case from_os_thread = {0};
    struct signal_case raised_inline = {.raise_inline = true};

    (void)state;
    install(0);
    run_signal_case(&from_os_thread);
    assert_int_equal(handled, 1);
    assert_int_equal(from_os_thread.out.result, -1);
    assert_int_equal(from_os_thread.out.error, EINTR);

    run_signal_case(&raised_inline);
    assert_int_equal(handled, 1);
    assert_int_equal(raised_inline.out.result, -1);
    assert_int_equal(raised_inline.out.error, EINTR);
    signal(SIGUSR1, SIG_DFL);
}

static void test_signal_with_restart_retries(void **state)
{
    struct signal_case via_sigaction = {0}, via_signal = {0};

    (void)state;
    install(SA_RESTART);
    run_signal_case(&via_sigaction);
    assert_int_equal(handled, 1);
    assert_int_equal(via_sigaction.out.result, 1);
    assert_int_equal(via_sigaction.out.byte, 'r');

    /* signal() is BSD-style: SA_RESTART too. */
    assert_ptr_equal(signal(SIGUSR1, count_signal), count_signal);
    run_signal_case(&via_signal);
    assert_int_equal(handled, 1);
    assert_int_equal(via_signal.out.result, 1);
    signal(SIGUSR1, SIG_DFL);
}

/* A socket with SO_RCVTIMEO is never restarted (signal(7)).  No data
 * comes: only the signal can end the read before the 30 s timeout. */
static void test_signal_with_restart_and_rcvtimeo_gives_eintr(void **state)
{
    struct signal_case c = {.without_data = true, .rcvtimeo = {.tv_sec = 30}};

    (void)state;
    install(SA_RESTART);
    run_signal_case(&c);
    assert_int_equal(handled, 1);
    assert_int_equal(c.out.result, -1);
    assert_int_equal(c.out.error, EINTR);
    signal(SIGUSR1, SIG_DFL);
}

/* A green thread blocked in green_send_all() on the socket another green
 * thread reads with a hooked read(): the signal interrupts the read only
 * (#11 item 5); the sender stays parked until a drainer makes room. */
#define SEND_ALL_BYTES (1 << 20)

struct blocked_sender {
    int fd;
    int err;
    size_t sent;
};

static void *send_all_parked(void *arg)
{
    struct blocked_sender *s = arg;
    static char data[SEND_ALL_BYTES];

    s->err = green_send_all(s->fd, data, sizeof(data), &s->sent);
    return NULL;
}

static void *drain_after_signal(void *arg)
{
    static char sink[SEND_ALL_BYTES];
    green_timeout_t scope; /* a sender that gave up sends no more */
    size_t got = 0;
    int err;

    green_sleep(0.4);
    green_timeout_start(&scope, 5.0);
    err = green_recv_all(*(int *)arg, sink, sizeof(sink), &got);
    green_timeout_cancel(&scope);
    return err == 0 && got == sizeof(sink) ? NULL : (void *)1;
}

static void test_signal_interrupts_only_the_hooked_call(void **state)
{
    struct signal_shot shot = {.target = pthread_self(), .delay = 0.1};
    struct outcome reader = {0};
    struct blocked_sender sender = {0};
    green_thread_t *read_thread, *send_thread, *drainer;
    pthread_t signaller;
    int fds[2];

    (void)state;
    install(0);
    make_pair(fds);
    reader.fd = sender.fd = fds[0];
    handled = 0;
    send_thread = patch_spawn(send_all_parked, &sender);
    read_thread = patch_spawn(read_one, &reader);
    drainer = patch_spawn(drain_after_signal, &fds[1]);
    assert_int_equal(pthread_create(&signaller, NULL, signal_later, &shot), 0);
    patch_join(read_thread);
    assert_int_equal(handled, 1);
    assert_int_equal(reader.result, -1);
    assert_int_equal(reader.error, EINTR);
    patch_join(send_thread);
    assert_int_equal(sender.err, 0);
    assert_null(patch_join(drainer));
    assert_int_equal(sender.sent, SEND_ALL_BYTES);
    assert_int_equal(pthread_join(signaller, NULL), 0);
    close_pair(fds);
    signal(SIGUSR1, SIG_DFL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_main_greenlet_blocks_as_libc),
        cmocka_unit_test(test_read_parks_only_the_green_thread),
        cmocka_unit_test(test_user_nonblocking_gets_eagain),
        cmocka_unit_test(test_rcvtimeo_expires_with_eagain),
        cmocka_unit_test(test_fd_created_before_enable),
        cmocka_unit_test(test_fd_reused_behind_the_hooks),
        cmocka_unit_test(test_disabled_is_pass_through),
        cmocka_unit_test(test_fd_shared_with_os_thread),
        cmocka_unit_test(test_close_while_reading_gives_ebadf),
        cmocka_unit_test(test_killed_reader_gets_ecanceled),
        cmocka_unit_test(test_timeout_scope_gives_etimedout),
        cmocka_unit_test(test_large_pipe_write),
        cmocka_unit_test(test_recv_waitall_waits_for_everything),
        cmocka_unit_test(test_accept_and_connect),
        cmocka_unit_test(test_two_acceptors_share_a_listener),
        cmocka_unit_test(test_udp_recvfrom_parks),
        cmocka_unit_test(test_os_thread_connect_on_driven_socket),
        cmocka_unit_test(test_poll_with_unregistered_fds),
        cmocka_unit_test(test_poll_times_out),
        cmocka_unit_test(test_select_waits_cooperatively),
        cmocka_unit_test(test_select_beyond_fd_setsize),
        cmocka_unit_test(test_epoll_wait_cooperates),
        cmocka_unit_test(test_ppoll_pselect_and_dup),
        cmocka_unit_test(test_signal_without_restart_gives_eintr),
        cmocka_unit_test(test_signal_with_restart_retries),
        cmocka_unit_test(test_signal_with_restart_and_rcvtimeo_gives_eintr),
        cmocka_unit_test(test_signal_interrupts_only_the_hooked_call),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

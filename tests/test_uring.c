/*
 * The io_uring backend beyond what the backend-marked tests run on it:
 * the fallback to epoll and its reasons (forced in forked children by a
 * seccomp filter, as a container policy would), and the internal operation
 * interface of src/hub/uring.h (completion, cuts that cancel before
 * returning, multishot requests, fork, hub teardown).  Built only with
 * liburing.
 */
#define _GNU_SOURCE
#include "test_fork_util.h"
#include "test_hub_util.h"

#include "../src/greenlet/sanitizer.h"
#include "../src/hub/uring.h"

#include <green/hub.h>
#include <green/sync.h>
#include <green/thread.h>
#include <green/timeout.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

/* ---- Fallback ----------------------------------------------------------- */

/* Make system call nr fail with err in this process (a forked child). */
static int deny_syscall(int nr, int err)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K,
                 SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = {
        .len = (unsigned short)(sizeof(filter) / sizeof(filter[0])),
        .filter = filter};

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program);
}

static int denied_nr, denied_err;

/* The child: io_uring denied, a hub asked for io_uring runs epoll and
 * works.  Exit code 0 when it does. */
static int child_falls_back(void)
{
    if (deny_syscall(denied_nr, denied_err) != 0)
        return 10;
    if (green_hub_set_backend(GREEN_BACKEND_IO_URING) != 0)
        return 11;
    if (green_hub_backend_name() == NULL ||
        strcmp(green_hub_backend_name(), "epoll") != 0)
        return 12;
    if (hub_uring_active() || green_sleep(0.001) != 0)
        return 13;
    return 0;
}

/* Run child_falls_back with stderr into a pipe; its stderr into out. */
static void run_fallback_child(child_fn child, char *out, size_t size)
{
    int p[2];
    pid_t pid;
    ssize_t n;
    size_t used = 0;

    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        exit(run_child(child));
    }
    close(p[1]);
    assert_child_ok(pid, "the main greenlet");
    while (used + 1 < size && (n = read(p[0], out + used, size - 1 - used)) > 0)
        used += (size_t)n;
    out[used] = '\0';
    close(p[0]);
}

static void assert_fallback_says(int nr, int err, const char *reason)
{
    char out[512];

    denied_nr = nr;
    denied_err = err;
    run_fallback_child(child_falls_back, out, sizeof(out));
    if (strstr(out, "libgreen: io_uring unavailable") == NULL ||
        strstr(out, reason) == NULL)
        fail_msg("stderr \"%s\" does not give the reason \"%s\"", out, reason);
}

static void test_fallback_seccomp_eperm(void **state)
{
    (void)state;
    assert_fallback_says(__NR_io_uring_setup, EPERM,
                         "io_uring_setup: EPERM, denied by seccomp");
}

static void test_fallback_no_io_uring(void **state)
{
    (void)state;
    assert_fallback_says(__NR_io_uring_setup, ENOSYS, "io_uring_setup: ENOSYS");
}

/* The ops probe refused: the kernel cannot say it has the ops used. */
static void test_fallback_probe_refused(void **state)
{
    (void)state;
    assert_fallback_says(__NR_io_uring_register, EINVAL,
                         "io_uring probe failed");
}

/* kernel.io_uring_disabled=2, in a mount namespace of the child where a
 * file with "2" covers the setting, and the EPERM such a kernel gives. */
static int child_sees_io_uring_disabled(void)
{
    char path[] = "/tmp/green_uring_disabled_XXXXXX";
    int fd = mkstemp(path);

    if (fd < 0 || write(fd, "2\n", 2) != 2)
        return 20;
    close(fd);
    if (unshare(CLONE_NEWNS) != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
        return 21;
    if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount(path, "/proc/sys/kernel/io_uring_disabled", "none", MS_BIND,
              NULL) != 0)
        return 22;
    unlink(path);
    denied_nr = __NR_io_uring_setup;
    denied_err = EPERM;
    return child_falls_back();
}

static void test_fallback_io_uring_disabled(void **state)
{
    char out[512];

    (void)state;
    run_fallback_child(child_sees_io_uring_disabled, out, sizeof(out));
    if (strstr(out, "(kernel.io_uring_disabled=2)") == NULL)
        fail_msg("stderr \"%s\" does not name kernel.io_uring_disabled", out);
}

/* ---- Operations ---------------------------------------------------------- */

static int use_uring(void **state)
{
    (void)state;
    if (green_hub_destroy() != 0 ||
        green_hub_set_backend(GREEN_BACKEND_IO_URING) != 0)
        return -1;
    return hub_uring_active() ? 0 : -1;
}

static int back_to_default(void **state)
{
    (void)state;
    return green_hub_destroy() == 0 &&
                   green_hub_set_backend(GREEN_BACKEND_DEFAULT) == 0
               ? 0
               : -1;
}

#define uring_test(fn)                                                         \
    cmocka_unit_test_setup_teardown(fn, use_uring, destroy_hub)

struct read_op {
    int fd;
    char *buf;
    unsigned len;
};

static void prep_read(struct io_uring_sqe *sqe, void *arg)
{
    struct read_op *op = arg;

    io_uring_prep_read(sqe, op->fd, op->buf, op->len, (__u64)-1);
}

static void make_pipe(int p[2])
{
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
}

static void close_pipe(int p[2])
{
    close(p[0]);
    close(p[1]);
}

/* What is left in the pipe, read without blocking: -1 if nothing. */
static int pipe_leftover(int fd)
{
    char c;
    int flags = fcntl(fd, F_GETFL);
    ssize_t n;

    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    n = read(fd, &c, 1);
    fcntl(fd, F_SETFL, flags);
    return n == 1 ? (unsigned char)c : -1;
}

static void test_only_on_uring_hubs(void **state)
{
    int res = 0;
    char c;
    struct read_op op = {.fd = 0, .buf = &c, .len = 1};

    (void)state;
    assert_int_equal(green_hub_set_backend(GREEN_BACKEND_EPOLL), 0);
    assert_false(hub_uring_active());
    assert_null(hub_uring_ring());
    assert_int_equal(hub_uring_submit(-1, 0, prep_read, &op, 1, &res), ENOTSUP);
    assert_int_equal(green_hub_destroy(), 0);
    assert_int_equal(green_hub_set_backend(GREEN_BACKEND_IO_URING), 0);
    assert_string_equal(green_hub_backend_name(), "io_uring");
    assert_true(hub_uring_active());
    assert_non_null(hub_uring_ring());
    assert_int_equal(hub_uring_submit(-1, 0, prep_read, &op, 1, NULL), EINVAL);
}

/* With no choice made and no GREEN_HUB_BACKEND, a hub runs io_uring, which
 * measures better than epoll (under valgrind too). */
static void test_default_is_io_uring(void **state)
{
    (void)state;
    assert_int_equal(unsetenv("GREEN_HUB_BACKEND"), 0);
    assert_int_equal(green_hub_set_backend(GREEN_BACKEND_DEFAULT), 0);
    assert_string_equal(green_hub_backend_name(), "io_uring");
}

static void test_submit_completes(void **state)
{
    int p[2], res = -1;
    char buf[8] = {0};
    struct read_op op = {.buf = buf, .len = sizeof(buf)};

    (void)state;
    make_pipe(p);
    op.fd = p[0];
    assert_int_equal(write(p[1], "hi", 2), 2);
    assert_int_equal(
        hub_uring_submit(-1, 0, prep_read, &op, GREEN_FOREVER, &res), 0);
    assert_int_equal(res, 2);
    assert_memory_equal(buf, "hi", 2);
    close_pipe(p);
}

struct reader {
    struct read_op op;
    double timeout;
    double scope; /* > 0: inside a timeout scope of that many seconds */
    int err, res, scope_fired, next_err;
    char buf[4];
};

static void *read_in_thread(void *arg)
{
    struct reader *r = arg;
    green_timeout_t scope;

    r->op.buf = r->buf;
    r->op.len = 1;
    if (r->scope > 0)
        green_timeout_start(&scope, r->scope);
    r->err = hub_uring_submit(-1, 0, prep_read, &r->op, r->timeout, &r->res);
    if (r->scope > 0) {
        r->scope_fired = green_timeout_fired(&scope);
        green_timeout_cancel(&scope);
    }
    r->next_err = green_sleep(0);
    return NULL;
}

/* A green thread parked in a read of a new pipe p. */
static green_thread_t *start_reader(struct reader *r, int p[2])
{
    green_thread_t *t;

    make_pipe(p);
    *r = (struct reader){.op.fd = p[0], .timeout = GREEN_FOREVER, .err = -1};
    t = spawn_or_fail(read_in_thread, r);
    assert_int_equal(green_sleep(0.005), 0);
    return t;
}

/* Only the caller parks; the hub's other work (the main greenlet here)
 * runs meanwhile, and the hub does not report EDEADLK while an operation
 * is in flight. */
static void test_submit_parks_only_the_caller(void **state)
{
    int p[2];
    struct reader r;
    green_thread_t *t;

    (void)state;
    t = start_reader(&r, p);
    assert_int_equal(r.err, -1);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(green_thread_wait(t, NULL), 0);
    green_thread_release(t);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.res, 1);
    assert_int_equal(r.buf[0], 'x');
    close_pipe(p);
}

static void *write_later(void *arg)
{
    int fd = *(int *)arg;

    usleep(20000);
    return write(fd, "w", 1) == 1 ? NULL : arg;
}

/* The hub waits while another OS thread makes the op complete.  Under
 * valgrind this is the hub's poll(2) wait on the ring (poll_uring.c): a
 * wait in io_uring_enter would stop the writer, and this test would hang.
 * c starts undefined: memcheck must see the kernel's write (or it reports
 * the comparison below). */
static void test_main_waits_for_another_os_thread(void **state)
{
    int p[2], res = -1;
    char c;
    struct read_op op = {.buf = &c, .len = 1};
    pthread_t writer;
    void *failed;

    (void)state;
    make_pipe(p);
    op.fd = p[0];
    assert_int_equal(pthread_create(&writer, NULL, write_later, &p[1]), 0);
    assert_int_equal(
        hub_uring_submit(-1, 0, prep_read, &op, GREEN_FOREVER, &res), 0);
    assert_int_equal(res, 1);
    assert_int_equal(c, 'w');
    assert_int_equal(pthread_join(writer, &failed), 0);
    assert_null(failed);
    close_pipe(p);
}

/* ---- DEFER_TASKRUN ------------------------------------------------------ */

/* The running kernel is Linux major.minor or later. */
static int kernel_at_least(int major, int minor)
{
    struct utsname name;
    int got_major = 0, got_minor = 0;

    assert_int_equal(uname(&name), 0);
    assert_int_equal(sscanf(name.release, "%d.%d", &got_major, &got_minor), 2);
    return got_major > major || (got_major == major && got_minor >= minor);
}

/* Rings defer completions to the hub's own enter wherever the kernel can
 * (6.1), except under valgrind, whose hub waits in poll(2). */
static void test_defer_taskrun_where_the_kernel_has_it(void **state)
{
    (void)state;
    assert_int_equal(hub_uring_defers_taskrun(),
                     kernel_at_least(6, 1) && !green_valgrind_running());
}

/* Without DEFER_TASKRUN, as on a kernel that refuses it, the ring keeps
 * the other flags and everything completes as before, a completion that
 * another OS thread causes too. */
static void test_without_defer_taskrun(void **state)
{
    hub_uring_set_defer_taskrun(0);
    assert_int_equal(green_hub_destroy(), 0);
    assert_int_equal(green_hub_set_backend(GREEN_BACKEND_IO_URING), 0);
    assert_true(hub_uring_active());
    assert_false(hub_uring_defers_taskrun());
    test_submit_completes(state);
    test_main_waits_for_another_os_thread(state);
}

static int allow_defer_taskrun(void **state)
{
    hub_uring_set_defer_taskrun(1);
    return destroy_hub(state);
}

/* A cut op was cancelled before the call returned: a byte written after
 * that stays in the pipe and the abandoned buffer stays untouched. */
static void assert_cut(struct reader *r, int p[2], int err)
{
    assert_int_equal(r->err, err);
    assert_int_equal(r->res, -ECANCELED);
    assert_int_equal(write(p[1], "z", 1), 1);
    assert_int_equal(green_sleep(0.005), 0);
    assert_int_equal(r->buf[0], 0);
    assert_int_equal(pipe_leftover(p[0]), 'z');
}

static void test_timeout_cancels_before_returning(void **state)
{
    int p[2];
    struct reader r = {.timeout = 0.01};

    (void)state;
    make_pipe(p);
    r.op.fd = p[0];
    read_in_thread(&r);
    assert_cut(&r, p, ETIMEDOUT);
    assert_int_equal(r.next_err, 0);
    close_pipe(p);
}

static void test_scope_cancels_before_returning(void **state)
{
    int p[2];
    struct reader r = {.timeout = GREEN_FOREVER, .scope = 0.01};

    (void)state;
    make_pipe(p);
    r.op.fd = p[0];
    read_in_thread(&r);
    assert_true(r.scope_fired);
    assert_cut(&r, p, ETIMEDOUT);
    close_pipe(p);
}

static void test_kill_cancels_before_returning(void **state)
{
    int p[2];
    struct reader r;
    green_thread_t *t;

    (void)state;
    t = start_reader(&r, p);
    assert_int_equal(green_thread_kill(t), 0);
    green_thread_release(t);
    assert_cut(&r, p, ECANCELED);
    assert_int_equal(r.next_err, ECANCELED);
    close_pipe(p);
}

/* A kill that races the completion loses nothing: either the read was
 * cancelled (the byte is still in the pipe) or it completed and the call
 * returns it (the kill then fails the next blocking call). */
static void test_kill_racing_completion_loses_nothing(void **state)
{
    int p[2];
    struct reader r;
    green_thread_t *t;

    (void)state;
    t = start_reader(&r, p);
    assert_int_equal(write(p[1], "r", 1), 1);
    assert_int_equal(green_thread_kill(t), 0);
    green_thread_release(t);
    if (r.err == 0) {
        assert_int_equal(r.res, 1);
        assert_int_equal(r.buf[0], 'r');
        assert_int_equal(pipe_leftover(p[0]), -1);
    } else {
        assert_int_equal(r.err, ECANCELED);
        assert_int_equal(r.buf[0], 0);
        assert_int_equal(pipe_leftover(p[0]), 'r');
    }
    assert_int_equal(r.next_err, ECANCELED);
    close_pipe(p);
}

/* Hub teardown kills the thread; its op is cancelled and waited for then
 * and there. */
static void test_teardown_cancels(void **state)
{
    int p[2];
    struct reader r;
    green_thread_t *t;

    (void)state;
    t = start_reader(&r, p);
    assert_int_equal(green_hub_destroy(), 0);
    green_thread_release(t);
    assert_int_equal(r.err, ECANCELED);
    assert_int_equal(r.next_err, ECANCELED);
    assert_int_equal(write(p[1], "t", 1), 1);
    assert_int_equal(r.buf[0], 0);
    assert_int_equal(pipe_leftover(p[0]), 't');
    close_pipe(p);
}

/* ---- Long-lived requests ----------------------------------------------- */

struct multishot {
    hub_uring_op_t op;
    int fd, cqes, more, last_res;
};

static void multishot_complete(hub_uring_op_t *op, int res, unsigned flags)
{
    struct multishot *m = (struct multishot *)op;

    m->cqes++;
    m->more += (flags & IORING_CQE_F_MORE) != 0;
    m->last_res = res;
}

static void prep_poll_multishot(struct io_uring_sqe *sqe, void *arg)
{
    io_uring_prep_poll_multishot(sqe, *(int *)arg, POLLIN);
}

/* A multishot request gives a CQE per event while it stays in flight; in
 * the background it does not keep main's wait from EDEADLK; a cancel ends
 * it with a final CQE before hub_uring_cancel_wait returns. */
static void test_multishot_background_request(void **state)
{
    struct multishot m = {
        .op = {.complete = multishot_complete, .background = 1}};
    green_event_t *never;
    int p[2];
    char c;

    (void)state;
    make_pipe(p);
    m.fd = p[0];
    assert_int_equal(hub_uring_start(&m.op, prep_poll_multishot, &m.fd), 0);
    assert_true(m.op.in_flight);
    assert_int_equal(green_event_new(&never), 0);
    assert_int_equal(green_event_wait(never, NULL, GREEN_FOREVER), EDEADLK);
    green_event_destroy(never);
    for (int i = 0; i < 2; i++) {
        int before = m.more;

        assert_int_equal(write(p[1], "m", 1), 1);
        for (int n = 0; n < 5000 && m.more == before; n++)
            assert_int_equal(green_sleep(0.001), 0);
        assert_true(m.more > before);
        assert_int_equal(read(p[0], &c, 1), 1);
    }
    assert_true(m.op.in_flight);
    assert_int_equal(hub_uring_cancel_wait(&m.op), 0);
    assert_false(m.op.in_flight);
    assert_int_equal(m.cqes, m.more + 1);
    assert_int_equal(m.last_res, -ECANCELED);
    assert_int_equal(hub_uring_cancel_wait(&m.op), 0); /* not in flight */
    close_pipe(p);
}

/* ---- fork -----------------------------------------------------------------
 */

static struct reader fork_reader;
static unsigned long parent_ring_id;
static int parent_defers;

/* In the child: the op in flight at fork was the parent's; the child's copy
 * ends with -EOWNERDEAD.  The child's hub has a new ring, with the
 * parent's flags, that works. */
static int child_after_fork_with_op(void)
{
    int p[2], res = -1;
    char c = 0;
    struct read_op op = {.buf = &c, .len = 1};

    for (int i = 0; i < 100 && fork_reader.err == -1; i++)
        green_sleep(0.001);
    if (fork_reader.err != 0 || fork_reader.res != -EOWNERDEAD)
        return 30;
    if (!hub_uring_active() || hub_uring_ring_id() == parent_ring_id ||
        hub_uring_defers_taskrun() != parent_defers)
        return 31;
    if (pipe(p) != 0 || write(p[1], "c", 1) != 1)
        return 32;
    op.fd = p[0];
    if (hub_uring_submit(-1, 0, prep_read, &op, 5, &res) != 0 || res != 1 ||
        c != 'c')
        return 33;
    return 0;
}

static void test_fork_with_op_in_flight(void **state)
{
    int p[2];
    green_thread_t *t;
    pid_t pid;

    (void)state;
    parent_ring_id = hub_uring_ring_id();
    parent_defers = hub_uring_defers_taskrun();
    t = start_reader(&fork_reader, p);
    pid = fork_child(child_after_fork_with_op);
    assert_child_ok(pid, "the main greenlet");
    /* The parent's op is untouched by the child. */
    assert_int_equal(fork_reader.err, -1);
    assert_int_equal(write(p[1], "p", 1), 1);
    assert_int_equal(green_thread_wait(t, NULL), 0);
    green_thread_release(t);
    assert_int_equal(fork_reader.err, 0);
    assert_int_equal(fork_reader.res, 1);
    assert_int_equal(fork_reader.buf[0], 'p');
    close_pipe(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        hub_test(test_fallback_seccomp_eperm),
        hub_test(test_fallback_no_io_uring),
        hub_test(test_fallback_probe_refused),
        hub_test(test_fallback_io_uring_disabled),
        cmocka_unit_test_teardown(test_only_on_uring_hubs, back_to_default),
        cmocka_unit_test_teardown(test_default_is_io_uring, back_to_default),
        uring_test(test_submit_completes),
        uring_test(test_submit_parks_only_the_caller),
        uring_test(test_timeout_cancels_before_returning),
        uring_test(test_scope_cancels_before_returning),
        uring_test(test_kill_cancels_before_returning),
        uring_test(test_kill_racing_completion_loses_nothing),
        uring_test(test_teardown_cancels),
        uring_test(test_multishot_background_request),
        uring_test(test_fork_with_op_in_flight),
        uring_test(test_main_waits_for_another_os_thread),
        uring_test(test_defer_taskrun_where_the_kernel_has_it),
        cmocka_unit_test_setup_teardown(test_without_defer_taskrun, use_uring,
                                        allow_defer_taskrun),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

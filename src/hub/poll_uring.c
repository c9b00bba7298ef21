/*
 * The io_uring backend (see poll.h) and the operations of uring.h, in one
 * completion loop: a CQE either ends a readiness poll, reported to the hub
 * as an event, or belongs to an operation, whose complete() runs here.
 *
 * Readiness: set arms a one-shot IORING_OP_POLL_ADD; after its CQE the fd
 * is armed again before the next wait while it stays registered, which is
 * what makes it level-triggered.  watch_edge arms a multishot poll, which
 * posts a CQE at each wake-up of the fd, as EPOLLET does.  Poll requests
 * hold a reference to their file, so remove submits its POLL_REMOVE at
 * once: a socket closed by the hub's user must really close.
 *
 * Everything else goes to the kernel with the next wait: one
 * io_uring_enter submits and waits.
 *
 * Under valgrind (3.19) two things differ, both decided here
 * (uring_state_t.on_valgrind):
 *  - valgrind runs io_uring_enter as a system call that never blocks: a
 *    thread waiting in it keeps valgrind's one lock, so every other thread
 *    stops and a wake-up from another thread never comes.  The hub waits
 *    in poll(2) on the ring's fd instead, which is readable once a CQE is
 *    posted and which valgrind knows blocks (uring_wait_in_poll); the
 *    ring then runs without DEFER_TASKRUN, whose pending completions would
 *    not wake poll;
 *  - the kernel writes an operation's result into the caller's memory
 *    where valgrind cannot see it: that memory would stay undefined to
 *    memcheck.  A CQE marks what its operation wrote (uring_mark_written).
 */
#define _GNU_SOURCE
#include "fd_table.h"
#include "hub_internal.h"
#include "poll.h"
#include "uring.h"

#include "greenlet/sanitizer.h"
#include "greenlet/sys.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define URING_ENTRIES 256
#define URING_CQ_ENTRIES 4096
/* Provided buffers: 256 x 4 KiB per hub (hub_uring_set_buf_count). */
#define URING_BUF_SIZE 4096u
#define URING_BUF_COUNT 256u

/* user_data: an operation's address (low bits 0), a poll request
 * (generation << 32 | fd << 2 | TAG_POLL), or TAG_IGNORE for the hub's
 * own cancels and removes. */
#define TAG_MASK 3u
#define TAG_POLL 1u
#define TAG_IGNORE 2u

/* The operations libgreen submits: a kernel lacking one gets epoll.
 * Layers that submit another opcode add it here. */
static const unsigned char uring_required_ops[] = {
    IORING_OP_POLL_ADD, IORING_OP_POLL_REMOVE, IORING_OP_ASYNC_CANCEL,
    IORING_OP_READ,     IORING_OP_WRITE,       IORING_OP_RECV,
    IORING_OP_SEND,     IORING_OP_ACCEPT,      IORING_OP_CONNECT,
    IORING_OP_OPENAT,   IORING_OP_CLOSE,       IORING_OP_FSYNC,
};

typedef struct uring_fd {
    uint32_t gen;         /* in the user_data of its poll request */
    unsigned events;      /* POLL_EV_IN/OUT registered; 0: none */
    unsigned char edge;   /* multishot (watch_edge) */
    unsigned char armed;  /* a poll request is in the kernel */
    unsigned char queued; /* in the rearm list */
} uring_fd_t;

/* The hub's provided-buffer ring (group HUB_URING_BGID), made at its
 * first use: count buffers of URING_BUF_SIZE bytes after the ring of
 * their descriptors, in one mapping left out of forked children. */
typedef struct uring_bufs {
    struct io_uring_buf_ring *ring; /* NULL: not made (yet) */
    char *base;
    size_t map_len;
    unsigned count;
    unsigned char refused; /* the kernel has no buffer rings */
} uring_bufs_t;

typedef struct uring_state {
    struct io_uring ring;
    pid_t pid; /* of the process that made the ring */
    unsigned long id;
    uring_fd_t *fds;
    size_t fd_capacity;
    int *rearm; /* registered fds whose one-shot poll has fired */
    size_t rearm_count, rearm_capacity;
    hub_uring_op_t *ops; /* in flight */
    uring_bufs_t bufs;
    unsigned char on_valgrind;
} uring_state_t;

/* liburing maps and unmaps rings with raw system calls, unseen by TSan: a
 * ring mapped where another thread's destroyed ring was would look like a
 * race with that thread's writes.  Destroying releases, creating
 * acquires. */
#ifdef GREEN_TSAN
static char uring_tsan_sync;
#define URING_TSAN_RELEASE() __tsan_release(&uring_tsan_sync)
#define URING_TSAN_ACQUIRE() __tsan_acquire(&uring_tsan_sync)
#else
#define URING_TSAN_RELEASE() ((void)0)
#define URING_TSAN_ACQUIRE() ((void)0)
#endif

static _Atomic unsigned long uring_ring_ids;
static _Atomic unsigned uring_buf_count = URING_BUF_COUNT;
static atomic_flag uring_fallback_said = ATOMIC_FLAG_INIT;

/* ---- Setup and the fallback's reason ------------------------------------ */

/* Say once per process why the hub does not run io_uring; returns err. */
static int uring_unavailable(int err, const char *why)
{
    if (!atomic_flag_test_and_set(&uring_fallback_said))
        fprintf(stderr, "libgreen: io_uring unavailable (%s); using epoll\n",
                why);
    return err;
}

/* kernel.io_uring_disabled (0 allowed, 1 for a group, 2 for nobody), or
 * -1 where the kernel has no such setting. */
static int uring_disabled_setting(void)
{
    FILE *file = fopen("/proc/sys/kernel/io_uring_disabled", "re");
    int value = -1;

    if (file == NULL)
        return -1;
    if (fscanf(file, "%d", &value) != 1)
        value = -1;
    fclose(file);
    return value;
}

static int uring_setup_failed(int err)
{
    char why[96];
    int disabled = err == EPERM ? uring_disabled_setting() : -1;

    if (disabled > 0)
        snprintf(why, sizeof(why), "kernel.io_uring_disabled=%d", disabled);
    else if (err == EPERM)
        snprintf(why, sizeof(why),
                 "io_uring_setup: EPERM, denied by seccomp or a security "
                 "policy");
    else if (err == ENOSYS)
        snprintf(why, sizeof(why),
                 "io_uring_setup: ENOSYS, no io_uring in "
                 "this kernel");
    else
        snprintf(why, sizeof(why), "io_uring_setup: %s", strerror(err));
    return uring_unavailable(err, why);
}

/* The kernel must have every operation used, and waits with a timeout
 * argument (IORING_FEAT_EXT_ARG, Linux 5.11). */
static int uring_check_kernel(struct io_uring *ring, unsigned features)
{
    struct io_uring_probe *probe;
    char why[96];
    int err = 0;

    if (!(features & IORING_FEAT_EXT_ARG))
        return uring_unavailable(ENOSYS, "kernel lacks IORING_FEAT_EXT_ARG");
    probe = io_uring_get_probe_ring(ring);
    if (probe == NULL)
        return uring_unavailable(ENOSYS, "io_uring probe failed: kernel "
                                         "older than 5.6, or a policy");
    for (size_t i = 0; i < sizeof(uring_required_ops) && err == 0; i++) {
        if (io_uring_opcode_supported(probe, uring_required_ops[i]))
            continue;
        snprintf(why, sizeof(why), "kernel lacks io_uring opcode %u",
                 (unsigned)uring_required_ops[i]);
        err = uring_unavailable(ENOSYS, why);
    }
    io_uring_free_probe(probe);
    return err;
}

/* Ring setup flags, best first; a kernel too old for one refuses it
 * (EINVAL) and the next is tried.  Completions are delivered when the hub
 * enters the kernel anyway, with a flag telling when it should
 * (COOP_TASKRUN, TASKRUN_FLAG); only the hub's thread submits
 * (SINGLE_ISSUER).  DEFER_TASKRUN (Linux 6.1) goes further: completions
 * wait in the ring until the hub's io_uring_enter asks for them, and a
 * waiting hub is woken only once as many are pending as it waits for. */
#ifndef IORING_SETUP_DEFER_TASKRUN /* liburing before 2.3 */
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif
#define URING_COOP                                                             \
    (IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN |                         \
     IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SINGLE_ISSUER)
static const unsigned uring_setup_flags[] = {
    URING_COOP | IORING_SETUP_DEFER_TASKRUN,
    URING_COOP,
    IORING_SETUP_CQSIZE,
};

static atomic_int uring_defer_allowed = 1;

/* defer: try DEFER_TASKRUN first.  Not under valgrind, whose hub waits in
 * poll(2) on the ring's fd: deferred completions do not wake poll. */
static int uring_open(struct io_uring *ring, int defer)
{
    struct io_uring_params params;
    int ret = -EINVAL;

    for (size_t i = defer ? 0 : 1;
         i < sizeof(uring_setup_flags) / sizeof(*uring_setup_flags) &&
         ret == -EINVAL;
         i++) {
        params = (struct io_uring_params){.flags = uring_setup_flags[i],
                                          .cq_entries = URING_CQ_ENTRIES};
        ret = io_uring_queue_init_params(URING_ENTRIES, ring, &params);
    }
    if (ret < 0)
        return uring_setup_failed(-ret);
    ret = uring_check_kernel(ring, params.features);
    if (ret != 0) {
        io_uring_queue_exit(ring);
        return ret;
    }
    /* Each io_uring_enter then names the ring by its index in this
     * thread's table, not by its fd: no file lookup per enter.  Where the
     * table is full (16 rings per thread) the fd keeps working. */
    io_uring_register_ring_fd(ring);
    return 0;
}

/* ---- Submission ------------------------------------------------------- */

static uring_state_t *uring_state_of(green_hub_t *hub)
{
    return hub != NULL && hub->backend == &poll_backend_uring ? hub->poller
                                                              : NULL;
}

/* A free SQE, submitting what is queued if the queue is full; NULL if it
 * stays full. */
static struct io_uring_sqe *uring_sqe(uring_state_t *state)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&state->ring);

    if (sqe == NULL && io_uring_submit(&state->ring) >= 0)
        sqe = io_uring_get_sqe(&state->ring);
    return sqe;
}

/* Submit what is queued now, not with the next wait, and reap in the
 * same enter: a cancelled request drops its reference to its file here,
 * not at the next wait, whichever way the kernel runs completions. */
static void uring_submit_now(uring_state_t *state)
{
    io_uring_submit_and_get_events(&state->ring);
}

/* An SQE whose CQE the hub ignores (a cancel or a poll remove); the
 * io_uring_prep_* helpers leave user_data alone. */
static struct io_uring_sqe *uring_sqe_ignored(uring_state_t *state)
{
    struct io_uring_sqe *sqe = uring_sqe(state);

    if (sqe != NULL)
        io_uring_sqe_set_data64(sqe, TAG_IGNORE);
    return sqe;
}

/* ---- Readiness ------------------------------------------------------- */

static uint64_t uring_poll_data(int fd, uint32_t gen)
{
    return (uint64_t)gen << 32 | (uint64_t)fd << 2 | TAG_POLL;
}

static int uring_arm(uring_state_t *state, int fd)
{
    uring_fd_t *entry = &state->fds[fd];
    struct io_uring_sqe *sqe = uring_sqe(state);
    unsigned mask = ((entry->events & POLL_EV_IN) ? POLLIN | POLLRDHUP : 0) |
                    ((entry->events & POLL_EV_OUT) ? POLLOUT : 0);

    if (sqe == NULL)
        return ENOMEM;
    if (entry->edge)
        io_uring_prep_poll_multishot(sqe, fd, mask);
    else
        io_uring_prep_poll_add(sqe, fd, mask);
    io_uring_sqe_set_data64(sqe, uring_poll_data(fd, entry->gen));
    entry->armed = 1;
    return 0;
}

/* Drop fd's poll request: its CQEs, from the old generation, are ignored
 * from now on. */
static void uring_disarm(uring_state_t *state, int fd)
{
    uring_fd_t *entry = &state->fds[fd];
    struct io_uring_sqe *sqe;

    if (entry->armed && (sqe = uring_sqe_ignored(state)) != NULL) {
        uint64_t old = uring_poll_data(fd, entry->gen);

        io_uring_prep_poll_remove(sqe, old);
    }
    entry->gen++;
    entry->armed = 0;
}

/* Replace fd's registration with events (edge: multishot). */
static int uring_register(uring_state_t *state, int fd, unsigned events,
                          int edge)
{
    struct stat st;

    /* epoll's answers, which fd.c relies on: EBADF, and EPERM for files
     * that are always ready. */
    if (fd < 0 || fstat(fd, &st) != 0)
        return EBADF;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
        return EPERM;
    if ((size_t)fd >= state->fd_capacity) {
        uring_fd_t *fds =
            fd_array_grow(state->fds, &state->fd_capacity, sizeof(*fds), fd);
        if (fds == NULL)
            return ENOMEM;
        state->fds = fds;
    }
    uring_disarm(state, fd);
    state->fds[fd].events = events;
    state->fds[fd].edge = (unsigned char)edge;
    return uring_arm(state, fd);
}

static int uring_set(void *opaque, int fd, unsigned old_events, unsigned events)
{
    (void)old_events; /* the fd table knows better */
    return uring_register(opaque, fd, events, 0);
}

static int uring_watch_edge(void *opaque, int fd, unsigned old_events)
{
    (void)old_events;
    return uring_register(opaque, fd, POLL_EV_IN | POLL_EV_OUT, 1);
}

static void uring_remove(void *opaque, int fd)
{
    uring_state_t *state = opaque;
    int armed;

    if (fd < 0 || (size_t)fd >= state->fd_capacity)
        return;
    armed = state->fds[fd].armed;
    uring_disarm(state, fd);
    state->fds[fd].events = 0;
    /* The request holds the file open: let it go before the caller's
     * close, not at the next wait. */
    if (armed)
        uring_submit_now(state);
}

static void uring_cancel_ops(void *opaque, int fd)
{
    uring_state_t *state = opaque;
    struct io_uring_sqe *sqe = uring_sqe_ignored(state);

    if (sqe == NULL)
        return; /* the owners' own cancels follow */
    io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
    uring_submit_now(state);
}

/* Arm again the registered fds whose one-shot (or ended multishot) poll
 * has fired: an fd still ready is reported again, as level-triggered. */
static void uring_rearm(uring_state_t *state)
{
    size_t kept = 0;

    for (size_t i = 0; i < state->rearm_count; i++) {
        int fd = state->rearm[i];
        uring_fd_t *entry = &state->fds[fd];

        if (entry->events == 0 || entry->armed || uring_arm(state, fd) == 0)
            entry->queued = 0;
        else
            state->rearm[kept++] = fd; /* no SQE: next time */
    }
    state->rearm_count = kept;
}

static void uring_queue_rearm(uring_state_t *state, int fd)
{
    uring_fd_t *entry = &state->fds[fd];

    if (entry->queued)
        return;
    if (state->rearm_count == state->rearm_capacity) {
        size_t capacity =
            state->rearm_capacity ? state->rearm_capacity * 2 : 64;
        int *rearm = realloc(state->rearm, capacity * sizeof(*rearm));

        if (rearm == NULL) {
            entry->events = 0; /* dropped: the next wait registers it */
            return;
        }
        state->rearm = rearm;
        state->rearm_capacity = capacity;
    }
    entry->queued = 1;
    state->rearm[state->rearm_count++] = fd;
}

/* A poll CQE: 1 and *out filled if it is for fd's current request. */
static int uring_poll_done(uring_state_t *state, uint64_t data, int res,
                           unsigned flags, poll_event_t *out)
{
    int fd = (int)((uint32_t)data >> 2);
    uring_fd_t *entry;

    if ((size_t)fd >= state->fd_capacity)
        return 0;
    entry = &state->fds[fd];
    if ((uint32_t)(data >> 32) != entry->gen)
        return 0;
    if (!(flags & IORING_CQE_F_MORE)) {
        entry->armed = 0;
        if (res == -EBADF)
            entry->events = 0; /* closed: only a new set brings it back */
        else if (entry->events != 0)
            uring_queue_rearm(state, fd);
    }
    out->fd = fd;
    if (res < 0)
        out->events = POLL_EV_ERR;
    else
        out->events =
            ((res & (POLLIN | POLLRDHUP)) ? POLL_EV_IN : 0u) |
            ((res & POLLOUT) ? POLL_EV_OUT : 0u) |
            ((res & (POLLERR | POLLHUP | POLLNVAL)) ? POLL_EV_ERR : 0u) |
            ((res & (POLLRDHUP | POLLHUP)) ? POLL_EV_HUP : 0u);
    return 1;
}

/* ---- Operations in flight ---------------------------------------------- */

static void uring_op_link(uring_state_t *state, hub_uring_op_t *op)
{
    op->in_flight = 1;
    op->shield = NULL;
    op->prev = NULL;
    op->next = state->ops;
    if (state->ops != NULL)
        state->ops->prev = op;
    state->ops = op;
}

/* The request of op has ended: the hub is done with op. */
static void uring_op_unlink(uring_state_t *state, hub_uring_op_t *op)
{
    green_hub_t *hub = hub_existing();
    green_waiter_t *shield = op->shield;

    if (op->prev != NULL)
        op->prev->next = op->next;
    else
        state->ops = op->next;
    if (op->next != NULL)
        op->next->prev = op->prev;
    op->in_flight = 0;
    if (!op->background && hub != NULL)
        hub->fd_waiters--;
    if (shield != NULL && shield->pending)
        green_unpark(shield, 0, NULL);
}

/* Under valgrind: note what op's SQE has the kernel write. */
static void uring_note_output(hub_uring_op_t *op,
                              const struct io_uring_sqe *sqe)
{
    op->out.opcode = sqe->opcode;
    op->out.addr = (void *)(uintptr_t)sqe->addr;
    op->out.addr2 = (void *)(uintptr_t)sqe->addr2;
    if (sqe->opcode == IORING_OP_RECVMSG)
        op->out.len = ((struct msghdr *)op->out.addr)->msg_namelen;
    else if (sqe->opcode == IORING_OP_ACCEPT && op->out.addr2 != NULL)
        op->out.len = *(socklen_t *)op->out.addr2;
}

/* An address of size bytes the kernel filled in up to its buffer's size. */
static void uring_mark_address(void *addr, unsigned size, socklen_t filled)
{
    if (addr != NULL)
        green_valgrind_make_defined(addr, filled < size ? filled : size);
}

/* Under valgrind: mark defined what op's CQE says the kernel wrote (res
 * bytes read, an address). */
static void uring_mark_written(const hub_uring_op_t *op, int res)
{
    struct msghdr *msg = op->out.addr;
    size_t left = (size_t)res;

    if (res < 0)
        return;
    switch (op->out.opcode) {
    case IORING_OP_READ:
    case IORING_OP_RECV:
        green_valgrind_make_defined(op->out.addr, left);
        break;
    case IORING_OP_RECVMSG:
        for (size_t i = 0; i < msg->msg_iovlen && left > 0; i++) {
            size_t part = msg->msg_iov[i].iov_len;

            part = part < left ? part : left;
            green_valgrind_make_defined(msg->msg_iov[i].iov_base, part);
            left -= part;
        }
        uring_mark_address(msg->msg_name, op->out.len, msg->msg_namelen);
        break;
    case IORING_OP_ACCEPT:
        if (op->out.addr2 != NULL)
            uring_mark_address(op->out.addr, op->out.len,
                               *(socklen_t *)op->out.addr2);
        break;
    }
}

static void uring_op_done(uring_state_t *state, hub_uring_op_t *op, int res,
                          unsigned flags)
{
    /* A selected buffer is marked by hub_uring_buf. */
    if (state->on_valgrind && !(flags & IORING_CQE_F_BUFFER))
        uring_mark_written(op, res);
    if (!(flags & IORING_CQE_F_MORE))
        uring_op_unlink(state, op);
    op->complete(op, res, flags);
}

/* Hand the CQEs that arrived to their owners; up to max poll events go to
 * out (none: out is NULL, poll CQEs are dropped, for teardown). */
static int uring_reap(uring_state_t *state, poll_event_t *out, int max)
{
    struct io_uring_cqe *cqe;
    int stored = 0;

    while (io_uring_peek_cqe(&state->ring, &cqe) == 0) {
        uint64_t data = cqe->user_data;
        int res = cqe->res;
        unsigned flags = cqe->flags;

        if ((data & TAG_MASK) == TAG_POLL && out != NULL && stored == max)
            break;
        io_uring_cqe_seen(&state->ring, cqe);
        if ((data & TAG_MASK) == 0)
            uring_op_done(state, (hub_uring_op_t *)(uintptr_t)data, res, flags);
        else if ((data & TAG_MASK) == TAG_POLL && out != NULL)
            stored += uring_poll_done(state, data, res, flags, &out[stored]);
    }
    return stored;
}

/* Under valgrind: submit, then wait in poll(2) until the ring's fd is
 * readable (a CQE is posted; the CQEs pending as task work are posted on
 * the way out of poll). */
static int uring_wait_in_poll(uring_state_t *state, int timeout_ms)
{
    struct pollfd ring = {.fd = state->ring.ring_fd, .events = POLLIN};
    int ret = io_uring_submit(&state->ring);

    if (ret < 0 || io_uring_cq_ready(&state->ring) > 0)
        return ret;
    return sys_libc()->poll(&ring, 1, timeout_ms) < 0 ? -errno : 0;
}

/* Submit what is queued and wait up to timeout_ms (-1: no limit) for a
 * CQE.  A zero timeout enters the kernel only with something to submit
 * or completions to flush (TASKRUN_FLAG: completions the kernel holds
 * back, which with DEFER_TASKRUN only an enter asking for them runs). */
static int uring_enter(uring_state_t *state, int timeout_ms)
{
    struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000,
                                   .tv_nsec = (timeout_ms % 1000) * 1000000L};
    struct io_uring_cqe *cqe;

    if (timeout_ms == 0)
        return io_uring_submit(&state->ring);
    if (state->on_valgrind)
        return uring_wait_in_poll(state, timeout_ms);
    if (timeout_ms < 0)
        return io_uring_submit_and_wait(&state->ring, 1);
    return io_uring_submit_and_wait_timeout(&state->ring, &cqe, 1, &ts, NULL);
}

static int uring_wait_events(void *opaque, int timeout_ms, poll_event_t *out,
                             int max)
{
    uring_state_t *state = opaque;
    int ret;

    uring_rearm(state);
    ret = uring_enter(state, timeout_ms);
    if (ret < 0 && ret != -EINTR && ret != -ETIME && ret != -EAGAIN &&
        ret != -EBUSY)
        return ret;
    return uring_reap(state, out, max);
}

/* Wait in the kernel, not parked, until op's request has ended, or with
 * op NULL every request (hub teardown, where nothing else is left to
 * run): 0, or -1 if the ring is broken and nothing will come.  Without
 * op, no request's memory is read once it ended: its complete() may have
 * freed it. */
static int uring_wait_sync(uring_state_t *state, hub_uring_op_t *op)
{
    while (op != NULL ? op->in_flight : state->ops != NULL) {
        int ret = uring_enter(state, -1);

        if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
            return -1;
        uring_reap(state, NULL, 0);
    }
    return 0;
}

/* ---- Create and destroy ------------------------------------------------ */

static int uring_create_state(void **out)
{
    uring_state_t *state = calloc(1, sizeof(*state));
    int err;

    if (state == NULL)
        return ENOMEM;
    URING_TSAN_ACQUIRE();
    state->on_valgrind = (unsigned char)green_valgrind_running();
    err = uring_open(&state->ring,
                     !state->on_valgrind && atomic_load(&uring_defer_allowed));
    if (err != 0) {
        free(state);
        return err;
    }
    state->pid = getpid();
    state->id = atomic_fetch_add(&uring_ring_ids, 1) + 1;
    *out = state;
    return 0;
}

/* Cancel every request in flight and wait for their CQEs, so that no
 * operation writes into memory after its owner is gone. */
static void uring_drain(uring_state_t *state)
{
    for (hub_uring_op_t *op = state->ops; op != NULL; op = op->next) {
        struct io_uring_sqe *sqe = uring_sqe_ignored(state);

        if (sqe != NULL) {
            io_uring_prep_cancel(sqe, op, 0);
        }
    }
    if (uring_wait_sync(state, NULL) != 0) /* the ring broke */
        while (state->ops != NULL)
            uring_op_done(state, state->ops, -ECANCELED, 0);
}

/* In a forked child the ring is the parent's (its memory is shared): it
 * is only unmapped and its fd closed.  The requests in flight are the
 * parent's too; the child's copies of their operations end with
 * -EOWNERDEAD, and the kernel never writes into the child's memory. */
static void uring_orphan_ops(uring_state_t *state)
{
    while (state->ops != NULL)
        uring_op_done(state, state->ops, -EOWNERDEAD, 0);
}

static void uring_destroy_state(void *opaque)
{
    uring_state_t *state = opaque;

    if (state->pid == getpid())
        uring_drain(state);
    else
        uring_orphan_ops(state);
    URING_TSAN_RELEASE();
    io_uring_queue_exit(&state->ring);
    if (state->bufs.ring != NULL)
        munmap(state->bufs.ring, state->bufs.map_len);
    free(state->fds);
    free(state->rearm);
    free(state);
}

const poll_backend_t poll_backend_uring = {
    .name = "io_uring",
    .create = uring_create_state,
    .destroy = uring_destroy_state,
    .set = uring_set,
    .watch_edge = uring_watch_edge,
    .remove = uring_remove,
    .wait = uring_wait_events,
    .cancel_ops = uring_cancel_ops,
    .fallback = &poll_backend_epoll,
};

/* ---- uring.h ------------------------------------------------------------ */

int hub_uring_active(void)
{
    return uring_state_of(hub_get()) != NULL;
}

struct io_uring *hub_uring_ring(void)
{
    uring_state_t *state = uring_state_of(hub_get());

    return state != NULL ? &state->ring : NULL;
}

unsigned long hub_uring_ring_id(void)
{
    uring_state_t *state = uring_state_of(hub_get());

    return state != NULL ? state->id : 0;
}

int hub_uring_defers_taskrun(void)
{
    uring_state_t *state = uring_state_of(hub_get());

    return state != NULL &&
           (state->ring.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
}

void hub_uring_set_defer_taskrun(int allow)
{
    atomic_store(&uring_defer_allowed, allow != 0);
}

/* ---- Provided buffers ------------------------------------------------- */

static void uring_buf_give(uring_bufs_t *bufs, unsigned bid, int offset)
{
    io_uring_buf_ring_add(bufs->ring, bufs->base + (size_t)bid * URING_BUF_SIZE,
                          URING_BUF_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(bufs->count), offset);
}

/* Map and register the ring, then hand the kernel every buffer. */
static int uring_bufs_make(uring_state_t *state)
{
    uring_bufs_t *bufs = &state->bufs;
    unsigned count = atomic_load(&uring_buf_count);
    size_t ring_len =
        ((size_t)count * sizeof(struct io_uring_buf) + 4095) & ~(size_t)4095;
    size_t map_len = ring_len + (size_t)count * URING_BUF_SIZE;
    struct io_uring_buf_reg reg = {.ring_entries = count,
                                   .bgid = HUB_URING_BGID};
    void *map = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (map == MAP_FAILED)
        return ENOMEM;
    (void)madvise(map, map_len, MADV_DONTFORK);
    reg.ring_addr = (uintptr_t)map;
    if (io_uring_register_buf_ring(&state->ring, &reg, 0) < 0) {
        munmap(map, map_len);
        bufs->refused = 1;
        return ENOTSUP;
    }
    bufs->ring = map;
    bufs->base = (char *)map + ring_len;
    bufs->map_len = map_len;
    bufs->count = count;
    io_uring_buf_ring_init(bufs->ring);
    for (unsigned bid = 0; bid < count; bid++)
        uring_buf_give(bufs, bid, (int)bid);
    io_uring_buf_ring_advance(bufs->ring, (int)count);
    return 0;
}

int hub_uring_bufs(void)
{
    uring_state_t *state = uring_state_of(hub_get());

    if (state == NULL || state->bufs.refused)
        return ENOTSUP;
    return state->bufs.ring != NULL ? 0 : uring_bufs_make(state);
}

const void *hub_uring_buf(unsigned bid, size_t len)
{
    uring_state_t *state = uring_state_of(hub_existing());
    char *buf = state->bufs.base + (size_t)bid * URING_BUF_SIZE;

    if (state->on_valgrind)
        green_valgrind_make_defined(buf, len);
    return buf;
}

void hub_uring_buf_recycle(unsigned bid)
{
    uring_state_t *state = uring_state_of(hub_existing());

    uring_buf_give(&state->bufs, bid, 0);
    io_uring_buf_ring_advance(state->bufs.ring, 1);
}

int hub_uring_set_buf_count(unsigned count)
{
    if (count == 0 || count > 32768 || (count & (count - 1)) != 0)
        return EINVAL;
    atomic_store(&uring_buf_count, count);
    return 0;
}

int hub_uring_start(hub_uring_op_t *op, hub_uring_prep_fn prep, void *arg)
{
    green_hub_t *hub = hub_get();
    uring_state_t *state = uring_state_of(hub);
    struct io_uring_sqe *sqe;

    if (op == NULL || prep == NULL || op->complete == NULL)
        return EINVAL;
    if (state == NULL)
        return ENOTSUP;
    sqe = uring_sqe(state);
    if (sqe == NULL)
        return EAGAIN;
    prep(sqe, arg);
    if (state->on_valgrind)
        uring_note_output(op, sqe);
    io_uring_sqe_set_data(sqe, op);
    uring_op_link(state, op);
    if (!op->background)
        hub->fd_waiters++;
    else
        io_uring_submit(&state->ring); /* the hub may not poll soon */
    return 0;
}

/* Park task until op's request has ended, through kills and timeout
 * scopes, which take effect again afterwards. */
static void uring_park_shielded(green_hub_t *hub, task_t *task,
                                hub_uring_op_t *op)
{
    green_timeout_t *scopes = task->timeouts;
    unsigned char killed = task->killed;
    green_waiter_t w;

    task->timeouts = NULL;
    while (op->in_flight && !hub->stopping) {
        task->killed = 0;
        green_waiter_init(&w);
        op->shield = &w;
        hub_park(hub, task, &w, -1.0, BLOCK_PARK);
        killed |= task->killed;
    }
    if (op->in_flight) {
        op->shield = NULL;
        (void)uring_wait_sync(hub->poller, op);
    }
    task->killed = killed;
    task->timeouts = scopes;
}

/* Submit now a cancel of op's request; without an SQE for it the
 * request still ends by itself. */
static void uring_cancel_now(uring_state_t *state, hub_uring_op_t *op)
{
    struct io_uring_sqe *sqe = uring_sqe_ignored(state);

    if (sqe == NULL)
        return;
    io_uring_prep_cancel(sqe, op, 0);
    uring_submit_now(state);
}

int hub_uring_cancel(hub_uring_op_t *op)
{
    uring_state_t *state = uring_state_of(hub_existing());

    if (op == NULL)
        return EINVAL;
    if (!op->in_flight)
        return 0;
    if (state == NULL)
        return ENOTSUP;
    uring_cancel_now(state, op);
    return 0;
}

int hub_uring_cancel_wait(hub_uring_op_t *op)
{
    green_hub_t *hub = hub_existing();
    task_t *task = hub != NULL ? hub_current_task(hub) : NULL;
    int err;

    if (task == NULL && op != NULL && op->in_flight &&
        uring_state_of(hub) != NULL)
        return EPERM;
    err = hub_uring_cancel(op);
    if (err != 0 || !op->in_flight)
        return err;
    if (op->background) {
        /* Now waited for: it keeps the hub from idling. */
        op->background = 0;
        hub->fd_waiters++;
    }
    uring_park_shielded(hub, task, op);
    return 0;
}

/* hub_uring_submit's request: the result and the parked caller. */
typedef struct uring_call {
    hub_uring_op_t op;
    green_waiter_t w;
    int res;
    unsigned char done;
} uring_call_t;

static void uring_call_complete(hub_uring_op_t *op, int res, unsigned flags)
{
    uring_call_t *call = container_of(op, uring_call_t, op);

    (void)flags;
    call->res = res;
    call->done = 1;
    if (call->w.pending)
        green_unpark(&call->w, 0, NULL);
}

int hub_uring_submit(int fd, int events, hub_uring_prep_fn prep, void *arg,
                     double timeout, int *res)
{
    uring_call_t call = {.op.complete = uring_call_complete};
    green_hub_t *hub;
    task_t *task;
    int err;

    if (prep == NULL || res == NULL || isnan(timeout) ||
        (fd >= 0 && events != GREEN_READ && events != GREEN_WRITE))
        return EINVAL;
    err = hub_caller(&hub, &task);
    if (err != 0)
        return err;
    if (uring_state_of(hub) == NULL)
        return ENOTSUP;
    if (task->killed)
        return ECANCELED;
    green_waiter_init(&call.w);
    if (fd >= 0 && (err = fd_claim_op(hub, fd, events, &call.w)) != 0)
        return err;
    err = hub_uring_start(&call.op, prep, arg);
    if (err == 0) {
        task->block_fd = fd;
        task->block_events = (unsigned)events;
        err = hub_park(hub, task, &call.w,
                       timeout < 0 ? -1.0 : green_now() + timeout,
                       fd >= 0 ? BLOCK_FD : BLOCK_PARK);
        if (!call.done)
            hub_uring_cancel_wait(&call.op);
        *res = call.res;
    }
    if (fd >= 0)
        fd_release_op(hub, fd, &call.w);
    if (err == 0 || (call.done && call.res != -ECANCELED && call.res != -EINTR))
        return 0;
    return err == PARK_OWN_TIMEOUT ? ETIMEDOUT : err;
}

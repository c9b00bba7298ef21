/*
 * File descriptors: a hub's waits for readiness (green_wait_fd), the
 * process-wide per-fd records, managed fds (registered once, edge
 * triggered) and the before-poll hook of interposition layers.
 */
#define _GNU_SOURCE
#include "fd_record.h"
#include "fd_table.h"
#include "hub_internal.h"
#include "recvq.h"

#include "greenlet/sys.h"
#include <green/hub_hooks.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Managed fds (green_fd_manage) are known process-wide, because an fd may
 * be made in one thread, waited on by another thread's hub and closed by a
 * third.  Per fd: 0 while unmanaged, TOKEN_UNCLAIMED once managed, then a
 * token unique to the edge-triggered registration of the hub that last
 * claimed it (fd_slot_t.managed keeps its copy).  A close or a takeover in
 * any thread thus shows to a hub as a token that is no longer its own,
 * without a system call.  The table (src/fd_table.h) takes no lock. */
#define TOKEN_UNCLAIMED 1u

/* The one process-wide per-fd table (fd_record.h): the token, io's
 * settings and an interposition layer's state, in one record. */
static fd_table_t fd_records = FD_TABLE_INIT(struct hub_fd_record);
static _Atomic uint64_t next_token = TOKEN_UNCLAIMED + 1;

struct hub_fd_record *hub_fd_record(int fd, int create)
{
    return fd_table_entry(&fd_records, fd, create);
}

/* fd's token word; NULL out of range, or if its chunk does not exist and
 * create is 0 (the fd was never managed), or without memory. */
static _Atomic uint64_t *fd_token(int fd, int create)
{
    struct hub_fd_record *record = hub_fd_record(fd, create);

    return record != NULL ? &record->token : NULL;
}

void *green_fd_hook_record(int fd, int create)
{
    struct hub_fd_record *record = hub_fd_record(fd, create);

    return record != NULL ? record->hook : NULL;
}

static uint64_t fd_token_get(int fd)
{
    _Atomic uint64_t *token = fd_token(fd, 0);

    return token != NULL ? atomic_load_explicit(token, memory_order_relaxed)
                         : 0;
}

int green_fd_manage(int fd)
{
    _Atomic uint64_t *token;

    if (fd < 0 || (size_t)fd >= FD_TABLE_MAX_FDS)
        return EBADF;
    token = fd_token(fd, 1);
    if (token == NULL)
        return ENOMEM;
    atomic_store_explicit(token, TOKEN_UNCLAIMED, memory_order_relaxed);
    return 0;
}

static unsigned slot_wanted(const fd_slot_t *slot)
{
    return (slot->reader ? POLL_EV_IN : 0u) | (slot->writer ? POLL_EV_OUT : 0u);
}

/* The registration may now exceed what the waiters want; it is trimmed
 * just before the next poll, so a waiter that waits again at once (the
 * usual read loop) costs no extra system call. */
static void mark_dirty(green_hub_t *hub, int fd)
{
    fd_slot_t *slot = &hub->fds[fd];

    if (slot->dirty)
        return;
    if (hub->dirty_count == hub->dirty_capacity) {
        size_t capacity = hub->dirty_capacity ? hub->dirty_capacity * 2 : 64;
        int *dirty = realloc(hub->dirty_fds, capacity * sizeof(*dirty));

        if (dirty == NULL)
            return; /* stays over-registered: its next event retries */
        hub->dirty_fds = dirty;
        hub->dirty_capacity = capacity;
    }
    slot->dirty = 1;
    hub->dirty_fds[hub->dirty_count++] = fd;
}

static void wake_fd_waiters(fd_slot_t *slot, int result)
{
    green_waiter_t *reader = slot->reader, *writer = slot->writer;

    slot->reader = slot->writer = NULL;
    if (reader != NULL)
        green_unpark(reader, result, NULL);
    if (writer != NULL && writer != reader)
        green_unpark(writer, result, NULL);
}

void fd_sync_registrations(green_hub_t *hub)
{
    for (size_t i = 0; i < hub->dirty_count; i++) {
        int fd = hub->dirty_fds[i];
        fd_slot_t *slot = &hub->fds[fd];
        unsigned wanted = slot_wanted(slot);

        slot->dirty = 0;
        /* A managed fd stays registered: edges without a waiter are only
         * noted, so they cannot make the backend spin. */
        if (slot->managed != 0 || wanted == slot->registered)
            continue;
        if (wanted == 0) {
            hub->backend->remove(hub->poller, fd);
        } else if (hub->backend->set(hub->poller, fd, slot->registered,
                                     wanted) != 0) {
            hub->backend->remove(hub->poller, fd);
            wanted = 0;
            wake_fd_waiters(slot, EBADF);
        }
        slot->registered = wanted;
    }
    hub->dirty_count = 0;
}

/* Forget this hub's registration of a managed fd. */
static void forget_managed(fd_slot_t *slot)
{
    slot->managed = 0;
    slot->edges = 0;
    slot->hup = 0;
}

/* Stop watching fd in this hub and wake its waiters with result. */
static void unwatch_fd(green_hub_t *hub, int fd, fd_slot_t *slot, int result)
{
    if (slot->registered != 0)
        hub->backend->remove(hub->poller, fd);
    slot->registered = 0;
    forget_managed(slot);
    wake_fd_waiters(slot, result);
}

/* An edge on a managed fd wakes its waiter, or is noted for the next wait
 * if nobody waits for it. */
static void dispatch_managed(green_hub_t *hub, int fd, fd_slot_t *slot,
                             unsigned events)
{
    if (slot->managed != fd_token_get(fd)) {
        /* Closed or claimed by another hub since: stop watching it here.
         * A waiter retries its call, and its next wait starts afresh. */
        unwatch_fd(hub, fd, slot, 0);
        return;
    }
    if (events & POLL_EV_HUP)
        slot->hup = 1;
    if (events & (POLL_EV_IN | POLL_EV_ERR)) {
        if (slot->reader != NULL)
            green_unpark(slot->reader, 0, NULL);
        else
            slot->edges |= POLL_EV_IN;
    }
    if (events & (POLL_EV_OUT | POLL_EV_ERR)) {
        if (slot->writer != NULL)
            green_unpark(slot->writer, 0, NULL);
        else
            slot->edges |= POLL_EV_OUT;
    }
}

void fd_dispatch(green_hub_t *hub, int fd, unsigned events)
{
    fd_slot_t *slot;

    if (fd == hub->wake_fd) {
        call_take(hub);
        return;
    }
    if (fd < 0 || (size_t)fd >= hub->fd_capacity) {
        hub->backend->remove(hub->poller, fd);
        return;
    }
    slot = &hub->fds[fd];
    if (slot->managed != 0) {
        dispatch_managed(hub, fd, slot, events);
        return;
    }
    if (slot->reader != NULL && (events & (POLL_EV_IN | POLL_EV_ERR)))
        green_unpark(slot->reader, 0, NULL);
    if (slot->writer != NULL && (events & (POLL_EV_OUT | POLL_EV_ERR)))
        green_unpark(slot->writer, 0, NULL);
    mark_dirty(hub, fd);
}

/* Claim a managed fd for this hub: register it edge-triggered, once for
 * its life here.  The token moves only if the fd is still the managed one
 * seen by the caller: a close racing in another thread must not make the
 * fd's next user managed.  Returns 0 (claimed or not) or the backend's
 * errno code. */
static int claim_managed(green_hub_t *hub, int fd, fd_slot_t *slot,
                         uint64_t token)
{
    uint64_t mine =
        atomic_fetch_add_explicit(&next_token, 1, memory_order_relaxed);
    int err;

    if (!atomic_compare_exchange_strong(fd_token(fd, 0), &token, mine))
        return 0;
    err = hub->backend->watch_edge(hub->poller, fd, slot->registered);
    if (err != 0)
        return err;
    slot->managed = mine;
    slot->registered = POLL_EV_IN | POLL_EV_OUT;
    return 0;
}

/* An unmanaged fd: a fresh wait always tells the backend, because the fd
 * may have been closed and its number reused behind the hub's back. */
static int register_unmanaged(green_hub_t *hub, int fd, fd_slot_t *slot,
                              unsigned events)
{
    unsigned wanted = slot_wanted(slot) | events;
    int err;

    if (wanted == slot->registered &&
        (slot->reader != NULL || slot->writer != NULL))
        return 0;
    err = hub->backend->set(hub->poller, fd, slot->registered, wanted);
    if (err == 0)
        slot->registered = wanted;
    return err;
}

int green_wait_fd(int fd, int events, double timeout)
{
    green_waiter_t w;

    return green_wait_fd_waiter(&w, fd, events, timeout);
}

fd_slot_t *fd_slot(green_hub_t *hub, int fd)
{
    if ((size_t)fd >= hub->fd_capacity) {
        fd_slot_t *fds =
            fd_array_grow(hub->fds, &hub->fd_capacity, sizeof(*fds), fd);
        if (fds == NULL)
            return NULL;
        hub->fds = fds;
    }
    return &hub->fds[fd];
}

/* A readiness waiter or an operation has the place events asks for. */
static int slot_busy(const fd_slot_t *slot, int events)
{
    return ((events & GREEN_READ) &&
            (slot->reader != NULL || slot->op_reader != NULL)) ||
           ((events & GREEN_WRITE) &&
            (slot->writer != NULL || slot->op_writer != NULL));
}

int fd_claim_op(green_hub_t *hub, int fd, int events, green_waiter_t *w)
{
    fd_slot_t *slot = fd_slot(hub, fd);

    if (slot == NULL)
        return ENOMEM;
    if (slot_busy(slot, events))
        return EBUSY;
    if (events & GREEN_READ)
        slot->op_reader = w;
    else
        slot->op_writer = w;
    return 0;
}

void fd_release_op(green_hub_t *hub, int fd, green_waiter_t *w)
{
    /* The table may have moved while parked. */
    fd_slot_t *slot = &hub->fds[fd];

    if (slot->op_reader == w)
        slot->op_reader = NULL;
    if (slot->op_writer == w)
        slot->op_writer = NULL;
}

/* Make w (initialised) fd's waiter for events until hub_fd_unwatch.
 * FD_READY instead if the fd is ready already (a regular file, or a
 * managed fd's noted edge, now used up), or an error. */
static int hub_fd_watch(green_hub_t *hub, int fd, int events, green_waiter_t *w)
{
    fd_slot_t *slot = fd_slot(hub, fd);
    uint64_t token;
    int err = 0;

    if (slot == NULL)
        return ENOMEM;
    if (slot_busy(slot, events))
        return EBUSY;
    /* Bytes the fd's multishot receive queued are what a read gets. */
    if ((events & GREEN_READ) && recvq_ready(slot->recvq))
        return FD_READY;
    token = hub->backend->watch_edge != NULL ? fd_token_get(fd) : 0;
    if (token != slot->managed) {
        forget_managed(slot);
        if (token != 0)
            err = claim_managed(hub, fd, slot, token);
    }
    if (err == 0 && slot->managed == 0)
        err = register_unmanaged(hub, fd, slot, (unsigned)events);
    if (err != 0)
        return err == EPERM ? FD_READY : err; /* EPERM: a regular file */
    /* A managed fd costs no system call: its registration stands, and an
     * edge that came while nobody waited, or a hang-up, which no new edge
     * will announce again, is the answer already. */
    if (slot->hup && (events & GREEN_READ))
        return FD_READY;
    if (slot->edges & (unsigned)events) {
        slot->edges &= (unsigned char)~(unsigned)events;
        return FD_READY;
    }
    if (events & GREEN_READ)
        slot->reader = w;
    if (events & GREEN_WRITE)
        slot->writer = w;
    hub->fd_waiters++;
    return 0;
}

/* Undo hub_fd_watch.  missed: w may have been woken by the fd without
 * using its readiness (a select that another case won), so a managed fd
 * keeps it as an edge for its next wait. */
static void hub_fd_unwatch(green_hub_t *hub, int fd, int events,
                           green_waiter_t *w, int missed)
{
    /* The table may have moved while parked. */
    fd_slot_t *slot = &hub->fds[fd];

    if (slot->reader == w)
        slot->reader = NULL;
    if (slot->writer == w)
        slot->writer = NULL;
    hub->fd_waiters--;
    if (slot->managed == 0)
        mark_dirty(hub, fd);
    else if (missed)
        slot->edges |= (unsigned char)events;
}

static int hub_fd_events_valid(int fd, int events)
{
    return fd >= 0 && (events & (GREEN_READ | GREEN_WRITE)) != 0 &&
           (events & ~(GREEN_READ | GREEN_WRITE)) == 0;
}

int green_wait_fd_waiter(green_waiter_t *w, int fd, int events, double timeout)
{
    green_hub_t *hub;
    task_t *task;
    int err;

    if (w == NULL || !hub_fd_events_valid(fd, events) || isnan(timeout))
        return EINVAL;
    err = hub_caller(&hub, &task);
    if (err != 0)
        return err;
    if (task->killed)
        return ECANCELED;
    green_waiter_init(w);
    err = hub_fd_watch(hub, fd, events, w);
    if (err != 0)
        return err == FD_READY ? 0 : err;
    task->block_fd = fd;
    task->block_events = (unsigned)events;
    err = hub_park(hub, task, w, timeout < 0 ? -1.0 : green_now() + timeout,
                   BLOCK_FD);
    hub_fd_unwatch(hub, fd, events, w, 0);
    return err == PARK_OWN_TIMEOUT ? ETIMEDOUT : err;
}

int fd_watch(int fd, int events, green_waiter_t *w)
{
    green_hub_t *hub;
    task_t *task;
    int err;

    if (!hub_fd_events_valid(fd, events))
        return EINVAL;
    err = hub_caller(&hub, &task);
    return err != 0 ? err : hub_fd_watch(hub, fd, events, w);
}

void fd_unwatch(int fd, int events, green_waiter_t *w, int missed)
{
    hub_fd_unwatch(hub_get(), fd, events, w, missed);
}

void green_notify_close(int fd)
{
    green_hub_t *hub = green_tls_hub;
    struct hub_fd_record *record = hub_fd_record(fd, 0);
    fd_slot_t *slot;

    /* For every hub, whichever thread closes: the number may be reused. */
    if (record != NULL) {
        atomic_store_explicit(&record->token, 0, memory_order_relaxed);
        atomic_store(&record->recvq, 0);
    }
    if (hub == NULL || fd < 0 || (size_t)fd >= hub->fd_capacity)
        return;
    recvq_close(hub, fd);
    slot = &hub->fds[fd];
    unwatch_fd(hub, fd, slot, EBADF);
    /* An operation holds the file open: cancel it before the close (a
     * listener must refuse connections at once), and wake its owner to
     * wait for the cancel. */
    if ((slot->op_reader != NULL || slot->op_writer != NULL) &&
        hub->backend->cancel_ops != NULL)
        hub->backend->cancel_ops(hub->poller, fd);
    if (slot->op_reader != NULL)
        green_unpark(slot->op_reader, EBADF, NULL);
    if (slot->op_writer != NULL)
        green_unpark(slot->op_writer, EBADF, NULL);
}

int green_close_fd(int fd)
{
    if (fd < 0)
        return EBADF;
    green_notify_close(fd);
    return sys_libc()->close(fd) == 0 ? 0 : errno;
}

/* One hook for every hub (green/hub_hooks.h): interposition layers are
 * process-wide too. */
static _Atomic(green_before_poll_fn) before_poll_hook;

green_before_poll_fn green_hub_set_before_poll(green_before_poll_fn hook)
{
    return atomic_exchange(&before_poll_hook, hook);
}

void fd_before_poll(void)
{
    green_before_poll_fn hook =
        atomic_load_explicit(&before_poll_hook, memory_order_acquire);

    if (hook != NULL)
        hook();
}

/* A forked child's hub has a new poller: register the fds that have
 * waiters again. */
void fd_after_fork(green_hub_t *hub)
{
    for (size_t fd = 0; fd < hub->fd_capacity; fd++) {
        fd_slot_t *slot = &hub->fds[fd];
        unsigned wanted = slot_wanted(slot);

        /* Managed fds are claimed again, edge-triggered, at their next
         * wait; meanwhile their waiters are watched like any other. */
        forget_managed(slot);
        slot->registered = 0;
        if (wanted == 0)
            continue;
        if (hub->backend->set(hub->poller, (int)fd, 0, wanted) == 0)
            slot->registered = wanted;
        else
            wake_fd_waiters(slot, EBADF);
    }
}

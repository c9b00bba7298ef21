/*
 * The hub: one event loop per OS thread, running in its own greenlet.
 *
 * Loop pass: run the tasks that were ready when the pass began, poll the
 * backend (without waiting if anything is ready), fire the timers that are
 * due.  Tasks park by switching to the hub greenlet; green_unpark() queues
 * them.  When nothing could ever wake the main greenlet, its park returns
 * EDEADLK (or green_hub_run() returns).
 */
#define _GNU_SOURCE
#include "fd_record.h"
#include "fd_table.h"
#include "hub_internal.h"
#include "recvq.h"

#include "greenlet/sys.h"
#include <green/hub_hooks.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#define POLL_BATCH 64
/* The longest single backend wait; a longer timer just waits again. */
#define MAX_WAIT_MS (24 * 3600 * 1000)

/* The calling thread's hub (hub_existing() reads it inline). */
__thread green_hub_t *green_tls_hub;
static __thread green_backend_t tls_backend_choice;

/* Every live hub, for fork's child.  Lock order: hubs_lock, then a hub's
 * calls_lock. */
static pthread_mutex_t hubs_lock = PTHREAD_MUTEX_INITIALIZER;
static green_hub_t *hubs;

/* Destroys a thread's hub when the thread exits.  Made at load time so
 * that (glibc runs key destructors in creation order) it runs before the
 * greenlet layer's own thread-exit cleanup. */
static pthread_key_t hub_key;
static int hub_key_made;

static void hub_destroy(green_hub_t *hub);

static void hub_key_destructor(void *value)
{
    green_hub_t *hub = value;

    if (hub != NULL && hub == green_tls_hub)
        hub_destroy(hub);
}

__attribute__((constructor)) static void hub_key_create(void)
{
    hub_key_made = pthread_key_create(&hub_key, hub_key_destructor) == 0;
}

double green_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- Ready queue ---------------------------------------------------- */

void hub_ready_push(green_hub_t *hub, task_t *task)
{
    task_t *last = hub->ready.ready_prev;

    if (task->queued)
        return;
    task->queued = 1;
    task->ready_next = &hub->ready;
    task->ready_prev = last;
    last->ready_next = task;
    hub->ready.ready_prev = task;
    hub->ready_count++;
}

void hub_ready_remove(green_hub_t *hub, task_t *task)
{
    if (!task->queued)
        return;
    task->ready_prev->ready_next = task->ready_next;
    task->ready_next->ready_prev = task->ready_prev;
    task->ready_prev = task->ready_next = NULL;
    task->queued = 0;
    hub->ready_count--;
}

/* ---- Error hook ---------------------------------------------------- */

static void default_error_hook(const char *thread_name, int err)
{
    fprintf(stderr, "libgreen: %s ended with error %d (%s)\n", thread_name, err,
            strerror(err));
}

void hub_report_error(green_hub_t *hub, const char *name, int err)
{
    hub->error_hook(name, err);
}

green_error_hook_fn green_hub_set_error_hook(green_error_hook_fn hook)
{
    green_hub_t *hub = hub_get();
    green_error_hook_fn previous;

    if (hub == NULL)
        return NULL;
    previous = hub->error_hook;
    hub->error_hook = hook != NULL ? hook : default_error_hook;
    return previous;
}

/* ---- Timers -------------------------------------------------------- */

struct green_timer {
    uint32_t tag; /* TAG_TIMER until it fires or is cancelled */
    timer_node_t node;
    green_hub_t *hub;
    void (*fn)(void *);
    void *arg;
};

static void public_timer_free(struct green_timer *timer)
{
    tag_clear(&timer->tag);
    free(timer);
}

static void public_timer_fire(timer_node_t *node)
{
    struct green_timer *timer = container_of(node, struct green_timer, node);
    void (*fn)(void *) = timer->fn;
    void *arg = timer->arg;

    public_timer_free(timer);
    fn(arg);
}

int green_timer_start(green_timer_t **out, double seconds, void (*fn)(void *),
                      void *arg)
{
    green_hub_t *hub;
    struct green_timer *timer;

    if (out == NULL || fn == NULL || isnan(seconds) || seconds < 0)
        return EINVAL;
    hub = hub_get();
    if (hub == NULL)
        return ENOMEM;
    timer = malloc(sizeof(*timer));
    if (timer == NULL)
        return ENOMEM;
    timer_node_init(&timer->node, public_timer_fire);
    timer->tag = TAG_TIMER;
    timer->hub = hub;
    timer->fn = fn;
    timer->arg = arg;
    if (timer_heap_push(&hub->timers, &timer->node, green_now() + seconds)) {
        free(timer);
        return ENOMEM;
    }
    *out = timer;
    return 0;
}

int green_timer_cancel(green_timer_t *timer)
{
    if (timer == NULL)
        return EINVAL;
    if (tag_check(timer, timer->tag, TAG_TIMER, __func__) != 0)
        return EINVAL;
    if (timer->hub != green_tls_hub)
        return EPERM;
    timer_heap_remove(&timer->hub->timers, &timer->node);
    public_timer_free(timer);
    return 0;
}

static void fire_timers(green_hub_t *hub)
{
    /* Timers scheduled by these callbacks wait for the next pass. */
    uint64_t scheduled_before = hub->timers.next_seq;
    timer_node_t *node;

    /* No timer, no clock read: a pass that only hands work between green
     * threads would otherwise spend a third of its time here. */
    if (timer_heap_top(&hub->timers) == NULL)
        return;
    double now = green_now();

    while ((node = timer_heap_top(&hub->timers)) != NULL &&
           node->deadline <= now && node->seq < scheduled_before) {
        timer_heap_remove(&hub->timers, node);
        node->fire(node);
    }
}

/* ---- Parking -------------------------------------------------------- */

void green_waiter_init(green_waiter_t *w)
{
    if (w == NULL)
        return;
    memset(w, 0, sizeof(*w));
}

static void park_deadline_fired(timer_node_t *node)
{
    task_t *task = container_of(node, task_t, timer);
    green_waiter_t *w = task->parked;
    int result = PARK_OWN_TIMEOUT;

    if (w == NULL || !w->pending)
        return;
    if (task->armed_scope != NULL) {
        task->armed_scope->fired = 1;
        result = ETIMEDOUT;
    }
    green_unpark(w, result, NULL);
}

static int hub_restart(green_hub_t *hub);

/* Switch from task to the hub; returns when the hub resumes task, with
 * the error it was resumed with (GREENLET_EXIT for a kill). */
static int switch_to_hub(green_hub_t *hub, task_t *task)
{
    int err;

    if (!task->is_main)
        return greenlet_switch(hub->greenlet, NULL, NULL);
    for (;;) {
        err = greenlet_switch(hub->greenlet, hub, NULL);
        if (!greenlet_dead(hub->greenlet))
            return err;
        /* A hub callback ended the hub greenlet: report it, start a new
         * hub greenlet on the same state, and keep waiting. */
        hub_report_error(hub, "hub", err);
        if (hub_restart(hub) != 0)
            return ENOMEM;
    }
}

int hub_park(green_hub_t *hub, task_t *task, green_waiter_t *w, double deadline,
             task_block_t block)
{
    green_timeout_t *scope;
    int err;

    if (task->killed)
        return ECANCELED;
    task->armed_scope = NULL;
    scope = task->timeouts != NULL ? timeout_earliest(task) : NULL;
    if (scope != NULL && (deadline < 0 || scope->deadline <= deadline)) {
        deadline = scope->deadline;
        task->armed_scope = scope;
    }
    w->greenlet = task->greenlet;
    w->hub_private = task;
    w->value = NULL;
    w->result = 0;
    if (deadline >= 0) {
        task->timer.fire = park_deadline_fired;
        if (timer_heap_push(&hub->timers, &task->timer, deadline) != 0)
            return ENOMEM;
    }
    w->pending = 1;
    task->parked = w;
    task->block = block;
    err = switch_to_hub(hub, task);
    task->parked = NULL;
    task->block = BLOCK_NONE;
    timer_heap_remove(&hub->timers, &task->timer);
    if (err != 0) {
        /* Thrown into (a kill), or the hub could not be restarted. */
        w->pending = 0;
        return err == ENOMEM ? ENOMEM : ECANCELED;
    }
    return w->result;
}

int hub_yield(green_hub_t *hub, task_t *task)
{
    int err;

    if (task->killed)
        return ECANCELED;
    hub_ready_push(hub, task);
    task->block = BLOCK_YIELD;
    err = switch_to_hub(hub, task);
    task->block = BLOCK_NONE;
    if (err != 0 || task->killed)
        return err == ENOMEM ? ENOMEM : ECANCELED;
    if (task->timeouts != NULL) {
        green_timeout_t *scope = timeout_earliest(task);

        if (scope->deadline <= green_now()) {
            scope->fired = 1;
            return ETIMEDOUT;
        }
    }
    return 0;
}

int green_park(green_waiter_t *w, double timeout, void **value)
{
    green_hub_t *hub;
    task_t *task;
    int err;

    if (value != NULL)
        *value = NULL;
    if (w == NULL || isnan(timeout))
        return EINVAL;
    err = hub_caller(&hub, &task);
    if (err != 0)
        return err;
    err = hub_park(hub, task, w, timeout < 0 ? -1.0 : green_now() + timeout,
                   BLOCK_PARK);
    if (err == PARK_OWN_TIMEOUT)
        err = ETIMEDOUT;
    if (value != NULL)
        *value = w->value;
    return err;
}

int green_unpark(green_waiter_t *w, int result, void *value)
{
    task_t *task;

    if (w == NULL)
        return EINVAL;
    if (!w->pending)
        return EALREADY;
    task = w->hub_private;
    if (task->hub != green_tls_hub)
        return EPERM;
    w->pending = 0;
    w->result = result;
    w->value = value;
    timer_heap_remove(&task->hub->timers, &task->timer);
    hub_ready_push(task->hub, task);
    return 0;
}

task_t *hub_current_task(green_hub_t *hub)
{
    task_t *task = hub->current;

    if (task == NULL || greenlet_current() != task->greenlet)
        return NULL;
    return task;
}

int hub_caller(green_hub_t **hub, task_t **task)
{
    *hub = hub_get();
    if (*hub == NULL)
        return ENOMEM;
    *task = hub_current_task(*hub);
    return *task == NULL ? EPERM : 0;
}

/* ---- The loop ------------------------------------------------------- */

static void resume(green_hub_t *hub, task_t *task)
{
    greenlet_t *g;
    int err;

    if (task->greenlet == NULL && thread_launch(hub, (green_thread_t *)task))
        return; /* could not start: finished with the error */
    g = task->greenlet;
    hub->current = task;
    watchdog_mark(hub, task);
    if (task->kill_pending) {
        task->kill_pending = 0;
        err = greenlet_throw(g, GREENLET_EXIT, NULL);
    } else {
        err = greenlet_switch(g, task, NULL);
    }
    /* task may be recycled by now, unless its greenlet died under it. */
    hub->current = NULL;
    watchdog_mark(hub, NULL);
    if (greenlet_dead(g)) {
        thread_worker_died(hub, (green_thread_t *)task, g, err);
        greenlet_destroy(g);
    }
}

static void run_ready(green_hub_t *hub)
{
    /* Only the tasks ready when the pass began: a task that yields runs
     * again on the next pass, after the poll. */
    size_t n = hub->ready_count;

    while (n-- > 0 && hub->ready_count > 0 && !hub->stopping) {
        task_t *task = hub->ready.ready_next;

        hub_ready_remove(hub, task);
        resume(hub, task);
    }
}

/* Nothing is ready and nothing could make anything ready. */
static int hub_idle(green_hub_t *hub)
{
    return hub->ready_count == 0 && hub->timers.count == 0 &&
           hub->fd_waiters == 0 && hub->keepalive == 0 && !call_pending(hub);
}

static void wake_main_when_idle(green_hub_t *hub)
{
    green_waiter_t *w = hub->main_task.parked;

    if (w != NULL && w->pending)
        green_unpark(w, w == hub->run_waiter ? 0 : EDEADLK, NULL);
}

static void poll_io(green_hub_t *hub)
{
    poll_event_t events[POLL_BATCH];
    timer_node_t *next;
    int timeout_ms = -1;
    int n;

    /* First: what it makes ready must not wait behind a blocking poll. */
    fd_before_poll();
    /* Calls posted from this very thread did not write the wake-up fd:
     * they must not wait behind a blocking poll. */
    if (hub->ready_count > 0 || call_pending(hub)) {
        /* Without fd waiters only cross-thread calls can come in, and
         * their flag is visible without a system call. */
        if (hub->fd_waiters == 0 && hub->dirty_count == 0) {
            if (call_pending(hub))
                call_take(hub);
            return;
        }
        timeout_ms = 0;
    } else if ((next = timer_heap_top(&hub->timers)) != NULL) {
        double left_ms = (next->deadline - green_now()) * 1000.0;

        /* Rounded up: waking early would only spin until the deadline. */
        timeout_ms = left_ms <= 0             ? 0
                     : left_ms >= MAX_WAIT_MS ? MAX_WAIT_MS
                                              : (int)ceil(left_ms);
    }
    fd_sync_registrations(hub);
    n = hub->backend->wait(hub->poller, timeout_ms, events, POLL_BATCH);
    for (int i = 0; i < n; i++)
        fd_dispatch(hub, events[i].fd, events[i].events);
    if (call_pending(hub))
        call_take(hub);
}

/* The end of a pass: the idle check, the poll and the timers. */
static void finish_pass(green_hub_t *hub)
{
    if (hub_idle(hub)) {
        wake_main_when_idle(hub);
        if (hub->ready_count > 0)
            return;
    }
    poll_io(hub);
    fire_timers(hub);
}

static void *hub_loop(void *value)
{
    green_hub_t *hub = value;

    hub->current = NULL;
    watchdog_mark(hub, NULL);
    /* A task switches to a running hub in the middle of a pass, from
     * run_ready(): a fresh hub starts there too, with the end of a pass,
     * so that work is ordered the same whether the hub ran before or not
     * (a zero-delay timer fires before a green_sleep(0) returns). */
    while (!hub->stopping) {
        finish_pass(hub);
        if (call_pending(hub))
            call_take(hub);
        run_ready(hub);
    }
    return NULL;
}

static int hub_restart(green_hub_t *hub)
{
    greenlet_attr_t attr = {.stack_size = 0, .name = "hub"};
    greenlet_t *old = hub->greenlet, *fresh;

    if (greenlet_new(&fresh, hub_loop, hub->main_greenlet, &attr) != 0)
        return ENOMEM;
    hub->greenlet = fresh;
    thread_hub_reparent(hub, fresh);
    greenlet_destroy(old);
    return 0;
}

int green_hub_run(void)
{
    green_hub_t *hub = hub_get();
    green_waiter_t w;
    task_t *task;
    int err;

    if (hub == NULL)
        return ENOMEM;
    task = hub_current_task(hub);
    if (task == NULL || !task->is_main)
        return EPERM;
    green_waiter_init(&w);
    hub->run_waiter = &w;
    err = hub_park(hub, task, &w, -1.0, BLOCK_RUN);
    hub->run_waiter = NULL;
    return err;
}

/* ---- Creation, destruction, fork ------------------------------------ */

static const poll_backend_t *backend_for(green_backend_t choice)
{
    if (choice == GREEN_BACKEND_DEFAULT) {
        const char *env = getenv("GREEN_HUB_BACKEND");

        if (env != NULL && strcmp(env, "poll") == 0)
            return &poll_backend_poll;
#ifdef GREEN_HAVE_URING
        /* io_uring measures better than epoll (docs/benchmarks.md). */
        if (env == NULL || strcmp(env, "io_uring") == 0)
            return &poll_backend_uring;
#endif
#ifdef __linux__
        return &poll_backend_epoll;
#else
        return &poll_backend_poll;
#endif
    }
#ifdef GREEN_HAVE_URING
    if (choice == GREEN_BACKEND_IO_URING)
        return &poll_backend_uring;
#endif
#ifdef __linux__
    if (choice == GREEN_BACKEND_EPOLL)
        return &poll_backend_epoll;
#endif
    return &poll_backend_poll;
}

int green_hub_set_backend(green_backend_t backend)
{
    if (backend != GREEN_BACKEND_DEFAULT && backend != GREEN_BACKEND_EPOLL &&
        backend != GREEN_BACKEND_POLL && backend != GREEN_BACKEND_IO_URING)
        return EINVAL;
#ifndef __linux__
    if (backend == GREEN_BACKEND_EPOLL)
        return ENOTSUP;
#endif
#ifndef GREEN_HAVE_URING
    if (backend == GREEN_BACKEND_IO_URING)
        return ENOTSUP;
#endif
    if (green_tls_hub != NULL)
        return EBUSY;
    tls_backend_choice = backend;
    return 0;
}

const char *green_hub_backend_name(void)
{
    green_hub_t *hub = hub_get();

    return hub != NULL ? hub->backend->name : NULL;
}

/* The kernel objects: a poller with the wake-up fd registered.  A
 * backend the kernel refuses (io_uring) gives way to its fallback. */
static int open_kernel_objects(green_hub_t *hub)
{
    int err = hub->backend->create(&hub->poller);

    if (err != 0 && hub->backend->fallback != NULL) {
        hub->backend = hub->backend->fallback;
        err = hub->backend->create(&hub->poller);
    }
    if (err != 0)
        return err;
    err = call_open_wake(hub);
    if (err == 0)
        err = hub->backend->set(hub->poller, hub->wake_fd, 0, POLL_EV_IN);
    if (err != 0) {
        call_close_wake(hub);
        hub->backend->destroy(hub->poller);
        hub->poller = NULL;
    }
    return err;
}

/* The registry and every call queue are locked across fork, so that the
 * child gets them consistent and unlocked (lock order: hubs_lock, then
 * calls_lock). */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&hubs_lock);
    for (green_hub_t *hub = hubs; hub != NULL; hub = hub->list_next)
        pthread_mutex_lock(&hub->calls_lock);
}

static void atfork_parent(void)
{
    for (green_hub_t *hub = hubs; hub != NULL; hub = hub->list_next)
        pthread_mutex_unlock(&hub->calls_lock);
    pthread_mutex_unlock(&hubs_lock);
}

/* The child keeps its thread's hub state (its green threads are copies
 * too) but gets fresh kernel objects: the epoll instance and eventfd are
 * shared with the parent, and touching them would disturb its hub.  The
 * other threads, and so their hubs, are gone: their calls are closed (a
 * call to one fails with EPIPE; those they had accepted are the parent's
 * to run) and the registry forgets them. */
static void atfork_child(void)
{
    green_hub_t *hub = green_tls_hub;

    for (green_hub_t *other = hubs; other != NULL; other = other->list_next) {
        if (other != hub)
            other->calls_closed = 1;
        pthread_mutex_unlock(&other->calls_lock);
    }
    hubs = hub;
    pthread_mutex_unlock(&hubs_lock);
    if (hub == NULL)
        return;
    hub->list_next = NULL;
    hub->os_thread = pthread_self();
    hub->backend->destroy(hub->poller); /* closes our copy only */
    hub->poller = NULL;
    call_close_wake(hub);
    if (open_kernel_objects(hub) != 0) {
        /* Without a poller the hub cannot wait; fail loudly rather than
         * hang: every fd waiter gets EBADF. */
        fprintf(stderr, "libgreen: cannot remake the hub after fork\n");
        abort();
    }
    atomic_store(&hub->wake_pending, hub->calls != NULL);
    fd_after_fork(hub);
    watchdog_after_fork(hub);
}

static void register_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static green_hub_t *hub_create(void)
{
    static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
    greenlet_attr_t attr = {.stack_size = 0, .name = "hub"};
    greenlet_t *main_greenlet = greenlet_main();
    green_hub_t *hub;

    if (main_greenlet == NULL)
        return NULL;
    hub = calloc(1, sizeof(*hub));
    if (hub == NULL)
        return NULL;
    hub->backend = backend_for(tls_backend_choice);
    hub->wake_fd = hub->wake_write_fd = -1;
    if (open_kernel_objects(hub) != 0) {
        free(hub);
        return NULL;
    }
    hub->threads = thread_hub_new();
    if (hub->threads == NULL ||
        greenlet_new(&hub->greenlet, hub_loop, main_greenlet, &attr) != 0) {
        free(hub->threads);
        call_close_wake(hub);
        hub->backend->destroy(hub->poller);
        free(hub);
        return NULL;
    }
    hub->main_greenlet = main_greenlet;
    hub->os_thread = pthread_self();
    hub->main_task.greenlet = main_greenlet;
    hub->main_task.hub = hub;
    hub->main_task.is_main = 1;
    timer_node_init(&hub->main_task.timer, park_deadline_fired);
    hub->current = &hub->main_task;
    hub->ready.ready_next = hub->ready.ready_prev = &hub->ready;
    timer_heap_init(&hub->timers);
    pthread_mutex_init(&hub->calls_lock, NULL);
    hub->error_hook = default_error_hook;

    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&hubs_lock);
    hub->list_next = hubs;
    hubs = hub;
    pthread_mutex_unlock(&hubs_lock);
    green_tls_hub = hub;
    if (hub_key_made)
        pthread_setspecific(hub_key, hub);
    watchdog_hub_init(hub);
    return hub;
}

green_hub_t *hub_get(void)
{
    green_hub_t *hub = green_tls_hub;

    return hub != NULL ? hub : hub_create();
}

green_hub_t *green_hub_current(void)
{
    return hub_get();
}

greenlet_t *green_hub_greenlet(green_hub_t *hub)
{
    return hub != NULL ? hub->greenlet : NULL;
}

static void free_pending_timers(green_hub_t *hub)
{
    for (size_t i = 0; i < hub->timers.count; i++) {
        timer_node_t *node = hub->timers.entries[i].node;

        if (node->fire == public_timer_fire)
            public_timer_free(container_of(node, struct green_timer, node));
        else
            node->index = TIMER_DETACHED;
    }
    hub->timers.count = 0;
    timer_heap_free(&hub->timers);
}

static void hub_destroy(green_hub_t *hub)
{
    green_hub_t **link;

    pthread_mutex_lock(&hubs_lock);
    for (link = &hubs; *link != NULL && *link != hub;
         link = &(*link)->list_next)
        ;
    if (*link != NULL)
        *link = hub->list_next;
    pthread_mutex_unlock(&hubs_lock);

    watchdog_hub_destroy(hub);
    hub->stopping = 1;
    thread_hub_teardown(hub);
    /* The hub greenlet, if started, is suspended in resume(): the kill
     * makes its loop see `stopping` and return. */
    hub->current = &hub->main_task;
    greenlet_destroy(hub->greenlet);
    hub->greenlet = NULL;
    call_close(hub);
    free_pending_timers(hub);
    hub->backend->destroy(hub->poller);
    recvq_hub_destroy(hub);
    call_close_wake(hub);
    free(hub->threads);
    free(hub->fds);
    free(hub->dirty_fds);
    if (green_tls_hub == hub) {
        green_tls_hub = NULL;
        if (hub_key_made)
            pthread_setspecific(hub_key, NULL);
    }
    call_drop_hub(hub, 1);
}

int green_hub_destroy(void)
{
    green_hub_t *hub = green_tls_hub;

    if (hub == NULL)
        return 0;
    if (greenlet_current() != hub->main_greenlet)
        return EPERM;
    hub_destroy(hub);
    return 0;
}

/*
 * Green threads.
 *
 * A spawn only takes a thread struct (from the hub's free list) and queues
 * it: no greenlet, no system call.  The hub starts the thread on a worker
 * greenlet, a child of the hub greenlet that runs thread after thread:
 * when a thread's function returns, its worker finishes it (result, links,
 * joiners) and offers itself to the hub for the next one.  So a trivial
 * spawn + run + wait costs two switches and no allocation.
 */
#define _GNU_SOURCE
#include "hub_internal.h"
#include "task_scope.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Idle workers kept per hub, and recycled thread structs.  Builds made
 * to catch misuse recycle nothing, so that a use after the end is a use
 * after free to the sanitizers (docs/building.md). */
#define IDLE_WORKERS_MAX 64
#define FREE_THREADS_MAX 4096
#if defined(GREEN_NO_RECYCLE)
#define THREAD_RECYCLE 0
#else
#define THREAD_RECYCLE 1
#endif

/* A hub's green threads: the registry, and what it recycles. */
struct thread_hub {
    green_thread_t *live; /* threads not dead, newest first */
    size_t live_count;
    green_thread_t *free_threads; /* recycled structs, linked by live_next */
    size_t free_count;
    greenlet_t **idle_workers; /* finished worker greenlets, reusable */
    size_t idle_count, idle_capacity;
    greenlet_t *exiting_worker; /* a worker returning for good */
    uint64_t next_id;
};

struct thread_hub *thread_hub_new(void)
{
    struct thread_hub *threads = calloc(1, sizeof(*threads));

    if (threads != NULL)
        threads->next_id = 1;
    return threads;
}

/* 0 if t is a live green thread handle; EINVAL for NULL, or (reported on
 * stderr) for a released, garbage or foreign handle. */
static int thread_check(const green_thread_t *t, const char *fn)
{
    return t == NULL ? EINVAL : tag_check(t, t->task.tag, TAG_THREAD, fn);
}

#define thread_enter(t) thread_check(t, __func__)

/* ---- Structs: allocation, registry, references ---------------------- */

static green_thread_t *thread_alloc(struct thread_hub *threads)
{
    green_thread_t *t = threads->free_threads;

    if (t != NULL) {
        threads->free_threads = t->live_next;
        threads->free_count--;
    } else {
        t = malloc(sizeof(*t));
        if (t == NULL)
            return NULL;
    }
    memset(t, 0, sizeof(*t));
    return t;
}

static void thread_free(green_thread_t *t)
{
    green_hub_t *hub = t->task.hub;

    free(t->name);
    tag_clear(&t->task.tag);
    /* Structs of a destroyed hub, or released on another OS thread, go
     * back to malloc. */
    if (THREAD_RECYCLE && hub != NULL && hub == hub_existing() &&
        !hub->stopping && hub->threads->free_count < FREE_THREADS_MAX) {
        t->live_next = hub->threads->free_threads;
        hub->threads->free_threads = t;
        hub->threads->free_count++;
    } else {
        free(t);
    }
}

static void registry_add(struct thread_hub *threads, green_thread_t *t)
{
    t->live_next = threads->live;
    if (threads->live != NULL)
        threads->live->live_prev = t;
    threads->live = t;
    threads->live_count++;
}

static void registry_remove(struct thread_hub *threads, green_thread_t *t)
{
    if (t->live_prev != NULL)
        t->live_prev->live_next = t->live_next;
    else
        threads->live = t->live_next;
    if (t->live_next != NULL)
        t->live_next->live_prev = t->live_prev;
    t->live_prev = t->live_next = NULL;
    threads->live_count--;
}

green_thread_t *green_thread_retain(green_thread_t *t)
{
    if (thread_enter(t) != 0)
        return NULL;
    t->refs++;
    return t;
}

void green_thread_release(green_thread_t *t)
{
    if (thread_enter(t) == 0 && t->refs > 0 && --t->refs == 0)
        thread_free(t);
}

const char *thread_display_name(const green_thread_t *t, char *buf, size_t size)
{
    if (t->name != NULL)
        return t->name;
    snprintf(buf, size, "green-%" PRIu64, t->id);
    return buf;
}

/* ---- The end of a thread -------------------------------------------- */

static void thread_finish(green_thread_t *t, int err, void *value)
{
    green_hub_t *hub = t->task.hub;
    green_waiter_t *joiner;
    thread_link_t *link;

    if (t->task.killed) {
        err = ECANCELED;
        value = NULL;
    }
    t->err = err;
    t->result = value;
    t->state = THREAD_DEAD;
    t->task.timeouts = NULL;
    t->task.greenlet = NULL;
    registry_remove(hub->threads, t);
    while ((joiner = t->joiners) != NULL) {
        t->joiners = joiner->next;
        joiner->prev = joiner->next = NULL;
        green_unpark(joiner, 0, NULL);
    }
    if (t->handle_less && err != 0 && err != ECANCELED) {
        char buf[32];

        hub_report_error(hub, thread_display_name(t, buf, sizeof(buf)), err);
    }
    /* Popped before running: a link may link (it then runs at once, the
     * thread being dead) or unlink. */
    while ((link = t->links) != NULL) {
        green_link_fn fn = link->fn;
        void *arg = link->arg;

        t->links = link->next;
        if (t->links == NULL)
            t->links_tail = NULL;
        if (link->borrowed)
            link->err = err;
        else
            free(link);
        fn(t, arg);
    }
    green_thread_release(t); /* the hub's reference */
}

/* ---- Workers --------------------------------------------------------- */

/* After a thread: either wait in the idle list for the next thread the
 * hub hands over, or end for good (NULL). */
static green_thread_t *worker_next(green_hub_t *hub, greenlet_t *self,
                                   int reusable)
{
    struct thread_hub *threads = hub->threads;
    void *next = NULL;

    if (hub->stopping)
        return NULL;
    if (!THREAD_RECYCLE || !reusable ||
        threads->idle_count >= IDLE_WORKERS_MAX) {
        threads->exiting_worker = self;
        return NULL;
    }
    if (threads->idle_count == threads->idle_capacity) {
        size_t capacity =
            threads->idle_capacity ? threads->idle_capacity * 2 : 8;
        greenlet_t **idle =
            realloc(threads->idle_workers, capacity * sizeof(*idle));

        if (idle == NULL) {
            threads->exiting_worker = self;
            return NULL;
        }
        threads->idle_workers = idle;
        threads->idle_capacity = capacity;
    }
    threads->idle_workers[threads->idle_count++] = self;
    /* An error here is the kill of green_hub_destroy(). */
    if (greenlet_switch(hub->greenlet, NULL, &next) != 0)
        return NULL;
    return next;
}

static void *worker_main(void *value)
{
    green_thread_t *t = value;
    green_hub_t *hub = t->task.hub;
    greenlet_t *self = t->task.greenlet;

    while (t != NULL) {
        int reusable = t->stack_size == 0;

        thread_finish(t, 0, t->fn(t->arg));
        t = worker_next(hub, self, reusable);
    }
    return NULL;
}

int thread_launch(green_hub_t *hub, green_thread_t *t)
{
    struct thread_hub *threads = hub->threads;
    greenlet_t *g;

    if (t->stack_size == 0 && threads->idle_count > 0) {
        g = threads->idle_workers[--threads->idle_count];
    } else {
        greenlet_attr_t attr = {.stack_size = t->stack_size, .name = NULL};
        int err = greenlet_new(&g, worker_main, hub->greenlet, &attr);

        if (err != 0) {
            thread_finish(t, err, NULL);
            return err;
        }
    }
    /* The worker carries the thread's name, for the greenlet layer's stack
     * overflow reports; a failed rename only costs that. */
    if (t->name != NULL ? strcmp(greenlet_name(g), t->name) != 0
                        : greenlet_name(g)[0] != '\0')
        greenlet_set_name(g, t->name != NULL ? t->name : "");
    t->task.greenlet = g;
    t->state = THREAD_STARTED;
    return 0;
}

void thread_worker_died(green_hub_t *hub, green_thread_t *t, greenlet_t *g,
                        int err)
{
    if (hub->threads->exiting_worker == g)
        hub->threads->exiting_worker = NULL;
    else if (t->state != THREAD_DEAD)
        thread_finish(t, err, NULL);
}

void thread_hub_reparent(green_hub_t *hub, greenlet_t *hub_greenlet)
{
    struct thread_hub *threads = hub->threads;

    for (green_thread_t *t = threads->live; t != NULL; t = t->live_next)
        if (t->task.greenlet != NULL)
            greenlet_set_parent(t->task.greenlet, hub_greenlet);
    for (size_t i = 0; i < threads->idle_count; i++)
        greenlet_set_parent(threads->idle_workers[i], hub_greenlet);
}

/* ---- Spawning -------------------------------------------------------- */

static void thread_start_due(timer_node_t *node)
{
    task_t *task = container_of(node, task_t, timer);

    hub_ready_push(task->hub, task);
}

static int spawn(green_thread_t **out, const green_thread_attr_t *attr,
                 green_thread_fn fn, void *arg, double delay)
{
    green_hub_t *hub;
    green_thread_t *t;

    if (fn == NULL || isnan(delay) || delay < 0)
        return EINVAL;
    hub = hub_get();
    if (hub == NULL)
        return ENOMEM;
    t = thread_alloc(hub->threads);
    if (t == NULL)
        return ENOMEM;
    t->task.tag = TAG_THREAD;
    t->task.hub = hub;
    timer_node_init(&t->task.timer, thread_start_due);
    t->fn = fn;
    t->arg = arg;
    t->state = THREAD_NEW;
    t->id = hub->threads->next_id++;
    t->handle_less = out == NULL;
    t->refs = out == NULL ? 1 : 2;
    if (attr != NULL) {
        t->stack_size = attr->stack_size;
        if (attr->name != NULL && (t->name = strdup(attr->name)) == NULL) {
            thread_free(t);
            return ENOMEM;
        }
    }
    if (delay > 0) {
        if (timer_heap_push(&hub->timers, &t->task.timer,
                            green_now() + delay) != 0) {
            thread_free(t);
            return ENOMEM;
        }
    } else {
        hub_ready_push(hub, &t->task);
    }
    registry_add(hub->threads, t);
    if (out != NULL)
        *out = t;
    return 0;
}

int green_spawn(green_thread_t **out, green_thread_fn fn, void *arg)
{
    if (out == NULL)
        return EINVAL;
    return spawn(out, NULL, fn, arg, 0);
}

int green_spawn_attr(green_thread_t **out, const green_thread_attr_t *attr,
                     green_thread_fn fn, void *arg)
{
    if (out == NULL)
        return EINVAL;
    return spawn(out, attr, fn, arg, 0);
}

int green_spawn_n(green_thread_fn fn, void *arg)
{
    return spawn(NULL, NULL, fn, arg, 0);
}

int green_spawn_after(green_thread_t **out, double seconds, green_thread_fn fn,
                      void *arg)
{
    if (out == NULL)
        return EINVAL;
    return spawn(out, NULL, fn, arg, seconds);
}

/* ---- Blocking -------------------------------------------------------- */

int green_sleep(double seconds)
{
    green_hub_t *hub;
    task_t *task;
    green_waiter_t w;
    int err;

    if (isnan(seconds) || seconds < 0)
        return EINVAL;
    err = hub_caller(&hub, &task);
    if (err != 0)
        return err;
    if (seconds == 0)
        return hub_yield(hub, task);
    green_waiter_init(&w);
    err = hub_park(hub, task, &w, green_now() + seconds, BLOCK_SLEEP);
    return err == PARK_OWN_TIMEOUT ? 0 : err;
}

static void joiner_remove(green_thread_t *t, green_waiter_t *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else if (t->joiners == w)
        t->joiners = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

int green_thread_wait(green_thread_t *t, void **result)
{
    green_hub_t *hub;
    task_t *task;
    int err;

    if (result != NULL)
        *result = NULL;
    err = thread_enter(t);
    if (err == 0)
        err = hub_caller(&hub, &task);
    if (err != 0)
        return err;
    if (t->task.hub != hub)
        return EPERM;
    if (task == &t->task)
        return EDEADLK;
    if (t->state != THREAD_DEAD) {
        green_waiter_t w;

        green_waiter_init(&w);
        w.next = t->joiners;
        if (t->joiners != NULL)
            t->joiners->prev = &w;
        t->joiners = &w;
        err = hub_park(hub, task, &w, -1.0, BLOCK_JOIN);
        if (err != 0) {
            /* The thread's end empties the list; still alive: unlink. */
            if (t->state != THREAD_DEAD)
                joiner_remove(t, &w);
            return err == PARK_OWN_TIMEOUT ? ETIMEDOUT : err;
        }
    }
    if (result != NULL)
        *result = t->result;
    return t->err;
}

/* ---- Kill, cancel, exit --------------------------------------------- */

static void cancel_unstarted(green_thread_t *t)
{
    green_hub_t *hub = t->task.hub;

    t->task.killed = 1;
    hub_ready_remove(hub, &t->task);
    timer_heap_remove(&hub->timers, &t->task.timer);
    thread_finish(t, ECANCELED, NULL);
}

int green_thread_cancel(green_thread_t *t)
{
    int err = thread_enter(t);

    if (err != 0)
        return err;
    if (t->task.hub != hub_existing())
        return EPERM;
    if (t->state != THREAD_NEW)
        return EALREADY;
    cancel_unstarted(t);
    return 0;
}

int thread_kill_async(green_thread_t *t)
{
    green_hub_t *hub;
    green_waiter_t *w;
    int err = thread_enter(t);

    if (err != 0)
        return err;
    if (t->state == THREAD_DEAD)
        return 0;
    hub = t->task.hub;
    if (hub != hub_existing())
        return EPERM;
    if (t->state == THREAD_NEW) {
        cancel_unstarted(t);
        return 0;
    }
    t->task.killed = 1;
    /* Parked: wake it by throwing GREENLET_EXIT at its blocking call.  A
     * thread already unparked keeps what it was given; the sticky kill
     * fails its next blocking call. */
    w = t->task.parked;
    if (w != NULL && w->pending) {
        w->pending = 0;
        w->result = ECANCELED;
        w->value = NULL;
        timer_heap_remove(&hub->timers, &t->task.timer);
        t->task.kill_pending = 1;
        hub_ready_push(hub, &t->task);
    }
    return EINPROGRESS;
}

int green_thread_kill(green_thread_t *t)
{
    task_t *self;
    int err = thread_kill_async(t);

    if (err != EINPROGRESS)
        return err;
    self = hub_current_task(t->task.hub);
    if (self == &t->task)
        return green_thread_exit(ECANCELED, NULL);
    if (self == NULL)
        return EINPROGRESS; /* from the hub: cannot wait for the end */
    green_thread_retain(t);
    err = green_thread_wait(t, NULL);
    if (t->state == THREAD_DEAD)
        err = 0;
    green_thread_release(t);
    return err;
}

void *thread_self_arg(green_thread_fn fn)
{
    green_hub_t *hub = hub_existing();
    task_t *task = hub != NULL ? hub_current_task(hub) : NULL;

    if (task == NULL || task->is_main || ((green_thread_t *)task)->fn != fn)
        return NULL;
    return ((green_thread_t *)task)->arg;
}

int green_thread_exit(int err, void *value)
{
    green_hub_t *hub = hub_existing();
    task_t *task = hub != NULL ? hub_current_task(hub) : NULL;

    if (task == NULL || task->is_main)
        return EPERM;
    thread_finish((green_thread_t *)task, err, value);
    if (!hub->stopping)
        hub->threads->exiting_worker = greenlet_current();
    greenlet_exit(0, NULL);
    return EPERM;
}

/* ---- Links ------------------------------------------------------------ */

/* Append link (fn and arg set) to the links of t, alive. */
static void thread_link_append(green_thread_t *t, thread_link_t *link)
{
    link->next = NULL;
    if (t->links_tail != NULL)
        t->links_tail->next = link;
    else
        t->links = link;
    t->links_tail = link;
}

int green_thread_link(green_thread_t *t, green_link_fn fn, void *arg)
{
    thread_link_t *link;
    int err = thread_enter(t);

    if (err != 0)
        return err;
    if (fn == NULL)
        return EINVAL;
    if (t->state == THREAD_DEAD) {
        fn(t, arg);
        return 0;
    }
    link = malloc(sizeof(*link));
    if (link == NULL)
        return ENOMEM;
    link->fn = fn;
    link->arg = arg;
    link->borrowed = 0;
    thread_link_append(t, link);
    return 0;
}

int thread_spawn_child(green_thread_t **out, green_thread_fn fn, void *arg,
                       thread_link_t *link, green_timeout_t *scope)
{
    green_thread_t *t;
    int err = spawn(out, NULL, fn, arg, 0);

    if (err != 0)
        return err;
    t = *out;
    t->refs--; /* only the hub's: the caller's pointer is borrowed */
    link->borrowed = 1;
    thread_link_append(t, link);
    timeout_inherit(&t->task, hub_current_task(t->task.hub), scope);
    return 0;
}

int green_thread_unlink(green_thread_t *t, green_link_fn fn, void *arg)
{
    thread_link_t *prev = NULL;
    int err = thread_enter(t);

    if (err != 0)
        return err;
    if (fn == NULL)
        return EINVAL;
    for (thread_link_t *link = t->links; link != NULL;
         prev = link, link = link->next) {
        if (link->fn != fn || link->arg != arg)
            continue;
        if (prev != NULL)
            prev->next = link->next;
        else
            t->links = link->next;
        if (t->links_tail == link)
            t->links_tail = prev;
        if (!link->borrowed)
            free(link);
        return 0;
    }
    return ENOENT;
}

/* ---- Introspection --------------------------------------------------- */

green_thread_t *green_thread_self(void)
{
    green_hub_t *hub = hub_existing();

    /* Cheap answers first: libgreen_patch asks this on every hooked call. */
    if (hub == NULL || hub->current == NULL || hub->current->is_main)
        return NULL;
    task_t *task = hub_current_task(hub);
    return task != NULL ? (green_thread_t *)task : NULL;
}

int green_thread_dead(const green_thread_t *t)
{
    return thread_enter(t) == 0 && t->state == THREAD_DEAD;
}

int green_thread_started(const green_thread_t *t)
{
    return thread_enter(t) == 0 && t->state != THREAD_NEW;
}

int green_thread_result(const green_thread_t *t, void **result)
{
    int err = thread_enter(t);

    if (err != 0)
        return err;
    if (t->state != THREAD_DEAD)
        return EAGAIN;
    if (result != NULL)
        *result = t->result;
    return t->err;
}

const char *green_thread_name(const green_thread_t *t)
{
    return thread_enter(t) == 0 && t->name != NULL ? t->name : "";
}

int green_thread_set_name(green_thread_t *t, const char *name)
{
    char *copy = NULL;
    int err = thread_enter(t);

    if (err != 0)
        return err;
    if (name != NULL && (copy = strdup(name)) == NULL)
        return ENOMEM;
    /* Swapped before the free: the watchdog's signal handler may read
     * the name of the thread it interrupts. */
    char *old = t->name;
    t->name = copy;
    free(old);
    return 0;
}

greenlet_t *green_thread_greenlet(green_thread_t *t)
{
    return thread_enter(t) == 0 ? t->task.greenlet : NULL;
}

static const char *block_name(const task_t *task, char *buf, size_t size)
{
    switch (task->block) {
    case BLOCK_YIELD:
        return "yield";
    case BLOCK_SLEEP:
        return "sleep";
    case BLOCK_PARK:
        return "park";
    case BLOCK_JOIN:
        return "join";
    case BLOCK_RUN:
        return "hub run";
    case BLOCK_FD:
        snprintf(buf, size, "fd %d %s", task->block_fd,
                 task->block_events == GREEN_READ    ? "read"
                 : task->block_events == GREEN_WRITE ? "write"
                                                     : "read/write");
        return buf;
    case BLOCK_NONE:
        break;
    }
    return "";
}

static void dump_task(FILE *out, green_hub_t *hub, const task_t *task,
                      uint64_t id, const char *name, double now)
{
    char where[48];
    const char *block = block_name(task, where, sizeof(where));
    const char *state = "parked";

    if (!task->is_main && ((const green_thread_t *)task)->state == THREAD_NEW)
        state = "new";
    else if (task == hub->current)
        state = "running";
    else if (task->queued)
        state = "ready";
    fprintf(out, "  #%" PRIu64 " %-20s %s", id, name, state);
    if (block[0] != '\0')
        fprintf(out, "%*s%s", 9 - (int)strlen(state), "", block);
    if (timer_node_pending(&task->timer))
        fprintf(out, " (%s in %.3f s)",
                task->parked != NULL ? "deadline" : "starts",
                task->timer.deadline - now);
    fputc('\n', out);
}

void green_threads_dump(FILE *out)
{
    green_hub_t *hub = hub_existing();
    double now = green_now();
    green_thread_t *oldest;

    if (hub == NULL || out == NULL)
        return;
    fprintf(out, "hub (%s): %zu green threads\n", hub->backend->name,
            hub->threads->live_count);
    dump_task(out, hub, &hub->main_task, 0, "main", now);
    /* The registry is newest first; list the oldest first. */
    oldest = hub->threads->live;
    while (oldest != NULL && oldest->live_next != NULL)
        oldest = oldest->live_next;
    for (green_thread_t *t = oldest; t != NULL; t = t->live_prev) {
        char buf[32];

        dump_task(out, hub, &t->task, t->id,
                  thread_display_name(t, buf, sizeof(buf)), now);
    }
}

/* ---- Teardown --------------------------------------------------------- */

void thread_hub_teardown(green_hub_t *hub)
{
    struct thread_hub *threads = hub->threads;
    green_thread_t *t;

    for (t = threads->live; t != NULL; t = t->live_next)
        t->task.killed = 1;
    while ((t = threads->live) != NULL) {
        greenlet_t *g = t->task.greenlet;

        green_thread_retain(t);
        hub_ready_remove(hub, &t->task);
        if (t->state == THREAD_NEW) {
            cancel_unstarted(t);
        } else if (g != NULL && !greenlet_dead(g)) {
            /* The kill runs the thread's cleanup in its own greenlet;
             * its worker then ends instead of idling. */
            hub->current = &t->task;
            greenlet_destroy(g);
            hub->current = &hub->main_task;
        }
        if (t->state != THREAD_DEAD) {
            /* Died without finishing, or would not die (then its greenlet
             * is left alone and leaks rather than crash). */
            thread_finish(t, ECANCELED, NULL);
            if (g != NULL && greenlet_dead(g))
                greenlet_destroy(g);
        }
        green_thread_release(t);
    }
    while (threads->idle_count > 0)
        greenlet_destroy(threads->idle_workers[--threads->idle_count]);
    free(threads->idle_workers);
    while ((t = threads->free_threads) != NULL) {
        threads->free_threads = t->live_next;
        free(t);
    }
    threads->free_count = 0;
}

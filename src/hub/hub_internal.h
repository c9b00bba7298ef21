/*
 * Internal: the hub's state, shared by hub.c, thread.c, timeout.c and
 * watchdog.c.  Not installed; other layers use the public headers only.
 *
 * Every piece of code that can block — the main greenlet or a green
 * thread — is a task.  A task parks on a green_waiter_t by switching to the
 * hub greenlet; green_unpark() puts it on the hub's ready queue, and the
 * hub resumes it with greenlet_switch() (or greenlet_throw() for a kill).
 */
#ifndef GREEN_HUB_INTERNAL_H
#define GREEN_HUB_INTERNAL_H

#include <green/hub.h>
#include <green/thread.h>
#include <green/timeout.h>

#include "greenlet/tag.h"
#include "poll.h"
#include "timer.h"

#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define container_of(ptr, type, member)                                        \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* What a parked task waits for, for green_threads_dump(). */
typedef enum task_block {
    BLOCK_NONE,
    BLOCK_YIELD,
    BLOCK_SLEEP,
    BLOCK_PARK,
    BLOCK_JOIN,
    BLOCK_FD,
    BLOCK_RUN
} task_block_t;

/* green_park's result when the park's own timeout (not a scope) expired:
 * green_sleep() turns it into 0, every other caller into ETIMEDOUT. */
#define PARK_OWN_TIMEOUT (-2)

typedef struct task {
    uint32_t tag; /* TAG_THREAD in a green thread's task, else 0 */
    struct task *ready_prev, *ready_next; /* ready queue, NULL if not in it */
    greenlet_t *greenlet;                 /* NULL until a green thread starts */
    green_hub_t *hub;
    green_waiter_t *parked;       /* the waiter it is parked on, if any */
    timer_node_t timer;           /* park deadline, or spawn_after start */
    green_timeout_t *timeouts;    /* innermost open timeout scope */
    green_timeout_t *armed_scope; /* the scope the park deadline is for */
    task_block_t block;
    int block_fd;
    unsigned block_events;
    unsigned char is_main;
    unsigned char queued;       /* in the ready queue */
    unsigned char killed;       /* sticky: every blocking call fails */
    unsigned char kill_pending; /* resume with greenlet_throw */
} task_t;

typedef enum thread_state {
    THREAD_NEW,     /* spawned, its function has not started */
    THREAD_STARTED, /* running or suspended */
    THREAD_DEAD
} thread_state_t;

typedef struct thread_link thread_link_t;

struct green_thread {
    task_t task; /* first: a thread is its task */
    green_thread_fn fn;
    void *arg;
    void *result;
    int err;
    int refs; /* handles + the hub's while alive */
    thread_state_t state;
    unsigned char handle_less; /* green_spawn_n: errors go to the hook */
    size_t stack_size;
    uint64_t id;
    char *name;                                 /* NULL: shown as green-<id> */
    struct green_thread *live_prev, *live_next; /* the hub's registry */
    green_waiter_t *joiners;                    /* green_thread_wait callers */
    thread_link_t *links, *links_tail;
};

typedef struct fd_slot {
    green_waiter_t *reader, *writer;
    /* io_uring operations on the fd (uring.h, fd_claim_op): they hold the
     * fd's reader or writer place (a second one gets EBUSY), and a close
     * wakes them to be cancelled; readiness does not concern them. */
    green_waiter_t *op_reader, *op_writer;
    /* Nonzero while the fd is managed (green_fd_manage) and registered
     * edge-triggered with this hub's backend: the fd's process-wide token
     * at the time this hub registered it.  A different token now means the
     * fd was closed or taken over by another hub since. */
    uint64_t managed;
    unsigned registered; /* POLL_EV_IN/POLL_EV_OUT as the backend knows it */
    unsigned char dirty; /* registration may exceed the waiters */
    /* Managed fds: edges (POLL_EV_IN/POLL_EV_OUT) that came while nobody
     * waited for them; the next wait for them returns at once. */
    unsigned char edges;
    /* Managed fds: the backend reported POLL_EV_HUP, which lasts while the
     * fd is managed here, so every read wait returns at once. */
    unsigned char hup;
    /* The fd's multishot receive in this hub (recvq.c), or NULL. */
    struct recvq *recvq;
} fd_slot_t;

typedef struct hub_call {
    struct hub_call *next;
    void (*fn)(void *);
    void *arg;
} hub_call_t;

struct green_hub {
    greenlet_t *greenlet; /* runs hub_loop(); parent: the main greenlet */
    greenlet_t *main_greenlet;
    pthread_t os_thread;
    task_t main_task;
    task_t *current; /* running task; NULL while the hub itself runs */

    /* Ready queue: a sentinel-headed circular list of tasks. */
    task_t ready;
    size_t ready_count;

    timer_heap_t timers;

    const poll_backend_t *backend;
    void *poller;
    fd_slot_t *fds;
    size_t fd_capacity;
    int *dirty_fds;
    size_t dirty_count, dirty_capacity;
    size_t fd_waiters;

    /* Cross-thread calls: pushed under calls_lock, drained by the hub. */
    pthread_mutex_t calls_lock;
    hub_call_t *calls, *calls_tail;
    hub_call_t *calls_running; /* taken from calls, not yet run */
    int wake_fd;               /* eventfd, or the self-pipe's read end */
    int wake_write_fd;         /* the same eventfd, or the write end */
    atomic_int wake_pending;   /* set under calls_lock, read without */
    int keepalive;             /* green_hub_ref count */

    /* Under calls_lock.  The struct outlives the hub while green_hub_retain
     * references remain, so that calls to it fail instead of reaching a
     * later hub at the same address. */
    unsigned char calls_closed; /* teardown began: calls get EPIPE */
    unsigned char owner_gone;   /* the hub itself is destroyed */
    size_t retains;             /* green_hub_retain references */

    /* Green threads: thread.c's state (its registry and what it
     * recycles), opaque to the rest of the hub. */
    struct thread_hub *threads;

    green_error_hook_fn error_hook;
    green_waiter_t *run_waiter; /* main's waiter in green_hub_run() */
    int stopping;               /* green_hub_destroy() in progress */

    /* Watchdog: the hub bumps run_epoch whenever it switches to or from a
     * task; the monitor thread sees a task running too long as an epoch
     * that does not move while running_task is set. */
    _Atomic unsigned long run_epoch;
    _Atomic(task_t *) running_task;
    struct watchdog *watchdog;

    struct green_hub *list_next; /* all live hubs, under the global lock */
};

/* ---- hub.c --------------------------------------------------------- */

/* The calling thread's hub, defined in hub.c; internal to the library. */
extern __thread green_hub_t *green_tls_hub
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

/* The calling thread's hub if it exists (no creation). */
static inline green_hub_t *hub_existing(void)
{
    return green_tls_hub;
}
/* The calling thread's hub, made if needed; NULL on failure. */
green_hub_t *hub_get(void);
/* The running task of hub, or NULL when called from the hub greenlet or a
 * greenlet that is not a task. */
task_t *hub_current_task(green_hub_t *hub);
/* Both for a blocking call: 0, ENOMEM (no hub could be made) or EPERM
 * (the caller is the hub itself). */
int hub_caller(green_hub_t **hub, task_t **task);

void hub_ready_push(green_hub_t *hub, task_t *task);
void hub_ready_remove(green_hub_t *hub, task_t *task);

/* Park task on w until unparked, deadline (absolute, < 0: none), an
 * enclosing timeout scope, or a kill.  Returns the unpark result,
 * PARK_OWN_TIMEOUT, ETIMEDOUT (a scope fired), ECANCELED, EDEADLK, ENOMEM
 * or EPERM. */
int hub_park(green_hub_t *hub, task_t *task, green_waiter_t *w, double deadline,
             task_block_t block);
/* Yield: resume after every task now ready has run once. */
int hub_yield(green_hub_t *hub, task_t *task);

void hub_report_error(green_hub_t *hub, const char *name, int err);

/* ---- call.c -------------------------------------------------------- */

/* Run the cross-thread calls queued so far (and drain the wake-up fd). */
void call_take(green_hub_t *hub);
/* Teardown: refuse further calls (EPIPE), then run the accepted ones. */
void call_close(green_hub_t *hub);
/* 1 while calls wait to run. */
int call_pending(green_hub_t *hub);
/* Drop the owner's reference (owner != 0, from hub_destroy) or a
 * green_hub_retain one; the last frees the struct.  EINVAL for a release
 * without a retain. */
int call_drop_hub(green_hub_t *hub, int owner);
/* The wake-up fd: an eventfd, else a self-pipe.  0 or errno. */
int call_open_wake(green_hub_t *hub);
void call_close_wake(green_hub_t *hub);

/* ---- fd.c ---------------------------------------------------------- */

/* Run the interposition layers' before-poll hook, if any. */
void fd_before_poll(void);
/* Bring the backend's registrations in line with the fd waiters. */
void fd_sync_registrations(green_hub_t *hub);
/* The backend reported events on fd: wake its waiters. */
void fd_dispatch(green_hub_t *hub, int fd, unsigned events);
/* In a forked child, after the hub got a new poller. */
void fd_after_fork(green_hub_t *hub);

/* For green_select: make w, which the caller parks on next, fd's waiter
 * for events (GREEN_READ, GREEN_WRITE) without parking.  0 if watched
 * (undo with fd_unwatch once the park is over), FD_READY if the
 * fd is ready already, or green_wait_fd's errors (EBUSY, EINVAL, ...).
 * missed: w may have been woken by this fd without using its readiness
 * (so a managed fd keeps it for its next wait). */
#define FD_READY (-3)
int fd_watch(int fd, int events, green_waiter_t *w);
void fd_unwatch(int fd, int events, green_waiter_t *w, int missed);

/* For an io_uring operation on fd (events: GREEN_READ or GREEN_WRITE):
 * make w, which the caller parks on next, fd's reader or writer without a
 * readiness registration.  0, EBUSY if the place is taken, or ENOMEM.
 * green_notify_close(fd) unparks w with EBADF.  Undo with
 * fd_release_op once the park is over. */
int fd_claim_op(green_hub_t *hub, int fd, int events, green_waiter_t *w);
/* fd's slot in hub's table, grown if needed; NULL without memory. */
fd_slot_t *fd_slot(green_hub_t *hub, int fd);
void fd_release_op(green_hub_t *hub, int fd, green_waiter_t *w);

/* ---- thread.c ------------------------------------------------------ */

/* The green-thread state of a new hub, or NULL.  free() it while no
 * thread was spawned, or after thread_hub_teardown(). */
struct thread_hub *thread_hub_new(void);

/* Give a THREAD_NEW thread a worker greenlet, from the hub greenlet; the
 * hub then switches to it with the thread as the value.  On failure the
 * thread is finished with the error, which is returned. */
int thread_launch(green_hub_t *hub, green_thread_t *t);
/* Worker greenlet g, last running t, is dead (the hub then destroys g):
 * either it ended for good after finishing t, or t's body left it with
 * greenlet_exit() and t is finished here with err. */
void thread_worker_died(green_hub_t *hub, green_thread_t *t, greenlet_t *g,
                        int err);
/* Give every thread's and idle worker's greenlet the new hub greenlet as
 * parent. */
void thread_hub_reparent(green_hub_t *hub, greenlet_t *hub_greenlet);
/* Kill and finish every live thread; free the recycling caches. */
void thread_hub_teardown(green_hub_t *hub);
/* The thread's display name into buf. */
const char *thread_display_name(const green_thread_t *t, char *buf,
                                size_t size);

/* ---- timeout.c ----------------------------------------------------- */

/* The open scope of task with the earliest deadline, or NULL. */
green_timeout_t *timeout_earliest(const task_t *task);

/* Open scope in child (a green thread not started yet) at the earliest
 * deadline of parent's open scopes, if parent (may be NULL) has any. */
void timeout_inherit(task_t *child, const task_t *parent,
                     green_timeout_t *scope);

/* ---- watchdog.c ---------------------------------------------------- */

void watchdog_hub_init(green_hub_t *hub);
void watchdog_hub_destroy(green_hub_t *hub);
void watchdog_after_fork(green_hub_t *hub);

static inline void watchdog_mark(green_hub_t *hub, task_t *running)
{
    atomic_store_explicit(
        &hub->run_epoch,
        atomic_load_explicit(&hub->run_epoch, memory_order_relaxed) + 1,
        memory_order_relaxed);
    atomic_store_explicit(&hub->running_task, running, memory_order_relaxed);
}

#endif /* GREEN_HUB_INTERNAL_H */

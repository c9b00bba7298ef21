/*
 * Blocking detection.  A monitor OS thread samples the hub's run epoch
 * (bumped at every switch between the hub and a task).  A task that keeps
 * the same epoch for max_ms has not yielded: the monitor signals the hub's
 * OS thread, whose handler prints the task's name and its own backtrace
 * (the stack of the culprit, which is running right there).  Only the
 * handler reads the task: from the monitor it could end and be freed
 * under the read.
 */
#define _GNU_SOURCE
#include "hub_internal.h"

#include "greenlet/sys.h"

#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* SIGURG is ignored by default, so a stray one harms nothing. */
#define WATCHDOG_SIGNAL SIGURG
#define BACKTRACE_DEPTH 64

struct watchdog {
    pthread_t monitor;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
    unsigned max_ms;
    green_hub_t *hub;
    pthread_t hub_thread;
    /* Set by the monitor before it signals; read by the handler. */
    _Atomic unsigned long report_epoch; /* the epoch found stuck */
    _Atomic unsigned report_ms;         /* how long it had run */
    _Atomic int report_ready;
};

/* The report's text, built without stdio: the handler is a signal's. */
struct report {
    char text[256];
    size_t len;
};

static void report_add(struct report *r, const char *s)
{
    while (*s != '\0' && r->len < sizeof(r->text) - 1)
        r->text[r->len++] = *s++;
}

static void report_add_number(struct report *r, uint64_t n)
{
    char digits[24];
    size_t i = sizeof(digits);

    digits[--i] = '\0';
    do {
        digits[--i] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    report_add(r, digits + i);
}

static void report_write(struct watchdog *wd, task_t *task)
{
    green_thread_t *t = (green_thread_t *)task;
    struct report r = {.len = 0};

    report_add(&r, "libgreen watchdog: green thread '");
    if (task->is_main) {
        report_add(&r, "main");
    } else if (t->name != NULL) {
        report_add(&r, t->name);
    } else {
        report_add(&r, "green-");
        report_add_number(&r, t->id);
    }
    report_add(&r, "' has run ");
    report_add_number(&r, atomic_load(&wd->report_ms));
    report_add(&r, " ms without yielding (limit ");
    report_add_number(&r, wd->max_ms);
    report_add(&r, " ms); backtrace:\n");
    if (sys_libc()->write(STDERR_FILENO, r.text, r.len) < 0)
        return;
    void *frames[BACKTRACE_DEPTH];
    int depth = backtrace(frames, BACKTRACE_DEPTH);
    backtrace_symbols_fd(frames, depth, STDERR_FILENO);
}

/* Runs on the hub's thread, inside whatever it was running: the task is
 * reported only if it is still the one the monitor found stuck. */
static void watchdog_signal_handler(int signo)
{
    green_hub_t *hub = hub_existing();
    struct watchdog *wd = hub != NULL ? hub->watchdog : NULL;
    int saved_errno = errno;

    (void)signo;
    if (wd != NULL && atomic_exchange(&wd->report_ready, 0)) {
        task_t *task =
            atomic_load_explicit(&hub->running_task, memory_order_relaxed);

        if (task != NULL &&
            atomic_load_explicit(&hub->run_epoch, memory_order_relaxed) ==
                atomic_load(&wd->report_epoch))
            report_write(wd, task);
    }
    errno = saved_errno;
}

static void add_ms(struct timespec *ts, unsigned ms)
{
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *monitor_main(void *arg)
{
    struct watchdog *wd = arg;
    green_hub_t *hub = wd->hub;
    unsigned period_ms = wd->max_ms / 4 > 0 ? wd->max_ms / 4 : 1;
    unsigned long seen_epoch = 0, reported_epoch = 0;
    double seen_since = green_now();
    int reported = 0;

    pthread_mutex_lock(&wd->lock);
    while (!wd->stop) {
        struct timespec until;
        unsigned long epoch;
        task_t *running;
        double now;

        clock_gettime(CLOCK_MONOTONIC, &until);
        add_ms(&until, period_ms);
        pthread_cond_timedwait(&wd->wake, &wd->lock, &until);
        if (wd->stop)
            break;
        epoch = atomic_load_explicit(&hub->run_epoch, memory_order_relaxed);
        running =
            atomic_load_explicit(&hub->running_task, memory_order_relaxed);
        now = green_now();
        if (running == NULL || epoch != seen_epoch) {
            seen_epoch = epoch;
            seen_since = now;
            continue;
        }
        if ((reported && epoch == reported_epoch) ||
            (now - seen_since) * 1000.0 < wd->max_ms)
            continue;
        atomic_store(&wd->report_epoch, epoch);
        atomic_store(&wd->report_ms, (unsigned)((now - seen_since) * 1000.0));
        atomic_store(&wd->report_ready, 1);
        pthread_kill(wd->hub_thread, WATCHDOG_SIGNAL);
        reported = 1;
        reported_epoch = epoch;
    }
    pthread_mutex_unlock(&wd->lock);
    return NULL;
}

static void watchdog_stop(green_hub_t *hub)
{
    struct watchdog *wd = hub->watchdog;

    if (wd == NULL)
        return;
    pthread_mutex_lock(&wd->lock);
    wd->stop = 1;
    pthread_cond_signal(&wd->wake);
    pthread_mutex_unlock(&wd->lock);
    pthread_join(wd->monitor, NULL);
    hub->watchdog = NULL;
    pthread_cond_destroy(&wd->wake);
    pthread_mutex_destroy(&wd->lock);
    free(wd);
}

static int install_handler(void)
{
    struct sigaction action;
    void *frames[1];

    /* The first backtrace() loads libgcc, which must not happen inside
     * the signal handler. */
    backtrace(frames, 1);
    memset(&action, 0, sizeof(action));
    action.sa_handler = watchdog_signal_handler;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    return sys_libc()->sigaction(WATCHDOG_SIGNAL, &action, NULL) == 0 ? 0
                                                                      : errno;
}

static int watchdog_start(green_hub_t *hub, unsigned max_ms)
{
    struct watchdog *wd = calloc(1, sizeof(*wd));
    pthread_condattr_t attr;
    int err;

    if (wd == NULL)
        return ENOMEM;
    err = install_handler();
    if (err != 0) {
        free(wd);
        return err;
    }
    wd->max_ms = max_ms;
    wd->hub = hub;
    wd->hub_thread = hub->os_thread;
    pthread_mutex_init(&wd->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&wd->wake, &attr);
    pthread_condattr_destroy(&attr);
    hub->watchdog = wd;
    err = pthread_create(&wd->monitor, NULL, monitor_main, wd);
    if (err != 0) {
        hub->watchdog = NULL;
        pthread_cond_destroy(&wd->wake);
        pthread_mutex_destroy(&wd->lock);
        free(wd);
    }
    return err;
}

int green_watchdog_enable(unsigned max_ms)
{
    green_hub_t *hub = hub_get();

    if (hub == NULL)
        return ENOMEM;
    if (greenlet_current() == hub->greenlet)
        return EPERM;
    watchdog_stop(hub);
    return max_ms > 0 ? watchdog_start(hub, max_ms) : 0;
}

void watchdog_hub_init(green_hub_t *hub)
{
    const char *env = getenv("GREEN_WATCHDOG_MS");
    char *end;
    unsigned long max_ms;

    if (env == NULL || *env == '\0')
        return;
    max_ms = strtoul(env, &end, 10);
    if (*end == '\0' && max_ms > 0 && max_ms <= UINT32_MAX)
        watchdog_start(hub, (unsigned)max_ms);
}

void watchdog_hub_destroy(green_hub_t *hub)
{
    watchdog_stop(hub);
}

void watchdog_after_fork(green_hub_t *hub)
{
    struct watchdog *wd = hub->watchdog;
    unsigned max_ms;

    if (wd == NULL)
        return;
    /* The monitor thread did not survive the fork; its lock may be held by
     * it forever, so the struct is dropped without touching the lock. */
    max_ms = wd->max_ms;
    hub->watchdog = NULL;
    free(wd);
    watchdog_start(hub, max_ms);
}

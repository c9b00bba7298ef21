/*
 * Thread pool: blocking functions run in OS worker threads while only the
 * calling green thread waits (eventlet's tpool).
 *
 * Jobs are heap-allocated and handed back to the caller's hub through an
 * xwake, so a caller that timed out or was killed can return at once: the
 * worker finishes later and the job (and fn's result) go to the
 * `abandoned` function instead of to the caller's long-gone stack.
 *
 * Exit joins only the workers that are not running a job: a job blocked
 * in user code must not keep the process alive.  In a child of fork the
 * workers do not exist: the pool starts afresh, and the jobs it held fail
 * (see tpool.h).
 */
#include <green/tpool.h>

#include "xwake.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#define TPOOL_MAX_WORKERS 1024

struct tpool_job {
    struct tpool_job *next;
    green_tpool_fn fn;
    void *arg;
    void *result;
    green_tpool_abandon_fn abandoned;
    xwake_t *wake;
    int err; /* EOWNERDEAD: a parent's job, failed in the forked child */
};

enum worker_state { WORKER_NONE, WORKER_RUNNING, WORKER_EXITED };

struct tpool_worker {
    pthread_t thread;
    enum worker_state state;
    struct tpool_job *job; /* the job it runs, for fork */
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work;
    struct tpool_job *head, *tail;
    size_t queued;  /* jobs in the list */
    size_t idle;    /* workers waiting for work */
    size_t running; /* workers started and not exited */
    size_t size;    /* wanted number of workers */
    int size_known; /* size was set or read from the environment */
    int stopping;
    int exiting; /* the process exits: no job starts any more */
    struct tpool_worker workers[TPOOL_MAX_WORKERS];
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER};

static _Thread_local int in_worker;

/* Called with the lock held. */
static size_t pool_size_locked(void)
{
    if (!pool.size_known) {
        const char *env = getenv("GREEN_TPOOL_SIZE");
        char *end;
        unsigned long value;

        pool.size = GREEN_TPOOL_DEFAULT_SIZE;
        if (env != NULL && *env != '\0') {
            value = strtoul(env, &end, 10);
            if (*end == '\0' && value <= TPOOL_MAX_WORKERS)
                pool.size = value;
        }
        pool.size_known = 1;
    }
    return pool.size;
}

static int start_worker_locked(void);

static void *worker_main(void *arg)
{
    struct tpool_worker *self = arg;
    size_t index = (size_t)(self - pool.workers);
    sigset_t all;
    struct tpool_job *job;
    void *result;

    /* Signals belong to the program's own threads, not to the pool. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    in_worker = 1;

    pthread_mutex_lock(&pool.lock);
    for (;;) {
        /* A worker beyond the size leaves at once, except to drain the
         * queue of a pool shrunk to 0, which no other worker would run. */
        if (pool.exiting ||
            (index >= pool.size && !(pool.size == 0 && pool.head != NULL)))
            break;
        if (pool.head != NULL) {
            job = pool.head;
            pool.head = job->next;
            if (pool.head == NULL)
                pool.tail = NULL;
            pool.queued--;
            self->job = job;
            pthread_mutex_unlock(&pool.lock);
            result = job->fn(job->arg);
            /* Under the lock, so that a fork finds the job either still
             * here or handed to its hub. */
            pthread_mutex_lock(&pool.lock);
            job->result = result;
            self->job = NULL;
            xwake_signal(job->wake, job, 0);
        } else if (pool.stopping) {
            break;
        } else {
            pool.idle++;
            pthread_cond_wait(&pool.work, &pool.lock);
            pool.idle--;
        }
    }
    if (self->state == WORKER_RUNNING) /* else joined at exit */
        self->state = WORKER_EXITED;
    pool.running--;
    /* Jobs this worker leaves behind need a worker within the size. */
    if (!pool.stopping && !pool.exiting && pool.queued > pool.idle &&
        pool.running < pool.size)
        start_worker_locked();
    pthread_mutex_unlock(&pool.lock);
    return NULL;
}

/* Start a worker in the first free slot below the pool size.  Called with
 * the lock held; a slot whose worker exited is joined first. */
static int start_worker_locked(void)
{
    for (size_t i = 0; i < pool.size; i++) {
        struct tpool_worker *worker = &pool.workers[i];

        if (worker->state == WORKER_RUNNING)
            continue;
        if (worker->state == WORKER_EXITED) {
            pthread_join(worker->thread, NULL);
            worker->state = WORKER_NONE;
        }
        if (pthread_create(&worker->thread, NULL, worker_main, worker) != 0)
            return EAGAIN;
        worker->state = WORKER_RUNNING;
        pool.running++;
        return 0;
    }
    return EAGAIN;
}

/* ---- fork ------------------------------------------------------------ */

/* Registered after the hub's handlers (a job needs a hub first), so in
 * the child the hub registry is already reset when tpool_child runs. */
static void tpool_prepare(void)
{
    pthread_mutex_lock(&pool.lock);
}

static void tpool_parent(void)
{
    pthread_mutex_unlock(&pool.lock);
}

/* Detach the child's copy of every job from a worker that does not exist
 * here, and reset the counts: workers start again on demand.  The forking
 * thread stays a worker if it is one (a job that forked). */
static struct tpool_job *reset_pool_locked(void)
{
    struct tpool_job *orphans = pool.head;

    pool.head = pool.tail = NULL;
    pool.queued = pool.idle = pool.running = 0;
    pool.stopping = 0;
    for (size_t i = 0; i < TPOOL_MAX_WORKERS; i++) {
        struct tpool_worker *worker = &pool.workers[i];

        if (worker->state == WORKER_RUNNING &&
            pthread_equal(worker->thread, pthread_self())) {
            pool.running = 1;
            continue;
        }
        if (worker->state == WORKER_RUNNING && worker->job != NULL) {
            worker->job->next = orphans;
            orphans = worker->job;
        }
        /* No join: the thread is not ours, and its stack is reclaimed. */
        worker->state = WORKER_NONE;
        worker->job = NULL;
    }
    return orphans;
}

static void tpool_child(void)
{
    struct tpool_job *orphans = reset_pool_locked();

    /* Waiters of workers that are gone would make signal block. */
    pthread_cond_init(&pool.work, NULL);
    pthread_mutex_unlock(&pool.lock);
    while (orphans != NULL) {
        struct tpool_job *job = orphans;

        orphans = job->next;
        job->err = EOWNERDEAD;
        xwake_signal(job->wake, job, 0);
    }
}

/* ---- Exit ------------------------------------------------------------ */

/* Workers without a job leave and are joined, so that their thread-exit
 * cleanup runs; a worker inside a job is left to the end of the process.
 * Calls made later (from atexit handlers) run inline. */
static void exit_join_idle(void)
{
    pthread_t idle[TPOOL_MAX_WORKERS];
    size_t count = 0;

    pthread_mutex_lock(&pool.lock);
    pool.exiting = 1;
    pthread_cond_broadcast(&pool.work);
    for (size_t i = 0; i < TPOOL_MAX_WORKERS; i++) {
        struct tpool_worker *worker = &pool.workers[i];

        if (worker->state != WORKER_NONE && worker->job == NULL) {
            idle[count++] = worker->thread;
            worker->state = WORKER_NONE;
        }
    }
    pthread_mutex_unlock(&pool.lock);
    for (size_t i = 0; i < count; i++)
        pthread_join(idle[i], NULL);
}

static void register_hooks(void)
{
    pthread_atfork(tpool_prepare, tpool_parent, tpool_child);
    atexit(exit_join_idle);
}

/* Queue job, starting a worker if none is free.  0 once a worker will run
 * it, or EAGAIN if no worker exists and none can be started. */
static int submit(struct tpool_job *job)
{
    static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;
    int err = 0;

    pthread_once(&hooks_once, register_hooks);
    pthread_mutex_lock(&pool.lock);
    job->next = NULL;
    if (pool.tail != NULL)
        pool.tail->next = job;
    else
        pool.head = job;
    pool.tail = job;
    pool.queued++;
    if (pool.queued > pool.idle && pool.running < pool.size &&
        start_worker_locked() != 0 && pool.running == 0) {
        /* Nobody could ever run it: take it back from the tail. */
        struct tpool_job *previous = NULL;

        for (struct tpool_job *j = pool.head; j != job; j = j->next)
            previous = j;
        if (previous != NULL)
            previous->next = NULL;
        else
            pool.head = NULL;
        pool.tail = previous;
        pool.queued--;
        err = EAGAIN;
    } else {
        pthread_cond_signal(&pool.work);
    }
    pthread_mutex_unlock(&pool.lock);
    return err;
}

/* xwake undelivered function: the caller gave up on the job. */
static void job_abandoned(void *context, void *value, uint64_t tag)
{
    struct tpool_job *job = value;

    (void)context;
    (void)tag;
    if (job->abandoned != NULL)
        job->abandoned(job->arg, job->result);
    free(job);
}

/* An error before fn could run: arg still goes to `abandoned`, so that
 * callers free it in one place whatever failed. */
static int fail_unrun(int err, green_tpool_abandon_fn abandoned, void *arg)
{
    if (abandoned != NULL)
        abandoned(arg, NULL);
    return err;
}

int green_tpool_execute_ex(green_tpool_fn fn, void *arg,
                           green_tpool_abandon_fn abandoned, double timeout,
                           void **result)
{
    struct tpool_job *job;
    void *delivered;
    int inline_call;
    int err;

    if (fn == NULL)
        return fail_unrun(EINVAL, abandoned, arg);
    pthread_mutex_lock(&pool.lock);
    inline_call = pool_size_locked() == 0 || pool.exiting;
    pthread_mutex_unlock(&pool.lock);
    if (inline_call || in_worker) {
        /* Inline: no pool (none, or the process exits), or a worker
         * calling back into the pool (which could otherwise exhaust it
         * and deadlock). */
        void *value = fn(arg);
        if (result != NULL)
            *result = value;
        return 0;
    }

    job = calloc(1, sizeof(*job));
    if (job == NULL)
        return fail_unrun(ENOMEM, abandoned, arg);
    job->fn = fn;
    job->arg = arg;
    job->abandoned = abandoned;
    err = xwake_new(&job->wake, job_abandoned, NULL);
    if (err != 0) {
        free(job);
        return fail_unrun(err, abandoned, arg);
    }
    err = submit(job);
    if (err != 0) {
        xwake_free_unused(job->wake);
        free(job);
        return fail_unrun(err, abandoned, arg);
    }
    err = xwake_wait(job->wake, timeout, &delivered);
    if (err != 0)
        return err;
    if (job->err != 0) {
        err = job->err;
        free(job);
        return fail_unrun(err, abandoned, arg);
    }
    if (result != NULL)
        *result = job->result;
    free(job);
    return 0;
}

int green_tpool_execute(green_tpool_fn fn, void *arg, void **result)
{
    return green_tpool_execute_ex(fn, arg, NULL, GREEN_FOREVER, result);
}

int green_tpool_set_size(size_t workers)
{
    if (workers > TPOOL_MAX_WORKERS)
        return EINVAL;
    pthread_mutex_lock(&pool.lock);
    pool.size = workers;
    pool.size_known = 1;
    /* Extra workers notice the smaller size once the queue is empty. */
    pthread_cond_broadcast(&pool.work);
    pthread_mutex_unlock(&pool.lock);
    return 0;
}

size_t green_tpool_size(void)
{
    size_t size;

    pthread_mutex_lock(&pool.lock);
    size = pool_size_locked();
    pthread_mutex_unlock(&pool.lock);
    return size;
}

int green_tpool_shutdown(void)
{
    if (in_worker)
        return EDEADLK;
    pthread_mutex_lock(&pool.lock);
    pool.stopping = 1;
    pthread_cond_broadcast(&pool.work);
    pthread_mutex_unlock(&pool.lock);

    /* Workers exit once the queue is empty; join them without the lock. */
    for (size_t i = 0; i < TPOOL_MAX_WORKERS; i++) {
        struct tpool_worker *worker = &pool.workers[i];
        enum worker_state state;

        pthread_mutex_lock(&pool.lock);
        state = worker->state;
        pthread_mutex_unlock(&pool.lock);
        if (state == WORKER_NONE)
            continue;
        pthread_join(worker->thread, NULL);
        pthread_mutex_lock(&pool.lock);
        worker->state = WORKER_NONE;
        pthread_mutex_unlock(&pool.lock);
    }

    pthread_mutex_lock(&pool.lock);
    pool.stopping = 0;
    pthread_mutex_unlock(&pool.lock);
    return 0;
}

/*
 * Benchmark cases on a hub of a chosen backend, in one process.
 *
 * A thread's hub has one backend, so comparing epoll with io_uring side by
 * side (interleaved, see bench_util.h) needs one OS thread per backend.
 * bench_backend_start() starts such a thread and makes its hub;
 * bench_backend_call() runs a function there and waits for it.  A
 * bench_case whose run is bench_backend_run and whose context is a
 * bench_remote runs its real function on that thread.  The handoff (two
 * futex wakes) is inside the timed run, so the cases compared with one
 * run on a bench_backend thread too: one with no hub (name NULL) serves
 * the cases that need none.
 */
#ifndef GREEN_BENCH_BACKEND_H
#define GREEN_BENCH_BACKEND_H

#include "bench_util.h"

#include <green/hub.h>

#include <errno.h>
#include <pthread.h>
#include <string.h>

struct bench_backend {
    const char *name; /* "epoll", "io_uring", or NULL for no hub */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    void (*job)(void *arg); /* pending job, NULL when idle */
    void *job_arg;
    int started, stopping, err;
};

/* A bench_case context: run(context, iterations) on backend's thread. */
struct bench_remote {
    struct bench_backend *backend;
    bench_fn run;
    void *context;
    uint64_t iterations;
};

static inline int bench_backend_select(const char *name)
{
    if (strcmp(name, "epoll") == 0)
        return green_hub_set_backend(GREEN_BACKEND_EPOLL);
    if (strcmp(name, "io_uring") == 0)
        return green_hub_set_backend(GREEN_BACKEND_IO_URING);
    return EINVAL;
}

/* Make the thread's hub; a hub that fell back to another backend (the
 * library logged why) does not count. */
static inline int bench_backend_make_hub(const char *name)
{
    const char *made;
    int err = bench_backend_select(name);

    if (err != 0)
        return err;
    made = green_hub_backend_name();
    if (made == NULL)
        return ENOMEM;
    return strcmp(made, name) == 0 ? 0 : ENOTSUP;
}

static inline void *bench_backend_main(void *arg)
{
    struct bench_backend *b = arg;
    int err = b->name != NULL ? bench_backend_make_hub(b->name) : 0;

    pthread_mutex_lock(&b->lock);
    b->err = err;
    b->started = 1;
    pthread_cond_broadcast(&b->changed);
    while (err == 0 && !b->stopping) {
        if (b->job == NULL) {
            pthread_cond_wait(&b->changed, &b->lock);
            continue;
        }
        pthread_mutex_unlock(&b->lock);
        b->job(b->job_arg);
        pthread_mutex_lock(&b->lock);
        b->job = NULL;
        pthread_cond_broadcast(&b->changed);
    }
    pthread_mutex_unlock(&b->lock);
    if (err == 0 && b->name != NULL)
        green_hub_destroy();
    return NULL;
}

/* Start b's thread with a hub of backend name (NULL: no hub).  Returns 0,
 * or an errno (ENOTSUP: libgreen has no such backend here, or fell back
 * from it) after printing why on stderr; b is then unusable. */
static inline int bench_backend_start(struct bench_backend *b, const char *name)
{
    memset(b, 0, sizeof(*b));
    b->name = name;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->changed, NULL);
    if (pthread_create(&b->thread, NULL, bench_backend_main, b) != 0)
        return EAGAIN;
    pthread_mutex_lock(&b->lock);
    while (!b->started)
        pthread_cond_wait(&b->changed, &b->lock);
    pthread_mutex_unlock(&b->lock);
    if (b->err != 0) {
        pthread_join(b->thread, NULL);
        fprintf(stderr, "bench: no %s hub here (%s): its rows are skipped\n",
                name, strerror(b->err));
    }
    return b->err;
}

/* Run fn(arg) on b's thread and wait for it to return. */
static inline void bench_backend_call(struct bench_backend *b,
                                      void (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&b->lock);
    b->job = fn;
    b->job_arg = arg;
    pthread_cond_broadcast(&b->changed);
    while (b->job != NULL)
        pthread_cond_wait(&b->changed, &b->lock);
    pthread_mutex_unlock(&b->lock);
}

/* End b's thread (destroying its hub). */
static inline void bench_backend_stop(struct bench_backend *b)
{
    pthread_mutex_lock(&b->lock);
    b->stopping = 1;
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->lock);
    pthread_join(b->thread, NULL);
}

static inline void bench_remote_job(void *arg)
{
    struct bench_remote *remote = arg;

    remote->run(remote->context, remote->iterations);
}

/* A bench_fn: the bench_remote context's run, on its backend's thread. */
static inline void bench_backend_run(void *context, uint64_t iterations)
{
    struct bench_remote *remote = context;

    remote->iterations = iterations;
    bench_backend_call(remote->backend, bench_remote_job, remote);
}

#endif /* GREEN_BENCH_BACKEND_H */

/*
 * Hub threads: N OS threads, each running its own hub, so that a server
 * (with one SO_REUSEPORT listener per thread) uses every core.
 */
#include <green/hub_threads.h>

#include "xwake.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct hub_thread {
    green_hub_threads_t *group;
    size_t index;
    pthread_t thread;
    green_hub_t *hub; /* set once the thread runs; retained */
};

struct green_hub_threads {
    pthread_mutex_t lock;
    pthread_cond_t hub_ready;
    green_hub_thread_fn fn;
    void *arg;
    green_backend_t backend;
    size_t count;
    size_t running;
    xwake_t *joiner; /* the parked green_hub_threads_destroy, if any */
    struct hub_thread threads[];
};

static void *hub_thread_main(void *arg)
{
    struct hub_thread *self = arg;
    green_hub_threads_t *group = self->group;
    green_hub_t *hub;
    xwake_t *joiner;

    green_hub_set_backend(group->backend);
    hub = green_hub_current();
    if (hub != NULL)
        green_hub_retain(hub); /* for green_hub_threads_hub's callers */
    pthread_mutex_lock(&group->lock);
    self->hub = hub;
    pthread_cond_broadcast(&group->hub_ready);
    pthread_mutex_unlock(&group->lock);

    if (hub != NULL) {
        group->fn(self->index, group->arg);
        green_hub_run();
    }

    pthread_mutex_lock(&group->lock);
    joiner = --group->running == 0 ? group->joiner : NULL;
    if (joiner != NULL)
        group->joiner = NULL;
    pthread_cond_broadcast(&group->hub_ready); /* a hub that never came */
    pthread_mutex_unlock(&group->lock);
    if (joiner != NULL)
        xwake_signal(joiner, NULL, 0);
    return NULL;
}

/* The spawner's backend, so every hub of a program behaves alike. */
static green_backend_t current_backend(void)
{
    const char *name = green_hub_backend_name();

    if (name != NULL && strcmp(name, "poll") == 0)
        return GREEN_BACKEND_POLL;
    if (name != NULL && strcmp(name, "epoll") == 0)
        return GREEN_BACKEND_EPOLL;
    return GREEN_BACKEND_DEFAULT;
}

int green_hub_threads_new(green_hub_threads_t **out, size_t n,
                          green_hub_thread_fn fn, void *arg)
{
    green_hub_threads_t *group;
    size_t started;

    if (out == NULL || fn == NULL || n == 0)
        return EINVAL;
    group = calloc(1, sizeof(*group) + n * sizeof(group->threads[0]));
    if (group == NULL)
        return ENOMEM;
    pthread_mutex_init(&group->lock, NULL);
    pthread_cond_init(&group->hub_ready, NULL);
    group->fn = fn;
    group->arg = arg;
    group->backend = current_backend();
    group->count = n;
    group->running = n;

    for (started = 0; started < n; started++) {
        struct hub_thread *thread = &group->threads[started];

        thread->group = group;
        thread->index = started;
        if (pthread_create(&thread->thread, NULL, hub_thread_main, thread) != 0)
            break;
    }
    if (started < n) {
        /* Account for the threads that never started, then wait for the
         * others: a half-started group is not handed out. */
        pthread_mutex_lock(&group->lock);
        group->running -= n - started;
        pthread_mutex_unlock(&group->lock);
        group->count = started;
        green_hub_threads_destroy(group);
        return EAGAIN;
    }
    *out = group;
    return 0;
}

size_t green_hub_threads_count(const green_hub_threads_t *threads)
{
    return threads != NULL ? threads->count : 0;
}

green_hub_t *green_hub_threads_hub(green_hub_threads_t *threads, size_t i)
{
    struct hub_thread *thread;
    green_hub_t *hub;

    if (threads == NULL || i >= threads->count)
        return NULL;
    thread = &threads->threads[i];
    pthread_mutex_lock(&threads->lock);
    /* Threads publish their hub first thing, so this wait is short. */
    while (thread->hub == NULL && threads->running > 0)
        pthread_cond_wait(&threads->hub_ready, &threads->lock);
    hub = thread->hub;
    pthread_mutex_unlock(&threads->lock);
    return hub;
}

int green_hub_threads_destroy(green_hub_threads_t *threads)
{
    xwake_t *wake = NULL;
    void *unused;
    int err;

    if (threads == NULL)
        return EINVAL;
    pthread_mutex_lock(&threads->lock);
    if (threads->joiner != NULL) {
        pthread_mutex_unlock(&threads->lock);
        return EBUSY;
    }
    if (threads->running > 0) {
        err = xwake_new(&wake, NULL, NULL);
        if (err != 0) {
            pthread_mutex_unlock(&threads->lock);
            return err;
        }
        threads->joiner = wake;
    }
    pthread_mutex_unlock(&threads->lock);

    if (wake != NULL) {
        err = xwake_wait(wake, GREEN_FOREVER, &unused);
        if (err != 0) {
            pthread_mutex_lock(&threads->lock);
            if (threads->joiner == wake) {
                threads->joiner = NULL;
                xwake_drop_signal(wake);
            }
            pthread_mutex_unlock(&threads->lock);
            return err;
        }
    }

    /* Every thread has finished its body; joining only reaps them. */
    for (size_t i = 0; i < threads->count; i++) {
        pthread_join(threads->threads[i].thread, NULL);
        if (threads->threads[i].hub != NULL)
            green_hub_release(threads->threads[i].hub);
    }
    pthread_cond_destroy(&threads->hub_ready);
    pthread_mutex_destroy(&threads->lock);
    free(threads);
    return 0;
}

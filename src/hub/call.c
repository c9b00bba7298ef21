/*
 * Cross-thread calls: green_hub_call_threadsafe() queues a call under the
 * hub's calls_lock and wakes the hub through its wake-up fd; the hub runs
 * the calls on its next pass, or at teardown.  Also the hub's references
 * (green_hub_retain/release) and keepalive count (green_hub_ref/unref).
 */
#define _GNU_SOURCE
#include "hub_internal.h"

#include "greenlet/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

static void run_pending_calls(green_hub_t *hub)
{
    hub_call_t *call;

    /* One at a time from the hub struct, so that a callback ending the
     * hub greenlet loses none of the others. */
    while ((call = hub->calls_running) != NULL) {
        void (*fn)(void *) = call->fn;
        void *arg = call->arg;

        hub->calls_running = call->next;
        free(call);
        fn(arg);
    }
}

static void drain_wake_fd(green_hub_t *hub)
{
    char buffer[64];

    /* An eventfd resets with one read; a self-pipe may hold more bytes. */
    while (sys_libc()->read(hub->wake_fd, buffer, sizeof(buffer)) ==
           (ssize_t)sizeof(buffer))
        ;
}

void call_take(green_hub_t *hub)
{
    hub_call_t **tail = &hub->calls_running;

    drain_wake_fd(hub);
    pthread_mutex_lock(&hub->calls_lock);
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = hub->calls;
    hub->calls = hub->calls_tail = NULL;
    atomic_store_explicit(&hub->wake_pending, 0, memory_order_relaxed);
    pthread_mutex_unlock(&hub->calls_lock);
    run_pending_calls(hub);
}

static void wake_hub(green_hub_t *hub)
{
#ifdef __linux__
    uint64_t one = 1;
#else
    char one = 1;
#endif
    ssize_t unused = sys_libc()->write(hub->wake_write_fd, &one, sizeof(one));

    (void)unused; /* a full pipe or counter is already a pending wake-up */
}

int green_hub_call_threadsafe(green_hub_t *hub, void (*fn)(void *), void *arg)
{
    hub_call_t *call;
    int need_wake;

    if (hub == NULL || fn == NULL)
        return EINVAL;
    call = malloc(sizeof(*call));
    if (call == NULL)
        return ENOMEM;
    call->next = NULL;
    call->fn = fn;
    call->arg = arg;
    pthread_mutex_lock(&hub->calls_lock);
    if (hub->calls_closed) {
        pthread_mutex_unlock(&hub->calls_lock);
        free(call);
        return EPIPE;
    }
    if (hub->calls_tail != NULL)
        hub->calls_tail->next = call;
    else
        hub->calls = call;
    hub->calls_tail = call;
    need_wake =
        !atomic_exchange_explicit(&hub->wake_pending, 1, memory_order_relaxed);
    /* The hub's own thread is not sleeping in the kernel: it sees the
     * flag before it polls.  Written under the lock, which teardown takes
     * to close calls before it closes the fd. */
    if (need_wake && hub != green_tls_hub)
        wake_hub(hub);
    pthread_mutex_unlock(&hub->calls_lock);
    return 0;
}

/* Teardown: refuse further calls, then run the accepted ones, oldest
 * first, in the exiting thread. */
void call_close(green_hub_t *hub)
{
    hub_call_t **tail = &hub->calls_running;

    pthread_mutex_lock(&hub->calls_lock);
    hub->calls_closed = 1;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = hub->calls;
    hub->calls = hub->calls_tail = NULL;
    pthread_mutex_unlock(&hub->calls_lock);
    run_pending_calls(hub);
}

int green_hub_retain(green_hub_t *hub)
{
    if (hub == NULL)
        return EINVAL;
    pthread_mutex_lock(&hub->calls_lock);
    hub->retains++;
    pthread_mutex_unlock(&hub->calls_lock);
    return 0;
}

/* Drop a reference: the owner's (owner != 0, from hub_destroy) or a
 * green_hub_retain one.  The last one frees the struct. */
int call_drop_hub(green_hub_t *hub, int owner)
{
    int last;

    pthread_mutex_lock(&hub->calls_lock);
    if (!owner && hub->retains == 0) {
        pthread_mutex_unlock(&hub->calls_lock);
        return EINVAL;
    }
    if (owner)
        hub->owner_gone = 1;
    else
        hub->retains--;
    last = hub->owner_gone && hub->retains == 0;
    pthread_mutex_unlock(&hub->calls_lock);
    if (last) {
        pthread_mutex_destroy(&hub->calls_lock);
        free(hub);
    }
    return 0;
}

int green_hub_release(green_hub_t *hub)
{
    return hub != NULL ? call_drop_hub(hub, 0) : EINVAL;
}

int call_pending(green_hub_t *hub)
{
    return hub->calls_running != NULL ||
           atomic_load_explicit(&hub->wake_pending, memory_order_relaxed);
}

int green_hub_ref(green_hub_t *hub)
{
    if (hub == NULL)
        return EINVAL;
    if (hub != green_tls_hub)
        return EPERM;
    hub->keepalive++;
    return 0;
}

int green_hub_unref(green_hub_t *hub)
{
    if (hub == NULL)
        return EINVAL;
    if (hub != green_tls_hub)
        return EPERM;
    if (hub->keepalive == 0)
        return EINVAL;
    hub->keepalive--;
    return 0;
}

/* ---- The wake-up fd ----------------------------------------------- */

int call_open_wake(green_hub_t *hub)
{
#ifdef __linux__
    hub->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (hub->wake_fd < 0)
        return errno;
    hub->wake_write_fd = hub->wake_fd;
#else
    int fds[2];

    if (sys_libc()->pipe(fds) != 0)
        return errno;
    for (int i = 0; i < 2; i++) {
        sys_libc()->fcntl(fds[i], F_SETFL,
                          sys_libc()->fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        sys_libc()->fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
    hub->wake_fd = fds[0];
    hub->wake_write_fd = fds[1];
#endif
    return 0;
}

void call_close_wake(green_hub_t *hub)
{
    if (hub->wake_write_fd != hub->wake_fd && hub->wake_write_fd >= 0)
        sys_libc()->close(hub->wake_write_fd);
    if (hub->wake_fd >= 0)
        sys_libc()->close(hub->wake_fd);
    hub->wake_fd = hub->wake_write_fd = -1;
}

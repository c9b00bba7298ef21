/*
 * Internal: what the sync layer's task groups (src/sync/group.c) need of
 * the calling task and of other green threads, beyond the public API.
 */
#ifndef GREEN_HUB_TASK_SCOPE_H
#define GREEN_HUB_TASK_SCOPE_H

#include <green/thread.h>
#include <green/timeout.h>

/* The arg of the calling green thread if it runs fn, else NULL. */
void *thread_self_arg(green_thread_fn fn);

/* A link of a green thread (green_thread_link).  A borrowed one belongs
 * to the caller, which keeps it alive until it has run or t is freed; its
 * err is the thread's green_thread_result() when fn runs. */
typedef struct thread_link thread_link_t;
struct thread_link {
    thread_link_t *next;
    green_link_fn fn;
    void *arg;
    int err;
    unsigned char borrowed;
};

/* green_spawn(out, fn, arg) for a child of a group: with the borrowed link
 * (fn and arg set by the caller) attached, without a handle (*out is
 * borrowed from the hub, valid until the link has run), and inside `scope`
 * (caller's memory, alive as long as the thread) at the caller's earliest
 * open deadline if the caller has one.  Its errors are green_spawn's. */
int thread_spawn_child(green_thread_t **out, green_thread_fn fn, void *arg,
                       thread_link_t *link, green_timeout_t *scope);

/* Kill t without waiting for it: 0 if it is dead now (it had ended or had
 * not started), EINPROGRESS if the kill is delivered (t may be the caller:
 * its next blocking call fails), or thread_enter's EINVAL/EPERM. */
int thread_kill_async(green_thread_t *t);

#endif /* GREEN_HUB_TASK_SCOPE_H */

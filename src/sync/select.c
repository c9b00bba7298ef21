/*
 * green_select: try every case in random order and commit the first ready
 * one; else join every case's wait list with one node per case, all
 * pointing to one waitlist_choice_t, and park on the choice.  The first
 * waker claims the choice (waitlist.h), so exactly one case fires and the
 * others' wakers pass their item, permit or lock on to the next waiter.
 * Timeouts and thread ends are not wait lists: a timer and a thread link
 * claim the choice the same way.  An fd case makes the choice's own waiter
 * the fd's waiter in the hub: the hub's wake unparks it directly, which
 * claims it just as well (every claim is that unpark), but leaves `fired`
 * unset; a poll(2) then tells which fd case is ready.
 */
#include <green/select.h>

#include "choice.h"
#include "greenlet/sys.h"
#include "hub/hub_internal.h"
#include "waitlist.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>

/* One case's wait while the select is parked. */
typedef struct select_arm {
    waitlist_node_t node; /* first: a fired node is its arm */
    waitlist_t *list;     /* the wait list joined, or NULL */
    green_timer_t *timer; /* TIMEOUT: until it runs */
    int linked;           /* THREAD: select_thread_ended is linked */
    int watched;          /* FD: the hub watches it for the choice */
} select_arm_t;

/* ---- Checks and random order ----------------------------------------- */

static int select_case_valid(const green_select_case_t *c)
{
    switch (c->op) {
    case GREEN_SELECT_GET:
    case GREEN_SELECT_PUT:
    case GREEN_SELECT_EVENT:
    case GREEN_SELECT_SEMAPHORE:
    case GREEN_SELECT_LOCK:
    case GREEN_SELECT_THREAD:
        return c->object != NULL;
    case GREEN_SELECT_TIMEOUT:
        return c->seconds >= 0; /* false for NaN too */
    case GREEN_SELECT_FD:
        return c->fd >= 0 && c->events != 0 &&
               (c->events & ~(GREEN_READ | GREEN_WRITE)) == 0;
    case GREEN_SELECT_DEFAULT:
        return 1;
    }
    return 0;
}

/* The index of the default case, count if none, or -1 if the cases are
 * not valid. */
static long select_check(const green_select_case_t *cases, size_t count)
{
    size_t default_case = count;

    for (size_t i = 0; i < count; i++) {
        if (!select_case_valid(&cases[i]))
            return -1;
        if (cases[i].op == GREEN_SELECT_DEFAULT) {
            if (default_case != count)
                return -1;
            default_case = i;
        }
    }
    return (long)default_case;
}

/* xorshift64*: cheap, and good enough to pick among ready cases. */
static uint32_t select_random(void)
{
    static __thread uint64_t state;

    if (state == 0)
        state = ((uint64_t)(uintptr_t)&state << 20) ^
                (uint64_t)(green_now() * 1e9) ^ 0x9e3779b97f4a7c15u;
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return (uint32_t)((state * 0x2545f4914f6cdd1du) >> 32);
}

/* A random permutation of 0..count-1. */
static void select_shuffle(unsigned char *order, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        size_t j = select_random() % (i + 1);

        order[i] = order[j];
        order[j] = (unsigned char)i;
    }
}

/* ---- Trying a case without waiting ----------------------------------- */

/* Poll the fd cases among cases[order[0..count-1]] without waiting.
 * Returns the position in order of the first ready one, with its result in
 * *result (0, or EBADF for an fd the kernel refuses), or count if none. */
static size_t select_poll_fds(const green_select_case_t *cases,
                              const unsigned char *order, size_t count,
                              int *result)
{
    struct pollfd fds[GREEN_SELECT_MAX];
    size_t polled = 0;

    for (size_t i = 0; i < count; i++) {
        const green_select_case_t *c = &cases[order[i]];

        fds[i].fd = c->op == GREEN_SELECT_FD ? c->fd : -1; /* -1: skipped */
        fds[i].events = (short)(((c->events & GREEN_READ) ? POLLIN : 0) |
                                ((c->events & GREEN_WRITE) ? POLLOUT : 0));
        fds[i].revents = 0;
        polled += fds[i].fd >= 0;
    }
    if (polled == 0 || sys_libc()->poll(fds, count, 0) <= 0)
        return count;
    for (size_t i = 0; i < count; i++) {
        if (fds[i].revents != 0) {
            *result = (fds[i].revents & POLLNVAL) ? EBADF : 0;
            return i;
        }
    }
    return count;
}

/* 0 if case c fired now (its result and value set), EAGAIN if it is not
 * ready, or the object's error. */
static int select_try(green_select_case_t *c)
{
    int err;

    switch (c->op) {
    case GREEN_SELECT_GET:
        err = green_queue_try_get(c->object, &c->value);
        break;
    case GREEN_SELECT_PUT:
        err = green_queue_try_put(c->object, c->value);
        break;
    case GREEN_SELECT_EVENT:
        return event_choice_try(c->object, &c->value, &c->result);
    case GREEN_SELECT_SEMAPHORE:
        err = green_semaphore_try_acquire(c->object);
        break;
    case GREEN_SELECT_LOCK:
        err = green_lock_try_acquire(c->object);
        break;
    case GREEN_SELECT_THREAD:
        /* A bad handle is refused when the link is added. */
        if (!green_thread_dead(c->object))
            return EAGAIN;
        c->result = green_thread_result(c->object, &c->value);
        return 0;
    default: /* FD is polled apart; TIMEOUT and DEFAULT never fire here */
        return EAGAIN;
    }
    if (err != 0 && err != EPIPE) /* EPIPE: a closed queue is ready */
        return err;
    c->result = err;
    return 0;
}

/* ---- Waiting on every case at once ----------------------------------- */

static void select_timer_fired(void *arg)
{
    select_arm_t *arm = arg;

    arm->timer = NULL; /* freed by the hub */
    waitlist_unpark(&arm->node, 0, NULL);
}

static void select_thread_ended(green_thread_t *t, void *arg)
{
    (void)t;
    waitlist_unpark(&((select_arm_t *)arg)->node, 0, NULL);
}

/* Join case c's wait list (or start its timer, link its thread). */
static int select_arm(select_arm_t *arm, green_select_case_t *c,
                      waitlist_choice_t *choice)
{
    int err = 0;

    waitlist_node_init(&arm->node, NULL);
    arm->node.choice = choice;
    arm->list = NULL;
    arm->timer = NULL;
    arm->linked = 0;
    arm->watched = 0;
    switch (c->op) {
    case GREEN_SELECT_GET:
    case GREEN_SELECT_PUT:
        arm->node.item = c->value;
        arm->list = queue_choice_list(c->object, c->op == GREEN_SELECT_PUT);
        break;
    case GREEN_SELECT_EVENT:
        arm->list = event_choice_list(c->object);
        break;
    case GREEN_SELECT_SEMAPHORE:
        arm->list = semaphore_choice_list(c->object);
        break;
    case GREEN_SELECT_LOCK:
        arm->list = lock_choice_list(c->object, &arm->node);
        break;
    case GREEN_SELECT_THREAD:
        err = green_thread_link(c->object, select_thread_ended, arm);
        arm->linked = err == 0;
        break;
    case GREEN_SELECT_TIMEOUT:
        err =
            green_timer_start(&arm->timer, c->seconds, select_timer_fired, arm);
        break;
    case GREEN_SELECT_FD:
        err = fd_watch(c->fd, c->events, &choice->waiter);
        /* A noted edge older than the poll that found the fd not ready:
         * used up by now, so watch for the next one. */
        if (err == FD_READY)
            err = fd_watch(c->fd, c->events, &choice->waiter);
        arm->watched = err == 0;
        if (err == FD_READY)
            c->result = 0;
        break;
    default:
        break;
    }
    if (arm->list != NULL)
        waitlist_push(arm->list, &arm->node);
    return err;
}

static void select_disarm(select_arm_t *arm, green_select_case_t *c,
                          waitlist_choice_t *choice, int fired)
{
    if (arm->watched)
        fd_unwatch(c->fd, c->events, &choice->waiter, !fired);
    if (arm->list != NULL)
        waitlist_remove(arm->list, &arm->node);
    if (arm->timer != NULL)
        green_timer_cancel(arm->timer);
    if (arm->linked)
        green_thread_unlink(c->object, select_thread_ended, arm);
}

/* The fired case's outcome, as its waker gave it. */
static void select_commit(green_select_case_t *c, const green_waiter_t *w)
{
    c->result = w->result;
    if (c->op == GREEN_SELECT_GET || c->op == GREEN_SELECT_EVENT)
        c->value = w->value;
    else if (c->op == GREEN_SELECT_THREAD)
        c->result = green_thread_result(c->object, &c->value);
}

/* Park on every case; 0 with *fired set, the park's error, or EAGAIN if
 * the hub woke it for an fd that a poll(2) then finds not ready (the hub's
 * fd waits may wake spuriously; a select reports only ready fds). */
static int select_wait(green_select_case_t *cases, size_t count,
                       const unsigned char *order, size_t *fired)
{
    select_arm_t arms[GREEN_SELECT_MAX];
    waitlist_choice_t choice = {.fired = NULL};
    size_t armed = 0, hit = count; /* hit: position in order that fired */
    int err = 0, fd_result = 0;

    green_waiter_init(&choice.waiter);
    for (; armed < count && err == 0; armed++)
        err = select_arm(&arms[armed], &cases[order[armed]], &choice);
    if (err == FD_READY) {
        hit = armed - 1; /* ready at once: the hub watches nothing for it */
        err = 0;
    } else if (err == 0) {
        err = green_park(&choice.waiter, GREEN_FOREVER, NULL);
        /* A claim wins over a kill or timeout that came after it. */
        if (choice.fired != NULL)
            hit = (size_t)((select_arm_t *)choice.fired - arms); /* node 1st */
        else if (err == 0 || err == EBADF) /* only fd wakes leave it NULL */
            hit = select_poll_fds(cases, order, armed, &fd_result);
    }
    for (size_t i = 0; i < armed; i++)
        select_disarm(&arms[i], &cases[order[i]], &choice, i == hit);
    if (hit == count)
        return choice.fired == NULL && (err == 0 || err == EBADF) ? EAGAIN
                                                                  : err;
    *fired = order[hit];
    if (choice.fired != NULL)
        select_commit(&cases[*fired], &choice.waiter);
    else
        cases[*fired].result = fd_result; /* an fd case */
    return 0;
}

/* Try the cases in a random order, else the default, else wait. */
static int select_once(green_select_case_t *cases, size_t count,
                       size_t default_case, size_t *fired)
{
    unsigned char order[GREEN_SELECT_MAX];
    size_t fd_ready;
    int fd_result = 0;

    select_shuffle(order, count);
    /* One poll(2) for every fd case; the first ready case in order wins. */
    fd_ready = select_poll_fds(cases, order, count, &fd_result);
    for (size_t i = 0; i < count; i++) {
        int err = i == fd_ready ? 0 : select_try(&cases[order[i]]);

        if (i == fd_ready)
            cases[order[i]].result = fd_result;
        if (err == 0)
            *fired = order[i];
        if (err != EAGAIN)
            return err;
    }
    if (default_case < count) {
        cases[default_case].result = 0;
        *fired = default_case;
        return 0;
    }
    return select_wait(cases, count, order, fired);
}

int green_select(green_select_case_t *cases, size_t count, size_t *fired)
{
    long default_case;
    int err;

    if (cases == NULL || fired == NULL || count == 0 ||
        count > GREEN_SELECT_MAX)
        return EINVAL;
    default_case = select_check(cases, count);
    if (default_case < 0)
        return EINVAL;
    do
        err = select_once(cases, count, (size_t)default_case, fired);
    while (err == EAGAIN); /* an fd woke the select but was not ready */
    return err;
}

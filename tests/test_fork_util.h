/*
 * Forked children for the fork tests: a child runs one check function
 * under alarm(), so that a hang fails rather than blocks, and ends with
 * exit(), so that atexit handlers run too.  fork is called from the main
 * greenlet or from a green thread (which then runs the check).
 */
#ifndef GREEN_TEST_FORK_UTIL_H
#define GREEN_TEST_FORK_UTIL_H

#include "test_util.h"

#include <green/thread.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* A child still running after this many seconds has hung. */
#define CHILD_ALARM_S 30

typedef int (*child_fn)(void);

/* In a child: child() under alarm(). */
static inline int run_child(child_fn child)
{
    alarm(CHILD_ALARM_S);
    return child();
}

static inline pid_t fork_child(child_fn child)
{
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid == 0)
        exit(run_child(child));
    return pid;
}

struct forker {
    child_fn child;
    pid_t pid;
    int code; /* in the child */
};

static inline void *fork_in_green_thread(void *arg)
{
    struct forker *forker = arg;

    forker->pid = fork();
    if (forker->pid == 0)
        forker->code = run_child(forker->child);
    return NULL;
}

/* The child's exit code, or 128 + the signal that ended it.  The parent
 * waits green, so its own hub (and watchdog) keep running meanwhile. */
static inline int wait_child(pid_t pid)
{
    double start = green_now();
    int status = 0;
    pid_t done;

    while ((done = waitpid(pid, &status, WNOHANG)) == 0) {
        if (green_now() - start > CHILD_ALARM_S + 10) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        green_sleep(0.002);
    }
    if (done != pid)
        return -2;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static inline void assert_child_ok(pid_t pid, const char *how)
{
    int code;

    assert_true(pid > 0);
    code = wait_child(pid);
    if (code != 0)
        print_message("child forked from %s: exit code %d\n", how, code);
    assert_int_equal(code, 0);
}

static inline pid_t fork_from_green_thread(child_fn child)
{
    struct forker forker = {.child = child, .pid = -1};
    green_thread_t *t = NULL;

    fflush(NULL);
    assert_int_equal(green_spawn(&t, fork_in_green_thread, &forker), 0);
    assert_int_equal(green_thread_wait(t, NULL), 0);
    green_thread_release(t);
    /* The child exits from the main greenlet: LeakSanitizer scans only
     * the stack the process exits on. */
    if (forker.pid == 0)
        exit(forker.code);
    return forker.pid;
}

#endif /* GREEN_TEST_FORK_UTIL_H */

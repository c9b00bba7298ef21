/*
 * libgreen — child processes (eventlet.green.subprocess, Python's Popen):
 * spawn a program, talk to it through green pipes, wait for it with a
 * timeout, kill it.  Only the calling green thread ever blocks.
 *
 * The child is started with posix_spawn(3) in the thread pool
 * (green/tpool.h): a spawn blocks its OS thread until the child has
 * exec'd, so spawns run in parallel while the hub keeps running.  It is
 * watched through a pidfd (pidfd_open(2), Linux 5.3): waiting parks on the pidfd's readiness with
 * green_wait_fd, so SIGCHLD is neither caught nor needed, and any number
 * of children may be waited for at once.  Where pidfd_open is missing
 * (older kernels, valgrind), a wait polls waitpid(2) every few ms instead.
 * The pid stays the child's until it is reaped here: do not reap it
 * elsewhere (waitpid(-1), SIGCHLD set to SIG_IGN), or kill and wait may
 * reach another process.
 *
 * The child gets an empty signal mask and default signal actions, whatever
 * the parent blocked or ignored (a server that blocks SIGTERM for
 * green_signal_wait still has children that SIGTERM ends).  Every fd the
 * parent made close-on-exec stays out of the child; the pipes made here
 * are close-on-exec in the parent.
 *
 * Errors: every function returns 0 or a positive errno code, with the
 * blocking calls' ETIMEDOUT (timeout or timeout scope) and ECANCELED
 * (killed), as in green/hub.h.  A process object belongs to one hub.
 */
#ifndef GREEN_PROCESS_H
#define GREEN_PROCESS_H

#include <green/io.h>

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct green_process green_process_t;

/* What one of the child's fds 0, 1, 2 is. */
typedef enum green_stdio {
    GREEN_STDIO_INHERIT = 0, /* the parent's own fd */
    GREEN_STDIO_PIPE,        /* a pipe to the parent: green_process_fd() */
    GREEN_STDIO_NULL,        /* /dev/null */
    GREEN_STDIO_STDOUT       /* for fd 2 only: wherever fd 1 goes (2>&1) */
} green_stdio_t;

typedef struct green_process_attr {
    green_stdio_t stdio[3]; /* the child's stdin, stdout, stderr */
    char *const *envp;      /* NULL: the caller's environ */
    const char *cwd;        /* NULL: the caller's working directory */
} green_process_attr_t;

/* Start argv[0] with arguments argv (NULL-terminated).  A name without
 * '/' is looked up in PATH, as execvp does.  attr may be NULL: everything
 * inherited.  ENOENT or EACCES when there is no such program (checked
 * before the spawn); posix_spawn's errors; ENOMEM; EINVAL for a NULL out,
 * argv or argv[0], or a bad stdio value; ETIMEDOUT or ECANCELED (the
 * caller's timeout scope or kill; a child already started is then killed
 * and reaped).  On success the process must be freed with
 * green_process_destroy. */
GREEN_EXTERN int green_process_spawn(green_process_t **out, char *const argv[],
                                     const green_process_attr_t *attr);

/* The child's pid; -1 for NULL. */
GREEN_EXTERN pid_t green_process_pid(const green_process_t *process);

/* The parent's end of the pipe to the child's fd child_fd (0, 1 or 2):
 * nonblocking, close-on-exec, for green_write (fd 0) or green_read and
 * green_bufio (fds 1, 2).  -1 if that fd is not a pipe or was closed.
 * Owned by the process: close it only with green_process_close_fd.
 * Writing to the child's stdin after it exited raises SIGPIPE, as write(2)
 * does, unless SIGPIPE is ignored or blocked; green_process_communicate
 * never does. */
GREEN_EXTERN int green_process_fd(const green_process_t *process, int child_fd);
/* Close the parent's end of a pipe (fd 0: the child reads EOF), waking a
 * green thread blocked on it with EBADF.  EBADF if not open; EINVAL. */
GREEN_EXTERN int green_process_close_fd(green_process_t *process, int child_fd);

/* Wait for the child to end, up to timeout seconds (GREEN_FOREVER: no
 * limit).  *status (may be NULL) gets its wait status, as from waitpid:
 * WIFEXITED, WEXITSTATUS, WIFSIGNALED, WTERMSIG.  The child is reaped (no
 * zombie remains); later calls return the same status at once.  On
 * ETIMEDOUT the child runs on.  EBUSY if another green thread is waiting
 * for the same child. */
GREEN_EXTERN int green_process_wait(green_process_t *process, double timeout,
                                    int *status);

/* Send signal sig to the child (kill(2)).  ESRCH once it has been reaped;
 * EINVAL for NULL or a bad signal. */
GREEN_EXTERN int green_process_kill(green_process_t *process, int sig);

/* What green_process_communicate collected. */
typedef struct green_process_output {
    char *out, *err; /* NUL-terminated, NULL if that fd is not a
                        pipe; free() both, in every case */
    size_t out_len, err_len;
    int status; /* the wait status, once the child was reaped */
} green_process_output_t;

/* Python's communicate(): write input_len bytes of input to the child's
 * stdin and close it, read its stdout and stderr to EOF (those that are
 * pipes), all at once in one poll loop, so that no pipe filling up can
 * deadlock; then wait for the child to end.  timeout is one deadline for
 * all of it.  Use it once per process, instead of reading or writing the
 * pipes yourself; on success every pipe is closed.  If the child exits
 * without reading all its input, the rest is dropped (no SIGPIPE, no
 * EPIPE).  On an error (ETIMEDOUT, ECANCELED...) the child is neither
 * killed nor reaped (green_process_kill, then wait or destroy), the pipes
 * still open stay so, and output holds what was read so far.  EINVAL for
 * NULL process or
 * output, a NULL input with input_len > 0, or input without a stdin pipe;
 * ENOMEM. */
GREEN_EXTERN int green_process_communicate(green_process_t *process,
                                           const void *input, size_t input_len,
                                           green_process_output_t *output,
                                           double timeout);

/* Close the pipes and free the process.  A child still running is killed
 * with SIGKILL and reaped first, so that no zombie remains: that wait for
 * the kernel blocks the OS thread (briefly: SIGKILL cannot be caught).
 * Never parks, so a killed green thread may call it while unwinding.
 * EINVAL for NULL. */
GREEN_EXTERN int green_process_destroy(green_process_t *process);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_PROCESS_H */

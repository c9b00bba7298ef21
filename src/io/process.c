/*
 * Child processes: posix_spawn, then a pidfd to wait on; green pipes for
 * the child's standard fds; communicate() as one poll loop over the pipes.
 */
#define _GNU_SOURCE /* pipe2, strchrnul, F_DUPFD_CLOEXEC */
#include <green/process.h>

#include <green/thread.h>
#include <green/tpool.h>

#include "greenlet/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct green_process {
    pid_t pid;
    int pidfd;  /* -1 without pidfd_open, and once reaped */
    int fds[3]; /* the parent's pipe ends, -1 if none */
    int reaped, status;
    int waiting; /* a green thread is in green_process_wait */
};

/* ---- Spawning ----------------------------------------------------------- */

/* execvp's lookup, done here so that a missing program is an error of the
 * spawn everywhere (under valgrind, posix_spawn cannot report it). */
static int process_find_program(const char *name, char *path, size_t size)
{
    const char *dir = getenv("PATH"), *end;
    int err = ENOENT;

    if (strchr(name, '/') != NULL) {
        if ((size_t)snprintf(path, size, "%s", name) >= size)
            return ENAMETOOLONG;
        return access(path, X_OK) == 0 ? 0 : errno;
    }
    for (dir = dir != NULL ? dir : "/bin:/usr/bin";; dir = end + 1) {
        int length;

        end = strchrnul(dir, ':');
        /* An empty entry is the working directory. */
        length = snprintf(path, size, "%.*s%s%s", (int)(end - dir), dir,
                          end > dir ? "/" : "", name);
        if ((size_t)length < size && access(path, X_OK) == 0)
            return 0;
        if ((size_t)length < size && errno == EACCES)
            err = EACCES;
        if (*end == '\0')
            return err;
    }
}

/* A pipe for the child's fd child_fd: the parent's end, nonblocking, in
 * process->fds; the child's end in *child_end, at 3 or above, so that no
 * dup2 onto the child's fds 0-2 can overwrite it before its own dup2. */
static int process_pipe(green_process_t *process, int child_fd, int *child_end)
{
    int ends[2], mine = child_fd == 0 ? 1 : 0;

    if (sys_libc()->pipe2(ends, O_CLOEXEC) < 0)
        return errno;
    process->fds[child_fd] = ends[mine];
    *child_end = ends[1 - mine];
    if (*child_end < 3) {
        int moved = sys_libc()->fcntl(*child_end, F_DUPFD_CLOEXEC, 3);

        sys_libc()->close(*child_end);
        *child_end = moved;
        if (moved < 0)
            return errno;
    }
    return sys_libc()->fcntl(ends[mine], F_SETFL, O_NONBLOCK) == 0 ? 0 : errno;
}

/* The file actions that give the child its fds 0-2. */
static int process_stdio(green_process_t *process,
                         const green_process_attr_t *attr,
                         posix_spawn_file_actions_t *actions, int child_ends[3])
{
    int err = 0;

    for (int fd = 0; fd < 3 && err == 0; fd++) {
        switch (attr->stdio[fd]) {
        case GREEN_STDIO_PIPE:
            err = process_pipe(process, fd, &child_ends[fd]);
            if (err == 0)
                err = posix_spawn_file_actions_adddup2(actions, child_ends[fd],
                                                       fd);
            break;
        case GREEN_STDIO_NULL:
            err = posix_spawn_file_actions_addopen(
                actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0);
            break;
        case GREEN_STDIO_STDOUT:
            err = posix_spawn_file_actions_adddup2(actions, 1, 2);
            break;
        default:
            break;
        }
    }
    if (err == 0 && attr->cwd != NULL)
        err = posix_spawn_file_actions_addchdir_np(actions, attr->cwd);
    return err;
}

/* An empty signal mask and default actions in the child: what the parent
 * blocks (for green_signal_wait) or ignores is not the child's business. */
static int process_signals(posix_spawnattr_t *spawnattr)
{
    sigset_t none, all;

    sigemptyset(&none);
    sigfillset(&all);
    if (posix_spawnattr_setsigmask(spawnattr, &none) != 0 ||
        posix_spawnattr_setsigdefault(spawnattr, &all) != 0)
        return EINVAL;
    return posix_spawnattr_setflags(spawnattr, POSIX_SPAWN_SETSIGMASK |
                                                   POSIX_SPAWN_SETSIGDEF);
}

/* One spawn, run in a pool worker: posix_spawn waits until the child has
 * exec'd (a vfork), a wait that would otherwise stop the whole hub, and
 * that many spawns now overlap.  The job owns copies of everything the
 * worker reads, since a caller that is killed or times out returns
 * at once while the worker goes on. */
struct process_job {
    green_process_t *process;
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t spawnattr;
    char **argv, **envp; /* deep copies */
    int child_ends[3];   /* -1 if none */
    int made;            /* actions and spawnattr are initialised */
    int err;             /* posix_spawn's */
    char path[PATH_MAX];
};

/* A NULL-terminated copy of strings (NULL-terminated), in one block. */
static char **process_copy_strings(char *const strings[])
{
    size_t count = 0, bytes = sizeof(char *);
    char **copy, *text;

    for (; strings[count] != NULL; count++)
        bytes += sizeof(char *) + strlen(strings[count]) + 1;
    copy = malloc(bytes);
    if (copy == NULL)
        return NULL;
    text = (char *)(copy + count + 1);
    for (size_t i = 0; i < count; i++) {
        size_t size = strlen(strings[i]) + 1;

        copy[i] = memcpy(text, strings[i], size);
        text += size;
    }
    copy[count] = NULL;
    return copy;
}

/* Free a job; the process too, unless the spawn was delivered. */
static void process_job_free(struct process_job *job, int keep_process)
{
    for (int fd = 0; fd < 3; fd++)
        if (job->child_ends[fd] >= 0)
            sys_libc()->close(job->child_ends[fd]);
    if (!keep_process) {
        for (int fd = 0; fd < 3; fd++)
            if (job->process->fds[fd] >= 0)
                sys_libc()->close(job->process->fds[fd]);
        free(job->process);
    }
    if (job->made) {
        posix_spawnattr_destroy(&job->spawnattr);
        posix_spawn_file_actions_destroy(&job->actions);
    }
    free(job->argv);
    free(job->envp);
    free(job);
}

static struct process_job *process_job_new(green_process_t *process,
                                           char *const argv[],
                                           const green_process_attr_t *attr)
{
    struct process_job *job = calloc(1, sizeof(*job));

    if (job == NULL)
        return NULL;
    job->process = process;
    job->child_ends[0] = job->child_ends[1] = job->child_ends[2] = -1;
    job->argv = process_copy_strings(argv);
    job->envp = process_copy_strings(attr->envp != NULL ? attr->envp : environ);
    if (job->argv == NULL || job->envp == NULL) {
        process_job_free(job, 1);
        return NULL;
    }
    if (posix_spawn_file_actions_init(&job->actions) != 0) {
        process_job_free(job, 1);
        return NULL;
    }
    if (posix_spawnattr_init(&job->spawnattr) != 0) {
        posix_spawn_file_actions_destroy(&job->actions);
        process_job_free(job, 1);
        return NULL;
    }
    job->made = 1;
    return job;
}

static void *process_job_run(void *arg)
{
    struct process_job *job = arg;

    job->err = posix_spawn(&job->process->pid, job->path, &job->actions,
                           &job->spawnattr, job->argv, job->envp);
    return job;
}

/* The caller left (killed, timed out, or its process forked): no child
 * may be left behind.  `ran` is NULL if the spawn never ran (or ran in
 * the parent of a fork).  The kill makes the reap's wait short. */
static void process_job_abandoned(void *arg, void *ran)
{
    struct process_job *job = arg;
    int status;

    if (ran != NULL && job->err == 0 && kill(job->process->pid, SIGKILL) == 0)
        while (waitpid(job->process->pid, &status, 0) < 0 && errno == EINTR)
            ;
    process_job_free(job, 0);
}

/* Set up and run the spawn in the pool.  On an error the job is freed,
 * the process with it. */
static int process_start(struct process_job *job,
                         const green_process_attr_t *attr)
{
    int err = process_stdio(job->process, attr, &job->actions, job->child_ends);

    if (err == 0)
        err = process_signals(&job->spawnattr);
    if (err != 0) {
        process_job_free(job, 0);
        return err;
    }
    /* On its errors, process_job_abandoned has freed the job. */
    err = green_tpool_execute_ex(process_job_run, job, process_job_abandoned,
                                 GREEN_FOREVER, NULL);
    if (err == 0 && (err = job->err) != 0)
        process_job_free(job, 0);
    else if (err == 0)
        process_job_free(job, 1);
    return err;
}

/* Set once pidfd_open reported ENOSYS: it is not tried again. */
static atomic_bool process_no_pidfd;

/* The pid cannot be reused before we reap it, so a pidfd opened after the
 * spawn is the child's.  Without pidfd_open, waits poll instead. */
static int process_open_pidfd(green_process_t *process)
{
    if (atomic_load_explicit(&process_no_pidfd, memory_order_relaxed))
        return 0;
    process->pidfd = pidfd_open(process->pid, 0);
    if (process->pidfd >= 0)
        return 0;
    if (errno != ENOSYS)
        return errno;
    atomic_store_explicit(&process_no_pidfd, 1, memory_order_relaxed);
    return 0;
}

static void process_close_pipes(green_process_t *process)
{
    for (int fd = 0; fd < 3; fd++)
        if (process->fds[fd] >= 0)
            green_process_close_fd(process, fd);
}

static int process_check_attr(const green_process_attr_t *attr)
{
    for (int fd = 0; fd < 3; fd++)
        if ((unsigned)attr->stdio[fd] > GREEN_STDIO_STDOUT ||
            (attr->stdio[fd] == GREEN_STDIO_STDOUT && fd != 2))
            return EINVAL;
    return 0;
}

int green_process_spawn(green_process_t **out, char *const argv[],
                        const green_process_attr_t *attr)
{
    static const green_process_attr_t inherit_all;
    green_process_t *process;
    struct process_job *job;
    int err;

    if (out == NULL || argv == NULL || argv[0] == NULL)
        return EINVAL;
    attr = attr != NULL ? attr : &inherit_all;
    err = process_check_attr(attr);
    if (err != 0)
        return err;
    process = calloc(1, sizeof(*process));
    if (process == NULL)
        return ENOMEM;
    process->pidfd = process->fds[0] = process->fds[1] = process->fds[2] = -1;
    job = process_job_new(process, argv, attr);
    if (job == NULL) {
        free(process);
        return ENOMEM;
    }
    err = process_find_program(argv[0], job->path, sizeof(job->path));
    if (err != 0) {
        process_job_free(job, 0);
        return err;
    }
    err = process_start(job, attr);
    if (err == 0 && (err = process_open_pidfd(process)) != 0)
        green_process_destroy(process); /* kills and reaps the child */
    else if (err == 0)
        *out = process;
    return err;
}

/* ---- Pipes, waits, signals ---------------------------------------------- */

pid_t green_process_pid(const green_process_t *process)
{
    return process != NULL ? process->pid : -1;
}

int green_process_fd(const green_process_t *process, int child_fd)
{
    if (process == NULL || child_fd < 0 || child_fd > 2)
        return -1;
    return process->fds[child_fd];
}

int green_process_close_fd(green_process_t *process, int child_fd)
{
    int fd;

    if (process == NULL || child_fd < 0 || child_fd > 2)
        return EINVAL;
    fd = process->fds[child_fd];
    if (fd < 0)
        return EBADF;
    process->fds[child_fd] = -1;
    return green_close(fd);
}

static void process_reaped(green_process_t *process, int status)
{
    process->reaped = 1;
    process->status = status;
    if (process->pidfd >= 0)
        green_close(process->pidfd);
    process->pidfd = -1;
}

/* One waitpid(WNOHANG): 0 once reaped, -1 with EAGAIN while it runs. */
static ssize_t process_attempt_reap(int pidfd, void *op)
{
    green_process_t *process = op;
    int status;
    pid_t pid = waitpid(process->pid, &status, WNOHANG);

    (void)pidfd;
    if (pid == 0)
        errno = EAGAIN;
    if (pid <= 0)
        return -1;
    process_reaped(process, status);
    return 0;
}

/* Seconds left until `at` (negative: no deadline), never below 0. */
static double process_time_left(double at)
{
    double left = at - green_now();

    if (at < 0)
        return GREEN_FOREVER;
    return left > 0 ? left : 0;
}

/* Without a pidfd: waitpid every few ms, backing off to 50 ms. */
static int process_poll_reap(green_process_t *process, double timeout)
{
    double at = timeout < 0 ? -1.0 : green_now() + timeout, pause = 0.001;

    for (;;) {
        double left;
        int err;

        if (process_attempt_reap(-1, process) == 0)
            return 0;
        if (errno != EAGAIN && errno != EINTR)
            return errno;
        left = process_time_left(at);
        if (left == 0)
            return ETIMEDOUT;
        err = green_sleep(left >= 0 && left < pause ? left : pause);
        if (err != 0)
            return err;
        pause = pause < 0.025 ? pause * 2 : 0.05;
    }
}

int green_process_wait(green_process_t *process, double timeout, int *status)
{
    int err = 0;

    if (process == NULL || isnan(timeout))
        return EINVAL;
    if (!process->reaped) {
        if (process->waiting)
            return EBUSY;
        process->waiting = 1;
        err = process->pidfd >= 0
                  ? green_io_retry(process->pidfd, GREEN_READ, timeout,
                                   process_attempt_reap, process, NULL)
                  : process_poll_reap(process, timeout);
        process->waiting = 0;
    }
    if (err == 0 && status != NULL)
        *status = process->status;
    return err;
}

int green_process_kill(green_process_t *process, int sig)
{
    if (process == NULL || sig < 0 || sig >= NSIG)
        return EINVAL;
    if (process->reaped)
        return ESRCH;
    return kill(process->pid, sig) == 0 ? 0 : errno;
}

int green_process_destroy(green_process_t *process)
{
    int status;

    if (process == NULL)
        return EINVAL;
    process_close_pipes(process);
    if (!process->reaped && kill(process->pid, SIGKILL) == 0)
        while (waitpid(process->pid, &status, 0) < 0 && errno == EINTR)
            ;
    if (process->pidfd >= 0)
        green_close(process->pidfd);
    free(process);
    return 0;
}

/* ---- communicate() ------------------------------------------------------ */

#define PROCESS_READ_CHUNK 65536

/* A write(2) that reports EPIPE without raising SIGPIPE: the signal is
 * blocked for the call, and one it raised is taken back off the thread
 * (unless one was already pending, which then stays). */
static ssize_t process_write_quietly(int fd, const void *buf, size_t len)
{
    sigset_t pipe_only, old, pending;
    struct timespec now = {0, 0};
    int was_pending, saved_errno;
    ssize_t written;

    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    sigpending(&pending);
    was_pending = sigismember(&pending, SIGPIPE);
    written = sys_libc()->write(fd, buf, len);
    saved_errno = errno;
    if (written < 0 && saved_errno == EPIPE && !was_pending)
        sigtimedwait(&pipe_only, NULL, &now);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved_errno;
    return written;
}

/* Write what is left of the input to the child's stdin as far as the pipe
 * takes it; close stdin once all is written or the child stopped
 * reading. */
static int process_feed(green_process_t *process, const char *input, size_t len,
                        size_t *done)
{
    while (*done < len) {
        ssize_t written =
            process_write_quietly(process->fds[0], input + *done, len - *done);

        if (written >= 0)
            *done += (size_t)written;
        else if (errno == EAGAIN)
            return 0;
        else if (errno == EPIPE)
            break;
        else if (errno != EINTR)
            return errno;
    }
    return green_process_close_fd(process, 0);
}

/* Where one output pipe's bytes go. */
struct process_sink {
    char **data;
    size_t *len, capacity;
};

static int process_sink_reserve(struct process_sink *sink)
{
    size_t capacity = sink->capacity;
    char *data;

    if (capacity - *sink->len > PROCESS_READ_CHUNK)
        return 0;
    capacity =
        capacity > PROCESS_READ_CHUNK ? capacity * 2 : 2 * PROCESS_READ_CHUNK;
    data = realloc(*sink->data, capacity);
    if (data == NULL)
        return ENOMEM;
    data[*sink->len] = '\0';
    *sink->data = data;
    sink->capacity = capacity;
    return 0;
}

/* Read everything a pipe holds now into its sink; close it at EOF. */
static int process_drain(green_process_t *process, int child_fd,
                         struct process_sink *sink)
{
    for (;;) {
        int err = process_sink_reserve(sink);
        ssize_t got;

        if (err != 0)
            return err;
        got = sys_libc()->read(process->fds[child_fd], *sink->data + *sink->len,
                               sink->capacity - *sink->len - 1);
        if (got > 0) {
            *sink->len += (size_t)got;
            (*sink->data)[*sink->len] = '\0';
        } else if (got == 0)
            return green_process_close_fd(process, child_fd);
        else if (errno == EAGAIN)
            return 0;
        else if (errno != EINTR)
            return errno;
    }
}

struct process_talk {
    green_process_t *process;
    const char *input;
    size_t input_len, input_done;
    struct process_sink sinks[3]; /* by child fd; [0] unused */
};

/* Register the open pipes with the poll loop's epoll fd (level-triggered;
 * a closed fd leaves it by itself), each tagged with its child fd. */
static int process_talk_watch(struct process_talk *talk, int epoll_fd)
{
    for (int fd = 0; fd < 3; fd++) {
        struct epoll_event event = {.events = fd == 0 ? EPOLLOUT : EPOLLIN,
                                    .data.u32 = (uint32_t)fd};
        int err;

        if (talk->process->fds[fd] < 0)
            continue;
        if (fd > 0 && (err = process_sink_reserve(&talk->sinks[fd])) != 0)
            return err;
        if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, talk->process->fds[fd], &event) <
            0)
            return errno;
    }
    return 0;
}

static int process_talk_step(struct process_talk *talk, int child_fd)
{
    if (talk->process->fds[child_fd] < 0) /* closed by an earlier event */
        return 0;
    if (child_fd == 0)
        return process_feed(talk->process, talk->input, talk->input_len,
                            &talk->input_done);
    return process_drain(talk->process, child_fd, &talk->sinks[child_fd]);
}

static int process_pipes_open(const green_process_t *process)
{
    return process->fds[0] >= 0 || process->fds[1] >= 0 || process->fds[2] >= 0;
}

/* Until every pipe is closed: take the ready ones' events without
 * blocking, and park on the epoll fd (readable when any pipe is ready)
 * when there are none. */
static int process_talk_loop(struct process_talk *talk, int epoll_fd, double at)
{
    int err = 0;

    while (err == 0 && process_pipes_open(talk->process)) {
        struct epoll_event events[3];
        int count = sys_libc()->epoll_wait(epoll_fd, events, 3, 0);

        if (count < 0 && errno != EINTR)
            return errno;
        if (count == 0)
            err = green_wait_fd(epoll_fd, GREEN_READ, process_time_left(at));
        for (int i = 0; i < count && err == 0; i++)
            err = process_talk_step(talk, (int)events[i].data.u32);
    }
    return err;
}

int green_process_communicate(green_process_t *process, const void *input,
                              size_t input_len, green_process_output_t *output,
                              double timeout)
{
    struct process_talk talk = {process, input, input_len, 0, {{0}}};
    double at;
    int epoll_fd, err;

    if (output != NULL)
        memset(output, 0, sizeof(*output));
    if (process == NULL || output == NULL || isnan(timeout) ||
        (input == NULL && input_len > 0) ||
        (input_len > 0 && process->fds[0] < 0))
        return EINVAL;
    at = timeout < 0 ? -1.0 : green_now() + timeout;
    talk.sinks[1] = (struct process_sink){&output->out, &output->out_len, 0};
    talk.sinks[2] = (struct process_sink){&output->err, &output->err_len, 0};
    if (input_len == 0 && process->fds[0] >= 0)
        green_process_close_fd(process, 0);
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0)
        return errno;
    err = process_talk_watch(&talk, epoll_fd);
    if (err == 0)
        err = process_talk_loop(&talk, epoll_fd, at);
    green_close(epoll_fd);
    if (err == 0)
        err =
            green_process_wait(process, process_time_left(at), &output->status);
    return err;
}

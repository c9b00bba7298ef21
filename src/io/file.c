/*
 * Regular files (green/file.h): each call is one operation described by a
 * struct file_op, run as an io_uring operation when the hub has a ring
 * (hub/uring.h), else as a thread-pool job.
 *
 * A pool job is shared by the caller and the pool (two references), so
 * that whichever finishes last frees it: a caller cut short may leave
 * before its job ends.  The job's state says whether a worker has taken
 * it, so that a cut can still stop a queued job from ever starting, and
 * the caller can wait for a started one that uses its buffer.
 */
#define _GNU_SOURCE /* O_CLOEXEC, pread/pwrite */
#include <green/file.h>
#include <green/tpool.h>

#include "greenlet/sys.h"
#include "hub/uring.h"
#include "io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum file_opcode {
    FILE_OPEN,
    FILE_READ,
    FILE_WRITE,
    FILE_PREAD,
    FILE_PWRITE,
    FILE_FSYNC,
    FILE_CLOSE
};

struct file_op {
    enum file_opcode code;
    int fd;
    void *buf; /* the caller's, for reads and writes */
    size_t len;
    off_t offset;
    const char *path;
    int flags;
    mode_t mode;
};

/* ---- The system calls --------------------------------------------------- */

/* One blocking system call: its result, or -1 with errno. */
static ssize_t file_syscall(const struct file_op *op)
{
    switch (op->code) {
    case FILE_OPEN:
        return open(op->path, op->flags, op->mode);
    case FILE_READ:
        return sys_libc()->read(op->fd, op->buf, op->len);
    case FILE_WRITE:
        return sys_libc()->write(op->fd, op->buf, op->len);
    case FILE_PREAD:
        return pread(op->fd, op->buf, op->len, op->offset);
    case FILE_PWRITE:
        return pwrite(op->fd, op->buf, op->len, op->offset);
    case FILE_FSYNC:
        return fsync(op->fd);
    case FILE_CLOSE:
        return sys_libc()->close(op->fd);
    }
    errno = EINVAL;
    return -1;
}

/* Reads and writes lend the caller's buffer to the operation. */
static int file_borrows(const struct file_op *op)
{
    return op->code != FILE_OPEN && op->code != FILE_FSYNC &&
           op->code != FILE_CLOSE;
}

/* ---- The thread-pool path --------------------------------------------- */

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_SKIPPED };

struct file_job {
    struct file_op op; /* op.path points at path_copy */
    atomic_int refs;   /* the caller's and the pool's */
    atomic_int state;  /* enum job_state */
    int taken;         /* the caller took the result (an opened fd) */
    ssize_t result;
    int err;
    pthread_mutex_t lock; /* with done: a cut caller waits for a worker */
    pthread_cond_t done;
    char path_copy[];
};

static struct file_job *job_new(const struct file_op *op)
{
    size_t path_size = op->path != NULL ? strlen(op->path) + 1 : 0;
    struct file_job *job = calloc(1, sizeof(*job) + path_size);

    if (job == NULL)
        return NULL;
    job->op = *op;
    if (op->path != NULL)
        job->op.path = memcpy(job->path_copy, op->path, path_size);
    atomic_init(&job->refs, 2);
    atomic_init(&job->state, JOB_QUEUED);
    pthread_mutex_init(&job->lock, NULL);
    pthread_cond_init(&job->done, NULL);
    return job;
}

/* The last reference frees the job, closing a file its caller gave up. */
static void job_unref(struct file_job *job)
{
    if (atomic_fetch_sub_explicit(&job->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (job->op.code == FILE_OPEN && !job->taken &&
        atomic_load(&job->state) == JOB_DONE && job->result >= 0)
        sys_libc()->close((int)job->result);
    pthread_cond_destroy(&job->done);
    pthread_mutex_destroy(&job->lock);
    free(job);
}

/* In a worker: run the operation unless a cut caller skipped it first. */
static void *job_run(void *arg)
{
    struct file_job *job = arg;
    int expected = JOB_QUEUED;

    if (!atomic_compare_exchange_strong(&job->state, &expected, JOB_RUNNING))
        return NULL;
    job->result = file_syscall(&job->op);
    job->err = job->result < 0 ? errno : 0;
    pthread_mutex_lock(&job->lock);
    atomic_store(&job->state, JOB_DONE);
    pthread_cond_signal(&job->done);
    pthread_mutex_unlock(&job->lock);
    return NULL;
}

/* The pool's reference, dropped when it is done with the job. */
static void job_abandoned(void *arg, void *result)
{
    (void)result;
    job_unref(arg);
}

/* The caller stopped waiting with err (a cut, or no worker): 0 if the
 * job ran all the same, else err.  A queued job is skipped (a close is
 * made here instead: it must release the fd); a started one that borrows
 * the caller's buffer is waited for (the cut green thread cannot park, so
 * the OS thread waits). */
static int job_after_error(struct file_job *job, int err)
{
    int expected = JOB_QUEUED;

    if (err == EOWNERDEAD) /* the parent's worker, not this process's */
        return err;
    if (atomic_compare_exchange_strong(&job->state, &expected, JOB_SKIPPED)) {
        if (job->op.code == FILE_CLOSE)
            sys_libc()->close(job->op.fd);
        return err;
    }
    if (file_borrows(&job->op)) {
        pthread_mutex_lock(&job->lock);
        while (atomic_load(&job->state) != JOB_DONE)
            pthread_cond_wait(&job->done, &job->lock);
        pthread_mutex_unlock(&job->lock);
    }
    /* Done anyway: its result stands. */
    return atomic_load(&job->state) == JOB_DONE ? 0 : err;
}

static int file_run_in_pool(const struct file_op *op, ssize_t *result)
{
    struct file_job *job = job_new(op);
    int err;

    if (job == NULL)
        return ENOMEM;
    err = green_tpool_execute_ex(job_run, job, job_abandoned, GREEN_FOREVER,
                                 NULL);
    if (err == 0)
        job_unref(job); /* the pool's: it is done */
    else
        err = job_after_error(job, err);
    if (err == 0) {
        err = job->err;
        *result = job->result;
        job->taken = 1;
    }
    job_unref(job);
    return err;
}

/* ---- The io_uring path ----------------------------------------------- */

#ifdef GREEN_HAVE_URING

/* Longer transfers are cut short, as read(2) and write(2) do at this
 * size (the SQE's length is 32 bits). */
#define FILE_URING_MAX_LEN 0x7ffff000u

static void file_prep(struct io_uring_sqe *sqe, void *arg)
{
    const struct file_op *op = arg;
    unsigned len =
        op->len > FILE_URING_MAX_LEN ? FILE_URING_MAX_LEN : (unsigned)op->len;
    /* -1: at the file offset, which the operation advances. */
    __u64 at = op->code == FILE_READ || op->code == FILE_WRITE
                   ? (__u64)-1
                   : (__u64)op->offset;

    switch (op->code) {
    case FILE_OPEN:
        io_uring_prep_openat(sqe, AT_FDCWD, op->path, op->flags, op->mode);
        break;
    case FILE_READ:
    case FILE_PREAD:
        io_uring_prep_read(sqe, op->fd, op->buf, len, at);
        break;
    case FILE_WRITE:
    case FILE_PWRITE:
        io_uring_prep_write(sqe, op->fd, op->buf, len, at);
        break;
    case FILE_FSYNC:
        io_uring_prep_fsync(sqe, op->fd, 0);
        break;
    case FILE_CLOSE:
        io_uring_prep_close(sqe, op->fd);
        break;
    }
}

/* hub_uring_submit waits out a cut: when it returns, the kernel is done
 * with the caller's buffer and path. */
static int file_run_native(const struct file_op *op, ssize_t *result)
{
    int res = 0;
    int err =
        hub_uring_submit(-1, 0, file_prep, (void *)op, GREEN_FOREVER, &res);

    if (err != 0 && op->code == FILE_CLOSE)
        sys_libc()->close(op->fd); /* cut before it ran: never skipped */
    if (err != 0)
        return err;
    if (res < 0)
        return -res;
    *result = res;
    return 0;
}

#endif

static int file_run_op(const struct file_op *op, ssize_t *result)
{
#ifdef GREEN_HAVE_URING
    if (hub_uring_active())
        return file_run_native(op, result);
#endif
    return file_run_in_pool(op, result);
}

/* ---- Public calls ------------------------------------------------------ */

/* Run op; *out (may be NULL) gets its non-negative result. */
static int file_run(const struct file_op *op, size_t *out)
{
    ssize_t result = 0;
    int err;

    if (file_borrows(op) && op->buf == NULL && op->len > 0)
        return EINVAL;
    err = file_run_op(op, &result);
    if (err == 0 && out != NULL)
        *out = (size_t)result;
    return err;
}

int green_file_open(int *out_fd, const char *path, int flags, mode_t mode)
{
    struct file_op op = {.code = FILE_OPEN,
                         .path = path,
                         .flags = flags | O_CLOEXEC,
                         .mode = mode};
    size_t fd = 0;
    int err;

    if (out_fd == NULL || path == NULL)
        return EINVAL;
    err = file_run(&op, &fd);
    if (err == 0)
        *out_fd = (int)fd;
    return err;
}

static int file_transfer(enum file_opcode code, int fd, const void *buf,
                         size_t len, off_t offset, size_t *out_len)
{
    struct file_op op = {.code = code,
                         .fd = fd,
                         .buf = (void *)buf,
                         .len = len,
                         .offset = offset};

    if (offset < 0)
        return EINVAL;
    return file_run(&op, out_len);
}

int green_file_read(int fd, void *buf, size_t len, size_t *out_len)
{
    return file_transfer(FILE_READ, fd, buf, len, 0, out_len);
}

int green_file_write(int fd, const void *buf, size_t len, size_t *out_len)
{
    return file_transfer(FILE_WRITE, fd, buf, len, 0, out_len);
}

int green_pread(int fd, void *buf, size_t len, off_t offset, size_t *out_len)
{
    return file_transfer(FILE_PREAD, fd, buf, len, offset, out_len);
}

int green_pwrite(int fd, const void *buf, size_t len, off_t offset,
                 size_t *out_len)
{
    return file_transfer(FILE_PWRITE, fd, buf, len, offset, out_len);
}

int green_fsync(int fd)
{
    struct file_op op = {.code = FILE_FSYNC, .fd = fd};

    return file_run(&op, NULL);
}

int file_close(int fd)
{
    struct file_op op = {.code = FILE_CLOSE, .fd = fd};

    green_notify_close(fd);
    return file_run(&op, NULL);
}

int green_file_native(void)
{
    return hub_uring_active();
}

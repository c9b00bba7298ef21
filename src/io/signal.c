/*
 * Green signal waits: a signalfd for the wait's set, read through the io
 * layer's retry loop.
 */
#include <green/signal.h>

#include "greenlet/sys.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

int green_signal_block(const sigset_t *set)
{
    if (set == NULL)
        return EINVAL;
    return pthread_sigmask(SIG_BLOCK, set, NULL);
}

/* EINVAL unless set holds a signal and the calling thread blocks them
 * all: an unblocked one would go to its handler, never to the signalfd. */
static int signal_check_blocked(const sigset_t *set)
{
    sigset_t blocked;
    int members = 0;

    if (pthread_sigmask(SIG_BLOCK, NULL, &blocked) != 0)
        return EINVAL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sigismember(set, sig) != 1)
            continue;
        if (sigismember(&blocked, sig) != 1)
            return EINVAL;
        members++;
    }
    return members > 0 ? 0 : EINVAL;
}

static ssize_t signal_attempt_read(int fd, void *op)
{
    struct signalfd_siginfo info;
    ssize_t got = sys_libc()->read(fd, &info, sizeof(info));

    if (got == (ssize_t)sizeof(info))
        *(int *)op = (int)info.ssi_signo;
    return got;
}

int green_signal_wait(const sigset_t *set, int *signo, double timeout)
{
    int fd, err;

    if (set == NULL || signo == NULL || isnan(timeout))
        return EINVAL;
    err = signal_check_blocked(set);
    if (err != 0)
        return err;
    fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return errno;
    err = green_io_retry(fd, GREEN_READ, timeout, signal_attempt_read, signo,
                         NULL);
    green_close(fd);
    return err;
}

/*
 * libgreen — waiting for signals in a green thread: sigwaitinfo(2) that
 * parks only the caller, for SIGTERM/SIGINT shutdowns, SIGHUP reloads,
 * SIGCHLD or SIGUSR1 notifications.
 *
 * Each wait reads a signalfd(2) for its set, parked on with green_wait_fd,
 * so no handler runs and nothing is done in signal context.  That needs
 * the signals blocked, in every thread of the process: a signal sent to
 * the process goes to any one thread that does not block it, whose
 * handler or default action (for SIGTERM: ending the process) then takes
 * it instead of the wait.  So block them at the start of main(), before
 * any thread exists: threads inherit the mask of the thread that makes
 * them (hub threads and the watchdog's monitor do; the thread pool's
 * workers block every signal themselves).  green_signal_block does it for
 * the calling thread; green_signal_wait refuses a set that is not blocked
 * in the calling thread.  Children made by green_process_spawn start with
 * an empty mask.
 *
 * Who gets a signal:
 *  - one sent to the process (kill(1), Ctrl-C, a supervisor's SIGTERM)
 *    goes to exactly one waiter, whichever hub it runs in, when several
 *    wait for it;
 *  - one sent to one OS thread (pthread_kill, tgkill) only to waiters in
 *    that thread's hub;
 *  - one that comes while nobody waits stays pending and ends the next
 *    wait at once; like any pending standard signal, two deliveries
 *    before a wait count as one.
 * With libgreen_patch loaded: a blocked signal never runs a handler, so a
 * handler installed with sigaction for a signal in the set (and the
 * patch layer's wrapper around it) does not run for what a wait takes;
 * other signals and their handlers work as before.
 */
#ifndef GREEN_SIGNAL_H
#define GREEN_SIGNAL_H

#include <green/io.h>

#include <signal.h>
#include <sys/select.h> /* sigset_t, under -std=c99 too (POSIX) */

#ifdef __cplusplus
extern "C" {
#endif

/* Add set to the calling thread's blocked signals (pthread_sigmask
 * SIG_BLOCK).  0, or EINVAL for NULL. */
GREEN_EXTERN int green_signal_block(const sigset_t *set);

/* Park the calling green thread until one of the signals in set is
 * pending for the process or the calling thread, take it (it is then not
 * pending any more) and store its number in *signo.  timeout in seconds,
 * GREEN_FOREVER for none; timeout scopes and kills end the wait like any
 * blocking call (ETIMEDOUT, ECANCELED), and leave the signal pending.
 * EINVAL for a NULL set or signo, an empty set, or a set with a signal not
 * blocked in the calling thread (SIGKILL and SIGSTOP never are); EMFILE,
 * ENOMEM from signalfd(2). */
GREEN_EXTERN int green_signal_wait(const sigset_t *set, int *signo,
                                   double timeout);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_SIGNAL_H */

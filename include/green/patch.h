/*
 * libgreen — monkey patching for C: libc interposition that makes
 * unmodified blocking code cooperative.
 *
 * libgreen_patch defines the libc functions listed below.  Loaded first
 * (LD_PRELOAD=libgreen_patch.so, or linked into the program before libc),
 * its definitions are the ones every library of the process calls.  When
 * such a call is made from a green thread and would block, only that green
 * thread parks; the hub runs the others meanwhile.  Everywhere else — the
 * main greenlet (plain main() code), the hub, an OS thread without a hub, a
 * signal handler, or with patching disabled — each function is a plain
 * pass-through to libc with exactly libc's behaviour.
 *
 * Patched calls (see docs/patch.md for the details of each):
 *   I/O       read write readv writev recv send recvfrom sendto recvmsg
 *             sendmsg accept accept4 connect, and the _FORTIFY_SOURCE
 *             variants __read_chk __recv_chk __recvfrom_chk
 *   waiting   poll ppoll select pselect epoll_wait epoll_pwait, and
 *             __poll_chk __ppoll_chk
 *   sleeping  sleep usleep nanosleep clock_nanosleep
 *   DNS       getaddrinfo gethostbyname gethostbyname_r (thread pool)
 *   fds       close socket socketpair pipe pipe2 dup dup2 dup3 fcntl
 *             fcntl64 ioctl(FIONBIO) setsockopt(SO_RCVTIMEO, SO_SNDTIMEO)
 *   signals   sigaction signal (to give EINTR/SA_RESTART libc's meaning)
 *
 * Only sockets and pipes/FIFOs are made cooperative, and regular files on
 * an io_uring hub (read and write become green/file.h operations; on
 * epoll and poll they stay plain calls, see docs/patch.md).  Ttys and
 * other descriptors keep their blocking behaviour.  A socket or pipe
 * the user left blocking is driven nonblocking underneath, and
 * fcntl(F_GETFL) still reports the user's view; one the user made
 * nonblocking (O_NONBLOCK, SOCK_NONBLOCK, FIONBIO, MSG_DONTWAIT) returns
 * EAGAIN as the user expects.
 *
 * Errors from a parked call, as errno with a -1 return:
 *   EINTR       a signal handler ran (not restarted unless SA_RESTART
 *               applies, as in libc)
 *   EAGAIN      SO_RCVTIMEO/SO_SNDTIMEO expired (EINPROGRESS for connect)
 *   ECANCELED   the green thread was killed (green_thread_kill)
 *   ETIMEDOUT   an enclosing green_timeout scope expired
 * Killed and timed-out calls deliberately do not report EINTR: C code
 * commonly retries on EINTR, which would turn a kill into a busy loop.
 * Such a cut also shuts down the connections the call waited on, so that
 * the library never reads a stale answer: see green_patch_set_cut().
 */
#ifndef GREEN_PATCH_H
#define GREEN_PATCH_H

#include <green/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Patching is on from process start unless the environment variable
 * GREEN_PATCH is "0".  The switch is process-wide and takes effect at the
 * next call of each hook; a call already parked finishes cooperatively. */
GREEN_EXTERN void green_patch_enable(void);
GREEN_EXTERN void green_patch_disable(void);
/* 1 if patching is on, else 0. */
GREEN_EXTERN int green_patch_enabled(void);

/* A hooked call cut short while it waits — by a green_timeout scope
 * (ETIMEDOUT) or a kill (ECANCELED) — leaves its connection out of step:
 * the request may be sent and its answer still to come, and a library
 * that keeps the connection would take that answer for the next
 * request's.  GREEN_PATCH_CUT_SHUTDOWN (the default) shuts down, both
 * ways, the connections the cut call waited on, and drops what they had
 * received unread: the library sees a broken connection (end of file,
 * EPIPE, ECONNRESET) at its next use and reconnects or fails, never
 * reading a stale answer.  Connections are connected stream sockets with
 * an addressed peer (TCP, or AF_UNIX to a named socket); socketpairs,
 * pipes, eventfds, listening and unconnected sockets — the wake-up
 * descriptors libraries poll beside their connections — are never
 * touched.  GREEN_PATCH_CUT_KEEP leaves every descriptor as it is (the
 * library must cope).  Process-wide; the environment variable
 * GREEN_PATCH_CUT=keep selects KEEP at start.  EINVAL for another value. */
typedef enum green_patch_cut {
    GREEN_PATCH_CUT_SHUTDOWN = 0,
    GREEN_PATCH_CUT_KEEP
} green_patch_cut_t;
GREEN_EXTERN int green_patch_set_cut(green_patch_cut_t policy);
/* The policy in force. */
GREEN_EXTERN green_patch_cut_t green_patch_cut(void);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_PATCH_H */

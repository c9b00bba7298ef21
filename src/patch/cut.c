/*
 * Calls cut short: a hooked call that a green_timeout scope (ETIMEDOUT)
 * or a kill (ECANCELED) ends while it waits leaves its connection out of
 * step with the peer.  The request may have gone out, its answer not come
 * in; a library that keeps the connection (libpq does) would read that
 * answer as the answer to its next request.  So by default the
 * connections such a call waited on are shut down: the library sees a
 * broken connection at its next use and must reconnect.
 *
 * Which descriptors are connections?  Only connected stream and seqpacket
 * sockets whose peer has an address: TCP (any family but AF_UNIX), and
 * AF_UNIX connections to a named or abstract socket (a server's, such as
 * PostgreSQL's /run/postgresql/.s.PGSQL.5432).  Everything a library uses
 * inside the process to wake itself is left alone: socketpairs (their
 * peer is unnamed), pipes, eventfds and timerfds (no sockets), and
 * listening or unconnected sockets (no peer).  A connect cut before it
 * completed has no peer yet either; the library closes that socket
 * anyway.
 */
#include "patch_internal.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

static atomic_int cut_policy = GREEN_PATCH_CUT_SHUTDOWN;

__attribute__((constructor)) static void cut_read_environment(void)
{
    const char *value = getenv("GREEN_PATCH_CUT");

    if (value != NULL && strcmp(value, "keep") == 0)
        atomic_store(&cut_policy, GREEN_PATCH_CUT_KEEP);
}

int green_patch_set_cut(green_patch_cut_t policy)
{
    if (policy != GREEN_PATCH_CUT_SHUTDOWN && policy != GREEN_PATCH_CUT_KEEP)
        return EINVAL;
    atomic_store(&cut_policy, policy);
    return 0;
}

green_patch_cut_t green_patch_cut(void)
{
    return (green_patch_cut_t)atomic_load(&cut_policy);
}

/* A connection to a peer, as defined above. */
static bool is_connection(int fd)
{
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof(peer);
    int type;
    socklen_t type_len = sizeof(type);

    if (libc_real()->getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) !=
            0 ||
        (type != SOCK_STREAM && type != SOCK_SEQPACKET))
        return false;
    if (getpeername(fd, (struct sockaddr *)&peer, &peer_len) != 0)
        return false;
    return peer.ss_family != AF_UNIX ||
           peer_len > offsetof(struct sockaddr_un, sun_path);
}

/* Shut the connection down both ways and drop what it received but the
 * library has not read: that is the stale answer.  (Data the peer sends
 * later resets the connection: Linux answers data after a shutdown for
 * reading with RST.) */
static void cut_connection(int fd)
{
    char discard[4096];

    if (shutdown(fd, SHUT_RDWR) != 0)
        return;
    while (libc_real()->recvfrom(fd, discard, sizeof(discard), MSG_DONTWAIT,
                                 NULL, NULL) > 0)
        ;
}

int patch_after_wait(int err, const struct pollfd *fds, nfds_t nfds)
{
    int saved_errno = errno;

    if ((err != ETIMEDOUT && err != ECANCELED) ||
        atomic_load_explicit(&cut_policy, memory_order_relaxed) !=
            GREEN_PATCH_CUT_SHUTDOWN)
        return err;
    for (nfds_t i = 0; i < nfds; i++)
        if (fds[i].fd >= 0 && is_connection(fds[i].fd))
            cut_connection(fds[i].fd);
    errno = saved_errno;
    return err;
}

/*
 * libgreen — name resolution that parks only the calling green thread.
 *
 * Runs in the thread pool (green/tpool.h).  Returns 0 or a positive errno
 * code, like the rest of libgreen.
 */
#ifndef GREEN_DNS_H
#define GREEN_DNS_H

#include <green/export.h>
#include <green/tpool.h>

#include <netdb.h>

#ifdef __cplusplus
extern "C" {
#endif

/* <netdb.h> declares struct addrinfo only with POSIX feature macros; a
 * strict -std=c11 program must still be able to include this header. */
struct addrinfo;

/* getaddrinfo(3) in a thread-pool worker, so /etc/hosts, nsswitch and the
 * system resolver apply while the hub keeps running.  timeout in seconds
 * (GREEN_FOREVER: none; timeout scopes apply too).  Returns 0, ETIMEDOUT,
 * ECANCELED, ENOMEM, or the resolver's failure as an errno code: ENOENT
 * (EAI_NONAME, EAI_NODATA), EAGAIN (EAI_AGAIN), EAFNOSUPPORT (EAI_FAMILY),
 * ESRCH (EAI_SERVICE), EINVAL (EAI_BADFLAGS, EAI_SOCKTYPE), EIO (any other),
 * or errno for EAI_SYSTEM.  gai_error (may be NULL) receives the raw EAI_*
 * code (0 when the resolver did not fail).  Free *res with freeaddrinfo. */
GREEN_EXTERN int green_getaddrinfo(const char *node, const char *service,
                                   const struct addrinfo *hints,
                                   struct addrinfo **res, double timeout,
                                   int *gai_error);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_DNS_H */

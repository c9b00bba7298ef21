/*
 * DNS: the system getaddrinfo(3) run in the thread pool, as gevent's
 * default resolver does, so /etc/hosts and nsswitch apply unchanged.
 */
#include <green/dns.h>
#include <green/tpool.h>

#include "greenlet/sys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Owned by the job, not the caller, so an abandoned lookup can finish
 * safely after the caller returned. */
struct dns_lookup {
    char *node;
    char *service;
    struct addrinfo hints;
    int has_hints;
    struct addrinfo *result;
    int gai_error;
    int system_errno;
};

static void dns_lookup_free(struct dns_lookup *lookup)
{
    if (lookup->result != NULL)
        freeaddrinfo(lookup->result);
    free(lookup->node);
    free(lookup->service);
    free(lookup);
}

static void *dns_resolve(void *arg)
{
    struct dns_lookup *lookup = arg;

    lookup->gai_error = sys_libc()->getaddrinfo(
        lookup->node, lookup->service,
        lookup->has_hints ? &lookup->hints : NULL, &lookup->result);
    if (lookup->gai_error == EAI_SYSTEM)
        lookup->system_errno = errno;
    return NULL;
}

static void dns_abandoned(void *arg, void *result)
{
    (void)result;
    dns_lookup_free(arg);
}

static int gai_error_to_errno(int gai_error, int system_errno)
{
    switch (gai_error) {
    case 0:
        return 0;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
        return ENOENT;
    case EAI_AGAIN:
        return EAGAIN;
    case EAI_MEMORY:
        return ENOMEM;
    case EAI_FAMILY:
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
        return EAFNOSUPPORT;
    case EAI_SERVICE:
        return ESRCH;
    case EAI_BADFLAGS:
    case EAI_SOCKTYPE:
        return EINVAL;
    case EAI_SYSTEM:
        return system_errno != 0 ? system_errno : EIO;
    default:
        return EIO;
    }
}

static char *copy_or_null(const char *text, int *failed)
{
    char *copy;

    if (text == NULL)
        return NULL;
    copy = strdup(text);
    if (copy == NULL)
        *failed = 1;
    return copy;
}

int green_getaddrinfo(const char *node, const char *service,
                      const struct addrinfo *hints, struct addrinfo **res,
                      double timeout, int *gai_error)
{
    struct dns_lookup *lookup;
    int failed = 0;
    int err;

    if (gai_error != NULL)
        *gai_error = 0;
    if (res == NULL || (node == NULL && service == NULL))
        return EINVAL;
    lookup = calloc(1, sizeof(*lookup));
    if (lookup == NULL)
        return ENOMEM;
    lookup->node = copy_or_null(node, &failed);
    lookup->service = copy_or_null(service, &failed);
    if (hints != NULL) {
        /* Only the request fields of the hints are meaningful. */
        lookup->hints.ai_flags = hints->ai_flags;
        lookup->hints.ai_family = hints->ai_family;
        lookup->hints.ai_socktype = hints->ai_socktype;
        lookup->hints.ai_protocol = hints->ai_protocol;
        lookup->has_hints = 1;
    }
    if (failed) {
        dns_lookup_free(lookup);
        return ENOMEM;
    }

    err = green_tpool_execute_ex(dns_resolve, lookup, dns_abandoned, timeout,
                                 NULL);
    if (err != 0)
        return err; /* dns_abandoned frees the lookup */
    if (gai_error != NULL)
        *gai_error = lookup->gai_error;
    err = gai_error_to_errno(lookup->gai_error, lookup->system_errno);
    *res = lookup->result;
    lookup->result = NULL;
    dns_lookup_free(lookup);
    return err;
}

/*
 * DNS hooks: the resolver runs in a thread-pool worker (green/tpool.h) so
 * the hub keeps running while it waits; the worker calls libc's own
 * resolver (hooks pass through in a worker, which has no green thread).
 * With a pool of size 0 the pool would run the lookup inline, so the
 * hooks pass through at once.
 */
#include "patch_internal.h"

#include <green/dns.h>
#include <green/tpool.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

const struct patch_symbol patch_dns_symbols[] = {
    PATCH_SYMBOL(getaddrinfo),
    PATCH_SYMBOL(gethostbyname),
    PATCH_SYMBOL(gethostbyname_r),
    PATCH_SYMBOLS_END,
};

static bool resolve_in_pool(void)
{
    return patch_in_green_thread() && green_tpool_size() > 0;
}

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res)
{
    int gai_error, err;

    if (!resolve_in_pool() || res == NULL || (node == NULL && service == NULL))
        return libc_real()->getaddrinfo(node, service, hints, res);
    err =
        green_getaddrinfo(node, service, hints, res, GREEN_FOREVER, &gai_error);
    if (err == 0)
        return 0;
    if (gai_error == 0) /* the pool failed, or the caller was stopped */
        gai_error = err == ENOMEM ? EAI_MEMORY : EAI_SYSTEM;
    if (gai_error == EAI_SYSTEM)
        errno = err;
    return gai_error;
}

/* One gethostbyname_r call in a worker, into memory the job owns, so that
 * a caller killed meanwhile leaves the worker nothing dangling. */
struct host_lookup {
    char *name;
    struct hostent host;
    struct hostent *result;
    int h_error;
    int error;
    size_t buf_len;
    char buf[];
};

static void *host_lookup_run(void *arg)
{
    struct host_lookup *job = arg;

    job->error =
        libc_real()->gethostbyname_r(job->name, &job->host, job->buf,
                                     job->buf_len, &job->result, &job->h_error);
    return NULL;
}

static void host_lookup_free(struct host_lookup *job)
{
    if (job != NULL)
        free(job->name);
    free(job);
}

static void host_lookup_abandoned(void *arg, void *result)
{
    (void)result;
    host_lookup_free(arg);
}

/* Returns the finished job (the caller frees it), or NULL with *err. */
static struct host_lookup *host_lookup(const char *name, size_t buf_len,
                                       int *err)
{
    struct host_lookup *job = calloc(1, sizeof(*job) + buf_len);

    if (job == NULL || (job->name = strdup(name)) == NULL) {
        host_lookup_free(job);
        *err = ENOMEM;
        return NULL;
    }
    job->buf_len = buf_len;
    *err = green_tpool_execute_ex(host_lookup_run, job, host_lookup_abandoned,
                                  GREEN_FOREVER, NULL);
    return *err == 0 ? job : NULL;
}

/* A pointer into the job's buffer, moved to the same place in buf. */
static void *moved(const struct host_lookup *job, char *buf, void *pointer)
{
    uintptr_t p = (uintptr_t)pointer, start = (uintptr_t)job->buf;

    if (p < start || p >= start + job->buf_len)
        return pointer;
    return buf + (p - start);
}

static char **moved_list(const struct host_lookup *job, char *buf, char **list)
{
    char **copy = moved(job, buf, list);

    for (size_t i = 0; copy != NULL && copy[i] != NULL; i++)
        copy[i] = moved(job, buf, copy[i]);
    return copy;
}

int gethostbyname_r(const char *name, struct hostent *host, char *buf,
                    size_t buf_len, struct hostent **result, int *h_error)
{
    struct host_lookup *job;
    int err;

    if (!resolve_in_pool() || name == NULL)
        return libc_real()->gethostbyname_r(name, host, buf, buf_len, result,
                                            h_error);
    job = host_lookup(name, buf_len, &err);
    *result = NULL;
    if (job == NULL) {
        *h_error = NETDB_INTERNAL;
        errno = err;
        return err;
    }
    *h_error = job->h_error;
    err = job->error;
    if (err == 0 && job->result != NULL) {
        memcpy(buf, job->buf, buf_len);
        *host = job->host;
        host->h_name = moved(job, buf, job->host.h_name);
        host->h_aliases = moved_list(job, buf, job->host.h_aliases);
        host->h_addr_list = moved_list(job, buf, job->host.h_addr_list);
        *result = host;
    }
    host_lookup_free(job);
    if (err != 0)
        errno = err;
    return err;
}

/* gethostbyname's result stays valid until the next call, as libc's
 * static one does: the last finished job is kept. */
static pthread_mutex_t last_host_lock = PTHREAD_MUTEX_INITIALIZER;
static struct host_lookup *last_host;

struct hostent *gethostbyname(const char *name)
{
    struct host_lookup *job = NULL, *previous;
    size_t buf_len = 1024;
    int err;

    if (!resolve_in_pool() || name == NULL)
        return libc_real()->gethostbyname(name);
    for (;;) {
        job = host_lookup(name, buf_len, &err);
        if (job == NULL || job->error != ERANGE || buf_len >= 1 << 20)
            break;
        host_lookup_free(job);
        buf_len *= 2;
    }
    if (job == NULL) {
        h_errno = NETDB_INTERNAL;
        errno = err;
        return NULL;
    }
    h_errno = job->h_error;
    if (job->result == NULL) {
        if (job->error != 0)
            errno = job->error;
        host_lookup_free(job);
        return NULL;
    }
    pthread_mutex_lock(&last_host_lock);
    previous = last_host;
    last_host = job;
    pthread_mutex_unlock(&last_host_lock);
    host_lookup_free(previous);
    return &job->host;
}

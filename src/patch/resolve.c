/*
 * The real libc functions behind the hooks: dlsym(RTLD_NEXT) once per
 * symbol, all together, from a constructor so that no hook ever runs
 * dlsym (not async-signal-safe) later.
 */
#include "patch_internal.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

struct patch_libc patch_libc;
atomic_bool patch_libc_resolved;

#define PATCH_SYMBOL(name)                                                     \
    {                                                                          \
#name, (void **)&patch_libc.name                                       \
    }

static const struct {
    const char *name;
    void **slot;
} symbols[] = {
    PATCH_SYMBOL(read),
    PATCH_SYMBOL(write),
    PATCH_SYMBOL(readv),
    PATCH_SYMBOL(writev),
    PATCH_SYMBOL(recvfrom),
    PATCH_SYMBOL(sendto),
    PATCH_SYMBOL(recvmsg),
    PATCH_SYMBOL(sendmsg),
    PATCH_SYMBOL(accept4),
    PATCH_SYMBOL(connect),
    PATCH_SYMBOL(poll),
    PATCH_SYMBOL(ppoll),
    PATCH_SYMBOL(select),
    PATCH_SYMBOL(pselect),
    PATCH_SYMBOL(epoll_wait),
    PATCH_SYMBOL(epoll_pwait),
    PATCH_SYMBOL(sleep),
    PATCH_SYMBOL(usleep),
    PATCH_SYMBOL(nanosleep),
    PATCH_SYMBOL(clock_nanosleep),
    PATCH_SYMBOL(getaddrinfo),
    PATCH_SYMBOL(gethostbyname),
    PATCH_SYMBOL(gethostbyname_r),
    PATCH_SYMBOL(close),
    PATCH_SYMBOL(socket),
    PATCH_SYMBOL(socketpair),
    PATCH_SYMBOL(pipe),
    PATCH_SYMBOL(pipe2),
    PATCH_SYMBOL(dup),
    PATCH_SYMBOL(dup2),
    PATCH_SYMBOL(dup3),
    PATCH_SYMBOL(fcntl),
    PATCH_SYMBOL(ioctl),
    PATCH_SYMBOL(setsockopt),
    PATCH_SYMBOL(getsockopt),
    PATCH_SYMBOL(sigaction),
};

/* Idempotent: threads racing here store the same values. */
void patch_resolve_libc(void)
{
    for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
        void *address = dlsym(RTLD_NEXT, symbols[i].name);

        if (address == NULL) {
            /* A hook without its libc function cannot do anything sane. */
            fprintf(stderr, "libgreen_patch: no libc symbol %s\n",
                    symbols[i].name);
            abort();
        }
        *symbols[i].slot = address;
    }
    atomic_store_explicit(&patch_libc_resolved, true, memory_order_release);
}

__attribute__((constructor)) static void resolve_at_load(void)
{
    patch_resolve_libc();
}

/*
 * libc's own functions for libgreen's internal calls (see sys.h).
 *
 * How each is reached, and why:
 *  - Looked up by name in libc's own object (dlopen of libc's soname with
 *    RTLD_NOLOAD, then dlsym on that handle), once, at load time.  A
 *    handle lookup searches libc and its dependencies only, so it finds
 *    libc's definition whatever the process preloads or links first.
 *  - Not dlsym(RTLD_NEXT): that finds the next definition *after*
 *    libgreen in the lookup order, which is the interposer itself when
 *    the program links libgreen before libgreen_patch.
 *  - Not syscall(2): libc's wrappers do work the raw system calls do not.
 *    sigaction installs the signal-return trampoline (SA_RESTORER);
 *    poll and epoll_wait exist as system calls on x86-64 but not on
 *    aarch64 (ppoll, epoll_pwait); getaddrinfo is no system call at all;
 *    and valgrind and the sanitizers understand libc's calls.
 *  - Under ThreadSanitizer, its interceptors are kept (the plain linked
 *    symbols): TSan learns the ordering between threads from them (the
 *    hub's wake-up fd), and the patch layer is not used with TSan.
 * Without a libc to open (a libc other than glibc), the plain linked
 * symbols are used, as before.
 */
#define _GNU_SOURCE
#include "sys.h"

#include "sanitizer.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>
#if __has_include(<gnu/lib-names.h>)
#include <gnu/lib-names.h>
#endif

struct sys_libc sys_table;
atomic_bool sys_resolved;

struct sys_entry {
    const char *name;
    void **slot;
    void *linked; /* the symbol as this object links it */
};

#define SYS_ENTRY(symbol)                                                      \
    {                                                                          \
#symbol, (void **)&sys_table.symbol, (void *)symbol                    \
    }

static const struct sys_entry entries[] = {
    SYS_ENTRY(read),       SYS_ENTRY(write),       SYS_ENTRY(recvfrom),
    SYS_ENTRY(sendto),     SYS_ENTRY(accept4),     SYS_ENTRY(connect),
    SYS_ENTRY(socket),     SYS_ENTRY(getsockopt),  SYS_ENTRY(setsockopt),
    SYS_ENTRY(fcntl),      SYS_ENTRY(close),       SYS_ENTRY(pipe),
    SYS_ENTRY(pipe2),      SYS_ENTRY(poll),
#ifdef __linux__
    SYS_ENTRY(epoll_wait),
#endif
    SYS_ENTRY(sigaction),  SYS_ENTRY(getaddrinfo),
};

static void *libc_handle(void)
{
#if defined(LIBC_SO) && !defined(GREEN_TSAN)
    return dlopen(LIBC_SO, RTLD_LAZY | RTLD_NOLOAD);
#else
    return NULL;
#endif
}

/* Threads racing here store the same values. */
void sys_resolve(void)
{
    void *libc = libc_handle();

    for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
        void *address = libc != NULL ? dlsym(libc, entries[i].name) : NULL;

        *entries[i].slot = address != NULL ? address : entries[i].linked;
    }
    /* libc stays loaded: RTLD_NOLOAD only took a reference. */
    if (libc != NULL)
        dlclose(libc);
    atomic_store_explicit(&sys_resolved, true, memory_order_release);
}

__attribute__((constructor)) static void sys_resolve_at_load(void)
{
    sys_resolve();
}

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

static const struct patch_symbol *const symbol_lists[] = {
    patch_io_symbols,     patch_poll_symbols, patch_sleep_symbols,
    patch_dns_symbols,    patch_fd_symbols,   patch_fdstate_symbols,
    patch_signal_symbols,
};

/* Idempotent: threads racing here store the same values. */
void patch_resolve_libc(void)
{
    for (size_t i = 0; i < sizeof(symbol_lists) / sizeof(symbol_lists[0]);
         i++) {
        for (const struct patch_symbol *s = symbol_lists[i]; s->name != NULL;
             s++) {
            void *address = dlsym(RTLD_NEXT, s->name);

            if (address == NULL) {
                /* A hook without its libc function cannot work at all. */
                fprintf(stderr, "libgreen_patch: no libc symbol %s\n", s->name);
                abort();
            }
            *s->slot = address;
        }
    }
    atomic_store_explicit(&patch_libc_resolved, true, memory_order_release);
}

__attribute__((constructor)) static void resolve_at_load(void)
{
    patch_resolve_libc();
}

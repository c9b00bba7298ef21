/*
 * sigaction and signal: every handler the program installs runs inside a
 * small wrapper that counts, per OS thread, the handlers that ran with and
 * without SA_RESTART.  A parked hook learns from these counts whether libc
 * would have restarted its call or failed it with EINTR.  The wrapper is
 * invisible: the old action reported back is the program's own.
 */
#include "patch_internal.h"

#include <errno.h>

const struct patch_symbol patch_signal_symbols[] = {
    PATCH_SYMBOL(sigaction),
    PATCH_SYMBOLS_END,
};

PATCH_TLS volatile sig_atomic_t patch_handler_depth;
static PATCH_TLS volatile unsigned long restarting_handlers;
static PATCH_TLS volatile unsigned long interrupting_handlers;

typedef void (*siginfo_handler_fn)(int, siginfo_t *, void *);
/* Either kind of handler, stored as the generic function pointer type that
 * converts to both. */
typedef void (*any_handler_fn)(void);

/* The program's own action for each wrapped signal. */
static struct {
    _Atomic(any_handler_fn) handler;
    atomic_int flags;
} program_actions[NSIG];

patch_signal_counts_t patch_signal_counts(void)
{
    return (patch_signal_counts_t){.restarting = restarting_handlers,
                                   .interrupting = interrupting_handlers};
}

static void counting_wrapper(int sig, siginfo_t *info, void *context)
{
    any_handler_fn handler = atomic_load(&program_actions[sig].handler);
    int flags = atomic_load(&program_actions[sig].flags);

    patch_handler_depth++;
    if (flags & SA_SIGINFO)
        ((siginfo_handler_fn)handler)(sig, info, context);
    else
        ((void (*)(int))handler)(sig);
    patch_handler_depth--;
    if (flags & SA_RESTART)
        restarting_handlers++;
    else
        interrupting_handlers++;
}

/* Faults are synchronous: they never interrupt a blocking call, and their
 * handlers (libgreen's stack-overflow report) are left untouched. */
static bool wrappable(int sig, const struct sigaction *act)
{
    return act != NULL && sig > 0 && sig < NSIG && sig != SIGSEGV &&
           sig != SIGBUS && sig != SIGILL && sig != SIGFPE && sig != SIGTRAP &&
           act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN &&
           atomic_load_explicit(&patch_on, memory_order_relaxed);
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    const struct patch_libc *libc = libc_real();
    struct sigaction wrapped;
    any_handler_fn previous_handler;
    int previous_flags, result;
    bool wrap = wrappable(sig, act);

    if (sig <= 0 || sig >= NSIG)
        return libc->sigaction(sig, act, old); /* libc's EINVAL */
    previous_handler = atomic_load(&program_actions[sig].handler);
    previous_flags = atomic_load(&program_actions[sig].flags);
    if (wrap) {
        /* Recorded before the kernel can run the wrapper for it. */
        atomic_store(&program_actions[sig].handler,
                     (any_handler_fn)act->sa_sigaction);
        atomic_store(&program_actions[sig].flags, act->sa_flags);
        wrapped = *act;
        wrapped.sa_sigaction = counting_wrapper;
        wrapped.sa_flags |= SA_SIGINFO;
        act = &wrapped;
    }
    result = libc->sigaction(sig, act, old);
    if (result != 0 && wrap) {
        atomic_store(&program_actions[sig].handler, previous_handler);
        atomic_store(&program_actions[sig].flags, previous_flags);
    } else if (result == 0 && old != NULL &&
               old->sa_sigaction == counting_wrapper) {
        old->sa_sigaction = (siginfo_handler_fn)previous_handler;
        old->sa_flags =
            (old->sa_flags & ~SA_SIGINFO) | (previous_flags & SA_SIGINFO);
    }
    return result;
}

/* glibc's signal(): BSD semantics, i.e. SA_RESTART and the signal itself
 * blocked while its handler runs. */
sighandler_t signal(int sig, sighandler_t handler)
{
    struct sigaction act = {.sa_handler = handler, .sa_flags = SA_RESTART};
    struct sigaction old;

    if (handler == SIG_ERR || sig <= 0 || sig >= NSIG) {
        errno = EINVAL;
        return SIG_ERR;
    }
    sigemptyset(&act.sa_mask);
    sigaddset(&act.sa_mask, sig);
    if (sigaction(sig, &act, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}

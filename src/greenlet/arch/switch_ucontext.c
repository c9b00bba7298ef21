/*
 * Portable context switch on ucontext, for platforms without an assembly
 * switch.  Correct but slow: swapcontext saves and restores the signal
 * mask with a system call on every switch.
 */
#include "switch.h"

#if defined(GREEN_ARCH_PORTABLE)

/* makecontext passes only ints, so the entry function and what a switch
 * carries travel through thread-local slots; each is consumed right after
 * the swap. */
static _Thread_local green_context_entry_fn pending_entry;
static _Thread_local greenlet_transfer_t pending_transfer;
static _Thread_local int pending_intercept;

static void context_trampoline(void)
{
    green_context_entry_fn entry = pending_entry;
    if (pending_intercept)
        green_context_on_resume();
    entry();
}

void green_context_make(green_context_t *ctx, void *stack_lo, void *stack_top,
                        green_context_entry_fn entry)
{
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = stack_lo;
    ctx->uc.uc_stack.ss_size = (size_t)((char *)stack_top - (char *)stack_lo);
    ctx->uc.uc_link = NULL;
    ctx->entry = entry;
    makecontext(&ctx->uc, context_trampoline, 0);
}

greenlet_transfer_t green_context_switch(green_context_t *from,
                                         green_context_t *to, void *value,
                                         int err)
{
    greenlet_transfer_t back;

    if (to->entry) {
        pending_entry = to->entry;
        to->entry = NULL;
    }
    pending_transfer = (greenlet_transfer_t){.err = err, .value = value};
    pending_intercept = to->intercepted;
    to->intercepted = 0;
    swapcontext(&from->uc, &to->uc);
    back = pending_transfer;
    if (pending_intercept) {
        pending_intercept = 0;
        green_context_on_resume();
    }
    return back;
}

#endif

/*
 * Internal interface of the context switch: one implementation per ABI in
 * src/arch/ (x86_64_sysv.S, aarch64_aapcs.S) and a portable ucontext
 * fallback (switch_ucontext.c) chosen at build time with
 * GREEN_ARCH_PORTABLE.
 *
 * A context is a suspended C stack.  green_context_switch(from, to, value,
 * err) saves the callee-saved state of the running context in `from` and
 * resumes `to`, whose own green_context_switch() then returns {err, value}
 * (in two registers: nothing goes through memory).  `to` is never `from`:
 * the switch reads `to` before it saves into `from`.  A context made by
 * green_context_make() starts in entry() instead; entry must never return.
 */
#ifndef GREEN_ARCH_SWITCH_H
#define GREEN_ARCH_SWITCH_H

#include <green/greenlet.h>

#include <stddef.h>

typedef void (*green_context_entry_fn)(void);

/* Provided by the user of this interface: called on a context's own stack
 * when it resumes after green_context_intercept(), before anything else
 * runs there.  Returns what green_context_intercept() stored in *resume. */
void *green_context_on_resume(void);

#if defined(GREEN_ARCH_PORTABLE)

#include <ucontext.h>

typedef struct green_context {
    ucontext_t uc;
    green_context_entry_fn entry; /* set until the context first runs */
    int intercepted;              /* see green_context_intercept() */
} green_context_t;

void green_context_make(green_context_t *ctx, void *stack_lo, void *stack_top,
                        green_context_entry_fn entry);
greenlet_transfer_t green_context_switch(green_context_t *from,
                                         green_context_t *to, void *value,
                                         int err);

/* Make the next resume of the suspended ctx call green_context_on_resume()
 * first, on ctx's stack. */
static inline void green_context_intercept(green_context_t *ctx, void **resume)
{
    *resume = NULL;
    ctx->intercepted = 1;
}

#else

typedef struct green_context {
    void *sp; /* saved stack pointer; the registers live on the stack */
} green_context_t;

/* All in assembly.  make returns the initial stack pointer.  On x86-64
 * the switch's body is shared with the greenlet_transfer() fast path,
 * which falls into it. */
void *green_arch_make(void *stack_top, green_context_entry_fn entry);
greenlet_transfer_t green_arch_switch(green_context_t *to, void *value, int err,
                                      green_context_t *from);
/* Resumed into in place of a saved resume address: calls
 * green_context_on_resume() and jumps where it says, keeping the two
 * return registers intact. */
void green_arch_intercept_trampoline(void);

/* Where a suspended context's resume address lies in its saved frame. */
#if defined(__x86_64__)
#define GREEN_ARCH_RESUME_OFFSET 56
#elif defined(__aarch64__)
#define GREEN_ARCH_RESUME_OFFSET 88
#endif

static inline void green_context_make(green_context_t *ctx, void *stack_lo,
                                      void *stack_top,
                                      green_context_entry_fn entry)
{
    (void)stack_lo;
    ctx->sp = green_arch_make(stack_top, entry);
}

/* A call in tail position becomes a jump, so that the resumed side returns
 * straight to its own caller: no return is then mispredicted. */
static inline greenlet_transfer_t green_context_switch(green_context_t *from,
                                                       green_context_t *to,
                                                       void *value, int err)
{
    return green_arch_switch(to, value, err, from);
}

/* Make the next resume of the suspended ctx call green_context_on_resume()
 * first, on ctx's stack: its resume address is swapped for the trampoline
 * and kept in *resume. */
static inline void green_context_intercept(green_context_t *ctx, void **resume)
{
    void **slot = (void **)((char *)ctx->sp + GREEN_ARCH_RESUME_OFFSET);
    *resume = *slot;
    *slot = (void *)green_arch_intercept_trampoline;
}

#endif

#endif /* GREEN_ARCH_SWITCH_H */

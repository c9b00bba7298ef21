/*
 * Context switch for x86-64, System V ABI, and the fast path of
 * greenlet_transfer() that falls into it.
 *
 * Saved frame, from the saved stack pointer upwards:
 *     0  MXCSR (4 bytes)      4  x87 control word (2 bytes)
 *     8  r15   16 r14   24 r13   32 r12   40 rbx   48 rbp
 *    56  resume address
 *
 * The switch ends with an indirect jmp instead of ret: after a stack swap
 * the return-stack predictor is always wrong, and a jmp avoids the
 * misprediction that a ret would pay on every switch.  The resumed side
 * gets {err, value} in rax and rdx, the registers a two-word struct is
 * returned in, so nothing it is resumed with goes through memory.
 *
 * What the resumed side does first is return, usually through calls the
 * predictor no longer knows, and each of those returns waits for the new
 * stack pointer.  So the target's saved stack pointer is loaded first
 * thing, before the checks and the saves, and its resume address as soon
 * as the stack is swapped: measured with each side switching from four
 * calls deep, this took 7% off a switch.
 *
 * MXCSR and the x87 control word are saved on every switch.  stmxcsr is
 * half the cost of a switch on its own, wherever it is placed.  MXCSR is
 * always reloaded (a compare would read back stmxcsr's store, which costs
 * more than the ldmxcsr it saves); the x87 control word is reloaded only
 * when it differs, since fldcw is slow and the value rarely changes.  The
 * saved control word is read back before the stack pointer is stored: when
 * the greenlet struct and the frame share their low 12 address bits, a
 * store in between makes the read wait (4K aliasing), measured at 40%
 * slower switches for the whole life of such a process.
 * No signal mask is touched: that syscall is what makes swapcontext slow.
 */

#include "greenlet/greenlet_layout.h"

#if defined(__CET__)
#define LANDING_PAD endbr64
#else
#define LANDING_PAD
#endif

    .text

/* greenlet_transfer_t green_arch_switch(green_context_t *to, void *value,
 *                                       int err, green_context_t *from)
 * The switch as called from C.  The body below takes the target's stack
 * pointer in r10, the error to resume it with in eax and `from` in rcx:
 * the registers greenlet_transfer()'s fast path has them in when it falls
 * into the body. */
    .globl  green_arch_switch
    .hidden green_arch_switch
    .type   green_arch_switch, @function
    .p2align 4
green_arch_switch:
    .cfi_startproc
    LANDING_PAD
    movq    (%rdi), %r10
    movl    %edx, %eax
    jmp     .Lswitch_body
    .cfi_endproc
    .size   green_arch_switch, .-green_arch_switch

#if defined(GREEN_TRANSFER_IN_ASM)
/* greenlet_transfer_t greenlet_transfer(greenlet_t *g, void *value)
 * The common case, a suspended greenlet of this thread with no trace hook
 * installed (green_untraced_state is NULL then), falls straight into the
 * switch below.  Starting a greenlet goes to green_transfer_start(ts, g,
 * value), everything else to green_transfer_slow(g, value), both in
 * greenlet.c. */
    .globl  greenlet_transfer
    .type   greenlet_transfer, @function
    .p2align 4
greenlet_transfer:
    .cfi_startproc
    LANDING_PAD
    testq   %rdi, %rdi
    jz      .Ltransfer_slow
    movq    GREEN_GREENLET_SP(%rdi), %r10 /* first: see the top */
    movq    green_untraced_state@gottpoff(%rip), %r8
    movq    %fs:(%r8), %r8
    cmpq    %r8, GREEN_GREENLET_TSTATE(%rdi)
    jne     .Ltransfer_slow
    cmpb    $GREEN_STATE_ACTIVE, GREEN_GREENLET_STATE(%rdi)
    jne     .Ltransfer_not_active
    movq    GREEN_TSTATE_CURRENT(%r8), %rcx
    cmpq    %rdi, %rcx
    je      .Ltransfer_slow
    movq    %rdi, GREEN_TSTATE_CURRENT(%r8)
    xorl    %eax, %eax      /* g resumes with no error */
    .cfi_endproc
    .size   greenlet_transfer, .-greenlet_transfer
#else
    .p2align 4
#endif

/* The switch: saves the running context into the one rcx points to and
 * resumes the one whose stack pointer is in r10, returning {eax, rsi}. */
    .type   green_arch_switch_body, @function
green_arch_switch_body:
    .cfi_startproc
.Lswitch_body:
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $8, %rsp
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movzwl  4(%rsp), %r9d
    movq    %rsp, (%rcx)

    movq    %r10, %rsp
    movq    56(%rsp), %r11
    ldmxcsr (%rsp)
    cmpw    4(%rsp), %r9w
    jne     .Lload_fpucw
.Lfpucw_ready:
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    popq    %rcx                /* the resume address, already in r11 */
    movq    %rsi, %rdx
    jmp     *%r11

.Lload_fpucw:
    fldcw   4(%rsp)
    jmp     .Lfpucw_ready
    .cfi_endproc
    .size   green_arch_switch_body, .-green_arch_switch_body

#if defined(GREEN_TRANSFER_IN_ASM)
/* The exits of greenlet_transfer() off its fast path, out of its way. */
    .type   greenlet_transfer_exits, @function
greenlet_transfer_exits:
    .cfi_startproc
.Ltransfer_not_active:
    cmpb    $GREEN_STATE_UNSTARTED, GREEN_GREENLET_STATE(%rdi)
    jne     .Ltransfer_slow
    movq    %rsi, %rdx
    movq    %rdi, %rsi
    movq    %r8, %rdi
    jmp     green_transfer_start
.Ltransfer_slow:
    jmp     green_transfer_slow
    .cfi_endproc
    .size   greenlet_transfer_exits, .-greenlet_transfer_exits
#endif

/* void green_arch_intercept_trampoline(void)
 * Entered by the jmp that ends a switch, in place of the resume address,
 * with the switch's {err, value} in rax and rdx; the stack is as the
 * resume address expects it, so it is realigned here around the call. */
    .globl  green_arch_intercept_trampoline
    .hidden green_arch_intercept_trampoline
    .type   green_arch_intercept_trampoline, @function
    .p2align 4
green_arch_intercept_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    LANDING_PAD
    pushq   %rbp
    movq    %rsp, %rbp
    andq    $-16, %rsp
    pushq   %rax
    pushq   %rdx
    call    green_context_on_resume
    movq    %rax, %r11
    popq    %rdx
    popq    %rax
    movq    %rbp, %rsp
    popq    %rbp
    jmp     *%r11
    .cfi_endproc
    .size   green_arch_intercept_trampoline, .-green_arch_intercept_trampoline

/* void *green_arch_make(void *stack_top, void (*entry)(void))
 * Builds a frame that green_arch_switch resumes into entry(), with the
 * stack aligned as at a function's first instruction and a zero return
 * address so that debuggers stop unwinding there. */
    .globl  green_arch_make
    .hidden green_arch_make
    .type   green_arch_make, @function
    .p2align 4
green_arch_make:
    .cfi_startproc
    LANDING_PAD
    movq    %rdi, %rax
    andq    $-16, %rax
    subq    $72, %rax
    /* A new context starts with the creator's floating-point modes. */
    stmxcsr (%rax)
    fnstcw  4(%rax)
    xorl    %ecx, %ecx
    movq    %rcx, 8(%rax)
    movq    %rcx, 16(%rax)
    movq    %rcx, 24(%rax)
    movq    %rcx, 32(%rax)
    movq    %rcx, 40(%rax)
    movq    %rcx, 48(%rax)
    movq    %rsi, 56(%rax)
    movq    %rcx, 64(%rax)
    ret
    .cfi_endproc
    .size   green_arch_make, .-green_arch_make

    .section .note.GNU-stack,"",@progbits

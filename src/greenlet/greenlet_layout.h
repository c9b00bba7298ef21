/*
 * What the assembly fast path of greenlet_transfer() needs to know about
 * the greenlet structs: a few offsets and state values.  Shared by
 * greenlet_internal.h, which checks them against the structs at compile
 * time, and src/arch/x86_64_sysv.S, so it holds preprocessor lines only.
 */
#ifndef GREEN_GREENLET_LAYOUT_H
#define GREEN_GREENLET_LAYOUT_H

/* x86-64 keeps the fast path in assembly: in C, with its calling glue,
 * it was a third of a switch's instructions, and each one shows in the
 * switch benchmark.  ASan and TSan builds keep the C path, which tells the
 * sanitizer about every switch. */
#if defined(__x86_64__) && !defined(GREEN_ARCH_PORTABLE) &&                    \
    !defined(__SANITIZE_ADDRESS__) && !defined(GREEN_ASAN) &&                  \
    !defined(__SANITIZE_THREAD__) && !defined(GREEN_TSAN)
#define GREEN_TRANSFER_IN_ASM 1
#endif

#define GREEN_STATE_UNSTARTED 0
#define GREEN_STATE_ACTIVE 1 /* started, not dead: running or suspended */
#define GREEN_STATE_DEAD 2

/* Where the fast path finds its fields (checked in greenlet_internal.h).
 * struct greenlet: */
#define GREEN_GREENLET_SP 0     /* context.sp, the saved stack pointer */
#define GREEN_GREENLET_TSTATE 8 /* the owning thread's struct green_tstate */
#define GREEN_GREENLET_STATE 16 /* one byte */

/* struct green_tstate: */
#define GREEN_TSTATE_CURRENT 0

#endif /* GREEN_GREENLET_LAYOUT_H */

/*
 * Greenlet internals shared by greenlet.c and overflow.c.
 */
#ifndef GREEN_GREENLET_INTERNAL_H
#define GREEN_GREENLET_INTERNAL_H

#include <green/greenlet.h>

#include "arch/switch.h"
#include "greenlet_layout.h"
#include "sanitizer.h"
#include "stack.h"
#include "tag.h"

#include <stdatomic.h>

enum greenlet_state {
    GREENLET_UNSTARTED = GREEN_STATE_UNSTARTED,
    GREENLET_ACTIVE = GREEN_STATE_ACTIVE,
    GREENLET_DEAD = GREEN_STATE_DEAD
};

struct green_tstate;

/* The first fields are read by the assembly fast path: see
 * greenlet_layout.h and the checks below the structs. */
struct greenlet {
    green_context_t context; /* valid while suspended */
    struct green_tstate *tstate;
    unsigned char state;
    unsigned char is_main;
    unsigned refs;           /* the handle + each child naming it as parent */
    struct greenlet *parent; /* NULL only for main greenlets */
    greenlet_run_fn run;
    struct green_stack stack; /* no stack for main greenlets */
    size_t stack_size;        /* usable size, kept after the stack goes */
    char *name;
    void *userdata;
    struct greenlet *prev_in_thread, *next_in_thread;
#if defined(GREEN_ASAN)
    void *asan_fake_stack;
    const void *asan_bottom; /* learned at the first switch for mains */
    size_t asan_size;
#endif
    uint32_t tag; /* TAG_GREENLET until greenlet_destroy() */
#if defined(GREEN_TSAN)
    void *tsan_fiber; /* from the start until freed or the thread exits */
#endif
};

/* Per-OS-thread state, made on first use. */
struct green_tstate {
    struct greenlet *current;
    struct greenlet main;
    greenlet_trace_fn trace;

    void *first_value; /* what a starting greenlet's run receives */

    /* The switch whose trace hook call is pending in the target. */
    greenlet_event_t trace_event;
    struct greenlet *trace_origin;
    void *trace_resume; /* the target's real resume address */
    int trace_pending;
#if defined(GREEN_ASAN)
    struct greenlet *origin; /* the greenlet the last switch came from */
#endif

    struct greenlet *all; /* every non-main greenlet struct of the thread */
    struct greenlet *spare_structs; /* freed structs kept for reuse */
    size_t nspare_structs;
    atomic_int exited;                /* the OS thread has exited */
    struct green_tstate *next_exited; /* once exited */

    void *altstack; /* the signal stack we installed, if any */
    size_t altstack_size;
};

#if defined(GREEN_TRANSFER_IN_ASM)
_Static_assert(offsetof(struct greenlet, context.sp) == GREEN_GREENLET_SP,
               "greenlet_layout.h: context.sp");
_Static_assert(offsetof(struct greenlet, tstate) == GREEN_GREENLET_TSTATE,
               "greenlet_layout.h: tstate");
_Static_assert(offsetof(struct greenlet, state) == GREEN_GREENLET_STATE,
               "greenlet_layout.h: state");
_Static_assert(offsetof(struct green_tstate, current) == GREEN_TSTATE_CURRENT,
               "greenlet_layout.h: current");
#endif

/* The calling thread's state if it has one (async-signal-safe). */
struct green_tstate *green_tstate_peek(void);

/* Overflow detection (overflow.c). */
void green_overflow_thread_init(struct green_tstate *ts);
void green_overflow_thread_exit(struct green_tstate *ts);

#endif /* GREEN_GREENLET_INTERNAL_H */

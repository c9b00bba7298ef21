/*
 * Greenlet internals shared by greenlet.c and overflow.c.
 */
#ifndef GREEN_GREENLET_INTERNAL_H
#define GREEN_GREENLET_INTERNAL_H

#include <green/greenlet.h>

#include "arch/switch.h"
#include "sanitizer.h"
#include "stack.h"

#include <stdatomic.h>

enum greenlet_state {
    GREENLET_UNSTARTED,
    GREENLET_ACTIVE, /* started, not dead: running or suspended */
    GREENLET_DEAD
};

struct green_tstate;

struct greenlet {
    green_context_t context; /* valid while suspended */
    void **result_slot;      /* where a suspended greenlet wants its value */
    struct green_tstate *tstate;
    struct greenlet *parent; /* NULL only for main greenlets */
    greenlet_run_fn run;
    struct green_stack stack; /* no stack for main greenlets */
    size_t stack_size;        /* usable size, kept after the stack goes */
    unsigned char state;
    unsigned char is_main;
    unsigned refs; /* the handle + each child naming it as parent */
    char *name;
    void *userdata;
    struct greenlet *prev_in_thread, *next_in_thread;
#if defined(GREEN_ASAN)
    void *asan_fake_stack;
    const void *asan_bottom; /* learned at the first switch for mains */
    size_t asan_size;
#endif
};

/* Per-OS-thread state, made on first use. */
struct green_tstate {
    struct greenlet main;
    struct greenlet *current;
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
    size_t nstructs;
    atomic_int exited; /* the OS thread has exited */

    void *altstack; /* the signal stack we installed, if any */
    size_t altstack_size;
};

/* The calling thread's state if it has one (async-signal-safe). */
struct green_tstate *green_tstate_peek(void);

/* Overflow detection (overflow.c). */
void green_overflow_thread_init(struct green_tstate *ts);
void green_overflow_thread_exit(struct green_tstate *ts);

#endif /* GREEN_GREENLET_INTERNAL_H */

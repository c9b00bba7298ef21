/*
 * libgreen — greenlet layer.
 *
 * A greenlet is a function running on its own C stack that can switch
 * control explicitly to another greenlet of the same OS thread.  This is
 * the model of Python's greenlet, in C:
 *
 *  - Every OS thread has a main greenlet (the thread's own stack), made on
 *    first use of any function here.  No init call is needed.
 *  - Each greenlet has a parent.  When its function returns, the greenlet
 *    is dead and the return value is delivered to the parent as if the
 *    parent had been switched to.  Dead parents are skipped.
 *  - A greenlet can end with an error instead of a value; the error then
 *    travels to the parent like an exception.  GREENLET_EXIT is the kill
 *    error: a greenlet ending with it hands its parent a normal result.
 *
 * Error convention: every function that can fail returns 0 on success or a
 * positive errno code.  Errors that greenlets raise with greenlet_throw() or
 * greenlet_exit() are arbitrary non-zero ints chosen by the program; this
 * library only reserves GREENLET_EXIT (negative, so it never collides with
 * errno).  Codes returned for misuse:
 *
 *   EINVAL      NULL handle or invalid argument
 *   EPERM       the greenlet belongs to another (live) OS thread, or the
 *               operation is not allowed on it (main, current)
 *   EOWNERDEAD  the greenlet belongs to an OS thread that has exited
 *   ELOOP       setting the parent would make a cycle
 *   ENOMEM      out of memory
 *   EAGAIN      no stack could be mapped (address space or map limit)
 *   EBUSY       the greenlet would not die when killed
 *
 * A switch that is refused returns its code before any switch happens, and
 * the caller keeps running.  Once a switch has happened, the code returned
 * is the error the caller was resumed with (from greenlet_throw() or from a
 * child that died with an error).
 *
 * Thread safety: a greenlet belongs to the OS thread that made it.  All
 * functions may be called from any thread; those acting on a greenlet of
 * another thread fail with EPERM/EOWNERDEAD and never touch its state.
 */
#ifndef GREEN_GREENLET_H
#define GREEN_GREENLET_H

#include <green/export.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The kill error.  Thrown by greenlet_kill(); a greenlet that ends with it
 * delivers a normal result (NULL) to its parent instead of an error. */
#define GREENLET_EXIT (-1)

/* Default stack size, used when the attributes give 0. */
#define GREENLET_STACK_DEFAULT ((size_t)256 * 1024)
/* Smallest accepted stack size; smaller requests are rounded up. */
#define GREENLET_STACK_MIN ((size_t)16 * 1024)

typedef struct greenlet greenlet_t;

/* A greenlet's body.  It receives the value of the first switch into it;
 * what it returns is delivered to its parent. */
typedef void *(*greenlet_run_fn)(void *value);

/* Creation attributes.  Zero-initialise and set what you need. */
typedef struct greenlet_attr {
    size_t stack_size; /* usable bytes; 0 = GREENLET_STACK_DEFAULT */
    const char *name;  /* for debugging and overflow reports; copied */
} greenlet_attr_t;

/* ---- Creation and destruction ------------------------------------- */

/* Make a greenlet that has not started.  A NULL parent means the greenlet
 * current at creation; a parent of another thread is refused (EPERM).  The
 * stack is mapped here, so exhaustion is reported now (ENOMEM or EAGAIN) and
 * never at the first switch.  On success *out is set and 0 returned; on failure
 * *out is untouched. */
GREEN_EXTERN int greenlet_new(greenlet_t **out, greenlet_run_fn run,
                              greenlet_t *parent, const greenlet_attr_t *attr);

/* Release a greenlet handle.
 *  - Unstarted or dead: freed at once.
 *  - Suspended and unfinished: first killed with GREENLET_EXIT, with its
 *    parent temporarily set to the caller, so that its cleanup code runs.
 *    If it switches away instead of dying it is left alive and EBUSY is
 *    returned (nothing is freed and nothing else leaks).
 *  - The current greenlet or a main greenlet: refused with EPERM.
 * The memory of a dead greenlet stays valid while live children still name
 * it as parent; the handle itself must not be used after a 0 return: a
 * second destroy is refused with EINVAL and a message on stderr while the
 * memory was not reused (docs/building.md, handle tags). */
GREEN_EXTERN int greenlet_destroy(greenlet_t *g);

/* ---- Switching ----------------------------------------------------- */

/* What a switch comes back with: err 0 and the value the caller was
 * resumed with, or the error it was resumed with (or the refusal code of a
 * switch that did not happen) and a NULL value.  Small enough to come back
 * in two registers, which is why greenlet_transfer() returns it whole. */
typedef struct {
    int err;
    void *value;
} greenlet_transfer_t;

/* Switch to g, passing value.  The first switch into g calls run(value); a
 * later one makes g's pending switch return value.  Switching to a dead
 * greenlet goes to its first live ancestor.  Switching to the current
 * greenlet returns value at once.  Returns once control comes back. */
GREEN_EXTERN greenlet_transfer_t greenlet_transfer(greenlet_t *g, void *value);

/* greenlet_transfer() with the value stored through result (may be NULL):
 * returns 0 and sets *result to the value the caller was resumed with, or
 * returns the error (or refusal) and sets *result to NULL.  Inline, so
 * that a result kept in a local stays in a register; exported as well, for
 * callers from other languages (GREEN_INLINE in green/export.h). */
GREEN_INLINE int greenlet_switch(greenlet_t *g, void *value, void **result)
{
    greenlet_transfer_t back = greenlet_transfer(g, value);
    if (result)
        *result = back.value;
    return back.err;
}

/* Resume g with its pending switch reporting err (non-zero).  If g has not
 * started, it dies at once without running and err goes to its parent.  If
 * g is dead, err goes to its first live ancestor, except GREENLET_EXIT,
 * which goes there as a normal NULL result: as in greenlet, killing a dead
 * greenlet is a no-op.  Returns like greenlet_switch() once control comes
 * back to the caller. */
GREEN_EXTERN int greenlet_throw(greenlet_t *g, int err, void **result);

/* End the current greenlet from anywhere inside it, like pthread_exit().
 * With err == 0, value is delivered to the parent as a normal result; with
 * err != 0 the parent's pending switch reports err (GREENLET_EXIT becomes a
 * normal NULL result).  Does not return, except with EPERM when called on a
 * main greenlet. */
GREEN_EXTERN int greenlet_exit(int err, void *value);

/* Throw GREENLET_EXIT into g and run it until it is dead, with the caller
 * as its parent for the duration.  Returns 0 when g is dead (or was already
 * dead, or never started: then it simply never runs), EBUSY if g switched
 * away instead of dying, EPERM for the current or a main greenlet. */
GREEN_EXTERN int greenlet_kill(greenlet_t *g);

/* ---- Parents ------------------------------------------------------- */

/* Set g's parent.  Refuses NULL (EINVAL), a cycle (ELOOP), a main g
 * (EPERM), and a parent of another OS thread (EPERM).  The last is refused
 * even before g starts: g can only ever run in its own thread, where a
 * foreign parent could never receive its result. */
GREEN_EXTERN int greenlet_set_parent(greenlet_t *g, greenlet_t *parent);
/* g's parent, or NULL for a main greenlet or a NULL g. */
GREEN_EXTERN greenlet_t *greenlet_parent(const greenlet_t *g);

/* ---- Introspection ------------------------------------------------- */

/* The running greenlet of the calling thread (its main one if none was
 * switched to).  Returns NULL only if the thread state cannot be allocated. */
GREEN_EXTERN greenlet_t *greenlet_current(void);
/* The calling thread's main greenlet.  Its handle stays valid after the
 * thread exits (the thread's state, 224 bytes on x86-64, is kept for the
 * life of the process): it is then dead, and acting on it fails with
 * EOWNERDEAD. */
GREEN_EXTERN greenlet_t *greenlet_main(void);

GREEN_EXTERN int
greenlet_started(const greenlet_t *g); /* has run (main: always) */
GREEN_EXTERN int greenlet_dead(const greenlet_t *g); /* has finished */
GREEN_EXTERN int
greenlet_active(const greenlet_t *g); /* started and not dead */
GREEN_EXTERN int greenlet_is_main(const greenlet_t *g);

/* The debugging name ("main" for main greenlets; "" if none was given). */
GREEN_EXTERN const char *greenlet_name(const greenlet_t *g);
/* Rename; the string is copied.  ENOMEM or EINVAL on failure. */
GREEN_EXTERN int greenlet_set_name(greenlet_t *g, const char *name);

/* A pointer for the program's own use; NULL until set. */
GREEN_EXTERN void *greenlet_userdata(const greenlet_t *g);
GREEN_EXTERN void greenlet_set_userdata(greenlet_t *g, void *data);

/* The usable stack size in bytes (0 for main greenlets). */
GREEN_EXTERN size_t greenlet_stack_size(const greenlet_t *g);

/* ---- Tracing ------------------------------------------------------- */

typedef enum greenlet_event {
    GREENLET_EVENT_SWITCH,
    GREENLET_EVENT_THROW
} greenlet_event_t;

/* Called in the target greenlet right after each switch or throw,
 * including one to the current greenlet (origin == target).  The hook may
 * switch; a greenlet starting still receives its start value. */
typedef void (*greenlet_trace_fn)(greenlet_event_t event, greenlet_t *origin,
                                  greenlet_t *target);

/* Install a per-thread trace hook (NULL removes it); returns the previous
 * one. */
GREEN_EXTERN greenlet_trace_fn greenlet_set_trace(greenlet_trace_fn fn);

/* ---- Stack cache --------------------------------------------------- */

/* Bound the calling thread's cache of free stacks (default 64).  Stacks
 * beyond the bound are returned to the system. */
GREEN_EXTERN void greenlet_set_stack_cache(size_t max_stacks);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_GREENLET_H */

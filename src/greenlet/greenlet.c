/*
 * Greenlets: creation, switching, death, throw and kill, parents.
 *
 * Every value or error travels through one routine, switch_to(): a
 * switch, a throw, and the death of a greenlet (its result goes to its
 * parent) are all "deliver (value, err) to this greenlet".
 */
#define _GNU_SOURCE
#include "greenlet_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

static __thread struct green_tstate *thread_state
    __attribute__((tls_model("initial-exec")));
/* thread_state while no trace hook is installed, else NULL: the switch
 * fast path tests both with one comparison.  Not static: the x86-64 fast
 * path reads it from assembly. */
__attribute__((
    visibility("hidden"))) __thread struct green_tstate *green_untraced_state
    __attribute__((tls_model("initial-exec")));

static pthread_key_t tstate_key;
static pthread_once_t tstate_key_once = PTHREAD_ONCE_INIT;

/* Guards greenlets of exited threads, which any thread may destroy, and
 * the list below. */
static pthread_mutex_t orphan_lock = PTHREAD_MUTEX_INITIALIZER;
/* States of exited threads, never freed: a main greenlet lives in its
 * thread's state and has no destroy, so its handle must stay valid (to
 * report EOWNERDEAD) for as long as the program may hold it.  Listed so
 * that leak checkers see them reachable. */
static struct green_tstate *exited_states;

static void tstate_exit(void *arg);

/* ---- ThreadSanitizer ------------------------------------------------- */

#if defined(GREEN_TSAN)
/* Every started greenlet is a TSan fiber, and a switch tells TSan which
 * one runs.  After fork() in a process with other threads (to TSan, live
 * fibers are threads), TSan ignores the child's running fiber for good but
 * not the others, which would then report races against it: so the child
 * tells TSan of no more switches and runs everything on that fiber. */
static int tsan_forked;

static void tsan_fork_child(void)
{
    tsan_forked = 1;
}

static void tsan_init(void)
{
    pthread_atfork(NULL, NULL, tsan_fork_child);
}

static void tsan_fiber_start(greenlet_t *g)
{
    g->tsan_fiber = tsan_forked ? NULL : __tsan_create_fiber(0);
}

/* A switch synchronises its two sides, as code of one thread is. */
static void tsan_switch(const greenlet_t *target)
{
    if (!tsan_forked)
        __tsan_switch_to_fiber(target->tsan_fiber, 0);
}

static void tsan_fiber_free(greenlet_t *g)
{
    if (g->tsan_fiber && !tsan_forked)
        __tsan_destroy_fiber(g->tsan_fiber);
    g->tsan_fiber = NULL;
}

/* An exiting thread's greenlets never run again.  If it exits inside one
 * of them, TSan is first told the thread is back on its own fiber. */
static void tsan_thread_exit(struct green_tstate *ts)
{
    if (ts->current != &ts->main)
        tsan_switch(&ts->main);
    for (greenlet_t *g = ts->all; g; g = g->next_in_thread)
        tsan_fiber_free(g);
}
#else
static inline void tsan_init(void) {}
static inline void tsan_fiber_start(greenlet_t *g)
{
    (void)g;
}
static inline void tsan_switch(const greenlet_t *target)
{
    (void)target;
}
static inline void tsan_fiber_free(greenlet_t *g)
{
    (void)g;
}
static inline void tsan_thread_exit(struct green_tstate *ts)
{
    (void)ts;
}
#endif

/* ---- Thread state ---------------------------------------------------- */

/* The process-wide locks are held across fork, so that a child finds them
 * unlocked (lock order: orphan_lock, then the slab lock).  A child's
 * greenlets of other threads are copies that never run again. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&orphan_lock);
    green_stack_fork_lock();
}

static void fork_release(void)
{
    green_stack_fork_unlock();
    pthread_mutex_unlock(&orphan_lock);
}

static void tstate_key_init(void)
{
    pthread_key_create(&tstate_key, tstate_exit);
    pthread_atfork(fork_prepare, fork_release, fork_release);
    tsan_init();
}

static struct green_tstate *tstate_create(void)
{
    pthread_once(&tstate_key_once, tstate_key_init);
    struct green_tstate *ts = calloc(1, sizeof *ts);
    if (!ts)
        return NULL;
    ts->main.tstate = ts;
    ts->main.state = GREENLET_ACTIVE;
    ts->main.is_main = 1;
    ts->main.refs = 1;
    ts->main.tag = TAG_GREENLET;
    ts->current = &ts->main;
#if defined(GREEN_TSAN)
    ts->main.tsan_fiber = tsan_forked ? NULL : __tsan_get_current_fiber();
#endif
    if (pthread_setspecific(tstate_key, ts) != 0) {
        free(ts);
        return NULL;
    }
    green_overflow_thread_init(ts);
    thread_state = ts;
    green_untraced_state = ts;
    return ts;
}

static inline struct green_tstate *tstate(void)
{
    struct green_tstate *ts = thread_state;
    return likely(ts) ? ts : tstate_create();
}

struct green_tstate *green_tstate_peek(void)
{
    return thread_state;
}

/* The error for touching a greenlet of another thread. */
static int foreign_error(const greenlet_t *g)
{
    return atomic_load(&g->tstate->exited) ? EOWNERDEAD : EPERM;
}

/* ---- Lifetime of the structs ----------------------------------------- */

static void thread_list_remove(struct green_tstate *ts, greenlet_t *g)
{
    if (g->prev_in_thread)
        g->prev_in_thread->next_in_thread = g->next_in_thread;
    else
        ts->all = g->next_in_thread;
    if (g->next_in_thread)
        g->next_in_thread->prev_in_thread = g->prev_in_thread;
}

/* Spare structs are kept per thread, so that a create/destroy cycle does
 * not go through malloc.  Builds made to catch misuse skip them to keep
 * catching uses after free (GREEN_NO_RECYCLE, docs/building.md). */
#if defined(GREEN_NO_RECYCLE)
#define SPARE_STRUCTS_MAX 0
#else
#define SPARE_STRUCTS_MAX 256
#endif

static greenlet_t *struct_alloc(struct green_tstate *ts)
{
    greenlet_t *g = ts->spare_structs;
    if (!g)
        return malloc(sizeof *g);
    ts->spare_structs = g->next_in_thread;
    ts->nspare_structs--;
    return g;
}

static void struct_free(struct green_tstate *ts, greenlet_t *g)
{
    if (ts->nspare_structs == SPARE_STRUCTS_MAX ||
        atomic_load_explicit(&ts->exited, memory_order_relaxed)) {
        free(g);
        return;
    }
    g->next_in_thread = ts->spare_structs;
    ts->spare_structs = g;
    ts->nspare_structs++;
}

static void spare_structs_free(struct green_tstate *ts)
{
    while (ts->spare_structs) {
        greenlet_t *g = ts->spare_structs;
        ts->spare_structs = g->next_in_thread;
        free(g);
    }
    ts->nspare_structs = 0;
}

/* Drop one reference; a struct dies with its last one and then drops its
 * reference on its parent.  Main greenlets live as long as their thread
 * state, which is never freed.  After the thread exited, called with
 * orphan_lock held. */
static void greenlet_unref(greenlet_t *g)
{
    while (g && !g->is_main && --g->refs == 0) {
        struct green_tstate *ts = g->tstate;
        greenlet_t *next = g->parent;
        thread_list_remove(ts, g);
        if (g->name)
            free(g->name);
        tsan_fiber_free(g);
        struct_free(ts, g);
        g = next;
    }
}

/* Greenlets still suspended when their thread exits are freed without
 * running; their handles stay valid for greenlet_destroy(), and the main
 * greenlet's for good. */
static void tstate_exit(void *arg)
{
    struct green_tstate *ts = arg;
    for (greenlet_t *g = ts->all; g; g = g->next_in_thread) {
        /* A thread may end with pthread_exit() inside a greenlet, whose
         * stack is then still in use: leave that one mapped. */
        if (g != ts->current)
            green_stack_release_to_slab(&g->stack);
        g->state = GREENLET_DEAD;
    }
    ts->main.state = GREENLET_DEAD;
    tsan_thread_exit(ts);
    green_stack_flush_cache();
    spare_structs_free(ts);
    green_overflow_thread_exit(ts);
    thread_state = NULL;
    green_untraced_state = NULL;

    pthread_mutex_lock(&orphan_lock);
    atomic_store(&ts->exited, 1);
    ts->next_exited = exited_states;
    exited_states = ts;
    pthread_mutex_unlock(&orphan_lock);
}

/* ---- Switching ------------------------------------------------------- */

static void greenlet_entry(void);

#if defined(GREEN_ASAN)
/* Runs in the greenlet just resumed: ASan learns which stack it is on, and
 * the bounds of a main greenlet's stack the first time it is left. */
static void asan_after_switch(struct green_tstate *ts)
{
    const void *bottom;
    size_t size;
    __sanitizer_finish_switch_fiber(ts->current->asan_fake_stack, &bottom,
                                    &size);
    if (ts->origin->is_main) {
        ts->origin->asan_bottom = bottom;
        ts->origin->asan_size = size;
    }
}
#endif

/* The trace hook runs in the greenlet just resumed, on its own stack. */
static void trace_after_switch(struct green_tstate *ts)
{
    greenlet_trace_fn hook = ts->trace;
    /* A starting greenlet reads its run() value after the hook, which may
     * switch away and back: keep the value the start came with. */
    void *first_value = ts->first_value;
    ts->trace_pending = 0;
    if (hook)
        hook(ts->trace_event, ts->trace_origin, ts->current);
    ts->first_value = first_value;
}

/* Reached through the switch's intercept trampoline when a hook is on. */
void *green_context_on_resume(void)
{
    struct green_tstate *ts = thread_state;
    void *resume = ts->trace_resume;
    trace_after_switch(ts);
    return resume;
}

/* Move from self to target, carrying (value, err).  The switch hands both
 * to the resumed side in registers, and that side returns them straight
 * to its caller, which keeps the switch path short and free of
 * mispredictions. */
static inline greenlet_transfer_t
context_switch(struct green_tstate *ts, greenlet_t *self, greenlet_t *target,
               void *value, int err, greenlet_event_t event, int self_dying)
{
    if (err)
        value = NULL;
    ts->first_value = value;
    ts->current = target;
    if (unlikely(ts->trace != NULL)) {
        /* The resumed side has no code of its own to run the hook (it
         * returns straight to its caller), so its resume is intercepted;
         * ASan builds, which keep post-switch code, call it there. */
        ts->trace_event = event;
        ts->trace_origin = self;
#if defined(GREEN_ASAN)
        ts->trace_pending = 1;
#else
        green_context_intercept(&target->context, &ts->trace_resume);
#endif
    }
    if (self_dying)
        green_stack_release(&self->stack); /* not unmapped: still on it */
#if defined(GREEN_ASAN)
    ts->origin = self;
    __sanitizer_start_switch_fiber(self_dying ? NULL : &self->asan_fake_stack,
                                   target->asan_bottom, target->asan_size);
    greenlet_transfer_t back =
        green_context_switch(&self->context, &target->context, value, err);
    asan_after_switch(ts);
    if (ts->trace_pending)
        trace_after_switch(ts);
    return back;
#else
    tsan_switch(target);
    return green_context_switch(&self->context, &target->context, value, err);
#endif
}

/* Its first switch will enter greenlet_entry() with ts->first_value. */
static inline void greenlet_start(greenlet_t *g)
{
    g->state = GREENLET_ACTIVE;
    tsan_fiber_start(g);
    green_context_make(&g->context, g->stack.lo, green_stack_top(&g->stack),
                       greenlet_entry);
}

/* Deliver (value, err) to target, or to its first live ancestor, and
 * switch there.  An unstarted receiver starts with the value, or dies at
 * once if it receives an error.  A dying caller never comes back. */
static inline greenlet_transfer_t switch_to(struct green_tstate *ts,
                                            greenlet_t *target, void *value,
                                            int err, greenlet_event_t event,
                                            int self_dying)
{
    greenlet_t *self = ts->current;
    while (unlikely(target->state != GREENLET_ACTIVE)) {
        if (target->state == GREENLET_DEAD) {
            target = target->parent;
        } else if (err) {
            /* Thrown into before starting: it dies without running. */
            target->state = GREENLET_DEAD;
            green_stack_release(&target->stack);
            if (err == GREENLET_EXIT)
                err = 0;
        } else {
            greenlet_start(target);
        }
    }
    if (unlikely(target == self)) {
        if (ts->trace)
            ts->trace(event, self, self);
        return (greenlet_transfer_t){.err = err, .value = err ? NULL : value};
    }
    return context_switch(ts, self, target, value, err, event, self_dying);
}

static _Noreturn void greenlet_die(struct green_tstate *ts, greenlet_t *self,
                                   int err, void *value)
{
    if (err == GREENLET_EXIT) {
        err = 0;
        value = NULL;
    }
    self->state = GREENLET_DEAD;
    switch_to(ts, self->parent, value, err,
              err ? GREENLET_EVENT_THROW : GREENLET_EVENT_SWITCH, 1);
    abort(); /* a dead greenlet is never resumed */
}

static void greenlet_entry(void)
{
    struct green_tstate *ts = thread_state;
#if defined(GREEN_ASAN)
    asan_after_switch(ts);
    if (ts->trace_pending)
        trace_after_switch(ts);
#endif
    greenlet_t *self = ts->current;
    greenlet_die(ts, self, 0, self->run(ts->first_value));
}

/* Common checks: a handle of the calling thread. */
static int own_greenlet(const greenlet_t *g, struct green_tstate **ts_out)
{
    if (!g)
        return EINVAL;
    struct green_tstate *ts = tstate();
    if (!ts)
        return ENOMEM;
    if (g->tstate != ts)
        return foreign_error(g);
    *ts_out = ts;
    return 0;
}

/* The ways off greenlet_transfer()'s fast path; on x86-64 they are
 * reached from the assembly one, elsewhere from the C one below. */
greenlet_transfer_t green_transfer_slow(greenlet_t *g, void *value)
    __attribute__((visibility("hidden"), noinline));

greenlet_transfer_t green_transfer_slow(greenlet_t *g, void *value)
{
    struct green_tstate *ts;
    int err = own_greenlet(g, &ts);
    if (err)
        return (greenlet_transfer_t){.err = err};
    return switch_to(ts, g, value, 0, GREENLET_EVENT_SWITCH, 0);
}

#if !defined(GREEN_ANNOUNCE_SWITCH)
/* Starting a greenlet of this thread with no trace hook installed, the
 * first half of a create/run/destroy cycle, on a path of its own. */
greenlet_transfer_t green_transfer_start(struct green_tstate *ts, greenlet_t *g,
                                         void *value)
    __attribute__((visibility("hidden"), noinline));

greenlet_transfer_t green_transfer_start(struct green_tstate *ts, greenlet_t *g,
                                         void *value)
{
    greenlet_t *self = ts->current;
    greenlet_start(g);
    ts->first_value = value;
    ts->current = g;
    return green_context_switch(&self->context, &g->context, NULL, 0);
}
#endif

#if !defined(GREEN_TRANSFER_IN_ASM)
greenlet_transfer_t greenlet_transfer(greenlet_t *g, void *value)
{
#if !defined(GREEN_ANNOUNCE_SWITCH)
    /* The common case, a suspended greenlet of this thread and no trace
     * hook, needs no registers saved: it ends in a jump to the switch. */
    struct green_tstate *ts = green_untraced_state;
    if (likely(g && g->tstate == ts)) {
        if (likely(g->state == GREENLET_ACTIVE && g != ts->current)) {
            greenlet_t *self = ts->current;
            ts->current = g;
            return green_context_switch(&self->context, &g->context, value, 0);
        }
        if (g->state == GREENLET_UNSTARTED)
            return green_transfer_start(ts, g, value);
    }
#endif
    return green_transfer_slow(g, value);
}
#endif

/* Declared without "inline", this makes the header's inline definition of
 * greenlet_switch() the library's external, exported one (GREEN_INLINE in
 * green/export.h). */
int greenlet_switch(greenlet_t *g, void *value, void **result);

int greenlet_throw(greenlet_t *g, int err, void **result)
{
    struct green_tstate *ts;
    greenlet_transfer_t back = {.err = EINVAL};
    if (err != 0 && (back.err = own_greenlet(g, &ts)) == 0) {
        /* As in greenlet, killing a dead greenlet is a no-op: the exit
         * goes on as a normal result, as greenlet_kill() answers 0. */
        if (err == GREENLET_EXIT && g->state == GREENLET_DEAD)
            back = switch_to(ts, g, NULL, 0, GREENLET_EVENT_SWITCH, 0);
        else
            back = switch_to(ts, g, NULL, err, GREENLET_EVENT_THROW, 0);
    }
    if (result)
        *result = back.value;
    return back.err;
}

int greenlet_exit(int err, void *value)
{
    struct green_tstate *ts = tstate();
    if (!ts)
        return ENOMEM;
    if (ts->current->is_main)
        return EPERM;
    greenlet_die(ts, ts->current, err, value);
}

int greenlet_kill(greenlet_t *g)
{
    struct green_tstate *ts;
    int err = own_greenlet(g, &ts);
    if (err)
        return err;
    if (g->is_main || g == ts->current)
        return EPERM;
    if (g->state == GREENLET_DEAD)
        return 0;
    if (g->state == GREENLET_UNSTARTED) {
        g->state = GREENLET_DEAD;
        green_stack_release(&g->stack);
        return 0;
    }
    /* Borrow g as our child so that its death comes back here. */
    greenlet_t *parent = g->parent;
    g->parent = ts->current;
    switch_to(ts, g, NULL, GREENLET_EXIT, GREENLET_EVENT_THROW, 0);
    if (g->parent == ts->current)
        g->parent = parent;
    return g->state == GREENLET_DEAD ? 0 : EBUSY;
}

/* ---- Creation and destruction --------------------------------------- */

static int copy_name(char **slot, const char *name)
{
    char *copy = NULL;
    if (name && *name && !(copy = strdup(name)))
        return ENOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

int greenlet_new(greenlet_t **out, greenlet_run_fn run, greenlet_t *parent,
                 const greenlet_attr_t *attr)
{
    if (!out || !run)
        return EINVAL;
    struct green_tstate *ts = tstate();
    if (!ts)
        return ENOMEM;
    if (!parent)
        parent = ts->current;
    else if (parent->tstate != ts)
        return foreign_error(parent);

    /* Every field is set here, so a recycled struct needs no zeroing. */
    greenlet_t *g = struct_alloc(ts);
    if (!g)
        return ENOMEM;
    g->name = NULL;
    g->stack.lo = NULL;
    int err = green_stack_acquire(&g->stack, attr ? attr->stack_size : 0);
    if (!err && attr && attr->name)
        err = copy_name(&g->name, attr->name);
    if (err) {
        green_stack_release(&g->stack);
        struct_free(ts, g);
        return err;
    }
    g->tstate = ts;
    g->stack_size = green_stack_usable(&g->stack);
    g->parent = parent;
    parent->refs++;
    g->run = run;
    g->state = GREENLET_UNSTARTED;
    g->is_main = 0;
    g->refs = 1;
    g->userdata = NULL;
    g->tag = TAG_GREENLET;
#if defined(GREEN_ASAN)
    g->asan_fake_stack = NULL;
    g->asan_bottom = g->stack.lo;
    g->asan_size = g->stack_size;
#endif
#if defined(GREEN_TSAN)
    g->tsan_fiber = NULL;
#endif
    g->prev_in_thread = NULL;
    g->next_in_thread = ts->all;
    if (ts->all)
        ts->all->prev_in_thread = g;
    ts->all = g;
    *out = g;
    return 0;
}

int greenlet_destroy(greenlet_t *g)
{
    if (!g || tag_check(g, g->tag, TAG_GREENLET, __func__))
        return EINVAL;
    if (g->is_main)
        return EPERM;
    struct green_tstate *ts = tstate();
    if (!ts)
        return ENOMEM;
    if (g->tstate != ts) {
        if (!atomic_load(&g->tstate->exited))
            return EPERM;
        /* Its thread exited: it never runs again and holds no stack. */
        pthread_mutex_lock(&orphan_lock);
        tag_clear(&g->tag);
        greenlet_unref(g);
        pthread_mutex_unlock(&orphan_lock);
        return 0;
    }
    if (g == ts->current)
        return EPERM;
    /* Unstarted: it dies without running; suspended: its cleanup runs. */
    if (g->state != GREENLET_DEAD && greenlet_kill(g) != 0)
        return EBUSY;
    tag_clear(&g->tag);
    greenlet_unref(g);
    return 0;
}

/* ---- Parents and introspection -------------------------------------- */

int greenlet_set_parent(greenlet_t *g, greenlet_t *parent)
{
    struct green_tstate *ts;
    if (!parent)
        return EINVAL;
    int err = own_greenlet(g, &ts);
    if (err)
        return err;
    if (g->is_main)
        return EPERM;
    if (parent->tstate != ts)
        return EPERM;
    for (greenlet_t *p = parent; p; p = p->parent)
        if (p == g)
            return ELOOP;
    greenlet_t *old = g->parent;
    parent->refs++;
    g->parent = parent;
    greenlet_unref(old);
    return 0;
}

greenlet_t *greenlet_parent(const greenlet_t *g)
{
    return g ? g->parent : NULL;
}

greenlet_t *greenlet_current(void)
{
    struct green_tstate *ts = tstate();
    return ts ? ts->current : NULL;
}

greenlet_t *greenlet_main(void)
{
    struct green_tstate *ts = tstate();
    return ts ? &ts->main : NULL;
}

int greenlet_started(const greenlet_t *g)
{
    return g && (g->state != GREENLET_UNSTARTED || g->is_main);
}

int greenlet_dead(const greenlet_t *g)
{
    return g && g->state == GREENLET_DEAD;
}

int greenlet_active(const greenlet_t *g)
{
    return g && g->state == GREENLET_ACTIVE;
}

int greenlet_is_main(const greenlet_t *g)
{
    return g && g->is_main;
}

const char *greenlet_name(const greenlet_t *g)
{
    if (!g)
        return "";
    if (g->is_main)
        return "main";
    return g->name ? g->name : "";
}

int greenlet_set_name(greenlet_t *g, const char *name)
{
    if (!g || g->is_main)
        return EINVAL;
    return copy_name(&g->name, name);
}

void *greenlet_userdata(const greenlet_t *g)
{
    return g ? g->userdata : NULL;
}

void greenlet_set_userdata(greenlet_t *g, void *data)
{
    if (g)
        g->userdata = data;
}

size_t greenlet_stack_size(const greenlet_t *g)
{
    return g ? g->stack_size : 0;
}

greenlet_trace_fn greenlet_set_trace(greenlet_trace_fn fn)
{
    struct green_tstate *ts = tstate();
    if (!ts)
        return NULL;
    greenlet_trace_fn previous = ts->trace;
    ts->trace = fn;
    green_untraced_state = fn ? NULL : ts;
    return previous;
}

void greenlet_set_stack_cache(size_t max_stacks)
{
    green_stack_set_cache_limit(max_stacks);
}

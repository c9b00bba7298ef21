/*
 * Seeded random walks over the greenlet API, checked against a model.
 *
 * Every greenlet, main included, runs the same interpreter: it draws the
 * next operation from one seeded generator (switch, throw, return, exit,
 * new, kill, destroy, set_parent) and performs it.  Before each operation
 * the model works out which greenlet receives control and what
 * {err, value} it must see, following the rules of greenlet.h: dead
 * targets pass to their first live ancestor, an unstarted target starts
 * (or dies at once when thrown into), a death delivers to the parent,
 * GREENLET_EXIT becomes a normal NULL result (also when thrown into a
 * dead greenlet).  A greenlet that is resumed checks that it is current
 * and that it got what the model said.  A greenlet resumed with GREENLET_EXIT returns at once, so kill and destroy
 * always find their target dying.
 *
 * Greenlet bodies only record mismatches (see test_util.h); the test
 * asserts on the record back on the main greenlet.
 */
#include "test_util.h"

#include <errno.h>

#define MAX_NODES 48
#define MAIN_NODE 0

enum model_state { UNSTARTED, ACTIVE, DEAD };

struct model_node {
    greenlet_t *handle;
    enum model_state state;
    int parent;   /* node index; -1 for main */
    int released; /* destroyed: its handle is gone, the node may remain a
                     parent in the library too */
    int expecting;
    greenlet_transfer_t expected;
};

static struct model_node nodes[MAX_NODES];
static int node_count;
static int current;
static uint64_t rng;
static long steps_left;
static int finished;
static long checked_resumes;
static int failures;
static char first_failure[256];

static void __attribute__((format(printf, 1, 2)))
record_failure(const char *format, ...)
{
    va_list args;

    if (failures++ == 0) {
        va_start(args, format);
        vsnprintf(first_failure, sizeof first_failure, format, args);
        va_end(args);
    }
}

static uint64_t next_random(void)
{
    /* xorshift64: a fixed sequence per seed, so a failure replays. */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int pick(int bound)
{
    return (int)(next_random() % (uint64_t)bound);
}

/* A node whose handle can still be used, or -1. */
static int pick_usable(void)
{
    int start = pick(node_count);

    for (int i = 0; i < node_count; i++) {
        int n = (start + i) % node_count;
        if (!nodes[n].released)
            return n;
    }
    return -1;
}

static void *value_of_step(void)
{
    return (void *)(uintptr_t)(steps_left * 16 + 8);
}

/* ---- The model ------------------------------------------------------- */

static void model_deliver(int target, int err, void *value);

/* The receiver runs next: it checks what it got, and a non-main one that
 * got GREENLET_EXIT dies at once with a normal NULL result. */
static void model_receive(int receiver, int err, void *value)
{
    nodes[receiver].expecting = 1;
    nodes[receiver].expected =
        (greenlet_transfer_t){.err = err, .value = value};
    current = receiver;
    if (err == GREENLET_EXIT && receiver != MAIN_NODE) {
        nodes[receiver].state = DEAD;
        model_deliver(nodes[receiver].parent, 0, NULL);
    }
}

/* switch_to() of greenlet.c, as the header describes it. */
static void model_deliver(int target, int err, void *value)
{
    if (err)
        value = NULL;
    for (;;) {
        if (nodes[target].state == DEAD) {
            target = nodes[target].parent;
        } else if (nodes[target].state == UNSTARTED && err) {
            nodes[target].state = DEAD;
            if (err == GREENLET_EXIT)
                err = 0;
        } else {
            break;
        }
    }
    if (nodes[target].state == UNSTARTED)
        nodes[target].state = ACTIVE; /* its run gets value */
    model_receive(target, err, value);
}

/* The library's answer to set_parent, and the change it makes. */
static int model_set_parent(int g, int parent)
{
    if (g == MAIN_NODE)
        return EPERM;
    for (int p = parent; p >= 0; p = nodes[p].parent)
        if (p == g)
            return ELOOP;
    nodes[g].parent = parent;
    return 0;
}

/* greenlet_kill(): 0 once target is dead, with the caller as its parent
 * while it dies. */
static int model_kill(int target)
{
    int caller = current;

    if (target == MAIN_NODE || target == caller)
        return EPERM;
    if (nodes[target].state == UNSTARTED)
        nodes[target].state = DEAD;
    if (nodes[target].state == DEAD)
        return 0;
    int parent = nodes[target].parent;
    nodes[target].parent = caller;
    model_deliver(target, GREENLET_EXIT, NULL);
    if (nodes[target].parent == caller)
        nodes[target].parent = parent;
    return 0;
}

/* ---- The interpreter --------------------------------------------------- */

static void check_resumed(int me, greenlet_transfer_t got)
{
    if (finished)
        return;
    checked_resumes++;
    if (greenlet_current() != nodes[me].handle)
        record_failure("node %d resumed but greenlet_current() is another", me);
    if (!nodes[me].expecting)
        record_failure("node %d resumed when the model resumed no one there",
                       me);
    else if (got.err != nodes[me].expected.err ||
             got.value != nodes[me].expected.value)
        record_failure("node %d got {%d, %p}, the model said {%d, %p}", me,
                       got.err, got.value, nodes[me].expected.err,
                       nodes[me].expected.value);
    nodes[me].expecting = 0;
}

static void check_code(const char *what, int got, int expected)
{
    if (got != expected)
        record_failure("%s returned %d, the model said %d", what, got,
                       expected);
}

static void *node_body(void *value);

/* Performs operations as node me until me dies (the value it returns with)
 * or, for main, until the walk is over. */
static void *interpret(int me)
{
    for (;;) {
        greenlet_transfer_t got = {0};
        int target;

        if (finished || steps_left-- <= 0) {
            if (me == MAIN_NODE) {
                finished = 1;
                return NULL;
            }
            /* Out of steps: hand control back to main, which ends the
             * walk and destroys everything. */
            finished = 1;
            got = greenlet_transfer(nodes[MAIN_NODE].handle, NULL);
            if (got.err == GREENLET_EXIT)
                return NULL;
            continue;
        }

        switch (pick(10)) {
        case 0:
        case 1:
        case 2: { /* switch, through either entry point */
            void *value = value_of_step();
            target = pick_usable();
            model_deliver(target, 0, value);
            if (pick(2)) {
                got = greenlet_transfer(nodes[target].handle, value);
            } else {
                got.err =
                    greenlet_switch(nodes[target].handle, value, &got.value);
            }
            check_resumed(me, got);
            break;
        }
        case 3: { /* throw */
            int err = pick(3) == 0 ? GREENLET_EXIT : 1000 + pick(1000);
            target = pick_usable();
            /* A kill thrown into a dead greenlet is a normal result. */
            if (err == GREENLET_EXIT && nodes[target].state == DEAD)
                model_deliver(target, 0, NULL);
            else
                model_deliver(target, err, NULL);
            got.err = greenlet_throw(nodes[target].handle, err, &got.value);
            check_resumed(me, got);
            break;
        }
        case 4: /* return from run */
            if (me == MAIN_NODE)
                continue;
            nodes[me].state = DEAD;
            {
                void *value = value_of_step();
                model_deliver(nodes[me].parent, 0, value);
                return value;
            }
        case 5: /* greenlet_exit() */
            if (me == MAIN_NODE)
                continue;
            {
                int err = pick(3) == 0   ? 0
                          : pick(2) == 0 ? GREENLET_EXIT
                                         : 2000 + pick(1000);
                void *value = value_of_step();
                nodes[me].state = DEAD;
                model_deliver(nodes[me].parent, err == GREENLET_EXIT ? 0 : err,
                              err == 0 ? value : NULL);
                greenlet_exit(err, value);
                record_failure("greenlet_exit() returned in node %d", me);
                return NULL;
            }
        case 6: { /* new greenlet, parent the current one or any other */
            if (node_count == MAX_NODES)
                continue;
            int parent = pick(2) ? me : pick_usable();
            int n = node_count;
            int rc =
                greenlet_new(&nodes[n].handle, node_body,
                             parent == me ? NULL : nodes[parent].handle, NULL);
            check_code("greenlet_new", rc, 0);
            if (rc)
                continue;
            greenlet_set_userdata(nodes[n].handle, (void *)(intptr_t)n);
            nodes[n].state = UNSTARTED;
            nodes[n].parent = parent;
            node_count++;
            break;
        }
        case 7:   /* kill */
        case 8: { /* destroy: a kill, then the handle goes */
            int destroy = pick(2);
            target = pick_usable();
            /* The model first: the target checks what it is resumed with. */
            int expected = model_kill(target);
            int rc = destroy ? greenlet_destroy(nodes[target].handle)
                             : greenlet_kill(nodes[target].handle);
            check_code(destroy ? "greenlet_destroy" : "greenlet_kill", rc,
                       expected);
            if (destroy && expected == 0)
                nodes[target].released = 1;
            /* Killing a suspended greenlet ran it until it died, which
             * came back here as a normal NULL result. */
            if (nodes[me].expecting)
                check_resumed(me, (greenlet_transfer_t){0});
            break;
        }
        case 9: { /* set_parent */
            target = pick_usable();
            int parent = pick_usable();
            check_code(
                "greenlet_set_parent",
                greenlet_set_parent(nodes[target].handle, nodes[parent].handle),
                model_set_parent(target, parent));
            break;
        }
        }
        /* A greenlet resumed with GREENLET_EXIT dies at once, and its
         * death goes to its parent as a normal NULL result. */
        if (got.err == GREENLET_EXIT && me != MAIN_NODE)
            return NULL;
    }
}

static void *node_body(void *value)
{
    int me = (int)(intptr_t)greenlet_userdata(greenlet_current());

    check_resumed(me, (greenlet_transfer_t){.value = value});
    return interpret(me);
}

/* ---- The test ---------------------------------------------------------- */

static void walk(uint64_t seed, long steps)
{
    memset(nodes, 0, sizeof nodes);
    nodes[MAIN_NODE] = (struct model_node){
        .handle = greenlet_main(), .state = ACTIVE, .parent = -1};
    node_count = 1;
    current = MAIN_NODE;
    rng = seed * 0x9e3779b97f4a7c15u + 1;
    steps_left = steps;
    finished = 0;

    interpret(MAIN_NODE);

    /* Destroying what is left kills the suspended ones (they die at
     * once) and frees the rest; nothing may refuse. */
    for (int n = 1; n < node_count; n++)
        if (!nodes[n].released && greenlet_destroy(nodes[n].handle) != 0)
            record_failure("seed %llu: destroying node %d at the end failed",
                           (unsigned long long)seed, n);
    if (greenlet_current() != greenlet_main())
        record_failure("seed %llu: the walk did not end on main",
                       (unsigned long long)seed);
}

static void test_random_walks_match_the_model(void **state)
{
    size_t seeds = test_scaled(300);

    (void)state;
    for (uint64_t seed = 1; seed <= seeds && failures == 0; seed++) {
        walk(seed, 400);
        if (failures)
            fail_msg("seed %llu: %s", (unsigned long long)seed, first_failure);
    }
    /* The walks really switched: most steps resume someone. */
    assert_true(checked_resumes > (long)seeds * 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_walks_match_the_model),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

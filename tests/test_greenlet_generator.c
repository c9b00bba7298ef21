/*
 * Generators built on greenlets.
 *
 * Greenlet bodies only record what they see (see test_util.h); the
 * assertions run on the main greenlet.
 */
#include "test_greenlet_util.h"

/* ---- Generators ---------------------------------------------------- */

/* A generator: a greenlet whose body yields values to whoever calls
 * generator_next(), which is its parent. */
struct generator {
    greenlet_t *greenlet;
    void (*body)(struct generator *self);
    const char *items; /* for the permutation generators */
    char current[8];   /* the permutation being yielded */
};

static void *generator_run(void *value)
{
    struct generator *self = greenlet_userdata(greenlet_current());

    (void)value;
    self->body(self);
    return NULL;
}

/* Made on the consumer's greenlet, so the consumer is the parent. */
static int generator_init(struct generator *gen,
                          void (*body)(struct generator *), const char *items)
{
    int rc = greenlet_new(&gen->greenlet, generator_run, NULL, NULL);

    if (rc != 0)
        return rc;
    gen->body = body;
    gen->items = items;
    greenlet_set_userdata(gen->greenlet, gen);
    return 0;
}

/* An error from the consumer (a kill) ends the generator, like Python's
 * GeneratorExit. */
static void generator_yield(void *value)
{
    int rc = greenlet_switch(greenlet_parent(greenlet_current()), value, NULL);

    if (rc != 0)
        greenlet_exit(rc, NULL);
}

/* 1 and *value set while the generator yields, 0 once it has ended,
 * -1 on an error. */
static int generator_next(struct generator *gen, void **value)
{
    if (greenlet_switch(gen->greenlet, NULL, value) != 0)
        return -1;
    return greenlet_dead(gen->greenlet) ? 0 : 1;
}

#define TWICE_COUNT 50

/* Yielding from a nested call, not only from the body itself. */
static __attribute__((noinline)) void yield_twice(intptr_t number)
{
    generator_yield(TEST_INT_VALUE(number));
    generator_yield(TEST_INT_VALUE(number));
}

static void yield_each_number_twice(struct generator *self)
{
    intptr_t number;

    (void)self;
    for (number = 0; number < TWICE_COUNT; number++)
        yield_twice(number);
}

static void test_generator_yields_each_number_twice(void **state)
{
    struct generator gen;
    void *value = NULL;
    intptr_t expected = 0;
    int more;

    (void)state;
    assert_int_equal(generator_init(&gen, yield_each_number_twice, NULL), 0);
    while ((more = generator_next(&gen, &value)) == 1) {
        assert_int_equal(TEST_VALUE_INT(value), expected / 2);
        expected++;
    }
    assert_int_equal(more, 0);
    assert_int_equal(expected, 2 * TWICE_COUNT);
    test_greenlet_destroy(gen.greenlet);
}

static void test_abandoned_generator_is_cleaned_up(void **state)
{
    struct generator gen;
    void *value = NULL;

    (void)state;
    assert_int_equal(generator_init(&gen, yield_each_number_twice, NULL), 0);
    assert_int_equal(generator_next(&gen, &value), 1);
    assert_int_equal(generator_next(&gen, &value), 1);
    assert_int_equal(generator_next(&gen, &value), 1);
    assert_int_equal(TEST_VALUE_INT(value), 1);
    /* Suspended in the middle of yield_twice(): destroy kills it. */
    test_greenlet_destroy(gen.greenlet);
}

/* Yields every permutation of self->items, each built by a recursive
 * generator over the items without the one put first. */
static void yield_permutations(struct generator *self)
{
    size_t count = strlen(self->items);
    size_t first;

    if (count <= 1) {
        memcpy(self->current, self->items, count + 1);
        generator_yield(self->current);
        return;
    }
    for (first = 0; first < count; first++) {
        char rest[sizeof(self->current)];
        struct generator sub;
        void *tail;

        memcpy(rest, self->items, first);
        memcpy(rest + first, self->items + first + 1, count - first);
        if (generator_init(&sub, yield_permutations, rest) != 0)
            greenlet_exit(ENOMEM, NULL);
        while (generator_next(&sub, &tail) == 1) {
            self->current[0] = self->items[first];
            memcpy(self->current + 1, tail, count);
            generator_yield(self->current);
        }
        greenlet_destroy(sub.greenlet);
    }
}

static int is_permutation_of(const char *candidate, const char *items)
{
    size_t count = strlen(items);
    size_t i;

    if (strlen(candidate) != count)
        return 0;
    for (i = 0; i < count; i++)
        if (memchr(candidate, items[i], count) == NULL)
            return 0;
    return 1;
}

static void test_nested_generators_make_24_permutations(void **state)
{
    const char *items = "abcd";
    char seen[32][8];
    size_t seen_count = 0;
    struct generator gen;
    void *value = NULL;
    size_t i;
    int more;

    (void)state;
    assert_int_equal(generator_init(&gen, yield_permutations, items), 0);
    while ((more = generator_next(&gen, &value)) == 1) {
        assert_true(seen_count < 32);
        assert_true(is_permutation_of(value, items));
        for (i = 0; i < seen_count; i++)
            assert_string_not_equal(seen[i], value);
        strcpy(seen[seen_count++], value);
    }
    assert_int_equal(more, 0);
    assert_int_equal(seen_count, 24);
    test_greenlet_destroy(gen.greenlet);
}

#define TEST(name) cmocka_unit_test_setup(name, reset_state)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_generator_yields_each_number_twice),
        TEST(test_abandoned_generator_is_cleaned_up),
        TEST(test_nested_generators_make_24_permutations),
    };

    test_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

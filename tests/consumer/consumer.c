/*
 * Out-of-tree consumer of an installed libgreen: a child greenlet yields
 * three values to its parent and then returns their sum.  Prints one line
 * that tests/consumer/run_consumer_test.cmake compares with the expected
 * text.
 */
#include <green/greenlet.h>

#include <stdint.h>
#include <stdio.h>

static void *yield_three(void *first)
{
    greenlet_t *parent = greenlet_parent(greenlet_current());
    intptr_t sum = 0;
    for (intptr_t i = (intptr_t)first; i < (intptr_t)first + 3; i++) {
        sum += i;
        if (greenlet_switch(parent, (void *)i, NULL) != 0)
            return NULL;
    }
    return (void *)sum;
}

int main(void)
{
    greenlet_t *child;
    if (greenlet_new(&child, yield_three, NULL, NULL) != 0)
        return 1;

    void *value = (void *)(intptr_t)1;
    printf("consumer:");
    while (!greenlet_dead(child)) {
        if (greenlet_switch(child, value, &value) != 0)
            return 1;
        printf(" %ld", (long)(intptr_t)value);
    }
    printf("\n");
    return greenlet_destroy(child) == 0 ? 0 : 1;
}

/*
 * hello_greenlets: a generator built from two greenlets.
 *
 * The child counts upwards and hands each number to its parent with
 * greenlet_switch(); the parent prints what it gets and the child echoes
 * it.  When the child's function returns, its return value reaches the
 * parent like any other switch value.
 */
#include <green/greenlet.h>

#include <stdint.h>
#include <stdio.h>

static void *count_to(void *limit)
{
    greenlet_t *parent = greenlet_parent(greenlet_current());
    for (intptr_t i = 0; i < (intptr_t)limit; i++) {
        printf("child  yields %ld\n", (long)i);
        if (greenlet_switch(parent, (void *)i, NULL) != 0)
            return NULL;
    }
    return (void *)(intptr_t)42; /* the child's result */
}

int main(void)
{
    greenlet_t *child;
    int err = greenlet_new(&child, count_to, NULL, NULL);
    if (err != 0) {
        fprintf(stderr, "greenlet_new: error %d\n", err);
        return 1;
    }
    void *value = (void *)(intptr_t)3; /* the first switch starts count_to(3) */
    while (!greenlet_dead(child)) {
        err = greenlet_switch(child, value, &value);
        if (err != 0) {
            fprintf(stderr, "greenlet_switch: error %d\n", err);
            return 1;
        }
        if (greenlet_dead(child))
            printf("parent got the result %ld\n", (long)(intptr_t)value);
        else
            printf("parent got %ld\n", (long)(intptr_t)value);
    }
    return greenlet_destroy(child) == 0 ? 0 : 1;
}

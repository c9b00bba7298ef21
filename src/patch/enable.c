/*
 * The runtime switch, and the test every hook makes before acting.
 */
#include "patch_internal.h"

#include <stdlib.h>
#include <string.h>

atomic_bool patch_on = true;

__attribute__((constructor)) static void read_environment(void)
{
    const char *value = getenv("GREEN_PATCH");

    if (value != NULL && strcmp(value, "0") == 0)
        atomic_store(&patch_on, false);
}

void green_patch_enable(void)
{
    atomic_store(&patch_on, true);
}

void green_patch_disable(void)
{
    atomic_store(&patch_on, false);
}

int green_patch_enabled(void)
{
    return atomic_load(&patch_on) ? 1 : 0;
}

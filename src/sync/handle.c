/*
 * Owners of sync objects: OS thread numbers.
 */
#include "handle.h"

#include <stdatomic.h>

__thread uint64_t sync_thread;

uint64_t sync_thread_number(void)
{
    static atomic_uint_fast64_t last;

    if (sync_thread == 0)
        sync_thread = atomic_fetch_add(&last, 1) + 1;
    return sync_thread;
}

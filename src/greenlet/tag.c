/*
 * Handle tags: the message for a refused handle.
 */
#include "tag.h"

#include <errno.h>
#include <stdio.h>

int tag_refuse(const char *fn, const void *handle)
{
    fprintf(stderr,
            "libgreen: %s(%p): not a live handle of this type (destroyed, "
            "freed or another object)\n",
            fn, handle);
    return EINVAL;
}

/*
 * Internal: handle tags, shared by every layer.
 *
 * Each public handle carries a tag: a per-type constant set when it is
 * made and cleared when it is destroyed, checked when a call enters.  A
 * handle destroyed twice, freed, garbage, or of another type is then
 * refused with EINVAL and a one-line message on stderr rather than
 * corrupting memory.  A handle whose memory already serves a new object of
 * the same type cannot be told from it; builds that recycle nothing
 * (GREEN_NO_RECYCLE, docs/building.md) leave those to the sanitizers.
 */
#ifndef GREEN_TAG_H
#define GREEN_TAG_H

#include <stdint.h>

/* Four letters each, readable in a debugger's memory dump. */
typedef enum tag {
    TAG_GREENLET = 0x474c4554,  /* GLET */
    TAG_THREAD = 0x47544852,    /* GTHR */
    TAG_TIMER = 0x4754494d,     /* GTIM */
    TAG_EVENT = 0x47455654,     /* GEVT */
    TAG_SEMAPHORE = 0x4753454d, /* GSEM */
    TAG_LOCK = 0x474c434b,      /* GLCK */
    TAG_COND = 0x47434e44,      /* GCND */
    TAG_QUEUE = 0x47515545,     /* GQUE */
    TAG_POOL = 0x47504f4f,      /* GPOO */
    TAG_PILE = 0x4750494c,      /* GPIL */
    TAG_IMAP = 0x47494d50,      /* GIMP */
    TAG_GROUP = 0x47475250,     /* GGRP */
    TAG_XQUEUE = 0x47585155     /* GXQU */
} tag_t;

/* Clear the tag of an object being destroyed.  Volatile: the compiler
 * would drop a plain store to memory that is freed next. */
static inline void tag_clear(uint32_t *tag)
{
    *(volatile uint32_t *)tag = 0;
}

/* Print "libgreen: fn(handle): ..." on stderr; returns EINVAL. */
int tag_refuse(const char *fn, const void *handle)
    __attribute__((cold, visibility("hidden")));

/* 0 if handle (not NULL) carries tag, else EINVAL after the message. */
static inline int tag_check(const void *handle, uint32_t have, tag_t want,
                            const char *fn)
{
    if (__builtin_expect(have == (uint32_t)want, 1))
        return 0;
    return tag_refuse(fn, handle);
}

#endif /* GREEN_TAG_H */

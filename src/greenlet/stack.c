/*
 * Greenlet stacks: slabs of guarded stacks and a per-thread cache.
 */
#define _GNU_SOURCE
#include "stack.h"

#include <green/greenlet.h>

#include "sanitizer.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13 */
#endif

/* A slab holds at most this many stacks, and at most SLAB_MAX_BYTES. */
#define SLAB_MAX_SLOTS 64u
#define SLAB_MAX_BYTES ((size_t)256 << 20)
#define CACHE_DEFAULT_LIMIT 64u

struct green_stack_slab {
    struct green_stack_slab *prev, *next; /* on slabs_with_room or slabs_full */
    char *base;
    size_t slot_bytes; /* guard + usable */
    unsigned nslots;
    unsigned nfree;
    unsigned free_slots[]; /* stack of free slot indices */
};

/* Process-wide slab registry; only the slow path takes its lock. */
static pthread_mutex_t slab_lock = PTHREAD_MUTEX_INITIALIZER;
static struct green_stack_slab *slabs_with_room;
/* Full slabs are listed too: a slab whose slots are all cached is else
 * referenced only from inside its own mapping, which LeakSanitizer does
 * not scan, and would be reported as leaked. */
static struct green_stack_slab *slabs_full;
/* Set once MADV_GUARD_INSTALL is refused.  Atomic (relaxed: any thread
 * finds the same answer), as page_bytes below: threads set them lazily. */
static atomic_int guards_by_mprotect;

/* A cached stack keeps its own descriptor in its top bytes, so the cache
 * needs no memory of its own; contexts start below them. */
struct cached_stack {
    struct cached_stack *next;
    struct green_stack stack;
};
_Static_assert(sizeof(struct cached_stack) <= GREEN_STACK_HEADER_BYTES,
               "a cache entry fits in the bytes kept at each stack's top");

struct stack_cache {
    struct cached_stack *head;
    size_t count;
    size_t limit;
    int limit_set;
};

static __thread struct stack_cache cache
    __attribute__((tls_model("initial-exec")));

static _Atomic size_t page_bytes;

static __attribute__((noinline)) size_t page_size_lookup(void)
{
    size_t bytes = (size_t)sysconf(_SC_PAGESIZE);

    atomic_store_explicit(&page_bytes, bytes, memory_order_relaxed);
    return bytes;
}

static inline size_t page_size(void)
{
    size_t bytes = atomic_load_explicit(&page_bytes, memory_order_relaxed);

    return bytes ? bytes : page_size_lookup();
}

size_t green_stack_guard_size(void)
{
    return page_size();
}

static size_t cache_limit(void)
{
    return cache.limit_set ? cache.limit : CACHE_DEFAULT_LIMIT;
}

/* qemu-user accepts MADV_GUARD_INSTALL and ignores it, so the first guard
 * is checked once in /proc/self/pagemap, which flags guard pages (bit 58,
 * Linux 6.14+; on 6.13, which has the advice but not the flag, stacks
 * fall back to mprotect guards). */
#define PAGEMAP_GUARD_BIT 58

static int guard_markers_work(const char *guard)
{
    static atomic_int verdict; /* 0 unknown, 1 working, -1 ignored */
    if (atomic_load_explicit(&verdict, memory_order_relaxed) == 0) {
        uint64_t entry = 0;
        off_t offset = (off_t)((uintptr_t)guard / page_size() * sizeof entry);
        int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return 1; /* cannot tell; trust the kernel's answer */
        ssize_t n = pread(fd, &entry, sizeof entry, offset);
        sys_libc()->close(fd);
        if (n != (ssize_t)sizeof entry)
            return 1;
        atomic_store_explicit(&verdict,
                              (entry >> PAGEMAP_GUARD_BIT) & 1 ? 1 : -1,
                              memory_order_relaxed);
    }
    return atomic_load_explicit(&verdict, memory_order_relaxed) > 0;
}

static int guard_install(char *guard, size_t len)
{
    if (!atomic_load_explicit(&guards_by_mprotect, memory_order_relaxed)) {
        if (madvise(guard, len, MADV_GUARD_INSTALL) == 0) {
            if (guard_markers_work(guard))
                return 0;
        } else if (errno != EINVAL) {
            return errno;
        }
        /* Kernel too old: every later guard splits its mapping. */
        atomic_store_explicit(&guards_by_mprotect, 1, memory_order_relaxed);
    }
    return mprotect(guard, len, PROT_NONE) == 0 ? 0 : errno;
}

static void slab_link(struct green_stack_slab **list,
                      struct green_stack_slab *slab)
{
    slab->prev = NULL;
    slab->next = *list;
    if (*list)
        (*list)->prev = slab;
    *list = slab;
}

static void slab_unlink(struct green_stack_slab **list,
                        struct green_stack_slab *slab)
{
    if (slab->prev)
        slab->prev->next = slab->next;
    else
        *list = slab->next;
    if (slab->next)
        slab->next->prev = slab->prev;
}

static int slab_new(size_t slot_bytes, struct green_stack_slab **out)
{
    unsigned nslots = (unsigned)(SLAB_MAX_BYTES / slot_bytes);
    if (nslots > SLAB_MAX_SLOTS)
        nslots = SLAB_MAX_SLOTS;
    if (nslots == 0)
        nslots = 1;

    struct green_stack_slab *slab =
        malloc(sizeof *slab + nslots * sizeof slab->free_slots[0]);
    if (!slab)
        return ENOMEM;
    size_t bytes = slot_bytes * nslots;
    void *base = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        free(slab);
        return EAGAIN;
    }
    for (unsigned i = 0; i < nslots; i++) {
        int err = guard_install((char *)base + i * slot_bytes, page_size());
        if (err) {
            munmap(base, bytes);
            free(slab);
            return err == ENOMEM ? EAGAIN : err;
        }
        /* Hand out low slots first. */
        slab->free_slots[i] = nslots - 1 - i;
    }
    slab->base = base;
    slab->slot_bytes = slot_bytes;
    slab->nslots = nslots;
    slab->nfree = nslots;
    *out = slab;
    return 0;
}

/* The slow paths stay out of line, so that a cache hit or push runs with
 * no registers to save. */
static __attribute__((noinline)) int slab_take(size_t usable,
                                               struct green_stack *stack)
{
    size_t slot_bytes = usable + page_size();
    struct green_stack_slab *slab;
    int err = 0;

    pthread_mutex_lock(&slab_lock);
    for (slab = slabs_with_room; slab; slab = slab->next)
        if (slab->slot_bytes == slot_bytes)
            break;
    if (!slab) {
        err = slab_new(slot_bytes, &slab);
        if (!err)
            slab_link(&slabs_with_room, slab);
    }
    if (!err) {
        unsigned slot = slab->free_slots[--slab->nfree];
        if (slab->nfree == 0) {
            slab_unlink(&slabs_with_room, slab);
            slab_link(&slabs_full, slab);
        }
        stack->slab = slab;
        stack->slot = slot;
        stack->lo = slab->base + slot * slot_bytes + page_size();
        stack->size = usable;
    }
    pthread_mutex_unlock(&slab_lock);
    if (err)
        return err;
    /* A stack freed without unwinding (its thread exited, or it ended by
     * greenlet_exit) leaves ASan redzones behind in the slot. */
    green_asan_unpoison(stack->lo, usable);
    stack->valgrind_id =
        green_valgrind_stack_register(stack->lo, stack->lo + usable);
    return 0;
}

void green_stack_fork_lock(void)
{
    pthread_mutex_lock(&slab_lock);
}

void green_stack_fork_unlock(void)
{
    pthread_mutex_unlock(&slab_lock);
}

void green_stack_release_to_slab(struct green_stack *stack)
{
    struct green_stack_slab *slab = stack->slab;
    if (!stack->lo)
        return;
    green_valgrind_stack_deregister(stack->valgrind_id);
    /* Give the touched pages back; the guard below stays installed. */
    madvise(stack->lo, stack->size, MADV_DONTNEED);

    pthread_mutex_lock(&slab_lock);
    slab->free_slots[slab->nfree++] = stack->slot;
    if (slab->nfree == 1) {
        slab_unlink(&slabs_full, slab);
        slab_link(&slabs_with_room, slab);
    }
    if (slab->nfree == slab->nslots) {
        slab_unlink(&slabs_with_room, slab);
        munmap(slab->base, slab->slot_bytes * slab->nslots);
        free(slab);
    }
    pthread_mutex_unlock(&slab_lock);
    stack->lo = NULL;
    stack->size = 0;
    stack->slab = NULL;
}

int green_stack_acquire(struct green_stack *stack, size_t size)
{
    size_t page = page_size();
    if (size == 0)
        size = GREENLET_STACK_DEFAULT;
    if (size < GREENLET_STACK_MIN)
        size = GREENLET_STACK_MIN;
    if (size > SIZE_MAX / 4)
        return ENOMEM;
    size = (size + GREEN_STACK_HEADER_BYTES + page - 1) & ~(page - 1);

    /* Most greenlets share one size, so the newest cached stack fits. */
    for (struct cached_stack **link = &cache.head; *link;
         link = &(*link)->next) {
        struct cached_stack *entry = *link;
        if (entry->stack.size == size) {
            *link = entry->next;
            cache.count--;
            *stack = entry->stack;
            green_asan_unpoison(stack->lo, stack->size);
            return 0;
        }
    }
    return slab_take(size, stack);
}

/* Release the cached stacks after the first `keep`, oldest last. */
static __attribute__((noinline)) void
cache_trim_after(struct cached_stack **link, size_t keep)
{
    while (*link && keep) {
        link = &(*link)->next;
        keep--;
    }
    while (*link) {
        struct cached_stack *entry = *link;
        struct green_stack stack = entry->stack;
        *link = entry->next;
        cache.count--;
        green_stack_release_to_slab(&stack);
    }
}

void green_stack_release(struct green_stack *stack)
{
    if (!stack->lo)
        return;
    struct cached_stack *entry =
        (struct cached_stack *)(stack->lo + stack->size) - 1;
    /* Frames that ended by greenlet_exit() leave ASan redzones behind. */
    green_asan_unpoison(entry, sizeof *entry);
    entry->stack = *stack;
    entry->next = cache.head;
    cache.head = entry;
    cache.count++;
    stack->lo = NULL;
    stack->size = 0;
    stack->slab = NULL;
    if (cache.count > cache_limit())
        cache_trim_after(&cache.head, cache_limit() ? cache_limit() : 1);
}

void green_stack_set_cache_limit(size_t max_stacks)
{
    cache.limit = max_stacks;
    cache.limit_set = 1;
    cache_trim_after(&cache.head, max_stacks);
}

void green_stack_flush_cache(void)
{
    cache_trim_after(&cache.head, 0);
}

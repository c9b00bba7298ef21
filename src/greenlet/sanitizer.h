/*
 * What a stack-switching library must tell ASan, TSan and valgrind
 * (internal).
 *
 * ASan tracks one stack per thread unless told about every switch
 * (__sanitizer_start/finish_switch_fiber); TSan keeps one shadow call
 * stack and one happens-before clock per thread unless each greenlet is a
 * fiber it is told about (__tsan_switch_to_fiber); valgrind takes a
 * stack-pointer jump into unknown memory for a stack overflow unless each
 * stack is registered.  The hooks compile to nothing when the tool is
 * absent.
 */
#ifndef GREEN_SANITIZER_H
#define GREEN_SANITIZER_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define GREEN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GREEN_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__) && !defined(GREEN_TSAN)
#define GREEN_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) && !defined(GREEN_TSAN)
#define GREEN_TSAN 1
#endif
#endif

/* Builds that must announce every switch take the C switch path. */
#if defined(GREEN_ASAN) || defined(GREEN_TSAN)
#define GREEN_ANNOUNCE_SWITCH 1
#endif

#if defined(GREEN_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

#if defined(GREEN_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>

static inline void green_asan_unpoison(void *lo, size_t size)
{
    ASAN_UNPOISON_MEMORY_REGION(lo, size);
}
#else
static inline void green_asan_unpoison(void *lo, size_t size)
{
    (void)lo;
    (void)size;
}
#endif

#if defined(GREEN_HAVE_VALGRIND_H) || __has_include(<valgrind/valgrind.h>)
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>

/* Memory the kernel filled where valgrind cannot see it (an io_uring
 * read completes without a system call of the reader's). */
static inline void green_valgrind_make_defined(void *lo, size_t size)
{
    (void)VALGRIND_MAKE_MEM_DEFINED(lo, size);
}

static inline unsigned green_valgrind_stack_register(void *lo, void *hi)
{
    return VALGRIND_STACK_REGISTER(lo, hi);
}
static inline int green_valgrind_running(void)
{
    return RUNNING_ON_VALGRIND != 0;
}
static inline void green_valgrind_stack_deregister(unsigned id)
{
    VALGRIND_STACK_DEREGISTER(id);
}
#else
static inline void green_valgrind_make_defined(void *lo, size_t size)
{
    (void)lo;
    (void)size;
}
static inline unsigned green_valgrind_stack_register(void *lo, void *hi)
{
    (void)lo;
    (void)hi;
    return 0;
}
static inline int green_valgrind_running(void)
{
    return 0;
}
static inline void green_valgrind_stack_deregister(unsigned id)
{
    (void)id;
}
#endif

#endif /* GREEN_SANITIZER_H */

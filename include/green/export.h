/*
 * libgreen — which names the shared libraries export.
 *
 * libgreen is built with -fvisibility=hidden: a function is exported only
 * when its public declaration carries GREEN_EXTERN, so a program's own
 * function of the same name as a libgreen internal can never replace it.
 */
#ifndef GREEN_EXPORT_H
#define GREEN_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define GREEN_EXTERN __attribute__((visibility("default")))
#else
#define GREEN_EXTERN
#endif

/* An inline function that also has an exported symbol, for callers that
 * cannot inline C: Python's ctypes and cffi, Rust's bindgen, cgo.  Its
 * header definition is a C99 inline definition (inline without static): C
 * callers may inline it, and a call that is not inlined links to the one
 * external definition, which the library emits by redeclaring the function
 * without "inline" in one .c file (C99 6.7.4).  C++ merges its inline
 * copies as usual.  Under gcc's gnu89 inline semantics, "extern inline"
 * is what means an inline-only definition. */
#if defined(__GNUC_GNU_INLINE__) && !defined(__cplusplus)
#define GREEN_INLINE GREEN_EXTERN extern inline
#else
#define GREEN_INLINE GREEN_EXTERN inline
#endif

#endif /* GREEN_EXPORT_H */

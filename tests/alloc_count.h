/* Counting wrappers for the malloc family. A test binary that includes
 * this (in exactly one file) and is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc
 * (MALLOC_WRAP in the Makefile) sees every allocation made by gansim code,
 * so it can show that a steady-state training step allocates nothing. */
#ifndef GS_TEST_ALLOC_COUNT_H
#define GS_TEST_ALLOC_COUNT_H

#include <stdatomic.h>
#include <stddef.h>

static atomic_long n_alloc_calls;
void *__real_malloc(size_t);
void *__real_calloc(size_t, size_t);
void *__real_realloc(void *, size_t);
void *__real_aligned_alloc(size_t, size_t);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);
void *__wrap_malloc(size_t n) { n_alloc_calls++; return __real_malloc(n); }
void *__wrap_calloc(size_t a, size_t b) { n_alloc_calls++; return __real_calloc(a, b); }
void *__wrap_realloc(void *p, size_t n) { n_alloc_calls++; return __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t a, size_t n) { n_alloc_calls++; return __real_aligned_alloc(a, n); }

#endif

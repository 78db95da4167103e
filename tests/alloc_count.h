/* Counting wrappers for the malloc family. A test binary that includes
 * this (in exactly one file) and is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc
 * (MALLOC_WRAP in the Makefile) sees every allocation made by gansim code,
 * so it can show that a steady-state training step allocates nothing. */
#ifndef GS_TEST_ALLOC_COUNT_H
#define GS_TEST_ALLOC_COUNT_H

#include <stdatomic.h>
#include <stddef.h>

#include "nn/nn.h"
#include "testutil.h"

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

/* Positive control, to run before asserting that something allocates
 * nothing: the counter must see an allocation made by the test itself
 * (through a volatile pointer, so the compiler cannot elide it) and one made
 * inside libgansim (nn_ctx_new). If the link stopped wrapping the malloc
 * family, a zero count would prove nothing; this fails instead. */
static inline void alloc_count_prove(void)
{
    void *(*volatile m)(size_t) = malloc;
    long before = atomic_load(&n_alloc_calls);
    void *p = m(64);
    ck_assert_msg(atomic_load(&n_alloc_calls) == before + 1,
                  "the malloc wrapper did not count the test's own malloc");
    free(p);
    before = atomic_load(&n_alloc_calls);
    nn_ctx *c = nn_ctx_new();
    ck_assert_msg(atomic_load(&n_alloc_calls) > before,
                  "the malloc wrapper did not count libgansim's allocation");
    nn_ctx_free(c);
}

#endif

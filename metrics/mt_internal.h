/* Shared between the metrics/ sources only; not part of the public API. */
#ifndef MT_INTERNAL_H
#define MT_INTERNAL_H

#include <stdint.h>

/* Sorts x[n] ascending (finite values; -0.0 before +0.0) with an LSD radix
 * sort on the IEEE bit patterns, carrying pay[n] along when not NULL.
 * O(n) time, O(n) scratch. GS_ERR_NOMEM when scratch cannot be had. */
int mt__sort_d(double *x, double *pay, int64_t n);

/* One prepared sample: sorted values, weights carried along (w NULL = all 1),
 * the total weight and the total squared weight. Built from float or double
 * input (exactly one of xf/xd, at most one of wf/wd). */
typedef struct {
    double *x, *w;
    int64_t n;
    double sum, sum2;
} mt__sample;

int mt__sample_make(mt__sample *s, const char *name, const float *xf, const double *xd,
                    const float *wf, const double *wd, int64_t n);
void mt__sample_free(mt__sample *s);
/* W1 and KS of two prepared samples (either output may be NULL). */
void mt__sample_merge(const mt__sample *u, const mt__sample *v, double *w1, double *ks);

#endif

/* Shared between the metrics/ sources only; not part of the public API. */
#ifndef MT_INTERNAL_H
#define MT_INTERNAL_H

#include <stdint.h>

/* Sorts x[n] ascending (finite values; -0.0 before +0.0) with an LSD radix
 * sort on the IEEE bit patterns, carrying pay[n] along when not NULL.
 * O(n) time, O(n) scratch. GS_ERR_NOMEM when scratch cannot be had. */
int mt__sort_d(double *x, double *pay, int64_t n);

#endif

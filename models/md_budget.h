/* md_budget — how a training run's generator steps are shared by its
 * sub-models (LUXE: one WGAN per region x species cell).
 *
 * The rule (one place, so that gansim-train and any checker agree):
 *   weight_k = rows_k ^ power (power 0: equal shares; 1: in proportion to
 *   the rows; default 0.5, between the two: a sub-model with 100x the rows
 *   gets 10x the steps);
 *   every sub-model first gets min(floor, total / n) steps, the rest is
 *   shared in proportion to weight_k among those whose share is above the
 *   floor (water-filling), and the result is rounded by the largest-remainder
 *   method (ties to the lower index), so that sum_k steps_k == total exactly.
 * A sub-model then has fewer than floor steps only when total < n * floor;
 * each such one is "under the floor" and must be reported; a sub-model with
 * 0 steps (total < n) would be sampled untrained: md_train refuses that
 * (unless md_train_opts.allow_untrained). */
#ifndef MD_BUDGET_H
#define MD_BUDGET_H

#include <stdint.h>

#include "core/gs_core.h"

/* rows[n] (> 0), total >= 0, power in [0, 4], min_steps (the floor) >= 0. Writes steps[n].
 * *n_low (may be NULL) = the number of sub-models with steps < min_steps.
 * Errors: GS_ERR_ARG for bad arguments. */
int md_step_budget(const int64_t *rows, int n, int64_t total, double power, int64_t min_steps,
                   int64_t *steps, int *n_low);

#endif

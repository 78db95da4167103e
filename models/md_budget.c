#include "models/md_budget.h"

#include <math.h>
#include <stdlib.h>

int md_step_budget(const int64_t *rows, int n, int64_t total, double power, int64_t min_steps,
                   int64_t *steps, int *n_low)
{
    if (n_low)
        *n_low = 0;
    if (n < 1 || n > 4096 || total < 0 || min_steps < 0 || !(power >= 0 && power <= 4))
        return gs_error(GS_ERR_ARG, "step budget: bad arguments (n = %d, total = %lld, "
                        "power = %g, floor = %lld)", n, (long long)total, power,
                        (long long)min_steps);
    for (int k = 0; k < n; k++)
        if (rows[k] < 1)
            return gs_error(GS_ERR_ARG, "step budget: sub-model %d has %lld rows", k,
                            (long long)rows[k]);
    double share[4096], w[4096];
    uint8_t fixed[4096] = {0};
    for (int k = 0; k < n; k++)
        w[k] = pow((double)rows[k], power);
    const double low = fmin((double)min_steps, (double)total / n);
    /* water-filling: sub-models whose proportional share is under the floor
     * get the floor; the others share what is left; repeat until stable */
    for (int changed = 1; changed;) {
        changed = 0;
        double left = (double)total, wfree = 0;
        for (int k = 0; k < n; k++) {
            if (fixed[k])
                left -= low;
            else
                wfree += w[k];
        }
        for (int k = 0; k < n; k++) {
            share[k] = fixed[k] || !(wfree > 0) ? low : left * w[k] / wfree;
            if (!fixed[k] && share[k] < low) {
                fixed[k] = 1;
                changed = 1;
            }
        }
    }
    /* largest remainder */
    int64_t given = 0;
    for (int k = 0; k < n; k++)
        given += steps[k] = (int64_t)floor(share[k]);
    for (int64_t left = total - given; left > 0; left--) {
        int best = -1;
        double br = -1;
        for (int k = 0; k < n; k++) {
            double r = share[k] - (double)steps[k];
            if (r > br + 1e-12) {
                br = r;
                best = k;
            }
        }
        steps[best]++;
    }
    for (int k = 0; k < n && n_low; k++)
        if (steps[k] < min_steps)
            (*n_low)++;
    return GS_OK;
}

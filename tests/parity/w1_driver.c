/* Parity driver for w1_parity.py (developer-side, not part of the build):
 *   w1_driver FILE NU NV WEIGHTED
 * FILE holds float32 u[NU], v[NV] and, when WEIGHTED is 1, uw[NU], vw[NV].
 * Prints "W1 KS" with 17 significant digits, or the error on stderr (exit 1). */
#include <stdio.h>
#include <stdlib.h>

#include "metrics/mt.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: w1_driver FILE NU NV WEIGHTED\n");
        return 2;
    }
    long long nu = atoll(argv[2]), nv = atoll(argv[3]);
    int weighted = atoi(argv[4]);
    size_t tot = (size_t)(nu + nv) * (weighted ? 2 : 1);
    float *buf = malloc(tot * sizeof *buf);
    FILE *f = fopen(argv[1], "rb");
    if (!buf || !f || fread(buf, sizeof *buf, tot, f) != tot) {
        fprintf(stderr, "w1_driver: cannot read %s\n", argv[1]);
        return 1;
    }
    fclose(f);
    float *u = buf, *v = buf + nu;
    float *uw = weighted ? buf + nu + nv : NULL, *vw = weighted ? uw + nu : NULL;
    double w1, ks;
    if (mt_w1_ks(u, uw, nu, v, vw, nv, &w1, &ks)) {
        fprintf(stderr, "w1_driver: %s\n", gs_errmsg());
        return 1;
    }
    printf("%.17g %.17g\n", w1, ks);
    free(buf);
    return 0;
}

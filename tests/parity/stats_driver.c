/* Parity driver for stats_parity.py (developer-side, not part of the build):
 *   stats_driver auc FILE N WEIGHTED   FILE: float64 score[N], label[N] (0/1), weight[N]
 *                                      (weights read only when WEIGHTED is 1); prints AUC
 *   stats_driver kolm Z...             prints mt_kolmogorov_sf(Z) per argument
 *   stats_driver chi2 X NDF            prints mt_chi2_pvalue(X, NDF)
 *   stats_driver ksp D N1 N2           prints mt_ks_pvalue(D, N1, N2)
 *   stats_driver rcorr FILE N F WEIGHTED  FILE: float32 x[N*F], weight[N]; prints the
 *                                      F x F rank correlation matrix row-major
 * 17 significant digits; errors on stderr with exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/mt.h"

static void *slurp(const char *path, size_t bytes)
{
    void *buf = malloc(bytes ? bytes : 1);
    FILE *f = fopen(path, "rb");
    if (!buf || !f || fread(buf, 1, bytes, f) != bytes) {
        fprintf(stderr, "stats_driver: cannot read %zu bytes of %s\n", bytes, path);
        exit(1);
    }
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && !strcmp(argv[1], "auc")) {
        long long n = atoll(argv[3]);
        int weighted = atoi(argv[4]);
        double *buf = slurp(argv[2], (size_t)n * 3 * sizeof(double));
        uint8_t *lab = malloc((size_t)n);
        for (long long i = 0; i < n; i++)
            lab[i] = buf[n + i] != 0;
        double auc;
        if (mt_auc(buf, lab, weighted ? buf + 2 * n : NULL, n, &auc)) {
            fprintf(stderr, "stats_driver: %s\n", gs_errmsg());
            return 1;
        }
        printf("%.17g\n", auc);
        free(buf);
        free(lab);
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "kolm")) {
        for (int i = 2; i < argc; i++)
            printf("%.17g\n", mt_kolmogorov_sf(atof(argv[i])));
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "chi2")) {
        printf("%.17g\n", mt_chi2_pvalue(atof(argv[2]), atoll(argv[3])));
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "ksp")) {
        printf("%.17g\n", mt_ks_pvalue(atof(argv[2]), atof(argv[3]), atof(argv[4])));
        return 0;
    }
    if (argc == 6 && !strcmp(argv[1], "rcorr")) {
        long long n = atoll(argv[3]), f = atoll(argv[4]);
        int weighted = atoi(argv[5]);
        float *buf = slurp(argv[2], (size_t)(n * f + n) * sizeof(float));
        double *out = malloc((size_t)(f * f) * sizeof *out);
        if (mt_rank_corr(buf, weighted ? buf + n * f : NULL, n, f, out)) {
            fprintf(stderr, "stats_driver: %s\n", gs_errmsg());
            return 1;
        }
        for (long long i = 0; i < f * f; i++)
            printf("%.17g\n", out[i]);
        free(buf);
        free(out);
        return 0;
    }
    fprintf(stderr, "usage: stats_driver auc|kolm|chi2|ksp|rcorr ... (see the header)\n");
    return 2;
}

/* mt_stats — significance and separation: the Kolmogorov distribution and
 * the two-sample KS p-value, the χ² survival function, the exact ROC AUC of
 * classifier scores, rank (grade) correlation matrices, and the PDG masses
 * that turn momenta into kinetic energies. Definitions in mt.h. */
#include "metrics/mt.h"
#include "metrics/mt_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Kolmogorov distribution ------------------------------------------- */
double mt_kolmogorov_sf(double z)
{
    if (isnan(z))
        return NAN;
    if (z <= 0)
        return 1.0;
    if (z < 1.18) {
        /* the Jacobi-theta form converges fast for small z:
         * P(K <= z) = sqrt(2π)/z Σ_{k>=1} exp(−(2k−1)²π²/(8z²)) */
        double s = 0, a = -M_PI * M_PI / (8 * z * z);
        for (int k = 1; k < 20; k++) {
            double t = exp(a * (double)((2 * k - 1) * (2 * k - 1)));
            s += t;
            if (t < 1e-17 * s)
                break;
        }
        double cdf = sqrt(2 * M_PI) / z * s;
        return cdf >= 1 ? 0.0 : 1.0 - cdf;
    }
    /* Q(z) = 2 Σ_{k>=1} (−1)^{k−1} exp(−2k²z²) */
    double s = 0;
    for (int k = 1; k < 100; k++) {
        double t = exp(-2.0 * (double)k * (double)k * z * z);
        s += (k & 1) ? t : -t;
        if (t < 1e-17)
            break;
    }
    s *= 2;
    return s < 0 ? 0 : s > 1 ? 1 : s;
}

double mt_ks_pvalue(double d, double n1, double n2)
{
    if (!(n1 > 0) || !(n2 > 0) || isnan(d))
        return NAN;
    double en = n1 * n2 / (n1 + n2);
    return mt_kolmogorov_sf(sqrt(en) * d);
}

/* ---- χ² survival function: the regularised upper incomplete gamma
 * Q(ndf/2, χ²/2), by its series below a + 1 and Lentz's continued fraction
 * above (Numerical Recipes §6.2). ------------------------------------------ */
double mt_chi2_pvalue(double chi2, int64_t ndf)
{
    if (ndf < 1 || isnan(chi2))
        return NAN;
    if (chi2 <= 0)
        return 1.0;
    if (isinf(chi2))
        return 0.0;
    double a = 0.5 * (double)ndf, x = 0.5 * chi2;
    double lpre = a * log(x) - x - lgamma(a);
    if (x < a + 1) {
        double ap = a, del = 1.0 / a, sum = del;
        for (int n = 0; n < 100000; n++) {
            ap += 1;
            del *= x / ap;
            sum += del;
            if (fabs(del) < fabs(sum) * 1e-16)
                break;
        }
        double p = sum * exp(lpre);
        return p >= 1 ? 0.0 : 1.0 - p;
    }
    const double tiny = 1e-300;
    double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
    for (int i = 1; i < 100000; i++) {
        double an = -(double)i * ((double)i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < tiny)
            d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-16)
            break;
    }
    double q = exp(lpre) * h;
    return q > 1 ? 1 : q;
}

/* ---- ROC AUC ------------------------------------------------------------- */
int mt_auc(const double *score, const uint8_t *label, const double *w, int64_t n, double *auc)
{
    if (!score || !label || !auc || n < 2)
        return gs_error(GS_ERR_ARG, "AUC: need n >= 2 scores with labels (n = %lld)",
                        (long long)n);
    double *s = malloc((size_t)n * sizeof *s), *idx = malloc((size_t)n * sizeof *idx);
    if (!s || !idx) {
        free(s);
        free(idx);
        return gs_error(GS_ERR_NOMEM, "AUC: out of memory for %lld scores", (long long)n);
    }
    int rc = GS_OK;
    double wpos = 0, wneg = 0;
    for (int64_t i = 0; i < n && !rc; i++) {
        double wi = w ? w[i] : 1.0;
        if (!isfinite(score[i]))
            rc = gs_error(GS_ERR_NUMERIC, "AUC: score %lld is %g (need finite)", (long long)i,
                          score[i]);
        else if (!isfinite(wi) || wi < 0)
            rc = gs_error(GS_ERR_NUMERIC, "AUC: weight %lld is %g (need finite, >= 0)",
                          (long long)i, wi);
        else if (label[i] > 1)
            rc = gs_error(GS_ERR_ARG, "AUC: label %lld is %d (need 0 or 1)", (long long)i,
                          label[i]);
        s[i] = score[i] == 0 ? 0.0 : score[i]; /* -0.0 ties with +0.0 */
        idx[i] = (double)i;
        if (label[i])
            wpos += wi;
        else
            wneg += wi;
    }
    if (!rc && !(wpos > 0 && wneg > 0))
        rc = gs_error(GS_ERR_ARG, "AUC: need both classes with positive weight (positive %g, "
                                  "negative %g)", wpos, wneg);
    if (!rc)
        rc = mt__sort_d(s, idx, n);
    if (!rc) {
        /* Mann–Whitney: AUC = P(score_pos > score_neg) + ½ P(equal); a run of
         * equal scores counts its negatives half, which is the trapezoid of
         * the ROC curve through that run (sklearn's roc_auc_score). */
        double below = 0, acc = 0;
        for (int64_t i = 0; i < n;) {
            int64_t j = i;
            double gp = 0, gn = 0;
            for (; j < n && s[j] == s[i]; j++) {
                int64_t k = (int64_t)idx[j];
                double wk = w ? w[k] : 1.0;
                if (label[k])
                    gp += wk;
                else
                    gn += wk;
            }
            acc += gp * (below + 0.5 * gn);
            below += gn;
            i = j;
        }
        *auc = acc / (wpos * wneg);
    }
    free(s);
    free(idx);
    return rc;
}

double mt_auc_sigma0(double n_pos, double n_neg)
{
    if (!(n_pos > 0) || !(n_neg > 0))
        return NAN;
    return sqrt((n_pos + n_neg + 1) / (12 * n_pos * n_neg));
}

/* ---- rank correlation ------------------------------------------------------ */
int mt_rank_corr(const float *x, const float *w, int64_t n, int64_t f, double *out)
{
    if (!x || !out || n < 2 || f < 1)
        return gs_error(GS_ERR_ARG, "rank corr: need n >= 2 rows and f >= 1 columns (n = %lld, "
                                    "f = %lld)", (long long)n, (long long)f);
    size_t cells;
    if (gs_mul_overflow((size_t)n, (size_t)f, &cells))
        return gs_error(GS_ERR_NOMEM, "rank corr: %lld x %lld overflows", (long long)n,
                        (long long)f);
    float *g = malloc(cells * sizeof *g);
    double *v = malloc((size_t)n * sizeof *v), *idx = malloc((size_t)n * sizeof *idx);
    double *mean = calloc((size_t)f, sizeof *mean);
    int rc = GS_OK;
    if (!g || !v || !idx || !mean)
        rc = gs_error(GS_ERR_NOMEM, "rank corr: out of memory for %lld rows", (long long)n);
    double wsum = 0;
    for (int64_t i = 0; !rc && i < n; i++) {
        double wi = w ? w[i] : 1.0;
        if (!isfinite(wi) || wi < 0)
            rc = gs_error(GS_ERR_NUMERIC, "rank corr: weight %lld is %g", (long long)i, wi);
        wsum += wi;
    }
    if (!rc && !(wsum > 0))
        rc = gs_error(GS_ERR_NUMERIC, "rank corr: weights sum to 0");
    /* each column to its weighted mid-grades u = (W(< x) + ½ W(= x)) / W:
     * unweighted, u = (midrank − ½)/n, an affine map of the ranks, so the
     * Pearson correlation of grades is Spearman's ρ */
    for (int64_t c = 0; !rc && c < f; c++) {
        for (int64_t i = 0; i < n; i++) {
            double xv = x[i * f + c];
            if (!isfinite(xv)) {
                rc = gs_error(GS_ERR_NUMERIC, "rank corr: row %lld column %lld is %g",
                              (long long)i, (long long)c, xv);
                break;
            }
            v[i] = xv == 0 ? 0.0 : xv;
            idx[i] = (double)i;
        }
        if (rc || (rc = mt__sort_d(v, idx, n)))
            break;
        double below = 0;
        for (int64_t i = 0; i < n;) {
            int64_t j = i;
            double gw = 0;
            for (; j < n && v[j] == v[i]; j++)
                gw += w ? w[(int64_t)idx[j]] : 1.0;
            float u = (float)((below + 0.5 * gw) / wsum);
            for (int64_t k = i; k < j; k++)
                g[(int64_t)idx[k] * f + c] = u;
            below += gw;
            i = j;
        }
    }
    if (!rc) {
        for (int64_t i = 0; i < n; i++)
            for (int64_t c = 0; c < f; c++)
                mean[c] += (w ? w[i] : 1.0) * g[i * f + c];
        for (int64_t c = 0; c < f; c++)
            mean[c] /= wsum;
        memset(out, 0, (size_t)(f * f) * sizeof *out);
        for (int64_t i = 0; i < n; i++) {
            double wi = w ? w[i] : 1.0;
            const float *row = g + i * f;
            for (int64_t a = 0; a < f; a++) {
                double da = wi * (row[a] - mean[a]);
                for (int64_t b = a; b < f; b++)
                    out[a * f + b] += da * (row[b] - mean[b]);
            }
        }
        for (int64_t a = 0; a < f; a++)
            for (int64_t b = a + 1; b < f; b++) {
                double va = out[a * f + a], vb = out[b * f + b];
                double r = (va > 0 && vb > 0) ? out[a * f + b] / sqrt(va * vb) : 0.0;
                r = r > 1 ? 1 : r < -1 ? -1 : r;
                out[a * f + b] = out[b * f + a] = r;
            }
        for (int64_t a = 0; a < f; a++)
            out[a * f + a] = 1.0;
    }
    free(g);
    free(v);
    free(idx);
    free(mean);
    return rc;
}


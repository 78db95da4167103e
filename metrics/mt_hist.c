/* mt_hist — binning, 1-D/2-D histograms, and the histogram divergences
 * (KL, JS, χ²). Definitions in mt.h. */
#include "metrics/mt.h"
#include "metrics/mt_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int check_nbins(int64_t nbins)
{
    /* 2^40 bins is already absurd; the cap keeps nbins * nbins products in range */
    if (nbins < 1 || nbins > ((int64_t)1 << 40))
        return gs_error(GS_ERR_ARG, "histogram: nbins = %lld, need >= 1", (long long)nbins);
    return GS_OK;
}

int mt_binning_linear(mt_binning *b, double lo, double hi, int64_t nbins)
{
    int rc = check_nbins(nbins);
    if (rc)
        return rc;
    if (!isfinite(lo) || !isfinite(hi) || !(lo < hi))
        return gs_error(GS_ERR_ARG, "histogram: range [%g, %g] is not finite and increasing", lo,
                        hi);
    b->nbins = nbins;
    b->lo = lo;
    b->hi = hi;
    b->scale = MT_SCALE_LINEAR;
    return GS_OK;
}

int mt_binning_log(mt_binning *b, double lo, double hi, int64_t nbins)
{
    int rc = check_nbins(nbins);
    if (rc)
        return rc;
    if (!isfinite(lo) || !isfinite(hi) || !(lo > 0) || !(lo < hi))
        return gs_error(GS_ERR_ARG, "histogram: log range [%g, %g] needs 0 < lo < hi", lo, hi);
    b->nbins = nbins;
    b->lo = lo;
    b->hi = hi;
    b->scale = MT_SCALE_LOG;
    return GS_OK;
}

double mt_quantile_sorted(const double *s, int64_t n, double q)
{
    if (n <= 0)
        return NAN;
    if (q <= 0)
        return s[0];
    if (q >= 1)
        return s[n - 1];
    double pos = q * (double)(n - 1);
    int64_t k = (int64_t)floor(pos);
    if (k >= n - 1)
        return s[n - 1];
    double frac = pos - (double)k;
    return s[k] + frac * (s[k + 1] - s[k]);
}

int mt_binning_from_quantiles(mt_binning *b, const float *x, int64_t n, int64_t nbins,
                              double qlo, double qhi)
{
    int rc = check_nbins(nbins);
    if (rc)
        return rc;
    if (n < 1 || !x)
        return gs_error(GS_ERR_ARG, "histogram: no samples to take the range from (n = %lld)",
                        (long long)n);
    if (!(qlo >= 0 && qlo < qhi && qhi <= 1))
        return gs_error(GS_ERR_ARG, "histogram: quantile range [%g, %g] invalid", qlo, qhi);
    double *s = malloc((size_t)n * sizeof *s);
    if (!s)
        return gs_error(GS_ERR_NOMEM, "histogram: out of memory for %lld samples", (long long)n);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(x[i]))
            s[m++] = x[i];
    if (m == 0) {
        free(s);
        return gs_error(GS_ERR_NUMERIC, "histogram: no finite sample to take the range from");
    }
    rc = mt__sort_d(s, NULL, m);
    if (rc) {
        free(s);
        return rc;
    }
    double lo = mt_quantile_sorted(s, m, qlo), hi = mt_quantile_sorted(s, m, qhi);
    free(s);
    if (!(hi > lo)) {
        /* a constant feature: give it one sensible range rather than failing */
        double d = 0.5 * fmax(1.0, fabs(lo));
        hi = lo + d;
        lo = lo - d;
    }
    return mt_binning_linear(b, lo, hi, nbins);
}

double mt_bin_edge(const mt_binning *b, int64_t i)
{
    if (i <= 0)
        return b->lo;
    if (i >= b->nbins)
        return b->hi;
    double t = (double)i / (double)b->nbins;
    if (b->scale == MT_SCALE_LOG)
        return b->lo * pow(b->hi / b->lo, t);
    return b->lo + (b->hi - b->lo) * t;
}

/* mt_bin_index with the edges precomputed (edges[i] = mt_bin_edge(b, i)) and
 * log(hi/lo) given: the histogram loops call this once per value, and
 * mt_bin_edge's pow() per call was a third of gansim-eval's time. */
static inline int64_t bin_index_fast(const mt_binning *b, const double *edges, double loglh,
                                     double v)
{
    if (isnan(v))
        return -2;
    if (v < b->lo || (b->scale == MT_SCALE_LOG && v <= 0))
        return -1;
    if (v > b->hi)
        return b->nbins;
    double t = b->scale == MT_SCALE_LOG ? log(v / b->lo) / loglh : (v - b->lo) / (b->hi - b->lo);
    int64_t i = (int64_t)(t * (double)b->nbins);
    if (i < 0)
        i = 0;
    if (i >= b->nbins)
        i = b->nbins - 1;
    if (i > 0 && v < edges[i])
        i--;
    else if (i < b->nbins - 1 && v >= edges[i + 1])
        i++;
    return i;
}

/* edges[0..nbins] of b (malloc'd) */
static double *edges_of(const mt_binning *b)
{
    double *e = malloc((size_t)(b->nbins + 1) * sizeof *e);
    if (e)
        for (int64_t i = 0; i <= b->nbins; i++)
            e[i] = mt_bin_edge(b, i);
    return e;
}

int64_t mt_bin_index(const mt_binning *b, double v)
{
    if (isnan(v))
        return -2;
    if (v < b->lo || (b->scale == MT_SCALE_LOG && v <= 0))
        return -1;
    if (v > b->hi)
        return b->nbins;
    double t = b->scale == MT_SCALE_LOG ? log(v / b->lo) / log(b->hi / b->lo)
                                        : (v - b->lo) / (b->hi - b->lo);
    int64_t i = (int64_t)(t * (double)b->nbins);
    if (i < 0)
        i = 0;
    if (i >= b->nbins)
        i = b->nbins - 1;
    /* rounding in t can put v one bin off its edges; mt_bin_edge is the truth */
    if (i > 0 && v < mt_bin_edge(b, i))
        i--;
    else if (i < b->nbins - 1 && v >= mt_bin_edge(b, i + 1))
        i++;
    return i;
}

/* maps a raw index to the bin that receives it, or -1 when it is not binned */
static int64_t flow_bin(const mt_binning *b, mt_flow flow, int64_t i, mt_hist_stats *st,
                        double wt)
{
    if (i == -2) {
        st->nan += wt;
        return -1;
    }
    if (i == -1) {
        st->underflow += wt;
        return flow == MT_FLOW_CLAMP ? 0 : -1;
    }
    if (i == b->nbins) {
        st->overflow += wt;
        return flow == MT_FLOW_CLAMP ? b->nbins - 1 : -1;
    }
    return i;
}

static int check_hist_args(const mt_binning *b, const void *x, int64_t n, const double *counts)
{
    if (!b || !counts || (n > 0 && !x) || n < 0)
        return gs_error(GS_ERR_ARG, "histogram: missing argument or n < 0");
    return check_nbins(b->nbins);
}

int mt_hist1d(const mt_binning *b, mt_flow flow, const float *x, const float *w, int64_t n,
              double *counts, double *sumw2, mt_hist_stats *st)
{
    int rc = check_hist_args(b, x, n, counts);
    if (rc)
        return rc;
    double *edges = edges_of(b);
    if (!edges)
        return gs_error(GS_ERR_NOMEM, "histogram: out of memory for %lld edges",
                        (long long)b->nbins);
    const double loglh = b->scale == MT_SCALE_LOG ? log(b->hi / b->lo) : 0;
    mt_hist_stats local = {0};
    memset(counts, 0, (size_t)b->nbins * sizeof *counts);
    if (sumw2)
        memset(sumw2, 0, (size_t)b->nbins * sizeof *sumw2);
    for (int64_t i = 0; i < n; i++) {
        double wt = w ? (double)w[i] : 1.0;
        int64_t k = flow_bin(b, flow, bin_index_fast(b, edges, loglh, x[i]), &local, wt);
        if (k < 0)
            continue;
        counts[k] += wt;
        if (sumw2)
            sumw2[k] += wt * wt;
        local.total += wt;
    }
    free(edges);
    if (st)
        *st = local;
    return GS_OK;
}

int mt_hist2d(const mt_binning *bx, const mt_binning *by, mt_flow flow, const float *x,
              const float *y, const float *w, int64_t n, double *counts, mt_hist_stats *st)
{
    return mt_hist2d_w2(bx, by, flow, x, y, w, n, counts, NULL, st);
}

int mt_hist2d_w2(const mt_binning *bx, const mt_binning *by, mt_flow flow, const float *x,
                 const float *y, const float *w, int64_t n, double *counts, double *sumw2,
                 mt_hist_stats *st)
{
    int rc = check_hist_args(bx, x, n, counts);
    if (!rc)
        rc = check_hist_args(by, y, n, counts);
    if (rc)
        return rc;
    size_t cells;
    if (gs_mul_overflow((size_t)bx->nbins, (size_t)by->nbins, &cells))
        return gs_error(GS_ERR_NOMEM, "histogram: %lld x %lld bins overflow",
                        (long long)bx->nbins, (long long)by->nbins);
    double *ex = edges_of(bx), *ey = edges_of(by);
    if (!ex || !ey) {
        free(ex);
        free(ey);
        return gs_error(GS_ERR_NOMEM, "histogram: out of memory for the edges");
    }
    const double lx = bx->scale == MT_SCALE_LOG ? log(bx->hi / bx->lo) : 0;
    const double ly = by->scale == MT_SCALE_LOG ? log(by->hi / by->lo) : 0;
    mt_hist_stats local = {0};
    memset(counts, 0, cells * sizeof *counts);
    if (sumw2)
        memset(sumw2, 0, cells * sizeof *sumw2);
    for (int64_t i = 0; i < n; i++) {
        double wt = w ? (double)w[i] : 1.0;
        int64_t ix = bin_index_fast(bx, ex, lx, x[i]), iy = bin_index_fast(by, ey, ly, y[i]);
        if (ix == -2 || iy == -2) {
            local.nan += wt;
            continue;
        }
        /* one out-of-range entry counts once, whichever axis (or both) it leaves by */
        int out_lo = ix == -1 || iy == -1, out_hi = ix == bx->nbins || iy == by->nbins;
        if (out_lo)
            local.underflow += wt;
        else if (out_hi)
            local.overflow += wt;
        if ((out_lo || out_hi) && flow != MT_FLOW_CLAMP)
            continue;
        ix = ix < 0 ? 0 : ix >= bx->nbins ? bx->nbins - 1 : ix;
        iy = iy < 0 ? 0 : iy >= by->nbins ? by->nbins - 1 : iy;
        counts[ix * by->nbins + iy] += wt;
        if (sumw2)
            sumw2[ix * by->nbins + iy] += wt * wt;
        local.total += wt;
    }
    free(ex);
    free(ey);
    if (st)
        *st = local;
    return GS_OK;
}

/* validates counts and returns their sum in *sum */
static int check_counts(const double *c, int64_t nbins, const char *what, double *sum)
{
    if (!c || nbins < 1)
        return gs_error(GS_ERR_ARG, "%s: need at least one bin", what);
    double s = 0;
    for (int64_t i = 0; i < nbins; i++) {
        if (!isfinite(c[i]) || c[i] < 0)
            return gs_error(GS_ERR_NUMERIC, "%s: bin %lld holds %g (need finite, >= 0)", what,
                            (long long)i, c[i]);
        s += c[i];
    }
    if (!(s > 0))
        return gs_error(GS_ERR_ARG, "%s: histogram is empty", what);
    *sum = s;
    return GS_OK;
}

static inline double smooth(double c, double sum, int64_t nbins, double eps)
{
    return (c / sum + eps) / (1.0 + (double)nbins * eps);
}

static inline double kl_term(double p, double q)
{
    if (p <= 0)
        return 0; /* 0 · ln 0 = 0 */
    if (q <= 0)
        return INFINITY;
    return p * log(p / q);
}

int mt_kl(const double *p, const double *q, int64_t nbins, double eps, double *out)
{
    double sp, sq;
    int rc = check_counts(p, nbins, "KL", &sp);
    if (!rc)
        rc = check_counts(q, nbins, "KL", &sq);
    if (rc)
        return rc;
    if (!(eps >= 0) || !isfinite(eps))
        return gs_error(GS_ERR_ARG, "KL: eps = %g, need >= 0", eps);
    double kl = 0;
    for (int64_t i = 0; i < nbins; i++)
        kl += kl_term(smooth(p[i], sp, nbins, eps), smooth(q[i], sq, nbins, eps));
    /* rounding can make a true 0 come out as -1e-17 */
    *out = kl < 0 ? 0 : kl;
    return GS_OK;
}

int mt_js(const double *p, const double *q, int64_t nbins, double eps, double *out)
{
    double sp, sq;
    int rc = check_counts(p, nbins, "JS", &sp);
    if (!rc)
        rc = check_counts(q, nbins, "JS", &sq);
    if (rc)
        return rc;
    if (!(eps >= 0) || !isfinite(eps))
        return gs_error(GS_ERR_ARG, "JS: eps = %g, need >= 0", eps);
    double js = 0;
    for (int64_t i = 0; i < nbins; i++) {
        double a = smooth(p[i], sp, nbins, eps), b = smooth(q[i], sq, nbins, eps);
        double m = 0.5 * (a + b);
        js += 0.5 * kl_term(a, m) + 0.5 * kl_term(b, m);
    }
    *out = js < 0 ? 0 : js > M_LN2 ? M_LN2 : js;
    return GS_OK;
}

int mt_chi2(const double *c1, const double *sumw2_1, const double *c2, const double *sumw2_2,
            int64_t nbins, double *chi2, int64_t *ndf)
{
    double n1, n2;
    int rc = check_counts(c1, nbins, "chi2", &n1);
    if (!rc)
        rc = check_counts(c2, nbins, "chi2", &n2);
    if (rc)
        return rc;
    if ((sumw2_1 == NULL) != (sumw2_2 == NULL))
        return gs_error(GS_ERR_ARG, "chi2: give sum-of-squared-weights for both or neither");
    double x2 = 0;
    int64_t used = 0;
    for (int64_t i = 0; i < nbins; i++) {
        double num = n2 * c1[i] - n1 * c2[i], den;
        if (sumw2_1)
            den = n2 * n2 * sumw2_1[i] + n1 * n1 * sumw2_2[i];
        else
            den = n1 * n2 * (c1[i] + c2[i]);
        if (!(den > 0))
            continue;
        x2 += num * num / den;
        used++;
    }
    *chi2 = x2;
    *ndf = used > 0 ? used - 1 : 0;
    return GS_OK;
}

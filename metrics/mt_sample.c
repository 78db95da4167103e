/* mt_sample — distances between samples: exact 1-D Wasserstein-1 and the
 * two-sample KS statistic (one radix sort of each sample, then one merge of
 * the two step CDFs), and correlation matrices. Definitions in mt.h. */
#include "metrics/mt.h"
#include "metrics/mt_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Order-preserving map of a double's bits to an unsigned key: flip all bits
 * of negatives, set the sign bit of positives. */
static inline uint64_t key_of(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return (b >> 63) ? ~b : (b | 0x8000000000000000ull);
}

static inline double val_of(uint64_t k)
{
    uint64_t b = (k >> 63) ? (k & 0x7fffffffffffffffull) : ~k;
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

int mt__sort_d(double *x, double *pay, int64_t n)
{
    if (n < 2)
        return GS_OK;
    /* the keys live in x's own storage (same size), so only the scratch is extra */
    uint64_t *k = (uint64_t *)(void *)x;
    uint64_t *kt = malloc((size_t)n * sizeof *kt);
    double *pt = pay ? malloc((size_t)n * sizeof *pt) : NULL;
    size_t(*cnt)[256] = calloc(8, sizeof *cnt);
    if (!kt || (pay && !pt) || !cnt) {
        free(kt);
        free(pt);
        free(cnt);
        return gs_error(GS_ERR_NOMEM, "sort: out of memory for %lld values", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) {
        uint64_t key = key_of(x[i]);
        k[i] = key;
        for (int d = 0; d < 8; d++)
            cnt[d][(key >> (8 * d)) & 0xff]++;
    }
    uint64_t *src = k, *dst = kt;
    double *psrc = pay, *pdst = pt;
    for (int d = 0; d < 8; d++) {
        /* a digit every key shares (e.g. the zero low mantissa bytes of values
         * that came from float) needs no pass */
        if (cnt[d][(src[0] >> (8 * d)) & 0xff] == (size_t)n)
            continue;
        size_t pos = 0;
        for (int b = 0; b < 256; b++) {
            size_t c = cnt[d][b];
            cnt[d][b] = pos;
            pos += c;
        }
        for (int64_t i = 0; i < n; i++) {
            size_t at = cnt[d][(src[i] >> (8 * d)) & 0xff]++;
            dst[at] = src[i];
            if (pay)
                pdst[at] = psrc[i];
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
        double *pt2 = psrc;
        psrc = pdst;
        pdst = pt2;
    }
    if (src != k) {
        memcpy(k, src, (size_t)n * sizeof *k);
        if (pay)
            memcpy(pay, psrc, (size_t)n * sizeof *pay);
    }
    for (int64_t i = 0; i < n; i++)
        x[i] = val_of(k[i]);
    free(kt);
    free(pt);
    free(cnt);
    return GS_OK;
}

void mt__sample_free(mt__sample *s)
{
    free(s->x);
    free(s->w);
    s->x = s->w = NULL;
}

int mt__sample_make(mt__sample *s, const char *name, const float *xf, const double *xd,
                    const float *wf, const double *wd, int64_t n)
{
    memset(s, 0, sizeof *s);
    if (n < 1 || (!xf && !xd))
        return gs_error(GS_ERR_ARG, "%s: need at least one value (n = %lld)", name,
                        (long long)n);
    int weighted = wf || wd;
    s->x = malloc((size_t)n * sizeof *s->x);
    s->w = weighted ? malloc((size_t)n * sizeof *s->w) : NULL;
    if (!s->x || (weighted && !s->w)) {
        mt__sample_free(s);
        return gs_error(GS_ERR_NOMEM, "%s: out of memory for %lld values", name, (long long)n);
    }
    s->n = n;
    double sum = 0, sum2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = xf ? (double)xf[i] : xd[i];
        if (!isfinite(v)) {
            mt__sample_free(s);
            return gs_error(GS_ERR_NUMERIC, "%s: value %lld is %g (need finite)", name,
                            (long long)i, v);
        }
        s->x[i] = v;
        if (weighted) {
            double wt = wf ? (double)wf[i] : wd[i];
            if (!isfinite(wt) || wt < 0) {
                mt__sample_free(s);
                return gs_error(GS_ERR_NUMERIC, "%s: weight %lld is %g (need finite, >= 0)",
                                name, (long long)i, wt);
            }
            s->w[i] = wt;
            sum += wt;
            sum2 += wt * wt;
        }
    }
    s->sum = weighted ? sum : (double)n;
    s->sum2 = weighted ? sum2 : (double)n;
    if (!(s->sum > 0)) {
        mt__sample_free(s);
        return gs_error(GS_ERR_NUMERIC, "%s: weights sum to 0", name);
    }
    int rc = mt__sort_d(s->x, s->w, n);
    if (rc)
        mt__sample_free(s);
    return rc;
}

/* Walks the distinct values of u ∪ v in order. After each value x, cu/cv are
 * the CDFs at x (all values <= x counted, so ties are handled as scipy's
 * searchsorted 'right'); the CDF difference holds on [x, next value). */
void mt__sample_merge(const mt__sample *u, const mt__sample *v, double *w1, double *ks)
{
    int64_t i = 0, j = 0;
    double cu = 0, cv = 0, acc = 0, comp = 0, dmax = 0;
    while (i < u->n || j < v->n) {
        double x = (j >= v->n || (i < u->n && u->x[i] <= v->x[j])) ? u->x[i] : v->x[j];
        for (; i < u->n && u->x[i] <= x; i++)
            cu += u->w ? u->w[i] : 1.0;
        for (; j < v->n && v->x[j] <= x; j++)
            cv += v->w ? v->w[j] : 1.0;
        double d = fabs(cu / u->sum - cv / v->sum);
        if (d > dmax)
            dmax = d;
        if (i < u->n || j < v->n) {
            double nx = j >= v->n ? u->x[i] : i >= u->n ? v->x[j] : fmin(u->x[i], v->x[j]);
            /* Kahan sum: 1e7 small terms should not lose digits */
            double term = d * (nx - x) - comp, t = acc + term;
            comp = (t - acc) - term;
            acc = t;
        }
    }
    if (w1)
        *w1 = acc;
    if (ks)
        *ks = dmax > 1 ? 1 : dmax;
}

static int w1_ks_any(const float *uf, const double *ud, const float *uwf, const double *uwd,
                     int64_t nu, const float *vf, const double *vd, const float *vwf,
                     const double *vwd, int64_t nv, double *w1, double *ks)
{
    mt__sample u, v;
    int rc = mt__sample_make(&u, "W1/KS: first sample", uf, ud, uwf, uwd, nu);
    if (rc)
        return rc;
    rc = mt__sample_make(&v, "W1/KS: second sample", vf, vd, vwf, vwd, nv);
    if (rc) {
        mt__sample_free(&u);
        return rc;
    }
    mt__sample_merge(&u, &v, w1, ks);
    mt__sample_free(&u);
    mt__sample_free(&v);
    return GS_OK;
}

int mt_w1_ks(const float *u, const float *uw, int64_t nu, const float *v, const float *vw,
             int64_t nv, double *w1, double *ks)
{
    return w1_ks_any(u, NULL, uw, NULL, nu, v, NULL, vw, NULL, nv, w1, ks);
}

int mt_w1_ks_d(const double *u, const double *uw, int64_t nu, const double *v,
               const double *vw, int64_t nv, double *w1, double *ks)
{
    return w1_ks_any(NULL, u, NULL, uw, nu, NULL, v, NULL, vw, nv, w1, ks);
}

int mt_w1(const float *u, const float *uw, int64_t nu, const float *v, const float *vw,
          int64_t nv, double *out)
{
    return mt_w1_ks(u, uw, nu, v, vw, nv, out, NULL);
}

int mt_ks(const float *u, const float *uw, int64_t nu, const float *v, const float *vw,
          int64_t nv, double *out)
{
    return mt_w1_ks(u, uw, nu, v, vw, nv, NULL, out);
}

int mt_corr(const float *x, int64_t n, int64_t f, double *out)
{
    if (!x || !out || n < 2 || f < 1)
        return gs_error(GS_ERR_ARG, "corr: need n >= 2 rows and f >= 1 columns (n = %lld, f = %lld)",
                        (long long)n, (long long)f);
    size_t ff;
    if (gs_mul_overflow((size_t)f, (size_t)f, &ff))
        return gs_error(GS_ERR_NOMEM, "corr: %lld columns overflow", (long long)f);
    double *mean = calloc((size_t)f, sizeof *mean);
    if (!mean)
        return gs_error(GS_ERR_NOMEM, "corr: out of memory");
    /* two passes (mean, then centred products) to avoid the cancellation of
     * the one-pass Σx² − n·mean² form */
    for (int64_t i = 0; i < n; i++)
        for (int64_t a = 0; a < f; a++)
            mean[a] += x[i * f + a];
    for (int64_t a = 0; a < f; a++)
        mean[a] /= (double)n;
    memset(out, 0, ff * sizeof *out);
    for (int64_t i = 0; i < n; i++) {
        const float *row = x + i * f;
        for (int64_t a = 0; a < f; a++) {
            double da = row[a] - mean[a];
            for (int64_t b = a; b < f; b++)
                out[a * f + b] += da * (row[b] - mean[b]);
        }
    }
    free(mean);
    int bad = 0;
    for (int64_t a = 0; a < f; a++)
        bad |= !isfinite(out[a * f + a]);
    if (bad)
        return gs_error(GS_ERR_NUMERIC, "corr: data holds NaN/Inf");
    for (int64_t a = 0; a < f; a++)
        for (int64_t b = a + 1; b < f; b++) {
            double va = out[a * f + a], vb = out[b * f + b];
            double r = (va > 0 && vb > 0) ? out[a * f + b] / sqrt(va * vb) : 0.0;
            r = r > 1 ? 1 : r < -1 ? -1 : r;
            out[a * f + b] = out[b * f + a] = r;
        }
    for (int64_t a = 0; a < f; a++)
        out[a * f + a] = 1.0;
    return GS_OK;
}

int mt_corr_diff(const double *a, const double *b, int64_t f, double *frob, double *maxabs)
{
    if (!a || !b || f < 1)
        return gs_error(GS_ERR_ARG, "corr_diff: need two f x f matrices, f >= 1");
    double s = 0, m = 0;
    for (int64_t i = 0; i < f * f; i++) {
        double d = fabs(a[i] - b[i]);
        s += d * d;
        if (d > m)
            m = d;
    }
    if (frob)
        *frob = sqrt(s);
    if (maxabs)
        *maxabs = m;
    return GS_OK;
}

/* mt_compare — the metric sets gansim reports (docs/metrics.md): per-feature
 * KL/JS/W1/KS/χ² of event tables with their noise floor, 2-D histogram
 * divergences, and the ZDC image W1 set. */
#include "metrics/mt.h"
#include "metrics/mt_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

mt_compare_opts mt_compare_defaults(void)
{
    mt_compare_opts o = {.nbins = 100, .qlo = 0.001, .qhi = 0.999, .flow = MT_FLOW_CLAMP,
                         .eps = MT_EPS_DEFAULT, .log_range = 0};
    return o;
}

/* Linear bins on the sorted sample's quantile range (a constant sample gets
 * lo ± 0.5·max(1, |lo|)), log bins on the same range when it is positive and
 * wider than log_range. A sample >= 0 whose low quantile is 0 (channels
 * without light, particles at rest) gets log bins from the low quantile of
 * its positive part when that part spans more than log_range: the zeros are
 * then underflow, counted (clamped into the first bin by the metrics, said
 * in words by the plots) rather than squeezing the rest into one bin.
 * Integer-valued samples get log bins only where every bin is >= 1 wide. */
static int binning_sorted(mt_binning *b, const double *s, int64_t n, int64_t nbins, double qlo,
                          double qhi, double log_range)
{
    if (!(qlo >= 0 && qlo < qhi && qhi <= 1))
        return gs_error(GS_ERR_ARG, "histogram: quantile range [%g, %g] invalid", qlo, qhi);
    double lo = mt_quantile_sorted(s, n, qlo), hi = mt_quantile_sorted(s, n, qhi);
    if (!(hi > lo)) {
        double d = 0.5 * fmax(1.0, fabs(lo));
        hi = lo + d;
        lo = lo - d;
    }
    if (!(log_range > 0) || s[0] < 0 || !(hi > 0))
        return mt_binning_linear(b, lo, hi, nbins);
    double llo = lo;
    if (lo == 0) {
        int64_t k = 0;
        while (k < n && s[k] <= 0)
            k++;
        llo = k < n ? mt_quantile_sorted(s + k, n - k, qlo) : 0;
    }
    /* integer data (photon counts) are never cut finer than one unit: a
     * log bin narrower than 1 would turn the real histogram into a comb and
     * punish any continuous generator for it */
    int integer = 1;
    for (int64_t i = 0; integer && i < n; i++)
        integer = s[i] == floor(s[i]);
    if (llo > 0 && hi / llo > log_range &&
        (!integer || llo * (pow(hi / llo, 1.0 / (double)nbins) - 1) >= 1))
        return mt_binning_log(b, llo, hi, nbins);
    return mt_binning_linear(b, lo, hi, nbins);
}

int mt_binning_auto(mt_binning *b, const float *x, int64_t n, int64_t nbins, double qlo,
                    double qhi, double log_range)
{
    if (n < 1 || !x || !b)
        return gs_error(GS_ERR_ARG, "histogram: no samples to take the range from (n = %lld)",
                        (long long)n);
    double *s = malloc((size_t)n * sizeof *s);
    if (!s)
        return gs_error(GS_ERR_NOMEM, "histogram: out of memory for %lld samples", (long long)n);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(x[i]))
            s[m++] = x[i] == 0 ? 0.0 : x[i];
    int rc = m ? mt__sort_d(s, NULL, m)
               : gs_error(GS_ERR_NUMERIC, "histogram: no finite sample to take the range from");
    if (!rc)
        rc = binning_sorted(b, s, m, nbins, qlo, qhi, log_range);
    free(s);
    return rc;
}

/* KL, JS and χ² of one histogram pair (hr is the reference); an empty
 * generated histogram (every value outside the range with MT_FLOW_DROP) is
 * as far apart as histograms get, not an error. */
static int hist_pair(const double *hr, const double *wr, double tr, const double *hg,
                     const double *wg, double tg, int64_t nbins, double eps, double *kl,
                     double *js, double *chi2_ndf, int64_t *ndf)
{
    if (!(tg > 0) || !(tr > 0)) {
        *kl = INFINITY;
        *js = M_LN2;
        *chi2_ndf = NAN;
        *ndf = 0;
        return GS_OK;
    }
    int rc = mt_kl(hr, hg, nbins, eps, kl);
    if (!rc)
        rc = mt_js(hr, hg, nbins, eps, js);
    double x2 = NAN;
    if (!rc)
        rc = mt_chi2(hr, wr, hg, wg, nbins, &x2, ndf);
    if (!rc)
        *chi2_ndf = *ndf > 0 ? x2 / (double)*ndf : NAN;
    return rc;
}

int mt_compare_1d_floor(const float *ref, const float *rw, int64_t nr, const float *ref2,
                        const float *r2w, int64_t nr2, const float *gen, const float *gw,
                        int64_t ng, const mt_compare_opts *opts, mt_feature_metrics *out_gen,
                        mt_feature_metrics *out_floor)
{
    mt_compare_opts o = opts ? *opts : mt_compare_defaults();
    if (nr < 1 || ng < 1 || !ref || !gen || !out_gen || (ref2 && (nr2 < 1 || !out_floor)))
        return gs_error(GS_ERR_ARG, "compare: need samples on both sides (n_real = %lld, n_gen = %lld%s)",
                        (long long)nr, (long long)ng, ref2 && nr2 < 1 ? ", empty floor sample" : "");
    /* weights on any side: every histogram carries Σw², so χ² uses the
     * weighted form (an unweighted side has Σw² = counts) */
    const int weighted = rw || gw || (ref2 && r2w);
    const int ns = ref2 ? 3 : 2;
    mt__sample smp[3] = {{0}};
    double *h = calloc((size_t)(2 * ns) * (size_t)o.nbins, sizeof *h);
    int rc = h ? GS_OK : gs_error(GS_ERR_NOMEM, "compare: out of memory");
    if (!rc)
        rc = mt__sample_make(&smp[0], "compare: real sample", ref, NULL, rw, NULL, nr);
    if (!rc)
        rc = mt__sample_make(&smp[1], "compare: generated sample", gen, NULL, gw, NULL, ng);
    if (!rc && ref2)
        rc = mt__sample_make(&smp[2], "compare: second real sample", ref2, NULL, r2w, NULL, nr2);
    mt_binning b;
    if (!rc)
        rc = binning_sorted(&b, smp[0].x, nr, o.nbins, o.qlo, o.qhi, o.log_range);
    mt_hist_stats st[3];
    const float *xs[3] = {ref, gen, ref2}, *ws[3] = {rw, gw, r2w};
    const int64_t n[3] = {nr, ng, nr2};
    for (int k = 0; !rc && k < ns; k++)
        rc = mt_hist1d(&b, o.flow, xs[k], ws[k], n[k], h + (size_t)(2 * k) * (size_t)o.nbins,
                       weighted ? h + (size_t)(2 * k + 1) * (size_t)o.nbins : NULL, &st[k]);
    for (int k = 1; !rc && k < ns; k++) {
        mt_feature_metrics *m = k == 1 ? out_gen : out_floor;
        double *hk = h + (size_t)(2 * k) * (size_t)o.nbins;
        rc = hist_pair(h, weighted ? h + o.nbins : NULL, st[0].total, hk,
                       weighted ? hk + o.nbins : NULL, st[k].total, o.nbins, o.eps, &m->kl,
                       &m->js, &m->chi2_ndf, &m->ndf);
        if (!rc) {
            mt__sample_merge(&smp[0], &smp[k], &m->w1, &m->ks);
            /* effective sizes (Σw)²/Σw²: the plain sizes when unweighted */
            double e0 = smp[0].sum * smp[0].sum / smp[0].sum2;
            double ek = smp[k].sum * smp[k].sum / smp[k].sum2;
            m->ks_p = mt_ks_pvalue(m->ks, e0, ek);
        }
    }
    for (int k = 0; k < 3; k++)
        mt__sample_free(&smp[k]);
    free(h);
    return rc;
}

int mt_compare_1d(const float *real, const float *rw, int64_t nr, const float *gen,
                  const float *gw, int64_t ng, const mt_compare_opts *opts,
                  mt_feature_metrics *out)
{
    return mt_compare_1d_floor(real, rw, nr, NULL, NULL, 0, gen, gw, ng, opts, out, NULL);
}

/* Copies column c of the selected, finite rows (and their weights). */
static int64_t gather(const float *t, const float *w, const uint8_t *mask, int64_t n, int64_t f,
                      int64_t c, float *dst, float *dw)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = t[i * f + c];
        if ((mask && !mask[i]) || !isfinite(v))
            continue;
        if (w)
            dw[m] = w[i];
        dst[m++] = v;
    }
    return m;
}

int mt_compare_table_floor(const float *ref, const float *rw, const uint8_t *rmask, int64_t nr,
                           const float *ref2, const float *r2w, const uint8_t *r2mask,
                           int64_t nr2, const float *gen, const float *gw,
                           const uint8_t *gmask, int64_t ng, int64_t f,
                           const mt_compare_opts *opts, mt_feature_metrics *out_gen,
                           mt_feature_metrics *out_floor)
{
    if (!ref || !gen || !out_gen || nr < 1 || ng < 1 || f < 1 ||
        (ref2 && (nr2 < 1 || !out_floor)))
        return gs_error(GS_ERR_ARG, "compare table: need rows and columns on both sides");
    const int ns = ref2 ? 3 : 2;
    const float *t[3] = {ref, gen, ref2}, *w[3] = {rw, gw, r2w};
    const uint8_t *mask[3] = {rmask, gmask, r2mask};
    const int64_t n[3] = {nr, ng, nr2};
    static const char *const what[3] = {"real", "generated", "second real"};
    float *col[3] = {NULL, NULL, NULL}, *cw[3] = {NULL, NULL, NULL};
    int rc = GS_OK;
    for (int k = 0; k < ns && !rc; k++) {
        col[k] = malloc((size_t)n[k] * sizeof(float));
        cw[k] = w[k] ? malloc((size_t)n[k] * sizeof(float)) : NULL;
        if (!col[k] || (w[k] && !cw[k]))
            rc = gs_error(GS_ERR_NOMEM, "compare table: out of memory for %lld rows",
                          (long long)n[k]);
    }
    for (int64_t c = 0; !rc && c < f; c++) {
        int64_t m[3] = {0, 0, 0};
        for (int k = 0; k < ns && !rc; k++) {
            m[k] = gather(t[k], w[k], mask[k], n[k], f, c, col[k], cw[k]);
            if (m[k] < 1)
                rc = gs_error(GS_ERR_ARG, "compare table: column %lld has no selected finite "
                                          "value in the %s sample", (long long)c, what[k]);
        }
        if (!rc)
            rc = mt_compare_1d_floor(col[0], cw[0], m[0], ref2 ? col[2] : NULL, cw[2], m[2],
                                     col[1], cw[1], m[1], opts, &out_gen[c],
                                     ref2 ? &out_floor[c] : NULL);
    }
    for (int k = 0; k < 3; k++) {
        free(col[k]);
        free(cw[k]);
    }
    return rc;
}

int mt_compare_table(const float *real, const float *rw, const uint8_t *rmask, int64_t nr,
                     const float *gen, const float *gw, const uint8_t *gmask, int64_t ng,
                     int64_t f, const mt_compare_opts *opts, mt_feature_metrics *out)
{
    return mt_compare_table_floor(real, rw, rmask, nr, NULL, NULL, NULL, 0, gen, gw, gmask, ng,
                                  f, opts, out, NULL);
}

int mt_compare_2d_floor(const mt_binning *bx, const mt_binning *by, const float *rx,
                        const float *ry, const float *rw, int64_t nr, const float *r2x,
                        const float *r2y, const float *r2w, int64_t nr2, const float *gx,
                        const float *gy, const float *gw, int64_t ng, double eps,
                        mt_pair_metrics *out_gen, mt_pair_metrics *out_floor)
{
    if (!bx || !by || !rx || !ry || !gx || !gy || !out_gen || nr < 1 || ng < 1 ||
        (r2x && (!r2y || nr2 < 1 || !out_floor)))
        return gs_error(GS_ERR_ARG, "compare 2-D: need pairs on both sides");
    size_t cells;
    if (gs_mul_overflow((size_t)bx->nbins, (size_t)by->nbins, &cells))
        return gs_error(GS_ERR_NOMEM, "compare 2-D: %lld x %lld cells overflow",
                        (long long)bx->nbins, (long long)by->nbins);
    const int ns = r2x ? 3 : 2;
    const int weighted = rw || gw || (r2x && r2w);
    const float *xs[3] = {rx, gx, r2x}, *ys[3] = {ry, gy, r2y}, *ws[3] = {rw, gw, r2w};
    const int64_t n[3] = {nr, ng, nr2};
    double *h = malloc(cells * (size_t)(2 * ns) * sizeof *h);
    if (!h)
        return gs_error(GS_ERR_NOMEM, "compare 2-D: out of memory for %zu cells", cells);
    int rc = GS_OK;
    mt_hist_stats st[3];
    for (int k = 0; !rc && k < ns; k++)
        rc = mt_hist2d_w2(bx, by, MT_FLOW_CLAMP, xs[k], ys[k], ws[k], n[k],
                          h + cells * (size_t)(2 * k),
                          weighted ? h + cells * (size_t)(2 * k + 1) : NULL, &st[k]);
    for (int k = 1; !rc && k < ns; k++) {
        mt_pair_metrics *m = k == 1 ? out_gen : out_floor;
        double *hk = h + cells * (size_t)(2 * k);
        rc = hist_pair(h, weighted ? h + cells : NULL, st[0].total, hk,
                       weighted ? hk + cells : NULL, st[k].total, (int64_t)cells, eps, &m->kl,
                       &m->js, &m->chi2_ndf, &m->ndf);
    }
    free(h);
    return rc;
}

int mt_compare_images(const float *real, int64_t nr, const float *gen, int64_t ng, int64_t h,
                      int64_t w, mt_image_metrics *out)
{
    return mt_compare_images_map(MT_ZDC_MAP_RESEARCH, real, nr, gen, ng, h, w, out);
}

int mt_compare_images_map(mt_zdc_map map, const float *real, int64_t nr, const float *gen,
                          int64_t ng, int64_t h, int64_t w, mt_image_metrics *out)
{
    if (!real || !gen || !out || nr < 1 || ng < 1)
        return gs_error(GS_ERR_ARG, "compare images: need images on both sides (n_real = %lld, n_gen = %lld)",
                        (long long)nr, (long long)ng);
    /* per side: 5 channel sums, total, max row, max col = 8 values per image */
    double *fr = malloc((size_t)nr * 8 * sizeof *fr), *fg = malloc((size_t)ng * 8 * sizeof *fg);
    double *col_r = malloc((size_t)nr * sizeof *col_r), *col_g = malloc((size_t)ng * sizeof *col_g);
    int rc = GS_OK;
    if (!fr || !fg || !col_r || !col_g)
        rc = gs_error(GS_ERR_NOMEM, "compare images: out of memory");
    if (!rc)
        rc = mt_zdc_features_map(map, real, nr, h, w, fr, fr + nr * 5, fr + nr * 6, fr + nr * 7);
    if (!rc)
        rc = mt_zdc_features_map(map, gen, ng, h, w, fg, fg + ng * 5, fg + ng * 6, fg + ng * 7);
    /* observable k: 0..4 channels (interleaved, stride 5), 5 total, 6 row, 7 col */
    double res[8];
    for (int k = 0; !rc && k < 8; k++) {
        for (int64_t i = 0; i < nr; i++)
            col_r[i] = k < 5 ? fr[i * 5 + k] : fr[nr * k + i];
        for (int64_t i = 0; i < ng; i++)
            col_g[i] = k < 5 ? fg[i * 5 + k] : fg[ng * k + i];
        rc = mt_w1_ks_d(col_r, NULL, nr, col_g, NULL, ng, &res[k], NULL);
        if (rc)
            gs_error_wrap(rc, "compare images");
    }
    if (!rc) {
        double s = 0;
        for (int k = 0; k < MT_ZDC_NCH; k++)
            s += out->ch_w1[k] = res[k];
        out->ch_mean_w1 = s / MT_ZDC_NCH;
        out->intensity_w1 = res[5];
        out->max_row_w1 = res[6];
        out->max_col_w1 = res[7];
    }
    free(fr);
    free(fg);
    free(col_r);
    free(col_g);
    return rc;
}

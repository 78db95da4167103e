/* mt_compare — the metric sets gansim reports (design.md §8): per-feature
 * KL/JS/W1/KS of event tables, and the ZDC image W1 set. */
#include "metrics/mt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

mt_compare_opts mt_compare_defaults(void)
{
    mt_compare_opts o = {.nbins = 100, .qlo = 0.001, .qhi = 0.999, .flow = MT_FLOW_CLAMP,
                         .eps = MT_EPS_DEFAULT};
    return o;
}

int mt_compare_1d(const float *real, const float *rw, int64_t nr, const float *gen,
                  const float *gw, int64_t ng, const mt_compare_opts *opts,
                  mt_feature_metrics *out)
{
    mt_compare_opts o = opts ? *opts : mt_compare_defaults();
    if (nr < 1 || ng < 1 || !real || !gen || !out)
        return gs_error(GS_ERR_ARG, "compare: need samples on both sides (n_real = %lld, n_gen = %lld)",
                        (long long)nr, (long long)ng);
    mt_binning b;
    int rc = mt_binning_from_quantiles(&b, real, nr, o.nbins, o.qlo, o.qhi);
    if (rc)
        return rc;
    double *hr = malloc((size_t)b.nbins * sizeof *hr), *hg = malloc((size_t)b.nbins * sizeof *hg);
    if (!hr || !hg) {
        free(hr);
        free(hg);
        return gs_error(GS_ERR_NOMEM, "compare: out of memory");
    }
    mt_hist_stats sr, sg;
    rc = mt_hist1d(&b, o.flow, real, rw, nr, hr, NULL, &sr);
    if (!rc)
        rc = mt_hist1d(&b, o.flow, gen, gw, ng, hg, NULL, &sg);
    if (!rc && !(sg.total > 0))
        /* with MT_FLOW_DROP every generated value may miss the real range:
         * that is as far apart as histograms get, not an error */
        out->kl = INFINITY, out->js = M_LN2;
    else if (!rc) {
        rc = mt_kl(hr, hg, b.nbins, o.eps, &out->kl);
        if (!rc)
            rc = mt_js(hr, hg, b.nbins, o.eps, &out->js);
    }
    free(hr);
    free(hg);
    if (!rc)
        rc = mt_w1_ks(real, rw, nr, gen, gw, ng, &out->w1, &out->ks);
    return rc;
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

int mt_compare_table(const float *real, const float *rw, const uint8_t *rmask, int64_t nr,
                     const float *gen, const float *gw, const uint8_t *gmask, int64_t ng,
                     int64_t f, const mt_compare_opts *opts, mt_feature_metrics *out)
{
    if (!real || !gen || !out || nr < 1 || ng < 1 || f < 1)
        return gs_error(GS_ERR_ARG, "compare table: need rows and columns on both sides");
    float *a = malloc((size_t)nr * sizeof *a), *b = malloc((size_t)ng * sizeof *b);
    float *aw = rw ? malloc((size_t)nr * sizeof *aw) : NULL;
    float *bw = gw ? malloc((size_t)ng * sizeof *bw) : NULL;
    int rc = GS_OK;
    if (!a || !b || (rw && !aw) || (gw && !bw))
        rc = gs_error(GS_ERR_NOMEM, "compare table: out of memory for %lld + %lld rows",
                      (long long)nr, (long long)ng);
    for (int64_t c = 0; !rc && c < f; c++) {
        int64_t ma = gather(real, rw, rmask, nr, f, c, a, aw);
        int64_t mb = gather(gen, gw, gmask, ng, f, c, b, bw);
        if (ma < 1 || mb < 1) {
            rc = gs_error(GS_ERR_ARG, "compare table: column %lld has no selected finite value in the %s sample",
                          (long long)c, ma < 1 ? "real" : "generated");
            break;
        }
        rc = mt_compare_1d(a, aw, ma, b, bw, mb, opts, &out[c]);
    }
    free(a);
    free(b);
    free(aw);
    free(bw);
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

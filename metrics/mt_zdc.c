/* mt_zdc — ZDC image observables: the five channel sums (two channel maps,
 * see mt.h and docs/metrics.md), the brightest pixel and the total intensity. */
#include "metrics/mt.h"
#include "metrics/mt_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int mt_zdc_channel_map(mt_zdc_map map, int64_t h, int64_t w, int64_t row, int64_t col)
{
    if (row < 0 || col < 0 || row >= h || col >= w)
        return 0;
    int top = row < h / 2, left = col < w / 2;
    if (map == MT_ZDC_MAP_O2) {
        /* O2 (Detectors/ZDC/fastsimulation, processors::calculateChannels):
         * (row + col) even = the four quadrant channels, odd = channel 5 */
        if ((row + col) % 2 != 0)
            return 5;
        return top ? (left ? 1 : 2) : (left ? 3 : 4);
    }
    if ((row + col) % 2 == 0)
        return 5;
    /* research code, row 0 is the top: bottom-left 1, bottom-right 2, top-left 3, top-right 4 */
    return top ? (left ? 3 : 4) : (left ? 1 : 2);
}

int mt_zdc_channel(int64_t h, int64_t w, int64_t row, int64_t col)
{
    return mt_zdc_channel_map(MT_ZDC_MAP_RESEARCH, h, w, row, col);
}

int mt_zdc_map_parse(const char *name, mt_zdc_map *out)
{
    if (name && !strcmp(name, "research")) {
        *out = MT_ZDC_MAP_RESEARCH;
        return GS_OK;
    }
    if (name && !strcmp(name, "o2")) {
        *out = MT_ZDC_MAP_O2;
        return GS_OK;
    }
    return gs_error(GS_ERR_ARG, "zdc channel map '%s': expected research or o2",
                    name ? name : "(null)");
}

const char *mt_zdc_map_name(mt_zdc_map map)
{
    return map == MT_ZDC_MAP_O2 ? "o2" : "research";
}

int mt_zdc_o2_channel(int64_t h, int64_t w, int64_t row, int64_t col)
{
    return mt_zdc_channel_map(MT_ZDC_MAP_O2, h, w, row, col);
}

static int check_image(int64_t h, int64_t w)
{
    if (h < 1 || w < 1 || h > INT32_MAX || w > INT32_MAX)
        return gs_error(GS_ERR_ARG, "image: size %lld x %lld invalid", (long long)h,
                        (long long)w);
    return GS_OK;
}

/* All four observables of one image in one pass. */
static void image_features(mt_zdc_map map, const float *img, int64_t h, int64_t w,
                           double ch[MT_ZDC_NCH],
                           double *total, int64_t *mrow, int64_t *mcol)
{
    double c[MT_ZDC_NCH] = {0};
    double best = -INFINITY;
    int64_t br = 0, bc = 0;
    int found = 0;
    for (int64_t r = 0; r < h; r++) {
        const float *p = img + r * w;
        for (int64_t col = 0; col < w; col++) {
            double v = p[col];
            c[mt_zdc_channel_map(map, h, w, r, col) - 1] += v;
            /* strict > keeps the first maximum, as numpy.argmax; NaN never wins */
            if (v > best || (!found && v == best)) {
                best = v;
                br = r;
                bc = col;
                found = 1;
            }
        }
    }
    if (ch)
        for (int k = 0; k < MT_ZDC_NCH; k++)
            ch[k] = c[k];
    if (total)
        *total = c[0] + c[1] + c[2] + c[3] + c[4];
    if (mrow)
        *mrow = br;
    if (mcol)
        *mcol = bc;
}

int mt_zdc_channel_sums(const float *img, int64_t h, int64_t w, double out[MT_ZDC_NCH])
{
    int rc = check_image(h, w);
    if (rc)
        return rc;
    if (!img || !out)
        return gs_error(GS_ERR_ARG, "zdc channel sums: NULL argument");
    image_features(MT_ZDC_MAP_RESEARCH, img, h, w, out, NULL, NULL, NULL);
    return GS_OK;
}

int mt_zdc_o2_channel_sums(const float *img, int64_t h, int64_t w, double out[MT_ZDC_NCH])
{
    int rc = check_image(h, w);
    if (rc)
        return rc;
    if (!img || !out)
        return gs_error(GS_ERR_ARG, "zdc O2 channel sums: NULL argument");
    for (int k = 0; k < MT_ZDC_NCH; k++)
        out[k] = 0;
    for (int64_t r = 0; r < h; r++)
        for (int64_t c = 0; c < w; c++)
            out[mt_zdc_o2_channel(h, w, r, c) - 1] += img[r * w + c];
    return GS_OK;
}

int mt_max_pixel(const float *img, int64_t h, int64_t w, int64_t *row, int64_t *col)
{
    int rc = check_image(h, w);
    if (rc)
        return rc;
    if (!img || !row || !col)
        return gs_error(GS_ERR_ARG, "max pixel: NULL argument");
    image_features(MT_ZDC_MAP_RESEARCH, img, h, w, NULL, NULL, row, col);
    return GS_OK;
}

double mt_total_intensity(const float *img, int64_t h, int64_t w)
{
    double s = 0;
    if (!img || h < 1 || w < 1)
        return 0;
    for (int64_t i = 0; i < h * w; i++)
        s += img[i];
    return s;
}

int mt_zdc_features(const float *imgs, int64_t n, int64_t h, int64_t w, double *ch,
                    double *total, double *max_row, double *max_col)
{
    return mt_zdc_features_map(MT_ZDC_MAP_RESEARCH, imgs, n, h, w, ch, total, max_row, max_col);
}

int mt_zdc_features_map(mt_zdc_map map, const float *imgs, int64_t n, int64_t h, int64_t w,
                        double *ch, double *total, double *max_row, double *max_col)
{
    if (map != MT_ZDC_MAP_RESEARCH && map != MT_ZDC_MAP_O2)
        return gs_error(GS_ERR_ARG, "zdc features: unknown channel map %d", (int)map);
    int rc = check_image(h, w);
    if (rc)
        return rc;
    if (n < 0 || (n > 0 && !imgs))
        return gs_error(GS_ERR_ARG, "zdc features: no images (n = %lld)", (long long)n);
    size_t px;
    if (gs_mul_overflow((size_t)h, (size_t)w, &px))
        return gs_error(GS_ERR_NOMEM, "zdc features: image size overflows");
    /* images are independent; worth threads only when there are many */
#pragma omp parallel for schedule(static) if (n > 512)
    for (int64_t i = 0; i < n; i++) {
        double c[MT_ZDC_NCH], t;
        int64_t r, col;
        image_features(map, imgs + (size_t)i * px, h, w, c, &t, &r, &col);
        if (ch)
            for (int k = 0; k < MT_ZDC_NCH; k++)
                ch[i * MT_ZDC_NCH + k] = c[k];
        if (total)
            total[i] = t;
        if (max_row)
            max_row[i] = (double)r;
        if (max_col)
            max_col[i] = (double)col;
    }
    return GS_OK;
}

/* Photon total of one image (negative pixels count 0) and its photon-weighted
 * centroid; the centroid is left alone when the total is 0. */
static double centroid(const float *img, int64_t h, int64_t w, double *row, double *col)
{
    double s = 0, sr = 0, sc = 0;
    for (int64_t r = 0; r < h; r++)
        for (int64_t c = 0; c < w; c++) {
            const double v = img[r * w + c] > 0 ? img[r * w + c] : 0;
            s += v;
            sr += v * (double)r;
            sc += v * (double)c;
        }
    if (s > 0) {
        *row = sr / s;
        *col = sc / s;
    }
    return s;
}

int mt_compare_same_cond(const float *a, const int64_t *ia, const float *b, const int64_t *ib,
                         int64_t n, int64_t h, int64_t w, double min_photons,
                         mt_same_cond_metrics *out)
{
    int rc = check_image(h, w);
    if (rc)
        return rc;
    if (!a || !b || !out || n < 1 || !(min_photons >= 0) || !isfinite(min_photons))
        return gs_error(GS_ERR_ARG, "same-condition pairs: NULL images, %lld pairs or "
                                    "min_photons %g", (long long)n, min_photons);
    double *dist = malloc((size_t)n * sizeof *dist), *lr = malloc((size_t)n * sizeof *lr);
    if (!dist || !lr) {
        free(dist);
        free(lr);
        return gs_error(GS_ERR_NOMEM, "same-condition pairs: out of memory for %lld pairs",
                        (long long)n);
    }
    const int64_t px = h * w;
    int64_t n_sh = 0, n_mis = 0;
    for (int64_t i = 0; i < n; i++) {
        double ra = 0, ca = 0, rb = 0, cb = 0;
        const double sa = centroid(a + (ia ? ia[i] : i) * px, h, w, &ra, &ca);
        const double sb = centroid(b + (ib ? ib[i] : i) * px, h, w, &rb, &cb);
        const int ea = sa < min_photons || sa <= 0, eb = sb < min_photons || sb <= 0;
        n_mis += ea != eb;
        lr[i] = fabs(log1p(sa) - log1p(sb));
        if (!ea && !eb)
            dist[n_sh++] = hypot(ra - rb, ca - cb);
    }
    rc = mt__sort_d(lr, NULL, n);
    if (!rc && n_sh)
        rc = mt__sort_d(dist, NULL, n_sh);
    if (!rc) {
        out->n_pairs = n;
        out->n_showers = n_sh;
        out->centroid_dist = n_sh ? mt_quantile_sorted(dist, n_sh, 0.5) : NAN;
        out->empty_mismatch = (double)n_mis / (double)n;
        out->log_intensity = mt_quantile_sorted(lr, n, 0.5);
    }
    free(dist);
    free(lr);
    return rc;
}

/* mt_zdc — ZDC image observables: the five channel sums (ALICE definition,
 * see mt.h), the brightest pixel and the total intensity. */
#include "metrics/mt.h"

#include <math.h>

int mt_zdc_channel(int64_t h, int64_t w, int64_t row, int64_t col)
{
    if (row < 0 || col < 0 || row >= h || col >= w)
        return 0;
    if ((row + col) % 2 == 0)
        return 5;
    int top = row < h / 2, left = col < w / 2;
    /* row 0 is the top: bottom-left 1, bottom-right 2, top-left 3, top-right 4 */
    return top ? (left ? 3 : 4) : (left ? 1 : 2);
}

int mt_zdc_o2_channel(int64_t h, int64_t w, int64_t row, int64_t col)
{
    if (row < 0 || col < 0 || row >= h || col >= w)
        return 0;
    if ((row + col) % 2 != 0)
        return 5;
    return 1 + (row < h / 2 ? 0 : 2) + (col < w / 2 ? 0 : 1);
}

static int check_image(int64_t h, int64_t w)
{
    if (h < 1 || w < 1 || h > INT32_MAX || w > INT32_MAX)
        return gs_error(GS_ERR_ARG, "image: size %lld x %lld invalid", (long long)h,
                        (long long)w);
    return GS_OK;
}

/* All four observables of one image in one pass. */
static void image_features(const float *img, int64_t h, int64_t w, double ch[MT_ZDC_NCH],
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
            c[mt_zdc_channel(h, w, r, col) - 1] += v;
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
    image_features(img, h, w, out, NULL, NULL, NULL);
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
    image_features(img, h, w, NULL, NULL, row, col);
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
        image_features(imgs + (size_t)i * px, h, w, c, &t, &r, &col);
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

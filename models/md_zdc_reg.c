/* ZDC regularisers (docs/zdc.md has the formulas): the SDI diversity term
 * and its per-row diversity weights, the intensity term, the auxiliary
 * regressor's loss and targets. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/md_zdc_internal.h"

nn_tensor *md_zdc_sdi_loss(nn_ctx *c, nn_tensor *f1, nn_tensor *f2, const float *z1,
                           const float *z2, int64_t nz, const float *s, double mean_s,
                           double lambda)
{
    if (!f1 || !f2)
        return NULL;
    const int64_t b = f1->shape[0], nf = f1->n / b;
    nn_tensor *den = nn_new(c, 2, (int64_t[]){b, 1});
    nn_tensor *st = nn_input(c, 2, (int64_t[]){b, 1}, s);
    if (!den || !st)
        return NULL;
    /* the noise distance is a constant of the step: computed here, not recorded */
    for (int64_t i = 0; i < b; i++) {
        double acc = 0;
        for (int64_t j = 0; j < nz; j++)
            acc += fabs((double)z1[i * nz + j] - (double)z2[i * nz + j]);
        den->data[i] = (float)(acc / (double)nz + 1e-5);
    }
    nn_tensor *df = nn_reshape(c, nn_sub(c, f1, f2), 2, (int64_t[]){b, nf});
    nn_tensor *div = nn_div(c, nn_scale(c, nn_sum_rows(c, nn_abs(c, df)), 1.0f / (float)nf), den);
    nn_tensor *ratio = nn_div(c, st, nn_add_scalar(c, div, 1e-5f));
    return nn_scale(c, nn_mean(c, ratio), (float)(lambda * mean_s));
}

nn_tensor *md_zdc_intensity_loss(nn_ctx *c, nn_tensor *gen, const float *real_sum, double lambda)
{
    if (!gen)
        return NULL;
    const int64_t b = gen->shape[0];
    nn_tensor *gs = nn_sum_rows(c, nn_reshape(c, gen, 2, (int64_t[]){b, gen->n / b}));
    nn_tensor *rs = nn_input(c, 2, (int64_t[]){b, 1}, real_sum);
    return nn_scale(c, nn_l1(c, gs, rs), (float)lambda);
}

nn_tensor *md_zdc_aux_loss(nn_ctx *c, nn_tensor *pred, const float *coords, double lambda)
{
    if (!pred)
        return NULL;
    nn_tensor *t = nn_input(c, 2, (int64_t[]){pred->shape[0], 2}, coords);
    return nn_scale(c, nn_mse(c, pred, t), (float)lambda);
}

void md_zdc_argmax_coords(const float *img, int64_t n, int64_t h, int64_t w, float *coords)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t r = 0, col = 0;
        mt_max_pixel(img + i * h * w, h, w, &r, &col);
        coords[2 * i] = h > 1 ? (float)r / (float)(h - 1) : 0.0f;
        coords[2 * i + 1] = w > 1 ? (float)col / (float)(w - 1) : 0.0f;
    }
}

/* Groups of rows with bit-identical conditions: gid[i] in 0..*ng-1, numbered
 * in order of the sorted conditions (independent of row order). */
typedef struct {
    const float *p;
    int64_t row, c;
} ckey;

static int ckey_cmp(const void *a, const void *b)
{
    const ckey *x = a, *y = b;
    int r = memcmp(x->p, y->p, (size_t)x->c * sizeof(float));
    return r ? r : (x->row > y->row) - (x->row < y->row);
}

int md_zdc_cond_groups(const float *cond, int64_t n, int64_t c, int64_t *gid, int64_t *ng)
{
    ckey *k = malloc((size_t)n * sizeof *k);
    if (!k)
        return gs_error(GS_ERR_NOMEM, "zdc: out of memory grouping %lld conditions", (long long)n);
    for (int64_t i = 0; i < n; i++)
        k[i] = (ckey){cond + i * c, i, c};
    qsort(k, (size_t)n, sizeof *k, ckey_cmp);
    int64_t g = -1;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || memcmp(k[i].p, k[i - 1].p, (size_t)c * sizeof(float)) != 0)
            g++;
        gid[k[i].row] = g;
    }
    *ng = g + 1;
    free(k);
    return GS_OK;
}

/* Σ_pixels of the per-pixel std (ddof 0) of m images picked by rows[]. */
static double std_sum(const float *img, int64_t px, const int64_t *rows, int64_t m, double *mean)
{
    memset(mean, 0, (size_t)px * sizeof *mean);
    for (int64_t j = 0; j < m; j++)
        for (int64_t p = 0; p < px; p++)
            mean[p] += img[rows[j] * px + p];
    double tot = 0;
    for (int64_t p = 0; p < px; p++) {
        const double mu = mean[p] / (double)m;
        double v = 0;
        for (int64_t j = 0; j < m; j++) {
            const double d = img[rows[j] * px + p] - mu;
            v += d * d;
        }
        tot += sqrt(v / (double)m);
    }
    return tot;
}

int md_zdc_diversity_weights(const float *cond, const float *img, int64_t n, int64_t c,
                             int64_t px, int64_t k, float *s)
{
    if (n < 1 || c < 1 || px < 1 || k < 1)
        return gs_error(GS_ERR_ARG, "zdc: diversity weights need n, c, px, k >= 1");
    if (k > n)
        k = n;
    int64_t *gid = malloc((size_t)n * sizeof *gid), ng = 0;
    int64_t *start = NULL, *rows = NULL, *cnt = NULL, *nb = NULL;
    double *raw = malloc((size_t)n * sizeof *raw), *mean = malloc((size_t)px * sizeof *mean);
    double *nd = malloc((size_t)k * sizeof *nd);
    nb = malloc((size_t)k * sizeof *nb);
    int rc = (!gid || !raw || !mean || !nd || !nb)
                 ? gs_error(GS_ERR_NOMEM, "zdc: out of memory for diversity weights")
                 : md_zdc_cond_groups(cond, n, c, gid, &ng);
    if (!rc) {
        start = calloc((size_t)ng + 1, sizeof *start);
        cnt = calloc((size_t)ng, sizeof *cnt);
        rows = malloc((size_t)n * sizeof *rows);
        if (!start || !cnt || !rows)
            rc = gs_error(GS_ERR_NOMEM, "zdc: out of memory for diversity weights");
    }
    if (!rc) {
        /* rows of each group, contiguous (counting sort by group) */
        for (int64_t i = 0; i < n; i++)
            start[gid[i] + 1]++;
        for (int64_t g = 0; g < ng; g++)
            start[g + 1] += start[g];
        for (int64_t i = 0; i < n; i++)
            rows[start[gid[i]] + cnt[gid[i]]++] = i;
        for (int64_t g = 0; g < ng; g++) {
            const int64_t m = start[g + 1] - start[g], *gr = rows + start[g];
            double v;
            if (m >= 2) {
                v = std_sum(img, px, gr, m, mean);
            } else {
                /* a condition seen once: its k nearest conditions stand in */
                const int64_t i0 = gr[0];
                int64_t have = 0;
                for (int64_t j = 0; j < n; j++) {
                    double d = 0;
                    for (int64_t q = 0; q < c; q++) {
                        const double e = (double)cond[i0 * c + q] - (double)cond[j * c + q];
                        d += e * e;
                    }
                    if (have == k && !(d < nd[k - 1]))
                        continue;
                    int64_t pos = have < k ? have++ : k - 1;
                    while (pos > 0 && nd[pos - 1] > d) {
                        nd[pos] = nd[pos - 1];
                        nb[pos] = nb[pos - 1];
                        pos--;
                    }
                    nd[pos] = d;
                    nb[pos] = j;
                }
                v = std_sum(img, px, nb, have, mean);
            }
            for (int64_t j = 0; j < m; j++)
                raw[gr[j]] = v;
        }
        double lo = raw[0], hi = raw[0];
        for (int64_t i = 1; i < n; i++) {
            lo = raw[i] < lo ? raw[i] : lo;
            hi = raw[i] > hi ? raw[i] : hi;
        }
        for (int64_t i = 0; i < n; i++)
            s[i] = hi > lo ? (float)((raw[i] - lo) / (hi - lo)) : 1.0f;
    }
    free(gid);
    free(raw);
    free(mean);
    free(nd);
    free(nb);
    free(start);
    free(cnt);
    free(rows);
    return rc;
}

nn_tensor *md_zdc_d_loss(nn_ctx *c, const md_zdc_cfg *cfg, const md_zdc_disc *d,
                         nn_tensor *real, nn_tensor *fake, nn_tensor *cond,
                         nn_tensor *cond_mis, nn_tensor *ones, nn_tensor *zeros, gs_rng *rng)
{
    const int hinge = cfg->loss == 1;
    nn_tensor *lr = md_zdc_disc_fwd(c, d, real, cond, rng, NULL);
    nn_tensor *lf = md_zdc_disc_fwd(c, d, fake, cond, rng, NULL);
    nn_tensor *loss_r = hinge ? md_zdc_hinge(c, lr, -1.0f) : nn_bce_with_logits(c, lr, ones);
    nn_tensor *loss_f = hinge ? md_zdc_hinge(c, lf, 1.0f) : nn_bce_with_logits(c, lf, zeros);
    if (cfg->d_mismatch > 0) {
        /* a sharp image at the wrong place for its conditions is fake too: D
         * must check the image against the conditions, not only its look */
        nn_tensor *lm = md_zdc_disc_fwd(c, d, real, cond_mis, rng, NULL);
        nn_tensor *loss_m = hinge ? md_zdc_hinge(c, lm, 1.0f) : nn_bce_with_logits(c, lm, zeros);
        loss_f = nn_add(c, nn_scale(c, loss_f, (float)(1 - cfg->d_mismatch)),
                        nn_scale(c, loss_m, (float)cfg->d_mismatch));
    }
    return nn_add(c, loss_r, loss_f);
}

/* mean(relu(1 + sign * logit)): the hinge loss's two halves, sign -1 for
 * real rows and +1 for generated ones (Lim & Ye 2017; SN-GAN's D loss) */
nn_tensor *md_zdc_hinge(nn_ctx *c, nn_tensor *logit, float sign)
{
    return nn_mean(c, nn_relu(c, nn_affine(c, logit, sign, 1.0f)));
}

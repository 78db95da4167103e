#include "models/md_zdc.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/mt.h"
#include "nn/nn_ckpt.h"
#include "nn/nn_specnorm.h"

#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f
#define GEN_CHUNK 256   /* images per generation pass: activations stay ~30 MB */
#define ZDC_MAX_SLOTS 8 /* chunks generated at once by the sampler (one context each) */

/* ---- configuration ------------------------------------------------------- */
#define F(k, t, m, lo, hi, ch, h) {k, t, offsetof(md_zdc_cfg, m), lo, hi, ch, h}
const md_cfg_field md_zdc_cfg_fields[] = {
    F("model.noise_dim", MD_CFG_INT, noise_dim, 1, 4096, NULL, "generator noise dimension"),
    F("model.g_channels", MD_CFG_IVEC, g_channels, 1, 4096, NULL,
      "generator widths: linear map (at H/4 x W/4), after upsample 1, after upsample 2"),
    F("model.d_channels", MD_CFG_IVEC, d_channels, 1, 4096, NULL,
      "discriminator widths of the three stride-2 convs"),
    F("model.d_hidden", MD_CFG_INT, d_hidden, 1, 65536, NULL,
      "discriminator dense width after flatten ‖ cond (the SDI feature vector)"),
    F("model.aux_channels", MD_CFG_INT, aux_channels, 1, 4096, NULL,
      "auxiliary regressor widths a, 2a of its two stride-2 convs"),
    F("model.slope", MD_CFG_FLOAT, slope, 0, 1, NULL, "LeakyReLU negative slope"),
    F("model.dropout", MD_CFG_FLOAT, dropout, 0, 0.95, NULL, "discriminator dropout"),
    F("model.d_bn", MD_CFG_BOOL, d_bn, 0, 0, NULL,
      "batch norm after the discriminator's first conv (ALICE design)"),
    F("model.d_norm", MD_CFG_ENUM, d_norm, 0, 0, "none,spectral",
      "normalisation of every discriminator weight: none or spectral (Miyato et al. 2018)"),
    F("reg.sdi", MD_CFG_BOOL, sdi, 0, 0, NULL, "SDI diversity term"),
    F("reg.sdi_lambda", MD_CFG_FLOAT, sdi_lambda, 0, 1e6, NULL, "SDI diversity strength"),
    F("reg.sdi_space", MD_CFG_ENUM, sdi_space, 0, 0, "features,pixels",
      "where the two generations are compared"),
    F("reg.sdi_k", MD_CFG_INT, sdi_k, 2, 1000, NULL,
      "neighbours (standardised conditions) for rows whose condition is not repeated"),
    F("reg.intensity", MD_CFG_BOOL, intensity, 0, 0, NULL, "intensity (pixel-sum) term"),
    F("reg.intensity_lambda", MD_CFG_FLOAT, intensity_lambda, 0, 1e6, NULL,
      "intensity strength"),
    F("reg.aux", MD_CFG_BOOL, aux, 0, 0, NULL, "auxiliary max-pixel regressor term"),
    F("reg.aux_lambda", MD_CFG_FLOAT, aux_lambda, 0, 1e6, NULL, "auxiliary regressor strength"),
    F("train.batch", MD_CFG_INT, batch, 2, 1 << 16, NULL, "batch size"),
    F("train.lr_g", MD_CFG_FLOAT, lr_g, 0, 10, NULL, "generator learning rate"),
    F("train.lr_d", MD_CFG_FLOAT, lr_d, 0, 10, NULL, "discriminator learning rate"),
    F("train.lr_aux", MD_CFG_FLOAT, lr_aux, 0, 10, NULL, "auxiliary regressor learning rate"),
    F("train.beta1", MD_CFG_FLOAT, beta1, 0, 0.999999, NULL, "Adam beta1"),
    F("train.beta2", MD_CFG_FLOAT, beta2, 0, 0.999999, NULL, "Adam beta2"),
    F("train.ema", MD_CFG_FLOAT, ema, 0, 0.999999, NULL,
      "decay of the generator weight average (EMA) that is evaluated and sampled; 0 = off"),
    F("train.iters", MD_CFG_INT, iters, 1, 1e12, NULL, "training steps (D, R and G updates)"),
    F("train.eval_every", MD_CFG_INT, eval_every, 1, 1e12, NULL,
      "held-out channel-W1 evaluation period (steps)"),
    F("train.eval_rows", MD_CFG_INT, eval_rows, 10, 1e8, NULL,
      "held-out rows used per evaluation (at most)"),
    F("train.eval_repeats", MD_CFG_INT, eval_repeats, 1, 100, NULL,
      "generated images per held-out row in an evaluation"),
    F("train.ckpt_every", MD_CFG_INT, ckpt_every, 1, 1e12, NULL, "checkpoint period (steps)"),
    F("train.holdout", MD_CFG_FLOAT, holdout, 0.01, 0.5, NULL,
      "fraction of condition groups held out for evaluation"),
    F("train.seed", MD_CFG_INT, seed, 0, 9.2e18, NULL, "seed of every random stream"),
    F("eval.channel_map", MD_CFG_ENUM, channel_map, 0, 0, "research,o2",
      "ZDC channel map of the held-out channel W1 (docs/metrics.md)"),
    {NULL, 0, 0, 0, 0, NULL, NULL}};
#undef F

void md_zdc_cfg_default(md_zdc_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->noise_dim = 10;
    c->g_channels = (md_ivec){3, {128, 64, 32}};
    c->d_channels = (md_ivec){3, {32, 64, 128}};
    c->d_hidden = 128;
    c->aux_channels = 16;
    c->slope = 0.2;
    c->dropout = 0.2;
    /* off by default, unlike design.md: measured on toy data (docs/results/
     * zdc-ablation.md), batch norm over all-real / all-fake batches hides the
     * overall brightness that separates them and the generator stays near
     * empty images (test W1 75.9 with it, 26.9 without, 3000 steps) */
    c->d_bn = 0;
    /* SDI + intensity on, aux off: the recipe the toy ablation supports
     * (docs/results/zdc-ablation.md, 4000 steps, 3 seeds: SDI + intensity
     * 23.9 ± 5.1, better than or equal to the plain GAN (28.3 ± 8.5) on every
     * seed; adding aux 23.7 ± 6.5, no better on 2 of 3 seeds, at ~8 % more
     * time per step). The seed paper turns all three on. */
    c->sdi = 1;
    c->sdi_lambda = 0.1;
    c->sdi_space = 0;
    c->sdi_k = 5;
    c->intensity = 1;
    c->intensity_lambda = 1e-3;
    c->aux = 0;
    c->aux_lambda = 1.0;
    c->batch = 64;
    c->lr_g = 1e-4;
    c->lr_d = 1e-4;
    c->lr_aux = 1e-4;
    c->beta1 = 0.5;
    c->beta2 = 0.999;
    /* not in design.md §5: the evaluated / sampled generator is a weight average
     * (docs/zdc.md "Generator weight average"); measured on toy data it removes
     * most of the seed-to-seed spread of the plain GAN (test W1 56.0 -> 32.5 on
     * seed 2, 26.9 -> 24.8 on seed 1, 3000 steps, reduced widths) */
    c->ema = 0.995;
    c->iters = 10000;
    c->eval_every = 500;
    c->eval_rows = 1000;
    c->eval_repeats = 1;
    c->ckpt_every = 500;
    c->holdout = 0.1;
    c->seed = 1;
}

static int check_cfg(const md_zdc_cfg *c)
{
    if (c->g_channels.n != 3)
        return gs_error(GS_ERR_ARG, "zdc: model.g_channels needs exactly 3 widths");
    if (c->d_channels.n != 3)
        return gs_error(GS_ERR_ARG, "zdc: model.d_channels needs exactly 3 widths");
    return GS_OK;
}

/* ---- networks --------------------------------------------------------------- */
static int64_t conv_s2(int64_t n) { return (n + 2 - 3) / 2 + 1; }

int md_zdc_gen_init(md_zdc_gen *g, const md_zdc_cfg *cfg, int64_t n_cond, int64_t h, int64_t w,
                    gs_rng *r)
{
    memset(g, 0, sizeof *g);
    nn_params_init(&g->ps);
    nn_params_init(&g->buf);
    int rc = check_cfg(cfg);
    if (rc)
        return rc;
    g->noise_dim = cfg->noise_dim;
    g->n_cond = n_cond;
    g->h = h;
    g->w = w;
    /* two nearest upsamplings by 2: start at ceil(h/4) x ceil(w/4), crop at the end */
    g->h0 = (h + 3) / 4;
    g->w0 = (w + 3) / 4;
    g->slope = (float)cfg->slope;
    for (int i = 0; i < 3; i++)
        g->ch[i] = cfg->g_channels.v[i];
    rc = nn_linear_layer_init(&g->fc, &g->ps, "G.fc", cfg->noise_dim + n_cond,
                              g->ch[0] * g->h0 * g->w0, true, NN_INIT_TORCH, r);
    const int64_t cin[3] = {g->ch[0], g->ch[1], g->ch[2]}, cout[3] = {g->ch[1], g->ch[2], 1};
    for (int i = 0; i < 3 && !rc; i++) {
        char name[32];
        snprintf(name, sizeof name, "G.bn%d", i);
        rc = nn_batchnorm_layer_init(&g->bn[i], &g->ps, &g->buf, name, g->ch[i], BN_MOMENTUM,
                                     BN_EPS);
        snprintf(name, sizeof name, "G.conv%d", i);
        if (!rc)
            rc = nn_conv2d_layer_init(&g->conv[i], &g->ps, name, cin[i], cout[i], 3, 1, 1, true,
                                      NN_INIT_TORCH, r);
    }
    if (rc)
        md_zdc_gen_free(g);
    return rc;
}

void md_zdc_gen_free(md_zdc_gen *g)
{
    nn_params_free(&g->ps);
    nn_params_free(&g->buf);
}

/* Without gradients (the critic step's fake images, sampling) a layer's
 * input is dead once the layer's output exists: its buffer goes to the next
 * layers instead of staying on the tape until the reset. */
static nn_tensor *next_layer(nn_ctx *c, nn_tensor *in, nn_tensor *out)
{
    if (in && out && !out->requires_grad && in->data != out->data)
        nn_release(c, in);
    return out;
}

nn_tensor *md_zdc_gen_fwd(nn_ctx *c, const md_zdc_gen *g, nn_tensor *z, nn_tensor *cond)
{
    if (!z || !cond)
        return NULL;
    const int64_t b = z->shape[0];
    nn_tensor *x = nn_linear_layer_fwd(c, &g->fc, nn_concat(c, z, cond));
    x = nn_reshape(c, x, 4, (int64_t[]){b, g->ch[0], g->h0, g->w0});
    /* batch norm + LeakyReLU as one op (training mode): the tape keeps its
     * output only, and its backward builds 4 full-size tensors, not ~10 */
    x = next_layer(c, x, nn_batchnorm_layer_fwd_lrelu(c, &g->bn[0], x, g->slope));
    /* upsample x2 + conv 3x3 computed at the low resolution (sub-pixel
     * phases): same function and parameters, 2.25x fewer conv FLOPs and no
     * upsampled tensor on the tape */
    x = next_layer(c, x, nn_upsample2_conv3x3(c, x, g->conv[0].w, g->conv[0].b));
    x = next_layer(c, x, nn_batchnorm_layer_fwd_lrelu(c, &g->bn[1], x, g->slope));
    x = next_layer(c, x, nn_upsample2_conv3x3(c, x, g->conv[1].w, g->conv[1].b));
    x = next_layer(c, x, nn_batchnorm_layer_fwd_lrelu(c, &g->bn[2], x, g->slope));
    x = next_layer(c, x, nn_conv2d_layer_fwd(c, &g->conv[2], x));
    x = next_layer(c, x, nn_relu(c, x));
    /* centre crop of the 4·h0 × 4·w0 plane */
    return nn_crop2d(c, x, (4 * g->h0 - g->h) / 2, (4 * g->w0 - g->w) / 2, g->h, g->w);
}

int md_zdc_disc_init(md_zdc_disc *d, const md_zdc_cfg *cfg, int64_t n_cond, int64_t h,
                     int64_t w, gs_rng *r)
{
    memset(d, 0, sizeof *d);
    nn_params_init(&d->ps);
    nn_params_init(&d->buf);
    int rc = check_cfg(cfg);
    if (rc)
        return rc;
    d->n_cond = n_cond;
    d->h = h;
    d->w = w;
    d->slope = (float)cfg->slope;
    d->dropout = (float)cfg->dropout;
    d->feat = cfg->d_hidden;
    int64_t cin = 1, hh = h, ww = w;
    for (int i = 0; i < 3 && !rc; i++) {
        char name[32];
        d->ch[i] = cfg->d_channels.v[i];
        snprintf(name, sizeof name, "D.conv%d", i);
        rc = nn_conv2d_layer_init(&d->conv[i], &d->ps, name, cin, d->ch[i], 3, 2, 1, true,
                                  NN_INIT_TORCH, r);
        cin = d->ch[i];
        hh = conv_s2(hh);
        ww = conv_s2(ww);
    }
    d->use_bn = cfg->d_bn;
    if (!rc && d->use_bn)
        rc = nn_batchnorm_layer_init(&d->bn, &d->ps, &d->buf, "D.bn0", d->ch[0], BN_MOMENTUM,
                                     BN_EPS);
    if (!rc)
        rc = nn_linear_layer_init(&d->fc1, &d->ps, "D.fc1", cin * hh * ww + n_cond, d->feat,
                                  true, NN_INIT_TORCH, r);
    if (!rc)
        rc = nn_linear_layer_init(&d->fc2, &d->ps, "D.fc2", d->feat, 1, true, NN_INIT_TORCH, r);
    /* spectral normalisation: one power-iteration vector per weight, drawn
     * after every weight so the weights are those of the plain D */
    d->sn = cfg->d_norm == 1;
    const int64_t sn_out[5] = {d->ch[0], d->ch[1], d->ch[2], d->feat, 1};
    for (int i = 0; i < 5 && !rc && d->sn; i++) {
        char name[32];
        snprintf(name, sizeof name, "D.sn_u%d", i);
        d->sn_u[i] = nn_param_new(&d->buf, name, 1, (int64_t[]){sn_out[i]});
        if (!d->sn_u[i])
            rc = gs_error_wrap(GS_ERR_NOMEM, "zdc: discriminator");
        else
            nn_spectral_norm_init_u(d->sn_u[i], r);
    }
    if (rc)
        md_zdc_disc_free(d);
    return rc;
}

void md_zdc_disc_free(md_zdc_disc *d)
{
    nn_params_free(&d->ps);
    nn_params_free(&d->buf);
}

/* W, or W / σ(W) with spectral normalisation (one power iteration per
 * training-mode call, as torch.nn.utils.spectral_norm) */
static nn_tensor *d_weight(nn_ctx *c, const md_zdc_disc *d, nn_tensor *w, int i)
{
    return d->sn ? nn_spectral_norm(c, w, d->sn_u[i], 1, 1e-12f) : w;
}

nn_tensor *md_zdc_disc_fwd(nn_ctx *c, const md_zdc_disc *d, nn_tensor *x, nn_tensor *cond,
                           gs_rng *rng, nn_tensor **feat)
{
    for (int i = 0; i < 3; i++) {
        x = nn_conv2d(c, x, d_weight(c, d, d->conv[i].w, i), d->conv[i].b, d->conv[i].stride,
                      d->conv[i].pad);
        /* batch norm and its activation as one op: one stored tensor, not two */
        if (i == 0 && d->use_bn)
            x = nn_batchnorm_layer_fwd_lrelu(c, &d->bn, x, d->slope);
        else
            x = nn_leaky_relu(c, x, d->slope);
        if (d->dropout > 0)
            x = nn_dropout(c, x, d->dropout, rng);
    }
    nn_tensor *f = nn_leaky_relu(c, nn_linear(c, nn_concat(c, nn_flatten(c, x), cond),
                                              d_weight(c, d, d->fc1.w, 3), d->fc1.b),
                                 d->slope);
    if (feat)
        *feat = f;
    return nn_linear(c, f, d_weight(c, d, d->fc2.w, 4), d->fc2.b);
}

int md_zdc_aux_init(md_zdc_aux *a, const md_zdc_cfg *cfg, int64_t h, int64_t w, gs_rng *r)
{
    memset(a, 0, sizeof *a);
    nn_params_init(&a->ps);
    const int64_t ch = cfg->aux_channels;
    int rc = nn_conv2d_layer_init(&a->conv[0], &a->ps, "R.conv0", 1, ch, 3, 2, 1, true,
                                  NN_INIT_TORCH, r);
    if (!rc)
        rc = nn_conv2d_layer_init(&a->conv[1], &a->ps, "R.conv1", ch, 2 * ch, 3, 2, 1, true,
                                  NN_INIT_TORCH, r);
    if (!rc)
        rc = nn_linear_layer_init(&a->fc, &a->ps, "R.fc", 2 * ch * conv_s2(conv_s2(h)) *
                                  conv_s2(conv_s2(w)), 2, true, NN_INIT_TORCH, r);
    if (rc)
        md_zdc_aux_free(a);
    return rc;
}

void md_zdc_aux_free(md_zdc_aux *a) { nn_params_free(&a->ps); }

nn_tensor *md_zdc_aux_fwd(nn_ctx *c, const md_zdc_aux *a, nn_tensor *x)
{
    x = nn_leaky_relu(c, nn_conv2d_layer_fwd(c, &a->conv[0], x), 0.2f);
    x = nn_leaky_relu(c, nn_conv2d_layer_fwd(c, &a->conv[1], x), 0.2f);
    /* sigmoid: the targets are normalised to [0, 1] */
    return nn_sigmoid(c, nn_linear_layer_fwd(c, &a->fc, nn_flatten(c, x)));
}

/* ---- regularisers -------------------------------------------------------------- */
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

static int cond_groups(const float *cond, int64_t n, int64_t c, int64_t *gid, int64_t *ng)
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
                 : cond_groups(cond, n, c, gid, &ng);
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

/* ---- generation (training evaluation and sampling) -------------------------- */
/* k images per condition row (standardised conditions), in eval mode without
 * gradients, mapped back to pixel space: out [n·k, h·w]. */
static int generate(nn_ctx *c, const md_zdc_gen *g, const float *cond, int64_t n, int64_t k,
                    gs_rng *r, float *out)
{
    const int64_t total = n * k, px = g->h * g->w, nc = g->n_cond, nz = g->noise_dim;
    const bool was_grad = nn_get_grad_enabled(c), was_train = nn_is_training(c);
    nn_set_grad_enabled(c, false);
    nn_set_training(c, false);
    int rc = GS_OK;
    for (int64_t o0 = 0; o0 < total; o0 += GEN_CHUNK) {
        const int64_t m = total - o0 < GEN_CHUNK ? total - o0 : GEN_CHUNK;
        nn_ctx_reset(c);
        nn_tensor *z = nn_new(c, 2, (int64_t[]){m, nz});
        nn_tensor *ct = nn_new(c, 2, (int64_t[]){m, nc});
        if (z && ct) {
            gs_rng_fill_normal(r, z->data, m * nz, 0.0f, 1.0f);
            for (int64_t i = 0; i < m; i++)
                memcpy(ct->data + i * nc, cond + ((o0 + i) / k) * nc, (size_t)nc * sizeof(float));
        }
        nn_tensor *y = md_zdc_gen_fwd(c, g, z, ct);
        if (!y) {
            rc = gs_error_wrap(GS_ERR_NOMEM, "zdc: generation");
            break;
        }
        float *dst = out + o0 * px;
        const float *src = y->data;
#pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < m * px; i++)
            dst[i] = expm1f(src[i]);
    }
    nn_ctx_reset(c);
    nn_set_grad_enabled(c, was_grad);
    nn_set_training(c, was_train);
    return rc;
}

/* ---- training state ------------------------------------------------------------ */
typedef struct {
    md_zdc_cfg cfg;
    int64_t nc, h, w, px;
    md_zdc_gen g, best;
    md_zdc_gen ema; /* weight average of g (train.ema > 0) */
    md_zdc_disc d;
    md_zdc_aux r;
    nn_optim og, od, orr;
    nn_ctx *ctx;
    gs_rng rng;
    pp_scaler scaler;
    int64_t step, best_step;
    double best_w1;
    /* data: training rows in training space, held-out rows for evaluation */
    int64_t n_train, n_hold, n_eval;
    float *tx, *tc, *ts, *tsum, *tcoord;
    double mean_s;
    float *hx, *hc, *gen;
    /* batch buffers (allocated once; sized for the doubled SDI batch) */
    float *bx, *bc, *bz, *bs, *bsum, *bcoord, *ones, *zeros;
} zdc_state;

static void state_free(zdc_state *s)
{
    /* optimizers first: they walk their parameter sets to free the moments */
    nn_optim_free(&s->og);
    nn_optim_free(&s->od);
    nn_optim_free(&s->orr);
    md_zdc_gen_free(&s->g);
    md_zdc_gen_free(&s->best);
    md_zdc_gen_free(&s->ema);
    md_zdc_disc_free(&s->d);
    md_zdc_aux_free(&s->r);
    nn_ctx_free(s->ctx);
    pp_scaler_free(&s->scaler);
    float *bufs[] = {s->tx, s->tc, s->ts, s->tsum, s->tcoord, s->hx, s->hc, s->gen, s->bx,
                     s->bc, s->bz, s->bs, s->bsum, s->bcoord, s->ones, s->zeros};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    memset(s, 0, sizeof *s);
}

static float *falloc(int64_t n)
{
    return malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
}

/* Splits the data by condition group, fits the scaler, moves the rows into
 * training space and builds the networks and optimizers. */
static int state_init(zdc_state *s, const md_zdc_cfg *cfg, const ds_images *data)
{
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->nc = data->c;
    s->h = data->h;
    s->w = data->w;
    s->px = data->h * data->w;
    s->best_w1 = NAN;
    s->best_step = -1;
    const int64_t n = data->n, nc = s->nc, px = s->px, b = cfg->batch;
    int rc = check_cfg(cfg);
    if (rc)
        return rc;
    if (!data->cond || nc < 1)
        return gs_error(GS_ERR_ARG, "zdc: the image set has no /conditions");
    if (s->h < 8 || s->w < 8)
        return gs_error(GS_ERR_ARG, "zdc: images of %lldx%lld are too small (8x8 at least)",
                        (long long)s->h, (long long)s->w);
    for (int64_t i = 0; i < n * px; i++)
        if (!(data->images[i] >= 0))
            return gs_error(GS_ERR_ARG, "zdc: image %lld has a negative or NaN pixel (the model "
                            "trains log(1 + x))", (long long)(i / px));
    int64_t *gid = malloc((size_t)n * sizeof *gid), ng = 0;
    int64_t *perm = NULL;
    uint8_t *hold = calloc((size_t)n, 1);
    if (!gid || !hold) {
        rc = gs_error(GS_ERR_NOMEM, "zdc: out of memory");
        goto out;
    }
    if ((rc = cond_groups(data->cond, n, nc, gid, &ng)))
        goto out;
    if (ng < 2) {
        rc = gs_error(GS_ERR_ARG, "zdc: need at least 2 distinct conditions, got %lld",
                      (long long)ng);
        goto out;
    }
    /* whole condition groups go to one side, chosen by the seed */
    if (!(perm = malloc((size_t)ng * sizeof *perm))) {
        rc = gs_error(GS_ERR_NOMEM, "zdc: out of memory");
        goto out;
    }
    for (int64_t g = 0; g < ng; g++)
        perm[g] = g;
    gs_rng sr;
    gs_rng_seed(&sr, (uint64_t)cfg->seed ^ 0x5A17ULL);
    gs_rng_shuffle_i64(&sr, perm, ng);
    int64_t nh = (int64_t)llround(cfg->holdout * (double)ng);
    nh = nh < 1 ? 1 : nh >= ng ? ng - 1 : nh;
    uint8_t *ghold = calloc((size_t)ng, 1);
    if (!ghold) {
        rc = gs_error(GS_ERR_NOMEM, "zdc: out of memory");
        goto out;
    }
    for (int64_t j = 0; j < nh; j++)
        ghold[perm[j]] = 1;
    for (int64_t i = 0; i < n; i++) {
        hold[i] = ghold[gid[i]];
        s->n_hold += hold[i];
    }
    free(ghold);
    s->n_train = n - s->n_hold;
    s->n_eval = s->n_hold < cfg->eval_rows ? s->n_hold : cfg->eval_rows;
    s->tx = falloc(s->n_train * px);
    s->tc = falloc(s->n_train * nc);
    s->ts = falloc(s->n_train);
    s->tsum = falloc(s->n_train);
    s->tcoord = falloc(s->n_train * 2);
    s->hx = falloc(s->n_eval * px);
    s->hc = falloc(s->n_eval * nc);
    s->gen = falloc(s->n_eval * cfg->eval_repeats * px);
    s->bx = falloc(b * px);
    s->bc = falloc(2 * b * nc);
    s->bz = falloc(2 * b * cfg->noise_dim);
    s->bs = falloc(b);
    s->bsum = falloc(b);
    s->bcoord = falloc(2 * b);
    s->ones = falloc(2 * b);
    s->zeros = falloc(2 * b);
    s->ctx = nn_ctx_new();
    if (!s->tx || !s->tc || !s->ts || !s->tsum || !s->tcoord || !s->hx || !s->hc || !s->gen ||
        !s->bx || !s->bc || !s->bz || !s->bs || !s->bsum || !s->bcoord || !s->ones ||
        !s->zeros || !s->ctx) {
        rc = gs_error(GS_ERR_NOMEM, "zdc: out of memory for %lld training images",
                      (long long)s->n_train);
        goto out;
    }
    for (int64_t i = 0; i < 2 * b; i++) {
        s->ones[i] = 1.0f;
        s->zeros[i] = 0.0f;
    }
    for (int64_t i = 0, t = 0, e = 0; i < n; i++) {
        if (!hold[i]) {
            memcpy(s->tc + t * nc, data->cond + i * nc, (size_t)nc * sizeof(float));
            memcpy(s->tx + t * px, data->images + i * px, (size_t)px * sizeof(float));
            t++;
        } else if (e < s->n_eval) {
            memcpy(s->hc + e * nc, data->cond + i * nc, (size_t)nc * sizeof(float));
            memcpy(s->hx + e * px, data->images + i * px, (size_t)px * sizeof(float));
            e++;
        }
    }
    /* the max pixel is the same before and after log1p (monotone) */
    md_zdc_argmax_coords(s->tx, s->n_train, s->h, s->w, s->tcoord);
    for (int64_t i = 0; i < s->n_train * px; i++)
        s->tx[i] = log1pf(s->tx[i]);
    for (int64_t i = 0; i < s->n_train; i++) {
        double acc = 0;
        for (int64_t p = 0; p < px; p++)
            acc += s->tx[i * px + p];
        s->tsum[i] = (float)acc;
    }
    if ((rc = pp_standard_fit(&s->scaler, s->tc, s->n_train, nc)))
        goto out;
    pp_scaler_transform(&s->scaler, s->tc, s->tc, s->n_train);
    pp_scaler_transform(&s->scaler, s->hc, s->hc, s->n_eval);

    gs_rng_seed(&s->rng, (uint64_t)cfg->seed);
    if ((rc = md_zdc_gen_init(&s->g, cfg, nc, s->h, s->w, &s->rng)) ||
        (rc = md_zdc_disc_init(&s->d, cfg, nc, s->h, s->w, &s->rng)))
        goto out;
    if (cfg->aux && (rc = md_zdc_aux_init(&s->r, cfg, s->h, s->w, &s->rng)))
        goto out;
    gs_rng tmp = s->rng; /* the snapshot's init values are overwritten when it is taken */
    if ((rc = md_zdc_gen_init(&s->best, cfg, nc, s->h, s->w, &tmp)))
        goto out;
    if (cfg->ema > 0) { /* starts as a copy of g */
        tmp = s->rng;
        if ((rc = md_zdc_gen_init(&s->ema, cfg, nc, s->h, s->w, &tmp)) ||
            (rc = nn_params_copy(&s->ema.ps, &s->g.ps)) ||
            (rc = nn_params_copy(&s->ema.buf, &s->g.buf)))
            goto out;
    }
    nn_optim_cfg oc = nn_optim_defaults(NN_OPT_ADAM, (float)cfg->lr_g);
    oc.beta1 = (float)cfg->beta1;
    oc.beta2 = (float)cfg->beta2;
    if ((rc = nn_optim_init(&s->og, &s->g.ps, &oc)))
        goto out;
    oc.lr = (float)cfg->lr_d;
    if ((rc = nn_optim_init(&s->od, &s->d.ps, &oc)))
        goto out;
    oc.lr = (float)cfg->lr_aux;
    if (cfg->aux && (rc = nn_optim_init(&s->orr, &s->r.ps, &oc)))
        goto out;
out:
    free(gid);
    free(perm);
    free(hold);
    return rc;
}

static int compute_diversity(zdc_state *s)
{
    int rc = md_zdc_diversity_weights(s->tc, s->tx, s->n_train, s->nc, s->px, s->cfg.sdi_k,
                                      s->ts);
    double acc = 0;
    for (int64_t i = 0; i < s->n_train && !rc; i++)
        acc += s->ts[i];
    s->mean_s = acc / (double)s->n_train;
    return rc;
}

/* Rows [half·b, (half+1)·b) of x [2b, ...] as [b, ...] (nn_slice cuts dim 1 only). */
static nn_tensor *half_rows(nn_ctx *c, nn_tensor *x, int64_t b, int half)
{
    if (!x)
        return NULL;
    const int64_t per = x->n / x->shape[0];
    nn_tensor *flat = nn_reshape(c, x, 2, (int64_t[]){1, x->n});
    nn_tensor *h = nn_slice(c, flat, half * b * per, b * per);
    int64_t shape[NN_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[0] = b;
    return nn_reshape(c, h, x->ndim, shape);
}

static int fail_numeric(const char *what, double v, int64_t step)
{
    return gs_error(GS_ERR_NUMERIC, "zdc: %s is %g at step %lld", what, v, (long long)step);
}

static int train_step(zdc_state *s, md_zdc_progress *pr)
{
    const md_zdc_cfg *cfg = &s->cfg;
    const int64_t b = cfg->batch, px = s->px, nc = s->nc, nz = cfg->noise_dim;
    nn_ctx *c = s->ctx;
    const int64_t img4[4] = {b, 1, s->h, s->w};
    for (int64_t i = 0; i < b; i++) {
        const int64_t row = (int64_t)gs_rng_below(&s->rng, (uint64_t)s->n_train);
        memcpy(s->bx + i * px, s->tx + row * px, (size_t)px * sizeof(float));
        memcpy(s->bc + i * nc, s->tc + row * nc, (size_t)nc * sizeof(float));
        s->bs[i] = s->ts[row];
        s->bsum[i] = s->tsum[row];
        s->bcoord[2 * i] = s->tcoord[2 * row];
        s->bcoord[2 * i + 1] = s->tcoord[2 * row + 1];
    }
    /* ---- discriminator: real -> 1, fake -> 0; G is a constant here ---- */
    nn_ctx_reset(c);
    nn_set_training(c, true);
    nn_params_zero_grad(&s->d.ps);
    gs_rng_fill_normal(&s->rng, s->bz, b * nz, 0.0f, 1.0f);
    nn_tensor *cond = nn_input(c, 2, (int64_t[]){b, nc}, s->bc);
    nn_set_grad_enabled(c, false);
    nn_tensor *fake = md_zdc_gen_fwd(c, &s->g, nn_input(c, 2, (int64_t[]){b, nz}, s->bz), cond);
    nn_set_grad_enabled(c, true);
    nn_tensor *real = nn_input(c, 4, img4, s->bx);
    nn_tensor *ones = nn_input(c, 2, (int64_t[]){b, 1}, s->ones);
    nn_tensor *zeros = nn_input(c, 2, (int64_t[]){b, 1}, s->zeros);
    nn_tensor *lr = md_zdc_disc_fwd(c, &s->d, real, cond, &s->rng, NULL);
    nn_tensor *lf = md_zdc_disc_fwd(c, &s->d, fake, cond, &s->rng, NULL);
    nn_tensor *loss_d = nn_add(c, nn_bce_with_logits(c, lr, ones), nn_bce_with_logits(c, lf, zeros));
    int rc = loss_d ? nn_backward(c, loss_d) : GS_ERR_NOMEM;
    if (rc)
        return gs_error_wrap(rc, "zdc: discriminator step");
    nn_optim_step(&s->od);
    pr->loss_d = loss_d->data[0];
    /* ---- auxiliary regressor on real images ---- */
    pr->loss_r = 0;
    if (cfg->aux) {
        nn_ctx_reset(c);
        nn_params_zero_grad(&s->r.ps);
        nn_tensor *lrr = md_zdc_aux_loss(c, md_zdc_aux_fwd(c, &s->r, nn_input(c, 4, img4, s->bx)),
                                         s->bcoord, 1.0);
        rc = lrr ? nn_backward(c, lrr) : GS_ERR_NOMEM;
        if (rc)
            return gs_error_wrap(rc, "zdc: regressor step");
        nn_optim_step(&s->orr);
        pr->loss_r = lrr->data[0];
    }
    /* ---- generator: SDI draws two noises per condition, stacked as 2b rows ---- */
    nn_ctx_reset(c);
    nn_params_zero_grad(&s->g.ps);
    nn_params_set_requires_grad(&s->d.ps, false);
    if (cfg->aux)
        nn_params_set_requires_grad(&s->r.ps, false);
    const int64_t m = cfg->sdi ? 2 * b : b;
    gs_rng_fill_normal(&s->rng, s->bz, m * nz, 0.0f, 1.0f);
    if (cfg->sdi)
        memcpy(s->bc + b * nc, s->bc, (size_t)(b * nc) * sizeof(float));
    nn_tensor *cm = nn_input(c, 2, (int64_t[]){m, nc}, s->bc);
    nn_tensor *gen = md_zdc_gen_fwd(c, &s->g, nn_input(c, 2, (int64_t[]){m, nz}, s->bz), cm);
    nn_tensor *feat = NULL;
    nn_tensor *lg = md_zdc_disc_fwd(c, &s->d, gen, cm, &s->rng, &feat);
    nn_tensor *loss_g = nn_bce_with_logits(c, lg, nn_input(c, 2, (int64_t[]){m, 1}, s->ones));
    nn_tensor *total = loss_g;
    nn_tensor *gen1 = cfg->sdi ? half_rows(c, gen, b, 0) : gen;
    nn_tensor *ldiv = NULL, *lint = NULL, *laux = NULL;
    if (cfg->sdi) {
        nn_tensor *f = cfg->sdi_space == 0 ? feat : nn_flatten(c, gen);
        ldiv = md_zdc_sdi_loss(c, half_rows(c, f, b, 0), half_rows(c, f, b, 1), s->bz,
                               s->bz + b * nz, nz, s->bs, s->mean_s, cfg->sdi_lambda);
        total = nn_add(c, total, ldiv);
    }
    if (cfg->intensity) {
        lint = md_zdc_intensity_loss(c, gen1, s->bsum, cfg->intensity_lambda);
        total = nn_add(c, total, lint);
    }
    if (cfg->aux) {
        laux = md_zdc_aux_loss(c, md_zdc_aux_fwd(c, &s->r, gen1), s->bcoord, cfg->aux_lambda);
        total = nn_add(c, total, laux);
    }
    rc = total ? nn_backward(c, total) : GS_ERR_NOMEM;
    nn_params_set_requires_grad(&s->d.ps, true);
    if (cfg->aux)
        nn_params_set_requires_grad(&s->r.ps, true);
    if (rc)
        return gs_error_wrap(rc, "zdc: generator step");
    nn_optim_step(&s->og);
    if (cfg->ema > 0) { /* the BN running statistics are averaged like the weights */
        nn_params_ema(&s->ema.ps, &s->g.ps, (float)cfg->ema);
        nn_params_ema(&s->ema.buf, &s->g.buf, (float)cfg->ema);
    }
    s->step++;
    pr->loss_g = loss_g->data[0];
    pr->loss_div = ldiv ? ldiv->data[0] : 0;
    pr->loss_int = lint ? lint->data[0] : 0;
    pr->loss_aux = laux ? laux->data[0] : 0;
    if (!isfinite(pr->loss_d))
        return fail_numeric("the discriminator loss", pr->loss_d, s->step);
    if (!isfinite(total->data[0]))
        return fail_numeric("the generator loss", total->data[0], s->step);
    return GS_OK;
}

/* The generator that is evaluated, snapshotted and sampled: the weight
 * average when train.ema > 0, else g itself. */
static const md_zdc_gen *eval_gen(const zdc_state *s)
{
    return s->cfg.ema > 0 ? &s->ema : &s->g;
}

/* Mean channel W1 of generated vs held-out images, in pixel space. */
static int evaluate(zdc_state *s, mt_image_metrics *m)
{
    gs_rng r;
    gs_rng_seed(&r, (uint64_t)s->cfg.seed * 31 + 7 + (uint64_t)s->step);
    int rc = generate(s->ctx, eval_gen(s), s->hc, s->n_eval, s->cfg.eval_repeats, &r, s->gen);
    if (!rc)
        rc = mt_compare_images_map((mt_zdc_map)s->cfg.channel_map, s->hx, s->n_eval, s->gen,
                                   s->n_eval * s->cfg.eval_repeats, s->h, s->w, m);
    return rc;
}

/* ---- checkpoint files ---------------------------------------------------------- *
 * /          attrs gansim_kind "zdc_gan", gansim_version, config, cond_columns,
 *            height, width, n_cond, state, step, best_step, best_w1
 * /scaler    the condition scaler
 * /G, /G_buf the generator used for sampling (best by held-out W1) and its BN stats
 * /train     (last.h5 only) G, G_buf, D, D_buf, R (with optimizer state), G_ema,
 *            G_ema_buf (when train.ema > 0), best/G, best/G_buf, sdi_s [n_train], rng;
 *            attrs step, n_train */
/* The parameter sets of the training state (under /train), in file order:
 * saving and loading walk this one list, so they cannot drift apart. */
enum { ZDC_MAX_PARTS = 9 };
typedef struct {
    const char *name;
    nn_params *ps;
    nn_optim *o; /* its moments are saved with the set, or NULL */
} zdc_part;

static int train_parts(zdc_state *s, zdc_part *out)
{
    const bool ema = s->cfg.ema > 0;
    const struct { zdc_part p; bool on; } all[ZDC_MAX_PARTS] = {
        {{"G", &s->g.ps, &s->og}, true},           {{"G_buf", &s->g.buf, NULL}, true},
        {{"D", &s->d.ps, &s->od}, true},           {{"D_buf", &s->d.buf, NULL}, true},
        {{"R", &s->r.ps, &s->orr}, s->cfg.aux},    {{"G_ema", &s->ema.ps, NULL}, ema},
        {{"G_ema_buf", &s->ema.buf, NULL}, ema},   {{"best/G", &s->best.ps, NULL}, true},
        {{"best/G_buf", &s->best.buf, NULL}, true}};
    int n = 0;
    for (int i = 0; i < ZDC_MAX_PARTS; i++)
        if (all[i].on)
            out[n++] = all[i].p;
    return n;
}

static int write_file(const char *path, const zdc_state *s, char *const *cond_columns,
                      int with_train)
{
    char tmp[4096];
    int rc = gs_tmp_path(tmp, sizeof tmp, path);
    if (rc)
        return rc;
    hid_t f, q;
    if ((rc = gs_h5_create(tmp, &f)))
        return rc;
    char *cfgtext = md_cfg_dump(md_zdc_cfg_fields, &s->cfg);
    rc = cfgtext ? gs_h5_attr_write_str(f, ".", "config", cfgtext)
                 : gs_error(GS_ERR_NOMEM, "out of memory");
    free(cfgtext);
    if (!rc)
        rc = gs_h5_attr_write_str(f, ".", "gansim_kind", "zdc_gan");
    if (!rc)
        rc = gs_h5_attr_write_str(f, ".", "gansim_version", GANSIM_VERSION);
    if (!rc && cond_columns) {
        char *cols = gs_h5_join_csv(cond_columns, s->nc);
        rc = cols ? gs_h5_attr_write_str(f, ".", "cond_columns", cols)
                  : gs_error(GS_ERR_NOMEM, "out of memory");
        free(cols);
    }
    const struct { const char *k; int64_t v; } ia[] = {
        {"height", s->h}, {"width", s->w}, {"n_cond", s->nc}, {"step", s->step},
        {"best_step", s->best_step}};
    for (size_t i = 0; !rc && i < sizeof ia / sizeof ia[0]; i++)
        rc = gs_h5_attr_write_i64(f, ".", ia[i].k, ia[i].v);
    if (!rc)
        rc = gs_h5_attr_write_f64(f, ".", "best_w1", s->best_w1);
    if (!rc)
        rc = gs_h5_attr_write_str(f, ".", "state", with_train ? "training" : "final");
    if (!rc && !(rc = gs_h5_group_create(f, "scaler", &q))) {
        rc = pp_scaler_save(&s->scaler, q);
        H5Gclose(q);
    }
    const md_zdc_gen *sg = s->best_step >= 0 ? &s->best : eval_gen(s);
    if (!rc)
        rc = nn_group_save(f, "G", &sg->ps, NULL);
    if (!rc)
        rc = nn_group_save(f, "G_buf", &sg->buf, NULL);
    if (!rc && with_train) {
        hid_t t;
        if (!(rc = gs_h5_group_create(f, "train", &t))) {
            zdc_part parts[ZDC_MAX_PARTS];
            const int np = train_parts((zdc_state *)s, parts); /* read only here */
            for (int i = 0; i < np && !rc; i++)
                rc = nn_group_save(t, parts[i].name, parts[i].ps, parts[i].o);
            if (!rc && s->cfg.sdi)
                rc = gs_h5_write(t, "sdi_s", GS_H5_F32, 1, (int64_t[]){s->n_train}, s->ts);
            if (!rc)
                rc = nn_rng_save(t, "rng", &s->rng);
            if (!rc)
                rc = gs_h5_attr_write_i64(t, ".", "n_train", s->n_train);
            H5Gclose(t);
        }
    }
    int crc = gs_h5_close(f);
    if (!rc)
        rc = crc;
    if (rc) {
        gs_discard(tmp);
        return gs_error_wrap(rc, path);
    }
    return gs_commit(tmp, path);
}

static int save_all(const char *dir, const zdc_state *s, char *const *cols)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/last.h5", dir);
    int rc = write_file(path, s, cols, 1);
    if (!rc) {
        snprintf(path, sizeof path, "%s/model.h5", dir);
        rc = write_file(path, s, cols, 0);
    }
    return rc;
}

static int load_training(const char *path, zdc_state *s)
{
    hid_t f, t;
    int rc = gs_h5_open(path, 0, &f);
    if (rc)
        return rc;
    int64_t n_train = 0;
    rc = gs_h5_attr_read_i64(f, ".", "best_step", &s->best_step);
    if (!rc)
        rc = gs_h5_attr_read_f64(f, ".", "best_w1", &s->best_w1);
    if (!rc && !(rc = gs_h5_group_open(f, "train", &t))) {
        rc = gs_h5_attr_read_i64(t, ".", "n_train", &n_train);
        if (!rc && n_train != s->n_train)
            rc = gs_error(GS_ERR_FORMAT, "%s: trained on %lld rows, the data give %lld "
                          "(different data?)", path, (long long)n_train, (long long)s->n_train);
        if (!rc)
            rc = gs_h5_attr_read_i64(f, ".", "step", &s->step);
        zdc_part parts[ZDC_MAX_PARTS];
        const int np = train_parts(s, parts);
        for (int i = 0; i < np && !rc; i++)
            rc = nn_group_load(t, parts[i].name, parts[i].ps, parts[i].o);
        if (!rc && s->cfg.sdi)
            rc = gs_h5_read_into(t, "sdi_s", GS_H5_F32, 1, (int64_t[]){s->n_train}, s->ts);
        if (!rc)
            rc = nn_rng_load(t, "rng", &s->rng);
        H5Gclose(t);
    }
    gs_h5_close(f);
    if (!rc && s->cfg.sdi) {
        double acc = 0;
        for (int64_t i = 0; i < s->n_train; i++)
            acc += s->ts[i];
        s->mean_s = acc / (double)s->n_train;
    }
    return rc ? gs_error_wrap(rc, "--resume") : GS_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int read_cfg_from(const char *path, md_zdc_cfg *cfg)
{
    hid_t f;
    int rc = gs_h5_open(path, 0, &f);
    if (rc)
        return rc;
    char *kind = NULL, *text = NULL;
    rc = gs_h5_attr_read_str(f, ".", "gansim_kind", &kind);
    if (!rc && strcmp(kind, "zdc_gan") != 0)
        rc = gs_error(GS_ERR_FORMAT, "%s: a %s model, not a zdc_gan model", path, kind);
    if (!rc)
        rc = gs_h5_attr_read_str(f, ".", "config", &text);
    gs_h5_close(f);
    md_zdc_cfg_default(cfg);
    if (!rc)
        rc = md_cfg_parse_dump(md_zdc_cfg_fields, cfg, text);
    free(kind);
    free(text);
    return rc ? gs_error_wrap(rc, path) : GS_OK;
}

int md_zdc_train(const md_zdc_cfg *cfg_in, const ds_images *data, const md_zdc_train_opts *opts,
                 int *stopped)
{
    md_zdc_cfg cfg = *cfg_in;
    *stopped = 0;
    char path[4096];
    int rc;
    if (opts->resume) {
        /* a resumed run uses the configuration it was started with */
        snprintf(path, sizeof path, "%s/last.h5", opts->out_dir);
        if ((rc = read_cfg_from(path, &cfg)))
            return gs_error_wrap(rc, "--resume");
    }
    if (data->n < 4)
        return gs_error(GS_ERR_ARG, "zdc: need at least 4 images, got %lld", (long long)data->n);
    zdc_state s;
    FILE *log = NULL;
    if ((rc = state_init(&s, &cfg, data)))
        goto out;
    if (opts->resume) {
        snprintf(path, sizeof path, "%s/last.h5", opts->out_dir);
        if ((rc = load_training(path, &s)))
            goto out;
    } else if (cfg.sdi && (rc = compute_diversity(&s))) {
        goto out;
    }
    snprintf(path, sizeof path, "%s/train.log", opts->out_dir);
    log = fopen(path, opts->resume ? "a" : "w");
    if (!log) {
        rc = gs_error(GS_ERR_IO, "%s: cannot write the training log", path);
        goto out;
    }
    if (!opts->resume) {
        fprintf(log, "# gansim %s zdc_gan: %lld training images, %lld held out (%lld used per "
                     "evaluation), %lldx%lld, %lld conditions\n", GANSIM_VERSION,
                (long long)s.n_train, (long long)s.n_hold, (long long)s.n_eval, (long long)s.h,
                (long long)s.w, (long long)s.nc);
        /* no key=value here: log readers take those for records */
        fprintf(log, "# regularisers: sdi %s (lambda %g, mean s %.4f), intensity %s (lambda %g), "
                     "aux %s (lambda %g)\n", cfg.sdi ? "on" : "off", cfg.sdi_lambda, s.mean_s,
                cfg.intensity ? "on" : "off", cfg.intensity_lambda, cfg.aux ? "on" : "off",
                cfg.aux_lambda);
        fflush(log);
    }
    const double t0 = now_s();
    const int64_t step0 = s.step;
    md_zdc_progress pr = {.steps = cfg.iters, .w1_mean = NAN, .best_w1 = s.best_w1};
    while (s.step < cfg.iters) {
        if ((rc = train_step(&s, &pr)))
            goto out; /* last.h5 keeps the last good state */
        const double el = now_s() - t0;
        pr.step = s.step;
        pr.steps_per_s = (double)(s.step - step0) / (el > 0 ? el : 1e-9);
        pr.eta_s = (double)(cfg.iters - s.step) / (pr.steps_per_s > 0 ? pr.steps_per_s : 1);
        pr.evaluated = 0;
        const int last_step = s.step == cfg.iters;
        if (s.step % cfg.eval_every == 0 || last_step) {
            mt_image_metrics m;
            if ((rc = evaluate(&s, &m)))
                goto out;
            if (!(m.ch_mean_w1 >= s.best_w1)) { /* also when best_w1 is NaN */
                s.best_w1 = m.ch_mean_w1;
                s.best_step = s.step;
                nn_params_copy(&s.best.ps, &eval_gen(&s)->ps);
                nn_params_copy(&s.best.buf, &eval_gen(&s)->buf);
            }
            pr.w1_mean = m.ch_mean_w1;
            pr.best_w1 = s.best_w1;
            pr.evaluated = 1;
            fprintf(log, "step=%lld loss_d=%.6g loss_g=%.6g loss_div=%.6g loss_int=%.6g "
                         "loss_aux=%.6g loss_r=%.6g", (long long)s.step, pr.loss_d, pr.loss_g,
                    pr.loss_div, pr.loss_int, pr.loss_aux, pr.loss_r);
            for (int j = 0; j < MT_ZDC_NCH; j++)
                fprintf(log, " w1_ch%d=%.6g", j + 1, m.ch_w1[j]);
            fprintf(log, " w1_mean=%.6g best_w1=%.6g intensity_w1=%.6g steps_per_s=%.3f "
                         "elapsed_s=%.1f\n", m.ch_mean_w1, s.best_w1, m.intensity_w1,
                    pr.steps_per_s, el);
            fflush(log);
        }
        if (opts->progress)
            opts->progress(opts->progress_ud, &pr);
        const int stop_now = opts->stop && *opts->stop;
        if (stop_now || s.step % cfg.ckpt_every == 0 || last_step)
            if ((rc = save_all(opts->out_dir, &s, data->cond_columns)))
                goto out;
        if (stop_now) {
            *stopped = 1;
            goto out;
        }
    }
    if (s.step == step0) /* resumed a finished run: still leave a consistent pair of files */
        rc = save_all(opts->out_dir, &s, data->cond_columns);
out:
    if (log)
        fclose(log);
    state_free(&s);
    return rc;
}

/* ---- sampling -------------------------------------------------------------------- */
/* Sampling uses an inference form of the generator, equal to eval-mode G up
 * to float rounding, with fewer passes over memory:
 *  - eval-mode batch norm is a per-channel affine map: folded into the
 *    weights and bias of the layer before it (fc, conv0, conv1);
 *  - each upsample x2 + conv 3x3 is a 2x2 conv with 4·Cout outputs on the
 *    small input (the sub-pixel phases of nn_upsample2_conv3x3, which the
 *    training graph uses too), here with the BN-scaled weights folded once
 *    at load; the phase interleave takes the LeakyReLU in the same pass. */
typedef struct {
    nn_params ps;
    nn_tensor *fw, *fb;          /* fc with BN0 folded */
    nn_tensor *pw[2], *pb[2];    /* phase convs [4 Cout, Cin, 2, 2] with BN folded */
} zdc_fast;

struct md_zdc_model {
    md_zdc_cfg cfg;
    md_zdc_gen g;
    zdc_fast fast;
    int use_fast;
    pp_scaler scaler;
    nn_ctx *ctx[ZDC_MAX_SLOTS]; /* one per concurrent chunk (ctx[0] at load, others on first use) */
    int64_t h, w, nc;
};

/* per-channel eval-mode BN as y = sc x + sh */
static void bn_affine(const nn_batchnorm_layer *bn, int64_t ch, double *sc, double *sh)
{
    const double g = bn->gamma->data[ch], b = bn->beta->data[ch];
    const double m = bn->running_mean->data[ch], v = bn->running_var->data[ch];
    sc[0] = g / sqrt(v + (double)bn->eps);
    sh[0] = b - m * sc[0];
}

static int fast_init(zdc_fast *f, const md_zdc_gen *g)
{
    memset(f, 0, sizeof *f);
    nn_params_init(&f->ps);
    const int64_t hw0 = g->h0 * g->w0, nin = g->fc.in, nout = g->fc.out;
    f->fw = nn_param_new(&f->ps, "fast.fc.w", 2, (int64_t[]){nout, nin});
    f->fb = nn_param_new(&f->ps, "fast.fc.b", 1, (int64_t[]){nout});
    if (!f->fw || !f->fb)
        return gs_error(GS_ERR_NOMEM, "zdc: out of memory");
    for (int64_t j = 0; j < nout; j++) {
        double sc, sh;
        bn_affine(&g->bn[0], j / hw0, &sc, &sh);
        for (int64_t i = 0; i < nin; i++)
            f->fw->data[j * nin + i] = (float)(sc * g->fc.w->data[j * nin + i]);
        f->fb->data[j] = (float)(sc * g->fc.b->data[j] + sh);
    }
    /* the phase weights are nn_phase_fold3x3 of the BN-scaled 3x3 weights
     * (the fold training uses, so the two cannot drift apart); the shift of
     * the folded BN is the same for all four phases of a channel */
    nn_ctx *c = nn_ctx_new();
    if (!c)
        return gs_error(GS_ERR_NOMEM, "zdc: out of memory");
    nn_set_grad_enabled(c, false);
    int rc = GS_OK;
    for (int s = 0; s < 2 && !rc; s++) {
        const nn_conv2d_layer *cv = &g->conv[s];
        const int64_t co = cv->out, ci = cv->in;
        char name[32];
        snprintf(name, sizeof name, "fast.p%d.w", s);
        f->pw[s] = nn_param_new(&f->ps, name, 4, (int64_t[]){4 * co, ci, 2, 2});
        snprintf(name, sizeof name, "fast.p%d.b", s);
        f->pb[s] = nn_param_new(&f->ps, name, 1, (int64_t[]){4 * co});
        nn_tensor *ws = nn_new(c, 4, cv->w->shape);
        if (!f->pw[s] || !f->pb[s] || !ws) {
            rc = gs_error(GS_ERR_NOMEM, "zdc: out of memory");
            break;
        }
        for (int64_t o = 0; o < co; o++) {
            double sc, sh;
            bn_affine(&g->bn[s + 1], o, &sc, &sh);
            for (int ph = 0; ph < 4; ph++)
                f->pb[s]->data[ph * co + o] = (float)(sc * cv->b->data[o] + sh);
            for (int64_t k = 0; k < ci * 9; k++)
                ws->data[o * ci * 9 + k] = (float)(sc * cv->w->data[o * ci * 9 + k]);
        }
        nn_tensor *p = nn_phase_fold3x3(c, ws);
        if (!p)
            rc = gs_error_wrap(GS_ERR_NOMEM, "zdc: folding the generator");
        else
            memcpy(f->pw[s]->data, p->data, (size_t)p->n * sizeof(float));
    }
    nn_ctx_free(c);
    return rc;
}

/* [n, 4 co, h + 1, w + 1] phase planes -> LeakyReLU'd [n, co, 2h, 2w]: what
 * nn_phase_interleave does, with the activation in the same pass (training
 * cannot fuse it: batch norm sits in between there). */
static nn_tensor *phase_shuffle(nn_ctx *c, nn_tensor *y, int64_t co, float slope)
{
    if (!y)
        return NULL;
    const int64_t n = y->shape[0], h = y->shape[2] - 1, w = y->shape[3] - 1;
    nn_tensor *x = nn_new(c, 4, (int64_t[]){n, co, 2 * h, 2 * w});
    if (!x)
        return NULL;
    const float *src = y->data;
    float *dst = x->data;
#pragma omp parallel for schedule(static)
    for (int64_t nc = 0; nc < n * co; nc++) {
        const int64_t in = nc / co, o = nc % co;
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++) {
                const float *pl = src + ((in * 4 + a * 2 + b) * co + o) * (h + 1) * (w + 1);
                float *out = dst + nc * 4 * h * w;
                for (int64_t i = 0; i < h; i++)
                    for (int64_t j = 0; j < w; j++) {
                        const float v = pl[(i + a) * (w + 1) + j + b];
                        out[(2 * i + a) * 2 * w + 2 * j + b] = v > 0 ? v : slope * v;
                    }
            }
    }
    return x;
}

/* The inference generator: [m, 1, 4 h0, 4 w0] before crop, ReLU applied later. */
static nn_tensor *fast_fwd(nn_ctx *c, const md_zdc_gen *g, const zdc_fast *f, nn_tensor *z,
                           nn_tensor *cond)
{
    if (!z || !cond)
        return NULL;
    const int64_t m = z->shape[0];
    nn_tensor *x = nn_leaky_relu(c, nn_linear(c, nn_concat(c, z, cond), f->fw, f->fb), g->slope);
    x = nn_reshape(c, x, 4, (int64_t[]){m, g->ch[0], g->h0, g->w0});
    x = phase_shuffle(c, nn_conv2d(c, x, f->pw[0], f->pb[0], 1, 1), g->ch[1], g->slope);
    x = phase_shuffle(c, nn_conv2d(c, x, f->pw[1], f->pb[1], 1, 1), g->ch[2], g->slope);
    return nn_conv2d(c, x, g->conv[2].w, g->conv[2].b, 1, 1);
}

/* One sampling round: `noise` holds the round's chunks one after the other,
 * [GEN_CHUNK, nz] each. */
typedef struct {
    md_zdc_model *mo;
    const float *cond, *noise;
    int64_t k, total, o0; /* o0: the round's first image */
    float *out;
} fast_round;

/* One chunk on one thread: ReLU, crop and exp(y) - 1 fused into the copy out. */
static int fast_job(void *arg, int i, int slot)
{
    const fast_round *a = arg;
    md_zdc_model *mo = a->mo;
    const md_zdc_gen *g = &mo->g;
    nn_ctx *c = mo->ctx[slot];
    const int64_t h = g->h, w = g->w, nc = g->n_cond, nz = g->noise_dim, k = a->k;
    const int64_t hh = 4 * g->h0, ww = 4 * g->w0, top = (hh - h) / 2, left = (ww - w) / 2;
    const int64_t o0 = a->o0 + (int64_t)i * GEN_CHUNK;
    const int64_t m = a->total - o0 < GEN_CHUNK ? a->total - o0 : GEN_CHUNK;
    nn_set_grad_enabled(c, false);
    nn_set_training(c, false);
    nn_ctx_reset(c);
    nn_tensor *z = nn_input(c, 2, (int64_t[]){m, nz}, a->noise + (int64_t)i * GEN_CHUNK * nz);
    nn_tensor *ct = nn_new(c, 2, (int64_t[]){m, nc});
    if (ct)
        for (int64_t j = 0; j < m; j++)
            memcpy(ct->data + j * nc, a->cond + ((o0 + j) / k) * nc, (size_t)nc * sizeof(float));
    nn_tensor *y = fast_fwd(c, g, &mo->fast, z, ct);
    if (!y)
        return gs_error_wrap(GS_ERR_NOMEM, "zdc: generation");
    const float *src = y->data;
    float *dst = a->out + o0 * h * w;
    for (int64_t j = 0; j < m; j++)
        for (int64_t row = 0; row < h; row++)
            for (int64_t col = 0; col < w; col++) {
                const float v = src[(j * hh + row + top) * ww + col + left];
                dst[(j * h + row) * w + col] = v > 0 ? expm1f(v) : 0.0f;
            }
    nn_ctx_reset(c);
    return GS_OK;
}

/* Chunks of GEN_CHUNK images, up to min(threads, ZDC_MAX_SLOTS) at once,
 * each single-threaded (nn_run_jobs); the noise is drawn from r chunk by
 * chunk in image order before a round runs. The images are therefore the
 * same for any thread count. */
static int generate_fast(md_zdc_model *mo, const float *cond, int64_t n, int64_t k, gs_rng *r,
                         float *out)
{
    const int64_t total = n * k, nz = mo->g.noise_dim;
    const int64_t n_chunks = (total + GEN_CHUNK - 1) / GEN_CHUNK;
    int width = nn_get_threads();
    if (width > ZDC_MAX_SLOTS)
        width = ZDC_MAX_SLOTS;
    if (width > n_chunks)
        width = (int)n_chunks;
    if (width < 1)
        width = 1;
    for (int t = 0; t < width; t++)
        if (!mo->ctx[t] && !(mo->ctx[t] = nn_ctx_new()))
            return gs_error(GS_ERR_NOMEM, "zdc: out of memory");
    float *noise = malloc((size_t)(width * GEN_CHUNK * nz) * sizeof(float));
    if (!noise)
        return gs_error(GS_ERR_NOMEM, "zdc: out of memory");
    fast_round a = {mo, cond, noise, k, total, 0, out};
    int rc = GS_OK;
    for (int64_t c0 = 0; c0 < n_chunks && !rc; c0 += width) {
        const int round = n_chunks - c0 < width ? (int)(n_chunks - c0) : width;
        a.o0 = c0 * GEN_CHUNK;
        for (int t = 0; t < round; t++) {
            const int64_t o0 = a.o0 + t * GEN_CHUNK;
            const int64_t m = total - o0 < GEN_CHUNK ? total - o0 : GEN_CHUNK;
            gs_rng_fill_normal(r, noise + t * GEN_CHUNK * nz, m * nz, 0.0f, 1.0f);
        }
        rc = nn_run_jobs(round, width, fast_job, &a);
    }
    free(noise);
    return rc;
}

void md_zdc_set_fast(md_zdc_model *m, int on) { m->use_fast = on; }

void md_zdc_free(md_zdc_model *m)
{
    if (!m)
        return;
    md_zdc_gen_free(&m->g);
    nn_params_free(&m->fast.ps);
    pp_scaler_free(&m->scaler);
    for (int t = 0; t < ZDC_MAX_SLOTS; t++)
        nn_ctx_free(m->ctx[t]);
    free(m);
}

int md_zdc_load(const char *path, md_zdc_model **out)
{
    *out = NULL;
    md_zdc_model *m = calloc(1, sizeof *m);
    if (!m)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    int rc = read_cfg_from(path, &m->cfg);
    hid_t f = -1, q;
    if (!rc)
        rc = gs_h5_open(path, 0, &f);
    if (!rc)
        rc = gs_h5_attr_read_i64(f, ".", "height", &m->h);
    if (!rc)
        rc = gs_h5_attr_read_i64(f, ".", "width", &m->w);
    if (!rc)
        rc = gs_h5_attr_read_i64(f, ".", "n_cond", &m->nc);
    if (!rc && (m->h < 8 || m->w < 8 || m->h > 4096 || m->w > 4096 || m->nc < 1 || m->nc > 4096))
        rc = gs_error(GS_ERR_FORMAT, "%s: bad image size or condition count", path);
    if (!rc && !(rc = gs_h5_group_open(f, "scaler", &q))) {
        rc = pp_scaler_load(&m->scaler, q);
        H5Gclose(q);
    }
    if (!rc && m->scaler.f != m->nc)
        rc = gs_error(GS_ERR_FORMAT, "%s: scaler has %lld features for %lld conditions", path,
                      (long long)m->scaler.f, (long long)m->nc);
    gs_rng r;
    gs_rng_seed(&r, 0);
    if (!rc)
        rc = md_zdc_gen_init(&m->g, &m->cfg, m->nc, m->h, m->w, &r);
    if (!rc)
        rc = nn_group_load(f, "G", &m->g.ps, NULL);
    if (!rc)
        rc = nn_group_load(f, "G_buf", &m->g.buf, NULL);
    if (!rc)
        rc = fast_init(&m->fast, &m->g);
    m->use_fast = 1;
    if (!rc && !(m->ctx[0] = nn_ctx_new()))
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    if (f >= 0)
        gs_h5_close(f);
    if (rc) {
        md_zdc_free(m);
        return gs_error_wrap(rc, "loading the model");
    }
    *out = m;
    return GS_OK;
}

int64_t md_zdc_n_cond(const md_zdc_model *m) { return m->nc; }

void md_zdc_image_shape(const md_zdc_model *m, int64_t *h, int64_t *w)
{
    *h = m->h;
    *w = m->w;
}

int md_zdc_sample(md_zdc_model *m, const float *cond, int64_t n, int64_t k, uint64_t seed,
                  ds_images *out)
{
    memset(out, 0, sizeof *out);
    if (n < 1 || k < 1)
        return gs_error(GS_ERR_ARG, "sample: need n >= 1 and k >= 1 (got %lld, %lld)",
                        (long long)n, (long long)k);
    int rc = ds_images_alloc(out, n * k, m->h, m->w, m->nc);
    if (rc)
        return rc;
    float *cs = malloc((size_t)(n * m->nc) * sizeof(float));
    if (!cs) {
        ds_images_free(out);
        return gs_error(GS_ERR_NOMEM, "sample: out of memory");
    }
    pp_scaler_transform(&m->scaler, cond, cs, n);
    gs_rng r;
    gs_rng_seed(&r, seed);
    rc = m->use_fast ? generate_fast(m, cs, n, k, &r, out->images)
                     : generate(m->ctx[0], &m->g, cs, n, k, &r, out->images);
    free(cs);
    for (int64_t i = 0; !rc && i < n * k; i++)
        memcpy(out->cond + i * m->nc, cond + (i / k) * m->nc, (size_t)m->nc * sizeof(float));
    if (rc)
        ds_images_free(out);
    return rc;
}

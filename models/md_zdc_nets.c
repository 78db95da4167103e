/* ZDC networks: the conditional generator, the conditional discriminator
 * and the auxiliary max-pixel regressor (docs/zdc.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/md_zdc_internal.h"
#include "nn/nn_specnorm.h"

#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f

static int64_t conv_s2(int64_t n) { return (n + 2 - 3) / 2 + 1; }

int md_zdc_gen_init(md_zdc_gen *g, const md_zdc_cfg *cfg, int64_t n_cond, int64_t h, int64_t w,
                    gs_rng *r)
{
    memset(g, 0, sizeof *g);
    nn_params_init(&g->ps);
    nn_params_init(&g->buf);
    int rc = md_zdc_check_cfg(cfg);
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
    int rc = md_zdc_check_cfg(cfg);
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
    /* the channel sums in photons: brightness is what the ZDC measures, and in
     * log space the convs see it mixed with the Poisson speckle of single
     * photons, which a smooth generator cannot draw (CaloGAN's D likewise
     * gets the energy per calorimeter layer) */
    d->sums = cfg->d_sums;
    if (!rc && d->sums) {
        d->chmask = calloc((size_t)(h * w * MT_ZDC_NCH), sizeof(float));
        if (!d->chmask)
            rc = gs_error_wrap(GS_ERR_NOMEM, "zdc: discriminator");
        for (int64_t p = 0; p < h * w && !rc; p++) {
            const int k = mt_zdc_channel_map((mt_zdc_map)cfg->channel_map, h, w, p / w, p % w);
            d->chmask[p * MT_ZDC_NCH + (k - 1)] = 1.0f;
            d->chpix[k - 1] += 1.0f;
        }
    }
    if (!rc)
        rc = nn_linear_layer_init(&d->fc1, &d->ps, "D.fc1",
                                  cin * hh * ww + n_cond + (d->sums ? MT_ZDC_NCH : 0), d->feat,
                                  true, NN_INIT_TORCH, r);
    if (!rc)
        rc = nn_linear_layer_init(&d->fc2, &d->ps, "D.fc2", d->feat, 1, true, NN_INIT_TORCH, r);
    /* projection discriminator: logit += <embed(c), f>, a bilinear term in
     * the conditions and the image features, so D can tell "a shower here
     * for these conditions" apart without building that product out of
     * LeakyReLUs of a sum (the concatenation alone) */
    d->proj = cfg->d_cond == 1;
    if (!rc && d->proj)
        rc = nn_linear_layer_init(&d->emb, &d->ps, "D.emb", n_cond, d->feat, false,
                                  NN_INIT_TORCH, r);
    /* spectral normalisation: one power-iteration vector per weight, drawn
     * after every weight so the weights are those of the plain D */
    d->sn = cfg->d_norm == 1 || cfg->d_norm == 3;
    d->ln = cfg->d_norm == 2 || cfg->d_norm == 3;
    /* layer norm only on the hidden dense layer: a per-sample norm of a conv
     * output would remove the overall brightness that tells real from fake
     * (the failure of batch norm there, docs/results/zdc-ablation.md) */
    if (!rc && d->ln) {
        d->ln_g = nn_param_new(&d->ps, "D.ln.g", 1, (int64_t[]){d->feat});
        d->ln_b = nn_param_new(&d->ps, "D.ln.b", 1, (int64_t[]){d->feat});
        if (!d->ln_g || !d->ln_b)
            rc = gs_error_wrap(GS_ERR_NOMEM, "zdc: discriminator");
        else
            nn_init_const(d->ln_g, 1.0f);
    }
    const int64_t sn_out[6] = {d->ch[0], d->ch[1], d->ch[2], d->feat, 1, d->feat};
    for (int i = 0; i < 5 + d->proj && !rc && d->sn; i++) {
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
    free(d->chmask);
    d->chmask = NULL;
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
    nn_tensor *x0 = x;
    if (!x)
        return NULL;
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
    nn_tensor *in = nn_concat(c, nn_flatten(c, x), cond);
    if (d->sums && in) {
        /* log(1 + S_k) = log(sum_k e^x - (n_k - 1)): x >= 0, so the argument is >= 1 */
        const int64_t b = x0->shape[0], px = d->h * d->w;
        nn_tensor *off = nn_new(c, 2, (int64_t[]){b, MT_ZDC_NCH});
        if (!off)
            return NULL;
        for (int64_t i = 0; i < b; i++)
            for (int k = 0; k < MT_ZDC_NCH; k++)
                off->data[i * MT_ZDC_NCH + k] = d->chpix[k] - 1.0f;
        nn_tensor *e = nn_exp(c, nn_reshape(c, x0, 2, (int64_t[]){b, px}));
        nn_tensor *s = nn_matmul(c, e, nn_input(c, 2, (int64_t[]){px, MT_ZDC_NCH}, d->chmask),
                                 false, false);
        in = nn_concat(c, in, nn_log(c, nn_sub(c, s, off)));
    }
    nn_tensor *h = nn_linear(c, in, d_weight(c, d, d->fc1.w, 3), d->fc1.b);
    if (d->ln)
        h = nn_layernorm(c, h, d->ln_g, d->ln_b, 1e-5f);
    nn_tensor *f = nn_leaky_relu(c, h, d->slope);
    if (feat)
        *feat = f;
    nn_tensor *y = nn_linear(c, f, d_weight(c, d, d->fc2.w, 4), d->fc2.b);
    if (d->proj)
        y = nn_add(c, y, nn_sum_rows(c, nn_mul(c, f, nn_linear(c, cond,
                                                               d_weight(c, d, d->emb.w, 5),
                                                               NULL))));
    return y;
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

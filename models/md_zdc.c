/* ZDC: configuration, the training state and step, evaluation, and the
 * md_kind_zdc entry (the loop around them is md_run's driver). */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/md_export_internal.h"
#include "models/md_zdc_internal.h"

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
    F("model.d_norm", MD_CFG_ENUM, d_norm, 0, 0, "none,spectral,layernorm,spectral_layernorm",
      "discriminator normalisation: spectral (every weight, Miyato et al. 2018), layernorm "
      "(of the hidden dense layer, Ba et al. 2016), both, or none"),
    F("model.loss", MD_CFG_ENUM, loss, 0, 0, "bce,hinge",
      "adversarial loss: non-saturating BCE (the ALICE design) or hinge (Lim & Ye 2017)"),
    F("model.d_cond", MD_CFG_ENUM, d_cond, 0, 0, "concat,projection",
      "how the discriminator sees the conditions: concatenated to its flattened features (the "
      "ALICE design), or that plus a projection term <embed(c), f> (Miyato & Koyama 2018)"),
    F("model.d_sums", MD_CFG_BOOL, d_sums, 0, 0, NULL,
      "the discriminator's dense layer also sees log(1 + the 5 ZDC channel sums in photons) "
      "(as CaloGAN's D sees its layer energies)"),
    F("model.d_mismatch", MD_CFG_FLOAT, d_mismatch, 0, 1, NULL,
      "weight w of real images shown with another row's conditions among the "
      "discriminator's fake examples (generated ones get 1 - w): a matching-aware D "
      "(Reed et al. 2016, GAN-CLS: 0.5) that must check the image against its "
      "conditions; 0 = off"),
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
    F("train.ema_warmup", MD_CFG_BOOL, ema_warmup, 0, 0, NULL,
      "the weight average's decay warms up as min(ema, (1 + n)/(10 + n)) at step n"),
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
    /* a quarter of the ALICE design's widths (128,64,32 / 32,64,128 / 128, docs/zdc.md):
     * the recipe below at these widths, batch 32 and 15 000 steps scored 1.86x the
     * real-vs-real floor of the mean channel W1 with a 6.3 % spread over 3 seeds in
     * ~840 CPU-s a run; the design widths at batch 64 need ~0.7 CPU-s a step, and
     * their 4300 steps (the 30 min of 2 cores) scored 1.97x on the one seed run
     * (docs/results/zdc-ablation.md, 2026-11-29) */
    c->g_channels = (md_ivec){3, {32, 16, 8}};
    c->d_channels = (md_ivec){3, {8, 16, 32}};
    c->d_hidden = 32;
    c->aux_channels = 16;
    c->slope = 0.2;
    c->dropout = 0.2;
    /* off by default, unlike the ALICE design (docs/zdc.md): measured on toy data (docs/results/
     * zdc-ablation.md), batch norm over all-real / all-fake batches hides the
     * overall brightness that separates them and the generator stays near
     * empty images (test W1 75.9 with it, 26.9 without, 3000 steps) */
    c->d_bn = 0;
    /* spectral normalisation of D: the lever that moved the toy numbers most
     * (docs/results/zdc-ablation.md "Convergence recipe": reduced widths,
     * 1500 steps, seed 1: test W1 87.9 without, 45.6 with, floor ~11);
     * BCE loss as the ALICE design */
    c->d_norm = 1;
    c->loss = 0;
    /* D also sees the 5 channel sums (log(1 + photons)): with the weight
     * average's warm-up it took the toy model from 2.6x to 1.6x the
     * real-vs-real floor of the mean channel W1 (reduced widths, 6000 steps,
     * seed 1; 3 seeds in docs/results/zdc-ablation.md, 2026-11-29); the
     * projection term (d_cond) made training unstable there */
    c->d_cond = 0;
    c->d_sums = 1;
    /* real images with another row's conditions as D's fake examples, half
     * the weight (GAN-CLS): on the toy, 6000 steps, seeds 1-3, the shower
     * centroid's distance from a real one of the same conditions fell from
     * 4.3x to 2.8x its floor on every seed, channel W1 unchanged
     * (docs/results/zdc-ablation.md, fifth session) */
    c->d_mismatch = 0.5;
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
    c->batch = 32; /* the measured recipe's (the design: 64) */
    /* 2e-4 for both (the DCGAN rate): the ALICE code's 1e-4 and a 10x slower
     * D (TTUR, 1e-4 / 1e-5) learned more slowly on the toy data at equal
     * steps (docs/results/zdc-ablation.md) */
    c->lr_g = 2e-4;
    c->lr_d = 2e-4;
    c->lr_aux = 1e-4;
    c->beta1 = 0.5;
    c->beta2 = 0.999;
    /* not in the ALICE design (docs/zdc.md): the evaluated / sampled generator is a weight average
     * (docs/zdc.md "Generator weight average"); measured on toy data it removes
     * most of the seed-to-seed spread of the plain GAN (test W1 56.0 -> 32.5 on
     * seed 2, 26.9 -> 24.8 on seed 1, 3000 steps, reduced widths) */
    c->ema = 0.995;
    c->ema_warmup = 1;
    c->iters = 15000; /* the measured recipe's budget: ~14 CPU-minutes */
    c->eval_every = 500;
    c->eval_rows = 1000;
    c->eval_repeats = 1;
    c->ckpt_every = 500;
    c->holdout = 0.1;
    c->seed = 1;
}

int md_zdc_check_cfg(const md_zdc_cfg *c)
{
    if (c->g_channels.n != 3)
        return gs_error(GS_ERR_ARG, "zdc: model.g_channels needs exactly 3 widths");
    if (c->d_channels.n != 3)
        return gs_error(GS_ERR_ARG, "zdc: model.d_channels needs exactly 3 widths");
    return GS_OK;
}

static void state_free(md_zdc_state *s)
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
static int state_init(md_zdc_state *s, const md_zdc_cfg *cfg, const ds_images *data)
{
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->nc = data->c;
    s->h = data->h;
    s->w = data->w;
    s->px = data->h * data->w;
    const int64_t n = data->n, nc = s->nc, px = s->px, b = cfg->batch;
    int rc = md_zdc_check_cfg(cfg);
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
    if ((rc = md_zdc_cond_groups(data->cond, n, nc, gid, &ng)))
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

static int compute_diversity(md_zdc_state *s)
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

/* Data-parallel (several ranks): this rank's stream for the discriminator's
 * dropout masks in one pass, split off the shared RNG (every rank splits
 * the same, so the shared stream stays equal on all ranks) and then per
 * rank, so each rank's rows get masks of their own. */
static gs_rng slice_stream(gs_rng *shared, int rank)
{
    gs_rng base = gs_rng_split(shared), mine = base;
    for (int i = 0; i <= rank; i++)
        mine = gs_rng_split(&base);
    return mine;
}

/* One D (and R) and G update. Over P ranks (run->par) the batch is cut into
 * P slices, rank r running rows [b r/P, b (r+1)/P): every rank draws every
 * batch row and all the noise from the shared RNG (so the RNGs stay equal),
 * computes its rows with its own dropout stream, scales its losses by its
 * share of the batch and md_run_reduce sums the gradients and the losses.
 * Batch norm then normalises each rank's rows with their own statistics
 * (as PyTorch's DistributedDataParallel without SyncBatchNorm): the step
 * is not the one-process step, and the running statistics are averaged
 * over the ranks after every step. One process: the rows, RNG use and
 * results of before. */
static int train_step(md_zdc_state *s, md_losses *out)
{
    out->n = 6;
    const md_zdc_cfg *cfg = &s->cfg;
    const int64_t b = cfg->batch, px = s->px, nc = s->nc, nz = cfg->noise_dim;
    const int np = s->run && s->run->par.n_ranks > 1 ? s->run->par.n_ranks : 1;
    const int rank = np > 1 ? s->run->par.rank : 0;
    const int64_t lo = b * rank / np, bl = b * (rank + 1) / np - lo;
    const float share = (float)bl / (float)b;
    nn_ctx *c = s->ctx;
    const int64_t img4[4] = {bl, 1, s->h, s->w};
    for (int64_t i = 0; i < b; i++) {
        const int64_t row = (int64_t)gs_rng_below(&s->rng, (uint64_t)s->n_train);
        if (i < lo || i >= lo + bl)
            continue;
        const int64_t j = i - lo;
        memcpy(s->bx + j * px, s->tx + row * px, (size_t)px * sizeof(float));
        memcpy(s->bc + j * nc, s->tc + row * nc, (size_t)nc * sizeof(float));
        s->bs[j] = s->ts[row];
        s->bsum[j] = s->tsum[row];
        s->bcoord[2 * j] = s->tcoord[2 * row];
        s->bcoord[2 * j + 1] = s->tcoord[2 * row + 1];
    }
    gs_rng drop, *dr = &s->rng;
    /* ---- discriminator: real -> 1, fake -> 0; G is a constant here ---- */
    nn_ctx_reset(c);
    nn_set_training(c, true);
    nn_params_zero_grad(&s->d.ps);
    gs_rng_fill_normal(&s->rng, s->bz, b * nz, 0.0f, 1.0f);
    if (np > 1) {
        drop = slice_stream(&s->rng, rank);
        dr = &drop;
    }
    nn_tensor *cond = nn_input(c, 2, (int64_t[]){bl, nc}, s->bc);
    nn_set_grad_enabled(c, false);
    nn_tensor *fake =
        md_zdc_gen_fwd(c, &s->g, nn_input(c, 2, (int64_t[]){bl, nz}, s->bz + lo * nz), cond);
    nn_set_grad_enabled(c, true);
    nn_tensor *real = nn_input(c, 4, img4, s->bx);
    nn_tensor *ones = nn_input(c, 2, (int64_t[]){bl, 1}, s->ones);
    nn_tensor *zeros = nn_input(c, 2, (int64_t[]){bl, 1}, s->zeros);
    nn_tensor *cond_mis = NULL;
    if (cfg->d_mismatch > 0) {
        /* real image j with row j + 1's conditions (cyclically, within this
         * rank's rows), in the half of bc the generator step fills later */
        float *cm = s->bc + bl * nc;
        for (int64_t j = 0; j < bl; j++)
            memcpy(cm + j * nc, s->bc + ((j + 1) % bl) * nc, (size_t)nc * sizeof(float));
        cond_mis = nn_input(c, 2, (int64_t[]){bl, nc}, cm);
    }
    nn_tensor *loss_d = md_zdc_d_loss(c, cfg, &s->d, real, fake, cond, cond_mis, ones, zeros, dr);
    if (np > 1)
        loss_d = nn_scale(c, loss_d, share);
    int rc = loss_d ? nn_backward(c, loss_d) : GS_ERR_NOMEM;
    float e[4] = {loss_d ? loss_d->data[0] : 0, 0, 0, 0};
    if (!rc)
        rc = md_run_reduce(s->run, &s->d.ps, e, 1);
    if (rc)
        return gs_error_wrap(rc, "zdc: discriminator step");
    nn_optim_step(&s->od);
    out->v[0] = np > 1 ? e[0] : loss_d->data[0];
    /* ---- auxiliary regressor on real images ---- */
    out->v[5] = 0;
    if (cfg->aux) {
        nn_ctx_reset(c);
        nn_params_zero_grad(&s->r.ps);
        nn_tensor *lrr = md_zdc_aux_loss(c, md_zdc_aux_fwd(c, &s->r, nn_input(c, 4, img4, s->bx)),
                                         s->bcoord, 1.0);
        if (np > 1)
            lrr = nn_scale(c, lrr, share);
        rc = lrr ? nn_backward(c, lrr) : GS_ERR_NOMEM;
        e[0] = lrr ? lrr->data[0] : 0;
        if (!rc)
            rc = md_run_reduce(s->run, &s->r.ps, e, 1);
        if (rc)
            return gs_error_wrap(rc, "zdc: regressor step");
        nn_optim_step(&s->orr);
        out->v[5] = np > 1 ? e[0] : lrr->data[0];
    }
    /* ---- generator: SDI draws two noises per condition, stacked as 2b rows ---- */
    nn_ctx_reset(c);
    nn_params_zero_grad(&s->g.ps);
    nn_params_set_requires_grad(&s->d.ps, false);
    if (cfg->aux)
        nn_params_set_requires_grad(&s->r.ps, false);
    const int64_t m = cfg->sdi ? 2 * bl : bl;
    gs_rng_fill_normal(&s->rng, s->bz, (cfg->sdi ? 2 * b : b) * nz, 0.0f, 1.0f);
    if (np > 1) {
        drop = slice_stream(&s->rng, rank);
        dr = &drop;
    }
    float *z = s->bz + lo * nz; /* this rank's noise rows (and their SDI twins next) */
    if (cfg->sdi && np > 1)
        memmove(z + bl * nz, s->bz + (b + lo) * nz, (size_t)(bl * nz) * sizeof(float));
    if (cfg->sdi)
        memcpy(s->bc + bl * nc, s->bc, (size_t)(bl * nc) * sizeof(float));
    nn_tensor *cm = nn_input(c, 2, (int64_t[]){m, nc}, s->bc);
    nn_tensor *gen = md_zdc_gen_fwd(c, &s->g, nn_input(c, 2, (int64_t[]){m, nz}, z), cm);
    nn_tensor *feat = NULL;
    nn_tensor *lg = md_zdc_disc_fwd(c, &s->d, gen, cm, dr, &feat);
    nn_tensor *loss_g = cfg->loss == 1
                            ? nn_scale(c, nn_mean(c, lg), -1.0f)
                            : nn_bce_with_logits(c, lg, nn_input(c, 2, (int64_t[]){m, 1}, s->ones));
    nn_tensor *total = loss_g;
    nn_tensor *gen1 = cfg->sdi ? half_rows(c, gen, bl, 0) : gen;
    nn_tensor *ldiv = NULL, *lint = NULL, *laux = NULL;
    if (cfg->sdi) {
        nn_tensor *f = cfg->sdi_space == 0 ? feat : nn_flatten(c, gen);
        ldiv = md_zdc_sdi_loss(c, half_rows(c, f, bl, 0), half_rows(c, f, bl, 1), z,
                               z + bl * nz, nz, s->bs, s->mean_s, cfg->sdi_lambda);
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
    if (np > 1)
        total = nn_scale(c, total, share);
    rc = total ? nn_backward(c, total) : GS_ERR_NOMEM;
    nn_params_set_requires_grad(&s->d.ps, true);
    if (cfg->aux)
        nn_params_set_requires_grad(&s->r.ps, true);
    e[0] = loss_g ? loss_g->data[0] * share : 0;
    e[1] = ldiv ? ldiv->data[0] * share : 0;
    e[2] = lint ? lint->data[0] * share : 0;
    e[3] = laux ? laux->data[0] * share : 0;
    if (!rc)
        rc = md_run_reduce(s->run, &s->g.ps, e, 4);
    if (rc)
        return gs_error_wrap(rc, "zdc: generator step");
    nn_optim_step(&s->og);
    /* every rank's batch-norm running statistics came from its own rows */
    if (np > 1 && (rc = md_run_mean_data(s->run, &s->g.buf)))
        return gs_error_wrap(rc, "zdc: batch-norm statistics");
    if (cfg->ema > 0) { /* the BN running statistics are averaged like the weights;
                          * with the warm-up, so a short run's average is not
                          * mostly the initial weights */
        const float decay = cfg->ema_warmup ? nn_ema_decay(cfg->ema, s->step) : (float)cfg->ema;
        nn_params_ema(&s->ema.ps, &s->g.ps, decay);
        nn_params_ema(&s->ema.buf, &s->g.buf, decay);
    }
    s->step++;
    if (np > 1) {
        for (int i = 0; i < 4; i++)
            out->v[1 + i] = e[i];
    } else {
        out->v[1] = loss_g->data[0];
        out->v[2] = ldiv ? ldiv->data[0] : 0;
        out->v[3] = lint ? lint->data[0] : 0;
        out->v[4] = laux ? laux->data[0] : 0;
    }
    if (!isfinite(out->v[0]))
        return fail_numeric("the discriminator loss", out->v[0], s->step);
    if (!isfinite(total->data[0]))
        return fail_numeric("the generator loss", total->data[0], s->step);
    return GS_OK;
}

const md_zdc_gen *md_zdc_eval_gen(const md_zdc_state *s)
{
    return s->cfg.ema > 0 ? &s->ema : &s->g;
}

/* Mean channel W1 of generated vs held-out images, in pixel space. */
static int evaluate(md_zdc_state *s, mt_image_metrics *m)
{
    gs_rng r;
    gs_rng_seed(&r, (uint64_t)s->cfg.seed * 31 + 7 + (uint64_t)s->step);
    int rc = md_zdc_generate(s->ctx, md_zdc_eval_gen(s), s->hc, s->n_eval, s->cfg.eval_repeats,
                             &r, s->gen);
    if (!rc)
        rc = mt_compare_images_map((mt_zdc_map)s->cfg.channel_map, s->hx, s->n_eval, s->gen,
                                   s->n_eval * s->cfg.eval_repeats, s->h, s->w, m);
    return rc;
}

/* ---- training data ------------------------------------------------------------ */
int md_zdc_data_read(const char *path, const ds_read_opts *o, void **out)
{
    *out = NULL;
    ds_images *im = malloc(sizeof *im);
    if (!im)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    int rc = ds_images_read(path, o, im);
    if (rc) {
        free(im);
        return rc;
    }
    *out = im;
    return GS_OK;
}

void md_zdc_data_free(void *data)
{
    if (data)
        ds_images_free(data);
    free(data);
}

void md_zdc_data_describe(const void *data, char *buf, size_t n)
{
    const ds_images *im = data;
    snprintf(buf, n, "%lld images %lldx%lld, %lld conditions", (long long)im->n,
             (long long)im->h, (long long)im->w, (long long)im->c);
}

/* ---- the training run (md_run.h) ------------------------------------------------ */
static void zdc_free(md_run *run)
{
    if (run->state)
        state_free(run->state);
    free(run->state);
    run->state = NULL;
}

static int zdc_init(md_run *run, hid_t from)
{
    const md_zdc_cfg *cfg = run->cfg;
    const ds_images *data = run->data;
    if (data->n < 4)
        return gs_error(GS_ERR_ARG, "zdc: need at least 4 images, got %lld", (long long)data->n);
    if (run->par.n_ranks > cfg->batch)
        return gs_error(GS_ERR_ARG, "zdc: batch %lld is smaller than the %d ranks sharing it",
                        (long long)cfg->batch, run->par.n_ranks);
    md_zdc_state *s = calloc(1, sizeof *s);
    if (!s)
        return gs_error(GS_ERR_NOMEM, "zdc: out of memory");
    run->state = s;
    int rc = state_init(s, cfg, data);
    s->run = run;
    run->n_parts = 1;
    run->parts[0].steps = cfg->iters;
    run->eval_every = cfg->eval_every;
    run->ckpt_every = cfg->ckpt_every;
    if (!rc && from >= 0)
        rc = md_zdc_load_state(from, run);
    else if (!rc && cfg->sdi)
        rc = compute_diversity(s);
    return rc;
}

static int zdc_step(md_run *run, int k, md_losses *out)
{
    md_zdc_state *s = run->state;
    int rc = train_step(s, out);
    if (!rc)
        rc = md_run_check_same(run, k, &s->g.ps);
    if (!rc)
        rc = md_run_check_same(run, k, &s->d.ps);
    return rc;
}

static int zdc_evaluate(md_run *run, int k, md_record *rec, double *score)
{
    mt_image_metrics m;
    int rc = evaluate(run->state, &m);
    if (rc)
        return rc;
    for (int j = 0; j < MT_ZDC_NCH; j++) {
        char key[32];
        snprintf(key, sizeof key, "w1_ch%d", j + 1);
        md_record_add(rec, key, m.ch_w1[j]);
    }
    md_record_add(rec, "w1_mean", m.ch_mean_w1);
    /* the best including this evaluation (the driver updates it next) */
    const double best = run->parts[k].best;
    md_record_add(rec, "best_w1", !(m.ch_mean_w1 >= best) ? m.ch_mean_w1 : best);
    md_record_add(rec, "intensity_w1", m.intensity_w1);
    *score = m.ch_mean_w1;
    return GS_OK;
}

static int zdc_keep_best(md_run *run, int k)
{
    md_zdc_state *s = run->state;
    int rc = nn_params_copy(&s->best.ps, &md_zdc_eval_gen(s)->ps);
    return rc ? rc : nn_params_copy(&s->best.buf, &md_zdc_eval_gen(s)->buf);
}

static void zdc_log_header(const md_run *run, FILE *log)
{
    const md_zdc_state *s = run->state;
    const md_zdc_cfg *cfg = &s->cfg;
    fprintf(log, "# gansim %s zdc_gan: %lld training images, %lld held out (%lld used per "
                 "evaluation), %lldx%lld, %lld conditions\n", GANSIM_VERSION,
            (long long)s->n_train, (long long)s->n_hold, (long long)s->n_eval, (long long)s->h,
            (long long)s->w, (long long)s->nc);
    /* no key=value here: log readers take those for records */
    fprintf(log, "# regularisers: sdi %s (lambda %g, mean s %.4f), intensity %s (lambda %g), "
                 "aux %s (lambda %g), mismatched conditions in D %g\n", cfg->sdi ? "on" : "off",
            cfg->sdi_lambda, s->mean_s, cfg->intensity ? "on" : "off", cfg->intensity_lambda,
            cfg->aux ? "on" : "off", cfg->aux_lambda, cfg->d_mismatch);
}

int md_zdc_train(const md_zdc_cfg *cfg, const ds_images *data, const md_train_opts *opts,
                 int *stopped)
{
    return md_train(&md_kind_zdc, cfg, data, opts, stopped);
}

static void cfg_default(void *cfg) { md_zdc_cfg_default(cfg); }

/* Defaults under a stored configuration: keys that files written before them
 * lack take the behaviour those files were trained with (plain D, BCE loss,
 * concatenated conditions, no channel sums, no warm-up of the average);
 * a newer file names every key. */
void md_zdc_cfg_design_widths(md_zdc_cfg *c)
{
    c->g_channels = (md_ivec){3, {128, 64, 32}};
    c->d_channels = (md_ivec){3, {32, 64, 128}};
    c->d_hidden = 128;
}

static void cfg_stored_default(void *cfg)
{
    md_zdc_cfg *c = cfg;
    md_zdc_cfg_default(c);
    /* the widths, batch and budget of files written before the reduced defaults */
    md_zdc_cfg_design_widths(c);
    c->batch = 64;
    c->iters = 10000;
    c->d_norm = 0;
    c->loss = 0;
    c->d_cond = 0;
    c->d_sums = 0;
    c->d_mismatch = 0;
    c->ema_warmup = 0; /* so an older run resumes with the average it started with */
}

static const char *const loss_names[] = {"loss_d", "loss_g", "loss_div", "loss_int",
                                         "loss_aux", "loss_r", NULL};
static const char *const loss_labels[] = {"D", "G", "div", "int", "aux", NULL, NULL};

const md_kind md_kind_zdc = {
    .name = "zdc",
    .file_kind = "zdc_gan",
    .summary = "ALICE ZDC: conditional conv GAN on calorimeter images",
    .cfg_fields = md_zdc_cfg_fields,
    .cfg_size = sizeof(md_zdc_cfg),
    .cfg_default = cfg_default,
    .cfg_stored_default = cfg_stored_default,
    .data_help = "HDF5 image set (/images, /conditions)",
    .data_read = md_zdc_data_read,
    .data_free = md_zdc_data_free,
    .data_describe = md_zdc_data_describe,
    .loss_names = loss_names,
    .loss_labels = loss_labels,
    .score_name = "w1_mean",
    .score_label = "W1",
    .parts_in_log = 0,
    .init = zdc_init,
    .step = zdc_step,
    .evaluate = zdc_evaluate,
    .keep_best = zdc_keep_best,
    .log_header = zdc_log_header,
    .save = md_zdc_save,
    .free = zdc_free,
    .open = md_zdc_open,
    .close = md_zdc_close,
    .images = &md_zdc_images,
    .export_onnx = md_export_zdc,
};

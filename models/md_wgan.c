#include "models/md_wgan.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_ckpt.h"

/* ---- MLP ---------------------------------------------------------------- */
int md_mlp_init(md_mlp *m, nn_params *ps, const char *prefix, const md_mlp_cfg *cfg, gs_rng *r)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (cfg->depth < 0 || cfg->depth > MD_MAX_LAYERS)
        return gs_error(GS_ERR_ARG, "%s: depth %d not in 0..%d", prefix, cfg->depth, MD_MAX_LAYERS);
    int64_t in = cfg->n_in;
    char name[128];
    for (int i = 0; i <= cfg->depth; i++) {
        int64_t out = i < cfg->depth ? cfg->widths[i] : cfg->n_out;
        snprintf(name, sizeof name, "%s.l%d", prefix, i);
        int rc = nn_linear_layer_init(&m->l[i], ps, name, in, out, true, NN_INIT_TORCH, r);
        if (rc)
            return rc;
        if (i < cfg->depth && cfg->norm == MD_NORM_LAYER) {
            snprintf(name, sizeof name, "%s.ln%d.g", prefix, i);
            if (!(m->ln_g[i] = nn_param_new(ps, name, 1, (int64_t[]){out})))
                return GS_ERR_NOMEM;
            nn_init_const(m->ln_g[i], 1.0f);
            snprintf(name, sizeof name, "%s.ln%d.b", prefix, i);
            if (!(m->ln_b[i] = nn_param_new(ps, name, 1, (int64_t[]){out})))
                return GS_ERR_NOMEM;
        }
        in = out;
    }
    return GS_OK;
}

nn_tensor *md_mlp_fwd(nn_ctx *c, const md_mlp *m, nn_tensor *x)
{
    for (int i = 0; i <= m->cfg.depth; i++) {
        const bool hidden = i < m->cfg.depth;
        if (hidden && m->cfg.norm == MD_NORM_NONE) {
            /* one op: bias and activation fused onto the sgemm (nn.h) */
            x = nn_linear_leaky_relu(c, x, m->l[i].w, m->l[i].b, m->cfg.slope);
            continue;
        }
        x = nn_linear_layer_fwd(c, &m->l[i], x);
        if (hidden) {
            if (m->cfg.norm == MD_NORM_LAYER)
                x = nn_layernorm(c, x, m->ln_g[i], m->ln_b[i], 1e-5f);
            x = nn_leaky_relu(c, x, m->cfg.slope);
        }
    }
    return x;
}

/* ---- sampler ---------------------------------------------------------------- */
int md_sampler_init(md_sampler *s, int64_t n, const float *weights)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    if (n <= 0)
        return gs_error(GS_ERR_ARG, "sampler over no rows");
    if (!weights)
        return GS_OK;
    s->prob = malloc((size_t)n * sizeof *s->prob);
    s->alias = malloc((size_t)n * sizeof *s->alias);
    int64_t *small = malloc((size_t)n * sizeof *small), *large = malloc((size_t)n * sizeof *large);
    double *p = malloc((size_t)n * sizeof *p);
    int rc = GS_OK;
    if (!s->prob || !s->alias || !small || !large || !p) {
        rc = gs_error(GS_ERR_NOMEM, "out of memory for the weighted sampler");
        goto out;
    }
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!(weights[i] >= 0) || !isfinite(weights[i])) {
            rc = gs_error(GS_ERR_NUMERIC, "weight of row %lld is %g (must be finite, >= 0)",
                          (long long)i, (double)weights[i]);
            goto out;
        }
        sum += weights[i];
    }
    if (!(sum > 0)) {
        rc = gs_error(GS_ERR_NUMERIC, "all weights are zero");
        goto out;
    }
    /* Vose's stable construction of Walker's alias table */
    int64_t ns = 0, nl = 0;
    for (int64_t i = 0; i < n; i++) {
        p[i] = weights[i] * (double)n / sum;
        if (p[i] < 1.0)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns && nl) {
        int64_t a = small[--ns], b = large[--nl];
        s->prob[a] = (float)p[a];
        s->alias[a] = b;
        p[b] = (p[b] + p[a]) - 1.0;
        if (p[b] < 1.0)
            small[ns++] = b;
        else
            large[nl++] = b;
    }
    while (nl) {
        int64_t b = large[--nl];
        s->prob[b] = 1.0f;
        s->alias[b] = b;
    }
    while (ns) {
        int64_t a = small[--ns];
        s->prob[a] = 1.0f;
        s->alias[a] = a;
    }
out:
    free(small);
    free(large);
    free(p);
    if (rc)
        md_sampler_free(s);
    return rc;
}

int64_t md_sampler_draw(const md_sampler *s, gs_rng *r)
{
    int64_t i = (int64_t)gs_rng_below(r, (uint64_t)s->n);
    if (!s->prob)
        return i;
    return gs_rng_uniform(r) < s->prob[i] ? i : s->alias[i];
}

void md_sampler_free(md_sampler *s)
{
    free(s->prob);
    free(s->alias);
    s->prob = NULL;
    s->alias = NULL;
}

/* ---- WGAN -------------------------------------------------------------- */
enum { NOISE_BLOCK = 64 }; /* rows of noise per RNG stream (draw_noise) */

static nn_tensor *twin(const nn_params *from, const nn_params *to, nn_tensor *t)
{
    if (!t)
        return NULL;
    for (int i = 0; i < from->n; i++)
        if (from->p[i] == t)
            return to->p[i];
    return NULL;
}

/* dst = src with every parameter replaced by its twin in `to` */
static void mlp_rebind(md_mlp *dst, const md_mlp *src, const nn_params *from,
                       const nn_params *to)
{
    *dst = *src;
    for (int i = 0; i <= src->cfg.depth; i++) {
        dst->l[i].w = twin(from, to, src->l[i].w);
        dst->l[i].b = twin(from, to, src->l[i].b);
        if (i < src->cfg.depth) {
            dst->ln_g[i] = twin(from, to, src->ln_g[i]);
            dst->ln_b[i] = twin(from, to, src->ln_b[i]);
        }
    }
}

static int shards_init(md_wgan *w)
{
    const int64_t b = w->cfg.batch;
    const int64_t np = w->cfg.n_ranks > 1 ? w->cfg.n_ranks : 1, rank = np > 1 ? w->cfg.rank : 0;
    if (b < np)
        return gs_error(GS_ERR_ARG, "batch %lld is smaller than the %lld ranks sharing it",
                        (long long)b, (long long)np);
    if (rank < 0 || rank >= np)
        return gs_error(GS_ERR_ARG, "rank %lld of %lld", (long long)rank, (long long)np);
    /* cfg.shards > 0 fixes the slices of the whole batch (over all ranks):
     * the same run for any thread and rank count. 0: one slice per thread
     * of every rank, each with at least 64 rows. */
    int64_t total, first, n;
    if (w->cfg.shards > 0) {
        total = w->cfg.shards;
        if (total < np)
            return gs_error(GS_ERR_ARG, "%lld batch slices for %lld ranks: each rank needs one "
                            "(train.slices)", (long long)total, (long long)np);
        first = total * rank / np;
        n = total * (rank + 1) / np - first;
        if (n > MD_MAX_SHARDS)
            return gs_error(GS_ERR_ARG, "%lld batch slices on one rank, at most %d "
                            "(train.slices / ranks)", (long long)n, MD_MAX_SHARDS);
    } else {
        n = nn_get_threads();
        if (n > b / np / 64)
            n = b / np / 64;
        if (n > MD_MAX_SHARDS)
            n = MD_MAX_SHARDS;
        if (n < 1)
            n = 1;
        total = n * np;
        first = rank * n;
    }
    if (total > b)
        return gs_error(GS_ERR_ARG, "%lld batch slices for a batch of %lld", (long long)total,
                        (long long)b);
    w->n_shards = (int)n;
    for (int i = 0; i < w->n_shards; i++) {
        md_wgan_shard *s = &w->sh[i];
        s->r0 = b * (first + i) / total;
        s->rows = b * (first + i + 1) / total - s->r0;
        if (i == 0) {
            s->ctx = w->ctx;
            s->gps = &w->gp;
            s->dps = &w->dp;
            s->g = w->g;
            s->d = w->d;
            continue;
        }
        int rc = nn_params_shadow(&s->own_g, &w->gp);
        if (!rc)
            rc = nn_params_shadow(&s->own_d, &w->dp);
        if (rc)
            return rc;
        if (!(s->ctx = nn_ctx_new()))
            return gs_error(GS_ERR_NOMEM, "out of memory for a WGAN shard");
        s->gps = &s->own_g;
        s->dps = &s->own_d;
        mlp_rebind(&s->g, &w->g, &w->gp, &s->own_g);
        mlp_rebind(&s->d, &w->d, &w->dp, &s->own_d);
    }
    return GS_OK;
}

int md_wgan_init(md_wgan *w, const md_wgan_cfg *cfg, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    w->cfg = *cfg;
    w->cfg.g.n_in = cfg->noise_dim;
    w->cfg.g.n_out = cfg->n_features;
    w->cfg.d.n_in = cfg->n_features;
    w->cfg.d.n_out = 1;
    nn_params_init(&w->gp);
    nn_params_init(&w->dp);
    nn_params_init(&w->ep);
    gs_rng_seed(&w->rng, seed);
    int rc = md_mlp_init(&w->g, &w->gp, "G", &w->cfg.g, &w->rng);
    if (!rc)
        rc = md_mlp_init(&w->d, &w->dp, "D", &w->cfg.d, &w->rng);
    if (!rc && cfg->ema > 0) {
        gs_rng tmp = w->rng; /* the EMA copy's init values are overwritten below */
        rc = md_mlp_init(&w->g_ema, &w->ep, "G", &w->cfg.g, &tmp);
        if (!rc)
            rc = nn_params_copy(&w->ep, &w->gp);
        nn_params_set_requires_grad(&w->ep, false);
    }
    if (rc)
        goto fail;
    nn_optim_cfg oc;
    if (cfg->loss == MD_LOSS_WGAN_GP) {
        oc = nn_optim_defaults(NN_OPT_ADAM, cfg->lr_g);
        oc.beta1 = cfg->beta1;
        oc.beta2 = cfg->beta2;
    } else {
        oc = nn_optim_defaults(NN_OPT_RMSPROP, cfg->lr_g);
    }
    if ((rc = nn_optim_init(&w->og, &w->gp, &oc)))
        goto fail;
    oc.lr = cfg->lr_d;
    if ((rc = nn_optim_init(&w->od, &w->dp, &oc)))
        goto fail;
    const int64_t b = cfg->batch, f = cfg->n_features;
    w->real = malloc((size_t)(b * f) * sizeof(float));
    w->noise = malloc((size_t)(b * cfg->noise_dim) * sizeof(float));
    w->eps = malloc((size_t)b * sizeof(float));
    w->streams = malloc((size_t)((b + NOISE_BLOCK - 1) / NOISE_BLOCK) * sizeof(gs_rng));
    w->ctx = nn_ctx_new();
    if (!w->real || !w->noise || !w->eps || !w->streams || !w->ctx) {
        rc = gs_error(GS_ERR_NOMEM, "out of memory for the WGAN batch buffers");
        goto fail;
    }
    if ((rc = shards_init(w)))
        goto fail;
    return GS_OK;
fail:
    md_wgan_free(w);
    return rc;
}

void md_wgan_free(md_wgan *w)
{
    for (int i = 1; i < w->n_shards; i++) {
        nn_params_free(&w->sh[i].own_g);
        nn_params_free(&w->sh[i].own_d);
        nn_ctx_free(w->sh[i].ctx);
    }
    nn_optim_free(&w->og);
    nn_optim_free(&w->od);
    nn_params_free(&w->gp);
    nn_params_free(&w->dp);
    nn_params_free(&w->ep);
    nn_ctx_free(w->ctx);
    free(w->real);
    free(w->noise);
    free(w->eps);
    free(w->streams);
    memset(w, 0, sizeof *w);
}

/* This rank's rows of the batch: [own_lo, own_hi). */
static int64_t own_lo(const md_wgan *w) { return w->sh[0].r0; }
static int64_t own_hi(const md_wgan *w)
{
    return w->sh[w->n_shards - 1].r0 + w->sh[w->n_shards - 1].rows;
}

/* The batch's noise, in blocks of NOISE_BLOCK rows, each from its own
 * stream split off the model's RNG in block order: filled in parallel,
 * and the same numbers whatever the thread and slice counts. */
static void draw_noise(md_wgan *w)
{
    const int64_t b = w->cfg.batch, nd = w->cfg.noise_dim;
    const int64_t nb = (b + NOISE_BLOCK - 1) / NOISE_BLOCK;
    for (int64_t k = 0; k < nb; k++)
        w->streams[k] = gs_rng_split(&w->rng);
    /* blocks holding this rank's rows (all of them in one process) */
    const int64_t k0 = own_lo(w) / NOISE_BLOCK, k1 = (own_hi(w) + NOISE_BLOCK - 1) / NOISE_BLOCK;
#pragma omp parallel for schedule(static) if (k1 - k0 > 1 && b * nd > 4096)
    for (int64_t k = k0; k < k1; k++) {
        const int64_t rows = b - k * NOISE_BLOCK < NOISE_BLOCK ? b - k * NOISE_BLOCK : NOISE_BLOCK;
        gs_rng_fill_normal(&w->streams[k], w->noise + k * NOISE_BLOCK * nd, rows * nd, 0.0f,
                           1.0f);
    }
}

/* Runs fn on every shard, in parallel when there are several, each on one
 * thread with single-threaded kernels and BLAS (nn_run_jobs): one fork/join
 * per pass instead of one per GEMM. */
typedef struct {
    md_wgan *w;
    int (*fn)(md_wgan *, md_wgan_shard *);
} shard_pass;

static int shard_job(void *arg, int i, int slot)
{
    (void)slot; /* each shard owns its context */
    shard_pass *p = arg;
    return p->fn(p->w, &p->w->sh[i]);
}

static int run_shards(md_wgan *w, int (*fn)(md_wgan *, md_wgan_shard *))
{
    /* auto slicing with one slice: the kernels thread inside it instead */
    if (w->n_shards == 1 && w->cfg.shards <= 0)
        return fn(w, &w->sh[0]);
    shard_pass p = {w, fn};
    const int threads = nn_get_threads();
    return nn_run_jobs(w->n_shards, threads < w->n_shards ? threads : w->n_shards, shard_job, &p);
}

/* Sums the shards' gradients into the model's (shard 0's) sets. */
static int reduce_grads(md_wgan *w, bool critic)
{
    for (int i = 1; i < w->n_shards; i++) {
        int rc = critic ? nn_params_add_grads(&w->dp, &w->sh[i].own_d)
                        : nn_params_add_grads(&w->gp, &w->sh[i].own_g);
        if (rc)
            return rc;
    }
    return GS_OK;
}

/* Switches gradients on for one network in every shard and off for the
 * other (a constant in this pass). Each shard zeroes its own gradients,
 * on its own thread. */
static void prepare_pass(md_wgan *w, bool critic)
{
    for (int i = 0; i < w->n_shards; i++) {
        md_wgan_shard *s = &w->sh[i];
        nn_params_set_requires_grad(s->dps, critic);
        nn_params_set_requires_grad(s->gps, !critic);
    }
}

static void restore_requires_grad(md_wgan *w)
{
    for (int i = 0; i < w->n_shards; i++) {
        nn_params_set_requires_grad(w->sh[i].dps, true);
        nn_params_set_requires_grad(w->sh[i].gps, true);
    }
}

/* One slice of a critic step. Each term is its slice's share of the batch
 * mean (mean over the slice times rows / batch), so the shards' losses
 * and gradients add up to the full-batch ones. */
static int critic_shard(md_wgan *w, md_wgan_shard *s)
{
    nn_ctx *c = s->ctx;
    const int64_t b = s->rows, f = w->cfg.n_features, nd = w->cfg.noise_dim;
    const float share = (float)b / (float)w->cfg.batch;
    const float *real_rows = w->real + s->r0 * f, *eps = w->eps + s->r0;
    nn_params_zero_grad(s->dps);
    nn_ctx_reset(c);
    nn_tensor *fake = md_mlp_fwd(c, &s->g, nn_input(c, 2, (int64_t[]){b, nd}, w->noise + s->r0 * nd));
    nn_tensor *real = nn_input(c, 2, (int64_t[]){b, f}, real_rows);
    if (!fake || !real)
        return GS_ERR_NOMEM;
    nn_tensor *d_real = nn_mean(c, md_mlp_fwd(c, &s->d, real));
    nn_tensor *d_fake = nn_mean(c, md_mlp_fwd(c, &s->d, fake));
    nn_tensor *wdist = nn_scale(c, nn_sub(c, d_real, d_fake), share);
    nn_tensor *loss = nn_scale(c, wdist, -1.0f);
    nn_tensor *gp = NULL;
    if (w->cfg.loss == MD_LOSS_WGAN_GP) {
        /* x^ = e x + (1 - e) G(z), one e per row; a leaf: the penalty's
         * parameter gradient flows through the critic only */
        nn_tensor *xh = nn_new(c, 2, (int64_t[]){b, f});
        if (!xh)
            return GS_ERR_NOMEM;
        for (int64_t i = 0; i < b; i++)
            for (int64_t j = 0; j < f; j++)
                xh->data[i * f + j] =
                    eps[i] * real_rows[i * f + j] + (1.0f - eps[i]) * fake->data[i * f + j];
        nn_set_requires_grad(xh, true);
        nn_tensor *gx;
        int rc = nn_grad(c, nn_sum(c, md_mlp_fwd(c, &s->d, xh)), 1, &xh, &gx, true);
        if (rc)
            return rc;
        nn_tensor *norm = nn_sqrt(c, nn_add_scalar(c, nn_sum_rows(c, nn_square(c, gx)), 1e-12f));
        gp = nn_scale(c, nn_mean(c, nn_square(c, nn_add_scalar(c, norm, -1.0f))), share);
        loss = nn_add(c, loss, nn_scale(c, gp, w->cfg.lambda_gp));
    }
    int rc = nn_backward(c, loss);
    if (rc)
        return rc;
    s->loss = loss->data[0];
    s->wdist = wdist->data[0];
    s->gp = gp ? gp->data[0] : 0.0;
    return GS_OK;
}

static int critic_step(md_wgan *w, const float *data, const md_sampler *smp, md_wgan_losses *out)
{
    const int64_t b = w->cfg.batch, f = w->cfg.n_features, lo = own_lo(w), hi = own_hi(w);
    /* every random number is drawn here, in one order, whatever the shards
     * and ranks; each rank copies only its own rows */
    for (int64_t i = 0; i < b; i++) {
        const int64_t row = md_sampler_draw(smp, &w->rng);
        if (i >= lo && i < hi)
            memcpy(w->real + i * f, data + row * f, (size_t)f * sizeof(float));
    }
    draw_noise(w);
    if (w->cfg.loss == MD_LOSS_WGAN_GP)
        gs_rng_fill_uniform(&w->rng, w->eps, b, 0.0f, 1.0f);
    prepare_pass(w, true);
    int rc = run_shards(w, critic_shard);
    restore_requires_grad(w);
    if (!rc)
        rc = reduce_grads(w, true);
    out->loss_d = out->wdist = out->gp = 0.0;
    for (int i = 0; i < w->n_shards; i++) {
        out->loss_d += w->sh[i].loss;
        out->wdist += w->sh[i].wdist;
        out->gp += w->sh[i].gp;
    }
    if (!rc && w->reduce.fn) { /* the losses travel with the gradients (one message) */
        float e[3] = {(float)out->loss_d, (float)out->wdist, (float)out->gp};
        rc = w->reduce.fn(w->reduce.ud, &w->dp, e, 3);
        out->loss_d = e[0];
        out->wdist = e[1];
        out->gp = e[2];
    }
    if (rc)
        return rc;
    nn_optim_step(&w->od);
    if (w->cfg.loss == MD_LOSS_WGAN_CLIP)
        nn_params_clip(&w->dp, w->cfg.clip);
    if (!isfinite(out->loss_d))
        return gs_error(GS_ERR_NUMERIC, "critic loss is %g at step %lld", out->loss_d,
                        (long long)w->step);
    return GS_OK;
}

static int generator_shard(md_wgan *w, md_wgan_shard *s)
{
    nn_ctx *c = s->ctx;
    const int64_t nd = w->cfg.noise_dim;
    nn_params_zero_grad(s->gps);
    nn_ctx_reset(c);
    nn_tensor *z = nn_input(c, 2, (int64_t[]){s->rows, nd}, w->noise + s->r0 * nd);
    nn_tensor *loss = nn_scale(c, nn_mean(c, md_mlp_fwd(c, &s->d, md_mlp_fwd(c, &s->g, z))),
                               -(float)s->rows / (float)w->cfg.batch);
    int rc = nn_backward(c, loss);
    if (rc)
        return rc;
    s->loss = loss->data[0];
    return GS_OK;
}

int md_wgan_step(md_wgan *w, const float *data, const md_sampler *s, md_wgan_losses *out)
{
    for (int k = 0; k < w->cfg.n_critic; k++) {
        int rc = critic_step(w, data, s, out);
        if (rc)
            return rc;
    }
    draw_noise(w);
    prepare_pass(w, false);
    int rc = run_shards(w, generator_shard);
    restore_requires_grad(w);
    if (!rc)
        rc = reduce_grads(w, false);
    out->loss_g = 0.0;
    for (int i = 0; i < w->n_shards; i++)
        out->loss_g += w->sh[i].loss;
    if (!rc && w->reduce.fn) {
        float e = (float)out->loss_g;
        rc = w->reduce.fn(w->reduce.ud, &w->gp, &e, 1);
        out->loss_g = e;
    }
    if (rc)
        return rc;
    nn_optim_step(&w->og);
    if (w->cfg.ema > 0) {
        /* warm-up (nn_ema_decay): a fixed decay of 0.995 would still give the
         * random initial weights 37 % of the average after 200 steps (the step
         * floor of a small LUXE sub-model) */
        nn_params_ema(&w->ep, &w->gp, nn_ema_decay(w->cfg.ema, w->step));
    }
    w->step++;
    if (!isfinite(out->loss_g))
        return gs_error(GS_ERR_NUMERIC, "generator loss is %g at step %lld", out->loss_g,
                        (long long)w->step);
    return GS_OK;
}

/* One chunk: its noise in fixed blocks of rows, each from its own stream,
 * then the generator. */
enum { GEN_CHUNK = 4096, GEN_BLOCK = 256 };

static int generate_chunk(nn_ctx *c, const md_mlp *g, int64_t noise_dim, int64_t m,
                          gs_rng *streams, float *out)
{
    nn_ctx_reset(c);
    nn_tensor *z = nn_new(c, 2, (int64_t[]){m, noise_dim});
    if (z) {
        const int64_t nb = (m + GEN_BLOCK - 1) / GEN_BLOCK;
#pragma omp parallel for schedule(static)
        for (int64_t b = 0; b < nb; b++) {
            int64_t rows = m - b * GEN_BLOCK < GEN_BLOCK ? m - b * GEN_BLOCK : GEN_BLOCK;
            gs_rng_fill_normal(&streams[b], z->data + b * GEN_BLOCK * noise_dim,
                               rows * noise_dim, 0.0f, 1.0f);
        }
    }
    nn_tensor *y = md_mlp_fwd(c, g, z);
    if (!y)
        return GS_ERR_NOMEM;
    memcpy(out, y->data, (size_t)(m * g->cfg.n_out) * sizeof(float));
    return GS_OK;
}

typedef struct {
    nn_ctx *const *ctx;
    const md_mlp *g;
    int64_t noise_dim, n, c0; /* c0: the round's first chunk */
    float *out;
    gs_rng (*streams)[GEN_CHUNK / GEN_BLOCK];
} gen_round;

static int gen_job(void *arg, int i, int slot)
{
    gen_round *a = arg;
    const int64_t i0 = (a->c0 + i) * GEN_CHUNK, m = a->n - i0 < GEN_CHUNK ? a->n - i0 : GEN_CHUNK;
    return generate_chunk(a->ctx[slot], a->g, a->noise_dim, m, a->streams[i],
                          a->out + i0 * a->g->cfg.n_out);
}

int md_mlp_generate(nn_ctx *const *ctx, int n_ctx, const md_mlp *g, int64_t noise_dim,
                    int64_t n, float *out, gs_rng *r)
{
    /* Chunks of GEN_CHUNK rows keep activations cache-sized and the arenas
     * bounded. The noise of every block of rows comes from its own stream,
     * split off r in chunk and block order before the chunk runs, and every
     * chunk runs single-threaded (nn_run_jobs): so the output depends neither
     * on the thread count nor on which context runs which chunk. Up to
     * min(threads, contexts) chunks run at once. */
    enum { per_chunk = GEN_CHUNK / GEN_BLOCK };
    const int64_t n_chunks = (n + GEN_CHUNK - 1) / GEN_CHUNK;
    int width = nn_get_threads();
    if (width > n_ctx)
        width = n_ctx;
    if (width > MD_MAX_SHARDS)
        width = MD_MAX_SHARDS;
    if (width > n_chunks)
        width = (int)n_chunks;
    if (width < 1)
        width = 1;
    gs_rng streams[MD_MAX_SHARDS][per_chunk];
    bool was[MD_MAX_SHARDS];
    for (int t = 0; t < width; t++) {
        was[t] = nn_get_grad_enabled(ctx[t]);
        nn_set_grad_enabled(ctx[t], false);
    }
    gen_round a = {ctx, g, noise_dim, n, 0, out, streams};
    int rc = GS_OK;
    for (int64_t c0 = 0; c0 < n_chunks && !rc; c0 += width) {
        const int round = n_chunks - c0 < width ? (int)(n_chunks - c0) : width;
        for (int t = 0; t < round; t++) {
            const int64_t i0 = (c0 + t) * GEN_CHUNK, m = n - i0 < GEN_CHUNK ? n - i0 : GEN_CHUNK;
            for (int64_t b = 0; b < (m + GEN_BLOCK - 1) / GEN_BLOCK; b++)
                streams[t][b] = gs_rng_split(r);
        }
        a.c0 = c0;
        rc = nn_run_jobs(round, width, gen_job, &a);
    }
    for (int t = 0; t < width; t++)
        nn_set_grad_enabled(ctx[t], was[t]);
    return rc;
}

int md_wgan_generate(md_wgan *w, int64_t n, float *out, int use_ema, gs_rng *r)
{
    const md_mlp *g = use_ema && w->cfg.ema > 0 ? &w->g_ema : &w->g;
    nn_ctx *ctx[MD_MAX_SHARDS];
    for (int i = 0; i < w->n_shards; i++)
        ctx[i] = w->sh[i].ctx;
    return md_mlp_generate(ctx, w->n_shards, g, w->cfg.noise_dim, n, out, r);
}

int md_wgan_save(const md_wgan *w, hid_t group)
{
    const struct { const char *name; const nn_params *ps; const nn_optim *o; } parts[] = {
        {"G", &w->gp, &w->og}, {"D", &w->dp, &w->od}, {"G_ema", &w->ep, NULL}};
    for (size_t i = 0; i < 3; i++) {
        int rc = parts[i].ps->n ? nn_group_save(group, parts[i].name, parts[i].ps, parts[i].o)
                                : GS_OK;
        if (rc)
            return rc;
    }
    int rc = nn_rng_save(group, "rng", &w->rng);
    if (!rc)
        rc = gs_h5_attr_write_i64(group, ".", "step", w->step);
    return rc;
}

int md_wgan_load(md_wgan *w, hid_t group)
{
    const struct { const char *name; nn_params *ps; nn_optim *o; } parts[] = {
        {"G", &w->gp, &w->og}, {"D", &w->dp, &w->od}, {"G_ema", &w->ep, NULL}};
    for (size_t i = 0; i < 3; i++) {
        int rc = parts[i].ps->n ? nn_group_load(group, parts[i].name, parts[i].ps, parts[i].o)
                                : GS_OK;
        if (rc)
            return rc;
    }
    int rc = nn_rng_load(group, "rng", &w->rng);
    if (!rc)
        rc = gs_h5_attr_read_i64(group, ".", "step", &w->step);
    return rc;
}

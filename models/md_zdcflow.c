/* ZDC conditional flow matching (md_zdcflow.h): configuration, the velocity
 * network, the ODE solver, the training state and step, evaluation,
 * checkpoints, sampling and the md_kind_zdcflow entry.
 *
 * Files (model.h5 / last.h5):
 * /          attrs gansim_kind "zdc_flow", gansim_version, config, state (the
 *            driver's), cond_columns, height, width, n_cond, x_scale, step,
 *            best_step, best_w1
 * /scaler    the condition scaler
 * /V         the velocity network used for sampling (best by held-out W1)
 * /train     (last.h5 only) V (with Adam moments), V_ema (train.ema > 0),
 *            best/V, rng; attrs n_train */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/mt.h"
#include "models/md_zdc_internal.h"
#include "models/md_zdcflow.h"
#include "nn/nn_ckpt.h"

#define FLOW_MAX_SLOTS 8 /* chunks integrated at once by the sampler (one context each) */

/* ---- configuration ------------------------------------------------------- */
#define F(k, t, m, lo, hi, ch, h) {k, t, offsetof(md_zdcflow_cfg, m), lo, hi, ch, h}
const md_cfg_field md_zdcflow_cfg_fields[] = {
    F("model.channels", MD_CFG_IVEC, channels, 1, 4096, NULL,
      "velocity network widths at full resolution, /2 and /4"),
    F("model.t_features", MD_CFG_INT, t_features, 2, 1024, NULL,
      "sinusoidal features of the time t (even)"),
    F("model.embed", MD_CFG_INT, embed, 1, 65536, NULL,
      "width of the dense embedding of [t features ‖ conditions]"),
    F("model.slope", MD_CFG_FLOAT, slope, 0, 1, NULL, "LeakyReLU negative slope"),
    F("sample.steps", MD_CFG_INT, steps, 1, 100000, NULL,
      "ODE steps from noise (t = 0) to data (t = 1), in sampling and evaluation"),
    F("sample.solver", MD_CFG_ENUM, solver, 0, 0, "euler,heun",
      "ODE solver: euler (1 network evaluation a step) or heun (2nd order, 2 a step)"),
    F("train.batch", MD_CFG_INT, batch, 1, 1 << 16, NULL, "batch size"),
    F("train.lr", MD_CFG_FLOAT, lr, 0, 10, NULL, "Adam learning rate"),
    F("train.beta1", MD_CFG_FLOAT, beta1, 0, 0.999999, NULL, "Adam beta1"),
    F("train.beta2", MD_CFG_FLOAT, beta2, 0, 0.999999, NULL, "Adam beta2"),
    F("train.ema", MD_CFG_FLOAT, ema, 0, 0.999999, NULL,
      "decay of the weight average (EMA) that is evaluated and sampled, at most "
      "(1 + step)/(10 + step) (warm-up); 0 = off"),
    F("train.iters", MD_CFG_INT, iters, 1, 1e12, NULL, "training steps"),
    F("train.eval_every", MD_CFG_INT, eval_every, 1, 1e12, NULL,
      "held-out channel-W1 evaluation period (steps)"),
    F("train.eval_rows", MD_CFG_INT, eval_rows, 10, 1e8, NULL,
      "held-out rows used per evaluation (at most)"),
    F("train.eval_repeats", MD_CFG_INT, eval_repeats, 1, 100, NULL,
      "generated images per held-out row in an evaluation"),
    F("train.ckpt_every", MD_CFG_INT, ckpt_every, 1, 1e12, NULL, "checkpoint period (steps)"),
    F("train.holdout", MD_CFG_FLOAT, holdout, 0.01, 0.5, NULL,
      "fraction of condition groups held out for evaluation (the GAN's split for a seed)"),
    F("train.seed", MD_CFG_INT, seed, 0, 9.2e18, NULL, "seed of every random stream"),
    F("eval.channel_map", MD_CFG_ENUM, channel_map, 0, 0, "research,o2",
      "ZDC channel map of the held-out channel W1 (docs/metrics.md)"),
    {NULL, 0, 0, 0, 0, NULL, NULL}};
#undef F

void md_zdcflow_cfg_default(md_zdcflow_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->channels = (md_ivec){3, {16, 32, 64}};
    c->t_features = 32;
    c->embed = 128;
    c->slope = 0.2;
    c->steps = 20;
    c->solver = MD_FLOW_HEUN;
    c->batch = 64;
    c->lr = 5e-4;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->ema = 0.999;
    c->iters = 10000;
    c->eval_every = 500;
    /* an evaluation integrates the ODE (2 x 20 network passes an image with
     * heun): 300 rows keep it near 10 % of the training time at the defaults */
    c->eval_rows = 300;
    c->eval_repeats = 1;
    c->ckpt_every = 500;
    c->holdout = 0.1;
    c->seed = 1;
}

static int check_cfg(const md_zdcflow_cfg *c)
{
    if (c->channels.n != 3)
        return gs_error(GS_ERR_ARG, "zdc-flow: model.channels needs exactly 3 widths");
    if (c->t_features % 2)
        return gs_error(GS_ERR_ARG, "zdc-flow: model.t_features must be even (sin and cos)");
    return GS_OK;
}

/* ---- the velocity network ------------------------------------------------------ */
int md_zdcflow_net_init(md_zdcflow_net *v, const md_zdcflow_cfg *cfg, int64_t n_cond, int64_t h,
                        int64_t w, gs_rng *r)
{
    memset(v, 0, sizeof *v);
    nn_params_init(&v->ps);
    int rc = check_cfg(cfg);
    if (rc)
        return rc;
    v->n_cond = n_cond;
    v->h = h;
    v->w = w;
    v->h0 = (h + 3) / 4; /* the input is padded to 4 h0 x 4 w0: two exact halvings */
    v->w0 = (w + 3) / 4;
    v->tf = cfg->t_features;
    v->emb = cfg->embed;
    v->slope = (float)cfg->slope;
    for (int i = 0; i < 3; i++)
        v->ch[i] = cfg->channels.v[i];
    const int64_t *ch = v->ch;
    struct { nn_conv2d_layer *l; const char *name; int64_t in, out, stride; } convs[] = {
        {&v->enc[0], "V.enc0", 2, ch[0], 1},     {&v->enc[1], "V.enc1", ch[0], ch[1], 2},
        {&v->enc[2], "V.enc2", ch[1], ch[2], 2}, {&v->mid, "V.mid", ch[2], ch[2], 1},
        {&v->up[0], "V.up0", ch[2], ch[1], 1},   {&v->merge, "V.merge", 2 * ch[1], ch[1], 1},
        {&v->up[1], "V.up1", ch[1], ch[0], 1},   {&v->out, "V.out", 2 * ch[0], 1, 1}};
    for (size_t i = 0; i < sizeof convs / sizeof convs[0] && !rc; i++)
        rc = nn_conv2d_layer_init(convs[i].l, &v->ps, convs[i].name, convs[i].in, convs[i].out,
                                  3, convs[i].stride, 1, true, NN_INIT_TORCH, r);
    if (!rc)
        rc = nn_linear_layer_init(&v->e1, &v->ps, "V.emb1", v->tf + n_cond, v->emb, true,
                                  NN_INIT_TORCH, r);
    if (!rc)
        rc = nn_linear_layer_init(&v->e2, &v->ps, "V.emb2", v->emb, v->emb, true, NN_INIT_TORCH,
                                  r);
    if (!rc)
        rc = nn_linear_layer_init(&v->e3, &v->ps, "V.emb3", v->emb, ch[2] * v->h0 * v->w0, true,
                                  NN_INIT_TORCH, r);
    if (rc)
        md_zdcflow_net_free(v);
    return rc;
}

void md_zdcflow_net_free(md_zdcflow_net *v) { nn_params_free(&v->ps); }

void md_zdcflow_time_features(float t, int64_t tf, float *out)
{
    const int64_t half = tf / 2;
    for (int64_t j = 0; j < half; j++) {
        const double om = exp(-log(10000.0) * (double)j / (double)half);
        out[j] = (float)sin(1000.0 * t * om);
        out[half + j] = (float)cos(1000.0 * t * om);
    }
}

nn_tensor *md_zdcflow_net_fwd(nn_ctx *c, const md_zdcflow_net *v, const float *x,
                              const float *t, const float *cond, int64_t b)
{
    const int64_t hh = 4 * v->h0, ww = 4 * v->w0, h = v->h, w = v->w, nc = v->n_cond;
    const int64_t top = (hh - h) / 2, left = (ww - w) / 2, e_in = v->tf + nc;
    nn_tensor *in = nn_zeros(c, 4, (int64_t[]){b, 2, hh, ww});
    nn_tensor *e = nn_new(c, 2, (int64_t[]){b, e_in});
    if (!in || !e)
        return NULL;
    for (int64_t i = 0; i < b; i++) {
        float *p = in->data + i * 2 * hh * ww;
        for (int64_t row = 0; row < h; row++)
            memcpy(p + (row + top) * ww + left, x + (i * h + row) * w, (size_t)w * sizeof(float));
        for (int64_t q = 0; q < hh * ww; q++)
            p[hh * ww + q] = t[i];
        md_zdcflow_time_features(t[i], v->tf, e->data + i * e_in);
        memcpy(e->data + i * e_in + v->tf, cond + i * nc, (size_t)nc * sizeof(float));
    }
    const float s = v->slope;
    nn_tensor *a0 = nn_leaky_relu(c, nn_conv2d_layer_fwd(c, &v->enc[0], in), s);
    nn_tensor *a1 = nn_leaky_relu(c, nn_conv2d_layer_fwd(c, &v->enc[1], a0), s);
    nn_tensor *a2 = nn_leaky_relu(c, nn_conv2d_layer_fwd(c, &v->enc[2], a1), s);
    /* (t, condition) enter as a per-sample, per-position bias of the
     * bottleneck (what the GAN's generator does with its fc layer) */
    nn_tensor *emb = nn_leaky_relu(c, nn_linear_layer_fwd(c, &v->e1, e), s);
    emb = nn_leaky_relu(c, nn_linear_layer_fwd(c, &v->e2, emb), s);
    nn_tensor *bias = nn_reshape(c, nn_linear_layer_fwd(c, &v->e3, emb), 4,
                                 (int64_t[]){b, v->ch[2], v->h0, v->w0});
    nn_tensor *m = nn_leaky_relu(c, nn_add(c, a2, bias), s);
    m = nn_leaky_relu(c, nn_conv2d_layer_fwd(c, &v->mid, m), s);
    /* up: the generator's sub-pixel upsample + conv, skips concatenated */
    nn_tensor *u = nn_leaky_relu(c, nn_upsample2_conv3x3(c, m, v->up[0].w, v->up[0].b), s);
    u = nn_leaky_relu(c, nn_conv2d_layer_fwd(c, &v->merge, nn_concat(c, u, a1)), s);
    u = nn_leaky_relu(c, nn_upsample2_conv3x3(c, u, v->up[1].w, v->up[1].b), s);
    nn_tensor *y = nn_conv2d_layer_fwd(c, &v->out, nn_concat(c, u, a0));
    return nn_crop2d(c, y, top, left, h, w);
}

/* ---- the ODE solver ---------------------------------------------------------------- */
int md_flow_integrate(float *x, int64_t n, int64_t steps, int solver, md_flow_field f, void *ud,
                      float *scratch)
{
    if (steps < 1 || (solver != MD_FLOW_EULER && solver != MD_FLOW_HEUN))
        return gs_error(GS_ERR_ARG, "flow: %lld steps of solver %d", (long long)steps, solver);
    const float h = 1.0f / (float)steps;
    float *k1 = scratch, *k2 = scratch + n;
    int rc = GS_OK;
    for (int64_t s = 0; s < steps && !rc; s++) {
        const float t = (float)s * h;
        if ((rc = f(ud, x, t, k1)))
            break;
        if (solver == MD_FLOW_EULER) {
            for (int64_t i = 0; i < n; i++)
                x[i] += h * k1[i];
            continue;
        }
        /* k2 at the Euler prediction; k2 holds x + h k1 until f overwrites it */
        for (int64_t i = 0; i < n; i++)
            k2[i] = x[i] + h * k1[i];
        /* f reads its input before writing its output (field_eval copies it in) */
        if ((rc = f(ud, k2, (float)(s + 1) * h, k2)))
            break;
        for (int64_t i = 0; i < n; i++)
            x[i] += 0.5f * h * (k1[i] + k2[i]);
    }
    return rc;
}

/* The network as an ODE field over m images: v = net(x, t, cond) */
typedef struct {
    nn_ctx *c;
    const md_zdcflow_net *v;
    const float *cond; /* [m, nc], one row per image */
    float *t;          /* [m] scratch */
    int64_t m;
} field;

static int field_eval(void *ud, const float *x, float t, float *out)
{
    field *f = ud;
    nn_ctx_reset(f->c);
    for (int64_t i = 0; i < f->m; i++)
        f->t[i] = t;
    nn_tensor *y = md_zdcflow_net_fwd(f->c, f->v, x, f->t, f->cond, f->m);
    if (!y)
        return gs_error_wrap(GS_ERR_NOMEM, "zdc-flow: velocity network");
    memcpy(out, y->data, (size_t)y->n * sizeof(float));
    nn_ctx_reset(f->c);
    return GS_OK;
}

/* m images from their starting noise x [m, px] (overwritten with the
 * result, in training space), conditions cond [m, nc] standardised, in eval
 * mode without gradients. scratch: 2 m px + m floats. */
static int integrate_chunk(nn_ctx *c, const md_zdcflow_net *v, const float *cond, int64_t m,
                           int64_t steps, int solver, float *x, float *scratch)
{
    const bool was_grad = nn_get_grad_enabled(c), was_train = nn_is_training(c);
    nn_set_grad_enabled(c, false);
    nn_set_training(c, false);
    const int64_t px = v->h * v->w;
    field f = {c, v, cond, scratch + 2 * m * px, m};
    int rc = md_flow_integrate(x, m * px, steps, solver, field_eval, &f, scratch);
    nn_set_grad_enabled(c, was_grad);
    nn_set_training(c, was_train);
    return rc;
}

/* training space -> photons: exp(max(x·scale, 0)) − 1 (the GAN's ReLU + expm1) */
static void to_pixels(float *x, int64_t n, float scale)
{
    for (int64_t i = 0; i < n; i++) {
        const float y = x[i] * scale;
        x[i] = y > 0 ? expm1f(y) : 0.0f;
    }
}

/* ---- training state ------------------------------------------------------------ */
typedef struct {
    const md_run *run;
    md_zdcflow_cfg cfg;
    int64_t nc, h, w, px;
    md_zdcflow_net v, ema, best;
    nn_optim opt;
    nn_ctx *ctx;
    gs_rng rng;
    pp_scaler scaler;
    float x_scale;
    int64_t step;
    int64_t n_train, n_hold, n_eval;
    float *tx, *tc;                /* training rows: log(1 + x) / x_scale, standardised conds */
    float *hx, *hc, *gen;          /* held-out rows (pixels), their conds, generated images */
    float *bx0, *bxt, *bt, *bc, *btarget; /* batch */
    float *escratch, *econd;       /* evaluation: integrate_chunk scratch, per-image conds */
} flow_state;

static const md_zdcflow_net *eval_net(const flow_state *s)
{
    return s->cfg.ema > 0 ? &s->ema : &s->v;
}

static void state_free(flow_state *s)
{
    nn_optim_free(&s->opt);
    md_zdcflow_net_free(&s->v);
    md_zdcflow_net_free(&s->ema);
    md_zdcflow_net_free(&s->best);
    nn_ctx_free(s->ctx);
    pp_scaler_free(&s->scaler);
    float *bufs[] = {s->tx, s->tc, s->hx, s->hc, s->gen, s->bx0, s->bxt, s->bt, s->bc,
                     s->btarget, s->escratch, s->econd};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    memset(s, 0, sizeof *s);
}

static float *falloc(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

/* The held-out split of md_zdc.c's state_init, to the draw: whole condition
 * groups (md_zdc_cond_groups), shuffled by seed ^ 0x5A17, the first
 * round(holdout · groups) held out. The same seed and data give the GAN and
 * the flow the same held-out rows, so their W1 compare directly. */
static int split(const md_zdcflow_cfg *cfg, const ds_images *data, uint8_t *hold, int64_t *nh_rows)
{
    const int64_t n = data->n;
    int64_t *gid = malloc((size_t)n * sizeof *gid), ng = 0, *perm = NULL;
    uint8_t *ghold = NULL;
    int rc = gid ? md_zdc_cond_groups(data->cond, n, data->c, gid, &ng)
                 : gs_error(GS_ERR_NOMEM, "zdc-flow: out of memory");
    if (!rc && ng < 2)
        rc = gs_error(GS_ERR_ARG, "zdc-flow: need at least 2 distinct conditions, got %lld",
                      (long long)ng);
    if (!rc && (!(perm = malloc((size_t)ng * sizeof *perm)) || !(ghold = calloc((size_t)ng, 1))))
        rc = gs_error(GS_ERR_NOMEM, "zdc-flow: out of memory");
    if (!rc) {
        for (int64_t g = 0; g < ng; g++)
            perm[g] = g;
        gs_rng sr;
        gs_rng_seed(&sr, (uint64_t)cfg->seed ^ 0x5A17ULL);
        gs_rng_shuffle_i64(&sr, perm, ng);
        int64_t nh = (int64_t)llround(cfg->holdout * (double)ng);
        nh = nh < 1 ? 1 : nh >= ng ? ng - 1 : nh;
        for (int64_t j = 0; j < nh; j++)
            ghold[perm[j]] = 1;
        *nh_rows = 0;
        for (int64_t i = 0; i < n; i++) {
            hold[i] = ghold[gid[i]];
            *nh_rows += hold[i];
        }
    }
    free(gid);
    free(perm);
    free(ghold);
    return rc;
}

static int state_init(flow_state *s, const md_zdcflow_cfg *cfg, const ds_images *data)
{
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->nc = data->c;
    s->h = data->h;
    s->w = data->w;
    s->px = data->h * data->w;
    const int64_t n = data->n, nc = s->nc, px = s->px, b = cfg->batch;
    const int64_t gc = MD_ZDCFLOW_GEN_CHUNK;
    int rc = check_cfg(cfg);
    if (rc)
        return rc;
    if (!data->cond || nc < 1)
        return gs_error(GS_ERR_ARG, "zdc-flow: the image set has no /conditions");
    if (s->h < 8 || s->w < 8)
        return gs_error(GS_ERR_ARG, "zdc-flow: images of %lldx%lld are too small (8x8 at least)",
                        (long long)s->h, (long long)s->w);
    for (int64_t i = 0; i < n * px; i++)
        if (!(data->images[i] >= 0))
            return gs_error(GS_ERR_ARG, "zdc-flow: image %lld has a negative or NaN pixel (the "
                            "model trains log(1 + x))", (long long)(i / px));
    uint8_t *hold = calloc((size_t)n, 1);
    if (!hold)
        return gs_error(GS_ERR_NOMEM, "zdc-flow: out of memory");
    if ((rc = split(cfg, data, hold, &s->n_hold)))
        goto out;
    s->n_train = n - s->n_hold;
    s->n_eval = s->n_hold < cfg->eval_rows ? s->n_hold : cfg->eval_rows;
    s->tx = falloc(s->n_train * px);
    s->tc = falloc(s->n_train * nc);
    s->hx = falloc(s->n_eval * px);
    s->hc = falloc(s->n_eval * nc);
    s->gen = falloc(s->n_eval * cfg->eval_repeats * px);
    s->bx0 = falloc(b * px);
    s->bxt = falloc(b * px);
    s->btarget = falloc(b * px);
    s->bt = falloc(b);
    s->bc = falloc(b * nc);
    s->escratch = falloc(2 * gc * px + gc);
    s->econd = falloc(gc * nc);
    s->ctx = nn_ctx_new();
    if (!s->tx || !s->tc || !s->hx || !s->hc || !s->gen || !s->bx0 || !s->bxt || !s->btarget ||
        !s->bt || !s->bc || !s->escratch || !s->econd || !s->ctx) {
        rc = gs_error(GS_ERR_NOMEM, "zdc-flow: out of memory for %lld training images",
                      (long long)s->n_train);
        goto out;
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
    /* training space: the GAN's log(1 + x), divided by its standard deviation
     * over all training pixels so that data and N(0, 1) noise are alike in
     * spread (the straight paths between them then have velocities of order 1) */
    double acc = 0, acc2 = 0;
    for (int64_t i = 0; i < s->n_train * px; i++) {
        s->tx[i] = log1pf(s->tx[i]);
        acc += s->tx[i];
        acc2 += (double)s->tx[i] * s->tx[i];
    }
    const double cnt = (double)(s->n_train * px), mean = acc / cnt;
    const double sd = sqrt(fmax(acc2 / cnt - mean * mean, 0));
    s->x_scale = sd > 1e-3 ? (float)sd : 1.0f;
    for (int64_t i = 0; i < s->n_train * px; i++)
        s->tx[i] /= s->x_scale;
    if ((rc = pp_standard_fit(&s->scaler, s->tc, s->n_train, nc)))
        goto out;
    pp_scaler_transform(&s->scaler, s->tc, s->tc, s->n_train);
    pp_scaler_transform(&s->scaler, s->hc, s->hc, s->n_eval);

    gs_rng_seed(&s->rng, (uint64_t)cfg->seed);
    if ((rc = md_zdcflow_net_init(&s->v, cfg, nc, s->h, s->w, &s->rng)))
        goto out;
    gs_rng tmp = s->rng; /* the snapshot's and average's init values are overwritten */
    if ((rc = md_zdcflow_net_init(&s->best, cfg, nc, s->h, s->w, &tmp)))
        goto out;
    if (cfg->ema > 0) {
        tmp = s->rng;
        if ((rc = md_zdcflow_net_init(&s->ema, cfg, nc, s->h, s->w, &tmp)) ||
            (rc = nn_params_copy(&s->ema.ps, &s->v.ps)))
            goto out;
    }
    nn_optim_cfg oc = nn_optim_defaults(NN_OPT_ADAM, (float)cfg->lr);
    oc.beta1 = (float)cfg->beta1;
    oc.beta2 = (float)cfg->beta2;
    rc = nn_optim_init(&s->opt, &s->v.ps, &oc);
out:
    free(hold);
    return rc;
}

/* One flow-matching update. Over P ranks (run->par) every rank draws every
 * row, t and noise from the shared RNG (the RNGs stay equal), computes rows
 * [b r/P, b (r+1)/P), scales its loss by its share of the batch, and
 * md_run_reduce sums the gradients and the loss. */
static int train_step(flow_state *s, md_losses *out)
{
    out->n = 1;
    const md_zdcflow_cfg *cfg = &s->cfg;
    const int64_t b = cfg->batch, px = s->px, nc = s->nc;
    const int np = s->run && s->run->par.n_ranks > 1 ? s->run->par.n_ranks : 1;
    const int rank = np > 1 ? s->run->par.rank : 0;
    const int64_t lo = b * rank / np, bl = b * (rank + 1) / np - lo;
    const float share = (float)bl / (float)b;
    for (int64_t i = 0; i < b; i++) {
        const int64_t row = (int64_t)gs_rng_below(&s->rng, (uint64_t)s->n_train);
        if (i < lo || i >= lo + bl)
            continue;
        const int64_t j = i - lo;
        memcpy(s->btarget + j * px, s->tx + row * px, (size_t)px * sizeof(float));
        memcpy(s->bc + j * nc, s->tc + row * nc, (size_t)nc * sizeof(float));
    }
    /* t and the noise of every row (all ranks draw all of them) */
    gs_rng_fill_uniform(&s->rng, s->bt, b, 0.0f, 1.0f);
    gs_rng_fill_normal(&s->rng, s->bx0, b * px, 0.0f, 1.0f);
    const float *t = s->bt + lo, *x0 = s->bx0 + lo * px;
    for (int64_t j = 0; j < bl; j++)
        for (int64_t p = 0; p < px; p++) {
            const float x1 = s->btarget[j * px + p], z = x0[j * px + p];
            s->bxt[j * px + p] = (1.0f - t[j]) * z + t[j] * x1; /* x_t */
            s->btarget[j * px + p] = x1 - z;                     /* its velocity */
        }
    nn_ctx *c = s->ctx;
    nn_ctx_reset(c);
    nn_set_training(c, true);
    nn_set_grad_enabled(c, true);
    nn_params_zero_grad(&s->v.ps);
    nn_tensor *pred = md_zdcflow_net_fwd(c, &s->v, s->bxt, t, s->bc, bl);
    nn_tensor *loss = nn_mse(c, pred, nn_input(c, 4, (int64_t[]){bl, 1, s->h, s->w}, s->btarget));
    if (np > 1)
        loss = nn_scale(c, loss, share);
    int rc = loss ? nn_backward(c, loss) : GS_ERR_NOMEM;
    float e[1] = {loss ? loss->data[0] : 0};
    if (!rc)
        rc = md_run_reduce(s->run, &s->v.ps, e, 1);
    if (rc)
        return gs_error_wrap(rc, "zdc-flow: training step");
    nn_optim_step(&s->opt);
    if (cfg->ema > 0) {
        /* with the warm-up (nn_ema_decay), so that a short run's average is
         * not mostly the initial weights (0.999 alone keeps 67 % of them
         * after 400 steps) */
        nn_params_ema(&s->ema.ps, &s->v.ps, nn_ema_decay(cfg->ema, s->step));
    }
    s->step++;
    out->v[0] = e[0];
    if (!isfinite(out->v[0]))
        return gs_error(GS_ERR_NUMERIC, "zdc-flow: the loss is %g at step %lld", out->v[0],
                        (long long)s->step);
    return GS_OK;
}

/* k images per row of cond (standardised) from r's noise, in pixel space:
 * out [n k, px]; chunks of MD_ZDCFLOW_GEN_CHUNK, noise drawn chunk by chunk. */
static int generate(nn_ctx *c, const md_zdcflow_net *v, float x_scale, const float *cond,
                    int64_t n, int64_t k, int64_t steps, int solver, gs_rng *r, float *scratch,
                    float *cbuf, float *out)
{
    const int64_t total = n * k, px = v->h * v->w, nc = v->n_cond;
    int rc = GS_OK;
    for (int64_t o0 = 0; o0 < total && !rc; o0 += MD_ZDCFLOW_GEN_CHUNK) {
        const int64_t m = total - o0 < MD_ZDCFLOW_GEN_CHUNK ? total - o0 : MD_ZDCFLOW_GEN_CHUNK;
        float *x = out + o0 * px;
        gs_rng_fill_normal(r, x, m * px, 0.0f, 1.0f);
        for (int64_t i = 0; i < m; i++)
            memcpy(cbuf + i * nc, cond + ((o0 + i) / k) * nc, (size_t)nc * sizeof(float));
        if (!(rc = integrate_chunk(c, v, cbuf, m, steps, solver, x, scratch)))
            to_pixels(x, m * px, x_scale);
    }
    return rc;
}

static int evaluate(flow_state *s, mt_image_metrics *m)
{
    gs_rng r;
    gs_rng_seed(&r, (uint64_t)s->cfg.seed * 31 + 7 + (uint64_t)s->step);
    int rc = generate(s->ctx, eval_net(s), s->x_scale, s->hc, s->n_eval, s->cfg.eval_repeats,
                      s->cfg.steps, s->cfg.solver, &r, s->escratch, s->econd, s->gen);
    if (!rc)
        rc = mt_compare_images_map((mt_zdc_map)s->cfg.channel_map, s->hx, s->n_eval, s->gen,
                                   s->n_eval * s->cfg.eval_repeats, s->h, s->w, m);
    return rc;
}

/* ---- checkpoints ---------------------------------------------------------------- */
static int save(const md_run *run, hid_t f, int with_train)
{
    const flow_state *s = run->state;
    const ds_images *data = run->data;
    const md_part *part = &run->parts[0];
    int rc = GS_OK;
    hid_t q;
    if (data->cond_columns) {
        char *cols = gs_h5_join_csv(data->cond_columns, s->nc);
        rc = cols ? gs_h5_attr_write_str(f, ".", "cond_columns", cols)
                  : gs_error(GS_ERR_NOMEM, "out of memory");
        free(cols);
    }
    const struct { const char *k; int64_t v; } ia[] = {
        {"height", s->h}, {"width", s->w}, {"n_cond", s->nc}, {"step", s->step},
        {"best_step", part->best_step}};
    for (size_t i = 0; !rc && i < sizeof ia / sizeof ia[0]; i++)
        rc = gs_h5_attr_write_i64(f, ".", ia[i].k, ia[i].v);
    if (!rc)
        rc = gs_h5_attr_write_f64(f, ".", "best_w1", part->best);
    if (!rc)
        rc = gs_h5_attr_write_f64(f, ".", "x_scale", s->x_scale);
    if (!rc && !(rc = gs_h5_group_create(f, "scaler", &q))) {
        rc = pp_scaler_save(&s->scaler, q);
        H5Gclose(q);
    }
    const md_zdcflow_net *sv = part->best_step >= 0 ? &s->best : eval_net(s);
    if (!rc)
        rc = nn_group_save(f, "V", &sv->ps, NULL);
    if (!rc && with_train) {
        hid_t t;
        if (!(rc = gs_h5_group_create(f, "train", &t))) {
            rc = nn_group_save(t, "V", (nn_params *)&s->v.ps, (nn_optim *)&s->opt);
            if (!rc && s->cfg.ema > 0)
                rc = nn_group_save(t, "V_ema", &s->ema.ps, NULL);
            if (!rc)
                rc = nn_group_save(t, "best/V", &s->best.ps, NULL);
            if (!rc)
                rc = nn_rng_save(t, "rng", &s->rng);
            if (!rc)
                rc = gs_h5_attr_write_i64(t, ".", "n_train", s->n_train);
            H5Gclose(t);
        }
    }
    return rc;
}

static int load_state(hid_t f, md_run *run)
{
    flow_state *s = run->state;
    md_part *part = &run->parts[0];
    char path[1024];
    if (H5Fget_name(f, path, sizeof path) < 0)
        strcpy(path, "last.h5");
    hid_t t;
    int64_t n_train = 0;
    double xs = 0;
    int rc = gs_h5_attr_read_i64(f, ".", "best_step", &part->best_step);
    if (!rc)
        rc = gs_h5_attr_read_f64(f, ".", "best_w1", &part->best);
    if (!rc)
        rc = gs_h5_attr_read_f64(f, ".", "x_scale", &xs);
    if (!rc && (float)xs != s->x_scale)
        rc = gs_error(GS_ERR_FORMAT, "%s: pixel scale %g, the data give %g (different data?)",
                      path, xs, (double)s->x_scale);
    if (!rc && !(rc = gs_h5_group_open(f, "train", &t))) {
        rc = gs_h5_attr_read_i64(t, ".", "n_train", &n_train);
        if (!rc && n_train != s->n_train)
            rc = gs_error(GS_ERR_FORMAT, "%s: trained on %lld rows, the data give %lld "
                          "(different data?)", path, (long long)n_train, (long long)s->n_train);
        if (!rc)
            rc = gs_h5_attr_read_i64(f, ".", "step", &s->step);
        if (!rc)
            rc = nn_group_load(t, "V", &s->v.ps, &s->opt);
        if (!rc && s->cfg.ema > 0)
            rc = nn_group_load(t, "V_ema", &s->ema.ps, NULL);
        if (!rc)
            rc = nn_group_load(t, "best/V", &s->best.ps, NULL);
        if (!rc)
            rc = nn_rng_load(t, "rng", &s->rng);
        H5Gclose(t);
    }
    part->step = s->step;
    return rc ? gs_error_wrap(rc, "--resume") : GS_OK;
}

/* ---- training data (the GAN's reader) and the run ---------------------------------- */
static void flow_free(md_run *run)
{
    if (run->state)
        state_free(run->state);
    free(run->state);
    run->state = NULL;
}

static int flow_init(md_run *run, hid_t from)
{
    const md_zdcflow_cfg *cfg = run->cfg;
    const ds_images *data = run->data;
    if (data->n < 4)
        return gs_error(GS_ERR_ARG, "zdc-flow: need at least 4 images, got %lld",
                        (long long)data->n);
    if (run->par.n_ranks > cfg->batch)
        return gs_error(GS_ERR_ARG, "zdc-flow: batch %lld is smaller than the %d ranks sharing it",
                        (long long)cfg->batch, run->par.n_ranks);
    flow_state *s = calloc(1, sizeof *s);
    if (!s)
        return gs_error(GS_ERR_NOMEM, "zdc-flow: out of memory");
    run->state = s;
    int rc = state_init(s, cfg, data);
    s->run = run;
    run->n_parts = 1;
    run->parts[0].steps = cfg->iters;
    run->eval_every = cfg->eval_every;
    run->ckpt_every = cfg->ckpt_every;
    if (!rc && from >= 0)
        rc = load_state(from, run);
    return rc;
}

static int flow_step(md_run *run, int k, md_losses *out)
{
    flow_state *s = run->state;
    int rc = train_step(s, out);
    return rc ? rc : md_run_check_same(run, k, &s->v.ps);
}

static int flow_evaluate(md_run *run, int k, md_record *rec, double *score)
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
    const double best = run->parts[k].best;
    md_record_add(rec, "best_w1", !(m.ch_mean_w1 >= best) ? m.ch_mean_w1 : best);
    md_record_add(rec, "intensity_w1", m.intensity_w1);
    *score = m.ch_mean_w1;
    return GS_OK;
}

static int flow_keep_best(md_run *run, int k)
{
    (void)k;
    flow_state *s = run->state;
    return nn_params_copy(&s->best.ps, &eval_net(s)->ps);
}

static void flow_log_header(const md_run *run, FILE *log)
{
    const flow_state *s = run->state;
    fprintf(log, "# gansim %s zdc_flow: %lld training images, %lld held out (%lld used per "
                 "evaluation), %lldx%lld, %lld conditions\n", GANSIM_VERSION,
            (long long)s->n_train, (long long)s->n_hold, (long long)s->n_eval, (long long)s->h,
            (long long)s->w, (long long)s->nc);
    fprintf(log, "# conditional flow matching, linear path; sampler %s with %lld steps; pixel "
                 "scale %.4f (std of log(1 + x))\n", s->cfg.solver ? "heun" : "euler",
            (long long)s->cfg.steps, s->x_scale);
}

/* ---- sampling ---------------------------------------------------------------------- */
struct md_zdcflow_model {
    md_zdcflow_cfg cfg;
    md_zdcflow_net v;
    pp_scaler scaler;
    float x_scale;
    int64_t h, w, nc;
    nn_ctx *ctx[FLOW_MAX_SLOTS];
    float *scratch[FLOW_MAX_SLOTS], *cbuf[FLOW_MAX_SLOTS];
    /* md_zdcflow_sample_chunk: where seed cur_seed's noise stream stands */
    gs_rng cur_rng;
    uint64_t cur_seed;
    int64_t cur_img; /* -1: no stream yet */
    float *cs;
    int64_t cs_cap;
};

void md_zdcflow_free(md_zdcflow_model *m)
{
    if (!m)
        return;
    md_zdcflow_net_free(&m->v);
    pp_scaler_free(&m->scaler);
    for (int t = 0; t < FLOW_MAX_SLOTS; t++) {
        nn_ctx_free(m->ctx[t]);
        free(m->scratch[t]);
        free(m->cbuf[t]);
    }
    free(m->cs);
    free(m);
}

int md_zdcflow_load(const char *path, md_zdcflow_model **out)
{
    *out = NULL;
    md_zdcflow_model *m = calloc(1, sizeof *m);
    if (!m)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    hid_t f = -1, q;
    double xs = 0;
    int rc = gs_h5_open(path, 0, &f);
    if (!rc)
        rc = md_kind_read_config(f, path, &md_kind_zdcflow, &m->cfg);
    if (!rc)
        rc = gs_h5_attr_read_i64(f, ".", "height", &m->h);
    if (!rc)
        rc = gs_h5_attr_read_i64(f, ".", "width", &m->w);
    if (!rc)
        rc = gs_h5_attr_read_i64(f, ".", "n_cond", &m->nc);
    if (!rc)
        rc = gs_h5_attr_read_f64(f, ".", "x_scale", &xs);
    if (!rc && (m->h < 8 || m->w < 8 || m->h > 4096 || m->w > 4096 || m->nc < 1 || m->nc > 4096 ||
                !(xs > 0) || !isfinite(xs)))
        rc = gs_error(GS_ERR_FORMAT, "%s: bad image size, condition count or pixel scale", path);
    m->x_scale = (float)xs;
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
        rc = md_zdcflow_net_init(&m->v, &m->cfg, m->nc, m->h, m->w, &r);
    if (!rc)
        rc = nn_group_load(f, "V", &m->v.ps, NULL);
    m->cur_img = -1;
    if (f >= 0)
        gs_h5_close(f);
    if (rc) {
        md_zdcflow_free(m);
        return gs_error_wrap(rc, "loading the model");
    }
    *out = m;
    return GS_OK;
}

int md_zdcflow_set_sampler(md_zdcflow_model *m, int64_t steps, int solver)
{
    if (steps < 1 || (solver != MD_FLOW_EULER && solver != MD_FLOW_HEUN))
        return gs_error(GS_ERR_ARG, "zdc-flow: sampler needs steps >= 1 and euler or heun");
    m->cfg.steps = steps;
    m->cfg.solver = solver;
    return GS_OK;
}

/* One round of chunks on single-threaded jobs; out holds the round's noise
 * (drawn in image order before the jobs run) and gets the images in place. */
typedef struct {
    md_zdcflow_model *mo;
    const float *cond;       /* scaled, row 0 = condition cond0 */
    int64_t k, total, o0, img0, cond0;
    float *out;
} flow_round;

static int flow_job(void *arg, int i, int slot)
{
    const flow_round *a = arg;
    md_zdcflow_model *mo = a->mo;
    const int64_t px = mo->h * mo->w, nc = mo->nc, gc = MD_ZDCFLOW_GEN_CHUNK;
    if (!mo->ctx[slot])
        return gs_error(GS_ERR_NOMEM, "zdc-flow: out of memory");
    const int64_t o0 = a->o0 + (int64_t)i * gc;
    const int64_t m = a->total - o0 < gc ? a->total - o0 : gc;
    for (int64_t j = 0; j < m; j++)
        memcpy(mo->cbuf[slot] + j * nc, a->cond + ((o0 + j) / a->k - a->cond0) * nc,
               (size_t)nc * sizeof(float));
    float *x = a->out + (o0 - a->img0) * px;
    int rc = integrate_chunk(mo->ctx[slot], &mo->v, mo->cbuf[slot], m, mo->cfg.steps,
                             mo->cfg.solver, x, mo->scratch[slot]);
    if (!rc)
        to_pixels(x, m * px, mo->x_scale);
    return rc;
}

/* Images [img0, img1) of the n·k (img0 a multiple of MD_ZDCFLOW_GEN_CHUNK),
 * noise from r standing at image img0: the same for any thread count. */
static int generate_jobs(md_zdcflow_model *mo, const float *cond, int64_t cond0, int64_t k,
                         int64_t img0, int64_t img1, gs_rng *r, float *out)
{
    const int64_t px = mo->h * mo->w, nc = mo->nc, gc = MD_ZDCFLOW_GEN_CHUNK;
    const int64_t n_chunks = (img1 - img0 + gc - 1) / gc;
    int width = nn_get_threads();
    width = width > FLOW_MAX_SLOTS ? FLOW_MAX_SLOTS : width;
    width = width > n_chunks ? (int)n_chunks : width;
    width = width < 1 ? 1 : width;
    for (int t = 0; t < width; t++) {
        if (!mo->ctx[t] && !(mo->ctx[t] = nn_ctx_new()))
            return gs_error(GS_ERR_NOMEM, "zdc-flow: out of memory");
        if (!mo->scratch[t] && !(mo->scratch[t] = falloc(2 * gc * px + gc)))
            return gs_error(GS_ERR_NOMEM, "zdc-flow: out of memory");
        if (!mo->cbuf[t] && !(mo->cbuf[t] = falloc(gc * nc)))
            return gs_error(GS_ERR_NOMEM, "zdc-flow: out of memory");
    }
    /* the noise of all images first, in image order, one call per image (so
     * that seek_noise's skipping draws the same stream whatever h·w) */
    for (int64_t i = 0; i < img1 - img0; i++)
        gs_rng_fill_normal(r, out + i * px, px, 0.0f, 1.0f);
    flow_round a = {mo, cond, k, img1, img0, img0, cond0, out};
    return nn_run_jobs((int)n_chunks, width, flow_job, &a);
}

int md_zdcflow_sample(md_zdcflow_model *m, const float *cond, int64_t n, int64_t k,
                      uint64_t seed, ds_images *out)
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
    rc = generate_jobs(m, cs, 0, k, 0, n * k, &r, out->images);
    free(cs);
    for (int64_t i = 0; !rc && i < n * k; i++)
        memcpy(out->cond + i * m->nc, cond + (i / k) * m->nc, (size_t)m->nc * sizeof(float));
    if (rc)
        ds_images_free(out);
    return rc;
}

_Static_assert(MD_ZDCFLOW_CHUNK % MD_ZDCFLOW_GEN_CHUNK == 0, "chunks are whole generation chunks");

int64_t md_zdcflow_n_chunks(const md_zdcflow_model *m, int64_t n, int64_t k)
{
    (void)m;
    return n > 0 && k > 0 ? (n * k + MD_ZDCFLOW_CHUNK - 1) / MD_ZDCFLOW_CHUNK : 0;
}

/* The noise stream of seed at image img: from where it stands when that is
 * not past img, else from the seed; skipped images' normals are drawn, one
 * call per image as generate_jobs draws them, and dropped. */
static int seek_noise(md_zdcflow_model *m, uint64_t seed, int64_t img)
{
    if (m->cur_img < 0 || m->cur_seed != seed || m->cur_img > img) {
        gs_rng_seed(&m->cur_rng, seed);
        m->cur_seed = seed;
        m->cur_img = 0;
    }
    if (m->cur_img == img)
        return GS_OK;
    const int64_t px = m->h * m->w;
    float *junk = falloc(px);
    if (!junk)
        return gs_error(GS_ERR_NOMEM, "sample: out of memory");
    for (; m->cur_img < img; m->cur_img++)
        gs_rng_fill_normal(&m->cur_rng, junk, px, 0.0f, 1.0f);
    free(junk);
    return GS_OK;
}

int md_zdcflow_sample_chunk(md_zdcflow_model *m, const float *cond, int64_t n, int64_t k,
                            uint64_t seed, int64_t c, ds_images *out)
{
    memset(out, 0, sizeof *out);
    if (n < 1 || k < 1 || c < 0 || c >= md_zdcflow_n_chunks(m, n, k))
        return gs_error(GS_ERR_ARG, "sample: chunk %lld of %lld x %lld images", (long long)c,
                        (long long)n, (long long)k);
    const int64_t img0 = c * MD_ZDCFLOW_CHUNK;
    const int64_t img1 = n * k - img0 < MD_ZDCFLOW_CHUNK ? n * k : img0 + MD_ZDCFLOW_CHUNK;
    const int64_t r0 = img0 / k, r1 = (img1 - 1) / k + 1;
    if (r1 - r0 > m->cs_cap) {
        float *p = realloc(m->cs, (size_t)((r1 - r0) * m->nc) * sizeof(float));
        if (!p)
            return gs_error(GS_ERR_NOMEM, "sample: out of memory");
        m->cs = p;
        m->cs_cap = r1 - r0;
    }
    int rc = ds_images_alloc(out, img1 - img0, m->h, m->w, m->nc);
    if (rc)
        return rc;
    pp_scaler_transform(&m->scaler, cond + r0 * m->nc, m->cs, r1 - r0);
    rc = seek_noise(m, seed, img0);
    if (!rc)
        rc = generate_jobs(m, m->cs, r0, k, img0, img1, &m->cur_rng, out->images);
    if (rc) {
        m->cur_img = -1;
        ds_images_free(out);
        return rc;
    }
    m->cur_img = img1;
    for (int64_t i = img0; i < img1; i++)
        memcpy(out->cond + (i - img0) * m->nc, cond + (i / k) * m->nc,
               (size_t)m->nc * sizeof(float));
    return GS_OK;
}

static int flow_open(const char *path, void **model)
{
    md_zdcflow_model *m;
    int rc = md_zdcflow_load(path, &m);
    *model = rc ? NULL : m;
    return rc;
}

static void flow_close(void *model) { md_zdcflow_free(model); }
static int64_t im_n_cond(const void *m) { return ((const md_zdcflow_model *)m)->nc; }

static void im_shape(const void *m, int64_t *h, int64_t *w)
{
    *h = ((const md_zdcflow_model *)m)->h;
    *w = ((const md_zdcflow_model *)m)->w;
}

static int im_sample(void *m, const float *cond, int64_t n, int64_t k, uint64_t seed,
                     ds_images *out)
{
    return md_zdcflow_sample(m, cond, n, k, seed, out);
}

static int64_t im_n_chunks(const void *m, int64_t n, int64_t k)
{
    return md_zdcflow_n_chunks(m, n, k);
}

static int im_sample_chunk(void *m, const float *cond, int64_t n, int64_t k, uint64_t seed,
                           int64_t c, ds_images *out)
{
    return md_zdcflow_sample_chunk(m, cond, n, k, seed, c, out);
}

static const md_images_ops flow_images = {im_n_cond, im_shape, im_sample, im_n_chunks,
                                          im_sample_chunk};

/* ---- the kind ------------------------------------------------------------------------ */
static void cfg_default(void *cfg) { md_zdcflow_cfg_default(cfg); }

static const char *const loss_names[] = {"loss_fm", NULL};
static const char *const loss_labels[] = {"FM", NULL};

/* No ONNX exporter (export_onnx NULL: gansim-export refuses a zdc_flow model
 * with a message naming the kind before writing anything): sampling is an
 * ODE loop of sample.steps (x2 for heun) network passes, which an exported
 * graph would have to unroll; docs/zdc.md says so. */
const md_kind md_kind_zdcflow = {
    .name = "zdc-flow",
    .file_kind = "zdc_flow",
    .summary = "ALICE ZDC: conditional flow matching (velocity U-Net, ODE sampler)",
    .cfg_fields = md_zdcflow_cfg_fields,
    .cfg_size = sizeof(md_zdcflow_cfg),
    .cfg_default = cfg_default,
    .data_help = "HDF5 image set (/images, /conditions)",
    .data_read = md_zdc_data_read,
    .data_free = md_zdc_data_free,
    .data_describe = md_zdc_data_describe,
    .loss_names = loss_names,
    .loss_labels = loss_labels,
    .score_name = "w1_mean",
    .score_label = "W1",
    .parts_in_log = 0,
    .init = flow_init,
    .step = flow_step,
    .evaluate = flow_evaluate,
    .keep_best = flow_keep_best,
    .log_header = flow_log_header,
    .save = save,
    .free = flow_free,
    .open = flow_open,
    .close = flow_close,
    .images = &flow_images,
    .export_onnx = NULL,
};

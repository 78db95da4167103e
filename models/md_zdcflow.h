/* md_zdcflow — conditional flow matching for ZDC images (docs/zdc.md,
 * "Flow matching"): the second ZDC model kind, beside the GAN (md_zdc.h).
 *
 * A velocity network v(x_t, t, c) on the ZDC conv building blocks (a small
 * U-Net: stride-2 convs down, a dense embedding of [sin/cos features of t ‖
 * condition] added at the bottleneck, sub-pixel upsample + conv up with skip
 * concatenations) is regressed onto the velocity of the linear
 * (rectified-flow) path between noise and data:
 *
 *   x_t = (1 − t) x0 + t x1,  x0 ~ N(0, I),  x1 = log(1 + image) / x_scale,
 *   t ~ U(0, 1),  L = mean ‖v(x_t, t, c) − (x1 − x0)‖²
 *
 * (conditional flow matching, Lipman et al., "Flow Matching for Generative
 * Modeling", ICLR 2023, arXiv:2210.02747; the linear path is Liu et al.'s
 * rectified flow, arXiv:2209.03003). x_scale is the standard deviation of
 * the training pixels in log(1 + x) space, so data and noise have a similar
 * spread. Sampling integrates dx/dt = v(x, t, c) from t = 0 (noise) to 1
 * with sample.steps steps of Euler or Heun (second order), then maps back
 * with exp(max(x·x_scale, 0)) − 1, rounded to integer photon counts
 * (sample.round).
 *
 * Conditions are standardised as the GAN does (pp_standard_fit on the
 * training rows); training holds out the same condition groups as the GAN
 * for one seed and evaluates the same held-out mean channel W1, so train.log
 * and model selection read alike. */
#ifndef MD_ZDCFLOW_H
#define MD_ZDCFLOW_H

#include "datasets/ds.h"
#include "models/md_config.h"
#include "models/md_run.h"
#include "nn/nn.h"
#include "preprocess/pp.h"

typedef struct {
    /* network */
    md_ivec channels;              /* 3 widths: full resolution, /2, /4 */
    int64_t t_features;            /* sinusoidal features of t (even) */
    int64_t embed;                 /* width of the (t, condition) embedding */
    double slope;                  /* LeakyReLU negative slope */
    /* sampler (also used by the training evaluation) */
    int64_t steps;                 /* ODE steps from t = 0 to 1 */
    int solver;                    /* 0 euler, 1 heun */
    int round;                     /* photon counts rounded to integers */
    /* training */
    int64_t batch;
    double lr, beta1, beta2;
    double ema;                    /* decay of the weight average that is evaluated and sampled */
    int64_t iters, eval_every, eval_rows, eval_repeats, ckpt_every;
    double holdout;
    int64_t seed;
    int channel_map;               /* mt_zdc_map of the held-out evaluation (0 research, 1 o2) */
} md_zdcflow_cfg;

extern const md_cfg_field md_zdcflow_cfg_fields[];
void md_zdcflow_cfg_default(md_zdcflow_cfg *c);

/* ---- the velocity network ---- */
typedef struct {
    int64_t n_cond, h, w, h0, w0, tf, emb;
    int64_t ch[3];
    float slope;
    nn_conv2d_layer enc[3];        /* 2 -> c0 (s1), c0 -> c1 (s2), c1 -> c2 (s2) */
    nn_linear_layer e1, e2, e3;    /* [tf ‖ nc] -> emb -> emb -> c2·h0·w0 */
    nn_conv2d_layer mid;           /* c2 -> c2 at h0 x w0 */
    nn_conv2d_layer up[2];         /* upsample x2 + conv 3x3: c2 -> c1, c1 -> c0 */
    nn_conv2d_layer merge;         /* [up1 ‖ enc1] 2 c1 -> c1 */
    nn_conv2d_layer out;           /* [up2 ‖ enc0] 2 c0 -> 1 */
    nn_params ps;
} md_zdcflow_net;

int md_zdcflow_net_init(md_zdcflow_net *v, const md_zdcflow_cfg *cfg, int64_t n_cond, int64_t h,
                        int64_t w, gs_rng *r);
void md_zdcflow_net_free(md_zdcflow_net *v);
/* The sinusoidal features of t (Vaswani et al. 2017, as in Ho et al. 2020's
 * time embedding, t scaled by 1000): out[j] = sin(1000 t ω_j), out[tf/2 + j]
 * = cos(1000 t ω_j), ω_j = 10000^(−j/(tf/2)), j < tf/2. Plain data (no
 * gradient flows to t). */
void md_zdcflow_time_features(float t, int64_t tf, float *out);
/* x [B, h·w] (training space), t [B] in [0, 1], cond [B, n_cond]
 * (standardised), plain arrays copied into the context -> velocity
 * [B, 1, h, w]. The input is zero-padded to 4 h0 x 4 w0 (h0 = ceil(h/4)),
 * a second input plane holds t, the output is centre-cropped back. NULL on
 * failure (the context's error). */
nn_tensor *md_zdcflow_net_fwd(nn_ctx *c, const md_zdcflow_net *v, const float *x,
                              const float *t, const float *cond, int64_t b);

/* ---- the ODE solver ---- */
enum { MD_FLOW_EULER = 0, MD_FLOW_HEUN = 1 };
/* v = f(x, t): n floats in, n floats out. */
typedef int (*md_flow_field)(void *ud, const float *x, float t, float *v);
/* Integrates dx/dt = f(x, t) from t = 0 to 1 in `steps` equal steps, in
 * place on x [n]. Euler: x += h f(x, t). Heun (explicit trapezoid, second
 * order): k1 = f(x, t), k2 = f(x + h k1, t + h), x += h (k1 + k2) / 2.
 * scratch: 2n floats (Euler: n). Errors: GS_ERR_ARG for steps < 1 or an
 * unknown solver, and whatever f returns. */
int md_flow_integrate(float *x, int64_t n, int64_t steps, int solver, md_flow_field f, void *ud,
                      float *scratch);

/* ---- training ---- */
/* The model kind (md_run.h): gansim-train zdc-flow, model files "zdc_flow". */
extern const md_kind md_kind_zdcflow;

/* ---- sampling ---- */
typedef struct md_zdcflow_model md_zdcflow_model;

int md_zdcflow_load(const char *path, md_zdcflow_model **m);
void md_zdcflow_free(md_zdcflow_model *m);
/* Overrides the file's sampler (steps >= 1, solver MD_FLOW_*): GS_ERR_ARG otherwise. */
int md_zdcflow_set_sampler(md_zdcflow_model *m, int64_t steps, int solver);
/* k images per condition row (n rows [n, n_cond], original units), as
 * md_zdc_sample: out gets n·k images in original pixel space, row i·k + j
 * for condition i, and the conditions alongside. The starting noise of
 * image i is the i-th h·w draws of the seed's stream; images are computed
 * in chunks of MD_ZDCFLOW_GEN_CHUNK on single-threaded jobs, so the result
 * is the same for any thread count. */
#define MD_ZDCFLOW_GEN_CHUNK 32
#define MD_ZDCFLOW_CHUNK 1024
int md_zdcflow_sample(md_zdcflow_model *m, const float *cond, int64_t n, int64_t k,
                      uint64_t seed, ds_images *out);
int64_t md_zdcflow_n_chunks(const md_zdcflow_model *m, int64_t n, int64_t k);
/* Chunk c: images [c·MD_ZDCFLOW_CHUNK, ...) of md_zdcflow_sample. */
int md_zdcflow_sample_chunk(md_zdcflow_model *m, const float *cond, int64_t n, int64_t k,
                            uint64_t seed, int64_t c, ds_images *out);

#endif

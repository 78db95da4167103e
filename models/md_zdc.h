/* md_zdc — the ALICE proton-ZDC conditional GAN (docs/zdc.md).
 *
 * A conditional conv generator G(z, c) -> H×W image (56×30), a conditional
 * conv discriminator D(x, c) -> logit, non-saturating BCE loss, images
 * trained in log(1 + x) space (mapped back with exp(y) − 1), conditions
 * standardised with a scaler fitted on the training rows. Three optional
 * generator regularisers, each switchable with its own strength, give the
 * four variants of the ALICE ablation (docs/zdc.md has the formulas):
 *   SDI diversity, intensity, auxiliary max-pixel regressor.
 *
 * Training holds out whole condition groups, evaluates the mean channel W1
 * on them every K steps (train.log, key=value records), keeps the best
 * (model.h5) and the last complete state (last.h5, exact resume: same seed
 * and thread count give a bit-identical run). Sampling loads model.h5 and
 * draws k images per condition row. */
#ifndef MD_ZDC_H
#define MD_ZDC_H

#include "datasets/ds.h"
#include "models/md_config.h"
#include "models/md_run.h"
#include "nn/nn.h"
#include "preprocess/pp.h"

typedef struct {
    /* networks */
    int64_t noise_dim;
    md_ivec g_channels;            /* 3 widths: linear map, after up 1, after up 2 */
    md_ivec d_channels;            /* 3 widths of the stride-2 convs */
    int64_t d_hidden;              /* dense layer after flatten ‖ cond */
    int64_t aux_channels;          /* regressor R: conv s2 a -> conv s2 2a -> dense 2 */
    double slope, dropout;
    int d_bn;                      /* batch norm after D's first conv (the ALICE design) */
    int d_norm;                    /* 0 none, 1 spectral normalisation of every D weight,
                                      2 layer norm of D's hidden dense layer, 3 both */
    int loss;                      /* 0 non-saturating BCE, 1 hinge */
    int d_cond;                    /* how D uses the conditions: 0 concatenated to its
                                      flattened features (the ALICE design), 1 also a
                                      projection term (Miyato & Koyama 2018) */
    int d_sums;                    /* D also sees log(1 + the 5 channel sums in photons) */
    double d_mismatch;             /* w in [0, 1]: D's fake examples are generated images
                                      (weight 1 - w) and real images with another row's
                                      conditions (weight w): the matching-aware D of
                                      Reed et al. 2016 (GAN-CLS, w = 0.5); 0 = off */
    /* regularisers */
    int sdi;                       /* SDI diversity term on/off */
    double sdi_lambda;
    int sdi_space;                 /* 0: D penultimate features, 1: pixels */
    int64_t sdi_k;                 /* neighbours for rows whose condition is not repeated */
    int intensity;
    double intensity_lambda;
    int aux;
    double aux_lambda;
    /* training */
    int64_t batch;
    double lr_g, lr_d, lr_aux, beta1, beta2;
    double ema;                    /* decay of the generator weight average used for
                                      evaluation and sampling; 0 = off */
    int ema_warmup;                /* with the warm-up decay of nn_ema_decay */
    int64_t iters, eval_every, eval_rows, eval_repeats, ckpt_every;
    double holdout;
    int64_t seed;
    int channel_map;               /* mt_zdc_map of the held-out evaluation (0 research, 1 o2) */
} md_zdc_cfg;

extern const md_cfg_field md_zdc_cfg_fields[];
void md_zdc_cfg_default(md_zdc_cfg *c);
/* Sets the ALICE design's widths (docs/zdc.md): G 128, 64, 32; D 32, 64, 128;
 * D dense 128. The defaults are a quarter of them. */
void md_zdc_cfg_design_widths(md_zdc_cfg *c);

/* ---- networks (exposed for tests and tools) ---- */
typedef struct {
    int64_t noise_dim, n_cond, h, w, h0, w0;
    int64_t ch[3];
    float slope;
    nn_linear_layer fc;
    nn_batchnorm_layer bn[3];
    nn_conv2d_layer conv[3];
    nn_params ps, buf;             /* trainable, BN running statistics */
} md_zdc_gen;

typedef struct {
    int64_t n_cond, h, w, feat;
    int64_t ch[3];
    float slope, dropout;
    int use_bn;
    int sn;                        /* spectral normalisation (model.d_norm = spectral*) */
    int ln;                        /* layer norm of fc1's output (model.d_norm = *layernorm) */
    nn_tensor *ln_g, *ln_b;        /* its gain and bias [feat] (in ps) */
    nn_conv2d_layer conv[3];
    nn_batchnorm_layer bn;
    nn_linear_layer fc1, fc2;
    int proj;                      /* projection term (model.d_cond = projection) */
    nn_linear_layer emb;           /* its condition embedding [feat, n_cond], no bias */
    nn_tensor *sn_u[6];            /* power-iteration vectors of conv0..2, fc1, fc2, emb (in buf) */
    int sums;                      /* model.d_sums: fc1 also gets log(1 + channel sums) */
    float *chmask;                 /* [h·w, 5] 0/1 channel masks of eval.channel_map (heap) */
    float chpix[5];                /* pixels per channel (MT_ZDC_NCH) */
    nn_params ps, buf;
} md_zdc_disc;

typedef struct {
    nn_conv2d_layer conv[2];
    nn_linear_layer fc;
    nn_params ps;
} md_zdc_aux;

int md_zdc_gen_init(md_zdc_gen *g, const md_zdc_cfg *cfg, int64_t n_cond, int64_t h, int64_t w,
                    gs_rng *r);
void md_zdc_gen_free(md_zdc_gen *g);
/* z [B, noise_dim], cond [B, n_cond] -> [B, 1, h, w] (training space, >= 0). */
nn_tensor *md_zdc_gen_fwd(nn_ctx *c, const md_zdc_gen *g, nn_tensor *z, nn_tensor *cond);

int md_zdc_disc_init(md_zdc_disc *d, const md_zdc_cfg *cfg, int64_t n_cond, int64_t h,
                     int64_t w, gs_rng *r);
void md_zdc_disc_free(md_zdc_disc *d);
/* x [B, 1, h, w] (training space, log(1 + photons)), cond [B, n_cond] -> logits [B, 1];
 * with model.d_sums the dense layer's input is [flatten ‖ cond ‖ log(1 + S_k)], S_k the
 * photon sum of ZDC channel k = 1..5 (eval.channel_map); *feat (may be NULL)
 * receives the penultimate features [B, d_hidden]. rng: dropout masks. */
nn_tensor *md_zdc_disc_fwd(nn_ctx *c, const md_zdc_disc *d, nn_tensor *x, nn_tensor *cond,
                           gs_rng *rng, nn_tensor **feat);

int md_zdc_aux_init(md_zdc_aux *a, const md_zdc_cfg *cfg, int64_t h, int64_t w, gs_rng *r);
void md_zdc_aux_free(md_zdc_aux *a);
/* x [B, 1, h, w] -> predicted normalised (row, col) of the brightest pixel [B, 2]. */
nn_tensor *md_zdc_aux_fwd(nn_ctx *c, const md_zdc_aux *a, nn_tensor *x);

/* ---- the regularisers' pieces (exact formulas in docs/zdc.md) ---- */
/* Hinge loss half: mean_i max(0, 1 + sign * logit_i) -> [1]; D minimises
 * hinge(real, -1) + hinge(fake, +1), G minimises -mean(D(fake)) with
 * model.loss = hinge (Lim & Ye 2017, "Geometric GAN"). */
nn_tensor *md_zdc_hinge(nn_ctx *c, nn_tensor *logit, float sign);
/* D's loss on one batch (minimised by D): real images with their conditions
 * are real; generated images are fake with weight 1 - w and, when w =
 * cfg->d_mismatch > 0, real images with the conditions cond_mis (another
 * row's) are fake with weight w (Reed et al. 2016, "Generative adversarial
 * text to image synthesis", GAN-CLS). Non-saturating BCE with logits or hinge
 * (cfg->loss). real, fake [B, 1, h, w]; cond, cond_mis [B, n_cond] (cond_mis
 * unused when w = 0); ones, zeros [B, 1]; rng: dropout. -> [1] */
nn_tensor *md_zdc_d_loss(nn_ctx *c, const md_zdc_cfg *cfg, const md_zdc_disc *d,
                         nn_tensor *real, nn_tensor *fake, nn_tensor *cond,
                         nn_tensor *cond_mis, nn_tensor *ones, nn_tensor *zeros, gs_rng *rng);
/* s_i, the diversity of the real responses to conditions like row i's:
 * rows with identical conditions form a group; a row alone in its group
 * uses its k nearest rows (Euclidean, in the given — standardised —
 * condition space, itself included). s_raw = Σ_pixels std (ddof 0) over the
 * group; s = (s_raw − min) / (max − min) over all n rows (all 1 when every
 * s_raw is equal). img: [n, px] (training space). s: [n]. */
int md_zdc_diversity_weights(const float *cond, const float *img, int64_t n, int64_t c,
                             int64_t px, int64_t k, float *s);
/* λ · mean(s) · mean_i s_i / (div_i + 1e−5), div_i = mean_j |f1_ij − f2_ij| /
 * (mean_j |z1_ij − z2_ij| + 1e−5). f1, f2 [B, F] graph values; z1, z2 [B, nz]
 * and s [B] plain arrays; mean_s the dataset mean of s. */
nn_tensor *md_zdc_sdi_loss(nn_ctx *c, nn_tensor *f1, nn_tensor *f2, const float *z1,
                           const float *z2, int64_t nz, const float *s, double mean_s,
                           double lambda);
/* λ · mean_i |Σ_pixels gen_i − real_sum_i|; gen [B, ...], real_sum [B]. */
nn_tensor *md_zdc_intensity_loss(nn_ctx *c, nn_tensor *gen, const float *real_sum,
                                 double lambda);
/* λ · MSE(pred [B, 2], coords [B, 2]). */
nn_tensor *md_zdc_aux_loss(nn_ctx *c, nn_tensor *pred, const float *coords, double lambda);
/* (row / (h − 1), col / (w − 1)) of each image's maximum (first in row-major
 * order on ties): coords [n, 2]. */
void md_zdc_argmax_coords(const float *img, int64_t n, int64_t h, int64_t w, float *coords);

/* ---- training ---- */
/* The model kind (md_run.h): gansim-train zdc, model files "zdc_gan". */
extern const md_kind md_kind_zdc;

/* Trains on an image set with conditions (original pixel space, >= 0):
 * md_train with md_kind_zdc. GS_OK also when stopped through opts->stop
 * (then *stopped != 0 and last.h5 holds the state to resume from). */
int md_zdc_train(const md_zdc_cfg *cfg, const ds_images *data, const md_train_opts *opts,
                 int *stopped);

/* ---- sampling ---- */
typedef struct md_zdc_model md_zdc_model;

int md_zdc_load(const char *path, md_zdc_model **m);
void md_zdc_free(md_zdc_model *m);
int64_t md_zdc_n_cond(const md_zdc_model *m);
void md_zdc_image_shape(const md_zdc_model *m, int64_t *h, int64_t *w);
/* k images per condition row (n rows [n, n_cond], original units): out gets
 * n·k images in original pixel space, row i·k + j for condition i, and the
 * conditions repeated alongside. Deterministic for a seed and thread count. */
/* Sampling uses a folded, sub-pixel form of the eval-mode generator
 * (md_zdc_sample.c explains it); off = the plain graph, for checks. Default on. */
void md_zdc_set_fast(md_zdc_model *m, int on);
int md_zdc_sample(md_zdc_model *m, const float *cond, int64_t n, int64_t k, uint64_t seed,
                  ds_images *out);

/* The same production in chunks of MD_ZDC_CHUNK images (the last one
 * shorter), for productions larger than memory (models/md_produce.h). The
 * images of chunk c equal images [c·MD_ZDC_CHUNK, ...) of md_zdc_sample
 * (the folded generator; md_zdc_set_fast does not apply): the noise of
 * image i is the i-th draw of the seed's stream, which the handle keeps
 * between calls, so asking for increasing c costs nothing extra and any
 * other order only redraws the skipped noise. */
#define MD_ZDC_CHUNK 2048
int64_t md_zdc_n_chunks(const md_zdc_model *m, int64_t n, int64_t k);
int md_zdc_sample_chunk(md_zdc_model *m, const float *cond, int64_t n, int64_t k, uint64_t seed,
                        int64_t c, ds_images *out);

/* ---- the inference form (for exporters, models/md_export_zdc.c) ---- */
/* What sampling runs: eval-mode batch norm folded into the layer before it,
 * each upsample x2 + conv 3x3 as a 2x2 conv with 4 Cout outputs whose phase
 * planes interleave into the 2x image (nn_upsample2_conv3x3, docs/conv.md).
 * Generator: x = LeakyReLU(fc_w [z ‖ c] + fc_b) reshaped to [c0, h0, w0];
 * twice: x = LeakyReLU(interleave(conv2x2_pad1(x, phase_w, phase_b)));
 * then ReLU(conv3x3_pad1(x, g->conv[2])) centre-cropped to h x w, in
 * log(1 + photons) space. The pointers live as long as the model. */
typedef struct {
    const md_zdc_gen *g;                      /* sizes, slope, last conv */
    const nn_tensor *fc_w, *fc_b;             /* [c0 h0 w0, nz + nc], [c0 h0 w0] */
    const nn_tensor *phase_w[2], *phase_b[2]; /* [4 Cout, Cin, 2, 2], [4 Cout] */
    const pp_scaler *scaler;                  /* condition standardisation */
} md_zdc_inference;

int md_zdc_inference_view(const md_zdc_model *m, md_zdc_inference *v);
/* The sampling generator on given inputs: z [n, noise_dim] (N(0, 1) draws),
 * cond_std [n, n_cond] already standardised with the model's scaler ->
 * out [n, h, w] in log(1 + x) space (before exp(y) - 1). */
int md_zdc_generate_log(md_zdc_model *m, const float *z, const float *cond_std, int64_t n,
                        float *out);

#endif

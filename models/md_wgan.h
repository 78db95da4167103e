/* md_wgan — a dense Wasserstein GAN on feature vectors: an MLP generator
 * from Gaussian noise, an MLP critic, the WGAN-GP loss (gradient penalty
 * through the engine's double backward) or the original weight-clipping
 * WGAN, an optional EMA of the generator, batched generation, and
 * checkpointing of the complete training state. Knows nothing of physics:
 * the LUXE pipeline composes several of these. */
#ifndef MD_WGAN_H
#define MD_WGAN_H

#include "core/gs_h5.h"
#include "nn/nn.h"

#define MD_MAX_LAYERS 16

typedef enum { MD_NORM_NONE = 0, MD_NORM_LAYER } md_norm;
typedef enum { MD_LOSS_WGAN_GP = 0, MD_LOSS_WGAN_CLIP } md_loss;

/* Hidden widths[0..depth-1]; LeakyReLU(slope) after every hidden layer,
 * optionally preceded by a layer norm. The last layer is linear. */
typedef struct {
    int64_t n_in, n_out;
    int depth;
    int64_t widths[MD_MAX_LAYERS];
    float slope;
    md_norm norm;
} md_mlp_cfg;

typedef struct {
    md_mlp_cfg cfg;
    nn_linear_layer l[MD_MAX_LAYERS + 1];
    nn_tensor *ln_g[MD_MAX_LAYERS], *ln_b[MD_MAX_LAYERS];
} md_mlp;

int md_mlp_init(md_mlp *m, nn_params *ps, const char *prefix, const md_mlp_cfg *cfg, gs_rng *r);
nn_tensor *md_mlp_fwd(nn_ctx *c, const md_mlp *m, nn_tensor *x);

typedef struct {
    int64_t n_features, noise_dim;
    md_mlp_cfg g, d;            /* n_in/n_out are filled in by md_wgan_init */
    md_loss loss;
    float lambda_gp;            /* gradient-penalty weight (WGAN-GP) */
    float clip;                 /* weight clip (original WGAN) */
    int n_critic;               /* critic steps per generator step */
    int64_t batch;
    float lr_g, lr_d, beta1, beta2;
    float ema;                  /* generator EMA decay; 0 = off. Step t (from 0) uses
                                   nn_ema_decay(ema, t) = min(ema, (1 + t) / (10 + t)) (the
                                   num_updates rule of TensorFlow's ExponentialMovingAverage),
                                   so a short run's average is not held at the initial weights */
    int shards;                 /* data-parallel batch slices of this process, see md_wgan;
                                   0 = auto */
    /* Data-parallel over processes: this process is `rank` of `n_ranks`
     * (0 or 1: alone). The slices are numbered across all ranks, n_ranks x
     * shards of them, and each rank runs its own; see md_wgan. */
    int rank, n_ranks;
} md_wgan_cfg;

/* Row sampler for minibatches: uniform, or proportional to weights (Walker's
 * alias method, O(1) a draw) so Geant4 biasing weights are honoured. */
typedef struct {
    int64_t n;
    float *prob;      /* alias tables, NULL when unweighted */
    int64_t *alias;
} md_sampler;

int md_sampler_init(md_sampler *s, int64_t n, const float *weights);
int64_t md_sampler_draw(const md_sampler *s, gs_rng *r);
void md_sampler_free(md_sampler *s);

typedef struct {
    double loss_d, loss_g, gp, wdist;   /* last critic step: critic loss, GP, W estimate */
} md_wgan_losses;

#define MD_MAX_SHARDS 8

/* One data-parallel slice of the batch: rows [r0, r0 + rows) run through
 * replicas of G and D bound to shadow parameter sets (nn_params_shadow:
 * the model's weights, gradient buffers of their own) on a context of
 * their own. Shard 0 is the model itself (its sets, its ctx). */
typedef struct {
    nn_ctx *ctx;
    nn_params *gps, *dps;    /* the sets G and D are bound to */
    nn_params own_g, own_d;  /* shards > 0: the shadow sets */
    md_mlp g, d;
    int64_t r0, rows;
    double loss, wdist, gp;  /* this slice's share of the batch means */
} md_wgan_shard;

/* Data-parallel training over processes (md_run.h, md_parallel): fn is
 * called with each network's parameter set after its gradients are summed
 * over this rank's slices and before its optimizer update, with the step's
 * loss terms in extra, and must leave there the sums over the ranks.
 * fn NULL: one process. */
typedef struct {
    int (*fn)(void *ud, nn_params *ps, float *extra, int n_extra);
    void *ud;
} md_wgan_reduce;

/* Training step parallelism: the batch is cut into n_shards slices that
 * run forward and backward at the same time, one thread each, with
 * single-threaded kernels and BLAS; their gradients are summed before the
 * optimizer step. One fork/join a pass instead of one per GEMM (about 40
 * per critic step), which is what kept 2 threads at 1.6x one. The result
 * is the full-batch step up to float summation order. cfg.shards = 0
 * picks one slice per thread with at least 64 rows each (so the rounding
 * follows the thread count); cfg.shards = K fixes K slices, each always
 * single-threaded, up to min(K, threads) at once: the same run, bit for
 * bit, for any thread count.
 *
 * Over processes (cfg.n_ranks > 1) the same cut goes one level up: the
 * batch has n_ranks x n_shards slices, rank r runs slices r·n_shards ..
 * (r+1)·n_shards - 1, and reduce.fn sums the gradients over the ranks.
 * Every rank draws every random number of the step (the batch's rows, the
 * interpolation weights, the noise streams) in the same order, so the ranks'
 * RNGs, parameters and optimizer states stay identical; it fills only its
 * own rows. 2 ranks x 1 slice is then the same computation as 1 process x
 * 2 slices. */
typedef struct {
    md_wgan_cfg cfg;
    nn_params gp, dp, ep;    /* generator, critic, generator EMA */
    md_mlp g, d, g_ema;
    nn_optim og, od;
    nn_ctx *ctx;
    gs_rng rng;
    int64_t step;            /* generator steps taken */
    float *real, *noise, *eps;  /* batch buffers, allocated once */
    gs_rng *streams;         /* noise streams, one per NOISE_BLOCK rows */
    int n_shards;
    md_wgan_shard sh[MD_MAX_SHARDS];
    md_wgan_reduce reduce;   /* zero after md_wgan_init; set it for several processes */
} md_wgan;

int md_wgan_init(md_wgan *w, const md_wgan_cfg *cfg, uint64_t seed);
void md_wgan_free(md_wgan *w);
/* One generator step preceded by n_critic critic steps; real rows drawn
 * from data [n, F] through the sampler. */
int md_wgan_step(md_wgan *w, const float *data, const md_sampler *s, md_wgan_losses *out);
/* n samples into out [n, F], in chunks, no gradient. use_ema picks the EMA
 * generator when there is one. r: the noise stream. */
int md_wgan_generate(md_wgan *w, int64_t n, float *out, int use_ema, gs_rng *r);
/* Generation with a given generator (e.g. a best snapshot): n rows into
 * out [n, F] in chunks of 4096, no gradient. With n_ctx contexts, up to
 * min(n_ctx, threads) chunks run at once. The output depends only on r's
 * state, not on n_ctx or the thread count. */
int md_mlp_generate(nn_ctx *const *ctx, int n_ctx, const md_mlp *g, int64_t noise_dim,
                    int64_t n, float *out, gs_rng *r);

/* Whole training state (G, D, EMA, optimizers, RNG, step) under a group. */
int md_wgan_save(const md_wgan *w, hid_t group);
int md_wgan_load(md_wgan *w, hid_t group);

#endif

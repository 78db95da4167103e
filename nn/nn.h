/* nn — gansim's engine: float32 tensors, reverse-mode autodiff with
 * gradients of gradients, dense ops, layers, optimizers, checkpoints.
 * Knows nothing of physics.
 *
 * Model of use (record-per-step tape, like PyTorch, but arena-backed):
 *
 *     nn_ctx_reset(ctx);                      // forget last step's graph
 *     nn_tensor *x = nn_input(ctx, 2, (int64_t[]){B, F}, batch);
 *     nn_tensor *y = nn_linear(ctx, x, layer.W, layer.b);
 *     nn_tensor *loss = nn_mean(ctx, nn_square(ctx, y));
 *     nn_backward(ctx, loss);                 // += d loss / d p into p->grad
 *     nn_optim_step(&opt);
 *
 * Every op computes its forward value eagerly and records itself on the
 * context's tape. Backward rules are written with the same ops, so a
 * gradient obtained with nn_grad(..., create_graph = 1) is itself a graph
 * value that can be differentiated again (the WGAN gradient penalty).
 *
 * Memory: graph tensors and their data live in the context's arena, which
 * nn_ctx_reset() rewinds. The arena grows only while a step needs more than
 * any earlier one, so from the second identical step on nothing is
 * malloc'd (nn_ctx_stats() proves it). Parameters, their gradients and
 * optimizer state are persistent (nn_params), outside the arena.
 *
 * Errors: ops never abort. A bad shape or an exhausted arena makes an op
 * return NULL with gs_errmsg() set; every op returns NULL when an input is
 * NULL, so a whole expression can be checked once at the end. */
#ifndef NN_H
#define NN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/gs_core.h"

#define NN_MAX_DIMS 4
#define NN_MAX_SRC 3

typedef struct nn_ctx nn_ctx;
typedef struct nn_tensor nn_tensor;

/* Op parameters, named per op family; the op says which member is in use. */
typedef union {
    struct { float a, b; } affine;         /* AFFINE: a x + b */
    float slope;                           /* LEAKY_RELU, LEAKY_RELU_BW, LINEAR_LRELU */
    struct { bool ta, tb; } matmul;        /* MATMUL: transpose A, B */
    int64_t start;                         /* SLICE, PAD: offset along dim 1 */
    struct { int64_t o, m, i; } view;      /* REDUCE, EXPAND, CHAN_*: x as [o, m, i],
                                              the m channels reduced or broadcast */
    struct {
        int64_t sh, sw, ph, pw;            /* stride and padding, rows and columns */
        int64_t slabs, slab_floats;        /* im2col slabs in aux: count, floats each */
    } conv;                                /* CONV2D, CONV_T2D, CONV_WGRAD */
    int64_t factor;                        /* UPSAMPLE2D, SUMPOOL2D */
    struct { int64_t top, left; } window;  /* CROP2D, PAD2D: the window's corner */
    struct { float slope; bool act; } il;  /* PHASE_IL: LeakyReLU(slope) fused when act */
    struct {
        int64_t o, m, i;                   /* x as [o, m, i], m channels */
        float eps, slope;
        bool act;                          /* LeakyReLU(slope) fused */
    } bn;                                  /* BN_TRAIN */
} nn_op_args;

/* Fields above the line may be read by users; the rest is the engine's. */
struct nn_tensor {
    float *data;                    /* n floats, 64-byte aligned, row-major */
    int64_t n;                      /* element count */
    int ndim;
    int64_t shape[NN_MAX_DIMS];
    float *grad;                    /* parameters only: accumulated gradient */
    const char *name;               /* parameters only */
    /* ------------------------------------------------------------------ */
    int op;                         /* enum nn_op; NN_OP_LEAF for inputs and params */
    bool requires_grad;
    bool is_param;
    nn_tensor *src[NN_MAX_SRC];
    nn_op_args arg;                 /* the op's parameters (its family's member) */
    nn_tensor *prev;                /* tape link: previous node of the context */
    nn_tensor *gacc;                /* gradient being accumulated in a backward pass */
    uint64_t gepoch;                /* pass that gacc belongs to */
    uint64_t nepoch;                /* nn_grad pass in which a wrt depends on this node */
    nn_tensor *gnext;               /* parameters reached in this pass (a list) */
    void *aux;                      /* op scratch in the arena (conv im2col slabs) */
    bool borrowed;                  /* parameters only: data owned by another set */
    size_t recycle_bytes;           /* > 0: data block that nn_ctx_release may recycle */
    uint64_t made_in;               /* nn_backward pass that made it (0: none) */
};

/* ---- context ------------------------------------------------------------ */
typedef struct {
    size_t arena_bytes;      /* capacity of the arena block */
    size_t high_water;       /* most bytes any step used */
    size_t used;             /* bytes used by the current step */
    uint64_t n_mallocs;      /* arena blocks allocated over the context's life */
    int64_t n_nodes;         /* nodes on the current tape */
} nn_ctx_stats;

nn_ctx *nn_ctx_new(void);
void nn_ctx_free(nn_ctx *c);
void nn_ctx_reset(nn_ctx *c);
void nn_ctx_get_stats(const nn_ctx *c, nn_ctx_stats *s);
/* With grad disabled no node requires grad (inference; cheaper). */
void nn_set_grad_enabled(nn_ctx *c, bool on);
bool nn_get_grad_enabled(const nn_ctx *c);
/* Training vs evaluation mode for dropout and batch norm. */
void nn_set_training(nn_ctx *c, bool on);
bool nn_is_training(const nn_ctx *c);
/* Scratch memory from the arena (valid until the next reset). */
void *nn_scratch(nn_ctx *c, size_t bytes);

/* Promise that nothing reads t's values again — no later op of yours and no
 * backward rule: t must not require grad, nor may any node that consumed it
 * (e.g. a generator run with grad disabled, its layer inputs once the next
 * layer exists). A buffer of 16 KiB or more then goes back to the context
 * for the step's next tensors (t->data becomes NULL); else nothing happens.
 * A no-op for tensors that require grad and for views (reshape). */
void nn_release(nn_ctx *c, nn_tensor *t);

/* ---- threads ------------------------------------------------------------
 * gansim's thread count is one process-wide setting. OpenMP's own
 * (omp_set_num_threads) belongs to the calling thread only: a thread started
 * later, e.g. a Geant4 worker, would not see it. So nn_set_threads(n) stores n
 * for the whole process (and sets the calling thread's OpenMP and OpenBLAS
 * count), and every entry point that may run on a caller's thread brackets its
 * work with nn_threads_begin / nn_threads_end, which give that thread the
 * process-wide count for the call and put the caller's own setting back.
 * Until nn_set_threads is called the count is OpenMP's default
 * (OMP_NUM_THREADS, else the CPUs the process may use). */
void nn_set_threads(int n);
/* The process-wide count (n >= 1). */
int nn_get_threads(void);
/* Returns the caller's OpenMP setting, for nn_threads_end. */
int nn_threads_begin(void);
void nn_threads_end(int saved);

/* One line of advice when OpenBLAS runs matrix kernels far below what this
 * CPU supports, else NULL. OpenBLAS's DYNAMIC_ARCH picks its kernels by
 * CPU model when the library loads; a CPU newer than the OpenBLAS release
 * falls back to the SSE3 "Prescott" kernels (Debian's 0.3.21 on a Xeon
 * with AVX-512: sgemm 6-7 GFLOP/s a core instead of 100-150 with its
 * SkylakeX kernels, docs/performance.md). Only the environment variable
 * OPENBLAS_CORETYPE, set before the program starts, changes the choice, so
 * the library can only say so. NULL too when OPENBLAS_CORETYPE is set or
 * GANSIM_ISA caps gansim's kernels below x86-64-v3. */
const char *nn_blas_advice(void);
/* The OPENBLAS_CORETYPE value that advice names ("SkylakeX" on an AVX-512
 * CPU, "Haswell" on an AVX2 one), or NULL when there is no advice. */
const char *nn_blas_better_core(void);

/* Runs job(arg, i, slot) for i = 0 .. n_jobs - 1, up to `width` jobs at once
 * (width <= nn_get_threads() is the useful range). Each job runs on one thread
 * with single-threaded kernels and single-threaded OpenBLAS (whose results
 * change with its thread count): a job's output therefore depends only on
 * its inputs, never on width, the thread count, or which thread ran it.
 * `slot` in 0 .. width - 1 is unique among the jobs running at the same
 * moment (index per-slot scratch, e.g. one nn_ctx each). Returns the first
 * failing job's status (in job order), GS_OK otherwise; every job runs. */
int nn_run_jobs(int n_jobs, int width, int (*job)(void *arg, int i, int slot), void *arg);

/* ---- leaves ------------------------------------------------------------- */
/* A new arena tensor, uninitialised (fill t->data yourself). */
nn_tensor *nn_new(nn_ctx *c, int ndim, const int64_t *shape);
nn_tensor *nn_zeros(nn_ctx *c, int ndim, const int64_t *shape);
/* Copies `data` into the arena. */
nn_tensor *nn_input(nn_ctx *c, int ndim, const int64_t *shape, const float *data);
/* Marks a leaf (e.g. the WGAN-GP interpolate) as something to differentiate by. */
void nn_set_requires_grad(nn_tensor *t, bool on);

/* ---- ops (all differentiable unless said otherwise) ----------------------- */
/* Shapes: a and b of identical shape for the binary elementwise ops. */
nn_tensor *nn_add(nn_ctx *c, nn_tensor *a, nn_tensor *b);
nn_tensor *nn_sub(nn_ctx *c, nn_tensor *a, nn_tensor *b);
nn_tensor *nn_mul(nn_ctx *c, nn_tensor *a, nn_tensor *b);
nn_tensor *nn_div(nn_ctx *c, nn_tensor *a, nn_tensor *b);
nn_tensor *nn_affine(nn_ctx *c, nn_tensor *x, float a, float b); /* a*x + b */
nn_tensor *nn_scale(nn_ctx *c, nn_tensor *x, float a);
nn_tensor *nn_add_scalar(nn_ctx *c, nn_tensor *x, float b);
nn_tensor *nn_square(nn_ctx *c, nn_tensor *x);
nn_tensor *nn_sqrt(nn_ctx *c, nn_tensor *x);
nn_tensor *nn_abs(nn_ctx *c, nn_tensor *x);
nn_tensor *nn_exp(nn_ctx *c, nn_tensor *x);
nn_tensor *nn_log(nn_ctx *c, nn_tensor *x);
nn_tensor *nn_relu(nn_ctx *c, nn_tensor *x);
nn_tensor *nn_leaky_relu(nn_ctx *c, nn_tensor *x, float slope);
nn_tensor *nn_tanh(nn_ctx *c, nn_tensor *x);
nn_tensor *nn_sigmoid(nn_ctx *c, nn_tensor *x);
nn_tensor *nn_softplus(nn_ctx *c, nn_tensor *x);
nn_tensor *nn_sign(nn_ctx *c, nn_tensor *x);   /* constant: no gradient */

/* C = op(A) op(B), op = transpose when the flag is set; 2-D only. */
nn_tensor *nn_matmul(nn_ctx *c, nn_tensor *a, nn_tensor *b, bool ta, bool tb);
/* y = x W^T + b: x [N, in], W [out, in], b [out] or NULL. */
nn_tensor *nn_linear(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b);

/* leaky_relu(x W^T + b, slope) in one op, slope >= 0 (0 = ReLU): bias and
 * activation are applied in one pass over the sgemm result, and the node
 * keeps only its output (the activation mask is read from the output's
 * sign, which equals the pre-activation's for slope >= 0). Differentiable to
 * any order, like the two ops it replaces. */
nn_tensor *nn_linear_leaky_relu(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b,
                                float slope);

/* Along dimension 1 (features / channels), any rank, other dims equal. */
nn_tensor *nn_concat(nn_ctx *c, nn_tensor *a, nn_tensor *b);
nn_tensor *nn_slice(nn_ctx *c, nn_tensor *x, int64_t start, int64_t len);
nn_tensor *nn_reshape(nn_ctx *c, nn_tensor *x, int ndim, const int64_t *shape);

/* Reductions and their broadcasts. Shapes [N, ...]: "rows" are samples,
 * "channels" are dimension 1 (features of a 2-D tensor). */
nn_tensor *nn_sum(nn_ctx *c, nn_tensor *x);                 /* -> [1] */
nn_tensor *nn_mean(nn_ctx *c, nn_tensor *x);                /* -> [1] */
nn_tensor *nn_sum_rows(nn_ctx *c, nn_tensor *x);            /* -> [N, 1] */
nn_tensor *nn_sum_channels(nn_ctx *c, nn_tensor *x);        /* -> [C] */
nn_tensor *nn_expand_scalar(nn_ctx *c, nn_tensor *s, int ndim, const int64_t *shape);
nn_tensor *nn_expand_rows(nn_ctx *c, nn_tensor *r, int ndim, const int64_t *shape);
nn_tensor *nn_expand_channels(nn_ctx *c, nn_tensor *ch, int ndim, const int64_t *shape);
/* y = x * s[ch] + t[ch] per channel (dim 1) of x, s and t [C], either NULL
 * (1 / 0). The same as multiplying and adding expand_channels broadcasts
 * without materialising them: batch norm's centring and scaling. */
nn_tensor *nn_channel_affine(nn_ctx *c, nn_tensor *x, nn_tensor *s, nn_tensor *t);

/* y = a * s[ch] + b * u[ch] + t[ch] for a, b of one shape and s, u, t [C]:
 * two channel_affines and their sum in one pass and one tensor (the data
 * gradient of batch norm). */
nn_tensor *nn_channel_affine2(nn_ctx *c, nn_tensor *a, nn_tensor *b, nn_tensor *s, nn_tensor *u,
                              nn_tensor *t);
/* Per-channel reductions (dim 1), any rank >= 2, to [C], without a
 * full-size temporary: channel_dot = sum_channels(a * b) (a, b one shape);
 * channel_var = the biased variance of each channel (two-pass). */
nn_tensor *nn_channel_dot(nn_ctx *c, nn_tensor *a, nn_tensor *b);
nn_tensor *nn_channel_var(nn_ctx *c, nn_tensor *x);

/* Losses and normalisation, composed from the ops above (so they have
 * second derivatives for free). */
nn_tensor *nn_bce_with_logits(nn_ctx *c, nn_tensor *logits, nn_tensor *target); /* mean */
nn_tensor *nn_mse(nn_ctx *c, nn_tensor *a, nn_tensor *b);                      /* mean */
nn_tensor *nn_l1(nn_ctx *c, nn_tensor *a, nn_tensor *b);                       /* mean */
/* Per-sample normalisation over all non-batch dims; gamma, beta [D] or NULL. */
nn_tensor *nn_layernorm(nn_ctx *c, nn_tensor *x, nn_tensor *gamma, nn_tensor *beta, float eps);
/* Dropout with drop probability p: identity in eval mode; the mask is drawn
 * from rng once and reused by backward. */
nn_tensor *nn_dropout(nn_ctx *c, nn_tensor *x, float p, gs_rng *rng);

/* ---- autodiff ------------------------------------------------------------ */
/* d y / d wrt[i] for a scalar y ([1]). out[i] is a graph value of wrt[i]'s
 * shape (zeros when y does not depend on it). With create_graph the result
 * can be differentiated again. */
int nn_grad(nn_ctx *c, nn_tensor *y, int n, nn_tensor *const *wrt, nn_tensor **out,
            bool create_graph);
/* Accumulates d y / d p into p->grad for every parameter y depends on. */
int nn_backward(nn_ctx *c, nn_tensor *y);

/* ---- parameters ------------------------------------------------------------ */
typedef struct {
    nn_tensor **p;
    int n, cap;
} nn_params;

void nn_params_init(nn_params *ps);
void nn_params_free(nn_params *ps);
/* A persistent, zero-initialised parameter with a zeroed gradient. */
nn_tensor *nn_param_new(nn_params *ps, const char *name, int ndim, const int64_t *shape);
nn_tensor *nn_params_find(const nn_params *ps, const char *name);
void nn_params_zero_grad(nn_params *ps);
void nn_params_set_requires_grad(nn_params *ps, bool on);
int64_t nn_params_count(const nn_params *ps);
/* Copies values (same names and shapes) — e.g. for an EMA or a snapshot. */
int nn_params_copy(nn_params *dst, const nn_params *src);
/* dst = decay * dst + (1 - decay) * src (exponential moving average). */
int nn_params_ema(nn_params *dst, const nn_params *src, float decay);
/* The decay to use for the update after `step` (0-based) earlier ones of an
 * average with nominal decay `decay`: min(decay, (1 + step) / (10 + step)),
 * the warm-up of TensorFlow's tf.train.ExponentialMovingAverage with
 * num_updates. Without it a short run's average is mostly the initial
 * weights (0.995 alone keeps 0.995^105 = 59 % of them after 105 updates,
 * with the warm-up 1e-13; until the nominal decay takes over the average
 * spans roughly the last 11 % of the updates). A function of the step only, so a resumed run averages
 * exactly like an uninterrupted one. decay <= 0 returns decay unchanged. */
float nn_ema_decay(double decay, int64_t step);
/* Data-parallel replicas. A shadow set has one parameter per parameter of
 * src, same names and shapes, whose data IS src's (shared, read-only while
 * src lives) and whose gradient buffer is its own, zeroed. Give each thread
 * a shadow set and its own context, run forward/backward on a slice of the
 * batch, then fold the gradients into src with nn_params_add_grads: nothing
 * is shared while the threads run (gradients, tape marks), so no locks. */
int nn_params_shadow(nn_params *dst, const nn_params *src);
/* dst->grad += src->grad for every parameter (same layout). */
int nn_params_add_grads(nn_params *dst, const nn_params *src);
/* Original-WGAN weight clipping to [-c, c]. */
void nn_params_clip(nn_params *ps, float c);

/* ---- initialisation ------------------------------------------------------- */
void nn_init_uniform(nn_tensor *p, gs_rng *r, float lo, float hi);
void nn_init_normal(nn_tensor *p, gs_rng *r, float mean, float std);
/* fan_in = product of all dims but the first (PyTorch convention). */
void nn_init_kaiming_normal(nn_tensor *p, gs_rng *r, float neg_slope);
void nn_init_kaiming_uniform(nn_tensor *p, gs_rng *r, float neg_slope);
void nn_init_xavier_uniform(nn_tensor *p, gs_rng *r, float gain);
void nn_init_const(nn_tensor *p, float v);

typedef enum { NN_INIT_TORCH = 0, NN_INIT_KAIMING, NN_INIT_XAVIER, NN_INIT_NORMAL } nn_init_kind;

/* ---- layers ---------------------------------------------------------------- */
typedef struct {
    nn_tensor *w, *b;   /* [out, in], [out] or NULL */
    int64_t in, out;
} nn_linear_layer;

/* NN_INIT_TORCH is PyTorch's default: W, b ~ U(-1/sqrt(in), 1/sqrt(in)). */
int nn_linear_layer_init(nn_linear_layer *l, nn_params *ps, const char *name, int64_t in,
                         int64_t out, bool bias, nn_init_kind init, gs_rng *r);
nn_tensor *nn_linear_layer_fwd(nn_ctx *c, const nn_linear_layer *l, nn_tensor *x);

/* ---- optimizers --------------------------------------------------------- */
typedef enum { NN_OPT_SGD = 0, NN_OPT_ADAM, NN_OPT_RMSPROP } nn_optim_kind;

typedef struct {
    nn_optim_kind kind;
    float lr;
    float momentum;      /* SGD */
    float beta1, beta2;  /* Adam */
    float alpha;         /* RMSprop smoothing (PyTorch's alpha) */
    float eps;
    float weight_decay;  /* L2 added to the gradient (PyTorch semantics) */
} nn_optim_cfg;

/* PyTorch defaults for each kind. */
nn_optim_cfg nn_optim_defaults(nn_optim_kind kind, float lr);

typedef struct {
    nn_optim_cfg cfg;
    nn_params *ps;
    float **m, **v;      /* per-parameter state (momentum / first & second moments) */
    int64_t t;           /* steps taken */
} nn_optim;

int nn_optim_init(nn_optim *o, nn_params *ps, const nn_optim_cfg *cfg);
void nn_optim_free(nn_optim *o);
/* One update from p->grad for every parameter with requires_grad. */
void nn_optim_step(nn_optim *o);

/* ---- convolution, image ops, batch norm (nn_conv.c; docs/conv.md) -------- */
/* Images are [N, C, H, W]. Square kernels are not required; stride and pad
 * apply to both axes. All ops are differentiable to any order: the conv
 * family (conv2d, conv_transpose2d, conv2d_wgrad) is closed under
 * differentiation, as are upsample/sum_pool, crop/pad and the phase
 * fold/unfold and interleave/deinterleave pairs. */

/* x [N, Cin, H, W], w [Cout, Cin, kh, kw], b [Cout] or NULL ->
 * [N, Cout, (H + 2 pad - kh) / stride + 1, (W + 2 pad - kw) / stride + 1]. */
nn_tensor *nn_conv2d(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b, int64_t stride,
                     int64_t pad);
/* PyTorch ConvTranspose2d: x [N, Cin, H, W], w [Cin, Cout, kh, kw], b [Cout] or
 * NULL -> [N, Cout, (H-1) stride - 2 pad + kh + output_padding, (same for W)];
 * output_padding < stride. The adjoint of nn_conv2d in its input. */
nn_tensor *nn_conv_transpose2d(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b,
                               int64_t stride, int64_t pad, int64_t output_padding);
/* The weight gradient of nn_conv2d: for y = conv2d(x, w, stride, pad) and an
 * upstream gradient gy of y's shape, returns dL/dw [Cout, Cin, kh, kw]. */
nn_tensor *nn_conv2d_wgrad(nn_ctx *c, nn_tensor *x, nn_tensor *gy, int64_t kh, int64_t kw,
                           int64_t stride, int64_t pad);
/* Nearest-neighbour upsampling by an integer factor on both axes. */
nn_tensor *nn_upsample_nearest2d(nn_ctx *c, nn_tensor *x, int64_t factor);
/* Sum over factor x factor blocks (H, W divisible by factor): upsample's adjoint. */
nn_tensor *nn_sum_pool2d(nn_ctx *c, nn_tensor *x, int64_t factor);
/* The [h, w] window at (top, left) of every plane. */
nn_tensor *nn_crop2d(nn_ctx *c, nn_tensor *x, int64_t top, int64_t left, int64_t h, int64_t w);
/* Zero planes of [H, W] with x placed at (top, left): crop's adjoint. */
nn_tensor *nn_pad2d(nn_ctx *c, nn_tensor *x, int64_t top, int64_t left, int64_t h, int64_t w);
/* conv2d(upsample_nearest2d(x, 2), w, b, stride 1, pad 1) for w [Cout, Cin, 3, 3],
 * b [Cout] or NULL -> [N, Cout, 2H, 2W], computed without the upsampled
 * image: one 2x2 conv of x with the phase-folded weights (below), then the
 * phase interleave. 16 instead of 36 multiply-adds per output pixel and
 * input channel; equal to the two ops up to float rounding, and like them
 * differentiable to any order (docs/conv.md). */
nn_tensor *nn_upsample2_conv3x3(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b);
/* Its parts, linear maps, each pair adjoint:
 * fold: w [Cout, Cin, 3, 3] -> the 2x2 weights [4 Cout, Cin, 2, 2] of the
 * four output phases (a, b) = (row, column) parity, channel (2a + b) Cout + o;
 * unfold: its adjoint [4 Cout, Cin, 2, 2] -> [Cout, Cin, 3, 3]. */
nn_tensor *nn_phase_fold3x3(nn_ctx *c, nn_tensor *w);
nn_tensor *nn_phase_unfold3x3(nn_ctx *c, nn_tensor *p);
/* interleave: the phase planes z [N, 4 C, H + 1, W + 1] of a 2x2 pad-1 conv
 * -> y [N, C, 2H, 2W], y(2i + a, 2j + b) = z[(2a + b) C + c](i + a, j + b),
 * plus b[c] (b [C] or NULL); deinterleave: its adjoint (without the bias),
 * zero where no output pixel reads. */
nn_tensor *nn_phase_interleave(nn_ctx *c, nn_tensor *z, nn_tensor *b);
/* leaky_relu(nn_phase_interleave(z, b), slope) in one pass and one tensor,
 * slope >= 0 (the activation's mask is read from the output's sign): the
 * inference generator's "phase conv, then activate" without a second pass
 * over the image. Differentiable to any order, like the two ops. */
nn_tensor *nn_phase_interleave_lrelu(nn_ctx *c, nn_tensor *z, nn_tensor *b, float slope);
nn_tensor *nn_phase_deinterleave(nn_ctx *c, nn_tensor *y);
/* [N, ...] -> [N, prod(...)] (a reshape; shares data). */
nn_tensor *nn_flatten(nn_ctx *c, nn_tensor *x);
/* Batch norm over dim 1 (channels of [N, C, H, W], features of [N, F]).
 * Training mode (nn_is_training): normalises with the batch mean and biased
 * variance and, when running_mean/var are given, updates them in place:
 * running = (1 - momentum) running + momentum stat, with the unbiased
 * variance (PyTorch). Eval mode: normalises with running_mean/var (required).
 * gamma, beta [C] or NULL. Training mode is one op that keeps only its
 * output and whose backward rule is made of ops; eval mode is one
 * channel_affine: differentiable to any order (docs/conv.md). */
nn_tensor *nn_batchnorm(nn_ctx *c, nn_tensor *x, nn_tensor *gamma, nn_tensor *beta,
                        float *running_mean, float *running_var, float momentum, float eps);
/* leaky_relu(nn_batchnorm(...), slope). In training mode with slope >= 0 the
 * activation is fused into the batch-norm op (its mask is read from the
 * output's sign), so the pair keeps one tensor of x's size instead of two. */
nn_tensor *nn_batchnorm_leaky_relu(nn_ctx *c, nn_tensor *x, nn_tensor *gamma, nn_tensor *beta,
                                   float *running_mean, float *running_var, float momentum,
                                   float eps, float slope);
typedef struct {
    nn_tensor *w, *b;   /* [out, in, k, k], [out] or NULL */
    int64_t in, out, k, stride, pad;
} nn_conv2d_layer;

/* NN_INIT_TORCH is PyTorch's default: w, b ~ U(+-1/sqrt(in k k)). */
int nn_conv2d_layer_init(nn_conv2d_layer *l, nn_params *ps, const char *name, int64_t in,
                         int64_t out, int64_t k, int64_t stride, int64_t pad, bool bias,
                         nn_init_kind init, gs_rng *r);
nn_tensor *nn_conv2d_layer_fwd(nn_ctx *c, const nn_conv2d_layer *l, nn_tensor *x);

typedef struct {
    nn_tensor *w, *b;   /* [in, out, k, k] (PyTorch layout), [out] or NULL */
    int64_t in, out, k, stride, pad, output_padding;
} nn_conv_transpose2d_layer;

/* NN_INIT_TORCH: w, b ~ U(+-1/sqrt(out k k)) (PyTorch's fan_in of this layout). */
int nn_conv_transpose2d_layer_init(nn_conv_transpose2d_layer *l, nn_params *ps,
                                   const char *name, int64_t in, int64_t out, int64_t k,
                                   int64_t stride, int64_t pad, int64_t output_padding,
                                   bool bias, nn_init_kind init, gs_rng *r);
nn_tensor *nn_conv_transpose2d_layer_fwd(nn_ctx *c, const nn_conv_transpose2d_layer *l,
                                         nn_tensor *x);

/* gamma (1) and beta (0) are trainable parameters "<name>.weight", "<name>.bias"
 * in ps. The running statistics "<name>.running_mean" (0) and
 * "<name>.running_var" (1) are persistent tensors with requires_grad false,
 * registered in `buffers` so a checkpoint saves them with the model. Pass a
 * separate nn_params set for buffers (recommended: optimizers, clipping,
 * nn_params_set_requires_grad and gradient counts then never see them), or
 * ps itself (works with optimizers, which skip requires_grad = false, but
 * nn_params_clip / nn_params_set_requires_grad would touch them). */
typedef struct {
    nn_tensor *gamma, *beta, *running_mean, *running_var;
    int64_t ch;
    float momentum, eps;   /* PyTorch defaults 0.1, 1e-5 */
} nn_batchnorm_layer;

int nn_batchnorm_layer_init(nn_batchnorm_layer *l, nn_params *ps, nn_params *buffers,
                            const char *name, int64_t ch, float momentum, float eps);
nn_tensor *nn_batchnorm_layer_fwd(nn_ctx *c, const nn_batchnorm_layer *l, nn_tensor *x);
/* The layer followed by LeakyReLU(slope), fused (nn_batchnorm_leaky_relu). */
nn_tensor *nn_batchnorm_layer_fwd_lrelu(nn_ctx *c, const nn_batchnorm_layer *l, nn_tensor *x,
                                        float slope);
/* Inference fold: eval-mode batch norm is y = s x + t per channel, with
 * s = gamma / sqrt(running_var + eps) and t = beta - running_mean s (computed
 * in double). Folded into the layer before it, whose weight w [rows, ...]
 * and bias b [rows] (or NULL: zero) produce the normalised channels, rows
 * per channel = rows / l->ch consecutive rows (1 for a conv's output
 * channels; h·w for a linear map reshaped to [C, h, w]): w_out = s w,
 * b_out = s b + t, shapes of w and [rows]. The layer with the folded
 * parameters equals layer + eval-mode batch norm up to float rounding.
 * GS_ERR_ARG when rows is not a multiple of l->ch or a shape differs. */
int nn_batchnorm_fold(const nn_batchnorm_layer *l, const nn_tensor *w, const nn_tensor *b,
                      nn_tensor *w_out, nn_tensor *b_out);

#endif

/* Engine internals shared by the nn/ source files: the op table, node
 * creation and the arena. Not installed. */
#ifndef NN_INTERNAL_H
#define NN_INTERNAL_H

#include "nn/nn.h"
#include "core/gs_cpu.h"

#include <omp.h>

/* Every op, once: X(ENUM, name) gives NN_OP_<ENUM> and its table row
 * nn_op_<name>. The enum and the table (nn_op_table.c) are both generated
 * from this list, so no op can lack a row: a row that is not defined fails
 * the link, and nn_op_table_check() (run by nn_ctx_new and the tests) finds
 * a row with a missing name, forward kernel or backward rule. Each row is
 * defined beside its op's kernel, constructor and rule:
 *   nn_ops.c        elementwise and activations
 *   nn_ops_dense.c  matmul, linear, linear + LeakyReLU
 *   nn_ops_shape.c  concat, slice, pad, reshape, reductions, channel ops
 *   nn_conv.c       conv2d, conv_transpose2d, conv2d_wgrad
 *   nn_image.c      upsample, sum-pool, crop, pad2d, phase fold / interleave
 *   nn_bn.c         training-mode batch norm */
#define NN_OP_LIST(X)                                                                       \
    X(ADD, add) X(SUB, sub) X(MUL, mul) X(DIV, div) X(AFFINE, affine)                       \
    X(SQUARE, square) X(SQRT, sqrt) X(ABS, abs) X(EXP, exp) X(LOG, log)                     \
    X(LEAKY_RELU, leaky_relu) X(LEAKY_RELU_BW, leaky_relu_bw)                               \
    X(TANH, tanh) X(TANH_BW, tanh_bw) X(SIGMOID, sigmoid) X(SIGMOID_BW, sigmoid_bw)         \
    X(SOFTPLUS, softplus) X(SIGN, sign)                                                     \
    X(MATMUL, matmul) X(LINEAR, linear) X(LINEAR_LRELU, linear_lrelu)                       \
    X(CONCAT, concat) X(SLICE, slice) X(PAD, pad) X(RESHAPE, reshape)                       \
    X(REDUCE, reduce) X(EXPAND, expand) X(CHAN_AFFINE, chan_affine)                         \
    X(CHAN_AFFINE2, chan_affine2) X(CHAN_DOT, chan_dot) X(CHAN_VAR, chan_var)               \
    X(CONV2D, conv2d) X(CONV_T2D, conv_t2d) X(CONV_WGRAD, conv_wgrad)                       \
    X(UPSAMPLE2D, upsample2d) X(SUMPOOL2D, sumpool2d) X(CROP2D, crop2d) X(PAD2D, pad2d)     \
    X(PHASE_FOLD, phase_fold) X(PHASE_UNFOLD, phase_unfold) X(PHASE_IL, phase_il)           \
    X(PHASE_DEIL, phase_deil) X(BN_TRAIN, bn_train)

enum nn_op {
    NN_OP_LEAF = 0, /* inputs and parameters: no kernel, no rule */
#define NN_OP_ENUM(e, name) NN_OP_##e,
    NN_OP_LIST(NN_OP_ENUM)
#undef NN_OP_ENUM
    NN_OP_COUNT
};

typedef void (*nn_fwd_fn)(nn_tensor *y);
/* Given y and its incoming gradient gy, sets g[i] to the gradient for
 * y->src[i], or NULL where there is none (constant input / zero a.e.). */
typedef void (*nn_bwd_fn)(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g);

typedef struct {
    const char *name;
    int n_src;
    nn_fwd_fn fwd;      /* NULL only for views (reshape: the node aliases its source) */
    nn_bwd_fn bwd;
} nn_op_def;

#define NN_OP_ROW_DECL(e, name) extern const nn_op_def nn_op_##name;
NN_OP_LIST(NN_OP_ROW_DECL)
#undef NN_OP_ROW_DECL

extern const nn_op_def *const nn_op_table[NN_OP_COUNT];
/* GS_OK when every op's row is complete (name, 1..NN_MAX_SRC sources, a
 * backward rule, and a forward kernel unless the op is a view); else a
 * GS_ERR_STATE naming the op. */
int nn_op_table_check(void);
/* The same check on any table of n rows (row NN_OP_LEAF is not checked;
 * NN_OP_RESHAPE may lack a kernel): lets a test show that it fails. */
int nn_op_rows_check(const nn_op_def *const *rows, int n);

/* Arena-backed node with the given shape; data allocated unless alias. Sets
 * requires_grad from the sources and the context's mode, links the node on
 * the tape. Returns NULL (message set) when a src is NULL or memory fails. */
nn_tensor *nn_node(nn_ctx *c, int op, int ndim, const int64_t *shape, nn_tensor *s0,
                   nn_tensor *s1, nn_tensor *s2, bool alias_s0);
/* Run the op's forward on a fresh node (NULL-propagating). */
nn_tensor *nn_run(nn_tensor *y);
bool nn_same_shape(const nn_tensor *a, const nn_tensor *b);
int64_t nn_shape_numel(int ndim, const int64_t *shape);
/* Elements per sample: product of dims 1..ndim-1. */
int64_t nn_inner(const nn_tensor *t);

/* Context internals used by the autodiff walker and ops. */
nn_tensor *nn_ctx_tape(nn_ctx *c);
uint64_t nn_ctx_next_epoch(nn_ctx *c);
bool nn_ctx_grad_enabled(const nn_ctx *c);
/* Records a failed op (message as printf) and returns NULL. */
nn_tensor *nn_fail(nn_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Gradient pruning for nn_grad: while a pass with a wrt list runs, only the
 * nodes that depend on a wrt carry a gradient worth computing (the rest,
 * e.g. the critic's weight gradients inside the WGAN-GP penalty, would be
 * built and never read). need_epoch is that pass's epoch, 0 = everything. */
void nn_ctx_set_need_epoch(nn_ctx *c, uint64_t ep);
uint64_t nn_ctx_need_epoch(const nn_ctx *c);
/* Whether a backward rule should produce a gradient for input s. */
static inline bool nn_wants(const nn_ctx *c, const nn_tensor *s)
{
    if (!s || !s->requires_grad)
        return false;
    const uint64_t ep = nn_ctx_need_epoch(c);
    return ep == 0 || s->nepoch == ep;
}
/* Buffer recycling. The tape keeps every tensor of a step, but some are
 * dead long before the reset: in a backward pass without create_graph, a
 * node's incoming gradient and its rule's temporaries once the rule has run
 * (nn_autodiff.c), and in forward, values no backward rule reads (the phase
 * planes inside nn_upsample2_conv3x3). nn_ctx_release hands the buffer of a
 * node of at least NN_RECYCLE_MIN bytes back (its data becomes NULL: the
 * caller guarantees nothing reads it again); later nodes reuse released
 * buffers (best fit, split, neighbours merged) before growing the arena.
 * The free list lives until nn_ctx_reset. */
#define NN_RECYCLE_MIN 16384
void nn_ctx_release(nn_ctx *c, nn_tensor *t);
/* Nodes created from now on carry made_in = pass (0 = outside a recycling
 * backward pass): the walker only ever releases what its own pass made. */
void nn_ctx_set_made_in(nn_ctx *c, uint64_t pass);
/* The recycling backward pass in progress (opaque, NULL when none). */
void nn_ctx_set_pass(nn_ctx *c, void *pass);
void *nn_ctx_pass(const nn_ctx *c);
/* For a backward rule that has read its incoming gradient g for the last
 * time before making more full-size tensors: inside a recycling pass, g's
 * buffer is released at once (unless a pending gradient shares it), so the
 * rule's next tensor can reuse it. A no-op elsewhere. */
void nn_bwd_done_with(nn_ctx *c, nn_tensor *g);
/* Count of failed node creations (lets the walker tell "no gradient" from "op failed"). */
uint64_t nn_ctx_failures(const nn_ctx *c);

/* Generic reduction / broadcast over a [o, m, i] view: sum to [m] and back. */
nn_tensor *nn_reduce_omi(nn_ctx *c, nn_tensor *x, int64_t o, int64_t m, int64_t i, int ndim,
                         const int64_t *shape);
nn_tensor *nn_expand_omi(nn_ctx *c, nn_tensor *x, int64_t o, int64_t m, int64_t i, int ndim,
                         const int64_t *shape);
/* Places x at `start` along dim 1 of a zero tensor of `shape` (slice's adjoint). */
nn_tensor *nn_pad(nn_ctx *c, nn_tensor *x, int64_t start, int ndim, const int64_t *shape);

/* g * (x > 0 ? 1 : slope): the LeakyReLU mask op, for fused ops' backward
 * rules (x may be the activation's output when slope >= 0: same sign). */
nn_tensor *nn_leaky_relu_bw(nn_ctx *c, nn_tensor *g, nn_tensor *x, float slope);

/* Per-channel mean and biased variance of x viewed as [o, m, i] (m channels),
 * two-pass; shared by channel_var and the fused batch norm. */
void nn_channel_moments(const float *x, int64_t o, int64_t m, int64_t in, float *mean,
                        float *var);

/* An optional bias b as src[2] of y (the conv ops, phase_interleave): after
 * the NULL-checked inputs, since a NULL bias is no error. */
void nn_attach_bias(nn_ctx *c, nn_tensor *y, nn_tensor *b);

/* Elementwise loops fork threads only above this many elements: OpenMP's
 * fork/join costs more than a short loop. */
#define NN_PAR_MIN 32768

/* Runs the statement(s) after `lo, hi` once per thread of a team, with
 * [lo, hi) that thread's contiguous share of [0, n); the team forks only
 * when `work` (elements touched) exceeds NN_PAR_MIN. This is how the hot
 * loops reach their GS_KERNEL (core/gs_cpu.h): the kernel, compiled for
 * each instruction-set level, does one chunk, since a kernel body may not
 * open a parallel region itself. Every kernel run this way computes each
 * output element (or channel) from its own inputs alone, so the result is
 * the same to the bit however [0, n) is cut, i.e. for any thread count.
 *
 *   NN_PAR_CHUNKS(y->n, y->n, lo, hi, scale_k(y->data + lo, x + lo, a, hi - lo));
 */
#define NN_PAR_CHUNKS(n, work, lo, hi, ...)                                                 \
    do {                                                                                    \
        const int64_t n_pc_ = (n);                                                          \
        const int par_pc_ = (work) > NN_PAR_MIN;                                            \
        _Pragma("omp parallel if (par_pc_)")                                                \
        {                                                                                   \
            const int64_t t_pc_ = omp_get_thread_num(), nt_pc_ = omp_get_num_threads();     \
            const int64_t lo = n_pc_ * t_pc_ / nt_pc_, hi = n_pc_ * (t_pc_ + 1) / nt_pc_;   \
            __VA_ARGS__;                                                                    \
        }                                                                                   \
    } while (0)

#endif

/* Engine internals shared by the nn/ source files: the op table, node
 * creation and the arena. Not installed. */
#ifndef NN_INTERNAL_H
#define NN_INTERNAL_H

#include "nn/nn.h"

/* Every op: one forward kernel call and one backward rule built from ops. */
enum nn_op {
    NN_OP_LEAF = 0,
    NN_OP_ADD, NN_OP_SUB, NN_OP_MUL, NN_OP_DIV, NN_OP_AFFINE,
    NN_OP_SQUARE, NN_OP_SQRT, NN_OP_ABS, NN_OP_EXP, NN_OP_LOG,
    NN_OP_LEAKY_RELU, NN_OP_LEAKY_RELU_BW,
    NN_OP_TANH, NN_OP_TANH_BW, NN_OP_SIGMOID, NN_OP_SIGMOID_BW, NN_OP_SOFTPLUS,
    NN_OP_SIGN,
    NN_OP_MATMUL, NN_OP_LINEAR, NN_OP_LINEAR_LRELU,
    NN_OP_CONCAT, NN_OP_SLICE, NN_OP_PAD, NN_OP_RESHAPE,
    NN_OP_REDUCE, NN_OP_EXPAND, NN_OP_CHAN_AFFINE, NN_OP_CHAN_AFFINE2, NN_OP_CHAN_DOT, NN_OP_CHAN_VAR,
    NN_OP_CONV2D, NN_OP_CONV_T2D, NN_OP_CONV_WGRAD,      /* nn_conv.c */
    NN_OP_UPSAMPLE2D, NN_OP_SUMPOOL2D, NN_OP_CROP2D, NN_OP_PAD2D,
    NN_OP_PHASE_FOLD, NN_OP_PHASE_UNFOLD, NN_OP_PHASE_IL, NN_OP_PHASE_DEIL,
    NN_OP_BN_TRAIN,
    NN_OP_COUNT
};

typedef void (*nn_fwd_fn)(nn_tensor *y);
/* Given y and its incoming gradient gy, sets g[i] to the gradient for
 * y->src[i], or NULL where there is none (constant input / zero a.e.). */
typedef void (*nn_bwd_fn)(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g);

typedef struct {
    const char *name;
    int n_src;
    nn_fwd_fn fwd;
    nn_bwd_fn bwd;
} nn_op_def;

extern const nn_op_def nn_op_table[NN_OP_COUNT];

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

/* Kernels and backward rules of the nn_conv.c ops, for the op table. */
void nn_fwd_conv2d(nn_tensor *y);
void nn_fwd_conv_t2d(nn_tensor *y);
void nn_fwd_conv_wgrad(nn_tensor *y);
void nn_fwd_upsample2d(nn_tensor *y);
void nn_fwd_sumpool2d(nn_tensor *y);
void nn_fwd_crop2d(nn_tensor *y);
void nn_fwd_pad2d(nn_tensor *y);
void nn_fwd_phase_fold(nn_tensor *y);
void nn_fwd_phase_unfold(nn_tensor *y);
void nn_fwd_phase_il(nn_tensor *y);
void nn_fwd_phase_deil(nn_tensor *y);
void nn_fwd_bn_train(nn_tensor *y);
void nn_bwd_conv2d(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g);
void nn_bwd_conv_t2d(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g);
void nn_bwd_conv_wgrad(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g);
void nn_bwd_upsample2d(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g);
void nn_bwd_sumpool2d(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g);
void nn_bwd_crop2d(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g);
void nn_bwd_pad2d(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g);
void nn_bwd_phase_fold(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g);
void nn_bwd_phase_unfold(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g);
void nn_bwd_phase_il(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g);
void nn_bwd_phase_deil(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g);
void nn_bwd_bn_train(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g);

/* Elementwise loops fork threads only above this many elements: OpenMP's
 * fork/join costs more than a short loop. */
#define NN_PAR_MIN 32768

#endif

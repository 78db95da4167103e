/* Elementwise ops: arithmetic, scalar affine maps, activations and the
 * masks of their derivatives. Each op is one place: forward kernel,
 * constructor(s), backward rule and its row of the op table (nn_op_<name>,
 * listed in nn_internal.h's NN_OP_LIST).
 *
 * Backward rules only call public ops, never kernels, so a gradient is an
 * ordinary graph value and can be differentiated again. Ops whose local
 * derivative is zero almost everywhere (sign, the x-input of the ReLU mask)
 * return NULL for that input: it contributes nothing. */
#include "nn/nn_internal.h"

#include <math.h>

/* One elementwise op: its kernel ew_<name>, compiled for each instruction-set
 * level and chosen at run time (core/gs_cpu.h), runs `body` for every i of
 * a thread's chunk, with o the output, a = src[0], b = src[1] (NULL for a
 * unary op) and arg the node's arguments; fwd_<name> runs it over the
 * tensor, threaded only when the loop is long enough to pay for fork/join
 * (NN_PAR_CHUNKS). Elementwise, so any cut gives the same bits. */
typedef void (*ew_kernel)(float *o, const float *a, const float *b, nn_op_args arg, int64_t n);

static void ew_run(nn_tensor *y, ew_kernel k)
{
    float *o = y->data;
    const float *a = y->src[0]->data, *b = y->src[1] ? y->src[1]->data : NULL;
    NN_PAR_CHUNKS(y->n, y->n, lo, hi, k(o + lo, a + lo, b ? b + lo : NULL, y->arg, hi - lo));
}

#define EW_OP(name, ...)                                                                   \
    GS_KERNEL(ew_##name,                                                                   \
              (float *o, const float *a, const float *b, nn_op_args arg, int64_t n),       \
              (o, a, b, arg, n))                                                           \
    {                                                                                      \
        _Pragma("omp simd")                                                                \
        for (int64_t i = 0; i < n; i++)                                                    \
            __VA_ARGS__                                                                    \
    }                                                                                      \
    static void fwd_##name(nn_tensor *y) { ew_run(y, ew_##name); }

#define SRC(k) (y->src[k])
#define WANT(k) nn_wants(c, y->src[k])
#define NO_ARGS ((nn_op_args){0})

static nn_tensor *binary_p(nn_ctx *c, int op, nn_tensor *a, nn_tensor *b, nn_op_args arg)
{
    if (!a || !b)
        return NULL;
    if (!nn_same_shape(a, b)) {
        return nn_fail(c, "nn: %s: shapes differ (%lld vs %lld elements)",
                 nn_op_table[op]->name, (long long)a->n, (long long)b->n);
    }
    nn_tensor *y = nn_node(c, op, a->ndim, a->shape, a, b, NULL, false);
    if (y)
        y->arg = arg;
    return nn_run(y);
}

static nn_tensor *binary(nn_ctx *c, int op, nn_tensor *a, nn_tensor *b)
{
    return binary_p(c, op, a, b, NO_ARGS);
}

static nn_tensor *unary(nn_ctx *c, int op, nn_tensor *x, nn_op_args arg)
{
    if (!x)
        return NULL;
    nn_tensor *y = nn_node(c, op, x->ndim, x->shape, x, NULL, NULL, false);
    if (y)
        y->arg = arg;
    return nn_run(y);
}

static void bwd_none(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = NULL;
}

EW_OP(add, o[i] = a[i] + b[i];)

nn_tensor *nn_add(nn_ctx *c, nn_tensor *a, nn_tensor *b) { return binary(c, NN_OP_ADD, a, b); }

static void bwd_add(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = gy;
    g[1] = gy;
}

const nn_op_def nn_op_add = {"add", 2, fwd_add, bwd_add};

EW_OP(sub, o[i] = a[i] - b[i];)

nn_tensor *nn_sub(nn_ctx *c, nn_tensor *a, nn_tensor *b) { return binary(c, NN_OP_SUB, a, b); }

static void bwd_sub(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = gy;
    g[1] = WANT(1) ? nn_scale(c, gy, -1.0f) : NULL;
}

const nn_op_def nn_op_sub = {"sub", 2, fwd_sub, bwd_sub};

EW_OP(mul, o[i] = a[i] * b[i];)

nn_tensor *nn_mul(nn_ctx *c, nn_tensor *a, nn_tensor *b) { return binary(c, NN_OP_MUL, a, b); }

static void bwd_mul(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = WANT(0) ? nn_mul(c, gy, SRC(1)) : NULL;
    g[1] = WANT(1) ? nn_mul(c, gy, SRC(0)) : NULL;
}

const nn_op_def nn_op_mul = {"mul", 2, fwd_mul, bwd_mul};

EW_OP(div, o[i] = a[i] / b[i];)

nn_tensor *nn_div(nn_ctx *c, nn_tensor *a, nn_tensor *b) { return binary(c, NN_OP_DIV, a, b); }

static void bwd_div(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = WANT(0) ? nn_div(c, gy, SRC(1)) : NULL;
    /* d(a/b)/db = -(a/b)/b */
    g[1] = WANT(1) ? nn_scale(c, nn_div(c, nn_mul(c, gy, y), SRC(1)), -1.0f) : NULL;
}

const nn_op_def nn_op_div = {"div", 2, fwd_div, bwd_div};

EW_OP(affine, o[i] = arg.affine.a * a[i] + arg.affine.b;)

nn_tensor *nn_affine(nn_ctx *c, nn_tensor *x, float a, float b)
{
    return unary(c, NN_OP_AFFINE, x, (nn_op_args){.affine = {a, b}});
}

nn_tensor *nn_scale(nn_ctx *c, nn_tensor *x, float a) 
{
    return unary(c, NN_OP_AFFINE, x, (nn_op_args){.affine = {a, 0}});
}

nn_tensor *nn_add_scalar(nn_ctx *c, nn_tensor *x, float b)
{
    return unary(c, NN_OP_AFFINE, x, (nn_op_args){.affine = {1, b}});
}

static void bwd_affine(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_scale(c, gy, y->arg.affine.a);
}

const nn_op_def nn_op_affine = {"affine", 1, fwd_affine, bwd_affine};

EW_OP(square, o[i] = a[i] * a[i];)

nn_tensor *nn_square(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_SQUARE, x, NO_ARGS); }

static void bwd_square(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_mul(c, gy, nn_scale(c, SRC(0), 2.0f));
}

const nn_op_def nn_op_square = {"square", 1, fwd_square, bwd_square};

EW_OP(sqrt, o[i] = sqrtf(a[i]);)

nn_tensor *nn_sqrt(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_SQRT, x, NO_ARGS); }

static void bwd_sqrt(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_div(c, nn_scale(c, gy, 0.5f), y);
}

const nn_op_def nn_op_sqrt = {"sqrt", 1, fwd_sqrt, bwd_sqrt};

EW_OP(abs, o[i] = fabsf(a[i]);)

nn_tensor *nn_abs(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_ABS, x, NO_ARGS); }

static void bwd_abs(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_mul(c, gy, nn_sign(c, SRC(0)));
}

const nn_op_def nn_op_abs = {"abs", 1, fwd_abs, bwd_abs};

EW_OP(exp, o[i] = expf(a[i]);)

nn_tensor *nn_exp(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_EXP, x, NO_ARGS); }

static void bwd_exp(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_mul(c, gy, y);
}

const nn_op_def nn_op_exp = {"exp", 1, fwd_exp, bwd_exp};

EW_OP(log, o[i] = logf(a[i]);)

nn_tensor *nn_log(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_LOG, x, NO_ARGS); }

static void bwd_log(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_div(c, gy, SRC(0));
}

const nn_op_def nn_op_log = {"log", 1, fwd_log, bwd_log};

/* y = gy * (x > 0 ? 1 : slope); a = gy, b = x */
EW_OP(leaky_relu_bw, o[i] = a[i] * (arg.slope + (1.0f - arg.slope) * (float)(b[i] > 0.0f));)

nn_tensor *nn_leaky_relu_bw(nn_ctx *c, nn_tensor *g, nn_tensor *x, float slope)
{
    return binary_p(c, NN_OP_LEAKY_RELU_BW, g, x, (nn_op_args){.slope = slope});
}

/* The mask is piecewise constant in x: only the gy input has a gradient. */
static void bwd_leaky_relu_bw(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = WANT(0) ? nn_leaky_relu_bw(c, gy, SRC(1), y->arg.slope) : NULL;
    g[1] = NULL;
}

const nn_op_def nn_op_leaky_relu_bw = {"leaky_relu_bw", 2, fwd_leaky_relu_bw, bwd_leaky_relu_bw};

EW_OP(leaky_relu, {
    /* selects, not branches, so that it vectorises (activation signs are
     * random: a branch would mispredict half the time) */
    const float pos = a[i] > 0.0f ? a[i] : 0.0f;
    o[i] = pos + arg.slope * (a[i] - pos);
})

nn_tensor *nn_relu(nn_ctx *c, nn_tensor *x) 
{
    return unary(c, NN_OP_LEAKY_RELU, x, (nn_op_args){.slope = 0});
}

nn_tensor *nn_leaky_relu(nn_ctx *c, nn_tensor *x, float slope)
{
    return unary(c, NN_OP_LEAKY_RELU, x, (nn_op_args){.slope = slope});
}

static void bwd_leaky_relu(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_leaky_relu_bw(c, gy, SRC(0), y->arg.slope);
}

const nn_op_def nn_op_leaky_relu = {"leaky_relu", 1, fwd_leaky_relu, bwd_leaky_relu};

/* y = gy * (1 - t^2), t = tanh output; a = gy, b = t */
EW_OP(tanh_bw, o[i] = a[i] * (1.0f - b[i] * b[i]);)

/* y = u (1 - t^2): du = g (1 - t^2), dt = -2 g u t */
static void bwd_tanh_bw(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = WANT(0) ? binary(c, NN_OP_TANH_BW, gy, SRC(1)) : NULL;
    g[1] = WANT(1) ? nn_mul(c, nn_mul(c, gy, SRC(0)), nn_scale(c, SRC(1), -2.0f)) : NULL;
}

const nn_op_def nn_op_tanh_bw = {"tanh_bw", 2, fwd_tanh_bw, bwd_tanh_bw};

EW_OP(tanh, o[i] = tanhf(a[i]);)

nn_tensor *nn_tanh(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_TANH, x, NO_ARGS); }

static void bwd_tanh(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = binary(c, NN_OP_TANH_BW, gy, y);
}

const nn_op_def nn_op_tanh = {"tanh", 1, fwd_tanh, bwd_tanh};

/* y = gy * s * (1 - s), s = sigmoid output; a = gy, b = s */
EW_OP(sigmoid_bw, o[i] = a[i] * b[i] * (1.0f - b[i]);)

/* y = u s (1 - s): du = g s (1 - s), ds = g u (1 - 2 s) */
static void bwd_sigmoid_bw(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = WANT(0) ? binary(c, NN_OP_SIGMOID_BW, gy, SRC(1)) : NULL;
    g[1] = WANT(1) ? nn_mul(c, nn_mul(c, gy, SRC(0)), nn_affine(c, SRC(1), -2.0f, 1.0f)) : NULL;
}

const nn_op_def nn_op_sigmoid_bw = {"sigmoid_bw", 2, fwd_sigmoid_bw, bwd_sigmoid_bw};

EW_OP(sigmoid, {
    /* stable on both sides: never exp of a large positive number */
    const float e = expf(-fabsf(a[i]));
    const float pos = (float)(a[i] >= 0.0f);
    o[i] = (pos + (1.0f - pos) * e) / (1.0f + e);
})

nn_tensor *nn_sigmoid(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_SIGMOID, x, NO_ARGS); }

static void bwd_sigmoid(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = binary(c, NN_OP_SIGMOID_BW, gy, y);
}

const nn_op_def nn_op_sigmoid = {"sigmoid", 1, fwd_sigmoid, bwd_sigmoid};

EW_OP(softplus, o[i] = fmaxf(a[i], 0.0f) + log1pf(expf(-fabsf(a[i])));)

nn_tensor *nn_softplus(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_SOFTPLUS, x, NO_ARGS); }

static void bwd_softplus(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_mul(c, gy, nn_sigmoid(c, SRC(0)));
}

const nn_op_def nn_op_softplus = {"softplus", 1, fwd_softplus, bwd_softplus};

EW_OP(sign, o[i] = (float)((a[i] > 0.0f) - (a[i] < 0.0f));)

nn_tensor *nn_sign(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_SIGN, x, NO_ARGS); }

const nn_op_def nn_op_sign = {"sign", 1, fwd_sign, bwd_none};

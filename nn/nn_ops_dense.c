/* Dense ops: matrix product, the linear layer's op, and linear + LeakyReLU
 * fused onto the sgemm. One op = kernel, constructor, backward rule, table
 * row (nn_internal.h's NN_OP_LIST). */
#include "nn/nn_internal.h"

#include <cblas.h>
#include <string.h>

#define SRC(k) (y->src[k])
#define WANT(k) nn_wants(c, y->src[k])

static void fwd_matmul(nn_tensor *y)
{
    const nn_tensor *a = y->src[0], *b = y->src[1];
    const bool ta = y->arg.matmul.ta, tb = y->arg.matmul.tb;
    const int64_t m = y->shape[0], n = y->shape[1];
    const int64_t k = ta ? a->shape[0] : a->shape[1];
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, 1.0f, a->data, (int)a->shape[1], b->data,
                (int)b->shape[1], 0.0f, y->data, (int)n);
}

nn_tensor *nn_matmul(nn_ctx *c, nn_tensor *a, nn_tensor *b, bool ta, bool tb)
{
    if (!a || !b)
        return NULL;
    if (a->ndim != 2 || b->ndim != 2) {
        return nn_fail(c, "nn: matmul needs 2-D operands");
    }
    int64_t m = ta ? a->shape[1] : a->shape[0], ka = ta ? a->shape[0] : a->shape[1];
    int64_t kb = tb ? b->shape[1] : b->shape[0], n = tb ? b->shape[0] : b->shape[1];
    if (ka != kb) {
        return nn_fail(c, "nn: matmul inner dimensions differ (%lld vs %lld)",
                 (long long)ka, (long long)kb);
    }
    nn_tensor *y = nn_node(c, NN_OP_MATMUL, 2, (int64_t[]){m, n}, a, b, NULL, false);
    if (y) {
        y->arg.matmul.ta = ta;
        y->arg.matmul.tb = tb;
    }
    return nn_run(y);
}

/* C = A' B' with A' = ta ? A^T : A (likewise B'):
 *   dA = ta ? B' gy^T : gy B'^T      dB = tb ? gy^T A' : A'^T gy */
static void bwd_matmul(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    const bool ta = y->arg.matmul.ta, tb = y->arg.matmul.tb;
    nn_tensor *a = SRC(0), *b = SRC(1);
    g[0] = !WANT(0) ? NULL : ta ? nn_matmul(c, b, gy, tb, true) : nn_matmul(c, gy, b, false, !tb);
    g[1] = !WANT(1) ? NULL : tb ? nn_matmul(c, gy, a, true, ta) : nn_matmul(c, a, gy, !ta, false);
}

const nn_op_def nn_op_matmul = {"matmul", 2, fwd_matmul, bwd_matmul};

/* Checks shapes and records a linear-family node (not yet run). */
static nn_tensor *linear_node(nn_ctx *c, int op, nn_tensor *x, nn_tensor *w, nn_tensor *b)
{
    if (!x || !w)
        return NULL;
    if (x->ndim != 2 || w->ndim != 2 || x->shape[1] != w->shape[1] ||
        (b && (b->n != w->shape[0]))) {
        return nn_fail(c, "nn: linear: x [N, %lld] does not fit W [%lld, %lld]",
                 (long long)(x->ndim == 2 ? x->shape[1] : -1), (long long)w->shape[0],
                 (long long)(w->ndim == 2 ? w->shape[1] : -1));
    }
    nn_tensor *y = nn_node(c, op, 2, (int64_t[]){x->shape[0], w->shape[0]}, x, w, NULL, false);
    if (y && b) {
        /* bias is optional, so it is attached after the NULL-checked inputs */
        y->src[2] = b;
        y->requires_grad |= b->requires_grad && nn_ctx_grad_enabled(c);
    }
    return y;
}

/* y = x W^T + b: the bias is broadcast into y first, then one sgemm adds
 * x W^T onto it (beta = 1), so bias costs one pass over y and no temporary. */
static void fwd_linear(nn_tensor *y)
{
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    const int64_t rows = y->shape[0], out = y->shape[1], in = x->shape[1];
    float beta = 0.0f;
    if (b) {
        for (int64_t r = 0; r < rows; r++)
            memcpy(y->data + r * out, b->data, (size_t)out * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)out, (int)in, 1.0f,
                x->data, (int)in, w->data, (int)in, beta, y->data, (int)out);
}

nn_tensor *nn_linear(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b)
{
    return nn_run(linear_node(c, NN_OP_LINEAR, x, w, b));
}

static void bwd_linear(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = WANT(0) ? nn_matmul(c, gy, SRC(1), false, false) : NULL;
    g[1] = WANT(1) ? nn_matmul(c, gy, SRC(0), true, false) : NULL;
    g[2] = WANT(2) ? nn_sum_channels(c, gy) : NULL;
}

const nn_op_def nn_op_linear = {"linear", 2, fwd_linear, bwd_linear};

/* rows [rows, out] += bias, then LeakyReLU(s), in place: a GS_KERNEL
 * (core/gs_cpu.h) run per thread by NN_PAR_CHUNKS */
GS_KERNEL(bias_lrelu_rows, (float *y, const float *bias, int64_t out, float s, int64_t rows),
          (y, bias, out, s, rows))
{
    for (int64_t r = 0; r < rows; r++) {
        float *row = y + r * out;
#pragma omp simd
        for (int64_t j = 0; j < out; j++) {
            const float v = row[j] + (bias ? bias[j] : 0.0f);
            const float pos = v > 0.0f ? v : 0.0f;
            row[j] = pos + s * (v - pos);
        }
    }
}

/* leaky_relu(x W^T + b): sgemm into y (beta = 0), then bias and activation
 * in one pass while y is still in cache, instead of a bias broadcast pass,
 * an sgemm reading it back and a separate activation op. */
static void fwd_linear_lrelu(nn_tensor *y)
{
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    const int64_t rows = y->shape[0], out = y->shape[1], in = x->shape[1];
    const float s = y->arg.slope;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)out, (int)in, 1.0f,
                x->data, (int)in, w->data, (int)in, 0.0f, y->data, (int)out);
    const float *bias = b ? b->data : NULL;
    float *o = y->data;
    NN_PAR_CHUNKS(rows, y->n, r0, r1, bias_lrelu_rows(o + r0 * out, bias, out, s, r1 - r0));
}

nn_tensor *nn_linear_leaky_relu(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b,
                                float slope)
{
    if (!(slope >= 0.0f)) /* the mask-from-output trick needs sign(y) = sign(z) */
        return nn_leaky_relu(c, nn_linear(c, x, w, b), slope);
    nn_tensor *y = linear_node(c, NN_OP_LINEAR_LRELU, x, w, b);
    if (y)
        y->arg.slope = slope;
    return nn_run(y);
}

/* z = x W^T + b, y = leaky_relu(z): gz = leaky_relu_bw(gy, y) — the mask
 * read from y, a constant — then linear's rule on gz. */
static void bwd_linear_lrelu(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    nn_tensor *gz = nn_leaky_relu_bw(c, gy, y, y->arg.slope);
    bwd_linear(c, y, gz, g);
}

const nn_op_def nn_op_linear_lrelu = {"linear_leaky_relu", 2, fwd_linear_lrelu, bwd_linear_lrelu};

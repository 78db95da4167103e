/* The op table: for each op one forward kernel and one backward rule.
 *
 * Backward rules only call public ops, never kernels, so a gradient is an
 * ordinary graph value and can be differentiated again. Ops whose local
 * derivative is zero almost everywhere (sign, the x-input of the ReLU mask)
 * return NULL for that input: it contributes nothing. */
#include "nn/nn_internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* One elementwise loop: threads only when the loop is long enough to pay
 * for fork/join, SIMD always. `n_` must be the loop length. */
#define EW_FOR(i)                                                                          \
    _Pragma("omp parallel for simd schedule(static) if (n_ > NN_PAR_MIN)")                 \
    for (int64_t i = 0; i < n_; i++)

/* ---- forward kernels ------------------------------------------------------ */
static void fwd_add(nn_tensor *y)
{
    const float *a = y->src[0]->data, *b = y->src[1]->data;
    float *o = y->data;
    const int64_t n_ = y->n;
    EW_FOR(i) o[i] = a[i] + b[i];
}

static void fwd_sub(nn_tensor *y)
{
    const float *a = y->src[0]->data, *b = y->src[1]->data;
    float *o = y->data;
    const int64_t n_ = y->n;
    EW_FOR(i) o[i] = a[i] - b[i];
}

static void fwd_mul(nn_tensor *y)
{
    const float *a = y->src[0]->data, *b = y->src[1]->data;
    float *o = y->data;
    const int64_t n_ = y->n;
    EW_FOR(i) o[i] = a[i] * b[i];
}

static void fwd_div(nn_tensor *y)
{
    const float *a = y->src[0]->data, *b = y->src[1]->data;
    float *o = y->data;
    const int64_t n_ = y->n;
    EW_FOR(i) o[i] = a[i] / b[i];
}

static void fwd_affine(nn_tensor *y)
{
    const float *x = y->src[0]->data, a = y->fp[0], b = y->fp[1];
    float *o = y->data;
    const int64_t n_ = y->n;
    EW_FOR(i) o[i] = a * x[i] + b;
}

static void fwd_square(nn_tensor *y)
{
    const float *x = y->src[0]->data;
    float *o = y->data;
    const int64_t n_ = y->n;
    EW_FOR(i) o[i] = x[i] * x[i];
}

static void fwd_sqrt(nn_tensor *y)
{
    const float *x = y->src[0]->data;
    float *o = y->data;
    const int64_t n_ = y->n;
    EW_FOR(i) o[i] = sqrtf(x[i]);
}

static void fwd_abs(nn_tensor *y)
{
    const float *x = y->src[0]->data;
    float *o = y->data;
    const int64_t n_ = y->n;
    EW_FOR(i) o[i] = fabsf(x[i]);
}

static void fwd_exp(nn_tensor *y)
{
    const float *x = y->src[0]->data;
    float *o = y->data;
    const int64_t n_ = y->n;
    EW_FOR(i) o[i] = expf(x[i]);
}

static void fwd_log(nn_tensor *y)
{
    const float *x = y->src[0]->data;
    float *o = y->data;
    const int64_t n_ = y->n;
    EW_FOR(i) o[i] = logf(x[i]);
}

static void fwd_leaky_relu(nn_tensor *y)
{
    const float *x = y->src[0]->data, s = y->fp[0];
    float *o = y->data;
    const int64_t n_ = y->n;
    /* selects, not branches, so that it vectorises (activation signs are
     * random: a branch would mispredict half the time) */
    EW_FOR(i) {
        float pos = x[i] > 0.0f ? x[i] : 0.0f;
        o[i] = pos + s * (x[i] - pos);
    }
}

/* y = gy * (x > 0 ? 1 : slope) */
static void fwd_leaky_relu_bw(nn_tensor *y)
{
    const float *g = y->src[0]->data, *x = y->src[1]->data, s = y->fp[0];
    float *o = y->data;
    const int64_t n_ = y->n;
    EW_FOR(i) o[i] = g[i] * (s + (1.0f - s) * (float)(x[i] > 0.0f));
}

static void fwd_tanh(nn_tensor *y)
{
    const float *x = y->src[0]->data;
    float *o = y->data;
    const int64_t n_ = y->n;
    EW_FOR(i) o[i] = tanhf(x[i]);
}

/* y = gy * (1 - t^2), t = tanh output */
static void fwd_tanh_bw(nn_tensor *y)
{
    const float *g = y->src[0]->data, *t = y->src[1]->data;
    float *o = y->data;
    const int64_t n_ = y->n;
    EW_FOR(i) o[i] = g[i] * (1.0f - t[i] * t[i]);
}

static void fwd_sigmoid(nn_tensor *y)
{
    const float *x = y->src[0]->data;
    float *o = y->data;
    const int64_t n_ = y->n;
    EW_FOR(i) {
        /* stable on both sides: never exp of a large positive number */
        float e = expf(-fabsf(x[i]));
        float pos = (float)(x[i] >= 0.0f);
        o[i] = (pos + (1.0f - pos) * e) / (1.0f + e);
    }
}

/* y = gy * s * (1 - s), s = sigmoid output */
static void fwd_sigmoid_bw(nn_tensor *y)
{
    const float *g = y->src[0]->data, *s = y->src[1]->data;
    float *o = y->data;
    const int64_t n_ = y->n;
    EW_FOR(i) o[i] = g[i] * s[i] * (1.0f - s[i]);
}

static void fwd_softplus(nn_tensor *y)
{
    const float *x = y->src[0]->data;
    float *o = y->data;
    const int64_t n_ = y->n;
    EW_FOR(i) o[i] = fmaxf(x[i], 0.0f) + log1pf(expf(-fabsf(x[i])));
}

static void fwd_sign(nn_tensor *y)
{
    const float *x = y->src[0]->data;
    float *o = y->data;
    const int64_t n_ = y->n;
    EW_FOR(i) o[i] = (float)((x[i] > 0.0f) - (x[i] < 0.0f));
}

static void fwd_matmul(nn_tensor *y)
{
    const nn_tensor *a = y->src[0], *b = y->src[1];
    const bool ta = y->ip[0], tb = y->ip[1];
    const int64_t m = y->shape[0], n = y->shape[1];
    const int64_t k = ta ? a->shape[0] : a->shape[1];
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, 1.0f, a->data, (int)a->shape[1], b->data,
                (int)b->shape[1], 0.0f, y->data, (int)n);
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

/* leaky_relu(x W^T + b): sgemm into y (beta = 0), then bias and activation
 * in one pass while y is still in cache, instead of a bias broadcast pass,
 * an sgemm reading it back and a separate activation op. */
static void fwd_linear_lrelu(nn_tensor *y)
{
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    const int64_t rows = y->shape[0], out = y->shape[1], in = x->shape[1];
    const float s = y->fp[0];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)out, (int)in, 1.0f,
                x->data, (int)in, w->data, (int)in, 0.0f, y->data, (int)out);
    const float *bias = b ? b->data : NULL;
    float *o = y->data;
    const int64_t n_ = y->n;
#pragma omp parallel for schedule(static) if (n_ > NN_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        float *row = o + r * out;
#pragma omp simd
        for (int64_t j = 0; j < out; j++) {
            float v = row[j] + (bias ? bias[j] : 0.0f);
            float pos = v > 0.0f ? v : 0.0f;
            row[j] = pos + s * (v - pos);
        }
    }
}

/* Along dim 1: per sample, a's block then b's block. */
static void fwd_concat(nn_tensor *y)
{
    const nn_tensor *a = y->src[0], *b = y->src[1];
    const int64_t rows = y->shape[0], ia = nn_inner(a), ib = nn_inner(b);
    for (int64_t r = 0; r < rows; r++) {
        memcpy(y->data + r * (ia + ib), a->data + r * ia, (size_t)ia * sizeof(float));
        memcpy(y->data + r * (ia + ib) + ia, b->data + r * ib, (size_t)ib * sizeof(float));
    }
}

/* ip[0] = start along dim 1; block = elements per unit of dim 1 */
static void fwd_slice(nn_tensor *y)
{
    const nn_tensor *x = y->src[0];
    const int64_t rows = y->shape[0], ix = nn_inner(x), iy = nn_inner(y);
    const int64_t off = y->ip[0] * (ix / x->shape[1]);
    for (int64_t r = 0; r < rows; r++)
        memcpy(y->data + r * iy, x->data + r * ix + off, (size_t)iy * sizeof(float));
}

/* Inverse of slice: zeros with x placed at ip[0] along dim 1. */
static void fwd_pad(nn_tensor *y)
{
    const nn_tensor *x = y->src[0];
    const int64_t rows = y->shape[0], ix = nn_inner(x), iy = nn_inner(y);
    const int64_t off = y->ip[0] * (iy / y->shape[1]);
    memset(y->data, 0, (size_t)y->n * sizeof(float));
    for (int64_t r = 0; r < rows; r++)
        memcpy(y->data + r * iy + off, x->data + r * ix, (size_t)ix * sizeof(float));
}

/* Sum of channel j of x viewed as [o, m, i]: float partial sums of each
 * contiguous run of i, accumulated in double. */
static inline double channel_sum(const float *x, int64_t o, int64_t m, int64_t in, int64_t j)
{
    double s = 0.0;
    for (int64_t a = 0; a < o; a++) {
        const float *p = x + (a * m + j) * in;
        float part = 0.0f;
#pragma omp simd reduction(+ : part)
        for (int64_t k = 0; k < in; k++)
            part += p[k];
        s += part;
    }
    return s;
}

/* x viewed as [o, m, i] summed to [m]. */
static void fwd_reduce(nn_tensor *y)
{
    const int64_t o = y->ip[0], m = y->ip[1], in = y->ip[2];
    const float *x = y->src[0]->data;
    float *out = y->data;
    if (in == 1) {
        /* row-wise accumulation keeps the reads contiguous (bias gradients) */
        memset(out, 0, (size_t)m * sizeof(float));
        for (int64_t a = 0; a < o; a++) {
            const float *row = x + a * m;
#pragma omp simd
            for (int64_t j = 0; j < m; j++)
                out[j] += row[j];
        }
        return;
    }
    const int64_t n_ = m;
#pragma omp parallel for schedule(static) if (n_ * o * in > NN_PAR_MIN && n_ > 1)
    for (int64_t j = 0; j < m; j++)
        out[j] = (float)channel_sum(x, o, m, in, j);
}

/* [m] broadcast to [o, m, i]. */
static void fwd_expand(nn_tensor *y)
{
    const int64_t o = y->ip[0], m = y->ip[1], in = y->ip[2];
    const float *x = y->src[0]->data;
    float *out = y->data;
    for (int64_t a = 0; a < o; a++)
        for (int64_t j = 0; j < m; j++) {
            float v = x[j];
            float *p = out + (a * m + j) * in;
#pragma omp simd
            for (int64_t k = 0; k < in; k++)
                p[k] = v;
        }
}

/* x viewed as [o, m, i]: y = x * s[j] + t[j] (src[1] = s, src[2] = t, either NULL). */
static void fwd_chan_affine(nn_tensor *y)
{
    const int64_t o = y->ip[0], m = y->ip[1], in = y->ip[2];
    const float *x = y->src[0]->data;
    const float *s = y->src[1] ? y->src[1]->data : NULL, *t = y->src[2] ? y->src[2]->data : NULL;
    float *out = y->data;
    const int64_t n_ = y->n;
#pragma omp parallel for collapse(2) schedule(static) if (n_ > NN_PAR_MIN)
    for (int64_t a = 0; a < o; a++)
        for (int64_t j = 0; j < m; j++) {
            const float sj = s ? s[j] : 1.0f, tj = t ? t[j] : 0.0f;
            const float *p = x + (a * m + j) * in;
            float *q = out + (a * m + j) * in;
#pragma omp simd
            for (int64_t k = 0; k < in; k++)
                q[k] = p[k] * sj + tj;
        }
}

/* a, b viewed as [o, m, i]: y[j] = sum over o and i of a * b (src[1] = b).
 * Doubles across rows as in fwd_reduce, so long channels stay accurate. */
static void fwd_chan_dot(nn_tensor *y)
{
    const int64_t o = y->ip[0], m = y->ip[1], in = y->ip[2];
    const float *a = y->src[0]->data, *b = y->src[1]->data;
    const int64_t n_ = m;
#pragma omp parallel for schedule(static) if (n_ * o * in > NN_PAR_MIN && n_ > 1)
    for (int64_t j = 0; j < m; j++) {
        double s = 0.0;
        for (int64_t r = 0; r < o; r++) {
            const float *p = a + (r * m + j) * in, *q = b + (r * m + j) * in;
            float part = 0.0f;
#pragma omp simd reduction(+ : part)
            for (int64_t k = 0; k < in; k++)
                part += p[k] * q[k];
            s += part;
        }
        y->data[j] = (float)s;
    }
}

/* Per-channel mean and biased variance of x viewed as [o, m, i], two passes
 * (centred squares, not E[x^2] - E[x]^2, which cancels badly in float). The
 * rounding is that of the composed batch norm it replaces: mean = float(sum)
 * * (1/n), var = float(sum of float (x - mean)^2) * (1/n). */
void nn_channel_moments(const float *x, int64_t o, int64_t m, int64_t in, float *mean,
                        float *var)
{
    const float inv_n = 1.0f / (float)(o * in);
    const int64_t n_ = m;
#pragma omp parallel for schedule(static) if (n_ * o * in > NN_PAR_MIN && n_ > 1)
    for (int64_t j = 0; j < m; j++) {
        const float mu = (float)channel_sum(x, o, m, in, j) * inv_n;
        double s2 = 0.0;
        for (int64_t r = 0; r < o; r++) {
            const float *p = x + (r * m + j) * in;
            float part = 0.0f;
#pragma omp simd reduction(+ : part)
            for (int64_t k = 0; k < in; k++) {
                const float d = p[k] - mu;
                part += d * d;
            }
            s2 += part;
        }
        mean[j] = mu;
        var[j] = (float)s2 * inv_n;
    }
}

static void fwd_chan_var(nn_tensor *y)
{
    /* the mean goes to the op's arena scratch: only the variance is the value */
    nn_channel_moments(y->src[0]->data, y->ip[0], y->ip[1], y->ip[2], (float *)y->aux,
                       y->data);
}

/* a, b viewed as [o, m, i]: y = a * s[j] + b * u[j] + t[j], with s, u, t
 * packed in src[2] = p [1, 3 m]. */
static void fwd_chan_affine2(nn_tensor *y)
{
    const int64_t o = y->ip[0], m = y->ip[1], in = y->ip[2];
    const float *a = y->src[0]->data, *b = y->src[1]->data, *p = y->src[2]->data;
    float *out = y->data;
    const int64_t n_ = y->n;
#pragma omp parallel for collapse(2) schedule(static) if (n_ > NN_PAR_MIN)
    for (int64_t r = 0; r < o; r++)
        for (int64_t j = 0; j < m; j++) {
            const float sj = p[j], uj = p[m + j], tj = p[2 * m + j];
            const float *pa = a + (r * m + j) * in, *pb = b + (r * m + j) * in;
            float *q = out + (r * m + j) * in;
#pragma omp simd
            for (int64_t k = 0; k < in; k++)
                q[k] = pa[k] * sj + pb[k] * uj + tj;
        }
}

/* ---- op constructors ---------------------------------------------------- */
static nn_tensor *binary_p(nn_ctx *c, int op, nn_tensor *a, nn_tensor *b, float p0)
{
    if (!a || !b)
        return NULL;
    if (!nn_same_shape(a, b)) {
        return nn_fail(c, "nn: %s: shapes differ (%lld vs %lld elements)",
                 nn_op_table[op].name, (long long)a->n, (long long)b->n);
    }
    nn_tensor *y = nn_node(c, op, a->ndim, a->shape, a, b, NULL, false);
    if (y)
        y->fp[0] = p0;
    return nn_run(y);
}

static nn_tensor *binary(nn_ctx *c, int op, nn_tensor *a, nn_tensor *b)
{
    return binary_p(c, op, a, b, 0.0f);
}

static nn_tensor *unary(nn_ctx *c, int op, nn_tensor *x, float p0, float p1)
{
    if (!x)
        return NULL;
    nn_tensor *y = nn_node(c, op, x->ndim, x->shape, x, NULL, NULL, false);
    if (y) {
        y->fp[0] = p0;
        y->fp[1] = p1;
    }
    return nn_run(y);
}

nn_tensor *nn_add(nn_ctx *c, nn_tensor *a, nn_tensor *b) { return binary(c, NN_OP_ADD, a, b); }
nn_tensor *nn_sub(nn_ctx *c, nn_tensor *a, nn_tensor *b) { return binary(c, NN_OP_SUB, a, b); }
nn_tensor *nn_mul(nn_ctx *c, nn_tensor *a, nn_tensor *b) { return binary(c, NN_OP_MUL, a, b); }
nn_tensor *nn_div(nn_ctx *c, nn_tensor *a, nn_tensor *b) { return binary(c, NN_OP_DIV, a, b); }
nn_tensor *nn_affine(nn_ctx *c, nn_tensor *x, float a, float b)
{
    return unary(c, NN_OP_AFFINE, x, a, b);
}
nn_tensor *nn_scale(nn_ctx *c, nn_tensor *x, float a) { return unary(c, NN_OP_AFFINE, x, a, 0); }
nn_tensor *nn_add_scalar(nn_ctx *c, nn_tensor *x, float b)
{
    return unary(c, NN_OP_AFFINE, x, 1, b);
}
nn_tensor *nn_square(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_SQUARE, x, 0, 0); }
nn_tensor *nn_sqrt(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_SQRT, x, 0, 0); }
nn_tensor *nn_abs(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_ABS, x, 0, 0); }
nn_tensor *nn_exp(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_EXP, x, 0, 0); }
nn_tensor *nn_log(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_LOG, x, 0, 0); }
nn_tensor *nn_relu(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_LEAKY_RELU, x, 0, 0); }
nn_tensor *nn_leaky_relu(nn_ctx *c, nn_tensor *x, float slope)
{
    return unary(c, NN_OP_LEAKY_RELU, x, slope, 0);
}
nn_tensor *nn_tanh(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_TANH, x, 0, 0); }
nn_tensor *nn_sigmoid(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_SIGMOID, x, 0, 0); }
nn_tensor *nn_softplus(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_SOFTPLUS, x, 0, 0); }
nn_tensor *nn_sign(nn_ctx *c, nn_tensor *x) { return unary(c, NN_OP_SIGN, x, 0, 0); }

static nn_tensor *leaky_relu_bw(nn_ctx *c, nn_tensor *g, nn_tensor *x, float slope)
{
    return binary_p(c, NN_OP_LEAKY_RELU_BW, g, x, slope);
}

nn_tensor *nn_leaky_relu_bw(nn_ctx *c, nn_tensor *g, nn_tensor *x, float slope)
{
    return leaky_relu_bw(c, g, x, slope);
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
        y->ip[0] = ta;
        y->ip[1] = tb;
    }
    return nn_run(y);
}

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

nn_tensor *nn_linear(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b)
{
    return nn_run(linear_node(c, NN_OP_LINEAR, x, w, b));
}

nn_tensor *nn_linear_leaky_relu(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b,
                                float slope)
{
    if (!(slope >= 0.0f)) /* the mask-from-output trick needs sign(y) = sign(z) */
        return nn_leaky_relu(c, nn_linear(c, x, w, b), slope);
    nn_tensor *y = linear_node(c, NN_OP_LINEAR_LRELU, x, w, b);
    if (y)
        y->fp[0] = slope;
    return nn_run(y);
}

nn_tensor *nn_concat(nn_ctx *c, nn_tensor *a, nn_tensor *b)
{
    if (!a || !b)
        return NULL;
    bool ok = a->ndim == b->ndim && a->ndim >= 2 && a->shape[0] == b->shape[0];
    for (int d = 2; ok && d < a->ndim; d++)
        ok = a->shape[d] == b->shape[d];
    if (!ok) {
        return nn_fail(c, "nn: concat: shapes do not match outside dim 1");
    }
    int64_t shape[NN_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[1] = a->shape[1] + b->shape[1];
    return nn_run(nn_node(c, NN_OP_CONCAT, a->ndim, shape, a, b, NULL, false));
}

nn_tensor *nn_slice(nn_ctx *c, nn_tensor *x, int64_t start, int64_t len)
{
    if (!x)
        return NULL;
    if (x->ndim < 2 || start < 0 || len < 0 || start + len > x->shape[1]) {
        return nn_fail(c, "nn: slice [%lld, %lld) out of range", (long long)start,
                 (long long)(start + len));
    }
    int64_t shape[NN_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[1] = len;
    nn_tensor *y = nn_node(c, NN_OP_SLICE, x->ndim, shape, x, NULL, NULL, false);
    if (y)
        y->ip[0] = start;
    return nn_run(y);
}

nn_tensor *nn_pad(nn_ctx *c, nn_tensor *x, int64_t start, int ndim, const int64_t *shape)
{
    if (!x)
        return NULL;
    nn_tensor *y = nn_node(c, NN_OP_PAD, ndim, shape, x, NULL, NULL, false);
    if (y)
        y->ip[0] = start;
    return nn_run(y);
}

nn_tensor *nn_reshape(nn_ctx *c, nn_tensor *x, int ndim, const int64_t *shape)
{
    if (!x)
        return NULL;
    if (ndim < 1 || ndim > NN_MAX_DIMS || nn_shape_numel(ndim, shape) != x->n) {
        return nn_fail(c, "nn: reshape changes the element count");
    }
    /* data is shared: graph values are never written after creation */
    return nn_node(c, NN_OP_RESHAPE, ndim, shape, x, NULL, NULL, true);
}

static nn_tensor *omi(nn_ctx *c, int op, nn_tensor *x, int64_t o, int64_t m, int64_t i,
                      int ndim, const int64_t *shape)
{
    if (!x)
        return NULL;
    nn_tensor *y = nn_node(c, op, ndim, shape, x, NULL, NULL, false);
    if (y) {
        y->ip[0] = o;
        y->ip[1] = m;
        y->ip[2] = i;
    }
    return nn_run(y);
}

nn_tensor *nn_reduce_omi(nn_ctx *c, nn_tensor *x, int64_t o, int64_t m, int64_t i, int ndim,
                         const int64_t *shape)
{
    return omi(c, NN_OP_REDUCE, x, o, m, i, ndim, shape);
}

nn_tensor *nn_expand_omi(nn_ctx *c, nn_tensor *x, int64_t o, int64_t m, int64_t i, int ndim,
                         const int64_t *shape)
{
    return omi(c, NN_OP_EXPAND, x, o, m, i, ndim, shape);
}

nn_tensor *nn_sum(nn_ctx *c, nn_tensor *x)
{
    return x ? nn_reduce_omi(c, x, 1, 1, x->n, 1, (int64_t[]){1}) : NULL;
}

nn_tensor *nn_mean(nn_ctx *c, nn_tensor *x)
{
    return x ? nn_scale(c, nn_sum(c, x), 1.0f / (float)x->n) : NULL;
}

nn_tensor *nn_sum_rows(nn_ctx *c, nn_tensor *x)
{
    return x ? nn_reduce_omi(c, x, 1, x->shape[0], nn_inner(x), 2, (int64_t[]){x->shape[0], 1})
             : NULL;
}

nn_tensor *nn_sum_channels(nn_ctx *c, nn_tensor *x)
{
    if (!x)
        return NULL;
    if (x->ndim < 2) {
        return nn_fail(c, "nn: sum_channels needs rank >= 2");
    }
    const int64_t ch = x->shape[1];
    return nn_reduce_omi(c, x, x->shape[0], ch, nn_inner(x) / ch, 1, (int64_t[]){ch});
}

nn_tensor *nn_channel_affine(nn_ctx *c, nn_tensor *x, nn_tensor *s, nn_tensor *t)
{
    if (!x)
        return NULL;
    if (x->ndim < 2 || (s && s->n != x->shape[1]) || (t && t->n != x->shape[1]))
        return nn_fail(c, "nn: channel_affine: scale/shift do not match %lld channels",
                       (long long)(x->ndim >= 2 ? x->shape[1] : -1));
    nn_tensor *y = nn_node(c, NN_OP_CHAN_AFFINE, x->ndim, x->shape, x, NULL, NULL, false);
    if (y) {
        /* s and t are optional, so they are attached after the checked input */
        y->src[1] = s;
        y->src[2] = t;
        const bool ge = nn_ctx_grad_enabled(c);
        y->requires_grad |= ((s && s->requires_grad) || (t && t->requires_grad)) && ge;
        y->ip[0] = x->shape[0];
        y->ip[1] = x->shape[1];
        const int64_t per = x->shape[0] * x->shape[1];
        y->ip[2] = per > 0 ? x->n / per : 0;
    }
    return nn_run(y);
}

/* [o, m, i] view of x with m = channels (dim 1), for the per-channel ops. */
static void chan_view(nn_tensor *y, const nn_tensor *x)
{
    y->ip[0] = x->shape[0];
    y->ip[1] = x->shape[1];
    const int64_t per = x->shape[0] * x->shape[1];
    y->ip[2] = per > 0 ? x->n / per : 0;
}

nn_tensor *nn_channel_dot(nn_ctx *c, nn_tensor *a, nn_tensor *b)
{
    if (!a || !b)
        return NULL;
    if (a->ndim < 2 || !nn_same_shape(a, b))
        return nn_fail(c, "nn: channel_dot needs two tensors of one shape, rank >= 2");
    nn_tensor *y = nn_node(c, NN_OP_CHAN_DOT, 1, (int64_t[]){a->shape[1]}, a, b, NULL, false);
    if (y)
        chan_view(y, a);
    return nn_run(y);
}

/* [s | u | t] as one [1, 3C] tensor (concat's rule slices it back). */
static nn_tensor *pack3(nn_ctx *c, nn_tensor *s, nn_tensor *u, nn_tensor *t, int64_t ch)
{
    const int64_t row[2] = {1, ch};
    return nn_concat(c, nn_concat(c, nn_reshape(c, s, 2, row), nn_reshape(c, u, 2, row)),
                     nn_reshape(c, t, 2, row));
}

nn_tensor *nn_channel_affine2(nn_ctx *c, nn_tensor *a, nn_tensor *b, nn_tensor *s, nn_tensor *u,
                              nn_tensor *t)
{
    if (!a || !b || !s || !u || !t)
        return NULL;
    if (a->ndim < 2 || !nn_same_shape(a, b) || s->n != a->shape[1] || u->n != a->shape[1] ||
        t->n != a->shape[1])
        return nn_fail(c, "nn: channel_affine2: a, b of one shape and [C] s, u, t expected");
    nn_tensor *p = pack3(c, s, u, t, a->shape[1]);
    nn_tensor *y = nn_node(c, NN_OP_CHAN_AFFINE2, a->ndim, a->shape, a, b, p, false);
    if (y)
        chan_view(y, a);
    return nn_run(y);
}

nn_tensor *nn_channel_var(nn_ctx *c, nn_tensor *x)
{
    if (!x)
        return NULL;
    if (x->ndim < 2 || x->n == 0)
        return nn_fail(c, "nn: channel_var needs a non-empty tensor of rank >= 2");
    nn_tensor *y = nn_node(c, NN_OP_CHAN_VAR, 1, (int64_t[]){x->shape[1]}, x, NULL, NULL, false);
    if (y) {
        chan_view(y, x);
        if (!(y->aux = nn_scratch(c, (size_t)x->shape[1] * sizeof(float))))
            return NULL;
    }
    return nn_run(y);
}

nn_tensor *nn_expand_scalar(nn_ctx *c, nn_tensor *s, int ndim, const int64_t *shape)
{
    if (s && s->n != 1) {
        return nn_fail(c, "nn: expand_scalar needs one element");
    }
    return nn_expand_omi(c, s, 1, 1, nn_shape_numel(ndim, shape), ndim, shape);
}

nn_tensor *nn_expand_rows(nn_ctx *c, nn_tensor *r, int ndim, const int64_t *shape)
{
    if (r && r->n != shape[0]) {
        return nn_fail(c, "nn: expand_rows: %lld values for %lld rows", (long long)r->n,
                 (long long)shape[0]);
    }
    int64_t n = nn_shape_numel(ndim, shape);
    return nn_expand_omi(c, r, 1, shape[0], shape[0] ? n / shape[0] : 0, ndim, shape);
}

nn_tensor *nn_expand_channels(nn_ctx *c, nn_tensor *ch, int ndim, const int64_t *shape)
{
    if (ch && (ndim < 2 || ch->n != shape[1])) {
        return nn_fail(c, "nn: expand_channels: %lld values for %lld channels",
                 (long long)ch->n, (long long)(ndim >= 2 ? shape[1] : -1));
    }
    int64_t n = nn_shape_numel(ndim, shape);
    int64_t per = shape[0] * shape[1];
    return nn_expand_omi(c, ch, shape[0], shape[1], per ? n / per : 0, ndim, shape);
}

/* ---- backward rules ------------------------------------------------------- */
#define SRC(k) (y->src[k])
#define WANT(k) nn_wants(c, y->src[k])

static void bwd_add(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = gy;
    g[1] = gy;
}

static void bwd_sub(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = gy;
    g[1] = WANT(1) ? nn_scale(c, gy, -1.0f) : NULL;
}

static void bwd_mul(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = WANT(0) ? nn_mul(c, gy, SRC(1)) : NULL;
    g[1] = WANT(1) ? nn_mul(c, gy, SRC(0)) : NULL;
}

static void bwd_div(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = WANT(0) ? nn_div(c, gy, SRC(1)) : NULL;
    /* d(a/b)/db = -(a/b)/b */
    g[1] = WANT(1) ? nn_scale(c, nn_div(c, nn_mul(c, gy, y), SRC(1)), -1.0f) : NULL;
}

static void bwd_affine(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_scale(c, gy, y->fp[0]);
}

static void bwd_square(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_mul(c, gy, nn_scale(c, SRC(0), 2.0f));
}

static void bwd_sqrt(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_div(c, nn_scale(c, gy, 0.5f), y);
}

static void bwd_abs(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_mul(c, gy, nn_sign(c, SRC(0)));
}

static void bwd_exp(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_mul(c, gy, y);
}

static void bwd_log(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_div(c, gy, SRC(0));
}

static void bwd_leaky_relu(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = leaky_relu_bw(c, gy, SRC(0), y->fp[0]);
}

/* The mask is piecewise constant in x: only the gy input has a gradient. */
static void bwd_leaky_relu_bw(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = WANT(0) ? leaky_relu_bw(c, gy, SRC(1), y->fp[0]) : NULL;
    g[1] = NULL;
}

static void bwd_tanh(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = binary(c, NN_OP_TANH_BW, gy, y);
}

/* y = u (1 - t^2): du = g (1 - t^2), dt = -2 g u t */
static void bwd_tanh_bw(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = WANT(0) ? binary(c, NN_OP_TANH_BW, gy, SRC(1)) : NULL;
    g[1] = WANT(1) ? nn_mul(c, nn_mul(c, gy, SRC(0)), nn_scale(c, SRC(1), -2.0f)) : NULL;
}

static void bwd_sigmoid(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = binary(c, NN_OP_SIGMOID_BW, gy, y);
}

/* y = u s (1 - s): du = g s (1 - s), ds = g u (1 - 2 s) */
static void bwd_sigmoid_bw(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = WANT(0) ? binary(c, NN_OP_SIGMOID_BW, gy, SRC(1)) : NULL;
    g[1] = WANT(1) ? nn_mul(c, nn_mul(c, gy, SRC(0)), nn_affine(c, SRC(1), -2.0f, 1.0f)) : NULL;
}

static void bwd_softplus(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_mul(c, gy, nn_sigmoid(c, SRC(0)));
}

static void bwd_none(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = NULL;
}

/* C = A' B' with A' = ta ? A^T : A (likewise B'):
 *   dA = ta ? B' gy^T : gy B'^T      dB = tb ? gy^T A' : A'^T gy */
static void bwd_matmul(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    const bool ta = y->ip[0], tb = y->ip[1];
    nn_tensor *a = SRC(0), *b = SRC(1);
    g[0] = !WANT(0) ? NULL : ta ? nn_matmul(c, b, gy, tb, true) : nn_matmul(c, gy, b, false, !tb);
    g[1] = !WANT(1) ? NULL : tb ? nn_matmul(c, gy, a, true, ta) : nn_matmul(c, a, gy, !ta, false);
}

static void bwd_linear(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = WANT(0) ? nn_matmul(c, gy, SRC(1), false, false) : NULL;
    g[1] = WANT(1) ? nn_matmul(c, gy, SRC(0), true, false) : NULL;
    g[2] = WANT(2) ? nn_sum_channels(c, gy) : NULL;
}

/* z = x W^T + b, y = leaky_relu(z): gz = leaky_relu_bw(gy, y) — the mask
 * read from y, a constant — then linear's rule on gz. */
static void bwd_linear_lrelu(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    nn_tensor *gz = leaky_relu_bw(c, gy, y, y->fp[0]);
    bwd_linear(c, y, gz, g);
}

static void bwd_concat(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    const int64_t na = SRC(0)->shape[1];
    g[0] = WANT(0) ? nn_slice(c, gy, 0, na) : NULL;
    g[1] = WANT(1) ? nn_slice(c, gy, na, SRC(1)->shape[1]) : NULL;
}

static void bwd_slice(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_pad(c, gy, y->ip[0], SRC(0)->ndim, SRC(0)->shape);
}

static void bwd_pad(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_slice(c, gy, y->ip[0], SRC(0)->shape[1]);
}

static void bwd_reshape(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_reshape(c, gy, SRC(0)->ndim, SRC(0)->shape);
}

static void bwd_reduce(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_expand_omi(c, gy, y->ip[0], y->ip[1], y->ip[2], SRC(0)->ndim, SRC(0)->shape);
}

/* y = x s + t: dx = gy s (per channel), ds = sum_channels(gy x), dt = sum_channels(gy) */
static void bwd_chan_affine(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = !WANT(0) ? NULL : SRC(1) ? nn_channel_affine(c, gy, SRC(1), NULL) : gy;
    g[1] = WANT(1) ? nn_sum_channels(c, nn_mul(c, gy, SRC(0))) : NULL;
    g[2] = WANT(2) ? nn_sum_channels(c, gy) : NULL;
}

/* y = a s + b u + t: da = gy s, db = gy u (channel_affine), and for the
 * packed [s | u | t]: channel_dot(gy, a), channel_dot(gy, b), sum_channels(gy). */
static void bwd_chan_affine2(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    const int64_t ch = y->ip[1];
    nn_tensor *p = SRC(2);
    /* the scales as [C]: channel_affine's rule returns a [C] gradient for them */
    g[0] = WANT(0) ? nn_channel_affine(c, gy, nn_reshape(c, nn_slice(c, p, 0, ch), 1, &ch), NULL)
                   : NULL;
    g[1] = WANT(1) ? nn_channel_affine(c, gy, nn_reshape(c, nn_slice(c, p, ch, ch), 1, &ch), NULL)
                   : NULL;
    g[2] = WANT(2) ? pack3(c, nn_channel_dot(c, gy, SRC(0)), nn_channel_dot(c, gy, SRC(1)),
                           nn_sum_channels(c, gy), ch)
                   : NULL;
}

/* y = sum a b per channel: da = b g[ch], db = a g[ch] (bilinear, so the rule
 * is again made of channel_affine, whose own rule uses channel_dot). */
static void bwd_chan_dot(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = WANT(0) ? nn_channel_affine(c, SRC(1), gy, NULL) : NULL;
    g[1] = WANT(1) ? nn_channel_affine(c, SRC(0), gy, NULL) : NULL;
}

/* y = mean((x - mu)^2) per channel: dx = (2 g / n) (x - mu), written as one
 * channel_affine of x whose scale and shift are graph values of g and of
 * mu = mean(x) (the dependence of mu on x drops out, sum(x - mu) = 0, but
 * keeping mu a graph value makes the rule exact for the next derivative). */
static void bwd_chan_var(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    nn_tensor *x = SRC(0);
    const float inv_n = 1.0f / (float)(y->ip[0] * y->ip[2]);
    nn_tensor *mu = nn_scale(c, nn_sum_channels(c, x), inv_n);
    nn_tensor *s = nn_scale(c, gy, 2.0f * inv_n);
    g[0] = nn_channel_affine(c, x, s, nn_scale(c, nn_mul(c, s, mu), -1.0f));
}

static void bwd_expand(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_reduce_omi(c, gy, y->ip[0], y->ip[1], y->ip[2], SRC(0)->ndim, SRC(0)->shape);
}

const nn_op_def nn_op_table[NN_OP_COUNT] = {
    [NN_OP_LEAF] = {"leaf", 0, NULL, NULL},
    [NN_OP_ADD] = {"add", 2, fwd_add, bwd_add},
    [NN_OP_SUB] = {"sub", 2, fwd_sub, bwd_sub},
    [NN_OP_MUL] = {"mul", 2, fwd_mul, bwd_mul},
    [NN_OP_DIV] = {"div", 2, fwd_div, bwd_div},
    [NN_OP_AFFINE] = {"affine", 1, fwd_affine, bwd_affine},
    [NN_OP_SQUARE] = {"square", 1, fwd_square, bwd_square},
    [NN_OP_SQRT] = {"sqrt", 1, fwd_sqrt, bwd_sqrt},
    [NN_OP_ABS] = {"abs", 1, fwd_abs, bwd_abs},
    [NN_OP_EXP] = {"exp", 1, fwd_exp, bwd_exp},
    [NN_OP_LOG] = {"log", 1, fwd_log, bwd_log},
    [NN_OP_LEAKY_RELU] = {"leaky_relu", 1, fwd_leaky_relu, bwd_leaky_relu},
    [NN_OP_LEAKY_RELU_BW] = {"leaky_relu_bw", 2, fwd_leaky_relu_bw, bwd_leaky_relu_bw},
    [NN_OP_TANH] = {"tanh", 1, fwd_tanh, bwd_tanh},
    [NN_OP_TANH_BW] = {"tanh_bw", 2, fwd_tanh_bw, bwd_tanh_bw},
    [NN_OP_SIGMOID] = {"sigmoid", 1, fwd_sigmoid, bwd_sigmoid},
    [NN_OP_SIGMOID_BW] = {"sigmoid_bw", 2, fwd_sigmoid_bw, bwd_sigmoid_bw},
    [NN_OP_SOFTPLUS] = {"softplus", 1, fwd_softplus, bwd_softplus},
    [NN_OP_SIGN] = {"sign", 1, fwd_sign, bwd_none},
    [NN_OP_MATMUL] = {"matmul", 2, fwd_matmul, bwd_matmul},
    [NN_OP_LINEAR] = {"linear", 2, fwd_linear, bwd_linear},
    [NN_OP_LINEAR_LRELU] = {"linear_leaky_relu", 2, fwd_linear_lrelu, bwd_linear_lrelu},
    [NN_OP_CONCAT] = {"concat", 2, fwd_concat, bwd_concat},
    [NN_OP_SLICE] = {"slice", 1, fwd_slice, bwd_slice},
    [NN_OP_PAD] = {"pad", 1, fwd_pad, bwd_pad},
    [NN_OP_RESHAPE] = {"reshape", 1, NULL, bwd_reshape},
    [NN_OP_REDUCE] = {"reduce", 1, fwd_reduce, bwd_reduce},
    [NN_OP_EXPAND] = {"expand", 1, fwd_expand, bwd_expand},
    [NN_OP_CHAN_AFFINE] = {"channel_affine", 1, fwd_chan_affine, bwd_chan_affine},
    [NN_OP_CHAN_AFFINE2] = {"channel_affine2", 3, fwd_chan_affine2, bwd_chan_affine2},
    [NN_OP_CHAN_DOT] = {"channel_dot", 2, fwd_chan_dot, bwd_chan_dot},
    [NN_OP_CHAN_VAR] = {"channel_var", 1, fwd_chan_var, bwd_chan_var},
    [NN_OP_CONV2D] = {"conv2d", 2, nn_fwd_conv2d, nn_bwd_conv2d},
    [NN_OP_CONV_T2D] = {"conv_transpose2d", 2, nn_fwd_conv_t2d, nn_bwd_conv_t2d},
    [NN_OP_CONV_WGRAD] = {"conv2d_wgrad", 2, nn_fwd_conv_wgrad, nn_bwd_conv_wgrad},
    [NN_OP_UPSAMPLE2D] = {"upsample_nearest2d", 1, nn_fwd_upsample2d, nn_bwd_upsample2d},
    [NN_OP_SUMPOOL2D] = {"sum_pool2d", 1, nn_fwd_sumpool2d, nn_bwd_sumpool2d},
    [NN_OP_CROP2D] = {"crop2d", 1, nn_fwd_crop2d, nn_bwd_crop2d},
    [NN_OP_PAD2D] = {"pad2d", 1, nn_fwd_pad2d, nn_bwd_pad2d},
    [NN_OP_PHASE_FOLD] = {"phase_fold3x3", 1, nn_fwd_phase_fold, nn_bwd_phase_fold},
    [NN_OP_PHASE_UNFOLD] = {"phase_unfold3x3", 1, nn_fwd_phase_unfold, nn_bwd_phase_unfold},
    [NN_OP_PHASE_IL] = {"phase_interleave", 1, nn_fwd_phase_il, nn_bwd_phase_il},
    [NN_OP_PHASE_DEIL] = {"phase_deinterleave", 1, nn_fwd_phase_deil, nn_bwd_phase_deil},
    [NN_OP_BN_TRAIN] = {"batchnorm_train", 1, nn_fwd_bn_train, nn_bwd_bn_train},
};

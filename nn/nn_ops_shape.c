/* Shape and channel ops: concat / slice / pad along dim 1, reshape, the
 * [o, m, i] reductions and broadcasts (sums, means, expands), and the
 * per-channel ops batch norm is built from. One op = kernel, constructor(s),
 * backward rule, table row (nn_internal.h's NN_OP_LIST). */
#include "nn/nn_internal.h"

#include <string.h>

#define SRC(k) (y->src[k])
#define WANT(k) nn_wants(c, y->src[k])

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

static void bwd_concat(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    const int64_t na = SRC(0)->shape[1];
    g[0] = WANT(0) ? nn_slice(c, gy, 0, na) : NULL;
    g[1] = WANT(1) ? nn_slice(c, gy, na, SRC(1)->shape[1]) : NULL;
}

const nn_op_def nn_op_concat = {"concat", 2, fwd_concat, bwd_concat};

/* arg.start = start along dim 1; block = elements per unit of dim 1 */
static void fwd_slice(nn_tensor *y)
{
    const nn_tensor *x = y->src[0];
    const int64_t rows = y->shape[0], ix = nn_inner(x), iy = nn_inner(y);
    const int64_t off = y->arg.start * (ix / x->shape[1]);
    for (int64_t r = 0; r < rows; r++)
        memcpy(y->data + r * iy, x->data + r * ix + off, (size_t)iy * sizeof(float));
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
        y->arg.start = start;
    return nn_run(y);
}

static void bwd_slice(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_pad(c, gy, y->arg.start, SRC(0)->ndim, SRC(0)->shape);
}

const nn_op_def nn_op_slice = {"slice", 1, fwd_slice, bwd_slice};

/* Inverse of slice: zeros with x placed at arg.start along dim 1. */
static void fwd_pad(nn_tensor *y)
{
    const nn_tensor *x = y->src[0];
    const int64_t rows = y->shape[0], ix = nn_inner(x), iy = nn_inner(y);
    const int64_t off = y->arg.start * (iy / y->shape[1]);
    memset(y->data, 0, (size_t)y->n * sizeof(float));
    for (int64_t r = 0; r < rows; r++)
        memcpy(y->data + r * iy + off, x->data + r * ix, (size_t)ix * sizeof(float));
}

nn_tensor *nn_pad(nn_ctx *c, nn_tensor *x, int64_t start, int ndim, const int64_t *shape)
{
    if (!x)
        return NULL;
    nn_tensor *y = nn_node(c, NN_OP_PAD, ndim, shape, x, NULL, NULL, false);
    if (y)
        y->arg.start = start;
    return nn_run(y);
}

static void bwd_pad(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_slice(c, gy, y->arg.start, SRC(0)->shape[1]);
}

const nn_op_def nn_op_pad = {"pad", 1, fwd_pad, bwd_pad};

/* A view: no kernel, the node aliases its source's data. */
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

static void bwd_reshape(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_reshape(c, gy, SRC(0)->ndim, SRC(0)->shape);
}

const nn_op_def nn_op_reshape = {"reshape", 1, NULL, bwd_reshape};

static nn_tensor *omi(nn_ctx *c, int op, nn_tensor *x, int64_t o, int64_t m, int64_t i,
                      int ndim, const int64_t *shape)
{
    if (!x)
        return NULL;
    nn_tensor *y = nn_node(c, op, ndim, shape, x, NULL, NULL, false);
    if (y) {
        y->arg.view.o = o;
        y->arg.view.m = m;
        y->arg.view.i = i;
    }
    return nn_run(y);
}

/* Sum of channel j of x viewed as [o, m, i]: float partial sums of each
 * contiguous run of i, accumulated in double. */
GS_INLINE double channel_sum(const float *x, int64_t o, int64_t m, int64_t in, int64_t j)
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

/* The kernels of the channel ops below (core/gs_cpu.h; run on each thread's
 * chunk by NN_PAR_CHUNKS). x viewed as [o, m, i]; "rows" [r0, r1) index the
 * o m runs of i contiguous floats (row r is channel r % m), "channels"
 * [j0, j1) whole channels: every output comes from one thread, so the
 * result does not depend on the thread count. */

/* x [o, m] summed over o, row by row (contiguous reads: bias gradients) */
GS_KERNEL(reduce_rows, (float *out, const float *x, int64_t o, int64_t m), (out, x, o, m))
{
    memset(out, 0, (size_t)m * sizeof(float));
    for (int64_t a = 0; a < o; a++) {
        const float *row = x + a * m;
#pragma omp simd
        for (int64_t j = 0; j < m; j++)
            out[j] += row[j];
    }
}

GS_KERNEL(reduce_channels,
          (float *out, const float *x, int64_t o, int64_t m, int64_t in, int64_t j0, int64_t j1),
          (out, x, o, m, in, j0, j1))
{
    for (int64_t j = j0; j < j1; j++)
        out[j] = (float)channel_sum(x, o, m, in, j);
}

/* out = x * s[j] + t[j] (s, t either NULL) */
GS_KERNEL(chan_affine_rows,
          (float *out, const float *x, const float *s, const float *t, int64_t m, int64_t in,
           int64_t r0, int64_t r1),
          (out, x, s, t, m, in, r0, r1))
{
    for (int64_t r = r0; r < r1; r++) {
        const int64_t j = r % m;
        const float sj = s ? s[j] : 1.0f, tj = t ? t[j] : 0.0f;
        const float *p = x + r * in;
        float *q = out + r * in;
#pragma omp simd
        for (int64_t k = 0; k < in; k++)
            q[k] = p[k] * sj + tj;
    }
}

/* out = a * s[j] + b * u[j] + t[j], p = [s | u | t] */
GS_KERNEL(chan_affine2_rows,
          (float *out, const float *a, const float *b, const float *p, int64_t m, int64_t in,
           int64_t r0, int64_t r1),
          (out, a, b, p, m, in, r0, r1))
{
    for (int64_t r = r0; r < r1; r++) {
        const int64_t j = r % m;
        const float sj = p[j], uj = p[m + j], tj = p[2 * m + j];
        const float *pa = a + r * in, *pb = b + r * in;
        float *q = out + r * in;
#pragma omp simd
        for (int64_t k = 0; k < in; k++)
            q[k] = pa[k] * sj + pb[k] * uj + tj;
    }
}

/* out[j] = sum over o and i of a * b: float partial sums per row, in double */
GS_KERNEL(chan_dot_channels,
          (float *out, const float *a, const float *b, int64_t o, int64_t m, int64_t in,
           int64_t j0, int64_t j1),
          (out, a, b, o, m, in, j0, j1))
{
    for (int64_t j = j0; j < j1; j++) {
        double s = 0.0;
        for (int64_t r = 0; r < o; r++) {
            const float *p = a + (r * m + j) * in, *q = b + (r * m + j) * in;
            float part = 0.0f;
#pragma omp simd reduction(+ : part)
            for (int64_t k = 0; k < in; k++)
                part += p[k] * q[k];
            s += part;
        }
        out[j] = (float)s;
    }
}

/* nn_channel_moments' channels [j0, j1) */
GS_KERNEL(moments_channels,
          (const float *x, int64_t o, int64_t m, int64_t in, float *mean, float *var, int64_t j0,
           int64_t j1),
          (x, o, m, in, mean, var, j0, j1))
{
    const float inv_n = 1.0f / (float)(o * in);
    for (int64_t j = j0; j < j1; j++) {
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

/* Elements a per-channel loop over m channels touches: threads only when
 * there are channels to share and enough work (NN_PAR_CHUNKS). */
static int64_t chan_work(int64_t o, int64_t m, int64_t in)
{
    return m > 1 ? o * m * in : 0;
}

/* x viewed as [o, m, i] summed to [m]. */
static void fwd_reduce(nn_tensor *y)
{
    const int64_t o = y->arg.view.o, m = y->arg.view.m, in = y->arg.view.i;
    const float *x = y->src[0]->data;
    float *out = y->data;
    if (in == 1) {
        reduce_rows(out, x, o, m);
        return;
    }
    NN_PAR_CHUNKS(m, chan_work(o, m, in), j0, j1, reduce_channels(out, x, o, m, in, j0, j1));
}

nn_tensor *nn_reduce_omi(nn_ctx *c, nn_tensor *x, int64_t o, int64_t m, int64_t i, int ndim,
                         const int64_t *shape)
{
    return omi(c, NN_OP_REDUCE, x, o, m, i, ndim, shape);
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

static void bwd_reduce(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_expand_omi(c, gy, y->arg.view.o, y->arg.view.m, y->arg.view.i, SRC(0)->ndim,
                         SRC(0)->shape);
}

const nn_op_def nn_op_reduce = {"reduce", 1, fwd_reduce, bwd_reduce};

/* [m] broadcast to [o, m, i]. */
static void fwd_expand(nn_tensor *y)
{
    const int64_t o = y->arg.view.o, m = y->arg.view.m, in = y->arg.view.i;
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

nn_tensor *nn_expand_omi(nn_ctx *c, nn_tensor *x, int64_t o, int64_t m, int64_t i, int ndim,
                         const int64_t *shape)
{
    return omi(c, NN_OP_EXPAND, x, o, m, i, ndim, shape);
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

static void bwd_expand(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_reduce_omi(c, gy, y->arg.view.o, y->arg.view.m, y->arg.view.i, SRC(0)->ndim,
                         SRC(0)->shape);
}

const nn_op_def nn_op_expand = {"expand", 1, fwd_expand, bwd_expand};

/* [o, m, i] view of x with m = channels (dim 1), for the per-channel ops. */
static void chan_view(nn_tensor *y, const nn_tensor *x)
{
    y->arg.view.o = x->shape[0];
    y->arg.view.m = x->shape[1];
    const int64_t per = x->shape[0] * x->shape[1];
    y->arg.view.i = per > 0 ? x->n / per : 0;
}

/* x viewed as [o, m, i]: y = x * s[j] + t[j] (src[1] = s, src[2] = t, either NULL). */
static void fwd_chan_affine(nn_tensor *y)
{
    const int64_t o = y->arg.view.o, m = y->arg.view.m, in = y->arg.view.i;
    const float *x = y->src[0]->data;
    const float *s = y->src[1] ? y->src[1]->data : NULL, *t = y->src[2] ? y->src[2]->data : NULL;
    float *out = y->data;
    NN_PAR_CHUNKS(o * m, y->n, r0, r1, chan_affine_rows(out, x, s, t, m, in, r0, r1));
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
        y->arg.view.o = x->shape[0];
        y->arg.view.m = x->shape[1];
        const int64_t per = x->shape[0] * x->shape[1];
        y->arg.view.i = per > 0 ? x->n / per : 0;
    }
    return nn_run(y);
}

/* y = x s + t: dx = gy s (per channel), ds = sum_channels(gy x), dt = sum_channels(gy) */
static void bwd_chan_affine(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = !WANT(0) ? NULL : SRC(1) ? nn_channel_affine(c, gy, SRC(1), NULL) : gy;
    g[1] = WANT(1) ? nn_sum_channels(c, nn_mul(c, gy, SRC(0))) : NULL;
    g[2] = WANT(2) ? nn_sum_channels(c, gy) : NULL;
}

const nn_op_def nn_op_chan_affine = {"channel_affine", 1, fwd_chan_affine, bwd_chan_affine};

/* a, b viewed as [o, m, i]: y = a * s[j] + b * u[j] + t[j], with s, u, t
 * packed in src[2] = p [1, 3 m]. */
static void fwd_chan_affine2(nn_tensor *y)
{
    const int64_t o = y->arg.view.o, m = y->arg.view.m, in = y->arg.view.i;
    const float *a = y->src[0]->data, *b = y->src[1]->data, *p = y->src[2]->data;
    float *out = y->data;
    NN_PAR_CHUNKS(o * m, y->n, r0, r1, chan_affine2_rows(out, a, b, p, m, in, r0, r1));
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

/* y = a s + b u + t: da = gy s, db = gy u (channel_affine), and for the
 * packed [s | u | t]: channel_dot(gy, a), channel_dot(gy, b), sum_channels(gy). */
static void bwd_chan_affine2(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    const int64_t ch = y->arg.view.m;
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

const nn_op_def nn_op_chan_affine2 = {"channel_affine2", 3, fwd_chan_affine2, bwd_chan_affine2};

/* a, b viewed as [o, m, i]: y[j] = sum over o and i of a * b (src[1] = b).
 * Doubles across rows as in fwd_reduce, so long channels stay accurate. */
static void fwd_chan_dot(nn_tensor *y)
{
    const int64_t o = y->arg.view.o, m = y->arg.view.m, in = y->arg.view.i;
    const float *a = y->src[0]->data, *b = y->src[1]->data;
    float *out = y->data;
    NN_PAR_CHUNKS(m, chan_work(o, m, in), j0, j1,
                  chan_dot_channels(out, a, b, o, m, in, j0, j1));
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

/* y = sum a b per channel: da = b g[ch], db = a g[ch] (bilinear, so the rule
 * is again made of channel_affine, whose own rule uses channel_dot). */
static void bwd_chan_dot(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = WANT(0) ? nn_channel_affine(c, SRC(1), gy, NULL) : NULL;
    g[1] = WANT(1) ? nn_channel_affine(c, SRC(0), gy, NULL) : NULL;
}

const nn_op_def nn_op_chan_dot = {"channel_dot", 2, fwd_chan_dot, bwd_chan_dot};

/* Per-channel mean and biased variance of x viewed as [o, m, i], two passes
 * (centred squares, not E[x^2] - E[x]^2, which cancels badly in float). The
 * rounding is that of the composed batch norm it replaces: mean = float(sum)
 * * (1/n), var = float(sum of float (x - mean)^2) * (1/n). */
void nn_channel_moments(const float *x, int64_t o, int64_t m, int64_t in, float *mean,
                        float *var)
{
    NN_PAR_CHUNKS(m, chan_work(o, m, in), j0, j1,
                  moments_channels(x, o, m, in, mean, var, j0, j1));
}

static void fwd_chan_var(nn_tensor *y)
{
    /* the mean goes to the op's arena scratch: only the variance is the value */
    nn_channel_moments(y->src[0]->data, y->arg.view.o, y->arg.view.m, y->arg.view.i, (float *)y->aux,
                       y->data);
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

/* y = mean((x - mu)^2) per channel: dx = (2 g / n) (x - mu), written as one
 * channel_affine of x whose scale and shift are graph values of g and of
 * mu = mean(x) (the dependence of mu on x drops out, sum(x - mu) = 0, but
 * keeping mu a graph value makes the rule exact for the next derivative). */
static void bwd_chan_var(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    nn_tensor *x = SRC(0);
    const float inv_n = 1.0f / (float)(y->arg.view.o * y->arg.view.i);
    nn_tensor *mu = nn_scale(c, nn_sum_channels(c, x), inv_n);
    nn_tensor *s = nn_scale(c, gy, 2.0f * inv_n);
    g[0] = nn_channel_affine(c, x, s, nn_scale(c, nn_mul(c, s, mu), -1.0f));
}

const nn_op_def nn_op_chan_var = {"channel_var", 1, fwd_chan_var, bwd_chan_var};

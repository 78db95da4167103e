/* 2-D image ops other than convolutions: nearest upsampling and its
 * adjoint sum pooling, crop and its adjoint pad, and the sub-pixel phase
 * ops behind nn_upsample2_conv3x3 (docs/conv.md). One op = kernel,
 * constructor, backward rule, table row (nn_internal.h's NN_OP_LIST). */
#include "nn/nn_internal.h"

#include <string.h>

#define SRC(k) (y->src[k])
#define WANT(k) nn_wants(c, y->src[k])

/* Loops over the N*C planes fork threads only when there is enough work
 * (`work_`, the elements touched, must be in scope). */
#define PLANES_FOR(p, planes)                                                              \
    _Pragma("omp parallel for schedule(static) if (work_ > NN_PAR_MIN)")                   \
    for (int64_t p = 0; p < (planes); p++)

static nn_tensor *image_op(nn_ctx *c, int op, nn_tensor *x, int64_t h, int64_t w,
                           nn_op_args arg)
{
    nn_tensor *y =
        nn_node(c, op, 4, (int64_t[]){x->shape[0], x->shape[1], h, w}, x, NULL, NULL, false);
    if (y)
        y->arg = arg;
    return nn_run(y);
}

static void fwd_upsample2d(nn_tensor *y)
{
    const nn_tensor *x = y->src[0];
    const int64_t f = y->arg.factor, h = x->shape[2], w = x->shape[3], wo = w * f;
    const int64_t planes = x->shape[0] * x->shape[1];
    const int64_t work_ = y->n;
    PLANES_FOR(p, planes)
    {
        const float *xp = x->data + p * h * w;
        float *yp = y->data + p * h * f * wo;
        for (int64_t i = 0; i < h; i++) {
            float *row = yp + i * f * wo;
            for (int64_t j = 0; j < w; j++)
                for (int64_t b = 0; b < f; b++)
                    row[j * f + b] = xp[i * w + j];
            for (int64_t a = 1; a < f; a++)
                memcpy(row + a * wo, row, (size_t)wo * sizeof(float));
        }
    }
}

nn_tensor *nn_upsample_nearest2d(nn_ctx *c, nn_tensor *x, int64_t factor)
{
    if (!x)
        return NULL;
    if (x->ndim != 4 || factor < 1)
        return nn_fail(c, "nn: upsample_nearest2d needs a 4-D input and a factor >= 1");
    return image_op(c, NN_OP_UPSAMPLE2D, x, x->shape[2] * factor, x->shape[3] * factor,
                    (nn_op_args){.factor = factor});
}

static void bwd_upsample2d(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_sum_pool2d(c, gy, y->arg.factor);
}

const nn_op_def nn_op_upsample2d = {"upsample_nearest2d", 1, fwd_upsample2d, bwd_upsample2d};

static void fwd_sumpool2d(nn_tensor *y)
{
    const nn_tensor *x = y->src[0];
    const int64_t f = y->arg.factor, h = y->shape[2], w = y->shape[3], wi = w * f;
    const int64_t planes = y->shape[0] * y->shape[1];
    const int64_t work_ = x->n;
    PLANES_FOR(p, planes)
    {
        const float *xp = x->data + p * h * f * wi;
        float *yp = y->data + p * h * w;
        for (int64_t i = 0; i < h; i++)
            for (int64_t j = 0; j < w; j++) {
                float s = 0.0f;
                for (int64_t a = 0; a < f; a++)
                    for (int64_t b = 0; b < f; b++)
                        s += xp[(i * f + a) * wi + j * f + b];
                yp[i * w + j] = s;
            }
    }
}

nn_tensor *nn_sum_pool2d(nn_ctx *c, nn_tensor *x, int64_t factor)
{
    if (!x)
        return NULL;
    if (x->ndim != 4 || factor < 1 || x->shape[2] % factor || x->shape[3] % factor)
        return nn_fail(c, "nn: sum_pool2d needs a 4-D input with H, W divisible by the factor");
    return image_op(c, NN_OP_SUMPOOL2D, x, x->shape[2] / factor, x->shape[3] / factor,
                    (nn_op_args){.factor = factor});
}

static void bwd_sumpool2d(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_upsample_nearest2d(c, gy, y->arg.factor);
}

const nn_op_def nn_op_sumpool2d = {"sum_pool2d", 1, fwd_sumpool2d, bwd_sumpool2d};

static void fwd_crop2d(nn_tensor *y)
{
    const nn_tensor *x = y->src[0];
    const int64_t top = y->arg.window.top, left = y->arg.window.left, hx = x->shape[2], wx = x->shape[3];
    const int64_t h = y->shape[2], w = y->shape[3];
    const int64_t planes = y->shape[0] * y->shape[1];
    const int64_t work_ = y->n;
    PLANES_FOR(p, planes)
    for (int64_t i = 0; i < h; i++)
        memcpy(y->data + (p * h + i) * w, x->data + (p * hx + top + i) * wx + left,
               (size_t)w * sizeof(float));
}

nn_tensor *nn_crop2d(nn_ctx *c, nn_tensor *x, int64_t top, int64_t left, int64_t h, int64_t w)
{
    if (!x)
        return NULL;
    if (x->ndim != 4 || top < 0 || left < 0 || h < 0 || w < 0 || top + h > x->shape[2] ||
        left + w > x->shape[3])
        return nn_fail(c, "nn: crop2d window (%lld, %lld) %lldx%lld outside the image",
                       (long long)top, (long long)left, (long long)h, (long long)w);
    return image_op(c, NN_OP_CROP2D, x, h, w, (nn_op_args){.window = {top, left}});
}

static void bwd_crop2d(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_pad2d(c, gy, y->arg.window.top, y->arg.window.left, SRC(0)->shape[2],
                    SRC(0)->shape[3]);
}

const nn_op_def nn_op_crop2d = {"crop2d", 1, fwd_crop2d, bwd_crop2d};

static void fwd_pad2d(nn_tensor *y)
{
    const nn_tensor *x = y->src[0];
    const int64_t top = y->arg.window.top, left = y->arg.window.left, hx = x->shape[2], wx = x->shape[3];
    const int64_t h = y->shape[2], w = y->shape[3];
    const int64_t planes = y->shape[0] * y->shape[1];
    memset(y->data, 0, (size_t)y->n * sizeof(float));
    const int64_t work_ = y->n;
    PLANES_FOR(p, planes)
    for (int64_t i = 0; i < hx; i++)
        memcpy(y->data + (p * h + top + i) * w + left, x->data + (p * hx + i) * wx,
               (size_t)wx * sizeof(float));
}

nn_tensor *nn_pad2d(nn_ctx *c, nn_tensor *x, int64_t top, int64_t left, int64_t h, int64_t w)
{
    if (!x)
        return NULL;
    if (x->ndim != 4 || top < 0 || left < 0 || top + x->shape[2] > h || left + x->shape[3] > w)
        return nn_fail(c, "nn: pad2d: image does not fit at (%lld, %lld) in %lldx%lld",
                       (long long)top, (long long)left, (long long)h, (long long)w);
    return image_op(c, NN_OP_PAD2D, x, h, w, (nn_op_args){.window = {top, left}});
}

static void bwd_pad2d(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_crop2d(c, gy, y->arg.window.top, y->arg.window.left, SRC(0)->shape[2],
                     SRC(0)->shape[3]);
}

const nn_op_def nn_op_pad2d = {"pad2d", 1, fwd_pad2d, bwd_pad2d};

/* ---- nearest x2 upsampling + 3x3 conv at the input's resolution ------------------ *
 * u = upsample2(x), y = conv3x3(u, w, pad 1). Output row 2i + a (a = row
 * phase) reads u rows 2i + a - 1 .. 2i + a + 1, i.e. x rows
 *   a = 0:  i - 1 (tap 0),   i (taps 1, 2)
 *   a = 1:  i (taps 0, 1),   i + 1 (tap 2)
 * and u's zero padding is exactly x's. So each phase (a, b) is a 2x2 conv
 * of x whose taps are sums of w's (P_ab = M_a W M_b^T with M below); with
 * pad 1 on x, phase (a, b) of output (i, j) is pixel (i + a, j + b) of its
 * (H+1)x(W+1) plane. All four phases are one conv2d with 4 Cout outputs,
 * phase-major (channel (2a + b) Cout + o), 16 instead of 36 multiply-adds
 * per output pixel and input channel, and no 4x upsampled input.
 *
 * fold / unfold (weights) and interleave / deinterleave (images) are linear
 * and each pair is adjoint, so each is the other's backward rule; with the
 * conv family in between the composition is closed under differentiation. */

static const float phase_m[2][2][3] = {{{1, 0, 0}, {0, 1, 1}}, {{1, 1, 0}, {0, 0, 1}}};

/* p [4 co, ci, 2, 2] = fold(w [co, ci, 3, 3]) */
static void fwd_phase_fold(nn_tensor *y)
{
    const nn_tensor *w = y->src[0];
    const int64_t co = w->shape[0], ci = w->shape[1];
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            for (int64_t oc = 0; oc < co * ci; oc++) {
                const float *k = w->data + oc * 9;
                float *p = y->data + (((int64_t)(2 * a + b) * co * ci) + oc) * 4;
                for (int u = 0; u < 2; u++)
                    for (int v = 0; v < 2; v++) {
                        float s = 0.0f;
                        for (int t = 0; t < 3; t++)
                            for (int q = 0; q < 3; q++)
                                s += phase_m[a][u][t] * phase_m[b][v][q] * k[t * 3 + q];
                        p[u * 2 + v] = s;
                    }
            }
}

nn_tensor *nn_phase_fold3x3(nn_ctx *c, nn_tensor *w)
{
    if (!w)
        return NULL;
    if (w->ndim != 4 || w->shape[2] != 3 || w->shape[3] != 3)
        return nn_fail(c, "nn: phase_fold3x3 needs a [Cout, Cin, 3, 3] weight");
    return nn_run(nn_node(c, NN_OP_PHASE_FOLD, 4,
                          (int64_t[]){4 * w->shape[0], w->shape[1], 2, 2}, w, NULL, NULL,
                          false));
}

static void bwd_phase_fold(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_phase_unfold3x3(c, gy);
}

const nn_op_def nn_op_phase_fold = {"phase_fold3x3", 1, fwd_phase_fold, bwd_phase_fold};

/* w [co, ci, 3, 3] = unfold(p [4 co, ci, 2, 2]) = sum_ab M_a^T P_ab M_b */
static void fwd_phase_unfold(nn_tensor *y)
{
    const nn_tensor *p = y->src[0];
    const int64_t co = y->shape[0], ci = y->shape[1];
    memset(y->data, 0, (size_t)y->n * sizeof(float));
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            for (int64_t oc = 0; oc < co * ci; oc++) {
                const float *g = p->data + (((int64_t)(2 * a + b) * co * ci) + oc) * 4;
                float *k = y->data + oc * 9;
                for (int t = 0; t < 3; t++)
                    for (int q = 0; q < 3; q++) {
                        float s = 0.0f;
                        for (int u = 0; u < 2; u++)
                            for (int v = 0; v < 2; v++)
                                s += phase_m[a][u][t] * phase_m[b][v][q] * g[u * 2 + v];
                        k[t * 3 + q] += s;
                    }
            }
}

nn_tensor *nn_phase_unfold3x3(nn_ctx *c, nn_tensor *p)
{
    if (!p)
        return NULL;
    if (p->ndim != 4 || p->shape[0] % 4 || p->shape[2] != 2 || p->shape[3] != 2)
        return nn_fail(c, "nn: phase_unfold3x3 needs a [4 Cout, Cin, 2, 2] weight");
    return nn_run(nn_node(c, NN_OP_PHASE_UNFOLD, 4,
                          (int64_t[]){p->shape[0] / 4, p->shape[1], 3, 3}, p, NULL, NULL,
                          false));
}

static void bwd_phase_unfold(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_phase_fold3x3(c, gy);
}

const nn_op_def nn_op_phase_unfold = {"phase_unfold3x3", 1, fwd_phase_unfold, bwd_phase_unfold};

/* y [n, co, 2h, 2w] (+ b[o]) from z [n, 4 co, h + 1, w + 1]:
 * y(2i + a, 2j + b) = z_ab(i + a, j + b) */
static void fwd_phase_il(nn_tensor *y)
{
    const nn_tensor *z = y->src[0], *bias = y->src[2];
    const int64_t n = y->shape[0], co = y->shape[1], ho = y->shape[2], wo = y->shape[3];
    const int64_t hz = z->shape[2], wz = z->shape[3], w = wo / 2, pz = hz * wz;
    const int64_t work_ = y->n;
    const bool act = y->arg.il.act;
    const float sl = y->arg.il.slope;
    PLANES_FOR(p, n * co)
    {
        const int64_t in = p / co, o = p % co;
        const float bv = bias ? bias->data[o] : 0.0f;
        for (int64_t r = 0; r < ho; r++) {
            const int64_t a = r & 1, i = r >> 1;
            /* phases (a, 0) and (a, 1), row i + a */
            const float *z0 = z->data + ((in * 4 + 2 * a) * co + o) * pz + (i + a) * wz;
            const float *z1 = z0 + co * pz + 1;
            float *out = y->data + (p * ho + r) * wo;
            if (!act) {
#pragma omp simd
                for (int64_t j = 0; j < w; j++) {
                    out[2 * j] = z0[j] + bv;
                    out[2 * j + 1] = z1[j] + bv;
                }
                continue;
            }
            /* no bias: no + 0.0f either, which would turn -0 into +0 */
#pragma omp simd
            for (int64_t j = 0; j < w; j++) {
                const float v0 = bias ? z0[j] + bv : z0[j], v1 = bias ? z1[j] + bv : z1[j];
                out[2 * j] = v0 > 0 ? v0 : sl * v0;
                out[2 * j + 1] = v1 > 0 ? v1 : sl * v1;
            }
        }
    }
}

static nn_tensor *phase_il(nn_ctx *c, nn_tensor *z, nn_tensor *b, bool act, float slope)
{
    if (!z)
        return NULL;
    if (act && !(slope >= 0))
        return nn_fail(c, "nn: phase_interleave_lrelu needs a slope >= 0, got %g", (double)slope);
    if (z->ndim != 4 || z->shape[1] % 4 || z->shape[2] < 2 || z->shape[3] < 2 ||
        (b && b->n != z->shape[1] / 4))
        return nn_fail(c, "nn: phase_interleave needs [N, 4 C, H + 1, W + 1] planes "
                          "(H, W >= 1) and a [C] bias");
    const int64_t shape[4] = {z->shape[0], z->shape[1] / 4, 2 * (z->shape[2] - 1),
                              2 * (z->shape[3] - 1)};
    nn_tensor *y = nn_node(c, NN_OP_PHASE_IL, 4, shape, z, NULL, NULL, false);
    nn_attach_bias(c, y, b);
    if (y) {
        y->arg.il.slope = slope;
        y->arg.il.act = act;
    }
    return nn_run(y);
}

nn_tensor *nn_phase_interleave(nn_ctx *c, nn_tensor *z, nn_tensor *b)
{
    return phase_il(c, z, b, false, 0.0f);
}

nn_tensor *nn_phase_interleave_lrelu(nn_ctx *c, nn_tensor *z, nn_tensor *b, float slope)
{
    return phase_il(c, z, b, true, slope);
}

/* the bias (src[2], as in the conv ops) is broadcast per channel: db = sum;
 * a fused activation first masks gy (its mask read from y's sign) */
static void bwd_phase_il(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    if (y->arg.il.act)
        gy = nn_leaky_relu_bw(c, gy, y, y->arg.il.slope);
    g[0] = WANT(0) ? nn_phase_deinterleave(c, gy) : NULL;
    g[2] = WANT(2) ? nn_sum_channels(c, gy) : NULL;
}

const nn_op_def nn_op_phase_il = {"phase_interleave", 1, fwd_phase_il, bwd_phase_il};

/* The adjoint: z [n, 4 co, h + 1, w + 1] with the positions no output pixel
 * reads (one row and one column per phase plane) zero. */
static void fwd_phase_deil(nn_tensor *y)
{
    const nn_tensor *g = y->src[0];
    const int64_t n = g->shape[0], co = g->shape[1], hg = g->shape[2], wg = g->shape[3];
    const int64_t hz = y->shape[2], wz = y->shape[3], h = hg / 2, w = wg / 2, pz = hz * wz;
    const int64_t work_ = y->n;
    PLANES_FOR(p, n * co)
    {
        const int64_t in = p / co, o = p % co;
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++) {
                float *zp = y->data + ((in * 4 + 2 * a + b) * co + o) * pz;
                /* unread: row h (a = 0) or 0 (a = 1), column w (b = 0) or 0 (b = 1) */
                memset(zp + (a ? 0 : h) * wz, 0, (size_t)wz * sizeof(float));
                for (int64_t i = 0; i < h; i++) {
                    const float *src = g->data + (p * hg + 2 * i + a) * wg + b;
                    float *dst = zp + (i + a) * wz + b;
                    dst[b ? -1 : w] = 0.0f;
#pragma omp simd
                    for (int64_t j = 0; j < w; j++)
                        dst[j] = src[2 * j];
                }
            }
    }
}

nn_tensor *nn_phase_deinterleave(nn_ctx *c, nn_tensor *y)
{
    if (!y)
        return NULL;
    if (y->ndim != 4 || y->shape[2] < 2 || y->shape[3] < 2 || y->shape[2] % 2 ||
        y->shape[3] % 2)
        return nn_fail(c, "nn: phase_deinterleave needs [N, C, 2H, 2W] (H, W >= 1)");
    const int64_t shape[4] = {y->shape[0], 4 * y->shape[1], y->shape[2] / 2 + 1,
                              y->shape[3] / 2 + 1};
    return nn_run(nn_node(c, NN_OP_PHASE_DEIL, 4, shape, y, NULL, NULL, false));
}

static void bwd_phase_deil(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_phase_interleave(c, gy, NULL);
}

const nn_op_def nn_op_phase_deil = {"phase_deinterleave", 1, fwd_phase_deil, bwd_phase_deil};

nn_tensor *nn_upsample2_conv3x3(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b)
{
    if (!x || !w)
        return NULL;
    if (x->ndim != 4 || w->ndim != 4 || w->shape[2] != 3 || w->shape[3] != 3 ||
        x->shape[1] != w->shape[1] || (b && b->n != w->shape[0]))
        return nn_fail(c, "nn: upsample2_conv3x3: x [N, Cin, H, W], w [Cout, Cin, 3, 3], "
                          "b [Cout] expected");
    /* the bias goes in with the interleave (one value per output channel,
     * whatever the phase), so db is the plain sum over the output */
    nn_tensor *z = nn_conv2d(c, x, nn_phase_fold3x3(c, w), NULL, 1, 1);
    nn_tensor *y = nn_phase_interleave(c, z, b);
    /* No rule reads the phase planes' values: the interleave's backward
     * uses only their shape and the conv's rule its input and weights. So
     * their buffer (about the output's size) is handed back for the next
     * tensors, as PyTorch would free it. */
    if (y)
        nn_ctx_release(c, z);
    return y;
}

nn_tensor *nn_flatten(nn_ctx *c, nn_tensor *x)
{
    if (!x)
        return NULL;
    return nn_reshape(c, x, 2, (int64_t[]){x->shape[0], nn_inner(x)});
}

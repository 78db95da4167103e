/* Convolutions (nn_image.c has the other image ops, nn_bn.c batch norm).
 *
 * The conv family is three ops over one geometry: an "image" side
 * [N, ci, h, w] and a "column" side [N, co, ho, wo] linked by a kernel
 * kh x kw, stride (sh, sw) and zero padding (ph, pw), with a weight
 * [co, ci, kh, kw]:
 *   conv2d      image -> column     y_n = W   im2col(x_n)
 *   conv_t2d    column -> image     y_n = col2im(W^T x_n)   (adjoint of conv2d)
 *   conv_wgrad  (image, column) -> weight   sum_n g_n im2col(x_n)^T
 * PyTorch's ConvTranspose2d weight [Cin, Cout, kh, kw] is exactly the conv
 * weight of the adjoint conv ([co, ci, ...] seen from the column side), so
 * the same array serves both. Each op's derivatives are again one of the
 * three (see the bwd_ rules), so any order of differentiation works.
 *
 * Kernels: im2col / col2im + one cblas_sgemm per sample, OpenMP over the
 * batch with one im2col slab per thread (OpenBLAS called inside a parallel
 * region runs single-threaded, which is what we want). With fewer samples
 * than threads the samples run serially and sgemm threads instead. The
 * slabs come from the arena when the node is created (y->aux), so a step
 * allocates nothing once the arena has grown. See docs/conv.md. */
#include "nn/nn_internal.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#define SRC(k) (y->src[k])
#define WANT(k) nn_wants(c, y->src[k])
#define GEOM_ARGS(y) (y)->arg.conv.sh, (y)->arg.conv.sw, (y)->arg.conv.ph, (y)->arg.conv.pw

typedef struct {
    int64_t n, ci, h, w;    /* image side */
    int64_t co, ho, wo;     /* column side */
    int64_t kh, kw, sh, sw, ph, pw;
} conv_geom;

static conv_geom geom(const nn_tensor *img, const nn_tensor *col, int64_t kh, int64_t kw,
                      const nn_op_args *a)
{
    return (conv_geom){.n = img->shape[0], .ci = img->shape[1], .h = img->shape[2],
                       .w = img->shape[3], .co = col->shape[1], .ho = col->shape[2],
                       .wo = col->shape[3], .kh = kh, .kw = kw, .sh = a->conv.sh,
                       .sw = a->conv.sw, .ph = a->conv.ph, .pw = a->conv.pw};
}

static int64_t conv_k(const conv_geom *g) { return g->ci * g->kh * g->kw; }

/* A 1x1 stride-1 unpadded conv needs no im2col: the image is the column matrix. */
static bool is_pointwise(const conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

/* Output columns o in [lo, hi) whose input index o*s - p + j is in [0, len). */
GS_INLINE void valid_range(int64_t j, int64_t p, int64_t s, int64_t len, int64_t nout,
                        int64_t *lo, int64_t *hi)
{
    int64_t a = p - j <= 0 ? 0 : (p - j + s - 1) / s;
    int64_t t = len - 1 + p - j;
    int64_t b = t < 0 ? 0 : t / s + 1;
    if (a > nout)
        a = nout;
    if (b > nout)
        b = nout;
    if (b < a)
        b = a;
    *lo = a;
    *hi = b;
}

/* col [ci*kh*kw, ho*wo] from one image [ci, h, w]; padding reads as zero. */
static void im2col(const float *img, float *col, const conv_geom *g)
{
    const int64_t hwo = g->ho * g->wo;
    for (int64_t c = 0; c < g->ci; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                float *row = col + ((c * g->kh + i) * g->kw + j) * hwo;
                const float *plane = img + c * g->h * g->w;
                int64_t lo, hi;
                valid_range(j, g->pw, g->sw, g->w, g->wo, &lo, &hi);
                for (int64_t oh = 0; oh < g->ho; oh++) {
                    float *r = row + oh * g->wo;
                    const int64_t ih = oh * g->sh - g->ph + i;
                    if (ih < 0 || ih >= g->h) {
                        memset(r, 0, (size_t)g->wo * sizeof(float));
                        continue;
                    }
                    const float *src = plane + ih * g->w - g->pw + j;
                    for (int64_t o = 0; o < lo; o++)
                        r[o] = 0.0f;
                    if (g->sw == 1) {
                        memcpy(r + lo, src + lo, (size_t)(hi - lo) * sizeof(float));
                    } else {
                        for (int64_t o = lo; o < hi; o++)
                            r[o] = src[o * g->sw];
                    }
                    for (int64_t o = hi; o < g->wo; o++)
                        r[o] = 0.0f;
                }
            }
}

/* img += col2im(col): the adjoint of im2col (padding positions are dropped).
 * A GS_KERNEL (core/gs_cpu.h): the accumulation vectorises, and each thread
 * calls it on its own samples. */
GS_KERNEL(col2im, (const float *col, float *img, const conv_geom *g), (col, img, g))
{
    const int64_t hwo = g->ho * g->wo;
    for (int64_t c = 0; c < g->ci; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const float *row = col + ((c * g->kh + i) * g->kw + j) * hwo;
                float *plane = img + c * g->h * g->w;
                int64_t lo, hi;
                valid_range(j, g->pw, g->sw, g->w, g->wo, &lo, &hi);
                for (int64_t oh = 0; oh < g->ho; oh++) {
                    const int64_t ih = oh * g->sh - g->ph + i;
                    if (ih < 0 || ih >= g->h)
                        continue;
                    const float *r = row + oh * g->wo;
                    float *dst = plane + ih * g->w - g->pw + j;
                    if (g->sw == 1) {
#pragma omp simd
                        for (int64_t o = lo; o < hi; o++)
                            dst[o] += r[o];
                    } else {
                        for (int64_t o = lo; o < hi; o++)
                            dst[o * g->sw] += r[o];
                    }
                }
            }
}

/* Fills each of the n planes of `plane` floats with its channel's bias (or 0). */
static void fill_bias(float *out, const nn_tensor *b, int64_t ch, int64_t plane)
{
    for (int64_t c = 0; c < ch; c++) {
        const float v = b ? b->data[c] : 0.0f;
        float *p = out + c * plane;
        for (int64_t k = 0; k < plane; k++)
            p[k] = v;
    }
}

static void conv2d_sample(const conv_geom *g, const float *x, const float *w,
                          const nn_tensor *b, float *y, float *col)
{
    const int64_t hwo = g->ho * g->wo, k = conv_k(g);
    if (b)
        fill_bias(y, b, g->co, hwo);
    if (is_pointwise(g))
        col = (float *)x;
    else
        im2col(x, col, g);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g->co, (int)hwo, (int)k, 1.0f,
                w, (int)k, col, (int)hwo, b ? 1.0f : 0.0f, y, (int)hwo);
}

static void conv_t2d_sample(const conv_geom *g, const float *x, const float *w,
                            const nn_tensor *b, float *y, float *col)
{
    const int64_t hwo = g->ho * g->wo, k = conv_k(g);
    if (is_pointwise(g)) {
        /* y [ci, hw] = W^T x */
        if (b)
            fill_bias(y, b, g->ci, g->h * g->w);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)hwo, (int)g->co,
                    1.0f, w, (int)k, x, (int)hwo, b ? 1.0f : 0.0f, y, (int)hwo);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)hwo, (int)g->co, 1.0f, w,
                (int)k, x, (int)hwo, 0.0f, col, (int)hwo);
    fill_bias(y, b, g->ci, g->h * g->w);
    col2im(col, y, g);
}

/* acc [co, k] += g_n [co, hwo] im2col(x_n)^T */
static void wgrad_sample(const conv_geom *g, const float *x, const float *gy, float *acc,
                         float *col)
{
    const int64_t hwo = g->ho * g->wo, k = conv_k(g);
    if (is_pointwise(g))
        col = (float *)x;
    else
        im2col(x, col, g);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g->co, (int)k, (int)hwo, 1.0f, gy,
                (int)hwo, col, (int)hwo, 1.0f, acc, (int)k);
}

static float *slab(const nn_tensor *y, int t)
{
    /* no slab at all for a pointwise conv (and no pointer arithmetic on NULL) */
    return y->aux ? (float *)y->aux + t * y->arg.conv.slab_floats : NULL;
}

/* Decides the threading and reserves the per-thread slabs in the arena: an
 * im2col buffer (unless pointwise) plus, when samples run in parallel,
 * `partial` floats for a per-thread accumulator (wgrad). */
static nn_tensor *conv_finish(nn_ctx *c, nn_tensor *y, const conv_geom *g, int64_t partial)
{
    if (!y)
        return NULL;
    y->arg.conv.sh = g->sh;
    y->arg.conv.sw = g->sw;
    y->arg.conv.ph = g->ph;
    y->arg.conv.pw = g->pw;
    const int threads = nn_get_threads();
    /* batch parallelism only when every thread gets a sample; otherwise
     * sgemm's own threads do better than idle cores */
    const int nt = threads > 1 && g->n >= threads ? threads : 1;
    int64_t per = (is_pointwise(g) ? 0 : conv_k(g) * g->ho * g->wo) + (nt > 1 ? partial : 0);
    per = (per + 15) / 16 * 16;  /* keep every slab 64-byte aligned */
    y->arg.conv.slabs = nt;
    y->arg.conv.slab_floats = per;
    if (per > 0 && !(y->aux = nn_scratch(c, (size_t)(per * nt) * sizeof(float))))
        return NULL;
    return nn_run(y);
}

static bool conv_args_ok(nn_ctx *c, const char *op, const nn_tensor *a, const nn_tensor *w,
                         int64_t sh, int64_t sw, int64_t ph, int64_t pw)
{
    if (a->ndim != 4 || w->ndim != 4) {
        nn_fail(c, "nn: %s needs 4-D input and weight", op);
        return false;
    }
    if (sh < 1 || sw < 1 || ph < 0 || pw < 0 || w->shape[2] < 1 || w->shape[3] < 1) {
        nn_fail(c, "nn: %s: bad stride/padding/kernel", op);
        return false;
    }
    return true;
}

void nn_attach_bias(nn_ctx *c, nn_tensor *y, nn_tensor *b)
{
    if (y && b) {
        /* bias is optional, so it is attached after the NULL-checked inputs */
        y->src[2] = b;
        y->requires_grad |= b->requires_grad && nn_ctx_grad_enabled(c);
    }
}

/* The three conv ops with per-axis stride and padding; each one's backward
 * rule is made of the other two. */
static nn_tensor *conv2d_hw(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b, int64_t sh,
                            int64_t sw, int64_t ph, int64_t pw);
static nn_tensor *conv_t2d_hw(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b, int64_t sh,
                              int64_t sw, int64_t ph, int64_t pw, int64_t ho, int64_t wo);
static nn_tensor *conv_wgrad_hw(nn_ctx *c, nn_tensor *x, nn_tensor *gy, int64_t kh, int64_t kw,
                                int64_t sh, int64_t sw, int64_t ph, int64_t pw);

static void fwd_conv2d(nn_tensor *y)
{
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    const conv_geom g = geom(x, y, w->shape[2], w->shape[3], &y->arg);
    const int64_t xs = g.ci * g.h * g.w, ys = g.co * g.ho * g.wo;
    const int nt = (int)y->arg.conv.slabs;
    if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t n = 0; n < g.n; n++)
            conv2d_sample(&g, x->data + n * xs, w->data, b, y->data + n * ys,
                          slab(y, omp_get_thread_num()));
    } else {
        for (int64_t n = 0; n < g.n; n++)
            conv2d_sample(&g, x->data + n * xs, w->data, b, y->data + n * ys, slab(y, 0));
    }
}

static nn_tensor *conv2d_hw(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b, int64_t sh,
                            int64_t sw, int64_t ph, int64_t pw)
{
    if (!x || !w)
        return NULL;
    if (!conv_args_ok(c, "conv2d", x, w, sh, sw, ph, pw))
        return NULL;
    const int64_t kh = w->shape[2], kw = w->shape[3];
    if (x->shape[1] != w->shape[1] || (b && b->n != w->shape[0]))
        return nn_fail(c, "nn: conv2d: x has %lld channels, w is [%lld, %lld, ...]%s",
                       (long long)x->shape[1], (long long)w->shape[0], (long long)w->shape[1],
                       b && b->n != w->shape[0] ? ", bias size differs" : "");
    const int64_t hp = x->shape[2] + 2 * ph, wp = x->shape[3] + 2 * pw;
    if (hp < kh || wp < kw)
        return nn_fail(c, "nn: conv2d: kernel %lldx%lld larger than padded input %lldx%lld",
                       (long long)kh, (long long)kw, (long long)hp, (long long)wp);
    const int64_t shape[4] = {x->shape[0], w->shape[0], (hp - kh) / sh + 1, (wp - kw) / sw + 1};
    nn_tensor *y = nn_node(c, NN_OP_CONV2D, 4, shape, x, w, NULL, false);
    nn_attach_bias(c, y, b);
    if (!y)
        return NULL;
    const conv_geom g = geom(x, y, kh, kw, &(nn_op_args){.conv = {sh, sw, ph, pw, 0, 0}});
    return conv_finish(c, y, &g, 0);
}

nn_tensor *nn_conv2d(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b, int64_t stride,
                     int64_t pad)
{
    return conv2d_hw(c, x, w, b, stride, stride, pad, pad);
}

/* y = conv(x, w) + b:  dx = conv_t(gy, w), dw = wgrad(x, gy), db = sum over N, H, W */
static void bwd_conv2d(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    nn_tensor *x = SRC(0), *w = SRC(1);
    g[0] = WANT(0) ? conv_t2d_hw(c, gy, w, NULL, GEOM_ARGS(y), x->shape[2], x->shape[3]) : NULL;
    g[1] = WANT(1) ? conv_wgrad_hw(c, x, gy, w->shape[2], w->shape[3], GEOM_ARGS(y)) : NULL;
    g[2] = WANT(2) ? nn_sum_channels(c, gy) : NULL;
}

const nn_op_def nn_op_conv2d = {"conv2d", 2, fwd_conv2d, bwd_conv2d};

static void fwd_conv_t2d(nn_tensor *y)
{
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    const conv_geom g = geom(y, x, w->shape[2], w->shape[3], &y->arg);
    const int64_t xs = g.co * g.ho * g.wo, ys = g.ci * g.h * g.w;
    const int nt = (int)y->arg.conv.slabs;
    if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t n = 0; n < g.n; n++)
            conv_t2d_sample(&g, x->data + n * xs, w->data, b, y->data + n * ys,
                            slab(y, omp_get_thread_num()));
    } else {
        for (int64_t n = 0; n < g.n; n++)
            conv_t2d_sample(&g, x->data + n * xs, w->data, b, y->data + n * ys, slab(y, 0));
    }
}

/* The transposed conv with an explicit output size (ho, wo), which must map
 * back onto x's size under conv2d: that is how backward rules request "the
 * input size of the conv I came from" whatever its output_padding was. */
static nn_tensor *conv_t2d_hw(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b, int64_t sh,
                              int64_t sw, int64_t ph, int64_t pw, int64_t ho, int64_t wo)
{
    if (!x || !w)
        return NULL;
    if (!conv_args_ok(c, "conv_transpose2d", x, w, sh, sw, ph, pw))
        return NULL;
    const int64_t kh = w->shape[2], kw = w->shape[3];
    if (x->shape[1] != w->shape[0] || (b && b->n != w->shape[1]))
        return nn_fail(c, "nn: conv_transpose2d: x has %lld channels, w is [%lld, %lld, ...]",
                       (long long)x->shape[1], (long long)w->shape[0], (long long)w->shape[1]);
    if (ho + 2 * ph < kh || wo + 2 * pw < kw || (ho + 2 * ph - kh) / sh + 1 != x->shape[2] ||
        (wo + 2 * pw - kw) / sw + 1 != x->shape[3])
        return nn_fail(c, "nn: conv_transpose2d: output %lldx%lld does not fit input %lldx%lld",
                       (long long)ho, (long long)wo, (long long)x->shape[2],
                       (long long)x->shape[3]);
    const int64_t shape[4] = {x->shape[0], w->shape[1], ho, wo};
    nn_tensor *y = nn_node(c, NN_OP_CONV_T2D, 4, shape, x, w, NULL, false);
    nn_attach_bias(c, y, b);
    if (!y)
        return NULL;
    const conv_geom g = geom(y, x, kh, kw, &(nn_op_args){.conv = {sh, sw, ph, pw, 0, 0}});
    return conv_finish(c, y, &g, 0);
}

nn_tensor *nn_conv_transpose2d(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b,
                               int64_t stride, int64_t pad, int64_t output_padding)
{
    if (!x || !w)
        return NULL;
    if (x->ndim != 4 || w->ndim != 4)
        return nn_fail(c, "nn: conv_transpose2d needs 4-D input and weight");
    if (output_padding < 0 || output_padding >= stride)
        return nn_fail(c, "nn: conv_transpose2d: output_padding %lld not below stride %lld",
                       (long long)output_padding, (long long)stride);
    const int64_t ho = (x->shape[2] - 1) * stride - 2 * pad + w->shape[2] + output_padding;
    const int64_t wo = (x->shape[3] - 1) * stride - 2 * pad + w->shape[3] + output_padding;
    return conv_t2d_hw(c, x, w, b, stride, stride, pad, pad, ho, wo);
}

/* y = conv_t(x, w) + b, the adjoint of u -> conv(u, w):
 * dx = conv(gy, w), dw = wgrad(gy, x) (gy is the image side), db as above */
static void bwd_conv_t2d(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    nn_tensor *x = SRC(0), *w = SRC(1);
    g[0] = WANT(0) ? conv2d_hw(c, gy, w, NULL, GEOM_ARGS(y)) : NULL;
    g[1] = WANT(1) ? conv_wgrad_hw(c, gy, x, w->shape[2], w->shape[3], GEOM_ARGS(y)) : NULL;
    g[2] = WANT(2) ? nn_sum_channels(c, gy) : NULL;
}

const nn_op_def nn_op_conv_t2d = {"conv_transpose2d", 2, fwd_conv_t2d, bwd_conv_t2d};

/* Each thread accumulates its samples into its own partial weight gradient
 * (after its im2col slab); the partials are then summed in thread order, so
 * the result is deterministic for a given thread count. */
static void fwd_conv_wgrad(nn_tensor *y)
{
    const nn_tensor *x = y->src[0], *gy = y->src[1];
    const conv_geom g = geom(x, gy, y->shape[2], y->shape[3], &y->arg);
    const int64_t xs = g.ci * g.h * g.w, gs = g.co * g.ho * g.wo;
    const int64_t col_floats = y->arg.conv.slab_floats - y->n;
    const int nt = (int)y->arg.conv.slabs;
    if (nt <= 1) {
        memset(y->data, 0, (size_t)y->n * sizeof(float));
        for (int64_t n = 0; n < g.n; n++)
            wgrad_sample(&g, x->data + n * xs, gy->data + n * gs, y->data, slab(y, 0));
        return;
    }
    int used = nt;
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num(), tn = omp_get_num_threads();
#pragma omp single
        used = tn;
        float *col = slab(y, t), *acc = col + col_floats;
        memset(acc, 0, (size_t)y->n * sizeof(float));
        /* contiguous blocks of samples, as schedule(static) would give */
        const int64_t lo = g.n * t / tn, hi = g.n * (t + 1) / tn;
        for (int64_t n = lo; n < hi; n++)
            wgrad_sample(&g, x->data + n * xs, gy->data + n * gs, acc, col);
    }
    memcpy(y->data, slab(y, 0) + col_floats, (size_t)y->n * sizeof(float));
    for (int t = 1; t < used; t++) {
        const float *acc = slab(y, t) + col_floats;
        for (int64_t i = 0; i < y->n; i++)
            y->data[i] += acc[i];
    }
}

static nn_tensor *conv_wgrad_hw(nn_ctx *c, nn_tensor *x, nn_tensor *gy, int64_t kh, int64_t kw,
                                int64_t sh, int64_t sw, int64_t ph, int64_t pw)
{
    if (!x || !gy)
        return NULL;
    if (x->ndim != 4 || gy->ndim != 4 || x->shape[0] != gy->shape[0] || kh < 1 || kw < 1 ||
        sh < 1 || sw < 1 || ph < 0 || pw < 0 || x->shape[2] + 2 * ph < kh ||
        x->shape[3] + 2 * pw < kw || (x->shape[2] + 2 * ph - kh) / sh + 1 != gy->shape[2] ||
        (x->shape[3] + 2 * pw - kw) / sw + 1 != gy->shape[3])
        return nn_fail(c, "nn: conv2d_wgrad: gy is not the output shape of conv2d(x)");
    const int64_t shape[4] = {gy->shape[1], x->shape[1], kh, kw};
    nn_tensor *y = nn_node(c, NN_OP_CONV_WGRAD, 4, shape, x, gy, NULL, false);
    if (!y)
        return NULL;
    const conv_geom g = geom(x, gy, kh, kw, &(nn_op_args){.conv = {sh, sw, ph, pw, 0, 0}});
    return conv_finish(c, y, &g, y->n);
}

nn_tensor *nn_conv2d_wgrad(nn_ctx *c, nn_tensor *x, nn_tensor *gy, int64_t kh, int64_t kw,
                           int64_t stride, int64_t pad)
{
    return conv_wgrad_hw(c, x, gy, kh, kw, stride, stride, pad, pad);
}

/* y = wgrad(x, u) is bilinear with <G, y> = <u, conv(x, G)> = <x, conv_t(u, G)>. */
static void bwd_conv_wgrad(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    nn_tensor *x = SRC(0), *u = SRC(1);
    g[0] = WANT(0) ? conv_t2d_hw(c, u, gy, NULL, GEOM_ARGS(y), x->shape[2], x->shape[3]) : NULL;
    g[1] = WANT(1) ? conv2d_hw(c, x, gy, NULL, GEOM_ARGS(y)) : NULL;
}

const nn_op_def nn_op_conv_wgrad = {"conv2d_wgrad", 2, fwd_conv_wgrad, bwd_conv_wgrad};

/* ---- layers ------------------------------------------------------------------- */

static void init_conv_params(nn_tensor *w, nn_tensor *b, int64_t fan_in, nn_init_kind init,
                             gs_rng *r)
{
    /* PyTorch's default: kaiming_uniform(a = sqrt 5) == U(+-1/sqrt(fan_in)) */
    const float bound = 1.0f / sqrtf((float)fan_in);
    switch (init) {
    case NN_INIT_TORCH: nn_init_uniform(w, r, -bound, bound); break;
    case NN_INIT_KAIMING: nn_init_kaiming_normal(w, r, 0.2f); break;
    case NN_INIT_XAVIER: nn_init_xavier_uniform(w, r, 1.0f); break;
    case NN_INIT_NORMAL: nn_init_normal(w, r, 0.0f, 0.02f); break;
    }
    if (b) {
        if (init == NN_INIT_TORCH)
            nn_init_uniform(b, r, -bound, bound);
        else
            nn_init_const(b, 0.0f);
    }
}

static int conv_params(nn_params *ps, const char *name, const int64_t wshape[4], int64_t nb,
                       nn_tensor **w, nn_tensor **b)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s.w", name);
    *b = NULL;
    if (!(*w = nn_param_new(ps, buf, 4, wshape)))
        return GS_ERR_NOMEM;
    if (nb > 0) {
        snprintf(buf, sizeof buf, "%s.b", name);
        if (!(*b = nn_param_new(ps, buf, 1, (int64_t[]){nb})))
            return GS_ERR_NOMEM;
    }
    return GS_OK;
}

int nn_conv2d_layer_init(nn_conv2d_layer *l, nn_params *ps, const char *name, int64_t in,
                         int64_t out, int64_t k, int64_t stride, int64_t pad, bool bias,
                         nn_init_kind init, gs_rng *r)
{
    if (in < 1 || out < 1 || k < 1 || stride < 1 || pad < 0)
        return gs_error(GS_ERR_ARG, "nn: conv2d layer %s: bad sizes", name);
    *l = (nn_conv2d_layer){.in = in, .out = out, .k = k, .stride = stride, .pad = pad};
    int rc = conv_params(ps, name, (int64_t[]){out, in, k, k}, bias ? out : 0, &l->w, &l->b);
    if (rc == GS_OK)
        init_conv_params(l->w, l->b, in * k * k, init, r);
    return rc;
}

nn_tensor *nn_conv2d_layer_fwd(nn_ctx *c, const nn_conv2d_layer *l, nn_tensor *x)
{
    return nn_conv2d(c, x, l->w, l->b, l->stride, l->pad);
}

int nn_conv_transpose2d_layer_init(nn_conv_transpose2d_layer *l, nn_params *ps,
                                   const char *name, int64_t in, int64_t out, int64_t k,
                                   int64_t stride, int64_t pad, int64_t output_padding,
                                   bool bias, nn_init_kind init, gs_rng *r)
{
    if (in < 1 || out < 1 || k < 1 || stride < 1 || pad < 0 || output_padding < 0 ||
        output_padding >= stride)
        return gs_error(GS_ERR_ARG, "nn: conv_transpose2d layer %s: bad sizes", name);
    *l = (nn_conv_transpose2d_layer){.in = in, .out = out, .k = k, .stride = stride,
                                     .pad = pad, .output_padding = output_padding};
    int rc = conv_params(ps, name, (int64_t[]){in, out, k, k}, bias ? out : 0, &l->w, &l->b);
    /* PyTorch computes fan_in from dim 1 of this layout, i.e. out * k * k */
    if (rc == GS_OK)
        init_conv_params(l->w, l->b, out * k * k, init, r);
    return rc;
}

nn_tensor *nn_conv_transpose2d_layer_fwd(nn_ctx *c, const nn_conv_transpose2d_layer *l,
                                         nn_tensor *x)
{
    return nn_conv_transpose2d(c, x, l->w, l->b, l->stride, l->pad, l->output_padding);
}

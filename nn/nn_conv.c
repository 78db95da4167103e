/* Convolutions, 2-D image ops and batch norm.
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

/* ip[] layout shared by the three conv ops */
enum { IP_SH = 0, IP_SW, IP_PH, IP_PW, IP_SLABS, IP_SLAB_FLOATS };

typedef struct {
    int64_t n, ci, h, w;    /* image side */
    int64_t co, ho, wo;     /* column side */
    int64_t kh, kw, sh, sw, ph, pw;
} conv_geom;

static conv_geom geom(const nn_tensor *img, const nn_tensor *col, int64_t kh, int64_t kw,
                      const int64_t *ip)
{
    return (conv_geom){.n = img->shape[0], .ci = img->shape[1], .h = img->shape[2],
                       .w = img->shape[3], .co = col->shape[1], .ho = col->shape[2],
                       .wo = col->shape[3], .kh = kh, .kw = kw, .sh = ip[IP_SH],
                       .sw = ip[IP_SW], .ph = ip[IP_PH], .pw = ip[IP_PW]};
}

static int64_t conv_k(const conv_geom *g) { return g->ci * g->kh * g->kw; }

/* A 1x1 stride-1 unpadded conv needs no im2col: the image is the column matrix. */
static bool is_pointwise(const conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

/* Output columns o in [lo, hi) whose input index o*s - p + j is in [0, len). */
static void valid_range(int64_t j, int64_t p, int64_t s, int64_t len, int64_t nout,
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

/* img += col2im(col): the adjoint of im2col (padding positions are dropped). */
static void col2im(const float *col, float *img, const conv_geom *g)
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

/* ---- per-sample kernels ------------------------------------------------ */
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

/* ---- forward kernels ------------------------------------------------------ */
static float *slab(const nn_tensor *y, int t)
{
    /* no slab at all for a pointwise conv (and no pointer arithmetic on NULL) */
    return y->aux ? (float *)y->aux + t * y->ip[IP_SLAB_FLOATS] : NULL;
}

void nn_fwd_conv2d(nn_tensor *y)
{
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    const conv_geom g = geom(x, y, w->shape[2], w->shape[3], y->ip);
    const int64_t xs = g.ci * g.h * g.w, ys = g.co * g.ho * g.wo;
    const int nt = (int)y->ip[IP_SLABS];
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

void nn_fwd_conv_t2d(nn_tensor *y)
{
    const nn_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    const conv_geom g = geom(y, x, w->shape[2], w->shape[3], y->ip);
    const int64_t xs = g.co * g.ho * g.wo, ys = g.ci * g.h * g.w;
    const int nt = (int)y->ip[IP_SLABS];
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

/* Each thread accumulates its samples into its own partial weight gradient
 * (after its im2col slab); the partials are then summed in thread order, so
 * the result is deterministic for a given thread count. */
void nn_fwd_conv_wgrad(nn_tensor *y)
{
    const nn_tensor *x = y->src[0], *gy = y->src[1];
    const conv_geom g = geom(x, gy, y->shape[2], y->shape[3], y->ip);
    const int64_t xs = g.ci * g.h * g.w, gs = g.co * g.ho * g.wo;
    const int64_t col_floats = y->ip[IP_SLAB_FLOATS] - y->n;
    const int nt = (int)y->ip[IP_SLABS];
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

/* ---- constructors ---------------------------------------------------------- */
/* Decides the threading and reserves the per-thread slabs in the arena: an
 * im2col buffer (unless pointwise) plus, when samples run in parallel,
 * `partial` floats for a per-thread accumulator (wgrad). */
static nn_tensor *conv_finish(nn_ctx *c, nn_tensor *y, const conv_geom *g, int64_t partial)
{
    if (!y)
        return NULL;
    y->ip[IP_SH] = g->sh;
    y->ip[IP_SW] = g->sw;
    y->ip[IP_PH] = g->ph;
    y->ip[IP_PW] = g->pw;
    const int threads = nn_get_threads();
    /* batch parallelism only when every thread gets a sample; otherwise
     * sgemm's own threads do better than idle cores */
    const int nt = threads > 1 && g->n >= threads ? threads : 1;
    int64_t per = (is_pointwise(g) ? 0 : conv_k(g) * g->ho * g->wo) + (nt > 1 ? partial : 0);
    per = (per + 15) / 16 * 16;  /* keep every slab 64-byte aligned */
    y->ip[IP_SLABS] = nt;
    y->ip[IP_SLAB_FLOATS] = per;
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

static void attach_bias(nn_ctx *c, nn_tensor *y, nn_tensor *b)
{
    if (y && b) {
        /* bias is optional, so it is attached after the NULL-checked inputs */
        y->src[2] = b;
        y->requires_grad |= b->requires_grad && nn_ctx_grad_enabled(c);
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
    attach_bias(c, y, b);
    if (!y)
        return NULL;
    const conv_geom g = geom(x, y, kh, kw, (int64_t[]){sh, sw, ph, pw});
    return conv_finish(c, y, &g, 0);
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
    attach_bias(c, y, b);
    if (!y)
        return NULL;
    const conv_geom g = geom(y, x, kh, kw, (int64_t[]){sh, sw, ph, pw});
    return conv_finish(c, y, &g, 0);
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
    const conv_geom g = geom(x, gy, kh, kw, (int64_t[]){sh, sw, ph, pw});
    return conv_finish(c, y, &g, y->n);
}

nn_tensor *nn_conv2d(nn_ctx *c, nn_tensor *x, nn_tensor *w, nn_tensor *b, int64_t stride,
                     int64_t pad)
{
    return conv2d_hw(c, x, w, b, stride, stride, pad, pad);
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

nn_tensor *nn_conv2d_wgrad(nn_ctx *c, nn_tensor *x, nn_tensor *gy, int64_t kh, int64_t kw,
                           int64_t stride, int64_t pad)
{
    return conv_wgrad_hw(c, x, gy, kh, kw, stride, stride, pad, pad);
}

/* ---- conv backward rules --------------------------------------------------- */
#define SRC(k) (y->src[k])
#define WANT(k) nn_wants(c, y->src[k])
#define GEOM_ARGS(y) (y)->ip[IP_SH], (y)->ip[IP_SW], (y)->ip[IP_PH], (y)->ip[IP_PW]

/* y = conv(x, w) + b:  dx = conv_t(gy, w), dw = wgrad(x, gy), db = sum over N, H, W */
void nn_bwd_conv2d(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    nn_tensor *x = SRC(0), *w = SRC(1);
    g[0] = WANT(0) ? conv_t2d_hw(c, gy, w, NULL, GEOM_ARGS(y), x->shape[2], x->shape[3]) : NULL;
    g[1] = WANT(1) ? conv_wgrad_hw(c, x, gy, w->shape[2], w->shape[3], GEOM_ARGS(y)) : NULL;
    g[2] = WANT(2) ? nn_sum_channels(c, gy) : NULL;
}

/* y = conv_t(x, w) + b, the adjoint of u -> conv(u, w):
 * dx = conv(gy, w), dw = wgrad(gy, x) (gy is the image side), db as above */
void nn_bwd_conv_t2d(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    nn_tensor *x = SRC(0), *w = SRC(1);
    g[0] = WANT(0) ? conv2d_hw(c, gy, w, NULL, GEOM_ARGS(y)) : NULL;
    g[1] = WANT(1) ? conv_wgrad_hw(c, gy, x, w->shape[2], w->shape[3], GEOM_ARGS(y)) : NULL;
    g[2] = WANT(2) ? nn_sum_channels(c, gy) : NULL;
}

/* y = wgrad(x, u) is bilinear with <G, y> = <u, conv(x, G)> = <x, conv_t(u, G)>. */
void nn_bwd_conv_wgrad(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    nn_tensor *x = SRC(0), *u = SRC(1);
    g[0] = WANT(0) ? conv_t2d_hw(c, u, gy, NULL, GEOM_ARGS(y), x->shape[2], x->shape[3]) : NULL;
    g[1] = WANT(1) ? conv2d_hw(c, x, gy, NULL, GEOM_ARGS(y)) : NULL;
}

/* ---- upsample / sum-pool, crop / pad ------------------------------------------ */
/* Loops over the N*C planes fork threads only when there is enough work
 * (`work_`, the elements touched, must be in scope). */
#define PLANES_FOR(p, planes)                                                              \
    _Pragma("omp parallel for schedule(static) if (work_ > NN_PAR_MIN)")                   \
    for (int64_t p = 0; p < (planes); p++)

void nn_fwd_upsample2d(nn_tensor *y)
{
    const nn_tensor *x = y->src[0];
    const int64_t f = y->ip[0], h = x->shape[2], w = x->shape[3], wo = w * f;
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

void nn_fwd_sumpool2d(nn_tensor *y)
{
    const nn_tensor *x = y->src[0];
    const int64_t f = y->ip[0], h = y->shape[2], w = y->shape[3], wi = w * f;
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

void nn_fwd_crop2d(nn_tensor *y)
{
    const nn_tensor *x = y->src[0];
    const int64_t top = y->ip[0], left = y->ip[1], hx = x->shape[2], wx = x->shape[3];
    const int64_t h = y->shape[2], w = y->shape[3];
    const int64_t planes = y->shape[0] * y->shape[1];
    const int64_t work_ = y->n;
    PLANES_FOR(p, planes)
    for (int64_t i = 0; i < h; i++)
        memcpy(y->data + (p * h + i) * w, x->data + (p * hx + top + i) * wx + left,
               (size_t)w * sizeof(float));
}

void nn_fwd_pad2d(nn_tensor *y)
{
    const nn_tensor *x = y->src[0];
    const int64_t top = y->ip[0], left = y->ip[1], hx = x->shape[2], wx = x->shape[3];
    const int64_t h = y->shape[2], w = y->shape[3];
    const int64_t planes = y->shape[0] * y->shape[1];
    memset(y->data, 0, (size_t)y->n * sizeof(float));
    const int64_t work_ = y->n;
    PLANES_FOR(p, planes)
    for (int64_t i = 0; i < hx; i++)
        memcpy(y->data + (p * h + top + i) * w + left, x->data + (p * hx + i) * wx,
               (size_t)wx * sizeof(float));
}

static nn_tensor *image_op(nn_ctx *c, int op, nn_tensor *x, int64_t h, int64_t w, int64_t p0,
                           int64_t p1)
{
    nn_tensor *y =
        nn_node(c, op, 4, (int64_t[]){x->shape[0], x->shape[1], h, w}, x, NULL, NULL, false);
    if (y) {
        y->ip[0] = p0;
        y->ip[1] = p1;
    }
    return nn_run(y);
}

nn_tensor *nn_upsample_nearest2d(nn_ctx *c, nn_tensor *x, int64_t factor)
{
    if (!x)
        return NULL;
    if (x->ndim != 4 || factor < 1)
        return nn_fail(c, "nn: upsample_nearest2d needs a 4-D input and a factor >= 1");
    return image_op(c, NN_OP_UPSAMPLE2D, x, x->shape[2] * factor, x->shape[3] * factor, factor,
                    0);
}

nn_tensor *nn_sum_pool2d(nn_ctx *c, nn_tensor *x, int64_t factor)
{
    if (!x)
        return NULL;
    if (x->ndim != 4 || factor < 1 || x->shape[2] % factor || x->shape[3] % factor)
        return nn_fail(c, "nn: sum_pool2d needs a 4-D input with H, W divisible by the factor");
    return image_op(c, NN_OP_SUMPOOL2D, x, x->shape[2] / factor, x->shape[3] / factor, factor,
                    0);
}

nn_tensor *nn_crop2d(nn_ctx *c, nn_tensor *x, int64_t top, int64_t left, int64_t h, int64_t w)
{
    if (!x)
        return NULL;
    if (x->ndim != 4 || top < 0 || left < 0 || h < 0 || w < 0 || top + h > x->shape[2] ||
        left + w > x->shape[3])
        return nn_fail(c, "nn: crop2d window (%lld, %lld) %lldx%lld outside the image",
                       (long long)top, (long long)left, (long long)h, (long long)w);
    return image_op(c, NN_OP_CROP2D, x, h, w, top, left);
}

nn_tensor *nn_pad2d(nn_ctx *c, nn_tensor *x, int64_t top, int64_t left, int64_t h, int64_t w)
{
    if (!x)
        return NULL;
    if (x->ndim != 4 || top < 0 || left < 0 || top + x->shape[2] > h || left + x->shape[3] > w)
        return nn_fail(c, "nn: pad2d: image does not fit at (%lld, %lld) in %lldx%lld",
                       (long long)top, (long long)left, (long long)h, (long long)w);
    return image_op(c, NN_OP_PAD2D, x, h, w, top, left);
}

void nn_bwd_upsample2d(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_sum_pool2d(c, gy, y->ip[0]);
}

void nn_bwd_sumpool2d(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_upsample_nearest2d(c, gy, y->ip[0]);
}

void nn_bwd_crop2d(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_pad2d(c, gy, y->ip[0], y->ip[1], SRC(0)->shape[2], SRC(0)->shape[3]);
}

void nn_bwd_pad2d(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_crop2d(c, gy, y->ip[0], y->ip[1], SRC(0)->shape[2], SRC(0)->shape[3]);
}

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
void nn_fwd_phase_fold(nn_tensor *y)
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

/* w [co, ci, 3, 3] = unfold(p [4 co, ci, 2, 2]) = sum_ab M_a^T P_ab M_b */
void nn_fwd_phase_unfold(nn_tensor *y)
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

/* y [n, co, 2h, 2w] (+ b[o]) from z [n, 4 co, h + 1, w + 1]:
 * y(2i + a, 2j + b) = z_ab(i + a, j + b) */
void nn_fwd_phase_il(nn_tensor *y)
{
    const nn_tensor *z = y->src[0], *bias = y->src[2];
    const int64_t n = y->shape[0], co = y->shape[1], ho = y->shape[2], wo = y->shape[3];
    const int64_t hz = z->shape[2], wz = z->shape[3], w = wo / 2, pz = hz * wz;
    const int64_t work_ = y->n;
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
#pragma omp simd
            for (int64_t j = 0; j < w; j++) {
                out[2 * j] = z0[j] + bv;
                out[2 * j + 1] = z1[j] + bv;
            }
        }
    }
}

/* The adjoint: z [n, 4 co, h + 1, w + 1] with the positions no output pixel
 * reads (one row and one column per phase plane) zero. */
void nn_fwd_phase_deil(nn_tensor *y)
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

nn_tensor *nn_phase_interleave(nn_ctx *c, nn_tensor *z, nn_tensor *b)
{
    if (!z)
        return NULL;
    if (z->ndim != 4 || z->shape[1] % 4 || z->shape[2] < 2 || z->shape[3] < 2 ||
        (b && b->n != z->shape[1] / 4))
        return nn_fail(c, "nn: phase_interleave needs [N, 4 C, H + 1, W + 1] planes "
                          "(H, W >= 1) and a [C] bias");
    const int64_t shape[4] = {z->shape[0], z->shape[1] / 4, 2 * (z->shape[2] - 1),
                              2 * (z->shape[3] - 1)};
    nn_tensor *y = nn_node(c, NN_OP_PHASE_IL, 4, shape, z, NULL, NULL, false);
    attach_bias(c, y, b);
    return nn_run(y);
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

void nn_bwd_phase_fold(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_phase_unfold3x3(c, gy);
}

void nn_bwd_phase_unfold(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_phase_fold3x3(c, gy);
}

/* the bias (src[2], as in the conv ops) is broadcast per channel: db = sum */
void nn_bwd_phase_il(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = WANT(0) ? nn_phase_deinterleave(c, gy) : NULL;
    g[2] = WANT(2) ? nn_sum_channels(c, gy) : NULL;
}

void nn_bwd_phase_deil(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    g[0] = nn_phase_interleave(c, gy, NULL);
}

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
    nn_tensor *z = conv2d_hw(c, x, nn_phase_fold3x3(c, w), NULL, 1, 1, 1, 1);
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

/* ---- batch norm ------------------------------------------------------------ */
/* Training-mode batch norm, optionally with its LeakyReLU, as one op:
 *   y = act((x - mean) * gamma / sqrt(var + eps) + beta)
 * with the batch statistics per channel. The composed version kept the
 * centred x, its square, the affine output and the activation (four tensors
 * of x's size) and its backward built about ten more; this node keeps only y
 * (plus mean and variance, 2 C floats of scratch, for the running
 * statistics). Its backward rule is written with ops, so it differentiates
 * again like the composition: with g = leaky_relu_bw(gy, y) (mask from the
 * output's sign, slope >= 0), xhat = (x - mean) inv, inv = 1 / sqrt(var + eps),
 *   dbeta  = sum g                    dgamma = sum g xhat = inv (sum g x - mean sum g)
 *   dx     = gamma inv g + b x + d    b = -gamma inv^2 dgamma / n,
 *                                     d = -b mean - gamma inv dbeta / n
 * where mean, var (channel_var) and inv are graph values of x, so the rule
 * is an exact function of (x, gamma, gy) for the next derivative, and the
 * per-channel sums are sum_channels / channel_dot (no full-size products)
 * and dx is one channel_affine2: the rule makes two tensors of x's size.
 * src = x, gamma, beta (either NULL); fp = eps, slope; ip[3] = 1 with the
 * activation; ip[0..2] = the [o, m, i] channel view; aux = mean, var. */
void nn_fwd_bn_train(nn_tensor *y)
{
    const int64_t o = y->ip[0], m = y->ip[1], in = y->ip[2];
    const bool act = y->ip[3] != 0;
    const float eps = y->fp[0], sl = y->fp[1];
    const float *x = y->src[0]->data;
    const float *gam = y->src[1] ? y->src[1]->data : NULL;
    const float *bet = y->src[2] ? y->src[2]->data : NULL;
    float *mean = y->aux, *var = mean + m, *out = y->data;
    nn_channel_moments(x, o, m, in, mean, var);
    const int64_t n_ = y->n;
    /* the same float operations as the composed version: (x - mean), times
     * gamma / sqrt(var + eps), plus beta, then the select-based LeakyReLU */
#pragma omp parallel for collapse(2) schedule(static) if (n_ > NN_PAR_MIN)
    for (int64_t a = 0; a < o; a++)
        for (int64_t j = 0; j < m; j++) {
            const float sj = (gam ? gam[j] : 1.0f) / sqrtf(var[j] + eps);
            const float tj = bet ? bet[j] : 0.0f, mu = mean[j];
            const float *p = x + (a * m + j) * in;
            float *q = out + (a * m + j) * in;
            if (act) {
#pragma omp simd
                for (int64_t k = 0; k < in; k++) {
                    const float v = (p[k] - mu) * sj + tj;
                    const float pos = v > 0.0f ? v : 0.0f;
                    q[k] = pos + sl * (v - pos);
                }
            } else {
#pragma omp simd
                for (int64_t k = 0; k < in; k++)
                    q[k] = (p[k] - mu) * sj + tj;
            }
        }
}

void nn_bwd_bn_train(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    nn_tensor *x = SRC(0), *gam = SRC(1);
    const int64_t ch = y->ip[1];
    const float inv_n = 1.0f / (float)(y->ip[0] * y->ip[2]);
    g[0] = g[1] = g[2] = NULL;
    nn_tensor *gz = gy;
    if (y->ip[3]) {
        gz = nn_leaky_relu_bw(c, gy, y, y->fp[1]);
        /* gy is not read again: dx can take its buffer (nn_backward) */
        nn_bwd_done_with(c, gy);
    }
    nn_tensor *sg = nn_sum_channels(c, gz);
    if (WANT(2))
        g[2] = sg;
    if (!WANT(0) && !WANT(1))
        return;
    nn_tensor *mu = nn_scale(c, nn_sum_channels(c, x), inv_n);
    nn_tensor *sd = nn_sqrt(c, nn_add_scalar(c, nn_channel_var(c, x), y->fp[0]));
    nn_tensor *one = sd ? nn_new(c, 1, (int64_t[]){ch}) : NULL;
    if (!one)
        return;
    for (int64_t k = 0; k < ch; k++)
        one->data[k] = 1.0f;
    nn_tensor *inv = nn_div(c, one, sd);
    nn_tensor *dgam = nn_mul(c, inv, nn_sub(c, nn_channel_dot(c, gz, x), nn_mul(c, mu, sg)));
    if (WANT(1))
        g[1] = dgam;
    if (!WANT(0))
        return;
    nn_tensor *s1 = gam ? nn_mul(c, gam, inv) : inv;
    nn_tensor *b = nn_scale(c, nn_mul(c, nn_mul(c, s1, inv), dgam), -inv_n);
    nn_tensor *d = nn_sub(c, nn_scale(c, nn_mul(c, b, mu), -1.0f),
                          nn_scale(c, nn_mul(c, s1, sg), inv_n));
    g[0] = nn_channel_affine2(c, gz, x, s1, b, d);
}

static nn_tensor *bn_train(nn_ctx *c, nn_tensor *x, nn_tensor *gamma, nn_tensor *beta,
                           float eps, bool act, float slope)
{
    nn_tensor *y = nn_node(c, NN_OP_BN_TRAIN, x->ndim, x->shape, x, NULL, NULL, false);
    if (!y)
        return NULL;
    /* gamma and beta are optional, so they are attached after the checked input */
    y->src[1] = gamma;
    y->src[2] = beta;
    y->requires_grad |= ((gamma && gamma->requires_grad) || (beta && beta->requires_grad)) &&
                        nn_get_grad_enabled(c);
    y->fp[0] = eps;
    y->fp[1] = slope;
    y->ip[0] = x->shape[0];
    y->ip[1] = x->shape[1];
    y->ip[2] = x->n / (x->shape[0] * x->shape[1]);
    y->ip[3] = act;
    if (!(y->aux = nn_scratch(c, (size_t)(2 * x->shape[1]) * sizeof(float))))
        return NULL;
    return nn_run(y);
}

/* Batch norm, then LeakyReLU(slope) when act. Training mode runs as one
 * bn_train node (with the activation when slope >= 0, where the backward's
 * mask can be read from the output); eval mode is one channel_affine. */
static nn_tensor *batchnorm(nn_ctx *c, nn_tensor *x, nn_tensor *gamma, nn_tensor *beta,
                            float *running_mean, float *running_var, float momentum, float eps,
                            bool act, float slope)
{
    if (!x)
        return NULL;
    if ((x->ndim != 2 && x->ndim != 4) || (gamma && gamma->n != x->shape[1]) ||
        (beta && beta->n != x->shape[1]))
        return nn_fail(c, "nn: batchnorm needs [N, C] or [N, C, H, W] and [C] gamma/beta");
    const int64_t *sh = x->shape, ch = sh[1], m = ch ? x->n / ch : 0;
    nn_tensor *y;
    if (nn_is_training(c)) {
        if (m < 2)
            return nn_fail(c, "nn: batchnorm: one value per channel in training mode");
        const bool fuse = act && slope >= 0.0f;
        y = bn_train(c, x, gamma, beta, eps, fuse, slope);
        if (y && running_mean && running_var) {
            const float *mu = y->aux, *var = mu + ch;
            const float unbias = (float)m / (float)(m - 1);
            for (int64_t k = 0; k < ch; k++) {
                running_mean[k] = (1.0f - momentum) * running_mean[k] + momentum * mu[k];
                running_var[k] =
                    (1.0f - momentum) * running_var[k] + momentum * var[k] * unbias;
            }
        }
        if (fuse)
            return y;
    } else {
        if (!running_mean || !running_var)
            return nn_fail(c, "nn: batchnorm in eval mode needs running statistics");
        nn_tensor *rm = nn_input(c, 1, (int64_t[]){ch}, running_mean);
        nn_tensor *inv = nn_new(c, 1, (int64_t[]){ch});
        if (!rm || !inv)
            return NULL;
        for (int64_t k = 0; k < ch; k++)
            inv->data[k] = 1.0f / sqrtf(running_var[k] + eps);
        nn_tensor *scale = gamma ? nn_mul(c, gamma, inv) : inv;
        /* (x - rm) scale + beta = x scale + (beta - rm scale): one full-size pass */
        nn_tensor *shift = nn_scale(c, nn_mul(c, rm, scale), -1.0f);
        if (beta)
            shift = nn_add(c, shift, beta);
        y = nn_channel_affine(c, x, scale, shift);
    }
    return act ? nn_leaky_relu(c, y, slope) : y;
}

nn_tensor *nn_batchnorm(nn_ctx *c, nn_tensor *x, nn_tensor *gamma, nn_tensor *beta,
                        float *running_mean, float *running_var, float momentum, float eps)
{
    return batchnorm(c, x, gamma, beta, running_mean, running_var, momentum, eps, false, 0.0f);
}

nn_tensor *nn_batchnorm_leaky_relu(nn_ctx *c, nn_tensor *x, nn_tensor *gamma, nn_tensor *beta,
                                   float *running_mean, float *running_var, float momentum,
                                   float eps, float slope)
{
    return batchnorm(c, x, gamma, beta, running_mean, running_var, momentum, eps, true, slope);
}

/* The composed training-mode batch norm that bn_train replaces, kept as the
 * reference the tests compare the fused op with (values and gradients). */
nn_tensor *nn_batchnorm_composed(nn_ctx *c, nn_tensor *x, nn_tensor *gamma, nn_tensor *beta,
                                 float eps)
{
    if (!x)
        return NULL;
    const int64_t ch = x->shape[1], m = ch ? x->n / ch : 0;
    const float inv_m = 1.0f / (float)m;
    nn_tensor *mu = nn_scale(c, nn_sum_channels(c, x), inv_m);
    nn_tensor *xc = nn_channel_affine(c, x, NULL, nn_scale(c, mu, -1.0f));
    nn_tensor *var = nn_scale(c, nn_sum_channels(c, nn_square(c, xc)), inv_m);
    nn_tensor *sd = nn_sqrt(c, nn_add_scalar(c, var, eps));
    nn_tensor *one = sd ? nn_new(c, 1, (int64_t[]){ch}) : NULL;
    if (!one)
        return NULL;
    for (int64_t k = 0; k < ch; k++)
        one->data[k] = 1.0f;
    return nn_channel_affine(c, xc, nn_div(c, gamma ? gamma : one, sd), beta);
}

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

int nn_batchnorm_layer_init(nn_batchnorm_layer *l, nn_params *ps, nn_params *buffers,
                            const char *name, int64_t ch, float momentum, float eps)
{
    if (ch < 1)
        return gs_error(GS_ERR_ARG, "nn: batchnorm layer %s: bad channel count", name);
    *l = (nn_batchnorm_layer){.ch = ch, .momentum = momentum, .eps = eps};
    if (!buffers)
        buffers = ps;
    /* PyTorch's state_dict names, so checkpoints map one to one */
    static const char *const names[4] = {"weight", "bias", "running_mean", "running_var"};
    nn_tensor **slots[4] = {&l->gamma, &l->beta, &l->running_mean, &l->running_var};
    for (int i = 0; i < 4; i++) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s.%s", name, names[i]);
        if (!(*slots[i] = nn_param_new(i < 2 ? ps : buffers, buf, 1, (int64_t[]){ch})))
            return GS_ERR_NOMEM;
    }
    nn_init_const(l->gamma, 1.0f);
    nn_init_const(l->beta, 0.0f);
    nn_init_const(l->running_mean, 0.0f);
    nn_init_const(l->running_var, 1.0f);
    /* statistics, not parameters: no gradient, never touched by an optimizer */
    l->running_mean->requires_grad = false;
    l->running_var->requires_grad = false;
    return GS_OK;
}

nn_tensor *nn_batchnorm_layer_fwd(nn_ctx *c, const nn_batchnorm_layer *l, nn_tensor *x)
{
    return nn_batchnorm(c, x, l->gamma, l->beta, l->running_mean->data, l->running_var->data,
                        l->momentum, l->eps);
}

nn_tensor *nn_batchnorm_layer_fwd_lrelu(nn_ctx *c, const nn_batchnorm_layer *l, nn_tensor *x,
                                        float slope)
{
    return nn_batchnorm_leaky_relu(c, x, l->gamma, l->beta, l->running_mean->data,
                                   l->running_var->data, l->momentum, l->eps, slope);
}

/* Convolutions, image ops and batch norm: forward values against hand
 * computations and a naive direct-convolution reference, first- and
 * second-order gradient checks (gradcheck.h), batch-norm train/eval
 * semantics against PyTorch's definitions, layers, and the no-malloc rule. */
#include "nn_ref.h"
#include "gradcheck.h"

#define X0 in[0]
#define X1 in[1]
#define X2 in[2]

/* ---- naive references (direct loops, double accumulation) --------------- */
typedef struct {
    int64_t n, ci, co, h, w, kh, kw, s, p, op;
} cfg;

static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p) { return (in + 2 * p - k) / s + 1; }

/* y [n, co, ho, wo] = conv(x [n, ci, h, w], w [co, ci, kh, kw]) + b */
static void ref_conv2d(const cfg *k, const float *x, const float *w, const float *b, float *y)
{
    const int64_t ho = out_size(k->h, k->kh, k->s, k->p), wo = out_size(k->w, k->kw, k->s, k->p);
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t o = 0; o < k->co; o++)
            for (int64_t i = 0; i < ho; i++)
                for (int64_t j = 0; j < wo; j++) {
                    double s = b ? b[o] : 0.0;
                    for (int64_t c = 0; c < k->ci; c++)
                        for (int64_t a = 0; a < k->kh; a++)
                            for (int64_t e = 0; e < k->kw; e++) {
                                int64_t ih = i * k->s - k->p + a, iw = j * k->s - k->p + e;
                                if (ih < 0 || ih >= k->h || iw < 0 || iw >= k->w)
                                    continue;
                                s += (double)x[((n * k->ci + c) * k->h + ih) * k->w + iw] *
                                     w[((o * k->ci + c) * k->kh + a) * k->kw + e];
                            }
                    y[((n * k->co + o) * ho + i) * wo + j] = (float)s;
                }
}

/* PyTorch ConvTranspose2d: x [n, ci, h, w], w [ci, co, kh, kw] -> y [n, co, ho, wo] */
static void ref_conv_t2d(const cfg *k, const float *x, const float *w, const float *b, float *y,
                         int64_t ho, int64_t wo)
{
    double *acc = calloc((size_t)(k->n * k->co * ho * wo), sizeof(double));
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t c = 0; c < k->ci; c++)
            for (int64_t i = 0; i < k->h; i++)
                for (int64_t j = 0; j < k->w; j++)
                    for (int64_t o = 0; o < k->co; o++)
                        for (int64_t a = 0; a < k->kh; a++)
                            for (int64_t e = 0; e < k->kw; e++) {
                                int64_t oh = i * k->s - k->p + a, ow = j * k->s - k->p + e;
                                if (oh < 0 || oh >= ho || ow < 0 || ow >= wo)
                                    continue;
                                acc[((n * k->co + o) * ho + oh) * wo + ow] +=
                                    (double)x[((n * k->ci + c) * k->h + i) * k->w + j] *
                                    w[((c * k->co + o) * k->kh + a) * k->kw + e];
                            }
    for (int64_t q = 0; q < k->n * k->co * ho * wo; q++)
        y[q] = (float)(acc[q] + (b ? b[(q / (ho * wo)) % k->co] : 0.0));
    free(acc);
}

/* dw [co, ci, kh, kw] = sum gy[n, co, i, j] x[n, ci, i s - p + a, j s - p + e] */
static void ref_wgrad(const cfg *k, const float *x, const float *gy, float *dw)
{
    const int64_t ho = out_size(k->h, k->kh, k->s, k->p), wo = out_size(k->w, k->kw, k->s, k->p);
    for (int64_t o = 0; o < k->co; o++)
        for (int64_t c = 0; c < k->ci; c++)
            for (int64_t a = 0; a < k->kh; a++)
                for (int64_t e = 0; e < k->kw; e++) {
                    double s = 0.0;
                    for (int64_t n = 0; n < k->n; n++)
                        for (int64_t i = 0; i < ho; i++)
                            for (int64_t j = 0; j < wo; j++) {
                                int64_t ih = i * k->s - k->p + a, iw = j * k->s - k->p + e;
                                if (ih < 0 || ih >= k->h || iw < 0 || iw >= k->w)
                                    continue;
                                s += (double)gy[((n * k->co + o) * ho + i) * wo + j] *
                                     x[((n * k->ci + c) * k->h + ih) * k->w + iw];
                            }
                    dw[((o * k->ci + c) * k->kh + a) * k->kw + e] = (float)s;
                }
}

static float *rand_buf(int64_t n, uint64_t seed)
{
    float *v = malloc((size_t)n * sizeof(float));
    gs_rng r;
    gs_rng_seed(&r, seed);
    gs_rng_fill_uniform(&r, v, n, -1.0f, 1.0f);
    return v;
}

static void assert_buf_close(const float *a, const float *b, int64_t n, double tol,
                             const char *what)
{
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(fabs((double)a[i] - b[i]) <= tol * (1.0 + fabs((double)b[i])),
                      "%s[%lld]: %.7g vs reference %.7g", what, (long long)i, (double)a[i],
                      (double)b[i]);
}

/* ---- hand-computed forward values ------------------------------------------ */
START_TEST(t_conv2d_hand)
{
    nn_ctx *c = nn_ctx_new();
    float x9[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    /* 2x2 ones, stride 1, no padding: sums of 2x2 windows */
    nn_tensor *x = nn_input(c, 4, (int64_t[]){1, 1, 3, 3}, x9);
    nn_tensor *w = nn_input(c, 4, (int64_t[]){1, 1, 2, 2}, ones);
    nn_tensor *y = nn_conv2d(c, x, w, NULL, 1, 0);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(y->shape[2], 2);
    ck_assert_int_eq(y->shape[3], 2);
    const float e1[4] = {12, 16, 24, 28};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(y->data[i], e1[i]);
    /* 3x3 ones, stride 2, pad 1 on 4x4 = 1..16: windows clipped at the border */
    float x16[16];
    for (int i = 0; i < 16; i++)
        x16[i] = (float)(i + 1);
    x = nn_input(c, 4, (int64_t[]){1, 1, 4, 4}, x16);
    w = nn_input(c, 4, (int64_t[]){1, 1, 3, 3}, ones);
    nn_tensor *b = nn_input(c, 1, (int64_t[]){1}, (float[]){0.5f});
    y = nn_conv2d(c, x, w, b, 2, 1);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(y->shape[2], 2);
    ck_assert_int_eq(y->shape[3], 2);
    const float e2[4] = {14.5f, 30.5f, 57.5f, 99.5f};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(y->data[i], e2[i]);
    /* 1x1 kernel mixes channels only: y = 2 x0 - x1 */
    x = nn_input(c, 4, (int64_t[]){1, 2, 2, 2}, (float[]){1, 2, 3, 4, 10, 20, 30, 40});
    w = nn_input(c, 4, (int64_t[]){1, 2, 1, 1}, (float[]){2, -1});
    y = nn_conv2d(c, x, w, NULL, 1, 0);
    const float e3[4] = {-8, -16, -24, -32};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(y->data[i], e3[i]);
    nn_ctx_free(c);
}
END_TEST

START_TEST(t_conv_transpose_hand)
{
    nn_ctx *c = nn_ctx_new();
    float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    nn_tensor *x = nn_input(c, 4, (int64_t[]){1, 1, 2, 2}, (float[]){1, 2, 3, 4});
    nn_tensor *w = nn_input(c, 4, (int64_t[]){1, 1, 3, 3}, ones);
    /* stride 2, pad 1, output_padding 1: 2x2 -> 4x4 (3x3 without output_padding) */
    nn_tensor *y = nn_conv_transpose2d(c, x, w, NULL, 2, 1, 1);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(y->shape[2], 4);
    ck_assert_int_eq(y->shape[3], 4);
    const float e[16] = {1, 3, 2, 2, 4, 10, 6, 6, 3, 7, 4, 4, 3, 7, 4, 4};
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(y->data[i], e[i]);
    y = nn_conv_transpose2d(c, x, w, NULL, 2, 1, 0);
    ck_assert_int_eq(y->shape[2], 3);
    const float e0[9] = {1, 3, 2, 4, 10, 6, 3, 7, 4};
    for (int i = 0; i < 9; i++)
        ck_assert_float_eq(y->data[i], e0[i]);
    /* output_padding must stay below the stride (PyTorch) */
    ck_assert_ptr_null(nn_conv_transpose2d(c, x, w, NULL, 2, 1, 2));
    nn_ctx_free(c);
}
END_TEST

/* ---- random shapes against the naive reference ------------------------------ */
static const cfg ref_cases[] = {
    /* n, ci, co, h, w, kh, kw, s, p, output_padding */
    {2, 3, 4, 7, 5, 3, 3, 1, 1, 0},
    {3, 2, 5, 8, 6, 3, 3, 2, 1, 1},
    {2, 1, 3, 56, 30, 3, 3, 2, 1, 1},   /* zdc discriminator input size */
    {2, 4, 3, 6, 6, 1, 1, 1, 0, 0},     /* pointwise fast path */
    {3, 3, 2, 5, 7, 1, 1, 2, 0, 1},     /* 1x1, strided */
    {1, 2, 3, 9, 7, 5, 3, 3, 2, 2},     /* non-square kernel, stride 3 */
    {4, 2, 2, 4, 3, 2, 2, 2, 0, 0},
    {2, 3, 2, 3, 3, 3, 3, 1, 2, 0},     /* padding wider than the image edge */
};

static void run_ref_case(const cfg *k, int threads)
{
    nn_set_threads(threads);
    nn_ctx *c = nn_ctx_new();
    const int64_t ho = out_size(k->h, k->kh, k->s, k->p), wo = out_size(k->w, k->kw, k->s, k->p);
    const int64_t nx = k->n * k->ci * k->h * k->w, nw = k->co * k->ci * k->kh * k->kw;
    const int64_t ny = k->n * k->co * ho * wo;
    float *xv = rand_buf(nx, 1), *wv = rand_buf(nw, 2), *bv = rand_buf(k->co, 3);
    float *gv = rand_buf(ny, 4);
    /* room for any of the three results (conv_t may exceed x by output_padding) */
    const int64_t cmax = k->ci > k->co ? k->ci : k->co;
    float *ref = malloc((size_t)(k->n * cmax * (k->h + k->op) * (k->w + k->op) + nw + ny) *
                        sizeof(float));
    nn_tensor *x = nn_input(c, 4, (int64_t[]){k->n, k->ci, k->h, k->w}, xv);
    nn_tensor *w = nn_input(c, 4, (int64_t[]){k->co, k->ci, k->kh, k->kw}, wv);
    nn_tensor *b = nn_input(c, 1, (int64_t[]){k->co}, bv);
    nn_tensor *gy = nn_input(c, 4, (int64_t[]){k->n, k->co, ho, wo}, gv);
    /* conv2d */
    nn_tensor *y = nn_conv2d(c, x, w, b, k->s, k->p);
    ck_assert_msg(y != NULL, "%s", gs_errmsg());
    ck_assert_int_eq(y->n, ny);
    ref_conv2d(k, xv, wv, bv, ref);
    assert_buf_close(y->data, ref, ny, 1e-5, "conv2d");
    /* weight gradient */
    nn_tensor *dw = nn_conv2d_wgrad(c, x, gy, k->kh, k->kw, k->s, k->p);
    ck_assert_msg(dw != NULL, "%s", gs_errmsg());
    ref_wgrad(k, xv, gv, ref);
    assert_buf_close(dw->data, ref, nw, 1e-5, "wgrad");
    /* conv_transpose2d with the conv weight read as [ci_t = co... ]: use a
     * transposed config whose input is gy-shaped and output x-shaped */
    cfg t = {k->n, k->co, k->ci, ho, wo, k->kh, k->kw, k->s, k->p, k->op};
    const int64_t th = (ho - 1) * k->s - 2 * k->p + k->kh + k->op;
    const int64_t tw = (wo - 1) * k->s - 2 * k->p + k->kw + k->op;
    /* the bias (ci values) is taken from bv (co values) when there are enough */
    nn_tensor *bt = k->ci <= k->co ? nn_input(c, 1, (int64_t[]){k->ci}, bv) : NULL;
    nn_tensor *yt = nn_conv_transpose2d(c, gy, w, bt, k->s, k->p, k->op);
    ck_assert_msg(yt != NULL, "%s", gs_errmsg());
    ck_assert_int_eq(yt->shape[2], th);
    ck_assert_int_eq(yt->shape[3], tw);
    ref_conv_t2d(&t, gv, wv, k->ci <= k->co ? bv : NULL, ref, th, tw);
    assert_buf_close(yt->data, ref, yt->n, 1e-5, "conv_transpose2d");
    free(xv);
    free(wv);
    free(bv);
    free(gv);
    free(ref);
    nn_ctx_free(c);
}

START_TEST(t_conv_reference)
{
    const int saved = nn_get_threads();
    for (size_t i = 0; i < sizeof ref_cases / sizeof ref_cases[0]; i++) {
        run_ref_case(&ref_cases[i], 1);   /* serial samples, sgemm path */
        run_ref_case(&ref_cases[i], 2);   /* batch-parallel path where n >= 2 */
    }
    nn_set_threads(saved);
}
END_TEST

/* ---- gradient checks ---------------------------------------------------------- */
static nn_tensor *b_conv2d(nn_ctx *c, nn_tensor **in, const void *ud)
{
    const int64_t *sp = ud;
    return nn_conv2d(c, X0, X1, X2, sp[0], sp[1]);
}

static void check_conv2d(int64_t n, int64_t ci, int64_t co, int64_t h, int64_t w, int64_t k,
                         int64_t s, int64_t p, bool second)
{
    const int64_t nx = n * ci * h * w, nw = co * ci * k * k;
    float *x = rand_buf(nx, 5), *wt = rand_buf(nw, 6), *b = rand_buf(co, 7);
    const int64_t sp[2] = {s, p};
    gc_case kc = {.nin = 3, .ndim = {4, 4, 1},
                  .shape = {{n, ci, h, w}, {co, ci, k, k}, {co}}, .x = {x, wt, b}, .ud = sp};
    gc_check(b_conv2d, &kc, second, "conv2d");
    free(x);
    free(wt);
    free(b);
}

START_TEST(t_grad_conv2d)
{
    check_conv2d(2, 2, 3, 5, 4, 3, 1, 1, true);
    check_conv2d(2, 2, 3, 5, 4, 3, 2, 1, true);
    check_conv2d(1, 3, 2, 3, 3, 1, 1, 0, true);   /* pointwise */
    check_conv2d(2, 1, 2, 6, 5, 2, 2, 0, false);
}
END_TEST

static nn_tensor *b_conv_t2d(nn_ctx *c, nn_tensor **in, const void *ud)
{
    const int64_t *sp = ud;
    return nn_conv_transpose2d(c, X0, X1, X2, sp[0], sp[1], sp[2]);
}

START_TEST(t_grad_conv_transpose2d)
{
    const int64_t cases[][3] = {{2, 1, 1}, {1, 1, 0}, {2, 0, 0}};
    for (int i = 0; i < 3; i++) {
        float *x = rand_buf(2 * 3 * 3 * 2, 8), *w = rand_buf(3 * 2 * 3 * 3, 9), *b = rand_buf(2, 10);
        gc_case kc = {.nin = 3, .ndim = {4, 4, 1},
                      .shape = {{2, 3, 3, 2}, {3, 2, 3, 3}, {2}}, .x = {x, w, b}, .ud = cases[i]};
        gc_check(b_conv_t2d, &kc, true, "conv_transpose2d");
        free(x);
        free(w);
        free(b);
    }
}
END_TEST

static nn_tensor *b_wgrad(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_conv2d_wgrad(c, X0, X1, 3, 3, 2, 1);
}

START_TEST(t_grad_conv_wgrad)
{
    /* x [2, 2, 5, 4] -> conv 3x3 s2 p1 -> [2, 3, 3, 2] */
    float *x = rand_buf(2 * 2 * 5 * 4, 11), *g = rand_buf(2 * 3 * 3 * 2, 12);
    gc_case kc = {.nin = 2, .ndim = {4, 4}, .shape = {{2, 2, 5, 4}, {2, 3, 3, 2}}, .x = {x, g}};
    gc_check(b_wgrad, &kc, true, "conv2d_wgrad");
    free(x);
    free(g);
}
END_TEST

/* A small discriminator: conv -> leaky_relu -> flatten -> linear. The inputs
 * are chosen so that no pre-activation is within the finite-difference step
 * of the kink. */
static nn_tensor *b_disc(nn_ctx *c, nn_tensor **in, const void *ud)
{
    nn_tensor *h = nn_leaky_relu(c, nn_conv2d(c, X0, X1, NULL, 2, 1), 0.2f);
    return nn_linear(c, nn_flatten(c, h), X2, NULL);
}

START_TEST(t_grad_conv_leaky_linear)
{
    const int64_t nx = 2 * 2 * 5 * 4, nw = 3 * 2 * 3 * 3, nl = 2 * 3 * 3 * 2;
    float *x = NULL, *w = NULL, *l = rand_buf(nl, 13);
    nn_ctx *c = nn_ctx_new();
    for (uint64_t seed = 20; seed < 400; seed++) {
        free(x);
        free(w);
        x = rand_buf(nx, seed);
        w = rand_buf(nw, seed + 1000);
        nn_ctx_reset(c);
        nn_tensor *y = nn_conv2d(c, nn_input(c, 4, (int64_t[]){2, 2, 5, 4}, x),
                                 nn_input(c, 4, (int64_t[]){3, 2, 3, 3}, w), NULL, 2, 1);
        float m = INFINITY;
        for (int64_t i = 0; i < y->n; i++)
            m = fminf(m, fabsf(y->data[i]));
        if (m > 0.05f)
            break;
    }
    nn_ctx_free(c);
    gc_case kc = {.nin = 3, .ndim = {4, 4, 2},
                  .shape = {{2, 2, 5, 4}, {3, 2, 3, 3}, {2, 3 * 3 * 2}}, .x = {x, w, l}};
    gc_check(b_disc, &kc, true, "conv+leaky_relu+linear");
    free(x);
    free(w);
    free(l);
}
END_TEST

static nn_tensor *b_upsample(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_upsample_nearest2d(c, X0, 2);
}
static nn_tensor *b_sumpool(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_sum_pool2d(c, X0, 2);
}
static nn_tensor *b_crop(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_crop2d(c, X0, 1, 0, 2, 3);
}
static nn_tensor *b_pad(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_pad2d(c, X0, 1, 2, 5, 6);
}
static nn_tensor *b_flatten(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_flatten(c, X0);
}

START_TEST(t_grad_image_ops)
{
    float x[48];
    gc_fill(x, 48, 14, -2, 2, 0);
    gc_case k1 = {.nin = 1, .ndim = {4}, .shape = {{2, 2, 2, 3}}, .x = {x}};
    gc_check(b_upsample, &k1, true, "upsample_nearest2d");
    gc_case k2 = {.nin = 1, .ndim = {4}, .shape = {{2, 1, 4, 6}}, .x = {x}};
    gc_check(b_sumpool, &k2, true, "sum_pool2d");
    gc_case k3 = {.nin = 1, .ndim = {4}, .shape = {{2, 2, 4, 3}}, .x = {x}};
    gc_check(b_crop, &k3, true, "crop2d");
    gc_case k4 = {.nin = 1, .ndim = {4}, .shape = {{2, 2, 3, 4}}, .x = {x}};
    gc_check(b_pad, &k4, true, "pad2d");
    gc_check(b_flatten, &k4, true, "flatten");
}
END_TEST

static nn_tensor *b_bn(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_batchnorm(c, X0, X1, X2, NULL, NULL, 0.1f, 1e-5f);
}

/* eval mode: fixed running statistics, gradients to x, gamma and beta */
static nn_tensor *b_bn_eval(nn_ctx *c, nn_tensor **in, const void *ud)
{
    float rm[3] = {0.3f, -0.2f, 0.1f}, rv[3] = {0.5f, 2.0f, 1.5f};
    nn_set_training(c, false);
    nn_tensor *y = nn_batchnorm(c, X0, X1, X2, rm, rv, 0.1f, 1e-5f);
    nn_set_training(c, true);
    return y;
}

static nn_tensor *b_bn_noaffine(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_batchnorm(c, X0, NULL, NULL, NULL, NULL, 0.1f, 1e-5f);
}

static nn_tensor *b_bn_lrelu(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_batchnorm_leaky_relu(c, X0, X1, X2, NULL, NULL, 0.1f, 1e-5f, *(const float *)ud);
}

static nn_tensor *b_chan_dot(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_channel_dot(c, X0, X1);
}

/* in[2] [3 C] packs s, u, t (sliced out, so its gradient checks the packing) */
static nn_tensor *b_chan_affine2(nn_ctx *c, nn_tensor **in, const void *ud)
{
    const int64_t ch = X0->shape[1];
    nn_tensor *p = nn_reshape(c, X2, 2, (int64_t[]){1, 3 * ch});
    return nn_channel_affine2(c, X0, X1, nn_slice(c, p, 0, ch), nn_slice(c, p, ch, ch),
                              nn_slice(c, p, 2 * ch, ch));
}

static nn_tensor *b_chan_var(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_channel_var(c, X0);
}

/* Inputs for a batch norm + LeakyReLU check whose pre-activations all stay
 * at least `margin` from the kink, so that the finite differences (step
 * 1e-2) never cross it: tries seeds until one does. */
static void bn_away_from_kink(float *x, int64_t nx, int ndim, const int64_t *shape,
                              const float *g, const float *b, float margin)
{
    nn_ctx *c = nn_ctx_new();
    for (uint64_t seed = 40; seed < 2000; seed++) {
        gc_fill(x, nx, seed, -2, 2, 0);
        nn_ctx_reset(c);
        nn_tensor *z = ref_batchnorm_composed(c, nn_input(c, ndim, shape, x),
                                             nn_input(c, 1, (int64_t[]){shape[1]}, g),
                                             nn_input(c, 1, (int64_t[]){shape[1]}, b), 1e-5f);
        float m = INFINITY;
        for (int64_t i = 0; i < z->n; i++)
            m = fminf(m, fabsf(z->data[i]));
        if (m > margin)
            break;
    }
    nn_ctx_free(c);
}

START_TEST(t_grad_batchnorm)
{
    float x[48], g[3], b[3], y[48];
    gc_fill(x, 48, 15, -2, 2, 0);
    gc_fill(y, 48, 18, -2, 2, 0);
    gc_fill(g, 3, 16, 0.5f, 1.5f, 0);
    gc_fill(b, 3, 17, -1, 1, 0);
    gc_case k4 = {.nin = 3, .ndim = {4, 1, 1}, .shape = {{4, 3, 2, 2}, {3}, {3}}, .x = {x, g, b}};
    gc_check(b_bn, &k4, true, "batchnorm 4-D");
    gc_case k2 = {.nin = 3, .ndim = {2, 1, 1}, .shape = {{8, 3}, {3}, {3}}, .x = {x, g, b}};
    gc_check(b_bn, &k2, true, "batchnorm 2-D");
    gc_check(b_bn_eval, &k4, true, "batchnorm eval");
    gc_case k1 = {.nin = 1, .ndim = {4}, .shape = {{4, 3, 2, 2}}, .x = {x}};
    gc_check(b_bn_noaffine, &k1, true, "batchnorm without gamma / beta");
    /* the per-channel reductions the fused batch norm's backward is made of */
    gc_case kd = {.nin = 2, .ndim = {4, 4}, .shape = {{4, 3, 2, 2}, {4, 3, 2, 2}}, .x = {x, y}};
    gc_check(b_chan_dot, &kd, true, "channel_dot");
    float p[9];
    gc_fill(p, 9, 19, -1.5f, 1.5f, 0);
    gc_case ka = {.nin = 3, .ndim = {4, 4, 1}, .shape = {{4, 3, 2, 2}, {4, 3, 2, 2}, {9}},
                  .x = {x, y, p}};
    gc_check(b_chan_affine2, &ka, true, "channel_affine2");
    gc_check(b_chan_var, &k1, true, "channel_var 4-D");
    gc_case kv2 = {.nin = 1, .ndim = {2}, .shape = {{8, 3}}, .x = {x}};
    gc_check(b_chan_var, &kv2, true, "channel_var 2-D");
    /* fused with LeakyReLU: slopes 0.2 and 0 (mask from the output), and a
     * negative slope (falls back to batch norm + leaky_relu) */
    static const float slopes[3] = {0.2f, 0.0f, -0.5f};
    for (int i = 0; i < 3; i++) {
        bn_away_from_kink(x, 48, 4, (int64_t[]){4, 3, 2, 2}, g, b, 0.08f);
        k4.ud = &slopes[i];
        gc_check(b_bn_lrelu, &k4, true, "batchnorm_leaky_relu 4-D");
        bn_away_from_kink(x, 48, 2, (int64_t[]){8, 3}, g, b, 0.08f);
        k2.ud = &slopes[i];
        gc_check(b_bn_lrelu, &k2, true, "batchnorm_leaky_relu 2-D");
    }
}
END_TEST

/* d sum(y R) / d{x, gamma, beta} and, from those, d sum(grads R2) / d{...}
 * (second order) of one batch norm variant, into out[0..5]. */
static void bn_grads(nn_ctx *c, nn_tensor *(*f)(nn_ctx *, nn_tensor **, float), float slope,
                     nn_tensor **in, nn_tensor **out)
{
    nn_tensor *y = f(c, in, slope);
    ck_assert_ptr_nonnull(y);
    out[6] = y;
    nn_tensor *l = nn_sum(c, nn_mul(c, y, gc_rand_like(c, y, 5)));
    ck_assert_int_eq(nn_grad(c, l, 3, in, out, true), GS_OK);
    nn_tensor *s = NULL;
    for (int i = 0; i < 3; i++) {
        nn_tensor *t = nn_sum(c, nn_mul(c, out[i], gc_rand_like(c, out[i], 50 + (uint64_t)i)));
        s = s ? nn_add(c, s, t) : t;
    }
    ck_assert_int_eq(nn_grad(c, s, 3, in, out + 3, false), GS_OK);
}

static nn_tensor *bn_fused(nn_ctx *c, nn_tensor **in, float slope)
{
    return nn_batchnorm_leaky_relu(c, in[0], in[1], in[2], NULL, NULL, 0.1f, 1e-5f, slope);
}

static nn_tensor *bn_ref(nn_ctx *c, nn_tensor **in, float slope)
{
    return nn_leaky_relu(c, ref_batchnorm_composed(c, in[0], in[1], in[2], 1e-5f), slope);
}

/* The fused training-mode op against the composition it replaced: values,
 * first and second derivatives agree to float rounding; and the fused op
 * adds one node (its output) to the tape. */
START_TEST(t_batchnorm_fused_equals_composed)
{
    const int64_t n = 6, ch = 5, h = 7, w = 4, nx = n * ch * h * w;
    float *xv = rand_buf(nx, 31), *gv = rand_buf(ch, 32), *bv = rand_buf(ch, 33);
    for (int64_t i = 0; i < nx; i++)
        xv[i] = 3.0f * xv[i] + (float)((i / (h * w)) % ch);  /* per-channel offsets */
    nn_ctx *c = nn_ctx_new();
    static const float slopes[2] = {0.2f, 0.0f};
    for (int si = 0; si < 2; si++) {
        nn_ctx_reset(c);
        nn_tensor *in[3] = {nn_input(c, 4, (int64_t[]){n, ch, h, w}, xv),
                            nn_input(c, 1, (int64_t[]){ch}, gv),
                            nn_input(c, 1, (int64_t[]){ch}, bv)};
        for (int i = 0; i < 3; i++)
            nn_set_requires_grad(in[i], true);
        nn_tensor *a[7], *r[7];
        bn_grads(c, bn_fused, slopes[si], in, a);
        bn_grads(c, bn_ref, slopes[si], in, r);
        for (int t = 0; t < 7; t++) {  /* dx, dgamma, dbeta, their 2nd order, y */
            ck_assert_int_eq(a[t]->n, r[t]->n);
            double scale = 0;
            for (int64_t i = 0; i < r[t]->n; i++)
                scale = fmax(scale, fabs(r[t]->data[i]));
            for (int64_t i = 0; i < r[t]->n; i++)
                ck_assert_msg(fabs(a[t]->data[i] - r[t]->data[i]) <= 2e-5 * (scale + 1e-3),
                              "slope %g, output %d [%lld]: fused %.8g vs composed %.8g",
                              slopes[si], t, (long long)i, a[t]->data[i], r[t]->data[i]);
        }
        /* the pair is one node, whose only full-size tensor is its output */
        nn_ctx_stats s0, s1;
        nn_ctx_get_stats(c, &s0);
        nn_tensor *y = bn_fused(c, in, slopes[si]);
        nn_ctx_get_stats(c, &s1);
        ck_assert_ptr_nonnull(y);
        ck_assert_int_eq(s1.n_nodes - s0.n_nodes, 1);
        ck_assert_uint_lt(s1.used - s0.used, (size_t)nx * sizeof(float) + 4096);
    }
    free(xv);
    free(gv);
    free(bv);
    nn_ctx_free(c);
}
END_TEST

/* ---- image op values ------------------------------------------------------------ */
START_TEST(t_image_values)
{
    nn_ctx *c = nn_ctx_new();
    nn_tensor *x = nn_input(c, 4, (int64_t[]){1, 1, 2, 2}, (float[]){1, 2, 3, 4});
    nn_tensor *u = nn_upsample_nearest2d(c, x, 2);
    const float eu[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
    ck_assert_int_eq(u->shape[2], 4);
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(u->data[i], eu[i]);
    nn_tensor *s = nn_sum_pool2d(c, u, 2);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(s->data[i], 4.0f * x->data[i]);
    ck_assert_ptr_null(nn_sum_pool2d(c, x, 3));
    /* the generator's last step: crop 56x32 to 56x30 (one column off each side) */
    float *big = malloc(2 * 56 * 32 * sizeof(float));
    for (int i = 0; i < 2 * 56 * 32; i++)
        big[i] = (float)i;
    nn_tensor *g = nn_input(c, 4, (int64_t[]){2, 1, 56, 32}, big);
    nn_tensor *cr = nn_crop2d(c, g, 0, 1, 56, 30);
    ck_assert_int_eq(cr->shape[2], 56);
    ck_assert_int_eq(cr->shape[3], 30);
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < 56; i++)
            for (int j = 0; j < 30; j++)
                ck_assert_float_eq(cr->data[(n * 56 + i) * 30 + j], big[(n * 56 + i) * 32 + j + 1]);
    nn_tensor *pd = nn_pad2d(c, cr, 0, 1, 56, 32);
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < 56; i++)
            for (int j = 0; j < 32; j++)
                ck_assert_float_eq(pd->data[(n * 56 + i) * 32 + j],
                                   j == 0 || j == 31 ? 0.0f : big[(n * 56 + i) * 32 + j]);
    ck_assert_ptr_null(nn_crop2d(c, g, 1, 0, 56, 30));
    nn_tensor *f = nn_flatten(c, g);
    ck_assert_int_eq(f->ndim, 2);
    ck_assert_int_eq(f->shape[1], 56 * 32);
    free(big);
    nn_ctx_free(c);
}
END_TEST

/* ---- upsample x2 + conv 3x3 as phase convs ---------------------------------------- */
START_TEST(t_phase_values)
{
    nn_ctx *c = nn_ctx_new();
    /* w = 1..9 (rows t, columns s): phase (a, b) sums the taps of M_a W M_b^T */
    float w9[9];
    for (int i = 0; i < 9; i++)
        w9[i] = (float)(i + 1);
    nn_tensor *p = nn_phase_fold3x3(c, nn_input(c, 4, (int64_t[]){1, 1, 3, 3}, w9));
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p->shape[0], 4);
    ck_assert_int_eq(p->shape[2], 2);
    const float ep[16] = {1, 2 + 3, 4 + 7, 5 + 6 + 8 + 9,           /* (0, 0) */
                          1 + 2, 3, 4 + 5 + 7 + 8, 6 + 9,           /* (0, 1) */
                          1 + 4, 2 + 3 + 5 + 6, 7, 8 + 9,           /* (1, 0) */
                          1 + 2 + 4 + 5, 3 + 6, 7 + 8, 9};          /* (1, 1) */
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(p->data[i], ep[i]);
    /* every 3x3 tap lands in exactly one 2x2 tap of each phase: unfold(ones) = 4 */
    float ones[16];
    for (int i = 0; i < 16; i++)
        ones[i] = 1.0f;
    nn_tensor *u = nn_phase_unfold3x3(c, nn_input(c, 4, (int64_t[]){4, 1, 2, 2}, ones));
    ck_assert_int_eq(u->shape[2], 3);
    for (int i = 0; i < 9; i++)
        ck_assert_float_eq(u->data[i], 4.0f);
    /* interleave: 1x1 output block from four 2x2 planes; (a, b) reads (a, b) */
    float z[16];
    for (int i = 0; i < 16; i++)
        z[i] = (float)i;
    nn_tensor *y = nn_phase_interleave(c, nn_input(c, 4, (int64_t[]){1, 4, 2, 2}, z),
                                       nn_input(c, 1, (int64_t[]){1}, (float[]){0.5f}));
    ck_assert_int_eq(y->shape[1], 1);
    ck_assert_int_eq(y->shape[2], 2);
    const float ey[4] = {0 + 0.5f, 5 + 0.5f, 10 + 0.5f, 15 + 0.5f};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(y->data[i], ey[i]);
    /* with the fused LeakyReLU: the same values through the activation, to the bit */
    float zs[2 * 8 * 3 * 4], bs[2] = {0.25f, -0.5f};
    gc_fill(zs, 2 * 8 * 3 * 4, 5, -2, 2, 0);
    zs[0] = -0.0f;
    for (int wb = 0; wb < 2; wb++) {
        nn_tensor *zt = nn_input(c, 4, (int64_t[]){2, 8, 3, 4}, zs);
        nn_tensor *bt = wb ? nn_input(c, 1, (int64_t[]){2}, bs) : NULL;
        nn_tensor *f = nn_phase_interleave_lrelu(c, zt, bt, 0.2f);
        nn_tensor *r = nn_leaky_relu(c, nn_phase_interleave(c, zt, bt), 0.2f);
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(f->n, r->n);
        for (int64_t i = 0; i < f->n; i++) /* == : -0 and +0 are one value */
            ck_assert_msg(f->data[i] == r->data[i], "%lld: %g vs %g", (long long)i,
                          (double)f->data[i], (double)r->data[i]);
    }
    ck_assert_ptr_null(nn_phase_interleave_lrelu(c, nn_input(c, 4, (int64_t[]){2, 8, 3, 4}, zs),
                                                 NULL, -1.0f));
    nn_tensor *d = nn_phase_deinterleave(c, nn_input(c, 4, (int64_t[]){1, 1, 2, 2},
                                                     (float[]){1, 2, 3, 4}));
    const float ed[16] = {1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 3, 0, 0, 0, 0, 4};
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(d->data[i], ed[i]);
    nn_ctx_free(c);
}
END_TEST

/* The fused op against upsample + conv: values and first-order gradients
 * w.r.t. x, w and b, on odd sizes (and 1x1), serial and batch-parallel. */
typedef struct {
    int64_t n, ci, co, h, w;
} upconv_case;

static void run_upconv_case(const upconv_case *k, int threads)
{
    nn_set_threads(threads);
    nn_ctx *c = nn_ctx_new();
    const int64_t nx = k->n * k->ci * k->h * k->w, nw = k->co * k->ci * 9;
    const int64_t ny = k->n * k->co * 4 * k->h * k->w;
    float *xv = rand_buf(nx, 31), *wv = rand_buf(nw, 32), *bv = rand_buf(k->co, 33);
    float *rv = rand_buf(ny, 34);
    float *ref[4];
    for (int v = 0; v < 2; v++) {
        nn_ctx_reset(c);
        nn_tensor *in[3] = {nn_input(c, 4, (int64_t[]){k->n, k->ci, k->h, k->w}, xv),
                            nn_input(c, 4, (int64_t[]){k->co, k->ci, 3, 3}, wv),
                            nn_input(c, 1, (int64_t[]){k->co}, bv)};
        for (int i = 0; i < 3; i++)
            nn_set_requires_grad(in[i], true);
        nn_tensor *y = v ? nn_upsample2_conv3x3(c, in[0], in[1], in[2])
                         : nn_conv2d(c, nn_upsample_nearest2d(c, in[0], 2), in[1], in[2], 1, 1);
        ck_assert_msg(y != NULL, "%s", gs_errmsg());
        ck_assert_int_eq(y->n, ny);
        ck_assert_int_eq(y->shape[2], 2 * k->h);
        ck_assert_int_eq(y->shape[3], 2 * k->w);
        nn_tensor *r = nn_input(c, 4, y->shape, rv), *g[3];
        ck_assert_int_eq(nn_grad(c, nn_sum(c, nn_mul(c, y, r)), 3, in, g, false), GS_OK);
        nn_tensor *res[4] = {y, g[0], g[1], g[2]};
        static const char *const what[4] = {"upsample2_conv3x3", "dx", "dw", "db"};
        for (int i = 0; i < 4; i++) {
            if (!v) {
                ref[i] = malloc((size_t)res[i]->n * sizeof(float));
                memcpy(ref[i], res[i]->data, (size_t)res[i]->n * sizeof(float));
            } else {
                /* sums of up to 9 ci (or N H W ...) products in another order */
                assert_buf_close(res[i]->data, ref[i], res[i]->n, 1e-5, what[i]);
                free(ref[i]);
            }
        }
    }
    free(xv);
    free(wv);
    free(bv);
    free(rv);
    nn_ctx_free(c);
}

START_TEST(t_upconv_equals_reference)
{
    static const upconv_case cases[] = {
        {2, 3, 4, 5, 3}, {3, 2, 3, 7, 5}, {1, 1, 1, 1, 1}, {2, 5, 2, 1, 4}, {3, 4, 5, 3, 7}};
    const int saved = nn_get_threads();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_upconv_case(&cases[i], 1);
        run_upconv_case(&cases[i], 2);
    }
    nn_set_threads(saved);
}
END_TEST

static nn_tensor *b_fold(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_phase_fold3x3(c, X0);
}
static nn_tensor *b_unfold(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_phase_unfold3x3(c, X0);
}
static nn_tensor *b_interleave(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_phase_interleave(c, X0, X1);
}
static nn_tensor *b_interleave_lrelu(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_phase_interleave_lrelu(c, X0, ud ? X1 : NULL, 0.2f);
}
static nn_tensor *b_deinterleave(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_phase_deinterleave(c, X0);
}
static nn_tensor *b_upconv(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_upsample2_conv3x3(c, X0, X1, X2);
}

START_TEST(t_grad_phase_ops)
{
    float a[192], b[96], e[4];
    gc_fill(a, 192, 40, -1, 1, 0);
    gc_fill(b, 96, 41, -1, 1, 0);
    gc_fill(e, 4, 42, -1, 1, 0);
    gc_case kf = {.nin = 1, .ndim = {4}, .shape = {{2, 3, 3, 3}}, .x = {a}};
    gc_check(b_fold, &kf, true, "phase_fold3x3");
    gc_case ku = {.nin = 1, .ndim = {4}, .shape = {{8, 2, 2, 2}}, .x = {a}};
    gc_check(b_unfold, &ku, true, "phase_unfold3x3");
    gc_case ki = {.nin = 2, .ndim = {4, 1}, .shape = {{2, 8, 3, 4}, {2}}, .x = {a, e}};
    gc_check(b_interleave, &ki, true, "phase_interleave");
    /* fused activation: inputs away from the kink (bias small against the gap) */
    float za[96], eb[2] = {0.01f, -0.02f};
    gc_fill(za, 96, 43, -1, 1, 0.1f);
    gc_case kl = {.nin = 1, .ndim = {4}, .shape = {{2, 8, 2, 3}}, .x = {za}};
    gc_check(b_interleave_lrelu, &kl, true, "phase_interleave_lrelu");
    gc_case klb = {.nin = 2, .ndim = {4, 1}, .shape = {{2, 8, 2, 3}, {2}}, .x = {za, eb},
                   .ud = eb};
    gc_check(b_interleave_lrelu, &klb, true, "phase_interleave_lrelu + bias");
    gc_case kd = {.nin = 1, .ndim = {4}, .shape = {{2, 2, 4, 6}}, .x = {a}};
    gc_check(b_deinterleave, &kd, true, "phase_deinterleave");
    /* the composite: x, w and b at first and second order, odd sizes */
    gc_case kc = {.nin = 3, .ndim = {4, 4, 1},
                  .shape = {{2, 2, 3, 1}, {3, 2, 3, 3}, {3}}, .x = {a, b, e}};
    gc_check(b_upconv, &kc, true, "upsample2_conv3x3");
}
END_TEST

/* ---- batch norm folded for inference -------------------------------------------- */
static void random_bn(nn_batchnorm_layer *bn, uint64_t seed)
{
    gs_rng r;
    gs_rng_seed(&r, seed);
    gs_rng_fill_uniform(&r, bn->gamma->data, bn->ch, 0.5f, 2.0f);
    gs_rng_fill_uniform(&r, bn->beta->data, bn->ch, -1.0f, 1.0f);
    gs_rng_fill_uniform(&r, bn->running_mean->data, bn->ch, -1.0f, 1.0f);
    gs_rng_fill_uniform(&r, bn->running_var->data, bn->ch, 0.1f, 3.0f);
}

/* layer + eval-mode batch norm == the layer with nn_batchnorm_fold's
 * parameters: a conv (one row per channel) and a linear map whose outputs
 * are reshaped to [C, h, w] (h·w rows per channel). */
START_TEST(t_batchnorm_fold)
{
    nn_ctx *c = nn_ctx_new();
    nn_set_training(c, false);
    nn_set_grad_enabled(c, false);
    nn_params ps, bufs;
    nn_params_init(&ps);
    nn_params_init(&bufs);
    gs_rng r;
    gs_rng_seed(&r, 3);
    nn_conv2d_layer cv;
    nn_linear_layer fc;
    nn_batchnorm_layer b1, b2;
    ck_assert_int_eq(nn_conv2d_layer_init(&cv, &ps, "cv", 3, 4, 3, 1, 1, true, NN_INIT_TORCH,
                                          &r), GS_OK);
    ck_assert_int_eq(nn_linear_layer_init(&fc, &ps, "fc", 5, 3 * 2 * 2, true, NN_INIT_TORCH,
                                          &r), GS_OK);
    ck_assert_int_eq(nn_batchnorm_layer_init(&b1, &ps, &bufs, "b1", 4, 0.1f, 1e-5f), GS_OK);
    ck_assert_int_eq(nn_batchnorm_layer_init(&b2, &ps, &bufs, "b2", 3, 0.1f, 1e-5f), GS_OK);
    random_bn(&b1, 4);
    random_bn(&b2, 5);
    float x[2 * 3 * 5 * 6], v[2 * 5];
    gc_fill(x, 2 * 3 * 5 * 6, 6, -1, 1, 0);
    gc_fill(v, 2 * 5, 7, -1, 1, 0);
    /* conv */
    nn_tensor *xt = nn_input(c, 4, (int64_t[]){2, 3, 5, 6}, x);
    nn_tensor *ref = nn_batchnorm_layer_fwd(c, &b1, nn_conv2d_layer_fwd(c, &cv, xt));
    nn_tensor *wf = nn_new(c, 4, cv.w->shape), *bf = nn_new(c, 1, (int64_t[]){4});
    ck_assert_int_eq(nn_batchnorm_fold(&b1, cv.w, cv.b, wf, bf), GS_OK);
    nn_tensor *got = nn_conv2d(c, xt, wf, bf, 1, 1);
    ck_assert_int_eq(got->n, ref->n);
    double worst = 0;
    for (int64_t i = 0; i < got->n; i++)
        worst = fmax(worst, fabs(got->data[i] - ref->data[i]) / (1 + fabs(ref->data[i])));
    ck_assert_msg(worst < 1e-5, "conv + batch norm folded: %g", worst);
    /* linear, outputs as [3 channels, 2, 2] */
    nn_tensor *vt = nn_input(c, 2, (int64_t[]){2, 5}, v);
    const int64_t img[4] = {2, 3, 2, 2};
    ref = nn_batchnorm_layer_fwd(c, &b2, nn_reshape(c, nn_linear_layer_fwd(c, &fc, vt), 4, img));
    wf = nn_new(c, 2, fc.w->shape);
    bf = nn_new(c, 1, (int64_t[]){12});
    ck_assert_int_eq(nn_batchnorm_fold(&b2, fc.w, fc.b, wf, bf), GS_OK);
    got = nn_reshape(c, nn_linear(c, vt, wf, bf), 4, img);
    worst = 0;
    for (int64_t i = 0; i < got->n; i++)
        worst = fmax(worst, fabs(got->data[i] - ref->data[i]) / (1 + fabs(ref->data[i])));
    ck_assert_msg(worst < 1e-5, "linear + batch norm folded: %g", worst);
    /* without a bias: the fold's bias is the batch norm's shift alone */
    ck_assert_int_eq(nn_batchnorm_fold(&b2, fc.w, NULL, wf, bf), GS_OK);
    const double s0 = b2.gamma->data[0] / sqrt(b2.running_var->data[0] + 1e-5);
    ck_assert_close(bf->data[0], b2.beta->data[0] - b2.running_mean->data[0] * s0, 1e-6, 1e-6);
    /* rows that are not a multiple of the channels */
    ck_assert_int_eq(nn_batchnorm_fold(&b2, cv.w, cv.b, wf, bf), GS_ERR_ARG); /* 4 rows, 3 ch */
    nn_params_free(&ps);
    nn_params_free(&bufs);
    nn_ctx_free(c);
}
END_TEST

/* ---- batch norm semantics ------------------------------------------------------- */
START_TEST(t_batchnorm_semantics)
{
    nn_ctx *c = nn_ctx_new();
    const int64_t n = 8, ch = 3, hw = 20, m = n * hw;
    float *xv = rand_buf(n * ch * hw, 30);
    for (int64_t i = 0; i < n * ch * hw; i++)
        xv[i] = 3.0f * xv[i] + (float)((i / hw) % ch);  /* per-channel offsets */
    nn_tensor *x = nn_input(c, 4, (int64_t[]){n, ch, 4, 5}, xv);
    double mean[3] = {0}, var[3] = {0};
    for (int64_t i = 0; i < n * ch * hw; i++)
        mean[(i / hw) % ch] += xv[i] / (double)m;
    for (int64_t i = 0; i < n * ch * hw; i++) {
        double d = xv[i] - mean[(i / hw) % ch];
        var[(i / hw) % ch] += d * d / (double)m;
    }
    float rm[3] = {0, 0, 0}, rv[3] = {1, 1, 1};
    const float eps = 1e-5f, mom = 0.1f;
    /* train: batch statistics, normalised output has mean 0 / biased var 1 */
    nn_tensor *y = nn_batchnorm(c, x, NULL, NULL, rm, rv, mom, eps);
    ck_assert_ptr_nonnull(y);
    for (int k = 0; k < 3; k++) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < n * ch * hw; i++)
            if ((i / hw) % ch == k) {
                s += y->data[i];
                s2 += (double)y->data[i] * y->data[i];
            }
        ck_assert_close(s / m, 0.0, 1e-5, 0);
        ck_assert_close(s2 / m, var[k] / (var[k] + eps), 1e-4, 0);
    }
    /* running stats: (1 - m) running + m stat, unbiased variance; twice */
    double erm[3], erv[3];
    for (int k = 0; k < 3; k++) {
        erm[k] = 0.1 * mean[k];
        erv[k] = 0.9 + 0.1 * var[k] * m / (m - 1);
        ck_assert_close(rm[k], erm[k], 1e-5, 1e-5);
        ck_assert_close(rv[k], erv[k], 1e-5, 1e-5);
    }
    nn_batchnorm(c, x, NULL, NULL, rm, rv, mom, eps);
    for (int k = 0; k < 3; k++) {
        ck_assert_close(rm[k], 0.9 * erm[k] + 0.1 * mean[k], 1e-5, 1e-5);
        ck_assert_close(rv[k], 0.9 * erv[k] + 0.1 * var[k] * m / (m - 1), 1e-5, 1e-5);
    }
    /* eval: running statistics with gamma / beta, stats untouched */
    nn_set_training(c, false);
    float saved_rm[3], saved_rv[3];
    memcpy(saved_rm, rm, sizeof rm);
    memcpy(saved_rv, rv, sizeof rv);
    nn_tensor *gm = nn_input(c, 1, (int64_t[]){3}, (float[]){2, 0.5f, -1});
    nn_tensor *bt = nn_input(c, 1, (int64_t[]){3}, (float[]){0.1f, 0.2f, 0.3f});
    y = nn_batchnorm(c, x, gm, bt, rm, rv, mom, eps);
    ck_assert_ptr_nonnull(y);
    for (int64_t i = 0; i < n * ch * hw; i++) {
        int k = (int)((i / hw) % ch);
        double e = (xv[i] - rm[k]) / sqrt(rv[k] + eps) * gm->data[k] + bt->data[k];
        ck_assert_close(y->data[i], e, 1e-5, 1e-5);
    }
    ck_assert_mem_eq(rm, saved_rm, sizeof rm);
    ck_assert_mem_eq(rv, saved_rv, sizeof rv);
    ck_assert_ptr_null(nn_batchnorm(c, x, NULL, NULL, NULL, NULL, mom, eps));
    /* 2-D: per feature */
    nn_set_training(c, true);
    nn_tensor *x2 = nn_input(c, 2, (int64_t[]){4, 2}, (float[]){1, 10, 2, 20, 3, 30, 4, 40});
    float rm2[2] = {0, 0}, rv2[2] = {1, 1};
    y = nn_batchnorm(c, x2, NULL, NULL, rm2, rv2, mom, 0.0f);
    const float z[4] = {-1.5f, -0.5f, 0.5f, 1.5f};
    for (int i = 0; i < 4; i++) {
        ck_assert_close(y->data[2 * i], z[i] / sqrt(1.25), 1e-5, 0);
        ck_assert_close(y->data[2 * i + 1], z[i] / sqrt(1.25), 1e-5, 0);
    }
    ck_assert_close(rm2[1], 0.1 * 25.0, 1e-5, 1e-5);
    ck_assert_close(rv2[1], 0.9 + 0.1 * 500.0 / 3.0, 1e-5, 1e-5);  /* unbiased: 500 / 3 */
    /* one value per channel cannot be normalised in training (PyTorch errors too) */
    ck_assert_ptr_null(nn_batchnorm(c, nn_zeros(c, 2, (int64_t[]){1, 2}), NULL, NULL, NULL,
                                    NULL, mom, eps));
    free(xv);
    nn_ctx_free(c);
}
END_TEST

/* ---- layers ----------------------------------------------------------------------- */
START_TEST(t_layers)
{
    nn_params ps, bufs;
    nn_params_init(&ps);
    nn_params_init(&bufs);
    gs_rng r;
    gs_rng_seed(&r, 42);
    nn_conv2d_layer cv;
    ck_assert_int_eq(nn_conv2d_layer_init(&cv, &ps, "d.c1", 32, 64, 3, 2, 1, true,
                                          NN_INIT_TORCH, &r), GS_OK);
    ck_assert_int_eq(cv.w->shape[0], 64);
    ck_assert_int_eq(cv.w->shape[1], 32);
    const float bound = 1.0f / sqrtf(32 * 9);
    float mx = 0;
    for (int64_t i = 0; i < cv.w->n; i++)
        mx = fmaxf(mx, fabsf(cv.w->data[i]));
    ck_assert(mx <= bound && mx > 0.9f * bound);
    for (int64_t i = 0; i < cv.b->n; i++)
        ck_assert(fabsf(cv.b->data[i]) <= bound);
    ck_assert_ptr_eq(nn_params_find(&ps, "d.c1.w"), cv.w);
    nn_conv_transpose2d_layer ct;
    ck_assert_int_eq(nn_conv_transpose2d_layer_init(&ct, &ps, "g.ct", 8, 4, 3, 2, 1, 1, false,
                                                    NN_INIT_TORCH, &r), GS_OK);
    ck_assert_int_eq(ct.w->shape[0], 8);
    ck_assert_int_eq(ct.w->shape[1], 4);
    ck_assert_ptr_null(ct.b);
    for (int64_t i = 0; i < ct.w->n; i++)
        ck_assert(fabsf(ct.w->data[i]) <= 1.0f / sqrtf(4 * 9));
    nn_batchnorm_layer bn;
    ck_assert_int_eq(nn_batchnorm_layer_init(&bn, &ps, &bufs, "g.bn1", 4, 0.1f, 1e-5f), GS_OK);
    ck_assert_ptr_eq(nn_params_find(&ps, "g.bn1.weight"), bn.gamma);
    ck_assert_ptr_eq(nn_params_find(&bufs, "g.bn1.running_var"), bn.running_var);
    ck_assert(!bn.running_mean->requires_grad && !bn.running_var->requires_grad);
    ck_assert_float_eq(bn.gamma->data[0], 1.0f);
    ck_assert_float_eq(bn.running_var->data[3], 1.0f);

    nn_ctx *c = nn_ctx_new();
    float *xv = rand_buf(2 * 8 * 3 * 3, 50);
    nn_tensor *x = nn_input(c, 4, (int64_t[]){2, 8, 3, 3}, xv);
    nn_tensor *y = nn_batchnorm_layer_fwd(c, &bn, nn_conv_transpose2d_layer_fwd(c, &ct, x));
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(y->shape[1], 4);
    ck_assert_int_eq(y->shape[2], 6);
    ck_assert(bn.running_var->data[0] != 1.0f);   /* updated in training mode */
    nn_tensor *z = nn_conv2d_layer_fwd(c, &cv, nn_zeros(c, 4, (int64_t[]){1, 32, 5, 5}));
    ck_assert_int_eq(z->shape[2], 3);
    ck_assert_float_eq(z->data[0], cv.b->data[0]);
    ck_assert_int_eq(nn_backward(c, nn_sum(c, y)), GS_OK);
    free(xv);
    nn_ctx_free(c);
    nn_params_free(&ps);
    nn_params_free(&bufs);
}
END_TEST

/* ---- the zdc generator's shapes, and no malloc after warm-up ------------------------ */
START_TEST(t_zdc_no_malloc)
{
    nn_params ps, bufs;
    nn_params_init(&ps);
    nn_params_init(&bufs);
    gs_rng r;
    gs_rng_seed(&r, 7);
    nn_conv2d_layer c1, c2, c3, d1;
    nn_batchnorm_layer b1, b2;
    ck_assert_int_eq(nn_conv2d_layer_init(&c1, &ps, "g.c1", 16, 8, 3, 1, 1, true, NN_INIT_TORCH, &r), 0);
    ck_assert_int_eq(nn_conv2d_layer_init(&c2, &ps, "g.c2", 8, 4, 3, 1, 1, true, NN_INIT_TORCH, &r), 0);
    ck_assert_int_eq(nn_conv2d_layer_init(&c3, &ps, "g.c3", 4, 1, 3, 1, 1, true, NN_INIT_TORCH, &r), 0);
    ck_assert_int_eq(nn_conv2d_layer_init(&d1, &ps, "d.c1", 1, 4, 3, 2, 1, true, NN_INIT_TORCH, &r), 0);
    ck_assert_int_eq(nn_batchnorm_layer_init(&b1, &ps, &bufs, "g.bn1", 8, 0.1f, 1e-5f), 0);
    ck_assert_int_eq(nn_batchnorm_layer_init(&b2, &ps, &bufs, "g.bn2", 4, 0.1f, 1e-5f), 0);
    float *zv = rand_buf(4 * 16 * 14 * 8, 60);
    /* the generator's upsample + conv blocks as two ops and as the fused op */
    for (int fused = 0; fused < 2; fused++) {
        nn_ctx *c = nn_ctx_new();
        uint64_t mallocs[4];
        for (int step = 0; step < 4; step++) {
            nn_ctx_reset(c);
            nn_tensor *h = nn_input(c, 4, (int64_t[]){4, 16, 14, 8}, zv);
            h = fused ? nn_upsample2_conv3x3(c, h, c1.w, c1.b)
                      : nn_conv2d_layer_fwd(c, &c1, nn_upsample_nearest2d(c, h, 2));
            h = nn_leaky_relu(c, nn_batchnorm_layer_fwd(c, &b1, h), 0.2f);
            h = fused ? nn_upsample2_conv3x3(c, h, c2.w, c2.b)
                      : nn_conv2d_layer_fwd(c, &c2, nn_upsample_nearest2d(c, h, 2));
            h = nn_leaky_relu(c, nn_batchnorm_layer_fwd(c, &b2, h), 0.2f);
            h = nn_relu(c, nn_conv2d_layer_fwd(c, &c3, h));
            h = nn_crop2d(c, h, 0, 1, 56, 30);
            ck_assert_msg(h != NULL, "%s", gs_errmsg());
            ck_assert_int_eq(h->shape[2], 56);
            ck_assert_int_eq(h->shape[3], 30);
            /* critic on it, with a gradient penalty (double backward through conv) */
            nn_tensor *d = nn_leaky_relu(c, nn_conv2d_layer_fwd(c, &d1, h), 0.2f);
            ck_assert_int_eq(d->shape[2], 28);
            ck_assert_int_eq(d->shape[3], 15);
            nn_tensor *gx;
            ck_assert_int_eq(nn_grad(c, nn_sum(c, d), 1, &h, &gx, true), GS_OK);
            nn_tensor *loss = nn_add(c, nn_mean(c, d), nn_mean(c, nn_square(c, gx)));
            ck_assert_int_eq(nn_backward(c, loss), GS_OK);
            nn_ctx_stats st;
            nn_ctx_get_stats(c, &st);
            mallocs[step] = st.n_mallocs;
        }
        ck_assert_uint_gt(mallocs[0], 0); /* the counter sees the first step's arena */
        ck_assert_uint_eq(mallocs[2], mallocs[3]);
        ck_assert_uint_eq(mallocs[1], mallocs[2]);
        nn_ctx_free(c);
    }
    free(zv);
    nn_params_free(&ps);
    nn_params_free(&bufs);
}
END_TEST

/* nn_backward recycles dead gradient buffers (and nn_upsample2_conv3x3 its
 * phase planes): the parameter gradients must equal those of nn_grad
 * without create_graph, which recycles nothing in backward, and the pass
 * must end with less arena used. */
START_TEST(t_backward_recycles)
{
    nn_params ps, bufs;
    nn_params_init(&ps);
    nn_params_init(&bufs);
    gs_rng r;
    gs_rng_seed(&r, 11);
    nn_conv2d_layer c1, c2;
    nn_batchnorm_layer b0, b1;
    ck_assert_int_eq(nn_conv2d_layer_init(&c1, &ps, "c1", 8, 6, 3, 1, 1, true, NN_INIT_TORCH, &r), 0);
    ck_assert_int_eq(nn_conv2d_layer_init(&c2, &ps, "c2", 6, 2, 3, 2, 1, true, NN_INIT_TORCH, &r), 0);
    ck_assert_int_eq(nn_batchnorm_layer_init(&b0, &ps, &bufs, "b0", 8, 0.1f, 1e-5f), 0);
    ck_assert_int_eq(nn_batchnorm_layer_init(&b1, &ps, &bufs, "b1", 6, 0.1f, 1e-5f), 0);
    for (int i = 0; i < ps.n; i++)
        if (ps.p[i]->n > 8)
            nn_init_uniform(ps.p[i], &r, -0.5f, 0.5f);
    float *xv = rand_buf(4 * 8 * 10 * 7, 70);
    float *grads[2][8];
    size_t used[2];
    /* one context for both: gradient tags (epochs) count per context */
    nn_ctx *c = nn_ctx_new();
    for (int mode = 0; mode < 2; mode++) {
        nn_ctx_reset(c);
        nn_params_zero_grad(&ps);
        nn_tensor *x = nn_input(c, 4, (int64_t[]){4, 8, 10, 7}, xv);
        x = nn_batchnorm_layer_fwd_lrelu(c, &b0, x, 0.2f);
        x = nn_upsample2_conv3x3(c, x, c1.w, c1.b);
        x = nn_batchnorm_layer_fwd_lrelu(c, &b1, x, 0.2f);
        x = nn_leaky_relu(c, nn_conv2d_layer_fwd(c, &c2, x), 0.2f);
        nn_tensor *loss = nn_mean(c, nn_square(c, x));
        ck_assert_ptr_nonnull(loss);
        ck_assert_int_le(ps.n, 8);
        if (mode == 0) {
            ck_assert_int_eq(nn_backward(c, loss), GS_OK);
            for (int i = 0; i < ps.n; i++)
                grads[0][i] = ps.p[i]->grad;
        } else {
            nn_tensor *g[8];
            ck_assert_msg(nn_grad(c, loss, ps.n, ps.p, g, false) == GS_OK, "%s", gs_errmsg());
            for (int i = 0; i < ps.n; i++)
                grads[1][i] = g[i]->data;
        }
        nn_ctx_stats st;
        nn_ctx_get_stats(c, &st);
        used[mode] = st.used;
        for (int i = 0; i < ps.n; i++) {
            float *keep = malloc((size_t)ps.p[i]->n * sizeof(float));
            memcpy(keep, grads[mode][i], (size_t)ps.p[i]->n * sizeof(float));
            grads[mode][i] = keep;
        }
    }
    nn_ctx_free(c);
    for (int i = 0; i < ps.n; i++) {
        for (int64_t j = 0; j < ps.p[i]->n; j++)
            ck_assert_msg(fabsf(grads[0][i][j] - grads[1][i][j]) <=
                              1e-6f * (1.0f + fabsf(grads[1][i][j])),
                          "%s[%lld]: backward %.8g vs grad %.8g", ps.p[i]->name, (long long)j,
                          grads[0][i][j], grads[1][i][j]);
        free(grads[0][i]);
        free(grads[1][i]);
    }
    ck_assert_uint_lt(used[0], used[1]);
    free(xv);
    nn_params_free(&ps);
    nn_params_free(&bufs);
}
END_TEST

START_TEST(t_shape_errors)
{
    nn_ctx *c = nn_ctx_new();
    nn_tensor *x = nn_zeros(c, 4, (int64_t[]){1, 2, 4, 4});
    nn_tensor *w = nn_zeros(c, 4, (int64_t[]){3, 3, 3, 3});
    ck_assert_ptr_null(nn_conv2d(c, x, w, NULL, 1, 1));             /* channel mismatch */
    w = nn_zeros(c, 4, (int64_t[]){3, 2, 7, 7});
    ck_assert_ptr_null(nn_conv2d(c, x, w, NULL, 1, 1));             /* kernel too big */
    ck_assert_ptr_null(nn_conv2d(c, x, w, NULL, 0, 1));             /* stride 0 */
    ck_assert_ptr_null(nn_conv2d(c, nn_zeros(c, 2, (int64_t[]){2, 2}), w, NULL, 1, 1));
    ck_assert_ptr_null(nn_conv2d(c, NULL, w, NULL, 1, 1));
    ck_assert_ptr_null(nn_conv2d_wgrad(c, x, x, 2, 2, 1, 1));       /* gy not conv-shaped */
    ck_assert_ptr_null(nn_upsample_nearest2d(c, nn_zeros(c, 2, (int64_t[]){2, 2}), 2));
    ck_assert_ptr_null(nn_pad2d(c, x, 1, 1, 4, 4));
    /* the phase ops: 3x3 weights only, matching channels, 4 C phase planes */
    ck_assert_ptr_null(nn_upsample2_conv3x3(c, x, w, NULL));        /* 7x7 kernel */
    w = nn_zeros(c, 4, (int64_t[]){3, 2, 3, 3});
    ck_assert_ptr_nonnull(nn_upsample2_conv3x3(c, x, w, NULL));
    ck_assert_ptr_null(nn_upsample2_conv3x3(c, x, w, nn_zeros(c, 1, (int64_t[]){2})));
    ck_assert_ptr_null(nn_upsample2_conv3x3(c, nn_zeros(c, 4, (int64_t[]){1, 3, 4, 4}), w, NULL));
    ck_assert_ptr_null(nn_phase_fold3x3(c, x));
    ck_assert_ptr_null(nn_phase_unfold3x3(c, w));
    ck_assert_ptr_null(nn_phase_interleave(c, x, NULL));            /* 2 channels */
    ck_assert_ptr_null(nn_phase_deinterleave(c, nn_zeros(c, 4, (int64_t[]){1, 2, 3, 4})));
    nn_ctx_free(c);
}
END_TEST

static Suite *conv_suite(void)
{
    Suite *s = suite_create("nn_conv");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 120);
    TTest const *tests[] = {t_conv2d_hand, t_conv_transpose_hand, t_conv_reference,
                            t_grad_conv2d, t_grad_conv_transpose2d, t_grad_conv_wgrad,
                            t_grad_conv_leaky_linear, t_grad_image_ops, t_grad_batchnorm,
                            t_batchnorm_fused_equals_composed,
                            t_image_values, t_phase_values, t_upconv_equals_reference,
                            t_grad_phase_ops, t_batchnorm_fold, t_batchnorm_semantics, t_layers, t_zdc_no_malloc,
                            t_backward_recycles,
                            t_shape_errors};
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        _tcase_add_test(tc, tests[i], 0, 0, 0, 1);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(conv_suite)

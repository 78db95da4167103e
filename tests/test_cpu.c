/* Run-time instruction-set dispatch (core/gs_cpu.h): detection, the
 * GANSIM_ISA cap, and the kernels' copies agreeing with each other. The
 * whole suite also runs on the x86-64-v2 copies (scripts/run-tests:
 * setting cpus=0,isa=v2). */
#include "core/gs_core.h"
#include "core/gs_cpu.h"
#include "nn/nn.h"
#include "nn/nn_internal.h"
#include "testutil.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

START_TEST(t_isa_detect_and_cap)
{
    const gs_isa hw = gs_cpu_isa_hw();
#if defined(__x86_64__)
    /* the build's baseline is x86-64-v2: a CPU running this has it */
    ck_assert_int_ge(hw, GS_ISA_V2);
    ck_assert_int_le(hw, GS_ISA_V4);
    static const char *const caps[] = {"v2", "v3", "v4"};
    for (int i = 0; i < 3; i++) {
        setenv("GANSIM_ISA", caps[i], 1);
        const int want = (2 + i) < (int)hw ? 2 + i : (int)hw; /* never above the CPU */
        ck_assert_int_eq(gs_cpu_isa_detect(), want);
        ck_assert_int_eq(gs_cpu_isa(), want);
    }
    static const char *const junk[] = {"v1", "v5", "x", "", "v2x", "V2"};
    for (int i = 0; i < 6; i++) {
        setenv("GANSIM_ISA", junk[i], 1);
        ck_assert_int_eq(gs_cpu_isa_detect(), hw); /* ignored */
    }
    unsetenv("GANSIM_ISA");
    ck_assert_int_eq(gs_cpu_isa_detect(), hw);
    ck_assert_ptr_nonnull(strstr(gs_isa_name(GS_ISA_V3), "AVX2"));
#else
    ck_assert_int_eq(hw, GS_ISA_BASE);
    ck_assert_int_eq(gs_cpu_isa(), GS_ISA_BASE);
#endif
}
END_TEST

/* Adam and RMSprop steps (GS_KERNEL copies) give the same parameters on
 * every level this CPU has: element-wise IEEE operations, no contraction in
 * ISO C mode (GCC), so to the bit with gcc and within rounding with clang. */
START_TEST(t_kernel_copies_agree)
{
    const gs_isa hw = gs_cpu_isa_hw();
    enum { N = 100003 }; /* above the threading threshold, odd: tails of every width */
    float *ref = malloc(N * sizeof(float));
    for (int kind = 0; kind < 2; kind++) {
        for (int lvl = GS_ISA_V2; lvl <= (int)hw || (hw == GS_ISA_BASE && lvl == 2); lvl++) {
            __atomic_store_n(&gs_cpu_isa_level, hw == GS_ISA_BASE ? (int)hw : lvl,
                             __ATOMIC_RELAXED);
            nn_params ps;
            nn_params_init(&ps);
            nn_tensor *p = nn_param_new(&ps, "w", 1, (int64_t[]){N});
            ck_assert_ptr_nonnull(p);
            gs_rng r;
            gs_rng_seed(&r, 5);
            gs_rng_fill_normal(&r, p->data, N, 0, 1);
            nn_optim o;
            nn_optim_cfg cfg = nn_optim_defaults(kind ? NN_OPT_RMSPROP : NN_OPT_ADAM, 1e-3f);
            cfg.weight_decay = 0.01f;
            ck_assert_int_eq(nn_optim_init(&o, &ps, &cfg), GS_OK);
            for (int step = 0; step < 3; step++) {
                gs_rng_fill_normal(&r, p->grad, N, 0, 1);
                nn_optim_step(&o);
            }
            if (lvl == GS_ISA_V2 || hw == GS_ISA_BASE) {
                memcpy(ref, p->data, N * sizeof(float));
            } else {
                for (int i = 0; i < N; i++)
                    ck_assert_msg(fabsf(p->data[i] - ref[i]) <= 1e-6f * (1 + fabsf(ref[i])),
                                  "%s at level v%d: w[%d] = %.9g, v2 gives %.9g",
                                  kind ? "rmsprop" : "adam", lvl, i, p->data[i], ref[i]);
#if defined(__GNUC__) && !defined(__clang__)
                ck_assert_mem_eq(p->data, ref, N * sizeof(float));
#endif
            }
            nn_optim_free(&o);
            nn_params_free(&ps);
            if (hw == GS_ISA_BASE)
                break;
        }
    }
    free(ref);
    gs_cpu_isa_detect();
}
END_TEST

/* ---- every dispatched nn kernel: levels agree, thread counts agree ---------------- */

/* One case: up to 5 inputs (shape, uniform range, or small integers so that
 * an sgemm before the kernel is exact whatever its blocking) and the graph
 * that runs the kernel. `sums`: the kernel adds in a different grouping per
 * vector width, so levels agree within rounding only. */
typedef struct {
    int ndim;
    int64_t shape[4];
    float lo, hi;
    bool integers;
} kin;

typedef struct {
    const char *name;
    int op; /* an elementwise op run as a bare node (0: use `run`) */
    nn_op_args arg;
    nn_tensor *(*run)(nn_ctx *c, nn_tensor **in);
    int nin;
    kin in[5];
    bool sums;
} kcase;

static nn_tensor *k_sum_channels(nn_ctx *c, nn_tensor **in) { return nn_sum_channels(c, in[0]); }
static nn_tensor *k_chan_affine(nn_ctx *c, nn_tensor **in)
{
    return nn_channel_affine(c, in[0], in[1], in[2]);
}
static nn_tensor *k_chan_affine2(nn_ctx *c, nn_tensor **in)
{
    return nn_channel_affine2(c, in[0], in[1], in[2], in[3], in[4]);
}
static nn_tensor *k_chan_dot(nn_ctx *c, nn_tensor **in) { return nn_channel_dot(c, in[0], in[1]); }
static nn_tensor *k_chan_var(nn_ctx *c, nn_tensor **in) { return nn_channel_var(c, in[0]); }
static nn_tensor *k_bn(nn_ctx *c, nn_tensor **in)
{
    return nn_batchnorm(c, in[0], in[1], in[2], NULL, NULL, 0.1f, 1e-5f);
}
static nn_tensor *k_bn_lrelu(nn_ctx *c, nn_tensor **in)
{
    return nn_batchnorm_leaky_relu(c, in[0], in[1], in[2], NULL, NULL, 0.1f, 1e-5f, 0.2f);
}
static nn_tensor *k_linear_lrelu(nn_ctx *c, nn_tensor **in)
{
    return nn_linear_leaky_relu(c, in[0], in[1], in[2], 0.2f);
}
static nn_tensor *k_conv_t(nn_ctx *c, nn_tensor **in)
{
    return nn_conv_transpose2d(c, in[0], in[1], in[2], 2, 1, 1);
}

/* 3 x 33335 = 100005 elements: above NN_PAR_MIN (threads) and odd (tails) */
#define EW_IN(l, h) {2, {3, 33335}, l, h, false}
#define CH_IN(l, h) {4, {5, 7, 61, 53}, l, h, false} /* 113155 elements, 7 channels */
#define C7_IN(l, h) {1, {7}, l, h, false}
#define EW1(n, o, l, h, ...) {n, o, {__VA_ARGS__}, NULL, 1, {EW_IN(l, h)}, false}
#define EW2(n, o, l, h, l2, h2) {n, o, {{0, 0}}, NULL, 2, {EW_IN(l, h), EW_IN(l2, h2)}, false}

static const kcase kcases[] = {
    EW2("add", NN_OP_ADD, -2, 2, -2, 2),
    EW2("sub", NN_OP_SUB, -2, 2, -2, 2),
    EW2("mul", NN_OP_MUL, -2, 2, -2, 2),
    EW2("div", NN_OP_DIV, -2, 2, 0.5f, 2),
    EW1("affine", NN_OP_AFFINE, -2, 2, .affine = {-1.5f, 0.25f}),
    EW1("square", NN_OP_SQUARE, -2, 2, .slope = 0),
    EW1("sqrt", NN_OP_SQRT, 0, 3, .slope = 0),
    EW1("abs", NN_OP_ABS, -2, 2, .slope = 0),
    EW1("exp", NN_OP_EXP, -5, 5, .slope = 0),
    EW1("log", NN_OP_LOG, 0.01f, 3, .slope = 0),
    EW1("leaky_relu", NN_OP_LEAKY_RELU, -2, 2, .slope = 0.2f),
    {"leaky_relu_bw", NN_OP_LEAKY_RELU_BW, {.slope = 0.2f}, NULL, 2,
     {EW_IN(-2, 2), EW_IN(-1, 1)}, false},
    EW1("tanh", NN_OP_TANH, -4, 4, .slope = 0),
    EW2("tanh_bw", NN_OP_TANH_BW, -2, 2, -1, 1),
    EW1("sigmoid", NN_OP_SIGMOID, -20, 20, .slope = 0),
    EW2("sigmoid_bw", NN_OP_SIGMOID_BW, -2, 2, 0, 1),
    EW1("softplus", NN_OP_SOFTPLUS, -20, 20, .slope = 0),
    EW1("sign", NN_OP_SIGN, -2, 2, .slope = 0),
    /* reduce over rows ([o, m], i = 1) and over channels ([o, m, i]) */
    {"sum_channels 2d", 0, {{0, 0}}, k_sum_channels, 1, {{2, {4099, 37}, 0.5f, 1.5f, false}}, true},
    {"sum_channels 4d", 0, {{0, 0}}, k_sum_channels, 1, {CH_IN(0.5f, 1.5f)}, true},
    {"channel_affine", 0, {{0, 0}}, k_chan_affine, 3,
     {CH_IN(-2, 2), C7_IN(-2, 2), C7_IN(-1, 1)}, false},
    {"channel_affine2", 0, {{0, 0}}, k_chan_affine2, 5,
     {CH_IN(-2, 2), CH_IN(-2, 2), C7_IN(-2, 2), C7_IN(-2, 2), C7_IN(-1, 1)}, false},
    {"channel_dot", 0, {{0, 0}}, k_chan_dot, 2, {CH_IN(0.5f, 1.5f), CH_IN(0.5f, 1.5f)}, true},
    {"channel_var", 0, {{0, 0}}, k_chan_var, 1, {CH_IN(-2, 2)}, true},
    {"batchnorm", 0, {{0, 0}}, k_bn, 3, {CH_IN(-2, 2), C7_IN(0.5f, 2), C7_IN(-1, 1)}, true},
    {"batchnorm_leaky_relu", 0, {{0, 0}}, k_bn_lrelu, 3,
     {CH_IN(-2, 2), C7_IN(0.5f, 2), C7_IN(-1, 1)}, true},
    /* small integers: the sgemm is exact, so any difference is the kernel's */
    {"linear_leaky_relu", 0, {{0, 0}}, k_linear_lrelu, 3,
     {{2, {701, 64}, -2, 2, true}, {2, {67, 64}, -2, 2, true}, {1, {67}, -1, 1, false}}, false},
    {"conv_transpose2d", 0, {{0, 0}}, k_conv_t, 3,
     {{4, {3, 16, 23, 29}, -2, 2, true}, {4, {16, 8, 3, 3}, -2, 2, true}, {1, {8}, -1, 1, false}},
     false},
};
#define N_KCASES ((int)(sizeof kcases / sizeof kcases[0]))

/* Runs case k at the current level and thread count; the output is copied to
 * *out (allocated on first use, *n set). */
static void kcase_run(const kcase *k, float **out, int64_t *n)
{
    nn_ctx *c = nn_ctx_new();
    ck_assert_ptr_nonnull(c);
    nn_set_training(c, true);
    nn_set_grad_enabled(c, false);
    nn_tensor *in[5] = {0};
    gs_rng r;
    gs_rng_seed(&r, 11);
    for (int i = 0; i < k->nin; i++) {
        const kin *d = &k->in[i];
        in[i] = nn_new(c, d->ndim, d->shape);
        ck_assert_ptr_nonnull(in[i]);
        gs_rng_fill_uniform(&r, in[i]->data, in[i]->n, d->lo, d->hi);
        if (d->integers)
            for (int64_t j = 0; j < in[i]->n; j++)
                in[i]->data[j] = roundf(in[i]->data[j]);
    }
    nn_tensor *y;
    if (k->op) {
        y = nn_node(c, k->op, in[0]->ndim, in[0]->shape, in[0], in[1], NULL, false);
        ck_assert_ptr_nonnull(y);
        y->arg = k->arg;
        y = nn_run(y);
    } else {
        y = k->run(c, in);
    }
    ck_assert_msg(y != NULL, "%s: %s", k->name, gs_errmsg());
    if (!*out) {
        *n = y->n;
        *out = malloc((size_t)y->n * sizeof(float));
    }
    ck_assert_int_eq(y->n, *n);
    memcpy(*out, y->data, (size_t)y->n * sizeof(float));
    nn_ctx_free(c);
}

/* Every nn kernel compiled with GS_KERNEL, at every level this CPU has and
 * at 1, 2 and 3 threads: at one level, the same bits for every thread count
 * (docs/architecture.md, "Determinism and threads"); between levels,
 * elementwise kernels agree to the bit with GCC (ISO C: no FMA contraction)
 * and within 2e-7 relative with clang (which contracts a * b + c into an
 * FMA at v3 and up), kernels that sum within 1e-5 relative (wider vectors
 * group the partial sums differently). */
START_TEST(t_nn_kernels_agree)
{
    const gs_isa hw = gs_cpu_isa_hw();
    const int top = hw == GS_ISA_BASE ? GS_ISA_V2 : (int)hw;
    const int saved_threads = nn_get_threads();
    for (int ki = 0; ki < N_KCASES; ki++) {
        const kcase *k = &kcases[ki];
        float *ref = NULL, *lvl1 = NULL, *got = NULL;
        int64_t n = 0;
        for (int lvl = GS_ISA_V2; lvl <= top; lvl++) {
            __atomic_store_n(&gs_cpu_isa_level, hw == GS_ISA_BASE ? (int)hw : lvl,
                             __ATOMIC_RELAXED);
            for (int t = 1; t <= 3; t++) {
                nn_set_threads(t);
                float **dst = lvl == GS_ISA_V2 && t == 1 ? &ref : t == 1 ? &lvl1 : &got;
                kcase_run(k, dst, &n);
                /* (the first bad element is searched without Check: each
                 * ck_assert costs Check a write to its log) */
                int64_t i = 0;
                if (t > 1) { /* the same bits as one thread at this level */
                    const float *one = lvl == GS_ISA_V2 ? ref : lvl1;
                    while (i < n && memcmp(&got[i], &one[i], sizeof(float)) == 0)
                        i++;
                    ck_assert_msg(i == n, "%s at v%d, %d threads: y[%lld] = %.9g, 1 thread %.9g",
                                  k->name, lvl, t, (long long)i, got[i], one[i]);
                } else if (lvl > GS_ISA_V2) {
                    const float rtol = k->sums ? 1e-5f : 2e-7f;
                    while (i < n && fabsf(lvl1[i] - ref[i]) <= rtol * (1 + fabsf(ref[i])))
                        i++;
                    ck_assert_msg(i == n, "%s at v%d: y[%lld] = %.9g, v2 gives %.9g", k->name,
                                  lvl, (long long)i, lvl1[i], ref[i]);
#if defined(__GNUC__) && !defined(__clang__)
                    if (!k->sums)
                        ck_assert_msg(memcmp(lvl1, ref, (size_t)n * sizeof(float)) == 0,
                                      "%s at v%d differs from v2 in the last bits", k->name,
                                      lvl);
#endif
                }
            }
        }
        free(ref);
        free(lvl1);
        free(got);
    }
    nn_set_threads(saved_threads);
    gs_cpu_isa_detect();
}
END_TEST

/* The OpenBLAS advice follows what OpenBLAS chose and what the CPU has, and
 * goes quiet once the user set OPENBLAS_CORETYPE. (OpenBLAS read the
 * variable when it loaded, so setting it here changes only the advice.) */
START_TEST(t_blas_advice)
{
    const char *core = openblas_get_corename();
    ck_assert_ptr_nonnull(core);
    const char *a = nn_blas_advice();
    const int pre_avx = strcmp(core, "Prescott") == 0 || strcmp(core, "Core2") == 0 ||
                        strcmp(core, "Nehalem") == 0 || strcmp(core, "Penryn") == 0;
    if (getenv("OPENBLAS_CORETYPE") || gs_cpu_isa() < GS_ISA_V3 || !pre_avx) {
        ck_assert_ptr_null(a);
    } else {
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(strstr(a, core));
        ck_assert_ptr_nonnull(strstr(a, gs_cpu_isa() >= GS_ISA_V4 ? "OPENBLAS_CORETYPE=SkylakeX"
                                                                   : "OPENBLAS_CORETYPE=Haswell"));
    }
    const char *saved = getenv("OPENBLAS_CORETYPE");
    setenv("OPENBLAS_CORETYPE", "Haswell", 1);
    ck_assert_ptr_null(nn_blas_advice());
    if (saved)
        setenv("OPENBLAS_CORETYPE", saved, 1);
    else
        unsetenv("OPENBLAS_CORETYPE");
}
END_TEST

static Suite *cpu_suite(void)
{
    Suite *s = suite_create("cpu");
    TCase *tc = tcase_create("cpu");
    tcase_set_timeout(tc, 60); /* 28 ops x 3 levels x 3 thread counts; sanitizers, valgrind */
    tcase_add_test(tc, t_isa_detect_and_cap);
    tcase_add_test(tc, t_kernel_copies_agree);
    tcase_add_test(tc, t_nn_kernels_agree);
    tcase_add_test(tc, t_blas_advice);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(cpu_suite)

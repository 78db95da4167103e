/* Every dense op: forward against hand-computed values, first-order
 * gradient against central differences, and second order (gradient of a
 * function of the gradient) — see gradcheck.h. */
#include "gradcheck.h"
#include "nn/nn_internal.h"

#define X0 in[0]
#define X1 in[1]
#define X2 in[2]

/* One input [3, 4] in [lo, hi] away from |x| < gap. */
#define UNARY(name, expr, lo, hi, gap, second)                                             \
    static nn_tensor *b_##name(nn_ctx *c, nn_tensor **in, const void *ud) { return expr; } \
    START_TEST(t_##name)                                                                   \
    {                                                                                      \
        float x[12];                                                                       \
        gc_fill(x, 12, 1, lo, hi, gap);                                                    \
        gc_case k = {.nin = 1, .ndim = {2}, .shape = {{3, 4}}, .x = {x}};                  \
        gc_check(b_##name, &k, second, #name);                                             \
    }                                                                                      \
    END_TEST

/* Two inputs of shapes s0 (rank r0) and s1 (rank r1). */
#define BINARY(name, expr, r0, s0, r1, s1, lo, hi, gap, second)                            \
    static nn_tensor *b_##name(nn_ctx *c, nn_tensor **in, const void *ud) { return expr; } \
    START_TEST(t_##name)                                                                   \
    {                                                                                      \
        float a[64], b[64];                                                                \
        gc_fill(a, 64, 2, lo, hi, gap);                                                    \
        gc_fill(b, 64, 3, lo, hi, gap);                                                    \
        gc_case k = {.nin = 2, .ndim = {r0, r1}, .shape = {s0, s1}, .x = {a, b}};          \
        gc_check(b_##name, &k, second, #name);                                             \
    }                                                                                      \
    END_TEST

#define S(...) {__VA_ARGS__}

UNARY(affine, nn_affine(c, X0, -1.5f, 0.25f), -2, 2, 0, true)
UNARY(square, nn_square(c, X0), -2, 2, 0, true)
UNARY(sqrt, nn_sqrt(c, X0), 0.5f, 3, 0, true)
UNARY(abs, nn_abs(c, X0), -2, 2, 0.1f, true)
UNARY(exp, nn_exp(c, X0), -2, 1, 0, true)
UNARY(log, nn_log(c, X0), 0.5f, 3, 0, true)
UNARY(relu, nn_relu(c, X0), -2, 2, 0.1f, true)
UNARY(leaky_relu, nn_leaky_relu(c, X0, 0.2f), -2, 2, 0.1f, true)
UNARY(tanh, nn_tanh(c, X0), -2, 2, 0, true)
UNARY(sigmoid, nn_sigmoid(c, X0), -3, 3, 0, true)
UNARY(softplus, nn_softplus(c, X0), -3, 3, 0, true)
UNARY(sum, nn_sum(c, X0), -2, 2, 0, true)
UNARY(mean, nn_mean(c, X0), -2, 2, 0, true)
UNARY(sum_rows, nn_sum_rows(c, X0), -2, 2, 0, true)
UNARY(sum_channels, nn_sum_channels(c, X0), -2, 2, 0, true)
UNARY(reshape, nn_reshape(c, X0, 3, (int64_t[]){2, 3, 2}), -2, 2, 0, true)
UNARY(slice, nn_slice(c, X0, 1, 2), -2, 2, 0, true)
UNARY(expand_rows, nn_expand_rows(c, nn_sum_rows(c, X0), 2, (int64_t[]){3, 5}), -2, 2, 0, true)
UNARY(expand_scalar, nn_expand_scalar(c, nn_mean(c, X0), 2, (int64_t[]){2, 2}), -2, 2, 0, true)
UNARY(layernorm, nn_layernorm(c, X0, NULL, NULL, 1e-5f), -2, 2, 0, true)
/* the gradient-penalty expression itself: (||x_row||_2 - 1)^2 */
UNARY(row_norm_penalty,
      nn_square(c, nn_add_scalar(c, nn_sqrt(c, nn_add_scalar(c, nn_sum_rows(c, nn_square(c, X0)),
                                                             1e-12f)), -1.0f)),
      -2, 2, 0, true)

BINARY(add, nn_add(c, X0, X1), 2, S(3, 4), 2, S(3, 4), -2, 2, 0, true)
BINARY(sub, nn_sub(c, X0, X1), 2, S(3, 4), 2, S(3, 4), -2, 2, 0, true)
BINARY(mul, nn_mul(c, X0, X1), 2, S(3, 4), 2, S(3, 4), -2, 2, 0, true)
BINARY(div, nn_div(c, X0, X1), 2, S(3, 4), 2, S(3, 4), 0.5f, 2, 0, true)
BINARY(matmul_nn, nn_matmul(c, X0, X1, false, false), 2, S(3, 4), 2, S(4, 2), -2, 2, 0, true)
BINARY(matmul_tn, nn_matmul(c, X0, X1, true, false), 2, S(4, 3), 2, S(4, 2), -2, 2, 0, true)
BINARY(matmul_nt, nn_matmul(c, X0, X1, false, true), 2, S(3, 4), 2, S(2, 4), -2, 2, 0, true)
BINARY(matmul_tt, nn_matmul(c, X0, X1, true, true), 2, S(4, 3), 2, S(2, 4), -2, 2, 0, true)
BINARY(linear_nobias, nn_linear(c, X0, X1, NULL), 2, S(3, 4), 2, S(5, 4), -2, 2, 0, true)
BINARY(concat2d, nn_concat(c, X0, X1), 2, S(3, 4), 2, S(3, 2), -2, 2, 0, true)
BINARY(concat4d, nn_concat(c, X0, X1), 4, S(2, 1, 2, 3), 4, S(2, 2, 2, 3), -2, 2, 0, true)
BINARY(expand_channels,
       nn_mul(c, X0, nn_expand_channels(c, X1, 4, (int64_t[]){2, 3, 2, 2})), 4, S(2, 3, 2, 2),
       1, S(3), -2, 2, 0, true)
static nn_tensor *b_chan_affine(nn_ctx *c, nn_tensor **in, const void *ud)
{
    const int which = *(const int *)ud;   /* bit 0: scale, bit 1: shift */
    return nn_channel_affine(c, nn_tanh(c, X0), which & 1 ? X1 : NULL, which & 2 ? X2 : NULL);
}
START_TEST(t_channel_affine)
{
    static const int which[] = {3, 1, 2};
    for (int w = 0; w < 3; w++) {
        for (int rank = 2; rank <= 4; rank += 2) {
            float x[24], s[3], t[3];
            gc_fill(x, 24, 11, -2, 2, 0);
            gc_fill(s, 3, 12, -1.5f, 1.5f, 0);
            gc_fill(t, 3, 13, -1, 1, 0);
            gc_case k = {.nin = 3, .ndim = {rank, 1, 1},
                         .shape = {{rank == 4 ? 2 : 8, 3, 2, 2}, {3}, {3}},
                         .x = {x, s, t}, .ud = &which[w]};
            gc_check(b_chan_affine, &k, true, "channel_affine");
        }
    }
    /* equals the materialised broadcasts */
    nn_ctx *c = nn_ctx_new();
    float xv[24], sv[3] = {2, -1, 0.5f}, tv[3] = {1, 2, 3};
    gc_fill(xv, 24, 14, -2, 2, 0);
    const int64_t sh[4] = {2, 3, 2, 2};
    nn_tensor *x = nn_input(c, 4, sh, xv), *s = nn_input(c, 1, (int64_t[]){3}, sv);
    nn_tensor *t = nn_input(c, 1, (int64_t[]){3}, tv);
    nn_tensor *y = nn_channel_affine(c, x, s, t);
    nn_tensor *r = nn_add(c, nn_mul(c, x, nn_expand_channels(c, s, 4, sh)),
                          nn_expand_channels(c, t, 4, sh));
    for (int i = 0; i < 24; i++)
        ck_assert_close(y->data[i], r->data[i], 1e-6, 1e-6);
    ck_assert_ptr_null(nn_channel_affine(c, x, x, NULL));
    nn_ctx_free(c);
}
END_TEST
BINARY(sum_channels4d, nn_mul(c, nn_sum_channels(c, X0), X1), 4, S(2, 3, 2, 2), 1, S(3), -2, 2,
       0, true)
BINARY(bce_with_logits, nn_bce_with_logits(c, X0, nn_sigmoid(c, X1)), 2, S(4, 2), 2, S(4, 2), -3,
       3, 0, true)
BINARY(mse, nn_mse(c, X0, X1), 2, S(3, 4), 2, S(3, 4), -2, 2, 0, true)
BINARY(l1, nn_l1(c, X0, X1), 2, S(3, 4), 2, S(3, 4), -2, 2, 0, true)

static nn_tensor *b_linear(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_leaky_relu(c, nn_linear(c, X0, X1, X2), 0.2f);
}

START_TEST(t_linear)
{
    float x[12], w[20], b[5];
    gc_fill(x, 12, 4, -2, 2, 0);
    gc_fill(w, 20, 5, -1, 1, 0);
    gc_fill(b, 5, 6, -1, 1, 0);
    gc_case k = {.nin = 3, .ndim = {2, 2, 1}, .shape = {{3, 4}, {5, 4}, {5}}, .x = {x, w, b}};
    gc_check(b_linear, &k, true, "linear+leaky_relu");
}
END_TEST

static nn_tensor *b_layernorm_affine(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_layernorm(c, X0, X1, X2, 1e-5f);
}

/* The fused op against the same check; slope 0 (ReLU) and a negative slope
 * (falls back to the two ops) too. */
static nn_tensor *b_linear_lrelu(nn_ctx *c, nn_tensor **in, const void *ud)
{
    return nn_linear_leaky_relu(c, X0, X1, X2, *(const float *)ud);
}
START_TEST(t_linear_leaky_relu)
{
    static const float slopes[] = {0.2f, 0.0f, -0.5f};
    for (int s = 0; s < 3; s++) {
        float x[12], w[20], b[5];
        gc_fill(x, 12, 4, -2, 2, 0);
        gc_fill(w, 20, 5, -1, 1, 0);
        gc_fill(b, 5, 6, -1, 1, 0);
        gc_case k = {.nin = 3, .ndim = {2, 2, 1}, .shape = {{3, 4}, {5, 4}, {5}},
                     .x = {x, w, b}, .ud = &slopes[s]};
        gc_check(b_linear_lrelu, &k, true, "linear_leaky_relu");
    }
    /* same values as linear then leaky_relu, also without bias */
    nn_ctx *c = nn_ctx_new();
    float xv[12], wv[20], bv[5];
    gc_fill(xv, 12, 7, -2, 2, 0);
    gc_fill(wv, 20, 8, -1, 1, 0);
    gc_fill(bv, 5, 9, -1, 1, 0);
    nn_tensor *x = nn_input(c, 2, (int64_t[]){3, 4}, xv), *w = nn_input(c, 2, (int64_t[]){5, 4}, wv);
    nn_tensor *b = nn_input(c, 1, (int64_t[]){5}, bv);
    for (int wb = 0; wb < 2; wb++) {
        nn_tensor *f = nn_linear_leaky_relu(c, x, w, wb ? b : NULL, 0.2f);
        nn_tensor *r = nn_leaky_relu(c, nn_linear(c, x, w, wb ? b : NULL), 0.2f);
        ck_assert_ptr_nonnull(f);
        for (int i = 0; i < 15; i++)
            ck_assert_close(f->data[i], r->data[i], 1e-6, 1e-6);
    }
    ck_assert_ptr_null(nn_linear_leaky_relu(c, x, w, x, 0.2f)); /* bias of 12 for 5 outputs */
    nn_ctx_free(c);
}
END_TEST

START_TEST(t_layernorm_affine)
{
    float x[12], g[4], b[4];
    gc_fill(x, 12, 7, -2, 2, 0);
    gc_fill(g, 4, 8, 0.5f, 1.5f, 0);
    gc_fill(b, 4, 9, -1, 1, 0);
    gc_case k = {.nin = 3, .ndim = {2, 1, 1}, .shape = {{3, 4}, {4}, {4}}, .x = {x, g, b}};
    gc_check(b_layernorm_affine, &k, true, "layernorm(gamma, beta)");
}
END_TEST

/* Dropout draws its mask from an RNG seeded inside the build, so every
 * evaluation of the check sees the same mask. */
static nn_tensor *b_dropout(nn_ctx *c, nn_tensor **in, const void *ud)
{
    gs_rng r;
    gs_rng_seed(&r, 99);
    return nn_dropout(c, nn_tanh(c, X0), 0.5f, &r);
}

START_TEST(t_dropout_grad)
{
    float x[12];
    gc_fill(x, 12, 10, -2, 2, 0);
    gc_case k = {.nin = 1, .ndim = {2}, .shape = {{3, 4}}, .x = {x}};
    gc_check(b_dropout, &k, true, "dropout");
}
END_TEST

/* ---- forward values ---------------------------------------------------- */
START_TEST(t_forward_values)
{
    nn_ctx *c = nn_ctx_new();
    float xa[6] = {-2, -0.5f, 0, 0.5f, 1, 3};
    nn_tensor *x = nn_input(c, 2, (int64_t[]){2, 3}, xa);
    struct {
        nn_tensor *t;
        double (*ref)(double);
        const char *name;
    } u[] = {
        {nn_exp(c, x), exp, "exp"},
        {nn_tanh(c, x), tanh, "tanh"},
        {nn_abs(c, x), fabs, "abs"},
    };
    for (size_t k = 0; k < sizeof u / sizeof u[0]; k++)
        for (int i = 0; i < 6; i++)
            ck_assert_close(u[k].t->data[i], u[k].ref(xa[i]), 1e-6, 1e-6);
    nn_tensor *lr = nn_leaky_relu(c, x, 0.2f), *sg = nn_sigmoid(c, x), *sp = nn_softplus(c, x);
    nn_tensor *sq = nn_square(c, x), *af = nn_affine(c, x, 2, 1), *sn = nn_sign(c, x);
    for (int i = 0; i < 6; i++) {
        double v = xa[i];
        ck_assert_close(lr->data[i], v > 0 ? v : 0.2 * v, 1e-7, 0);
        ck_assert_close(sg->data[i], 1 / (1 + exp(-v)), 1e-7, 1e-6);
        ck_assert_close(sp->data[i], log1p(exp(v)), 1e-6, 1e-6);
        ck_assert_close(sq->data[i], v * v, 0, 1e-7);
        ck_assert_close(af->data[i], 2 * v + 1, 0, 1e-7);
        ck_assert_close(sn->data[i], (v > 0) - (v < 0), 0, 0);
    }
    /* softplus stays finite far out, where the naive form overflows */
    nn_tensor *big = nn_softplus(c, nn_input(c, 1, (int64_t[]){2}, (float[]){100, -100}));
    ck_assert_close(big->data[0], 100, 1e-4, 0);
    ck_assert_close(big->data[1], 0, 1e-30, 0);

    /* [[1,2,3],[4,5,6]] x [[1,0],[0,1],[1,1]] = [[4,5],[10,11]] */
    nn_tensor *a = nn_input(c, 2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    nn_tensor *b = nn_input(c, 2, (int64_t[]){3, 2}, (float[]){1, 0, 0, 1, 1, 1});
    nn_tensor *m = nn_matmul(c, a, b, false, false);
    const float mref[4] = {4, 5, 10, 11};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(m->data[i], mref[i]);
    /* linear: x W^T + b with W = b^T */
    nn_tensor *w = nn_input(c, 2, (int64_t[]){2, 3}, (float[]){1, 0, 1, 0, 1, 1});
    nn_tensor *bias = nn_input(c, 1, (int64_t[]){2}, (float[]){10, 20});
    nn_tensor *l = nn_linear(c, a, w, bias);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(l->data[i], mref[i] + (i % 2 ? 20 : 10));
    /* concat / slice / reductions */
    nn_tensor *cat = nn_concat(c, a, m);
    const float cref[10] = {1, 2, 3, 4, 5, 4, 5, 6, 10, 11};
    for (int i = 0; i < 10; i++)
        ck_assert_float_eq(cat->data[i], cref[i]);
    nn_tensor *sl = nn_slice(c, a, 1, 2);
    const float sref[4] = {2, 3, 5, 6};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(sl->data[i], sref[i]);
    ck_assert_float_eq(nn_sum(c, a)->data[0], 21);
    ck_assert_float_eq(nn_mean(c, a)->data[0], 3.5f);
    nn_tensor *sr = nn_sum_rows(c, a), *sc = nn_sum_channels(c, a);
    ck_assert_float_eq(sr->data[0], 6);
    ck_assert_float_eq(sr->data[1], 15);
    ck_assert_float_eq(sc->data[0], 5);
    ck_assert_float_eq(sc->data[2], 9);
    /* losses */
    nn_tensor *t0 = nn_input(c, 1, (int64_t[]){2}, (float[]){0, 1});
    nn_tensor *z = nn_input(c, 1, (int64_t[]){2}, (float[]){0.5f, -1});
    double bce = (log1p(exp(0.5)) + log1p(exp(1.0))) / 2;
    ck_assert_close(nn_bce_with_logits(c, z, t0)->data[0], bce, 1e-6, 1e-6);
    ck_assert_close(nn_mse(c, z, t0)->data[0], (0.25 + 4) / 2, 1e-7, 1e-6);
    ck_assert_close(nn_l1(c, z, t0)->data[0], (0.5 + 2) / 2, 1e-7, 1e-6);
    /* layernorm: each row has mean 0 and variance 1 */
    nn_tensor *ln = nn_layernorm(c, a, NULL, NULL, 0);
    for (int r = 0; r < 2; r++) {
        double s = 0, s2 = 0;
        for (int j = 0; j < 3; j++) {
            s += ln->data[r * 3 + j];
            s2 += ln->data[r * 3 + j] * ln->data[r * 3 + j];
        }
        ck_assert_close(s / 3, 0, 1e-6, 0);
        ck_assert_close(s2 / 3, 1, 1e-5, 0);
    }
    nn_ctx_free(c);
}
END_TEST

START_TEST(t_shape_errors)
{
    nn_ctx *c = nn_ctx_new();
    nn_tensor *a = nn_zeros(c, 2, (int64_t[]){2, 3});
    nn_tensor *b = nn_zeros(c, 2, (int64_t[]){3, 2});
    ck_assert_ptr_null(nn_add(c, a, b));
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "add"));
    ck_assert_ptr_null(nn_matmul(c, a, a, false, false));
    ck_assert_ptr_null(nn_slice(c, a, 2, 2));
    ck_assert_ptr_null(nn_reshape(c, a, 1, (int64_t[]){5}));
    /* failures propagate through later ops instead of crashing */
    nn_tensor *bad = nn_add(c, a, b);
    ck_assert_ptr_null(nn_tanh(c, nn_mul(c, bad, a)));
    ck_assert_int_ne(nn_backward(c, nn_sum(c, bad)), GS_OK);
    ck_assert_int_ne(nn_backward(c, a), GS_OK); /* not a scalar */
    nn_ctx_free(c);
}
END_TEST

START_TEST(t_dropout_semantics)
{
    nn_ctx *c = nn_ctx_new();
    gs_rng r;
    gs_rng_seed(&r, 5);
    const int64_t n = 20000;
    nn_tensor *x = nn_new(c, 2, (int64_t[]){100, 200});
    for (int64_t i = 0; i < n; i++)
        x->data[i] = 1.0f;
    nn_tensor *y = nn_dropout(c, x, 0.25f, &r);
    int64_t zeros = 0;
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        zeros += y->data[i] == 0.0f;
        ck_assert(y->data[i] == 0.0f || fabsf(y->data[i] - 1.0f / 0.75f) < 1e-6f);
        s += y->data[i];
    }
    ck_assert_close((double)zeros / n, 0.25, 0.015, 0);
    ck_assert_close(s / n, 1.0, 0.02, 0); /* inverted dropout keeps the mean */
    /* the backward pass reuses the forward mask: grad is exactly mask/(1-p) */
    nn_set_requires_grad(x, true);
    nn_tensor *g;
    nn_tensor *y2 = nn_dropout(c, x, 0.25f, &r);
    ck_assert_int_eq(nn_grad(c, nn_sum(c, y2), 1, &x, &g, false), GS_OK);
    for (int64_t i = 0; i < n; i++)
        ck_assert_float_eq(g->data[i], y2->data[i]);
    /* the mask is drawn in parallel blocks: the same at 1 and 2 threads,
     * also with an odd element count (a block ends mid-pair) */
    const int saved = nn_get_threads();
    nn_tensor *big = nn_new(c, 1, (int64_t[]){100001});
    for (int64_t i = 0; i < big->n; i++)
        big->data[i] = 1.0f;
    nn_tensor *m[2];
    for (int t = 0; t < 2; t++) {
        nn_set_threads(t + 1);
        gs_rng_seed(&r, 9);
        m[t] = nn_dropout(c, big, 0.3f, &r);
    }
    nn_set_threads(saved);
    ck_assert_int_eq(memcmp(m[0]->data, m[1]->data, (size_t)big->n * sizeof(float)), 0);
    int64_t dropped = 0;
    for (int64_t i = 0; i < big->n; i++)
        dropped += m[0]->data[i] == 0.0f;
    ck_assert_close((double)dropped / (double)big->n, 0.3, 0.01, 0);
    /* eval mode: identity */
    nn_set_training(c, false);
    ck_assert_ptr_eq(nn_dropout(c, x, 0.25f, &r), x);
    nn_ctx_free(c);
}
END_TEST

/* Every op has a complete row (name, sources, kernel, rule), and the check
 * that says so fails on a row with a hole. */
START_TEST(t_op_table_complete)
{
    ck_assert_int_eq(nn_op_table_check(), GS_OK);
    for (int op = 1; op < NN_OP_COUNT; op++) {
        ck_assert_ptr_nonnull(nn_op_table[op]);
        ck_assert_ptr_nonnull(nn_op_table[op]->name);
        ck_assert_ptr_nonnull(nn_op_table[op]->bwd);
        ck_assert(nn_op_table[op]->fwd || op == NN_OP_RESHAPE);
        for (int o2 = 1; o2 < op; o2++) /* one row per op: no copy-pasted rows */
            ck_assert_ptr_ne(nn_op_table[op], nn_op_table[o2]);
    }
    const nn_op_def *rows[NN_OP_COUNT];
    memcpy(rows, nn_op_table, sizeof rows);
    const nn_op_def no_rule = {"tanh", 1, nn_op_table[NN_OP_TANH]->fwd, NULL};
    rows[NN_OP_TANH] = &no_rule;
    ck_assert_int_eq(nn_op_rows_check(rows, NN_OP_COUNT), GS_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "tanh"));
    const nn_op_def no_kernel = {"add", 2, NULL, nn_op_table[NN_OP_ADD]->bwd};
    memcpy(rows, nn_op_table, sizeof rows);
    rows[NN_OP_ADD] = &no_kernel;
    ck_assert_int_eq(nn_op_rows_check(rows, NN_OP_COUNT), GS_ERR_STATE);
    rows[NN_OP_ADD] = NULL;
    ck_assert_int_eq(nn_op_rows_check(rows, NN_OP_COUNT), GS_ERR_STATE);
}
END_TEST

static Suite *ops_suite(void)
{
    Suite *s = suite_create("nn_ops");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 60);
    TTest const *tests[] = {
        t_affine, t_square, t_sqrt, t_abs, t_exp, t_log, t_relu, t_leaky_relu, t_tanh,
        t_sigmoid, t_softplus, t_sum, t_mean, t_sum_rows, t_sum_channels, t_reshape, t_slice,
        t_expand_rows, t_expand_scalar, t_layernorm, t_row_norm_penalty, t_add, t_sub, t_mul,
        t_div, t_matmul_nn, t_matmul_tn, t_matmul_nt, t_matmul_tt, t_linear_nobias,
        t_concat2d, t_concat4d, t_expand_channels, t_sum_channels4d, t_bce_with_logits, t_mse,
        t_l1, t_linear, t_linear_leaky_relu, t_channel_affine, t_layernorm_affine, t_dropout_grad, t_forward_values, t_shape_errors,
        t_dropout_semantics, t_op_table_complete};
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        _tcase_add_test(tc, tests[i], 0, 0, 0, 1);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(ops_suite)

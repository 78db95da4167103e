/* nn_spectral_norm: forward values against singular values computed here
 * independently (power iteration on W^T W in double, and a matrix with known
 * singular values), the training-mode update of u, evaluation mode leaving u
 * alone, first- and second-order gradients against central differences
 * (gradcheck.h), its use inside a conv/linear critic, and argument errors. */
#include "gradcheck.h"
#include "nn/nn_specnorm.h"

/* the largest singular value of W [out, k] from 2000 iterations on W^T W */
static double sigma_max(const float *w, int64_t out, int64_t k)
{
    double v[64], t[64], lam = 0;
    for (int64_t j = 0; j < k; j++)
        v[j] = 1.0 + 0.1 * (double)j;
    for (int it = 0; it < 2000; it++) {
        double n = 0;
        for (int64_t j = 0; j < k; j++) {
            double s = 0;
            for (int64_t i = 0; i < out; i++) {
                double wv = 0;
                for (int64_t l = 0; l < k; l++)
                    wv += w[i * k + l] * v[l];
                s += w[i * k + j] * wv;
            }
            t[j] = s;
            n += s * s;
        }
        n = sqrt(n);
        lam = n; /* |W^T W v| for unit v -> σ² */
        for (int64_t j = 0; j < k; j++)
            v[j] = t[j] / n;
    }
    return sqrt(lam);
}

START_TEST(t_forward_known)
{
    /* rows scaled by 3, 2, 0.5 of an orthonormal set: singular values 3, 2, 0.5 */
    const float s2 = 0.70710678f;
    float w[3 * 4] = {3 * s2, 3 * s2, 0, 0, 2 * s2, -2 * s2, 0, 0, 0, 0, 0.5f, 0};
    nn_ctx *c = nn_ctx_new();
    nn_set_training(c, true);
    nn_tensor *wt = nn_input(c, 2, (int64_t[]){3, 4}, w);
    const float ub[3] = {0.2f, 0.9f, 0.4f};
    nn_params ps; /* u outlives the context resets, as a layer's buffer does */
    nn_params_init(&ps);
    nn_tensor *u = nn_param_new(&ps, "u", 1, (int64_t[]){3});
    memcpy(u->data, ub, sizeof ub);
    nn_tensor *y = NULL;
    for (int it = 0; it < 30; it++) {
        nn_ctx_reset(c);
        wt = nn_input(c, 2, (int64_t[]){3, 4}, w);
        y = nn_spectral_norm(c, wt, u, 1, 1e-12f);
        ck_assert_ptr_nonnull(y);
    }
    /* u converged to the first left singular vector, y = W / 3 */
    ck_assert_close(fabs(u->data[0]), 1.0, 1e-4, 0);
    ck_assert_close(nn_spectral_norm_sigma(wt, u, 1e-12f), 3.0, 1e-5, 0);
    for (int i = 0; i < 12; i++)
        ck_assert_close(y->data[i], w[i] / 3.0, 1e-5, 1e-7);
    /* evaluation mode: u is not touched, σ = |W^T u| of the given u */
    float u2[3] = {0.6f, 0.8f, 0.0f};
    memcpy(u->data, u2, sizeof u2);
    nn_set_training(c, false);
    nn_ctx_reset(c);
    wt = nn_input(c, 2, (int64_t[]){3, 4}, w);
    y = nn_spectral_norm(c, wt, u, 5, 1e-12f);
    ck_assert_mem_eq(u->data, u2, sizeof u2);
    const double sig = sqrt(0.36 * 9 + 0.64 * 4); /* |W^T u| = |(0.6·3, 0.8·2)| */
    for (int i = 0; i < 12; i++)
        ck_assert_close(y->data[i], w[i] / sig, 1e-5, 1e-7);
    nn_params_free(&ps);
    nn_ctx_free(c);
}
END_TEST

START_TEST(t_forward_random_conv_weight)
{
    /* a conv weight [6, 2, 3, 3] (K = 18): after enough training-mode calls
     * σ is the largest singular value and the result has spectral norm 1 */
    enum { O = 6, K = 18 };
    float w[O * K];
    gs_rng r;
    gs_rng_seed(&r, 5);
    gs_rng_fill_uniform(&r, w, O * K, -1, 1);
    const double smax = sigma_max(w, O, K);
    nn_ctx *c = nn_ctx_new();
    nn_set_training(c, true);
    nn_params ps;
    nn_params_init(&ps);
    nn_tensor *u = nn_param_new(&ps, "u", 1, (int64_t[]){O});
    nn_spectral_norm_init_u(u, &r);
    double n = 0;
    for (int i = 0; i < O; i++)
        n += (double)u->data[i] * u->data[i];
    ck_assert_close(n, 1.0, 1e-6, 0);
    float ukeep[O];
    memcpy(ukeep, u->data, sizeof ukeep);
    nn_tensor *y = NULL;
    double first = 0;
    for (int it = 0; it < 50; it++) {
        nn_ctx_reset(c);
        nn_tensor *wt = nn_input(c, 4, (int64_t[]){O, 2, 3, 3}, w);
        y = nn_spectral_norm(c, wt, u, 1, 1e-12f);
        ck_assert_ptr_nonnull(y);
        ck_assert_int_eq(y->ndim, 4);
        if (it == 0) {
            first = w[0] / y->data[0];
            ck_assert(memcmp(ukeep, u->data, sizeof ukeep) != 0); /* u was updated */
        }
    }
    ck_assert_double_le(first, smax * (1 + 1e-6)); /* σ estimates never exceed σ_max */
    ck_assert_close(w[0] / y->data[0], smax, 1e-4, 0);
    ck_assert_close(sigma_max(y->data, O, K), 1.0, 1e-4, 0);
    nn_params_free(&ps);
    nn_ctx_free(c);
}
END_TEST

/* gradients: u fixed (evaluation mode), so the op is a function of W alone */
static float g_u[4] = {0.5f, -0.5f, 0.5f, 0.5f};

static nn_tensor *b_sn_matrix(nn_ctx *c, nn_tensor **in, const void *ud)
{
    nn_set_training(c, false);
    nn_tensor *u = nn_input(c, 1, (int64_t[]){4}, g_u);
    return nn_spectral_norm(c, in[0], u, 1, 1e-12f);
}

START_TEST(t_grad_matrix)
{
    float w[4 * 3];
    gc_fill(w, 12, 7, -1, 1, 0);
    gc_case k = {.nin = 1, .ndim = {2}, .shape = {{4, 3}}, .x = {w}};
    gc_check(b_sn_matrix, &k, true, "spectral_norm [4,3]");
}
END_TEST

/* inside a critic: leaky(conv(x, SN(w))) -> linear(SN(v)); gradients in x,
 * w and v, second order too (what a gradient penalty differentiates) */
static float g_u2[2] = {0.6f, 0.8f};
static float g_u1[1] = {1.0f};

static nn_tensor *b_sn_critic(nn_ctx *c, nn_tensor **in, const void *ud)
{
    nn_set_training(c, false);
    nn_tensor *u2 = nn_input(c, 1, (int64_t[]){2}, g_u2);
    nn_tensor *u1 = nn_input(c, 1, (int64_t[]){1}, g_u1);
    nn_tensor *h = nn_conv2d(c, in[0], nn_spectral_norm(c, in[1], u2, 1, 1e-12f), NULL, 2, 1);
    h = nn_flatten(c, nn_leaky_relu(c, h, 0.2f));
    return nn_linear(c, h, nn_spectral_norm(c, in[2], u1, 1, 1e-12f), NULL);
}

START_TEST(t_grad_critic)
{
    float x[1 * 1 * 4 * 4], w[2 * 1 * 3 * 3], v[1 * 8];
    gc_fill(x, 16, 11, -1, 1, 0);
    gc_fill(w, 18, 12, -1, 1, 0.05f);
    gc_fill(v, 8, 13, -1, 1, 0);
    gc_case k = {.nin = 3,
                 .ndim = {4, 4, 2},
                 .shape = {{1, 1, 4, 4}, {2, 1, 3, 3}, {1, 8}},
                 .x = {x, w, v}};
    gc_check(b_sn_critic, &k, true, "spectral_norm critic");
}
END_TEST

START_TEST(t_errors)
{
    nn_ctx *c = nn_ctx_new();
    float w[6] = {1, 2, 3, 4, 5, 6}, u[3] = {1, 0, 0};
    nn_tensor *wt = nn_input(c, 2, (int64_t[]){2, 3}, w);
    nn_tensor *u3 = nn_input(c, 1, (int64_t[]){3}, u);
    nn_tensor *u2 = nn_input(c, 1, (int64_t[]){2}, u);
    nn_tensor *w1 = nn_input(c, 1, (int64_t[]){6}, w);
    ck_assert_ptr_null(nn_spectral_norm(c, wt, u3, 1, 1e-12f));
    ck_assert_ptr_null(nn_spectral_norm(c, w1, u2, 1, 1e-12f));
    ck_assert_ptr_null(nn_spectral_norm(c, wt, u2, -1, 1e-12f));
    ck_assert_ptr_null(nn_spectral_norm(c, wt, u2, 1, 0.0f));
    ck_assert_ptr_null(nn_spectral_norm(c, NULL, u2, 1, 1e-12f));
    ck_assert(isnan(nn_spectral_norm_sigma(wt, u3, 1e-12f)));
    /* a zero weight gives zeros, not NaN (eps inside the root) */
    float z[6] = {0};
    nn_tensor *zt = nn_input(c, 2, (int64_t[]){2, 3}, z);
    nn_set_training(c, true);
    nn_tensor *y = nn_spectral_norm(c, zt, u2, 1, 1e-12f);
    ck_assert_ptr_nonnull(y);
    for (int i = 0; i < 6; i++)
        ck_assert(y->data[i] == 0.0f);
    nn_ctx_free(c);
}
END_TEST

static Suite *sn_suite(void)
{
    Suite *s = suite_create("nn-specnorm");
    TCase *tc = tcase_create("specnorm");
    /* the second-order checks run many tiny graphs; slow with 2 threads on a busy machine */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_forward_known);
    tcase_add_test(tc, t_forward_random_conv_weight);
    tcase_add_test(tc, t_grad_matrix);
    tcase_add_test(tc, t_grad_critic);
    tcase_add_test(tc, t_errors);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(sn_suite)

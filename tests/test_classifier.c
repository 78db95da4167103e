/* md_classifier: the classifier two-sample test finds what is there (a
 * shift, a category mix) and nothing when the samples share their truth,
 * honours weights and one-hot columns, and is reproducible for a seed. */
#include "models/md_classifier.h"
#include "metrics/mt.h"
#include "testutil.h"

static md_cls_cfg small_cfg(void)
{
    md_cls_cfg c;
    md_cls_defaults(&c);
    c.steps = 300;
    c.batch = 256;
    c.max_rows = 6000;
    return c;
}

/* n rows of d standard normals, column 0 shifted by `shift` */
static float *normals(gs_rng *r, int64_t n, int64_t d, double shift)
{
    float *x = malloc((size_t)(n * d) * sizeof *x);
    for (int64_t i = 0; i < n * d; i++)
        x[i] = (float)(gs_rng_normal(r) + (i % d == 0 ? shift : 0));
    return x;
}

START_TEST(t_cls_same_and_shift)
{
    enum { N = 8000, D = 4 };
    gs_rng r;
    gs_rng_seed(&r, 3);
    float *a = normals(&r, N, D, 0), *b = normals(&r, N, D, 0), *c = normals(&r, N, D, 1.0);
    md_cls_cfg cfg = small_cfg();
    md_cls_result same, far, again;
    ck_assert_msg(md_cls_two_sample(a, NULL, N, b, NULL, N, D, D, &cfg, &same) == GS_OK, "%s",
                  gs_errmsg());
    ck_assert_int_eq(same.n_test, 3000); /* max_rows 6000, half held out */
    ck_assert_int_eq(same.n_train, 3000);
    ck_assert_close(same.auc_sigma0, mt_auc_sigma0(3000, 3000), 1e-15, 0);
    /* same truth: within 4 σ of 0.5 */
    ck_assert_msg(fabs(same.auc - 0.5) < 4 * same.auc_sigma0, "AUC %g (sigma %g)", same.auc,
                  same.auc_sigma0);
    /* one column shifted by 1 σ: the best possible AUC is Φ(1/√2) = 0.760 */
    ck_assert_int_eq(md_cls_two_sample(a, NULL, N, c, NULL, N, D, D, &cfg, &far), GS_OK);
    ck_assert_msg(far.auc > 0.70 && far.auc < 0.78, "AUC %g", far.auc);
    ck_assert(far.loss_end < far.loss_start);
    /* reproducible for a seed */
    ck_assert_int_eq(md_cls_two_sample(a, NULL, N, c, NULL, N, D, D, &cfg, &again), GS_OK);
    ck_assert_close(again.auc, far.auc, 0, 0);
    free(a);
    free(b);
    free(c);
}
END_TEST

START_TEST(t_cls_onehot_and_weights)
{
    enum { N = 8000 };
    gs_rng r;
    gs_rng_seed(&r, 5);
    /* column 1 is a 0/1 category, 50 % in a, 80 % in b; column 0 the same
     * truth in both: the best AUC is 0.5 + (0.8 − 0.5)/2 = 0.65 */
    float *a = malloc(N * 2 * sizeof *a), *b = malloc(N * 2 * sizeof *b);
    for (int i = 0; i < N; i++) {
        a[2 * i] = (float)gs_rng_normal(&r);
        a[2 * i + 1] = gs_rng_uniform(&r) < 0.5;
        b[2 * i] = (float)gs_rng_normal(&r);
        b[2 * i + 1] = gs_rng_uniform(&r) < 0.8;
    }
    md_cls_cfg cfg = small_cfg();
    md_cls_result res;
    ck_assert_int_eq(md_cls_two_sample(a, NULL, N, b, NULL, N, 2, 1, &cfg, &res), GS_OK);
    ck_assert_msg(res.auc > 0.61 && res.auc < 0.67, "AUC %g", res.auc);
    /* weights: b drawn from N(0, 1.5²) and weighted by N(0,1)/N(0,1.5²) is
     * the same truth as a */
    float *bw = malloc(N * sizeof *bw);
    for (int i = 0; i < N; i++) {
        double v = 1.5 * gs_rng_normal(&r);
        b[2 * i] = (float)v;
        b[2 * i + 1] = a[2 * i + 1];
        bw[i] = (float)(1.5 * exp(-0.5 * v * v + 0.5 * v * v / 2.25));
    }
    ck_assert_int_eq(md_cls_two_sample(a, NULL, N, b, bw, N, 2, 1, &cfg, &res), GS_OK);
    ck_assert_msg(fabs(res.auc - 0.5) < 0.04, "weighted AUC %g", res.auc);
    /* unweighted, the wider sample is told apart */
    ck_assert_int_eq(md_cls_two_sample(a, NULL, N, b, NULL, N, 2, 1, &cfg, &res), GS_OK);
    ck_assert_msg(res.auc > 0.56, "AUC %g", res.auc);
    free(a);
    free(b);
    free(bw);
}
END_TEST

START_TEST(t_cls_errors)
{
    float a[8] = {0, 1, 2, 3, 4, 5, 6, 7}, nanv[8] = {0, 1, NAN, 3, 4, 5, 6, 7};
    md_cls_cfg cfg = small_cfg();
    md_cls_result res;
    ck_assert_int_eq(md_cls_two_sample(a, NULL, 2, a, NULL, 2, 1, 1, &cfg, &res), GS_ERR_ARG);
    ck_assert_int_eq(md_cls_two_sample(a, NULL, 8, a, NULL, 8, 1, 2, &cfg, &res), GS_ERR_ARG);
    ck_assert_int_eq(md_cls_two_sample(a, NULL, 8, nanv, NULL, 8, 1, 1, &cfg, &res),
                     GS_ERR_NUMERIC);
    cfg.test_frac = 1;
    ck_assert_int_eq(md_cls_two_sample(a, NULL, 8, a, NULL, 8, 1, 1, &cfg, &res), GS_ERR_ARG);
}
END_TEST

static Suite *cls_suite(void)
{
    Suite *s = suite_create("classifier");
    TCase *tc = tcase_create("two-sample");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_cls_same_and_shift);
    tcase_add_test(tc, t_cls_onehot_and_weights);
    tcase_add_test(tc, t_cls_errors);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(cls_suite)

/* Check suite for metrics/: analytic values and edge cases of every metric. */
#include "core/gs_core.h"
#include "metrics/mt.h"
#include "testutil.h"

/* ---- binning / histograms ---- */
START_TEST(test_binning_linear_edges)
{
    mt_binning b;
    ck_assert_int_eq(mt_binning_linear(&b, 0, 10, 10), GS_OK);
    ck_assert_close(mt_bin_edge(&b, 0), 0, 0, 0);
    ck_assert_close(mt_bin_edge(&b, 3), 3, 1e-12, 0);
    ck_assert_close(mt_bin_edge(&b, 10), 10, 0, 0);
    ck_assert_int_eq(mt_bin_index(&b, 0.0), 0);
    ck_assert_int_eq(mt_bin_index(&b, 2.9999), 2);
    ck_assert_int_eq(mt_bin_index(&b, 3.0), 3);
    ck_assert_int_eq(mt_bin_index(&b, 10.0), 9); /* last bin closed */
    ck_assert_int_eq(mt_bin_index(&b, 10.0001), 10);
    ck_assert_int_eq(mt_bin_index(&b, -1e-9), -1);
    ck_assert_int_eq(mt_bin_index(&b, NAN), -2);
    ck_assert_int_eq(mt_bin_index(&b, INFINITY), 10);
    /* 0.1-wide bins: rounding must not move a value off its edge */
    ck_assert_int_eq(mt_binning_linear(&b, 0, 1, 10), GS_OK);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(mt_bin_index(&b, mt_bin_edge(&b, i)), i);
    ck_assert_int_ne(mt_binning_linear(&b, 1, 1, 10), GS_OK);
    ck_assert_int_ne(mt_binning_linear(&b, 0, 1, 0), GS_OK);
    ck_assert_int_ne(mt_binning_linear(&b, 0, NAN, 5), GS_OK);
}
END_TEST

START_TEST(test_binning_log)
{
    mt_binning b;
    ck_assert_int_eq(mt_binning_log(&b, 1e-3, 1e3, 6), GS_OK);
    ck_assert_close(mt_bin_edge(&b, 1), 1e-2, 0, 1e-12);
    ck_assert_close(mt_bin_edge(&b, 3), 1.0, 0, 1e-12);
    ck_assert_int_eq(mt_bin_index(&b, 0.5), 2);
    ck_assert_int_eq(mt_bin_index(&b, 1.0), 3);
    ck_assert_int_eq(mt_bin_index(&b, 0.0), -1);
    ck_assert_int_eq(mt_bin_index(&b, -5.0), -1);
    ck_assert_int_eq(mt_bin_index(&b, 1e3), 5);
    ck_assert_int_ne(mt_binning_log(&b, 0, 1, 5), GS_OK);
}
END_TEST

START_TEST(test_binning_quantiles)
{
    /* 0..1000: numpy.quantile(x, [0.001, 0.999]) = [1, 999] */
    float x[1001];
    for (int i = 0; i <= 1000; i++)
        x[i] = (float)(1000 - i); /* unsorted input */
    mt_binning b;
    ck_assert_int_eq(mt_binning_from_quantiles(&b, x, 1001, 100, 0.001, 0.999), GS_OK);
    ck_assert_close(b.lo, 1.0, 1e-9, 0);
    ck_assert_close(b.hi, 999.0, 1e-9, 0);
    ck_assert_int_eq(b.nbins, 100);
    /* interpolation: quantile 0.25 of {0, 10} = 2.5 */
    double s[2] = {0, 10};
    ck_assert_close(mt_quantile_sorted(s, 2, 0.25), 2.5, 1e-12, 0);
    /* constant data gets a widened range, NaN ignored, all-NaN rejected */
    float c[4] = {3, NAN, 3, 3};
    ck_assert_int_eq(mt_binning_from_quantiles(&b, c, 4, 10, 0.001, 0.999), GS_OK);
    ck_assert_close(b.lo, 1.5, 1e-12, 0);
    ck_assert_close(b.hi, 4.5, 1e-12, 0);
    float nn[2] = {NAN, NAN};
    ck_assert_int_eq(mt_binning_from_quantiles(&b, nn, 2, 10, 0.001, 0.999), GS_ERR_NUMERIC);
    ck_assert_int_eq(mt_binning_from_quantiles(&b, x, 0, 10, 0.001, 0.999), GS_ERR_ARG);
}
END_TEST

START_TEST(test_hist1d_flow)
{
    mt_binning b;
    ck_assert_int_eq(mt_binning_linear(&b, 0, 4, 4), GS_OK);
    float x[] = {-1, 0.5, 1.5, 1.7, 3.9, 4.0, 7, NAN};
    float w[] = {1, 1, 2, 1, 1, 1, 3, 5};
    double c[4], s2[4];
    mt_hist_stats st;
    ck_assert_int_eq(mt_hist1d(&b, MT_FLOW_DROP, x, w, 8, c, s2, &st), GS_OK);
    ck_assert_close(c[0], 1, 0, 0);
    ck_assert_close(c[1], 3, 0, 0);
    ck_assert_close(c[2], 0, 0, 0);
    ck_assert_close(c[3], 2, 0, 0);
    ck_assert_close(s2[1], 5, 0, 0);
    ck_assert_close(st.underflow, 1, 0, 0);
    ck_assert_close(st.overflow, 3, 0, 0);
    ck_assert_close(st.nan, 5, 0, 0);
    ck_assert_close(st.total, 6, 0, 0);
    ck_assert_int_eq(mt_hist1d(&b, MT_FLOW_CLAMP, x, NULL, 8, c, NULL, &st), GS_OK);
    ck_assert_close(c[0], 2, 0, 0);
    ck_assert_close(c[3], 3, 0, 0);
    ck_assert_close(st.total, 7, 0, 0);
}
END_TEST

START_TEST(test_hist2d)
{
    mt_binning bx, by;
    ck_assert_int_eq(mt_binning_linear(&bx, 0, 2, 2), GS_OK);
    ck_assert_int_eq(mt_binning_linear(&by, 0, 3, 3), GS_OK);
    float x[] = {0.5, 1.5, 1.5, 5, NAN};
    float y[] = {2.5, 0.5, 0.7, 1, 1};
    double c[6];
    mt_hist_stats st;
    ck_assert_int_eq(mt_hist2d(&bx, &by, MT_FLOW_DROP, x, y, NULL, 5, c, &st), GS_OK);
    ck_assert_close(c[0 * 3 + 2], 1, 0, 0);
    ck_assert_close(c[1 * 3 + 0], 2, 0, 0);
    ck_assert_close(st.overflow, 1, 0, 0);
    ck_assert_close(st.nan, 1, 0, 0);
    ck_assert_close(st.total, 3, 0, 0);
    ck_assert_int_eq(mt_hist2d(&bx, &by, MT_FLOW_CLAMP, x, y, NULL, 5, c, &st), GS_OK);
    ck_assert_close(c[1 * 3 + 1], 1, 0, 0); /* (5, 1) clamped into x's last bin */
}
END_TEST

/* ---- KL / JS / chi2 ---- */
START_TEST(test_kl_known)
{
    /* P = (1/2, 1/2), Q = (1/4, 3/4): KL = ½ln2 + ½ln(2/3) */
    double p[] = {5, 5}, q[] = {1, 3}, kl;
    ck_assert_int_eq(mt_kl(p, q, 2, 0, &kl), GS_OK);
    ck_assert_close(kl, 0.5 * log(2.0) + 0.5 * log(2.0 / 3.0), 1e-14, 0);
    ck_assert_int_eq(mt_kl(p, p, 2, MT_EPS_DEFAULT, &kl), GS_OK);
    ck_assert_close(kl, 0, 1e-15, 0);
    /* empty bin in Q: infinite without smoothing, finite and exact with it */
    double a[] = {1, 1}, b[] = {2, 0};
    ck_assert_int_eq(mt_kl(a, b, 2, 0, &kl), GS_OK);
    ck_assert(isinf(kl));
    double eps = 1e-3, pa = (0.5 + eps) / (1 + 2 * eps), qb0 = (1 + eps) / (1 + 2 * eps),
           qb1 = eps / (1 + 2 * eps);
    ck_assert_int_eq(mt_kl(a, b, 2, eps, &kl), GS_OK);
    ck_assert_close(kl, pa * log(pa / qb0) + pa * log(pa / qb1), 1e-14, 1e-12);
    /* empty bin in P contributes 0 without smoothing */
    ck_assert_int_eq(mt_kl(b, a, 2, 0, &kl), GS_OK);
    ck_assert_close(kl, log(2.0), 1e-14, 0);
}
END_TEST

START_TEST(test_kl_rejects)
{
    double p[] = {1, 2}, z[] = {0, 0}, neg[] = {1, -1}, kl;
    ck_assert_int_eq(mt_kl(p, z, 2, 1e-6, &kl), GS_ERR_ARG);
    ck_assert_int_eq(mt_kl(p, neg, 2, 1e-6, &kl), GS_ERR_NUMERIC);
    ck_assert_int_eq(mt_kl(p, p, 0, 1e-6, &kl), GS_ERR_ARG);
    ck_assert_int_eq(mt_kl(p, p, 2, -1, &kl), GS_ERR_ARG);
    ck_assert_str_ne(gs_errmsg(), "no error");
}
END_TEST

START_TEST(test_js_props)
{
    gs_rng r;
    gs_rng_seed(&r, 11);
    double p[20], q[20];
    for (int t = 0; t < 50; t++) {
        for (int i = 0; i < 20; i++) {
            p[i] = gs_rng_below(&r, 3) ? gs_rng_uniform(&r) * 10 : 0;
            q[i] = gs_rng_below(&r, 3) ? gs_rng_uniform(&r) * 10 : 0;
        }
        p[0] += 1;
        q[1] += 1;
        double a, b;
        ck_assert_int_eq(mt_js(p, q, 20, MT_EPS_DEFAULT, &a), GS_OK);
        ck_assert_int_eq(mt_js(q, p, 20, MT_EPS_DEFAULT, &b), GS_OK);
        ck_assert_close(a, b, 1e-15, 1e-12);
        ck_assert(a >= 0 && a <= M_LN2);
    }
    /* disjoint supports reach ln 2 exactly (without smoothing) */
    double d1[] = {1, 0}, d2[] = {0, 3}, js;
    ck_assert_int_eq(mt_js(d1, d2, 2, 0, &js), GS_OK);
    ck_assert_close(js, M_LN2, 1e-15, 0);
    ck_assert_int_eq(mt_js(d1, d1, 2, 0, &js), GS_OK);
    ck_assert_close(js, 0, 1e-15, 0);
}
END_TEST

START_TEST(test_chi2)
{
    double a[] = {10, 20, 0, 30}, x2;
    int64_t ndf;
    ck_assert_int_eq(mt_chi2(a, NULL, a, NULL, 4, &x2, &ndf), GS_OK);
    ck_assert_close(x2, 0, 0, 0);
    ck_assert_int_eq(ndf, 2); /* empty bin skipped: 3 used - 1 */
    /* hand value: c1 = (10, 30), c2 = (20, 20), N1 = N2 = 40:
     * Σ (40c1 - 40c2)² / (1600 (c1 + c2)) = 100/30 + 100/50 */
    double c1[] = {10, 30}, c2[] = {20, 20};
    ck_assert_int_eq(mt_chi2(c1, NULL, c2, NULL, 2, &x2, &ndf), GS_OK);
    ck_assert_close(x2, 100.0 / 30 + 100.0 / 50, 1e-12, 1e-12);
    ck_assert_int_eq(ndf, 1);
    /* weighted form with sumw2 = counts: Σ (W2c1 - W1c2)² / (W2²c1 + W1²c2) */
    ck_assert_int_eq(mt_chi2(c1, c1, c2, c2, 2, &x2, &ndf), GS_OK);
    ck_assert_close(x2, 400.0 * 400 / (1600.0 * 30) + 400.0 * 400 / (1600.0 * 50), 1e-12,
                    1e-12);
    ck_assert_int_eq(mt_chi2(c1, c1, c2, NULL, 2, &x2, &ndf), GS_ERR_ARG);
}
END_TEST

/* ---- W1 / KS ---- */
START_TEST(test_w1_shift)
{
    gs_rng r;
    gs_rng_seed(&r, 3);
    enum { N = 5000 };
    static float u[N], v[N];
    gs_rng_fill_normal(&r, u, N, 0, 1);
    for (int i = 0; i < N; i++)
        v[i] = u[i] + 2.5f;
    double w1, ks;
    ck_assert_int_eq(mt_w1_ks(u, NULL, N, v, NULL, N, &w1, &ks), GS_OK);
    /* float rounding of u + 2.5 is the only error */
    ck_assert_close(w1, 2.5, 1e-6, 0);
    ck_assert_int_eq(mt_w1(u, NULL, N, u, NULL, N, &w1), GS_OK);
    ck_assert_close(w1, 0, 0, 0);
    ck_assert_int_eq(mt_ks(u, NULL, N, u, NULL, N, &ks), GS_OK);
    ck_assert_close(ks, 0, 0, 0);
}
END_TEST

START_TEST(test_w1_known)
{
    /* scipy: wasserstein_distance([0,1,3], [5,6,8]) = 5;
     * ([0,1], [0,1], w [3,1], [1,1]) = 0.25 (|0.75 - 0.5| over [0,1]);
     * ([0, 10], [5]) = 5 */
    float a[] = {3, 0, 1}, b[] = {8, 5, 6};
    double w1;
    ck_assert_int_eq(mt_w1(a, NULL, 3, b, NULL, 3, &w1), GS_OK);
    ck_assert_close(w1, 5, 1e-12, 0);
    float c[] = {0, 1}, wc[] = {3, 1}, wd[] = {1, 1};
    ck_assert_int_eq(mt_w1(c, wc, 2, c, wd, 2, &w1), GS_OK);
    ck_assert_close(w1, 0.25, 1e-12, 0);
    /* one side weighted, the other unweighted */
    ck_assert_int_eq(mt_w1(c, wc, 2, c, NULL, 2, &w1), GS_OK);
    ck_assert_close(w1, 0.25, 1e-12, 0);
    float e[] = {0, 10}, f[] = {5};
    ck_assert_int_eq(mt_w1(e, NULL, 2, f, NULL, 1, &w1), GS_OK);
    ck_assert_close(w1, 5, 1e-12, 0);
    /* weights scale-free: doubling them changes nothing */
    float wc2[] = {6, 2};
    double w1b;
    ck_assert_int_eq(mt_w1(c, wc2, 2, c, wd, 2, &w1b), GS_OK);
    ck_assert_close(w1b, 0.25, 1e-12, 0);
    /* doubles, negative values, -0.0 vs 0.0 */
    double g[] = {-2, -0.0, 1}, h[] = {0.0, -2, 1}, w1d;
    ck_assert_int_eq(mt_w1_ks_d(g, NULL, 3, h, NULL, 3, &w1d, NULL), GS_OK);
    ck_assert_close(w1d, 0, 0, 0);
}
END_TEST

START_TEST(test_ks_known)
{
    float a[] = {1, 2, 3}, b[] = {10, 11};
    double ks;
    ck_assert_int_eq(mt_ks(a, NULL, 3, b, NULL, 2, &ks), GS_OK);
    ck_assert_close(ks, 1, 0, 0);
    /* ties: {1,2,2,3} vs {2}: F differ most at 1 (0.25 vs 0) and 2 (0.75 vs 1) -> 0.25 */
    float c[] = {2, 1, 2, 3}, d[] = {2};
    ck_assert_int_eq(mt_ks(c, NULL, 4, d, NULL, 1, &ks), GS_OK);
    ck_assert_close(ks, 0.25, 1e-15, 0);
    /* one sample each */
    float one[] = {4}, two[] = {4};
    ck_assert_int_eq(mt_ks(one, NULL, 1, two, NULL, 1, &ks), GS_OK);
    ck_assert_close(ks, 0, 0, 0);
    double w1;
    ck_assert_int_eq(mt_w1(one, NULL, 1, b, NULL, 1, &w1), GS_OK);
    ck_assert_close(w1, 6, 0, 0);
}
END_TEST

START_TEST(test_w1_rejects)
{
    float a[] = {1, 2}, bad[] = {1, NAN}, nw[] = {1, -1}, zw[] = {0, 0};
    double w1;
    ck_assert_int_eq(mt_w1(a, NULL, 0, a, NULL, 2, &w1), GS_ERR_ARG);
    ck_assert_int_eq(mt_w1(a, NULL, 2, a, NULL, 0, &w1), GS_ERR_ARG);
    ck_assert_int_eq(mt_w1(a, NULL, 2, bad, NULL, 2, &w1), GS_ERR_NUMERIC);
    ck_assert_int_eq(mt_w1(a, nw, 2, a, NULL, 2, &w1), GS_ERR_NUMERIC);
    ck_assert_int_eq(mt_w1(a, zw, 2, a, NULL, 2, &w1), GS_ERR_NUMERIC);
}
END_TEST

/* O(N^2) reference on small random samples with many ties */
static double w1_brute(const float *u, int nu, const float *v, int nv)
{
    /* integrate |F_u - F_v| over the sorted union by brute-force counting */
    float all[64];
    int n = 0;
    for (int i = 0; i < nu; i++)
        all[n++] = u[i];
    for (int i = 0; i < nv; i++)
        all[n++] = v[i];
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && all[j - 1] > all[j]; j--) {
            float t = all[j];
            all[j] = all[j - 1];
            all[j - 1] = t;
        }
    double s = 0;
    for (int k = 0; k + 1 < n; k++) {
        int cu = 0, cv = 0;
        for (int i = 0; i < nu; i++)
            cu += u[i] <= all[k];
        for (int i = 0; i < nv; i++)
            cv += v[i] <= all[k];
        s += fabs((double)cu / nu - (double)cv / nv) * ((double)all[k + 1] - all[k]);
    }
    return s;
}

START_TEST(test_w1_vs_brute)
{
    gs_rng r;
    gs_rng_seed(&r, 99);
    for (int t = 0; t < 200; t++) {
        int nu = 1 + (int)gs_rng_below(&r, 30), nv = 1 + (int)gs_rng_below(&r, 30);
        float u[32], v[32];
        for (int i = 0; i < nu; i++)
            u[i] = (float)gs_rng_below(&r, 8) - 3.0f;
        for (int i = 0; i < nv; i++)
            v[i] = (float)gs_rng_below(&r, 8) * 0.5f;
        double w1;
        ck_assert_int_eq(mt_w1(u, NULL, nu, v, NULL, nv, &w1), GS_OK);
        ck_assert_close(w1, w1_brute(u, nu, v, nv), 1e-12, 1e-12);
    }
}
END_TEST

START_TEST(test_sort_large)
{
    /* the radix sort path on a big mixed-sign sample: W1 against a shifted
     * copy must still be the shift, KS of a sample with itself 0 */
    gs_rng r;
    gs_rng_seed(&r, 5);
    int64_t n = 300000;
    float *u = malloc((size_t)n * sizeof *u), *v = malloc((size_t)n * sizeof *v);
    ck_assert_ptr_nonnull(u);
    ck_assert_ptr_nonnull(v);
    gs_rng_fill_uniform(&r, u, n, -1000, 1000);
    for (int64_t i = 0; i < n; i++)
        v[i] = u[n - 1 - i] + 0.5f;
    double w1, ks;
    ck_assert_int_eq(mt_w1_ks(u, NULL, n, v, NULL, n, &w1, &ks), GS_OK);
    ck_assert_close(w1, 0.5, 1e-4, 0);
    ck_assert(ks > 0 && ks < 0.01);
    free(u);
    free(v);
}
END_TEST

/* ---- correlations ---- */
START_TEST(test_corr)
{
    /* columns: a, 2a + 1, -a, constant */
    float x[5 * 4];
    for (int i = 0; i < 5; i++) {
        float a = (float)(i * i);
        x[i * 4 + 0] = a;
        x[i * 4 + 1] = 2 * a + 1;
        x[i * 4 + 2] = -a;
        x[i * 4 + 3] = 7;
    }
    double c[16];
    ck_assert_int_eq(mt_corr(x, 5, 4, c), GS_OK);
    ck_assert_close(c[0 * 4 + 1], 1, 1e-12, 0);
    ck_assert_close(c[0 * 4 + 2], -1, 1e-12, 0);
    ck_assert_close(c[2 * 4 + 0], -1, 1e-12, 0);
    ck_assert_close(c[0 * 4 + 3], 0, 0, 0);
    ck_assert_close(c[3 * 4 + 3], 1, 0, 0);
    double id[16] = {0}, fro, mx;
    for (int i = 0; i < 4; i++)
        id[i * 4 + i] = 1;
    ck_assert_int_eq(mt_corr_diff(c, id, 4, &fro, &mx), GS_OK);
    /* off-diagonal differences: ±1 at (0,1),(0,2),(1,2) and mirrors -> sqrt(6) */
    ck_assert_close(fro, sqrt(6.0), 1e-12, 0);
    ck_assert_close(mx, 1, 1e-12, 0);
    ck_assert_int_eq(mt_corr(x, 1, 4, c), GS_ERR_ARG);
}
END_TEST

/* ---- ZDC ---- */
START_TEST(test_zdc_hand_4x4)
{
    /* pixel value = 1 + row*4 + col (row 0 on top); odd (r+c) cells per quadrant:
     * top-left (0,1)=2,(1,0)=5 -> ch3 = 7; top-right (0,3)=4,(1,2)=7 -> ch4 = 11;
     * bottom-left (2,1)=10,(3,0)=13 -> ch1 = 23; bottom-right (2,3)=12,(3,2)=15 -> ch2 = 27;
     * ch5 = 136 - 68 = 68 */
    float img[16];
    for (int i = 0; i < 16; i++)
        img[i] = (float)(i + 1);
    double ch[5];
    ck_assert_int_eq(mt_zdc_channel_sums(img, 4, 4, ch), GS_OK);
    ck_assert_close(ch[0], 23, 0, 0);
    ck_assert_close(ch[1], 27, 0, 0);
    ck_assert_close(ch[2], 7, 0, 0);
    ck_assert_close(ch[3], 11, 0, 0);
    ck_assert_close(ch[4], 68, 0, 0);
    ck_assert_int_eq(mt_zdc_channel(4, 4, 0, 0), 5);
    ck_assert_int_eq(mt_zdc_channel(4, 4, 3, 0), 1);
    ck_assert_int_eq(mt_zdc_channel(4, 4, 0, 3), 4);
    ck_assert_int_eq(mt_zdc_channel(4, 4, 4, 0), 0);
    ck_assert_close(mt_total_intensity(img, 4, 4), 136, 0, 0);
    int64_t r, c;
    ck_assert_int_eq(mt_max_pixel(img, 4, 4, &r, &c), GS_OK);
    ck_assert_int_eq(r, 3);
    ck_assert_int_eq(c, 3);
}
END_TEST

START_TEST(test_zdc_partition)
{
    const int h = 56, w = 30;
    /* every pixel in exactly one channel, and each tower channel a quarter of the odd cells */
    int count[6] = {0};
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) {
            int k = mt_zdc_channel(h, w, r, c);
            ck_assert(k >= 1 && k <= 5);
            count[k]++;
        }
    ck_assert_int_eq(count[5], h * w / 2);
    for (int k = 1; k <= 4; k++)
        ck_assert_int_eq(count[k], h * w / 8); /* 28x15 quadrants: 210 odd cells each */
    /* sum of the 5 sums = total on random images (batched path, threads on) */
    gs_rng rng;
    gs_rng_seed(&rng, 17);
    int64_t n = 600;
    float *im = malloc((size_t)n * h * w * sizeof *im);
    double *ch = malloc((size_t)n * 5 * sizeof *ch), *tot = malloc((size_t)n * sizeof *tot);
    double *mr = malloc((size_t)n * sizeof *mr), *mc = malloc((size_t)n * sizeof *mc);
    gs_rng_fill_uniform(&rng, im, n * h * w, 0, 100);
    ck_assert_int_eq(mt_zdc_features(im, n, h, w, ch, tot, mr, mc), GS_OK);
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int k = 0; k < 5; k++)
            s += ch[i * 5 + k];
        ck_assert_close(s, tot[i], 1e-9, 1e-12);
        ck_assert_close(tot[i], mt_total_intensity(im + i * h * w, h, w), 1e-9, 1e-12);
        int64_t r, c;
        ck_assert_int_eq(mt_max_pixel(im + i * h * w, h, w, &r, &c), GS_OK);
        ck_assert_close(mr[i], r, 0, 0);
        ck_assert_close(mc[i], c, 0, 0);
    }
    free(im);
    free(ch);
    free(tot);
    free(mr);
    free(mc);
}
END_TEST

START_TEST(test_max_pixel_ties)
{
    float img[6] = {1, 5, NAN, 5, 0, 5};
    int64_t r, c;
    ck_assert_int_eq(mt_max_pixel(img, 2, 3, &r, &c), GS_OK);
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(c, 1);
    float nanfirst[4] = {NAN, 1, 2, 0};
    ck_assert_int_eq(mt_max_pixel(nanfirst, 2, 2, &r, &c), GS_OK);
    ck_assert_int_eq(r, 1);
    ck_assert_int_eq(c, 0);
    ck_assert_int_eq(mt_max_pixel(img, 0, 3, &r, &c), GS_ERR_ARG);
}
END_TEST

/* Same-condition pairs by hand: photon-weighted centroids, the empty-image
 * threshold, negative and NaN pixels counted as 0, index lists. */
START_TEST(test_same_cond_pairs)
{
    enum { H = 8, W = 6, N = 5, PX = H * W };
    float a[N * PX] = {0}, b[N * PX] = {0};
#define AT(im, i, r, c) (im)[(i) * PX + (r) * W + (c)]
    AT(a, 0, 1, 1) = 30; /* distance hypot(3, 4) = 5 */
    AT(b, 0, 4, 5) = 30;
    AT(a, 1, 2, 2) = 20; /* centroid (2, 3) against (6, 3): 4 */
    AT(a, 1, 2, 4) = 20;
    AT(b, 1, 6, 3) = 40;
    AT(a, 2, 0, 0) = 5; /* under 10 photons: a shower against none */
    AT(b, 2, 0, 0) = 30;
    AT(b, 3, 3, 3) = -50; /* both empty: negative and NaN pixels hold nothing */
    AT(b, 3, 4, 4) = NAN;
    AT(a, 4, 7, 0) = 12; /* distance 3; the negative pixel does not pull */
    AT(b, 4, 7, 3) = 12;
    AT(b, 4, 0, 0) = -100;
#undef AT
    mt_same_cond_metrics m;
    ck_assert_int_eq(mt_compare_same_cond(a, NULL, b, NULL, N, H, W, 10, &m), GS_OK);
    ck_assert_int_eq(m.n_pairs, N);
    ck_assert_int_eq(m.n_showers, 3);
    ck_assert_close(m.centroid_dist, 4.0, 1e-12, 0); /* median of 5, 4, 3 */
    ck_assert_close(m.empty_mismatch, 0.2, 1e-12, 0);
    ck_assert_close(m.log_intensity, 0.0, 1e-12, 0); /* 4 of 5 pairs equally bright */
    /* index lists: the same pairs in reverse order give the same medians */
    const int64_t rev[N] = {4, 3, 2, 1, 0};
    mt_same_cond_metrics r;
    ck_assert_int_eq(mt_compare_same_cond(a, rev, b, rev, N, H, W, 10, &r), GS_OK);
    ck_assert_close(r.centroid_dist, m.centroid_dist, 0, 0);
    ck_assert_close(r.empty_mismatch, m.empty_mismatch, 0, 0);
    /* pair 2 alone: |ln(6 / 31)|, no shower pair, so no centroid distance */
    const int64_t two[1] = {2};
    ck_assert_int_eq(mt_compare_same_cond(a, two, b, two, 1, H, W, 10, &r), GS_OK);
    ck_assert_close(r.log_intensity, log(31.0 / 6.0), 1e-12, 0);
    ck_assert_int_eq(r.n_showers, 0);
    ck_assert(isnan(r.centroid_dist));
    ck_assert_close(r.empty_mismatch, 1.0, 0, 0);
    /* a threshold of 0: pair 2's 5 photons are a shower at the same place */
    ck_assert_int_eq(mt_compare_same_cond(a, two, b, two, 1, H, W, 0, &r), GS_OK);
    ck_assert_close(r.centroid_dist, 0.0, 0, 0);
    ck_assert_close(r.empty_mismatch, 0.0, 0, 0);
    /* every image against itself: at zero */
    ck_assert_int_eq(mt_compare_same_cond(a, NULL, a, NULL, N, H, W, 10, &r), GS_OK);
    ck_assert_close(r.centroid_dist, 0.0, 0, 0);
    ck_assert_close(r.empty_mismatch, 0.0, 0, 0);
    ck_assert_close(r.log_intensity, 0.0, 0, 0);
    /* errors */
    ck_assert_int_eq(mt_compare_same_cond(a, NULL, b, NULL, 0, H, W, 10, &r), GS_ERR_ARG);
    ck_assert_int_eq(mt_compare_same_cond(NULL, NULL, b, NULL, N, H, W, 10, &r), GS_ERR_ARG);
    ck_assert_int_eq(mt_compare_same_cond(a, NULL, b, NULL, N, 0, W, 10, &r), GS_ERR_ARG);
    ck_assert_int_eq(mt_compare_same_cond(a, NULL, b, NULL, N, H, W, -1, &r), GS_ERR_ARG);
    ck_assert_int_eq(mt_compare_same_cond(a, NULL, b, NULL, N, H, W, NAN, &r), GS_ERR_ARG);
    ck_assert_int_eq(mt_compare_same_cond(a, NULL, b, NULL, N, H, W, 10, NULL), GS_ERR_ARG);
}
END_TEST

/* ---- metric sets ---- */
START_TEST(test_compare_1d)
{
    gs_rng r;
    gs_rng_seed(&r, 21);
    enum { N = 20000 };
    static float a[N], b[N], c[N];
    gs_rng_fill_normal(&r, a, N, 0, 1);
    gs_rng_fill_normal(&r, b, N, 0, 1);
    gs_rng_fill_normal(&r, c, N, 3, 1);
    mt_feature_metrics same, far;
    mt_compare_opts o = mt_compare_defaults();
    ck_assert_int_eq(mt_compare_1d(a, NULL, N, b, NULL, N, &o, &same), GS_OK);
    ck_assert_int_eq(mt_compare_1d(a, NULL, N, c, NULL, N, NULL, &far), GS_OK);
    ck_assert(same.kl < 0.02 && same.js < 0.01 && same.w1 < 0.05 && same.ks < 0.03);
    ck_assert(far.kl > 1 && far.js > 0.4 && far.ks > 0.8);
    ck_assert_close(far.w1, 3, 0.1, 0);
    ck_assert_int_eq(mt_compare_1d(a, NULL, N, c, NULL, 0, NULL, &far), GS_ERR_ARG);
}
END_TEST

START_TEST(test_compare_table_mask)
{
    /* 2 columns; rows with mask 0 are far off and must not count */
    float real[8] = {0, 1, 1, 2, 2, 3, 100, 100}, gen[8] = {0, 1, 1, 2, 2, 3, -50, NAN};
    uint8_t mask[4] = {1, 1, 1, 0};
    mt_feature_metrics m[2];
    ck_assert_int_eq(
        mt_compare_table(real, NULL, mask, 4, gen, NULL, mask, 4, 2, NULL, m), GS_OK);
    ck_assert_close(m[0].w1, 0, 0, 0);
    ck_assert_close(m[1].w1, 0, 0, 0);
    ck_assert_close(m[0].ks, 0, 0, 0);
    ck_assert_close(m[0].kl, 0, 1e-12, 0);
    uint8_t none[4] = {0};
    ck_assert_int_eq(
        mt_compare_table(real, NULL, none, 4, gen, NULL, mask, 4, 2, NULL, m), GS_ERR_ARG);
}
END_TEST

START_TEST(test_compare_images)
{
    /* generated = real with every pixel doubled: each W1 of sums is the mean sum */
    const int h = 6, w = 4, n = 50;
    float real[50 * 24], gen[50 * 24];
    gs_rng r;
    gs_rng_seed(&r, 8);
    gs_rng_fill_uniform(&r, real, n * h * w, 0, 1);
    for (int i = 0; i < n * h * w; i++)
        gen[i] = 2 * real[i];
    mt_image_metrics m;
    ck_assert_int_eq(mt_compare_images(real, n, gen, n, h, w, &m), GS_OK);
    double mean_tot = 0;
    for (int i = 0; i < n; i++)
        mean_tot += mt_total_intensity(real + i * h * w, h, w) / n;
    ck_assert_close(m.intensity_w1, mean_tot, 1e-9, 1e-9);
    ck_assert_close(m.max_row_w1, 0, 0, 0);
    ck_assert_close(m.max_col_w1, 0, 0, 0);
    double s = 0;
    for (int k = 0; k < 5; k++) {
        ck_assert(m.ch_w1[k] > 0);
        s += m.ch_w1[k];
    }
    ck_assert_close(m.ch_mean_w1, s / 5, 1e-12, 0);
    ck_assert_close(s, mean_tot, 1e-9, 1e-9); /* channel sums add up to the total */
}
END_TEST


/* The O2 map against a transcription of O2's own loop (AliceO2,
 * Detectors/ZDC/fastsimulation/src/Processors.cxx, processors::calculateChannels,
 * 44 x 44 only, the exp(x) - 1 of the model output left out): i is the row. */
static void o2_calculate_channels(const float *img, double ch[5])
{
    for (int k = 0; k < 5; k++)
        ch[k] = 0;
    for (int i = 0; i < 44; i++)
        for (int j = 0; j < 44; j++) {
            double v = img[j + i * 44];
            if (i % 2 == j % 2) {
                if (i < 22 && j < 22)
                    ch[0] += v;
                else if (i < 22 && j >= 22)
                    ch[1] += v;
                else if (i >= 22 && j < 22)
                    ch[2] += v;
                else if (i >= 22 && j >= 22)
                    ch[3] += v;
            } else {
                ch[4] += v;
            }
        }
}

START_TEST(test_zdc_o2_map)
{
    /* 4x4 by hand, pixel = 1 + row*4 + col: even (r+c) cells per quadrant
     * top-left (0,0)=1,(1,1)=6 -> ch1 = 7; top-right (0,2)=3,(1,3)=8 -> ch2 = 11;
     * bottom-left (2,0)=9,(3,1)=14 -> ch3 = 23; bottom-right (2,2)=11,(3,3)=16 -> ch4 = 27 */
    float img[16];
    for (int i = 0; i < 16; i++)
        img[i] = (float)(i + 1);
    double ch[5], tot;
    ck_assert_int_eq(mt_zdc_features_map(MT_ZDC_MAP_O2, img, 1, 4, 4, ch, &tot, NULL, NULL),
                     GS_OK);
    ck_assert_close(ch[0], 7, 0, 0);
    ck_assert_close(ch[1], 11, 0, 0);
    ck_assert_close(ch[2], 23, 0, 0);
    ck_assert_close(ch[3], 27, 0, 0);
    ck_assert_close(ch[4], 68, 0, 0);
    ck_assert_close(tot, 136, 0, 0);
    /* the opposite colouring of the research map, on any shape */
    const int64_t shapes[3][2] = {{44, 44}, {56, 30}, {7, 5}};
    for (int s = 0; s < 3; s++)
        for (int64_t r = 0; r < shapes[s][0]; r++)
            for (int64_t c = 0; c < shapes[s][1]; c++) {
                int a = mt_zdc_channel_map(MT_ZDC_MAP_RESEARCH, shapes[s][0], shapes[s][1], r, c);
                int b = mt_zdc_channel_map(MT_ZDC_MAP_O2, shapes[s][0], shapes[s][1], r, c);
                ck_assert_int_eq(a, mt_zdc_channel(shapes[s][0], shapes[s][1], r, c));
                ck_assert(a >= 1 && a <= 5 && b >= 1 && b <= 5);
                ck_assert_int_eq(a == 5, b != 5);
            }
    ck_assert_int_eq(mt_zdc_channel_map(MT_ZDC_MAP_O2, 4, 4, 4, 0), 0);
    /* random 44x44 images: the same five sums as O2's loop */
    gs_rng rng;
    gs_rng_seed(&rng, 23);
    const int n = 40;
    float *im = malloc((size_t)n * 44 * 44 * sizeof *im);
    double *chs = malloc((size_t)n * 5 * sizeof *chs);
    gs_rng_fill_uniform(&rng, im, n * 44 * 44, 0, 50);
    ck_assert_int_eq(mt_zdc_features_map(MT_ZDC_MAP_O2, im, n, 44, 44, chs, NULL, NULL, NULL),
                     GS_OK);
    for (int i = 0; i < n; i++) {
        double ref[5];
        o2_calculate_channels(im + i * 44 * 44, ref);
        for (int k = 0; k < 5; k++)
            ck_assert_close(chs[i * 5 + k], ref[k], 1e-12, 1e-9);
    }
    /* names */
    mt_zdc_map m = MT_ZDC_MAP_RESEARCH;
    ck_assert_int_eq(mt_zdc_map_parse("o2", &m), GS_OK);
    ck_assert_int_eq(m, MT_ZDC_MAP_O2);
    ck_assert_str_eq(mt_zdc_map_name(m), "o2");
    ck_assert_int_eq(mt_zdc_map_parse("research", &m), GS_OK);
    ck_assert_int_eq(m, MT_ZDC_MAP_RESEARCH);
    ck_assert_int_eq(mt_zdc_map_parse("alice", &m), GS_ERR_ARG);
    ck_assert_int_eq(mt_zdc_features_map((mt_zdc_map)7, im, 1, 44, 44, chs, NULL, NULL, NULL),
                     GS_ERR_ARG);
    /* light on the even cells only: research puts it all in channel 5, o2 none;
     * compared against empty images the mean channel W1 is the same (the total
     * / 5) but its split differs */
    memset(im, 0, 2 * 44 * 44 * sizeof *im);
    for (int r = 0; r < 44; r++)
        for (int c = r % 2; c < 44; c += 2)
            im[r * 44 + c] = 1.0f;
    mt_image_metrics a, b;
    ck_assert_int_eq(mt_compare_images_map(MT_ZDC_MAP_RESEARCH, im, 1, im + 44 * 44, 1, 44, 44,
                                           &a), GS_OK);
    ck_assert_int_eq(mt_compare_images_map(MT_ZDC_MAP_O2, im, 1, im + 44 * 44, 1, 44, 44, &b),
                     GS_OK);
    ck_assert_close(a.ch_w1[4], 968, 0, 0);
    ck_assert_close(b.ch_w1[4], 0, 0, 0);
    for (int k = 0; k < 4; k++) {
        ck_assert_close(a.ch_w1[k], 0, 0, 0);
        ck_assert_close(b.ch_w1[k], 242, 0, 0);
    }
    free(im);
    free(chs);
}
END_TEST

/* ---- significance, AUC, rank correlation (values from scipy / sklearn) ---- */
START_TEST(test_kolmogorov_chi2_known)
{
    /* scipy.special.kolmogorov; scipy.stats.chi2.sf */
    ck_assert_close(mt_kolmogorov_sf(0.5), 0.96394524, 1e-8, 0);
    ck_assert_close(mt_kolmogorov_sf(1.0), 0.26999967, 1e-8, 0);
    ck_assert_close(mt_kolmogorov_sf(1.5), 0.02221796, 1e-8, 0);
    ck_assert_close(mt_kolmogorov_sf(0.1), 1.0, 1e-12, 0);
    ck_assert_close(mt_kolmogorov_sf(0), 1.0, 0, 0);
    ck_assert(isnan(mt_kolmogorov_sf(NAN)));
    for (double z = 0.05; z < 3; z += 0.05) /* a survival function falls */
        ck_assert(mt_kolmogorov_sf(z + 0.05) <= mt_kolmogorov_sf(z));
    /* KS p-value: the asymptotic form at en = n1 n2/(n1 + n2) */
    ck_assert_close(mt_ks_pvalue(0.01, 20000, 20000), mt_kolmogorov_sf(1.0), 1e-15, 0);
    ck_assert(isnan(mt_ks_pvalue(0.1, 0, 10)));
    ck_assert_close(mt_chi2_pvalue(3.84, 1), 5.00435212e-02, 0, 1e-7);
    ck_assert_close(mt_chi2_pvalue(99, 99), 4.81096912e-01, 0, 1e-7);
    ck_assert_close(mt_chi2_pvalue(150, 99), 7.20445396e-04, 0, 1e-7);
    ck_assert_close(mt_chi2_pvalue(0.5, 3), 9.18891412e-01, 0, 1e-7);
    ck_assert(isnan(mt_chi2_pvalue(1, 0)));
}
END_TEST

START_TEST(test_auc_known)
{
    /* sklearn.metrics.roc_auc_score: 2/3 and, weighted, 0.58333 (ties at 0.4) */
    double sc[6] = {0.1, 0.4, 0.35, 0.8, 0.4, 0.4}, w[6] = {1, 2, 1, 0.5, 3, 1};
    uint8_t y[6] = {0, 0, 1, 1, 1, 0};
    double auc;
    ck_assert_int_eq(mt_auc(sc, y, NULL, 6, &auc), GS_OK);
    ck_assert_close(auc, 2.0 / 3.0, 1e-15, 0);
    ck_assert_int_eq(mt_auc(sc, y, w, 6, &auc), GS_OK);
    ck_assert_close(auc, 0.5833333333333333, 1e-15, 0);
    /* perfect, reversed, uninformative (all tied) */
    double s2[4] = {1, 2, 3, 4};
    uint8_t y2[4] = {0, 0, 1, 1}, y3[4] = {1, 1, 0, 0};
    ck_assert_int_eq(mt_auc(s2, y2, NULL, 4, &auc), GS_OK);
    ck_assert_close(auc, 1.0, 0, 0);
    ck_assert_int_eq(mt_auc(s2, y3, NULL, 4, &auc), GS_OK);
    ck_assert_close(auc, 0.0, 0, 0);
    double s4[4] = {-0.0, 0.0, 0.0, -0.0}; /* signed zeros are one score */
    ck_assert_int_eq(mt_auc(s4, y2, NULL, 4, &auc), GS_OK);
    ck_assert_close(auc, 0.5, 0, 0);
    /* errors: one class, a NaN score, a bad label */
    uint8_t one[4] = {1, 1, 1, 1}, bad[4] = {0, 1, 2, 0};
    ck_assert_int_eq(mt_auc(s2, one, NULL, 4, &auc), GS_ERR_ARG);
    ck_assert_int_eq(mt_auc(s2, bad, NULL, 4, &auc), GS_ERR_ARG);
    double sn[4] = {1, NAN, 2, 3};
    ck_assert_int_eq(mt_auc(sn, y2, NULL, 4, &auc), GS_ERR_NUMERIC);
    ck_assert_close(mt_auc_sigma0(100, 100), sqrt(201.0 / 120000.0), 1e-15, 0);
}
END_TEST

START_TEST(test_rank_corr)
{
    /* scipy.stats.spearmanr with ties: -0.88235294 */
    float x[12] = {1, 5, 2, 3, 2, 4, 3, 1, 5, 1, 4, 2};
    double c[4];
    ck_assert_int_eq(mt_rank_corr(x, NULL, 6, 2, c), GS_OK);
    ck_assert_close(c[1], -0.8823529411764706, 1e-6, 0);
    ck_assert_close(c[2], c[1], 0, 0);
    ck_assert_close(c[0], 1, 0, 0);
    /* invariant under monotone maps: y = exp(3x) ranks like x */
    enum { N = 1000 };
    static float t[N * 3];
    gs_rng r;
    gs_rng_seed(&r, 4);
    for (int i = 0; i < N; i++) {
        t[3 * i] = (float)gs_rng_normal(&r);
        t[3 * i + 1] = expf(3 * t[3 * i]);
        t[3 * i + 2] = -t[3 * i] * t[3 * i] * t[3 * i];
    }
    double m[9];
    ck_assert_int_eq(mt_rank_corr(t, NULL, N, 3, m), GS_OK);
    ck_assert_close(m[1], 1, 1e-6, 0);
    ck_assert_close(m[2], -1, 1e-6, 0);
    /* integer weights = repeated rows */
    float a[6] = {1, 2, 2, 1, 3, 3}, aw[3] = {2, 1, 1};
    float rep[8] = {1, 2, 1, 2, 2, 1, 3, 3};
    double ca[4], cr[4];
    ck_assert_int_eq(mt_rank_corr(a, aw, 3, 2, ca), GS_OK);
    ck_assert_int_eq(mt_rank_corr(rep, NULL, 4, 2, cr), GS_OK);
    ck_assert_close(ca[1], cr[1], 1e-6, 0);
    ck_assert_int_eq(mt_rank_corr(a, NULL, 1, 2, ca), GS_ERR_ARG);
    float bad[4] = {1, NAN, 2, 3};
    ck_assert_int_eq(mt_rank_corr(bad, NULL, 2, 2, ca), GS_ERR_NUMERIC);
}
END_TEST

START_TEST(test_binning_auto)
{
    enum { N = 10000 };
    static float x[N];
    mt_binning b;
    /* decades: log bins */
    for (int i = 0; i < N; i++)
        x[i] = powf(10, 8.0f * (float)i / N);
    ck_assert_int_eq(mt_binning_auto(&b, x, N, 50, 0.001, 0.999, 1000), GS_OK);
    ck_assert_int_eq(b.scale, MT_SCALE_LOG);
    ck_assert_int_eq(mt_binning_auto(&b, x, N, 50, 0.001, 0.999, 0), GS_OK);
    ck_assert_int_eq(b.scale, MT_SCALE_LINEAR); /* log_range 0: always linear */
    /* half zeros, the rest over decades: log bins from the positive part */
    for (int i = 0; i < N / 2; i++)
        x[i] = 0;
    ck_assert_int_eq(mt_binning_auto(&b, x, N, 50, 0.001, 0.999, 1000), GS_OK);
    ck_assert_int_eq(b.scale, MT_SCALE_LOG);
    ck_assert(b.lo > 0);
    /* counts 0..2000: integers get no log bins narrower than 1 */
    for (int i = 0; i < N; i++)
        x[i] = (float)(i % 3 == 0 ? 0 : (i % 2000) + 1);
    ck_assert_int_eq(mt_binning_auto(&b, x, N, 100, 0.001, 0.999, 1000), GS_OK);
    ck_assert_int_eq(b.scale, MT_SCALE_LINEAR);
    /* negative values: linear */
    for (int i = 0; i < N; i++)
        x[i] = (float)(i - N / 2);
    ck_assert_int_eq(mt_binning_auto(&b, x, N, 50, 0.001, 0.999, 1000), GS_OK);
    ck_assert_int_eq(b.scale, MT_SCALE_LINEAR);
}
END_TEST

/* the floor beside the comparison: same answers as two plain comparisons */
START_TEST(test_compare_floor)
{
    enum { N = 20000 };
    static float a[N], b[N], c[N], w[N];
    gs_rng r;
    gs_rng_seed(&r, 31);
    gs_rng_fill_normal(&r, a, N, 0, 1);
    gs_rng_fill_normal(&r, b, N, 0, 1);
    gs_rng_fill_normal(&r, c, N, 0.3f, 1);
    gs_rng_fill_uniform(&r, w, N, 0.5f, 1.5f);
    mt_compare_opts o = mt_compare_defaults();
    mt_feature_metrics g, f, g1, f1;
    ck_assert_int_eq(mt_compare_1d_floor(a, NULL, N, b, NULL, N, c, NULL, N, &o, &g, &f), GS_OK);
    ck_assert_int_eq(mt_compare_1d(a, NULL, N, c, NULL, N, &o, &g1), GS_OK);
    ck_assert_int_eq(mt_compare_1d(a, NULL, N, b, NULL, N, &o, &f1), GS_OK);
    ck_assert_close(g.kl, g1.kl, 0, 0);
    ck_assert_close(g.w1, g1.w1, 0, 0);
    ck_assert_close(f.ks, f1.ks, 0, 0);
    ck_assert_close(f.chi2_ndf, f1.chi2_ndf, 0, 0);
    /* same truth: χ²/ndf near 1, KS p not small; shifted by 0.3 σ: far off */
    ck_assert(f.chi2_ndf > 0.6 && f.chi2_ndf < 1.5);
    ck_assert(f.ks_p > 0.001);
    ck_assert(g.chi2_ndf > 5 && g.ks_p < 1e-10 && g.kl > 5 * f.kl);
    ck_assert_int_eq(f.ndf, 99);
    /* weights: the weighted χ² form, still near 1 for the same truth */
    ck_assert_int_eq(mt_compare_1d_floor(a, w, N, b, w, N, c, w, N, &o, &g, &f), GS_OK);
    ck_assert(f.chi2_ndf > 0.6 && f.chi2_ndf < 1.5);
    ck_assert(g.chi2_ndf > 5);
    ck_assert_int_eq(mt_compare_1d_floor(a, NULL, N, b, NULL, 0, c, NULL, N, &o, &g, &f),
                     GS_ERR_ARG);
}
END_TEST

/* 2-D KL sees a correlation that every 1-D metric misses */
START_TEST(test_compare_2d)
{
    enum { N = 40000 };
    static float x[N], y[N], x2[N], y2[N], xd[N], yd[N];
    gs_rng r;
    gs_rng_seed(&r, 12);
    for (int i = 0; i < N; i++) {
        double u = gs_rng_normal(&r), v = gs_rng_normal(&r), s = gs_rng_normal(&r);
        x[i] = (float)u;
        y[i] = (float)(0.9 * u + 0.436 * v);
        u = gs_rng_normal(&r), v = gs_rng_normal(&r);
        x2[i] = (float)u;
        y2[i] = (float)(0.9 * u + 0.436 * v);
        /* same marginals, no correlation */
        xd[i] = (float)gs_rng_normal(&r);
        yd[i] = (float)s;
    }
    mt_binning bx, by;
    ck_assert_int_eq(mt_binning_auto(&bx, x, N, 30, 0.001, 0.999, 0), GS_OK);
    ck_assert_int_eq(mt_binning_auto(&by, y, N, 30, 0.001, 0.999, 0), GS_OK);
    mt_pair_metrics g, f;
    ck_assert_int_eq(mt_compare_2d_floor(&bx, &by, x, y, NULL, N, x2, y2, NULL, N, xd, yd, NULL,
                                         N, MT_EPS_DEFAULT, &g, &f), GS_OK);
    ck_assert(g.kl > 10 * f.kl);
    ck_assert(f.chi2_ndf < 1.5 && g.chi2_ndf > 10);
    mt_feature_metrics m1, f1;
    ck_assert_int_eq(mt_compare_1d_floor(x, NULL, N, x2, NULL, N, xd, NULL, N, NULL, &m1, &f1),
                     GS_OK);
    ck_assert(m1.kl < 3 * f1.kl + 1e-3); /* the marginal alone is at the floor */
    /* identical samples: zero */
    ck_assert_int_eq(mt_compare_2d_floor(&bx, &by, x, y, NULL, N, NULL, NULL, NULL, 0, x, y, NULL,
                                         N, MT_EPS_DEFAULT, &g, NULL), GS_OK);
    ck_assert_close(g.kl, 0, 1e-12, 0);
    /* weighted 2-D histogram: Σw² per cell */
    float px[3] = {0.1f, 0.1f, 0.9f}, py[3] = {0.1f, 0.1f, 0.9f}, pw[3] = {2, 3, 1};
    mt_binning u;
    mt_binning_linear(&u, 0, 1, 2);
    double cnt[4], s2[4];
    ck_assert_int_eq(mt_hist2d_w2(&u, &u, MT_FLOW_DROP, px, py, pw, 3, cnt, s2, NULL), GS_OK);
    ck_assert_close(cnt[0], 5, 0, 0);
    ck_assert_close(s2[0], 13, 0, 0);
    ck_assert_close(s2[3], 1, 0, 0);
}
END_TEST

static Suite *hist_suite(void)
{
    Suite *s = suite_create("metrics-hist");
    TCase *tc = tcase_create("hist");
    tcase_add_test(tc, test_binning_linear_edges);
    tcase_add_test(tc, test_binning_log);
    tcase_add_test(tc, test_binning_quantiles);
    tcase_add_test(tc, test_hist1d_flow);
    tcase_add_test(tc, test_hist2d);
    tcase_add_test(tc, test_kl_known);
    tcase_add_test(tc, test_kl_rejects);
    tcase_add_test(tc, test_js_props);
    tcase_add_test(tc, test_chi2);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *sample_suite(void)
{
    Suite *s = suite_create("metrics-sample");
    TCase *tc = tcase_create("sample");
    tcase_add_test(tc, test_w1_shift);
    tcase_add_test(tc, test_w1_known);
    tcase_add_test(tc, test_ks_known);
    tcase_add_test(tc, test_w1_rejects);
    tcase_add_test(tc, test_w1_vs_brute);
    tcase_add_test(tc, test_sort_large);
    tcase_add_test(tc, test_corr);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *zdc_suite(void)
{
    Suite *s = suite_create("metrics-zdc");
    TCase *tc = tcase_create("zdc");
    tcase_add_test(tc, test_zdc_hand_4x4);
    tcase_add_test(tc, test_zdc_partition);
    tcase_add_test(tc, test_zdc_o2_map);
    tcase_add_test(tc, test_max_pixel_ties);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *compare_suite(void)
{
    Suite *s = suite_create("metrics-compare");
    TCase *tc = tcase_create("compare");
    tcase_add_test(tc, test_compare_1d);
    tcase_add_test(tc, test_compare_table_mask);
    tcase_add_test(tc, test_compare_images);
    tcase_add_test(tc, test_compare_floor);
    tcase_add_test(tc, test_compare_2d);
    tcase_add_test(tc, test_binning_auto);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *stats_suite(void)
{
    Suite *s = suite_create("metrics-stats");
    TCase *tc = tcase_create("stats");
    tcase_add_test(tc, test_kolmogorov_chi2_known);
    tcase_add_test(tc, test_auc_known);
    tcase_add_test(tc, test_rank_corr);
    tcase_add_test(tc, test_same_cond_pairs);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(hist_suite, sample_suite, zdc_suite, compare_suite, stats_suite)

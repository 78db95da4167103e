#include <sys/stat.h>

#include "core/gs_h5.h"
#include "datasets/ds.h"
#include "preprocess/pp.h"
#include "testutil.h"

static char dir[64];

static void setup(void) { gs_test_tmpdir(dir, sizeof dir); }
static void teardown(void) { gs_test_rmdir(dir); }

static const char *tpath(const char *name)
{
    static char buf[16][300];
    static int k;
    k = (k + 1) % 16;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

#define ck_msg_has(sub)                                                                    \
    ck_assert_msg(strstr(gs_errmsg(), sub) != NULL, "message '%s' lacks '%s'", gs_errmsg(), sub)

/* clip bound of sklearn's normal output: norm.ppf(1e-7 - eps) */
#define CLIP 5.19933758270342

START_TEST(test_norm)
{
    ck_assert_close(pp_norm_ppf(0.975), 1.959963984540054, 1e-15, 0);
    ck_assert_close(pp_norm_ppf(0.5), 0.0, 1e-16, 0);
    ck_assert_close(pp_norm_ppf(1e-7), -5.1993375821928165, 0, 1e-14); /* scipy */
    ck_assert_close(pp_norm_ppf(1e-300), -37.0470962993612, 0, 1e-13);
    ck_assert_close(pp_norm_ppf(1.0 - 1e-7), 5.1993375821928165, 0, 1e-9); /* 1-p rounding */
    ck_assert_close(pp_norm_cdf(1.959963984540054), 0.975, 1e-15, 0);
    ck_assert_close(pp_norm_cdf(-5.0), 2.866515718791939e-07, 0, 1e-13);
    ck_assert(isinf(pp_norm_ppf(0.0)) && pp_norm_ppf(0.0) < 0);
    ck_assert(isinf(pp_norm_ppf(1.0)));
    ck_assert(isnan(pp_norm_ppf(NAN)) && isnan(pp_norm_ppf(1.5)));
    double worst = 0;
    for (double p = 1e-12; p < 1; p = p < 0.01 ? p * 3 : p + 0.0137)
        worst = fmax(worst, fabs(pp_norm_cdf(pp_norm_ppf(p)) - p) / p);
    ck_assert_double_lt(worst, 1e-13);
}
END_TEST

static void fit1(pp_quantile *qt, const float *x, int64_t n, int64_t nq, pp_output out)
{
    pp_quantile_opts o;
    pp_quantile_opts_default(&o);
    o.n_quantiles = nq;
    o.output = out;
    ck_assert_int_eq(pp_quantile_fit(qt, x, n, 1, &o), GS_OK);
}

START_TEST(test_quantile_known_values)
{
    pp_quantile qt;
    const float x5[5] = {4, 0, 3, 1, 2};
    fit1(&qt, x5, 5, 1000, PP_UNIFORM);
    ck_assert_int_eq(qt.nq, 5); /* capped at n_samples */
    for (int i = 0; i < 5; i++) {
        ck_assert_double_eq(qt.quantiles[i], (double)i);
        ck_assert_double_eq(qt.references[i], 0.25 * i);
    }
    ck_assert_double_eq(pp_quantile_transform1(&qt, 0, 2.0), 0.5);
    ck_assert_double_eq(pp_quantile_transform1(&qt, 0, 0.5), 0.125);
    ck_assert_double_eq(pp_quantile_transform1(&qt, 0, -3.0), 0.0);
    ck_assert_double_eq(pp_quantile_transform1(&qt, 0, 9.0), 1.0);
    ck_assert_double_eq(pp_quantile_inverse1(&qt, 0, 0.625), 2.5);
    ck_assert(isnan(pp_quantile_transform1(&qt, 0, NAN)));
    pp_quantile_free(&qt);
    /* linear percentiles: (n-1) q between order statistics */
    const float x4[4] = {1, 2, 3, 4};
    fit1(&qt, x4, 4, 3, PP_UNIFORM);
    ck_assert_double_eq(qt.quantiles[1], 2.5);
    ck_assert_double_eq(pp_quantile_transform1(&qt, 0, 1.75), 0.25);
    pp_quantile_free(&qt);
    /* repeated values map to the middle of their run (two-sided interpolation) */
    const float xr[5] = {0, 1, 1, 1, 2};
    fit1(&qt, xr, 5, 5, PP_UNIFORM);
    ck_assert_double_eq(pp_quantile_transform1(&qt, 0, 1.0), 0.5);
    ck_assert_double_eq(pp_quantile_transform1(&qt, 0, 0.5), 0.125);
    pp_quantile_free(&qt);
    /* normal output: centre -> 0, edges (within 1e-7) -> clipped ±5.1993 */
    fit1(&qt, x5, 5, 5, PP_NORMAL);
    ck_assert_close(pp_quantile_transform1(&qt, 0, 2.0), 0.0, 1e-15, 0);
    ck_assert_close(pp_quantile_transform1(&qt, 0, 3.0), pp_norm_ppf(0.75), 1e-15, 0);
    ck_assert_close(pp_quantile_transform1(&qt, 0, 4.0), CLIP, 1e-9, 0);
    ck_assert_close(pp_quantile_transform1(&qt, 0, 4.0 - 5e-8), CLIP, 1e-9, 0);
    ck_assert_close(pp_quantile_transform1(&qt, 0, 0.0), -CLIP, 1e-9, 0);
    ck_assert_close(pp_quantile_transform1(&qt, 0, -100.0), -CLIP, 1e-9, 0);
    ck_assert_close(pp_quantile_inverse1(&qt, 0, pp_norm_ppf(0.625)), 2.5, 1e-12, 0);
    ck_assert_double_eq(pp_quantile_inverse1(&qt, 0, 7.0), 4.0);
    ck_assert_double_eq(pp_quantile_inverse1(&qt, 0, -7.0), 0.0);
    pp_quantile_free(&qt);
    /* NaN is ignored by the fit (nanpercentile); infinities are refused */
    const float xn[6] = {NAN, 4, 0, 3, 1, 2};
    fit1(&qt, xn, 6, 5, PP_UNIFORM);
    ck_assert_double_eq(qt.quantiles[4], 4.0);
    ck_assert_double_eq(qt.quantiles[1], 1.0);
    pp_quantile_free(&qt);
    const float xi[3] = {1, INFINITY, 2};
    ck_assert_int_eq(pp_quantile_fit(&qt, xi, 3, 1, NULL), GS_ERR_NUMERIC);
    ck_msg_has("infinite");
    ck_assert_int_eq(pp_quantile_fit(&qt, xi, 0, 1, NULL), GS_ERR_ARG);
}
END_TEST

/* transform -> inverse on toy data returns the data (to float precision,
 * relative to each feature's range) for both outputs, with subsampling too */
START_TEST(test_quantile_roundtrip_and_io)
{
    ds_events ev;
    ck_assert_int_eq(ds_toy_luxe(20000, 8, &ev), GS_OK);
    int64_t n = ev.n, f = ev.f;
    float *y = malloc((size_t)(n * f) * sizeof *y), *z = malloc((size_t)(n * f) * sizeof *z);
    for (int out = 0; out < 2; out++) {
        pp_quantile qt, qt2;
        pp_quantile_opts o;
        pp_quantile_opts_default(&o);
        o.output = out ? PP_NORMAL : PP_UNIFORM;
        o.subsample = out ? 0 : 5000;
        o.seed = 3;
        ck_assert_int_eq(pp_quantile_fit(&qt, ev.x, n, f, &o), GS_OK);
        ck_assert_int_eq(qt.nq, 1000);
        ck_assert_int_eq(pp_quantile_transform(&qt, ev.x, y, n), GS_OK);
        double ymin = 1e9, ymax = -1e9, worst = 0;
        for (int64_t i = 0; i < n * f; i++) {
            ymin = fmin(ymin, y[i]);
            ymax = fmax(ymax, y[i]);
        }
        if (out) {
            ck_assert_double_ge(ymin, -CLIP - 1e-6);
            ck_assert_double_le(ymax, CLIP + 1e-6);
        } else {
            ck_assert_double_ge(ymin, 0);
            ck_assert_double_le(ymax, 1);
        }
        /* save into a group next to other things, load, compare */
        hid_t fh, g;
        ck_assert_int_eq(gs_h5_create(tpath("ck.h5"), &fh), GS_OK);
        ck_assert_int_eq(gs_h5_group_create(fh, "model/prep/qt", &g), GS_OK);
        ck_assert_int_eq(pp_quantile_save(&qt, g), GS_OK);
        H5Gclose(g);
        gs_h5_close(fh);
        ck_assert_int_eq(gs_h5_open(tpath("ck.h5"), 0, &fh), GS_OK);
        ck_assert_int_eq(gs_h5_group_open(fh, "model/prep/qt", &g), GS_OK);
        ck_assert_int_eq(pp_quantile_load(&qt2, g), GS_OK);
        H5Gclose(g);
        gs_h5_close(fh);
        ck_assert_int_eq(qt2.output, qt.output);
        ck_assert_mem_eq(qt2.quantiles, qt.quantiles, (size_t)(qt.nq * f) * sizeof(double));
        ck_assert_int_eq(pp_quantile_inverse(&qt2, y, z, n), GS_OK);
        for (int64_t j = 0; j < f; j++) {
            double range = qt.quantiles[(qt.nq - 1) * f + j] - qt.quantiles[j];
            for (int64_t i = 0; i < n; i++) {
                double x = ev.x[i * f + j];
                if (x < qt.quantiles[j] || x > qt.quantiles[(qt.nq - 1) * f + j])
                    continue; /* outside a subsampled fit's range: clipped by design */
                if (out && fabs(y[i * f + j]) > CLIP - 1e-5)
                    continue; /* sklearn's clip: ppf(1e-7) inverts to 1e-7 inside the edge */
                worst = fmax(worst, fabs(z[i * f + j] - x) / range);
            }
        }
        /* float32 storage of the transformed value limits this path: an
         * absolute 3e-8 rounding of u, times the widest quantile interval in
         * the sparse tail (dx/du up to ~2000 x range with a 5000-row fit) */
        double tol = out ? 1e-5 : 2e-4;
        ck_assert_double_lt(worst, tol);
        /* the double path is exact to 1e-9 of the range */
        worst = 0;
        for (int64_t j = 0; j < f; j++) {
            double range = qt.quantiles[(qt.nq - 1) * f + j] - qt.quantiles[j];
            for (int64_t i = 0; i < n; i += 10) {
                double x = ev.x[i * f + j];
                if (x < qt.quantiles[j] || x > qt.quantiles[(qt.nq - 1) * f + j])
                    continue;
                double u = pp_quantile_transform1(&qt, j, x);
                if (fabs(u) >= CLIP - 1e-9 || u <= 0 || u >= 1 - 1e-12)
                    continue; /* clipped edge values map to the extreme quantile */
                worst = fmax(worst, fabs(pp_quantile_inverse1(&qt, j, u) - x) / range);
            }
        }
        ck_assert_double_lt(worst, 1e-9);
        pp_quantile_free(&qt);
        pp_quantile_free(&qt2);
    }
    free(y);
    free(z);
    ds_events_free(&ev);
}
END_TEST

START_TEST(test_quantile_file_errors)
{
    pp_quantile qt;
    const float x5[5] = {4, 0, 3, 1, 2};
    fit1(&qt, x5, 5, 5, PP_NORMAL);
    ck_assert_int_eq(pp_quantile_save_file(&qt, tpath("q.h5")), GS_OK);
    pp_quantile_free(&qt);
    ck_assert_int_eq(pp_quantile_load_file(&qt, tpath("q.h5")), GS_OK);
    ck_assert_int_eq(qt.nq, 5);
    pp_quantile_free(&qt);
    /* corrupt: decreasing quantiles, wrong kind, missing group */
    hid_t f;
    ck_assert_int_eq(gs_h5_open(tpath("q.h5"), 1, &f), GS_OK);
    ck_assert_int_eq(gs_h5_write(f, "quantile_transform/quantiles", GS_H5_F64, 2,
                                 (int64_t[]){5, 1}, (double[]){0, 1, 5, 3, 4}), GS_OK);
    gs_h5_close(f);
    ck_assert_int_eq(pp_quantile_load_file(&qt, tpath("q.h5")), GS_ERR_FORMAT);
    ck_msg_has("not finite and increasing");
    ck_assert_int_eq(gs_h5_open(tpath("q.h5"), 1, &f), GS_OK);
    ck_assert_int_eq(gs_h5_attr_write_str(f, "quantile_transform", "kind", "minmax"), GS_OK);
    gs_h5_close(f);
    ck_assert_int_eq(pp_quantile_load_file(&qt, tpath("q.h5")), GS_ERR_FORMAT);
    ck_msg_has("expected quantile_transform");
    ck_assert_int_eq(gs_h5_create(tpath("e.h5"), &f), GS_OK);
    gs_h5_close(f);
    ck_assert_int_eq(pp_quantile_load_file(&qt, tpath("e.h5")), GS_ERR_FORMAT);
    ck_msg_has("/quantile_transform: missing group");
}
END_TEST

START_TEST(test_scalers)
{
    /* feature 0: 1,2,3,4; feature 1 constant */
    const float x[8] = {1, 7, 2, 7, 3, 7, 4, 7};
    float y[8], z[8];
    pp_scaler s, s2;
    ck_assert_int_eq(pp_standard_fit(&s, x, 4, 2), GS_OK);
    ck_assert_double_eq(s.shift[0], 2.5);
    ck_assert_close(s.scale[0], sqrt(1.25), 1e-15, 0);
    ck_assert_double_eq(s.scale[1], 1.0);
    pp_scaler_transform(&s, x, y, 4);
    ck_assert_close(y[0], -1.5 / sqrt(1.25), 1e-6, 0);
    ck_assert_float_eq(y[1], 0.0f);
    pp_scaler_inverse(&s, y, z, 4);
    for (int i = 0; i < 8; i++)
        ck_assert_close(z[i], x[i], 1e-6, 0);
    hid_t f, g;
    ck_assert_int_eq(gs_h5_create(tpath("s.h5"), &f), GS_OK);
    ck_assert_int_eq(gs_h5_group_create(f, "std", &g), GS_OK);
    ck_assert_int_eq(pp_scaler_save(&s, g), GS_OK);
    H5Gclose(g);
    pp_scaler_free(&s);
    ck_assert_int_eq(pp_minmax_fit(&s, x, 4, 2, -1, 1), GS_OK);
    pp_scaler_transform(&s, x, y, 4);
    ck_assert_close(y[0], -1.0, 1e-7, 0);
    ck_assert_close(y[6], 1.0, 1e-7, 0);
    ck_assert_close(y[2], -1.0 / 3.0, 1e-7, 0);
    pp_scaler_inverse(&s, y, z, 4);
    for (int i = 0; i < 8; i++)
        ck_assert_close(z[i], x[i], 1e-6, 0);
    ck_assert_int_eq(gs_h5_group_create(f, "mm", &g), GS_OK);
    ck_assert_int_eq(pp_scaler_save(&s, g), GS_OK);
    H5Gclose(g);
    gs_h5_close(f);
    ck_assert_int_eq(gs_h5_open(tpath("s.h5"), 0, &f), GS_OK);
    ck_assert_int_eq(gs_h5_group_open(f, "mm", &g), GS_OK);
    ck_assert_int_eq(pp_scaler_load(&s2, g), GS_OK);
    H5Gclose(g);
    ck_assert_int_eq(s2.kind, PP_SCALER_MINMAX);
    ck_assert_mem_eq(s2.scale, s.scale, 2 * sizeof(double));
    pp_scaler_free(&s2);
    ck_assert_int_eq(gs_h5_group_open(f, "std", &g), GS_OK);
    ck_assert_int_eq(pp_scaler_load(&s2, g), GS_OK);
    H5Gclose(g);
    ck_assert_int_eq(s2.kind, PP_SCALER_STANDARD);
    ck_assert_double_eq(s2.shift[0], 2.5);
    pp_scaler_free(&s2);
    gs_h5_close(f);
    pp_scaler_free(&s);
    ck_assert_int_eq(pp_minmax_fit(&s, x, 4, 2, 1, 1), GS_ERR_ARG);
}
END_TEST

START_TEST(test_log)
{
    float t[8] = {1e-7f, 5, 1, 5, 100, 5, -3, 5}; /* column 0 of a [4, 2] table */
    ck_assert_int_eq(pp_log_column(t, 4, 2, 0, 0.0), 1); /* one guarded value */
    ck_assert_close(t[0], -7.0, 1e-6, 0);
    ck_assert_close(t[2], 0.0, 1e-7, 0);
    ck_assert_close(t[4], 2.0, 1e-7, 0);
    ck_assert_close(t[6], -30.0, 1e-6, 0);
    ck_assert_float_eq(t[1], 5.0f);
    pp_exp_column(t, 4, 2, 0, 0.0);
    ck_assert_close(t[0], 1e-7, 0, 1e-6);
    ck_assert_close(t[4], 100.0, 0, 1e-6);
    float u[2] = {0.0f, 9.0f};
    ck_assert_int_eq(pp_log_column(u, 2, 1, 0, 1.0), 0); /* offset makes 0 loggable */
    ck_assert_close(u[1], 1.0, 1e-7, 0);
}
END_TEST

START_TEST(test_cylindrical)
{
    float k[6] = {0, 2, 0, 0, -1, 7};
    pp_cyl_cols c = {0, 1, 2, 3, 4};
    pp_to_cylindrical(k, 1, 6, &c);
    ck_assert_close(k[0], 2.0, 1e-7, 0);
    ck_assert_close(k[1], M_PI / 2, 1e-6, 0);
    ck_assert_close(k[2], 1.0, 1e-7, 0);
    ck_assert_close(k[3], M_PI, 1e-6, 0);
    ck_assert_float_eq(k[5], 7.0f);
    ds_events ev;
    ck_assert_int_eq(ds_toy_luxe(20000, 2, &ev), GS_OK);
    float *t = malloc((size_t)(ev.n * 6) * sizeof *t);
    memcpy(t, ev.x, (size_t)(ev.n * 6) * sizeof *t);
    pp_to_cylindrical(t, ev.n, 6, &c);
    int64_t bad = 0;
    for (int64_t i = 0; i < ev.n; i++) /* backwards: theta > pi/2 */
        bad += !(t[i * 6 + 3] > M_PI / 2 && t[i * 6 + 0] >= 0);
    ck_assert_int_eq(bad, 0);
    pp_from_cylindrical(t, ev.n, 6, &c);
    double worst = 0;
    for (int64_t i = 0; i < ev.n; i++) {
        const float *a = ev.x + i * 6, *b = t + i * 6;
        double r = hypot(a[0], a[1]), p = sqrt(a[2] * a[2] + a[3] * a[3] + a[4] * a[4]);
        worst = fmax(worst, fabs(a[0] - b[0]) / r);
        worst = fmax(worst, fabs(a[1] - b[1]) / r);
        for (int j = 2; j < 5; j++)
            worst = fmax(worst, fabs(a[j] - b[j]) / p);
    }
    ck_assert_double_lt(worst, 1e-5);
    free(t);
    ds_events_free(&ev);
}
END_TEST

/* A frame round trip's largest error over the rows of a[n, 6] (x y px py ...)
 * with r_lo <= r < r_hi: x, y relative to 1 + r (mm), px, py relative to
 * 1e-3 + |p_T|; b holds the rows after forward and inverse. */
static double frame_roundtrip_err(const float *a, const float *b, int64_t n, double r_lo,
                                  double r_hi)
{
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *p = a + i * 6, *q = b + i * 6;
        double r = hypot(p[0], p[1]);
        if (r < r_lo || r >= r_hi)
            continue;
        for (int j = 0; j < 4; j++)
            worst = fmax(worst, fabs(q[j] - p[j]) / (j < 2 ? 1 + r : 1e-3 + hypot(p[2], p[3])));
    }
    return worst;
}

/* Region frames: round trip, and every model-space value maps into the
 * region exactly (as pp_label_radius / pp_label_rects see it). */
START_TEST(test_region_frames)
{
    ds_events ev;
    ck_assert_int_eq(ds_toy_luxe(20000, 3, &ev), GS_OK);
    const pp_frame_cols c = {0, 1, 2, 3};
    pp_frame ring = {.kind = PP_FRAME_POLAR, .r_lo = 500, .r_hi = INFINITY, .local_p = 1};
    /* the toy halo sits at x < 0: the seam goes to the other side */
    ring.phi0 = pp_frame_fit_phi0(ev.x, ev.n, 6, 0, 1);
    ck_assert_double_gt(fabs(ring.phi0), 2.0);
    float *t = malloc((size_t)(ev.n * 6) * sizeof *t);
    memcpy(t, ev.x, (size_t)(ev.n * 6) * sizeof *t);
    pp_frame_forward(&ring, &c, t, ev.n, 6);
    for (int64_t i = 0; i < ev.n; i++) {
        const float *a = ev.x + i * 6, *b = t + i * 6;
        ck_assert_float_eq_tol(b[0], hypot(a[0], a[1]), 1e-3);
        ck_assert(b[1] > -M_PI - 1e-6 && b[1] <= M_PI + 1e-6);
        /* p_r, p_phi keep the transverse momentum */
        ck_assert_float_eq_tol(hypot(b[2], b[3]), hypot(a[2], a[3]), 1e-5 + 1e-5 * hypot(a[2], a[3]));
    }
    pp_frame keep = ring;
    keep.r_lo = 0; /* the round trip of every row, whatever its radius */
    pp_frame_inverse(&keep, &c, t, ev.n, 6);
    ck_assert_double_lt(frame_roundtrip_err(ev.x, t, ev.n, 0, INFINITY), 1e-5);
    /* confinement: values at and beyond the ring's edges land inside it */
    pp_frame r2 = {.kind = PP_FRAME_POLAR, .r_lo = 500, .r_hi = 1000, .phi0 = 0.3};
    gs_rng g;
    gs_rng_seed(&g, 5);
    const int64_t n = 200000;
    float *u = malloc((size_t)(n * 2) * sizeof *u);
    for (int64_t i = 0; i < n; i++) {
        double k = gs_rng_uniform(&g);
        u[2 * i] = (float)(k < 0.3 ? 500.0 : k < 0.6 ? 999.99999 : k < 0.7 ? 1000.0 : 400 + 700 * gs_rng_uniform(&g));
        u[2 * i + 1] = (float)(2 * M_PI * gs_rng_uniform(&g) - M_PI);
    }
    const pp_frame_cols c2 = {0, 1, -1, -1};
    pp_frame_inverse(&r2, &c2, u, n, 2);
    const double radii[2] = {500, 1000};
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    pp_label_radius(u, n, 2, 0, 1, radii, 2, lab);
    int64_t out = 0;
    for (int64_t i = 0; i < n; i++)
        out += lab[i] != 1;
    ck_assert_int_eq(out, 0);
    /* a box: open sides stay open, closed ones are kept strictly */
    pp_frame bx = {.kind = PP_FRAME_BOX, .box = {-1700, 500, -INFINITY, 500}};
    float v[8] = {-1700, 0, 500, 500, -5000, -1e30f, 0, 499.99999f};
    pp_frame_inverse(&bx, &c2, v, 4, 2);
    pp_label_rects(v, 4, 2, 0, 1, &bx.box, 1, lab);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(lab[i], 0);
    ck_assert_float_eq(v[5], -1e30f); /* nothing to guard on the open side */
    free(u);
    free(lab);
    free(t);
    ds_events_free(&ev);
}
END_TEST

/* The hole frame of the outermost ring: round trip of the region's rows,
 * every (u, v) — anywhere in the plane, the centre included — maps to
 * r >= r_lo, and the map keeps areas (u^2 + v^2 = r^2 - r_lo^2, so a uniform
 * density over an annulus stays uniform over the disc it maps to). */
START_TEST(test_hole_frame)
{
    ds_events ev;
    ck_assert_int_eq(ds_toy_luxe(20000, 3, &ev), GS_OK);
    const pp_frame_cols c = {0, 1, 2, 3};
    const pp_frame hole = {.kind = PP_FRAME_HOLE, .r_lo = 500, .r_hi = INFINITY, .local_p = 1};
    ck_assert_str_eq(pp_frame_name(&hole, 0), "u");
    ck_assert_str_eq(pp_frame_name(&hole, 1), "v");
    float *t = malloc((size_t)(ev.n * 6) * sizeof *t);
    memcpy(t, ev.x, (size_t)(ev.n * 6) * sizeof *t);
    pp_frame_forward(&hole, &c, t, ev.n, 6);
    int64_t m = 0;
    for (int64_t i = 0; i < ev.n; i++) {
        const float *a = ev.x + i * 6, *b = t + i * 6;
        double r = hypot(a[0], a[1]);
        if (r < 500)
            continue;
        m++;
        ck_assert_float_eq_tol(hypot(b[0], b[1]), sqrt(r * r - 500.0 * 500.0), 1e-3 * (1 + r));
        /* same direction as (x, y): no azimuth origin, hence no seam */
        ck_assert_double_lt(fabs(b[0] * a[1] - b[1] * a[0]), 1e-3 * r * r);
        ck_assert_double_ge(b[0] * a[0] + b[1] * a[1], 0);
    }
    ck_assert_int_gt(m, 1000);
    pp_frame_inverse(&hole, &c, t, ev.n, 6);
    ck_assert_double_lt(frame_roundtrip_err(ev.x, t, ev.n, 500, INFINITY), 1e-5);
    /* confinement and areas: (u, v) uniform on the disc of radius S maps to r
     * in [500, sqrt(S^2 + 500^2)) uniform in area; (0, 0) and non-finite
     * values go to the inner edge */
    gs_rng g;
    gs_rng_seed(&g, 9);
    const int64_t n = 200000;
    const double S = 1500, rmax = sqrt(S * S + 500.0 * 500.0);
    float *u = malloc((size_t)(n * 2) * sizeof *u);
    for (int64_t i = 0; i < n; i++) {
        double rr = S * sqrt(gs_rng_uniform(&g)), ph = 2 * M_PI * gs_rng_uniform(&g);
        u[2 * i] = (float)(rr * cos(ph));
        u[2 * i + 1] = (float)(rr * sin(ph));
    }
    u[0] = u[1] = 0;
    u[2] = NAN;
    u[4] = 1e-30f;
    u[5] = -1e-30f;
    const pp_frame_cols c2 = {0, 1, -1, -1};
    pp_frame_inverse(&hole, &c2, u, n, 2);
    const double radii[1] = {500};
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    pp_label_radius(u, n, 2, 0, 1, radii, 1, lab);
    int64_t out = 0, below_mid = 0;
    const double rmid2 = 0.5 * (500.0 * 500.0 + rmax * rmax); /* half the annulus' area */
    for (int64_t i = 0; i < n; i++) {
        out += lab[i] != 1;
        below_mid += (double)u[2 * i] * u[2 * i] + (double)u[2 * i + 1] * u[2 * i + 1] < rmid2;
    }
    ck_assert_int_eq(out, 0);
    /* binomial(n, 1/2): 5 sigma = 1118 */
    ck_assert_int_lt(llabs(below_mid - n / 2), 1118);
    ck_assert_double_lt(hypot(u[0], u[1]), 500.01);
    free(u);
    free(lab);
    free(t);
    ds_events_free(&ev);
}
END_TEST

/* The disc frame of the innermost disc: round trip of the region's rows
 * against the closed-form map (Nowell's square-to-disc map checked pointwise),
 * (u, v) on the square's axes is (x, y) / r_hi, near the centre the map is the
 * identity to second order, and every (u, v) of the closed square — corners,
 * edges, NaN — lands strictly inside the disc, so relabelling gives region 0. */
START_TEST(test_disc_frame)
{
    ds_events ev;
    ck_assert_int_eq(ds_toy_luxe(20000, 5, &ev), GS_OK);
    const pp_frame_cols c = {0, 1, 2, 3};
    const pp_frame disc = {.kind = PP_FRAME_DISC, .r_lo = 0, .r_hi = 500, .local_p = 1};
    ck_assert_str_eq(pp_frame_name(&disc, 0), "u");
    ck_assert_str_eq(pp_frame_name(&disc, 1), "v");
    ck_assert_str_eq(pp_frame_name(&disc, 2), "p_r");
    float *t = malloc((size_t)(ev.n * 6) * sizeof *t);
    memcpy(t, ev.x, (size_t)(ev.n * 6) * sizeof *t);
    pp_frame_forward(&disc, &c, t, ev.n, 6);
    int64_t m = 0;
    for (int64_t i = 0; i < ev.n; i++) {
        const float *a = ev.x + i * 6, *b = t + i * 6;
        if (hypot(a[0], a[1]) >= 500)
            continue;
        m++;
        ck_assert(fabsf(b[0]) < 1 && fabsf(b[1]) < 1);
        /* the forward map inverts Nowell's: x = r_hi u sqrt(1 - v^2/2), ... */
        ck_assert_double_lt(fabs(500 * b[0] * sqrt(1 - 0.5 * b[1] * b[1]) - a[0]), 2e-3);
        ck_assert_double_lt(fabs(500 * b[1] * sqrt(1 - 0.5 * b[0] * b[0]) - a[1]), 2e-3);
    }
    ck_assert_int_gt(m, 1000);
    pp_frame_inverse(&disc, &c, t, ev.n, 6);
    ck_assert_double_lt(frame_roundtrip_err(ev.x, t, ev.n, 0, 500), 1e-5);
    /* on the axes the map is radial and linear; near the centre the identity */
    float ax[8] = {300, 0, 0, -450, 1, 2, -3, 0.5f};
    const pp_frame_cols c2 = {0, 1, -1, -1};
    pp_frame_forward(&disc, &c2, ax, 4, 2);
    ck_assert_float_eq_tol(ax[0], 0.6f, 1e-6f);
    ck_assert_float_eq_tol(ax[1], 0.0f, 1e-7f);
    ck_assert_float_eq_tol(ax[3], -0.9f, 1e-6f);
    ck_assert_float_eq_tol(ax[4], 1 / 500.0f, 1e-8f);
    ck_assert_float_eq_tol(ax[5], 2 / 500.0f, 1e-8f);
    /* confinement: a grid over the closed square and beyond, NaN included */
    enum { G = 201 };
    float *u = malloc((size_t)(G * G + 1) * 2 * sizeof *u);
    for (int i = 0; i < G; i++)
        for (int j = 0; j < G; j++) {
            u[2 * (i * G + j)] = -1.02f + 2.04f * (float)i / (G - 1);
            u[2 * (i * G + j) + 1] = -1.02f + 2.04f * (float)j / (G - 1);
        }
    u[2 * G * G] = NAN;
    u[2 * G * G + 1] = 0.5f;
    pp_frame_inverse(&disc, &c2, u, G * G + 1, 2);
    const double radii[1] = {500};
    int32_t *lab = malloc((size_t)(G * G + 1) * sizeof *lab);
    pp_label_radius(u, G * G + 1, 2, 0, 1, radii, 1, lab);
    for (int64_t i = 0; i < G * G + 1; i++)
        ck_assert_int_eq(lab[i], 0);
    free(lab);
    free(u);
    free(t);
    ds_events_free(&ev);
}
END_TEST

START_TEST(test_frame_io)
{
    char path[192];
    snprintf(path, sizeof path, "%s/frame.h5", dir);
    pp_frame a = {.kind = PP_FRAME_POLAR, .r_lo = 300, .r_hi = INFINITY, .phi0 = -2.5,
                  .local_p = 1}, b;
    hid_t f, g;
    ck_assert_int_eq(gs_h5_create(path, &f), GS_OK);
    ck_assert_int_eq(gs_h5_group_create(f, "s", &g), GS_OK);
    ck_assert_int_eq(pp_frame_save(&a, g), GS_OK);
    H5Gclose(g);
    ck_assert_int_eq(gs_h5_group_create(f, "old", &g), GS_OK); /* no frame attributes */
    H5Gclose(g);
    ck_assert_int_eq(gs_h5_close(f), GS_OK);
    ck_assert_int_eq(gs_h5_open(path, 0, &f), GS_OK);
    ck_assert_int_eq(gs_h5_group_open(f, "s", &g), GS_OK);
    ck_assert_int_eq(pp_frame_load(&b, g), GS_OK);
    H5Gclose(g);
    ck_assert_int_eq(b.kind, PP_FRAME_POLAR);
    ck_assert_double_eq(b.r_lo, 300);
    ck_assert(isinf(b.r_hi));
    ck_assert_double_eq(b.phi0, -2.5);
    ck_assert_int_eq(b.local_p, 1);
    ck_assert_int_eq(gs_h5_group_open(f, "old", &g), GS_OK);
    ck_assert_int_eq(pp_frame_load(&b, g), GS_OK);
    H5Gclose(g);
    ck_assert_int_eq(b.kind, PP_FRAME_NONE);
    gs_h5_close(f);
    /* a hole frame: kind and inner radius back; a finite r_hi is refused */
    pp_frame h = {.kind = PP_FRAME_HOLE, .r_lo = 500, .r_hi = INFINITY};
    ck_assert_int_eq(gs_h5_create(path, &f), GS_OK);
    ck_assert_int_eq(gs_h5_group_create(f, "h", &g), GS_OK);
    ck_assert_int_eq(pp_frame_save(&h, g), GS_OK);
    H5Gclose(g);
    h.r_hi = 1000;
    ck_assert_int_eq(gs_h5_group_create(f, "bad", &g), GS_OK);
    ck_assert_int_eq(pp_frame_save(&h, g), GS_OK);
    H5Gclose(g);
    ck_assert_int_eq(gs_h5_close(f), GS_OK);
    ck_assert_int_eq(gs_h5_open(path, 0, &f), GS_OK);
    ck_assert_int_eq(gs_h5_group_open(f, "h", &g), GS_OK);
    ck_assert_int_eq(pp_frame_load(&b, g), GS_OK);
    H5Gclose(g);
    ck_assert_int_eq(b.kind, PP_FRAME_HOLE);
    ck_assert_double_eq(b.r_lo, 500);
    ck_assert_int_eq(gs_h5_group_open(f, "bad", &g), GS_OK);
    ck_assert_int_eq(pp_frame_load(&b, g), GS_ERR_FORMAT);
    H5Gclose(g);
    gs_h5_close(f);
    /* a disc frame: kind and radius back; an infinite radius is refused */
    pp_frame d = {.kind = PP_FRAME_DISC, .r_lo = 0, .r_hi = 150};
    ck_assert_int_eq(gs_h5_create(path, &f), GS_OK);
    ck_assert_int_eq(gs_h5_group_create(f, "d", &g), GS_OK);
    ck_assert_int_eq(pp_frame_save(&d, g), GS_OK);
    H5Gclose(g);
    d.r_hi = INFINITY;
    ck_assert_int_eq(gs_h5_group_create(f, "bad", &g), GS_OK);
    ck_assert_int_eq(pp_frame_save(&d, g), GS_OK);
    H5Gclose(g);
    ck_assert_int_eq(gs_h5_close(f), GS_OK);
    ck_assert_int_eq(gs_h5_open(path, 0, &f), GS_OK);
    ck_assert_int_eq(gs_h5_group_open(f, "d", &g), GS_OK);
    ck_assert_int_eq(pp_frame_load(&b, g), GS_OK);
    H5Gclose(g);
    ck_assert_int_eq(b.kind, PP_FRAME_DISC);
    ck_assert_double_eq(b.r_hi, 150);
    ck_assert_int_eq(gs_h5_group_open(f, "bad", &g), GS_OK);
    ck_assert_int_eq(pp_frame_load(&b, g), GS_ERR_FORMAT);
    H5Gclose(g);
    gs_h5_close(f);
    unlink(path);
}
END_TEST

/* Rectangles into pieces: each piece lies in one region, the pieces cover
 * the plane, and pp_label_pieces agrees with pp_label_rects. */
START_TEST(test_rect_pieces)
{
    pp_rect r[3], pc[64];
    int32_t reg[64];
    ck_assert_int_eq(pp_rect_parse("-1700<x<500,y<500", &r[0]), GS_OK);
    int np = 0;
    ck_assert_int_eq(pp_rect_pieces(r, 1, pc, reg, 64, &np), GS_OK);
    ck_assert_int_eq(np, 4); /* the rectangle, and the rest as left, top, right */
    int nrest = 0;
    for (int k = 0; k < np; k++)
        nrest += reg[k] == 1;
    ck_assert_int_eq(nrest, 3);
    /* overlapping rectangles: the second loses what the first holds */
    ck_assert_int_eq(pp_rect_parse("0<x<10,0<y<10", &r[0]), GS_OK);
    ck_assert_int_eq(pp_rect_parse("5<x<20,5<y<20", &r[1]), GS_OK);
    ck_assert_int_eq(pp_rect_parse("x<-3", &r[2]), GS_OK);
    ck_assert_int_eq(pp_rect_pieces(r, 3, pc, reg, 64, &np), GS_OK);
    ck_assert_int_gt(np, 3);
    gs_rng g;
    gs_rng_seed(&g, 9);
    const int64_t n = 20000;
    float *t = malloc((size_t)(2 * n) * sizeof *t);
    for (int64_t i = 0; i < n; i++) {
        t[2 * i] = (float)(40 * gs_rng_uniform(&g) - 15);
        t[2 * i + 1] = (float)(40 * gs_rng_uniform(&g) - 15);
        if (i % 7 == 0)
            t[2 * i] = (float)(5 * (i % 5)); /* on the edges too */
    }
    int32_t *la = malloc((size_t)n * sizeof *la), *lb = malloc((size_t)n * sizeof *lb);
    pp_label_rects(t, n, 2, 0, 1, r, 3, la);
    pp_label_pieces(t, n, 2, 0, 1, r, 3, pc, reg, np, lb);
    for (int64_t i = 0; i < n; i++) {
        ck_assert_int_ge(lb[i], 0);
        ck_assert_int_eq(reg[lb[i]], la[i]);
        const pp_rect *q = &pc[lb[i]];
        ck_assert(t[2 * i] >= q->xmin && t[2 * i] <= q->xmax && t[2 * i + 1] >= q->ymin &&
                  t[2 * i + 1] <= q->ymax);
    }
    /* every piece's interior is in its region: its centre (or a point of it) labels so */
    for (int k = 0; k < np; k++) {
        double lo[2] = {pc[k].xmin, pc[k].ymin}, hi[2] = {pc[k].xmax, pc[k].ymax}, m[2];
        for (int a = 0; a < 2; a++)
            m[a] = isinf(lo[a]) && isinf(hi[a]) ? 0
                   : isinf(lo[a])               ? hi[a] - 1
                   : isinf(hi[a])               ? lo[a] + 1
                                                : 0.5 * (lo[a] + hi[a]);
        const double cx = m[0], cy = m[1];
        float p[2] = {(float)cx, (float)cy};
        int32_t l;
        pp_label_rects(p, 1, 2, 0, 1, r, 3, &l);
        ck_assert_int_eq(l, reg[k]);
    }
    ck_assert_int_eq(pp_rect_pieces(r, 3, pc, reg, 2, &np), GS_ERR_ARG); /* no room */
    free(t);
    free(la);
    free(lb);
}
END_TEST

START_TEST(test_regions_species)
{
    pp_rect r[2];
    ck_assert_int_eq(pp_rect_parse("-1700<x<500, y<500", &r[0]), GS_OK);
    ck_assert_double_eq(r[0].xmin, -1700);
    ck_assert_double_eq(r[0].xmax, 500);
    ck_assert(isinf(r[0].ymin) && r[0].ymin < 0);
    ck_assert_double_eq(r[0].ymax, 500);
    ck_assert_int_eq(pp_rect_parse("x>3", &r[1]), GS_ERR_ARG);
    ck_assert_int_eq(pp_rect_parse("z<3", &r[1]), GS_ERR_ARG);
    ck_assert_int_eq(pp_rect_parse("2000<x", &r[1]), GS_OK);
    ck_assert(isinf(r[1].xmax));
    /* rows: (x, y, extra) */
    const float t[15] = {0, 0, 1, -2000, 0, 2, 600, 600, 3, 2500, 0, 4, 100, -100, 5};
    int32_t lab[5], ring[5], pdg[5] = {2112, 22, 2112, 11, -11};
    pp_label_rects(t, 5, 3, 0, 1, r, 2, lab);
    ck_assert_int_eq(lab[0], 0);
    ck_assert_int_eq(lab[1], 2); /* the rest */
    ck_assert_int_eq(lab[2], 2);
    ck_assert_int_eq(lab[3], 1);
    ck_assert_int_eq(lab[4], 0);
    const double radii[2] = {200, 1000};
    pp_label_radius(t, 5, 3, 0, 1, radii, 2, ring);
    ck_assert_int_eq(ring[0], 0);
    ck_assert_int_eq(ring[1], 2);
    ck_assert_int_eq(ring[2], 1);
    ck_assert_int_eq(ring[4], 0);
    uint8_t m[5];
    int64_t idx[5];
    const int32_t leptons[2] = {11, -11};
    pp_mask_species(pdg, 5, leptons, 2, m);
    ck_assert_int_eq(pp_mask_to_index(m, 5, idx), 2);
    ck_assert_int_eq(idx[0], 3);
    ck_assert_int_eq(idx[1], 4);
    float g[6];
    pp_gather_rows(t, 3, idx, 2, g);
    ck_assert_float_eq(g[2], 4.0f);
    ck_assert_float_eq(g[5], 5.0f);
    pp_mask_label(ring, 5, 0, m);
    ck_assert_int_eq(pp_mask_to_index(m, 5, idx), 2);
}
END_TEST

/* ---- gansim-prep ---- */

static int run(const char *args)
{
    char cmd[1500];
    snprintf(cmd, sizeof cmd, "'%s/gansim-prep' %s >/dev/null 2>&1", gs_test_bin(), args);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

START_TEST(test_prep_tool)
{
    ds_events ev, tr, back;
    ck_assert_int_eq(ds_toy_luxe(3000, 1, &ev), GS_OK);
    const char *data = tpath("d.h5"), *qt = tpath("qt.h5"), *tp = tpath("t.h5"),
               *ip = tpath("i.h5");
    ck_assert_int_eq(ds_events_write(data, &ev), GS_OK);
    char a[1200];
    snprintf(a, sizeof a, "fit --in '%s' -o '%s' --n-quantiles 500", data, qt);
    ck_assert_int_eq(run(a), 0);
    snprintf(a, sizeof a, "transform --qt '%s' --in '%s' -o '%s'", qt, data, tp);
    ck_assert_int_eq(run(a), 0);
    snprintf(a, sizeof a, "inverse --qt '%s' --in '%s' -o '%s'", qt, tp, ip);
    ck_assert_int_eq(run(a), 0);
    ck_assert_int_eq(ds_events_read(tp, NULL, &tr), GS_OK);
    ck_assert_int_eq(ds_events_read(ip, NULL, &back), GS_OK);
    ck_assert_mem_eq(back.pdg, ev.pdg, 3000 * sizeof(int32_t));
    ck_assert_double_eq(back.particles_per_bx, ev.particles_per_bx);
    ck_assert_ptr_null(tr.units);
    ck_assert_str_eq(back.units[5], "ns");
    int64_t big = 0;
    for (int64_t i = 0; i < 3000 * 6; i++) {
        big += fabsf(tr.x[i]) > 5.2f;
        big += !(fabs(back.x[i] - ev.x[i]) <= 1e-4 * fabs(ev.x[i]) + 1e-6);
    }
    ck_assert_int_eq(big, 0);
    ds_events_free(&tr);
    ds_events_free(&back);
    ds_events_free(&ev);
    /* usage errors: exit 2, no output */
    const char *o = tpath("out.h5");
    const char *usage[] = {"", "fit -o '%2$s'", "fit --in '%1$s'", "frob --in '%1$s' -o '%2$s'",
                           "fit --in '%1$s' -o '%2$s' --output gauss",
                           "fit --in '%1$s' -o '%2$s' --n-quantiles 0",
                           "transform --in '%1$s' -o '%2$s'", "fit --in '%1$s' -o '%2$s' --x 1"};
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        snprintf(a, sizeof a, usage[i], data, o);
        ck_assert_msg(run(a) == 2, "'%s' should be a usage error", a);
        ck_assert(!exists(o));
    }
    ck_assert_int_eq(run("--help"), 0);
    ck_assert_int_eq(run("--version"), 0);
    /* runtime failures: exit 1, no output */
    snprintf(a, sizeof a, "fit --in '%s' -o '%s'", tpath("none.h5"), o);
    ck_assert_int_eq(run(a), 1);
    snprintf(a, sizeof a, "transform --qt '%s' --in '%s' -o '%s'", data, data, o);
    ck_assert_int_eq(run(a), 1); /* data.h5 is not a transform */
    FILE *fp = fopen(tpath("two.csv"), "w");
    fputs("a,b\n1,2\n3,4\n", fp);
    fclose(fp);
    snprintf(a, sizeof a, "fit --in '%s' -o '%s'", tpath("two.csv"), tpath("q2.h5"));
    ck_assert_int_eq(run(a), 0);
    snprintf(a, sizeof a, "transform --qt '%s' --in '%s' -o '%s'", tpath("q2.h5"), data, o);
    ck_assert_int_eq(run(a), 1); /* 6 features vs 2 */
    ck_assert(!exists(o));
}
END_TEST

static Suite *pp_suite(void)
{
    Suite *s = suite_create("preprocess");
    TCase *tc = tcase_create("preprocess");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_norm);
    tcase_add_test(tc, test_quantile_known_values);
    tcase_add_test(tc, test_quantile_roundtrip_and_io);
    tcase_add_test(tc, test_quantile_file_errors);
    tcase_add_test(tc, test_scalers);
    tcase_add_test(tc, test_log);
    tcase_add_test(tc, test_cylindrical);
    tcase_add_test(tc, test_regions_species);
    tcase_add_test(tc, test_region_frames);
    tcase_add_test(tc, test_hole_frame);
    tcase_add_test(tc, test_disc_frame);
    tcase_add_test(tc, test_frame_io);
    tcase_add_test(tc, test_rect_pieces);
    tcase_add_test(tc, test_prep_tool);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(pp_suite)

/* Checkpoints written by an earlier gansim (tests/fixtures, see its
 * README.md) still resume and sample: a run stopped part-way is resumed to
 * the end and must land where the same run trained straight through landed
 * then. On the machine that wrote the fixtures the weights are equal to the
 * bit; elsewhere OpenBLAS may pick other kernels for the CPU, whose
 * rounding differs, hence the tolerance. */
#include <sys/stat.h>

#include "core/gs_h5.h"
#include "models/md_luxe.h"
#include "models/md_zdc.h"
#include "testutil.h"

static const char *fixtures(void)
{
    const char *d = getenv("GANSIM_FIXTURES");
    return d ? d : "tests/fixtures";
}

/* Copies fixture `name` to dir/last.h5 (what --resume reads). */
static void stage(const char *name, const char *dir)
{
    ck_assert_int_eq(gs_test_run("cp '%s/%s' '%s/last.h5'", fixtures(), name, dir), 0);
}

/* Every dataset of group `want` in file a equals `got` in file b within tol
 * (absolute); returns the largest difference. */
static double max_diff(const char *a, const char *ga, const char *b, const char *gb,
                       const char *const *names, int n)
{
    double worst = 0;
    for (int i = 0; i < n; i++) {
        char pa[256], pb[256];
        snprintf(pa, sizeof pa, "%s/%s", ga, names[i]);
        snprintf(pb, sizeof pb, "%s/%s", gb, names[i]);
        hid_t fa, fb;
        ck_assert_int_eq(gs_h5_open(a, 0, &fa), GS_OK);
        ck_assert_int_eq(gs_h5_open(b, 0, &fb), GS_OK);
        int ra, rb;
        int64_t da[4], db[4];
        ck_assert_msg(gs_h5_shape(fa, pa, &ra, da) == GS_OK, "%s", gs_errmsg());
        ck_assert_msg(gs_h5_shape(fb, pb, &rb, db) == GS_OK, "%s", gs_errmsg());
        ck_assert_int_eq(ra, rb);
        int64_t n_el = 1;
        for (int k = 0; k < ra; k++) {
            ck_assert_int_eq(da[k], db[k]);
            n_el *= da[k];
        }
        float *xa = malloc((size_t)n_el * sizeof *xa), *xb = malloc((size_t)n_el * sizeof *xb);
        ck_assert_int_eq(gs_h5_read_into(fa, pa, GS_H5_F32, ra, da, xa), GS_OK);
        ck_assert_int_eq(gs_h5_read_into(fb, pb, GS_H5_F32, rb, db, xb), GS_OK);
        for (int64_t k = 0; k < n_el; k++) {
            ck_assert(isfinite(xa[k]));
            const double d = fabs((double)xa[k] - (double)xb[k]);
            worst = d > worst ? d : worst;
        }
        free(xa);
        free(xb);
        gs_h5_close(fa);
        gs_h5_close(fb);
    }
    return worst;
}

START_TEST(t_luxe_resume_old_checkpoint)
{
    const int threads = nn_get_threads();
    nn_set_threads(1);
    ds_events ev;
    ck_assert_int_eq(ds_toy_luxe(4000, 21, &ev), GS_OK);
    char dir[64], p[256], q[256];
    gs_test_tmpdir(dir, sizeof dir);
    stage("luxe-stopped-last.h5", dir);
    md_luxe_cfg cfg;
    md_luxe_cfg_default(&cfg); /* ignored: the checkpoint's configuration rules */
    md_train_opts o = {.out_dir = dir, .resume = 1};
    int stopped = -1;
    ck_assert_msg(md_luxe_train(&cfg, &ev, &o, &stopped) == GS_OK, "%s", gs_errmsg());
    ck_assert_int_eq(stopped, 0);
    snprintf(p, sizeof p, "%s/last.h5", dir);
    snprintf(q, sizeof q, "%s/luxe-final-G.h5", fixtures());
    const char *names[] = {"G.l0.w", "G.l0.b", "G.l1.w", "G.l1.b", "G.l2.w", "G.l2.b"};
    for (int k = 0; k < 4; k++) {
        char ga[64], gb[64];
        snprintf(ga, sizeof ga, "sub%d/train/G", k);
        snprintf(gb, sizeof gb, "sub%d/G", k);
        const double d = max_diff(p, ga, q, gb, names, 6);
        ck_assert_msg(d <= 2e-3, "sub-model %d: generator %g from the straight run", k, d);
    }
    /* the old model file and the new one both sample */
    for (int j = 0; j < 2; j++) {
        if (j)
            snprintf(p, sizeof p, "%s/model.h5", dir);
        else
            snprintf(p, sizeof p, "%s/luxe-stopped-model.h5", fixtures());
        md_luxe_model *m;
        ck_assert_msg(md_luxe_load(p, &m) == GS_OK, "%s", gs_errmsg());
        ds_events g;
        ck_assert_int_eq(md_luxe_sample(m, 500, 3, &g), GS_OK);
        for (int64_t i = 0; i < g.n * g.f; i++)
            ck_assert(isfinite(g.x[i]));
        ds_events_free(&g);
        md_luxe_free(m);
    }
    ds_events_free(&ev);
    gs_test_rmdir(dir);
    nn_set_threads(threads);
}
END_TEST

START_TEST(t_zdc_resume_old_checkpoint)
{
    const int threads = nn_get_threads();
    nn_set_threads(1);
    ds_images data;
    ck_assert_int_eq(ds_toy_zdc(120, 23, &data), GS_OK);
    char dir[64], p[256], q[256];
    gs_test_tmpdir(dir, sizeof dir);
    stage("zdc-stopped-last.h5", dir);
    md_zdc_cfg cfg;
    md_zdc_cfg_default(&cfg);
    md_train_opts o = {.out_dir = dir, .resume = 1};
    int stopped = -1;
    ck_assert_msg(md_zdc_train(&cfg, &data, &o, &stopped) == GS_OK, "%s", gs_errmsg());
    ck_assert_int_eq(stopped, 0);
    snprintf(p, sizeof p, "%s/last.h5", dir);
    snprintf(q, sizeof q, "%s/zdc-final-G.h5", fixtures());
    const char *names[] = {"G.fc.w", "G.fc.b", "G.conv0.w", "G.conv1.w", "G.conv2.w",
                           "G.bn0.weight", "G.bn2.bias"};
    double d = max_diff(p, "train/G", q, "G", names, 7);
    ck_assert_msg(d <= 2e-3, "generator %g from the straight run", d);
    d = max_diff(p, "train/G_ema", q, "G_ema", names, 7);
    ck_assert_msg(d <= 2e-3, "generator average %g from the straight run", d);
    for (int j = 0; j < 2; j++) {
        if (j)
            snprintf(p, sizeof p, "%s/model.h5", dir);
        else
            snprintf(p, sizeof p, "%s/zdc-stopped-model.h5", fixtures());
        md_zdc_model *m;
        ck_assert_msg(md_zdc_load(p, &m) == GS_OK, "%s", gs_errmsg());
        ds_images g;
        ck_assert_int_eq(md_zdc_sample(m, data.cond, 4, 2, 3, &g), GS_OK);
        for (int64_t i = 0; i < g.n * g.h * g.w; i++)
            ck_assert(isfinite(g.images[i]) && g.images[i] >= 0);
        ds_images_free(&g);
        md_zdc_free(m);
    }
    ds_images_free(&data);
    gs_test_rmdir(dir);
    nn_set_threads(threads);
}
END_TEST

static Suite *compat_suite(void)
{
    Suite *s = suite_create("compat");
    TCase *tc = tcase_create("compat");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_luxe_resume_old_checkpoint);
    tcase_add_test(tc, t_zdc_resume_old_checkpoint);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(compat_suite)

/* End-to-end suite for gansim-eval: writes small event and image files with
 * the HDF5 C API in the layout of docs/formats.md (independent of datasets/'s
 * writer), runs $GANSIM_BIN/gansim-eval and checks exit codes, the
 * metrics.json contract keys and the PNGs (when gnuplot is installed). */
#include <hdf5.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/gs_core.h"
#include "testutil.h"

/* a variable-length UTF-8 string attribute, as h5py writes by default */
static void put_str_attr(hid_t obj, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(a, 0);
    ck_assert_int_ge(H5Awrite(a, t, &value), 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
}

static hid_t put_data(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims,
                      const void *data)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    ck_assert_int_ge(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
    H5Sclose(sp);
    return d;
}

/* LUXE-like table: x,y (mm) spread around the axis so both regions are
 * populated, px,py,pz,t; two species. `shift` moves the generated sample. */
static void write_events(const char *path, int64_t n, uint64_t seed, float shift)
{
    gs_rng r;
    gs_rng_seed(&r, seed);
    enum { F = 6 };
    float *x = malloc((size_t)n * F * sizeof *x);
    int32_t *pdg = malloc((size_t)n * sizeof *pdg);
    for (int64_t i = 0; i < n; i++) {
        float *row = x + i * F;
        row[0] = (float)(gs_rng_normal(&r) * 600 + shift);
        row[1] = (float)(gs_rng_normal(&r) * 600);
        row[2] = (float)gs_rng_normal(&r);
        row[3] = (float)gs_rng_normal(&r);
        row[4] = (float)-fabs(gs_rng_normal(&r));
        row[5] = (float)gs_rng_exponential(&r, 100.0 + shift);
        pdg[i] = gs_rng_below(&r, 5) ? 2112 : 22;
    }
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    hsize_t d2[2] = {(hsize_t)n, F}, d1[1] = {(hsize_t)n};
    hid_t d = put_data(f, "events", H5T_NATIVE_FLOAT, 2, d2, x);
    put_str_attr(d, "columns", "x,y,px,py,pz,t");
    put_str_attr(d, "units", "mm,mm,GeV,GeV,GeV,ns");
    H5Dclose(d);
    H5Dclose(put_data(f, "pdg", H5T_NATIVE_INT32, 1, d1, pdg));
    H5Fclose(f);
    free(x);
    free(pdg);
}

/* ZDC-like set: n images 56x30 with a bright spot, 9 conditions per row */
static void write_images(const char *path, int64_t n, uint64_t seed, float scale)
{
    enum { H = 56, W = 30, C = 9 };
    gs_rng r;
    gs_rng_seed(&r, seed);
    float *im = calloc((size_t)n * H * W, sizeof *im), *cond = malloc((size_t)n * C * sizeof *cond);
    for (int64_t i = 0; i < n; i++) {
        int64_t pr = (int64_t)gs_rng_below(&r, H), pc = (int64_t)gs_rng_below(&r, W);
        for (int64_t k = 0; k < H * W; k++)
            im[i * H * W + k] = (float)gs_rng_exponential(&r, 0.2);
        im[i * H * W + pr * W + pc] += (float)(scale * (10 + 90 * gs_rng_uniform(&r)));
        for (int c = 0; c < C; c++)
            cond[i * C + c] = (float)(i % 7 + c); /* deterministic: equal row by row */
    }
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    hsize_t d3[3] = {(hsize_t)n, H, W}, d2[2] = {(hsize_t)n, C};
    H5Dclose(put_data(f, "images", H5T_NATIVE_FLOAT, 3, d3, im));
    hid_t d = put_data(f, "conditions", H5T_NATIVE_FLOAT, 2, d2, cond);
    put_str_attr(d, "columns", "E,vx,vy,vz,px,py,pz,mass,charge");
    H5Dclose(d);
    H5Fclose(f);
    free(im);
    free(cond);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

static int exists(const char *dir, const char *name)
{
    char p[2600]; /* dir (<= 1200) + name: no truncation possible */
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 && st.st_size > 0;
}

/* runs gansim-eval with ARGS, stdout to DIR/stdout.txt, stderr to DIR/stderr.txt;
 * returns the exit status */
static int run_eval(const char *dir, const char *env, const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s '%s/gansim-eval' %s >'%s/stdout.txt' 2>'%s/stderr.txt'",
             env ? env : "", gs_test_bin(), args, dir, dir);
    int st = system(cmd);
    ck_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static int have_gnuplot(void)
{
    return system("gnuplot --version >/dev/null 2>&1") == 0;
}

static void assert_has(const char *json, const char *key)
{
    ck_assert_msg(strstr(json, key) != NULL, "metrics.json lacks %s:\n%s", key, json);
}

START_TEST(test_eval_events)
{
    char dir[64], args[2048], path[1200];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/real.h5", dir);
    write_events(path, 3000, 1, 0);
    snprintf(path, sizeof path, "%s/gen.h5", dir);
    write_events(path, 2000, 2, 50);
    snprintf(path, sizeof path, "%s/train.log", dir);
    FILE *lf = fopen(path, "w");
    for (int s = 0; s <= 500; s += 100)
        fprintf(lf, "step=%d loss_d=%g loss_g=%g kl_mean=%g gp=0.1 model=luxe\n", s,
                -1 + s / 1000.0, 0.5 - s / 2000.0, 1.0 / (s + 10));
    fclose(lf);
    snprintf(args, sizeof args,
             "--real %s/real.h5 --gen %s/gen.h5 --out %s/rep --log %s/train.log --r0 400", dir,
             dir, dir, dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 0);
    snprintf(path, sizeof path, "%s/rep/metrics.json", dir);
    char *js = slurp(path);
    ck_assert_ptr_nonnull(js);
    const char *keys[] = {"\"kind\": \"events\"", "\"n_real\": 3000", "\"n_gen\": 2000",
                          "\"features\"", "\"x\": {\"kl\": ", "\"t\": {\"kl\": ", "\"js\": ",
                          "\"w1\": ", "\"ks\": ", "\"mean_kl\": ", "\"mean_w1\": ",
                          "\"regions\": {\"inner\": ", "\"outer\": ", "\"species\": {",
                          "\"2112\": ", "\"22\": "};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_has(js, keys[i]);
    ck_assert_ptr_null(strstr(js, "null")); /* every metric defined here */
    free(js);
    /* the summary names the features; --json prints the file itself */
    snprintf(path, sizeof path, "%s/stdout.txt", dir);
    char *so = slurp(path);
    ck_assert_ptr_nonnull(strstr(so, "mean KL"));
    free(so);
    snprintf(args, sizeof args, "--real %s/real.h5 --gen %s/gen.h5 --out %s/rep2 --json", dir,
             dir, dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 0);
    so = slurp(path);
    snprintf(path, sizeof path, "%s/rep2/metrics.json", dir);
    js = slurp(path);
    ck_assert_str_eq(so, js);
    free(so);
    free(js);
    snprintf(path, sizeof path, "%s/rep", dir);
    ck_assert(exists(path, "hist_x.dat") && exists(path, "xy.dat") && exists(path, "plots.gp"));
    if (have_gnuplot()) {
        const char *png[] = {"hist_x.png", "hist_y.png", "hist_px.png", "hist_t.png", "xy.png",
                             "loss.png"};
        for (size_t i = 0; i < sizeof png / sizeof png[0]; i++)
            ck_assert_msg(exists(path, png[i]), "%s/%s missing", path, png[i]);
    }
    gs_test_rmdir(dir);
}
END_TEST

START_TEST(test_eval_images)
{
    char dir[64], args[2048], path[1200];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/real.h5", dir);
    write_images(path, 40, 3, 1.0f);
    snprintf(path, sizeof path, "%s/gen.h5", dir);
    write_images(path, 30, 4, 1.5f);
    snprintf(args, sizeof args, "--real %s/real.h5 --gen %s/gen.h5 --out %s/rep", dir, dir, dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 0);
    snprintf(path, sizeof path, "%s/rep/metrics.json", dir);
    char *js = slurp(path);
    ck_assert_ptr_nonnull(js);
    const char *keys[] = {"\"kind\": \"images\"", "\"n_real\": 40", "\"n_gen\": 30",
                          "\"channels\": {\"w1\": [", "\"mean_w1\": ", "\"intensity\": {\"w1\": ",
                          "\"max_pixel\": {\"w1_row\": ", "\"w1_col\": "};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_has(js, keys[i]);
    /* five channel values in the array */
    const char *a = strstr(js, "\"w1\": [");
    int commas = 0;
    for (const char *p = a; *p && *p != ']'; p++)
        commas += *p == ',';
    ck_assert_int_eq(commas, 4);
    free(js);
    snprintf(path, sizeof path, "%s/rep", dir);
    if (have_gnuplot()) {
        const char *png[] = {"images.png", "channel_1.png", "channel_5.png", "intensity.png"};
        for (size_t i = 0; i < sizeof png / sizeof png[0]; i++)
            ck_assert_msg(exists(path, png[i]), "%s/%s missing", path, png[i]);
    }
    gs_test_rmdir(dir);
}
END_TEST

START_TEST(test_eval_no_gnuplot)
{
    /* without gnuplot: a note on stderr, metrics.json and data files, no PNG */
    char dir[64], args[2048], path[1200];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/real.h5", dir);
    write_images(path, 10, 5, 1.0f);
    snprintf(args, sizeof args, "--real %s/real.h5 --gen %s/real.h5 --out %s/rep", dir, dir, dir);
    ck_assert_int_eq(run_eval(dir, "GANSIM_GNUPLOT=/nonexistent/gnuplot", args), 0);
    snprintf(path, sizeof path, "%s/rep", dir);
    ck_assert(exists(path, "metrics.json"));
    ck_assert(exists(path, "channel_1.dat"));
    ck_assert(!exists(path, "images.png"));
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    char *se = slurp(path);
    ck_assert_ptr_nonnull(strstr(se, "gnuplot not found"));
    free(se);
    /* identical files: every W1 is exactly 0 */
    snprintf(path, sizeof path, "%s/rep/metrics.json", dir);
    char *js = slurp(path);
    assert_has(js, "\"w1\": [0, 0, 0, 0, 0], \"mean_w1\": 0");
    assert_has(js, "\"w1_row\": 0, \"w1_col\": 0");
    free(js);
    gs_test_rmdir(dir);
}
END_TEST

START_TEST(test_eval_errors)
{
    char dir[64], args[2048], path[1200];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ev.h5", dir);
    write_events(path, 50, 1, 0);
    snprintf(path, sizeof path, "%s/im.h5", dir);
    write_images(path, 5, 1, 1);
    /* usage errors: 2, with a message naming the option */
    ck_assert_int_eq(run_eval(dir, NULL, "--real a.h5 --gen b.h5"), 2);
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    char *se = slurp(path);
    ck_assert_ptr_nonnull(strstr(se, "--out"));
    free(se);
    ck_assert_int_eq(run_eval(dir, NULL, "--bogus"), 2);
    snprintf(args, sizeof args, "--real %s/ev.h5 --gen %s/ev.h5 --out %s/r --r0 -3", dir, dir, dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 2);
    ck_assert_int_eq(run_eval(dir, NULL, "--help"), 0);
    ck_assert_int_eq(run_eval(dir, NULL, "--version"), 0);
    /* runtime errors: 1, no metrics.json */
    snprintf(args, sizeof args, "--real %s/ev.h5 --gen %s/im.h5 --out %s/r", dir, dir, dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 1);
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    se = slurp(path);
    ck_assert_ptr_nonnull(strstr(se, "im.h5"));
    free(se);
    snprintf(args, sizeof args, "--real %s/missing.h5 --gen %s/ev.h5 --out %s/r", dir, dir, dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 1);
    snprintf(path, sizeof path, "%s/r", dir);
    ck_assert(!exists(path, "metrics.json"));
    /* a training log without records fails before anything is written */
    snprintf(args, sizeof args, "--real %s/ev.h5 --gen %s/ev.h5 --out %s/r --log %s/stderr.txt",
             dir, dir, dir, dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 1);
    ck_assert(!exists(path, "metrics.json"));
    ck_assert(!exists(path, "hist_x.dat"));
    gs_test_rmdir(dir);
}
END_TEST

static Suite *eval_suite(void)
{
    Suite *s = suite_create("gansim-eval");
    TCase *tc = tcase_create("eval");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_eval_events);
    tcase_add_test(tc, test_eval_images);
    tcase_add_test(tc, test_eval_no_gnuplot);
    tcase_add_test(tc, test_eval_errors);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(eval_suite)

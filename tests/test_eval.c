/* End-to-end suite for gansim-eval: writes small event and image files with
 * the HDF5 C API in the layout of docs/datasets.md (independent of
 * datasets/'s writer), runs $GANSIM_BIN/gansim-eval and checks exit codes,
 * the metrics.json keys (docs/metrics.md), the report page and the PNGs
 * (when gnuplot is installed), and that the noise floor does its job: a
 * second real sample sits at the floor, a shifted or decorrelated generator
 * does not. */
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

/* Writes n images [n, 56, 30] and their 9 conditions as an image set; frees both. */
static void put_image_set(const char *path, int64_t n, float *im, float *cond)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    hsize_t d3[3] = {(hsize_t)n, 56, 30}, d2[2] = {(hsize_t)n, 9};
    H5Dclose(put_data(f, "images", H5T_NATIVE_FLOAT, 3, d3, im));
    hid_t d = put_data(f, "conditions", H5T_NATIVE_FLOAT, 2, d2, cond);
    put_str_attr(d, "columns", "E,vx,vy,vz,px,py,pz,mass,charge");
    H5Dclose(d);
    H5Fclose(f);
    free(im);
    free(cond);
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
    put_image_set(path, n, im, cond);
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
    ck_assert_msg(strstr(json, key) != NULL, "metrics.json lacks %s", key);
}


/* Halo-like table for the floor tests: (x, y) half a round core (σ 150 mm),
 * half a ring (r ~ N(800, 60) mm), so x and y are strongly dependent while
 * each is symmetric. mode 0: real; 1: x shifted by 120 mm; 2: x and y drawn
 * from two independent events (every 1-D marginal unchanged, the ring gone). */
static void halo_xy(gs_rng *r, double *x, double *y)
{
    if (gs_rng_uniform(r) < 0.5) {
        *x = 150 * gs_rng_normal(r);
        *y = 150 * gs_rng_normal(r);
    } else {
        double rad = 800 + 60 * gs_rng_normal(r), phi = 2 * M_PI * gs_rng_uniform(r);
        *x = rad * cos(phi);
        *y = rad * sin(phi);
    }
}

static void write_halo(const char *path, int64_t n, uint64_t seed, int mode)
{
    gs_rng r;
    gs_rng_seed(&r, seed);
    enum { F = 6 };
    float *x = malloc((size_t)n * F * sizeof *x);
    int32_t *pdg = malloc((size_t)n * sizeof *pdg);
    for (int64_t i = 0; i < n; i++) {
        float *row = x + i * F;
        double hx, hy, ox, oy;
        halo_xy(&r, &hx, &hy);
        halo_xy(&r, &ox, &oy); /* the independent partner of mode 2 */
        row[0] = (float)(hx + (mode == 1 ? 120 : 0));
        row[1] = (float)(mode == 2 ? oy : hy);
        row[2] = (float)(0.01 * gs_rng_normal(&r));
        row[3] = (float)(0.01 * gs_rng_normal(&r));
        row[4] = (float)(-fabs(gs_rng_normal(&r)) * 0.1);
        row[5] = (float)gs_rng_exponential(&r, 100.0);
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

/* The number after the keys path[0], path[1], ... found in this order in the
 * JSON text (each key searched from where the previous one was found), NaN
 * for null; fails the test when a key is missing. */
static double jnum(const char *js, const char *const *path, int n)
{
    const char *p = js;
    char key[128];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "\"%s\":", path[i]);
        p = strstr(p, key);
        ck_assert_msg(p != NULL, "metrics.json lacks %s (step %d of the path)", key, i);
        p += strlen(key);
    }
    while (*p == ' ')
        p++;
    if (!strncmp(p, "null", 4))
        return NAN;
    char *end;
    double v = strtod(p, &end);
    ck_assert_msg(end != p, "metrics.json: %s is not a number", key);
    return v;
}
#define JNUM(js, ...)                                                                      \
    jnum(js, (const char *const[]){__VA_ARGS__},                                           \
         (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)))

/* real (seed 1, 20000 rows, split into the floor halves) against a file of
 * the given mode; returns metrics.json (malloc'd) */
static char *eval_halo(const char *dir, int mode, uint64_t gen_seed, const char *extra)
{
    char path[1200], args[2048];
    snprintf(path, sizeof path, "%s/real.h5", dir);
    write_halo(path, 20000, 1, 0);
    snprintf(path, sizeof path, "%s/gen%d.h5", dir, mode);
    write_halo(path, 10000, gen_seed, mode);
    snprintf(args, sizeof args,
             "--real %s/real.h5 --gen %s/gen%d.h5 --out %s/rep%d --cls-steps 400 "
             "--cls-rows 10000 %s",
             dir, dir, mode, dir, mode, extra ? extra : "");
    /* the numbers only: no plots (gnuplot "missing") keeps the test short */
    ck_assert_int_eq(run_eval(dir, "GANSIM_GNUPLOT=/nonexistent/gnuplot", args), 0);
    snprintf(path, sizeof path, "%s/rep%d/metrics.json", dir, mode);
    char *js = gs_test_read_file(path);
    ck_assert_ptr_nonnull(js);
    return js;
}

static const char *const FEATURES[6] = {"x", "y", "px", "py", "pz", "t"};

/* a second real sample sits at the floor: every ratio near 1 */
START_TEST(test_eval_floor_second_real)
{
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    char *js = eval_halo(dir, 0, 2, NULL);
    assert_has(js, "\"method\": \"split\"");
    double r = JNUM(js, "mean_kl_ratio");
    ck_assert_msg(r > 0.5 && r < 1.6, "mean KL ratio %g", r);
    for (int c = 0; c < 6; c++) {
        double fr = JNUM(js, "features", FEATURES[c], "kl_ratio");
        ck_assert_msg(fr < 2.5, "%s: KL ratio %g", FEATURES[c], fr);
    }
    double xy = JNUM(js, "pairs", "x-y", "kl2d_ratio");
    ck_assert_msg(xy > 0.5 && xy < 1.6, "x-y 2-D KL ratio %g", xy);
    double auc = JNUM(js, "classifier", "auc"), af = JNUM(js, "classifier", "auc_floor");
    ck_assert_msg(fabs(auc - 0.5) < 0.03 && fabs(af - 0.5) < 0.03, "AUC %g, floor %g", auc, af);
    ck_assert_msg(JNUM(js, "corr", "frob_ratio") < 2.5, "corr ratio");
    ck_assert_msg(fabs(JNUM(js, "regions", "inner", "frac_pull")) < 3, "region fraction pull");
    ck_assert_ptr_null(strstr(js, "\"verdict\": \"bad\""));
    free(js);
    gs_test_rmdir(dir);
}
END_TEST

/* a shifted generator is far above its floor */
START_TEST(test_eval_floor_shifted)
{
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    char *js = eval_halo(dir, 1, 2, NULL);
    double r = JNUM(js, "mean_kl_ratio"), rx = JNUM(js, "features", "x", "kl_ratio");
    ck_assert_msg(r > 2 && rx > 10, "mean KL ratio %g, x %g", r, rx);
    ck_assert_msg(JNUM(js, "features", "x", "ks_p") < 1e-6, "KS p-value");
    ck_assert_msg(JNUM(js, "features", "x", "ks_p_floor") > 1e-3, "KS p-value of the floor");
    double auc = JNUM(js, "classifier", "auc"), af = JNUM(js, "classifier", "auc_floor");
    ck_assert_msg(auc > af + 0.03, "AUC %g, floor %g", auc, af);
    ck_assert_ptr_nonnull(strstr(js, "\"verdict\": \"bad\""));
    free(js);
    gs_test_rmdir(dir);
}
END_TEST

/* decorrelated x-y: every 1-D KL at its floor, the 2-D KL and the AUC not */
START_TEST(test_eval_floor_decorrelated)
{
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    char *js = eval_halo(dir, 2, 2, NULL);
    for (int c = 0; c < 6; c++) {
        double fr = JNUM(js, "features", FEATURES[c], "kl_ratio");
        ck_assert_msg(fr < 2.5, "%s: KL ratio %g (the marginals are unchanged)", FEATURES[c], fr);
    }
    double xy = JNUM(js, "pairs", "x-y", "kl2d_ratio");
    ck_assert_msg(xy > 3, "x-y 2-D KL ratio %g", xy);
    double auc = JNUM(js, "classifier", "auc"), af = JNUM(js, "classifier", "auc_floor");
    ck_assert_msg(auc > af + 0.05, "AUC %g, floor %g", auc, af);
    free(js);
    gs_test_rmdir(dir);
}
END_TEST

/* --ref2: the floor from a second reference file, sizes matched */
START_TEST(test_eval_floor_ref2)
{
    char dir[64], path[1200], extra[1300];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ref2.h5", dir);
    write_halo(path, 15000, 3, 0);
    snprintf(extra, sizeof extra, "--ref2 %s --no-classifier", path);
    char *js = eval_halo(dir, 0, 2, extra);
    ck_assert_ptr_nonnull(strstr(js, "\"method\": \"ref2\""));
    ck_assert_int_eq((int)JNUM(js, "floor", "n_ref"), 20000);  /* all of --real */
    ck_assert_int_eq((int)JNUM(js, "floor", "n_ref2"), 10000); /* min(15000, 10000) */
    ck_assert_int_eq((int)JNUM(js, "floor", "n_gen"), 10000);
    ck_assert_ptr_nonnull(strstr(js, "\"classifier\": null"));
    double r = JNUM(js, "mean_kl_ratio");
    ck_assert_msg(r > 0.5 && r < 1.6, "mean KL ratio %g", r);
    free(js);
    gs_test_rmdir(dir);
}
END_TEST

START_TEST(test_eval_events)
{
    char dir[64], args[2048], path[1200];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/real.h5", dir);
    write_events(path, 3000, 1, 0);
    snprintf(path, sizeof path, "%s/gen.h5", dir);
    write_events(path, 2000, 2, 50);
    /* a LUXE-style log: sub-model plans, records with sub= and kl_floor= */
    snprintf(path, sizeof path, "%s/train.log", dir);
    FILE *lf = fopen(path, "w");
    fprintf(lf, "# gansim luxe_wgan: 2 sub-models\n# sub=inner.n rows=900 proportion=0.6 "
                "steps=500\n# sub=outer.n rows=600 proportion=0.4 steps=500\n");
    for (int s = 0; s <= 500; s += 100)
        for (int k = 0; k < 2; k++)
            fprintf(lf, "sub=%s step=%d sub_step=%d loss_d=%g loss_g=%g kl_mean=%g "
                        "kl_floor=0.01 gp=0.1 model=luxe\n",
                    k ? "outer.n" : "inner.n", s + k * 500, s, -1 + s / 1000.0,
                    0.5 - s / 2000.0, 1.0 / (s + 10) + 0.02 * k);
    fclose(lf);
    snprintf(args, sizeof args,
             "--real %s/real.h5 --gen %s/gen.h5 --out %s/rep --log %s/train.log --r0 400 "
             "--cls-steps 200",
             dir, dir, dir, dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 0);
    snprintf(path, sizeof path, "%s/rep/metrics.json", dir);
    char *js = gs_test_read_file(path);
    ck_assert_ptr_nonnull(js);
    /* real A = 1500 rows (half of 3000), generated and real B 1500 each */
    const char *keys[] = {"\"kind\": \"events\"", "\"n_real\": 1500", "\"n_gen\": 1500",
                          "\"n_real2\": 1500", "\"floor\": {\"method\": \"split\"",
                          "\"features\"", "\"x\": {\"unit\": \"mm\", \"kl\": ",
                          "\"t\": {\"unit\": \"ns\", \"kl\": ", "\"kl_floor\": ",
                          "\"kl_ratio\": ", "\"js\": ", "\"w1\": ", "\"w1_floor\": ",
                          "\"ks\": ", "\"ks_p\": ", "\"ks_p_floor\": ", "\"chi2_ndf\": ",
                          "\"ndf\": 99", "\"mean_kl\": ", "\"mean_kl_floor\": ",
                          "\"mean_kl_ratio\": ", "\"max_ks\": ", "\"mean_chi2_ndf\": ",
                          "\"mean_w1_ratio\": ", "\"derived\": {", "\"r\": {\"unit\": \"mm\"",
                          "\"E_kin\": {\"unit\": \"GeV\"", "\"theta\": {\"unit\": \"deg\"",
                          "\"pairs\": {", "\"x-y\": {\"x\": \"x\", \"y\": \"y\"",
                          "\"kl2d\": ", "\"kl2d_floor\": ", "\"kl2d_ratio\": ", "\"r-t\": ",
                          "\"E-r\": ", "\"E-t\": ", "\"corr\": {\"method\": \"spearman\"",
                          "\"frob_ratio\": ", "\"classifier\": {\"auc\": ", "\"auc_floor\": ",
                          "\"regions\": {", "\"inner\": {\"r_max\": 400, ", "\"outer\": ",
                          "\"frac_pull\": ", "\"species\": {", "\"2112\": {\"name\": \"n\"",
                          "\"22\": {\"name\": \"gamma\"", "\"summary\": [",
                          "\"verdict\": "};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_has(js, keys[i]);
    ck_assert_ptr_null(strstr(js, "null")); /* every metric defined here */
    /* W1 is never averaged across units */
    ck_assert_ptr_null(strstr(js, "\"mean_w1\""));
    /* the generated times have a mean of 150 ns, the real ones 100 ns (on
     * 1500 rows, 100 log bins: KL is noise-dominated, KS and W1 are not) */
    ck_assert(JNUM(js, "features", "t", "w1_ratio") > 3);
    ck_assert(JNUM(js, "features", "t", "ks_ratio") > 3);
    ck_assert(JNUM(js, "features", "t", "ks_p") < 1e-6);
    ck_assert(JNUM(js, "features", "t", "ks_p_floor") > 1e-3);
    free(js);
    /* the summary gives the floor and the training table; --json prints the file */
    snprintf(path, sizeof path, "%s/stdout.txt", dir);
    char *so = gs_test_read_file(path);
    ck_assert_ptr_nonnull(strstr(so, "mean KL over the 6 features"));
    ck_assert_ptr_nonnull(strstr(so, "floor"));
    ck_assert_ptr_nonnull(strstr(so, "outer.n"));
    ck_assert_ptr_nonnull(strstr(so, "best/floor"));
    free(so);
    snprintf(args, sizeof args,
             "--real %s/real.h5 --gen %s/gen.h5 --out %s/rep2 --json --no-classifier", dir, dir,
             dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 0);
    so = gs_test_read_file(path);
    snprintf(path, sizeof path, "%s/rep2/metrics.json", dir);
    js = gs_test_read_file(path);
    ck_assert_str_eq(so, js);
    free(so);
    free(js);
    snprintf(path, sizeof path, "%s/rep", dir);
    ck_assert(exists(path, "hist_x.dat") && exists(path, "pair_x-y.dat") &&
              exists(path, "plots.gp") && exists(path, "index.html"));
    snprintf(path, sizeof path, "%s/rep/index.html", dir);
    char *html = gs_test_read_file(path);
    ck_assert_ptr_nonnull(strstr(html, "real vs real (floor)"));
    ck_assert_ptr_nonnull(strstr(html, "inner.n")); /* the training table */
    ck_assert_ptr_null(strstr(html, "<script"));
    ck_assert_ptr_null(strstr(html, "http"));     /* nothing from the network */
    snprintf(path, sizeof path, "%s/rep", dir);
    if (have_gnuplot()) {
        const char *png[] = {"hist_x.png", "hist_y.png", "hist_px.png", "hist_t.png",
                             "hist_E_kin.png", "hist_r.png", "pair_x-y.png", "pair_E-t.png",
                             "corr.png", "region_inner.png", "species_2112.png", "loss.png"};
        for (size_t i = 0; i < sizeof png / sizeof png[0]; i++) {
            ck_assert_msg(exists(path, png[i]), "%s/%s missing", path, png[i]);
            char img[64];
            snprintf(img, sizeof img, "<img src=\"%s\"", png[i]);
            ck_assert_msg(strstr(html, img) != NULL, "index.html does not show %s", png[i]);
        }
    }
    free(html);
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
    snprintf(args, sizeof args, "--real %s/real.h5 --gen %s/gen.h5 --out %s/rep --cls-steps 50",
             dir, dir, dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 0);
    snprintf(path, sizeof path, "%s/rep/metrics.json", dir);
    char *js = gs_test_read_file(path);
    ck_assert_ptr_nonnull(js);
    /* real A 20 images, generated and real B 20 each (min(20, 30)) */
    const char *keys[] = {"\"kind\": \"images\"", "\"n_real\": 20", "\"n_gen\": 20",
                          "\"channels\": {\"unit\": \"photons\", \"w1\": [", "\"w1_floor\": [",
                          "\"w1_ratio\": [", "\"mean_w1\": ", "\"mean_w1_floor\": ",
                          "\"intensity\": {\"w1\": ", "\"max_pixel\": {\"w1_row\": ",
                          "\"w1_col\": ", "\"observables\": {", "\"ch1\": {\"unit\": \"photons\"",
                          "\"max_col\": {\"unit\": \"pixel\"", "\"classifier\": {\"auc\": ",
                          "\"same_condition\": {\"pairs\": 0, \"note\": ",
                          "\"summary\": ["};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_has(js, keys[i]);
    /* five channel values in the array */
    const char *a = strstr(js, "\"w1\": [");
    int commas = 0;
    for (const char *p = a; *p && *p != ']'; p++)
        commas += *p == ',';
    ck_assert_int_eq(commas, 4);
    /* brighter spots (x1.5): the intensity W1 is above its floor */
    ck_assert(JNUM(js, "intensity", "w1_ratio") > 1.5);
    free(js);
    snprintf(path, sizeof path, "%s/rep", dir);
    ck_assert(exists(path, "index.html"));
    if (have_gnuplot()) {
        const char *png[] = {"images.png", "channels.png", "max_pixel.png"};
        for (size_t i = 0; i < sizeof png / sizeof png[0]; i++)
            ck_assert_msg(exists(path, png[i]), "%s/%s missing", path, png[i]);
    }
    gs_test_rmdir(dir);
}
END_TEST

/* n images 56x30 whose conditions come in pairs (rows 2k, 2k + 1): a 3x3
 * shower of ~40 photons at a place set by the conditions, +-1 pixel of
 * jitter, none for every fifth pair (the particle missed). misplace: the
 * shower at a random place instead, and always one. */
static void write_placed(const char *path, int64_t n, uint64_t seed, int misplace)
{
    enum { H = 56, W = 30, C = 9 };
    gs_rng r;
    gs_rng_seed(&r, seed);
    float *im = calloc((size_t)n * H * W, sizeof *im), *cond = malloc((size_t)n * C * sizeof *cond);
    for (int64_t i = 0; i < n; i++) {
        const int64_t g = i / 2;
        for (int c = 0; c < C; c++)
            cond[i * C + c] = (float)(g * 10 + c);
        if (g % 5 == 0 && !misplace)
            continue;
        int64_t pr = 5 + (g * 7) % 46, pc = 3 + (g * 5) % 24;
        if (misplace) {
            pr = 1 + (int64_t)gs_rng_below(&r, H - 2);
            pc = 1 + (int64_t)gs_rng_below(&r, W - 2);
        }
        pr += (int64_t)gs_rng_below(&r, 3) - 1;
        pc += (int64_t)gs_rng_below(&r, 3) - 1;
        for (int dr = -1; dr <= 1; dr++)
            for (int dc = -1; dc <= 1; dc++)
                im[i * H * W + (pr + dr) * W + pc + dc] = (float)(3 + 3 * gs_rng_uniform(&r));
    }
    put_image_set(path, n, im, cond);
}

/* The same-condition metrics see what the marginal ones cannot: showers of
 * the right size and brightness drawn at the wrong place for their
 * conditions, and showers where the real particle missed. */
START_TEST(test_eval_same_conditions)
{
    char dir[64], args[2048], path[1200];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/real.h5", dir);
    write_placed(path, 400, 1, 0);
    for (int mis = 0; mis < 2; mis++) {
        snprintf(path, sizeof path, "%s/gen%d.h5", dir, mis);
        write_placed(path, 400, 2, mis);
        snprintf(args, sizeof args, "--real %s/real.h5 --gen %s/gen%d.h5 --out %s/rep%d "
                 "--cls-steps 20", dir, dir, mis, dir, mis);
        ck_assert_int_eq(run_eval(dir, NULL, args), 0);
        snprintf(path, sizeof path, "%s/rep%d/metrics.json", dir, mis);
        char *js = gs_test_read_file(path);
        ck_assert_ptr_nonnull(js);
        /* every row of B has its partner: 200 pairs; 4 in 5 hold showers */
        ck_assert(JNUM(js, "same_condition", "pairs") == 200);
        const double fl = JNUM(js, "same_condition", "centroid_dist_floor");
        const double d = JNUM(js, "same_condition", "centroid_dist");
        ck_assert(fl > 0.5 && fl < 2.5); /* two +-1 pixel jitters */
        if (!mis) {
            ck_assert_msg(d < 2 * fl, "placed right: %g against the floor %g", d, fl);
            ck_assert(JNUM(js, "same_condition", "empty_mismatch") == 0);
        } else {
            ck_assert_msg(d > 5 * fl, "misplaced: %g against the floor %g", d, fl);
            ck_assert_close(JNUM(js, "same_condition", "empty_mismatch"), 0.2, 0.06, 0);
        }
        ck_assert(JNUM(js, "same_condition", "empty_mismatch_floor") == 0);
        assert_has(js, "\"key\": \"same_condition.centroid_dist\"");
        free(js);
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
    ck_assert(exists(path, "channels.dat"));
    ck_assert(exists(path, "index.html"));
    ck_assert(!exists(path, "images.png"));
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    char *se = gs_test_read_file(path);
    ck_assert_ptr_nonnull(strstr(se, "gnuplot not found"));
    free(se);
    snprintf(path, sizeof path, "%s/rep/index.html", dir);
    char *html = gs_test_read_file(path);
    ck_assert_ptr_nonnull(strstr(html, "gnuplot was not found"));
    ck_assert_ptr_null(strstr(html, "<img"));
    free(html);
    /* the same file as real and generated, row-aligned by conditions: the
     * generated rows compared are exactly real B's, so every metric equals
     * its floor */
    snprintf(path, sizeof path, "%s/rep/metrics.json", dir);
    char *js = gs_test_read_file(path);
    assert_has(js, "\"gen_aligned\": true");
    ck_assert_close(JNUM(js, "channels", "mean_w1_ratio"), 1, 0, 0);
    ck_assert_close(JNUM(js, "max_pixel", "w1_row_ratio"), 1, 0, 0);
    ck_assert_close(JNUM(js, "intensity", "w1"), JNUM(js, "intensity", "w1_floor"), 0, 0);
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
    char *se = gs_test_read_file(path);
    ck_assert_ptr_nonnull(strstr(se, "--out"));
    free(se);
    ck_assert_int_eq(run_eval(dir, NULL, "--bogus"), 2);
    snprintf(args, sizeof args, "--real %s/ev.h5 --gen %s/ev.h5 --out %s/r --r0 -3", dir, dir, dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 2);
    snprintf(args, sizeof args, "--real %s/ev.h5 --gen %s/ev.h5 --out %s/r --cls-rows 2", dir,
             dir, dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 2);
    snprintf(args, sizeof args, "--real %s/ev.h5 --gen %s/ev.h5 --out %s/r --seed -1", dir, dir,
             dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 2);
    snprintf(args, sizeof args, "--real %s/ev.h5 --gen %s/ev.h5 --out %s/r --cls-steps 0", dir,
             dir, dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 2);
    ck_assert_int_eq(run_eval(dir, NULL, "--help"), 0);
    ck_assert_int_eq(run_eval(dir, NULL, "--version"), 0);
    /* runtime errors: 1, no metrics.json */
    snprintf(args, sizeof args, "--real %s/ev.h5 --gen %s/im.h5 --out %s/r", dir, dir, dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 1);
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    se = gs_test_read_file(path);
    ck_assert_ptr_nonnull(strstr(se, "im.h5"));
    free(se);
    /* a second reference of another kind */
    snprintf(args, sizeof args, "--real %s/ev.h5 --gen %s/ev.h5 --ref2 %s/im.h5 --out %s/r", dir,
             dir, dir, dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 1);
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    se = gs_test_read_file(path);
    ck_assert_ptr_nonnull(strstr(se, "im.h5"));
    free(se);
    /* too few rows to split into a comparison and its floor */
    snprintf(path, sizeof path, "%s/tiny.h5", dir);
    write_events(path, 3, 1, 0);
    snprintf(args, sizeof args, "--real %s/tiny.h5 --gen %s/ev.h5 --out %s/r", dir, dir, dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 1);
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    se = gs_test_read_file(path);
    ck_assert_ptr_nonnull(strstr(se, "too few rows"));
    free(se);
    snprintf(path, sizeof path, "%s/r", dir);
    ck_assert(!exists(path, "metrics.json"));
    snprintf(args, sizeof args, "--real %s/missing.h5 --gen %s/ev.h5 --out %s/r", dir, dir, dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 1);
    snprintf(path, sizeof path, "%s/r", dir);
    ck_assert(!exists(path, "metrics.json"));
    /* a file that is no training log fails before anything is written */
    snprintf(args, sizeof args, "--real %s/ev.h5 --gen %s/ev.h5 --out %s/r --log %s/stderr.txt",
             dir, dir, dir, dir);
    ck_assert_int_eq(run_eval(dir, NULL, args), 1);
    ck_assert(!exists(path, "metrics.json"));
    ck_assert(!exists(path, "hist_x.dat"));
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    se = gs_test_read_file(path);
    ck_assert_ptr_nonnull(strstr(se, "not a training log"));
    free(se);
    gs_test_rmdir(dir);
}
END_TEST

/* A gansim-train log before its first checkpoint (the header only): the
 * report is made as usual, with a note instead of the training curves. */
START_TEST(test_eval_log_without_records)
{
    char dir[64], args[2048], path[1200];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ev.h5", dir);
    write_events(path, 400, 1, 0);
    snprintf(path, sizeof path, "%s/train.log", dir);
    FILE *lf = fopen(path, "w");
    ck_assert_ptr_nonnull(lf);
    fputs("# gansim 0.1.0 luxe_wgan: 1 sub-models\n# sub=all rows=3000 proportion=1.000000 "
          "steps=500\n# layout: 1 process x 1 thread\n", lf);
    fclose(lf);
    snprintf(args, sizeof args, "--real %s/ev.h5 --gen %s/ev.h5 --out %s/r --log %s/train.log "
             "--no-classifier", dir, dir, dir, dir);
    ck_assert_int_eq(run_eval(dir, "GANSIM_GNUPLOT=/nonexistent/gnuplot", args), 0);
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    char *se = gs_test_read_file(path);
    ck_assert_ptr_nonnull(strstr(se, "train.log has no evaluation records yet"));
    free(se);
    snprintf(path, sizeof path, "%s/r", dir);
    ck_assert(exists(path, "metrics.json"));
    ck_assert(!exists(path, "loss.dat"));
    snprintf(path, sizeof path, "%s/r/index.html", dir);
    char *html = gs_test_read_file(path);
    ck_assert_ptr_nonnull(strstr(html, "no evaluation records yet"));
    free(html);
    /* one record per sub-model (a short run): no line can be drawn, so the
     * curves mark their points instead of leaving the panels empty */
    snprintf(path, sizeof path, "%s/train.log", dir);
    lf = fopen(path, "a");
    ck_assert_ptr_nonnull(lf);
    fputs("sub=all step=500 sub_step=500 loss_d=0.5 loss_g=0.1 loss_aux=0 kl_mean=0.2 "
          "kl_floor=0.01\n", lf);
    fclose(lf);
    snprintf(args, sizeof args, "--real %s/ev.h5 --gen %s/ev.h5 --out %s/r1 --log %s/train.log "
             "--no-classifier", dir, dir, dir, dir);
    ck_assert_int_eq(run_eval(dir, "GANSIM_GNUPLOT=/nonexistent/gnuplot", args), 0);
    snprintf(path, sizeof path, "%s/r1/plots.gp", dir);
    char *gp = gs_test_read_file(path);
    ck_assert_ptr_nonnull(gp);
    const char *lp = strstr(gp, "loss.dat");
    ck_assert_ptr_nonnull(lp);
    ck_assert_ptr_nonnull(strstr(lp, " with linespoints "));
    ck_assert_ptr_null(strstr(lp, "with lines lw"));
    ck_assert_ptr_null(strstr(gp, "loss_aux")); /* 0 throughout: no panel */
    ck_assert_ptr_nonnull(strstr(gp, "loss_g"));
    free(gp);
    gs_test_rmdir(dir);
}
END_TEST

static Suite *eval_suite(void)
{
    Suite *s = suite_create("gansim-eval");
    TCase *tc = tcase_create("eval");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_eval_events);
    tcase_add_test(tc, test_eval_images);
    tcase_add_test(tc, test_eval_same_conditions);
    tcase_add_test(tc, test_eval_no_gnuplot);
    tcase_add_test(tc, test_eval_errors);
    tcase_add_test(tc, test_eval_log_without_records);
    tcase_add_test(tc, test_eval_floor_second_real);
    tcase_add_test(tc, test_eval_floor_shifted);
    tcase_add_test(tc, test_eval_floor_decorrelated);
    tcase_add_test(tc, test_eval_floor_ref2);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(eval_suite)

/* ONNX export (onnx/ox, models/md_export*): the builder's contracts, and
 * every exported model run in the real ONNX Runtime (onnxruntime-node via
 * tests/ort/ort_run.js) on the same noise and conditions as gansim:
 *  - ZDC: max |ORT - gansim| <= 1e-5 of the largest value (log space), with
 *    the extra O2 noise columns ignored; O2's five channel sums computed from
 *    the ORT output (O2's own formula, in ort_run.js) equal
 *    mt_zdc_o2_channel_sums of gansim-sample's images;
 *  - LUXE: every sub-model, per feature max |ORT - gansim| <= 1e-5 of the
 *    feature's largest |value|, in the file's units (inverse quantile
 *    transform, log and cylindrical inverses inside the graph), or within 4x
 *    the float32 floor where a wide quantile cell makes the map that steep
 *    (luxe_floor; both numbers are printed);
 *  - gansim-export's exit codes and that a failed export leaves no file. */
#include "core/gs_h5.h"
#include "datasets/ds.h"
#include "metrics/mt.h"
#include "models/md_export.h"
#include "models/md_luxe.h"
#include "models/md_zdc.h"
#include "onnx/ox.h"
#include "testutil.h"

#include <sys/stat.h>

#define TOL 1e-5

static const char *root(void)
{
    const char *r = getenv("GANSIM_ROOT");
    return r ? r : ".";
}

static void write_f32(const char *path, const float *x, int64_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(x, sizeof(float), (size_t)n, f), (size_t)n);
    ck_assert_int_eq(fclose(f), 0);
}

static void read_raw(const char *path, void *x, size_t bytes)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s missing", path);
    ck_assert_int_eq(fread(x, 1, bytes, f), bytes);
    ck_assert_int_eq(fgetc(f), EOF); /* exactly the expected size */
    fclose(f);
}

static int file_exists(const char *dir, const char *name)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

/* max |a - b| and max |b| over the given column (col < 0: all values) */
static void max_diff(const float *a, const float *b, int64_t n, int64_t f, int64_t col,
                     double *dmax, double *ref)
{
    *dmax = 0;
    *ref = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < f; j++) {
            if (col >= 0 && j != col)
                continue;
            const double d = fabs((double)a[i * f + j] - (double)b[i * f + j]);
            ck_assert_msg(isfinite(a[i * f + j]), "non-finite ORT value at %lld,%lld",
                          (long long)i, (long long)j);
            *dmax = d > *dmax ? d : *dmax;
            *ref = fabs(b[i * f + j]) > *ref ? fabs(b[i * f + j]) : *ref;
        }
}

/* ---- the builder ------------------------------------------------------------- */
START_TEST(t_builder_contracts)
{
    ox_graph *g;
    ck_assert_int_eq(ox_new(&g, "t", NULL), GS_OK);
    const char *x = ox_input(g, "x", 2, (int64_t[]){OX_BATCH, 3});
    ck_assert_str_eq(x, "x");
    const char *w = ox_init_f32(g, "w", 1, (int64_t[]){3}, (float[]){1, 2, 3});
    const char *y = ox_op2(g, "Mul", x, w);
    ck_assert_ptr_nonnull(y);
    ck_assert_str_ne(y, w); /* unique names */
    /* a NULL input propagates: no node, no error of its own */
    ck_assert_ptr_null(ox_op2(g, "Add", y, NULL));
    ck_assert_int_eq(ox_output(g, "y", y, 2, (int64_t[]){OX_BATCH, 3}), GS_OK);
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(ox_serialise(g, &buf, &len), GS_OK);
    ck_assert_uint_gt(len, 40);
    free(buf);
    /* an initializer without data is an error that sticks to the graph */
    ck_assert_ptr_null(ox_init_f32(g, "bad", 1, (int64_t[]){2}, NULL));
    ck_assert_ptr_null(ox_op1(g, "Relu", x));
    ck_assert_int_eq(ox_serialise(g, &buf, &len), GS_ERR_ARG);
    ox_free(g);
    /* a graph without outputs cannot be written */
    ck_assert_int_eq(ox_new(&g, "t", NULL), GS_OK);
    ox_input(g, "x", 1, (int64_t[]){2});
    ck_assert_int_eq(ox_write(g, "/tmp/never-written.onnx"), GS_ERR_STATE);
    ck_assert_int_eq(access("/tmp/never-written.onnx", F_OK), -1);
    ox_free(g);
}
END_TEST

/* The builder's graph in ORT: y = relu(x * w) + c, and the dynamic batch. */
START_TEST(t_builder_in_ort)
{
    char dir[64], cmd[2048];
    gs_test_tmpdir(dir, sizeof dir);
    ox_graph *g;
    ck_assert_int_eq(ox_new(&g, "t", NULL), GS_OK);
    const char *x = ox_input(g, "x", 2, (int64_t[]){OX_BATCH, 3});
    const char *y = ox_op1(g, "Relu", ox_op2(g, "Mul", x, ox_init_f32(g, "w", 1, (int64_t[]){3},
                                                                        (float[]){1, -2, 3})));
    y = ox_op2(g, "Add", y, ox_scalar_f32(g, "c", 0.5f));
    ck_assert_int_eq(ox_output(g, "y", y, 2, (int64_t[]){OX_BATCH, 3}), GS_OK);
    ox_meta(g, "k", "v");
    snprintf(cmd, sizeof cmd, "%s/m.onnx", dir);
    ck_assert_int_eq(ox_write(g, cmd), GS_OK);
    ox_free(g);
    const float in[6] = {1, 1, 1, -1, -1, 2}, want[6] = {1.5f, 0.5f, 3.5f, 0.5f, 2.5f, 6.5f};
    snprintf(cmd, sizeof cmd, "%s/in.f32", dir);
    write_f32(cmd, in, 6);
    ck_assert_int_eq(gs_test_run("node %s/tests/ort/ort_run.js --model %s/m.onnx --in x:%s/in.f32:2x3 "
                                 "--out %s/out.f32 >/dev/null", root(), dir, dir, dir), 0);
    float out[6];
    snprintf(cmd, sizeof cmd, "%s/out.f32", dir);
    read_raw(cmd, out, sizeof out);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(out[i], want[i]);
    gs_test_rmdir(dir);
}
END_TEST

/* ---- ZDC --------------------------------------------------------------------- */
START_TEST(t_zdc_ort_parity)
{
    const char *b = gs_test_bin();
    char dir[64], p[512];
    gs_test_tmpdir(dir, sizeof dir);
    ck_assert_int_eq(gs_test_run("%s/gansim-datagen zdc -n 300 --seed 5 -o %s/d.h5 >/dev/null", b,
                                 dir), 0);
    /* noise_dim 4 < 10: the graph takes O2's 10 values and uses the first 4;
     * batch-norm statistics after a few steps are far from the identity */
    ck_assert_int_eq(gs_test_run("%s/gansim-train zdc --data %s/d.h5 --out %s/r --iters 8 "
                                 "--set model.noise_dim=4 --set model.g_channels=8,6,4 "
                                 "--set model.d_channels=4,4,8 --set model.d_hidden=8 "
                                 "--set train.batch=16 --set train.eval_rows=30 "
                                 "--set train.eval_every=4 --set train.lr_g=0.01 "
                                 "--set train.ema=0 >/dev/null 2>&1", b, dir, dir), 0);
    snprintf(p, sizeof p, "%s/r/model.h5", dir);
    char xd[128];
    snprintf(xd, sizeof xd, "%s/x", dir);
    md_export_opts o = {0};
    ck_assert_msg(md_export(p, xd, &o) == GS_OK, "%s", gs_errmsg());
    ck_assert_str_eq(o.warnings, "");
    ck_assert(file_exists(xd, "generator.onnx") && file_exists(xd, "scales.txt") &&
              file_exists(xd, "manifest.json"));
    /* scales.txt in O2's layout, the scaler's numbers */
    ck_assert_int_eq(gs_test_run("sed -n '1p;11,12p' %s/scales.txt | tr '\\n' '|' | "
                                 "grep -qx '#means||#scales|'", xd), 0);
    ck_assert_int_eq(gs_test_run("test $(wc -l < %s/scales.txt) -eq 21", xd), 0);

    md_zdc_model *m;
    ck_assert_int_eq(md_zdc_load(p, &m), GS_OK);
    md_zdc_inference v;
    ck_assert_int_eq(md_zdc_inference_view(m, &v), GS_OK);
    const int64_t n = 200, nz = v.g->noise_dim, nc = v.g->n_cond, h = v.g->h, w = v.g->w;
    ck_assert_int_eq(nz, 4);
    ck_assert_int_eq(gs_test_run("grep -q '\"o2_compatible\": true' %s/manifest.json", xd), 0);
    ds_images cd;
    snprintf(p, sizeof p, "%s/d.h5", dir);
    ck_assert_int_eq(ds_conditions_read(p, &cd), GS_OK);
    ck_assert_int_ge(cd.n, n);
    float *z10 = malloc((size_t)(n * 10) * sizeof *z10), *z = malloc((size_t)(n * nz) * sizeof *z);
    float *cs = malloc((size_t)(n * nc) * sizeof *cs), *ref = malloc((size_t)(n * h * w) * sizeof *ref);
    float *ort = malloc((size_t)(n * h * w) * sizeof *ort);
    ck_assert(z10 && z && cs && ref && ort);
    /* the first nz noise columns are the generator's; the other 10 - nz are
     * fresh draws that must not change anything */
    gs_rng r;
    gs_rng_seed(&r, 77);
    gs_rng_fill_normal(&r, z, n * nz, 0.0f, 1.0f);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < 10; j++)
            z10[i * 10 + j] = j < nz ? z[i * nz + j] : (float)gs_rng_normal(&r);
    pp_scaler_transform(v.scaler, cd.cond, cs, n);
    ck_assert_int_eq(md_zdc_generate_log(m, z, cs, n, ref), GS_OK);
    snprintf(p, sizeof p, "%s/z.f32", dir);
    write_f32(p, z10, n * 10);
    snprintf(p, sizeof p, "%s/c.f32", dir);
    write_f32(p, cs, n * nc);
    ck_assert_int_eq(gs_test_run("node %s/tests/ort/ort_run.js --model %s/generator.onnx "
                                 "--in noise:%s/z.f32:%lldx10 --in conditions:%s/c.f32:%lldx%lld "
                                 "--out %s/y.f32 --o2-channels %s/ch.f64 > %s/ort.json",
                                 root(), xd, dir, (long long)n, dir, (long long)n, (long long)nc,
                                 dir, dir, dir), 0);
    snprintf(p, sizeof p, "%s/y.f32", dir);
    read_raw(p, ort, (size_t)(n * h * w) * sizeof(float));
    double dmax, rmax;
    max_diff(ort, ref, n, h * w, -1, &dmax, &rmax);
    fflush(stdout);
    printf("export zdc: ORT vs gansim, log space: max |diff| %.3g, max |value| %.3g, "
           "relative %.3g\n", dmax, rmax, dmax / rmax);
    ck_assert_double_gt(rmax, 0.1); /* a non-trivial image set */
    ck_assert_msg(dmax <= TOL * rmax, "ZDC ORT parity: max |diff| %g > %g", dmax, TOL * rmax);

    /* the log-space generator is what sampling uses: gansim-sample's images
     * (same seed, hence same noise) are exp(y) - 1 of it */
    ds_images smp;
    ck_assert_int_eq(md_zdc_sample(m, cd.cond, n, 1, 77, &smp), GS_OK);
    for (int64_t i = 0; i < n * h * w; i++)
        ck_assert_float_eq_tol(smp.images[i], expm1f(ref[i]), 1e-6f * (1 + smp.images[i]));
    /* O2's channel sums of the ORT output (O2's code, ort_run.js) against
     * gansim's metric for O2's map on gansim's own images */
    double *ch = malloc((size_t)(n * 5) * sizeof *ch);
    ck_assert_ptr_nonnull(ch);
    snprintf(p, sizeof p, "%s/ch.f64", dir);
    read_raw(p, ch, (size_t)(n * 5) * sizeof(double));
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double mine[5], tot = 0;
        ck_assert_int_eq(mt_zdc_o2_channel_sums(smp.images + i * h * w, h, w, mine), GS_OK);
        for (int k = 0; k < 5; k++)
            tot += mine[k];
        for (int k = 0; k < 5; k++) {
            const double d = fabs(ch[i * 5 + k] - mine[k]) / (tot + 1.0);
            worst = d > worst ? d : worst;
        }
    }
    printf("export zdc: O2 channel sums from ORT vs gansim: max |diff| / (image sum + 1) %.3g\n",
           worst);
    ck_assert_double_le(worst, 1e-5);
    /* the two channel maps partition the same pixels: O2's channel 5 is
     * gansim's channels 1-4 (mt.h) */
    double a[5], c5[5];
    ck_assert_int_eq(mt_zdc_o2_channel_sums(smp.images, h, w, a), GS_OK);
    ck_assert_int_eq(mt_zdc_channel_sums(smp.images, h, w, c5), GS_OK);
    ck_assert_double_eq_tol(a[4], c5[0] + c5[1] + c5[2] + c5[3], 1e-6 * (1 + a[4]));
    ck_assert_double_eq_tol(a[0] + a[1] + a[2] + a[3], c5[4], 1e-6 * (1 + c5[4]));
    ds_images_free(&smp);
    ds_images_free(&cd);
    md_zdc_free(m);
    free(ch);
    free(z10);
    free(z);
    free(cs);
    free(ref);
    free(ort);
    gs_test_rmdir(dir);
}
END_TEST

/* ---- LUXE -------------------------------------------------------------------- */
/* The float32 floor of sub-model k on noise z: how far each output moves when
 * every generator output moves by one float32 rounding (x (1 + 2^-23)).
 * Where a quantile cell is wide (a gap in the training data), the inverse
 * transform multiplies such a change by (nq - 1) dq phi(x); two float32
 * implementations of the same generator (OpenBLAS and ONNX Runtime's GEMMs)
 * cannot agree more closely than that. floor [f]: the max over rows. */
static void luxe_floor(md_luxe_model *m, int k, const float *z, int64_t n, double *floor)
{
    md_luxe_inference v;
    md_luxe_sub s;
    ck_assert_int_eq(md_luxe_inference_view(m, &v), GS_OK);
    ck_assert_int_eq(md_luxe_sub_view(m, k, &s), GS_OK);
    const int64_t f = v.n_features;
    nn_ctx *c = nn_ctx_new();
    nn_set_grad_enabled(c, false);
    nn_tensor *x = md_mlp_fwd(c, s.g, nn_input(c, 2, (int64_t[]){n, v.noise_dim}, z));
    ck_assert_ptr_nonnull(x);
    float *a = malloc((size_t)(n * f) * sizeof *a), *b = malloc((size_t)(n * f) * sizeof *b);
    ck_assert(a && b);
    for (int64_t i = 0; i < n * f; i++) {
        a[i] = x->data[i];
        b[i] = x->data[i] * (1.0f + 0x1p-23f);
    }
    float *t[2] = {a, b};
    for (int w = 0; w < 2; w++) { /* md_luxe's from_model_space, by hand */
        ck_assert_int_eq(pp_quantile_inverse(s.qt, t[w], t[w], n), GS_OK);
        md_luxe_sub_from_model_space(m, k, t[w], n);
    }
    for (int64_t j = 0; j < f; j++) {
        floor[j] = 0;
        for (int64_t i = 0; i < n; i++) {
            const double d = fabs((double)a[i * f + j] - (double)b[i * f + j]);
            floor[j] = d > floor[j] ? d : floor[j];
        }
    }
    free(a);
    free(b);
    nn_ctx_free(c);
}

static void luxe_case(const char *tag, const char *sets, int min_subs)
{
    const char *b = gs_test_bin();
    char dir[64], p[512], xd[128];
    gs_test_tmpdir(dir, sizeof dir);
    ck_assert_int_eq(gs_test_run("%s/gansim-datagen luxe -n 6000 --seed 4 -o %s/ev.h5 >/dev/null",
                                 b, dir), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-train luxe --data %s/ev.h5 --out %s/r --iters 40 "
                                 "--set model.g_widths=24,24 --set model.d_widths=16,16 "
                                 "--set model.noise_dim=6 --set train.batch=64 "
                                 "--set train.n_critic=1 --set train.kl_every=20 "
                                 "--set train.kl_samples=300 --set split.min_species_rows=800 "
                                 "--set split.min_rows=50 --set train.lr_g=0.003 %s "
                                 ">/dev/null 2>&1", b, dir, dir, sets), 0);
    snprintf(p, sizeof p, "%s/r/model.h5", dir);
    snprintf(xd, sizeof xd, "%s/x", dir);
    ck_assert_int_eq(gs_test_run("%s/gansim-export --model %s -o %s > %s/files.txt", b, p, xd, dir),
                     0);
    ck_assert(file_exists(xd, "manifest.json"));
    md_luxe_model *m;
    ck_assert_int_eq(md_luxe_load(p, &m), GS_OK);
    md_luxe_inference v;
    ck_assert_int_eq(md_luxe_inference_view(m, &v), GS_OK);
    ck_assert_int_ge(v.n_sub, min_subs);
    ck_assert_int_eq(gs_test_run("grep -c '\"file\": \"sub' %s/manifest.json | grep -qx %d", xd,
                                 v.n_sub), 0);
    const int64_t n = 3000, nz = v.noise_dim, f = v.n_features;
    float *z = malloc((size_t)(n * nz) * sizeof *z), *ref = malloc((size_t)(n * f) * sizeof *ref);
    float *ort = malloc((size_t)(n * f) * sizeof *ort);
    ck_assert(z && ref && ort);
    gs_rng r;
    gs_rng_seed(&r, 9);
    for (int k = 0; k < v.n_sub; k++) {
        /* 3000 normal rows reach beyond |z| = 3.5: the tails of the quantile map */
        gs_rng_fill_normal(&r, z, n * nz, 0.0f, 1.0f);
        ck_assert_int_eq(md_luxe_sub_generate(m, k, z, n, ref), GS_OK);
        snprintf(p, sizeof p, "%s/z.f32", dir);
        write_f32(p, z, n * nz);
        ck_assert_int_eq(gs_test_run("f=$(sed -n 's/.*\"file\": \"\\(sub%d_[^\"]*\\)\".*/\\1/p' "
                                     "%s/manifest.json) && node %s/tests/ort/ort_run.js "
                                     "--model %s/$f --in noise:%s/z.f32:%lldx%lld --out %s/y.f32 "
                                     ">/dev/null",
                                     k, xd, root(), xd, dir, (long long)n, (long long)nz, dir), 0);
        snprintf(p, sizeof p, "%s/y.f32", dir);
        read_raw(p, ort, (size_t)(n * f) * sizeof(float));
        double fl[64];
        luxe_floor(m, k, z, n, fl);
        for (int64_t j = 0; j < f; j++) {
            double dmax, rmax;
            max_diff(ort, ref, n, f, j, &dmax, &rmax);
            printf("export luxe %s sub %d %-3s: max |diff| %.3g, max |value| %.3g, relative "
                   "%.3g; float32 floor %.3g (relative %.3g)\n", tag, k, md_luxe_column(m, j),
                   dmax, rmax, rmax > 0 ? dmax / rmax : 0.0, fl[j], rmax > 0 ? fl[j] / rmax : 0.0);
            fflush(stdout);
            /* 1e-5 of the feature's range, or within 4x the float32 floor where
             * the transform is that steep */
            ck_assert_msg(dmax <= TOL * rmax || dmax <= 4 * fl[j],
                          "LUXE sub %d feature %s: max |diff| %g > %g and > 4 x floor %g", k,
                          md_luxe_column(m, j), dmax, TOL * rmax, fl[j]);
        }
    }
    md_luxe_free(m);
    free(z);
    free(ref);
    free(ort);
    gs_test_rmdir(dir);
}

START_TEST(t_luxe_ort_parity_cylindrical)
{
    /* cylindrical coordinates, log10 of p and t, layer norm, two rings */
    luxe_case("cylindrical", "--set data.coords=cylindrical --set data.log_features=p,t "
              "--set model.g_norm=layernorm --set split.regions=radius --set split.radii=500",
              2);
}
END_TEST

START_TEST(t_luxe_ort_parity_local)
{
    /* three rings: two bounded ones as (r, phi), the outermost as the hole
     * frame (u, v), each with the local momentum (p_r, p_phi) */
    luxe_case("local", "--set data.coords=local --set data.position=hole "
              "--set data.log_features=t --set split.regions=radius "
              "--set split.radii=300,800 --set split.species=false", 3);
}
END_TEST

START_TEST(t_luxe_ort_parity_disc)
{
    /* the innermost disc as the disc frame (u, v) on the square, a ring and the
     * outermost ring as (r, phi), each with the local momentum (p_r, p_phi) */
    luxe_case("disc", "--set data.coords=local --set data.position=disc "
              "--set data.log_features=t --set split.regions=radius "
              "--set split.radii=300,800 --set split.species=false", 3);
}
END_TEST

START_TEST(t_luxe_ort_parity_cartesian)
{
    luxe_case("cartesian", "--set split.regions=none", 1);
}
END_TEST

/* ---- the tool ---------------------------------------------------------------- */
START_TEST(t_export_tool)
{
    const char *b = gs_test_bin();
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    ck_assert_int_eq(gs_test_run("%s/gansim-export --help | grep -q 'O2'", b), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-export -o %s/x 2>/dev/null", b, dir), 2);
    ck_assert_int_eq(gs_test_run("%s/gansim-export --model m.h5 2>/dev/null", b), 2);
    ck_assert_int_eq(gs_test_run("%s/gansim-export --model m.h5 -o %s/x --format pt 2>/dev/null",
                                 b, dir), 2);
    ck_assert_int_eq(gs_test_run("%s/gansim-export --model m.h5 -o %s/x --bogus 2>/dev/null", b,
                                 dir), 2);
    ck_assert_int_eq(gs_test_run("%s/gansim-export --model %s/missing.h5 -o %s/x 2>/dev/null", b,
                                 dir, dir), 1);
    /* a data file is not a model: exit 1 and no directory made */
    ck_assert_int_eq(gs_test_run("%s/gansim-datagen zdc -n 5 --seed 1 -o %s/d.h5 >/dev/null && "
                                 "%s/gansim-export --model %s/d.h5 -o %s/x 2>/dev/null",
                                 b, dir, b, dir, dir), 1);
    ck_assert_int_eq(gs_test_run("test -e %s/x", dir), 1);
    ck_assert_int_eq(gs_test_run("echo junk > %s/j.h5; %s/gansim-export --model %s/j.h5 -o %s/x "
                                 "2>/dev/null", dir, b, dir, dir), 1);
    ck_assert_int_eq(gs_test_run("test -e %s/x", dir), 1);
    gs_test_rmdir(dir);
}
END_TEST

static Suite *export_suite(void)
{
    Suite *s = suite_create("export");
    TCase *tc = tcase_create("export");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, t_builder_contracts);
    tcase_add_test(tc, t_builder_in_ort);
    tcase_add_test(tc, t_zdc_ort_parity);
    tcase_add_test(tc, t_luxe_ort_parity_cylindrical);
    tcase_add_test(tc, t_luxe_ort_parity_local);
    tcase_add_test(tc, t_luxe_ort_parity_disc);
    tcase_add_test(tc, t_luxe_ort_parity_cartesian);
    tcase_add_test(tc, t_export_tool);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(export_suite)

/* models/md_zdcflow: the ODE solvers on a field with a known solution, the
 * velocity network's shapes and time features, the flow-matching loss
 * falling on a tiny data set, exact resume, sampling (seed-reproducible,
 * thread-count independent, chunks = one production), no allocation in a
 * training step, and the tools' zdc-flow paths. */
#include "api/gansim.h"
#include "core/gs_h5.h"
#include "models/md_zdcflow.h"
#include "testutil.h"

#include "alloc_count.h"

#include <sys/stat.h>

/* ---- the ODE solver ------------------------------------------------------------ */
/* dx/dt = −x + 2t: x(1) = (x(0) + 2)/e exactly (x(t) = (x0 + 2) e^−t + 2t − 2). */
static int lin_field(void *ud, const float *x, float t, float *v)
{
    int *calls = ud;
    (*calls)++;
    for (int i = 0; i < 3; i++)
        v[i] = -x[i] + 2.0f * t;
    return GS_OK;
}

static double solve_err(int64_t steps, int solver, int *calls)
{
    const float x0[3] = {-1.0f, 0.5f, 3.0f};
    float x[3], scratch[6];
    memcpy(x, x0, sizeof x);
    ck_assert_int_eq(md_flow_integrate(x, 3, steps, solver, lin_field, calls, scratch), GS_OK);
    double err = 0;
    for (int i = 0; i < 3; i++)
        err = fmax(err, fabs(x[i] - (x0[i] + 2.0) / exp(1.0)));
    return err;
}

START_TEST(t_solver)
{
    int ce = 0, ch = 0, junk = 0;
    const double e20 = solve_err(20, MD_FLOW_EULER, &ce);
    const double h20 = solve_err(20, MD_FLOW_HEUN, &ch);
    ck_assert_int_eq(ce, 20); /* one field evaluation a step */
    ck_assert_int_eq(ch, 40); /* two */
    const double e4000 = solve_err(4000, MD_FLOW_EULER, &junk);
    const double h40 = solve_err(40, MD_FLOW_HEUN, &junk);
    const double e40 = solve_err(40, MD_FLOW_EULER, &junk);
    /* orders: Euler's error halves with twice the steps, Heun's quarters */
    ck_assert_msg(e20 / e40 > 1.8 && e20 / e40 < 2.2, "euler ratio %g", e20 / e40);
    ck_assert_msg(h20 / h40 > 3.5 && h20 / h40 < 4.5, "heun ratio %g", h20 / h40);
    /* the stated tolerance: Heun with 20 steps and Euler with 4000 agree to 1e-3 */
    ck_assert_msg(h20 < 1e-3 && e4000 < 1e-3 && e20 > 10 * h20, "euler %g heun %g euler4000 %g",
                  e20, h20, e4000);
    float x[3] = {0}, s[6];
    ck_assert_int_eq(md_flow_integrate(x, 3, 0, MD_FLOW_EULER, lin_field, &junk, s), GS_ERR_ARG);
    ck_assert_int_eq(md_flow_integrate(x, 3, 5, 7, lin_field, &junk, s), GS_ERR_ARG);
}
END_TEST

/* ---- network ------------------------------------------------------------------- */
static void tiny_cfg(md_zdcflow_cfg *c, int64_t iters)
{
    md_zdcflow_cfg_default(c);
    c->channels = (md_ivec){3, {4, 4, 8}};
    c->t_features = 8;
    c->embed = 8;
    c->batch = 8;
    c->iters = iters;
    c->eval_every = 4;
    c->ckpt_every = 4;
    c->eval_rows = 20;
    c->steps = 2;
    c->lr = 1e-3;
    c->ema = 0.9;
    c->round = 0; /* the tests below compare unrounded images; rounding is tested on its own */
}

START_TEST(t_shapes)
{
    /* 56x30 proton, 44x44 neutron, an odd 45x43: output shape = input shape */
    const int64_t hw[3][2] = {{56, 30}, {44, 44}, {45, 43}};
    md_zdcflow_cfg cfg;
    tiny_cfg(&cfg, 1);
    gs_rng r;
    gs_rng_seed(&r, 1);
    for (int k = 0; k < 3; k++) {
        const int64_t h = hw[k][0], w = hw[k][1], b = 3;
        md_zdcflow_net v;
        ck_assert_int_eq(md_zdcflow_net_init(&v, &cfg, 9, h, w, &r), GS_OK);
        float *x = calloc((size_t)(b * h * w), sizeof(float)), t[3] = {0, 0.5f, 1}, c[27] = {0};
        nn_ctx *ctx = nn_ctx_new();
        nn_tensor *y = md_zdcflow_net_fwd(ctx, &v, x, t, c, b);
        ck_assert_ptr_nonnull(y);
        ck_assert_int_eq(y->ndim, 4);
        ck_assert_int_eq(y->shape[0], b);
        ck_assert_int_eq(y->shape[1], 1);
        ck_assert_int_eq(y->shape[2], h);
        ck_assert_int_eq(y->shape[3], w);
        /* t reaches the output: the three rows differ only in t */
        ck_assert(memcmp(y->data, y->data + h * w, (size_t)(h * w) * sizeof(float)) != 0);
        nn_ctx_free(ctx);
        free(x);
        md_zdcflow_net_free(&v);
    }
    /* time features: sin/cos of 1000 t ω_j, ω_0 = 1, ω_j = 10000^(−j/half) */
    float f[8];
    md_zdcflow_time_features(0.0f, 8, f);
    for (int j = 0; j < 4; j++) {
        ck_assert_float_eq(f[j], 0.0f);
        ck_assert_float_eq(f[4 + j], 1.0f);
    }
    md_zdcflow_time_features(0.25f, 8, f);
    ck_assert_close(f[0], sin(250.0), 1e-5, 0);
    ck_assert_close(f[5], cos(250.0 * pow(10000.0, -0.25)), 1e-5, 0);
    md_zdcflow_net v;
    cfg.t_features = 7;
    ck_assert_int_eq(md_zdcflow_net_init(&v, &cfg, 9, 56, 30, &r), GS_ERR_ARG);
    cfg.t_features = 8;
    cfg.channels.n = 2;
    ck_assert_int_eq(md_zdcflow_net_init(&v, &cfg, 9, 56, 30, &r), GS_ERR_ARG);
}
END_TEST

/* ---- training ---------------------------------------------------------------------- */
typedef struct {
    int64_t stop_at;
    volatile sig_atomic_t *flag;
    int calls, evals;
    double loss[200];
} stopper;

static void stop_cb(void *ud, const md_progress *p)
{
    stopper *s = ud;
    s->calls++;
    s->evals += p->evaluated;
    if (p->step >= 1 && p->step <= 200)
        s->loss[p->step - 1] = p->losses.v[0];
    if (s->stop_at && p->step == s->stop_at)
        *s->flag = 1;
}

START_TEST(t_loss_decreases)
{
    ds_images data;
    ck_assert_int_eq(ds_toy_zdc(300, 4, &data), GS_OK);
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    md_zdcflow_cfg cfg;
    tiny_cfg(&cfg, 120);
    cfg.batch = 16;
    cfg.eval_every = cfg.ckpt_every = 1000;
    cfg.lr = 3e-3;
    stopper st = {0};
    md_train_opts o = {.out_dir = dir, .progress = stop_cb, .progress_ud = &st};
    int stopped;
    ck_assert_msg(md_train(&md_kind_zdcflow, &cfg, &data, &o, &stopped) == GS_OK, "%s",
                  gs_errmsg());
    double first = 0, last = 0;
    for (int i = 0; i < 20; i++) {
        first += st.loss[i] / 20;
        last += st.loss[100 + i] / 20;
    }
    /* the loss at start is about E|x1 − x0|² ≥ 1 (unit noise); the velocity
     * field learned in 120 steps must explain a good part of it */
    ck_assert_msg(last < 0.8 * first, "loss %g -> %g", first, last);
    ds_images_free(&data);
    gs_test_rmdir(dir);
}
END_TEST

static void read_ds(const char *path, const char *dset, float *out, int64_t n)
{
    hid_t f;
    ck_assert_int_eq(gs_h5_open(path, 0, &f), GS_OK);
    int64_t dims[4];
    int rank;
    ck_assert_msg(gs_h5_shape(f, dset, &rank, dims) == GS_OK, "%s", gs_errmsg());
    int64_t tot = 1;
    for (int i = 0; i < rank; i++)
        tot *= dims[i];
    ck_assert_int_eq(tot, n);
    ck_assert_int_eq(gs_h5_read_into(f, dset, GS_H5_F32, rank, dims, out), GS_OK);
    gs_h5_close(f);
}

START_TEST(t_train_resume_sample)
{
    ds_images data;
    ck_assert_int_eq(ds_toy_zdc(400, 5, &data), GS_OK);
    char dir[64], a[128], b[128], p[256], q[256];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    mkdir(a, 0777);
    mkdir(b, 0777);
    md_zdcflow_cfg cfg;
    tiny_cfg(&cfg, 12);
    volatile sig_atomic_t flag = 0;
    stopper st = {0, &flag, 0, 0, {0}};
    md_train_opts o = {.out_dir = a, .stop = &flag, .progress = stop_cb, .progress_ud = &st};
    int stopped = -1;
    ck_assert_msg(md_train(&md_kind_zdcflow, &cfg, &data, &o, &stopped) == GS_OK, "%s",
                  gs_errmsg());
    ck_assert_int_eq(stopped, 0);
    ck_assert_int_eq(st.calls, 12);
    ck_assert_int_eq(st.evals, 3);
    /* interrupted at step 5, resumed with another config (the checkpoint's rules) */
    stopper st2 = {5, &flag, 0, 0, {0}};
    md_train_opts o2 = {.out_dir = b, .stop = &flag, .progress = stop_cb, .progress_ud = &st2};
    ck_assert_int_eq(md_train(&md_kind_zdcflow, &cfg, &data, &o2, &stopped), GS_OK);
    ck_assert_int_eq(stopped, 1);
    flag = 0;
    st2.stop_at = 0;
    o2.resume = 1;
    md_zdcflow_cfg other;
    tiny_cfg(&other, 3);
    other.lr = 0.1;
    ck_assert_msg(md_train(&md_kind_zdcflow, &other, &data, &o2, &stopped) == GS_OK, "%s",
                  gs_errmsg());
    ck_assert_int_eq(stopped, 0);
    ck_assert_int_eq(st2.calls, 12);
    snprintf(p, sizeof p, "%s/last.h5", a);
    snprintf(q, sizeof q, "%s/last.h5", b);
    const struct { const char *name; int64_t n; } ds[] = {
        {"train/V/V.enc0.w", 4 * 2 * 9}, {"train/V/V.emb3.w", 8 * 14 * 8 * 8},
        {"train/V/V.out.w", 8 * 9},      {"train/V_ema/V.merge.w", 4 * 8 * 9},
        {"train/best/V/V.up0.w", 4 * 8 * 9}, {"V/V.mid.w", 8 * 8 * 9}};
    for (size_t j = 0; j < sizeof ds / sizeof ds[0]; j++) {
        float *wa = malloc((size_t)ds[j].n * sizeof(float)), *wb = malloc((size_t)ds[j].n * 4);
        read_ds(p, ds[j].name, wa, ds[j].n);
        read_ds(q, ds[j].name, wb, ds[j].n);
        ck_assert_msg(memcmp(wa, wb, (size_t)ds[j].n * sizeof(float)) == 0,
                      "%s differs after resume", ds[j].name);
        free(wa);
        free(wb);
    }
    snprintf(p, sizeof p, "%s/train.log", a);
    FILE *lf = fopen(p, "r");
    ck_assert_ptr_nonnull(lf);
    char line[2048];
    int records = 0;
    while (fgets(line, sizeof line, lf))
        records += line[0] != '#' && strstr(line, "w1_mean=") && strstr(line, "loss_fm=");
    fclose(lf);
    ck_assert_int_eq(records, 3);

    /* sampling through the registry, as gansim-sample does */
    snprintf(p, sizeof p, "%s/model.h5", a);
    md_model *mm;
    ck_assert_msg(md_model_open(p, &mm) == GS_OK, "%s", gs_errmsg());
    ck_assert_ptr_eq(md_model_kind(mm), &md_kind_zdcflow);
    const md_images_ops *ops = md_model_kind(mm)->images;
    md_zdcflow_model *m = md_model_handle(mm);
    ck_assert_int_eq(ops->n_cond(m), 9);
    const int64_t n = 400, k = 3, px = 56 * 30; /* 1200 images: 2 production chunks */
    ds_images g1, g2, c0, c1;
    const int saved = nn_get_threads();
    nn_set_threads(1);
    ck_assert_int_eq(ops->sample(m, data.cond, n, k, 7, &g1), GS_OK);
    nn_set_threads(3);
    ck_assert_int_eq(ops->sample(m, data.cond, n, k, 7, &g2), GS_OK);
    ck_assert_int_eq(g1.n, n * k);
    ck_assert_int_eq(g1.h, 56);
    ck_assert_int_eq(g1.w, 30);
    ck_assert_msg(memcmp(g1.images, g2.images, (size_t)(n * k * px) * sizeof(float)) == 0,
                  "sampling depends on the thread count");
    for (int64_t i = 0; i < n * k * px; i++)
        ck_assert(isfinite(g1.images[i]) && g1.images[i] >= 0);
    for (int64_t i = 0; i < n * k; i++)
        ck_assert_int_eq(memcmp(g1.cond + i * 9, data.cond + (i / k) * 9, 9 * sizeof(float)), 0);
    /* chunks, in any order, are the production's */
    ck_assert_int_eq(ops->n_chunks(m, n, k), 2);
    ck_assert_int_eq(ops->sample_chunk(m, data.cond, n, k, 7, 1, &c1), GS_OK);
    ck_assert_int_eq(ops->sample_chunk(m, data.cond, n, k, 7, 0, &c0), GS_OK);
    ck_assert_int_eq(c0.n, MD_ZDCFLOW_CHUNK);
    ck_assert_int_eq(c1.n, n * k - MD_ZDCFLOW_CHUNK);
    ck_assert_int_eq(memcmp(c0.images, g1.images, (size_t)(c0.n * px) * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(c1.images, g1.images + c0.n * px, (size_t)(c1.n * px) * sizeof(float)),
                     0);
    ck_assert_int_eq(memcmp(c1.cond, g1.cond + c0.n * 9, (size_t)(c1.n * 9) * sizeof(float)), 0);
    ds_images_free(&c0);
    ds_images_free(&c1);
    /* another seed, another production; the same seed again, the same */
    ds_images_free(&g2);
    ck_assert_int_eq(ops->sample(m, data.cond, 3, 1, 8, &g2), GS_OK);
    ck_assert(memcmp(g1.images, g2.images, (size_t)px * sizeof(float)) != 0);
    ds_images_free(&g2);
    ck_assert_int_eq(ops->sample(m, data.cond, n, k, 7, &g2), GS_OK);
    ck_assert_int_eq(memcmp(g1.images, g2.images, (size_t)(n * k * px) * sizeof(float)), 0);
    ds_images_free(&g2);
    /* the solver is a setting: euler with the same steps differs from heun */
    ck_assert_int_eq(md_zdcflow_set_sampler(m, 2, MD_FLOW_EULER), GS_OK);
    ck_assert_int_eq(ops->sample(m, data.cond, 3, 1, 7, &g2), GS_OK);
    ck_assert(memcmp(g1.images, g2.images, (size_t)px * sizeof(float)) != 0);
    ck_assert_int_eq(md_zdcflow_set_sampler(m, 0, MD_FLOW_EULER), GS_ERR_ARG);
    /* md_model_set (gansim-sample --set) reaches the same setting */
    ds_images g3;
    ck_assert_int_eq(md_zdcflow_set_sampler(m, 5, MD_FLOW_HEUN), GS_OK);
    ck_assert_int_eq(md_model_set(mm, "sample.solver=euler"), GS_OK);
    ck_assert_int_eq(md_model_set(mm, "sample.steps=2"), GS_OK);
    ck_assert_int_eq(ops->sample(m, data.cond, 3, 1, 7, &g3), GS_OK);
    ck_assert_int_eq(memcmp(g3.images, g2.images, (size_t)(3 * px) * sizeof(float)), 0);
    ds_images_free(&g3);
    ck_assert_int_eq(md_model_set(mm, "sample.steps=-1"), GS_ERR_ARG);
    ck_assert_int_eq(md_model_set(mm, "train.lr=1"), GS_ERR_ARG);
    ck_assert_int_eq(md_model_set(mm, "sample.solver"), GS_ERR_ARG);
    ck_assert_int_eq(ops->sample(m, data.cond, 3, 1, 7, &g3), GS_OK); /* unchanged: euler, 2 */
    ck_assert_int_eq(memcmp(g3.images, g2.images, (size_t)(3 * px) * sizeof(float)), 0);
    ds_images_free(&g3);
    /* sample.round: the same images rounded to integer photon counts */
    ck_assert_int_eq(md_model_set(mm, "sample.round=true"), GS_OK);
    ck_assert_int_eq(ops->sample(m, data.cond, 3, 1, 7, &g3), GS_OK);
    int64_t fractional = 0;
    for (int64_t i = 0; i < 3 * px; i++) {
        ck_assert_float_eq(g3.images[i], rintf(g2.images[i]));
        fractional += g2.images[i] != rintf(g2.images[i]);
    }
    ck_assert_int_gt(fractional, 0); /* the unrounded ones were not integers already */
    ck_assert_int_eq(md_model_set(mm, "sample.round=maybe"), GS_ERR_ARG);
    ck_assert_int_eq(md_model_set(mm, "sample.round=false"), GS_OK);
    ds_images_free(&g3);
    ds_images_free(&g2);
    ck_assert_int_eq(ops->sample(m, data.cond, 3, 0, 7, &g2), GS_ERR_ARG);
    /* the embedding API draws the same images (k = 1) as the kind's sampler */
    ck_assert_int_eq(md_zdcflow_set_sampler(m, 2, MD_FLOW_HEUN), GS_OK);
    ds_images_free(&g2);
    ck_assert_int_eq(ops->sample(m, data.cond, 3, 1, 11, &g2), GS_OK);
    gansim_model *api;
    ck_assert_msg(gansim_open(p, &api) == GS_OK, "%s", gansim_errmsg());
    float *ai = malloc((size_t)(3 * px) * sizeof(float));
    ck_assert_int_eq(gansim_sample_images(api, data.cond, 3, 11, ai), GS_OK);
    ck_assert_int_eq(memcmp(ai, g2.images, (size_t)(3 * px) * sizeof(float)), 0);
    free(ai);
    gansim_close(api);
    ds_images_free(&g2);
    nn_set_threads(saved);
    ds_images_free(&g1);
    md_model_close(mm);
    /* a GAN file is no flow model */
    ck_assert_int_ne(md_zdcflow_load("/nonexistent/model.h5", &m), GS_OK);
    ds_images_free(&data);
    gs_test_rmdir(dir);
}
END_TEST

typedef struct {
    long at[16];
} alloc_probe;

static void probe_cb(void *ud, const md_progress *p)
{
    alloc_probe *a = ud;
    if (p->step < 16)
        a->at[p->step] = atomic_load(&n_alloc_calls);
}

/* sample.round is on for new models; a file written before the key existed
 * reads it as off (its images were sampled unrounded) */
START_TEST(t_round_default)
{
    md_zdcflow_cfg c;
    md_zdcflow_cfg_default(&c);
    ck_assert_int_eq(c.round, 1);
    char dir[64], p[128];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/old.h5", dir);
    const char *texts[] = {"sample.steps = 4\n", "sample.steps = 4\nsample.round = true\n"};
    for (int i = 0; i < 2; i++) {
        hid_t f;
        ck_assert_int_eq(gs_h5_create(p, &f), GS_OK);
        ck_assert_int_eq(gs_h5_attr_write_str(f, ".", "gansim_kind", "zdc_flow"), GS_OK);
        ck_assert_int_eq(gs_h5_attr_write_str(f, ".", "config", texts[i]), GS_OK);
        memset(&c, 0x55, sizeof c);
        ck_assert_msg(md_kind_read_config(f, p, &md_kind_zdcflow, &c) == GS_OK, "%s",
                      gs_errmsg());
        gs_h5_close(f);
        ck_assert_int_eq(c.steps, 4);
        ck_assert_int_eq(c.solver, MD_FLOW_HEUN);
        ck_assert_int_eq(c.round, i);
    }
    gs_test_rmdir(dir);
}
END_TEST

START_TEST(t_no_malloc_in_step)
{
    alloc_count_prove();
    ds_images data;
    ck_assert_int_eq(ds_toy_zdc(200, 8, &data), GS_OK);
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    md_zdcflow_cfg cfg;
    tiny_cfg(&cfg, 9);
    cfg.eval_every = cfg.ckpt_every = 1000;
    alloc_probe a = {{0}};
    md_train_opts o = {.out_dir = dir, .progress = probe_cb, .progress_ud = &a};
    int stopped;
    ck_assert_msg(md_train(&md_kind_zdcflow, &cfg, &data, &o, &stopped) == GS_OK, "%s",
                  gs_errmsg());
    for (int k = 4; k < 8; k++)
        ck_assert_msg(a.at[k + 1] == a.at[k], "step %d allocated %ld times", k + 1,
                      a.at[k + 1] - a.at[k]);
    ds_images_free(&data);
    gs_test_rmdir(dir);
}
END_TEST

/* ---- tools ------------------------------------------------------------------------ */
START_TEST(t_tools)
{
    const char *b = gs_test_bin();
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    ck_assert_int_eq(gs_test_run("%s/gansim-datagen zdc -n 300 --seed 3 -o %s/d.h5 >/dev/null", b,
                                 dir), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-train --help 2>&1 | grep -q zdc-flow", b), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-train zdc-flow --data %s/d.h5 --out %s/r "
                                 "--print-config | grep -Eq '^ *sample.solver +heun'", b, dir,
                                 dir), 0);
    const char *small = "--set model.channels=4,4,8 --set model.t_features=8 --set model.embed=8 "
                        "--set train.batch=8 --set train.eval_rows=30 --set train.eval_every=3 "
                        "--set sample.steps=2 --set sample.round=false";
    ck_assert_int_eq(gs_test_run("%s/gansim-train zdc-flow --data %s/d.h5 --out %s/r --iters 6 %s "
                                 "2>/dev/null", b, dir, dir, small), 0);
    ck_assert_int_eq(gs_test_run("grep -q '^step=6 .*w1_mean=' %s/r/train.log", dir), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 --conditions %s/d.h5 -k 2 "
                                 "-o %s/g.h5 2>/dev/null", b, dir, dir, dir), 0);
    ck_assert_int_eq(gs_test_run("h5ls %s/g.h5 | grep -q 'images .*{600, 56, 30}'", dir), 0);
    /* gansim-eval's two ZDC channel maps (docs/metrics.md): the report names the
     * map, and the colourings give other channel-5 sums, so other W1 */
    for (int o2 = 0; o2 < 2; o2++)
        ck_assert_int_eq(gs_test_run("%s/gansim-eval --real %s/d.h5 --gen %s/g.h5 --out %s/rep%d "
                                     "--no-classifier --threads 1 %s >/dev/null 2>&1", b, dir,
                                     dir, dir, o2, o2 ? "--channel-map o2" : ""), 0);
    ck_assert_int_eq(gs_test_run("grep -q '\"channel_map\": \"research\"' %s/rep0/metrics.json",
                                 dir), 0);
    ck_assert_int_eq(gs_test_run("grep -q '\"channel_map\": \"o2\"' %s/rep1/metrics.json",
                                 dir), 0);
    ck_assert_int_eq(gs_test_run("cmp -s %s/rep0/metrics.json %s/rep1/metrics.json", dir, dir), 1);
    ck_assert_int_eq(gs_test_run("%s/gansim-eval --real %s/d.h5 --gen %s/g.h5 --out %s/rep2 "
                                 "--channel-map alice 2>&1 | grep -q 'research or o2'", b, dir,
                                 dir, dir), 0);
    /* --set switches the sampler for one run: euler with 3 steps is another
     * production; the model's own settings (heun, 2 steps) again the same */
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --help | grep -q 'sample.solver=euler|heun'",
                                 b), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 --conditions %s/d.h5 -k 2 "
                                 "--set sample.solver=euler --set sample.steps=3 -o %s/ge.h5 "
                                 "2>/dev/null", b, dir, dir, dir), 0);
    ck_assert_int_eq(gs_test_run("h5diff -q %s/g.h5 %s/ge.h5", dir, dir), 1);
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 --conditions %s/d.h5 -k 2 "
                                 "--set sample.solver=heun --set sample.steps=2 -o %s/gh.h5 "
                                 "2>/dev/null", b, dir, dir, dir), 0);
    ck_assert_int_eq(gs_test_run("h5diff -q %s/g.h5 %s/gh.h5", dir, dir), 0);
    /* not a sampling key, a bad value, no KEY=VALUE: usage errors, nothing written */
    const char *bad[] = {"train.lr=0.1", "sample.solver=rk4", "sample.steps=0", "sample.steps"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 --conditions %s/d.h5 "
                                     "--set %s -o %s/gx.h5 2>/dev/null", b, dir, dir, bad[i], dir),
                         2);
        ck_assert_int_eq(gs_test_run("test -e %s/gx.h5", dir), 1);
    }
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 --conditions %s/d.h5 "
                                 "--set train.lr=0.1 -o %s/gx.h5 2>&1 | grep -q 'sample.steps'", b,
                                 dir, dir, dir), 0);
    /* no ONNX exporter: refused with the kind named, nothing written */
    ck_assert_int_eq(gs_test_run("%s/gansim-export --model %s/r/model.h5 -o %s/onnx 2>&1 "
                                 "| grep -q zdc_flow", b, dir, dir), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-export --model %s/r/model.h5 -o %s/onnx "
                                 "2>/dev/null", b, dir, dir), 1);
    ck_assert_int_eq(gs_test_run("test -e %s/onnx", dir), 1);
    gs_test_rmdir(dir);
}
END_TEST

static Suite *zdcflow_suite(void)
{
    Suite *s = suite_create("zdcflow");
    TCase *tc = tcase_create("zdcflow");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, t_solver);
    tcase_add_test(tc, t_shapes);
    tcase_add_test(tc, t_loss_decreases);
    tcase_add_test(tc, t_train_resume_sample);
    tcase_add_test(tc, t_round_default);
    tcase_add_test(tc, t_no_malloc_in_step);
    tcase_add_test(tc, t_tools);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(zdcflow_suite)

/* models/md_zdc: network shapes, the regularisers' values on hand-made
 * cases, a short training run with every regulariser, exact resume,
 * sampling, and the train/sample tools' ZDC paths and error exits. */
#include "core/gs_h5.h"
#include "metrics/mt.h"
#include "models/md_zdc.h"
#include "testutil.h"

#include "alloc_count.h"

#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>

static void tiny_cfg(md_zdc_cfg *c, int64_t iters)
{
    md_zdc_cfg_default(c);
    c->noise_dim = 4;
    c->g_channels = (md_ivec){3, {8, 4, 4}};
    c->d_channels = (md_ivec){3, {4, 4, 8}};
    c->d_hidden = 8;
    c->aux_channels = 2;
    c->batch = 8;
    c->iters = iters;
    c->eval_every = 4;
    c->ckpt_every = 4;
    c->eval_rows = 40;
    c->sdi = c->intensity = c->aux = 1;
    c->lr_g = c->lr_d = c->lr_aux = 1e-3;
}

/* ---- shapes ------------------------------------------------------------- */
START_TEST(t_shapes)
{
    md_zdc_cfg cfg;
    md_zdc_cfg_default(&cfg);
    md_zdc_cfg_design_widths(&cfg); /* the defaults are a quarter of them */
    gs_rng r;
    gs_rng_seed(&r, 1);
    md_zdc_gen g;
    md_zdc_disc d;
    md_zdc_aux a;
    ck_assert_int_eq(md_zdc_gen_init(&g, &cfg, 9, 56, 30, &r), GS_OK);
    ck_assert_int_eq(md_zdc_disc_init(&d, &cfg, 9, 56, 30, &r), GS_OK);
    ck_assert_int_eq(md_zdc_aux_init(&a, &cfg, 56, 30, &r), GS_OK);
    ck_assert_int_eq(g.h0, 14);
    ck_assert_int_eq(g.w0, 8);
    nn_ctx *c = nn_ctx_new();
    const int64_t b = 3;
    float z[3 * 10], cond[3 * 9];
    gs_rng_fill_normal(&r, z, 30, 0, 1);
    gs_rng_fill_normal(&r, cond, 27, 0, 1);
    nn_tensor *zt = nn_input(c, 2, (int64_t[]){b, 10}, z);
    nn_tensor *ct = nn_input(c, 2, (int64_t[]){b, 9}, cond);
    nn_tensor *x = md_zdc_gen_fwd(c, &g, zt, ct);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(x->ndim, 4);
    ck_assert_int_eq(x->shape[0], 3);
    ck_assert_int_eq(x->shape[1], 1);
    ck_assert_int_eq(x->shape[2], 56);
    ck_assert_int_eq(x->shape[3], 30);
    for (int64_t i = 0; i < x->n; i++)
        ck_assert(x->data[i] >= 0); /* ReLU output: log(1 + x) space */
    nn_tensor *feat = NULL;
    nn_tensor *y = md_zdc_disc_fwd(c, &d, x, ct, &r, &feat);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(y->ndim, 2);
    ck_assert_int_eq(y->shape[0], 3);
    ck_assert_int_eq(y->shape[1], 1);
    ck_assert_int_eq(feat->shape[0], 3);
    ck_assert_int_eq(feat->shape[1], 128);
    /* 56x30 -> 28x15 -> 14x8 -> 7x4, ‖ 9 conditions ‖ 5 channel sums (model.d_sums) */
    ck_assert_int_eq(d.fc1.in, 128 * 7 * 4 + 9 + 5);
    nn_tensor *p = md_zdc_aux_fwd(c, &a, x);
    ck_assert_int_eq(p->shape[0], 3);
    ck_assert_int_eq(p->shape[1], 2);
    for (int i = 0; i < 6; i++)
        ck_assert(p->data[i] > 0 && p->data[i] < 1);
    nn_ctx_free(c);
    md_zdc_gen_free(&g);
    md_zdc_disc_free(&d);
    md_zdc_aux_free(&a);
}
END_TEST

/* ---- regularisers on hand-made data ------------------------------------------ */
START_TEST(t_diversity_weights)
{
    /* group A = {0,0}: pixels (0,0) and (2,2) -> std 1 per pixel, sum 2;
     * group B = {5,5}: three identical images -> 0;
     * row 5 = {0,0.1} alone: its 3 nearest rows are itself and group A,
     * images (1,1), (0,0), (2,2) -> std sqrt(2/3) per pixel. */
    const float cond[6 * 2] = {0, 0, 5, 5, 0, 0, 5, 5, 5, 5, 0, 0.1f};
    const float img[6 * 2] = {0, 0, 1, 1, 2, 2, 1, 1, 1, 1, 1, 1};
    float s[6];
    ck_assert_int_eq(md_zdc_diversity_weights(cond, img, 6, 2, 2, 3, s), GS_OK);
    ck_assert_close(s[0], 1.0, 1e-6, 0);
    ck_assert_close(s[2], 1.0, 1e-6, 0);
    ck_assert_close(s[1], 0.0, 1e-6, 0);
    ck_assert_close(s[3], 0.0, 1e-6, 0);
    ck_assert_close(s[4], 0.0, 1e-6, 0);
    ck_assert_close(s[5], sqrt(2.0 / 3.0), 1e-6, 0); /* 2 sqrt(2/3) / 2 */
    /* all equal: every weight 1 (the term still applies uniformly) */
    const float same[4] = {3, 3, 3, 3};
    const float c2[4] = {0, 0, 0, 0};
    ck_assert_int_eq(md_zdc_diversity_weights(c2, same, 2, 2, 2, 3, s), GS_OK);
    ck_assert_close(s[0], 1.0, 0, 0);
    ck_assert_close(s[1], 1.0, 0, 0);
    ck_assert_int_eq(md_zdc_diversity_weights(c2, same, 0, 2, 2, 3, s), GS_ERR_ARG);
}
END_TEST

START_TEST(t_loss_terms)
{
    nn_ctx *c = nn_ctx_new();
    /* intensity: sums 10 and 4 vs real 7 and 5 -> mean(3, 1) = 2, times lambda 0.5 */
    const float g[2 * 4] = {1, 2, 3, 4, 1, 1, 1, 1};
    const float rs[2] = {7, 5};
    nn_tensor *gt = nn_input(c, 4, (int64_t[]){2, 1, 2, 2}, g);
    nn_tensor *li = md_zdc_intensity_loss(c, gt, rs, 0.5);
    ck_assert_ptr_nonnull(li);
    ck_assert_close(li->data[0], 1.0, 1e-6, 0);
    /* aux: ((0.5-0)^2 + (0.5-1)^2 + (0.2-0.2)^2 + (0.4-0.1)^2) / 4 * 2 */
    const float pred[4] = {0.5f, 0.5f, 0.2f, 0.4f}, coords[4] = {0, 1, 0.2f, 0.1f};
    nn_tensor *la = md_zdc_aux_loss(c, nn_input(c, 2, (int64_t[]){2, 2}, pred), coords, 2.0);
    ck_assert_close(la->data[0], (0.25 + 0.25 + 0 + 0.09) / 4 * 2, 1e-6, 0);
    /* argmax coords: (row / (h-1), col / (w-1)), first maximum on ties */
    const float im[2 * 3 * 5] = {0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0,
                                 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
    float co[4];
    md_zdc_argmax_coords(im, 2, 3, 5, co);
    ck_assert_close(co[0], 0.5, 1e-7, 0);
    ck_assert_close(co[1], 0.5, 1e-7, 0);
    ck_assert_close(co[2], 0.0, 0, 0);
    ck_assert_close(co[3], 0.0, 0, 0);
    /* SDI: row 0 features differ by (1, 2, 3) -> mean 2, noises by (1, 1) -> 1:
     * div 2/(1+1e-5); row 1 by (0.5, 0.5, 0.5) and (2, 0) -> div 0.5/(1+1e-5) */
    const float f1[6] = {1, 2, 3, 0, 0, 0}, f2[6] = {0, 0, 0, 0.5f, -0.5f, 0.5f};
    const float z1[4] = {0, 0, 2, 0}, z2[4] = {1, -1, 0, 0}, s[2] = {0.2f, 0.8f};
    nn_tensor *ld = md_zdc_sdi_loss(c, nn_input(c, 2, (int64_t[]){2, 3}, f1),
                                    nn_input(c, 2, (int64_t[]){2, 3}, f2), z1, z2, 2, s, 0.4,
                                    0.5);
    const double d0 = 2.0 / (1 + 1e-5), d1 = 0.5 / (1 + 1e-5);
    const double want = 0.5 * 0.4 * 0.5 * (0.2 / (d0 + 1e-5) + 0.8 / (d1 + 1e-5));
    ck_assert_close(ld->data[0], want, 0, 1e-5);
    nn_ctx_free(c);
}
END_TEST

/* ---- training, resume, sampling ------------------------------------------------ */
typedef struct {
    int64_t stop_at;
    volatile sig_atomic_t *flag;
    int calls, evals;
} stopper;

static void stop_cb(void *ud, const md_progress *p)
{
    stopper *s = ud;
    s->calls++;
    s->evals += p->evaluated;
    if (s->stop_at && p->step == s->stop_at)
        *s->flag = 1;
}

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
    md_zdc_cfg cfg;
    tiny_cfg(&cfg, 12);
    cfg.ema = 0.9; /* the weight average is part of the exact resume */
    volatile sig_atomic_t flag = 0;
    stopper st = {0, &flag, 0, 0};
    md_train_opts o = {.out_dir = a, .stop = &flag, .progress = stop_cb, .progress_ud = &st};
    int stopped = -1;
    ck_assert_msg(md_zdc_train(&cfg, &data, &o, &stopped) == GS_OK, "%s", gs_errmsg());
    ck_assert_int_eq(stopped, 0);
    ck_assert_int_eq(st.calls, 12);
    ck_assert_int_eq(st.evals, 3);
    /* interrupted at step 5, resumed with another config (ignored) */
    stopper st2 = {5, &flag, 0, 0};
    md_train_opts o2 = {.out_dir = b, .stop = &flag, .progress = stop_cb,
                            .progress_ud = &st2};
    ck_assert_int_eq(md_zdc_train(&cfg, &data, &o2, &stopped), GS_OK);
    ck_assert_int_eq(stopped, 1);
    flag = 0;
    st2.stop_at = 0;
    o2.resume = 1;
    md_zdc_cfg other;
    tiny_cfg(&other, 3);
    other.sdi = 0;
    ck_assert_msg(md_zdc_train(&other, &data, &o2, &stopped) == GS_OK, "%s", gs_errmsg());
    ck_assert_int_eq(stopped, 0);
    ck_assert_int_eq(st2.calls, 12);
    snprintf(p, sizeof p, "%s/last.h5", a);
    snprintf(q, sizeof q, "%s/last.h5", b);
    const struct { const char *name; int64_t n; } ds[] = {
        {"train/G/G.conv0.w", 4 * 8 * 9}, {"train/G_buf/G.bn1.running_var", 4},
        {"train/D/D.fc1.w", 8 * (8 * 7 * 4 + 9 + 5)}, {"train/R/R.fc.w", 2 * 4 * 14 * 8},
        {"train/best/G/G.fc.w", 8 * 14 * 8 * 13}, {"G/G.conv2.w", 4 * 9},
        {"train/G_ema/G.conv1.w", 4 * 4 * 9}, {"train/G_ema_buf/G.bn1.running_var", 4}};
    for (size_t j = 0; j < sizeof ds / sizeof ds[0]; j++) {
        float *wa = malloc((size_t)ds[j].n * sizeof(float)), *wb = malloc((size_t)ds[j].n * 4);
        read_ds(p, ds[j].name, wa, ds[j].n);
        read_ds(q, ds[j].name, wb, ds[j].n);
        ck_assert_msg(memcmp(wa, wb, (size_t)ds[j].n * sizeof(float)) == 0,
                      "%s differs after resume", ds[j].name);
        free(wa);
        free(wb);
    }
    /* the average lags the trained weights; the snapshot is taken from the average */
    {
        const int64_t n = 4 * 4 * 9;
        float wg[4 * 4 * 9], we[4 * 4 * 9], wbest[4 * 4 * 9];
        read_ds(p, "train/G/G.conv1.w", wg, n);
        read_ds(p, "train/G_ema/G.conv1.w", we, n);
        read_ds(p, "train/best/G/G.conv1.w", wbest, n);
        ck_assert(memcmp(wg, we, sizeof wg) != 0);
        int64_t best_step = -1;
        hid_t f;
        ck_assert_int_eq(gs_h5_open(p, 0, &f), GS_OK);
        ck_assert_int_eq(gs_h5_attr_read_i64(f, ".", "best_step", &best_step), GS_OK);
        gs_h5_close(f);
        if (best_step == 12) /* the last evaluation was the best: the snapshot is the average */
            ck_assert(memcmp(we, wbest, sizeof we) == 0);
    }
    /* the log has evaluation records */
    snprintf(p, sizeof p, "%s/train.log", a);
    FILE *lf = fopen(p, "r");
    ck_assert_ptr_nonnull(lf);
    char line[2048];
    int records = 0;
    while (fgets(line, sizeof line, lf))
        records += line[0] != '#' && strstr(line, "w1_mean=") && strstr(line, "loss_div=");
    fclose(lf);
    ck_assert_int_eq(records, 3);

    /* sampling: k images per condition row, in order, deterministic per seed */
    snprintf(p, sizeof p, "%s/model.h5", a);
    md_zdc_model *m;
    ck_assert_msg(md_zdc_load(p, &m) == GS_OK, "%s", gs_errmsg());
    ck_assert_int_eq(md_zdc_n_cond(m), 9);
    ds_images g1, g2;
    ck_assert_int_eq(md_zdc_sample(m, data.cond, 3, 2, 7, &g1), GS_OK);
    ck_assert_int_eq(md_zdc_sample(m, data.cond, 3, 2, 7, &g2), GS_OK);
    ck_assert_int_eq(g1.n, 6);
    ck_assert_int_eq(g1.h, 56);
    ck_assert_int_eq(g1.w, 30);
    ck_assert_int_eq(memcmp(g1.images, g2.images, (size_t)(6 * 56 * 30) * sizeof(float)), 0);
    for (int64_t i = 0; i < 6; i++)
        ck_assert_int_eq(memcmp(g1.cond + i * 9, data.cond + (i / 2) * 9, 9 * sizeof(float)), 0);
    for (int64_t i = 0; i < 6 * 56 * 30; i++)
        ck_assert(isfinite(g1.images[i]) && g1.images[i] >= 0);
    /* the folded sub-pixel sampler equals the plain eval-mode graph */
    ds_images_free(&g2);
    md_zdc_set_fast(m, 0);
    ck_assert_int_eq(md_zdc_sample(m, data.cond, 3, 2, 7, &g2), GS_OK);
    md_zdc_set_fast(m, 1);
    for (int64_t i = 0; i < 6 * 56 * 30; i++)
        ck_assert_close(g1.images[i], g2.images[i], 1e-4, 1e-4);
    ds_images_free(&g2);
    ck_assert_int_eq(md_zdc_sample(m, data.cond, 3, 0, 7, &g2), GS_ERR_ARG);
    ds_images_free(&g1);
    ds_images_free(&g2);
    md_zdc_free(m);
    /* a LUXE file or a missing one is refused with a message */
    ck_assert_int_ne(md_zdc_load("/nonexistent/model.h5", &m), GS_OK);
    ds_images_free(&data);
    gs_test_rmdir(dir);
}
END_TEST

/* The generator's weight average warms up (nn_ema_decay): for the first
 * updates the decay is (1 + n)/(10 + n) = 0.1, 0.18, 0.25 whatever the
 * nominal decay above it, so 3 steps with train.ema 0.999 and 0.5 leave the
 * same average (without the warm-up they differ: 0.999 keeps the initial
 * weights), while a nominal decay below the warm-up (0.05) is used as is;
 * train.ema_warmup = false (what older checkpoints resume with) is the
 * plain average again. */
START_TEST(t_ema_warmup)
{
    ds_images data;
    ck_assert_int_eq(ds_toy_zdc(200, 8, &data), GS_OK);
    char dir[64], out[128], p[256];
    gs_test_tmpdir(dir, sizeof dir);
    const double decay[4] = {0.999, 0.5, 0.05, 0.999};
    enum { NW = 4 * 4 * 9, NB = 4 };
    float g[4][NW], e[4][NW], eb[4][NB];
    for (int k = 0; k < 4; k++) {
        md_zdc_cfg cfg;
        tiny_cfg(&cfg, 3);
        cfg.eval_every = cfg.ckpt_every = 3;
        cfg.ema = decay[k];
        cfg.ema_warmup = k < 3;
        snprintf(out, sizeof out, "%s/r%d", dir, k);
        mkdir(out, 0777);
        md_train_opts o = {.out_dir = out};
        int stopped;
        ck_assert_msg(md_zdc_train(&cfg, &data, &o, &stopped) == GS_OK, "%s", gs_errmsg());
        snprintf(p, sizeof p, "%s/last.h5", out);
        read_ds(p, "train/G/G.conv1.w", g[k], NW);
        read_ds(p, "train/G_ema/G.conv1.w", e[k], NW);
        read_ds(p, "train/G_ema_buf/G.bn1.running_var", eb[k], NB);
    }
    /* the average does not feed back: the same G trajectory */
    ck_assert_int_eq(memcmp(g[0], g[1], sizeof g[0]), 0);
    ck_assert_int_eq(memcmp(g[0], g[2], sizeof g[0]), 0);
    ck_assert_msg(memcmp(e[0], e[1], sizeof e[0]) == 0, "0.999 and 0.5 averages differ");
    ck_assert_int_eq(memcmp(eb[0], eb[1], sizeof eb[0]), 0);
    ck_assert(memcmp(e[0], e[2], sizeof e[0]) != 0);
    ck_assert(memcmp(e[0], g[0], sizeof e[0]) != 0); /* still an average, not G */
    ck_assert_int_eq(memcmp(g[0], g[3], sizeof g[0]), 0);
    ck_assert(memcmp(e[0], e[3], sizeof e[0]) != 0); /* no warm-up: another average */
    ds_images_free(&data);
    gs_test_rmdir(dir);
}
END_TEST

/* ---- the neutron ZDC: any image shape, spectral normalisation, O2 map ---- */
START_TEST(t_neutron_shapes_sn)
{
    /* shapes come from the data: 44x44 (the neutron ZDC) and an odd 45x43 */
    md_zdc_cfg cfg;
    md_zdc_cfg_default(&cfg);
    cfg.d_norm = 1;
    gs_rng r;
    gs_rng_seed(&r, 2);
    const int64_t hw[2][2] = {{44, 44}, {45, 43}}, d_out[2][2] = {{6, 6}, {6, 6}};
    for (int s = 0; s < 2; s++) {
        md_zdc_gen g;
        md_zdc_disc d;
        md_zdc_aux a;
        const int64_t h = hw[s][0], w = hw[s][1];
        ck_assert_int_eq(md_zdc_gen_init(&g, &cfg, 9, h, w, &r), GS_OK);
        ck_assert_int_eq(md_zdc_disc_init(&d, &cfg, 9, h, w, &r), GS_OK);
        ck_assert_int_eq(md_zdc_aux_init(&a, &cfg, h, w, &r), GS_OK);
        const int64_t *dc = cfg.d_channels.v;
        ck_assert_int_eq(d.fc1.in, dc[2] * d_out[s][0] * d_out[s][1] + 9 + 5); /* + sums */
        ck_assert_int_eq(d.sn, 1);
        ck_assert_int_eq(d.sn_u[0]->n, dc[0]);
        ck_assert_int_eq(d.sn_u[3]->n, cfg.d_hidden);
        ck_assert_int_eq(d.sn_u[4]->n, 1);
        nn_ctx *c = nn_ctx_new();
        nn_set_training(c, true);
        float z[2 * 10], cond[2 * 9];
        gs_rng_fill_normal(&r, z, 20, 0, 1);
        gs_rng_fill_normal(&r, cond, 18, 0, 1);
        nn_tensor *ct = nn_input(c, 2, (int64_t[]){2, 9}, cond);
        nn_tensor *x = md_zdc_gen_fwd(c, &g, nn_input(c, 2, (int64_t[]){2, 10}, z), ct);
        ck_assert_ptr_nonnull(x);
        ck_assert_int_eq(x->shape[2], h);
        ck_assert_int_eq(x->shape[3], w);
        float u0 = d.sn_u[1]->data[0];
        nn_tensor *y = md_zdc_disc_fwd(c, &d, x, ct, &r, NULL);
        ck_assert_ptr_nonnull(y);
        ck_assert_int_eq(y->shape[0], 2);
        ck_assert(d.sn_u[1]->data[0] != u0); /* training mode: one power iteration */
        ck_assert_int_eq(md_zdc_aux_fwd(c, &a, x)->shape[1], 2);
        nn_ctx_free(c);
        md_zdc_gen_free(&g);
        md_zdc_disc_free(&d);
        md_zdc_aux_free(&a);
    }
}
END_TEST

START_TEST(t_neutron_train_resume)
{
    /* a 44x44 run with spectral normalisation and the O2 channel map:
     * stopped and resumed = straight through, to the bit (the power-iteration
     * vectors are part of the state) */
    ds_images data;
    ck_assert_int_eq(ds_toy_zn_ex(300, 4, NULL, &data), GS_OK);
    char dir[64], a[128], b[128], p[256], q[256];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    mkdir(a, 0777);
    mkdir(b, 0777);
    md_zdc_cfg cfg;
    tiny_cfg(&cfg, 8);
    cfg.d_norm = 1;
    cfg.channel_map = 1;
    volatile sig_atomic_t flag = 0;
    int stopped = -1;
    md_train_opts o = {.out_dir = a};
    ck_assert_msg(md_zdc_train(&cfg, &data, &o, &stopped) == GS_OK, "%s", gs_errmsg());
    stopper st = {3, &flag, 0, 0};
    md_train_opts o2 = {.out_dir = b, .stop = &flag, .progress = stop_cb, .progress_ud = &st};
    ck_assert_int_eq(md_zdc_train(&cfg, &data, &o2, &stopped), GS_OK);
    ck_assert_int_eq(stopped, 1);
    flag = 0;
    st.stop_at = 0;
    o2.resume = 1;
    ck_assert_msg(md_zdc_train(&cfg, &data, &o2, &stopped) == GS_OK, "%s", gs_errmsg());
    ck_assert_int_eq(stopped, 0);
    snprintf(p, sizeof p, "%s/last.h5", a);
    snprintf(q, sizeof q, "%s/last.h5", b);
    const struct { const char *name; int64_t n; } ds[] = {
        {"train/D/D.fc1.w", 8 * (8 * 6 * 6 + 9 + 5)}, {"train/D_buf/D.sn_u0", 4},
        {"train/D_buf/D.sn_u3", 8}, {"train/G/G.conv0.w", 4 * 8 * 9}};
    for (size_t j = 0; j < sizeof ds / sizeof ds[0]; j++) {
        float wa[8 * (8 * 6 * 6 + 9 + 5)], wb[8 * (8 * 6 * 6 + 9 + 5)];
        read_ds(p, ds[j].name, wa, ds[j].n);
        read_ds(q, ds[j].name, wb, ds[j].n);
        ck_assert_msg(memcmp(wa, wb, (size_t)ds[j].n * sizeof(float)) == 0,
                      "%s differs after resume", ds[j].name);
    }
    /* the u vectors stay unit vectors */
    float u3[8];
    read_ds(p, "train/D_buf/D.sn_u3", u3, 8);
    double n2 = 0;
    for (int i = 0; i < 8; i++)
        n2 += (double)u3[i] * u3[i];
    ck_assert_close(n2, 1.0, 1e-5, 0);
    /* the model samples 44x44 images */
    snprintf(p, sizeof p, "%s/model.h5", a);
    md_zdc_model *m;
    ck_assert_msg(md_zdc_load(p, &m) == GS_OK, "%s", gs_errmsg());
    int64_t h, w;
    md_zdc_image_shape(m, &h, &w);
    ck_assert_int_eq(h, 44);
    ck_assert_int_eq(w, 44);
    ds_images g1;
    ck_assert_int_eq(md_zdc_sample(m, data.cond, 4, 2, 3, &g1), GS_OK);
    ck_assert_int_eq(g1.h, 44);
    ck_assert_int_eq(g1.n, 8);
    ds_images_free(&g1);
    md_zdc_free(m);
    ds_images_free(&data);
    gs_test_rmdir(dir);
}
END_TEST

START_TEST(t_bad_inputs)
{
    ds_images data;
    ck_assert_int_eq(ds_toy_zdc(50, 6, &data), GS_OK);
    char dir[64], p[128];
    gs_test_tmpdir(dir, sizeof dir);
    md_zdc_cfg cfg;
    tiny_cfg(&cfg, 2);
    md_train_opts o = {.out_dir = dir};
    int stopped;
    cfg.g_channels = (md_ivec){2, {8, 4}};
    ck_assert_int_eq(md_zdc_train(&cfg, &data, &o, &stopped), GS_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "g_channels"));
    tiny_cfg(&cfg, 2);
    data.images[17] = -1.0f;
    ck_assert_int_eq(md_zdc_train(&cfg, &data, &o, &stopped), GS_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "negative"));
    snprintf(p, sizeof p, "%s/model.h5", dir);
    ck_assert_int_ne(access(p, F_OK), 0); /* nothing written */
    ds_images_free(&data);
    gs_test_rmdir(dir);
}
END_TEST

/* Between two progress reports with no evaluation or checkpoint in between
 * lies exactly one training step (D, R and G updates with every
 * regulariser): after warm-up it must not allocate. */
typedef struct {
    long at[16];
} alloc_probe;

static void probe_cb(void *ud, const md_progress *p)
{
    alloc_probe *a = ud;
    if (p->step < 16)
        a->at[p->step] = atomic_load(&n_alloc_calls);
}

START_TEST(t_no_malloc_in_step)
{
    /* _i = 0: the default D; 1: with spectral normalisation; 2: layer norm and
     * mismatched conditions;
     * 3: both, with the hinge loss and the projection term; all but 1 with the channel sums */
    alloc_count_prove();
    ds_images data;
    ck_assert_int_eq(ds_toy_zdc(200, 8, &data), GS_OK);
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    md_zdc_cfg cfg;
    tiny_cfg(&cfg, 9);
    cfg.d_norm = _i;
    cfg.loss = _i == 3;
    cfg.d_cond = _i == 3;
    cfg.d_sums = _i != 1; /* on by default */
    cfg.d_mismatch = _i == 2 ? 0.5 : 0; /* on by default: the other D variants without */
    cfg.eval_every = cfg.ckpt_every = 1000; /* only at the last step */
    alloc_probe a = {{0}};
    md_train_opts o = {.out_dir = dir, .progress = probe_cb, .progress_ud = &a};
    int stopped;
    ck_assert_msg(md_zdc_train(&cfg, &data, &o, &stopped) == GS_OK, "%s", gs_errmsg());
    for (int k = 4; k < 8; k++)
        ck_assert_msg(a.at[k + 1] == a.at[k], "step %d allocated %ld times", k + 1,
                      a.at[k + 1] - a.at[k]);
    ds_images_free(&data);
    gs_test_rmdir(dir);
}
END_TEST

/* ---- convergence levers: layer norm in D, hinge loss ---- */
START_TEST(t_layernorm_hinge)
{
    /* hinge halves: values and gradients by hand */
    nn_ctx *c = nn_ctx_new();
    float lv[3] = {-2.0f, 0.5f, 3.0f};
    for (int k = 0; k < 2; k++) {
        nn_ctx_reset(c);
        const float sign = k ? 1.0f : -1.0f;
        nn_tensor *l = nn_input(c, 2, (int64_t[]){3, 1}, lv);
        nn_set_requires_grad(l, true);
        nn_tensor *h = md_zdc_hinge(c, l, sign);
        ck_assert_ptr_nonnull(h);
        /* sign -1: max(0, 1 - x) = 3, 0.5, 0; sign +1: max(0, 1 + x) = 0, 1.5, 4 */
        ck_assert_float_eq_tol(h->data[0], k ? 5.5f / 3 : 3.5f / 3, 1e-6f);
        nn_tensor *dl;
        ck_assert_int_eq(nn_grad(c, h, 1, &l, &dl, false), GS_OK);
        const float g[2][3] = {{-1.0f / 3, -1.0f / 3, 0}, {0, 1.0f / 3, 1.0f / 3}};
        for (int i = 0; i < 3; i++)
            ck_assert_float_eq_tol(dl->data[i], g[k][i], 1e-6f);
    }
    nn_ctx_free(c);
    /* layer norm of D's hidden layer: the logits do not change when fc1's
     * weights and bias are scaled (they do without it) */
    for (int norm = 0; norm <= 3; norm += 2) {
        md_zdc_cfg cfg;
        md_zdc_cfg_default(&cfg);
        cfg.d_norm = norm;
        cfg.dropout = 0;
        gs_rng r;
        gs_rng_seed(&r, 3);
        md_zdc_disc d;
        ck_assert_int_eq(md_zdc_disc_init(&d, &cfg, 9, 56, 30, &r), GS_OK);
        ck_assert_int_eq(d.ln, norm >= 2);
        ck_assert_int_eq(d.sn, norm == 3);
        if (d.ln) {
            ck_assert_int_eq(d.ln_g->n, cfg.d_hidden);
            ck_assert_float_eq(d.ln_g->data[5], 1.0f);
            ck_assert_float_eq(d.ln_b->data[5], 0.0f);
        }
        float x[2 * 56 * 30], cond[2 * 9];
        for (int i = 0; i < 2 * 56 * 30; i++)
            x[i] = (float)gs_rng_uniform(&r) * 3.0f;
        gs_rng_fill_normal(&r, cond, 18, 0, 1);
        double fsum[2] = {0, 0}; /* sum of |features| (the SDI feature vector) */
        for (int pass = 0; pass < 2; pass++) {
            c = nn_ctx_new();
            nn_set_training(c, false); /* no power-iteration update between passes */
            nn_tensor *f = NULL;
            nn_tensor *y = md_zdc_disc_fwd(c, &d, nn_input(c, 4, (int64_t[]){2, 1, 56, 30}, x),
                                           nn_input(c, 2, (int64_t[]){2, 9}, cond), &r, &f);
            ck_assert_ptr_nonnull(y);
            for (int64_t i = 0; i < f->n; i++)
                fsum[pass] += fabsf(f->data[i]);
            nn_ctx_free(c);
            for (int64_t i = 0; i < d.fc1.w->n; i++)
                d.fc1.w->data[i] *= 10.0f;
            for (int64_t i = 0; i < d.fc1.b->n; i++)
                d.fc1.b->data[i] *= 10.0f;
        }
        if (norm == 0) /* LeakyReLU is positively homogeneous: exactly 10x */
            ck_assert_float_eq_tol(fsum[1] / fsum[0], 10.0, 1e-4);
        else /* unchanged up to LN's eps (1e-5 against the hidden variance) */
            ck_assert_float_eq_tol(fsum[1] / fsum[0], 1.0, 1e-2);
        md_zdc_disc_free(&d);
    }
}
END_TEST

/* The small discriminator both D-variant tests build: three 4/4/8 convs, 6
 * hidden units, no dropout (deterministic), everything else the defaults. */
static void tiny_disc_cfg(md_zdc_cfg *cfg)
{
    md_zdc_cfg_default(cfg);
    cfg->d_channels = (md_ivec){3, {4, 4, 8}};
    cfg->d_hidden = 6;
    cfg->dropout = 0;
}

/* ---- the projection discriminator: logit = fc2(f) + <emb c, f> ---- */
START_TEST(t_projection)
{
    for (int norm = 0; norm <= 1; norm++) {
        md_zdc_cfg cfg;
        tiny_disc_cfg(&cfg);
        cfg.d_norm = norm;
        cfg.d_cond = 1;
        gs_rng r;
        gs_rng_seed(&r, 5);
        md_zdc_disc d;
        ck_assert_int_eq(md_zdc_disc_init(&d, &cfg, 9, 56, 30, &r), GS_OK);
        ck_assert_int_eq(d.proj, 1);
        ck_assert_ptr_nonnull(nn_params_find(&d.ps, "D.emb.w"));
        ck_assert_int_eq(d.emb.w->shape[0], 6);
        ck_assert_int_eq(d.emb.w->shape[1], 9);
        ck_assert_int_eq(d.sn_u[5] != NULL, norm);
        float x[2 * 56 * 30], cond[2 * 9];
        for (int i = 0; i < 2 * 56 * 30; i++)
            x[i] = (float)gs_rng_uniform(&r) * 3.0f;
        gs_rng_fill_normal(&r, cond, 18, 0, 1);
        nn_ctx *c = nn_ctx_new();
        nn_set_training(c, false);
        nn_tensor *f = NULL;
        nn_tensor *y = md_zdc_disc_fwd(c, &d, nn_input(c, 4, (int64_t[]){2, 1, 56, 30}, x),
                                       nn_input(c, 2, (int64_t[]){2, 9}, cond), &r, &f);
        ck_assert_ptr_nonnull(y);
        /* by hand, without normalisation: fc2.w f + fc2.b + sum_k f_k (W_emb c)_k;
         * with it, the same up to the positive factors 1/sigma of fc2 and emb:
         * the projection part must still move the logit when c moves */
        for (int i = 0; i < 2 && norm == 0; i++) {
            double acc = d.fc2.b->data[0];
            for (int k = 0; k < 6; k++) {
                double e = 0;
                for (int j = 0; j < 9; j++)
                    e += (double)d.emb.w->data[k * 9 + j] * cond[i * 9 + j];
                acc += (double)f->data[i * 6 + k] * ((double)d.fc2.w->data[k] + e);
            }
            ck_assert_float_eq_tol(y->data[i], acc, 1e-4);
        }
        ck_assert(isfinite(y->data[0]) && isfinite(y->data[1]));
        nn_ctx_free(c);
        md_zdc_disc_free(&d);
    }
    /* concat (the default) has no embedding */
    md_zdc_cfg cfg;
    md_zdc_cfg_default(&cfg);
    ck_assert_int_eq(cfg.d_cond, 0);
    gs_rng r;
    gs_rng_seed(&r, 5);
    md_zdc_disc d;
    ck_assert_int_eq(md_zdc_disc_init(&d, &cfg, 9, 56, 30, &r), GS_OK);
    ck_assert_int_eq(d.proj, 0);
    ck_assert_ptr_null(nn_params_find(&d.ps, "D.emb.w"));
    md_zdc_disc_free(&d);
}
END_TEST

/* ---- model.d_mismatch: real images with another row's conditions are fake too ---- */
static double bce_mean(const nn_tensor *l, double y)
{
    double s = 0;
    for (int64_t i = 0; i < l->n; i++) {
        const double x = l->data[i];
        s += fmax(x, 0) - x * y + log1p(exp(-fabs(x)));
    }
    return s / (double)l->n;
}

static double hinge_mean(const nn_tensor *l, double sign)
{
    double s = 0;
    for (int64_t i = 0; i < l->n; i++)
        s += fmax(0, 1 + sign * l->data[i]);
    return s / (double)l->n;
}

START_TEST(t_d_mismatch)
{
    enum { B = 3, NC = 9, PX = 56 * 30 };
    md_zdc_cfg cfg;
    tiny_disc_cfg(&cfg);
    ck_assert(cfg.d_mismatch == 0.5); /* the defaults' GAN-CLS weight */
    gs_rng r;
    gs_rng_seed(&r, 9);
    md_zdc_disc d;
    ck_assert_int_eq(md_zdc_disc_init(&d, &cfg, NC, 56, 30, &r), GS_OK);
    static float real[B * PX], fake[2][B * PX];
    float cond[B * NC], mis[B * NC], ones[B], zeros[B];
    for (int i = 0; i < B * PX; i++) {
        real[i] = (float)gs_rng_uniform(&r) * 3.0f;
        fake[0][i] = (float)gs_rng_uniform(&r) * 2.0f;
        fake[1][i] = (float)gs_rng_uniform(&r) * 4.0f;
    }
    gs_rng_fill_normal(&r, cond, B * NC, 0, 1);
    for (int i = 0; i < B; i++) {
        memcpy(mis + i * NC, cond + ((i + 1) % B) * NC, NC * sizeof(float));
        ones[i] = 1;
        zeros[i] = 0;
    }
    const int64_t s4[4] = {B, 1, 56, 30}, s2[2] = {B, NC}, s1[2] = {B, 1};
    nn_ctx *c = nn_ctx_new();
    nn_set_training(c, false); /* no power-iteration update between the passes */
    for (int loss = 0; loss <= 1; loss++) {
        cfg.loss = loss;
        /* the three logits alone: D(real, c), D(fake, c), D(real, c') */
        nn_ctx_reset(c);
        nn_tensor *lr = md_zdc_disc_fwd(c, &d, nn_input(c, 4, s4, real), nn_input(c, 2, s2, cond),
                                        &r, NULL);
        nn_tensor *lm = md_zdc_disc_fwd(c, &d, nn_input(c, 4, s4, real), nn_input(c, 2, s2, mis),
                                        &r, NULL);
        double fk[2];
        for (int k = 0; k < 2; k++) {
            nn_tensor *lf = md_zdc_disc_fwd(c, &d, nn_input(c, 4, s4, fake[k]),
                                            nn_input(c, 2, s2, cond), &r, NULL);
            fk[k] = loss ? hinge_mean(lf, 1) : bce_mean(lf, 0);
        }
        const double pr = loss ? hinge_mean(lr, -1) : bce_mean(lr, 1),
                     pm = loss ? hinge_mean(lm, 1) : bce_mean(lm, 0);
        ck_assert(fabs(pm - (loss ? hinge_mean(lr, 1) : bce_mean(lr, 0))) > 1e-6); /* c' matters */
        const double ws[3] = {0, 0.25, 1};
        for (int wi = 0; wi < 3; wi++)
            for (int k = 0; k < 2; k++) {
                cfg.d_mismatch = ws[wi];
                nn_ctx_reset(c);
                nn_tensor *L = md_zdc_d_loss(
                    c, &cfg, &d, nn_input(c, 4, s4, real), nn_input(c, 4, s4, fake[k]),
                    nn_input(c, 2, s2, cond), ws[wi] > 0 ? nn_input(c, 2, s2, mis) : NULL,
                    nn_input(c, 2, s1, ones), nn_input(c, 2, s1, zeros), &r);
                ck_assert_ptr_nonnull(L);
                const double want = pr + (1 - ws[wi]) * fk[k] + ws[wi] * pm;
                ck_assert_msg(fabs(L->data[0] - want) <= 1e-5 * (1 + fabs(want)),
                              "loss %d w %g fake %d: %g, by hand %g", loss, ws[wi], k,
                              (double)L->data[0], want);
            }
    }
    nn_ctx_free(c);
    md_zdc_disc_free(&d);
}
END_TEST

/* ---- model.d_sums: D's dense layer sees log(1 + channel sums in photons) ---- */
START_TEST(t_disc_sums)
{
    for (int map = 0; map <= 1; map++) {
        md_zdc_cfg cfg;
        tiny_disc_cfg(&cfg);
        cfg.d_norm = 0;
        cfg.d_sums = 1;
        cfg.channel_map = map;
        gs_rng r;
        gs_rng_seed(&r, 9);
        md_zdc_disc d;
        ck_assert_int_eq(md_zdc_disc_init(&d, &cfg, 9, 56, 30, &r), GS_OK);
        const int64_t base = 8 * 7 * 4 + 9;
        ck_assert_int_eq(d.fc1.in, base + 5);
        /* hidden unit j (j < 5) reads only sum feature j: f_j = log(1 + S_{j+1}) */
        memset(d.fc1.w->data, 0, (size_t)d.fc1.w->n * sizeof(float));
        memset(d.fc1.b->data, 0, (size_t)d.fc1.b->n * sizeof(float));
        for (int j = 0; j < 5; j++)
            d.fc1.w->data[j * d.fc1.in + base + j] = 1.0f;
        float x[2 * 56 * 30], cond[2 * 9], img[56 * 30];
        for (int i = 0; i < 2 * 56 * 30; i++) /* sparse, a few bright pixels, as showers */
            x[i] = gs_rng_uniform(&r) < 0.1 ? (float)gs_rng_uniform(&r) * 6.0f : 0.0f;
        gs_rng_fill_normal(&r, cond, 18, 0, 1);
        nn_ctx *c = nn_ctx_new();
        nn_set_training(c, false);
        nn_tensor *f = NULL;
        nn_tensor *y = md_zdc_disc_fwd(c, &d, nn_input(c, 4, (int64_t[]){2, 1, 56, 30}, x),
                                       nn_input(c, 2, (int64_t[]){2, 9}, cond), &r, &f);
        ck_assert_ptr_nonnull(y);
        for (int i = 0; i < 2; i++) {
            for (int p = 0; p < 56 * 30; p++)
                img[p] = expm1f(x[i * 56 * 30 + p]);
            double s[5] = {0};
            for (int p = 0; p < 56 * 30; p++) /* the map, independently of the masks */
                s[mt_zdc_channel_map((mt_zdc_map)map, 56, 30, p / 30, p % 30) - 1] += img[p];
            for (int j = 0; j < 5; j++)
                ck_assert_float_eq_tol(f->data[i * 6 + j], log1p(s[j]), 2e-4 * log1p(s[j]));
            ck_assert_float_eq(f->data[i * 6 + 5], 0.0f);
        }
        /* the gradient reaches the pixels through the sums: d f_j / d x_p = e^x_p / (1 + S_j) */
        nn_set_training(c, true);
        nn_ctx_reset(c);
        nn_tensor *xt = nn_input(c, 4, (int64_t[]){2, 1, 56, 30}, x);
        nn_set_requires_grad(xt, true);
        y = md_zdc_disc_fwd(c, &d, xt, nn_input(c, 2, (int64_t[]){2, 9}, cond), &r, &f);
        nn_tensor *one = nn_slice(c, nn_reshape(c, f, 2, (int64_t[]){1, 12}), 4, 1); /* f_4, row 0 */
        nn_tensor *gx;
        ck_assert_int_eq(nn_grad(c, nn_sum(c, one), 1, &xt, &gx, false), GS_OK);
        double s5 = 0;
        for (int p = 0; p < 56 * 30; p++)
            if (mt_zdc_channel_map((mt_zdc_map)map, 56, 30, p / 30, p % 30) == 5)
                s5 += expm1f(x[p]);
        for (int p = 0; p < 56 * 30; p++) {
            const int k = mt_zdc_channel_map((mt_zdc_map)map, 56, 30, p / 30, p % 30);
            const double want = k == 5 ? exp(x[p]) / (1.0 + s5) : 0.0;
            ck_assert_float_eq_tol(gx->data[p], want, 1e-5 + 1e-3 * want);
            ck_assert_float_eq(gx->data[56 * 30 + p], 0.0f); /* row 1 does not enter f_4 of row 0 */
        }
        nn_ctx_free(c);
        md_zdc_disc_free(&d);
    }
}
END_TEST

/* ---- tools ------------------------------------------------------------------------ */
START_TEST(t_tools)
{
    const char *b = gs_test_bin();
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    ck_assert_int_eq(gs_test_run("%s/gansim-datagen zdc -n 300 --seed 3 -o %s/d.h5 >/dev/null", b, dir),
                     0);
    ck_assert_int_eq(gs_test_run("%s/gansim-train zdc --data %s/d.h5 --out %s/r --print-config "
                         "| grep -q reg.sdi_lambda", b, dir, dir), 0);
    /* the default recipe (docs/zdc.md): SDI + intensity on, aux off, spectral
     * normalisation in D, BCE loss, learning rates 2e-4 */
    const char *recipe[] = {"reg.sdi +true",        "reg.intensity +true", "reg.aux +false",
                            "model.d_norm +spectral", "model.loss +bce",   "train.lr_g +0.0002",
                            "train.lr_d +0.0002"};
    for (int i = 0; i < 7; i++)
        ck_assert_msg(gs_test_run("%s/gansim-train zdc --data %s/d.h5 --out %s/r --print-config "
                                  "| grep -Eq '^ *%s( |$)'", b, dir, dir, recipe[i]) == 0,
                      "default %s", recipe[i]);
    ck_assert_int_eq(gs_test_run("%s/gansim-train zdc --data %s/d.h5 --out %s/r --set reg.nope=1 "
                         "2>/dev/null", b, dir, dir), 2);
    ck_assert_int_eq(gs_test_run("%s/gansim-train zdc --data %s/none.h5 --out %s/r 2>/dev/null", b, dir,
                         dir), 1);
    ck_assert_int_eq(gs_test_run("test -e %s/r", dir), 1); /* a bad data file leaves no run dir */
    const char *small = "--set model.noise_dim=4 --set model.g_channels=8,4,4 "
                        "--set model.d_channels=4,4,8 --set model.d_hidden=8 "
                        "--set model.aux_channels=2 --set train.batch=8 --set train.eval_rows=30 "
                        "--set train.eval_every=3 --set reg.sdi=on --set reg.intensity=on "
                        "--set reg.aux=on";
    ck_assert_int_eq(gs_test_run("%s/gansim-train zdc --data %s/d.h5 --out %s/r --iters 6 %s "
                         "2>/dev/null", b, dir, dir, small), 0);
    ck_assert_int_eq(gs_test_run("grep -q '^step=6 .*w1_mean=' %s/r/train.log", dir), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-train zdc --data %s/d.h5 --out %s/r --iters 6 %s "
                         "2>/dev/null", b, dir, dir, small), 2);
    /* resuming a finished run (its own config: 6 steps) adds nothing and succeeds */
    ck_assert_int_eq(gs_test_run("%s/gansim-train zdc --data %s/d.h5 --out %s/r --resume "
                         "2>/dev/null", b, dir, dir), 0);
    ck_assert_int_eq(gs_test_run("grep -c '^step=' %s/r/train.log | grep -qx 2", dir), 0);
    /* sampling: k images per condition row */
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 --conditions %s/d.h5 -k 2 "
                         "-o %s/g.h5 2>/dev/null", b, dir, dir, dir), 0);
    ck_assert_int_eq(gs_test_run("h5ls %s/g.h5 | grep -q 'images .*{600, 56, 30}'", dir), 0);
    ck_assert_int_eq(gs_test_run("h5ls %s/g.h5 | grep -q 'conditions .*{600, 9}'", dir), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 --conditions %s/d.h5 "
                         "-o %s/g1.h5 2>/dev/null", b, dir, dir, dir), 0);
    ck_assert_int_eq(gs_test_run("h5ls %s/g1.h5 | grep -q 'images .*{300, 56, 30}'", dir), 0);
    /* error paths: exit codes, and no output file */
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 --conditions %s/none.h5 "
                         "-o %s/bad.h5 2>/dev/null", b, dir, dir, dir), 1);
    ck_assert_int_eq(gs_test_run("echo junk > %s/junk.h5; %s/gansim-sample --model %s/r/model.h5 "
                         "--conditions %s/junk.h5 -o %s/bad.h5 2>/dev/null", dir, b, dir, dir,
                         dir), 1);
    ck_assert_int_eq(gs_test_run("%s/gansim-datagen luxe -n 100 --seed 1 -o %s/ev.h5 >/dev/null && "
                         "%s/gansim-sample --model %s/r/model.h5 --conditions %s/ev.h5 "
                         "-o %s/bad.h5 2>/dev/null", b, dir, b, dir, dir, dir), 1);
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/d.h5 --conditions %s/d.h5 -o %s/bad.h5 "
                         "2>/dev/null", b, dir, dir, dir), 1); /* not a model: no kind */
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 --conditions %s/d.h5 -k 0 "
                         "-o %s/bad.h5 2>/dev/null", b, dir, dir, dir), 2);
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/missing.h5 --conditions %s/d.h5 "
                         "-o %s/bad.h5 2>/dev/null", b, dir, dir, dir), 1);
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 -n 10 -o %s/bad.h5 "
                         "2>/dev/null", b, dir, dir), 2); /* zdc needs conditions */
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 --conditions %s/d.h5 -n 5 "
                         "-o %s/bad.h5 2>/dev/null", b, dir, dir, dir), 2);
    ck_assert_int_eq(gs_test_run("test -e %s/bad.h5", dir), 1);
    ck_assert_int_eq(gs_test_run("ls %s | grep -q tmp", dir), 1); /* no temporaries left either */
    gs_test_rmdir(dir);
}
END_TEST

static Suite *zdc_suite(void)
{
    Suite *s = suite_create("zdc");
    TCase *tc = tcase_create("zdc");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, t_shapes);
    tcase_add_test(tc, t_diversity_weights);
    tcase_add_test(tc, t_loss_terms);
    tcase_add_test(tc, t_train_resume_sample);
    tcase_add_test(tc, t_ema_warmup);
    tcase_add_test(tc, t_bad_inputs);
    tcase_add_loop_test(tc, t_no_malloc_in_step, 0, 4);
    tcase_add_test(tc, t_layernorm_hinge);
    tcase_add_test(tc, t_projection);
    tcase_add_test(tc, t_d_mismatch);
    tcase_add_test(tc, t_disc_sums);
    tcase_add_test(tc, t_neutron_shapes_sn);
    tcase_add_test(tc, t_neutron_train_resume);
    tcase_add_test(tc, t_tools);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(zdc_suite)

/* models/: config tables, the weighted sampler, and the LUXE pipeline end
 * to end on a small toy set — training, checkpoints, exact resume, sampling
 * in the trained proportions — plus the train/sample tools' error paths. */
#include "core/gs_h5.h"
#include "models/md_budget.h"
#include "models/md_luxe.h"
#include "alloc_count.h"
#include "testutil.h"

#include <sys/stat.h>

/* ---- config ----------------------------------------------------------- */
START_TEST(t_config_set_and_dump)
{
    md_luxe_cfg c, d;
    md_luxe_cfg_default(&c);
    ck_assert_int_eq(md_cfg_set(md_luxe_cfg_fields, &c, "train.batch", "1024"), GS_OK);
    ck_assert_int_eq(c.batch, 1024);
    ck_assert_int_eq(md_cfg_set_kv(md_luxe_cfg_fields, &c, "model.g_widths=300,100,75"), GS_OK);
    ck_assert_int_eq(c.g_widths.n, 3);
    ck_assert_int_eq(c.g_widths.v[2], 75);
    ck_assert_int_eq(md_cfg_set(md_luxe_cfg_fields, &c, "data.coords", "cylindrical"), GS_OK);
    ck_assert_int_eq(c.coords, 1);
    ck_assert_int_eq(md_cfg_set(md_luxe_cfg_fields, &c, "split.species", "off"), GS_OK);
    ck_assert_int_eq(c.split_species, 0);
    ck_assert_int_eq(md_cfg_set(md_luxe_cfg_fields, &c, "train.lr_g", "2.5e-4"), GS_OK);
    /* errors name the key and the problem */
    ck_assert_int_eq(md_cfg_set(md_luxe_cfg_fields, &c, "train.bacth", "1"), GS_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "unknown config key 'train.bacth'"));
    ck_assert_int_eq(md_cfg_set(md_luxe_cfg_fields, &c, "train.batch", "12x"), GS_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "not an integer"));
    ck_assert_int_eq(md_cfg_set(md_luxe_cfg_fields, &c, "train.batch", "1"), GS_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "outside"));
    ck_assert_int_eq(md_cfg_set(md_luxe_cfg_fields, &c, "train.lr_g", "nan"), GS_ERR_ARG);
    ck_assert_int_eq(md_cfg_set(md_luxe_cfg_fields, &c, "data.coords", "polar"), GS_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "cartesian,cylindrical"));
    ck_assert_int_eq(md_cfg_set(md_luxe_cfg_fields, &c, "model.d_widths", "300,,1"), GS_ERR_ARG);
    ck_assert_int_eq(md_cfg_set_kv(md_luxe_cfg_fields, &c, "novalue"), GS_ERR_ARG);
    /* dump -> parse reproduces every field */
    char *text = md_cfg_dump(md_luxe_cfg_fields, &c);
    ck_assert_ptr_nonnull(text);
    md_luxe_cfg_default(&d);
    ck_assert_int_eq(md_cfg_parse_dump(md_luxe_cfg_fields, &d, text), GS_OK);
    ck_assert_int_eq(memcmp(&c, &d, sizeof c), 0);
    free(text);
}
END_TEST

START_TEST(t_config_ini)
{
    char dir[64], path[128];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/c.ini", dir);
    FILE *f = fopen(path, "w");
    fputs("; comment\n[train]\nbatch = 512\nlr_d = 3e-4\n[split]\nregions = none\n", f);
    fclose(f);
    md_luxe_cfg c;
    md_luxe_cfg_default(&c);
    ck_assert_int_eq(md_cfg_load_ini(md_luxe_cfg_fields, &c, path), GS_OK);
    ck_assert_int_eq(c.batch, 512);
    ck_assert_close(c.lr_d, 3e-4, 0, 1e-12);
    ck_assert_int_eq(c.region_mode, 0);
    f = fopen(path, "w");
    fputs("[train]\nbatch = 512\nmystery = 1\n", f);
    fclose(f);
    ck_assert_int_eq(md_cfg_load_ini(md_luxe_cfg_fields, &c, path), GS_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "train.mystery"));
    f = fopen(path, "w");
    fputs("[train\nbatch = 512\n", f);
    fclose(f);
    ck_assert_int_ne(md_cfg_load_ini(md_luxe_cfg_fields, &c, path), GS_OK);
    ck_assert_int_eq(md_cfg_load_ini(md_luxe_cfg_fields, &c, "/nonexistent.ini"), GS_ERR_IO);
    gs_test_rmdir(dir);
}
END_TEST

START_TEST(t_weighted_sampler)
{
    const float w[4] = {1, 0, 3, 6};
    md_sampler s;
    ck_assert_int_eq(md_sampler_init(&s, 4, w), GS_OK);
    gs_rng r;
    gs_rng_seed(&r, 3);
    int64_t cnt[4] = {0};
    const int n = 200000;
    for (int i = 0; i < n; i++)
        cnt[md_sampler_draw(&s, &r)]++;
    ck_assert_int_eq(cnt[1], 0);
    ck_assert_close((double)cnt[0] / n, 0.1, 0.005, 0);
    ck_assert_close((double)cnt[2] / n, 0.3, 0.007, 0);
    ck_assert_close((double)cnt[3] / n, 0.6, 0.007, 0);
    md_sampler_free(&s);
    const float bad[2] = {1, -1}, zero[2] = {0, 0};
    ck_assert_int_eq(md_sampler_init(&s, 2, bad), GS_ERR_NUMERIC);
    ck_assert_int_eq(md_sampler_init(&s, 2, zero), GS_ERR_NUMERIC);
}
END_TEST

/* ---- the pipeline on a small toy set --------------------------------------- */
static void small_cfg(md_luxe_cfg *c, int64_t iters)
{
    md_luxe_cfg_default(c);
    c->g_widths = (md_ivec){2, {24, 24}};
    c->d_widths = (md_ivec){2, {24, 24}};
    c->noise_dim = 8;
    c->batch = 64;
    c->n_critic = 2;
    c->iters = iters;
    c->kl_every = 10;
    c->ckpt_every = 10;
    c->kl_samples = 400;
    c->min_species_rows = 1500;
    c->min_rows = 50;
    c->lr_g = c->lr_d = 1e-3;
}

typedef struct {
    int64_t stop_at;
    volatile sig_atomic_t *flag;
    int calls;
} stopper;

static void stop_cb(void *ud, const md_progress *p)
{
    stopper *s = ud;
    s->calls++;
    if (s->stop_at && p->step == s->stop_at)
        *s->flag = 1;
}

static void read_params(const char *path, const char *dset, float *out, int64_t n)
{
    hid_t f;
    ck_assert_int_eq(gs_h5_open(path, 0, &f), GS_OK);
    int64_t dims[4];
    int rank;
    ck_assert_int_eq(gs_h5_shape(f, dset, &rank, dims), GS_OK);
    int64_t tot = 1;
    for (int i = 0; i < rank; i++)
        tot *= dims[i];
    ck_assert_int_eq(tot, n);
    ck_assert_int_eq(gs_h5_read_into(f, dset, GS_H5_F32, rank, dims, out), GS_OK);
    gs_h5_close(f);
}

START_TEST(t_luxe_train_resume_sample)
{
    ds_events ev;
    ck_assert_int_eq(ds_toy_luxe(8000, 11, &ev), GS_OK);
    char dir[64], a[128], b[128], p[256], q[256];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    mkdir(a, 0777);
    mkdir(b, 0777);
    md_luxe_cfg c;
    small_cfg(&c, 60);
    volatile sig_atomic_t flag = 0;
    stopper st = {0, &flag, 0};
    md_train_opts o = {.out_dir = a, .stop = &flag, .progress = stop_cb, .progress_ud = &st};
    int stopped = -1;
    /* straight run */
    ck_assert_msg(md_luxe_train(&c, &ev, &o, &stopped) == GS_OK, "%s", gs_errmsg());
    ck_assert_int_eq(stopped, 0);
    ck_assert_int_eq(st.calls, 60);
    /* interrupted at step 27, then resumed */
    stopper st2 = {27, &flag, 0};
    md_train_opts o2 = {.out_dir = b, .stop = &flag, .progress = stop_cb, .progress_ud = &st2};
    ck_assert_int_eq(md_luxe_train(&c, &ev, &o2, &stopped), GS_OK);
    ck_assert_int_eq(stopped, 1);
    ck_assert_int_eq(st2.calls, 27);
    flag = 0;
    st2.stop_at = 0;
    o2.resume = 1;
    md_luxe_cfg other;
    small_cfg(&other, 5); /* ignored on resume: the checkpoint's config rules */
    ck_assert_msg(md_luxe_train(&other, &ev, &o2, &stopped) == GS_OK, "%s", gs_errmsg());
    ck_assert_int_eq(stopped, 0);
    ck_assert_int_eq(st2.calls, 60);
    /* every sub-model's generator and critic are bit-identical */
    snprintf(p, sizeof p, "%s/last.h5", a);
    snprintf(q, sizeof q, "%s/last.h5", b);
    hid_t f;
    int64_t n_sub = 0;
    ck_assert_int_eq(gs_h5_open(p, 0, &f), GS_OK);
    ck_assert_int_eq(gs_h5_attr_read_i64(f, ".", "n_sub", &n_sub), GS_OK);
    gs_h5_close(f);
    ck_assert_int_ge(n_sub, 4); /* 2 regions x species (n, gamma, other at least) */
    float wa[24 * 24], wb[24 * 24];
    for (int k = 0; k < n_sub; k++) {
        const char *names[] = {"train/G/G.l1.w", "train/D/D.l1.w", "G/G.l2.w"};
        for (int j = 0; j < 3; j++) {
            char ds[128];
            snprintf(ds, sizeof ds, "sub%d/%s", k, names[j]);
            int64_t n = j == 2 ? 6 * 24 : 24 * 24;
            read_params(p, ds, wa, n);
            read_params(q, ds, wb, n);
            ck_assert_msg(memcmp(wa, wb, (size_t)n * sizeof(float)) == 0,
                          "%s differs after resume", ds);
        }
    }
    /* the log has KL records for every sub-model */
    snprintf(p, sizeof p, "%s/train.log", a);
    FILE *lf = fopen(p, "r");
    ck_assert_ptr_nonnull(lf);
    char line[2048];
    int records = 0;
    while (fgets(line, sizeof line, lf))
        records += strstr(line, "kl_mean=") != NULL && strstr(line, "kl_floor=") != NULL &&
                   line[0] != '#';
    fclose(lf);
    ck_assert_int_ge(records, (int)n_sub);

    /* sampling: layout of the input, species and proportions as trained */
    snprintf(p, sizeof p, "%s/model.h5", a);
    md_luxe_model *m;
    ck_assert_msg(md_luxe_load(p, &m) == GS_OK, "%s", gs_errmsg());
    ck_assert_str_eq(md_luxe_columns(m), "x,y,px,py,pz,t");
    ds_events g1, g2;
    const int64_t ns = 20000;
    ck_assert_int_eq(md_luxe_sample(m, ns, 5, &g1), GS_OK);
    ck_assert_int_eq(md_luxe_sample(m, ns, 5, &g2), GS_OK);
    ck_assert_int_eq(memcmp(g1.x, g2.x, (size_t)(ns * 6) * sizeof(float)), 0); /* seeded */
    int64_t n_neutron_real = 0, n_neutron_gen = 0, nonfinite = 0;
    for (int64_t i = 0; i < ev.n; i++)
        n_neutron_real += ev.pdg[i] == 2112;
    for (int64_t i = 0; i < ns; i++) {
        n_neutron_gen += g1.pdg[i] == 2112;
        ck_assert(g1.pdg[i] == 2112 || g1.pdg[i] == 22 || g1.pdg[i] == 11 || g1.pdg[i] == -11);
        for (int j = 0; j < 6; j++)
            nonfinite += !isfinite(g1.x[i * 6 + j]);
        ck_assert(g1.x[i * 6 + 5] > 0); /* t was trained as log10 t */
    }
    ck_assert_int_eq(nonfinite, 0);
    ck_assert_close((double)n_neutron_gen / ns, (double)n_neutron_real / ev.n, 0.015, 0);
    ds_events_free(&g1);
    ds_events_free(&g2);
    /* bunch crossings: Poisson(particles_per_bx) each, indexed by /bx */
    int64_t *bx;
    ck_assert_int_eq(md_luxe_sample_bx(m, 3, 9, &g1, &bx), GS_OK);
    ck_assert_close((double)g1.n / 3, md_luxe_particles_per_bx(m),
                    5 * sqrt(md_luxe_particles_per_bx(m) / 3), 0);
    for (int64_t i = 1; i < g1.n; i++)
        ck_assert(bx[i] >= bx[i - 1] && bx[i] <= 2);
    free(bx);
    ds_events_free(&g1);
    md_luxe_free(m);
    ds_events_free(&ev);
    gs_test_rmdir(dir);
}
END_TEST

START_TEST(t_luxe_bad_config)
{
    ds_events ev;
    ck_assert_int_eq(ds_toy_luxe(2000, 12, &ev), GS_OK);
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    md_luxe_cfg c;
    small_cfg(&c, 4);
    md_train_opts o = {.out_dir = dir};
    int stopped;
    strcpy(c.log_features, "px"); /* px takes negative values */
    ck_assert_int_eq(md_luxe_train(&c, &ev, &o, &stopped), GS_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "px"));
    strcpy(c.log_features, "energy"); /* no such feature */
    ck_assert_int_eq(md_luxe_train(&c, &ev, &o, &stopped), GS_ERR_ARG);
    strcpy(c.log_features, "t");
    strcpy(c.radii, "500,100"); /* not increasing */
    ck_assert_int_eq(md_luxe_train(&c, &ev, &o, &stopped), GS_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "split.radii"));
    strcpy(c.radii, "500");
    c.min_rows = 1000000; /* nothing big enough */
    ck_assert_int_eq(md_luxe_train(&c, &ev, &o, &stopped), GS_ERR_ARG);
    char p[128];
    snprintf(p, sizeof p, "%s/model.h5", dir);
    ck_assert_int_ne(access(p, F_OK), 0); /* nothing written */
    ds_events_free(&ev);
    gs_test_rmdir(dir);
}
END_TEST

/* ---- step budget -------------------------------------------------------- */
START_TEST(t_step_budget)
{
    /* the demo's 8 sub-models (inner/outer x n, gamma, e-, e+) */
    const int64_t rows[8] = {10888, 16115, 44850, 136433, 1264, 1911, 9296, 79243};
    int64_t st[8], sum = 0;
    int low = -1;
    ck_assert_int_eq(md_step_budget(rows, 8, 6000, 0.5, 200, st, &low), GS_OK);
    for (int k = 0; k < 8; k++) {
        sum += st[k];
        ck_assert_int_ge(st[k], 200);
    }
    ck_assert_int_eq(sum, 6000);
    ck_assert_int_eq(low, 0);
    ck_assert_int_eq(st[4], 200); /* the smallest is lifted to the floor */
    /* above the floor, shares go as sqrt(rows) */
    ck_assert_double_eq_tol((double)st[3] / (double)st[7], sqrt(136433.0 / 79243.0), 0.01);
    /* power 0: equal shares, the remainder to the first ones */
    ck_assert_int_eq(md_step_budget(rows, 8, 6003, 0, 200, st, &low), GS_OK);
    ck_assert_int_eq(st[0], 751);
    ck_assert_int_eq(st[2], 751);
    ck_assert_int_eq(st[3], 750);
    /* power 1, no floor: in proportion to the rows */
    ck_assert_int_eq(md_step_budget(rows, 8, 300000, 1, 0, st, &low), GS_OK);
    ck_assert_int_eq(st[3], 136433);
    /* under the floor for everyone: equal shares, each reported */
    ck_assert_int_eq(md_step_budget(rows, 8, 800, 0.5, 200, st, &low), GS_OK);
    ck_assert_int_eq(st[0], 100);
    ck_assert_int_eq(st[7], 100);
    ck_assert_int_eq(low, 8);
    /* fewer steps than sub-models: zeros (md_train refuses to run them) */
    ck_assert_int_eq(md_step_budget(rows, 8, 3, 0.5, 200, st, &low), GS_OK);
    ck_assert_int_eq(st[0] + st[1] + st[2] + st[7], 3);
    ck_assert_int_eq(st[4], 0);
    ck_assert_int_eq(low, 8);
    const int64_t bad[2] = {5, 0};
    ck_assert_int_eq(md_step_budget(bad, 2, 10, 0.5, 1, st, NULL), GS_ERR_ARG);
}
END_TEST

/* ---- region confinement: 1e6 sampled particles in the trained proportions ---- */
static void check_fractions(const char *dir, const md_luxe_cfg *c, int expect_ok)
{
    char p[256];
    snprintf(p, sizeof p, "%s/model.h5", dir);
    /* expected region and species shares from the model's own table */
    hid_t f;
    ck_assert_int_eq(gs_h5_open(p, 0, &f), GS_OK);
    int64_t n_sub = 0;
    ck_assert_int_eq(gs_h5_attr_read_i64(f, ".", "n_sub", &n_sub), GS_OK);
    pp_rect rects[4], pieces[64];
    int32_t piece_of[64];
    int npieces = 0, nrect = 0;
    if (c->region_mode == 2) {
        ck_assert_int_eq(pp_rect_parse(c->rects, &rects[0]), GS_OK);
        nrect = 1;
        ck_assert_int_eq(pp_rect_pieces(rects, 1, pieces, piece_of, 64, &npieces), GS_OK);
    }
    double preg[8] = {0}, psp[4] = {0};
    const int32_t codes[4] = {2112, 22, 11, -11};
    for (int64_t k = 0; k < n_sub; k++) {
        char g[32], *cs = NULL, *ps = NULL;
        double prop;
        int64_t region;
        snprintf(g, sizeof g, "sub%lld", (long long)k);
        ck_assert_int_eq(gs_h5_attr_read_f64(f, g, "proportion", &prop), GS_OK);
        ck_assert_int_eq(gs_h5_attr_read_i64(f, g, "region", &region), GS_OK);
        ck_assert_int_eq(gs_h5_attr_read_str(f, g, "codes", &cs), GS_OK);
        ck_assert_int_eq(gs_h5_attr_read_str(f, g, "probs", &ps), GS_OK);
        preg[c->region_mode == 2 ? piece_of[region] : region] += prop;
        char *a = cs, *b = ps;
        while (*a) {
            int32_t code = (int32_t)strtol(a, &a, 10);
            double pr = strtod(b, &b);
            for (int j = 0; j < 4; j++)
                if (codes[j] == code)
                    psp[j] += prop * pr;
            a += *a == ',';
            b += *b == ',';
        }
        free(cs);
        free(ps);
    }
    gs_h5_close(f);
    md_luxe_model *m;
    ck_assert_msg(md_luxe_load(p, &m) == GS_OK, "%s", gs_errmsg());
    ds_events g;
    const int64_t n = 1000000;
    ck_assert_int_eq(md_luxe_sample(m, n, 77, &g), GS_OK);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    const double r0 = 500;
    if (c->region_mode == 2)
        pp_label_rects(g.x, n, 6, 0, 1, rects, nrect, lab);
    else
        pp_label_radius(g.x, n, 6, 0, 1, &r0, 1, lab);
    int64_t cnt[8] = {0}, csp[4] = {0};
    for (int64_t i = 0; i < n; i++) {
        cnt[lab[i]]++;
        for (int j = 0; j < 4; j++)
            csp[j] += g.pdg[i] == codes[j];
    }
    double worst = 0;
    for (int r = 0; r < 2; r++) {
        double mu = n * preg[r], sd = sqrt(n * preg[r] * (1 - preg[r]));
        worst = fmax(worst, fabs((double)cnt[r] - mu) / sd);
    }
    if (expect_ok) {
        ck_assert_msg(worst < 3, "region fractions off by %.1f sigma (%lld, %lld of %lld; "
                      "expected %.4f, %.4f)", worst, (long long)cnt[0], (long long)cnt[1],
                      (long long)n, preg[0], preg[1]);
        for (int j = 0; j < 4; j++) {
            double mu = n * psp[j], sd = sqrt(n * psp[j] * (1 - psp[j]));
            ck_assert_msg(fabs((double)csp[j] - mu) < 3 * sd, "species %d: %lld, expected %.0f",
                          codes[j], (long long)csp[j], mu);
        }
    } else { /* the control: x, y unconfined, an untrained model spills over */
        ck_assert_msg(worst > 10, "unconfined model within %.1f sigma", worst);
    }
    free(lab);
    ds_events_free(&g);
    md_luxe_free(m);
}

START_TEST(t_luxe_regions_confined)
{
    ds_events ev;
    ck_assert_int_eq(ds_toy_luxe(8000, 21, &ev), GS_OK);
    char dir[64], a[128];
    gs_test_tmpdir(dir, sizeof dir);
    md_train_opts o = {0};
    int stopped;
    const struct { int mode, position, coords, uniform, ok; } cases[] = {
        {1, 3, 1, 0, 1},   /* the default: the inner disc as (u, v) on the square, the
                              rings as (r, phi), p theta phi_p */
        {1, 0, 1, 0, 1},   /* every ring as (r, phi), the inner disc too */
        {1, 2, 1, 0, 1},   /* the outermost ring as the hole frame (u, v) */
        {1, 0, 2, 1, 1},   /* rings, local momenta, quantiles to U(0, 1) */
        {2, 0, 0, 0, 1},   /* a rectangle and the rest, in pieces */
        {1, 1, 0, 0, 0}};  /* control: x, y as they are */
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        md_luxe_cfg c;
        small_cfg(&c, 40);
        c.region_mode = cases[k].mode;
        c.position = cases[k].position;
        c.coords = cases[k].coords;
        if (c.coords != 1) /* p exists in cylindrical coordinates only */
            strcpy(c.log_features, "t");
        c.qt_output = cases[k].uniform;
        c.min_steps = 1;
        snprintf(a, sizeof a, "%s/r%zu", dir, k);
        mkdir(a, 0777);
        o.out_dir = a;
        ck_assert_msg(md_luxe_train(&c, &ev, &o, &stopped) == GS_OK, "%s", gs_errmsg());
        check_fractions(a, &c, cases[k].ok);
    }
    ds_events_free(&ev);
    gs_test_rmdir(dir);
}
END_TEST

/* ---- tools ------------------------------------------------------------- */
START_TEST(t_tools_train_sample)
{
    const char *b = gs_test_bin();
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    ck_assert_int_eq(gs_test_run("%s/gansim-train --help >/dev/null", b), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-train --version >/dev/null", b), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --help >/dev/null", b), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-train 2>/dev/null", b), 2);
    ck_assert_int_eq(gs_test_run("%s/gansim-train mystery --data x --out y 2>/dev/null", b), 2);
    ck_assert_int_eq(gs_test_run("%s/gansim-train luxe --out %s/r 2>/dev/null", b, dir), 2);
    ck_assert_int_eq(gs_test_run("%s/gansim-train luxe --data %s/none.h5 --out %s/r 2>/dev/null", b, dir,
                         dir), 1);
    ck_assert_int_eq(gs_test_run("%s/gansim-datagen luxe -n 4000 --seed 3 -o %s/d.h5", b, dir), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-train luxe --data %s/d.h5 --out %s/r --set nope=1 "
                         "2>/dev/null", b, dir, dir), 2);
    ck_assert_int_eq(gs_test_run("%s/gansim-train luxe --data %s/d.h5 --out %s/r --threads 0 "
                         "2>/dev/null", b, dir, dir), 2);
    ck_assert_int_eq(gs_test_run("%s/gansim-train luxe --data %s/d.h5 --out %s/r --print-config "
                         "| grep -q train.lambda", b, dir, dir), 0);
    const char *small = "--set model.g_widths=16 --set model.d_widths=16 --set train.batch=32 "
                        "--set train.n_critic=1 --set train.kl_samples=200 --set split.min_rows=20";
    /* fewer steps than sub-models: an error, no model; a budget under the floor: a warning */
    ck_assert_int_eq(gs_test_run("%s/gansim-train luxe --data %s/d.h5 --out %s/r0 --iters 2 %s "
                         "2>%s/e0.txt", b, dir, dir, small, dir), 1);
    ck_assert_int_eq(gs_test_run("grep -q 'untrained' %s/e0.txt && ! test -f %s/r0/model.h5",
                         dir, dir), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-train luxe --data %s/d.h5 --out %s/r --iters 16 %s "
                         "2>%s/train.err", b, dir, dir, small, dir), 0);
    /* it ends with the quality of each sub-model against its floor */
    ck_assert_int_eq(gs_test_run("grep -q 'quality per sub-model' %s/train.err && "
                                 "grep -q 'best/floor' %s/train.err", dir, dir), 0);
    ck_assert_int_eq(gs_test_run("grep -q 'WARNING: sub-model .* under train.min_steps' "
                                 "%s/train.err && grep -q '^# WARNING' %s/r/train.log", dir, dir),
                     0);
    /* a second run must not overwrite the first */
    ck_assert_int_eq(gs_test_run("%s/gansim-train luxe --data %s/d.h5 --out %s/r --iters 16 %s "
                         "2>/dev/null", b, dir, dir, small), 2);
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 -n 1000 -o %s/g.h5 2>/dev/null",
                         b, dir, dir), 0);
    ck_assert_int_eq(gs_test_run("h5ls %s/g.h5 | grep -q events", dir), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 --bunch-crossings 2 -o %s/bx.h5 "
                         "2>/dev/null", b, dir, dir), 0);
    ck_assert_int_eq(gs_test_run("h5ls %s/bx.h5 | grep -q bx", dir), 0);
    /* bad inputs: exit codes, and no output file */
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/d.h5 -n 10 -o %s/bad.h5 2>/dev/null", b,
                         dir, dir), 1);
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 -n 0 -o %s/bad.h5 2>/dev/null",
                         b, dir, dir), 2);
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 -o %s/bad.h5 2>/dev/null", b,
                         dir, dir), 2);
    ck_assert_int_eq(gs_test_run("test -e %s/bad.h5", dir), 1);
    gs_test_rmdir(dir);
}
END_TEST

/* A NaN in the network stops training with a message instead of writing a
 * poisoned checkpoint (the trainer returns before saving). */
/* A tiny WGAN (3 features, one 8-wide layer each) on 64 fixed rows, for the
 * step-level tests below; lr_g and the EMA decay are what they vary. */
static void tiny_wgan(md_wgan *w, float lr_g, float ema, float data[64 * 3], md_sampler *s)
{
    md_wgan_cfg wc = {.n_features = 3, .noise_dim = 4, .g = {.depth = 1, .widths = {8}, .slope = 0.2f},
                      .d = {.depth = 1, .widths = {8}, .slope = 0.2f}, .lambda_gp = 10,
                      .n_critic = 1, .batch = 16, .lr_g = lr_g, .lr_d = 1e-3f, .beta1 = 0.5f,
                      .beta2 = 0.9f, .ema = ema};
    ck_assert_int_eq(md_wgan_init(w, &wc, 1), GS_OK);
    for (int i = 0; i < 64 * 3; i++)
        data[i] = (float)(i % 7) - 3.0f;
    ck_assert_int_eq(md_sampler_init(s, 64, NULL), GS_OK);
}

START_TEST(t_wgan_nan_stops)
{
    md_wgan w;
    float data[64 * 3];
    md_sampler s;
    tiny_wgan(&w, 1e-3f, 0, data, &s);
    md_wgan_losses L;
    ck_assert_int_eq(md_wgan_step(&w, data, &s, &L), GS_OK);
    w.dp.p[0]->data[0] = NAN; /* a critic weight goes bad */
    ck_assert_int_eq(md_wgan_step(&w, data, &s, &L), GS_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "loss is"));
    md_sampler_free(&s);
    md_wgan_free(&w);
}
END_TEST

/* The generator average follows min(ema, (1 + t) / (10 + t)) at step t: the
 * first step keeps 0.1 of the initial weights (a fixed 0.995 would keep
 * 0.995), step 1000 uses 1001/1010, and the configured decay caps it. Each
 * step is checked against the rule applied to the weights before and after. */
START_TEST(t_wgan_ema_warmup)
{
    md_wgan w;
    float data[64 * 3];
    md_sampler s;
    tiny_wgan(&w, 1e-2f, 0.995f, data, &s);
    md_wgan_losses L;
    const int64_t steps[] = {0, 1, 1000, 5000};
    for (size_t j = 0; j < sizeof steps / sizeof steps[0]; j++) {
        w.step = steps[j]; /* the rule depends on the step count alone */
        const float e0 = w.ep.p[0]->data[1];
        ck_assert_int_eq(md_wgan_step(&w, data, &s, &L), GS_OK);
        const float g1 = w.gp.p[0]->data[1];
        double d = (1.0 + (double)steps[j]) / (10.0 + (double)steps[j]);
        if (d > 0.995)
            d = 0.995;
        const double want = d * e0 + (1 - d) * g1;
        ck_assert_msg(fabs(w.ep.p[0]->data[1] - want) <= 1e-6 * (1 + fabs(want)),
                      "step %lld: average %g, want %g (decay %g)", (long long)steps[j],
                      w.ep.p[0]->data[1], want, d);
        ck_assert_msg(j > 0 || fabs(w.ep.p[0]->data[1] - (0.1 * e0 + 0.9 * g1)) < 1e-6,
                      "the first step keeps 0.1 of the initial weights");
    }
    md_sampler_free(&s);
    md_wgan_free(&w);
}
END_TEST

/* ---- data-parallel shards (md_wgan) ------------------------------------ */
static md_wgan_cfg shard_cfg(int shards, float lr)
{
    return (md_wgan_cfg){.n_features = 6, .noise_dim = 8,
                         .g = {.depth = 2, .widths = {32, 24}, .slope = 0.2f},
                         .d = {.depth = 2, .widths = {32, 24}, .slope = 0.2f},
                         .lambda_gp = 10, .n_critic = 2, .batch = 100, .lr_g = lr, .lr_d = lr,
                         .beta1 = 0.5f, .beta2 = 0.9f, .shards = shards};
}

static void shard_data(float *data, int64_t n)
{
    gs_rng r;
    gs_rng_seed(&r, 7);
    gs_rng_fill_normal(&r, data, n * 6, 0.0f, 1.0f);
}

static double max_abs_diff(const nn_params *a, const nn_params *b, bool grads, double *scale)
{
    double d = 0;
    *scale = 0;
    for (int i = 0; i < a->n; i++)
        for (int64_t k = 0; k < a->p[i]->n; k++) {
            const float x = grads ? a->p[i]->grad[k] : a->p[i]->data[k];
            const float y = grads ? b->p[i]->grad[k] : b->p[i]->data[k];
            d = fmax(d, fabs((double)x - y));
            *scale = fmax(*scale, fabs((double)x));
        }
    return d;
}

/* Cutting the batch into slices that run on their own threads computes the
 * full-batch step: same losses, same summed gradients (lr 0 keeps the
 * weights at their start, so the gradients left in the model after a step
 * are comparable), for even and uneven slices. */
START_TEST(t_wgan_shards_match)
{
    enum { n = 500 };
    static float data[n * 6];
    shard_data(data, n);
    md_sampler s;
    ck_assert_int_eq(md_sampler_init(&s, n, NULL), GS_OK);
    md_wgan ref;
    md_wgan_cfg c1 = shard_cfg(1, 0.0f);
    ck_assert_int_eq(md_wgan_init(&ref, &c1, 3), GS_OK);
    ck_assert_int_eq(ref.n_shards, 1);
    md_wgan_losses l1;
    ck_assert_int_eq(md_wgan_step(&ref, data, &s, &l1), GS_OK);
    const int threads = nn_get_threads();
    for (int shards = 2; shards <= 3; shards++) {
        md_wgan w;
        md_wgan_cfg cs = shard_cfg(shards, 0.0f);
        ck_assert_int_eq(md_wgan_init(&w, &cs, 3), GS_OK);
        ck_assert_int_eq(w.n_shards, shards);
        md_wgan_losses ls;
        ck_assert_int_eq(md_wgan_step(&w, data, &s, &ls), GS_OK);
        ck_assert_double_eq_tol(ls.loss_d, l1.loss_d, 1e-5 * (1 + fabs(l1.loss_d)));
        ck_assert_double_eq_tol(ls.gp, l1.gp, 1e-5 * (1 + fabs(l1.gp)));
        ck_assert_double_eq_tol(ls.wdist, l1.wdist, 1e-5 * (1 + fabs(l1.wdist)));
        ck_assert_double_eq_tol(ls.loss_g, l1.loss_g, 1e-5 * (1 + fabs(l1.loss_g)));
        double scale;
        const double dg = max_abs_diff(&ref.dp, &w.dp, true, &scale);
        ck_assert_double_gt(scale, 1e-3); /* a gradient to compare */
        ck_assert_double_le(dg, 1e-5 * scale);
        ck_assert_double_le(max_abs_diff(&ref.gp, &w.gp, true, &scale), 1e-5 * scale);
        ck_assert_double_gt(scale, 1e-3);
        /* the shards' threads leave the caller's thread count alone */
        ck_assert_int_eq(nn_get_threads(), threads);
        md_wgan_free(&w);
    }
    /* and with a learning rate, a few steps stay together */
    md_wgan a, b;
    md_wgan_cfg ca = shard_cfg(1, 1e-3f), cb = shard_cfg(2, 1e-3f);
    ck_assert_int_eq(md_wgan_init(&a, &ca, 5), GS_OK);
    ck_assert_int_eq(md_wgan_init(&b, &cb, 5), GS_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(md_wgan_step(&a, data, &s, &l1), GS_OK);
        ck_assert_int_eq(md_wgan_step(&b, data, &s, &l1), GS_OK);
    }
    double scale;
    ck_assert_double_le(max_abs_diff(&a.gp, &b.gp, false, &scale), 1e-3);
    ck_assert_double_le(max_abs_diff(&a.dp, &b.dp, false, &scale), 1e-3);
    md_wgan_free(&a);
    md_wgan_free(&b);
    md_wgan_free(&ref);
    md_sampler_free(&s);
}
END_TEST

/* Sharded steps allocate nothing once warm (contexts, shadow gradients and
 * the thread team all exist after the first steps). */
START_TEST(t_wgan_shards_no_malloc)
{
    alloc_count_prove();
    enum { n = 300 };
    static float data[n * 6];
    shard_data(data, n);
    md_sampler s;
    ck_assert_int_eq(md_sampler_init(&s, n, NULL), GS_OK);
    md_wgan w;
    md_wgan_cfg c = shard_cfg(2, 1e-4f);
    ck_assert_int_eq(md_wgan_init(&w, &c, 1), GS_OK);
    md_wgan_losses l;
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(md_wgan_step(&w, data, &s, &l), GS_OK);
    /* no ck_assert inside the counted loop: Check allocates to record it */
    int rc = GS_OK;
    const long before = n_alloc_calls;
    for (int i = 0; i < 4; i++)
        rc |= md_wgan_step(&w, data, &s, &l);
    const long calls = n_alloc_calls - before;
    ck_assert_int_eq(rc, GS_OK);
    ck_assert_int_eq(calls, 0);
    md_wgan_free(&w);
    md_sampler_free(&s);
}
END_TEST

/* Generation runs chunks on several contexts at once; the rows must not
 * depend on how many, nor on the thread count (each block of noise rows
 * has its own stream). */
START_TEST(t_generate_context_independent)
{
    /* wide enough that OpenBLAS would thread its GEMMs (and change their
     * rounding with the thread count) if a chunk were not single-threaded */
    const md_mlp_cfg gc = {.n_in = 8, .n_out = 5, .depth = 2, .widths = {256, 128}, .slope = 0.2f};
    nn_params ps;
    nn_params_init(&ps);
    md_mlp g;
    gs_rng r;
    gs_rng_seed(&r, 11);
    ck_assert_int_eq(md_mlp_init(&g, &ps, "G", &gc, &r), GS_OK);
    enum { n = 4 * 4096 + 100 }; /* 5 chunks: 2 and 3 threads leave a lone last one */
    float *a = malloc(n * 5 * sizeof *a), *b = malloc(n * 5 * sizeof *b);
    nn_ctx *c[3] = {nn_ctx_new(), nn_ctx_new(), nn_ctx_new()};
    const int saved = nn_get_threads();
    gs_rng ra, rb;
    gs_rng_seed(&ra, 5);
    nn_set_threads(1);
    ck_assert_int_eq(md_mlp_generate(c, 1, &g, 8, n, a, &ra), GS_OK);
    const uint64_t next_a = gs_rng_next(&ra);
    for (int threads = 2; threads <= 3; threads++) {
        gs_rng_seed(&rb, 5);
        nn_set_threads(threads);
        memset(b, 0, n * 5 * sizeof *b);
        ck_assert_int_eq(md_mlp_generate(c, 3, &g, 8, n, b, &rb), GS_OK);
        ck_assert_int_eq(memcmp(a, b, n * 5 * sizeof *a), 0);
        ck_assert_uint_eq(gs_rng_next(&rb), next_a); /* the stream moved on alike */
    }
    nn_set_threads(saved);
    for (int t = 0; t < 3; t++)
        nn_ctx_free(c[t]);
    free(a);
    free(b);
    nn_params_free(&ps);
}
END_TEST

/* SIGKILL at arbitrary moments, checkpointing every step: whatever is on
 * disk under the final names is a complete checkpoint that resumes. */
START_TEST(t_sigkill_keeps_checkpoint)
{
    const char *b = gs_test_bin();
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    const char *small = "--set model.g_widths=16 --set model.d_widths=16 --set train.batch=32 "
                        "--set train.n_critic=1 --set train.kl_samples=200 --set split.min_rows=20 "
                        "--set train.ckpt_every=1 --set train.kl_every=5";
    ck_assert_int_eq(gs_test_run("%s/gansim-datagen luxe -n 4000 --seed 3 -o %s/d.h5", b, dir), 0);
    for (int k = 0; k < 3; k++) {
        /* start, wait for the first checkpoint, let it run a little, kill -9 */
        ck_assert_int_eq(gs_test_run("rm -rf %s/r; (%s/gansim-train luxe --data %s/d.h5 --out %s/r "
                             "--iters 100000 %s >/dev/null 2>&1 & echo $! > %s/pid); "
                             "for i in $(seq 200); do [ -f %s/r/last.h5 ] && break; sleep 0.05; done; "
                             "sleep 0.%d; kill -9 $(cat %s/pid); sleep 0.1",
                             dir, b, dir, dir, small, dir, dir, 2 + 3 * k, dir),
                         0);
        ck_assert_int_eq(gs_test_run("test -f %s/r/last.h5 && test -f %s/r/model.h5", dir, dir), 0);
        /* the checkpoint on disk samples (it is a partial model: only when allowed)
         * and resumes (the kill may leave a *.tmp.* file) */
        ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 -n 100 -o %s/g%d.h5 "
                             "2>/dev/null", b, dir, dir, k), 1);
        ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 -n 100 -o %s/g%d.h5 "
                             "--allow-partial 2>/dev/null", b, dir, dir, k), 0);
        ck_assert_int_eq(gs_test_run("timeout -s KILL 2 %s/gansim-train luxe --data %s/d.h5 --out %s/r "
                             "--resume >/dev/null 2>&1; test -f %s/r/last.h5", b, dir, dir, dir),
                         0);
        ck_assert_int_eq(gs_test_run("h5ls %s/r/last.h5 >/dev/null", dir), 0);
    }
    gs_test_rmdir(dir);
}
END_TEST

static int file_has(const char *path, const char *what)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, what) != NULL;
}

/* Ctrl-C / SIGTERM: the run saves, exits 130 / 143 (so `train && sample`
 * stops), model.h5 says "partial" with the steps of every sub-model, and
 * sampling refuses it unless --allow-partial (then it warns). */
START_TEST(t_interrupt_marks_partial)
{
    const char *b = gs_test_bin();
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    const char *small = "--set model.g_widths=16 --set model.d_widths=16 --set train.batch=32 "
                        "--set train.n_critic=1 --set train.kl_samples=200 --set split.min_rows=20 "
                        "--set train.ckpt_every=2 --set train.kl_every=5";
    ck_assert_int_eq(gs_test_run("%s/gansim-datagen luxe -n 4000 --seed 3 -o %s/d.h5", b, dir), 0);
    static const struct {
        const char *sig;
        int code;
    } sigs[] = {{"INT", 130}, {"TERM", 143}};
    /* --resume --iters N must give every sub-model at least the steps it
     * already took, however many the run made before the signal arrived
     * (a fast machine makes more): 200 (train.min_steps) plus those */
    long long resume_to = 40;
    for (int k = 0; k < 2; k++) {
        /* start a run that cannot finish, wait for its first checkpoint, signal it */
        ck_assert_int_eq(gs_test_run("rm -rf %s/r; (%s/gansim-train luxe --data %s/d.h5 "
                                     "--out %s/r --iters 1000000 %s 2>%s/err & echo $! > %s/pid; "
                                     "wait $!; echo $? > %s/rc) & "
                                     "for i in $(seq 600); do [ -f %s/r/last.h5 ] && break; "
                                     "sleep 0.1; done; kill -%s $(cat %s/pid); "
                                     "for i in $(seq 600); do [ -f %s/rc ] && break; sleep 0.1; "
                                     "done; test -f %s/rc",
                                     dir, b, dir, dir, small, dir, dir, dir, dir, sigs[k].sig, dir,
                                     dir, dir),
                         0);
        char p[256], want[16];
        snprintf(p, sizeof p, "%s/rc", dir);
        snprintf(want, sizeof want, "%d\n", sigs[k].code);
        ck_assert_msg(file_has(p, want), "gansim-train after SIG%s: exit status is not %d",
                      sigs[k].sig, sigs[k].code);
        snprintf(p, sizeof p, "%s/err", dir);
        ck_assert(file_has(p, "interrupted (SIG"));
        ck_assert(file_has(p, "model.h5 is marked partial"));
        gs_test_run("rm -f %s/rc", dir);
        /* model.h5: state partial, and how far each sub-model got */
        hid_t f;
        snprintf(p, sizeof p, "%s/r/model.h5", dir);
        ck_assert_int_eq(gs_h5_open(p, 0, &f), GS_OK);
        char *state = NULL, *steps = NULL, *budget = NULL;
        ck_assert_int_eq(gs_h5_attr_read_str(f, ".", "state", &state), GS_OK);
        ck_assert_int_eq(gs_h5_attr_read_str(f, ".", "part_steps", &steps), GS_OK);
        ck_assert_int_eq(gs_h5_attr_read_str(f, ".", "part_budget", &budget), GS_OK);
        md_model_status ms;
        ck_assert_int_eq(md_model_status_read(f, p, &ms), GS_OK);
        gs_h5_close(f);
        ck_assert_str_eq(state, "partial");
        ck_assert_int_ge(ms.n_parts, 2);
        ck_assert(ms.partial);
        ck_assert_int_ge(ms.step, 2);
        ck_assert_int_eq(ms.steps, 1000000);
        resume_to = (long long)ms.n_parts * (200 + ms.step);
        ck_assert_ptr_nonnull(strstr(ms.notes, "trained"));
        free(state);
        free(steps);
        free(budget);
        /* sampling refuses it, by name; the API too */
        ck_assert_int_eq(gs_test_run("rm -f %s/g.h5; %s/gansim-sample --model %s/r/model.h5 "
                                     "-n 50 -o %s/g.h5 2>%s/err", dir, b, dir, dir, dir), 1);
        snprintf(p, sizeof p, "%s/err", dir);
        ck_assert(file_has(p, "model.h5: a partial model: its training stopped after"));
        snprintf(p, sizeof p, "%s/g.h5", dir);
        ck_assert_int_ne(access(p, F_OK), 0);
        md_model *m = NULL;
        snprintf(p, sizeof p, "%s/r/model.h5", dir);
        ck_assert_int_eq(md_model_open(p, &m), GS_ERR_STATE);
        ck_assert_ptr_nonnull(strstr(gs_errmsg(), "a partial model"));
        ck_assert_int_eq(md_model_open_ex(p, MD_OPEN_ALLOW_PARTIAL, &m), GS_OK);
        md_model_close(m);
        /* ... unless allowed, and then it says what is under-trained */
        ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 -n 50 -o %s/g.h5 "
                                     "--allow-partial 2>%s/err", b, dir, dir, dir), 0);
        snprintf(p, sizeof p, "%s/err", dir);
        ck_assert(file_has(p, "WARNING:"));
        ck_assert(file_has(p, " steps"));
    }
    /* the interrupted run goes on and finishes: then model.h5 is final */
    ck_assert_int_eq(gs_test_run("%s/gansim-train luxe --data %s/d.h5 --out %s/r --resume "
                                 "--iters %lld 2>/dev/null", b, dir, dir, resume_to), 0);
    ck_assert_int_eq(gs_test_run("h5dump -a state %s/r/model.h5 | grep -q '\"final\"'", dir), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 -n 50 -o %s/g.h5 "
                                 "2>/dev/null", b, dir, dir), 0);
    gs_test_rmdir(dir);
}
END_TEST

/* --resume --iters N trains a finished run on to N steps in total, and
 * gives what an uninterrupted run of N steps gives: the training state
 * always, and the kept best model (model.h5) too when every evaluation
 * point of the shorter run is one of the longer run's (train.kl_every 1
 * here; otherwise the shorter run's final evaluation is one more candidate
 * for the best). */
START_TEST(t_resume_iters_continues)
{
    const char *b = gs_test_bin();
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    ck_assert_int_eq(gs_test_run("%s/gansim-datagen luxe -n 3000 --seed 5 -o %s/d.h5", b, dir), 0);
    for (int every = 1; every <= 3; every += 2) {
        char small[512];
        snprintf(small, sizeof small,
                 "--set model.g_widths=16 --set model.d_widths=16 --set train.batch=32 "
                 "--set train.n_critic=1 --set train.kl_samples=200 --set split.min_rows=50 "
                 "--set train.ckpt_every=5 --set train.kl_every=%d", every);
        ck_assert_int_eq(gs_test_run("rm -rf %s/s %s/c && %s/gansim-train luxe --data %s/d.h5 "
                                     "--out %s/s --iters 40 %s 2>/dev/null",
                                     dir, dir, b, dir, dir, small), 0);
        ck_assert_int_eq(gs_test_run("%s/gansim-train luxe --data %s/d.h5 --out %s/c --iters 20 "
                                     "%s 2>/dev/null", b, dir, dir, small), 0);
        /* finished at 20 steps; the old behaviour was to finish again in 0 s */
        ck_assert_int_eq(gs_test_run("%s/gansim-train luxe --data %s/d.h5 --out %s/c --resume "
                                     "--iters 40 2>%s/err", b, dir, dir, dir), 0);
        char p[256];
        snprintf(p, sizeof p, "%s/c/train.log", dir);
        ck_assert(file_has(p, "step=40 "));
        if (every == 1) {
            ck_assert_int_eq(gs_test_run("cmp -s %s/s/last.h5 %s/c/last.h5", dir, dir), 0);
            ck_assert_int_eq(gs_test_run("cmp -s %s/s/model.h5 %s/c/model.h5", dir, dir), 0);
        } else {
            /* every sub-model's training state: generator, critic, optimizers, RNG */
            for (int k = 0; k < 4; k++)
                ck_assert_msg(gs_test_run("h5diff -q %s/s/last.h5 %s/c/last.h5 /sub%d/train/G "
                                          "/sub%d/train/G && h5diff -q %s/s/last.h5 "
                                          "%s/c/last.h5 /sub%d/train/D /sub%d/train/D && "
                                          "h5diff -q %s/s/last.h5 %s/c/last.h5 /sub%d/train/rng "
                                          "/sub%d/train/rng",
                                          dir, dir, k, k, dir, dir, k, k, dir, dir, k, k) == 0,
                              "sub%d: training state differs", k);
        }
    }
    /* fewer steps than already taken: refused, files untouched */
    ck_assert_int_eq(gs_test_run("cp %s/c/model.h5 %s/before.h5 && %s/gansim-train luxe "
                                 "--data %s/d.h5 --out %s/c --resume --iters 10 2>%s/err",
                                 dir, dir, b, dir, dir, dir), 1);
    char p[256];
    snprintf(p, sizeof p, "%s/err", dir);
    ck_assert(file_has(p, "more than the"));
    ck_assert_int_eq(gs_test_run("cmp -s %s/c/model.h5 %s/before.h5", dir, dir), 0);
    gs_test_rmdir(dir);
}
END_TEST

/* The TTY progress line shows "-" for the score until the first evaluation
 * ("nan" read like a diverged run). */
START_TEST(t_progress_dash_before_eval)
{
    if (gs_test_run("script -qec true /dev/null >/dev/null 2>&1") != 0)
        return; /* no script(1) to give the tool a terminal */
    const char *b = gs_test_bin();
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    ck_assert_int_eq(gs_test_run("%s/gansim-datagen luxe -n 2000 --seed 5 -o %s/d.h5", b, dir), 0);
    ck_assert_int_eq(gs_test_run("script -qec \"%s/gansim-train luxe --data %s/d.h5 --out %s/r "
                                 "--iters 8 --set train.kl_every=4 --set split.min_rows=20 "
                                 "--set model.g_widths=8 --set model.d_widths=8 "
                                 "--set train.kl_samples=100\" %s/tty.txt >/dev/null 2>&1",
                                 b, dir, dir, dir), 0);
    char p[256];
    snprintf(p, sizeof p, "%s/tty.txt", dir);
    ck_assert(file_has(p, "KL        - (best        -)"));
    ck_assert(!file_has(p, "nan"));
    ck_assert(file_has(p, "(best   ")); /* numbers after the first evaluation */
    gs_test_rmdir(dir);
}
END_TEST

/* A CSV with its own column names trains through --columns, --units and
 * --particles-per-bx; they are stored with the run, so --resume reads the
 * file the same way without them, and the model samples bunch crossings. */
START_TEST(t_csv_import_train)
{
    const char *b = gs_test_bin();
    char dir[64], p[256];
    gs_test_tmpdir(dir, sizeof dir);
    ds_events ev;
    ck_assert_int_eq(ds_toy_luxe(3000, 9, &ev), GS_OK);
    snprintf(p, sizeof p, "%s/d.csv", dir);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "X,Y,PX,PY,PZ,time,PID\n");
    for (int64_t i = 0; i < ev.n; i++) {
        for (int j = 0; j < 6; j++)
            fprintf(f, "%.9g,", ev.x[i * 6 + j]);
        fprintf(f, "%d\n", ev.pdg[i]);
    }
    fclose(f);
    ds_events_free(&ev);
    const char *small = "--set model.g_widths=8 --set model.d_widths=8 --set train.batch=32 "
                        "--set train.n_critic=1 --set train.kl_samples=100 "
                        "--set split.min_rows=20 --set train.kl_every=5";
    ck_assert_int_eq(gs_test_run("%s/gansim-train luxe --data %s/d.csv --out %s/r --iters 10 %s "
                                 "--columns x=X,y=Y,px=PX,py=PY,pz=PZ,t=time,pdg=PID "
                                 "--units mm,mm,GeV,GeV,GeV,ns --particles-per-bx 1.2e4 "
                                 "2>/dev/null", b, dir, dir, small), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-train luxe --data %s/d.csv --out %s/r --resume "
                                 "--iters 20 2>/dev/null", b, dir, dir), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 --bunch-crossings 2 "
                                 "-o %s/s.h5 2>/dev/null", b, dir, dir), 0);
    snprintf(p, sizeof p, "%s/s.h5", dir);
    ck_assert_int_eq(ds_events_read(p, NULL, &ev), GS_OK);
    ck_assert_str_eq(ev.columns[5], "t");
    ck_assert_str_eq(ev.units[5], "ns");
    ck_assert_double_eq(ev.particles_per_bx, 1.2e4);
    ck_assert_ptr_nonnull(ev.pdg);
    ds_events_free(&ev);
    gs_test_rmdir(dir);
}
END_TEST

static Suite *luxe_suite(void)
{
    Suite *s = suite_create("luxe");
    TCase *tc = tcase_create("luxe");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, t_config_set_and_dump);
    tcase_add_test(tc, t_config_ini);
    tcase_add_test(tc, t_weighted_sampler);
    tcase_add_test(tc, t_luxe_train_resume_sample);
    tcase_add_test(tc, t_luxe_bad_config);
    tcase_add_test(tc, t_step_budget);
    tcase_add_test(tc, t_luxe_regions_confined);
    tcase_add_test(tc, t_tools_train_sample);
    tcase_add_test(tc, t_wgan_nan_stops);
    tcase_add_test(tc, t_wgan_ema_warmup);
    tcase_add_test(tc, t_wgan_shards_match);
    tcase_add_test(tc, t_wgan_shards_no_malloc);
    tcase_add_test(tc, t_generate_context_independent);
    tcase_add_test(tc, t_sigkill_keeps_checkpoint);
    tcase_add_test(tc, t_interrupt_marks_partial);
    tcase_add_test(tc, t_resume_iters_continues);
    tcase_add_test(tc, t_progress_dash_before_eval);
    tcase_add_test(tc, t_csv_import_train);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(luxe_suite)

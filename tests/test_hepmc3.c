/* HepMC3 output (datasets/ds_hepmc3.h, gansim-sample --format hepmc3), read
 * back with HepMC3's own ReaderAscii (tests/hepmc3_read.cpp). */
#include "core/gs_h5.h"
#include "core/gs_pdg.h"
#include "datasets/ds.h"
#include "datasets/ds_hepmc3.h"
#include "hepmc3_read.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>

static const double c_mm_per_ns = 299.792458;

/* Number of directory entries other than . and .. (no temporaries left behind). */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void read_ok(const char *path, h3_file *h)
{
    char err[512];
    ck_assert_msg(h3_read(path, h, err, sizeof err) == 0, "%s", err);
}

static int64_t col(const ds_events *ev, const char *name)
{
    int64_t j = ds_events_column(ev, name);
    ck_assert_msg(j >= 0, "no column %s", name);
    return j;
}

/* Every status-1 particle read back equals its table row: PDG id, momentum,
 * energy from the PDG mass, vertex (x, y, plane z, c*t), weight. */
static void check_rows(const h3_file *h, const ds_events *ev, double plane_z, double len,
                       double mom, double tim)
{
    ck_assert_int_eq(h->n, ev->n);
    const int64_t jx = col(ev, "x"), jy = col(ev, "y"), jt = col(ev, "t");
    const int64_t jp[3] = {col(ev, "px"), col(ev, "py"), col(ev, "pz")};
    for (int64_t i = 0; i < ev->n; i++) {
        const float *r = ev->x + i * ev->f;
        ck_assert_int_eq(h->pid[i], ev->pdg[i]);
        double p2 = 0;
        for (int k = 0; k < 3; k++) {
            ck_assert_close(h->p[4 * i + k], r[jp[k]] * mom, 1e-300, 1e-15);
            p2 += h->p[4 * i + k] * h->p[4 * i + k];
        }
        double m;
        ck_assert(gs_pdg_mass(ev->pdg[i], &m));
        ck_assert_close(h->m_gen[i], m, 0, 1e-15);
        ck_assert_close(h->p[4 * i + 3], sqrt(p2 + m * m), 0, 1e-15);
        /* HepMC3's own invariant mass from (p, E): m^2 good to ~1e-16 E^2 */
        ck_assert_close(h->m_calc[i] * h->m_calc[i], m * m, 4e-16 * (p2 + m * m), 0);
        ck_assert_close(h->pos[4 * i + 0], r[jx] * len, 1e-300, 1e-15);
        ck_assert_close(h->pos[4 * i + 1], r[jy] * len, 1e-300, 1e-15);
        ck_assert_close(h->pos[4 * i + 2], plane_z, 0, 0);
        ck_assert_close(h->pos[4 * i + 3], r[jt] * tim * c_mm_per_ns, 1e-300, 1e-15);
        if (ev->weights)
            ck_assert_close(h->weight[i], ev->weights[i], 0, 0);
        else
            ck_assert(isnan(h->weight[i]));
    }
}

static void count_progress(void *user, int64_t done, int64_t total)
{
    int64_t *seen = user;
    ck_assert_int_eq(done, seen[0] + 1); /* once per event, in order */
    seen[0] = done;
    seen[1] = total;
}

/* sets the stop flag once the second event is written, as a signal would */
static volatile sig_atomic_t stop_flag;
static void stop_after_two(void *user, int64_t done, int64_t total)
{
    (void)user;
    (void)total;
    if (done == 2)
        stop_flag = SIGTERM;
}

/* A stop request ends the writing after the event at hand: GS_OK, the flag
 * in stats->stopped, no file and no temporary left behind. */
START_TEST(t_stop)
{
    char dir[64], path[128];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/stop.hepmc3", dir);
    ds_events ev;
    ck_assert_int_eq(ds_toy_luxe_ex(400, 3, NULL, &ev), 0);
    int64_t *bx = malloc(400 * sizeof *bx);
    for (int64_t i = 0; i < 400; i++)
        bx[i] = i / 100;
    stop_flag = 0;
    ds_hepmc3_opts o = {.progress = stop_after_two, .stop = &stop_flag};
    ds_hepmc3_stats st;
    ck_assert_msg(ds_hepmc3_write(path, &ev, bx, 4, &o, &st) == 0, "%s", gs_errmsg());
    ck_assert_int_eq(st.stopped, SIGTERM);
    ck_assert_int_eq(st.events, 0);
    ck_assert_int_eq(gs_test_run("test -z \"$(ls -A %s)\"", dir), 0); /* nothing at all */
    /* without the flag set the same call writes the file */
    stop_flag = 0;
    o.progress = NULL;
    ck_assert_int_eq(ds_hepmc3_write(path, &ev, bx, 4, &o, &st), 0);
    ck_assert_int_eq(st.stopped, 0);
    ck_assert_int_eq(st.events, 4);
    ck_assert_int_eq(access(path, F_OK), 0);
    free(bx);
    ds_events_free(&ev);
    gs_test_rmdir(dir);
}
END_TEST

START_TEST(t_roundtrip_toy)
{
    char dir[64], path[128];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/toy.hepmc3", dir);
    ds_events ev;
    ds_toy_opts to = {.with_weights = 1};
    ck_assert_int_eq(ds_toy_luxe_ex(3000, 11, &to, &ev), 0);
    /* four crossings, the third empty */
    const int64_t counts[4] = {1000, 1200, 0, 800};
    int64_t *bx = malloc(3000 * sizeof *bx);
    for (int64_t b = 0, i = 0; b < 4; b++)
        for (int64_t j = 0; j < counts[b]; j++)
            bx[i++] = b;
    int64_t progress[2] = {0, 0};
    ds_hepmc3_opts o = {.model = "run/model.h5", .model_kind = "luxe_wgan", .seed = 42,
                        .plane_z_mm = -1234.5, .progress = count_progress, .user = progress};
    ds_hepmc3_stats st;
    ck_assert_msg(ds_hepmc3_write(path, &ev, bx, 4, &o, &st) == 0, "%s", gs_errmsg());
    ck_assert_int_eq(progress[0], 4);
    ck_assert_int_eq(progress[1], 4);
    ck_assert_int_eq(st.events, 4);
    ck_assert_int_eq(st.particles, 3000);
    ck_assert_int_eq(st.empty, 1);

    h3_file h;
    read_ok(path, &h);
    ck_assert_int_eq(h.n_events, 4);
    for (int b = 0; b < 4; b++) {
        ck_assert_int_eq(h.event_number[b], b);
        ck_assert_int_eq(h.count[b], counts[b]);
        ck_assert_close(h.event_weight[b], 1.0, 0, 0);
    }
    ck_assert_int_eq(h.n_other, 3000); /* one status-3 parent per particle */
    ck_assert(h.units_gev_mm);
    ck_assert(h.parents_ok);
    check_rows(&h, &ev, -1234.5, 1, 1, 1);
    /* the toy's species, with their PDG masses (GeV) as HepMC3 stores them */
    int seen[4] = {0};
    for (int64_t i = 0; i < h.n; i++) {
        if (h.pid[i] == 2112) {
            seen[0]++;
            ck_assert_close(h.m_gen[i], 0.93956542, 1e-8, 0);
        } else if (h.pid[i] == 22) {
            seen[1]++;
            ck_assert_close(h.m_gen[i], 0, 0, 0);
        } else if (h.pid[i] == 11 || h.pid[i] == -11) {
            seen[2 + (h.pid[i] < 0)]++;
            ck_assert_close(h.m_gen[i], 0.51099895e-3, 1e-11, 0);
        } else {
            ck_abort_msg("unexpected PDG id %d", h.pid[i]);
        }
    }
    ck_assert(seen[0] && seen[1] && seen[2] && seen[3]);
    /* run info */
    ck_assert_str_eq(h.tool, "gansim");
    ck_assert_str_eq(h.tool_version, GANSIM_VERSION);
    ck_assert_ptr_nonnull(strstr(h.tool_desc, "run/model.h5"));
    ck_assert_str_eq(h.model, "run/model.h5");
    ck_assert_str_eq(h.kind, "luxe_wgan");
    ck_assert_str_eq(h.seed, "42");
    ck_assert_close(h.plane_z, -1234.5, 0, 0);
    ck_assert_close(h.particles_per_bx, DS_LUXE_PARTICLES_PER_BX, 0, 0);
    ck_assert_ptr_nonnull(strstr(h.frame, "c*t in mm"));
    h3_free(&h);
    ck_assert_int_eq(dir_entries(dir), 1); /* the file, no temporary */

    /* without weights: no weight attribute; bx = NULL writes one event */
    free(ev.weights);
    ev.weights = NULL;
    ck_assert_int_eq(ds_hepmc3_write(path, &ev, NULL, 1, NULL, NULL), 0);
    read_ok(path, &h);
    ck_assert_int_eq(h.n_events, 1);
    ck_assert_int_eq(h.count[0], 3000);
    check_rows(&h, &ev, 0, 1, 1, 1);
    ck_assert_str_eq(h.seed, "0");
    h3_free(&h);
    free(bx);
    ds_events_free(&ev);
    gs_test_rmdir(dir);
}
END_TEST

/* The same particles in cm, MeV and us (and a z column) land on the same
 * mm, GeV and ns values. */
START_TEST(t_units_and_z)
{
    char dir[64], a[128];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/a.hepmc3", dir);
    ds_events ev, sc;
    ck_assert_int_eq(ds_toy_luxe(500, 3, &ev), 0);
    const char *cols[] = {"x", "y", "px", "py", "pz", "t", "z"};
    const char *units[] = {"cm", "cm", "MeV", "MeV/c", "MeV", "us", "m"};
    ck_assert_int_eq(ds_events_alloc(&sc, ev.n, 7, cols, units, 1, 0), 0);
    for (int64_t i = 0; i < ev.n; i++) {
        const float *r = ev.x + i * 6;
        float *s = sc.x + i * 7;
        s[0] = r[0] / 10, s[1] = r[1] / 10;
        s[2] = r[2] * 1000, s[3] = r[3] * 1000, s[4] = r[4] * 1000;
        s[5] = r[5] / 1000;
        s[6] = 2.5f; /* m */
        sc.pdg[i] = ev.pdg[i];
    }
    ck_assert_int_eq(ds_hepmc3_write(a, &sc, NULL, 1, NULL, NULL), 0);
    h3_file h;
    read_ok(a, &h);
    check_rows(&h, &sc, 2500, 10, 1e-3, 1e3);
    h3_free(&h);
    ds_events_free(&sc);
    ds_events_free(&ev);
    gs_test_rmdir(dir);
}
END_TEST

/* Bad input: an error naming the problem, and no file (nor temporary). */
START_TEST(t_errors)
{
    char dir[64], path[128];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/bad.hepmc3", dir);
    ds_events ev;
    ck_assert_int_eq(ds_toy_luxe(50, 4, &ev), 0);
    int64_t bx[50] = {0};
#define BAD(code, msg)                                                                         \
    do {                                                                                       \
        ck_assert_int_eq(ds_hepmc3_write(path, &ev, bx, 1, NULL, NULL), code);                \
        ck_assert_msg(strstr(gs_errmsg(), msg), "'%s' lacks '%s'", gs_errmsg(), msg);          \
        ck_assert_int_eq(dir_entries(dir), 0);                                                 \
    } while (0)
    int32_t keep = ev.pdg[7];
    ev.pdg[7] = 999;
    BAD(GS_ERR_ARG, "row 7: PDG id 999 is not in gansim's mass table");
    ev.pdg[7] = -22; /* the photon has no antiparticle */
    BAD(GS_ERR_ARG, "PDG id -22");
    ev.pdg[7] = keep;
    int32_t *pdg = ev.pdg;
    ev.pdg = NULL;
    BAD(GS_ERR_ARG, "no species");
    ev.pdg = pdg;
    char **units = ev.units;
    ev.units = NULL;
    BAD(GS_ERR_ARG, "column x has no unit");
    ev.units = units;
    char *u = ev.units[5];
    ev.units[5] = "fortnight";
    BAD(GS_ERR_ARG, "column t has unit 'fortnight', expected a time (ns, ps, us, ms, s)");
    ev.units[5] = u;
    char *c = ev.columns[5];
    ev.columns[5] = "ekin";
    BAD(GS_ERR_ARG, "column 'ekin' has no place");
    ev.columns[5] = "z"; /* then t is missing */
    BAD(GS_ERR_ARG, "no column t");
    ev.columns[5] = c;
    float v = ev.x[3 * 6 + 4];
    ev.x[3 * 6 + 4] = NAN;
    BAD(GS_ERR_NUMERIC, "row 3, column pz is not finite");
    ev.x[3 * 6 + 4] = v;
    bx[10] = 1; /* crossing 1 of 1 */
    BAD(GS_ERR_ARG, "row 10: crossing 1 is out of order or outside [0, 1)");
    ck_assert_int_eq(ds_hepmc3_write(path, &ev, NULL, 2, NULL, NULL), GS_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "no crossing index"));
    ck_assert_int_eq(ds_hepmc3_write(path, &ev, bx, 0, NULL, NULL), GS_ERR_ARG);
    int64_t dec[50];
    for (int i = 0; i < 50; i++)
        dec[i] = i < 25 ? 1 : 0;
    ck_assert_int_eq(ds_hepmc3_write(path, &ev, dec, 2, NULL, NULL), GS_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "row 25: crossing 0 is out of order"));
    ck_assert_int_eq(dir_entries(dir), 0);
    /* an unwritable place */
    char nodir[160];
    snprintf(nodir, sizeof nodir, "%s/missing/bg.hepmc3", dir);
    ck_assert_int_eq(ds_hepmc3_write(nodir, &ev, NULL, 1, NULL, NULL), GS_ERR_IO);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "missing/bg.hepmc3: cannot create"));
#undef BAD
    ds_events_free(&ev);
    gs_test_rmdir(dir);
}
END_TEST

/* ---- gansim-sample --format hepmc3 against its HDF5 output, same seed ---- */

static char g_dir[64];
static char g_model[160];

static void train_model(void)
{
    if (g_model[0])
        return;
    gs_test_tmpdir(g_dir, sizeof g_dir);
    ck_assert_int_eq(
        gs_test_run("%s/gansim-datagen luxe -n 6000 --seed 5 -o %s/d.h5 && "
                    "%s/gansim-train luxe --data %s/d.h5 --out %s/run --iters 16 "
                    "--set model.g_widths=16 --set model.d_widths=16 --set train.batch=32 "
                    "--set train.n_critic=1 --set train.kl_samples=200 --set split.min_rows=20 "
                    "2>/dev/null",
                    gs_test_bin(), g_dir, gs_test_bin(), g_dir, g_dir),
        0);
    snprintf(g_model, sizeof g_model, "%s/run/model.h5", g_dir);
}

static void cleanup(void)
{
    if (g_dir[0])
        gs_test_rmdir(g_dir);
}

START_TEST(t_sample_tool)
{
    train_model();
    enum { K = 3 };
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s --bunch-crossings %d --seed 7 "
                                 "-o %s/bg.h5 2>/dev/null",
                                 gs_test_bin(), g_model, K, g_dir),
                     0);
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s --bunch-crossings %d --seed 7 "
                                 "--format hepmc3 --plane-z 250 -o %s/bg.hepmc3 2>/dev/null",
                                 gs_test_bin(), g_model, K, g_dir),
                     0);
    char path[256];
    snprintf(path, sizeof path, "%s/bg.h5", g_dir);
    ds_events ev;
    ck_assert_int_eq(ds_events_read(path, NULL, &ev), 0);
    hid_t f;
    ck_assert_int_eq(gs_h5_open(path, 0, &f), 0);
    int64_t dims[1] = {ev.n};
    int64_t *bx = malloc((size_t)ev.n * sizeof *bx);
    ck_assert_int_eq(gs_h5_read_into(f, "bx", GS_H5_I64, 1, dims, bx), 0);
    gs_h5_close(f);

    snprintf(path, sizeof path, "%s/bg.hepmc3", g_dir);
    h3_file h;
    read_ok(path, &h);
    ck_assert_int_eq(h.n_events, K);
    ck_assert_int_eq(h.n, ev.n);
    ck_assert(h.units_gev_mm && h.parents_ok);
    /* per crossing: particle count, PDG ids in order, momentum and energy sums */
    const int64_t jp[3] = {col(&ev, "px"), col(&ev, "py"), col(&ev, "pz")};
    int64_t row = 0;
    for (int64_t b = 0; b < K; b++) {
        ck_assert_int_eq(h.event_number[b], b);
        int64_t nb = 0;
        double ref[4] = {0}, got[4] = {0}, ref_abs[4] = {0};
        for (; row < ev.n && bx[row] == b; row++, nb++) {
            ck_assert_int_eq(h.pid[row], ev.pdg[row]);
            double m, p2 = 0;
            ck_assert(gs_pdg_mass(ev.pdg[row], &m));
            for (int k = 0; k < 3; k++) {
                double q = ev.x[row * ev.f + jp[k]];
                ref[k] += q, ref_abs[k] += fabs(q), p2 += q * q;
            }
            ref[3] += sqrt(p2 + m * m), ref_abs[3] += sqrt(p2 + m * m);
            for (int k = 0; k < 4; k++)
                got[k] += h.p[4 * row + k];
            ck_assert_close(h.pos[4 * row + 2], 250.0, 0, 0);
        }
        ck_assert_int_eq(h.count[b], nb);
        ck_assert_int_gt(nb, 0);
        for (int k = 0; k < 4; k++)
            ck_assert_close(got[k], ref[k], 1e-12 * ref_abs[k], 0);
        if (b == 0)
            printf("hepmc3 vs h5, crossing 0: %lld particles, sum p = (%.9g, %.9g, %.9g) GeV "
                   "(h5 %.9g, %.9g, %.9g), sum E = %.9g GeV (h5 + PDG masses %.9g)\n",
                   (long long)nb, got[0], got[1], got[2], ref[0], ref[1], ref[2], got[3],
                   ref[3]);
    }
    ck_assert_int_eq(row, ev.n);
    ck_assert_str_eq(h.tool, "gansim");
    ck_assert_str_eq(h.model, g_model);
    ck_assert_str_eq(h.kind, "luxe_wgan");
    ck_assert_str_eq(h.seed, "7");
    ck_assert_close(h.plane_z, 250.0, 0, 0);
    if (getenv("GANSIM_HEPMC3_DUMP"))
        printf("%s", h.dump);
    h3_free(&h);
    free(bx);
    ds_events_free(&ev);
}
END_TEST

static Suite *hepmc3_suite(void)
{
    Suite *s = suite_create("hepmc3");
    TCase *tc = tcase_create("writer");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_roundtrip_toy);
    tcase_add_test(tc, t_stop);
    tcase_add_test(tc, t_units_and_z);
    tcase_add_test(tc, t_errors);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("tool");
    tcase_set_timeout(tt, 120);
    tcase_add_unchecked_fixture(tt, train_model, cleanup);
    tcase_add_test(tt, t_sample_tool);
    suite_add_tcase(s, tt);
    return s;
}

GS_TEST_MAIN(hepmc3_suite)

/* The embedding API (api/gansim.h) and the examples built against it. */
#include "api/gansim.h"
#include "core/gs_h5.h"
#include "testutil.h"

#include <omp.h>
#include <pthread.h>
#include <sys/wait.h>

#include "nn/nn.h"

static char g_dir[64];
static char g_model[160];

/* One tiny LUXE model for the whole suite, trained with the tools. */
static void train_model(void)
{
    if (g_model[0])
        return;
    gs_test_tmpdir(g_dir, sizeof g_dir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s/gansim-datagen luxe -n 6000 --seed 5 -o %s/d.h5 && "
             "%s/gansim-train luxe --data %s/d.h5 --out %s/run --iters 16 "
             "--set model.g_widths=16 --set model.d_widths=16 --set train.batch=32 "
             "--set train.n_critic=1 --set train.kl_samples=200 --set split.min_rows=20 "
             "--set train.min_steps=1 2>/dev/null",
             gs_test_bin(), g_dir, gs_test_bin(), g_dir, g_dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(g_model, sizeof g_model, "%s/run/model.h5", g_dir);
}

START_TEST(t_open_errors)
{
    gansim_model *m = (gansim_model *)1;
    ck_assert_int_ne(gansim_open("/nonexistent/model.h5", &m), 0);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(gansim_errmsg(), "/nonexistent/model.h5"));
    train_model();
    char data[128];
    snprintf(data, sizeof data, "%s/d.h5", g_dir); /* an event table, not a model */
    ck_assert_int_ne(gansim_open(data, &m), 0);
    ck_assert_ptr_nonnull(strstr(gansim_errmsg(), "not a gansim model"));
    ck_assert_int_ne(gansim_open(NULL, &m), 0);
    /* a model whose training was interrupted is refused unless asked for;
     * the finished one opens without warnings */
    ck_assert_int_eq(gansim_open(g_model, &m), 0);
    ck_assert_str_eq(gansim_model_warnings(m), "");
    gansim_close(m);
    char part[160];
    snprintf(part, sizeof part, "%s/partial.h5", g_dir);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp %s %s", g_model, part);
    ck_assert_int_eq(system(cmd), 0);
    hid_t f = H5Fopen(part, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    char *budget = NULL;
    ck_assert_int_eq(gs_h5_attr_read_str(f, ".", "part_budget", &budget), GS_OK);
    budget[0] = '3'; /* the first sub-model took fewer steps than planned */
    ck_assert_int_ge(H5Adelete(f, "part_steps"), 0);
    ck_assert_int_eq(gs_h5_attr_write_str(f, ".", "part_steps", budget), GS_OK);
    free(budget);
    H5Fclose(f);
    m = (gansim_model *)1;
    ck_assert_int_ne(gansim_open(part, &m), 0);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(gansim_errmsg(), "partial.h5: a partial model"));
    ck_assert_int_eq(gansim_open_ex(part, GANSIM_OPEN_ALLOW_PARTIAL, &m), 0);
    ck_assert_ptr_nonnull(strstr(gansim_model_warnings(m), "trained 3 of its"));
    float x[6];
    ck_assert_int_eq(gansim_sample_events(m, 1, 1, x, NULL), 0);
    gansim_close(m);
}
END_TEST

START_TEST(t_events_api)
{
    train_model();
    gansim_model *m, *m2;
    ck_assert_msg(gansim_open(g_model, &m) == 0, "%s", gansim_errmsg());
    ck_assert_int_eq(gansim_model_kind(m), GANSIM_EVENTS);
    ck_assert_int_eq(gansim_n_features(m), 6);
    ck_assert_str_eq(gansim_feature_name(m, 0), "x");
    ck_assert_str_eq(gansim_feature_name(m, 5), "t");
    ck_assert_str_eq(gansim_feature_unit(m, 5), "ns");
    ck_assert_ptr_null(gansim_feature_name(m, 6));
    ck_assert_ptr_null(gansim_feature_name(m, -1));
    ck_assert(gansim_particles_per_bx(m) > 0);
    ck_assert_str_eq(gansim_version(), GANSIM_VERSION);
    enum { N = 3000 };
    static float a[N * 6], b[N * 6];
    static int32_t pa[N], pb[N];
    ck_assert_int_eq(gansim_sample_events(m, N, 9, a, pa), 0);
    /* a second handle, same seed: same particles (determinism, no shared state) */
    ck_assert_int_eq(gansim_open(g_model, &m2), 0);
    ck_assert_int_eq(gansim_sample_events(m2, N, 9, b, pb), 0);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    ck_assert_int_eq(memcmp(pa, pb, sizeof pa), 0);
    ck_assert_int_eq(gansim_sample_events(m2, N, 10, b, NULL), 0); /* pdg optional */
    ck_assert_int_ne(memcmp(a, b, sizeof a), 0);
    for (int i = 0; i < N; i++)
        ck_assert(pa[i] == 2112 || pa[i] == 22 || pa[i] == 11 || pa[i] == -11);
    /* misuse is an error, not a crash */
    ck_assert_int_ne(gansim_sample_events(m, 0, 1, a, pa), 0);
    ck_assert_int_ne(gansim_sample_events(m, 10, 1, NULL, pa), 0);
    ck_assert_int_ne(gansim_sample_images(m, a, 1, 1, b), 0);
    ck_assert_ptr_nonnull(strstr(gansim_errmsg(), "not an image model"));
    gansim_close(m);
    gansim_close(m2);
    gansim_close(NULL);
}
END_TEST

static int run_example(const char *name)
{
    const char *dir = getenv("GANSIM_EXAMPLES");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/%s %s 20000 >/dev/null", dir ? dir : "build/examples", name,
             g_model);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(t_examples_run)
{
    train_model();
    ck_assert_int_eq(run_example("sample_events"), 0);
    ck_assert_int_eq(run_example("sample_threads"), 0);
}
END_TEST

START_TEST(t_images_api)
{
    train_model();
    char cmd[2048], path[160];
    snprintf(cmd, sizeof cmd,
             "%s/gansim-datagen zdc -n 200 --seed 3 -o %s/z.h5 >/dev/null && "
             "%s/gansim-train zdc --data %s/z.h5 --out %s/zr --iters 4 --set model.noise_dim=4 "
             "--set model.g_channels=8,4,4 --set model.d_channels=4,4,8 --set model.d_hidden=8 "
             "--set train.batch=8 --set train.eval_rows=20 --set train.eval_every=2 2>/dev/null",
             gs_test_bin(), g_dir, gs_test_bin(), g_dir, g_dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof path, "%s/zr/model.h5", g_dir);
    gansim_model *m;
    ck_assert_msg(gansim_open(path, &m) == 0, "%s", gansim_errmsg());
    ck_assert_int_eq(gansim_model_kind(m), GANSIM_IMAGES);
    ck_assert_int_eq(gansim_n_conditions(m), 9);
    ck_assert_str_eq(gansim_condition_name(m, 0), "E");
    ck_assert_str_eq(gansim_condition_name(m, 8), "charge");
    ck_assert_ptr_null(gansim_condition_name(m, 9));
    int64_t h, w;
    gansim_image_shape(m, &h, &w);
    ck_assert_int_eq(h, 56);
    ck_assert_int_eq(w, 30);
    ck_assert_int_eq(gansim_n_features(m), 0);
    /* conditions: a 1000 GeV proton along z from the origin, twice */
    float cond[2 * 9] = {1000, 0, 0, 0, 0, 0, 1000, 0.938f, 1, 1000, 0, 0, 0, 0, 0, 1000, 0.938f, 1};
    static float a[2 * 56 * 30], b[2 * 56 * 30];
    ck_assert_msg(gansim_sample_images(m, cond, 2, 4, a) == 0, "%s", gansim_errmsg());
    ck_assert_int_eq(gansim_sample_images(m, cond, 2, 4, b), 0);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0); /* seeded */
    for (int i = 0; i < 2 * 56 * 30; i++)
        ck_assert(isfinite(a[i]) && a[i] >= 0); /* photon counts */
    ck_assert_int_ne(gansim_sample_images(m, NULL, 2, 4, a), 0);
    ck_assert_int_ne(gansim_sample_events(m, 2, 4, a, NULL), 0);
    gansim_close(m);
}
END_TEST

/* gansim_set_threads is process-wide: a thread started after the call sees
 * the count, its OpenMP teams inside gansim's bracket have that size, its
 * own OpenMP setting is back afterwards, and what it samples equals what
 * the main thread sampled with another count. */
typedef struct {
    gansim_model *m;
    int seen, team, inside, after, rc;
    float *x;
    int32_t *pdg;
} thread_probe;

enum { PROBE_N = 9000 }; /* 3 chunks of 4096: a lone last chunk at 2 threads */

static void *probe(void *arg)
{
    thread_probe *p = arg;
    p->seen = gansim_get_threads();
    const int before = omp_get_max_threads();
    const int saved = nn_threads_begin();
    p->inside = omp_get_max_threads();
#pragma omp parallel
#pragma omp single
    p->team = omp_get_num_threads();
    nn_threads_end(saved);
    p->after = omp_get_max_threads() == before;
    p->rc = gansim_sample_events(p->m, PROBE_N, 77, p->x, p->pdg);
    return NULL;
}

START_TEST(t_threads_process_wide)
{
    train_model();
    gansim_model *m;
    ck_assert_int_eq(gansim_open(g_model, &m), 0);
    static float a[PROBE_N * 6], b[PROBE_N * 6];
    static int32_t pa[PROBE_N], pb[PROBE_N];
    gansim_set_threads(1);
    ck_assert_int_eq(gansim_get_threads(), 1);
    ck_assert_int_eq(gansim_sample_events(m, PROBE_N, 77, a, pa), 0);
    for (int n = 2; n <= 3; n++) {
        gansim_set_threads(n);
        thread_probe p = {.m = m, .x = b, .pdg = pb};
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, probe, &p), 0);
        ck_assert_int_eq(pthread_join(t, NULL), 0);
        ck_assert_int_eq(p.seen, n);
        ck_assert_int_eq(p.inside, n);
        ck_assert_int_eq(p.team, n);
        ck_assert(p.after);
        ck_assert_msg(p.rc == 0, "%s", gansim_errmsg());
        ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
        ck_assert_int_eq(memcmp(pa, pb, sizeof pa), 0);
    }
    gansim_set_threads(0); /* below 1 means 1 */
    ck_assert_int_eq(gansim_get_threads(), 1);
    gansim_close(m);
}
END_TEST

/* Runs the shell command and returns its exit status. */
static int sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* gansim-sample's output file is the same, byte for byte, for --threads 1,
 * 2, 3, for OMP_NUM_THREADS unset, 1, 2, and on one CPU: events, bunch
 * crossings and images. */
START_TEST(t_cli_thread_independent)
{
    train_model();
    char zmodel[160], cond[160];
    snprintf(zmodel, sizeof zmodel, "%s/zr/model.h5", g_dir);
    snprintf(cond, sizeof cond, "%s/z.h5", g_dir);
    if (access(zmodel, F_OK) != 0) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd,
                 "%s/gansim-datagen zdc -n 200 --seed 3 -o %s >/dev/null && "
                 "%s/gansim-train zdc --data %s --out %s/zr --iters 4 --set model.noise_dim=4 "
                 "--set model.g_channels=8,4,4 --set model.d_channels=4,4,8 "
                 "--set model.d_hidden=8 --set train.batch=8 --set train.eval_rows=20 "
                 "--set train.eval_every=2 >/dev/null 2>&1",
                 gs_test_bin(), cond, gs_test_bin(), cond, g_dir);
        ck_assert_int_eq(sh(cmd), 0);
    }
    const char *jobs[] = {"-n 9000", "--bunch-crossings 3", NULL}; /* NULL: images */
    static const struct { const char *env, *arg; } how[] = {
        {"env -u OMP_NUM_THREADS", ""},
        {"env -u OMP_NUM_THREADS", "--threads 1"},
        {"env -u OMP_NUM_THREADS", "--threads 2"},
        {"env -u OMP_NUM_THREADS", "--threads 3"},
        {"env OMP_NUM_THREADS=1", ""},
        {"env OMP_NUM_THREADS=2", ""},
        {"taskset -c 0 env -u OMP_NUM_THREADS", ""}, /* one CPU */
    };
    const int n_how = (int)(sizeof how / sizeof *how);
    const bool have_taskset = sh("taskset -c 0 true >/dev/null 2>&1") == 0;
    for (int j = 0; j < 3; j++)
        for (int h = 0; h < n_how; h++) {
            if (!strncmp(how[h].env, "taskset", 7) && !have_taskset)
                continue;
            char cmd[2048], what[512];
            if (jobs[j])
                snprintf(what, sizeof what, "--model %s %s", g_model, jobs[j]);
            else
                snprintf(what, sizeof what, "--model %s --conditions %s -k 3", zmodel, cond);
            snprintf(cmd, sizeof cmd, "%s %s/gansim-sample %s %s --seed 5 -o %s/t%d.h5 "
                     ">/dev/null 2>&1", how[h].env, gs_test_bin(), what, how[h].arg, g_dir, h);
            ck_assert_msg(sh(cmd) == 0, "%s", cmd);
            snprintf(cmd, sizeof cmd, "cmp -s %s/t0.h5 %s/t%d.h5", g_dir, g_dir, h);
            ck_assert_msg(h == 0 || sh(cmd) == 0, "'%s %s' gives other bytes than the first "
                          "run (%s)", how[h].env, how[h].arg, jobs[j] ? jobs[j] : "images");
        }
}
END_TEST

/* Training with a fixed slice count (train.slices) is the same run, bit for
 * bit, at 1 and 2 threads: each slice always runs single-threaded. */
START_TEST(t_train_slices_thread_independent)
{
    train_model();
    for (int t = 1; t <= 2; t++) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd,
                 "%s/gansim-train luxe --data %s/d.h5 --out %s/sl%d --iters 6 --threads %d "
                 "--set train.slices=2 --set model.g_widths=16 --set model.d_widths=16 "
                 "--set train.batch=128 --set train.n_critic=1 --set train.kl_samples=200 "
                 "--set split.min_rows=20 >/dev/null 2>&1",
                 gs_test_bin(), g_dir, g_dir, t, t);
        ck_assert_msg(sh(cmd) == 0, "%s", cmd);
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "h5diff -q %s/sl1/model.h5 %s/sl2/model.h5", g_dir, g_dir);
    ck_assert_msg(sh(cmd) == 0, "train.slices=2 at 1 and 2 threads gave different models");
}
END_TEST

/* docs/embedding.md's Geant4 sketch, extracted and built by the Makefile
 * against tests/g4stub/ (run_sketch.cpp checks it; see there). The image
 * model t_images_api trained, when present, must be refused as the wrong kind. */
START_TEST(t_g4_sketch)
{
    train_model();
    const char *dir = getenv("GANSIM_EXAMPLES");
    char zdc[160];
    snprintf(zdc, sizeof zdc, "%s/zr/model.h5", g_dir);
    ck_assert_int_eq(gs_test_run("%s/g4_sketch %s %s", dir ? dir : "build/examples", g_model,
                                 access(zdc, R_OK) == 0 ? zdc : ""),
                     0);
}
END_TEST

static void cleanup(void)
{
    if (g_dir[0])
        gs_test_rmdir(g_dir);
}

static Suite *embed_suite(void)
{
    Suite *s = suite_create("embed");
    TCase *tc = tcase_create("embed");
    tcase_set_timeout(tc, 120);
    /* one model shared by the tests of this (unforked-safe) case */
    tcase_add_unchecked_fixture(tc, train_model, cleanup);
    tcase_add_test(tc, t_open_errors);
    tcase_add_test(tc, t_events_api);
    tcase_add_test(tc, t_images_api);
    tcase_add_test(tc, t_examples_run);
    tcase_add_test(tc, t_threads_process_wide);
    tcase_add_test(tc, t_cli_thread_independent);
    tcase_add_test(tc, t_train_slices_thread_independent);
    tcase_add_test(tc, t_g4_sketch); /* after t_images_api: uses its image model */
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(embed_suite)

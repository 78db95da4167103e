/* Data-parallel training over MPI ranks (models/md_dist.h, md_wgan's
 * slices across ranks, gansim-train under mpirun).
 *
 * P ranks x 1 slice must compute what 1 process x P slices computes: the
 * same batch slices, gradients summed over them, the same optimizer step on
 * every rank. Checked after K steps on the losses of every step, on the
 * parameters, the optimizer state and the RNG (which shows every rank drew
 * every random number), and by a parameter hash compared across ranks. The
 * MPI side runs this binary under mpirun with GANSIM_TEST_DIST set. */
#include <limits.h>

#include "comm/cm_mpi.h"
#include "core/gs_h5.h"
#include "models/md_dist.h"
#include "models/md_wgan.h"
#include "testutil.h"

#include "alloc_count.h"

enum { K_STEPS = 4, N_ROWS = 600 };

static md_wgan_cfg dist_cfg(int shards, int rank, int n_ranks)
{
    return (md_wgan_cfg){.n_features = 6, .noise_dim = 8,
                         .g = {.depth = 2, .widths = {32, 24}, .slope = 0.2f},
                         .d = {.depth = 2, .widths = {32, 24}, .slope = 0.2f},
                         .lambda_gp = 10, .n_critic = 2, .batch = 150, .lr_g = 1e-3f,
                         .lr_d = 1e-3f, .beta1 = 0.5f, .beta2 = 0.9f, .ema = 0.9f,
                         .shards = shards, .rank = rank, .n_ranks = n_ranks};
}

static void dist_data(float *data)
{
    gs_rng r;
    gs_rng_seed(&r, 7);
    gs_rng_fill_normal(&r, data, N_ROWS * 6, 0.5f, 2.0f);
}

/* ---- one rank of an mpirun job: K steps, losses printed, state saved ---- */
static int child_main(const char *out)
{
    gs_comm *cm;
    md_dist *d;
    if (cm_mpi_init(NULL, NULL, &cm) || md_dist_new(cm, 1, &d))
        return 3;
    nn_set_threads(1);
    const int r = gs_comm_rank(cm), p = gs_comm_size(cm);
    static float data[N_ROWS * 6];
    dist_data(data);
    md_sampler s;
    md_wgan w;
    md_wgan_cfg c = dist_cfg(p, r, p); /* p slices of the whole batch: one each */
    if (md_sampler_init(&s, N_ROWS, NULL) || md_wgan_init(&w, &c, 11))
        return 4;
    md_parallel par;
    md_dist_parallel(d, &par);
    w.reduce = (md_wgan_reduce){par.reduce_grads, par.ud};
    for (int k = 0; k < K_STEPS; k++) {
        md_wgan_losses l;
        if (md_wgan_step(&w, data, &s, &l)) {
            printf("rank %d FAIL step %d: %s\n", r, k, gs_errmsg());
            return 5;
        }
        printf("rank %d step %d %.9g %.9g %.9g %.9g\n", r, k, l.loss_d, l.loss_g, l.gp, l.wdist);
    }
    int same = md_dist_same_params(d, &w.gp, NULL) == 1 && md_dist_same_params(d, &w.dp, NULL) == 1 &&
               md_dist_same_params(d, &w.ep, NULL) == 1;
    printf("rank %d layout '%s' same %d rows %lld..%lld\n", r, md_dist_layout(d), same,
           (long long)w.sh[0].r0, (long long)(w.sh[0].r0 + w.sh[0].rows));
    /* the check sees one changed bit on one rank */
    float keep = w.dp.p[0]->data[0];
    if (r == p - 1)
        w.dp.p[0]->data[0] = nextafterf(keep, 1e30f);
    printf("rank %d perturbed same %d\n", r, md_dist_same_params(d, &w.dp, NULL));
    w.dp.p[0]->data[0] = keep;
    if (r == 0) {
        hid_t f;
        if (gs_h5_create(out, &f) || md_wgan_save(&w, f) || gs_h5_close(f))
            return 6;
    }
    fflush(stdout);
    md_wgan_free(&w);
    md_sampler_free(&s);
    md_dist_free(d);
    return 0;
}

static char self_exe[PATH_MAX];

static double max_rel_diff(const nn_params *a, const nn_params *b)
{
    double d = 0, scale = 1e-30;
    for (int i = 0; i < a->n; i++)
        for (int64_t k = 0; k < a->p[i]->n; k++) {
            d = fmax(d, fabs((double)a->p[i]->data[k] - b->p[i]->data[k]));
            scale = fmax(scale, fabs((double)a->p[i]->data[k]));
        }
    return d / scale;
}

/* P ranks x 1 slice against 1 process x P slices. */
static void check_ranks(int np)
{
    char dir[64], out[128], cmd[8192];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/w.h5", dir);
    snprintf(cmd, sizeof cmd, "GANSIM_TEST_DIST='%s' timeout -k 5 120 %s -np %d '%s' > %s/o.txt 2>&1",
             out, gs_test_mpirun(), np, self_exe, dir);
    const int rc = gs_test_run("%s", cmd);
    snprintf(cmd, sizeof cmd, "%s/o.txt", dir);
    FILE *f = fopen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    static char text[65536];
    size_t got = fread(text, 1, sizeof text - 1, f);
    text[got] = '\0';
    fclose(f);
    ck_assert_msg(rc == 0, "mpirun -np %d failed:\n%s", np, text);

    /* the reference, in this process */
    nn_set_threads(np);
    static float data[N_ROWS * 6];
    dist_data(data);
    md_sampler s;
    md_wgan ref, back;
    md_wgan_cfg c = dist_cfg(np, 0, 1), cb = dist_cfg(1, 0, 1);
    ck_assert_int_eq(md_sampler_init(&s, N_ROWS, NULL), GS_OK);
    ck_assert_int_eq(md_wgan_init(&ref, &c, 11), GS_OK);
    ck_assert_int_eq(ref.n_shards, np);
    for (int k = 0; k < K_STEPS; k++) {
        md_wgan_losses l;
        ck_assert_int_eq(md_wgan_step(&ref, data, &s, &l), GS_OK);
        for (int r = 0; r < np; r++) {
            char key[64];
            snprintf(key, sizeof key, "rank %d step %d ", r, k);
            const char *line = strstr(text, key);
            ck_assert_msg(line, "no '%s' in:\n%s", key, text);
            double v[4];
            ck_assert_int_eq(sscanf(line + strlen(key), "%lf %lf %lf %lf", &v[0], &v[1], &v[2],
                                    &v[3]), 4);
            const double want[4] = {l.loss_d, l.loss_g, l.gp, l.wdist};
            for (int j = 0; j < 4; j++)
                ck_assert_msg(fabs(v[j] - want[j]) <= 1e-5 * (1e-3 + fabs(want[j])),
                              "%d ranks, rank %d step %d loss %d: %.9g vs 1 process x %d "
                              "slices %.9g", np, r, k, j, v[j], np, want[j]);
        }
    }
    /* the ranks agree among themselves ... */
    char key[64];
    for (int r = 0; r < np; r++) {
        snprintf(key, sizeof key, "rank %d layout '%d ranks x 1 thread' same 1", r, np);
        ck_assert_msg(strstr(text, key), "no '%s' in:\n%s", key, text);
    }
    for (int r = 0; r < np; r++) {
        snprintf(key, sizeof key, "rank %d perturbed same 0", r);
        ck_assert_msg(strstr(text, key), "no '%s' in:\n%s", key, text);
    }
    /* ... and with the single process: parameters, EMA, optimizer, RNG */
    ck_assert_int_eq(md_wgan_init(&back, &cb, 99), GS_OK);
    hid_t h;
    ck_assert_int_eq(gs_h5_open(out, 0, &h), GS_OK);
    ck_assert_int_eq(md_wgan_load(&back, h), GS_OK);
    gs_h5_close(h);
    ck_assert_int_eq(back.step, K_STEPS);
    ck_assert_int_eq(memcmp(&back.rng, &ref.rng, sizeof ref.rng), 0);
    const double dg = max_rel_diff(&back.gp, &ref.gp), dd = max_rel_diff(&back.dp, &ref.dp);
    const double de = max_rel_diff(&back.ep, &ref.ep);
    ck_assert_msg(dg <= 1e-5 && dd <= 1e-5 && de <= 1e-5, "parameters: G %.3g D %.3g EMA %.3g",
                  dg, dd, de);
    nn_optim *o[2] = {&back.od, &ref.od};
    ck_assert_int_eq(o[0]->t, o[1]->t);
    fprintf(stderr, "test_dist: %d ranks x 1 vs 1 x %d slices after %d steps: max rel. param "
            "diff G %.2g D %.2g EMA %.2g\n", np, np, K_STEPS, dg, dd, de);
    md_wgan_free(&back);
    md_wgan_free(&ref);
    md_sampler_free(&s);
    gs_test_rmdir(dir);
}

START_TEST(t_two_ranks) { check_ranks(2); }
END_TEST

START_TEST(t_three_ranks) { check_ranks(3); }
END_TEST

/* The whole tool: mpirun -np 2 gansim-train (1 thread each) writes the model
 * that gansim-train --threads 2 writes, says so in its layout, and only
 * rank 0 prints and writes. */
START_TEST(t_train_tool)
{
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    const char *b = gs_test_bin();
    const char *set = "--set split.regions=none --set split.species=false "
                      "--set model.g_widths=32,32 --set model.d_widths=32,32 "
                      "--set train.batch=128 --set train.kl_every=3 --set train.kl_samples=2000 "
                      "--iters 6";
    ck_assert_int_eq(gs_test_run("%s/gansim-datagen luxe -n 3000 --seed 4 -o %s/d.h5 "
                                 ">/dev/null 2>&1", b, dir), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-train luxe --data %s/d.h5 --out %s/one --threads 2 "
                                 "%s >/dev/null 2>&1", b, dir, dir, set), 0);
    ck_assert_int_eq(gs_test_run("timeout -k 5 300 %s -np 2 %s/gansim-train luxe --data %s/d.h5 "
                                 "--out %s/two --threads 1 %s > %s/two.txt 2>&1",
                                 gs_test_mpirun(), b, dir, dir, set, dir), 0);
    /* parameters: 1e-5 (in practice equal: a + b = b + a) */
    ck_assert_int_eq(gs_test_run("h5diff -d 1e-5 %s/one/model.h5 %s/two/model.h5 /sub0/G "
                                 "/sub0/G >/dev/null && h5diff -d 1e-5 %s/one/last.h5 "
                                 "%s/two/last.h5 /sub0/train /sub0/train >/dev/null",
                                 dir, dir, dir, dir), 0);
    /* losses and KL in the log: the same to 1e-5 (the ranks' losses are summed
     * in float with the gradients, one process sums doubles: the 6th printed
     * digit may differ) */
    ck_assert_int_eq(gs_test_run("cd %s && grep '^sub=' one/train.log | sed 's/ steps_per_s.*//; "
                                 "s/[a-z_]*=//g' > a && grep '^sub=' two/train.log | sed "
                                 "'s/ steps_per_s.*//; s/[a-z_]*=//g' > b && test -s a && "
                                 "test $(wc -l < a) -eq $(wc -l < b) && paste -d' ' a b | awk "
                                 "'{h = NF / 2; for (i = 2; i <= h; i++) { d = $i - $(i + h); "
                                 "if (d < 0) d = -d; m = $i < 0 ? -$i : $i; if (d > 1e-5 * m + "
                                 "1e-9) exit 1 } }'", dir), 0);
    ck_assert_int_eq(gs_test_run("grep -q '^# layout: 2 ranks x 1 thread$' %s/two/train.log && "
                                 "grep -q '^# layout: 1 process x 2 threads$' %s/one/train.log",
                                 dir, dir), 0);
    ck_assert_int_eq(gs_test_run("h5dump -a layout %s/two/model.h5 | grep -q '2 ranks x 1 "
                                 "thread'", dir), 0);
    /* one start line (rank 0's), naming the layout */
    ck_assert_int_eq(gs_test_run("test $(grep -c 'gansim-train: .*2 ranks x 1 thread -> ' "
                                 "%s/two.txt) -eq 1 && test $(grep -c 'done in' %s/two.txt) "
                                 "-eq 1", dir, dir), 0);
    gs_test_rmdir(dir);
}
END_TEST

/* Tiny luxe runs for the fault tests: one sub-model, 16-wide nets. */
static const char *tiny = "--set split.regions=none --set split.species=false "
                          "--set model.g_widths=16 --set model.d_widths=16 --set train.batch=64 "
                          "--set train.n_critic=1 --set train.kl_samples=500 "
                          "--set train.ckpt_every=1 --set train.kl_every=50";

/* Shell: starts `mpirun -np 2 gansim-train ... --out DIR/r` in the
 * background, waits for its first checkpoint, sends SIGNAL to rank 1 and
 * waits for the job; DIR/rc gets mpirun's exit status, DIR/secs the seconds
 * from the signal to the end. */
static int run_and_signal_ex(const char *dir, const char *signal, long long iters,
                             const char *opts)
{
    const char *b = gs_test_bin();
    return gs_test_run(
        "cd %s && ( timeout -k 5 120 %s -np 2 %s/gansim-train luxe --data d.h5 --out r "
        "--threads 1 --iters %lld %s > out.txt 2>&1; echo $? > rc ) & "
        "cd %s && for i in $(seq 1200); do [ -f r/last.h5 ] && break; sleep 0.05; done; "
        "p1=; for p in $(pgrep -f 'gansim-train luxe --data d.h5 --out r '); do "
        "  tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && p1=$p; "
        "done; test -n \"$p1\" || { echo no rank 1 >&2; exit 1; }; "
        "t0=$(date +%%s); kill -%s $p1; wait; echo $(( $(date +%%s) - t0 )) > secs",
        dir, gs_test_mpirun(), b, iters, opts, dir, signal);
}

static int run_and_signal(const char *dir, const char *signal, long long iters)
{
    return run_and_signal_ex(dir, signal, iters, tiny);
}

/* Shell: one process `gansim-train ... --out DIR/r OPTS` in the background,
 * SIGINT once its first checkpoint is there; DIR/rc gets its exit status. */
static int run_one_and_interrupt(const char *dir, const char *opts)
{
    return gs_test_run(
        "cd %s && ( %s/gansim-train luxe --data d.h5 --out r %s > out.txt 2>&1 & echo $! > pid; "
        "wait $!; echo $? > rc ) & "
        "cd %s && for i in $(seq 1200); do [ -f r/last.h5 ] && break; sleep 0.05; done; "
        "kill -INT $(cat pid); wait", dir, gs_test_bin(), opts, dir);
}

/* The first half of every interrupt-then-resume test: DIR/d.h5, N toy LUXE
 * particles of SEED, and DIR/ref, the uninterrupted one-process run
 * `gansim-train luxe --data d.h5 --out ref OPTS` the resumed one must end at. */
static void data_and_reference(const char *dir, int n, int seed, const char *opts)
{
    const char *b = gs_test_bin();
    ck_assert_int_eq(gs_test_run("%s/gansim-datagen luxe -n %d --seed %d -o %s/d.h5 "
                                 ">/dev/null 2>&1", b, n, seed, dir), 0);
    ck_assert_int_eq(gs_test_run("cd %s && %s/gansim-train luxe --data d.h5 --out ref %s "
                                 ">/dev/null 2>&1", dir, b, opts), 0);
}

/* The second half of every interrupt-then-resume test, after run_and_signal
 * or run_one_and_interrupt: the interrupted run ended with 0 or 130 (DIR/rc)
 * and no rank-prefixed errors (DIR/out.txt). When the signal stopped it,
 * CHECK_STOPPED (a shell command in DIR, or NULL) must hold, then
 * `cd DIR && RESUME` continues DIR/r and its train.log must say
 * "# resumed as: LAYOUT"; when it ended before the signal reached it there
 * is nothing to resume (said on stderr). Either way the caller then compares
 * DIR/r with the uninterrupted run. */
static void resume_if_stopped(const char *dir, const char *check_stopped, const char *resume,
                              const char *layout)
{
    ck_assert_int_eq(gs_test_run("grep -qx 0 %s/rc || grep -qx 130 %s/rc", dir, dir), 0);
    ck_assert_int_eq(gs_test_run("test $(grep -c 'rank [01]:' %s/out.txt) -eq 0", dir), 0);
    if (gs_test_run("grep -qx 130 %s/rc || grep -q interrupted %s/out.txt", dir, dir) != 0) {
        fprintf(stderr, "test_dist: the run ended before SIGINT reached it (no resume tested)\n");
        return;
    }
    if (check_stopped)
        ck_assert_int_eq(gs_test_run("cd %s && %s", dir, check_stopped), 0);
    ck_assert_int_eq(gs_test_run("cd %s && %s >/dev/null 2>&1 && grep -qx '# resumed as: %s' "
                                 "r/train.log", dir, resume, layout), 0);
}

/* SIGINT to rank 1 only: both ranks stop at the same step after one
 * checkpoint; the run resumes in ONE process with 2 threads (the same 2
 * slices) and ends where an uninterrupted run ends, bit for bit. */
START_TEST(t_interrupt_rank1_resume_other_p)
{
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    const char *b = gs_test_bin();
    char opts[1024];
    snprintf(opts, sizeof opts, "--threads 2 --iters 300 %s", tiny);
    data_and_reference(dir, 3000, 5, opts);
    ck_assert_int_eq(run_and_signal(dir, "INT", 300), 0);
    /* if the run ended first there is nothing to resume, but it must still match */
    char resume[1024];
    snprintf(resume, sizeof resume, "%s/gansim-train luxe --data d.h5 --out r --resume --threads 2",
             b);
    resume_if_stopped(dir, NULL, resume, "1 process x 2 threads");
    ck_assert_int_eq(gs_test_run("h5diff -d 1e-5 %s/ref/model.h5 %s/r/model.h5 /sub0/G /sub0/G",
                                 dir, dir), 0);
    gs_test_rmdir(dir);
}
END_TEST

/* Data parallelism resumed with MORE ranks: one process x 2 threads
 * interrupted, resumed as 2 ranks x 1 thread (the same 2 slices of the same
 * global batch; train.slices = 2 fixes them whatever the layout), ends where
 * the uninterrupted one-process run ends (to 1e-5: the slices' gradients are
 * summed in another order). */
START_TEST(t_data_resume_more_ranks)
{
    char dir[64], opts[1024];
    gs_test_tmpdir(dir, sizeof dir);
    const char *b = gs_test_bin();
    snprintf(opts, sizeof opts, "--threads 2 --iters 300 --set train.slices=2 %s", tiny);
    data_and_reference(dir, 3000, 5, opts);
    ck_assert_int_eq(run_one_and_interrupt(dir, opts), 0);
    char resume[1024];
    snprintf(resume, sizeof resume, "timeout -k 5 120 %s -np 2 %s/gansim-train luxe --data d.h5 "
             "--out r --resume --threads 1", gs_test_mpirun(), b);
    resume_if_stopped(dir, NULL, resume, "2 ranks x 1 thread");
    ck_assert_int_eq(gs_test_run("h5diff -d 1e-5 %s/ref/model.h5 %s/r/model.h5 /sub0/G /sub0/G "
                                 "&& h5diff -d 1e-5 %s/ref/last.h5 %s/r/last.h5 /sub0/train "
                                 "/sub0/train", dir, dir, dir, dir), 0);
    gs_test_rmdir(dir);
}
END_TEST

/* ---- --distribute submodels ---------------------------------------------------------- */
/* Five sub-models (inner and outer ring, species) of tiny nets. */
static const char *subs = "--set model.g_widths=16 --set model.d_widths=16 --set train.batch=64 "
                          "--set train.n_critic=1 --set train.kl_samples=500 "
                          "--set train.kl_every=7 --set train.min_steps=5 "
                          "--set split.min_species_rows=300";

/* Every sub-model group of dir/a's and dir/b's model.h5 and last.h5 holds the same
 * bytes (h5diff without a tolerance: exact); at least 3 of them. */
static int same_submodels(const char *dir, const char *a, const char *b)
{
    return gs_test_run("cd %s && n=$(h5dump -A -a n_sub %s/model.h5 | grep -o '(0): [0-9]*' | cut -d' ' "
                       "-f2); test \"$n\" -ge 3 || exit 1; for k in $(seq 0 $((n - 1))); do "
                       "h5diff %s/model.h5 %s/model.h5 /sub$k /sub$k >/dev/null && h5diff "
                       "%s/last.h5 %s/last.h5 /sub$k /sub$k >/dev/null || { echo sub$k differs "
                       ">&2; exit 1; }; done", dir, a, a, b, a, b);
}

/* 2 ranks each training whole sub-models give the one-process model bit for
 * bit (each sub-model's random streams depend on the seed and the sub-model
 * alone), the same train.log records, and say so in the log and model. */
START_TEST(t_submodels_equal)
{
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    const char *b = gs_test_bin();
    ck_assert_int_eq(gs_test_run("%s/gansim-datagen luxe -n 6000 --seed 4 -o %s/d.h5 "
                                 ">/dev/null 2>&1", b, dir), 0);
    ck_assert_int_eq(gs_test_run("cd %s && %s/gansim-train luxe --data d.h5 --out one --threads 1 "
                                 "--iters 60 %s >/dev/null 2>&1", dir, b, subs), 0);
    ck_assert_int_eq(gs_test_run("cd %s && timeout -k 5 120 %s -np 2 %s/gansim-train luxe --data "
                                 "d.h5 --out two --threads 1 --iters 60 --distribute submodels %s "
                                 "> two.txt 2>&1", dir, gs_test_mpirun(), b, subs), 0);
    ck_assert_int_eq(same_submodels(dir, "one", "two"), 0);
    /* the same records (each rank's, gathered at checkpoints: sorted) */
    ck_assert_int_eq(gs_test_run("cd %s && grep '^sub=' one/train.log | sed 's/ steps_per_s.*//' "
                                 "| sort > a && grep '^sub=' two/train.log | sed 's/ steps_per_s"
                                 ".*//' | sort > b && cmp -s a b && test $(wc -l < a) -ge 5", dir),
                     0);
    ck_assert_int_eq(gs_test_run("cd %s && grep -q '^# layout: 2 ranks x 1 thread, sub-models "
                                 "distributed$' two/train.log && grep -q '^# rank 0 trains ' "
                                 "two/train.log && grep -q '^# rank 1 trains ' two/train.log && "
                                 "h5dump -a layout two/model.h5 | grep -q 'sub-models distributed'"
                                 " && test $(grep -c 'sub-models distributed -> ' two.txt) -eq 1",
                                 dir), 0);
    /* one model (zdc) has nothing to distribute: a usage error, nothing written */
    ck_assert_int_eq(gs_test_run("%s/gansim-datagen zdc -n 50 --seed 4 -o %s/z.h5 >/dev/null 2>&1",
                                 b, dir), 0);
    ck_assert_int_eq(gs_test_run("cd %s && %s/gansim-train zdc --data z.h5 --out z --distribute "
                                 "submodels 2> z.txt; test $? -eq 2 && grep -q 'one model' z.txt "
                                 "&& test ! -e z", dir, b), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-train luxe --data %s/d.h5 --out %s/x --distribute "
                                 "model 2>/dev/null; test $? -eq 2", b, dir, dir), 0);
    gs_test_rmdir(dir);
}
END_TEST

/* SIGINT to rank 1 of a sub-model-distributed run: both stop after one
 * checkpoint that rank 0 assembles from both ranks' sub-models; ONE process
 * resumes it and ends with the uninterrupted one-process model, bit for bit. */
START_TEST(t_submodels_interrupt_resume_one)
{
    char dir[64], opts[1024];
    gs_test_tmpdir(dir, sizeof dir);
    const char *b = gs_test_bin();
    snprintf(opts, sizeof opts, "--threads 1 --iters 400 --set train.ckpt_every=1 %s", subs);
    data_and_reference(dir, 6000, 4, opts);
    snprintf(opts, sizeof opts, "--distribute submodels --set train.ckpt_every=1 %s", subs);
    ck_assert_int_eq(run_and_signal_ex(dir, "INT", 400, opts), 0);
    char resume[1024];
    snprintf(resume, sizeof resume, "%s/gansim-train luxe --data d.h5 --out r --resume --threads 1",
             b);
    /* stopped: a partial model (some sub-model short of its budget) */
    resume_if_stopped(dir, "h5dump -a state r/model.h5 | grep -q partial", resume,
                      "1 process x 1 thread");
    ck_assert_int_eq(same_submodels(dir, "ref", "r"), 0);
    gs_test_rmdir(dir);
}
END_TEST

/* One process interrupted, resumed as 2 ranks with sub-models distributed
 * (by the steps each has left): the uninterrupted model, bit for bit. */
START_TEST(t_submodels_one_resume_two)
{
    char dir[64], opts[1024];
    gs_test_tmpdir(dir, sizeof dir);
    const char *b = gs_test_bin();
    snprintf(opts, sizeof opts, "--threads 1 --iters 400 --set train.ckpt_every=1 %s", subs);
    data_and_reference(dir, 6000, 4, opts);
    ck_assert_int_eq(run_one_and_interrupt(dir, opts), 0);
    char resume[1024];
    snprintf(resume, sizeof resume, "timeout -k 5 120 %s -np 2 %s/gansim-train luxe --data d.h5 "
             "--out r --resume --threads 1 --distribute submodels", gs_test_mpirun(), b);
    resume_if_stopped(dir, NULL, resume, "2 ranks x 1 thread, sub-models distributed");
    ck_assert_int_eq(same_submodels(dir, "ref", "r"), 0);
    gs_test_rmdir(dir);
}
END_TEST

/* A rank that dies (SIGKILL) ends the job within a bounded time (mpirun
 * sees it and stops the others); the last checkpoint is whole. */
START_TEST(t_kill_rank1)
{
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    const char *b = gs_test_bin();
    ck_assert_int_eq(gs_test_run("%s/gansim-datagen luxe -n 3000 --seed 5 -o %s/d.h5 "
                                 ">/dev/null 2>&1", b, dir), 0);
    ck_assert_int_eq(run_and_signal(dir, "KILL", 1000000), 0);
    ck_assert_int_ne(gs_test_run("grep -qx 0 %s/rc", dir), 0);
    ck_assert_int_eq(gs_test_run("test $(cat %s/secs) -le 30", dir), 0);
    ck_assert_int_eq(gs_test_run("h5dump -a state %s/r/last.h5 | grep -q training", dir), 0);
    /* the checkpoint's model.h5 is a half-trained model: refused unless asked for */
    ck_assert_int_ne(gs_test_run("%s/gansim-sample --model %s/r/model.h5 -n 100 -o %s/g.h5 "
                                 ">/dev/null 2>&1", b, dir, dir), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s/r/model.h5 -n 100 -o %s/g.h5 "
                                 "--allow-partial >/dev/null 2>&1", b, dir, dir), 0);
    gs_test_rmdir(dir);
}
END_TEST

/* ZDC over 2 ranks (batch norm per rank: not the one-process step, see
 * docs/scaling.md): with every regulariser on, the ranks' G and D stay
 * identical (checked by the kind at every step: ckpt_every = 1), the log
 * and model state the layout, and the model samples. */
START_TEST(t_zdc_two_ranks)
{
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    const char *b = gs_test_bin();
    ck_assert_int_eq(gs_test_run("%s/gansim-datagen zdc -n 300 --seed 4 -o %s/d.h5 >/dev/null "
                                 "2>&1", b, dir), 0);
    ck_assert_int_eq(gs_test_run(
        "timeout -k 5 300 %s -np 2 %s/gansim-train zdc --data %s/d.h5 --out %s/r --threads 1 "
        "--set model.g_channels=8,4,4 --set model.d_channels=4,4,8 --set model.d_hidden=8 "
        "--set train.batch=15 --set train.ckpt_every=1 --set train.eval_every=3 "
        "--set train.eval_rows=20 --set reg.sdi=true --set reg.aux=true --set reg.intensity=true "
        "--iters 4 > %s/out.txt 2>&1", gs_test_mpirun(), b, dir, dir, dir), 0);
    ck_assert_int_eq(gs_test_run("grep -q '^# layout: 2 ranks x 1 thread$' %s/r/train.log && "
                                 "grep -q 'step=4 ' %s/r/train.log && %s/gansim-sample --model "
                                 "%s/r/model.h5 --conditions %s/d.h5 -o %s/g.h5 2>/dev/null",
                                 dir, dir, b, dir, dir, dir), 0);
    gs_test_rmdir(dir);
}
END_TEST

/* A stand-in for a second rank that contributes zeros: the hooks pack,
 * "reduce" and unpack as under mpirun, without MPI. */
static int zero_allreduce(void *impl, void *buf, int64_t n, gs_comm_type t, gs_comm_op op)
{
    (void)impl, (void)buf, (void)n, (void)t, (void)op;
    return GS_OK;
}
static int zero_bcast(void *impl, void *buf, int64_t bytes, int root)
{
    (void)impl, (void)buf, (void)bytes, (void)root;
    return GS_OK;
}
static int zero_barrier(void *impl) { (void)impl; return GS_OK; }

/* A data-parallel step allocates nothing once warm: the all-reduce buffer
 * is allocated on first use and reused (the wrapper is first shown to
 * count). */
START_TEST(t_dist_step_no_malloc)
{
    const long before0 = n_alloc_calls;
    void *volatile probe = malloc(16); /* volatile: the pair may not be optimised away */
    free(probe);
    ck_assert_int_eq(n_alloc_calls - before0, 1); /* the wrapper counts */
    static const gs_comm_ops ops = {zero_allreduce, zero_bcast, zero_barrier, NULL, NULL, NULL};
    gs_comm two = {0, 2, &ops, NULL, "test"};
    md_dist *d;
    ck_assert_int_eq(md_dist_new(&two, 1, &d), GS_OK);
    static float data[N_ROWS * 6];
    dist_data(data);
    md_sampler s;
    md_wgan w;
    md_wgan_cfg c = dist_cfg(2, 0, 2);
    ck_assert_int_eq(md_sampler_init(&s, N_ROWS, NULL), GS_OK);
    ck_assert_int_eq(md_wgan_init(&w, &c, 11), GS_OK);
    md_parallel par;
    md_dist_parallel(d, &par);
    ck_assert_ptr_nonnull(par.reduce_grads);
    w.reduce = (md_wgan_reduce){par.reduce_grads, par.ud};
    md_wgan_losses l;
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(md_wgan_step(&w, data, &s, &l), GS_OK);
    int rc = GS_OK;
    const long before = n_alloc_calls;
    for (int i = 0; i < 4; i++)
        rc |= md_wgan_step(&w, data, &s, &l);
    rc |= par.any(par.ud, 0);
    const long calls = n_alloc_calls - before;
    ck_assert_int_eq(rc, GS_OK);
    ck_assert_int_eq(calls, 0);
    ck_assert_int_gt(md_dist_get_stats(d).calls, 0);
    md_wgan_free(&w);
    md_sampler_free(&s);
    md_dist_free(d);
}
END_TEST

static Suite *dist_suite(void)
{
    Suite *s = suite_create("dist");
    TCase *one = tcase_create("hooks");
    tcase_add_test(one, t_dist_step_no_malloc);
    suite_add_tcase(s, one);
    TCase *tc = tcase_create("mpi");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, t_two_ranks);
    tcase_add_test(tc, t_three_ranks);
    tcase_add_test(tc, t_train_tool);
    tcase_add_test(tc, t_interrupt_rank1_resume_other_p);
    tcase_add_test(tc, t_kill_rank1);
    tcase_add_test(tc, t_zdc_two_ranks);
    tcase_add_test(tc, t_data_resume_more_ranks);
    tcase_add_test(tc, t_submodels_equal);
    tcase_add_test(tc, t_submodels_interrupt_resume_one);
    tcase_add_test(tc, t_submodels_one_resume_two);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *out = getenv("GANSIM_TEST_DIST");
    if (out && *out)
        return child_main(out);
    ssize_t k = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (k <= 0)
        return 1;
    self_exe[k] = '\0';
    SRunner *sr = srunner_create(dist_suite());
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

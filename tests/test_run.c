/* models/md_run: the registry, and the training driver on a toy model kind
 * defined here (which is also what a new kind costs: the table entry below
 * and its functions, no loop). The toy fits one number per part by gradient
 * descent on noisy targets, with a parameter set, an RNG and a best
 * snapshot, so that the driver's cadences, keep-best, stop/resume, atomic
 * files and data-parallel hooks can be checked exactly. */
#include <sys/stat.h>

#include "core/gs_h5.h"
#include "models/md_luxe.h"
#include "models/md_run.h"
#include "models/md_zdc.h"
#include "models/md_zdcflow.h"
#include "testutil.h"

/* ---- the toy kind ---------------------------------------------------------- */
typedef struct {
    int64_t parts, iters, eval_every, ckpt_every, seed;
    double lr;
} toy_cfg;

#define F(k, t, m, lo, hi, h) {k, t, offsetof(toy_cfg, m), lo, hi, NULL, h}
static const md_cfg_field toy_fields[] = {
    F("parts", MD_CFG_INT, parts, 1, 8, "parts"),
    F("train.iters", MD_CFG_INT, iters, 1, 1000, "steps of each part"),
    F("train.eval_every", MD_CFG_INT, eval_every, 1, 1000, "evaluation period"),
    F("train.ckpt_every", MD_CFG_INT, ckpt_every, 1, 1000, "checkpoint period"),
    F("train.seed", MD_CFG_INT, seed, 0, 1e9, "seed"),
    F("train.lr", MD_CFG_FLOAT, lr, 0, 1, "step size"),
    {NULL, 0, 0, 0, 0, NULL, NULL}};
#undef F

static void toy_default(void *c) { *(toy_cfg *)c = (toy_cfg){2, 10, 3, 4, 1, 0.3}; }

typedef struct {
    nn_params ps[8];             /* one parameter "theta" [1] per part */
    float best[8];
    gs_rng rng;
    int reduced;                 /* md_run_reduce calls */
} toy_state;

static const float toy_target[8] = {1, -2, 3, 0.5f, 4, -1, 2, 7};

static void toy_free(md_run *run)
{
    toy_state *s = run->state;
    for (int k = 0; s && k < 8; k++)
        nn_params_free(&s->ps[k]);
    free(s);
    run->state = NULL;
}

static int toy_init(md_run *run, hid_t from)
{
    const toy_cfg *c = run->cfg;
    toy_state *s = calloc(1, sizeof *s);
    if (!s)
        return GS_ERR_NOMEM;
    run->state = s;
    gs_rng_seed(&s->rng, (uint64_t)c->seed);
    run->n_parts = (int)c->parts;
    for (int k = 0; k < run->n_parts; k++) {
        nn_params_init(&s->ps[k]);
        if (!nn_param_new(&s->ps[k], "theta", 1, (int64_t[]){1}))
            return GS_ERR_NOMEM;
        snprintf(run->parts[k].name, sizeof run->parts[k].name, "p%d", k);
        run->parts[k].steps = c->iters;
    }
    run->eval_every = c->eval_every;
    run->ckpt_every = c->ckpt_every;
    for (int k = 0; from >= 0 && k < run->n_parts; k++) {
        char g[32];
        snprintf(g, sizeof g, "p%d", k);
        double th, b;
        int rc = gs_h5_attr_read_f64(from, g, "theta", &th);
        rc = rc ? rc : gs_h5_attr_read_f64(from, g, "best_theta", &b);
        rc = rc ? rc : gs_h5_attr_read_i64(from, g, "step", &run->parts[k].step);
        rc = rc ? rc : gs_h5_attr_read_f64(from, g, "best", &run->parts[k].best);
        rc = rc ? rc : gs_h5_attr_read_i64(from, g, "best_step", &run->parts[k].best_step);
        if (rc)
            return rc;
        s->ps[k].p[0]->data[0] = (float)th;
        s->best[k] = (float)b;
    }
    int64_t words[4];
    if (from >= 0) {
        int rc = gs_h5_read_into(from, "rng", GS_H5_I64, 1, (int64_t[]){4}, words);
        if (rc)
            return rc;
        memcpy(s->rng.s, words, sizeof words);
    }
    return GS_OK;
}

static int toy_step(md_run *run, int k, md_losses *out)
{
    toy_state *s = run->state;
    const toy_cfg *c = run->cfg;
    nn_tensor *th = s->ps[k].p[0];
    const double noisy = toy_target[k] + 0.1 * gs_rng_normal(&s->rng);
    th->grad[0] = (float)(th->data[0] - noisy);
    int rc = md_run_reduce(run, &s->ps[k], NULL, 0);
    s->reduced++;
    th->data[0] -= (float)c->lr * th->grad[0];
    *out = (md_losses){1, {fabs(th->data[0] - noisy)}};
    return rc;
}

static int toy_evaluate(md_run *run, int k, md_record *rec, double *score)
{
    toy_state *s = run->state;
    *score = fabs(s->ps[k].p[0]->data[0] - toy_target[k]);
    md_record_add(rec, "err", *score);
    return GS_OK;
}

static int toy_keep_best(md_run *run, int k)
{
    toy_state *s = run->state;
    s->best[k] = s->ps[k].p[0]->data[0];
    return GS_OK;
}

static void toy_header(const md_run *run, FILE *log) { fprintf(log, "# toy\n"); }

static int toy_save(const md_run *run, hid_t f, int with_train)
{
    const toy_state *s = run->state;
    int rc = GS_OK;
    for (int k = 0; !rc && k < run->n_parts; k++) {
        char g[32];
        hid_t gr;
        snprintf(g, sizeof g, "p%d", k);
        if ((rc = gs_h5_group_create(f, g, &gr)))
            break;
        H5Gclose(gr);
        const md_part *p = &run->parts[k];
        rc = gs_h5_attr_write_f64(f, g, "theta", s->ps[k].p[0]->data[0]);
        rc = rc ? rc : gs_h5_attr_write_f64(f, g, "best_theta", s->best[k]);
        rc = rc ? rc : gs_h5_attr_write_i64(f, g, "step", p->step);
        rc = rc ? rc : gs_h5_attr_write_f64(f, g, "best", p->best);
        rc = rc ? rc : gs_h5_attr_write_i64(f, g, "best_step", p->best_step);
    }
    if (!rc && with_train)
        rc = gs_h5_write(f, "rng", GS_H5_I64, 1, (int64_t[]){4}, (const int64_t *)s->rng.s);
    return rc;
}

static const char *const toy_losses[] = {"loss", NULL};
static const char *const toy_labels[] = {"L", NULL};

static const md_kind toy_kind = {
    .name = "toy", .file_kind = "toy_fit", .summary = "test kind",
    .cfg_fields = toy_fields, .cfg_size = sizeof(toy_cfg), .cfg_default = toy_default,
    .loss_names = toy_losses, .loss_labels = toy_labels, .score_name = "err",
    .score_label = "E", .parts_in_log = 1, .init = toy_init, .step = toy_step,
    .evaluate = toy_evaluate, .keep_best = toy_keep_best, .log_header = toy_header,
    .save = toy_save, .free = toy_free};

/* ---- helpers ------------------------------------------------------------------ */
typedef struct {
    int calls, evals;
    int64_t stop_at;
    volatile sig_atomic_t *flag;
    sig_atomic_t value;
} watch;

static void on_progress(void *ud, const md_progress *p)
{
    watch *w = ud;
    w->calls++;
    w->evals += p->evaluated;
    ck_assert_int_eq(p->steps, 20);
    ck_assert(p->evaluated ? isfinite(p->score) && p->best <= p->score : 1);
    if (w->stop_at && p->step == w->stop_at)
        *w->flag = w->value;
}

static double attr(const char *path, const char *obj, const char *name)
{
    hid_t f;
    double v = NAN;
    ck_assert_int_eq(gs_h5_open(path, 0, &f), GS_OK);
    ck_assert_int_eq(gs_h5_attr_read_f64(f, obj, name, &v), GS_OK);
    gs_h5_close(f);
    return v;
}

static int count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* ---- tests ---------------------------------------------------------------------- */
START_TEST(t_registry)
{
    ck_assert_ptr_eq(md_kind_find("luxe"), &md_kind_luxe);
    ck_assert_ptr_eq(md_kind_find("zdc_gan"), &md_kind_zdc);
    ck_assert_ptr_eq(md_kind_find("zdc-flow"), &md_kind_zdcflow);
    ck_assert_ptr_eq(md_kind_find("zdc_flow"), &md_kind_zdcflow);
    ck_assert_ptr_null(md_kind_find("vae"));
    ck_assert_ptr_null(md_kind_find(NULL));
    int n = 0;
    for (const md_kind *const *k = md_kinds(); *k; k++, n++) {
        const md_kind *kd = *k;
        /* every slot of every registered kind is filled */
        ck_assert(kd->name && kd->file_kind && kd->summary && kd->cfg_fields && kd->cfg_size);
        ck_assert(kd->cfg_default && kd->data_read && kd->data_free && kd->data_describe);
        ck_assert(kd->loss_names && kd->loss_labels && kd->score_name && kd->score_label);
        ck_assert(kd->init && kd->step && kd->evaluate && kd->keep_best && kd->log_header);
        ck_assert(kd->save && kd->free && kd->open && kd->close);
        ck_assert((kd->events != NULL) != (kd->images != NULL));
        int nl = 0;
        while (kd->loss_names[nl])
            nl++;
        ck_assert_int_le(nl, MD_MAX_LOSSES);
    }
    ck_assert_int_eq(n, 3);
    char dir[64], p[128];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/x.h5", dir);
    hid_t f;
    ck_assert_int_eq(gs_h5_create(p, &f), GS_OK);
    gs_h5_close(f);
    const md_kind *k;
    ck_assert_int_eq(md_kind_of_file(p, &k), GS_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "not a gansim model"));
    ck_assert_int_ne(md_kind_of_file("/nonexistent.h5", &k), GS_OK);
    gs_test_rmdir(dir);
}
END_TEST

START_TEST(t_driver_run_stop_resume)
{
    char dir[64], a[128], b[128], p[256], q[256];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    mkdir(a, 0777);
    mkdir(b, 0777);
    toy_cfg cfg;
    toy_default(&cfg);
    volatile sig_atomic_t flag = 0;
    watch w = {0, 0, 0, &flag, 0};
    md_train_opts o = {.out_dir = a, .stop = &flag, .progress = on_progress, .progress_ud = &w};
    int stopped = -1;
    ck_assert_msg(md_train(&toy_kind, &cfg, NULL, &o, &stopped) == GS_OK, "%s", gs_errmsg());
    ck_assert_int_eq(stopped, 0);
    ck_assert_int_eq(w.calls, 20);
    ck_assert_int_eq(w.evals, 8); /* steps 3, 6, 9 and 10 of each part */
    snprintf(p, sizeof p, "%s/train.log", a);
    ck_assert_int_eq(count_lines(p, "# toy"), 1);
    ck_assert_int_eq(count_lines(p, " err="), 8);
    ck_assert_int_eq(count_lines(p, "sub=p1 step=20 sub_step=10 loss="), 1);
    snprintf(p, sizeof p, "%s/last.h5", a);
    ck_assert_close(attr(p, "p1", "theta"), -2, 0.2, 0); /* it learned */
    ck_assert_close(attr(p, "p0", "best"), fabs(attr(p, "p0", "best_theta") - 1), 1e-6, 0);
    ck_assert_int_eq(gs_test_run("ls '%s' | grep -q tmp", a), 1); /* no temporaries */

    /* stopped after step 13 (in part 1) with a "signal" 15, resumed with another config */
    watch w2 = {0, 0, 13, &flag, 15};
    o.out_dir = b;
    o.progress_ud = &w2;
    ck_assert_int_eq(md_train(&toy_kind, &cfg, NULL, &o, &stopped), GS_OK);
    ck_assert_int_eq(stopped, 15);
    ck_assert_int_eq(w2.calls, 13);
    flag = 0;
    w2.stop_at = 0;
    o.resume = 1;
    toy_cfg other = cfg;
    other.lr = 0.9; /* ignored: the checkpoint's configuration rules */
    ck_assert_int_eq(md_train(&toy_kind, &other, NULL, &o, &stopped), GS_OK);
    ck_assert_int_eq(stopped, 0);
    ck_assert_int_eq(w2.calls, 20);
    snprintf(q, sizeof q, "%s/last.h5", b);
    for (int k = 0; k < 2; k++) {
        char g[16];
        snprintf(g, sizeof g, "p%d", k);
        ck_assert_msg(attr(p, g, "theta") == attr(q, g, "theta"), "part %d differs", k);
        ck_assert(attr(p, g, "best_theta") == attr(q, g, "best_theta"));
    }
    snprintf(q, sizeof q, "%s/train.log", b);
    ck_assert_int_eq(count_lines(q, " err="), 8);
    ck_assert_int_eq(count_lines(q, "# toy"), 1);
    /* resuming a finished run trains nothing and still succeeds */
    ck_assert_int_eq(md_train(&toy_kind, &other, NULL, &o, &stopped), GS_OK);
    ck_assert_int_eq(w2.calls, 20);
    /* a checkpoint of another kind is refused */
    md_zdc_cfg zc;
    md_zdc_cfg_default(&zc);
    ck_assert_int_eq(md_train(&md_kind_zdc, &zc, NULL, &o, &stopped), GS_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "a toy_fit model, not a zdc_gan model"));
    gs_test_rmdir(dir);
}
END_TEST

/* Data-parallel hooks: the reduction sees every step's gradient before the
 * update; a rank other than 0 writes nothing; a stop request on any rank
 * stops all. */
typedef struct {
    int calls;
    int any_calls;
    int stop_on;
} fake_comm;

static int fake_reduce(void *ud, nn_params *ps, float *extra, int n_extra)
{
    (void)extra;
    (void)n_extra;
    fake_comm *c = ud;
    c->calls++;
    ps->p[0]->grad[0] = 0; /* "the other ranks cancel it": no update at all */
    return GS_OK;
}

static int fake_any(void *ud, int flag)
{
    fake_comm *c = ud;
    /* another rank's SIGTERM at call stop_on: the largest flag wins */
    return ++c->any_calls == c->stop_on ? 15 : flag;
}

START_TEST(t_driver_parallel_hooks)
{
    char dir[64], p[256];
    gs_test_tmpdir(dir, sizeof dir);
    toy_cfg cfg;
    toy_default(&cfg);
    fake_comm comm = {0, 0, 0};
    md_train_opts o = {.out_dir = dir};
    o.par = (md_parallel){.rank = 0, .n_ranks = 2, .reduce_grads = fake_reduce,
                          .any = fake_any, .ud = &comm};
    int stopped;
    ck_assert_int_eq(md_train(&toy_kind, &cfg, NULL, &o, &stopped), GS_OK);
    ck_assert_int_eq(comm.calls, 20);
    ck_assert_int_eq(comm.any_calls, 20);
    snprintf(p, sizeof p, "%s/model.h5", dir);
    ck_assert(attr(p, "p0", "theta") == 0); /* every gradient was cancelled */
    /* rank 1: trains, writes nothing */
    ck_assert_int_eq(gs_test_run("rm -f %s/*", dir), 0);
    o.par.rank = 1;
    comm = (fake_comm){0, 0, 7};
    ck_assert_int_eq(md_train(&toy_kind, &cfg, NULL, &o, &stopped), GS_OK);
    ck_assert_int_eq(stopped, 15); /* stopped by another rank's SIGTERM at step 7 */
    ck_assert_int_eq(comm.calls, 7);
    ck_assert_int_eq(gs_test_run("test -z \"$(ls -A '%s')\"", dir), 0);
    gs_test_rmdir(dir);
}
END_TEST

static Suite *run_suite(void)
{
    Suite *s = suite_create("run");
    TCase *tc = tcase_create("run");
    tcase_add_test(tc, t_registry);
    tcase_add_test(tc, t_driver_run_stop_resume);
    tcase_add_test(tc, t_driver_parallel_hooks);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(run_suite)

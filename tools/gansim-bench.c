/* gansim-bench — measures the engine's kernels on this machine.
 *
 * Sections run in order from one table (`sections` below); a section adds
 * rows to a shared result list, which is printed as a table or as JSON at
 * the end. To add a benchmark, write a `static int bench_xxx(bench *b)` that
 * times its work with bench_time() and records rows with bench_add(), and
 * add a line to the table. The sgemm section runs first because later
 * sections report their speed as a fraction of the measured sgemm peak.
 *
 * Timing: wall clock (CLOCK_MONOTONIC), `warmup` untimed runs, then the
 * best of `reps` timed runs — the best, not the mean, because on a shared
 * machine noise only ever adds time. */
#include "core/gs_cpu.h"
#include "datasets/ds.h"
#include "models/md_export.h"
#include "models/md_luxe.h"
#include "models/md_run.h"
#include "models/md_wgan.h"
#include "models/md_zdc.h"
#include "models/md_zdcflow.h"
#include "nn/nn.h"
#include "tools/tool_common.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PROG "gansim-bench"
#define MAX_ROWS 64

typedef struct {
    const char *section;
    char name[48];
    char shape[64];
    double gflop;      /* work of one run */
    double ms;         /* best time of one run */
    double fwd_ms, bwd_ms;  /* split where it applies, else < 0 */
    int threads;       /* threads of this row (model phases), 0 = the run's */
    double per_s;      /* model phases: steps, events or images per second */
    char unit[16];
} bench_row;

typedef struct {
    bool json;
    int threads, warmup, reps;
    int64_t batch;
    double sgemm_peak;  /* GFLOP/s, 0 until the sgemm section ran */
    double sgemm_peak1; /* the same at one thread (for 1-thread rows) */
    bool pin_threads;   /* --threads given: model phases run only that count */
    bool pin_batch;     /* --batch given: model phases run only that batch */
    bool no_sgemm;      /* --no-sgemm: skip the peak (bench/compare.py's RSS runs) */
    const char *cur;    /* section being run */
    bench_row rows[MAX_ROWS];
    int nrows;
} bench;

typedef int (*bench_fn)(bench *b);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best wall time of fn(ud) in seconds over b->reps runs after b->warmup. */
static double bench_time(const bench *b, void (*fn)(void *), void *ud)
{
    for (int i = 0; i < b->warmup; i++)
        fn(ud);
    double best = 1e300;
    for (int i = 0; i < b->reps; i++) {
        double t0 = now_s();
        fn(ud);
        double t = now_s() - t0;
        if (t < best)
            best = t;
    }
    return best;
}

static bench_row *bench_add(bench *b, const char *name, const char *shape, double gflop,
                            double sec)
{
    if (b->nrows >= MAX_ROWS)
        return NULL;
    bench_row *r = &b->rows[b->nrows++];
    r->section = b->cur;
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->shape, sizeof r->shape, "%s", shape);
    r->gflop = gflop;
    r->ms = 1e3 * sec;
    r->fwd_ms = r->bwd_ms = -1.0;
    r->threads = 0;
    r->per_s = 0;
    r->unit[0] = 0;
    return r;
}

/* A model row: what bench_add records, plus its thread count and its rate,
 * items / sec in `unit` (steps/s, images/s, ...). */
static void bench_add_rate(bench *b, const char *name, const char *shape, double gflop,
                           double sec, int threads, double items, const char *unit)
{
    bench_row *row = bench_add(b, name, shape, gflop, sec);
    if (!row)
        return;
    row->threads = threads;
    row->per_s = items / sec;
    snprintf(row->unit, sizeof row->unit, "%s", unit);
}

static float *rand_floats(int64_t n, uint64_t seed)
{
    float *v = malloc((size_t)n * sizeof(float));
    if (v) {
        gs_rng r;
        gs_rng_seed(&r, seed);
        gs_rng_fill_uniform(&r, v, n, -1.0f, 1.0f);
    }
    return v;
}

/* ---- sgemm ------------------------------------------------------------------ */
typedef struct {
    int m, n, k;
    float *a, *bm, *c;
} sgemm_case;

static void run_sgemm(void *ud)
{
    sgemm_case *s = ud;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->m, s->n, s->k, 1.0f, s->a, s->k,
                s->bm, s->n, 0.0f, s->c, s->n);
}

static int bench_sgemm(bench *b)
{
    /* square sizes define the peak; the last is one im2col product of the
     * generator's 128 -> 64 conv (per sample: [64, 1152] x [1152, 448]) */
    static const int shapes[][4] = {{1024, 1024, 1024, 1}, {512, 512, 512, 1}, {64, 448, 1152, 0}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        sgemm_case s = {shapes[i][0], shapes[i][1], shapes[i][2], NULL, NULL, NULL};
        s.a = rand_floats((int64_t)s.m * s.k, 1);
        s.bm = rand_floats((int64_t)s.k * s.n, 2);
        s.c = rand_floats((int64_t)s.m * s.n, 3);
        if (!s.a || !s.bm || !s.c) {
            free(s.a);
            free(s.bm);
            free(s.c);
            gs_tool_err(PROG, "out of memory");
            return GS_ERR_NOMEM;
        }
        const double gflop = 2e-9 * s.m * s.n * s.k;
        const double sec = bench_time(b, run_sgemm, &s);
        char shape[64];
        snprintf(shape, sizeof shape, "%dx%dx%d", s.m, s.n, s.k);
        bench_add(b, shapes[i][3] ? "sgemm" : "sgemm (conv-like)", shape, gflop, sec);
        if (shapes[i][3] && gflop / sec > b->sgemm_peak)
            b->sgemm_peak = gflop / sec;
        if (i == 0 && b->threads > 1) {
            /* the 1-thread limit, for the scaling rows of the model phases */
            nn_set_threads(1);
            const double sec1 = bench_time(b, run_sgemm, &s);
            nn_set_threads(b->threads);
            bench_row *r1 = bench_add(b, "sgemm T=1", shape, gflop, sec1);
            if (r1)
                r1->threads = 1;
            b->sgemm_peak1 = gflop / sec1;
        }
        free(s.a);
        free(s.bm);
        free(s.c);
    }
    return GS_OK;
}

/* ---- conv2d forward + backward at the zdc_gan shapes -------------------------- */
typedef struct {
    const char *name;
    int64_t ci, co, h, w, k, s, p;
} conv_shape;

/* The zdc_gan generator (docs/zdc.md): generator convs after each x2 upsampling (14x8 -> 28x16
 * -> 56x32), discriminator convs 3x3 stride 2 on the 56x30 image. */
static const conv_shape zdc_convs[] = {
    {"G conv 128->64", 128, 64, 28, 16, 3, 1, 1},
    {"G conv 64->32", 64, 32, 56, 32, 3, 1, 1},
    {"G conv 32->1", 32, 1, 56, 32, 3, 1, 1},
    /* the two above as nn_upsample2_conv3x3 runs them (what training does) */
    {"G phase 128->4x64", 128, 256, 14, 8, 2, 1, 1},
    {"G phase 64->4x32", 64, 128, 28, 16, 2, 1, 1},
    {"D conv 1->32 s2", 1, 32, 56, 30, 3, 2, 1},
    {"D conv 32->64 s2", 32, 64, 28, 15, 3, 2, 1},
    {"D conv 64->128 s2", 64, 128, 14, 8, 3, 2, 1},
};

typedef struct {
    const conv_shape *cs;
    nn_ctx *work;                 /* reset every run */
    nn_tensor *x, *w, *b, *gy;    /* persistent inputs (their own context) */
    int64_t out_pad;
    bool ok;
} conv_run;

static void run_conv_fwd(void *ud)
{
    conv_run *r = ud;
    nn_ctx_reset(r->work);
    r->ok &= nn_conv2d(r->work, r->x, r->w, r->b, r->cs->s, r->cs->p) != NULL;
}

/* What nn_backward does for a conv: data gradient, weight gradient, bias. */
static void run_conv_bwd(void *ud)
{
    conv_run *r = ud;
    const conv_shape *cs = r->cs;
    nn_ctx_reset(r->work);
    r->ok &= nn_conv_transpose2d(r->work, r->gy, r->w, NULL, cs->s, cs->p, r->out_pad) != NULL;
    r->ok &= nn_conv2d_wgrad(r->work, r->x, r->gy, cs->k, cs->k, cs->s, cs->p) != NULL;
    r->ok &= nn_sum_channels(r->work, r->gy) != NULL;
}

static int bench_conv2d(bench *b)
{
    nn_ctx *in = nn_ctx_new(), *work = nn_ctx_new();
    if (!in || !work) {
        nn_ctx_free(in);
        nn_ctx_free(work);
        return GS_ERR_NOMEM;
    }
    nn_set_grad_enabled(work, false);   /* kernels only: no tape bookkeeping */
    int rc = GS_OK;
    for (size_t i = 0; i < sizeof zdc_convs / sizeof zdc_convs[0] && rc == GS_OK; i++) {
        const conv_shape *cs = &zdc_convs[i];
        const int64_t n = b->batch;
        const int64_t ho = (cs->h + 2 * cs->p - cs->k) / cs->s + 1;
        const int64_t wo = (cs->w + 2 * cs->p - cs->k) / cs->s + 1;
        nn_ctx_reset(in);
        conv_run r = {.cs = cs, .work = work, .ok = true};
        const int64_t xs[4] = {n, cs->ci, cs->h, cs->w}, ws[4] = {cs->co, cs->ci, cs->k, cs->k};
        const int64_t gs[4] = {n, cs->co, ho, wo};
        r.x = nn_new(in, 4, xs);
        r.w = nn_new(in, 4, ws);
        r.b = nn_new(in, 1, (int64_t[]){cs->co});
        r.gy = nn_new(in, 4, gs);
        if (!r.x || !r.w || !r.b || !r.gy) {
            rc = GS_ERR_NOMEM;
            break;
        }
        gs_rng g;
        gs_rng_seed(&g, 5 + i);
        nn_tensor *all[4] = {r.x, r.w, r.b, r.gy};
        for (int t = 0; t < 4; t++)
            gs_rng_fill_uniform(&g, all[t]->data, all[t]->n, -1.0f, 1.0f);
        /* the output_padding that gives the data gradient x's exact size */
        r.out_pad = cs->h - ((ho - 1) * cs->s - 2 * cs->p + cs->k);
        const double tf = bench_time(b, run_conv_fwd, &r);
        const double tb = bench_time(b, run_conv_bwd, &r);
        if (!r.ok) {
            gs_tool_err(PROG, "%s: %s", cs->name, gs_errmsg());
            rc = GS_ERR_ARG;
            break;
        }
        /* forward 2 N co ho wo ci k k; backward twice that (data + weight) */
        const double fwd = 2e-9 * (double)(n * cs->co * ho * wo * cs->ci * cs->k * cs->k);
        char shape[64];
        snprintf(shape, sizeof shape, "%lldx%lldx%lldx%lld k%lld s%lld",
                 (long long)n, (long long)cs->ci, (long long)cs->h, (long long)cs->w,
                 (long long)cs->k, (long long)cs->s);
        bench_row *row = bench_add(b, cs->name, shape, 3.0 * fwd, tf + tb);
        if (row) {
            row->fwd_ms = 1e3 * tf;
            row->bwd_ms = 1e3 * tb;
        }
    }
    nn_ctx_free(in);
    nn_ctx_free(work);
    return rc;
}

/* ---- model-level phases ------------------------------------------------------------ *
 * Training and generation of the models as gansim-train and gansim-sample
 * run them (luxe: the reference WGAN of docs/luxe.md through md_wgan; zdc:
 * the model kind itself). FLOPs are counted analytically: only the GEMMs and
 * convolutions a phase needs (the same work PyTorch does), so "% peak" says
 * how close a phase gets to the sgemm limit of this machine. Each phase runs
 * at 1 thread and at the requested count (scaling), unless --threads or
 * --batch pin one configuration (bench/compare.py runs one per process). */

/* 2 * in * out summed over the layers of an MLP: GEMM FLOPs per sample of one
 * pass (forward, data gradient or weight gradient, each costs the same). */
static double mlp_flops(const md_mlp_cfg *m)
{
    double s = 0;
    int64_t in = m->n_in;
    for (int i = 0; i <= m->depth; i++) {
        int64_t out = i < m->depth ? m->widths[i] : m->n_out;
        s += 2.0 * (double)in * (double)out;
        in = out;
    }
    return s;
}

/* The LUXE reference WGAN (docs/luxe.md): noise 50 -> 300 x3 -> 6, critic 6 -> 300 x3 -> 1. */
static md_wgan_cfg luxe_ref_cfg(int64_t batch)
{
    md_wgan_cfg w = {.n_features = 6, .noise_dim = 50, .loss = MD_LOSS_WGAN_GP,
                     .lambda_gp = 10.0f, .n_critic = 5, .batch = batch, .lr_g = 1e-4f,
                     .lr_d = 1e-4f, .beta1 = 0.5f, .beta2 = 0.9f};
    w.g.depth = w.d.depth = 3;
    for (int i = 0; i < 3; i++)
        w.g.widths[i] = w.d.widths[i] = 300;
    w.g.slope = w.d.slope = 0.2f;
    w.g.n_in = 50;
    w.g.n_out = 6;
    w.d.n_in = 6;
    w.d.n_out = 1;
    return w;
}

/* GEMM FLOPs of one generator step (n_critic critic steps + one generator
 * update). Critic step: G forward (SG), critic forward on real, fake and the
 * interpolate (3 SD), d critic / d x^ (SD, data gradients only), the double
 * backward through that gradient graph (2 SD), and the weight + data
 * gradients of the real and fake passes (4 SD). Generator step: G forward,
 * critic forward and data gradient, G weight + data gradients (3 SG + 2 SD). */
static double wgan_step_gflop(const md_wgan_cfg *w)
{
    const double sg = mlp_flops(&w->g), sd = mlp_flops(&w->d);
    return 1e-9 * (double)w->batch * (w->n_critic * (sg + 10 * sd) + 3 * sg + 2 * sd);
}

typedef struct {
    md_wgan *w;
    const float *data;
    const md_sampler *s;
    bool ok;
} wgan_run;

static void run_wgan_step(void *ud)
{
    wgan_run *r = ud;
    md_wgan_losses l;
    r->ok &= md_wgan_step(r->w, r->data, r->s, &l) == GS_OK;
}

/* Thread counts of a scaling phase: 1 and the requested count, or only the
 * pinned count. */
static int thread_list(const bench *b, int *t)
{
    if (b->pin_threads || b->threads == 1) {
        t[0] = b->threads;
        return 1;
    }
    t[0] = 1;
    t[1] = b->threads;
    return 2;
}

/* The batch sizes a model phase runs: its standard ones (std[0..n_std)), or
 * only the one --batch pins, whatever its value (any size is a valid run). */
static int batch_list(const bench *b, const int64_t *std, int n_std, int64_t *out)
{
    if (b->pin_batch) {
        out[0] = b->batch;
        return 1;
    }
    for (int i = 0; i < n_std; i++)
        out[i] = std[i];
    return n_std;
}

static double peak_for(const bench *b, int threads)
{
    return threads == 1 && b->sgemm_peak1 > 0 ? b->sgemm_peak1 : b->sgemm_peak;
}

static int bench_wgan(bench *b)
{
    static const int64_t std_batches[] = {256, 1024};
    int64_t batches[2];
    const int nb = batch_list(b, std_batches, 2, batches);
    const int64_t nrows = 65536, f = 6;
    float *data = rand_floats(nrows * f, 11);
    md_sampler s;
    if (!data || md_sampler_init(&s, nrows, NULL)) {
        free(data);
        return GS_ERR_NOMEM;
    }
    int ts[2], nt = thread_list(b, ts), rc = GS_OK;
    for (int bi = 0; bi < nb && !rc; bi++) {
        for (int ti = 0; ti < nt && !rc; ti++) {
            nn_set_threads(ts[ti]);
            md_wgan_cfg cfg = luxe_ref_cfg(batches[bi]);
            md_wgan w;
            if ((rc = md_wgan_init(&w, &cfg, 1)))
                break;
            wgan_run r = {&w, data, &s, true};
            const double sec = bench_time(b, run_wgan_step, &r);
            if (!r.ok) {
                gs_tool_err(PROG, "wgan step: %s", gs_errmsg());
                rc = GS_ERR_NUMERIC;
            }
            char name[48], shape[64];
            snprintf(name, sizeof name, "luxe G step T=%d", ts[ti]);
            snprintf(shape, sizeof shape, "batch %lld, 5 critic", (long long)cfg.batch);
            bench_add_rate(b, name, shape, wgan_step_gflop(&w.cfg), sec, ts[ti], 1, "steps/s");
            md_wgan_free(&w);
        }
    }
    nn_set_threads(b->threads);
    md_sampler_free(&s);
    free(data);
    return rc;
}

typedef struct {
    nn_ctx **c;
    const md_mlp *g;
    int64_t n;
    float *out;
    gs_rng rng;
    bool ok;
} gen_run;

static void run_gen(void *ud)
{
    gen_run *r = ud;
    r->ok &= md_mlp_generate(r->c, MD_MAX_SHARDS, r->g, r->g->cfg.n_in, r->n, r->out, &r->rng) == GS_OK;
}

/* luxe generation as md_luxe samples (md_mlp_generate: noise, generator in
 * chunks), batch 65536 events. */
static int bench_gen(bench *b)
{
    const int64_t n = b->pin_batch ? b->batch : 65536;
    md_wgan_cfg cfg = luxe_ref_cfg(256);
    nn_params ps;
    nn_params_init(&ps);
    md_mlp g;
    gs_rng r;
    gs_rng_seed(&r, 3);
    float *out = malloc((size_t)(n * cfg.g.n_out) * sizeof(float));
    nn_ctx *c[MD_MAX_SHARDS];
    bool have = out != NULL;
    for (int t = 0; t < MD_MAX_SHARDS; t++)
        have &= (c[t] = nn_ctx_new()) != NULL;
    int rc = have ? md_mlp_init(&g, &ps, "G", &cfg.g, &r) : GS_ERR_NOMEM;
    int ts[2], nt = thread_list(b, ts);
    for (int ti = 0; ti < nt && !rc; ti++) {
        nn_set_threads(ts[ti]);
        gen_run gr = {c, &g, n, out, r, true};
        const double sec = bench_time(b, run_gen, &gr);
        if (!gr.ok)
            rc = GS_ERR_NOMEM;
        char name[48], shape[64];
        snprintf(name, sizeof name, "luxe generate T=%d", ts[ti]);
        snprintf(shape, sizeof shape, "%lld events", (long long)n);
        bench_add_rate(b, name, shape, 1e-9 * (double)n * mlp_flops(&g.cfg), sec, ts[ti],
                       (double)n, "events/s");
    }
    nn_set_threads(b->threads);
    for (int t = 0; t < MD_MAX_SHARDS; t++)
        nn_ctx_free(c[t]);
    nn_params_free(&ps);
    free(out);
    return rc;
}

/* ---- zdc: the conditional conv GAN as gansim-train and gansim-sample run it -------- *
 * Two configurations, both through the model kind's own code: a training step is
 * md_run_step of md_kind_zdc (a discriminator update on real and fake images,
 * a generator update, the weight average), on toy images (the values do not
 * change the work); generation is the sampler of a model file written as
 * gansim-train writes it and opened as gansim-sample opens it (md_model_open):
 * the folded sub-pixel generator, exp(y) - 1, the conditions standardised, the
 * output image set allocated.
 *
 * Sections zdc and zdc-gen (the rows bench/compare.py sets beside PyTorch) run
 * zdc_plain_cfg: the plain GAN step that bench/torch_ref.py's Zdc defines, set
 * here field by field, not taken from md_zdc_cfg_default. The training defaults
 * have since gained work torch_ref.py does not do (SDI and intensity terms,
 * spectral normalisation of D, the channel sums into D); a comparison that
 * followed them would time more work in gansim than in PyTorch, and it did
 * so silently once. Section zdc-recipe times md_zdc_cfg_default as it is, the
 * step `gansim-train zdc` runs without options: gansim only, no PyTorch row. */

/* The plain conditional GAN step of bench/torch_ref.py's Zdc (keep the two in
 * step): noise 10, G widths 128, 64, 32, D widths 32, 64, 128 with dropout 0.2
 * and no batch norm, D dense 128, LeakyReLU 0.2, plain weights (no spectral or
 * layer norm), conditions concatenated to D's features, no channel sums, BCE,
 * no regulariser, Adam 1e-4 with betas (0.5, 0.999) for G and D, the weight
 * average 0.995 without warm-up (batch-norm running statistics included).
 * Zero-initialised, so that a switch added to md_zdc_cfg later starts off here
 * until someone adds it to both sides. */
static void zdc_plain_cfg(md_zdc_cfg *c, int64_t batch)
{
    memset(c, 0, sizeof *c);
    c->noise_dim = 10;
    md_zdc_cfg_design_widths(c);
    c->aux_channels = 16; /* unused: aux off */
    c->slope = 0.2;
    c->dropout = 0.2;
    c->d_bn = 0;
    c->d_norm = 0;
    c->loss = 0;
    c->d_cond = 0;
    c->d_sums = 0;
    c->d_mismatch = 0;
    c->sdi = 0;
    c->sdi_lambda = 0.1;
    c->sdi_space = 0;
    c->sdi_k = 5;
    c->intensity = 0;
    c->intensity_lambda = 1e-3;
    c->aux = 0;
    c->aux_lambda = 1.0;
    c->batch = batch;
    c->lr_g = 1e-4;
    c->lr_d = 1e-4;
    c->lr_aux = 1e-4;
    c->beta1 = 0.5;
    c->beta2 = 0.999;
    c->ema = 0.995;
    c->ema_warmup = 0;
    /* not part of a step: what md_run_open needs to set the run up */
    c->iters = 10000;
    c->eval_every = 500;
    c->eval_rows = 1000;
    c->eval_repeats = 1;
    c->ckpt_every = 500;
    c->holdout = 0.1;
    c->seed = 1;
    c->channel_map = 0;
}

typedef struct {
    ds_images data;
    md_run *run;
    md_model *model;
    float *cond;     /* generation: conditions [n, 9] */
    int64_t n;
    bool ok;
} zdc_bench;

static void zdc_bench_free(zdc_bench *z)
{
    md_model_close(z->model);
    md_run_close(z->run);
    ds_images_free(&z->data);
    free(z->cond);
}

/* cfg: the configuration to run, its batch already set (training) */
static int zdc_bench_init(zdc_bench *z, const md_zdc_cfg *cfg, int64_t n, bool gen)
{
    memset(z, 0, sizeof *z);
    z->n = n;
    z->ok = true;
    int rc = ds_toy_zdc(512, 7, &z->data);
    if (!rc)
        rc = md_run_open(&md_kind_zdc, cfg, &z->data, NULL, 0, NULL, &z->run);
    if (rc || !gen)
        return rc;
    char path[64];
    snprintf(path, sizeof path, "/tmp/gansim-bench-zdc-%ld.h5", (long)getpid());
    rc = md_run_write(z->run, path, 0);
    /* 0 steps trained, so a "partial" model: the speed does not depend on the weights */
    if (!rc)
        rc = md_model_open_ex(path, MD_OPEN_ALLOW_PARTIAL, &z->model);
    unlink(path);
    if (!rc && !(z->cond = malloc((size_t)(n * 9) * sizeof(float))))
        rc = GS_ERR_NOMEM;
    for (int64_t i = 0; !rc && i < n; i++) /* cycle through the toy rows */
        memcpy(z->cond + i * 9, z->data.cond + (i % z->data.n) * 9, 9 * sizeof(float));
    return rc;
}

static void run_zdc_train(void *ud)
{
    zdc_bench *z = ud;
    md_losses l;
    z->ok &= md_run_step(z->run, 0, &l) == GS_OK;
}

static void run_zdc_gen(void *ud)
{
    zdc_bench *z = ud;
    ds_images out;
    z->ok &= md_model_kind(z->model)->images->sample(md_model_handle(z->model), z->cond, z->n,
                                                     1, 5, &out) == GS_OK;
    ds_images_free(&out);
}

/* Conv FLOPs per sample: 2 co ho wo ci k k (3x3 unless said). */
static double conv_flops_k(int64_t ci, int64_t co, int64_t ho, int64_t wo, int64_t k)
{
    return 2.0 * (double)(ci * co * ho * wo * k * k);
}

static double conv_flops(int64_t ci, int64_t co, int64_t ho, int64_t wo)
{
    return conv_flops_k(ci, co, ho, wo, 3);
}

static int64_t conv_s2(int64_t n) { return (n + 2 - 3) / 2 + 1; }

/* Per-sample forward FLOPs (GEMMs and convs) of G, D, D's first conv, the aux
 * regressor R and R's first conv, for images h x w with nc conditions, as
 * executed: G's upsample + conv blocks run as 2x2 convs with 4 co outputs on
 * the (h0 + 1) x (w0 + 1) low-resolution grid (nn_upsample2_conv3x3), not as
 * 3x3 convs on the upsampled image (2.25x more). With model.d_sums D's input
 * product with the channel masks (px x 5) counts with D; spectral norm's power
 * iteration (per weight, not per sample) is not counted. */
typedef struct {
    double g, d, d1, r, r1;
} zdc_fl;

static zdc_fl zdc_flops(const md_zdc_cfg *c, int64_t nc, int64_t h, int64_t w)
{
    const int64_t *gc = c->g_channels.v, *dc = c->d_channels.v, h0 = (h + 3) / 4,
                  w0 = (w + 3) / 4;
    const int64_t h1 = conv_s2(h), w1 = conv_s2(w), h2 = conv_s2(h1), w2 = conv_s2(w1),
                  h3 = conv_s2(h2), w3 = conv_s2(w2), a = c->aux_channels;
    zdc_fl f;
    f.g = 2.0 * (double)((c->noise_dim + nc) * gc[0] * h0 * w0) +
          conv_flops_k(gc[0], 4 * gc[1], h0 + 1, w0 + 1, 2) +
          conv_flops_k(gc[1], 4 * gc[2], 2 * h0 + 1, 2 * w0 + 1, 2) +
          conv_flops(gc[2], 1, 4 * h0, 4 * w0);
    f.d1 = conv_flops(1, dc[0], h1, w1);
    const int64_t sums = c->d_sums ? 5 : 0;
    f.d = f.d1 + conv_flops(dc[0], dc[1], h2, w2) + conv_flops(dc[1], dc[2], h3, w3) +
          2.0 * (double)((dc[2] * h3 * w3 + nc + sums) * c->d_hidden) + 2.0 * (double)c->d_hidden +
          2.0 * (double)(h * w * sums) + (c->d_cond == 1 ? 2.0 * (double)(nc * c->d_hidden) : 0);
    f.r1 = conv_flops(1, a, h1, w1);
    f.r = f.r1 + conv_flops(a, 2 * a, h2, w2) + 2.0 * (double)(2 * a * h2 * w2 * 2);
    return f;
}

/* GFLOP of one training step at batch n. D step: G forward, D forward on real
 * and fake, D backward on both (weight and data gradients, but no data
 * gradient for the image input): fg + 6 fd - 2 fd1. G step on m rows (2n with
 * SDI: two noises per condition): G forward, D forward and data gradient, G
 * weight and data gradients: m (3 fg + 2 fd). With the aux regressor: its
 * step on real images (3 fr - fr1) and its forward + data gradient on n
 * generated ones (2 fr). With model.d_mismatch one more D forward and
 * backward on the real images (3 fd - fd1). The weight average, Adam, the sampler's exp and the
 * regularisers' own elementwise terms are not counted. */
static double zdc_train_gflop(const md_zdc_cfg *c, const zdc_fl *f, int64_t n)
{
    const double m = c->sdi ? 2.0 : 1.0;
    double per = f->g + 6 * f->d - 2 * f->d1 + m * (3 * f->g + 2 * f->d);
    if (c->d_mismatch > 0) /* D forward + backward on the real images with other conditions */
        per += 3 * f->d - f->d1;
    if (c->aux)
        per += 5 * f->r - f->r1;
    return 1e-9 * (double)n * per;
}

/* Runs one row per thread count of a zdc configuration: training at batch n
 * (cfg->batch) or generation of n images. */
static int zdc_rows(bench *b, const md_zdc_cfg *cfg, int64_t n, bool gen, const char *label,
                    const char *shape)
{
    int ts[2], nt = thread_list(b, ts), rc = GS_OK;
    for (int ti = 0; ti < nt && !rc; ti++) {
        nn_set_threads(ts[ti]);
        zdc_bench z;
        if ((rc = zdc_bench_init(&z, cfg, n, gen))) {
            gs_tool_err(PROG, "%s: %s", label, gs_errmsg());
            zdc_bench_free(&z);
            break;
        }
        const zdc_fl f = zdc_flops(cfg, z.data.c, z.data.h, z.data.w);
        const double sec = bench_time(b, gen ? run_zdc_gen : run_zdc_train, &z);
        if (!z.ok) {
            gs_tool_err(PROG, "%s: %s", label, gs_errmsg());
            rc = GS_ERR_NUMERIC;
        }
        const double gflop = gen ? 1e-9 * (double)n * f.g : zdc_train_gflop(cfg, &f, n);
        char name[48];
        snprintf(name, sizeof name, "%s T=%d", label, ts[ti]);
        bench_add_rate(b, name, shape, gflop, sec, ts[ti], gen ? (double)n : 1,
                       gen ? "images/s" : "steps/s");
        zdc_bench_free(&z);
    }
    nn_set_threads(b->threads);
    return rc;
}

/* zdc and zdc-gen: the plain step of bench/torch_ref.py (zdc_plain_cfg) */
static int bench_zdc_phases(bench *b, bool gen)
{
    static const int64_t std_train[] = {64, 256}, std_gen[] = {1024};
    int64_t sizes[2];
    const int n_sizes = gen ? batch_list(b, std_gen, 1, sizes) : batch_list(b, std_train, 2, sizes);
    int rc = GS_OK;
    for (int i = 0; i < n_sizes && !rc; i++) {
        const int64_t n = sizes[i];
        md_zdc_cfg cfg;
        zdc_plain_cfg(&cfg, gen ? 64 : n);
        char shape[64];
        snprintf(shape, sizeof shape, gen ? "%lld images" : "batch %lld", (long long)n);
        rc = zdc_rows(b, &cfg, n, gen, gen ? "zdc generate" : "zdc train step", shape);
    }
    return rc;
}

static int bench_zdc(bench *b) { return bench_zdc_phases(b, false); }
static int bench_zdc_gen(bench *b) { return bench_zdc_phases(b, true); }

/* zdc-recipe: one step of `gansim-train zdc` with no options (md_zdc_cfg_default,
 * whatever it holds), at its batch unless --batch pins one. The shape names the
 * switches that make it more than the plain step of section zdc. */
static int bench_zdc_recipe(bench *b)
{
    md_zdc_cfg cfg;
    md_zdc_cfg_default(&cfg);
    if (b->pin_batch)
        cfg.batch = b->batch;
    char shape[64];
    int k = snprintf(shape, sizeof shape, "batch %lld", (long long)cfg.batch);
    static const char *const norm[] = {"", " sn", " ln", " sn ln"};
    snprintf(shape + k, sizeof shape - (size_t)k, "%s%s%s%s%s%s%s%s%s", cfg.sdi ? " sdi" : "",
             cfg.intensity ? " int" : "", cfg.aux ? " aux" : "",
             cfg.d_norm >= 0 && cfg.d_norm <= 3 ? norm[cfg.d_norm] : " norm?",
             cfg.d_sums ? " sums" : "", cfg.d_mismatch > 0 ? " mismatch" : "",
             cfg.d_bn ? " bn" : "", cfg.d_cond == 1 ? " proj" : "", cfg.loss == 1 ? " hinge" : "");
    return zdc_rows(b, &cfg, cfg.batch, false, "zdc default-recipe train", shape);
}

/* ---- zdc-flow: what `gansim-train zdc-flow` and `gansim-sample` run ------------------ *
 * The flow-matching kind with its default configuration (md_zdcflow_cfg_default):
 * a training step is md_run_step of md_kind_zdcflow (one velocity-network
 * forward and backward at batch 64, Adam, the weight average); generation
 * is the sampler of a model file opened as gansim-sample opens it (the ODE
 * from noise with sample.steps steps of the default solver, heun: 2 network
 * passes a step), 256 images. */
static double flow_flops(void)
{
    /* forward per image at 56x30 (padded to 56x32), default widths 16, 32, 64 */
    return conv_flops(2, 16, 56, 32) + conv_flops(16, 32, 28, 16) + conv_flops(32, 64, 14, 8) +
           2.0 * (41 * 128 + 128 * 128 + 128 * 7168) + conv_flops(64, 64, 14, 8) +
           conv_flops_k(64, 4 * 32, 15, 9, 2) + conv_flops(64, 32, 28, 16) +
           conv_flops_k(32, 4 * 16, 29, 17, 2) + conv_flops(32, 1, 56, 32);
}

static void run_flow_train(void *ud)
{
    zdc_bench *z = ud;
    md_losses l;
    z->ok &= md_run_step(z->run, 0, &l) == GS_OK;
}

static int bench_zdc_flow(bench *b)
{
    int ts[2], nt = thread_list(b, ts), rc = GS_OK;
    md_zdcflow_cfg cfg;
    md_zdcflow_cfg_default(&cfg);
    const double passes = (double)cfg.steps * (cfg.solver == MD_FLOW_HEUN ? 2 : 1);
    for (int phase = 0; phase < 2 && !rc; phase++) {
        const bool gen = phase == 1;
        const int64_t n = gen ? 256 : (b->pin_batch ? b->batch : 64);
        for (int ti = 0; ti < nt && !rc; ti++) {
            nn_set_threads(ts[ti]);
            zdc_bench z;
            memset(&z, 0, sizeof z);
            z.n = n;
            z.ok = true;
            cfg.batch = gen ? 64 : n;
            rc = ds_toy_zdc(512, 7, &z.data);
            if (!rc)
                rc = md_run_open(&md_kind_zdcflow, &cfg, &z.data, NULL, 0, NULL, &z.run);
            if (!rc && gen) {
                char path[64];
                snprintf(path, sizeof path, "/tmp/gansim-bench-flow-%ld.h5", (long)getpid());
                rc = md_run_write(z.run, path, 0);
                if (!rc) /* untrained, so marked partial; the weights do not matter */
                    rc = md_model_open_ex(path, MD_OPEN_ALLOW_PARTIAL, &z.model);
                unlink(path);
                if (!rc && !(z.cond = malloc((size_t)(n * 9) * sizeof(float))))
                    rc = GS_ERR_NOMEM;
                for (int64_t i = 0; !rc && i < n; i++)
                    memcpy(z.cond + i * 9, z.data.cond + (i % z.data.n) * 9, 9 * sizeof(float));
            }
            if (rc) {
                gs_tool_err(PROG, "zdc-flow: %s", gs_errmsg());
                zdc_bench_free(&z);
                break;
            }
            const double sec = bench_time(b, gen ? run_zdc_gen : run_flow_train, &z);
            if (!z.ok) {
                gs_tool_err(PROG, "zdc-flow: %s", gs_errmsg());
                rc = GS_ERR_NUMERIC;
            }
            /* training: forward + backward (data and weight gradients) ~ 3 forwards */
            const double gflop = 1e-9 * (double)n * flow_flops() * (gen ? passes : 3.0);
            char name[48], shape[64];
            snprintf(name, sizeof name, "zdc-flow %s T=%d", gen ? "generate" : "train step",
                     ts[ti]);
            if (gen)
                snprintf(shape, sizeof shape, "%lld img, %s x %lld", (long long)n,
                         cfg.solver == MD_FLOW_HEUN ? "heun" : "euler", (long long)cfg.steps);
            else
                snprintf(shape, sizeof shape, "batch %lld", (long long)n);
            bench_add_rate(b, name, shape, gflop, sec, ts[ti], gen ? (double)n : 1,
                           gen ? "images/s" : "steps/s");
            zdc_bench_free(&z);
        }
    }
    nn_set_threads(b->threads);
    return rc;
}

/* ---- gansim vs ONNX Runtime on the same exported model ---------------------------- *
 * A zdc_gan and a luxe_wgan model at the design's widths (2 training steps on
 * toy data: the speed does not depend on the weights) are exported with
 * md_export; the same inputs then run through gansim's sampling generator
 * (md_zdc_generate_log; md_luxe_sub_generate, generator + inverse transforms)
 * and through ONNX Runtime (onnxruntime-node, tests/ort/ort_run.js: session
 * intra-op threads = T, one inter-op thread, all graph optimisations). Both
 * report the best of --reps runs; neither includes drawing the noise. Needs
 * node and node_modules/onnxruntime-node (scripts/install-deps); skipped with
 * a note otherwise. */
typedef struct {
    md_zdc_model *zm;
    md_luxe_model *lm;
    const float *z, *c;
    int64_t n;
    float *out;
    bool ok;
} ort_native;

static void run_native_zdc(void *ud)
{
    ort_native *r = ud;
    r->ok &= md_zdc_generate_log(r->zm, r->z, r->c, r->n, r->out) == GS_OK;
}

static void run_native_luxe(void *ud)
{
    ort_native *r = ud;
    r->ok &= md_luxe_sub_generate(r->lm, 0, r->z, r->n, r->out) == GS_OK;
}

static int write_raw(const char *path, const float *x, int64_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return gs_error(GS_ERR_IO, "%s: cannot create", path);
    size_t w = fwrite(x, sizeof *x, (size_t)n, f);
    return fclose(f) == 0 && w == (size_t)n ? GS_OK : gs_error(GS_ERR_IO, "%s: write failed", path);
}

/* Runs ort_run.js; returns the best seconds per run, or < 0. */
static double ort_time(const bench *b, const char *root, const char *model, const char *inputs,
                       const char *dir, int threads)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "node '%s/tests/ort/ort_run.js' --model '%s' %s --out '%s/y.f32' --threads %d "
             "--repeat %d 2>&1",
             root, model, inputs, dir, threads, b->reps + b->warmup);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[4096] = "";
    double best = -1;
    while (fgets(line, sizeof line, p)) {
        const char *k = strstr(line, "\"best_seconds\":");
        if (k)
            best = strtod(k + strlen("\"best_seconds\":"), NULL);
        else
            gs_tool_err(PROG, "ort: %s", line);
    }
    return pclose(p) == 0 ? best : -1;
}

static void ort_rows(bench *b, const char *what, const char *unit, int threads, int64_t n,
                     double native_s, double ort_s)
{
    const char *who[2] = {"gansim", "ORT"};
    const double sec[2] = {native_s, ort_s};
    for (int i = 0; i < 2; i++) {
        char name[48], shape[64];
        snprintf(name, sizeof name, "%s %s T=%d", what, who[i], threads);
        snprintf(shape, sizeof shape, "%lld %s", (long long)n, unit);
        char per[16]; /* bench_row.unit */
        snprintf(per, sizeof per, "%s/s", unit);
        bench_add_rate(b, name, shape, 0, sec[i], threads, (double)n, per);
    }
}

static int ort_models(const char *dir, char *zdc_path, char *luxe_path, size_t n)
{
    /* zdc: design widths, 2 steps */
    ds_images im;
    int rc = ds_toy_zdc(256, 1, &im);
    md_zdc_cfg zc;
    md_zdc_cfg_default(&zc);
    /* the design's widths, not the (smaller) training defaults: what the ORT
     * comparison in docs/performance.md measured */
    md_zdc_cfg_design_widths(&zc);
    zc.iters = 2;
    zc.eval_every = zc.ckpt_every = 2;
    zc.eval_rows = 20;
    zc.batch = 16;
    char d[4096];
    snprintf(d, sizeof d, "%s/zdc", dir);
    if (!rc && mkdir(d, 0777) != 0)
        rc = gs_error(GS_ERR_IO, "ort: cannot create %s", d);
    md_train_opts zo = {.out_dir = d};
    int stopped = 0;
    if (!rc)
        rc = md_zdc_train(&zc, &im, &zo, &stopped);
    ds_images_free(&im);
    snprintf(zdc_path, n, "%s/zdc/model.h5", dir);
    /* luxe: the default configuration's networks, one region, 2 steps */
    ds_events ev;
    if (!rc)
        rc = ds_toy_luxe(20000, 1, &ev);
    if (rc)
        return rc;
    md_luxe_cfg lc;
    md_luxe_cfg_default(&lc);
    lc.iters = 2;
    lc.kl_every = lc.ckpt_every = 2;
    lc.kl_samples = 200;
    lc.region_mode = 0;
    lc.split_species = 0;
    snprintf(d, sizeof d, "%s/luxe", dir);
    if (mkdir(d, 0777) != 0) {
        ds_events_free(&ev);
        return gs_error(GS_ERR_IO, "ort: cannot create %s", d);
    }
    md_train_opts lo = {.out_dir = d};
    rc = md_luxe_train(&lc, &ev, &lo, &stopped);
    ds_events_free(&ev);
    snprintf(luxe_path, n, "%s/luxe/model.h5", dir);
    return rc;
}

static int bench_ort(bench *b)
{
    const char *root = getenv("GANSIM_ROOT") ? getenv("GANSIM_ROOT") : ".";
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/node_modules/onnxruntime-node/package.json", root);
    if (access(probe, R_OK) != 0 || system("node --version >/dev/null 2>&1") != 0) {
        fprintf(stderr, PROG ": ort: skipped (needs node and %s/node_modules/onnxruntime-node: "
                        "scripts/install-deps; GANSIM_ROOT names the source tree)\n", root);
        return GS_OK;
    }
    char dir[] = "/tmp/gansim-bench-XXXXXX";
    if (!mkdtemp(dir))
        return gs_error(GS_ERR_IO, "ort: cannot make a temporary directory");
    char zp[4096], lp[4096], zx[256], lx[256], zin[8192], lin[4096], path[4200];
    const int64_t nimg = b->pin_batch ? b->batch : 1024, nev = b->pin_batch ? b->batch : 65536;
    md_zdc_model *zm = NULL;
    md_luxe_model *lm = NULL;
    float *z = NULL, *c = NULL, *out = NULL, *lz = NULL, *lout = NULL;
    int rc = ort_models(dir, zp, lp, sizeof zp);
    snprintf(zx, sizeof zx, "%s/zdc-onnx", dir);
    snprintf(lx, sizeof lx, "%s/luxe-onnx", dir);
    if (!rc)
        rc = md_export(zp, zx, NULL);
    if (!rc)
        rc = md_export(lp, lx, NULL);
    if (!rc)
        rc = md_zdc_load(zp, &zm);
    if (!rc)
        rc = md_luxe_load(lp, &lm);
    md_zdc_inference zv;
    md_luxe_inference lv;
    if (!rc)
        rc = md_zdc_inference_view(zm, &zv);
    if (!rc)
        rc = md_luxe_inference_view(lm, &lv);
    if (rc)
        goto out;
    const int64_t nz = zv.g->noise_dim, nc = zv.g->n_cond, px = zv.g->h * zv.g->w;
    const int64_t lnz = lv.noise_dim, f = lv.n_features;
    z = rand_floats(nimg * nz, 5);
    c = rand_floats(nimg * nc, 6);
    out = malloc((size_t)(nimg * px) * sizeof *out);
    lz = rand_floats(nev * lnz, 7);
    lout = malloc((size_t)(nev * f) * sizeof *lout);
    if (!z || !c || !out || !lz || !lout) {
        rc = gs_error(GS_ERR_NOMEM, "ort: out of memory");
        goto out;
    }
    /* the generator takes noise_dim (10 here, as O2 feeds) */
    snprintf(path, sizeof path, "%s/z.f32", dir);
    rc = write_raw(path, z, nimg * nz);
    snprintf(path, sizeof path, "%s/c.f32", dir);
    if (!rc)
        rc = write_raw(path, c, nimg * nc);
    snprintf(path, sizeof path, "%s/lz.f32", dir);
    if (!rc)
        rc = write_raw(path, lz, nev * lnz);
    if (rc)
        goto out;
    snprintf(zin, sizeof zin, "--in 'noise:%s/z.f32:%lldx%lld' --in 'conditions:%s/c.f32:%lldx%lld'",
             dir, (long long)nimg, (long long)nz, dir, (long long)nimg, (long long)nc);
    snprintf(lin, sizeof lin, "--in 'noise:%s/lz.f32:%lldx%lld'", dir, (long long)nev,
             (long long)lnz);
    snprintf(zp, sizeof zp, "%s/generator.onnx", zx);
    { /* the first sub-model's file, whatever its name */
        char cmd[512];
        snprintf(cmd, sizeof cmd, "ls '%s'/sub0_*.onnx 2>/dev/null", lx);
        FILE *p = popen(cmd, "r");
        if (!p || !fgets(lp, sizeof lp, p))
            rc = gs_error(GS_ERR_IO, "ort: no exported luxe sub-model in %s", lx);
        if (p)
            pclose(p);
        lp[strcspn(lp, "\n")] = '\0';
    }
    int ts[2], nt = thread_list(b, ts);
    for (int ti = 0; ti < nt && !rc; ti++) {
        nn_set_threads(ts[ti]);
        ort_native zr = {.zm = zm, .z = z, .c = c, .n = nimg, .out = out, .ok = true};
        const double zs = bench_time(b, run_native_zdc, &zr);
        const double zo = ort_time(b, root, zp, zin, dir, ts[ti]);
        ort_native lr = {.lm = lm, .z = lz, .n = nev, .out = lout, .ok = true};
        const double ls = bench_time(b, run_native_luxe, &lr);
        const double lo = ort_time(b, root, lp, lin, dir, ts[ti]);
        if (!zr.ok || !lr.ok || zo <= 0 || lo <= 0) {
            rc = gs_error(GS_ERR_STATE, "ort: a run failed");
            break;
        }
        ort_rows(b, "zdc gen", "images", ts[ti], nimg, zs, zo);
        ort_rows(b, "luxe sub0", "events", ts[ti], nev, ls, lo);
    }
    nn_set_threads(b->threads);
out:
    md_zdc_free(zm);
    md_luxe_free(lm);
    free(z);
    free(c);
    free(out);
    free(lz);
    free(lout);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    if (system(path) != 0)
        gs_tool_err(PROG, "ort: could not remove %s", dir);
    return rc;
}

/* ---- the section table ------------------------------------------------------------ */
static const struct {
    const char *name;
    const char *what;
    bench_fn fn;
} sections[] = {
    {"sgemm", "cblas_sgemm GFLOP/s (the peak later sections compare with)", bench_sgemm},
    {"conv2d", "conv2d forward + backward at the zdc_gan shapes", bench_conv2d},
    {"wgan", "luxe WGAN-GP generator steps (md_wgan) at batch 256 and 1024", bench_wgan},
    {"gen", "luxe generation (md_mlp_generate), 65536 events", bench_gen},
    {"zdc", "zdc GAN training step, the plain step of bench/torch_ref.py (pinned config, not\n"
            "             the defaults), at batch 64 and 256",
     bench_zdc},
    {"zdc-recipe", "gansim-train zdc's default recipe (md_zdc_cfg_default, whatever it holds;\n"
                   "             the shape names its extras over the plain step), one training\n"
                   "             step at its batch; gansim only, no PyTorch counterpart",
     bench_zdc_recipe},
    {"zdc-gen", "gansim-sample's zdc sampler for section zdc's generator, 1024 images",
     bench_zdc_gen},
    {"zdc-flow", "zdc-flow (flow matching, default config): training step at batch 64 and "
                 "the ODE sampler, 256 images", bench_zdc_flow},
    {"ort", "exported zdc/luxe generators: gansim vs ONNX Runtime, same inputs", bench_ort},
};
#define N_SECTIONS (sizeof sections / sizeof sections[0])

/* ---- output ------------------------------------------------------------------------ */
static void print_table(const bench *b)
{
    printf("gansim-bench %s  threads %d  batch %lld  best of %d (warm-up %d)\n",
           GANSIM_VERSION, b->threads, (long long)b->batch, b->reps, b->warmup);
    printf("OpenBLAS kernels %s, gansim kernels %s\n", openblas_get_corename(),
           gs_isa_name(gs_cpu_isa()));
    if (nn_blas_advice())
        printf("note: %s\n", nn_blas_advice());
    if (b->sgemm_peak > 0)
        printf("sgemm peak %.1f GFLOP/s\n", b->sgemm_peak);
    const char *last = NULL;
    for (int i = 0; i < b->nrows; i++) {
        const bench_row *r = &b->rows[i];
        if (!last || strcmp(last, r->section) != 0) {
            printf("\n[%s]\n%-28s %-26s %9s %9s %9s %9s %9s %7s\n", r->section, "name", "shape",
                   "GFLOP", "fwd ms", "bwd ms", "total ms", "GFLOP/s", "% peak");
            last = r->section;
        }
        char f[16] = "-", bw[16] = "-", pk[16] = "-";
        if (r->fwd_ms >= 0) {
            snprintf(f, sizeof f, "%.2f", r->fwd_ms);
            snprintf(bw, sizeof bw, "%.2f", r->bwd_ms);
        }
        const double rate = r->gflop / (r->ms * 1e-3);
        const double peak = peak_for(b, r->threads);
        if (peak > 0)
            snprintf(pk, sizeof pk, "%.0f%%", 100.0 * rate / peak);
        printf("%-28s %-26s %9.3f %9s %9s %9.2f %9.1f %7s", r->name, r->shape, r->gflop, f,
               bw, r->ms, rate, pk);
        if (r->unit[0])
            printf("  %.4g %s", r->per_s, r->unit);
        printf("\n");
    }
    for (int i = 0; i < b->nrows; i++)
        if (!strncmp(b->rows[i].section, "zdc", 3)) {
            /* so that a "% peak" is never read against the textbook FLOPs */
            printf("\nzdc GFLOP are the FLOPs executed: G's upsample x2 + conv 3x3 blocks "
                   "count as the 2x2 phase convs\nthat run (nn_upsample2_conv3x3), not as "
                   "3x3 convs on the upsampled images.\n");
            break;
        }
}

static void print_json(const bench *b)
{
    printf("{\"tool\": \"gansim-bench\", \"version\": \"%s\", \"threads\": %d, \"batch\": %lld, "
           "\"reps\": %d, \"warmup\": %d, \"sgemm_peak_gflops\": %.3f, "
           "\"sgemm_peak1_gflops\": %.3f, \"results\": [",
           GANSIM_VERSION, b->threads, (long long)b->batch, b->reps, b->warmup, b->sgemm_peak,
           b->sgemm_peak1);
    for (int i = 0; i < b->nrows; i++) {
        const bench_row *r = &b->rows[i];
        const double rate = r->gflop / (r->ms * 1e-3);
        printf("%s\n  {\"section\": \"%s\", \"name\": \"%s\", \"shape\": \"%s\", \"gflop\": %.6f, "
               "\"ms\": %.4f, \"gflops\": %.3f",
               i ? "," : "", r->section, r->name, r->shape, r->gflop, r->ms, rate);
        if (r->fwd_ms >= 0)
            printf(", \"fwd_ms\": %.4f, \"bwd_ms\": %.4f", r->fwd_ms, r->bwd_ms);
        const double peak = peak_for(b, r->threads);
        if (peak > 0)
            printf(", \"frac_peak\": %.4f", rate / peak);
        if (r->unit[0])
            printf(", \"threads\": %d, \"per_s\": %.6g, \"unit\": \"%s\"",
                   r->threads, r->per_s, r->unit);
        printf("}");
    }
    printf("\n]}\n");
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [options]\n"
            "Measures the engine's kernels on this machine.\n\n"
            "  --json           print JSON instead of a table\n"
            "  --threads T      threads for OpenMP and OpenBLAS (default: GANSIM_THREADS or all cores)\n"
            "  --batch N        run every model phase at this one batch size (images or\n"
            "                   events for the generation phases; conv2d: default 64)\n"
            "  --reps R         timed repetitions, best reported (default 5)\n"
            "  --warmup W       untimed warm-up runs (default 2)\n"
            "  --section NAME   run only this section (and sgemm, for the peak)\n"
            "  --no-sgemm       skip the sgemm peak (one phase alone, e.g. for its peak RSS)\n"
            "  --openblas-coretype  print the OPENBLAS_CORETYPE this CPU should use when\n"
            "                   OpenBLAS runs its pre-AVX kernels on it (an empty line otherwise)\n"
            "                   and exit: scripts export it (make demo)\n"
            "Model phases (wgan, gen, zdc, zdc-recipe, zdc-gen, zdc-flow, ort) run at 1 thread\n"
            "and at T, and at their standard batch sizes; --threads or --batch pin a single\n"
            "configuration. Their GFLOP are the GEMM and conv FLOPs executed (zdc: G's\n"
            "upsample + conv blocks as the 2x2 phase convs of nn_upsample2_conv3x3).\n"
            "zdc and zdc-gen run a pinned plain GAN step, the one bench/torch_ref.py times in\n"
            "PyTorch (make bench-compare); zdc-recipe runs gansim-train zdc's defaults.\n"
            "  --help, --version\n\nsections:\n");
    for (size_t i = 0; i < N_SECTIONS; i++)
        fprintf(f, "  %-10s %s\n", sections[i].name, sections[i].what);
}

int main(int argc, char **argv)
{
    bench b = {.warmup = 2, .reps = 5, .batch = 64};
    const char *only = NULL;
    long long threads = 0;
    const char *env = getenv("GANSIM_THREADS");
    if (env && gs_tool_parse_i64(env, 1, 4096, &threads) != 0) {
        gs_tool_err(PROG, "GANSIM_THREADS=%s is not a thread count", env);
        return GS_EXIT_USAGE;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        const bool has_val = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return GS_EXIT_OK;
        } else if (!strcmp(a, "--version")) {
            printf(PROG " %s\n", GANSIM_VERSION);
            return GS_EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            b.json = true;
        } else if (!strcmp(a, "--threads") && has_val &&
                   !gs_tool_parse_i64(argv[i + 1], 1, 4096, &v)) {
            threads = v;
            b.pin_threads = true;
            i++;
        } else if (!strcmp(a, "--batch") && has_val &&
                   !gs_tool_parse_i64(argv[i + 1], 1, 1 << 20, &v)) {
            b.batch = v;
            b.pin_batch = true;
            i++;
        } else if (!strcmp(a, "--reps") && has_val &&
                   !gs_tool_parse_i64(argv[i + 1], 1, 100000, &v)) {
            b.reps = (int)v;
            i++;
        } else if (!strcmp(a, "--warmup") && has_val &&
                   !gs_tool_parse_i64(argv[i + 1], 0, 100000, &v)) {
            b.warmup = (int)v;
            i++;
        } else if (!strcmp(a, "--no-sgemm")) {
            b.no_sgemm = true;
        } else if (!strcmp(a, "--openblas-coretype")) {
            const char *c = nn_blas_better_core();
            printf("%s\n", c ? c : "");
            return GS_EXIT_OK;
        } else if (!strcmp(a, "--section") && has_val) {
            only = argv[++i];
        } else {
            gs_tool_err(PROG, "bad option or value: %s (see --help)", a);
            return GS_EXIT_USAGE;
        }
    }
    if (only) {
        bool known = false;
        for (size_t s = 0; s < N_SECTIONS; s++)
            known |= !strcmp(only, sections[s].name);
        if (!known) {
            gs_tool_err(PROG, "no section named %s (see --help)", only);
            return GS_EXIT_USAGE;
        }
    }
    if (threads > 0)
        nn_set_threads((int)threads);
    b.threads = nn_get_threads();
    for (size_t s = 0; s < N_SECTIONS; s++) {
        if (only && strcmp(only, sections[s].name) && strcmp(sections[s].name, "sgemm"))
            continue;
        if (b.no_sgemm && !strcmp(sections[s].name, "sgemm"))
            continue;
        b.cur = sections[s].name;
        if (!b.json && gs_tool_isatty())
            fprintf(stderr, "running %s...\n", b.cur);
        if (sections[s].fn(&b) != GS_OK) {
            gs_tool_err(PROG, "section %s failed: %s", b.cur, gs_errmsg());
            return GS_EXIT_FAIL;
        }
    }
    if (b.json)
        print_json(&b);
    else
        print_table(&b);
    return GS_EXIT_OK;
}

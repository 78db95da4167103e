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
#include "nn/nn.h"
#include "tools/tool_common.h"

#include <cblas.h>
#include <string.h>
#include <time.h>

#define PROG "gansim-bench"
#define MAX_ROWS 64

typedef struct {
    const char *section;
    char name[48];
    char shape[64];
    double gflop;      /* work of one run */
    double ms;         /* best time of one run */
    double fwd_ms, bwd_ms;  /* split where it applies, else < 0 */
} bench_row;

typedef struct {
    bool json;
    int threads, warmup, reps;
    int64_t batch;
    double sgemm_peak;  /* GFLOP/s, 0 until the sgemm section ran */
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
    return r;
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

/* §5 of the design: generator convs after each x2 upsampling (14x8 -> 28x16
 * -> 56x32), discriminator convs 3x3 stride 2 on the 56x30 image. */
static const conv_shape zdc_convs[] = {
    {"G conv 128->64", 128, 64, 28, 16, 3, 1, 1},
    {"G conv 64->32", 64, 32, 56, 32, 3, 1, 1},
    {"G conv 32->1", 32, 1, 56, 32, 3, 1, 1},
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

/* ---- the section table ------------------------------------------------------------ */
static const struct {
    const char *name;
    const char *what;
    bench_fn fn;
} sections[] = {
    {"sgemm", "cblas_sgemm GFLOP/s (the peak later sections compare with)", bench_sgemm},
    {"conv2d", "conv2d forward + backward at the zdc_gan shapes", bench_conv2d},
};
#define N_SECTIONS (sizeof sections / sizeof sections[0])

/* ---- output ------------------------------------------------------------------------ */
static void print_table(const bench *b)
{
    printf("gansim-bench %s  threads %d  batch %lld  best of %d (warm-up %d)\n",
           GANSIM_VERSION, b->threads, (long long)b->batch, b->reps, b->warmup);
    if (b->sgemm_peak > 0)
        printf("sgemm peak %.1f GFLOP/s\n", b->sgemm_peak);
    const char *last = NULL;
    for (int i = 0; i < b->nrows; i++) {
        const bench_row *r = &b->rows[i];
        if (!last || strcmp(last, r->section) != 0) {
            printf("\n[%s]\n%-20s %-26s %9s %9s %9s %9s %9s %7s\n", r->section, "name", "shape",
                   "GFLOP", "fwd ms", "bwd ms", "total ms", "GFLOP/s", "% peak");
            last = r->section;
        }
        char f[16] = "-", bw[16] = "-", pk[16] = "-";
        if (r->fwd_ms >= 0) {
            snprintf(f, sizeof f, "%.2f", r->fwd_ms);
            snprintf(bw, sizeof bw, "%.2f", r->bwd_ms);
        }
        const double rate = r->gflop / (r->ms * 1e-3);
        if (b->sgemm_peak > 0)
            snprintf(pk, sizeof pk, "%.0f%%", 100.0 * rate / b->sgemm_peak);
        printf("%-20s %-26s %9.3f %9s %9s %9.2f %9.1f %7s\n", r->name, r->shape, r->gflop, f,
               bw, r->ms, rate, pk);
    }
}

static void print_json(const bench *b)
{
    printf("{\"tool\": \"gansim-bench\", \"version\": \"%s\", \"threads\": %d, \"batch\": %lld, "
           "\"reps\": %d, \"warmup\": %d, \"sgemm_peak_gflops\": %.3f, \"results\": [",
           GANSIM_VERSION, b->threads, (long long)b->batch, b->reps, b->warmup, b->sgemm_peak);
    for (int i = 0; i < b->nrows; i++) {
        const bench_row *r = &b->rows[i];
        const double rate = r->gflop / (r->ms * 1e-3);
        printf("%s\n  {\"section\": \"%s\", \"name\": \"%s\", \"shape\": \"%s\", \"gflop\": %.6f, "
               "\"ms\": %.4f, \"gflops\": %.3f",
               i ? "," : "", r->section, r->name, r->shape, r->gflop, r->ms, rate);
        if (r->fwd_ms >= 0)
            printf(", \"fwd_ms\": %.4f, \"bwd_ms\": %.4f", r->fwd_ms, r->bwd_ms);
        if (b->sgemm_peak > 0)
            printf(", \"frac_peak\": %.4f", rate / b->sgemm_peak);
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
            "  --batch N        batch size of the conv shapes (default 64)\n"
            "  --reps R         timed repetitions, best reported (default 5)\n"
            "  --warmup W       untimed warm-up runs (default 2)\n"
            "  --section NAME   run only this section (and sgemm, for the peak)\n"
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
            i++;
        } else if (!strcmp(a, "--batch") && has_val &&
                   !gs_tool_parse_i64(argv[i + 1], 1, 1 << 20, &v)) {
            b.batch = v;
            i++;
        } else if (!strcmp(a, "--reps") && has_val &&
                   !gs_tool_parse_i64(argv[i + 1], 1, 100000, &v)) {
            b.reps = (int)v;
            i++;
        } else if (!strcmp(a, "--warmup") && has_val &&
                   !gs_tool_parse_i64(argv[i + 1], 0, 100000, &v)) {
            b.warmup = (int)v;
            i++;
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
        b.cur = sections[s].name;
        if (!b.json && gs_tool_isatty())
            fprintf(stderr, "running %s...\n", b.cur);
        if (sections[s].fn(&b) != GS_OK) {
            gs_tool_err(PROG, "section %s failed", b.cur);
            return GS_EXIT_FAIL;
        }
    }
    if (b.json)
        print_json(&b);
    else
        print_table(&b);
    return GS_EXIT_OK;
}

/* gansim-sample: draws events (LUXE) or images (ZDC) from a trained model;
 * the model file names its kind (models/md_run.h), which says what it draws. */
#include <getopt.h>
#include <string.h>
#include <time.h>

#include "core/gs_h5.h"
#include "datasets/ds_hepmc3.h"
#include "models/md_produce.h"
#include "models/md_run.h"
#include "nn/nn.h"
#include "tool_common.h"

static const char *prog = "gansim-sample";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s --model run/model.h5 -o gen.h5 (-n N | --bunch-crossings K) [options]\n"
            "       %s --model run/model.h5 -o gen.h5 --conditions cond.h5 [-k K] [options]\n"
            "       %s --model run/model.h5 -o bg.hepmc3 --bunch-crossings K --format hepmc3\n"
            "\n"
            "Samples from a model trained by gansim-train (the kind is read from the file).\n"
            "LUXE models write an event table in the training file's layout (same columns,\n"
            "units and species coding). ZDC models write an image set (/images [N, 56, 30],\n"
            "/conditions): K images for each row of the conditions file, in its order.\n"
            "\n"
            "options:\n"
            "  --model FILE            model.h5 (or last.h5) from gansim-train\n"
            "  -o, --out FILE          output HDF5 file (written atomically)\n"
            "  -n N                    number of particles\n"
            "  --bunch-crossings K     K whole bunch crossings, each a Poisson number of\n"
            "                          particles (mean particles_per_bx); adds /bx\n"
            "  --conditions FILE       (zdc) HDF5 file with /conditions [N, 9] (an image set works)\n"
            "  -k K                    (zdc) images per condition row (default 1)\n"
            "  --seed S                random seed (default 1)\n"
            "  --format F              h5 (default) or hepmc3: one HepMC3 ASCII event per bunch\n"
            "                          crossing, for ddsim / Geant4 (frame: docs/deploy.md; held\n"
            "                          in memory, one process)\n"
            "  --plane-z MM            (hepmc3) z of the scoring plane in the output frame\n"
            "                          (default 0)\n"
            "  --compress L            gzip level 1..9 for the output's datasets (default 0:\n"
            "                          none; 1 already halves event tables)\n"
            "  --threads T             threads (default: GANSIM_THREADS or all cores; under\n"
            "                          MPI each rank's share of its CPUs)\n"
            "  --allow-partial         sample a model whose training was interrupted (refused\n"
            "                          otherwise: some sub-models are under-trained)\n"
            "  -h, --help              this help;  --version  the version\n"
            "\n"
            "The output is made and written in chunks (memory does not grow with N) under a\n"
            "temporary name, renamed to FILE at the end: an interrupted run (Ctrl-C, SIGTERM:\n"
            "exit 130/143) leaves no FILE. The same seed gives the same file for any thread\n"
            "count and any number of MPI ranks:\n"
            "  mpirun -np 4 %s --model run/model.h5 -n 100000000 -o gen.h5\n"
            "(every rank makes every 4th chunk; rank 0 writes them in order).\n",
            prog, prog, prog, prog);
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- progress (rank 0): a rewritten line on a TTY, else a line per 10 % ---- */
typedef struct {
    const char *unit;
    int64_t expect;   /* rows expected, 0 when unknown (bunch crossings) */
    double t0;
    int tty, last_decile;
} progress;

static void on_progress(void *ud, int64_t done, int64_t n_chunks, int64_t rows)
{
    progress *p = ud;
    const double el = wall() - p->t0, frac = (double)done / (double)n_chunks;
    const double eta = frac > 0 ? el * (1 - frac) / frac : 0;
    if (p->tty) {
        fprintf(stderr, "\r%s: %lld %s, chunk %lld/%lld (%3.0f %%), %.3g /s, ETA %.0f s   ", prog,
                (long long)rows, p->unit, (long long)done, (long long)n_chunks, 100 * frac,
                rows / (el > 0 ? el : 1e-9), eta);
        if (done == n_chunks)
            fputc('\n', stderr);
        fflush(stderr);
    } else if ((int)(10 * frac) > p->last_decile && done < n_chunks) {
        p->last_decile = (int)(10 * frac);
        fprintf(stderr, "%s: %3.0f %%: %lld %s, %.3g /s, ETA %.0f s\n", prog, 100 * frac,
                (long long)rows, p->unit, rows / (el > 0 ? el : 1e-9), eta);
    }
}

/* ---- chunk sources over the model kind's chunk ops ------------------------ */
typedef struct {
    const md_events_ops *ops;
    void *m;
    int64_t n, k_bx;
    uint64_t seed;
    ds_events cur;
    int64_t *bx;
} events_src;

static int events_chunk(void *ud, int64_t c, ds_events *rows, const int64_t **bx)
{
    events_src *s = ud;
    ds_events_free(&s->cur);
    free(s->bx);
    s->bx = NULL;
    int rc = s->ops->sample_chunk(s->m, s->n, s->k_bx, s->seed, c, &s->cur, &s->bx);
    *rows = s->cur;
    *bx = s->bx;
    return rc;
}

typedef struct {
    const md_images_ops *ops;
    void *m;
    const float *cond;
    int64_t n, k;
    uint64_t seed;
    ds_images cur;
} images_src;

static int images_chunk(void *ud, int64_t c, ds_images *rows)
{
    images_src *s = ud;
    ds_images_free(&s->cur);
    int rc = s->ops->sample_chunk(s->m, s->cond, s->n, s->k, s->seed, c, &s->cur);
    *rows = s->cur;
    return rc;
}

/* What every production shares: the communicator, output options, signals. */
typedef struct {
    gs_comm *comm;
    int deflate;
    const char *layout;
} run_opts;

/* The end of a production on this rank: an exit code after the messages. */
static int finish(const run_opts *ro, int rc, int stopped, const char *out, const char *what,
                  int64_t rows, double dt)
{
    const int talk = gs_comm_rank(ro->comm) == 0;
    if (rc) {
        if (gs_comm_size(ro->comm) > 1)
            gs_tool_err(prog, "rank %d: %s", gs_comm_rank(ro->comm), gs_errmsg());
        else
            gs_tool_err(prog, "%s", gs_errmsg());
        return GS_EXIT_FAIL;
    }
    if (stopped) {
        if (talk)
            fprintf(stderr, "\n%s: interrupted (signal %d): nothing written to %s\n", prog,
                    stopped, out);
        return 128 + stopped;
    }
    if (talk)
        fprintf(stderr, "%s: %lld %s in %.2f s (%.3g /s, %s) -> %s\n", prog, (long long)rows, what,
                dt, (double)rows / (dt > 0 ? dt : 1e-9), ro->layout, out);
    return GS_EXIT_OK;
}

static int sample_images(const run_opts *ro, md_model *mo, const char *conds, long long k,
                         long long seed, const char *out)
{
    const md_images_ops *ops = md_model_kind(mo)->images;
    void *m = md_model_handle(mo);
    ds_images cond;
    if (ds_conditions_read(conds, &cond))
        return finish(ro, GS_ERR_IO, 0, out, "", 0, 0);
    int rc = GS_OK, stopped = 0;
    int64_t rows = 0;
    double t0 = wall();
    if (cond.c != ops->n_cond(m)) {
        rc = gs_error(GS_ERR_FORMAT, "%s: %lld condition columns, the model takes %lld", conds,
                      (long long)cond.c, (long long)ops->n_cond(m));
    } else {
        images_src src = {ops, m, cond.cond, cond.n, k, (uint64_t)seed, {0}};
        md_chunk_source cs = {.n_chunks = ops->n_chunks(m, cond.n, k), .images = images_chunk,
                              .ud = &src};
        ds_images like = {.c = cond.c, .cond_columns = cond.cond_columns};
        ops->image_shape(m, &like.h, &like.w);
        progress pr = {"images", cond.n * k, t0, gs_tool_isatty(), 0};
        md_produce_opts po = {.comm = ro->comm,
                              .write = {.deflate = ro->deflate, .rows = cond.n * k},
                              .stop = md_stop_on_signals(),
                              .progress = gs_comm_rank(ro->comm) == 0 ? on_progress : NULL,
                              .progress_ud = &pr};
        rc = md_produce_images(&cs, &like, out, &po, &rows, &stopped);
        ds_images_free(&src.cur);
    }
    ds_images_free(&cond);
    char what[64];
    snprintf(what, sizeof what, "images (%lld per condition)", k);
    return finish(ro, rc, stopped, out, what, rows, wall() - t0);
}

static void hepmc3_progress(void *user, int64_t done, int64_t total)
{
    (void)user;
    gs_tool_progress("HepMC3 events", done, total);
}

/* HepMC3 events (one per bunch crossing): the crossings drawn whole (the
 * same rows as the HDF5 production of this seed), then written as text. */
static int sample_hepmc3(const run_opts *ro, md_model *mo, long long bxs, long long seed,
                         const char *out, ds_hepmc3_opts *ho)
{
    const md_events_ops *ops = md_model_kind(mo)->events;
    ds_events ev;
    int64_t *bx = NULL;
    double t0 = wall();
    int rc = ops->sample_bx(md_model_handle(mo), bxs, (uint64_t)seed, &ev, &bx);
    ds_hepmc3_stats hst = {0};
    if (!rc) {
        ho->seed = (uint64_t)seed;
        /* Ctrl-C / SIGTERM while the text is written: the writer stops after
         * the event at hand and removes its temporary file (the default
         * action would leave it behind). Sampling before it stays
         * interruptible the plain way: nothing is on disk yet. */
        ho->stop = md_stop_on_signals();
        rc = ds_hepmc3_write(out, &ev, bx, bxs, ho, &hst);
    }
    const int64_t rows = rc ? 0 : ev.n;
    if (!rc) {
        ds_events_free(&ev);
        free(bx);
        if (!hst.stopped)
            fprintf(stderr, "%s: %lld HepMC3 events (%lld without particles)\n", prog,
                    (long long)hst.events, (long long)hst.empty);
    }
    char what[64];
    snprintf(what, sizeof what, "particles in %lld bunch crossings", bxs);
    return finish(ro, rc, (int)hst.stopped, out, what, rows, wall() - t0);
}

static int sample_events(const run_opts *ro, md_model *mo, long long n, long long bxs,
                         long long seed, const char *out)
{
    const md_events_ops *ops = md_model_kind(mo)->events;
    void *m = md_model_handle(mo);
    /* the table's layout: the training file's columns and units, species */
    const int64_t f = ops->n_features(m);
    const char *cols[64], *units[64];
    int32_t has_pdg = 0;
    int with_units = f <= 64;
    for (int64_t i = 0; i < f && i < 64; i++) {
        cols[i] = ops->column(m, i);
        units[i] = ops->unit(m, i);
        with_units &= units[i] && units[i][0];
    }
    if (f < 1 || f > 64)
        return finish(ro, gs_error(GS_ERR_FORMAT, "the model has %lld columns", (long long)f), 0,
                      out, "", 0, 0);
    ds_events like = {.f = f, .columns = (char **)cols, .units = with_units ? (char **)units : NULL,
                      .pdg = &has_pdg, .particles_per_bx = ops->particles_per_bx(m)};
    events_src src = {ops, m, n, bxs, (uint64_t)seed, {0}, NULL};
    md_chunk_source cs = {.n_chunks = ops->n_chunks(m, n, bxs), .events = events_chunk,
                          .ud = &src};
    double t0 = wall();
    progress pr = {"particles", bxs ? 0 : n, t0, gs_tool_isatty(), 0};
    md_produce_opts po = {.comm = ro->comm,
                          .write = {.deflate = ro->deflate, .rows = bxs ? 0 : n},
                          .stop = md_stop_on_signals(),
                          .progress = gs_comm_rank(ro->comm) == 0 ? on_progress : NULL,
                          .progress_ud = &pr};
    int64_t rows = 0;
    int stopped = 0;
    int rc = md_produce_events(&cs, &like, bxs > 0, out, &po, &rows, &stopped);
    ds_events_free(&src.cur);
    free(src.bx);
    char what[64];
    if (bxs)
        snprintf(what, sizeof what, "particles in %lld bunch crossings", bxs);
    else
        snprintf(what, sizeof what, "particles");
    return finish(ro, rc, stopped, out, what, rows, wall() - t0);
}

int main(int argc, char **argv)
{
    enum { O_BX = 256, O_SEED, O_THREADS, O_VERSION, O_MODEL, O_COND, O_COMPRESS, O_FORMAT,
           O_PLANE_Z, O_PARTIAL };
    static const struct option lo[] = {
        {"model", required_argument, 0, O_MODEL}, {"out", required_argument, 0, 'o'},
        {"bunch-crossings", required_argument, 0, O_BX}, {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS}, {"conditions", required_argument, 0, O_COND},
        {"compress", required_argument, 0, O_COMPRESS},
        {"format", required_argument, 0, O_FORMAT}, {"plane-z", required_argument, 0, O_PLANE_Z},
        {"help", no_argument, 0, 'h'}, {"allow-partial", no_argument, 0, O_PARTIAL},
        {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
    unsigned open_flags = 0;
    const char *model = NULL, *out = NULL, *conds = NULL;
    long long n = 0, bxs = 0, seed = 1, threads = 0, k = 0, deflate = 0;
    int c, hepmc3 = 0, has_plane_z = 0;
    double plane_z = 0;
    while ((c = getopt_long(argc, argv, ":o:n:k:h", lo, NULL)) != -1) {
        switch (c) {
        case O_MODEL: model = optarg; break;
        case O_COND: conds = optarg; break;
        case O_PARTIAL: open_flags |= MD_OPEN_ALLOW_PARTIAL; break;
        case 'k':
            if (gs_tool_int_opt(prog, "-k", optarg, 1, (long long)1 << 20, &k))
                return GS_EXIT_USAGE;
            break;
        case 'o': out = optarg; break;
        case 'n':
            if (gs_tool_int_opt(prog, "-n", optarg, 1, (long long)1 << 40, &n))
                return GS_EXIT_USAGE;
            break;
        case O_BX:
            if (gs_tool_int_opt(prog, "--bunch-crossings", optarg, 1, (long long)1 << 32, &bxs))
                return GS_EXIT_USAGE;
            break;
        case O_SEED:
            if (gs_tool_parse_i64(optarg, 0, INT64_MAX, &seed)) {
                gs_tool_err(prog, "--seed: '%s' is not a non-negative integer", optarg);
                return GS_EXIT_USAGE;
            }
            break;
        case O_THREADS:
            if (gs_tool_parse_i64(optarg, 1, 1024, &threads)) {
                gs_tool_err(prog, "--threads: '%s' is not an integer in 1..1024", optarg);
                return GS_EXIT_USAGE;
            }
            break;
        case O_COMPRESS:
            if (gs_tool_parse_i64(optarg, 0, 9, &deflate)) {
                gs_tool_err(prog, "--compress: '%s' is not a gzip level in 0..9", optarg);
                return GS_EXIT_USAGE;
            }
            break;
        case O_FORMAT:
            if (strcmp(optarg, "h5") && strcmp(optarg, "hepmc3")) {
                gs_tool_err(prog, "--format: '%s' is not h5 or hepmc3", optarg);
                return GS_EXIT_USAGE;
            }
            hepmc3 = !strcmp(optarg, "hepmc3");
            break;
        case O_PLANE_Z:
            if (gs_tool_parse_f64(optarg, &plane_z)) {
                gs_tool_err(prog, "--plane-z: '%s' is not a finite number (mm)", optarg);
                return GS_EXIT_USAGE;
            }
            has_plane_z = 1;
            break;
        case 'h': usage(stdout); return GS_EXIT_OK;
        case O_VERSION: printf("%s %s\n", prog, GANSIM_VERSION); return GS_EXIT_OK;
        default: return gs_tool_getopt_fail(prog, c, argv, optind);
        }
    }
    if (optind < argc) {
        gs_tool_err(prog, "unexpected argument '%s'", argv[optind]);
        return GS_EXIT_USAGE;
    }
    if (!model || !out) {
        gs_tool_err(prog, "need --model and -o (see --help)");
        return GS_EXIT_USAGE;
    }
    if (conds || k) {
        /* the model's kind is not known yet: name both uses */
        if (!conds || n || bxs) {
            gs_tool_err(prog, "%s", !conds ? "-k needs --conditions FILE (ZDC models)"
                                           : "--conditions [-k K] (ZDC models) and -n / "
                                             "--bunch-crossings (LUXE models) exclude each "
                                             "other (see --help)");
            return GS_EXIT_USAGE;
        }
    } else if ((!n && !bxs) || (n && bxs)) {
        gs_tool_err(prog, "need exactly one of -n / --bunch-crossings, or --conditions "
                          "(see --help)");
        return GS_EXIT_USAGE;
    }
    if (hepmc3 && !bxs) {
        gs_tool_err(prog, "--format hepmc3 writes one event per bunch crossing: give "
                          "--bunch-crossings K (LUXE models)");
        return GS_EXIT_USAGE;
    }
    if (has_plane_z && !hepmc3) {
        gs_tool_err(prog, "--plane-z applies to --format hepmc3 only");
        return GS_EXIT_USAGE;
    }
    if (hepmc3 && deflate) {
        gs_tool_err(prog, "--compress applies to HDF5 output (--format h5)");
        return GS_EXIT_USAGE;
    }
    if (gs_tool_threads(prog, threads))
        return GS_EXIT_USAGE;
    const gs_tool_file ins[] = {{"--model", model}, {"--conditions", conds}}, outs[] = {{"-o", out}};
    if (gs_tool_guard_io(prog, ins, 2, outs, 1))
        return GS_EXIT_USAGE;
    /* before any sampling: HepMC3 output is written only at the end */
    if (gs_check_out_path(out)) {
        gs_tool_err(prog, "%s", gs_errmsg());
        return GS_EXIT_FAIL;
    }

    /* the kind first: a usage error is reported before the model is loaded */
    const md_kind *kind;
    if (md_kind_of_file(model, &kind)) {
        gs_tool_err(prog, "%s", gs_errmsg());
        return GS_EXIT_FAIL;
    }
    if (kind->images && !conds) {
        gs_tool_err(prog, "%s is a %s model: give --conditions FILE [-k K]", model,
                    kind->file_kind);
        return GS_EXIT_USAGE;
    }
    if (kind->events && conds) {
        gs_tool_err(prog, "%s is a %s model: it takes -n or --bunch-crossings, not "
                          "--conditions", model, kind->file_kind);
        return GS_EXIT_USAGE;
    }
    gs_comm *comm;
    if (gs_tool_comm(prog, threads, &comm))
        return GS_EXIT_FAIL;
    char layout[64];
    run_opts ro = {comm, (int)deflate, gs_comm_layout(comm, nn_get_threads(), layout, sizeof layout)};
    if (hepmc3 && gs_comm_size(comm) > 1) {
        if (gs_comm_rank(comm) == 0)
            gs_tool_err(prog, "--format hepmc3 runs in one process (it holds the production "
                              "in memory); write HDF5 under MPI");
        return GS_EXIT_USAGE;
    }
    md_model *m;
    if (md_model_open_ex(model, open_flags, &m)) {
        gs_tool_err(prog, "%s", gs_errmsg());
        return gs_tool_exit(comm, GS_EXIT_FAIL);
    }
    /* under-trained or never trained sub-models, loud on the terminal */
    for (const char *q = md_model_status_of(m)->notes; *q;) {
        const char *nl = strchr(q, '\n');
        const int len = nl ? (int)(nl - q) : (int)strlen(q);
        fprintf(stderr, "%s: WARNING: %s: %.*s\n", prog, model, len, q);
        q += len + (nl != NULL);
    }
    ds_hepmc3_opts ho = {.model = model, .model_kind = kind->file_kind, .plane_z_mm = plane_z,
                         .progress = hepmc3_progress};
    const int ex = kind->images ? sample_images(&ro, m, conds, k ? k : 1, seed, out)
                   : hepmc3     ? sample_hepmc3(&ro, m, bxs, seed, out, &ho)
                                : sample_events(&ro, m, n, bxs, seed, out);
    md_model_close(m);
    if (ex == GS_EXIT_OK) /* after the work: a refused run prints one line */
        gs_tool_blas_note(prog, comm);
    /* a failure is the same on every rank (md_produce agrees on it), except
     * one rank's own I/O: end the job in either case */
    return ex == GS_EXIT_FAIL ? gs_tool_exit(comm, ex) : ex;
}

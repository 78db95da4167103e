/* gansim-sample: draws events (LUXE) or images (ZDC) from a trained model;
 * the model file names its kind (models/md_run.h), which says what it draws. */
#include <getopt.h>
#include <string.h>
#include <time.h>

#include "core/gs_h5.h"
#include "datasets/ds_hepmc3.h"
#include "models/md_run.h"
#include "nn/nn.h"
#include "tool_common.h"

static const char *prog = "gansim-sample";

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s --model run/model.h5 -o gen.h5 (-n N | --bunch-crossings K) [options]\n"
            "       %s --model run/model.h5 -o bg.hepmc3 --bunch-crossings K --format hepmc3\n"
            "       %s --model run/model.h5 -o gen.h5 --conditions cond.h5 [-k K] [options]\n"
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
            "  --format F              h5 (default) or hepmc3: one HepMC3 ASCII event per bunch\n"
            "                          crossing, for ddsim / Geant4 (frame: docs/deploy.md)\n"
            "  --plane-z MM            (hepmc3) z of the scoring plane in the output frame\n"
            "                          (default 0)\n"
            "  --conditions FILE       (zdc) HDF5 file with /conditions [N, 9] (an image set works)\n"
            "  -k K                    (zdc) images per condition row (default 1)\n"
            "  --seed S                random seed (default 1)\n"
            "  --threads T             threads (default: GANSIM_THREADS or all cores)\n"
            "  --allow-partial         sample a model whose training was interrupted (refused\n"
            "                          otherwise: some sub-models are under-trained)\n"
            "  -h, --help              this help;  --version  the version\n",
            prog, prog, prog);
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Writes ev (and bx when given) to path atomically. */
static int write_events(const char *path, const ds_events *ev, const int64_t *bx)
{
    if (!bx)
        return ds_events_write(path, ev);
    char tmp[4096];
    int rc = gs_tmp_path(tmp, sizeof tmp, path);
    if (rc || (rc = ds_events_write(tmp, ev)))
        return rc;
    hid_t f;
    if (!(rc = gs_h5_open(tmp, 1, &f))) {
        rc = gs_h5_write(f, "bx", GS_H5_I64, 1, (int64_t[]){ev->n}, bx);
        int crc = gs_h5_close(f);
        if (!rc)
            rc = crc;
    }
    if (rc) {
        gs_discard(tmp);
        return rc;
    }
    return gs_commit(tmp, path);
}

static int sample_images(md_model *mo, const char *conds, long long k, long long seed,
                         const char *out)
{
    const md_images_ops *ops = md_model_kind(mo)->images;
    void *m = md_model_handle(mo);
    ds_images cond;
    if (ds_conditions_read(conds, &cond)) {
        gs_tool_err(prog, "%s", gs_errmsg());
        return GS_EXIT_FAIL;
    }
    int rc = GS_OK;
    ds_images im = {0};
    double dt = 0;
    if (cond.c != ops->n_cond(m)) {
        rc = gs_error(GS_ERR_FORMAT, "%s: %lld condition columns, the model takes %lld", conds,
                      (long long)cond.c, (long long)ops->n_cond(m));
    } else {
        double t0 = wall();
        rc = ops->sample(m, cond.cond, cond.n, k, (uint64_t)seed, &im);
        dt = wall() - t0;
    }
    if (!rc && cond.cond_columns && !im.cond_columns) {
        im.cond_columns = cond.cond_columns; /* ownership moves to the output */
        cond.cond_columns = NULL;
    }
    ds_images_free(&cond);
    if (!rc)
        rc = ds_images_write(out, &im);
    if (rc) {
        gs_tool_err(prog, "%s", gs_errmsg());
        ds_images_free(&im);
        return GS_EXIT_FAIL;
    }
    fprintf(stderr, "%s: %lld images (%lld per condition) in %.2f s (%.0f images/s) -> %s\n",
            prog, (long long)im.n, k, dt, (double)im.n / (dt > 0 ? dt : 1e-9), out);
    ds_images_free(&im);
    return GS_EXIT_OK;
}

static void hepmc3_progress(void *user, int64_t done, int64_t total)
{
    (void)user;
    gs_tool_progress("HepMC3 events", done, total);
}

/* hepmc3: NULL writes HDF5, else HepMC3 events with these options (seed set here). */
static int sample_events(md_model *mo, long long n, long long bxs, long long seed,
                         const char *out, ds_hepmc3_opts *hepmc3)
{
    const md_events_ops *ops = md_model_kind(mo)->events;
    void *m = md_model_handle(mo);
    ds_events ev;
    int64_t *bx = NULL;
    double t0 = wall();
    int rc = bxs ? ops->sample_bx(m, bxs, (uint64_t)seed, &ev, &bx)
                 : ops->sample(m, n, (uint64_t)seed, &ev);
    double dt = wall() - t0;
    if (rc) {
        gs_tool_err(prog, "%s", gs_errmsg());
        return GS_EXIT_FAIL;
    }
    ds_hepmc3_stats hst = {0};
    if (hepmc3) {
        hepmc3->seed = (uint64_t)seed;
        rc = ds_hepmc3_write(out, &ev, bx, bxs, hepmc3, &hst);
    } else {
        rc = write_events(out, &ev, bx);
    }
    if (rc) {
        gs_tool_err(prog, "%s", gs_errmsg());
        ds_events_free(&ev);
        free(bx);
        return GS_EXIT_FAIL;
    }
    if (hepmc3)
        fprintf(stderr, "%s: %lld HepMC3 events (%lld without particles)\n", prog,
                (long long)hst.events, (long long)hst.empty);
    fprintf(stderr, "%s: %lld particles%s in %.2f s (%.3g /s) -> %s\n", prog, (long long)ev.n,
            bxs ? " in bunch crossings" : "", dt, (double)ev.n / (dt > 0 ? dt : 1e-9), out);
    ds_events_free(&ev);
    free(bx);
    return GS_EXIT_OK;
}

int main(int argc, char **argv)
{
    enum { O_BX = 256, O_SEED, O_THREADS, O_VERSION, O_MODEL, O_COND, O_FORMAT, O_PLANE_Z,
           O_PARTIAL };
    static const struct option lo[] = {
        {"model", required_argument, 0, O_MODEL}, {"out", required_argument, 0, 'o'},
        {"bunch-crossings", required_argument, 0, O_BX}, {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS}, {"conditions", required_argument, 0, O_COND},
        {"format", required_argument, 0, O_FORMAT}, {"plane-z", required_argument, 0, O_PLANE_Z},
        {"help", no_argument, 0, 'h'}, {"allow-partial", no_argument, 0, O_PARTIAL},
        {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
    unsigned open_flags = 0;
    const char *model = NULL, *out = NULL, *conds = NULL;
    long long n = 0, bxs = 0, seed = 1, threads = 0, k = 0;
    int c, hepmc3 = 0, has_plane_z = 0;
    double plane_z = 0;
    while ((c = getopt_long(argc, argv, ":o:n:k:h", lo, NULL)) != -1) {
        switch (c) {
        case O_MODEL: model = optarg; break;
        case O_COND: conds = optarg; break;
        case O_PARTIAL: open_flags |= MD_OPEN_ALLOW_PARTIAL; break;
        case 'k':
            if (gs_tool_parse_i64(optarg, 1, (long long)1 << 20, &k)) {
                gs_tool_err(prog, "-k: '%s' is not a positive integer", optarg);
                return GS_EXIT_USAGE;
            }
            break;
        case 'o': out = optarg; break;
        case 'n':
            if (gs_tool_parse_i64(optarg, 1, (long long)1 << 40, &n)) {
                gs_tool_err(prog, "-n: '%s' is not a positive integer", optarg);
                return GS_EXIT_USAGE;
            }
            break;
        case O_BX:
            if (gs_tool_parse_i64(optarg, 1, (long long)1 << 32, &bxs)) {
                gs_tool_err(prog, "--bunch-crossings: '%s' is not a positive integer", optarg);
                return GS_EXIT_USAGE;
            }
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
        if (!conds || n || bxs) {
            gs_tool_err(prog, "ZDC sampling takes --conditions FILE [-k K], not -n or "
                              "--bunch-crossings (see --help)");
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
    if (gs_tool_threads(prog, threads))
        return GS_EXIT_USAGE;
    const gs_tool_file ins[] = {{"--model", model}, {"--conditions", conds}}, outs[] = {{"-o", out}};
    if (gs_tool_guard_io(prog, ins, 2, outs, 1))
        return GS_EXIT_USAGE;

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
    md_model *m;
    if (md_model_open_ex(model, open_flags, &m)) {
        gs_tool_err(prog, "%s", gs_errmsg());
        return GS_EXIT_FAIL;
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
    const int ex = kind->images ? sample_images(m, conds, k ? k : 1, seed, out)
                                : sample_events(m, n, bxs, seed, out, hepmc3 ? &ho : NULL);
    md_model_close(m);
    return ex;
}

/* gansim-eval — compare a generated file with a real one, every number beside
 * its real-vs-real noise floor: metrics.json, a static HTML report
 * (index.html), PNG plots via gnuplot, and a terminal summary.
 *
 * The evaluation lives in models/md_eval (metric definitions in metrics/);
 * this file reads the files, drives gnuplot and writes the outputs.
 * Exit codes: 0 ok, 1 runtime failure, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>

#include "core/gs_core.h"
#include "datasets/ds.h"
#include "metrics/mt_plot.h"
#include "models/md_eval.h"
#include "tools/tool_common.h"

extern char **environ;

static const char *PROG = "gansim-eval";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gansim-eval --real A.h5 --gen B.h5 --out DIR [options]\n"
            "\n"
            "Compares generated data with real data of the same kind (event table or\n"
            "image set). Every metric is reported for real vs generated beside real vs\n"
            "real (the noise floor: a second real sample, --ref2, or a random half of\n"
            "--real) and their ratio. Writes DIR/metrics.json, DIR/index.html (the\n"
            "report: summary table with verdicts and all plots), PNG plots (when\n"
            "gnuplot is installed), their data files and DIR/plots.gp.\n"
            "\n"
            "  --real FILE        real (reference) HDF5 file\n"
            "  --gen FILE         generated HDF5 file, same kind and columns/size\n"
            "  --out DIR          output directory (created if missing)\n"
            "  --ref2 FILE        second real sample for the floor (default: split --real\n"
            "                     at random into halves A and B)\n"
            "  --json             print the JSON on stdout instead of the summary\n"
            "  --log FILE         training log (train.log) for loss.png and the\n"
            "                     per-sub-model quality table (a log without records\n"
            "                     yet: a note, the rest of the report as usual)\n"
            "  --r0 R             inner/outer region radius, unit of x (default 500)\n"
            "  --seed S           split, subsamples and classifier (default 1)\n"
            "  --no-classifier    skip the classifier two-sample test\n"
            "  --cls-rows N       rows per sample for the classifier (default 100000:\n"
            "                     half train, half held out for the AUC; 0 = all)\n"
            "  --cls-steps N      classifier training steps (default 1500)\n"
            "  --threads T        threads (default: GANSIM_THREADS or all cores)\n"
            "  --channel-map M    image sets: ZDC channel map, research (default; (row+col)\n"
            "                     even = channel 5) or o2 (ALICE O2's fast-simulation\n"
            "                     processor; (row+col) odd = channel 5), docs/metrics.md\n"
            "  --help             this text\n"
            "  --version          print the version\n"
            "\n"
            "Event tables: per feature and for the derived r, E_kin (from the PDG mass;\n"
            "|p| when unknown) and theta: KL, JS, KS with p-value, chi2/ndf, W1 in the\n"
            "feature's unit; 2-D KL of x-y, r-t, E-r, E-t; rank-correlation matrix\n"
            "difference; classifier AUC; per region (r < R0 or not) and per species.\n"
            "Image sets: the 5 ZDC channel sums, total intensity, max-pixel position;\n"
            "when --gen was made for --real's conditions row by row (gansim-sample\n"
            "--conditions REAL -k 1), the conditioning: shower-centroid distance,\n"
            "shower-vs-none mismatch and intensity ratio of each real image and the one\n"
            "generated for its conditions, against two real images of one condition.\n"
            "docs/metrics.md explains every number and metrics.json key.\n"
            "Environment: GANSIM_GNUPLOT names the gnuplot program (default gnuplot).\n"
            "Exit status: 0 ok, 1 failure, 2 usage error.\n");
}

/* ---- output directory ----------------------------------------------------- */
static int mkdir_p(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf)
        return gs_error(GS_ERR_ARG, "--out: bad directory name");
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return gs_error(GS_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
        buf[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return gs_error(GS_ERR_IO, "%s: not a directory", dir);
    return GS_OK;
}

/* ---- gnuplot ------------------------------------------------------------------ */
/* 0 ran fine, 1 not installed, -1 failed (message set) */
static int run_gnuplot(const char *script, const char *dir)
{
    const char *prog = getenv("GANSIM_GNUPLOT");
    if (!prog || !*prog)
        prog = "gnuplot";
    char errlog[4200]; /* dir is < 4096 (mkdir_p), so the name is never cut */
    snprintf(errlog, sizeof errlog, "%s/.gnuplot.err.%ld", dir, (long)getpid());
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, errlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char *argv[] = {(char *)prog, (char *)script, NULL};
    pid_t pid;
    int e = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e != 0) {
        unlink(errlog);
        return 1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        unlink(errlog); /* glibc's posix_spawnp reports a missing program this way */
        return 1;
    }
    if (!ok) {
        /* the last line gnuplot printed says what went wrong */
        char line[512] = "", last[512] = "";
        FILE *f = fopen(errlog, "r");
        while (f && fgets(line, sizeof line, f))
            if (line[0] != '\n')
                snprintf(last, sizeof last, "%s", line);
        if (f)
            fclose(f);
        last[strcspn(last, "\n")] = '\0';
        gs_error(GS_ERR_IO, "%s %s failed: %s", prog, script, last[0] ? last : "no message");
    }
    unlink(errlog);
    return ok ? 0 : -1;
}

static int write_file_atomic(const char *path, const char *data, size_t len)
{
    char tmp[4200];
    int rc = gs_tmp_path(tmp, sizeof tmp, path);
    if (rc)
        return rc;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return gs_error(GS_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    size_t w = fwrite(data, 1, len, f);
    if (fclose(f) != 0 || w != len) {
        gs_discard(tmp);
        return gs_error(GS_ERR_IO, "%s: write failed", path);
    }
    return gs_commit(tmp, path);
}

/* Inputs, read and cross-checked before anything is created, so a bad
 * input file never leaves a partial report behind. */
typedef struct {
    ds_events re, ge, r2e;
    ds_images ri, gi, r2i;
} eval_inputs;

static int read_inputs(const char *rpath, const char *gpath, const char *r2path, ds_kind kind,
                       eval_inputs *in)
{
    memset(in, 0, sizeof *in);
    ds_read_opts ro = {0};
    int rc;
    if (kind == DS_KIND_EVENTS) {
        rc = ds_events_read(rpath, &ro, &in->re);
        if (!rc)
            rc = ds_events_read(gpath, &ro, &in->ge);
        if (!rc && r2path)
            rc = ds_events_read(r2path, &ro, &in->r2e);
    } else {
        rc = ds_images_read(rpath, &ro, &in->ri);
        if (!rc)
            rc = ds_images_read(gpath, &ro, &in->gi);
        if (!rc && r2path)
            rc = ds_images_read(r2path, &ro, &in->r2i);
        const ds_images *o[2] = {&in->gi, &in->r2i};
        const char *op[2] = {gpath, r2path};
        for (int k = 0; !rc && k < (r2path ? 2 : 1); k++)
            if (o[k]->h != in->ri.h || o[k]->w != in->ri.w)
                rc = gs_error(GS_ERR_FORMAT, "%s has %lldx%lld images but %s has %lldx%lld",
                              rpath, (long long)in->ri.h, (long long)in->ri.w, op[k],
                              (long long)o[k]->h, (long long)o[k]->w);
    }
    return rc;
}

static void free_inputs(eval_inputs *in)
{
    ds_events_free(&in->re);
    ds_events_free(&in->ge);
    ds_events_free(&in->r2e);
    ds_images_free(&in->ri);
    ds_images_free(&in->gi);
    ds_images_free(&in->r2i);
}

static int file_kind(const char *path, ds_kind *k)
{
    if (ds_file_kind(path, k)) {
        gs_tool_err(PROG, "%s", gs_errmsg());
        return -1;
    }
    if (*k == DS_KIND_UNKNOWN) {
        gs_tool_err(PROG, "%s: neither an event table (/events) nor an image set (/images)",
                    path);
        return -1;
    }
    return 0;
}

static const char *kind_name(ds_kind k)
{
    return k == DS_KIND_EVENTS ? "event table" : "image set";
}

int main(int argc, char **argv)
{
    const char *real = NULL, *gen = NULL, *out = NULL, *logp = NULL, *ref2 = NULL;
    int json = 0;
    long long threads = 0, v = 0;
    md_eval_opts eo;
    md_eval_defaults(&eo);
    enum { O_REF2 = 256, O_SEED, O_NOCLS, O_CLSROWS, O_CLSSTEPS, O_THREADS, O_MAP };
    static const struct option longopts[] = {
        {"real", required_argument, 0, 'r'}, {"gen", required_argument, 0, 'g'},
        {"out", required_argument, 0, 'o'},  {"json", no_argument, 0, 'j'},
        {"log", required_argument, 0, 'l'},  {"r0", required_argument, 0, 'R'},
        {"ref2", required_argument, 0, O_REF2}, {"seed", required_argument, 0, O_SEED},
        {"no-classifier", no_argument, 0, O_NOCLS},
        {"cls-rows", required_argument, 0, O_CLSROWS},
        {"cls-steps", required_argument, 0, O_CLSSTEPS},
        {"threads", required_argument, 0, O_THREADS},
        {"channel-map", required_argument, 0, O_MAP},
        {"help", no_argument, 0, 'h'},       {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': real = optarg; break;
        case 'g': gen = optarg; break;
        case 'o': out = optarg; break;
        case 'j': json = 1; break;
        case 'l': logp = optarg; break;
        case O_REF2: ref2 = optarg; break;
        case O_NOCLS: eo.classifier = 0; break;
        case 'R':
            if (gs_tool_parse_f64(optarg, &eo.r0) || !isfinite(eo.r0) || eo.r0 <= 0) {
                gs_tool_err(PROG, "--r0: '%s' is not a positive number (unit of x)", optarg);
                return GS_EXIT_USAGE;
            }
            break;
        case O_SEED:
            if (gs_tool_parse_i64(optarg, 0, INT64_MAX, &v)) {
                gs_tool_err(PROG, "--seed: '%s' is not a non-negative integer", optarg);
                return GS_EXIT_USAGE;
            }
            eo.seed = (uint64_t)v;
            eo.cls.seed = (uint64_t)v;
            break;
        case O_CLSROWS:
            if (gs_tool_parse_i64(optarg, 0, INT64_MAX, &v) || (v > 0 && v < 4)) {
                gs_tool_err(PROG, "--cls-rows: '%s' is not 0 or an integer >= 4", optarg);
                return GS_EXIT_USAGE;
            }
            eo.cls.max_rows = v;
            break;
        case O_CLSSTEPS:
            if (gs_tool_parse_i64(optarg, 1, 10000000, &v)) {
                gs_tool_err(PROG, "--cls-steps: '%s' is not an integer in 1..10000000", optarg);
                return GS_EXIT_USAGE;
            }
            eo.cls.steps = v;
            break;
        case O_THREADS:
            if (gs_tool_parse_i64(optarg, 1, 1024, &threads)) {
                gs_tool_err(PROG, "--threads: '%s' is not an integer in 1..1024", optarg);
                return GS_EXIT_USAGE;
            }
            break;
        case O_MAP: {
            mt_zdc_map map;
            if (mt_zdc_map_parse(optarg, &map)) {
                gs_tool_err(PROG, "--channel-map: '%s' is not research or o2", optarg);
                return GS_EXIT_USAGE;
            }
            eo.channel_map = (int)map;
            break;
        }
        case 'h': usage(stdout); return GS_EXIT_OK;
        case 'V': printf("gansim-eval %s\n", GANSIM_VERSION); return GS_EXIT_OK;
        case ':':
            gs_tool_err(PROG, "%s needs a value (see --help)", argv[optind - 1]);
            return GS_EXIT_USAGE;
        default:
            gs_tool_err(PROG, "unknown option '%s' (see --help)", argv[optind - 1]);
            return GS_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        gs_tool_err(PROG, "unexpected argument '%s' (see --help)", argv[optind]);
        return GS_EXIT_USAGE;
    }
    if (!real || !gen || !out) {
        gs_tool_err(PROG, "missing %s (see --help)", !real ? "--real" : !gen ? "--gen" : "--out");
        return GS_EXIT_USAGE;
    }
    if (gs_tool_threads(PROG, threads))
        return GS_EXIT_USAGE;
    eo.real_name = real;
    eo.gen_name = gen;
    eo.ref2_name = ref2;

    {
        char mj[4200], ix[4200], gp[4200];
        snprintf(mj, sizeof mj, "%s/metrics.json", out);
        snprintf(ix, sizeof ix, "%s/index.html", out);
        snprintf(gp, sizeof gp, "%s/plots.gp", out);
        const gs_tool_file ins[] = {{"--real", real}, {"--gen", gen}, {"--ref2", ref2},
                                    {"--log", logp}};
        const gs_tool_file outs[] = {{"--out", mj}, {"--out", ix}, {"--out", gp}};
        if (gs_tool_guard_io(PROG, ins, 4, outs, 3))
            return GS_EXIT_USAGE;
    }
    ds_kind kr, kg, k2 = DS_KIND_UNKNOWN;
    if (file_kind(real, &kr) || file_kind(gen, &kg) || (ref2 && file_kind(ref2, &k2)))
        return GS_EXIT_FAIL;
    if (kr != kg || (ref2 && k2 != kr)) {
        const char *other = kr != kg ? gen : ref2;
        gs_tool_err(PROG, "%s is an %s but %s is an %s", real, kind_name(kr), other,
                    kind_name(kr != kg ? kg : k2));
        return GS_EXIT_FAIL;
    }
    eval_inputs in;
    int rc = read_inputs(real, gen, ref2, kr, &in);
    /* an unreadable log fails here too, before the output directory exists */
    char *train_table = NULL;
    int64_t log_records = 0;
    char log_note[4400] = "";
    if (!rc && logp)
        rc = mt_trainlog_records(logp, &log_records);
    if (!rc && logp && log_records == 0) {
        /* a run evaluated before its first checkpoint (or killed before it):
         * the samples can still be compared; only the curves are missing */
        snprintf(log_note, sizeof log_note,
                 "%s has no evaluation records yet (gansim-train appends one at each "
                 "checkpoint, every train.ckpt_every steps, and when it stops): no training "
                 "curves (loss.png) and no per-sub-model table",
                 logp);
        gs_tool_err(PROG, "note: %s", log_note);
        logp = NULL;
    }
    /* a log without sub-model KL records (e.g. only losses) has no table */
    if (!rc && logp && mt_trainlog_summary(logp, &train_table) == GS_ERR_IO)
        rc = GS_ERR_IO;
    if (rc) {
        gs_tool_err(PROG, "%s", gs_errmsg());
        free_inputs(&in);
        free(train_table);
        return GS_EXIT_FAIL;
    }
    struct stat out_st;
    int out_existed = stat(out, &out_st) == 0;
    rc = mkdir_p(out);
    mt_plot *pl = NULL;
    if (!rc)
        rc = mt_plot_open(&pl, out);
    md_eval_report rep = {0};
    /* the log first: a bad log then fails before any metric work or output */
    if (!rc && logp)
        rc = mt_plot_trainlog(pl, "loss", logp);
    if (!rc)
        rc = kr == DS_KIND_EVENTS
                 ? md_eval_events(&in.re, ref2 ? &in.r2e : NULL, &in.ge, &eo, pl, &rep)
                 : md_eval_images(&in.ri, ref2 ? &in.r2i : NULL, &in.gi, &eo, pl, &rep);
    free_inputs(&in);
    char script[4200];
    snprintf(script, sizeof script, "%s/plots.gp", out);
    if (!rc)
        rc = mt_plot_write_script(pl, script);
    int plot_failed = 0, no_gnuplot = 0;
    char plots_note[4400] = "";
    if (!rc) {
        int g = run_gnuplot(script, out);
        no_gnuplot = g == 1;
        for (int64_t i = 0; i < mt_plot_count(pl); i++) {
            if (g == 0 && !plot_failed) {
                if (gs_commit(mt_plot_png(pl, i, 1), mt_plot_png(pl, i, 0)))
                    plot_failed = 1;
            } else {
                gs_discard(mt_plot_png(pl, i, 1));
            }
        }
        plot_failed |= g < 0;
        if (plot_failed) {
            gs_tool_err(PROG, "plots: %s", gs_errmsg());
            snprintf(plots_note, sizeof plots_note, "The plots failed: %s", gs_errmsg());
        }
        if (no_gnuplot) {
            gs_tool_err(PROG, "gnuplot not found: no PNGs; data files and %s are written", script);
            snprintf(plots_note, sizeof plots_note, "No plots: gnuplot was not found. The data "
                     "files (*.dat) and the script plots.gp are in this directory; run "
                     "`gnuplot plots.gp` here to make the PNGs.");
        }
    }
    /* the page, then metrics.json last: its presence means the report is complete */
    char *html = NULL;
    if (!rc)
        rc = md_eval_html(&rep, &eo, pl, !no_gnuplot && !plot_failed, plots_note,
                          train_table ? train_table : log_note[0] ? log_note : NULL, &html);
    if (!rc) {
        char path[4200];
        snprintf(path, sizeof path, "%s/index.html", out);
        rc = write_file_atomic(path, html, strlen(html));
    }
    if (!rc) {
        char path[4200];
        snprintf(path, sizeof path, "%s/metrics.json", out);
        rc = write_file_atomic(path, rep.json, strlen(rep.json));
    }
    if (rc) {
        gs_tool_err(PROG, "%s", gs_errmsg());
        if (!out_existed)
            rmdir(out); /* only succeeds when nothing was written into it */
    } else if (json) {
        fputs(rep.json, stdout);
    } else {
        fputs(rep.summary ? rep.summary : "", stdout);
        if (train_table)
            printf("training (from %s):\n%s", logp, train_table);
        printf("wrote %s/metrics.json, %s/index.html", out, out);
        if (!no_gnuplot && !plot_failed)
            printf(" and %lld plots", (long long)mt_plot_count(pl));
        printf("\n");
    }
    free(html);
    free(train_table);
    md_eval_report_free(&rep);
    mt_plot_free(pl);
    return rc || plot_failed ? GS_EXIT_FAIL : GS_EXIT_OK;
}

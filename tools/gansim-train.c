/* gansim-train: trains a fast-simulation model of any registered kind
 * (models/md_run.h: luxe, zdc, ...). Argument parsing and the progress line
 * are here; the training loop is md_train. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "metrics/mt_plot.h"
#include "models/md_dist.h"
#include "models/md_run.h"
#include "nn/nn.h"
#include "tool_common.h"

static const char *prog = "gansim-train";

static void usage(FILE *out)
{
    const md_kind *const *k = md_kinds();
    fprintf(out, "usage: %s ", prog);
    for (int i = 0; k[i]; i++)
        fprintf(out, "%s%s", i ? "|" : "", k[i]->name);
    fprintf(out,
            " --data FILE --out DIR [options]\n"
            "\n"
            "Trains a fast-simulation GAN and writes DIR/model.h5 (for gansim-sample),\n"
            "DIR/last.h5 (complete state, for --resume) and DIR/train.log.\n"
            "\n"
            "model kinds:\n");
    for (int i = 0; k[i]; i++)
        fprintf(out, "  %-8s %s\n           --data: %s\n", k[i]->name, k[i]->summary,
                k[i]->data_help);
    fprintf(out,
            "\n"
            "options:\n"
            "  --data FILE       training data (see the model kinds above)\n"
            "  --out DIR         run directory (created; must not hold a model unless --resume)\n"
            "  --config FILE     INI config file ([section] key = value)\n"
            "  --set KEY=VALUE   override one config key (repeatable)\n"
            "  --iters N         shorthand for --set train.iters=N\n"
            "  --resume          continue DIR/last.h5 with its own configuration; with\n"
            "                    --iters N, continue (also a finished run) to N steps in total\n"
            "  --allow-untrained train although some sub-model gets 0 steps (train.iters too\n"
            "                    small for the sub-models): it is sampled untrained\n"
            "  --threads T       threads (default: GANSIM_THREADS or all cores)\n"
            "  --distribute HOW  under mpirun: data (default) - every rank trains every\n"
            "                    sub-model on its slices of each batch; submodels - each\n"
            "                    rank trains whole LUXE sub-models (longest first), rank 0\n"
            "                    assembles the model: the same model as one process\n"
            "  --drop-nonfinite  drop rows with NaN/Inf instead of failing\n"
            GS_TOOL_IMPORT_HELP
            "  --print-config    print the configuration keys with their values and exit\n"
            "  -h, --help        this help;  --version  the version\n"
            "\n"
            "Ctrl-C (SIGINT) or SIGTERM saves the state (DIR/model.h5 is then marked partial,\n"
            "and gansim-sample refuses it) and exits with status 130 or 143, as an\n"
            "interrupted program does; --resume goes on.\n");
}

typedef struct {
    int tty;
    double last_print;
    double step_rate;      /* the last report's md_progress.step_rate (every rank) */
    int quiet;             /* not the writer rank: prints nothing */
} progress_state;

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_eta(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, n, "--");
    else if (s < 3600)
        snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

/* One line: a rewritten status line on a TTY, else a plain line per evaluation. */
static void on_progress(void *ud, const md_progress *p)
{
    progress_state *ps = ud;
    const md_kind *k = p->kind;
    ps->step_rate = p->step_rate;
    if (ps->quiet)
        return;
    const int last = p->part_step == p->part_steps;
    double t = wall();
    char eta[32];
    fmt_eta(p->eta_s, eta, sizeof eta);
    if (ps->tty) {
        if (t - ps->last_print < 0.2 && !p->evaluated && !last)
            return;
        ps->last_print = t;
        fputc('\r', stderr);
        if (k->parts_in_log)
            fprintf(stderr, "[%d/%d %-12s] ", p->part + 1, p->n_parts, p->part_name);
        fprintf(stderr, "step %6lld/%-6lld ", (long long)p->part_step, (long long)p->part_steps);
        for (int i = 0; i < p->losses.n && k->loss_names[i]; i++)
            if (k->loss_labels[i])
                fprintf(stderr, " %s %8.4f", k->loss_labels[i], p->losses.v[i]);
        /* "-" until the part's first evaluation ("nan" would read like divergence) */
        char sc[16] = "       -", be[16] = "       -";
        if (!isnan(p->score))
            snprintf(sc, sizeof sc, "%8.4f", p->score);
        if (!isnan(p->best))
            snprintf(be, sizeof be, "%8.4f", p->best);
        fprintf(stderr, "  %s %s (best %s)  %5.2f st/s  ETA %s   ", k->score_label, sc, be,
                p->steps_per_s, eta);
        if (last)
            fputc('\n', stderr);
        fflush(stderr);
    } else if (p->evaluated) {
        fprintf(stderr, "%s: ", prog);
        if (k->parts_in_log)
            fprintf(stderr, "%s ", p->part_name);
        fprintf(stderr, "step %lld/%lld", (long long)p->part_step, (long long)p->part_steps);
        for (int i = 0; i < p->losses.n && i < 2 && k->loss_names[i]; i++)
            fprintf(stderr, " %s=%.4f", k->loss_names[i], p->losses.v[i]);
        fprintf(stderr, " %s=%.4f best=%.4f %.2f steps/s ETA %s\n", k->score_name, p->score,
                p->best, p->steps_per_s, eta);
    }
}

/* mkdir -p; fails (ENOTDIR) when the path exists but is not a directory */
static int make_dir(const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    if (mkdir(buf, 0777) && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(buf, &st) || !S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static int file_exists(const char *dir, const char *name)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

/* The files a run writes into its directory never replace --data or
 * --config (same file through any path or link). */
static int guard_run_dir(const char *data, const char *config, const char *out)
{
    static const char *const names[] = {"model.h5", "last.h5", "train.log"};
    char p[3][4200];
    gs_tool_file outs[3];
    for (int i = 0; i < 3; i++) {
        snprintf(p[i], sizeof p[i], "%s/%s", out, names[i]);
        outs[i] = (gs_tool_file){"--out", p[i]};
    }
    const gs_tool_file ins[] = {{"--data", data}, {"--config", config}};
    return gs_tool_guard_io(prog, ins, 2, outs, 3);
}

static gs_dir_lock_t run_lock = {.fd = -1};

/* Locks the run directory once (the lock is held until exit): a second
 * gansim process training, resuming or exporting it refuses. */
static int lock_run(const char *out, int resume)
{
    if (run_lock.fd >= 0)
        return GS_OK;
    char who[64];
    snprintf(who, sizeof who, "%s %s", prog, resume ? "--resume" : "training");
    return gs_dir_lock(out, who, &run_lock);
}

/* After the data are read (a bad data file leaves no run directory behind):
 * creates the run directory and locks it. */
static int start_run(const char *out, int resume)
{
    if (make_dir(out))
        return gs_error(GS_ERR_IO, "%s: cannot create directory: %s", out, strerror(errno));
    int rc = lock_run(out, resume);
    if (rc)
        return rc;
    /* another process may have finished a run here since the checks in main */
    if (!resume && (file_exists(out, "model.h5") || file_exists(out, "last.h5"))) {
        gs_dir_unlock(&run_lock);
        return gs_error(GS_ERR_STATE, "%s already holds a trained model (written while this "
                        "run read its data)", out);
    }
    return GS_OK;
}

/* Reads the data and trains: GS_OK or a gs_status with gs_errmsg() set. */
typedef struct {
    const char *out;
    int resume;
    int64_t resume_iters;  /* --resume --iters N: continue to N steps in total */
    int allow_untrained;
    char what[256];        /* "4000 events, 6 features" */
    const char *layout;    /* "2 ranks x 1 thread" */
    int distribute;        /* MD_DISTRIBUTE_* */
} run_opts;

/* md_train_opts.prepare: the driver accepted configuration and data (so a
 * run refused by its validation prints one line, the error) */
static int prepare_out(void *ud)
{
    const run_opts *o = ud;
    int rc = start_run(o->out, o->resume);
    if (!rc) {
        fprintf(stderr, "%s: %s, %s -> %s/\n", prog, o->what, o->layout, o->out);
        gs_tool_blas_note(prog, NULL); /* the writer rank only */
    }
    return rc;
}

/* md_train_opts.note: what the user must see goes to the terminal too */
static void on_note(void *ud, const char *line)
{
    (void)ud;
    fprintf(stderr, "%s: %s\n", prog, line);
}

/* Reads the data and trains: GS_OK or a gs_status with gs_errmsg() set.
 * The run directory is made only once the driver has validated the run.
 * Under MPI every rank reads the data and trains its slices of each batch;
 * rank 0 alone prints, logs and writes the run directory's files. */
static int run(gs_comm *comm, const md_kind *kind, const void *cfg, const char *data_path,
               run_opts *o, const ds_read_opts *ro, progress_state *ps, int *stopped)
{
    const int talk = gs_comm_rank(comm) == 0;
    void *data = NULL;
    int rc = kind->data_read(data_path, ro, &data);
    if (rc) {
        if (data)
            kind->data_free(data);
        return rc;
    }
    md_dist *dist;
    if ((rc = md_dist_new(comm, nn_get_threads(), &dist))) {
        kind->data_free(data);
        return rc;
    }
    md_dist_set_distribute(dist, o->distribute);
    kind->data_describe(data, o->what, sizeof o->what);
    o->layout = md_dist_layout(dist); /* "2 ranks x 1 thread": the ranks cooperate */
    md_train_opts to = {.out_dir = o->out, .resume = o->resume, .resume_iters = o->resume_iters,
                        .allow_untrained = o->allow_untrained, .prepare = prepare_out,
                        .prepare_ud = o, .note = talk ? on_note : NULL,
                        .stop = md_stop_on_signals(), .progress = on_progress,
                        .progress_ud = ps};
    md_dist_parallel(dist, &to.par);
    const double t0 = wall();
    rc = md_train(kind, cfg, data, &to, stopped);
    const md_dist_stats st = md_dist_get_stats(dist);
    /* every rank's time in the all-reduce (waiting for the slowest rank
     * included) and training step rate, for the scaling measurements */
    double per[2 * 64] = {0};
    const int np = gs_comm_size(comm), me = gs_comm_rank(comm);
    if (!rc && np > 1 && np <= 64) {
        per[me] = st.seconds;
        per[64 + me] = ps->step_rate == ps->step_rate ? ps->step_rate : 0;
        if (gs_comm_sum_f64(comm, per, 128))
            per[0] = -1;
    }
    if (!rc && talk && st.calls > 0) {
        const double el = wall() - t0;
        fprintf(stderr, "%s: all-reduce: %lld calls, %.1f MB per rank, %.2f s (%.1f %% of %.0f s)\n",
                prog, (long long)st.calls, (double)st.bytes / 1e6, st.seconds,
                100.0 * st.seconds / (el > 0 ? el : 1), el);
    }
    if (!rc && talk && np > 1 && np <= 64 && per[0] >= 0) {
        char line[2048] = "";
        for (int r = 0; r < np; r++)
            snprintf(line + strlen(line), sizeof line - strlen(line), "%s%d: %.2f s, %.3f steps/s",
                     r ? "; " : "", r, per[r], per[64 + r]);
        fprintf(stderr, "%s: per rank (all-reduce time, training step rate): %s\n", prog, line);
    }
    md_dist_free(dist);
    kind->data_free(data);
    return rc;
}

static int train_main(int argc, char **argv, const md_kind *kind, void *cfg);

int main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return GS_EXIT_OK;
    }
    if (argc >= 2 && !strcmp(argv[1], "--version")) {
        printf("%s %s\n", prog, GANSIM_VERSION);
        return GS_EXIT_OK;
    }
    if (argc < 2 || argv[1][0] == '-') {
        gs_tool_err(prog, "the first argument must be the model kind (see --help)");
        return GS_EXIT_USAGE;
    }
    const md_kind *kind = md_kind_find(argv[1]);
    if (!kind || strcmp(argv[1], kind->name)) {
        char names[256] = "";
        for (const md_kind *const *k = md_kinds(); *k; k++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                     k == md_kinds() ? "" : ", ", (*k)->name);
        gs_tool_err(prog, "unknown model kind '%s' (%s)", argv[1], names);
        return GS_EXIT_USAGE;
    }
    void *cfg = malloc(kind->cfg_size);
    if (!cfg) {
        gs_tool_err(prog, "out of memory");
        return GS_EXIT_FAIL;
    }
    kind->cfg_default(cfg);
    const int ex = train_main(argc, argv, kind, cfg);
    free(cfg);
    return ex;
}

/* Everything after the model kind (argv[1]); cfg holds its defaults. */
static int train_main(int argc, char **argv, const md_kind *kind, void *cfg)
{
    enum { O_RESUME = 256, O_THREADS, O_DROP, O_PRINT, O_VERSION, O_ITERS, O_IMPORT, O_UNTRAINED,
           O_DISTRIBUTE };
    static const struct option lo[] = {
        {"data", required_argument, 0, 'd'}, {"out", required_argument, 0, 'o'},
        {"config", required_argument, 0, 'c'}, {"set", required_argument, 0, 's'},
        {"iters", required_argument, 0, O_ITERS}, {"resume", no_argument, 0, O_RESUME},
        {"threads", required_argument, 0, O_THREADS},
        {"drop-nonfinite", no_argument, 0, O_DROP}, {"print-config", no_argument, 0, O_PRINT},
        {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, O_VERSION},
        {"columns", required_argument, 0, O_IMPORT}, {"units", required_argument, 0, O_IMPORT},
        {"particles-per-bx", required_argument, 0, O_IMPORT},
        {"allow-untrained", no_argument, 0, O_UNTRAINED},
        {"distribute", required_argument, 0, O_DISTRIBUTE}, {0, 0, 0, 0}};
    int distribute = MD_DISTRIBUTE_DATA;
    int allow_untrained = 0;
    const char *iters_arg = NULL;
    /* --columns, --units, --particles-per-bx: the config keys data.columns,
     * data.units, data.particles_per_bx of kinds that read event tables */
    struct {
        const char *opt, *key, *val;
    } imports[3] = {{"--columns", "data.columns", NULL}, {"--units", "data.units", NULL},
                    {"--particles-per-bx", "data.particles_per_bx", NULL}};
    int nimports = 0;
    const char *data = NULL, *out = NULL, *config = NULL;
    const char *sets[256];
    int nsets = 0, resume = 0, drop = 0, print = 0;
    long long threads = 0;
    char iters_kv[64];
    optind = 2;
    int c, li;
    while ((c = getopt_long(argc, argv, ":d:o:c:s:h", lo, &li)) != -1) {
        switch (c) {
        case O_IMPORT: {
            char opt[64];
            ds_read_opts check = {0};
            snprintf(opt, sizeof opt, "--%s", lo[li].name);
            if (gs_tool_import_opt(prog, opt, optarg, &check) < 0)
                return GS_EXIT_USAGE;
            for (int i = 0; i < 3; i++)
                if (!strcmp(imports[i].opt, opt)) {
                    nimports += !imports[i].val;
                    imports[i].val = optarg;
                }
            break;
        }
        case 'd': data = optarg; break;
        case 'o': out = optarg; break;
        case 'c': config = optarg; break;
        case 's':
            if (nsets == 256) {
                gs_tool_err(prog, "too many --set options");
                return GS_EXIT_USAGE;
            }
            sets[nsets++] = optarg;
            break;
        case O_ITERS:
            /* a cut value could still parse as a (different) number */
            if (snprintf(iters_kv, sizeof iters_kv, "train.iters=%s", optarg) >=
                    (int)sizeof iters_kv || nsets == 256) {
                gs_tool_err(prog, "--iters: '%.20s...' is too long", optarg);
                return GS_EXIT_USAGE;
            }
            sets[nsets++] = iters_kv;
            iters_arg = optarg;
            break;
        case O_UNTRAINED: allow_untrained = 1; break;
        case O_DISTRIBUTE:
            if (!strcmp(optarg, "data")) {
                distribute = MD_DISTRIBUTE_DATA;
            } else if (!strcmp(optarg, "submodels")) {
                distribute = MD_DISTRIBUTE_SUBMODELS;
            } else {
                gs_tool_err(prog, "--distribute: '%s' is neither 'data' nor 'submodels'", optarg);
                return GS_EXIT_USAGE;
            }
            break;
        case O_RESUME: resume = 1; break;
        case O_DROP: drop = 1; break;
        case O_PRINT: print = 1; break;
        case O_THREADS:
            if (gs_tool_parse_i64(optarg, 1, 1024, &threads)) {
                gs_tool_err(prog, "--threads: '%s' is not an integer in 1..1024", optarg);
                return GS_EXIT_USAGE;
            }
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
    if (config && md_cfg_load_ini(kind->cfg_fields, cfg, config)) {
        gs_tool_err(prog, "%s", gs_errmsg());
        return GS_EXIT_USAGE;
    }
    for (int i = 0; i < nsets; i++)
        if (md_cfg_set_kv(kind->cfg_fields, cfg, sets[i])) {
            gs_tool_err(prog, "--set %s: %s", sets[i], gs_errmsg());
            return GS_EXIT_USAGE;
        }
    for (int i = 0; i < 3; i++) {
        if (!imports[i].val)
            continue;
        if (!kind->data_opts) {
            gs_tool_err(prog, "%s: %s training data are not an event table; the option does "
                              "not apply", imports[i].opt, kind->name);
            return GS_EXIT_USAGE;
        }
        if (md_cfg_set(kind->cfg_fields, cfg, imports[i].key, imports[i].val)) {
            gs_tool_err(prog, "%s: %s", imports[i].opt, gs_errmsg());
            return GS_EXIT_USAGE;
        }
    }
    if (print) {
        printf("%s configuration (key, value, meaning):\n", kind->name);
        md_cfg_print_help(kind->cfg_fields, cfg, stdout);
        return GS_EXIT_OK;
    }
    if (!data || !out) {
        gs_tool_err(prog, "--data and --out are required (see --help)");
        return GS_EXIT_USAGE;
    }
    if (distribute == MD_DISTRIBUTE_SUBMODELS && (!kind->save_part || !kind->load_part)) {
        gs_tool_err(prog, "--distribute submodels: a %s run trains one model, there are no "
                          "sub-models to share out over the ranks; use --distribute data (the "
                          "default)", kind->name);
        return GS_EXIT_USAGE;
    }
    if (resume && (config || nimports || nsets > (iters_arg != NULL)))
        gs_tool_err(prog, "note: --resume uses the configuration stored in %s/last.h5 (and "
                          "reads the data as the run first did); --config/--set/--columns/"
                          "--units/--particles-per-bx are ignored (--iters N trains on to N "
                          "steps)", out);
    int64_t resume_iters = 0;
    if (resume && iters_arg && gs_parse_i64(iters_arg, &resume_iters)) {
        gs_tool_err(prog, "--iters: '%s' is not an integer", iters_arg);
        return GS_EXIT_USAGE;
    }
    struct stat out_st;
    if (stat(out, &out_st) == 0 && !S_ISDIR(out_st.st_mode)) {
        gs_tool_err(prog, "--out %s exists and is not a directory", out);
        return GS_EXIT_USAGE;
    }
    /* --resume needs last.h5; model.h5 alone cannot be continued, so the
     * advice must not send the user to --resume then */
    if (!resume && file_exists(out, "last.h5")) {
        gs_tool_err(prog, "%s already holds a trained model; continue it with --resume (and "
                          "--iters N to train it to N steps in total) or choose another --out",
                    out);
        return GS_EXIT_USAGE;
    }
    if (!resume && file_exists(out, "model.h5")) {
        gs_tool_err(prog, "%s already holds a model (model.h5, without the last.h5 that "
                          "--resume would continue); choose another --out, or remove %s/model.h5 "
                          "to train anew here",
                    out, out);
        return GS_EXIT_USAGE;
    }
    if (resume && !file_exists(out, "last.h5")) {
        gs_tool_err(prog, "--resume: %s/last.h5 does not exist%s", out,
                    file_exists(out, "model.h5") ? " (model.h5 alone holds no training state to "
                                                   "continue)"
                                                 : "");
        return GS_EXIT_USAGE;
    }
    if (gs_tool_threads(prog, threads))
        return GS_EXIT_USAGE;
    if (guard_run_dir(data, config, out))
        return GS_EXIT_USAGE;
    gs_comm *comm;
    if (gs_tool_comm(prog, threads, &comm))
        return GS_EXIT_FAIL;
    const int talk = gs_comm_rank(comm) == 0;
    /* an existing run directory is locked (by the writer rank) before the
     * (long) data read, so a second process on it refuses at once */
    if (talk && stat(out, &out_st) == 0 && lock_run(out, resume)) {
        gs_tool_err(prog, "%s", gs_errmsg());
        return gs_tool_exit(comm, GS_EXIT_FAIL);
    }
    progress_state ps = {.tty = talk && gs_tool_isatty(), .step_rate = NAN, .quiet = !talk};
    int stopped = 0;
    double t0 = wall();
    /* how to read the data: the configuration's data.* keys, on --resume
     * those stored with the run */
    ds_read_opts import = {.drop_nonfinite = drop};
    void *stored = NULL;
    if (resume && kind->data_opts && (stored = malloc(kind->cfg_size))) {
        char p[4200];
        snprintf(p, sizeof p, "%s/last.h5", out);
        hid_t f;
        int src = gs_h5_open(p, 0, &f);
        if (!src) {
            src = md_kind_read_config(f, p, kind, stored);
            gs_h5_close(f);
        }
        if (src) {
            gs_tool_err(prog, "--resume: %s", gs_errmsg());
            free(stored);
            return GS_EXIT_FAIL;
        }
    }
    if (kind->data_opts)
        kind->data_opts(stored ? stored : cfg, &import);
    run_opts ro = {.out = out, .resume = resume, .resume_iters = resume_iters,
                   .allow_untrained = allow_untrained, .distribute = distribute};
    int rc = run(comm, kind, cfg, data, &ro, &import, &ps, &stopped);
    free(stored);
    gs_dir_unlock(&run_lock);
    if (ps.tty)
        fputc('\n', stderr);
    if (rc) {
        if (gs_comm_size(comm) > 1)
            gs_tool_err(prog, "rank %d: %s", gs_comm_rank(comm), gs_errmsg());
        else
            gs_tool_err(prog, "%s", gs_errmsg());
        return gs_tool_exit(comm, GS_EXIT_FAIL);
    }
    if (stopped && !talk)
        return stopped == SIGINT || stopped == SIGTERM ? 128 + stopped : GS_EXIT_FAIL;
    if (!talk)
        return GS_EXIT_OK;
    if (stopped) {
        /* the shell's convention for a program a signal stopped (130 for
         * SIGINT, 143 for SIGTERM): `gansim-train ... && gansim-sample ...`
         * must not go on to sample an unfinished model */
        fprintf(stderr, "%s: interrupted (%s); state saved to %s/last.h5, %s/model.h5 is "
                        "marked partial; continue with --resume\n",
                prog, stopped == SIGINT ? "SIGINT" : stopped == SIGTERM ? "SIGTERM" : "stop",
                out, out);
        return stopped == SIGINT || stopped == SIGTERM ? 128 + stopped : GS_EXIT_FAIL;
    }
    fprintf(stderr, "%s: done in %.0f s: model %s/model.h5, log %s/train.log\n", prog,
            wall() - t0, out, out);
    if (ps.step_rate == ps.step_rate)
        fprintf(stderr, "%s: training step%s: %.3f steps/s (after the first step; evaluations "
                        "and checkpoints left out)\n", prog,
                distribute == MD_DISTRIBUTE_SUBMODELS && gs_comm_size(comm) > 1 ? " (rank 0)"
                                                                                 : "",
                ps.step_rate);
    /* the quality of each sub-model against its real-vs-real floor */
    char logpath[4200], *table = NULL;
    snprintf(logpath, sizeof logpath, "%s/train.log", out);
    if (mt_trainlog_summary(logpath, &table) == GS_OK)
        fprintf(stderr, "%s: quality per sub-model (from %s):\n%s", prog, logpath, table);
    free(table);
    return GS_EXIT_OK;
}

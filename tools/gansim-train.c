/* gansim-train: trains a fast-simulation model of any registered kind
 * (models/md_run.h: luxe, zdc, ...). Argument parsing and the progress line
 * are here; the training loop is md_train. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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
            "  --resume          continue DIR/last.h5 with its own configuration\n"
            "  --threads T       threads (default: GANSIM_THREADS or all cores)\n"
            "  --drop-nonfinite  drop rows with NaN/Inf instead of failing\n"
            "  --print-config    print the configuration keys with their values and exit\n"
            "  -h, --help        this help;  --version  the version\n"
            "\n"
            "Ctrl-C (SIGINT) or SIGTERM saves the state and exits cleanly; --resume goes on.\n");
}

typedef struct {
    int tty;
    double last_print;
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
    const int last = p->part_step == p->part_steps;
    double t = wall();
    char eta[32];
    fmt_eta(p->eta_s, eta, sizeof eta);
    for (const char *q = p->notes; q && *q;) {
        const char *nl = strchr(q, '\n');
        int len = nl ? (int)(nl - q) : (int)strlen(q);
        fprintf(stderr, "%s: %.*s\n", prog, len, q);
        q += len + (nl != NULL);
    }
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
        fprintf(stderr, "  %s %8.4f (best %8.4f)  %5.2f st/s  ETA %s   ", k->score_label,
                p->score, p->best, p->steps_per_s, eta);
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

/* After the data are read (a bad data file leaves no run directory behind):
 * creates the run directory. */
static int start_run(const char *out)
{
    if (make_dir(out))
        return gs_error(GS_ERR_IO, "%s: cannot create directory: %s", out, strerror(errno));
    return GS_OK;
}

/* Reads the data and trains: GS_OK or a gs_status with gs_errmsg() set. */
static int run(const md_kind *kind, const void *cfg, const char *data_path, const char *out,
               int resume, int drop, progress_state *ps, int *stopped)
{
    void *data = NULL;
    ds_read_opts ro = {.drop_nonfinite = drop};
    int rc = kind->data_read(data_path, &ro, &data);
    if (!rc)
        rc = start_run(out);
    if (rc) {
        if (data)
            kind->data_free(data);
        return rc;
    }
    char what[256];
    kind->data_describe(data, what, sizeof what);
    fprintf(stderr, "%s: %s, %d threads -> %s/\n", prog, what, nn_get_threads(), out);
    md_train_opts to = {.out_dir = out, .resume = resume, .stop = md_stop_on_signals(),
                        .progress = on_progress, .progress_ud = ps};
    rc = md_train(kind, cfg, data, &to, stopped);
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
    enum { O_RESUME = 256, O_THREADS, O_DROP, O_PRINT, O_VERSION, O_ITERS };
    static const struct option lo[] = {
        {"data", required_argument, 0, 'd'}, {"out", required_argument, 0, 'o'},
        {"config", required_argument, 0, 'c'}, {"set", required_argument, 0, 's'},
        {"iters", required_argument, 0, O_ITERS}, {"resume", no_argument, 0, O_RESUME},
        {"threads", required_argument, 0, O_THREADS},
        {"drop-nonfinite", no_argument, 0, O_DROP}, {"print-config", no_argument, 0, O_PRINT},
        {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, O_VERSION}, {0, 0, 0, 0}};
    const char *data = NULL, *out = NULL, *config = NULL;
    const char *sets[256];
    int nsets = 0, resume = 0, drop = 0, print = 0;
    long long threads = 0;
    char iters_kv[64];
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, ":d:o:c:s:h", lo, NULL)) != -1) {
        switch (c) {
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
    if (print) {
        printf("%s configuration (key, value, meaning):\n", kind->name);
        md_cfg_print_help(kind->cfg_fields, cfg, stdout);
        return GS_EXIT_OK;
    }
    if (!data || !out) {
        gs_tool_err(prog, "--data and --out are required (see --help)");
        return GS_EXIT_USAGE;
    }
    if (resume && (config || nsets))
        gs_tool_err(prog, "note: --resume uses the configuration stored in %s/last.h5; "
                          "--config/--set are ignored", out);
    struct stat out_st;
    if (stat(out, &out_st) == 0 && !S_ISDIR(out_st.st_mode)) {
        gs_tool_err(prog, "--out %s exists and is not a directory", out);
        return GS_EXIT_USAGE;
    }
    if (!resume && (file_exists(out, "model.h5") || file_exists(out, "last.h5"))) {
        gs_tool_err(prog, "%s already holds a trained model; use --resume to continue it or "
                          "choose another --out", out);
        return GS_EXIT_USAGE;
    }
    if (resume && !file_exists(out, "last.h5")) {
        gs_tool_err(prog, "--resume: %s/last.h5 does not exist", out);
        return GS_EXIT_USAGE;
    }
    if (gs_tool_threads(prog, threads))
        return GS_EXIT_USAGE;
    progress_state ps = {.tty = gs_tool_isatty()};
    int stopped = 0;
    double t0 = wall();
    int rc = run(kind, cfg, data, out, resume, drop, &ps, &stopped);
    if (ps.tty)
        fputc('\n', stderr);
    if (rc) {
        gs_tool_err(prog, "%s", gs_errmsg());
        return GS_EXIT_FAIL;
    }
    if (stopped) {
        fprintf(stderr, "%s: interrupted; state saved to %s/last.h5 (continue with --resume)\n",
                prog, out);
        return GS_EXIT_OK;
    }
    fprintf(stderr, "%s: done in %.0f s: model %s/model.h5, log %s/train.log\n", prog,
            wall() - t0, out, out);
    return GS_EXIT_OK;
}

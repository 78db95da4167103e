/* gansim-train: trains a LUXE (luxe) or ZDC (zdc) fast-simulation model. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "models/md_luxe.h"
#include "models/md_zdc.h"
#include "nn/nn.h"
#include "tool_common.h"

static const char *prog = "gansim-train";
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: %s luxe|zdc --data FILE --out DIR [options]\n"
            "\n"
            "Trains a fast-simulation GAN and writes DIR/model.h5 (for gansim-sample),\n"
            "DIR/last.h5 (complete state, for --resume) and DIR/train.log.\n"
            "\n"
            "options:\n"
            "  --data FILE       training data (HDF5 event table for luxe, image set for zdc;\n"
            "                    luxe also takes a .csv event table)\n"
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
            "Ctrl-C (SIGINT) or SIGTERM saves the state and exits cleanly; --resume goes on.\n",
            prog);
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

static void on_progress(void *ud, const md_progress *p)
{
    progress_state *ps = ud;
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
        if (t - ps->last_print < 0.2 && !p->evaluated && p->step != p->steps)
            return;
        ps->last_print = t;
        fprintf(stderr,
                "\r[%d/%d %-12s] step %6lld/%-6lld  D %8.4f  G %8.4f  W %7.4f  KL %7.4f "
                "(best %7.4f)  %5.1f st/s  ETA %s   ",
                p->sub + 1, p->n_sub, p->sub_name, (long long)p->step, (long long)p->steps,
                p->losses.loss_d, p->losses.loss_g, p->losses.wdist, p->kl_mean, p->best_kl,
                p->steps_per_s, eta);
        if (p->step == p->steps)
            fputc('\n', stderr);
        fflush(stderr);
    } else if (p->evaluated) {
        fprintf(stderr, "%s: %s step %lld/%lld loss_d=%.4f loss_g=%.4f kl_mean=%.4f best=%.4f "
                        "%.1f steps/s ETA %s\n",
                prog, p->sub_name, (long long)p->step, (long long)p->steps, p->losses.loss_d,
                p->losses.loss_g, p->kl_mean, p->best_kl, p->steps_per_s, eta);
    }
}

static void on_progress_zdc(void *ud, const md_zdc_progress *p)
{
    progress_state *ps = ud;
    double t = wall();
    char eta[32];
    fmt_eta(p->eta_s, eta, sizeof eta);
    if (ps->tty) {
        if (t - ps->last_print < 0.2 && !p->evaluated && p->step != p->steps)
            return;
        ps->last_print = t;
        fprintf(stderr,
                "\rstep %6lld/%-6lld  D %7.4f  G %7.4f  div %7.4f  int %7.4f  aux %7.4f  "
                "W1 %8.4f (best %8.4f)  %5.2f st/s  ETA %s   ",
                (long long)p->step, (long long)p->steps, p->loss_d, p->loss_g, p->loss_div,
                p->loss_int, p->loss_aux, p->w1_mean, p->best_w1, p->steps_per_s, eta);
        if (p->step == p->steps)
            fputc('\n', stderr);
        fflush(stderr);
    } else if (p->evaluated) {
        fprintf(stderr, "%s: step %lld/%lld loss_d=%.4f loss_g=%.4f w1_mean=%.4f best=%.4f "
                        "%.2f steps/s ETA %s\n",
                prog, (long long)p->step, (long long)p->steps, p->loss_d, p->loss_g,
                p->w1_mean, p->best_w1, p->steps_per_s, eta);
    }
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
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

/* ---- model kinds ----------------------------------------------------------------
 * Everything but reading the data and calling the trainer is shared: a kind
 * names its config table and defaults, and one function that loads the data
 * and trains. */
typedef union {
    md_luxe_cfg luxe;
    md_zdc_cfg zdc;
} any_cfg;

typedef struct {
    const char *data, *out;
    int resume, drop;
    progress_state *ps;
} run_args;

typedef struct {
    const char *name;
    const md_cfg_field *fields;
    void (*defaults)(any_cfg *cfg);
    /* reads the data and trains: GS_OK or a gs_status with gs_errmsg() set */
    int (*run)(const any_cfg *cfg, const run_args *a, int *stopped);
} train_kind;

/* After the data are read (a bad data file leaves no run directory behind):
 * creates the run directory and arms the stop flag. */
static int start_run(const run_args *a)
{
    if (make_dir(a->out))
        return gs_error(GS_ERR_IO, "%s: cannot create directory: %s", a->out, strerror(errno));
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return GS_OK;
}

static void luxe_defaults(any_cfg *c) { md_luxe_cfg_default(&c->luxe); }
static void zdc_defaults(any_cfg *c) { md_zdc_cfg_default(&c->zdc); }

static int run_luxe(const any_cfg *cfg, const run_args *a, int *stopped)
{
    ds_events ev;
    ds_read_opts ro = {.drop_nonfinite = a->drop};
    int rc = ends_with(a->data, ".csv") ? ds_events_read_csv(a->data, &ro, &ev)
                                        : ds_events_read(a->data, &ro, &ev);
    if (!rc && (rc = start_run(a)))
        ds_events_free(&ev);
    if (rc)
        return rc;
    fprintf(stderr, "%s: %lld events, %lld features, %d threads -> %s/\n", prog,
            (long long)ev.n, (long long)ev.f, nn_get_threads(), a->out);
    md_train_opts to = {.out_dir = a->out, .resume = a->resume, .stop = &g_stop,
                        .progress = on_progress, .progress_ud = a->ps};
    rc = md_luxe_train(&cfg->luxe, &ev, &to, stopped);
    ds_events_free(&ev);
    return rc;
}

static int run_zdc(const any_cfg *cfg, const run_args *a, int *stopped)
{
    ds_images im;
    ds_read_opts ro = {.drop_nonfinite = a->drop};
    int rc = ds_images_read(a->data, &ro, &im);
    if (!rc && (rc = start_run(a)))
        ds_images_free(&im);
    if (rc)
        return rc;
    fprintf(stderr, "%s: %lld images %lldx%lld, %lld conditions, %d threads -> %s/\n", prog,
            (long long)im.n, (long long)im.h, (long long)im.w, (long long)im.c,
            nn_get_threads(), a->out);
    md_zdc_train_opts to = {.out_dir = a->out, .resume = a->resume, .stop = &g_stop,
                            .progress = on_progress_zdc, .progress_ud = a->ps};
    rc = md_zdc_train(&cfg->zdc, &im, &to, stopped);
    ds_images_free(&im);
    return rc;
}

static const train_kind kinds[] = {
    {"luxe", md_luxe_cfg_fields, luxe_defaults, run_luxe},
    {"zdc", md_zdc_cfg_fields, zdc_defaults, run_zdc},
};

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
    const train_kind *kind = NULL;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (!strcmp(argv[1], kinds[k].name))
            kind = &kinds[k];
    if (!kind) {
        gs_tool_err(prog, "unknown model kind '%s' (luxe, zdc)", argv[1]);
        return GS_EXIT_USAGE;
    }
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
    any_cfg cfg;
    kind->defaults(&cfg);
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
    if (config && md_cfg_load_ini(kind->fields, &cfg, config)) {
        gs_tool_err(prog, "%s", gs_errmsg());
        return GS_EXIT_USAGE;
    }
    for (int i = 0; i < nsets; i++)
        if (md_cfg_set_kv(kind->fields, &cfg, sets[i])) {
            gs_tool_err(prog, "--set %s: %s", sets[i], gs_errmsg());
            return GS_EXIT_USAGE;
        }
    if (print) {
        printf("%s configuration (key, value, meaning):\n", kind->name);
        md_cfg_print_help(kind->fields, &cfg, stdout);
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
    run_args ra = {.data = data, .out = out, .resume = resume, .drop = drop, .ps = &ps};
    int stopped = 0;
    double t0 = wall();
    int rc = kind->run(&cfg, &ra, &stopped);
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

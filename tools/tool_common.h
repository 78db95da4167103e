/* Shared by the tools' main()s: exit codes, message style, TTY progress.
 * Header-only because each tool is one translation unit. */
#ifndef GS_TOOL_COMMON_H
#define GS_TOOL_COMMON_H

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <string.h>

#include <sched.h>
#include <signal.h>

#include "comm/cm_mpi.h"
#include "core/gs_core.h"
#include "datasets/ds.h"
#include "nn/nn.h"

enum { GS_EXIT_OK = 0, GS_EXIT_FAIL = 1, GS_EXIT_USAGE = 2 };

/* "gansim-xxx: message" on stderr */
static inline void gs_tool_err(const char *prog, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Parses an integer option in [lo, hi]; returns 0 on success. Accepts
 * scientific notation when the value is an exact integer ("-n 1e6");
 * values beyond long long are refused (strtoll would clamp them silently). */
static inline int gs_tool_parse_i64(const char *s, long long lo, long long hi, long long *out)
{
    int64_t v;
    if (!s || !*s || gs_parse_i64(s, &v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* gs_tool_parse_i64 with its message: "OPT: 'S' is not an integer" when S is
 * no integer at all, else "OPT: 'S' is not an integer in [LO, HI]" (">= LO"
 * when HI is INT64_MAX), so that a value too large is not called "not an
 * integer >= 1". Returns 0, or GS_EXIT_USAGE after the message. */
static inline int gs_tool_int_opt(const char *prog, const char *opt, const char *s, long long lo,
                                  long long hi, long long *out)
{
    if (!gs_tool_parse_i64(s, lo, hi, out))
        return 0;
    int64_t v;
    if (!s || !*s || gs_parse_i64(s, &v))
        gs_tool_err(prog, "%s: '%s' is not an integer", opt, s ? s : "");
    else if (hi == INT64_MAX)
        gs_tool_err(prog, "%s: '%s' is not an integer >= %lld", opt, s, lo);
    else
        gs_tool_err(prog, "%s: '%s' is not an integer in [%lld, %lld]", opt, s, lo, hi);
    return GS_EXIT_USAGE;
}

/* For tools that make their whole output in memory and write it at the end
 * (datagen, prep): Ctrl-C or SIGTERM removes the temporary file the atomic
 * write may have begun (the name gs_tmp_path gives this process) and exits
 * 128 + signal, saying so; the default action would leave it behind. Only
 * async-signal-safe calls in the handler. Call once the output is known. */
static char gs_tool_sig_tmp[4200];
static char gs_tool_sig_msg[4400];
static size_t gs_tool_sig_msg_len;

static inline void gs_tool_sig_cleanup(int sig)
{
    unlink(gs_tool_sig_tmp);
    ssize_t w = write(STDERR_FILENO, gs_tool_sig_msg, gs_tool_sig_msg_len);
    (void)w;
    _exit(128 + sig);
}

static inline void gs_tool_cleanup_on_signals(const char *prog, const char *out)
{
    if (gs_tmp_path(gs_tool_sig_tmp, sizeof gs_tool_sig_tmp, out))
        return; /* no name, no file to remove: the default action is right */
    int n = snprintf(gs_tool_sig_msg, sizeof gs_tool_sig_msg,
                     "\n%s: interrupted: nothing written to %s\n", prog, out);
    gs_tool_sig_msg_len = n > 0 && (size_t)n < sizeof gs_tool_sig_msg ? (size_t)n : 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = gs_tool_sig_cleanup;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Parses a finite number; NaN, infinities and overflowing values are refused. */
static inline int gs_tool_parse_f64(const char *s, double *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == ERANGE || *end != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* ---- event-table import (--columns, --units, --particles-per-bx) -------- */

#define GS_TOOL_IMPORT_HELP                                                                \
    "  --columns MAP     rename columns as read, NEW=OLD pairs: x=X,t=time,pdg=PID\n"        \
    "  --units U         units of the feature columns, in order (mm,mm,GeV,GeV,GeV,ns)\n"    \
    "                    or as NAME=UNIT pairs; for files without them (CSV)\n"               \
    "  --particles-per-bx N  mean particles per bunch crossing (for --bunch-crossings\n"     \
    "                    when sampling); for files without it (CSV)\n"

/* When `opt` is one of the import options, stores `val` in *o and returns
 * 1 (or, for a bad value, prints the message and returns -1); returns 0 for
 * any other option. The strings are kept by reference. */
static inline int gs_tool_import_opt(const char *prog, const char *opt, const char *val,
                                     ds_read_opts *o)
{
    if (!strcmp(opt, "--columns")) {
        o->columns = val;
    } else if (!strcmp(opt, "--units")) {
        o->units = val;
    } else if (!strcmp(opt, "--particles-per-bx")) {
        double v;
        if (gs_tool_parse_f64(val, &v) || !(v > 0)) {
            gs_tool_err(prog, "--particles-per-bx: '%s' is not a number > 0", val);
            return -1;
        }
        o->particles_per_bx = v;
    } else {
        return 0;
    }
    return 1;
}

/* Reads an event table: CSV by the .csv suffix, HDF5 otherwise. */
static inline int gs_tool_read_events(const char *path, const ds_read_opts *o, ds_events *ev)
{
    size_t l = strlen(path);
    if (l > 4 && !strcmp(path + l - 4, ".csv"))
        return ds_events_read_csv(path, o, ev);
    return ds_events_read(path, o, ev);
}

/* ---- inputs are never outputs ------------------------------------------ */

/* A file a tool reads or writes, with the option that named it. */
typedef struct {
    const char *opt;  /* "--model", "-o", ... */
    const char *path; /* NULL: option not given */
} gs_tool_file;

/* Registers the inputs with gs_protect_input (so no atomic write can replace
 * one, whatever path it takes) and refuses, naming both, when one of the
 * outputs (which need not exist yet) is already the same file as an input:
 * `-o m.h5` over `--model m.h5`, through a symlink or a hard link alike.
 * Returns 0, or GS_EXIT_USAGE after the message. */
static inline int gs_tool_guard_io(const char *prog, const gs_tool_file *in, int nin,
                                   const gs_tool_file *out, int nout)
{
    for (int i = 0; i < nin; i++)
        if (in[i].path && gs_protect_input(in[i].path)) {
            gs_tool_err(prog, "%s", gs_errmsg());
            return GS_EXIT_USAGE;
        }
    for (int o = 0; o < nout; o++) {
        const char *same = out[o].path ? gs_protected_match(out[o].path) : NULL;
        if (!same)
            continue;
        for (int i = 0; i < nin; i++)
            if (in[i].path && !strcmp(in[i].path, same)) {
                gs_tool_err(prog, "%s %s is the same file as %s %s; refusing to write over an "
                            "input", out[o].opt, out[o].path, in[i].opt, in[i].path);
                return GS_EXIT_USAGE;
            }
    }
    return 0;
}

/* The run directory a model file lives in (its directory, when that holds
 * a gansim-train run: last.h5 or train.log beside it) into buf; returns 1,
 * or 0 for a model file elsewhere. */
static inline int gs_tool_run_dir_of(const char *model, char *buf, size_t n)
{
    const char *slash = strrchr(model, '/');
    int w = !slash ? snprintf(buf, n, ".")
            : slash == model ? snprintf(buf, n, "/")
                             : snprintf(buf, n, "%.*s", (int)(slash - model), model);
    if (w < 0 || (size_t)w >= n)
        return 0;
    char p[4200];
    snprintf(p, sizeof p, "%s/last.h5", buf);
    if (access(p, F_OK) == 0)
        return 1;
    snprintf(p, sizeof p, "%s/train.log", buf);
    return access(p, F_OK) == 0;
}

/* Thread count: --threads (opt > 0), else GANSIM_THREADS, else OpenMP's
 * default. Returns an exit code: 0, or GS_EXIT_USAGE after a message. */
static inline int gs_tool_threads(const char *prog, long long opt)
{
    long long t = opt;
    const char *env = getenv("GANSIM_THREADS");
    if (!t && env && gs_tool_parse_i64(env, 1, 1024, &t)) {
        gs_tool_err(prog, "GANSIM_THREADS: '%s' is not an integer in 1..1024", env);
        return GS_EXIT_USAGE;
    }
    if (t)
        nn_set_threads((int)t);
    return 0;
}

/* Joins the MPI job when a launcher started this process (comm/cm_mpi.h),
 * else *c is the single-process communicator. Call after gs_tool_threads.
 * Under MPI with no thread count given (--threads, GANSIM_THREADS,
 * OMP_NUM_THREADS), each rank takes its share of the CPUs it may run on:
 * all of them when mpirun bound it (--bind-to core/socket), else the
 * node's CPUs divided by the ranks on the node. Returns 0 or GS_EXIT_FAIL
 * after a message. */
static inline int gs_tool_comm(const char *prog, long long threads_opt, gs_comm **c)
{
    if (cm_mpi_init(NULL, NULL, c)) {
        gs_tool_err(prog, "%s", gs_errmsg());
        return GS_EXIT_FAIL;
    }
    if (gs_comm_size(*c) <= 1)
        return 0;
    cpu_set_t set;
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)online;
    const int given = threads_opt > 0 || getenv("GANSIM_THREADS") || getenv("OMP_NUM_THREADS");
    if (cpus >= online) /* not bound: share the node with its other ranks */
        cpus /= cm_mpi_local_size();
    if (cpus < 1)
        cpus = 1;
    if (!given)
        nn_set_threads(cpus);
    else if (nn_get_threads() > cpus && gs_comm_rank(*c) == 0)
        gs_tool_err(prog, "note: %d threads per rank on %d CPU%s each: the threads will "
                    "share cores (mpirun binds each rank to one core unless told --bind-to "
                    "none or --map-by ...:PE=N)", nn_get_threads(), cpus, cpus == 1 ? "" : "s");
    return 0;
}

/* Says once (rank 0) when OpenBLAS runs far below this CPU (nn_blas_advice).
 * Call once the inputs passed validation: a refused run prints one line. */
static inline void gs_tool_blas_note(const char *prog, gs_comm *c)
{
    const char *blas = nn_blas_advice();
    if (blas && gs_comm_rank(c) == 0)
        gs_tool_err(prog, "note: %s", blas);
}

/* Ends a tool: under MPI a failure on one rank must end the whole job (the
 * others may wait in a collective), so it aborts them all with the code. */
static inline int gs_tool_exit(gs_comm *c, int code)
{
    if (code != 0 && gs_comm_size(c) > 1) {
        fflush(stderr);
        gs_comm_abort(c, code);
    }
    return code;
}

/* The one-line message for getopt_long's ':' (option missing its value;
 * needs a leading ':' in the optstring) or '?' (unknown option); returns
 * the usage exit code. */
static inline int gs_tool_getopt_fail(const char *prog, int c, char *const *argv, int ind)
{
    if (c == ':')
        gs_tool_err(prog, "option %s needs a value (see --help)", argv[ind - 1]);
    else
        gs_tool_err(prog, "unknown option '%s' (see --help)", argv[ind - 1]);
    return GS_EXIT_USAGE;
}

/* Progress display: a rewritten line on a TTY, nothing otherwise (callers
 * print plain periodic lines themselves when !gs_tool_isatty()). */
static inline int gs_tool_isatty(void) { return isatty(STDERR_FILENO); }

static inline void gs_tool_progress(const char *what, long long done, long long total)
{
    if (!gs_tool_isatty())
        return;
    fprintf(stderr, "\r%s %lld/%lld (%3.0f%%)", what, done, total,
            total > 0 ? 100.0 * (double)done / (double)total : 100.0);
    if (done >= total)
        fputc('\n', stderr);
    fflush(stderr);
}

#endif

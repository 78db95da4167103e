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

#include <sched.h>

#include "comm/cm_mpi.h"
#include "core/gs_core.h"
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

/* Parses an integer option in [lo, hi]; returns 0 on success. Values
 * beyond long long are refused (strtoll would clamp them silently). */
static inline int gs_tool_parse_i64(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
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

/* Shared helpers for the Check suites. Each tests/test_*.c is one binary
 * with its own suite(s); GS_TEST_MAIN runs them and returns nonzero on any
 * failure. scripts/run-tests adds up the summaries. */
#ifndef GS_TESTUTIL_H
#define GS_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* |a - b| <= atol + rtol * |b| */
#define ck_assert_close(a, b, atol, rtol)                                                  \
    do {                                                                                   \
        double ca_a_ = (double)(a), ca_b_ = (double)(b);                                   \
        ck_assert_msg(fabs(ca_a_ - ca_b_) <= (atol) + (rtol) * fabs(ca_b_),                \
                      "%s = %.9g, expected %s = %.9g (atol %g, rtol %g)", #a, ca_a_, #b,   \
                      ca_b_, (double)(atol), (double)(rtol));                              \
    } while (0)

/* A fresh scratch directory for one test; removed by gs_test_rmdir. */
static inline void gs_test_tmpdir(char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/gansim-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(buf));
}

static inline void gs_test_rmdir(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The whole file as a NUL-terminated string (free() it); NULL if unreadable. */
static inline char *gs_test_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s)
        s[fread(s, 1, (size_t)n, f)] = '\0';
    fclose(f);
    return s;
}

/* Path of a built tool (GANSIM_BIN is set by `make test`). */
static inline const char *gs_test_bin(void)
{
    const char *b = getenv("GANSIM_BIN");
    return b ? b : "bin";
}

/* Runs a shell command built printf-style; returns its exit status, or -1
 * when it died from a signal (so a crash never passes for an exit code). */
static inline int gs_test_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int gs_test_run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The mpirun prefix for tests that start several ranks: root allowed (CI
 * containers run as root), more ranks than cores (--oversubscribe), threads
 * not pinned to one core each (--bind-to none), shared memory between the
 * ranks without cross-memory attach (containers often forbid ptrace, which
 * CMA needs). GANSIM_MPIRUN replaces it (e.g. another launcher).
 * Open MPI's runtime leaks at MPI_Finalize by design, in components it then
 * unloads (LeakSanitizer cannot even name them), so processes started by
 * mpirun run without leak checking (`make sanitize`); the same gansim code
 * runs leak-checked in one process in the other tests. */
#define GS_TEST_NO_MPI_LEAKS "ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:detect_leaks=0\" "
static inline const char *gs_test_mpirun(void)
{
    const char *e = getenv("GANSIM_MPIRUN");
    return e && *e ? e
                   : "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
                     "OMPI_MCA_btl_vader_single_copy_mechanism=none " GS_TEST_NO_MPI_LEAKS
                     "mpirun --oversubscribe --bind-to none --mca btl self,vader";
}

#define GS_TEST_MAIN(...)                                                                  \
    int main(void)                                                                         \
    {                                                                                      \
        Suite *(*fns[])(void) = {__VA_ARGS__};                                             \
        SRunner *sr = srunner_create(fns[0]());                                            \
        for (size_t i = 1; i < sizeof fns / sizeof fns[0]; i++)                            \
            srunner_add_suite(sr, fns[i]());                                               \
        srunner_run_all(sr, CK_NORMAL);                                                    \
        int nf = srunner_ntests_failed(sr);                                                \
        srunner_free(sr);                                                                  \
        return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                                      \
    }

#endif

/* gs_comm (core/gs_comm.h) and its MPI implementation (comm/cm_mpi.c).
 *
 * The single-process communicator is checked in-process. The MPI one runs
 * this same binary under mpirun with GANSIM_TEST_COMM_CHILD set: each rank
 * exercises the collectives and prints a verdict line that the parent test
 * counts. */
#include <limits.h>

#include "comm/cm_mpi.h"
#include "core/gs_comm.h"
#include "testutil.h"

/* ---- the child: one rank of an mpirun job ------------------------------- */

static int child_fail(int rank, const char *what)
{
    printf("rank %d FAIL %s: %s\n", rank, what, gs_errmsg());
    fflush(stdout);
    return 1;
}

static int child_main(const char *mode)
{
    gs_comm *c;
    if (cm_mpi_init(NULL, NULL, &c))
        return child_fail(-1, "init");
    const int r = gs_comm_rank(c), p = gs_comm_size(c);
    if (!strcmp(mode, "info")) {
        printf("rank %d of %d backend %s mpi '%s'\n", r, p, c->backend,
               cm_mpi_version()[0] ? "yes" : "");
        return 0;
    }
    if (!strcmp(mode, "abort")) {
        /* rank 1 fails while rank 0 waits in a collective: the job must end */
        if (r == 1)
            gs_comm_abort(c, 3);
        int64_t x = 0;
        gs_comm_max_i64(c, &x, 1);
        printf("rank %d not aborted\n", r);
        return 0;
    }
    /* sums of floats: n large enough to go through the rendezvous protocol */
    const int64_t n = 3000001;
    float *v = malloc((size_t)n * sizeof *v);
    if (!v)
        return child_fail(r, "malloc");
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(r + 1) * (float)(i % 7);
    if (gs_comm_sum_f32(c, v, n))
        return child_fail(r, "sum_f32");
    const float tri = (float)(p * (p + 1) / 2);
    for (int64_t i = 0; i < n; i++)
        if (v[i] != tri * (float)(i % 7)) {
            printf("rank %d FAIL sum_f32 at %lld: %g\n", r, (long long)i, (double)v[i]);
            return 1;
        }
    free(v);
    double d[2] = {0.5 * r, 1.0};
    int64_t m[2] = {r, -r};
    if (gs_comm_sum_f64(c, d, 2) || gs_comm_max_i64(c, m, 2))
        return child_fail(r, "f64/i64");
    if (d[0] != 0.25 * p * (p - 1) || d[1] != p || m[0] != p - 1 || m[1] != 0) {
        printf("rank %d FAIL f64/i64: %g %g %lld %lld\n", r, d[0], d[1], (long long)m[0],
               (long long)m[1]);
        return 1;
    }
    /* broadcast from the last rank */
    char msg[32] = "";
    if (r == p - 1)
        snprintf(msg, sizeof msg, "hello from %d", r);
    if (gs_comm_bcast(c, msg, sizeof msg, p - 1))
        return child_fail(r, "bcast");
    char want[32];
    snprintf(want, sizeof want, "hello from %d", p - 1);
    if (strcmp(msg, want)) {
        printf("rank %d FAIL bcast: '%s'\n", r, msg);
        return 1;
    }
    /* every rank sends its number to rank 0 (sizes first, as the sampler does) */
    if (r > 0) {
        int64_t bytes = r;
        char buf[64];
        memset(buf, 'a' + r, sizeof buf);
        if (gs_comm_send(c, &bytes, sizeof bytes, 0, 1) || gs_comm_send(c, buf, bytes, 0, 2))
            return child_fail(r, "send");
    } else {
        for (int s = 1; s < p; s++) {
            int64_t bytes;
            char buf[64] = "";
            if (gs_comm_recv(c, &bytes, sizeof bytes, s, 1) || gs_comm_recv(c, buf, bytes, s, 2))
                return child_fail(r, "recv");
            if (bytes != s || (bytes > 0 && buf[bytes - 1] != 'a' + s)) {
                printf("rank 0 FAIL recv from %d: %lld bytes\n", s, (long long)bytes);
                return 1;
            }
        }
    }
    if (gs_comm_barrier(c))
        return child_fail(r, "barrier");
    printf("rank %d of %d ok\n", r, p);
    return 0;
}

/* ---- the single-process communicator -------------------------------------- */

START_TEST(t_self)
{
    gs_comm *s = gs_comm_self();
    ck_assert_int_eq(gs_comm_rank(s), 0);
    ck_assert_int_eq(gs_comm_size(s), 1);
    ck_assert_int_eq(gs_comm_rank(NULL), 0);
    ck_assert_int_eq(gs_comm_size(NULL), 1);
    float v[3] = {1, 2, 3};
    ck_assert_int_eq(gs_comm_sum_f32(s, v, 3), GS_OK);
    ck_assert_int_eq(gs_comm_sum_f32(NULL, v, 3), GS_OK);
    ck_assert(v[0] == 1 && v[1] == 2 && v[2] == 3);
    ck_assert_int_eq(gs_comm_bcast(NULL, v, sizeof v, 0), GS_OK);
    ck_assert_int_eq(gs_comm_barrier(s), GS_OK);
    /* misuse is reported, not silently ignored or deadlocked on */
    ck_assert_int_eq(gs_comm_sum_f32(s, NULL, 3), GS_ERR_ARG);
    ck_assert_int_eq(gs_comm_bcast(s, v, sizeof v, 1), GS_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "root 1"));
    ck_assert_int_eq(gs_comm_send(s, v, sizeof v, 0, 0), GS_ERR_ARG);
    ck_assert_int_eq(gs_comm_recv(NULL, v, sizeof v, 0, 0), GS_ERR_ARG);
    char b[64];
    ck_assert_str_eq(gs_comm_layout(s, 2, b, sizeof b), "1 process x 2 threads");
    gs_comm two = {1, 2, NULL, NULL, "mpi"};
    ck_assert_str_eq(gs_comm_layout(&two, 1, b, sizeof b), "2 ranks x 1 thread");
}
END_TEST

/* Without a launcher and without GANSIM_MPI, MPI is never initialised. */
START_TEST(t_no_launcher)
{
    if (cm_mpi_launched())
        return; /* the suite itself runs under mpirun: nothing to check */
    unsetenv("GANSIM_MPI");
    gs_comm *c;
    ck_assert_int_eq(cm_mpi_init(NULL, NULL, &c), GS_OK);
    ck_assert_ptr_eq(c, gs_comm_self());
    ck_assert_str_eq(cm_mpi_version(), "");
}
END_TEST

static char self_exe[PATH_MAX];

/* Runs `prefix self` with the child mode; captures stdout in out. */
static int run_child(const char *prefix, const char *mode, char *out, size_t n)
{
    char dir[64], cmd[8192];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "GANSIM_TEST_COMM_CHILD=%s timeout -k 5 60 %s '%s' > %s/out.txt 2> %s/err.txt",
             mode, prefix, self_exe, dir, dir);
    int st = system(cmd);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    char path[128];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    FILE *f = fopen(path, "r");
    size_t got = f ? fread(out, 1, n - 1, f) : 0;
    out[got] = '\0';
    if (f)
        fclose(f);
    if (rc != 0 && strcmp(mode, "abort")) {
        snprintf(path, sizeof path, "cat %s/err.txt >&2", dir);
        if (system(path)) {
        }
    }
    gs_test_rmdir(dir);
    return rc;
}

static int count(const char *s, const char *what)
{
    int k = 0;
    for (const char *p = s; (p = strstr(p, what)); p++)
        k++;
    return k;
}

START_TEST(t_mpi_collectives)
{
    static char out[8192];
    char prefix[1024];
    for (int np = 2; np <= 3; np++) {
        snprintf(prefix, sizeof prefix, "%s -np %d", gs_test_mpirun(), np);
        ck_assert_int_eq(run_child(prefix, "collectives", out, sizeof out), 0);
        char want[64];
        for (int r = 0; r < np; r++) {
            snprintf(want, sizeof want, "rank %d of %d ok", r, np);
            ck_assert_msg(strstr(out, want), "missing '%s' in:\n%s", want, out);
        }
        ck_assert_int_eq(count(out, "FAIL"), 0);
    }
}
END_TEST

/* A singleton (GANSIM_MPI=1, no mpirun) is a job of one; plain runs and
 * GANSIM_MPI=0 under mpirun never initialise MPI. */
START_TEST(t_mpi_launch_modes)
{
    static char out[8192];
    ck_assert_int_eq(run_child("env -u OMPI_COMM_WORLD_SIZE GANSIM_MPI=1 " GS_TEST_NO_MPI_LEAKS,
                               "info", out, sizeof out), 0);
    ck_assert_msg(strstr(out, "rank 0 of 1 backend mpi mpi 'yes'"), "%s", out);
    ck_assert_int_eq(run_child("env -u OMPI_COMM_WORLD_SIZE GANSIM_MPI=", "info", out, sizeof out), 0);
    ck_assert_msg(strstr(out, "rank 0 of 1 backend self mpi ''"), "%s", out);
    char prefix[1024];
    snprintf(prefix, sizeof prefix, "%s -np 2 -x GANSIM_MPI=0", gs_test_mpirun());
    ck_assert_int_eq(run_child(prefix, "info", out, sizeof out), 0);
    ck_assert_int_eq(count(out, "rank 0 of 1 backend self"), 2);
    snprintf(prefix, sizeof prefix, "%s -np 2", gs_test_mpirun());
    ck_assert_int_eq(run_child(prefix, "info", out, sizeof out), 0);
    ck_assert_int_eq(count(out, "of 2 backend mpi mpi 'yes'"), 2);
}
END_TEST

/* A rank that aborts ends the whole job with its code, while the other
 * rank is blocked in a collective (the timeout of run_child bounds it). */
START_TEST(t_mpi_abort)
{
    static char out[8192];
    char prefix[1024];
    snprintf(prefix, sizeof prefix, "%s -np 2", gs_test_mpirun());
    ck_assert_int_eq(run_child(prefix, "abort", out, sizeof out), 3);
    ck_assert_int_eq(count(out, "not aborted"), 0);
}
END_TEST

static Suite *comm_suite(void)
{
    Suite *s = suite_create("comm");
    TCase *tc = tcase_create("self");
    tcase_add_test(tc, t_self);
    tcase_add_test(tc, t_no_launcher);
    suite_add_tcase(s, tc);
    TCase *mp = tcase_create("mpi");
    tcase_set_timeout(mp, 180);
    tcase_add_test(mp, t_mpi_collectives);
    tcase_add_test(mp, t_mpi_launch_modes);
    tcase_add_test(mp, t_mpi_abort);
    suite_add_tcase(s, mp);
    return s;
}

int main(void)
{
    const char *mode = getenv("GANSIM_TEST_COMM_CHILD");
    if (mode && *mode)
        return child_main(mode);
    ssize_t k = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (k <= 0)
        return 1;
    self_exe[k] = '\0';
    SRunner *sr = srunner_create(comm_suite());
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

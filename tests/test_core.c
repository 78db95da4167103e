#include "core/gs_core.h"
#include "core/gs_pdg.h"
#include "testutil.h"

#include <signal.h>
#include <sys/stat.h>

START_TEST(test_error_message)
{
    gs_clear_error();
    ck_assert_str_eq(gs_errmsg(), "no error");
    int rc = gs_error(GS_ERR_IO, "%s: cannot open", "x.h5");
    ck_assert_int_eq(rc, GS_ERR_IO);
    ck_assert_str_eq(gs_errmsg(), "x.h5: cannot open");
    gs_error_wrap(rc, "loading");
    ck_assert_str_eq(gs_errmsg(), "loading: x.h5: cannot open");
}
END_TEST

START_TEST(test_parse_i64)
{
    static const struct {
        const char *s;
        int ok;
        int64_t v;
    } c[] = {
        {"42", 1, 42},          {"-7", 1, -7},          {"1e6", 1, 1000000},
        {"2.5e3", 1, 2500},     {"1E3", 1, 1000},       {" 12 ", 1, 12},
        {"9007199254740993e0", 1, 9007199254740993LL},  {"9223372036854775807", 1, INT64_MAX},
        {"-9223372036854775808", 1, INT64_MIN}, {"100.0", 1, 100}, {"0.05e2", 1, 5},
        {"1200e-2", 1, 12}, {"0", 1, 0}, {"-0e5", 1, 0}, {"00012", 1, 12},
        {"9223372036854775808", 0, 0}, {"9.3e18", 0, 0}, {"1.25e1", 0, 0}, {".", 0, 0},
        {"1e", 0, 0}, {"-", 0, 0}, {"1..2", 0, 0},
        {"1.5", 0, 0},          {"1e-3", 0, 0},         {"1e20", 0, 0},
        {"99999999999999999999", 0, 0}, {"1e999", 0, 0}, {"nan", 0, 0},
        {"inf", 0, 0},          {"", 0, 0},             {"12x", 0, 0},
        {"0x10", 0, 0},         {"e6", 0, 0},           {"1e6x", 0, 0},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int64_t v = -12345;
        int r = gs_parse_i64(c[i].s, &v);
        ck_assert_msg((r == 0) == c[i].ok, "'%s': rc %d", c[i].s, r);
        if (c[i].ok)
            ck_assert_msg(v == c[i].v, "'%s' -> %lld", c[i].s, (long long)v);
        else
            ck_assert_int_eq(v, -12345);
    }
}
END_TEST

START_TEST(test_rng_deterministic)
{
    gs_rng a, b;
    gs_rng_seed(&a, 42);
    gs_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        ck_assert_uint_eq(gs_rng_next(&a), gs_rng_next(&b));
    gs_rng_seed(&b, 43);
    ck_assert_uint_ne(gs_rng_next(&a), gs_rng_next(&b));
}
END_TEST

START_TEST(test_rng_moments)
{
    gs_rng r;
    gs_rng_seed(&r, 7);
    const int n = 200000;
    double s = 0, s2 = 0, su = 0, sp = 0, sg = 0;
    for (int i = 0; i < n; i++) {
        double x = gs_rng_normal(&r);
        s += x;
        s2 += x * x;
        su += gs_rng_uniform(&r);
    }
    for (int i = 0; i < 20000; i++) {
        sp += (double)gs_rng_poisson(&r, i % 2 ? 3.5 : 80.0);
        sg += gs_rng_gamma(&r, 2.5);
    }
    /* tolerances are ~5 standard errors */
    ck_assert_close(s / n, 0.0, 0.012, 0);
    ck_assert_close(s2 / n, 1.0, 0.016, 0);
    ck_assert_close(su / n, 0.5, 0.004, 0);
    ck_assert_close(sp / 20000, (3.5 + 80.0) / 2, 0.2, 0);
    ck_assert_close(sg / 20000, 2.5, 0.06, 0);
}
END_TEST

START_TEST(test_rng_below_and_shuffle)
{
    gs_rng r;
    gs_rng_seed(&r, 1);
    int64_t idx[50];
    for (int i = 0; i < 50; i++)
        idx[i] = i;
    gs_rng_shuffle_i64(&r, idx, 50);
    int seen[50] = {0}, moved = 0;
    for (int i = 0; i < 50; i++) {
        ck_assert(idx[i] >= 0 && idx[i] < 50);
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(seen[i], 1);
    ck_assert_int_gt(moved, 25);
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_lt(gs_rng_below(&r, 7), 7);
}
END_TEST

START_TEST(test_atomic_commit)
{
    char dir[64], tmp[256], fin[256];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(fin, sizeof fin, "%s/out.txt", dir);
    ck_assert_int_eq(gs_tmp_path(tmp, sizeof tmp, fin), GS_OK);
    FILE *f = fopen(tmp, "w");
    fputs("hello", f);
    fclose(f);
    ck_assert_int_ne(access(fin, F_OK), 0);
    ck_assert_int_eq(gs_commit(tmp, fin), GS_OK);
    ck_assert_int_eq(access(fin, F_OK), 0);
    ck_assert_int_ne(access(tmp, F_OK), 0);
    char small[8];
    ck_assert_int_eq(gs_tmp_path(small, sizeof small, fin), GS_ERR_ARG);
    /* an output that cannot be made is refused up front, by name */
    ck_assert_int_eq(gs_tmp_path(tmp, sizeof tmp, dir), GS_ERR_ARG); /* a directory */
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "is a directory"));
    snprintf(fin, sizeof fin, "%s/nodir/out.txt", dir);
    ck_assert_int_eq(gs_check_out_path(fin), GS_ERR_IO);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "/nodir: No such file"));
    snprintf(fin, sizeof fin, "%s/out.txt/x", dir); /* under a file */
    ck_assert_int_eq(gs_check_out_path(fin), GS_ERR_IO);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "out.txt is not a directory"));
    ck_assert_int_eq(gs_check_out_path("bare-name.h5"), GS_OK); /* the current directory */
    gs_test_rmdir(dir);
}
END_TEST

/* gs_commit never replaces a registered input, whatever name leads to it */
START_TEST(test_commit_spares_inputs)
{
    char dir[64], in[256], lnk[256], tmp[300];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(in, sizeof in, "%s/in.h5", dir);
    snprintf(lnk, sizeof lnk, "%s/sub/../link.h5", dir);
    FILE *f = fopen(in, "w");
    fputs("precious", f);
    fclose(f);
    char sub[300];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    ck_assert_int_eq(symlink("in.h5", lnk), 0);
    ck_assert_int_eq(gs_protect_input(in), GS_OK);
    ck_assert_str_eq(gs_protected_match(lnk), in);
    ck_assert_int_eq(gs_tmp_path(tmp, sizeof tmp, lnk), GS_OK);
    f = fopen(tmp, "w");
    fputs("new", f);
    fclose(f);
    ck_assert_int_eq(gs_commit(tmp, lnk), GS_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "is the same file as the input"));
    ck_assert_int_ne(access(tmp, F_OK), 0); /* the temporary is gone */
    char buf[16] = "";
    f = fopen(in, "r");
    ck_assert_ptr_nonnull(fgets(buf, sizeof buf, f));
    fclose(f);
    ck_assert_str_eq(buf, "precious");
    gs_protect_clear();
    ck_assert_ptr_null(gs_protected_match(in));
    gs_test_rmdir(dir);
}
END_TEST

/* The run-directory lock: a second holder is refused and told the first's
 * pid; the lock dies with its process (kill -9 leaves nothing stale). */
START_TEST(test_dir_lock)
{
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    int go[2], done[2];
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(done), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        gs_dir_lock_t lk;
        char c = gs_dir_lock(dir, "holder in the test", &lk) == GS_OK ? 'y' : 'n';
        if (write(go[1], &c, 1) != 1)
            _exit(1);
        char x;
        if (read(done[0], &x, 1) < 0) /* wait to be killed */
            _exit(1);
        _exit(0);
    }
    char c = 0;
    ck_assert_int_eq(read(go[0], &c, 1), 1);
    ck_assert_int_eq(c, 'y');
    gs_dir_lock_t lk;
    ck_assert_int_eq(gs_dir_lock(dir, "second", &lk), GS_ERR_STATE);
    char want[64];
    snprintf(want, sizeof want, "in use by another process (pid %ld, holder in the test)",
             (long)child);
    ck_assert_msg(strstr(gs_errmsg(), want), "message: %s", gs_errmsg());
    ck_assert_int_eq(kill(child, SIGKILL), 0);
    int st;
    ck_assert_int_eq(waitpid(child, &st, 0), child);
    ck_assert_int_eq(gs_dir_lock(dir, "second", &lk), GS_OK);
    char lockf[128];
    snprintf(lockf, sizeof lockf, "%s/.gansim-lock", dir);
    ck_assert_int_eq(access(lockf, F_OK), 0);
    gs_dir_unlock(&lk);
    ck_assert_int_ne(access(lockf, F_OK), 0); /* removed on unlock */
    ck_assert_int_eq(gs_dir_lock(dir, "third", &lk), GS_OK);
    gs_dir_unlock(&lk);
    gs_test_rmdir(dir);
}
END_TEST

START_TEST(test_pdg_table)
{
    double m = -1;
    ck_assert(gs_pdg_mass(2112, &m));
    ck_assert_double_eq_tol(m, 0.93956542052, 1e-12);
    ck_assert(gs_pdg_mass(22, &m));
    ck_assert_double_eq(m, 0);
    ck_assert(gs_pdg_mass(-11, &m));
    ck_assert_double_eq_tol(m, 0.51099895e-3, 1e-15);
    ck_assert(gs_pdg_mass(-2212, &m)); /* antiproton */
    ck_assert_double_eq_tol(m, 0.93827208816, 1e-12);
    m = 7;
    ck_assert(!gs_pdg_mass(999999, &m));
    ck_assert(!gs_pdg_mass(0, &m));
    ck_assert(!gs_pdg_mass(-22, &m)); /* the photon is its own antiparticle */
    ck_assert_double_eq(m, 7); /* untouched */
    ck_assert_str_eq(gs_pdg_name(2112), "n");
    ck_assert_str_eq(gs_pdg_name(-11), "e+");
    ck_assert_ptr_null(gs_pdg_name(12345));
    /* one entry per id, a name each, and a particle's antiparticle (when
     * listed) has its mass: the table is hand-typed, so check its shape */
    ck_assert_int_ge(gs_pdg_count(), 20);
    for (int i = 0; i < gs_pdg_count(); i++) {
        const int32_t id = gs_pdg_id(i);
        ck_assert_ptr_nonnull(gs_pdg_name(id));
        double mi, mj;
        ck_assert(gs_pdg_mass(id, &mi));
        ck_assert(mi >= 0 && mi < 4);
        for (int j = i + 1; j < gs_pdg_count(); j++) {
            ck_assert_int_ne(id, gs_pdg_id(j));
            ck_assert_str_ne(gs_pdg_name(id), gs_pdg_name(gs_pdg_id(j)));
        }
        if (gs_pdg_mass(-id, &mj))
            ck_assert_double_eq(mi, mj);
    }
    ck_assert_int_eq(gs_pdg_id(-1), 0);
    ck_assert_int_eq(gs_pdg_id(gs_pdg_count()), 0);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_error_message);
    tcase_add_test(tc, test_parse_i64);
    tcase_add_test(tc, test_commit_spares_inputs);
    tcase_add_test(tc, test_dir_lock);
    tcase_add_test(tc, test_rng_deterministic);
    tcase_add_test(tc, test_rng_moments);
    tcase_add_test(tc, test_rng_below_and_shuffle);
    tcase_add_test(tc, test_atomic_commit);
    tcase_add_test(tc, test_pdg_table);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(core_suite)

/* gansim-bench as a tool: every model section run at a pinned batch gives
 * exactly one well-formed row (bench/compare.py pairs gansim and PyTorch one
 * row at a time and refuses anything else), its rate is the row's own
 * arithmetic, and bad arguments fail. No timing is asserted (speed belongs to
 * `make bench`); the steps are tiny so the suite stays fast. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The JSON value after "key": in the row starting at row (NULL when absent
 * before the row's closing brace). */
static const char *row_field(const char *row, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *end = strchr(row, '}');
    const char *p = strstr(row, pat);
    return p && end && p < end ? p + strlen(pat) : NULL;
}

static double row_num(const char *row, const char *key)
{
    const char *v = row_field(row, key);
    ck_assert_msg(v != NULL, "row has no %s", key);
    return strtod(v, NULL);
}

/* Runs one section at batch n (1 thread, 1 repetition, no sgemm peak) and
 * checks its single row: the shape names n, every number is positive and
 * finite, and the rate is units per second of the measured time. */
static void check_section(const char *dir, const char *section, long n, const char *unit,
                          double units_per_step)
{
    char out[1100];
    snprintf(out, sizeof out, "%s/%s.json", dir, section);
    ck_assert_int_eq(gs_test_run("%s/gansim-bench --section %s --batch %ld --threads 1 --reps 1 "
                                 "--warmup 0 --no-sgemm --json > '%s'",
                                 gs_test_bin(), section, n, out),
                     0);
    char *txt = gs_test_read_file(out);
    ck_assert_ptr_nonnull(txt);
    char pat[64];
    snprintf(pat, sizeof pat, "{\"section\": \"%s\"", section);
    const char *row = strstr(txt, pat);
    ck_assert_msg(row != NULL, "--section %s --batch %ld printed no row:\n%s", section, n, txt);
    ck_assert_msg(strstr(row + 1, "{\"section\": ") == NULL, "--section %s: more than one row",
                  section);
    char num[32];
    snprintf(num, sizeof num, "%ld", n);
    const char *shape = row_field(row, "shape");
    ck_assert_ptr_nonnull(shape);
    const char *shape_end = strchr(shape + 1, '"');
    const char *hit = strstr(shape, num);
    ck_assert_msg(hit && hit < shape_end, "%s: shape does not name %ld", section, n);
    const char *u = row_field(row, "unit");
    ck_assert_ptr_nonnull(u);
    ck_assert_int_eq(strncmp(u + 1, unit, strlen(unit)), 0);
    ck_assert(row_num(row, "threads") == 1);
    const double ms = row_num(row, "ms"), gflop = row_num(row, "gflop"),
                 per_s = row_num(row, "per_s");
    ck_assert(isfinite(ms) && ms > 0);
    ck_assert(isfinite(gflop) && gflop > 0);
    ck_assert(isfinite(per_s) && per_s > 0);
    const double want = units_per_step / (ms * 1e-3);
    ck_assert_msg(fabs(per_s - want) <= 1e-3 * want, "%s: %g %s for %g ms (want %g)", section,
                  per_s, unit, ms, want);
    free(txt);
}

START_TEST(t_bench_pinned_batches)
{
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    /* batch sizes none of the sections uses by default: a pinned size is run
     * whatever it is (the wgan and zdc sections once printed nothing for
     * one outside their standard pair) */
    check_section(dir, "wgan", 32, "steps/s", 1);
    check_section(dir, "zdc", 8, "steps/s", 1);
    check_section(dir, "zdc-recipe", 8, "steps/s", 1);
    check_section(dir, "zdc-gen", 16, "images/s", 16);
    check_section(dir, "gen", 256, "events/s", 256);
    gs_test_rmdir(dir);
}
END_TEST

START_TEST(t_bench_bad_args)
{
    const char *bin = gs_test_bin();
    ck_assert_int_ne(gs_test_run("%s/gansim-bench --section nope >/dev/null 2>&1", bin), 0);
    ck_assert_int_ne(gs_test_run("%s/gansim-bench --batch 0 >/dev/null 2>&1", bin), 0);
    ck_assert_int_ne(gs_test_run("%s/gansim-bench --reps 0 >/dev/null 2>&1", bin), 0);
    ck_assert_int_ne(gs_test_run("%s/gansim-bench --threads >/dev/null 2>&1", bin), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-bench --help >/dev/null 2>&1", bin), 0);
}
END_TEST

static Suite *bench_suite(void)
{
    Suite *s = suite_create("bench");
    TCase *tc = tcase_create("bench");
    tcase_set_timeout(tc, 300); /* sanitizers and valgrind run the tool too */
    tcase_add_test(tc, t_bench_pinned_batches);
    tcase_add_test(tc, t_bench_bad_args);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(bench_suite)

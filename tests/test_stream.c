/* Streaming writers (datasets/ds.h, core/gs_h5.h appenders): appended files
 * read back equal to the one-shot writers' files, in any append sizes, with
 * and without compression; nothing under the final name until close. */
#include <sys/stat.h>

#include "core/gs_h5.h"
#include "datasets/ds.h"
#include "testutil.h"

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Counts files in dir (to see that no temporary is left behind). */
static int n_files(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

static void events_slice(const ds_events *ev, int64_t i0, int64_t n, ds_events *s)
{
    *s = *ev;
    s->n = n;
    s->x = ev->x + i0 * ev->f;
    s->pdg = ev->pdg ? ev->pdg + i0 : NULL;
    s->weights = ev->weights ? ev->weights + i0 : NULL;
}

START_TEST(t_events_writer)
{
    char dir[64], ref[128], out[128];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(ref, sizeof ref, "%s/ref.h5", dir);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    ds_events ev;
    ds_toy_opts to = {.with_weights = 1};
    ck_assert_int_eq(ds_toy_luxe_ex(20011, 5, &to, &ev), GS_OK);
    ck_assert_int_eq(ds_events_write(ref, &ev), GS_OK);
    int64_t *bx = malloc((size_t)ev.n * sizeof *bx);
    for (int64_t i = 0; i < ev.n; i++)
        bx[i] = i / 1000;
    const int64_t cuts[] = {0, 1, 4097, 4100, 12000, 20011};
    for (int deflate = 0; deflate <= 4; deflate += 4) {
        ds_write_opts o = {.chunk_rows = 4096, .deflate = deflate};
        ds_events_writer *w;
        ck_assert_int_eq(ds_events_writer_open(out, &ev, 1, &o, &w), GS_OK);
        for (size_t k = 0; k + 1 < sizeof cuts / sizeof cuts[0]; k++) {
            ds_events s;
            events_slice(&ev, cuts[k], cuts[k + 1] - cuts[k], &s);
            ck_assert_int_eq(ds_events_writer_append(w, &s, bx + cuts[k]), GS_OK);
            ck_assert(!exists(out)); /* nothing under the final name yet */
        }
        ck_assert_int_eq(ds_events_writer_rows(w), ev.n);
        ck_assert_int_eq(ds_events_writer_close(w), GS_OK);
        ck_assert(exists(out));
        ck_assert_int_eq(n_files(dir), 2); /* ref + out: no temporary left */
        /* h5diff compares values, whatever the storage layout */
        ck_assert_int_eq(gs_test_run("h5diff -d 0 '%s' '%s' /events /events >/dev/null && "
                                     "h5diff '%s' '%s' /pdg /pdg >/dev/null && "
                                     "h5diff '%s' '%s' /weights /weights >/dev/null",
                                     ref, out, ref, out, ref, out),
                         0);
        ds_events back;
        ck_assert_int_eq(ds_events_read(out, NULL, &back), GS_OK);
        ck_assert_int_eq(back.n, ev.n);
        ck_assert_int_eq(memcmp(back.x, ev.x, (size_t)(ev.n * ev.f) * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(back.pdg, ev.pdg, (size_t)ev.n * sizeof(int32_t)), 0);
        ck_assert_str_eq(back.columns[5], ev.columns[5]);
        ck_assert_double_eq(back.particles_per_bx, ev.particles_per_bx);
        ds_events_free(&back);
        hid_t f;
        int64_t d[1];
        int64_t *bx2;
        ck_assert_int_eq(gs_h5_open(out, 0, &f), GS_OK);
        ck_assert_int_eq(gs_h5_read(f, "bx", GS_H5_I64, 1, d, (void **)&bx2), GS_OK);
        gs_h5_close(f);
        ck_assert_int_eq(d[0], ev.n);
        ck_assert_int_eq(memcmp(bx2, bx, (size_t)ev.n * sizeof *bx), 0);
        free(bx2);
        if (deflate) /* the filters are really on */
            ck_assert_int_eq(gs_test_run("h5dump -p -H '%s' | grep -q DEFLATE", out), 0);
        unlink(out);
    }
    free(bx);
    ds_events_free(&ev);
    gs_test_rmdir(dir);
}
END_TEST

/* A discarded or empty production leaves nothing; a failed append names the file. */
START_TEST(t_events_writer_discard)
{
    char dir[64], out[128];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    ds_events ev;
    ck_assert_int_eq(ds_toy_luxe(100, 1, &ev), GS_OK);
    ds_events_writer *w;
    ck_assert_int_eq(ds_events_writer_open(out, &ev, 0, NULL, &w), GS_OK);
    ck_assert_int_eq(ds_events_writer_append(w, &ev, NULL), GS_OK);
    ck_assert_int_eq(n_files(dir), 1); /* the temporary */
    ds_events_writer_discard(w);
    ck_assert_int_eq(n_files(dir), 0);
    ck_assert_int_eq(ds_events_writer_open(out, &ev, 0, NULL, &w), GS_OK);
    ck_assert_int_eq(ds_events_writer_close(w), GS_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "empty"));
    ck_assert_int_eq(n_files(dir), 0);
    /* rows of another layout are refused */
    ck_assert_int_eq(ds_events_writer_open(out, &ev, 1, NULL, &w), GS_OK);
    ck_assert_int_eq(ds_events_writer_append(w, &ev, NULL), GS_ERR_ARG); /* no bx */
    ds_events_writer_discard(w);
    ck_assert_int_eq(n_files(dir), 0);
    ds_events_free(&ev);
    gs_test_rmdir(dir);
}
END_TEST

START_TEST(t_images_writer)
{
    char dir[64], ref[128], out[128];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(ref, sizeof ref, "%s/ref.h5", dir);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    ds_images im;
    ck_assert_int_eq(ds_toy_zdc(301, 2, &im), GS_OK);
    ck_assert_int_eq(ds_images_write(ref, &im), GS_OK);
    for (int deflate = 0; deflate <= 1; deflate++) {
        ds_write_opts o = {.chunk_rows = 0, .deflate = deflate};
        ds_images_writer *w;
        ck_assert_int_eq(ds_images_writer_open(out, &im, &o, &w), GS_OK);
        const int64_t px = im.h * im.w;
        for (int64_t i0 = 0; i0 < im.n; i0 += 37) {
            ds_images s = im;
            s.n = im.n - i0 < 37 ? im.n - i0 : 37;
            s.images = im.images + i0 * px;
            s.cond = im.cond + i0 * im.c;
            ck_assert_int_eq(ds_images_writer_append(w, &s), GS_OK);
        }
        ck_assert(!exists(out));
        ck_assert_int_eq(ds_images_writer_close(w), GS_OK);
        ck_assert_int_eq(gs_test_run("h5diff -d 0 '%s' '%s' >/dev/null", ref, out), 0);
        ds_images back;
        ck_assert_int_eq(ds_images_read(out, NULL, &back), GS_OK);
        ck_assert_int_eq(back.n, im.n);
        ck_assert_int_eq(memcmp(back.images, im.images, (size_t)(im.n * px) * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(back.cond, im.cond, (size_t)(im.n * im.c) * sizeof(float)), 0);
        ck_assert_str_eq(back.cond_columns[0], "E");
        ds_images_free(&back);
        unlink(out);
    }
    ds_images_free(&im);
    gs_test_rmdir(dir);
}
END_TEST

/* Rows known up front: the datasets have the one-shot writers' fixed shape
 * (h5ls shows no "/Inf"), and a production that ends short fails and
 * leaves nothing. Unknown: the shape is unlimited. */
START_TEST(t_writer_fixed_rows)
{
    char dir[64], out[128];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    ds_events ev;
    ck_assert_int_eq(ds_toy_luxe(1000, 1, &ev), GS_OK);
    ds_write_opts o = {.chunk_rows = 300, .rows = 1000};
    ds_events_writer *w;
    ck_assert_int_eq(ds_events_writer_open(out, &ev, 1, &o, &w), GS_OK);
    int64_t *bx = calloc(1000, sizeof *bx);
    ds_events half = ev;
    half.n = 500;
    ck_assert_int_eq(ds_events_writer_append(w, &half, bx), GS_OK);
    ck_assert_int_eq(ds_events_writer_append(w, &ev, bx), GS_ERR_ARG); /* 1500 > 1000 */
    ck_assert_int_eq(ds_events_writer_close(w), GS_ERR_STATE);          /* 500 of 1000 */
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "500 of its 1000 rows"));
    ck_assert_int_eq(n_files(dir), 0);
    ck_assert_int_eq(ds_events_writer_open(out, &ev, 1, &o, &w), GS_OK);
    ck_assert_int_eq(ds_events_writer_append(w, &half, bx), GS_OK);
    half.x += 500 * ev.f;
    half.pdg += 500;
    ck_assert_int_eq(ds_events_writer_append(w, &half, bx + 500), GS_OK);
    ck_assert_int_eq(ds_events_writer_close(w), GS_OK);
    ck_assert_int_eq(gs_test_run("h5ls %s | grep -q 'events *Dataset {1000, 6}' && "
                                 "h5ls %s | grep -q 'bx *Dataset {1000}'", out, out), 0);
    unlink(out);
    o.rows = 0;
    ck_assert_int_eq(ds_events_writer_open(out, &ev, 0, &o, &w), GS_OK);
    ck_assert_int_eq(ds_events_writer_append(w, &ev, NULL), GS_OK);
    ck_assert_int_eq(ds_events_writer_close(w), GS_OK);
    ck_assert_int_eq(gs_test_run("h5ls %s | grep -q 'events *Dataset {1000/Inf, 6}'", out), 0);
    free(bx);
    ds_events_free(&ev);
    gs_test_rmdir(dir);
}
END_TEST

static Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("writers");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_events_writer);
    tcase_add_test(tc, t_events_writer_discard);
    tcase_add_test(tc, t_images_writer);
    tcase_add_test(tc, t_writer_fixed_rows);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(stream_suite)

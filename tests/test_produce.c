/* Chunked productions (models/md_produce.h): one process and mpirun -np 2/3
 * write files with the same values as the chunks concatenated in memory;
 * a stop or a failure on any rank leaves no output.
 *
 * The chunk source is the toy simulator: chunk c is ds_toy_* with seed
 * 1000 + c (a pure function of c, as the samplers' chunks are). The MPI
 * cases run this binary under mpirun with GANSIM_TEST_PRODUCE set. */
#include <limits.h>
#include <sys/stat.h>

#include "comm/cm_mpi.h"
#include "core/gs_h5.h"
#include "models/md_luxe.h"
#include "models/md_produce.h"
#include "models/md_zdc.h"
#include "testutil.h"

enum { N_CHUNKS = 7 };

static int64_t chunk_rows(int64_t c) { return 900 + 131 * c; }

typedef struct {
    ds_events ev;
    ds_images im;
    int64_t *bx;
    int64_t fail_at, stop_at;       /* -1: never */
    volatile sig_atomic_t *stop;
} toy_src;

static int toy_events(void *ud, int64_t c, ds_events *rows, const int64_t **bx)
{
    toy_src *s = ud;
    ds_events_free(&s->ev);
    free(s->bx);
    s->bx = NULL;
    if (c == s->fail_at)
        return gs_error(GS_ERR_NUMERIC, "toy failure at chunk %lld", (long long)c);
    if (c == s->stop_at)
        *s->stop = 15;
    ds_toy_opts o = {.with_weights = 1};
    int rc = ds_toy_luxe_ex(chunk_rows(c), 1000 + (uint64_t)c, &o, &s->ev);
    if (rc)
        return rc;
    s->bx = malloc((size_t)s->ev.n * sizeof *s->bx);
    if (!s->bx)
        return GS_ERR_NOMEM;
    for (int64_t i = 0; i < s->ev.n; i++)
        s->bx[i] = 10 * c + i / 500; /* crossings numbered across chunks */
    *rows = s->ev;
    *bx = s->bx;
    return GS_OK;
}

static int toy_images(void *ud, int64_t c, ds_images *rows)
{
    toy_src *s = ud;
    ds_images_free(&s->im);
    if (c == s->fail_at)
        return gs_error(GS_ERR_NUMERIC, "toy failure at chunk %lld", (long long)c);
    int rc = ds_toy_zdc(11 + c, 1000 + (uint64_t)c, &s->im);
    if (!rc)
        *rows = s->im;
    return rc;
}

static void toy_free(toy_src *s)
{
    ds_events_free(&s->ev);
    ds_images_free(&s->im);
    free(s->bx);
}

/* The layout of the toy tables (a 1-row sample gives columns and units). */
static int events_like(ds_events *like)
{
    ds_toy_opts o = {.with_weights = 1};
    return ds_toy_luxe_ex(1, 1, &o, like);
}

/* The reference: all chunks concatenated in memory, written in one go. */
static void write_reference_events(const char *path)
{
    ds_events like, all;
    ck_assert_int_eq(events_like(&like), GS_OK);
    int64_t n = 0;
    for (int c = 0; c < N_CHUNKS; c++)
        n += chunk_rows(c);
    ck_assert_int_eq(ds_events_alloc(&all, n, like.f, (const char *const *)like.columns,
                                     (const char *const *)like.units, 1, 1), GS_OK);
    all.particles_per_bx = like.particles_per_bx;
    int64_t *bx = malloc((size_t)n * sizeof *bx), off = 0;
    toy_src s = {.fail_at = -1, .stop_at = -1};
    for (int c = 0; c < N_CHUNKS; c++) {
        ds_events rows;
        const int64_t *b;
        ck_assert_int_eq(toy_events(&s, c, &rows, &b), GS_OK);
        memcpy(all.x + off * all.f, rows.x, (size_t)(rows.n * rows.f) * sizeof(float));
        memcpy(all.pdg + off, rows.pdg, (size_t)rows.n * sizeof(int32_t));
        memcpy(all.weights + off, rows.weights, (size_t)rows.n * sizeof(float));
        memcpy(bx + off, b, (size_t)rows.n * sizeof *bx);
        off += rows.n;
    }
    toy_free(&s);
    ck_assert_int_eq(ds_events_write(path, &all), GS_OK);
    hid_t f;
    ck_assert_int_eq(gs_h5_open(path, 1, &f), GS_OK);
    ck_assert_int_eq(gs_h5_write(f, "bx", GS_H5_I64, 1, &n, bx), GS_OK);
    gs_h5_close(f);
    free(bx);
    ds_events_free(&all);
    ds_events_free(&like);
}

/* ---- one production, in this process (or as one rank of an mpirun job) --- */

static volatile sig_atomic_t stop_flag;

/* Runs a production; prints "rank R rc RC stopped S rows N" for the parent. */
static int run_production(gs_comm *cm, const char *what, const char *out, int64_t fail_at,
                          int64_t stop_at)
{
    toy_src s = {.fail_at = fail_at, .stop_at = stop_at, .stop = &stop_flag};
    md_chunk_source src = {.n_chunks = N_CHUNKS, .ud = &s};
    md_produce_opts o = {.comm = cm, .write = {.chunk_rows = 1000, .deflate = 1},
                         .stop = &stop_flag};
    int64_t rows = -1;
    int stopped = -1, rc;
    if (!strcmp(what, "events")) {
        ds_events like;
        if ((rc = events_like(&like)))
            return rc;
        src.events = toy_events;
        rc = md_produce_events(&src, &like, 1, out, &o, &rows, &stopped);
        ds_events_free(&like);
    } else {
        ds_images like = {.h = DS_ZDC_H, .w = DS_ZDC_W, .c = DS_ZDC_NCOND};
        src.images = toy_images;
        rc = md_produce_images(&src, &like, out, &o, &rows, &stopped);
    }
    printf("rank %d rc %d stopped %d rows %lld msg '%s'\n", gs_comm_rank(cm), rc, stopped,
           (long long)rows, rc ? gs_errmsg() : "");
    fflush(stdout);
    toy_free(&s);
    return rc;
}

static int child_main(const char *spec)
{
    /* spec: "events|images OUT FAIL_AT STOP_AT" */
    char what[16], out[512];
    long long fail_at, stop_at;
    if (sscanf(spec, "%15s %511s %lld %lld", what, out, &fail_at, &stop_at) != 4)
        return 2;
    gs_comm *cm;
    if (cm_mpi_init(NULL, NULL, &cm))
        return 3;
    run_production(cm, what, out, fail_at, stop_at);
    return 0;
}

static char self_exe[PATH_MAX];

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Runs the production as np ranks (np = 0: in this process); out gets the
 * children's stdout. */
static void run_ranks(int np, const char *spec, char *out, size_t n)
{
    char dir[64], cmd[8192];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd,
             "GANSIM_TEST_PRODUCE='%s' timeout -k 5 120 %s -np %d '%s' > %s/o.txt 2>&1",
             spec, gs_test_mpirun(), np, self_exe, dir);
    ck_assert_int_eq(gs_test_run("%s", cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/o.txt", dir);
    FILE *f = fopen(cmd, "r");
    size_t got = f ? fread(out, 1, n - 1, f) : 0;
    out[got] = '\0';
    if (f)
        fclose(f);
    gs_test_rmdir(dir);
}

static int count(const char *s, const char *what)
{
    int k = 0;
    for (const char *p = s; (p = strstr(p, what)); p++)
        k++;
    return k;
}

START_TEST(t_events_one_process)
{
    char dir[64], ref[128], out[128];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(ref, sizeof ref, "%s/ref.h5", dir);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    write_reference_events(ref);
    ck_assert_int_eq(run_production(NULL, "events", out, -1, -1), GS_OK);
    ck_assert_int_eq(gs_test_run("h5diff -d 0 '%s' '%s' >/dev/null", ref, out), 0);
    /* h5diff really compares: another chunk order is a difference */
    ck_assert_int_ne(gs_test_run("h5diff '%s' '%s' /events /events >/dev/null 2>&1",
                                 ref, "/dev/null"), 0);
    gs_test_rmdir(dir);
}
END_TEST

START_TEST(t_stop_and_fail_one_process)
{
    char dir[64], out[128];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    stop_flag = 0;
    ck_assert_int_eq(run_production(NULL, "events", out, -1, 3), GS_OK);
    ck_assert(!exists(out));
    stop_flag = 0;
    ck_assert_int_eq(run_production(NULL, "events", out, 2, -1), GS_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "toy failure at chunk 2"));
    ck_assert(!exists(out));
    ck_assert_int_eq(gs_test_run("test -z \"$(ls -A '%s')\"", dir), 0); /* no temporary */
    gs_test_rmdir(dir);
}
END_TEST

/* 2 and 3 ranks write the same values as the in-memory reference. */
START_TEST(t_events_mpi)
{
    char dir[64], ref[128], out[128], spec[512];
    static char o[16384];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(ref, sizeof ref, "%s/ref.h5", dir);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    write_reference_events(ref);
    for (int np = 2; np <= 3; np++) {
        snprintf(spec, sizeof spec, "events %s -1 -1", out);
        run_ranks(np, spec, o, sizeof o);
        ck_assert_msg(count(o, "rc 0 stopped 0 rows 9051") == np, "%s", o);
        ck_assert_int_eq(gs_test_run("h5diff -d 0 '%s' '%s' >/dev/null", ref, out), 0);
        unlink(out);
    }
    gs_test_rmdir(dir);
}
END_TEST

/* A stop seen by rank 1 only, or a failure on rank 2, ends every rank and
 * leaves no file. */
START_TEST(t_stop_and_fail_mpi)
{
    char dir[64], out[128], spec[512];
    static char o[16384];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    snprintf(spec, sizeof spec, "events %s -1 4", out); /* chunk 4 is rank 1's (of 3) */
    run_ranks(3, spec, o, sizeof o);
    ck_assert_msg(count(o, "rc 0 stopped 15") == 3, "%s", o);
    ck_assert(!exists(out));
    snprintf(spec, sizeof spec, "events %s 5 -1", out); /* chunk 5 is rank 2's */
    run_ranks(3, spec, o, sizeof o);
    ck_assert_msg(count(o, "toy failure at chunk 5") == 1, "%s", o);
    ck_assert_msg(count(o, "rank 2 failed") == 2, "%s", o);
    ck_assert(!exists(out));
    ck_assert_int_eq(gs_test_run("test -z \"$(ls -A '%s')\"", dir), 0);
    gs_test_rmdir(dir);
}
END_TEST

START_TEST(t_images_mpi)
{
    char dir[64], ref[128], out[128], spec[512];
    static char o[16384];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(ref, sizeof ref, "%s/ref.h5", dir);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    ck_assert_int_eq(run_production(NULL, "images", ref, -1, -1), GS_OK);
    ds_images back;
    ck_assert_int_eq(ds_images_read(ref, NULL, &back), GS_OK);
    ck_assert_int_eq(back.n, 11 * N_CHUNKS + N_CHUNKS * (N_CHUNKS - 1) / 2);
    ds_images first;
    ck_assert_int_eq(ds_toy_zdc(11, 1000, &first), GS_OK); /* chunk 0 comes first */
    ck_assert_int_eq(memcmp(back.images, first.images, (size_t)(11 * DS_ZDC_H * DS_ZDC_W) * 4), 0);
    ds_images_free(&first);
    ds_images_free(&back);
    snprintf(spec, sizeof spec, "images %s -1 -1", out);
    run_ranks(2, spec, o, sizeof o);
    ck_assert_msg(count(o, "rc 0 stopped 0") == 2, "%s", o);
    ck_assert_int_eq(gs_test_run("h5diff -d 0 '%s' '%s' >/dev/null", ref, out), 0);
    gs_test_rmdir(dir);
}
END_TEST

/* ---- the samplers' chunks (fixture models from tests/fixtures) ---------- */

static void events_eq(const ds_events *a, int64_t off, const ds_events *b)
{
    ck_assert_int_le(off + b->n, a->n);
    ck_assert_int_eq(memcmp(a->x + off * a->f, b->x, (size_t)(b->n * b->f) * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(a->pdg + off, b->pdg, (size_t)b->n * sizeof(int32_t)), 0);
}

/* A whole production is its chunks one after the other, and a chunk is the
 * same rows whichever handle makes it, in whatever order. */
START_TEST(t_luxe_chunks)
{
    md_luxe_model *m, *m2;
    ck_assert_int_eq(md_luxe_load("tests/fixtures/luxe-stopped-model.h5", &m), GS_OK);
    ck_assert_int_eq(md_luxe_load("tests/fixtures/luxe-stopped-model.h5", &m2), GS_OK);
    const int64_t n = 2 * MD_LUXE_CHUNK + 1234;
    ck_assert_int_eq(md_luxe_n_chunks(m, n), 3);
    ds_events all, part;
    ck_assert_int_eq(md_luxe_sample(m, n, 9, &all), GS_OK);
    for (int64_t c = 2; c >= 0; c--) {
        ck_assert_int_eq(md_luxe_sample_chunk(m2, n, 9, c, &part), GS_OK);
        ck_assert_int_eq(part.n, c == 2 ? 1234 : MD_LUXE_CHUNK);
        events_eq(&all, c * MD_LUXE_CHUNK, &part);
        ds_events_free(&part);
    }
    /* chunks are not copies of each other, and the seed matters */
    ck_assert_int_ne(memcmp(all.x, all.x + MD_LUXE_CHUNK * all.f, 1000 * sizeof(float)), 0);
    ck_assert_int_eq(md_luxe_sample_chunk(m2, n, 10, 0, &part), GS_OK);
    ck_assert_int_ne(memcmp(all.x, part.x, 1000 * sizeof(float)), 0);
    ds_events_free(&part);
    ds_events_free(&all);
    /* bunch crossings: whole crossings per chunk, numbered over the production */
    int64_t *bx, *pbx;
    const int64_t k = 3 * md_luxe_bx_per_chunk(m) + 1;
    ck_assert_int_eq(md_luxe_sample_bx(m, k, 5, &all, &bx), GS_OK);
    int64_t off = 0;
    for (int64_t c = 0; c < md_luxe_n_bx_chunks(m, k); c++) {
        ck_assert_int_eq(md_luxe_sample_bx_chunk(m2, k, 5, c, &part, &pbx), GS_OK);
        events_eq(&all, off, &part);
        ck_assert_int_eq(memcmp(bx + off, pbx, (size_t)part.n * sizeof *bx), 0);
        off += part.n;
        ds_events_free(&part);
        free(pbx);
    }
    ck_assert_int_eq(off, all.n);
    ck_assert_int_eq(bx[0], 0);
    ck_assert_int_eq(bx[all.n - 1], k - 1);
    for (int64_t i = 1; i < all.n; i++)
        ck_assert_int_le(bx[i - 1], bx[i]);
    free(bx);
    ds_events_free(&all);
    md_luxe_free(m);
    md_luxe_free(m2);
}
END_TEST

START_TEST(t_zdc_chunks)
{
    md_zdc_model *m;
    ck_assert_int_eq(md_zdc_load("tests/fixtures/zdc-stopped-model.h5", &m), GS_OK);
    ds_images cond;
    ck_assert_int_eq(ds_toy_zdc(1500, 3, &cond), GS_OK);
    const int64_t k = 3, px = cond.h * cond.w;
    ck_assert_int_eq(md_zdc_n_chunks(m, cond.n, k), 3);
    ds_images all, part;
    ck_assert_int_eq(md_zdc_sample(m, cond.cond, cond.n, k, 4, &all), GS_OK);
    /* out of order: the handle's noise stream seeks back and forth */
    const int64_t order[] = {1, 2, 0, 2};
    for (int i = 0; i < 4; i++) {
        const int64_t c = order[i];
        ck_assert_int_eq(md_zdc_sample_chunk(m, cond.cond, cond.n, k, 4, c, &part), GS_OK);
        ck_assert_int_eq(part.n, c == 2 ? 4500 - 2 * MD_ZDC_CHUNK : MD_ZDC_CHUNK);
        ck_assert_int_eq(memcmp(all.images + c * MD_ZDC_CHUNK * px, part.images,
                                (size_t)(part.n * px) * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(all.cond + c * MD_ZDC_CHUNK * all.c, part.cond,
                                (size_t)(part.n * part.c) * sizeof(float)), 0);
        ds_images_free(&part);
    }
    ds_images_free(&all);
    ds_images_free(&cond);
    md_zdc_free(m);
}
END_TEST

/* gansim-sample: the same file for 1, 2 and 3 ranks (and with gzip); an
 * interrupted production leaves nothing. */
START_TEST(t_sample_tool)
{
    char dir[64];
    gs_test_tmpdir(dir, sizeof dir);
    const char *b = gs_test_bin(), *mpi = gs_test_mpirun();
    const char *lm = "tests/fixtures/luxe-stopped-model.h5", *zm = "tests/fixtures/zdc-stopped-model.h5";
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s -n 150000 --seed 2 -o %s/one.h5 "
                                 "2>/dev/null", b, lm, dir), 0);
    for (int np = 2; np <= 3; np++)
        ck_assert_int_eq(gs_test_run("timeout -k 5 120 %s -np %d %s/gansim-sample --model %s "
                                     "-n 150000 --seed 2 --threads 1 -o %s/mpi.h5 2>/dev/null && "
                                     "h5diff %s/one.h5 %s/mpi.h5", mpi, np, b, lm, dir, dir, dir), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s -n 150000 --seed 2 --compress 1 "
                                 "-o %s/gz.h5 2>/dev/null && h5diff %s/one.h5 %s/gz.h5 && "
                                 "h5dump -p -H %s/gz.h5 | grep -q DEFLATE", b, lm, dir, dir, dir,
                                 dir), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s --bunch-crossings 30 --seed 2 "
                                 "-o %s/bx1.h5 2>/dev/null && timeout -k 5 120 %s -np 3 "
                                 "%s/gansim-sample --model %s --bunch-crossings 30 --seed 2 "
                                 "--threads 1 -o %s/bx3.h5 2>/dev/null && h5diff %s/bx1.h5 "
                                 "%s/bx3.h5", b, lm, dir, mpi, b, lm, dir, dir, dir), 0);
    ck_assert_int_eq(gs_test_run("%s/gansim-datagen zdc -n 1500 --seed 3 -o %s/c.h5 >/dev/null "
                                 "2>&1 && %s/gansim-sample --model %s --conditions %s/c.h5 -k 3 "
                                 "-o %s/z1.h5 2>/dev/null && timeout -k 5 120 %s -np 2 "
                                 "%s/gansim-sample --model %s --conditions %s/c.h5 -k 3 "
                                 "--threads 1 -o %s/z2.h5 2>/dev/null && h5diff %s/z1.h5 "
                                 "%s/z2.h5", b, dir, b, zm, dir, dir, mpi, b, zm, dir, dir, dir,
                                 dir), 0);
    /* Ctrl-C in the middle: exit 130, no output, no temporary */
    ck_assert_int_eq(gs_test_run("%s/gansim-sample --model %s -n 100000000 -o %s/big.h5 "
                                 "2>/dev/null & p=$!; sleep 1.5; kill -INT $p; wait $p; "
                                 "test $? -eq 130 && test -z \"$(ls %s | grep big)\"",
                                 b, lm, dir, dir), 0);
    gs_test_rmdir(dir);
}
END_TEST

static Suite *produce_suite(void)
{
    Suite *s = suite_create("produce");
    TCase *tc = tcase_create("one");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_events_one_process);
    tcase_add_test(tc, t_stop_and_fail_one_process);
    suite_add_tcase(s, tc);
    TCase *mp = tcase_create("mpi");
    tcase_set_timeout(mp, 300);
    tcase_add_test(mp, t_events_mpi);
    tcase_add_test(mp, t_stop_and_fail_mpi);
    tcase_add_test(mp, t_images_mpi);
    suite_add_tcase(s, mp);
    TCase *sm = tcase_create("samplers");
    tcase_set_timeout(sm, 300);
    tcase_add_test(sm, t_luxe_chunks);
    tcase_add_test(sm, t_zdc_chunks);
    tcase_add_test(sm, t_sample_tool);
    suite_add_tcase(s, sm);
    return s;
}

int main(void)
{
    const char *spec = getenv("GANSIM_TEST_PRODUCE");
    if (spec && *spec)
        return child_main(spec);
    ssize_t k = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (k <= 0)
        return 1;
    self_exe[k] = '\0';
    SRunner *sr = srunner_create(produce_suite());
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

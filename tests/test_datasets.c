#include <dlfcn.h>
#include <sys/stat.h>

#include "core/gs_h5.h"
#include "datasets/ds.h"
#include "testutil.h"

static char dir[64];

static void setup(void) { gs_test_tmpdir(dir, sizeof dir); }
static void teardown(void) { gs_test_rmdir(dir); }

static const char *tpath(const char *name)
{
    static char buf[16][300];
    static int k;
    k = (k + 1) % 16;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

#define ck_msg_has(sub)                                                                    \
    ck_assert_msg(strstr(gs_errmsg(), sub) != NULL, "message '%s' lacks '%s'", gs_errmsg(), sub)

static const char *const cols6[6] = {"x", "y", "px", "py", "pz", "t"};
static const char *const units6[6] = {"mm", "mm", "GeV", "GeV", "GeV", "ns"};

static void small_events(ds_events *ev, int64_t n)
{
    ck_assert_int_eq(ds_events_alloc(ev, n, 6, cols6, units6, 1, 1), GS_OK);
    for (int64_t i = 0; i < n * 6; i++)
        ev->x[i] = (float)i * 0.37f - 5.0f;
    for (int64_t i = 0; i < n; i++) {
        ev->pdg[i] = i % 2 ? 22 : 2112;
        ev->weights[i] = 1.0f / (float)(i + 1);
    }
    ev->particles_per_bx = 1234.5;
}

START_TEST(test_events_roundtrip)
{
    ds_events ev, back;
    small_events(&ev, 10);
    const char *p = tpath("ev.h5");
    ck_assert_int_eq(ds_events_write(p, &ev), GS_OK);
    ck_assert_int_eq(ds_events_read(p, NULL, &back), GS_OK);
    ck_assert_int_eq(back.n, 10);
    ck_assert_int_eq(back.f, 6);
    ck_assert_mem_eq(back.x, ev.x, 60 * sizeof(float));
    ck_assert_mem_eq(back.pdg, ev.pdg, 10 * sizeof(int32_t));
    ck_assert_mem_eq(back.weights, ev.weights, 10 * sizeof(float));
    for (int j = 0; j < 6; j++) {
        ck_assert_str_eq(back.columns[j], cols6[j]);
        ck_assert_str_eq(back.units[j], units6[j]);
    }
    ck_assert_double_eq(back.particles_per_bx, 1234.5);
    ck_assert_int_eq(ds_events_column(&back, "pz"), 4);
    ck_assert_int_eq(ds_events_column(&back, "E"), -1);
    ds_kind k;
    ck_assert_int_eq(ds_file_kind(p, &k), GS_OK);
    ck_assert_int_eq(k, DS_KIND_EVENTS);
    ds_events_free(&back);
    /* overwrite in place works; a write into a missing directory leaves nothing */
    ck_assert_int_eq(ds_events_write(p, &ev), GS_OK);
    ck_assert_int_ne(ds_events_write(tpath("nodir/ev.h5"), &ev), GS_OK);
    ck_assert(!exists(tpath("nodir")));
    ds_events_free(&ev);
    ds_events empty = {0};
    ck_assert_int_eq(ds_events_write(tpath("e.h5"), &empty), GS_ERR_ARG);
    ck_assert(!exists(tpath("e.h5")));
}
END_TEST

START_TEST(test_images_roundtrip)
{
    ds_images im, back, cond;
    ck_assert_int_eq(ds_images_alloc(&im, 5, DS_ZDC_H, DS_ZDC_W, DS_ZDC_NCOND), GS_OK);
    for (int64_t i = 0; i < 5 * DS_ZDC_H * DS_ZDC_W; i++)
        im.images[i] = (float)(i % 17);
    for (int64_t i = 0; i < 5 * DS_ZDC_NCOND; i++)
        im.cond[i] = (float)i * 1.5f;
    const char *p = tpath("im.h5");
    ck_assert_int_eq(ds_images_write(p, &im), GS_OK);
    ck_assert_int_eq(ds_images_read(p, NULL, &back), GS_OK);
    ck_assert_int_eq(back.n, 5);
    ck_assert_int_eq(back.h, DS_ZDC_H);
    ck_assert_int_eq(back.w, DS_ZDC_W);
    ck_assert_int_eq(back.c, DS_ZDC_NCOND);
    ck_assert_mem_eq(back.images, im.images, 5 * DS_ZDC_H * DS_ZDC_W * sizeof(float));
    ck_assert_mem_eq(back.cond, im.cond, 5 * DS_ZDC_NCOND * sizeof(float));
    ck_assert_str_eq(back.cond_columns[0], "E");
    ck_assert_str_eq(back.cond_columns[8], "charge");
    ck_assert_int_eq(ds_conditions_read(p, &cond), GS_OK);
    ck_assert_ptr_null(cond.images);
    ck_assert_int_eq(cond.n, 5);
    ck_assert_mem_eq(cond.cond, im.cond, 5 * DS_ZDC_NCOND * sizeof(float));
    ds_kind k;
    ck_assert_int_eq(ds_file_kind(p, &k), GS_OK);
    ck_assert_int_eq(k, DS_KIND_IMAGES);
    ds_images_free(&cond);
    ds_images_free(&back);
    ds_images_free(&im);
}
END_TEST

/* ---- hand-made files, as h5py or a careless user would write them ---- */

typedef struct {
    int events_rank;        /* 0: no /events */
    int64_t n, f;
    int events_string;      /* write /events as strings */
    int events_f64;         /* float64 like numpy's default */
    const char *columns;    /* NULL: no attribute */
    int columns_fixed;      /* fixed-length instead of vlen */
    int64_t pdg_n;          /* -1: none */
    int64_t wt_n;           /* -1: none */
    int nan_row, nan_col;   /* -1: none */
} ev_spec;

static void write_ev_file(const char *p, const ev_spec *s)
{
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    if (s->events_rank) {
        hsize_t d[2] = {(hsize_t)s->n, (hsize_t)s->f};
        if (s->events_rank == 1)
            d[0] = (hsize_t)(s->n * s->f);
        hid_t sp = H5Screate_simple(s->events_rank, d, NULL), ds;
        if (s->events_string) {
            hid_t st = H5Tcopy(H5T_C_S1);
            H5Tset_size(st, 4);
            ds = H5Dcreate2(f, "events", st, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            H5Tclose(st);
        } else {
            size_t tot = (size_t)(s->n * s->f);
            double *v = calloc(tot ? tot : 1, sizeof *v);
            for (size_t i = 0; i < tot; i++)
                v[i] = (double)i * 0.25;
            if (s->nan_row >= 0)
                v[s->nan_row * s->f + s->nan_col] = NAN;
            ds = H5Dcreate2(f, "events", s->events_f64 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE, sp,
                            H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            if (tot)
                H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
            free(v);
        }
        if (s->columns) {
            hid_t st = H5Tcopy(H5T_C_S1), asp = H5Screate(H5S_SCALAR);
            const char *cv = s->columns;
            if (s->columns_fixed) {
                H5Tset_size(st, strlen(s->columns));
            } else {
                H5Tset_size(st, H5T_VARIABLE);
                H5Tset_cset(st, H5T_CSET_UTF8);
            }
            hid_t a = H5Acreate2(ds, "columns", st, asp, H5P_DEFAULT, H5P_DEFAULT);
            H5Awrite(a, st, s->columns_fixed ? (const void *)cv : (const void *)&cv);
            H5Aclose(a);
            H5Sclose(asp);
            H5Tclose(st);
        }
        H5Dclose(ds);
        H5Sclose(sp);
    }
    if (s->pdg_n >= 0) {
        hsize_t d = (hsize_t)s->pdg_n;
        int64_t *v = calloc(d ? d : 1, sizeof *v); /* int64, as numpy writes */
        for (hsize_t i = 0; i < d; i++)
            v[i] = 2112;
        hid_t sp = H5Screate_simple(1, &d, NULL);
        hid_t ds = H5Dcreate2(f, "pdg", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        H5Dclose(ds);
        H5Sclose(sp);
        free(v);
    }
    if (s->wt_n >= 0) {
        hsize_t d = (hsize_t)s->wt_n;
        hid_t sp = H5Screate_simple(1, &d, NULL);
        hid_t ds =
            H5Dcreate2(f, "weights", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dclose(ds); /* fill value 0 */
        H5Sclose(sp);
    }
    H5Fclose(f);
}

static ev_spec good_spec(void)
{
    return (ev_spec){.events_rank = 2, .n = 10, .f = 6, .events_f64 = 1,
                     .columns = "x,y,px,py,pz,t", .pdg_n = 10, .wt_n = 10,
                     .nan_row = -1, .nan_col = -1};
}

START_TEST(test_events_h5py_style_accepted)
{
    ev_spec s = good_spec();
    const char *p = tpath("py.h5");
    write_ev_file(p, &s);
    ds_events ev;
    ck_assert_int_eq(ds_events_read(p, NULL, &ev), GS_OK);
    ck_assert_int_eq(ev.n, 10);
    ck_assert_float_eq(ev.x[7], 1.75f);
    ck_assert_int_eq(ev.pdg[9], 2112);
    ck_assert_ptr_null(ev.units);
    ck_assert_double_eq(ev.particles_per_bx, 0.0);
    ds_events_free(&ev);
    s.columns_fixed = 1;
    s.events_f64 = 0;
    write_ev_file(p, &s);
    ck_assert_int_eq(ds_events_read(p, NULL, &ev), GS_OK);
    ck_assert_str_eq(ev.columns[5], "t");
    ds_events_free(&ev);
}
END_TEST

START_TEST(test_events_bad_inputs)
{
    struct {
        ev_spec s;
        int code;
        const char *msg;
    } cases[] = {
        {{.events_rank = 0, .pdg_n = 10, .wt_n = -1, .nan_row = -1}, GS_ERR_FORMAT,
         "bad.h5: missing dataset /events"},
        {{.events_rank = 1, .n = 10, .f = 6, .columns = "x,y,px,py,pz,t", .pdg_n = -1,
          .wt_n = -1, .nan_row = -1},
         GS_ERR_FORMAT, "bad.h5: /events has rank 1, expected 2"},
        {{.events_rank = 2, .n = 10, .f = 6, .events_string = 1, .columns = "x,y,px,py,pz,t",
          .pdg_n = -1, .wt_n = -1, .nan_row = -1},
         GS_ERR_FORMAT, "/events has string type"},
        {{.events_rank = 2, .n = 10, .f = 6, .columns = "x,y,px,py,pz,t", .pdg_n = 9,
          .wt_n = -1, .nan_row = -1},
         GS_ERR_FORMAT, "/pdg has 9 entries, expected 10"},
        {{.events_rank = 2, .n = 10, .f = 6, .columns = "x,y,px,py,pz,t", .pdg_n = 10,
          .wt_n = 11, .nan_row = -1},
         GS_ERR_FORMAT, "/weights has 11 entries, expected 10"},
        {{.events_rank = 2, .n = 10, .f = 6, .columns = "x,y,px,py,pz", .pdg_n = -1,
          .wt_n = -1, .nan_row = -1},
         GS_ERR_FORMAT, "attribute columns names 5 columns, /events has 6"},
        {{.events_rank = 2, .n = 10, .f = 6, .columns = NULL, .pdg_n = -1, .wt_n = -1,
          .nan_row = -1},
         GS_ERR_FORMAT, "/events has no attribute columns"},
        {{.events_rank = 2, .n = 0, .f = 6, .columns = "x,y,px,py,pz,t", .pdg_n = -1,
          .wt_n = -1, .nan_row = -1},
         GS_ERR_FORMAT, "/events has no rows (N = 0)"},
        {{.events_rank = 2, .n = 10, .f = 6, .columns = "x,y,px,py,pz,t", .pdg_n = 10,
          .wt_n = -1, .nan_row = 3, .nan_col = 2},
         GS_ERR_NUMERIC, "/events row 3 column 2 (px) is NaN"},
    };
    const char *p = tpath("bad.h5");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_ev_file(p, &cases[i].s);
        ds_events ev;
        int rc = ds_events_read(p, NULL, &ev);
        ck_assert_msg(rc == cases[i].code, "case %zu: rc %d (%s)", i, rc, gs_errmsg());
        ck_msg_has(cases[i].msg);
        ck_assert_ptr_null(ev.x);
    }
    /* the NaN row is dropped on request, /pdg stays aligned */
    ds_read_opts drop = {.drop_nonfinite = 1};
    ds_events ev;
    ck_assert_int_eq(ds_events_read(p, &drop, &ev), GS_OK);
    ck_assert_int_eq(ev.n, 9);
    ck_assert_float_eq(ev.x[3 * 6], (float)(4 * 6) * 0.25f);
    ds_events_free(&ev);
    /* images file is not an event table; non-HDF5 and truncated files */
    ds_images im;
    ck_assert_int_eq(ds_images_read(p, NULL, &im), GS_ERR_FORMAT);
    ck_msg_has("missing dataset /images");
    FILE *fp = fopen(p, "w");
    fputs("definitely not hdf5\n", fp);
    fclose(fp);
    ck_assert_int_eq(ds_events_read(p, NULL, &ev), GS_ERR_FORMAT);
    ck_msg_has("bad.h5: not an HDF5 file");
    ds_kind k;
    ck_assert_int_ne(ds_file_kind(p, &k), GS_OK);
    ck_assert_int_eq(ds_events_read(tpath("none.h5"), NULL, &ev), GS_ERR_IO);
    ck_msg_has("none.h5");
    ds_events good;
    small_events(&good, 2000);
    ck_assert_int_eq(ds_events_write(p, &good), GS_OK);
    ds_events_free(&good);
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(truncate(p, st.st_size / 2), 0);
    ck_assert_int_ne(ds_events_read(p, NULL, &ev), GS_OK);
    ck_msg_has("truncated");
}
END_TEST

/* A [n, 6] event table stored as `ftype` (values v[i]) with a /pdg stored
 * as `ptype` (values p[i], NULL for none). */
static void write_typed(const char *path, hid_t ftype, const double *v, hsize_t n, hid_t ptype,
                        const int64_t *p, hid_t dcpl)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    hsize_t d[2] = {n, 6};
    hid_t sp = H5Screate_simple(2, d, NULL);
    hid_t ds = H5Dcreate2(f, "events", ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ck_assert_int_ge(ds, 0);
    ck_assert_int_ge(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
    ck_assert_int_ge(H5Dclose(ds), 0); /* a filter failing to encode fails here */
    H5Sclose(sp);
    ck_assert_int_eq(gs_h5_attr_write_str(f, "events", "columns", "x,y,px,py,pz,t"), GS_OK);
    if (p) {
        sp = H5Screate_simple(1, &n, NULL);
        ds = H5Dcreate2(f, "pdg", ptype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        ck_assert_int_ge(H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, p), 0);
        H5Dclose(ds);
        H5Sclose(sp);
    }
    H5Fclose(f);
}

/* Every stored numeric type is range-checked against the in-memory type:
 * HDF5 alone saturates int64 3000000022 to INT32_MAX and turns a finite
 * float64 1e39 into +Inf. In-range values of wide types read exactly. */
START_TEST(test_events_range_checked)
{
    const char *path = tpath("w.h5");
    double v[4 * 6];
    for (int i = 0; i < 24; i++)
        v[i] = i * 0.25 - 2;
    int64_t pdg[4] = {22, -11, 1000822080, 2112}; /* a nucleus code (Pb-208) fits int32 */
    ds_events ev;
    /* wide but in range: big-endian float64 and int64 read exactly */
    write_typed(path, H5T_IEEE_F64BE, v, 4, H5T_STD_I64BE, pdg, H5P_DEFAULT);
    ck_assert_int_eq(ds_events_read(path, NULL, &ev), GS_OK);
    for (int i = 0; i < 24; i++)
        ck_assert_float_eq(ev.x[i], (float)v[i]);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(ev.pdg[i], pdg[i]);
    ds_events_free(&ev);
    /* int64 beyond int32, both signs: refused by row and value */
    pdg[1] = 3000000022LL;
    write_typed(path, H5T_IEEE_F32LE, v, 4, H5T_STD_I64LE, pdg, H5P_DEFAULT);
    ck_assert_int_eq(ds_events_read(path, NULL, &ev), GS_ERR_FORMAT);
    ck_msg_has("w.h5: /pdg row 1: value 3000000022 is outside the int32 range");
    ck_assert_ptr_null(ev.x);
    pdg[1] = -11;
    pdg[3] = -3000000022LL;
    write_typed(path, H5T_IEEE_F32LE, v, 4, H5T_STD_I64LE, pdg, H5P_DEFAULT);
    ck_assert_int_eq(ds_events_read(path, NULL, &ev), GS_ERR_FORMAT);
    ck_msg_has("/pdg row 3: value -3000000022 is outside");
    /* uint32 4294967285 (= -11 wrapped) */
    pdg[3] = 4294967285LL;
    write_typed(path, H5T_IEEE_F32LE, v, 4, H5T_STD_U32BE, pdg, H5P_DEFAULT);
    ck_assert_int_eq(ds_events_read(path, NULL, &ev), GS_ERR_FORMAT);
    ck_msg_has("/pdg row 3: value 4294967285 is outside the int32 range");
    /* uint16 always fits: read directly */
    pdg[3] = 65535;
    write_typed(path, H5T_IEEE_F32LE, v, 4, H5T_STD_U16LE, pdg, H5P_DEFAULT);
    ck_assert_int_eq(ds_events_read(path, NULL, &ev), GS_OK);
    ck_assert_int_eq(ev.pdg[3], 65535);
    ds_events_free(&ev);
    /* finite float64 beyond float32: "outside the float32 range", never
     * "infinite", and not dropped as a non-finite row either */
    v[1 * 6 + 4] = 1e39;
    write_typed(path, H5T_IEEE_F64LE, v, 4, 0, NULL, H5P_DEFAULT);
    ck_assert_int_eq(ds_events_read(path, NULL, &ev), GS_ERR_FORMAT);
    ck_msg_has("/events row 1, column 4 (pz): value 1e+39 is outside the float32 range");
    ck_assert_ptr_null(strstr(gs_errmsg(), "infinite"));
    ds_read_opts drop = {.drop_nonfinite = 1};
    ck_assert_int_eq(ds_events_read(path, &drop, &ev), GS_ERR_FORMAT);
    v[1 * 6 + 4] = -3.5e38; /* just beyond -FLT_MAX */
    write_typed(path, H5T_IEEE_F64LE, v, 4, 0, NULL, H5P_DEFAULT);
    ck_assert_int_eq(ds_events_read(path, NULL, &ev), GS_ERR_FORMAT);
    ck_msg_has("value -3.5e+38 is outside");
    /* a real float64 infinity is still called infinite */
    v[1 * 6 + 4] = INFINITY;
    write_typed(path, H5T_IEEE_F64LE, v, 4, 0, NULL, H5P_DEFAULT);
    ck_assert_int_eq(ds_events_read(path, NULL, &ev), GS_ERR_NUMERIC);
    ck_msg_has("/events row 1 column 4 (pz) is infinite");
    /* tables larger than one conversion block keep their order */
    enum { NB = 200000 };
    double *big = malloc(sizeof(double) * NB * 6);
    for (int64_t i = 0; i < (int64_t)NB * 6; i++)
        big[i] = (double)(i % 1000003) * 1e-3;
    big[(int64_t)(NB - 1) * 6 + 5] = 4e38;
    write_typed(path, H5T_IEEE_F64LE, big, NB, 0, NULL, H5P_DEFAULT);
    ck_assert_int_eq(ds_events_read(path, NULL, &ev), GS_ERR_FORMAT);
    ck_msg_has("row 199999, column 5 (t): value 4e+38");
    big[(int64_t)(NB - 1) * 6 + 5] = 7;
    write_typed(path, H5T_IEEE_F64LE, big, NB, 0, NULL, H5P_DEFAULT);
    ck_assert_int_eq(ds_events_read(path, NULL, &ev), GS_OK);
    for (int64_t i = 0; i < (int64_t)NB * 6; i += 9973)
        ck_assert_float_eq(ev.x[i], (float)big[i]);
    ck_assert_float_eq(ev.x[(int64_t)NB * 6 - 1], 7.0f);
    ds_events_free(&ev);
    free(big);
}
END_TEST

/* Blosc's HDF5 plugin never frees the global context blosc_init allocates;
 * LeakSanitizer would report it in sanitized runs. The plugin is kept
 * loaded (RTLD_NODELETE) so that the report names libblosc, and this
 * suppression then applies (only ASan builds call it). */
__attribute__((used, visibility("default"))) const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libblosc.so\n"; }

static void pin_blosc_plugins(void)
{
    static const char *const names[] = {"libH5Zblosc.so", "libblosc_filter.so"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", GS_H5_PLUGIN_DIR, names[i]);
        dlopen(p, RTLD_NOW | RTLD_NODELETE); /* absent: nothing to pin */
    }
}

/* Files compressed by h5py / hdf5plugin read right: the filter plugins
 * scripts/install-deps installs (LZF, BZip2, LZ4, Blosc, Bitshuffle) are
 * found, and the values come back exactly. The files are written here with
 * the same plugins through the HDF5 C API, so no Python is needed. */
START_TEST(test_events_filter_plugins)
{
    static const struct {
        unsigned id;
        const char *name;
    } filt[] = {{32000, "LZF"}, {307, "BZip2"}, {32004, "LZ4"}, {32001, "Blosc"},
                {32008, "Bitshuffle"}};
    pin_blosc_plugins();
    enum { N = 4096 };
    double *v = malloc(sizeof(double) * N * 6);
    for (int i = 0; i < N * 6; i++)
        v[i] = (double)(i % 97) * 0.5; /* compressible: every filter must encode */
    for (size_t k = 0; k < sizeof filt / sizeof filt[0]; k++) {
        ck_assert_msg(H5Zfilter_avail((H5Z_filter_t)filt[k].id) > 0,
                      "HDF5 filter %u (%s) has no plugin here: run scripts/install-deps",
                      filt[k].id, filt[k].name);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        hsize_t ch[2] = {1024, 6};
        H5Pset_chunk(dcpl, 2, ch);
        ck_assert_int_ge(H5Pset_filter(dcpl, (H5Z_filter_t)filt[k].id, H5Z_FLAG_MANDATORY, 0, NULL),
                         0);
        const char *path = tpath("c.h5");
        write_typed(path, H5T_IEEE_F32LE, v, N, 0, NULL, dcpl);
        H5Pclose(dcpl);
        ds_events ev;
        ck_assert_msg(ds_events_read(path, NULL, &ev) == GS_OK, "%s: %s", filt[k].name,
                      gs_errmsg());
        for (int i = 0; i < N * 6; i++)
            ck_assert_float_eq(ev.x[i], (float)v[i]);
        ds_events_free(&ev);
    }
    free(v);
}
END_TEST

START_TEST(test_images_bad_inputs)
{
    ds_images im, back;
    const char *p = tpath("im.h5");
    ck_assert_int_eq(ds_images_alloc(&im, 5, 4, 3, DS_ZDC_NCOND), GS_OK);
    memset(im.images, 0, 5 * 12 * sizeof(float));
    memset(im.cond, 0, 5 * DS_ZDC_NCOND * sizeof(float));
    im.images[2 * 12 + 1 * 3 + 2] = INFINITY;
    ck_assert_int_eq(ds_images_write(p, &im), GS_OK);
    ck_assert_int_eq(ds_images_read(p, NULL, &back), GS_ERR_NUMERIC);
    ck_msg_has("/images image 2 pixel (row 1, col 2) is infinite");
    ds_read_opts drop = {.drop_nonfinite = 1};
    ck_assert_int_eq(ds_images_read(p, &drop, &back), GS_OK);
    ck_assert_int_eq(back.n, 4);
    ds_images_free(&back);
    ds_images_free(&im);
    /* /conditions with the wrong row count, /images with the wrong rank */
    hid_t f;
    ck_assert_int_eq(gs_h5_create(p, &f), GS_OK);
    float z[5 * 9 * 4] = {0};
    ck_assert_int_eq(gs_h5_write(f, "images", GS_H5_F32, 3, (int64_t[]){5, 4, 3}, z), GS_OK);
    ck_assert_int_eq(gs_h5_write(f, "conditions", GS_H5_F32, 2, (int64_t[]){4, 9}, z), GS_OK);
    gs_h5_close(f);
    ck_assert_int_eq(ds_images_read(p, NULL, &back), GS_ERR_FORMAT);
    ck_msg_has("/conditions has 4 rows, expected 5 (images)");
    ck_assert_int_eq(gs_h5_create(p, &f), GS_OK);
    ck_assert_int_eq(gs_h5_write(f, "images", GS_H5_F32, 2, (int64_t[]){5, 12}, z), GS_OK);
    ck_assert_int_eq(gs_h5_write(f, "conditions", GS_H5_F32, 2, (int64_t[]){5, 9}, z), GS_OK);
    ck_assert_int_eq(gs_h5_attr_write_str(f, "conditions", "columns", "E,vx"), GS_OK);
    gs_h5_close(f);
    ck_assert_int_eq(ds_images_read(p, NULL, &back), GS_ERR_FORMAT);
    ck_msg_has("/images has rank 2, expected 3");
    ck_assert_int_eq(ds_conditions_read(p, &back), GS_ERR_FORMAT);
    ck_msg_has("columns names 2 conditions, /conditions has 9");
}
END_TEST

static void write_text(const char *p, const char *s)
{
    FILE *fp = fopen(p, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(s, fp);
    fclose(fp);
}

START_TEST(test_csv)
{
    const char *p = tpath("a.csv");
    write_text(p, "# from ROOT\nx, y,pdg ,t,weight\n1,2,2112,3e2,0.5\n\n-1.5,2.5e-3,22,1e8,1\r\n");
    ds_events ev;
    ck_assert_int_eq(ds_events_read_csv(p, NULL, &ev), GS_OK);
    ck_assert_int_eq(ev.n, 2);
    ck_assert_int_eq(ev.f, 3);
    ck_assert_str_eq(ev.columns[2], "t");
    ck_assert_float_eq(ev.x[3], -1.5f);
    ck_assert_float_eq(ev.x[5], 1e8f);
    ck_assert_int_eq(ev.pdg[1], 22);
    ck_assert_float_eq(ev.weights[0], 0.5f);
    /* what CSV import gives round-trips through HDF5 */
    ck_assert_int_eq(ds_events_write(tpath("a.h5"), &ev), GS_OK);
    ds_events_free(&ev);
    struct {
        const char *text, *msg;
    } bad[] = {
        {"x,y,t\n1,2,3\n1,2\n", "a.csv: line 3: expected 3 fields, found 2"},
        {"x,y,t\n1,2,3\n\n1,abc,3\n", "a.csv: line 4, column 'y': not a number: 'abc'"},
        {"x,y,t\n1,2,3 4\n", "line 2, column 't': not a number"},
        {"x,y,t\n1,nan,3\n", "line 2, column 'y': value is NaN"},
        {"x,y,t\n", "no data rows (N = 0)"},
        {"", "no header row"},
        {"x,pdg\n1,22.5\n", "line 2, column 'pdg': not an integer PDG code"},
        {"x,x\n1,2\n", "column 'x' appears twice"},
        {"x,y\n1,1e39\n", "line 2, column 'y': value 1e+39 is outside the float32 range"},
        {"x,pdg\n1,3000000022\n", "column 'pdg': PDG code 3000000022 is outside the int32"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(p, bad[i].text);
        ck_assert_int_ne(ds_events_read_csv(p, NULL, &ev), GS_OK);
        ck_msg_has(bad[i].msg);
    }
    write_text(p, "x,y\n1,2\n1,inf\n3,4\n");
    ds_read_opts drop = {.drop_nonfinite = 1};
    ck_assert_int_eq(ds_events_read_csv(p, &drop, &ev), GS_OK);
    ck_assert_int_eq(ev.n, 2);
    ck_assert_float_eq(ev.x[3], 4.0f);
    ds_events_free(&ev);
    /* import options: a header in other names, units, particles per BX */
    write_text(p, "X,Y,time,PID,w\n1,2,3,22,0.5\n4,5,6,11,1\n");
    ds_read_opts im = {.columns = "x=X, y=Y,t=time,pdg=PID,weight=w",
                       .units = "mm,mm,ns", .particles_per_bx = 1.5e4};
    ck_assert_int_eq(ds_events_read_csv(p, &im, &ev), GS_OK);
    ck_assert_int_eq(ev.f, 3);
    ck_assert_str_eq(ev.columns[0], "x");
    ck_assert_str_eq(ev.columns[2], "t");
    ck_assert_str_eq(ev.units[2], "ns");
    ck_assert_int_eq(ev.pdg[1], 11);
    ck_assert_float_eq(ev.weights[0], 0.5f);
    ck_assert_double_eq(ev.particles_per_bx, 1.5e4);
    ck_assert_float_eq(ev.x[5], 6.0f);
    /* units as pairs; mapping applies to HDF5 tables too, and swaps work */
    ck_assert_int_eq(ds_events_write(tpath("m.h5"), &ev), GS_OK);
    ds_events_free(&ev);
    im = (ds_read_opts){.columns = "x=y,y=x", .units = "t=ns,y=mm,x=mm"};
    ck_assert_int_eq(ds_events_read(tpath("m.h5"), &im, &ev), GS_OK);
    ck_assert_str_eq(ev.columns[0], "y");
    ck_assert_str_eq(ev.columns[1], "x");
    ds_events_free(&ev);
    struct {
        ds_read_opts o;
        const char *msg;
    } badimp[] = {
        {{.columns = "x=X,t=Time"},
         "a.csv: column mapping t=Time: the file has no column 'Time' (its columns: "
         "X,Y,time,PID,w)"},
        {{.columns = "x"}, "column mapping 'x': expected NAME=VALUE pairs"},
        {{.columns = "x=X,y=X"}, "column 'X' is mapped twice"},
        {{.columns = "Y=X"}, "two columns are named 'Y' (columns: Y,Y,time,PID,w)"},
        {{.units = "mm,mm"}, "units: 2 given for 5 feature columns (X,Y,time,PID,w)"},
        {{.units = "X=mm"}, "units: no unit for Y,time,PID,w (every feature column needs one"},
        {{.units = "Z=mm"}, "units: no feature column 'Z' (feature columns: X,Y,time,PID,w)"},
        {{.particles_per_bx = -3}, "particles per bunch crossing -3 is not a finite number > 0"},
    };
    for (size_t i = 0; i < sizeof badimp / sizeof badimp[0]; i++) {
        ck_assert_msg(ds_events_read_csv(p, &badimp[i].o, &ev) != GS_OK, "case %zu", i);
        ck_msg_has(badimp[i].msg);
        ck_assert_ptr_null(ev.x);
    }
    /* a file that states other metadata than asked is refused */
    im = (ds_read_opts){.units = "mm,mm,s"};
    ck_assert_int_eq(ds_events_read(tpath("m.h5"), &im, &ev), GS_ERR_ARG);
    ck_msg_has("m.h5: the file gives column 't' the unit 'ns', not 's' as asked");
    im = (ds_read_opts){.particles_per_bx = 7};
    ck_assert_int_eq(ds_events_read(tpath("m.h5"), &im, &ev), GS_ERR_ARG);
    ck_msg_has("the file states particles_per_bx = 15000, not 7 as asked");
    write_text(p, "pdg,weight\n22,1\n");
    ck_assert_int_ne(ds_events_read_csv(p, NULL, &ev), GS_OK);
    ck_msg_has("header names no feature columns (found: pdg,weight;");
    /* a finite value beyond float32 is not "infinite": never dropped silently */
    write_text(p, "x,y\n1,2\n1,-1e39\n");
    ck_assert_int_eq(ds_events_read_csv(p, &drop, &ev), GS_ERR_FORMAT);
    ck_msg_has("value -1e+39 is outside the float32 range");
}
END_TEST

/* ---- toy LUXE ---- */

START_TEST(test_luxe_deterministic)
{
    ds_events a, b, c, w;
    ck_assert_int_eq(ds_toy_luxe(5000, 11, &a), GS_OK);
    ck_assert_int_eq(ds_toy_luxe(5000, 11, &b), GS_OK);
    ck_assert_int_eq(ds_toy_luxe(5000, 12, &c), GS_OK);
    ds_toy_opts o = {.with_weights = 1};
    ck_assert_int_eq(ds_toy_luxe_ex(5000, 11, &o, &w), GS_OK);
    ck_assert_mem_eq(a.x, b.x, 5000 * 6 * sizeof(float));
    ck_assert_mem_eq(a.pdg, b.pdg, 5000 * sizeof(int32_t));
    ck_assert(memcmp(a.x, c.x, 5000 * 6 * sizeof(float)) != 0);
    ck_assert_mem_eq(a.x, w.x, 5000 * 6 * sizeof(float)); /* weights don't move particles */
    ck_assert_ptr_null(a.weights);
    int below_one = 0, bad = 0;
    for (int i = 0; i < 5000; i++) {
        int e;
        float m = frexpf(w.weights[i], &e);
        bad += !(w.weights[i] > 0 && w.weights[i] <= 1 && m == 0.5f); /* 2^-k */
        below_one += w.weights[i] < 1;
    }
    ck_assert_int_eq(bad, 0);
    ck_assert_int_gt(below_one, 500);
    /* identical bytes on disk too */
    ck_assert_int_eq(ds_events_write(tpath("a.h5"), &a), GS_OK);
    ck_assert_int_eq(ds_events_write(tpath("b.h5"), &b), GS_OK);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", tpath("a.h5"), tpath("b.h5"));
    ck_assert_int_eq(system(cmd), 0);
    ds_events_free(&a);
    ds_events_free(&b);
    ds_events_free(&c);
    ds_events_free(&w);
}
END_TEST

static int cmp_f(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

START_TEST(test_luxe_shapes)
{
    const int64_t n = 200000;
    ds_events ev;
    ck_assert_int_eq(ds_toy_luxe(n, 3, &ev), GS_OK);
    ck_assert_int_eq(ev.f, 6);
    ck_assert_str_eq(ev.columns[5], "t");
    ck_assert_str_eq(ev.units[2], "GeV");
    ck_assert_double_eq(ev.particles_per_bx, DS_LUXE_PARTICLES_PER_BX);
    /* Check's assertions cost a syscall each: count in loops, assert after */
    int64_t bad_pz = 0, bad_pdg = 0;
    int64_t cnt[4] = {0}, core = 0, halo_far = 0, slow_n = 0, slow_n_late = 0, g_line = 0;
    double outward = 0, tmin = 1e30, tmax = 0, tkin_min_n = 1e30, tkin_max_n = 0;
    float *gr = malloc((size_t)n * sizeof *gr);
    int64_t ngr = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *r = ev.x + i * 6;
        bad_pz += !(r[4] < 0); /* all cross the face backwards */
        int32_t pdg = ev.pdg[i];
        int s = pdg == 2112 ? 0 : pdg == 22 ? 1 : pdg == 11 ? 2 : pdg == -11 ? 3 : -1;
        if (s < 0) {
            bad_pdg++;
            continue;
        }
        cnt[s]++;
        double rad = hypot(r[0], r[1]), p = sqrt(r[2] * r[2] + r[3] * r[3] + r[4] * r[4]);
        double m = s == 0 ? 0.93956542 : s == 1 ? 0 : 0.00051099895;
        double tk = sqrt(p * p + m * m) - m;
        if (s == 1 && rad < 150)
            gr[ngr++] = (float)rad;
        core += rad < 150;
        if (rad > 1000) {
            halo_far++;
            double pt = hypot(r[2], r[3]);
            if (pt > 0)
                outward += (r[0] * r[2] + r[1] * r[3]) / (rad * pt);
        }
        tmin = fmin(tmin, r[5]);
        tmax = fmax(tmax, r[5]);
        if (s == 0) {
            /* p^2/2m loses precision for tiny T; fine at the 1e-7 scale tested */
            tk = m > 0 && p < 1e-2 ? p * p / (2 * m) : tk;
            tkin_min_n = fmin(tkin_min_n, tk);
            tkin_max_n = fmax(tkin_max_n, tk);
            if (tk < 1e-7) {
                slow_n++;
                slow_n_late += r[5] > 1e4;
            }
        }
        if (s == 1 && tk > 2.18e-3 && tk < 2.27e-3)
            g_line++;
    }
    ck_assert_int_eq(bad_pz, 0);
    ck_assert_int_eq(bad_pdg, 0);
    /* abundances: n:γ ≈ 4 (0.72 : 0.18), e− 6 %, e+ 4 % */
    ck_assert_close((double)cnt[0] / cnt[1], 4.0, 0.15, 0);
    ck_assert_close((double)cnt[2] / n, 0.06, 0.004, 0);
    ck_assert_close((double)cnt[3] / n, 0.04, 0.004, 0);
    /* dense core: ~38 % of particles within 150 mm; a sparse halo beyond 1 m */
    ck_assert_close((double)core / n, 0.40, 0.04, 0);
    ck_assert_close((double)halo_far / n, 0.135, 0.03, 0);
    /* photon core width: Rayleigh median 1.177 σ with σ = 35 mm */
    qsort(gr, (size_t)ngr, sizeof *gr, cmp_f);
    ck_assert_close(gr[ngr / 2], 1.1774 * 35.0, 5.0, 0);
    /* halo particles point away from the axis */
    ck_assert_double_gt(outward / (double)halo_far, 0.3);
    /* energies over many decades; the 2.223 MeV capture line */
    ck_assert_double_lt(tkin_min_n, 1e-8);
    ck_assert_double_gt(tkin_max_n, 0.5);
    ck_assert_double_gt((double)g_line / cnt[1], 0.07);
    /* times from ~10 ns to 1e8 ns; slow neutrons come late */
    ck_assert_double_lt(tmin, 10.0);
    ck_assert_double_gt(tmax, 1e7);
    ck_assert_double_le(tmax, 1e8);
    ck_assert_int_gt(slow_n, 1000);
    ck_assert_double_gt((double)slow_n_late / slow_n, 0.9);
    free(gr);
    ds_events_free(&ev);
}
END_TEST

/* ---- toy ZDC ---- */

START_TEST(test_zdc_deterministic_and_shapes)
{
    const int64_t n = 3000, px = DS_ZDC_H * DS_ZDC_W;
    ds_images a, b, c;
    ck_assert_int_eq(ds_toy_zdc(n, 5, &a), GS_OK);
    ck_assert_int_eq(ds_toy_zdc(n, 5, &b), GS_OK);
    ck_assert_int_eq(ds_toy_zdc(200, 6, &c), GS_OK);
    ck_assert_mem_eq(a.images, b.images, (size_t)(n * px) * sizeof(float));
    ck_assert_mem_eq(a.cond, b.cond, (size_t)(n * DS_ZDC_NCOND) * sizeof(float));
    ck_assert(memcmp(a.images, c.images, 200 * px * sizeof(float)) != 0);
    ck_assert_int_eq(a.h, 56);
    ck_assert_int_eq(a.w, 30);
    ck_assert_str_eq(a.cond_columns[7], "mass");
    int64_t empty = 0, repeats = 0, bright = 0, bad = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *im = a.images + i * px, *cd = a.cond + i * DS_ZDC_NCOND;
        double sum = 0;
        for (int64_t k = 0; k < px; k++) {
            bad += !(im[k] >= 0 && im[k] == floorf(im[k])); /* photon counts */
            sum += im[k];
        }
        empty += sum < 10;
        bright += sum > 1000;
        bad += !(cd[0] >= 250 && cd[0] <= 2600);
        double p = sqrt(cd[4] * cd[4] + cd[5] * cd[5] + cd[6] * cd[6]);
        bad += !(cd[6] > 0.999 * p); /* pz dominant */
        bad += !(fabs(cd[0] * cd[0] - (p * p + cd[7] * cd[7])) <= 1e-4 * cd[0] * cd[0]);
        bad += !(cd[8] == 1 || cd[8] == 0 || cd[8] == -1);
        if (i && !memcmp(cd, cd - DS_ZDC_NCOND, DS_ZDC_NCOND * sizeof(float)))
            repeats++;
    }
    ck_assert_int_eq(bad, 0);
    /* sometimes almost nothing (off-grid, late start), sometimes a bright shower */
    ck_assert_close((double)empty / n, 0.2, 0.07, 0);
    ck_assert_double_gt((double)bright / n, 0.05);
    /* 1..4 images per condition: mean 2.5, so ~60 % of rows repeat the previous */
    ck_assert_close((double)repeats / n, 0.6, 0.05, 0);
    ds_images_free(&a);
    ds_images_free(&b);
    ds_images_free(&c);
}
END_TEST

START_TEST(test_zdc_same_condition_diversity)
{
    /* a 1300 GeV proton heading for the detector centre */
    const float cond[9] = {1300.0f, 0, 0, 0, 0, 0, 1299.99966f, 0.93827209f, 1.0f};
    const int m = 400, px = DS_ZDC_H * DS_ZDC_W;
    float *img = malloc(px * sizeof *img);
    gs_rng r;
    gs_rng_seed(&r, 99);
    double s1 = 0, s2 = 0;
    int argmax_seen[DS_ZDC_H * DS_ZDC_W] = {0}, distinct = 0, tiny = 0;
    for (int k = 0; k < m; k++) {
        ds_toy_zdc_render(&r, cond, img);
        double sum = 0;
        int am = 0;
        for (int i = 0; i < px; i++) {
            sum += img[i];
            if (img[i] > img[am])
                am = i;
        }
        s1 += sum;
        s2 += sum * sum;
        tiny += sum < 0.05 * 0.6 * 1300;
        if (!argmax_seen[am]++)
            distinct++;
    }
    double mean = s1 / m, sd = sqrt(s2 / m - mean * mean);
    /* light yield ~ 0.6 photons/GeV x containment; large fluctuations */
    ck_assert_double_gt(mean, 0.3 * 0.6 * 1300);
    ck_assert_double_lt(mean, 1.0 * 0.6 * 1300);
    ck_assert_double_gt(sd / mean, 0.5);
    ck_assert_int_gt(tiny, m / 50); /* duds: ~7 % */
    ck_assert_int_gt(distinct, 20);  /* the brightest pixel wanders */
    /* a negative particle of the same momentum is bent off the grid */
    float neg[9];
    memcpy(neg, cond, sizeof neg);
    neg[0] = 400.0f;
    neg[6] = 399.9989f;
    neg[8] = -1.0f;
    double negsum = 0;
    for (int k = 0; k < 50; k++) {
        ds_toy_zdc_render(&r, neg, img);
        for (int i = 0; i < px; i++)
            negsum += img[i];
    }
    ck_assert_double_lt(negsum / 50, 5.0);
    free(img);
}
END_TEST


/* ---- toy neutron ZDC ---- */

/* photon-weighted centroid (row, col) and RMS radius (pixels) of one image */
static double zn_moments(const float *img, double *row, double *col)
{
    double s = 0, sr = 0, sc = 0, s2 = 0;
    for (int i = 0; i < DS_ZN_H; i++)
        for (int j = 0; j < DS_ZN_W; j++) {
            double v = img[i * DS_ZN_W + j];
            s += v;
            sr += v * (i + 0.5);
            sc += v * (j + 0.5);
        }
    *row = s > 0 ? sr / s : NAN;
    *col = s > 0 ? sc / s : NAN;
    for (int i = 0; i < DS_ZN_H; i++)
        for (int j = 0; j < DS_ZN_W; j++) {
            double dr = i + 0.5 - *row, dc = j + 0.5 - *col;
            s2 += img[i * DS_ZN_W + j] * (dr * dr + dc * dc);
        }
    return s > 0 ? sqrt(s2 / s) : NAN;
}

START_TEST(test_zn_deterministic_and_shapes)
{
    const int64_t n = 3000, px = DS_ZN_H * DS_ZN_W;
    ds_images a, b;
    ck_assert_int_eq(ds_toy_zn_ex(n, 5, NULL, &a), GS_OK);
    ck_assert_int_eq(ds_toy_zn_ex(n, 5, NULL, &b), GS_OK);
    ck_assert_mem_eq(a.images, b.images, (size_t)(n * px) * sizeof(float));
    ck_assert_mem_eq(a.cond, b.cond, (size_t)(n * DS_ZDC_NCOND) * sizeof(float));
    ck_assert_int_eq(a.h, 44);
    ck_assert_int_eq(a.w, 44);
    ck_assert_int_eq(a.c, DS_ZDC_NCOND);
    int64_t empty = 0, bad = 0, photons = 0, repeats = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *im = a.images + i * px, *cd = a.cond + i * DS_ZDC_NCOND;
        double sum = 0;
        for (int64_t k = 0; k < px; k++) {
            bad += !(im[k] >= 0 && im[k] == floorf(im[k]));
            sum += im[k];
        }
        empty += sum < 10;
        bad += !(cd[0] >= 250 && cd[0] <= 2600);
        bad += cd[8] != 0; /* neutral */
        double p = sqrt(cd[4] * cd[4] + cd[5] * cd[5] + cd[6] * cd[6]);
        bad += !(fabs(cd[0] * cd[0] - (p * p + cd[7] * cd[7])) <= 1e-4 * cd[0] * cd[0]);
        photons += cd[7] == 0;
        if (i && !memcmp(cd, cd - DS_ZDC_NCOND, DS_ZDC_NCOND * sizeof(float)))
            repeats++;
    }
    ck_assert_int_eq(bad, 0);
    /* neutrals are not bent away: few empty images (duds, far tails), unlike the
     * proton toy's ~20 % */
    ck_assert_double_lt((double)empty / n, 0.1);
    ck_assert_close((double)photons / n, 0.10, 0.03, 0);
    ck_assert_close((double)repeats / n, 0.6, 0.05, 0);
    ds_images_free(&a);
    ds_images_free(&b);
    ck_assert_int_eq(ds_toy_zn_ex(0, 5, NULL, &b), GS_ERR_ARG);
    ds_images_free(&b); /* zeroed on failure: a no-op */
}
END_TEST

START_TEST(test_zn_geometry)
{
    /* straight line: a 1380 GeV neutron from the origin with slope tx lands
     * at x = tx * Z0 (11250 cm), 0.16 cm per column, column 0 at -x; the
     * charge column is ignored (no bending) */
    const int m = 300, px = DS_ZN_H * DS_ZN_W;
    float *img = malloc(px * sizeof *img);
    gs_rng r;
    gs_rng_seed(&r, 31);
    const double e = 1380, mn = 0.93956542, p = sqrt(e * e - mn * mn), tx = 1.0e-4;
    float cen[9] = {(float)e, 0, 0, 0, 0, 0, (float)p, (float)mn, 0};
    float off[9] = {(float)e, 0, 0, 0, (float)(tx * p), 0, (float)p, (float)mn, 0};
    float chg[9];
    memcpy(chg, off, sizeof chg);
    chg[8] = 1.0f;
    float gam[9] = {(float)e, 0, 0, 0, 0, 0, (float)e, 0, 0};
    const float *conds[4] = {cen, off, chg, gam};
    double mrow[4] = {0}, mcol[4] = {0}, mrad[4] = {0};
    for (int s = 0; s < 4; s++) {
        int used = 0;
        for (int k = 0; k < m; k++) {
            ds_toy_zn_render(&r, conds[s], img);
            double rw, cl, rad = zn_moments(img, &rw, &cl);
            double tot = 0;
            for (int i = 0; i < px; i++)
                tot += img[i];
            if (tot < 50)
                continue; /* duds */
            mrow[s] += rw;
            mcol[s] += cl;
            mrad[s] += rad;
            used++;
        }
        ck_assert_int_gt(used, m / 2);
        mrow[s] /= used;
        mcol[s] /= used;
        mrad[s] /= used;
    }
    ck_assert_close(mrow[0], 22.0, 0, 0.5);
    ck_assert_close(mcol[0], 22.0, 0, 0.5);
    /* 1e-4 * 11250 cm / 0.16 cm = 7.0 columns to the right (partly cut by the edge) */
    ck_assert_close(mcol[1] - mcol[0], 7.0, 0, 1.0);
    ck_assert_close(mrow[1], 22.0, 0, 0.6);
    ck_assert_close(mcol[2], mcol[1], 0, 0.6); /* charge ignored */
    /* hadronic showers are wider than the photon's EM shower */
    ck_assert_double_gt(mrad[0], 1.5 * mrad[3]);
    ck_assert_double_gt(mrad[0], 5.0);
    free(img);
}
END_TEST

/* ---- gansim-datagen ---- */

static int run(const char *args)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s/gansim-datagen' %s >/dev/null 2>&1", gs_test_bin(), args);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

START_TEST(test_datagen_tool)
{
    char a[800];
    const char *out = tpath("g.h5");
    /* -n in scientific notation: an exact integer is accepted */
    snprintf(a, sizeof a, "luxe -n 1e3 --seed 4 -o '%s' --weights", out);
    ck_assert_int_eq(run(a), 0);
    ds_events ev;
    ck_assert_int_eq(ds_events_read(out, NULL, &ev), GS_OK);
    ck_assert_int_eq(ev.n, 1000);
    ck_assert_ptr_nonnull(ev.weights);
    ds_events_free(&ev);
    snprintf(a, sizeof a, "zdc -n 30 -o '%s'", tpath("z.h5"));
    ck_assert_int_eq(run(a), 0);
    ds_images im;
    ck_assert_int_eq(ds_images_read(tpath("z.h5"), NULL, &im), GS_OK);
    ck_assert_int_eq(im.n, 30);
    ds_images_free(&im);
    snprintf(a, sizeof a, "zdc-neutron -n 20 --seed 2 -o '%s'", tpath("zn.h5"));
    ck_assert_int_eq(run(a), 0);
    ck_assert_int_eq(ds_images_read(tpath("zn.h5"), NULL, &im), GS_OK);
    ck_assert_int_eq(im.n, 20);
    ck_assert_int_eq(im.h, 44);
    ck_assert_int_eq(im.w, 44);
    ds_images_free(&im);
    ck_assert_int_eq(run("--help"), 0);
    ck_assert_int_eq(run("--version"), 0);
    const char *bad_out = tpath("bad.h5");
    const char *usage[] = {"", "luxe -n 10", "luxe -o '%s'", "luxe -n 0 -o '%s'",
                           "luxe -n ten -o '%s'", "lux -n 10 -o '%s'", "luxe -n 10 -o '%s' --frob",
                           "zdc -n 10 -o '%s' --weights", "luxe -n 10 --seed -1 -o '%s'",
                           "zdc-neutron -n 10 -o '%s' --weights", "zdc-proton -n 10 -o '%s'",
                           "luxe -n", "luxe -n 1.5 -o '%s'", "luxe -n 1e-3 -o '%s'",
                           "luxe -n 2.5e0 -o '%s'", "luxe -n 1e999 -o '%s'"};
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        snprintf(a, sizeof a, usage[i], bad_out);
        ck_assert_msg(run(a) == 2, "'%s' should be a usage error", a);
        ck_assert(!exists(bad_out));
    }
    snprintf(a, sizeof a, "luxe -n 10 -o '%s'", tpath("nodir/x.h5"));
    ck_assert_int_eq(run(a), 1);
    ck_assert(!exists(tpath("nodir")));
    /* SIGTERM while it works: exit 143 after saying so, nothing left behind
     * (neither the file nor the temporary of its atomic write) */
    ck_assert_int_eq(gs_test_run("cd '%s' && mkdir sig && ( '%s/gansim-datagen' luxe -n 5000000 "
                                 "-o sig/l.h5 2> sig.err & p=$!; sleep 0.3; kill -TERM $p; "
                                 "wait $p; echo $? > sig.rc )", dir, gs_test_bin()), 0);
    if (gs_test_run("grep -qx 0 '%s/sig.rc'", dir) == 0) {
        fprintf(stderr, "test_datasets: datagen ended before SIGTERM (not tested)\n");
    } else {
        ck_assert_int_eq(gs_test_run("grep -qx 143 '%s/sig.rc'", dir), 0);
        ck_assert_int_eq(gs_test_run("grep -q 'interrupted: nothing written to sig/l.h5' "
                                     "'%s/sig.err'", dir), 0);
        ck_assert_int_eq(gs_test_run("test -z \"$(ls -A '%s/sig')\"", dir), 0);
    }
}
END_TEST

static Suite *datasets_suite(void)
{
    Suite *s = suite_create("datasets");
    TCase *io = tcase_create("io");
    tcase_add_checked_fixture(io, setup, teardown);
    tcase_add_test(io, test_events_roundtrip);
    tcase_add_test(io, test_images_roundtrip);
    tcase_add_test(io, test_events_h5py_style_accepted);
    tcase_add_test(io, test_events_bad_inputs);
    tcase_add_test(io, test_images_bad_inputs);
    tcase_add_test(io, test_csv);
    tcase_add_test(io, test_events_range_checked);
    tcase_add_test(io, test_events_filter_plugins);
    suite_add_tcase(s, io);
    TCase *toy = tcase_create("toy");
    tcase_add_checked_fixture(toy, setup, teardown);
    tcase_set_timeout(toy, 60);
    tcase_add_test(toy, test_luxe_deterministic);
    tcase_add_test(toy, test_luxe_shapes);
    tcase_add_test(toy, test_zdc_deterministic_and_shapes);
    tcase_add_test(toy, test_zdc_same_condition_diversity);
    tcase_add_test(toy, test_zn_deterministic_and_shapes);
    tcase_add_test(toy, test_zn_geometry);
    tcase_add_test(toy, test_datagen_tool);
    suite_add_tcase(s, toy);
    return s;
}

GS_TEST_MAIN(datasets_suite)

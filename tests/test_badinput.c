/* The bad-input matrix: every tool against every kind of bad input file and
 * every kind of bad option. Each case must end with
 *   - exit status 1 (runtime failure) or 2 (usage error), as the table says,
 *     never a signal or a sanitizer report;
 *   - exactly one line on stderr, "gansim-TOOL: ...", naming the file or
 *     option (`what`) and the problem (`why`);
 *   - no output file (or, when the case pre-creates it, the old content
 *     intact) and no temporary file left behind.
 * The bad files are made here with the HDF5 C API and stdio. */
#include "core/gs_h5.h"
#include "models/md_luxe.h"
#include "datasets/ds.h"
#include "preprocess/pp.h"
#include "testutil.h"

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char dir[64];

static const char *tpath(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_text(const char *name, const char *s, size_t n)
{
    FILE *f = fopen(tpath(name), "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(s, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static void write_str(const char *name, const char *s) { write_text(name, s, strlen(s)); }

/* ---- hand-made HDF5 files ------------------------------------------------ */

static hid_t mkfile(const char *name)
{
    hid_t f = H5Fcreate(tpath(name), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    return f;
}

/* float32 dataset; data NULL leaves it unwritten (chunked, so a huge
 * declared shape costs no disk) */
static void put_f32(hid_t f, const char *name, int rank, const hsize_t *dims, const float *data)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (!data) {
        hsize_t ch[4] = {1, 1, 1, 1};
        for (int i = 1; i < rank; i++)
            ch[i] = dims[i] > 0 && dims[i] < 64 ? dims[i] : 1;
        H5Pset_chunk(dcpl, rank, ch);
    }
    hid_t d = H5Dcreate2(f, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    if (data)
        ck_assert_int_ge(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
}

static void put_i32(hid_t f, const char *name, hsize_t n)
{
    int32_t *v = calloc(n ? n : 1, sizeof *v);
    for (hsize_t i = 0; i < n; i++)
        v[i] = 22;
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, name, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
    H5Sclose(sp);
    free(v);
}

static void put_cols(hid_t f, const char *obj, const char *cols)
{
    ck_assert_int_eq(gs_h5_attr_write_str(f, obj, "columns", cols), GS_OK);
}

/* a [n, f] event table with values i * 0.5; bad < 0: none, else that
 * element gets `badv` */
static void events_file(const char *name, hsize_t n, hsize_t nf, const char *cols, int64_t pdg_n,
                        int64_t bad, float badv)
{
    hid_t f = mkfile(name);
    float *v = calloc(n * nf + 1, sizeof *v);
    for (hsize_t i = 0; i < n * nf; i++)
        v[i] = (float)i * 0.5f;
    if (bad >= 0)
        v[bad] = badv;
    put_f32(f, "events", 2, (hsize_t[]){n, nf}, n ? v : NULL);
    free(v);
    if (cols)
        put_cols(f, "events", cols);
    if (pdg_n >= 0)
        put_i32(f, "pdg", (hsize_t)pdg_n);
    H5Fclose(f);
}

/* events_file with /events stored as float64 (value `bad` at element
 * `bad_at`) and /pdg stored as `ptype` with `pbad` at row 1. */
static void wide_file(const char *name, double bad, int64_t bad_at, hid_t ptype, int64_t pbad)
{
    hid_t f = mkfile(name);
    double v[10 * 6];
    for (int i = 0; i < 60; i++)
        v[i] = i * 0.5;
    if (bad_at >= 0)
        v[bad_at] = bad;
    hsize_t d[2] = {10, 6}, n = 10;
    hid_t sp = H5Screate_simple(2, d, NULL);
    hid_t ds = H5Dcreate2(f, "events", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
    H5Dclose(ds);
    H5Sclose(sp);
    put_cols(f, "events", "x,y,px,py,pz,t");
    int64_t p[10] = {22, 22, 11, -11, 2112, 22, 22, 22, 22, 22};
    p[1] = pbad;
    sp = H5Screate_simple(1, &n, NULL);
    ds = H5Dcreate2(f, "pdg", ptype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, p), 0);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(f);
}

/* A stand-in filter (identity) under a registered id, so that a file
 * "compressed" with a filter this machine has no plugin for can be made
 * without that plugin. */
static size_t identity_filter(unsigned flags, size_t cd_nelmts, const unsigned cd_values[],
                              size_t nbytes, size_t *buf_size, void **buf)
{
    return nbytes;
}

static void filtered_file(const char *name, H5Z_filter_t id, const char *fname)
{
    H5Z_class2_t cls = {H5Z_CLASS_T_VERS, id, 1, 1, fname, NULL, NULL, identity_filter};
    ck_assert_int_ge(H5Zregister(&cls), 0);
    hid_t f = mkfile(name), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t d[2] = {10, 6};
    H5Pset_chunk(dcpl, 2, d);
    ck_assert_int_ge(H5Pset_filter(dcpl, id, H5Z_FLAG_MANDATORY, 0, NULL), 0);
    float v[60] = {0};
    hid_t sp = H5Screate_simple(2, d, NULL);
    hid_t ds = H5Dcreate2(f, "events", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ck_assert_int_ge(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
    ck_assert_int_ge(H5Dclose(ds), 0);
    H5Sclose(sp);
    H5Pclose(dcpl);
    put_cols(f, "events", "x,y,px,py,pz,t");
    H5Fclose(f);
    ck_assert_int_ge(H5Zunregister(id), 0);
}

/* A valid event table compressed with LZF (filter 32000, as h5py's
 * compression="lzf" writes it), through the plugin install-deps installs. */
static void lzf_file(const char *name)
{
    ck_assert_msg(H5Zfilter_avail(32000) > 0, "no LZF plugin: run scripts/install-deps");
    hid_t f = mkfile(name), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t d[2] = {300, 6};
    H5Pset_chunk(dcpl, 2, d);
    ck_assert_int_ge(H5Pset_filter(dcpl, 32000, H5Z_FLAG_OPTIONAL, 0, NULL), 0);
    float v[300 * 6];
    for (int i = 0; i < 300 * 6; i++)
        v[i] = (float)(i % 17) * 0.25f; /* compressible, so the chunk is really filtered */
    hid_t sp = H5Screate_simple(2, d, NULL);
    hid_t ds = H5Dcreate2(f, "events", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ck_assert_int_ge(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
    ck_assert_int_ge(H5Dclose(ds), 0);
    H5Sclose(sp);
    H5Pclose(dcpl);
    put_cols(f, "events", "x,y,px,py,pz,t");
    H5Fclose(f);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    ck_assert_ptr_nonnull(in);
    FILE *out = fopen(to, "wb");
    ck_assert_ptr_nonnull(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
}

/* held open (and so locked by HDF5) by this process while the matrix runs */
static hid_t locked_file = H5I_INVALID_HID;
/* run directories this process holds the gansim lock on meanwhile */
static gs_dir_lock_t lock_run, lock_res;

/* Files another program holds: one whose superblock still carries HDF5's
 * "open for write" mark (a copy taken while a writer had it open, as a
 * crashed or still-running SWMR writer leaves it), and one this process
 * keeps open for writing, so HDF5's file lock refuses other readers. */
static void held_files(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST); /* status flags need v3 */
    hid_t f = H5Fcreate(tpath("writing.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    ck_assert_int_ge(f, 0);
    put_f32(f, "events", 2, (hsize_t[]){2, 6}, (float[12]){0});
    put_cols(f, "events", "x,y,px,py,pz,t");
    ck_assert_int_ge(H5Fflush(f, H5F_SCOPE_GLOBAL), 0);
    copy_file(tpath("writing.h5"), tpath("openw.h5"));
    H5Fclose(f);
    H5Pclose(fapl);
    copy_file(tpath("good.h5"), tpath("locked.h5"));
    locked_file = H5Fopen(tpath("locked.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(locked_file, 0);
}

/* A copy of a trained model, opened for damage. */
static hid_t model_copy(const char *name)
{
    FILE *in = fopen(tpath("mdl/model.h5"), "rb");
    ck_assert_ptr_nonnull(in);
    FILE *out = fopen(tpath(name), "wb");
    ck_assert_ptr_nonnull(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
    hid_t f = H5Fopen(tpath(name), H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    return f;
}

/* Damaged checkpoints: a tiny luxe model trained by the tool, then copies
 * with a NaN weight, a weight of the wrong shape, a missing group and
 * attributes that contradict the file. */
static void make_models(void)
{
    ck_assert_int_eq(gs_test_run("%s/gansim-train luxe --data %s --out %s --iters 2 "
                                 "--set model.g_widths=8 --set model.d_widths=8 "
                                 "--set train.batch=16 --set train.n_critic=1 "
                                 "--set train.kl_samples=100 --set split.min_rows=10 "
                                 ">/dev/null 2>&1",
                                 gs_test_bin(), tpath("good.h5"), tpath("mdl")),
                     0);
    float w[8 * 50];
    hid_t f = model_copy("mnan.h5");
    ck_assert_int_eq(gs_h5_read_into(f, "sub0/G/G.l0.w", GS_H5_F32, 2, (int64_t[]){8, 50}, w),
                     GS_OK);
    w[17] = NAN;
    hid_t d = H5Dopen2(f, "sub0/G/G.l0.w", H5P_DEFAULT);
    ck_assert_int_ge(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w), 0);
    H5Dclose(d);
    H5Fclose(f);
    f = model_copy("mshape.h5");
    ck_assert_int_ge(H5Ldelete(f, "sub0/G/G.l0.w", H5P_DEFAULT), 0);
    put_f32(f, "sub0/G/G.l0.w", 2, (hsize_t[]){8, 49}, w);
    H5Fclose(f);
    f = model_copy("mgroup.h5");
    ck_assert_int_ge(H5Ldelete(f, "sub0/qt", H5P_DEFAULT), 0);
    H5Fclose(f);
    f = model_copy("mkind.h5");
    ck_assert_int_ge(H5Adelete(f, "gansim_kind"), 0);
    ck_assert_int_eq(gs_h5_attr_write_str(f, ".", "gansim_kind", "vae"), GS_OK);
    H5Fclose(f);
    f = model_copy("mnsub.h5");
    ck_assert_int_ge(H5Adelete(f, "n_sub"), 0);
    ck_assert_int_eq(gs_h5_attr_write_i64(f, ".", "n_sub", 1000), GS_OK);
    H5Fclose(f);
    /* an interrupted run's model: fewer steps taken than planned */
    f = model_copy("mpart.h5");
    char *budget = NULL;
    ck_assert_int_eq(gs_h5_attr_read_str(f, ".", "part_budget", &budget), GS_OK);
    for (char *q = budget; *q; q++)
        if (*q != ',')
            *q = '0';
    ck_assert_int_ge(H5Adelete(f, "part_steps"), 0);
    ck_assert_int_eq(gs_h5_attr_write_str(f, ".", "part_steps", budget), GS_OK);
    free(budget);
    H5Fclose(f);
    f = model_copy("mprop.h5");
    ck_assert_int_ge(H5Adelete_by_name(f, "sub0", "proportion", H5P_DEFAULT), 0);
    ck_assert_int_eq(gs_h5_attr_write_f64(f, "sub0", "proportion", 5.0), GS_OK);
    H5Fclose(f);
}

static void make_files(void)
{
    /* valid inputs */
    ds_events ev;
    ck_assert_int_eq(ds_toy_luxe(300, 7, &ev), GS_OK);
    ck_assert_int_eq(ds_events_write(tpath("good.h5"), &ev), GS_OK);
    pp_quantile qt;
    pp_quantile_opts qo;
    pp_quantile_opts_default(&qo);
    qo.n_quantiles = 20;
    ck_assert_int_eq(pp_quantile_fit(&qt, ev.x, ev.n, ev.f, &qo), GS_OK);
    ck_assert_int_eq(pp_quantile_save_file(&qt, tpath("qt.h5")), GS_OK);
    pp_quantile_free(&qt);
    ck_assert_int_eq(pp_quantile_fit(&qt, ev.x, ev.n, 2, &qo), GS_OK); /* wrong: 2 features */
    ck_assert_int_eq(pp_quantile_save_file(&qt, tpath("qt2.h5")), GS_OK);
    pp_quantile_free(&qt);
    ds_events_free(&ev);
    ds_images im;
    ck_assert_int_eq(ds_toy_zdc(3, 7, &im), GS_OK);
    ck_assert_int_eq(ds_images_write(tpath("zdc.h5"), &im), GS_OK);
    ds_images_free(&im);
    ck_assert_int_eq(ds_toy_zdc(6, 7, &im), GS_OK);
    for (int i = 1; i < 6; i++) /* one condition, six times: nothing to condition on */
        memcpy(im.cond + i * DS_ZDC_NCOND, im.cond, DS_ZDC_NCOND * sizeof(float));
    ck_assert_int_eq(ds_images_write(tpath("zdc1.h5"), &im), GS_OK);
    ds_images_free(&im);
    events_file("ab.h5", 10, 2, "a,b", -1, -1, 0); /* valid, other columns */

    /* not HDF5 at all */
    write_text("empty.h5", "", 0);
    write_str("text.h5", "this is not an HDF5 file\n");
    write_str("text.csv", "\x01\x02\x03binary\n");
    write_text("empty.csv", "", 0);
    mkdir(tpath("adir.h5"), 0755);
    /* truncated: the first half of a valid file */
    {
        FILE *f = fopen(tpath("good.h5"), "rb");
        char buf[65536];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        write_text("trunc.h5", buf, n / 2);
        write_text("head.h5", buf, 512 < n ? 512 : n);
    }
    /* wrong layout */
    {
        hid_t f = mkfile("nodata.h5");
        put_f32(f, "foo", 1, (hsize_t[]){4}, (float[]){1, 2, 3, 4});
        H5Fclose(f);
        f = mkfile("rank1.h5");
        put_f32(f, "events", 1, (hsize_t[]){6}, (float[]){1, 2, 3, 4, 5, 6});
        put_cols(f, "events", "x");
        H5Fclose(f);
        f = mkfile("strtype.h5");
        hid_t st = H5Tcopy(H5T_C_S1);
        H5Tset_size(st, 4);
        hid_t sp = H5Screate_simple(2, (hsize_t[]){3, 2}, NULL);
        hid_t d = H5Dcreate2(f, "events", st, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dclose(d);
        H5Sclose(sp);
        H5Tclose(st);
        put_cols(f, "events", "a,b");
        H5Fclose(f);
        f = mkfile("evgroup.h5"); /* /events is a group */
        H5Gclose(H5Gcreate2(f, "events", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        H5Fclose(f);
    }
    events_file("n0.h5", 0, 6, "x,y,px,py,pz,t", -1, -1, 0);
    events_file("f0.h5", 5, 0, "", -1, -1, 0);
    {
        hid_t f = mkfile("huge.h5"); /* 1.6e12 elements declared: refused outright */
        put_f32(f, "events", 2, (hsize_t[]){(hsize_t)1 << 38, 6}, NULL);
        put_cols(f, "events", "x,y,px,py,pz,t");
        H5Fclose(f);
        f = mkfile("big.h5"); /* 8e11 elements, 3 TB: allocation must fail cleanly */
        put_f32(f, "events", 2, (hsize_t[]){(hsize_t)1 << 37, 6}, NULL);
        put_cols(f, "events", "x,y,px,py,pz,t");
        H5Fclose(f);
        f = mkfile("zhuge.h5");
        put_f32(f, "images", 3, (hsize_t[]){(hsize_t)1 << 32, 56, 30}, NULL);
        H5Fclose(f);
    }
    events_file("nan.h5", 10, 6, "x,y,px,py,pz,t", 10, 13, NAN);
    events_file("inf.h5", 10, 6, "x,y,px,py,pz,t", 10, 59, -INFINITY);
    events_file("pdgmis.h5", 10, 6, "x,y,px,py,pz,t", 7, -1, 0);
    events_file("nocols.h5", 10, 6, NULL, 10, -1, 0);
    events_file("colmis.h5", 10, 6, "x,y", 10, -1, 0);
    {
        hid_t f = mkfile("zdcmis.h5"); /* 4 images, 3 condition rows */
        put_f32(f, "images", 3, (hsize_t[]){4, 56, 30}, NULL);
        put_f32(f, "conditions", 2, (hsize_t[]){3, 9}, NULL);
        H5Fclose(f);
        f = mkfile("zdcrank.h5");
        put_f32(f, "images", 2, (hsize_t[]){4, 56}, NULL);
        H5Fclose(f);
        f = mkfile("zdcnan.h5");
        float *v = calloc(2 * 56 * 30, sizeof *v);
        v[100] = NAN;
        put_f32(f, "images", 3, (hsize_t[]){2, 56, 30}, v);
        free(v);
        H5Fclose(f);
    }
    /* CSV with bad rows */
    write_str("fields.csv", "x,y,pdg\n1,2,22\n3,4\n");
    write_str("word.csv", "x,y\n1,2\n3,abc\n");
    write_str("hdronly.csv", "x,y,pz\n# nothing else\n");
    write_str("nan.csv", "x,y\n1,2\nnan,4\n");
    write_str("dup.csv", "x,y,x\n1,2,3\n");
    write_str("pdgfrac.csv", "x,pdg\n1,22.5\n");
    /* configs */
    write_str("unk.ini", "[train]\nbatch = 64\nmystery = 1\n");
    write_str("badnum.ini", "[train]\nbatch = 12x\n");
    write_str("range.ini", "[train]\nbatch = 1\n");
    write_str("syntax.ini", "[train\nbatch = 64\n");
    mkdir(tpath("cfgdir"), 0755);
    /* quantile transforms */
    {
        hid_t f = mkfile("qtkind.h5"), g;
        ck_assert_int_eq(gs_h5_group_create(f, "quantile_transform", &g), GS_OK);
        ck_assert_int_eq(gs_h5_attr_write_str(g, ".", "kind", "standard"), GS_OK);
        H5Gclose(g);
        H5Fclose(f);
        f = mkfile("qtmono.h5");
        ck_assert_int_eq(gs_h5_group_create(f, "quantile_transform", &g), GS_OK);
        gs_h5_attr_write_str(g, ".", "kind", "quantile_transform");
        gs_h5_attr_write_str(g, ".", "output_distribution", "normal");
        gs_h5_attr_write_i64(g, ".", "n_quantiles", 3);
        gs_h5_attr_write_i64(g, ".", "n_features", 1);
        double q[3] = {0, 2, 1}, r[3] = {0, 0.5, 1};
        gs_h5_write(g, "quantiles", GS_H5_F64, 2, (int64_t[]){3, 1}, q);
        gs_h5_write(g, "references", GS_H5_F64, 1, (int64_t[]){3}, r);
        H5Gclose(g);
        H5Fclose(f);
    }
    write_str("nolog.txt", "no records here\njust words\n");
    /* values the in-memory types cannot hold (HDF5 alone would saturate
     * them to INT32_MAX or turn them into Inf) */
    wide_file("pdg64.h5", 0, -1, H5T_STD_I64LE, 3000000022LL);
    wide_file("pdgneg.h5", 0, -1, H5T_STD_I64LE, -3000000022LL);
    wide_file("pdgu32.h5", 0, -1, H5T_STD_U32BE, 4294967285LL);
    wide_file("f64big.h5", 1e39, 8, H5T_STD_I32LE, 22);
    wide_file("f64inf.h5", INFINITY, 8, H5T_STD_I32LE, 22);
    write_str("big.csv", "x,y,pdg\n1,2,22\n1,1e39,22\n");
    write_str("pdgbig.csv", "x,y,pdg\n1,2,3000000022\n");
    write_str("hdr.csv", "X,Y,time,PID\n1,2,3,22\n4,5,6,11\n"); /* valid, other names */
    /* filters without a plugin here: ZFP (a Debian package exists, not
     * installed by install-deps) and an id nobody registered */
    ck_assert_msg(H5Zfilter_avail(32013) <= 0, "this test needs the ZFP plugin to be absent");
    filtered_file("zfp.h5", 32013, "H5Z-ZFP-1.0.1 (ZFP-0.5.5)");
    filtered_file("unkfilt.h5", 40123, "mystery codec");
    lzf_file("lzf.h5");
    held_files();
    make_models();
    /* the same file under other names: a symlink and a hard link to keep.txt
     * (the file the cases below pre-create with known content) */
    write_str("keep.txt", "x");
    ck_assert_int_eq(symlink("keep.txt", tpath("klink.h5")), 0);
    ck_assert_int_eq(link(tpath("keep.txt"), tpath("khard.h5")), 0);
    mkdir(tpath("kdir"), 0755);
    ck_assert_int_eq(symlink("../keep.txt", tpath("kdir/manifest.json")), 0);
    /* run directories another process is using */
    mkdir(tpath("lrun"), 0755);
    mkdir(tpath("lres"), 0755);
    copy_file(tpath("mdl/last.h5"), tpath("lres/last.h5"));
    ck_assert_int_eq(gs_dir_lock(tpath("lrun"), "the test", &lock_run), GS_OK);
    ck_assert_int_eq(gs_dir_lock(tpath("lres"), "the test", &lock_res), GS_OK);
}

/* ---- the matrix ----------------------------------------------------------- */

typedef struct {
    const char *tool;  /* gansim-TOOL */
    const char *args;  /* run in the scratch directory */
    int code;          /* expected exit status */
    const char *what;  /* the file or option the message must name */
    const char *why;   /* the problem it must state */
    const char *out;   /* output path that must not appear, or NULL */
    int keep;          /* pre-create `out` with known content; it must survive */
} bad_case;

#define EV_FILES(tool, pre, post, out, keep)                                                   \
    {tool, pre "missing.h5" post, 1, "missing.h5", "No such file", out, keep},                \
    {tool, pre "empty.h5" post, 1, "empty.h5", "not an HDF5 file", out, keep},                \
    {tool, pre "text.h5" post, 1, "text.h5", "not an HDF5 file", out, keep},                  \
    {tool, pre "adir.h5" post, 1, "adir.h5", "not a regular file", out, keep},                \
    {tool, pre "trunc.h5" post, 1, "trunc.h5", "truncated", out, keep},                       \
    {tool, pre "head.h5" post, 1, "head.h5", "truncated", out, keep},                         \
    {tool, pre "evgroup.h5" post, 1, "evgroup.h5", "not a dataset", out, keep},               \
    {tool, pre "rank1.h5" post, 1, "rank1.h5", "rank 1, expected 2", out, keep},              \
    {tool, pre "strtype.h5" post, 1, "strtype.h5", "string type", out, keep},                 \
    {tool, pre "n0.h5" post, 1, "n0.h5", "N = 0", out, keep},                                 \
    {tool, pre "f0.h5" post, 1, "f0.h5", "dimension 1 = 0", out, keep},                       \
    {tool, pre "huge.h5" post, 1, "huge.h5", "more than 2^40", out, keep},                    \
    {tool, pre "big.h5" post, 1, "big.h5", "more than the file can hold", out, keep},                     \
    {tool, pre "nan.h5" post, 1, "nan.h5", "NaN", out, keep},                                 \
    {tool, pre "inf.h5" post, 1, "inf.h5", "infinite", out, keep},                            \
    {tool, pre "pdgmis.h5" post, 1, "pdgmis.h5", "/pdg has 7 entries, expected 10", out, keep}, \
    {tool, pre "nocols.h5" post, 1, "nocols.h5", "no attribute columns", out, keep},          \
    {tool, pre "colmis.h5" post, 1, "colmis.h5", "names 2 columns", out, keep},               \
    {tool, pre "pdg64.h5" post, 1, "pdg64.h5",                                                 \
     "/pdg row 1: value 3000000022 is outside the int32 range", out, keep},                    \
    {tool, pre "pdgneg.h5" post, 1, "pdgneg.h5", "value -3000000022 is outside", out, keep},  \
    {tool, pre "pdgu32.h5" post, 1, "pdgu32.h5",                                               \
     "/pdg row 1: value 4294967285 is outside the int32 range", out, keep},                    \
    {tool, pre "f64big.h5" post, 1, "f64big.h5",                                               \
     "/events row 1, column 2 (px): value 1e+39 is outside the float32 range", out, keep},     \
    {tool, pre "f64inf.h5" post, 1, "f64inf.h5", "row 1 column 2 (px) is infinite", out, keep}, \
    {tool, pre "zfp.h5" post, 1, "zfp.h5",                                                     \
     "HDF5 filter 32013 (ZFP, \"H5Z-ZFP-1.0.1 (ZFP-0.5.5)\" in the file), which is not "      \
     "available here; install Debian's hdf5-filter-plugin-zfp-serial", out, keep},             \
    {tool, pre "unkfilt.h5" post, 1, "unkfilt.h5",                                             \
     "filter 40123 (unknown filter, \"mystery codec\" in the file)", out, keep},               \
    {tool, pre "openw.h5" post, 1, "openw.h5", "still open for writing", out, keep},          \
    {tool, pre "locked.h5" post, 1, "locked.h5", "holds HDF5's lock", out, keep}

#define CSV_FILES(tool, pre, post, out, keep)                                                  \
    {tool, pre "missing.csv" post, 1, "missing.csv", "No such file", out, keep},              \
    {tool, pre "empty.csv" post, 1, "empty.csv", "no header row", out, keep},                 \
    {tool, pre "text.csv" post, 1, "text.csv", "no data rows", out, keep},                    \
    {tool, pre "fields.csv" post, 1, "fields.csv", "line 3: expected 3 fields, found 2", out, keep}, \
    {tool, pre "word.csv" post, 1, "word.csv", "not a number: 'abc'", out, keep},             \
    {tool, pre "hdronly.csv" post, 1, "hdronly.csv", "N = 0", out, keep},                     \
    {tool, pre "nan.csv" post, 1, "nan.csv", "NaN", out, keep},                               \
    {tool, pre "dup.csv" post, 1, "dup.csv", "appears twice", out, keep},                     \
    {tool, pre "pdgfrac.csv" post, 1, "pdgfrac.csv", "not an integer PDG", out, keep},        \
    {tool, pre "big.csv" post, 1, "big.csv",                                                   \
     "line 3, column 'y': value 1e+39 is outside the float32 range", out, keep},               \
    {tool, pre "pdgbig.csv" post, 1, "pdgbig.csv",                                             \
     "PDG code 3000000022 is outside the int32 range", out, keep}

static const bad_case cases[] = {
    /* ---- gansim-datagen: options ---- */
    {"datagen", "", 2, "kind", "missing", NULL, 0},
    {"datagen", "mystery -n 5 -o out.h5", 2, "mystery", "unknown kind", "out.h5", 0},
    {"datagen", "luxe -n 5 -o out.h5 --bogus", 2, "--bogus", "unknown option", "out.h5", 0},
    {"datagen", "luxe -o out.h5 -n", 2, "-n", "needs a value", "out.h5", 0},
    {"datagen", "luxe -n 5 -o", 2, "-o", "needs a value", NULL, 0},
    {"datagen", "luxe -n abc -o out.h5", 2, "-n", "'abc' is not an integer", "out.h5", 0},
    {"datagen", "luxe -n 0 -o out.h5", 2, "-n", "'0'", "out.h5", 0},
    {"datagen", "luxe -n -5 -o out.h5", 2, "-n", "'-5'", "out.h5", 0},
    {"datagen", "luxe -n 99999999999999999999 -o out.h5", 2, "-n", "not an integer", "out.h5", 0},
    {"datagen", "luxe -n 5 --seed 99999999999999999999 -o out.h5", 2, "--seed", "not an integer",
     "out.h5", 0},
    {"datagen", "luxe -n 5 --seed -1 -o out.h5", 2, "--seed", "'-1'", "out.h5", 0},
    {"datagen", "luxe -n 5 --seed 1x -o out.h5", 2, "--seed", "'1x'", "out.h5", 1},
    {"datagen", "luxe -n 5", 2, "-o FILE", "required", NULL, 0},
    {"datagen", "zdc -n 5 --weights -o out.h5", 2, "--weights", "luxe only", "out.h5", 1},
    {"datagen", "luxe -n 1000000000000 -o out.h5", 1, "1000000000000", "GB of memory", "out.h5", 1},
    {"datagen", "zdc -n 1000000000000 -o out.h5", 1, "1000000000000", "GB of memory", "out.h5", 1},
    {"datagen", "luxe -n 5 -o nodir/out.h5", 1, "nodir/out.h5", "cannot create", "nodir/out.h5", 0},
    {"datagen", "zdc -n 100000000000 -o out.h5", 1, "-n 100000000000", "GB of memory, this "
     "machine has", "out.h5", 0},
    {"datagen", "luxe -n 5 -o adir.h5", 1, "adir.h5", "is a directory", NULL, 0},
    {"datagen", "luxe -n 10000000000000 -o out.h5", 2, "-n", "not an integer in [1, ", "out.h5", 0},

    /* ---- gansim-prep: options ---- */
    {"prep", "", 2, "command", "missing", NULL, 0},
    {"prep", "frobnicate --in good.h5 -o out.h5", 2, "frobnicate", "unknown command", "out.h5", 0},
    {"prep", "fit --in good.h5 -o out.h5 --bogus 1", 2, "--bogus", "unknown option", "out.h5", 1},
    {"prep", "fit --in good.h5 -o", 2, "-o", "needs a value", NULL, 0},
    {"prep", "fit -o out.h5", 2, "--in", "needs", "out.h5", 0},
    {"prep", "transform --in good.h5 -o out.h5", 2, "--qt", "needs", "out.h5", 0},
    {"prep", "fit --in good.h5 -o out.h5 --n-quantiles 0", 2, "--n-quantiles", "'0'", "out.h5", 1},
    {"prep", "fit --in good.h5 -o out.h5 --n-quantiles 2.5e0", 2, "--n-quantiles", "'2.5e0'",
     "out.h5", 0},
    {"prep", "fit --in good.h5 -o out.h5 --n-quantiles 1e-3", 2, "--n-quantiles", "'1e-3'",
     "out.h5", 0},
    {"prep", "fit --in good.h5 -o out.h5 --n-quantiles 999999999999", 2, "--n-quantiles",
     "not an integer", "out.h5", 0},
    {"prep", "fit --in good.h5 -o out.h5 --output gaussian", 2, "--output", "'gaussian'",
     "out.h5", 0},
    {"prep", "fit --in good.h5 -o out.h5 --subsample 0", 2, "--subsample", "'0'", "out.h5", 0},
    {"prep", "fit --in good.h5 -o out.h5 --seed -3", 2, "--seed", "'-3'", "out.h5", 0},
    {"prep", "fit --in good.h5 -o nodir/out.h5", 1, "nodir/out.h5", "cannot create",
     "nodir/out.h5", 0},
    /* ---- gansim-prep: import options (CSV names, units, particles per BX) ---- */
    {"prep", "fit --in hdr.csv -o out.h5 --columns x=X,t=Time", 1, "hdr.csv",
     "column mapping t=Time: the file has no column 'Time' (its columns: X,Y,time,PID)",
     "out.h5", 0},
    {"prep", "fit --in hdr.csv -o out.h5 --columns x", 1, "'x'", "expected NAME=VALUE pairs",
     "out.h5", 0},
    {"prep", "fit --in hdr.csv -o out.h5 --columns Y=X", 1, "hdr.csv",
     "two columns are named 'Y'", "out.h5", 0},
    {"prep", "fit --in hdr.csv -o out.h5 --columns pdg=PID --units mm,mm", 1, "hdr.csv",
     "units: 2 given for 3 feature columns (X,Y,time)", "out.h5", 0},
    {"prep", "fit --in hdr.csv -o out.h5 --columns pdg=PID --units X=mm", 1, "hdr.csv",
     "units: no unit for Y,time", "out.h5", 0},
    {"prep", "fit --in hdr.csv -o out.h5 --particles-per-bx -1", 2, "--particles-per-bx",
     "'-1' is not a number > 0", "out.h5", 0},
    {"prep", "fit --in hdr.csv -o out.h5 --particles-per-bx 1e999", 2, "--particles-per-bx",
     "'1e999'", "out.h5", 0},
    {"prep", "fit --in good.h5 -o out.h5 --particles-per-bx 5", 1, "good.h5",
     "the file states particles_per_bx = 12000, not 5 as asked", "out.h5", 0},
    {"prep", "fit --in good.h5 -o out.h5 --units cm,mm,GeV,GeV,GeV,ns", 1, "good.h5",
     "the file gives column 'x' the unit 'mm', not 'cm' as asked", "out.h5", 0},
    {"train", "luxe --data hdr.csv --out run --columns t=Time", 1, "hdr.csv",
     "no column 'Time' (its columns: X,Y,time,PID)", "run", 0},
    {"train", "luxe --data hdr.csv --out run --particles-per-bx x", 2, "--particles-per-bx",
     "'x' is not a number > 0", "run", 0},
    {"train", "luxe --data hdr.csv --out run --set data.coords=cartesian", 1, "data.log_features",
     "names 't', not a model-space feature (they are X,Y,time,PID", "run", 0},
    {"train", "luxe --data hdr.csv --out run", 1, "data.coords=cylindrical (the default)",
     "needs columns x,y,px,py,pz; the data has X,Y,time,PID", "run", 0},
    {"train", "luxe --data hdr.csv --out run --set data.coords=cylindrical --columns t=time", 1,
     "data.coords=cylindrical", "needs columns x,y,px,py,pz; the data has X,Y,t,PID", "run", 0},
    {"train", "zdc --data good.h5 --out run", 1, "good.h5", "the file is an event table", "run",
     0},
    {"train", "zdc --data zdc.h5 --out run --units mm", 2, "--units",
     "zdc training data are not an event table", "run", 0},
    {"train", "luxe --data hdr.csv --out run --set data.units=mm", 1, "hdr.csv",
     "units: 1 given for 4 feature columns (X,Y,time,PID)", "run", 0},
    /* ---- gansim-prep: input files ---- */
    EV_FILES("prep", "fit --in ", " -o out.h5", "out.h5", 1),
    {"prep", "fit --in nodata.h5 -o out.h5", 1, "nodata.h5", "missing dataset /events", "out.h5", 1},
    {"prep", "fit --in zdc.h5 -o out.h5", 1, "zdc.h5", "missing dataset /events", "out.h5", 0},
    {"prep", "fit --in zdc.h5 -o out.h5", 1, "zdc.h5", "the file is an image set", "out.h5", 0},
    CSV_FILES("prep", "fit --in ", " -o out.h5", "out.h5", 1),
    EV_FILES("prep", "transform --qt qt.h5 --in ", " -o out.h5", "out.h5", 0),
    {"prep", "transform --qt missing.h5 --in good.h5 -o out.h5", 1, "missing.h5", "No such file",
     "out.h5", 1},
    {"prep", "transform --qt text.h5 --in good.h5 -o out.h5", 1, "text.h5", "not an HDF5",
     "out.h5", 1},
    {"prep", "transform --qt good.h5 --in good.h5 -o out.h5", 1, "good.h5",
     "missing group", "out.h5", 1},
    {"prep", "transform --qt good.h5 --in good.h5 -o out.h5", 1, "good.h5",
     "not a quantile transform file", "out.h5", 1},
    {"prep", "transform --qt qtkind.h5 --in good.h5 -o out.h5", 1, "qtkind.h5",
     "expected quantile_transform", "out.h5", 1},
    {"prep", "inverse --qt qtmono.h5 --in good.h5 -o out.h5", 1, "qtmono.h5",
     "not finite and increasing", "out.h5", 1},
    {"prep", "transform --qt qt2.h5 --in good.h5 -o out.h5", 1, "good.h5",
     "6 features, qt2.h5 was fitted on 2", "out.h5", 1},

    /* ---- gansim-eval ---- */
    {"eval", "--real good.h5 --gen good.h5", 2, "--out", "missing", NULL, 0},
    {"eval", "--real good.h5 --gen good.h5 --out rep --bogus", 2, "--bogus", "unknown option",
     "rep", 0},
    {"eval", "--real good.h5 --gen good.h5 --out", 2, "--out", "needs a value", NULL, 0},
    {"eval", "--real good.h5 --gen good.h5 --out rep --r0 abc", 2, "--r0", "'abc'", "rep", 0},
    {"eval", "--real good.h5 --gen good.h5 --out rep --r0 -5", 2, "--r0", "'-5'", "rep", 0},
    {"eval", "--real good.h5 --gen good.h5 --out rep --r0 inf", 2, "--r0", "'inf'", "rep", 0},
    {"eval", "--real good.h5 --gen good.h5 --out rep --r0 1e999", 2, "--r0", "'1e999'", "rep", 0},
    {"eval", "--real good.h5 --gen good.h5 --out rep stray", 2, "stray", "unexpected", "rep", 0},
    EV_FILES("eval", "--real good.h5 --out rep --gen ", "", "rep", 0),
    EV_FILES("eval", "--gen good.h5 --out rep --real ", "", "rep/metrics.json", 1),
    {"eval", "--real nodata.h5 --gen good.h5 --out rep", 1, "nodata.h5",
     "neither an event table (/events) nor an image set", "rep", 0},
    {"eval", "--real good.h5 --gen nodata.h5 --out rep", 1, "nodata.h5",
     "neither an event table (/events) nor an image set", "rep/metrics.json", 1},
    {"eval", "--real good.h5 --gen zdc.h5 --out rep", 1, "zdc.h5", "image set", "rep", 0},
    {"eval", "--real good.h5 --gen ab.h5 --out rep", 1, "ab.h5", "columns", "rep", 0},
    {"eval", "--real zdc.h5 --gen zdcmis.h5 --out rep", 1, "zdcmis.h5",
     "/conditions has 3 rows, expected 4", "rep", 0},
    {"eval", "--real zdc.h5 --gen zdcrank.h5 --out rep", 1, "zdcrank.h5", "rank 2, expected 3",
     "rep", 0},
    {"eval", "--real zdc.h5 --gen zdcnan.h5 --out rep", 1, "zdcnan.h5", "NaN", "rep", 0},
    {"eval", "--real zdc.h5 --gen zhuge.h5 --out rep", 1, "zhuge.h5", "more than 2^40", "rep", 0},
    {"eval", "--real good.h5 --gen good.h5 --out rep --log missing.log", 1, "missing.log",
     "No such file", "rep", 0},
    {"eval", "--real good.h5 --gen good.h5 --out rep --log nolog.txt", 1, "nolog.txt",
     "not a training log", "rep", 0},
    {"eval", "--real good.h5 --gen good.h5 --out rep --log nolog.txt", 1,
     "nolog.txt", "not a training log", "rep/metrics.json", 1},
    {"eval", "--real good.h5 --gen good.h5 --out rep --log good.h5", 1, "good.h5",
     "not a training log", "rep", 0},
    {"eval", "--real good.h5 --gen good.h5 --out good.h5", 1, "good.h5", "not a directory", NULL,
     0},

    /* ---- gansim-train (luxe): options and config ---- */
    {"train", "", 2, "model kind", "first argument", NULL, 0},
    {"train", "mystery --data good.h5 --out run", 2, "mystery", "unknown model kind", "run", 0},
    {"train", "luxe --data good.h5 --out run --bogus", 2, "--bogus", "unknown option", "run", 0},
    {"train", "luxe --out run --data", 2, "--data", "needs a value", "run", 0},
    {"train", "luxe --data good.h5", 2, "--out", "required", NULL, 0},
    {"train", "luxe --data good.h5 --out keep.txt", 2, "keep.txt", "not a directory", "keep.txt", 1},
    {"train", "luxe --data good.h5 --out run --threads 0", 2, "--threads", "'0'", "run", 0},
    {"train", "luxe --data good.h5 --out run --threads 4x", 2, "--threads", "'4x'", "run", 0},
    {"train", "luxe --data good.h5 --out run --iters abc", 2, "train.iters", "'abc'", "run", 0},
    {"train", "luxe --data good.h5 --out run --iters 0", 2, "train.iters", "outside", "run", 0},
    {"train", "luxe --data good.h5 --out run --iters 99999999999999999999999", 2, "train.iters",
     "not an integer", "run", 0},
    {"train", "luxe --data good.h5 --out run --iters '1                                                   x'",
     2, "--iters", "too long", "run", 0},
    {"train", "luxe --data good.h5 --out run --set nope=1", 2, "nope", "unknown config key",
     "run", 0},
    {"train", "luxe --data good.h5 --out run --set train.batch", 2, "train.batch",
     "not key=value", "run", 0},
    {"train", "luxe --data good.h5 --out run --set train.lr_g=nan", 2, "train.lr_g",
     "not a finite number", "run", 0},
    {"train", "luxe --data good.h5 --out run --set train.lr_g=1e999", 2, "train.lr_g",
     "not a finite number", "run", 0},
    {"train", "luxe --data good.h5 --out run --set data.coords=polar", 2, "data.coords",
     "not one of", "run", 0},
    {"train", "luxe --data good.h5 --out run --set split.species=maybe", 2, "split.species",
     "not a boolean", "run", 0},
    {"train", "luxe --data good.h5 --out run --set model.g_widths=64,,8", 2, "model.g_widths",
     "list", "run", 0},
    {"train", "luxe --data good.h5 --out run --config missing.ini", 2, "missing.ini",
     "cannot open", "run", 0},
    {"train", "luxe --data good.h5 --out run --config cfgdir", 2, "cfgdir",
     "not a regular file", "run", 0},
    {"train", "luxe --data good.h5 --out run --config unk.ini", 2, "unk.ini",
     "unknown config key 'train.mystery'", "run", 0},
    {"train", "luxe --data good.h5 --out run --config badnum.ini", 2, "badnum.ini",
     "not an integer", "run", 0},
    {"train", "luxe --data good.h5 --out run --config range.ini", 2, "range.ini", "outside",
     "run", 0},
    {"train", "luxe --data good.h5 --out run --config syntax.ini", 2, "syntax.ini",
     "syntax error", "run", 0},
    {"train", "luxe --data good.h5 --out run", 2, "run", "already holds a trained model",
     "run/last.h5", 1},
    {"train", "luxe --data good.h5 --out run --resume", 2, "--resume", "does not exist", "run", 0},
    /* a run directory that lost its last.h5: no advice to --resume it */
    {"train", "luxe --data good.h5 --out run", 2, "run/model.h5", "without the last.h5",
     "run/model.h5", 1},
    {"train", "luxe --data good.h5 --out run --resume", 2, "run/last.h5",
     "model.h5 alone holds no training state", "run/model.h5", 1},
    /* ---- gansim-train: data files ---- */
    EV_FILES("train", "luxe --out run --data ", "", "run", 0),
    {"train", "luxe --out run --data nodata.h5", 1, "nodata.h5", "missing dataset /events", "run", 0},
    {"train", "luxe --out run --data zdc.h5", 1, "zdc.h5", "missing dataset /events", "run", 0},
    CSV_FILES("train", "luxe --out run --data ", "", "run", 0),

    /* ---- gansim-train: runs refused by the driver's validation leave nothing ---- */
    {"train", "luxe --data good.h5 --out run --iters 1 --set split.min_rows=10", 1, "outer",
     "1 of 2 sub-models would get 0 training steps (outer) and be sampled untrained; raise "
     "train.iters (--iters), or allow it (gansim-train --allow-untrained)", "run", 0},
    {"train", "zdc --data zdc1.h5 --out run --iters 2", 1, "zdc",
     "need at least 2 distinct conditions", "run", 0},
    {"train", "luxe --data good.h5 --out mdl --resume --iters 1", 1, "--resume --iters 1",
     "already took 1 steps, more than the 0 it gets now", "mdl/nothing", 0},
    {"train", "luxe --data good.h5 --out mdl --resume --iters 1", 1, "--resume --iters 1",
     "(the run has taken 2 steps in all)", "mdl/nothing", 0},
    {"train", "luxe --data good.h5 --out mdl --resume --iters 0", 2, "train.iters", "outside",
     "mdl/nothing", 0},
    /* ---- gansim-sample: an interrupted run's model ---- */
    {"sample", "--model mpart.h5 -o out.h5 -n 5", 1, "mpart.h5",
     "a partial model: its training stopped after 0 of 2 steps (inner trained 0 of its 1 "
     "steps, outer trained 0 of its 1 steps); finish it with gansim-train --resume, or "
     "use it anyway with --allow-partial", "out.h5", 1},
    {"export", "--model mpart.h5 -o exo", 1, "mpart.h5", "a partial model", "exo", 0},
    {"export", "--model lres/last.h5 -o exo", 1, "lres", "in use by another process (pid ",
     "exo", 0},
    {"export", "--model keep.txt -o kdir", 2, "-o kdir/manifest.json",
     "is the same file as --model keep.txt", "keep.txt", 1},

    /* ---- gansim-train: a run directory another process uses ---- */
    {"train", "luxe --data good.h5 --out lrun", 1, "lrun",
     "in use by another process (pid ", "lrun/model.h5", 0},
    {"train", "luxe --data good.h5 --out lres --resume", 1, "lres",
     "in use by another process (pid ", "lres/model.h5", 0},

    /* ---- never write over an input (the same file by any name) ---- */
    {"sample", "--model keep.txt -o keep.txt -n 5", 2, "-o keep.txt",
     "is the same file as --model keep.txt; refusing to write over an input", "keep.txt", 1},
    {"sample", "--model keep.txt -o klink.h5 -n 5", 2, "-o klink.h5",
     "is the same file as --model keep.txt", "keep.txt", 1},
    {"sample", "--model khard.h5 -o ./keep.txt -n 5", 2, "-o ./keep.txt",
     "is the same file as --model khard.h5", "keep.txt", 1},
    {"sample", "--model mdl/model.h5 --conditions keep.txt -o klink.h5", 2, "-o klink.h5",
     "is the same file as --conditions keep.txt", "keep.txt", 1},
    {"prep", "fit --in keep.txt -o khard.h5", 2, "-o khard.h5",
     "is the same file as --in keep.txt", "keep.txt", 1},
    {"prep", "transform --qt klink.h5 --in good.h5 -o keep.txt", 2, "-o keep.txt",
     "is the same file as --qt klink.h5", "keep.txt", 1},
    {"eval", "--real good.h5 --gen good.h5 --out rep --log rep/metrics.json", 2,
     "--out rep/metrics.json", "is the same file as --log rep/metrics.json", "rep/metrics.json",
     1},
    {"train", "luxe --data run/last.h5 --out run --resume", 2, "--out run/last.h5",
     "is the same file as --data run/last.h5", "run/last.h5", 1},

    /* ---- gansim-sample (luxe models) ---- */
    {"sample", "", 2, "--model", "need", NULL, 0},
    {"sample", "--model m.h5 -o out.h5 -n 5 --bogus", 2, "--bogus", "unknown option", "out.h5", 0},
    {"sample", "--model m.h5 -o out.h5 -n", 2, "-n", "needs a value", "out.h5", 0},
    {"sample", "-o out.h5 -n 5 --model", 2, "--model", "needs a value", "out.h5", 0},
    {"sample", "--model m.h5 -o out.h5 -n 0", 2, "-n", "'0'", "out.h5", 1},
    {"sample", "--model m.h5 -o out.h5 -n x", 2, "-n", "'x'", "out.h5", 0},
    {"sample", "--model m.h5 -o out.h5 -n 2000000000000", 2, "-n", "'2000000000000'", "out.h5", 0},
    {"sample", "--model m.h5 -o out.h5 -n 2000000000000", 2, "-n", "is not an integer in [1, ",
     "out.h5", 0},
    {"sample", "--model m.h5 -o out.h5 -n 5 --conditions c.h5", 2, "--conditions",
     "exclude each other", "out.h5", 0},
    {"sample", "--model m.h5 -o adir.h5 --bunch-crossings 1 --format hepmc3", 1, "adir.h5",
     "is a directory", NULL, 0},
    {"sample", "--model m.h5 -o nodir/bg.hepmc3 --bunch-crossings 1 --format hepmc3", 1,
     "nodir/bg.hepmc3", "directory nodir: No such file", "nodir", 0},
    {"sample", "--model m.h5 -o out.h5 --bunch-crossings 0", 2, "--bunch-crossings", "'0'",
     "out.h5", 0},
    {"sample", "--model m.h5 -o out.h5 -n 5 --bunch-crossings 2", 2, "-n", "exactly one",
     "out.h5", 0},
    {"sample", "--model m.h5 -o out.h5 -n 5 --seed -1", 2, "--seed", "'-1'", "out.h5", 0},
    {"sample", "--model m.h5 -o out.h5 -n 5 --format root", 2, "--format", "'root'", "out.h5", 0},
    {"sample", "--model m.h5 -o bg.hepmc3 -n 5 --format hepmc3", 2, "--format hepmc3",
     "give --bunch-crossings", "bg.hepmc3", 0},
    {"sample", "--model m.h5 -o bg.hepmc3 --conditions c.h5 --format hepmc3", 2,
     "--format hepmc3", "give --bunch-crossings", "bg.hepmc3", 0},
    {"sample", "--model m.h5 -o out.h5 -n 5 --plane-z 3", 2, "--plane-z", "hepmc3 only",
     "out.h5", 0},
    {"sample", "--model m.h5 -o bg.hepmc3 --bunch-crossings 1 --format hepmc3 --plane-z 1e999",
     2, "--plane-z", "'1e999'", "bg.hepmc3", 0},
    {"sample", "--model missing.h5 -o bg.hepmc3 --bunch-crossings 1 --format hepmc3", 1,
     "missing.h5", "No such file", "bg.hepmc3", 1},
    {"sample", "--model m.h5 -o out.h5 -n 5 --threads 0", 2, "--threads", "'0'", "out.h5", 0},
    {"sample", "--model m.h5 -o out.h5 -n 5 extra", 2, "extra", "unexpected", "out.h5", 0},
    {"sample", "--model missing.h5 -o out.h5 -n 5", 1, "missing.h5", "No such file", "out.h5", 1},
    {"sample", "--model empty.h5 -o out.h5 -n 5", 1, "empty.h5", "not an HDF5", "out.h5", 1},
    {"sample", "--model text.h5 -o out.h5 -n 5", 1, "text.h5", "not an HDF5", "out.h5", 1},
    {"sample", "--model adir.h5 -o out.h5 -n 5", 1, "adir.h5", "not a regular file", "out.h5", 0},
    {"sample", "--model trunc.h5 -o out.h5 -n 5", 1, "trunc.h5", "truncated", "out.h5", 1},
    {"sample", "--model good.h5 -o out.h5 -n 5", 1, "good.h5", "not a gansim model", "out.h5", 1},
    {"sample", "--model qt.h5 -o out.h5 -n 5", 1, "qt.h5", "not a gansim model", "out.h5", 0},
    /* damaged checkpoints */
    {"sample", "--model mnan.h5 -o out.h5 -n 5", 1, "mnan.h5", "not finite", "out.h5", 1},
    {"sample", "--model mshape.h5 -o out.h5 -n 5", 1, "mshape.h5", "expected 50", "out.h5", 1},
    {"sample", "--model mgroup.h5 -o out.h5 -n 5", 1, "mgroup.h5", "missing", "out.h5", 0},
    {"sample", "--model mkind.h5 -o out.h5 -n 5", 1, "mkind.h5", "unknown model kind", "out.h5", 1},
    {"sample", "--model mnsub.h5 -o out.h5 -n 5", 1, "mnsub.h5", "sub-models", "out.h5", 0},
    {"sample", "--model mprop.h5 -o out.h5 -n 5", 1, "mprop.h5", "proportions", "out.h5", 1},
    {"sample", "--model mnan.h5 -o out.h5 --bunch-crossings 1", 1, "mnan.h5", "not finite",
     "out.h5", 0},
};

/* Cases that need an environment variable set for the tool. */
static const struct {
    const char *env;
    bad_case c;
} env_cases[] = {
    /* plugins switched off by the user: the filter is named all the same */
    {"HDF5_PLUGIN_PRELOAD=::",
     {"prep", "fit --in lzf.h5 -o out.h5", 1, "lzf.h5",
      "HDF5 filter 32000 (LZF, \"lzf\" in the file), which is not available here; HDF5 plugins "
      "are switched off (HDF5_PLUGIN_PRELOAD=::)", "out.h5", 0}},
};

static int file_is(const char *p, const char *content)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return 0;
    char buf[64] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strcmp(buf, content) == 0;
}

/* a leftover "NAME.tmp.PID" anywhere in d (one level of subdirectories) */
static int has_tmp(const char *d, int depth)
{
    DIR *dp = opendir(d);
    if (!dp)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(dp))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || !strcmp(e->d_name, "..")))
            continue;
        if (strstr(e->d_name, ".tmp."))
            found = 1;
        else if (depth > 0) {
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", d, e->d_name);
            found = has_tmp(sub, depth - 1);
        }
    }
    closedir(dp);
    return found;
}

/* entries in the directory holding path */
static int count_entries(const char *path)
{
    char d[512];
    snprintf(d, sizeof d, "%s", path);
    char *slash = strrchr(d, '/');
    if (slash)
        *slash = '\0';
    DIR *dp = opendir(d);
    if (!dp)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(dp);
    return n;
}

/* Runs one case; returns NULL when it passes, else what went wrong. */
static const char *check_case(const bad_case *c, const char *env, char *why, size_t n)
{
    const char *keep_text = "KEEP this content\n";
    if (c->out && c->keep) {
        char parent[512];
        snprintf(parent, sizeof parent, "%s", tpath(c->out));
        char *slash = strrchr(parent, '/');
        *slash = '\0';
        mkdir(parent, 0755);
        write_str(c->out, keep_text);
    }
    char cmd[PATH_MAX + 2048];
    /* timeout: a bad input that is wrongly accepted may start real work
     * (training, say); that must fail the case, not hang the suite */
    char bin[PATH_MAX];
    if (!realpath(gs_test_bin(), bin)) /* the command runs from the scratch dir */
        return "tool directory not found (set GANSIM_BIN)";
    int cn = snprintf(cmd, sizeof cmd,
                      "cd '%s' && %s timeout -k 5 20 '%s/gansim-%s' %s >/dev/null 2>stderr.txt",
                      dir, env ? env : "", bin, c->tool, c->args);
    if (cn < 0 || (size_t)cn >= sizeof cmd)
        return "command line too long";
    int st = system(cmd);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    char err[4096] = "";
    FILE *f = fopen(tpath("stderr.txt"), "r");
    size_t len = f ? fread(err, 1, sizeof err - 1, f) : 0;
    if (f)
        fclose(f);
    err[len] = '\0';
    unlink(tpath("stderr.txt"));
    const char *nl = strchr(err, '\n');
    char prefix[64];
    snprintf(prefix, sizeof prefix, "gansim-%s: ", c->tool);
    const char *bad = NULL;
    if (code == 124)
        bad = "timed out (bad input accepted?)";
    else if (code >= 128)
        bad = "killed by a signal";
    else if (code != c->code)
        bad = "wrong exit status";
    else if (strstr(err, "Sanitizer") || strstr(err, "runtime error"))
        bad = "sanitizer report";
    else if (!nl || nl[1] != '\0')
        bad = "stderr is not exactly one line";
    else if (strncmp(err, prefix, strlen(prefix)) != 0)
        bad = "message does not start with the tool name";
    else if (!strstr(err, c->what))
        bad = "message does not name the file/option";
    else if (!strstr(err, c->why))
        bad = "message does not state the problem";
    else if (c->out && c->keep && !file_is(tpath(c->out), keep_text))
        bad = "existing output was overwritten";
    else if (c->out && c->keep && strchr(c->out, '/') && count_entries(tpath(c->out)) != 1)
        bad = "files written next to the existing output";
    else if (c->out && !c->keep && access(tpath(c->out), F_OK) == 0)
        bad = "partial output left behind";
    else if (has_tmp(dir, 1))
        bad = "temporary file left behind";
    if (bad)
        snprintf(why, n, "%s (exit %d, stderr: %.300s)", bad, code, err);
    /* reset what the case may have made */
    if (c->out) {
        char rm[1024];
        snprintf(rm, sizeof rm, "cd '%s' && rm -rf run rep exo out.h5 *.tmp.*", dir);
        if (system(rm) != 0)
            return "cleanup failed";
    }
    return bad ? why : NULL;
}

START_TEST(t_bad_input_matrix)
{
    gs_test_tmpdir(dir, sizeof dir);
    make_files();
    /* sanitizer reports must not masquerade as exit status 1; huge
     * allocations must fail like they do without ASan */
    setenv("ASAN_OPTIONS", "exitcode=99:allocator_may_return_null=1", 1);
    setenv("UBSAN_OPTIONS", "halt_on_error=1:exitcode=99", 1);
    setenv("GANSIM_THREADS", "1", 1);
    /* HDF5 1.10 leaks on some corrupt-file paths (not ours); the tools run
     * from the scratch directory, so the suppression path is absolute */
    char cwd[512], supp[700];
    if (getcwd(cwd, sizeof cwd)) {
        snprintf(supp, sizeof supp, "suppressions=%s/tests/fuzz/lsan.supp", cwd);
        if (access(supp + strlen("suppressions="), R_OK) == 0)
            setenv("LSAN_OPTIONS", supp, 1);
    }
    int nplain = (int)(sizeof cases / sizeof cases[0]);
    int nenv = (int)(sizeof env_cases / sizeof env_cases[0]);
    int ncases = nplain + nenv, nfail = 0;
    for (int i = 0; i < ncases; i++) {
        char why[1024];
        const bad_case *c = i < nplain ? &cases[i] : &env_cases[i - nplain].c;
        const char *env = i < nplain ? NULL : env_cases[i - nplain].env;
        const char *r = check_case(c, env, why, sizeof why);
        if (r) {
            nfail++;
            fprintf(stderr, "FAIL %sgansim-%s %s: %s\n", env ? env : "", c->tool, c->args, r);
        }
    }
    H5Fclose(locked_file);
    gs_dir_unlock(&lock_run);
    gs_dir_unlock(&lock_res);
    printf("bad-input matrix: %d cases, %d failed\n", ncases, nfail);
    fflush(stdout);
    ck_assert_msg(nfail == 0, "%d of %d bad-input cases failed (listed on stderr)", nfail, ncases);
    gs_test_rmdir(dir);
}
END_TEST

/* A file compressed with LZF reads although the user's HDF5_PLUGIN_PATH
 * points elsewhere (HDF5 then no longer searches its own plugin directory
 * unless gansim adds it back), and values come back exactly. */
START_TEST(t_plugin_dir_kept)
{
    gs_test_tmpdir(dir, sizeof dir);
    lzf_file("lzf.h5");
    ck_assert_int_eq(gs_test_run("HDF5_PLUGIN_PATH=%s/none '%s/gansim-prep' fit --in %s -o %s "
                                 "--n-quantiles 10 2>%s",
                                 dir, gs_test_bin(), tpath("lzf.h5"), tpath("q.h5"),
                                 tpath("err.txt")),
                     0);
    ck_assert_int_eq(access(tpath("q.h5"), F_OK), 0);
    /* an existing directory without plugins, before a missing one */
    ck_assert_int_eq(gs_test_run("mkdir %s/empty && HDF5_PLUGIN_PATH=%s/empty:%s/none "
                                 "'%s/gansim-prep' fit --in %s -o %s --n-quantiles 10 2>%s",
                                 dir, dir, dir, gs_test_bin(), tpath("lzf.h5"), tpath("q2.h5"),
                                 tpath("err.txt")),
                     0);
    pp_quantile q1, q2;
    ck_assert_int_eq(pp_quantile_load_file(&q1, tpath("q.h5")), GS_OK);
    ck_assert_int_eq(pp_quantile_load_file(&q2, tpath("q2.h5")), GS_OK);
    ck_assert_int_eq(q1.f, 6);
    ck_assert_int_eq(q2.nq, q1.nq);
    ck_assert_mem_eq(q1.quantiles, q2.quantiles, (size_t)(q1.nq * q1.f) * sizeof(double));
    ck_assert_double_eq(q1.quantiles[(q1.nq - 1) * 6], 4.0); /* max of (i % 17) * 0.25 */
    pp_quantile_free(&q1);
    pp_quantile_free(&q2);
    gs_test_rmdir(dir);
}
END_TEST

/* scripts/install-deps waits (bounded, saying so) while another package
 * manager holds the dpkg lock, instead of failing at once. apt-get and
 * dpkg-query are stand-ins here that report every package missing and the
 * lock held for the first two calls. */
START_TEST(t_install_deps_waits_for_lock)
{
    char d[64];
    gs_test_tmpdir(d, sizeof d);
    char p[256];
    snprintf(p, sizeof p, "%s/apt-get", d);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "#!/bin/sh\n"
               "n=$(cat \"%s/count\" 2>/dev/null || echo 0); n=$((n+1)); echo $n >\"%s/count\"\n"
               "echo \"apt-get $*\" >>\"%s/log\"\n"
               "if [ $n -le ${FAKE_LOCKED:-0} ]; then\n"
               "  echo 'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process "
               "4242 (apt-get)' >&2\n"
               "  echo 'E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), "
               "is another process using it?' >&2\n"
               "  exit 100\n"
               "fi\n",
            d, d, d);
    fclose(f);
    snprintf(p, sizeof p, "%s/dpkg-query", d);
    f = fopen(p, "w");
    fputs("#!/bin/sh\nexit 1\n", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/sudo", d);
    f = fopen(p, "w");
    fputs("#!/bin/sh\nexec \"$@\"\n", f);
    fclose(f);
    ck_assert_int_eq(gs_test_run("chmod +x %s/apt-get %s/dpkg-query %s/sudo", d, d, d), 0);
    /* a copy of the script in a tree of its own, whose install-ort (the npm
     * step that follows) does nothing */
    ck_assert_int_eq(gs_test_run("mkdir %s/tree %s/tree/scripts && cp scripts/install-deps "
                                 "%s/tree/scripts/ && printf '#!/bin/sh\\nexit 0\\n' > "
                                 "%s/tree/scripts/install-ort && chmod +x %s/tree/scripts/*",
                                 d, d, d, d, d), 0);
    /* locked twice, then free: waits, then installs */
    ck_assert_int_eq(gs_test_run("FAKE_LOCKED=2 GANSIM_APT_POLL=1 PATH=%s:$PATH "
                                 "%s/tree/scripts/install-deps 2>%s/err.txt",
                                 d, d, d),
                     0);
    char err[4096] = "", log[4096] = "";
    snprintf(p, sizeof p, "%s/err.txt", d);
    f = fopen(p, "r");
    err[fread(err, 1, sizeof err - 1, f)] = '\0';
    fclose(f);
    ck_assert_msg(strstr(err, "holds the lock (process 4242); waiting up to"), "stderr: %s", err);
    snprintf(p, sizeof p, "%s/log", d);
    f = fopen(p, "r");
    log[fread(log, 1, sizeof log - 1, f)] = '\0';
    fclose(f);
    ck_assert_msg(strstr(log, "apt-get install") && strstr(log, "hdf5-plugin-lzf") &&
                  strstr(log, "bitshuffle") && strstr(log, "hdf5-filter-plugin-blosc-serial"),
                  "log: %s", log);
    /* held for longer than GANSIM_APT_WAIT: gives up, naming the holder */
    ck_assert_int_eq(gs_test_run("rm -f %s/count; FAKE_LOCKED=1000 GANSIM_APT_WAIT=2 "
                                 "GANSIM_APT_POLL=1 PATH=%s:$PATH %s/tree/scripts/install-deps "
                                 "2>%s/err.txt",
                                 d, d, d, d),
                     1);
    snprintf(p, sizeof p, "%s/err.txt", d);
    f = fopen(p, "r");
    err[fread(err, 1, sizeof err - 1, f)] = '\0';
    fclose(f);
    ck_assert_msg(strstr(err, "still locked after 2 s") && strstr(err, "process 4242"),
                  "stderr: %s", err);
    gs_test_rmdir(d);
}
END_TEST

/* The in-memory entry points (used by the fuzzers) read what the file
 * readers read, and fail the same way. */
START_TEST(t_memory_entry_points)
{
    char d[64], p[128];
    gs_test_tmpdir(d, sizeof d);
    snprintf(p, sizeof p, "%s/e.h5", d);
    ds_events ev, back, img;
    ck_assert_int_eq(ds_toy_luxe(50, 3, &ev), GS_OK);
    ck_assert_int_eq(ds_events_write(p, &ev), GS_OK);
    ck_assert_int_eq(ds_events_read(p, NULL, &back), GS_OK);
    FILE *f = fopen(p, "rb");
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert_int_eq(ds_events_read_image(buf, n, "mem.h5", NULL, &img), GS_OK);
    ck_assert_int_eq(img.n, back.n);
    ck_assert_int_eq(img.f, back.f);
    ck_assert_mem_eq(img.x, back.x, (size_t)(img.n * img.f) * sizeof(float));
    ck_assert_mem_eq(img.pdg, back.pdg, (size_t)img.n * sizeof(int32_t));
    ds_events_free(&img);
    /* half an image: a clean failure naming the stand-in name */
    ck_assert_int_ne(ds_events_read_image(buf, n / 2, "mem.h5", NULL, &img), GS_OK);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "mem.h5"));
    ck_assert_int_eq(ds_events_read_image(buf, 10, "mem.h5", NULL, &img), GS_ERR_FORMAT);
    ds_images im;
    ck_assert_int_eq(ds_images_read_image(buf, n, "mem.h5", NULL, &im), GS_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "missing dataset /images"));
    /* CSV stream */
    const char csv[] = "x,y,pdg\n1,2,22\n3,4,11\n";
    f = fmemopen((void *)csv, sizeof csv - 1, "r");
    ck_assert_int_eq(ds_events_read_csv_stream(f, "mem.csv", NULL, &img), GS_OK);
    fclose(f);
    ck_assert_int_eq(img.n, 2);
    ck_assert_int_eq(img.pdg[1], 11);
    ds_events_free(&img);
    /* INI text: first error wins and carries its line */
    md_luxe_cfg c;
    md_luxe_cfg_default(&c);
    ck_assert_int_eq(md_cfg_load_ini_string(md_luxe_cfg_fields, &c, "[train]\nbatch = 64\n",
                                            "mem.ini"), GS_OK);
    ck_assert_int_eq(c.batch, 64);
    ck_assert_int_eq(md_cfg_load_ini_string(md_luxe_cfg_fields, &c, "[train]\nbatch = 64\nx = 1\n[y\n",
                                            "mem.ini"), GS_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "mem.ini:3: unknown config key 'train.x'"));
    ck_assert_int_eq(md_cfg_load_ini_string(md_luxe_cfg_fields, &c, "[train\nbatch = 64\n",
                                            "mem.ini"), GS_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "mem.ini:1: syntax error"));
    ds_events_free(&back);
    ds_events_free(&ev);
    gs_test_rmdir(d);
}
END_TEST

static Suite *badinput_suite(void)
{
    Suite *s = suite_create("badinput");
    TCase *tc = tcase_create("matrix");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, t_bad_input_matrix);
    tcase_add_test(tc, t_memory_entry_points);
    tcase_add_test(tc, t_plugin_dir_kept);
    tcase_add_test(tc, t_install_deps_waits_for_lock);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(badinput_suite)

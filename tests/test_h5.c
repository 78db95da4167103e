#include "core/gs_h5.h"
#include "testutil.h"

static char dir[64];
static char path[256];

static void setup(void)
{
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/t.h5", dir);
}

static void teardown(void) { gs_test_rmdir(dir); }

#define ck_msg_has(sub)                                                                    \
    ck_assert_msg(strstr(gs_errmsg(), sub) != NULL, "message '%s' lacks '%s'", gs_errmsg(), sub)

START_TEST(test_roundtrip_types_ranks)
{
    hid_t f;
    ck_assert_int_eq(gs_h5_create(path, &f), GS_OK);
    float a[24];
    double b[24];
    int32_t c[24];
    int64_t d[24];
    uint64_t e[24];
    for (int i = 0; i < 24; i++) {
        a[i] = 0.1f * (float)i - 1.0f;
        b[i] = 1e300 / (i + 1);
        c[i] = -i * 1000;
        d[i] = (int64_t)i << 40;
        e[i] = UINT64_MAX - (uint64_t)i;
    }
    ck_assert_int_eq(gs_h5_write(f, "r1", GS_H5_F32, 1, (int64_t[]){24}, a), GS_OK);
    ck_assert_int_eq(gs_h5_write(f, "g/h/r2", GS_H5_F64, 2, (int64_t[]){4, 6}, b), GS_OK);
    ck_assert_int_eq(gs_h5_write(f, "r3", GS_H5_I32, 3, (int64_t[]){2, 3, 4}, c), GS_OK);
    ck_assert_int_eq(gs_h5_write(f, "r4", GS_H5_I64, 4, (int64_t[]){1, 2, 3, 4}, d), GS_OK);
    ck_assert_int_eq(gs_h5_write(f, "u", GS_H5_U64, 1, (int64_t[]){24}, e), GS_OK);
    ck_assert_int_eq(gs_h5_attr_write_str(f, "g/h/r2", "note", "héllo,world"), GS_OK);
    ck_assert_int_eq(gs_h5_attr_write_f64(f, "/", "pi", 3.25), GS_OK);
    ck_assert_int_eq(gs_h5_attr_write_i64(f, "g", "step", -77), GS_OK);
    ck_assert_int_eq(gs_h5_close(f), GS_OK);

    ck_assert_int_eq(gs_h5_open(path, 0, &f), GS_OK);
    int64_t dims[4];
    void *p;
    ck_assert_int_eq(gs_h5_read(f, "r1", GS_H5_F32, 1, dims, &p), GS_OK);
    ck_assert_int_eq(dims[0], 24);
    ck_assert_mem_eq(p, a, sizeof a);
    free(p);
    ck_assert_int_eq(gs_h5_read(f, "g/h/r2", GS_H5_F64, 2, dims, &p), GS_OK);
    ck_assert_mem_eq(p, b, sizeof b);
    free(p);
    ck_assert_int_eq(gs_h5_read(f, "r3", GS_H5_I32, 3, dims, &p), GS_OK);
    ck_assert_mem_eq(p, c, sizeof c);
    free(p);
    ck_assert_int_eq(gs_h5_read(f, "r4", GS_H5_I64, 4, dims, &p), GS_OK);
    ck_assert_mem_eq(p, d, sizeof d);
    ck_assert_int_eq(dims[3], 4);
    free(p);
    uint64_t e2[24];
    ck_assert_int_eq(gs_h5_read_into(f, "u", GS_H5_U64, 1, (int64_t[]){24}, e2), GS_OK);
    ck_assert_mem_eq(e2, e, sizeof e);
    /* read_into demands the exact shape */
    ck_assert_int_eq(gs_h5_read_into(f, "u", GS_H5_U64, 1, (int64_t[]){23}, e2), GS_ERR_FORMAT);
    ck_msg_has("expected 23");
    /* integers convert to float on read */
    ck_assert_int_eq(gs_h5_read(f, "r3", GS_H5_F32, 3, dims, &p), GS_OK);
    ck_assert_float_eq(((float *)p)[5], -5000.0f);
    free(p);
    char *s;
    ck_assert_int_eq(gs_h5_attr_read_str(f, "g/h/r2", "note", &s), GS_OK);
    ck_assert_str_eq(s, "héllo,world");
    free(s);
    double v;
    int64_t iv;
    ck_assert_int_eq(gs_h5_attr_read_f64(f, "/", "pi", &v), GS_OK);
    ck_assert_double_eq(v, 3.25);
    ck_assert_int_eq(gs_h5_attr_read_i64(f, "g", "step", &iv), GS_OK);
    ck_assert_int_eq(iv, -77);
    ck_assert_int_eq(gs_h5_attr_read_i64(f, "/", "pi", &iv), GS_ERR_FORMAT); /* float */
    ck_assert_int_eq(gs_h5_exists(f, "g/h/r2"), 1);
    ck_assert_int_eq(gs_h5_exists(f, "g/x/r2"), 0);
    ck_assert_int_eq(gs_h5_exists(f, "nope"), 0);
    ck_assert_int_eq(gs_h5_attr_exists(f, "g", "step"), 1);
    ck_assert_int_eq(gs_h5_attr_exists(f, "g", "nope"), 0);
    ck_assert_int_eq(gs_h5_attr_exists(f, "zz", "step"), 0);
    hid_t g;
    ck_assert_int_eq(gs_h5_group_open(f, "g/h", &g), GS_OK);
    int rank;
    ck_assert_int_eq(gs_h5_shape(g, "r2", &rank, dims), GS_OK);
    ck_assert_int_eq(rank, 2);
    ck_assert_int_eq(dims[1], 6);
    /* messages name the file and the full object path */
    ck_assert_int_eq(gs_h5_read(g, "r2", GS_H5_F64, 1, dims, &p), GS_ERR_FORMAT);
    ck_msg_has("t.h5: /g/h/r2 has rank 2, expected 1");
    H5Gclose(g);
    ck_assert_int_eq(gs_h5_group_open(f, "r1", &g), GS_ERR_FORMAT);
    ck_msg_has("not a group");
    ck_assert_int_eq(gs_h5_read(f, "missing", GS_H5_F32, 1, dims, &p), GS_ERR_FORMAT);
    ck_msg_has("/missing: missing dataset");
    ck_assert_int_eq(gs_h5_attr_read_str(f, "/", "absent", &s), GS_ERR_FORMAT);
    ck_msg_has("missing attribute absent");
    gs_h5_close(f);
}
END_TEST

START_TEST(test_groups_nested)
{
    hid_t f, g, g2;
    ck_assert_int_eq(gs_h5_create(path, &f), GS_OK);
    ck_assert_int_eq(gs_h5_group_create(f, "model/gen/layer0", &g), GS_OK);
    ck_assert_int_eq(gs_h5_write(g, "w", GS_H5_F32, 2, (int64_t[]){2, 2},
                                 (float[]){1, 2, 3, 4}), GS_OK);
    /* create on an existing group opens it */
    ck_assert_int_eq(gs_h5_group_create(f, "model/gen", &g2), GS_OK);
    ck_assert_int_eq(gs_h5_exists(g2, "layer0/w"), 1);
    /* writing the same dataset again replaces it */
    ck_assert_int_eq(gs_h5_write(g, "w", GS_H5_F32, 1, (int64_t[]){3}, (float[]){5, 6, 7}),
                     GS_OK);
    int rank;
    int64_t dims[4];
    ck_assert_int_eq(gs_h5_shape(f, "model/gen/layer0/w", &rank, dims), GS_OK);
    ck_assert_int_eq(rank, 1);
    ck_assert_int_eq(dims[0], 3);
    H5Gclose(g);
    H5Gclose(g2);
    ck_assert_int_eq(gs_h5_close(f), GS_OK);
}
END_TEST

/* What h5py writes for non-default strings: fixed-length attributes, arrays
 * of strings; and what we must refuse: string and compound datasets. */
START_TEST(test_foreign_strings_and_types)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 8);
    H5Tset_strpad(st, H5T_STR_NULLPAD);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "fixed", st, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, st, "x,y,t\0\0\0");
    H5Aclose(a);
    H5Sclose(sp);
    hsize_t three = 3;
    sp = H5Screate_simple(1, &three, NULL);
    a = H5Acreate2(f, "arr", st, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, st, "px\0\0\0\0\0\0py\0\0\0\0\0\0pz\0\0\0\0\0\0");
    H5Aclose(a);
    hid_t d = H5Dcreate2(f, "strings", st, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, "a\0\0\0\0\0\0\0b\0\0\0\0\0\0\0c\0\0\0\0\0\0\0");
    H5Dclose(d);
    hid_t ct = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(ct, "a", 0, H5T_NATIVE_FLOAT);
    H5Tinsert(ct, "b", 4, H5T_NATIVE_FLOAT);
    d = H5Dcreate2(f, "compound", ct, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    float cv[6] = {1, 2, 3, 4, 5, 6};
    H5Dwrite(d, ct, H5S_ALL, H5S_ALL, H5P_DEFAULT, cv);
    H5Dclose(d);
    d = H5Dcreate2(f, "dbl", H5T_IEEE_F64BE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, (double[]){0.5, 1.5, 1e40});
    H5Dclose(d);
    H5Sclose(sp);
    /* a dataset declaring 2^41 elements (chunked, nothing allocated) */
    hsize_t huge = (hsize_t)1 << 41, chunk = 1024;
    sp = H5Screate_simple(1, &huge, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    d = H5Dcreate2(f, "huge", H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Tclose(ct);
    H5Tclose(st);
    H5Fclose(f);

    ck_assert_int_eq(gs_h5_open(path, 0, &f), GS_OK);
    char *s;
    ck_assert_int_eq(gs_h5_attr_read_str(f, "/", "fixed", &s), GS_OK);
    ck_assert_str_eq(s, "x,y,t");
    free(s);
    ck_assert_int_eq(gs_h5_attr_read_str(f, "/", "arr", &s), GS_OK);
    ck_assert_str_eq(s, "px,py,pz");
    free(s);
    int64_t dims[4];
    void *p = NULL;
    ck_assert_int_eq(gs_h5_read(f, "strings", GS_H5_F32, 1, dims, &p), GS_ERR_FORMAT);
    ck_msg_has("/strings has string type, expected numeric");
    ck_assert_int_eq(gs_h5_read(f, "compound", GS_H5_F32, 1, dims, &p), GS_ERR_FORMAT);
    ck_msg_has("compound type");
    ck_assert_int_eq(gs_h5_read(f, "dbl", GS_H5_I32, 1, dims, &p), GS_ERR_FORMAT);
    ck_msg_has("float type, expected integer");
    /* big-endian float64 converts to native float64 exactly; to float32 a
     * finite 1e40 is refused by position and value (HDF5 alone would turn
     * it into inf) */
    ck_assert_int_eq(gs_h5_read(f, "dbl", GS_H5_F64, 1, dims, &p), GS_OK);
    ck_assert_double_eq(((double *)p)[1], 1.5);
    ck_assert_double_eq(((double *)p)[2], 1e40);
    free(p);
    ck_assert_int_eq(gs_h5_read(f, "dbl", GS_H5_F32, 1, dims, &p), GS_ERR_FORMAT);
    ck_msg_has("/dbl row 2: value 1e+40 is outside the float32 range");
    ck_assert_ptr_null(p);
    ck_assert_int_eq(gs_h5_read(f, "huge", GS_H5_F32, 1, dims, &p), GS_ERR_FORMAT);
    ck_msg_has("2^40");
    ck_assert_ptr_null(p);
    gs_h5_close(f);
}
END_TEST

START_TEST(test_open_failures)
{
    hid_t f;
    char p2[300];
    snprintf(p2, sizeof p2, "%s/missing.h5", dir);
    ck_assert_int_eq(gs_h5_open(p2, 0, &f), GS_ERR_IO);
    ck_msg_has("missing.h5: No such file");
    FILE *fp = fopen(path, "w");
    fputs("x,y\n1,2\n", fp);
    fclose(fp);
    ck_assert_int_eq(gs_h5_open(path, 0, &f), GS_ERR_FORMAT);
    ck_msg_has("not an HDF5 file");
    ck_assert_int_eq(gs_h5_open(dir, 0, &f), GS_ERR_IO);
    /* truncated: a real file cut to half its size */
    ck_assert_int_eq(gs_h5_create(path, &f), GS_OK);
    float big[4096] = {0};
    ck_assert_int_eq(gs_h5_write(f, "x", GS_H5_F32, 1, (int64_t[]){4096}, big), GS_OK);
    ck_assert_int_eq(gs_h5_close(f), GS_OK);
    ck_assert_int_eq(truncate(path, 8000), 0);
    int rc = gs_h5_open(path, 0, &f);
    if (rc == GS_OK) { /* header intact: the read must fail instead */
        void *p;
        int64_t dims[4];
        rc = gs_h5_read(f, "x", GS_H5_F32, 1, dims, &p);
        gs_h5_close(f);
    }
    ck_assert_int_ne(rc, GS_OK);
    ck_msg_has("truncated");
}
END_TEST

START_TEST(test_csv_names)
{
    char **v;
    int64_t n;
    ck_assert_int_eq(gs_h5_split_csv(" x, y ,px", &v, &n), GS_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(v[0], "x");
    ck_assert_str_eq(v[1], "y");
    ck_assert_str_eq(v[2], "px");
    char *j = gs_h5_join_csv(v, n);
    ck_assert_str_eq(j, "x,y,px");
    free(j);
    gs_h5_free_strv(v, n);
}
END_TEST

static Suite *h5_suite(void)
{
    Suite *s = suite_create("h5");
    TCase *tc = tcase_create("h5");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_roundtrip_types_ranks);
    tcase_add_test(tc, test_groups_nested);
    tcase_add_test(tc, test_foreign_strings_and_types);
    tcase_add_test(tc, test_open_failures);
    tcase_add_test(tc, test_csv_names);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(h5_suite)

#include "core/gs_h5.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

size_t gs_h5_type_size(gs_h5_type t)
{
    switch (t) {
    case GS_H5_F32: return 4;
    case GS_H5_F64: return 8;
    case GS_H5_I32: return 4;
    case GS_H5_I64: return 8;
    case GS_H5_U64: return 8;
    case GS_H5_U8: return 1;
    }
    return 0;
}

static hid_t mem_type(gs_h5_type t)
{
    switch (t) {
    case GS_H5_F32: return H5T_NATIVE_FLOAT;
    case GS_H5_F64: return H5T_NATIVE_DOUBLE;
    case GS_H5_I32: return H5T_NATIVE_INT32;
    case GS_H5_I64: return H5T_NATIVE_INT64;
    case GS_H5_U64: return H5T_NATIVE_UINT64;
    case GS_H5_U8: return H5T_NATIVE_UINT8;
    }
    return H5I_INVALID_HID;
}

/* File types are fixed little-endian so files are identical across hosts. */
static hid_t file_type(gs_h5_type t)
{
    switch (t) {
    case GS_H5_F32: return H5T_IEEE_F32LE;
    case GS_H5_F64: return H5T_IEEE_F64LE;
    case GS_H5_I32: return H5T_STD_I32LE;
    case GS_H5_I64: return H5T_STD_I64LE;
    case GS_H5_U64: return H5T_STD_U64LE;
    case GS_H5_U8: return H5T_STD_U8LE;
    }
    return H5I_INVALID_HID;
}

void gs_h5_quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* The innermost HDF5 error description (most specific cause), if any. */
static herr_t first_err(unsigned n, const H5E_error2_t *e, void *data)
{
    if (n == 0 && e->desc)
        snprintf((char *)data, 256, "%s", e->desc);
    return 0;
}

static const char *h5_cause(char *buf)
{
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_err, buf);
    return buf[0] ? buf : "unknown HDF5 error";
}

void gs_h5_where(hid_t loc, const char *name, char *buf, size_t n)
{
    char fname[512] = "?", lpath[512] = "";
    if (H5Fget_name(loc, fname, sizeof fname) < 0)
        snprintf(fname, sizeof fname, "?");
    if (H5Iget_name(loc, lpath, sizeof lpath) < 0)
        lpath[0] = '\0';
    if (!name || !strcmp(name, ".") || !name[0]) {
        snprintf(buf, n, "%s: %s", fname, lpath[0] ? lpath : "/");
    } else if (name[0] == '/') {
        snprintf(buf, n, "%s: %s", fname, name);
    } else {
        size_t l = strlen(lpath);
        snprintf(buf, n, "%s: %s%s%s", fname, lpath, (l && lpath[l - 1] == '/') ? "" : "/", name);
    }
}

int gs_h5_create(const char *path, hid_t *file)
{
    gs_h5_quiet();
    *file = H5I_INVALID_HID;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return gs_error(GS_ERR_IO, "%s: cannot create HDF5 property list", path);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    char c[256];
    if (f < 0)
        h5_cause(c); /* before any other call clears the error stack */
    H5Pclose(fapl);
    if (f < 0)
        return gs_error(GS_ERR_IO, "%s: cannot create file (%s)", path, c);
    *file = f;
    return GS_OK;
}

int gs_h5_open(const char *path, int writable, hid_t *file)
{
    gs_h5_quiet();
    *file = H5I_INVALID_HID;
    struct stat st;
    if (stat(path, &st) != 0)
        return gs_error(GS_ERR_IO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return gs_error(GS_ERR_IO, "%s: not a regular file", path);
    htri_t is = H5Fis_hdf5(path);
    if (is == 0)
        return gs_error(GS_ERR_FORMAT, "%s: not an HDF5 file", path);
    if (is < 0) {
        char c[256];
        return gs_error(GS_ERR_IO, "%s: cannot read (%s)", path, h5_cause(c));
    }
    hid_t f = H5Fopen(path, writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        char c[256];
        return gs_error(GS_ERR_FORMAT, "%s: cannot open as HDF5, truncated or corrupt? (%s)", path,
                        h5_cause(c));
    }
    *file = f;
    return GS_OK;
}

int gs_h5_open_image(const void *buf, size_t len, const char *name, hid_t *file)
{
    gs_h5_quiet();
    *file = H5I_INVALID_HID;
    /* HDF5's smallest valid file (superblock + root group) is well above 64
     * bytes; anything shorter cannot be an HDF5 file. */
    if (!buf || len < 64)
        return gs_error(GS_ERR_FORMAT, "%s: not an HDF5 file (%zu bytes)", name, len);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return gs_error(GS_ERR_IO, "%s: cannot create HDF5 property list", name);
    /* core driver without backing store: the image is copied into memory and
     * never written anywhere */
    herr_t e = H5Pset_fapl_core(fapl, 1 << 16, 0);
    if (e >= 0)
        e = H5Pset_file_image(fapl, (void *)buf, len);
    if (e >= 0)
        e = H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    hid_t f = e < 0 ? H5I_INVALID_HID : H5Fopen(name, H5F_ACC_RDONLY, fapl);
    char c[256];
    if (f < 0)
        h5_cause(c);
    H5Pclose(fapl);
    if (f < 0)
        return gs_error(GS_ERR_FORMAT, "%s: cannot open as HDF5, truncated or corrupt? (%s)", name,
                        c);
    *file = f;
    return GS_OK;
}

int gs_h5_close(hid_t file)
{
    if (file < 0)
        return GS_OK;
    char fname[512] = "?";
    H5Fget_name(file, fname, sizeof fname);
    if (H5Fclose(file) < 0) {
        char c[256];
        return gs_error(GS_ERR_IO, "%s: closing failed (%s)", fname, h5_cause(c));
    }
    return GS_OK;
}

/* Link-creation property list that makes missing parent groups. */
static hid_t lcpl_parents(void)
{
    hid_t l = H5Pcreate(H5P_LINK_CREATE);
    if (l >= 0)
        H5Pset_create_intermediate_group(l, 1);
    return l;
}

/* Object-creation property list without modification times, so that the
 * same content always gives the same bytes (sampling is bit-reproducible,
 * and `cmp` should say so). */
static hid_t ocpl_untimed(hid_t cls)
{
    hid_t p = H5Pcreate(cls);
    if (p >= 0)
        H5Pset_obj_track_times(p, 0);
    return p;
}

int gs_h5_exists(hid_t loc, const char *path)
{
    if (!path || !path[0])
        return 0;
    if (!strcmp(path, ".") || !strcmp(path, "/"))
        return 1;
    /* H5Lexists fails on a missing intermediate, so walk the components. */
    char buf[1024];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return 0;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char keep = buf[i];
            buf[i] = '\0';
            htri_t e = H5Lexists(loc, buf, H5P_DEFAULT);
            buf[i] = keep;
            if (e <= 0)
                return 0;
        }
    }
    return 1;
}

int gs_h5_attr_exists(hid_t loc, const char *obj, const char *name)
{
    if (!gs_h5_exists(loc, obj))
        return 0;
    htri_t e = H5Aexists_by_name(loc, obj, name, H5P_DEFAULT);
    return e > 0;
}

int gs_h5_group_create(hid_t loc, const char *path, hid_t *group)
{
    *group = H5I_INVALID_HID;
    if (gs_h5_exists(loc, path))
        return gs_h5_group_open(loc, path, group);
    hid_t l = lcpl_parents(), gc = ocpl_untimed(H5P_GROUP_CREATE);
    hid_t g = H5Gcreate2(loc, path, l, gc, H5P_DEFAULT);
    H5Pclose(gc);
    char c[256];
    if (g < 0)
        h5_cause(c);
    H5Pclose(l);
    if (g < 0) {
        char w[600];
        gs_h5_where(loc, path, w, sizeof w);
        return gs_error(GS_ERR_IO, "%s: cannot create group (%s)", w, c);
    }
    *group = g;
    return GS_OK;
}

int gs_h5_group_open(hid_t loc, const char *path, hid_t *group)
{
    *group = H5I_INVALID_HID;
    char w[600];
    gs_h5_where(loc, path, w, sizeof w);
    if (!gs_h5_exists(loc, path))
        return gs_error(GS_ERR_FORMAT, "%s: missing group", w);
    H5O_info_t info;
    if (H5Oget_info_by_name(loc, path, &info, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_GROUP)
        return gs_error(GS_ERR_FORMAT, "%s: is not a group", w);
    hid_t g = H5Gopen2(loc, path, H5P_DEFAULT);
    if (g < 0)
        return gs_error(GS_ERR_FORMAT, "%s: cannot open group", w);
    *group = g;
    return GS_OK;
}

int gs_h5_write(hid_t loc, const char *name, gs_h5_type t, int rank, const int64_t *dims,
                const void *data)
{
    char w[600];
    gs_h5_where(loc, name, w, sizeof w);
    if (rank < 1 || rank > GS_H5_MAX_RANK)
        return gs_error(GS_ERR_ARG, "%s: rank %d not in 1..%d", w, rank, GS_H5_MAX_RANK);
    hsize_t hd[GS_H5_MAX_RANK];
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return gs_error(GS_ERR_ARG, "%s: negative dimension", w);
        hd[i] = (hsize_t)dims[i];
    }
    if (gs_h5_exists(loc, name) && H5Ldelete(loc, name, H5P_DEFAULT) < 0)
        return gs_error(GS_ERR_IO, "%s: cannot replace existing object", w);
    hid_t sp = H5Screate_simple(rank, hd, NULL);
    hid_t l = lcpl_parents(), dc = ocpl_untimed(H5P_DATASET_CREATE);
    hid_t d = H5Dcreate2(loc, name, file_type(t), sp, l, dc, H5P_DEFAULT);
    H5Pclose(dc);
    char c[256];
    if (d < 0)
        h5_cause(c);
    H5Pclose(l);
    H5Sclose(sp);
    if (d < 0)
        return gs_error(GS_ERR_IO, "%s: cannot create dataset (%s)", w, c);
    herr_t e = H5Dwrite(d, mem_type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    if (e < 0)
        h5_cause(c);
    H5Dclose(d);
    if (e < 0)
        return gs_error(GS_ERR_IO, "%s: write failed (%s)", w, c);
    return GS_OK;
}

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum";
    case H5T_ARRAY: return "array";
    case H5T_VLEN: return "variable-length";
    case H5T_OPAQUE: return "opaque";
    case H5T_BITFIELD: return "bitfield";
    case H5T_REFERENCE: return "reference";
    case H5T_TIME: return "time";
    default: return "unknown";
    }
}

/* Opens a dataset and checks it is numeric (and not float when the memory
 * type is an integer), its rank is in 1..4 and its size is sane. */
static int open_checked(hid_t loc, const char *name, gs_h5_type t, hid_t *dset, int *rank,
                        int64_t dims[GS_H5_MAX_RANK], char *w, size_t wn)
{
    gs_h5_where(loc, name, w, wn);
    *dset = H5I_INVALID_HID;
    if (!gs_h5_exists(loc, name))
        return gs_error(GS_ERR_FORMAT, "%s: missing dataset", w);
    H5O_info_t info;
    if (H5Oget_info_by_name(loc, name, &info, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_DATASET)
        return gs_error(GS_ERR_FORMAT, "%s: is not a dataset", w);
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) {
        char c[256];
        return gs_error(GS_ERR_FORMAT, "%s: cannot open dataset (%s)", w, h5_cause(c));
    }
    hid_t ty = H5Dget_type(d);
    H5T_class_t cls = ty >= 0 ? H5Tget_class(ty) : H5T_NO_CLASS;
    size_t tsize = ty >= 0 ? H5Tget_size(ty) : 0;
    if (ty >= 0)
        H5Tclose(ty);
    int rc = GS_OK;
    if (cls != H5T_INTEGER && cls != H5T_FLOAT)
        rc = gs_error(GS_ERR_FORMAT, "%s has %s type, expected numeric (integer or float)", w,
                      class_name(cls));
    /* HDF5 sizes its conversion buffers by the stored type: a corrupt header
     * claiming kB-wide numbers would have it allocate gigabytes */
    else if (tsize < 1 || tsize > 16)
        rc = gs_error(GS_ERR_FORMAT, "%s has a %zu-byte numeric type, expected 1 to 16 bytes", w,
                      tsize);
    else if (cls == H5T_FLOAT && (t == GS_H5_I32 || t == GS_H5_I64 || t == GS_H5_U64 || t == GS_H5_U8))
        rc = gs_error(GS_ERR_FORMAT, "%s has float type, expected integer", w);
    if (rc) {
        H5Dclose(d);
        return rc;
    }
    hid_t sp = H5Dget_space(d);
    int r = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (r < 1 || r > GS_H5_MAX_RANK) {
        if (sp >= 0)
            H5Sclose(sp);
        H5Dclose(d);
        return gs_error(GS_ERR_FORMAT, "%s has rank %d, expected 1..%d", w, r < 0 ? 0 : r,
                        GS_H5_MAX_RANK);
    }
    hsize_t hd[GS_H5_MAX_RANK];
    H5Sget_simple_extent_dims(sp, hd, NULL);
    H5Sclose(sp);
    size_t total = 1;
    for (int i = 0; i < r; i++) {
        if (hd[i] > (hsize_t)GS_H5_MAX_ELEMS || gs_mul_overflow(total, (size_t)hd[i], &total) ||
            total > (size_t)GS_H5_MAX_ELEMS) {
            H5Dclose(d);
            return gs_error(GS_ERR_FORMAT, "%s declares more than 2^40 elements, refusing", w);
        }
        dims[i] = (int64_t)hd[i];
    }
    *rank = r;
    *dset = d;
    return GS_OK;
}

int gs_h5_shape(hid_t loc, const char *name, int *rank, int64_t dims[GS_H5_MAX_RANK])
{
    char w[600];
    hid_t d = H5I_INVALID_HID;
    int rc = open_checked(loc, name, GS_H5_F64, &d, rank, dims, w, sizeof w);
    if (rc)
        return rc;
    H5Dclose(d);
    return GS_OK;
}

/* A few-kB file must not make us allocate (and HDF5 then fill) gigabytes:
 * `bytes` of data cannot come from a file more than GS_H5_MAX_RATIO times
 * smaller (deflate, the best h5py offers, stays near 1:1000). A chunked
 * dataset that was never written would otherwise read as one huge block of
 * fill values. */
#define GS_H5_MAX_RATIO 1100
static int plausible_size(hid_t d, size_t bytes)
{
    hid_t fid = H5Iget_file_id(d);
    hsize_t fsize = 0;
    herr_t e = fid >= 0 ? H5Fget_filesize(fid, &fsize) : -1;
    if (fid >= 0)
        H5Fclose(fid); /* only drops the reference H5Iget_file_id added */
    if (e < 0)
        return 1; /* cannot tell: let the read itself fail if it must */
    size_t cap;
    if (gs_mul_overflow((size_t)fsize + ((size_t)1 << 16), (size_t)GS_H5_MAX_RATIO, &cap))
        return 1;
    return bytes <= cap;
}

static int read_body(hid_t d, gs_h5_type t, void *buf, const char *w)
{
    herr_t e = H5Dread(d, mem_type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    if (e < 0) {
        char c[256];
        return gs_error(GS_ERR_IO, "%s: read failed, file truncated or corrupt? (%s)", w,
                        h5_cause(c));
    }
    return GS_OK;
}

int gs_h5_read(hid_t loc, const char *name, gs_h5_type t, int rank, int64_t *dims, void **data)
{
    *data = NULL;
    char w[600];
    hid_t d = H5I_INVALID_HID;
    int r;
    int64_t hd[GS_H5_MAX_RANK];
    int rc = open_checked(loc, name, t, &d, &r, hd, w, sizeof w);
    if (rc)
        return rc;
    if (r != rank) {
        H5Dclose(d);
        return gs_error(GS_ERR_FORMAT, "%s has rank %d, expected %d", w, r, rank);
    }
    size_t bytes = gs_h5_type_size(t);
    for (int i = 0; i < r; i++) {
        dims[i] = hd[i];
        if (hd[i] == 0) {
            H5Dclose(d);
            return gs_error(GS_ERR_FORMAT, "%s is empty (dimension %d is 0)", w, i);
        }
        if (gs_mul_overflow(bytes, (size_t)hd[i], &bytes)) {
            H5Dclose(d);
            return gs_error(GS_ERR_NOMEM, "%s: size overflows", w);
        }
    }
    if (!plausible_size(d, bytes)) {
        H5Dclose(d);
        return gs_error(GS_ERR_FORMAT, "%s declares %zu bytes of data, more than the file can "
                        "hold; corrupt?", w, bytes);
    }
    void *buf = malloc(bytes);
    if (!buf) {
        H5Dclose(d);
        return gs_error(GS_ERR_NOMEM, "%s: cannot allocate %zu bytes", w, bytes);
    }
    rc = read_body(d, t, buf, w);
    H5Dclose(d);
    if (rc) {
        free(buf);
        return rc;
    }
    *data = buf;
    return GS_OK;
}

int gs_h5_read_into(hid_t loc, const char *name, gs_h5_type t, int rank, const int64_t *dims,
                    void *data)
{
    char w[600];
    hid_t d = H5I_INVALID_HID;
    int r;
    int64_t hd[GS_H5_MAX_RANK];
    int rc = open_checked(loc, name, t, &d, &r, hd, w, sizeof w);
    if (rc)
        return rc;
    if (r != rank) {
        H5Dclose(d);
        return gs_error(GS_ERR_FORMAT, "%s has rank %d, expected %d", w, r, rank);
    }
    for (int i = 0; i < r; i++) {
        if (hd[i] != dims[i]) {
            H5Dclose(d);
            return gs_error(GS_ERR_FORMAT, "%s has dimension %d = %lld, expected %lld", w, i,
                            (long long)hd[i], (long long)dims[i]);
        }
    }
    rc = read_body(d, t, data, w);
    H5Dclose(d);
    return rc;
}

/* ---- attributes ---------------------------------------------------------- */

static int attr_open(hid_t loc, const char *obj, const char *name, hid_t *a, char *w, size_t wn)
{
    gs_h5_where(loc, obj, w, wn);
    if (!gs_h5_attr_exists(loc, obj, name))
        return gs_error(GS_ERR_FORMAT, "%s: missing attribute %s", w, name);
    *a = H5Aopen_by_name(loc, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (*a < 0)
        return gs_error(GS_ERR_FORMAT, "%s: cannot open attribute %s", w, name);
    return GS_OK;
}

static int attr_replace(hid_t loc, const char *obj, const char *name, hid_t ftype, hid_t mtype,
                        const void *value)
{
    char w[600];
    gs_h5_where(loc, obj, w, sizeof w);
    if (gs_h5_attr_exists(loc, obj, name))
        H5Adelete_by_name(loc, obj, name, H5P_DEFAULT);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate_by_name(loc, obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    char c[256];
    if (a < 0)
        h5_cause(c);
    H5Sclose(sp);
    if (a < 0)
        return gs_error(GS_ERR_IO, "%s: cannot create attribute %s (%s)", w, name, c);
    herr_t e = H5Awrite(a, mtype, value);
    H5Aclose(a);
    if (e < 0)
        return gs_error(GS_ERR_IO, "%s: cannot write attribute %s", w, name);
    return GS_OK;
}

int gs_h5_attr_write_str(hid_t loc, const char *obj, const char *name, const char *value)
{
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, H5T_VARIABLE);
    H5Tset_cset(st, H5T_CSET_UTF8);
    const char *v = value ? value : "";
    int rc = attr_replace(loc, obj, name, st, st, &v);
    H5Tclose(st);
    return rc;
}

int gs_h5_attr_read_str(hid_t loc, const char *obj, const char *name, char **value)
{
    *value = NULL;
    char w[600];
    hid_t a = H5I_INVALID_HID;
    int rc = attr_open(loc, obj, name, &a, w, sizeof w);
    if (rc)
        return rc;
    hid_t ft = H5Aget_type(a);
    hid_t sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    if (H5Tget_class(ft) != H5T_STRING) {
        H5Tclose(ft);
        H5Aclose(a);
        return gs_error(GS_ERR_FORMAT, "%s: attribute %s is not a string", w, name);
    }
    if (n < 1 || n > 1 << 20) {
        H5Tclose(ft);
        H5Aclose(a);
        return gs_error(GS_ERR_FORMAT, "%s: attribute %s has %lld elements", w, name, (long long)n);
    }
    char **parts = calloc((size_t)n, sizeof *parts);
    rc = parts ? GS_OK : gs_error(GS_ERR_NOMEM, "%s: out of memory", w);
    if (!rc && H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char **raw = calloc((size_t)n, sizeof *raw);
        if (!raw || H5Aread(a, mt, raw) < 0) {
            rc = gs_error(GS_ERR_FORMAT, "%s: cannot read attribute %s", w, name);
        } else {
            for (hssize_t i = 0; i < n && !rc; i++) {
                parts[i] = strdup(raw[i] ? raw[i] : "");
                if (!parts[i])
                    rc = gs_error(GS_ERR_NOMEM, "%s: out of memory", w);
            }
            hid_t msp = H5Screate_simple(1, (hsize_t[]){(hsize_t)n}, NULL);
            H5Dvlen_reclaim(mt, msp, H5P_DEFAULT, raw);
            H5Sclose(msp);
        }
        free(raw);
        H5Tclose(mt);
    } else if (!rc) {
        size_t sz = H5Tget_size(ft);
        size_t tot;
        if (sz == 0 || sz > 1 << 20 || gs_mul_overflow(sz, (size_t)n, &tot)) {
            rc = gs_error(GS_ERR_FORMAT, "%s: attribute %s has bad string size", w, name);
        } else {
            char *raw = malloc(tot);
            hid_t mt = H5Tcopy(ft); /* same size, padding and cset as stored */
            if (!raw || H5Aread(a, mt, raw) < 0) {
                rc = gs_error(GS_ERR_FORMAT, "%s: cannot read attribute %s", w, name);
            } else {
                for (hssize_t i = 0; i < n && !rc; i++) {
                    parts[i] = strndup(raw + (size_t)i * sz, sz); /* nul/space padding */
                    if (!parts[i]) {
                        rc = gs_error(GS_ERR_NOMEM, "%s: out of memory", w);
                    } else {
                        size_t l = strlen(parts[i]);
                        while (l && parts[i][l - 1] == ' ')
                            parts[i][--l] = '\0';
                    }
                }
            }
            H5Tclose(mt);
            free(raw);
        }
    }
    H5Tclose(ft);
    H5Aclose(a);
    if (!rc) {
        *value = gs_h5_join_csv(parts, n);
        if (!*value)
            rc = gs_error(GS_ERR_NOMEM, "%s: out of memory", w);
    }
    if (parts)
        gs_h5_free_strv(parts, n);
    return rc;
}

static int attr_read_num(hid_t loc, const char *obj, const char *name, hid_t mt, void *v,
                         int want_int)
{
    char w[600];
    hid_t a = H5I_INVALID_HID;
    int rc = attr_open(loc, obj, name, &a, w, sizeof w);
    if (rc)
        return rc;
    hid_t ft = H5Aget_type(a);
    H5T_class_t cls = H5Tget_class(ft);
    H5Tclose(ft);
    hid_t sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT)
        rc = gs_error(GS_ERR_FORMAT, "%s: attribute %s has %s type, expected numeric", w, name,
                      class_name(cls));
    else if (want_int && cls == H5T_FLOAT)
        rc = gs_error(GS_ERR_FORMAT, "%s: attribute %s has float type, expected integer", w, name);
    else if (n != 1)
        rc = gs_error(GS_ERR_FORMAT, "%s: attribute %s has %lld values, expected 1", w, name,
                      (long long)n);
    else if (H5Aread(a, mt, v) < 0)
        rc = gs_error(GS_ERR_FORMAT, "%s: cannot read attribute %s", w, name);
    H5Aclose(a);
    return rc;
}

int gs_h5_attr_write_f64(hid_t loc, const char *obj, const char *name, double v)
{
    return attr_replace(loc, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

int gs_h5_attr_read_f64(hid_t loc, const char *obj, const char *name, double *v)
{
    return attr_read_num(loc, obj, name, H5T_NATIVE_DOUBLE, v, 0);
}

int gs_h5_attr_write_i64(hid_t loc, const char *obj, const char *name, int64_t v)
{
    return attr_replace(loc, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

int gs_h5_attr_read_i64(hid_t loc, const char *obj, const char *name, int64_t *v)
{
    return attr_read_num(loc, obj, name, H5T_NATIVE_INT64, v, 1);
}

/* ---- comma-separated name lists ----------------------------------------- */

void gs_h5_free_strv(char **v, int64_t n)
{
    if (!v)
        return;
    for (int64_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int gs_h5_split_csv(const char *s, char ***out, int64_t *n)
{
    *out = NULL;
    *n = 0;
    int64_t cnt = 1;
    for (const char *p = s; *p; p++)
        cnt += *p == ',';
    char **v = calloc((size_t)cnt, sizeof *v);
    if (!v)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    const char *p = s;
    for (int64_t i = 0; i < cnt; i++) {
        const char *e = strchr(p, ',');
        if (!e)
            e = p + strlen(p);
        const char *b = p;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        const char *t = e;
        while (t > b && (t[-1] == ' ' || t[-1] == '\t' || t[-1] == '\r' || t[-1] == '\n'))
            t--;
        v[i] = strndup(b, (size_t)(t - b));
        if (!v[i]) {
            gs_h5_free_strv(v, cnt);
            return gs_error(GS_ERR_NOMEM, "out of memory");
        }
        p = *e ? e + 1 : e;
    }
    *out = v;
    *n = cnt;
    return GS_OK;
}

char *gs_h5_join_csv(char *const *v, int64_t n)
{
    size_t len = 1;
    for (int64_t i = 0; i < n; i++)
        len += strlen(v[i]) + 1;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    *p = '\0';
    for (int64_t i = 0; i < n; i++) {
        size_t l = strlen(v[i]);
        if (i)
            *p++ = ',';
        memcpy(p, v[i], l);
        p += l;
        *p = '\0';
    }
    return s;
}

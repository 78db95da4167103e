#include "core/gs_h5.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
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

/* ---- plugins and error causes -------------------------------------------- */

#ifndef GS_H5_PLUGIN_DIR
#define GS_H5_PLUGIN_DIR "" /* the Makefile passes pkg-config's PluginDir */
#endif

/* HDF5 searches HDF5_PLUGIN_PATH *instead of* its built-in plugin directory
 * when the variable is set (conda and pip setups set it), so the filter
 * plugins that scripts/install-deps puts in the distribution's directory
 * would vanish. Append that directory to the search list (after the user's,
 * which keep precedence) unless it is already there. HDF5 1.10 also abandons
 * the whole search at the first listed directory it cannot open, so those
 * are dropped from the list (they cannot hold a plugin anyway).
 * HDF5_PLUGIN_PRELOAD=:: means "no plugins at all": respected. */
static void plugin_path_init(void)
{
    const char *dir = GS_H5_PLUGIN_DIR;
    const char *pre = getenv("HDF5_PLUGIN_PRELOAD");
    if (pre && !strcmp(pre, "::"))
        return;
    unsigned n = 0;
    if (H5PLsize(&n) < 0)
        return;
    int have = 0;
    for (unsigned i = n; i-- > 0;) {
        char b[4096];
        ssize_t l = H5PLget(i, b, sizeof b);
        if (l <= 0 || (size_t)l >= sizeof b)
            continue;
        struct stat st;
        if (stat(b, &st) != 0 || !S_ISDIR(st.st_mode))
            H5PLremove(i);
        else if (dir[0] && !strcmp(b, dir))
            have = 1;
    }
    if (dir[0] && !have)
        H5PLappend(dir);
}

void gs_h5_quiet(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    pthread_once(&once, plugin_path_init);
}

/* What HDF5's error stack says went wrong, sorted into the causes a user can
 * act on. Only H5E_TRUNCATED and HDF5's own words for damage (bad
 * checksum/signature/version, a filter that failed to decode) count as
 * "corrupt": a missing filter plugin or a file another program holds is
 * not a damaged file. */
typedef enum {
    H5W_OTHER = 0,
    H5W_CORRUPT,  /* truncated, bad checksum/signature, undecodable data */
    H5W_FILTER,   /* a filter of the dataset is not available (no plugin) */
    H5W_LOCKED,   /* another process holds an HDF5 file lock on it */
    H5W_WRITING   /* superblock says "open for write" (live or crashed writer, SWMR) */
} h5_why_kind;

typedef struct {
    h5_why_kind kind;
    char desc[256];   /* innermost description */
} h5_why;

static int has(const char *s, const char *sub) { return s && strstr(s, sub) != NULL; }

static herr_t why_walk(unsigned n, const H5E_error2_t *e, void *data)
{
    h5_why *w = data;
    const char *d = e->desc ? e->desc : "";
    if (n == 0)
        snprintf(w->desc, sizeof w->desc, "%s", d);
    h5_why_kind k = H5W_OTHER;
    if (has(d, "already open for write"))
        k = H5W_WRITING;
    else if (e->min_num == H5E_CANTLOCKFILE || has(d, "unable to lock"))
        k = H5W_LOCKED;
    else if (e->maj_num == H5E_PLUGIN || e->min_num == H5E_CANTLOAD || has(d, "not registered")) {
        /* (a plugin HDF5 could not dlopen is reported here too, but HDF5
         * tries every library in the directory for any filter, so that
         * report need not concern the missing filter: not repeated) */
        k = H5W_FILTER;
    } else if (e->min_num == H5E_TRUNCATED || e->maj_num == H5E_PLINE || has(d, "truncated") ||
               has(d, "checksum") || has(d, "signature") || has(d, "corrupt") ||
               has(d, "bad version") || has(d, "wrong version") || has(d, "bad object header"))
        k = H5W_CORRUPT;
    /* the most specific cause wins: a missing plugin also makes the
     * pipeline fail, and a lock failure also fails the open */
    if (k != H5W_OTHER && (w->kind == H5W_OTHER || (w->kind == H5W_CORRUPT && k != H5W_CORRUPT)))
        w->kind = k;
    return 0;
}

/* Reads the default error stack; call right after the failing HDF5 call. */
static void h5_why_get(h5_why *w)
{
    memset(w, 0, sizeof *w);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, why_walk, w);
    if (!w->desc[0])
        snprintf(w->desc, sizeof w->desc, "unknown HDF5 error");
}

/* The innermost HDF5 error description (most specific cause). */
static const char *h5_cause(char *buf)
{
    h5_why w;
    h5_why_get(&w);
    snprintf(buf, 256, "%s", w.desc);
    return buf;
}

/* Why a file would not open, as one message; `name` names the file. */
static int open_error(const char *name, const h5_why *w)
{
    switch (w->kind) {
    case H5W_CORRUPT:
        return gs_error(GS_ERR_FORMAT, "%s: cannot open as HDF5, truncated or corrupt? (%s)", name,
                        w->desc);
    case H5W_WRITING:
        return gs_error(GS_ERR_IO, "%s: HDF5 marks it as still open for writing by another "
                        "program (a writer still running, SWMR or not, or one that died); wait "
                        "for the writer, or once none runs clear the mark with 'h5clear -s %s' "
                        "(HDF5: %s)", name, name, w->desc);
    case H5W_LOCKED:
        return gs_error(GS_ERR_IO, "%s: another program holds HDF5's lock on it (a writer "
                        "still running); wait for it to finish (HDF5: %s)", name, w->desc);
    default:
        return gs_error(GS_ERR_FORMAT, "%s: HDF5 cannot open it (%s)", name, w->desc);
    }
}

/* HDF5 filters by registered id (the HDF Group's list of registered filter
 * plugins) and the Debian package providing each plugin. Debian 12's
 * hdf5-plugin-lzf does not load on its own (its liblzf_filter.so lacks a
 * dependency on liblzf); bitshuffle ships a working LZF plugin. */
static const struct {
    unsigned id;
    const char *name;
    const char *pkg;
} known_filters[] = {
    {1, "deflate", NULL},         {2, "shuffle", NULL},
    {3, "fletcher32", NULL},      {4, "szip", NULL},
    {5, "nbit", NULL},            {6, "scaleoffset", NULL},
    {305, "LZO", NULL},           {307, "BZip2", "hdf5-filter-plugin"},
    {32000, "LZF", "hdf5-plugin-lzf and bitshuffle"},
    {32001, "Blosc", "hdf5-filter-plugin-blosc-serial"},
    {32002, "MAFISC", NULL},      {32003, "Snappy", NULL},
    {32004, "LZ4", "hdf5-filter-plugin"},
    {32008, "Bitshuffle", "bitshuffle"},
    {32013, "ZFP", "hdf5-filter-plugin-zfp-serial"},
    {32014, "fpzip", NULL},       {32015, "Zstandard", NULL},
    {32017, "SZ", NULL},          {32024, "SZ3", NULL},
    {32026, "Blosc2", NULL},
};

/* After a failed read of dataset d: names the first filter of its pipeline
 * that HDF5 cannot load, with the package that provides it. Returns 0 when
 * every filter is available (the failure was something else). */
static int filter_error(hid_t d, const char *w)
{
    hid_t dcpl = H5Dget_create_plist(d);
    int nf = dcpl >= 0 ? H5Pget_nfilters(dcpl) : -1;
    int rc = 0;
    for (int i = 0; i < nf && !rc; i++) {
        unsigned flags, cd[16], cfg;
        size_t ncd = 16;
        char fname[128] = "";
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof fname, fname,
                                         &cfg);
        if (id < 0 || H5Zfilter_avail(id) > 0)
            continue;
        const char *name = NULL, *pkg = NULL;
        for (size_t k = 0; k < sizeof known_filters / sizeof known_filters[0]; k++)
            if (known_filters[k].id == (unsigned)id) {
                name = known_filters[k].name;
                pkg = known_filters[k].pkg;
            }
        const char *pre = getenv("HDF5_PLUGIN_PRELOAD");
        char hint[512];
        if (pre && !strcmp(pre, "::"))
            snprintf(hint, sizeof hint, "HDF5 plugins are switched off (HDF5_PLUGIN_PRELOAD=::)");
        else if (pkg)
            snprintf(hint, sizeof hint, "install Debian's %s (scripts/install-deps does) or "
                     "point HDF5_PLUGIN_PATH at a directory holding the plugin", pkg);
        else
            snprintf(hint, sizeof hint, "no Debian package provides it: build its HDF5 plugin and "
                     "point HDF5_PLUGIN_PATH at the directory holding it");
        rc = gs_error(GS_ERR_IO, "%s: compressed with HDF5 filter %d (%s%s%s%s), which is not "
                      "available here; %s", w, (int)id, name ? name : "unknown filter",
                      fname[0] ? ", \"" : "", fname[0] ? fname : "", fname[0] ? "\" in the file" : "",
                      hint);
    }
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return rc;
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

int gs_h5_create_mem(const char *name, hid_t *file)
{
    gs_h5_quiet();
    *file = H5I_INVALID_HID;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return gs_error(GS_ERR_IO, "%s: cannot create HDF5 property list", name);
    /* core driver without backing store: nothing is ever written to disk */
    herr_t e = H5Pset_fapl_core(fapl, 1 << 20, 0);
    if (e >= 0)
        e = H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    hid_t f = e < 0 ? H5I_INVALID_HID : H5Fcreate(name, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    char c[256];
    if (f < 0)
        h5_cause(c);
    H5Pclose(fapl);
    if (f < 0)
        return gs_error(GS_ERR_IO, "%s: cannot create an in-memory file (%s)", name, c);
    *file = f;
    return GS_OK;
}

int gs_h5_image(hid_t file, void **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0)
        return gs_error(GS_ERR_IO, "cannot flush an in-memory HDF5 file");
    ssize_t n = H5Fget_file_image(file, NULL, 0);
    if (n <= 0)
        return gs_error(GS_ERR_IO, "cannot take the image of an in-memory HDF5 file");
    void *b = malloc((size_t)n);
    if (!b)
        return gs_error(GS_ERR_NOMEM, "out of memory for a %zd-byte HDF5 image", n);
    if (H5Fget_file_image(file, b, (size_t)n) != n) {
        free(b);
        return gs_error(GS_ERR_IO, "cannot take the image of an in-memory HDF5 file");
    }
    *buf = b;
    *len = (size_t)n;
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
    h5_why why;
    if (is < 0) {
        h5_why_get(&why);
        return open_error(path, &why);
    }
    hid_t f = H5Fopen(path, writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        h5_why_get(&why);
        return open_error(path, &why);
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
    h5_why why;
    if (f < 0)
        h5_why_get(&why);
    H5Pclose(fapl);
    if (f < 0)
        return open_error(name, &why);
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

/* ---- range-checked reads -------------------------------------------------
 * HDF5 converts out-of-range values silently: an int64 PDG code 3000000022
 * read as int32 becomes 2147483647 (saturation) and a float64 1e39 read as
 * float32 becomes +Inf. So a stored type that can hold values the memory
 * type cannot is read through a wide type, block by block, and every value is
 * checked before it is narrowed; the first one out of range is refused by
 * position and value. Types that always fit (float32 -> float32, int16 ->
 * int32, any integer -> float) are read directly. */

typedef enum { WIDE_NONE = 0, WIDE_I64, WIDE_U64, WIDE_F64, WIDE_LD } wide_kind;

static wide_kind wide_for(hid_t ftype, gs_h5_type t)
{
    H5T_class_t cls = H5Tget_class(ftype);
    size_t sz = H5Tget_size(ftype);
    int is_signed = cls == H5T_INTEGER && H5Tget_sign(ftype) != H5T_SGN_NONE;
    if (cls == H5T_FLOAT) {
        if (t == GS_H5_F32)
            return sz <= 4 ? WIDE_NONE : sz <= 8 ? WIDE_F64 : WIDE_LD;
        if (t == GS_H5_F64)
            return sz <= 8 ? WIDE_NONE : WIDE_LD;
        return WIDE_NONE; /* float -> integer is refused before this */
    }
    if (cls != H5T_INTEGER)
        return WIDE_NONE;
    /* largest stored integer type each memory type holds exactly */
    size_t max_signed = 0, max_unsigned = 0;
    switch (t) {
    case GS_H5_F32: /* 128-bit integers reach 3.4e38, the edge of float32 */
    case GS_H5_F64: max_signed = max_unsigned = 8; break;
    case GS_H5_I32: max_signed = 4; max_unsigned = 2; break;
    case GS_H5_I64: max_signed = 8; max_unsigned = 4; break;
    case GS_H5_U64: max_unsigned = 8; break;
    case GS_H5_U8: max_unsigned = 1; break;
    }
    if (t == GS_H5_F64)
        return WIDE_NONE; /* even 2^128 is far inside double */
    if ((is_signed && sz <= max_signed) || (!is_signed && sz <= max_unsigned))
        return WIDE_NONE;
    if (sz > 8)
        return WIDE_LD;
    return is_signed ? WIDE_I64 : WIDE_U64;
}

static hid_t wide_mem_type(wide_kind k)
{
    switch (k) {
    case WIDE_I64: return H5T_NATIVE_INT64;
    case WIDE_U64: return H5T_NATIVE_UINT64;
    case WIDE_F64: return H5T_NATIVE_DOUBLE;
    case WIDE_LD: return H5T_NATIVE_LDOUBLE;
    default: return H5I_INVALID_HID;
    }
}

static size_t wide_size(wide_kind k)
{
    return k == WIDE_LD ? sizeof(long double) : 8;
}

static const char *type_range(gs_h5_type t)
{
    switch (t) {
    case GS_H5_F32: return "the float32 range (|x| <= 3.4028235e+38)";
    case GS_H5_F64: return "the float64 range (|x| <= 1.7976931e+308)";
    case GS_H5_I32: return "the int32 range (-2147483648..2147483647)";
    case GS_H5_I64: return "the int64 range";
    case GS_H5_U64: return "the uint64 range (0..18446744073709551615)";
    case GS_H5_U8: return "the uint8 range (0..255)";
    }
    return "?";
}

/* Narrows wide element i of `src` into element i of `dst` (memory type t);
 * returns 0 when the value is out of t's range (dst untouched) and then
 * prints the value into val. NaN and infinities pass (the caller's
 * finiteness check names them as such). */
static int narrow_one(wide_kind k, const void *src, size_t i, gs_h5_type t, void *dst, char *val,
                      size_t vn)
{
    long double v;
    switch (k) {
    case WIDE_I64: v = (long double)((const int64_t *)src)[i]; break;
    case WIDE_U64: v = (long double)((const uint64_t *)src)[i]; break;
    case WIDE_F64: v = (long double)((const double *)src)[i]; break;
    default: v = ((const long double *)src)[i]; break;
    }
    int ok = 1;
    switch (t) {
    case GS_H5_F32: {
        float f = (float)v;
        ok = !(isfinite(v) && isinf(f));
        if (ok)
            ((float *)dst)[i] = f;
        break;
    }
    case GS_H5_F64: {
        double f = (double)v;
        ok = !(isfinite(v) && isinf(f));
        if (ok)
            ((double *)dst)[i] = f;
        break;
    }
    case GS_H5_I32:
        ok = v >= -2147483648.0L && v <= 2147483647.0L;
        if (ok)
            ((int32_t *)dst)[i] = (int32_t)v;
        break;
    case GS_H5_I64:
        ok = v >= -9223372036854775808.0L && v < 9223372036854775808.0L;
        if (ok)
            ((int64_t *)dst)[i] = k == WIDE_U64 ? (int64_t)((const uint64_t *)src)[i] : (int64_t)v;
        break;
    case GS_H5_U64:
        ok = v >= 0 && v < 18446744073709551616.0L;
        if (ok)
            ((uint64_t *)dst)[i] = k == WIDE_I64 ? (uint64_t)((const int64_t *)src)[i] : (uint64_t)v;
        break;
    case GS_H5_U8:
        ok = v >= 0 && v <= 255;
        if (ok)
            ((uint8_t *)dst)[i] = (uint8_t)v;
        break;
    }
    if (!ok) {
        if (k == WIDE_I64)
            snprintf(val, vn, "%lld", (long long)((const int64_t *)src)[i]);
        else if (k == WIDE_U64)
            snprintf(val, vn, "%llu", (unsigned long long)((const uint64_t *)src)[i]);
        else
            snprintf(val, vn, "%.9Lg", v);
    }
    return ok;
}

/* "row 3", "row 3, column 2 (px)" or "element [1, 4, 7]" for flat index i. */
static void elem_pos(char *buf, size_t n, int rank, const int64_t *dims, int64_t i,
                     char *const *cols, int64_t ncols)
{
    int64_t idx[GS_H5_MAX_RANK];
    for (int k = rank - 1; k >= 0; k--) {
        idx[k] = i % dims[k];
        i /= dims[k];
    }
    if (rank == 1) {
        snprintf(buf, n, "row %lld", (long long)idx[0]);
    } else if (rank == 2) {
        int named = cols && ncols == dims[1] && cols[idx[1]];
        snprintf(buf, n, "row %lld, column %lld%s%s%s", (long long)idx[0], (long long)idx[1],
                 named ? " (" : "", named ? cols[idx[1]] : "", named ? ")" : "");
    } else {
        int l = snprintf(buf, n, "element [");
        for (int k = 0; k < rank && l > 0 && (size_t)l < n; k++)
            l += snprintf(buf + l, n - (size_t)l, "%s%lld", k ? ", " : "", (long long)idx[k]);
        if (l > 0 && (size_t)l < n)
            snprintf(buf + l, n - (size_t)l, "]");
    }
}

/* Why H5Dread failed on dataset d, as one message. */
static int read_error(hid_t d, const char *w)
{
    h5_why why;
    h5_why_get(&why); /* first: the calls below reset the error stack */
    if (why.kind == H5W_FILTER) {
        int rc = filter_error(d, w);
        if (rc)
            return rc;
    }
    if (why.kind == H5W_CORRUPT || why.kind == H5W_FILTER)
        return gs_error(GS_ERR_IO, "%s: read failed, file truncated or corrupt? (%s)", w, why.desc);
    return gs_error(GS_ERR_IO, "%s: read failed (%s)", w, why.desc);
}

#define GS_H5_BLOCK_ELEMS ((int64_t)1 << 20)

/* Reads the whole dataset d (shape dims, rank r) into buf as memory type t,
 * range-checked; w names it, cols (optional) names the columns of a rank-2
 * table in messages. */
static int read_body(hid_t d, gs_h5_type t, void *buf, const char *w, int r, const int64_t *dims,
                     char *const *cols, int64_t ncols)
{
    hid_t ft = H5Dget_type(d);
    wide_kind k = ft >= 0 ? wide_for(ft, t) : WIDE_NONE;
    if (ft >= 0)
        H5Tclose(ft);
    if (k == WIDE_NONE) {
        if (H5Dread(d, mem_type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
            return read_error(d, w);
        return GS_OK;
    }
    int64_t row = 1;
    for (int i = 1; i < r; i++)
        row *= dims[i];
    int64_t rows_blk = GS_H5_BLOCK_ELEMS / row > 0 ? GS_H5_BLOCK_ELEMS / row : 1;
    if (rows_blk > dims[0])
        rows_blk = dims[0];
    size_t ws = wide_size(k), ts = gs_h5_type_size(t), wbytes;
    if (gs_mul_overflow((size_t)(rows_blk * row), ws, &wbytes))
        return gs_error(GS_ERR_NOMEM, "%s: size overflows", w);
    void *wbuf = malloc(wbytes);
    if (!wbuf)
        return gs_error(GS_ERR_NOMEM, "%s: cannot allocate %zu bytes", w, wbytes);
    hid_t fsp = H5Dget_space(d);
    int rc = fsp < 0 ? gs_error(GS_ERR_IO, "%s: cannot get its dataspace", w) : GS_OK;
    for (int64_t r0 = 0; !rc && r0 < dims[0]; r0 += rows_blk) {
        int64_t nr = dims[0] - r0 < rows_blk ? dims[0] - r0 : rows_blk;
        hsize_t start[GS_H5_MAX_RANK] = {0}, count[GS_H5_MAX_RANK];
        start[0] = (hsize_t)r0;
        count[0] = (hsize_t)nr;
        for (int i = 1; i < r; i++)
            count[i] = (hsize_t)dims[i];
        hsize_t mn = (hsize_t)(nr * row);
        hid_t msp = H5Screate_simple(1, &mn, NULL);
        if (msp < 0 || H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Dread(d, wide_mem_type(k), msp, fsp, H5P_DEFAULT, wbuf) < 0) {
            rc = read_error(d, w);
        } else {
            char *dst = (char *)buf + (size_t)(r0 * row) * ts;
            for (int64_t i = 0; i < nr * row; i++) {
                char val[64];
                if (!narrow_one(k, wbuf, (size_t)i, t, dst, val, sizeof val)) {
                    char pos[160];
                    elem_pos(pos, sizeof pos, r, dims, r0 * row + i, cols, ncols);
                    rc = gs_error(GS_ERR_FORMAT, "%s %s: value %s is outside %s", w, pos, val,
                                  type_range(t));
                    break;
                }
            }
        }
        if (msp >= 0)
            H5Sclose(msp);
    }
    if (fsp >= 0)
        H5Sclose(fsp);
    free(wbuf);
    return rc;
}

int gs_h5_read(hid_t loc, const char *name, gs_h5_type t, int rank, int64_t *dims, void **data)
{
    return gs_h5_read_cols(loc, name, t, rank, dims, data, NULL, 0);
}

int gs_h5_read_cols(hid_t loc, const char *name, gs_h5_type t, int rank, int64_t *dims,
                    void **data, char *const *cols, int64_t ncols)
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
    rc = read_body(d, t, buf, w, r, hd, cols, ncols);
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
    rc = read_body(d, t, data, w, r, hd, NULL, 0);
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

/* ---- appendable datasets -------------------------------------------------- */

int gs_h5_append_create(hid_t loc, const char *name, gs_h5_type t, int rank, const int64_t *dims,
                        int64_t chunk_rows, int deflate, gs_h5_appender *a)
{
    memset(a, 0, sizeof *a);
    a->d = H5I_INVALID_HID;
    char w[600];
    gs_h5_where(loc, name, w, sizeof w);
    if (rank < 1 || rank > GS_H5_MAX_RANK || chunk_rows < 1 || deflate < 0 || deflate > 9)
        return gs_error(GS_ERR_ARG, "%s: bad appendable dataset (rank %d, chunk %lld, deflate %d)",
                        w, rank, (long long)chunk_rows, deflate);
    hsize_t cur[GS_H5_MAX_RANK], max[GS_H5_MAX_RANK], chunk[GS_H5_MAX_RANK];
    int64_t row = 1;
    const int64_t fixed = dims && dims[0] > 0 ? dims[0] : 0;
    cur[0] = (hsize_t)fixed;
    max[0] = fixed ? (hsize_t)fixed : H5S_UNLIMITED;
    if (fixed && chunk_rows > fixed)
        chunk_rows = fixed;
    chunk[0] = (hsize_t)chunk_rows;
    for (int i = 1; i < rank; i++) {
        if (dims[i] < 1)
            return gs_error(GS_ERR_ARG, "%s: dimension %d is %lld", w, i, (long long)dims[i]);
        cur[i] = max[i] = chunk[i] = (hsize_t)dims[i];
        row *= dims[i];
    }
    /* HDF5 caps a chunk at 4 GiB */
    if ((double)chunk_rows * (double)row * (double)gs_h5_type_size(t) >= 4294967296.0)
        return gs_error(GS_ERR_ARG, "%s: chunk of %lld rows is over 4 GiB", w,
                        (long long)chunk_rows);
    if (deflate > 0 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0)
        return gs_error(GS_ERR_STATE, "%s: this HDF5 library has no gzip (deflate) filter", w);
    const size_t chunk_bytes = (size_t)chunk_rows * (size_t)row * gs_h5_type_size(t);
    if (gs_h5_exists(loc, name) && H5Ldelete(loc, name, H5P_DEFAULT) < 0)
        return gs_error(GS_ERR_IO, "%s: cannot replace existing object", w);
    hid_t sp = H5Screate_simple(rank, cur, max);
    /* no modification times: the same rows give the same bytes */
    hid_t dcpl = ocpl_untimed(H5P_DATASET_CREATE), dapl = H5Pcreate(H5P_DATASET_ACCESS);
    hid_t l = lcpl_parents();
    herr_t e = sp < 0 || dcpl < 0 || dapl < 0 || l < 0 ? -1 : H5Pset_chunk(dcpl, rank, chunk);
    if (e >= 0 && deflate > 0) {
        e = H5Pset_shuffle(dcpl);
        if (e >= 0)
            e = H5Pset_deflate(dcpl, (unsigned)deflate);
    }
    /* two chunks: the one being filled and the one being written out;
     * w0 = 1 evicts fully written chunks first */
    if (e >= 0)
        e = H5Pset_chunk_cache(dapl, 521, 2 * chunk_bytes + (1 << 20), 1.0);
    hid_t d = e < 0 ? H5I_INVALID_HID : H5Dcreate2(loc, name, file_type(t), sp, l, dcpl, dapl);
    char c[256];
    if (d < 0)
        h5_cause(c);
    H5Sclose(sp);
    H5Pclose(dcpl);
    H5Pclose(dapl);
    H5Pclose(l);
    if (d < 0)
        return gs_error(GS_ERR_IO, "%s: cannot create dataset (%s)", w, c);
    a->d = d;
    a->t = t;
    a->rank = rank;
    a->dims[0] = 0;
    a->fixed_rows = fixed;
    for (int i = 1; i < rank; i++)
        a->dims[i] = dims[i];
    a->row_elems = row;
    return GS_OK;
}

int gs_h5_append(gs_h5_appender *a, int64_t rows, const void *data)
{
    if (rows == 0)
        return GS_OK;
    char w[600];
    gs_h5_where(a->d, NULL, w, sizeof w);
    if (a->d < 0 || rows < 0 || !data)
        return gs_error(GS_ERR_ARG, "%s: bad append of %lld rows", w, (long long)rows);
    hsize_t ext[GS_H5_MAX_RANK], start[GS_H5_MAX_RANK] = {0}, cnt[GS_H5_MAX_RANK];
    for (int i = 0; i < a->rank; i++)
        ext[i] = cnt[i] = (hsize_t)a->dims[i];
    ext[0] = (hsize_t)(a->dims[0] + rows);
    start[0] = (hsize_t)a->dims[0];
    cnt[0] = (hsize_t)rows;
    char c[256];
    if (a->fixed_rows && a->dims[0] + rows > a->fixed_rows)
        return gs_error(GS_ERR_ARG, "%s: %lld rows appended to a dataset of %lld", w,
                        (long long)(a->dims[0] + rows), (long long)a->fixed_rows);
    if (!a->fixed_rows && H5Dset_extent(a->d, ext) < 0)
        return gs_error(GS_ERR_IO, "%s: cannot grow to %lld rows (%s)", w,
                        (long long)(a->dims[0] + rows), h5_cause(c));
    hid_t fs = H5Dget_space(a->d), ms = H5Screate_simple(a->rank, cnt, NULL);
    herr_t e = fs < 0 || ms < 0 ? -1 : H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt,
                                                          NULL);
    if (e >= 0)
        e = H5Dwrite(a->d, mem_type(a->t), ms, fs, H5P_DEFAULT, data);
    if (e < 0)
        h5_cause(c);
    if (fs >= 0)
        H5Sclose(fs);
    if (ms >= 0)
        H5Sclose(ms);
    if (e < 0)
        return gs_error(GS_ERR_IO, "%s: write of rows %lld..%lld failed (%s)", w,
                        (long long)a->dims[0], (long long)(a->dims[0] + rows - 1), c);
    a->dims[0] += rows;
    return GS_OK;
}

int gs_h5_append_close(gs_h5_appender *a)
{
    if (!a || a->d <= 0)
        return GS_OK;
    int short_rows = a->fixed_rows && a->dims[0] != a->fixed_rows;
    char w[600];
    if (short_rows)
        gs_h5_where(a->d, NULL, w, sizeof w);
    herr_t e = H5Dclose(a->d);
    a->d = H5I_INVALID_HID;
    if (e < 0) {
        char c[256];
        return gs_error(GS_ERR_IO, "closing an appended dataset failed (%s)", h5_cause(c));
    }
    if (short_rows)
        return gs_error(GS_ERR_STATE, "%s: %lld of its %lld rows written", w,
                        (long long)a->dims[0], (long long)a->fixed_rows);
    return GS_OK;
}

/* gs_h5 — small HDF5 helpers shared by datasets/, preprocess/ and nn/
 * checkpoints.
 *
 * Promises:
 *  - Every function returns a gs_status (GS_OK = 0) and, on failure, leaves a
 *    message in gs_errmsg() of the form "FILE: /path/in/file problem", built
 *    from the file name HDF5 was given and the object's path.
 *  - HDF5's own automatic error printing is switched off by gs_h5_quiet(),
 *    which every open/create here calls; the innermost HDF5 error text is
 *    folded into our message instead.
 *  - Readers validate before they allocate: the object must exist, be a
 *    dataset of the expected rank, of numeric class (integer or float; any
 *    width and byte order, converted on read to the requested memory type),
 *    with every dimension > 0 and at most GS_H5_MAX_ELEMS elements in total;
 *    sizes are computed overflow-checked. Float sources are refused for
 *    integer memory types (no silent truncation), and every value a stored
 *    type can hold but the memory type cannot (an int64 PDG code beyond
 *    int32, a finite float64 beyond float32) is refused with its position
 *    and value instead of HDF5's silent saturation to INT32_MAX or Inf.
 *  - Failures say what HDF5 says: "truncated or corrupt?" only when its
 *    error stack reports damage; a filter without a plugin is named (id,
 *    name, Debian package); a file held open by a writer (HDF5 file lock,
 *    "open for write" mark, SWMR) is reported as such. The distribution's
 *    filter-plugin directory is kept on HDF5's search path even when
 *    HDF5_PLUGIN_PATH is set.
 *  - String attributes are read whether h5py wrote them as variable-length
 *    (UTF-8 or ASCII) or fixed-length, scalar or 1-D (1-D arrays are joined
 *    with ','); they are written as scalar variable-length UTF-8, as h5py does.
 *  - Paths may be nested ("model/gen/layer0/w"); writers create missing
 *    intermediate groups.
 * Handles returned (hid_t) are owned by the caller: close files with
 * gs_h5_close() and groups with H5Gclose(). */
#ifndef GS_H5_H
#define GS_H5_H

#include <hdf5.h>
#include <stdint.h>

#include "core/gs_core.h"

/* Refuse datasets declaring more elements than this (2^40): larger is
 * either a corrupt header or far beyond what gansim could hold in memory. */
#define GS_H5_MAX_ELEMS ((int64_t)1 << 40)
#define GS_H5_MAX_RANK 4

/* Memory-side element types for reads and writes. */
typedef enum {
    GS_H5_F32 = 0,
    GS_H5_F64,
    GS_H5_I32,
    GS_H5_I64,
    GS_H5_U64,
    GS_H5_U8
} gs_h5_type;

size_t gs_h5_type_size(gs_h5_type t);

/* Turns off HDF5's automatic error printing on the default stack. */
void gs_h5_quiet(void);

/* Creates (truncating) a file for writing. Closing it flushes everything
 * (close degree "strong"), so rename after gs_h5_close() is safe. */
int gs_h5_create(const char *path, hid_t *file);
/* Opens an existing file; fails cleanly for missing, non-HDF5 and truncated
 * files. */
int gs_h5_open(const char *path, int writable, hid_t *file);
int gs_h5_close(hid_t file);
/* Opens an in-memory file image read-only (the bytes are copied; buf may be
 * freed afterwards). `name` stands in for the file name in messages. Lets
 * the readers be fuzzed and fed from memory without a temporary file. */
int gs_h5_open_image(const void *buf, size_t len, const char *name, hid_t *file);

/* An HDF5 file in memory only (name for messages), for gs_h5_image: how a
 * rank hands a piece of a checkpoint to another through a communicator. */
int gs_h5_create_mem(const char *name, hid_t *file);
/* The bytes of an open file (flushed first) in *buf (malloc'd, *len bytes),
 * which gs_h5_open_image opens again anywhere. */
int gs_h5_image(hid_t file, void **buf, size_t *len);

/* "FILE: /loc/name" for messages (name may be NULL or "."). */
void gs_h5_where(hid_t loc, const char *name, char *buf, size_t n);

/* Groups: create (with intermediates) or open when it already exists. */
int gs_h5_group_create(hid_t loc, const char *path, hid_t *group);
int gs_h5_group_open(hid_t loc, const char *path, hid_t *group);

/* 1 when a link (dataset or group) exists at the (possibly nested) path,
 * 0 when not; never fails (a malformed path counts as absent). */
int gs_h5_exists(hid_t loc, const char *path);
/* 1 when object `obj` (relative to loc, "." for loc) has attribute `name`. */
int gs_h5_attr_exists(hid_t loc, const char *obj, const char *name);

/* Writes a dataset of rank 1..4 from memory of type t (stored as t). */
int gs_h5_write(hid_t loc, const char *name, gs_h5_type t, int rank, const int64_t *dims,
                const void *data);

/* Shape of a dataset (rank 1..4); validates existence and numeric class. */
int gs_h5_shape(hid_t loc, const char *name, int *rank, int64_t dims[GS_H5_MAX_RANK]);

/* Reads a whole dataset of exactly `rank` dimensions, converted to memory
 * type t, into a fresh malloc'd buffer (*data, caller frees); dims receives
 * the shape. Empty datasets (a zero dimension) are refused. */
int gs_h5_read(hid_t loc, const char *name, gs_h5_type t, int rank, int64_t *dims, void **data);
/* The same, naming the columns of a rank-2 table in messages (cols may be
 * NULL; used when ncols equals dims[1]). */
int gs_h5_read_cols(hid_t loc, const char *name, gs_h5_type t, int rank, int64_t *dims,
                    void **data, char *const *cols, int64_t ncols);
/* Reads into a caller buffer; the dataset's shape must equal dims exactly
 * (for checkpoints: parameters into existing tensors). */
int gs_h5_read_into(hid_t loc, const char *name, gs_h5_type t, int rank, const int64_t *dims,
                    void *data);

/* Attributes on object `obj` relative to loc ("." = loc itself). Writers
 * replace an existing attribute of the same name. */
int gs_h5_attr_write_str(hid_t loc, const char *obj, const char *name, const char *value);
int gs_h5_attr_read_str(hid_t loc, const char *obj, const char *name, char **value);
int gs_h5_attr_write_f64(hid_t loc, const char *obj, const char *name, double v);
int gs_h5_attr_read_f64(hid_t loc, const char *obj, const char *name, double *v);
int gs_h5_attr_write_i64(hid_t loc, const char *obj, const char *name, int64_t v);
int gs_h5_attr_read_i64(hid_t loc, const char *obj, const char *name, int64_t *v);

/* ---- appendable datasets (streaming writers) --------------------------------
 * A chunked dataset whose first dimension starts at 0 and grows with every
 * append, so a producer can write rows as it makes them and hold only one
 * chunk in memory. Rows are chunked chunk_rows at a time; deflate 1..9 adds
 * the shuffle and gzip filters (0: none). The chunk cache holds two chunks,
 * so appends of any size fill a chunk in memory before it is written once.
 * Readers (h5py, gs_h5_read) see an ordinary dataset. */
typedef struct {
    hid_t d;
    gs_h5_type t;
    int rank;
    int64_t dims[GS_H5_MAX_RANK];   /* current shape; dims[0] = rows so far */
    int64_t row_elems;              /* elements per row: dims[1] * ... */
    int64_t fixed_rows;             /* the fixed row count, 0 when growing */
} gs_h5_appender;

/* dims[1..rank-1] give the row shape. dims[0] > 0: the rows the dataset will
 * hold, known up front (its shape is then fixed, as a one-shot write's;
 * appends fill it in order and gs_h5_append_close checks it is full);
 * dims[0] = 0: unknown, the dataset grows (maximum shape unlimited). */
int gs_h5_append_create(hid_t loc, const char *name, gs_h5_type t, int rank, const int64_t *dims,
                        int64_t chunk_rows, int deflate, gs_h5_appender *a);
/* Appends rows (rows x row shape, memory type a->t); rows = 0 is a no-op. */
int gs_h5_append(gs_h5_appender *a, int64_t rows, const void *data);
/* Closes the dataset (the file stays open); safe on a zeroed or closed one. */
int gs_h5_append_close(gs_h5_appender *a);

/* Splits "a,b,c" into a NULL-free array of n malloc'd strings (fields are
 * trimmed of surrounding blanks). Free with gs_h5_free_strv. */
int gs_h5_split_csv(const char *s, char ***out, int64_t *n);
/* Joins n strings with ','; returns NULL on allocation failure. */
char *gs_h5_join_csv(char *const *v, int64_t n);
void gs_h5_free_strv(char **v, int64_t n);

#endif

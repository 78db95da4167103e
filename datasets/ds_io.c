/* HDF5 event tables and image sets (docs/formats.md): allocation, validated
 * readers, atomic writers, file-kind detection. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/gs_h5.h"
#include "datasets/ds_internal.h"

static const char *const zdc_cond_names[DS_ZDC_NCOND] = {"E",  "vx", "vy",   "vz",    "px",
                                                         "py", "pz", "mass", "charge"};

/* ---- allocation ---------------------------------------------------------- */

static char **dup_strv(const char *const *v, int64_t n)
{
    char **o = calloc((size_t)(n > 0 ? n : 1), sizeof *o);
    if (!o)
        return NULL;
    for (int64_t i = 0; i < n; i++) {
        o[i] = strdup(v[i] ? v[i] : "");
        if (!o[i]) {
            gs_h5_free_strv(o, n);
            return NULL;
        }
    }
    return o;
}

static void *alloc_elems(int64_t n, size_t elem)
{
    size_t bytes;
    if (n < 0 || gs_mul_overflow((size_t)n, elem, &bytes))
        return NULL;
    return malloc(bytes ? bytes : 1);
}

int ds_events_alloc(ds_events *ev, int64_t n, int64_t f, const char *const *columns,
                    const char *const *units, int with_pdg, int with_weights)
{
    memset(ev, 0, sizeof *ev);
    size_t nf;
    if (n < 0 || f < 1 || !columns)
        return gs_error(GS_ERR_ARG, "ds_events_alloc: need n >= 0, f >= 1 and column names");
    if (gs_mul_overflow((size_t)n, (size_t)f, &nf) || nf > (size_t)GS_H5_MAX_ELEMS)
        return gs_error(GS_ERR_NOMEM, "ds_events_alloc: %lld x %lld is too large", (long long)n,
                        (long long)f);
    ev->n = n;
    ev->f = f;
    ev->x = alloc_elems((int64_t)nf, sizeof(float));
    ev->columns = dup_strv(columns, f);
    int bad = !ev->x || !ev->columns;
    if (units) {
        ev->units = dup_strv(units, f);
        bad |= !ev->units;
    }
    if (with_pdg) {
        ev->pdg = alloc_elems(n, sizeof(int32_t));
        bad |= !ev->pdg;
    }
    if (with_weights) {
        ev->weights = alloc_elems(n, sizeof(float));
        bad |= !ev->weights;
    }
    if (bad) {
        ds_events_free(ev);
        return gs_error(GS_ERR_NOMEM, "ds_events_alloc: out of memory for %lld rows",
                        (long long)n);
    }
    return GS_OK;
}

void ds_events_free(ds_events *ev)
{
    if (!ev)
        return;
    free(ev->x);
    gs_h5_free_strv(ev->columns, ev->f);
    gs_h5_free_strv(ev->units, ev->f);
    free(ev->pdg);
    free(ev->weights);
    memset(ev, 0, sizeof *ev);
}

int64_t ds_events_column(const ds_events *ev, const char *name)
{
    if (!ev || !ev->columns || !name)
        return -1;
    for (int64_t i = 0; i < ev->f; i++)
        if (ev->columns[i] && !strcmp(ev->columns[i], name))
            return i;
    return -1;
}

int ds_images_alloc(ds_images *im, int64_t n, int64_t h, int64_t w, int64_t c)
{
    memset(im, 0, sizeof *im);
    size_t px, tot, nc;
    if (n < 0 || h < 0 || w < 0 || c < 0)
        return gs_error(GS_ERR_ARG, "ds_images_alloc: negative size");
    if (gs_mul_overflow((size_t)h, (size_t)w, &px) || gs_mul_overflow(px, (size_t)n, &tot) ||
        gs_mul_overflow((size_t)n, (size_t)c, &nc) || tot > (size_t)GS_H5_MAX_ELEMS)
        return gs_error(GS_ERR_NOMEM, "ds_images_alloc: %lld images of %lldx%lld is too large",
                        (long long)n, (long long)h, (long long)w);
    im->n = n;
    im->h = h;
    im->w = w;
    im->c = c;
    int bad = 0;
    if (px) {
        im->images = alloc_elems((int64_t)tot, sizeof(float));
        bad |= !im->images;
    }
    if (c) {
        im->cond = alloc_elems((int64_t)nc, sizeof(float));
        if (c == DS_ZDC_NCOND)
            im->cond_columns = dup_strv(zdc_cond_names, c);
        bad |= !im->cond || (c == DS_ZDC_NCOND && !im->cond_columns);
    }
    if (bad) {
        ds_images_free(im);
        return gs_error(GS_ERR_NOMEM, "ds_images_alloc: out of memory for %lld images",
                        (long long)n);
    }
    return GS_OK;
}

void ds_images_free(ds_images *im)
{
    if (!im)
        return;
    free(im->images);
    free(im->cond);
    gs_h5_free_strv(im->cond_columns, im->c);
    memset(im, 0, sizeof *im);
}

/* ---- helpers ------------------------------------------------------------- */

/* Reads a comma-separated name attribute from `obj` or, failing that, the
 * root group. *found = 0 when neither has it. */
static int read_names(hid_t f, const char *obj, const char *attr, char ***names, int64_t *n,
                      int *found)
{
    *names = NULL;
    *n = 0;
    *found = 0;
    const char *where = gs_h5_attr_exists(f, obj, attr) ? obj
                        : gs_h5_attr_exists(f, "/", attr) ? "/"
                                                          : NULL;
    if (!where)
        return GS_OK;
    char *s;
    int rc = gs_h5_attr_read_str(f, where, attr, &s);
    if (rc)
        return rc;
    rc = gs_h5_split_csv(s, names, n);
    free(s);
    *found = !rc;
    return rc;
}

/* Rank-2 float table with at least one row; cols (optional) names the
 * columns in messages. */
static int read_table(const char *path, hid_t f, const char *name, int rank, int64_t *dims,
                      float **x, char *const *cols, int64_t ncols)
{
    int r;
    int64_t d[GS_H5_MAX_RANK];
    int rc = gs_h5_shape(f, name, &r, d);
    if (rc)
        return rc;
    if (r != rank)
        return gs_error(GS_ERR_FORMAT, "%s: /%s has rank %d, expected %d", path, name, r, rank);
    if (d[0] == 0)
        return gs_error(GS_ERR_FORMAT, "%s: /%s has no rows (N = 0)", path, name);
    for (int i = 1; i < r; i++)
        if (d[i] == 0)
            return gs_error(GS_ERR_FORMAT, "%s: /%s has dimension %d = 0", path, name, i);
    return gs_h5_read_cols(f, name, GS_H5_F32, rank, dims, (void **)x, cols, ncols);
}

/* Removes rows whose flag is set, compacting each parallel array in place. */
static int64_t compact_rows(const uint8_t *drop, int64_t n, float *x, int64_t fx, float *y,
                            int64_t fy, int32_t *pdg, float *wt)
{
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (drop[i])
            continue;
        if (k != i) {
            if (x)
                memmove(x + k * fx, x + i * fx, (size_t)fx * sizeof *x);
            if (y)
                memmove(y + k * fy, y + i * fy, (size_t)fy * sizeof *y);
            if (pdg)
                pdg[k] = pdg[i];
            if (wt)
                wt[k] = wt[i];
        }
        k++;
    }
    return k;
}

/* Flags rows holding NaN/Inf in x [n, f] (and wt [n] when given). Returns
 * the first bad (row, col) through brow and bcol (col -1 = weight). */
static int64_t flag_nonfinite(uint8_t *drop, int64_t n, const float *x, int64_t f,
                              const float *wt, int64_t *brow, int64_t *bcol)
{
    int64_t bad = 0;
    *brow = -1;
    *bcol = 0;
    for (int64_t i = 0; i < n; i++) {
        int row_bad = 0;
        for (int64_t j = 0; j < f; j++) {
            if (!isfinite(x[i * f + j])) {
                if (*brow < 0) {
                    *brow = i;
                    *bcol = j;
                }
                row_bad = 1;
                break;
            }
        }
        if (!row_bad && wt && !isfinite(wt[i])) {
            if (*brow < 0) {
                *brow = i;
                *bcol = -1;
            }
            row_bad = 1;
        }
        if (drop)
            drop[i] = (uint8_t)row_bad;
        bad += row_bad;
    }
    return bad;
}

static const char *nonfinite_word(float v) { return isnan(v) ? "NaN" : "infinite"; }

/* ---- event tables -------------------------------------------------------- */

/* The reader proper, on an open file; `path` names it in messages. */
static int events_read_h5(hid_t f, const char *path, const ds_read_opts *opts, ds_events *out)
{
    memset(out, 0, sizeof *out);
    int rc;
    int64_t dims[2];
    char **names = NULL, **units = NULL;
    int64_t nn = 0, nu = 0;
    int found;
    uint8_t *drop = NULL;
    if (!gs_h5_exists(f, "events")) {
        rc = gs_error(GS_ERR_FORMAT, "%s: missing dataset /events%s", path,
                      gs_h5_exists(f, "images") ? " (the file is an image set, /images: ZDC "
                                                  "data, not an event table)"
                                                : "");
        goto done;
    }
    /* names first, so that a value out of range is reported by column name */
    rc = read_names(f, "events", "columns", &names, &nn, &found);
    if (rc)
        goto done;
    rc = read_table(path, f, "events", 2, dims, &out->x, names, nn);
    if (rc)
        goto done;
    out->n = dims[0];
    out->f = dims[1];
    if (!found) {
        rc = gs_error(GS_ERR_FORMAT, "%s: /events has no attribute columns", path);
        goto done;
    }
    if (nn != out->f) {
        rc = gs_error(GS_ERR_FORMAT,
                      "%s: attribute columns names %lld columns, /events has %lld (F)", path,
                      (long long)nn, (long long)out->f);
        goto done;
    }
    if (opts && (rc = ds_map_columns(names, nn, opts->columns, path)))
        goto done;
    out->columns = names;
    names = NULL;
    rc = read_names(f, "events", "units", &units, &nu, &found);
    if (rc)
        goto done;
    if (found && nu != out->f) {
        rc = gs_error(GS_ERR_FORMAT, "%s: attribute units names %lld units, /events has %lld (F)",
                      path, (long long)nu, (long long)out->f);
        goto done;
    }
    out->units = units;
    units = NULL;
    if (gs_h5_exists(f, "pdg")) {
        int64_t d[1];
        rc = gs_h5_read(f, "pdg", GS_H5_I32, 1, d, (void **)&out->pdg);
        if (rc)
            goto done;
        if (d[0] != out->n) {
            rc = gs_error(GS_ERR_FORMAT, "%s: /pdg has %lld entries, expected %lld (rows of /events)",
                          path, (long long)d[0], (long long)out->n);
            goto done;
        }
    }
    if (gs_h5_exists(f, "weights")) {
        int64_t d[1];
        rc = gs_h5_read(f, "weights", GS_H5_F32, 1, d, (void **)&out->weights);
        if (rc)
            goto done;
        if (d[0] != out->n) {
            rc = gs_error(GS_ERR_FORMAT,
                          "%s: /weights has %lld entries, expected %lld (rows of /events)", path,
                          (long long)d[0], (long long)out->n);
            goto done;
        }
    }
    const char *pw = gs_h5_attr_exists(f, "/", "particles_per_bx")        ? "/"
                     : gs_h5_attr_exists(f, "events", "particles_per_bx") ? "events"
                                                                          : NULL;
    if (pw) {
        rc = gs_h5_attr_read_f64(f, pw, "particles_per_bx", &out->particles_per_bx);
        if (rc)
            goto done;
        if (!isfinite(out->particles_per_bx) || out->particles_per_bx < 0) {
            rc = gs_error(GS_ERR_FORMAT, "%s: attribute particles_per_bx = %g is not a finite "
                          "number >= 0", path, out->particles_per_bx);
            goto done;
        }
    }
    if ((rc = ds_apply_import_opts(out, opts, path)))
        goto done;
    int drop_ok = opts && opts->drop_nonfinite;
    drop = malloc((size_t)out->n);
    if (!drop) {
        rc = gs_error(GS_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    int64_t brow, bcol;
    int64_t nbad = flag_nonfinite(drop, out->n, out->x, out->f, out->weights, &brow, &bcol);
    if (nbad && !drop_ok) {
        if (bcol < 0)
            rc = gs_error(GS_ERR_NUMERIC, "%s: /weights row %lld is %s", path, (long long)brow,
                          nonfinite_word(out->weights[brow]));
        else
            rc = gs_error(GS_ERR_NUMERIC, "%s: /events row %lld column %lld (%s) is %s", path,
                          (long long)brow, (long long)bcol, out->columns[bcol],
                          nonfinite_word(out->x[brow * out->f + bcol]));
        goto done;
    }
    if (nbad) {
        out->n = compact_rows(drop, out->n, out->x, out->f, NULL, 0, out->pdg, out->weights);
        if (out->n == 0) {
            rc = gs_error(GS_ERR_NUMERIC, "%s: every row of /events holds NaN/Inf", path);
            goto done;
        }
    }
done:
    free(drop);
    gs_h5_free_strv(names, nn);
    gs_h5_free_strv(units, nu);
    if (rc)
        ds_events_free(out);
    return rc;
}

/* Opens the file `name` (image 0) or a file image in memory (image 1: buf,
 * len; `name` names it in messages) and runs one of the readers on it. */
typedef int (*h5_reader)(hid_t f, const char *name, const ds_read_opts *opts, void *out);

static int read_h5(int image, const void *buf, size_t len, const char *name, h5_reader read,
                   const ds_read_opts *opts, void *out)
{
    hid_t f;
    int rc = image ? gs_h5_open_image(buf, len, name, &f) : gs_h5_open(name, 0, &f);
    if (rc)
        return rc;
    rc = read(f, name, opts, out);
    gs_h5_close(f);
    return rc;
}

static int events_reader(hid_t f, const char *name, const ds_read_opts *opts, void *out)
{
    return events_read_h5(f, name, opts, out);
}

int ds_events_read(const char *path, const ds_read_opts *opts, ds_events *out)
{
    memset(out, 0, sizeof *out);
    return read_h5(0, NULL, 0, path, events_reader, opts, out);
}

int ds_events_read_image(const void *buf, size_t len, const char *name, const ds_read_opts *opts,
                         ds_events *out)
{
    memset(out, 0, sizeof *out);
    return read_h5(1, buf, len, name, events_reader, opts, out);
}

static int check_names(const char *what, char *const *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (!v[i] || !v[i][0])
            return gs_error(GS_ERR_ARG, "%s %lld is empty", what, (long long)i);
        if (strchr(v[i], ','))
            return gs_error(GS_ERR_ARG, "%s '%s' contains a comma", what, v[i]);
    }
    return GS_OK;
}

/* One layout, the streaming writer's: the whole table is one append into
 * datasets of its fixed shape. */
int ds_events_write(const char *path, const ds_events *ev)
{
    if (!ev || ev->n < 1 || ev->f < 1 || !ev->x || !ev->columns)
        return gs_error(GS_ERR_ARG, "%s: refusing to write an empty event table", path);
    const ds_write_opts o = {.rows = ev->n};
    ds_events_writer *w;
    int rc = ds_events_writer_open(path, ev, 0, &o, &w);
    if (rc)
        return rc;
    if ((rc = ds_events_writer_append(w, ev, NULL))) {
        ds_events_writer_discard(w);
        return rc;
    }
    return ds_events_writer_close(w);
}

/* ---- image sets ---------------------------------------------------------- */

/* Reads /conditions into out->cond/c/cond_columns; expect_n > 0 demands that
 * many rows. */
static int read_conditions(const char *path, hid_t f, int64_t expect_n, ds_images *out)
{
    int64_t d[2];
    int rc = read_table(path, f, "conditions", 2, d, &out->cond, NULL, 0);
    if (rc)
        return rc;
    if (expect_n > 0 && d[0] != expect_n)
        return gs_error(GS_ERR_FORMAT, "%s: /conditions has %lld rows, expected %lld (images)",
                        path, (long long)d[0], (long long)expect_n);
    out->c = d[1];
    if (expect_n <= 0)
        out->n = d[0];
    char **names;
    int64_t nn;
    int found;
    rc = read_names(f, "conditions", "columns", &names, &nn, &found);
    if (rc)
        return rc;
    if (found && nn != out->c) {
        gs_h5_free_strv(names, nn);
        return gs_error(GS_ERR_FORMAT,
                        "%s: attribute columns names %lld conditions, /conditions has %lld",
                        path, (long long)nn, (long long)out->c);
    }
    out->cond_columns = names;
    return GS_OK;
}

static int images_read_h5(hid_t f, const char *path, const ds_read_opts *opts, ds_images *out)
{
    memset(out, 0, sizeof *out);
    int rc;
    uint8_t *drop = NULL;
    int64_t d[3];
    if (!gs_h5_exists(f, "images")) {
        rc = gs_error(GS_ERR_FORMAT, "%s: missing dataset /images%s", path,
                      gs_h5_exists(f, "events") ? " (the file is an event table, /events: "
                                                  "LUXE data, not an image set)"
                                                : "");
        goto done;
    }
    rc = read_table(path, f, "images", 3, d, &out->images, NULL, 0);
    if (rc)
        goto done;
    out->n = d[0];
    out->h = d[1];
    out->w = d[2];
    if (gs_h5_exists(f, "conditions")) {
        rc = read_conditions(path, f, out->n, out);
        if (rc)
            goto done;
    }
    drop = malloc((size_t)out->n);
    if (!drop) {
        rc = gs_error(GS_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    int64_t hw = out->h * out->w, brow, bcol, brow2 = -1, bcol2 = 0;
    int64_t nbad = flag_nonfinite(drop, out->n, out->images, hw, NULL, &brow, &bcol);
    if (out->cond) {
        for (int64_t i = 0; i < out->n; i++) {
            for (int64_t j = 0; j < out->c; j++) {
                if (!isfinite(out->cond[i * out->c + j])) {
                    if (brow2 < 0) {
                        brow2 = i;
                        bcol2 = j;
                    }
                    nbad += !drop[i];
                    drop[i] = 1;
                    break;
                }
            }
        }
    }
    if (nbad && !(opts && opts->drop_nonfinite)) {
        if (brow >= 0)
            rc = gs_error(GS_ERR_NUMERIC, "%s: /images image %lld pixel (row %lld, col %lld) is %s",
                          path, (long long)brow, (long long)(bcol / out->w),
                          (long long)(bcol % out->w), nonfinite_word(out->images[brow * hw + bcol]));
        else
            rc = gs_error(GS_ERR_NUMERIC, "%s: /conditions row %lld column %lld (%s) is %s", path,
                          (long long)brow2, (long long)bcol2,
                          out->cond_columns ? out->cond_columns[bcol2] : "?",
                          nonfinite_word(out->cond[brow2 * out->c + bcol2]));
        goto done;
    }
    if (nbad) {
        out->n = compact_rows(drop, out->n, out->images, hw, out->cond, out->c, NULL, NULL);
        if (out->n == 0)
            rc = gs_error(GS_ERR_NUMERIC, "%s: every image holds NaN/Inf", path);
    }
done:
    free(drop);
    if (rc)
        ds_images_free(out);
    return rc;
}

static int images_reader(hid_t f, const char *name, const ds_read_opts *opts, void *out)
{
    return images_read_h5(f, name, opts, out);
}

int ds_images_read(const char *path, const ds_read_opts *opts, ds_images *out)
{
    memset(out, 0, sizeof *out);
    return read_h5(0, NULL, 0, path, images_reader, opts, out);
}

int ds_images_read_image(const void *buf, size_t len, const char *name, const ds_read_opts *opts,
                         ds_images *out)
{
    memset(out, 0, sizeof *out);
    return read_h5(1, buf, len, name, images_reader, opts, out);
}

int ds_conditions_read(const char *path, ds_images *out)
{
    memset(out, 0, sizeof *out);
    hid_t f;
    int rc = gs_h5_open(path, 0, &f);
    if (rc)
        return rc;
    if (!gs_h5_exists(f, "conditions"))
        rc = gs_error(GS_ERR_FORMAT, "%s: missing dataset /conditions", path);
    if (!rc)
        rc = read_conditions(path, f, 0, out);
    if (!rc) {
        for (int64_t i = 0; i < out->n * out->c && !rc; i++)
            if (!isfinite(out->cond[i]))
                rc = gs_error(GS_ERR_NUMERIC, "%s: /conditions row %lld column %lld is %s", path,
                              (long long)(i / out->c), (long long)(i % out->c),
                              nonfinite_word(out->cond[i]));
    }
    gs_h5_close(f);
    if (rc)
        ds_images_free(out);
    return rc;
}

/* As ds_events_write: the streaming writer, one append. */
int ds_images_write(const char *path, const ds_images *im)
{
    if (!im || im->n < 1 || (im->h * im->w > 0 && !im->images) || (im->c > 0 && !im->cond) ||
        (im->h * im->w == 0 && im->c == 0))
        return gs_error(GS_ERR_ARG, "%s: refusing to write an empty image set", path);
    const ds_write_opts o = {.rows = im->n};
    ds_images_writer *w;
    int rc = ds_images_writer_open(path, im, &o, &w);
    if (rc)
        return rc;
    if ((rc = ds_images_writer_append(w, im))) {
        ds_images_writer_discard(w);
        return rc;
    }
    return ds_images_writer_close(w);
}

int ds_file_kind(const char *path, ds_kind *kind)
{
    *kind = DS_KIND_UNKNOWN;
    hid_t f;
    int rc = gs_h5_open(path, 0, &f);
    if (rc)
        return rc;
    if (gs_h5_exists(f, "events"))
        *kind = DS_KIND_EVENTS;
    else if (gs_h5_exists(f, "images"))
        *kind = DS_KIND_IMAGES;
    return gs_h5_close(f);
}

/* ---- streaming writers ---------------------------------------------------- */

struct ds_events_writer {
    char path[4096], tmp[4096];
    hid_t f;
    int64_t f_cols, rows;
    int has_pdg, has_w, has_bx;
    gs_h5_appender x, pdg, w, bx;
};

static void events_writer_free(ds_events_writer *w, int remove_tmp)
{
    gs_h5_append_close(&w->x);
    gs_h5_append_close(&w->pdg);
    gs_h5_append_close(&w->w);
    gs_h5_append_close(&w->bx);
    if (w->f >= 0)
        gs_h5_close(w->f);
    if (remove_tmp)
        gs_discard(w->tmp);
    free(w);
}

int ds_events_writer_open(const char *path, const ds_events *like, int with_bx,
                          const ds_write_opts *opts, ds_events_writer **out)
{
    *out = NULL;
    if (!like || like->f < 1 || !like->columns)
        return gs_error(GS_ERR_ARG, "%s: an event writer needs the columns", path);
    int rc = check_names("column", like->columns, like->f);
    if (!rc && like->units)
        rc = check_names("unit", like->units, like->f);
    if (rc)
        return gs_error_wrap(rc, path);
    const int64_t chunk = opts && opts->chunk_rows > 0 ? opts->chunk_rows : 65536;
    const int deflate = opts ? opts->deflate : 0;
    const int64_t nr = opts && opts->rows > 0 ? opts->rows : 0;
    ds_events_writer *w = calloc(1, sizeof *w);
    if (!w)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    w->f = H5I_INVALID_HID;
    snprintf(w->path, sizeof w->path, "%s", path);
    w->f_cols = like->f;
    w->has_pdg = like->pdg != NULL;
    w->has_w = like->weights != NULL;
    w->has_bx = with_bx;
    if ((rc = gs_tmp_path(w->tmp, sizeof w->tmp, path))) {
        free(w);
        return rc;
    }
    if ((rc = gs_h5_create(w->tmp, &w->f))) {
        free(w);
        return rc;
    }
    char *cols = gs_h5_join_csv(like->columns, like->f);
    char *units = like->units ? gs_h5_join_csv(like->units, like->f) : NULL;
    if (!cols || (like->units && !units))
        rc = gs_error(GS_ERR_NOMEM, "%s: out of memory", path);
    if (!rc)
        rc = gs_h5_append_create(w->f, "events", GS_H5_F32, 2, (int64_t[]){nr, like->f}, chunk,
                                 deflate, &w->x);
    if (!rc)
        rc = gs_h5_attr_write_str(w->f, "events", "columns", cols);
    if (!rc && units)
        rc = gs_h5_attr_write_str(w->f, "events", "units", units);
    if (!rc && w->has_pdg)
        rc = gs_h5_append_create(w->f, "pdg", GS_H5_I32, 1, &nr, chunk, deflate, &w->pdg);
    if (!rc && w->has_w)
        rc = gs_h5_append_create(w->f, "weights", GS_H5_F32, 1, &nr, chunk, deflate, &w->w);
    if (!rc && with_bx)
        rc = gs_h5_append_create(w->f, "bx", GS_H5_I64, 1, &nr, chunk, deflate, &w->bx);
    if (!rc && like->particles_per_bx > 0)
        rc = gs_h5_attr_write_f64(w->f, "/", "particles_per_bx", like->particles_per_bx);
    free(cols);
    free(units);
    if (rc) {
        events_writer_free(w, 1);
        return rc;
    }
    *out = w;
    return GS_OK;
}

int ds_events_writer_append(ds_events_writer *w, const ds_events *rows, const int64_t *bx)
{
    if (!rows || rows->n < 0 || rows->f != w->f_cols || (rows->n > 0 && !rows->x) ||
        (w->has_pdg && rows->n > 0 && !rows->pdg) || (w->has_w && rows->n > 0 && !rows->weights) ||
        (w->has_bx && rows->n > 0 && !bx))
        return gs_error(GS_ERR_ARG, "%s: appended rows do not match the table's layout", w->path);
    int rc = gs_h5_append(&w->x, rows->n, rows->x);
    if (!rc && w->has_pdg)
        rc = gs_h5_append(&w->pdg, rows->n, rows->pdg);
    if (!rc && w->has_w)
        rc = gs_h5_append(&w->w, rows->n, rows->weights);
    if (!rc && w->has_bx)
        rc = gs_h5_append(&w->bx, rows->n, bx);
    if (!rc)
        w->rows += rows->n;
    return rc;
}

int64_t ds_events_writer_rows(const ds_events_writer *w) { return w ? w->rows : 0; }

int ds_events_writer_close(ds_events_writer *w)
{
    if (!w)
        return gs_error(GS_ERR_ARG, "no event writer");
    if (w->rows < 1) {
        int rc = gs_error(GS_ERR_ARG, "%s: refusing to write an empty event table", w->path);
        events_writer_free(w, 1);
        return rc;
    }
    int rc = gs_h5_append_close(&w->x);
    int r2 = gs_h5_append_close(&w->pdg);
    int r3 = gs_h5_append_close(&w->w);
    int r4 = gs_h5_append_close(&w->bx);
    int r5 = gs_h5_close(w->f);
    w->f = H5I_INVALID_HID;
    rc = rc ? rc : r2 ? r2 : r3 ? r3 : r4 ? r4 : r5;
    if (!rc)
        rc = gs_commit(w->tmp, w->path);
    events_writer_free(w, rc != GS_OK);
    return rc;
}

void ds_events_writer_discard(ds_events_writer *w)
{
    if (w)
        events_writer_free(w, 1);
}

struct ds_images_writer {
    char path[4096], tmp[4096];
    hid_t f;
    int64_t h, w, c, rows;
    gs_h5_appender img, cond;
};

static void images_writer_free(ds_images_writer *w, int remove_tmp)
{
    gs_h5_append_close(&w->img);
    gs_h5_append_close(&w->cond);
    if (w->f >= 0)
        gs_h5_close(w->f);
    if (remove_tmp)
        gs_discard(w->tmp);
    free(w);
}

int ds_images_writer_open(const char *path, const ds_images *like, const ds_write_opts *opts,
                          ds_images_writer **out)
{
    *out = NULL;
    if (!like || like->h < 0 || like->w < 0 || like->c < 0 || (like->h * like->w == 0 && !like->c))
        return gs_error(GS_ERR_ARG, "%s: an image writer needs an image shape or conditions", path);
    int rc = like->cond_columns ? check_names("condition", like->cond_columns, like->c) : GS_OK;
    if (rc)
        return gs_error_wrap(rc, path);
    const int64_t chunk = opts && opts->chunk_rows > 0 ? opts->chunk_rows : 64;
    const int deflate = opts ? opts->deflate : 0;
    const int64_t nr = opts && opts->rows > 0 ? opts->rows : 0;
    ds_images_writer *w = calloc(1, sizeof *w);
    if (!w)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    w->f = H5I_INVALID_HID;
    snprintf(w->path, sizeof w->path, "%s", path);
    w->h = like->h;
    w->w = like->w;
    w->c = like->c;
    if ((rc = gs_tmp_path(w->tmp, sizeof w->tmp, path)) || (rc = gs_h5_create(w->tmp, &w->f))) {
        free(w);
        return rc;
    }
    if (w->h * w->w > 0)
        rc = gs_h5_append_create(w->f, "images", GS_H5_F32, 3, (int64_t[]){nr, w->h, w->w}, chunk,
                                 deflate, &w->img);
    if (!rc && w->c > 0) {
        rc = gs_h5_append_create(w->f, "conditions", GS_H5_F32, 2, (int64_t[]){nr, w->c}, chunk,
                                 deflate, &w->cond);
        char *cols = NULL;
        if (!rc && like->cond_columns)
            cols = gs_h5_join_csv(like->cond_columns, w->c);
        else if (!rc && w->c == DS_ZDC_NCOND)
            cols = gs_h5_join_csv((char *const *)zdc_cond_names, w->c);
        if (!rc && cols)
            rc = gs_h5_attr_write_str(w->f, "conditions", "columns", cols);
        free(cols);
    }
    if (rc) {
        images_writer_free(w, 1);
        return rc;
    }
    *out = w;
    return GS_OK;
}

int ds_images_writer_append(ds_images_writer *w, const ds_images *rows)
{
    if (!rows || rows->n < 0 || rows->h != w->h || rows->w != w->w || rows->c != w->c ||
        (rows->n > 0 && w->h * w->w > 0 && !rows->images) || (rows->n > 0 && w->c && !rows->cond))
        return gs_error(GS_ERR_ARG, "%s: appended images do not match the set's layout", w->path);
    int rc = w->h * w->w > 0 ? gs_h5_append(&w->img, rows->n, rows->images) : GS_OK;
    if (!rc && w->c)
        rc = gs_h5_append(&w->cond, rows->n, rows->cond);
    if (!rc)
        w->rows += rows->n;
    return rc;
}

int64_t ds_images_writer_rows(const ds_images_writer *w) { return w ? w->rows : 0; }

int ds_images_writer_close(ds_images_writer *w)
{
    if (!w)
        return gs_error(GS_ERR_ARG, "no image writer");
    if (w->rows < 1) {
        int rc = gs_error(GS_ERR_ARG, "%s: refusing to write an empty image set", w->path);
        images_writer_free(w, 1);
        return rc;
    }
    int rc = gs_h5_append_close(&w->img);
    int r2 = gs_h5_append_close(&w->cond);
    int r3 = gs_h5_close(w->f);
    w->f = H5I_INVALID_HID;
    rc = rc ? rc : r2 ? r2 : r3;
    if (!rc)
        rc = gs_commit(w->tmp, w->path);
    images_writer_free(w, rc != GS_OK);
    return rc;
}

void ds_images_writer_discard(ds_images_writer *w)
{
    if (w)
        images_writer_free(w, 1);
}

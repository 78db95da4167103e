/* Scalers, log transforms, coordinate changes, region and species splits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/gs_h5.h"
#include "preprocess/pp.h"

/* ---- scalers -------------------------------------------------------------- */

void pp_scaler_free(pp_scaler *s)
{
    if (!s)
        return;
    free(s->shift);
    free(s->scale);
    memset(s, 0, sizeof *s);
}

static int scaler_alloc(pp_scaler *s, pp_scaler_kind k, int64_t f)
{
    memset(s, 0, sizeof *s);
    s->kind = k;
    s->f = f;
    s->shift = calloc((size_t)f, sizeof(double));
    s->scale = calloc((size_t)f, sizeof(double));
    if (!s->shift || !s->scale) {
        pp_scaler_free(s);
        return gs_error(GS_ERR_NOMEM, "scaler: out of memory");
    }
    return GS_OK;
}

int pp_standard_fit(pp_scaler *s, const float *x, int64_t n, int64_t f)
{
    if (n < 1 || f < 1 || !x)
        return gs_error(GS_ERR_ARG, "standard scaler: need at least one row and one feature");
    int rc = scaler_alloc(s, PP_SCALER_STANDARD, f);
    if (rc)
        return rc;
    for (int64_t j = 0; j < f; j++) {
        /* two passes (mean, then squared deviations): stable for float data */
        double sum = 0, ss = 0;
        int64_t k = 0;
        for (int64_t i = 0; i < n; i++) {
            double v = x[i * f + j];
            if (!isnan(v)) {
                sum += v;
                k++;
            }
        }
        if (k == 0) {
            pp_scaler_free(s);
            return gs_error(GS_ERR_NUMERIC, "standard scaler: feature %lld is all NaN",
                            (long long)j);
        }
        double mean = sum / (double)k;
        for (int64_t i = 0; i < n; i++) {
            double v = x[i * f + j];
            if (!isnan(v))
                ss += (v - mean) * (v - mean);
        }
        double sd = sqrt(ss / (double)k);
        if (!isfinite(mean) || !isfinite(sd)) {
            pp_scaler_free(s);
            return gs_error(GS_ERR_NUMERIC, "standard scaler: feature %lld is not finite",
                            (long long)j);
        }
        s->shift[j] = mean;
        s->scale[j] = sd > 0 ? sd : 1.0; /* sklearn: constant features stay unscaled */
    }
    return GS_OK;
}

int pp_minmax_fit(pp_scaler *s, const float *x, int64_t n, int64_t f, double lo, double hi)
{
    if (n < 1 || f < 1 || !x)
        return gs_error(GS_ERR_ARG, "min-max scaler: need at least one row and one feature");
    if (!(lo < hi))
        return gs_error(GS_ERR_ARG, "min-max scaler: range [%g, %g] is empty", lo, hi);
    int rc = scaler_alloc(s, PP_SCALER_MINMAX, f);
    if (rc)
        return rc;
    for (int64_t j = 0; j < f; j++) {
        double mn = INFINITY, mx = -INFINITY;
        for (int64_t i = 0; i < n; i++) {
            double v = x[i * f + j];
            if (v < mn)
                mn = v;
            if (v > mx)
                mx = v;
        }
        if (!isfinite(mn) || !isfinite(mx)) {
            pp_scaler_free(s);
            return gs_error(GS_ERR_NUMERIC, "min-max scaler: feature %lld has no finite range",
                            (long long)j);
        }
        double range = mx - mn;
        if (range == 0)
            range = 1.0;
        /* y = (x - mn) / range * (hi - lo) + lo = (x - shift) / scale */
        s->scale[j] = range / (hi - lo);
        s->shift[j] = mn - lo * s->scale[j];
    }
    return GS_OK;
}

void pp_scaler_transform(const pp_scaler *s, const float *in, float *out, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < s->f; j++)
            out[i * s->f + j] = (float)(((double)in[i * s->f + j] - s->shift[j]) / s->scale[j]);
}

void pp_scaler_inverse(const pp_scaler *s, const float *in, float *out, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < s->f; j++)
            out[i * s->f + j] = (float)((double)in[i * s->f + j] * s->scale[j] + s->shift[j]);
}

int pp_scaler_save(const pp_scaler *s, hid_t g)
{
    if (!s || !s->scale)
        return gs_error(GS_ERR_STATE, "scaler: not fitted");
    int rc = gs_h5_attr_write_str(g, ".", "kind",
                                  s->kind == PP_SCALER_STANDARD ? "standard" : "minmax");
    if (!rc)
        rc = gs_h5_attr_write_i64(g, ".", "n_features", s->f);
    if (!rc)
        rc = gs_h5_write(g, "shift", GS_H5_F64, 1, &s->f, s->shift);
    if (!rc)
        rc = gs_h5_write(g, "scale", GS_H5_F64, 1, &s->f, s->scale);
    return rc;
}

int pp_scaler_load(pp_scaler *s, hid_t g)
{
    memset(s, 0, sizeof *s);
    char w[600], *kind = NULL;
    gs_h5_where(g, ".", w, sizeof w);
    int64_t f = 0, d1[1], d2[1];
    int rc = gs_h5_attr_read_str(g, ".", "kind", &kind);
    if (!rc) {
        if (!strcmp(kind, "standard"))
            s->kind = PP_SCALER_STANDARD;
        else if (!strcmp(kind, "minmax"))
            s->kind = PP_SCALER_MINMAX;
        else
            rc = gs_error(GS_ERR_FORMAT, "%s: kind '%s' is not a scaler", w, kind);
    }
    free(kind);
    if (!rc)
        rc = gs_h5_attr_read_i64(g, ".", "n_features", &f);
    if (!rc)
        rc = gs_h5_read(g, "shift", GS_H5_F64, 1, d1, (void **)&s->shift);
    if (!rc)
        rc = gs_h5_read(g, "scale", GS_H5_F64, 1, d2, (void **)&s->scale);
    if (!rc && (d1[0] != f || d2[0] != f))
        rc = gs_error(GS_ERR_FORMAT, "%s: shift/scale length differs from n_features %lld", w,
                      (long long)f);
    s->f = f;
    for (int64_t j = 0; !rc && j < f; j++)
        if (!isfinite(s->shift[j]) || !isfinite(s->scale[j]) || s->scale[j] == 0)
            rc = gs_error(GS_ERR_FORMAT, "%s: feature %lld has a non-finite or zero scale", w,
                          (long long)j);
    if (rc)
        pp_scaler_free(s);
    return rc;
}

/* ---- log ------------------------------------------------------------------ */

int64_t pp_log_column(float *x, int64_t n, int64_t f, int64_t col, double offset)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = (double)x[i * f + col] + offset;
        if (!(v > PP_LOG_GUARD)) { /* also catches NaN */
            v = PP_LOG_GUARD;
            bad++;
        }
        x[i * f + col] = (float)log10(v);
    }
    return bad;
}

void pp_exp_column(float *x, int64_t n, int64_t f, int64_t col, double offset)
{
    for (int64_t i = 0; i < n; i++)
        x[i * f + col] = (float)(pow(10.0, (double)x[i * f + col]) - offset);
}

/* ---- coordinates ---------------------------------------------------------- */

void pp_to_cylindrical(float *t, int64_t n, int64_t f, const pp_cyl_cols *c)
{
    for (int64_t i = 0; i < n; i++) {
        float *row = t + i * f;
        if (c->x >= 0 && c->y >= 0) {
            double x = row[c->x], y = row[c->y];
            row[c->x] = (float)hypot(x, y);
            row[c->y] = (float)atan2(y, x);
        }
        if (c->px >= 0 && c->py >= 0 && c->pz >= 0) {
            double px = row[c->px], py = row[c->py], pz = row[c->pz];
            double p = sqrt(px * px + py * py + pz * pz);
            row[c->px] = (float)p;
            row[c->py] = (float)(p > 0 ? acos(fmax(-1.0, fmin(1.0, pz / p))) : 0.0);
            row[c->pz] = (float)atan2(py, px);
        }
    }
}

void pp_from_cylindrical(float *t, int64_t n, int64_t f, const pp_cyl_cols *c)
{
    for (int64_t i = 0; i < n; i++) {
        float *row = t + i * f;
        if (c->x >= 0 && c->y >= 0) {
            double r = row[c->x], ph = row[c->y];
            row[c->x] = (float)(r * cos(ph));
            row[c->y] = (float)(r * sin(ph));
        }
        if (c->px >= 0 && c->py >= 0 && c->pz >= 0) {
            double p = row[c->px], th = row[c->py], ph = row[c->pz];
            double st = sin(th);
            row[c->px] = (float)(p * st * cos(ph));
            row[c->py] = (float)(p * st * sin(ph));
            row[c->pz] = (float)(p * cos(th));
        }
    }
}

/* ---- regions and species -------------------------------------------------- */

int pp_rect_parse(const char *s, pp_rect *r)
{
    *r = (pp_rect){-INFINITY, INFINITY, -INFINITY, INFINITY};
    char **parts;
    int64_t np;
    int rc = gs_h5_split_csv(s, &parts, &np);
    if (rc)
        return rc;
    for (int64_t k = 0; k < np && !rc; k++) {
        /* forms: a<v, v<b, a<v<b with v = x or y */
        const char *p = parts[k];
        char *end;
        double a = -INFINITY, b = INFINITY;
        if (*p != 'x' && *p != 'y') {
            a = strtod(p, &end);
            if (end == p || *end != '<') {
                rc = gs_error(GS_ERR_ARG, "region '%s': cannot parse '%s'", s, parts[k]);
                break;
            }
            p = end + 1;
        }
        char v = *p;
        if (v != 'x' && v != 'y') {
            rc = gs_error(GS_ERR_ARG, "region '%s': expected x or y in '%s'", s, parts[k]);
            break;
        }
        p++;
        if (*p == '<') {
            b = strtod(p + 1, &end);
            if (end == p + 1 || *end) {
                rc = gs_error(GS_ERR_ARG, "region '%s': cannot parse '%s'", s, parts[k]);
                break;
            }
        } else if (*p) {
            rc = gs_error(GS_ERR_ARG, "region '%s': cannot parse '%s'", s, parts[k]);
            break;
        }
        if (v == 'x') {
            r->xmin = fmax(r->xmin, a);
            r->xmax = fmin(r->xmax, b);
        } else {
            r->ymin = fmax(r->ymin, a);
            r->ymax = fmin(r->ymax, b);
        }
    }
    gs_h5_free_strv(parts, np);
    return rc;
}

void pp_label_radius(const float *t, int64_t n, int64_t f, int64_t ix, int64_t iy,
                     const double *radii, int nradii, int32_t *label)
{
    for (int64_t i = 0; i < n; i++) {
        double r = hypot(t[i * f + ix], t[i * f + iy]);
        int32_t l = 0;
        while (l < nradii && r >= radii[l])
            l++;
        label[i] = l;
    }
}

void pp_label_rects(const float *t, int64_t n, int64_t f, int64_t ix, int64_t iy,
                    const pp_rect *rects, int nrect, int32_t *label)
{
    for (int64_t i = 0; i < n; i++) {
        double x = t[i * f + ix], y = t[i * f + iy];
        int32_t l = 0;
        while (l < nrect && !(x > rects[l].xmin && x < rects[l].xmax && y > rects[l].ymin &&
                              y < rects[l].ymax))
            l++;
        label[i] = l;
    }
}

void pp_mask_species(const int32_t *pdg, int64_t n, const int32_t *codes, int ncodes,
                     uint8_t *mask)
{
    for (int64_t i = 0; i < n; i++) {
        uint8_t m = 0;
        for (int k = 0; k < ncodes && !m; k++)
            m = pdg[i] == codes[k];
        mask[i] = m;
    }
}

void pp_mask_label(const int32_t *label, int64_t n, int32_t want, uint8_t *mask)
{
    for (int64_t i = 0; i < n; i++)
        mask[i] = label[i] == want;
}

int64_t pp_mask_to_index(const uint8_t *mask, int64_t n, int64_t *idx)
{
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (mask[i])
            idx[k++] = i;
    return k;
}

void pp_gather_rows(const float *t, int64_t f, const int64_t *idx, int64_t m, float *out)
{
    for (int64_t k = 0; k < m; k++)
        memcpy(out + k * f, t + idx[k] * f, (size_t)f * sizeof *out);
}

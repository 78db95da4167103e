/* CSV import of event tables: a header row of names, then one row per
 * particle. Blank lines and lines starting with '#' are skipped. A column
 * named pdg/species becomes /pdg (integer valued), weight/weights becomes
 * /weights; the rest are features in file order. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gs_h5.h"
#include "datasets/ds_internal.h"

static int is_blank_or_comment(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    return *s == '\0' || *s == '#';
}

static void chomp(char *s)
{
    size_t l = strlen(s);
    while (l && (s[l - 1] == '\n' || s[l - 1] == '\r'))
        s[--l] = '\0';
}

/* Growable float/int arrays. */
typedef struct {
    float *x;
    int32_t *pdg;
    float *wt;
    int64_t rows, cap;
} csv_buf;

static int grow(csv_buf *b, int64_t f)
{
    if (b->rows < b->cap)
        return 0;
    int64_t nc = b->cap ? b->cap * 2 : 1024;
    size_t bytes;
    if (gs_mul_overflow((size_t)nc, (size_t)f * sizeof(float), &bytes))
        return -1;
    float *x = realloc(b->x, bytes);
    if (!x)
        return -1;
    b->x = x;
    int32_t *p = realloc(b->pdg, (size_t)nc * sizeof *p);
    if (!p)
        return -1;
    b->pdg = p;
    float *w = realloc(b->wt, (size_t)nc * sizeof *w);
    if (!w)
        return -1;
    b->wt = w;
    b->cap = nc;
    return 0;
}

int ds_events_read_csv(const char *path, const ds_read_opts *opts, ds_events *out)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return gs_error(GS_ERR_IO, "%s: %s", path, strerror(errno));
    int rc = ds_events_read_csv_stream(fp, path, opts, out);
    fclose(fp);
    return rc;
}

int ds_events_read_csv_stream(FILE *fp, const char *path, const ds_read_opts *opts,
                              ds_events *out)
{
    memset(out, 0, sizeof *out);
    char *line = NULL;
    size_t lcap = 0;
    long long lineno = 0;
    char **names = NULL;
    int64_t ncol = 0, nfeat = 0, ipdg = -1, iwt = -1;
    const char **feat = NULL;
    csv_buf b = {0};
    double *vals = NULL;
    int rc = GS_OK, drop_ok = opts && opts->drop_nonfinite;

    /* header */
    for (;;) {
        errno = 0;
        if (getline(&line, &lcap, fp) < 0) {
            /* a directory opens fine but fails here with EISDIR */
            rc = ferror(fp) ? gs_error(GS_ERR_IO, "%s: cannot read: %s", path,
                                       strerror(errno ? errno : EIO))
                            : gs_error(GS_ERR_FORMAT, "%s: no header row", path);
            goto done;
        }
        lineno++;
        if (!is_blank_or_comment(line))
            break;
    }
    chomp(line);
    rc = gs_h5_split_csv(line, &names, &ncol);
    if (rc)
        goto done;
    if (opts && (rc = ds_map_columns(names, ncol, opts->columns, path)))
        goto done;
    feat = calloc((size_t)ncol, sizeof *feat);
    vals = calloc((size_t)ncol, sizeof *vals);
    if (!feat || !vals) {
        rc = gs_error(GS_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int64_t j = 0; j < ncol; j++) {
        if (!names[j][0]) {
            rc = gs_error(GS_ERR_FORMAT, "%s: line %lld: header field %lld is empty", path, lineno,
                          (long long)j + 1);
            goto done;
        }
        for (int64_t k = 0; k < j; k++)
            if (!strcmp(names[k], names[j])) {
                rc = gs_error(GS_ERR_FORMAT, "%s: line %lld: column '%s' appears twice", path,
                              lineno, names[j]);
                goto done;
            }
        if ((!strcmp(names[j], "pdg") || !strcmp(names[j], "species")) && ipdg < 0)
            ipdg = j;
        else if ((!strcmp(names[j], "weight") || !strcmp(names[j], "weights")) && iwt < 0)
            iwt = j;
        else
            feat[nfeat++] = names[j];
    }
    if (nfeat == 0) {
        char found[1024];
        rc = gs_error(GS_ERR_FORMAT, "%s: line %lld: header names no feature columns (found: %s; "
                      "pdg/species and weight(s) are not features)", path, lineno,
                      ds_names_list(names, ncol, found, sizeof found));
        goto done;
    }

    /* rows */
    while (getline(&line, &lcap, fp) >= 0) {
        lineno++;
        if (is_blank_or_comment(line))
            continue;
        chomp(line);
        int64_t nf = 1;
        for (const char *p = line; *p; p++)
            nf += *p == ',';
        if (nf != ncol) {
            rc = gs_error(GS_ERR_FORMAT, "%s: line %lld: expected %lld fields, found %lld", path,
                          lineno, (long long)ncol, (long long)nf);
            goto done;
        }
        char *p = line;
        int finite = 1;
        for (int64_t j = 0; j < ncol; j++) {
            char *end;
            errno = 0;
            double v = strtod(p, &end);
            char *q = end;
            while (*q == ' ' || *q == '\t')
                q++;
            if (end == p || (*q != ',' && *q != '\0')) {
                char *e = strchr(p, ',');
                int len = e ? (int)(e - p) : (int)strlen(p);
                rc = gs_error(GS_ERR_FORMAT, "%s: line %lld, column '%s': not a number: '%.*s'",
                              path, lineno, names[j], len > 40 ? 40 : len, p);
                goto done;
            }
            if (!isfinite(v))
                finite = 0;
            if (!isfinite(v) && !drop_ok) {
                rc = gs_error(GS_ERR_NUMERIC, "%s: line %lld, column '%s': value is %s", path,
                              lineno, names[j], isnan(v) ? "NaN" : "infinite");
                goto done;
            }
            /* a finite number float32 cannot hold is not "infinite" and is
             * no reason to drop a row silently: refused always */
            if (isfinite(v) && isinf((float)v) && j != ipdg) {
                rc = gs_error(GS_ERR_FORMAT, "%s: line %lld, column '%s': value %.9g is outside "
                              "the float32 range (|x| <= 3.4028235e+38)", path, lineno, names[j],
                              v);
                goto done;
            }
            if (j == ipdg && isfinite(v) && v != floor(v)) {
                rc = gs_error(GS_ERR_FORMAT, "%s: line %lld, column '%s': not an integer PDG code: "
                              "%.9g", path, lineno, names[j], v);
                goto done;
            }
            if (j == ipdg && isfinite(v) && fabs(v) > 2147483647.0) {
                rc = gs_error(GS_ERR_FORMAT, "%s: line %lld, column '%s': PDG code %.0f is outside "
                              "the int32 range (-2147483648..2147483647)", path, lineno, names[j],
                              v);
                goto done;
            }
            vals[j] = v;
            p = *q ? q + 1 : q;
        }
        if (!finite)
            continue; /* drop_nonfinite: skip the row */
        if (grow(&b, nfeat)) {
            rc = gs_error(GS_ERR_NOMEM, "%s: out of memory at line %lld", path, lineno);
            goto done;
        }
        int64_t k = 0;
        for (int64_t j = 0; j < ncol; j++) {
            if (j == ipdg)
                b.pdg[b.rows] = (int32_t)vals[j];
            else if (j == iwt)
                b.wt[b.rows] = (float)vals[j];
            else
                b.x[b.rows * nfeat + k++] = (float)vals[j];
        }
        b.rows++;
    }
    if (ferror(fp)) {
        rc = gs_error(GS_ERR_IO, "%s: read error after line %lld", path, lineno);
        goto done;
    }
    if (b.rows == 0) {
        rc = gs_error(GS_ERR_FORMAT, "%s: no data rows (N = 0)", path);
        goto done;
    }
    rc = ds_events_alloc(out, 0, nfeat, feat, NULL, 0, 0);
    if (rc)
        goto done;
    free(out->x);
    out->n = b.rows;
    out->x = b.x;
    b.x = NULL;
    if (ipdg >= 0) {
        out->pdg = b.pdg;
        b.pdg = NULL;
    }
    if (iwt >= 0) {
        out->weights = b.wt;
        b.wt = NULL;
    }
    rc = ds_apply_import_opts(out, opts, path);
done:
    free(line);
    free(vals);
    free(feat);
    gs_h5_free_strv(names, ncol);
    free(b.x);
    free(b.pdg);
    free(b.wt);
    if (rc)
        ds_events_free(out);
    return rc;
}

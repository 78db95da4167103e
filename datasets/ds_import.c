/* Import metadata for event tables: a column-name mapping, units and
 * particles per bunch crossing given by the user for files that cannot
 * carry them (CSV) or lack them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/gs_h5.h"
#include "datasets/ds_internal.h"

const char *ds_names_list(char *const *names, int64_t n, char *buf, size_t size)
{
    size_t l = 0;
    buf[0] = '\0';
    for (int64_t i = 0; i < n; i++) {
        int w = snprintf(buf + l, size - l, "%s%s", i ? "," : "", names[i]);
        if (w < 0 || (size_t)w >= size - l) {
            if (size > 4)
                snprintf(buf + size - 4, 4, "...");
            break;
        }
        l += (size_t)w;
    }
    return buf;
}

/* Splits "a=b,c=d" into n pairs (malloc'd; free both vectors). */
static int split_pairs(const char *spec, const char *what, char ***left, char ***right,
                       int64_t *n)
{
    char **items;
    int64_t k;
    *left = *right = NULL;
    *n = 0;
    int rc = gs_h5_split_csv(spec, &items, &k);
    if (rc)
        return rc;
    char **l = calloc((size_t)k, sizeof *l), **r = calloc((size_t)k, sizeof *r);
    if (!l || !r) {
        free(l);
        free(r);
        gs_h5_free_strv(items, k);
        return gs_error(GS_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < k && !rc; i++) {
        char *eq = strchr(items[i], '=');
        if (!eq || eq == items[i] || !eq[1]) {
            rc = gs_error(GS_ERR_ARG, "%s '%s': expected NAME=VALUE pairs separated by commas",
                          what, items[i]);
            break;
        }
        *eq = '\0';
        char **lv, **rv;
        int64_t ln, rn;
        /* trims blanks around each side */
        if ((rc = gs_h5_split_csv(items[i], &lv, &ln)))
            break;
        if ((rc = gs_h5_split_csv(eq + 1, &rv, &rn))) {
            gs_h5_free_strv(lv, ln);
            break;
        }
        l[i] = lv[0];
        r[i] = rv[0];
        free(lv);
        free(rv);
        if (!l[i][0] || !r[i][0])
            rc = gs_error(GS_ERR_ARG, "%s: an empty name in '%s'", what, spec);
    }
    gs_h5_free_strv(items, k);
    if (rc) {
        gs_h5_free_strv(l, k);
        gs_h5_free_strv(r, k);
        return rc;
    }
    *left = l;
    *right = r;
    *n = k;
    return GS_OK;
}

int ds_map_columns(char **names, int64_t n, const char *spec, const char *path)
{
    if (!spec || !spec[0])
        return GS_OK;
    char **to, **from;
    int64_t k;
    int rc = split_pairs(spec, "column mapping", &to, &from, &k);
    if (rc)
        return rc;
    /* all lookups against the names as in the file, so x=y,y=x swaps */
    int64_t *idx = calloc((size_t)k, sizeof *idx);
    char found[1024];
    if (!idx)
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < k && !rc; i++) {
        idx[i] = -1;
        for (int64_t j = 0; j < n; j++)
            if (!strcmp(names[j], from[i]))
                idx[i] = j;
        if (idx[i] < 0)
            rc = gs_error(GS_ERR_ARG, "%s: column mapping %s=%s: the file has no column '%s' "
                          "(its columns: %s)", path, to[i], from[i], from[i],
                          ds_names_list(names, n, found, sizeof found));
        for (int64_t j = 0; j < i && !rc; j++)
            if (idx[j] == idx[i])
                rc = gs_error(GS_ERR_ARG, "column mapping: column '%s' is mapped twice", from[i]);
    }
    for (int64_t i = 0; i < k && !rc; i++) {
        char *s = strdup(to[i]);
        if (!s) {
            rc = gs_error(GS_ERR_NOMEM, "out of memory");
            break;
        }
        free(names[idx[i]]);
        names[idx[i]] = s;
    }
    for (int64_t i = 0; i < n && !rc; i++)
        for (int64_t j = 0; j < i && !rc; j++)
            if (!strcmp(names[i], names[j]))
                rc = gs_error(GS_ERR_ARG, "%s: after the column mapping two columns are named "
                              "'%s' (columns: %s)", path, names[i],
                              ds_names_list(names, n, found, sizeof found));
    free(idx);
    gs_h5_free_strv(to, k);
    gs_h5_free_strv(from, k);
    return rc;
}

/* Units from "u1,u2,..." (one per feature, in order) or "col=u,..." (every
 * feature by name) into a fresh vector of ev->f strings. */
static int parse_units(const ds_events *ev, const char *spec, const char *path, char ***out)
{
    char found[1024];
    *out = NULL;
    int rc;
    if (!strchr(spec, '=')) {
        char **u;
        int64_t k;
        if ((rc = gs_h5_split_csv(spec, &u, &k)))
            return rc;
        for (int64_t i = 0; i < k && !rc; i++)
            if (!u[i][0])
                rc = gs_error(GS_ERR_ARG, "units: unit %lld of '%s' is empty", (long long)i + 1,
                              spec);
        if (!rc && k != ev->f)
            rc = gs_error(GS_ERR_ARG, "%s: units: %lld given for %lld feature columns (%s); "
                          "give one per column in order, or NAME=UNIT pairs", path, (long long)k,
                          (long long)ev->f, ds_names_list(ev->columns, ev->f, found,
                                                          sizeof found));
        if (rc) {
            gs_h5_free_strv(u, k);
            return rc;
        }
        *out = u;
        return GS_OK;
    }
    char **names, **units;
    int64_t k;
    if ((rc = split_pairs(spec, "units", &names, &units, &k)))
        return rc;
    char **u = calloc((size_t)ev->f, sizeof *u);
    if (!u)
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < k && !rc; i++) {
        int64_t j = ds_events_column(ev, names[i]);
        if (j < 0)
            rc = gs_error(GS_ERR_ARG, "%s: units: no feature column '%s' (feature columns: %s)",
                          path, names[i], ds_names_list(ev->columns, ev->f, found, sizeof found));
        else if (u[j])
            rc = gs_error(GS_ERR_ARG, "units: column '%s' given twice", names[i]);
        else if (!(u[j] = strdup(units[i])))
            rc = gs_error(GS_ERR_NOMEM, "out of memory");
    }
    for (int64_t j = 0; j < ev->f && !rc; j++)
        if (!u[j]) {
            /* name every column still without a unit */
            char miss[1024] = "";
            size_t l = 0;
            for (int64_t m = j; m < ev->f && l + 1 < sizeof miss; m++)
                if (!u[m]) {
                    int w = snprintf(miss + l, sizeof miss - l, "%s%s", l ? "," : "",
                                     ev->columns[m]);
                    if (w > 0)
                        l += (size_t)w;
                }
            rc = gs_error(GS_ERR_ARG, "%s: units: no unit for %s (every feature column needs "
                          "one: %s)", path, miss,
                          ds_names_list(ev->columns, ev->f, found, sizeof found));
        }
    gs_h5_free_strv(names, k);
    gs_h5_free_strv(units, k);
    if (rc) {
        if (u) {
            for (int64_t j = 0; j < ev->f; j++)
                free(u[j]);
            free(u);
        }
        return rc;
    }
    *out = u;
    return GS_OK;
}

int ds_apply_import_opts(ds_events *ev, const ds_read_opts *o, const char *path)
{
    if (!o)
        return GS_OK;
    if (o->units && o->units[0]) {
        char **u;
        int rc = parse_units(ev, o->units, path, &u);
        if (rc)
            return rc;
        if (ev->units) {
            for (int64_t j = 0; j < ev->f; j++)
                if (strcmp(ev->units[j], u[j])) {
                    rc = gs_error(GS_ERR_ARG, "%s: the file gives column '%s' the unit '%s', "
                                  "not '%s' as asked", path, ev->columns[j], ev->units[j], u[j]);
                    break;
                }
            gs_h5_free_strv(u, ev->f);
            if (rc)
                return rc;
        } else {
            ev->units = u;
        }
    }
    if (o->particles_per_bx != 0) {
        if (!isfinite(o->particles_per_bx) || o->particles_per_bx <= 0)
            return gs_error(GS_ERR_ARG, "particles per bunch crossing %g is not a finite number "
                            "> 0", o->particles_per_bx);
        if (ev->particles_per_bx > 0 && ev->particles_per_bx != o->particles_per_bx)
            return gs_error(GS_ERR_ARG, "%s: the file states particles_per_bx = %.17g, not %.17g "
                            "as asked", path, ev->particles_per_bx, o->particles_per_bx);
        ev->particles_per_bx = o->particles_per_bx;
    }
    return GS_OK;
}

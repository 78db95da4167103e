/* Quantile transform matching sklearn.preprocessing.QuantileTransformer
 * (see pp.h for the exact rules followed). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/gs_h5.h"
#include "preprocess/pp.h"

/* ---- normal distribution -------------------------------------------------- */

double pp_norm_cdf(double x) { return 0.5 * erfc(-x / M_SQRT2); }

/* Wichura (1988), Algorithm AS241 PPND16, as in R's qnorm. */
double pp_norm_ppf(double p)
{
    if (isnan(p))
        return NAN;
    if (p <= 0.0)
        return p == 0.0 ? -INFINITY : NAN;
    if (p >= 1.0)
        return p == 1.0 ? INFINITY : NAN;
    double q = p - 0.5, r, val;
    if (fabs(q) <= 0.425) {
        r = 0.180625 - q * q;
        return q *
               (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r +
                     67265.770927008700853) * r + 45921.953931549871457) * r +
                   13731.693765509461125) * r + 1971.5909503065514427) * r +
                 133.14166789178437745) * r + 3.387132872796366608) /
               (((((((r * 5226.495278852545925 + 28729.085735721942674) * r +
                     39307.89580009271061) * r + 21213.794301586595867) * r +
                   5394.1960214247511077) * r + 687.1870074920579083) * r +
                 42.313330701600911252) * r + 1.0);
    }
    r = q < 0 ? p : 1.0 - p;
    r = sqrt(-log(r));
    if (r <= 5.0) {
        r -= 1.6;
        val = (((((((r * 7.7454501427834140764e-4 + 0.0227238449892691845833) * r +
                    0.24178072517745061177) * r + 1.27045825245236838258) * r +
                  3.64784832476320460504) * r + 5.7694972214606914055) * r +
                4.6303378461565452959) * r + 1.42343711074968357734) /
              (((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r +
                    0.0151986665636164571966) * r + 0.14810397642748007459) * r +
                  0.68976733498510000455) * r + 1.6763848301838038494) * r +
                2.05319162663775882187) * r + 1.0);
    } else {
        r -= 5.0;
        val = (((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r +
                    0.0012426609473880784386) * r + 0.026532189526576123093) * r +
                  0.29656057182850489123) * r + 1.7848265399172913358) * r +
                5.4637849111641143699) * r + 6.6579046435011037772) /
              (((((((r * 2.04426310338993978564e-15 + 1.4215117583164458887e-7) * r +
                    1.8463183175100546818e-5) * r + 7.868691311456132591e-4) * r +
                  0.0148753612908506148525) * r + 0.13692988092273580531) * r +
                0.59983220655588793769) * r + 1.0);
    }
    return q < 0.0 ? -val : val;
}

/* ---- np.interp ------------------------------------------------------------ */

/* numpy's arr_interp for increasing (possibly repeated) xp: j is the
 * largest index with xp[j] <= x, so a run of equal xp yields the fp of its
 * last member. xp/fp are read as xp[k * s] via base + stride so that the
 * reversed-negated variant needs no copy. */
typedef struct {
    const double *xp, *fp;
    int64_t n;
    int neg_rev; /* 1: use -xp[n-1-k], -fp[n-1-k] */
} interp_tab;

static inline double tx(const interp_tab *t, int64_t k)
{
    return t->neg_rev ? -t->xp[t->n - 1 - k] : t->xp[k];
}

static inline double tf(const interp_tab *t, int64_t k)
{
    return t->neg_rev ? -t->fp[t->n - 1 - k] : t->fp[k];
}

static double np_interp(const interp_tab *t, double x)
{
    int64_t n = t->n;
    if (isnan(x))
        return NAN;
    if (x > tx(t, n - 1))
        return tf(t, n - 1);
    if (x < tx(t, 0))
        return tf(t, 0);
    int64_t lo = 0, hi = n; /* first index with xp > x, minus one */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (tx(t, mid) <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    int64_t j = lo - 1;
    if (j >= n - 1)
        return tf(t, n - 1);
    double xj = tx(t, j), xj1 = tx(t, j + 1), fj = tf(t, j), fj1 = tf(t, j + 1);
    if (xj == x)
        return fj;
    double slope = (fj1 - fj) / (xj1 - xj);
    double r = slope * (x - xj) + fj;
    if (isnan(r)) {
        r = slope * (x - xj1) + fj1;
        if (isnan(r) && fj == fj1)
            r = fj;
    }
    return r;
}

/* ---- fit ------------------------------------------------------------------ */

void pp_quantile_opts_default(pp_quantile_opts *o)
{
    o->n_quantiles = 1000;
    o->output = PP_NORMAL;
    o->subsample = 0;
    o->seed = 0;
}

void pp_quantile_free(pp_quantile *qt)
{
    if (!qt)
        return;
    free(qt->references);
    free(qt->quantiles);
    free(qt->columns);
    free(qt->units);
    memset(qt, 0, sizeof *qt);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* np.linspace(0, 1, nq) exactly: i * step, last element forced to 1. */
static void linspace01(double *ref, int64_t nq)
{
    if (nq == 1) {
        ref[0] = 0.0;
        return;
    }
    double step = 1.0 / (double)(nq - 1);
    for (int64_t i = 0; i < nq; i++)
        ref[i] = (double)i * step;
    ref[nq - 1] = 1.0;
}

/* numpy's _lerp: a + (b - a) t, computed from b's side when t >= 0.5. */
static double np_lerp(double a, double b, double t)
{
    double d = b - a;
    return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

int pp_quantile_fit(pp_quantile *qt, const float *x, int64_t n, int64_t f,
                    const pp_quantile_opts *opts)
{
    memset(qt, 0, sizeof *qt);
    pp_quantile_opts o;
    if (opts)
        o = *opts;
    else
        pp_quantile_opts_default(&o);
    if (n < 1 || f < 1 || !x)
        return gs_error(GS_ERR_ARG, "quantile fit: need at least one row and one feature");
    if (o.n_quantiles < 1)
        return gs_error(GS_ERR_ARG, "quantile fit: n_quantiles = %lld, need >= 1",
                        (long long)o.n_quantiles);
    if (o.output != PP_NORMAL && o.output != PP_UNIFORM)
        return gs_error(GS_ERR_ARG, "quantile fit: unknown output distribution");
    if (o.subsample < 0)
        return gs_error(GS_ERR_ARG, "quantile fit: subsample must be >= 0");
    /* rows used: all, or a random subset (one subset for every feature) */
    int64_t m = (o.subsample > 0 && o.subsample < n) ? o.subsample : n;
    int64_t *rows = NULL;
    if (m < n) {
        rows = malloc((size_t)n * sizeof *rows);
        if (!rows)
            return gs_error(GS_ERR_NOMEM, "quantile fit: out of memory");
        for (int64_t i = 0; i < n; i++)
            rows[i] = i;
        gs_rng r;
        gs_rng_seed(&r, o.seed);
        for (int64_t i = 0; i < m; i++) { /* partial Fisher–Yates */
            int64_t j = i + (int64_t)gs_rng_below(&r, (uint64_t)(n - i));
            int64_t t = rows[i];
            rows[i] = rows[j];
            rows[j] = t;
        }
    }
    qt->f = f;
    qt->nq = o.n_quantiles < m ? o.n_quantiles : m; /* sklearn caps at n_samples */
    qt->output = o.output;
    qt->references = malloc((size_t)qt->nq * sizeof(double));
    size_t qbytes;
    double *col = malloc((size_t)m * sizeof *col);
    int rc = GS_OK;
    if (gs_mul_overflow((size_t)qt->nq * sizeof(double), (size_t)f, &qbytes) ||
        !(qt->quantiles = malloc(qbytes)) || !qt->references || !col) {
        rc = gs_error(GS_ERR_NOMEM, "quantile fit: out of memory");
        goto done;
    }
    linspace01(qt->references, qt->nq);
    for (int64_t j = 0; j < f && !rc; j++) {
        int64_t k = 0;
        for (int64_t i = 0; i < m; i++) {
            double v = x[(rows ? rows[i] : i) * f + j];
            if (isnan(v))
                continue; /* nanpercentile */
            if (isinf(v)) {
                rc = gs_error(GS_ERR_NUMERIC, "quantile fit: feature %lld row %lld is infinite",
                              (long long)j, (long long)(rows ? rows[i] : i));
                break;
            }
            col[k++] = v;
        }
        if (rc)
            break;
        if (k == 0) {
            rc = gs_error(GS_ERR_NUMERIC, "quantile fit: feature %lld is all NaN", (long long)j);
            break;
        }
        qsort(col, (size_t)k, sizeof *col, cmp_double);
        double prev = -INFINITY;
        for (int64_t q = 0; q < qt->nq; q++) {
            /* sklearn passes references * 100 to nanpercentile, which divides by 100 */
            double qq = (qt->references[q] * 100.0) / 100.0;
            double vi = (double)(k - 1) * qq;
            double lo = floor(vi);
            int64_t i0 = (int64_t)lo, i1 = i0 + 1;
            if (i0 < 0)
                i0 = 0;
            if (i0 > k - 1)
                i0 = k - 1;
            if (i1 > k - 1)
                i1 = k - 1;
            double v = np_lerp(col[i0], col[i1], vi - lo);
            if (v < prev)
                v = prev; /* np.maximum.accumulate */
            prev = v;
            qt->quantiles[q * f + j] = v;
        }
    }
done:
    free(col);
    free(rows);
    if (rc)
        pp_quantile_free(qt);
    return rc;
}

/* ---- transform ------------------------------------------------------------ */

/* Per-feature contiguous copy of the quantiles (transform is column-wise). */
static double *column_copy(const pp_quantile *qt, int64_t j)
{
    double *c = malloc((size_t)qt->nq * sizeof *c);
    if (c)
        for (int64_t q = 0; q < qt->nq; q++)
            c[q] = qt->quantiles[q * qt->f + j];
    return c;
}

static double clip_lo(void) { return pp_norm_ppf(PP_BOUNDS_THRESHOLD - DBL_EPSILON); }
static double clip_hi(void) { return pp_norm_ppf(1.0 - (PP_BOUNDS_THRESHOLD - DBL_EPSILON)); }

static double fwd(const pp_quantile *qt, const double *q, double v, double cmin, double cmax)
{
    int64_t nq = qt->nq;
    if (isnan(v))
        return NAN;
    int lower, upper;
    if (qt->output == PP_NORMAL) {
        lower = v - PP_BOUNDS_THRESHOLD < q[0];
        upper = v + PP_BOUNDS_THRESHOLD > q[nq - 1];
    } else {
        lower = v == q[0];
        upper = v == q[nq - 1];
    }
    interp_tab a = {q, qt->references, nq, 0}, b = {q, qt->references, nq, 1};
    double y = 0.5 * (np_interp(&a, v) - np_interp(&b, -v));
    if (upper)
        y = 1.0;
    if (lower)
        y = 0.0;
    if (qt->output == PP_NORMAL) {
        y = pp_norm_ppf(y);
        y = y < cmin ? cmin : y > cmax ? cmax : y;
    }
    return y;
}

static double inv(const pp_quantile *qt, const double *q, double v)
{
    int64_t nq = qt->nq;
    if (isnan(v))
        return NAN;
    int lower, upper;
    if (qt->output == PP_NORMAL) {
        v = pp_norm_cdf(v);
        lower = v - PP_BOUNDS_THRESHOLD < 0.0;
        upper = v + PP_BOUNDS_THRESHOLD > 1.0;
    } else {
        lower = v == 0.0;
        upper = v == 1.0;
    }
    interp_tab a = {qt->references, q, nq, 0};
    double y = np_interp(&a, v);
    if (upper)
        y = q[nq - 1];
    if (lower)
        y = q[0];
    return y;
}

static int apply(const pp_quantile *qt, const float *in, float *out, int64_t n, int inverse)
{
    if (!qt || !qt->quantiles || qt->nq < 1)
        return gs_error(GS_ERR_STATE, "quantile transform: not fitted");
    double cmin = clip_lo(), cmax = clip_hi();
    for (int64_t j = 0; j < qt->f; j++) {
        double *q = column_copy(qt, j);
        if (!q)
            return gs_error(GS_ERR_NOMEM, "quantile transform: out of memory");
        for (int64_t i = 0; i < n; i++) {
            double v = in[i * qt->f + j];
            out[i * qt->f + j] = (float)(inverse ? inv(qt, q, v) : fwd(qt, q, v, cmin, cmax));
        }
        free(q);
    }
    return GS_OK;
}

int pp_quantile_transform(const pp_quantile *qt, const float *in, float *out, int64_t n)
{
    return apply(qt, in, out, n, 0);
}

int pp_quantile_inverse(const pp_quantile *qt, const float *in, float *out, int64_t n)
{
    return apply(qt, in, out, n, 1);
}

double pp_quantile_transform1(const pp_quantile *qt, int64_t feature, double v)
{
    double *q = column_copy(qt, feature);
    if (!q)
        return NAN;
    double y = fwd(qt, q, v, clip_lo(), clip_hi());
    free(q);
    return y;
}

double pp_quantile_inverse1(const pp_quantile *qt, int64_t feature, double v)
{
    double *q = column_copy(qt, feature);
    if (!q)
        return NAN;
    double y = inv(qt, q, v);
    free(q);
    return y;
}

/* ---- HDF5 ----------------------------------------------------------------- */

int pp_quantile_save(const pp_quantile *qt, hid_t g)
{
    if (!qt || !qt->quantiles)
        return gs_error(GS_ERR_STATE, "quantile transform: not fitted");
    int rc = gs_h5_attr_write_str(g, ".", "kind", "quantile_transform");
    if (!rc)
        rc = gs_h5_attr_write_str(g, ".", "output_distribution",
                                  qt->output == PP_NORMAL ? "normal" : "uniform");
    if (!rc)
        rc = gs_h5_attr_write_i64(g, ".", "n_quantiles", qt->nq);
    if (!rc)
        rc = gs_h5_attr_write_i64(g, ".", "n_features", qt->f);
    if (!rc && qt->columns)
        rc = gs_h5_attr_write_str(g, ".", "columns", qt->columns);
    if (!rc && qt->units)
        rc = gs_h5_attr_write_str(g, ".", "units", qt->units);
    if (!rc)
        rc = gs_h5_write(g, "quantiles", GS_H5_F64, 2, (int64_t[]){qt->nq, qt->f}, qt->quantiles);
    if (!rc)
        rc = gs_h5_write(g, "references", GS_H5_F64, 1, &qt->nq, qt->references);
    return rc;
}

int pp_quantile_load(pp_quantile *qt, hid_t g)
{
    memset(qt, 0, sizeof *qt);
    char w[600], *kind = NULL, *out = NULL;
    gs_h5_where(g, ".", w, sizeof w);
    int64_t nq = 0, f = 0, d[2], dr[1];
    int rc = gs_h5_attr_read_str(g, ".", "kind", &kind);
    if (!rc && strcmp(kind, "quantile_transform"))
        rc = gs_error(GS_ERR_FORMAT, "%s: kind is '%s', expected quantile_transform", w, kind);
    if (!rc)
        rc = gs_h5_attr_read_str(g, ".", "output_distribution", &out);
    if (!rc) {
        if (!strcmp(out, "normal"))
            qt->output = PP_NORMAL;
        else if (!strcmp(out, "uniform"))
            qt->output = PP_UNIFORM;
        else
            rc = gs_error(GS_ERR_FORMAT, "%s: unknown output_distribution '%s'", w, out);
    }
    if (!rc)
        rc = gs_h5_attr_read_i64(g, ".", "n_quantiles", &nq);
    if (!rc)
        rc = gs_h5_attr_read_i64(g, ".", "n_features", &f);
    if (!rc)
        rc = gs_h5_read(g, "quantiles", GS_H5_F64, 2, d, (void **)&qt->quantiles);
    if (!rc && (d[0] != nq || d[1] != f))
        rc = gs_error(GS_ERR_FORMAT, "%s: quantiles is %lldx%lld, expected %lldx%lld", w,
                      (long long)d[0], (long long)d[1], (long long)nq, (long long)f);
    if (!rc)
        rc = gs_h5_read(g, "references", GS_H5_F64, 1, dr, (void **)&qt->references);
    if (!rc && dr[0] != nq)
        rc = gs_error(GS_ERR_FORMAT, "%s: references has %lld entries, expected %lld", w,
                      (long long)dr[0], (long long)nq);
    qt->nq = nq;
    qt->f = f;
    for (int64_t i = 0; !rc && i < nq * f; i++) {
        double v = qt->quantiles[i];
        if (!isfinite(v) || (i >= f && v < qt->quantiles[i - f]))
            rc = gs_error(GS_ERR_FORMAT, "%s: quantiles are not finite and increasing", w);
    }
    for (int64_t i = 0; !rc && i < nq; i++) {
        double v = qt->references[i];
        if (!(v >= 0 && v <= 1) || (i && v < qt->references[i - 1]))
            rc = gs_error(GS_ERR_FORMAT, "%s: references are not increasing in [0, 1]", w);
    }
    if (!rc && gs_h5_attr_exists(g, ".", "columns"))
        rc = gs_h5_attr_read_str(g, ".", "columns", &qt->columns);
    if (!rc && gs_h5_attr_exists(g, ".", "units"))
        rc = gs_h5_attr_read_str(g, ".", "units", &qt->units);
    free(kind);
    free(out);
    if (rc)
        pp_quantile_free(qt);
    return rc;
}

#define QT_GROUP "quantile_transform"

int pp_quantile_save_file(const pp_quantile *qt, const char *path)
{
    char tmp[4096];
    int rc = gs_tmp_path(tmp, sizeof tmp, path);
    if (rc)
        return rc;
    hid_t f, g;
    rc = gs_h5_create(tmp, &f);
    if (rc)
        return rc;
    rc = gs_h5_group_create(f, QT_GROUP, &g);
    if (!rc) {
        rc = pp_quantile_save(qt, g);
        H5Gclose(g);
    }
    int rc2 = gs_h5_close(f);
    if (!rc)
        rc = rc2;
    if (rc) {
        gs_discard(tmp);
        return gs_error_wrap(rc, path);
    }
    return gs_commit(tmp, path);
}

int pp_quantile_load_file(pp_quantile *qt, const char *path)
{
    memset(qt, 0, sizeof *qt);
    hid_t f, g;
    int rc = gs_h5_open(path, 0, &f);
    if (rc)
        return rc;
    if (!gs_h5_exists(f, QT_GROUP)) /* e.g. the data file given as --qt */
        rc = gs_error(GS_ERR_FORMAT, "%s: /" QT_GROUP ": missing group: not a quantile "
                      "transform file (gansim-prep fit writes one)", path);
    else
        rc = gs_h5_group_open(f, QT_GROUP, &g);
    if (!rc) {
        rc = pp_quantile_load(qt, g);
        H5Gclose(g);
    }
    gs_h5_close(f);
    return rc;
}

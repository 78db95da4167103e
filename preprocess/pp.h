/* pp — preprocessing on plain float tables (row-major [n, f]); never
 * includes nn/ (docs/architecture.md).
 *
 * Promises:
 *  - Quantile transform with scikit-learn's QuantileTransformer semantics
 *    (sklearn/preprocessing/_data.py, _dense_fit and _transform_col):
 *    n_quantiles capped at the sample count, references = linspace(0, 1, nq),
 *    quantiles = np.nanpercentile(..., method="linear") made monotone with a
 *    running maximum, two-sided interpolation in transform (average of the
 *    forward and the reversed-negated np.interp, so runs of repeated values
 *    map to their middle), the BOUNDS_THRESHOLD = 1e-7 edge rules, and for
 *    normal output norm.ppf clipped to ppf(1e-7 - eps) .. ppf(1 - (1e-7 -
 *    eps)) ≈ ±5.1993. All arithmetic is double; inputs and outputs float.
 *    NaN passes through as NaN (ignored when fitting).
 *  - Standard and min–max scalers, y = (x - shift) / scale, with sklearn's
 *    zero-variance / zero-range rule (scale 1).
 *  - Fitted transforms save to and load from an HDF5 group (so a model
 *    checkpoint can embed them) and, for convenience, a whole file.
 *  - Log transforms, cartesian <-> cylindrical coordinates, region labels
 *    (radius rings or x–y rectangles) and species masks: simple functions on
 *    arrays returning labels, masks or index lists.
 * Errors follow gs_core: a gs_status return and a message in gs_errmsg(). */
#ifndef PP_H
#define PP_H

#include <hdf5.h>
#include <stdint.h>

#include "core/gs_core.h"

/* ---- normal distribution (double precision) ---- */
double pp_norm_cdf(double x);   /* 0.5 * erfc(-x / sqrt 2), as scipy.special.ndtr */
double pp_norm_ppf(double p);   /* inverse CDF, Wichura AS241 (rel. error ~1e-16) */

/* ---- quantile transform ---- */
#define PP_BOUNDS_THRESHOLD 1e-7
typedef enum { PP_UNIFORM = 0, PP_NORMAL = 1 } pp_output;

typedef struct {
    int64_t n_quantiles;  /* default 1000; capped at the number of samples */
    pp_output output;     /* default PP_NORMAL (what gansim trains on) */
    int64_t subsample;    /* 0 = use every row (default); else this many rows */
    uint64_t seed;        /* picks the subsample rows */
} pp_quantile_opts;

void pp_quantile_opts_default(pp_quantile_opts *o);

typedef struct {
    int64_t f;            /* features */
    int64_t nq;           /* quantiles actually used */
    pp_output output;
    double *references;   /* [nq] = linspace(0, 1, nq) */
    double *quantiles;    /* [nq * f], row-major [nq, f] as sklearn's quantiles_ */
    char *columns;        /* optional comma-separated feature names (owned), or NULL */
    char *units;          /* optional comma-separated units (owned), or NULL */
} pp_quantile;

int  pp_quantile_fit(pp_quantile *qt, const float *x, int64_t n, int64_t f,
                     const pp_quantile_opts *opts);
/* in may equal out. */
int  pp_quantile_transform(const pp_quantile *qt, const float *in, float *out, int64_t n);
int  pp_quantile_inverse(const pp_quantile *qt, const float *in, float *out, int64_t n);
/* One value of one feature (for tests and scalar use). */
double pp_quantile_transform1(const pp_quantile *qt, int64_t feature, double v);
double pp_quantile_inverse1(const pp_quantile *qt, int64_t feature, double v);
void pp_quantile_free(pp_quantile *qt);
/* Group layout: attrs kind="quantile_transform", output_distribution
 * ("normal"|"uniform"), n_quantiles, n_features, optional columns, units;
 * datasets quantiles float64 [nq, f], references float64 [nq]. */
int  pp_quantile_save(const pp_quantile *qt, hid_t group);
int  pp_quantile_load(pp_quantile *qt, hid_t group);
/* Whole file holding group /quantile_transform; written atomically. */
int  pp_quantile_save_file(const pp_quantile *qt, const char *path);
int  pp_quantile_load_file(pp_quantile *qt, const char *path);

/* ---- scalers: y = (x - shift) / scale, per feature ---- */
typedef enum { PP_SCALER_STANDARD = 1, PP_SCALER_MINMAX = 2 } pp_scaler_kind;
typedef struct {
    pp_scaler_kind kind;
    int64_t f;
    double *shift, *scale;   /* [f] each */
} pp_scaler;

/* mean / population std (ddof 0); NaN rows ignored per feature */
int  pp_standard_fit(pp_scaler *s, const float *x, int64_t n, int64_t f);
/* maps [min, max] of each feature onto [lo, hi] */
int  pp_minmax_fit(pp_scaler *s, const float *x, int64_t n, int64_t f, double lo, double hi);
void pp_scaler_transform(const pp_scaler *s, const float *in, float *out, int64_t n);
void pp_scaler_inverse(const pp_scaler *s, const float *in, float *out, int64_t n);
void pp_scaler_free(pp_scaler *s);
/* attrs kind="standard"|"minmax", n_features; datasets shift, scale [f] */
int  pp_scaler_save(const pp_scaler *s, hid_t group);
int  pp_scaler_load(pp_scaler *s, hid_t group);

/* ---- log transform of one column of a row-major table [n, f] ----
 * y = log10(x + offset). Values with x + offset <= PP_LOG_GUARD (or NaN) are
 * mapped to log10(PP_LOG_GUARD) = -30 and counted; the count is returned so
 * callers can refuse data that is not positive. Inverse: 10^y - offset. */
#define PP_LOG_GUARD 1e-30
int64_t pp_log_column(float *x, int64_t n, int64_t f, int64_t col, double offset);
void    pp_exp_column(float *x, int64_t n, int64_t f, int64_t col, double offset);

/* ---- cartesian <-> cylindrical, in place on a table [n, f] ----
 * (x, y) -> (r, phi); (px, py, pz) -> (p, theta, phi_p), phi in (-pi, pi],
 * theta = acos(pz / p) in [0, pi] (p = 0 gives theta = phi_p = 0). The new
 * values take the old columns' places; a column index of -1 skips that part
 * (x/y or the momentum triple). */
typedef struct {
    int64_t x, y, px, py, pz;
} pp_cyl_cols;
void pp_to_cylindrical(float *t, int64_t n, int64_t f, const pp_cyl_cols *c);
void pp_from_cylindrical(float *t, int64_t n, int64_t f, const pp_cyl_cols *c);

/* ---- regions and species ---- */
/* Open rectangle xmin < x < xmax and ymin < y < ymax; use ±INFINITY for
 * unbounded sides. */
typedef struct {
    double xmin, xmax, ymin, ymax;
} pp_rect;
/* Parses e.g. "-1700<x<500,y<500" (comma-separated bounds on x and y, each
 * "a<x", "x<b" or "a<x<b"; unmentioned sides stay open). */
int pp_rect_parse(const char *s, pp_rect *r);
/* label = number of radii <= r (radii ascending): 0 inner (r < R0), 1 next ring, ... */
void pp_label_radius(const float *t, int64_t n, int64_t f, int64_t ix, int64_t iy,
                     const double *radii, int nradii, int32_t *label);
/* label = index of the first rectangle containing (x, y), nrect when none ("the rest") */
void pp_label_rects(const float *t, int64_t n, int64_t f, int64_t ix, int64_t iy,
                    const pp_rect *rects, int nrect, int32_t *label);
/* mask[i] = pdg[i] is one of codes */
void pp_mask_species(const int32_t *pdg, int64_t n, const int32_t *codes, int ncodes,
                     uint8_t *mask);
/* mask[i] = label[i] == want */
void pp_mask_label(const int32_t *label, int64_t n, int32_t want, uint8_t *mask);
/* Writes the indices of set entries into idx (room for n) and returns their count. */
int64_t pp_mask_to_index(const uint8_t *mask, int64_t n, int64_t *idx);
/* out[k, :] = t[idx[k], :] */
void pp_gather_rows(const float *t, int64_t f, const int64_t *idx, int64_t m, float *out);

#endif

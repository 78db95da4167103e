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

/* ---- region frames ----
 * The coordinates a region's sub-model is trained in. A model-space value
 * that the quantile transform inverts always lies in the training rows'
 * range (pp_quantile_inverse interpolates between fitted quantiles), so a
 * region that is a box in its frame's coordinates confines every generated
 * particle to it — no rejection, no clamping of shapes:
 *  - PP_FRAME_POLAR, for rings r_lo <= r < r_hi about (0, 0) (mm): (x, y) ->
 *    (r, phi - phi0) with the azimuth wrapped to (-pi, pi]; phi0 points away
 *    from the emptiest sector (pp_frame_fit_phi0), so the 2 pi seam of the
 *    azimuth lies where the fewest particles are. With local_p, (px, py) ->
 *    (p_r, p_phi) = the momentum along and across the position's azimuth
 *    (same units), which makes a radial halo's direction a function of r only.
 *  - PP_FRAME_HOLE (opt-in), for the outermost ring r >= r_lo (r_hi = INFINITY): (x, y)
 *    -> (u, v) = s (cos phi, sin phi), s = sqrt(r^2 - r_lo^2): the hole is
 *    shrunk to a point and the plane is the ring. The map keeps areas
 *    (s ds = r dr), so the density in (u, v) is the density in (x, y), with
 *    no seam (the azimuth is never cut) and no edge: every (u, v) maps to
 *    r = sqrt(u^2 + v^2 + r_lo^2) >= r_lo. With r_lo = 0 it is x, y as they
 *    are. local_p as for PP_FRAME_POLAR.
 *  - PP_FRAME_DISC (opt-in), for the innermost disc r < r_hi about (0, 0): (x, y)
 *    -> (u, v) in the open square (-1, 1)^2, the inverse of the elliptical grid
 *    map x = r_hi u sqrt(1 - v^2 / 2), y = r_hi v sqrt(1 - u^2 / 2) (P. Nowell's
 *    square-to-disc map; its inverse in closed form from C. Fong, "Analytical
 *    methods for squaring the disc", arXiv:1509.06344, eq. for the elliptical
 *    grid mapping). Smooth
 *    inside the disc and close to (x, y) / r_hi near the centre, so a sharp or
 *    off-axis core stays a point-like feature (the polar frame draws it as a
 *    ring or a cusp at r = 0); u and v are bounded like a box's x and y, so the
 *    square confines. local_p as for PP_FRAME_POLAR.
 *  - PP_FRAME_BOX, for an open rectangle: (x, y) as they are.
 *  - PP_FRAME_NONE: x, y as they are, no confinement (files from before).
 * The inverse moves a value that float rounding leaves on or outside the
 * region's edge back in by at most a few ulp, with the arithmetic of
 * pp_label_radius / pp_label_rects, so relabelling a generated particle
 * gives its sub-model's region exactly. */
typedef enum {
    PP_FRAME_NONE = 0, PP_FRAME_POLAR = 1, PP_FRAME_BOX = 2, PP_FRAME_HOLE = 3,
    PP_FRAME_DISC = 4
} pp_frame_kind;
typedef struct {
    int64_t x, y, px, py;   /* columns; px, py may be -1 (then local_p is ignored) */
} pp_frame_cols;
typedef struct {
    pp_frame_kind kind;
    double r_lo, r_hi;      /* polar, hole: the ring (mm); r_hi = INFINITY for the outermost
                               (always for hole); disc: r_lo = 0, r_hi the radius */
    double phi0;            /* polar: azimuth origin (rad) */
    int local_p;            /* polar: (px, py) as (p_r, p_phi) */
    pp_rect box;            /* box: the open rectangle (mm), +-INFINITY for open sides */
} pp_frame;
/* phi0 for rows t[n, f]: opposite the emptiest 25-degree sector of atan2(y, x). */
double pp_frame_fit_phi0(const float *t, int64_t n, int64_t f, int64_t ix, int64_t iy);
/* In place on a row-major table [n, f]. */
void pp_frame_forward(const pp_frame *fr, const pp_frame_cols *c, float *t, int64_t n,
                      int64_t f);
void pp_frame_inverse(const pp_frame *fr, const pp_frame_cols *c, float *t, int64_t n,
                      int64_t f);
/* Model-space name of x (0), y (1), px (2), py (3) in this frame; NULL = unchanged. */
const char *pp_frame_name(const pp_frame *fr, int which);
/* attrs frame ("none"|"polar"|"hole"|"disc"|"box"), frame_r_lo, frame_r_hi, frame_phi0, frame_xmin,
 * frame_xmax, frame_ymin, frame_ymax, frame_local_p on a group; a group without
 * them loads as PP_FRAME_NONE. */
int pp_frame_save(const pp_frame *fr, hid_t group);
int pp_frame_load(pp_frame *fr, hid_t group);

/* Splits the plane as pp_label_rects does (region l = first rectangle holding
 * the point, nrect = the rest) into disjoint open rectangles: pieces[k] lies
 * wholly in region[k], and the pieces with their shared edges cover each
 * region. Greedy merge of the grid that the rectangles' edges draw; a single
 * rectangle with the rest gives at most 5 pieces. *n_pieces >= 1 on
 * success; GS_ERR_ARG for more than PP_MAX_RECTS rectangles or max_pieces pieces. */
#define PP_MAX_RECTS 31
int pp_rect_pieces(const pp_rect *rects, int nrect, pp_rect *pieces, int32_t *region,
                   int max_pieces, int *n_pieces);
/* label = the piece holding the point: its region by pp_label_rects, then the
 * first piece of that region whose closed rectangle holds it. NaN positions
 * get the region's first piece. */
void pp_label_pieces(const float *t, int64_t n, int64_t f, int64_t ix, int64_t iy,
                     const pp_rect *rects, int nrect, const pp_rect *pieces,
                     const int32_t *region, int npieces, int32_t *label);

#endif

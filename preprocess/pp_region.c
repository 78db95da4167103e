/* Region frames: the coordinates a region's sub-model is trained in, chosen
 * so that the inverse maps every model-space value into the region (see pp.h
 * "region frames"), and the split of x-y rectangles into disjoint pieces. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/gs_h5.h"
#include "preprocess/pp.h"

static double wrap_pi(double a)
{
    /* into (-pi, pi]; inputs are within one turn of it */
    if (a <= -M_PI)
        a += 2 * M_PI;
    else if (a > M_PI)
        a -= 2 * M_PI;
    return a;
}

double pp_frame_fit_phi0(const float *t, int64_t n, int64_t f, int64_t ix, int64_t iy)
{
    enum { NB = 72, HALF = 2 };
    double h[NB] = {0};
    for (int64_t i = 0; i < n; i++) {
        double x = t[i * f + ix], y = t[i * f + iy];
        if (x == 0 && y == 0)
            continue;
        int b = (int)floor((atan2(y, x) + M_PI) / (2 * M_PI) * NB);
        h[b < 0 ? 0 : b >= NB ? NB - 1 : b] += 1;
    }
    /* the emptiest 25-degree sector (circular), first on ties: the cut goes there */
    int best = 0;
    double best_c = INFINITY;
    for (int b = 0; b < NB; b++) {
        double c = 0;
        for (int d = -HALF; d <= HALF; d++)
            c += h[(b + d + NB) % NB];
        if (c < best_c) {
            best_c = c;
            best = b;
        }
    }
    double cut = -M_PI + (best + 0.5) * (2 * M_PI / NB);
    return wrap_pi(cut + M_PI); /* phi0 points away from the cut */
}

/* The elliptical grid map's inverse, disc -> square, for a point (a, b) of
 * the unit disc (Fong, arXiv:1509.06344): u = (sqrt(2 + a^2 - b^2 + 2 sqrt2 a)
 * - sqrt(2 + a^2 - b^2 - 2 sqrt2 a)) / 2, v likewise with a, b swapped. The
 * radicands are >= 0 on the disc; max() keeps rounding at its edge out of sqrt's
 * domain, and the result is held inside the open square. */
static double disc_to_square(double a, double b)
{
    const double s = 2.0 + a * a - b * b, k = 2.0 * M_SQRT2 * a;
    double u = 0.5 * (sqrt(fmax(s + k, 0.0)) - sqrt(fmax(s - k, 0.0)));
    return fmin(fmax(u, -1.0 + 1e-12), 1.0 - 1e-12);
}

void pp_frame_forward(const pp_frame *fr, const pp_frame_cols *c, float *t, int64_t n,
                      int64_t f)
{
    if (fr->kind != PP_FRAME_POLAR && fr->kind != PP_FRAME_HOLE && fr->kind != PP_FRAME_DISC)
        return; /* a rectangle is its own frame: x and y as they are */
    const int mom = fr->local_p && c->px >= 0 && c->py >= 0;
    const int hole = fr->kind == PP_FRAME_HOLE;
    for (int64_t i = 0; i < n; i++) {
        float *row = t + i * f;
        double x = row[c->x], y = row[c->y];
        double phi = atan2(y, x), r = hypot(x, y);
        if (fr->kind == PP_FRAME_DISC) {
            row[c->x] = (float)disc_to_square(x / fr->r_hi, y / fr->r_hi);
            row[c->y] = (float)disc_to_square(y / fr->r_hi, x / fr->r_hi);
        } else if (hole) {
            /* rows below r_lo (none in the region's own rows) go to the centre */
            double s = r > fr->r_lo ? sqrt((r - fr->r_lo) * (r + fr->r_lo)) : 0.0;
            row[c->x] = (float)(s * cos(phi));
            row[c->y] = (float)(s * sin(phi));
        } else {
            row[c->x] = (float)r;
            row[c->y] = (float)wrap_pi(phi - fr->phi0);
        }
        if (mom) {
            double px = row[c->px], py = row[c->py], cs = cos(phi), sn = sin(phi);
            row[c->px] = (float)(px * cs + py * sn);  /* p_r: outwards */
            row[c->py] = (float)(-px * sn + py * cs); /* p_phi: anticlockwise */
        }
    }
}

/* (p_r, p_phi) -> (px, py) for a position whose direction is (cs, sn) */
static void local_p_inverse(float *row, const pp_frame_cols *c, double cs, double sn)
{
    double pr = row[c->px], pf = row[c->py];
    row[c->px] = (float)(pr * cs - pf * sn);
    row[c->py] = (float)(pr * sn + pf * cs);
}

/* Moves a float position that rounding left just outside the ring back in,
 * one ulp of both components at a time (a handful of steps at most), using
 * the arithmetic of pp_label_radius so that the label agrees exactly. */
static void ring_guard(const pp_frame *fr, float *x, float *y)
{
    for (int k = 0; k < 64; k++) {
        double r = hypot(*x, *y);
        if (r < fr->r_lo) {
            if (*x == 0 && *y == 0)
                *x = (float)fr->r_lo;
            *x = nextafterf(*x, *x < 0 ? -INFINITY : INFINITY);
            *y = nextafterf(*y, *y < 0 ? -INFINITY : INFINITY);
        } else if (r >= fr->r_hi) {
            *x = nextafterf(*x, 0.0f);
            *y = nextafterf(*y, 0.0f);
        } else {
            return;
        }
    }
}

/* PP_FRAME_HOLE's inverse: r = sqrt(s^2 + r_lo^2) along (u, v)'s direction. */
static void hole_inverse(const pp_frame *fr, const pp_frame_cols *c, float *t, int64_t n,
                         int64_t f)
{
    const int mom = fr->local_p && c->px >= 0 && c->py >= 0;
    for (int64_t i = 0; i < n; i++) {
        float *row = t + i * f;
        double u = row[c->x], v = row[c->y];
        if (!isfinite(u) || !isfinite(v))
            u = v = 0; /* like pp_frame_inverse's NaN radius: the inner edge */
        double s = hypot(u, v), cs = 1, sn = 0;
        if (s > 0) {
            cs = u / s;
            sn = v / s;
        }
        double r = sqrt(s * s + fr->r_lo * fr->r_lo);
        float x = (float)(r * cs), y = (float)(r * sn);
        ring_guard(fr, &x, &y);
        row[c->x] = x;
        row[c->y] = y;
        if (mom) {
            local_p_inverse(row, c, cs, sn);
        }
    }
}

/* PP_FRAME_DISC's inverse: (x, y) = r_hi (u sqrt(1 - v^2 / 2), v sqrt(1 - u^2 / 2)),
 * (u, v) first held in the closed square (the quantile inverse keeps them in
 * the training rows' range, inside it; NaN goes to the centre). */
static void disc_inverse(const pp_frame *fr, const pp_frame_cols *c, float *t, int64_t n,
                         int64_t f)
{
    const int mom = fr->local_p && c->px >= 0 && c->py >= 0;
    for (int64_t i = 0; i < n; i++) {
        float *row = t + i * f;
        double u = row[c->x], v = row[c->y];
        u = isnan(u) ? 0 : fmin(fmax(u, -1.0), 1.0);
        v = isnan(v) ? 0 : fmin(fmax(v, -1.0), 1.0);
        double xd = fr->r_hi * u * sqrt(1 - 0.5 * v * v);
        double yd = fr->r_hi * v * sqrt(1 - 0.5 * u * u);
        float x = (float)xd, y = (float)yd;
        ring_guard(fr, &x, &y);
        row[c->x] = x;
        row[c->y] = y;
        if (mom) {
            double r = hypot(xd, yd), cs = r > 0 ? xd / r : 1, sn = r > 0 ? yd / r : 0;
            local_p_inverse(row, c, cs, sn);
        }
    }
}

static float open_guard(float v, double lo, double hi)
{
    if (!(v > lo))
        v = nextafterf((float)lo, INFINITY);
    if (!((double)v > lo)) /* lo itself was rounded down */
        v = nextafterf(v, INFINITY);
    if (!(v < hi))
        v = nextafterf((float)hi, -INFINITY);
    if (!((double)v < hi))
        v = nextafterf(v, -INFINITY);
    return v;
}

void pp_frame_inverse(const pp_frame *fr, const pp_frame_cols *c, float *t, int64_t n,
                      int64_t f)
{
    if (fr->kind == PP_FRAME_HOLE) {
        hole_inverse(fr, c, t, n, f);
        return;
    }
    if (fr->kind == PP_FRAME_DISC) {
        disc_inverse(fr, c, t, n, f);
        return;
    }
    if (fr->kind != PP_FRAME_POLAR) {
        if (fr->kind == PP_FRAME_BOX)
            for (int64_t i = 0; i < n; i++) {
                float *row = t + i * f;
                row[c->x] = open_guard(row[c->x], fr->box.xmin, fr->box.xmax);
                row[c->y] = open_guard(row[c->y], fr->box.ymin, fr->box.ymax);
            }
        return;
    }
    const int mom = fr->local_p && c->px >= 0 && c->py >= 0;
    for (int64_t i = 0; i < n; i++) {
        float *row = t + i * f;
        double r = row[c->x];
        if (!(r >= fr->r_lo)) /* also NaN: the inner edge */
            r = fr->r_lo;
        if (!(r < fr->r_hi))
            r = fr->r_hi * (1 - 1e-7);
        double phi = wrap_pi((double)row[c->y] + fr->phi0);
        double cs = cos(phi), sn = sin(phi);
        float x = (float)(r * cs), y = (float)(r * sn);
        ring_guard(fr, &x, &y);
        row[c->x] = x;
        row[c->y] = y;
        if (mom) {
            local_p_inverse(row, c, cs, sn);
        }
    }
}

const char *pp_frame_name(const pp_frame *fr, int which)
{
    if (fr->kind != PP_FRAME_POLAR && fr->kind != PP_FRAME_HOLE && fr->kind != PP_FRAME_DISC)
        return NULL;
    const int hole = fr->kind != PP_FRAME_POLAR; /* hole and disc: (u, v) */
    switch (which) {
    case 0: return hole ? "u" : "r";
    case 1: return hole ? "v" : "phi";
    case 2: return fr->local_p ? "p_r" : NULL;
    case 3: return fr->local_p ? "p_phi" : NULL;
    default: return NULL;
    }
}

int pp_frame_save(const pp_frame *fr, hid_t g)
{
    int rc = gs_h5_attr_write_str(g, ".", "frame", fr->kind == PP_FRAME_POLAR ? "polar"
                                                   : fr->kind == PP_FRAME_HOLE ? "hole"
                                                   : fr->kind == PP_FRAME_DISC ? "disc"
                                                   : fr->kind == PP_FRAME_BOX ? "box"
                                                                              : "none");
    const struct { const char *n; double v; } a[] = {
        {"frame_r_lo", fr->r_lo},       {"frame_r_hi", fr->r_hi},
        {"frame_phi0", fr->phi0},       {"frame_xmin", fr->box.xmin},
        {"frame_xmax", fr->box.xmax},   {"frame_ymin", fr->box.ymin},
        {"frame_ymax", fr->box.ymax}};
    for (size_t k = 0; !rc && k < sizeof a / sizeof a[0]; k++)
        rc = gs_h5_attr_write_f64(g, ".", a[k].n, a[k].v);
    if (!rc)
        rc = gs_h5_attr_write_i64(g, ".", "frame_local_p", fr->local_p);
    return rc;
}

int pp_frame_load(pp_frame *fr, hid_t g)
{
    memset(fr, 0, sizeof *fr);
    fr->box = (pp_rect){-INFINITY, INFINITY, -INFINITY, INFINITY};
    fr->r_hi = INFINITY;
    if (!gs_h5_attr_exists(g, ".", "frame"))
        return GS_OK; /* files from before region frames: x, y as they are */
    char *kind = NULL, w[600];
    int rc = gs_h5_attr_read_str(g, ".", "frame", &kind);
    if (rc)
        return rc;
    gs_h5_where(g, ".", w, sizeof w);
    if (!strcmp(kind, "polar"))
        fr->kind = PP_FRAME_POLAR;
    else if (!strcmp(kind, "hole"))
        fr->kind = PP_FRAME_HOLE;
    else if (!strcmp(kind, "disc"))
        fr->kind = PP_FRAME_DISC;
    else if (!strcmp(kind, "box"))
        fr->kind = PP_FRAME_BOX;
    else if (strcmp(kind, "none"))
        rc = gs_error(GS_ERR_FORMAT, "%s: unknown frame '%s'", w, kind);
    free(kind);
    double *dst[] = {&fr->r_lo, &fr->r_hi, &fr->phi0, &fr->box.xmin, &fr->box.xmax,
                     &fr->box.ymin, &fr->box.ymax};
    const char *names[] = {"frame_r_lo", "frame_r_hi", "frame_phi0", "frame_xmin",
                           "frame_xmax", "frame_ymin", "frame_ymax"};
    for (int k = 0; !rc && k < 7; k++)
        rc = gs_h5_attr_read_f64(g, ".", names[k], dst[k]);
    int64_t lp = 0;
    if (!rc)
        rc = gs_h5_attr_read_i64(g, ".", "frame_local_p", &lp);
    fr->local_p = lp != 0;
    if (!rc && fr->kind == PP_FRAME_POLAR &&
        (!(fr->r_lo >= 0) || !(fr->r_hi > fr->r_lo) || !isfinite(fr->phi0)))
        rc = gs_error(GS_ERR_FORMAT, "%s: the region frame's bounds are not a region", w);
    if (!rc && fr->kind == PP_FRAME_HOLE && (!(fr->r_lo >= 0) || !isinf(fr->r_hi)))
        rc = gs_error(GS_ERR_FORMAT, "%s: a hole frame needs r_lo >= 0 and r_hi = inf", w);
    if (!rc && fr->kind == PP_FRAME_DISC && (fr->r_lo != 0 || !(fr->r_hi > 0) || isinf(fr->r_hi)))
        rc = gs_error(GS_ERR_FORMAT, "%s: a disc frame needs r_lo = 0 < r_hi < inf", w);
    if (!rc && fr->kind == PP_FRAME_BOX &&
        (!(fr->box.xmin < fr->box.xmax) || !(fr->box.ymin < fr->box.ymax)))
        rc = gs_error(GS_ERR_FORMAT, "%s: the region frame's bounds are not a region", w);
    return rc;
}

/* ---- rectangles into disjoint pieces ---------------------------------------- */

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* sorted distinct values of v[0..n) with -inf and +inf added */
static int edges(double *v, int n)
{
    v[n++] = -INFINITY;
    v[n++] = INFINITY;
    qsort(v, (size_t)n, sizeof *v, cmp_dbl);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (m == 0 || v[i] != v[m - 1])
            v[m++] = v[i];
    return m;
}

int pp_rect_pieces(const pp_rect *rects, int nrect, pp_rect *pieces, int32_t *region,
                   int max_pieces, int *n_pieces)
{
    *n_pieces = 0;
    if (nrect < 0 || nrect > PP_MAX_RECTS)
        return gs_error(GS_ERR_ARG, "rectangles: %d given, at most %d", nrect, PP_MAX_RECTS);
    double xe[2 * PP_MAX_RECTS + 2], ye[2 * PP_MAX_RECTS + 2];
    for (int k = 0; k < nrect; k++) {
        xe[2 * k] = rects[k].xmin;
        xe[2 * k + 1] = rects[k].xmax;
        ye[2 * k] = rects[k].ymin;
        ye[2 * k + 1] = rects[k].ymax;
    }
    const int nx = edges(xe, 2 * nrect) - 1, ny = edges(ye, 2 * nrect) - 1;
    /* region of each grid cell: the first rectangle holding the cell's
     * (open) interior, as pp_label_rects decides for its points */
    int32_t cell[(2 * PP_MAX_RECTS + 1) * (2 * PP_MAX_RECTS + 1)];
    uint8_t used[(2 * PP_MAX_RECTS + 1) * (2 * PP_MAX_RECTS + 1)];
    for (int i = 0; i < nx; i++)
        for (int j = 0; j < ny; j++) {
            int32_t l = 0;
            while (l < nrect && !(xe[i] >= rects[l].xmin && xe[i + 1] <= rects[l].xmax &&
                                  ye[j] >= rects[l].ymin && ye[j + 1] <= rects[l].ymax))
                l++;
            cell[i * ny + j] = l;
            used[i * ny + j] = 0;
        }
    /* greedy: grow a run along y, then widen it along x while every column
     * of the run belongs to the same region and is free */
    int np = 0;
    for (int i = 0; i < nx; i++)
        for (int j = 0; j < ny; j++) {
            if (used[i * ny + j])
                continue;
            const int32_t l = cell[i * ny + j];
            int j1 = j + 1;
            while (j1 < ny && !used[i * ny + j1] && cell[i * ny + j1] == l)
                j1++;
            int i1 = i + 1;
            for (; i1 < nx; i1++) {
                int ok = 1;
                for (int jj = j; jj < j1 && ok; jj++)
                    ok = !used[i1 * ny + jj] && cell[i1 * ny + jj] == l;
                if (!ok)
                    break;
            }
            for (int ii = i; ii < i1; ii++)
                for (int jj = j; jj < j1; jj++)
                    used[ii * ny + jj] = 1;
            if (np == max_pieces)
                return gs_error(GS_ERR_ARG, "rectangles: more than %d pieces", max_pieces);
            pieces[np] = (pp_rect){xe[i], xe[i1], ye[j], ye[j1]};
            region[np++] = l;
        }
    *n_pieces = np;
    return GS_OK;
}

void pp_label_pieces(const float *t, int64_t n, int64_t f, int64_t ix, int64_t iy,
                     const pp_rect *rects, int nrect, const pp_rect *pieces,
                     const int32_t *region, int npieces, int32_t *label)
{
    pp_label_rects(t, n, f, ix, iy, rects, nrect, label);
    for (int64_t i = 0; i < n; i++) {
        double x = t[i * f + ix], y = t[i * f + iy];
        int32_t first = -1, hit = -1;
        for (int k = 0; k < npieces && hit < 0; k++) {
            if (region[k] != label[i])
                continue;
            if (first < 0)
                first = k;
            /* closed: a point on an edge shared by two pieces goes to the first */
            if (x >= pieces[k].xmin && x <= pieces[k].xmax && y >= pieces[k].ymin &&
                y <= pieces[k].ymax)
                hit = k;
        }
        label[i] = hit >= 0 ? hit : first;
    }
}

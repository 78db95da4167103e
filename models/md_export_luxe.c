/* md_export_luxe — each LUXE sub-model as one ONNX graph from noise to
 * particles in the training file's columns and units, and a manifest with
 * what a caller needs to mix them (species, region, proportion,
 * particles_per_bx).
 *
 * Graph: the generator MLP (Gemm, LeakyRelu, layer norm written out with
 * ReduceMean so opset 13 suffices), then per feature the inverse of
 * scikit-learn's QuantileTransformer(output_distribution="normal")
 * (pp_quantile_inverse): u = Phi(x), the standard normal CDF (from a table
 * and Simpson's rule, see inverse_quantile: float Erf is too coarse), linear
 * interpolation of the quantiles on the uniform reference grid
 * linspace(0, 1, nq) (index floor(u (nq - 1)), two Gathers), u within 1e-7
 * of 0 or 1 mapped to the first / last quantile; then 10^x for the log
 * features and the cylindrical -> cartesian inverse (pp_from_cylindrical). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/gs_h5.h"
#include "models/md_export_internal.h"
#include "models/md_luxe.h"

static const char *gemm(ox_graph *g, const char *x, const nn_linear_layer *l)
{
    const char *w = ox_init_f32(g, "fc.w", 2, l->w->shape, l->w->data);
    const char *b = l->b ? ox_init_f32(g, "fc.b", 1, l->b->shape, l->b->data) : "";
    return ox_node(g, "Gemm", (const char *[]){x, w, b}, l->b ? 3 : 2,
                   (ox_attr[]){OX_INT("transB", 1)}, 1);
}

/* nn_layernorm over the features: (x - mean) / sqrt(var + eps) * gamma + beta,
 * biased variance. */
static const char *layernorm(ox_graph *g, const char *x, const nn_tensor *gamma,
                             const nn_tensor *beta, float eps)
{
    const ox_attr red[2] = {OX_INTS("axes", ((int64_t[]){1}), 1), OX_INT("keepdims", 1)};
    const char *mu = ox_node(g, "ReduceMean", (const char *[]){x}, 1, red, 2);
    const char *d = ox_op2(g, "Sub", x, mu);
    const char *var = ox_node(g, "ReduceMean", (const char *[]){ox_op2(g, "Mul", d, d)}, 1, red,
                              2);
    const char *sd = ox_op1(g, "Sqrt", ox_op2(g, "Add", var, ox_scalar_f32(g, "eps", eps)));
    const char *y = ox_op2(g, "Div", d, sd);
    if (gamma)
        y = ox_op2(g, "Mul", y, ox_init_f32(g, "ln.gamma", 1, gamma->shape, gamma->data));
    if (beta)
        y = ox_op2(g, "Add", y, ox_init_f32(g, "ln.beta", 1, beta->shape, beta->data));
    return y;
}

static const char *mlp(ox_graph *g, const char *x, const md_mlp *m)
{
    for (int i = 0; i <= m->cfg.depth; i++) {
        x = gemm(g, x, &m->l[i]);
        if (i == m->cfg.depth)
            break;
        if (m->cfg.norm == MD_NORM_LAYER)
            x = layernorm(g, x, m->ln_g[i], m->ln_b[i], 1e-5f);
        x = ox_node(g, "LeakyRelu", (const char *[]){x}, 1,
                    (ox_attr[]){OX_FLOAT("alpha", m->cfg.slope)}, 1);
    }
    return x;
}

/* x [N, f] (normal space) -> [N, f] in the quantiles' space. */
/* Phi tabulated at multiples of PHI_STEP in [-PHI_HALF, PHI_HALF] steps */
#define PHI_STEP 0.0625
#define PHI_HALF 128

static const char *inverse_quantile(ox_graph *g, const char *x, const pp_quantile *qt)
{
    const int64_t nq = qt->nq, f = qt->f;
    if (nq < 2) { /* a single quantile: every value maps to it */
        float *row = malloc((size_t)f * sizeof *row);
        if (!row)
            return NULL;
        for (int64_t j = 0; j < f; j++)
            row[j] = (float)qt->quantiles[j];
        const char *q0 = ox_init_f32(g, "q0", 1, &f, row);
        free(row);
        return ox_op2(g, "Add", ox_op2(g, "Mul", x, ox_scalar_f32(g, "zero", 0.0f)), q0);
    }
    float *q = malloc((size_t)(nq * f) * sizeof *q), *dq = malloc((size_t)((nq - 1) * f) * sizeof *dq);
    int64_t *cols = malloc((size_t)f * sizeof *cols);
    if (!q || !dq || !cols) {
        free(q);
        free(dq);
        free(cols);
        return NULL;
    }
    for (int64_t i = 0; i < nq * f; i++)
        q[i] = (float)qt->quantiles[i];
    /* the step to the next quantile, in double before rounding */
    for (int64_t i = 0; i < (nq - 1) * f; i++)
        dq[i] = (float)(qt->quantiles[i + f] - qt->quantiles[i]);
    for (int64_t j = 0; j < f; j++)
        cols[j] = j;
    const char *qflat = ox_init_f32(g, "quantiles", 1, (int64_t[]){nq * f}, q);
    const char *dflat = ox_init_f32(g, "quantile_steps", 1, (int64_t[]){(nq - 1) * f}, dq);
    const char *qfirst = ox_init_f32(g, "q_first", 1, &f, q);
    const char *qlast = ox_init_f32(g, "q_last", 1, &f, q + (nq - 1) * f);
    const char *colv = ox_init_i64(g, "columns", 1, &f, cols);
    free(q);
    free(dq);
    free(cols);
    /* t = Phi(x) (nq - 1), the position on the grid, to ~1e-6 of a cell. A
     * float u = (1 + erf(x / sqrt 2)) / 2 would only be good to ~6e-8, i.e.
     * 6e-5 of a cell (1e-5 of a feature's range in a steep cell; ONNX Runtime
     * has no double Erf). So: Phi(x) = Phi(c) + integral_c^x phi, c = x rounded
     * to the grid step PHI_STEP, with T(c) = Phi(c) (nq - 1) tabulated as a
     * float pair hi + lo (double sum) and the integral by Simpson's rule
     * (|x - c| <= PHI_STEP / 2: error < 1e-10). The cell k = floor(t) and
     * frac = (hi - k) + (lo + (nq - 1) integral), each part exact or small. */
    enum { PHI_N = 2 * PHI_HALF + 1 };
    float *thi = malloc(PHI_N * sizeof *thi), *tlo = malloc(PHI_N * sizeof *tlo);
    float *cv = malloc(PHI_N * sizeof *cv);
    if (!thi || !tlo || !cv) {
        free(thi);
        free(tlo);
        free(cv);
        return NULL;
    }
    for (int i = 0; i < PHI_N; i++) {
        cv[i] = (float)((i - PHI_HALF) * PHI_STEP);
        const double tc = pp_norm_cdf((double)cv[i]) * (double)(nq - 1);
        thi[i] = (float)tc;
        tlo[i] = (float)(tc - (double)thi[i]);
    }
    const char *th = ox_init_f32(g, "phi_hi", 1, (int64_t[]){PHI_N}, thi);
    const char *tl = ox_init_f32(g, "phi_lo", 1, (int64_t[]){PHI_N}, tlo);
    const char *ct = ox_init_f32(g, "phi_c", 1, (int64_t[]){PHI_N}, cv);
    free(thi);
    free(tlo);
    free(cv);
    /* beyond |x| = PHI_HALF PHI_STEP (8) every u is within 1e-7 of 0 or 1 */
    const char *xc = ox_node(g, "Clip",
                             (const char *[]){x, ox_scalar_f32(g, "xmin", (float)(-PHI_HALF * PHI_STEP)),
                                              ox_scalar_f32(g, "xmax", (float)(PHI_HALF * PHI_STEP))},
                             3, NULL, 0);
    const char *ci = ox_op1(g, "Round", ox_op2(g, "Mul", xc, ox_scalar_f32(g, "inv_step",
                                                                          (float)(1.0 / PHI_STEP))));
    ci = ox_node(g, "Cast", (const char *[]){ox_op2(g, "Add", ci, ox_scalar_f32(g, "half_n",
                                                                                 (float)PHI_HALF))},
                 1, (ox_attr[]){OX_INT("to", 7)}, 1);
    const char *c = ox_node(g, "Gather", (const char *[]){ct, ci}, 2, NULL, 0);
    const char *hi = ox_node(g, "Gather", (const char *[]){th, ci}, 2, NULL, 0);
    const char *lo0 = ox_node(g, "Gather", (const char *[]){tl, ci}, 2, NULL, 0);
    /* Simpson: (h / 6)(phi(c) + 4 phi((c + x) / 2) + phi(x)), phi(s) = exp(-s^2 / 2) / sqrt(2 pi) */
    const char *mhalf = ox_scalar_f32(g, "mhalf", -0.5f);
    const char *hh = ox_op2(g, "Sub", xc, c);
    const char *mid = ox_op2(g, "Add", c, ox_op2(g, "Mul", hh, ox_scalar_f32(g, "half", 0.5f)));
    const char *pc = ox_op1(g, "Exp", ox_op2(g, "Mul", ox_op2(g, "Mul", c, c), mhalf));
    const char *pm = ox_op1(g, "Exp", ox_op2(g, "Mul", ox_op2(g, "Mul", mid, mid), mhalf));
    const char *px = ox_op1(g, "Exp", ox_op2(g, "Mul", ox_op2(g, "Mul", xc, xc), mhalf));
    const char *sum = ox_op2(g, "Add", ox_op2(g, "Add", pc, px),
                             ox_op2(g, "Mul", pm, ox_scalar_f32(g, "four", 4.0f)));
    const double simpson = (double)(nq - 1) / (6.0 * sqrt(2.0 * M_PI));
    const char *part = ox_op2(g, "Mul", ox_op2(g, "Mul", sum, hh),
                              ox_scalar_f32(g, "simpson", (float)simpson));
    const char *lo = ox_op2(g, "Add", lo0, part);
    const char *t = ox_op2(g, "Add", hi, lo);
    const char *k = ox_node(g, "Clip",
                            (const char *[]){ox_op1(g, "Floor", t), ox_scalar_f32(g, "kmin", 0.0f),
                                             ox_scalar_f32(g, "kmax", (float)(nq - 2))},
                            3, NULL, 0);
    const char *frac = ox_op2(g, "Add", ox_op2(g, "Sub", hi, k), lo);
    const char *ki = ox_node(g, "Cast", (const char *[]){k}, 1, (ox_attr[]){OX_INT("to", 7)}, 1);
    int64_t fv = f;
    const char *flat = ox_op2(g, "Add", ox_op2(g, "Mul", ki, ox_init_i64(g, "f", 0, NULL, &fv)),
                              colv);
    const char *qk = ox_node(g, "Gather", (const char *[]){qflat, flat}, 2, NULL, 0);
    const char *step = ox_node(g, "Gather", (const char *[]){dflat, flat}, 2, NULL, 0);
    const char *y = ox_op2(g, "Add", qk, ox_op2(g, "Mul", frac, step));
    /* sklearn's bounds rule (BOUNDS_THRESHOLD = 1e-7): the upper end first,
     * then the lower end, as pp_quantile_inverse */
    const double thr = PP_BOUNDS_THRESHOLD * (double)(nq - 1);
    const char *upper = ox_op2(g, "Greater", t, ox_scalar_f32(g, "t_upper", (float)((double)(nq - 1) - thr)));
    y = ox_node(g, "Where", (const char *[]){upper, qlast, y}, 3, NULL, 0);
    const char *lower = ox_op2(g, "Less", t, ox_scalar_f32(g, "t_lower", (float)thr));
    return ox_node(g, "Where", (const char *[]){lower, qfirst, y}, 3, NULL, 0);
}

static const char *column(ox_graph *g, const char *x, int64_t j)
{
    return ox_node(g, "Slice",
                   (const char *[]){x, ox_vec_i64(g, "starts", 1, (int64_t[]){j}),
                                    ox_vec_i64(g, "ends", 1, (int64_t[]){j + 1}),
                                    ox_vec_i64(g, "axes", 1, (int64_t[]){1})},
                   4, NULL, 0);
}

static int frame_local_p(const md_luxe_inference *v, const pp_frame *fr)
{
    return fr->local_p && v->fcols.px >= 0 && v->fcols.py >= 0;
}

/* The table a frame's inverse ends with: x, y = xo, yo; with local_p,
 * (p_r, p_phi) -> (px, py) rotated by the position's direction (cs, sn);
 * every other column as it is. */
static const char *frame_assemble(ox_graph *g, const char *x, const md_luxe_inference *v,
                                  const pp_frame *fr, const char *xo, const char *yo,
                                  const char *cs, const char *sn)
{
    const int64_t f = v->n_features;
    const pp_frame_cols *c = &v->fcols;
    const char **cols = calloc((size_t)f, sizeof *cols);
    if (!cols)
        return NULL;
    cols[c->x] = xo;
    cols[c->y] = yo;
    if (frame_local_p(v, fr)) {
        const char *pr = column(g, x, c->px), *pf = column(g, x, c->py);
        cols[c->px] = ox_op2(g, "Sub", ox_op2(g, "Mul", pr, cs), ox_op2(g, "Mul", pf, sn));
        cols[c->py] = ox_op2(g, "Add", ox_op2(g, "Mul", pr, sn), ox_op2(g, "Mul", pf, cs));
    }
    for (int64_t j = 0; j < f; j++)
        if (!cols[j])
            cols[j] = column(g, x, j);
    const char *y = ox_node(g, "Concat", cols, (int)f, (ox_attr[]){OX_INT("axis", 1)}, 1);
    free(cols);
    return y;
}

/* (a, b) / |(a, b)| as (cs, sn), |(a, b)|^2 held >= 1e-30 */
static void unit_dir(ox_graph *g, const char *a, const char *b, const char **cs, const char **sn)
{
    const char *q = ox_op2(g, "Max", ox_op2(g, "Add", ox_op2(g, "Mul", a, a), ox_op2(g, "Mul", b, b)),
                           ox_scalar_f32(g, "q_min", 1e-30f));
    const char *iq = ox_op1(g, "Reciprocal", ox_op1(g, "Sqrt", q));
    *cs = ox_op2(g, "Mul", a, iq);
    *sn = ox_op2(g, "Mul", b, iq);
}

/* A polar region frame's inverse (pp_frame_inverse): r into [r_lo, r_hi),
 * phi + phi0, (r, phi) -> (x, y) and, with local_p, (p_r, p_phi) -> (px, py).
 * pp_frame_inverse's last-ulp guard on the ring's edges is not repeated: the
 * graph agrees with gansim to float32 rounding. */
static const char *polar_inverse(ox_graph *g, const char *x, const md_luxe_inference *v,
                                 const pp_frame *fr)
{
    const pp_frame_cols *c = &v->fcols;
    const char *r = ox_op2(g, "Max", column(g, x, c->x), ox_scalar_f32(g, "r_lo", (float)fr->r_lo));
    if (isfinite(fr->r_hi))
        r = ox_op2(g, "Min", r, ox_scalar_f32(g, "r_hi", (float)(fr->r_hi * (1 - 1e-7))));
    const char *ph = ox_op2(g, "Add", column(g, x, c->y), ox_scalar_f32(g, "phi0", (float)fr->phi0));
    const char *cs = ox_op1(g, "Cos", ph), *sn = ox_op1(g, "Sin", ph);
    return frame_assemble(g, x, v, fr, ox_op2(g, "Mul", r, cs), ox_op2(g, "Mul", r, sn), cs, sn);
}

/* A hole frame's inverse (pp_frame_inverse): (u, v) -> (x, y) = (u, v)
 * sqrt(1 + r_lo^2 / (u^2 + v^2)) and, with local_p, (p_r, p_phi) -> (px, py)
 * along (u, v)'s direction. u = v = 0 exactly (probability zero) gives 0
 * here, (r_lo, 0) in gansim; the last-ulp guard is not repeated. */
static const char *hole_inverse(ox_graph *g, const char *x, const md_luxe_inference *v,
                                const pp_frame *fr)
{
    const pp_frame_cols *c = &v->fcols;
    const char *u = column(g, x, c->x), *w = column(g, x, c->y);
    const char *s2 = ox_op2(g, "Max", ox_op2(g, "Add", ox_op2(g, "Mul", u, u), ox_op2(g, "Mul", w, w)),
                            ox_scalar_f32(g, "s2_min", 1e-30f));
    const char *k = ox_op1(g, "Sqrt", ox_op2(g, "Add", ox_scalar_f32(g, "one", 1.0f),
                                             ox_op2(g, "Div", ox_scalar_f32(g, "r_lo2",
                                                    (float)(fr->r_lo * fr->r_lo)), s2)));
    const char *cs = NULL, *sn = NULL;
    if (frame_local_p(v, fr))
        unit_dir(g, u, w, &cs, &sn);
    return frame_assemble(g, x, v, fr, ox_op2(g, "Mul", u, k), ox_op2(g, "Mul", w, k), cs, sn);
}

/* A disc frame's inverse (pp_frame_inverse): (u, v) held in [-1, 1], (x, y) =
 * r_hi (u sqrt(1 - v^2 / 2), v sqrt(1 - u^2 / 2)) and, with local_p, (p_r, p_phi)
 * -> (px, py) along (x, y)'s direction; the last-ulp guard is not repeated. */
static const char *disc_inverse(ox_graph *g, const char *x, const md_luxe_inference *v,
                                const pp_frame *fr)
{
    const pp_frame_cols *c = &v->fcols;
    const char *one = ox_scalar_f32(g, "one", 1.0f), *m_one = ox_scalar_f32(g, "m_one", -1.0f);
    const char *half = ox_scalar_f32(g, "half", 0.5f), *rh = ox_scalar_f32(g, "r_hi", (float)fr->r_hi);
    const char *u = ox_op2(g, "Max", ox_op2(g, "Min", column(g, x, c->x), one), m_one);
    const char *w = ox_op2(g, "Max", ox_op2(g, "Min", column(g, x, c->y), one), m_one);
    /* sqrt(1 - s^2 / 2) for s = w, u */
    const char *kw = ox_op1(g, "Sqrt", ox_op2(g, "Sub", one, ox_op2(g, "Mul", half, ox_op2(g, "Mul", w, w))));
    const char *ku = ox_op1(g, "Sqrt", ox_op2(g, "Sub", one, ox_op2(g, "Mul", half, ox_op2(g, "Mul", u, u))));
    const char *xo = ox_op2(g, "Mul", rh, ox_op2(g, "Mul", u, kw));
    const char *yo = ox_op2(g, "Mul", rh, ox_op2(g, "Mul", w, ku));
    const char *cs = NULL, *sn = NULL;
    if (frame_local_p(v, fr))
        unit_dir(g, xo, yo, &cs, &sn);
    return frame_assemble(g, x, v, fr, xo, yo, cs, sn);
}

static const char *frame_inverse(ox_graph *g, const char *x, const md_luxe_inference *v,
                                 const pp_frame *fr)
{
    if (v->fcols.x < 0 || v->fcols.y < 0)
        return x;
    if (fr->kind == PP_FRAME_POLAR)
        return polar_inverse(g, x, v, fr);
    if (fr->kind == PP_FRAME_HOLE)
        return hole_inverse(g, x, v, fr);
    if (fr->kind == PP_FRAME_DISC)
        return disc_inverse(g, x, v, fr);
    return x;
}

/* model space -> input space (md_luxe_from_model_space): 10^x for the
 * sub-model's log features, cylindrical -> cartesian, then its region frame. */
static const char *from_model_space(ox_graph *g, const char *x, const md_luxe_inference *v,
                                    const md_luxe_sub *s)
{
    const int64_t f = v->n_features;
    int any_log = 0;
    float *mask = malloc((size_t)f * sizeof *mask);
    if (!mask)
        return NULL;
    for (int64_t j = 0; j < f; j++) {
        mask[j] = s->log_col[j] ? 1.0f : 0.0f;
        any_log |= s->log_col[j];
    }
    if (any_log) {
        /* Where, not a blend: 10^x of a non-log column may overflow to inf */
        const char *m = ox_op2(g, "Greater", ox_init_f32(g, "log_mask", 1, &f, mask),
                               ox_scalar_f32(g, "half", 0.5f));
        const char *p = ox_op2(g, "Pow", ox_scalar_f32(g, "ten", 10.0f), x);
        x = ox_node(g, "Where", (const char *[]){m, p, x}, 3, NULL, 0);
    }
    free(mask);
    if (!v->cylindrical)
        return frame_inverse(g, x, v, s->frame);
    const pp_cyl_cols *c = &v->cyl;
    const char **cols = calloc((size_t)f, sizeof *cols);
    if (!cols)
        return NULL;
    if (c->x >= 0 && c->y >= 0) {
        const char *r = column(g, x, c->x), *ph = column(g, x, c->y);
        cols[c->x] = ox_op2(g, "Mul", r, ox_op1(g, "Cos", ph));
        cols[c->y] = ox_op2(g, "Mul", r, ox_op1(g, "Sin", ph));
    }
    if (c->px >= 0 && c->py >= 0 && c->pz >= 0) {
        const char *p = column(g, x, c->px), *th = column(g, x, c->py), *ph = column(g, x, c->pz);
        const char *pst = ox_op2(g, "Mul", p, ox_op1(g, "Sin", th));
        cols[c->px] = ox_op2(g, "Mul", pst, ox_op1(g, "Cos", ph));
        cols[c->py] = ox_op2(g, "Mul", pst, ox_op1(g, "Sin", ph));
        cols[c->pz] = ox_op2(g, "Mul", p, ox_op1(g, "Cos", th));
    }
    for (int64_t j = 0; j < f; j++)
        if (!cols[j])
            cols[j] = column(g, x, j);
    const char *y = ox_node(g, "Concat", cols, (int)f, (ox_attr[]){OX_INT("axis", 1)}, 1);
    free(cols);
    return frame_inverse(g, y, v, s->frame);
}

/* "inner_gamma" -> a file-name-safe copy */
static void safe_name(char *out, size_t n, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++) {
        const char ch = s[i];
        const int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                       (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '+';
        out[i] = ok ? ch : '_';
    }
    out[i] = '\0';
}

/* Words for region r of the configured split (the names md_luxe gives them). */
static void region_text(char *buf, size_t n, const md_luxe_inference *v, int64_t r)
{
    if (v->region_mode == 0) {
        snprintf(buf, n, "everywhere");
        return;
    }
    char *copy = strdup(v->region_mode == 1 ? v->radii : v->rects);
    char *items[64];
    int k = 0;
    for (char *p = copy, *save = NULL, *tok; copy && k < 64 &&
                                            (tok = strtok_r(p, v->region_mode == 1 ? "," : ";", &save));
         p = NULL)
        items[k++] = tok;
    if (!copy)
        snprintf(buf, n, "region %lld", (long long)r);
    else if (v->region_mode == 1)
        snprintf(buf, n, r == 0 ? "r < %s mm" : r < k ? "%s mm <= r < %s mm" : "r >= %s mm",
                 r == 0 ? items[0] : items[r - 1], r < k ? items[r] : "");
    else
        snprintf(buf, n, r < k ? "%s (mm)" : "outside every other rectangle",
                 r < k ? items[r] : "");
    free(copy);
}

typedef struct {
    char name[64], file[96], region_text[160];
    int64_t region;
} sub_meta;

static int read_sub_meta(const char *model, const md_luxe_inference *v, sub_meta *sm)
{
    hid_t f;
    int rc = gs_h5_open(model, 0, &f);
    for (int k = 0; !rc && k < v->n_sub; k++) {
        char grp[32], *name = NULL;
        snprintf(grp, sizeof grp, "sub%d", k);
        sm[k].region = 0;
        if (gs_h5_attr_exists(f, grp, "name"))
            rc = gs_h5_attr_read_str(f, grp, "name", &name);
        if (!rc && gs_h5_attr_exists(f, grp, "region"))
            rc = gs_h5_attr_read_i64(f, grp, "region", &sm[k].region);
        snprintf(sm[k].name, sizeof sm[k].name, "%s", name ? name : grp);
        free(name);
        char safe[64];
        safe_name(safe, sizeof safe, sm[k].name);
        snprintf(sm[k].file, sizeof sm[k].file, "sub%d_%s.onnx", k, safe);
        region_text(sm[k].region_text, sizeof sm[k].region_text, v, sm[k].region);
        pp_frame fr;
        hid_t g;
        if (!rc && v->region_mode == 2 && !gs_h5_group_open(f, grp, &g)) {
            /* a rectangle split trains pieces: the sub-model's region is its box */
            if (!pp_frame_load(&fr, g) && fr.kind == PP_FRAME_BOX)
                snprintf(sm[k].region_text, sizeof sm[k].region_text,
                         "%g < x < %g, %g < y < %g (mm)", fr.box.xmin, fr.box.xmax, fr.box.ymin,
                         fr.box.ymax);
            H5Gclose(g);
        }
    }
    if (!rc)
        gs_h5_close(f);
    return rc;
}

static int write_manifest(md_export_ctx *x, md_luxe_model *m, const md_luxe_inference *v,
                          const sub_meta *sm)
{
    char tmp[4096], path[4096];
    FILE *j = md_export_open(x, "manifest.json", tmp, sizeof tmp, path, sizeof path);
    if (!j)
        return GS_ERR_IO;
    fprintf(j, "{\n  \"gansim_version\": ");
    md_json_str(j, GANSIM_VERSION);
    fprintf(j, ",\n  \"kind\": \"luxe_wgan\",\n  \"format\": \"onnx\",\n"
               "  \"ir_version\": %d,\n  \"opset\": %d,\n",
            OX_IR_VERSION, OX_OPSET);
    fprintf(j, "  \"inputs\": [{\"name\": \"noise\", \"shape\": [\"N\", %lld], "
               "\"distribution\": \"normal\", \"sigma\": 1}],\n",
            (long long)v->noise_dim);
    fprintf(j, "  \"outputs\": [{\"name\": \"particles\", \"shape\": [\"N\", %lld]}],\n",
            (long long)v->n_features);
    fprintf(j, "  \"columns\": [");
    for (int64_t i = 0; i < v->n_features; i++) {
        fputs(i ? ", " : "", j);
        md_json_str(j, md_luxe_column(m, i));
    }
    fprintf(j, "],\n  \"units\": [");
    for (int64_t i = 0; i < v->n_features; i++) {
        fputs(i ? ", " : "", j);
        md_json_str(j, md_luxe_unit(m, i));
    }
    const double ppbx = md_luxe_particles_per_bx(m);
    fprintf(j, "],\n  \"particles_per_bx\": ");
    if (ppbx > 0 && isfinite(ppbx))
        fprintf(j, "%.17g", ppbx);
    else
        fputs("null", j);
    fprintf(j, ",\n  \"sub_models\": [\n");
    for (int k = 0; k < v->n_sub; k++) {
        md_luxe_sub s;
        md_luxe_sub_view(m, k, &s);
        fprintf(j, "    {\"file\": ");
        md_json_str(j, sm[k].file);
        fprintf(j, ", \"name\": ");
        md_json_str(j, sm[k].name);
        fprintf(j, ", \"region\": %lld, \"region_def\": ", (long long)sm[k].region);
        md_json_str(j, sm[k].region_text);
        fprintf(j, ",\n     \"proportion\": %.17g, \"particles_per_bx\": ", s.proportion);
        if (ppbx > 0 && isfinite(ppbx))
            fprintf(j, "%.17g", ppbx * s.proportion);
        else
            fputs("null", j);
        fprintf(j, ",\n     \"species\": [");
        for (int c = 0; c < s.ncodes; c++)
            fprintf(j, "%s{\"pdg\": %d, \"share\": %.17g}", c ? ", " : "", s.codes[c],
                    s.probs[c]);
        fprintf(j, "]}%s\n", k + 1 < v->n_sub ? "," : "");
    }
    fprintf(j, "  ]\n}\n");
    return md_export_close(x, j, tmp, path, "manifest (species, regions, proportions)");
}

static void set_meta(ox_graph *g, md_luxe_model *m, const md_luxe_inference *v,
                     const md_luxe_sub *s, const sub_meta *sm)
{
    char buf[1024];
    ox_meta(g, "gansim_version", GANSIM_VERSION);
    ox_meta(g, "gansim_kind", "luxe_wgan");
    ox_meta(g, "columns", md_luxe_columns(m));
    size_t used = 0;
    buf[0] = '\0';
    for (int64_t i = 0; i < v->n_features && used < sizeof buf; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, i ? ",%s" : "%s",
                                 md_luxe_unit(m, i));
    ox_meta(g, "units", buf);
    ox_meta(g, "sub_model", sm->name);
    snprintf(buf, sizeof buf, "%lld", (long long)sm->region);
    ox_meta(g, "region", buf);
    ox_meta(g, "region_def", sm->region_text);
    used = 0;
    buf[0] = '\0';
    for (int c = 0; c < s->ncodes && used < sizeof buf; c++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, c ? ",%d:%.9g" : "%d:%.9g",
                                 s->codes[c], s->probs[c]);
    ox_meta(g, "species_pdg_share", buf);
    snprintf(buf, sizeof buf, "%.17g", s->proportion);
    ox_meta(g, "proportion", buf);
    snprintf(buf, sizeof buf, "%.17g", md_luxe_particles_per_bx(m));
    ox_meta(g, "particles_per_bx_all_sub_models", buf);
    ox_meta(g, "noise_sigma", "1");
}

int md_export_luxe(md_export_ctx *x, const char *model)
{
    md_luxe_model *m = NULL;
    sub_meta *sm = NULL;
    md_luxe_inference v;
    int rc = md_luxe_load(model, &m);
    if (!rc)
        rc = md_luxe_inference_view(m, &v);
    if (!rc && !(sm = calloc((size_t)v.n_sub, sizeof *sm)))
        rc = gs_error(GS_ERR_NOMEM, "export: out of memory");
    if (!rc)
        rc = read_sub_meta(model, &v, sm);
    for (int k = 0; !rc && k < v.n_sub; k++) {
        md_luxe_sub s;
        ox_graph *g = NULL;
        if ((rc = md_luxe_sub_view(m, k, &s)) ||
            (rc = ox_new(&g, "luxe_sub_model",
                         "gansim LUXE sub-model: noise N(0,1) [N,noise_dim] -> particles "
                         "[N,F] in the training file's columns and units")))
            break;
        const char *z = ox_input(g, "noise", 2, (int64_t[]){OX_BATCH, v.noise_dim});
        const char *y = from_model_space(g, inverse_quantile(g, mlp(g, z, s.g), s.qt), &v, &s);
        rc = y ? ox_output(g, "particles", y, 2, (int64_t[]){OX_BATCH, v.n_features})
               : gs_error(GS_ERR_NOMEM, "export: building sub-model %d", k);
        set_meta(g, m, &v, &s, &sm[k]);
        if (!rc)
            rc = md_export_graph(x, g, sm[k].file, "ONNX sub-model generator");
        ox_free(g);
    }
    if (!rc)
        rc = write_manifest(x, m, &v, sm);
    free(sm);
    md_luxe_free(m);
    return rc;
}

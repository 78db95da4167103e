/* md_eval — gansim-eval's evaluation with its noise floor (see md_eval.h and
 * docs/metrics.md, which lists every metrics.json key). */
#include "models/md_eval.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gs_pdg.h"
#include "metrics/mt.h"
#include "models/md_zdc_internal.h"
#include "nn/nn.h"

#define MAXF 64          /* features (file + derived) */
#define MAX_SPECIES 64   /* beyond this many distinct pdg codes, no species breakdown */
#define MAX_ONEHOT 8     /* species one-hot columns of the classifier (the rest: "other") */
#define GRID_IMAGES 6    /* images per row in the sample grid */
#define LOG_RANGE MT_PLOT_LOGX_RANGE

/* verdicts of the summary rows (thresholds in docs/metrics.md) */
enum { V_NONE = 0, V_GOOD, V_MARGINAL, V_BAD };
static const char *const V_NAME[] = {"none", "good", "marginal", "bad"};
#define RATIO_GOOD 2.0
#define RATIO_MARGINAL 5.0
#define AUC_GOOD 0.55
#define AUC_MARGINAL 0.65
#define PULL_GOOD 3.0
#define PULL_MARGINAL 5.0

void md_eval_defaults(md_eval_opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->r0 = 500.0;
    o->classifier = 1;
    md_cls_defaults(&o->cls);
    o->nbins2d = 50;
}

void md_eval_report_free(md_eval_report *r)
{
    if (!r)
        return;
    free(r->json);
    free(r->summary);
    free(r->tables);
    memset(r, 0, sizeof *r);
}

/* ---- small helpers ------------------------------------------------------------ */
/* printf onto the end of a string buffer, cut at its size */
static void append(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t n, const char *fmt, ...)
{
    size_t k = strlen(buf);
    if (k + 1 >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + k, n - k, fmt, ap);
    va_end(ap);
}

static double ratio_of(double g, double f)
{
    if (!isfinite(g) || !isfinite(f))
        return NAN;
    if (f > 0)
        return g / f;
    return g == 0 ? 1.0 : NAN; /* 0/0: identical samples are at the floor */
}

static int verdict_ratio(double r)
{
    if (!isfinite(r))
        return V_NONE;
    return r <= RATIO_GOOD ? V_GOOD : r <= RATIO_MARGINAL ? V_MARGINAL : V_BAD;
}

static int verdict_pull(double p)
{
    if (!isfinite(p))
        return V_NONE;
    p = fabs(p);
    return p <= PULL_GOOD ? V_GOOD : p <= PULL_MARGINAL ? V_MARGINAL : V_BAD;
}

static int verdict_auc(double auc, double floor_auc, double sigma)
{
    if (!isfinite(auc))
        return V_NONE;
    /* within 3 σ of the floor is indistinguishable whatever the value */
    if (auc <= AUC_GOOD || (isfinite(floor_auc) && auc - floor_auc <= 3 * M_SQRT2 * sigma))
        return V_GOOD;
    return auc <= AUC_MARGINAL ? V_MARGINAL : V_BAD;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f); /* UTF-8 passes through unchanged */
        }
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.10g", v);
    else
        fputs("null", f);
}

/* "key": g, "key_floor": f, "key_ratio": g/f (floor and ratio only with a floor) */
static void json_triple(FILE *f, const char *key, double g, double fl, int has_floor)
{
    fprintf(f, "\"%s\": ", key);
    json_num(f, g);
    if (has_floor) {
        fprintf(f, ", \"%s_floor\": ", key);
        json_num(f, fl);
        fprintf(f, ", \"%s_ratio\": ", key);
        json_num(f, ratio_of(g, fl));
    }
}

static void html_esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void html_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.4g", v);
    else
        fputs("&ndash;", f);
}

/* ---- summary rows ------------------------------------------------------------ */
typedef struct {
    char label[160], key[96], note[200];
    double gen, floor, ratio;
    int verdict;
} srow;

typedef struct {
    srow *r;
    int n, cap;
} srows;

static int add_row(srows *s, const char *label, const char *key, double g, double f, double r,
                   int verdict, const char *note)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 32;
        srow *nr = realloc(s->r, (size_t)cap * sizeof *nr);
        if (!nr)
            return gs_error(GS_ERR_NOMEM, "eval: out of memory");
        s->r = nr;
        s->cap = cap;
    }
    srow *x = &s->r[s->n++];
    snprintf(x->label, sizeof x->label, "%s", label);
    snprintf(x->key, sizeof x->key, "%s", key);
    snprintf(x->note, sizeof x->note, "%s", note ? note : "");
    x->gen = g;
    x->floor = f;
    x->ratio = r;
    x->verdict = verdict;
    return GS_OK;
}

static int add_ratio_row(srows *s, const char *label, const char *key, double g, double f,
                         const char *note)
{
    double r = ratio_of(g, f);
    return add_row(s, label, key, g, f, r, verdict_ratio(r), note);
}

static void json_rows(FILE *js, const srows *s)
{
    fputs("\"summary\": [", js);
    for (int i = 0; i < s->n; i++) {
        const srow *x = &s->r[i];
        fputs(i ? ",\n  {" : "\n  {", js);
        fputs("\"metric\": ", js);
        json_str(js, x->label);
        fputs(", \"key\": ", js);
        json_str(js, x->key);
        fputs(", \"gen\": ", js);
        json_num(js, x->gen);
        fputs(", \"floor\": ", js);
        json_num(js, x->floor);
        if (isfinite(x->ratio)) { /* pull rows have none */
            fputs(", \"ratio\": ", js);
            json_num(js, x->ratio);
        }
        fputs(", \"verdict\": ", js);
        json_str(js, V_NAME[x->verdict]);
        if (x->note[0]) {
            fputs(", \"note\": ", js);
            json_str(js, x->note);
        }
        fputs("}", js);
    }
    fputs("]", js);
}

static void text_rows(FILE *o, const srows *s)
{
    fprintf(o, "  %-50s %11s %11s %7s  %s\n", "metric (real vs generated | real vs real)",
            "generated", "floor", "ratio", "verdict");
    for (int i = 0; i < s->n; i++) {
        const srow *x = &s->r[i];
        char g[32], f[32], r[32];
        snprintf(g, sizeof g, isfinite(x->gen) ? "%.4g" : "-", x->gen);
        snprintf(f, sizeof f, isfinite(x->floor) ? "%.4g" : "-", x->floor);
        snprintf(r, sizeof r, isfinite(x->ratio) ? "%.2f" : "-", x->ratio);
        fprintf(o, "  %-50.50s %11s %11s %7s  %s%s%s\n", x->label, g, f, r, V_NAME[x->verdict],
                x->note[0] ? "  " : "", x->note);
    }
}

static void html_rows(FILE *h, const srows *s)
{
    fputs("<h2>Summary</h2>\n<table class=\"sum\">\n<tr><th>metric</th><th>real vs generated</th>"
          "<th>real vs real (floor)</th><th>ratio</th><th>verdict</th><th>note</th></tr>\n",
          h);
    for (int i = 0; i < s->n; i++) {
        const srow *x = &s->r[i];
        fprintf(h, "<tr class=\"%s\"><td>", V_NAME[x->verdict]);
        html_esc(h, x->label);
        fputs("<br><code>", h);
        html_esc(h, x->key);
        fputs("</code></td><td>", h);
        html_num(h, x->gen);
        fputs("</td><td>", h);
        html_num(h, x->floor);
        fputs("</td><td>", h);
        html_num(h, x->ratio);
        fprintf(h, "</td><td>%s</td><td>", V_NAME[x->verdict]);
        html_esc(h, x->note);
        fputs("</td></tr>\n", h);
    }
    fputs("</table>\n", h);
}

static void count_verdicts(const srows *s, md_eval_report *out)
{
    for (int i = 0; i < s->n; i++) {
        out->n_bad += s->r[i].verdict == V_BAD;
        out->n_marginal += s->r[i].verdict == V_MARGINAL;
    }
}

/* ---- row draws ------------------------------------------------------------------ */
/* idx[0..m) = a uniform draw of m of 0..n-1 (partial Fisher–Yates); idx holds n */
static void draw_m(gs_rng *r, int64_t *idx, int64_t n, int64_t m)
{
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    for (int64_t i = 0; i < m; i++) {
        int64_t j = i + (int64_t)gs_rng_below(r, (uint64_t)(n - i));
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* The three index sets: ref rows of A, rows of the floor sample (B of ref,
 * or of ref2), rows of gen. *m = rows of the floor and of gen. */
typedef struct {
    int64_t *a, *b, *g;  /* index lists */
    int64_t na, m;
    int split;           /* 1: B is the other half of ref */
} split_plan;

static void split_free(split_plan *s)
{
    free(s->a);
    free(s->b);
    free(s->g);
}

static int split_make(int64_t n_ref, int64_t n_ref2, int64_t n_gen, uint64_t seed,
                      const int64_t *aligned, split_plan *s)
{
    memset(s, 0, sizeof *s);
    gs_rng r;
    gs_rng_seed(&r, seed ^ 0x5E1D5EEDULL);
    s->split = n_ref2 <= 0;
    const int64_t nb_all = s->split ? n_ref - n_ref / 2 : n_ref2;
    s->na = s->split ? n_ref / 2 : n_ref;
    s->m = nb_all < n_gen ? nb_all : n_gen;
    if (s->na < 2 || s->m < 2)
        return gs_error(GS_ERR_FORMAT, "too few rows for a comparison with its floor: %lld "
                                       "reference, %lld %s, %lld generated (each compared "
                                       "sample needs >= 2)",
                        (long long)s->na, (long long)nb_all, s->split ? "in the other half" :
                        "in the second reference", (long long)n_gen);
    int64_t big = n_ref > n_ref2 ? n_ref : n_ref2;
    if (n_gen > big)
        big = n_gen;
    s->a = malloc((size_t)n_ref * sizeof *s->a);
    s->b = malloc((size_t)big * sizeof *s->b);
    s->g = malloc((size_t)big * sizeof *s->g);
    if (!s->a || !s->b || !s->g) {
        split_free(s);
        return gs_error(GS_ERR_NOMEM, "out of memory for the row draws");
    }
    if (s->split) {
        draw_m(&r, s->a, n_ref, n_ref);
        /* B: the first m of the other half; its rows stay in a random order */
        memcpy(s->b, s->a + s->na, (size_t)s->m * sizeof *s->b);
    } else {
        for (int64_t i = 0; i < n_ref; i++)
            s->a[i] = i;
        draw_m(&r, s->b, n_ref2, s->m);
    }
    if (aligned && s->split) {
        /* generated rows made for B's conditions, row by row */
        for (int64_t i = 0; i < s->m; i++)
            s->g[i] = aligned[s->b[i]];
    } else {
        draw_m(&r, s->g, n_gen, s->m);
    }
    return GS_OK;
}

/* ---- event tables ------------------------------------------------------------ */
typedef struct {
    int64_t n;
    float *x;        /* [n, fe] file features then derived */
    float *w;        /* [n] or NULL */
    int32_t *pdg;    /* [n] or NULL */
} esample;

static void esample_free(esample *s)
{
    free(s->x);
    free(s->w);
    free(s->pdg);
    memset(s, 0, sizeof *s);
}

typedef struct {
    int64_t f, fe;
    char names[MAXF][64];
    char units[MAXF][32];
    char labels[MAXF][112];
    int64_t cx, cy, cpx, cpy, cpz, ct;  /* file columns, -1 when absent */
    int64_t cr, ce, cth;                /* derived columns, -1 when absent */
    int ekin;                           /* derived E is E_kin (else |p|) */
    double mass_scale;                  /* GeV -> the momentum unit */
} layout;

static int64_t col_of(const ds_events *ev, const char *name)
{
    return ds_events_column(ev, name);
}

/* GeV → the unit of the momentum columns; 0 when the unit is not an energy */
static double energy_scale(const char *u)
{
    if (!u)
        return 0;
    if (!strcmp(u, "GeV") || !strcmp(u, "GeV/c"))
        return 1;
    if (!strcmp(u, "MeV") || !strcmp(u, "MeV/c"))
        return 1e3;
    if (!strcmp(u, "keV") || !strcmp(u, "keV/c"))
        return 1e6;
    if (!strcmp(u, "eV") || !strcmp(u, "eV/c"))
        return 1e9;
    if (!strcmp(u, "TeV") || !strcmp(u, "TeV/c"))
        return 1e-3;
    return 0;
}

static void set_col(layout *L, int64_t c, const char *name, const char *unit_in)
{
    char unit[sizeof L->units[0]]; /* unit_in may be another column's unit */
    snprintf(unit, sizeof unit, "%s", unit_in ? unit_in : "");
    snprintf(L->names[c], sizeof L->names[c], "%s", name);
    snprintf(L->units[c], sizeof L->units[c], "%s", unit);
    if (*unit)
        snprintf(L->labels[c], sizeof L->labels[c], "%s [%s]", name, unit);
    else
        snprintf(L->labels[c], sizeof L->labels[c], "%s", name);
}

static int layout_make(const ds_events *ref, const ds_events *gen, const ds_events *ref2,
                       layout *L)
{
    memset(L, 0, sizeof *L);
    if (ref->f > MAXF - 3)
        return gs_error(GS_ERR_FORMAT, "%lld features: at most %d are supported",
                        (long long)ref->f, MAXF - 3);
    L->f = ref->f;
    for (int64_t c = 0; c < ref->f; c++)
        set_col(L, c, ref->columns[c], ref->units ? ref->units[c] : NULL);
    L->cx = col_of(ref, "x");
    L->cy = col_of(ref, "y");
    L->cpx = col_of(ref, "px");
    L->cpy = col_of(ref, "py");
    L->cpz = col_of(ref, "pz");
    L->ct = col_of(ref, "t");
    L->cr = L->ce = L->cth = -1;
    int64_t fe = ref->f;
    if (L->cx >= 0 && L->cy >= 0 && col_of(ref, "r") < 0) {
        L->cr = fe++;
        set_col(L, L->cr, "r", L->units[L->cx]);
    }
    if (L->cpx >= 0 && L->cpy >= 0 && L->cpz >= 0) {
        char pu[sizeof L->units[0]];
        snprintf(pu, sizeof pu, "%s", L->units[L->cpx]);
        L->mass_scale = energy_scale(pu);
        /* E_kin needs the species of every row of every sample and their masses */
        int ok = L->mass_scale > 0 && ref->pdg && gen->pdg && (!ref2 || ref2->pdg);
        const ds_events *evs[3] = {ref, gen, ref2};
        for (int s = 0; ok && s < 3; s++)
            for (int64_t i = 0; evs[s] && ok && i < evs[s]->n; i++)
                ok = gs_pdg_mass(evs[s]->pdg[i], NULL);
        L->ekin = ok;
        L->ce = fe++;
        set_col(L, L->ce, ok ? "E_kin" : "p", pu);
        if (!ok)
            snprintf(L->labels[L->ce], sizeof L->labels[L->ce], "|p|%s%s%s", *pu ? " [" : "",
                     pu, *pu ? "]" : "");
        L->cth = fe++;
        set_col(L, L->cth, "theta", "deg");
    }
    L->fe = fe;
    return GS_OK;
}

/* column map of `ev` (file name `what`) onto ref's (`rname`) order */
static int map_columns(const ds_events *ref, const char *rname, const ds_events *ev,
                       const char *what, int64_t *map)
{
    if (ev->f != ref->f)
        return gs_error(GS_ERR_FORMAT, "%s has %lld columns but %s has %lld", what,
                        (long long)ev->f, rname, (long long)ref->f);
    for (int64_t c = 0; c < ref->f; c++) {
        map[c] = ds_events_column(ev, ref->columns[c]);
        if (map[c] < 0)
            return gs_error(GS_ERR_FORMAT, "%s has no column '%s' (present in %s)", what,
                            ref->columns[c], rname);
    }
    return GS_OK;
}

/* rows idx[0..m) of ev (columns through map) plus the derived columns */
static int esample_make(const ds_events *ev, const int64_t *map, const int64_t *idx, int64_t m,
                        const layout *L, esample *s)
{
    memset(s, 0, sizeof *s);
    s->n = m;
    s->x = malloc((size_t)(m * L->fe) * sizeof *s->x);
    s->w = ev->weights ? malloc((size_t)m * sizeof *s->w) : NULL;
    s->pdg = ev->pdg ? malloc((size_t)m * sizeof *s->pdg) : NULL;
    if (!s->x || (ev->weights && !s->w) || (ev->pdg && !s->pdg)) {
        esample_free(s);
        return gs_error(GS_ERR_NOMEM, "out of memory for %lld rows", (long long)m);
    }
    for (int64_t i = 0; i < m; i++) {
        const float *src = ev->x + idx[i] * ev->f;
        float *dst = s->x + i * L->fe;
        for (int64_t c = 0; c < L->f; c++)
            dst[c] = src[map[c]];
        if (s->w)
            s->w[i] = ev->weights[idx[i]];
        if (s->pdg)
            s->pdg[i] = ev->pdg[idx[i]];
        if (L->cr >= 0)
            dst[L->cr] = (float)hypot(dst[L->cx], dst[L->cy]);
        if (L->ce >= 0) {
            double px = dst[L->cpx], py = dst[L->cpy], pz = dst[L->cpz];
            double p2 = px * px + py * py + pz * pz, e = sqrt(p2);
            if (L->ekin) {
                double mass = 0;
                gs_pdg_mass(s->pdg[i], &mass);
                mass *= L->mass_scale;
                /* sqrt(p² + m²) − m without the cancellation for p << m
                 * (thermal neutrons: p ~ 1e-6 GeV, m ~ 1 GeV) */
                e = p2 / (sqrt(p2 + mass * mass) + mass);
                if (p2 == 0)
                    e = 0;
            }
            dst[L->ce] = (float)e;
            dst[L->cth] = (float)(atan2(hypot(px, py), pz) * (180.0 / M_PI));
        }
    }
    return GS_OK;
}

/* Column c of the rows a mask selects (mask NULL = all); weights alongside. */
static int64_t column_sel(const esample *s, const layout *L, int64_t c, const uint8_t *mask,
                          float *dst, float *dw)
{
    int64_t k = 0;
    for (int64_t i = 0; i < s->n; i++) {
        if (mask && !mask[i])
            continue;
        if (dw)
            dw[k] = s->w ? s->w[i] : 1.0f;
        dst[k++] = s->x[i * L->fe + c];
    }
    return k;
}

typedef struct {
    const char *name;     /* "all", "inner", "outer", "2112" */
    char title[96];       /* "region inner (r < 500 mm)", "species n (pdg 2112)" */
    uint8_t *mask[3];     /* A, G, B; NULL = all rows */
    double wsel[3], wall[3], w2sel[3], w2all[3]; /* selected/all weight and Σw² per sample */
    int64_t nsel[3];
    mt_feature_metrics *mg, *mf; /* [fe], NULL when a side has < 2 rows */
} subset;

static void subset_free(subset *s)
{
    for (int k = 0; k < 3; k++)
        free(s->mask[k]);
    free(s->mg);
    free(s->mf);
}

static void subset_count(subset *s, const esample *smp[3])
{
    for (int k = 0; k < 3; k++) {
        s->wsel[k] = s->wall[k] = s->w2sel[k] = s->w2all[k] = 0;
        s->nsel[k] = 0;
        for (int64_t i = 0; i < smp[k]->n; i++) {
            double w = smp[k]->w ? smp[k]->w[i] : 1.0;
            s->wall[k] += w;
            s->w2all[k] += w * w;
            if (s->mask[k] && !s->mask[k][i])
                continue;
            s->wsel[k] += w;
            s->w2sel[k] += w * w;
            s->nsel[k]++;
        }
    }
}

/* fraction of a subset in sample k, and the pull of sample j's fraction
 * against A's (binomial errors with effective sizes) */
static double frac_of(const subset *s, int k)
{
    return s->wall[k] > 0 ? s->wsel[k] / s->wall[k] : NAN;
}

static double frac_pull(const subset *s, int j)
{
    double fa = frac_of(s, 0), fj = frac_of(s, j);
    double na = s->wall[0] * s->wall[0] / s->w2all[0], nj = s->wall[j] * s->wall[j] / s->w2all[j];
    double p = 0.5 * (fa * na + fj * nj) / (0.5 * (na + nj)); /* pooled */
    double var = p * (1 - p) * (1 / na + 1 / nj);
    if (!(var > 0))
        return fa == fj ? 0 : NAN;
    return (fj - fa) / sqrt(var);
}

static int subset_eval(subset *s, const esample *smp[3], const layout *L,
                       const mt_compare_opts *o)
{
    subset_count(s, smp);
    if (s->nsel[0] < 2 || s->nsel[1] < 2 || s->nsel[2] < 2)
        return GS_OK; /* metrics stay null */
    s->mg = calloc((size_t)L->fe, sizeof *s->mg);
    s->mf = calloc((size_t)L->fe, sizeof *s->mf);
    if (!s->mg || !s->mf)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    int rc = mt_compare_table_floor(smp[0]->x, smp[0]->w, s->mask[0], smp[0]->n, smp[2]->x,
                                    smp[2]->w, s->mask[2], smp[2]->n, smp[1]->x, smp[1]->w,
                                    s->mask[1], smp[1]->n, L->fe, o, s->mg, s->mf);
    if (rc)
        gs_error_wrap(rc, s->name);
    return rc;
}

/* means over the file features [0, f) (which = 0 KL, 1 JS, 2 chi2/ndf, 3 W1 ratio) */
static double mean_over(const mt_feature_metrics *m, const mt_feature_metrics *fl, int64_t c0,
                        int64_t c1, int which)
{
    double s = 0;
    int64_t n = 0;
    for (int64_t c = c0; c < c1; c++) {
        double v = which == 0 ? m[c].kl : which == 1 ? m[c].js : which == 2 ? m[c].chi2_ndf
                                                                            : ratio_of(m[c].w1, fl[c].w1);
        if (isfinite(v)) {
            s += v;
            n++;
        }
    }
    return n ? s / (double)n : NAN;
}

static int64_t argmax_ks(const mt_feature_metrics *m, int64_t f)
{
    int64_t best = 0;
    for (int64_t c = 1; c < f; c++)
        if (m[c].ks > m[best].ks)
            best = c;
    return best;
}

static void json_feature(FILE *js, const char *unit, const mt_feature_metrics *g,
                         const mt_feature_metrics *f)
{
    fputs("{\"unit\": ", js);
    json_str(js, unit);
    fputs(", ", js);
    json_triple(js, "kl", g ? g->kl : NAN, f ? f->kl : NAN, 1);
    fputs(", ", js);
    json_triple(js, "js", g ? g->js : NAN, f ? f->js : NAN, 1);
    fputs(", ", js);
    json_triple(js, "ks", g ? g->ks : NAN, f ? f->ks : NAN, 1);
    fputs(", \"ks_p\": ", js);
    json_num(js, g ? g->ks_p : NAN);
    fputs(", \"ks_p_floor\": ", js);
    json_num(js, f ? f->ks_p : NAN);
    fputs(", ", js);
    json_triple(js, "chi2_ndf", g ? g->chi2_ndf : NAN, f ? f->chi2_ndf : NAN, 1);
    fprintf(js, ", \"ndf\": %lld, ", g ? (long long)g->ndf : 0LL);
    json_triple(js, "w1", g ? g->w1 : NAN, f ? f->w1 : NAN, 1);
    fputs("}", js);
}

/* {"<name>": {feature}, ...} over columns [c0, c1) */
static void json_features(FILE *js, const layout *L, const mt_feature_metrics *g,
                          const mt_feature_metrics *f, int64_t c0, int64_t c1)
{
    fputs("{", js);
    for (int64_t c = c0; c < c1; c++) {
        fputs(c > c0 ? ",\n    " : "\n    ", js);
        json_str(js, L->names[c]);
        fputs(": ", js);
        json_feature(js, L->units[c], g ? &g[c] : NULL, f ? &f[c] : NULL);
    }
    fputs("}", js);
}

/* the headline means of a metric set */
static void json_means(FILE *js, const layout *L, const mt_feature_metrics *g,
                       const mt_feature_metrics *f)
{
    json_triple(js, "mean_kl", g ? mean_over(g, f, 0, L->f, 0) : NAN,
                f ? mean_over(f, f, 0, L->f, 0) : NAN, 1);
    fputs(", ", js);
    json_triple(js, "mean_js", g ? mean_over(g, f, 0, L->f, 1) : NAN,
                f ? mean_over(f, f, 0, L->f, 1) : NAN, 1);
    fputs(", ", js);
    int64_t k = g ? argmax_ks(g, L->f) : 0;
    json_triple(js, "max_ks", g ? g[k].ks : NAN, f ? f[argmax_ks(f, L->f)].ks : NAN, 1);
    fputs(", \"max_ks_feature\": ", js);
    json_str(js, g ? L->names[k] : "");
    fputs(", ", js);
    json_triple(js, "mean_chi2_ndf", g ? mean_over(g, f, 0, L->f, 2) : NAN,
                f ? mean_over(f, f, 0, L->f, 2) : NAN, 1);
    fputs(", \"mean_w1_ratio\": ", js);
    json_num(js, g && f ? mean_over(g, f, 0, L->f, 3) : NAN);
}

/* the fields of a region or species object (no braces) */
static void json_subset(FILE *js, const layout *L, const subset *s)
{
    fprintf(js, "\"n_real\": %lld, \"n_gen\": %lld, \"n_real2\": %lld, ", (long long)s->nsel[0],
            (long long)s->nsel[1], (long long)s->nsel[2]);
    fputs("\"frac_real\": ", js);
    json_num(js, frac_of(s, 0));
    fputs(", \"frac_gen\": ", js);
    json_num(js, frac_of(s, 1));
    fputs(", \"frac_real2\": ", js);
    json_num(js, frac_of(s, 2));
    fputs(", \"frac_pull\": ", js);
    json_num(js, frac_pull(s, 1));
    fputs(", \"frac_pull_floor\": ", js);
    json_num(js, frac_pull(s, 2));
    fputs(", ", js);
    json_means(js, L, s->mg, s->mf);
    fputs(", \"features\": ", js);
    json_features(js, L, s->mg, s->mf, 0, L->fe);
}

/* "KL 4.9e-3 (floor 4.0e-4, 12x) | KS 0.04 p 1e-30 (floor 0.003) | chi2/ndf 45 (floor 1.1)" */
static void feature_note(char *buf, size_t n, const mt_feature_metrics *g,
                         const mt_feature_metrics *f)
{
    if (!g || !f) {
        snprintf(buf, n, "too few rows for metrics");
        return;
    }
    snprintf(buf, n, "KL %.3g (floor %.3g, x%.1f)   KS %.3g, p %.2g (floor %.3g, p %.2g)   "
                     "chi2/ndf %.3g (floor %.3g)",
             g->kl, f->kl, ratio_of(g->kl, f->kl), g->ks, g->ks_p, f->ks, f->ks_p, g->chi2_ndf,
             f->chi2_ndf);
}

/* histogram data of one column for a plot panel: A, G, B on A's binning */
typedef struct {
    mt_plot_panel pn;
    double *buf;          /* counts and Σw² of the three samples */
    char title[160], note[400];
} panel_data;

static int panel_fill(panel_data *pd, const esample *smp[3], const uint8_t *const mask[3],
                      const layout *L, int64_t c, float *col, float *colw, const char *title,
                      const mt_feature_metrics *g, const mt_feature_metrics *f)
{
    memset(pd, 0, sizeof *pd);
    int64_t nb = 100;
    int64_t n0 = column_sel(smp[0], L, c, mask[0], col, colw);
    int rc = n0 > 0 ? mt_binning_auto(&pd->pn.b, col, n0, 100, 0.001, 0.999, LOG_RANGE)
                    : gs_error(GS_ERR_ARG, "plot: no rows");
    if (rc)
        return rc;
    /* integer data over a short range (pixel rows, counts): one bin per
     * integer, or the plot turns into a comb of empty bins */
    int integer = pd->pn.b.scale == MT_SCALE_LINEAR;
    for (int64_t i = 0; integer && i < n0; i++)
        integer = col[i] == floor(col[i]);
    double ilo = floor(pd->pn.b.lo), ihi = ceil(pd->pn.b.hi);
    if (integer && ihi - ilo <= 200) {
        nb = (int64_t)(ihi - ilo) + 1;
        rc = mt_binning_linear(&pd->pn.b, ilo - 0.5, ihi + 0.5, nb);
    }
    if (!rc && !(pd->buf = malloc((size_t)(6 * nb) * sizeof *pd->buf)))
        return gs_error(GS_ERR_NOMEM, "out of memory");
    mt_plot_series *se[3] = {&pd->pn.ref, &pd->pn.gen, &pd->pn.ref2};
    for (int k = 0; k < 3 && !rc; k++) {
        int64_t nk = k == 0 ? n0 : column_sel(smp[k], L, c, mask[k], col, colw);
        mt_hist_stats st;
        double *cnt = pd->buf + 2 * k * nb, *s2 = cnt + nb;
        rc = mt_hist1d(&pd->pn.b, MT_FLOW_DROP, col, colw, nk, cnt, s2, &st);
        *se[k] = (mt_plot_series){cnt, s2, st.underflow, st.overflow, st.total};
    }
    snprintf(pd->title, sizeof pd->title, "%s", title);
    feature_note(pd->note, sizeof pd->note, g, f);
    pd->pn.title = pd->title;
    pd->pn.xlabel = L->labels[c];
    pd->pn.note = pd->note;
    return rc;
}

static const char *const LEGEND[3] = {"real A", "generated", "real B"};

/* The physics set of a subset: E (or |p|), theta, r, t as far as present,
 * else every column; 2 x 2 panels. */
static int plot_subset(mt_plot *pl, const char *png, const subset *s, const esample *smp[3],
                       const layout *L, float *col, float *colw)
{
    int64_t cols[MAXF];
    int nc = 0;
    const int64_t want[4] = {L->ce, L->cth, L->cr, L->ct};
    for (int i = 0; i < 4; i++)
        if (want[i] >= 0)
            cols[nc++] = want[i];
    if (nc < 2)
        for (nc = 0; nc < L->fe && nc < 6; nc++)
            cols[nc] = nc;
    panel_data pd[MAXF];
    mt_plot_panel pn[MAXF];
    int rc = GS_OK, made = 0;
    const uint8_t *mk[3] = {s->mask[0], s->mask[1], s->mask[2]};
    for (int i = 0; i < nc && !rc; i++) {
        char t[160];
        snprintf(t, sizeof t, "%s, %s", L->names[cols[i]], s->title);
        rc = panel_fill(&pd[i], smp, mk, L, cols[i], col, colw, t, s->mg ? &s->mg[cols[i]] : NULL,
                        s->mf ? &s->mf[cols[i]] : NULL);
        made = i + 1;
        pn[i] = pd[i].pn;
    }
    if (!rc) {
        char ttl[200];
        snprintf(ttl, sizeof ttl, "%s: real A (%lld rows) vs generated (%lld) and real B (%lld)",
                 s->title, (long long)s->nsel[0], (long long)s->nsel[1], (long long)s->nsel[2]);
        rc = mt_plot_hist_panels(pl, png, ttl, LEGEND, 2, nc, pn);
    }
    for (int i = 0; i < made; i++)
        free(pd[i].buf);
    return rc;
}

/* 2-D pairs */
typedef struct {
    const char *key;      /* "x-y" */
    int64_t cx, cy;
    mt_binning bx, by;
    mt_pair_metrics g, f;
} pair_def;

static int pair_eval(pair_def *p, const esample *smp[3], const layout *L, int64_t nb,
                     mt_plot *pl, float *bufs[6], const float *w[3])
{
    int64_t n[3];
    for (int k = 0; k < 3; k++) {
        n[k] = column_sel(smp[k], L, p->cx, NULL, bufs[2 * k], NULL);
        column_sel(smp[k], L, p->cy, NULL, bufs[2 * k + 1], NULL);
    }
    int rc = mt_binning_auto(&p->bx, bufs[0], n[0], nb, 0.001, 0.999, LOG_RANGE);
    if (!rc)
        rc = mt_binning_auto(&p->by, bufs[1], n[0], nb, 0.001, 0.999, LOG_RANGE);
    if (!rc)
        rc = mt_compare_2d_floor(&p->bx, &p->by, bufs[0], bufs[1], w[0], n[0], bufs[4], bufs[5],
                                 w[2], n[2], bufs[2], bufs[3], w[1], n[1], MT_EPS_DEFAULT, &p->g,
                                 &p->f);
    if (rc || !pl)
        return rc;
    /* the plot: the same binning, drawn flows clamped as in the metric */
    size_t cells = (size_t)(p->bx.nbins * p->by.nbins);
    double *h = malloc(6 * cells * sizeof *h);
    if (!h)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    mt_plot_hist2 hs[3];
    for (int k = 0; k < 3 && !rc; k++) {
        rc = mt_hist2d_w2(&p->bx, &p->by, MT_FLOW_CLAMP, bufs[2 * k], bufs[2 * k + 1], w[k], n[k],
                          h + 2 * k * cells, h + (2 * k + 1) * cells, NULL);
        hs[k] = (mt_plot_hist2){h + 2 * k * cells, h + (2 * k + 1) * cells};
    }
    char name[64], title[200], note[300];
    snprintf(name, sizeof name, "pair_%s", p->key);
    snprintf(title, sizeof title, "%s vs %s: real A | generated | pulls (cells at the range "
                                  "edges hold the under/overflow)",
             L->names[p->cy], L->names[p->cx]);
    snprintf(note, sizeof note, "2-D KL %.3g (floor %.3g, x%.1f)   chi2/ndf %.3g (floor %.3g)",
             p->g.kl, p->f.kl, ratio_of(p->g.kl, p->f.kl), p->g.chi2_ndf, p->f.chi2_ndf);
    if (!rc)
        rc = mt_plot_hist2d_cmp(pl, name, title, note, L->labels[p->cx], L->labels[p->cy],
                                &p->bx, &p->by, !strcmp(p->key, "x-y"), &hs[0], &hs[1], &hs[2],
                                LEGEND);
    free(h);
    return rc;
}

/* classifier inputs: every column, then species one-hot */
static int cls_inputs(const esample *s, const layout *L, const int32_t *codes, int ncodes,
                      int other, float **out, int64_t *d)
{
    *d = L->fe + ncodes + other;
    float *x = malloc((size_t)(s->n * *d) * sizeof *x);
    if (!x)
        return gs_error(GS_ERR_NOMEM, "out of memory for the classifier inputs");
    for (int64_t i = 0; i < s->n; i++) {
        float *row = x + i * *d;
        memcpy(row, s->x + i * L->fe, (size_t)L->fe * sizeof(float));
        int hit = 0;
        for (int k = 0; k < ncodes; k++) {
            row[L->fe + k] = s->pdg && s->pdg[i] == codes[k];
            hit |= s->pdg && s->pdg[i] == codes[k];
        }
        if (other)
            row[L->fe + ncodes] = !hit;
    }
    *out = x;
    return GS_OK;
}

typedef struct {
    md_cls_result g, f;
    int done;
    char inputs[512];
} cls_out;

/* Both classifier runs (A vs gen, A vs B). With two or more threads they run
 * at the same time, one thread each: the small network's kernels gain less
 * from threads than two independent runs do. */
static int run_classifiers(const float *xa, const float *wa, int64_t na, const float *xg,
                           const float *wg, const float *xb, const float *wb, int64_t m,
                           int64_t d, int64_t d_cont, const md_cls_cfg *cfg, cls_out *co)
{
    int rc2[2] = {0, 0};
    char err[2][512];
    const int nt = nn_get_threads() >= 2 ? 2 : 1;
#pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (int k = 0; k < 2; k++) {
        rc2[k] = md_cls_two_sample(xa, wa, na, k ? xb : xg, k ? wb : wg, m, d, d_cont, cfg,
                                   k ? &co->f : &co->g);
        if (rc2[k])
            snprintf(err[k], sizeof err[k], "%s", gs_errmsg());
    }
    for (int k = 0; k < 2; k++)
        if (rc2[k])
            return gs_error(rc2[k], "classifier (%s): %s", k ? "real vs real" : "real vs generated",
                            err[k]);
    co->done = 1;
    return GS_OK;
}

static void json_cls(FILE *js, const cls_out *co, const md_cls_cfg *cfg)
{
    if (!co->done) {
        fputs("\"classifier\": null", js);
        return;
    }
    fputs("\"classifier\": {", js);
    json_triple(js, "auc", co->g.auc, co->f.auc, 1);
    fputs(", \"auc_sigma0\": ", js);
    json_num(js, co->g.auc_sigma0);
    fprintf(js, ", \"n_train\": %lld, \"n_test\": %lld, \"inputs\": ", (long long)co->g.n_train,
            (long long)co->g.n_test);
    json_str(js, co->inputs);
    fprintf(js, ", \"hidden\": %lld, \"depth\": %d, \"steps\": %lld, \"batch\": %lld, \"lr\": ",
            (long long)cfg->hidden, cfg->depth, (long long)cfg->steps, (long long)cfg->batch);
    json_num(js, cfg->lr);
    fprintf(js, ", \"max_rows\": %lld, \"seed\": %llu, \"loss_start\": ", (long long)cfg->max_rows,
            (unsigned long long)cfg->seed);
    json_num(js, co->g.loss_start);
    fputs(", \"loss_end\": ", js);
    json_num(js, co->g.loss_end);
    fputs(", \"loss_end_floor\": ", js);
    json_num(js, co->f.loss_end);
    fputs("}", js);
}

static int add_cls_row(srows *rows, const cls_out *co)
{
    if (!co->done)
        return GS_OK;
    char note[200];
    snprintf(note, sizeof note, "0.5 = indistinguishable; sigma(0.5) = %.4f; %lld+%lld held-out rows",
             co->g.auc_sigma0, (long long)co->g.n_test, (long long)co->g.n_test);
    return add_row(rows, "classifier AUC (held out)", "classifier.auc", co->g.auc, co->f.auc,
                   ratio_of(co->g.auc, co->f.auc),
                   verdict_auc(co->g.auc, co->f.auc, co->g.auc_sigma0), note);
}

/* HTML detail table of features */
static void html_features(FILE *h, const char *caption, const layout *L,
                          const mt_feature_metrics *g, const mt_feature_metrics *f)
{
    fputs("<table class=\"det\"><caption>", h);
    html_esc(h, caption);
    fputs("</caption>\n<tr><th>feature</th><th>KL</th><th>floor</th><th>ratio</th><th>KS (p)</th>"
          "<th>floor (p)</th><th>&chi;&sup2;/ndf</th><th>floor</th><th>W1</th><th>floor</th>"
          "<th>unit</th></tr>\n",
          h);
    for (int64_t c = 0; c < L->fe; c++) {
        double r = g && f ? ratio_of(g[c].kl, f[c].kl) : NAN;
        fprintf(h, "<tr class=\"%s\"><td>", V_NAME[verdict_ratio(r)]);
        html_esc(h, L->names[c]);
        fputs("</td><td>", h);
        if (!g || !f) {
            fputs("&ndash;</td><td colspan=\"9\">too few rows</td></tr>\n", h);
            continue;
        }
        html_num(h, g[c].kl);
        fputs("</td><td>", h);
        html_num(h, f[c].kl);
        fputs("</td><td>", h);
        html_num(h, r);
        fputs("</td><td>", h);
        html_num(h, g[c].ks);
        fputs(" (", h);
        html_num(h, g[c].ks_p);
        fputs(")</td><td>", h);
        html_num(h, f[c].ks);
        fputs(" (", h);
        html_num(h, f[c].ks_p);
        fputs(")</td><td>", h);
        html_num(h, g[c].chi2_ndf);
        fputs("</td><td>", h);
        html_num(h, f[c].chi2_ndf);
        fputs("</td><td>", h);
        html_num(h, g[c].w1);
        fputs("</td><td>", h);
        html_num(h, f[c].w1);
        fputs("</td><td>", h);
        html_esc(h, L->units[c]);
        fputs("</td></tr>\n", h);
    }
    fputs("</table>\n", h);
}

static void html_subsets(FILE *h, const char *caption, const layout *L, subset *s, int n)
{
    fputs("<table class=\"det\"><caption>", h);
    html_esc(h, caption);
    fputs("</caption>\n<tr><th>subset</th><th>rows A / gen / B</th><th>fraction A</th>"
          "<th>fraction gen (pull)</th><th>fraction B (pull)</th><th>mean KL</th><th>floor</th>"
          "<th>ratio</th></tr>\n",
          h);
    for (int i = 0; i < n; i++) {
        double g = s[i].mg ? mean_over(s[i].mg, s[i].mf, 0, L->f, 0) : NAN;
        double f = s[i].mf ? mean_over(s[i].mf, s[i].mf, 0, L->f, 0) : NAN;
        int v = verdict_ratio(ratio_of(g, f)), vp = verdict_pull(frac_pull(&s[i], 1));
        fprintf(h, "<tr class=\"%s\"><td>", V_NAME[vp > v ? vp : v]);
        html_esc(h, s[i].title);
        fprintf(h, "</td><td>%lld / %lld / %lld</td><td>", (long long)s[i].nsel[0],
                (long long)s[i].nsel[1], (long long)s[i].nsel[2]);
        html_num(h, frac_of(&s[i], 0));
        fputs("</td><td>", h);
        html_num(h, frac_of(&s[i], 1));
        fputs(" (", h);
        html_num(h, frac_pull(&s[i], 1));
        fputs(")</td><td>", h);
        html_num(h, frac_of(&s[i], 2));
        fputs(" (", h);
        html_num(h, frac_pull(&s[i], 2));
        fputs(")</td><td>", h);
        html_num(h, g);
        fputs("</td><td>", h);
        html_num(h, f);
        fputs("</td><td>", h);
        html_num(h, ratio_of(g, f));
        fputs("</td></tr>\n", h);
    }
    fputs("</table>\n", h);
}

static int close_stream(FILE *f, char **buf)
{
    if (!f)
        return gs_error(GS_ERR_NOMEM, "eval: out of memory");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || !*buf)
        return gs_error(GS_ERR_NOMEM, "eval: out of memory for the report");
    return GS_OK;
}

static void floor_json(FILE *js, const split_plan *sp, int64_t n_ref, int64_t n_ref2,
                       int64_t n_gen, uint64_t seed, int aligned)
{
    fprintf(js, "\"floor\": {\"method\": \"%s\", \"seed\": %llu, \"n_ref_file\": %lld, "
                "\"n_ref2_file\": %lld, \"n_gen_file\": %lld, \"n_ref\": %lld, \"n_ref2\": %lld, "
                "\"n_gen\": %lld, \"gen_aligned\": %s}",
            sp->split ? "split" : "ref2", (unsigned long long)seed, (long long)n_ref,
            (long long)(sp->split ? 0 : n_ref2), (long long)n_gen, (long long)sp->na,
            (long long)sp->m, (long long)sp->m, aligned ? "true" : "false");
}

static void html_floor(FILE *h, const split_plan *sp)
{
    fprintf(h, "<p class=\"floor\">Noise floor: %s. Real A holds %lld rows; the generated sample "
               "and real B hold %lld rows each, drawn at random, so that both comparisons have "
               "the same sample sizes. A ratio (real vs generated) / (real vs real) near 1 means "
               "the generated sample is as close to real A as a second real sample is.</p>\n",
            sp->split ? "the reference file split at random into halves A and B"
                      : "the reference file (A) against the second reference file (B)",
            (long long)sp->na, (long long)sp->m);
}

int md_eval_events(const ds_events *ref, const ds_events *ref2, const ds_events *gen,
                   const md_eval_opts *o_in, mt_plot *pl, md_eval_report *out)
{
    md_eval_opts o;
    if (o_in)
        o = *o_in;
    else
        md_eval_defaults(&o);
    memset(out, 0, sizeof *out);
    if (!ref || !gen)
        return gs_error(GS_ERR_ARG, "eval: no reference or generated table");
    layout L;
    int64_t gmap[MAXF], r2map[MAXF], rmap[MAXF];
    int rc = layout_make(ref, gen, ref2, &L);
    const char *rname = o.real_name ? o.real_name : "the reference";
    if (!rc)
        rc = map_columns(ref, rname, gen, o.gen_name ? o.gen_name : "the generated table", gmap);
    if (!rc && ref2)
        rc = map_columns(ref, rname, ref2, o.ref2_name ? o.ref2_name : "the second reference",
                         r2map);
    for (int64_t c = 0; c < ref->f; c++)
        rmap[c] = c;
    split_plan sp = {0};
    if (!rc)
        rc = split_make(ref->n, ref2 ? ref2->n : 0, gen->n, o.seed, NULL, &sp);
    if (rc)
        return rc;
    esample A = {0}, G = {0}, B = {0};
    rc = esample_make(ref, rmap, sp.a, sp.na, &L, &A);
    if (!rc)
        rc = esample_make(gen, gmap, sp.g, sp.m, &L, &G);
    if (!rc)
        rc = esample_make(sp.split ? ref : ref2, sp.split ? rmap : r2map, sp.b, sp.m, &L, &B);
    const esample *smp[3] = {&A, &G, &B};
    mt_compare_opts co = mt_compare_defaults();
    co.log_range = LOG_RANGE;
    /* subsets: all, regions, species */
    subset sub[3 + MAX_SPECIES];
    memset(sub, 0, sizeof sub);
    int nsub = 0, nreg = 0, nsp = 0, sp_off = 0;
    int32_t codes[MAX_SPECIES];
    int64_t code_n[MAX_SPECIES];
    sub[nsub++].name = "all";
    snprintf(sub[0].title, sizeof sub[0].title, "all particles");
    char r0txt[48];
    snprintf(r0txt, sizeof r0txt, "%g%s%s", o.r0, L.cr >= 0 && L.units[L.cr][0] ? " " : "",
             L.cr >= 0 ? L.units[L.cr] : "");
    if (!rc && L.cr >= 0) {
        for (int k = 0; k < 2 && !rc; k++) {
            subset *s = &sub[nsub++];
            nreg++;
            s->name = k ? "outer" : "inner";
            snprintf(s->title, sizeof s->title, "region %s (r %s %s)", s->name, k ? ">=" : "<",
                     r0txt);
            for (int j = 0; j < 3 && !rc; j++) {
                if (!(s->mask[j] = malloc((size_t)smp[j]->n))) {
                    rc = gs_error(GS_ERR_NOMEM, "out of memory");
                    break;
                }
                for (int64_t i = 0; i < smp[j]->n; i++) {
                    int inner = smp[j]->x[i * L.fe + L.cr] < o.r0;
                    s->mask[j][i] = (uint8_t)(k ? !inner : inner);
                }
            }
        }
    }
    /* species by pdg when every sample has it */
    int do_species = !rc && A.pdg && G.pdg && B.pdg;
    for (int j = 0; do_species && j < 3; j++)
        for (int64_t i = 0; i < smp[j]->n && do_species; i++) {
            int k = 0;
            while (k < nsp && codes[k] != smp[j]->pdg[i])
                k++;
            if (k == nsp) {
                if (nsp == MAX_SPECIES) {
                    do_species = 0;
                    break;
                }
                codes[nsp] = smp[j]->pdg[i];
                code_n[nsp++] = 0;
            }
            code_n[k] += j == 0;
        }
    if (!do_species)
        nsp = 0;
    /* most frequent in A first */
    for (int a = 1; a < nsp; a++)
        for (int b = a; b > 0 && code_n[b] > code_n[b - 1]; b--) {
            int32_t tc = codes[b];
            codes[b] = codes[b - 1];
            codes[b - 1] = tc;
            int64_t tn = code_n[b];
            code_n[b] = code_n[b - 1];
            code_n[b - 1] = tn;
        }
    char sp_names[MAX_SPECIES][16];
    sp_off = nsub;
    for (int k = 0; !rc && k < nsp; k++) {
        subset *s = &sub[nsub++];
        snprintf(sp_names[k], sizeof sp_names[k], "%d", codes[k]);
        s->name = sp_names[k];
        const char *pn = gs_pdg_name(codes[k]);
        snprintf(s->title, sizeof s->title, "species %s (pdg %d)", pn ? pn : "?", codes[k]);
        for (int j = 0; j < 3 && !rc; j++) {
            if (!(s->mask[j] = malloc((size_t)smp[j]->n))) {
                rc = gs_error(GS_ERR_NOMEM, "out of memory");
                break;
            }
            for (int64_t i = 0; i < smp[j]->n; i++)
                s->mask[j][i] = smp[j]->pdg[i] == codes[k];
        }
    }
    for (int k = 0; !rc && k < nsub; k++)
        rc = subset_eval(&sub[k], smp, &L, &co);
    if (!rc && !sub[0].mg)
        rc = gs_error(GS_ERR_FORMAT, "too few rows to compare");
    /* 2-D pairs */
    pair_def pairs[4];
    int npairs = 0;
    if (L.cx >= 0 && L.cy >= 0)
        pairs[npairs++] = (pair_def){.key = "x-y", .cx = L.cx, .cy = L.cy};
    if (L.cr >= 0 && L.ct >= 0)
        pairs[npairs++] = (pair_def){.key = "r-t", .cx = L.cr, .cy = L.ct};
    if (L.ce >= 0 && L.cr >= 0)
        pairs[npairs++] = (pair_def){.key = "E-r", .cx = L.ce, .cy = L.cr};
    if (L.ce >= 0 && L.ct >= 0)
        pairs[npairs++] = (pair_def){.key = "E-t", .cx = L.ce, .cy = L.ct};
    int64_t nmax = A.n > G.n ? A.n : G.n;
    float *bufs[6] = {NULL};
    float *col = malloc((size_t)nmax * sizeof *col), *colw = malloc((size_t)nmax * sizeof *colw);
    for (int k = 0; k < 6; k++)
        bufs[k] = malloc((size_t)nmax * sizeof(float));
    if (!rc && (!col || !colw || !bufs[0] || !bufs[1] || !bufs[2] || !bufs[3] || !bufs[4] ||
                !bufs[5]))
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    const float *wts[3] = {A.w, G.w, B.w};
    for (int k = 0; !rc && k < npairs; k++)
        rc = pair_eval(&pairs[k], smp, &L, o.nbins2d, pl, bufs, wts);
    /* rank-correlation matrices */
    double *corr = malloc((size_t)(3 * L.fe * L.fe) * sizeof *corr);
    double cg_frob = NAN, cf_frob = NAN, cg_max = NAN, cf_max = NAN;
    if (!rc && !corr)
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    for (int k = 0; !rc && k < 3; k++)
        rc = mt_rank_corr(smp[k]->x, smp[k]->w, smp[k]->n, L.fe, corr + k * L.fe * L.fe);
    if (!rc)
        rc = mt_corr_diff(corr, corr + L.fe * L.fe, L.fe, &cg_frob, &cg_max);
    if (!rc)
        rc = mt_corr_diff(corr, corr + 2 * L.fe * L.fe, L.fe, &cf_frob, &cf_max);
    /* classifier */
    cls_out cls = {0};
    if (!rc && o.classifier) {
        int ncodes = nsp < MAX_ONEHOT ? nsp : MAX_ONEHOT, other = nsp > MAX_ONEHOT;
        float *xa = NULL, *xg = NULL, *xb = NULL;
        int64_t d = 0;
        rc = cls_inputs(&A, &L, codes, ncodes, other, &xa, &d);
        if (!rc)
            rc = cls_inputs(&G, &L, codes, ncodes, other, &xg, &d);
        if (!rc)
            rc = cls_inputs(&B, &L, codes, ncodes, other, &xb, &d);
        for (int64_t c = 0; c < L.fe; c++)
            append(cls.inputs, sizeof cls.inputs, "%s%s", c ? "," : "", L.names[c]);
        if (ncodes)
            append(cls.inputs, sizeof cls.inputs, ",species one-hot (%d%s)", ncodes,
                   other ? " + other" : "");
        if (!rc)
            rc = run_classifiers(xa, A.w, A.n, xg, G.w, xb, B.w, sp.m, d, L.fe, &o.cls, &cls);
        free(xa);
        free(xg);
        free(xb);
    }
    /* plots */
    for (int64_t c = 0; !rc && pl && c < L.fe; c++) {
        panel_data pd;
        char name[96], title[160];
        snprintf(name, sizeof name, "hist_%s", L.names[c]);
        snprintf(title, sizeof title, "%s, all particles", L.names[c]);
        const uint8_t *nomask[3] = {NULL, NULL, NULL};
        rc = panel_fill(&pd, smp, nomask, &L, c, col, colw, title, &sub[0].mg[c], &sub[0].mf[c]);
        if (!rc)
            rc = mt_plot_hist_panels(pl, name, NULL, LEGEND, 1, 1, &pd.pn);
        free(pd.buf);
    }
    for (int k = 1; !rc && pl && k < nsub; k++) {
        char png[64];
        snprintf(png, sizeof png, "%s_%s", k < sp_off ? "region" : "species", sub[k].name);
        if (sub[k].nsel[0] >= 2 && sub[k].nsel[1] >= 1 && sub[k].nsel[2] >= 1)
            rc = plot_subset(pl, png, &sub[k], smp, &L, col, colw);
    }
    if (!rc && pl) {
        const char *names[MAXF];
        for (int64_t c = 0; c < L.fe; c++)
            names[c] = L.names[c];
        char note[200];
        snprintf(note, sizeof note, "difference norm (Frobenius) %.3g, floor %.3g (x%.1f); "
                                    "largest entry %.3g, floor %.3g",
                 cg_frob, cf_frob, ratio_of(cg_frob, cf_frob), cg_max, cf_max);
        rc = mt_plot_corr(pl, "corr", "rank correlation (Spearman) matrices", note, names, L.fe,
                          corr, corr + L.fe * L.fe, corr + 2 * L.fe * L.fe, LEGEND);
    }
    /* summary rows */
    srows rows = {0};
    const mt_feature_metrics *mg = sub[0].mg, *mf = sub[0].mf;
    if (!rc) {
        char lab[160], note[200];
        snprintf(lab, sizeof lab, "mean KL over the %lld features", (long long)L.f);
        rc = add_ratio_row(&rows, lab, "mean_kl", mean_over(mg, mf, 0, L.f, 0),
                           mean_over(mf, mf, 0, L.f, 0), NULL);
        int64_t worst = 0;
        for (int64_t c = 1; c < L.fe; c++)
            if (ratio_of(mg[c].kl, mf[c].kl) > ratio_of(mg[worst].kl, mf[worst].kl))
                worst = c;
        snprintf(lab, sizeof lab, "KL of the worst feature (%s)", L.names[worst]);
        snprintf(note, sizeof note, "%s.%s.kl", worst < L.f ? "features" : "derived",
                 L.names[worst]);
        if (!rc)
            rc = add_ratio_row(&rows, lab, note, mg[worst].kl, mf[worst].kl, NULL);
        if (!rc)
            rc = add_ratio_row(&rows, "mean JS over the features", "mean_js",
                               mean_over(mg, mf, 0, L.f, 1), mean_over(mf, mf, 0, L.f, 1), NULL);
        int64_t kk = argmax_ks(mg, L.f), kf = argmax_ks(mf, L.f);
        snprintf(lab, sizeof lab, "largest KS (%s)", L.names[kk]);
        snprintf(note, sizeof note, "p = %.3g (floor: %s, p = %.3g)", mg[kk].ks_p, L.names[kf],
                 mf[kf].ks_p);
        if (!rc)
            rc = add_ratio_row(&rows, lab, "max_ks", mg[kk].ks, mf[kf].ks, note);
        if (!rc)
            rc = add_ratio_row(&rows, "mean chi2/ndf over the features", "mean_chi2_ndf",
                               mean_over(mg, mf, 0, L.f, 2), mean_over(mf, mf, 0, L.f, 2),
                               "Poisson errors (weighted: sum of w^2)");
        double w1r = mean_over(mg, mf, 0, L.f, 3);
        if (!rc)
            rc = add_row(&rows, "W1 / floor, mean over the features", "mean_w1_ratio", w1r, 1.0,
                         w1r, verdict_ratio(w1r), "each feature's W1 in its own unit");
        if (!rc && L.fe > L.f) {
            char k2[64];
            snprintf(lab, sizeof lab, "mean KL of the derived");
            for (int64_t c = L.f; c < L.fe; c++)
                append(lab, sizeof lab, " %s", L.names[c]);
            snprintf(k2, sizeof k2, "derived");
            rc = add_ratio_row(&rows, lab, k2, mean_over(mg, mf, L.f, L.fe, 0),
                               mean_over(mf, mf, L.f, L.fe, 0), NULL);
        }
        for (int k = 0; !rc && k < npairs; k++) {
            char key[64];
            snprintf(lab, sizeof lab, "2-D KL %s (%s, %s)", pairs[k].key,
                     L.names[pairs[k].cx], L.names[pairs[k].cy]);
            snprintf(key, sizeof key, "pairs.%s.kl2d", pairs[k].key);
            snprintf(note, sizeof note, "%lldx%lld cells", (long long)o.nbins2d,
                     (long long)o.nbins2d);
            rc = add_ratio_row(&rows, lab, key, pairs[k].g.kl, pairs[k].f.kl, note);
        }
        if (!rc)
            rc = add_ratio_row(&rows, "rank-correlation matrix difference (Frobenius)",
                               "corr.frob", cg_frob, cf_frob, NULL);
        if (!rc)
            rc = add_cls_row(&rows, &cls);
        for (int k = 1; !rc && k < nsub; k++) {
            if (!sub[k].mg)
                continue;
            char key[96];
            snprintf(lab, sizeof lab, "mean KL, %s", sub[k].title);
            snprintf(key, sizeof key, "%s.%s.mean_kl", k < sp_off ? "regions" : "species",
                     sub[k].name);
            rc = add_ratio_row(&rows, lab, key, mean_over(sub[k].mg, sub[k].mf, 0, L.f, 0),
                               mean_over(sub[k].mf, sub[k].mf, 0, L.f, 0), NULL);
        }
        for (int grp = 0; !rc && grp < 2; grp++) {
            int k0 = grp ? sp_off : 1, k1 = grp ? nsub : 1 + nreg, best = -1;
            for (int k = k0; k < k1; k++)
                if (best < 0 || fabs(frac_pull(&sub[k], 1)) > fabs(frac_pull(&sub[best], 1)))
                    best = k;
            if (best < 0)
                continue;
            double pg = frac_pull(&sub[best], 1), pf = frac_pull(&sub[best], 2);
            snprintf(lab, sizeof lab, "%s fractions: largest pull (%s)", grp ? "species" : "region",
                     sub[best].name);
            snprintf(note, sizeof note, "fraction real A %.4g, generated %.4g, real B %.4g",
                     frac_of(&sub[best], 0), frac_of(&sub[best], 1), frac_of(&sub[best], 2));
            rc = add_row(&rows, lab, grp ? "species.*.frac_pull" : "regions.*.frac_pull", pg, pf,
                         NAN, verdict_pull(pg), note);
        }
    }
    /* JSON */
    char *jb = NULL, *sb = NULL, *hb = NULL;
    size_t jl = 0, sl = 0, hl = 0;
    FILE *js = rc ? NULL : open_memstream(&jb, &jl);
    FILE *sm = rc ? NULL : open_memstream(&sb, &sl);
    FILE *ht = rc ? NULL : open_memstream(&hb, &hl);
    if (!rc && (!js || !sm || !ht))
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    if (!rc) {
        fprintf(js, "{\"kind\": \"events\", \"gansim_version\": \"%s\", ", GANSIM_VERSION);
        floor_json(js, &sp, ref->n, ref2 ? ref2->n : 0, gen->n, o.seed, 0);
        fprintf(js, ",\n\"n_real\": %lld, \"n_gen\": %lld, \"n_real2\": %lld,\n",
                (long long)A.n, (long long)G.n, (long long)B.n);
        json_means(js, &L, mg, mf);
        fputs(",\n\"features\": ", js);
        json_features(js, &L, mg, mf, 0, L.f);
        fputs(",\n\"derived\": ", js);
        json_features(js, &L, mg, mf, L.f, L.fe);
        fputs(",\n\"pairs\": {", js);
        for (int k = 0; k < npairs; k++) {
            pair_def *p = &pairs[k];
            fprintf(js, "%s\n  \"%s\": {\"x\": ", k ? "," : "", p->key);
            json_str(js, L.names[p->cx]);
            fputs(", \"y\": ", js);
            json_str(js, L.names[p->cy]);
            fprintf(js, ", \"bins\": [%lld, %lld], \"x_scale\": \"%s\", \"y_scale\": \"%s\", ",
                    (long long)p->bx.nbins, (long long)p->by.nbins,
                    p->bx.scale == MT_SCALE_LOG ? "log" : "linear",
                    p->by.scale == MT_SCALE_LOG ? "log" : "linear");
            json_triple(js, "kl2d", p->g.kl, p->f.kl, 1);
            fputs(", ", js);
            json_triple(js, "js2d", p->g.js, p->f.js, 1);
            fputs(", ", js);
            json_triple(js, "chi2_ndf", p->g.chi2_ndf, p->f.chi2_ndf, 1);
            fprintf(js, ", \"ndf\": %lld}", (long long)p->g.ndf);
        }
        fputs("},\n\"corr\": {\"method\": \"spearman\", \"columns\": [", js);
        for (int64_t c = 0; c < L.fe; c++) {
            fputs(c ? ", " : "", js);
            json_str(js, L.names[c]);
        }
        fputs("], ", js);
        json_triple(js, "frob", cg_frob, cf_frob, 1);
        fputs(", ", js);
        json_triple(js, "max_abs", cg_max, cf_max, 1);
        fputs("},\n", js);
        json_cls(js, &cls, &o.cls);
        if (nreg) {
            fputs(",\n\"regions\": {", js);
            for (int k = 1; k < 1 + nreg; k++) {
                fprintf(js, "%s\n \"%s\": {", k > 1 ? "," : "", sub[k].name);
                fprintf(js, k == 1 ? "\"r_max\": %.10g, " : "\"r_min\": %.10g, ", o.r0);
                json_subset(js, &L, &sub[k]);
                fputs("}", js);
            }
            fputs("}", js);
        }
        if (nsp) {
            fputs(",\n\"species\": {", js);
            for (int k = sp_off; k < nsub; k++) {
                const char *pn = gs_pdg_name(codes[k - sp_off]);
                fprintf(js, "%s\n \"%s\": {\"name\": ", k > sp_off ? "," : "", sub[k].name);
                json_str(js, pn ? pn : "");
                fputs(", ", js);
                json_subset(js, &L, &sub[k]);
                fputs("}", js);
            }
            fputs("}", js);
        }
        fputs(",\n", js);
        json_rows(js, &rows);
        fputs("}\n", js);
        /* terminal */
        fprintf(sm, "events: real A %lld rows, generated %lld, real B %lld (floor: %s), %lld "
                    "features\n",
                (long long)A.n, (long long)G.n, (long long)B.n,
                sp.split ? "the reference split in halves" : "the second reference",
                (long long)L.f);
        text_rows(sm, &rows);
        fprintf(sm, "  per feature: KL (floor, ratio) | KS (floor) | W1 (floor) in its unit\n");
        for (int64_t c = 0; c < L.fe; c++)
            fprintf(sm, "  %-8s %10.4g (%9.3g, %6.2f) | %7.4f (%7.4f) | %11.5g (%11.5g) %s\n",
                    L.names[c], mg[c].kl, mf[c].kl, ratio_of(mg[c].kl, mf[c].kl), mg[c].ks,
                    mf[c].ks, mg[c].w1, mf[c].w1, L.units[c]);
        /* HTML tables */
        html_floor(ht, &sp);
        html_rows(ht, &rows);
        fputs("<h2>Details</h2>\n", ht);
        html_features(ht, "all particles: per feature (W1 in the feature's unit)", &L, mg, mf);
        if (nreg)
            html_subsets(ht, "regions", &L, &sub[1], nreg);
        if (nsp)
            html_subsets(ht, "species", &L, &sub[sp_off], nsp);
        if (npairs) {
            fputs("<table class=\"det\"><caption>2-D histograms</caption>\n<tr><th>pair</th>"
                  "<th>KL</th><th>floor</th><th>ratio</th><th>&chi;&sup2;/ndf</th><th>floor</th>"
                  "</tr>\n",
                  ht);
            for (int k = 0; k < npairs; k++) {
                double r = ratio_of(pairs[k].g.kl, pairs[k].f.kl);
                fprintf(ht, "<tr class=\"%s\"><td>%s (%s, %s)</td><td>", V_NAME[verdict_ratio(r)],
                        pairs[k].key, L.names[pairs[k].cx], L.names[pairs[k].cy]);
                html_num(ht, pairs[k].g.kl);
                fputs("</td><td>", ht);
                html_num(ht, pairs[k].f.kl);
                fputs("</td><td>", ht);
                html_num(ht, r);
                fputs("</td><td>", ht);
                html_num(ht, pairs[k].g.chi2_ndf);
                fputs("</td><td>", ht);
                html_num(ht, pairs[k].f.chi2_ndf);
                fputs("</td></tr>\n", ht);
            }
            fputs("</table>\n", ht);
        }
        count_verdicts(&rows, out);
    }
    if (js) {
        int r1 = close_stream(js, &jb);
        rc = rc ? rc : r1;
    }
    if (sm) {
        int r1 = close_stream(sm, &sb);
        rc = rc ? rc : r1;
    }
    if (ht) {
        int r1 = close_stream(ht, &hb);
        rc = rc ? rc : r1;
    }
    if (!rc) {
        out->json = jb;
        out->summary = sb;
        out->tables = hb;
    } else {
        free(jb);
        free(sb);
        free(hb);
    }
    free(rows.r);
    free(corr);
    free(col);
    free(colw);
    for (int k = 0; k < 6; k++)
        free(bufs[k]);
    for (int k = 0; k < nsub; k++)
        subset_free(&sub[k]);
    esample_free(&A);
    esample_free(&G);
    esample_free(&B);
    split_free(&sp);
    return rc;
}

/* ---- image sets ------------------------------------------------------------------ */
#define NOBS 8 /* channel sums 1..5, total intensity, max-pixel row, column */
static const char *const OBS_NAME[NOBS] = {"ch1", "ch2", "ch3", "ch4", "ch5",
                                           "intensity", "max_row", "max_col"};

static int cond_equal(const ds_images *a, int64_t i, const ds_images *b, int64_t j)
{
    return memcmp(a->cond + i * a->c, b->cond + j * b->c, (size_t)a->c * sizeof(float)) == 0;
}

/* observables [m, NOBS] (+ conditions when with_cond) of rows idx of im */
static int image_table(const ds_images *im, const int64_t *idx, int64_t m, int with_cond,
                       mt_zdc_map map, float **out, float **imgs)
{
    const int64_t d = NOBS + (with_cond ? im->c : 0), px = im->h * im->w;
    float *x = malloc((size_t)(m * d) * sizeof *x);
    float *sel = calloc((size_t)(m * px), sizeof *sel);
    double *ch = malloc((size_t)m * 8 * sizeof *ch);
    if (!x || !sel || !ch) {
        free(x);
        free(sel);
        free(ch);
        return gs_error(GS_ERR_NOMEM, "out of memory for %lld images", (long long)m);
    }
    for (int64_t i = 0; i < m; i++)
        memcpy(sel + i * px, im->images + idx[i] * px, (size_t)px * sizeof(float));
    int rc = mt_zdc_features_map(map, sel, m, im->h, im->w, ch, ch + m * 5, ch + m * 6,
                                 ch + m * 7);
    for (int64_t i = 0; !rc && i < m; i++) {
        float *row = x + i * d;
        for (int k = 0; k < 5; k++)
            row[k] = (float)ch[i * 5 + k];
        for (int k = 5; k < 8; k++)
            row[k] = (float)ch[m * k + i];
        for (int64_t k = 0; with_cond && k < im->c; k++)
            row[NOBS + k] = im->cond[idx[i] * im->c + k];
    }
    free(ch);
    if (rc) {
        free(x);
        free(sel);
        return rc;
    }
    *out = x;
    *imgs = sel;
    return GS_OK;
}

/* ---- same-condition pairs -------------------------------------------------------- */
#define SAME_COND_MIN_PHOTONS 10.0 /* below: no shower (the toy's empty rows hold 0-10) */
#define SAME_COND_MIN_PAIRS 20     /* fewer: no medians worth reporting */

typedef struct {
    int64_t n;                      /* pairs; 0 = not computed (see why) */
    mt_same_cond_metrics gen, floor;
    const char *why;                /* why not computed, when n = 0 */
} same_cond;

/* The pairs of mt_compare_same_cond: every row r of B (ref rows sp->b[i])
 * whose conditions another reference row p shares gives the pair (r, the
 * image generated for r's conditions, sp->g[i]) and its floor (r, p): the
 * same rows on both sides. p is the next row of r's group, cyclically. */
static int same_cond_eval(const ds_images *ref, const ds_images *gen, const split_plan *sp,
                          same_cond *out)
{
    memset(out, 0, sizeof *out);
    const int64_t n = ref->n;
    int64_t ng = 0;
    int64_t *gid = malloc((size_t)n * sizeof *gid), *partner = malloc((size_t)n * sizeof *partner);
    int64_t *first = malloc((size_t)n * sizeof *first), *last = malloc((size_t)n * sizeof *last);
    int64_t *ra = malloc((size_t)sp->m * sizeof *ra), *ga = malloc((size_t)sp->m * sizeof *ga);
    int64_t *pa = malloc((size_t)sp->m * sizeof *pa);
    int rc = gid && partner && first && last && ra && ga && pa
                 ? md_zdc_cond_groups(ref->cond, n, ref->c, gid, &ng)
                 : gs_error(GS_ERR_NOMEM, "out of memory");
    if (!rc) {
        /* each row's partner: the next row of its group, the last one's the first */
        for (int64_t g = 0; g < ng; g++)
            first[g] = last[g] = -1;
        for (int64_t r = 0; r < n; r++) {
            const int64_t g = gid[r];
            if (last[g] >= 0)
                partner[last[g]] = r;
            else
                first[g] = r;
            last[g] = r;
        }
        for (int64_t g = 0; g < ng; g++)
            partner[last[g]] = first[g] != last[g] ? first[g] : -1;
        int64_t k = 0;
        for (int64_t i = 0; i < sp->m; i++)
            if (partner[sp->b[i]] >= 0) {
                ra[k] = sp->b[i];
                ga[k] = sp->g[i];
                pa[k++] = partner[sp->b[i]];
            }
        if (k < SAME_COND_MIN_PAIRS)
            out->why = "fewer than 20 rows of the comparison share their conditions with "
                       "another reference row";
        else if (!(rc = mt_compare_same_cond(ref->images, ra, gen->images, ga, k, ref->h, ref->w,
                                             SAME_COND_MIN_PHOTONS, &out->gen)))
            rc = mt_compare_same_cond(ref->images, ra, ref->images, pa, k, ref->h, ref->w,
                                      SAME_COND_MIN_PHOTONS, &out->floor);
        if (!rc && !out->why)
            out->n = k;
    }
    free(gid);
    free(partner);
    free(first);
    free(last);
    free(ra);
    free(ga);
    free(pa);
    return rc;
}

static void same_cond_json(FILE *js, const same_cond *sc)
{
    fputs("\"same_condition\": {", js);
    if (!sc->n) {
        fputs("\"pairs\": 0, \"note\": ", js);
        json_str(js, sc->why);
        fputc('}', js);
        return;
    }
    fprintf(js, "\"pairs\": %lld, \"min_photons\": %g, \"shower_pairs\": %lld, "
                "\"shower_pairs_floor\": %lld, ",
            (long long)sc->n, SAME_COND_MIN_PHOTONS, (long long)sc->gen.n_showers,
            (long long)sc->floor.n_showers);
    json_triple(js, "centroid_dist", sc->gen.centroid_dist, sc->floor.centroid_dist, 1);
    fputs(", ", js);
    json_triple(js, "empty_mismatch", sc->gen.empty_mismatch, sc->floor.empty_mismatch, 1);
    fputs(", ", js);
    json_triple(js, "log_intensity", sc->gen.log_intensity, sc->floor.log_intensity, 1);
    fputc('}', js);
}

int md_eval_images(const ds_images *ref, const ds_images *ref2, const ds_images *gen,
                   const md_eval_opts *o_in, mt_plot *pl, md_eval_report *out)
{
    md_eval_opts o;
    if (o_in)
        o = *o_in;
    else
        md_eval_defaults(&o);
    memset(out, 0, sizeof *out);
    if (!ref || !gen)
        return gs_error(GS_ERR_ARG, "eval: no reference or generated images");
    if (gen->h != ref->h || gen->w != ref->w || (ref2 && (ref2->h != ref->h || ref2->w != ref->w)))
        return gs_error(GS_ERR_FORMAT, "image sizes differ: reference %lldx%lld, generated "
                                       "%lldx%lld", (long long)ref->h, (long long)ref->w,
                        (long long)gen->h, (long long)gen->w);
    /* generated images made for the reference's conditions, row by row */
    int aligned = !ref2 && gen->n == ref->n && ref->cond && gen->cond && ref->c == gen->c &&
                  ref->c > 0;
    for (int64_t i = 0; aligned && i < ref->n; i++)
        aligned = cond_equal(ref, i, gen, i);
    int64_t *ident = NULL;
    if (aligned && !(ident = malloc((size_t)ref->n * sizeof *ident)))
        return gs_error(GS_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; aligned && i < ref->n; i++)
        ident[i] = i;
    split_plan sp;
    int rc = split_make(ref->n, ref2 ? ref2->n : 0, gen->n, o.seed, ident, &sp);
    free(ident);
    if (rc)
        return rc;
    const ds_images *bsrc = sp.split ? ref : ref2;
    const int with_cond = ref->cond && gen->cond && bsrc->cond && ref->c == gen->c &&
                          ref->c == bsrc->c && ref->c > 0;
    float *xa = NULL, *xg = NULL, *xb = NULL, *ia = NULL, *ig = NULL, *ib = NULL;
    rc = image_table(ref, sp.a, sp.na, with_cond, (mt_zdc_map)o.channel_map, &xa, &ia);
    if (!rc)
        rc = image_table(gen, sp.g, sp.m, with_cond, (mt_zdc_map)o.channel_map, &xg, &ig);
    if (!rc)
        rc = image_table(bsrc, sp.b, sp.m, with_cond, (mt_zdc_map)o.channel_map, &xb, &ib);
    const int64_t d = NOBS + (with_cond ? ref->c : 0);
    mt_image_metrics wg, wf;
    if (!rc)
        rc = mt_compare_images_map((mt_zdc_map)o.channel_map, ia, sp.na, ig, sp.m, ref->h,
                                   ref->w, &wg);
    if (!rc)
        rc = mt_compare_images_map((mt_zdc_map)o.channel_map, ia, sp.na, ib, sp.m, ref->h,
                                   ref->w, &wf);
    /* 1-D metrics of the observables (KL, KS, χ², W1) with their floor */
    mt_feature_metrics mg[NOBS], mf[NOBS];
    mt_compare_opts co = mt_compare_defaults();
    co.log_range = LOG_RANGE;
    float *ta = NULL, *tg = NULL, *tb = NULL;
    if (!rc) {
        /* the observables alone, as tables of NOBS columns */
        ta = malloc((size_t)(sp.na * NOBS) * sizeof *ta);
        tg = malloc((size_t)(sp.m * NOBS) * sizeof *tg);
        tb = malloc((size_t)(sp.m * NOBS) * sizeof *tb);
        if (!ta || !tg || !tb)
            rc = gs_error(GS_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; !rc && i < sp.na; i++)
            memcpy(ta + i * NOBS, xa + i * d, NOBS * sizeof(float));
        for (int64_t i = 0; !rc && i < sp.m; i++) {
            memcpy(tg + i * NOBS, xg + i * d, NOBS * sizeof(float));
            memcpy(tb + i * NOBS, xb + i * d, NOBS * sizeof(float));
        }
    }
    if (!rc)
        rc = mt_compare_table_floor(ta, NULL, NULL, sp.na, tb, NULL, NULL, sp.m, tg, NULL, NULL,
                                    sp.m, NOBS, &co, mg, mf);
    /* conditioning: generated rows made for B's conditions, against a second
     * real image of the same conditions */
    same_cond sc = {0, .why = ref2 ? "with a second reference the generated rows are not "
                                     "paired with real ones"
                                   : "the generated file was not made for the reference's "
                                     "conditions row by row (gansim-sample --conditions REF "
                                     "-k 1)"};
    if (!rc && aligned && sp.split && with_cond)
        rc = same_cond_eval(ref, gen, &sp, &sc);
    cls_out cls = {0};
    if (!rc && o.classifier) {
        snprintf(cls.inputs, sizeof cls.inputs, "channel sums 1-5, total intensity, max-pixel "
                                                "row and column%s",
                 with_cond ? ", conditions" : "");
        rc = run_classifiers(xa, NULL, sp.na, xg, NULL, xb, NULL, sp.m, d, d, &o.cls, &cls);
    }
    /* plots */
    if (!rc && pl) {
        int64_t k = GRID_IMAGES < sp.na ? GRID_IMAGES : sp.na;
        if (k > sp.m)
            k = sp.m;
        const int64_t px = ref->h * ref->w;
        float *gsel = malloc((size_t)(k * px) * sizeof *gsel);
        if (!gsel)
            rc = gs_error(GS_ERR_NOMEM, "out of memory");
        /* generated images for the same conditions as the real ones shown */
        int matched = with_cond;
        for (int64_t i = 0; !rc && i < k; i++) {
            int64_t pick = -1;
            for (int64_t j = 0; matched && pick < 0 && j < gen->n; j++)
                if (cond_equal(ref, sp.a[i], gen, j))
                    pick = j;
            matched = pick >= 0;
            memcpy(gsel + i * px, gen->images + (matched ? pick : sp.g[i]) * px,
                   (size_t)px * sizeof(float));
        }
        if (!rc && !matched) /* all or none: never a grid mixing both kinds */
            for (int64_t i = 0; i < k; i++)
                memcpy(gsel + i * px, gen->images + sp.g[i] * px, (size_t)px * sizeof(float));
        if (!rc)
            rc = mt_plot_images(pl, "images",
                                matched ? "real (top) vs generated (bottom), same conditions"
                                        : "real (top) vs generated (bottom), conditions differ",
                                "photons", ia, gsel, k, ref->h, ref->w);
        free(gsel);
        /* observables: channels + intensity, max pixel */
        const esample S[3] = {{sp.na, ta, NULL, NULL}, {sp.m, tg, NULL, NULL}, {sp.m, tb, NULL, NULL}};
        const esample *smp[3] = {&S[0], &S[1], &S[2]};
        layout L;
        memset(&L, 0, sizeof L);
        L.f = L.fe = NOBS;
        for (int c = 0; c < NOBS; c++) {
            snprintf(L.names[c], sizeof L.names[c], "%s", OBS_NAME[c]);
            snprintf(L.units[c], sizeof L.units[c], "%s", c < 6 ? "photons" : "pixel");
            if (c < 5)
                snprintf(L.labels[c], sizeof L.labels[c], "channel %d sum [photons]", c + 1);
            else if (c == 5)
                snprintf(L.labels[c], sizeof L.labels[c], "total intensity [photons]");
            else
                snprintf(L.labels[c], sizeof L.labels[c], "max-pixel %s [pixel]",
                         c == 6 ? "row" : "column");
        }
        float *col = malloc((size_t)sp.na * sizeof *col), *colw = malloc((size_t)sp.na * sizeof *colw);
        if (!rc && (!col || !colw))
            rc = gs_error(GS_ERR_NOMEM, "out of memory");
        panel_data pd[NOBS];
        mt_plot_panel pn[NOBS];
        int made = 0;
        const uint8_t *nomask[3] = {NULL, NULL, NULL};
        for (int c = 0; !rc && c < NOBS; c++) {
            char t[96];
            snprintf(t, sizeof t, "%s", L.labels[c]);
            char *br = strchr(t, '[');
            if (br && br > t)
                br[-1] = '\0';
            rc = panel_fill(&pd[c], smp, nomask, &L, c, col, colw, t, &mg[c], &mf[c]);
            pn[c] = pd[c].pn;
            made = c + 1;
        }
        if (!rc)
            rc = mt_plot_hist_panels(pl, "channels", "ZDC channel sums and total intensity "
                                                    "(photons): real A vs generated, real B",
                                     LEGEND, 3, 6, pn);
        if (!rc)
            rc = mt_plot_hist_panels(pl, "max_pixel", "position of the brightest pixel", LEGEND,
                                     2, 2, pn + 6);
        for (int c = 0; c < made; c++)
            free(pd[c].buf);
        free(col);
        free(colw);
    }
    srows rows = {0};
    if (!rc) {
        rc = add_ratio_row(&rows, "channel-sum W1, mean of the 5 channels [photons]",
                           "channels.mean_w1", wg.ch_mean_w1, wf.ch_mean_w1,
                           "the ALICE ZDC headline number");
        double klg = 0, klf = 0;
        for (int c = 0; c < NOBS; c++) {
            klg += mg[c].kl / NOBS;
            klf += mf[c].kl / NOBS;
        }
        if (!rc)
            rc = add_ratio_row(&rows, "mean KL over the 8 observables", "mean_kl", klg, klf,
                               "channel sums, intensity, max-pixel row/column");
        int64_t kk = argmax_ks(mg, NOBS), kf = argmax_ks(mf, NOBS);
        char lab[128], note[160];
        snprintf(lab, sizeof lab, "largest KS (%s)", OBS_NAME[kk]);
        snprintf(note, sizeof note, "p = %.3g (floor p = %.3g)", mg[kk].ks_p, mf[kf].ks_p);
        if (!rc)
            rc = add_ratio_row(&rows, lab, "max_ks", mg[kk].ks, mf[kf].ks, note);
        if (!rc)
            rc = add_ratio_row(&rows, "total-intensity W1 [photons]", "intensity.w1",
                               wg.intensity_w1, wf.intensity_w1, NULL);
        if (!rc)
            rc = add_ratio_row(&rows, "max-pixel row W1 [pixels]", "max_pixel.w1_row",
                               wg.max_row_w1, wf.max_row_w1, NULL);
        if (!rc)
            rc = add_ratio_row(&rows, "max-pixel column W1 [pixels]", "max_pixel.w1_col",
                               wg.max_col_w1, wf.max_col_w1, NULL);
        if (!rc && sc.n) {
            snprintf(note, sizeof note, "%lld pairs; images of >= %g photons (%lld / %lld "
                     "pairs, floor)", (long long)sc.n, SAME_COND_MIN_PHOTONS,
                     (long long)sc.gen.n_showers, (long long)sc.floor.n_showers);
            rc = add_ratio_row(&rows, "same conditions: centroid distance [px], median", "same_condition.centroid_dist",
                               sc.gen.centroid_dist, sc.floor.centroid_dist, note);
        }
        if (!rc && sc.n)
            rc = add_ratio_row(&rows, "same conditions: shower vs none, fraction",
                               "same_condition.empty_mismatch", sc.gen.empty_mismatch,
                               sc.floor.empty_mismatch, "one image of the pair empty");
        if (!rc && sc.n)
            rc = add_ratio_row(&rows, "same conditions: |ln intensity ratio|, median",
                               "same_condition.log_intensity", sc.gen.log_intensity,
                               sc.floor.log_intensity, "ln((1 + S) / (1 + S'))");
        if (!rc)
            rc = add_cls_row(&rows, &cls);
    }
    char *jb = NULL, *sb = NULL, *hb = NULL;
    size_t jl = 0, sl = 0, hl = 0;
    FILE *js = rc ? NULL : open_memstream(&jb, &jl);
    FILE *sm = rc ? NULL : open_memstream(&sb, &sl);
    FILE *ht = rc ? NULL : open_memstream(&hb, &hl);
    if (!rc && (!js || !sm || !ht))
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    if (!rc) {
        fprintf(js, "{\"kind\": \"images\", \"gansim_version\": \"%s\", ", GANSIM_VERSION);
        floor_json(js, &sp, ref->n, ref2 ? ref2->n : 0, gen->n, o.seed, aligned);
        fprintf(js, ",\n\"n_real\": %lld, \"n_gen\": %lld, \"n_real2\": %lld, ",
                (long long)sp.na, (long long)sp.m, (long long)sp.m);
        fprintf(js, "\"channel_map\": \"%s\", ",
                mt_zdc_map_name((mt_zdc_map)o.channel_map));
        fputs("\"channels\": {\"unit\": \"photons\", \"w1\": [", js);
        for (int k = 0; k < MT_ZDC_NCH; k++) {
            fputs(k ? ", " : "", js);
            json_num(js, wg.ch_w1[k]);
        }
        fputs("], \"w1_floor\": [", js);
        for (int k = 0; k < MT_ZDC_NCH; k++) {
            fputs(k ? ", " : "", js);
            json_num(js, wf.ch_w1[k]);
        }
        fputs("], \"w1_ratio\": [", js);
        for (int k = 0; k < MT_ZDC_NCH; k++) {
            fputs(k ? ", " : "", js);
            json_num(js, ratio_of(wg.ch_w1[k], wf.ch_w1[k]));
        }
        fputs("], ", js);
        json_triple(js, "mean_w1", wg.ch_mean_w1, wf.ch_mean_w1, 1);
        fputs("},\n\"intensity\": {", js);
        json_triple(js, "w1", wg.intensity_w1, wf.intensity_w1, 1);
        fputs("},\n\"max_pixel\": {", js);
        json_triple(js, "w1_row", wg.max_row_w1, wf.max_row_w1, 1);
        fputs(", ", js);
        json_triple(js, "w1_col", wg.max_col_w1, wf.max_col_w1, 1);
        fputs("},\n", js);
        same_cond_json(js, &sc);
        fputs(",\n\"observables\": {", js);
        for (int c = 0; c < NOBS; c++) {
            fprintf(js, "%s\n    \"%s\": ", c ? "," : "", OBS_NAME[c]);
            json_feature(js, c < 6 ? "photons" : "pixel", &mg[c], &mf[c]);
        }
        fputs("},\n", js);
        json_cls(js, &cls, &o.cls);
        fputs(",\n", js);
        json_rows(js, &rows);
        fputs("}\n", js);
        fprintf(sm, "images: real A %lld, generated %lld, real B %lld (floor: %s%s), %lldx%lld\n",
                (long long)sp.na, (long long)sp.m, (long long)sp.m,
                sp.split ? "the reference split in halves" : "the second reference",
                aligned ? "; generated rows of B's conditions" : "", (long long)ref->h,
                (long long)ref->w);
        text_rows(sm, &rows);
        fprintf(sm, "  channel W1 [photons, %s channel map]:",
                mt_zdc_map_name((mt_zdc_map)o.channel_map));
        for (int k = 0; k < MT_ZDC_NCH; k++)
            fprintf(sm, " %.5g (floor %.3g)", wg.ch_w1[k], wf.ch_w1[k]);
        fputc('\n', sm);
        html_floor(ht, &sp);
        html_rows(ht, &rows);
        layout L;
        memset(&L, 0, sizeof L);
        L.f = L.fe = NOBS;
        for (int c = 0; c < NOBS; c++) {
            snprintf(L.names[c], sizeof L.names[c], "%s", OBS_NAME[c]);
            snprintf(L.units[c], sizeof L.units[c], "%s", c < 6 ? "photons" : "pixel");
        }
        fputs("<h2>Details</h2>\n", ht);
        html_features(ht, "image observables", &L, mg, mf);
        count_verdicts(&rows, out);
    }
    if (js) {
        int r1 = close_stream(js, &jb);
        rc = rc ? rc : r1;
    }
    if (sm) {
        int r1 = close_stream(sm, &sb);
        rc = rc ? rc : r1;
    }
    if (ht) {
        int r1 = close_stream(ht, &hb);
        rc = rc ? rc : r1;
    }
    if (!rc) {
        out->json = jb;
        out->summary = sb;
        out->tables = hb;
    } else {
        free(jb);
        free(sb);
        free(hb);
    }
    free(rows.r);
    free(xa);
    free(xg);
    free(xb);
    free(ia);
    free(ig);
    free(ib);
    free(ta);
    free(tg);
    free(tb);
    split_free(&sp);
    return rc;
}

/* ---- the page ------------------------------------------------------------------- */
int md_eval_html(const md_eval_report *r, const md_eval_opts *o, const mt_plot *pl,
                 int with_plots, const char *plots_note, const char *train_table, char **html)
{
    if (!r || !r->tables || !html)
        return gs_error(GS_ERR_ARG, "eval: no report to write");
    char *buf = NULL;
    size_t len = 0;
    FILE *h = open_memstream(&buf, &len);
    if (!h)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<title>gansim-eval report</title>\n<style>\n"
          "body{font-family:sans-serif;margin:1.5em;max-width:1900px;color:#222}\n"
          "table{border-collapse:collapse;margin:0.6em 0 1.4em 0}\n"
          "th,td{border:1px solid #bbb;padding:3px 8px;text-align:right;vertical-align:top}\n"
          "th{background:#eee}td:first-child{text-align:left}\n"
          "caption{text-align:left;font-weight:bold;padding:4px 0}\n"
          "tr.good td{background:#dff0d8}tr.marginal td{background:#fcf3cf}"
          "tr.bad td{background:#f5c6cb}\n"
          "code{font-size:85%;color:#555}\n"
          "figure{display:inline-block;margin:0.5em;vertical-align:top}"
          "figure img{max-width:100%;border:1px solid #ccc}\n"
          "figcaption{font-size:90%;color:#444}\n.legend span{padding:2px 8px;margin-right:6px}\n"
          "</style>\n</head>\n<body>\n<h1>gansim-eval report</h1>\n<p>",
          h);
    fputs("Reference (real): <code>", h);
    html_esc(h, o && o->real_name ? o->real_name : "?");
    fputs("</code><br>Generated: <code>", h);
    html_esc(h, o && o->gen_name ? o->gen_name : "?");
    fputs("</code>", h);
    if (o && o->ref2_name) {
        fputs("<br>Second reference: <code>", h);
        html_esc(h, o->ref2_name);
        fputs("</code>", h);
    }
    fprintf(h, "<br>gansim %s, seed %llu. All numbers are in <code>metrics.json</code> beside "
               "this page; docs/metrics.md of gansim defines every key.</p>\n",
            GANSIM_VERSION, (unsigned long long)(o ? o->seed : 1));
    fprintf(h, "<p class=\"legend\">Verdicts: <span style=\"background:#dff0d8\">good</span> "
               "ratio to the floor &le; %g, AUC &le; %g (or within 3&sigma; of its floor), "
               "|pull| &le; %g; <span style=\"background:#fcf3cf\">marginal</span> ratio &le; "
               "%g, AUC &le; %g, |pull| &le; %g; <span style=\"background:#f5c6cb\">bad</span> "
               "beyond. Summary: %d bad, %d marginal.</p>\n",
            RATIO_GOOD, AUC_GOOD, PULL_GOOD, RATIO_MARGINAL, AUC_MARGINAL, PULL_MARGINAL,
            r->n_bad, r->n_marginal);
    fputs(r->tables, h);
    if (train_table && *train_table) {
        fputs("<h2>Training: quality per sub-model (from the training log)</h2>\n<pre>", h);
        html_esc(h, train_table);
        fputs("</pre>\n", h);
    }
    fputs("<h2>Plots</h2>\n", h);
    if (plots_note && *plots_note) {
        fputs("<p>", h);
        html_esc(h, plots_note);
        fputs("</p>\n", h);
    }
    for (int64_t i = 0; with_plots && pl && i < mt_plot_count(pl); i++) {
        const char *path = mt_plot_png(pl, i, 0), *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        fputs("<figure><a href=\"", h);
        html_esc(h, base);
        fputs("\"><img src=\"", h);
        html_esc(h, base);
        fputs("\" alt=\"", h);
        html_esc(h, mt_plot_caption(pl, i));
        fputs("\"></a><figcaption>", h);
        html_esc(h, base);
        fputs(": ", h);
        html_esc(h, mt_plot_caption(pl, i));
        fputs("</figcaption></figure>\n", h);
    }
    fputs("</body>\n</html>\n", h);
    int rc = close_stream(h, &buf);
    if (rc) {
        free(buf);
        return rc;
    }
    *html = buf;
    return GS_OK;
}

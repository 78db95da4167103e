/* mt_plot — gnuplot scripts and data files for evaluation plots (see mt_plot.h).
 *
 * Layout is done in pixels and converted to screen fractions ("set lmargin at
 * screen"), so the ratio panel lines up with its histogram whatever the tick
 * labels' widths, and a label never runs off the canvas. The terminal is
 * enhanced (tick labels 10^{k}); every user-given string is emitted with
 * gnuplot's `noenhanced` so underscores in names stay underscores. */
#include "metrics/mt_plot.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 4096

struct mt_plot {
    char *dir;
    char *script;     /* script text so far (open_memstream buffer) */
    size_t script_len;
    FILE *gp;         /* writes into script */
    char **png_tmp, **png_final, **caption;
    int64_t npng, cap;
};

/* line colours: real A, generated, real B, then sub-model colours */
#define C_REF "#1f77b4"
#define C_GEN "#d62728"
#define C_REF2 "#7f7f7f"
static const char *const SERIES_COLOURS[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                             "#9467bd", "#8c564b", "#e377c2", "#17becf",
                                             "#bcbd22", "#7f7f7f", "#393b79", "#ad494a"};
#define N_COLOURS ((int)(sizeof SERIES_COLOURS / sizeof SERIES_COLOURS[0]))

int mt_plot_open(mt_plot **out, const char *dir)
{
    *out = NULL;
    if (!dir || !*dir)
        return gs_error(GS_ERR_ARG, "plot: no output directory");
    mt_plot *p = calloc(1, sizeof *p);
    if (!p || !(p->dir = strdup(dir)) || !(p->gp = open_memstream(&p->script, &p->script_len))) {
        if (p)
            free(p->dir);
        free(p);
        return gs_error(GS_ERR_NOMEM, "plot: out of memory");
    }
    fprintf(p->gp, "# gansim evaluation plots; run: gnuplot THIS_FILE\n");
    *out = p;
    return GS_OK;
}

void mt_plot_free(mt_plot *p)
{
    if (!p)
        return;
    if (p->gp)
        fclose(p->gp);
    free(p->script);
    for (int64_t i = 0; i < p->npng; i++) {
        free(p->png_tmp[i]);
        free(p->png_final[i]);
        free(p->caption[i]);
    }
    free(p->png_tmp);
    free(p->png_final);
    free(p->caption);
    free(p->dir);
    free(p);
}

int64_t mt_plot_count(const mt_plot *p) { return p->npng; }

const char *mt_plot_png(const mt_plot *p, int64_t i, int tmp)
{
    if (i < 0 || i >= p->npng)
        return NULL;
    return tmp ? p->png_tmp[i] : p->png_final[i];
}

const char *mt_plot_caption(const mt_plot *p, int64_t i)
{
    if (i < 0 || i >= p->npng)
        return NULL;
    return p->caption[i];
}

/* DIR/NAME.EXT with NAME reduced to safe characters */
static int make_path(const mt_plot *p, const char *name, const char *ext, char *buf, size_t n)
{
    char safe[256];
    size_t k = 0;
    for (const char *c = name; *c && k + 1 < sizeof safe; c++)
        safe[k++] = (isalnum((unsigned char)*c) || *c == '_' || *c == '-' || *c == '.') ? *c : '_';
    safe[k] = '\0';
    int m = snprintf(buf, n, "%s/%s.%s", p->dir, safe, ext);
    if (m < 0 || (size_t)m >= n)
        return gs_error(GS_ERR_ARG, "plot: path for %s too long", name);
    return GS_OK;
}

/* a gnuplot single-quoted string: no escapes inside, '' is a quote */
static void put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
    }
    fputc('\'', f);
}

/* a single-quoted string that stays literal under enhanced text (tick
 * labels, which have no `noenhanced` switch of their own) */
static void put_enh(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        else if (strchr("_^{}@&~\\", *s))
            fputc('\\', f);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
    }
    fputc('\'', f);
}

/* a double-quoted string, lines kept: "\n" is a line break for gnuplot */
static void put_dquoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else if (*s != '\r')
            fputc(*s, f);
    }
    fputc('"', f);
}

/* registers NAME.png and starts its script section (reset, terminal, output) */
static int begin_png(mt_plot *p, const char *name, int width, int height, const char *caption)
{
    char fin[PATH_MAX_LEN], tmp[PATH_MAX_LEN];
    int rc = make_path(p, name, "png", fin, sizeof fin);
    if (!rc)
        rc = gs_tmp_path(tmp, sizeof tmp, fin);
    if (rc)
        return rc;
    if (p->npng == p->cap) {
        int64_t cap = p->cap ? 2 * p->cap : 16;
        char **a = realloc(p->png_tmp, (size_t)cap * sizeof *a);
        if (a)
            p->png_tmp = a;
        char **b = realloc(p->png_final, (size_t)cap * sizeof *b);
        if (b)
            p->png_final = b;
        char **c = realloc(p->caption, (size_t)cap * sizeof *c);
        if (c)
            p->caption = c;
        if (!a || !b || !c)
            return gs_error(GS_ERR_NOMEM, "plot: out of memory");
        p->cap = cap;
    }
    char *t = strdup(tmp), *f = strdup(fin), *c = strdup(caption ? caption : name);
    if (!t || !f || !c) {
        free(t);
        free(f);
        free(c);
        return gs_error(GS_ERR_NOMEM, "plot: out of memory");
    }
    p->png_tmp[p->npng] = t;
    p->png_final[p->npng] = f;
    p->caption[p->npng] = c;
    p->npng++;
    fprintf(p->gp, "\nreset\nset terminal pngcairo size %d,%d enhanced font ',10'\nset output ",
            width, height);
    put_quoted(p->gp, tmp);
    fputc('\n', p->gp);
    return GS_OK;
}

/* Opens NAME.dat's temporary file for writing; finish with end_dat. */
static int begin_dat(const mt_plot *p, const char *name, char *fin, char *tmp, FILE **f)
{
    int rc = make_path(p, name, "dat", fin, PATH_MAX_LEN);
    if (!rc)
        rc = gs_tmp_path(tmp, PATH_MAX_LEN, fin);
    if (rc)
        return rc;
    *f = fopen(tmp, "w");
    if (!*f)
        return gs_error(GS_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    return GS_OK;
}

static int end_dat(FILE *f, const char *fin, const char *tmp)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        gs_discard(tmp);
        return gs_error(GS_ERR_IO, "%s: write failed", fin);
    }
    return gs_commit(tmp, fin);
}

static void put_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, " %.9g", v);
    else
        fputs(" NaN", f);
}

/* plot margins of a box given in pixels (x0, y0 top-left; x1, y1
 * bottom-right) on a canvas of cw × ch */
static void set_box(FILE *g, double x0, double y0, double x1, double y1, int cw, int ch)
{
    fprintf(g, "set lmargin at screen %.5f\nset rmargin at screen %.5f\n"
               "set tmargin at screen %.5f\nset bmargin at screen %.5f\n",
            x0 / cw, x1 / cw, 1 - y0 / ch, 1 - y1 / ch);
}

/* tick labels 10^{k} at the integer positions of a log10-coordinate axis */
static void log10_tics(FILE *g, const char *axis, double lo, double hi)
{
    double a = ceil(lo - 1e-9), b = floor(hi + 1e-9);
    double step = b - a > 8 ? ceil((b - a) / 8) : 1;
    fprintf(g, "set %stics (", axis);
    int first = 1;
    for (double k = a; k <= b; k += step) {
        fprintf(g, "%s'10^{%d}' %g", first ? "" : ", ", (int)k, k);
        first = 0;
    }
    fprintf(g, ")\n");
}

/* ---- 1-D histograms ---------------------------------------------------- */
static double series_all(const mt_plot_series *s)
{
    return s->under + s->over + s->total;
}

static double bin_width(const mt_binning *b, int64_t k)
{
    /* log bins: density per decade, the natural reading on a log x axis */
    return b->scale == MT_SCALE_LOG ? log10(mt_bin_edge(b, k + 1)) - log10(mt_bin_edge(b, k))
                                    : mt_bin_edge(b, k + 1) - mt_bin_edge(b, k);
}

/* ratio a/b of two densities with counts ca, cb and Σw² sa, sb */
static void ratio_err(double da, double ca, double sa, double db, double cb, double sb, double *r,
                      double *e)
{
    if (!(db > 0)) {
        *r = *e = NAN;
        return;
    }
    *r = da / db;
    if (!(ca > 0)) {
        *e = NAN;
        return;
    }
    *e = *r * sqrt(sa / (ca * ca) + sb / (cb * cb));
}

static void flow_text(char *buf, size_t n, const char *what, const char *const legend[3],
                      const mt_plot_panel *pn, int upper)
{
    const mt_plot_series *s[3] = {&pn->ref, &pn->gen, &pn->ref2};
    size_t k = (size_t)snprintf(buf, n, "%s:", what);
    for (int i = 0; i < 3 && k < n; i++) {
        if (!s[i]->counts)
            continue;
        double all = series_all(s[i]);
        double v = all > 0 ? 100.0 * (upper ? s[i]->over : s[i]->under) / all : 0;
        k += (size_t)snprintf(buf + k, n - k, "%s %s %.3g %%", i ? "," : "", legend[i], v);
    }
}

/* writes one panel's data block (index k of the file) and returns the
 * density range of ref and gen */
static void hist_block(FILE *f, const mt_plot_panel *pn, double *lo, double *hi)
{
    const mt_binning *b = &pn->b;
    const double ar = series_all(&pn->ref), ag = series_all(&pn->gen);
    const double a2 = pn->ref2.counts ? series_all(&pn->ref2) : 0;
    fprintf(f, "# left_edge centre real_density gen_density gen_err gen/real err real2/real err"
               " real_err\n");
    for (int64_t i = 0; i <= b->nbins; i++) {
        /* the extra row at the upper edge repeats the last bin so "steps" draws it */
        int64_t k = i < b->nbins ? i : b->nbins - 1;
        double w = bin_width(b, k);
        double cr = pn->ref.counts[k], cg = pn->gen.counts[k];
        double sr = pn->ref.sumw2 ? pn->ref.sumw2[k] : cr, sg = pn->gen.sumw2 ? pn->gen.sumw2[k] : cg;
        double dr = ar > 0 ? cr / (ar * w) : 0, dg = ag > 0 ? cg / (ag * w) : 0;
        double er = ar > 0 ? sqrt(sr) / (ar * w) : 0, eg = ag > 0 ? sqrt(sg) / (ag * w) : 0;
        double rg, rge, r2 = NAN, r2e = NAN;
        ratio_err(dg, cg, sg, dr, cr, sr, &rg, &rge);
        if (pn->ref2.counts) {
            double c2 = pn->ref2.counts[k], s2 = pn->ref2.sumw2 ? pn->ref2.sumw2[k] : c2;
            double d2 = a2 > 0 ? c2 / (a2 * w) : 0;
            ratio_err(d2, c2, s2, dr, cr, sr, &r2, &r2e);
        }
        double centre = b->scale == MT_SCALE_LOG
                            ? sqrt(mt_bin_edge(b, k) * mt_bin_edge(b, k + 1))
                            : 0.5 * (mt_bin_edge(b, k) + mt_bin_edge(b, k + 1));
        if (i < b->nbins)
            for (int s = 0; s < 2; s++) {
                double d = s ? dg : dr;
                if (d > 0) {
                    *lo = fmin(*lo, d);
                    *hi = fmax(*hi, d);
                }
            }
        fprintf(f, "%.9g", mt_bin_edge(b, i));
        put_num(f, i < b->nbins ? centre : NAN);
        put_num(f, dr);
        put_num(f, dg);
        put_num(f, i < b->nbins ? eg : NAN);
        put_num(f, i < b->nbins ? rg : NAN);
        put_num(f, i < b->nbins ? rge : NAN);
        put_num(f, i < b->nbins ? r2 : NAN);
        put_num(f, i < b->nbins ? r2e : NAN);
        put_num(f, i < b->nbins ? er : NAN);
        fputc('\n', f);
    }
    fputs("\n\n", f);
}

/* pixel layout of one histogram cell */
enum { HP_W = 760, HP_H = 620, HP_L = 88, HP_R = 24, HP_T = 70, HP_B = 54, HP_RATIO = 140 };

int mt_plot_hist_panels(mt_plot *p, const char *name, const char *title,
                        const char *const legend[3], int ncols, int npanels,
                        const mt_plot_panel *panels)
{
    if (!p || !name || !legend || ncols < 1 || npanels < 1 || !panels)
        return gs_error(GS_ERR_ARG, "plot: histograms %s: bad arguments", name ? name : "?");
    for (int k = 0; k < npanels; k++)
        if (panels[k].b.nbins < 1 || !panels[k].ref.counts || !panels[k].gen.counts)
            return gs_error(GS_ERR_ARG, "plot: histograms %s: panel %d has no data", name, k);
    char fin[PATH_MAX_LEN], tmp[PATH_MAX_LEN];
    FILE *f;
    int rc = begin_dat(p, name, fin, tmp, &f);
    if (rc)
        return rc;
    double *lo = malloc((size_t)npanels * 2 * sizeof *lo);
    if (!lo) {
        fclose(f);
        gs_discard(tmp);
        return gs_error(GS_ERR_NOMEM, "plot: out of memory");
    }
    double *hi = lo + npanels;
    for (int k = 0; k < npanels; k++) {
        lo[k] = INFINITY;
        hi[k] = 0;
        hist_block(f, &panels[k], &lo[k], &hi[k]);
    }
    rc = end_dat(f, fin, tmp);
    if (ncols > npanels)
        ncols = npanels;
    const int nrows = (npanels + ncols - 1) / ncols;
    const int top = title && npanels > 1 ? 36 : 0; /* a grid gets one overall title */
    const int cw = ncols * HP_W, ch = nrows * HP_H + top;
    if (!rc)
        rc = begin_png(p, name, cw, ch, title ? title : panels[0].title);
    if (rc) {
        free(lo);
        return rc;
    }
    FILE *g = p->gp;
    fputs("set multiplot\n", g);
    if (top) {
        fputs("set label 100 ", g);
        put_quoted(g, title);
        fprintf(g, " noenhanced at screen 0.5, screen %.5f center font ',13'\n",
                1 - 20.0 / ch);
    }
    for (int k = 0; k < npanels; k++) {
        const mt_plot_panel *pn = &panels[k];
        const int logx = pn->b.scale == MT_SCALE_LOG;
        const int logy = hi[k] > 0 && hi[k] / lo[k] > MT_PLOT_LOGY_RANGE;
        const double x0 = (k % ncols) * HP_W, y0 = top + (k / ncols) * HP_H;
        const double ymain = y0 + HP_H - HP_B - HP_RATIO;
        set_box(g, x0 + HP_L, y0 + HP_T, x0 + HP_W - HP_R, ymain, cw, ch);
        fprintf(g, "set grid\nset xrange [%.9g:%.9g]\nset format x ''\nset mxtics default\n",
                pn->b.lo, pn->b.hi);
        fputs(logx ? "set logscale x\n" : "unset logscale x\n", g);
        char ttl[1024];
        snprintf(ttl, sizeof ttl, "%s%s%s", pn->title ? pn->title : name, pn->note ? "\n" : "",
                 pn->note ? pn->note : "");
        fputs("set title ", g);
        put_dquoted(g, ttl);
        fprintf(g, " noenhanced\nset ylabel '%s'\n",
                logx ? "density per decade" : "density");
        if (logy)
            fprintf(g, "set logscale y\nset format y '10^{%%T}'\nset yrange [%.6g:%.6g]\n",
                    lo[k] / 3, hi[k] * 30);
        else
            fprintf(g, "unset logscale y\nset format y '%%g'\nset yrange [0:%.6g]\n",
                    hi[k] > 0 ? hi[k] * 1.45 : 1.0);
        fputs("set key top right vertical opaque box lc rgb 'gray80' font ',10'\n", g);
        /* what falls outside the drawn range, said in words (top left, two
         * lines), never piled into the edge bins where it would look like a
         * physical spike */
        char buf[512];
        flow_text(buf, sizeof buf, "below range", legend, pn, 0);
        fputs("set label 1 ", g);
        put_quoted(g, buf);
        fputs(" noenhanced at graph 0.01, graph 0.955 left front font ',8'\n", g);
        flow_text(buf, sizeof buf, "above range", legend, pn, 1);
        fputs("set label 2 ", g);
        put_quoted(g, buf);
        fputs(" noenhanced at graph 0.01, graph 0.905 left front font ',8'\n", g);
        fputs("plot ", g);
        put_quoted(g, fin);
        fprintf(g, " index %d using 1:3 with steps lw 2 lc rgb '%s' title ", k, C_REF);
        put_quoted(g, legend[0]);
        fprintf(g, " noenhanced, '' index %d using 1:4 with steps lw 1.5 lc rgb '%s' notitle, "
                   "'' index %d using 2:4:5 with yerrorbars pt 7 ps 0.35 lc rgb '%s' title ",
                k, C_GEN, k, C_GEN);
        put_quoted(g, legend[1]);
        fputs(" noenhanced\nunset label 1\nunset label 2\nunset title\n", g);
        /* ratio panel */
        set_box(g, x0 + HP_L, ymain, x0 + HP_W - HP_R, y0 + HP_H - HP_B, cw, ch);
        fprintf(g, "unset logscale y\nset yrange [0:2]\nset ytics (0.5, 1, 1.5)\n"
                   "set format y '%%g'\nset format x '%s'\nset ylabel 'ratio to %s' noenhanced\n"
                   "set xlabel ",
                logx ? "10^{%T}" : "%g", legend[0]);
        put_quoted(g, pn->xlabel ? pn->xlabel : "");
        fputs(" noenhanced\nset key top left horizontal opaque box lc rgb 'gray80' font ',8'\nplot ",
              g);
        put_quoted(g, fin);
        fprintf(g, " index %d using 2:6:7 with yerrorbars pt 7 ps 0.35 lc rgb '%s' title ", k,
                C_GEN);
        char rl[256];
        snprintf(rl, sizeof rl, "%s / %s", legend[1], legend[0]);
        put_quoted(g, rl);
        fputs(" noenhanced", g);
        if (pn->ref2.counts) {
            fprintf(g, ", '' index %d using 2:8:9 with yerrorbars pt 6 ps 0.45 lc rgb '%s' title ",
                    k, C_REF2);
            snprintf(rl, sizeof rl, "%s / %s (floor)", legend[2], legend[0]);
            put_quoted(g, rl);
            fputs(" noenhanced", g);
        }
        fputs(", 1 with lines dt 2 lc rgb 'black' notitle\n"
              "unset xlabel\nset ytics autofreq\n",
              g);
    }
    fputs("unset multiplot\n", g);
    free(lo);
    return GS_OK;
}

/* ---- 2-D comparison ------------------------------------------------------ */
static double axis_coord(const mt_binning *b, int64_t i)
{
    /* cell centre in the drawn coordinate (log10 for log binnings) */
    if (b->scale == MT_SCALE_LOG)
        return 0.5 * (log10(mt_bin_edge(b, i)) + log10(mt_bin_edge(b, i + 1)));
    return 0.5 * (mt_bin_edge(b, i) + mt_bin_edge(b, i + 1));
}

/* a tick step of 1, 2 or 5 × 10^k giving at most about `most` ticks */
static double nice_step(double range, int most)
{
    double raw = range / most, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

static void axis_setup(FILE *g, const char *axis, const mt_binning *b)
{
    if (b->scale == MT_SCALE_LOG) {
        double lo = log10(b->lo), hi = log10(b->hi);
        fprintf(g, "set %srange [%.9g:%.9g]\n", axis, lo, hi);
        log10_tics(g, axis, lo, hi);
    } else {
        /* narrow panels: few ticks, so the labels never run into each other */
        fprintf(g, "set %srange [%.9g:%.9g]\nset %stics %.9g\nset format %s '%%g'\n", axis,
                b->lo, b->hi, axis, nice_step(b->hi - b->lo, 4), axis);
    }
}

static double hist_total(const double *c, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += c[i];
    return s;
}

/* pull of b against a in one cell: (b/B − a/A) / σ */
static double cell_pull(double ca, double sa, double ta, double cb, double sb, double tb)
{
    if (!(ca > 0) && !(cb > 0))
        return NAN;
    double var = sa / (ta * ta) + sb / (tb * tb);
    /* a cell empty on one side: its Poisson error is taken as one entry of
     * that sample's mean weight, so an empty cell is not infinitely sure */
    if (!(ca > 0))
        var += 1.0 / (ta * ta);
    if (!(cb > 0))
        var += 1.0 / (tb * tb);
    double pl = (cb / tb - ca / ta) / sqrt(var);
    return pl > 5 ? 5 : pl < -5 ? -5 : pl;
}

int mt_plot_hist2d_cmp(mt_plot *p, const char *name, const char *title, const char *note,
                       const char *xlabel, const char *ylabel, const mt_binning *bx,
                       const mt_binning *by, int equal_axes, const mt_plot_hist2 *ref,
                       const mt_plot_hist2 *gen, const mt_plot_hist2 *ref2,
                       const char *const legend[3])
{
    if (!p || !name || !bx || !by || !ref || !gen || !ref->counts || !gen->counts || !legend)
        return gs_error(GS_ERR_ARG, "plot: 2-D histogram %s: bad arguments", name ? name : "?");
    const size_t cells = (size_t)(bx->nbins * by->nbins);
    const int has2 = ref2 && ref2->counts;
    const double ta = hist_total(ref->counts, cells), tg = hist_total(gen->counts, cells);
    const double t2 = has2 ? hist_total(ref2->counts, cells) : 0;
    if (!(ta > 0) || !(tg > 0) || (has2 && !(t2 > 0)))
        return gs_error(GS_ERR_ARG, "plot: 2-D histogram %s: an empty sample", name);
    char fin[PATH_MAX_LEN], tmp[PATH_MAX_LEN];
    FILE *f;
    int rc = begin_dat(p, name, fin, tmp, &f);
    if (rc)
        return rc;
    fprintf(f, "# x y real_share gen_share pull(gen-real) pull(real2-real); blank line between "
               "x columns; log binnings in log10\n");
    double vmin = INFINITY, vmax = 0;
    for (int64_t ix = 0; ix < bx->nbins; ix++) {
        for (int64_t iy = 0; iy < by->nbins; iy++) {
            size_t c = (size_t)(ix * by->nbins + iy);
            double ca = ref->counts[c], cg = gen->counts[c];
            double sa = ref->sumw2 ? ref->sumw2[c] : ca, sg = gen->sumw2 ? gen->sumw2[c] : cg;
            double da = ca / ta, dg = cg / tg;
            for (int s = 0; s < 2; s++) {
                double d = s ? dg : da;
                if (d > 0) {
                    vmin = fmin(vmin, d);
                    vmax = fmax(vmax, d);
                }
            }
            fprintf(f, "%.9g %.9g", axis_coord(bx, ix), axis_coord(by, iy));
            put_num(f, da > 0 ? da : NAN);
            put_num(f, dg > 0 ? dg : NAN);
            put_num(f, cell_pull(ca, sa, ta, cg, sg, tg));
            if (has2) {
                double c2 = ref2->counts[c], s2 = ref2->sumw2 ? ref2->sumw2[c] : c2;
                put_num(f, cell_pull(ca, sa, ta, c2, s2, t2));
            } else {
                put_num(f, NAN);
            }
            fputc('\n', f);
        }
        fputc('\n', f);
    }
    rc = end_dat(f, fin, tmp);
    const int np = has2 ? 4 : 3, pw = 470, ph = 470, top = 64;
    const int cw = np * pw, chh = ph + top;
    if (!rc)
        rc = begin_png(p, name, cw, chh, title);
    if (rc)
        return rc;
    FILE *g = p->gp;
    fputs("set multiplot\nset label 100 ", g);
    char ttl[1024];
    snprintf(ttl, sizeof ttl, "%s%s%s", title ? title : name, note ? "\n" : "", note ? note : "");
    put_dquoted(g, ttl);
    fprintf(g, " noenhanced at screen 0.5, screen %.5f center font ',12'\n", 1 - 18.0 / chh);
    if (!(vmax > 0))
        vmin = 1e-6, vmax = 1;
    for (int k = 0; k < np; k++) {
        const double x0 = k * pw;
        /* room on the right of each panel for its colour bar */
        set_box(g, x0 + 78, top + 30, x0 + pw - 92, chh - 52, cw, chh);
        fputs(equal_axes ? "set size ratio -1\n" : "set size noratio\n", g);
        axis_setup(g, "x", bx);
        axis_setup(g, "y", by);
        fputs("set xlabel ", g);
        put_quoted(g, xlabel ? xlabel : "x");
        fputs(" noenhanced\nset ylabel ", g);
        put_quoted(g, ylabel ? ylabel : "y");
        fputs(" noenhanced\nset colorbox\nunset key\n", g);
        if (k < 2) {
            fprintf(g, "set palette rgbformulae 33,13,10\nset logscale cb\nset cbrange [%.6g:%.6g]\n"
                       "set format cb '10^{%%T}'\nset cblabel 'share of the sample per cell'\n",
                    vmin, vmax);
        } else {
            fputs("set palette defined (-5 '#2166ac', -2 '#92c5de', 0 '#f7f7f7', 2 '#f4a582', 5 "
                  "'#b2182b')\nunset logscale cb\nset cbrange [-5:5]\nset format cb '%g'\n"
                  "set cblabel 'pull (clipped at +-5)'\n",
                  g);
        }
        char pt[256];
        if (k < 2)
            snprintf(pt, sizeof pt, "%s", legend[k]);
        else if (k == 2)
            snprintf(pt, sizeof pt, "(%s - %s) / sigma", legend[1], legend[0]);
        else
            snprintf(pt, sizeof pt, "(%s - %s) / sigma: the floor", legend[2], legend[0]);
        fputs("set title ", g);
        put_quoted(g, pt);
        fputs(" noenhanced\nplot ", g);
        put_quoted(g, fin);
        fprintf(g, " using 1:2:%d with image\n", k < 2 ? 3 + k : 5 + (k - 2));
    }
    fputs("unset multiplot\n", g);
    return GS_OK;
}

/* ---- correlation matrices ------------------------------------------------------ */
int mt_plot_corr(mt_plot *p, const char *name, const char *title, const char *note,
                 const char *const *names, int64_t f, const double *ref, const double *gen,
                 const double *ref2, const char *const legend[3])
{
    if (!p || !name || !names || f < 1 || !ref || !gen || !legend)
        return gs_error(GS_ERR_ARG, "plot: correlation %s: bad arguments", name ? name : "?");
    char fin[PATH_MAX_LEN], tmp[PATH_MAX_LEN];
    FILE *fd;
    int rc = begin_dat(p, name, fin, tmp, &fd);
    if (rc)
        return rc;
    const int np = ref2 ? 3 : 2;
    double m = 0.05; /* the difference scale: at least ±0.05 so noise looks like noise */
    fprintf(fd, "# col row real gen-real real2-real\n");
    for (int64_t a = 0; a < f; a++) {
        for (int64_t b = 0; b < f; b++) {
            double d1 = gen[a * f + b] - ref[a * f + b];
            double d2 = ref2 ? ref2[a * f + b] - ref[a * f + b] : NAN;
            m = fmax(m, fabs(d1));
            if (ref2)
                m = fmax(m, fabs(d2));
            fprintf(fd, "%lld %lld", (long long)b, (long long)a);
            put_num(fd, ref[a * f + b]);
            put_num(fd, d1);
            put_num(fd, d2);
            fputc('\n', fd);
        }
        fputc('\n', fd);
    }
    rc = end_dat(fd, fin, tmp);
    const int pw = 90 + 48 * (int)(f < 6 ? 6 : f) + 110, ph = pw - 40, top = 64;
    const int cw = np * pw, chh = ph + top;
    if (!rc)
        rc = begin_png(p, name, cw, chh, title);
    if (rc)
        return rc;
    FILE *g = p->gp;
    fputs("set multiplot\nset label 100 ", g);
    char ttl[1024];
    snprintf(ttl, sizeof ttl, "%s%s%s", title ? title : name, note ? "\n" : "", note ? note : "");
    put_dquoted(g, ttl);
    fprintf(g, " noenhanced at screen 0.5, screen %.5f center font ',12'\n", 1 - 18.0 / chh);
    fprintf(g, "set xrange [-0.5:%lld.5]\nset yrange [%lld.5:-0.5]\nunset key\nset size ratio -1\n"
               "set tics scale 0\n",
            (long long)f - 1, (long long)f - 1);
    for (int axis = 0; axis < 2; axis++) {
        fprintf(g, "set %stics (", axis ? "y" : "x");
        for (int64_t i = 0; i < f; i++) {
            fputs(i ? ", " : "", g);
            put_enh(g, names[i]);
            fprintf(g, " %lld", (long long)i);
        }
        fprintf(g, ")%s\n", axis ? "" : " rotate by 45 right");
    }
    for (int k = 0; k < np; k++) {
        const double x0 = k * pw;
        set_box(g, x0 + 80, top + 30, x0 + pw - 100, chh - 60, cw, chh);
        char pt[256];
        if (k == 0) {
            snprintf(pt, sizeof pt, "%s", legend[0]);
            fputs("set palette defined (-1 '#2166ac', 0 '#f7f7f7', 1 '#b2182b')\n"
                  "set cbrange [-1:1]\n",
                  g);
        } else {
            snprintf(pt, sizeof pt, "%s - %s%s", legend[k == 1 ? 1 : 2], legend[0],
                     k == 2 ? " (floor)" : "");
            fprintf(g, "set palette defined (-1 '#2166ac', 0 '#f7f7f7', 1 '#b2182b')\n"
                       "set cbrange [%.4g:%.4g]\n",
                    -m, m);
        }
        fputs("set title ", g);
        put_quoted(g, pt);
        fputs(" noenhanced\nplot ", g);
        put_quoted(g, fin);
        fprintf(g, " using 1:2:%d with image, '' using 1:2:(sprintf('%%.%df', $%d)) with labels "
                   "font ',8'\n",
                3 + k, k ? 3 : 2, 3 + k);
    }
    fputs("unset multiplot\n", g);
    return GS_OK;
}

/* ---- images -------------------------------------------------------------------- */
int mt_plot_images(mt_plot *p, const char *name, const char *title, const char *unit,
                   const float *real, const float *gen, int64_t k, int64_t h, int64_t w)
{
    if (!p || !name || !real || !gen || k < 1 || h < 1 || w < 1)
        return gs_error(GS_ERR_ARG, "plot: image grid %s: bad arguments", name ? name : "?");
    char fin[PATH_MAX_LEN], tmp[PATH_MAX_LEN];
    FILE *f;
    int rc = begin_dat(p, name, fin, tmp, &f);
    if (rc)
        return rc;
    /* one matrix block per image (real 0..k-1, then generated), two blank
     * lines apart so gnuplot addresses them with "index" */
    double vmax = 0; /* one colour scale for all panels, so brightness compares */
    fprintf(f, "# %lld real then %lld generated %lldx%lld images, one matrix block each\n",
            (long long)k, (long long)k, (long long)h, (long long)w);
    for (int s = 0; s < 2; s++)
        for (int64_t i = 0; i < k; i++) {
            const float *img = (s ? gen : real) + i * h * w;
            for (int64_t r = 0; r < h; r++) {
                for (int64_t c = 0; c < w; c++) {
                    double v = isfinite(img[r * w + c]) ? img[r * w + c] : 0.0;
                    vmax = fmax(vmax, v);
                    fprintf(f, c ? " %.6g" : "%.6g", v);
                }
                fputc('\n', f);
            }
            fputs("\n\n", f);
        }
    rc = end_dat(f, fin, tmp);
    /* each image a box of the detector's aspect, tick labels around it, the
     * colour bar in a column of its own on the right */
    const double bw = 120, bh = bw * (double)h / (double)w;
    const int cellw = 170, cellh = (int)bh + 80, top = 40, cbar = 150;
    const int cw = (int)k * cellw + cbar + 20, chh = 2 * cellh + top;
    if (!rc)
        rc = begin_png(p, name, cw, chh, title);
    if (rc)
        return rc;
    FILE *g = p->gp;
    fputs("set multiplot\nset label 100 ", g);
    put_quoted(g, title ? title : name);
    fprintf(g, " noenhanced at screen 0.5, screen %.5f center font ',12'\n", 1 - 18.0 / chh);
    fprintf(g, "unset key\nset palette rgbformulae 33,13,10\nset cbrange [0:%.6g]\n"
               "set tics font ',7'\nset xtics 0,10 out nomirror\nset ytics 0,10 out nomirror\n"
               "set xlabel 'column' font ',8' offset 0,0.5\nset ylabel 'row' font ',8' offset 1.5,0\n",
            vmax > 0 ? log10(1 + vmax) : 1.0);
    /* reversed y range: row 0 on top, as the detector is drawn */
    fprintf(g, "set xrange [-0.5:%lld.5]\nset yrange [%lld.5:-0.5]\n", (long long)w - 1,
            (long long)h - 1);
    for (int s = 0; s < 2; s++)
        for (int64_t i = 0; i < k; i++) {
            const double x0 = (double)i * cellw + 40, y0 = top + s * cellh + 24;
            set_box(g, x0, y0, x0 + bw, y0 + bh, cw, chh);
            if (s == 1 && i == k - 1) {
                fprintf(g, "set colorbox user origin screen %.5f, screen %.5f size screen %.5f, "
                           "screen %.5f\nset cblabel ",
                        ((double)k * cellw + 50) / cw, 1 - (top + 2.0 * cellh - 60) / chh,
                        18.0 / cw, (2.0 * cellh - 120) / chh);
                char cl[160];
                snprintf(cl, sizeof cl, "log10(1 + %s)", unit && *unit ? unit : "pixel value");
                put_quoted(g, cl);
                fputs(" noenhanced\n", g);
            } else {
                fputs("unset colorbox\n", g);
            }
            fprintf(g, "set title '%s %lld'\nplot ", s ? "generated" : "real", (long long)i);
            put_quoted(g, fin);
            fprintf(g, " index %lld matrix using 1:2:(log10(1 + ($3 > 0 ? $3 : 0))) with image\n",
                    (long long)(s * k + i));
        }
    fputs("unset multiplot\n", g);
    return GS_OK;
}

/* ---- training log -------------------------------------------------------- */
#define MAX_KEYS 64
#define MAX_SUBS 32

typedef struct {
    char *keys[MAX_KEYS];
    int64_t nkeys;
    char *subs[MAX_SUBS];  /* sub-model names in order of appearance */
    int nsubs;
    /* per sub-model header: rows and planned steps (-1 unknown) */
    long long sub_rows[MAX_SUBS], sub_steps[MAX_SUBS];
    double *rows;  /* [nrows * (2 + MAX_KEYS)]: sub index, step, then one value per key */
    int64_t nrows, cap;
    int gansim_header; /* the first line is gansim-train's "# gansim VERSION KIND..." */
} trainlog;

#define TL_STRIDE (2 + MAX_KEYS)
/* series with fewer records are drawn with their points marked */
#define TL_FEW_RECORDS 30

static void trainlog_free(trainlog *t)
{
    for (int64_t i = 0; i < t->nkeys; i++)
        free(t->keys[i]);
    for (int i = 0; i < t->nsubs; i++)
        free(t->subs[i]);
    free(t->rows);
}

static int64_t key_index(trainlog *t, const char *k, size_t len)
{
    for (int64_t i = 0; i < t->nkeys; i++)
        if (strlen(t->keys[i]) == len && memcmp(t->keys[i], k, len) == 0)
            return i;
    if (t->nkeys == MAX_KEYS)
        return -1; /* more keys than we plot: ignore the rest */
    char *c = strndup(k, len);
    if (!c)
        return -2;
    t->keys[t->nkeys] = c;
    return t->nkeys++;
}

/* index of sub-model `name`, added when new; -1 when full, -2 out of memory */
static int sub_index(trainlog *t, const char *name)
{
    for (int i = 0; i < t->nsubs; i++)
        if (!strcmp(t->subs[i], name))
            return i;
    if (t->nsubs == MAX_SUBS)
        return -1;
    if (!(t->subs[t->nsubs] = strdup(name)))
        return -2;
    t->sub_rows[t->nsubs] = t->sub_steps[t->nsubs] = -1;
    return t->nsubs++;
}

/* "# sub=NAME rows=N proportion=P steps=S" */
static int parse_header(trainlog *t, char *line)
{
    char *save = NULL, *name = NULL;
    long long rows = -1, steps = -1;
    for (char *tok = strtok_r(line + 1, " \t\r\n", &save); tok;
         tok = strtok_r(NULL, " \t\r\n", &save)) {
        if (!strncmp(tok, "sub=", 4))
            name = tok + 4;
        else if (!strncmp(tok, "rows=", 5))
            rows = atoll(tok + 5);
        else if (!strncmp(tok, "steps=", 6))
            steps = atoll(tok + 6);
    }
    if (!name || !*name)
        return GS_OK;
    int s = sub_index(t, name);
    if (s == -2)
        return gs_error(GS_ERR_NOMEM, "training log: out of memory");
    if (s >= 0) {
        t->sub_rows[s] = rows;
        t->sub_steps[s] = steps;
    }
    return GS_OK;
}

/* one line; a record only when it has a numeric step= */
static int parse_line(trainlog *t, char *line)
{
    double vals[TL_STRIDE];
    for (int i = 0; i < TL_STRIDE; i++)
        vals[i] = NAN;
    vals[0] = 0;
    int has_step = 0;
    char *save = NULL;
    if (line[0] == '#') /* header comments: sub-model plans, never columns */
        return parse_header(t, line);
    for (char *tok = strtok_r(line, " \t\r\n", &save); tok;
         tok = strtok_r(NULL, " \t\r\n", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok)
            continue;
        size_t klen = (size_t)(eq - tok);
        if (klen == 3 && memcmp(tok, "sub", 3) == 0) {
            int s = sub_index(t, eq + 1);
            if (s == -2)
                return gs_error(GS_ERR_NOMEM, "training log: out of memory");
            if (s < 0)
                return GS_OK; /* more sub-models than we draw: skip */
            vals[0] = s;
            continue;
        }
        char *end;
        double v = strtod(eq + 1, &end);
        if (end == eq + 1 || *end != '\0')
            continue; /* not numeric: a label such as model=luxe */
        if (klen == 4 && memcmp(tok, "step", 4) == 0) {
            vals[1] = v;
            has_step = 1;
            continue;
        }
        int64_t k = key_index(t, tok, klen);
        if (k == -2)
            return gs_error(GS_ERR_NOMEM, "training log: out of memory");
        if (k >= 0)
            vals[2 + k] = v;
    }
    if (!has_step)
        return GS_OK;
    if (t->nsubs == 0 && sub_index(t, "") == -2) /* a log without sub-models: one model */
        return gs_error(GS_ERR_NOMEM, "training log: out of memory");
    if (t->nrows == t->cap) {
        int64_t cap = t->cap ? 2 * t->cap : 256;
        double *r = realloc(t->rows, (size_t)cap * TL_STRIDE * sizeof *r);
        if (!r)
            return gs_error(GS_ERR_NOMEM, "training log: out of memory");
        t->rows = r;
        t->cap = cap;
    }
    memcpy(t->rows + t->nrows * TL_STRIDE, vals, sizeof vals);
    t->nrows++;
    return GS_OK;
}

/* allow_empty: a gansim-train log without records yet (its header only) is
 * read as zero rows instead of an error */
static int trainlog_read_ex(const char *log_path, trainlog *t, int allow_empty)
{
    memset(t, 0, sizeof *t);
    FILE *in = fopen(log_path, "r");
    if (!in)
        return gs_error(GS_ERR_IO, "%s: cannot open: %s", log_path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int rc = GS_OK;
    for (int64_t ln = 0; !rc && getline(&line, &cap, in) >= 0; ln++) {
        if (ln == 0)
            t->gansim_header = !strncmp(line, "# gansim ", 9);
        rc = parse_line(t, line);
    }
    free(line);
    fclose(in);
    if (!rc && (t->nrows == 0 || t->nkeys == 0)) {
        if (!t->gansim_header)
            rc = gs_error(GS_ERR_FORMAT,
                          "%s: not a training log: no '# gansim' header line and no records "
                          "(lines with step=N and other key=value pairs; gansim-train writes "
                          "them to OUT/train.log)",
                          log_path);
        else if (!allow_empty)
            rc = gs_error(GS_ERR_FORMAT,
                          "%s: no evaluation records yet (gansim-train appends one at each "
                          "checkpoint, every train.ckpt_every steps, and when it stops)",
                          log_path);
        else
            t->nrows = 0; /* records without a numeric key count as none */
    }
    if (rc)
        trainlog_free(t);
    return rc;
}

static int trainlog_read(const char *log_path, trainlog *t)
{
    return trainlog_read_ex(log_path, t, 0);
}

int mt_trainlog_records(const char *log_path, int64_t *n_records)
{
    if (!log_path || !n_records)
        return gs_error(GS_ERR_ARG, "training log: bad arguments");
    *n_records = 0;
    trainlog t;
    int rc = trainlog_read_ex(log_path, &t, 1);
    if (rc)
        return rc;
    *n_records = t.nrows;
    trainlog_free(&t);
    return GS_OK;
}

static int64_t find_key(const trainlog *t, const char *k)
{
    for (int64_t i = 0; i < t->nkeys; i++)
        if (!strcmp(t->keys[i], k))
            return i;
    return -1;
}

/* per-feature detail keys: kl_<feature> (not kl_mean/kl_floor), w1_ch<k> */
static int is_detail(const char *k)
{
    return (!strncmp(k, "kl_", 3) && strcmp(k, "kl_mean") && strcmp(k, "kl_floor")) ||
           !strncmp(k, "w1_ch", 5);
}

static int is_bookkeeping(const char *k)
{
    return !strcmp(k, "sub_step") || !strcmp(k, "steps_per_s") || !strcmp(k, "elapsed_s") ||
           !strcmp(k, "step_rate") ||
           !strcmp(k, "kl_floor") || !strncmp(k, "best", 4);
}

/* a term logged as 0 throughout (a regulariser switched off, e.g. zdc's
 * loss_aux without the regressor) draws a flat line: no panel for it */
static int all_zero(const trainlog *t, int64_t k)
{
    for (int64_t r = 0; r < t->nrows; r++) {
        const double v = t->rows[r * TL_STRIDE + 2 + k];
        if (isfinite(v) && v != 0)
            return 0;
    }
    return 1;
}

int mt_plot_trainlog(mt_plot *p, const char *name, const char *log_path)
{
    if (!p || !name || !log_path)
        return gs_error(GS_ERR_ARG, "plot: training log: bad arguments");
    trainlog t;
    int rc = trainlog_read(log_path, &t);
    if (rc)
        return rc;
    const int with_subs = !(t.nsubs == 1 && t.subs[0][0] == '\0');
    const int64_t kx = find_key(&t, "sub_step"), kfloor = find_key(&t, "kl_floor");
    /* panels: one per plain key; detail keys share one panel (single model only) */
    int64_t panel_key[MT_PLOT_MAX_PANELS];
    int npanels = 0, detail_panel = -1;
    int skip_zero = 0; /* only while something else is left to draw */
    for (int64_t k = 0; k < t.nkeys && !skip_zero; k++)
        skip_zero = !is_bookkeeping(t.keys[k]) && !all_zero(&t, k);
    for (int64_t k = 0; k < t.nkeys && npanels < MT_PLOT_MAX_PANELS; k++) {
        if (is_bookkeeping(t.keys[k]) || (skip_zero && all_zero(&t, k)))
            continue;
        if (is_detail(t.keys[k])) {
            if (!with_subs && detail_panel < 0) {
                detail_panel = npanels;
                panel_key[npanels++] = -1;
            }
            continue;
        }
        panel_key[npanels++] = k;
    }
    char fin[PATH_MAX_LEN], tmp[PATH_MAX_LEN];
    FILE *f = NULL;
    if (!npanels)
        rc = gs_error(GS_ERR_FORMAT, "%s: no curve to draw", log_path);
    if (!rc)
        rc = begin_dat(p, name, fin, tmp, &f);
    if (!rc) {
        /* one block per sub-model: x (its own step), then every key */
        for (int s = 0; s < t.nsubs; s++) {
            fprintf(f, "# sub-model %s\n# x", t.subs[s][0] ? t.subs[s] : "(all)");
            for (int64_t k = 0; k < t.nkeys; k++)
                fprintf(f, " %s", t.keys[k]);
            fputc('\n', f);
            int any = 0;
            for (int64_t r = 0; r < t.nrows; r++) {
                const double *row = t.rows + r * TL_STRIDE;
                if ((int)row[0] != s)
                    continue;
                any = 1;
                fprintf(f, "%.9g", kx >= 0 && isfinite(row[2 + kx]) ? row[2 + kx] : row[1]);
                for (int64_t k = 0; k < t.nkeys; k++)
                    put_num(f, row[2 + k]);
                fputc('\n', f);
            }
            if (!any) /* a planned sub-model without records keeps its block */
                fputs("NaN\n", f);
            fputs("\n\n", f);
        }
        rc = end_dat(f, fin, tmp);
    }
    const int pw = 1000, ph = 300, top = 40;
    const int cw = pw, chh = npanels * ph + top;
    if (!rc)
        rc = begin_png(p, name, cw, chh,
                       with_subs ? "training curves per sub-model" : "training curves");
    if (!rc) {
        FILE *g = p->gp;
        fputs("set multiplot\nset label 100 ", g);
        put_quoted(g, with_subs ? "training curves per sub-model (from the training log)"
                                : "training curves (from the training log)");
        fprintf(g, " noenhanced at screen 0.5, screen %.5f center font ',12'\n", 1 - 18.0 / chh);
        fputs("set grid\nset key outside right top font ',8'\nset format y '%g'\n", g);
        /* margins inside the axes: points at the ends stay off the frame */
        fputs("set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05\n", g);
        /* A line needs two records: a short run (one evaluation per sub-model)
         * would draw empty panels. Few records get their points marked. */
        int64_t nrec[MAX_SUBS] = {0};
        for (int64_t r = 0; r < t.nrows; r++)
            nrec[(int)t.rows[r * TL_STRIDE]]++;
        for (int q = 0; q < npanels; q++) {
            const int64_t key = panel_key[q];
            const char *kn = key >= 0 ? t.keys[key] : "per-feature metrics";
            set_box(g, 80, top + q * ph + 34, pw - 200, top + (q + 1) * ph - 62, cw, chh);
            /* divergences span decades during training: log y when all positive */
            int logy = key >= 0 && (strstr(kn, "kl") || strstr(kn, "w1"));
            for (int64_t r = 0; logy && r < t.nrows; r++) {
                double v = t.rows[r * TL_STRIDE + 2 + key];
                if (isfinite(v) && !(v > 0))
                    logy = 0;
            }
            fprintf(g, logy ? "set logscale y\nset format y '10^{%%T}'\n"
                            : "unset logscale y\nset format y '%%g'\n");
            fputs("set title ", g);
            put_quoted(g, kn);
            fputs(" noenhanced\nset ylabel ", g);
            put_quoted(g, kn);
            fputs(" noenhanced\nset xlabel ", g);
            put_quoted(g, with_subs && kx >= 0 ? "step of the sub-model" : "step");
            fputs("\nplot ", g);
            int first = 1;
            for (int s = 0; s < t.nsubs; s++) {
                const char *col = SERIES_COLOURS[s % N_COLOURS];
                const char *style = nrec[s] < TL_FEW_RECORDS ? "linespoints pt 7 ps 0.6" : "lines";
                if (key < 0) {
                    /* detail panel: one line per per-feature key */
                    for (int64_t k = 0, c = 0; k < t.nkeys; k++) {
                        if (!is_detail(t.keys[k]))
                            continue;
                        fputs(first ? "" : ", ", g);
                        first = 0;
                        put_quoted(g, fin);
                        fprintf(g, " index %d using 1:%lld with %s lw 1.5 lc rgb '%s' title ",
                                s, (long long)k + 2, style, SERIES_COLOURS[c++ % N_COLOURS]);
                        put_quoted(g, t.keys[k]);
                        fputs(" noenhanced", g);
                    }
                    continue;
                }
                fputs(first ? "" : ", ", g);
                first = 0;
                put_quoted(g, fin);
                fprintf(g, " index %d using 1:%lld with %s lw 1.5 lc rgb '%s' title ", s,
                        (long long)key + 2, style, col);
                put_quoted(g, with_subs ? t.subs[s] : kn);
                fputs(" noenhanced", g);
                if (!strcmp(kn, "kl_mean") && kfloor >= 0)
                    fprintf(g, ", '' index %d using 1:%lld with %s dt 2 lw 1 lc rgb '%s' "
                               "notitle",
                            s, (long long)kfloor + 2,
                            nrec[s] < TL_FEW_RECORDS ? "linespoints pt 6 ps 0.6" : "lines", col);
            }
            if (key >= 0 && !strcmp(kn, "kl_mean") && kfloor >= 0)
                fputs(", NaN with lines dt 2 lc rgb 'black' title 'dashed: real-vs-real floor'", g);
            fputc('\n', g);
        }
        fputs("unset multiplot\n", g);
    }
    trainlog_free(&t);
    return rc;
}

/* ---- training summary ----------------------------------------------------------- */
int mt_trainlog_summary(const char *log_path, char **text)
{
    if (!log_path || !text)
        return gs_error(GS_ERR_ARG, "training summary: bad arguments");
    *text = NULL;
    trainlog t;
    int rc = trainlog_read(log_path, &t);
    if (rc)
        return rc;
    const int with_subs = !(t.nsubs == 1 && t.subs[0][0] == '\0');
    int64_t kv = find_key(&t, "kl_mean");
    const char *vname = "KL";
    if (kv < 0) {
        kv = find_key(&t, "w1_mean");
        vname = "W1";
    }
    const int64_t kx = find_key(&t, "sub_step"), kf = find_key(&t, "kl_floor");
    if (kv < 0) {
        trainlog_free(&t);
        return gs_error(GS_ERR_FORMAT, "%s: no kl_mean or w1_mean records", log_path);
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&buf, &len);
    if (!o) {
        trainlog_free(&t);
        return gs_error(GS_ERR_NOMEM, "training summary: out of memory");
    }
    fprintf(o, "%-14s %9s %13s %11s %11s %8s %11s %10s\n", with_subs ? "sub-model" : "model",
            "rows", "steps", vname, "best", "at step", "floor", "best/floor");
    for (int s = 0; s < t.nsubs; s++) {
        double last = NAN, best = NAN, best_x = NAN, floor_v = NAN, last_x = NAN;
        for (int64_t r = 0; r < t.nrows; r++) {
            const double *row = t.rows + r * TL_STRIDE;
            if ((int)row[0] != s)
                continue;
            double x = kx >= 0 && isfinite(row[2 + kx]) ? row[2 + kx] : row[1];
            double v = row[2 + kv];
            if (isfinite(v)) {
                last = v;
                last_x = x;
                if (!(v >= best)) {
                    best = v;
                    best_x = x;
                }
            }
            if (kf >= 0 && isfinite(row[2 + kf]))
                floor_v = row[2 + kf];
        }
        char steps[32], rows[24], fl[24], ratio[24], at[24];
        if (t.sub_steps[s] >= 0)
            snprintf(steps, sizeof steps, "%.0f/%lld", isfinite(last_x) ? last_x : 0,
                     t.sub_steps[s]);
        else
            snprintf(steps, sizeof steps, "%.0f", isfinite(last_x) ? last_x : 0);
        snprintf(rows, sizeof rows, t.sub_rows[s] >= 0 ? "%lld" : "-", t.sub_rows[s]);
        snprintf(fl, sizeof fl, isfinite(floor_v) ? "%.4g" : "-", floor_v);
        snprintf(ratio, sizeof ratio, isfinite(floor_v) && floor_v > 0 ? "%.1f" : "-",
                 best / floor_v);
        snprintf(at, sizeof at, isfinite(best_x) ? "%.0f" : "-", best_x);
        fprintf(o, "%-14s %9s %13s %11.4g %11.4g %8s %11s %10s\n",
                with_subs ? t.subs[s] : "all", rows, steps, last, best, at, fl, ratio);
    }
    if (kf >= 0)
        fprintf(o, "floor: the same KL between the held-out rows and as many training rows "
                   "(real vs real);\nbest/floor near 1 means the generator is as close as a "
                   "second real sample.\n");
    trainlog_free(&t);
    if (fclose(o) != 0 || !buf) {
        free(buf);
        return gs_error(GS_ERR_NOMEM, "training summary: out of memory");
    }
    *text = buf;
    return GS_OK;
}

int mt_plot_write_script(mt_plot *p, const char *script_path)
{
    if (fflush(p->gp) != 0)
        return gs_error(GS_ERR_NOMEM, "plot: script buffer failed");
    char tmp[PATH_MAX_LEN];
    int rc = gs_tmp_path(tmp, sizeof tmp, script_path);
    if (rc)
        return rc;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return gs_error(GS_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    fwrite(p->script, 1, p->script_len, f);
    return end_dat(f, script_path, tmp);
}

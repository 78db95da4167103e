/* mt_plot — gnuplot scripts and data files for evaluation plots (see mt_plot.h). */
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
    char **png_tmp, **png_final;
    int64_t npng, cap;
};

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
    }
    free(p->png_tmp);
    free(p->png_final);
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

/* registers NAME.png and starts its script section (reset, terminal, output) */
static int begin_png(mt_plot *p, const char *name, int width, int height)
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
        if (!a || !b)
            return gs_error(GS_ERR_NOMEM, "plot: out of memory");
        p->cap = cap;
    }
    char *t = strdup(tmp), *f = strdup(fin);
    if (!t || !f) {
        free(t);
        free(f);
        return gs_error(GS_ERR_NOMEM, "plot: out of memory");
    }
    p->png_tmp[p->npng] = t;
    p->png_final[p->npng] = f;
    p->npng++;
    fprintf(p->gp, "\nreset\nset terminal pngcairo size %d,%d noenhanced font ',10'\nset output ",
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

int mt_plot_hist(mt_plot *p, const char *name, const char *title, const char *xlabel,
                 const mt_binning *b, const double *real, const double *gen)
{
    if (!p || !name || !b || !real || !gen || b->nbins < 1)
        return gs_error(GS_ERR_ARG, "plot: histogram %s: bad arguments", name ? name : "?");
    double sr = 0, sg = 0;
    for (int64_t i = 0; i < b->nbins; i++) {
        sr += real[i];
        sg += gen[i];
    }
    char fin[PATH_MAX_LEN], tmp[PATH_MAX_LEN];
    FILE *f;
    int rc = begin_dat(p, name, fin, tmp, &f);
    if (rc)
        return rc;
    fprintf(f, "# left_edge real_density gen_density gen/real\n");
    double lo = INFINITY, hi = 0;
    double dr = 0, dg = 0;
    for (int64_t i = 0; i <= b->nbins; i++) {
        /* the extra row at the upper edge repeats the last bin so "steps" draws it */
        int64_t k = i < b->nbins ? i : b->nbins - 1;
        /* log bins: density per decade, the natural reading on a log x axis */
        double width = b->scale == MT_SCALE_LOG
                           ? log10(mt_bin_edge(b, k + 1)) - log10(mt_bin_edge(b, k))
                           : mt_bin_edge(b, k + 1) - mt_bin_edge(b, k);
        dr = sr > 0 ? real[k] / (sr * width) : 0;
        dg = sg > 0 ? gen[k] / (sg * width) : 0;
        if (i < b->nbins)
            for (int s = 0; s < 2; s++) {
                double d = s ? dg : dr;
                if (d > 0) {
                    lo = fmin(lo, d);
                    hi = fmax(hi, d);
                }
            }
        fprintf(f, "%.9g", mt_bin_edge(b, i));
        put_num(f, dr);
        put_num(f, dg);
        put_num(f, dr > 0 ? dg / dr : NAN);
        fputc('\n', f);
    }
    rc = end_dat(f, fin, tmp);
    if (!rc)
        rc = begin_png(p, name, 800, 700);
    if (rc)
        return rc;
    FILE *g = p->gp;
    fprintf(g, "set multiplot\nset lmargin 12\nset rmargin 4\n");
    fprintf(g, "set origin 0,0.3\nset size 1,0.7\nset bmargin 0\nset tmargin 3\nset format x ''\n");
    fputs("set title ", g);
    put_quoted(g, title ? title : name);
    fprintf(g, "\nset ylabel '%s'\nset key top right\nset grid\n",
            b->scale == MT_SCALE_LOG ? "density per decade" : "density");
    if (b->scale == MT_SCALE_LOG)
        fprintf(g, "set logscale x\n");
    if (hi > 0 && hi / lo > MT_PLOT_LOGY_RANGE)
        fprintf(g, "set logscale y\n");
    fputs("plot ", g);
    put_quoted(g, fin);
    fputs(" using 1:2 with steps lw 2 lc rgb '#1f77b4' title 'real', '' using 1:3 with steps lw 2 "
          "lc rgb '#d62728' title 'generated'\n",
          g);
    fprintf(g, "set origin 0,0\nset size 1,0.3\nset tmargin 0\nset bmargin 4\nset format x '%%g'\n"
               "unset title\nunset logscale y\nset ylabel 'gen/real'\nset yrange [0:2]\n"
               "set ytics (0.5, 1, 1.5)\nunset key\nset xlabel ");
    put_quoted(g, xlabel ? xlabel : name);
    fputs("\nplot ", g);
    put_quoted(g, fin);
    fputs(" using 1:4 with steps lw 1.5 lc rgb 'black', 1 with lines dt 2 lc rgb 'gray'\n"
          "unset multiplot\nunset logscale x\nset autoscale y\nset ytics autofreq\nunset xlabel\n",
          g);
    return GS_OK;
}

int mt_plot_hist2d(mt_plot *p, const char *name, const char *title, const char *xlabel,
                   const char *ylabel, const mt_binning *bx, const mt_binning *by,
                   const double *real, const double *gen)
{
    if (!p || !name || !bx || !by || !real || !gen)
        return gs_error(GS_ERR_ARG, "plot: 2-D histogram %s: bad arguments", name ? name : "?");
    char fin[PATH_MAX_LEN], tmp[PATH_MAX_LEN];
    FILE *f;
    int rc = begin_dat(p, name, fin, tmp, &f);
    if (rc)
        return rc;
    fprintf(f, "# x_centre y_centre real_count gen_count (blank line between x columns)\n");
    for (int64_t ix = 0; ix < bx->nbins; ix++) {
        double xc = 0.5 * (mt_bin_edge(bx, ix) + mt_bin_edge(bx, ix + 1));
        for (int64_t iy = 0; iy < by->nbins; iy++) {
            double yc = 0.5 * (mt_bin_edge(by, iy) + mt_bin_edge(by, iy + 1));
            fprintf(f, "%.9g %.9g", xc, yc);
            put_num(f, real[ix * by->nbins + iy]);
            put_num(f, gen[ix * by->nbins + iy]);
            fputc('\n', f);
        }
        fputc('\n', f);
    }
    rc = end_dat(f, fin, tmp);
    if (!rc)
        rc = begin_png(p, name, 1200, 560);
    if (rc)
        return rc;
    FILE *g = p->gp;
    fputs("set multiplot layout 1,2 title ", g);
    put_quoted(g, title ? title : name);
    fprintf(g, "\nset logscale cb\nset cblabel 'entries'\n"
               "set size ratio -1\nset palette rgbformulae 33,13,10\n");
    fprintf(g, "set xrange [%.9g:%.9g]\nset yrange [%.9g:%.9g]\nset xlabel ", bx->lo, bx->hi,
            by->lo, by->hi);
    put_quoted(g, xlabel ? xlabel : "x");
    fputs("\nset ylabel ", g);
    put_quoted(g, ylabel ? ylabel : "y");
    for (int s = 0; s < 2; s++) {
        fprintf(g, "\nset title '%s'\nplot ", s ? "generated" : "real");
        put_quoted(g, fin);
        fprintf(g, " using 1:2:($%d > 0 ? $%d : NaN) with image notitle", 3 + s, 3 + s);
    }
    fputs("\nunset multiplot\n", g);
    return GS_OK;
}

int mt_plot_images(mt_plot *p, const char *name, const char *title, const float *real,
                   const float *gen, int64_t k, int64_t h, int64_t w)
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
    int width = (int)(k * 160 + 80);
    if (!rc)
        rc = begin_png(p, name, width < 480 ? 480 : width, 640);
    if (rc)
        return rc;
    FILE *g = p->gp;
    fprintf(g, "set multiplot layout 2,%lld title ", (long long)k);
    put_quoted(g, title ? title : name);
    fprintf(g, "\nunset key\nunset colorbox\nunset xtics\nunset ytics\nset palette rgbformulae 33,13,10\n"
               "set size ratio -1\nset cbrange [0:%.6g]\n",
            vmax > 0 ? log10(1 + vmax) : 1.0);
    /* reversed y range: row 0 on top, as the detector is drawn */
    fprintf(g, "set xrange [-0.5:%lld.5]\nset yrange [%lld.5:-0.5]\n", (long long)w - 1,
            (long long)h - 1);
    for (int s = 0; s < 2; s++)
        for (int64_t i = 0; i < k; i++) {
            fprintf(g, "set title '%s %lld'\nplot ", s ? "gen" : "real", (long long)i);
            put_quoted(g, fin);
            fprintf(g, " index %lld matrix using 1:2:(log10(1 + ($3 > 0 ? $3 : 0))) with image\n",
                    (long long)(s * k + i));
        }
    fputs("unset multiplot\n", g);
    return GS_OK;
}

/* ---- training log -------------------------------------------------------- */
#define MAX_KEYS 64

typedef struct {
    char *keys[MAX_KEYS];
    int64_t nkeys;
    double *rows;  /* [nrows * (1 + MAX_KEYS)]: step, then one value per key (NaN = absent) */
    int64_t nrows, cap;
} trainlog;

static void trainlog_free(trainlog *t)
{
    for (int64_t i = 0; i < t->nkeys; i++)
        free(t->keys[i]);
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

/* one line; a record only when it has a numeric step= */
static int parse_line(trainlog *t, char *line)
{
    double vals[1 + MAX_KEYS];
    for (int i = 0; i <= MAX_KEYS; i++)
        vals[i] = NAN;
    int has_step = 0;
    char *save = NULL;
    if (line[0] == '#') /* header comments may hold key=value notes: never columns */
        return GS_OK;
    for (char *tok = strtok_r(line, " \t\r\n", &save); tok;
         tok = strtok_r(NULL, " \t\r\n", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok)
            continue;
        char *end;
        double v = strtod(eq + 1, &end);
        if (end == eq + 1 || *end != '\0')
            continue; /* not numeric: a label such as model=luxe */
        size_t klen = (size_t)(eq - tok);
        if (klen == 4 && memcmp(tok, "step", 4) == 0) {
            vals[0] = v;
            has_step = 1;
            continue;
        }
        int64_t k = key_index(t, tok, klen);
        if (k == -2)
            return gs_error(GS_ERR_NOMEM, "training log: out of memory");
        if (k >= 0)
            vals[1 + k] = v;
    }
    if (!has_step)
        return GS_OK;
    if (t->nrows == t->cap) {
        int64_t cap = t->cap ? 2 * t->cap : 256;
        double *r = realloc(t->rows, (size_t)cap * (1 + MAX_KEYS) * sizeof *r);
        if (!r)
            return gs_error(GS_ERR_NOMEM, "training log: out of memory");
        t->rows = r;
        t->cap = cap;
    }
    memcpy(t->rows + t->nrows * (1 + MAX_KEYS), vals, sizeof vals);
    t->nrows++;
    return GS_OK;
}

static int panel_of(const char *key)
{
    if (strncmp(key, "loss", 4) == 0)
        return 0;
    if (strstr(key, "kl") || strstr(key, "KL"))
        return 1;
    return 2;
}

int mt_plot_trainlog(mt_plot *p, const char *name, const char *log_path)
{
    if (!p || !name || !log_path)
        return gs_error(GS_ERR_ARG, "plot: training log: bad arguments");
    FILE *in = fopen(log_path, "r");
    if (!in)
        return gs_error(GS_ERR_IO, "%s: cannot open: %s", log_path, strerror(errno));
    trainlog t = {0};
    char *line = NULL;
    size_t cap = 0;
    int rc = GS_OK;
    while (!rc && getline(&line, &cap, in) >= 0)
        rc = parse_line(&t, line);
    free(line);
    fclose(in);
    if (!rc && (t.nrows == 0 || t.nkeys == 0))
        rc = gs_error(GS_ERR_FORMAT, "%s: no records (lines with step=N and other key=value pairs)",
                      log_path);
    /* panels: losses, KL, then one per other key, capped */
    int panel[MAX_KEYS];
    int npanels = 0, has[2] = {0, 0};
    char fin[PATH_MAX_LEN], tmp[PATH_MAX_LEN];
    FILE *f = NULL;
    if (!rc) {
        for (int64_t k = 0; k < t.nkeys; k++) {
            int g = panel_of(t.keys[k]);
            if (g < 2)
                has[g] = 1;
        }
        int next = has[0] + has[1];
        for (int64_t k = 0; k < t.nkeys; k++) {
            int g = panel_of(t.keys[k]);
            if (g == 0)
                panel[k] = 0;
            else if (g == 1)
                panel[k] = has[0];
            else
                panel[k] = next < MT_PLOT_MAX_PANELS ? next++ : -1;
        }
        npanels = next;
        rc = begin_dat(p, name, fin, tmp, &f);
    }
    if (!rc) {
        fprintf(f, "# step");
        for (int64_t k = 0; k < t.nkeys; k++)
            fprintf(f, " %s", t.keys[k]);
        fputc('\n', f);
        for (int64_t r = 0; r < t.nrows; r++) {
            const double *row = t.rows + r * (1 + MAX_KEYS);
            fprintf(f, "%.9g", row[0]);
            for (int64_t k = 0; k < t.nkeys; k++)
                put_num(f, row[1 + k]);
            fputc('\n', f);
        }
        rc = end_dat(f, fin, tmp);
    }
    if (!rc)
        rc = begin_png(p, name, 900, 260 * npanels + 60);
    if (!rc) {
        FILE *g = p->gp;
        fprintf(g, "set multiplot layout %d,1 title 'training'\nset grid\nset key outside right\n"
                   "set xlabel 'step'\n",
                npanels);
        for (int q = 0; q < npanels; q++) {
            int first = 1;
            const char *ttl = NULL;
            for (int64_t k = 0; k < t.nkeys; k++)
                if (panel[k] == q && !ttl)
                    ttl = t.keys[k];
            fputs("set title ", g);
            put_quoted(g, q == 0 && has[0] ? "losses" : q == has[0] && has[1] ? "KL" : ttl);
            fputs("\nplot ", g);
            for (int64_t k = 0; k < t.nkeys; k++) {
                if (panel[k] != q)
                    continue;
                if (!first)
                    fputs(", ", g);
                first = 0;
                put_quoted(g, fin);
                fprintf(g, " using 1:%lld with lines lw 1.5 title ", (long long)k + 2);
                put_quoted(g, t.keys[k]);
            }
            fputc('\n', g);
        }
        fputs("unset multiplot\n", g);
    }
    trainlog_free(&t);
    return rc;
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

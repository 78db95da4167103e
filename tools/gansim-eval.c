/* gansim-eval — compare a generated file with the real one: metrics.json
 * (design.md §8), PNG plots via gnuplot, and a short summary.
 *
 * The metric definitions live in metrics/ (mt.h); this file reads the two
 * files, chooses the subsets (regions, species), emits JSON and drives
 * gnuplot. Exit codes: 0 ok, 1 runtime failure, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>

#include "core/gs_core.h"
#include "datasets/ds.h"
#include "metrics/mt.h"
#include "metrics/mt_plot.h"
#include "tools/tool_common.h"

extern char **environ;

static const char *PROG = "gansim-eval";

#define MAX_SPECIES 64   /* beyond this many distinct pdg codes, no species breakdown */
#define GRID_IMAGES 6    /* images per row in the sample grid */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gansim-eval --real A.h5 --gen B.h5 --out DIR [--json] [--log FILE] [--r0 MM]\n"
            "                   [--channel-map research|o2]\n"
            "\n"
            "Compares generated data with real data of the same kind (event table or\n"
            "image set) and writes DIR/metrics.json, PNG plots (when gnuplot is\n"
            "installed), their data files and DIR/plots.gp.\n"
            "\n"
            "  --real FILE   real (reference) HDF5 file\n"
            "  --gen FILE    generated HDF5 file, same kind and columns/size\n"
            "  --out DIR     output directory (created if missing)\n"
            "  --json        print the JSON on stdout instead of the summary\n"
            "  --log FILE    training log (key=value lines) to plot as loss.png\n"
            "  --r0 MM       inner/outer region radius for event tables (default 500)\n"
            "  --channel-map research|o2\n"
            "                ZDC channel map of image sets (docs/metrics.md): research\n"
            "                (default; (row+col) even = channel 5) or o2 (ALICE O2's\n"
            "                fast-simulation processor; (row+col) odd = channel 5)\n"
            "  --help        this text\n"
            "  --version     print the version\n"
            "\n"
            "Event tables: KL, JS, W1, KS per feature (100 bins on the real data's\n"
            "0.1-99.9%% range), overall and per region (r = sqrt(x^2+y^2) < R0 or not,\n"
            "when x and y columns exist) and per species (pdg). Image sets: W1 of the\n"
            "5 ZDC channel sums, of the total intensity and of the max-pixel row/col.\n"
            "Environment: GANSIM_GNUPLOT names the gnuplot program (default gnuplot).\n"
            "Exit status: 0 ok, 1 failure, 2 usage error.\n");
}

/* the ZDC channel map of image comparisons (--channel-map) */
static mt_zdc_map g_map = MT_ZDC_MAP_RESEARCH;

/* ---- JSON emitter: strings escaped, non-finite numbers as null ---------- */
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

/* ---- output directory ----------------------------------------------------- */
static int mkdir_p(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf)
        return gs_error(GS_ERR_ARG, "--out: bad directory name");
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return gs_error(GS_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
        buf[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return gs_error(GS_ERR_IO, "%s: not a directory", dir);
    return GS_OK;
}

/* ---- event tables ---------------------------------------------------------- */
typedef struct {
    const char *name;      /* "inner", "2112", ... */
    int64_t n_real, n_gen; /* selected rows */
    mt_feature_metrics *m; /* [f], NULL when a side is empty */
} subset;

static double mean_of(const mt_feature_metrics *m, int64_t f, int which)
{
    double s = 0;
    for (int64_t i = 0; i < f; i++)
        s += which ? m[i].w1 : m[i].kl;
    return s / (double)f;
}

/* {"n_real":…, "n_gen":…, "features":{…}, "mean_kl":…, "mean_w1":…}; the
 * shape is the same when a side is empty, with null metrics */
static void json_metric_set(FILE *f, const ds_events *ev, int64_t n_real, int64_t n_gen,
                            const mt_feature_metrics *m)
{
    fprintf(f, "{\"n_real\": %lld, \"n_gen\": %lld, \"features\": {", (long long)n_real,
            (long long)n_gen);
    for (int64_t c = 0; c < ev->f; c++) {
        fputs(c ? ", " : "", f);
        json_str(f, ev->columns[c]);
        fputs(": {\"kl\": ", f);
        json_num(f, m ? m[c].kl : NAN);
        fputs(", \"js\": ", f);
        json_num(f, m ? m[c].js : NAN);
        fputs(", \"w1\": ", f);
        json_num(f, m ? m[c].w1 : NAN);
        fputs(", \"ks\": ", f);
        json_num(f, m ? m[c].ks : NAN);
        fputs("}", f);
    }
    fputs("}, \"mean_kl\": ", f);
    json_num(f, m ? mean_of(m, ev->f, 0) : NAN);
    fputs(", \"mean_w1\": ", f);
    json_num(f, m ? mean_of(m, ev->f, 1) : NAN);
    fputs("}", f);
}

/* metrics on the rows the masks select; s->m stays NULL when a side has none */
static int eval_subset(const ds_events *re, const ds_events *ge, const uint8_t *rmask,
                       const uint8_t *gmask, subset *s)
{
    s->n_real = s->n_gen = 0;
    for (int64_t i = 0; i < re->n; i++)
        s->n_real += rmask[i];
    for (int64_t i = 0; i < ge->n; i++)
        s->n_gen += gmask[i];
    s->m = NULL;
    if (s->n_real == 0 || s->n_gen == 0)
        return GS_OK;
    s->m = calloc((size_t)re->f, sizeof *s->m);
    if (!s->m)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    int rc = mt_compare_table(re->x, re->weights, rmask, re->n, ge->x, ge->weights, gmask,
                              ge->n, re->f, NULL, s->m);
    if (rc)
        gs_error_wrap(rc, s->name);
    return rc;
}

/* Reorders the generated table's columns to the real one's order (by name). */
static int match_columns(const char *rpath, const ds_events *re, const char *gpath, ds_events *ge)
{
    if (re->f != ge->f)
        return gs_error(GS_ERR_FORMAT, "%s has %lld columns but %s has %lld", rpath,
                        (long long)re->f, gpath, (long long)ge->f);
    int64_t *map = malloc((size_t)re->f * sizeof *map);
    if (!map)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    int same = 1;
    for (int64_t c = 0; c < re->f; c++) {
        map[c] = ds_events_column(ge, re->columns[c]);
        if (map[c] < 0) {
            free(map);
            return gs_error(GS_ERR_FORMAT, "%s: no column '%s' (present in %s)", gpath,
                            re->columns[c], rpath);
        }
        same &= map[c] == c;
    }
    if (!same) {
        float *row = malloc((size_t)ge->f * sizeof *row);
        if (!row) {
            free(map);
            return gs_error(GS_ERR_NOMEM, "out of memory");
        }
        for (int64_t i = 0; i < ge->n; i++) {
            float *r = ge->x + i * ge->f;
            for (int64_t c = 0; c < ge->f; c++)
                row[c] = r[map[c]];
            memcpy(r, row, (size_t)ge->f * sizeof *row);
        }
        /* names follow the data: swap the pointers into the real order */
        char **names = malloc((size_t)ge->f * sizeof *names);
        if (names) {
            for (int64_t c = 0; c < ge->f; c++)
                names[c] = ge->columns[map[c]];
            memcpy(ge->columns, names, (size_t)ge->f * sizeof *names);
            free(names);
        }
        free(row);
    }
    free(map);
    return GS_OK;
}

/* histogram pair on the real sample's quantile binning (as the KL uses) */
static int plot_feature(mt_plot *pl, const char *name, const char *label, const float *a,
                        const float *aw, int64_t na, const float *b, const float *bw, int64_t nb)
{
    mt_compare_opts o = mt_compare_defaults();
    mt_binning bin;
    int rc = mt_binning_from_quantiles(&bin, a, na, o.nbins, o.qlo, o.qhi);
    /* positive features spanning decades (times, energies) read best on a
     * log axis: the same range, binned logarithmically */
    if (!rc && bin.lo > 0 && bin.hi / bin.lo > MT_PLOT_LOGX_RANGE)
        rc = mt_binning_log(&bin, bin.lo, bin.hi, o.nbins);
    double *ha = malloc((size_t)o.nbins * sizeof *ha), *hb = malloc((size_t)o.nbins * sizeof *hb);
    if (!rc && (!ha || !hb))
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = mt_hist1d(&bin, o.flow, a, aw, na, ha, NULL, NULL);
    if (!rc)
        rc = mt_hist1d(&bin, o.flow, b, bw, nb, hb, NULL, NULL);
    if (!rc)
        rc = mt_plot_hist(pl, name, label, label, &bin, ha, hb);
    free(ha);
    free(hb);
    return rc;
}

static float *column(const ds_events *ev, int64_t c)
{
    float *out = malloc((size_t)ev->n * sizeof *out);
    if (out)
        for (int64_t i = 0; i < ev->n; i++)
            out[i] = ev->x[i * ev->f + c];
    return out;
}

static int plot_events(mt_plot *pl, const ds_events *re, const ds_events *ge)
{
    int rc = GS_OK;
    for (int64_t c = 0; !rc && c < re->f; c++) {
        float *a = column(re, c), *b = column(ge, c);
        char name[300];
        snprintf(name, sizeof name, "hist_%s", re->columns[c]);
        rc = (!a || !b) ? gs_error(GS_ERR_NOMEM, "out of memory")
                        : plot_feature(pl, name, re->columns[c], a, re->weights, re->n, b,
                                       ge->weights, ge->n);
        free(a);
        free(b);
    }
    int64_t cx = ds_events_column(re, "x"), cy = ds_events_column(re, "y");
    if (rc || cx < 0 || cy < 0)
        return rc;
    float *rx = column(re, cx), *ry = column(re, cy), *gx = column(ge, cx), *gy = column(ge, cy);
    double *hr = malloc(100 * 100 * sizeof *hr), *hg = malloc(100 * 100 * sizeof *hg);
    mt_binning bx, by;
    if (!rx || !ry || !gx || !gy || !hr || !hg)
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = mt_binning_from_quantiles(&bx, rx, re->n, 100, 0.001, 0.999);
    if (!rc)
        rc = mt_binning_from_quantiles(&by, ry, re->n, 100, 0.001, 0.999);
    if (!rc)
        rc = mt_hist2d(&bx, &by, MT_FLOW_DROP, rx, ry, re->weights, re->n, hr, NULL);
    if (!rc)
        rc = mt_hist2d(&bx, &by, MT_FLOW_DROP, gx, gy, ge->weights, ge->n, hg, NULL);
    if (!rc)
        rc = mt_plot_hist2d(pl, "xy", "x-y occupancy (real | generated)", "x", "y", &bx, &by,
                            hr, hg);
    free(rx);
    free(ry);
    free(gx);
    free(gy);
    free(hr);
    free(hg);
    return rc;
}

typedef struct {
    int32_t code;
    int64_t n;
} species_count;

/* Both inputs, read and cross-checked before anything is created, so a bad
 * input file never leaves a partial report behind. */
typedef struct {
    ds_events re, ge;
    ds_images ri, gi;
} eval_inputs;

static int read_inputs(const char *rpath, const char *gpath, ds_kind kind, eval_inputs *in)
{
    memset(in, 0, sizeof *in);
    ds_read_opts ro = {0};
    int rc;
    if (kind == DS_KIND_EVENTS) {
        rc = ds_events_read(rpath, &ro, &in->re);
        if (!rc)
            rc = ds_events_read(gpath, &ro, &in->ge);
        if (!rc)
            rc = match_columns(rpath, &in->re, gpath, &in->ge);
    } else {
        rc = ds_images_read(rpath, &ro, &in->ri);
        if (!rc)
            rc = ds_images_read(gpath, &ro, &in->gi);
        if (!rc && (in->ri.h != in->gi.h || in->ri.w != in->gi.w))
            rc = gs_error(GS_ERR_FORMAT, "%s has %lldx%lld images but %s has %lldx%lld", rpath,
                          (long long)in->ri.h, (long long)in->ri.w, gpath, (long long)in->gi.h,
                          (long long)in->gi.w);
    }
    return rc;
}

static void free_inputs(eval_inputs *in)
{
    ds_events_free(&in->re);
    ds_events_free(&in->ge);
    ds_images_free(&in->ri);
    ds_images_free(&in->gi);
}

static int eval_events(const ds_events *rep, const ds_events *gep, double r0, FILE *js,
                       mt_plot *pl, int64_t *nr_out, int64_t *ng_out, char **summary_out)
{
    const ds_events re = *rep, ge = *gep; /* borrowed; freed by the caller */
    int rc = GS_OK;
    subset all = {.name = "all"}, reg[2] = {{.name = "inner"}, {.name = "outer"}};
    subset sp[MAX_SPECIES];
    species_count codes[MAX_SPECIES];
    char sp_names[MAX_SPECIES][16];
    int nsp = 0, nsp_done = 0, do_species = 0, do_regions = 0;
    uint8_t *rm = NULL, *gm = NULL;
    if (!rc) {
        rm = malloc((size_t)re.n);
        gm = malloc((size_t)ge.n);
        if (!rm || !gm)
            rc = gs_error(GS_ERR_NOMEM, "out of memory for %lld rows", (long long)(re.n + ge.n));
    }
    if (!rc) {
        memset(rm, 1, (size_t)re.n);
        memset(gm, 1, (size_t)ge.n);
        rc = eval_subset(&re, &ge, rm, gm, &all);
    }
    /* regions by radius when the tables have x and y */
    int64_t cx = rc ? -1 : ds_events_column(&re, "x"), cy = rc ? -1 : ds_events_column(&re, "y");
    if (!rc && cx >= 0 && cy >= 0) {
        do_regions = 1;
        for (int k = 0; !rc && k < 2; k++) {
            for (int s = 0; s < 2; s++) {
                const ds_events *ev = s ? &ge : &re;
                uint8_t *m = s ? gm : rm;
                for (int64_t i = 0; i < ev->n; i++) {
                    double x = ev->x[i * ev->f + cx], y = ev->x[i * ev->f + cy];
                    int inner = sqrt(x * x + y * y) < r0;
                    m[i] = (uint8_t)(k == 0 ? inner : !inner);
                }
            }
            rc = eval_subset(&re, &ge, rm, gm, &reg[k]);
        }
    }
    /* species by pdg when both files have it */
    if (!rc && re.pdg && ge.pdg) {
        do_species = 1;
        for (int s = 0; s < 2 && do_species; s++) {
            const ds_events *ev = s ? &ge : &re;
            for (int64_t i = 0; i < ev->n && do_species; i++) {
                int k = 0;
                while (k < nsp && codes[k].code != ev->pdg[i])
                    k++;
                if (k == nsp) {
                    if (nsp == MAX_SPECIES) {
                        gs_tool_err(PROG, "more than %d distinct pdg codes: no species breakdown",
                                    MAX_SPECIES);
                        do_species = 0;
                        break;
                    }
                    codes[nsp++] = (species_count){ev->pdg[i], 0};
                }
                codes[k].n += s == 0;
            }
        }
        for (int k = 0; !rc && do_species && k < nsp; k++) {
            for (int64_t i = 0; i < re.n; i++)
                rm[i] = re.pdg[i] == codes[k].code;
            for (int64_t i = 0; i < ge.n; i++)
                gm[i] = ge.pdg[i] == codes[k].code;
            snprintf(sp_names[k], sizeof sp_names[k], "%d", (int)codes[k].code);
            sp[k].name = sp_names[k];
            rc = eval_subset(&re, &ge, rm, gm, &sp[k]);
            nsp_done = k + 1;
        }
    }
    if (!rc) {
        fprintf(js, "{\"kind\": \"events\", \"n_real\": %lld, \"n_gen\": %lld, ",
                (long long)re.n, (long long)ge.n);
        /* the top-level object has the set's keys without its n_real/n_gen */
        fputs("\"features\": {", js);
        for (int64_t c = 0; c < re.f; c++) {
            fputs(c ? ", " : "", js);
            json_str(js, re.columns[c]);
            fputs(": {\"kl\": ", js);
            json_num(js, all.m[c].kl);
            fputs(", \"js\": ", js);
            json_num(js, all.m[c].js);
            fputs(", \"w1\": ", js);
            json_num(js, all.m[c].w1);
            fputs(", \"ks\": ", js);
            json_num(js, all.m[c].ks);
            fputs("}", js);
        }
        fputs("}, \"mean_kl\": ", js);
        json_num(js, mean_of(all.m, re.f, 0));
        fputs(", \"mean_w1\": ", js);
        json_num(js, mean_of(all.m, re.f, 1));
        if (do_regions) {
            fputs(", \"regions\": {\"inner\": ", js);
            json_metric_set(js, &re, reg[0].n_real, reg[0].n_gen, reg[0].m);
            fputs(", \"outer\": ", js);
            json_metric_set(js, &re, reg[1].n_real, reg[1].n_gen, reg[1].m);
            fputs("}", js);
        }
        if (do_species) {
            fputs(", \"species\": {", js);
            for (int k = 0; k < nsp; k++) {
                fputs(k ? ", " : "", js);
                json_str(js, sp[k].name);
                fputs(": ", js);
                json_metric_set(js, &re, sp[k].n_real, sp[k].n_gen, sp[k].m);
            }
            fputs("}", js);
        }
        fputs("}\n", js);
    }
    if (!rc)
        rc = plot_events(pl, &re, &ge);
    if (!rc) {
        /* human summary */
        char *buf = NULL;
        size_t len = 0;
        FILE *s = open_memstream(&buf, &len);
        if (s) {
            fprintf(s, "events: %lld real, %lld generated, %lld features\n", (long long)re.n,
                    (long long)ge.n, (long long)re.f);
            fprintf(s, "  %-12s %10s %10s %12s %8s\n", "feature", "KL", "JS", "W1", "KS");
            for (int64_t c = 0; c < re.f; c++)
                fprintf(s, "  %-12s %10.4g %10.4g %12.5g %8.4f\n", re.columns[c], all.m[c].kl,
                        all.m[c].js, all.m[c].w1, all.m[c].ks);
            fprintf(s, "  mean KL %.4g, mean W1 %.5g\n", mean_of(all.m, re.f, 0),
                    mean_of(all.m, re.f, 1));
            for (int k = 0; do_regions && k < 2; k++)
                fprintf(s, "  region %-6s (r %s %g): %lld real, %lld gen, mean KL %.4g\n",
                        reg[k].name, k ? ">=" : "<", r0, (long long)reg[k].n_real,
                        (long long)reg[k].n_gen, reg[k].m ? mean_of(reg[k].m, re.f, 0) : NAN);
            for (int k = 0; do_species && k < nsp; k++)
                fprintf(s, "  species %-6s: %lld real, %lld gen, mean KL %.4g\n", sp[k].name,
                        (long long)sp[k].n_real, (long long)sp[k].n_gen,
                        sp[k].m ? mean_of(sp[k].m, re.f, 0) : NAN);
            fclose(s);
            *summary_out = buf;
        }
    }
    *nr_out = re.n;
    *ng_out = ge.n;
    free(all.m);
    free(reg[0].m);
    free(reg[1].m);
    for (int k = 0; k < nsp_done; k++)
        free(sp[k].m);
    free(rm);
    free(gm);
    return rc;
}

/* ---- image sets -------------------------------------------------------------- */
static int cond_equal(const ds_images *a, int64_t i, const ds_images *b, int64_t j)
{
    return memcmp(a->cond + i * a->c, b->cond + j * b->c, (size_t)a->c * sizeof(float)) == 0;
}

static int plot_images(mt_plot *pl, const ds_images *ri, const ds_images *gi)
{
    int64_t k = GRID_IMAGES;
    if (k > ri->n)
        k = ri->n;
    if (k > gi->n)
        k = gi->n;
    size_t px = (size_t)(ri->h * ri->w);
    float *gsel = malloc((size_t)k * px * sizeof *gsel);
    if (!gsel)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    /* show generated images for the same conditions as the real ones when the
     * files have them; otherwise the first k of each */
    int matched = ri->cond && gi->cond && ri->c == gi->c && ri->c > 0;
    int64_t pick[GRID_IMAGES];
    for (int64_t i = 0; matched && i < k; i++) {
        pick[i] = -1;
        if (i < gi->n && cond_equal(ri, i, gi, i))
            pick[i] = i;
        for (int64_t j = 0; pick[i] < 0 && j < gi->n; j++)
            if (cond_equal(ri, i, gi, j))
                pick[i] = j;
        matched = pick[i] >= 0;
    }
    for (int64_t i = 0; i < k; i++)
        memcpy(gsel + i * px, gi->images + (size_t)(matched ? pick[i] : i) * px,
               px * sizeof *gsel);
    int rc = mt_plot_images(pl, "images",
                            matched ? "real (top) vs generated (bottom), same conditions"
                                    : "real (top) vs generated (bottom), conditions differ",
                            ri->images, gsel, k, ri->h, ri->w);
    free(gsel);
    if (rc)
        return rc;
    /* channel sums and total intensity overlays */
    double *fr = malloc((size_t)ri->n * 6 * sizeof *fr), *fg = malloc((size_t)gi->n * 6 * sizeof *fg);
    float *a = malloc((size_t)ri->n * sizeof *a), *b = malloc((size_t)gi->n * sizeof *b);
    if (!fr || !fg || !a || !b)
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = mt_zdc_features_map(g_map, ri->images, ri->n, ri->h, ri->w, fr, fr + ri->n * 5, NULL, NULL);
    if (!rc)
        rc = mt_zdc_features_map(g_map, gi->images, gi->n, gi->h, gi->w, fg, fg + gi->n * 5, NULL, NULL);
    for (int ch = 0; !rc && ch < 6; ch++) {
        for (int64_t i = 0; i < ri->n; i++)
            a[i] = (float)(ch < 5 ? fr[i * 5 + ch] : fr[ri->n * 5 + i]);
        for (int64_t i = 0; i < gi->n; i++)
            b[i] = (float)(ch < 5 ? fg[i * 5 + ch] : fg[gi->n * 5 + i]);
        char name[32], label[48];
        snprintf(name, sizeof name, ch < 5 ? "channel_%d" : "intensity", ch + 1);
        snprintf(label, sizeof label, ch < 5 ? "channel %d sum" : "total intensity", ch + 1);
        rc = plot_feature(pl, name, label, a, NULL, ri->n, b, NULL, gi->n);
    }
    free(fr);
    free(fg);
    free(a);
    free(b);
    return rc;
}

static int eval_images(const ds_images *rip, const ds_images *gip, FILE *js, mt_plot *pl,
                       int64_t *nr_out, int64_t *ng_out, char **summary_out)
{
    const ds_images ri = *rip, gi = *gip; /* borrowed; freed by the caller */
    int rc = GS_OK;
    mt_image_metrics m;
    if (!rc)
        rc = mt_compare_images_map(g_map, ri.images, ri.n, gi.images, gi.n, ri.h, ri.w, &m);
    if (!rc) {
        fprintf(js, "{\"kind\": \"images\", \"n_real\": %lld, \"n_gen\": %lld, ",
                (long long)ri.n, (long long)gi.n);
        fprintf(js, "\"channel_map\": \"%s\", ", mt_zdc_map_name(g_map));
        fputs("\"channels\": {\"w1\": [", js);
        for (int k = 0; k < MT_ZDC_NCH; k++) {
            fputs(k ? ", " : "", js);
            json_num(js, m.ch_w1[k]);
        }
        fputs("], \"mean_w1\": ", js);
        json_num(js, m.ch_mean_w1);
        fputs("}, \"intensity\": {\"w1\": ", js);
        json_num(js, m.intensity_w1);
        fputs("}, \"max_pixel\": {\"w1_row\": ", js);
        json_num(js, m.max_row_w1);
        fputs(", \"w1_col\": ", js);
        json_num(js, m.max_col_w1);
        fputs("}}\n", js);
        rc = plot_images(pl, &ri, &gi);
    }
    if (!rc) {
        char *buf = NULL;
        size_t len = 0;
        FILE *s = open_memstream(&buf, &len);
        if (s) {
            fprintf(s, "images: %lld real, %lld generated, %lldx%lld\n", (long long)ri.n,
                    (long long)gi.n, (long long)ri.h, (long long)ri.w);
            fprintf(s, "  channel W1 (%s map):", mt_zdc_map_name(g_map));
            for (int k = 0; k < MT_ZDC_NCH; k++)
                fprintf(s, " %.5g", m.ch_w1[k]);
            fprintf(s, "\n  mean channel W1 %.5g, intensity W1 %.5g, max-pixel W1 row %.4g col %.4g\n",
                    m.ch_mean_w1, m.intensity_w1, m.max_row_w1, m.max_col_w1);
            fclose(s);
            *summary_out = buf;
        }
    }
    *nr_out = ri.n;
    *ng_out = gi.n;
    return rc;
}

/* ---- gnuplot ------------------------------------------------------------------ */
/* 0 ran fine, 1 not installed, -1 failed (message set) */
static int run_gnuplot(const char *script, const char *dir)
{
    const char *prog = getenv("GANSIM_GNUPLOT");
    if (!prog || !*prog)
        prog = "gnuplot";
    char errlog[4200]; /* dir is < 4096 (mkdir_p), so the name is never cut */
    snprintf(errlog, sizeof errlog, "%s/.gnuplot.err.%ld", dir, (long)getpid());
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, errlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char *argv[] = {(char *)prog, (char *)script, NULL};
    pid_t pid;
    int e = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e != 0) {
        unlink(errlog);
        return 1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        unlink(errlog); /* glibc's posix_spawnp reports a missing program this way */
        return 1;
    }
    if (!ok) {
        /* the last line gnuplot printed says what went wrong */
        char line[512] = "", last[512] = "";
        FILE *f = fopen(errlog, "r");
        while (f && fgets(line, sizeof line, f))
            if (line[0] != '\n')
                snprintf(last, sizeof last, "%s", line);
        if (f)
            fclose(f);
        last[strcspn(last, "\n")] = '\0';
        gs_error(GS_ERR_IO, "%s %s failed: %s", prog, script, last[0] ? last : "no message");
    }
    unlink(errlog);
    return ok ? 0 : -1;
}

static int write_file_atomic(const char *path, const char *data, size_t len)
{
    char tmp[4200];
    int rc = gs_tmp_path(tmp, sizeof tmp, path);
    if (rc)
        return rc;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return gs_error(GS_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    size_t w = fwrite(data, 1, len, f);
    if (fclose(f) != 0 || w != len) {
        gs_discard(tmp);
        return gs_error(GS_ERR_IO, "%s: write failed", path);
    }
    return gs_commit(tmp, path);
}

int main(int argc, char **argv)
{
    const char *real = NULL, *gen = NULL, *out = NULL, *logp = NULL;
    int json = 0;
    double r0 = 500.0;
    static const struct option longopts[] = {
        {"real", required_argument, 0, 'r'}, {"gen", required_argument, 0, 'g'},
        {"out", required_argument, 0, 'o'},  {"json", no_argument, 0, 'j'},
        {"log", required_argument, 0, 'l'},  {"r0", required_argument, 0, 'R'},
        {"channel-map", required_argument, 0, 'M'},
        {"help", no_argument, 0, 'h'},       {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': real = optarg; break;
        case 'g': gen = optarg; break;
        case 'o': out = optarg; break;
        case 'j': json = 1; break;
        case 'l': logp = optarg; break;
        case 'R':
            if (gs_tool_parse_f64(optarg, &r0) || !isfinite(r0) || r0 <= 0) {
                gs_tool_err(PROG, "--r0: '%s' is not a positive number of mm", optarg);
                return GS_EXIT_USAGE;
            }
            break;
        case 'M':
            if (mt_zdc_map_parse(optarg, &g_map)) {
                gs_tool_err(PROG, "--channel-map: '%s' is not research or o2", optarg);
                return GS_EXIT_USAGE;
            }
            break;
        case 'h': usage(stdout); return GS_EXIT_OK;
        case 'V': printf("gansim-eval %s\n", GANSIM_VERSION); return GS_EXIT_OK;
        case ':':
            gs_tool_err(PROG, "%s needs a value (see --help)", argv[optind - 1]);
            return GS_EXIT_USAGE;
        default:
            gs_tool_err(PROG, "unknown option '%s' (see --help)", argv[optind - 1]);
            return GS_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        gs_tool_err(PROG, "unexpected argument '%s' (see --help)", argv[optind]);
        return GS_EXIT_USAGE;
    }
    if (!real || !gen || !out) {
        gs_tool_err(PROG, "missing %s (see --help)", !real ? "--real" : !gen ? "--gen" : "--out");
        return GS_EXIT_USAGE;
    }

    ds_kind kr, kg;
    if (ds_file_kind(real, &kr) || ds_file_kind(gen, &kg)) {
        gs_tool_err(PROG, "%s", gs_errmsg());
        return GS_EXIT_FAIL;
    }
    if (kr == DS_KIND_UNKNOWN || kg == DS_KIND_UNKNOWN) {
        gs_tool_err(PROG, "%s: neither an event table (/events) nor an image set (/images)",
                    kr == DS_KIND_UNKNOWN ? real : gen);
        return GS_EXIT_FAIL;
    }
    if (kr != kg) {
        gs_tool_err(PROG, "%s is an %s but %s is an %s", real,
                    kr == DS_KIND_EVENTS ? "event table" : "image set", gen,
                    kg == DS_KIND_EVENTS ? "event table" : "image set");
        return GS_EXIT_FAIL;
    }
    eval_inputs in;
    int rc = read_inputs(real, gen, kr, &in);
    /* an unreadable log fails here too, before the output directory exists */
    FILE *lf = rc || !logp ? NULL : fopen(logp, "r");
    if (!rc && logp && !lf)
        rc = gs_error(GS_ERR_IO, "%s: cannot open: %s", logp, strerror(errno));
    if (lf)
        fclose(lf);
    if (rc) {
        gs_tool_err(PROG, "%s", gs_errmsg());
        free_inputs(&in);
        return GS_EXIT_FAIL;
    }
    struct stat out_st;
    int out_existed = stat(out, &out_st) == 0;
    rc = mkdir_p(out);
    mt_plot *pl = NULL;
    if (!rc)
        rc = mt_plot_open(&pl, out);
    char *jbuf = NULL, *summary = NULL;
    size_t jlen = 0;
    FILE *js = rc ? NULL : open_memstream(&jbuf, &jlen);
    if (!rc && !js)
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    int64_t nr = 0, ng = 0;
    /* the log first: a bad log then fails before any metric work or output */
    if (!rc && logp)
        rc = mt_plot_trainlog(pl, "loss", logp);
    if (!rc)
        rc = kr == DS_KIND_EVENTS ? eval_events(&in.re, &in.ge, r0, js, pl, &nr, &ng, &summary)
                                  : eval_images(&in.ri, &in.gi, js, pl, &nr, &ng, &summary);
    free_inputs(&in);
    if (js)
        fclose(js);
    char script[4200];
    snprintf(script, sizeof script, "%s/plots.gp", out);
    if (!rc)
        rc = mt_plot_write_script(pl, script);
    int plot_failed = 0, no_gnuplot = 0;
    if (!rc) {
        int g = run_gnuplot(script, out);
        no_gnuplot = g == 1;
        for (int64_t i = 0; i < mt_plot_count(pl); i++) {
            if (g == 0 && !plot_failed) {
                if (gs_commit(mt_plot_png(pl, i, 1), mt_plot_png(pl, i, 0)))
                    plot_failed = 1;
            } else {
                gs_discard(mt_plot_png(pl, i, 1));
            }
        }
        plot_failed |= g < 0;
        if (plot_failed)
            gs_tool_err(PROG, "plots: %s", gs_errmsg());
        if (no_gnuplot)
            gs_tool_err(PROG, "gnuplot not found: no PNGs; data files and %s are written", script);
    }
    /* metrics.json last: its presence means the metrics are complete */
    if (!rc) {
        char path[4200];
        snprintf(path, sizeof path, "%s/metrics.json", out);
        rc = write_file_atomic(path, jbuf, jlen);
    }
    if (rc) {
        gs_tool_err(PROG, "%s", gs_errmsg());
        if (!out_existed)
            rmdir(out); /* only succeeds when nothing was written into it */
    } else if (json) {
        fwrite(jbuf, 1, jlen, stdout);
    } else {
        fputs(summary ? summary : "", stdout);
        printf("wrote %s/metrics.json", out);
        if (!no_gnuplot && !plot_failed)
            printf(" and %lld plots", (long long)mt_plot_count(pl));
        printf("\n");
    }
    free(jbuf);
    free(summary);
    mt_plot_free(pl);
    return rc || plot_failed ? GS_EXIT_FAIL : GS_EXIT_OK;
}

#include "models/md_luxe.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/mt.h"
#include "models/md_budget.h"
#include "nn/nn_ckpt.h"

#define MAX_SUB 64
#define MAX_CODES 64

/* ---- configuration ------------------------------------------------------- */
#define F(k, t, m, lo, hi, ch, h) {k, t, offsetof(md_luxe_cfg, m), lo, hi, ch, h}
const md_cfg_field md_luxe_cfg_fields[] = {
    F("data.coords", MD_CFG_ENUM, coords, 0, 0, "cartesian,cylindrical,local",
      "momentum the GAN sees: px,py,pz; p,theta,phi_p; or local: p_r,p_phi,pz along and "
      "across the position's azimuth (ring regions)"),
    F("data.position", MD_CFG_ENUM, position, 0, 0, "region,cartesian",
      "region: each region's own coordinates (rings r,phi; rectangles x,y), so a particle "
      "never leaves its sub-model's region; cartesian: x,y everywhere (not confined)"),
    F("data.log_features", MD_CFG_STR, log_features, 0, 0, NULL,
      "features trained as log10 (model-space names, comma list; may be empty)"),
    F("split.regions", MD_CFG_ENUM, region_mode, 0, 0, "none,radius,rects", "region split"),
    F("split.radii", MD_CFG_STR, radii, 0, 0, NULL, "ring radii in mm for split.regions=radius"),
    F("split.rects", MD_CFG_STR, rects, 0, 0, NULL,
      "';'-separated x-y rectangles for split.regions=rects; the rest is one more region"),
    F("split.species", MD_CFG_BOOL, split_species, 0, 0, NULL, "one sub-model per species"),
    F("split.min_species_rows", MD_CFG_INT, min_species_rows, 1, 1e12, NULL,
      "species with fewer rows share one 'other' sub-model"),
    F("split.min_rows", MD_CFG_INT, min_rows, 1, 1e12, NULL,
      "cells with fewer rows are not modelled (reported)"),
    F("model.noise_dim", MD_CFG_INT, noise_dim, 1, 4096, NULL, "generator noise dimension"),
    F("model.g_widths", MD_CFG_IVEC, g_widths, 1, 65536, NULL, "generator hidden widths"),
    F("model.d_widths", MD_CFG_IVEC, d_widths, 1, 65536, NULL, "critic hidden widths"),
    F("model.slope", MD_CFG_FLOAT, slope, 0, 1, NULL, "LeakyReLU negative slope"),
    F("model.g_norm", MD_CFG_ENUM, g_norm, 0, 0, "none,layernorm", "generator normalisation"),
    F("model.d_norm", MD_CFG_ENUM, d_norm, 0, 0, "none,layernorm",
      "critic normalisation (layernorm is gradient-penalty safe)"),
    F("train.loss", MD_CFG_ENUM, loss, 0, 0, "wgan-gp,wgan-clip",
      "WGAN-GP (Adam) or original WGAN with weight clipping (RMSprop)"),
    F("train.lambda", MD_CFG_FLOAT, lambda_gp, 0, 1e6, NULL, "gradient-penalty weight"),
    F("train.clip", MD_CFG_FLOAT, clip, 1e-9, 1e3, NULL, "weight clip for wgan-clip"),
    F("train.n_critic", MD_CFG_INT, n_critic, 1, 1000, NULL, "critic steps per generator step"),
    F("train.batch", MD_CFG_INT, batch, 2, 1 << 20, NULL, "batch size"),
    F("train.lr_g", MD_CFG_FLOAT, lr_g, 0, 10, NULL, "generator learning rate"),
    F("train.lr_d", MD_CFG_FLOAT, lr_d, 0, 10, NULL, "critic learning rate"),
    F("train.beta1", MD_CFG_FLOAT, beta1, 0, 0.999999, NULL, "Adam beta1"),
    F("train.beta2", MD_CFG_FLOAT, beta2, 0, 0.999999, NULL, "Adam beta2"),
    F("train.ema", MD_CFG_FLOAT, ema, 0, 0.999999, NULL,
      "EMA decay of generator weights used for sampling (0 = off)"),
    F("train.iters", MD_CFG_INT, iters, 1, 1e12, NULL,
      "generator steps in total over all sub-models (shared by train.budget_power)"),
    F("train.budget_power", MD_CFG_FLOAT, budget_power, 0, 4, NULL,
      "sub-model k gets steps in proportion to rows_k^power (0 equal, 1 by rows)"),
    F("train.min_steps", MD_CFG_INT, min_steps, 0, 1e12, NULL,
      "steps each sub-model gets first while train.iters allows; fewer is reported"),
    F("train.kl_every", MD_CFG_INT, kl_every, 1, 1e12, NULL, "KL evaluation period (steps)"),
    F("train.kl_samples", MD_CFG_INT, kl_samples, 100, 1e8, NULL,
      "generated rows per KL evaluation (capped by the held-out rows x 4)"),
    F("train.ckpt_every", MD_CFG_INT, ckpt_every, 1, 1e12, NULL, "checkpoint period (steps)"),
    F("train.holdout", MD_CFG_FLOAT, holdout, 0.01, 0.5, NULL,
      "fraction of each sub-model's rows held out for KL monitoring"),
    F("train.n_quantiles", MD_CFG_INT, n_quantiles, 10, 100000, NULL,
      "quantile-transform resolution"),
    F("train.qt_output", MD_CFG_ENUM, qt_output, 0, 0, "normal,uniform",
      "what the quantile transform maps each feature to: a standard normal or U(0,1)"),
    F("train.seed", MD_CFG_INT, seed, 0, 9.2e18, NULL, "seed of every random stream"),
    {NULL, 0, 0, 0, 0, NULL, NULL}};
#undef F

void md_luxe_cfg_default(md_luxe_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->coords = 0;
    c->position = 0;
    c->budget_power = 0.5;
    c->min_steps = 200;
    strcpy(c->log_features, "t");
    c->region_mode = 1;
    strcpy(c->radii, "500");
    strcpy(c->rects, "-1700<x<500,y<500");
    c->split_species = 1;
    c->min_species_rows = 2000;
    c->min_rows = 200;
    c->noise_dim = 50;
    c->g_widths = (md_ivec){3, {300, 300, 300}};
    c->d_widths = (md_ivec){3, {300, 300, 300}};
    c->slope = 0.2;
    c->loss = 0;
    c->lambda_gp = 10;
    c->clip = 0.01;
    c->n_critic = 5;
    c->batch = 256;
    c->lr_g = 1e-4;
    c->lr_d = 1e-4;
    c->beta1 = 0.5;
    c->beta2 = 0.9;
    c->ema = 0;
    c->iters = 4000;
    c->kl_every = 200;
    c->kl_samples = 20000;
    c->ckpt_every = 500;
    c->holdout = 0.1;
    c->n_quantiles = 1000;
    c->seed = 1;
}

/* Defaults for reading a stored configuration: keys that files written
 * before them lack take the behaviour those files were trained with (x, y
 * unconfined, steps shared equally); a newer file names every key. */
static void luxe_cfg_legacy(md_luxe_cfg *c)
{
    md_luxe_cfg_default(c);
    c->position = 1;
    c->budget_power = 0;
    c->min_steps = 0;
}

static md_wgan_cfg wgan_cfg(const md_luxe_cfg *c, int64_t f)
{
    md_wgan_cfg w = {0};
    w.n_features = f;
    w.noise_dim = c->noise_dim;
    w.g.depth = c->g_widths.n;
    w.d.depth = c->d_widths.n;
    memcpy(w.g.widths, c->g_widths.v, sizeof w.g.widths);
    memcpy(w.d.widths, c->d_widths.v, sizeof w.d.widths);
    w.g.slope = w.d.slope = (float)c->slope;
    w.g.norm = c->g_norm ? MD_NORM_LAYER : MD_NORM_NONE;
    w.d.norm = c->d_norm ? MD_NORM_LAYER : MD_NORM_NONE;
    w.loss = c->loss ? MD_LOSS_WGAN_CLIP : MD_LOSS_WGAN_GP;
    w.lambda_gp = (float)c->lambda_gp;
    w.clip = (float)c->clip;
    w.n_critic = (int)c->n_critic;
    w.batch = c->batch;
    w.lr_g = (float)c->lr_g;
    w.lr_d = (float)c->lr_d;
    w.beta1 = (float)c->beta1;
    w.beta2 = (float)c->beta2;
    w.ema = (float)c->ema;
    return w;
}

/* ---- feature space ------------------------------------------------------- *
 * A sub-model's model space is the input table after, in order: its region's
 * frame (pp_frame: rings as r, phi — and with data.coords=local px, py as
 * p_r, p_phi — rectangles as x, y; data.position=cartesian leaves x, y as they
 * are for every region), the momentum triple as p, theta, phi_p
 * (data.coords=cylindrical; with data.position=cartesian also x, y as r, phi,
 * as before region frames), and log10 of the configured columns. */
typedef struct {
    int64_t f;
    char **columns;          /* input column names */
    char **mcolumns;         /* model-space names outside a polar frame */
    pp_cyl_cols cyl;         /* -1 where absent (x, y too when frames own them) */
    int cylindrical;
    int64_t ix, iy;          /* x, y columns for region labels (-1 if absent) */
    pp_frame_cols fcols;     /* x, y, px, py for the region frames */
    char **log_names;        /* data.log_features */
    int64_t n_log;
} fspace;

/* What one sub-model trains on: its frame and, per column, the name and log flag. */
typedef struct {
    pp_frame frame;
    const char *mname[64];
    uint8_t log_col[64];
} subspace;

static int64_t col_index(char *const *cols, int64_t f, const char *name)
{
    for (int64_t i = 0; i < f; i++)
        if (strcmp(cols[i], name) == 0)
            return i;
    return -1;
}

static void fspace_free(fspace *s)
{
    gs_h5_free_strv(s->columns, s->f);
    gs_h5_free_strv(s->mcolumns, s->f);
    gs_h5_free_strv(s->log_names, s->n_log);
    memset(s, 0, sizeof *s);
}

static void subspace_init(subspace *ss, const fspace *fs, const pp_frame *fr)
{
    memset(ss, 0, sizeof *ss);
    ss->frame = *fr;
    const int64_t at[4] = {fs->fcols.x, fs->fcols.y, fs->fcols.px, fs->fcols.py};
    for (int64_t i = 0; i < fs->f; i++)
        ss->mname[i] = fs->mcolumns[i];
    for (int k = 0; k < 4; k++)
        if (at[k] >= 0 && pp_frame_name(fr, k))
            ss->mname[at[k]] = pp_frame_name(fr, k);
    for (int64_t i = 0; i < fs->f; i++)
        for (int64_t k = 0; k < fs->n_log; k++)
            if (!strcmp(ss->mname[i], fs->log_names[k]))
                ss->log_col[i] = 1;
}

static int fspace_init(fspace *s, const md_luxe_cfg *cfg, char *const *columns, int64_t f)
{
    memset(s, 0, sizeof *s);
    if (f < 1 || f > 64)
        return gs_error(GS_ERR_ARG, "luxe: %lld features (1..64 supported)", (long long)f);
    s->f = f;
    s->columns = calloc((size_t)f, sizeof *s->columns);
    s->mcolumns = calloc((size_t)f, sizeof *s->mcolumns);
    if (!s->columns || !s->mcolumns)
        return gs_error(GS_ERR_NOMEM, "luxe: out of memory");
    for (int64_t i = 0; i < f; i++) {
        s->columns[i] = strdup(columns[i]);
        s->mcolumns[i] = strdup(columns[i]);
        if (!s->columns[i] || !s->mcolumns[i])
            return gs_error(GS_ERR_NOMEM, "luxe: out of memory");
    }
    s->ix = col_index(s->columns, f, "x");
    s->iy = col_index(s->columns, f, "y");
    const int frames = cfg->position == 0; /* region frames own x and y */
    s->cyl = (pp_cyl_cols){frames ? -1 : s->ix, frames ? -1 : s->iy,
                           col_index(s->columns, f, "px"), col_index(s->columns, f, "py"),
                           col_index(s->columns, f, "pz")};
    s->fcols = (pp_frame_cols){s->ix, s->iy, s->cyl.px, s->cyl.py};
    s->cylindrical = cfg->coords == 1;
    if (cfg->coords == 2 && (!frames || s->cyl.px < 0 || s->cyl.py < 0))
        return gs_error(GS_ERR_ARG, "luxe: data.coords=local needs data.position=region and "
                                    "columns px, py");
    if (s->cylindrical) {
        if (s->ix < 0 || s->iy < 0 || s->cyl.px < 0 || s->cyl.py < 0 || s->cyl.pz < 0)
            return gs_error(GS_ERR_ARG,
                            "luxe: data.coords=cylindrical needs columns x,y,px,py,pz");
        const struct { int64_t i; const char *n; } ren[] = {{s->cyl.x, "r"}, {s->cyl.y, "phi"},
            {s->cyl.px, "p"}, {s->cyl.py, "theta"}, {s->cyl.pz, "phi_p"}};
        for (int k = 0; k < 5; k++) {
            if (ren[k].i < 0)
                continue;
            free(s->mcolumns[ren[k].i]);
            if (!(s->mcolumns[ren[k].i] = strdup(ren[k].n)))
                return gs_error(GS_ERR_NOMEM, "luxe: out of memory");
        }
    }
    if (s->ix < 0 || s->iy < 0)
        s->fcols.x = s->fcols.y = -1;
    if (cfg->log_features[0]) {
        int rc = gs_h5_split_csv(cfg->log_features, &s->log_names, &s->n_log);
        if (rc)
            return rc;
        /* every name must be a model-space feature of some frame */
        for (int64_t k = 0; k < s->n_log; k++) {
            const char *nm = s->log_names[k];
            int known = col_index(s->mcolumns, f, nm) >= 0;
            if (frames && s->ix >= 0 && s->iy >= 0)
                known |= !strcmp(nm, "r") || !strcmp(nm, "phi") ||
                         (cfg->coords == 2 && (!strcmp(nm, "p_r") || !strcmp(nm, "p_phi")));
            if (!known)
                return gs_error(GS_ERR_ARG, "luxe: data.log_features names '%s', not a "
                                            "model-space feature", nm);
        }
    }
    return GS_OK;
}

/* input space -> model space, in place; fails on non-positive log features */
static int to_model_space(const fspace *s, const subspace *ss, float *t, int64_t n,
                          const char *what)
{
    if (s->fcols.x >= 0)
        pp_frame_forward(&ss->frame, &s->fcols, t, n, s->f);
    if (s->cylindrical)
        pp_to_cylindrical(t, n, s->f, &s->cyl);
    for (int64_t i = 0; i < s->f; i++) {
        if (!ss->log_col[i])
            continue;
        int64_t bad = pp_log_column(t, n, s->f, i, 0.0);
        if (bad)
            return gs_error(GS_ERR_ARG,
                            "luxe: %s: feature '%s' has %lld values <= 0 and cannot be "
                            "log-transformed (remove it from data.log_features)",
                            what, ss->mname[i], (long long)bad);
    }
    return GS_OK;
}

static void from_model_space(const fspace *s, const subspace *ss, float *t, int64_t n)
{
    for (int64_t i = 0; i < s->f; i++)
        if (ss->log_col[i])
            pp_exp_column(t, n, s->f, i, 0.0);
    if (s->cylindrical)
        pp_from_cylindrical(t, n, s->f, &s->cyl);
    if (s->fcols.x >= 0)
        pp_frame_inverse(&ss->frame, &s->fcols, t, n, s->f);
}

/* ---- sub-model planning ---------------------------------------------------- */
typedef struct {
    char name[64];
    int region;
    int ncodes;
    int32_t codes[MAX_CODES];
    double probs[MAX_CODES];     /* species shares within the sub-model */
    int64_t n_rows;
    double weight;
    double proportion;
    pp_frame frame;              /* its region's coordinates (phi0 fitted on its rows) */
    int64_t *rows;               /* indices into the event table (planning only) */
} sub_plan;

typedef struct {
    int n_regions;
    char region_names[MAX_SUB][32];
    double radii[MAX_SUB];
    int nradii;
    pp_rect rects[MAX_SUB];
    int nrect;
    /* rects: the plane in disjoint rectangles (pp_rect_pieces); each is a region */
    pp_rect pieces[MAX_SUB];
    int32_t piece_of[MAX_SUB];    /* the rectangle (nrect = the rest) a piece lies in */
    pp_frame frame[MAX_SUB];      /* each region's frame */
} regions;

static int regions_init(regions *r, const md_luxe_cfg *cfg)
{
    memset(r, 0, sizeof *r);
    if (cfg->region_mode == 0) {
        r->n_regions = 1;
        strcpy(r->region_names[0], "all");
        r->frame[0] = (pp_frame){.kind = PP_FRAME_POLAR, .r_lo = 0, .r_hi = INFINITY};
        return GS_OK;
    }
    char **items;
    int64_t n;
    const char *src = cfg->region_mode == 1 ? cfg->radii : cfg->rects;
    char *copy = strdup(src);
    if (!copy)
        return gs_error(GS_ERR_NOMEM, "luxe: out of memory");
    if (cfg->region_mode == 2) /* rectangles are ';'-separated, their bounds ','-separated */
        for (char *p = copy; *p; p++) {
            if (*p == ',')
                *p = '&';
            else if (*p == ';')
                *p = ',';
        }
    int rc = gs_h5_split_csv(copy, &items, &n);
    free(copy);
    if (rc)
        return rc;
    if (n < 1 || n >= MAX_SUB / 2) {
        gs_h5_free_strv(items, n);
        return gs_error(GS_ERR_ARG, "luxe: %s: need 1..%d regions", cfg->region_mode == 1 ?
                        "split.radii" : "split.rects", MAX_SUB / 2 - 1);
    }
    for (int64_t i = 0; i < n && !rc; i++) {
        if (cfg->region_mode == 1) {
            char *end;
            double v = strtod(items[i], &end);
            if (*end || !(v > 0) || (i > 0 && v <= r->radii[i - 1]))
                rc = gs_error(GS_ERR_ARG, "split.radii: '%s' is not an increasing list of "
                                          "positive radii", cfg->radii);
            r->radii[r->nradii++] = v;
        } else {
            for (char *p = items[i]; *p; p++)
                if (*p == '&')
                    *p = ',';
            if (pp_rect_parse(items[i], &r->rects[r->nrect++]))
                rc = gs_error(GS_ERR_ARG, "split.rects: cannot parse '%s'", items[i]);
        }
    }
    gs_h5_free_strv(items, n);
    if (rc)
        return rc;
    if (cfg->region_mode == 1) {
        r->n_regions = (int)n + 1;
        for (int i = 0; i < r->n_regions; i++) {
            if (r->n_regions == 2)
                strcpy(r->region_names[i], i == 0 ? "inner" : "outer");
            else
                snprintf(r->region_names[i], sizeof r->region_names[i], "ring%d", i);
            r->frame[i] = (pp_frame){.kind = PP_FRAME_POLAR, .r_lo = i ? r->radii[i - 1] : 0,
                                     .r_hi = i < r->nradii ? r->radii[i] : INFINITY};
        }
    } else {
        /* a region that is not one rectangle (the rest, or a rectangle that an
         * earlier one overlaps) is trained in rectangular pieces, so that
         * every sub-model's region is a box in x, y */
        int np = 0;
        int prc = pp_rect_pieces(r->rects, r->nrect, r->pieces, r->piece_of, MAX_SUB / 2, &np);
        if (prc)
            return gs_error_wrap(prc, "split.rects");
        r->n_regions = np;
        for (int i = 0; i < np; i++) {
            int same = 0, idx = 0;
            for (int j = 0; j < np; j++) {
                same += r->piece_of[j] == r->piece_of[i];
                idx += j < i && r->piece_of[j] == r->piece_of[i];
            }
            char base[16];
            if (r->piece_of[i] < r->nrect)
                snprintf(base, sizeof base, "rect%d", (int)r->piece_of[i]);
            else
                snprintf(base, sizeof base, "rest");
            if (same > 1)
                snprintf(r->region_names[i], sizeof r->region_names[i], "%s_%d", base, idx);
            else
                snprintf(r->region_names[i], sizeof r->region_names[i], "%s", base);
            r->frame[i] = (pp_frame){.kind = PP_FRAME_BOX, .box = r->pieces[i]};
        }
    }
    return GS_OK;
}

static const char *species_name(int32_t pdg)
{
    switch (pdg) {
    case 2112: return "n";
    case 22: return "gamma";
    case 11: return "e-";
    case -11: return "e+";
    case 2212: return "p";
    default: return NULL;
    }
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Groups rows into sub-models: each row gets a cell = (region, species
 * group); cells with enough rows become sub-models, in region-major order. */
static int plan_subs(const md_luxe_cfg *cfg, const ds_events *ev, const fspace *fs,
                     const regions *rg, sub_plan *plan, int *n_plan, char *notes, size_t nnotes)
{
    const int64_t n = ev->n;
    *n_plan = 0;
    notes[0] = '\0';
    if (n < 1)
        return gs_error(GS_ERR_ARG, "luxe: no events");
    if (cfg->region_mode != 0 && (fs->ix < 0 || fs->iy < 0))
        return gs_error(GS_ERR_ARG, "luxe: a region split needs columns x and y");
    /* distinct species, sorted, with their counts */
    int32_t codes[MAX_CODES];
    int64_t counts[MAX_CODES] = {0};
    int ncodes = 0;
    for (int64_t i = 0; i < n && ev->pdg; i++) {
        int k = 0;
        while (k < ncodes && codes[k] != ev->pdg[i])
            k++;
        if (k == ncodes) {
            if (ncodes == MAX_CODES)
                return gs_error(GS_ERR_ARG, "luxe: more than %d distinct species", MAX_CODES);
            codes[ncodes++] = ev->pdg[i];
        }
    }
    qsort(codes, (size_t)ncodes, sizeof *codes, cmp_i32);
    int32_t *cell = malloc((size_t)n * sizeof *cell);
    uint8_t *code_of = malloc((size_t)n);
    if (!cell || !code_of) {
        free(cell);
        free(code_of);
        return gs_error(GS_ERR_NOMEM, "luxe: out of memory");
    }
    for (int64_t i = 0; i < n && ev->pdg; i++) {
        const int32_t *hit = bsearch(&ev->pdg[i], codes, (size_t)ncodes, sizeof *codes, cmp_i32);
        code_of[i] = (uint8_t)(hit - codes);
        counts[code_of[i]]++;
    }
    /* species group of each code: its own, or the shared "other" group */
    int group_of[MAX_CODES] = {0}, n_groups = 0, other = -1;
    char gname[MAX_CODES + 1][24];
    for (int k = 0; k < ncodes; k++) {
        if (cfg->split_species && counts[k] >= cfg->min_species_rows) {
            const char *sn = species_name(codes[k]);
            if (sn)
                snprintf(gname[n_groups], sizeof gname[0], "%s", sn);
            else
                snprintf(gname[n_groups], sizeof gname[0], "pdg%d", codes[k]);
            group_of[k] = n_groups++;
        } else {
            if (other < 0) {
                other = n_groups++;
                strcpy(gname[other], cfg->split_species ? "other" : "all");
            }
            group_of[k] = other;
        }
    }
    if (!ev->pdg) {
        n_groups = 1;
        strcpy(gname[0], "all");
    }
    /* cell of each row, and rows per cell */
    const int n_cells = rg->n_regions * n_groups;
    int64_t *cell_rows = calloc((size_t)n_cells, sizeof *cell_rows);
    if (!cell_rows) {
        free(cell);
        free(code_of);
        return gs_error(GS_ERR_NOMEM, "luxe: out of memory");
    }
    if (cfg->region_mode == 1)
        pp_label_radius(ev->x, n, ev->f, fs->ix, fs->iy, rg->radii, rg->nradii, cell);
    else if (cfg->region_mode == 2)
        pp_label_pieces(ev->x, n, ev->f, fs->ix, fs->iy, rg->rects, rg->nrect, rg->pieces,
                        rg->piece_of, rg->n_regions, cell);
    else
        memset(cell, 0, (size_t)n * sizeof *cell);
    for (int64_t i = 0; i < n; i++) {
        cell[i] = cell[i] * n_groups + (ev->pdg ? group_of[code_of[i]] : 0);
        cell_rows[cell[i]]++;
    }
    int rc = GS_OK;
    int sub_of_cell[MAX_SUB * MAX_CODES];
    for (int cidx = 0; cidx < n_cells; cidx++) {
        const int r = cidx / n_groups, g = cidx % n_groups;
        sub_of_cell[cidx] = -1;
        char name[64];
        if (rg->n_regions > 1 && n_groups > 1)
            snprintf(name, sizeof name, "%.31s.%.23s", rg->region_names[r], gname[g]);
        else
            snprintf(name, sizeof name, "%.31s", rg->n_regions > 1 ? rg->region_names[r] : gname[g]);
        if (cell_rows[cidx] == 0)
            continue;
        if (cell_rows[cidx] < cfg->min_rows) {
            size_t used = strlen(notes);
            snprintf(notes + used, nnotes - used,
                     "sub-model %s has %lld rows (< split.min_rows = %lld): not modelled\n", name,
                     (long long)cell_rows[cidx], (long long)cfg->min_rows);
            continue;
        }
        if (*n_plan == MAX_SUB) {
            rc = gs_error(GS_ERR_ARG, "luxe: more than %d sub-models", MAX_SUB);
            break;
        }
        sub_plan *p = &plan[*n_plan];
        memset(p, 0, sizeof *p);
        snprintf(p->name, sizeof p->name, "%s", name);
        p->region = r;
        p->frame = rg->frame[r];
        if (cfg->position == 1)
            p->frame = (pp_frame){.kind = PP_FRAME_NONE};
        p->frame.local_p = cfg->coords == 2;
        for (int k = 0; k < ncodes; k++)
            if (group_of[k] == g)
                p->codes[p->ncodes++] = codes[k];
        if (!(p->rows = malloc((size_t)cell_rows[cidx] * sizeof *p->rows))) {
            rc = gs_error(GS_ERR_NOMEM, "luxe: out of memory");
            break;
        }
        sub_of_cell[cidx] = (*n_plan)++;
    }
    /* one pass fills the rows, weights and species shares of every sub-model */
    double wcode[MAX_SUB][MAX_CODES];
    memset(wcode, 0, sizeof wcode);
    for (int64_t i = 0; i < n && !rc; i++) {
        int k = sub_of_cell[cell[i]];
        if (k < 0)
            continue;
        sub_plan *p = &plan[k];
        double wi = ev->weights ? ev->weights[i] : 1.0;
        p->rows[p->n_rows++] = i;
        p->weight += wi;
        if (ev->pdg)
            for (int j = 0; j < p->ncodes; j++)
                if (p->codes[j] == ev->pdg[i])
                    wcode[k][j] += wi;
    }
    double wtot = 0;
    for (int k = 0; k < *n_plan; k++) {
        wtot += plan[k].weight;
        for (int j = 0; j < plan[k].ncodes; j++)
            plan[k].probs[j] = plan[k].weight > 0 ? wcode[k][j] / plan[k].weight : 0;
    }
    for (int k = 0; k < *n_plan; k++)
        plan[k].proportion = wtot > 0 ? plan[k].weight / wtot : 0;
    free(cell);
    free(code_of);
    free(cell_rows);
    if (!rc && *n_plan == 0)
        rc = gs_error(GS_ERR_ARG, "luxe: no sub-model has at least %lld rows",
                      (long long)cfg->min_rows);
    return rc;
}

/* ---- training state ------------------------------------------------------- */
typedef struct {
    sub_plan plan;
    subspace ss;
    pp_quantile qt;
    md_wgan w;
    nn_params best_ps;
    md_mlp best_g;
    double best_kl;
    int64_t best_step, steps_budget;
    float *train, *train_w, *hold, *hold_w;
    int64_t n_train, n_hold;
    md_sampler sampler;
    int ready;                   /* data prepared */
} sub_state;

static void sub_free(sub_state *s)
{
    free(s->plan.rows);
    pp_quantile_free(&s->qt);
    md_wgan_free(&s->w);
    nn_params_free(&s->best_ps);
    free(s->train);
    free(s->train_w);
    free(s->hold);
    free(s->hold_w);
    md_sampler_free(&s->sampler);
}

/* Gathers the sub-model's rows, moves them to model space, holds out a
 * slice, fits the quantile transform (unless loaded) and maps the training
 * rows to it. */
static int sub_prepare(sub_state *s, const md_luxe_cfg *cfg, const ds_events *ev,
                       const fspace *fs, int sub_index, int qt_loaded)
{
    const int64_t f = ev->f, n = s->plan.n_rows;
    float *all = malloc((size_t)(n * f) * sizeof(float));
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    int rc = GS_OK;
    if (!all || !perm) {
        rc = gs_error(GS_ERR_NOMEM, "luxe: out of memory for sub-model %s", s->plan.name);
        goto out;
    }
    pp_gather_rows(ev->x, f, s->plan.rows, n, all);
    if (s->plan.frame.kind == PP_FRAME_POLAR && fs->fcols.x >= 0)
        s->plan.frame.phi0 = pp_frame_fit_phi0(all, n, f, fs->fcols.x, fs->fcols.y);
    subspace_init(&s->ss, fs, &s->plan.frame);
    if ((rc = to_model_space(fs, &s->ss, all, n, s->plan.name)))
        goto out;
    gs_rng r;
    gs_rng_seed(&r, (uint64_t)cfg->seed * 0x9E3779B97F4A7C15ULL + 17 * (uint64_t)sub_index + 1);
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    gs_rng_shuffle_i64(&r, perm, n);
    s->n_hold = (int64_t)ceil(cfg->holdout * (double)n);
    if (s->n_hold < 1)
        s->n_hold = 1;
    s->n_train = n - s->n_hold;
    s->train = malloc((size_t)(s->n_train * f) * sizeof(float));
    s->hold = malloc((size_t)(s->n_hold * f) * sizeof(float));
    if (ev->weights) {
        s->train_w = malloc((size_t)s->n_train * sizeof(float));
        s->hold_w = malloc((size_t)s->n_hold * sizeof(float));
    }
    if (!s->train || !s->hold || (ev->weights && (!s->train_w || !s->hold_w))) {
        rc = gs_error(GS_ERR_NOMEM, "luxe: out of memory for sub-model %s", s->plan.name);
        goto out;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t src = perm[i];
        float *dst = i < s->n_hold ? s->hold + i * f : s->train + (i - s->n_hold) * f;
        memcpy(dst, all + src * f, (size_t)f * sizeof(float));
        if (ev->weights) {
            float wv = ev->weights[s->plan.rows[src]];
            if (i < s->n_hold)
                s->hold_w[i] = wv;
            else
                s->train_w[i - s->n_hold] = wv;
        }
    }
    if (!qt_loaded) {
        pp_quantile_opts qo;
        pp_quantile_opts_default(&qo);
        qo.n_quantiles = cfg->n_quantiles;
        qo.output = cfg->qt_output == 1 ? PP_UNIFORM : PP_NORMAL;
        if ((rc = pp_quantile_fit(&s->qt, s->train, s->n_train, f, &qo)))
            goto out;
    }
    if ((rc = pp_quantile_transform(&s->qt, s->train, s->train, s->n_train)))
        goto out;
    if ((rc = md_sampler_init(&s->sampler, s->n_train, s->train_w)))
        goto out;
    s->ready = 1;
out:
    free(all);
    free(perm);
    if (rc)
        gs_error_wrap(rc, s->plan.name);
    return rc;
}

/* Mean KL over features of generated vs held-out rows, in model space. */
static int sub_evaluate(sub_state *s, const md_luxe_cfg *cfg, int sub_index, float *gen,
                        int64_t ng, double *kl_mean, double *kl, int64_t f)
{
    gs_rng r;
    gs_rng_seed(&r, (uint64_t)cfg->seed * 31 + (uint64_t)sub_index * 1000003 +
                        (uint64_t)s->w.step);
    int rc = md_wgan_generate(&s->w, ng, gen, 1, &r);
    if (!rc)
        rc = pp_quantile_inverse(&s->qt, gen, gen, ng);
    if (rc)
        return rc;
    mt_compare_opts mo = mt_compare_defaults();
    mt_feature_metrics fm[64];
    rc = mt_compare_table(s->hold, s->hold_w, NULL, s->n_hold, gen, NULL, NULL, ng, f, &mo, fm);
    if (rc)
        return rc;
    *kl_mean = 0;
    for (int64_t j = 0; j < f; j++) {
        kl[j] = fm[j].kl;
        *kl_mean += fm[j].kl / (double)f;
    }
    return GS_OK;
}

/* ---- checkpoint files ---------------------------------------------------- *
 * /            attrs gansim_kind, gansim_version, config, columns, units,
 *              particles_per_bx, n_sub, current, state ("training"|"final")
 * /sub<k>      attrs name, region, codes, probs, n_rows, weight, proportion,
 *              best_kl, best_step, steps_budget
 * /sub<k>/qt   the quantile transform
 * /sub<k>/G    the generator used for sampling (best by KL, or EMA)
 * /sub<k>/train   (last.h5 only) the whole WGAN state and best snapshot */
typedef struct {
    const md_luxe_cfg *cfg;
    const fspace *fs;
    const ds_events *ev;
    sub_state *subs;
    int n_sub, current;
} run_state;

static int write_csv_attr(hid_t loc, const char *name, char *const *v, int64_t n)
{
    char *s = gs_h5_join_csv(v, n);
    if (!s)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    int rc = gs_h5_attr_write_str(loc, ".", name, s);
    free(s);
    return rc;
}

static int write_sub(hid_t f, const run_state *st, int k, int with_train)
{
    const sub_state *s = &st->subs[k];
    char path[32], buf[1024];
    snprintf(path, sizeof path, "sub%d", k);
    hid_t g, q;
    int rc = gs_h5_group_create(f, path, &g);
    if (rc)
        return rc;
    rc = gs_h5_attr_write_str(g, ".", "name", s->plan.name);
    size_t used = 0;
    buf[0] = '\0';
    for (int j = 0; j < s->plan.ncodes; j++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, j ? ",%d" : "%d",
                                 s->plan.codes[j]);
    if (!rc)
        rc = gs_h5_attr_write_str(g, ".", "codes", buf);
    used = 0;
    buf[0] = '\0';
    for (int j = 0; j < s->plan.ncodes; j++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, j ? ",%.17g" : "%.17g",
                                 s->plan.probs[j]);
    if (!rc)
        rc = gs_h5_attr_write_str(g, ".", "probs", buf);
    if (!rc)
        rc = gs_h5_attr_write_i64(g, ".", "region", s->plan.region);
    if (!rc)
        rc = gs_h5_attr_write_i64(g, ".", "n_rows", s->plan.n_rows);
    if (!rc)
        rc = gs_h5_attr_write_f64(g, ".", "weight", s->plan.weight);
    if (!rc)
        rc = gs_h5_attr_write_f64(g, ".", "proportion", s->plan.proportion);
    if (!rc)
        rc = gs_h5_attr_write_f64(g, ".", "best_kl", s->best_kl);
    if (!rc)
        rc = gs_h5_attr_write_i64(g, ".", "best_step", s->best_step);
    if (!rc)
        rc = gs_h5_attr_write_i64(g, ".", "steps_budget", s->steps_budget);
    if (!rc)
        rc = pp_frame_save(&s->plan.frame, g);
    if (!rc && !(rc = gs_h5_group_create(g, "qt", &q))) {
        rc = pp_quantile_save(&s->qt, q);
        H5Gclose(q);
    }
    /* the sampling generator: the best snapshot once there is one */
    const nn_params *sample_ps = s->best_step >= 0 ? &s->best_ps
                                 : s->w.cfg.ema > 0 ? &s->w.ep : &s->w.gp;
    if (!rc)
        rc = nn_group_save(g, "G", sample_ps, NULL);
    if (!rc && with_train) {
        hid_t t;
        if (!(rc = gs_h5_group_create(g, "train", &t))) {
            rc = md_wgan_save(&s->w, t);
            if (!rc)
                rc = nn_group_save(t, "best", &s->best_ps, NULL);
            H5Gclose(t);
        }
    }
    H5Gclose(g);
    return rc;
}

static int write_file(const char *path, const run_state *st, int with_train, double ppbx)
{
    char tmp[4096];
    int rc = gs_tmp_path(tmp, sizeof tmp, path);
    if (rc)
        return rc;
    hid_t f;
    if ((rc = gs_h5_create(tmp, &f)))
        return rc;
    char *cfgtext = md_cfg_dump(md_luxe_cfg_fields, st->cfg);
    rc = cfgtext ? gs_h5_attr_write_str(f, ".", "config", cfgtext)
                 : gs_error(GS_ERR_NOMEM, "out of memory");
    free(cfgtext);
    if (!rc)
        rc = gs_h5_attr_write_str(f, ".", "gansim_kind", "luxe_wgan");
    if (!rc)
        rc = gs_h5_attr_write_str(f, ".", "gansim_version", GANSIM_VERSION);
    if (!rc)
        rc = write_csv_attr(f, "columns", st->fs->columns, st->fs->f);
    if (!rc && st->ev->units)
        rc = write_csv_attr(f, "units", st->ev->units, st->fs->f);
    if (!rc)
        rc = gs_h5_attr_write_f64(f, ".", "particles_per_bx", ppbx);
    if (!rc)
        rc = gs_h5_attr_write_i64(f, ".", "n_sub", st->n_sub);
    if (!rc)
        rc = gs_h5_attr_write_i64(f, ".", "current", st->current);
    if (!rc)
        rc = gs_h5_attr_write_str(f, ".", "state", with_train ? "training" : "final");
    for (int k = 0; !rc && k < st->n_sub; k++)
        rc = write_sub(f, st, k, with_train);
    int crc = gs_h5_close(f);
    if (!rc)
        rc = crc;
    if (rc) {
        gs_discard(tmp);
        return gs_error_wrap(rc, path);
    }
    return gs_commit(tmp, path);
}

static int save_all(const char *dir, const run_state *st, double ppbx)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/last.h5", dir);
    int rc = write_file(path, st, 1, ppbx);
    if (!rc) {
        snprintf(path, sizeof path, "%s/model.h5", dir);
        rc = write_file(path, st, 0, ppbx);
    }
    return rc;
}

/* Restores the training state of every sub-model from last.h5. */
static int load_training(const char *path, run_state *st, int64_t *total_done)
{
    hid_t f;
    int rc = gs_h5_open(path, 0, &f);
    if (rc)
        return rc;
    int64_t n_sub = 0, current = 0;
    rc = gs_h5_attr_read_i64(f, ".", "n_sub", &n_sub);
    if (!rc)
        rc = gs_h5_attr_read_i64(f, ".", "current", &current);
    if (!rc && n_sub != st->n_sub)
        rc = gs_error(GS_ERR_FORMAT, "%s: %lld sub-models, but the data give %d (different "
                      "data or config?)", path, (long long)n_sub, st->n_sub);
    *total_done = 0;
    for (int k = 0; !rc && k < st->n_sub; k++) {
        sub_state *s = &st->subs[k];
        char gp[64];
        hid_t g;
        snprintf(gp, sizeof gp, "sub%d", k);
        if ((rc = gs_h5_group_open(f, gp, &g)))
            break;
        int64_t n_rows = 0;
        rc = gs_h5_attr_read_i64(g, ".", "n_rows", &n_rows);
        if (!rc && n_rows != s->plan.n_rows)
            rc = gs_error(GS_ERR_FORMAT, "%s: sub-model %s had %lld rows, the data give %lld",
                          path, s->plan.name, (long long)n_rows, (long long)s->plan.n_rows);
        if (!rc)
            rc = gs_h5_attr_read_f64(g, ".", "best_kl", &s->best_kl);
        if (!rc)
            rc = gs_h5_attr_read_i64(g, ".", "best_step", &s->best_step);
        hid_t q, t;
        if (!rc && !(rc = gs_h5_group_open(g, "qt", &q))) {
            rc = pp_quantile_load(&s->qt, q);
            H5Gclose(q);
        }
        if (!rc && !(rc = gs_h5_group_open(g, "train", &t))) {
            rc = md_wgan_load(&s->w, t);
            if (!rc)
                rc = nn_group_load(t, "best", &s->best_ps, NULL);
            H5Gclose(t);
        }
        H5Gclose(g);
        *total_done += s->w.step;
    }
    st->current = (int)current;
    gs_h5_close(f);
    return rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int md_luxe_train(const md_luxe_cfg *cfg_in, const ds_events *ev, const md_train_opts *opts,
                  int *stopped)
{
    md_luxe_cfg cfg = *cfg_in;
    *stopped = 0;
    char path[4096];
    int rc;
    if (opts->resume) {
        /* a resumed run uses the configuration it was started with */
        snprintf(path, sizeof path, "%s/last.h5", opts->out_dir);
        hid_t f;
        if ((rc = gs_h5_open(path, 0, &f)))
            return gs_error_wrap(rc, "--resume");
        char *text = NULL;
        rc = gs_h5_attr_read_str(f, ".", "config", &text);
        gs_h5_close(f);
        if (rc)
            return rc;
        luxe_cfg_legacy(&cfg);
        rc = md_cfg_parse_dump(md_luxe_cfg_fields, &cfg, text);
        free(text);
        if (rc)
            return gs_error_wrap(rc, path);
    }
    if (ev->n < 2)
        return gs_error(GS_ERR_ARG, "luxe: need at least 2 events, got %lld", (long long)ev->n);
    fspace fs;
    regions rg;
    sub_state *subs = calloc(MAX_SUB, sizeof *subs);
    sub_plan *plan = calloc(MAX_SUB, sizeof *plan);
    char notes[4096];
    int n_sub = 0;
    FILE *log = NULL;
    float *gen = NULL;
    if (!subs || !plan) {
        free(subs);
        free(plan);
        return gs_error(GS_ERR_NOMEM, "luxe: out of memory");
    }
    if ((rc = fspace_init(&fs, &cfg, ev->columns, ev->f)) || (rc = regions_init(&rg, &cfg)) ||
        (rc = plan_subs(&cfg, ev, &fs, &rg, plan, &n_sub, notes, sizeof notes)))
        goto out;
    const int64_t f = ev->f;
    const md_wgan_cfg wc = wgan_cfg(&cfg, f);
    int64_t rows[MAX_SUB], budget[MAX_SUB];
    int n_low = 0;
    for (int k = 0; k < n_sub; k++)
        rows[k] = plan[k].n_rows;
    if ((rc = md_step_budget(rows, n_sub, cfg.iters, cfg.budget_power, cfg.min_steps, budget,
                             &n_low)))
        goto out;
    for (int k = 0; k < n_sub && n_low; k++) {
        size_t used = strlen(notes);
        if (budget[k] < cfg.min_steps)
            snprintf(notes + used, sizeof notes - used,
                     "WARNING: sub-model %s gets %lld generator steps, under train.min_steps = "
                     "%lld (train.iters = %lld for %d sub-models): it will be poorly trained\n",
                     plan[k].name, (long long)budget[k], (long long)cfg.min_steps,
                     (long long)cfg.iters, n_sub);
    }
    for (int k = 0; k < n_sub; k++) {
        sub_state *s = &subs[k];
        s->plan = plan[k];
        plan[k].rows = NULL; /* ownership moved */
        s->best_kl = NAN;
        s->best_step = -1;
        s->steps_budget = budget[k];
        if ((rc = md_wgan_init(&s->w, &wc, (uint64_t)cfg.seed * 1000 + (uint64_t)k)))
            goto out;
        nn_params_init(&s->best_ps);
        gs_rng tmp = s->w.rng;
        md_mlp_cfg gcfg = s->w.cfg.g;
        if ((rc = md_mlp_init(&s->best_g, &s->best_ps, "G", &gcfg, &tmp)))
            goto out;
    }
    run_state st = {&cfg, &fs, ev, subs, n_sub, 0};
    int64_t total_done = 0, total_steps = 0;
    for (int k = 0; k < n_sub; k++)
        total_steps += subs[k].steps_budget;
    if (opts->resume) {
        snprintf(path, sizeof path, "%s/last.h5", opts->out_dir);
        if ((rc = load_training(path, &st, &total_done)))
            goto out;
    }
    snprintf(path, sizeof path, "%s/train.log", opts->out_dir);
    log = fopen(path, opts->resume ? "a" : "w");
    if (!log) {
        rc = gs_error(GS_ERR_IO, "%s: cannot write the training log", path);
        goto out;
    }
    if (!opts->resume) {
        fprintf(log, "# gansim %s luxe_wgan: %d sub-models\n", GANSIM_VERSION, n_sub);
        for (int k = 0; k < n_sub; k++)
            fprintf(log, "# sub=%s rows=%lld proportion=%.6f steps=%lld\n", subs[k].plan.name,
                    (long long)subs[k].plan.n_rows, subs[k].plan.proportion,
                    (long long)subs[k].steps_budget);
        for (const char *q = notes; *q;) { /* one '#' line per note */
            const char *nl = strchr(q, '\n');
            int len = nl ? (int)(nl - q) : (int)strlen(q);
            fprintf(log, "# %.*s\n", len, q);
            q += len + (nl != NULL);
        }
        fflush(log);
    }
    const int64_t max_gen = cfg.kl_samples;
    gen = malloc((size_t)(max_gen * f) * sizeof(float));
    if (!gen) {
        rc = gs_error(GS_ERR_NOMEM, "luxe: out of memory");
        goto out;
    }
    /* Prepare every sub-model's data first: the quantile transforms must
     * exist for any checkpoint (and a bad feature fails before training). */
    for (int k = 0; k < n_sub; k++)
        if ((rc = sub_prepare(&subs[k], &cfg, ev, &fs, k, opts->resume)))
            goto out;
    const double t0 = now_s();
    const int64_t done_at_start = total_done;
    const char *pending_notes = notes[0] && !opts->resume ? notes : NULL;
    for (int k = st.current; k < n_sub; k++) {
        sub_state *s = &subs[k];
        st.current = k;
        const int64_t ng = s->n_hold * 4 < max_gen ? s->n_hold * 4 : max_gen;
        md_progress pr = {.sub = k, .n_sub = n_sub, .sub_name = s->plan.name,
                          .steps = s->steps_budget, .total_steps = total_steps,
                          .best_kl = s->best_kl, .kl_mean = NAN};
        while (s->w.step < s->steps_budget) {
            md_wgan_losses L;
            if ((rc = md_wgan_step(&s->w, s->train, &s->sampler, &L))) {
                gs_error_wrap(rc, s->plan.name);
                goto out; /* last.h5 keeps the last good state */
            }
            total_done++;
            const double el = now_s() - t0;
            pr.step = s->w.step;
            pr.total_step = total_done;
            pr.losses = L;
            pr.steps_per_s = (double)(total_done - done_at_start) / (el > 0 ? el : 1e-9);
            pr.eta_s = (double)(total_steps - total_done) / (pr.steps_per_s > 0 ? pr.steps_per_s : 1);
            pr.evaluated = 0;
            pr.notes = pending_notes;
            pending_notes = NULL;
            const int last_step = s->w.step == s->steps_budget;
            if (s->w.step % cfg.kl_every == 0 || last_step) {
                double kl[64], klm;
                if ((rc = sub_evaluate(s, &cfg, k, gen, ng, &klm, kl, f)))
                    goto out;
                if (!(klm >= s->best_kl)) { /* also when best_kl is NaN */
                    s->best_kl = klm;
                    s->best_step = s->w.step;
                    nn_params_copy(&s->best_ps, s->w.cfg.ema > 0 ? &s->w.ep : &s->w.gp);
                }
                pr.kl_mean = klm;
                pr.best_kl = s->best_kl;
                pr.evaluated = 1;
                fprintf(log, "sub=%s step=%lld sub_step=%lld loss_d=%.6g loss_g=%.6g gp=%.6g "
                             "wdist=%.6g", s->plan.name, (long long)total_done,
                        (long long)s->w.step, L.loss_d, L.loss_g, L.gp, L.wdist);
                for (int64_t j = 0; j < f; j++)
                    fprintf(log, " kl_%s=%.6g", s->ss.mname[j], kl[j]);
                fprintf(log, " kl_mean=%.6g steps_per_s=%.3f elapsed_s=%.1f\n", klm,
                        pr.steps_per_s, el);
                fflush(log);
            }
            if (opts->progress)
                opts->progress(opts->progress_ud, &pr);
            int stop_now = opts->stop && *opts->stop;
            if (stop_now || s->w.step % cfg.ckpt_every == 0 || last_step) {
                if (last_step && k + 1 < n_sub)
                    st.current = k + 1;
                if ((rc = save_all(opts->out_dir, &st, ev->particles_per_bx)))
                    goto out;
            }
            if (stop_now) {
                *stopped = 1;
                goto out;
            }
        }
    }
    st.current = n_sub;
    rc = save_all(opts->out_dir, &st, ev->particles_per_bx);
out:
    if (log)
        fclose(log);
    free(gen);
    for (int k = 0; k < MAX_SUB; k++) {
        sub_free(&subs[k]);
        free(plan[k].rows);
    }
    free(subs);
    free(plan);
    fspace_free(&fs);
    return rc;
}

/* ---- sampling -------------------------------------------------------------- */
typedef struct {
    md_mlp g;
    nn_params ps;
    pp_quantile qt;
    subspace ss;
    double proportion;
    int ncodes;
    int32_t codes[MAX_CODES];
    double probs[MAX_CODES];
} sample_sub;

struct md_luxe_model {
    md_luxe_cfg cfg;
    fspace fs;
    char *columns_csv;
    char **units;
    int has_units;
    double ppbx;
    int n_sub;
    sample_sub *subs;
    nn_ctx *ctx[MD_MAX_SHARDS]; /* generation graphs, one per concurrent chunk */
};

void md_luxe_free(md_luxe_model *m)
{
    if (!m)
        return;
    for (int k = 0; k < m->n_sub; k++) {
        nn_params_free(&m->subs[k].ps);
        pp_quantile_free(&m->subs[k].qt);
    }
    free(m->subs);
    for (int t = 0; t < MD_MAX_SHARDS; t++)
        nn_ctx_free(m->ctx[t]);
    if (m->has_units)
        gs_h5_free_strv(m->units, m->fs.f);
    free(m->columns_csv);
    fspace_free(&m->fs);
    free(m);
}

static int parse_list(const char *s, double *out, int max, int *n)
{
    *n = 0;
    while (*s && *n < max) {
        char *end;
        out[(*n)++] = strtod(s, &end);
        if (end == s)
            return -1;
        s = *end == ',' ? end + 1 : end;
    }
    return 0;
}

int md_luxe_load(const char *path, md_luxe_model **out)
{
    *out = NULL;
    md_luxe_model *m = calloc(1, sizeof *m);
    if (!m)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    hid_t f;
    int rc = gs_h5_open(path, 0, &f);
    if (rc) {
        free(m);
        return rc;
    }
    char *kind = NULL, *text = NULL, *units = NULL;
    char **cols = NULL;
    int64_t ncols = 0, n_sub = 0;
    rc = gs_h5_attr_read_str(f, ".", "gansim_kind", &kind);
    if (!rc && strcmp(kind, "luxe_wgan") != 0)
        rc = gs_error(GS_ERR_FORMAT, "%s: a %s model, not a luxe_wgan model", path, kind);
    if (!rc)
        rc = gs_h5_attr_read_str(f, ".", "config", &text);
    luxe_cfg_legacy(&m->cfg);
    if (!rc)
        rc = md_cfg_parse_dump(md_luxe_cfg_fields, &m->cfg, text);
    if (!rc)
        rc = gs_h5_attr_read_str(f, ".", "columns", &m->columns_csv);
    if (!rc)
        rc = gs_h5_split_csv(m->columns_csv, &cols, &ncols);
    if (!rc)
        rc = fspace_init(&m->fs, &m->cfg, cols, ncols);
    if (!rc && gs_h5_attr_exists(f, ".", "units")) {
        int64_t nu = 0;
        rc = gs_h5_attr_read_str(f, ".", "units", &units);
        if (!rc)
            rc = gs_h5_split_csv(units, &m->units, &nu);
        m->has_units = !rc;
        if (!rc && nu != ncols)
            rc = gs_error(GS_ERR_FORMAT, "%s: %lld units for %lld columns", path, (long long)nu,
                          (long long)ncols);
    }
    if (!rc)
        rc = gs_h5_attr_read_f64(f, ".", "particles_per_bx", &m->ppbx);
    if (!rc)
        rc = gs_h5_attr_read_i64(f, ".", "n_sub", &n_sub);
    if (!rc && (n_sub < 1 || n_sub > MAX_SUB))
        rc = gs_error(GS_ERR_FORMAT, "%s: %lld sub-models", path, (long long)n_sub);
    if (!rc && !(m->subs = calloc((size_t)n_sub, sizeof *m->subs)))
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    md_wgan_cfg wc = wgan_cfg(&m->cfg, ncols);
    wc.g.n_in = wc.noise_dim;
    wc.g.n_out = ncols;
    double psum = 0;
    for (int k = 0; !rc && k < n_sub; k++) {
        sample_sub *s = &m->subs[k];
        m->n_sub = k + 1;
        nn_params_init(&s->ps);
        char gp[64], *codes = NULL, *probs = NULL;
        hid_t g, q;
        snprintf(gp, sizeof gp, "sub%d", k);
        if ((rc = gs_h5_group_open(f, gp, &g)))
            break;
        rc = gs_h5_attr_read_f64(g, ".", "proportion", &s->proportion);
        if (!rc)
            rc = gs_h5_attr_read_str(g, ".", "codes", &codes);
        if (!rc)
            rc = gs_h5_attr_read_str(g, ".", "probs", &probs);
        double cv[MAX_CODES];
        int nc = 0, np = 0;
        if (!rc && (parse_list(codes, cv, MAX_CODES, &nc) ||
                    parse_list(probs, s->probs, MAX_CODES, &np) || nc != np))
            rc = gs_error(GS_ERR_FORMAT, "%s: /%s: bad species lists", path, gp);
        s->ncodes = nc;
        for (int j = 0; j < nc; j++)
            s->codes[j] = (int32_t)cv[j];
        free(codes);
        free(probs);
        if (!rc && !(rc = gs_h5_group_open(g, "qt", &q))) {
            rc = pp_quantile_load(&s->qt, q);
            H5Gclose(q);
        }
        pp_frame fr;
        if (!rc && !(rc = pp_frame_load(&fr, g)))
            subspace_init(&s->ss, &m->fs, &fr);
        if (!rc && s->qt.f != ncols)
            rc = gs_error(GS_ERR_FORMAT, "%s: /%s/qt has %lld features, expected %lld", path, gp,
                          (long long)s->qt.f, (long long)ncols);
        gs_rng r;
        gs_rng_seed(&r, 0);
        if (!rc)
            rc = md_mlp_init(&s->g, &s->ps, "G", &wc.g, &r);
        if (!rc)
            rc = nn_group_load(g, "G", &s->ps, NULL);
        H5Gclose(g);
        psum += s->proportion;
    }
    if (!rc && !(psum > 0.999 && psum < 1.001))
        rc = gs_error(GS_ERR_FORMAT, "%s: sub-model proportions add up to %g", path, psum);
    for (int t = 0; t < MD_MAX_SHARDS && !rc; t++) /* empty until used */
        if (!(m->ctx[t] = nn_ctx_new()))
            rc = GS_ERR_NOMEM;
    gs_h5_close(f);
    free(kind);
    free(text);
    free(units);
    gs_h5_free_strv(cols, ncols);
    if (rc) {
        md_luxe_free(m);
        return gs_error_wrap(rc, "loading the model");
    }
    *out = m;
    return GS_OK;
}

int64_t md_luxe_n_features(const md_luxe_model *m) { return m->fs.f; }
const char *md_luxe_columns(const md_luxe_model *m) { return m->columns_csv; }

const char *md_luxe_column(const md_luxe_model *m, int64_t i)
{
    return i >= 0 && i < m->fs.f ? m->fs.columns[i] : NULL;
}

const char *md_luxe_unit(const md_luxe_model *m, int64_t i)
{
    if (i < 0 || i >= m->fs.f)
        return NULL;
    return m->has_units ? m->units[i] : "";
}
double md_luxe_particles_per_bx(const md_luxe_model *m) { return m->ppbx; }

/* Rows of one sub-model: generator -> inverse quantile -> input space, with
 * species drawn from the sub-model's shares. */
static int sample_sub_rows(md_luxe_model *m, int k, int64_t n, gs_rng *r, float *x, int32_t *pdg)
{
    sample_sub *s = &m->subs[k];
    const int64_t f = m->fs.f;
    int rc = md_mlp_generate(m->ctx, MD_MAX_SHARDS, &s->g, m->cfg.noise_dim, n, x, r);
    if (rc)
        return rc;
    /* the per-value transforms are independent: split rows over threads */
    const int64_t chunk = 8192;
    int fail = 0;
#pragma omp parallel for schedule(static) reduction(| : fail)
    for (int64_t i0 = 0; i0 < n; i0 += chunk) {
        int64_t cnt = n - i0 < chunk ? n - i0 : chunk;
        fail |= pp_quantile_inverse(&s->qt, x + i0 * f, x + i0 * f, cnt) != GS_OK;
        from_model_space(&m->fs, &s->ss, x + i0 * f, cnt);
    }
    if (fail)
        return gs_error(GS_ERR_NUMERIC, "inverse quantile transform failed");
    for (int64_t i = 0; i < n; i++) {
        double u = gs_rng_uniform(r), acc = 0;
        int j = 0;
        while (j + 1 < s->ncodes && (acc += s->probs[j]) <= u)
            j++;
        pdg[i] = s->ncodes ? s->codes[j] : 0;
    }
    return GS_OK;
}

int md_luxe_sample(md_luxe_model *m, int64_t n, uint64_t seed, ds_events *out)
{
    memset(out, 0, sizeof *out);
    if (n < 1)
        return gs_error(GS_ERR_ARG, "sample: need n >= 1, got %lld", (long long)n);
    const int64_t f = m->fs.f;
    int rc = ds_events_alloc(out, n, f, (const char *const *)m->fs.columns,
                             m->has_units ? (const char *const *)m->units : NULL, 1, 0);
    if (rc)
        return rc;
    out->particles_per_bx = m->ppbx;
    gs_rng r;
    gs_rng_seed(&r, seed);
    /* multinomial split of n over sub-models */
    int64_t counts[MAX_SUB] = {0};
    for (int64_t i = 0; i < n; i++) {
        double u = gs_rng_uniform(&r), acc = 0;
        int k = 0;
        while (k + 1 < m->n_sub && (acc += m->subs[k].proportion) <= u)
            k++;
        counts[k]++;
    }
    float *tmp = malloc((size_t)(n * f) * sizeof(float));
    int32_t *pdg = malloc((size_t)n * sizeof *pdg);
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    if (!tmp || !pdg || !perm) {
        rc = gs_error(GS_ERR_NOMEM, "sample: out of memory for %lld rows", (long long)n);
        goto out;
    }
    int64_t off = 0;
    for (int k = 0; k < m->n_sub && !rc; k++) {
        gs_rng rk = gs_rng_split(&r);
        if (counts[k])
            rc = sample_sub_rows(m, k, counts[k], &rk, tmp + off * f, pdg + off);
        off += counts[k];
    }
    if (rc)
        goto out;
    /* shuffle so that consecutive rows (bunch crossings) mix the sub-models */
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    gs_rng_shuffle_i64(&r, perm, n);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        memcpy(out->x + i * f, tmp + perm[i] * f, (size_t)f * sizeof(float));
        out->pdg[i] = pdg[perm[i]];
    }
out:
    free(tmp);
    free(pdg);
    free(perm);
    if (rc)
        ds_events_free(out);
    return rc;
}

int md_luxe_sample_bx(md_luxe_model *m, int64_t k, uint64_t seed, ds_events *out, int64_t **bx)
{
    *bx = NULL;
    if (!(m->ppbx > 0))
        return gs_error(GS_ERR_ARG, "the model has no particles_per_bx (the training file had "
                                    "no such attribute)");
    if (k < 1)
        return gs_error(GS_ERR_ARG, "need at least one bunch crossing");
    gs_rng r;
    gs_rng_seed(&r, seed ^ 0xB0B0B0B0ULL);
    int64_t *nper = malloc((size_t)k * sizeof *nper), total = 0;
    if (!nper)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < k; i++)
        total += nper[i] = (int64_t)gs_rng_poisson(&r, m->ppbx);
    if (total == 0) {
        free(nper);
        return gs_error(GS_ERR_ARG, "no particles in %lld crossings", (long long)k);
    }
    int rc = md_luxe_sample(m, total, seed, out);
    if (!rc && !(*bx = malloc((size_t)total * sizeof **bx)))
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    if (!rc)
        for (int64_t i = 0, row = 0; i < k; i++)
            for (int64_t j = 0; j < nper[i]; j++)
                (*bx)[row++] = i;
    free(nper);
    if (rc) {
        ds_events_free(out);
        free(*bx);
        *bx = NULL;
    }
    return rc;
}

/* LUXE: configuration, the training run (md_kind_luxe) and its checkpoints. */
#include "models/md_luxe_internal.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/md_export_internal.h"
#include "metrics/mt.h"
#include "models/md_budget.h"
#include "nn/nn_ckpt.h"

/* ---- configuration ------------------------------------------------------- */
#define F(k, t, m, lo, hi, ch, h) {k, t, offsetof(md_luxe_cfg, m), lo, hi, ch, h}
const md_cfg_field md_luxe_cfg_fields[] = {
    F("data.coords", MD_CFG_ENUM, coords, 0, 0, "cartesian,cylindrical,local",
      "momentum the GAN sees: px,py,pz; p,theta,phi_p (needs x,y,px,py,pz; gets |p|, "
      "E_kin and theta right); or local: p_r,p_phi,pz along and across the position's "
      "azimuth (ring regions)"),
    F("data.position", MD_CFG_ENUM, position, 0, 0, "region,cartesian,hole,disc",
      "region: each region's own coordinates (rings r,phi; rectangles x,y), so a particle "
      "never leaves its sub-model's region; cartesian: x,y everywhere (not confined); hole: "
      "as region but the outermost ring as u,v (the hole shrunk to a point: no azimuth seam, "
      "but x-y marginals that draw a cross); disc (the default): as region but the innermost "
      "disc as u,v on a square (elliptical grid map: a sharp or off-axis core stays "
      "point-like)"),
    F("data.log_features", MD_CFG_STR, log_features, 0, 0, NULL,
      "features trained as log10 (model-space names, comma list; may be empty; p exists "
      "with data.coords=cylindrical)"),
    F("data.columns", MD_CFG_STR, columns, 0, 0, NULL,
      "rename the data's columns as read, NEW=OLD pairs (x=X,t=time,pdg=PID; CSV headers)"),
    F("data.units", MD_CFG_STR, units, 0, 0, NULL,
      "units of the feature columns, in order or NAME=UNIT (for data without them, CSV)"),
    F("data.particles_per_bx", MD_CFG_FLOAT, particles_per_bx, 0, 1e15, NULL,
      "mean particles per bunch crossing (for data without it, CSV; 0 = as in the file)"),
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
      "EMA decay of the generator weights that are evaluated, kept and sampled (0 = off; "
      "step t uses min(decay, (1+t)/(10+t)))"),
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
    F("train.slices", MD_CFG_INT, slices, 0, 65536, NULL,
      "batch slices run in parallel over all threads and MPI ranks (0 = one per thread of "
      "each rank); fixed, the run is the same for any thread and rank count (at most 8 "
      "slices per rank)"),
    {NULL, 0, 0, 0, 0, NULL, NULL}};
#undef F

void md_luxe_cfg_default(md_luxe_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->coords = 1; /* |p|, theta, phi_p: E_kin and theta right (docs/results/luxe-split.md) */
    /* the inner disc as (u, v) on a square, the rings as (r, phi): at the demo
     * budget the mean KL went 5.4x -> 2.6x its floor on the demo toy (x 18x ->
     * 2.3x) and 4.1x -> 1.8x on the second toy (docs/results/luxe-split.md,
     * 2026-11-29 fourth session); the polar disc turned the halo's off-axis
     * cusp into a ring */
    c->position = 3;
    c->budget_power = 0.5;
    c->min_steps = 200;
    strcpy(c->log_features, "t,p");
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
    c->ema = 0.995; /* docs/results/luxe-split.md: with the 2x demo budget, mean KL 9.1x -> 5.4x */
    c->iters = 4000;
    c->kl_every = 200;
    c->kl_samples = 20000;
    c->ckpt_every = 500;
    c->holdout = 0.1;
    c->n_quantiles = 1000;
    c->seed = 1;
}

/* Defaults under a stored configuration: keys that files written before them
 * lack take the behaviour those files were trained with (x, y unconfined,
 * steps shared equally); a newer file names every key. */
static void cfg_stored_default(void *cfg)
{
    md_luxe_cfg *c = cfg;
    md_luxe_cfg_default(c);
    c->coords = 0;
    strcpy(c->log_features, "t");
    c->position = 1;
    c->ema = 0;
    c->budget_power = 0;
    c->min_steps = 0;
}

md_wgan_cfg md_luxe_wgan_cfg(const md_luxe_cfg *c, int64_t f)
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
    w.shards = (int)c->slices;
    return w;
}

/* ---- training data ------------------------------------------------------------ */
static void data_opts(const void *cfg, ds_read_opts *o)
{
    const md_luxe_cfg *c = cfg;
    if (c->columns[0])
        o->columns = c->columns;
    if (c->units[0])
        o->units = c->units;
    if (c->particles_per_bx > 0)
        o->particles_per_bx = c->particles_per_bx;
}

static int data_read(const char *path, const ds_read_opts *o, void **out)
{
    *out = NULL;
    ds_events *ev = malloc(sizeof *ev);
    if (!ev)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    const size_t n = strlen(path);
    int rc = n >= 4 && !strcmp(path + n - 4, ".csv") ? ds_events_read_csv(path, o, ev)
                                                     : ds_events_read(path, o, ev);
    if (rc) {
        free(ev);
        return rc;
    }
    *out = ev;
    return GS_OK;
}

static void data_free(void *data)
{
    if (data)
        ds_events_free(data);
    free(data);
}

static void data_describe(const void *data, char *buf, size_t n)
{
    const ds_events *ev = data;
    snprintf(buf, n, "%lld events, %lld features", (long long)ev->n, (long long)ev->f);
}

/* ---- training state ------------------------------------------------------- */
typedef struct {
    md_luxe_plan plan;
    md_luxe_subspace ss;
    pp_quantile qt;
    md_wgan w;
    nn_params best_ps;
    md_mlp best_g;
    float *train, *train_w, *hold, *hold_w;
    int64_t n_train, n_hold;
    md_sampler sampler;
    double kl_floor;             /* the evaluation's KL, held-out vs as many training rows */
} sub_state;

/* The run's state: the sub-models (the driver's parts, in the same order). */
typedef struct {
    md_luxe_fspace fs;
    sub_state *subs;         /* [n_sub] */
    int n_sub;
    char notes[4096];        /* cells too small to model (train.log header) */
    float *gen;              /* generated rows of an evaluation [kl_samples, f] */
} luxe_state;

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
                       const md_luxe_fspace *fs, int sub_index, int qt_loaded)
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
    md_luxe_subspace_init(&s->ss, fs, &s->plan.frame);
    if ((rc = md_luxe_to_model_space(fs, &s->ss, all, n, s->plan.name)))
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
    /* The noise floor of the evaluation's KL: the held-out rows against as
     * many rows as an evaluation generates, taken from the (shuffled)
     * training split, in the same model space. A generator at this value is
     * as close to the held-out data as a second real sample. */
    {
        int64_t ng = s->n_hold * 4 < cfg->kl_samples ? s->n_hold * 4 : cfg->kl_samples;
        if (ng > s->n_train)
            ng = s->n_train;
        mt_compare_opts mo = mt_compare_defaults();
        mt_feature_metrics fm[64];
        s->kl_floor = NAN;
        if (ng > 0 && f <= 64 &&
            !mt_compare_table(s->hold, s->hold_w, NULL, s->n_hold, s->train, s->train_w, NULL,
                              ng, f, &mo, fm)) {
            s->kl_floor = 0;
            for (int64_t j = 0; j < f; j++)
                s->kl_floor += fm[j].kl / (double)f;
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
 * /            attrs gansim_kind, gansim_version, config, state (the driver's),
 *              columns, units, particles_per_bx, n_sub, current
 * /sub<k>      attrs name, region, codes, probs, n_rows, weight, proportion,
 *              best_kl, best_step, steps_budget
 * /sub<k>/qt   the quantile transform
 * /sub<k>/G    the generator used for sampling (best by KL, or EMA)
 * /sub<k>/train   (last.h5 only) the whole WGAN state and best snapshot */
static int write_csv_attr(hid_t loc, const char *name, char *const *v, int64_t n)
{
    char *s = gs_h5_join_csv(v, n);
    if (!s)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    int rc = gs_h5_attr_write_str(loc, ".", name, s);
    free(s);
    return rc;
}

static int write_sub(hid_t f, const sub_state *s, const md_part *part, int k, int with_train)
{
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
        rc = gs_h5_attr_write_f64(g, ".", "best_kl", part->best);
    if (!rc)
        rc = gs_h5_attr_write_i64(g, ".", "best_step", part->best_step);
    if (!rc)
        rc = gs_h5_attr_write_i64(g, ".", "steps_budget", part->steps);
    if (!rc)
        rc = pp_frame_save(&s->plan.frame, g);
    if (!rc && !(rc = gs_h5_group_create(g, "qt", &q))) {
        rc = pp_quantile_save(&s->qt, q);
        H5Gclose(q);
    }
    /* the sampling generator: the best snapshot once there is one */
    const nn_params *sample_ps = part->best_step >= 0 ? &s->best_ps
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

static int luxe_save(const md_run *run, hid_t f, int with_train)
{
    const luxe_state *st = run->state;
    const ds_events *ev = run->data;
    int rc = write_csv_attr(f, "columns", st->fs.columns, st->fs.f);
    if (!rc && ev->units)
        rc = write_csv_attr(f, "units", ev->units, st->fs.f);
    if (!rc)
        rc = gs_h5_attr_write_f64(f, ".", "particles_per_bx", ev->particles_per_bx);
    if (!rc)
        rc = gs_h5_attr_write_i64(f, ".", "n_sub", st->n_sub);
    if (!rc)
        rc = gs_h5_attr_write_i64(f, ".", "current", run->current);
    for (int k = 0; !rc && k < st->n_sub; k++)
        rc = write_sub(f, &st->subs[k], &run->parts[k], k, with_train);
    return rc;
}

/* Restores the training state of every sub-model from last.h5. */
static int load_training(hid_t f, md_run *run)
{
    luxe_state *st = run->state;
    char path[1024] = "last.h5";
    if (H5Fget_name(f, path, sizeof path) < 0)
        strcpy(path, "last.h5");
    int64_t n_sub = 0;
    int rc = gs_h5_attr_read_i64(f, ".", "n_sub", &n_sub);
    if (!rc && n_sub != st->n_sub)
        rc = gs_error(GS_ERR_FORMAT, "%s: %lld sub-models, but the data give %d (different "
                      "data or config?)", path, (long long)n_sub, st->n_sub);
    for (int k = 0; !rc && k < st->n_sub; k++) {
        sub_state *s = &st->subs[k];
        md_part *part = &run->parts[k];
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
            rc = gs_h5_attr_read_f64(g, ".", "best_kl", &part->best);
        if (!rc)
            rc = gs_h5_attr_read_i64(g, ".", "best_step", &part->best_step);
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
        part->step = s->w.step;
    }
    return rc;
}

/* Sub-model k's training state (its "train" group of last.h5) into g, and
 * back: how a rank that trained it hands it to rank 0 under
 * --distribute submodels (md_kind.save_part / load_part). The rest of the
 * sub-model (plan, quantile transform) every rank builds alike from the data. */
static int luxe_save_part(const md_run *run, int k, hid_t g)
{
    const sub_state *s = &((const luxe_state *)run->state)->subs[k];
    hid_t t;
    int rc = gs_h5_group_create(g, "train", &t);
    if (rc)
        return rc;
    rc = md_wgan_save(&s->w, t);
    if (!rc)
        rc = nn_group_save(t, "best", &s->best_ps, NULL);
    H5Gclose(t);
    return rc;
}

static int luxe_load_part(md_run *run, int k, hid_t g)
{
    sub_state *s = &((luxe_state *)run->state)->subs[k];
    hid_t t;
    int rc = gs_h5_group_open(g, "train", &t);
    if (rc)
        return rc;
    rc = md_wgan_load(&s->w, t);
    if (!rc)
        rc = nn_group_load(t, "best", &s->best_ps, NULL);
    H5Gclose(t);
    if (!rc && s->w.step != run->parts[k].step)
        rc = gs_error(GS_ERR_FORMAT, "sub-model %s: its state is at step %lld, its record "
                      "says %lld", s->plan.name, (long long)s->w.step,
                      (long long)run->parts[k].step);
    return rc;
}

/* ---- the training run (md_run.h) ------------------------------------------ */
static void luxe_free(md_run *run)
{
    luxe_state *st = run->state;
    if (!st)
        return;
    for (int k = 0; k < MD_LUXE_MAX_SUB; k++)
        sub_free(&st->subs[k]);
    free(st->subs);
    free(st->gen);
    md_luxe_fspace_free(&st->fs);
    free(st);
    run->state = NULL;
}

static int luxe_init(md_run *run, hid_t from)
{
    const md_luxe_cfg *cfg = run->cfg;
    const ds_events *ev = run->data;
    if (ev->n < 2)
        return gs_error(GS_ERR_ARG, "luxe: need at least 2 events, got %lld", (long long)ev->n);
    luxe_state *st = calloc(1, sizeof *st);
    md_luxe_plan *plan = calloc(MD_LUXE_MAX_SUB, sizeof *plan);
    if (st)
        st->subs = calloc(MD_LUXE_MAX_SUB, sizeof *st->subs);
    if (!st || !plan || !st->subs) {
        free(plan);
        if (st)
            free(st->subs);
        free(st);
        return gs_error(GS_ERR_NOMEM, "luxe: out of memory");
    }
    run->state = st;
    md_luxe_regions rg;
    int rc, n_sub = 0;
    if ((rc = md_luxe_fspace_init(&st->fs, cfg, ev->columns, ev->f)) ||
        (rc = md_luxe_regions_init(&rg, cfg)) ||
        (rc = md_luxe_plan_subs(cfg, ev, &st->fs, &rg, plan, &n_sub, st->notes,
                                sizeof st->notes)))
        goto out;
    /* dropped cells go to the user (stderr) as well as to train.log */
    if (st->notes[0]) {
        int n_drop = 0;
        for (const char *q = st->notes; *q;) {
            const char *nl = strchr(q, '\n');
            const int len = nl ? (int)(nl - q) : (int)strlen(q);
            md_run_note(run, "%.*s", len, q);
            n_drop++;
            q += len + (nl != NULL);
        }
        int64_t kept = 0;
        for (int k = 0; k < n_sub; k++)
            kept += plan[k].n_rows;
        md_run_note(run, "%d sub-model%s dropped: %lld of %lld particles (%.2f %%) are not "
                    "modelled and will not be sampled", n_drop, n_drop == 1 ? "" : "s",
                    (long long)(ev->n - kept), (long long)ev->n,
                    100.0 * (double)(ev->n - kept) / (double)ev->n);
    }
    const int64_t f = ev->f;
    md_wgan_cfg wc = md_luxe_wgan_cfg(cfg, f);
    wc.rank = run->par.rank; /* data-parallel: this rank's slices of each batch */
    wc.n_ranks = run->par.n_ranks;
    st->n_sub = run->n_parts = n_sub;
    int64_t rows[MD_LUXE_MAX_SUB], budget[MD_LUXE_MAX_SUB];
    int n_low = 0;
    for (int k = 0; k < n_sub; k++)
        rows[k] = plan[k].n_rows;
    if ((rc = md_step_budget(rows, n_sub, cfg->iters, cfg->budget_power, cfg->min_steps, budget,
                             &n_low)))
        goto out;
    /* 0 steps is the driver's to refuse (md_train_opts.allow_untrained) */
    for (int k = 0; k < n_sub && n_low; k++)
        if (budget[k] > 0 && budget[k] < cfg->min_steps)
            md_run_note(run, "WARNING: sub-model %s gets %lld generator steps, under "
                        "train.min_steps = %lld (train.iters = %lld for %d sub-models): it "
                        "will be poorly trained", plan[k].name, (long long)budget[k],
                        (long long)cfg->min_steps, (long long)cfg->iters, n_sub);
    for (int k = 0; k < n_sub; k++) {
        sub_state *s = &st->subs[k];
        s->plan = plan[k];
        plan[k].rows = NULL; /* ownership moved */
        snprintf(run->parts[k].name, sizeof run->parts[k].name, "%s", s->plan.name);
        run->parts[k].steps = budget[k];
        run->parts[k].min_steps = cfg->min_steps;
        if ((rc = md_wgan_init(&s->w, &wc, (uint64_t)cfg->seed * 1000 + (uint64_t)k)))
            goto out;
        s->w.reduce = (md_wgan_reduce){run->par.reduce_grads, run->par.ud};
        nn_params_init(&s->best_ps);
        gs_rng tmp = s->w.rng;
        md_mlp_cfg gcfg = s->w.cfg.g;
        if ((rc = md_mlp_init(&s->best_g, &s->best_ps, "G", &gcfg, &tmp)))
            goto out;
    }
    if (from >= 0 && (rc = load_training(from, run)))
        goto out;
    if (!(st->gen = malloc((size_t)(cfg->kl_samples * f) * sizeof(float)))) {
        rc = gs_error(GS_ERR_NOMEM, "luxe: out of memory");
        goto out;
    }
    /* Every sub-model's data first: the quantile transforms must exist for
     * any checkpoint (and a bad feature fails before training). */
    for (int k = 0; k < n_sub; k++)
        if ((rc = sub_prepare(&st->subs[k], cfg, ev, &st->fs, k, from >= 0)))
            goto out;
    run->eval_every = cfg->kl_every;
    run->ckpt_every = cfg->ckpt_every;
out:
    for (int k = 0; k < MD_LUXE_MAX_SUB; k++)
        free(plan[k].rows);
    free(plan);
    return rc;
}

static int luxe_step(md_run *run, int k, md_losses *out)
{
    luxe_state *st = run->state;
    sub_state *s = &st->subs[k];
    md_wgan_losses L;
    int rc = md_wgan_step(&s->w, s->train, &s->sampler, &L);
    *out = (md_losses){4, {L.loss_d, L.loss_g, L.gp, L.wdist}};
    if (!rc) /* data-parallel: the ranks' copies must be equal at checkpoints */
        rc = md_run_check_same(run, k, &s->w.gp);
    if (!rc)
        rc = md_run_check_same(run, k, &s->w.dp);
    return rc;
}

static int luxe_evaluate(md_run *run, int k, md_record *rec, double *score)
{
    const md_luxe_cfg *cfg = run->cfg;
    luxe_state *st = run->state;
    sub_state *s = &st->subs[k];
    const int64_t f = st->fs.f, max_gen = cfg->kl_samples;
    const int64_t ng = s->n_hold * 4 < max_gen ? s->n_hold * 4 : max_gen;
    double kl[64];
    int rc = sub_evaluate(s, cfg, k, st->gen, ng, score, kl, f);
    for (int64_t j = 0; !rc && j < f; j++) {
        char key[96];
        snprintf(key, sizeof key, "kl_%s", s->ss.mname[j]);
        md_record_add(rec, key, kl[j]);
    }
    if (!rc) {
        md_record_add(rec, "kl_mean", *score);
        md_record_add(rec, "kl_floor", s->kl_floor); /* real vs real, for the curves */
    }
    return rc;
}

static int luxe_keep_best(md_run *run, int k)
{
    luxe_state *st = run->state;
    sub_state *s = &st->subs[k];
    return nn_params_copy(&s->best_ps, s->w.cfg.ema > 0 ? &s->w.ep : &s->w.gp);
}

static void luxe_log_header(const md_run *run, FILE *log)
{
    const luxe_state *st = run->state;
    fprintf(log, "# gansim %s luxe_wgan: %d sub-models\n", GANSIM_VERSION, st->n_sub);
    for (int k = 0; k < st->n_sub; k++)
        fprintf(log, "# sub=%s rows=%lld proportion=%.6f steps=%lld\n", st->subs[k].plan.name,
                (long long)st->subs[k].plan.n_rows, st->subs[k].plan.proportion,
                (long long)run->parts[k].steps);
    /* st->notes reach train.log through md_run_note */
}

int md_luxe_train(const md_luxe_cfg *cfg, const ds_events *ev, const md_train_opts *opts,
                  int *stopped)
{
    return md_train(&md_kind_luxe, cfg, ev, opts, stopped);
}

static void cfg_default(void *cfg) { md_luxe_cfg_default(cfg); }

static const char *const loss_names[] = {"loss_d", "loss_g", "gp", "wdist", NULL};
static const char *const loss_labels[] = {"D", "G", NULL, "W", NULL};

const md_kind md_kind_luxe = {
    .name = "luxe",
    .file_kind = "luxe_wgan",
    .summary = "LUXE background: dense WGANs on a particle table, one per region and species",
    .cfg_fields = md_luxe_cfg_fields,
    .cfg_size = sizeof(md_luxe_cfg),
    .cfg_default = cfg_default,
    .cfg_stored_default = cfg_stored_default,
    .data_help = "HDF5 event table (or a .csv event table)",
    .data_read = data_read,
    .data_opts = data_opts,
    .data_free = data_free,
    .data_describe = data_describe,
    .loss_names = loss_names,
    .loss_labels = loss_labels,
    .score_name = "kl_mean",
    .score_label = "KL",
    .parts_in_log = 1,
    .init = luxe_init,
    .step = luxe_step,
    .evaluate = luxe_evaluate,
    .keep_best = luxe_keep_best,
    .log_header = luxe_log_header,
    .save = luxe_save,
    .save_part = luxe_save_part,
    .load_part = luxe_load_part,
    .free = luxe_free,
    .open = md_luxe_open,
    .close = md_luxe_close,
    .events = &md_luxe_events,
    .export_onnx = md_export_luxe,
};

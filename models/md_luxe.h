/* md_luxe — the LUXE beam-dump background fast simulation (docs/luxe.md).
 *
 * Pipeline: events -> optional cylindrical coordinates -> per-feature log10
 * -> split into sub-models by region (radius rings or x–y rectangles) and
 * species -> quantile transform (to a normal) per sub-model -> one WGAN per
 * sub-model -> KL per feature on a held-out slice every K steps (best
 * generator kept) -> one checkpoint holding everything needed to sample:
 * generators, transforms, split definitions and proportions.
 *
 * Sampling draws each sub-model in the proportion of its (weighted) share of
 * the training data, inverts the transforms and returns an event table with
 * the input's columns, units and species. */
#ifndef MD_LUXE_H
#define MD_LUXE_H

#include "datasets/ds.h"
#include "models/md_config.h"
#include "models/md_run.h"
#include "models/md_wgan.h"
#include "preprocess/pp.h"

typedef struct {
    /* data */
    int coords;                     /* momentum: 0 cartesian, 1 cylindrical, 2 local */
    int position;                   /* 0 region frames (confined), 1 cartesian, 2 region, outermost ring as hole frame,
                                       3 region, innermost disc as disc frame */
    char log_features[MD_STR_MAX];  /* comma list of (model-space) feature names */
    /* import of the training file (ds_read_opts; stored with the run, so
     * --resume reads the data the same way) */
    char columns[MD_STR_MAX];       /* "NEW=OLD,..." renames ("" = as in the file) */
    char units[MD_STR_MAX];         /* units of the features ("" = as in the file) */
    double particles_per_bx;        /* 0 = as in the file */
    /* split */
    int region_mode;                /* 0 none, 1 radius, 2 rects */
    char radii[MD_STR_MAX];         /* "500" or "300,1000" (mm): rings */
    char rects[MD_STR_MAX];         /* "-1700<x<500,y<500;..." the rest is a last region */
    int split_species;
    int64_t min_species_rows;       /* rarer species share one "other" sub-model */
    int64_t min_rows;               /* smaller cells are not trained (dropped, with a note) */
    /* networks */
    int64_t noise_dim;
    md_ivec g_widths, d_widths;
    double slope;
    int g_norm, d_norm;             /* 0 none, 1 layernorm */
    /* training */
    int loss;                       /* 0 wgan-gp, 1 wgan-clip */
    double lambda_gp, clip;
    int64_t n_critic, batch;
    double lr_g, lr_d, beta1, beta2, ema;
    int64_t iters;                  /* total generator steps over all sub-models */
    double budget_power;            /* steps ~ rows^power (md_step_budget) */
    int64_t min_steps;              /* floor per sub-model (md_step_budget) */
    int64_t kl_every, kl_samples, ckpt_every;
    double holdout;
    int64_t n_quantiles;
    int qt_output;                  /* 0 normal, 1 uniform */
    int64_t seed;
    int64_t slices;                 /* data-parallel batch slices; 0 = one per thread */
} md_luxe_cfg;

extern const md_cfg_field md_luxe_cfg_fields[];
void md_luxe_cfg_default(md_luxe_cfg *c);

/* The model kind (md_run.h): gansim-train luxe, model files "luxe_wgan". */
extern const md_kind md_kind_luxe;

/* Trains on ev (md_train with md_kind_luxe). Returns GS_OK also when
 * stopped through opts->stop (then *stopped != 0 and last.h5 holds the
 * state to resume from). */
int md_luxe_train(const md_luxe_cfg *cfg, const ds_events *ev, const md_train_opts *opts,
                  int *stopped);

/* ---- sampling ---- */
typedef struct md_luxe_model md_luxe_model;

int md_luxe_load(const char *path, md_luxe_model **m);
void md_luxe_free(md_luxe_model *m);
int64_t md_luxe_n_features(const md_luxe_model *m);
const char *md_luxe_columns(const md_luxe_model *m);   /* "x,y,px,py,pz,t" */
/* Name and unit of column i ("" when the training file had no units); NULL out of range. */
const char *md_luxe_column(const md_luxe_model *m, int64_t i);
const char *md_luxe_unit(const md_luxe_model *m, int64_t i);
double md_luxe_particles_per_bx(const md_luxe_model *m);
/* n particles in training proportions (rows shuffled), original coordinates
 * and units, with species. Deterministic for a seed and thread count. */
int md_luxe_sample(md_luxe_model *m, int64_t n, uint64_t seed, ds_events *out);
/* k bunch crossings, each Poisson(particles_per_bx) particles; bx[i] is the
 * crossing of row i (malloc'd, caller frees). */
int md_luxe_sample_bx(md_luxe_model *m, int64_t k, uint64_t seed, ds_events *out, int64_t **bx);

/* ---- productions in chunks (gansim-sample; models/md_produce.h) ----
 * An n-particle production is a sequence of chunks of MD_LUXE_CHUNK rows
 * (the last one shorter). Chunk c is drawn from a stream of its own, a
 * function of (seed, c) only — the seed itself for chunk 0, so a production
 * of up to MD_LUXE_CHUNK particles is what gansim drew before chunks —
 * with its own multinomial split over the sub-models and its own shuffle.
 * A production of k bunch crossings is chunks of md_luxe_bx_per_chunk
 * whole crossings (about MD_LUXE_CHUNK particles; one crossing when a
 * crossing is larger); bx counts crossings from 0 over the production.
 * md_luxe_sample / md_luxe_sample_bx return the chunks one after the other,
 * so any chunk, made anywhere, is the same rows as in a whole production. */
#define MD_LUXE_CHUNK 65536
int64_t md_luxe_n_chunks(const md_luxe_model *m, int64_t n);
int md_luxe_sample_chunk(md_luxe_model *m, int64_t n, uint64_t seed, int64_t c, ds_events *out);
int64_t md_luxe_bx_per_chunk(const md_luxe_model *m);
int64_t md_luxe_n_bx_chunks(const md_luxe_model *m, int64_t k);
/* Chunk c of k crossings: out and *bx (malloc'd) may have 0 rows. */
int md_luxe_sample_bx_chunk(md_luxe_model *m, int64_t k, uint64_t seed, int64_t c, ds_events *out,
                            int64_t **bx);

/* ---- the inference form (for exporters, models/md_export_luxe.c) ---- */
/* One sub-model's particles from noise: x = G(z) (md_mlp), then the inverse
 * quantile transform of each feature, then back from model space: 10^x for
 * the sub-model's log features, (p, theta, phi_p) -> (px, py, pz) when the
 * model is cylindrical (and (r, phi) -> (x, y) where cyl.x >= 0: models
 * with data.position=cartesian), then the sub-model's region frame inverse
 * (pp_frame_inverse on the columns fcols: a polar frame's (r, phi) -> (x, y)
 * with phi + phi0, r kept in [r_lo, r_hi), and (p_r, p_phi) -> (px, py) with
 * local_p; a box frame moves values on its edges inside by an ulp). */
typedef struct {
    int64_t n_features, noise_dim;
    int n_sub;
    int cylindrical;
    pp_cyl_cols cyl;            /* column indices, -1 where absent */
    pp_frame_cols fcols;        /* x, y, px, py for the frames; x = -1: no frames */
    int region_mode;            /* split.regions: 0 none, 1 radius, 2 rects */
    const char *radii, *rects;  /* split.radii (mm), split.rects as configured */
} md_luxe_inference;

typedef struct {
    const md_mlp *g;
    const pp_quantile *qt;
    double proportion;          /* share of all particles */
    int ncodes;
    const int32_t *codes;       /* PDG ids of the sub-model's species */
    const double *probs;        /* their shares within the sub-model */
    const uint8_t *log_col;     /* [n_features]: 1 = log10 in its model space */
    const pp_frame *frame;      /* its region frame */
} md_luxe_sub;

int md_luxe_inference_view(const md_luxe_model *m, md_luxe_inference *v);
int md_luxe_sub_view(const md_luxe_model *m, int k, md_luxe_sub *v);
/* Sub-model k on given noise z [n, noise_dim] -> out [n, n_features] in the
 * input's columns and units (what md_luxe_sample makes from its own draws). */
int md_luxe_sub_generate(md_luxe_model *m, int k, const float *z, int64_t n, float *out);
/* Sub-model k's model space -> input space on t [n, n_features], in place
 * (what follows the inverse quantile transform). */
void md_luxe_sub_from_model_space(const md_luxe_model *m, int k, float *t, int64_t n);

#endif

/* md_luxe internals shared by its files (not installed):
 *   md_luxe_plan.c    feature space (coordinates, log features) and the split
 *                     of the events into sub-models (regions x species)
 *   md_luxe.c         configuration, the training run (the md_kind_luxe entry)
 *                     and its checkpoints
 *   md_luxe_sample.c  loading a model file and sampling it */
#ifndef MD_LUXE_INTERNAL_H
#define MD_LUXE_INTERNAL_H

#include "models/md_luxe.h"

#define MD_LUXE_MAX_SUB 64
#define MD_LUXE_MAX_CODES 64

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
} md_luxe_fspace;

/* What one sub-model trains on: its frame and, per column, the model-space
 * name and whether it is trained as log10. */
typedef struct {
    pp_frame frame;
    const char *mname[64];   /* point into the fspace or static strings */
    uint8_t log_col[64];
} md_luxe_subspace;

/* Columns from the input's names and the configuration (position, coords,
 * log_features: every name must be a model-space feature of some frame). */
int md_luxe_fspace_init(md_luxe_fspace *s, const md_luxe_cfg *cfg, char *const *columns,
                        int64_t f);
void md_luxe_fspace_free(md_luxe_fspace *s);
/* The model space of a sub-model trained in frame fr (phi0 already set). */
void md_luxe_subspace_init(md_luxe_subspace *ss, const md_luxe_fspace *fs, const pp_frame *fr);
/* input space -> model space, in place; fails on non-positive log features */
int md_luxe_to_model_space(const md_luxe_fspace *s, const md_luxe_subspace *ss, float *t,
                           int64_t n, const char *what);
void md_luxe_from_model_space(const md_luxe_fspace *s, const md_luxe_subspace *ss, float *t,
                              int64_t n);

/* ---- sub-model planning ---------------------------------------------------- */
typedef struct {
    char name[64];
    int region;
    int ncodes;
    int32_t codes[MD_LUXE_MAX_CODES];
    double probs[MD_LUXE_MAX_CODES];     /* species shares within the sub-model */
    int64_t n_rows;
    double weight;
    double proportion;
    pp_frame frame;              /* its region's coordinates (phi0 fitted on its rows) */
    int64_t *rows;               /* indices into the event table (planning only) */
} md_luxe_plan;

typedef struct {
    int n_regions;
    char region_names[MD_LUXE_MAX_SUB][32];
    double radii[MD_LUXE_MAX_SUB];
    int nradii;
    pp_rect rects[MD_LUXE_MAX_SUB];
    int nrect;
    /* rects: the plane in disjoint rectangles (pp_rect_pieces); each is a region */
    pp_rect pieces[MD_LUXE_MAX_SUB];
    int32_t piece_of[MD_LUXE_MAX_SUB]; /* the rectangle (nrect = the rest) a piece lies in */
    pp_frame frame[MD_LUXE_MAX_SUB];   /* each region's frame */
} md_luxe_regions;

int md_luxe_regions_init(md_luxe_regions *r, const md_luxe_cfg *cfg);
/* Groups rows into sub-models: each row gets a cell = (region, species
 * group); cells with enough rows become sub-models (plan[0..*n_plan-1], each
 * with its malloc'd rows), in region-major order. Cells too small to model
 * are named in notes. */
int md_luxe_plan_subs(const md_luxe_cfg *cfg, const ds_events *ev, const md_luxe_fspace *fs,
                      const md_luxe_regions *rg, md_luxe_plan *plan, int *n_plan, char *notes,
                      size_t nnotes);

/* Sampling (md_luxe_sample.c): the kind's open/close and event ops. */
int md_luxe_open(const char *path, void **model);
void md_luxe_close(void *model);
extern const md_events_ops md_luxe_events;

/* The WGAN of one sub-model with f features. */
md_wgan_cfg md_luxe_wgan_cfg(const md_luxe_cfg *c, int64_t f);

#endif

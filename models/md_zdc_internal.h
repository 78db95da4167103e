/* md_zdc internals shared by its files (not installed):
 *   md_zdc.c         configuration, the training state and step, evaluation,
 *                    the md_kind_zdc entry
 *   md_zdc_nets.c    the generator, discriminator and auxiliary regressor
 *   md_zdc_reg.c     the regularisers (SDI diversity, intensity, auxiliary)
 *                    and the diversity weights
 *   md_zdc_ckpt.c    checkpoint files: saving and restoring the training state
 *   md_zdc_sample.c  generation, the folded inference generator, model files
 *   md_zdc_shared.c  what zdc and zdc-flow (md_zdcflow.c) share: chunked
 *                    production with its noise cursor, checkpoint pieces */
#ifndef MD_ZDC_INTERNAL_H
#define MD_ZDC_INTERNAL_H

#include "metrics/mt.h"
#include "models/md_zdc.h"

int md_zdc_check_cfg(const md_zdc_cfg *c);

/* Groups of rows with bit-identical conditions: gid[i] in 0..*ng-1, numbered
 * in order of the sorted conditions (independent of row order). */
int md_zdc_cond_groups(const float *cond, int64_t n, int64_t c, int64_t *gid, int64_t *ng);

/* The image-set data ops of the ZDC kinds' md_kind entries (zdc, zdc-flow):
 * read a ds_images (heap-allocated, *out), free it, describe it in one line. */
int md_zdc_data_read(const char *path, const ds_read_opts *o, void **out);
void md_zdc_data_free(void *data);
void md_zdc_data_describe(const void *data, char *buf, size_t n);

/* k images per condition row (standardised conditions), in eval mode without
 * gradients, mapped back to pixel space: out [n·k, h·w]. */
int md_zdc_generate(nn_ctx *c, const md_zdc_gen *g, const float *cond, int64_t n, int64_t k,
                    gs_rng *r, float *out);

/* ---- training state ------------------------------------------------------------ */
typedef struct {
    const md_run *run;             /* for md_run_reduce */
    md_zdc_cfg cfg;
    int64_t nc, h, w, px;
    md_zdc_gen g, best;
    md_zdc_gen ema; /* weight average of g (train.ema > 0) */
    md_zdc_disc d;
    md_zdc_aux r;
    nn_optim og, od, orr;
    nn_ctx *ctx;
    gs_rng rng;
    pp_scaler scaler;
    int64_t step;                  /* == the driver's parts[0].step */
    /* data: training rows in training space, held-out rows for evaluation */
    int64_t n_train, n_hold, n_eval;
    float *tx, *tc, *ts, *tsum, *tcoord;
    double mean_s;
    float *hx, *hc, *gen;
    /* batch buffers (allocated once; sized for the doubled SDI batch) */
    float *bx, *bc, *bz, *bs, *bsum, *bcoord, *ones, *zeros;
} md_zdc_state;


/* The generator that is evaluated, snapshotted and sampled: the weight
 * average when train.ema > 0, else g itself. */
const md_zdc_gen *md_zdc_eval_gen(const md_zdc_state *s);

/* The kind's save (md_kind.save) and the restore of a training state from
 * an open last.h5 (md_zdc_ckpt.c). */
int md_zdc_save(const md_run *run, hid_t f, int with_train);
int md_zdc_load_state(hid_t f, md_run *run);

/* Sampling (md_zdc_sample.c): the kind's open/close and image ops. */
int md_zdc_open(const char *path, void **model);
void md_zdc_close(void *model);
extern const md_images_ops md_zdc_images;

/* ---- shared by the ZDC kinds, zdc and zdc-flow (md_zdc_shared.c) --------------- */
/* A kind's generator: images [img0, img1) of a production of k images per
 * condition row, in pixel space (out [img1 − img0, h·w]), cond the scaled
 * conditions from row cond0 on, r the production's noise stream standing at
 * image img0. */
typedef int (*md_zdc_gen_fn)(void *model, const float *cond, int64_t cond0, int64_t k,
                             int64_t img0, int64_t img1, gs_rng *r, float *out);

typedef struct {
    void *model;
    md_zdc_gen_fn gen;
    const pp_scaler *scaler;       /* conditions, original units -> the model's */
    int64_t h, w, nc;
    int64_t chunk;                 /* images per production chunk */
    /* how gen draws its noise (to skip to a chunk): one gs_rng_fill_normal
     * of draw_n numbers per draw_images images; chunk % draw_images == 0 */
    int64_t draw_images, draw_n;
} md_zdc_producer;

/* Where a sampling handle's noise stream stands between chunks (img: its
 * next image of seed's production, -1 for none), and the chunk's scaled
 * conditions. */
typedef struct {
    gs_rng rng;
    uint64_t seed;
    int64_t img;
    float *cs;
    int64_t cs_cap;
} md_zdc_cursor;

void md_zdc_cursor_init(md_zdc_cursor *c);
void md_zdc_cursor_free(md_zdc_cursor *c);
/* k images per condition row (n rows, original units): out gets n·k images,
 * row i·k + j for condition i, and the conditions alongside; GS_ERR_ARG for
 * n or k < 1. */
int md_zdc_produce(const md_zdc_producer *p, const float *cond, int64_t n, int64_t k,
                   uint64_t seed, ds_images *out);
int64_t md_zdc_produce_n_chunks(const md_zdc_producer *p, int64_t n, int64_t k);
/* Chunk c (images [c·chunk, ...)) of md_zdc_produce's production, the same
 * images whatever chunks were asked before; cheapest for increasing c. */
int md_zdc_produce_chunk(const md_zdc_producer *p, md_zdc_cursor *cur, const float *cond,
                         int64_t n, int64_t k, uint64_t seed, int64_t c, ds_images *out);
/* Concurrent single-threaded jobs for n_jobs: min(threads, max_slots, n_jobs), >= 1. */
int md_zdc_job_width(int64_t n_jobs, int max_slots);

/* A parameter set of /train in last.h5, with its optimizer moments or NULL. */
typedef struct {
    const char *name;
    nn_params *ps;
    nn_optim *o;
} md_zdc_ckpt_set;

/* The root attributes both kinds write (cond_columns, height, width, n_cond,
 * step, best_step and best_w1 of run->parts[0]) and /scaler. */
int md_zdc_ckpt_save_head(hid_t f, const md_run *run, int64_t nc, int64_t h, int64_t w,
                          int64_t step, const pp_scaler *scaler);
/* /train with the sets, the RNG and attribute n_train; *train is the open
 * group for the kind's extras (the caller closes it), -1 on failure. */
int md_zdc_ckpt_save_train(hid_t f, const md_zdc_ckpt_set *sets, int n_sets, const gs_rng *rng,
                           int64_t n_train, hid_t *train);
/* The restore: best_step / best_w1 into run->parts[0], /train's n_train
 * checked against n_train (GS_ERR_FORMAT naming the file), the step, the
 * sets and the RNG; *train as for saving. */
int md_zdc_ckpt_load_train(hid_t f, md_run *run, int64_t n_train, int64_t *step,
                           const md_zdc_ckpt_set *sets, int n_sets, gs_rng *rng, hid_t *train);

#endif

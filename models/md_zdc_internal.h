/* md_zdc internals shared by its files (not installed):
 *   md_zdc.c         configuration, the training state and step, evaluation,
 *                    the md_kind_zdc entry
 *   md_zdc_nets.c    the generator, discriminator and auxiliary regressor
 *   md_zdc_reg.c     the regularisers (SDI diversity, intensity, auxiliary)
 *                    and the diversity weights
 *   md_zdc_ckpt.c    checkpoint files: saving and restoring the training state
 *   md_zdc_sample.c  generation, the folded inference generator, model files */
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

#endif

/* ZDC checkpoint files: the kind's part of model.h5 / last.h5 and the
 * restore of a training state.
 *
 * /          attrs gansim_kind "zdc_gan", gansim_version, config, state (the
 *            driver's), cond_columns, height, width, n_cond, step, best_step,
 *            best_w1
 * /scaler    the condition scaler
 * /G, /G_buf the generator used for sampling (best by held-out W1) and its BN stats
 * /train     (last.h5 only) G, G_buf, D, D_buf, R (with optimizer state), G_ema,
 *            G_ema_buf (when train.ema > 0), best/G, best/G_buf, sdi_s [n_train], rng;
 *            attrs n_train */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/md_zdc_internal.h"
#include "nn/nn_ckpt.h"

/* The parameter sets of the training state (under /train), in file order:
 * saving and loading walk this one list, so they cannot drift apart. */
enum { ZDC_MAX_PARTS = 9 };
typedef md_zdc_ckpt_set zdc_part;

static int train_parts(md_zdc_state *s, zdc_part *out)
{
    const bool ema = s->cfg.ema > 0;
    const struct { zdc_part p; bool on; } all[ZDC_MAX_PARTS] = {
        {{"G", &s->g.ps, &s->og}, true},           {{"G_buf", &s->g.buf, NULL}, true},
        {{"D", &s->d.ps, &s->od}, true},           {{"D_buf", &s->d.buf, NULL}, true},
        {{"R", &s->r.ps, &s->orr}, s->cfg.aux},    {{"G_ema", &s->ema.ps, NULL}, ema},
        {{"G_ema_buf", &s->ema.buf, NULL}, ema},   {{"best/G", &s->best.ps, NULL}, true},
        {{"best/G_buf", &s->best.buf, NULL}, true}};
    int n = 0;
    for (int i = 0; i < ZDC_MAX_PARTS; i++)
        if (all[i].on)
            out[n++] = all[i].p;
    return n;
}

int md_zdc_save(const md_run *run, hid_t f, int with_train)
{
    const md_zdc_state *s = run->state;
    const md_part *part = &run->parts[0];
    int rc = md_zdc_ckpt_save_head(f, run, s->nc, s->h, s->w, s->step, &s->scaler);
    const md_zdc_gen *sg = part->best_step >= 0 ? &s->best : md_zdc_eval_gen(s);
    if (!rc)
        rc = nn_group_save(f, "G", &sg->ps, NULL);
    if (!rc)
        rc = nn_group_save(f, "G_buf", &sg->buf, NULL);
    if (!rc && with_train) {
        zdc_part parts[ZDC_MAX_PARTS];
        const int np = train_parts((md_zdc_state *)s, parts); /* read only here */
        hid_t t;
        if (!(rc = md_zdc_ckpt_save_train(f, parts, np, &s->rng, s->n_train, &t))) {
            if (s->cfg.sdi)
                rc = gs_h5_write(t, "sdi_s", GS_H5_F32, 1, (int64_t[]){s->n_train}, s->ts);
            H5Gclose(t);
        }
    }
    return rc;
}

int md_zdc_load_state(hid_t f, md_run *run)
{
    md_zdc_state *s = run->state;
    md_part *part = &run->parts[0];
    zdc_part parts[ZDC_MAX_PARTS];
    const int np = train_parts(s, parts);
    hid_t t;
    int rc = md_zdc_ckpt_load_train(f, run, s->n_train, &s->step, parts, np, &s->rng, &t);
    if (!rc) {
        if (s->cfg.sdi)
            rc = gs_h5_read_into(t, "sdi_s", GS_H5_F32, 1, (int64_t[]){s->n_train}, s->ts);
        H5Gclose(t);
    }
    if (!rc && s->cfg.sdi) {
        double acc = 0;
        for (int64_t i = 0; i < s->n_train; i++)
            acc += s->ts[i];
        s->mean_s = acc / (double)s->n_train;
    }
    part->step = s->step;
    return rc ? gs_error_wrap(rc, "--resume") : GS_OK;
}

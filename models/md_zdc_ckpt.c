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
typedef struct {
    const char *name;
    nn_params *ps;
    nn_optim *o; /* its moments are saved with the set, or NULL */
} zdc_part;

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
    const ds_images *data = run->data;
    const md_part *part = &run->parts[0];
    int rc = GS_OK;
    hid_t q;
    if (data->cond_columns) {
        char *cols = gs_h5_join_csv(data->cond_columns, s->nc);
        rc = cols ? gs_h5_attr_write_str(f, ".", "cond_columns", cols)
                  : gs_error(GS_ERR_NOMEM, "out of memory");
        free(cols);
    }
    const struct { const char *k; int64_t v; } ia[] = {
        {"height", s->h}, {"width", s->w}, {"n_cond", s->nc}, {"step", s->step},
        {"best_step", part->best_step}};
    for (size_t i = 0; !rc && i < sizeof ia / sizeof ia[0]; i++)
        rc = gs_h5_attr_write_i64(f, ".", ia[i].k, ia[i].v);
    if (!rc)
        rc = gs_h5_attr_write_f64(f, ".", "best_w1", part->best);
    if (!rc && !(rc = gs_h5_group_create(f, "scaler", &q))) {
        rc = pp_scaler_save(&s->scaler, q);
        H5Gclose(q);
    }
    const md_zdc_gen *sg = part->best_step >= 0 ? &s->best : md_zdc_eval_gen(s);
    if (!rc)
        rc = nn_group_save(f, "G", &sg->ps, NULL);
    if (!rc)
        rc = nn_group_save(f, "G_buf", &sg->buf, NULL);
    if (!rc && with_train) {
        hid_t t;
        if (!(rc = gs_h5_group_create(f, "train", &t))) {
            zdc_part parts[ZDC_MAX_PARTS];
            const int np = train_parts((md_zdc_state *)s, parts); /* read only here */
            for (int i = 0; i < np && !rc; i++)
                rc = nn_group_save(t, parts[i].name, parts[i].ps, parts[i].o);
            if (!rc && s->cfg.sdi)
                rc = gs_h5_write(t, "sdi_s", GS_H5_F32, 1, (int64_t[]){s->n_train}, s->ts);
            if (!rc)
                rc = nn_rng_save(t, "rng", &s->rng);
            if (!rc)
                rc = gs_h5_attr_write_i64(t, ".", "n_train", s->n_train);
            H5Gclose(t);
        }
    }
    return rc;
}

int md_zdc_load_state(hid_t f, md_run *run)
{
    md_zdc_state *s = run->state;
    md_part *part = &run->parts[0];
    char path[1024];
    if (H5Fget_name(f, path, sizeof path) < 0)
        strcpy(path, "last.h5");
    hid_t t;
    int64_t n_train = 0;
    int rc = gs_h5_attr_read_i64(f, ".", "best_step", &part->best_step);
    if (!rc)
        rc = gs_h5_attr_read_f64(f, ".", "best_w1", &part->best);
    if (!rc && !(rc = gs_h5_group_open(f, "train", &t))) {
        rc = gs_h5_attr_read_i64(t, ".", "n_train", &n_train);
        if (!rc && n_train != s->n_train)
            rc = gs_error(GS_ERR_FORMAT, "%s: trained on %lld rows, the data give %lld "
                          "(different data?)", path, (long long)n_train, (long long)s->n_train);
        if (!rc)
            rc = gs_h5_attr_read_i64(f, ".", "step", &s->step);
        zdc_part parts[ZDC_MAX_PARTS];
        const int np = train_parts(s, parts);
        for (int i = 0; i < np && !rc; i++)
            rc = nn_group_load(t, parts[i].name, parts[i].ps, parts[i].o);
        if (!rc && s->cfg.sdi)
            rc = gs_h5_read_into(t, "sdi_s", GS_H5_F32, 1, (int64_t[]){s->n_train}, s->ts);
        if (!rc)
            rc = nn_rng_load(t, "rng", &s->rng);
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

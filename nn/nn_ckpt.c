#include "nn/nn_ckpt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int nn_params_save(hid_t group, const nn_params *ps)
{
    for (int i = 0; i < ps->n; i++) {
        const nn_tensor *p = ps->p[i];
        int rc = gs_h5_write(group, p->name, GS_H5_F32, p->ndim, p->shape, p->data);
        if (rc)
            return rc;
    }
    return GS_OK;
}

int nn_params_load(hid_t group, nn_params *ps)
{
    for (int i = 0; i < ps->n; i++) {
        nn_tensor *p = ps->p[i];
        int rc = gs_h5_read_into(group, p->name, GS_H5_F32, p->ndim, p->shape, p->data);
        if (rc)
            return rc;
        /* training never saves a NaN (it stops first), so one here means a
         * damaged or hand-edited file: refuse it rather than generate NaNs */
        for (int64_t k = 0; k < p->n; k++)
            if (!isfinite(p->data[k])) {
                char file[256] = "", where[256] = "";
                if (H5Fget_name(group, file, sizeof file) < 0)
                    file[0] = '\0';
                if (H5Iget_name(group, where, sizeof where) < 0)
                    where[0] = '\0';
                return gs_error(GS_ERR_FORMAT, "%s: %s/%s: element %lld is %g (not finite)", file,
                                where, p->name, (long long)k, (double)p->data[k]);
            }
    }
    return GS_OK;
}

static int write_buffers(hid_t group, const char *sub, const nn_params *ps, float *const *buf)
{
    for (int i = 0; i < ps->n; i++) {
        if (!buf[i])
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", sub, ps->p[i]->name);
        int rc = gs_h5_write(group, path, GS_H5_F32, ps->p[i]->ndim, ps->p[i]->shape, buf[i]);
        if (rc)
            return rc;
    }
    return GS_OK;
}

static int read_buffers(hid_t group, const char *sub, const nn_params *ps, float **buf)
{
    for (int i = 0; i < ps->n; i++) {
        if (!buf[i])
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", sub, ps->p[i]->name);
        int rc = gs_h5_read_into(group, path, GS_H5_F32, ps->p[i]->ndim, ps->p[i]->shape, buf[i]);
        if (rc)
            return rc;
    }
    return GS_OK;
}

int nn_optim_save(hid_t group, const nn_optim *o)
{
    hid_t g;
    int rc = gs_h5_group_create(group, "optim", &g);
    if (rc)
        return rc;
    const nn_optim_cfg *c = &o->cfg;
    const struct { const char *k; double v; } f[] = {
        {"lr", c->lr}, {"momentum", c->momentum}, {"beta1", c->beta1}, {"beta2", c->beta2},
        {"alpha", c->alpha}, {"eps", c->eps}, {"weight_decay", c->weight_decay}};
    for (size_t i = 0; !rc && i < sizeof f / sizeof f[0]; i++)
        rc = gs_h5_attr_write_f64(g, ".", f[i].k, f[i].v);
    if (!rc)
        rc = gs_h5_attr_write_i64(g, ".", "kind", c->kind);
    if (!rc)
        rc = gs_h5_attr_write_i64(g, ".", "t", o->t);
    if (!rc)
        rc = write_buffers(g, "m", o->ps, o->m);
    if (!rc)
        rc = write_buffers(g, "v", o->ps, o->v);
    H5Gclose(g);
    return rc;
}

int nn_optim_load(hid_t group, nn_optim *o)
{
    hid_t g;
    int rc = gs_h5_group_open(group, "optim", &g);
    if (rc)
        return rc;
    int64_t kind = -1;
    rc = gs_h5_attr_read_i64(g, ".", "kind", &kind);
    if (!rc && kind != o->cfg.kind) {
        char where[512];
        gs_h5_where(g, ".", where, sizeof where);
        rc = gs_error(GS_ERR_FORMAT, "%s: optimizer kind %lld, expected %d", where,
                      (long long)kind, (int)o->cfg.kind);
    }
    if (!rc)
        rc = gs_h5_attr_read_i64(g, ".", "t", &o->t);
    if (!rc)
        rc = read_buffers(g, "m", o->ps, o->m);
    if (!rc)
        rc = read_buffers(g, "v", o->ps, o->v);
    H5Gclose(g);
    return rc;
}

int nn_group_save(hid_t loc, const char *name, const nn_params *ps, const nn_optim *o)
{
    hid_t g;
    int rc = gs_h5_group_create(loc, name, &g);
    if (rc)
        return rc;
    rc = nn_params_save(g, ps);
    if (!rc && o)
        rc = nn_optim_save(g, o);
    H5Gclose(g);
    return rc;
}

int nn_group_load(hid_t loc, const char *name, nn_params *ps, nn_optim *o)
{
    hid_t g;
    int rc = gs_h5_group_open(loc, name, &g);
    if (rc)
        return rc;
    rc = nn_params_load(g, ps);
    if (!rc && o)
        rc = nn_optim_load(g, o);
    H5Gclose(g);
    return rc;
}

int nn_rng_save(hid_t loc, const char *name, const gs_rng *r)
{
    return gs_h5_write(loc, name, GS_H5_U64, 1, (int64_t[]){4}, r->s);
}

int nn_rng_load(hid_t loc, const char *name, gs_rng *r)
{
    return gs_h5_read_into(loc, name, GS_H5_U64, 1, (int64_t[]){4}, r->s);
}

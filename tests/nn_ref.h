/* Test-only references built from the library's public API (they were in
 * the product headers; nothing but the tests uses them):
 *  - ref_batchnorm_composed: training-mode batch norm as the composition of
 *    ops nn_batchnorm used before it became one op (no running statistics),
 *    the reference the fused op is compared with;
 *  - ref_ckpt_save / ref_ckpt_load: one network's whole training state in a
 *    file of its own (/params, /optim, /rng, attr step), written atomically,
 *    to test nn_ckpt's pieces end to end. */
#ifndef GS_TEST_NN_REF_H
#define GS_TEST_NN_REF_H

#include "nn/nn.h"
#include "nn/nn_ckpt.h"

/* The composed training-mode batch norm that bn_train replaces, kept as the
 * reference the tests compare the fused op with (values and gradients). */
static inline nn_tensor *ref_batchnorm_composed(nn_ctx *c, nn_tensor *x, nn_tensor *gamma,
                                                nn_tensor *beta, float eps)
{
    if (!x)
        return NULL;
    const int64_t ch = x->shape[1], m = ch ? x->n / ch : 0;
    const float inv_m = 1.0f / (float)m;
    nn_tensor *mu = nn_scale(c, nn_sum_channels(c, x), inv_m);
    nn_tensor *xc = nn_channel_affine(c, x, NULL, nn_scale(c, mu, -1.0f));
    nn_tensor *var = nn_scale(c, nn_sum_channels(c, nn_square(c, xc)), inv_m);
    nn_tensor *sd = nn_sqrt(c, nn_add_scalar(c, var, eps));
    nn_tensor *one = sd ? nn_new(c, 1, (int64_t[]){ch}) : NULL;
    if (!one)
        return NULL;
    for (int64_t k = 0; k < ch; k++)
        one->data[k] = 1.0f;
    return nn_channel_affine(c, xc, nn_div(c, gamma ? gamma : one, sd), beta);
}

static inline int ref_ckpt_save(const char *path, const nn_params *ps, const nn_optim *o,
                                const gs_rng *r, int64_t step)
{
    char tmp[4096];
    int rc = gs_tmp_path(tmp, sizeof tmp, path);
    if (rc)
        return rc;
    hid_t f, g;
    if ((rc = gs_h5_create(tmp, &f)))
        return rc;
    rc = gs_h5_group_create(f, "params", &g);
    if (!rc) {
        rc = nn_params_save(g, ps);
        H5Gclose(g);
    }
    if (!rc && o)
        rc = nn_optim_save(f, o);
    if (!rc && r)
        rc = nn_rng_save(f, "rng", r);
    if (!rc)
        rc = gs_h5_attr_write_i64(f, ".", "step", step);
    int crc = gs_h5_close(f);
    if (!rc)
        rc = crc;
    if (rc) {
        gs_discard(tmp);
        return rc;
    }
    return gs_commit(tmp, path);
}

static inline int ref_ckpt_load(const char *path, nn_params *ps, nn_optim *o, gs_rng *r,
                                int64_t *step)
{
    hid_t f, g;
    int rc = gs_h5_open(path, 0, &f);
    if (rc)
        return rc;
    rc = gs_h5_group_open(f, "params", &g);
    if (!rc) {
        rc = nn_params_load(g, ps);
        H5Gclose(g);
    }
    if (!rc && o)
        rc = nn_optim_load(f, o);
    if (!rc && r)
        rc = nn_rng_load(f, "rng", r);
    if (!rc && step)
        rc = gs_h5_attr_read_i64(f, ".", "step", step);
    gs_h5_close(f);
    return rc;
}

#endif

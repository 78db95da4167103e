/* Layers and composite functions. Everything here is built from the ops of
 * nn_ops.c, so it is differentiable to any order without its own rules. */
#include "nn/nn_internal.h"

#include <math.h>
#include <stdio.h>

int nn_linear_layer_init(nn_linear_layer *l, nn_params *ps, const char *name, int64_t in,
                         int64_t out, bool bias, nn_init_kind init, gs_rng *r)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s.w", name);
    l->in = in;
    l->out = out;
    l->b = NULL;
    if (!(l->w = nn_param_new(ps, buf, 2, (int64_t[]){out, in})))
        return GS_ERR_NOMEM;
    if (bias) {
        snprintf(buf, sizeof buf, "%s.b", name);
        if (!(l->b = nn_param_new(ps, buf, 1, (int64_t[]){out})))
            return GS_ERR_NOMEM;
    }
    /* PyTorch's nn.Linear default: kaiming_uniform(a = sqrt 5) == U(+-1/sqrt(in)) */
    const float bound = 1.0f / sqrtf((float)in);
    switch (init) {
    case NN_INIT_TORCH: nn_init_uniform(l->w, r, -bound, bound); break;
    case NN_INIT_KAIMING: nn_init_kaiming_normal(l->w, r, 0.2f); break;
    case NN_INIT_XAVIER: nn_init_xavier_uniform(l->w, r, 1.0f); break;
    case NN_INIT_NORMAL: nn_init_normal(l->w, r, 0.0f, 0.02f); break;
    }
    if (l->b) {
        if (init == NN_INIT_TORCH)
            nn_init_uniform(l->b, r, -bound, bound);
        else
            nn_init_const(l->b, 0.0f);
    }
    return GS_OK;
}

nn_tensor *nn_linear_layer_fwd(nn_ctx *c, const nn_linear_layer *l, nn_tensor *x)
{
    return nn_linear(c, x, l->w, l->b);
}

/* mean(softplus(x) - x t): the stable form of -[t log s(x) + (1-t) log(1-s(x))] */
nn_tensor *nn_bce_with_logits(nn_ctx *c, nn_tensor *logits, nn_tensor *target)
{
    return nn_mean(c, nn_sub(c, nn_softplus(c, logits), nn_mul(c, logits, target)));
}

nn_tensor *nn_mse(nn_ctx *c, nn_tensor *a, nn_tensor *b)
{
    return nn_mean(c, nn_square(c, nn_sub(c, a, b)));
}

nn_tensor *nn_l1(nn_ctx *c, nn_tensor *a, nn_tensor *b)
{
    return nn_mean(c, nn_abs(c, nn_sub(c, a, b)));
}

nn_tensor *nn_layernorm(nn_ctx *c, nn_tensor *x, nn_tensor *gamma, nn_tensor *beta, float eps)
{
    if (!x)
        return NULL;
    const int nd = x->ndim;
    const int64_t *sh = x->shape;
    const float inv_d = 1.0f / (float)nn_inner(x);
    nn_tensor *mu = nn_scale(c, nn_sum_rows(c, x), inv_d);
    nn_tensor *xc = nn_sub(c, x, nn_expand_rows(c, mu, nd, sh));
    nn_tensor *var = nn_scale(c, nn_sum_rows(c, nn_square(c, xc)), inv_d);
    nn_tensor *sd = nn_sqrt(c, nn_add_scalar(c, var, eps));
    nn_tensor *y = nn_div(c, xc, nn_expand_rows(c, sd, nd, sh));
    if (gamma) {
        /* per-feature affine: gamma, beta have the shape of one sample */
        nn_tensor *g = nn_reshape(c, gamma, 1, (int64_t[]){gamma->n});
        nn_tensor *flat = nn_reshape(c, y, 2, (int64_t[]){sh[0], nn_inner(x)});
        flat = nn_mul(c, flat, nn_expand_channels(c, g, 2, flat ? flat->shape : sh));
        if (beta)
            flat = nn_add(c, flat, nn_expand_channels(c, nn_reshape(c, beta, 1, (int64_t[]){beta->n}),
                                                      2, flat ? flat->shape : sh));
        y = nn_reshape(c, flat, nd, sh);
    }
    return y;
}

nn_tensor *nn_dropout(nn_ctx *c, nn_tensor *x, float p, gs_rng *rng)
{
    if (!x || !nn_is_training(c) || p <= 0.0f)
        return x;
    if (p >= 1.0f)
        return nn_fail(c, "nn: dropout probability %g not below 1", (double)p);
    nn_tensor *mask = nn_new(c, x->ndim, x->shape);
    if (!mask)
        return NULL;
    /* Inverted dropout: kept units are scaled by 1/(1-p) so eval is
     * identity. The mask is drawn in blocks, each from its own stream split
     * off rng in block order, so it fills in parallel and does not depend on
     * the thread count; each 64-bit draw decides two units (32 bits each:
     * P(drop) = p to 2^-32). Drawn one by one it was a serial ~5 % of a zdc
     * training step. */
    enum { block = 16384 };
    const float keep = 1.0f / (1.0f - p);
    const uint64_t thr = (uint64_t)((double)p * 4294967296.0);
    const int64_t n = mask->n, nb = (n + block - 1) / block;
    gs_rng *streams = nn_scratch(c, (size_t)nb * sizeof *streams);
    if (!streams)
        return NULL;
    for (int64_t b = 0; b < nb; b++)
        streams[b] = gs_rng_split(rng);
    float *m = mask->data;
#pragma omp parallel for schedule(static) if (nb > 1)
    for (int64_t b = 0; b < nb; b++) {
        const int64_t i1 = (b + 1) * block < n ? (b + 1) * block : n;
        for (int64_t i = b * block; i < i1; i += 2) {
            const uint64_t r = gs_rng_next(&streams[b]);
            m[i] = (r & 0xffffffffu) >= thr ? keep : 0.0f;
            if (i + 1 < i1)
                m[i + 1] = (r >> 32) >= thr ? keep : 0.0f;
        }
    }
    return nn_mul(c, x, mask);
}

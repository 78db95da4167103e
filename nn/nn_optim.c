/* Optimizers with PyTorch's update rules (so runs can be compared with a
 * PyTorch reference): SGD with momentum, Adam with L2 weight decay, RMSprop. */
#include "nn/nn_internal.h"
#include "core/gs_cpu.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

nn_optim_cfg nn_optim_defaults(nn_optim_kind kind, float lr)
{
    nn_optim_cfg c = {.kind = kind, .lr = lr};
    switch (kind) {
    case NN_OPT_SGD: break;
    case NN_OPT_ADAM: c.beta1 = 0.9f; c.beta2 = 0.999f; c.eps = 1e-8f; break;
    case NN_OPT_RMSPROP: c.alpha = 0.99f; c.eps = 1e-8f; break;
    }
    return c;
}

/* The update loops, compiled for x86-64-v2/v3/v4 and chosen at run time
 * (core/gs_cpu.h); element-wise, so the result does not depend on how the
 * range is cut into chunks. */
GS_KERNEL(adam_update,
          (float *w, float *m, float *v, const float *g, int64_t n, float b1, float b2, float wd,
           float step, float sbc2, float eps),
          (w, m, v, g, n, b1, b2, wd, step, sbc2, eps))
{
#pragma omp simd
    for (int64_t k = 0; k < n; k++) {
        float gk = g[k] + wd * w[k];
        m[k] = b1 * m[k] + (1.0f - b1) * gk;
        v[k] = b2 * v[k] + (1.0f - b2) * gk * gk;
        w[k] -= step * m[k] / (sqrtf(v[k]) / sbc2 + eps);
    }
}

GS_KERNEL(rmsprop_update,
          (float *w, float *v, const float *g, int64_t n, float alpha, float wd, float lr,
           float eps),
          (w, v, g, n, alpha, wd, lr, eps))
{
#pragma omp simd
    for (int64_t k = 0; k < n; k++) {
        float gk = g[k] + wd * w[k];
        v[k] = alpha * v[k] + (1.0f - alpha) * gk * gk;
        w[k] -= lr * gk / (sqrtf(v[k]) + eps);
    }
}

static float *zeros(int64_t n)
{
    return calloc((size_t)(n ? n : 1), sizeof(float));
}

int nn_optim_init(nn_optim *o, nn_params *ps, const nn_optim_cfg *cfg)
{
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->ps = ps;
    o->m = calloc((size_t)(ps->n ? ps->n : 1), sizeof *o->m);
    o->v = calloc((size_t)(ps->n ? ps->n : 1), sizeof *o->v);
    if (!o->m || !o->v)
        goto oom;
    for (int i = 0; i < ps->n; i++) {
        bool need_m = cfg->kind == NN_OPT_ADAM || (cfg->kind == NN_OPT_SGD && cfg->momentum != 0);
        bool need_v = cfg->kind == NN_OPT_ADAM || cfg->kind == NN_OPT_RMSPROP;
        if ((need_m && !(o->m[i] = zeros(ps->p[i]->n))) ||
            (need_v && !(o->v[i] = zeros(ps->p[i]->n))))
            goto oom;
    }
    return GS_OK;
oom:
    nn_optim_free(o);
    return gs_error(GS_ERR_NOMEM, "nn: out of memory for optimizer state");
}

void nn_optim_free(nn_optim *o)
{
    if (o->ps) {
        for (int i = 0; i < o->ps->n; i++) {
            if (o->m)
                free(o->m[i]);
            if (o->v)
                free(o->v[i]);
        }
    }
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

void nn_optim_step(nn_optim *o)
{
    const nn_optim_cfg *c = &o->cfg;
    o->t++;
    const float bc1 = c->kind == NN_OPT_ADAM ? 1.0f - powf(c->beta1, (float)o->t) : 1.0f;
    const float bc2 = c->kind == NN_OPT_ADAM ? 1.0f - powf(c->beta2, (float)o->t) : 1.0f;
    for (int i = 0; i < o->ps->n; i++) {
        nn_tensor *p = o->ps->p[i];
        if (!p->requires_grad)
            continue;
        float *w = p->data, *m = o->m[i], *v = o->v[i];
        const float *g = p->grad;
        const int64_t n = p->n;
        const float wd = c->weight_decay;
        switch (c->kind) {
        case NN_OPT_SGD:
            for (int64_t k = 0; k < n; k++) {
                float gk = g[k] + wd * w[k];
                if (m) {
                    /* PyTorch: the first step's buffer is the gradient itself */
                    m[k] = o->t == 1 ? gk : c->momentum * m[k] + gk;
                    gk = m[k];
                }
                w[k] -= c->lr * gk;
            }
            break;
        case NN_OPT_ADAM: {
            const float step = c->lr / bc1, sbc2 = sqrtf(bc2);
            /* threaded for the large weight matrices: with the data-parallel
             * slices the optimizer step is otherwise a serial part of it */
            NN_PAR_CHUNKS(n, n, lo, hi,
                          adam_update(w + lo, m + lo, v + lo, g + lo, hi - lo, c->beta1,
                                      c->beta2, wd, step, sbc2, c->eps));
            break;
        }
        case NN_OPT_RMSPROP:
            NN_PAR_CHUNKS(n, n, lo, hi,
                          rmsprop_update(w + lo, v + lo, g + lo, hi - lo, c->alpha, wd, c->lr,
                                         c->eps));
            break;
        }
    }
}

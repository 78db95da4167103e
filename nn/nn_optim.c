/* Optimizers with PyTorch's update rules (so runs can be compared with a
 * PyTorch reference): SGD with momentum, Adam with L2 weight decay, RMSprop. */
#include "nn/nn_internal.h"

#include <math.h>
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
#pragma omp parallel for simd schedule(static) if (n > NN_PAR_MIN)
            for (int64_t k = 0; k < n; k++) {
                float gk = g[k] + wd * w[k];
                m[k] = c->beta1 * m[k] + (1.0f - c->beta1) * gk;
                v[k] = c->beta2 * v[k] + (1.0f - c->beta2) * gk * gk;
                w[k] -= step * m[k] / (sqrtf(v[k]) / sbc2 + c->eps);
            }
            break;
        }
        case NN_OPT_RMSPROP:
#pragma omp parallel for simd schedule(static) if (n > NN_PAR_MIN)
            for (int64_t k = 0; k < n; k++) {
                float gk = g[k] + wd * w[k];
                v[k] = c->alpha * v[k] + (1.0f - c->alpha) * gk * gk;
                w[k] -= c->lr * gk / (sqrtf(v[k]) + c->eps);
            }
            break;
        }
    }
}

/* Persistent parameters and their initialisation. Parameters are leaves
 * outside any arena: data and grad are 64-byte aligned heap blocks owned by
 * the nn_params set. */
#include "nn/nn_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void nn_params_init(nn_params *ps)
{
    memset(ps, 0, sizeof *ps);
}

void nn_params_free(nn_params *ps)
{
    for (int i = 0; i < ps->n; i++) {
        nn_tensor *p = ps->p[i];
        if (!p->borrowed)
            free(p->data);
        free(p->grad);
        free((char *)p->name);
        free(p);
    }
    free(ps->p);
    memset(ps, 0, sizeof *ps);
}

static float *alloc_floats(int64_t n)
{
    size_t bytes = ((size_t)n * sizeof(float) + 63) / 64 * 64;
    float *f = aligned_alloc(64, bytes ? bytes : 64);
    if (f)
        memset(f, 0, bytes);
    return f;
}

nn_tensor *nn_param_new(nn_params *ps, const char *name, int ndim, const int64_t *shape)
{
    if (ndim < 1 || ndim > NN_MAX_DIMS) {
        gs_error(GS_ERR_ARG, "nn: parameter %s: rank %d not in 1..%d", name, ndim, NN_MAX_DIMS);
        return NULL;
    }
    if (nn_params_find(ps, name)) {
        gs_error(GS_ERR_ARG, "nn: parameter %s defined twice", name);
        return NULL;
    }
    if (ps->n == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 16;
        nn_tensor **np = realloc(ps->p, (size_t)cap * sizeof *np);
        if (!np)
            goto oom;
        ps->p = np;
        ps->cap = cap;
    }
    nn_tensor *t = calloc(1, sizeof *t);
    if (!t)
        goto oom;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->n = nn_shape_numel(ndim, shape);
    t->data = alloc_floats(t->n);
    t->grad = alloc_floats(t->n);
    t->name = strdup(name);
    if (!t->data || !t->grad || !t->name) {
        free(t->data);
        free(t->grad);
        free((char *)t->name);
        free(t);
        goto oom;
    }
    t->op = NN_OP_LEAF;
    t->is_param = true;
    t->requires_grad = true;
    ps->p[ps->n++] = t;
    return t;
oom:
    gs_error(GS_ERR_NOMEM, "nn: out of memory for parameter %s", name);
    return NULL;
}

nn_tensor *nn_params_find(const nn_params *ps, const char *name)
{
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->p[i]->name, name) == 0)
            return ps->p[i];
    return NULL;
}

void nn_params_zero_grad(nn_params *ps)
{
    for (int i = 0; i < ps->n; i++)
        memset(ps->p[i]->grad, 0, (size_t)ps->p[i]->n * sizeof(float));
}

void nn_params_set_requires_grad(nn_params *ps, bool on)
{
    for (int i = 0; i < ps->n; i++)
        ps->p[i]->requires_grad = on;
}

int64_t nn_params_count(const nn_params *ps)
{
    int64_t n = 0;
    for (int i = 0; i < ps->n; i++)
        n += ps->p[i]->n;
    return n;
}

static int check_same_layout(const nn_params *a, const nn_params *b)
{
    if (a->n != b->n)
        return gs_error(GS_ERR_ARG, "nn: parameter sets differ in size (%d vs %d)", a->n, b->n);
    for (int i = 0; i < a->n; i++)
        if (a->p[i]->n != b->p[i]->n || strcmp(a->p[i]->name, b->p[i]->name) != 0)
            return gs_error(GS_ERR_ARG, "nn: parameter %s does not match %s", a->p[i]->name,
                            b->p[i]->name);
    return GS_OK;
}

int nn_params_copy(nn_params *dst, const nn_params *src)
{
    int rc = check_same_layout(dst, src);
    if (rc)
        return rc;
    for (int i = 0; i < dst->n; i++)
        memcpy(dst->p[i]->data, src->p[i]->data, (size_t)dst->p[i]->n * sizeof(float));
    return GS_OK;
}

int nn_params_ema(nn_params *dst, const nn_params *src, float decay)
{
    int rc = check_same_layout(dst, src);
    if (rc)
        return rc;
    for (int i = 0; i < dst->n; i++) {
        float *d = dst->p[i]->data;
        const float *s = src->p[i]->data;
        for (int64_t k = 0; k < dst->p[i]->n; k++)
            d[k] = decay * d[k] + (1.0f - decay) * s[k];
    }
    return GS_OK;
}

float nn_ema_decay(double decay, int64_t step)
{
    if (decay <= 0)
        return (float)decay;
    const double n = step > 0 ? (double)step : 0.0, warm = (1.0 + n) / (10.0 + n);
    return (float)(decay < warm ? decay : warm);
}

int nn_params_shadow(nn_params *dst, const nn_params *src)
{
    nn_params_init(dst);
    for (int i = 0; i < src->n; i++) {
        const nn_tensor *s = src->p[i];
        /* nn_param_new allocates data of its own: swap it for the source's */
        nn_tensor *t = nn_param_new(dst, s->name, s->ndim, s->shape);
        if (!t) {
            nn_params_free(dst);
            return GS_ERR_NOMEM;
        }
        free(t->data);
        t->data = s->data;
        t->borrowed = true;
        t->requires_grad = s->requires_grad;
    }
    return GS_OK;
}

int nn_params_add_grads(nn_params *dst, const nn_params *src)
{
    int rc = check_same_layout(dst, src);
    if (rc)
        return rc;
    for (int i = 0; i < dst->n; i++) {
        float *d = dst->p[i]->grad;
        const float *s = src->p[i]->grad;
        const int64_t n = dst->p[i]->n;
#pragma omp parallel for simd schedule(static) if (n > 65536)
        for (int64_t k = 0; k < n; k++)
            d[k] += s[k];
    }
    return GS_OK;
}

void nn_params_clip(nn_params *ps, float c)
{
    for (int i = 0; i < ps->n; i++) {
        float *d = ps->p[i]->data;
        for (int64_t k = 0; k < ps->p[i]->n; k++)
            d[k] = fminf(fmaxf(d[k], -c), c);
    }
}

/* ---- initialisation ------------------------------------------------------- */
static int64_t fan_in(const nn_tensor *p) { return p->ndim > 1 ? p->n / p->shape[0] : p->n; }
static int64_t fan_out(const nn_tensor *p)
{
    return p->ndim > 1 ? p->shape[0] * (p->n / (p->shape[0] * p->shape[1])) : p->n;
}

void nn_init_uniform(nn_tensor *p, gs_rng *r, float lo, float hi)
{
    gs_rng_fill_uniform(r, p->data, p->n, lo, hi);
}

void nn_init_normal(nn_tensor *p, gs_rng *r, float mean, float std)
{
    gs_rng_fill_normal(r, p->data, p->n, mean, std);
}

/* gain for leaky ReLU with slope a: sqrt(2 / (1 + a^2)) (He et al.) */
static float relu_gain(float a) { return sqrtf(2.0f / (1.0f + a * a)); }

void nn_init_kaiming_normal(nn_tensor *p, gs_rng *r, float neg_slope)
{
    nn_init_normal(p, r, 0.0f, relu_gain(neg_slope) / sqrtf((float)fan_in(p)));
}

void nn_init_kaiming_uniform(nn_tensor *p, gs_rng *r, float neg_slope)
{
    float bound = relu_gain(neg_slope) * sqrtf(3.0f / (float)fan_in(p));
    nn_init_uniform(p, r, -bound, bound);
}

void nn_init_xavier_uniform(nn_tensor *p, gs_rng *r, float gain)
{
    float bound = gain * sqrtf(6.0f / (float)(fan_in(p) + fan_out(p)));
    nn_init_uniform(p, r, -bound, bound);
}

void nn_init_const(nn_tensor *p, float v)
{
    for (int64_t i = 0; i < p->n; i++)
        p->data[i] = v;
}

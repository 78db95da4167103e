/* Finite-difference gradient checks shared by the nn test suites.
 *
 * A test supplies a function building y = f(inputs) on a context. The
 * checker turns y into the scalar L = sum(y * (R + y / 2)) with a fixed
 * random R — nonlinear in y, so that second derivatives exercise every op's
 * backward rule, not just its forward — and compares
 *   first order:  dL/dx (nn_grad)                      vs central differences of L
 *   second order: d/dx sum(R2 * dL/dx) (create_graph)  vs central differences of that sum
 * where the perturbed evaluations reuse the engine's own first-order
 * gradient, itself checked above. */
#ifndef GS_GRADCHECK_H
#define GS_GRADCHECK_H

#include "nn/nn.h"
#include "testutil.h"

typedef nn_tensor *(*gc_build_fn)(nn_ctx *c, nn_tensor **in, const void *ud);

typedef struct {
    int nin;
    int ndim[3];
    int64_t shape[3][4];
    float *x[3];        /* current values (perturbed in place) */
    const void *ud;
    float h;            /* step */
    float atol, rtol;
} gc_case;

static inline nn_tensor *gc_rand_like(nn_ctx *c, const nn_tensor *y, uint64_t seed)
{
    nn_tensor *r = nn_new(c, y->ndim, y->shape);
    gs_rng rng;
    gs_rng_seed(&rng, seed);
    gs_rng_fill_uniform(&rng, r->data, r->n, -1.0f, 1.0f);
    return r;
}

static inline nn_tensor *gc_scalarize(nn_ctx *c, nn_tensor *y, uint64_t seed)
{
    ck_assert_msg(y != NULL, "op failed: %s", gs_errmsg());
    nn_tensor *r = gc_rand_like(c, y, seed);
    return nn_sum(c, nn_mul(c, y, nn_add(c, r, nn_scale(c, y, 0.5f))));
}

static inline void gc_leaves(nn_ctx *c, gc_case *k, nn_tensor **in)
{
    for (int i = 0; i < k->nin; i++) {
        in[i] = nn_input(c, k->ndim[i], k->shape[i], k->x[i]);
        nn_set_requires_grad(in[i], true);
    }
}

/* L at the current inputs */
static inline double gc_loss(nn_ctx *c, gc_build_fn f, gc_case *k)
{
    nn_tensor *in[3];
    nn_ctx_reset(c);
    gc_leaves(c, k, in);
    nn_tensor *l = gc_scalarize(c, f(c, in, k->ud), 11);
    ck_assert_ptr_nonnull(l);
    return l->data[0];
}

/* S = sum_i sum(R2_i * dL/dx_i) at the current inputs; also returns dS/dx
 * (second order) into d2[i] when d2 is given. */
static inline double gc_gradsum(nn_ctx *c, gc_build_fn f, gc_case *k, float **d2)
{
    nn_tensor *in[3], *g[3];
    nn_ctx_reset(c);
    gc_leaves(c, k, in);
    nn_tensor *l = gc_scalarize(c, f(c, in, k->ud), 11);
    ck_assert_int_eq(nn_grad(c, l, k->nin, in, g, d2 != NULL), GS_OK);
    nn_tensor *s = NULL;
    for (int i = 0; i < k->nin; i++) {
        nn_tensor *t = nn_sum(c, nn_mul(c, g[i], gc_rand_like(c, g[i], 100 + (uint64_t)i)));
        s = s ? nn_add(c, s, t) : t;
    }
    ck_assert_ptr_nonnull(s);
    double val = s->data[0];
    if (d2) {
        nn_tensor *g2[3];
        ck_assert_int_eq(nn_grad(c, s, k->nin, in, g2, false), GS_OK);
        for (int i = 0; i < k->nin; i++)
            memcpy(d2[i], g2[i]->data, (size_t)g2[i]->n * sizeof(float));
    }
    return val;
}

static inline int64_t gc_numel(const gc_case *k, int i)
{
    int64_t n = 1;
    for (int d = 0; d < k->ndim[i]; d++)
        n *= k->shape[i][d];
    return n;
}

static inline void gc_check(gc_build_fn f, gc_case *k, bool second_order, const char *what)
{
    nn_ctx *c = nn_ctx_new();
    const float h = k->h > 0 ? k->h : 1e-2f;
    const double atol = k->atol > 0 ? k->atol : 2e-3, rtol = k->rtol > 0 ? k->rtol : 2e-2;
    /* first order */
    nn_tensor *in[3], *g[3];
    nn_ctx_reset(c);
    gc_leaves(c, k, in);
    nn_tensor *l = gc_scalarize(c, f(c, in, k->ud), 11);
    ck_assert_int_eq(nn_grad(c, l, k->nin, in, g, false), GS_OK);
    float *ana[3];
    for (int i = 0; i < k->nin; i++) {
        ana[i] = malloc((size_t)gc_numel(k, i) * sizeof(float));
        memcpy(ana[i], g[i]->data, (size_t)gc_numel(k, i) * sizeof(float));
    }
    for (int i = 0; i < k->nin; i++)
        for (int64_t j = 0; j < gc_numel(k, i); j++) {
            float x0 = k->x[i][j];
            k->x[i][j] = x0 + h;
            double lp = gc_loss(c, f, k);
            k->x[i][j] = x0 - h;
            double lm = gc_loss(c, f, k);
            k->x[i][j] = x0;
            double num = (lp - lm) / (2.0 * h);
            ck_assert_msg(fabs(ana[i][j] - num) <= atol + rtol * fabs(num),
                          "%s: dL/dx%d[%lld] analytic %.6g vs numeric %.6g", what, i,
                          (long long)j, ana[i][j], num);
        }
    if (second_order) {
        float *d2[3];
        for (int i = 0; i < k->nin; i++)
            d2[i] = malloc((size_t)gc_numel(k, i) * sizeof(float));
        gc_gradsum(c, f, k, d2);
        for (int i = 0; i < k->nin; i++)
            for (int64_t j = 0; j < gc_numel(k, i); j++) {
                float x0 = k->x[i][j];
                k->x[i][j] = x0 + h;
                double sp = gc_gradsum(c, f, k, NULL);
                k->x[i][j] = x0 - h;
                double sm = gc_gradsum(c, f, k, NULL);
                k->x[i][j] = x0;
                double num = (sp - sm) / (2.0 * h);
                ck_assert_msg(fabs(d2[i][j] - num) <= 2 * atol + 2 * rtol * fabs(num),
                              "%s: second order d/dx%d[%lld] analytic %.6g vs numeric %.6g",
                              what, i, (long long)j, d2[i][j], num);
            }
        for (int i = 0; i < k->nin; i++)
            free(d2[i]);
    }
    for (int i = 0; i < k->nin; i++)
        free(ana[i]);
    nn_ctx_free(c);
}

/* Fills x with uniform values in [lo, hi], keeping |x| >= gap (away from kinks). */
static inline void gc_fill(float *x, int64_t n, uint64_t seed, float lo, float hi, float gap)
{
    gs_rng r;
    gs_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) {
        float v;
        do
            v = lo + (hi - lo) * (float)gs_rng_uniform(&r);
        while (fabsf(v) < gap);
        x[i] = v;
    }
}

#endif

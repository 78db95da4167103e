/* nn_specnorm — spectral normalisation (formulas and source in nn_specnorm.h).
 * The power iteration runs on plain arrays in double (it is not part of the
 * graph: u is a constant of the step); σ = |W^T u| and W / σ are built from
 * existing differentiable ops, which gives the op every order of derivative
 * those ops have. */
#include "nn/nn_specnorm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* v = W^T u [K] and u = W v [out], in double */
static void mat_tvec(const float *w, int64_t out, int64_t k, const double *u, double *v)
{
    for (int64_t j = 0; j < k; j++)
        v[j] = 0.0;
    for (int64_t i = 0; i < out; i++) {
        const float *row = w + i * k;
        const double ui = u[i];
        for (int64_t j = 0; j < k; j++)
            v[j] += ui * row[j];
    }
}

static void mat_vec(const float *w, int64_t out, int64_t k, const double *v, double *u)
{
    for (int64_t i = 0; i < out; i++) {
        const float *row = w + i * k;
        double s = 0.0;
        for (int64_t j = 0; j < k; j++)
            s += row[j] * v[j];
        u[i] = s;
    }
}

static void normalize(double *x, int64_t n, double eps)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += x[i] * x[i];
    double nrm = sqrt(s);
    double inv = 1.0 / (nrm > eps ? nrm : eps); /* F.normalize: x / max(|x|, eps) */
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

static int check(const nn_tensor *w, const nn_tensor *u, int n_power, float eps)
{
    if (!w || !u)
        return gs_error(GS_ERR_ARG, "spectral_norm: NULL tensor");
    if (w->ndim < 2 || w->shape[0] < 1)
        return gs_error(GS_ERR_ARG, "spectral_norm: weight of rank %d, need >= 2", w->ndim);
    if (u->n != w->shape[0])
        return gs_error(GS_ERR_ARG, "spectral_norm: u has %lld elements, weight has %lld rows",
                        (long long)u->n, (long long)w->shape[0]);
    if (n_power < 0 || !(eps > 0))
        return gs_error(GS_ERR_ARG, "spectral_norm: n_power %d / eps %g invalid", n_power,
                        (double)eps);
    return GS_OK;
}

/* n_power iterations from u (updated in place); ud [out], v [K] scratch */
static void power(const nn_tensor *w, float *uf, int n_power, double eps, double *ud, double *v)
{
    const int64_t out = w->shape[0], k = w->n / out;
    for (int64_t i = 0; i < out; i++)
        ud[i] = uf[i];
    for (int it = 0; it < n_power; it++) {
        mat_tvec(w->data, out, k, ud, v);
        normalize(v, k, eps);
        mat_vec(w->data, out, k, v, ud);
        normalize(ud, out, eps);
    }
    for (int64_t i = 0; i < out; i++)
        uf[i] = (float)ud[i];
}

nn_tensor *nn_spectral_norm(nn_ctx *c, nn_tensor *w, nn_tensor *u, int n_power, float eps)
{
    if (check(w, u, n_power, eps))
        return NULL;
    const int64_t out = w->shape[0], k = w->n / out;
    nn_tensor *ut = nn_new(c, 2, (int64_t[]){out, 1});
    if (!ut) {
        gs_error(GS_ERR_NOMEM, "spectral_norm: out of memory");
        return NULL;
    }
    if (nn_is_training(c) && n_power > 0) {
        double *ud = nn_scratch(c, (size_t)(out + k) * sizeof(double));
        if (!ud) {
            gs_error(GS_ERR_NOMEM, "spectral_norm: out of memory");
            return NULL;
        }
        power(w, u->data, n_power, eps, ud, ud + out);
    }
    memcpy(ut->data, u->data, (size_t)out * sizeof(float));
    /* σ = |W^T u| (+ eps² inside the root: a zero weight stays finite) */
    nn_tensor *wm = nn_reshape(c, w, 2, (int64_t[]){out, k});
    nn_tensor *wtu = nn_matmul(c, wm, ut, true, false);
    nn_tensor *sigma = nn_sqrt(c, nn_add_scalar(c, nn_sum(c, nn_square(c, wtu)), eps * eps));
    return nn_div(c, w, nn_expand_scalar(c, sigma, w->ndim, w->shape));
}

void nn_spectral_norm_init_u(nn_tensor *u, gs_rng *r)
{
    gs_rng_fill_normal(r, u->data, u->n, 0.0f, 1.0f);
    double s = 0.0;
    for (int64_t i = 0; i < u->n; i++)
        s += (double)u->data[i] * u->data[i];
    double inv = 1.0 / (sqrt(s) > 1e-12 ? sqrt(s) : 1e-12);
    for (int64_t i = 0; i < u->n; i++)
        u->data[i] = (float)(u->data[i] * inv);
}

double nn_spectral_norm_sigma(const nn_tensor *w, const nn_tensor *u, float eps)
{
    if (check(w, u, 0, eps))
        return NAN;
    const int64_t out = w->shape[0], k = w->n / out;
    double *ud = malloc((size_t)(out + k) * sizeof *ud);
    if (!ud)
        return NAN;
    double *v = ud + out, s = 0.0;
    for (int64_t i = 0; i < out; i++)
        ud[i] = u->data[i];
    mat_tvec(w->data, out, k, ud, v);
    for (int64_t j = 0; j < k; j++)
        s += v[j] * v[j];
    free(ud);
    return sqrt(s);
}

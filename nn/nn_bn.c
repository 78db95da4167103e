/* Batch norm: the training-mode op (normalise with the batch statistics,
 * optionally with LeakyReLU fused) whose backward rule is made of ops, the
 * eval-mode form (one channel_affine), and the layer (docs/conv.md). */
#include "nn/nn_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define SRC(k) (y->src[k])
#define WANT(k) nn_wants(c, y->src[k])

/* Training-mode batch norm, optionally with its LeakyReLU, as one op:
 *   y = act((x - mean) * gamma / sqrt(var + eps) + beta)
 * with the batch statistics per channel. The composed version kept the
 * centred x, its square, the affine output and the activation (four tensors
 * of x's size) and its backward built about ten more; this node keeps only y
 * (plus mean and variance, 2 C floats of scratch, for the running
 * statistics). Its backward rule is written with ops, so it differentiates
 * again like the composition: with g = leaky_relu_bw(gy, y) (mask from the
 * output's sign, slope >= 0), xhat = (x - mean) inv, inv = 1 / sqrt(var + eps),
 *   dbeta  = sum g                    dgamma = sum g xhat = inv (sum g x - mean sum g)
 *   dx     = gamma inv g + b x + d    b = -gamma inv^2 dgamma / n,
 *                                     d = -b mean - gamma inv dbeta / n
 * where mean, var (channel_var) and inv are graph values of x, so the rule
 * is an exact function of (x, gamma, gy) for the next derivative, and the
 * per-channel sums are sum_channels / channel_dot (no full-size products)
 * and dx is one channel_affine2: the rule makes two tensors of x's size.
 * src = x, gamma, beta (either NULL); arg.bn: the [o, m, i] channel view,
 * eps, slope and act (the activation fused); aux = mean, var. */
/* Rows [r0, r1) of fwd_bn_train's output, x viewed as [o m, i] (row r is
 * channel r % m); a GS_KERNEL (core/gs_cpu.h), run per thread by
 * NN_PAR_CHUNKS. The same float operations as the composed version:
 * (x - mean), times gamma / sqrt(var + eps), plus beta, then the
 * select-based LeakyReLU. */
GS_KERNEL(bn_apply_rows,
          (float *out, const float *x, const float *gam, const float *bet, const float *mean,
           const float *var, int64_t m, int64_t in, float eps, bool act, float sl, int64_t r0,
           int64_t r1),
          (out, x, gam, bet, mean, var, m, in, eps, act, sl, r0, r1))
{
    for (int64_t r = r0; r < r1; r++) {
        const int64_t j = r % m;
        const float sj = (gam ? gam[j] : 1.0f) / sqrtf(var[j] + eps);
        const float tj = bet ? bet[j] : 0.0f, mu = mean[j];
        const float *p = x + r * in;
        float *q = out + r * in;
        if (act) {
#pragma omp simd
            for (int64_t k = 0; k < in; k++) {
                const float v = (p[k] - mu) * sj + tj;
                const float pos = v > 0.0f ? v : 0.0f;
                q[k] = pos + sl * (v - pos);
            }
        } else {
#pragma omp simd
            for (int64_t k = 0; k < in; k++)
                q[k] = (p[k] - mu) * sj + tj;
        }
    }
}

static void fwd_bn_train(nn_tensor *y)
{
    const int64_t o = y->arg.bn.o, m = y->arg.bn.m, in = y->arg.bn.i;
    const bool act = y->arg.bn.act;
    const float eps = y->arg.bn.eps, sl = y->arg.bn.slope;
    const float *x = y->src[0]->data;
    const float *gam = y->src[1] ? y->src[1]->data : NULL;
    const float *bet = y->src[2] ? y->src[2]->data : NULL;
    float *mean = y->aux, *var = mean + m, *out = y->data;
    nn_channel_moments(x, o, m, in, mean, var);
    NN_PAR_CHUNKS(o * m, y->n, r0, r1,
                  bn_apply_rows(out, x, gam, bet, mean, var, m, in, eps, act, sl, r0, r1));
}

static nn_tensor *bn_train(nn_ctx *c, nn_tensor *x, nn_tensor *gamma, nn_tensor *beta,
                           float eps, bool act, float slope)
{
    nn_tensor *y = nn_node(c, NN_OP_BN_TRAIN, x->ndim, x->shape, x, NULL, NULL, false);
    if (!y)
        return NULL;
    /* gamma and beta are optional, so they are attached after the checked input */
    y->src[1] = gamma;
    y->src[2] = beta;
    y->requires_grad |= ((gamma && gamma->requires_grad) || (beta && beta->requires_grad)) &&
                        nn_get_grad_enabled(c);
    y->arg.bn.eps = eps;
    y->arg.bn.slope = slope;
    y->arg.bn.o = x->shape[0];
    y->arg.bn.m = x->shape[1];
    y->arg.bn.i = x->n / (x->shape[0] * x->shape[1]);
    y->arg.bn.act = act;
    if (!(y->aux = nn_scratch(c, (size_t)(2 * x->shape[1]) * sizeof(float))))
        return NULL;
    return nn_run(y);
}

static void bwd_bn_train(nn_ctx *c, nn_tensor *y, nn_tensor *gy, nn_tensor **g)
{
    nn_tensor *x = SRC(0), *gam = SRC(1);
    const int64_t ch = y->arg.bn.m;
    const float inv_n = 1.0f / (float)(y->arg.bn.o * y->arg.bn.i);
    g[0] = g[1] = g[2] = NULL;
    nn_tensor *gz = gy;
    if (y->arg.bn.act) {
        gz = nn_leaky_relu_bw(c, gy, y, y->arg.bn.slope);
        /* gy is not read again: dx can take its buffer (nn_backward) */
        nn_bwd_done_with(c, gy);
    }
    nn_tensor *sg = nn_sum_channels(c, gz);
    if (WANT(2))
        g[2] = sg;
    if (!WANT(0) && !WANT(1))
        return;
    nn_tensor *mu = nn_scale(c, nn_sum_channels(c, x), inv_n);
    nn_tensor *sd = nn_sqrt(c, nn_add_scalar(c, nn_channel_var(c, x), y->arg.bn.eps));
    nn_tensor *one = sd ? nn_new(c, 1, (int64_t[]){ch}) : NULL;
    if (!one)
        return;
    for (int64_t k = 0; k < ch; k++)
        one->data[k] = 1.0f;
    nn_tensor *inv = nn_div(c, one, sd);
    nn_tensor *dgam = nn_mul(c, inv, nn_sub(c, nn_channel_dot(c, gz, x), nn_mul(c, mu, sg)));
    if (WANT(1))
        g[1] = dgam;
    if (!WANT(0))
        return;
    nn_tensor *s1 = gam ? nn_mul(c, gam, inv) : inv;
    nn_tensor *b = nn_scale(c, nn_mul(c, nn_mul(c, s1, inv), dgam), -inv_n);
    nn_tensor *d = nn_sub(c, nn_scale(c, nn_mul(c, b, mu), -1.0f),
                          nn_scale(c, nn_mul(c, s1, sg), inv_n));
    g[0] = nn_channel_affine2(c, gz, x, s1, b, d);
}

const nn_op_def nn_op_bn_train = {"batchnorm_train", 1, fwd_bn_train, bwd_bn_train};

/* Batch norm, then LeakyReLU(slope) when act. Training mode runs as one
 * bn_train node (with the activation when slope >= 0, where the backward's
 * mask can be read from the output); eval mode is one channel_affine. */
static nn_tensor *batchnorm(nn_ctx *c, nn_tensor *x, nn_tensor *gamma, nn_tensor *beta,
                            float *running_mean, float *running_var, float momentum, float eps,
                            bool act, float slope)
{
    if (!x)
        return NULL;
    if ((x->ndim != 2 && x->ndim != 4) || (gamma && gamma->n != x->shape[1]) ||
        (beta && beta->n != x->shape[1]))
        return nn_fail(c, "nn: batchnorm needs [N, C] or [N, C, H, W] and [C] gamma/beta");
    const int64_t *sh = x->shape, ch = sh[1], m = ch ? x->n / ch : 0;
    nn_tensor *y;
    if (nn_is_training(c)) {
        if (m < 2)
            return nn_fail(c, "nn: batchnorm: one value per channel in training mode");
        const bool fuse = act && slope >= 0.0f;
        y = bn_train(c, x, gamma, beta, eps, fuse, slope);
        if (y && running_mean && running_var) {
            const float *mu = y->aux, *var = mu + ch;
            const float unbias = (float)m / (float)(m - 1);
            for (int64_t k = 0; k < ch; k++) {
                running_mean[k] = (1.0f - momentum) * running_mean[k] + momentum * mu[k];
                running_var[k] =
                    (1.0f - momentum) * running_var[k] + momentum * var[k] * unbias;
            }
        }
        if (fuse)
            return y;
    } else {
        if (!running_mean || !running_var)
            return nn_fail(c, "nn: batchnorm in eval mode needs running statistics");
        nn_tensor *rm = nn_input(c, 1, (int64_t[]){ch}, running_mean);
        nn_tensor *inv = nn_new(c, 1, (int64_t[]){ch});
        if (!rm || !inv)
            return NULL;
        for (int64_t k = 0; k < ch; k++)
            inv->data[k] = 1.0f / sqrtf(running_var[k] + eps);
        nn_tensor *scale = gamma ? nn_mul(c, gamma, inv) : inv;
        /* (x - rm) scale + beta = x scale + (beta - rm scale): one full-size pass */
        nn_tensor *shift = nn_scale(c, nn_mul(c, rm, scale), -1.0f);
        if (beta)
            shift = nn_add(c, shift, beta);
        y = nn_channel_affine(c, x, scale, shift);
    }
    return act ? nn_leaky_relu(c, y, slope) : y;
}

nn_tensor *nn_batchnorm(nn_ctx *c, nn_tensor *x, nn_tensor *gamma, nn_tensor *beta,
                        float *running_mean, float *running_var, float momentum, float eps)
{
    return batchnorm(c, x, gamma, beta, running_mean, running_var, momentum, eps, false, 0.0f);
}

nn_tensor *nn_batchnorm_leaky_relu(nn_ctx *c, nn_tensor *x, nn_tensor *gamma, nn_tensor *beta,
                                   float *running_mean, float *running_var, float momentum,
                                   float eps, float slope)
{
    return batchnorm(c, x, gamma, beta, running_mean, running_var, momentum, eps, true, slope);
}

int nn_batchnorm_layer_init(nn_batchnorm_layer *l, nn_params *ps, nn_params *buffers,
                            const char *name, int64_t ch, float momentum, float eps)
{
    if (ch < 1)
        return gs_error(GS_ERR_ARG, "nn: batchnorm layer %s: bad channel count", name);
    *l = (nn_batchnorm_layer){.ch = ch, .momentum = momentum, .eps = eps};
    if (!buffers)
        buffers = ps;
    /* PyTorch's state_dict names, so checkpoints map one to one */
    static const char *const names[4] = {"weight", "bias", "running_mean", "running_var"};
    nn_tensor **slots[4] = {&l->gamma, &l->beta, &l->running_mean, &l->running_var};
    for (int i = 0; i < 4; i++) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s.%s", name, names[i]);
        if (!(*slots[i] = nn_param_new(i < 2 ? ps : buffers, buf, 1, (int64_t[]){ch})))
            return GS_ERR_NOMEM;
    }
    nn_init_const(l->gamma, 1.0f);
    nn_init_const(l->beta, 0.0f);
    nn_init_const(l->running_mean, 0.0f);
    nn_init_const(l->running_var, 1.0f);
    /* statistics, not parameters: no gradient, never touched by an optimizer */
    l->running_mean->requires_grad = false;
    l->running_var->requires_grad = false;
    return GS_OK;
}

nn_tensor *nn_batchnorm_layer_fwd(nn_ctx *c, const nn_batchnorm_layer *l, nn_tensor *x)
{
    return nn_batchnorm(c, x, l->gamma, l->beta, l->running_mean->data, l->running_var->data,
                        l->momentum, l->eps);
}

nn_tensor *nn_batchnorm_layer_fwd_lrelu(nn_ctx *c, const nn_batchnorm_layer *l, nn_tensor *x,
                                        float slope)
{
    return nn_batchnorm_leaky_relu(c, x, l->gamma, l->beta, l->running_mean->data,
                                   l->running_var->data, l->momentum, l->eps, slope);
}

int nn_batchnorm_fold(const nn_batchnorm_layer *l, const nn_tensor *w, const nn_tensor *b,
                      nn_tensor *w_out, nn_tensor *b_out)
{
    const int64_t rows = w->shape[0], per = rows / (l->ch > 0 ? l->ch : 1);
    if (l->ch < 1 || rows % l->ch || w_out->n != w->n || b_out->n != rows ||
        (b && b->n != rows))
        return gs_error(GS_ERR_ARG, "nn: batchnorm_fold: %lld rows for %lld channels, or "
                        "output shapes differ", (long long)rows, (long long)l->ch);
    const int64_t cols = w->n / rows;
    for (int64_t ch = 0; ch < l->ch; ch++) {
        const double g = l->gamma->data[ch], be = l->beta->data[ch];
        const double m = l->running_mean->data[ch], v = l->running_var->data[ch];
        const double sc = g / sqrt(v + (double)l->eps), sh = be - m * sc;
        for (int64_t r = ch * per; r < (ch + 1) * per; r++) {
            for (int64_t k = 0; k < cols; k++)
                w_out->data[r * cols + k] = (float)(sc * w->data[r * cols + k]);
            b_out->data[r] = (float)(sc * (b ? b->data[r] : 0.0f) + sh);
        }
    }
    return GS_OK;
}

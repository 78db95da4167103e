/* Parity driver for bench/parity_wgan.py (developer-side, not part of the build):
 *   parity_wgan FILE
 * FILE (written by the script) holds the luxe reference generator "G/..." and
 * critic "D/..." weights under gansim's parameter names, and the inputs of one
 * step: real [B, 6], z [B, 50], eps [B], z2 [B, 50]. Runs, with md_wgan's
 * networks (md_mlp_fwd: the fused linear+leaky_relu op) and optimizers:
 *   the critic loss with the gradient penalty (the expression of md_wgan.c's
 *   critic_step), a critic Adam update, the generator loss on z2 and a
 *   generator Adam update, then the critic loss again on the same inputs.
 * Prints "loss_d wdist gp loss_g loss_d_after" with 9 significant digits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/gs_h5.h"
#include "models/md_wgan.h"
#include "nn/nn_ckpt.h"

static double critic_loss(md_wgan *w, const float *real, const float *z, const float *eps,
                          double *wdist, double *gp, bool update)
{
    nn_ctx *c = w->ctx;
    const int64_t b = w->cfg.batch, f = w->cfg.n_features;
    nn_ctx_reset(c);
    nn_params_zero_grad(&w->dp);
    nn_params_set_requires_grad(&w->gp, false);
    nn_tensor *fake = md_mlp_fwd(c, &w->g, nn_input(c, 2, (int64_t[]){b, w->cfg.noise_dim}, z));
    nn_params_set_requires_grad(&w->gp, true);
    nn_tensor *x = nn_input(c, 2, (int64_t[]){b, f}, real);
    nn_tensor *wd = nn_sub(c, nn_mean(c, md_mlp_fwd(c, &w->d, x)),
                           nn_mean(c, md_mlp_fwd(c, &w->d, fake)));
    nn_tensor *xh = nn_new(c, 2, (int64_t[]){b, f}), *gx;
    for (int64_t i = 0; i < b; i++)
        for (int64_t j = 0; j < f; j++)
            xh->data[i * f + j] = eps[i] * real[i * f + j] + (1.0f - eps[i]) * fake->data[i * f + j];
    nn_set_requires_grad(xh, true);
    if (nn_grad(c, nn_sum(c, md_mlp_fwd(c, &w->d, xh)), 1, &xh, &gx, true))
        return NAN;
    nn_tensor *norm = nn_sqrt(c, nn_add_scalar(c, nn_sum_rows(c, nn_square(c, gx)), 1e-12f));
    nn_tensor *pen = nn_mean(c, nn_square(c, nn_add_scalar(c, norm, -1.0f)));
    nn_tensor *loss = nn_add(c, nn_scale(c, wd, -1.0f), nn_scale(c, pen, w->cfg.lambda_gp));
    if (!loss)
        return NAN;
    *wdist = wd->data[0];
    *gp = pen->data[0];
    if (update) {
        if (nn_backward(c, loss))
            return NAN;
        nn_optim_step(&w->od);
    }
    return loss->data[0];
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: parity_wgan FILE\n");
        return 2;
    }
    gs_h5_quiet();
    hid_t f;
    int64_t dims[GS_H5_MAX_RANK];
    int rank;
    if (gs_h5_open(argv[1], 0, &f) || gs_h5_shape(f, "real", &rank, dims)) {
        fprintf(stderr, "parity_wgan: %s\n", gs_errmsg());
        return 1;
    }
    const int64_t b = dims[0];
    md_wgan_cfg cfg = {.n_features = 6, .noise_dim = 50, .loss = MD_LOSS_WGAN_GP,
                       .lambda_gp = 10.0f, .n_critic = 5, .batch = b, .lr_g = 1e-4f,
                       .lr_d = 1e-4f, .beta1 = 0.5f, .beta2 = 0.9f};
    cfg.g.depth = cfg.d.depth = 3;
    for (int i = 0; i < 3; i++)
        cfg.g.widths[i] = cfg.d.widths[i] = 300;
    cfg.g.slope = cfg.d.slope = 0.2f;
    md_wgan w;
    float *real = malloc((size_t)(b * 6) * sizeof(float)), *eps = malloc((size_t)b * sizeof(float));
    float *z = malloc((size_t)(b * 50) * sizeof(float)), *z2 = malloc((size_t)(b * 50) * sizeof(float));
    hid_t g = -1, d = -1;
    int rc = md_wgan_init(&w, &cfg, 1);
    rc = rc ? rc : gs_h5_read_into(f, "real", GS_H5_F32, 2, (int64_t[]){b, 6}, real);
    rc = rc ? rc : gs_h5_read_into(f, "z", GS_H5_F32, 2, (int64_t[]){b, 50}, z);
    rc = rc ? rc : gs_h5_read_into(f, "z2", GS_H5_F32, 2, (int64_t[]){b, 50}, z2);
    rc = rc ? rc : gs_h5_read_into(f, "eps", GS_H5_F32, 1, (int64_t[]){b}, eps);
    rc = rc ? rc : gs_h5_group_open(f, "G", &g);
    rc = rc ? rc : nn_params_load(g, &w.gp);
    rc = rc ? rc : gs_h5_group_open(f, "D", &d);
    rc = rc ? rc : nn_params_load(d, &w.dp);
    if (rc) {
        fprintf(stderr, "parity_wgan: %s\n", gs_errmsg());
        return 1;
    }
    double wd, gp, wd2, gp2;
    const double ld = critic_loss(&w, real, z, eps, &wd, &gp, true);
    /* generator step, as md_wgan_step's */
    nn_ctx *c = w.ctx;
    nn_ctx_reset(c);
    nn_params_zero_grad(&w.gp);
    nn_params_set_requires_grad(&w.dp, false);
    nn_tensor *lg = nn_scale(c, nn_mean(c, md_mlp_fwd(c, &w.d, md_mlp_fwd(c, &w.g,
                             nn_input(c, 2, (int64_t[]){b, 50}, z2)))), -1.0f);
    if (!lg || nn_backward(c, lg)) {
        fprintf(stderr, "parity_wgan: %s\n", gs_errmsg());
        return 1;
    }
    nn_params_set_requires_grad(&w.dp, true);
    nn_optim_step(&w.og);
    const double lgv = lg->data[0];
    const double ld2 = critic_loss(&w, real, z, eps, &wd2, &gp2, false);
    printf("%.9g %.9g %.9g %.9g %.9g\n", ld, wd, gp, lgv, ld2);
    H5Gclose(g);
    H5Gclose(d);
    gs_h5_close(f);
    md_wgan_free(&w);
    free(real);
    free(z);
    free(z2);
    free(eps);
    return 0;
}

/* Driver for specnorm_parity.py: reads "out k iters seed" from argv, draws
 * W ~ U(-1, 1) [out, k] and u with gansim's RNG, runs nn_spectral_norm
 * `iters` times in training mode and prints W (row-major), then σ = W[0] /
 * W_sn[0] and the final u, one number per line. */
#include <stdio.h>
#include <stdlib.h>

#include "nn/nn_specnorm.h"

int main(int argc, char **argv)
{
    if (argc != 5)
        return 2;
    const int64_t out = atoll(argv[1]), k = atoll(argv[2]);
    const int iters = atoi(argv[3]);
    gs_rng r;
    gs_rng_seed(&r, (uint64_t)atoll(argv[4]));
    nn_params ps;
    nn_params_init(&ps);
    nn_tensor *w = nn_param_new(&ps, "w", 2, (int64_t[]){out, k});
    nn_tensor *u = nn_param_new(&ps, "u", 1, (int64_t[]){out});
    if (!w || !u)
        return 1;
    gs_rng_fill_uniform(&r, w->data, out * k, -1, 1);
    nn_spectral_norm_init_u(u, &r);
    nn_ctx *c = nn_ctx_new();
    nn_set_training(c, true);
    nn_tensor *y = NULL;
    for (int i = 0; i < iters; i++) {
        nn_ctx_reset(c);
        y = nn_spectral_norm(c, w, u, 1, 1e-12f);
        if (!y)
            return 1;
    }
    for (int64_t i = 0; i < out * k; i++)
        printf("%.9g\n", w->data[i]);
    printf("%.9g\n", (double)w->data[0] / y->data[0]);
    for (int64_t i = 0; i < out; i++)
        printf("%.9g\n", u->data[i]);
    nn_ctx_free(c);
    nn_params_free(&ps);
    return 0;
}

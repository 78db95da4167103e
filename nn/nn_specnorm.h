/* nn_specnorm — spectral normalisation of a weight tensor.
 *
 * Miyato, Kataoka, Koyama, Yoshida, "Spectral Normalization for Generative
 * Adversarial Networks", ICLR 2018; the power iteration of PyTorch's
 * torch.nn.utils.spectral_norm (dim 0):
 *   W viewed as a matrix [out, K] (K = the product of the other dims);
 *   training mode, n_power times:  v = W^T u / max(|W^T u|, eps),
 *                                  u = W v   / max(|W v|, eps)   (u updated in place);
 *   then, with the step's u held constant (no gradient through the iteration,
 *   as in PyTorch):  σ = |W^T u| = u^T W v for v = normalize(W^T u),
 *   result W / σ.  Evaluation mode (or n_power = 0) leaves u as it is.
 * σ ≤ the largest singular value of W, with equality once u is its left
 * singular vector. PyTorch takes σ = u^T W v_prev with the v of the last
 * iteration, which is ≤ |W^T u| and equal at convergence; here v follows from
 * u inside the graph, so the op is exactly the function W / |W^T u| of W for
 * the step's u and differentiable to any order (reshape, matmul, square, sum,
 * sqrt, expand, div) — usable inside a critic with a gradient penalty. */
#ifndef NN_SPECNORM_H
#define NN_SPECNORM_H

#include "nn/nn.h"

/* w: weight [out, ...] (any rank >= 2); u: persistent left singular vector
 * estimate [out] (a buffer, not trained; initialise with nn_spectral_norm_init_u).
 * Returns W / σ with w's shape, or NULL (gs_errmsg) on a shape mismatch,
 * n_power < 0 or eps <= 0. */
nn_tensor *nn_spectral_norm(nn_ctx *c, nn_tensor *w, nn_tensor *u, int n_power, float eps);

/* u ~ N(0, 1) normalised to unit length (PyTorch's initialisation). */
void nn_spectral_norm_init_u(nn_tensor *u, gs_rng *r);

/* σ = |W^T u| of the current u (no update, no graph). For tests and diagnostics. */
double nn_spectral_norm_sigma(const nn_tensor *w, const nn_tensor *u, float eps);

#endif

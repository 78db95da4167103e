/* md_classifier — the classifier two-sample test (the convention of the
 * Fast Calorimeter Simulation Challenge 2022, "CaloChallenge"): a small MLP,
 * trained with gansim's own engine, learns to tell sample A (e.g. real
 * events) from sample B (generated ones) on one part of each; its ROC AUC on
 * the held-out part measures how far apart the samples are. 0.5 means the
 * network finds no difference; 1.0 means it separates them perfectly. The
 * same test on two samples of the same truth (real vs real) is the noise
 * floor. Composes nn/ (the network), preprocess/ (the inputs' quantile
 * transform) and metrics/ (the exact AUC).
 *
 * Procedure (reproducible for a given seed and thread count):
 *  1. m = min(n_a, n_b, max_rows) rows are drawn without replacement from
 *     each sample (equal class sizes); the first ceil(test_frac · m) of each
 *     are held out for the AUC, the rest train.
 *  2. The first d_cont columns (continuous features) go through a quantile
 *     transform to a normal distribution fitted on the training rows of both
 *     classes (scikit-learn's QuantileTransformer, 1000 quantiles), so
 *     heavy tails (times over decades) and units do not matter; the other
 *     d − d_cont columns (one-hot species) are used as they are.
 *  3. MLP d → hidden → ... → 1 logit, LeakyReLU(0.2), PyTorch's default
 *     initialisation; binary cross-entropy with logits; Adam(lr, β = (0.9,
 *     0.999)); each step draws batch/2 training rows of each class
 *     (proportional to the weights when given, Walker's alias method).
 *  4. AUC of the held-out logits (B = positive class), weighted by the
 *     held-out rows' weights when given (mt_auc).
 * It runs on the calling thread alone (the network is too small for
 * threads to pay); run several at once for speed. */
#ifndef MD_CLASSIFIER_H
#define MD_CLASSIFIER_H

#include <stdint.h>

#include "core/gs_core.h"

#define MD_CLS_MAX_DEPTH 4

typedef struct {
    int64_t hidden;     /* width of each hidden layer (64) */
    int depth;          /* hidden layers, 1..MD_CLS_MAX_DEPTH (2) */
    int64_t steps;      /* Adam steps (1500) */
    int64_t batch;      /* rows per step, half from each sample (512) */
    float lr;           /* Adam learning rate (2e-3) */
    double test_frac;   /* share of each class held out for the AUC (0.5) */
    int64_t max_rows;   /* rows drawn per class at most (100000); 0 = no cap */
    uint64_t seed;      /* row draw, initialisation, batches (1) */
} md_cls_cfg;

void md_cls_defaults(md_cls_cfg *c);

typedef struct {
    double auc;            /* held-out ROC AUC, B the positive class */
    double auc_sigma0;     /* spread of the AUC for indistinguishable samples
                            * (mt_auc_sigma0 of the held-out class sizes) */
    int64_t n_train, n_test; /* rows per class */
    double loss_start, loss_end; /* training BCE, mean over the first / last 10 % of steps */
} md_cls_result;

/* a [na, d] and b [nb, d] row-major (weights aw, bw or NULL), first d_cont
 * columns continuous (0 <= d_cont <= d). Values must be finite. Errors:
 * GS_ERR_ARG (sizes, config: each class needs >= 2 training and >= 1
 * held-out row), GS_ERR_NUMERIC (NaN/Inf input or a diverged loss),
 * GS_ERR_NOMEM. */
int md_cls_two_sample(const float *a, const float *aw, int64_t na, const float *b,
                      const float *bw, int64_t nb, int64_t d, int64_t d_cont,
                      const md_cls_cfg *cfg, md_cls_result *out);

#endif

/* md_classifier — classifier two-sample test (see md_classifier.h). */
#include "models/md_classifier.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/mt.h"
#include "models/md_wgan.h"
#include "nn/nn.h"
#include "preprocess/pp.h"

void md_cls_defaults(md_cls_cfg *c)
{
    *c = (md_cls_cfg){.hidden = 64, .depth = 2, .steps = 1500, .batch = 512, .lr = 2e-3f,
                      .test_frac = 0.5, .max_rows = 100000, .seed = 1};
}

/* One class: m rows drawn without replacement, split into test (first) and
 * train, copied into the two matrices at the given row offsets. */
typedef struct {
    float *x, *w;       /* [n, d], [n] or NULL */
    int64_t n;
} part;

static int draw_rows(const float *src, const float *sw, int64_t n, int64_t d, int64_t m,
                     int64_t n_test, gs_rng *r, part *test, int64_t test_at, part *train,
                     int64_t train_at)
{
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    if (!idx)
        return gs_error(GS_ERR_NOMEM, "classifier: out of memory for %lld rows", (long long)n);
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    /* partial Fisher–Yates: the first m entries are a uniform draw */
    for (int64_t i = 0; i < m; i++) {
        int64_t j = i + (int64_t)gs_rng_below(r, (uint64_t)(n - i));
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    int rc = GS_OK;
    for (int64_t i = 0; i < m && !rc; i++) {
        const float *row = src + idx[i] * d;
        for (int64_t j = 0; j < d; j++)
            if (!isfinite(row[j]))
                rc = gs_error(GS_ERR_NUMERIC, "classifier: row %lld column %lld is %g",
                              (long long)idx[i], (long long)j, (double)row[j]);
        part *p = i < n_test ? test : train;
        int64_t at = i < n_test ? test_at + i : train_at + (i - n_test);
        memcpy(p->x + at * d, row, (size_t)d * sizeof(float));
        if (p->w)
            p->w[at] = sw ? sw[idx[i]] : 1.0f;
    }
    free(idx);
    return rc;
}

/* In place: the first dc columns of x [n, d] through the quantile transform. */
static int transform_cont(const pp_quantile *qt, float *x, int64_t n, int64_t d, int64_t dc,
                          float *scratch)
{
    if (dc == 0)
        return GS_OK;
    for (int64_t i = 0; i < n; i++)
        memcpy(scratch + i * dc, x + i * d, (size_t)dc * sizeof(float));
    int rc = pp_quantile_transform(qt, scratch, scratch, n);
    for (int64_t i = 0; !rc && i < n; i++)
        memcpy(x + i * d, scratch + i * dc, (size_t)dc * sizeof(float));
    return rc;
}

int md_cls_two_sample(const float *a, const float *aw, int64_t na, const float *b,
                      const float *bw, int64_t nb, int64_t d, int64_t d_cont,
                      const md_cls_cfg *cfg_in, md_cls_result *out)
{
    md_cls_cfg cfg;
    if (cfg_in)
        cfg = *cfg_in;
    else
        md_cls_defaults(&cfg);
    if (!a || !b || !out || d < 1 || d_cont < 0 || d_cont > d)
        return gs_error(GS_ERR_ARG, "classifier: bad arguments (d = %lld, d_cont = %lld)",
                        (long long)d, (long long)d_cont);
    if (cfg.hidden < 1 || cfg.depth < 1 || cfg.depth > MD_CLS_MAX_DEPTH || cfg.steps < 1 ||
        cfg.batch < 2 || !(cfg.lr > 0) || !(cfg.test_frac > 0 && cfg.test_frac < 1) ||
        cfg.max_rows < 0)
        return gs_error(GS_ERR_ARG, "classifier: bad configuration (hidden %lld, depth %d, "
                                    "steps %lld, batch %lld, lr %g, test_frac %g)",
                        (long long)cfg.hidden, cfg.depth, (long long)cfg.steps,
                        (long long)cfg.batch, (double)cfg.lr, cfg.test_frac);
    int64_t m = na < nb ? na : nb;
    if (cfg.max_rows > 0 && m > cfg.max_rows)
        m = cfg.max_rows;
    const int64_t n_test = (int64_t)ceil(cfg.test_frac * (double)m), n_train = m - n_test;
    if (n_test < 1 || n_train < 2)
        return gs_error(GS_ERR_ARG, "classifier: %lld rows per sample are too few (need >= 2 "
                                    "to train and >= 1 to test)", (long long)m);
    const int weighted = aw || bw;
    /* One thread: the network is too small for the kernels' threads to pay
     * (on a busy machine their barriers cost more than the work); callers
     * that want speed run several tests at once (md_eval runs the model's
     * and the floor's side by side). The setting is this thread's own. */
    const int saved_threads = omp_get_max_threads();
    omp_set_num_threads(1);
    gs_rng rng;
    gs_rng_seed(&rng, cfg.seed ^ 0xC1A551F1E5ULL);
    /* class 0 (a) first, then class 1 (b), in both matrices */
    part tr = {malloc((size_t)(2 * n_train * d) * sizeof(float)),
               weighted ? malloc((size_t)(2 * n_train) * sizeof(float)) : NULL, 2 * n_train};
    part te = {malloc((size_t)(2 * n_test * d) * sizeof(float)),
               weighted ? malloc((size_t)(2 * n_test) * sizeof(float)) : NULL, 2 * n_test};
    int64_t nmax = tr.n > te.n ? tr.n : te.n;
    float *scratch = malloc((size_t)(nmax * (d_cont > 0 ? d_cont : 1)) * sizeof(float));
    float *xb = malloc((size_t)(cfg.batch * d) * sizeof(float));
    float *yb = malloc((size_t)cfg.batch * sizeof(float));
    double *score = malloc((size_t)te.n * sizeof *score), *tw = NULL;
    uint8_t *lab = malloc((size_t)te.n);
    pp_quantile qt = {0};
    nn_params ps;
    nn_params_init(&ps);
    nn_optim opt = {0};
    nn_ctx *ctx = NULL;
    md_sampler smp[2] = {{0}, {0}};
    int rc = GS_OK;
    if (!tr.x || !te.x || (weighted && (!tr.w || !te.w)) || !scratch || !xb || !yb || !score ||
        !lab)
        rc = gs_error(GS_ERR_NOMEM, "classifier: out of memory for %lld rows per class",
                      (long long)m);
    if (!rc)
        rc = draw_rows(a, aw, na, d, m, n_test, &rng, &te, 0, &tr, 0);
    if (!rc)
        rc = draw_rows(b, bw, nb, d, m, n_test, &rng, &te, n_test, &tr, n_train);
    if (!rc && d_cont > 0) {
        for (int64_t i = 0; i < tr.n; i++)
            memcpy(scratch + i * d_cont, tr.x + i * d, (size_t)d_cont * sizeof(float));
        pp_quantile_opts qo;
        pp_quantile_opts_default(&qo);
        qo.output = PP_NORMAL;
        rc = pp_quantile_fit(&qt, scratch, tr.n, d_cont, &qo);
        if (!rc)
            rc = transform_cont(&qt, tr.x, tr.n, d, d_cont, scratch);
        if (!rc)
            rc = transform_cont(&qt, te.x, te.n, d, d_cont, scratch);
    }
    md_mlp net;
    if (!rc) {
        md_mlp_cfg mc = {.n_in = d, .n_out = 1, .depth = cfg.depth, .slope = 0.2f,
                         .norm = MD_NORM_NONE};
        for (int i = 0; i < cfg.depth; i++)
            mc.widths[i] = cfg.hidden;
        rc = md_mlp_init(&net, &ps, "C", &mc, &rng);
    }
    if (!rc) {
        nn_optim_cfg oc = nn_optim_defaults(NN_OPT_ADAM, cfg.lr);
        rc = nn_optim_init(&opt, &ps, &oc);
    }
    if (!rc && !(ctx = nn_ctx_new()))
        rc = gs_error(GS_ERR_NOMEM, "classifier: out of memory");
    for (int c = 0; !rc && c < 2; c++)
        rc = md_sampler_init(&smp[c], n_train, tr.w ? tr.w + c * n_train : NULL);
    /* training */
    const int64_t half = cfg.batch / 2, bsz = 2 * half;
    const int64_t avg = cfg.steps / 10 > 0 ? cfg.steps / 10 : 1;
    double l0 = 0, l1 = 0;
    for (int64_t s = 0; !rc && s < cfg.steps; s++) {
        for (int64_t i = 0; i < bsz; i++) {
            int c = i >= half;
            int64_t row = c * n_train + md_sampler_draw(&smp[c], &rng);
            memcpy(xb + i * d, tr.x + row * d, (size_t)d * sizeof(float));
            yb[i] = (float)c;
        }
        nn_ctx_reset(ctx);
        nn_params_zero_grad(&ps);
        nn_tensor *x = nn_input(ctx, 2, (int64_t[]){bsz, d}, xb);
        nn_tensor *y = nn_input(ctx, 2, (int64_t[]){bsz, 1}, yb);
        nn_tensor *loss = nn_bce_with_logits(ctx, md_mlp_fwd(ctx, &net, x), y);
        if (!loss) {
            rc = gs_error(GS_ERR_NOMEM, "classifier: step %lld: %s", (long long)s, gs_errmsg());
            break;
        }
        double lv = loss->data[0];
        if (!isfinite(lv)) {
            rc = gs_error(GS_ERR_NUMERIC, "classifier: loss is %g at step %lld", lv, (long long)s);
            break;
        }
        if (s < avg)
            l0 += lv / (double)avg;
        if (s >= cfg.steps - avg)
            l1 += lv / (double)avg;
        if ((rc = nn_backward(ctx, loss)))
            break;
        nn_optim_step(&opt);
    }
    /* held-out scores */
    const int64_t chunk = 8192;
    for (int64_t i0 = 0; !rc && i0 < te.n; i0 += chunk) {
        int64_t k = te.n - i0 < chunk ? te.n - i0 : chunk;
        nn_ctx_reset(ctx);
        nn_set_grad_enabled(ctx, false);
        nn_tensor *o = md_mlp_fwd(ctx, &net, nn_input(ctx, 2, (int64_t[]){k, d}, te.x + i0 * d));
        nn_set_grad_enabled(ctx, true);
        if (!o) {
            rc = gs_error(GS_ERR_NOMEM, "classifier: scoring: %s", gs_errmsg());
            break;
        }
        for (int64_t i = 0; i < k; i++) {
            score[i0 + i] = o->data[i];
            lab[i0 + i] = i0 + i >= n_test;
            if (!isfinite(score[i0 + i]))
                rc = gs_error(GS_ERR_NUMERIC, "classifier: held-out score %g", score[i0 + i]);
        }
    }
    if (!rc && te.w) {
        if (!(tw = malloc((size_t)te.n * sizeof *tw)))
            rc = gs_error(GS_ERR_NOMEM, "classifier: out of memory");
        for (int64_t i = 0; !rc && i < te.n; i++)
            tw[i] = te.w[i];
    }
    if (!rc)
        rc = mt_auc(score, lab, tw, te.n, &out->auc);
    if (!rc) {
        out->auc_sigma0 = mt_auc_sigma0((double)n_test, (double)n_test);
        out->n_train = n_train;
        out->n_test = n_test;
        out->loss_start = l0;
        out->loss_end = l1;
    }
    md_sampler_free(&smp[0]);
    md_sampler_free(&smp[1]);
    nn_ctx_free(ctx);
    nn_optim_free(&opt);
    nn_params_free(&ps);
    pp_quantile_free(&qt);
    free(tr.x);
    free(tr.w);
    free(te.x);
    free(te.w);
    free(scratch);
    free(xb);
    free(yb);
    free(score);
    free(tw);
    free(lab);
    omp_set_num_threads(saved_threads);
    return rc;
}

/* Engine behaviour as a trainer sees it: the WGAN-GP double backward,
 * optimizer updates, allocation-free steady state, and a small MLP that
 * must actually learn. */
#include "nn_ref.h"
#include "gradcheck.h"
#include "nn/nn_ckpt.h"

#include "alloc_count.h"

typedef struct {
    nn_params ps;
    nn_linear_layer l[4];
    int depth;
} mlp;

static void mlp_init(mlp *m, const char *name, const int *widths, int depth, uint64_t seed)
{
    gs_rng r;
    gs_rng_seed(&r, seed);
    nn_params_init(&m->ps);
    m->depth = depth;
    for (int i = 0; i < depth; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%s.l%d", name, i);
        ck_assert_int_eq(nn_linear_layer_init(&m->l[i], &m->ps, buf, widths[i], widths[i + 1],
                                              true, NN_INIT_TORCH, &r),
                         GS_OK);
    }
}

static nn_tensor *mlp_fwd(nn_ctx *c, const mlp *m, nn_tensor *x, bool tanh_act)
{
    for (int i = 0; i < m->depth; i++) {
        x = nn_linear_layer_fwd(c, &m->l[i], x);
        if (i + 1 < m->depth)
            x = tanh_act ? nn_tanh(c, x) : nn_leaky_relu(c, x, 0.2f);
    }
    return x;
}

/* lambda * mean((||grad_x D(x)||_2 - 1)^2), the WGAN-GP penalty */
static nn_tensor *gradient_penalty(nn_ctx *c, const mlp *d, const float *xv, int64_t n,
                                   int64_t f)
{
    nn_tensor *x = nn_input(c, 2, (int64_t[]){n, f}, xv);
    nn_set_requires_grad(x, true);
    nn_tensor *out = mlp_fwd(c, d, x, false), *gx;
    ck_assert_int_eq(nn_grad(c, nn_sum(c, out), 1, &x, &gx, true), GS_OK);
    nn_tensor *norm = nn_sqrt(c, nn_add_scalar(c, nn_sum_rows(c, nn_square(c, gx)), 1e-12f));
    return nn_scale(c, nn_mean(c, nn_square(c, nn_add_scalar(c, norm, -1.0f))), 10.0f);
}

START_TEST(t_wgan_gp_param_grads)
{
    const int widths[] = {3, 6, 5, 1};
    mlp d;
    mlp_init(&d, "D", widths, 3, 21);
    float xv[12];
    gc_fill(xv, 12, 22, -1.5f, 1.5f, 0);
    nn_ctx *c = nn_ctx_new();
    nn_ctx_reset(c);
    nn_params_zero_grad(&d.ps);
    ck_assert_int_eq(nn_backward(c, gradient_penalty(c, &d, xv, 4, 3)), GS_OK);
    const double h = 1e-3;
    int checked = 0;
    for (int i = 0; i < d.ps.n; i++) {
        nn_tensor *p = d.ps.p[i];
        for (int64_t j = 0; j < p->n; j++) {
            float w0 = p->data[j];
            p->data[j] = w0 + (float)h;
            nn_ctx_reset(c);
            double gp_p = gradient_penalty(c, &d, xv, 4, 3)->data[0];
            p->data[j] = w0 - (float)h;
            nn_ctx_reset(c);
            double gp_m = gradient_penalty(c, &d, xv, 4, 3)->data[0];
            p->data[j] = w0;
            double num = (gp_p - gp_m) / (2 * h);
            ck_assert_msg(fabs(p->grad[j] - num) <= 5e-3 + 2e-2 * fabs(num),
                          "dGP/d%s[%lld]: analytic %.6g vs numeric %.6g", p->name, (long long)j,
                          p->grad[j], num);
            checked++;
        }
    }
    ck_assert_int_eq(checked, (int)nn_params_count(&d.ps));
    /* the penalty really depends on the parameters through the double backward */
    double gsum = 0;
    for (int i = 0; i < d.ps.n; i++)
        for (int64_t j = 0; j < d.ps.p[i]->n; j++)
            gsum += fabs(d.ps.p[i]->grad[j]);
    ck_assert(gsum > 1e-3);
    nn_ctx_free(c);
    nn_params_free(&d.ps);
}
END_TEST

static void one_param(nn_params *ps, nn_tensor **p)
{
    nn_params_init(ps);
    *p = nn_param_new(ps, "p", 1, (int64_t[]){2});
    (*p)->data[0] = 1.0f;
    (*p)->data[1] = -2.0f;
}

static void set_grad(nn_tensor *p)
{
    p->grad[0] = 0.5f;
    p->grad[1] = 0.25f;
}

START_TEST(t_optimizers_closed_form)
{
    nn_params ps;
    nn_tensor *p;
    nn_optim o;
    const float g[2] = {0.5f, 0.25f}, p0[2] = {1.0f, -2.0f};

    one_param(&ps, &p); /* SGD with momentum: buf1 = g, buf2 = 0.9 g + g */
    nn_optim_cfg cfg = nn_optim_defaults(NN_OPT_SGD, 0.1f);
    cfg.momentum = 0.9f;
    nn_optim_init(&o, &ps, &cfg);
    set_grad(p);
    nn_optim_step(&o);
    nn_optim_step(&o);
    for (int k = 0; k < 2; k++)
        ck_assert_close(p->data[k], p0[k] - 0.1 * g[k] - 0.1 * 1.9 * g[k], 1e-6, 0);
    nn_optim_free(&o);
    nn_params_free(&ps);

    one_param(&ps, &p); /* Adam: two steps, constant gradient, with L2 decay */
    cfg = nn_optim_defaults(NN_OPT_ADAM, 0.1f);
    cfg.weight_decay = 0.01f;
    nn_optim_init(&o, &ps, &cfg);
    double w[2] = {p0[0], p0[1]}, m[2] = {0, 0}, v[2] = {0, 0};
    for (int t = 1; t <= 2; t++) {
        set_grad(p);
        nn_optim_step(&o);
        for (int k = 0; k < 2; k++) {
            double gk = g[k] + 0.01 * w[k];
            m[k] = 0.9 * m[k] + 0.1 * gk;
            v[k] = 0.999 * v[k] + 0.001 * gk * gk;
            double mh = m[k] / (1 - pow(0.9, t)), vh = v[k] / (1 - pow(0.999, t));
            w[k] -= 0.1 * mh / (sqrt(vh) + 1e-8);
        }
    }
    for (int k = 0; k < 2; k++)
        ck_assert_close(p->data[k], w[k], 1e-6, 1e-6);
    nn_optim_free(&o);
    nn_params_free(&ps);

    one_param(&ps, &p); /* RMSprop: v = 0.01 g^2, step = lr g / (0.1 |g|) */
    cfg = nn_optim_defaults(NN_OPT_RMSPROP, 0.01f);
    nn_optim_init(&o, &ps, &cfg);
    set_grad(p);
    nn_optim_step(&o);
    for (int k = 0; k < 2; k++)
        ck_assert_close(p->data[k], p0[k] - 0.01 * g[k] / (0.1 * fabs(g[k]) + 1e-8), 1e-6, 1e-6);
    /* frozen parameters are not updated */
    p->requires_grad = false;
    float before = p->data[0];
    nn_optim_step(&o);
    ck_assert_float_eq(p->data[0], before);
    /* weight clipping */
    p->data[0] = 3.0f;
    p->data[1] = -0.005f;
    nn_params_clip(&ps, 0.01f);
    ck_assert_float_eq(p->data[0], 0.01f);
    ck_assert_float_eq(p->data[1], -0.005f);
    nn_optim_free(&o);
    nn_params_free(&ps);
}
END_TEST

/* One WGAN-GP critic step plus one generator step, as models/ will do it.
 * Returns nonzero on failure; no ck_assert inside, because Check's own
 * bookkeeping allocates and would be counted. */
static int wgan_step(nn_ctx *c, mlp *g, mlp *d, nn_optim *og, nn_optim *od, const float *real,
                      float *noise, float *eps, gs_rng *r, int64_t b)
{
    nn_ctx_reset(c);
    gs_rng_fill_normal(r, noise, b * 8, 0, 1);
    gs_rng_fill_uniform(r, eps, b, 0, 1);
    nn_params_zero_grad(&d->ps);
    nn_params_set_requires_grad(&g->ps, false);
    nn_tensor *fake = mlp_fwd(c, g, nn_input(c, 2, (int64_t[]){b, 8}, noise), false);
    nn_tensor *xr = nn_input(c, 2, (int64_t[]){b, 6}, real);
    nn_tensor *xh = nn_new(c, 2, (int64_t[]){b, 6});
    for (int64_t i = 0; i < b * 6; i++)
        xh->data[i] = eps[i / 6] * real[i] + (1 - eps[i / 6]) * fake->data[i];
    nn_set_requires_grad(xh, true);
    nn_tensor *gx, *dh = mlp_fwd(c, d, xh, false);
    int bad = nn_grad(c, nn_sum(c, dh), 1, &xh, &gx, true);
    if (bad)
        return bad;
    nn_tensor *norm = nn_sqrt(c, nn_add_scalar(c, nn_sum_rows(c, nn_square(c, gx)), 1e-12f));
    nn_tensor *gp = nn_mean(c, nn_square(c, nn_add_scalar(c, norm, -1.0f)));
    nn_tensor *loss = nn_add(c, nn_sub(c, nn_mean(c, mlp_fwd(c, d, fake, false)),
                                       nn_mean(c, mlp_fwd(c, d, xr, false))),
                             nn_scale(c, gp, 10.0f));
    bad |= nn_backward(c, loss);
    nn_optim_step(od);
    nn_params_set_requires_grad(&g->ps, true);

    nn_ctx_reset(c);
    nn_params_zero_grad(&g->ps);
    nn_params_set_requires_grad(&d->ps, false);
    fake = mlp_fwd(c, g, nn_input(c, 2, (int64_t[]){b, 8}, noise), false);
    bad |= nn_backward(c, nn_scale(c, nn_mean(c, mlp_fwd(c, d, fake, false)), -1));
    nn_optim_step(og);
    nn_params_set_requires_grad(&d->ps, true);
    return bad;
}

START_TEST(t_no_malloc_in_steady_state)
{
    alloc_count_prove();
    const int gw[] = {8, 32, 32, 6}, dw[] = {6, 32, 32, 1};
    mlp g, d;
    mlp_init(&g, "G", gw, 3, 1);
    mlp_init(&d, "D", dw, 3, 2);
    nn_optim og, od;
    nn_optim_cfg cfg = nn_optim_defaults(NN_OPT_ADAM, 1e-4f);
    nn_optim_init(&og, &g.ps, &cfg);
    nn_optim_init(&od, &d.ps, &cfg);
    const int64_t b = 64;
    float *real = malloc(b * 6 * sizeof(float)), *noise = malloc(b * 8 * sizeof(float));
    float *eps = malloc(b * sizeof(float));
    gs_rng r;
    gs_rng_seed(&r, 3);
    gs_rng_fill_normal(&r, real, b * 6, 1, 2);
    nn_ctx *c = nn_ctx_new();
    nn_ctx_stats s1, s2;
    long calls_after_warmup = 0;
    int bad = 0;
    for (int step = 0; step < 8; step++) {
        if (step == 2) {
            nn_ctx_get_stats(c, &s1);
            calls_after_warmup = n_alloc_calls;
        }
        bad |= wgan_step(c, &g, &d, &og, &od, real, noise, eps, &r, b);
    }
    long calls = n_alloc_calls - calls_after_warmup;
    ck_assert_int_eq(bad, 0);
    nn_ctx_get_stats(c, &s2);
    ck_assert_uint_eq(s2.n_mallocs, s1.n_mallocs);
    ck_assert_uint_eq(s2.high_water, s1.high_water);
    ck_assert_int_eq((int)calls, 0);
    ck_assert_uint_gt(s1.high_water, 0);
    fprintf(stderr, "arena: %zu bytes, high water %zu, %llu block allocations in 8 steps\n",
            s2.arena_bytes, s2.high_water, (unsigned long long)s2.n_mallocs);
    nn_ctx_free(c);
    free(real);
    free(noise);
    free(eps);
    nn_optim_free(&og);
    nn_optim_free(&od);
    nn_params_free(&g.ps);
    nn_params_free(&d.ps);
}
END_TEST

START_TEST(t_mlp_learns_regression)
{
    const int w[] = {2, 64, 64, 1};
    mlp m;
    mlp_init(&m, "R", w, 3, 4);
    nn_optim o;
    nn_optim_cfg cfg = nn_optim_defaults(NN_OPT_ADAM, 3e-3f);
    nn_optim_init(&o, &m.ps, &cfg);
    enum { N = 512 };
    float x[N * 2], y[N];
    gs_rng r;
    gs_rng_seed(&r, 5);
    gs_rng_fill_uniform(&r, x, N * 2, -1, 1);
    double var = 0, mean = 0;
    for (int i = 0; i < N; i++) {
        y[i] = sinf(3 * x[2 * i]) * x[2 * i + 1] + 0.5f * x[2 * i] * x[2 * i];
        mean += y[i] / N;
    }
    for (int i = 0; i < N; i++)
        var += (y[i] - mean) * (y[i] - mean) / N;
    nn_ctx *c = nn_ctx_new();
    double mse = 0;
    for (int step = 0; step < 1500; step++) {
        nn_ctx_reset(c);
        nn_params_zero_grad(&m.ps);
        nn_tensor *pred = mlp_fwd(c, &m, nn_input(c, 2, (int64_t[]){N, 2}, x), true);
        nn_tensor *loss = nn_mse(c, pred, nn_input(c, 2, (int64_t[]){N, 1}, y));
        ck_assert_int_eq(nn_backward(c, loss), GS_OK);
        nn_optim_step(&o);
        mse = loss->data[0];
    }
    /* the target's variance is ~0.17; a linear fit leaves most of it */
    fprintf(stderr, "regression: variance %.4f, final MSE %.5f\n", var, mse);
    ck_assert_msg(mse < 0.01 * var, "MSE %.5f not below 1%% of the variance %.4f", mse, var);
    nn_ctx_free(c);
    nn_optim_free(&o);
    nn_params_free(&m.ps);
}
END_TEST

/* One parameter, two contexts (data-parallel shards, a sampler beside a
 * trainer): a pass in one must not pick up the gradient another context
 * left on the parameter. With per-context pass numbers the second
 * context's first pass had the first's number and added into its stale
 * gradient (x1 + x2 instead of x2). */
START_TEST(t_param_shared_by_contexts)
{
    nn_params ps;
    nn_params_init(&ps);
    nn_tensor *w = nn_param_new(&ps, "w", 1, (int64_t[]){3});
    ck_assert_ptr_nonnull(w);
    nn_ctx *a = nn_ctx_new(), *b = nn_ctx_new();
    const float x1[3] = {1, 2, 3}, x2[3] = {10, 20, 30};
    nn_tensor *g;
    nn_tensor *ya = nn_sum(a, nn_mul(a, w, nn_input(a, 1, (int64_t[]){3}, x1)));
    ck_assert_int_eq(nn_grad(a, ya, 1, &w, &g, false), GS_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_float_eq(g->data[i], x1[i]);
    nn_tensor *yb = nn_sum(b, nn_mul(b, w, nn_input(b, 1, (int64_t[]){3}, x2)));
    ck_assert_int_eq(nn_grad(b, yb, 1, &w, &g, false), GS_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_float_eq(g->data[i], x2[i]);
    /* and into p->grad through nn_backward, after the other context's pass */
    nn_params_zero_grad(&ps);
    ck_assert_int_eq(nn_backward(a, ya), GS_OK);
    nn_params_zero_grad(&ps);
    ck_assert_int_eq(nn_backward(b, yb), GS_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_float_eq(w->grad[i], x2[i]);
    nn_ctx_free(a);
    nn_ctx_free(b);
    nn_params_free(&ps);
}
END_TEST

/* The weight average with warm-up: the decay is min(decay, (1 + n)/(10 + n))
 * (TensorFlow's ExponentialMovingAverage with num_updates), and after 105
 * updates of a constant source nothing of the start value is left — with
 * the plain decay 0.995 59 % of it is. */
START_TEST(t_ema_warmup)
{
    ck_assert_float_eq(nn_ema_decay(0.995, 0), 0.1f);
    ck_assert_float_eq(nn_ema_decay(0.995, 90), 0.91f);
    ck_assert_float_eq(nn_ema_decay(0.995, 1790), 0.995f); /* 1791/1800 = 0.995 */
    ck_assert_float_eq(nn_ema_decay(0.995, 100000), 0.995f);
    ck_assert_float_eq(nn_ema_decay(0.5, 0), 0.1f);
    ck_assert_float_eq(nn_ema_decay(0.5, 10), 0.5f); /* 11/20 > 0.5 */
    ck_assert_float_eq(nn_ema_decay(0.05, 0), 0.05f);
    ck_assert_float_eq(nn_ema_decay(0, 7), 0.0f);
    nn_params avg, src;
    nn_params_init(&avg);
    nn_params_init(&src);
    nn_tensor *a = nn_param_new(&avg, "w", 1, (int64_t[]){1});
    nn_tensor *s = nn_param_new(&src, "w", 1, (int64_t[]){1});
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(s);
    a->data[0] = 1.0f; /* the start value */
    s->data[0] = 0.0f;
    for (int64_t n = 0; n < 105; n++)
        ck_assert_int_eq(nn_params_ema(&avg, &src, nn_ema_decay(0.995, n)), GS_OK);
    ck_assert(a->data[0] < 1e-6f);
    nn_params_free(&avg);
    nn_params_free(&src);
}
END_TEST

START_TEST(t_checkpoint_round_trip)
{
    const int w[] = {3, 7, 2};
    mlp a, b;
    mlp_init(&a, "M", w, 2, 8);
    mlp_init(&b, "M", w, 2, 9); /* same layout, different values */
    nn_optim oa, ob;
    nn_optim_cfg cfg = nn_optim_defaults(NN_OPT_ADAM, 1e-3f);
    nn_optim_init(&oa, &a.ps, &cfg);
    nn_optim_init(&ob, &b.ps, &cfg);
    for (int s = 0; s < 3; s++) { /* give the moments non-trivial values */
        for (int i = 0; i < a.ps.n; i++)
            gc_fill(a.ps.p[i]->grad, a.ps.p[i]->n, 30 + (uint64_t)s, -1, 1, 0);
        nn_optim_step(&oa);
    }
    gs_rng ra, rb;
    gs_rng_seed(&ra, 77);
    gs_rng_next(&ra);
    gs_rng_seed(&rb, 1);
    char dir[64], path[128];
    gs_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ck.h5", dir);
    ck_assert_int_eq(ref_ckpt_save(path, &a.ps, &oa, &ra, 1234), GS_OK);
    int64_t step = 0;
    ck_assert_int_eq(ref_ckpt_load(path, &b.ps, &ob, &rb, &step), GS_OK);
    ck_assert_int_eq(step, 1234);
    ck_assert_int_eq(ob.t, oa.t);
    for (int i = 0; i < a.ps.n; i++) {
        size_t bytes = (size_t)a.ps.p[i]->n * sizeof(float);
        ck_assert_int_eq(memcmp(a.ps.p[i]->data, b.ps.p[i]->data, bytes), 0);
        ck_assert_int_eq(memcmp(oa.m[i], ob.m[i], bytes), 0);
        ck_assert_int_eq(memcmp(oa.v[i], ob.v[i], bytes), 0);
    }
    ck_assert_uint_eq(gs_rng_next(&ra), gs_rng_next(&rb));
    /* a model of another shape is refused, naming the parameter */
    const int w2[] = {3, 8, 2};
    mlp c2;
    mlp_init(&c2, "M", w2, 2, 9);
    ck_assert_int_ne(ref_ckpt_load(path, &c2.ps, NULL, NULL, NULL), GS_OK);
    ck_assert_ptr_nonnull(strstr(gs_errmsg(), "M.l0.w"));
    /* a missing file is an error, not a crash */
    ck_assert_int_ne(ref_ckpt_load("/nonexistent/x.h5", &b.ps, NULL, NULL, NULL), GS_OK);
    gs_test_rmdir(dir);
    nn_optim_free(&oa);
    nn_optim_free(&ob);
    nn_params_free(&a.ps);
    nn_params_free(&b.ps);
    nn_params_free(&c2.ps);
}
END_TEST

static Suite *train_suite(void)
{
    Suite *s = suite_create("nn_train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_wgan_gp_param_grads);
    tcase_add_test(tc, t_optimizers_closed_form);
    tcase_add_test(tc, t_no_malloc_in_steady_state);
    tcase_add_test(tc, t_mlp_learns_regression);
    tcase_add_test(tc, t_checkpoint_round_trip);
    tcase_add_test(tc, t_param_shared_by_contexts);
    tcase_add_test(tc, t_ema_warmup);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(train_suite)

/* ZDC generation and sampling: the eval-mode generator in chunks (training
 * evaluation, and sampling's reference path), the folded sub-pixel form
 * sampling uses, and model files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/md_zdc_internal.h"
#include "nn/nn_ckpt.h"

#define MD_ZDC_GEN_CHUNK 256   /* images per generation pass: activations stay ~30 MB */
#define ZDC_MAX_SLOTS 8        /* chunks generated at once by the sampler (one context each) */

/* ---- generation (training evaluation and sampling) -------------------------- */
int md_zdc_generate(nn_ctx *c, const md_zdc_gen *g, const float *cond, int64_t n, int64_t k,
                    gs_rng *r, float *out)
{
    const int64_t total = n * k, px = g->h * g->w, nc = g->n_cond, nz = g->noise_dim;
    const bool was_grad = nn_get_grad_enabled(c), was_train = nn_is_training(c);
    nn_set_grad_enabled(c, false);
    nn_set_training(c, false);
    int rc = GS_OK;
    for (int64_t o0 = 0; o0 < total; o0 += MD_ZDC_GEN_CHUNK) {
        const int64_t m = total - o0 < MD_ZDC_GEN_CHUNK ? total - o0 : MD_ZDC_GEN_CHUNK;
        nn_ctx_reset(c);
        nn_tensor *z = nn_new(c, 2, (int64_t[]){m, nz});
        nn_tensor *ct = nn_new(c, 2, (int64_t[]){m, nc});
        if (z && ct) {
            gs_rng_fill_normal(r, z->data, m * nz, 0.0f, 1.0f);
            for (int64_t i = 0; i < m; i++)
                memcpy(ct->data + i * nc, cond + ((o0 + i) / k) * nc, (size_t)nc * sizeof(float));
        }
        nn_tensor *y = md_zdc_gen_fwd(c, g, z, ct);
        if (!y) {
            rc = gs_error_wrap(GS_ERR_NOMEM, "zdc: generation");
            break;
        }
        float *dst = out + o0 * px;
        const float *src = y->data;
#pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < m * px; i++)
            dst[i] = expm1f(src[i]);
    }
    nn_ctx_reset(c);
    nn_set_grad_enabled(c, was_grad);
    nn_set_training(c, was_train);
    return rc;
}

/* ---- sampling -------------------------------------------------------------------- */
/* Sampling uses an inference form of the generator, equal to eval-mode G up
 * to float rounding, with fewer passes over memory:
 *  - eval-mode batch norm is a per-channel affine map: folded into the
 *    weights and bias of the layer before it (fc, conv0, conv1);
 *  - each upsample x2 + conv 3x3 is a 2x2 conv with 4·Cout outputs on the
 *    small input (the sub-pixel phases of nn_upsample2_conv3x3, which the
 *    training graph uses too), here with the BN-scaled weights folded once
 *    at load; the phase interleave takes the LeakyReLU in the same pass. */
typedef struct {
    nn_params ps;
    nn_tensor *fw, *fb;          /* fc with BN0 folded */
    nn_tensor *pw[2], *pb[2];    /* phase convs [4 Cout, Cin, 2, 2] with BN folded */
} zdc_fast;

struct md_zdc_model {
    md_zdc_cfg cfg;
    md_zdc_gen g;
    zdc_fast fast;
    int use_fast;
    pp_scaler scaler;
    nn_ctx *ctx[ZDC_MAX_SLOTS]; /* one per concurrent chunk (ctx[0] at load, others on first use) */
    int64_t h, w, nc;
    md_zdc_cursor cur;          /* md_zdc_sample_chunk's noise stream */
};

/* The eval-mode batch norms folded into the layers before them
 * (nn_batchnorm_fold); the phase weights are nn_phase_fold3x3 of the
 * BN-scaled 3x3 weights (the fold training uses, so the two cannot drift
 * apart), and the folded bias is the same for all four phases of a channel. */
static int fast_init(zdc_fast *f, const md_zdc_gen *g)
{
    memset(f, 0, sizeof *f);
    nn_params_init(&f->ps);
    const int64_t nin = g->fc.in, nout = g->fc.out;
    f->fw = nn_param_new(&f->ps, "fast.fc.w", 2, (int64_t[]){nout, nin});
    f->fb = nn_param_new(&f->ps, "fast.fc.b", 1, (int64_t[]){nout});
    if (!f->fw || !f->fb)
        return gs_error(GS_ERR_NOMEM, "zdc: out of memory");
    int rc = nn_batchnorm_fold(&g->bn[0], g->fc.w, g->fc.b, f->fw, f->fb);
    nn_ctx *c = rc ? NULL : nn_ctx_new();
    if (!rc && !c)
        rc = gs_error(GS_ERR_NOMEM, "zdc: out of memory");
    if (c)
        nn_set_grad_enabled(c, false);
    for (int s = 0; s < 2 && !rc; s++) {
        const nn_conv2d_layer *cv = &g->conv[s];
        const int64_t co = cv->out, ci = cv->in;
        char name[32];
        snprintf(name, sizeof name, "fast.p%d.w", s);
        f->pw[s] = nn_param_new(&f->ps, name, 4, (int64_t[]){4 * co, ci, 2, 2});
        snprintf(name, sizeof name, "fast.p%d.b", s);
        f->pb[s] = nn_param_new(&f->ps, name, 1, (int64_t[]){4 * co});
        nn_tensor *ws = nn_new(c, 4, cv->w->shape), *bs = nn_new(c, 1, (int64_t[]){co});
        if (!f->pw[s] || !f->pb[s] || !ws || !bs) {
            rc = gs_error(GS_ERR_NOMEM, "zdc: out of memory");
            break;
        }
        if ((rc = nn_batchnorm_fold(&g->bn[s + 1], cv->w, cv->b, ws, bs)))
            break;
        for (int ph = 0; ph < 4; ph++)
            memcpy(f->pb[s]->data + ph * co, bs->data, (size_t)co * sizeof(float));
        nn_tensor *p = nn_phase_fold3x3(c, ws);
        if (!p)
            rc = gs_error_wrap(GS_ERR_NOMEM, "zdc: folding the generator");
        else
            memcpy(f->pw[s]->data, p->data, (size_t)p->n * sizeof(float));
    }
    nn_ctx_free(c);
    return rc;
}

/* The inference generator: [m, 1, 4 h0, 4 w0] before crop, ReLU applied later. */
static nn_tensor *fast_fwd(nn_ctx *c, const md_zdc_gen *g, const zdc_fast *f, nn_tensor *z,
                           nn_tensor *cond)
{
    if (!z || !cond)
        return NULL;
    const int64_t m = z->shape[0];
    nn_tensor *x = nn_leaky_relu(c, nn_linear(c, nn_concat(c, z, cond), f->fw, f->fb), g->slope);
    x = nn_reshape(c, x, 4, (int64_t[]){m, g->ch[0], g->h0, g->w0});
    /* the phase interleave takes the LeakyReLU in the same pass (training
     * cannot fuse it: batch norm sits in between there) */
    x = nn_phase_interleave_lrelu(c, nn_conv2d(c, x, f->pw[0], f->pb[0], 1, 1), NULL, g->slope);
    x = nn_phase_interleave_lrelu(c, nn_conv2d(c, x, f->pw[1], f->pb[1], 1, 1), NULL, g->slope);
    return nn_conv2d(c, x, g->conv[2].w, g->conv[2].b, 1, 1);
}

/* One sampling round: `noise` holds the round's chunks one after the other,
 * [MD_ZDC_GEN_CHUNK, nz] each. */
typedef struct {
    md_zdc_model *mo;
    const float *cond, *noise; /* cond: scaled, row 0 = condition cond0 */
    int64_t k, total, o0;      /* o0: the round's first image (of all n·k) */
    int64_t img0, cond0;       /* out[0] is image img0 */
    float *out;
} fast_round;

/* One chunk on one thread: ReLU, crop and exp(y) - 1 fused into the copy out. */
static int fast_job(void *arg, int i, int slot)
{
    const fast_round *a = arg;
    md_zdc_model *mo = a->mo;
    const md_zdc_gen *g = &mo->g;
    nn_ctx *c = mo->ctx[slot];
    const int64_t h = g->h, w = g->w, nc = g->n_cond, nz = g->noise_dim, k = a->k;
    const int64_t hh = 4 * g->h0, ww = 4 * g->w0, top = (hh - h) / 2, left = (ww - w) / 2;
    const int64_t o0 = a->o0 + (int64_t)i * MD_ZDC_GEN_CHUNK;
    const int64_t m = a->total - o0 < MD_ZDC_GEN_CHUNK ? a->total - o0 : MD_ZDC_GEN_CHUNK;
    nn_set_grad_enabled(c, false);
    nn_set_training(c, false);
    nn_ctx_reset(c);
    nn_tensor *z =
        nn_input(c, 2, (int64_t[]){m, nz}, a->noise + (int64_t)i * MD_ZDC_GEN_CHUNK * nz);
    nn_tensor *ct = nn_new(c, 2, (int64_t[]){m, nc});
    if (ct)
        for (int64_t j = 0; j < m; j++)
            memcpy(ct->data + j * nc, a->cond + ((o0 + j) / k - a->cond0) * nc,
                   (size_t)nc * sizeof(float));
    nn_tensor *y = fast_fwd(c, g, &mo->fast, z, ct);
    if (!y)
        return gs_error_wrap(GS_ERR_NOMEM, "zdc: generation");
    const float *src = y->data;
    float *dst = a->out + (o0 - a->img0) * h * w;
    for (int64_t j = 0; j < m; j++)
        for (int64_t row = 0; row < h; row++)
            for (int64_t col = 0; col < w; col++) {
                const float v = src[(j * hh + row + top) * ww + col + left];
                dst[(j * h + row) * w + col] = v > 0 ? expm1f(v) : 0.0f;
            }
    nn_ctx_reset(c);
    return GS_OK;
}

/* Images [img0, img1) of the n·k, in chunks of MD_ZDC_GEN_CHUNK counted from
 * image 0, up to min(threads, ZDC_MAX_SLOTS) at once, each single-threaded
 * (nn_run_jobs: OpenBLAS rounds differently with its thread count); the
 * noise is drawn from r (standing at image img0) chunk by chunk in image
 * order before a round runs. cond: scaled conditions from row cond0 on.
 * The images are the same for any thread count and any range split at
 * multiples of MD_ZDC_GEN_CHUNK. */
static int generate_fast(md_zdc_model *mo, const float *cond, int64_t cond0, int64_t k,
                         int64_t img0, int64_t img1, gs_rng *r, float *out)
{
    const int64_t nz = mo->g.noise_dim;
    const int64_t n_chunks = (img1 - img0 + MD_ZDC_GEN_CHUNK - 1) / MD_ZDC_GEN_CHUNK;
    const int width = md_zdc_job_width(n_chunks, ZDC_MAX_SLOTS);
    for (int t = 0; t < width; t++)
        if (!mo->ctx[t] && !(mo->ctx[t] = nn_ctx_new()))
            return gs_error(GS_ERR_NOMEM, "zdc: out of memory");
    float *noise = malloc((size_t)(width * MD_ZDC_GEN_CHUNK * nz) * sizeof(float));
    if (!noise)
        return gs_error(GS_ERR_NOMEM, "zdc: out of memory");
    fast_round a = {mo, cond, noise, k, img1, 0, img0, cond0, out};
    int rc = GS_OK;
    for (int64_t c0 = 0; c0 < n_chunks && !rc; c0 += width) {
        const int round = n_chunks - c0 < width ? (int)(n_chunks - c0) : width;
        a.o0 = img0 + c0 * MD_ZDC_GEN_CHUNK;
        for (int t = 0; t < round; t++) {
            const int64_t o0 = a.o0 + t * MD_ZDC_GEN_CHUNK;
            const int64_t m = img1 - o0 < MD_ZDC_GEN_CHUNK ? img1 - o0 : MD_ZDC_GEN_CHUNK;
            gs_rng_fill_normal(r, noise + t * MD_ZDC_GEN_CHUNK * nz, m * nz, 0.0f, 1.0f);
        }
        rc = nn_run_jobs(round, width, fast_job, &a);
    }
    free(noise);
    return rc;
}

void md_zdc_set_fast(md_zdc_model *m, int on) { m->use_fast = on; }

void md_zdc_free(md_zdc_model *m)
{
    if (!m)
        return;
    md_zdc_gen_free(&m->g);
    nn_params_free(&m->fast.ps);
    pp_scaler_free(&m->scaler);
    for (int t = 0; t < ZDC_MAX_SLOTS; t++)
        nn_ctx_free(m->ctx[t]);
    md_zdc_cursor_free(&m->cur);
    free(m);
}

int md_zdc_load(const char *path, md_zdc_model **out)
{
    *out = NULL;
    md_zdc_model *m = calloc(1, sizeof *m);
    if (!m)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    hid_t f = -1, q;
    int rc = gs_h5_open(path, 0, &f);
    if (!rc)
        rc = md_kind_read_config(f, path, &md_kind_zdc, &m->cfg);
    if (!rc)
        rc = gs_h5_attr_read_i64(f, ".", "height", &m->h);
    if (!rc)
        rc = gs_h5_attr_read_i64(f, ".", "width", &m->w);
    if (!rc)
        rc = gs_h5_attr_read_i64(f, ".", "n_cond", &m->nc);
    if (!rc && (m->h < 8 || m->w < 8 || m->h > 4096 || m->w > 4096 || m->nc < 1 || m->nc > 4096))
        rc = gs_error(GS_ERR_FORMAT, "%s: bad image size or condition count", path);
    if (!rc && !(rc = gs_h5_group_open(f, "scaler", &q))) {
        rc = pp_scaler_load(&m->scaler, q);
        H5Gclose(q);
    }
    if (!rc && m->scaler.f != m->nc)
        rc = gs_error(GS_ERR_FORMAT, "%s: scaler has %lld features for %lld conditions", path,
                      (long long)m->scaler.f, (long long)m->nc);
    gs_rng r;
    gs_rng_seed(&r, 0);
    if (!rc)
        rc = md_zdc_gen_init(&m->g, &m->cfg, m->nc, m->h, m->w, &r);
    if (!rc)
        rc = nn_group_load(f, "G", &m->g.ps, NULL);
    if (!rc)
        rc = nn_group_load(f, "G_buf", &m->g.buf, NULL);
    if (!rc)
        rc = fast_init(&m->fast, &m->g);
    m->use_fast = 1;
    md_zdc_cursor_init(&m->cur);
    if (!rc && !(m->ctx[0] = nn_ctx_new()))
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    if (f >= 0)
        gs_h5_close(f);
    if (rc) {
        md_zdc_free(m);
        return gs_error_wrap(rc, "loading the model");
    }
    *out = m;
    return GS_OK;
}

int64_t md_zdc_n_cond(const md_zdc_model *m) { return m->nc; }

void md_zdc_image_shape(const md_zdc_model *m, int64_t *h, int64_t *w)
{
    *h = m->h;
    *w = m->w;
}

/* md_zdc_produce's generators: the inference form (generate_fast), or the
 * training graph in eval mode (md_zdc_set_fast(m, 0); whole productions only) */
static int gen_fast(void *mo, const float *cond, int64_t cond0, int64_t k, int64_t img0,
                    int64_t img1, gs_rng *r, float *out)
{
    return generate_fast(mo, cond, cond0, k, img0, img1, r, out);
}

static int gen_graph(void *mo, const float *cond, int64_t cond0, int64_t k, int64_t img0,
                     int64_t img1, gs_rng *r, float *out)
{
    md_zdc_model *m = mo;
    (void)cond0;
    (void)img0;
    return md_zdc_generate(m->ctx[0], &m->g, cond, img1 / k, k, r, out);
}

/* The production of m: chunks of MD_ZDC_CHUNK; generate_fast draws the noise
 * one generation chunk (MD_ZDC_GEN_CHUNK · nz numbers) at a time. */
static md_zdc_producer producer(md_zdc_model *m, md_zdc_gen_fn gen)
{
    return (md_zdc_producer){m, gen, &m->scaler, m->h, m->w, m->nc, MD_ZDC_CHUNK,
                             MD_ZDC_GEN_CHUNK, MD_ZDC_GEN_CHUNK * m->g.noise_dim};
}

int md_zdc_sample(md_zdc_model *m, const float *cond, int64_t n, int64_t k, uint64_t seed,
                  ds_images *out)
{
    const md_zdc_producer p = producer(m, m->use_fast ? gen_fast : gen_graph);
    return md_zdc_produce(&p, cond, n, k, seed, out);
}

_Static_assert(MD_ZDC_CHUNK % MD_ZDC_GEN_CHUNK == 0, "chunks are whole generation chunks");

int64_t md_zdc_n_chunks(const md_zdc_model *m, int64_t n, int64_t k)
{
    (void)m;
    return n > 0 && k > 0 ? (n * k + MD_ZDC_CHUNK - 1) / MD_ZDC_CHUNK : 0;
}

int md_zdc_sample_chunk(md_zdc_model *m, const float *cond, int64_t n, int64_t k, uint64_t seed,
                        int64_t c, ds_images *out)
{
    const md_zdc_producer p = producer(m, gen_fast);
    return md_zdc_produce_chunk(&p, &m->cur, cond, n, k, seed, c, out);
}

/* ---- the kind's sampling entries (md_run.h) ---------------------------------- */
int md_zdc_open(const char *path, void **model)
{
    md_zdc_model *m;
    int rc = md_zdc_load(path, &m);
    *model = rc ? NULL : m;
    return rc;
}

void md_zdc_close(void *model) { md_zdc_free(model); }

static int64_t im_n_cond(const void *m) { return md_zdc_n_cond(m); }
static void im_shape(const void *m, int64_t *h, int64_t *w) { md_zdc_image_shape(m, h, w); }

static int im_sample(void *m, const float *cond, int64_t n, int64_t k, uint64_t seed,
                     ds_images *out)
{
    return md_zdc_sample(m, cond, n, k, seed, out);
}

static int64_t im_n_chunks(const void *m, int64_t n, int64_t k)
{
    return md_zdc_n_chunks(m, n, k);
}

static int im_sample_chunk(void *m, const float *cond, int64_t n, int64_t k, uint64_t seed,
                           int64_t c, ds_images *out)
{
    return md_zdc_sample_chunk(m, cond, n, k, seed, c, out);
}

const md_images_ops md_zdc_images = {im_n_cond, im_shape, im_sample, im_n_chunks,
                                     im_sample_chunk};

/* ---- the inference form, for exporters and parity checks ----------------------- */
int md_zdc_inference_view(const md_zdc_model *m, md_zdc_inference *v)
{
    memset(v, 0, sizeof *v);
    if (!m)
        return gs_error(GS_ERR_ARG, "zdc: no model");
    v->g = &m->g;
    v->fc_w = m->fast.fw;
    v->fc_b = m->fast.fb;
    for (int s = 0; s < 2; s++) {
        v->phase_w[s] = m->fast.pw[s];
        v->phase_b[s] = m->fast.pb[s];
    }
    v->scaler = &m->scaler;
    return GS_OK;
}

int md_zdc_generate_log(md_zdc_model *m, const float *z, const float *cond_std, int64_t n,
                        float *out)
{
    if (!m || !z || !cond_std || !out || n < 1)
        return gs_error(GS_ERR_ARG, "zdc: generate: bad arguments");
    nn_ctx *c = m->ctx[0];
    const md_zdc_gen *g = &m->g;
    const int64_t h = g->h, w = g->w, nc = g->n_cond, nz = g->noise_dim;
    const int64_t hh = 4 * g->h0, ww = 4 * g->w0, top = (hh - h) / 2, left = (ww - w) / 2;
    const bool was_grad = nn_get_grad_enabled(c);
    nn_set_grad_enabled(c, false);
    nn_set_training(c, false);
    int rc = GS_OK;
    for (int64_t o0 = 0; o0 < n && !rc; o0 += MD_ZDC_GEN_CHUNK) {
        const int64_t k = n - o0 < MD_ZDC_GEN_CHUNK ? n - o0 : MD_ZDC_GEN_CHUNK;
        nn_ctx_reset(c);
        nn_tensor *y = fast_fwd(c, g, &m->fast, nn_input(c, 2, (int64_t[]){k, nz}, z + o0 * nz),
                                nn_input(c, 2, (int64_t[]){k, nc}, cond_std + o0 * nc));
        if (!y) {
            rc = gs_error_wrap(GS_ERR_NOMEM, "zdc: generation");
            break;
        }
        for (int64_t i = 0; i < k; i++)
            for (int64_t row = 0; row < h; row++)
                for (int64_t col = 0; col < w; col++) {
                    const float v = y->data[(i * hh + row + top) * ww + col + left];
                    out[((o0 + i) * h + row) * w + col] = v > 0 ? v : 0.0f;
                }
    }
    nn_ctx_reset(c);
    nn_set_grad_enabled(c, was_grad);
    return rc;
}

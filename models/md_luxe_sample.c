/* LUXE sampling: a model file's generators, quantile transforms and split
 * proportions, drawn into an event table in the training file's layout. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/md_luxe_internal.h"
#include "nn/nn_ckpt.h"

typedef struct {
    md_mlp g;
    nn_params ps;
    pp_quantile qt;
    md_luxe_subspace ss;
    double proportion;
    int ncodes;
    int32_t codes[MD_LUXE_MAX_CODES];
    double probs[MD_LUXE_MAX_CODES];
} sample_sub;

struct md_luxe_model {
    md_luxe_cfg cfg;
    md_luxe_fspace fs;
    char *columns_csv;
    char **units;
    int has_units;
    double ppbx;
    int n_sub;
    sample_sub *subs;
    nn_ctx *ctx[MD_MAX_SHARDS]; /* generation graphs, one per concurrent chunk */
};

void md_luxe_free(md_luxe_model *m)
{
    if (!m)
        return;
    for (int k = 0; k < m->n_sub; k++) {
        nn_params_free(&m->subs[k].ps);
        pp_quantile_free(&m->subs[k].qt);
    }
    free(m->subs);
    for (int t = 0; t < MD_MAX_SHARDS; t++)
        nn_ctx_free(m->ctx[t]);
    if (m->has_units)
        gs_h5_free_strv(m->units, m->fs.f);
    free(m->columns_csv);
    md_luxe_fspace_free(&m->fs);
    free(m);
}

static int parse_list(const char *s, double *out, int max, int *n)
{
    *n = 0;
    while (*s && *n < max) {
        char *end;
        out[(*n)++] = strtod(s, &end);
        if (end == s)
            return -1;
        s = *end == ',' ? end + 1 : end;
    }
    return 0;
}

int md_luxe_load(const char *path, md_luxe_model **out)
{
    *out = NULL;
    md_luxe_model *m = calloc(1, sizeof *m);
    if (!m)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    hid_t f;
    int rc = gs_h5_open(path, 0, &f);
    if (rc) {
        free(m);
        return rc;
    }
    char *units = NULL;
    char **cols = NULL;
    int64_t ncols = 0, n_sub = 0;
    rc = md_kind_read_config(f, path, &md_kind_luxe, &m->cfg);
    if (!rc)
        rc = gs_h5_attr_read_str(f, ".", "columns", &m->columns_csv);
    if (!rc)
        rc = gs_h5_split_csv(m->columns_csv, &cols, &ncols);
    if (!rc)
        rc = md_luxe_fspace_init(&m->fs, &m->cfg, cols, ncols);
    if (!rc && gs_h5_attr_exists(f, ".", "units")) {
        int64_t nu = 0;
        rc = gs_h5_attr_read_str(f, ".", "units", &units);
        if (!rc)
            rc = gs_h5_split_csv(units, &m->units, &nu);
        m->has_units = !rc;
        if (!rc && nu != ncols)
            rc = gs_error(GS_ERR_FORMAT, "%s: %lld units for %lld columns", path, (long long)nu,
                          (long long)ncols);
    }
    if (!rc)
        rc = gs_h5_attr_read_f64(f, ".", "particles_per_bx", &m->ppbx);
    if (!rc)
        rc = gs_h5_attr_read_i64(f, ".", "n_sub", &n_sub);
    if (!rc && (n_sub < 1 || n_sub > MD_LUXE_MAX_SUB))
        rc = gs_error(GS_ERR_FORMAT, "%s: %lld sub-models", path, (long long)n_sub);
    if (!rc && !(m->subs = calloc((size_t)n_sub, sizeof *m->subs)))
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    md_wgan_cfg wc = md_luxe_wgan_cfg(&m->cfg, ncols);
    wc.g.n_in = wc.noise_dim;
    wc.g.n_out = ncols;
    double psum = 0;
    for (int k = 0; !rc && k < n_sub; k++) {
        sample_sub *s = &m->subs[k];
        m->n_sub = k + 1;
        nn_params_init(&s->ps);
        char gp[64], *codes = NULL, *probs = NULL;
        hid_t g, q;
        snprintf(gp, sizeof gp, "sub%d", k);
        if ((rc = gs_h5_group_open(f, gp, &g)))
            break;
        rc = gs_h5_attr_read_f64(g, ".", "proportion", &s->proportion);
        if (!rc)
            rc = gs_h5_attr_read_str(g, ".", "codes", &codes);
        if (!rc)
            rc = gs_h5_attr_read_str(g, ".", "probs", &probs);
        double cv[MD_LUXE_MAX_CODES];
        int nc = 0, np = 0;
        if (!rc && (parse_list(codes, cv, MD_LUXE_MAX_CODES, &nc) ||
                    parse_list(probs, s->probs, MD_LUXE_MAX_CODES, &np) || nc != np))
            rc = gs_error(GS_ERR_FORMAT, "%s: /%s: bad species lists", path, gp);
        s->ncodes = nc;
        for (int j = 0; j < nc; j++)
            s->codes[j] = (int32_t)cv[j];
        free(codes);
        free(probs);
        if (!rc && !(rc = gs_h5_group_open(g, "qt", &q))) {
            rc = pp_quantile_load(&s->qt, q);
            H5Gclose(q);
        }
        pp_frame fr;
        if (!rc && !(rc = pp_frame_load(&fr, g)))
            md_luxe_subspace_init(&s->ss, &m->fs, &fr);
        if (!rc && s->qt.f != ncols)
            rc = gs_error(GS_ERR_FORMAT, "%s: /%s/qt has %lld features, expected %lld", path, gp,
                          (long long)s->qt.f, (long long)ncols);
        gs_rng r;
        gs_rng_seed(&r, 0);
        if (!rc)
            rc = md_mlp_init(&s->g, &s->ps, "G", &wc.g, &r);
        if (!rc)
            rc = nn_group_load(g, "G", &s->ps, NULL);
        H5Gclose(g);
        psum += s->proportion;
    }
    if (!rc && !(psum > 0.999 && psum < 1.001))
        rc = gs_error(GS_ERR_FORMAT, "%s: sub-model proportions add up to %g", path, psum);
    for (int t = 0; t < MD_MAX_SHARDS && !rc; t++) /* empty until used */
        if (!(m->ctx[t] = nn_ctx_new()))
            rc = GS_ERR_NOMEM;
    gs_h5_close(f);
    free(units);
    gs_h5_free_strv(cols, ncols);
    if (rc) {
        md_luxe_free(m);
        return gs_error_wrap(rc, "loading the model");
    }
    *out = m;
    return GS_OK;
}

int64_t md_luxe_n_features(const md_luxe_model *m) { return m->fs.f; }
const char *md_luxe_columns(const md_luxe_model *m) { return m->columns_csv; }

const char *md_luxe_column(const md_luxe_model *m, int64_t i)
{
    return i >= 0 && i < m->fs.f ? m->fs.columns[i] : NULL;
}

const char *md_luxe_unit(const md_luxe_model *m, int64_t i)
{
    if (i < 0 || i >= m->fs.f)
        return NULL;
    return m->has_units ? m->units[i] : "";
}
double md_luxe_particles_per_bx(const md_luxe_model *m) { return m->ppbx; }

/* Rows of one sub-model: generator -> inverse quantile -> input space, with
 * species drawn from the sub-model's shares. */
static int sample_sub_rows(md_luxe_model *m, int k, int64_t n, gs_rng *r, float *x, int32_t *pdg)
{
    sample_sub *s = &m->subs[k];
    const int64_t f = m->fs.f;
    int rc = md_mlp_generate(m->ctx, MD_MAX_SHARDS, &s->g, m->cfg.noise_dim, n, x, r);
    if (rc)
        return rc;
    /* the per-value transforms are independent: split rows over threads */
    const int64_t chunk = 8192;
    int fail = 0;
#pragma omp parallel for schedule(static) reduction(| : fail)
    for (int64_t i0 = 0; i0 < n; i0 += chunk) {
        int64_t cnt = n - i0 < chunk ? n - i0 : chunk;
        fail |= pp_quantile_inverse(&s->qt, x + i0 * f, x + i0 * f, cnt) != GS_OK;
        md_luxe_from_model_space(&m->fs, &s->ss, x + i0 * f, cnt);
    }
    if (fail)
        return gs_error(GS_ERR_NUMERIC, "inverse quantile transform failed");
    for (int64_t i = 0; i < n; i++) {
        double u = gs_rng_uniform(r), acc = 0;
        int j = 0;
        while (j + 1 < s->ncodes && (acc += s->probs[j]) <= u)
            j++;
        pdg[i] = s->ncodes ? s->codes[j] : 0;
    }
    return GS_OK;
}

/* n rows drawn with r into out (allocated, n rows): a multinomial split over
 * the sub-models, each sub-model's rows from its own stream split off r,
 * then a shuffle so that consecutive rows (bunch crossings) mix them. */
static int sample_rows(md_luxe_model *m, int64_t n, gs_rng *r, ds_events *out)
{
    const int64_t f = m->fs.f;
    int64_t counts[MD_LUXE_MAX_SUB] = {0};
    for (int64_t i = 0; i < n; i++) {
        double u = gs_rng_uniform(r), acc = 0;
        int k = 0;
        while (k + 1 < m->n_sub && (acc += m->subs[k].proportion) <= u)
            k++;
        counts[k]++;
    }
    int rc = GS_OK;
    float *tmp = malloc((size_t)(n * f) * sizeof(float) + 1);
    int32_t *pdg = malloc((size_t)n * sizeof *pdg + 1);
    int64_t *perm = malloc((size_t)n * sizeof *perm + 1);
    if (!tmp || !pdg || !perm) {
        rc = gs_error(GS_ERR_NOMEM, "sample: out of memory for %lld rows", (long long)n);
        goto out;
    }
    int64_t off = 0;
    for (int k = 0; k < m->n_sub && !rc; k++) {
        gs_rng rk = gs_rng_split(r);
        if (counts[k])
            rc = sample_sub_rows(m, k, counts[k], &rk, tmp + off * f, pdg + off);
        off += counts[k];
    }
    if (rc)
        goto out;
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    gs_rng_shuffle_i64(r, perm, n);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        memcpy(out->x + i * f, tmp + perm[i] * f, (size_t)f * sizeof(float));
        out->pdg[i] = pdg[perm[i]];
    }
out:
    free(tmp);
    free(pdg);
    free(perm);
    return rc;
}

/* Chunk c's stream of a production with this seed: the seed itself for
 * chunk 0 (a production of one chunk is what gansim drew before chunks),
 * else a splitmix64 hash of (seed, c), which xoshiro's seeding expands. */
static void chunk_rng(gs_rng *r, uint64_t seed, int64_t c)
{
    if (c == 0) {
        gs_rng_seed(r, seed);
        return;
    }
    uint64_t z = seed + 0x6A09E667F3BCC909ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    gs_rng_seed(r, z + (uint64_t)c * 0x9E3779B97F4A7C15ULL);
}

static int alloc_rows(md_luxe_model *m, int64_t n, ds_events *out)
{
    int rc = ds_events_alloc(out, n, m->fs.f, (const char *const *)m->fs.columns,
                             m->has_units ? (const char *const *)m->units : NULL, 1, 0);
    if (!rc)
        out->particles_per_bx = m->ppbx;
    return rc;
}

int64_t md_luxe_n_chunks(const md_luxe_model *m, int64_t n)
{
    (void)m;
    return n > 0 ? (n + MD_LUXE_CHUNK - 1) / MD_LUXE_CHUNK : 0;
}

int md_luxe_sample_chunk(md_luxe_model *m, int64_t n, uint64_t seed, int64_t c, ds_events *out)
{
    memset(out, 0, sizeof *out);
    if (n < 1 || c < 0 || c >= md_luxe_n_chunks(m, n))
        return gs_error(GS_ERR_ARG, "sample: chunk %lld of a production of %lld particles",
                        (long long)c, (long long)n);
    const int64_t i0 = c * MD_LUXE_CHUNK, rows = n - i0 < MD_LUXE_CHUNK ? n - i0 : MD_LUXE_CHUNK;
    int rc = alloc_rows(m, rows, out);
    if (rc)
        return rc;
    gs_rng r;
    chunk_rng(&r, seed, c);
    if ((rc = sample_rows(m, rows, &r, out)))
        ds_events_free(out);
    return rc;
}

int64_t md_luxe_bx_per_chunk(const md_luxe_model *m)
{
    const double per = m->ppbx > 0 ? floor((double)MD_LUXE_CHUNK / m->ppbx) : 1;
    return per < 1 ? 1 : (int64_t)per;
}

int64_t md_luxe_n_bx_chunks(const md_luxe_model *m, int64_t k)
{
    const int64_t per = md_luxe_bx_per_chunk(m);
    return k > 0 ? (k + per - 1) / per : 0;
}

int md_luxe_sample_bx_chunk(md_luxe_model *m, int64_t k, uint64_t seed, int64_t c, ds_events *out,
                            int64_t **bx)
{
    memset(out, 0, sizeof *out);
    *bx = NULL;
    if (!(m->ppbx > 0))
        return gs_error(GS_ERR_ARG, "the model has no particles_per_bx (the training file had "
                                    "no such attribute)");
    if (k < 1 || c < 0 || c >= md_luxe_n_bx_chunks(m, k))
        return gs_error(GS_ERR_ARG, "sample: chunk %lld of a production of %lld bunch crossings",
                        (long long)c, (long long)k);
    const int64_t per = md_luxe_bx_per_chunk(m), b0 = c * per, nb = k - b0 < per ? k - b0 : per;
    /* the crossings' sizes from a stream of their own, then the particles */
    gs_rng r;
    chunk_rng(&r, seed ^ 0xB0B0B0B0ULL, c);
    int64_t nper[4096], *np = nb <= 4096 ? nper : malloc((size_t)nb * sizeof *np), total = 0;
    if (!np)
        return gs_error(GS_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < nb; i++)
        total += np[i] = (int64_t)gs_rng_poisson(&r, m->ppbx);
    int rc = alloc_rows(m, total, out);
    if (!rc && !(*bx = malloc((size_t)total * sizeof **bx + 1)))
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    if (!rc && total > 0) {
        chunk_rng(&r, seed, c);
        rc = sample_rows(m, total, &r, out);
    }
    if (!rc)
        for (int64_t i = 0, row = 0; i < nb; i++)
            for (int64_t j = 0; j < np[i]; j++)
                (*bx)[row++] = b0 + i;
    if (np != nper)
        free(np);
    if (rc) {
        ds_events_free(out);
        free(*bx);
        *bx = NULL;
    }
    return rc;
}

/* Appends src's rows to dst (rows [off, off + src->n)). */
static void copy_rows(ds_events *dst, int64_t off, const ds_events *src)
{
    memcpy(dst->x + off * dst->f, src->x, (size_t)(src->n * src->f) * sizeof(float));
    memcpy(dst->pdg + off, src->pdg, (size_t)src->n * sizeof(int32_t));
}

int md_luxe_sample(md_luxe_model *m, int64_t n, uint64_t seed, ds_events *out)
{
    memset(out, 0, sizeof *out);
    if (n < 1)
        return gs_error(GS_ERR_ARG, "sample: need n >= 1, got %lld", (long long)n);
    int rc = alloc_rows(m, n, out);
    for (int64_t c = 0; !rc && c < md_luxe_n_chunks(m, n); c++) {
        ds_events part;
        if (!(rc = md_luxe_sample_chunk(m, n, seed, c, &part))) {
            copy_rows(out, c * MD_LUXE_CHUNK, &part);
            ds_events_free(&part);
        }
    }
    if (rc)
        ds_events_free(out);
    return rc;
}

int md_luxe_sample_bx(md_luxe_model *m, int64_t k, uint64_t seed, ds_events *out, int64_t **bx)
{
    memset(out, 0, sizeof *out);
    *bx = NULL;
    const int64_t n_chunks = md_luxe_n_bx_chunks(m, k);
    if (!(m->ppbx > 0) || k < 1) /* the chunk call says what is wrong */
        return md_luxe_sample_bx_chunk(m, k, seed, 0, out, bx);
    ds_events *parts = calloc((size_t)n_chunks, sizeof *parts);
    int64_t **pbx = calloc((size_t)n_chunks, sizeof *pbx), total = 0;
    int rc = parts && pbx ? GS_OK : gs_error(GS_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; !rc && c < n_chunks; c++)
        if (!(rc = md_luxe_sample_bx_chunk(m, k, seed, c, &parts[c], &pbx[c])))
            total += parts[c].n;
    if (!rc && total == 0)
        rc = gs_error(GS_ERR_ARG, "no particles in %lld crossings", (long long)k);
    if (!rc)
        rc = alloc_rows(m, total, out);
    if (!rc && !(*bx = malloc((size_t)total * sizeof **bx)))
        rc = gs_error(GS_ERR_NOMEM, "out of memory");
    for (int64_t c = 0, off = 0; !rc && c < n_chunks; off += parts[c].n, c++) {
        copy_rows(out, off, &parts[c]);
        memcpy(*bx + off, pbx[c], (size_t)parts[c].n * sizeof **bx);
    }
    for (int64_t c = 0; parts && pbx && c < n_chunks; c++) {
        ds_events_free(&parts[c]);
        free(pbx[c]);
    }
    free(parts);
    free(pbx);
    if (rc) {
        ds_events_free(out);
        free(*bx);
        *bx = NULL;
    }
    return rc;
}

/* ---- the kind's sampling entries (md_run.h) ---------------------------------- */
int md_luxe_open(const char *path, void **model)
{
    md_luxe_model *m;
    int rc = md_luxe_load(path, &m);
    *model = rc ? NULL : m;
    return rc;
}

void md_luxe_close(void *model) { md_luxe_free(model); }

static int64_t ev_n_features(const void *m) { return md_luxe_n_features(m); }
static const char *ev_column(const void *m, int64_t i) { return md_luxe_column(m, i); }
static const char *ev_unit(const void *m, int64_t i) { return md_luxe_unit(m, i); }
static double ev_ppbx(const void *m) { return md_luxe_particles_per_bx(m); }

static int ev_sample(void *m, int64_t n, uint64_t seed, ds_events *out)
{
    return md_luxe_sample(m, n, seed, out);
}

static int ev_sample_bx(void *m, int64_t k, uint64_t seed, ds_events *out, int64_t **bx)
{
    return md_luxe_sample_bx(m, k, seed, out, bx);
}

static int64_t ev_n_chunks(const void *m, int64_t n, int64_t k_bx)
{
    return k_bx > 0 ? md_luxe_n_bx_chunks(m, k_bx) : md_luxe_n_chunks(m, n);
}

static int ev_sample_chunk(void *m, int64_t n, int64_t k_bx, uint64_t seed, int64_t c,
                           ds_events *out, int64_t **bx)
{
    if (k_bx > 0)
        return md_luxe_sample_bx_chunk(m, k_bx, seed, c, out, bx);
    *bx = NULL;
    return md_luxe_sample_chunk(m, n, seed, c, out);
}

const md_events_ops md_luxe_events = {ev_n_features, ev_column,   ev_unit,        ev_ppbx,
                                      ev_sample,     ev_sample_bx, ev_n_chunks, ev_sample_chunk};

/* ---- the inference form, for exporters and parity checks ----------------------- */
int md_luxe_inference_view(const md_luxe_model *m, md_luxe_inference *v)
{
    memset(v, 0, sizeof *v);
    if (!m)
        return gs_error(GS_ERR_ARG, "luxe: no model");
    v->n_features = m->fs.f;
    v->noise_dim = m->cfg.noise_dim;
    v->n_sub = m->n_sub;
    v->cylindrical = m->fs.cylindrical;
    v->cyl = m->fs.cyl;
    v->fcols = m->fs.fcols;
    v->region_mode = m->cfg.region_mode;
    v->radii = m->cfg.radii;
    v->rects = m->cfg.rects;
    return GS_OK;
}

int md_luxe_sub_view(const md_luxe_model *m, int k, md_luxe_sub *v)
{
    memset(v, 0, sizeof *v);
    if (!m || k < 0 || k >= m->n_sub)
        return gs_error(GS_ERR_ARG, "luxe: no sub-model %d", k);
    const sample_sub *s = &m->subs[k];
    v->g = &s->g;
    v->qt = &s->qt;
    v->proportion = s->proportion;
    v->ncodes = s->ncodes;
    v->codes = s->codes;
    v->probs = s->probs;
    v->log_col = s->ss.log_col;
    v->frame = &s->ss.frame;
    return GS_OK;
}

void md_luxe_sub_from_model_space(const md_luxe_model *m, int k, float *t, int64_t n)
{
    md_luxe_from_model_space(&m->fs, &m->subs[k].ss, t, n);
}

int md_luxe_sub_generate(md_luxe_model *m, int k, const float *z, int64_t n, float *out)
{
    if (!m || k < 0 || k >= m->n_sub || !z || !out || n < 1)
        return gs_error(GS_ERR_ARG, "luxe: generate: bad arguments");
    const sample_sub *s = &m->subs[k];
    const int64_t f = m->fs.f, nz = m->cfg.noise_dim, chunk = 4096;
    nn_ctx *c = m->ctx[0];
    const bool was = nn_get_grad_enabled(c);
    nn_set_grad_enabled(c, false);
    int rc = GS_OK;
    for (int64_t i0 = 0; i0 < n && !rc; i0 += chunk) {
        const int64_t cnt = n - i0 < chunk ? n - i0 : chunk;
        nn_ctx_reset(c);
        nn_tensor *y = md_mlp_fwd(c, &s->g, nn_input(c, 2, (int64_t[]){cnt, nz}, z + i0 * nz));
        if (!y) {
            rc = gs_error_wrap(GS_ERR_NOMEM, "luxe: generation");
            break;
        }
        memcpy(out + i0 * f, y->data, (size_t)(cnt * f) * sizeof(float));
        rc = pp_quantile_inverse(&s->qt, out + i0 * f, out + i0 * f, cnt);
        if (!rc)
            md_luxe_from_model_space(&m->fs, &s->ss, out + i0 * f, cnt);
    }
    nn_ctx_reset(c);
    nn_set_grad_enabled(c, was);
    return rc;
}

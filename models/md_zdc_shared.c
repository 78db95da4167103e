/* What the two ZDC model kinds (zdc: the GAN, md_zdc*.c; zdc-flow:
 * md_zdcflow.c) share, written once (md_zdc_internal.h):
 *  - the chunked production of k images per condition row with its noise
 *    cursor: chunk c of a production is a function of (model, conditions,
 *    seed, c) alone, whatever order the chunks are asked in;
 *  - the parts of model.h5 / last.h5 both write: the root attributes, the
 *    condition scaler and the /train group's parameter sets, RNG and row
 *    count, and their restore. */
#include <stdlib.h>
#include <string.h>

#include "models/md_zdc_internal.h"
#include "nn/nn_ckpt.h"

/* ---- chunked production ------------------------------------------------------------ */
void md_zdc_cursor_init(md_zdc_cursor *c)
{
    memset(c, 0, sizeof *c);
    c->img = -1;
}

void md_zdc_cursor_free(md_zdc_cursor *c)
{
    free(c->cs);
    md_zdc_cursor_init(c);
}

int md_zdc_job_width(int64_t n_jobs, int max_slots)
{
    int width = nn_get_threads();
    if (width > max_slots)
        width = max_slots;
    if (width > n_jobs)
        width = (int)n_jobs;
    return width < 1 ? 1 : width;
}

int md_zdc_produce(const md_zdc_producer *p, const float *cond, int64_t n, int64_t k,
                   uint64_t seed, ds_images *out)
{
    memset(out, 0, sizeof *out);
    if (n < 1 || k < 1)
        return gs_error(GS_ERR_ARG, "sample: need n >= 1 and k >= 1 (got %lld, %lld)",
                        (long long)n, (long long)k);
    int rc = ds_images_alloc(out, n * k, p->h, p->w, p->nc);
    if (rc)
        return rc;
    float *cs = malloc((size_t)(n * p->nc) * sizeof(float));
    if (!cs) {
        ds_images_free(out);
        return gs_error(GS_ERR_NOMEM, "sample: out of memory");
    }
    pp_scaler_transform(p->scaler, cond, cs, n);
    gs_rng r;
    gs_rng_seed(&r, seed);
    rc = p->gen(p->model, cs, 0, k, 0, n * k, &r, out->images);
    free(cs);
    for (int64_t i = 0; !rc && i < n * k; i++)
        memcpy(out->cond + i * p->nc, cond + (i / k) * p->nc, (size_t)p->nc * sizeof(float));
    if (rc)
        ds_images_free(out);
    return rc;
}

int64_t md_zdc_produce_n_chunks(const md_zdc_producer *p, int64_t n, int64_t k)
{
    return n > 0 && k > 0 ? (n * k + p->chunk - 1) / p->chunk : 0;
}

/* Puts the cursor at image img (a multiple of p->draw_images) of seed's
 * production: from where it stands when that is not past img, else from the
 * seed. Skipping draws the normals as the kind's generator draws them (the
 * same calls give the same stream: Box-Muller pairs) and drops them: ~10 ns
 * a number against ~1 ms an image. */
static int seek_noise(const md_zdc_producer *p, md_zdc_cursor *cur, uint64_t seed, int64_t img)
{
    if (cur->img < 0 || cur->seed != seed || cur->img > img) {
        gs_rng_seed(&cur->rng, seed);
        cur->seed = seed;
        cur->img = 0;
    }
    if (cur->img == img)
        return GS_OK;
    float *junk = malloc((size_t)p->draw_n * sizeof(float));
    if (!junk)
        return gs_error(GS_ERR_NOMEM, "sample: out of memory");
    for (; cur->img < img; cur->img += p->draw_images)
        gs_rng_fill_normal(&cur->rng, junk, p->draw_n, 0.0f, 1.0f);
    free(junk);
    return GS_OK;
}

int md_zdc_produce_chunk(const md_zdc_producer *p, md_zdc_cursor *cur, const float *cond,
                         int64_t n, int64_t k, uint64_t seed, int64_t c, ds_images *out)
{
    memset(out, 0, sizeof *out);
    if (n < 1 || k < 1 || c < 0 || c >= md_zdc_produce_n_chunks(p, n, k))
        return gs_error(GS_ERR_ARG, "sample: chunk %lld of %lld x %lld images", (long long)c,
                        (long long)n, (long long)k);
    const int64_t img0 = c * p->chunk, img1 = n * k - img0 < p->chunk ? n * k : img0 + p->chunk;
    const int64_t r0 = img0 / k, r1 = (img1 - 1) / k + 1; /* condition rows of the chunk */
    if (r1 - r0 > cur->cs_cap) {
        float *q = realloc(cur->cs, (size_t)((r1 - r0) * p->nc) * sizeof(float));
        if (!q)
            return gs_error(GS_ERR_NOMEM, "sample: out of memory");
        cur->cs = q;
        cur->cs_cap = r1 - r0;
    }
    int rc = ds_images_alloc(out, img1 - img0, p->h, p->w, p->nc);
    if (rc)
        return rc;
    pp_scaler_transform(p->scaler, cond + r0 * p->nc, cur->cs, r1 - r0);
    rc = seek_noise(p, cur, seed, img0);
    if (!rc)
        rc = p->gen(p->model, cur->cs, r0, k, img0, img1, &cur->rng, out->images);
    if (rc) {
        cur->img = -1; /* the stream stands somewhere inside the chunk */
        ds_images_free(out);
        return rc;
    }
    cur->img = img1;
    for (int64_t i = img0; i < img1; i++)
        memcpy(out->cond + (i - img0) * p->nc, cond + (i / k) * p->nc,
               (size_t)p->nc * sizeof(float));
    return GS_OK;
}

/* ---- checkpoint files ------------------------------------------------------------ */
int md_zdc_ckpt_save_head(hid_t f, const md_run *run, int64_t nc, int64_t h, int64_t w,
                          int64_t step, const pp_scaler *scaler)
{
    const ds_images *data = run->data;
    const md_part *part = &run->parts[0];
    int rc = GS_OK;
    hid_t q;
    if (data->cond_columns) {
        char *cols = gs_h5_join_csv(data->cond_columns, nc);
        rc = cols ? gs_h5_attr_write_str(f, ".", "cond_columns", cols)
                  : gs_error(GS_ERR_NOMEM, "out of memory");
        free(cols);
    }
    const struct { const char *k; int64_t v; } ia[] = {
        {"height", h}, {"width", w}, {"n_cond", nc}, {"step", step},
        {"best_step", part->best_step}};
    for (size_t i = 0; !rc && i < sizeof ia / sizeof ia[0]; i++)
        rc = gs_h5_attr_write_i64(f, ".", ia[i].k, ia[i].v);
    if (!rc)
        rc = gs_h5_attr_write_f64(f, ".", "best_w1", part->best);
    if (!rc && !(rc = gs_h5_group_create(f, "scaler", &q))) {
        rc = pp_scaler_save(scaler, q);
        H5Gclose(q);
    }
    return rc;
}

int md_zdc_ckpt_save_train(hid_t f, const md_zdc_ckpt_set *sets, int n_sets, const gs_rng *rng,
                           int64_t n_train, hid_t *train)
{
    *train = -1;
    hid_t t;
    int rc = gs_h5_group_create(f, "train", &t);
    if (rc)
        return rc;
    for (int i = 0; i < n_sets && !rc; i++)
        rc = nn_group_save(t, sets[i].name, sets[i].ps, sets[i].o);
    if (!rc)
        rc = nn_rng_save(t, "rng", rng);
    if (!rc)
        rc = gs_h5_attr_write_i64(t, ".", "n_train", n_train);
    if (rc)
        H5Gclose(t);
    else
        *train = t;
    return rc;
}

int md_zdc_ckpt_load_train(hid_t f, md_run *run, int64_t n_train, int64_t *step,
                           const md_zdc_ckpt_set *sets, int n_sets, gs_rng *rng, hid_t *train)
{
    *train = -1;
    md_part *part = &run->parts[0];
    char path[1024];
    if (H5Fget_name(f, path, sizeof path) < 0)
        strcpy(path, "last.h5");
    hid_t t;
    int64_t nt = 0;
    int rc = gs_h5_attr_read_i64(f, ".", "best_step", &part->best_step);
    if (!rc)
        rc = gs_h5_attr_read_f64(f, ".", "best_w1", &part->best);
    if (rc || (rc = gs_h5_group_open(f, "train", &t)))
        return rc;
    rc = gs_h5_attr_read_i64(t, ".", "n_train", &nt);
    if (!rc && nt != n_train)
        rc = gs_error(GS_ERR_FORMAT, "%s: trained on %lld rows, the data give %lld "
                      "(different data?)", path, (long long)nt, (long long)n_train);
    if (!rc)
        rc = gs_h5_attr_read_i64(f, ".", "step", step);
    for (int i = 0; i < n_sets && !rc; i++)
        rc = nn_group_load(t, sets[i].name, sets[i].ps, sets[i].o);
    if (!rc)
        rc = nn_rng_load(t, "rng", rng);
    if (rc)
        H5Gclose(t);
    else
        *train = t;
    return rc;
}

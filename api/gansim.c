/* The embedding API: a thin, stable facade over models/ (md_run.h's model
 * registry: the file names its kind, the kind says what it draws). */
#include "api/gansim.h"

#include <stdlib.h>
#include <string.h>

#include "models/md_run.h"
#include "nn/nn.h"

struct gansim_model {
    md_model *m;
    const md_events_ops *ev;    /* exactly one of the two */
    const md_images_ops *im;
    void *h;                    /* the kind's handle */
};

/* The conditions of ZDC image sets, in their file order (docs/formats.md). */
static const char *const zdc_cond_names[] = {"E", "vx", "vy", "vz", "px", "py", "pz", "mass",
                                             "charge"};

const char *gansim_errmsg(void) { return gs_errmsg(); }
const char *gansim_version(void) { return GANSIM_VERSION; }
void gansim_set_threads(int n) { nn_set_threads(n); }
int gansim_get_threads(void) { return nn_get_threads(); }

int gansim_open(const char *path, gansim_model **model) { return gansim_open_ex(path, 0, model); }

int gansim_open_ex(const char *path, unsigned flags, gansim_model **model)
{
    *model = NULL;
    if (!path)
        return gs_error(GS_ERR_ARG, "gansim_open: no path");
    gansim_model *m = calloc(1, sizeof *m);
    if (!m)
        return gs_error(GS_ERR_NOMEM, "gansim_open: out of memory");
    int rc = md_model_open_ex(path, flags & GANSIM_OPEN_ALLOW_PARTIAL ? MD_OPEN_ALLOW_PARTIAL : 0,
                              &m->m);
    if (rc) {
        free(m);
        return rc;
    }
    m->ev = md_model_kind(m->m)->events;
    m->im = md_model_kind(m->m)->images;
    m->h = md_model_handle(m->m);
    *model = m;
    return GS_OK;
}

const char *gansim_model_warnings(const gansim_model *m)
{
    return m ? md_model_status_of(m->m)->notes : "";
}

void gansim_close(gansim_model *m)
{
    if (!m)
        return;
    md_model_close(m->m);
    free(m);
}

gansim_kind gansim_model_kind(const gansim_model *m)
{
    return m->ev ? GANSIM_EVENTS : GANSIM_IMAGES;
}

int64_t gansim_n_features(const gansim_model *m) { return m->ev ? m->ev->n_features(m->h) : 0; }

const char *gansim_feature_name(const gansim_model *m, int64_t i)
{
    return m->ev ? m->ev->column(m->h, i) : NULL;
}

const char *gansim_feature_unit(const gansim_model *m, int64_t i)
{
    return m->ev ? m->ev->unit(m->h, i) : NULL;
}

double gansim_particles_per_bx(const gansim_model *m)
{
    return m->ev ? m->ev->particles_per_bx(m->h) : 0.0;
}

int gansim_sample_events(gansim_model *m, int64_t n, uint64_t seed, float *x, int32_t *pdg)
{
    if (!m || !m->ev)
        return gs_error(GS_ERR_ARG, "gansim_sample_events: not an event model");
    if (n < 1 || !x)
        return gs_error(GS_ERR_ARG, "gansim_sample_events: need n >= 1 and an output buffer");
    ds_events ev;
    const int omp_saved = nn_threads_begin(); /* this call uses gansim's thread count */
    int rc = m->ev->sample(m->h, n, seed, &ev);
    nn_threads_end(omp_saved);
    if (rc)
        return rc;
    memcpy(x, ev.x, (size_t)(n * ev.f) * sizeof(float));
    if (pdg)
        memcpy(pdg, ev.pdg, (size_t)n * sizeof *pdg);
    ds_events_free(&ev);
    return GS_OK;
}

int64_t gansim_n_conditions(const gansim_model *m) { return m->im ? m->im->n_cond(m->h) : 0; }

const char *gansim_condition_name(const gansim_model *m, int64_t i)
{
    const int64_t nc = gansim_n_conditions(m);
    if (i < 0 || i >= nc)
        return NULL;
    return nc == 9 ? zdc_cond_names[i] : "";
}

void gansim_image_shape(const gansim_model *m, int64_t *height, int64_t *width)
{
    *height = *width = 0;
    if (m->im)
        m->im->image_shape(m->h, height, width);
}

int gansim_sample_images(gansim_model *m, const float *cond, int64_t n, uint64_t seed,
                         float *images)
{
    if (!m || !m->im)
        return gs_error(GS_ERR_ARG, "gansim_sample_images: not an image model");
    if (n < 1 || !cond || !images)
        return gs_error(GS_ERR_ARG, "gansim_sample_images: need n >= 1, conditions and an "
                                    "output buffer");
    ds_images im;
    const int omp_saved = nn_threads_begin();
    int rc = m->im->sample(m->h, cond, n, 1, seed, &im);
    nn_threads_end(omp_saved);
    if (rc)
        return rc;
    memcpy(images, im.images, (size_t)(n * im.h * im.w) * sizeof(float));
    ds_images_free(&im);
    return GS_OK;
}

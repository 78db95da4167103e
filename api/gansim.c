/* The embedding API: a thin, stable facade over models/. */
#include "api/gansim.h"

#include <stdlib.h>
#include <string.h>

#include "core/gs_h5.h"
#include "models/md_luxe.h"
#include "models/md_zdc.h"
#include "nn/nn.h"

struct gansim_model {
    gansim_kind kind;
    md_luxe_model *luxe;
    md_zdc_model *zdc;
};

/* The conditions of ZDC image sets, in design.md's order. */
static const char *const zdc_cond_names[] = {"E", "vx", "vy", "vz", "px", "py", "pz", "mass",
                                             "charge"};

const char *gansim_errmsg(void) { return gs_errmsg(); }
const char *gansim_version(void) { return GANSIM_VERSION; }
void gansim_set_threads(int n) { nn_set_threads(n); }
int gansim_get_threads(void) { return nn_get_threads(); }

/* The model file says what it is in its root attribute gansim_kind. */
static int read_kind(const char *path, char **kind)
{
    hid_t f;
    int rc = gs_h5_open(path, 0, &f);
    if (rc)
        return rc;
    rc = gs_h5_attr_read_str(f, ".", "gansim_kind", kind);
    gs_h5_close(f);
    if (rc)
        return gs_error(GS_ERR_FORMAT, "%s: not a gansim model (no gansim_kind attribute)", path);
    return GS_OK;
}

int gansim_open(const char *path, gansim_model **model)
{
    *model = NULL;
    if (!path)
        return gs_error(GS_ERR_ARG, "gansim_open: no path");
    char *kind = NULL;
    int rc = read_kind(path, &kind);
    if (rc)
        return rc;
    gansim_model *m = calloc(1, sizeof *m);
    if (!m) {
        free(kind);
        return gs_error(GS_ERR_NOMEM, "gansim_open: out of memory");
    }
    if (strcmp(kind, "luxe_wgan") == 0) {
        m->kind = GANSIM_EVENTS;
        rc = md_luxe_load(path, &m->luxe);
    } else if (strcmp(kind, "zdc_gan") == 0) {
        m->kind = GANSIM_IMAGES;
        rc = md_zdc_load(path, &m->zdc);
    } else {
        rc = gs_error(GS_ERR_FORMAT, "%s: model kind '%s' is not supported by this gansim", path,
                      kind);
    }
    free(kind);
    if (rc) {
        free(m);
        return rc;
    }
    *model = m;
    return GS_OK;
}

void gansim_close(gansim_model *m)
{
    if (!m)
        return;
    md_luxe_free(m->luxe);
    md_zdc_free(m->zdc);
    free(m);
}

gansim_kind gansim_model_kind(const gansim_model *m) { return m->kind; }

int64_t gansim_n_features(const gansim_model *m)
{
    return m->luxe ? md_luxe_n_features(m->luxe) : 0;
}

const char *gansim_feature_name(const gansim_model *m, int64_t i)
{
    return m->luxe ? md_luxe_column(m->luxe, i) : NULL;
}

const char *gansim_feature_unit(const gansim_model *m, int64_t i)
{
    return m->luxe ? md_luxe_unit(m->luxe, i) : NULL;
}

double gansim_particles_per_bx(const gansim_model *m)
{
    return m->luxe ? md_luxe_particles_per_bx(m->luxe) : 0.0;
}

int gansim_sample_events(gansim_model *m, int64_t n, uint64_t seed, float *x, int32_t *pdg)
{
    if (!m || !m->luxe)
        return gs_error(GS_ERR_ARG, "gansim_sample_events: not an event model");
    if (n < 1 || !x)
        return gs_error(GS_ERR_ARG, "gansim_sample_events: need n >= 1 and an output buffer");
    ds_events ev;
    const int omp_saved = nn_threads_begin(); /* this call uses gansim's thread count */
    int rc = md_luxe_sample(m->luxe, n, seed, &ev);
    nn_threads_end(omp_saved);
    if (rc)
        return rc;
    memcpy(x, ev.x, (size_t)(n * ev.f) * sizeof(float));
    if (pdg)
        memcpy(pdg, ev.pdg, (size_t)n * sizeof *pdg);
    ds_events_free(&ev);
    return GS_OK;
}

int64_t gansim_n_conditions(const gansim_model *m)
{
    return m->zdc ? md_zdc_n_cond(m->zdc) : 0;
}

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
    if (m->zdc)
        md_zdc_image_shape(m->zdc, height, width);
}

int gansim_sample_images(gansim_model *m, const float *cond, int64_t n, uint64_t seed,
                         float *images)
{
    if (!m || !m->zdc)
        return gs_error(GS_ERR_ARG, "gansim_sample_images: not an image model");
    if (n < 1 || !cond || !images)
        return gs_error(GS_ERR_ARG, "gansim_sample_images: need n >= 1, conditions and an "
                                    "output buffer");
    ds_images im;
    const int omp_saved = nn_threads_begin();
    int rc = md_zdc_sample(m->zdc, cond, n, 1, seed, &im);
    nn_threads_end(omp_saved);
    if (rc)
        return rc;
    memcpy(images, im.images, (size_t)(n * im.h * im.w) * sizeof(float));
    ds_images_free(&im);
    return GS_OK;
}

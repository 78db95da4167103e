/* gansim.h — embedding API: load a trained gansim model and sample from it
 * inside a C or C++ program (e.g. a Geant4 fast-simulation hook).
 *
 *   gansim_model *m;
 *   if (gansim_open("run/model.h5", &m) != 0) { fprintf(stderr, "%s\n", gansim_errmsg()); ... }
 *   float x[1000 * 6]; int32_t pdg[1000];
 *   gansim_sample_events(m, 1000, seed, x, pdg);      // LUXE-type models
 *   gansim_sample_images(m, cond, n, seed, images);   // ZDC-type models
 *   gansim_close(m);
 *
 * Contract
 * - Every function that can fail returns 0 on success and a nonzero status
 *   otherwise; gansim_errmsg() then holds a one-line message (per thread).
 * - Output goes to caller-provided buffers of the documented sizes; the
 *   library allocates only inside gansim_open (the model and its working
 *   memory) and, on a handle's first sampling call of a given size, its
 *   scratch arena. Nothing is global except the thread count (below).
 * - Threads: sampling calls on DIFFERENT handles may run concurrently, so
 *   open one handle per thread. Calls on the SAME handle must not overlap.
 *   gansim_open/gansim_close read HDF5, which is not thread-safe in
 *   Debian's serial build: serialise them (open all handles up front).
 *   Inside a call, gansim uses up to gansim_get_threads() OpenMP threads:
 *   OMP_NUM_THREADS (else the CPUs) until gansim_set_threads(n) sets it for
 *   the whole process — also for threads started later, such as Geant4
 *   workers. A call gives its thread that count for its duration and puts
 *   the thread's own OpenMP setting back on return. When you run one handle
 *   per thread, set it to 1.
 * - Determinism: the same model, n, seed (and conditions) give the same
 *   output, bit for bit, whatever the thread count, the handle, or the
 *   thread that calls.
 * - The header is plain C99 and usable from C++ (extern "C"). */
#ifndef GANSIM_H
#define GANSIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GANSIM_API_VERSION 1

typedef struct gansim_model gansim_model;

typedef enum {
    GANSIM_EVENTS = 1,   /* tabular particles (LUXE): gansim_sample_events */
    GANSIM_IMAGES = 2    /* conditional images (ZDC): gansim_sample_images */
} gansim_kind;

/* Opens a model.h5 (or last.h5) written by gansim-train. A model whose
 * training was interrupted (state "partial": some sub-models trained fewer
 * steps than planned) is refused, with a message naming the file and the
 * missing steps; gansim_open_ex with GANSIM_OPEN_ALLOW_PARTIAL opens it
 * anyway. */
int gansim_open(const char *path, gansim_model **model);
enum { GANSIM_OPEN_ALLOW_PARTIAL = 1 };
int gansim_open_ex(const char *path, unsigned flags, gansim_model **model);
/* Warnings about an opened model, one per line ("" when none): sub-models
 * trained fewer steps than their floor, never trained, or (partial models)
 * short of their planned steps. The library never prints: show them. */
const char *gansim_model_warnings(const gansim_model *m);
void gansim_close(gansim_model *model);
/* Message of the calling thread's last failure. */
const char *gansim_errmsg(void);
const char *gansim_version(void);
/* Threads a sampling call may use, for the whole process (n >= 1; values
 * below 1 mean 1). Results do not depend on it, only speed does. */
void gansim_set_threads(int n);
/* The count in force: the last gansim_set_threads, else OpenMP's default. */
int gansim_get_threads(void);

gansim_kind gansim_model_kind(const gansim_model *m);

/* ---- events (GANSIM_EVENTS) ---- */
int64_t gansim_n_features(const gansim_model *m);
/* Column name / unit of feature i; NULL when i is out of range, "" for no unit. */
const char *gansim_feature_name(const gansim_model *m, int64_t i);
const char *gansim_feature_unit(const gansim_model *m, int64_t i);
/* Mean particles per bunch crossing from the training file (0 if unknown). */
double gansim_particles_per_bx(const gansim_model *m);
/* n particles: x [n * n_features] row-major in the training file's columns
 * and units; pdg [n] species codes (may be NULL). */
int gansim_sample_events(gansim_model *m, int64_t n, uint64_t seed, float *x, int32_t *pdg);

/* ---- images (GANSIM_IMAGES) ---- */
int64_t gansim_n_conditions(const gansim_model *m);
const char *gansim_condition_name(const gansim_model *m, int64_t i);
void gansim_image_shape(const gansim_model *m, int64_t *height, int64_t *width);
/* Condition names in the training file's order: E, vx, vy, vz, px, py, pz,
 * mass, charge (GeV, cm as in the training data). */
/* One image per condition row: cond [n * n_conditions], images [n * h * w]
 * (photon counts, row 0 on top). */
int gansim_sample_images(gansim_model *m, const float *cond, int64_t n, uint64_t seed,
                         float *images);

#ifdef __cplusplus
}
#endif

#endif

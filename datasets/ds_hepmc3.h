/* ds_hepmc3 — an event table as HepMC3 ASCII events, one event per bunch
 * crossing, through HepMC3's own writer (Debian's libhepmc3). This is the
 * input format of Key4hep's ddsim and of most Geant4 applications'
 * generator actions (docs/deploy.md).
 *
 * The implementation is C++ (datasets/ds_hepmc3.cpp) behind this C
 * interface; exceptions never cross it. Programs linking libgansim.a add
 * -lHepMC3 -lstdc++ (gansim.pc says so).
 *
 * What one particle (table row) becomes:
 *   - a vertex at its production point on the scoring plane:
 *       x, y    the row's x, y, in mm (the training file's transverse frame);
 *       z       opts->plane_z_mm (the plane's z in the output frame; the
 *               rows carry no z), or the row's z when the table has a z column;
 *       c*t     the row's t times c = 299.792458 mm/ns: HepMC3 stores the
 *               time component as a length. t = 0 is the training data's
 *               time origin (for the LUXE data: the bunch reaching the dump);
 *               nothing is shifted.
 *   - an outgoing particle, status 1, the row's PDG id, four-momentum
 *     (px, py, pz in GeV, E = sqrt(p^2 + m^2) with m the PDG mass from
 *     core/gs_pdg.h), generated mass m;
 *   - an incoming copy of it (same id and four-momentum), status 3
 *     ("documentation"), so that the vertex has a parent particle. ddsim
 *     (DD4hep's HepMC3 reader) places the primaries of a parentless particle
 *     at that particle's END vertex, i.e. at (0, 0, 0, 0) for a bare final
 *     state particle; with the copy it places them at the vertex. Readers
 *     that take status-1 particles (Geant4's HepMC interface, Rivet) skip
 *     the copy.
 *   - the row's weight, when the table has /weights, as the particle
 *     attribute "weight" (HepMC3 weights are per event; every event has
 *     the weight 1: a bunch crossing is an unweighted draw).
 * Units are set explicitly: GeV and mm (GenEvent::set_units). Events are
 * numbered by crossing, 0 ... n_bx - 1, as /bx in gansim-sample's HDF5
 * output; a crossing without particles is written as an empty event. The
 * run info (GenRunInfo) names gansim, its version and the model, and holds
 * the frame as text (attribute gansim_frame).
 *
 * Input units: each column's unit is read from the table (ev->units) and
 * converted: lengths mm, cm, m, um; momenta GeV, MeV, keV, TeV (also
 * "GeV/c" ...); times ns, ps, us, ms, s. */
#ifndef DS_HEPMC3_H
#define DS_HEPMC3_H

#include <signal.h>
#include <stdint.h>

#include "datasets/ds.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *model;        /* model file, recorded in the run info (NULL: none) */
    const char *model_kind;   /* e.g. "luxe_wgan" (NULL: none) */
    uint64_t seed;            /* the sampling seed, recorded in the run info */
    double plane_z_mm;        /* z of the scoring plane in the output frame, mm */
    /* called after each event with (events written, total events); may be NULL */
    void (*progress)(void *user, int64_t done, int64_t total);
    void *user;
    /* may be NULL; nonzero (set asynchronously, e.g. by a signal handler):
     * stop after the event being written, remove the temporary file and
     * return GS_OK with stats->stopped = the flag's value, no file */
    const volatile sig_atomic_t *stop;
} ds_hepmc3_opts;

typedef struct {
    int64_t events;           /* events written (= n_bx) */
    int64_t particles;        /* status-1 particles written (= ev->n) */
    int64_t empty;            /* events without particles */
    int64_t stopped;          /* opts->stop's value when it ended the writing, else 0 */
} ds_hepmc3_stats;

/* Writes ev as n_bx HepMC3 events to path (atomically: nothing appears under
 * path on failure). bx[i] is row i's crossing, non-decreasing, in
 * [0, n_bx); bx may be NULL when n_bx == 1 (all rows one event).
 * ev needs columns x, y, px, py, pz, t (optionally z, nothing else), units
 * for each, and /pdg with ids known to gs_pdg_mass (core/gs_pdg.h); values must be finite.
 * stats may be NULL. Errors: GS_ERR_ARG (bad columns, units, PDG ids, bx),
 * GS_ERR_NUMERIC (NaN/Inf), GS_ERR_IO, GS_ERR_NOMEM. */
int ds_hepmc3_write(const char *path, const ds_events *ev, const int64_t *bx, int64_t n_bx,
                    const ds_hepmc3_opts *opts, ds_hepmc3_stats *stats);

#ifdef __cplusplus
}
#endif

#endif

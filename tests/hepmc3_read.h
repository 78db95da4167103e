/* A HepMC3 ASCII file read back through HepMC3's own ReaderAscii (not
 * gansim's writer), flattened for the C tests: every status-1 particle in
 * file order, with its event, momentum, mass, production vertex and weight
 * attribute. */
#ifndef HEPMC3_READ_H
#define HEPMC3_READ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t n_events;
    int64_t *event_number;  /* [n_events] */
    int64_t *count;         /* [n_events] status-1 particles per event */
    double *event_weight;   /* [n_events] first event weight (NaN when none) */
    int64_t n;              /* status-1 particles in all events */
    int64_t n_other;        /* particles with any other status */
    int32_t *pid;           /* [n] */
    double *p;              /* [n * 4] px, py, pz, E as stored */
    double *m_gen;          /* [n] generated mass as stored */
    double *m_calc;         /* [n] sqrt(E^2 - p^2) as HepMC3's FourVector::m() gives it */
    double *pos;            /* [n * 4] production vertex x, y, z, c*t */
    double *weight;         /* [n] "weight" attribute, NaN when absent */
    int units_gev_mm;       /* every event in GeV and mm */
    int parents_ok;         /* every status-1 particle: one parent, status 3, same id and
                             * four-momentum, ending at the particle's production vertex,
                             * itself without parents (the root's); one vertex per
                             * status-1 particle and no other */
    char tool[64], tool_version[64], tool_desc[512];
    char model[512], kind[64], seed[64], frame[1024];
    double plane_z, particles_per_bx;
    char dump[8192];        /* HepMC3::Print::listing of the first non-empty event (cut) */
} h3_file;

/* 0 on success; otherwise nonzero with a message in err. */
int h3_read(const char *path, h3_file *out, char *err, size_t errlen);
void h3_free(h3_file *f);

#ifdef __cplusplus
}
#endif

#endif

/* ds — gansim's data files and toy simulators (layouts: docs/formats.md; toy simulators: docs/datasets.md).
 *
 * Event tables (LUXE) and image sets (ZDC) in HDF5, CSV import of event
 * tables, and seeded toy simulators standing in for Geant4. Works on plain
 * float arrays; knows nothing of nn/. Every reader validates what it reads
 * (missing datasets, rank, dtype, overflowing sizes, N = 0, NaN/Inf) and
 * fails with a gs_status and a message in gs_errmsg() naming the file and
 * the problem; writers are atomic (temp file + rename). */
#ifndef DS_H
#define DS_H

#include <stdint.h>
#include <stdio.h>

#include "core/gs_core.h"

/* ---- event table: /events float32 [N, F] + attrs columns, units;
 *      /pdg int32 [N]; optional /weights float32 [N];
 *      optional attr particles_per_bx (float64) ---- */
typedef struct {
    int64_t n;              /* rows (particles) */
    int64_t f;              /* features per row */
    float *x;               /* [n * f], row-major */
    char **columns;         /* f names, e.g. "x","y","px","py","pz","t" */
    char **units;           /* f unit strings, or NULL when the file has none */
    int32_t *pdg;           /* [n] PDG species code, or NULL */
    float *weights;         /* [n] per-particle weights, or NULL */
    double particles_per_bx; /* mean particles per bunch crossing; 0 when absent */
} ds_events;

/* Reader options.
 * drop_nonfinite: drop rows holding NaN/Inf instead of failing (a finite
 *   value beyond float32 is never dropped: it is refused).
 * For event tables, metadata a file cannot carry (CSV) or lacks:
 * columns: "NEW=OLD,..." renames columns as read, e.g. "x=X,t=time"; in a
 *   CSV header before /pdg and /weights are picked, so "pdg=PID" makes the
 *   column PID the species. A name not in the file is refused, listing the
 *   columns found.
 * units: one unit per feature column in order ("mm,mm,GeV,GeV,GeV,ns"), or
 *   "NAME=UNIT" pairs covering every feature column.
 * particles_per_bx: > 0 sets the mean particles per bunch crossing (what
 *   gansim-sample --bunch-crossings needs); 0 = as in the file.
 * A file that states units or particles_per_bx other than asked is refused. */
typedef struct {
    int drop_nonfinite;
    const char *columns;
    const char *units;
    double particles_per_bx;
} ds_read_opts;

int  ds_events_read(const char *path, const ds_read_opts *opts, ds_events *out);
int  ds_events_write(const char *path, const ds_events *ev);
/* CSV with a header row of column names. A column named pdg (or species)
 * becomes /pdg, one named weight(s) becomes /weights, the rest are features
 * (after opts->columns renames them). */
int  ds_events_read_csv(const char *path, const ds_read_opts *opts, ds_events *out);
/* The same readers on an in-memory HDF5 file image or an open CSV stream;
 * `name` stands in for the file name in messages (fuzzing, embedding). */
int  ds_events_read_image(const void *buf, size_t len, const char *name,
                          const ds_read_opts *opts, ds_events *out);
int  ds_events_read_csv_stream(FILE *fp, const char *name, const ds_read_opts *opts,
                               ds_events *out);
void ds_events_free(ds_events *ev);
/* index of a column by name, -1 when absent */
int64_t ds_events_column(const ds_events *ev, const char *name);
/* Allocates an empty table with n rows and the given columns (copied). */
int  ds_events_alloc(ds_events *ev, int64_t n, int64_t f, const char *const *columns,
                     const char *const *units, int with_pdg, int with_weights);

/* ---- image set: /images float32 [N, H, W], /conditions float32 [N, 9]
 *      with attr columns "E,vx,vy,vz,px,py,pz,mass,charge" ---- */
#define DS_ZDC_H 56
#define DS_ZDC_W 30
#define DS_ZDC_NCOND 9
/* the neutron ZDC (ZN): 44 x 44 fibres, same 9 conditions */
#define DS_ZN_H 44
#define DS_ZN_W 44
typedef struct {
    int64_t n, h, w;
    float *images;          /* [n * h * w] */
    int64_t c;              /* conditions per image (9), 0 when the file has none */
    float *cond;            /* [n * c] or NULL */
    char **cond_columns;    /* c names, or NULL */
} ds_images;

int  ds_images_read(const char *path, const ds_read_opts *opts, ds_images *out);
int  ds_images_read_image(const void *buf, size_t len, const char *name,
                          const ds_read_opts *opts, ds_images *out);
int  ds_images_write(const char *path, const ds_images *im);
/* conditions-only file (/conditions [N, 9]) as taken by gansim-sample --conditions */
int  ds_conditions_read(const char *path, ds_images *out /* images = NULL, h = w = 0 */);
void ds_images_free(ds_images *im);
int  ds_images_alloc(ds_images *im, int64_t n, int64_t h, int64_t w, int64_t c);

/* ---- streaming writers: the same layouts, written chunk by chunk ----------
 * For productions larger than memory: rows are appended as they are made,
 * into chunked datasets that grow (memory: about two HDF5 chunks, whatever
 * N). The file is built under a temporary name beside path ("path.tmp.PID")
 * and renamed into place by _close, so nothing exists under path before the
 * last row is written; _discard (or a crash) leaves no file that looks
 * complete. ds_events_write / ds_images_write are these writers with the
 * whole table appended at once (ds_write_opts.rows = n, no compression). */
typedef struct {
    int64_t chunk_rows;     /* rows per HDF5 chunk; 0: 65536 events, 64 images */
    int deflate;            /* 0 none; 1..9 gzip level, with the shuffle filter */
    /* rows the file will hold when known up front: the datasets then have
     * that fixed shape (as the one-shot writers' do) and closing with fewer
     * rows fails; 0: unknown, the datasets grow (maximum shape unlimited) */
    int64_t rows;
} ds_write_opts;

typedef struct ds_events_writer ds_events_writer;
/* like: the table's columns, units, particles_per_bx and which of pdg /
 * weights it has (like->n and the arrays are not read). with_bx adds /bx
 * (int64 bunch-crossing index per row). opts may be NULL. */
int  ds_events_writer_open(const char *path, const ds_events *like, int with_bx,
                           const ds_write_opts *opts, ds_events_writer **w);
/* Appends rows->n rows (same columns as `like`; pdg/weights when declared);
 * bx: rows->n indices when with_bx, else NULL. */
int  ds_events_writer_append(ds_events_writer *w, const ds_events *rows, const int64_t *bx);
int64_t ds_events_writer_rows(const ds_events_writer *w);
/* Finishes the file and renames it into place; frees w (also on failure,
 * when the temporary is removed). An empty table is refused. */
int  ds_events_writer_close(ds_events_writer *w);
/* Removes the temporary file and frees w (NULL: nothing). */
void ds_events_writer_discard(ds_events_writer *w);

typedef struct ds_images_writer ds_images_writer;
/* like: h, w (0: conditions only), c and cond_columns (n and arrays not read). */
int  ds_images_writer_open(const char *path, const ds_images *like, const ds_write_opts *opts,
                           ds_images_writer **w);
int  ds_images_writer_append(ds_images_writer *w, const ds_images *rows);
int64_t ds_images_writer_rows(const ds_images_writer *w);
int  ds_images_writer_close(ds_images_writer *w);
void ds_images_writer_discard(ds_images_writer *w);

/* What kind of file is this? */
typedef enum { DS_KIND_UNKNOWN = 0, DS_KIND_EVENTS, DS_KIND_IMAGES } ds_kind;
int ds_file_kind(const char *path, ds_kind *kind);

/* ---- toy simulators (formulas in docs/datasets.md); same seed => same data ---- */
/* LUXE: particles leaving a 16.5 GeV e- beam dump face backwards (pz < 0).
 * Columns x,y [mm], px,py,pz [GeV], t [ns]; pdg 2112 (n), 22 (γ), 11 (e−), −11 (e+). */
int ds_toy_luxe(int64_t n, uint64_t seed, ds_events *out);
/* ZDC: 9 conditions -> 56×30 photon-count image, many images per condition shape. */
int ds_toy_zdc(int64_t n, uint64_t seed, ds_images *out);

/* Extended entry points (added): options for both simulators. Results for a
 * given (n, seed) do not depend on the progress callback; with_weights only
 * adds /weights (drawn from a separate stream, so the particles are the same
 * with and without weights). */
typedef struct {
    int with_weights;                                   /* luxe: emit /weights */
    void (*progress)(void *user, int64_t done, int64_t total);  /* may be NULL */
    void *user;
} ds_toy_opts;
int ds_toy_luxe_ex(int64_t n, uint64_t seed, const ds_toy_opts *opts, ds_events *out);
int ds_toy_zdc_ex(int64_t n, uint64_t seed, const ds_toy_opts *opts, ds_images *out);
/* Constants of the LUXE toy (documented in docs/datasets.md). */
#define DS_LUXE_PARTICLES_PER_BX 12000.0
/* ZDC: draws one condition vector (E,vx,vy,vz,px,py,pz,mass,charge). */
void ds_toy_zdc_condition(gs_rng *rng, float cond[DS_ZDC_NCOND]);
/* ZDC: renders one DS_ZDC_H x DS_ZDC_W photon-count image for a condition;
 * repeated calls with the same condition give different images. */
void ds_toy_zdc_render(gs_rng *rng, const float cond[DS_ZDC_NCOND], float *img);
/* Neutron ZDC toy (gansim-datagen zdc-neutron): a neutral particle (n, γ, K0L,
 * n̄, Λ) on a straight line to a DS_ZN_H x DS_ZN_W photon-count image (no
 * magnetic bending, wider hadronic showers); formulas in docs/datasets.md §3b.
 * Same 9 condition columns (charge 0). Errors: n < 1 (GS_ERR_ARG), memory. */
int ds_toy_zn_ex(int64_t n, uint64_t seed, const ds_toy_opts *opts, ds_images *out);
void ds_toy_zn_condition(gs_rng *rng, float cond[DS_ZDC_NCOND]);
/* Renders one DS_ZN_H x DS_ZN_W image; the species is the one nearest in mass. */
void ds_toy_zn_render(gs_rng *rng, const float cond[DS_ZDC_NCOND], float *img);

#endif

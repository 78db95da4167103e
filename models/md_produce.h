/* md_produce — a sample production written chunk by chunk to one file, by one
 * process or by several cooperating ones.
 *
 * A production is a sequence of chunks c = 0 .. n_chunks-1, each a pure
 * function of (model, seed, c): the sampler derives chunk c's random streams
 * from the seed and c alone. So the file's content depends on nothing else —
 * not the thread count, not the number of processes, not which process made
 * which chunk.
 *
 * One process: make chunk c, append it (datasets/ds.h streaming writers),
 * next. Memory holds one chunk whatever the number of rows.
 *
 * Several processes (gs_comm, e.g. mpirun -np P): chunk c is made by rank
 * c mod P; rank 0 also receives the other ranks' chunks and appends every
 * chunk in index order. The chunks travel to one writer because Debian's
 * HDF5 is the serial build (no parallel HDF5 / MPI-IO): one writer gives one
 * ordinary file, identical in content to the one-process file, readable by
 * h5py and every HDF5 tool with no virtual-dataset plumbing. The cost is
 * that rank 0's link and disk carry the whole output (docs/scaling.md).
 *
 * Work goes in rounds of P chunks; after each round the ranks agree (one
 * small all-reduce) whether anyone failed or was asked to stop. A stop or a
 * failure on any rank ends every rank after that round, and the output's
 * temporary file is removed: only a complete production is ever renamed to
 * its final name. */
#ifndef MD_PRODUCE_H
#define MD_PRODUCE_H

#include <signal.h>

#include "core/gs_comm.h"
#include "datasets/ds.h"

/* Where chunks come from. Exactly one of events / images is set. The source
 * owns the chunk's buffers; they stay valid until its next call. */
typedef struct {
    int64_t n_chunks;
    /* Chunk c's rows; *bx: a bunch-crossing index per row when the
     * production has /bx (with_bx), else set it to NULL. */
    int (*events)(void *ud, int64_t c, ds_events *rows, const int64_t **bx);
    int (*images)(void *ud, int64_t c, ds_images *rows);
    void *ud;
} md_chunk_source;

typedef struct {
    gs_comm *comm;                      /* NULL: this process alone */
    ds_write_opts write;                /* HDF5 chunking and compression */
    const volatile sig_atomic_t *stop;  /* set asynchronously: stop after this round */
    /* Called on rank 0 after each chunk is written (may be NULL). */
    void (*progress)(void *ud, int64_t chunks_done, int64_t n_chunks, int64_t rows_done);
    void *progress_ud;
} md_produce_opts;

/* Writes the production to path (rank 0; the other ranks only make chunks).
 * like: the output's layout (columns, units, particles_per_bx, pdg/weights
 * present, or image shape and conditions) — arrays and n are not read.
 * Returns GS_OK with *stopped = 1 when a stop was requested (no file is
 * left); *rows (may be NULL) gets the rows written. Every rank returns the
 * same status; a rank whose own chunk failed keeps its message, the others
 * say which rank and chunk failed. */
int md_produce_events(const md_chunk_source *src, const ds_events *like, int with_bx,
                      const char *path, const md_produce_opts *o, int64_t *rows, int *stopped);
int md_produce_images(const md_chunk_source *src, const ds_images *like, const char *path,
                      const md_produce_opts *o, int64_t *rows, int *stopped);

#endif

/* md_dist — data-parallel training hooks (md_run.h md_parallel) over a
 * communicator (core/gs_comm.h): the gradients of one network, packed into
 * one flat float buffer with the step's loss terms, summed by one all-reduce.
 *
 * One message per network update is the bucketing: gansim's networks are
 * 0.2-1 M parameters (0.7-3.7 MB), so a single buffer is already the size
 * PyTorch DDP's buckets default to (25 MB) or below, and one call pays the
 * latency once. md_dist_set_bucket splits it for measurements
 * (docs/scaling.md). The buffer is allocated on first use and reused: no
 * allocation in a steady-state step. */
#ifndef MD_DIST_H
#define MD_DIST_H

#include <stdint.h>

#include "core/gs_comm.h"
#include "models/md_run.h"
#include "nn/nn.h"

typedef struct md_dist md_dist;

/* threads: per rank, for the layout string ("2 ranks x 1 thread"). */
int md_dist_new(gs_comm *c, int threads, md_dist **d);
void md_dist_free(md_dist *d);
/* How the ranks share a run (md_run.h MD_DISTRIBUTE_*; default data):
 * MD_DISTRIBUTE_SUBMODELS adds ", sub-models distributed" to the layout. */
void md_dist_set_distribute(md_dist *d, int distribute);
/* Fills p: rank, size, layout, distribute and the hooks. */
void md_dist_parallel(md_dist *d, md_parallel *p);
const char *md_dist_layout(const md_dist *d);

/* Bucket size in bytes for the gradient all-reduce: 0 (default) one buffer
 * per network; > 0 buckets of about that size; < 0 one all-reduce per
 * tensor, unpacked (in place). */
void md_dist_set_bucket(md_dist *d, int64_t bytes);

/* What the hooks did so far: all-reduce calls, bytes summed (per rank),
 * seconds spent in them (packing included). */
typedef struct {
    int64_t calls, bytes;
    double seconds;
} md_dist_stats;
md_dist_stats md_dist_get_stats(const md_dist *d);

/* 1 when ps holds the same bytes on every rank (a 64-bit hash compared by
 * all-reduce), 0 when not, or a negative gs_status on failure; *hash gets
 * this rank's hash (may be NULL). For checks and tests. */
int md_dist_same_params(md_dist *d, const nn_params *ps, uint64_t *hash);

#endif

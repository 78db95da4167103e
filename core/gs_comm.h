/* gs_comm — the processes that cooperate on one run, as the library sees them.
 *
 * A communicator is a rank (0..size-1), a size and a handful of collective
 * operations on flat buffers: sum-all-reduce (gradients), max/min/sum of a few
 * integers or doubles (stop flags, losses), broadcast, barrier, point-to-point
 * bytes (sample chunks on their way to the writer), abort.
 *
 * Why an interface and not MPI calls: the library (libgansim, the embedding
 * API) must not depend on MPI — a host program may use another MPI or none,
 * and OpenMPI's runtime costs ~0.4 s and ~13 MB at start-up even for one
 * process. So core/ defines what a communicator does; the MPI implementation
 * lives in comm/ (cm_mpi_init), which only the tools link. models/ program
 * against gs_comm; nn/ knows nothing of any of it.
 *
 * NULL everywhere means "this process alone" (rank 0 of 1): every collective
 * is then a no-op that succeeds, so single-process code paths need no special
 * case. gs_comm_self() returns that communicator explicitly.
 *
 * Collectives must be called by every rank, in the same order, with the same
 * counts (the MPI rule). Errors return a gs_status with a message; a
 * communication failure usually means a peer died, and the caller should
 * stop (gs_comm_abort ends every rank). */
#ifndef GS_COMM_H
#define GS_COMM_H

#include <stdint.h>

#include "core/gs_core.h"

typedef enum { GS_COMM_SUM = 0, GS_COMM_MAX, GS_COMM_MIN } gs_comm_op;
typedef enum { GS_COMM_F32 = 0, GS_COMM_F64, GS_COMM_I64 } gs_comm_type;

/* What an implementation provides (comm/cm_mpi.c; tests may provide fakes).
 * Counts are elements (allreduce) or bytes (bcast, send, recv), >= 0. */
typedef struct {
    int (*allreduce)(void *impl, void *buf, int64_t n, gs_comm_type t, gs_comm_op op);
    int (*bcast)(void *impl, void *buf, int64_t bytes, int root);
    int (*barrier)(void *impl);
    int (*send)(void *impl, const void *buf, int64_t bytes, int dest, int tag);
    int (*recv)(void *impl, void *buf, int64_t bytes, int src, int tag);
    /* Ends every rank of the job with exit status `code`; does not return. */
    void (*abort)(void *impl, int code);
} gs_comm_ops;

typedef struct gs_comm {
    int rank, size;
    const gs_comm_ops *ops;
    void *impl;
    const char *backend;            /* "self", "mpi" */
} gs_comm;

/* The single-process communicator (static; never freed). */
gs_comm *gs_comm_self(void);

int gs_comm_rank(const gs_comm *c);
int gs_comm_size(const gs_comm *c);

/* In-place element-wise reduction over all ranks: every rank ends with the
 * same result. Sums of floats depend on the implementation's reduction order
 * (not bit-reproducible across rank counts above 2; a + b = b + a is). */
int gs_comm_allreduce(gs_comm *c, void *buf, int64_t n, gs_comm_type t, gs_comm_op op);
/* Shorthands: float sum (gradients), int64 max (flags: any rank set it). */
int gs_comm_sum_f32(gs_comm *c, float *buf, int64_t n);
int gs_comm_sum_f64(gs_comm *c, double *buf, int64_t n);
int gs_comm_max_i64(gs_comm *c, int64_t *buf, int64_t n);
/* Copies `bytes` bytes from root's buf into every other rank's buf. */
int gs_comm_bcast(gs_comm *c, void *buf, int64_t bytes, int root);
int gs_comm_barrier(gs_comm *c);
/* Blocking point-to-point bytes; tag >= 0. The receiver must know the size
 * (send a size first when it varies). */
int gs_comm_send(gs_comm *c, const void *buf, int64_t bytes, int dest, int tag);
int gs_comm_recv(gs_comm *c, void *buf, int64_t bytes, int src, int tag);
/* Ends the whole job (all ranks) with exit status code; single process:
 * exit(code). For tools only: the library never calls it. */
void gs_comm_abort(gs_comm *c, int code) __attribute__((noreturn));

/* "2 ranks x 1 thread", "1 process x 2 threads" — for start lines, logs and
 * model files, so a reader sees that ranks cooperate. Returns buf. */
const char *gs_comm_layout(const gs_comm *c, int threads, char *buf, int64_t n);

#endif

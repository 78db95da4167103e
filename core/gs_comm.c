/* The communicator interface's dispatch and the single-process
 * communicator (gs_comm.h). No MPI here: see comm/cm_mpi.c. */
#include "core/gs_comm.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/gs_core.h"

static gs_comm self_comm = {0, 1, NULL, NULL, "self"};

gs_comm *gs_comm_self(void) { return &self_comm; }

/* A communicator of one (NULL, self, or an MPI job of one rank): every
 * collective is the identity. */
static int alone(const gs_comm *c) { return !c || c->size <= 1 || !c->ops; }

int gs_comm_rank(const gs_comm *c) { return c ? c->rank : 0; }
int gs_comm_size(const gs_comm *c) { return c ? c->size : 1; }

int gs_comm_allreduce(gs_comm *c, void *buf, int64_t n, gs_comm_type t, gs_comm_op op)
{
    if (n < 0 || (n > 0 && !buf))
        return gs_error(GS_ERR_ARG, "all-reduce: bad buffer (%lld elements)", (long long)n);
    if (alone(c) || n == 0)
        return GS_OK;
    return c->ops->allreduce(c->impl, buf, n, t, op);
}

int gs_comm_sum_f32(gs_comm *c, float *buf, int64_t n)
{
    return gs_comm_allreduce(c, buf, n, GS_COMM_F32, GS_COMM_SUM);
}

int gs_comm_sum_f64(gs_comm *c, double *buf, int64_t n)
{
    return gs_comm_allreduce(c, buf, n, GS_COMM_F64, GS_COMM_SUM);
}

int gs_comm_max_i64(gs_comm *c, int64_t *buf, int64_t n)
{
    return gs_comm_allreduce(c, buf, n, GS_COMM_I64, GS_COMM_MAX);
}

int gs_comm_bcast(gs_comm *c, void *buf, int64_t bytes, int root)
{
    if (bytes < 0 || (bytes > 0 && !buf))
        return gs_error(GS_ERR_ARG, "broadcast: bad buffer (%lld bytes)", (long long)bytes);
    if (root < 0 || root >= gs_comm_size(c))
        return gs_error(GS_ERR_ARG, "broadcast: root %d not in 0..%d", root, gs_comm_size(c) - 1);
    if (alone(c) || bytes == 0)
        return GS_OK;
    return c->ops->bcast(c->impl, buf, bytes, root);
}

int gs_comm_barrier(gs_comm *c) { return alone(c) ? GS_OK : c->ops->barrier(c->impl); }

/* Point-to-point with oneself has no partner: a caller that sends to its own
 * rank has a logic error, which we report rather than deadlock on. */
static int check_peer(const gs_comm *c, int peer, int tag, const void *buf, int64_t bytes,
                      const char *what)
{
    if (bytes < 0 || (bytes > 0 && !buf) || tag < 0)
        return gs_error(GS_ERR_ARG, "%s: bad buffer or tag", what);
    if (peer < 0 || peer >= gs_comm_size(c) || peer == gs_comm_rank(c))
        return gs_error(GS_ERR_ARG, "%s: peer %d is not another rank of %d", what, peer,
                        gs_comm_size(c));
    return GS_OK;
}

int gs_comm_send(gs_comm *c, const void *buf, int64_t bytes, int dest, int tag)
{
    int rc = check_peer(c, dest, tag, buf, bytes, "send");
    return rc ? rc : c->ops->send(c->impl, buf, bytes, dest, tag);
}

int gs_comm_recv(gs_comm *c, void *buf, int64_t bytes, int src, int tag)
{
    int rc = check_peer(c, src, tag, buf, bytes, "receive");
    return rc ? rc : c->ops->recv(c->impl, buf, bytes, src, tag);
}

void gs_comm_abort(gs_comm *c, int code)
{
    if (!alone(c) && c->ops->abort)
        c->ops->abort(c->impl, code);
    exit(code);
}

const char *gs_comm_layout(const gs_comm *c, int threads, char *buf, int64_t n)
{
    const int p = gs_comm_size(c);
    if (n > 0)
        snprintf(buf, (size_t)n, "%d %s x %d thread%s", p,
                 p > 1 ? "ranks" : (c && c->backend && c->backend[0] == 'm' ? "rank" : "process"),
                 threads, threads == 1 ? "" : "s");
    return buf;
}

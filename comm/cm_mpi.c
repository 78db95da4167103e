/* gs_comm over MPI_COMM_WORLD (cm_mpi.h). */
#include "comm/cm_mpi.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gs_core.h"

static gs_comm world;
static int initialised;
static char version[MPI_MAX_LIBRARY_VERSION_STRING];

/* MPI counts are int: larger buffers go in pieces of this many elements. */
#define PIECE ((int64_t)1 << 30)

static int mpi_fail(int err, const char *what)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, s, &len) != MPI_SUCCESS)
        snprintf(s, sizeof s, "MPI error %d", err);
    return gs_error(GS_ERR_IO, "%s failed on rank %d of %d: %s (a peer may have died)", what,
                    world.rank, world.size, s);
}

static MPI_Datatype mpi_type(gs_comm_type t)
{
    switch (t) {
    case GS_COMM_F64: return MPI_DOUBLE;
    case GS_COMM_I64: return MPI_INT64_T;
    default: return MPI_FLOAT;
    }
}

static size_t type_size(gs_comm_type t) { return t == GS_COMM_F32 ? 4 : 8; }

static MPI_Op mpi_op(gs_comm_op op)
{
    switch (op) {
    case GS_COMM_MAX: return MPI_MAX;
    case GS_COMM_MIN: return MPI_MIN;
    default: return MPI_SUM;
    }
}

static int c_allreduce(void *impl, void *buf, int64_t n, gs_comm_type t, gs_comm_op op)
{
    (void)impl;
    char *p = buf;
    for (int64_t i = 0; i < n; i += PIECE) {
        const int cnt = (int)(n - i < PIECE ? n - i : PIECE);
        int e = MPI_Allreduce(MPI_IN_PLACE, p + (size_t)i * type_size(t), cnt, mpi_type(t),
                              mpi_op(op), MPI_COMM_WORLD);
        if (e != MPI_SUCCESS)
            return mpi_fail(e, "all-reduce");
    }
    return GS_OK;
}

static int c_bcast(void *impl, void *buf, int64_t bytes, int root)
{
    (void)impl;
    char *p = buf;
    for (int64_t i = 0; i < bytes; i += PIECE) {
        const int cnt = (int)(bytes - i < PIECE ? bytes - i : PIECE);
        int e = MPI_Bcast(p + i, cnt, MPI_BYTE, root, MPI_COMM_WORLD);
        if (e != MPI_SUCCESS)
            return mpi_fail(e, "broadcast");
    }
    return GS_OK;
}

static int c_barrier(void *impl)
{
    (void)impl;
    int e = MPI_Barrier(MPI_COMM_WORLD);
    return e == MPI_SUCCESS ? GS_OK : mpi_fail(e, "barrier");
}

static int c_send(void *impl, const void *buf, int64_t bytes, int dest, int tag)
{
    (void)impl;
    const char *p = buf;
    int64_t i = 0;
    do { /* one message even for 0 bytes: the receiver expects it */
        const int cnt = (int)(bytes - i < PIECE ? bytes - i : PIECE);
        int e = MPI_Send(p + i, cnt, MPI_BYTE, dest, tag, MPI_COMM_WORLD);
        if (e != MPI_SUCCESS)
            return mpi_fail(e, "send");
        i += cnt;
    } while (i < bytes);
    return GS_OK;
}

static int c_recv(void *impl, void *buf, int64_t bytes, int src, int tag)
{
    (void)impl;
    char *p = buf;
    int64_t i = 0;
    do {
        const int cnt = (int)(bytes - i < PIECE ? bytes - i : PIECE);
        MPI_Status st;
        int e = MPI_Recv(p + i, cnt, MPI_BYTE, src, tag, MPI_COMM_WORLD, &st);
        if (e != MPI_SUCCESS)
            return mpi_fail(e, "receive");
        int got = 0;
        MPI_Get_count(&st, MPI_BYTE, &got);
        if (got != cnt)
            return gs_error(GS_ERR_STATE, "receive from rank %d: %d bytes, expected %d", src, got,
                            cnt);
        i += cnt;
    } while (i < bytes);
    return GS_OK;
}

static void c_abort(void *impl, int code)
{
    (void)impl;
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code); /* MPI_Abort does not return; keeps the compiler and readers sure */
}

static const gs_comm_ops ops = {c_allreduce, c_bcast, c_barrier, c_send, c_recv, c_abort};

static void finalize_at_exit(void)
{
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin)
        MPI_Finalize();
}

int cm_mpi_launched(void)
{
    /* Open MPI's mpirun; PMIx launchers (srun --mpi=pmix, prterun); PMI-1/2
     * (MPICH's hydra, srun --mpi=pmi2). */
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                                       "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

int cm_mpi_local_size(void)
{
    if (!initialised)
        return 1;
    MPI_Comm node;
    int n = 1;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) ==
        MPI_SUCCESS) {
        MPI_Comm_size(node, &n);
        MPI_Comm_free(&node);
    }
    return n;
}

const char *cm_mpi_version(void) { return initialised ? version : ""; }

int cm_mpi_init(int *argc, char ***argv, gs_comm **out)
{
    *out = gs_comm_self();
    const char *env = getenv("GANSIM_MPI");
    const int want = env && *env ? strcmp(env, "0") != 0 : cm_mpi_launched();
    if (!want)
        return GS_OK;
    if (initialised) {
        *out = &world;
        return GS_OK;
    }
    int provided = 0;
    int e = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (e != MPI_SUCCESS)
        return gs_error(GS_ERR_IO, "MPI_Init_thread failed (error %d)", e);
    atexit(finalize_at_exit);
    if (provided < MPI_THREAD_FUNNELED)
        return gs_error(GS_ERR_STATE, "MPI provides thread level %d, gansim needs FUNNELED (%d)",
                        provided, MPI_THREAD_FUNNELED);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world.size);
    int len = 0;
    MPI_Get_library_version(version, &len);
    char *nl = strchr(version, '\n');
    if (nl)
        *nl = '\0';
    world.ops = &ops;
    world.impl = NULL;
    world.backend = "mpi";
    initialised = 1;
    *out = &world;
    return GS_OK;
}

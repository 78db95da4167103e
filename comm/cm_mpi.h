/* cm_mpi — the MPI implementation of gs_comm (core/gs_comm.h), for the tools.
 *
 * cm_mpi_init initialises MPI only when the process was started by an MPI
 * launcher (mpirun / mpiexec, srun with PMI or PMIx), or when GANSIM_MPI=1
 * asks for it (a singleton: a job of one rank); otherwise it returns the
 * single-process communicator and never touches MPI, so a tool run without
 * mpirun behaves, starts and costs exactly as one built without MPI.
 * GANSIM_MPI=0 turns MPI off even under a launcher (then every rank runs
 * alone: P independent copies).
 *
 * Threads: MPI_THREAD_FUNNELED. Only the thread that called cm_mpi_init
 * communicates; OpenMP workers never do.
 *
 * Errors: MPI errors come back as gs_status (MPI_ERRORS_RETURN) with MPI's
 * text in gs_errmsg(). A tool that fails on one rank must end the job with
 * gs_comm_abort (the others may be waiting in a collective); a normal exit
 * finalises MPI (atexit). */
#ifndef CM_MPI_H
#define CM_MPI_H

#include "core/gs_comm.h"

/* *out: the world communicator (static; valid until exit), or
 * gs_comm_self() when MPI is not used. argc/argv may be NULL. */
int cm_mpi_init(int *argc, char ***argv, gs_comm **out);
/* Ranks of the job on this node (MPI_COMM_TYPE_SHARED); 1 without MPI. */
int cm_mpi_local_size(void);
/* 1 when the environment shows an MPI launcher started this process. */
int cm_mpi_launched(void);
/* The library's version line ("Open MPI v4.1.4, ..."), or "" when MPI is not
 * initialised. */
const char *cm_mpi_version(void);

#endif

/* Sum-all-reduce of a flat float buffer through gs_comm (the call the
 * data-parallel trainer makes), timed from 4 bytes to 64 MiB: the latency
 * and bandwidth that docs/scaling.md's cost model takes for this machine.
 *
 *   make bench-allreduce                      # 2 ranks on this machine
 *   mpirun -np P build/bench/allreduce [--max-mib M] [--reps R]
 *
 * Prints, per size, the best and median time of R calls (after a barrier
 * each), the algorithm bandwidth (bytes / time) and the bus bandwidth
 * (2 (P-1)/P bytes / time, what a ring moves per rank), both from the
 * median, then a least-squares fit t = alpha + bytes * 2 (P-1)/P / B over
 * the best times of the sizes up to 4 MiB (what gansim sends; on a shared
 * machine the medians of the large sizes are the other jobs' scheduling,
 * not the link). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm/cm_mpi.h"
#include "core/gs_comm.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    gs_comm *c;
    if (cm_mpi_init(&argc, &argv, &c)) {
        fprintf(stderr, "allreduce: %s\n", gs_errmsg());
        return 1;
    }
    int max_mib = 64, reps = 50;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--max-mib"))
            max_mib = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
    }
    if (reps < 3)
        reps = 3;
    const int r = gs_comm_rank(c), p = gs_comm_size(c);
    const int64_t max_n = (int64_t)max_mib << 18; /* floats */
    float *buf = malloc((size_t)max_n * sizeof *buf);
    double *t = malloc((size_t)reps * sizeof *t);
    if (!buf || !t)
        return 1;
    for (int64_t i = 0; i < max_n; i++)
        buf[i] = 1.0f;
    if (r == 0)
        printf("# %d ranks (%s); %d reps per size\n# %12s %12s %12s %14s %14s\n", p,
               cm_mpi_version()[0] ? cm_mpi_version() : "no MPI", reps, "bytes", "best_us",
               "median_us", "algbw_GB/s", "busbw_GB/s");
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int npts = 0;
    for (int64_t n = 1; n <= max_n; n *= 4) {
        int k = n >= (1 << 22) ? (reps + 4) / 5 : reps;
        for (int i = -2; i < k; i++) {
            gs_comm_barrier(c);
            double t0 = now();
            if (gs_comm_sum_f32(c, buf, n)) {
                fprintf(stderr, "allreduce: %s\n", gs_errmsg());
                gs_comm_abort(c, 1);
            }
            if (i >= 0)
                t[i] = now() - t0;
        }
        /* every rank's time: the slowest rank is what a training step waits for */
        gs_comm_allreduce(c, t, k, GS_COMM_F64, GS_COMM_MAX);
        qsort(t, (size_t)k, sizeof *t, cmp);
        const double bytes = 4.0 * (double)n, med = t[k / 2];
        const double bus = p > 1 ? 2.0 * (p - 1) / p * bytes : bytes;
        if (r == 0)
            printf("  %12.0f %12.2f %12.2f %14.3f %14.3f\n", bytes, 1e6 * t[0], 1e6 * med,
                   bytes / med / 1e9, bus / med / 1e9);
        if (bytes <= 4.0 * (1 << 20)) { /* the sizes gansim sends: 0.7-2.2 MB a network */
            sx += bus;
            sy += t[0];
            sxx += bus * bus;
            sxy += bus * t[0];
            npts++;
        }
    }
    const double slope = (npts * sxy - sx * sy) / (npts * sxx - sx * sx);
    const double alpha = (sy - slope * sx) / npts;
    if (r == 0)
        printf("# fit over the best times up to 4 MiB: alpha = %.2f us, bus bandwidth = %.2f GB/s\n",
               1e6 * alpha, 1e-9 / slope);
    free(buf);
    free(t);
    return 0;
}

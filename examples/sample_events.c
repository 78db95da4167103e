/* Embedding example (C): load a LUXE model trained by `make demo` and draw
 * background particles from it, as a detector simulation would.
 *
 *   cc sample_events.c $(pkg-config --cflags --libs gansim) -o sample_events
 *   ./sample_events demo-out/run/model.h5 */
/* clock_gettime is POSIX, not ISO C: ask for it (strict -std=c99 hides it). */
#define _POSIX_C_SOURCE 200809L
#include <gansim.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "demo-out/run/model.h5";
    gansim_model *m;
    if (gansim_open(path, &m) != 0) {
        fprintf(stderr, "sample_events: %s\n", gansim_errmsg());
        return 1;
    }
    if (gansim_model_kind(m) != GANSIM_EVENTS) {
        fprintf(stderr, "sample_events: %s is not an event (LUXE) model\n", path);
        gansim_close(m);
        return 1;
    }
    const int64_t f = gansim_n_features(m);
    printf("model %s: %lld features:", path, (long long)f);
    for (int64_t j = 0; j < f; j++)
        printf(" %s[%s]", gansim_feature_name(m, j), gansim_feature_unit(m, j));
    printf("; %.1f particles per bunch crossing\n", gansim_particles_per_bx(m));

    /* a few particles, printed */
    float x[5 * 64];
    int32_t pdg[5];
    if (f > 64 || gansim_sample_events(m, 5, 42, x, pdg) != 0) {
        fprintf(stderr, "sample_events: %s\n", gansim_errmsg());
        gansim_close(m);
        return 1;
    }
    for (int i = 0; i < 5; i++) {
        printf("  pdg %6d:", pdg[i]);
        for (int64_t j = 0; j < f; j++)
            printf(" %12.5g", x[i * f + j]);
        printf("\n");
    }

    /* throughput: one large draw into caller-owned buffers */
    const int64_t n = argc > 2 ? atoll(argv[2]) : 200000;
    float *big = malloc((size_t)(n * f) * sizeof *big);
    int32_t *bp = malloc((size_t)n * sizeof *bp);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = big && bp ? gansim_sample_events(m, n, 7, big, bp) : -1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (rc == 0)
        printf("sampled %lld particles in %.3f s: %.3g particles/s\n", (long long)n, dt,
               (double)n / dt);
    else
        fprintf(stderr, "sample_events: %s\n", gansim_errmsg());
    free(big);
    free(bp);
    gansim_close(m);
    return rc == 0 ? 0 : 1;
}

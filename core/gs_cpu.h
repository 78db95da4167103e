/* gs_cpu — run-time choice of the instruction set the hot kernels use.
 *
 * The default build targets x86-64-v2 (SSE4.2 + POPCNT: every x86-64 CPU
 * since 2009 and the EL9 baseline of grid worker nodes), so the tools start
 * on any of them. The hot kernels are compiled two more times, for
 * x86-64-v3 (AVX2 + FMA, 2013+) and x86-64-v4 (AVX-512), and GS_KERNEL
 * dispatches each call to the best copy the CPU runs. GANSIM_ISA=v2|v3|v4
 * caps the level (never above what the CPU has): tests run the suite on the
 * v2 path with it. Results are bit-reproducible for a given level; between
 * levels, wider vectors may group sums differently.
 *
 *   GS_KERNEL(axpy, (float *y, const float *x, float a, int64_t n), (y, x, a, n))
 *   {
 *   #pragma omp simd
 *       for (int64_t i = 0; i < n; i++)
 *           y[i] += a * x[i];
 *   }
 *
 * defines `static void axpy(...)`. The body must not open an OpenMP
 * parallel region (GCC and clang outline it at the baseline target): run
 * it on each thread's chunk instead (nn/nn_internal.h's NN_PAR_CHUNKS).
 * A helper function the body calls must be GS_INLINE: GCC inlines a
 * function into one compiled for another target only when it is
 * always_inline, and a helper left out of line would run at the baseline.
 * Other architectures get the body once, for the build's target. */
#ifndef GS_CPU_H
#define GS_CPU_H

typedef enum {
    GS_ISA_BASE = 1, /* not x86-64: the build's own target */
    GS_ISA_V2 = 2,
    GS_ISA_V3 = 3,
    GS_ISA_V4 = 4
} gs_isa;

/* The level the kernels run at (detected once; see GANSIM_ISA above). */
int gs_cpu_isa_detect(void);
extern int gs_cpu_isa_level; /* 0 until detected */
static inline gs_isa gs_cpu_isa(void)
{
    int l = __atomic_load_n(&gs_cpu_isa_level, __ATOMIC_RELAXED);
    return (gs_isa)(l ? l : gs_cpu_isa_detect());
}
/* What the CPU itself supports (ignoring GANSIM_ISA). */
gs_isa gs_cpu_isa_hw(void);
/* "x86-64-v3 (AVX2+FMA)" etc. */
const char *gs_isa_name(gs_isa isa);

/* for helpers called from GS_KERNEL bodies (see above) */
#define GS_INLINE static inline __attribute__((always_inline))

#if defined(__x86_64__) && !defined(GS_NO_MULTIVERSION)
#define GS_TARGET_V3 __attribute__((target("arch=x86-64-v3")))
#define GS_TARGET_V4 __attribute__((target("arch=x86-64-v4")))
#define GS_KERNEL(name, params, args)                                                      \
    static inline __attribute__((always_inline)) void name##_body params;                 \
    static GS_TARGET_V4 void name##_v4 params { name##_body args; }                        \
    static GS_TARGET_V3 void name##_v3 params { name##_body args; }                        \
    static void name##_v2 params { name##_body args; }                                     \
    static inline void name params                                                         \
    {                                                                                      \
        switch (gs_cpu_isa()) {                                                            \
        case GS_ISA_V4: name##_v4 args; break;                                             \
        case GS_ISA_V3: name##_v3 args; break;                                             \
        default: name##_v2 args; break;                                                    \
        }                                                                                  \
    }                                                                                      \
    static inline __attribute__((always_inline)) void name##_body params
#else
#define GS_KERNEL(name, params, args) static void name params
#endif

#endif

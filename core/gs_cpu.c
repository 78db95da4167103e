/* Instruction-set detection for GS_KERNEL (core/gs_cpu.h). */
#include "core/gs_cpu.h"

#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

int gs_cpu_isa_level;

#if defined(__x86_64__)
/* The rest of x86-64-v3 from CPUID itself: F16C and MOVBE (leaf 1, ECX
 * bits 29 and 22), LZCNT (leaf 0x80000001, ECX bit 5). clang 14's
 * __builtin_cpu_supports knows none of them, and code compiled for v3 may
 * use each (lzcnt for __builtin_clz, movbe for byte-swapped loads). */
static int has_f16c_movbe_lzcnt(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) && (c & bit_MOVBE) &&
           __get_cpuid(0x80000001, &a, &b, &c, &d) && (c & bit_LZCNT);
}
#endif

gs_isa gs_cpu_isa_hw(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    /* the feature sets of the x86-64 psABI levels that the compilers use
     * for vector code (the CPU checks also cover the OS saving the AVX and
     * AVX-512 registers) */
    const int v3 = __builtin_cpu_supports("avx") && __builtin_cpu_supports("avx2") &&
                   __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
                   __builtin_cpu_supports("bmi2") && has_f16c_movbe_lzcnt();
    const int v4 = v3 && __builtin_cpu_supports("avx512f") &&
                   __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd") &&
                   __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    return v4 ? GS_ISA_V4 : v3 ? GS_ISA_V3 : GS_ISA_V2;
#else
    return GS_ISA_BASE;
#endif
}

int gs_cpu_isa_detect(void)
{
    gs_isa l = gs_cpu_isa_hw();
    const char *e = getenv("GANSIM_ISA");
    if (l != GS_ISA_BASE && e && e[0] == 'v' && e[1] >= '2' && e[1] <= '4' && !e[2]) {
        gs_isa cap = (gs_isa)(e[1] - '0');
        if (cap < l)
            l = cap;
    }
    /* racing first calls all store the same value */
    __atomic_store_n(&gs_cpu_isa_level, (int)l, __ATOMIC_RELAXED);
    return (int)l;
}

const char *gs_isa_name(gs_isa isa)
{
    switch (isa) {
    case GS_ISA_V2: return "x86-64-v2 (SSE4.2)";
    case GS_ISA_V3: return "x86-64-v3 (AVX2+FMA)";
    case GS_ISA_V4: return "x86-64-v4 (AVX-512)";
    default: return "the build's target";
    }
}

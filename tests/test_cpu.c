/* Run-time instruction-set dispatch (core/gs_cpu.h): detection, the
 * GANSIM_ISA cap, and the kernels' copies agreeing with each other. The
 * whole suite also runs on the x86-64-v2 copies (scripts/run-tests:
 * setting cpus=0,isa=v2). */
#include "core/gs_core.h"
#include "core/gs_cpu.h"
#include "nn/nn.h"
#include "testutil.h"

START_TEST(t_isa_detect_and_cap)
{
    const gs_isa hw = gs_cpu_isa_hw();
#if defined(__x86_64__)
    /* the build's baseline is x86-64-v2: a CPU running this has it */
    ck_assert_int_ge(hw, GS_ISA_V2);
    ck_assert_int_le(hw, GS_ISA_V4);
    static const char *const caps[] = {"v2", "v3", "v4"};
    for (int i = 0; i < 3; i++) {
        setenv("GANSIM_ISA", caps[i], 1);
        const int want = (2 + i) < (int)hw ? 2 + i : (int)hw; /* never above the CPU */
        ck_assert_int_eq(gs_cpu_isa_detect(), want);
        ck_assert_int_eq(gs_cpu_isa(), want);
    }
    static const char *const junk[] = {"v1", "v5", "x", "", "v2x", "V2"};
    for (int i = 0; i < 6; i++) {
        setenv("GANSIM_ISA", junk[i], 1);
        ck_assert_int_eq(gs_cpu_isa_detect(), hw); /* ignored */
    }
    unsetenv("GANSIM_ISA");
    ck_assert_int_eq(gs_cpu_isa_detect(), hw);
    ck_assert_ptr_nonnull(strstr(gs_isa_name(GS_ISA_V3), "AVX2"));
#else
    ck_assert_int_eq(hw, GS_ISA_BASE);
    ck_assert_int_eq(gs_cpu_isa(), GS_ISA_BASE);
#endif
}
END_TEST

/* Adam and RMSprop steps (GS_KERNEL copies) give the same parameters on
 * every level this CPU has: element-wise IEEE operations, no contraction in
 * ISO C mode (GCC), so to the bit with gcc and within rounding with clang. */
START_TEST(t_kernel_copies_agree)
{
    const gs_isa hw = gs_cpu_isa_hw();
    enum { N = 100003 }; /* above the threading threshold, odd: tails of every width */
    float *ref = malloc(N * sizeof(float));
    for (int kind = 0; kind < 2; kind++) {
        for (int lvl = GS_ISA_V2; lvl <= (int)hw || (hw == GS_ISA_BASE && lvl == 2); lvl++) {
            __atomic_store_n(&gs_cpu_isa_level, hw == GS_ISA_BASE ? (int)hw : lvl,
                             __ATOMIC_RELAXED);
            nn_params ps;
            nn_params_init(&ps);
            nn_tensor *p = nn_param_new(&ps, "w", 1, (int64_t[]){N});
            ck_assert_ptr_nonnull(p);
            gs_rng r;
            gs_rng_seed(&r, 5);
            gs_rng_fill_normal(&r, p->data, N, 0, 1);
            nn_optim o;
            nn_optim_cfg cfg = nn_optim_defaults(kind ? NN_OPT_RMSPROP : NN_OPT_ADAM, 1e-3f);
            cfg.weight_decay = 0.01f;
            ck_assert_int_eq(nn_optim_init(&o, &ps, &cfg), GS_OK);
            for (int step = 0; step < 3; step++) {
                gs_rng_fill_normal(&r, p->grad, N, 0, 1);
                nn_optim_step(&o);
            }
            if (lvl == GS_ISA_V2 || hw == GS_ISA_BASE) {
                memcpy(ref, p->data, N * sizeof(float));
            } else {
                for (int i = 0; i < N; i++)
                    ck_assert_msg(fabsf(p->data[i] - ref[i]) <= 1e-6f * (1 + fabsf(ref[i])),
                                  "%s at level v%d: w[%d] = %.9g, v2 gives %.9g",
                                  kind ? "rmsprop" : "adam", lvl, i, p->data[i], ref[i]);
#if defined(__GNUC__) && !defined(__clang__)
                ck_assert_mem_eq(p->data, ref, N * sizeof(float));
#endif
            }
            nn_optim_free(&o);
            nn_params_free(&ps);
            if (hw == GS_ISA_BASE)
                break;
        }
    }
    free(ref);
    gs_cpu_isa_detect();
}
END_TEST

static Suite *cpu_suite(void)
{
    Suite *s = suite_create("cpu");
    TCase *tc = tcase_create("cpu");
    tcase_add_test(tc, t_isa_detect_and_cap);
    tcase_add_test(tc, t_kernel_copies_agree);
    suite_add_tcase(s, tc);
    return s;
}

GS_TEST_MAIN(cpu_suite)

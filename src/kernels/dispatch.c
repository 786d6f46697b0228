// Kernel dispatch: one table per ISA tier; the best tier this CPU supports is picked once (on
// first use) from CPUID, via sqz_cpu_features().
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "sqz/common.h"

#define K(act, fn) {act, fn, NULL}
#define KG(act, fn, gemm) {act, fn, gemm} // with a GEMM for batches
static const sqz_kernel ref_table[SQZ_TYPE_COUNT] = {
    [SQZ_TYPE_F32] = K(SQZ_ACT_F32, sqz_dot_f32_ref),
    [SQZ_TYPE_F16] = KG(SQZ_ACT_F32, sqz_dot_f16_ref, sqz_gemm_f16_ref),
    [SQZ_TYPE_BF16] = KG(SQZ_ACT_F32, sqz_dot_bf16_ref, sqz_gemm_bf16_ref),
    [SQZ_TYPE_Q8_0] = KG(SQZ_ACT_Q8A, sqz_dot_q8_0_ref, sqz_gemm_q8_0_ref),
    [SQZ_TYPE_Q4_0] = KG(SQZ_ACT_Q8A, sqz_dot_q4_0_ref, sqz_gemm_q4_0_ref),
    [SQZ_TYPE_Q4_1] = KG(SQZ_ACT_Q8A1, sqz_dot_q4_1_ref, sqz_gemm_q4_1_ref),
};
static const sqz_kernel avx2_table[SQZ_TYPE_COUNT] = {
    [SQZ_TYPE_F32] = K(SQZ_ACT_F32, sqz_dot_f32_avx2),
    [SQZ_TYPE_F16] = KG(SQZ_ACT_F32, sqz_dot_f16_avx2, sqz_gemm_f16_avx2),
    [SQZ_TYPE_BF16] = KG(SQZ_ACT_F32, sqz_dot_bf16_avx2, sqz_gemm_bf16_avx2),
    [SQZ_TYPE_Q8_0] = KG(SQZ_ACT_Q8A, sqz_dot_q8_0_avx2, sqz_gemm_q8_0_avx2),
    [SQZ_TYPE_Q4_0] = KG(SQZ_ACT_Q8A, sqz_dot_q4_0_avx2, sqz_gemm_q4_0_avx2),
    [SQZ_TYPE_Q4_1] = KG(SQZ_ACT_Q8A1, sqz_dot_q4_1_avx2, sqz_gemm_q4_1_avx2),
};
static const sqz_kernel avx512_table[SQZ_TYPE_COUNT] = {
    [SQZ_TYPE_F32] = K(SQZ_ACT_F32, sqz_dot_f32_avx512),
    [SQZ_TYPE_F16] = KG(SQZ_ACT_F32, sqz_dot_f16_avx512, sqz_gemm_f16_avx512),
    [SQZ_TYPE_BF16] = KG(SQZ_ACT_F32, sqz_dot_bf16_avx512, sqz_gemm_bf16_avx512),
    // Block-fma contract (gemm.h): AMX where the CPU and kernel allow it, else VNNI, same bits.
    [SQZ_TYPE_Q8_0] = KG(SQZ_ACT_Q8A, sqz_dot_q8_0_avx512vnni, sqz_gemm_q8_0_blk_avx512),
    [SQZ_TYPE_Q4_0] = KG(SQZ_ACT_Q8A, sqz_dot_q4_0_avx512vnni, sqz_gemm_q4_0_blk_avx512),
    [SQZ_TYPE_Q4_1] = KG(SQZ_ACT_Q8A1, sqz_dot_q4_1_avx512vnni, sqz_gemm_q4_1_avx512vnni),
};

static int has(const char *feature) {
    const char *f = sqz_cpu_features();
    size_t n = strlen(feature);
    for (const char *p = strstr(f, feature); p; p = strstr(p + 1, feature))
        if ((p == f || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
            return 1;
    return 0;
}

static int isa_check(sqz_isa isa) {
    switch (isa) {
    case SQZ_ISA_REF: return 1;
    case SQZ_ISA_AVX2: return has("avx2") && has("fma") && has("f16c");
    case SQZ_ISA_AVX512:
        return isa_check(SQZ_ISA_AVX2) && has("avx512f") && has("avx512bw") && has("avx512vl") && has("avx512dq") &&
               has("avx512vnni");
    }
    return 0;
}

// Asked per linear call (kernel and converter lookups): the string search runs once per tier.
int sqz_isa_supported(sqz_isa isa) {
    static int known[3] = {-1, -1, -1}; // benign race: every thread computes the same value
    if ((unsigned)isa > SQZ_ISA_AVX512)
        return 0;
    if (known[isa] < 0)
        known[isa] = isa_check(isa);
    return known[isa];
}

// The best tier this CPU runs, or a lower one named by the environment variable SQZ_ISA ("ref", "avx2",
// "avx512"): numbers computed on another machine can be reproduced here (the rounding of the vector ops
// and kernels depends on the tier). A tier this CPU cannot run, or an unknown name, is ignored.
sqz_isa sqz_kernels_isa(void) {
    static int isa = -1; // benign race: every thread computes the same value
    if (isa < 0) {
        int best = sqz_isa_supported(SQZ_ISA_AVX512) ? SQZ_ISA_AVX512
                   : sqz_isa_supported(SQZ_ISA_AVX2) ? SQZ_ISA_AVX2
                                                      : SQZ_ISA_REF;
        const char *want = getenv("SQZ_ISA");
        int forced = !want ? -1 : !strcmp(want, "ref") ? SQZ_ISA_REF : !strcmp(want, "avx2") ? SQZ_ISA_AVX2
                                 : !strcmp(want, "avx512") ? SQZ_ISA_AVX512 : -1;
        isa = forced >= 0 && forced <= best ? forced : best;
    }
    return (sqz_isa)isa;
}

const char *sqz_kernels_isa_name(void) {
    static const char *names[] = {"ref", "avx2", "avx512-vnni"};
    return names[sqz_kernels_isa()];
}

const sqz_kernel *sqz_kernel_for_isa(sqz_type t, sqz_isa isa) {
    if ((unsigned)t >= SQZ_TYPE_COUNT || !sqz_isa_supported(isa))
        return NULL;
    const sqz_kernel *tab = isa == SQZ_ISA_AVX512 ? avx512_table : isa == SQZ_ISA_AVX2 ? avx2_table : ref_table;
    return tab[t].dot ? &tab[t] : NULL;
}

const sqz_kernel *sqz_kernel_for(sqz_type t) { return sqz_kernel_for_isa(t, sqz_kernels_isa()); }

static void act_f32_copy(const float *x, void *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof(float)); }

sqz_act_fn sqz_act_converter_isa(sqz_act_type a, sqz_isa isa) {
    if (!sqz_isa_supported(isa))
        return NULL;
    if (a == SQZ_ACT_F32)
        return act_f32_copy;
    if (a == SQZ_ACT_Q8A1)
        return isa == SQZ_ISA_REF ? sqz_quant_row_q8a1_ref : sqz_quant_row_q8a1_avx2;
    return isa == SQZ_ISA_REF ? sqz_quant_row_q8a_ref : sqz_quant_row_q8a_avx2;
}

sqz_act_fn sqz_act_converter(sqz_act_type a) { return sqz_act_converter_isa(a, sqz_kernels_isa()); }

size_t sqz_act_row_size(sqz_act_type a, int64_t n) {
    return a == SQZ_ACT_F32 ? (size_t)n * sizeof(float) : (size_t)(n / QK8A) * sizeof(block_q8a);
}

const sqz_vec_ops *sqz_vec_ops_isa(sqz_isa isa) {
    if (!sqz_isa_supported(isa))
        return NULL;
    return isa == SQZ_ISA_AVX512 ? &sqz_vec_ops_avx512 : isa == SQZ_ISA_AVX2 ? &sqz_vec_ops_avx2 : &sqz_vec_ops_ref;
}

const sqz_vec_ops *sqz_vec_ops_ref_of(sqz_isa isa) { return isa == SQZ_ISA_AVX512 ? &sqz_vec_ops_ref16 : &sqz_vec_ops_ref; }

const sqz_vec_ops *sqz_vec_ops_get(void) { return sqz_vec_ops_isa(sqz_kernels_isa()); }

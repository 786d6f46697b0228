// GEMM kernels (kernels/gemm.h) against the per-row dot kernels and the reference GEMMs.
//  * Block types (Q8_0, Q4_0, Q4_1) under the dot contract: every output of the GEMM equals the same
//    tier's dot kernel bit for bit (memcmp), over row ranges and token counts that hit every edge of
//    the tiles and packed panels of every tier, including rows too long for the stack panels (heap).
//  * Q8_0/Q4_0 under the block-fma contract (the AVX-512 tier's table entries, and its VNNI and AMX
//    kernels called directly): every output equals sqz_gemm_*_blk_ref bit for bit, and that reference
//    is within rounding of the dot kernel.
//  * F16/BF16: every tier equals the reference GEMM bit for bit (one fma chain per output), and the
//    reference is within n·2^-24·Σ|w·x| of an f64 dot (and so close to the dot kernel).
//  * Outputs outside [r0, r1) are never written.
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kernels/kernels.h"
#include "sqz.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { // uniform in [-1, 1)
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

typedef struct {
    int64_t n_out, n_in, n; // weight rows, row length, tokens
    int64_t r0, r1;         // row range given to the GEMM
} shape;

static const shape shapes[] = {
    {1, 32, 1, 0, 1},         {5, 64, 2, 0, 5},        {9, 96, 3, 1, 8},      {37, 576, 7, 2, 35},
    {64, 256, 13, 0, 64},     {21, 1536, 4, 3, 21},    {18, 2048, 5, 4, 18},  {33, 160, 1, 0, 33},
    {6, 32768, 3, 1, 6}, // a packed micro-panel (1024 blocks) larger than the stack buffer
    // AVX-512 tiles: 8-row micro-panels in 32-row panels × 4 tokens (block types), 64 rows × 6 tokens
    // × k-blocks of 512 (F16/BF16)
    {75, 352, 26, 3, 74},     {40, 4096, 9, 0, 40},    {97, 128, 25, 1, 97},
    // Block-fma kernels: VNNI 32 rows × 6 tokens; AMX 16 × 16 tiles in panels of 512 rows × k-chunks of
    // 32 blocks, token tails by VNNI; the per-(token, block) offset table on the heap
    {530, 1376, 40, 3, 529},  {5, 16384, 20, 0, 5},
    {11, 200, 13, 0, 11},     {35, 1000, 14, 2, 34}, // n_in not a multiple of 32: F16/BF16 only
};

// Weights of type t: n_out rows of n_in (random, every 7th element larger); wf = their float values.
static void *make_weights(sqz_type t, int64_t n_out, int64_t n_in, float *wf) {
    size_t row = sqz_type_row_size(t, n_in);
    uint8_t *w = malloc(row * (size_t)n_out);
    for (int64_t o = 0; o < n_out; o++) {
        float *r = wf + o * n_in;
        for (int64_t i = 0; i < n_in; i++)
            r[i] = frand() * (i % 7 == 0 ? 3.0f : 1.0f);
        sqz_type_traits_of(t)->from_float_ref(r, w + o * row, n_in);
        sqz_type_traits_of(t)->to_float(w + o * row, r, n_in);
    }
    return w;
}

static int64_t untouched(const float *y, int64_t n, int64_t n_out, int64_t r0, int64_t r1, float sentinel) {
    int64_t bad = 0;
    for (int64_t t = 0; t < n; t++)
        for (int64_t o = 0; o < n_out; o++)
            if ((o < r0 || o >= r1) && memcmp(&y[t * n_out + o], &sentinel, sizeof sentinel) != 0)
                bad++;
    return bad;
}

static bool is_half(sqz_type t) { return t == SQZ_TYPE_F16 || t == SQZ_TYPE_BF16; }

// The block-fma reference when g is a kernel of that contract, else NULL.
static sqz_gemm_fn blk_ref_of(sqz_gemm_fn g) {
    if (g == sqz_gemm_q8_0_blk_ref || g == sqz_gemm_q8_0_blk_vnni || g == sqz_gemm_q8_0_blk_amx ||
        g == sqz_gemm_q8_0_blk_avx512)
        return sqz_gemm_q8_0_blk_ref;
    if (g == sqz_gemm_q4_0_blk_ref || g == sqz_gemm_q4_0_blk_vnni || g == sqz_gemm_q4_0_blk_amx ||
        g == sqz_gemm_q4_0_blk_avx512)
        return sqz_gemm_q4_0_blk_ref;
    return NULL;
}

// GEMM g (of tier isa's kernel for type) on shape s; *worst = the largest relative difference from
// the f64 dot (F16/BF16) or from the dot kernel (block-fma contract).
static void test_shape(sqz_type type, sqz_isa isa, sqz_gemm_fn g, const char *name, const shape *s, double *worst) {
    const sqz_kernel *k = sqz_kernel_for_isa(type, isa), *kr = sqz_kernel_for_isa(type, SQZ_ISA_REF);
    float *wf = malloc((size_t)(s->n_out * s->n_in) * sizeof(float)), *x = malloc((size_t)(s->n * s->n_in) * sizeof(float));
    void *w = make_weights(type, s->n_out, s->n_in, wf);
    size_t row = sqz_type_row_size(type, s->n_in), act_row = sqz_act_row_size(k->act, s->n_in);
    uint8_t *xa = malloc(act_row * (size_t)s->n);
    for (int64_t i = 0; i < s->n * s->n_in; i++)
        x[i] = frand() * (i % 11 == 0 ? 4.0f : 1.0f);
    for (int64_t t = 0; t < s->n; t++)
        sqz_act_converter_isa(k->act, isa)(x + t * s->n_in, xa + t * act_row, s->n_in);
    size_t ny = (size_t)(s->n * s->n_out);
    float *y = malloc(ny * sizeof(float)), *want = malloc(ny * sizeof(float)), sentinel = -1234.5f;
    for (size_t i = 0; i < ny; i++)
        y[i] = want[i] = sentinel;
    g(s->n_in, w, row, s->r0, s->r1, xa, act_row, s->n, y, s->n_out);
    CHECK_MSG(untouched(y, s->n, s->n_out, s->r0, s->r1, sentinel) == 0, "%s %s: wrote outside rows [%lld, %lld)",
              sqz_type_name(type), name, (long long)s->r0, (long long)s->r1);
    sqz_gemm_fn blk_ref = blk_ref_of(g);
    const char *vs = blk_ref ? "block-fma reference" : is_half(type) ? "reference gemm" : "dot kernel";
    if (blk_ref)
        blk_ref(s->n_in, w, row, s->r0, s->r1, xa, act_row, s->n, want, s->n_out);
    else if (!is_half(type)) // same tier's dot, output by output
        for (int64_t t = 0; t < s->n; t++)
            for (int64_t o = s->r0; o < s->r1; o++)
                k->dot(s->n_in, (const uint8_t *)w + o * row, xa + t * act_row, &want[t * s->n_out + o]);
    else
        kr->gemm(s->n_in, w, row, s->r0, s->r1, xa, act_row, s->n, want, s->n_out);
    int64_t differ = 0;
    for (size_t i = 0; i < ny; i++)
        differ += memcmp(&y[i], &want[i], sizeof(float)) != 0;
    CHECK_MSG(differ == 0, "%s %s n_out %lld n_in %lld n %lld: %lld of %zu outputs differ from the %s", sqz_type_name(type),
              name, (long long)s->n_out, (long long)s->n_in, (long long)s->n, (long long)differ, ny, vs);
    for (int64_t t = 0; (blk_ref || is_half(type)) && t < s->n; t++)
        for (int64_t o = s->r0; o < s->r1; o++) {
            double exact = 0, mag = 0;
            for (int64_t i = 0; i < s->n_in; i++) {
                double p = (double)wf[o * s->n_in + i] * x[t * s->n_in + i];
                exact += p, mag += fabs(p);
            }
            float d, got = y[t * s->n_out + o];
            if (blk_ref) { // a different order of the same float operations as the dot kernel
                k->dot(s->n_in, (const uint8_t *)w + o * row, xa + t * act_row, &d);
                double ed = fabs(got - d) / mag, nb = (double)(s->n_in / 32);
                CHECK_MSG(ed <= (nb + 16) * 0x1p-21, "%s %s vs dot rel diff %.3e", sqz_type_name(type), name, ed);
                *worst = ed > *worst ? ed : *worst;
                continue;
            }
            // accuracy of the fma chain (the rigorous bound is n·u·Σ|w·x|, u = 2^-24)
            double e = fabs(got - exact) / mag;
            CHECK_MSG(e <= (double)s->n_in * 0x1p-24, "%s %s rel err %.3e", sqz_type_name(type), name, e);
            *worst = e > *worst ? e : *worst;
            k->dot(s->n_in, (const uint8_t *)w + o * row, x + t * s->n_in, &d);
            double ed = fabs(got - d) / mag;
            CHECK_MSG(ed <= 2.0 * (double)s->n_in * 0x1p-24, "%s %s vs dot rel diff %.3e", sqz_type_name(type), name, ed);
        }
    free(wf), free(x), free(w), free(xa), free(y), free(want);
}

static void test_gemm(sqz_type type, sqz_isa isa, sqz_gemm_fn g, const char *name) {
    double worst = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        if (!is_half(type) && shapes[si].n_in % 32 != 0)
            continue; // block types need whole blocks
        if (isa == SQZ_ISA_REF && shapes[si].n_in > 4096 && is_half(type))
            continue; // software fmaf: slow, and the heap path is a block-type matter
        test_shape(type, isa, g, name, &shapes[si], &worst);
    }
    if (blk_ref_of(g))
        printf("  %-5s isa %d %-22s bit-identical to the block-fma reference; max rel diff vs dot %.2e\n",
               sqz_type_name(type), isa, name, worst);
    else if (is_half(type))
        printf("  %-5s isa %d %-22s bit-identical to the reference gemm; max rel err vs f64 %.2e\n", sqz_type_name(type),
               isa, name, worst);
    else
        printf("  %-5s isa %d %-22s bit-identical to the dot kernel\n", sqz_type_name(type), isa, name);
}

int main(void) {
    static const sqz_type types[] = {SQZ_TYPE_Q8_0, SQZ_TYPE_Q4_0, SQZ_TYPE_Q4_1, SQZ_TYPE_F16, SQZ_TYPE_BF16};
    printf("cpu: %s; dispatch picks %s\n", sqz_cpu_features(), sqz_kernels_isa_name());
    CHECK(sqz_kernel_for(SQZ_TYPE_Q4_1)->gemm != NULL);
    for (int isa = SQZ_ISA_REF; isa <= SQZ_ISA_AVX512; isa++) {
        if (!sqz_isa_supported((sqz_isa)isa)) {
            printf("isa %d not supported on this CPU: skipped\n", isa);
            continue;
        }
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
            if (sqz_kernel_for_isa(types[ti], (sqz_isa)isa)->gemm)
                test_gemm(types[ti], (sqz_isa)isa, sqz_kernel_for_isa(types[ti], (sqz_isa)isa)->gemm, "(dispatched)");
    }
    // The other contract's kernels, called directly.
    test_gemm(SQZ_TYPE_Q8_0, SQZ_ISA_REF, sqz_gemm_q8_0_blk_ref, "blk_ref");
    test_gemm(SQZ_TYPE_Q4_0, SQZ_ISA_REF, sqz_gemm_q4_0_blk_ref, "blk_ref");
    if (sqz_isa_supported(SQZ_ISA_AVX512)) {
        test_gemm(SQZ_TYPE_Q8_0, SQZ_ISA_AVX512, sqz_gemm_q8_0_avx512vnni, "avx512vnni");
        test_gemm(SQZ_TYPE_Q4_0, SQZ_ISA_AVX512, sqz_gemm_q4_0_avx512vnni, "avx512vnni");
        test_gemm(SQZ_TYPE_Q8_0, SQZ_ISA_AVX512, sqz_gemm_q8_0_blk_vnni, "blk_vnni");
        test_gemm(SQZ_TYPE_Q4_0, SQZ_ISA_AVX512, sqz_gemm_q4_0_blk_vnni, "blk_vnni");
        if (sqz_amx_ready()) {
            test_gemm(SQZ_TYPE_Q8_0, SQZ_ISA_AVX512, sqz_gemm_q8_0_blk_amx, "blk_amx");
            test_gemm(SQZ_TYPE_Q4_0, SQZ_ISA_AVX512, sqz_gemm_q4_0_blk_amx, "blk_amx");
        } else {
            printf("AMX not available (CPU, kernel or SQZ_AMX=0): blk_amx skipped\n");
        }
    }
    return test_summary();
}

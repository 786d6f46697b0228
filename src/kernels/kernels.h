// Dot-product kernels behind the engine's linear layers: one row of weights (any weight type)
// against one row of activations. Activations are F32, or — for the llama.cpp block types —
// quantized per row to Q8A blocks first, so the inner loop is an integer dot product (ggml's
// vec_dot_type idea). Three tiers: the scalar `_ref` kernels are the specification; AVX2 and
// AVX-512 (VNNI) versions are chosen once, at start-up, from CPUID (sqz_kernels()).
#ifndef SQZ_KERNELS_KERNELS_H
#define SQZ_KERNELS_KERNELS_H

#include <stdint.h>

#include "kernels/gemm.h"
#include "kernels/quant.h"

// Activation block for integer dot products: x[j] ≈ qs[j] * d, and s = d * sum(qs) (so the
// zero-point terms of Q4_0 (-8) and Q4_1 (+m) cost one multiply per block). d holds an
// fp16-representable value (ggml rounds its Q8_0 activation scale to fp16; so do we).
#define QK8A 32
typedef struct {
    float d;
    float s;
    int8_t qs[QK8A];
} block_q8a;
static_assert(sizeof(block_q8a) == 40, "block_q8a is 40 bytes");

typedef enum sqz_act_type {
    SQZ_ACT_F32 = 0, // activations used as they are
    SQZ_ACT_Q8A = 1, // activations quantized to block_q8a (n must be a multiple of 32)
    // As Q8A, but s = fp16(d_f32 * Σqs), rounded to fp16 from the unrounded scale: ggml's Q8_1, the
    // activation type llama.cpp pairs with Q4_1 weights. Bit-identical activations matter: on
    // SmolLM2 the 8-bit activation noise alone moves logits by ~1, so only the same noise agrees.
    SQZ_ACT_Q8A1 = 2,
} sqz_act_type;

// out = dot(w[0..n), x[0..n)) where w is one weight row in its storage type and x one activation
// row in the kernel's activation type.
typedef void (*sqz_dot_fn)(int64_t n, const void *w, const void *x, float *out);
// Convert one activation row of n floats into the activation type.
typedef void (*sqz_act_fn)(const float *x, void *y, int64_t n);

typedef struct sqz_kernel {
    sqz_act_type act;
    sqz_dot_fn dot;
    sqz_gemm_fn gemm; // many rows × many tokens (gemm.h), or NULL: batches use dot
} sqz_kernel;

typedef enum sqz_isa {
    SQZ_ISA_REF = 0,    // scalar reference
    SQZ_ISA_AVX2 = 1,   // AVX2 + FMA + F16C
    SQZ_ISA_AVX512 = 2, // AVX-512 F/BW/VL/DQ + VNNI
} sqz_isa;

// Kernel for weights of type t on the best ISA of this CPU (NULL if t has no dot kernel).
const sqz_kernel *sqz_kernel_for(sqz_type t);
// Kernel for type t on a given ISA (NULL if that ISA is not compiled in, not supported by this
// CPU, or t has no kernel there). Used by tests to compare each tier with the reference.
const sqz_kernel *sqz_kernel_for_isa(sqz_type t, sqz_isa isa);
// Activation converter for an activation type on the best ISA / a given ISA.
sqz_act_fn sqz_act_converter(sqz_act_type a);
sqz_act_fn sqz_act_converter_isa(sqz_act_type a, sqz_isa isa);
// Bytes one activation row of n elements takes in activation type a.
size_t sqz_act_row_size(sqz_act_type a, int64_t n);
// The ISA the dispatcher picked and its name ("ref", "avx2", "avx512", "avx512-vnni").
sqz_isa sqz_kernels_isa(void);
const char *sqz_kernels_isa_name(void);
// Whether this CPU can run an ISA tier.
int sqz_isa_supported(sqz_isa isa);

// ---- float vector ops with llama.cpp's (ggml-cpu, AVX2) rounding ------------------------------------
// Bit-for-bit parity with llama.cpp on quantized models needs more than the same dot products: every
// float op feeding an 8-bit activation quantizer must round the same way, or a flipped rounding of one
// activation grows into logit differences of ~1 on SmolLM2. These ops fix the evaluation order:
//   exp:      the Arm optimized-routines expf polynomial (max error 1.45 ulp) ggml uses for SiLU and
//             softmax, 8 lanes at a time; libm expf for a tail shorter than 8.
//   dot_f32:  4 accumulators of 8 lanes over steps of 32, reduced (a0+a2)+(a1+a3), then the 8 lanes by
//             128-bit halves and two horizontal adds ((l0+l1)+(l2+l3)); tail products added in double.
//   dot_f32_chain: one 8-lane fused-multiply-add chain, reduced hi+lo, then (s0+s2)+(s1+s3) (llamafile's
//             tinyBLAS, which llama.cpp uses for F32 matrix products of 2 or more columns); n % 8 == 0.
// Those are ggml's AVX2 paths. llama.cpp compiled for an AVX-512F+DQ CPU takes other paths (16 lanes, an
// exp finished by scalef, dot_f32 over steps of 64, 16-lane chains; x86/dot_avx512.c): the AVX-512 tier
// follows those, so sqz rounds as the llama.cpp built natively on the same CPU does. `chunk` is the
// lane count of a tier's order: softmax rows are padded to it with -inf and chains need n % chunk == 0.
typedef struct sqz_vec_ops {
    // g[i] = silu(g[i]) * up[i] = g/(1+exp(-g)) * up, i in [0, n).
    void (*silu_mul)(int64_t n, float *g, const float *up);
    // y[i] = exp(x[i] - max); returns Σ y in double, summed per 8-lane chunk in float as ggml does.
    double (*softmax_exp)(int64_t n, float *y, const float *x, float max);
    float (*dot_f32)(int64_t n, const float *a, const float *b);
    float (*dot_f32_chain)(int64_t n, const float *a, const float *b);
    // out[q·ldo + p] = dot_f32(n, a_p, b + q·ldb) for the m columns p of a transposed matrix (element i
    // of column p at at[i·stride + p]) and nq vectors b. Bit-identical to dot_f32 on each (column, vector),
    // computed across columns (one lane per column) with each load of `at` shared by the nq vectors:
    // attention scores of several queries against a transposed K cache. Reads columns up to m rounded up
    // to `chunk` (stride must cover them; their results are not written).
    void (*dot_f32_cols)(int64_t n, const float *at, size_t stride, int64_t m, const float *b, size_t ldb, int nq,
                         float *out, size_t ldo);
    // out[q·ldo + i] = dot_f32_chain(n, a + i·stride, x + q·ldx) for rows i < m and nq vectors x, each row
    // loaded once for all of them (n % chunk == 0): the probabilities·V of several queries.
    void (*dot_f32_chain_rows)(int64_t n, const float *a, size_t stride, int64_t m, const float *x, size_t ldx, int nq,
                               float *out, size_t ldo);
    // out[q·ldo + i] = dot_f32(n, a + i·stride, x + q·ldx) for rows i < m and nq vectors: bit-identical
    // to dot_f32 on each (row, vector). The probabilities·V of one query position's heads (decode),
    // where one dot per output paid a call and, when n is not a multiple of 64 in the AVX-512 order, a
    // 32-add sequential tail; the tails of 16 rows run as one vector (one lane per row).
    void (*dot_f32_rows)(int64_t n, const float *a, size_t stride, int64_t m, const float *x, size_t ldx, int nq,
                         float *out, size_t ldo);
    int chunk; // 8 (AVX2 order) or 16 (AVX-512 order)
} sqz_vec_ops;

// The vector ops for the best ISA / a given ISA (NULL if that ISA is not usable here). Every tier
// returns bit-identical results (tests/kernels/test_dot.c checks it).
const sqz_vec_ops *sqz_vec_ops_get(void);
const sqz_vec_ops *sqz_vec_ops_isa(sqz_isa isa);
extern const sqz_vec_ops sqz_vec_ops_ref, sqz_vec_ops_avx2;
// The AVX-512 order: its scalar reference (dot_ref.c) and the vector tier (x86/dot_avx512.c).
extern const sqz_vec_ops sqz_vec_ops_ref16, sqz_vec_ops_avx512;
// The scalar reference of the vector ops a tier computes (ref for AVX2 and ref, ref16 for AVX-512).
const sqz_vec_ops *sqz_vec_ops_ref_of(sqz_isa isa);
// One lane of the ggml exp (scalar reference): the AVX2 form and the AVX-512 form.
float sqz_expf_ggml(float x);
float sqz_expf_ggml16(float x);

// ---- per-ISA tables (defined in dot_ref.c, x86/dot_avx2.c, x86/dot_avx512.c) -------------------
void sqz_quant_row_q8a_ref(const float *x, void *y, int64_t n);
void sqz_quant_row_q8a1_ref(const float *x, void *y, int64_t n);
void sqz_dot_f32_ref(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_f16_ref(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_bf16_ref(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_q8_0_ref(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_q4_0_ref(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_q4_1_ref(int64_t n, const void *w, const void *x, float *out);

void sqz_quant_row_q8a_avx2(const float *x, void *y, int64_t n);
void sqz_quant_row_q8a1_avx2(const float *x, void *y, int64_t n);
void sqz_dot_f32_avx2(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_f16_avx2(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_bf16_avx2(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_q8_0_avx2(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_q4_0_avx2(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_q4_1_avx2(int64_t n, const void *w, const void *x, float *out);

void sqz_dot_f32_avx512(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_f16_avx512(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_bf16_avx512(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_q8_0_avx512vnni(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_q4_0_avx512vnni(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_q4_1_avx512vnni(int64_t n, const void *w, const void *x, float *out);

#endif

// Dot-product kernels behind the engine's linear layers: one row of weights (any weight type)
// against one row of activations. Activations are F32, or — for the llama.cpp block types —
// quantized per row to Q8A blocks first, so the inner loop is an integer dot product (ggml's
// vec_dot_type idea). Three tiers: the scalar `_ref` kernels are the specification; AVX2 and
// AVX-512 (VNNI) versions are chosen once, at start-up, from CPUID (sqz_kernels()).
#ifndef SQZ_KERNELS_KERNELS_H
#define SQZ_KERNELS_KERNELS_H

#include <stdint.h>

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
} sqz_act_type;

// out = dot(w[0..n), x[0..n)) where w is one weight row in its storage type and x one activation
// row in the kernel's activation type.
typedef void (*sqz_dot_fn)(int64_t n, const void *w, const void *x, float *out);
// Convert one activation row of n floats into the activation type.
typedef void (*sqz_act_fn)(const float *x, void *y, int64_t n);

typedef struct sqz_kernel {
    sqz_act_type act;
    sqz_dot_fn dot;
} sqz_kernel;

typedef enum sqz_isa {
    SQZ_ISA_REF = 0,    // scalar reference
    SQZ_ISA_AVX2 = 1,   // AVX2 + FMA + F16C
    SQZ_ISA_AVX512 = 2, // AVX-512 F/BW/VL (+ VNNI for int8 dots when present)
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

// ---- per-ISA tables (defined in dot_ref.c, x86/dot_avx2.c, x86/dot_avx512.c) -------------------
void sqz_quant_row_q8a_ref(const float *x, void *y, int64_t n);
void sqz_dot_f32_ref(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_f16_ref(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_bf16_ref(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_q8_0_ref(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_q4_0_ref(int64_t n, const void *w, const void *x, float *out);
void sqz_dot_q4_1_ref(int64_t n, const void *w, const void *x, float *out);

void sqz_quant_row_q8a_avx2(const float *x, void *y, int64_t n);
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

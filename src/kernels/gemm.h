// Matrix-product kernels for batched prompt processing: many weight rows × many tokens at once,
// register-blocked so each loaded (and unpacked) weight block serves several tokens and each
// activation block several rows. They sit beside the per-row dot kernels (kernels.h) and are
// picked with them (sqz_kernel.gemm).
//
// Contract, block types (Q8_0, Q4_0, Q4_1): every output is bit-identical to the same tier's dot
// kernel on that (row, token): same integer block sums, same float operations in the same order per
// output. That is what keeps sqz's logits equal to llama.cpp's on quantized models.
// F16/BF16: F32 products accumulated in one fused-multiply-add chain per output in k order (the
// reference and every tier agree bit for bit); within n·2^-24·Σ|w·x| of the exact dot, not equal to
// the dot kernel's 32-lane order.
#ifndef SQZ_KERNELS_GEMM_H
#define SQZ_KERNELS_GEMM_H

#include <stddef.h>
#include <stdint.h>

// y[t·ldy + o] = W[o]·x[t] for weight rows o in [r0, r1) and tokens t in [0, n). W row o starts at
// w + o·row_bytes and holds n_in elements in its storage type; xa holds n activation rows in the
// kernel's activation type, act_row bytes apart (F32 rows for float weights). Outputs outside
// [r0, r1) are not touched, so threads may split the rows of one y.
typedef void (*sqz_gemm_fn)(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                            size_t act_row, int64_t n, float *y, int64_t ldy);

void sqz_gemm_f16_ref(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                      size_t act_row, int64_t n, float *y, int64_t ldy);
void sqz_gemm_bf16_ref(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                       size_t act_row, int64_t n, float *y, int64_t ldy);
void sqz_gemm_q8_0_ref(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                       size_t act_row, int64_t n, float *y, int64_t ldy);
void sqz_gemm_q4_0_ref(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                       size_t act_row, int64_t n, float *y, int64_t ldy);
void sqz_gemm_q4_1_ref(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                       size_t act_row, int64_t n, float *y, int64_t ldy);

// AVX2 + FMA + F16C. The block-type kernels are also bit-identical to the AVX-512 VNNI dot kernels
// (same float sequence; vpdpbusd and vpmaddubsw+vpmaddwd give the same integer sums, no int16
// saturation is reachable with these operands), so the AVX-512 tier uses them too.
void sqz_gemm_f16_avx2(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                       size_t act_row, int64_t n, float *y, int64_t ldy);
void sqz_gemm_bf16_avx2(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                        size_t act_row, int64_t n, float *y, int64_t ldy);
void sqz_gemm_q8_0_avx2(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                        size_t act_row, int64_t n, float *y, int64_t ldy);
void sqz_gemm_q4_0_avx2(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                        size_t act_row, int64_t n, float *y, int64_t ldy);
void sqz_gemm_q4_1_avx2(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                        size_t act_row, int64_t n, float *y, int64_t ldy);

#endif

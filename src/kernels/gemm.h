// Matrix-product kernels for batched prompt processing: many weight rows × many tokens at once,
// register-blocked so each loaded (and unpacked) weight block serves several tokens and each
// activation block several rows. They sit beside the per-row dot kernels (kernels.h) and are
// picked with them (sqz_kernel.gemm).
//
// Contract, block types (Q8_0, Q4_0, Q4_1): every output is bit-identical to the same tier's dot
// kernel on that (row, token): same integer block sums, same float operations in the same order per
// output. That is what keeps sqz's logits equal to llama.cpp's on quantized models. Exception: the
// AVX-512 tier's Q8_0 and Q4_0 GEMMs follow the block-fma contract below (bit-identical to its own
// scalar reference, not to the dot kernel), so batched Q8_0/Q4_0 outputs there differ from decode at
// rounding level — as llama.cpp's AMX path differs from its vec_dot. Q4_1 keeps the dot contract.
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
// saturation is reachable with these operands).
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

// AVX-512 (F, BW, VL, DQ, VNNI) + AVX2/FMA/F16C (x86/gemm_avx512.c). Block types: bit-identical to the
// VNNI dot kernels of dot_avx512.c (two outputs' 8 lanes interleaved per zmm); the tier uses the Q4_1
// one, the Q8_0/Q4_0 ones stay for callers that need the dot's bits. F16/BF16: the same
// one-fma-chain-per-output order as the reference.
void sqz_gemm_f16_avx512(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                         size_t act_row, int64_t n, float *y, int64_t ldy);
void sqz_gemm_bf16_avx512(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                          size_t act_row, int64_t n, float *y, int64_t ldy);
void sqz_gemm_q8_0_avx512vnni(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                              size_t act_row, int64_t n, float *y, int64_t ldy);
void sqz_gemm_q4_0_avx512vnni(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                              size_t act_row, int64_t n, float *y, int64_t ldy);
void sqz_gemm_q4_1_avx512vnni(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                              size_t act_row, int64_t n, float *y, int64_t ldy);

// Q8_0 and Q4_0 under the block-fma contract: per output, in block order, from acc = 0,
//   acc = fma(dw_b·dx_b, float(isum_b), acc),  isum_b = Σ w·x exactly in int32, w = qs (Q8_0), q − 8 (Q4_0)
// (dw_b·dx_b one float product). One exact integer sum and one FMA per block and output, so AMX tiles
// and 16-outputs-per-zmm VNNI both fit it; within about nb·2^-24·Σ|terms| of the dot kernel. The
// reference is the spec; every implementation equals it bit for bit (tests/kernels/test_gemm.c).
void sqz_gemm_q8_0_blk_ref(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                           size_t act_row, int64_t n, float *y, int64_t ldy);
void sqz_gemm_q4_0_blk_ref(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                           size_t act_row, int64_t n, float *y, int64_t ldy);
// AVX-512 VNNI: 16 outputs per zmm, 8 vpdpbusd per block.
void sqz_gemm_q8_0_blk_vnni(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                            size_t act_row, int64_t n, float *y, int64_t ldy);
void sqz_gemm_q4_0_blk_vnni(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                            size_t act_row, int64_t n, float *y, int64_t ldy);
// AMX-INT8 (x86/gemm_amx.c): callable only when sqz_amx_ready() (CPUID, and Linux's permission for
// the tile data, requested on the first call; SQZ_AMX=0 in the environment says no).
int sqz_amx_ready(void);
void sqz_gemm_q8_0_blk_amx(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                           size_t act_row, int64_t n, float *y, int64_t ldy);
void sqz_gemm_q4_0_blk_amx(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                           size_t act_row, int64_t n, float *y, int64_t ldy);
// The AVX-512 tier's Q8_0/Q4_0 GEMM: AMX when ready, else VNNI (same bits).
void sqz_gemm_q8_0_blk_avx512(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                              size_t act_row, int64_t n, float *y, int64_t ldy);
void sqz_gemm_q4_0_blk_avx512(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                              size_t act_row, int64_t n, float *y, int64_t ldy);

#endif

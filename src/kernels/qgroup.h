// Grouped-int weights: sqz's own layout for GPTQ/RTN/AWQ integer weights (int2/3/4 as 4-bit codes,
// int8 as 8-bit codes), with one fp16 scale and one integer zero point per (row, group), and the
// GEMV/GEMM kernels that run them against int8 activations (block_q8a, kernels.h).
//
// Meaning (the specification the kernels compute, `_ref` below):
//   W[o][perm[j]] = fp16 scale[o][j/group] · (code(o, j) − zero[o][j/group])
// j is a *layout* column; perm (NULL = identity) maps it to the input column. Act-order checkpoints
// (GPTQ desc_act: g_idx not monotone) are permuted at pack time so that every group is contiguous in
// the layout, and the activations are gathered through the same perm when they are prepared
// (exllama's approach): x_layout[j] = x[perm[j]]. Then Σ_j W[o][perm[j]]·x[perm[j]] = W[o]·x.
//
// Byte layout, chosen for streaming: every row is contiguous (codes, then separately the per-group
// scales and zeros, each row-contiguous) so a thread streams its rows front to back.
//   int4 codes (bits = 4): 32 bytes per 64 columns; byte k of chunk c holds column 64c+k in its low
//     nibble and column 64c+32+k in its high nibble. One 32-byte load, `& 0x0F` and `>> 4 & 0x0F`
//     give two vectors of 32 codes in column order, each the partner of one block_q8a. A tail of 32
//     columns (n_in % 64 == 32) is 16 bytes: byte k holds column k (low) and 16+k (high).
//   int8 codes (bits = 8): one byte per column, stored as code − 128 (int8), zero stored as zero −
//     128, so Σ(code − zero)·x = Σ(c − z')·x with c a signed byte (AVX2's sign trick applies).
//   scales: fp16 [n_out][n_groups]; zeros: int16 [n_out][n_groups] (0 .. 2^bits, GPTQ v1 allows 2^bits).
// Activations are int8 per 32 layout columns (block_q8a: x ≈ d·qs, s = d·Σqs), so per block b of
// group g the zero point costs one multiply: Σ_{j∈b}(c_j − z)·x_j = d·Σ c_j·qs_j − z·s.
#ifndef SQZ_KERNELS_QGROUP_H
#define SQZ_KERNELS_QGROUP_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "sqz/common.h"

typedef struct sqz_qgroup {
    int64_t n_out, n_in;
    int bits;           // storage code width: 4 or 8
    int src_bits;       // code width of the source (2..8), for names and checks
    int group;          // columns per group: a multiple of 32 dividing n_in
    int64_t n_groups;   // n_in / group
    size_t row;         // bytes of codes per row: n_in/2 (int4) or n_in (int8)
    uint8_t *codes;     // [n_out][row]
    uint16_t *scales;   // [n_out][n_groups] fp16
    int16_t *zeros;     // [n_out][n_groups] (int8: zero − 128)
    int32_t *perm;      // [n_in] input column of each layout column, or NULL (identity)
} sqz_qgroup;

// Where a pack takes its weights from: GPTQ's unpacked form (sqz_qweight's arrays).
typedef struct sqz_qgroup_src {
    int64_t n_out, n_in, n_groups;
    int bits;               // 2..8
    const uint8_t *codes;   // [n_out][n_in] in input column order, 0 .. 2^bits − 1
    const float *scales;    // [n_groups][n_out] (fp16-representable; rounded to fp16 otherwise)
    const int32_t *zeros;   // [n_groups][n_out], 0 .. 2^bits
    const int32_t *g_idx;   // [n_in] group of each input column, or NULL (column / (n_in/n_groups))
} sqz_qgroup_src;

// Repack src into a new sqz_qgroup (one allocation; free with sqz_qgroup_free). bits 2..4 → int4
// codes, 5..8 → int8 codes. Errors: SQZ_ERR_UNSUPPORTED when the layout cannot hold it (n_in not a
// multiple of 32, groups of unequal size or not a multiple of 32 columns) — the caller may keep a
// dense copy instead; SQZ_ERR_FORMAT for codes, zeros or g_idx out of range; SQZ_ERR_NOMEM.
sqz_status sqz_qgroup_pack(const sqz_qgroup_src *src, sqz_qgroup **out);
void sqz_qgroup_free(sqz_qgroup *w);
// Bytes the kernels stream per pass over all rows (codes + scales + zeros).
size_t sqz_qgroup_nbytes(const sqz_qgroup *w);
// Code of row o at layout column j (int4: 0..15; int8: the stored signed byte).
int sqz_qgroup_code(const sqz_qgroup *w, int64_t o, int64_t j);
// Weights of row o as floats, in input column order: out[perm[j]] = scale·(code − zero), computed
// in float exactly as sqz_qweight_dequant does (so the exact path sees the same weights).
void sqz_qgroup_row_to_float(const sqz_qgroup *w, int64_t o, float *out);

// Activations for the kernels: n_in/32 block_q8a in layout order (gathered through perm), quantized
// by `quant` (an SQZ_ACT_Q8A converter of kernels.h; all tiers give identical blocks).
size_t sqz_qgroup_act_size(const sqz_qgroup *w);
void sqz_qgroup_prep(const sqz_qgroup *w, const float *x, block_q8a *xa, sqz_act_fn quant);

// y[t·ldy + o] = W[o]·x_t for rows o in [r0, r1) and n tokens; token t's activations start at byte
// t·x_stride of x. Each unpacked weight block is used for every token of the batch (GEMM); n = 1 is
// the GEMV. Threads split rows (ith, nth).
typedef void (*sqz_qgroup_gemm_fn)(const sqz_qgroup *w, const block_q8a *x, size_t x_stride, int64_t n, float *y,
                                   int64_t ldy, int64_t r0, int64_t r1);
void sqz_qgroup_gemm_ref(const sqz_qgroup *w, const block_q8a *x, size_t x_stride, int64_t n, float *y, int64_t ldy,
                         int64_t r0, int64_t r1);
void sqz_qgroup_gemm_avx2(const sqz_qgroup *w, const block_q8a *x, size_t x_stride, int64_t n, float *y, int64_t ldy,
                          int64_t r0, int64_t r1);
void sqz_qgroup_gemm_avx512(const sqz_qgroup *w, const block_q8a *x, size_t x_stride, int64_t n, float *y,
                            int64_t ldy, int64_t r0, int64_t r1);
// The kernel of an ISA tier (NULL if not supported by this CPU) / of the best tier.
sqz_qgroup_gemm_fn sqz_qgroup_gemm_isa(sqz_isa isa);
sqz_qgroup_gemm_fn sqz_qgroup_gemm_best(void);

#endif

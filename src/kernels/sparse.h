// Sparse (N:M) and matching dense GEMV kernels: y[r] = W[r]·x for rows r in [r0, r1) (split rows
// across threads with (ith, nth)). Storage layouts are defined by the encoders in sparse.c and
// documented in docs/prune.md; the struct is sqz_sparse_nm (include/sqz/prune.h).
//
// 2:4 chunk layout: 64 input columns → 32 kept values (in ascending column order within each group
// of 4) → one 64-bit little-endian metadata word holding a 2-bit index idx ∈ 0..3 per kept value.
// Values are stored in a "register order" p = 0..31 chosen so that a few in-lane shuffles select
// the matching activations; p → (kept index k, metadata bit) differs by value type:
//  int8/int4 (byte shuffles, pshufb): lane L = p/16, q = p%16,
//     k(p) = (q < 8 ? 0 : 16) + 8L + (q & 7);   d = p/4: bit(p) = 32(d % 2) + 8(p % 4) + 2(d / 2)
//  F16 (float shuffles, vpermilps): block j = p/8 covers columns 16j..16j+15, t = p%8,
//     k(p) = 2(4j + [0,0,2,2,1,1,3,3][t]) + t%2;  bit(p) = 2(4j + t/2) + 32(t % 2)
// kept k lies in group k/2 at column 4(k/2) + idx. The bit positions let one broadcast and one
// per-element variable shift turn the word into shuffle indices.
// Int kernels take activations quantized per 64 columns: x[j] ≈ xq[j] · xd[j/64].
#ifndef SQZ_KERNELS_SPARSE_H
#define SQZ_KERNELS_SPARSE_H

#include <stdint.h>

#include "sqz/prune.h"

#define SQZ_SP_CHUNK 64 // input columns per metadata word / activation scale

// Register-order helpers of the 2:4 chunk (see above).
static inline int sqz_sp24_kept_of(sqz_sp_values vt, int p) {
    if (vt == SQZ_SP_F16) {
        static const int gb[8] = {0, 0, 2, 2, 1, 1, 3, 3};
        return 2 * (4 * (p >> 3) + gb[p & 7]) + (p & 1);
    }
    int q = p & 15;
    return (q < 8 ? 0 : 16) + 8 * (p >> 4) + (q & 7);
}
static inline int sqz_sp24_meta_bit(sqz_sp_values vt, int p) {
    if (vt == SQZ_SP_F16)
        return 2 * (4 * (p >> 3) + ((p & 7) >> 1)) + 32 * (p & 1);
    int d = p >> 2;
    return 32 * (d & 1) + 8 * (p & 3) + 2 * (d >> 1);
}

// Dense group-quantized int weights with the same scales and activation scheme as the sparse int
// kernels (for like-for-like comparisons), stored in sqz's grouped-int layout (kernels/qgroup.h) and
// run by its kernels, so there is one dense int kernel. int4: per 64 columns 32 bytes, byte j holds
// column j in its low nibble and column j+32 in its high nibble (code+8, zero point 8); int8: one
// signed byte per column (zero point 0).
typedef struct sqz_dense_q {
    int64_t n_out, n_in;
    sqz_sp_values vt; // SQZ_SP_I8 or SQZ_SP_I4
    int group;        // multiple of 64 dividing n_in
    size_t row;       // bytes of one row of codes
    uint8_t *codes;   // [n_out][row]: qg's codes (a shallow copy of the struct may point these elsewhere)
    uint16_t *scales; // [n_out][n_in/group] fp16: qg's scales
    struct sqz_qgroup *qg; // the layout; the kernels read codes/scales from the fields above, zeros from qg
} sqz_dense_q;

// Symmetric per-(row, group) quantization of W (scale = max|w|/qmax, fp16). Errors: shapes.
sqz_status sqz_dense_q_encode(const float *w, int64_t n_out, int64_t n_in, sqz_sp_values vt, int group,
                              sqz_dense_q **out);
void sqz_dense_q_free(sqz_dense_q *q);
void sqz_dense_q_decode(const sqz_dense_q *q, float *out);

// Activation quantization for the int kernels: xd[c] = max|x| / 127 over columns [64c, 64c+64),
// xq = rint(x · 127/max|x|) (half to even). n a multiple of 64.
void sqz_sp_quant_x_ref(const float *x, int64_t n, int8_t *xq, float *xd);

typedef void (*sqz_sp_gemv_f_fn)(const sqz_sparse_nm *w, const float *x, float *y, int64_t r0, int64_t r1);
typedef void (*sqz_sp_gemv_q_fn)(const sqz_sparse_nm *w, const int8_t *xq, const float *xd, float *y, int64_t r0,
                                 int64_t r1);
typedef void (*sqz_dq_gemv_fn)(const sqz_dense_q *w, const int8_t *xq, const float *xd, float *y, int64_t r0,
                               int64_t r1);

// Scalar references: any N:M layout (2:4, 4:8) and value type.
void sqz_sp_gemv_f16_ref(const sqz_sparse_nm *w, const float *x, float *y, int64_t r0, int64_t r1);
void sqz_sp_gemv_q_ref(const sqz_sparse_nm *w, const int8_t *xq, const float *xd, float *y, int64_t r0, int64_t r1);
void sqz_dq_gemv_ref(const sqz_dense_q *w, const int8_t *xq, const float *xd, float *y, int64_t r0, int64_t r1);

// AVX2 + FMA + F16C (x86/sparse_avx2.c): 2:4 only (4:8 falls back to the reference).
void sqz_sp_gemv_f16_avx2(const sqz_sparse_nm *w, const float *x, float *y, int64_t r0, int64_t r1);
void sqz_sp_gemv_q_avx2(const sqz_sparse_nm *w, const int8_t *xq, const float *xd, float *y, int64_t r0, int64_t r1);
void sqz_dq_gemv_avx2(const sqz_dense_q *w, const int8_t *xq, const float *xd, float *y, int64_t r0, int64_t r1);
// AVX-512 F/BW/VL/DQ (x86/sparse_avx512.c): 2:4 F16 (4:8 falls back to the reference).
void sqz_sp_gemv_f16_avx512(const sqz_sparse_nm *w, const float *x, float *y, int64_t r0, int64_t r1);
// AVX-512 + VBMI + VNNI: 2:4 int8/int4 (4:8 falls back to the reference). Only when the CPU has VBMI
// (sqz_sp_gemv_q_best checks).
void sqz_sp_gemv_q_avx512(const sqz_sparse_nm *w, const int8_t *xq, const float *xd, float *y, int64_t r0, int64_t r1);
void sqz_sp_quant_x_avx2(const float *x, int64_t n, int8_t *xq, float *xd);

// Best implementation for this CPU (AVX2 when __builtin_cpu_supports says so, else _ref).
sqz_sp_gemv_f_fn sqz_sp_gemv_f16_best(void);
sqz_sp_gemv_q_fn sqz_sp_gemv_q_best(void);
sqz_dq_gemv_fn sqz_dq_gemv_best(void);
void (*sqz_sp_quant_x_best(void))(const float *, int64_t, int8_t *, float *);

#endif

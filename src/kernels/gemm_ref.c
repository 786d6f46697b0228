// Scalar reference GEMM kernels (gemm.h): the specification the SIMD tiers are tested against.
// Block types: tiles of 4 rows × 2 tokens share each block's integer sums' inputs, and every output
// is accumulated with exactly the expressions of dot_ref.c, so y equals sqz_dot_*_ref bit for bit.
// F16/BF16: one fmaf chain per output in k order.
#include <math.h>
#include <stdbool.h>

#include "kernels/gemm.h"
#include "kernels/kernels.h"

typedef float (*widen_fn)(uint16_t h);
static float widen_f16(uint16_t h) { return sqz_fp16_to_fp32(h); }
static float widen_bf16(uint16_t h) { return sqz_bf16_to_fp32(h); }

static void gemm_half(widen_fn widen, int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1,
                      const void *xa, size_t act_row, int64_t n, float *y, int64_t ldy) {
    for (int64_t o = r0; o < r1; o++) {
        const uint16_t *wr = (const uint16_t *)((const uint8_t *)w + o * row_bytes);
        for (int64_t t = 0; t < n; t++) {
            const float *x = (const float *)((const uint8_t *)xa + t * act_row);
            float acc = 0.0f;
            for (int64_t k = 0; k < n_in; k++)
                acc = fmaf(widen(wr[k]), x[k], acc);
            y[t * ldy + o] = acc;
        }
    }
}

void sqz_gemm_f16_ref(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                      size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_half(widen_f16, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

void sqz_gemm_bf16_ref(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                       size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_half(widen_bf16, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

// ---- block types -------------------------------------------------------------------------------------
enum { TR = 4, TT = 2 }; // tile: weight rows × tokens
typedef enum { KIND_Q8_0, KIND_Q4_0, KIND_Q4_1 } block_kind;

// Σ w·x over block b of row wr (unsigned nibbles for Q4, as q4_block_isum in dot_ref.c).
static int block_isum(block_kind kind, const uint8_t *wr, int64_t b, const int8_t *qx) {
    int isum = 0;
    if (kind == KIND_Q8_0) {
        const int8_t *qw = ((const block_q8_0 *)wr)[b].qs;
        for (int j = 0; j < QK8A; j++)
            isum += qw[j] * qx[j];
        return isum;
    }
    const uint8_t *qs = kind == KIND_Q4_0 ? ((const block_q4_0 *)wr)[b].qs : ((const block_q4_1 *)wr)[b].qs;
    for (int j = 0; j < QK8A / 2; j++)
        isum += (qs[j] & 0x0f) * qx[j] + (qs[j] >> 4) * qx[j + QK8A / 2];
    return isum;
}

// s += block b's contribution, written exactly as the dot_ref.c kernel of that type writes it.
static float block_step(block_kind kind, const uint8_t *wr, int64_t b, const block_q8a *xb, int isum, float s) {
    if (kind == KIND_Q8_0) {
        s += sqz_fp16_to_fp32(((const block_q8_0 *)wr)[b].d) * xb->d * (float)isum;
    } else if (kind == KIND_Q4_0) {
        float dw = sqz_fp16_to_fp32(((const block_q4_0 *)wr)[b].d);
        s += dw * (xb->d * (float)isum - 8.0f * xb->s);
    } else {
        const block_q4_1 *a = (const block_q4_1 *)wr + b;
        float dw = sqz_fp16_to_fp32(a->d), mw = sqz_fp16_to_fp32(a->m);
        s += dw * xb->d * (float)isum + mw * xb->s;
    }
    return s;
}

// One tile: rows [o0, o0+nr) × tokens [t0, t0+nt), nr ≤ TR, nt ≤ TT, all blocks.
static void tile(block_kind kind, int64_t nb, const uint8_t *w, size_t row_bytes, int64_t o0, int nr,
                 const uint8_t *xa, size_t act_row, int64_t t0, int nt, float *y, int64_t ldy) {
    float s[TR][TT] = {{0}};
    for (int64_t b = 0; b < nb; b++)
        for (int r = 0; r < nr; r++) {
            const uint8_t *wr = w + (o0 + r) * row_bytes;
            for (int t = 0; t < nt; t++) {
                const block_q8a *xb = (const block_q8a *)(xa + (t0 + t) * act_row) + b;
                s[r][t] = block_step(kind, wr, b, xb, block_isum(kind, wr, b, xb->qs), s[r][t]);
            }
        }
    for (int r = 0; r < nr; r++)
        for (int t = 0; t < nt; t++)
            y[(t0 + t) * ldy + o0 + r] = s[r][t];
}

static void gemm_blocks(block_kind kind, int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1,
                        const void *xa, size_t act_row, int64_t n, float *y, int64_t ldy) {
    for (int64_t o = r0; o < r1; o += TR)
        for (int64_t t = 0; t < n; t += TT)
            tile(kind, n_in / QK8A, w, row_bytes, o, r1 - o < TR ? (int)(r1 - o) : TR, xa, act_row, t,
                 n - t < TT ? (int)(n - t) : TT, y, ldy);
}

void sqz_gemm_q8_0_ref(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                       size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_blocks(KIND_Q8_0, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

void sqz_gemm_q4_0_ref(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                       size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_blocks(KIND_Q4_0, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

void sqz_gemm_q4_1_ref(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                       size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_blocks(KIND_Q4_1, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

// ---- block types, the block-fma contract (gemm.h) ----------------------------------------------------
// y = Σ_b fma(dw_b·dx_b, float(isum_b), ·) in block order from 0, isum_b = Σ w·x exact in int32 with
// the signed weight values (Q8_0: qs; Q4_0: q − 8).
static void gemm_blk(bool q4, int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                     size_t act_row, int64_t n, float *y, int64_t ldy) {
    int64_t nb = n_in / QK8A;
    for (int64_t o = r0; o < r1; o++) {
        const uint8_t *wr = (const uint8_t *)w + o * row_bytes;
        for (int64_t t = 0; t < n; t++) {
            const block_q8a *x = (const block_q8a *)((const uint8_t *)xa + t * act_row);
            float acc = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                int isum = 0;
                float dw;
                if (q4) {
                    const block_q4_0 *a = (const block_q4_0 *)wr + b;
                    for (int j = 0; j < QK8A / 2; j++)
                        isum += ((a->qs[j] & 0x0f) - 8) * x[b].qs[j] + ((a->qs[j] >> 4) - 8) * x[b].qs[j + QK8A / 2];
                    dw = sqz_fp16_to_fp32(a->d);
                } else {
                    const block_q8_0 *a = (const block_q8_0 *)wr + b;
                    for (int j = 0; j < QK8A; j++)
                        isum += a->qs[j] * x[b].qs[j];
                    dw = sqz_fp16_to_fp32(a->d);
                }
                acc = fmaf(dw * x[b].d, (float)isum, acc);
            }
            y[t * ldy + o] = acc;
        }
    }
}

void sqz_gemm_q8_0_blk_ref(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                           size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_blk(false, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

void sqz_gemm_q4_0_blk_ref(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                           size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_blk(true, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

// AVX-512 GEMM kernels (gemm.h; compiled with -mavx512f/bw/vl/dq/vnni besides AVX2/FMA/F16C, called
// only when CPUID says so).
//
// Block types, bit-identical to the VNNI dot kernels of dot_avx512.c (used for Q4_1; Q8_0 and Q4_0
// too when asked for directly). Each output's 8-lane float accumulator is spread over one zmm,
// interleaved with a second output of the next weight row (lane 2i: row 2p, lane 2i+1: row 2p+1, each
// lane i of its own 8-lane accumulator). So one vpdpbusd gives the 8 int32 lane sums of two outputs,
// and one convert + one FMA per zmm and block performs the dot kernel's
// acc = fma(dw·dx, float(Σ4 u8·s8), acc) for both. The two rows' bytes are interleaved in 4-byte
// groups once per batch; the token's 32 bytes are duplicated per 4-byte group with one vpermd; the
// scale pair (dw·dx of both rows) is one vbroadcastsd load. Micro-tile: 8 rows (4 row pairs) × 4
// tokens = 32 outputs in 16 zmm accumulators.
//
// Q8_0/Q4_0 under the block-fma contract (gemm.h): 16 outputs per zmm, see gemm_blk_vnni below; the
// AVX-512 tier's entry points pick the AMX kernel (gemm_amx.c) when it may run.
//
// F16/BF16: the outer-product kernel of gemm_avx2.c in zmm: 64 rows × a k-block of 512 widened to
// F32 and transposed into a [k][64] panel (128 KiB, in L2), then 6 tokens × 64 rows of accumulators
// (24 zmm), one broadcast activation and four panel loads per k step (24 FMAs); one fma chain per
// output in k order, as the reference GEMM. (32 rows × 12 tokens, the same 24 FMAs per step with twice
// the broadcast streams, measured 10–30 % slower; so did k-blocks of 128 and 256.)
#include <immintrin.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm.h"
#include "kernels/kernels.h"
#include "kernels/x86/avx2_blocks.h"

// ---- block types -------------------------------------------------------------------------------------
enum { MR = 8, NP = MR / 2, NR = 4, PANEL_SUBS = 4 };
#define PACK_STACK_BYTES (128 * 1024)

typedef enum { KIND_Q8_0, KIND_Q4_0, KIND_Q4_1 } block_kind;

// Block b of MR packed rows. q[p]: rows 2p and 2p+1 interleaved in 4-byte groups (Q4: nibbles as u8
// 0..15 in element order; Q8_0: the int8 values). d, m: the rows' scales and mins as floats. Q8_0
// blocks carry init[p] = −128·(Σ of each 4-byte group) (see micro).
typedef struct {
    __m512i q[NP];
    float d[MR];
    float m[MR];
} packed_blk;
typedef struct {
    packed_blk b;
    __m512i init[NP];
} packed_blk_q8;

static inline size_t blk_stride(block_kind kind) {
    return kind == KIND_Q8_0 ? sizeof(packed_blk_q8) : sizeof(packed_blk);
}

// Row o's block b as 32 bytes in element order (zero for a missing row); its scale and min.
static inline __m256i load_row_blk(block_kind kind, const uint8_t *row, int64_t b, float *d, float *m) {
    *d = *m = 0.0f;
    if (!row)
        return _mm256_setzero_si256();
    if (kind == KIND_Q8_0) {
        const block_q8_0 *blk = (const block_q8_0 *)row + b;
        *d = _cvtsh_ss(blk->d);
        return _mm256_loadu_si256((const __m256i *)blk->qs);
    }
    if (kind == KIND_Q4_0) {
        const block_q4_0 *blk = (const block_q4_0 *)row + b;
        *d = _cvtsh_ss(blk->d);
        return sqz_unpack_q4(blk->qs);
    }
    const block_q4_1 *blk = (const block_q4_1 *)row + b;
    *d = _cvtsh_ss(blk->d), *m = _cvtsh_ss(blk->m);
    return sqz_unpack_q4(blk->qs);
}

// Pack rows [o0, o0+nr) (nr ≤ MR; missing rows are zero) of nb blocks at p (blk_stride apart).
static void pack_rows(block_kind kind, const uint8_t *w, size_t row_bytes, int64_t o0, int nr, int64_t nb,
                      uint8_t *p) {
    size_t stride = blk_stride(kind);
    for (int64_t b = 0; b < nb; b++) {
        packed_blk *pb = (packed_blk *)(p + b * stride);
        for (int pr = 0; pr < NP; pr++) {
            const uint8_t *ra = 2 * pr < nr ? w + (o0 + 2 * pr) * row_bytes : NULL;
            const uint8_t *rb = 2 * pr + 1 < nr ? w + (o0 + 2 * pr + 1) * row_bytes : NULL;
            __m256i a = load_row_blk(kind, ra, b, &pb->d[2 * pr], &pb->m[2 * pr]);
            __m256i c = load_row_blk(kind, rb, b, &pb->d[2 * pr + 1], &pb->m[2 * pr + 1]);
            // unpack{lo,hi}_epi32 interleave groups (0,1 | 4,5) and (2,3 | 6,7); put them in order.
            __m256i lo = _mm256_unpacklo_epi32(a, c), hi = _mm256_unpackhi_epi32(a, c);
            __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_permute2x128_si256(lo, hi, 0x20)),
                                           _mm256_permute2x128_si256(lo, hi, 0x31), 1);
            _mm512_store_si512(&pb->q[pr], q);
            if (kind == KIND_Q8_0) { // Σ of each 4-byte group: vpdpbusd with u8 ones
                __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), q);
                _mm512_store_si512(&((packed_blk_q8 *)pb)->init[pr], _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(s, 7)));
            }
        }
    }
}

// out[t] = the 8 outputs of rows p (MR packed rows) × token x[t], t < NR.
//
// Integer sums per (row pair, token, block): Q4: vpdpbusd(0, w as u8, x as s8). Q8_0: both are signed,
// so x is offset to u8 (x ^ 0x80 = x + 128) and the offset's 128·Σw is taken out beforehand through
// init = −128·Σw: vpdpbusd(init, x + 128, w) = Σ w·x, exactly (|Σ| < 2^17, no int16 step).
static inline __attribute__((always_inline)) void micro(block_kind kind, const uint8_t *p, int64_t nb,
                                                        const block_q8a *const x[NR], __m256 out[NR]) {
    const size_t stride = blk_stride(kind);
    const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    __m512 acc[NP][NR];
#pragma GCC unroll 4
    for (int pr = 0; pr < NP; pr++)
#pragma GCC unroll 4
        for (int t = 0; t < NR; t++)
            acc[pr][t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const packed_blk *pb = (const packed_blk *)(p + b * stride);
        // dw·dx per (row, token) through memory: the pair (row 2p, 2p+1) is then one vbroadcastsd.
        alignas(32) double scl[NR][NP]; // [t][p]: the floats dw_2p·dx_t, dw_2p+1·dx_t
        __m256 dw = _mm256_load_ps(pb->d);
#pragma GCC unroll 4
        for (int t = 0; t < NR; t++)
            _mm256_store_pd(scl[t], _mm256_castps_pd(_mm256_mul_ps(dw, _mm256_set1_ps(x[t][b].d))));
        // Keep GCC from taking the pairs out of registers with shuffles (port 5, shared with the FMAs).
        __asm__("" : : "r"(scl) : "memory");
        __m512i wq[NP];
#pragma GCC unroll 4
        for (int pr = 0; pr < NP; pr++)
            wq[pr] = _mm512_load_si512(&pb->q[pr]);
#pragma GCC unroll 4
        for (int t = 0; t < NR; t++) {
            __m512i xq = _mm512_permutexvar_epi32(dup, _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)x[t][b].qs)));
            if (kind == KIND_Q8_0)
                xq = _mm512_xor_si512(xq, _mm512_set1_epi8((char)0x80));
#pragma GCC unroll 4
            for (int pr = 0; pr < NP; pr++) {
                __m512i v;
                if (kind == KIND_Q8_0) {
                    const __m512i *ip = &((const packed_blk_q8 *)pb)->init[pr];
                    __asm__("" : "+r"(ip)); // a fresh load per use: a load port, not a register copy
                    v = _mm512_dpbusd_epi32(_mm512_load_si512(ip), xq, wq[pr]);
                } else {
                    v = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq[pr], xq);
                }
                __m512 f = _mm512_cvtepi32_ps(v);
                __m512 s = _mm512_castpd_ps(_mm512_set1_pd(scl[t][pr]));
                acc[pr][t] = _mm512_fmadd_ps(s, f, acc[pr][t]);
            }
        }
    }
    // hsum256 of dot_avx512.c for every output, vectorized: per output ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)).
    __m512 q[NR];
#pragma GCC unroll 4
    for (int t = 0; t < NR; t++) {
        __m512 h[2]; // [pair 2i | pair 2i+1], lane j of each: a_j + a_{j+4} for both rows
#pragma GCC unroll 2
        for (int i = 0; i < 2; i++)
            h[i] = _mm512_add_ps(_mm512_shuffle_f32x4(acc[2 * i][t], acc[2 * i + 1][t], 0x44),
                                 _mm512_shuffle_f32x4(acc[2 * i][t], acc[2 * i + 1][t], 0xEE));
        // 128-bit lane p: [e_a, e_b, o_a, o_b], e = (a0+a4)+(a2+a6), o = (a1+a5)+(a3+a7), rows a = 2p, b = 2p+1
        q[t] = _mm512_add_ps(_mm512_shuffle_f32x4(h[0], h[1], 0x88), _mm512_shuffle_f32x4(h[0], h[1], 0xDD));
    }
    const __m512i order = _mm512_set_epi32(15, 14, 11, 10, 7, 6, 3, 2, 13, 12, 9, 8, 5, 4, 1, 0);
#pragma GCC unroll 2
    for (int t = 0; t < NR; t += 2) {
        __m512 r = _mm512_add_ps(_mm512_shuffle_ps(q[t], q[t + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm512_shuffle_ps(q[t], q[t + 1], _MM_SHUFFLE(3, 2, 3, 2)));
        // r: 128-bit lane p = [row 2p, row 2p+1] of token t, then of token t+1
        r = _mm512_permutexvar_ps(order, r);
        out[t] = _mm512_castps512_ps256(r);
        out[t + 1] = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(r), 1));
    }
    if (kind == KIND_Q8_0)
        return;
    // The zero-point/min term: one fma chain per output, Σ dw·s (Q4_0, times −8) or Σ m·s (Q4_1).
    __m256 zs[NR];
#pragma GCC unroll 4
    for (int t = 0; t < NR; t++)
        zs[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const packed_blk *pb = (const packed_blk *)(p + b * stride);
        __m256 z = _mm256_load_ps(kind == KIND_Q4_0 ? pb->d : pb->m);
#pragma GCC unroll 4
        for (int t = 0; t < NR; t++)
            zs[t] = _mm256_fmadd_ps(z, _mm256_set1_ps(x[t][b].s), zs[t]);
    }
#pragma GCC unroll 4
    for (int t = 0; t < NR; t++)
        out[t] = kind == KIND_Q4_0 ? _mm256_sub_ps(out[t], _mm256_mul_ps(_mm256_set1_ps(8.0f), zs[t]))
                                   : _mm256_add_ps(out[t], zs[t]);
}

typedef void (*micro_fn)(const uint8_t *p, int64_t nb, const block_q8a *const x[NR], __m256 out[NR]);
static __attribute__((noinline)) void micro_q8_0(const uint8_t *p, int64_t nb, const block_q8a *const x[NR],
                                                 __m256 out[NR]) {
    micro(KIND_Q8_0, p, nb, x, out);
}
static __attribute__((noinline)) void micro_q4_0(const uint8_t *p, int64_t nb, const block_q8a *const x[NR],
                                                 __m256 out[NR]) {
    micro(KIND_Q4_0, p, nb, x, out);
}
static __attribute__((noinline)) void micro_q4_1(const uint8_t *p, int64_t nb, const block_q8a *const x[NR],
                                                 __m256 out[NR]) {
    micro(KIND_Q4_1, p, nb, x, out);
}

// Store the (nr rows × nt tokens) valid part of a micro-tile's outputs at y[t0][o0].
static void store_tile(const __m256 out[NR], float *y, int64_t ldy, int64_t t0, int nt, int64_t o0, int nr) {
    __mmask8 m = (__mmask8)((1u << nr) - 1);
    for (int t = 0; t < nt; t++)
        _mm256_mask_storeu_ps(y + (t0 + t) * ldy + o0, m, out[t]);
}

// Fallback when even one packed micro-panel does not fit the stack and malloc fails: the dot kernel.
static void gemm_by_dots(sqz_dot_fn dot, int64_t n_in, const uint8_t *w, size_t row_bytes, int64_t r0, int64_t r1,
                         const uint8_t *xa, size_t act_row, int64_t n, float *y, int64_t ldy) {
    for (int64_t o = r0; o < r1; o++)
        for (int64_t t = 0; t < n; t++)
            dot(n_in, w + o * row_bytes, xa + t * act_row, &y[t * ldy + o]);
}

static void gemm_blocks(block_kind kind, int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1,
                        const void *xa, size_t act_row, int64_t n, float *y, int64_t ldy) {
    static const sqz_dot_fn dots[] = {sqz_dot_q8_0_avx512vnni, sqz_dot_q4_0_avx512vnni, sqz_dot_q4_1_avx512vnni};
    static const micro_fn micros[] = {micro_q8_0, micro_q4_0, micro_q4_1};
    int64_t nb = n_in / QK8A;
    if (nb == 0 || r1 <= r0 || n <= 0)
        return;
    // A panel of up to PANEL_SUBS micro-panels (MR rows each) is packed once and used for every token.
    size_t sub_bytes = (size_t)nb * blk_stride(kind);
    alignas(64) uint8_t stack[PACK_STACK_BYTES];
    uint8_t *buf = stack, *heap = NULL;
    int64_t subs = (int64_t)(sizeof stack / sub_bytes);
    if (subs == 0) {
        buf = heap = aligned_alloc(64, sub_bytes);
        if (!heap) {
            gemm_by_dots(dots[kind], n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
            return;
        }
        subs = 1;
    }
    subs = subs < PANEL_SUBS ? subs : PANEL_SUBS;
    for (int64_t p0 = r0; p0 < r1; p0 += subs * MR) {
        int np = 0;
        for (int64_t o = p0; o < r1 && np < subs; o += MR, np++)
            pack_rows(kind, w, row_bytes, o, r1 - o < MR ? (int)(r1 - o) : MR, nb, buf + np * sub_bytes);
        for (int64_t t = 0; t < n; t += NR) {
            const block_q8a *x[NR];
            for (int i = 0; i < NR; i++) // missing tokens repeat the last one; their outputs are not stored
                x[i] = (const block_q8a *)((const uint8_t *)xa + (t + i < n ? t + i : n - 1) * act_row);
            for (int s = 0; s < np; s++) {
                int64_t o = p0 + s * MR;
                __m256 out[NR];
                micros[kind](buf + s * sub_bytes, nb, x, out);
                store_tile(out, y, ldy, t, n - t < NR ? (int)(n - t) : NR, o, r1 - o < MR ? (int)(r1 - o) : MR);
            }
        }
    }
    free(heap);
}

void sqz_gemm_q8_0_avx512vnni(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                              size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_blocks(KIND_Q8_0, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

void sqz_gemm_q4_0_avx512vnni(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                              size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_blocks(KIND_Q4_0, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

void sqz_gemm_q4_1_avx512vnni(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                              size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_blocks(KIND_Q4_1, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

// ---- Q8_0 / Q4_0 under the block-fma contract (gemm.h) ---------------------------------------------
// One output per float lane: 16 weight rows per zmm. A block's exact int32 sum per output is 8 vpdpbusd
// (4 elements each), the weights (4-byte groups of 16 rows, offset to u8: Q8_0 w + 128, Q4_0 q = w + 8)
// against the token's 4-byte group broadcast; the offset's off·Σx is taken out beforehand by starting
// from −off·Σx (per token and block, computed once per call). Then one convert, one multiply (dw·dx)
// and one FMA per 16 outputs and block. Micro-tile: 32 rows × 6 tokens (12 int32 + 12 float zmm).
enum { BR = 32, BT = 6, INIT_STACK = 8192 };

// Block b of BR packed rows: q[h][g] = rows 16h..16h+15, elements 4g..4g+3 of each (64 bytes).
typedef struct {
    __m512i q[BR / 16][8];
    float d[BR];
} blk_panel;

// Pack rows [o0, o0+nr) (nr ≤ BR; missing rows are zero) of nb blocks into p[0..nb).
static void pack_blk(block_kind kind, const uint8_t *w, size_t row_bytes, int64_t o0, int nr, int64_t nb,
                     blk_panel *p) {
    const __m256i off = _mm256_set1_epi8(kind == KIND_Q8_0 ? (char)0x80 : 0);
    for (int64_t b = 0; b < nb; b++)
        for (int h = 0; h < BR / 16; h++) {
            __m256i v[16];
            for (int r = 0; r < 16; r++) {
                int rr = 16 * h + r;
                float m;
                v[r] = _mm256_xor_si256(load_row_blk(kind, rr < nr ? w + (o0 + rr) * row_bytes : NULL, b, &p[b].d[rr], &m), off);
            }
            sqz_transpose8_epi32(v), sqz_transpose8_epi32(v + 8);
            for (int g = 0; g < 8; g++)
                _mm512_store_si512(&p[b].q[h][g], _mm512_inserti64x4(_mm512_castsi256_si512(v[g]), v[8 + g], 1));
        }
}

// init[t·nb + b] = −off·Σ x_t's block b quants (off 128 for Q8_0, 8 for Q4_0).
static void blk_init(block_kind kind, const uint8_t *xa, size_t act_row, int64_t n, int64_t nb, int32_t *init) {
    for (int64_t t = 0; t < n; t++) {
        const block_q8a *x = (const block_q8a *)(xa + t * act_row);
        for (int64_t b = 0; b < nb; b++) { // Σ(x + 128) by vpsadbw, then − 32·128
            __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(_mm256_loadu_si256((const __m256i *)x[b].qs), _mm256_set1_epi8((char)0x80)),
                                          _mm256_setzero_si256());
            __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
            int sum = (int)(_mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1)) - 32 * 128;
            init[t * nb + b] = (kind == KIND_Q8_0 ? -128 : -8) * sum;
        }
    }
}

// out[h][t] = the 16 outputs of rows 16h.. of panel p × token x[t].
static inline __attribute__((always_inline)) void micro_blk(const blk_panel *p, int64_t nb, const block_q8a *const x[BT],
                                                            const int32_t *const init[BT], __m512 out[BR / 16][BT]) {
    __m512 acc[BR / 16][BT];
#pragma GCC unroll 2
    for (int h = 0; h < BR / 16; h++)
#pragma GCC unroll 6
        for (int t = 0; t < BT; t++)
            acc[h][t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m512i v[BR / 16][BT];
#pragma GCC unroll 2
        for (int h = 0; h < BR / 16; h++)
#pragma GCC unroll 6
            for (int t = 0; t < BT; t++)
                v[h][t] = _mm512_set1_epi32(init[t][b]);
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++) {
            __m512i w0 = _mm512_load_si512(&p[b].q[0][g]), w1 = _mm512_load_si512(&p[b].q[1][g]);
#pragma GCC unroll 6
            for (int t = 0; t < BT; t++) {
                int32_t xg;
                memcpy(&xg, x[t][b].qs + 4 * g, 4);
                __m512i xb = _mm512_set1_epi32(xg);
                v[0][t] = _mm512_dpbusd_epi32(v[0][t], w0, xb);
                v[1][t] = _mm512_dpbusd_epi32(v[1][t], w1, xb);
            }
        }
#pragma GCC unroll 2
        for (int h = 0; h < BR / 16; h++) {
            __m512 dw = _mm512_load_ps(p[b].d + 16 * h);
#pragma GCC unroll 6
            for (int t = 0; t < BT; t++)
                acc[h][t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(x[t][b].d)), _mm512_cvtepi32_ps(v[h][t]), acc[h][t]);
        }
    }
#pragma GCC unroll 2
    for (int h = 0; h < BR / 16; h++)
#pragma GCC unroll 6
        for (int t = 0; t < BT; t++)
            out[h][t] = acc[h][t];
}

static __attribute__((noinline)) void micro_blk_call(const blk_panel *p, int64_t nb, const block_q8a *const x[BT],
                                                     const int32_t *const init[BT], __m512 out[BR / 16][BT]) {
    micro_blk(p, nb, x, init, out);
}

static void gemm_blk_vnni(block_kind kind, int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1,
                          const void *xa, size_t act_row, int64_t n, float *y, int64_t ldy) {
    int64_t nb = n_in / QK8A;
    if (nb == 0 || r1 <= r0 || n <= 0)
        return;
    // −off·Σx per (token, block), and a panel of BR rows packed once for every token.
    int32_t init_stack[INIT_STACK], *init = init_stack, *init_heap = NULL;
    alignas(64) blk_panel stack[PACK_STACK_BYTES / sizeof(blk_panel)];
    blk_panel *buf = stack, *heap = NULL;
    if (n * nb > INIT_STACK)
        init = init_heap = malloc((size_t)(n * nb) * sizeof(int32_t));
    if (nb > (int64_t)(sizeof stack / sizeof stack[0]))
        buf = heap = aligned_alloc(64, (size_t)nb * sizeof(blk_panel));
    if (!init || !buf) { // out of memory: the reference gives the same bits
        (kind == KIND_Q8_0 ? sqz_gemm_q8_0_blk_ref : sqz_gemm_q4_0_blk_ref)(n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
        free(init_heap), free(heap);
        return;
    }
    blk_init(kind, xa, act_row, n, nb, init);
    for (int64_t o = r0; o < r1; o += BR) {
        int nr = r1 - o < BR ? (int)(r1 - o) : BR;
        pack_blk(kind, w, row_bytes, o, nr, nb, buf);
        __mmask16 m[2] = {(__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1), (__mmask16)(nr >= 32 ? 0xffff : nr <= 16 ? 0 : (1u << (nr - 16)) - 1)};
        for (int64_t t = 0; t < n; t += BT) {
            const block_q8a *x[BT];
            const int32_t *in[BT];
            for (int i = 0; i < BT; i++) { // missing tokens repeat the last one; their outputs are not stored
                int64_t ti = t + i < n ? t + i : n - 1;
                x[i] = (const block_q8a *)((const uint8_t *)xa + ti * act_row), in[i] = init + ti * nb;
            }
            __m512 out[BR / 16][BT];
            micro_blk_call(buf, nb, x, in, out);
            for (int i = 0; i < BT && t + i < n; i++)
                for (int h = 0; h < BR / 16; h++)
                    _mm512_mask_storeu_ps(y + (t + i) * ldy + o + 16 * h, m[h], out[h][i]);
        }
    }
    free(init_heap), free(heap);
}

void sqz_gemm_q8_0_blk_vnni(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                            size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_blk_vnni(KIND_Q8_0, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

void sqz_gemm_q4_0_blk_vnni(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                            size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_blk_vnni(KIND_Q4_0, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

void sqz_gemm_q8_0_blk_avx512(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                              size_t act_row, int64_t n, float *y, int64_t ldy) {
    (sqz_amx_ready() ? sqz_gemm_q8_0_blk_amx : sqz_gemm_q8_0_blk_vnni)(n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

void sqz_gemm_q4_0_blk_avx512(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                              size_t act_row, int64_t n, float *y, int64_t ldy) {
    (sqz_amx_ready() ? sqz_gemm_q4_0_blk_amx : sqz_gemm_q4_0_blk_vnni)(n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

// ---- F16 / BF16 --------------------------------------------------------------------------------------
enum { FR = 64, FT = 6, FK = 512 }; // panel rows (≤ 64: the column mask is 64 bits), tokens per micro-tile, k-block

static inline __m512 widen16(bool bf16, const uint16_t *p) {
    __m256i h = _mm256_loadu_si256((const __m256i *)p);
    if (bf16)
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

static inline float widen1(bool bf16, uint16_t h) { return bf16 ? sqz_bf16_to_fp32(h) : _cvtsh_ss(h); }

// In place: r[i] lane j ↔ r[j] lane i.
static inline void transpose16(__m512 r[16]) {
    __m512 t[16], s[16];
    for (int i = 0; i < 8; i++) // 128-bit lane L: [a_2L.. interleaved]: rows 2i, 2i+1, columns 4L..4L+3
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]), t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    for (int i = 0; i < 4; i++) { // s[4i+j], 128-bit lane L: column 4L+j of rows 4i..4i+3
        __m512 a = t[4 * i], b = t[4 * i + 1], c = t[4 * i + 2], d = t[4 * i + 3];
        s[4 * i + 0] = _mm512_shuffle_ps(a, c, _MM_SHUFFLE(1, 0, 1, 0));
        s[4 * i + 1] = _mm512_shuffle_ps(a, c, _MM_SHUFFLE(3, 2, 3, 2));
        s[4 * i + 2] = _mm512_shuffle_ps(b, d, _MM_SHUFFLE(1, 0, 1, 0));
        s[4 * i + 3] = _mm512_shuffle_ps(b, d, _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int j = 0; j < 4; j++) { // column 4L+j = [s[j].L, s[4+j].L, s[8+j].L, s[12+j].L]
        __m512 u0 = _mm512_shuffle_f32x4(s[j], s[4 + j], 0x88), u1 = _mm512_shuffle_f32x4(s[j], s[4 + j], 0xDD);
        __m512 w0 = _mm512_shuffle_f32x4(s[8 + j], s[12 + j], 0x88), w1 = _mm512_shuffle_f32x4(s[8 + j], s[12 + j], 0xDD);
        r[j] = _mm512_shuffle_f32x4(u0, w0, 0x88);
        r[4 + j] = _mm512_shuffle_f32x4(u1, w1, 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(u0, w0, 0xDD);
        r[12 + j] = _mm512_shuffle_f32x4(u1, w1, 0xDD);
    }
}

// p[k][FR] = W[o0 + r][k0 + k] as F32 for k < kc, r < FR (rows ≥ nr are zero).
static void pack_half(bool bf16, const uint8_t *w, size_t row_bytes, int64_t o0, int nr, int64_t k0, int kc,
                      float *p) {
    int k = 0;
    for (; k + 16 <= kc; k += 16)
        for (int g = 0; g < FR / 16; g++) {
            __m512 v[16];
            for (int r = 0; r < 16; r++) {
                int rr = g * 16 + r;
                v[r] = rr < nr ? widen16(bf16, (const uint16_t *)(w + (o0 + rr) * row_bytes) + k0 + k) : _mm512_setzero_ps();
            }
            transpose16(v);
            for (int i = 0; i < 16; i++)
                _mm512_store_ps(p + (k + i) * FR + g * 16, v[i]);
        }
    for (; k < kc; k++)
        for (int r = 0; r < FR; r++)
            p[k * FR + r] = r < nr ? widen1(bf16, ((const uint16_t *)(w + (o0 + r) * row_bytes))[k0 + k]) : 0.0f;
}

// y[t][o0..o0+FR) (+)= Σ_k x[t][k]·p[k][·] for nt ≤ FT tokens; the first k-block starts from 0,
// later ones continue the same fma chains from y. Only the valid columns (bits of m) are touched.
static inline __attribute__((always_inline)) void micro_half(int nt, const float *p, int kc, const float *x, int64_t ldx,
                                                             float *y, int64_t ldy, uint64_t m, bool first) {
    enum { NZ = FR / 16 };
    __m512 c[FT][NZ];
#pragma GCC unroll 6
    for (int t = 0; t < nt; t++)
#pragma GCC unroll 4
        for (int z = 0; z < NZ; z++)
            c[t][z] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps((__mmask16)(m >> 16 * z), y + t * ldy + 16 * z);
    for (int k = 0; k < kc; k++) {
        __m512 b[NZ];
#pragma GCC unroll 4
        for (int z = 0; z < NZ; z++)
            b[z] = _mm512_load_ps(p + k * FR + 16 * z);
#pragma GCC unroll 6
        for (int t = 0; t < nt; t++) {
            __m512 a = _mm512_set1_ps(x[t * ldx + k]);
#pragma GCC unroll 4
            for (int z = 0; z < NZ; z++)
                c[t][z] = _mm512_fmadd_ps(a, b[z], c[t][z]);
        }
    }
#pragma GCC unroll 6
    for (int t = 0; t < nt; t++)
#pragma GCC unroll 4
        for (int z = 0; z < NZ; z++)
            _mm512_mask_storeu_ps(y + t * ldy + 16 * z, (__mmask16)(m >> 16 * z), c[t][z]);
}

typedef void (*half_fn)(const float *, int, const float *, int64_t, float *, int64_t, uint64_t, bool);
#define MICRO_HALF(NT)                                                                                        \
    static __attribute__((noinline)) void micro_half_##NT(const float *p, int kc, const float *x, int64_t ldx, \
                                                           float *y, int64_t ldy, uint64_t m, bool first) {    \
        micro_half(NT, p, kc, x, ldx, y, ldy, m, first);                                                      \
    }
MICRO_HALF(1)
MICRO_HALF(2)
MICRO_HALF(3)
MICRO_HALF(4)
MICRO_HALF(5)
MICRO_HALF(6)
static const half_fn micros_half[] = {NULL, micro_half_1, micro_half_2, micro_half_3, micro_half_4, micro_half_5, micro_half_6};
static_assert(FT < sizeof micros_half / sizeof micros_half[0], "a micro-kernel per token count");

static void gemm_half(bool bf16, int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1,
                      const void *xa, size_t act_row, int64_t n, float *y, int64_t ldy) {
    alignas(64) float p[FK * FR];
    const float *x = xa;
    int64_t ldx = (int64_t)(act_row / sizeof(float));
    for (int64_t o0 = r0; o0 < r1; o0 += FR) {
        int nr = r1 - o0 < FR ? (int)(r1 - o0) : FR;
        uint64_t m = nr >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << nr) - 1; // valid columns
        if (n_in == 0) { // empty dot: zeros, as the dot kernels give
            for (int64_t t = 0; t < n; t++)
                micros_half[1](p, 0, x, ldx, y + t * ldy + o0, ldy, m, true);
            continue;
        }
        for (int64_t k0 = 0; k0 < n_in; k0 += FK) {
            int kc = n_in - k0 < FK ? (int)(n_in - k0) : FK;
            pack_half(bf16, w, row_bytes, o0, nr, k0, kc, p);
            for (int64_t t = 0; t < n; t += FT) {
                int nt = n - t < FT ? (int)(n - t) : FT;
                micros_half[nt](p, kc, x + t * ldx + k0, ldx, y + t * ldy + o0, ldy, m, k0 == 0);
            }
        }
    }
}

void sqz_gemm_f16_avx512(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                         size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_half(false, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

void sqz_gemm_bf16_avx512(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                          size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_half(true, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

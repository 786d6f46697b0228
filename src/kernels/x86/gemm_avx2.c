// AVX2 + FMA + F16C GEMM kernels (gemm.h; compiled with -mavx2 -mfma -mf16c, called only when
// CPUID says so).
//
// Block types: a micro-tile is 4 weight rows × 2 tokens = 8 outputs, each with its own 8-lane float
// accumulator updated per 32-element block exactly as the dot kernels in dot_avx2.c update theirs:
// acc = fma(dw·dx, float(Σ4 u8·s8 per lane), acc), the zero-point/min term as one scalar fma chain,
// then the same horizontal sum. Rows are packed per panel first (Q4 nibbles unpacked to bytes, fp16
// scales widened and laid out [r0..r3, r0..r3] to match the (row, token) lanes), so the inner loop
// does per (row, token) and block only vpmaddubsw, vpmaddwd, vcvtdq2ps, a lane broadcast and one FMA.
//
// F16/BF16: a classic outer-product kernel: 16 rows × k-block of 256 widened to F32 and transposed
// into a [k][16] panel, then 6 tokens × 16 rows of accumulators, one broadcast activation and two
// panel loads per k step (12 FMAs).
#include <immintrin.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdlib.h>

#include "kernels/gemm.h"
#include "kernels/kernels.h"
#include "kernels/x86/avx2_blocks.h"

// ---- block types -------------------------------------------------------------------------------------
enum { MR = 4, NR = 2, PANEL_SUBS = 4 };
#define PACK_STACK_BYTES (128 * 1024)

typedef enum { KIND_Q8_0, KIND_Q4_0, KIND_Q4_1 } block_kind;

// Block b of MR packed rows: 32 weight bytes per row (Q4: nibbles as u8 0..15 in element order;
// Q8_0: the int8 values), scales and mins as floats repeated for the two tokens' lanes.
typedef struct {
    alignas(32) uint8_t q[MR][32];
    float d[8];
    float m[8];
} packed_blk;

// Pack rows [o0, o0+nr) (nr ≤ MR; missing rows are zero) of nb blocks into p[0..nb).
static void pack_rows(block_kind kind, const uint8_t *w, size_t row_bytes, int64_t o0, int nr, int64_t nb,
                      packed_blk *p) {
    for (int r = 0; r < MR; r++) {
        const uint8_t *row = r < nr ? w + (o0 + r) * row_bytes : w;
        for (int64_t b = 0; b < nb; b++) {
            __m256i q = _mm256_setzero_si256();
            float d = 0.0f, m = 0.0f;
            if (r < nr && kind == KIND_Q8_0) {
                const block_q8_0 *blk = (const block_q8_0 *)row + b;
                q = _mm256_loadu_si256((const __m256i *)blk->qs), d = _cvtsh_ss(blk->d);
            } else if (r < nr && kind == KIND_Q4_0) {
                const block_q4_0 *blk = (const block_q4_0 *)row + b;
                q = sqz_unpack_q4(blk->qs), d = _cvtsh_ss(blk->d);
            } else if (r < nr) {
                const block_q4_1 *blk = (const block_q4_1 *)row + b;
                q = sqz_unpack_q4(blk->qs), d = _cvtsh_ss(blk->d), m = _cvtsh_ss(blk->m);
            }
            _mm256_store_si256((__m256i *)p[b].q[r], q);
            p[b].d[r] = p[b].d[r + MR] = d;
            p[b].m[r] = p[b].m[r + MR] = m;
        }
    }
}

// hsum256 of dot_avx2.c for 8 accumulators at once, same addition tree per output:
// out[k] = ((a_k[0]+a_k[4]) + (a_k[2]+a_k[6])) + ((a_k[1]+a_k[5]) + (a_k[3]+a_k[7])).
static inline __attribute__((always_inline)) __m256 hsum8(const __m256 a[8]) {
    __m256 s[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) // lo + hi of a pair of accumulators: [a_2i | a_2i+1], 4 lanes each
        s[i] = _mm256_add_ps(_mm256_permute2f128_ps(a[2 * i], a[2 * i + 1], 0x20),
                             _mm256_permute2f128_ps(a[2 * i], a[2 * i + 1], 0x31));
    __m256 t[2];
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++) // lanes (0+2), (1+3)
        t[i] = _mm256_add_ps(_mm256_shuffle_ps(s[2 * i], s[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm256_shuffle_ps(s[2 * i], s[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    __m256 r = _mm256_add_ps(_mm256_shuffle_ps(t[0], t[1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm256_shuffle_ps(t[0], t[1], _MM_SHUFFLE(3, 1, 3, 1)));
    // r = [o0 o2 o4 o6 | o1 o3 o5 o7]
    return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// The 8 outputs of rows p (MR packed rows) × tokens x0, x1; out lane r + MR·t.
static inline __attribute__((always_inline)) __m256 micro(block_kind kind, const packed_blk *p, int64_t nb,
                                                          const block_q8a *x0, const block_q8a *x1) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[MR * NR], zs = _mm256_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < MR * NR; i++)
        acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i xq[NR] = {_mm256_loadu_si256((const __m256i *)x0[b].qs), _mm256_loadu_si256((const __m256i *)x1[b].qs)};
        __m256 dw = _mm256_load_ps(p[b].d);
        // The 8 scales dw·dx go through memory: a broadcast load costs no shuffle-port slot.
        alignas(32) float scl[MR * NR];
        _mm256_store_ps(scl, _mm256_mul_ps(dw, _mm256_set_m128(_mm_set1_ps(x1[b].d), _mm_set1_ps(x0[b].d))));
        if (kind != KIND_Q8_0) { // Q4_0: Σ dw·s (times -8 at the end); Q4_1: Σ m·s
            __m256 sx = _mm256_set_m128(_mm_set1_ps(x1[b].s), _mm_set1_ps(x0[b].s));
            zs = _mm256_fmadd_ps(kind == KIND_Q4_0 ? dw : _mm256_load_ps(p[b].m), sx, zs);
        }
#pragma GCC unroll 4
        for (int r = 0; r < MR; r++) {
            __m256i u = _mm256_load_si256((const __m256i *)p[b].q[r]);
#pragma GCC unroll 2
            for (int t = 0; t < NR; t++) {
                __m256i s = xq[t], uu = u;
                if (kind == KIND_Q8_0) // |w| · (x with w's sign): maddubs needs an unsigned first operand
                    s = _mm256_sign_epi8(s, u), uu = _mm256_sign_epi8(u, u);
                __m256i isum = _mm256_madd_epi16(_mm256_maddubs_epi16(uu, s), ones);
                __m256 d = _mm256_broadcast_ss(&scl[r + MR * t]);
                acc[r + MR * t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc[r + MR * t]);
            }
        }
    }
    __m256 out = hsum8(acc);
    if (kind == KIND_Q4_0)
        out = _mm256_sub_ps(out, _mm256_mul_ps(_mm256_set1_ps(8.0f), zs));
    else if (kind == KIND_Q4_1)
        out = _mm256_add_ps(out, zs);
    return out;
}

static __attribute__((noinline)) __m256 micro_q8_0(const packed_blk *p, int64_t nb, const block_q8a *x0,
                                                   const block_q8a *x1) {
    return micro(KIND_Q8_0, p, nb, x0, x1);
}
static __attribute__((noinline)) __m256 micro_q4_0(const packed_blk *p, int64_t nb, const block_q8a *x0,
                                                   const block_q8a *x1) {
    return micro(KIND_Q4_0, p, nb, x0, x1);
}
static __attribute__((noinline)) __m256 micro_q4_1(const packed_blk *p, int64_t nb, const block_q8a *x0,
                                                   const block_q8a *x1) {
    return micro(KIND_Q4_1, p, nb, x0, x1);
}

// Store the (nr rows × nt tokens) valid part of a micro-tile's outputs at y[t0][o0].
static void store_tile(__m256 out, float *y, int64_t ldy, int64_t t0, int nt, int64_t o0, int nr) {
    alignas(32) float v[8];
    _mm256_store_ps(v, out);
    for (int t = 0; t < nt; t++) {
        float *yt = y + (t0 + t) * ldy + o0;
        if (nr == MR)
            _mm_storeu_ps(yt, _mm_load_ps(v + MR * t));
        else
            for (int r = 0; r < nr; r++)
                yt[r] = v[r + MR * t];
    }
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
    static const sqz_dot_fn dots[] = {sqz_dot_q8_0_avx2, sqz_dot_q4_0_avx2, sqz_dot_q4_1_avx2};
    __m256 (*const mk)(const packed_blk *, int64_t, const block_q8a *, const block_q8a *) =
        kind == KIND_Q8_0 ? micro_q8_0 : kind == KIND_Q4_0 ? micro_q4_0 : micro_q4_1;
    int64_t nb = n_in / QK8A;
    if (nb == 0 || r1 <= r0 || n <= 0)
        return;
    // A panel of up to PANEL_SUBS micro-panels (MR rows each) is packed once and used for every token.
    alignas(32) packed_blk stack[PACK_STACK_BYTES / sizeof(packed_blk)];
    packed_blk *buf = stack, *heap = NULL;
    int64_t subs = (int64_t)(sizeof stack / sizeof stack[0]) / nb;
    if (subs == 0) {
        buf = heap = aligned_alloc(32, (size_t)nb * sizeof(packed_blk));
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
            pack_rows(kind, w, row_bytes, o, r1 - o < MR ? (int)(r1 - o) : MR, nb, buf + np * nb);
        for (int64_t t = 0; t < n; t += NR) {
            const block_q8a *x0 = (const block_q8a *)((const uint8_t *)xa + t * act_row);
            const block_q8a *x1 = t + 1 < n ? (const block_q8a *)((const uint8_t *)x0 + act_row) : x0;
            for (int s = 0; s < np; s++) {
                int64_t o = p0 + s * MR;
                store_tile(mk(buf + s * nb, nb, x0, x1), y, ldy, t, n - t < NR ? (int)(n - t) : NR, o,
                           r1 - o < MR ? (int)(r1 - o) : MR);
            }
        }
    }
    free(heap);
}

void sqz_gemm_q8_0_avx2(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                        size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_blocks(KIND_Q8_0, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

void sqz_gemm_q4_0_avx2(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                        size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_blocks(KIND_Q4_0, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

void sqz_gemm_q4_1_avx2(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                        size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_blocks(KIND_Q4_1, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

// ---- F16 / BF16 --------------------------------------------------------------------------------------
enum { FR = 16, FT = 6, FK = 256 }; // panel rows, tokens per micro-tile, k-block

static inline __m256 widen8(bool bf16, const uint16_t *p) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (bf16)
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

static inline float widen1(bool bf16, uint16_t h) { return bf16 ? sqz_bf16_to_fp32(h) : _cvtsh_ss(h); }

static inline void transpose8(__m256 r[8]) {
    __m256 t[8], s[8];
    for (int i = 0; i < 4; i++)
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]), t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    for (int i = 0; i < 2; i++) {
        __m256 a = t[4 * i], b = t[4 * i + 1], c = t[4 * i + 2], d = t[4 * i + 3];
        s[4 * i + 0] = _mm256_shuffle_ps(a, c, _MM_SHUFFLE(1, 0, 1, 0));
        s[4 * i + 1] = _mm256_shuffle_ps(a, c, _MM_SHUFFLE(3, 2, 3, 2));
        s[4 * i + 2] = _mm256_shuffle_ps(b, d, _MM_SHUFFLE(1, 0, 1, 0));
        s[4 * i + 3] = _mm256_shuffle_ps(b, d, _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++)
        r[i] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x20), r[i + 4] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x31);
}

// p[k][FR] = W[o0 + r][k0 + k] as F32 for k < kc, r < FR (rows ≥ nr are zero).
static void pack_half(bool bf16, const uint8_t *w, size_t row_bytes, int64_t o0, int nr, int64_t k0, int kc,
                      float *p) {
    int k = 0;
    for (; k + 8 <= kc; k += 8)
        for (int g = 0; g < FR / 8; g++) {
            __m256 v[8];
            for (int r = 0; r < 8; r++) {
                int rr = g * 8 + r;
                v[r] = rr < nr ? widen8(bf16, (const uint16_t *)(w + (o0 + rr) * row_bytes) + k0 + k) : _mm256_setzero_ps();
            }
            transpose8(v);
            for (int i = 0; i < 8; i++)
                _mm256_store_ps(p + (k + i) * FR + g * 8, v[i]);
        }
    for (; k < kc; k++)
        for (int r = 0; r < FR; r++)
            p[k * FR + r] = r < nr ? widen1(bf16, ((const uint16_t *)(w + (o0 + r) * row_bytes))[k0 + k]) : 0.0f;
}

// y[t][o0..o0+FR) (+)= Σ_k x[t][k]·p[k][·] for nt ≤ FT tokens; the first k-block starts from 0,
// later ones continue the same fma chains from y. Only the nr valid columns are read or written.
static inline __attribute__((always_inline)) void micro_half(int nt, const float *p, int kc, const float *x, int64_t ldx,
                                                             float *y, int64_t ldy, __m256i m0, __m256i m1, bool first) {
    __m256 c[FT][2];
#pragma GCC unroll 6
    for (int t = 0; t < nt; t++) {
        c[t][0] = first ? _mm256_setzero_ps() : _mm256_maskload_ps(y + t * ldy, m0);
        c[t][1] = first ? _mm256_setzero_ps() : _mm256_maskload_ps(y + t * ldy + 8, m1);
    }
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(p + k * FR), b1 = _mm256_load_ps(p + k * FR + 8);
#pragma GCC unroll 6
        for (int t = 0; t < nt; t++) {
            __m256 a = _mm256_broadcast_ss(x + t * ldx + k);
            c[t][0] = _mm256_fmadd_ps(a, b0, c[t][0]);
            c[t][1] = _mm256_fmadd_ps(a, b1, c[t][1]);
        }
    }
#pragma GCC unroll 6
    for (int t = 0; t < nt; t++) {
        _mm256_maskstore_ps(y + t * ldy, m0, c[t][0]);
        _mm256_maskstore_ps(y + t * ldy + 8, m1, c[t][1]);
    }
}

#define MICRO_HALF(NT)                                                                                        \
    static __attribute__((noinline)) void micro_half_##NT(const float *p, int kc, const float *x, int64_t ldx, \
                                                           float *y, int64_t ldy, __m256i m0, __m256i m1,      \
                                                           bool first) {                                       \
        micro_half(NT, p, kc, x, ldx, y, ldy, m0, m1, first);                                                 \
    }
MICRO_HALF(1)
MICRO_HALF(2)
MICRO_HALF(3)
MICRO_HALF(4)
MICRO_HALF(5)
MICRO_HALF(6)

static __m256i lane_mask(int valid) { // lanes < valid set
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static void gemm_half(bool bf16, int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1,
                      const void *xa, size_t act_row, int64_t n, float *y, int64_t ldy) {
    typedef void (*micro_fn)(const float *, int, const float *, int64_t, float *, int64_t, __m256i, __m256i, bool);
    static const micro_fn micros[FT + 1] = {NULL,         micro_half_1, micro_half_2, micro_half_3,
                                            micro_half_4, micro_half_5, micro_half_6};
    alignas(32) float p[FK * FR];
    const float *x = xa;
    int64_t ldx = (int64_t)(act_row / sizeof(float));
    for (int64_t o0 = r0; o0 < r1; o0 += FR) {
        int nr = r1 - o0 < FR ? (int)(r1 - o0) : FR;
        __m256i m0 = lane_mask(nr), m1 = lane_mask(nr - 8);
        if (n_in == 0) { // empty dot: zeros, as the dot kernels give
            for (int64_t t = 0; t < n; t++)
                micros[1](p, 0, x, ldx, y + t * ldy + o0, ldy, m0, m1, true);
            continue;
        }
        for (int64_t k0 = 0; k0 < n_in; k0 += FK) {
            int kc = n_in - k0 < FK ? (int)(n_in - k0) : FK;
            pack_half(bf16, w, row_bytes, o0, nr, k0, kc, p);
            for (int64_t t = 0; t < n; t += FT) {
                int nt = n - t < FT ? (int)(n - t) : FT;
                micros[nt](p, kc, x + t * ldx + k0, ldx, y + t * ldy + o0, ldy, m0, m1, k0 == 0);
            }
        }
    }
}

void sqz_gemm_f16_avx2(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                       size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_half(false, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

void sqz_gemm_bf16_avx2(int64_t n_in, const void *w, size_t row_bytes, int64_t r0, int64_t r1, const void *xa,
                        size_t act_row, int64_t n, float *y, int64_t ldy) {
    gemm_half(true, n_in, w, row_bytes, r0, r1, xa, act_row, n, y, ldy);
}

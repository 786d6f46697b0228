// AVX-512 (F/BW/VL/DQ + VNNI) grouped-int GEMM (layout and semantics in kernels/qgroup.h; budget against
// sqz_qgroup_gemm_ref in tests/kernels/test_qgroup.c). Compiled with -ffp-contract=off.
//
// Per output (row o, token t) the arithmetic is fixed, whatever the batch or the rows around it, so a
// token gives the same bits alone or in a batch:
//   acc (16 float lanes) = Σ over 64-column chunks c, in order:
//       fma(float(vpdpbusd(codes of blocks 2c, 2c+1 as u8, activations as s8)), m_c, acc)
//   with m_c = [d_{2c} ×8 | d_{2c+1} ×8] · [f_{g(2c)} ×8 | f_{g(2c+1)} ×8] (activation scale × group scale;
//   a last odd block, a 32-column tail, in the low half);
//   corr = Σ_g (f_g·z_g)·S_g (S_g = Σ of the activation blocks' s over group g), 16 groups per step;
//   y = reduce(acc) − corr.
// vpdpbusd multiplies unsigned weights by signed activations into int32 exactly, so int8 codes are made
// unsigned (c ^ 0x80 = c + 128) and their zero point grows by 128 to match. int4 codes of the odd block
// are used as high nibbles in place (16·code: one mask instead of a shift and a mask), with that block's
// d stored as d/16 — powers of two, so the result is the same to the bit. A last odd block (a 32-column
// tail) takes the low half of a chunk with the high half zero.
//
// Schedule: each token's activations are first laid out for the loop (the 32 int8 values of every block
// contiguous, d as the [d ×8 | d' ×8] pair of each chunk, S per group), on the stack up to STACK_BYTES,
// else in one heap buffer per call; the group of each block is a table, not a division.
// Then rows go 4 at a time (decode: 4 independent accumulator chains share each activation load; the
// next rows' codes are prefetched) against tiles of up to 4 tokens (prefill: each unpacked weight chunk
// serves 4 tokens).
#include <immintrin.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/qgroup.h"

#define NT_MAX 4
#define NR 8 // rows per step: 8 for one token (decode), 4 for a batch tile (16 accumulators)
#define STACK_BYTES (96 * 1024) // per-call scratch on the stack up to this size (n_in ≈ 10k), else the heap
#define PF_ROWS 8 // prefetch the codes this many rows ahead (the next step's rows when decoding)

// One token's activations, laid out for the chunk loop.
typedef struct {
    const int8_t *q;  // [n_in]: block b's 32 values at q + 32·b
    const float *dd;  // [n_chunks][16]: [d_{2c} ×8 | d_{2c+1} ×8] (a tail block: [d ×8 | 0 ×8])
    const float *S;   // [n_groups] Σ s over each group's blocks
} tok_act;

static void prep_token(const sqz_qgroup *w, const block_q8a *x, int8_t *q, float *dd, float *S) {
    int64_t nb = w->n_in / QK8A, bpg = w->group / QK8A;
    // int4: the odd block of a chunk meets its codes as high nibbles in place (16·code, see w_chunk), so
    // its d is stored divided by 16 — exact, and the product with the 16× larger sum rounds the same.
    float odd = w->bits == 4 ? 1.0f / 16 : 1.0f;
    for (int64_t b = 0; b < nb; b++) {
        memcpy(q + 32 * b, x[b].qs, 32);
        _mm256_storeu_ps(dd + 8 * b, _mm256_set1_ps(b & 1 ? x[b].d * odd : x[b].d));
    }
    if (nb & 1)
        _mm256_storeu_ps(dd + 8 * nb, _mm256_setzero_ps());
    for (int64_t g = 0; g < w->n_groups; g++) {
        float s = 0.0f;
        for (int64_t b = g * bpg; b < (g + 1) * bpg; b++)
            s += x[b].s;
        S[g] = s;
    }
}

// 64 weight codes of chunk c (blocks 2c, 2c+1) as unsigned bytes. BITS is a compile-time constant.
static inline __attribute__((always_inline)) __m512i w_chunk(const uint8_t *row, int64_t c, int BITS) {
    if (BITS == 4) { // low half: the low nibbles; high half: the high nibbles left in place (16·code)
        __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(row + 32 * c)));
        return _mm512_and_si512(v, _mm512_inserti64x4(_mm512_set1_epi8(0x0F), _mm256_set1_epi8((char)0xF0), 1));
    }
    return _mm512_xor_si512(_mm512_loadu_si512(row + 64 * c), _mm512_set1_epi8((char)0x80));
}

// The last single block b (an odd block count) in the low half, zeros in the high half.
static inline __attribute__((always_inline)) __m512i w_tail(const uint8_t *row, int64_t b, int BITS) {
    __m256i v;
    if (BITS == 4) {
        __m128i t = _mm_loadu_si128((const __m128i *)(row + 16 * b));
        v = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(15));
    } else {
        v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(row + 32 * b)), _mm256_set1_epi8((char)0x80));
    }
    return _mm512_inserti64x4(_mm512_setzero_si512(), v, 0);
}

// Per call: the group of each block's two halves of a chunk, so the loop needs no division.
typedef struct {
    int64_t nb, nc;          // blocks, whole chunks
    const uint16_t *g_of;    // [nb + 1] group of block b (g_of[nb] = g_of[nb − 1] for the tail pair)
} walk;

// One whole chunk c of rows row[0..NRr) against NT tokens into acc, scaled by the rows' scale vectors f.
// The codes PF_ROWS rows further are prefetched.
static inline __attribute__((always_inline)) void chunk_step(const uint8_t *const *row, const tok_act *ta,
                                                             const __m512 *f, __m512 (*acc)[NT_MAX], int64_t c,
                                                             size_t row_bytes, int NRr, int NT, int BITS) {
    const size_t chunk_bytes = BITS == 4 ? 32 : 64;
    __m512i wc[NR];
    _Pragma("GCC unroll 8") for (int r = 0; r < NRr; r++) {
        if (BITS == 8 || (c & 1) == 0) // one prefetch per 64-byte line
            _mm_prefetch((const char *)(row[r] + chunk_bytes * c) + PF_ROWS * row_bytes, _MM_HINT_T0);
        wc[r] = w_chunk(row[r], c, BITS);
    }
    _Pragma("GCC unroll 4") for (int t = 0; t < NT; t++) {
        __m512i xq = _mm512_loadu_si512(ta[t].q + 64 * c);
        __m512 dd = _mm512_loadu_ps(ta[t].dd + 16 * c);
        _Pragma("GCC unroll 8") for (int r = 0; r < NRr; r++) {
            __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wc[r], xq);
            acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dd, f[r]), acc[r][t]);
        }
    }
}

// Rows o..o+NRr−1 (NRr ≤ NR) against NT tokens; NRr, NT and BITS are compile-time constants after inlining.
static inline __attribute__((always_inline)) void rows_tile(const sqz_qgroup *w, const walk *wk, int64_t o,
                                                            const tok_act *ta, float *const *yt, int NRr, int NT,
                                                            int BITS) {
    const uint8_t *row[NR];
    const uint16_t *sc[NR];
    __m512 acc[NR][NT_MAX];
    _Pragma("GCC unroll 8") for (int r = 0; r < NRr; r++) {
        row[r] = w->codes + (size_t)(o + r) * w->row;
        sc[r] = w->scales + (o + r) * w->n_groups;
        _Pragma("GCC unroll 4") for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    }
    int64_t bpg = w->group / QK8A;
    if (bpg % 2 == 0) { // every chunk lies in one group: its scale is broadcast once per group
        int64_t cpg = bpg / 2;
        for (int64_t g = 0; g < w->n_groups; g++) {
            __m512 f[NR];
            _Pragma("GCC unroll 8") for (int r = 0; r < NRr; r++) f[r] = _mm512_set1_ps(_cvtsh_ss(sc[r][g]));
            for (int64_t c = g * cpg; c < (g + 1) * cpg; c++)
                chunk_step(row, ta, f, acc, c, w->row, NRr, NT, BITS);
        }
    } else { // groups of an odd number of blocks: a chunk may take its halves' scales from two groups
        for (int64_t c = 0; c < wk->nc; c++) {
            int g0 = wk->g_of[2 * c], g1 = wk->g_of[2 * c + 1];
            __m512 f[NR];
            _Pragma("GCC unroll 8") for (int r = 0; r < NRr; r++) f[r] =
                _mm512_insertf32x8(_mm512_set1_ps(_cvtsh_ss(sc[r][g0])), _mm256_set1_ps(_cvtsh_ss(sc[r][g1])), 1);
            chunk_step(row, ta, f, acc, c, w->row, NRr, NT, BITS);
        }
        if (wk->nb & 1) { // the 32-column tail block
            int64_t b = wk->nb - 1;
            __m512 f[NR];
            _Pragma("GCC unroll 8") for (int r = 0; r < NRr; r++) f[r] = _mm512_set1_ps(_cvtsh_ss(sc[r][wk->g_of[b]]));
            _Pragma("GCC unroll 4") for (int t = 0; t < NT; t++) {
                __m512i xq = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(ta[t].q + 32 * b)));
                __m512 dd = _mm512_loadu_ps(ta[t].dd + 8 * b);
                _Pragma("GCC unroll 8") for (int r = 0; r < NRr; r++) {
                    __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w_tail(row[r], b, BITS), xq);
                    acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dd, f[r]), acc[r][t]);
                }
            }
        }
    }
    // corr = Σ_g (f_g·(z_g + zbias))·S_g, 16 groups at a time (masked tail)
    const __m512 zbias = _mm512_set1_ps(BITS == 8 ? 128.0f : 0.0f);
    _Pragma("GCC unroll 8") for (int r = 0; r < NRr; r++) {
        const int16_t *zp = w->zeros + (o + r) * w->n_groups;
        __m512 corr[NT_MAX];
        _Pragma("GCC unroll 4") for (int t = 0; t < NT; t++) corr[t] = _mm512_setzero_ps();
        for (int64_t g = 0; g < w->n_groups; g += 16) {
            __mmask16 k = w->n_groups - g >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (w->n_groups - g)) - 1);
            __m512 f = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, sc[r] + g));
            __m512 z = _mm512_add_ps(_mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(k, zp + g))), zbias);
            __m512 fz = _mm512_mul_ps(f, z);
            _Pragma("GCC unroll 4") for (int t = 0; t < NT; t++) corr[t] =
                _mm512_fmadd_ps(fz, _mm512_maskz_loadu_ps(k, ta[t].S + g), corr[t]);
        }
        _Pragma("GCC unroll 4") for (int t = 0; t < NT; t++) yt[t][o + r] =
            _mm512_reduce_add_ps(acc[r][t]) - _mm512_reduce_add_ps(corr[t]);
    }
}

#define TILE(NRr, BITS)                                                                                            \
    switch (nt) {                                                                                                  \
    case 1: rows_tile(w, wk, o, ta, yt, NRr, 1, BITS); break;                                                      \
    case 2: rows_tile(w, wk, o, ta, yt, NRr, 2, BITS); break;                                                      \
    case 3: rows_tile(w, wk, o, ta, yt, NRr, 3, BITS); break;                                                      \
    default: rows_tile(w, wk, o, ta, yt, NRr, 4, BITS); break;                                                     \
    }

// One token: 8 rows per step (8 independent streams in flight), then 4, then single rows. A batch: tiles
// of 4 rows × up to 4 tokens (16 accumulators), then single rows.
static void rows_all(const sqz_qgroup *w, const walk *wk, const tok_act *ta, float *const *yt, int nt, int64_t r0,
                     int64_t r1) {
    int64_t o = r0;
    if (w->bits == 4) {
        if (nt == 1)
            for (; o + 8 <= r1; o += 8)
                rows_tile(w, wk, o, ta, yt, 8, 1, 4);
        for (; o + 4 <= r1; o += 4)
            TILE(4, 4)
        for (; o < r1; o++)
            TILE(1, 4)
    } else {
        if (nt == 1)
            for (; o + 8 <= r1; o += 8)
                rows_tile(w, wk, o, ta, yt, 8, 1, 8);
        for (; o + 4 <= r1; o += 4)
            TILE(4, 8)
        for (; o < r1; o++)
            TILE(1, 8)
    }
}

void sqz_qgroup_gemm_avx512(const sqz_qgroup *w, const block_q8a *x, size_t x_stride, int64_t n, float *y,
                            int64_t ldy, int64_t r0, int64_t r1) {
    int64_t nb = w->n_in / QK8A, nc = nb / 2, bpg = w->group / QK8A;
    // per token: q (n_in bytes), dd (16 floats per chunk incl. a tail), S (n_groups floats); then g_of
    size_t q_bytes = ((size_t)w->n_in + 63) & ~(size_t)63, dd_bytes = (size_t)(nc + 1) * 64;
    size_t per_tok = q_bytes + dd_bytes + (((size_t)w->n_groups * 4 + 63) & ~(size_t)63);
    size_t need = per_tok * NT_MAX + (size_t)(nb + 2) * sizeof(uint16_t);
    _Alignas(64) uint8_t stack[STACK_BYTES];
    uint8_t *buf = stack;
    if (need > sizeof stack && !(buf = aligned_alloc(64, (need + 63) & ~(size_t)63))) {
        sqz_qgroup_gemm_ref(w, x, x_stride, n, y, ldy, r0, r1); // out of memory: slow but right
        return;
    }
    uint16_t *g_of = (uint16_t *)(buf + per_tok * NT_MAX);
    for (int64_t b = 0; b < nb; b++)
        g_of[b] = (uint16_t)(b / bpg);
    g_of[nb] = g_of[nb + 1] = nb ? g_of[nb - 1] : 0;
    walk wk = {nb, nc, g_of};
    for (int64_t t0 = 0; t0 < n; t0 += NT_MAX) {
        int nt = n - t0 < NT_MAX ? (int)(n - t0) : NT_MAX;
        tok_act ta[NT_MAX];
        float *yt[NT_MAX];
        for (int t = 0; t < nt; t++) {
            uint8_t *p = buf + (size_t)t * per_tok;
            prep_token(w, (const block_q8a *)((const uint8_t *)x + (size_t)(t0 + t) * x_stride), (int8_t *)p,
                       (float *)(p + q_bytes), (float *)(p + q_bytes + dd_bytes));
            ta[t] = (tok_act){(const int8_t *)p, (const float *)(p + q_bytes), (const float *)(p + q_bytes + dd_bytes)};
            yt[t] = y + (t0 + t) * ldy;
        }
        rows_all(w, &wk, ta, yt, nt, r0, r1);
    }
    if (buf != stack)
        free(buf);
}

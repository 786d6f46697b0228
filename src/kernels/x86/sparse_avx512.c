// AVX-512 (F/BW/VL/DQ) 2:4 F16 sparse GEMV (layout in kernels/sparse.h; budget against
// sqz_sp_gemv_f16_ref in tests/kernels/test_sparse.c). 4:8 falls back to the reference.
//
// A 64-column chunk holds 32 kept F16 values in register order: block j (8 values) has the two kept
// values of groups 4j..4j+3 as (g0 g0 g2 g2 | g1 g1 g3 g3). One zmm takes blocks 2h, 2h+1 (16 values,
// columns 32h..32h+31 of the chunk): the activations are arranged once per chunk half and shared by the
// rows of a tile — A = [x 0-7 | x 16-23], B = [x 8-15 | x 24-31] of those 32 columns — and per row
// vpermilps (which reads only the low 2 bits of each index) picks the kept columns of A and of B with
// the row's metadata word shifted per 64-bit lane, a mask blend interleaves them into register order,
// and one FMA adds the 16 products. Rows go 4 at a time, two accumulators each (halves 0 and 1), and
// the rows one tile ahead are prefetched.
#include <immintrin.h>
#include <string.h>

#include "kernels/sparse.h"

#define NR 4

static inline __attribute__((always_inline)) void rows4(const sqz_sparse_nm *w, int64_t r, int nr, const float *x,
                                                        float *y) {
    const __m512i sh[2] = {_mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), _mm512_setr_epi64(16, 18, 20, 22, 24, 26, 28, 30)};
    const uint16_t *v[NR];
    const uint8_t *meta[NR];
    __m512 acc[NR][2];
#pragma GCC unroll 4
    for (int k = 0; k < nr; k++) {
        v[k] = (const uint16_t *)(w->values + (size_t)(r + k) * w->values_row);
        meta[k] = w->meta + (size_t)(r + k) * w->meta_row;
        acc[k][0] = acc[k][1] = _mm512_setzero_ps();
    }
    int64_t n_chunks = w->n_in / 64;
    for (int64_t c = 0; c < n_chunks; c++) {
        const float *xc = x + 64 * c;
#pragma GCC unroll 4
        for (int k = 0; k < nr; k++)
            _mm_prefetch((const char *)(v[k] + 32 * c) + NR * w->values_row, _MM_HINT_T0);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m512 x0 = _mm512_loadu_ps(xc + 32 * h), x1 = _mm512_loadu_ps(xc + 32 * h + 16);
            __m512 a = _mm512_shuffle_f32x4(x0, x1, _MM_SHUFFLE(1, 0, 1, 0)); // x 0-7 | x 16-23
            __m512 b = _mm512_shuffle_f32x4(x0, x1, _MM_SHUFFLE(3, 2, 3, 2)); // x 8-15 | x 24-31
#pragma GCC unroll 4
            for (int k = 0; k < nr; k++) {
                uint64_t word;
                memcpy(&word, meta[k] + 8 * c, 8);
                __m512i ctrl = _mm512_srlv_epi64(_mm512_set1_epi64((long long)word), sh[h]);
                __m512 sel = _mm512_mask_blend_ps(0xCCCC, _mm512_permutevar_ps(a, ctrl), _mm512_permutevar_ps(b, ctrl));
                __m512 wv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(v[k] + 32 * c + 16 * h)));
                acc[k][h] = _mm512_fmadd_ps(wv, sel, acc[k][h]);
            }
        }
    }
#pragma GCC unroll 4
    for (int k = 0; k < nr; k++)
        y[r + k] = _mm512_reduce_add_ps(_mm512_add_ps(acc[k][0], acc[k][1]));
}

void sqz_sp_gemv_f16_avx512(const sqz_sparse_nm *w, const float *x, float *y, int64_t r0, int64_t r1) {
    if (w->m != 4) {
        sqz_sp_gemv_f16_ref(w, x, y, r0, r1);
        return;
    }
    int64_t r = r0;
    for (; r + NR <= r1; r += NR)
        rows4(w, r, NR, x, y);
    for (; r < r1; r++)
        rows4(w, r, 1, x, y);
}

// ---- int8 / int4 2:4 (AVX-512 VBMI + VNNI) ------------------------------------------------------------
// Two rows per zmm (bytes 0-31 row a, 32-63 row b). The kept activations of a chunk come from one vpermb
// of the chunk's 64 int8 activations, indexed by 4·(k/2) + idx: the 2-bit indices are cut out of the
// rows' metadata words by vpmultishiftqb (8 bits at each value's bit offset) and masked. Products by
// vpdpbusd (unsigned weights × signed activations): int4 nibbles n as they are, minus vpdpbusd(z, x)
// for the zero point (8 for symmetric tensors, the stored one otherwise); int8 codes c as c + 128,
// minus 128·Σx. Then per chunk: float(sum) · (xd_c · scale of the row's group) into 16 float lanes.

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Per value p (byte p of a row's 32): bit offset of its index in the metadata word, and the chunk
// column of its group (4·(k(p)/2)). Int register order (kernels/sparse.h).
static void int_tables(uint8_t bits[64], uint8_t base[64]) {
    for (int p = 0; p < 64; p++) {
        bits[p] = (uint8_t)sqz_sp24_meta_bit(SQZ_SP_I8, p & 31);
        base[p] = (uint8_t)(4 * (sqz_sp24_kept_of(SQZ_SP_I8, p & 31) / 2));
    }
}

// Σ w·x of chunk c for rows a (low half) and b (high half), 8 int32 lanes each. I4 is a compile-time
// constant after inlining (int4 or int8 values).
static inline __attribute__((always_inline)) __m512i pair_chunk(const uint8_t *va, const uint8_t *vb, const uint8_t *ma,
                                                                 const uint8_t *mb, __m512i xc, __m512i zz, __m512i bits,
                                                                 __m512i base, int64_t c, int I4) {
    // the two metadata words broadcast from memory (load ports, not the shuffle port); idx = (field & 3) | base
    long long wa;
    memcpy(&wa, ma + 8 * c, 8);
    __m512i word = _mm512_mask_broadcastq_epi64(_mm512_set1_epi64(wa), 0xF0, _mm_loadl_epi64((const __m128i *)(mb + 8 * c)));
    __m512i idx = _mm512_ternarylogic_epi32(_mm512_multishift_epi64_epi8(bits, word), _mm512_set1_epi8(3), base, 0xEA);
    __m512i xs = _mm512_permutexvar_epi8(idx, xc);
    __m512i u;
    if (I4) { // [a lo | a hi | b lo | b hi]: 16 bytes per row and chunk, high nibbles shifted down
        __m512i v = _mm512_mask_broadcast_i32x4(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(va + 16 * c))),
                                                0xFF00, _mm_loadu_si128((const __m128i *)(vb + 16 * c)));
        u = _mm512_and_si512(_mm512_srlv_epi64(v, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4)), _mm512_set1_epi8(15));
    } else {
        __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(va + 32 * c))),
                                       _mm256_loadu_si256((const __m256i *)(vb + 32 * c)), 1);
        u = _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
    }
    __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, xs);
    return _mm512_sub_epi32(s, _mm512_dpbusd_epi32(_mm512_setzero_si512(), zz, xs));
}

// Rows r .. r + 2·NP − 1 as NP pairs (a row index may repeat when the run has fewer rows: its result is
// written twice, the same value), two accumulator chains per pair (even and odd chunks). The pairs share
// each chunk's activation load and scale; the values and metadata PF_ROWS rows further are prefetched
// (every 64-byte line once) so that several rows' streams are in flight. I4 and NP are compile-time
// constants after inlining.
#define PF_ROWS 8
static inline __attribute__((always_inline)) void int_rows_step(const sqz_sparse_nm *w, const int8_t *xq,
                                                                const float *xd, float *y, const int64_t *rows,
                                                                int NP, __m512i bits, __m512i base, int I4) {
    int64_t ng = w->n_in / w->group, cpg = w->group / 64;
    const size_t vb_chunk = I4 ? 16 : 32, vpf = (size_t)PF_ROWS * w->values_row, mpf = (size_t)PF_ROWS * w->meta_row;
    const uint8_t *v[4], *m[4];
    __m512 acc[2][2];
#pragma GCC unroll 4
    for (int k = 0; k < 2 * NP; k++)
        v[k] = w->values + (size_t)rows[k] * w->values_row, m[k] = w->meta + (size_t)rows[k] * w->meta_row;
#pragma GCC unroll 2
    for (int p = 0; p < NP; p++)
        acc[p][0] = acc[p][1] = _mm512_setzero_ps();
    for (int64_t g = 0, c = 0; g < ng; g++) {
        __m512i zz[2];
        __m512 f[2];
#pragma GCC unroll 2
        for (int p = 0; p < NP; p++) {
            int64_t a = rows[2 * p], b = rows[2 * p + 1];
            int za = !I4 ? 128 : w->zeros ? w->zeros[a * ng + g] : 8, zb = !I4 ? 128 : w->zeros ? w->zeros[b * ng + g] : 8;
            zz[p] = _mm512_mask_set1_epi8(_mm512_set1_epi8((char)za), 0xFFFFFFFF00000000ull, (char)zb);
            f[p] = _mm512_insertf32x8(_mm512_set1_ps(_cvtsh_ss(w->scales[a * ng + g])),
                                      _mm256_set1_ps(_cvtsh_ss(w->scales[b * ng + g])), 1);
        }
        for (int64_t k = 0; k < cpg; k++, c++) {
            if ((vb_chunk * (size_t)c) % 64 == 0) {
#pragma GCC unroll 4
                for (int r = 0; r < 2 * NP; r++)
                    _mm_prefetch((const char *)(v[r] + vb_chunk * c) + vpf, _MM_HINT_T0);
            }
            if (c % 8 == 0) {
#pragma GCC unroll 4
                for (int r = 0; r < 2 * NP; r++)
                    _mm_prefetch((const char *)(m[r] + 8 * c) + mpf, _MM_HINT_T0);
            }
            __m512i xc = _mm512_loadu_si512(xq + 64 * c);
            __m512 xdc = _mm512_set1_ps(xd[c]);
#pragma GCC unroll 2
            for (int p = 0; p < NP; p++) {
                __m512i s = pair_chunk(v[2 * p], v[2 * p + 1], m[2 * p], m[2 * p + 1], xc, zz[p], bits, base, c, I4);
                // chain 0 takes this chunk, then the chains swap (a register rename: acc[p][c & 1] would
                // keep the accumulators in memory, GCC 12 did, and the loop waited on store forwarding)
                __m512 t = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(f[p], xdc), acc[p][0]);
                acc[p][0] = acc[p][1], acc[p][1] = t;
            }
        }
    }
#pragma GCC unroll 2
    for (int p = 0; p < NP; p++) {
        __m512 t = _mm512_add_ps(acc[p][0], acc[p][1]);
        y[rows[2 * p]] = hsum8(_mm512_castps512_ps256(t));
        y[rows[2 * p + 1]] = hsum8(_mm512_extractf32x8_ps(t, 1));
    }
}

static void int_rows(const sqz_sparse_nm *w, const int8_t *xq, const float *xd, float *y, int64_t r0, int64_t r1,
                     __m512i bits, __m512i base, int I4) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4)
        int_rows_step(w, xq, xd, y, (const int64_t[4]){r, r + 1, r + 2, r + 3}, 2, bits, base, I4);
    for (; r < r1; r += 2)
        int_rows_step(w, xq, xd, y, (const int64_t[2]){r, r + 1 < r1 ? r + 1 : r}, 1, bits, base, I4);
}

void sqz_sp_gemv_q_avx512(const sqz_sparse_nm *w, const int8_t *xq, const float *xd, float *y, int64_t r0, int64_t r1) {
    if (w->m != 4) {
        sqz_sp_gemv_q_ref(w, xq, xd, y, r0, r1);
        return;
    }
    uint8_t bits_t[64], base_t[64];
    int_tables(bits_t, base_t);
    __m512i bits = _mm512_loadu_si512(bits_t), base = _mm512_loadu_si512(base_t);
    if (w->vt == SQZ_SP_I4)
        int_rows(w, xq, xd, y, r0, r1, bits, base, 1);
    else
        int_rows(w, xq, xd, y, r0, r1, bits, base, 0);
}

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
    for (int k = 0; k < nr; k++) {
        v[k] = (const uint16_t *)(w->values + (size_t)(r + k) * w->values_row);
        meta[k] = w->meta + (size_t)(r + k) * w->meta_row;
        acc[k][0] = acc[k][1] = _mm512_setzero_ps();
    }
    int64_t n_chunks = w->n_in / 64;
    for (int64_t c = 0; c < n_chunks; c++) {
        const float *xc = x + 64 * c;
        for (int k = 0; k < nr; k++)
            _mm_prefetch((const char *)(v[k] + 32 * c) + NR * w->values_row, _MM_HINT_T0);
        for (int h = 0; h < 2; h++) {
            __m512 x0 = _mm512_loadu_ps(xc + 32 * h), x1 = _mm512_loadu_ps(xc + 32 * h + 16);
            __m512 a = _mm512_shuffle_f32x4(x0, x1, _MM_SHUFFLE(1, 0, 1, 0)); // x 0-7 | x 16-23
            __m512 b = _mm512_shuffle_f32x4(x0, x1, _MM_SHUFFLE(3, 2, 3, 2)); // x 8-15 | x 24-31
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
static inline __attribute__((always_inline)) __m512i pair_chunk(const uint8_t *va, const uint8_t *vb, uint64_t wa,
                                                                 uint64_t wb, __m512i xc, __m512i zz, __m512i bits,
                                                                 __m512i base, int64_t c, int I4) {
    __m512i word = _mm512_mask_set1_epi64(_mm512_set1_epi64((long long)wa), 0xF0, (long long)wb);
    __m512i idx = _mm512_add_epi8(_mm512_and_si512(_mm512_multishift_epi64_epi8(bits, word), _mm512_set1_epi8(3)), base);
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

// Rows a, b (b = a when nb == 1: the result for b is dropped); two accumulator chains (even and odd chunks).
static inline __attribute__((always_inline)) void int_pair(const sqz_sparse_nm *w, const int8_t *xq, const float *xd,
                                                           float *y, int64_t a, int64_t b, int nb, __m512i bits,
                                                           __m512i base, int I4) {
    int64_t ng = w->n_in / w->group, cpg = w->group / 64;
    const uint8_t *va = w->values + (size_t)a * w->values_row, *vb = w->values + (size_t)b * w->values_row;
    const uint8_t *ma = w->meta + (size_t)a * w->meta_row, *mb = w->meta + (size_t)b * w->meta_row;
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t g = 0, c = 0; g < ng; g++) {
        int za = !I4 ? 128 : w->zeros ? w->zeros[a * ng + g] : 8, zb = !I4 ? 128 : w->zeros ? w->zeros[b * ng + g] : 8;
        __m512i zz = _mm512_mask_set1_epi8(_mm512_set1_epi8((char)za), 0xFFFFFFFF00000000ull, (char)zb);
        __m512 f = _mm512_insertf32x8(_mm512_set1_ps(_cvtsh_ss(w->scales[a * ng + g])),
                                      _mm256_set1_ps(_cvtsh_ss(w->scales[b * ng + g])), 1);
        for (int64_t k = 0; k < cpg; k++, c++) {
            uint64_t wa, wb;
            memcpy(&wa, ma + 8 * c, 8);
            memcpy(&wb, mb + 8 * c, 8);
            if ((c & 1) == 0 || !I4) {
                _mm_prefetch((const char *)(va + (I4 ? 16 : 32) * c) + 2 * w->values_row, _MM_HINT_T0);
                _mm_prefetch((const char *)(vb + (I4 ? 16 : 32) * c) + 2 * w->values_row, _MM_HINT_T0);
            }
            __m512i s = pair_chunk(va, vb, wa, wb, _mm512_loadu_si512(xq + 64 * c), zz, bits, base, c, I4);
            acc[c & 1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(f, _mm512_set1_ps(xd[c])), acc[c & 1]);
        }
    }
    __m512 t = _mm512_add_ps(acc[0], acc[1]);
    y[a] = hsum8(_mm512_castps512_ps256(t));
    if (nb == 2)
        y[b] = hsum8(_mm512_extractf32x8_ps(t, 1));
}

static void int_rows(const sqz_sparse_nm *w, const int8_t *xq, const float *xd, float *y, int64_t r0, int64_t r1,
                     __m512i bits, __m512i base, int I4) {
    int64_t r = r0;
    for (; r + 2 <= r1; r += 2)
        int_pair(w, xq, xd, y, r, r + 1, 2, bits, base, I4);
    if (r < r1)
        int_pair(w, xq, xd, y, r, r, 1, bits, base, I4);
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

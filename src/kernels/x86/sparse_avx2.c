// AVX2 + FMA + F16C versions of the sparse/dense GEMV kernels in sparse.c (compiled with
// -mavx2 -mfma -mf16c; only called when the CPU has them). Each mirrors its `_ref`; the budgets are
// in tests/kernels/test_sparse.c. 2:4 chunks: 64 columns, 32 kept values in lane order, one 64-bit
// metadata word (layout in kernels/sparse.h).
#include <immintrin.h>
#include <string.h>

#include "kernels/sparse.h"

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline uint64_t load_u64(const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

// One F16 2:4 row: per chunk, four blocks j of 16 columns; two in-lane permutes (vpermilps, which
// reads only the low 2 bits of each index, so no masking) select the kept activations of groups
// (0, 1) and (2, 3), a blend interleaves them in register order (g0, g2 | g1, g3).
static float row_f16_24(const uint16_t *v, const uint8_t *meta, const float *x, int64_t n_chunks) {
    const __m256i sh[4] = {_mm256_setr_epi64x(0, 2, 4, 6), _mm256_setr_epi64x(8, 10, 12, 14),
                           _mm256_setr_epi64x(16, 18, 20, 22), _mm256_setr_epi64x(24, 26, 28, 30)};
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t c = 0; c < n_chunks; c++) {
        __m256i mv = _mm256_set1_epi64x((long long)load_u64(meta + 8 * c));
        const float *xc = x + 64 * c;
        const uint16_t *vc = v + 32 * c;
        for (int j = 0; j < 4; j++) {
            __m256i ctrl = _mm256_srlv_epi64(mv, sh[j]);
            __m256 p0 = _mm256_permutevar_ps(_mm256_loadu_ps(xc + 16 * j), ctrl);
            __m256 p1 = _mm256_permutevar_ps(_mm256_loadu_ps(xc + 16 * j + 8), ctrl);
            __m256 w = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vc + 8 * j)));
            acc[j] = _mm256_fmadd_ps(w, _mm256_blend_ps(p0, p1, 0xCC), acc[j]);
        }
    }
    return hsum256(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
}

void sqz_sp_gemv_f16_avx2(const sqz_sparse_nm *w, const float *x, float *y, int64_t r0, int64_t r1) {
    if (w->m != 4) {
        sqz_sp_gemv_f16_ref(w, x, y, r0, r1);
        return;
    }
    for (int64_t r = r0; r < r1; r++)
        y[r] = row_f16_24((const uint16_t *)(w->values + (size_t)r * w->values_row), w->meta + (size_t)r * w->meta_row,
                          x, w->n_in / 64);
}

// 32 selected activation bytes of chunk c in register order, from its metadata word.
static inline __m256i select_x(const int8_t *xc, uint64_t word) {
    const __m256i sh = _mm256_setr_epi32(0, 0, 2, 2, 4, 4, 6, 6), m3 = _mm256_set1_epi8(3);
    const __m256i base = _mm256_setr_epi8(0, 0, 4, 4, 8, 8, 12, 12, 0, 0, 4, 4, 8, 8, 12, 12, //
                                          0, 0, 4, 4, 8, 8, 12, 12, 0, 0, 4, 4, 8, 8, 12, 12);
    __m256i idx = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi64x((long long)word), sh), m3);
    __m256i ctrl = _mm256_add_epi8(idx, base);
    __m256i xa = _mm256_loadu_si256((const __m256i *)xc), xb = _mm256_loadu_si256((const __m256i *)(xc + 32));
    return _mm256_blend_epi32(_mm256_shuffle_epi8(xa, ctrl), _mm256_shuffle_epi8(xb, ctrl), 0xCC);
}

// Signed int8 dot of 32 pairs → 8 int32 partial sums.
static inline __m256i dot_i8(__m256i w, __m256i x) {
    __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

// One 2:4 chunk: Σ code · x over its 32 kept values, as 8 int32 partial sums (int4: code = nibble − z).
static inline __m256i chunk24(sqz_sp_values vt, const uint8_t *row, const int8_t *xc, uint64_t word, int64_t c, int z) {
    __m256i xs = select_x(xc, word);
    if (vt == SQZ_SP_I8)
        return dot_i8(_mm256_loadu_si256((const __m256i *)(row + 32 * c)), xs);
    // int4: nibble n (lane 0: low nibbles, lane 1: high); Σ n·x − Σ z·x (pairs ≤ 2·16·127: no saturation)
    __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(row + 16 * c)));
    __m256i n = _mm256_and_si256(_mm256_srlv_epi32(b, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), _mm256_set1_epi8(15));
    __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(n, xs), _mm256_maddubs_epi16(_mm256_set1_epi8((char)z), xs));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

void sqz_sp_gemv_q_avx2(const sqz_sparse_nm *w, const int8_t *xq, const float *xd, float *y, int64_t r0, int64_t r1) {
    if (w->m != 4) {
        sqz_sp_gemv_q_ref(w, xq, xd, y, r0, r1);
        return;
    }
    int64_t ng = w->n_in / w->group, cpg = w->group / 64;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w->values + (size_t)r * w->values_row, *meta = w->meta + (size_t)r * w->meta_row;
        const uint16_t *sc = w->scales + r * ng;
        __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()}; // two chains: chunks alternate
        for (int64_t g = 0, c = 0; g < ng; g++) {
            float ws = _cvtsh_ss(sc[g]);
            int z = w->zeros ? w->zeros[r * ng + g] : 8;
            for (int64_t k = 0; k < cpg; k++, c++) {
                __m256i s = chunk24(w->vt, row, xq + 64 * c, load_u64(meta + 8 * c), c, z);
                acc[c & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(xd[c] * ws), acc[c & 1]);
            }
        }
        y[r] = hsum256(_mm256_add_ps(acc[0], acc[1]));
    }
}

void sqz_sp_quant_x_avx2(const float *x, int64_t n, int8_t *xq, float *xd) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t c = 0; c < n / 64; c++) {
        const float *xc = x + 64 * c;
        __m256 v[8], m = _mm256_setzero_ps();
        for (int k = 0; k < 8; k++) {
            v[k] = _mm256_loadu_ps(xc + 8 * k);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        xd[c] = amax / 127.0f;
        __m256 id = _mm256_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
        for (int h = 0; h < 2; h++) {
            __m256i q[4];
            for (int k = 0; k < 4; k++)
                q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[4 * h + k], id),
                                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            __m256i p8 = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            p8 = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(xq + 64 * c + 32 * h), p8);
        }
    }
}

// AVX-512 dot kernels (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mf16c -mfma;
// only called when CPUID says so). Float types use 512-bit FMAs; block types use VNNI's
// vpdpbusd (u8·s8 → i32 in one instruction) on 256-bit halves, one 32-element block at a time.
#include <immintrin.h>

#include "kernels/kernels.h"

static inline __m512 load_f16x16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
static inline __m512 load_bf16x16(const uint16_t *p) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// The three float kernels differ only in how 16 weights are loaded; tails use a masked load.
#define FLOAT_DOT(NAME, WT, LOAD16, SCALAR)                                                        \
    void NAME(int64_t n, const void *w, const void *x, float *out) {                               \
        const WT *a = w;                                                                           \
        const float *b = x;                                                                        \
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();                             \
        int64_t i = 0;                                                                             \
        for (; i + 32 <= n; i += 32) {                                                             \
            acc0 = _mm512_fmadd_ps(LOAD16(a + i), _mm512_loadu_ps(b + i), acc0);                   \
            acc1 = _mm512_fmadd_ps(LOAD16(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);         \
        }                                                                                          \
        for (; i + 16 <= n; i += 16)                                                               \
            acc0 = _mm512_fmadd_ps(LOAD16(a + i), _mm512_loadu_ps(b + i), acc0);                   \
        float s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));                                 \
        for (; i < n; i++)                                                                         \
            s += SCALAR(a[i]) * b[i];                                                              \
        *out = s;                                                                                  \
    }

static inline __m512 load_f32x16(const float *p) { return _mm512_loadu_ps(p); }
static inline float id_f32(float v) { return v; }
FLOAT_DOT(sqz_dot_f32_avx512, float, load_f32x16, id_f32)
FLOAT_DOT(sqz_dot_f16_avx512, uint16_t, load_f16x16, sqz_fp16_to_fp32)
FLOAT_DOT(sqz_dot_bf16_avx512, uint16_t, load_bf16x16, sqz_bf16_to_fp32)

static inline __m256i unpack_q4(const uint8_t *qs) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    __m128i m = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

void sqz_dot_q8_0_avx512vnni(int64_t n, const void *w, const void *x, float *out) {
    const block_q8_0 *a = w;
    const block_q8a *b = x;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK8A; i++) {
        __m256i qw = _mm256_loadu_si256((const __m256i *)a[i].qs);
        __m256i qx = _mm256_loadu_si256((const __m256i *)b[i].qs);
        __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qx, qw));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(a[i].d) * b[i].d), _mm256_cvtepi32_ps(p), acc);
    }
    *out = hsum256(acc);
}

void sqz_dot_q4_0_avx512vnni(int64_t n, const void *w, const void *x, float *out) {
    const block_q4_0 *a = w;
    const block_q8a *b = x;
    __m256 acc = _mm256_setzero_ps();
    float zsum = 0.0f;
    for (int64_t i = 0; i < n / QK8A; i++) {
        float dw = _cvtsh_ss(a[i].d);
        __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), unpack_q4(a[i].qs),
                                        _mm256_loadu_si256((const __m256i *)b[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dw * b[i].d), _mm256_cvtepi32_ps(p), acc);
        zsum += dw * b[i].s;
    }
    *out = hsum256(acc) - 8.0f * zsum;
}

void sqz_dot_q4_1_avx512vnni(int64_t n, const void *w, const void *x, float *out) {
    const block_q4_1 *a = w;
    const block_q8a *b = x;
    __m256 acc = _mm256_setzero_ps();
    float msum = 0.0f;
    for (int64_t i = 0; i < n / QK8A; i++) {
        __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), unpack_q4(a[i].qs),
                                        _mm256_loadu_si256((const __m256i *)b[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(a[i].d) * b[i].d), _mm256_cvtepi32_ps(p), acc);
        msum += _cvtsh_ss(a[i].m) * b[i].s;
    }
    *out = hsum256(acc) + msum;
}

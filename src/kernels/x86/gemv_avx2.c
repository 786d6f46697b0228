// AVX2 multi-row dot kernels for decode (one activation row against a run of weight rows): the
// same per-row arithmetic as the single-row kernels in dot_avx2.c, in the same order, so every
// output is bit-identical to sqz_dot_<type>_avx2 on that row (tests/kernels/test_dot.c memcmps
// them). What changes is the schedule:
//   - 4 rows (block types) / 2 rows (F16, BF16, F32) are walked together, so one activation load
//     serves several rows and the per-row accumulator chains (an FMA latency each) overlap;
//   - the weights of the next group of rows are prefetched while the current group is computed,
//     keeping more cache-line misses in flight than the hardware prefetcher alone does.
// Compiled with -mavx2 -mfma -mf16c -ffp-contract=off (every fused op is explicit, as in dot_avx2.c);
// called only when CPUID says so.
#include <immintrin.h>
#include <string.h>

#include "kernels/gemv.h"

static inline float hsum256(__m256 v) { // as dot_avx2.c
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float fma_ss(float a, float b, float c) { // one rounding, as the compiled single-row loop
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

// Σ u8·s8 over 32 pairs as 8 int32 lanes (maddubs pairs, then madd with ones).
static inline __m256i dot_u8s8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// 32 nibbles of a q4 block as u8 0..15 in element order (low nibbles = 0..15, high = 16..31):
// both 128-bit halves get the 16 bytes, the upper half's 32-bit lanes shifted down by 4, then masked.
static inline __m256i unpack_q4(const uint8_t *qs) {
    __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    return _mm256_and_si256(_mm256_srlv_epi32(b, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), _mm256_set1_epi8(0x0f));
}

static inline uint16_t ld16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

// Lane k of v (k < 4) in all 8 lanes.
#define LANE(v, k) _mm256_permutevar8x32_ps(_mm256_castps128_ps256(v), _mm256_set1_epi32(k))

// Prefetch distance for the block kernels: the same position 4 rows further (the next group).
#define PF_ROWS 4

// ---- Q4_0: out = hsum(Σ fma(dw·dx, Σq·qx)) − 8·(Σ fma(dw, s))  (dot_avx2.c order) -------------------
// The four rows' fp16 scales are converted together: lane k of dw holds row k's d, and the products
// d·dx and the fma(d, s, z) run lane-wise — each lane is the single-row kernel's scalar operation.
static void q4_0_rows4(int64_t nb, const uint8_t *w, size_t rb, const block_q8a *x, float *out) {
    const block_q4_0 *a0 = (const void *)w, *a1 = (const void *)(w + rb), *a2 = (const void *)(w + 2 * rb),
                     *a3 = (const void *)(w + 3 * rb);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    __m128 z = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        if ((i & 1) == 0) {
            _mm_prefetch((const char *)&a0[i] + PF_ROWS * rb, _MM_HINT_T0);
            _mm_prefetch((const char *)&a1[i] + PF_ROWS * rb, _MM_HINT_T0);
            _mm_prefetch((const char *)&a2[i] + PF_ROWS * rb, _MM_HINT_T0);
            _mm_prefetch((const char *)&a3[i] + PF_ROWS * rb, _MM_HINT_T0);
        }
        __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        __m128 dw = _mm_cvtph_ps(_mm_setr_epi16((short)ld16(&a0[i].d), (short)ld16(&a1[i].d), (short)ld16(&a2[i].d),
                                                (short)ld16(&a3[i].d), 0, 0, 0, 0));
        __m128 dd = _mm_mul_ps(dw, _mm_set1_ps(x[i].d));
        z = _mm_fmadd_ps(dw, _mm_set1_ps(x[i].s), z);
        acc0 = _mm256_fmadd_ps(LANE(dd, 0), _mm256_cvtepi32_ps(dot_u8s8(unpack_q4(a0[i].qs), qx)), acc0);
        acc1 = _mm256_fmadd_ps(LANE(dd, 1), _mm256_cvtepi32_ps(dot_u8s8(unpack_q4(a1[i].qs), qx)), acc1);
        acc2 = _mm256_fmadd_ps(LANE(dd, 2), _mm256_cvtepi32_ps(dot_u8s8(unpack_q4(a2[i].qs), qx)), acc2);
        acc3 = _mm256_fmadd_ps(LANE(dd, 3), _mm256_cvtepi32_ps(dot_u8s8(unpack_q4(a3[i].qs), qx)), acc3);
    }
    float zs[4];
    _mm_storeu_ps(zs, z);
    out[0] = hsum256(acc0) - 8.0f * zs[0];
    out[1] = hsum256(acc1) - 8.0f * zs[1];
    out[2] = hsum256(acc2) - 8.0f * zs[2];
    out[3] = hsum256(acc3) - 8.0f * zs[3];
}

void sqz_gemv_q4_0_avx2(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x, float *out) {
    const uint8_t *wb = w;
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4)
        q4_0_rows4(n / QK8A, wb + r * row_bytes, row_bytes, x, out + r);
    for (; r < nr; r++)
        sqz_dot_q4_0_avx2(n, wb + r * row_bytes, x, out + r);
}

// ---- Q4_1: out = hsum(Σ fma(dw·dx, Σq·qx)) + Σ fma(m, s) --------------------------------------------
static void q4_1_rows4(int64_t nb, const uint8_t *w, size_t rb, const block_q8a *x, float *out) {
    const block_q4_1 *a0 = (const void *)w, *a1 = (const void *)(w + rb), *a2 = (const void *)(w + 2 * rb),
                     *a3 = (const void *)(w + 3 * rb);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    __m128 msum = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        if ((i & 1) == 0) {
            _mm_prefetch((const char *)&a0[i] + PF_ROWS * rb, _MM_HINT_T0);
            _mm_prefetch((const char *)&a1[i] + PF_ROWS * rb, _MM_HINT_T0);
            _mm_prefetch((const char *)&a2[i] + PF_ROWS * rb, _MM_HINT_T0);
            _mm_prefetch((const char *)&a3[i] + PF_ROWS * rb, _MM_HINT_T0);
        }
        __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        // lanes 0-3: d of rows 0-3; lanes 4-7: m of rows 0-3
        __m256 dm = _mm256_cvtph_ps(_mm_setr_epi16((short)ld16(&a0[i].d), (short)ld16(&a1[i].d), (short)ld16(&a2[i].d),
                                                   (short)ld16(&a3[i].d), (short)ld16(&a0[i].m), (short)ld16(&a1[i].m),
                                                   (short)ld16(&a2[i].m), (short)ld16(&a3[i].m)));
        __m128 dd = _mm_mul_ps(_mm256_castps256_ps128(dm), _mm_set1_ps(x[i].d));
        msum = _mm_fmadd_ps(_mm256_extractf128_ps(dm, 1), _mm_set1_ps(x[i].s), msum);
        acc0 = _mm256_fmadd_ps(LANE(dd, 0), _mm256_cvtepi32_ps(dot_u8s8(unpack_q4(a0[i].qs), qx)), acc0);
        acc1 = _mm256_fmadd_ps(LANE(dd, 1), _mm256_cvtepi32_ps(dot_u8s8(unpack_q4(a1[i].qs), qx)), acc1);
        acc2 = _mm256_fmadd_ps(LANE(dd, 2), _mm256_cvtepi32_ps(dot_u8s8(unpack_q4(a2[i].qs), qx)), acc2);
        acc3 = _mm256_fmadd_ps(LANE(dd, 3), _mm256_cvtepi32_ps(dot_u8s8(unpack_q4(a3[i].qs), qx)), acc3);
    }
    float ms[4];
    _mm_storeu_ps(ms, msum);
    out[0] = hsum256(acc0) + ms[0];
    out[1] = hsum256(acc1) + ms[1];
    out[2] = hsum256(acc2) + ms[2];
    out[3] = hsum256(acc3) + ms[3];
}

void sqz_gemv_q4_1_avx2(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x, float *out) {
    const uint8_t *wb = w;
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4)
        q4_1_rows4(n / QK8A, wb + r * row_bytes, row_bytes, x, out + r);
    for (; r < nr; r++)
        sqz_dot_q4_1_avx2(n, wb + r * row_bytes, x, out + r);
}

// ---- Q8_0: out = hsum(Σ fma(dw·dx, Σ|w|·(x·sign w))) ---------------------------------------------------
static inline __m256 q8_0_block(const block_q8_0 *a, __m256i qx, float dx, __m256 acc) {
    __m256i qw = _mm256_loadu_si256((const __m256i *)a->qs);
    __m256i p = dot_u8s8(_mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qx, qw));
    return _mm256_fmadd_ps(_mm256_set1_ps(h2f(a->d) * dx), _mm256_cvtepi32_ps(p), acc);
}

static void q8_0_rows4(int64_t nb, const uint8_t *w, size_t rb, const block_q8a *x, float *out) {
    const block_q8_0 *a0 = (const void *)w, *a1 = (const void *)(w + rb), *a2 = (const void *)(w + 2 * rb),
                     *a3 = (const void *)(w + 3 * rb);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (int64_t i = 0; i < nb; i++) {
        _mm_prefetch((const char *)&a0[i] + PF_ROWS * rb, _MM_HINT_T0);
        _mm_prefetch((const char *)&a1[i] + PF_ROWS * rb, _MM_HINT_T0);
        _mm_prefetch((const char *)&a2[i] + PF_ROWS * rb, _MM_HINT_T0);
        _mm_prefetch((const char *)&a3[i] + PF_ROWS * rb, _MM_HINT_T0);
        __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        float dx = x[i].d;
        acc0 = q8_0_block(&a0[i], qx, dx, acc0);
        acc1 = q8_0_block(&a1[i], qx, dx, acc1);
        acc2 = q8_0_block(&a2[i], qx, dx, acc2);
        acc3 = q8_0_block(&a3[i], qx, dx, acc3);
    }
    out[0] = hsum256(acc0), out[1] = hsum256(acc1), out[2] = hsum256(acc2), out[3] = hsum256(acc3);
}

void sqz_gemv_q8_0_avx2(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x, float *out) {
    const uint8_t *wb = w;
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4)
        q8_0_rows4(n / QK8A, wb + r * row_bytes, row_bytes, x, out + r);
    for (; r < nr; r++)
        sqz_dot_q8_0_avx2(n, wb + r * row_bytes, x, out + r);
}

// ---- F16 / BF16 / F32 weights, F32 activations: 2 rows × the single-row kernel's 4 accumulators -----
// Per row: acc[k] += w[i+8k..]·x[i+8k..] over steps of 32, then a tail of 8s into acc[0], then
// hsum((acc0+acc1)+(acc2+acc3)), then scalar tail products — exactly dot_avx2.c's order.
static inline __m256 ld_f16(const void *p, int64_t i) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i))); }
static inline __m256 ld_bf16(const void *p, int64_t i) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
static inline __m256 ld_f32(const void *p, int64_t i) { return _mm256_loadu_ps((const float *)p + i); }

// Prefetch: the same position of the next pair of rows (pf = 2·row_bytes), into L2 (a long row pair
// is 20+ KB ahead, more than L1 holds next to the activations). Measured with bench/gemv on 2 threads,
// F16, n_in 576 / 2048 / 5632: 9.5→11.5, 12→16, 17→17 GB/s against 1 KB ahead within the row.
#define PF_HINT _MM_HINT_T1

#define FLOAT_ROWS2(NAME, LOAD, ESIZE, SCALAR)                                                                   \
    static void NAME(int64_t n, const uint8_t *w0, const uint8_t *w1, size_t pf, const float *x, float *out) { \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;          \
        int64_t i = 0;                                                                                         \
        for (; i + 32 <= n; i += 32) {                                                                         \
            _mm_prefetch((const char *)w0 + i * ESIZE + pf, PF_HINT);                                         \
            _mm_prefetch((const char *)w1 + i * ESIZE + pf, PF_HINT);                                         \
            if (ESIZE == 4) {                                                                                  \
                _mm_prefetch((const char *)w0 + i * ESIZE + pf + 64, PF_HINT);                                \
                _mm_prefetch((const char *)w1 + i * ESIZE + pf + 64, PF_HINT);                                \
            }                                                                                                  \
            __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);                               \
            __m256 x2 = _mm256_loadu_ps(x + i + 16), x3 = _mm256_loadu_ps(x + i + 24);                         \
            a0 = _mm256_fmadd_ps(LOAD(w0, i), x0, a0), b0 = _mm256_fmadd_ps(LOAD(w1, i), x0, b0);               \
            a1 = _mm256_fmadd_ps(LOAD(w0, i + 8), x1, a1), b1 = _mm256_fmadd_ps(LOAD(w1, i + 8), x1, b1);       \
            a2 = _mm256_fmadd_ps(LOAD(w0, i + 16), x2, a2), b2 = _mm256_fmadd_ps(LOAD(w1, i + 16), x2, b2);     \
            a3 = _mm256_fmadd_ps(LOAD(w0, i + 24), x3, a3), b3 = _mm256_fmadd_ps(LOAD(w1, i + 24), x3, b3);     \
        }                                                                                                      \
        for (; i + 8 <= n; i += 8) {                                                                           \
            __m256 xv = _mm256_loadu_ps(x + i);                                                                \
            a0 = _mm256_fmadd_ps(LOAD(w0, i), xv, a0), b0 = _mm256_fmadd_ps(LOAD(w1, i), xv, b0);               \
        }                                                                                                      \
        float s0 = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));                       \
        float s1 = hsum256(_mm256_add_ps(_mm256_add_ps(b0, b1), _mm256_add_ps(b2, b3)));                       \
        for (; i < n; i++) {                                                                                   \
            s0 = fma_ss(SCALAR(w0, i), x[i], s0);                                                              \
            s1 = fma_ss(SCALAR(w1, i), x[i], s1);                                                              \
        }                                                                                                      \
        out[0] = s0, out[1] = s1;                                                                              \
    }

static inline float sc_f16(const uint8_t *p, int64_t i) { return sqz_fp16_to_fp32(((const uint16_t *)(const void *)p)[i]); }
static inline float sc_bf16(const uint8_t *p, int64_t i) { return sqz_bf16_to_fp32(((const uint16_t *)(const void *)p)[i]); }
static inline float sc_f32(const uint8_t *p, int64_t i) { return ((const float *)(const void *)p)[i]; }

FLOAT_ROWS2(f16_rows2, ld_f16, 2, sc_f16)
FLOAT_ROWS2(bf16_rows2, ld_bf16, 2, sc_bf16)
FLOAT_ROWS2(f32_rows2, ld_f32, 4, sc_f32)

#define FLOAT_GEMV(NAME, ROWS2, DOT)                                                                          \
    void NAME(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x, float *out) {             \
        const uint8_t *wb = w;                                                                                 \
        int64_t r = 0;                                                                                         \
        for (; r + 2 <= nr; r += 2)                                                                            \
            ROWS2(n, wb + r * row_bytes, wb + (r + 1) * row_bytes, 2 * row_bytes, x, out + r);                 \
        for (; r < nr; r++)                                                                                    \
            DOT(n, wb + r * row_bytes, x, out + r);                                                            \
    }

FLOAT_GEMV(sqz_gemv_f16_avx2, f16_rows2, sqz_dot_f16_avx2)
FLOAT_GEMV(sqz_gemv_bf16_avx2, bf16_rows2, sqz_dot_bf16_avx2)
FLOAT_GEMV(sqz_gemv_f32_avx2, f32_rows2, sqz_dot_f32_avx2)

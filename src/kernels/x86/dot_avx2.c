// AVX2 + FMA + F16C dot kernels (compiled with -mavx2 -mfma -mf16c -ffp-contract=off; only called when CPUID says
// so). Each mirrors its scalar `_ref` in dot_ref.c; tests/kernels/test_dot.c holds the budgets.
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>

#include "kernels/kernels.h"
#include "kernels/x86/avx2_blocks.h"

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// a·b + c with one rounding. This file is compiled with -ffp-contract=off, so every fused operation
// is written out: the results are then fixed by the source (gemv_avx2.c must match them bit for bit).
static inline float fma_ss(float a, float b, float c) {
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}

static inline int hsum256_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

static inline void quant_row(const float *x, void *y, int64_t n, bool s_fp16) {
    block_q8a *b = y;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / QK8A; i++) {
        const float *xb = x + i * QK8A;
        __m256 v[4], m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(xb + 8 * k);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        float d = amax / 127.0f, id = d != 0.0f ? 127.0f / amax : 0.0f;
        __m256 vid = _mm256_set1_ps(id);
        __m256i q[4], sum = _mm256_setzero_si256();
        for (int k = 0; k < 4; k++) {
            __m256 r = _mm256_round_ps(_mm256_mul_ps(v[k], vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            q[k] = _mm256_cvtps_epi32(r);
            sum = _mm256_add_epi32(sum, q[k]);
        }
        // Pack 4x8 int32 → 32 int8; packs work per 128-bit lane, the permute restores order.
        __m256i p16a = _mm256_packs_epi32(q[0], q[1]), p16b = _mm256_packs_epi32(q[2], q[3]);
        __m256i p8 = _mm256_packs_epi16(p16a, p16b);
        p8 = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)b[i].qs, p8);
        b[i].d = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
        float fs = (float)hsum256_epi32(sum);
        b[i].s = s_fp16 ? _cvtsh_ss(_cvtss_sh(d * fs, _MM_FROUND_TO_NEAREST_INT)) : b[i].d * fs;
    }
}

void sqz_quant_row_q8a_avx2(const float *x, void *y, int64_t n) { quant_row(x, y, n, false); }
void sqz_quant_row_q8a1_avx2(const float *x, void *y, int64_t n) { quant_row(x, y, n, true); }

void sqz_dot_f32_avx2(int64_t n, const void *w, const void *x, float *out) {
    const float *a = w, *b = x;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8 * k), _mm256_loadu_ps(b + i + 8 * k), acc[k]);
    for (; i + 8 <= n; i += 8)
        acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc[0]);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++)
        s = fma_ss(a[i], b[i], s);
    *out = s;
}

static inline __m256 load_f16x8(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline __m256 load_bf16x8(const uint16_t *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

void sqz_dot_f16_avx2(int64_t n, const void *w, const void *x, float *out) {
    const uint16_t *a = w;
    const float *b = x;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(load_f16x8(a + i + 8 * k), _mm256_loadu_ps(b + i + 8 * k), acc[k]);
    for (; i + 8 <= n; i += 8)
        acc[0] = _mm256_fmadd_ps(load_f16x8(a + i), _mm256_loadu_ps(b + i), acc[0]);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++)
        s = fma_ss(sqz_fp16_to_fp32(a[i]), b[i], s);
    *out = s;
}

void sqz_dot_bf16_avx2(int64_t n, const void *w, const void *x, float *out) {
    const uint16_t *a = w;
    const float *b = x;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(load_bf16x8(a + i + 8 * k), _mm256_loadu_ps(b + i + 8 * k), acc[k]);
    for (; i + 8 <= n; i += 8)
        acc[0] = _mm256_fmadd_ps(load_bf16x8(a + i), _mm256_loadu_ps(b + i), acc[0]);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++)
        s = fma_ss(sqz_bf16_to_fp32(a[i]), b[i], s);
    *out = s;
}

// Σ u8·s8 over 32 pairs as 8 int32 lanes (maddubs pairs, then madd with ones).
static inline __m256i dot_u8s8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

void sqz_dot_q8_0_avx2(int64_t n, const void *w, const void *x, float *out) {
    const block_q8_0 *a = w;
    const block_q8a *b = x;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK8A; i++) {
        __m256i qw = _mm256_loadu_si256((const __m256i *)a[i].qs);
        __m256i qx = _mm256_loadu_si256((const __m256i *)b[i].qs);
        // |w| · (x with w's sign): maddubs needs an unsigned first operand.
        __m256i p = dot_u8s8(_mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qx, qw));
        __m256 d = _mm256_set1_ps(_cvtsh_ss(a[i].d) * b[i].d);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    *out = hsum256(acc);
}

void sqz_dot_q4_0_avx2(int64_t n, const void *w, const void *x, float *out) {
    const block_q4_0 *a = w;
    const block_q8a *b = x;
    __m256 acc = _mm256_setzero_ps();
    float zsum = 0.0f;
    for (int64_t i = 0; i < n / QK8A; i++) {
        float dw = _cvtsh_ss(a[i].d);
        __m256i p = dot_u8s8(sqz_unpack_q4(a[i].qs), _mm256_loadu_si256((const __m256i *)b[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dw * b[i].d), _mm256_cvtepi32_ps(p), acc);
        zsum = fma_ss(dw, b[i].s, zsum);
    }
    *out = hsum256(acc) - 8.0f * zsum;
}

void sqz_dot_q4_1_avx2(int64_t n, const void *w, const void *x, float *out) {
    const block_q4_1 *a = w;
    const block_q8a *b = x;
    __m256 acc = _mm256_setzero_ps();
    float msum = 0.0f;
    for (int64_t i = 0; i < n / QK8A; i++) {
        __m256i p = dot_u8s8(sqz_unpack_q4(a[i].qs), _mm256_loadu_si256((const __m256i *)b[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(a[i].d) * b[i].d), _mm256_cvtepi32_ps(p), acc);
        msum = fma_ss(_cvtsh_ss(a[i].m), b[i].s, msum);
    }
    *out = hsum256(acc) + msum;
}

// ---- vector ops (see kernels.h: the same instruction sequence as ggml's AVX2 code) ----------------
static inline __m256 expf8(__m256 x) {
    const __m256 shift = _mm256_set1_ps(0x1.8p23f);
    __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);
    __m256 n = _mm256_sub_ps(z, shift);
    __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
    __m256 an = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    __m256 c = _mm256_cmp_ps(an, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
    __m256 u = _mm256_mul_ps(b, b);
    __m256 p45 = _mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f));
    __m256 p23 = _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f));
    __m256 j = _mm256_fmadd_ps(_mm256_fmadd_ps(p45, u, p23), u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
    __m256 normal = _mm256_fmadd_ps(j, k, k);
    if (!_mm256_movemask_ps(c))
        return normal;
    // Large |n|: 2^n as s1·s2 so it neither overflows nor underflows early; beyond 192 saturate.
    __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                 _mm256_set1_epi32((int)0x82000000u));
    __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
    __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    __m256 d = _mm256_cmp_ps(an, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    __m256 scaled = _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1);
    __m256 r = _mm256_blendv_ps(normal, scaled, c);
    return _mm256_blendv_ps(r, _mm256_mul_ps(s1, s1), d);
}

static void silu_mul_avx2(int64_t n, float *g, const float *up) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i);
        __m256 e = expf8(_mm256_sub_ps(_mm256_setzero_ps(), x));
        __m256 s = _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * up[i];
}

static double softmax_exp_avx2(int64_t n, float *y, const float *x, float max) {
    double sum = 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = expf8(_mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(max)));
        _mm256_storeu_ps(y + i, v);
        __m128 h = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_movehdup_ps(h));
        sum += (double)_mm_cvtss_f32(h);
    }
    for (; i < n; i++)
        sum += (double)(y[i] = expf(x[i] - max));
    return sum;
}

static float dot_f32_ggml_avx2(int64_t n, const float *a, const float *b) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t np = n & ~(int64_t)31;
    for (int64_t i = 0; i < np; i += 32)
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8 * k), _mm256_loadu_ps(b + i + 8 * k), acc[k]);
    __m256 r = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(r), _mm256_extractf128_ps(r, 1));
    t = _mm_hadd_ps(t, t);
    t = _mm_hadd_ps(t, t);
    double s = (double)_mm_cvtss_f32(t);
    for (int64_t i = np; i < n; i++)
        s += (double)(a[i] * b[i]);
    return (float)s;
}

static float dot_f32_chain_avx2(int64_t n, const float *a, const float *b) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i + 8 <= n; i += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
    return hsum256(acc);
}

// dot_f32_ggml_avx2 on 8 columns at once, one per lane, for up to QG vectors sharing each load: for each
// lane l of the 4 accumulators k, the chain of FMAs over the steps of 32, then (a0+a2)+(a1+a3), the
// 128-bit halves (l, l+4), and the two horizontal adds ((t0+t1)+(t2+t3)) — the same operations per
// (column, vector). A tail (n % 32) per column, in double, as the dot.
#define QG2 3
// One tile of 8 columns against NQ vectors (NQ a compile-time constant after inlining: registers).
static inline __attribute__((always_inline)) void cols_tile8(int64_t n, const float *a, size_t stride, int64_t mleft,
                                                             const float *const *bq, float *const *oq, int NQ) {
    int64_t np = n & ~(int64_t)31;
    __m256 r[QG2][8];
    for (int l = 0; l < 8; l++) {
        __m256 acc[QG2][4];
        _Pragma("GCC unroll 3") for (int q = 0; q < NQ; q++)
            _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) acc[q][k] = _mm256_setzero_ps();
        for (int64_t i = 0; i < np; i += 32)
            _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
                __m256 av = _mm256_loadu_ps(a + (size_t)(i + 8 * k + l) * stride);
                _Pragma("GCC unroll 3") for (int q = 0; q < NQ; q++)
                    acc[q][k] = _mm256_fmadd_ps(av, _mm256_broadcast_ss(bq[q] + i + 8 * k + l), acc[q][k]);
            }
        _Pragma("GCC unroll 3") for (int q = 0; q < NQ; q++)
            r[q][l] = _mm256_add_ps(_mm256_add_ps(acc[q][0], acc[q][2]), _mm256_add_ps(acc[q][1], acc[q][3]));
    }
    for (int q = 0; q < NQ; q++) {
        __m256 t[4];
        for (int l = 0; l < 4; l++)
            t[l] = _mm256_add_ps(r[q][l], r[q][l + 4]);
        __m256 s = _mm256_add_ps(_mm256_add_ps(t[0], t[1]), _mm256_add_ps(t[2], t[3]));
        float v[8];
        _mm256_storeu_ps(v, s);
        for (int c = 0; c < 8 && c < mleft; c++) {
            double d = (double)v[c];
            for (int64_t i = np; i < n; i++)
                d += (double)(a[(size_t)i * stride + (size_t)c] * bq[q][i]);
            oq[q][c] = (float)d;
        }
    }
}

static void dot_f32_cols_avx2(int64_t n, const float *at, size_t stride, int64_t m, const float *b, size_t ldb, int nq,
                              float *out, size_t ldo) {
    for (int q0 = 0; q0 < nq; q0 += QG2) {
        int nqg = nq - q0 < QG2 ? nq - q0 : QG2;
        for (int64_t p0 = 0; p0 < m; p0 += 8) {
            const float *bq[QG2];
            float *oq[QG2];
            for (int q = 0; q < nqg; q++)
                bq[q] = b + (size_t)(q0 + q) * ldb, oq[q] = out + (size_t)(q0 + q) * ldo + (size_t)p0;
            switch (nqg) {
            case 1: cols_tile8(n, at + p0, stride, m - p0, bq, oq, 1); break;
            case 2: cols_tile8(n, at + p0, stride, m - p0, bq, oq, 2); break;
            default: cols_tile8(n, at + p0, stride, m - p0, bq, oq, 3); break;
            }
        }
    }
}

// dot_f32_chain_avx2 for one row against NQ vectors (compile-time after inlining), the row's loads shared.
static inline __attribute__((always_inline)) void chain_row8(int64_t n, const float *ar, const float *const *xq,
                                                             float *const *oq, int NQ) {
    __m256 acc[4];
    _Pragma("GCC unroll 4") for (int q = 0; q < NQ; q++) acc[q] = _mm256_setzero_ps();
    for (int64_t i = 0; i + 8 <= n; i += 8) {
        __m256 av = _mm256_loadu_ps(ar + i);
        _Pragma("GCC unroll 4") for (int q = 0; q < NQ; q++) acc[q] = _mm256_fmadd_ps(av, _mm256_loadu_ps(xq[q] + i), acc[q]);
    }
    _Pragma("GCC unroll 4") for (int q = 0; q < NQ; q++) * oq[q] = hsum256(acc[q]);
}

static void dot_f32_chain_rows_avx2(int64_t n, const float *a, size_t stride, int64_t m, const float *x, size_t ldx,
                                    int nq, float *out, size_t ldo) {
    for (int q0 = 0; q0 < nq; q0 += 4) {
        int nqg = nq - q0 < 4 ? nq - q0 : 4;
        const float *xq[4];
        for (int q = 0; q < nqg; q++)
            xq[q] = x + (size_t)(q0 + q) * ldx;
        for (int64_t r = 0; r < m; r++) {
            float *oq[4];
            for (int q = 0; q < nqg; q++)
                oq[q] = out + (size_t)(q0 + q) * ldo + (size_t)r;
            const float *ar = a + (size_t)r * stride;
            switch (nqg) {
            case 1: chain_row8(n, ar, xq, oq, 1); break;
            case 2: chain_row8(n, ar, xq, oq, 2); break;
            case 3: chain_row8(n, ar, xq, oq, 3); break;
            default: chain_row8(n, ar, xq, oq, 4); break;
            }
        }
    }
}

// The AVX2 order has no sequential tail for the lengths attention uses (multiples of 32): row by row.
static void dot_f32_rows_avx2(int64_t n, const float *a, size_t stride, int64_t m, const float *x, size_t ldx, int nq,
                              float *out, size_t ldo) {
    for (int q = 0; q < nq; q++)
        for (int64_t i = 0; i < m; i++)
            out[(size_t)q * ldo + (size_t)i] = dot_f32_ggml_avx2(n, a + (size_t)i * stride, x + (size_t)q * ldx);
}

const sqz_vec_ops sqz_vec_ops_avx2 = {silu_mul_avx2, softmax_exp_avx2, dot_f32_ggml_avx2, dot_f32_chain_avx2,
                                      dot_f32_cols_avx2, dot_f32_chain_rows_avx2, dot_f32_rows_avx2, 8};

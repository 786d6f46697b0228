// AVX-512 dot kernels (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mf16c -mfma;
// only called when CPUID says so). Float types use 512-bit FMAs; block types use VNNI's
// vpdpbusd (u8·s8 → i32 in one instruction) on 256-bit halves, one 32-element block at a time.
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "kernels/x86/avx2_blocks.h"

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
        __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), sqz_unpack_q4(a[i].qs),
                                        _mm256_loadu_si256((const __m256i *)b[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dw * b[i].d), _mm256_cvtepi32_ps(p), acc);
        zsum = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(dw), _mm_set_ss(b[i].s), _mm_set_ss(zsum)));
    }
    *out = hsum256(acc) - 8.0f * zsum;
}

void sqz_dot_q4_1_avx512vnni(int64_t n, const void *w, const void *x, float *out) {
    const block_q4_1 *a = w;
    const block_q8a *b = x;
    __m256 acc = _mm256_setzero_ps();
    float msum = 0.0f;
    for (int64_t i = 0; i < n / QK8A; i++) {
        __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), sqz_unpack_q4(a[i].qs),
                                        _mm256_loadu_si256((const __m256i *)b[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(a[i].d) * b[i].d), _mm256_cvtepi32_ps(p), acc);
        msum = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(_cvtsh_ss(a[i].m)), _mm_set_ss(b[i].s), _mm_set_ss(msum)));
    }
    *out = hsum256(acc) + msum;
}

// ---- vector ops in ggml's AVX-512 order ---------------------------------------------------------------
// llama.cpp built for a CPU with AVX-512F+DQ (GGML_NATIVE, the PyPI llama-cpp-python build) takes its
// AVX-512 paths for these ops, which round differently from its AVX2 ones: a 16-lane exp that ends in
// vscalefps, softmax and SwiGLU in 16-lane chunks, vec_dot_f32 over steps of 64 (4 accumulators of 16),
// and llamafile's tinyBLAS with 16-lane chains. Same contract as sqz_vec_ops_avx2 (kernels.h).

// Horizontal sum in the order GCC's _mm512_reduce_add_ps uses (what ggml is compiled with): the 256-bit
// halves, then the 128-bit halves, then lanes (0+2)+(1+3). Spelled out so another compiler gives the same.
static inline float reduce16(__m512 v) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    __m128 p = _mm_add_ps(q, _mm_shuffle_ps(q, q, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtss_f32(_mm_add_ss(p, _mm_shuffle_ps(p, p, _MM_SHUFFLE(1, 1, 1, 1))));
}

// exp(x), 16 lanes: ggml's AVX-512 ggml_v_expf (the Arm optimized-routines polynomial, 2^n by scalef).
static inline __m512 expf16(__m512 x) {
    const __m512 shift = _mm512_set1_ps(0x1.8p23f);
    __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), shift);
    __m512 n = _mm512_sub_ps(z, shift);
    __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f), _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    __mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192.0f), _CMP_GT_OQ);
    __m512 u = _mm512_mul_ps(b, b);
    __m512 p45 = _mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f));
    __m512 p23 = _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f));
    __m512 p01 = _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f));
    __m512 j = _mm512_fmadd_ps(_mm512_fmadd_ps(p45, u, p23), u, p01);
    __m512 r = _mm512_scalef_ps(j, n);
    if (!big)
        return r;
    // |n| > 192: +inf above, 0 below (n ≤ 0)
    __m512 sat = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ), _mm512_set1_ps(INFINITY),
                                      _mm512_setzero_ps());
    return _mm512_mask_blend_ps(big, r, sat);
}

static void silu_mul_avx512(int64_t n, float *g, const float *up) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(g + i);
        __m512 e = expf16(_mm512_sub_ps(_mm512_setzero_ps(), x));
        __m512 s = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
        _mm512_storeu_ps(g + i, _mm512_mul_ps(s, _mm512_loadu_ps(up + i)));
    }
    for (; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * up[i];
}

static double softmax_exp_avx512(int64_t n, float *y, const float *x, float max) {
    double sum = 0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = expf16(_mm512_sub_ps(_mm512_loadu_ps(x + i), _mm512_set1_ps(max)));
        _mm512_storeu_ps(y + i, v);
        sum += (double)reduce16(v);
    }
    for (; i < n; i++)
        sum += (double)(y[i] = expf(x[i] - max));
    return sum;
}

// ggml_vec_dot_f32: 4 accumulators of 16 lanes over steps of 64, reduced (a0+a2)+(a1+a3), then the
// leftovers added in order to the float sum — as GCC compiles ggml's loop: whole 8s multiplied
// unfused (vectorized products, in-order adds), the rest fused.
// Its two parts: the chains over [0, np) reduced (np a multiple of 64), and the leftovers added to s.
static inline float ggml_chains(int64_t np, const float *a, const float *b) {
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t k = 0; k < np; k += 64)
#pragma GCC unroll 4 // (not unrolled, acc[] lives on the stack and every FMA waits on a store-forward)
        for (int j = 0; j < 4; j++)
            acc[j] = _mm512_fmadd_ps(_mm512_loadu_ps(a + k + 16 * j), _mm512_loadu_ps(b + k + 16 * j), acc[j]);
    return reduce16(_mm512_add_ps(_mm512_add_ps(acc[0], acc[2]), _mm512_add_ps(acc[1], acc[3])));
}
static inline float ggml_leftovers(int64_t np, int64_t n, const float *a, const float *b, float s) {
    int64_t i = np;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            s += a[i + j] * b[i + j]; // not contracted (this file is compiled with -ffp-contract=off)
    for (; i < n; i++)
        s = _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a[i]), _mm_set_ss(b[i]), _mm_set_ss(s)));
    return s;
}

static float dot_f32_ggml_avx512(int64_t n, const float *a, const float *b) {
    int64_t np = n & ~(int64_t)63;
    return ggml_leftovers(np, n, a, b, ggml_chains(np, a, b));
}

// tinyBLAS (F32, 16 lanes): one fused chain per output over n (a multiple of 16), then reduce16.
static float dot_f32_chain_avx512(int64_t n, const float *a, const float *b) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i + 16 <= n; i += 16)
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
    return reduce16(acc);
}

// dot_f32_ggml_avx512 on 16 columns at once, one per lane, for up to QG vectors sharing each load: per
// lane l of the 4 accumulators j, the FMA chain over steps of 64, (a0+a2)+(a1+a3), then reduce16's tree
// (l, l+8), (l, l+4), (0+2)+(1+3); the leftovers in order (whole 8s unfused, the rest fused) — the same
// operations per (column, vector).
#define QG 6
// One tile of 16 columns against NQ vectors (NQ a compile-time constant after inlining: registers).
static inline __attribute__((always_inline)) void cols_tile16(int64_t n, const float *a, size_t stride, int64_t mleft,
                                                              const float *const *bq, float *const *oq, int NQ) {
    int64_t np = n & ~(int64_t)63, nu = np + ((n - np) & ~(int64_t)7);
    __m512 r[QG][16];
    for (int l = 0; l < 16; l++) {
        __m512 acc[QG][4];
        _Pragma("GCC unroll 6") for (int q = 0; q < NQ; q++)
            _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) acc[q][j] = _mm512_setzero_ps();
        for (int64_t i = 0; i < np; i += 64)
            _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
                __m512 av = _mm512_loadu_ps(a + (size_t)(i + 16 * j + l) * stride);
                _Pragma("GCC unroll 6") for (int q = 0; q < NQ; q++)
                    acc[q][j] = _mm512_fmadd_ps(av, _mm512_set1_ps(bq[q][i + 16 * j + l]), acc[q][j]);
            }
        _Pragma("GCC unroll 6") for (int q = 0; q < NQ; q++)
            r[q][l] = _mm512_add_ps(_mm512_add_ps(acc[q][0], acc[q][2]), _mm512_add_ps(acc[q][1], acc[q][3]));
    }
    for (int q = 0; q < NQ; q++) {
        __m512 h[8], g[4];
        for (int k = 0; k < 8; k++)
            h[k] = _mm512_add_ps(r[q][k], r[q][k + 8]);
        for (int k = 0; k < 4; k++)
            g[k] = _mm512_add_ps(h[k], h[k + 4]);
        __m512 s = _mm512_add_ps(_mm512_add_ps(g[0], g[2]), _mm512_add_ps(g[1], g[3]));
        int64_t i = np;
        for (; i < nu; i++) // leftovers, as dot_f32_ggml_avx512: whole 8s unfused, the rest fused
            s = _mm512_add_ps(s, _mm512_mul_ps(_mm512_loadu_ps(a + (size_t)i * stride), _mm512_set1_ps(bq[q][i])));
        for (; i < n; i++)
            s = _mm512_fmadd_ps(_mm512_loadu_ps(a + (size_t)i * stride), _mm512_set1_ps(bq[q][i]), s);
        if (mleft >= 16)
            _mm512_storeu_ps(oq[q], s);
        else
            _mm512_mask_storeu_ps(oq[q], (__mmask16)((1u << mleft) - 1), s);
    }
}

static void dot_f32_cols_avx512(int64_t n, const float *at, size_t stride, int64_t m, const float *b, size_t ldb,
                                int nq, float *out, size_t ldo) {
    for (int q0 = 0; q0 < nq; q0 += QG) {
        int nqg = nq - q0 < QG ? nq - q0 : QG;
        for (int64_t p0 = 0; p0 < m; p0 += 16) {
            const float *bq[QG];
            float *oq[QG];
            for (int q = 0; q < nqg; q++)
                bq[q] = b + (size_t)(q0 + q) * ldb, oq[q] = out + (size_t)(q0 + q) * ldo + (size_t)p0;
            const float *a = at + p0;
            switch (nqg) {
            case 1: cols_tile16(n, a, stride, m - p0, bq, oq, 1); break;
            case 2: cols_tile16(n, a, stride, m - p0, bq, oq, 2); break;
            case 3: cols_tile16(n, a, stride, m - p0, bq, oq, 3); break;
            case 4: cols_tile16(n, a, stride, m - p0, bq, oq, 4); break;
            case 5: cols_tile16(n, a, stride, m - p0, bq, oq, 5); break;
            default: cols_tile16(n, a, stride, m - p0, bq, oq, 6); break;
            }
        }
    }
}

// dot_f32_chain_avx512 for one row against NQ vectors (compile-time after inlining), the row's loads shared.
static inline __attribute__((always_inline)) void chain_row16(int64_t n, const float *ar, const float *const *xq,
                                                              float *const *oq, int NQ) {
    __m512 acc[8];
    _Pragma("GCC unroll 8") for (int q = 0; q < NQ; q++) acc[q] = _mm512_setzero_ps();
    for (int64_t i = 0; i + 16 <= n; i += 16) {
        __m512 av = _mm512_loadu_ps(ar + i);
        _Pragma("GCC unroll 8") for (int q = 0; q < NQ; q++) acc[q] = _mm512_fmadd_ps(av, _mm512_loadu_ps(xq[q] + i), acc[q]);
    }
    _Pragma("GCC unroll 8") for (int q = 0; q < NQ; q++) * oq[q] = reduce16(acc[q]);
}

static void dot_f32_chain_rows_avx512(int64_t n, const float *a, size_t stride, int64_t m, const float *x, size_t ldx,
                                      int nq, float *out, size_t ldo) {
    for (int q0 = 0; q0 < nq; q0 += 8) {
        int nqg = nq - q0 < 8 ? nq - q0 : 8;
        const float *xq[8];
        for (int q = 0; q < nqg; q++)
            xq[q] = x + (size_t)(q0 + q) * ldx;
        for (int64_t r = 0; r < m; r++) {
            float *oq[8];
            for (int q = 0; q < nqg; q++)
                oq[q] = out + (size_t)(q0 + q) * ldo + (size_t)r;
            const float *ar = a + (size_t)r * stride;
            switch (nqg) {
            case 1: chain_row16(n, ar, xq, oq, 1); break;
            case 2: chain_row16(n, ar, xq, oq, 2); break;
            case 3: chain_row16(n, ar, xq, oq, 3); break;
            case 4: chain_row16(n, ar, xq, oq, 4); break;
            case 5: chain_row16(n, ar, xq, oq, 5); break;
            case 6: chain_row16(n, ar, xq, oq, 6); break;
            case 7: chain_row16(n, ar, xq, oq, 7); break;
            default: chain_row16(n, ar, xq, oq, 8); break;
            }
        }
    }
}

// dot_f32_ggml_avx512 on rows i < m against nq vectors: per (row, vector) the same 4-accumulator FMA
// chains and reduce16; then the leftovers of 16 rows at once, one lane per row (each lane's adds in the
// same order as the scalar loop: whole 8s unfused, the rest fused), each gathered column of the 16 rows
// used for up to RQ vectors.
#define RQ 8
// The leftovers [np, n) of 16 rows (lanes km) for NQ vectors, added to the partial sums s[q][row], stored
// to out[q·ldo + row]; base = the first row (stride in idx), or NULL when s already holds whole dots.
static inline __attribute__((always_inline)) void rows_tail16(const float (*s)[16], __mmask16 km, const float *base,
                                                              __m512i idx, int64_t np, int64_t nu, int64_t n,
                                                              const float *x, size_t ldx, float *out, size_t ldo,
                                                              int NQ) {
    __m512 sv[RQ];
    _Pragma("GCC unroll 8") for (int q = 0; q < NQ; q++) sv[q] = _mm512_maskz_load_ps(km, s[q]);
    if (base) {
        int64_t i = np;
        for (; i < nu; i++) {
            __m512 col = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), km, idx, base + i, 4);
            _Pragma("GCC unroll 8") for (int q = 0; q < NQ; q++) sv[q] =
                _mm512_add_ps(sv[q], _mm512_mul_ps(col, _mm512_set1_ps(x[(size_t)q * ldx + i])));
        }
        for (; i < n; i++) {
            __m512 col = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), km, idx, base + i, 4);
            _Pragma("GCC unroll 8") for (int q = 0; q < NQ; q++) sv[q] =
                _mm512_fmadd_ps(col, _mm512_set1_ps(x[(size_t)q * ldx + i]), sv[q]);
        }
    }
    _Pragma("GCC unroll 8") for (int q = 0; q < NQ; q++) _mm512_mask_storeu_ps(out + (size_t)q * ldo, km, sv[q]);
}

static void dot_f32_rows_avx512(int64_t n, const float *a, size_t stride, int64_t m, const float *x, size_t ldx,
                                int nq, float *out, size_t ldo) {
    int64_t np = n & ~(int64_t)63, nu = np + ((n - np) & ~(int64_t)7);
    bool gather = np < n && stride <= (size_t)INT32_MAX / 16;
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32((int)(gather ? stride : 0)));
    for (int q0 = 0; q0 < nq; q0 += RQ) {
        int nqg = nq - q0 < RQ ? nq - q0 : RQ;
        for (int64_t r0 = 0; r0 < m; r0 += 16) {
            int mr = m - r0 < 16 ? (int)(m - r0) : 16;
            _Alignas(64) float s[RQ][16];
            for (int q = 0; q < nqg; q++) {
                const float *b = x + (size_t)(q0 + q) * ldx;
                for (int k = 0; k < mr; k++) {
                    const float *ar = a + (size_t)(r0 + k) * stride;
                    float t = ggml_chains(np, ar, b);
                    s[q][k] = gather ? t : ggml_leftovers(np, n, ar, b, t); // else the 16 rows' tails below
                }
            }
            __mmask16 km = (__mmask16)((1u << mr) - 1);
            const float *xq = x + (size_t)q0 * ldx;
            float *oq = out + (size_t)q0 * ldo + r0;
            const float *base = gather ? a + (size_t)r0 * stride : NULL;
            switch (nqg) {
            case 1: rows_tail16(s, km, base, idx, np, nu, n, xq, ldx, oq, ldo, 1); break;
            case 2: rows_tail16(s, km, base, idx, np, nu, n, xq, ldx, oq, ldo, 2); break;
            case 3: rows_tail16(s, km, base, idx, np, nu, n, xq, ldx, oq, ldo, 3); break;
            case 4: rows_tail16(s, km, base, idx, np, nu, n, xq, ldx, oq, ldo, 4); break;
            case 5: rows_tail16(s, km, base, idx, np, nu, n, xq, ldx, oq, ldo, 5); break;
            case 6: rows_tail16(s, km, base, idx, np, nu, n, xq, ldx, oq, ldo, 6); break;
            case 7: rows_tail16(s, km, base, idx, np, nu, n, xq, ldx, oq, ldo, 7); break;
            default: rows_tail16(s, km, base, idx, np, nu, n, xq, ldx, oq, ldo, 8); break;
            }
        }
    }
}

const sqz_vec_ops sqz_vec_ops_avx512 = {silu_mul_avx512, softmax_exp_avx512, dot_f32_ggml_avx512, dot_f32_chain_avx512,
                                        dot_f32_cols_avx512, dot_f32_chain_rows_avx512, dot_f32_rows_avx512, 16};

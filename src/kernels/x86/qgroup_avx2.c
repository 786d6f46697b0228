// AVX2 + FMA + F16C grouped-int GEMM (layout and semantics in kernels/qgroup.h; the budget against
// sqz_qgroup_gemm_ref is in tests/kernels/test_qgroup.c). Per row, each 32-column weight block is
// unpacked once (int4: one load, optional shift, one mask) and dotted with up to 4 tokens.
//   int4: maddubs(codes 0..15, qs) pairs ≤ 2·15·127, no int16 saturation.
//   int8: ggml's sign trick, maddubs(|c|, sign(qs, c)): |c| ≤ 128, pairs ≤ 2·128·127 < 32767.
// Block sums go to float lanes scaled by d·scale; the zero-point term (scale·zero)·s is scalar.
#include <immintrin.h>
#include <stdbool.h>

#include "kernels/qgroup.h"

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// The 32 codes of block b of an int4 row (nfull: blocks in full 64-column chunks).
static inline __m256i w4_block(const uint8_t *row, int64_t b, int64_t nfull) {
    const __m256i m4 = _mm256_set1_epi8(15);
    if (b < nfull) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(row + 32 * (b / 2)));
        return _mm256_and_si256(b & 1 ? _mm256_srli_epi16(v, 4) : v, m4);
    }
    __m128i t = _mm_loadu_si128((const __m128i *)(row + 16 * b)); // 32-column tail (b even)
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), m4);
}

// 8 int32 lanes of Σ w·x over one block (w unsigned 0..15 or signed int8).
static inline __m256i block_dot(__m256i w, __m256i x, int bits) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i p = bits == 4 ? _mm256_maddubs_epi16(w, x)
                          : _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(p, ones);
}

// Σ_{b∈g} s_b per (token, group): the zero-point term of a group is then one multiply per row.
#define MAX_GROUPS 1024

// Row o against NT tokens (NT a compile-time constant after inlining). Per group: block sums scaled by
// the activation scale d_b into gacc (for 1-2 tokens two chains, even and odd blocks, to hide the FMA
// latency; for 3-4 one, so the accumulators fit the 16 registers), then acc += scale·gacc and
// corr += scale·zero·S[t][g]. int4 groups of an even number of blocks take both halves of each
// 32-byte load (one load, one shift, two masks per 64 columns).
static inline __attribute__((always_inline)) void row_tile(const sqz_qgroup *w, int64_t o, const block_q8a *const *xt,
                                                           const float (*S)[MAX_GROUPS], float *const *yt, int NT) {
    const __m256i m4 = _mm256_set1_epi8(15);
    const uint8_t *row = w->codes + (size_t)o * w->row;
    const uint16_t *sc = w->scales + o * w->n_groups;
    const int16_t *zp = w->zeros + o * w->n_groups;
    int64_t nfull = (w->n_in / 64) * 2, bpg = w->group / QK8A;
    bool pairs = w->bits == 4 && bpg % 2 == 0;
    __m256 acc[4];
    float corr[4] = {0};
    _Pragma("GCC unroll 4")
    for (int t = 0; t < NT; t++)
        acc[t] = _mm256_setzero_ps();
    for (int64_t g = 0; g < w->n_groups; g++) {
        const int odd = NT <= 2; // chain of odd blocks: 1 (second chain) or 0 (same chain)
        __m256 gacc[4][2];
        _Pragma("GCC unroll 4")
        for (int t = 0; t < NT; t++)
            gacc[t][0] = gacc[t][1] = _mm256_setzero_ps();
        int64_t b0 = g * bpg, b1 = b0 + bpg;
        if (pairs)
            for (int64_t b = b0; b < b1; b += 2) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(row + 16 * b));
                __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                _Pragma("GCC unroll 4")
                for (int t = 0; t < NT; t++) {
                    const block_q8a *xb = &xt[t][b];
                    __m256i s0 = block_dot(lo, _mm256_loadu_si256((const __m256i *)xb[0].qs), 4);
                    __m256i s1 = block_dot(hi, _mm256_loadu_si256((const __m256i *)xb[1].qs), 4);
                    gacc[t][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), _mm256_broadcast_ss(&xb[0].d), gacc[t][0]);
                    gacc[t][odd] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1), _mm256_broadcast_ss(&xb[1].d), gacc[t][odd]);
                }
            }
        else
            for (int64_t b = b0; b < b1; b++) {
                __m256i wb = w->bits == 4 ? w4_block(row, b, nfull) : _mm256_loadu_si256((const __m256i *)(row + 32 * b));
                _Pragma("GCC unroll 4")
                for (int t = 0; t < NT; t++) {
                    const block_q8a *xb = &xt[t][b];
                    __m256i s = block_dot(wb, _mm256_loadu_si256((const __m256i *)xb->qs), w->bits);
                    gacc[t][b & odd] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_broadcast_ss(&xb->d), gacc[t][b & odd]);
                }
            }
        float f = _cvtsh_ss(sc[g]), zf = f * (float)zp[g];
        _Pragma("GCC unroll 4")
        for (int t = 0; t < NT; t++) {
            acc[t] = _mm256_fmadd_ps(_mm256_add_ps(gacc[t][0], gacc[t][1]), _mm256_set1_ps(f), acc[t]);
            corr[t] += zf * S[t][g];
        }
    }
    _Pragma("GCC unroll 4")
    for (int t = 0; t < NT; t++)
        yt[t][o] = hsum256(acc[t]) - corr[t];
}

// Rows in tiles of 16 (their codes stay in L1/L2) × tokens in tiles of 4 (accumulators in registers).
// More than MAX_GROUPS groups: the reference (no such layer in any supported model).
void sqz_qgroup_gemm_avx2(const sqz_qgroup *w, const block_q8a *x, size_t x_stride, int64_t n, float *y, int64_t ldy,
                          int64_t r0, int64_t r1) {
    if (w->n_groups > MAX_GROUPS) {
        sqz_qgroup_gemm_ref(w, x, x_stride, n, y, ldy, r0, r1);
        return;
    }
    int64_t bpg = w->group / QK8A;
    float S[4][MAX_GROUPS];
    for (int64_t o0 = r0; o0 < r1; o0 += 16) {
        int64_t o1 = o0 + 16 < r1 ? o0 + 16 : r1;
        for (int64_t t0 = 0; t0 < n; t0 += 4) {
            int nt = n - t0 < 4 ? (int)(n - t0) : 4;
            const block_q8a *xt[4];
            float *yt[4];
            for (int t = 0; t < nt; t++) {
                xt[t] = (const block_q8a *)((const uint8_t *)x + (size_t)(t0 + t) * x_stride);
                yt[t] = y + (t0 + t) * ldy;
                for (int64_t g = 0; g < w->n_groups; g++) {
                    float sum = 0.0f;
                    for (int64_t b = g * bpg; b < (g + 1) * bpg; b++)
                        sum += xt[t][b].s;
                    S[t][g] = sum;
                }
            }
            for (int64_t o = o0; o < o1; o++) {
                switch (nt) {
                case 1: row_tile(w, o, xt, S, yt, 1); break;
                case 2: row_tile(w, o, xt, S, yt, 2); break;
                case 3: row_tile(w, o, xt, S, yt, 3); break;
                default: row_tile(w, o, xt, S, yt, 4); break;
                }
            }
        }
    }
}

// AVX-512 (F/BW/VL + VNNI) grouped-int GEMM (layout and semantics in kernels/qgroup.h). Two blocks
// of 32 columns per 512-bit step: int4 codes of one 64-column chunk unpack into [low | high] nibbles,
// int8 codes are the 64 bytes of the two blocks. vpdpbusd multiplies unsigned weights by signed
// activations into int32 without int16 saturation, so int8 codes are made unsigned (c ^ 0x80 =
// c + 128) and the zero point grows by 128 to match: Σ(c − z')·x = Σ(c+128)·x − (z'+128)·Σx.
// A last odd block uses the 256-bit forms. Written to mirror the AVX2 kernel; tested against the
// reference on CPUs that have VNNI (tests/kernels/test_qgroup.c skips it elsewhere).
#include <immintrin.h>

#include "kernels/qgroup.h"

// Scale and scale·zero of consecutive blocks, walking groups of bpg blocks.
typedef struct {
    const uint16_t *sc;
    const int16_t *zp;
    int64_t bpg, in_g, g;
    float zbias; // 128 for int8 (unsigned codes), else 0
} group_walk;

static inline void next_block(group_walk *gw, float *f, float *zf) {
    *f = _cvtsh_ss(gw->sc[gw->g]);
    *zf = *f * ((float)gw->zp[gw->g] + gw->zbias);
    if (++gw->in_g == gw->bpg)
        gw->in_g = 0, gw->g++;
}

// [lo | hi] from two 8-float halves (AVX-512F only; insertf32x8 would need DQ).
static inline __m512 join_ps(__m256 lo, __m256 hi) {
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi), 1));
}

static inline __m512i load_x2(const block_q8a *xb) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)xb[0].qs)),
                              _mm256_loadu_si256((const __m256i *)xb[1].qs), 1);
}

// Weights of blocks 2c, 2c+1 as unsigned bytes.
static inline __m512i w_pair(const sqz_qgroup *w, const uint8_t *row, int64_t c) {
    if (w->bits == 4) {
        const __m256i m4 = _mm256_set1_epi8(15);
        __m256i v = _mm256_loadu_si256((const __m256i *)(row + 32 * c));
        return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(v, m4)),
                                  _mm256_and_si256(_mm256_srli_epi16(v, 4), m4), 1);
    }
    return _mm512_xor_si512(_mm512_loadu_si512(row + 64 * c), _mm512_set1_epi8((char)0x80));
}

// Weights of a last single block b (int4: the 32-column tail; int8: 32 bytes) as unsigned bytes.
static inline __m256i w_single(const sqz_qgroup *w, const uint8_t *row, int64_t b) {
    if (w->bits == 4) {
        __m128i t = _mm_loadu_si128((const __m128i *)(row + 16 * b));
        return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(15));
    }
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(row + 32 * b)), _mm256_set1_epi8((char)0x80));
}

static inline __attribute__((always_inline)) void row_tile(const sqz_qgroup *w, int64_t o,
                                                           const block_q8a *const *xt, float *const *yt, int NT) {
    const uint8_t *row = w->codes + (size_t)o * w->row;
    group_walk gw = {w->scales + o * w->n_groups, w->zeros + o * w->n_groups, w->group / QK8A, 0, 0,
                     w->bits == 8 ? 128.0f : 0.0f};
    int64_t nb = w->n_in / QK8A;
    __m512 acc[4];
    float corr[4] = {0};
    _Pragma("GCC unroll 4")
    for (int t = 0; t < NT; t++)
        acc[t] = _mm512_setzero_ps();
    for (int64_t c = 0; c < nb / 2; c++) {
        float f0, zf0, f1, zf1;
        next_block(&gw, &f0, &zf0);
        next_block(&gw, &f1, &zf1);
        __m512i wp = w_pair(w, row, c);
        _Pragma("GCC unroll 4")
        for (int t = 0; t < NT; t++) {
            const block_q8a *xb = &xt[t][2 * c];
            __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wp, load_x2(xb));
            __m512 m = join_ps(_mm256_set1_ps(xb[0].d * f0), _mm256_set1_ps(xb[1].d * f1));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), m, acc[t]);
            corr[t] += zf0 * xb[0].s + zf1 * xb[1].s;
        }
    }
    if (nb & 1) {
        float f, zf;
        next_block(&gw, &f, &zf);
        __m256i ws = w_single(w, row, nb - 1);
        _Pragma("GCC unroll 4")
        for (int t = 0; t < NT; t++) {
            const block_q8a *xb = &xt[t][nb - 1];
            __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ws, _mm256_loadu_si256((const __m256i *)xb->qs));
            __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(xb->d * f));
            acc[t] = _mm512_add_ps(acc[t], join_ps(v, _mm256_setzero_ps()));
            corr[t] += zf * xb->s;
        }
    }
    _Pragma("GCC unroll 4")
    for (int t = 0; t < NT; t++)
        yt[t][o] = _mm512_reduce_add_ps(acc[t]) - corr[t];
}

void sqz_qgroup_gemm_avx512(const sqz_qgroup *w, const block_q8a *x, size_t x_stride, int64_t n, float *y,
                            int64_t ldy, int64_t r0, int64_t r1) {
    for (int64_t o0 = r0; o0 < r1; o0 += 16) {
        int64_t o1 = o0 + 16 < r1 ? o0 + 16 : r1;
        for (int64_t t0 = 0; t0 < n; t0 += 4) {
            int nt = n - t0 < 4 ? (int)(n - t0) : 4;
            const block_q8a *xt[4];
            float *yt[4];
            for (int t = 0; t < nt; t++) {
                xt[t] = (const block_q8a *)((const uint8_t *)x + (size_t)(t0 + t) * x_stride);
                yt[t] = y + (t0 + t) * ldy;
            }
            for (int64_t o = o0; o < o1; o++) {
                switch (nt) {
                case 1: row_tile(w, o, xt, yt, 1); break;
                case 2: row_tile(w, o, xt, yt, 2); break;
                case 3: row_tile(w, o, xt, yt, 3); break;
                default: row_tile(w, o, xt, yt, 4); break;
                }
            }
        }
    }
}

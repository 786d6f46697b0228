// AVX-512 multi-row dot kernels for decode (one activation row against a run of weight rows). Every
// output is bit-identical to the AVX-512 tier's single-row kernel (dot_avx512.c) on that row: each
// float lane below performs exactly the operations one lane of the single-row kernel performs, in the
// same order (tests/kernels/test_dot.c memcmps them). What changes is the packing and the schedule:
//   - block types: a row's 8-lane accumulator (lane = an int32 sum of 4 products, scaled and added
//     per 32-block in block order) is spread over 512-bit registers holding 4 rows, so one vpdpbusd,
//     vcvtdq2ps or vfmadd serves 2 or 4 rows; 8 rows per step share the activation loads and have
//     their fp16 scales packed in general-purpose registers and converted by one vcvtph2ps;
//   - float types: 4 rows per step, each with the single-row kernel's two 16-lane chains, so one
//     activation load serves 4 rows and 8 FMA chains overlap;
//   - the rows of the next step are prefetched while the current ones are computed: the hardware
//     prefetchers do not follow several interleaved short rows (n_in 576: 324-byte Q4_0 rows).
// Compiled with -mavx512f/bw/vl/dq/vnni -mf16c -mfma -ffp-contract=off (every fused op is explicit, as
// in dot_avx512.c); called only when CPUID says so.
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "kernels/gemv.h"

static inline uint64_t ld16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static inline __m128i ld128(const void *p) {
    return _mm_loadu_si128((const __m128i *)p);
}

// The fp16 at p in rows 0-3 (rb bytes apart) as four fp32 lanes: the halves are packed in a
// general-purpose register (integer loads, shifts and ors keep the vector ports free) and moved
// over with one vmovq. scales8: rows 0-7, eight lanes.
static inline uint64_t pack4(const uint8_t *p, size_t rb) {
    return ld16(p) | ld16(p + rb) << 16 | ld16(p + 2 * rb) << 32 | ld16(p + 3 * rb) << 48;
}
static inline __m256 scales4(const uint8_t *p, size_t rb) {
    return _mm256_zextps128_ps256(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)pack4(p, rb))));
}
static inline __m256 scales8(const uint8_t *p, size_t rb) {
    __m128i h =
        _mm_insert_epi64(_mm_cvtsi64_si128((long long)pack4(p, rb)), (long long)pack4(p + 4 * rb, rb), 1);
    return _mm256_cvtph_ps(h);
}

// Four rows' 16 bytes at p (rb apart), one row per 128-bit lane.
static inline __m512i rows4x16(const uint8_t *p, size_t rb) {
    __m512i v = _mm512_castsi128_si512(ld128(p));
    v = _mm512_inserti32x4(v, ld128(p + rb), 1);
    v = _mm512_inserti32x4(v, ld128(p + 2 * rb), 2);
    return _mm512_inserti32x4(v, ld128(p + 3 * rb), 3);
}

// Lanes 4g..4g+3 of v, each spread over 4 lanes (lane k to 128-bit lane k).
static inline __m512 spread4(__m512 v, int g) {
    __m512i idx = _mm512_add_epi32(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                                   _mm512_set1_epi32(4 * g));
    return _mm512_permutexvar_ps(idx, v);
}
// Lanes 2h, 2h+1 of v spread over the two 256-bit halves.
static inline __m512 spread2(__m512 v, int h) {
    __m512i idx = _mm512_add_epi32(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                   _mm512_set1_epi32(2 * h));
    return _mm512_permutexvar_ps(idx, v);
}

// hsum256 (dot_avx512.c) of four rows at once. Row r's 8-lane accumulator is lanes 4r..4r+3 of lo
// (its lanes 0-3) and of hi (its lanes 4-7). hsum256 adds lane j + lane j+4, then (0+2), (1+3), then
// those two: the same additions, lane-wise (addition commutes bit for bit).
static inline __m128 hsum4x256(__m512 lo, __m512 hi) {
    __m512 s = _mm512_add_ps(lo, hi);
    s = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm512_add_ps(s, _mm512_movehdup_ps(s));
    return _mm512_castps512_ps128(
        _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), s));
}

// Block kernels: prefetch the same position of the next step's rows (rows·rb further), every other
// block (a 64-byte line holds 2-3 blocks), into L2: 8 rows ahead is up to 48 KB at n_in 5632, more than
// L1 holds (bench/gemv from memory, 1 thread: Q4_0 10.5 → 11.7 GB/s against L1, 6-9 without prefetch).
// always_inline: GCC takes a function that only prefetches for one without side effects (const) and
// deletes the calls it does not inline; GCC 12 did that here.
static inline __attribute__((always_inline)) void prefetch_rows(const uint8_t *p, size_t rb, int rows,
                                                                int64_t i) {
    if (i & 1)
        return;
#pragma GCC unroll 8
    for (int k = 0; k < rows; k++)
        _mm_prefetch((const char *)p + (size_t)(rows + k) * rb, _MM_HINT_T1);
}

// ---- Q4_0 / Q4_1 ---------------------------------------------------------------------------------------
// The single-row kernel unpacks a block's 16 bytes to 32 nibbles (low nibbles = elements 0-15 in lanes
// 0-3, high = 16-31 in lanes 4-7) and takes one vpdpbusd against the 32 activations. Here a register
// holds 16 bytes of each of 4 rows; its low nibbles against the activations 0-15 (broadcast to the four
// 128-bit lanes) give lanes 0-3 of the 4 rows, its high nibbles against 16-31 lanes 4-7: the same int32
// sums. lo / hi hold those lanes of the 4 rows' accumulators, each updated as fma(dw·dx, float(sum),
// acc) per block, and z the scalar chain (Q4_0: fma(dw, s, z); Q4_1: fma(m, s, z)) with row r in lane r.
// The high nibbles are used in place (q & 0xf0 = 16·nibble), so that sum is 16 times the single-row one,
// and hi is kept 16 times as large: fma(d, 16·p, 16·acc) = 16·fma(d, p, acc) exactly. Scaling by a
// power of two commutes with rounding unless a value is subnormal or overflows, and neither can happen:
// dw and dx are fp16 values, so d = dw·dx (exact in fp32) and every sum of such terms rounded to fp32 is
// a multiple of 2^-48, hence 0 or at least 2^-48; and |16·acc| < 2^76 for rows under 2^31 elements.
// G groups of 4 rows per step (1 or 2).
static inline __attribute__((always_inline)) void q4_rows(int G, int Q41, int64_t nb, const uint8_t *w,
                                                          size_t rb, const block_q8a *x, float *out) {
    const size_t bs = Q41 ? sizeof(block_q4_1) : sizeof(block_q4_0);
    const size_t qo = Q41 ? offsetof(block_q4_1, qs) : offsetof(block_q4_0, qs);
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512 lo[2], hi[2];
    __m256 z = _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int g = 0; g < G; g++)
        lo[g] = hi[g] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *b = w + (size_t)i * bs;
        prefetch_rows(b, rb, 4 * G, i);
        __m512i xl = _mm512_broadcast_i32x4(ld128(x[i].qs)), xh = _mm512_broadcast_i32x4(ld128(x[i].qs + 16));
        __m256 d = G == 2 ? scales8(b, rb) : scales4(b, rb);
        __m256 zt = Q41 ? (G == 2 ? scales8(b + offsetof(block_q4_1, m), rb)
                                  : scales4(b + offsetof(block_q4_1, m), rb))
                        : d;
        z = _mm256_fmadd_ps(zt, _mm256_set1_ps(x[i].s), z);
        __m512 dd = _mm512_castps256_ps512(_mm256_mul_ps(d, _mm256_set1_ps(x[i].d)));
#pragma GCC unroll 2
        for (int g = 0; g < G; g++) {
            __m512 ddg = spread4(dd, g);
            __m512i q = rows4x16(b + (size_t)(4 * g) * rb + qo, rb);
            __m512i pl = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(q, m4), xl);
            __m512i ph = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_andnot_si512(m4, q), xh);
            lo[g] = _mm512_fmadd_ps(ddg, _mm512_cvtepi32_ps(pl), lo[g]);
            hi[g] = _mm512_fmadd_ps(ddg, _mm512_cvtepi32_ps(ph), hi[g]);
        }
    }
    float zs[8];
    _mm256_storeu_ps(zs, z);
#pragma GCC unroll 2
    for (int g = 0; g < G; g++) {
        __m128 h = hsum4x256(lo[g], _mm512_mul_ps(hi[g], _mm512_set1_ps(0.0625f))),
               zg = _mm_loadu_ps(zs + 4 * g);
        // Q4_0: hsum − 8·zsum; Q4_1: hsum + msum
        _mm_storeu_ps(out + 4 * g,
                      Q41 ? _mm_add_ps(h, zg) : _mm_sub_ps(h, _mm_mul_ps(_mm_set1_ps(8.0f), zg)));
    }
}

void sqz_gemv_q4_0_avx512vnni(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x,
                              float *out) {
    const uint8_t *wb = w;
    int64_t r = 0;
    for (; r + 8 <= nr; r += 8)
        q4_rows(2, 0, n / QK8A, wb + r * row_bytes, row_bytes, x, out + r);
    for (; r + 4 <= nr; r += 4)
        q4_rows(1, 0, n / QK8A, wb + r * row_bytes, row_bytes, x, out + r);
    for (; r < nr; r++)
        sqz_dot_q4_0_avx512vnni(n, wb + r * row_bytes, x, out + r);
}

void sqz_gemv_q4_1_avx512vnni(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x,
                              float *out) {
    const uint8_t *wb = w;
    int64_t r = 0;
    for (; r + 8 <= nr; r += 8)
        q4_rows(2, 1, n / QK8A, wb + r * row_bytes, row_bytes, x, out + r);
    for (; r + 4 <= nr; r += 4)
        q4_rows(1, 1, n / QK8A, wb + r * row_bytes, row_bytes, x, out + r);
    for (; r < nr; r++)
        sqz_dot_q4_1_avx512vnni(n, wb + r * row_bytes, x, out + r);
}

// ---- Q8_0 ------------------------------------------------------------------------------------------------
// Two rows per register, one per 256-bit half, each half the single-row kernel's 8 lanes. The single-row
// kernel gets Σ w·x per lane as vpdpbusd(|w|, x·sign(w)); vpsignb has no 512-bit form, so here the weights
// are offset to unsigned, w + 128 (xor 0x80), and the accumulator starts at −128·Σx per lane (computed
// once per block for all rows): −128·Σx + Σ (w+128)·x = Σ w·x, the same int32 values. G groups of 4 rows.
static inline __attribute__((always_inline)) void q8_0_rows(int G, int64_t nb, const uint8_t *w, size_t rb,
                                                            const block_q8a *x, float *out) {
    const __m512i off = _mm512_set1_epi8((char)0x80);
    __m512 acc[4];
#pragma GCC unroll 4
    for (int k = 0; k < 2 * G; k++)
        acc[k] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *b = w + (size_t)i * sizeof(block_q8_0);
        prefetch_rows(b, rb, 4 * G, i);
        __m512i xx = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)x[i].qs));
        __m512i c =
            _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), off, xx));
        __m256 d = G == 2 ? scales8(b, rb) : scales4(b, rb);
        __m512 dd = _mm512_castps256_ps512(_mm256_mul_ps(d, _mm256_set1_ps(x[i].d)));
        const uint8_t *q = b + offsetof(block_q8_0, qs);
#pragma GCC unroll 4
        for (int k = 0; k < 2 * G; k++) { // rows 2k, 2k+1
            const uint8_t *qk = q + (size_t)(2 * k) * rb;
            __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)qk)),
                                           _mm256_loadu_si256((const __m256i *)(qk + rb)), 1);
            __m512i p = _mm512_dpbusd_epi32(c, _mm512_xor_si512(v, off), xx);
            acc[k] = _mm512_fmadd_ps(spread2(dd, k), _mm512_cvtepi32_ps(p), acc[k]);
        }
    }
#pragma GCC unroll 2
    for (int g = 0; g < G; g++) { // one row per 128-bit lane: lo = lanes 0-3 of the 4 rows, hi = lanes 4-7
        __m512 lo = _mm512_shuffle_f32x4(acc[2 * g], acc[2 * g + 1], _MM_SHUFFLE(2, 0, 2, 0));
        __m512 hi = _mm512_shuffle_f32x4(acc[2 * g], acc[2 * g + 1], _MM_SHUFFLE(3, 1, 3, 1));
        _mm_storeu_ps(out + 4 * g, hsum4x256(lo, hi));
    }
}

void sqz_gemv_q8_0_avx512vnni(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x,
                              float *out) {
    const uint8_t *wb = w;
    int64_t r = 0;
    for (; r + 8 <= nr; r += 8)
        q8_0_rows(2, n / QK8A, wb + r * row_bytes, row_bytes, x, out + r);
    for (; r + 4 <= nr; r += 4)
        q8_0_rows(1, n / QK8A, wb + r * row_bytes, row_bytes, x, out + r);
    for (; r < nr; r++)
        sqz_dot_q8_0_avx512vnni(n, wb + r * row_bytes, x, out + r);
}

// ---- F16 / BF16 / F32 weights, F32 activations: 4 rows × the single-row kernel's 2 chains -------------
// Per row: acc0/acc1 += w·x over steps of 32, a 16-step into acc0, reduce_add(acc0 + acc1) (the same
// intrinsic, so the same tree), then the scalar tail as an unfused multiply and add: dot_avx512.c's order.
// The next 4 rows are prefetched at the same position into L2 (one line per row per step for 16-bit
// weights, two for F32).
static inline __m512 ld_f16(const uint8_t *p, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 2 * i)));
}
static inline __m512 ld_bf16(const uint8_t *p, int64_t i) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p + 2 * i)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}
static inline __m512 ld_f32(const uint8_t *p, int64_t i) {
    return _mm512_loadu_ps(p + 4 * i);
}
static inline float sc_f16(const uint8_t *p, int64_t i) {
    return sqz_fp16_to_fp32((uint16_t)ld16(p + 2 * i));
}
static inline float sc_bf16(const uint8_t *p, int64_t i) {
    return sqz_bf16_to_fp32((uint16_t)ld16(p + 2 * i));
}
static inline float sc_f32(const uint8_t *p, int64_t i) {
    float v;
    memcpy(&v, p + 4 * i, 4);
    return v;
}

#define FLOAT_ROWS4(NAME, LOAD16, ESIZE, SCALAR)                                                             \
    static void NAME(int64_t n, const uint8_t *w, size_t rb, const float *x, float *out) {                   \
        __m512 a[4], b[4];                                                                                   \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) a[r] = b[r] = _mm512_setzero_ps();               \
        int64_t i = 0;                                                                                       \
        for (; i + 32 <= n; i += 32) {                                                                       \
            __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);                            \
            _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {                                            \
                const uint8_t *wr = w + (size_t)r * rb;                                                      \
                _Pragma("GCC unroll 2") for (int o = 0; o < 32 * ESIZE; o += 64)                             \
                    _mm_prefetch((const char *)wr + 4 * rb + i * ESIZE + o, _MM_HINT_T1);                    \
                a[r] = _mm512_fmadd_ps(LOAD16(wr, i), x0, a[r]);                                             \
                b[r] = _mm512_fmadd_ps(LOAD16(wr, i + 16), x1, b[r]);                                        \
            }                                                                                                \
        }                                                                                                    \
        for (; i + 16 <= n; i += 16) {                                                                       \
            __m512 x0 = _mm512_loadu_ps(x + i);                                                              \
            _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) a[r] =                                       \
                _mm512_fmadd_ps(LOAD16(w + r * rb, i), x0, a[r]);                                            \
        }                                                                                                    \
        float s[4];                                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) s[r] =                                           \
            _mm512_reduce_add_ps(_mm512_add_ps(a[r], b[r]));                                                 \
        for (int r = 0; r < 4; r++) { /* after the reductions: the tail's calls then spill no accumulator */ \
            for (int64_t j = i; j < n; j++)                                                                  \
                s[r] += SCALAR(w + r * rb, j) * x[j];                                                        \
            out[r] = s[r];                                                                                   \
        }                                                                                                    \
    }

FLOAT_ROWS4(f16_rows4, ld_f16, 2, sc_f16)
FLOAT_ROWS4(bf16_rows4, ld_bf16, 2, sc_bf16)
FLOAT_ROWS4(f32_rows4, ld_f32, 4, sc_f32)

#define FLOAT_GEMV(NAME, ROWS4, DOT)                                                                         \
    void NAME(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x, float *out) {           \
        const uint8_t *wb = w;                                                                               \
        int64_t r = 0;                                                                                       \
        for (; r + 4 <= nr; r += 4)                                                                          \
            ROWS4(n, wb + r * row_bytes, row_bytes, x, out + r);                                             \
        for (; r < nr; r++)                                                                                  \
            DOT(n, wb + r * row_bytes, x, out + r);                                                          \
    }

FLOAT_GEMV(sqz_gemv_f16_avx512, f16_rows4, sqz_dot_f16_avx512)
FLOAT_GEMV(sqz_gemv_bf16_avx512, bf16_rows4, sqz_dot_bf16_avx512)
FLOAT_GEMV(sqz_gemv_f32_avx512, f32_rows4, sqz_dot_f32_avx512)

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

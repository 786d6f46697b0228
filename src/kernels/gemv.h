// Multi-row dot kernels for decode (one token): a run of weight rows against one activation row.
// They sit beside the per-row dot kernels (kernels.h) and give bit-identical results, row by row,
// to the dot kernel they belong to; what they change is the schedule (several rows per activation
// load, independent accumulator chains, software prefetch of the next rows), see x86/gemv_avx2.c and
// x86/gemv_avx512.c.
#ifndef SQZ_KERNELS_GEMV_H
#define SQZ_KERNELS_GEMV_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

// out[r] = dot(w + r·row_bytes, x) for r in [0, nr). w: nr rows of n elements in the weight type,
// row_bytes apart; x: one activation row in the kernel's activation type (kernels.h).
typedef void (*sqz_gemv_fn)(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x, float *out);

// The multi-row kernel matching a dot kernel (k->dot), or NULL when there is none (use k->dot per
// row). Bit-identical to k->dot on every row (tests/kernels/test_dot.c).
sqz_gemv_fn sqz_gemv_for(const sqz_kernel *k);

void sqz_gemv_f32_avx2(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x, float *out);
void sqz_gemv_f16_avx2(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x, float *out);
void sqz_gemv_bf16_avx2(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x, float *out);
void sqz_gemv_q8_0_avx2(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x, float *out);
void sqz_gemv_q4_0_avx2(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x, float *out);
void sqz_gemv_q4_1_avx2(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x, float *out);

// AVX-512 tier (x86/gemv_avx512.c), paired with the dot kernels of dot_avx512.c.
void sqz_gemv_f32_avx512(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x, float *out);
void sqz_gemv_f16_avx512(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x, float *out);
void sqz_gemv_bf16_avx512(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x, float *out);
void sqz_gemv_q8_0_avx512vnni(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x,
                              float *out);
void sqz_gemv_q4_0_avx512vnni(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x,
                              float *out);
void sqz_gemv_q4_1_avx512vnni(int64_t n, const void *w, size_t row_bytes, int64_t nr, const void *x,
                              float *out);

#endif

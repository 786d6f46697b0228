// llama.cpp-compatible block layouts (bit-exact with ggml's block_q8_0/q4_0/q4_1) and their
// scalar reference codecs. These are the specification every SIMD kernel is tested against.
#ifndef SQZ_KERNELS_QUANT_H
#define SQZ_KERNELS_QUANT_H

#include <assert.h>
#include <stdint.h>

#include "sqz/types.h"

#define QK8_0 32
#define QK4_0 32
#define QK4_1 32

typedef struct { uint16_t d; int8_t qs[QK8_0]; } block_q8_0;                 // x = qs[i]*d
typedef struct { uint16_t d; uint8_t qs[QK4_0 / 2]; } block_q4_0;            // x = (q-8)*d
typedef struct { uint16_t d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;         // x = q*d + m
// In q4 blocks, byte j holds element j in its low nibble and element j+16 in its high nibble.
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 is 34 bytes on disk");
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 is 18 bytes on disk");
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 is 20 bytes on disk");

void sqz_dequant_q8_0_ref(const void *src, float *dst, int64_t n);
void sqz_dequant_q4_0_ref(const void *src, float *dst, int64_t n);
void sqz_dequant_q4_1_ref(const void *src, float *dst, int64_t n);
void sqz_quant_q8_0_ref(const float *src, void *dst, int64_t n);
void sqz_quant_q4_0_ref(const float *src, void *dst, int64_t n);
void sqz_quant_q4_1_ref(const float *src, void *dst, int64_t n);

#endif

// Tensor element types and tensors. The traits table (src/kernels/types.c) is the registry of
// types: adding a type is adding a row. On-disk mappings (GGUF ggml_type ids, safetensors dtype
// strings) live in the format readers; this enum is sqz's own and append-only.
#ifndef SQZ_TYPES_H
#define SQZ_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sqz_type {
    SQZ_TYPE_F32 = 0,
    SQZ_TYPE_F16 = 1,
    SQZ_TYPE_BF16 = 2,
    SQZ_TYPE_Q8_0 = 3, // llama.cpp block types: 32 weights per block
    SQZ_TYPE_Q4_0 = 4,
    SQZ_TYPE_Q4_1 = 5,
    SQZ_TYPE_I8 = 6,
    SQZ_TYPE_U8 = 7,
    SQZ_TYPE_I16 = 8,
    SQZ_TYPE_I32 = 9,
    SQZ_TYPE_I64 = 10,
    SQZ_TYPE_F64 = 11,
    SQZ_TYPE_COUNT
} sqz_type;

typedef struct sqz_type_traits {
    const char *name;     // "f32", "q4_0", ...
    int block_size;       // elements per block (1 for plain types)
    size_t type_size;     // bytes per block
    bool is_quantized;
    // Scalar reference conversions of n elements (n a multiple of block_size). NULL for integer types.
    void (*to_float)(const void *src, float *dst, int64_t n);
    void (*from_float_ref)(const float *src, void *dst, int64_t n);
} sqz_type_traits;

// Traits of a type; NULL if t is out of range.
const sqz_type_traits *sqz_type_traits_of(sqz_type t);
const char *sqz_type_name(sqz_type t);
// Bytes used by n elements of type t (n must be a multiple of the block size; returns 0 if not).
size_t sqz_type_row_size(sqz_type t, int64_t n);

#define SQZ_MAX_DIMS 4

// A view of a tensor stored somewhere else (usually a read-only file mapping).
// shape is outermost-first: a linear weight is {n_out, n_in} with n_in contiguous.
typedef struct sqz_tensor {
    const char *name;
    sqz_type type;
    int n_dims;
    int64_t shape[SQZ_MAX_DIMS];
    const void *data;
    size_t nbytes;
} sqz_tensor;

int64_t sqz_tensor_nelements(const sqz_tensor *t);

// Half-precision helpers (scalar reference; round-to-nearest-even).
float sqz_fp16_to_fp32(uint16_t h);
uint16_t sqz_fp32_to_fp16(float f);
float sqz_bf16_to_fp32(uint16_t h);
uint16_t sqz_fp32_to_bf16(float f);

#ifdef __cplusplus
}
#endif
#endif

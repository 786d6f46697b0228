// The registry of element types and the scalar reference codecs for float formats.
#include <math.h>
#include <string.h>

#include "kernels/quant.h"

float sqz_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); // inf / nan
    } else if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { // subnormal: value = man * 2^-24
            float f = ldexpf((float)man, -24);
            return sign ? -f : f;
        }
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t sqz_fp32_to_fp16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) // inf or nan (keep nan quiet)
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
    if (absx >= 0x477ff000u) // rounds to >= 65520: overflow to inf
        return (uint16_t)(sign | 0x7c00);
    if (absx < 0x38800000u) { // below the smallest normal half: subnormal or zero
        float a;
        memcpy(&a, &absx, 4);
        return (uint16_t)(sign | (uint32_t)nearbyintf(a * 16777216.0f)); // units of 2^-24, RNE
    }
    uint32_t mant_odd = (absx >> 13) & 1;
    absx += 0xfffu + mant_odd; // round to nearest even on the 13 dropped bits
    return (uint16_t)(sign | ((absx - 0x38000000u) >> 13));
}

float sqz_bf16_to_fp32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t sqz_fp32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) // nan: keep it a quiet nan
        return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

static void f32_to_float(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }
static void f32_from_float(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }
static void f16_to_float(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = sqz_fp16_to_fp32(s[i]);
}
static void f16_from_float(const float *src, void *dst, int64_t n) {
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++)
        d[i] = sqz_fp32_to_fp16(src[i]);
}
static void bf16_to_float(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = sqz_bf16_to_fp32(s[i]);
}
static void bf16_from_float(const float *src, void *dst, int64_t n) {
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++)
        d[i] = sqz_fp32_to_bf16(src[i]);
}
static void f64_to_float(const void *src, float *dst, int64_t n) {
    const double *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)s[i];
}

static const sqz_type_traits traits[SQZ_TYPE_COUNT] = {
    [SQZ_TYPE_F32] = {"f32", 1, 4, false, f32_to_float, f32_from_float},
    [SQZ_TYPE_F16] = {"f16", 1, 2, false, f16_to_float, f16_from_float},
    [SQZ_TYPE_BF16] = {"bf16", 1, 2, false, bf16_to_float, bf16_from_float},
    [SQZ_TYPE_Q8_0] = {"q8_0", QK8_0, sizeof(block_q8_0), true, sqz_dequant_q8_0_ref, sqz_quant_q8_0_ref},
    [SQZ_TYPE_Q4_0] = {"q4_0", QK4_0, sizeof(block_q4_0), true, sqz_dequant_q4_0_ref, sqz_quant_q4_0_ref},
    [SQZ_TYPE_Q4_1] = {"q4_1", QK4_1, sizeof(block_q4_1), true, sqz_dequant_q4_1_ref, sqz_quant_q4_1_ref},
    [SQZ_TYPE_I8] = {"i8", 1, 1, false, NULL, NULL},
    [SQZ_TYPE_U8] = {"u8", 1, 1, false, NULL, NULL},
    [SQZ_TYPE_I16] = {"i16", 1, 2, false, NULL, NULL},
    [SQZ_TYPE_I32] = {"i32", 1, 4, false, NULL, NULL},
    [SQZ_TYPE_I64] = {"i64", 1, 8, false, NULL, NULL},
    [SQZ_TYPE_F64] = {"f64", 1, 8, false, f64_to_float, NULL},
};

const sqz_type_traits *sqz_type_traits_of(sqz_type t) {
    return (unsigned)t < SQZ_TYPE_COUNT ? &traits[t] : NULL;
}

const char *sqz_type_name(sqz_type t) {
    return (unsigned)t < SQZ_TYPE_COUNT ? traits[t].name : "?";
}

size_t sqz_type_row_size(sqz_type t, int64_t n) {
    const sqz_type_traits *tr = sqz_type_traits_of(t);
    if (!tr || n < 0 || n % tr->block_size)
        return 0;
    return (size_t)(n / tr->block_size) * tr->type_size;
}

int64_t sqz_tensor_nelements(const sqz_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++)
        n *= t->shape[i];
    return n;
}

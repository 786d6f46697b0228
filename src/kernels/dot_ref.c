// Scalar reference dot kernels: the specification every SIMD kernel is tested against.
// Float weights are widened exactly to f32; block types use integer dots per 32-element block
// against Q8A activations, then scale: Q8_0 dw*dx*Σqw·qx, Q4_0 dw*(dx*Σq·qx - 8*s), Q4_1
// dw*dx*Σq·qx + m*s (s = dx*Σqx).
#include <math.h>

#include "kernels/kernels.h"

// Q8A: d = absmax/127, qs = round-half-even(x·127/absmax), then d is rounded to fp16 (as ggml's
// Q8_0 activations are, so sqz and llama.cpp see the same activations) and s = d*Σqs.
void sqz_quant_row_q8a_ref(const float *x, void *y, int64_t n) {
    block_q8a *b = y;
    for (int64_t i = 0; i < n / QK8A; i++) {
        const float *xb = x + i * QK8A;
        float amax = 0.0f;
        for (int j = 0; j < QK8A; j++)
            amax = fmaxf(amax, fabsf(xb[j]));
        float d = amax / 127.0f, id = d != 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK8A; j++) {
            int q = (int)nearbyintf(xb[j] * id);
            b[i].qs[j] = (int8_t)q;
            sum += q;
        }
        b[i].d = sqz_fp16_to_fp32(sqz_fp32_to_fp16(d));
        b[i].s = b[i].d * (float)sum;
    }
}

void sqz_dot_f32_ref(int64_t n, const void *w, const void *x, float *out) {
    const float *a = w, *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    *out = s;
}

void sqz_dot_f16_ref(int64_t n, const void *w, const void *x, float *out) {
    const uint16_t *a = w;
    const float *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++)
        s += sqz_fp16_to_fp32(a[i]) * b[i];
    *out = s;
}

void sqz_dot_bf16_ref(int64_t n, const void *w, const void *x, float *out) {
    const uint16_t *a = w;
    const float *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++)
        s += sqz_bf16_to_fp32(a[i]) * b[i];
    *out = s;
}

void sqz_dot_q8_0_ref(int64_t n, const void *w, const void *x, float *out) {
    const block_q8_0 *a = w;
    const block_q8a *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / QK8A; i++) {
        int isum = 0;
        for (int j = 0; j < QK8A; j++)
            isum += a[i].qs[j] * b[i].qs[j];
        s += sqz_fp16_to_fp32(a[i].d) * b[i].d * (float)isum;
    }
    *out = s;
}

// Σ over one q4 block of (unsigned nibble) * qx; nibble layout as in quant.h.
static int q4_block_isum(const uint8_t *qs, const int8_t *qx) {
    int isum = 0;
    for (int j = 0; j < QK8A / 2; j++)
        isum += (qs[j] & 0x0f) * qx[j] + (qs[j] >> 4) * qx[j + QK8A / 2];
    return isum;
}

void sqz_dot_q4_0_ref(int64_t n, const void *w, const void *x, float *out) {
    const block_q4_0 *a = w;
    const block_q8a *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / QK8A; i++) {
        float dw = sqz_fp16_to_fp32(a[i].d);
        s += dw * (b[i].d * (float)q4_block_isum(a[i].qs, b[i].qs) - 8.0f * b[i].s);
    }
    *out = s;
}

void sqz_dot_q4_1_ref(int64_t n, const void *w, const void *x, float *out) {
    const block_q4_1 *a = w;
    const block_q8a *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / QK8A; i++) {
        float dw = sqz_fp16_to_fp32(a[i].d), mw = sqz_fp16_to_fp32(a[i].m);
        s += dw * b[i].d * (float)q4_block_isum(a[i].qs, b[i].qs) + mw * b[i].s;
    }
    *out = s;
}

// Scalar reference dot kernels: the specification every SIMD kernel is tested against.
// Float weights are widened exactly to f32; block types use integer dots per 32-element block
// against Q8A activations, then scale: Q8_0 dw*dx*Σqw·qx, Q4_0 dw*(dx*Σq·qx - 8*s), Q4_1
// dw*dx*Σq·qx + m*s (s = dx*Σqx).
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

// Q8A: d = absmax/127, qs = round-half-even(x·127/absmax), then d is rounded to fp16 (as ggml's
// Q8_0 activations are, so sqz and llama.cpp see the same activations) and s = d*Σqs (Q8A) or
// fp16(d_unrounded*Σqs) (Q8A1, ggml's Q8_1).
static void quant_row(const float *x, void *y, int64_t n, bool s_fp16) {
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
        b[i].s = s_fp16 ? sqz_fp16_to_fp32(sqz_fp32_to_fp16(d * (float)sum)) : b[i].d * (float)sum;
    }
}

void sqz_quant_row_q8a_ref(const float *x, void *y, int64_t n) { quant_row(x, y, n, false); }
void sqz_quant_row_q8a1_ref(const float *x, void *y, int64_t n) { quant_row(x, y, n, true); }

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

// ---- vector ops (scalar versions of the ggml AVX2 sequences; fmaf is the fused op, so each lane
// is computed exactly as one lane of the vector code) -------------------------------------------------
static inline uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// exp(x): x = n·ln2 + b with n = round(x/ln2) (via the 1.5·2^23 shifter), e^b by a degree-5
// polynomial, 2^n spliced into the exponent; |n| > 126 takes the two-factor scaling path and
// |n| > 192 saturates to 0 or inf.
float sqz_expf_ggml(float x) {
    const float shift = 0x1.8p23f;
    float z = fmaf(x, 0x1.715476p+0f, shift), n = z - shift;
    float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    uint32_t e = f2u(z) << 23;
    float k = u2f(e + f2u(1.0f));
    float u = b * b;
    float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                   0x1.ffffecp-1f * b);
    float an = fabsf(n);
    if (!(an > 126.0f))
        return fmaf(j, k, k);
    uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
    float s1 = u2f(g + 0x7f000000u), s2 = u2f(e - g);
    if (an > 192.0f)
        return s1 * s1;
    return fmaf(s2, j, s2) * s1;
}

static void silu_mul_ref(int64_t n, float *g, const float *up) {
    int64_t i = 0, nv = n & ~(int64_t)7; // whole 8-lane chunks use the polynomial, the tail libm
    for (; i < nv; i++)
        g[i] = g[i] / (1.0f + sqz_expf_ggml(0.0f - g[i])) * up[i];
    for (; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * up[i];
}

static double softmax_exp_ref(int64_t n, float *y, const float *x, float max) {
    double sum = 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float l[8];
        for (int k = 0; k < 8; k++)
            l[k] = y[i + k] = sqz_expf_ggml(x[i + k] - max);
        float h[4] = {l[4] + l[0], l[5] + l[1], l[6] + l[2], l[7] + l[3]};
        sum += (double)((h[0] + h[2]) + (h[1] + h[3]));
    }
    for (; i < n; i++)
        sum += (double)(y[i] = expf(x[i] - max));
    return sum;
}

static float dot_f32_ggml_ref(int64_t n, const float *a, const float *b) {
    float acc[4][8] = {{0}};
    int64_t np = n & ~(int64_t)31;
    for (int64_t i = 0; i < np; i += 32)
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 8; l++)
                acc[k][l] = fmaf(a[i + 8 * k + l], b[i + 8 * k + l], acc[k][l]);
    float r[8], t[4];
    for (int l = 0; l < 8; l++)
        r[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    for (int l = 0; l < 4; l++)
        t[l] = r[l] + r[l + 4];
    double s = (double)((t[0] + t[1]) + (t[2] + t[3]));
    for (int64_t i = np; i < n; i++)
        s += (double)(a[i] * b[i]);
    return (float)s;
}

static float dot_f32_chain_ref(int64_t n, const float *a, const float *b) {
    float acc[8] = {0};
    for (int64_t i = 0; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] = fmaf(a[i + l], b[i + l], acc[l]);
    float h[4] = {acc[4] + acc[0], acc[5] + acc[1], acc[6] + acc[2], acc[7] + acc[3]};
    return (h[0] + h[2]) + (h[1] + h[3]);
}

// Column by column and vector by vector: gather, then the dot itself (the specification of the vector
// versions).
static void cols_of(float (*dot)(int64_t, const float *, const float *), int64_t n, const float *at, size_t stride,
                    int64_t m, const float *b, size_t ldb, int nq, float *out, size_t ldo) {
    float stack[256], *col = n <= 256 ? stack : malloc((size_t)n * sizeof *col);
    if (!col)
        return;
    for (int64_t p = 0; p < m; p++) {
        for (int64_t i = 0; i < n; i++)
            col[i] = at[(size_t)i * stride + (size_t)p];
        for (int q = 0; q < nq; q++)
            out[(size_t)q * ldo + (size_t)p] = dot(n, col, b + (size_t)q * ldb);
    }
    if (col != stack)
        free(col);
}

static void rows_of(float (*dot)(int64_t, const float *, const float *), int64_t n, const float *a, size_t stride,
                    int64_t m, const float *x, size_t ldx, int nq, float *out, size_t ldo) {
    for (int q = 0; q < nq; q++)
        for (int64_t i = 0; i < m; i++)
            out[(size_t)q * ldo + (size_t)i] = dot(n, a + (size_t)i * stride, x + (size_t)q * ldx);
}

static void dot_f32_cols_ref(int64_t n, const float *at, size_t stride, int64_t m, const float *b, size_t ldb, int nq,
                             float *out, size_t ldo) {
    cols_of(dot_f32_ggml_ref, n, at, stride, m, b, ldb, nq, out, ldo);
}

static void dot_f32_chain_rows_ref(int64_t n, const float *a, size_t stride, int64_t m, const float *x, size_t ldx,
                                   int nq, float *out, size_t ldo) {
    rows_of(dot_f32_chain_ref, n, a, stride, m, x, ldx, nq, out, ldo);
}

static void dot_f32_rows_ref(int64_t n, const float *a, size_t stride, int64_t m, const float *x, size_t ldx, int nq,
                             float *out, size_t ldo) {
    rows_of(dot_f32_ggml_ref, n, a, stride, m, x, ldx, nq, out, ldo);
}

const sqz_vec_ops sqz_vec_ops_ref = {silu_mul_ref, softmax_exp_ref, dot_f32_ggml_ref, dot_f32_chain_ref,
                                     dot_f32_cols_ref, dot_f32_chain_rows_ref, dot_f32_rows_ref, 8};

// ---- the same ops in ggml's AVX-512 order (16 lanes; x86/dot_avx512.c) -------------------------------
// exp with the AVX-512 polynomial form (the 1 folded into the last FMA, 2^n applied by scalef, which
// ldexpf matches: both round once), saturating beyond |n| > 192.
float sqz_expf_ggml16(float x) {
    const float shift = 0x1.8p23f;
    float z = fmaf(x, 0x1.715476p+0f, shift), n = z - shift;
    float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    if (fabsf(n) > 192.0f)
        return n <= 0.0f ? 0.0f : INFINITY;
    float u = b * b;
    float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                   fmaf(0x1.ffffecp-1f, b, 1.0f));
    return isnan(n) ? n : ldexpf(j, (int)n);
}

// 16 lanes summed as GCC's _mm512_reduce_add_ps does: halves of 8, halves of 4, then (0+2)+(1+3).
static float reduce16_ref(const float *l) {
    float h[8], q[4];
    for (int k = 0; k < 8; k++)
        h[k] = l[k] + l[k + 8];
    for (int k = 0; k < 4; k++)
        q[k] = h[k] + h[k + 4];
    return (q[0] + q[2]) + (q[1] + q[3]);
}

static void silu_mul_ref16(int64_t n, float *g, const float *up) {
    int64_t i = 0, nv = n & ~(int64_t)15;
    for (; i < nv; i++)
        g[i] = g[i] / (1.0f + sqz_expf_ggml16(0.0f - g[i])) * up[i];
    for (; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * up[i];
}

static double softmax_exp_ref16(int64_t n, float *y, const float *x, float max) {
    double sum = 0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int k = 0; k < 16; k++)
            y[i + k] = sqz_expf_ggml16(x[i + k] - max);
        sum += (double)reduce16_ref(y + i);
    }
    for (; i < n; i++)
        sum += (double)(y[i] = expf(x[i] - max));
    return sum;
}

static float dot_f32_ggml_ref16(int64_t n, const float *a, const float *b) {
    float acc[4][16] = {{0}}, r[16];
    int64_t np = n & ~(int64_t)63, i = np;
    for (int64_t k = 0; k < np; k += 64)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 16; l++)
                acc[j][l] = fmaf(a[k + 16 * j + l], b[k + 16 * j + l], acc[j][l]);
    for (int l = 0; l < 16; l++)
        r[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    float s = reduce16_ref(r);
    for (; i < (n & ~(int64_t)7); i++) // leftovers: whole 8s unfused, the rest fused (see dot_avx512.c)
        s += a[i] * b[i];
    for (; i < n; i++)
        s = fmaf(a[i], b[i], s);
    return s;
}

static float dot_f32_chain_ref16(int64_t n, const float *a, const float *b) {
    float acc[16] = {0};
    for (int64_t i = 0; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++)
            acc[l] = fmaf(a[i + l], b[i + l], acc[l]);
    return reduce16_ref(acc);
}

static void dot_f32_cols_ref16(int64_t n, const float *at, size_t stride, int64_t m, const float *b, size_t ldb,
                               int nq, float *out, size_t ldo) {
    cols_of(dot_f32_ggml_ref16, n, at, stride, m, b, ldb, nq, out, ldo);
}

static void dot_f32_chain_rows_ref16(int64_t n, const float *a, size_t stride, int64_t m, const float *x, size_t ldx,
                                     int nq, float *out, size_t ldo) {
    rows_of(dot_f32_chain_ref16, n, a, stride, m, x, ldx, nq, out, ldo);
}

static void dot_f32_rows_ref16(int64_t n, const float *a, size_t stride, int64_t m, const float *x, size_t ldx, int nq,
                               float *out, size_t ldo) {
    rows_of(dot_f32_ggml_ref16, n, a, stride, m, x, ldx, nq, out, ldo);
}

const sqz_vec_ops sqz_vec_ops_ref16 = {silu_mul_ref16, softmax_exp_ref16, dot_f32_ggml_ref16, dot_f32_chain_ref16,
                                       dot_f32_cols_ref16, dot_f32_chain_rows_ref16, dot_f32_rows_ref16, 16};

// llama.cpp block quantization (Q8_0, Q4_0, Q4_1), plain or with importance weights. With weights
// the per-block scale (and min) is searched to minimise Σ w_i (x_i − x̂_i)², the way llama.cpp's
// imatrix path does (ggml-quants.c: make_qx_quants for Q4_0, make_qkx3_quants for Q4_1), with
// w_i = imp_i · sqrt(σ² + x_i²), σ² = mean x² of the row. Arithmetic is float32 in llama.cpp's
// order so blocks come out bit-identical (up to its compiler's FMA contraction).
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "kernels/quant.h"
#include "quant/quant_internal.h"

// Weighted sums of one candidate inverse scale for the symmetric search: codes l = clamp(
// round(iscale·x), −nmax, nmax−1); returns Σ w x l in *sumlx, Σ w l² in *suml2.
static void qx_sums(const float *x, const float *w, int n, int nmax, float iscale, float *sumlx, float *suml2) {
    float sx = 0.0f, s2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = (int)rintf(iscale * x[i]);
        l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
        sx += w[i] * x[i] * (float)l;
        s2 += w[i] * (float)l * (float)l;
    }
    *sumlx = sx;
    *suml2 = s2;
}

static void qx_codes(const float *x, int n, int nmax, float iscale, int *L) {
    for (int i = 0; i < n; i++) {
        int l = (int)rintf(iscale * x[i]);
        L[i] = (l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l) + nmax;
    }
}

// Symmetric weighted search: the signed max maps to −nmax, then 18 nearby inverse scales
// −(nmax + 0.1·k)/max are tried; the scale of each is the weighted least-squares fit Σwxl/Σwl²,
// kept when it explains more (Σwxl)²/Σwl². L[i] = code + nmax ∈ [0, 2·nmax−1].
static float qx_search(const float *x, const float *w, int n, int nmax, int *L) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    }
    if (amax < 1e-15f) {
        memset(L, 0, (size_t)n * sizeof *L);
        return 0.0f;
    }
    float iscale = (float)-nmax / max, sumlx, suml2;
    qx_sums(x, w, n, nmax, iscale, &sumlx, &suml2);
    qx_codes(x, n, nmax, iscale, L);
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int k = -9; k <= 9; k++) {
        if (k == 0)
            continue;
        iscale = -((float)nmax + 0.1f * (float)k) / max;
        qx_sums(x, w, n, nmax, iscale, &sumlx, &suml2);
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            qx_codes(x, n, nmax, iscale, L);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Asymmetric weighted search for x ≈ scale·L + min (L ∈ 0..nmax, min ≤ 0): start from the
// min/max grid, then try inverse scales (nmax + rmin + rdelta·k)/(max − min), k = 0..nstep,
// each with the weighted least-squares (scale, min) of its codes; keep the lowest weighted error.
static float qkx_search(const float *x, const float *w, int n, int nmax, int *L, float *out_min) {
    const float rmin = -0.9f, rdelta = 0.05f;
    const int nstep = 36;
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        min = fminf(min, x[i]);
        max = fmaxf(max, x[i]);
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0.0f)
        min = 0.0f;
    if (max <= min) {
        memset(L, 0, (size_t)n * sizeof *L);
        *out_min = min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min), scale = 1.0f / iscale, best = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = (int)rintf(iscale * (x[i] - min));
        L[i] = l < 0 ? 0 : l > nmax ? nmax : l;
        float diff = scale * (float)L[i] + min - x[i];
        best += w[i] * (diff * diff);
    }
    int aux[QK4_1 > QK8_0 ? QK4_1 : QK8_0];
    for (int k = 0; k <= nstep; k++) {
        iscale = (rmin + rdelta * (float)k + (float)nmax) / (max - min);
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = (int)rintf(iscale * (x[i] - min));
            aux[i] = l = l < 0 ? 0 : l > nmax ? nmax : l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0.0f))
            continue;
        float s = (sum_w * sum_xl - sum_x * sum_l) / D, m = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (m > 0.0f) {
            m = 0.0f;
            s = sum_xl / sum_l2;
        }
        float err = 0.0f;
        for (int i = 0; i < n; i++) {
            float diff = s * (float)aux[i] + m - x[i];
            err += w[i] * (diff * diff);
        }
        if (err < best) {
            memcpy(L, aux, (size_t)n * sizeof *L);
            best = err;
            scale = s;
            min = m;
        }
    }
    *out_min = min;
    return scale;
}

// One row of n elements with importance imp[n] into blocks at dst.
static void row_weighted(sqz_type type, const float *x, int64_t n, const float *imp, void *dst) {
    float sum_x2 = 0.0f;
    for (int64_t j = 0; j < n; j++)
        sum_x2 += x[j] * x[j];
    float sigma2 = sum_x2 / (float)n, w[32];
    int L[32];
    for (int64_t b = 0; b < n / 32; b++) {
        const float *xb = x + b * 32, *qw = imp + b * 32;
        for (int j = 0; j < 32; j++)
            w[j] = qw[j] * sqrtf(sigma2 + xb[j] * xb[j]);
        if (type == SQZ_TYPE_Q8_0) {
            block_q8_0 *y = (block_q8_0 *)dst + b;
            y->d = sqz_fp32_to_fp16(qx_search(xb, w, 32, 128, L));
            for (int j = 0; j < 32; j++)
                y->qs[j] = (int8_t)(L[j] - 128);
        } else if (type == SQZ_TYPE_Q4_0) {
            block_q4_0 *y = (block_q4_0 *)dst + b;
            y->d = sqz_fp32_to_fp16(qx_search(xb, w, 32, 8, L));
            for (int j = 0; j < 16; j++)
                y->qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
        } else {
            block_q4_1 *y = (block_q4_1 *)dst + b;
            float min;
            y->d = sqz_fp32_to_fp16(qkx_search(xb, w, 32, 15, L, &min));
            y->m = sqz_fp32_to_fp16(min);
            for (int j = 0; j < 16; j++)
                y->qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
        }
    }
}

sqz_status sqz_quant_blocks(sqz_type type, const float *w, int64_t n_out, int64_t n_in, const float *importance,
                            void *dst) {
    SQZ_FAIL_IF(type != SQZ_TYPE_Q8_0 && type != SQZ_TYPE_Q4_0 && type != SQZ_TYPE_Q4_1, SQZ_ERR_UNSUPPORTED,
                "block quantization: type %s is not a llama.cpp block type (q8_0, q4_0, q4_1)", sqz_type_name(type));
    SQZ_FAIL_IF(n_out <= 0 || n_in <= 0 || n_in % 32, SQZ_ERR_ARG,
                "%s: rows of %lld elements are not a whole number of 32-element blocks", sqz_type_name(type),
                (long long)n_in);
    const sqz_type_traits *tr = sqz_type_traits_of(type);
    size_t row = sqz_type_row_size(type, n_in);
    if (importance)
        for (int64_t i = 0; i < n_in; i++)
            SQZ_FAIL_IF(!(importance[i] >= 0.0f) || !isfinite(importance[i]), SQZ_ERR_ARG,
                        "%s: importance[%lld] = %g is not a finite non-negative number", sqz_type_name(type),
                        (long long)i, importance[i]);
    for (int64_t o = 0; o < n_out; o++) {
        void *d = (uint8_t *)dst + (size_t)o * row;
        if (importance)
            row_weighted(type, w + o * n_in, n_in, importance, d);
        else
            tr->from_float_ref(w + o * n_in, d, n_in);
    }
    return SQZ_OK;
}

// Round-to-nearest quantization with AutoGPTQ's quantizer, and the qweight container.
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quant/quant_internal.h"

qgrid sqz_qgrid_gptq(const float *x, int64_t n, int bits, bool sym) {
    float xmin = 0.0f, xmax = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        xmin = fminf(xmin, x[i]);
        xmax = fmaxf(xmax, x[i]);
    }
    if (sym) {
        xmax = fmaxf(fabsf(xmin), xmax);
        if (xmin < 0.0f)
            xmin = -xmax;
    }
    if (xmin == 0.0f && xmax == 0.0f) {
        xmin = -1.0f;
        xmax = 1.0f;
    }
    qgrid g = {.maxq = (1 << bits) - 1};
    g.scale = (xmax - xmin) / (float)g.maxq;
    g.zero = sym ? (float)(1 << (bits - 1)) : rintf(-xmin / g.scale);
    return g;
}

qgrid sqz_qgrid_awq(const float *x, int64_t n, int bits, bool sym) {
    float xmin = INFINITY, xmax = -INFINITY, amax = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        xmin = fminf(xmin, x[i]);
        xmax = fmaxf(xmax, x[i]);
        amax = fmaxf(amax, fabsf(x[i]));
    }
    qgrid g = {.maxq = (1 << bits) - 1};
    if (sym) {
        g.scale = fmaxf(amax, 1e-5f) / (float)((1 << (bits - 1)) - 1);
        g.zero = (float)(1 << (bits - 1));
    } else {
        g.scale = fmaxf(xmax - xmin, 1e-5f) / (float)g.maxq;
        float z = -rintf(xmin / g.scale);
        g.zero = z < 0.0f ? 0.0f : z > (float)g.maxq ? (float)g.maxq : z;
    }
    return g;
}

sqz_status sqz_qparams_check(const char *method, int64_t n_out, int64_t n_in, sqz_qparams p) {
    SQZ_FAIL_IF(n_out <= 0 || n_in <= 0, SQZ_ERR_ARG, "%s: bad weight shape [%lld][%lld]", method, (long long)n_out,
                (long long)n_in);
    SQZ_FAIL_IF(p.bits < 2 || p.bits > 8, SQZ_ERR_ARG, "%s: bits must be in 2..8, got %d", method, p.bits);
    SQZ_FAIL_IF(p.group < 0, SQZ_ERR_ARG, "%s: negative group size %d", method, p.group);
    SQZ_FAIL_IF(p.group > 0 && n_in % p.group != 0, SQZ_ERR_ARG,
                "%s: group size %d does not divide the input width %lld", method, p.group, (long long)n_in);
    return SQZ_OK;
}

sqz_status sqz_qweight_alloc(int64_t n_out, int64_t n_in, int bits, int group, bool sym, sqz_qweight **out) {
    *out = NULL;
    size_t n;
    SQZ_FAIL_IF(!sqz_mul_ok((size_t)n_out, (size_t)n_in, &n), SQZ_ERR_RANGE, "qweight: [%lld][%lld] overflows",
                (long long)n_out, (long long)n_in);
    sqz_qweight *q = calloc(1, sizeof *q);
    SQZ_FAIL_IF(!q, SQZ_ERR_NOMEM, "qweight: out of memory");
    q->n_out = n_out;
    q->n_in = n_in;
    q->bits = bits;
    q->group = group > 0 ? group : (int)n_in;
    q->n_groups = n_in / q->group;
    q->sym = sym;
    q->codes = malloc(n);
    q->scales = calloc((size_t)(q->n_groups * n_out), sizeof(float));
    q->zeros = calloc((size_t)(q->n_groups * n_out), sizeof(int32_t));
    q->g_idx = malloc((size_t)n_in * sizeof(int32_t));
    if (!q->codes || !q->scales || !q->zeros || !q->g_idx) {
        sqz_qweight_free(q);
        return sqz_error(SQZ_ERR_NOMEM, "qweight: out of memory for [%lld][%lld]", (long long)n_out, (long long)n_in);
    }
    for (int64_t i = 0; i < n_in; i++)
        q->g_idx[i] = (int32_t)(i / q->group);
    *out = q;
    return SQZ_OK;
}

void sqz_qweight_free(sqz_qweight *q) {
    if (!q)
        return;
    free(q->codes);
    free(q->scales);
    free(q->zeros);
    free(q->g_idx);
    free(q->in_scales);
    free(q);
}

void sqz_qweight_dequant(const sqz_qweight *q, float *out) {
    for (int64_t o = 0; o < q->n_out; o++) {
        for (int64_t i = 0; i < q->n_in; i++) {
            int64_t gi = (int64_t)q->g_idx[i] * q->n_out + o;
            float v = q->scales[gi] * ((float)q->codes[o * q->n_in + i] - (float)q->zeros[gi]);
            out[o * q->n_in + i] = q->in_scales ? v / q->in_scales[i] : v;
        }
    }
}

sqz_status sqz_quant_rtn(const float *w, int64_t n_out, int64_t n_in, sqz_qparams p, sqz_qweight **out) {
    *out = NULL;
    SQZ_TRY(sqz_qparams_check("rtn", n_out, n_in, p));
    sqz_qweight *q = NULL;
    SQZ_TRY(sqz_qweight_alloc(n_out, n_in, p.bits, p.group, p.sym, &q));
    for (int64_t o = 0; o < n_out; o++) {
        for (int64_t g = 0; g < q->n_groups; g++) {
            const float *x = w + o * n_in + g * q->group;
            qgrid qg = sqz_qgrid_gptq(x, q->group, p.bits, p.sym);
            q->scales[g * n_out + o] = qg.scale;
            q->zeros[g * n_out + o] = (int32_t)qg.zero;
            for (int64_t i = 0; i < q->group; i++)
                q->codes[o * n_in + g * q->group + i] = (uint8_t)sqz_qgrid_code(qg, x[i]);
        }
    }
    *out = q;
    return SQZ_OK;
}

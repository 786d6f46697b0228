// Grouped-int weights (layout in qgroup.h): packing from GPTQ's unpacked form, the scalar reference
// GEMM (the specification the SIMD tiers are tested against), activation preparation, dispatch.
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/qgroup.h"

// Byte and nibble shift of int4 layout column j in a row of n_in columns (see qgroup.h).
static inline size_t nib_pos(int64_t n_in, int64_t j, int *shift) {
    int64_t c = j / 64, k = j % 64;
    if ((c + 1) * 64 <= n_in) {
        *shift = k < 32 ? 0 : 4;
        return (size_t)(32 * c + k % 32);
    }
    *shift = k < 16 ? 0 : 4; // 32-column tail
    return (size_t)(32 * c + k % 16);
}

int sqz_qgroup_code(const sqz_qgroup *w, int64_t o, int64_t j) {
    const uint8_t *row = w->codes + (size_t)o * w->row;
    if (w->bits == 8)
        return (int8_t)row[j];
    int sh;
    size_t b = nib_pos(w->n_in, j, &sh);
    return (row[b] >> sh) & 15;
}

// Layout order: columns sorted by group (stable), so each group is contiguous. *perm stays NULL when
// that is the identity. Errors: a group index out of range, groups of unequal or non-32 size.
static sqz_status make_perm(const sqz_qgroup_src *s, int64_t group, int32_t *perm, bool *identity) {
    int64_t *fill = calloc((size_t)s->n_groups, sizeof *fill);
    SQZ_FAIL_IF(!fill, SQZ_ERR_NOMEM, "grouped int: out of memory");
    sqz_status st = SQZ_OK;
    *identity = true;
    for (int64_t i = 0; i < s->n_in && st == SQZ_OK; i++) {
        int64_t g = s->g_idx ? s->g_idx[i] : i / group;
        if (g < 0 || g >= s->n_groups)
            st = sqz_error(SQZ_ERR_FORMAT, "grouped int: g_idx[%lld] = %lld outside 0..%lld", (long long)i,
                           (long long)g, (long long)s->n_groups - 1);
        else if (fill[g] >= group)
            st = sqz_error(SQZ_ERR_UNSUPPORTED, "grouped int: group %lld has more than %lld columns", (long long)g,
                           (long long)group);
        else {
            int64_t j = g * group + fill[g]++;
            perm[j] = (int32_t)i;
            *identity = *identity && j == i;
        }
    }
    free(fill);
    return st;
}

static sqz_status check_src(const sqz_qgroup_src *s) {
    SQZ_FAIL_IF(s->bits < 2 || s->bits > 8, SQZ_ERR_ARG, "grouped int: %d-bit codes", s->bits);
    SQZ_FAIL_IF(s->n_out < 1 || s->n_in < 1 || s->n_groups < 1 || s->n_in > INT32_MAX, SQZ_ERR_ARG,
                "grouped int: shape [%lld][%lld] with %lld groups", (long long)s->n_out, (long long)s->n_in,
                (long long)s->n_groups);
    SQZ_FAIL_IF(s->n_in % 32 || s->n_in % s->n_groups || (s->n_in / s->n_groups) % 32, SQZ_ERR_UNSUPPORTED,
                "grouped int: %lld columns in %lld groups is not whole groups of a multiple of 32 columns",
                (long long)s->n_in, (long long)s->n_groups);
    int64_t cmax = (1 << s->bits) - 1;
    for (int64_t i = 0; i < s->n_out * s->n_in; i++)
        SQZ_FAIL_IF(s->codes[i] > cmax, SQZ_ERR_FORMAT, "grouped int: code %d at [%lld][%lld] exceeds %lld",
                    s->codes[i], (long long)(i / s->n_in), (long long)(i % s->n_in), (long long)cmax);
    for (int64_t i = 0; i < s->n_groups * s->n_out; i++)
        SQZ_FAIL_IF(s->zeros[i] < 0 || s->zeros[i] > cmax + 1, SQZ_ERR_FORMAT,
                    "grouped int: zero point %d of group %lld, row %lld outside 0..%lld", s->zeros[i],
                    (long long)(i / s->n_out), (long long)(i % s->n_out), (long long)cmax + 1);
    return SQZ_OK;
}

// One allocation: the struct, then codes, scales, zeros, perm (each 64-byte aligned).
static sqz_qgroup *alloc_qgroup(int64_t n_out, int64_t n_in, int bits, int64_t n_groups) {
    size_t row = bits == 4 ? (size_t)n_in / 2 : (size_t)n_in, meta = (size_t)(n_out * n_groups);
    size_t o_codes = (sizeof(sqz_qgroup) + 63) & ~(size_t)63, o_scales = o_codes + ((row * (size_t)n_out + 63) & ~(size_t)63);
    size_t o_zeros = o_scales + ((meta * 2 + 63) & ~(size_t)63), o_perm = o_zeros + ((meta * 2 + 63) & ~(size_t)63);
    size_t total = o_perm + (size_t)n_in * sizeof(int32_t);
    uint8_t *p = aligned_alloc(64, (total + 63) & ~(size_t)63);
    if (!p)
        return NULL;
    sqz_qgroup *w = (sqz_qgroup *)p;
    *w = (sqz_qgroup){.n_out = n_out, .n_in = n_in, .bits = bits, .group = (int)(n_in / n_groups),
                      .n_groups = n_groups, .row = row, .codes = p + o_codes, .scales = (uint16_t *)(p + o_scales),
                      .zeros = (int16_t *)(p + o_zeros), .perm = (int32_t *)(p + o_perm)};
    return w;
}

sqz_status sqz_qgroup_pack(const sqz_qgroup_src *s, sqz_qgroup **out) {
    *out = NULL;
    SQZ_TRY(check_src(s));
    sqz_qgroup *w = alloc_qgroup(s->n_out, s->n_in, s->bits <= 4 ? 4 : 8, s->n_groups);
    SQZ_FAIL_IF(!w, SQZ_ERR_NOMEM, "grouped int: out of memory for [%lld][%lld]", (long long)s->n_out,
                (long long)s->n_in);
    w->src_bits = s->bits;
    bool identity = false;
    sqz_status st = make_perm(s, w->group, w->perm, &identity);
    if (st != SQZ_OK) {
        sqz_qgroup_free(w);
        return st;
    }
    int bias = w->bits == 8 ? 128 : 0;
    for (int64_t o = 0; o < s->n_out; o++) {
        uint8_t *row = w->codes + (size_t)o * w->row;
        const uint8_t *src = s->codes + o * s->n_in;
        if (w->bits == 8)
            for (int64_t j = 0; j < s->n_in; j++)
                row[j] = (uint8_t)(src[w->perm[j]] - bias);
        else
            for (int64_t c = 0; c < s->n_in; c += 64) { // a chunk of 64 columns, or the 32-column tail
                int64_t half = c + 64 <= s->n_in ? 32 : 16;
                for (int64_t k = 0; k < half; k++)
                    row[c / 2 + k] = (uint8_t)(src[w->perm[c + k]] | src[w->perm[c + half + k]] << 4);
            }
        for (int64_t g = 0; g < s->n_groups; g++) {
            w->scales[o * s->n_groups + g] = sqz_fp32_to_fp16(s->scales[g * s->n_out + o]);
            w->zeros[o * s->n_groups + g] = (int16_t)(s->zeros[g * s->n_out + o] - bias);
        }
    }
    if (identity)
        w->perm = NULL;
    *out = w;
    return SQZ_OK;
}

void sqz_qgroup_free(sqz_qgroup *w) { free(w); }

size_t sqz_qgroup_nbytes(const sqz_qgroup *w) {
    return (size_t)w->n_out * (w->row + (size_t)w->n_groups * (sizeof *w->scales + sizeof *w->zeros));
}

void sqz_qgroup_row_to_float(const sqz_qgroup *w, int64_t o, float *out) {
    for (int64_t j = 0; j < w->n_in; j++) {
        int64_t g = o * w->n_groups + j / w->group;
        float v = sqz_fp16_to_fp32(w->scales[g]) * ((float)sqz_qgroup_code(w, o, j) - (float)w->zeros[g]);
        out[w->perm ? w->perm[j] : j] = v;
    }
}

size_t sqz_qgroup_act_size(const sqz_qgroup *w) { return (size_t)(w->n_in / QK8A) * sizeof(block_q8a); }

void sqz_qgroup_prep(const sqz_qgroup *w, const float *x, block_q8a *xa, sqz_act_fn quant) {
    if (!w->perm) {
        quant(x, xa, w->n_in);
        return;
    }
    float tmp[QK8A]; // act-order: gather one block through perm, then quantize it
    for (int64_t b = 0; b < w->n_in / QK8A; b++) {
        for (int k = 0; k < QK8A; k++)
            tmp[k] = x[w->perm[b * QK8A + k]];
        quant(tmp, &xa[b], QK8A);
    }
}

// ---- scalar reference -----------------------------------------------------------------------------
// Per (row, token): y = Σ_g scale_g · Σ_{b∈g} (d_b·Σ_k c_k·qs_k − z_g·s_b), in float, blocks in order.
void sqz_qgroup_gemm_ref(const sqz_qgroup *w, const block_q8a *x, size_t x_stride, int64_t n, float *y, int64_t ldy,
                         int64_t r0, int64_t r1) {
    int64_t bpg = w->group / QK8A;
    for (int64_t o = r0; o < r1; o++)
        for (int64_t t = 0; t < n; t++) {
            const block_q8a *xt = (const block_q8a *)((const uint8_t *)x + (size_t)t * x_stride);
            float acc = 0.0f;
            for (int64_t g = 0; g < w->n_groups; g++) {
                float z = (float)w->zeros[o * w->n_groups + g], gacc = 0.0f;
                for (int64_t b = g * bpg; b < (g + 1) * bpg; b++) {
                    int32_t isum = 0;
                    for (int k = 0; k < QK8A; k++)
                        isum += sqz_qgroup_code(w, o, b * QK8A + k) * xt[b].qs[k];
                    gacc += xt[b].d * (float)isum - z * xt[b].s;
                }
                acc += sqz_fp16_to_fp32(w->scales[o * w->n_groups + g]) * gacc;
            }
            y[t * ldy + o] = acc;
        }
}

// ---- dispatch ---------------------------------------------------------------------------------------
sqz_qgroup_gemm_fn sqz_qgroup_gemm_isa(sqz_isa isa) {
    if (!sqz_isa_supported(isa))
        return NULL;
    return isa == SQZ_ISA_AVX512 ? sqz_qgroup_gemm_avx512 : isa == SQZ_ISA_AVX2 ? sqz_qgroup_gemm_avx2 : sqz_qgroup_gemm_ref;
}

sqz_qgroup_gemm_fn sqz_qgroup_gemm_best(void) { return sqz_qgroup_gemm_isa(sqz_kernels_isa()); }

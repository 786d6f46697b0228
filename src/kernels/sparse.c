// N:M sparse storage (encode/decode/size), CSR, dense group-quantized int weights, and the scalar
// reference GEMV kernels that define what the SIMD kernels compute. Layouts: sparse.h and
// docs/prune.md.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/qgroup.h"
#include "kernels/kernels.h"
#include "kernels/sparse.h"

// ---- shared helpers -----------------------------------------------------------------------------

static int qmax_of(sqz_sp_values vt) { return vt == SQZ_SP_I8 ? 127 : 7; }

// Bytes of one row of n kept values.
static size_t values_bytes(sqz_sp_values vt, int64_t n) {
    return vt == SQZ_SP_F16 ? (size_t)n * 2 : vt == SQZ_SP_I8 ? (size_t)n : (size_t)n / 2;
}

// fp16 scale of one (row, group): max|w| / qmax, rounded to fp16.
static uint16_t group_scale(const float *w, int64_t n, int qmax) {
    float amax = 0.0f;
    for (int64_t i = 0; i < n; i++)
        amax = fmaxf(amax, fabsf(w[i]));
    return sqz_fp32_to_fp16(amax / (float)qmax);
}

static int quant_code(float v, float scale, int qmax) {
    if (scale == 0.0f)
        return 0;
    float q = rintf(v / scale);
    return (int)(q < -qmax ? -qmax : q > qmax ? qmax : q);
}

static sqz_status check_int_group(const char *what, sqz_sp_values vt, int group, int64_t n_in) {
    if (vt == SQZ_SP_F16)
        return SQZ_OK;
    SQZ_FAIL_IF(group <= 0 || group % SQZ_SP_CHUNK || n_in % group, SQZ_ERR_ARG,
                "%s: group %d must be a positive multiple of %d dividing n_in = %lld", what, group, SQZ_SP_CHUNK,
                (long long)n_in);
    return SQZ_OK;
}

// ---- N:M encode ---------------------------------------------------------------------------------

// Kept columns of one group of m: the nonzeros, padded with the lowest zero columns up to n, in
// ascending order. Returns false if the group has more than n nonzeros.
static bool group_kept(const float *g, int n, int m, int *kept) {
    int nz = 0;
    for (int j = 0; j < m; j++)
        nz += g[j] != 0.0f;
    if (nz > n)
        return false;
    int pad = n - nz, c = 0;
    for (int j = 0; j < m; j++)
        if (g[j] != 0.0f || (pad > 0 && pad--))
            kept[c++] = j;
    return true;
}

static void put_value(sqz_sparse_nm *s, uint8_t *row, int64_t k, float v, float scale) {
    switch (s->vt) {
    case SQZ_SP_F16:
        ((uint16_t *)row)[k] = sqz_fp32_to_fp16(v);
        break;
    case SQZ_SP_I8:
        ((int8_t *)row)[k] = (int8_t)quant_code(v, scale, 127);
        break;
    case SQZ_SP_I4: {
        uint8_t code = (uint8_t)(quant_code(v, scale, 7) + 8);
        row[k / 2] |= (uint8_t)(k & 1 ? code << 4 : code);
        break;
    }
    }
}

static void put_nibble(uint8_t *row, int64_t k, uint8_t nibble) { row[k / 2] |= (uint8_t)(k & 1 ? nibble << 4 : nibble); }

// Value slot of the 2:4 lane-order position p of chunk c: int4 packs p and p+16 into one byte.
static int64_t slot24(const sqz_sparse_nm *s, int64_t c, int p) {
    if (s->vt != SQZ_SP_I4)
        return c * 32 + p;
    return (c * 16 + (p & 15)) * 2 + (p >> 4); // byte c·16 + p%16, nibble p/16 (put_value: k&1 = high)
}

static float row_scale(const sqz_sparse_nm *s, int64_t r, int64_t col) {
    return s->vt == SQZ_SP_F16 ? 0.0f : sqz_fp16_to_fp32(s->scales[r * (s->n_in / s->group) + col / s->group]);
}

// Row r of W into s. codes (int4 with zero points) non-NULL: w only marks which weights are nonzero,
// the stored nibbles are codes[col] as they are.
static sqz_status encode_row(sqz_sparse_nm *s, const float *w, const uint8_t *codes, int64_t r) {
    uint8_t *vrow = s->values + (size_t)r * s->values_row, *mrow = s->meta + (size_t)r * s->meta_row;
    int kept[64];
    if (s->m == 4) {
        for (int64_t c = 0; c < s->n_in / SQZ_SP_CHUNK; c++) {
            uint64_t word = 0;
            int colk[32];
            for (int g = 0; g < 16; g++) {
                SQZ_FAIL_IF(!group_kept(w + c * 64 + 4 * g, 2, 4, kept), SQZ_ERR_ARG,
                            "sparse 2:4: row %lld, columns %lld..%lld have more than 2 nonzeros", (long long)r,
                            (long long)(c * 64 + 4 * g), (long long)(c * 64 + 4 * g + 3));
                colk[2 * g] = kept[0];
                colk[2 * g + 1] = kept[1];
            }
            for (int p = 0; p < 32; p++) {
                int k = sqz_sp24_kept_of(s->vt, p), idx = colk[k];
                int64_t col = c * 64 + 4 * (k / 2) + idx;
                word |= (uint64_t)idx << sqz_sp24_meta_bit(s->vt, p);
                if (codes)
                    put_nibble(vrow, slot24(s, c, p), codes[col]);
                else
                    put_value(s, vrow, slot24(s, c, p), w[col], row_scale(s, r, col));
            }
            memcpy(mrow + c * 8, &word, 8); // little-endian host (x86/arm64)
        }
        return SQZ_OK;
    }
    int64_t k = 0;
    for (int64_t g = 0; g < s->n_in / s->m; g++) {
        SQZ_FAIL_IF(!group_kept(w + g * s->m, s->n, s->m, kept), SQZ_ERR_ARG,
                    "sparse %d:%d: row %lld, columns %lld..%lld have more than %d nonzeros", s->n, s->m, (long long)r,
                    (long long)(g * s->m), (long long)(g * s->m + s->m - 1), s->n);
        uint8_t bits = 0;
        for (int t = 0; t < s->n; t++) {
            bits |= (uint8_t)(1u << kept[t]);
            int64_t col = g * s->m + kept[t];
            if (codes)
                put_nibble(vrow, k++, codes[col]);
            else
                put_value(s, vrow, k++, w[col], row_scale(s, r, col));
        }
        mrow[g] = bits;
    }
    return SQZ_OK;
}

// A zero-filled N:M tensor of the given shape (int4 with_zeros: with a zero-point array too).
static sqz_status nm_alloc(int64_t n_out, int64_t n_in, sqz_nm nm, sqz_sp_values vt, int group, bool with_zeros,
                           sqz_sparse_nm **out) {
    *out = NULL;
    SQZ_FAIL_IF(!((nm.n == 2 && nm.m == 4) || (nm.n == 4 && nm.m == 8)), SQZ_ERR_UNSUPPORTED,
                "sparse storage: pattern %d:%d has no compressed layout (2:4 and 4:8 do)", nm.n, nm.m);
    SQZ_FAIL_IF(n_out <= 0 || n_in <= 0 || n_in % SQZ_SP_CHUNK || n_out > INT32_MAX || n_in > INT32_MAX, SQZ_ERR_ARG,
                "sparse storage: shape [%lld][%lld]: n_in must be a positive multiple of %d", (long long)n_out,
                (long long)n_in, SQZ_SP_CHUNK);
    SQZ_TRY(check_int_group("sparse storage", vt, group, n_in));
    sqz_sparse_nm *s = calloc(1, sizeof *s);
    SQZ_FAIL_IF(!s, SQZ_ERR_NOMEM, "sparse storage: out of memory");
    *s = (sqz_sparse_nm){.n_out = n_out, .n_in = n_in, .n = nm.n, .m = nm.m, .vt = vt,
                         .group = vt == SQZ_SP_F16 ? 0 : group, .values_row = values_bytes(vt, n_in / 2),
                         .meta_row = (size_t)n_in / 8};
    size_t meta = vt == SQZ_SP_F16 ? 0 : (size_t)n_out * (size_t)(n_in / group);
    s->values = calloc((size_t)n_out, s->values_row);
    s->meta = calloc((size_t)n_out, s->meta_row);
    s->scales = meta ? calloc(meta, sizeof *s->scales) : NULL;
    s->zeros = with_zeros ? calloc(meta, 1) : NULL;
    if (!s->values || !s->meta || (meta && !s->scales) || (with_zeros && !s->zeros)) {
        sqz_sparse_nm_free(s);
        return sqz_error(SQZ_ERR_NOMEM, "sparse storage: out of memory for [%lld][%lld]", (long long)n_out,
                         (long long)n_in);
    }
    *out = s;
    return SQZ_OK;
}

sqz_status sqz_sparse_nm_encode(const float *w, int64_t n_out, int64_t n_in, sqz_nm nm, sqz_sp_values vt, int group,
                                sqz_sparse_nm **out) {
    sqz_sparse_nm *s = NULL;
    SQZ_TRY(nm_alloc(n_out, n_in, nm, vt, group, false, &s));
    sqz_status st = SQZ_OK;
    for (int64_t r = 0; r < n_out && st == SQZ_OK; r++) {
        const float *wr = w + r * n_in;
        if (vt != SQZ_SP_F16)
            for (int64_t g = 0; g < n_in / group; g++)
                s->scales[r * (n_in / group) + g] = group_scale(wr + g * group, group, qmax_of(vt));
        st = encode_row(s, wr, NULL, r);
    }
    if (st != SQZ_OK) {
        sqz_sparse_nm_free(s);
        return st;
    }
    *out = s;
    return SQZ_OK;
}

sqz_status sqz_sparse_nm_encode_int4(const uint8_t *codes, const float *scales, const int32_t *zeros, int64_t n_out,
                                     int64_t n_in, int64_t n_groups, sqz_nm nm, sqz_sparse_nm **out) {
    *out = NULL;
    SQZ_FAIL_IF(n_groups <= 0 || n_in % n_groups || n_in / n_groups > INT32_MAX, SQZ_ERR_ARG,
                "sparse int4: %lld groups do not divide n_in = %lld", (long long)n_groups, (long long)n_in);
    sqz_sparse_nm *s = NULL;
    SQZ_TRY(nm_alloc(n_out, n_in, nm, SQZ_SP_I4, (int)(n_in / n_groups), true, &s));
    float *mask = malloc((size_t)n_in * sizeof *mask); // 1 where a weight is nonzero (code != zero)
    sqz_status st = mask ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "sparse int4: out of memory");
    int64_t group = s->group;
    for (int64_t r = 0; r < n_out && st == SQZ_OK; r++) {
        const uint8_t *cr = codes + r * n_in;
        for (int64_t g = 0; g < n_groups && st == SQZ_OK; g++) {
            int32_t z = zeros[g * n_out + r];
            if (z < 0 || z > 16)
                st = sqz_error(SQZ_ERR_FORMAT, "sparse int4: zero point %d of row %lld, group %lld outside 0..16", z,
                               (long long)r, (long long)g);
            s->scales[r * n_groups + g] = sqz_fp32_to_fp16(scales[g * n_out + r]);
            s->zeros[r * n_groups + g] = (uint8_t)z;
            for (int64_t j = g * group; j < (g + 1) * group && st == SQZ_OK; j++) {
                if (cr[j] > 15)
                    st = sqz_error(SQZ_ERR_FORMAT, "sparse int4: code %d at [%lld][%lld] exceeds 15", cr[j], (long long)r,
                                   (long long)j);
                mask[j] = cr[j] != z ? 1.0f : 0.0f;
            }
        }
        if (st == SQZ_OK)
            st = encode_row(s, mask, cr, r);
    }
    free(mask);
    if (st != SQZ_OK) {
        sqz_sparse_nm_free(s);
        return st;
    }
    *out = s;
    return SQZ_OK;
}

void sqz_sparse_nm_free(sqz_sparse_nm *s) {
    if (!s)
        return;
    free(s->values);
    free(s->meta);
    free(s->scales);
    free(s->zeros);
    free(s);
}

// ---- N:M decode ---------------------------------------------------------------------------------

// Code (int types) or fp16 bits (F16) of value slot k of a row.
static int get_code(const sqz_sparse_nm *s, const uint8_t *row, int64_t k) {
    switch (s->vt) {
    case SQZ_SP_F16:
        return ((const uint16_t *)row)[k];
    case SQZ_SP_I8:
        return ((const int8_t *)row)[k];
    default:
        return (k & 1 ? row[k / 2] >> 4 : row[k / 2] & 15) - 8;
    }
}

// get_code gives an int4 nibble − 8; with zero points the code is nibble − zero: add 8 − zero.
static int zero_shift(const sqz_sparse_nm *s, int64_t r, int64_t col) {
    return s->zeros ? 8 - s->zeros[r * (s->n_in / s->group) + col / s->group] : 0;
}

// The n_in/2 (column, code) pairs of row r, in storage order (codes with their zero point applied).
static void row_entries(const sqz_sparse_nm *s, int64_t r, int32_t *cols, int32_t *codes) {
    const uint8_t *vrow = s->values + (size_t)r * s->values_row, *mrow = s->meta + (size_t)r * s->meta_row;
    int64_t e = 0;
    if (s->m == 4) {
        for (int64_t c = 0; c < s->n_in / SQZ_SP_CHUNK; c++) {
            uint64_t word;
            memcpy(&word, mrow + c * 8, 8);
            for (int p = 0; p < 32; p++, e++) {
                int idx = (int)(word >> sqz_sp24_meta_bit(s->vt, p)) & 3;
                cols[e] = (int32_t)(c * 64 + 4 * (sqz_sp24_kept_of(s->vt, p) / 2) + idx);
                codes[e] = get_code(s, vrow, slot24(s, c, p)) + zero_shift(s, r, cols[e]);
            }
        }
        return;
    }
    for (int64_t g = 0; g < s->n_in / s->m; g++)
        for (int j = 0; j < s->m; j++)
            if (mrow[g] >> j & 1) {
                cols[e] = (int32_t)(g * s->m + j);
                codes[e] = get_code(s, vrow, e) + zero_shift(s, r, cols[e]);
                e++;
            }
}

void sqz_sparse_nm_decode(const sqz_sparse_nm *s, float *out) {
    int64_t half = s->n_in / 2;
    int32_t *cols = malloc((size_t)half * 2 * sizeof *cols);
    if (!cols) { // decode has no error path; a failed 2·n_in·4-byte allocation leaves zeros
        memset(out, 0, (size_t)(s->n_out * s->n_in) * sizeof *out);
        return;
    }
    int32_t *codes = cols + half;
    for (int64_t r = 0; r < s->n_out; r++) {
        float *o = out + r * s->n_in;
        memset(o, 0, (size_t)s->n_in * sizeof *o);
        row_entries(s, r, cols, codes);
        for (int64_t e = 0; e < half; e++)
            o[cols[e]] = s->vt == SQZ_SP_F16 ? sqz_fp16_to_fp32((uint16_t)codes[e])
                                             : (float)codes[e] * row_scale(s, r, cols[e]);
    }
    free(cols);
}

void sqz_sparse_nm_decode_f16(const sqz_sparse_nm *s, uint16_t *out) {
    memset(out, 0, (size_t)(s->n_out * s->n_in) * sizeof *out);
    int64_t half = s->n_in / 2;
    int32_t *cols = s->vt == SQZ_SP_F16 ? malloc((size_t)half * 2 * sizeof *cols) : NULL;
    if (!cols) // not F16 values, or no memory: zeros (decode has no error path)
        return;
    int32_t *codes = cols + half;
    for (int64_t r = 0; r < s->n_out; r++) {
        row_entries(s, r, cols, codes);
        for (int64_t e = 0; e < half; e++)
            out[r * s->n_in + cols[e]] = (uint16_t)codes[e];
    }
    free(cols);
}

size_t sqz_sparse_nm_nbytes(const sqz_sparse_nm *s) {
    size_t scales = s->scales ? (size_t)(s->n_in / s->group) * (s->zeros ? 3 : 2) : 0;
    return (size_t)s->n_out * (s->values_row + s->meta_row + scales);
}

size_t sqz_sparse_nm_dense_nbytes(const sqz_sparse_nm *s) {
    size_t scales = s->scales ? (size_t)(s->n_in / s->group) * 2 : 0;
    return (size_t)s->n_out * (values_bytes(s->vt, s->n_in) + scales);
}

// ---- CSR ----------------------------------------------------------------------------------------

size_t sqz_sparse_csr_nbytes_for(int64_t n_out, int64_t nnz) { return 4 * (size_t)(n_out + 1) + 4 * (size_t)nnz; }

sqz_status sqz_sparse_csr_encode(const float *w, int64_t n_out, int64_t n_in, sqz_sparse_csr **out) {
    *out = NULL;
    SQZ_FAIL_IF(n_out <= 0 || n_in <= 0 || n_in > 65536, SQZ_ERR_ARG,
                "sparse CSR: shape [%lld][%lld]: n_in must be in 1..65536", (long long)n_out, (long long)n_in);
    int64_t nnz = 0;
    for (int64_t i = 0; i < n_out * n_in; i++)
        nnz += w[i] != 0.0f;
    SQZ_FAIL_IF(nnz > UINT32_MAX, SQZ_ERR_RANGE, "sparse CSR: %lld nonzeros exceed 32-bit row pointers",
                (long long)nnz);
    if (sqz_sparse_csr_nbytes_for(n_out, nnz) >= 2 * (size_t)(n_out * n_in))
        return SQZ_OK; // not smaller than dense F16: keep it dense
    sqz_sparse_csr *s = calloc(1, sizeof *s);
    SQZ_FAIL_IF(!s, SQZ_ERR_NOMEM, "sparse CSR: out of memory");
    s->n_out = n_out, s->n_in = n_in, s->nnz = nnz;
    s->row_ptr = malloc((size_t)(n_out + 1) * sizeof *s->row_ptr);
    s->col = malloc((size_t)(nnz ? nnz : 1) * sizeof *s->col);
    s->val = malloc((size_t)(nnz ? nnz : 1) * sizeof *s->val);
    if (!s->row_ptr || !s->col || !s->val) {
        sqz_sparse_csr_free(s);
        return sqz_error(SQZ_ERR_NOMEM, "sparse CSR: out of memory for %lld nonzeros", (long long)nnz);
    }
    uint32_t e = 0;
    for (int64_t r = 0; r < n_out; r++) {
        s->row_ptr[r] = e;
        for (int64_t j = 0; j < n_in; j++)
            if (w[r * n_in + j] != 0.0f) {
                s->col[e] = (uint16_t)j;
                s->val[e++] = sqz_fp32_to_fp16(w[r * n_in + j]);
            }
    }
    s->row_ptr[n_out] = e;
    *out = s;
    return SQZ_OK;
}

void sqz_sparse_csr_free(sqz_sparse_csr *s) {
    if (!s)
        return;
    free(s->row_ptr);
    free(s->col);
    free(s->val);
    free(s);
}

void sqz_sparse_csr_decode(const sqz_sparse_csr *s, float *out) {
    memset(out, 0, (size_t)(s->n_out * s->n_in) * sizeof *out);
    for (int64_t r = 0; r < s->n_out; r++)
        for (uint32_t e = s->row_ptr[r]; e < s->row_ptr[r + 1]; e++)
            out[r * s->n_in + s->col[e]] = sqz_fp16_to_fp32(s->val[e]);
}

// ---- dense group-quantized int ------------------------------------------------------------------

// Codes and scales as the sparse int encoder computes them, packed by sqz_qgroup_pack (symmetric:
// source codes code + 2^(bits−1) with that zero point).
sqz_status sqz_dense_q_encode(const float *w, int64_t n_out, int64_t n_in, sqz_sp_values vt, int group,
                              sqz_dense_q **out) {
    *out = NULL;
    SQZ_FAIL_IF(vt == SQZ_SP_F16 || n_out <= 0 || n_in <= 0 || n_in % SQZ_SP_CHUNK, SQZ_ERR_ARG,
                "dense int weights: need an int type and n_in a multiple of %d, got [%lld][%lld]", SQZ_SP_CHUNK,
                (long long)n_out, (long long)n_in);
    SQZ_TRY(check_int_group("dense int weights", vt, group, n_in));
    int64_t ng = n_in / group;
    int qmax = qmax_of(vt), bias = vt == SQZ_SP_I8 ? 128 : 8;
    uint8_t *codes = malloc((size_t)(n_out * n_in));
    float *scales = malloc((size_t)(n_out * ng) * sizeof *scales);
    int32_t *zeros = malloc((size_t)(n_out * ng) * sizeof *zeros);
    sqz_dense_q *q = calloc(1, sizeof *q);
    sqz_status st = codes && scales && zeros && q ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "dense int weights: out of memory");
    for (int64_t r = 0; st == SQZ_OK && r < n_out; r++) {
        const float *wr = w + r * n_in;
        for (int64_t g = 0; g < ng; g++) {
            scales[g * n_out + r] = sqz_fp16_to_fp32(group_scale(wr + g * group, group, qmax));
            zeros[g * n_out + r] = bias;
        }
        for (int64_t j = 0; j < n_in; j++)
            codes[r * n_in + j] = (uint8_t)(quant_code(wr[j], scales[(j / group) * n_out + r], qmax) + bias);
    }
    sqz_qgroup_src src = {n_out, n_in, ng, vt == SQZ_SP_I8 ? 8 : 4, codes, scales, zeros, NULL};
    if (st == SQZ_OK)
        st = sqz_qgroup_pack(&src, &q->qg);
    free(codes), free(scales), free(zeros);
    if (st != SQZ_OK) {
        free(q);
        return st;
    }
    *q = (sqz_dense_q){.n_out = n_out, .n_in = n_in, .vt = vt, .group = group, .row = q->qg->row,
                       .codes = q->qg->codes, .scales = q->qg->scales, .qg = q->qg};
    *out = q;
    return SQZ_OK;
}

void sqz_dense_q_free(sqz_dense_q *q) {
    if (!q)
        return;
    sqz_qgroup_free(q->qg);
    free(q);
}

// The layout with this struct's codes and scales (they differ from qg's in a copy).
static sqz_qgroup dq_view(const sqz_dense_q *q) {
    sqz_qgroup v = *q->qg;
    v.codes = q->codes, v.scales = q->scales;
    return v;
}

void sqz_dense_q_decode(const sqz_dense_q *q, float *out) {
    sqz_qgroup v = dq_view(q);
    for (int64_t r = 0; r < q->n_out; r++)
        sqz_qgroup_row_to_float(&v, r, out + r * q->n_in);
}

// The sparse kernels' activations (int8 per 64 columns) as the grouped-int kernels take them, then
// one GEMV. Stack blocks up to 8192 columns; NaN outputs if a wider row cannot get memory.
static void dq_gemv(const sqz_dense_q *w, const int8_t *xq, const float *xd, float *y, int64_t r0, int64_t r1,
                    sqz_qgroup_gemm_fn gemm) {
    block_q8a stack[256], *xa = w->n_in / QK8A <= 256 ? stack : malloc((size_t)(w->n_in / QK8A) * sizeof *xa);
    if (!xa) {
        for (int64_t r = r0; r < r1; r++)
            y[r] = NAN;
        return;
    }
    for (int64_t b = 0; b < w->n_in / QK8A; b++) {
        int32_t sum = 0;
        for (int k = 0; k < QK8A; k++)
            sum += xa[b].qs[k] = xq[b * QK8A + k];
        xa[b].d = xd[b * QK8A / SQZ_SP_CHUNK];
        xa[b].s = xa[b].d * (float)sum;
    }
    sqz_qgroup v = dq_view(w);
    gemm(&v, xa, 0, 1, y, w->n_out, r0, r1);
    if (xa != stack)
        free(xa);
}

// ---- reference kernels --------------------------------------------------------------------------

void sqz_sp_quant_x_ref(const float *x, int64_t n, int8_t *xq, float *xd) {
    for (int64_t c = 0; c < n / SQZ_SP_CHUNK; c++) {
        const float *xc = x + c * SQZ_SP_CHUNK;
        float amax = 0.0f;
        for (int j = 0; j < SQZ_SP_CHUNK; j++)
            amax = fmaxf(amax, fabsf(xc[j]));
        float d = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
        xd[c] = d;
        for (int j = 0; j < SQZ_SP_CHUNK; j++)
            xq[c * SQZ_SP_CHUNK + j] = (int8_t)rintf(xc[j] * id);
    }
}

void sqz_sp_gemv_f16_ref(const sqz_sparse_nm *w, const float *x, float *y, int64_t r0, int64_t r1) {
    int64_t half = w->n_in / 2;
    int32_t *buf = malloc((size_t)half * 2 * sizeof *buf);
    if (!buf)
        return;
    for (int64_t r = r0; r < r1; r++) {
        row_entries(w, r, buf, buf + half);
        float acc = 0.0f;
        for (int64_t e = 0; e < half; e++)
            acc += sqz_fp16_to_fp32((uint16_t)buf[half + e]) * x[buf[e]];
        y[r] = acc;
    }
    free(buf);
}

void sqz_sp_gemv_q_ref(const sqz_sparse_nm *w, const int8_t *xq, const float *xd, float *y, int64_t r0, int64_t r1) {
    int64_t half = w->n_in / 2, per_group = w->group / 2;
    int32_t *buf = malloc((size_t)half * 2 * sizeof *buf);
    if (!buf)
        return;
    for (int64_t r = r0; r < r1; r++) {
        row_entries(w, r, buf, buf + half);
        // Entries come chunk by chunk (2:4: 32 per 64 columns; 4:8: in column order), so each 64-column
        // chunk's integer sum is exact, then scaled by its activation scale and its group's weight scale.
        float acc = 0.0f, gacc = 0.0f;
        int32_t isum = 0;
        for (int64_t e = 0; e < half; e++) {
            isum += buf[half + e] * xq[buf[e]];
            if ((e + 1) % (SQZ_SP_CHUNK / 2) == 0) {
                gacc += (float)isum * xd[buf[e] / SQZ_SP_CHUNK];
                isum = 0;
            }
            if ((e + 1) % per_group == 0) {
                acc += gacc * row_scale(w, r, buf[e]);
                gacc = 0.0f;
            }
        }
        y[r] = acc;
    }
    free(buf);
}

void sqz_dq_gemv_ref(const sqz_dense_q *w, const int8_t *xq, const float *xd, float *y, int64_t r0, int64_t r1) {
    dq_gemv(w, xq, xd, y, r0, r1, sqz_qgroup_gemm_ref);
}

void sqz_dq_gemv_avx2(const sqz_dense_q *w, const int8_t *xq, const float *xd, float *y, int64_t r0, int64_t r1) {
    dq_gemv(w, xq, xd, y, r0, r1, sqz_qgroup_gemm_avx2);
}

// ---- dispatch -----------------------------------------------------------------------------------

// The tiers of the dispatcher (kernels.h: CPUID, SQZ_ISA): AVX-512 has its own 2:4 F16 GEMV; the int
// kernels are AVX2 on both SIMD tiers.
static bool have_avx2(void) { return sqz_kernels_isa() >= SQZ_ISA_AVX2; }

sqz_sp_gemv_f_fn sqz_sp_gemv_f16_best(void) {
    return sqz_kernels_isa() == SQZ_ISA_AVX512 ? sqz_sp_gemv_f16_avx512 : have_avx2() ? sqz_sp_gemv_f16_avx2 : sqz_sp_gemv_f16_ref;
}
static bool have_vbmi(void) {
    const char *f = sqz_cpu_features();
    for (const char *p = strstr(f, "avx512vbmi"); p; p = strstr(p + 1, "avx512vbmi"))
        if ((p == f || p[-1] == ' ') && (p[10] == ' ' || p[10] == 0))
            return true;
    return false;
}

sqz_sp_gemv_q_fn sqz_sp_gemv_q_best(void) {
    return sqz_kernels_isa() == SQZ_ISA_AVX512 && have_vbmi() ? sqz_sp_gemv_q_avx512
           : have_avx2()                                       ? sqz_sp_gemv_q_avx2
                                                               : sqz_sp_gemv_q_ref;
}
static void dq_gemv_avx512(const sqz_dense_q *w, const int8_t *xq, const float *xd, float *y, int64_t r0, int64_t r1) {
    dq_gemv(w, xq, xd, y, r0, r1, sqz_qgroup_gemm_avx512);
}

// Dense int: the grouped-int GEMM of the best tier.
sqz_dq_gemv_fn sqz_dq_gemv_best(void) {
    return sqz_kernels_isa() == SQZ_ISA_AVX512 ? dq_gemv_avx512 : have_avx2() ? sqz_dq_gemv_avx2 : sqz_dq_gemv_ref;
}
void (*sqz_sp_quant_x_best(void))(const float *, int64_t, int8_t *, float *) {
    return have_avx2() ? sqz_sp_quant_x_avx2 : sqz_sp_quant_x_ref;
}

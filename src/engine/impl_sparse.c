// Pruned linears stored in sqz's sparse layouts in an HF checkpoint (written by `sqz compress`;
// names and layouts in docs/prune.md "Storage in files"):
//  - N:M compressed F16: <base>.sp_values F16 [n_out][n_in/2], <base>.sp_meta U8 [n_out][n_in/8],
//    the pattern (2:4 or 4:8) in config.json sparsity_config.layers[<base>].storage. Run through
//    sqz_linear_impl: one token → the 2:4 GEMV kernel (sqz_sp_gemv_f16_best; 4:8 its reference);
//    several tokens (prefill) → tiles of rows decoded to dense F16 once and run by the F16 GEMM.
//  - N:M compressed int4 with zero points (a pruned GPTQ/RTN layer): <base>.sp_values U8 [n_out][n_in/4],
//    .sp_meta, .sp_scales F16 and .sp_zeros U8 [n_out][n_groups]; "values": "int4" in its layers entry.
//    The int8-activation GEMV of kernels/sparse.h for decoding and (tile by tile) for prefill.
//  - CSR: <base>.csr_row_ptr I32 [n_out+1], .csr_col I16 [nnz] (uint16 bit patterns), .csr_val F16
//    [nnz]: smaller on disk only; decoded at load into a dense F16 linear.
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "kernels/sparse.h"

// The owned block of an N:M linear: this header, then values, metadata and the tensor name.
typedef struct sp_data {
    sqz_sparse_nm nm;
    sqz_sp_gemv_f_fn gemv;
    sqz_gemm_fn gemm_f16; // GEMM of a tile of rows decoded to dense F16 (prefill)
} sp_data;

#define SP_TILE 16 // rows decoded at once for prefill

static size_t sp_act_row(const sqz_linear *l) {
    (void)l;
    return 0; // F32 activations as they are
}

static void sp_prep(const sqz_linear *l, const float *x, void *xa) { (void)l, (void)x, (void)xa; }

// Rows [r0, r0+n) of the tensor as a tensor of their own (rows are independent in the layout).
static sqz_sparse_nm row_view(const sqz_sparse_nm *s, int64_t r0, int64_t n) {
    sqz_sparse_nm v = *s;
    v.n_out = n;
    v.values = s->values + (size_t)r0 * s->values_row;
    v.meta = s->meta + (size_t)r0 * s->meta_row;
    return v;
}

// Decoding: the sparse GEMV per token. Prefill: tiles of SP_TILE rows decoded to dense F16 (the stored
// values, zeros between them) and run by the F16 GEMM against every token.
static void sp_rows(const sqz_linear *l, const void *xa, size_t act_row, float *y, int64_t n, int64_t r0, int64_t r1) {
    const sp_data *d = l->data;
    const float *x = xa;
    (void)act_row;
    uint16_t *tile = n >= 4 && d->gemm_f16 ? malloc((size_t)(SP_TILE * l->n_in) * sizeof *tile) : NULL;
    if (!tile) { // decode (or no memory for a tile): the sparse GEMV per token
        for (int64_t t = 0; t < n; t++)
            d->gemv(&d->nm, x + t * l->n_in, y + t * l->n_out, r0, r1);
        return;
    }
    size_t row_bytes = (size_t)l->n_in * sizeof *tile;
    for (int64_t t0 = r0; t0 < r1; t0 += SP_TILE) {
        int64_t k = r1 - t0 < SP_TILE ? r1 - t0 : SP_TILE;
        sqz_sparse_nm v = row_view(&d->nm, t0, k);
        sqz_sparse_nm_decode_f16(&v, tile);
        d->gemm_f16(l->n_in, tile, row_bytes, 0, k, x, (size_t)l->n_in * sizeof(float), n, y + t0, l->n_out);
    }
    free(tile);
}

static void sp_row_to_float(const sqz_linear *l, int64_t o, float *out) {
    const sp_data *d = l->data;
    sqz_sparse_nm v = row_view(&d->nm, o, 1);
    sqz_sparse_nm_decode(&v, out);
}

static size_t sp_bytes(const sqz_linear *l) {
    const sp_data *d = l->data;
    return (size_t)d->nm.n_out * (d->nm.values_row + d->nm.meta_row);
}

static const sqz_linear_impl sp_impl_24 = {"2:4 F16 sparse", sp_act_row, sp_prep, sp_rows, sp_row_to_float, sp_bytes};
static const sqz_linear_impl sp_impl_48 = {"4:8 F16 sparse", sp_act_row, sp_prep, sp_rows, sp_row_to_float, sp_bytes};

// ---- loading ---------------------------------------------------------------------------------------

static void base_of(const char *weight_name, char *base, size_t cap) {
    size_t n = strlen(weight_name);
    snprintf(base, cap, "%.*s", (int)(n >= 7 ? n - 7 : n), weight_name); // strip ".weight"
}

bool sqz_sparse_linear_present(const sqz_model *m, const char *weight_name) {
    char base[256], name[300];
    size_t n = strlen(weight_name);
    if (n < 7 || strcmp(weight_name + n - 7, ".weight"))
        return false;
    base_of(weight_name, base, sizeof base);
    snprintf(name, sizeof name, "%s.sp_values", base);
    if (sqz_model_file_find(m->file, name))
        return true;
    snprintf(name, sizeof name, "%s.csr_val", base);
    return sqz_model_file_find(m->file, name) != NULL;
}

// The tensor <base><suffix>, checked for type and shape (d1 < 0: one dim).
static sqz_status get(const sqz_model *m, const char *base, const char *suffix, sqz_type type, int64_t d0, int64_t d1,
                      const sqz_tensor **out) {
    char name[300];
    snprintf(name, sizeof name, "%s%s", base, suffix);
    const sqz_tensor *t = sqz_model_file_find(m->file, name);
    SQZ_FAIL_IF(!t, SQZ_ERR_NOT_FOUND, "missing tensor '%s'", name);
    int nd = d1 < 0 ? 1 : 2;
    SQZ_FAIL_IF(t->type != type || t->n_dims != nd || t->shape[0] != d0 || (nd == 2 && t->shape[1] != d1),
                SQZ_ERR_FORMAT, "tensor '%s': %s with %d dims [%lld, %lld], expected %s [%lld, %lld]", name,
                sqz_type_name(t->type), t->n_dims, (long long)t->shape[0], (long long)(t->n_dims > 1 ? t->shape[1] : 0),
                sqz_type_name(type), (long long)d0, (long long)d1);
    size_t bytes = (size_t)sqz_tensor_nelements(t) * sqz_type_traits_of(type)->type_size;
    SQZ_FAIL_IF(t->nbytes < bytes, SQZ_ERR_FORMAT, "tensor '%s' is truncated", name);
    *out = t;
    return SQZ_OK;
}

// N:M of layer `base` from <dir>/config.json sparsity_config.layers, and whether its values are int4
// ("values": "int4"; F16 otherwise).
static sqz_status read_pattern(const sqz_model *m, const char *base, sqz_nm *nm, bool *int4) {
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/config.json", sqz_model_file_path(m->file));
    SQZ_FAIL_IF(n < 0 || (size_t)n >= sizeof path, SQZ_ERR_ARG, "path too long: %s", sqz_model_file_path(m->file));
    json_error_t err;
    json_t *cfg = json_load_file(path, 0, &err);
    SQZ_FAIL_IF(!cfg, SQZ_ERR_FORMAT, "%s: %s (line %d)", path, err.text, err.line);
    json_t *sc = json_object_get(cfg, "sparsity_config");
    const char *fmt = json_string_value(json_object_get(sc, "format"));
    const char *st = json_string_value(json_object_get(json_object_get(json_object_get(sc, "layers"), base), "storage"));
    sqz_status e = SQZ_OK;
    if (!sc || !fmt || strcmp(fmt, "sqz-sparse") != 0)
        e = sqz_error(SQZ_ERR_FORMAT, "%s: sparse tensors for '%s' but no sparsity_config with format \"sqz-sparse\"",
                      path, base);
    else if (!st || (strcmp(st, "2:4") != 0 && strcmp(st, "4:8") != 0))
        e = sqz_error(SQZ_ERR_FORMAT, "%s: sparsity_config.layers[\"%s\"].storage must be \"2:4\" or \"4:8\"", path,
                      base);
    else
        *nm = !strcmp(st, "2:4") ? (sqz_nm){2, 4} : (sqz_nm){4, 8};
    const char *vals = json_string_value(json_object_get(json_object_get(json_object_get(sc, "layers"), base), "values"));
    *int4 = vals && !strcmp(vals, "int4");
    if (e == SQZ_OK && vals && !*int4 && strcmp(vals, "f16") != 0)
        e = sqz_error(SQZ_ERR_FORMAT, "%s: sparsity_config.layers[\"%s\"].values \"%s\" is not \"f16\" or \"int4\"", path,
                      base, vals);
    json_decref(cfg);
    return e;
}

// ---- N:M int4 ---------------------------------------------------------------------------------------
// <base>.sp_values U8 [n_out][n_in/4] (kept int4 nibbles), .sp_meta U8 [n_out][n_in/8], .sp_scales F16 and
// .sp_zeros U8 [n_out][n_groups]: the weights scale·(nibble − zero) of a pruned GPTQ/RTN layer. Activations
// are quantized to int8 per 64 columns (kernels/sparse.h) once per token; decoding and prefill run the
// int GEMV of the best tier, prefill over tiles of SP_TILE rows so a tile's weights stay in cache while
// every token passes.
typedef struct sp_int4 {
    sqz_sparse_nm nm;
    sqz_sp_gemv_q_fn gemv;
    void (*quant)(const float *, int64_t, int8_t *, float *);
} sp_int4;

static size_t q4_act_row(const sqz_linear *l) { return (size_t)l->n_in + (size_t)(l->n_in / 64) * sizeof(float); }

static void q4_prep(const sqz_linear *l, const float *x, void *xa) {
    const sp_int4 *d = l->data;
    d->quant(x, l->n_in, (int8_t *)xa + (l->n_in / 64) * sizeof(float), xa);
}

static void q4_rows(const sqz_linear *l, const void *xa, size_t act_row, float *y, int64_t n, int64_t r0, int64_t r1) {
    const sp_int4 *d = l->data;
    for (int64_t t0 = r0; t0 < r1; t0 += SP_TILE) {
        int64_t t1 = r1 - t0 < SP_TILE ? r1 : t0 + SP_TILE;
        for (int64_t t = 0; t < n; t++) {
            const uint8_t *a = (const uint8_t *)xa + (size_t)t * act_row; // xd floats, then the int8 values
            d->gemv(&d->nm, (const int8_t *)(a + (l->n_in / 64) * sizeof(float)), (const float *)a, y + t * l->n_out,
                    n == 1 ? r0 : t0, n == 1 ? r1 : t1);
        }
        if (n == 1)
            break;
    }
}

static void q4_row_to_float(const sqz_linear *l, int64_t o, float *out) {
    const sp_int4 *d = l->data;
    sqz_sparse_nm v = row_view(&d->nm, o, 1);
    v.scales = d->nm.scales + o * (d->nm.n_in / d->nm.group);
    v.zeros = d->nm.zeros + o * (d->nm.n_in / d->nm.group);
    sqz_sparse_nm_decode(&v, out);
}

static size_t q4_bytes(const sqz_linear *l) { return sqz_sparse_nm_nbytes(&((const sp_int4 *)l->data)->nm); }

static const sqz_linear_impl sp_impl_q4_24 = {"2:4 int4 sparse", q4_act_row, q4_prep, q4_rows, q4_row_to_float, q4_bytes};
static const sqz_linear_impl sp_impl_q4_48 = {"4:8 int4 sparse", q4_act_row, q4_prep, q4_rows, q4_row_to_float, q4_bytes};

static sqz_status load_nm_int4(sqz_model *m, sqz_linear *l, const char *weight_name, const char *base, sqz_nm nm,
                               int64_t n_out, int64_t n_in, void **owned, size_t *bytes) {
    char name[300];
    snprintf(name, sizeof name, "%s.sp_scales", base);
    const sqz_tensor *ts = sqz_model_file_find(m->file, name), *tv, *tm, *tz;
    SQZ_FAIL_IF(!ts || ts->n_dims != 2 || ts->shape[0] != n_out || ts->shape[1] < 1 || n_in % ts->shape[1] ||
                    (n_in / ts->shape[1]) % 64,
                SQZ_ERR_FORMAT, "'%s': missing, or not [%lld][groups of a multiple of 64 columns]", name, (long long)n_out);
    int64_t ng = ts->shape[1];
    SQZ_TRY(get(m, base, ".sp_scales", SQZ_TYPE_F16, n_out, ng, &ts));
    SQZ_TRY(get(m, base, ".sp_zeros", SQZ_TYPE_U8, n_out, ng, &tz));
    SQZ_TRY(get(m, base, ".sp_values", SQZ_TYPE_U8, n_out, n_in / 4, &tv));
    SQZ_TRY(get(m, base, ".sp_meta", SQZ_TYPE_U8, n_out, n_in / 8, &tm));
    size_t vb = (size_t)(n_out * n_in / 4), mb = (size_t)(n_out * n_in / 8), sb = (size_t)(n_out * ng) * 2;
    size_t zb = (size_t)(n_out * ng), nl = strlen(weight_name) + 1;
    size_t head = (sizeof(sp_int4) + 63) & ~(size_t)63, vbp = (vb + 63) & ~(size_t)63, mbp = (mb + 63) & ~(size_t)63;
    uint8_t *blk = aligned_alloc(64, (head + vbp + mbp + sb + zb + nl + 63) & ~(size_t)63);
    SQZ_FAIL_IF(!blk, SQZ_ERR_NOMEM, "out of memory loading '%s'", base);
    sp_int4 *d = (sp_int4 *)blk;
    uint8_t *values = blk + head, *meta = values + vbp, *scales = meta + mbp, *zeros = scales + sb;
    char *nm_name = (char *)zeros + zb;
    memcpy(values, tv->data, vb), memcpy(meta, tm->data, mb), memcpy(scales, ts->data, sb), memcpy(zeros, tz->data, zb);
    memcpy(nm_name, weight_name, nl);
    for (size_t i = 0; i < zb; i++)
        if (zeros[i] > 16) {
            unsigned z = zeros[i];
            free(blk);
            return sqz_error(SQZ_ERR_FORMAT, "'%s.sp_zeros': zero point %u at %zu is outside 0..16", base, z, i);
        }
    for (size_t i = 0; nm.m == 8 && i < mb; i++)
        if (__builtin_popcount(meta[i]) != 4) {
            int bits = __builtin_popcount(meta[i]);
            free(blk);
            return sqz_error(SQZ_ERR_FORMAT, "'%s.sp_meta': group %zu has %d kept columns, 4:8 needs 4", base, i, bits);
        }
    d->nm = (sqz_sparse_nm){.n_out = n_out, .n_in = n_in, .n = nm.n, .m = nm.m, .vt = SQZ_SP_I4, .group = (int)(n_in / ng),
                            .values_row = (size_t)n_in / 4, .meta_row = (size_t)n_in / 8, .values = values, .meta = meta,
                            .scales = (uint16_t *)scales, .zeros = zeros};
    d->gemv = nm.m == 4 ? sqz_sp_gemv_q_best() : sqz_sp_gemv_q_ref;
    d->quant = sqz_sp_quant_x_best();
    *l = (sqz_linear){.name = nm_name, .type = SQZ_TYPE_F32, .n_out = n_out, .n_in = n_in, .exact = m->opts.exact,
                      .impl = nm.m == 4 ? &sp_impl_q4_24 : &sp_impl_q4_48, .data = d};
    if (q4_act_row(l) > m->max_act_row)
        m->max_act_row = q4_act_row(l);
    *owned = blk, *bytes = vb + mb + sb + zb;
    return SQZ_OK;
}

static sqz_status load_nm(sqz_model *m, sqz_linear *l, const char *weight_name, const char *base, int64_t n_out,
                          int64_t n_in, void **owned, size_t *bytes) {
    sqz_nm nm = {0, 0};
    bool int4 = false;
    SQZ_TRY(read_pattern(m, base, &nm, &int4));
    SQZ_FAIL_IF(n_in % 64, SQZ_ERR_FORMAT, "'%s': N:M layout needs a width that is a multiple of 64, not %lld", base,
                (long long)n_in);
    if (int4)
        return load_nm_int4(m, l, weight_name, base, nm, n_out, n_in, owned, bytes);
    const sqz_tensor *tv, *tm;
    SQZ_TRY(get(m, base, ".sp_values", SQZ_TYPE_F16, n_out, n_in / 2, &tv));
    SQZ_TRY(get(m, base, ".sp_meta", SQZ_TYPE_U8, n_out, n_in / 8, &tm));
    size_t vb = (size_t)(n_out * n_in), mb = (size_t)(n_out * n_in / 8), nl = strlen(weight_name) + 1;
    size_t head = (sizeof(sp_data) + 63) & ~(size_t)63, vbp = (vb + 63) & ~(size_t)63;
    uint8_t *blk = aligned_alloc(64, (head + vbp + mb + nl + 63) & ~(size_t)63);
    SQZ_FAIL_IF(!blk, SQZ_ERR_NOMEM, "out of memory loading '%s'", base);
    sp_data *d = (sp_data *)blk;
    uint8_t *values = blk + head, *meta = values + vbp;
    char *name = (char *)meta + mb;
    memcpy(values, tv->data, vb);
    memcpy(meta, tm->data, mb);
    memcpy(name, weight_name, nl);
    for (size_t i = 0; nm.m == 8 && i < mb; i++) // 4:8: one byte per group, exactly 4 bits set
        if (__builtin_popcount(meta[i]) != 4) {
            int bits = __builtin_popcount(meta[i]);
            free(blk);
            return sqz_error(SQZ_ERR_FORMAT, "'%s.sp_meta': group %zu has %d kept columns, 4:8 needs 4", base, i, bits);
        }
    d->nm = (sqz_sparse_nm){.n_out = n_out, .n_in = n_in, .n = nm.n, .m = nm.m, .vt = SQZ_SP_F16,
                            .values_row = (size_t)n_in, .meta_row = (size_t)n_in / 8, .values = values, .meta = meta};
    d->gemv = nm.m == 4 ? sqz_sp_gemv_f16_best() : sqz_sp_gemv_f16_ref;
    const sqz_kernel *f16 = sqz_kernel_for(SQZ_TYPE_F16);
    d->gemm_f16 = f16 && f16->act == SQZ_ACT_F32 ? f16->gemm : NULL;
    *l = (sqz_linear){.name = name, .type = SQZ_TYPE_F16, .n_out = n_out, .n_in = n_in,
                      .impl = nm.m == 4 ? &sp_impl_24 : &sp_impl_48, .data = d};
    *owned = blk, *bytes = vb + mb;
    return SQZ_OK;
}

static sqz_status load_csr(sqz_model *m, sqz_linear *l, const char *weight_name, const char *base, int64_t n_out,
                           int64_t n_in, void **owned, size_t *bytes) {
    const sqz_tensor *tp, *tc, *tv;
    SQZ_TRY(get(m, base, ".csr_row_ptr", SQZ_TYPE_I32, n_out + 1, -1, &tp));
    char name[300];
    snprintf(name, sizeof name, "%s.csr_val", base);
    const sqz_tensor *t = sqz_model_file_find(m->file, name);
    SQZ_FAIL_IF(!t || t->n_dims != 1, SQZ_ERR_FORMAT, "'%s': missing or not one-dimensional", name);
    int64_t nnz = t->shape[0];
    SQZ_TRY(get(m, base, ".csr_col", SQZ_TYPE_I16, nnz, -1, &tc));
    SQZ_TRY(get(m, base, ".csr_val", SQZ_TYPE_F16, nnz, -1, &tv));
    size_t wb = (size_t)(n_out * n_in) * 2, nl = strlen(weight_name) + 1;
    uint8_t *blk = calloc(1, wb + nl);
    SQZ_FAIL_IF(!blk, SQZ_ERR_NOMEM, "out of memory loading '%s'", base);
    uint16_t *w = (uint16_t *)blk;
    const uint8_t *pp = tp->data, *cp = tc->data, *vp = tv->data;
    int32_t prev = 0;
    for (int64_t r = 0; r <= n_out; r++) { // row pointers: 0, non-decreasing, ending at nnz
        int32_t p;
        memcpy(&p, pp + 4 * r, 4);
        if ((r == 0 && p != 0) || p < prev || p > nnz || (r == n_out && p != nnz)) {
            free(blk);
            return sqz_error(SQZ_ERR_FORMAT, "'%s.csr_row_ptr': bad row pointer %d at row %lld", base, p, (long long)r);
        }
        for (int32_t e = prev; r > 0 && e < p; e++) {
            uint16_t c, v;
            memcpy(&c, cp + 2 * (size_t)e, 2);
            memcpy(&v, vp + 2 * (size_t)e, 2);
            if (c >= n_in) {
                free(blk);
                return sqz_error(SQZ_ERR_FORMAT, "'%s.csr_col': column %u out of range (width %lld)", base, c,
                                 (long long)n_in);
            }
            w[(r - 1) * n_in + c] = v;
        }
        prev = p;
    }
    char *nm = (char *)blk + wb;
    memcpy(nm, weight_name, nl);
    const sqz_kernel *k = sqz_kernel_for(SQZ_TYPE_F16);
    SQZ_FAIL_IF(!k || (k->act != SQZ_ACT_F32 && n_in % QK8A), SQZ_ERR_UNSUPPORTED, "'%s': F16 kernel unavailable", base);
    *l = (sqz_linear){.name = nm, .type = SQZ_TYPE_F16, .n_out = n_out, .n_in = n_in, .w = blk,
                      .row_bytes = (size_t)n_in * 2, .k = k, .exact = m->opts.exact && k->act != SQZ_ACT_F32};
    if (l->exact)
        l->k = sqz_kernel_for_isa(SQZ_TYPE_F32, SQZ_ISA_REF);
    *owned = blk, *bytes = wb;
    return SQZ_OK;
}

sqz_status sqz_sparse_linear_load(sqz_model *m, sqz_linear *l, const char *weight_name, int64_t n_out, int64_t n_in,
                                  void **owned, size_t *bytes) {
    char base[256], name[300];
    base_of(weight_name, base, sizeof base);
    snprintf(name, sizeof name, "%s.sp_values", base);
    bool nm = sqz_model_file_find(m->file, name) != NULL;
    sqz_status e = nm ? load_nm(m, l, weight_name, base, n_out, n_in, owned, bytes)
                      : load_csr(m, l, weight_name, base, n_out, n_in, owned, bytes);
    if (e != SQZ_OK)
        return sqz_error_prefix(e, "%s (sqz sparse layout): ", base);
    if (n_in > m->max_n_in)
        m->max_n_in = n_in;
    return SQZ_OK;
}

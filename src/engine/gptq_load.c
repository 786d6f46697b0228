// Loading a linear layer stored in the GPTQ layout (AutoGPTQ / GPTQModel: <base>.qweight, .qzeros,
// .scales, .g_idx, with config.json's quantization_config giving bits and checkpoint_format):
// the tensors are checked, unpacked (sqz_gptq_unpack) and repacked into sqz's grouped-int layout
// (kernels/qgroup.h: int2/3/4 as 4-bit codes, int8 as bytes; act-order columns permuted so groups are
// contiguous), which runs through impl_qgroup.c. A shape that layout cannot hold (n_in not a multiple
// of 32, groups of unequal size) is dequantized into an owned dense F32 matrix instead.
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/impl_qgroup.h"
#include "sqz/quant.h"

// bits and checkpoint format from <dir>/config.json's quantization_config.
static sqz_status read_qconfig(const char *dir, int *bits, sqz_gptq_format *fmt) {
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/config.json", dir);
    SQZ_FAIL_IF(n < 0 || (size_t)n >= sizeof path, SQZ_ERR_ARG, "path too long: %s", dir);
    json_error_t err;
    json_t *cfg = json_load_file(path, 0, &err);
    SQZ_FAIL_IF(!cfg, SQZ_ERR_FORMAT, "%s: %s (line %d)", path, err.text, err.line);
    json_t *q = json_object_get(cfg, "quantization_config");
    json_t *b = q ? json_object_get(q, "bits") : NULL;
    const char *cf = q ? json_string_value(json_object_get(q, "checkpoint_format")) : NULL;
    const char *qm = q ? json_string_value(json_object_get(q, "quant_method")) : NULL;
    sqz_status st = SQZ_OK;
    if (!q || !json_is_integer(b))
        st = sqz_error(SQZ_ERR_FORMAT, "%s: GPTQ tensors but no quantization_config with integer 'bits'", path);
    else if (qm && strcmp(qm, "gptq") != 0)
        st = sqz_error(SQZ_ERR_UNSUPPORTED, "%s: quant_method '%s' is not the GPTQ layout", path, qm);
    else {
        *bits = (int)json_integer_value(b);
        *fmt = cf && !strcmp(cf, "gptq_v2") ? SQZ_GPTQ_V2 : SQZ_GPTQ_V1;
    }
    json_decref(cfg);
    return st;
}

// The mapping's pages wholly inside [p, p+n) leave the resident set: the tensor has been copied and
// repacked, so the file pages would otherwise double the model's RSS (they are re-read from the
// file if ever touched again; the mapping is read-only and private).
static void drop_pages(const void *p, size_t n) {
    uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE), a = ((uintptr_t)p + ps - 1) & ~(ps - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~(ps - 1);
    if (e > a)
        madvise((void *)a, e - a, MADV_DONTNEED);
}

// The tensor <base><suffix> with the expected type and dims, copied (4-byte aligned) into *out.
static sqz_status take(const sqz_model *m, const char *base, const char *suffix, sqz_type type, int64_t d0, int64_t d1,
                       void **out) {
    char name[300];
    if (snprintf(name, sizeof name, "%s%s", base, suffix) < 0)
        name[0] = 0;
    const sqz_tensor *t = sqz_model_file_find(m->file, name);
    SQZ_FAIL_IF(!t, SQZ_ERR_NOT_FOUND, "missing tensor '%s'", name);
    int nd = d1 < 0 ? 1 : 2;
    SQZ_FAIL_IF(t->type != type || t->n_dims != nd || t->shape[0] != d0 || (nd == 2 && t->shape[1] != d1),
                SQZ_ERR_FORMAT, "tensor '%s': %s with %d dims [%lld, %lld], expected %s [%lld, %lld]", name,
                sqz_type_name(t->type), t->n_dims, (long long)t->shape[0], (long long)(t->n_dims > 1 ? t->shape[1] : 0),
                sqz_type_name(type), (long long)d0, (long long)d1);
    size_t bytes = (size_t)sqz_tensor_nelements(t) * sqz_type_traits_of(type)->type_size;
    SQZ_FAIL_IF(t->nbytes < bytes, SQZ_ERR_FORMAT, "tensor '%s' is truncated", name);
    *out = malloc(bytes ? bytes : 1);
    SQZ_FAIL_IF(!*out, SQZ_ERR_NOMEM, "out of memory reading '%s'", name);
    memcpy(*out, t->data, bytes);
    drop_pages(t->data, bytes);
    return SQZ_OK;
}

bool sqz_gptq_linear_present(const sqz_model *m, const char *weight_name) {
    char name[256];
    size_t n = strlen(weight_name);
    if (n < 7 || strcmp(weight_name + n - 7, ".weight"))
        return false;
    snprintf(name, sizeof name, "%.*s.qweight", (int)(n - 7), weight_name);
    return sqz_model_file_find(m->file, name) != NULL;
}

static sqz_status load_tensors(sqz_model *m, const char *base, int bits, int64_t n_out, int64_t n_in,
                               sqz_gptq_tensors *t) {
    SQZ_FAIL_IF(bits != 2 && bits != 3 && bits != 4 && bits != 8, SQZ_ERR_UNSUPPORTED, "'%s': %d-bit GPTQ weights",
                base, bits);
    SQZ_FAIL_IF((n_in * bits) % 32 || (n_out * bits) % 32, SQZ_ERR_FORMAT, "'%s': [%lld, %lld] cannot be %d-bit packed",
                base, (long long)n_out, (long long)n_in, bits);
    char name[300];
    if (snprintf(name, sizeof name, "%s.scales", base) < 0)
        name[0] = 0;
    const sqz_tensor *sc = sqz_model_file_find(m->file, name);
    SQZ_FAIL_IF(!sc || sc->n_dims != 2 || sc->shape[0] < 1, SQZ_ERR_FORMAT, "'%s': missing or bad tensor", name);
    *t = (sqz_gptq_tensors){.n_out = n_out, .n_in = n_in, .n_groups = sc->shape[0], .bits = bits};
    t->group = (int)(n_in / t->n_groups);
    SQZ_TRY(take(m, base, ".qweight", SQZ_TYPE_I32, n_in * bits / 32, n_out, (void **)&t->qweight));
    SQZ_TRY(take(m, base, ".qzeros", SQZ_TYPE_I32, t->n_groups, n_out * bits / 32, (void **)&t->qzeros));
    SQZ_TRY(take(m, base, ".scales", SQZ_TYPE_F16, t->n_groups, n_out, (void **)&t->scales));
    return take(m, base, ".g_idx", SQZ_TYPE_I32, n_in, -1, (void **)&t->g_idx);
}

// The dense fallback: dequantized F32 weights (one allocation: weights, then the tensor name).
static sqz_status load_dense(sqz_model *m, sqz_linear *l, const char *weight_name, const sqz_qweight *q) {
    size_t wbytes = (size_t)(q->n_out * q->n_in) * sizeof(float), nlen = strlen(weight_name) + 1;
    float *w = malloc(wbytes + nlen);
    SQZ_FAIL_IF(!w, SQZ_ERR_NOMEM, "out of memory unpacking '%s'", weight_name);
    sqz_qweight_dequant(q, w);
    char *name = (char *)w + wbytes;
    memcpy(name, weight_name, nlen);
    SQZ_TRY(sqz_model_own(m, w, wbytes + nlen));
    *l = (sqz_linear){.name = name, .type = SQZ_TYPE_F32, .n_out = q->n_out, .n_in = q->n_in, .w = (const uint8_t *)w,
                      .row_bytes = (size_t)q->n_in * sizeof(float), .k = sqz_kernel_for(SQZ_TYPE_F32)};
    if (q->n_in > m->max_n_in)
        m->max_n_in = q->n_in;
    return SQZ_OK;
}

// Grouped-int layout when it fits, else dense.
static sqz_status load_unpacked(sqz_model *m, sqz_linear *l, const char *weight_name, const sqz_qweight *q) {
    sqz_qgroup_src src = {q->n_out, q->n_in, q->n_groups, q->bits, q->codes, q->scales, q->zeros, q->g_idx};
    sqz_qgroup *w = NULL;
    sqz_status st = sqz_qgroup_pack(&src, &w);
    if (st == SQZ_ERR_UNSUPPORTED) {
        sqz_error_clear();
        return load_dense(m, l, weight_name, q);
    }
    SQZ_TRY(st);
    return sqz_qgroup_linear_init(m, l, weight_name, w);
}

sqz_status sqz_gptq_linear_load(sqz_model *m, sqz_linear *l, const char *weight_name, int64_t n_out, int64_t n_in) {
    char base[256];
    snprintf(base, sizeof base, "%.*s", (int)(strlen(weight_name) - 7), weight_name); // strip ".weight"
    int bits;
    sqz_gptq_format fmt;
    SQZ_TRY(read_qconfig(sqz_model_file_path(m->file), &bits, &fmt));
    sqz_gptq_tensors t = {0};
    sqz_qweight *q = NULL;
    sqz_status st = load_tensors(m, base, bits, n_out, n_in, &t);
    if (st == SQZ_OK)
        st = sqz_gptq_unpack(&t, fmt, &q);
    free(t.qweight), free(t.qzeros), free(t.scales), free(t.g_idx);
    if (st == SQZ_OK)
        st = load_unpacked(m, l, weight_name, q);
    sqz_qweight_free(q);
    return st == SQZ_OK ? SQZ_OK : sqz_error_prefix(st, "%s (GPTQ layout): ", base);
}

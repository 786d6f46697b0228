// The AutoGPTQ / GPTQModel storage layout of a quantized linear layer, and its quantization_config.
// Every packed tensor is a little-endian LSB-first bit stream of `bits`-bit values cut into int32
// words: qweight streams each output column's codes along `in`, qzeros each group's zeros along
// `out`. For 2/4/8 bits this is "value k in bits [k·b, (k+1)·b) of word k/(32/b)"; for 3 bits it
// is AutoGPTQ's 32-values-in-3-words layout, where values 10 and 21 straddle word boundaries.
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quant/quant_internal.h"

// Put value v (< 2^bits) at stream position k of words[] (word stride `stride` apart).
static void stream_put(int32_t *words, int64_t stride, int64_t k, int bits, uint32_t v) {
    int64_t bit = k * bits, w = bit / 32;
    int sh = (int)(bit % 32);
    uint32_t *p = (uint32_t *)(words + w * stride);
    *p |= v << sh;
    if (sh + bits > 32)
        *(uint32_t *)(words + (w + 1) * stride) |= v >> (32 - sh);
}

static uint32_t stream_get(const int32_t *words, int64_t stride, int64_t k, int bits) {
    int64_t bit = k * bits, w = bit / 32;
    int sh = (int)(bit % 32);
    uint64_t v = (uint32_t)words[w * stride] >> sh;
    if (sh + bits > 32)
        v |= (uint64_t)(uint32_t)words[(w + 1) * stride] << (32 - sh);
    return (uint32_t)(v & ((1u << bits) - 1));
}

static sqz_status layout_check(int bits, int64_t n_out, int64_t n_in) {
    SQZ_FAIL_IF(bits != 2 && bits != 3 && bits != 4 && bits != 8, SQZ_ERR_UNSUPPORTED,
                "gptq pack: %d-bit weights have no GPTQ storage layout (2, 3, 4 or 8 bits)", bits);
    SQZ_FAIL_IF((n_in * bits) % 32 || (n_out * bits) % 32, SQZ_ERR_ARG,
                "gptq pack: [%lld][%lld] at %d bits: in·bits and out·bits must be multiples of 32", (long long)n_out,
                (long long)n_in, bits);
    return SQZ_OK;
}

void sqz_gptq_tensors_free(sqz_gptq_tensors *t) {
    if (!t)
        return;
    free(t->qweight);
    free(t->qzeros);
    free(t->g_idx);
    free(t->scales);
    free(t);
}

static sqz_status tensors_alloc(int64_t n_out, int64_t n_in, int64_t n_groups, int bits, sqz_gptq_tensors **out) {
    sqz_gptq_tensors *t = calloc(1, sizeof *t);
    SQZ_FAIL_IF(!t, SQZ_ERR_NOMEM, "gptq pack: out of memory");
    t->n_out = n_out;
    t->n_in = n_in;
    t->n_groups = n_groups;
    t->bits = bits;
    t->qweight = calloc((size_t)(n_in * bits / 32 * n_out), sizeof(int32_t));
    t->qzeros = calloc((size_t)(n_groups * (n_out * bits / 32)), sizeof(int32_t));
    t->g_idx = calloc((size_t)n_in, sizeof(int32_t));
    t->scales = calloc((size_t)(n_groups * n_out), sizeof(uint16_t));
    if (!t->qweight || !t->qzeros || !t->g_idx || !t->scales) {
        sqz_gptq_tensors_free(t);
        return sqz_error(SQZ_ERR_NOMEM, "gptq pack: out of memory for [%lld][%lld]", (long long)n_out,
                         (long long)n_in);
    }
    *out = t;
    return SQZ_OK;
}

sqz_status sqz_gptq_pack(const sqz_qweight *q, sqz_gptq_format fmt, sqz_gptq_tensors **out) {
    *out = NULL;
    SQZ_TRY(layout_check(q->bits, q->n_out, q->n_in));
    SQZ_FAIL_IF(fmt != SQZ_GPTQ_V1 && fmt != SQZ_GPTQ_V2, SQZ_ERR_ARG, "gptq pack: unknown format %d", (int)fmt);
    SQZ_FAIL_IF(q->in_scales, SQZ_ERR_ARG,
                "gptq pack: weight has AWQ input-channel scales; fold 1/s into the previous op first");
    uint32_t mask = (1u << q->bits) - 1;
    if (fmt == SQZ_GPTQ_V1)
        for (int64_t k = 0; k < q->n_groups * q->n_out; k++)
            SQZ_FAIL_IF(q->zeros[k] == 0, SQZ_ERR_UNSUPPORTED,
                        "gptq pack: zero point 0 (group %lld, row %lld) cannot be stored in checkpoint_format "
                        "'gptq' (v1 stores zero-1); use gptq_v2",
                        (long long)(k / q->n_out), (long long)(k % q->n_out));
    sqz_gptq_tensors *t = NULL;
    SQZ_TRY(tensors_alloc(q->n_out, q->n_in, q->n_groups, q->bits, &t));
    t->group = q->group;
    for (int64_t o = 0; o < q->n_out; o++)
        for (int64_t i = 0; i < q->n_in; i++)
            stream_put(t->qweight + o, q->n_out, i, q->bits, q->codes[o * q->n_in + i] & mask);
    int64_t zwords = q->n_out * q->bits / 32;
    for (int64_t g = 0; g < q->n_groups; g++) {
        for (int64_t o = 0; o < q->n_out; o++) {
            uint32_t z = (uint32_t)(q->zeros[g * q->n_out + o] - (fmt == SQZ_GPTQ_V1 ? 1 : 0)) & mask;
            stream_put(t->qzeros + g * zwords, 1, o, q->bits, z);
            t->scales[g * q->n_out + o] = sqz_fp32_to_fp16(q->scales[g * q->n_out + o]);
        }
    }
    memcpy(t->g_idx, q->g_idx, (size_t)q->n_in * sizeof(int32_t));
    *out = t;
    return SQZ_OK;
}

sqz_status sqz_gptq_unpack(const sqz_gptq_tensors *t, sqz_gptq_format fmt, sqz_qweight **out) {
    *out = NULL;
    SQZ_TRY(layout_check(t->bits, t->n_out, t->n_in));
    SQZ_FAIL_IF(t->n_groups <= 0 || t->n_in % t->n_groups, SQZ_ERR_FORMAT,
                "gptq unpack: %lld groups do not split %lld inputs evenly", (long long)t->n_groups,
                (long long)t->n_in);
    for (int64_t i = 0; i < t->n_in; i++)
        SQZ_FAIL_IF(t->g_idx[i] < 0 || t->g_idx[i] >= t->n_groups, SQZ_ERR_FORMAT,
                    "gptq unpack: g_idx[%lld] = %d outside 0..%lld", (long long)i, t->g_idx[i],
                    (long long)t->n_groups - 1);
    sqz_qweight *q = NULL;
    SQZ_TRY(sqz_qweight_alloc(t->n_out, t->n_in, t->bits, (int)(t->n_in / t->n_groups), false, &q));
    uint32_t mask = (1u << t->bits) - 1;
    for (int64_t o = 0; o < t->n_out; o++)
        for (int64_t i = 0; i < t->n_in; i++)
            q->codes[o * t->n_in + i] = (uint8_t)stream_get(t->qweight + o, t->n_out, i, t->bits);
    int64_t zwords = t->n_out * t->bits / 32;
    bool sym = true;
    for (int64_t g = 0; g < t->n_groups; g++) {
        for (int64_t o = 0; o < t->n_out; o++) {
            uint32_t z = stream_get(t->qzeros + g * zwords, 1, o, t->bits);
            q->zeros[g * t->n_out + o] = fmt == SQZ_GPTQ_V1 ? (int32_t)((z + 1) & (2 * mask + 1)) : (int32_t)z;
            q->scales[g * t->n_out + o] = sqz_fp16_to_fp32(t->scales[g * t->n_out + o]);
            sym = sym && q->zeros[g * t->n_out + o] == (int32_t)(1u << (t->bits - 1));
        }
    }
    q->sym = sym;
    memcpy(q->g_idx, t->g_idx, (size_t)t->n_in * sizeof(int32_t));
    *out = q;
    return SQZ_OK;
}

char *sqz_gptq_config_json(const sqz_recipe_step *step, sqz_gptq_format fmt) {
    if (step->kind != SQZ_STEP_GPTQ && step->kind != SQZ_STEP_AWQ) {
        sqz_error(SQZ_ERR_ARG, "quantization_config: step '%s' is not stored in the GPTQ layout", step->name);
        return NULL;
    }
    bool gptq = step->kind == SQZ_STEP_GPTQ;
    int group = sqz_step_int(step, "group");
    json_t *o = json_object();
    json_object_set_new(o, "quant_method", json_string("gptq"));
    json_object_set_new(o, "bits", json_integer(sqz_step_int(step, "bits")));
    json_object_set_new(o, "group_size", json_integer(group ? group : -1));
    json_object_set_new(o, "desc_act", json_boolean(gptq && sqz_step_int(step, "act_order")));
    json_object_set_new(o, "sym", json_boolean(sqz_step_int(step, "sym")));
    json_object_set_new(o, "damp_percent", json_real(gptq ? sqz_step_num(step, "damp") : 0.0));
    json_object_set_new(o, "static_groups", json_boolean(gptq && sqz_step_int(step, "static_groups")));
    json_object_set_new(o, "true_sequential", json_true());
    json_object_set_new(o, "lm_head", json_false());
    json_object_set_new(o, "checkpoint_format", json_string(fmt == SQZ_GPTQ_V2 ? "gptq_v2" : "gptq"));
    json_object_set_new(o, "pack_dtype", json_string("int32"));
    json_t *meta = json_object();
    json_object_set_new(meta, "quantizer", json_string("sqz:" SQZ_VERSION_STRING));
    json_object_set_new(meta, "method", json_string(step->name));
    json_object_set_new(o, "meta", meta);
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s)
        sqz_error(SQZ_ERR_NOMEM, "quantization_config: out of memory");
    return s;
}

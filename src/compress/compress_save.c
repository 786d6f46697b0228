// Writing a compressed model: model.gguf (llama.cpp types only), hf/ (safetensors; integer weights
// in the GPTQ/AutoGPTQ layout with quantization_config) and manifest.json.
//
// Both model files start from the working GGUF (the source, or the GGUF an HF source was converted
// to): every tensor is copied except the compressed linears (and, for AWQ, the RMSNorm weights its
// scales were folded into). The HF directory is the GGUF→HF conversion of a "dense" GGUF holding
// the values the in-memory model runs, with integer layers then replaced by their packed tensors.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "compress/compress_internal.h"
#include "kernels/quant.h"

// dir + "/" + name into buf; an error when it does not fit.
static sqz_status path_of(char *buf, size_t cap, const char *dir, const char *name) {
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    SQZ_FAIL_IF(n < 0 || (size_t)n >= cap, SQZ_ERR_ARG, "path too long: %s/%s", dir, name);
    return SQZ_OK;
}

// base + suffix (tensor names; bases come from safetensors names, at most 155 chars here).
static void name_of(char *buf, size_t cap, const char *base, const char *suffix) {
    if (snprintf(buf, cap, "%s%s", base, suffix) < 0)
        buf[0] = 0;
}

// ---- integer weights → llama.cpp blocks ------------------------------------------------------------------

static bool groups_plain(const sqz_qweight *q, int blk) {
    if (q->group % blk)
        return false;
    for (int64_t i = 0; i < q->n_in; i++)
        if (q->g_idx[i] != i / q->group)
            return false;
    return true;
}

static void put_q4(const sqz_qweight *q, int64_t o, int64_t i0, uint8_t *qs) {
    const uint8_t *c = q->codes + o * q->n_in + i0;
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)(c[j] | c[j + 16] << 4);
}

sqz_status sqz_compress_map_gguf(lin_store *s) {
    const sqz_qweight *q = s->qw;
    s->gguf_type = SQZ_TYPE_COUNT;
    if (q->in_scales || q->n_in % 32 || !groups_plain(q, 32))
        return SQZ_OK;
    sqz_type t = q->bits == 4 && q->group == 32 ? (q->sym ? SQZ_TYPE_Q4_0 : SQZ_TYPE_Q4_1)
                 : q->bits == 8                 ? SQZ_TYPE_Q8_0
                                                : SQZ_TYPE_COUNT;
    if (t == SQZ_TYPE_COUNT)
        return SQZ_OK;
    for (int64_t k = 0; k < q->n_groups * q->n_out; k++) // Q4_0 needs zero 8, Q8_0 zero 128 (sym)
        if ((t == SQZ_TYPE_Q4_0 && q->zeros[k] != 8) || (t == SQZ_TYPE_Q8_0 && q->zeros[k] != 128))
            return SQZ_OK;
    size_t row = sqz_type_row_size(t, q->n_in), nb = row * (size_t)q->n_out;
    uint8_t *dst = malloc(nb);
    SQZ_FAIL_IF(!dst, SQZ_ERR_NOMEM, "out of memory");
    for (int64_t o = 0; o < q->n_out; o++)
        for (int64_t b = 0; b < q->n_in / 32; b++) {
            int64_t g = b * 32 / q->group, k = g * q->n_out + o;
            uint16_t d = sqz_fp32_to_fp16(q->scales[k]);
            if (t == SQZ_TYPE_Q4_0) {
                block_q4_0 *blk = (block_q4_0 *)(dst + o * row) + b;
                blk->d = d;
                put_q4(q, o, b * 32, blk->qs);
            } else if (t == SQZ_TYPE_Q4_1) { // x = q·d + m with m = −zero·d, rounded to fp16
                block_q4_1 *blk = (block_q4_1 *)(dst + o * row) + b;
                blk->d = d;
                blk->m = sqz_fp32_to_fp16(-(float)q->zeros[k] * q->scales[k]);
                put_q4(q, o, b * 32, blk->qs);
            } else {
                block_q8_0 *blk = (block_q8_0 *)(dst + o * row) + b;
                blk->d = d;
                for (int j = 0; j < 32; j++)
                    blk->qs[j] = (int8_t)(q->codes[o * q->n_in + b * 32 + j] - q->zeros[k]);
            }
        }
    s->gguf_type = t, s->gguf_data = dst, s->gguf_nbytes = nb;
    return SQZ_OK;
}

// ---- GGUF ---------------------------------------------------------------------------------------------------

static int64_t find_lin(const sqz_compressed *cc, const char *name) {
    for (int64_t i = 0; i < cc->n_lin; i++)
        if (!strcmp(cc->stats[i].name, name))
            return i;
    return -1;
}

// A replaced RMSNorm weight for tensor `name`, or NULL.
static const float *norm_for(const sqz_compressed *cc, const char *name) {
    int l;
    char kind[16];
    if (sscanf(name, "blk.%d.%15[a-z_]", &l, kind) != 2 || l < 0 || l >= sqz_model_get_config(cc->m)->n_layer)
        return NULL;
    bool ffn = !strcmp(kind, "ffn_norm");
    if (!(ffn || !strcmp(kind, "attn_norm")) || !cc->norm_set[l * 2 + ffn])
        return NULL;
    const float *w = NULL;
    sqz_model_norm_get(cc->m, l, ffn, &w);
    return w;
}

static int file_type_of(sqz_type t) {
    return t == SQZ_TYPE_F32 ? 0 : t == SQZ_TYPE_F16 ? 1 : t == SQZ_TYPE_Q4_0 ? 2 : t == SQZ_TYPE_Q4_1 ? 3
         : t == SQZ_TYPE_Q8_0 ? 7 : t == SQZ_TYPE_BF16 ? 32 : -1;
}

// Write the model as GGUF. dense: linears as F32 of what the model runs (tmp owns the buffers,
// freed by the caller); else llama.cpp types (every compressed linear must have one).
static sqz_status write_gguf(const sqz_compressed *cc, const char *path, bool dense, void **tmp) {
    sqz_gguf *g;
    SQZ_TRY(sqz_gguf_open(&g, cc->work_gguf));
    sqz_gguf_writer *w = NULL;
    sqz_status e = sqz_gguf_writer_new(&w);
    for (int64_t i = 0; e == SQZ_OK && i < sqz_gguf_n_kv(g); i++)
        e = sqz_gguf_writer_set_value(w, sqz_gguf_kv_key(g, i), sqz_gguf_kv_value(g, i));
    if (e == SQZ_OK)
        e = sqz_gguf_writer_set_str(w, "sqz.recipe", cc->recipe_str);
    if (e == SQZ_OK)
        e = sqz_gguf_writer_set_str(w, "sqz.source_sha256", cc->src_sha256);
    if (e == SQZ_OK && cc->calib)
        e = sqz_gguf_writer_set_str(w, "sqz.calib_sha256", cc->calib->sha256);
    int ftype = -2;
    for (int64_t i = 0; e == SQZ_OK && i < sqz_gguf_n_tensors(g); i++) {
        const sqz_tensor *t = sqz_gguf_tensor(g, i);
        int64_t k = find_lin(cc, t->name);
        const lin_store *s = k >= 0 ? &cc->store[k] : NULL;
        const float *nw = norm_for(cc, t->name);
        if (nw) {
            e = sqz_gguf_writer_add_tensor(w, t->name, SQZ_TYPE_F32, t->n_dims, t->shape, nw, (size_t)t->shape[0] * 4);
        } else if (!s || !lin_changed(s)) {
            e = sqz_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->shape, t->data, t->nbytes);
        } else if (dense && !s->qw && (s->type == SQZ_TYPE_F16 || s->type == SQZ_TYPE_BF16)) { // float types as they are
            e = sqz_gguf_writer_add_tensor(w, t->name, s->type, t->n_dims, t->shape, s->data, s->nbytes);
        } else if (dense) {
            const sqz_compress_layer *st = &cc->stats[k];
            size_t n = (size_t)(st->n_out * st->n_in);
            float *f = s->dense;
            if (!f && (f = tmp[k] = malloc(n * sizeof *f))) {
                size_t row = sqz_type_row_size(s->type, st->n_in);
                for (int64_t o = 0; o < st->n_out; o++)
                    sqz_type_traits_of(s->type)->to_float((const uint8_t *)s->data + o * row, f + o * st->n_in,
                                                          st->n_in);
            }
            e = f ? sqz_gguf_writer_add_tensor(w, t->name, SQZ_TYPE_F32, t->n_dims, t->shape, f, n * sizeof *f)
                  : sqz_error(SQZ_ERR_NOMEM, "out of memory");
        } else {
            sqz_type ty = s->qw ? s->gguf_type : s->type;
            ftype = ftype == -2 || ftype == file_type_of(ty) ? file_type_of(ty) : -1;
            e = sqz_gguf_writer_add_tensor(w, t->name, ty, t->n_dims, t->shape, s->qw ? s->gguf_data : s->data,
                                           s->qw ? s->gguf_nbytes : s->nbytes);
        }
    }
    if (e == SQZ_OK && ftype >= 0)
        e = sqz_gguf_writer_set_u32(w, "general.file_type", (uint32_t)ftype);
    if (e == SQZ_OK)
        e = sqz_gguf_writer_write(w, path);
    sqz_gguf_writer_free(w);
    sqz_gguf_free(g);
    return e;
}

// ---- HF directory ---------------------------------------------------------------------------------------------

static const char *const hf_role[SQZ_LIN_COUNT] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
    "mlp.down_proj",
};

static bool packable(const sqz_qweight *q) {
    return q && (q->bits == 2 || q->bits == 3 || q->bits == 4 || q->bits == 8) && (q->n_in * q->bits) % 32 == 0 &&
           (q->n_out * q->bits) % 32 == 0;
}

// The GGUF `llama` q/k rows are in adjacent-pair RoPE order; HF wants rotate-half: reorder the rows
// of an integer weight (codes rows, scale/zero columns) as convert's un-permutation does.
static sqz_qweight *unpermute(const sqz_qweight *q, int64_t n_head) {
    sqz_qweight *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    *o = *q;
    o->in_scales = NULL;
    o->codes = malloc((size_t)(q->n_out * q->n_in));
    o->scales = malloc((size_t)(q->n_groups * q->n_out) * sizeof *o->scales);
    o->zeros = malloc((size_t)(q->n_groups * q->n_out) * sizeof *o->zeros);
    o->g_idx = malloc((size_t)q->n_in * sizeof *o->g_idx);
    if (!o->codes || !o->scales || !o->zeros || !o->g_idx) {
        o->in_scales = NULL;
        sqz_qweight_free(o);
        return NULL;
    }
    memcpy(o->g_idx, q->g_idx, (size_t)q->n_in * sizeof *o->g_idx);
    int64_t hd = q->n_out / n_head, half = hd / 2;
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++) {
                int64_t gg = h * hd + 2 * i + j, hf = h * hd + j * half + i;
                memcpy(o->codes + hf * q->n_in, q->codes + gg * q->n_in, (size_t)q->n_in);
                for (int64_t g = 0; g < q->n_groups; g++) {
                    o->scales[g * q->n_out + hf] = q->scales[g * q->n_out + gg];
                    o->zeros[g * q->n_out + hf] = q->zeros[g * q->n_out + gg];
                }
            }
    return o;
}

typedef struct {
    sqz_tensor *t;
    int64_t n, cap;
    char **names;
    sqz_gptq_tensors **packed;
    int64_t n_packed;
    sqz_sparse_nm **nms;         // compressed N:M layers
    int64_t n_nms;
    sqz_sparse_csr **csrs;       // CSR layers
    int64_t n_csrs;
    json_t *sparse_layers;       // sparsity_config.layers
} tlist;

static sqz_status tl_push(tlist *l, sqz_tensor t, const char *name) {
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 256;
        sqz_tensor *g = realloc(l->t, (size_t)cap * sizeof *g);
        char **gn = g ? realloc(l->names, (size_t)cap * sizeof *gn) : NULL;
        if (g)
            l->t = g;
        SQZ_FAIL_IF(!gn, SQZ_ERR_NOMEM, "out of memory");
        l->names = gn, l->cap = cap;
    }
    l->names[l->n] = strdup(name);
    SQZ_FAIL_IF(!l->names[l->n], SQZ_ERR_NOMEM, "out of memory");
    t.name = l->names[l->n];
    l->t[l->n++] = t;
    return SQZ_OK;
}

static void tl_free(tlist *l) {
    for (int64_t i = 0; i < l->n; i++)
        free(l->names[i]);
    for (int64_t i = 0; i < l->n_packed; i++)
        sqz_gptq_tensors_free(l->packed[i]);
    for (int64_t i = 0; i < l->n_nms; i++)
        sqz_sparse_nm_free(l->nms[i]);
    for (int64_t i = 0; i < l->n_csrs; i++)
        sqz_sparse_csr_free(l->csrs[i]);
    json_decref(l->sparse_layers);
    free(l->t), free(l->names), free(l->packed), free(l->nms), free(l->csrs);
}

// The four tensors of a packed layer, named <base>.qweight etc.
static sqz_status push_packed(tlist *l, const char *base, const sqz_gptq_tensors *p) {
    char name[160];
    int64_t words_in = p->n_in * p->bits / 32, words_out = p->n_out * p->bits / 32;
    name_of(name, sizeof name, base, ".qweight");
    SQZ_TRY(tl_push(l, (sqz_tensor){NULL, SQZ_TYPE_I32, 2, {words_in, p->n_out}, p->qweight,
                                    (size_t)(words_in * p->n_out) * 4}, name));
    name_of(name, sizeof name, base, ".qzeros");
    SQZ_TRY(tl_push(l, (sqz_tensor){NULL, SQZ_TYPE_I32, 2, {p->n_groups, words_out}, p->qzeros,
                                    (size_t)(p->n_groups * words_out) * 4}, name));
    name_of(name, sizeof name, base, ".scales");
    SQZ_TRY(tl_push(l, (sqz_tensor){NULL, SQZ_TYPE_F16, 2, {p->n_groups, p->n_out}, p->scales,
                                    (size_t)(p->n_groups * p->n_out) * 2}, name));
    name_of(name, sizeof name, base, ".g_idx");
    return tl_push(l, (sqz_tensor){NULL, SQZ_TYPE_I32, 1, {p->n_in}, p->g_idx, (size_t)p->n_in * 4}, name);
}

// Pack integer layer k (HF base name `base`) and add its tensors.
static sqz_status add_packed(const sqz_compressed *cc, tlist *l, int64_t k, const char *base, sqz_gptq_format fmt) {
    const sqz_model_config *cfg = sqz_model_get_config(cc->m);
    const sqz_qweight *q = cc->store[k].qw;
    sqz_lin_role r = cc->stats[k].role;
    bool perm = cfg->arch == SQZ_ARCH_LLAMA && (r == SQZ_LIN_Q || r == SQZ_LIN_K);
    sqz_qweight *u = perm ? unpermute(q, r == SQZ_LIN_Q ? cfg->n_head : cfg->n_head_kv) : NULL;
    SQZ_FAIL_IF(perm && !u, SQZ_ERR_NOMEM, "out of memory");
    sqz_gptq_tensors *p = NULL;
    sqz_status e = sqz_gptq_pack(u ? u : q, fmt, &p);
    sqz_qweight_free(u);
    SQZ_TRY_CTX(e, "%s: ", cc->stats[k].name);
    sqz_gptq_tensors **g = realloc(l->packed, (size_t)(l->n_packed + 1) * sizeof *g);
    if (!g) {
        sqz_gptq_tensors_free(p);
        return sqz_error(SQZ_ERR_NOMEM, "out of memory");
    }
    l->packed = g;
    l->packed[l->n_packed++] = p;
    return push_packed(l, base, p);
}

// v1 ("gptq") stores zero − 1 and cannot hold a zero of 0: use v2 when any packed layer has one.
static sqz_gptq_format pick_format(const sqz_compressed *cc) {
    for (int64_t k = 0; k < cc->n_lin; k++)
        if (packable(cc->store[k].qw))
            for (int64_t i = 0; i < cc->store[k].qw->n_groups * cc->store[k].qw->n_out; i++)
                if (cc->store[k].qw->zeros[i] == 0)
                    return SQZ_GPTQ_V2;
    return SQZ_GPTQ_V1;
}

// The step that made the first packable integer layer (a quantization step, or sparsegpt with bits).
static const sqz_recipe_step *first_int_step(const sqz_compressed *cc) {
    for (int64_t k = 0; k < cc->n_lin; k++)
        if (packable(cc->store[k].qw))
            return cc->store[k].step ? cc->store[k].step : cc->store[k].prune;
    return NULL;
}

// quantization_config for the packed layers (gptq/awq from the quant module; rtn written alike).
static json_t *quant_config(const sqz_compressed *cc, sqz_gptq_format fmt) {
    const sqz_recipe_step *s = first_int_step(cc);
    json_t *o = NULL;
    if (s->kind == SQZ_STEP_RTN || s->kind == SQZ_STEP_SPARSEGPT) { // GPTQ-layout fields (sparsegpt: its joint
                                                                  // quantizer is GPTQ's)
        o = json_object();
        int group = sqz_step_int(s, "group");
        json_object_set_new(o, "quant_method", json_string("gptq"));
        json_object_set_new(o, "bits", json_integer(sqz_step_int(s, "bits")));
        json_object_set_new(o, "group_size", json_integer(group ? group : -1));
        json_object_set_new(o, "desc_act", json_false());
        json_object_set_new(o, "sym", json_boolean(sqz_step_int(s, "sym")));
        json_object_set_new(o, "damp_percent", json_real(0));
        json_object_set_new(o, "static_groups", json_false());
        json_object_set_new(o, "true_sequential", json_true());
        json_object_set_new(o, "lm_head", json_false());
        json_object_set_new(o, "checkpoint_format", json_string(fmt == SQZ_GPTQ_V2 ? "gptq_v2" : "gptq"));
        json_object_set_new(o, "pack_dtype", json_string("int32"));
        json_t *meta = json_object();
        json_object_set_new(meta, "quantizer", json_string("sqz:" SQZ_VERSION_STRING));
        json_object_set_new(meta, "method", json_string(s->name));
        json_object_set_new(o, "meta", meta);
    } else {
        char *txt = sqz_gptq_config_json(s, fmt);
        if (txt)
            o = json_loads(txt, 0, NULL);
        free(txt);
    }
    if (o) {
        json_t *meta = json_object_get(o, "meta");
        if (meta)
            json_object_set_new(meta, "sqz_compute", json_string("dense: unpacked to F32 at load"));
    }
    return o;
}

// ---- sparse layouts in the HF checkpoint (docs/prune.md "Storage in files") ----------------------------------

static bool is_sparse(const lin_store *s) {
    return s->prune && !s->qw && s->type == SQZ_TYPE_F16 &&
           (s->sp.storage == SQZ_SP_STORE_NM || s->sp.storage == SQZ_SP_STORE_CSR);
}

// Pruned int4 weights in the N:M int4 layout (compress.c record_sparse decided it fits).
static bool is_sparse_int4(const lin_store *s) { return s->prune && s->qw && s->sp.storage == SQZ_SP_STORE_NM; }

static bool any_sparse(const sqz_compressed *cc) {
    for (int64_t k = 0; k < cc->n_lin; k++)
        if (is_sparse(&cc->store[k]) || is_sparse_int4(&cc->store[k]))
            return true;
    return false;
}

// The four tensors of an N:M int4 layer.
static sqz_status push_nm_int4(tlist *l, const char *base, const sqz_sparse_nm *sp) {
    char name[160];
    int64_t ng = sp->n_in / sp->group;
    name_of(name, sizeof name, base, ".sp_values");
    SQZ_TRY(tl_push(l, (sqz_tensor){NULL, SQZ_TYPE_U8, 2, {sp->n_out, (int64_t)sp->values_row}, sp->values,
                                    (size_t)sp->n_out * sp->values_row}, name));
    name_of(name, sizeof name, base, ".sp_meta");
    SQZ_TRY(tl_push(l, (sqz_tensor){NULL, SQZ_TYPE_U8, 2, {sp->n_out, (int64_t)sp->meta_row}, sp->meta,
                                    (size_t)sp->n_out * sp->meta_row}, name));
    name_of(name, sizeof name, base, ".sp_scales");
    SQZ_TRY(tl_push(l, (sqz_tensor){NULL, SQZ_TYPE_F16, 2, {sp->n_out, ng}, sp->scales, (size_t)(sp->n_out * ng) * 2},
                    name));
    name_of(name, sizeof name, base, ".sp_zeros");
    return tl_push(l, (sqz_tensor){NULL, SQZ_TYPE_U8, 2, {sp->n_out, ng}, sp->zeros, (size_t)(sp->n_out * ng)}, name);
}

// Pruned int4 layer k (HF base name `base`) in the N:M int4 layout, rows in HF order.
static sqz_status add_sparse_int4(const sqz_compressed *cc, tlist *l, int64_t k, const char *base) {
    const sqz_model_config *cfg = sqz_model_get_config(cc->m);
    const lin_store *s = &cc->store[k];
    const sqz_qweight *q = s->qw;
    sqz_lin_role r = cc->stats[k].role;
    bool perm = cfg->arch == SQZ_ARCH_LLAMA && (r == SQZ_LIN_Q || r == SQZ_LIN_K);
    sqz_qweight *u = perm ? unpermute(q, r == SQZ_LIN_Q ? cfg->n_head : cfg->n_head_kv) : NULL;
    SQZ_FAIL_IF(perm && !u, SQZ_ERR_NOMEM, "out of memory");
    const sqz_qweight *src = u ? u : q;
    sqz_sparse_nm *sp = NULL, **g = realloc(l->nms, (size_t)(l->n_nms + 1) * sizeof *g);
    sqz_status e = g ? sqz_sparse_nm_encode_int4(src->codes, src->scales, src->zeros, src->n_out, src->n_in,
                                                 src->n_groups, s->sp.nm, &sp)
                     : sqz_error(SQZ_ERR_NOMEM, "out of memory");
    sqz_qweight_free(u);
    if (g)
        l->nms = g;
    if (e == SQZ_OK)
        l->nms[l->n_nms++] = sp, e = push_nm_int4(l, base, sp);
    SQZ_TRY_CTX(e, "%s: ", cc->stats[k].name);
    json_t *o = json_object();
    json_object_set_new(o, "storage", json_string(s->sp.nm.m == 4 ? "2:4" : "4:8"));
    json_object_set_new(o, "values", json_string("int4"));
    json_object_set_new(o, "group", json_integer(sp->group));
    json_object_set_new(o, "sparsity", json_real(s->sp.sparsity));
    json_object_set_new(l->sparse_layers, base, o);
    return SQZ_OK;
}

static sqz_status push_nm(tlist *l, const char *base, sqz_sparse_nm *sp) {
    char name[160];
    name_of(name, sizeof name, base, ".sp_values");
    SQZ_TRY(tl_push(l, (sqz_tensor){NULL, SQZ_TYPE_F16, 2, {sp->n_out, sp->n_in / 2}, sp->values,
                                    (size_t)sp->n_out * sp->values_row}, name));
    name_of(name, sizeof name, base, ".sp_meta");
    return tl_push(l, (sqz_tensor){NULL, SQZ_TYPE_U8, 2, {sp->n_out, (int64_t)sp->meta_row}, sp->meta,
                                   (size_t)sp->n_out * sp->meta_row}, name);
}

static sqz_status push_csr(tlist *l, const char *base, sqz_sparse_csr *c) {
    char name[160];
    SQZ_FAIL_IF(c->nnz > INT32_MAX, SQZ_ERR_RANGE, "%s: %lld nonzeros do not fit int32 row pointers", base,
                (long long)c->nnz);
    name_of(name, sizeof name, base, ".csr_row_ptr");
    SQZ_TRY(tl_push(l, (sqz_tensor){NULL, SQZ_TYPE_I32, 1, {c->n_out + 1}, c->row_ptr, (size_t)(c->n_out + 1) * 4},
                    name));
    name_of(name, sizeof name, base, ".csr_col"); // uint16 column indices, stored as I16 bit patterns
    SQZ_TRY(tl_push(l, (sqz_tensor){NULL, SQZ_TYPE_I16, 1, {c->nnz}, c->col, (size_t)c->nnz * 2}, name));
    name_of(name, sizeof name, base, ".csr_val");
    return tl_push(l, (sqz_tensor){NULL, SQZ_TYPE_F16, 1, {c->nnz}, c->val, (size_t)c->nnz * 2}, name);
}

// Encode pruned layer k from its HF tensor t (rows already in HF order) into sqz's layout.
static sqz_status add_sparse(const sqz_compressed *cc, tlist *l, int64_t k, const char *base, const sqz_tensor *t) {
    const lin_store *s = &cc->store[k];
    int64_t n_out = cc->stats[k].n_out, n_in = cc->stats[k].n_in;
    const sqz_type_traits *tr = sqz_type_traits_of(t->type);
    SQZ_FAIL_IF(t->n_dims != 2 || t->shape[0] != n_out || t->shape[1] != n_in || !tr || !tr->to_float ||
                    t->nbytes < sqz_type_row_size(t->type, n_in) * (size_t)n_out,
                SQZ_ERR_FORMAT, "%s: unexpected shape or type in the converted checkpoint", t->name);
    float *w = malloc((size_t)(n_out * n_in) * sizeof *w);
    SQZ_FAIL_IF(!w, SQZ_ERR_NOMEM, "out of memory");
    tr->to_float(t->data, w, n_out * n_in);
    sqz_status e;
    const char *kind;
    if (s->sp.storage == SQZ_SP_STORE_NM) {
        sqz_sparse_nm *sp = NULL, **g = realloc(l->nms, (size_t)(l->n_nms + 1) * sizeof *g);
        e = g ? sqz_sparse_nm_encode(w, n_out, n_in, s->sp.nm, SQZ_SP_F16, 0, &sp) : sqz_error(SQZ_ERR_NOMEM, "oom");
        if (g)
            l->nms = g;
        if (e == SQZ_OK)
            l->nms[l->n_nms++] = sp, e = push_nm(l, base, sp);
        kind = s->sp.nm.m == 4 ? "2:4" : "4:8";
    } else {
        sqz_sparse_csr *c = NULL, **g = realloc(l->csrs, (size_t)(l->n_csrs + 1) * sizeof *g);
        e = g ? sqz_sparse_csr_encode(w, n_out, n_in, &c) : sqz_error(SQZ_ERR_NOMEM, "oom");
        if (g)
            l->csrs = g;
        if (e == SQZ_OK && !c) // not smaller after all: dense
            e = tl_push(l, *t, t->name);
        else if (e == SQZ_OK)
            l->csrs[l->n_csrs++] = c, e = push_csr(l, base, c);
        kind = c ? "csr" : NULL;
    }
    free(w);
    SQZ_TRY_CTX(e, "%s: ", cc->stats[k].name);
    if (kind) {
        json_t *o = json_object();
        json_object_set_new(o, "storage", json_string(kind));
        json_object_set_new(o, "values", json_string("f16"));
        json_object_set_new(o, "sparsity", json_real(s->sp.sparsity));
        json_object_set_new(l->sparse_layers, base, o);
    }
    return SQZ_OK;
}

// config.json's sparsity_config: which layers hold sqz's layouts (the engine reads it).
static json_t *sparsity_config(json_t *layers) {
    json_t *o = json_object();
    json_object_set_new(o, "format", json_string("sqz-sparse"));
    json_object_set_new(o, "version", json_integer(1));
    json_object_set_new(o, "note", json_string("pruned linears in sqz's own layouts (<base>.sp_values/.sp_meta: N:M "
                                               "compressed, with .sp_scales/.sp_zeros for int4 values; "
                                               "<base>.csr_row_ptr/.csr_col/.csr_val: CSR); only sqz "
                                               "loads them (docs/prune.md). model.gguf holds the same weights dense."));
    json_object_set_new(o, "layers", json_incref(layers));
    return o;
}

static sqz_status update_config(const sqz_compressed *cc, const char *hf_dir, sqz_gptq_format fmt, json_t *sparse) {
    char path[4096];
    SQZ_TRY(path_of(path, sizeof path, hf_dir, "config.json"));
    json_error_t err;
    json_t *cfg = json_load_file(path, JSON_PRESERVE_ORDER, &err);
    SQZ_FAIL_IF(!cfg, SQZ_ERR_FORMAT, "%s: %s", path, err.text);
    json_t *q = first_int_step(cc) ? quant_config(cc, fmt) : NULL;
    if (first_int_step(cc) && !q) {
        json_decref(cfg);
        return sqz_error(SQZ_ERR_NOMEM, "quantization_config: out of memory");
    }
    if (q)
        json_object_set_new(cfg, "quantization_config", q);
    if (sparse && json_object_size(sparse))
        json_object_set_new(cfg, "sparsity_config", sparsity_config(sparse));
    int rc = json_dump_file(cfg, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(cfg);
    SQZ_FAIL_IF(rc != 0, SQZ_ERR_IO, "%s: cannot write", path);
    return SQZ_OK;
}

// Replace the dense weights in hf_dir/model.safetensors: packable integer layers by their GPTQ
// tensors, pruned F16 layers by sqz's N:M or CSR layout.
static sqz_status pack_hf(const sqz_compressed *cc, const char *hf_dir) {
    if (!first_int_step(cc) && !any_sparse(cc))
        return SQZ_OK;
    sqz_gptq_format fmt = pick_format(cc);
    char path[4096];
    SQZ_TRY(path_of(path, sizeof path, hf_dir, "model.safetensors"));
    sqz_safetensors *st;
    SQZ_TRY(sqz_safetensors_open(&st, path));
    tlist l = {.sparse_layers = json_object()};
    sqz_status e = l.sparse_layers ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; e == SQZ_OK && i < sqz_safetensors_n_tensors(st); i++) {
        const sqz_tensor *t = sqz_safetensors_tensor(st, i);
        int layer;
        char role[64];
        int64_t k = -1;
        if (sscanf(t->name, "model.layers.%d.%63[a-z_.]", &layer, role) == 2 && strlen(role) > 7 &&
            !strcmp(role + strlen(role) - 7, ".weight") && layer >= 0 &&
            layer < sqz_model_get_config(cc->m)->n_layer) {
            role[strlen(role) - 7] = 0;
            for (int r = 0; r < SQZ_LIN_COUNT; r++)
                if (!strcmp(role, hf_role[r]))
                    k = layer * SQZ_LIN_COUNT + r;
        }
        char base[160];
        if (k >= 0)
            snprintf(base, sizeof base, "%.*s", (int)(strlen(t->name) - 7), t->name);
        if (k >= 0 && is_sparse_int4(&cc->store[k]))
            e = add_sparse_int4(cc, &l, k, base);
        else if (k >= 0 && packable(cc->store[k].qw))
            e = add_packed(cc, &l, k, base, fmt);
        else if (k >= 0 && is_sparse(&cc->store[k]))
            e = add_sparse(cc, &l, k, base, t);
        else
            e = tl_push(&l, *t, t->name);
    }
    static const char *const meta[] = {"format", "pt"};
    if (e == SQZ_OK)
        e = sqz_safetensors_write(path, l.t, l.n, meta, 1); // temp + rename: the old mapping stays valid
    if (e == SQZ_OK)
        e = update_config(cc, hf_dir, fmt, l.sparse_layers);
    tl_free(&l);
    sqz_safetensors_free(st);
    return e;
}

static sqz_status write_hf(const sqz_compressed *cc, const char *out_dir) {
    char dense[4096], hf[4096];
    SQZ_TRY(path_of(dense, sizeof dense, out_dir, ".dense.tmp.gguf"));
    SQZ_TRY(path_of(hf, sizeof hf, out_dir, "hf"));
    void **tmp = calloc((size_t)cc->n_lin, sizeof *tmp);
    SQZ_FAIL_IF(!tmp, SQZ_ERR_NOMEM, "out of memory");
    sqz_status e = write_gguf(cc, dense, true, tmp);
    for (int64_t i = 0; i < cc->n_lin; i++)
        free(tmp[i]);
    free(tmp);
    if (e == SQZ_OK)
        e = sqz_convert_gguf_to_hf(dense, hf, SQZ_TYPE_COUNT);
    unlink(dense);
    SQZ_TRY(e);
    return pack_hf(cc, hf);
}

// ---- manifest --------------------------------------------------------------------------------------------------

static json_t *layer_json(const sqz_compress_layer *s) {
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(s->name));
    json_object_set_new(o, "layer", json_integer(s->layer));
    json_object_set_new(o, "role", json_string(sqz_lin_role_name(s->role)));
    json_object_set_new(o, "shape", json_pack("[II]", (json_int_t)s->n_out, (json_int_t)s->n_in));
    json_object_set_new(o, "method", json_string(s->method));
    json_object_set_new(o, "bits_per_weight", json_real(s->bpw));
    json_object_set_new(o, "weight_rel_sq_error", json_real(s->weight_err));
    json_object_set_new(o, "output_rel_sq_error", s->output_err >= 0 ? json_real(s->output_err) : json_null());
    json_object_set_new(o, "method_loss", json_real(s->method_loss));
    json_object_set_new(o, "gguf_type",
                        s->gguf_type < SQZ_TYPE_COUNT ? json_string(sqz_type_name(s->gguf_type)) : json_null());
    if (s->prune) {
        json_t *p = json_object();
        json_object_set_new(p, "step", json_string(s->prune));
        json_object_set_new(p, "sparsity", json_real(s->sparsity));
        char nm[16];
        snprintf(nm, sizeof nm, "%d:%d", s->nm_n, s->nm_m);
        json_object_set_new(p, "pattern", s->nm_m ? json_string(nm) : json_null());
        json_object_set_new(p, "storage", json_string(s->storage));
        json_object_set_new(p, "compute", json_string(s->compute));
        json_object_set_new(p, "gguf_storage", json_string("dense with zeros (llama.cpp has no sparse type)"));
        if (s->rank > 0)
            json_object_set_new(p, "rank", json_integer(s->rank));
        json_object_set_new(o, "pruning", p);
    }
    return o;
}

static json_t *structured_json(const sqz_compress_structured *r) {
    if (!r->applied)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "n_layer", json_pack("[II]", (json_int_t)r->n_layer_before, (json_int_t)r->n_layer_after));
    json_object_set_new(o, "n_head", json_pack("[II]", (json_int_t)r->n_head_before, (json_int_t)r->n_head_after));
    json_object_set_new(o, "n_head_kv",
                        json_pack("[II]", (json_int_t)r->n_head_kv_before, (json_int_t)r->n_head_kv_after));
    json_object_set_new(o, "n_ff", json_pack("[II]", (json_int_t)r->n_ff_before, (json_int_t)r->n_ff_after));
    json_t *d = json_array();
    for (int64_t i = 0; i < r->n_dropped; i++)
        json_array_append_new(d, json_integer(r->dropped_layers[i]));
    json_object_set_new(o, "dropped_layers", d);
    if (r->block_influence) {
        json_t *b = json_array();
        for (int64_t i = 0; i < r->n_layer_before; i++)
            json_array_append_new(b, json_real(r->block_influence[i]));
        json_object_set_new(o, "block_influence", b);
    }
    json_object_set_new(o, "storage", json_string("a smaller dense model (new shapes in config.json): real bytes and "
                                                  "time saved"));
    return o;
}

static sqz_status write_manifest(const sqz_compressed *cc, const char *out_dir, bool gguf, bool hf) {
    char path[4096];
    SQZ_TRY(path_of(path, sizeof path, out_dir, "manifest.json"));
    json_t *m = json_object();
    json_object_set_new(m, "sqz_version", json_string(SQZ_VERSION_STRING));
    json_object_set_new(m, "source", json_string(cc->src_path));
    json_object_set_new(m, "source_sha256", json_string(cc->src_sha256));
    json_object_set_new(m, "recipe", json_string(cc->recipe_str));
    json_t *cal = json_null();
    if (cc->calib) {
        cal = json_object();
        json_object_set_new(cal, "sha256", json_string(cc->calib->sha256));
        json_object_set_new(cal, "n_seq", json_integer(cc->calib->n_seq));
        json_object_set_new(cal, "seq_len", json_integer(cc->calib->seq_len));
        json_object_set_new(cal, "pool_tokens", json_integer(cc->calib->n_pool));
    }
    json_object_set_new(m, "calibration", cal);
    json_object_set_new(m, "seconds", json_real(cc->seconds));
    json_t *files = json_object();
    json_object_set_new(files, "gguf", gguf ? json_string("model.gguf") : json_null());
    json_object_set_new(files, "hf", hf ? json_string("hf") : json_null());
    json_object_set_new(m, "files", files);
    json_object_set_new(m, "compute", json_string("GPTQ-layout weights are unpacked to dense F32 at load (no native "
                                                  "int-group kernel yet)"));
    json_object_set_new(m, "notes", json_string(cc->notes));
    json_object_set_new(m, "structured", structured_json(&cc->structured));
    bool sparse = any_sparse(cc), pruned = false;
    for (int64_t i = 0; i < cc->n_lin; i++)
        pruned |= cc->store[i].prune != NULL;
    if (pruned)
        json_object_set_new(m, "sparsity",
                            json_string(sparse ? "hf/ holds pruned linears in sqz's compressed layouts "
                                                 "(sparsity_config in config.json): the HF checkpoint needs sqz to "
                                                 "load; model.gguf holds them dense with zeros (sparsity simulated "
                                                 "there)"
                                               : "pruned linears are dense with zeros in every file: sparsity "
                                                 "simulated (no bytes or time saved)"));
    double bits = 0, n = 0;
    json_t *layers = json_array();
    for (int64_t i = 0; i < cc->n_lin; i++) {
        json_array_append_new(layers, layer_json(&cc->stats[i]));
        bits += cc->stats[i].bpw * (double)(cc->stats[i].n_out * cc->stats[i].n_in);
        n += (double)(cc->stats[i].n_out * cc->stats[i].n_in);
    }
    json_object_set_new(m, "linear_bits_per_weight", json_real(n > 0 ? bits / n : 0));
    json_object_set_new(m, "layers", layers);
    int rc = json_dump_file(m, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(m);
    SQZ_FAIL_IF(rc != 0, SQZ_ERR_IO, "%s: cannot write", path);
    return SQZ_OK;
}

sqz_status sqz_compressed_save(sqz_compressed *c, const char *out_dir, unsigned what) {
    SQZ_FAIL_IF(mkdir(out_dir, 0755) != 0 && errno != EEXIST, SQZ_ERR_IO, "%s: cannot create the output directory: %s",
                out_dir, strerror(errno));
    struct stat sb;
    SQZ_FAIL_IF(stat(out_dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || access(out_dir, W_OK) != 0, SQZ_ERR_IO,
                "%s: not a writable directory", out_dir);
    bool gguf = (what & SQZ_SAVE_GGUF) && sqz_compressed_gguf_ok(c), hf = what & SQZ_SAVE_HF;
    char path[4096];
    SQZ_TRY(path_of(path, sizeof path, out_dir, "model.gguf"));
    if (gguf)
        SQZ_TRY_CTX(write_gguf(c, path, false, NULL), "%s: ", path);
    if (hf)
        SQZ_TRY_CTX(write_hf(c, out_dir), "%s/hf: ", out_dir);
    return write_manifest(c, out_dir, gguf, hf);
}

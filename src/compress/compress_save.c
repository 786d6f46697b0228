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

// The llama.cpp block type that holds q exactly (4-bit groups of 32: Q4_0 symmetric with zero 8, else
// Q4_1; 8-bit symmetric: Q8_0), or SQZ_TYPE_COUNT.
static sqz_type gguf_type_of(const sqz_qweight *q) {
    if (q->in_scales || q->n_in % 32 || !groups_plain(q, 32))
        return SQZ_TYPE_COUNT;
    sqz_type t = q->bits == 4 && q->group == 32 ? (q->sym ? SQZ_TYPE_Q4_0 : SQZ_TYPE_Q4_1)
                 : q->bits == 8                 ? SQZ_TYPE_Q8_0
                                                : SQZ_TYPE_COUNT;
    for (int64_t k = 0; t != SQZ_TYPE_COUNT && k < q->n_groups * q->n_out; k++) // Q4_0: zero 8, Q8_0: 128
        if ((t == SQZ_TYPE_Q4_0 && q->zeros[k] != 8) || (t == SQZ_TYPE_Q8_0 && q->zeros[k] != 128))
            return SQZ_TYPE_COUNT;
    return t;
}

sqz_status sqz_compress_map_gguf(lin_store *s) {
    s->gguf_type = gguf_type_of(s->qw);
    return SQZ_OK;
}

// q in its llama.cpp block type t (gguf_type_of) into dst: n_out rows of sqz_type_row_size(t, n_in).
static void gguf_blocks(const sqz_qweight *q, sqz_type t, uint8_t *dst) {
    size_t row = sqz_type_row_size(t, q->n_in);
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

// How one GGUF tensor is produced (gguf_fill): bytes in memory as they are, bytes of the working GGUF's
// mapping (copied, then their pages dropped), integer weights as llama.cpp blocks or dequantized to F32,
// or stored data converted to F32.
typedef enum { GT_MEMORY, GT_MAPPED, GT_BLOCKS, GT_DEQUANT, GT_TO_F32 } gt_kind;

typedef struct {
    gt_kind kind;
    const void *data; // GT_MEMORY / GT_MAPPED
    size_t nbytes;
    const lin_store *s; // GT_BLOCKS / GT_DEQUANT / GT_TO_F32
    int64_t n_out, n_in;
} gt_plan;

static sqz_status gguf_fill(void *user, int64_t i, void *buf) {
    const gt_plan *p = (const gt_plan *)user + i;
    switch (p->kind) {
    case GT_MEMORY:
    case GT_MAPPED:
        memcpy(buf, p->data, p->nbytes);
        if (p->kind == GT_MAPPED)
            sqz_mmap_release(p->data, p->nbytes);
        break;
    case GT_BLOCKS:
        gguf_blocks(p->s->qw, p->s->gguf_type, buf);
        break;
    case GT_DEQUANT:
        sqz_qweight_dequant(p->s->qw, buf); // what the model runs (with 1/s for unfolded AWQ scales)
        break;
    case GT_TO_F32: {
        size_t row = sqz_type_row_size(p->s->type, p->n_in);
        for (int64_t o = 0; o < p->n_out; o++)
            sqz_type_traits_of(p->s->type)->to_float((const uint8_t *)p->s->data + o * row, (float *)buf + o * p->n_in,
                                                     p->n_in);
        break;
    }
    }
    return SQZ_OK;
}

// Write the model as GGUF, tensor by tensor (one in memory at a time). dense: the compressed linears as
// F32 of what the model runs, except those `placeholder` says pack_hf will replace, which keep their
// source tensor; else llama.cpp types (every compressed linear must have one).
static sqz_status write_gguf(const sqz_compressed *cc, const char *path, bool dense,
                             bool (*placeholder)(const lin_store *)) {
    sqz_gguf *g;
    SQZ_TRY(sqz_gguf_open(&g, cc->work_gguf));
    sqz_gguf_writer *w = NULL;
    gt_plan *plan = calloc((size_t)sqz_gguf_n_tensors(g) + 1, sizeof *plan);
    sqz_status e = plan ? sqz_gguf_writer_new(&w) : sqz_error(SQZ_ERR_NOMEM, "out of memory");
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
        gt_plan *p = &plan[i];
        sqz_type ty = t->type;
        if (nw) {
            ty = SQZ_TYPE_F32, *p = (gt_plan){GT_MEMORY, nw, (size_t)t->shape[0] * 4, NULL, 0, 0};
        } else if (!s || !lin_changed(s) || (dense && placeholder && placeholder(s))) {
            *p = (gt_plan){GT_MAPPED, t->data, t->nbytes, NULL, 0, 0};
        } else if (dense && !s->qw && (s->type == SQZ_TYPE_F16 || s->type == SQZ_TYPE_BF16)) { // float types as they are
            ty = s->type, *p = (gt_plan){GT_MEMORY, s->data, s->nbytes, s, 0, 0};
        } else if (dense) {
            const sqz_compress_layer *st = &cc->stats[k];
            ty = SQZ_TYPE_F32;
            *p = (gt_plan){s->dense ? GT_MEMORY : s->qw ? GT_DEQUANT : GT_TO_F32, s->dense,
                           (size_t)(st->n_out * st->n_in) * sizeof(float), s, st->n_out, st->n_in};
        } else {
            ty = s->qw ? s->gguf_type : s->type;
            ftype = ftype == -2 || ftype == file_type_of(ty) ? file_type_of(ty) : -1;
            *p = s->qw ? (gt_plan){GT_BLOCKS, NULL, sqz_type_row_size(ty, t->shape[1]) * (size_t)t->shape[0], s, 0, 0}
                       : (gt_plan){GT_MEMORY, s->data, s->nbytes, s, 0, 0};
        }
        e = sqz_gguf_writer_add_tensor(w, t->name, ty, t->n_dims, t->shape, NULL, p->nbytes);
    }
    if (e == SQZ_OK && ftype >= 0)
        e = sqz_gguf_writer_set_u32(w, "general.file_type", (uint32_t)ftype);
    if (e == SQZ_OK)
        e = sqz_gguf_writer_write_fill(w, path, gguf_fill, plan);
    sqz_gguf_writer_free(w);
    sqz_gguf_free(g);
    free(plan);
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

// ---- the HF checkpoint's tensors, produced one layer at a time ------------------------------------------------
// pack_hf rewrites hf/model.safetensors: every tensor of the converted checkpoint is copied except the
// linears that get a layout of their own (GPTQ tensors, sqz's N:M / CSR layouts). Each output tensor is a
// part of a plan entry; the writer asks for them in order, and the layer being written is encoded once
// (cache) and freed when the next layer starts, so memory stays about one layer deep.
typedef enum { HT_COPY, HT_GPTQ, HT_NM_F16, HT_NM_INT4, HT_CSR } ht_kind;

typedef struct {
    ht_kind kind;
    int part;               // which tensor of the layer's layout
    int64_t k;              // linear index (not HT_COPY)
    const sqz_tensor *src;  // the converted checkpoint's tensor (HT_COPY, HT_NM_F16, HT_CSR)
} ht_plan;

typedef struct {
    const sqz_compressed *cc;
    sqz_gptq_format fmt;
    const ht_plan *plan;
    int64_t cached_k;       // layer whose encoding is held below (−1: none)
    sqz_gptq_tensors *gptq;
    sqz_sparse_nm *nm;
    sqz_sparse_csr *csr;
} ht_state;

static void ht_drop(ht_state *h) {
    sqz_gptq_tensors_free(h->gptq), sqz_sparse_nm_free(h->nm), sqz_sparse_csr_free(h->csr);
    h->gptq = NULL, h->nm = NULL, h->csr = NULL, h->cached_k = -1;
}

// Integer weights of linear k with rows in HF order (q/k un-permuted): a new qweight, or q itself.
static sqz_status hf_rows_qweight(const sqz_compressed *cc, int64_t k, sqz_qweight **u) {
    const sqz_model_config *cfg = sqz_model_get_config(cc->m);
    sqz_lin_role r = cc->stats[k].role;
    *u = NULL;
    if (cfg->arch != SQZ_ARCH_LLAMA || (r != SQZ_LIN_Q && r != SQZ_LIN_K))
        return SQZ_OK;
    *u = unpermute(cc->store[k].qw, r == SQZ_LIN_Q ? cfg->n_head : cfg->n_head_kv);
    SQZ_FAIL_IF(!*u, SQZ_ERR_NOMEM, "out of memory");
    return SQZ_OK;
}

// The dense tensor t of the converted checkpoint as floats (malloc'd).
static sqz_status hf_floats(const sqz_tensor *t, float **out) {
    const sqz_type_traits *tr = sqz_type_traits_of(t->type);
    int64_t n = sqz_tensor_nelements(t);
    SQZ_FAIL_IF(t->n_dims != 2 || !tr || !tr->to_float || t->nbytes < sqz_type_row_size(t->type, n), SQZ_ERR_FORMAT,
                "%s: unexpected shape or type in the converted checkpoint", t->name);
    *out = malloc((size_t)n * sizeof **out);
    SQZ_FAIL_IF(!*out, SQZ_ERR_NOMEM, "out of memory");
    tr->to_float(t->data, *out, n);
    sqz_mmap_release(t->data, t->nbytes);
    return SQZ_OK;
}

// Encode layer p->k in its layout (once per layer).
static sqz_status ht_encode(ht_state *h, const ht_plan *p) {
    if (h->cached_k == p->k)
        return SQZ_OK;
    ht_drop(h);
    const sqz_compressed *cc = h->cc;
    const lin_store *s = &cc->store[p->k];
    sqz_status e = SQZ_OK;
    if (p->kind == HT_GPTQ || p->kind == HT_NM_INT4) {
        sqz_qweight *u = NULL;
        SQZ_TRY(hf_rows_qweight(cc, p->k, &u));
        const sqz_qweight *q = u ? u : s->qw;
        e = p->kind == HT_GPTQ ? sqz_gptq_pack(q, h->fmt, &h->gptq)
                               : sqz_sparse_nm_encode_int4(q->codes, q->scales, q->zeros, q->n_out, q->n_in, q->n_groups,
                                                           s->sp.nm, &h->nm);
        sqz_qweight_free(u);
    } else {
        float *w = NULL;
        SQZ_TRY(hf_floats(p->src, &w));
        int64_t n_out = cc->stats[p->k].n_out, n_in = cc->stats[p->k].n_in;
        e = p->kind == HT_NM_F16 ? sqz_sparse_nm_encode(w, n_out, n_in, s->sp.nm, SQZ_SP_F16, 0, &h->nm)
                                 : sqz_sparse_csr_encode(w, n_out, n_in, &h->csr);
        free(w);
        if (e == SQZ_OK && p->kind == HT_CSR && !h->csr)
            e = sqz_error(SQZ_ERR_INTERNAL, "CSR not smaller than dense after all");
    }
    SQZ_TRY_CTX(e, "%s: ", cc->stats[p->k].name);
    h->cached_k = p->k;
    return SQZ_OK;
}

static sqz_status ht_fill(void *user, int64_t i, void *buf) {
    ht_state *h = user;
    const ht_plan *p = &h->plan[i];
    if (p->kind == HT_COPY) {
        memcpy(buf, p->src->data, p->src->nbytes);
        sqz_mmap_release(p->src->data, p->src->nbytes);
        return SQZ_OK;
    }
    SQZ_TRY(ht_encode(h, p));
    const void *src = NULL;
    size_t n = 0;
    if (p->kind == HT_GPTQ) {
        const sqz_gptq_tensors *g = h->gptq;
        int64_t words_in = g->n_in * g->bits / 32, words_out = g->n_out * g->bits / 32;
        const void *d[4] = {g->qweight, g->qzeros, g->scales, g->g_idx};
        size_t nb[4] = {(size_t)(words_in * g->n_out) * 4, (size_t)(g->n_groups * words_out) * 4,
                        (size_t)(g->n_groups * g->n_out) * 2, (size_t)g->n_in * 4};
        src = d[p->part], n = nb[p->part];
    } else if (p->kind == HT_CSR) {
        const sqz_sparse_csr *c = h->csr;
        const void *d[3] = {c->row_ptr, c->col, c->val};
        size_t nb[3] = {(size_t)(c->n_out + 1) * 4, (size_t)c->nnz * 2, (size_t)c->nnz * 2};
        src = d[p->part], n = nb[p->part];
    } else {
        const sqz_sparse_nm *sp = h->nm;
        size_t meta = (size_t)sp->n_out * (size_t)(sp->group ? sp->n_in / sp->group : 0);
        const void *d[4] = {sp->values, sp->meta, sp->scales, sp->zeros};
        size_t nb[4] = {(size_t)sp->n_out * sp->values_row, (size_t)sp->n_out * sp->meta_row, meta * 2, meta};
        src = d[p->part], n = nb[p->part];
    }
    memcpy(buf, src, n);
    return SQZ_OK;
}

// The output list: tensor descriptors (data NULL: ht_fill produces them) and their plans.
typedef struct {
    sqz_tensor *t;
    ht_plan *plan;
    char **names;
    int64_t n, cap;
    json_t *sparse_layers; // sparsity_config.layers
} hlist;

static sqz_status hl_push(hlist *l, const char *name, sqz_type type, int n_dims, const int64_t *shape, size_t nbytes,
                          ht_plan plan) {
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 256;
        sqz_tensor *t = realloc(l->t, (size_t)cap * sizeof *t);
        if (t)
            l->t = t;
        ht_plan *pl = t ? realloc(l->plan, (size_t)cap * sizeof *pl) : NULL;
        if (pl)
            l->plan = pl;
        char **nm = pl ? realloc(l->names, (size_t)cap * sizeof *nm) : NULL;
        SQZ_FAIL_IF(!nm, SQZ_ERR_NOMEM, "out of memory");
        l->names = nm, l->cap = cap;
    }
    l->names[l->n] = strdup(name);
    SQZ_FAIL_IF(!l->names[l->n], SQZ_ERR_NOMEM, "out of memory");
    l->t[l->n] = (sqz_tensor){.name = l->names[l->n], .type = type, .n_dims = n_dims, .data = NULL, .nbytes = nbytes};
    memcpy(l->t[l->n].shape, shape, (size_t)n_dims * sizeof *shape);
    l->plan[l->n++] = plan;
    return SQZ_OK;
}

static void hl_free(hlist *l) {
    for (int64_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->t), free(l->plan), free(l->names);
    json_decref(l->sparse_layers);
}

static sqz_status hl_part(hlist *l, const char *base, const char *suffix, sqz_type type, int64_t d0, int64_t d1,
                          ht_plan plan) {
    char name[160];
    name_of(name, sizeof name, base, suffix);
    int64_t shape[2] = {d0, d1};
    size_t nbytes = sqz_type_row_size(type, d1 < 0 ? d0 : d0 * d1);
    return hl_push(l, name, type, d1 < 0 ? 1 : 2, shape, nbytes, plan);
}

// The four GPTQ tensors of integer layer k, named <base>.qweight etc. (shapes as sqz_gptq_pack makes them).
static sqz_status plan_packed(hlist *l, int64_t k, const char *base, const sqz_qweight *q) {
    int64_t words_in = q->n_in * q->bits / 32, words_out = q->n_out * q->bits / 32;
    SQZ_TRY(hl_part(l, base, ".qweight", SQZ_TYPE_I32, words_in, q->n_out, (ht_plan){HT_GPTQ, 0, k, NULL}));
    SQZ_TRY(hl_part(l, base, ".qzeros", SQZ_TYPE_I32, q->n_groups, words_out, (ht_plan){HT_GPTQ, 1, k, NULL}));
    SQZ_TRY(hl_part(l, base, ".scales", SQZ_TYPE_F16, q->n_groups, q->n_out, (ht_plan){HT_GPTQ, 2, k, NULL}));
    return hl_part(l, base, ".g_idx", SQZ_TYPE_I32, q->n_in, -1, (ht_plan){HT_GPTQ, 3, k, NULL});
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
            json_object_set_new(meta, "sqz_compute", json_string("grouped-int codes against int8 activations"));
        int64_t h = find_lin(cc, "output.weight"); // GPTQModel's flag for a quantized lm_head
        json_object_set_new(o, "lm_head", json_boolean(h >= 0 && packable(cc->store[h].qw)));
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

static void sparse_entry(hlist *l, const char *base, const char *storage, const char *values, int group,
                         double sparsity) {
    json_t *o = json_object();
    json_object_set_new(o, "storage", json_string(storage));
    json_object_set_new(o, "values", json_string(values));
    if (group)
        json_object_set_new(o, "group", json_integer(group));
    json_object_set_new(o, "sparsity", json_real(sparsity));
    json_object_set_new(l->sparse_layers, base, o);
}

// Pruned int4 layer k in the N:M int4 layout: <base>.sp_values, .sp_meta, .sp_scales, .sp_zeros.
static sqz_status plan_sparse_int4(const sqz_compressed *cc, hlist *l, int64_t k, const char *base) {
    const lin_store *s = &cc->store[k];
    const sqz_qweight *q = s->qw;
    SQZ_TRY(hl_part(l, base, ".sp_values", SQZ_TYPE_U8, q->n_out, q->n_in / 4, (ht_plan){HT_NM_INT4, 0, k, NULL}));
    SQZ_TRY(hl_part(l, base, ".sp_meta", SQZ_TYPE_U8, q->n_out, q->n_in / 8, (ht_plan){HT_NM_INT4, 1, k, NULL}));
    SQZ_TRY(hl_part(l, base, ".sp_scales", SQZ_TYPE_F16, q->n_out, q->n_groups, (ht_plan){HT_NM_INT4, 2, k, NULL}));
    SQZ_TRY(hl_part(l, base, ".sp_zeros", SQZ_TYPE_U8, q->n_out, q->n_groups, (ht_plan){HT_NM_INT4, 3, k, NULL}));
    sparse_entry(l, base, s->sp.nm.m == 4 ? "2:4" : "4:8", "int4", q->group, s->sp.sparsity);
    return SQZ_OK;
}

// Nonzeros of the checkpoint's dense tensor t (what a CSR of it holds).
static int64_t count_nonzeros(const sqz_tensor *t) {
    const sqz_type_traits *tr = sqz_type_traits_of(t->type);
    int64_t rows = t->shape[0], cols = t->shape[1], nnz = 0;
    float *row = malloc((size_t)cols * sizeof *row);
    if (!row || !tr || !tr->to_float)
        return free(row), -1;
    size_t rb = sqz_type_row_size(t->type, cols);
    for (int64_t r = 0; r < rows; r++) {
        tr->to_float((const uint8_t *)t->data + r * rb, row, cols);
        for (int64_t c = 0; c < cols; c++)
            nnz += row[c] != 0.0f;
    }
    free(row);
    return nnz;
}

// Pruned F16 layer k (the checkpoint's tensor t, rows in HF order) in sqz's N:M or CSR layout, or copied
// when CSR would not be smaller.
static sqz_status plan_sparse(const sqz_compressed *cc, hlist *l, int64_t k, const char *base, const sqz_tensor *t) {
    const lin_store *s = &cc->store[k];
    int64_t n_out = cc->stats[k].n_out, n_in = cc->stats[k].n_in;
    SQZ_FAIL_IF(t->n_dims != 2 || t->shape[0] != n_out || t->shape[1] != n_in, SQZ_ERR_FORMAT,
                "%s: unexpected shape in the converted checkpoint", t->name);
    if (s->sp.storage == SQZ_SP_STORE_NM) {
        SQZ_TRY(hl_part(l, base, ".sp_values", SQZ_TYPE_F16, n_out, n_in / 2, (ht_plan){HT_NM_F16, 0, k, t}));
        SQZ_TRY(hl_part(l, base, ".sp_meta", SQZ_TYPE_U8, n_out, n_in / 8, (ht_plan){HT_NM_F16, 1, k, t}));
        sparse_entry(l, base, s->sp.nm.m == 4 ? "2:4" : "4:8", "f16", 0, s->sp.sparsity);
        return SQZ_OK;
    }
    int64_t nnz = count_nonzeros(t);
    SQZ_FAIL_IF(nnz < 0, SQZ_ERR_NOMEM, "%s: out of memory", t->name);
    if (sqz_sparse_csr_nbytes_for(n_out, nnz) >= (size_t)(n_out * n_in) * 2) // not smaller: dense
        return hl_push(l, t->name, t->type, t->n_dims, t->shape, t->nbytes, (ht_plan){HT_COPY, 0, -1, t});
    SQZ_FAIL_IF(nnz > INT32_MAX, SQZ_ERR_RANGE, "%s: %lld nonzeros do not fit int32 row pointers", base, (long long)nnz);
    SQZ_TRY(hl_part(l, base, ".csr_row_ptr", SQZ_TYPE_I32, n_out + 1, -1, (ht_plan){HT_CSR, 0, k, t}));
    SQZ_TRY(hl_part(l, base, ".csr_col", SQZ_TYPE_I16, nnz, -1, (ht_plan){HT_CSR, 1, k, t})); // uint16 bit patterns
    SQZ_TRY(hl_part(l, base, ".csr_val", SQZ_TYPE_F16, nnz, -1, (ht_plan){HT_CSR, 2, k, t}));
    sparse_entry(l, base, "csr", "f16", 0, s->sp.sparsity);
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

// Replace the dense weights in hf_dir/model.safetensors: packable integer layers by their GPTQ tensors,
// pruned int4 layers by the N:M int4 layout, pruned F16 layers by sqz's N:M or CSR layout; written tensor
// by tensor (ht_fill), the old file read once through its mapping.
static sqz_status pack_hf(const sqz_compressed *cc, const char *hf_dir) {
    if (!first_int_step(cc) && !any_sparse(cc))
        return SQZ_OK;
    sqz_gptq_format fmt = pick_format(cc);
    char path[4096];
    SQZ_TRY(path_of(path, sizeof path, hf_dir, "model.safetensors"));
    sqz_safetensors *st;
    SQZ_TRY(sqz_safetensors_open(&st, path));
    hlist l = {.sparse_layers = json_object()};
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
        if (!strcmp(t->name, "lm_head.weight")) // the output head, when a step quantized it
            k = find_lin(cc, "output.weight");
        char base[160];
        if (k >= 0)
            snprintf(base, sizeof base, "%.*s", (int)(strlen(t->name) - 7), t->name);
        if (k >= 0 && is_sparse_int4(&cc->store[k]))
            e = plan_sparse_int4(cc, &l, k, base);
        else if (k >= 0 && packable(cc->store[k].qw))
            e = plan_packed(&l, k, base, cc->store[k].qw);
        else if (k >= 0 && is_sparse(&cc->store[k]))
            e = plan_sparse(cc, &l, k, base, t);
        else
            e = hl_push(&l, t->name, t->type, t->n_dims, t->shape, t->nbytes, (ht_plan){HT_COPY, 0, -1, t});
    }
    static const char *const meta[] = {"format", "pt"};
    ht_state h = {cc, fmt, l.plan, -1, NULL, NULL, NULL};
    if (e == SQZ_OK) // temp + rename: the old mapping stays valid while it is read
        e = sqz_safetensors_write_fill(path, l.t, l.n, meta, 1, ht_fill, &h);
    ht_drop(&h);
    if (e == SQZ_OK)
        e = update_config(cc, hf_dir, fmt, l.sparse_layers);
    hl_free(&l);
    sqz_safetensors_free(st);
    return e;
}

// Layers pack_hf replaces by their own tensors: the dense GGUF only needs their names and shapes.
static bool replaced_in_hf(const lin_store *s) { return packable(s->qw) || is_sparse_int4(s); }

static sqz_status write_hf(const sqz_compressed *cc, const char *out_dir) {
    char dense[4096], hf[4096];
    SQZ_TRY(path_of(dense, sizeof dense, out_dir, ".dense.tmp.gguf"));
    SQZ_TRY(path_of(hf, sizeof hf, out_dir, "hf"));
    sqz_status e = write_gguf(cc, dense, true, replaced_in_hf);
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
    json_object_set_new(o, "role", json_string(s->layer == SQZ_LAYER_HEAD ? "head" : sqz_lin_role_name(s->role)));
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
    json_object_set_new(m, "compute", json_string("GPTQ-layout int weights run as grouped-int codes against int8 "
                                                  "activations (kernels/qgroup.h); 2:4/4:8 layouts in hf/ run sparse "
                                                  "(kernels/sparse.h); model.gguf through the llama.cpp-type kernels"));
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

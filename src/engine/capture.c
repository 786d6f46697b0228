// Calibration capture: one Llama block at a time over many sequences, with the inputs of every
// linear shown to a callback, and in-memory replacement of weights and norms. This is what the
// compress pipeline (GPTQ/AWQ, layer by layer as in the GPTQ reference) drives.
//
// The block is sqz_forward_llama's own (sqz_llama_block in forward.c), run over many sequences at
// positions 0..; tests/compress/test_compress.c checks that embedding → every block →
// sqz_model_head reproduces sqz_ctx_eval's logits.
#include <stdlib.h>
#include <string.h>

#include "engine/impl_qgroup.h"
#include "engine/internal.h"
#include "sqz/quant.h"

static const char *const role_names[SQZ_LIN_COUNT] = {"q", "k", "v", "o", "gate", "up", "down"};
static const sqz_capture_point role_input[SQZ_LIN_COUNT] = {
    SQZ_CAP_ATTN_IN, SQZ_CAP_ATTN_IN, SQZ_CAP_ATTN_IN, SQZ_CAP_ATTN_OUT, SQZ_CAP_MLP_IN, SQZ_CAP_MLP_IN, SQZ_CAP_MLP_MID,
};

const char *sqz_lin_role_name(sqz_lin_role r) { return (unsigned)r < SQZ_LIN_COUNT ? role_names[r] : "?"; }
sqz_capture_point sqz_lin_role_input(sqz_lin_role r) {
    return (unsigned)r < SQZ_LIN_COUNT ? role_input[r] : SQZ_CAP_COUNT;
}

static sqz_status check_llama(const sqz_model *m) {
    SQZ_FAIL_IF(m->cfg.arch == SQZ_ARCH_GPT2, SQZ_ERR_UNSUPPORTED,
                "calibration capture supports the Llama family only, not GPT-2");
    return SQZ_OK;
}

// Linear r of block `layer` (or the head, SQZ_LAYER_HEAD), checked; the const and mutable forms.
static sqz_status lin_check(const sqz_model *m, int64_t layer, sqz_lin_role r) {
    SQZ_TRY(check_llama(m));
    if (layer == SQZ_LAYER_HEAD)
        return SQZ_OK;
    SQZ_FAIL_IF(layer < 0 || layer >= m->cfg.n_layer, SQZ_ERR_RANGE, "layer %lld outside [0, %lld)",
                (long long)layer, (long long)m->cfg.n_layer);
    SQZ_FAIL_IF((unsigned)r >= SQZ_LIN_COUNT, SQZ_ERR_RANGE, "linear role %d is not valid", (int)r);
    return SQZ_OK;
}

static sqz_linear *block_lin(sqz_layer *L, sqz_lin_role r) {
    sqz_linear *ls[SQZ_LIN_COUNT] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    return ls[r];
}

static sqz_status lin_get(const sqz_model *m, int64_t layer, sqz_lin_role r, const sqz_linear **out) {
    SQZ_TRY(lin_check(m, layer, r));
    *out = layer == SQZ_LAYER_HEAD ? &m->lm_head : block_lin(&m->layers[layer], r);
    return SQZ_OK;
}

static sqz_status lin_of(sqz_model *m, int64_t layer, sqz_lin_role r, sqz_linear **out) {
    SQZ_TRY(lin_check(m, layer, r));
    *out = layer == SQZ_LAYER_HEAD ? &m->lm_head : block_lin(&m->layers[layer], r);
    return SQZ_OK;
}

sqz_status sqz_model_linear_info(const sqz_model *m, int64_t layer, sqz_lin_role r, sqz_linear_info *out) {
    const sqz_linear *l;
    SQZ_TRY(lin_get(m, layer, r, &l));
    *out = (sqz_linear_info){l->name, l->type, l->n_out, l->n_in, l->b != NULL};
    return SQZ_OK;
}

sqz_status sqz_model_linear_get(const sqz_model *m, int64_t layer, sqz_lin_role r, float *out) {
    const sqz_linear *l;
    SQZ_TRY(lin_get(m, layer, r, &l));
    for (int64_t o = 0; o < l->n_out; o++)
        sqz_linear_row_to_float(l, o, out + o * l->n_in);
    return SQZ_OK;
}

// Let go of what linear l ran on before being replaced: weights the model owns are freed; weights in the
// file mapping (never written) have their pages dropped from the resident set, so a model rewritten
// layer by layer (compress) does not hold the whole file in memory too. Layouts of sqz's own (impl)
// stay owned until the model is freed.
static void release_weights(sqz_model *m, const sqz_linear *l) {
    if (l->impl || !l->w || (m->tok_embd && l->w == m->tok_embd->data)) // a tied head: the embedding stays
        return;
    for (int i = 0; i < m->n_owned; i++)
        if (m->owned[i].p == l->w) {
            sqz_model_disown(m, l->w);
            return;
        }
    sqz_mmap_release(l->w, l->row_bytes * (size_t)l->n_out);
}

sqz_status sqz_model_linear_set(sqz_model *m, int64_t layer, sqz_lin_role r, sqz_type type, const void *data,
                                size_t nbytes) {
    sqz_linear *l;
    SQZ_TRY(lin_of(m, layer, r, &l));
    const sqz_kernel *k = sqz_kernel_for(type);
    SQZ_FAIL_IF(!k, SQZ_ERR_UNSUPPORTED, "%s: weight type %s is not supported by the engine", l->name,
                sqz_type_name(type));
    size_t row = sqz_type_row_size(type, l->n_in);
    SQZ_FAIL_IF(row == 0 || (k->act != SQZ_ACT_F32 && l->n_in % QK8A), SQZ_ERR_ARG,
                "%s: %lld columns cannot be stored as %s", l->name, (long long)l->n_in, sqz_type_name(type));
    SQZ_FAIL_IF(nbytes != row * (size_t)l->n_out, SQZ_ERR_ARG, "%s: %zu bytes given, %s [%lld][%lld] needs %zu",
                l->name, nbytes, sqz_type_name(type), (long long)l->n_out, (long long)l->n_in,
                row * (size_t)l->n_out);
    uint8_t *w = malloc(nbytes);
    SQZ_FAIL_IF(!w, SQZ_ERR_NOMEM, "out of memory replacing %s", l->name);
    memcpy(w, data, nbytes);
    SQZ_TRY(sqz_model_own(m, w, nbytes));
    release_weights(m, l);
    l->type = type, l->w = w, l->row_bytes = row, l->k = k, l->impl = NULL, l->data = NULL;
    l->exact = m->opts.exact && k->act != SQZ_ACT_F32; // as init_linear in model.c
    if (l->exact)
        l->k = sqz_kernel_for_isa(SQZ_TYPE_F32, SQZ_ISA_REF);
    return SQZ_OK;
}

sqz_status sqz_model_linear_set_qweight(sqz_model *m, int64_t layer, sqz_lin_role r, const struct sqz_qweight *q) {
    sqz_linear *l;
    SQZ_TRY(lin_of(m, layer, r, &l));
    SQZ_FAIL_IF(q->n_out != l->n_out || q->n_in != l->n_in, SQZ_ERR_ARG, "%s: int weights [%lld][%lld], the layer is "
                "[%lld][%lld]", l->name, (long long)q->n_out, (long long)q->n_in, (long long)l->n_out, (long long)l->n_in);
    SQZ_FAIL_IF(q->in_scales, SQZ_ERR_UNSUPPORTED, "%s: int weights with input scales have no grouped-int layout", l->name);
    sqz_qgroup_src src = {q->n_out, q->n_in, q->n_groups, q->bits, q->codes, q->scales, q->zeros, q->g_idx};
    sqz_qgroup *w = NULL;
    SQZ_TRY_CTX(sqz_qgroup_pack(&src, &w), "%s: ", l->name);
    sqz_linear old = *l;
    const struct sqz_lora *lora = l->lora;
    const float *b = l->b;
    SQZ_TRY(sqz_qgroup_linear_init(m, l, old.name, w));
    l->b = b, l->lora = lora; // biases and adapters stay
    release_weights(m, &old);
    return SQZ_OK;
}

bool sqz_model_head_tied(const sqz_model *m) {
    return m->tok_embd && m->lm_head.w == m->tok_embd->data && !m->lm_head.impl;
}

sqz_status sqz_model_final_norm(const sqz_model *m, const float *x, int64_t n, float *out) {
    SQZ_TRY(check_llama(m));
    sqz_rmsnorm_rows(out, x, m->out_norm, n, m->cfg.n_embd, (float)m->cfg.norm_eps);
    return SQZ_OK;
}

sqz_status sqz_model_norm_get(const sqz_model *m, int64_t layer, bool ffn, const float **out) {
    SQZ_FAIL_IF(layer < 0, SQZ_ERR_RANGE, "layer %lld: no block norm", (long long)layer);
    SQZ_TRY(lin_check(m, layer, SQZ_LIN_Q));
    *out = ffn ? m->layers[layer].ffn_norm : m->layers[layer].attn_norm;
    return SQZ_OK;
}

sqz_status sqz_model_norm_set(sqz_model *m, int64_t layer, bool ffn, const float *w) {
    SQZ_FAIL_IF(layer < 0, SQZ_ERR_RANGE, "layer %lld: no block norm", (long long)layer);
    SQZ_TRY(lin_check(m, layer, SQZ_LIN_Q));
    size_t bytes = (size_t)m->cfg.n_embd * sizeof(float);
    float *v = malloc(bytes);
    SQZ_FAIL_IF(!v, SQZ_ERR_NOMEM, "out of memory");
    memcpy(v, w, bytes);
    SQZ_TRY(sqz_model_own(m, v, bytes));
    if (ffn)
        m->layers[layer].ffn_norm = v;
    else
        m->layers[layer].attn_norm = v;
    return SQZ_OK;
}

sqz_status sqz_model_embed(const sqz_model *m, const int32_t *ids, int64_t n, float *x) {
    const sqz_tensor *te = m->tok_embd;
    int64_t d = m->cfg.n_embd;
    size_t row = sqz_type_row_size(te->type, d);
    for (int64_t t = 0; t < n; t++) {
        SQZ_FAIL_IF(ids[t] < 0 || ids[t] >= m->cfg.n_vocab, SQZ_ERR_RANGE,
                    "token id %d at index %lld is outside the vocabulary [0, %lld)", ids[t], (long long)t,
                    (long long)m->cfg.n_vocab);
        sqz_type_traits_of(te->type)->to_float((const uint8_t *)te->data + (size_t)ids[t] * row, x + t * d, d);
    }
    return SQZ_OK;
}

// ---- running blocks (sqz_llama_block, forward.c) --------------------------------------------------
sqz_status sqz_block_forward(sqz_ctx *c, int64_t layer, float *x, int64_t n_seq, int64_t seq_len,
                             sqz_capture_cb cb, void *user) {
    SQZ_TRY(check_llama(c->m));
    SQZ_FAIL_IF(layer < 0 || layer >= c->m->cfg.n_layer, SQZ_ERR_RANGE, "layer %lld outside [0, %lld)",
                (long long)layer, (long long)c->m->cfg.n_layer);
    SQZ_FAIL_IF(n_seq < 1 || seq_len < 1, SQZ_ERR_ARG, "block forward: %lld sequences of %lld tokens",
                (long long)n_seq, (long long)seq_len);
    SQZ_FAIL_IF(seq_len > c->n_batch || seq_len > c->n_ctx, SQZ_ERR_RANGE,
                "block forward: sequences of %lld tokens exceed the context's batch of %lld", (long long)seq_len,
                (long long)c->n_batch);
    int64_t d = c->m->cfg.n_embd, per = c->n_batch / seq_len;
    for (int64_t s0 = 0; s0 < n_seq; s0 += per) {
        int64_t ns = n_seq - s0 < per ? n_seq - s0 : per;
        float *xs = x + s0 * seq_len * d;
        memcpy(c->x, xs, (size_t)(ns * seq_len * d) * sizeof(float));
        if (sqz_llama_block(c, layer, ns, seq_len, 0, cb, user))
            memcpy(xs, c->x, (size_t)(ns * seq_len * d) * sizeof(float));
    }
    return SQZ_OK;
}

sqz_status sqz_model_head(sqz_ctx *c, const float *x, int64_t n, float *logits) {
    const sqz_model *m = c->m;
    int64_t d = m->cfg.n_embd, nv = m->cfg.n_vocab;
    SQZ_TRY(check_llama(m));
    for (int64_t t0 = 0; t0 < n; t0 += c->n_batch) {
        int64_t nb = n - t0 < c->n_batch ? n - t0 : c->n_batch;
        sqz_rmsnorm_rows(c->xb, x + t0 * d, m->out_norm, nb, d, (float)m->cfg.norm_eps);
        sqz_linear_forward(c, &m->lm_head, c->xb, logits + t0 * nv, nb);
    }
    return SQZ_OK;
}

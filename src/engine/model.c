// Loading a runnable model: find each tensor the architecture needs under the names of the file's
// layout (GGUF or HF), check its shape, and wrap weights as linear layers over the mapping.
// Only transformed tensors are copied: HF GPT-2 Conv1D weights ([in, out] → [out, in]), and norm
// or bias vectors that are not F32 (or not 4-byte aligned) in the file.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "engine/lora.h"

// Tensor roles and their names per layout. %d is the layer index.
typedef enum {
    R_ATTN_NORM, R_ATTN_NORM_B, R_WQ, R_BQ, R_WK, R_BK, R_WV, R_BV, R_WO, R_BO, R_WQKV, R_BQKV,
    R_FFN_NORM, R_FFN_NORM_B, R_GATE, R_UP, R_B_UP, R_DOWN, R_B_DOWN, R_COUNT
} role;

static const char *const gguf_names[R_COUNT] = {
    "blk.%d.attn_norm.weight", "blk.%d.attn_norm.bias", "blk.%d.attn_q.weight", "blk.%d.attn_q.bias",
    "blk.%d.attn_k.weight", "blk.%d.attn_k.bias", "blk.%d.attn_v.weight", "blk.%d.attn_v.bias",
    "blk.%d.attn_output.weight", "blk.%d.attn_output.bias", "blk.%d.attn_qkv.weight", "blk.%d.attn_qkv.bias",
    "blk.%d.ffn_norm.weight", "blk.%d.ffn_norm.bias", "blk.%d.ffn_gate.weight", "blk.%d.ffn_up.weight",
    "blk.%d.ffn_up.bias", "blk.%d.ffn_down.weight", "blk.%d.ffn_down.bias",
};
static const char *const hf_llama_names[R_COUNT] = {
    "model.layers.%d.input_layernorm.weight", NULL, "model.layers.%d.self_attn.q_proj.weight",
    "model.layers.%d.self_attn.q_proj.bias", "model.layers.%d.self_attn.k_proj.weight",
    "model.layers.%d.self_attn.k_proj.bias", "model.layers.%d.self_attn.v_proj.weight",
    "model.layers.%d.self_attn.v_proj.bias", "model.layers.%d.self_attn.o_proj.weight", NULL, NULL, NULL,
    "model.layers.%d.post_attention_layernorm.weight", NULL, "model.layers.%d.mlp.gate_proj.weight",
    "model.layers.%d.mlp.up_proj.weight", NULL, "model.layers.%d.mlp.down_proj.weight", NULL,
};
// HF GPT-2 (without the optional "transformer." prefix, which find() tries first).
static const char *const hf_gpt2_names[R_COUNT] = {
    "h.%d.ln_1.weight", "h.%d.ln_1.bias", NULL, NULL, NULL, NULL, NULL, NULL,
    "h.%d.attn.c_proj.weight", "h.%d.attn.c_proj.bias", "h.%d.attn.c_attn.weight", "h.%d.attn.c_attn.bias",
    "h.%d.ln_2.weight", "h.%d.ln_2.bias", NULL, "h.%d.mlp.c_fc.weight", "h.%d.mlp.c_fc.bias",
    "h.%d.mlp.c_proj.weight", "h.%d.mlp.c_proj.bias",
};

typedef struct {
    sqz_model *m;
    const char *const *names;
    bool hf, gpt2;
} loader;

static const sqz_tensor *find(const loader *ld, const char *name) {
    if (ld->hf && ld->gpt2) { // GPT-2 checkpoints exist with and without "transformer."
        char buf[256];
        snprintf(buf, sizeof buf, "transformer.%s", name);
        const sqz_tensor *t = sqz_model_file_find(ld->m->file, buf);
        if (t)
            return t;
    }
    return sqz_model_file_find(ld->m->file, name);
}

static const sqz_tensor *find_role(const loader *ld, role r, int layer, char *name, size_t cap) {
    if (!ld->names[r])
        return NULL;
    const char *tmpl = ld->names[r], *at = strstr(tmpl, "%d"); // every template has one %d
    snprintf(name, cap, "%.*s%d%s", (int)(at - tmpl), tmpl, layer, at + 2);
    return find(ld, name);
}

sqz_status sqz_model_own(sqz_model *m, void *p, size_t nbytes) {
    sqz_owned *grown = p ? realloc(m->owned, (size_t)(m->n_owned + 1) * sizeof *grown) : NULL;
    if (!grown) {
        free(p);
        return sqz_error(SQZ_ERR_NOMEM, "out of memory");
    }
    m->owned = grown;
    m->owned[m->n_owned++] = (sqz_owned){p, nbytes};
    m->owned_bytes += nbytes;
    return SQZ_OK;
}

void sqz_model_disown(sqz_model *m, const void *p) {
    for (int i = 0; p && i < m->n_owned; i++)
        if (m->owned[i].p == p) {
            free(m->owned[i].p);
            m->owned_bytes -= m->owned[i].nbytes;
            m->owned[i] = m->owned[--m->n_owned];
            return;
        }
}

// A vector of n floats (norm weight or bias): used in place when F32 and aligned, else converted.
static sqz_status load_vec(sqz_model *m, const sqz_tensor *t, const char *name, int64_t n, const float **out) {
    SQZ_FAIL_IF(sqz_tensor_nelements(t) != n, SQZ_ERR_FORMAT, "tensor '%s' has %lld elements, expected %lld",
                name, (long long)sqz_tensor_nelements(t), (long long)n);
    const sqz_type_traits *tr = sqz_type_traits_of(t->type);
    SQZ_FAIL_IF(!tr || !tr->to_float || n % tr->block_size, SQZ_ERR_UNSUPPORTED,
                "tensor '%s': type %s not supported for a vector", name, sqz_type_name(t->type));
    if (t->type == SQZ_TYPE_F32 && ((uintptr_t)t->data & 3) == 0) {
        *out = t->data;
        return SQZ_OK;
    }
    float *v = malloc((size_t)n * sizeof *v);
    SQZ_FAIL_IF(!v, SQZ_ERR_NOMEM, "out of memory converting '%s'", name);
    tr->to_float(t->data, v, n);
    SQZ_TRY(sqz_model_own(m, v, (size_t)n * sizeof *v));
    *out = v;
    return SQZ_OK;
}

static sqz_status init_linear(sqz_model *m, sqz_linear *l, const sqz_tensor *t, const char *name, int64_t n_out,
                              int64_t n_in) {
    SQZ_FAIL_IF(t->n_dims != 2 || t->shape[0] != n_out || t->shape[1] != n_in, SQZ_ERR_FORMAT,
                "tensor '%s' has shape [%lld, %lld] (%d dims), expected [%lld, %lld]", name,
                (long long)t->shape[0], (long long)(t->n_dims > 1 ? t->shape[1] : 0), t->n_dims, (long long)n_out,
                (long long)n_in);
    const sqz_kernel *k = sqz_kernel_for(t->type);
    SQZ_FAIL_IF(!k, SQZ_ERR_UNSUPPORTED, "tensor '%s': weight type %s is not supported by the engine", name,
                sqz_type_name(t->type));
    SQZ_FAIL_IF(k->act != SQZ_ACT_F32 && n_in % QK8A, SQZ_ERR_FORMAT,
                "tensor '%s': %lld columns is not a multiple of the %s block", name, (long long)n_in,
                sqz_type_name(t->type));
    size_t row = sqz_type_row_size(t->type, n_in);
    SQZ_FAIL_IF(row == 0 || t->nbytes < row * (size_t)n_out, SQZ_ERR_FORMAT, "tensor '%s': %zu bytes, expected %zu",
                name, t->nbytes, row * (size_t)n_out);
    *l = (sqz_linear){.name = t->name ? t->name : name, .type = t->type, .n_out = n_out, .n_in = n_in,
                      .w = t->data, .row_bytes = row, .k = k,
                      .exact = m->opts.exact && k->act != SQZ_ACT_F32};
    if (l->exact)
        l->k = sqz_kernel_for_isa(SQZ_TYPE_F32, SQZ_ISA_REF);
    if (n_in > m->max_n_in)
        m->max_n_in = n_in;
    return SQZ_OK;
}

// HF Conv1D weight stored [n_in][n_out] (float type): transpose into an owned [n_out][n_in].
static sqz_status init_conv1d(sqz_model *m, sqz_linear *l, const sqz_tensor *t, const char *name, int64_t n_out,
                              int64_t n_in) {
    SQZ_FAIL_IF(t->n_dims != 2 || t->shape[0] != n_in || t->shape[1] != n_out, SQZ_ERR_FORMAT,
                "tensor '%s' has shape [%lld, %lld], expected Conv1D [%lld, %lld]", name, (long long)t->shape[0],
                (long long)(t->n_dims > 1 ? t->shape[1] : 0), (long long)n_in, (long long)n_out);
    const sqz_type_traits *tr = sqz_type_traits_of(t->type);
    SQZ_FAIL_IF(!tr || tr->is_quantized || !sqz_kernel_for(t->type), SQZ_ERR_UNSUPPORTED,
                "tensor '%s': Conv1D weight type %s not supported", name, sqz_type_name(t->type));
    size_t es = tr->type_size, bytes = (size_t)n_in * (size_t)n_out * es;
    SQZ_FAIL_IF(t->nbytes < bytes, SQZ_ERR_FORMAT, "tensor '%s': %zu bytes, expected %zu", name, t->nbytes, bytes);
    uint8_t *w = malloc(bytes);
    SQZ_FAIL_IF(!w, SQZ_ERR_NOMEM, "out of memory transposing '%s'", name);
    const uint8_t *src = t->data;
    for (int64_t i = 0; i < n_in; i++)
        for (int64_t o = 0; o < n_out; o++)
            memcpy(w + ((size_t)o * n_in + i) * es, src + ((size_t)i * n_out + o) * es, es);
    SQZ_TRY(sqz_model_own(m, w, bytes));
    sqz_tensor tt = *t;
    tt.shape[0] = n_out, tt.shape[1] = n_in, tt.data = w;
    return init_linear(m, l, &tt, name, n_out, n_in);
}

// Required (or optional, when `opt`) linear for role r of layer il, with an optional bias role.
static sqz_status layer_linear(const loader *ld, sqz_linear *l, int il, role rw, role rb, int64_t n_out,
                               int64_t n_in, bool opt) {
    char name[256];
    const sqz_tensor *t = find_role(ld, rw, il, name, sizeof name);
    if (!t && ld->hf && !ld->gpt2 && sqz_gptq_linear_present(ld->m, name)) { // GPTQ layout: grouped int (gptq_load.c)
        SQZ_TRY(sqz_gptq_linear_load(ld->m, l, name, n_out, n_in));
    } else if (!t && ld->hf && !ld->gpt2 && sqz_sparse_linear_present(ld->m, name)) { // sqz's sparse layouts
        void *owned;
        size_t bytes;
        SQZ_TRY(sqz_sparse_linear_load(ld->m, l, name, n_out, n_in, &owned, &bytes));
        SQZ_TRY(sqz_model_own(ld->m, owned, bytes));
    } else if (!t) {
        SQZ_FAIL_IF(!opt, SQZ_ERR_NOT_FOUND, "missing tensor '%s'", name);
        return SQZ_OK;
    } else if (ld->hf && ld->gpt2)
        SQZ_TRY(init_conv1d(ld->m, l, t, name, n_out, n_in));
    else
        SQZ_TRY(init_linear(ld->m, l, t, name, n_out, n_in));
    const sqz_tensor *b = (int)rb >= 0 ? find_role(ld, rb, il, name, sizeof name) : NULL;
    if (b)
        SQZ_TRY(load_vec(ld->m, b, name, n_out, &l->b));
    return SQZ_OK;
}

static sqz_status layer_vec(const loader *ld, const float **out, int il, role r, int64_t n, bool opt) {
    char name[256];
    const sqz_tensor *t = find_role(ld, r, il, name, sizeof name);
    if (!t) {
        SQZ_FAIL_IF(!opt && ld->names[r], SQZ_ERR_NOT_FOUND, "missing tensor '%s'", name);
        return SQZ_OK;
    }
    return load_vec(ld->m, t, name, n, out);
}

static sqz_status load_layer_llama(const loader *ld, int il) {
    const sqz_model_config *c = &ld->m->cfg;
    sqz_layer *L = &ld->m->layers[il];
    int64_t d = c->n_embd, qd = c->n_head * c->head_dim, kvd = c->n_head_kv * c->head_dim;
    SQZ_TRY(layer_vec(ld, &L->attn_norm, il, R_ATTN_NORM, d, false));
    SQZ_TRY(layer_linear(ld, &L->wq, il, R_WQ, R_BQ, qd, d, false));
    SQZ_TRY(layer_linear(ld, &L->wk, il, R_WK, R_BK, kvd, d, false));
    SQZ_TRY(layer_linear(ld, &L->wv, il, R_WV, R_BV, kvd, d, false));
    SQZ_TRY(layer_linear(ld, &L->wo, il, R_WO, (role)-1, d, qd, false));
    SQZ_TRY(layer_vec(ld, &L->ffn_norm, il, R_FFN_NORM, d, false));
    SQZ_TRY(layer_linear(ld, &L->w_gate, il, R_GATE, (role)-1, c->n_ff, d, false));
    SQZ_TRY(layer_linear(ld, &L->w_up, il, R_UP, (role)-1, c->n_ff, d, false));
    SQZ_TRY(layer_linear(ld, &L->w_down, il, R_DOWN, (role)-1, d, c->n_ff, false));
    return SQZ_OK;
}

static sqz_status load_layer_gpt2(const loader *ld, int il) {
    const sqz_model_config *c = &ld->m->cfg;
    sqz_layer *L = &ld->m->layers[il];
    int64_t d = c->n_embd;
    SQZ_TRY(layer_vec(ld, &L->attn_norm, il, R_ATTN_NORM, d, false));
    SQZ_TRY(layer_vec(ld, &L->attn_norm_b, il, R_ATTN_NORM_B, d, false));
    SQZ_TRY(layer_linear(ld, &L->wqkv, il, R_WQKV, R_BQKV, 3 * d, d, false));
    SQZ_TRY(layer_linear(ld, &L->wo, il, R_WO, R_BO, d, d, false));
    SQZ_TRY(layer_vec(ld, &L->ffn_norm, il, R_FFN_NORM, d, false));
    SQZ_TRY(layer_vec(ld, &L->ffn_norm_b, il, R_FFN_NORM_B, d, false));
    SQZ_TRY(layer_linear(ld, &L->w_up, il, R_UP, R_B_UP, c->n_ff, d, false));
    SQZ_TRY(layer_linear(ld, &L->w_down, il, R_DOWN, R_B_DOWN, d, c->n_ff, false));
    return SQZ_OK;
}

// Global tensors: embeddings, final norm, lm_head (tied to the embedding when absent).
static sqz_status load_globals(const loader *ld) {
    sqz_model *m = ld->m;
    const sqz_model_config *c = &m->cfg;
    bool gguf = !ld->hf;
    const char *emb = gguf ? "token_embd.weight" : ld->gpt2 ? "wte.weight" : "model.embed_tokens.weight";
    m->tok_embd = find(ld, emb);
    SQZ_FAIL_IF(!m->tok_embd, SQZ_ERR_NOT_FOUND, "missing tensor '%s'", emb);
    const sqz_tensor *te = m->tok_embd;
    SQZ_FAIL_IF(te->n_dims != 2 || te->shape[0] != c->n_vocab || te->shape[1] != c->n_embd, SQZ_ERR_FORMAT,
                "tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]", emb, (long long)te->shape[0],
                (long long)(te->n_dims > 1 ? te->shape[1] : 0), (long long)c->n_vocab, (long long)c->n_embd);
    const sqz_type_traits *tr = sqz_type_traits_of(te->type);
    SQZ_FAIL_IF(!tr || !tr->to_float || sqz_type_row_size(te->type, c->n_embd) == 0, SQZ_ERR_UNSUPPORTED,
                "tensor '%s': type %s not supported for embeddings", emb, sqz_type_name(te->type));
    SQZ_FAIL_IF(te->nbytes < sqz_type_row_size(te->type, c->n_embd) * (size_t)c->n_vocab, SQZ_ERR_FORMAT,
                "tensor '%s' is truncated", emb);
    if (ld->gpt2) {
        const char *pe = gguf ? "position_embd.weight" : "wpe.weight";
        const sqz_tensor *t = find(ld, pe);
        SQZ_FAIL_IF(!t, SQZ_ERR_NOT_FOUND, "missing tensor '%s'", pe);
        SQZ_FAIL_IF(t->n_dims != 2 || t->shape[1] != c->n_embd || t->shape[0] < 1, SQZ_ERR_FORMAT,
                    "tensor '%s': bad shape", pe);
        SQZ_TRY(load_vec(m, t, pe, t->shape[0] * c->n_embd, &m->pos_embd));
        m->cfg.n_ctx_train = t->shape[0]; // learned positions bound the context
    }
    const char *on = gguf ? "output_norm.weight" : ld->gpt2 ? "ln_f.weight" : "model.norm.weight";
    const sqz_tensor *t = find(ld, on);
    SQZ_FAIL_IF(!t, SQZ_ERR_NOT_FOUND, "missing tensor '%s'", on);
    SQZ_TRY(load_vec(m, t, on, c->n_embd, &m->out_norm));
    if (ld->gpt2) {
        const char *ob = gguf ? "output_norm.bias" : "ln_f.bias";
        SQZ_FAIL_IF(!(t = find(ld, ob)), SQZ_ERR_NOT_FOUND, "missing tensor '%s'", ob);
        SQZ_TRY(load_vec(m, t, ob, c->n_embd, &m->out_norm_b));
    }
    const char *lm = gguf ? "output.weight" : "lm_head.weight";
    t = find(ld, lm);
    if (!t && ld->hf && !ld->gpt2 && sqz_gptq_linear_present(m, lm)) // a quantized head (GPTQModel lm_head=true)
        return sqz_gptq_linear_load(m, &m->lm_head, lm, c->n_vocab, c->n_embd);
    if (!t)
        t = m->tok_embd, lm = emb; // tied
    return init_linear(m, &m->lm_head, t, lm, c->n_vocab, c->n_embd);
}

// RoPE inverse frequencies with the configured scaling (Llama 3 "llama3" rope_type; linear).
static sqz_status init_rope(sqz_model *m) {
    const sqz_model_config *c = &m->cfg;
    int64_t half = c->head_dim / 2;
    m->inv_freq = malloc((size_t)(half > 0 ? half : 1) * sizeof *m->inv_freq);
    m->rope_ff = malloc((size_t)(half > 0 ? half : 1) * sizeof *m->rope_ff);
    SQZ_FAIL_IF(!m->inv_freq || !m->rope_ff, SQZ_ERR_NOMEM, "out of memory");
    m->rope_theta_scale = powf((float)c->rope_theta, -2.0f / (float)c->head_dim);
    m->rope_freq_scale = c->rope_scaling == SQZ_ROPE_SCALING_LINEAR && c->rope_factor > 0 ? (float)(1.0 / c->rope_factor) : 1.0f;
    const sqz_tensor *ff = sqz_model_file_find(m->file, "rope_freqs.weight"); // GGUF llama3 factors
    SQZ_FAIL_IF(ff && (ff->type != SQZ_TYPE_F32 || sqz_tensor_nelements(ff) != half), SQZ_ERR_FORMAT,
                "tensor 'rope_freqs.weight': expected %lld f32 values", (long long)half);
    for (int64_t i = 0; i < half; i++) {
        double f = pow(c->rope_theta, -2.0 * (double)i / (double)c->head_dim);
        float v = 1.0f;
        if (ff) {
            memcpy(&v, (const uint8_t *)ff->data + 4 * i, 4);
            f /= v;
        } else if (c->rope_scaling == SQZ_ROPE_SCALING_LINEAR && c->rope_factor > 0) {
            f /= c->rope_factor;
        } else if (c->rope_scaling == SQZ_ROPE_SCALING_LLAMA3 && c->rope_factor > 0) {
            double lo_wl = (double)c->rope_orig_ctx / c->rope_low_freq_factor;
            double hi_wl = (double)c->rope_orig_ctx / c->rope_high_freq_factor;
            double wl = 2.0 * M_PI / f;
            if (wl > lo_wl) {
                f /= c->rope_factor;
            } else if (wl >= hi_wl) {
                double smooth = ((double)c->rope_orig_ctx / wl - c->rope_low_freq_factor) /
                                (c->rope_high_freq_factor - c->rope_low_freq_factor);
                f = (1.0 - smooth) * f / c->rope_factor + smooth * f;
            }
        }
        m->inv_freq[i] = (float)f;
        // ggml's form: the unscaled frequency divided by ff (llama3 factors; linear goes to freq_scale).
        double f0 = pow(c->rope_theta, -2.0 * (double)i / (double)c->head_dim);
        m->rope_ff[i] = ff ? v : c->rope_scaling == SQZ_ROPE_SCALING_LLAMA3 ? (float)(f0 / f) : 1.0f;
    }
    return SQZ_OK;
}

static sqz_status check_config(const sqz_model_config *c, const char *path) {
    SQZ_FAIL_IF(c->arch != SQZ_ARCH_LLAMA && c->arch != SQZ_ARCH_QWEN2 && c->arch != SQZ_ARCH_GPT2,
                SQZ_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported", path, c->arch_name);
    SQZ_FAIL_IF(c->n_vocab < 1 || c->n_embd < 1 || c->n_layer < 1 || c->n_head < 1 || c->n_head_kv < 1 ||
                    c->head_dim < 2 || c->n_ff < 1 || c->n_head % c->n_head_kv != 0 ||
                    c->n_vocab > (1 << 24) || c->n_embd > (1 << 20) || c->n_layer > 4096,
                SQZ_ERR_FORMAT,
                "%s: inconsistent config (vocab %lld, embd %lld, layers %lld, heads %lld/%lld, head_dim %lld, ff %lld)",
                path, (long long)c->n_vocab, (long long)c->n_embd, (long long)c->n_layer, (long long)c->n_head,
                (long long)c->n_head_kv, (long long)c->head_dim, (long long)c->n_ff);
    SQZ_FAIL_IF(c->arch == SQZ_ARCH_GPT2 && c->n_head * c->head_dim != c->n_embd, SQZ_ERR_FORMAT,
                "%s: GPT-2 needs n_head * head_dim == n_embd", path);
    return SQZ_OK;
}

// The tokenizer is optional (token-id workflows need none): a failure is remembered, not returned.
static void load_tokenizer(sqz_model *m) {
    const sqz_gguf *g = sqz_model_file_gguf(m->file);
    sqz_status st = g ? sqz_tokenizer_from_gguf(&m->tok, g) : sqz_tokenizer_load(&m->tok, sqz_model_file_path(m->file));
    if (st != SQZ_OK) {
        m->tok = NULL;
        snprintf(m->tok_error, sizeof m->tok_error, "%s", sqz_last_error());
        sqz_error_clear();
    }
}

static sqz_status load(sqz_model *m) {
    const char *path = sqz_model_file_path(m->file);
    SQZ_TRY(check_config(&m->cfg, path));
    loader ld = {m, NULL, sqz_model_file_layout(m->file) == SQZ_LAYOUT_HF, m->cfg.arch == SQZ_ARCH_GPT2};
    ld.names = !ld.hf ? gguf_names : ld.gpt2 ? hf_gpt2_names : hf_llama_names;
    if (m->cfg.arch != SQZ_ARCH_GPT2 && m->cfg.rope_layout == SQZ_ROPE_NONE) // trust the layout's convention
        m->cfg.rope_layout = (!ld.hf && m->cfg.arch == SQZ_ARCH_LLAMA) ? SQZ_ROPE_ADJACENT : SQZ_ROPE_HALF;
    if (m->cfg.rope_theta <= 0)
        m->cfg.rope_theta = 10000.0;
    m->layers = calloc((size_t)m->cfg.n_layer, sizeof *m->layers);
    SQZ_FAIL_IF(!m->layers, SQZ_ERR_NOMEM, "out of memory");
    SQZ_TRY(load_globals(&ld));
    for (int il = 0; il < m->cfg.n_layer; il++)
        SQZ_TRY(ld.gpt2 ? load_layer_gpt2(&ld, il) : load_layer_llama(&ld, il));
    SQZ_TRY(init_rope(m));
    m->vec = sqz_vec_ops_get();
    if (m->cfg.n_embd > m->max_n_in)
        m->max_n_in = m->cfg.n_embd;
    const sqz_linear_impl *li = m->layers[0].w_down.impl; // a layout of sqz's own is named too ("avx2 int4 g128")
    snprintf(m->kernel_name, sizeof m->kernel_name, "%s%s%s%s", sqz_kernels_isa_name(), m->opts.exact ? "+exact" : "",
             li ? " " : "", li ? li->name : "");
    load_tokenizer(m);
    return SQZ_OK;
}

sqz_status sqz_model_load(sqz_model **out, const char *path, const sqz_load_opts *opts) {
    *out = NULL;
    sqz_model *m = calloc(1, sizeof *m);
    SQZ_FAIL_IF(!m, SQZ_ERR_NOMEM, "out of memory");
    if (opts)
        m->opts = *opts;
    sqz_status st = sqz_model_file_open(&m->file, path);
    if (st == SQZ_OK) {
        m->cfg = *sqz_model_file_config(m->file);
        st = load(m);
        if (st == SQZ_OK && m->opts.adapter)
            st = sqz_lora_load(m, m->opts.adapter);
        if (st != SQZ_OK)
            sqz_error_prefix(st, "%s: ", path);
    }
    if (st != SQZ_OK) {
        sqz_model_free(m);
        return st;
    }
    *out = m;
    return SQZ_OK;
}

void sqz_model_free(sqz_model *m) {
    if (!m)
        return;
    for (int i = 0; i < m->n_owned; i++)
        free(m->owned[i].p);
    free(m->owned);
    free(m->layers);
    free(m->inv_freq);
    free(m->rope_ff);
    sqz_tokenizer_free(m->tok);
    sqz_model_file_free(m->file);
    free(m);
}

const sqz_model_config *sqz_model_get_config(const sqz_model *m) { return &m->cfg; }
const sqz_model_file *sqz_model_get_file(const sqz_model *m) { return m->file; }
size_t sqz_model_owned_bytes(const sqz_model *m) { return m->owned_bytes; }
const char *sqz_model_kernel_name(const sqz_model *m) { return m->kernel_name; }
const sqz_tokenizer *sqz_model_tokenizer(const sqz_model *m) { return m->tok; }
const char *sqz_model_tokenizer_error(const sqz_model *m) { return m->tok ? "" : m->tok_error; }

sqz_status sqz_parse_ids(const char *s, int32_t **ids, int64_t *n) {
    *ids = NULL, *n = 0;
    size_t cap = strlen(s) / 2 + 1;
    int32_t *v = malloc(cap * sizeof *v);
    SQZ_FAIL_IF(!v, SQZ_ERR_NOMEM, "out of memory");
    for (const char *p = s;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        char *end;
        long long x = (*p >= '0' && *p <= '9') ? strtoll(p, &end, 10) : -1;
        if (x < 0 || x > INT32_MAX || (*end && *end != ' ' && *end != ',' && *end != '\t' && *end != '\n')) {
            free(v);
            return sqz_error(SQZ_ERR_ARG, "bad token id '%.*s' in id list", (int)strcspn(p, " ,\t\n"), p);
        }
        v[(*n)++] = (int32_t)x;
        p = end;
    }
    *ids = v;
    return SQZ_OK;
}


// Parameters of one linear: weights plus bias (0 for an absent one, e.g. wqkv in a Llama).
static int64_t linear_params(const sqz_linear *l) { return l->n_out * l->n_in + (l->b ? l->n_out : 0); }

int64_t sqz_model_n_params(const sqz_model *m) {
    const sqz_model_config *c = &m->cfg;
    bool tied = m->lm_head.w == m->tok_embd->data && !m->lm_head.impl;
    int64_t norm = c->n_embd * (m->out_norm_b ? 2 : 1); // one norm's weight (+ bias for LayerNorm)
    int64_t n = c->n_vocab * c->n_embd + (tied ? 0 : linear_params(&m->lm_head)) + norm;
    if (m->pos_embd)
        n += c->n_ctx_train * c->n_embd;
    for (int64_t i = 0; i < c->n_layer; i++) {
        const sqz_layer *L = &m->layers[i];
        const sqz_linear *ls[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->wqkv, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t k = 0; k < sizeof ls / sizeof *ls; k++)
            n += linear_params(ls[k]);
        n += 2 * norm;
    }
    return n;
}

size_t sqz_model_weight_bytes(const sqz_model *m) {
    size_t total = sqz_linear_bytes(&m->lm_head) + sqz_type_row_size(m->tok_embd->type, m->cfg.n_embd);
    for (int64_t i = 0; i < m->cfg.n_layer; i++) {
        const sqz_layer *L = &m->layers[i];
        total += sqz_linear_bytes(&L->wq) + sqz_linear_bytes(&L->wk) + sqz_linear_bytes(&L->wv) + sqz_linear_bytes(&L->wo) + sqz_linear_bytes(&L->wqkv) +
                 sqz_linear_bytes(&L->w_gate) + sqz_linear_bytes(&L->w_up) + sqz_linear_bytes(&L->w_down);
    }
    return total;
}

// A model on disk (HF directory or GGUF): config + tensor table, with every tensor the architecture
// needs checked for presence and shape. Shapes below are sqz order (outermost first): a linear
// weight is [n_out, n_in], except GPT-2's HF Conv1D weights, which are stored [n_in, n_out].
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "sqz/format.h"

struct sqz_model_file {
    sqz_layout layout;
    char *path; // the .gguf or the HF directory
    sqz_model_config cfg;
    sqz_gguf *gguf;
    sqz_safetensors *st;
};

sqz_layout sqz_model_file_layout(const sqz_model_file *mf) { return mf->layout; }
const char *sqz_model_file_path(const sqz_model_file *mf) { return mf->path; }
const sqz_model_config *sqz_model_file_config(const sqz_model_file *mf) { return &mf->cfg; }
const sqz_gguf *sqz_model_file_gguf(const sqz_model_file *mf) { return mf->gguf; }

int64_t sqz_model_file_n_tensors(const sqz_model_file *mf) {
    return mf->gguf ? sqz_gguf_n_tensors(mf->gguf) : sqz_safetensors_n_tensors(mf->st);
}

const sqz_tensor *sqz_model_file_tensor(const sqz_model_file *mf, int64_t i) {
    return mf->gguf ? sqz_gguf_tensor(mf->gguf, i) : sqz_safetensors_tensor(mf->st, i);
}

const sqz_tensor *sqz_model_file_find(const sqz_model_file *mf, const char *name) {
    return mf->gguf ? sqz_gguf_find_tensor(mf->gguf, name) : sqz_safetensors_find(mf->st, name);
}

size_t sqz_model_file_nbytes(const sqz_model_file *mf) {
    size_t n = 0;
    for (int64_t i = 0; i < sqz_model_file_n_tensors(mf); i++)
        n += sqz_model_file_tensor(mf, i)->nbytes;
    return n;
}

int64_t sqz_model_file_n_params(const sqz_model_file *mf) {
    int64_t n = 0;
    for (int64_t i = 0; i < sqz_model_file_n_tensors(mf); i++)
        n += sqz_tensor_nelements(sqz_model_file_tensor(mf, i));
    return n;
}

void sqz_model_file_free(sqz_model_file *mf) {
    if (!mf)
        return;
    sqz_gguf_free(mf->gguf);
    sqz_safetensors_free(mf->st);
    free(mf->path);
    free(mf);
}

// ---- tensor expectations -------------------------------------------------------------------------
enum { REQUIRED = 1, OPTIONAL = 0 };

static void shape_str(char *buf, size_t n, int n_dims, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < n_dims && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
}

// Check tensor `fmt...` has shape {d0} (d1 < 0) or {d0, d1}; absent is an error only if required.
static sqz_status expect(const sqz_model_file *mf, int required, int64_t d0, int64_t d1, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static sqz_status expect(const sqz_model_file *mf, int required, int64_t d0, int64_t d1, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const sqz_tensor *t = sqz_model_file_find(mf, name);
    size_t len = strlen(name);
    if (!t && len > 7 && !strcmp(name + len - 7, ".weight")) { // GPTQ / sqz sparse layouts: the engine checks them
        static const char *const alt[] = {".qweight", ".sp_values", ".csr_val"};
        for (int i = 0; i < 3; i++) {
            snprintf(name + len - 7, sizeof name - (len - 7), "%s", alt[i]);
            if (sqz_model_file_find(mf, name))
                return SQZ_OK;
        }
        name[len - 7] = 0, strcat(name, ".weight");
    }
    SQZ_FAIL_IF(!t && required, SQZ_ERR_NOT_FOUND, "%s: missing tensor '%s'", mf->path, name);
    if (!t)
        return SQZ_OK;
    int64_t want[2] = {d0, d1};
    int nd = d1 < 0 ? 1 : 2;
    bool ok = t->n_dims == nd && t->shape[0] == d0 && (nd == 1 || t->shape[1] == d1);
    if (!ok) {
        char have[96], exp[96];
        shape_str(have, sizeof have, t->n_dims, t->shape);
        shape_str(exp, sizeof exp, nd, want);
        return sqz_error(SQZ_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s", mf->path, name, have, exp);
    }
    return SQZ_OK;
}

// Llama-family tensors in HF naming (qwen2 adds required q/k/v biases).
static sqz_status check_hf_llama(const sqz_model_file *mf) {
    const sqz_model_config *c = &mf->cfg;
    int64_t E = c->n_embd, F = c->n_ff, Q = c->n_head * c->head_dim, KV = c->n_head_kv * c->head_dim;
    int bias = c->attn_bias ? REQUIRED : OPTIONAL;
    SQZ_TRY(expect(mf, REQUIRED, c->n_vocab, E, "model.embed_tokens.weight"));
    for (int64_t i = 0; i < c->n_layer; i++) {
        const char *p = "model.layers";
        long long l = (long long)i;
        SQZ_TRY(expect(mf, REQUIRED, Q, E, "%s.%lld.self_attn.q_proj.weight", p, l));
        SQZ_TRY(expect(mf, REQUIRED, KV, E, "%s.%lld.self_attn.k_proj.weight", p, l));
        SQZ_TRY(expect(mf, REQUIRED, KV, E, "%s.%lld.self_attn.v_proj.weight", p, l));
        SQZ_TRY(expect(mf, REQUIRED, E, Q, "%s.%lld.self_attn.o_proj.weight", p, l));
        SQZ_TRY(expect(mf, bias, Q, -1, "%s.%lld.self_attn.q_proj.bias", p, l));
        SQZ_TRY(expect(mf, bias, KV, -1, "%s.%lld.self_attn.k_proj.bias", p, l));
        SQZ_TRY(expect(mf, bias, KV, -1, "%s.%lld.self_attn.v_proj.bias", p, l));
        SQZ_TRY(expect(mf, OPTIONAL, E, -1, "%s.%lld.self_attn.o_proj.bias", p, l));
        SQZ_TRY(expect(mf, REQUIRED, F, E, "%s.%lld.mlp.gate_proj.weight", p, l));
        SQZ_TRY(expect(mf, REQUIRED, F, E, "%s.%lld.mlp.up_proj.weight", p, l));
        SQZ_TRY(expect(mf, REQUIRED, E, F, "%s.%lld.mlp.down_proj.weight", p, l));
        SQZ_TRY(expect(mf, REQUIRED, E, -1, "%s.%lld.input_layernorm.weight", p, l));
        SQZ_TRY(expect(mf, REQUIRED, E, -1, "%s.%lld.post_attention_layernorm.weight", p, l));
    }
    SQZ_TRY(expect(mf, REQUIRED, E, -1, "model.norm.weight"));
    return expect(mf, c->tie_embeddings ? OPTIONAL : REQUIRED, c->n_vocab, E, "lm_head.weight");
}

// GPT-2 in HF naming: Conv1D weights are [n_in, n_out]; an optional "transformer." prefix.
static sqz_status check_hf_gpt2(const sqz_model_file *mf) {
    const sqz_model_config *c = &mf->cfg;
    int64_t E = c->n_embd, F = c->n_ff;
    const char *p = sqz_model_file_find(mf, "transformer.wte.weight") ? "transformer." : "";
    SQZ_TRY(expect(mf, REQUIRED, c->n_vocab, E, "%swte.weight", p));
    SQZ_TRY(expect(mf, REQUIRED, c->n_ctx_train, E, "%swpe.weight", p));
    for (int64_t i = 0; i < c->n_layer; i++) {
        long long l = (long long)i;
        SQZ_TRY(expect(mf, REQUIRED, E, -1, "%sh.%lld.ln_1.weight", p, l));
        SQZ_TRY(expect(mf, REQUIRED, E, -1, "%sh.%lld.ln_1.bias", p, l));
        SQZ_TRY(expect(mf, REQUIRED, E, 3 * E, "%sh.%lld.attn.c_attn.weight", p, l));
        SQZ_TRY(expect(mf, REQUIRED, 3 * E, -1, "%sh.%lld.attn.c_attn.bias", p, l));
        SQZ_TRY(expect(mf, REQUIRED, E, E, "%sh.%lld.attn.c_proj.weight", p, l));
        SQZ_TRY(expect(mf, REQUIRED, E, -1, "%sh.%lld.attn.c_proj.bias", p, l));
        SQZ_TRY(expect(mf, REQUIRED, E, -1, "%sh.%lld.ln_2.weight", p, l));
        SQZ_TRY(expect(mf, REQUIRED, E, -1, "%sh.%lld.ln_2.bias", p, l));
        SQZ_TRY(expect(mf, REQUIRED, E, F, "%sh.%lld.mlp.c_fc.weight", p, l));
        SQZ_TRY(expect(mf, REQUIRED, F, -1, "%sh.%lld.mlp.c_fc.bias", p, l));
        SQZ_TRY(expect(mf, REQUIRED, F, E, "%sh.%lld.mlp.c_proj.weight", p, l));
        SQZ_TRY(expect(mf, REQUIRED, E, -1, "%sh.%lld.mlp.c_proj.bias", p, l));
    }
    SQZ_TRY(expect(mf, REQUIRED, E, -1, "%sln_f.weight", p));
    SQZ_TRY(expect(mf, REQUIRED, E, -1, "%sln_f.bias", p));
    return expect(mf, c->tie_embeddings ? OPTIONAL : REQUIRED, c->n_vocab, E, "lm_head.weight");
}

// llama / qwen2 in llama.cpp naming.
static sqz_status check_gguf_llama(const sqz_model_file *mf) {
    const sqz_model_config *c = &mf->cfg;
    int64_t E = c->n_embd, F = c->n_ff, Q = c->n_head * c->head_dim, KV = c->n_head_kv * c->head_dim;
    int bias = c->arch == SQZ_ARCH_QWEN2 ? REQUIRED : OPTIONAL;
    for (int64_t i = 0; i < c->n_layer; i++) {
        long long l = (long long)i;
        SQZ_TRY(expect(mf, REQUIRED, E, -1, "blk.%lld.attn_norm.weight", l));
        SQZ_TRY(expect(mf, REQUIRED, Q, E, "blk.%lld.attn_q.weight", l));
        SQZ_TRY(expect(mf, REQUIRED, KV, E, "blk.%lld.attn_k.weight", l));
        SQZ_TRY(expect(mf, REQUIRED, KV, E, "blk.%lld.attn_v.weight", l));
        SQZ_TRY(expect(mf, REQUIRED, E, Q, "blk.%lld.attn_output.weight", l));
        SQZ_TRY(expect(mf, bias, Q, -1, "blk.%lld.attn_q.bias", l));
        SQZ_TRY(expect(mf, bias, KV, -1, "blk.%lld.attn_k.bias", l));
        SQZ_TRY(expect(mf, bias, KV, -1, "blk.%lld.attn_v.bias", l));
        SQZ_TRY(expect(mf, OPTIONAL, E, -1, "blk.%lld.attn_output.bias", l));
        SQZ_TRY(expect(mf, REQUIRED, E, -1, "blk.%lld.ffn_norm.weight", l));
        SQZ_TRY(expect(mf, REQUIRED, F, E, "blk.%lld.ffn_gate.weight", l));
        SQZ_TRY(expect(mf, REQUIRED, F, E, "blk.%lld.ffn_up.weight", l));
        SQZ_TRY(expect(mf, REQUIRED, E, F, "blk.%lld.ffn_down.weight", l));
    }
    SQZ_TRY(expect(mf, REQUIRED, E, -1, "output_norm.weight"));
    return expect(mf, OPTIONAL, c->n_vocab, E, "output.weight");
}

static sqz_status check_gguf_gpt2(const sqz_model_file *mf) {
    const sqz_model_config *c = &mf->cfg;
    int64_t E = c->n_embd, F = c->n_ff;
    SQZ_TRY(expect(mf, REQUIRED, c->n_ctx_train, E, "position_embd.weight"));
    for (int64_t i = 0; i < c->n_layer; i++) {
        long long l = (long long)i;
        SQZ_TRY(expect(mf, REQUIRED, E, -1, "blk.%lld.attn_norm.weight", l));
        SQZ_TRY(expect(mf, REQUIRED, E, -1, "blk.%lld.attn_norm.bias", l));
        SQZ_TRY(expect(mf, REQUIRED, 3 * E, E, "blk.%lld.attn_qkv.weight", l));
        SQZ_TRY(expect(mf, REQUIRED, 3 * E, -1, "blk.%lld.attn_qkv.bias", l));
        SQZ_TRY(expect(mf, REQUIRED, E, E, "blk.%lld.attn_output.weight", l));
        SQZ_TRY(expect(mf, REQUIRED, E, -1, "blk.%lld.attn_output.bias", l));
        SQZ_TRY(expect(mf, REQUIRED, E, -1, "blk.%lld.ffn_norm.weight", l));
        SQZ_TRY(expect(mf, REQUIRED, E, -1, "blk.%lld.ffn_norm.bias", l));
        SQZ_TRY(expect(mf, REQUIRED, F, E, "blk.%lld.ffn_up.weight", l));
        SQZ_TRY(expect(mf, REQUIRED, F, -1, "blk.%lld.ffn_up.bias", l));
        SQZ_TRY(expect(mf, REQUIRED, E, F, "blk.%lld.ffn_down.weight", l));
        SQZ_TRY(expect(mf, REQUIRED, E, -1, "blk.%lld.ffn_down.bias", l));
    }
    SQZ_TRY(expect(mf, REQUIRED, E, -1, "output_norm.weight"));
    SQZ_TRY(expect(mf, REQUIRED, E, -1, "output_norm.bias"));
    return expect(mf, OPTIONAL, c->n_vocab, E, "output.weight");
}

// ---- opening -------------------------------------------------------------------------------------
static sqz_status open_gguf(sqz_model_file *mf) {
    mf->layout = SQZ_LAYOUT_GGUF;
    SQZ_TRY(sqz_gguf_open(&mf->gguf, mf->path));
    SQZ_FAIL_IF(sqz_gguf_n_tensors(mf->gguf) == 0, SQZ_ERR_NOT_FOUND,
                "%s: no tensors (a vocabulary-only GGUF?): cannot be used as a model", mf->path);
    sqz_model_config *c = &mf->cfg;
    SQZ_TRY(sqz_config_from_gguf(c, mf->gguf));
    const sqz_tensor *emb = sqz_gguf_find_tensor(mf->gguf, "token_embd.weight");
    SQZ_FAIL_IF(!emb, SQZ_ERR_NOT_FOUND, "%s: missing tensor 'token_embd.weight'", mf->path);
    if (c->n_vocab == 0 && emb->n_dims == 2)
        c->n_vocab = emb->shape[0];
    SQZ_TRY(expect(mf, REQUIRED, c->n_vocab, c->n_embd, "token_embd.weight"));
    // llama.cpp ties the output projection to the embeddings when output.weight is absent.
    c->tie_embeddings = sqz_gguf_find_tensor(mf->gguf, "output.weight") == NULL;
    if (c->arch == SQZ_ARCH_LLAMA && sqz_gguf_find_tensor(mf->gguf, "blk.0.attn_q.bias"))
        c->attn_bias = true;
    return c->arch == SQZ_ARCH_GPT2 ? check_gguf_gpt2(mf) : check_gguf_llama(mf);
}

static sqz_status open_hf(sqz_model_file *mf) {
    mf->layout = SQZ_LAYOUT_HF;
    size_t n = strlen(mf->path) + 16;
    char *cfg = malloc(n);
    SQZ_FAIL_IF(!cfg, SQZ_ERR_NOMEM, "out of memory");
    snprintf(cfg, n, "%s/config.json", mf->path);
    sqz_status s = sqz_config_from_hf_json(&mf->cfg, cfg);
    free(cfg);
    SQZ_TRY(s);
    SQZ_TRY(sqz_safetensors_open(&mf->st, mf->path));
    return mf->cfg.arch == SQZ_ARCH_GPT2 ? check_hf_gpt2(mf) : check_hf_llama(mf);
}

static bool has_gguf_magic(const char *path) {
    FILE *f = fopen(path, "rb");
    char m[4] = {0};
    bool ok = f && fread(m, 1, 4, f) == 4 && !memcmp(m, "GGUF", 4);
    if (f)
        fclose(f);
    return ok;
}

// Decide the layout: a directory is HF; a file with the GGUF magic (or named .gguf) is GGUF; any
// other file (config.json, *.safetensors, index.json) stands for the HF directory holding it.
static sqz_status resolve(sqz_model_file *mf, const char *path) {
    struct stat sb;
    SQZ_FAIL_IF(stat(path, &sb) != 0, SQZ_ERR_IO, "%s: no such file or directory", path);
    size_t len = strlen(path);
    bool gguf = !S_ISDIR(sb.st_mode) && (has_gguf_magic(path) || (len > 5 && !strcmp(path + len - 5, ".gguf")));
    if (S_ISDIR(sb.st_mode) || gguf) {
        mf->path = strdup(path);
        while (mf->path && strlen(mf->path) > 1 && mf->path[strlen(mf->path) - 1] == '/')
            mf->path[strlen(mf->path) - 1] = 0;
    } else {
        const char *slash = strrchr(path, '/');
        mf->path = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    }
    SQZ_FAIL_IF(!mf->path, SQZ_ERR_NOMEM, "out of memory");
    return gguf ? open_gguf(mf) : open_hf(mf);
}

sqz_status sqz_model_file_open(sqz_model_file **out, const char *path) {
    *out = NULL;
    sqz_model_file *mf = calloc(1, sizeof *mf);
    SQZ_FAIL_IF(!mf, SQZ_ERR_NOMEM, "out of memory");
    sqz_status s = resolve(mf, path);
    if (s != SQZ_OK) {
        sqz_model_file_free(mf);
        return s;
    }
    *out = mf;
    return SQZ_OK;
}

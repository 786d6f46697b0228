// Model hyper-parameters from a Hugging Face config.json or from GGUF <arch>.* metadata.
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "sqz/format.h"

// Sanity limits: far above any real model, low enough that shape products cannot overflow.
#define MAX_DIM ((int64_t)1 << 24)
#define MAX_LAYERS 4096
#define MAX_CTX ((int64_t)1 << 30)

static void config_defaults(sqz_model_config *c) {
    memset(c, 0, sizeof *c);
    c->rope_theta = 10000.0;
    c->rope_factor = 1.0;
    c->bos_id = c->eos_id = c->pad_id = -1;
}

// Checks shared by both sources. head_dim_given: head_dim came from the file (may differ from
// n_embd / n_head, e.g. Gemma-style configs); otherwise it was derived and must divide exactly.
static sqz_status config_validate(sqz_model_config *c, bool head_dim_given) {
    SQZ_FAIL_IF(c->n_embd <= 0 || c->n_embd > MAX_DIM, SQZ_ERR_FORMAT, "hidden size %lld is out of range",
                (long long)c->n_embd);
    SQZ_FAIL_IF(c->n_layer <= 0 || c->n_layer > MAX_LAYERS, SQZ_ERR_FORMAT, "layer count %lld is out of range",
                (long long)c->n_layer);
    SQZ_FAIL_IF(c->n_head <= 0 || c->n_head > MAX_DIM, SQZ_ERR_FORMAT, "head count %lld is out of range",
                (long long)c->n_head);
    SQZ_FAIL_IF(c->n_head_kv <= 0 || c->n_head_kv > c->n_head || c->n_head % c->n_head_kv, SQZ_ERR_FORMAT,
                "head count %lld is not a multiple of the kv head count %lld", (long long)c->n_head,
                (long long)c->n_head_kv);
    if (!head_dim_given) {
        SQZ_FAIL_IF(c->n_embd % c->n_head, SQZ_ERR_FORMAT, "hidden size %lld is not a multiple of the head count %lld",
                    (long long)c->n_embd, (long long)c->n_head);
        c->head_dim = c->n_embd / c->n_head;
    }
    SQZ_FAIL_IF(c->head_dim <= 0 || c->head_dim > MAX_DIM || c->head_dim * c->n_head > MAX_DIM, SQZ_ERR_FORMAT,
                "head dimension %lld is out of range", (long long)c->head_dim);
    SQZ_FAIL_IF(c->rope_layout != SQZ_ROPE_NONE && c->head_dim % 2, SQZ_ERR_FORMAT,
                "head dimension %lld is odd; RoPE needs pairs", (long long)c->head_dim);
    SQZ_FAIL_IF(c->n_ff <= 0 || c->n_ff > MAX_DIM, SQZ_ERR_FORMAT, "feed-forward size %lld is out of range",
                (long long)c->n_ff);
    SQZ_FAIL_IF(c->n_vocab < 0 || c->n_vocab > MAX_DIM, SQZ_ERR_FORMAT, "vocabulary size %lld is out of range",
                (long long)c->n_vocab);
    SQZ_FAIL_IF(c->n_ctx_train <= 0 || c->n_ctx_train > MAX_CTX, SQZ_ERR_FORMAT, "context length %lld is out of range",
                (long long)c->n_ctx_train);
    SQZ_FAIL_IF(!(c->norm_eps > 0 && c->norm_eps < 1), SQZ_ERR_FORMAT, "norm epsilon %g is out of range", c->norm_eps);
    SQZ_FAIL_IF(c->rope_layout != SQZ_ROPE_NONE && !(c->rope_theta > 0), SQZ_ERR_FORMAT, "rope theta %g is not positive",
                c->rope_theta);
    SQZ_FAIL_IF(c->rope_scaling != SQZ_ROPE_SCALING_NONE && !(c->rope_factor > 0), SQZ_ERR_FORMAT,
                "rope scaling factor %g is not positive", c->rope_factor);
    // Token ids outside the vocabulary (llama.cpp writes 0xFFFFFFFF for "none") mean unknown.
    int64_t *ids[] = {&c->bos_id, &c->eos_id, &c->pad_id};
    for (int i = 0; i < 3; i++)
        if (*ids[i] < 0 || (c->n_vocab > 0 && *ids[i] >= c->n_vocab))
            *ids[i] = -1;
    return SQZ_OK;
}

// ================================ config.json ====================================================
// Integer field: absent or null leaves *out unchanged (returns false); wrong type is an error.
static sqz_status jint(const json_t *o, const char *key, int64_t *out, bool *found) {
    const json_t *v = json_object_get(o, key);
    if (found)
        *found = false;
    if (!v || json_is_null(v))
        return SQZ_OK;
    if (json_is_real(v) && json_real_value(v) == (double)(int64_t)json_real_value(v))
        *out = (int64_t)json_real_value(v);
    else if (json_is_integer(v))
        *out = json_integer_value(v);
    else
        return sqz_error(SQZ_ERR_FORMAT, "'%s' is not an integer", key);
    if (found)
        *found = true;
    return SQZ_OK;
}

static sqz_status jreq(const json_t *o, const char *key, int64_t *out) {
    bool found;
    SQZ_TRY(jint(o, key, out, &found));
    SQZ_FAIL_IF(!found, SQZ_ERR_FORMAT, "missing '%s'", key);
    return SQZ_OK;
}

static sqz_status jnum(const json_t *o, const char *key, double *out) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return SQZ_OK;
    SQZ_FAIL_IF(!json_is_number(v), SQZ_ERR_FORMAT, "'%s' is not a number", key);
    *out = json_number_value(v);
    return SQZ_OK;
}

static sqz_status jbool(const json_t *o, const char *key, bool *out) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return SQZ_OK;
    SQZ_FAIL_IF(!json_is_boolean(v), SQZ_ERR_FORMAT, "'%s' is not a boolean", key);
    *out = json_is_true(v);
    return SQZ_OK;
}

// eos_token_id may be a list (Llama 3): take the first.
static sqz_status jtoken(const json_t *o, const char *key, int64_t *out) {
    const json_t *v = json_object_get(o, key);
    if (json_is_array(v)) {
        v = json_array_get(v, 0);
        SQZ_FAIL_IF(v && !json_is_integer(v), SQZ_ERR_FORMAT, "'%s' is not a list of integers", key);
        if (v)
            *out = json_integer_value(v);
        return SQZ_OK;
    }
    return jint(o, key, out, NULL);
}

static sqz_status hf_rope_scaling(sqz_model_config *c, const json_t *o) {
    const json_t *rs = json_object_get(o, "rope_scaling");
    if (!rs || json_is_null(rs))
        return SQZ_OK;
    SQZ_FAIL_IF(!json_is_object(rs), SQZ_ERR_FORMAT, "'rope_scaling' is not an object");
    const json_t *t = json_object_get(rs, "rope_type");
    if (!t)
        t = json_object_get(rs, "type");
    SQZ_FAIL_IF(!json_is_string(t), SQZ_ERR_FORMAT, "'rope_scaling' has no 'rope_type'");
    const char *type = json_string_value(t);
    SQZ_TRY(jnum(rs, "factor", &c->rope_factor));
    if (!strcmp(type, "default"))
        return SQZ_OK;
    if (!strcmp(type, "linear")) {
        c->rope_scaling = SQZ_ROPE_SCALING_LINEAR;
        return SQZ_OK;
    }
    SQZ_FAIL_IF(strcmp(type, "llama3") != 0, SQZ_ERR_UNSUPPORTED, "unsupported rope_scaling type '%s'", type);
    c->rope_scaling = SQZ_ROPE_SCALING_LLAMA3;
    c->rope_low_freq_factor = 1.0;
    c->rope_high_freq_factor = 4.0;
    c->rope_orig_ctx = 8192;
    SQZ_TRY(jnum(rs, "low_freq_factor", &c->rope_low_freq_factor));
    SQZ_TRY(jnum(rs, "high_freq_factor", &c->rope_high_freq_factor));
    SQZ_TRY(jint(rs, "original_max_position_embeddings", &c->rope_orig_ctx, NULL));
    SQZ_FAIL_IF(!(c->rope_high_freq_factor > c->rope_low_freq_factor) || c->rope_orig_ctx <= 0, SQZ_ERR_FORMAT,
                "llama3 rope_scaling needs high_freq_factor > low_freq_factor and original_max_position_embeddings > 0");
    return SQZ_OK;
}

// LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM (transformers' defaults where a key is absent).
static sqz_status hf_llama(sqz_model_config *c, const json_t *o, bool *head_dim_given) {
    c->rope_layout = SQZ_ROPE_HALF;
    c->n_ctx_train = 2048;
    c->norm_eps = 1e-6;
    SQZ_TRY(jreq(o, "vocab_size", &c->n_vocab));
    SQZ_TRY(jreq(o, "hidden_size", &c->n_embd));
    SQZ_TRY(jreq(o, "intermediate_size", &c->n_ff));
    SQZ_TRY(jreq(o, "num_hidden_layers", &c->n_layer));
    SQZ_TRY(jreq(o, "num_attention_heads", &c->n_head));
    c->n_head_kv = c->n_head;
    SQZ_TRY(jint(o, "num_key_value_heads", &c->n_head_kv, NULL));
    SQZ_TRY(jint(o, "head_dim", &c->head_dim, head_dim_given));
    SQZ_TRY(jint(o, "max_position_embeddings", &c->n_ctx_train, NULL));
    SQZ_TRY(jnum(o, "rms_norm_eps", &c->norm_eps));
    SQZ_TRY(jnum(o, "rope_theta", &c->rope_theta));
    SQZ_TRY(hf_rope_scaling(c, o));
    SQZ_TRY(jbool(o, "tie_word_embeddings", &c->tie_embeddings));
    SQZ_TRY(jbool(o, "attention_bias", &c->attn_bias));
    SQZ_TRY(jint(o, "sliding_window", &c->sliding_window, NULL));
    if (c->arch == SQZ_ARCH_QWEN2) {
        bool use_sw = false;
        SQZ_TRY(jbool(o, "use_sliding_window", &use_sw));
        if (!use_sw)
            c->sliding_window = 0;
        c->attn_bias = true;
    }
    return SQZ_OK;
}

// GPT2LMHeadModel: n_inner null → 4·n_embd; all linear layers and norms have biases.
static sqz_status hf_gpt2(sqz_model_config *c, const json_t *o) {
    c->rope_layout = SQZ_ROPE_NONE;
    c->n_vocab = 50257;
    c->n_ctx_train = 1024;
    c->norm_eps = 1e-5;
    c->tie_embeddings = true;
    c->attn_bias = true;
    c->bos_id = c->eos_id = 50256;
    SQZ_TRY(jint(o, "vocab_size", &c->n_vocab, NULL));
    SQZ_TRY(jreq(o, "n_embd", &c->n_embd));
    SQZ_TRY(jreq(o, "n_layer", &c->n_layer));
    SQZ_TRY(jreq(o, "n_head", &c->n_head));
    SQZ_TRY(jint(o, "n_ctx", &c->n_ctx_train, NULL));
    SQZ_TRY(jint(o, "n_positions", &c->n_ctx_train, NULL));
    c->n_head_kv = c->n_head;
    c->n_ff = 4 * c->n_embd;
    SQZ_TRY(jint(o, "n_inner", &c->n_ff, NULL));
    SQZ_TRY(jnum(o, "layer_norm_epsilon", &c->norm_eps));
    SQZ_TRY(jbool(o, "tie_word_embeddings", &c->tie_embeddings));
    return SQZ_OK;
}

static const struct {
    const char *hf_class, *model_type;
    sqz_arch arch;
} hf_archs[] = {
    {"LlamaForCausalLM", "llama", SQZ_ARCH_LLAMA},
    {"MistralForCausalLM", "mistral", SQZ_ARCH_LLAMA},
    {"Qwen2ForCausalLM", "qwen2", SQZ_ARCH_QWEN2},
    {"GPT2LMHeadModel", "gpt2", SQZ_ARCH_GPT2},
};

static sqz_status hf_identify(sqz_model_config *c, const json_t *o) {
    const json_t *archs = json_object_get(o, "architectures");
    const char *cls = json_is_array(archs) ? json_string_value(json_array_get(archs, 0)) : NULL;
    const char *mt = json_string_value(json_object_get(o, "model_type"));
    for (size_t i = 0; i < sizeof hf_archs / sizeof hf_archs[0]; i++) {
        if ((cls && !strcmp(cls, hf_archs[i].hf_class)) || (!cls && mt && !strcmp(mt, hf_archs[i].model_type))) {
            c->arch = hf_archs[i].arch;
            snprintf(c->hf_class, sizeof c->hf_class, "%s", hf_archs[i].hf_class);
            snprintf(c->arch_name, sizeof c->arch_name, "%s", hf_archs[i].model_type);
            return SQZ_OK;
        }
    }
    return sqz_error(SQZ_ERR_UNSUPPORTED, "unsupported architecture '%s' (supported: LlamaForCausalLM, "
                     "MistralForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel)",
                     cls ? cls : mt ? mt : "(none: no 'architectures' or 'model_type')");
}

static sqz_status hf_parse(sqz_model_config *c, const json_t *o) {
    SQZ_FAIL_IF(!json_is_object(o), SQZ_ERR_FORMAT, "not a JSON object");
    SQZ_TRY(hf_identify(c, o));
    bool head_dim_given = false;
    if (c->arch == SQZ_ARCH_GPT2)
        SQZ_TRY(hf_gpt2(c, o));
    else
        SQZ_TRY(hf_llama(c, o, &head_dim_given));
    SQZ_TRY(jtoken(o, "bos_token_id", &c->bos_id));
    SQZ_TRY(jtoken(o, "eos_token_id", &c->eos_id));
    SQZ_TRY(jtoken(o, "pad_token_id", &c->pad_id));
    SQZ_FAIL_IF(c->n_vocab <= 0, SQZ_ERR_FORMAT, "vocab_size %lld is not positive", (long long)c->n_vocab);
    return config_validate(c, head_dim_given);
}

sqz_status sqz_config_from_hf_json(sqz_model_config *c, const char *path) {
    config_defaults(c);
    json_error_t err;
    json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    SQZ_FAIL_IF(!o, err.line < 0 ? SQZ_ERR_IO : SQZ_ERR_FORMAT, "%s: %s (line %d, column %d)", path, err.text,
                err.line, err.column);
    sqz_status s = hf_parse(c, o);
    json_decref(o);
    return s == SQZ_OK ? SQZ_OK : sqz_error_prefix(s, "%s: ", path);
}

// ================================ GGUF metadata ==================================================
static const char *akey(const sqz_model_config *c, const char *suffix, char *buf, size_t n) {
    snprintf(buf, n, "%s.%s", c->arch_name, suffix);
    return buf;
}

static sqz_status gguf_arch(sqz_model_config *c, const sqz_gguf *g) {
    sqz_gguf_str a;
    SQZ_TRY(sqz_gguf_get_str(g, "general.architecture", &a));
    static const struct {
        const char *name;
        sqz_arch arch;
        sqz_rope_layout rope;
    } archs[] = {
        // llama.cpp permutes llama q/k rows for adjacent-pair RoPE but keeps rotate-half for qwen2.
        {"llama", SQZ_ARCH_LLAMA, SQZ_ROPE_ADJACENT},
        {"qwen2", SQZ_ARCH_QWEN2, SQZ_ROPE_HALF},
        {"gpt2", SQZ_ARCH_GPT2, SQZ_ROPE_NONE},
    };
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++) {
        if (a.len == strlen(archs[i].name) && !memcmp(a.ptr, archs[i].name, a.len)) {
            c->arch = archs[i].arch;
            c->rope_layout = archs[i].rope;
            snprintf(c->arch_name, sizeof c->arch_name, "%s", archs[i].name);
            return SQZ_OK;
        }
    }
    int n = a.len > 64 ? 64 : (int)a.len;
    return sqz_error(SQZ_ERR_UNSUPPORTED, "%s: unsupported architecture '%.*s' (supported: llama, qwen2, gpt2)",
                     sqz_gguf_path(g), n, a.ptr);
}

static sqz_status gguf_rope_scaling(sqz_model_config *c, const sqz_gguf *g) {
    char k[96];
    sqz_gguf_str t;
    if (!sqz_gguf_get(g, akey(c, "rope.scaling.type", k, sizeof k)))
        return SQZ_OK;
    SQZ_TRY(sqz_gguf_get_str(g, k, &t));
    if (t.len == 4 && !memcmp(t.ptr, "none", 4))
        return SQZ_OK;
    SQZ_FAIL_IF(t.len != 6 || memcmp(t.ptr, "linear", 6) != 0, SQZ_ERR_UNSUPPORTED,
                "%s: unsupported rope scaling type '%.*s'", sqz_gguf_path(g), t.len > 32 ? 32 : (int)t.len, t.ptr);
    c->rope_scaling = SQZ_ROPE_SCALING_LINEAR;
    SQZ_TRY(sqz_gguf_get_f64(g, akey(c, "rope.scaling.factor", k, sizeof k), &c->rope_factor));
    c->rope_orig_ctx = sqz_gguf_get_i64_or(g, akey(c, "rope.scaling.original_context_length", k, sizeof k), 0);
    return SQZ_OK;
}

static sqz_status gguf_sizes(sqz_model_config *c, const sqz_gguf *g, bool *head_dim_given) {
    char k[96];
    SQZ_TRY(sqz_gguf_get_i64(g, akey(c, "context_length", k, sizeof k), &c->n_ctx_train));
    SQZ_TRY(sqz_gguf_get_i64(g, akey(c, "embedding_length", k, sizeof k), &c->n_embd));
    SQZ_TRY(sqz_gguf_get_i64(g, akey(c, "block_count", k, sizeof k), &c->n_layer));
    SQZ_TRY(sqz_gguf_get_i64(g, akey(c, "attention.head_count", k, sizeof k), &c->n_head));
    c->n_ff = 4 * c->n_embd;
    if (c->arch != SQZ_ARCH_GPT2 || sqz_gguf_get(g, akey(c, "feed_forward_length", k, sizeof k)))
        SQZ_TRY(sqz_gguf_get_i64(g, akey(c, "feed_forward_length", k, sizeof k), &c->n_ff));
    c->n_head_kv = sqz_gguf_get_i64_or(g, akey(c, "attention.head_count_kv", k, sizeof k), c->n_head);
    *head_dim_given = sqz_gguf_get(g, akey(c, "attention.key_length", k, sizeof k)) != NULL;
    if (*head_dim_given)
        SQZ_TRY(sqz_gguf_get_i64(g, k, &c->head_dim));
    const char *eps_key = c->arch == SQZ_ARCH_GPT2 ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon";
    c->norm_eps = 1e-5;
    if (sqz_gguf_get(g, akey(c, eps_key, k, sizeof k)))
        SQZ_TRY(sqz_gguf_get_f64(g, k, &c->norm_eps));
    c->rope_theta = sqz_gguf_get_f64_or(g, akey(c, "rope.freq_base", k, sizeof k), 10000.0);
    c->sliding_window = sqz_gguf_get_i64_or(g, akey(c, "attention.sliding_window", k, sizeof k), 0);
    return SQZ_OK;
}

static void gguf_tokens(sqz_model_config *c, const sqz_gguf *g) {
    char k[96];
    const sqz_gguf_value *toks = sqz_gguf_get(g, "tokenizer.ggml.tokens");
    if (toks && toks->type == SQZ_GGUF_ARRAY)
        c->n_vocab = (int64_t)toks->v.arr.n;
    else
        c->n_vocab = sqz_gguf_get_i64_or(g, akey(c, "vocab_size", k, sizeof k), 0);
    c->bos_id = sqz_gguf_get_i64_or(g, "tokenizer.ggml.bos_token_id", -1);
    c->eos_id = sqz_gguf_get_i64_or(g, "tokenizer.ggml.eos_token_id", -1);
    c->pad_id = sqz_gguf_get_i64_or(g, "tokenizer.ggml.padding_token_id", -1);
}

sqz_status sqz_config_from_gguf(sqz_model_config *c, const sqz_gguf *g) {
    config_defaults(c);
    SQZ_TRY(gguf_arch(c, g));
    bool head_dim_given = false;
    char k[96];
    SQZ_TRY(gguf_sizes(c, g, &head_dim_given));
    SQZ_TRY(gguf_rope_scaling(c, g));
    gguf_tokens(c, g);
    c->attn_bias = c->arch != SQZ_ARCH_LLAMA;
    SQZ_TRY_CTX(config_validate(c, head_dim_given), "%s: ", sqz_gguf_path(g));
    int64_t rope_dims = sqz_gguf_get_i64_or(g, akey(c, "rope.dimension_count", k, sizeof k), c->head_dim);
    SQZ_FAIL_IF(c->rope_layout != SQZ_ROPE_NONE && rope_dims != c->head_dim, SQZ_ERR_UNSUPPORTED,
                "%s: partial RoPE (%s = %lld, head dimension %lld) is not supported", sqz_gguf_path(g), k,
                (long long)rope_dims, (long long)c->head_dim);
    return SQZ_OK;
}

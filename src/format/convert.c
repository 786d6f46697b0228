// HF directory <-> GGUF conversion, following llama.cpp's convert_hf_to_gguf.py: its tensor names
// (token_embd, blk.N.attn_q, ...), its <arch>.* metadata keys, its tokenizer.ggml.* vocabularies,
// the q/k row permutation of `llama` models (HF rotate-half pairs -> adjacent pairs) and GPT-2's
// Conv1D weights transposed to [out, in]. The inverse direction undoes each step.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/error.h"
#include "format/convert.h"
#include "format/format_internal.h"
#include "kernels/quant.h"

// ================================ small helpers ==================================================

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && memcmp(s + a - b, suf, b) == 0;
}

static bool starts_with(const char *s, const char *pre) { return strncmp(s, pre, strlen(pre)) == 0; }

static bool is_float_type(sqz_type t) { return t == SQZ_TYPE_F32 || t == SQZ_TYPE_F16 || t == SQZ_TYPE_BF16; }

static bool is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

// dir + "/" + name into buf (cap bytes); false if it does not fit.
static bool path_join(char *buf, size_t cap, const char *dir, const char *name) {
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    return n > 0 && (size_t)n < cap;
}

int sqz_cv_file_type(sqz_type t) {
    switch (t) { // llama_ftype
    case SQZ_TYPE_F32: return 0;
    case SQZ_TYPE_F16: return 1;
    case SQZ_TYPE_Q4_0: return 2;
    case SQZ_TYPE_Q4_1: return 3;
    case SQZ_TYPE_Q8_0: return 7;
    case SQZ_TYPE_BF16: return 32;
    default: return 0;
    }
}

// n elements of any float or block type -> F32. src may be unaligned (safetensors data).
static sqz_status to_f32(const sqz_tensor *t, float *dst, int64_t n) {
    if (t->type == SQZ_TYPE_F32) {
        memcpy(dst, t->data, (size_t)n * sizeof(float));
        return SQZ_OK;
    }
    const sqz_type_traits *tr = sqz_type_traits_of(t->type);
    SQZ_FAIL_IF(!tr || !tr->to_float, SQZ_ERR_UNSUPPORTED, "tensor '%s': type %s cannot be converted to float",
                t->name, sqz_type_name(t->type));
    if (t->type == SQZ_TYPE_F16 || t->type == SQZ_TYPE_BF16) {
        const uint8_t *p = t->data;
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = t->type == SQZ_TYPE_F16 ? sqz_fp16_to_fp32(h) : sqz_bf16_to_fp32(h);
        }
        return SQZ_OK;
    }
    tr->to_float(t->data, dst, n);
    return SQZ_OK;
}

sqz_status sqz_cv_from_float(sqz_type t, const float *src, void *dst, int64_t n) {
    if (t == SQZ_TYPE_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return SQZ_OK;
    }
    const sqz_type_traits *tr = sqz_type_traits_of(t);
    SQZ_FAIL_IF(!tr || !tr->from_float_ref, SQZ_ERR_UNSUPPORTED, "cannot convert float data to type %s",
                sqz_type_name(t));
    SQZ_FAIL_IF(n % tr->block_size, SQZ_ERR_ARG, "%lld elements are not a multiple of %s's block size %d",
                (long long)n, tr->name, tr->block_size);
    tr->from_float_ref(src, dst, n);
    return SQZ_OK;
}

// ================================ output tensor list =============================================

// An output tensor, produced when the writer reaches it (cv_fill): src converted to `type` after the
// transform xf, so a conversion holds one tensor in memory, not the model.
typedef struct cv_out {
    char name[96];
    sqz_type type;
    int n_dims;
    int64_t shape[SQZ_MAX_DIMS];
    size_t nbytes;
    sqz_tensor src;   // the input tensor (a copy of its descriptor; data in the source mapping or heap)
    int xf;           // XF_* transform
    int64_t n_head;   // heads, for a q/k permutation
    bool inverse;     // GGUF -> HF
    bool mapped;      // src.data lies in a read-only file mapping: drop its pages once written
} cv_out;

typedef struct cv_list {
    cv_out *v;
    int64_t n, cap;
} cv_list;

static void cv_list_free(cv_list *L) {
    free(L->v);
    memset(L, 0, sizeof *L);
}

static sqz_status cv_list_push(cv_list *L, cv_out **out) {
    if (L->n == L->cap) {
        int64_t cap = L->cap ? 2 * L->cap : 64;
        cv_out *v = realloc(L->v, (size_t)cap * sizeof *v);
        SQZ_FAIL_IF(!v, SQZ_ERR_NOMEM, "convert: out of memory for the tensor list");
        L->v = v;
        L->cap = cap;
    }
    *out = &L->v[L->n++];
    memset(*out, 0, sizeof **out);
    return SQZ_OK;
}

// ================================ tensor transforms ==============================================

enum { XF_NONE = 0, XF_PERM_Q = 1, XF_PERM_K = 2, XF_TRANSPOSE = 4 };

// Permute the rows of a q or k projection, per head of hd rows: HF rotate-half order (row j*hd/2+i
// pairs with i) -> GGUF adjacent order (rows 2i, 2i+1), as llama.cpp's LlamaModel.permute; the
// inverse when `inverse`. src, dst: (n_rows, n_cols) F32.
static void permute_rows(const float *src, float *dst, int64_t n_rows, int64_t n_cols, int64_t n_head,
                         bool inverse) {
    int64_t hd = n_rows / n_head, half = hd / 2;
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++) {
                int64_t gg = h * hd + 2 * i + j, hf = h * hd + j * half + i;
                int64_t d = inverse ? hf : gg, s = inverse ? gg : hf;
                memcpy(dst + d * n_cols, src + s * n_cols, (size_t)n_cols * sizeof(float));
            }
}

static void transpose(const float *src, float *dst, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            dst[c * rows + r] = src[r * cols + c];
}

// Add src to L as `name` of type dst_type after transform xf (n_head: heads for a permutation;
// inverse: GGUF -> HF): checks it and records how to produce it (cv_fill). mapped: src.data is in a
// file mapping (its pages are dropped after the tensor is written); false for heap data.
static sqz_status cv_add(cv_list *L, const char *name, const sqz_tensor *src, sqz_type dst_type, int xf,
                         int64_t n_head, bool inverse, bool mapped) {
    cv_out *o = NULL;
    SQZ_TRY(cv_list_push(L, &o));
    SQZ_FAIL_IF(strlen(name) >= sizeof o->name, SQZ_ERR_ARG, "tensor name '%s' is too long", name);
    *o = (cv_out){.type = dst_type, .n_dims = src->n_dims, .src = *src, .xf = xf, .n_head = n_head, .inverse = inverse,
                  .mapped = mapped};
    strcpy(o->name, name);
    memcpy(o->shape, src->shape, sizeof o->shape);
    int64_t n = sqz_tensor_nelements(src);
    if (xf == XF_NONE && src->type == dst_type) {
        o->nbytes = src->nbytes;
        return SQZ_OK;
    }
    int64_t rows = src->n_dims >= 2 ? src->shape[0] : n;
    if (xf & (XF_PERM_Q | XF_PERM_K))
        SQZ_FAIL_IF(n_head <= 0 || rows % n_head || (rows / n_head) % 2, SQZ_ERR_FORMAT,
                    "tensor '%s': %lld rows do not split into %lld heads of even size", src->name,
                    (long long)rows, (long long)n_head);
    if (xf & XF_TRANSPOSE) {
        SQZ_FAIL_IF(src->n_dims != 2, SQZ_ERR_FORMAT, "tensor '%s': expected a matrix to transpose", src->name);
        o->shape[0] = src->shape[1], o->shape[1] = src->shape[0];
    }
    o->nbytes = sqz_type_row_size(dst_type, n);
    SQZ_FAIL_IF(n > 0 && o->nbytes == 0, SQZ_ERR_ARG, "tensor '%s': %lld elements do not fit type %s", src->name,
                (long long)n, sqz_type_name(dst_type));
    return SQZ_OK;
}

// The bytes of output tensor i (sqz_tensor_fill for the writers): src as it is, or through F32 with the
// transform and the type change.
static sqz_status cv_fill(void *user, int64_t i, void *buf) {
    const cv_out *o = &((const cv_list *)user)->v[i];
    const sqz_tensor *src = &o->src;
    int64_t n = sqz_tensor_nelements(src);
    sqz_status st = SQZ_OK;
    if (o->xf == XF_NONE && src->type == o->type) {
        memcpy(buf, src->data, o->nbytes);
    } else {
        int64_t rows = src->n_dims >= 2 ? src->shape[0] : n, cols = rows ? n / rows : 0;
        if (src->n_dims < 2)
            rows = n, cols = 1;
        float *f = malloc((size_t)n * sizeof(float) + 1), *g = o->xf ? malloc((size_t)n * sizeof(float) + 1) : NULL;
        st = f && (g || !o->xf) ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "tensor '%s': out of memory", src->name);
        if (!st)
            st = to_f32(src, f, n);
        if (!st && (o->xf & XF_TRANSPOSE))
            transpose(f, g, rows, cols);
        else if (!st && o->xf)
            permute_rows(f, g, rows, cols, o->n_head, o->inverse);
        if (!st)
            st = sqz_cv_from_float(o->type, g ? g : f, buf, n);
        free(f), free(g);
    }
    if (o->mapped)
        sqz_mmap_release(src->data, src->nbytes);
    return st == SQZ_OK ? SQZ_OK : sqz_error_prefix(st, "%s: ", o->name);
}

// ================================ tensor names ===================================================

typedef struct name_map {
    const char *hf, *gguf;
    int xf;
} name_map;

// Per-layer suffixes (after "model.layers.N." / "blk.N.").
static const name_map llama_layer[] = {
    {"input_layernorm.weight", "attn_norm.weight", 0},
    {"self_attn.q_proj.weight", "attn_q.weight", XF_PERM_Q},
    {"self_attn.k_proj.weight", "attn_k.weight", XF_PERM_K},
    {"self_attn.v_proj.weight", "attn_v.weight", 0},
    {"self_attn.q_proj.bias", "attn_q.bias", XF_PERM_Q},
    {"self_attn.k_proj.bias", "attn_k.bias", XF_PERM_K},
    {"self_attn.v_proj.bias", "attn_v.bias", 0},
    {"self_attn.o_proj.weight", "attn_output.weight", 0},
    {"post_attention_layernorm.weight", "ffn_norm.weight", 0},
    {"mlp.gate_proj.weight", "ffn_gate.weight", 0},
    {"mlp.up_proj.weight", "ffn_up.weight", 0},
    {"mlp.down_proj.weight", "ffn_down.weight", 0},
    {NULL, NULL, 0},
};
static const name_map llama_global[] = {
    {"model.embed_tokens.weight", "token_embd.weight", 0},
    {"model.norm.weight", "output_norm.weight", 0},
    {"lm_head.weight", "output.weight", 0},
    {NULL, NULL, 0},
};
static const name_map gpt2_layer[] = {
    {"ln_1.weight", "attn_norm.weight", 0},
    {"ln_1.bias", "attn_norm.bias", 0},
    {"attn.c_attn.weight", "attn_qkv.weight", XF_TRANSPOSE},
    {"attn.c_attn.bias", "attn_qkv.bias", 0},
    {"attn.c_proj.weight", "attn_output.weight", XF_TRANSPOSE},
    {"attn.c_proj.bias", "attn_output.bias", 0},
    {"ln_2.weight", "ffn_norm.weight", 0},
    {"ln_2.bias", "ffn_norm.bias", 0},
    {"mlp.c_fc.weight", "ffn_up.weight", XF_TRANSPOSE},
    {"mlp.c_fc.bias", "ffn_up.bias", 0},
    {"mlp.c_proj.weight", "ffn_down.weight", XF_TRANSPOSE},
    {"mlp.c_proj.bias", "ffn_down.bias", 0},
    {NULL, NULL, 0},
};
static const name_map gpt2_global[] = {
    {"transformer.wte.weight", "token_embd.weight", 0},
    {"transformer.wpe.weight", "position_embd.weight", 0},
    {"transformer.ln_f.weight", "output_norm.weight", 0},
    {"transformer.ln_f.bias", "output_norm.bias", 0},
    {"lm_head.weight", "output.weight", 0},
    {NULL, NULL, 0},
};

// Map a tensor name from one layout to the other. to_gguf: HF -> GGUF. Returns 1 and fills out/xf,
// 0 if the tensor is to be skipped (buffers like attn.bias masks, rotary inv_freq), or an error.
static sqz_status map_name(sqz_arch arch, const char *in, bool to_gguf, char *out, size_t cap, int *xf,
                           bool *skip) {
    bool gpt2 = arch == SQZ_ARCH_GPT2;
    const name_map *layer = gpt2 ? gpt2_layer : llama_layer, *global = gpt2 ? gpt2_global : llama_global;
    const char *hf_layer_prefix = gpt2 ? "transformer.h." : "model.layers.";
    char tmp[160];
    *skip = false;
    *xf = 0;
    if (to_gguf && gpt2 && !starts_with(in, "transformer.") && !starts_with(in, "lm_head.")) {
        snprintf(tmp, sizeof tmp, "transformer.%s", in); // OpenAI's checkpoints have no prefix
        in = tmp;
    }
    if (to_gguf && (ends_with(in, ".attn.bias") || ends_with(in, ".attn.masked_bias") ||
                    ends_with(in, "rotary_emb.inv_freq"))) {
        *skip = true;
        return SQZ_OK;
    }
    if (!to_gguf && !strcmp(in, "rope_freqs.weight")) {
        *skip = true;
        return SQZ_OK;
    }
    for (const name_map *m = global; m->hf; m++)
        if (!strcmp(in, to_gguf ? m->hf : m->gguf)) {
            snprintf(out, cap, "%s", to_gguf ? m->gguf : m->hf);
            return SQZ_OK;
        }
    const char *pre = to_gguf ? hf_layer_prefix : "blk.";
    if (starts_with(in, pre)) {
        char *end;
        long bid = strtol(in + strlen(pre), &end, 10);
        if (end != in + strlen(pre) && *end == '.' && bid >= 0) {
            for (const name_map *m = layer; m->hf; m++)
                if (!strcmp(end + 1, to_gguf ? m->hf : m->gguf)) {
                    snprintf(out, cap, "%s%ld.%s", to_gguf ? "blk." : hf_layer_prefix, bid,
                             to_gguf ? m->gguf : m->hf);
                    *xf = m->xf;
                    return SQZ_OK;
                }
        }
    }
    return sqz_error(SQZ_ERR_UNSUPPORTED, "tensor '%s' has no %s equivalent for architecture %s", in,
                     to_gguf ? "GGUF" : "Hugging Face", gpt2 ? "gpt2" : arch == SQZ_ARCH_QWEN2 ? "qwen2" : "llama");
}

// ================================ hyper-parameters ===============================================

static const char *arch_key(const sqz_model_config *c) {
    return c->arch == SQZ_ARCH_GPT2 ? "gpt2" : c->arch == SQZ_ARCH_QWEN2 ? "qwen2" : "llama";
}

#define KEY(buf, fmt_suffix) (snprintf(buf, sizeof buf, "%s." fmt_suffix, a), buf)

sqz_status sqz_cv_write_hparams(sqz_gguf_writer *w, const sqz_model_config *c, const char *name,
                                sqz_type mat_type) {
    const char *a = arch_key(c);
    char k[128];
    SQZ_TRY(sqz_gguf_writer_set_str(w, "general.architecture", a));
    if (name)
        SQZ_TRY(sqz_gguf_writer_set_str(w, "general.name", name));
    SQZ_TRY(sqz_gguf_writer_set_u32(w, "general.file_type", (uint32_t)sqz_cv_file_type(mat_type)));
    SQZ_TRY(sqz_gguf_writer_set_u32(w, "general.quantization_version", 2));
    SQZ_TRY(sqz_gguf_writer_set_u32(w, KEY(k, "block_count"), (uint32_t)c->n_layer));
    SQZ_TRY(sqz_gguf_writer_set_u32(w, KEY(k, "context_length"), (uint32_t)c->n_ctx_train));
    SQZ_TRY(sqz_gguf_writer_set_u32(w, KEY(k, "embedding_length"), (uint32_t)c->n_embd));
    SQZ_TRY(sqz_gguf_writer_set_u32(w, KEY(k, "feed_forward_length"), (uint32_t)c->n_ff));
    SQZ_TRY(sqz_gguf_writer_set_u32(w, KEY(k, "attention.head_count"), (uint32_t)c->n_head));
    if (c->arch == SQZ_ARCH_GPT2)
        return sqz_gguf_writer_set_f32(w, KEY(k, "attention.layer_norm_epsilon"), (float)c->norm_eps);
    SQZ_TRY(sqz_gguf_writer_set_u32(w, KEY(k, "attention.head_count_kv"), (uint32_t)c->n_head_kv));
    SQZ_TRY(sqz_gguf_writer_set_f32(w, KEY(k, "rope.freq_base"), (float)c->rope_theta));
    SQZ_TRY(sqz_gguf_writer_set_f32(w, KEY(k, "attention.layer_norm_rms_epsilon"), (float)c->norm_eps));
    SQZ_TRY(sqz_gguf_writer_set_u32(w, KEY(k, "attention.key_length"), (uint32_t)c->head_dim));
    SQZ_TRY(sqz_gguf_writer_set_u32(w, KEY(k, "attention.value_length"), (uint32_t)c->head_dim));
    if (c->arch != SQZ_ARCH_LLAMA)
        return SQZ_OK;
    SQZ_TRY(sqz_gguf_writer_set_u32(w, KEY(k, "vocab_size"), (uint32_t)c->n_vocab));
    SQZ_TRY(sqz_gguf_writer_set_u32(w, KEY(k, "rope.dimension_count"), (uint32_t)c->head_dim));
    if (c->rope_scaling == SQZ_ROPE_SCALING_LINEAR) {
        SQZ_TRY(sqz_gguf_writer_set_str(w, KEY(k, "rope.scaling.type"), "linear"));
        SQZ_TRY(sqz_gguf_writer_set_f32(w, KEY(k, "rope.scaling.factor"), (float)c->rope_factor));
    } else if (c->rope_scaling == SQZ_ROPE_SCALING_LLAMA3) {
        // llama.cpp keeps only the rope_freqs.weight tensor; these sqz.* keys (ignored by llama.cpp)
        // keep the parameters so that GGUF -> HF can write the same rope_scaling back.
        SQZ_TRY(sqz_gguf_writer_set_f32(w, "sqz.rope.llama3.factor", (float)c->rope_factor));
        SQZ_TRY(sqz_gguf_writer_set_f32(w, "sqz.rope.llama3.low_freq_factor", (float)c->rope_low_freq_factor));
        SQZ_TRY(sqz_gguf_writer_set_f32(w, "sqz.rope.llama3.high_freq_factor", (float)c->rope_high_freq_factor));
        SQZ_TRY(sqz_gguf_writer_set_u32(w, "sqz.rope.llama3.original_context_length", (uint32_t)c->rope_orig_ctx));
    }
    return SQZ_OK;
}

// Llama-3 per-frequency rope factors (head_dim/2 floats), as llama.cpp's generate_extra_tensors.
static void llama3_rope_factors(const sqz_model_config *c, float *out) {
    int64_t dim = c->head_dim;
    double lo_wav = (double)c->rope_orig_ctx / c->rope_low_freq_factor;
    double hi_wav = (double)c->rope_orig_ctx / c->rope_high_freq_factor;
    for (int64_t i = 0; i < dim / 2; i++) {
        float freq = (float)(1.0 / pow(c->rope_theta, (double)(2 * i) / (double)dim));
        double wavelen = 2 * M_PI / freq;
        if (wavelen < hi_wav)
            out[i] = 1.0f;
        else if (wavelen > lo_wav)
            out[i] = (float)c->rope_factor;
        else {
            double smooth = ((double)c->rope_orig_ctx / wavelen - c->rope_low_freq_factor) /
                            (c->rope_high_freq_factor - c->rope_low_freq_factor);
            out[i] = (float)(1.0 / ((1 - smooth) / c->rope_factor + smooth));
        }
    }
}

// ================================ vocabularies ===================================================

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5, TT_BYTE = 6 };
enum { SP_BOS, SP_EOS, SP_UNK, SP_SEP, SP_PAD, SP_COUNT };
static const char *const sp_names[SP_COUNT] = {"bos", "eos", "unk", "sep", "pad"};
static const char *const sp_gguf_keys[SP_COUNT] = {
    "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.seperator_token_id", "tokenizer.ggml.padding_token_id"}; // (sic) llama.cpp's spelling

typedef struct cv_vocab {
    const char *model, *pre; // tokenizer.ggml.model / .pre
    int64_t n;
    sqz_gguf_str *tok; // n tokens (strings owned by `arena` or by a JSON document)
    float *score;      // NULL for gpt2
    int32_t *type;
    sqz_gguf_str *merges;
    int64_t n_merges;
    int64_t special[SP_COUNT]; // -1 = unset
    int add_bos, add_eos;      // -1 = unset
    char *chat_template;
    char **arena; // owned strings
    int64_t n_arena, cap_arena;
} cv_vocab;

static void vocab_free(cv_vocab *v) {
    for (int64_t i = 0; i < v->n_arena; i++)
        free(v->arena[i]);
    free(v->arena);
    free(v->tok);
    free(v->score);
    free(v->type);
    free(v->merges);
    free(v->chat_template);
    memset(v, 0, sizeof *v);
}

static sqz_status vocab_init(cv_vocab *v, int64_t n, bool scores) {
    memset(v, 0, sizeof *v);
    for (int i = 0; i < SP_COUNT; i++)
        v->special[i] = -1;
    v->add_bos = v->add_eos = -1;
    v->n = n;
    v->tok = calloc((size_t)n + 1, sizeof *v->tok);
    v->type = calloc((size_t)n + 1, sizeof *v->type);
    v->score = scores ? calloc((size_t)n + 1, sizeof *v->score) : NULL;
    SQZ_FAIL_IF(!v->tok || !v->type || (scores && !v->score), SQZ_ERR_NOMEM, "vocab: out of memory (%lld tokens)",
                (long long)n);
    return SQZ_OK;
}

// Keep a malloc'd string alive until vocab_free.
static sqz_status vocab_own(cv_vocab *v, char *s) {
    if (!s)
        return sqz_error(SQZ_ERR_NOMEM, "vocab: out of memory");
    if (v->n_arena == v->cap_arena) {
        int64_t cap = v->cap_arena ? 2 * v->cap_arena : 256;
        char **a = realloc(v->arena, (size_t)cap * sizeof *a);
        if (!a) {
            free(s);
            return sqz_error(SQZ_ERR_NOMEM, "vocab: out of memory");
        }
        v->arena = a;
        v->cap_arena = cap;
    }
    v->arena[v->n_arena++] = s;
    return SQZ_OK;
}

// Fill ids without a token with "[PADi]" UNUSED tokens (llama.cpp's padding).
static sqz_status vocab_pad(cv_vocab *v) {
    for (int64_t i = 0; i < v->n; i++) {
        if (v->tok[i].ptr)
            continue;
        char *s = malloc(32);
        SQZ_TRY(vocab_own(v, s));
        snprintf(s, 32, "[PAD%lld]", (long long)i);
        v->tok[i] = (sqz_gguf_str){s, strlen(s)};
        v->type[i] = TT_UNUSED;
        if (v->score)
            v->score[i] = -1000.0f;
    }
    return SQZ_OK;
}

static sqz_status vocab_write(sqz_gguf_writer *w, const cv_vocab *v) {
    SQZ_TRY(sqz_gguf_writer_set_str(w, "tokenizer.ggml.model", v->model));
    SQZ_TRY(sqz_gguf_writer_set_str(w, "tokenizer.ggml.pre", v->pre));
    SQZ_TRY(sqz_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", v->tok, (uint64_t)v->n));
    if (v->score)
        SQZ_TRY(sqz_gguf_writer_set_arr(w, "tokenizer.ggml.scores", SQZ_GGUF_FLOAT32, v->score, (uint64_t)v->n));
    SQZ_TRY(sqz_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", SQZ_GGUF_INT32, v->type, (uint64_t)v->n));
    if (v->n_merges)
        SQZ_TRY(sqz_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", v->merges, (uint64_t)v->n_merges));
    for (int i = 0; i < SP_COUNT; i++)
        if (v->special[i] >= 0)
            SQZ_TRY(sqz_gguf_writer_set_u32(w, sp_gguf_keys[i], (uint32_t)v->special[i]));
    if (v->add_bos >= 0)
        SQZ_TRY(sqz_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos));
    if (v->add_eos >= 0)
        SQZ_TRY(sqz_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", v->add_eos));
    if (v->chat_template)
        SQZ_TRY(sqz_gguf_writer_set_str(w, "tokenizer.chat_template", v->chat_template));
    return SQZ_OK;
}

// ---- SentencePiece tokenizer.model (protobuf ModelProto: field 1 = repeated SentencePiece) ----

static bool pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

// Skip or read one field; for wire type 2 returns the payload in (*pl, *plen).
static bool pb_field(const uint8_t **p, const uint8_t *end, uint32_t *field, uint32_t *wt, uint64_t *val,
                     const uint8_t **pl) {
    uint64_t key;
    if (!pb_varint(p, end, &key))
        return false;
    *field = (uint32_t)(key >> 3);
    *wt = (uint32_t)(key & 7);
    *pl = *p;
    switch (*wt) {
    case 0: return pb_varint(p, end, val);
    case 1: if (end - *p < 8) return false; memcpy(val, *p, 8); *p += 8; return true;
    case 5: if (end - *p < 4) return false; *val = 0; memcpy(val, *p, 4); *p += 4; return true;
    case 2:
        if (!pb_varint(p, end, val) || *val > (uint64_t)(end - *p))
            return false;
        *pl = *p;
        *p += *val;
        return true;
    default: return false;
    }
}

static sqz_status spm_piece(const uint8_t *p, const uint8_t *end, sqz_gguf_str *piece, float *score,
                            int32_t *type, const char *path) {
    *type = TT_NORMAL;
    *score = 0;
    piece->ptr = NULL;
    while (p < end) {
        uint32_t f, wt;
        uint64_t val;
        const uint8_t *pl;
        SQZ_FAIL_IF(!pb_field(&p, end, &f, &wt, &val, &pl), SQZ_ERR_FORMAT, "%s: malformed SentencePiece entry", path);
        if (f == 1 && wt == 2)
            *piece = (sqz_gguf_str){(const char *)pl, val};
        else if (f == 2 && wt == 5) {
            uint32_t u = (uint32_t)val;
            memcpy(score, &u, 4);
        } else if (f == 3 && wt == 0)
            *type = (int32_t)val;
    }
    SQZ_FAIL_IF(!piece->ptr, SQZ_ERR_FORMAT, "%s: SentencePiece entry without a piece", path);
    SQZ_FAIL_IF(*type < 1 || *type > 6, SQZ_ERR_FORMAT, "%s: piece type %d out of range", path, (int)*type);
    return SQZ_OK;
}

// Load tokenizer.model pieces into v (tok strings point into *buf, which the caller keeps).
static sqz_status spm_load(cv_vocab *v, const char *path, char **buf, int64_t n_vocab) {
    size_t len;
    SQZ_TRY(sqz_read_file(path, buf, &len));
    SQZ_TRY(vocab_init(v, n_vocab, true));
    v->model = "llama";
    v->pre = "default";
    const uint8_t *p = (const uint8_t *)*buf, *end = p + len;
    int64_t id = 0;
    while (p < end) {
        uint32_t f, wt;
        uint64_t val;
        const uint8_t *pl;
        SQZ_FAIL_IF(!pb_field(&p, end, &f, &wt, &val, &pl), SQZ_ERR_FORMAT, "%s: malformed protobuf", path);
        if (f != 1 || wt != 2)
            continue;
        SQZ_FAIL_IF(id >= n_vocab, SQZ_ERR_FORMAT, "%s: more pieces than vocab_size %lld", path, (long long)n_vocab);
        SQZ_TRY(spm_piece(pl, pl + val, &v->tok[id], &v->score[id], &v->type[id], path));
        if (v->type[id] == TT_UNKNOWN)
            v->special[SP_UNK] = id;
        id++;
    }
    SQZ_FAIL_IF(id == 0, SQZ_ERR_FORMAT, "%s: no SentencePiece pieces found", path);
    return vocab_pad(v);
}

// ---- tokenizer.json ----

// (tokenizer_config.json's model_max_length is often 1e30 written as an integer, which jansson only
// accepts with JSON_DECODE_INT_AS_REAL; config files are read that way, id tables are not.)
static json_t *load_json_flags(const char *path, size_t flags, sqz_status *st) {
    json_error_t err;
    json_t *j = json_load_file(path, flags, &err);
    *st = j ? SQZ_OK
            : sqz_error(is_file(path) ? SQZ_ERR_FORMAT : SQZ_ERR_IO, "%s:%d:%d: %s", path, err.line, err.column,
                        err.text);
    return j;
}

static json_t *load_json(const char *path, sqz_status *st) { return load_json_flags(path, 0, st); }

static json_t *load_config_json(const char *path, sqz_status *st) {
    return load_json_flags(path, JSON_DECODE_INT_AS_REAL, st);
}

static const char *jstr(const json_t *o, const char *key) {
    const json_t *x = json_object_get(o, key);
    return json_is_string(x) ? json_string_value(x) : NULL;
}

// The content of a tokenizer_config "<typ>_token" entry (a string or {"content": ...}).
static const char *token_content(const json_t *e) {
    if (json_is_string(e))
        return json_string_value(e);
    return json_is_object(e) ? jstr(e, "content") : NULL;
}

static int64_t added_token_id(const json_t *added, const char *content) {
    size_t i;
    json_t *t;
    json_array_foreach(added, i, t) {
        const char *c = jstr(t, "content");
        if (c && !strcmp(c, content) && json_is_integer(json_object_get(t, "id")))
            return json_integer_value(json_object_get(t, "id"));
    }
    return -1;
}

// Special token ids and add_bos/add_eos as gguf-py's SpecialVocab finds them: tokenizer_config.json
// entries resolved through tokenizer.json's added_tokens, a leading special token of a
// TemplateProcessing post-processor, then config.json's <typ>_token_id.
static void vocab_specials(cv_vocab *v, const json_t *tj, const json_t *tc, const sqz_model_config *c) {
    const json_t *added = json_object_get(tj, "added_tokens");
    const json_t *pp = json_object_get(tj, "post_processor");
    if (pp && json_is_object(pp) && !strcmp(jstr(pp, "type") ? jstr(pp, "type") : "", "TemplateProcessing")) {
        const json_t *single = json_object_get(pp, "single");
        const char *first = json_array_size(single) > 1
                                ? jstr(json_object_get(json_array_get(single, 0), "SpecialToken"), "id") : NULL;
        if (first) {
            const char *bos = tc ? token_content(json_object_get(tc, "bos_token")) : NULL;
            if (!tc && v->special[SP_BOS] < 0)
                v->special[SP_BOS] = added_token_id(added, first);
            v->add_bos = !tc || (bos && !strcmp(bos, first));
        }
    }
    for (int i = 0; tc && i < SP_COUNT; i++) {
        char key[32];
        snprintf(key, sizeof key, "add_%s_token", sp_names[i]);
        const json_t *add = json_object_get(tc, key);
        if (json_is_boolean(add) && i == SP_BOS)
            v->add_bos = json_is_true(add);
        if (json_is_boolean(add) && i == SP_EOS)
            v->add_eos = json_is_true(add);
        snprintf(key, sizeof key, "%s_token", sp_names[i]);
        const char *content = token_content(json_object_get(tc, key));
        int64_t id = content ? added_token_id(added, content) : -1;
        if (id >= 0 && id < v->n && v->special[i] < 0)
            v->special[i] = id;
    }
    const int64_t cfg[SP_COUNT] = {c->bos_id, c->eos_id, -1, -1, c->pad_id};
    for (int i = 0; i < SP_COUNT; i++)
        if (v->special[i] < 0 && cfg[i] >= 0 && cfg[i] < v->n)
            v->special[i] = cfg[i];
    const char *tmpl = tc ? jstr(tc, "chat_template") : NULL;
    if (tmpl)
        v->chat_template = strdup(tmpl);
}

// Regexes of the Split pre-tokenizers llama.cpp knows by name (as the HF tokenizer.json spells them).
static const char RE_LLAMA3[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                                "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_QWEN2[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                               "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// tokenizer.ggml.pre for a byte-level BPE pre-tokenizer, or NULL if not recognised. llama.cpp's
// converter hashes the token ids of a probe text; sqz recognises the pre-tokenizer JSON instead.
static const char *guess_pre(const json_t *pt) {
    const char *type = pt ? jstr(pt, "type") : NULL;
    if (!type)
        return NULL;
    if (!strcmp(type, "ByteLevel"))
        return json_is_false(json_object_get(pt, "use_regex")) ? NULL : "gpt-2";
    if (strcmp(type, "Sequence"))
        return NULL;
    const json_t *seq = json_object_get(pt, "pretokenizers");
    if (json_array_size(seq) != 2)
        return NULL;
    const json_t *a = json_array_get(seq, 0), *b = json_array_get(seq, 1);
    const char *ta = jstr(a, "type"), *tb = jstr(b, "type");
    if (!ta || !tb || strcmp(tb, "ByteLevel"))
        return NULL;
    if (!strcmp(ta, "Digits") && json_is_true(json_object_get(a, "individual_digits")))
        return "smollm"; // StarCoder-style: digits split one by one, then the GPT-2 regex
    if (!strcmp(ta, "Split")) {
        const char *re = jstr(json_object_get(a, "pattern"), "Regex");
        if (re && !strcmp(re, RE_LLAMA3))
            return "llama-bpe";
        if (re && !strcmp(re, RE_QWEN2))
            return "qwen2";
    }
    return NULL;
}

// Merges of a tokenizer.json BPE model: "a b" strings, or [a, b] pairs (spaces in parts encoded as
// U+0120 like gguf-py does).
static sqz_status vocab_merges(cv_vocab *v, const json_t *merges, const char *path) {
    size_t n = json_array_size(merges), i;
    v->merges = calloc(n + 1, sizeof *v->merges);
    SQZ_FAIL_IF(!v->merges, SQZ_ERR_NOMEM, "%s: out of memory for %zu merges", path, n);
    json_t *m;
    json_array_foreach(merges, i, m) {
        if (json_is_string(m)) {
            v->merges[i] = (sqz_gguf_str){json_string_value(m), json_string_length(m)};
            continue;
        }
        SQZ_FAIL_IF(json_array_size(m) != 2 || !json_is_string(json_array_get(m, 0)) ||
                        !json_is_string(json_array_get(m, 1)),
                    SQZ_ERR_FORMAT, "%s: model.merges[%zu] is neither \"a b\" nor [a, b]", path, i);
        const char *a = json_string_value(json_array_get(m, 0)), *b = json_string_value(json_array_get(m, 1));
        char *s = malloc(2 * (strlen(a) + strlen(b)) + 2), *o = s;
        SQZ_TRY(vocab_own(v, s));
        for (int part = 0; part < 2; part++) {
            for (const char *q = part ? b : a; *q; q++) {
                if (*q == ' ')
                    *o++ = (char)0xc4, *o++ = (char)0xa0; // U+0120
                else
                    *o++ = *q;
            }
            *o++ = part ? 0 : ' ';
        }
        v->merges[i] = (sqz_gguf_str){s, strlen(s)};
    }
    v->n_merges = (int64_t)n;
    return SQZ_OK;
}

static bool looks_special(const char *t) {
    size_t n = strlen(t);
    return !strcmp(t, "<pad>") || !strcmp(t, "<mask>") || (n >= 4 && starts_with(t, "<|") && ends_with(t, "|>"));
}

// Token list and types of a tokenizer.json (vocab + added_tokens), padded to v->n.
static sqz_status vocab_tokens_json(cv_vocab *v, json_t *model, json_t *added, const char *path) {
    const char *key;
    json_t *val;
    json_object_foreach(model, key, val) {
        json_int_t id = json_integer_value(val);
        SQZ_FAIL_IF(!json_is_integer(val) || id < 0, SQZ_ERR_FORMAT, "%s: model.vocab['%s'] is not an id", path, key);
        SQZ_FAIL_IF(id >= v->n, SQZ_ERR_FORMAT, "%s: token '%s' has id %lld >= vocab_size %lld", path, key,
                    (long long)id, (long long)v->n);
        v->tok[id] = (sqz_gguf_str){key, strlen(key)};
        v->type[id] = TT_NORMAL;
    }
    size_t i;
    json_array_foreach(added, i, val) {
        const char *content = jstr(val, "content");
        json_t *jid = json_object_get(val, "id");
        SQZ_FAIL_IF(!content || !json_is_integer(jid) || json_integer_value(jid) < 0, SQZ_ERR_FORMAT,
                    "%s: added_tokens[%zu] needs content and id", path, i);
        json_int_t id = json_integer_value(jid);
        SQZ_FAIL_IF(id >= v->n, SQZ_ERR_FORMAT, "%s: added token '%s' has id %lld >= vocab_size %lld", path,
                    content, (long long)id, (long long)v->n);
        v->tok[id] = (sqz_gguf_str){content, strlen(content)};
        v->type[id] = json_is_true(json_object_get(val, "special")) || looks_special(content) ? TT_CONTROL
                                                                                               : TT_USER_DEFINED;
    }
    return SQZ_OK;
}

// SPM-style BPE (byte_fallback) from tokenizer.json as a `llama` vocabulary. tokenizer.json has no
// scores: llama.cpp's LlamaHfVocab writes -1000 for every token, which leaves its SPM tokenizer no
// merge order. sqz derives score = -(rank of the merge that forms the token) instead (tokens no merge
// forms: 0), which makes llama.cpp's highest-score-first merging follow the BPE merge ranks.
static sqz_status vocab_spm_scores(cv_vocab *v, const json_t *merges) {
    size_t i;
    json_t *m;
    sqz_name_index ix = {0};
    const char **names = calloc((size_t)v->n + 1, sizeof *names);
    SQZ_FAIL_IF(!names, SQZ_ERR_NOMEM, "vocab: out of memory");
    sqz_status st = sqz_name_index_init(&ix, (size_t)v->n);
    for (int64_t t = 0; !st && t < v->n; t++) {
        names[t] = v->tok[t].ptr;
        if (sqz_name_index_find(&ix, names, names[t], v->tok[t].len) < 0)
            sqz_name_index_insert(&ix, names, t);
        v->score[t] = 0;
        if (v->tok[t].len == 6 && starts_with(names[t], "<0x") && names[t][5] == '>' && v->type[t] == TT_NORMAL)
            v->type[t] = TT_BYTE;
    }
    json_array_foreach(merges, i, m) {
        if (st)
            break;
        char buf[512];
        if (json_is_string(m)) {
            const char *s = json_string_value(m), *sp = strchr(s, ' ');
            if (!sp || strlen(s) >= sizeof buf)
                continue;
            snprintf(buf, sizeof buf, "%.*s%s", (int)(sp - s), s, sp + 1);
        } else if (json_array_size(m) == 2) {
            snprintf(buf, sizeof buf, "%s%s", json_string_value(json_array_get(m, 0)) ?: "",
                     json_string_value(json_array_get(m, 1)) ?: "");
        } else {
            continue;
        }
        int64_t t = sqz_name_index_find(&ix, names, buf, strlen(buf));
        if (t >= 0 && v->score[t] == 0)
            v->score[t] = -(float)(i + 1);
    }
    sqz_name_index_free(&ix);
    free((void *)names);
    return st;
}

sqz_status sqz_cv_write_vocab_tokenizer_json(sqz_gguf_writer *w, const char *tokenizer_json,
                                             const char *tok_config, const sqz_model_config *c) {
    sqz_status st;
    json_t *tj = load_json(tokenizer_json, &st), *tc = NULL;
    if (!tj)
        return st;
    if (tok_config && is_file(tok_config) && !(tc = load_config_json(tok_config, &st))) {
        json_decref(tj);
        return st;
    }
    cv_vocab v = {0};
    const json_t *model = json_object_get(tj, "model");
    const char *mtype = jstr(model, "type");
    bool spm = json_is_true(json_object_get(model, "byte_fallback"));
    if (!mtype || strcmp(mtype, "BPE")) {
        st = sqz_error(SQZ_ERR_UNSUPPORTED, "%s: tokenizer model type '%s' is not supported (BPE only)",
                       tokenizer_json, mtype ? mtype : "?");
        goto done;
    }
    if ((st = vocab_init(&v, c->n_vocab, spm)))
        goto done;
    v.model = spm ? "llama" : "gpt2";
    v.pre = spm ? "default" : guess_pre(json_object_get(tj, "pre_tokenizer"));
    if (!v.pre) {
        char *dump = json_dumps(json_object_get(tj, "pre_tokenizer"), JSON_COMPACT);
        st = sqz_error(SQZ_ERR_UNSUPPORTED,
                       "%s: byte-level pre-tokenizer not recognised (known: gpt-2, smollm, llama-bpe, qwen2): %.200s",
                       tokenizer_json, dump ? dump : "?");
        free(dump);
        goto done;
    }
    st = vocab_tokens_json(&v, json_object_get(model, "vocab"), json_object_get(tj, "added_tokens"), tokenizer_json);
    if (!st && spm)
        st = vocab_spm_scores(&v, json_object_get(model, "merges"));
    if (!st && !spm)
        st = vocab_merges(&v, json_object_get(model, "merges"), tokenizer_json);
    if (!st)
        st = vocab_pad(&v);
    if (!st) {
        vocab_specials(&v, tj, tc, c);
        if (spm && v.special[SP_UNK] < 0 && jstr(model, "unk_token"))
            v.special[SP_UNK] = added_token_id(json_object_get(tj, "added_tokens"), jstr(model, "unk_token"));
        if (c->arch == SQZ_ARCH_LLAMA && c->n_vocab == 49152)
            v.add_bos = 0; // llama.cpp's converter: "granite small models" (and SmolLM) add no BOS
        st = vocab_write(w, &v);
    }
done:
    vocab_free(&v);
    json_decref(tj);
    json_decref(tc);
    return st;
}

sqz_status sqz_cv_write_vocab_hf(sqz_gguf_writer *w, const char *dir, const sqz_model_config *c) {
    char spm[4096], tj[4096], tc[4096];
    SQZ_FAIL_IF(!path_join(spm, sizeof spm, dir, "tokenizer.model") || !path_join(tj, sizeof tj, dir, "tokenizer.json") ||
                    !path_join(tc, sizeof tc, dir, "tokenizer_config.json"),
                SQZ_ERR_ARG, "%s: path too long", dir);
    if (c->arch != SQZ_ARCH_GPT2 && is_file(spm)) {
        cv_vocab v;
        char *buf = NULL;
        sqz_status st = spm_load(&v, spm, &buf, c->n_vocab);
        json_t *tjd = NULL, *tcd = NULL;
        if (!st && is_file(tj))
            tjd = load_json(tj, &st);
        if (!st && is_file(tc))
            tcd = load_config_json(tc, &st);
        if (!st) {
            json_t *empty = json_object();
            vocab_specials(&v, tjd ? tjd : empty, tcd, c);
            json_decref(empty);
            st = vocab_write(w, &v);
        }
        json_decref(tjd);
        json_decref(tcd);
        vocab_free(&v);
        free(buf);
        return st;
    }
    if (is_file(tj))
        return sqz_cv_write_vocab_tokenizer_json(w, tj, tc, c);
    return sqz_gguf_writer_set_str(w, "tokenizer.ggml.model", "none");
}

sqz_status sqz_cv_copy_vocab_gguf(sqz_gguf_writer *w, const sqz_gguf *src, int64_t n_vocab) {
    const sqz_gguf_value *toks = sqz_gguf_get(src, "tokenizer.ggml.tokens");
    SQZ_FAIL_IF(!toks || toks->type != SQZ_GGUF_ARRAY, SQZ_ERR_NOT_FOUND, "%s: no tokenizer.ggml.tokens",
                sqz_gguf_path(src));
    SQZ_FAIL_IF((int64_t)toks->v.arr.n != n_vocab, SQZ_ERR_ARG, "%s: vocabulary has %llu tokens, the model needs %lld",
                sqz_gguf_path(src), (unsigned long long)toks->v.arr.n, (long long)n_vocab);
    for (int64_t i = 0; i < sqz_gguf_n_kv(src); i++) {
        const char *key = sqz_gguf_kv_key(src, i);
        if (starts_with(key, "tokenizer."))
            SQZ_TRY(sqz_gguf_writer_set_value(w, key, sqz_gguf_kv_value(src, i)));
    }
    return SQZ_OK;
}

// ================================ HF -> GGUF =====================================================

// The GGUF type of one tensor: llama.cpp's converter rules (1-D, norms, biases, position
// embeddings stay F32; block types need rows that are a multiple of 32, else F16).
static sqz_type pick_gguf_type(const char *gname, const sqz_tensor *t, sqz_type want) {
    if (t->n_dims <= 1 || ends_with(gname, "_norm.weight") || !ends_with(gname, ".weight") ||
        starts_with(gname, "position_embd") || starts_with(gname, "rope_freqs"))
        return SQZ_TYPE_F32;
    sqz_type ty = want == SQZ_TYPE_COUNT ? (is_float_type(t->type) ? t->type : SQZ_TYPE_F32) : want;
    const sqz_type_traits *tr = sqz_type_traits_of(ty);
    if (tr->is_quantized && t->shape[t->n_dims - 1] % tr->block_size)
        return SQZ_TYPE_F16;
    return ty;
}

static bool valid_out_type(sqz_type t, bool gguf) {
    return t == SQZ_TYPE_COUNT || is_float_type(t) ||
           (gguf && (t == SQZ_TYPE_Q8_0 || t == SQZ_TYPE_Q4_0 || t == SQZ_TYPE_Q4_1));
}

static sqz_status write_gguf(cv_list *L, sqz_gguf_writer *w, const char *out) {
    for (int64_t i = 0; i < L->n; i++) {
        const cv_out *o = &L->v[i];
        SQZ_TRY(sqz_gguf_writer_add_tensor(w, o->name, o->type, o->n_dims, o->shape, NULL, o->nbytes));
    }
    return sqz_gguf_writer_write_fill(w, out, cv_fill, L);
}

static sqz_status hf_tensors_to_gguf(cv_list *L, const sqz_safetensors *st, const sqz_model_config *c,
                                     sqz_type out_type, sqz_type *mat_type) {
    *mat_type = SQZ_TYPE_F32;
    for (int64_t i = 0; i < sqz_safetensors_n_tensors(st); i++) {
        const sqz_tensor *t = sqz_safetensors_tensor(st, i);
        char gname[96];
        int xf;
        bool skip;
        SQZ_TRY(map_name(c->arch, t->name, true, gname, sizeof gname, &xf, &skip));
        if (skip)
            continue;
        sqz_type ty = pick_gguf_type(gname, t, out_type);
        if (!strcmp(gname, "token_embd.weight"))
            *mat_type = ty;
        int64_t nh = xf & XF_PERM_Q ? c->n_head : c->n_head_kv;
        if (c->arch == SQZ_ARCH_QWEN2)
            xf &= ~(XF_PERM_Q | XF_PERM_K); // qwen2 GGUFs keep HF's rotate-half layout
        SQZ_TRY_CTX(cv_add(L, gname, t, ty, xf, nh, false, true), "%s: ", t->name);
    }
    return SQZ_OK;
}

// Directory of an HF model given the directory or a file inside it (into buf).
static sqz_status hf_dir_of(const char *in, char *buf, size_t cap) {
    SQZ_FAIL_IF(strlen(in) >= cap, SQZ_ERR_ARG, "%s: path too long", in);
    strcpy(buf, in);
    if (is_dir(buf))
        return SQZ_OK;
    SQZ_FAIL_IF(!is_file(buf), SQZ_ERR_IO, "%s: no such file or directory", in);
    char *slash = strrchr(buf, '/');
    if (slash)
        *slash = 0;
    else
        strcpy(buf, ".");
    return SQZ_OK;
}

sqz_status sqz_convert_hf_to_gguf(const char *in, const char *out, sqz_type out_type) {
    SQZ_FAIL_IF(!valid_out_type(out_type, true), SQZ_ERR_ARG, "convert: cannot write GGUF tensors of type %s",
                sqz_type_name(out_type));
    char dir[4096], cfg_path[4200];
    SQZ_TRY(hf_dir_of(in, dir, sizeof dir));
    path_join(cfg_path, sizeof cfg_path, dir, "config.json");
    sqz_model_config c;
    SQZ_TRY(sqz_config_from_hf_json(&c, cfg_path));
    sqz_safetensors *st = NULL;
    sqz_gguf_writer *w = NULL;
    cv_list L = {0};
    sqz_type mat_type;
    float *ropef = NULL;
    sqz_status s = sqz_safetensors_open(&st, dir);
    if (!s)
        s = sqz_gguf_writer_new(&w);
    if (!s)
        s = hf_tensors_to_gguf(&L, st, &c, out_type, &mat_type);
    if (!s && c.arch == SQZ_ARCH_LLAMA && c.rope_scaling == SQZ_ROPE_SCALING_LLAMA3) {
        ropef = malloc((size_t)c.head_dim / 2 * sizeof(float) + 1);
        sqz_tensor rt = {.name = "rope_freqs.weight", .type = SQZ_TYPE_F32, .n_dims = 1,
                         .shape = {c.head_dim / 2}, .data = ropef, .nbytes = (size_t)c.head_dim / 2 * 4};
        if (!ropef)
            s = sqz_error(SQZ_ERR_NOMEM, "convert: out of memory");
        else {
            llama3_rope_factors(&c, ropef);
            s = cv_add(&L, rt.name, &rt, SQZ_TYPE_F32, 0, 0, false, false);
        }
    }
    const char *base = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    if (!s)
        s = sqz_cv_write_hparams(w, &c, base, mat_type);
    if (!s)
        s = sqz_cv_write_vocab_hf(w, dir, &c);
    if (!s)
        s = write_gguf(&L, w, out);
    cv_list_free(&L);
    free(ropef);
    sqz_gguf_writer_free(w);
    sqz_safetensors_free(st);
    return s ? sqz_error_prefix(s, "convert %s -> %s: ", in, out) : SQZ_OK;
}

// ================================ GGUF -> HF =====================================================

static sqz_status json_write_file(json_t *j, const char *dir, const char *name) {
    char path[4200], tmp[4300];
    SQZ_FAIL_IF(!path_join(path, sizeof path, dir, name), SQZ_ERR_ARG, "%s: path too long", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    if (!j)
        return sqz_error(SQZ_ERR_NOMEM, "%s: out of memory building JSON", path);
    int rc = json_dump_file(j, tmp, JSON_INDENT(2));
    json_decref(j);
    if (rc != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return sqz_error(SQZ_ERR_IO, "%s: cannot write (%s)", path, strerror(errno));
    }
    return SQZ_OK;
}

// GGUF stores hyper-parameters as float32: write the shortest decimal that rounds to the same float
// (1e-05, not 9.9999997473787516e-06), as the original config.json had it.
static json_t *jreal_f32(double v) {
    float f = (float)v;
    char b[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, (double)f);
        if ((float)strtod(b, NULL) == f)
            return json_real(strtod(b, NULL));
    }
    return json_real(v);
}

static json_t *jint_or_null(int64_t v) { return v >= 0 ? json_integer(v) : json_null(); }

static json_t *hf_config_json(const sqz_model_config *c, bool tied, sqz_type dtype) {
    json_t *j = json_object();
    const char *dt = dtype == SQZ_TYPE_F16 ? "float16" : dtype == SQZ_TYPE_BF16 ? "bfloat16" : "float32";
    if (c->arch == SQZ_ARCH_GPT2) {
        json_object_set_new(j, "architectures", json_pack("[s]", "GPT2LMHeadModel"));
        json_object_set_new(j, "model_type", json_string("gpt2"));
        json_object_set_new(j, "n_embd", json_integer(c->n_embd));
        json_object_set_new(j, "n_layer", json_integer(c->n_layer));
        json_object_set_new(j, "n_head", json_integer(c->n_head));
        json_object_set_new(j, "n_inner", json_integer(c->n_ff));
        json_object_set_new(j, "n_positions", json_integer(c->n_ctx_train));
        json_object_set_new(j, "n_ctx", json_integer(c->n_ctx_train));
        json_object_set_new(j, "layer_norm_epsilon", jreal_f32(c->norm_eps));
        json_object_set_new(j, "activation_function", json_string("gelu_new"));
    } else {
        bool q = c->arch == SQZ_ARCH_QWEN2;
        json_object_set_new(j, "architectures", json_pack("[s]", q ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
        json_object_set_new(j, "model_type", json_string(q ? "qwen2" : "llama"));
        json_object_set_new(j, "hidden_size", json_integer(c->n_embd));
        json_object_set_new(j, "intermediate_size", json_integer(c->n_ff));
        json_object_set_new(j, "num_hidden_layers", json_integer(c->n_layer));
        json_object_set_new(j, "num_attention_heads", json_integer(c->n_head));
        json_object_set_new(j, "num_key_value_heads", json_integer(c->n_head_kv));
        json_object_set_new(j, "head_dim", json_integer(c->head_dim));
        json_object_set_new(j, "max_position_embeddings", json_integer(c->n_ctx_train));
        json_object_set_new(j, "rms_norm_eps", jreal_f32(c->norm_eps));
        json_object_set_new(j, "rope_theta", jreal_f32(c->rope_theta));
        json_object_set_new(j, "hidden_act", json_string("silu"));
        if (q)
            json_object_set_new(j, "use_sliding_window", json_false());
        else
            json_object_set_new(j, "attention_bias", json_boolean(c->attn_bias));
        json_t *rs = json_null();
        if (c->rope_scaling == SQZ_ROPE_SCALING_LINEAR)
            rs = json_pack("{s:s, s:o}", "type", "linear", "factor", jreal_f32(c->rope_factor));
        else if (c->rope_scaling == SQZ_ROPE_SCALING_LLAMA3)
            rs = json_pack("{s:s, s:o, s:o, s:o, s:I}", "rope_type", "llama3", "factor", jreal_f32(c->rope_factor),
                           "low_freq_factor", jreal_f32(c->rope_low_freq_factor), "high_freq_factor",
                           jreal_f32(c->rope_high_freq_factor),
                           "original_max_position_embeddings", (json_int_t)c->rope_orig_ctx);
        json_object_set_new(j, "rope_scaling", rs);
    }
    json_object_set_new(j, "vocab_size", json_integer(c->n_vocab));
    json_object_set_new(j, "tie_word_embeddings", json_boolean(tied));
    json_object_set_new(j, "bos_token_id", jint_or_null(c->bos_id));
    json_object_set_new(j, "eos_token_id", jint_or_null(c->eos_id));
    json_object_set_new(j, "torch_dtype", json_string(dt));
    return j;
}

// Llama-3 rope parameters: sqz's own keys when present, else llama.cpp's defaults checked against
// the file's rope_freqs tensor.
static sqz_status gguf_llama3_params(sqz_model_config *c, const sqz_gguf *g) {
    const sqz_tensor *rf = sqz_gguf_find_tensor(g, "rope_freqs.weight");
    if (c->arch != SQZ_ARCH_LLAMA || (!rf && c->rope_scaling != SQZ_ROPE_SCALING_LLAMA3))
        return SQZ_OK;
    c->rope_scaling = SQZ_ROPE_SCALING_LLAMA3;
    c->rope_factor = sqz_gguf_get_f64_or(g, "sqz.rope.llama3.factor", c->rope_factor > 0 ? c->rope_factor : 8.0);
    c->rope_low_freq_factor = sqz_gguf_get_f64_or(g, "sqz.rope.llama3.low_freq_factor",
                                                  c->rope_low_freq_factor > 0 ? c->rope_low_freq_factor : 1.0);
    c->rope_high_freq_factor = sqz_gguf_get_f64_or(g, "sqz.rope.llama3.high_freq_factor",
                                                   c->rope_high_freq_factor > 0 ? c->rope_high_freq_factor : 4.0);
    c->rope_orig_ctx = sqz_gguf_get_i64_or(g, "sqz.rope.llama3.original_context_length",
                                           c->rope_orig_ctx > 0 ? c->rope_orig_ctx : 8192);
    if (!rf)
        return SQZ_OK;
    SQZ_FAIL_IF(rf->type != SQZ_TYPE_F32 || sqz_tensor_nelements(rf) != c->head_dim / 2, SQZ_ERR_FORMAT,
                "rope_freqs.weight: expected %lld F32 values", (long long)(c->head_dim / 2));
    float want[512];
    SQZ_FAIL_IF(c->head_dim / 2 > 512, SQZ_ERR_UNSUPPORTED, "head_dim %lld too large", (long long)c->head_dim);
    llama3_rope_factors(c, want);
    for (int64_t i = 0; i < c->head_dim / 2; i++) {
        float got;
        memcpy(&got, (const char *)rf->data + 4 * i, 4);
        SQZ_FAIL_IF(fabsf(got - want[i]) > 1e-4f * fabsf(want[i]), SQZ_ERR_UNSUPPORTED,
                    "rope_freqs.weight does not match Llama-3 rope scaling with factor %g, low %g, high %g, "
                    "original context %lld: cannot express it in config.json",
                    c->rope_factor, c->rope_low_freq_factor, c->rope_high_freq_factor, (long long)c->rope_orig_ctx);
    }
    return SQZ_OK;
}

static sqz_status gguf_tensors_to_hf(cv_list *L, const sqz_gguf *g, const sqz_model_config *c, sqz_type out_type,
                                     bool *tied) {
    *tied = true;
    for (int64_t i = 0; i < sqz_gguf_n_tensors(g); i++) {
        const sqz_tensor *t = sqz_gguf_tensor(g, i);
        char hname[96];
        int xf;
        bool skip;
        SQZ_TRY(map_name(c->arch, t->name, false, hname, sizeof hname, &xf, &skip));
        if (skip)
            continue;
        if (!strcmp(t->name, "output.weight"))
            *tied = false;
        sqz_type ty = t->n_dims <= 1 ? SQZ_TYPE_F32
                      : out_type == SQZ_TYPE_COUNT ? (is_float_type(t->type) ? t->type : SQZ_TYPE_F32)
                                                   : out_type;
        int64_t nh = xf & XF_PERM_Q ? c->n_head : c->n_head_kv;
        if (c->arch == SQZ_ARCH_QWEN2)
            xf &= ~(XF_PERM_Q | XF_PERM_K);
        SQZ_TRY_CTX(cv_add(L, hname, t, ty, xf, nh, true, true), "%s: ", t->name);
    }
    return SQZ_OK;
}

// ---- tokenizer.json from a GGUF vocabulary ----

typedef struct gguf_vocab {
    const sqz_gguf_value *tok, *type, *score, *merges;
    int64_t special[SP_COUNT];
    int add_bos;
    const char *model, *pre;
} gguf_vocab;

static sqz_status gguf_vocab_read(gguf_vocab *gv, const sqz_gguf *g, char *model, char *pre, size_t cap) {
    sqz_gguf_str s;
    memset(gv, 0, sizeof *gv);
    SQZ_TRY(sqz_gguf_get_str(g, "tokenizer.ggml.model", &s));
    snprintf(model, cap, "%.*s", (int)s.len, s.ptr);
    strcpy(pre, "default");
    if (!sqz_gguf_get_str(g, "tokenizer.ggml.pre", &s))
        snprintf(pre, cap, "%.*s", (int)s.len, s.ptr);
    sqz_error_clear();
    gv->model = model;
    gv->pre = pre;
    gv->tok = sqz_gguf_get(g, "tokenizer.ggml.tokens");
    gv->type = sqz_gguf_get(g, "tokenizer.ggml.token_type");
    gv->score = sqz_gguf_get(g, "tokenizer.ggml.scores");
    gv->merges = sqz_gguf_get(g, "tokenizer.ggml.merges");
    SQZ_FAIL_IF(!gv->tok || gv->tok->type != SQZ_GGUF_ARRAY || gv->tok->v.arr.elem_type != SQZ_GGUF_STRING,
                SQZ_ERR_FORMAT, "tokenizer.ggml.tokens missing or not a string array");
    uint64_t n = gv->tok->v.arr.n;
    SQZ_FAIL_IF(gv->type && (gv->type->type != SQZ_GGUF_ARRAY || gv->type->v.arr.n != n ||
                             gv->type->v.arr.elem_type == SQZ_GGUF_STRING),
                SQZ_ERR_FORMAT, "tokenizer.ggml.token_type: expected %llu integers", (unsigned long long)n);
    SQZ_FAIL_IF(gv->score && (gv->score->type != SQZ_GGUF_ARRAY || gv->score->v.arr.n != n ||
                              gv->score->v.arr.elem_type == SQZ_GGUF_STRING),
                SQZ_ERR_FORMAT, "tokenizer.ggml.scores: expected %llu numbers", (unsigned long long)n);
    SQZ_FAIL_IF(gv->merges && (gv->merges->type != SQZ_GGUF_ARRAY || gv->merges->v.arr.elem_type != SQZ_GGUF_STRING),
                SQZ_ERR_FORMAT, "tokenizer.ggml.merges: expected a string array");
    for (int i = 0; i < SP_COUNT; i++) {
        int64_t id = sqz_gguf_get_i64_or(g, sp_gguf_keys[i], -1);
        gv->special[i] = id >= 0 && (uint64_t)id < n ? id : -1;
    }
    const sqz_gguf_value *ab = sqz_gguf_get(g, "tokenizer.ggml.add_bos_token");
    gv->add_bos = ab && ab->type == SQZ_GGUF_BOOL ? ab->v.b : !strcmp(model, "llama");
    return SQZ_OK;
}

static int gv_type(const gguf_vocab *gv, uint64_t i) {
    return gv->type ? (int)sqz_gguf_arr_i64(gv->type, i) : TT_NORMAL;
}

static json_t *jstrn(const sqz_gguf_str *s) { return json_stringn(s->ptr, s->len); }

// HF tokenizers JSON of the pre-tokenizer llama.cpp names `pre`, or NULL.
static json_t *pre_tokenizer_json(const char *pre) {
    if (!strcmp(pre, "gpt-2"))
        return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1,
                         "use_regex", 1);
    if (!strcmp(pre, "smollm") || !strcmp(pre, "starcoder"))
        return json_pack("{s:s, s:[{s:s, s:b}, {s:s, s:b, s:b, s:b}]}", "type", "Sequence", "pretokenizers", "type",
                         "Digits", "individual_digits", 1, "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets",
                         1, "use_regex", 1);
    const char *re = !strcmp(pre, "llama-bpe") ? RE_LLAMA3 : !strcmp(pre, "qwen2") ? RE_QWEN2 : NULL;
    if (!re)
        return NULL;
    return json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b, s:b}]}", "type", "Sequence", "pretokenizers",
                     "type", "Split", "pattern", "Regex", re, "behavior", "Isolated", "invert", 0, "type", "ByteLevel",
                     "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 0);
}

static json_t *template_processor(const char *bos, int64_t bos_id) {
    return json_pack("{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}], s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}, {s:{s:s, s:i}}, "
                     "{s:{s:s, s:i}}], s:{s:{s:s, s:[I], s:[s]}}}",
                     "type", "TemplateProcessing", "single", "SpecialToken", "id", bos, "type_id", 0, "Sequence", "id",
                     "A", "type_id", 0, "pair", "SpecialToken", "id", bos, "type_id", 0, "Sequence", "id", "A",
                     "type_id", 0, "SpecialToken", "id", bos, "type_id", 1, "Sequence", "id", "B", "type_id", 1,
                     "special_tokens", bos, "id", bos, "ids", (json_int_t)bos_id, "tokens", bos);
}

// SentencePiece merges as HF's SentencePieceExtractor derives them: every split of a piece into two
// vocabulary pieces, ordered by the merged piece's score (descending), then piece id, then the ids of
// the two halves.
typedef struct spm_merge {
    float score;
    int64_t piece, l, r;
    uint32_t cut;
} spm_merge;

static int spm_merge_cmp(const void *a, const void *b) {
    const spm_merge *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->piece != y->piece)
        return x->piece < y->piece ? -1 : 1;
    if (x->l != y->l)
        return x->l < y->l ? -1 : 1;
    return x->r < y->r ? -1 : x->r > y->r;
}

static sqz_status spm_merges_json(const gguf_vocab *gv, json_t *arr) {
    uint64_t n = gv->tok->v.arr.n;
    const sqz_gguf_str *s = gv->tok->v.arr.strs;
    char **names = calloc(n + 1, sizeof *names);
    spm_merge *m = NULL;
    size_t nm = 0, cap = 0;
    sqz_name_index ix = {0};
    sqz_status st = names ? sqz_name_index_init(&ix, n) : sqz_error(SQZ_ERR_NOMEM, "vocab: out of memory");
    for (uint64_t i = 0; !st && i < n; i++) {
        names[i] = strndup(s[i].ptr, s[i].len);
        if (!names[i])
            st = sqz_error(SQZ_ERR_NOMEM, "vocab: out of memory");
        else if (sqz_name_index_find(&ix, (const char *const *)names, names[i], strlen(names[i])) < 0)
            sqz_name_index_insert(&ix, (const char *const *)names, (int64_t)i);
    }
    for (uint64_t i = 0; !st && i < n; i++) {
        size_t len = strlen(names[i]);
        for (size_t cut = 1; cut < len; cut++) {
            if (((uint8_t)names[i][cut] & 0xc0) == 0x80)
                continue; // split at UTF-8 character boundaries only
            int64_t l = sqz_name_index_find(&ix, (const char *const *)names, names[i], cut);
            int64_t r = sqz_name_index_find(&ix, (const char *const *)names, names[i] + cut, len - cut);
            if (l < 0 || r < 0)
                continue;
            if (nm == cap) {
                cap = cap ? 2 * cap : 1024;
                spm_merge *nmv = realloc(m, cap * sizeof *m);
                if (!nmv) {
                    st = sqz_error(SQZ_ERR_NOMEM, "vocab: out of memory");
                    break;
                }
                m = nmv;
            }
            float sc = gv->score ? (float)sqz_gguf_arr_f64(gv->score, i) : 0.0f;
            m[nm++] = (spm_merge){sc, (int64_t)i, l, r, (uint32_t)cut};
        }
    }
    if (!st)
        qsort(m, nm, sizeof *m, spm_merge_cmp);
    for (size_t k = 0; !st && k < nm; k++) {
        const char *p = names[m[k].piece];
        json_t *pair = json_sprintf("%.*s %s", (int)m[k].cut, p, p + m[k].cut);
        if (!pair || json_array_append_new(arr, pair))
            st = sqz_error(SQZ_ERR_NOMEM, "vocab: out of memory");
    }
    for (uint64_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
    free(m);
    sqz_name_index_free(&ix);
    return st;
}

static json_t *added_token_json(int64_t id, const sqz_gguf_str *s, bool special) {
    json_t *t = json_pack("{s:I}", "id", (json_int_t)id);
    json_object_set_new(t, "content", jstrn(s));
    json_object_set_new(t, "single_word", json_false());
    json_object_set_new(t, "lstrip", json_false());
    json_object_set_new(t, "rstrip", json_false());
    json_object_set_new(t, "normalized", json_boolean(!special));
    json_object_set_new(t, "special", json_boolean(special));
    return t;
}

static sqz_status hf_tokenizer_json(const gguf_vocab *gv, json_t **out) {
    bool spm = !strcmp(gv->model, "llama");
    SQZ_FAIL_IF(!spm && strcmp(gv->model, "gpt2"), SQZ_ERR_UNSUPPORTED,
                "tokenizer.ggml.model '%s' cannot be written as tokenizer.json (gpt2 and llama only)", gv->model);
    json_t *pre = spm ? json_null() : pre_tokenizer_json(gv->pre);
    SQZ_FAIL_IF(!pre, SQZ_ERR_UNSUPPORTED, "tokenizer.ggml.pre '%s' is not supported (gpt-2, smollm, starcoder, "
                "llama-bpe, qwen2)", gv->pre);
    json_t *j = json_pack("{s:s, s:n, s:n}", "version", "1.0", "truncation", "padding");
    json_t *added = json_array(), *vocab = json_object(), *merges = json_array();
    const sqz_gguf_str *s = gv->tok->v.arr.strs;
    for (uint64_t i = 0; i < gv->tok->v.arr.n; i++) {
        int ty = gv_type(gv, i);
        if (ty == TT_CONTROL || ty == TT_USER_DEFINED || (spm && ty == TT_UNKNOWN))
            json_array_append_new(added, added_token_json((int64_t)i, &s[i], ty != TT_USER_DEFINED));
        json_t *str = jstrn(&s[i]);
        if (!str) {
            json_decref(j), json_decref(added), json_decref(vocab), json_decref(merges), json_decref(pre);
            return sqz_error(SQZ_ERR_FORMAT, "token %llu is not valid UTF-8", (unsigned long long)i);
        }
        json_object_setn_new(vocab, s[i].ptr, s[i].len, json_integer((json_int_t)i));
        json_decref(str);
    }
    sqz_status st = SQZ_OK;
    if (spm)
        st = spm_merges_json(gv, merges);
    for (uint64_t i = 0; !spm && gv->merges && i < gv->merges->v.arr.n; i++)
        json_array_append_new(merges, jstrn(&gv->merges->v.arr.strs[i]));
    json_object_set_new(j, "added_tokens", added);
    json_t *pp = json_null();
    int64_t bos = gv->special[SP_BOS];
    if (gv->add_bos && bos >= 0) {
        char *b = strndup(s[bos].ptr, s[bos].len);
        pp = template_processor(b ? b : "", bos);
        free(b);
    }
    if (spm) {
        json_object_set_new(j, "normalizer",
                            json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:{s:s}, s:s}]}", "type", "Sequence", "normalizers",
                                      "type", "Prepend", "prepend", "\xe2\x96\x81", "type", "Replace", "pattern",
                                      "String", " ", "content", "\xe2\x96\x81"));
        json_object_set_new(j, "pre_tokenizer", pre);
        json_object_set_new(j, "post_processor", pp);
        json_object_set_new(j, "decoder",
                            json_pack("{s:s, s:[{s:s, s:{s:s}, s:s}, {s:s}, {s:s}, {s:s, s:s, s:i, s:i}]}", "type",
                                      "Sequence", "decoders", "type", "Replace", "pattern", "String", "\xe2\x96\x81",
                                      "content", " ", "type", "ByteFallback", "type", "Fuse", "type", "Strip", "content",
                                      " ", "start", 1, "stop", 0));
    } else {
        json_object_set_new(j, "normalizer", json_null());
        json_object_set_new(j, "pre_tokenizer", pre);
        json_object_set_new(j, "post_processor", pp);
        json_object_set_new(j, "decoder", json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 1,
                                                    "trim_offsets", 1, "use_regex", 1));
    }
    int64_t unk = gv->special[SP_UNK];
    json_t *model = json_pack("{s:s, s:n}", "type", "BPE", "dropout");
    json_object_set_new(model, "unk_token", spm && unk >= 0 ? jstrn(&s[unk]) : json_null());
    json_object_set_new(model, "continuing_subword_prefix", json_null());
    json_object_set_new(model, "end_of_word_suffix", json_null());
    json_object_set_new(model, "fuse_unk", json_boolean(spm));
    json_object_set_new(model, "byte_fallback", json_boolean(spm));
    json_object_set_new(model, "vocab", vocab);
    json_object_set_new(model, "merges", merges);
    json_object_set_new(j, "model", model);
    if (st)
        json_decref(j);
    else
        *out = j;
    return st;
}

static json_t *hf_tokenizer_config(const gguf_vocab *gv) {
    bool spm = !strcmp(gv->model, "llama");
    json_t *j = json_object();
    const sqz_gguf_str *s = gv->tok->v.arr.strs;
    json_object_set_new(j, "add_bos_token", json_boolean(gv->add_bos && gv->special[SP_BOS] >= 0));
    json_object_set_new(j, "add_eos_token", json_false());
    for (int i = 0; i < SP_COUNT; i++) {
        if (i == SP_SEP)
            continue;
        char key[32];
        snprintf(key, sizeof key, "%s_token", sp_names[i]);
        int64_t id = gv->special[i];
        json_object_set_new(j, key, id >= 0 ? jstrn(&s[id]) : json_null());
    }
    json_object_set_new(j, "clean_up_tokenization_spaces", json_false());
    json_object_set_new(j, "model_max_length", json_integer(1000000000000000LL));
    json_object_set_new(j, "tokenizer_class", json_string(spm ? "LlamaTokenizerFast" : "PreTrainedTokenizerFast"));
    if (spm)
        json_object_set_new(j, "legacy", json_true());
    return j;
}

static sqz_status write_hf_tokenizer(const sqz_gguf *g, const char *dir) {
    if (!sqz_gguf_get(g, "tokenizer.ggml.model"))
        return SQZ_OK;
    char model[64], pre[64];
    gguf_vocab gv;
    SQZ_TRY(gguf_vocab_read(&gv, g, model, pre, sizeof model));
    if (!strcmp(model, "none"))
        return SQZ_OK;
    json_t *tj = NULL;
    SQZ_TRY(hf_tokenizer_json(&gv, &tj));
    SQZ_TRY(json_write_file(tj, dir, "tokenizer.json"));
    json_t *tc = hf_tokenizer_config(&gv);
    const sqz_gguf_value *tmpl = sqz_gguf_get(g, "tokenizer.chat_template");
    if (tmpl && tmpl->type == SQZ_GGUF_STRING)
        json_object_set_new(tc, "chat_template", jstrn(&tmpl->v.str));
    return json_write_file(tc, dir, "tokenizer_config.json");
}

static sqz_status write_hf_safetensors(cv_list *L, const char *dir) {
    char path[4200];
    SQZ_FAIL_IF(!path_join(path, sizeof path, dir, "model.safetensors"), SQZ_ERR_ARG, "%s: path too long", dir);
    sqz_tensor *ts = calloc((size_t)L->n + 1, sizeof *ts);
    SQZ_FAIL_IF(!ts, SQZ_ERR_NOMEM, "convert: out of memory");
    for (int64_t i = 0; i < L->n; i++) {
        const cv_out *o = &L->v[i];
        ts[i] = (sqz_tensor){.name = o->name, .type = o->type, .n_dims = o->n_dims, .data = NULL, .nbytes = o->nbytes};
        memcpy(ts[i].shape, o->shape, sizeof o->shape);
    }
    const char *meta[2] = {"format", "pt"};
    sqz_status st = sqz_safetensors_write_fill(path, ts, L->n, meta, 1, cv_fill, L);
    free(ts);
    return st;
}

static sqz_status gguf_to_hf(const sqz_gguf *g, const char *out_dir, sqz_type out_type) {
    sqz_model_config c;
    SQZ_TRY(sqz_config_from_gguf(&c, g));
    SQZ_TRY(gguf_llama3_params(&c, g));
    SQZ_FAIL_IF(mkdir(out_dir, 0755) != 0 && errno != EEXIST, SQZ_ERR_IO, "%s: cannot create directory (%s)",
                out_dir, strerror(errno));
    cv_list L = {0};
    bool tied;
    sqz_status st = gguf_tensors_to_hf(&L, g, &c, out_type, &tied);
    sqz_type dtype = SQZ_TYPE_F32;
    for (int64_t i = 0; i < L.n; i++)
        if (L.v[i].n_dims >= 2)
            dtype = L.v[i].type;
    if (!st)
        st = write_hf_safetensors(&L, out_dir);
    cv_list_free(&L);
    if (!st)
        st = json_write_file(hf_config_json(&c, tied, dtype), out_dir, "config.json");
    if (!st)
        st = json_write_file(json_pack("{s:o, s:o}", "bos_token_id", jint_or_null(c.bos_id), "eos_token_id",
                                       jint_or_null(c.eos_id)),
                             out_dir, "generation_config.json");
    if (!st)
        st = write_hf_tokenizer(g, out_dir);
    return st;
}

sqz_status sqz_convert_gguf_to_hf(const char *in, const char *out_dir, sqz_type out_type) {
    SQZ_FAIL_IF(!valid_out_type(out_type, false), SQZ_ERR_ARG,
                "convert: an HF directory holds F32/F16/BF16 weights, not %s", sqz_type_name(out_type));
    sqz_gguf *g = NULL;
    sqz_status st = sqz_gguf_open(&g, in);
    if (!st)
        st = gguf_to_hf(g, out_dir, out_type);
    sqz_gguf_free(g);
    return st ? sqz_error_prefix(st, "convert %s -> %s: ", in, out_dir) : SQZ_OK;
}

sqz_status sqz_convert(const char *in, const char *out, sqz_type out_type) {
    SQZ_FAIL_IF(!in || !out, SQZ_ERR_ARG, "convert: input and output paths are required");
    if (is_file(in) && ends_with(in, ".gguf"))
        return sqz_convert_gguf_to_hf(in, out, out_type);
    if (is_file(in)) { // a GGUF without the extension?
        FILE *f = fopen(in, "rb");
        char magic[4] = {0};
        size_t n = f ? fread(magic, 1, 4, f) : 0;
        if (f)
            fclose(f);
        if (n == 4 && !memcmp(magic, "GGUF", 4))
            return sqz_convert_gguf_to_hf(in, out, out_type);
    }
    return sqz_convert_hf_to_gguf(in, out, out_type);
}

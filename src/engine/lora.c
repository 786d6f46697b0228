// Unmerged LoRA adapters at inference: a PEFT adapter directory is loaded next to the base model and
// every targeted linear adds y += scale·B·(A·x) in F32 after its own (any-format) product, so the base
// weights are never touched. PEFT names the adapted module
// ("base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight",
// "base_model.model.transformer.h.0.attn.c_attn.lora_B.weight"); the engine's linear for it is found
// by layer and module whatever the base's own naming (HF or GGUF). A GGUF Llama stores q/k rows in
// llama.cpp's permuted order (RoPE pairs adjacent), so the adapter's B rows of q_proj/k_proj are
// permuted the same way (as sqz convert permutes the base weight); A acts on the input and is kept.
#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/lora.h"

#define LORA_MAX_RANK 1024
#define LORA_CHUNK 4096 // floats of the stack buffer holding A·x for a chunk of tokens

void sqz_lora_apply(const sqz_linear *l, const float *x, float *y, int64_t n) {
    const sqz_lora *a = l->lora;
    if (!a)
        return;
    float t[LORA_CHUNK]; // [chunk][rank]
    int r = (int)a->rank, ni = (int)l->n_in, no = (int)l->n_out;
    int64_t chunk = LORA_CHUNK / a->rank;
    for (int64_t t0 = 0; t0 < n; t0 += chunk) {
        int nc = (int)(n - t0 < chunk ? n - t0 : chunk);
        // t[nc][r] = x[nc][n_in]·Aᵀ, then y[nc][n_out] += t·Bᵀ
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nc, r, ni, 1.0f, x + t0 * ni, ni, a->a, ni, 0.0f, t, r);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nc, no, r, 1.0f, t, r, a->b, r, 1.0f, y + t0 * no, no);
    }
}

// The engine's linear of each PEFT module name (the part after the layer index), and which rows of
// a GGUF Llama are permuted: 1 = q (n_head heads), 2 = k (n_head_kv heads).
typedef struct lora_target {
    const char *module;
    size_t member; // offset of the sqz_linear in sqz_layer
    int perm;
} lora_target;

static const lora_target LLAMA_TARGETS[] = {
    {"self_attn.q_proj", offsetof(sqz_layer, wq), 1},    {"self_attn.k_proj", offsetof(sqz_layer, wk), 2},
    {"self_attn.v_proj", offsetof(sqz_layer, wv), 0},    {"self_attn.o_proj", offsetof(sqz_layer, wo), 0},
    {"mlp.gate_proj", offsetof(sqz_layer, w_gate), 0},   {"mlp.up_proj", offsetof(sqz_layer, w_up), 0},
    {"mlp.down_proj", offsetof(sqz_layer, w_down), 0},
};
static const lora_target GPT2_TARGETS[] = {
    {"attn.c_attn", offsetof(sqz_layer, wqkv), 0},
    {"attn.c_proj", offsetof(sqz_layer, wo), 0},
    {"mlp.c_fc", offsetof(sqz_layer, w_up), 0},
    {"mlp.c_proj", offsetof(sqz_layer, w_down), 0},
};

typedef struct lora_cfg {
    int64_t rank;
    double scale;
} lora_cfg;

static sqz_status read_config(const char *path, lora_cfg *lc) {
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    SQZ_FAIL_IF(!j, SQZ_ERR_FORMAT, "%s:%d:%d: %s", path, err.line, err.column, err.text);
    json_t *r = json_object_get(j, "r"), *al = json_object_get(j, "lora_alpha"), *ty = json_object_get(j, "peft_type");
    json_t *rp = json_object_get(j, "rank_pattern"), *ap = json_object_get(j, "alpha_pattern");
    json_t *bias = json_object_get(j, "bias");
    sqz_status st = SQZ_OK;
    if (!json_is_string(ty) || strcmp(json_string_value(ty), "LORA") != 0)
        st = sqz_error(SQZ_ERR_UNSUPPORTED, "%s: peft_type is not LORA", path);
    else if (!json_is_integer(r) || json_integer_value(r) < 1 || json_integer_value(r) > LORA_MAX_RANK ||
             !json_is_number(al))
        st = sqz_error(SQZ_ERR_FORMAT, "%s: needs an integer r in 1..%d and a numeric lora_alpha", path, LORA_MAX_RANK);
    else if ((rp && json_object_size(rp)) || (ap && json_object_size(ap)))
        st = sqz_error(SQZ_ERR_UNSUPPORTED, "%s: per-module rank_pattern/alpha_pattern are not supported", path);
    else if (json_is_true(json_object_get(j, "use_dora")))
        st = sqz_error(SQZ_ERR_UNSUPPORTED, "%s: DoRA adapters are not supported", path);
    else if (json_is_string(bias) && strcmp(json_string_value(bias), "none") != 0)
        st = sqz_error(SQZ_ERR_UNSUPPORTED, "%s: trained biases (bias \"%s\") are not supported", path,
                       json_string_value(bias));
    if (st == SQZ_OK) {
        lc->rank = json_integer_value(r);
        double alpha = json_number_value(al);
        lc->scale = json_is_true(json_object_get(j, "use_rslora")) ? alpha / sqrt((double)lc->rank) : alpha / (double)lc->rank;
    }
    json_decref(j);
    return st;
}

// "base_model.model.<path>.<layer>.<module>.lora_X.weight" → the layer's linear, or an error.
static sqz_status resolve(sqz_model *m, const char *file, const char *name, sqz_linear **out, int *perm) {
    static const char *const PRE[] = {"base_model.model.model.layers.", "base_model.model.transformer.h.",
                                      "base_model.model.h."};
    const char *p = NULL;
    for (size_t i = 0; i < sizeof PRE / sizeof *PRE && !p; i++)
        if (strncmp(name, PRE[i], strlen(PRE[i])) == 0)
            p = name + strlen(PRE[i]);
    const char *end = strstr(name, ".lora_");
    SQZ_FAIL_IF(!p || !end || p >= end || *p < '0' || *p > '9', SQZ_ERR_UNSUPPORTED,
                "%s: '%s' is not a LoRA tensor of a transformer block (unknown target)", file, name);
    char *q;
    long layer = strtol(p, &q, 10);
    SQZ_FAIL_IF(*q != '.' || layer < 0 || layer >= m->cfg.n_layer, SQZ_ERR_FORMAT,
                "%s: '%s': layer %ld out of range (the base has %lld)", file, name, layer, (long long)m->cfg.n_layer);
    q++;
    bool gpt2 = m->cfg.arch == SQZ_ARCH_GPT2;
    const lora_target *T = gpt2 ? GPT2_TARGETS : LLAMA_TARGETS;
    size_t nt = gpt2 ? sizeof GPT2_TARGETS / sizeof *T : sizeof LLAMA_TARGETS / sizeof *T;
    for (size_t i = 0; i < nt; i++)
        if (strlen(T[i].module) == (size_t)(end - q) && strncmp(q, T[i].module, (size_t)(end - q)) == 0) {
            *out = (sqz_linear *)((char *)&m->layers[layer] + T[i].member);
            *perm = T[i].perm;
            return SQZ_OK;
        }
    return sqz_error(SQZ_ERR_UNSUPPORTED, "%s: '%s': unknown target module '%.*s' for a %s model", file, name,
                     (int)(end - q), q, m->cfg.arch_name);
}

static sqz_status to_f32(const char *file, const sqz_tensor *t, int64_t rows, int64_t cols, float *out) {
    const sqz_type_traits *tt = sqz_type_traits_of(t->type);
    SQZ_FAIL_IF(!tt || !tt->to_float || tt->is_quantized, SQZ_ERR_FORMAT, "%s: '%s' has type %s (float expected)",
                file, t->name, sqz_type_name(t->type));
    SQZ_FAIL_IF(t->n_dims != 2 || t->shape[0] != rows || t->shape[1] != cols, SQZ_ERR_FORMAT,
                "%s: '%s' has shape [%lld, %lld], expected [%lld, %lld]", file, t->name, (long long)t->shape[0],
                (long long)(t->n_dims > 1 ? t->shape[1] : 0), (long long)rows, (long long)cols);
    tt->to_float(t->data, out, rows * cols);
    return SQZ_OK;
}

// HF row order (RoPE halves: row h·hd + j·hd/2 + i) → llama.cpp's adjacent pairs (h·hd + 2i + j).
static void permute_rows(const float *src, float *dst, int64_t n_rows, int64_t n_cols, int64_t n_head) {
    int64_t hd = n_rows / n_head, half = hd / 2;
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++)
                memcpy(dst + (h * hd + 2 * i + j) * n_cols, src + (h * hd + j * half + i) * n_cols,
                       (size_t)n_cols * sizeof *dst);
}

// One lora_A tensor and its lora_B partner onto the linear they name.
static sqz_status load_pair(sqz_model *m, const char *file, const sqz_safetensors *st, const sqz_tensor *ta,
                            const lora_cfg *lc) {
    char bname[512];
    SQZ_FAIL_IF(strlen(ta->name) >= sizeof bname, SQZ_ERR_FORMAT, "%s: tensor name too long", file);
    snprintf(bname, sizeof bname, "%s", ta->name);
    strstr(bname, ".lora_A.")[6] = 'B';
    const sqz_tensor *tb = sqz_safetensors_find(st, bname);
    SQZ_FAIL_IF(!tb, SQZ_ERR_FORMAT, "%s: '%s' has no partner '%s' (missing tensor)", file, ta->name, bname);
    sqz_linear *l = NULL;
    int perm = 0;
    SQZ_TRY(resolve(m, file, ta->name, &l, &perm));
    SQZ_FAIL_IF(l->lora, SQZ_ERR_FORMAT, "%s: '%s': a second adapter for the same linear", file, ta->name);
    SQZ_FAIL_IF(ta->n_dims == 2 && ta->shape[0] != lc->rank, SQZ_ERR_FORMAT,
                "%s: '%s' has rank %lld but adapter_config.json says r = %lld (rank mismatch)", file, ta->name,
                (long long)ta->shape[0], (long long)lc->rank);
    int64_t r = lc->rank, ni = l->n_in, no = l->n_out;
    sqz_lora *a = calloc(1, sizeof *a);
    float *w = malloc((size_t)(r * ni + 2 * no * r) * sizeof *w);
    if (!a || !w) {
        free(a), free(w);
        return sqz_error(SQZ_ERR_NOMEM, "adapter: out of memory");
    }
    SQZ_TRY(sqz_model_own(m, a, sizeof *a));
    SQZ_TRY(sqz_model_own(m, w, (size_t)(r * ni + no * r) * sizeof *w));
    float *fa = w, *fb = w + r * ni, *tmp = fb + no * r; // tmp: B before the row permutation
    SQZ_TRY(to_f32(file, ta, r, ni, fa));
    SQZ_TRY(to_f32(file, tb, no, r, tmp));
    for (int64_t i = 0; i < no * r; i++)
        tmp[i] = (float)(tmp[i] * lc->scale);
    bool gguf_perm = perm && sqz_model_file_layout(m->file) == SQZ_LAYOUT_GGUF && m->cfg.rope_layout == SQZ_ROPE_ADJACENT;
    if (gguf_perm)
        permute_rows(tmp, fb, no, r, perm == 1 ? m->cfg.n_head : m->cfg.n_head_kv);
    else
        memcpy(fb, tmp, (size_t)(no * r) * sizeof *fb);
    *a = (sqz_lora){.rank = r, .a = fa, .b = fb};
    l->lora = a;
    return SQZ_OK;
}

static sqz_status load_all(sqz_model *m, const char *file, const sqz_safetensors *st, const lora_cfg *lc) {
    int n = 0;
    for (int64_t i = 0; i < sqz_safetensors_n_tensors(st); i++) {
        const sqz_tensor *t = sqz_safetensors_tensor(st, i);
        if (strstr(t->name, ".lora_A.weight")) {
            SQZ_TRY(load_pair(m, file, st, t, lc));
            n++;
        } else if (strstr(t->name, ".lora_B.weight")) { // its A must exist (the pair is loaded from A)
            char aname[512];
            snprintf(aname, sizeof aname, "%s", t->name);
            strstr(aname, ".lora_B.")[6] = 'A';
            SQZ_FAIL_IF(!sqz_safetensors_find(st, aname), SQZ_ERR_FORMAT,
                        "%s: '%s' has no partner '%s' (missing tensor)", file, t->name, aname);
        } else {
            return sqz_error(SQZ_ERR_UNSUPPORTED, "%s: tensor '%s' is not a LoRA A/B weight (unsupported)", file,
                             t->name);
        }
    }
    SQZ_FAIL_IF(n == 0, SQZ_ERR_FORMAT, "%s: no lora_A/lora_B tensors", file);
    return SQZ_OK;
}

sqz_status sqz_lora_load(sqz_model *m, const char *dir) {
    char path[4096];
    lora_cfg lc = {0, 0};
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    SQZ_TRY(read_config(path, &lc));
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    sqz_safetensors *st = NULL;
    SQZ_TRY_CTX(sqz_safetensors_open(&st, path), "adapter %s: ", dir);
    sqz_status rc = load_all(m, path, st, &lc);
    sqz_safetensors_free(st);
    return rc;
}

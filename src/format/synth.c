// Random-weight GGUF models of real shapes (`sqz synth`): the speed of a model depends on its shape
// and weight type, not on its values, so these measure realistic sizes without downloads.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "format/convert.h"

typedef struct synth_shape {
    const char *name;
    int64_t n_layer, n_embd, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    double rope_theta;
    bool tied;
} synth_shape;

static const synth_shape shapes[] = {
    // HuggingFaceTB/SmolLM2-135M(-Instruct): config.json
    {"smollm2-135m", 30, 576, 9, 3, 1536, 49152, 8192, 100000.0, true},
    // TinyLlama/TinyLlama-1.1B-Chat-v1.0: config.json
    {"tinyllama-1.1b", 22, 2048, 32, 4, 5632, 32000, 2048, 10000.0, false},
    // small enough for tests
    {"tiny", 2, 64, 4, 2, 128, 512, 256, 10000.0, true},
};

static const char *const shape_names[] = {"smollm2-135m", "tinyllama-1.1b", "tiny", NULL};

const char *const *sqz_synth_shapes(void) { return shape_names; }

// ---- random numbers: splitmix64 stream per tensor, Box-Muller normals ----

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// n samples of N(0, sigma).
static void fill_normal(uint64_t *state, float *dst, int64_t n, float sigma) {
    for (int64_t i = 0; i < n; i += 2) {
        uint64_t r = splitmix64(state);
        float u1 = ((float)(r >> 40) + 1.0f) * (1.0f / 16777217.0f); // (0, 1]
        float u2 = (float)((r >> 16) & 0xffffff) * (1.0f / 16777216.0f);
        float rad = sigma * sqrtf(-2.0f * logf(u1)), ang = 6.28318530718f * u2;
        dst[i] = rad * cosf(ang);
        if (i + 1 < n)
            dst[i + 1] = rad * sinf(ang);
    }
}

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 1099511628211ull;
    return h;
}

// ---- tensors ----

typedef struct synth_ctx {
    sqz_gguf_writer *w;
    void **bufs; // data of every added tensor (the writer does not copy it)
    int64_t n_bufs;
    uint64_t seed;
    float *row; // scratch: one row of floats
} synth_ctx;

// Add a tensor of shape (rows, cols) (rows = 0: 1-D of cols): N(0, sigma) values or, with sigma = 0,
// all ones. Generated row by row into its final type.
static sqz_status synth_add(synth_ctx *s, const char *name, sqz_type type, int64_t rows, int64_t cols, float sigma) {
    int64_t nr = rows ? rows : 1;
    size_t row_bytes = sqz_type_row_size(type, cols);
    SQZ_FAIL_IF(!row_bytes, SQZ_ERR_ARG, "%s: %lld columns do not fit type %s", name, (long long)cols, sqz_type_name(type));
    uint8_t *buf = malloc(row_bytes * (size_t)nr);
    SQZ_FAIL_IF(!buf, SQZ_ERR_NOMEM, "%s: out of memory (%zu bytes)", name, row_bytes * (size_t)nr);
    s->bufs[s->n_bufs++] = buf;
    uint64_t state = s->seed ^ name_hash(name);
    for (int64_t r = 0; r < nr; r++) {
        if (sigma > 0)
            fill_normal(&state, s->row, cols, sigma);
        else
            for (int64_t c = 0; c < cols; c++)
                s->row[c] = 1.0f;
        SQZ_TRY(sqz_cv_from_float(type, s->row, buf + (size_t)r * row_bytes, cols));
    }
    int64_t shape[2] = {rows, cols};
    if (!rows)
        return sqz_gguf_writer_add_tensor(s->w, name, type, 1, &cols, buf, row_bytes);
    return sqz_gguf_writer_add_tensor(s->w, name, type, 2, shape, buf, row_bytes * (size_t)rows);
}

static sqz_status synth_tensors(synth_ctx *s, const synth_shape *sh, sqz_type t) {
    int64_t hd = sh->n_embd / sh->n_head, kv = hd * sh->n_head_kv;
    // sigma: GPT-2/Llama's initializer_range 0.02; the down projections of the residual branches are
    // scaled by 1/sqrt(2 n_layer) (GPT-2's scheme) so the residual stream stays O(1) with depth.
    float sig = 0.02f, sig_out = 0.02f / sqrtf(2.0f * (float)sh->n_layer);
    char n[64];
    SQZ_TRY(synth_add(s, "token_embd.weight", t, sh->n_vocab, sh->n_embd, sig));
    SQZ_TRY(synth_add(s, "output_norm.weight", SQZ_TYPE_F32, 0, sh->n_embd, 0));
    if (!sh->tied)
        SQZ_TRY(synth_add(s, "output.weight", t, sh->n_vocab, sh->n_embd, sig));
    for (int64_t l = 0; l < sh->n_layer; l++) {
#define T(suffix) (snprintf(n, sizeof n, "blk.%lld." suffix, (long long)l), n)
        SQZ_TRY(synth_add(s, T("attn_norm.weight"), SQZ_TYPE_F32, 0, sh->n_embd, 0));
        SQZ_TRY(synth_add(s, T("attn_q.weight"), t, sh->n_embd, sh->n_embd, sig));
        SQZ_TRY(synth_add(s, T("attn_k.weight"), t, kv, sh->n_embd, sig));
        SQZ_TRY(synth_add(s, T("attn_v.weight"), t, kv, sh->n_embd, sig));
        SQZ_TRY(synth_add(s, T("attn_output.weight"), t, sh->n_embd, sh->n_embd, sig_out));
        SQZ_TRY(synth_add(s, T("ffn_norm.weight"), SQZ_TYPE_F32, 0, sh->n_embd, 0));
        SQZ_TRY(synth_add(s, T("ffn_gate.weight"), t, sh->n_ff, sh->n_embd, sig));
        SQZ_TRY(synth_add(s, T("ffn_up.weight"), t, sh->n_ff, sh->n_embd, sig));
        SQZ_TRY(synth_add(s, T("ffn_down.weight"), t, sh->n_embd, sh->n_ff, sig_out));
#undef T
    }
    return SQZ_OK;
}

// ---- vocabulary ----

// Placeholder SentencePiece-style vocab: <unk> <s> </s>, the 256 byte tokens, then "<tok_N>" fillers.
// Any id sequence is valid and byte-level text round-trips through the byte tokens; the fillers carry
// no meaning.
static sqz_status synth_placeholder_vocab(sqz_gguf_writer *w, int64_t n) {
    sqz_gguf_str *tok = calloc((size_t)n, sizeof *tok);
    float *score = calloc((size_t)n, sizeof *score);
    int32_t *type = calloc((size_t)n, sizeof *type);
    char *text = malloc((size_t)n * 16);
    sqz_status st = tok && score && type && text ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "synth: out of memory");
    for (int64_t i = 0; !st && i < n; i++) {
        char *p = text + i * 16;
        if (i < 3)
            strcpy(p, i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
        else if (i < 259)
            snprintf(p, 16, "<0x%02X>", (unsigned)(i - 3));
        else
            snprintf(p, 16, "<tok_%d>", (int)(i % 100000000));
        tok[i] = (sqz_gguf_str){p, strlen(p)};
        type[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1; // UNKNOWN, CONTROL, BYTE, NORMAL
        score[i] = i < 259 ? 0.0f : -(float)i;
    }
    if (!st)
        st = sqz_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    if (!st)
        st = sqz_gguf_writer_set_str(w, "tokenizer.ggml.pre", "default");
    if (!st)
        st = sqz_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tok, (uint64_t)n);
    if (!st)
        st = sqz_gguf_writer_set_arr(w, "tokenizer.ggml.scores", SQZ_GGUF_FLOAT32, score, (uint64_t)n);
    if (!st)
        st = sqz_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", SQZ_GGUF_INT32, type, (uint64_t)n);
    if (!st)
        st = sqz_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    if (!st)
        st = sqz_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    if (!st)
        st = sqz_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    free(tok);
    free(score);
    free(type);
    free(text);
    return st;
}

static bool has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static sqz_status synth_vocab(sqz_gguf_writer *w, const char *vocab, const sqz_model_config *c) {
    if (!vocab)
        return synth_placeholder_vocab(w, c->n_vocab);
    if (has_suffix(vocab, ".gguf")) {
        sqz_gguf *g = NULL;
        SQZ_TRY(sqz_gguf_open(&g, vocab));
        sqz_status st = sqz_cv_copy_vocab_gguf(w, g, c->n_vocab);
        sqz_gguf_free(g);
        return st;
    }
    // tokenizer.json: use the tokenizer_config.json beside it, if any
    char tc[4096];
    const char *slash = strrchr(vocab, '/');
    int dl = slash ? (int)(slash - vocab) : 1;
    snprintf(tc, sizeof tc, "%.*s/tokenizer_config.json", dl, slash ? vocab : ".");
    return sqz_cv_write_vocab_tokenizer_json(w, vocab, tc, c);
}

static void shape_config(const synth_shape *sh, sqz_model_config *c) {
    memset(c, 0, sizeof *c);
    c->arch = SQZ_ARCH_LLAMA;
    strcpy(c->arch_name, "llama");
    c->n_vocab = sh->n_vocab;
    c->n_ctx_train = sh->n_ctx;
    c->n_embd = sh->n_embd;
    c->n_layer = sh->n_layer;
    c->n_head = sh->n_head;
    c->n_head_kv = sh->n_head_kv;
    c->head_dim = sh->n_embd / sh->n_head;
    c->n_ff = sh->n_ff;
    c->norm_eps = 1e-5;
    c->rope_theta = sh->rope_theta;
    c->rope_layout = SQZ_ROPE_ADJACENT;
    c->tie_embeddings = sh->tied;
    c->bos_id = 1;
    c->eos_id = 2;
    c->pad_id = -1;
}

sqz_status sqz_synth(const sqz_synth_opts *o, const char *out) {
    const synth_shape *sh = NULL;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (o->shape && !strcmp(o->shape, shapes[i].name))
            sh = &shapes[i];
    SQZ_FAIL_IF(!sh, SQZ_ERR_ARG, "synth: unknown shape '%s' (known: smollm2-135m, tinyllama-1.1b, tiny)",
                o->shape ? o->shape : "");
    sqz_type t = o->type;
    SQZ_FAIL_IF(t != SQZ_TYPE_F32 && t != SQZ_TYPE_F16 && t != SQZ_TYPE_BF16 && t != SQZ_TYPE_Q8_0 &&
                    t != SQZ_TYPE_Q4_0 && t != SQZ_TYPE_Q4_1,
                SQZ_ERR_ARG, "synth: type %s is not one of f32, f16, bf16, q8_0, q4_0, q4_1", sqz_type_name(t));
    sqz_model_config c;
    shape_config(sh, &c);
    synth_ctx s = {.seed = o->seed * 0x9e3779b97f4a7c15ull + 1};
    s.bufs = calloc((size_t)(4 + 9 * sh->n_layer), sizeof *s.bufs);
    s.row = malloc((size_t)(sh->n_ff > sh->n_vocab ? sh->n_ff : sh->n_vocab) * sizeof(float) + 64);
    sqz_status st = s.bufs && s.row ? sqz_gguf_writer_new(&s.w) : sqz_error(SQZ_ERR_NOMEM, "synth: out of memory");
    char name[64];
    snprintf(name, sizeof name, "synthetic %s (random weights, seed %llu)", sh->name, (unsigned long long)o->seed);
    if (!st)
        st = sqz_cv_write_hparams(s.w, &c, name, t);
    if (!st)
        st = synth_vocab(s.w, o->vocab, &c);
    if (!st)
        st = synth_tensors(&s, sh, t);
    if (!st)
        st = sqz_gguf_writer_write(s.w, out);
    for (int64_t i = 0; i < s.n_bufs; i++)
        free(s.bufs[i]);
    free(s.bufs);
    free(s.row);
    sqz_gguf_writer_free(s.w);
    return st ? sqz_error_prefix(st, "synth %s -> %s: ", sh->name, out) : SQZ_OK;
}

// Engine internals: the runnable model (weights as linear layers over the file mapping), the
// context (KV cache, scratch, pool) and the per-architecture forward passes.
#ifndef SQZ_ENGINE_INTERNAL_H
#define SQZ_ENGINE_INTERNAL_H

#include "core/error.h"
#include "core/pool.h"
#include "kernels/kernels.h"
#include "sqz/engine.h"

struct sqz_linear;

// A weight layout of sqz's own (grouped int4/int8, N:M sparse, ...) that is not one sqz_type with a
// per-row dot kernel: the layout prepares its activations and computes ranges of output rows itself.
// A loader fills sqz_linear.impl/.data (data owned by the model); linear.c dispatches on impl.
typedef struct sqz_linear_impl {
    const char *name; // layout name for messages and info, e.g. "int4 g128"
    // Bytes of one prepared activation row (0: rows reads the F32 activations as they are). At most
    // 4·n_in + 64 (the context's activation scratch is sized for that).
    size_t (*act_row_size)(const struct sqz_linear *l);
    // Prepare one activation row: x [n_in] → xa [act_row_size] (thread-safe; called per token).
    void (*prep)(const struct sqz_linear *l, const float *x, void *xa);
    // y[t][o] = W[o]·x[t] (no bias) for output rows o in [r0, r1) and tokens t in [0, n); xa holds n
    // prepared rows of act_row bytes (or the F32 rows, act_row = 4·n_in); y rows are n_out apart.
    void (*rows)(const struct sqz_linear *l, const void *xa, size_t act_row, float *y, int64_t n, int64_t r0,
                 int64_t r1);
    // Weights of output row o as floats [n_in] (exact mode, sqz_model_linear_get).
    void (*row_to_float)(const struct sqz_linear *l, int64_t o, float *out);
    // Bytes of weights (and metadata) the layer streams per token.
    size_t (*bytes)(const struct sqz_linear *l);
} sqz_linear_impl;

// y = x·Wᵀ (+ b): W is n_out rows of n_in weights of any supported type, read in place.
typedef struct sqz_linear {
    const char *name;   // tensor name, for messages
    sqz_type type;
    int64_t n_out, n_in;
    const uint8_t *w;   // [n_out][row_bytes]
    size_t row_bytes;
    const float *b;     // [n_out] or NULL
    const sqz_kernel *k;
    bool exact;         // dequantize each row to f32 and use the reference f32 dot
    const sqz_linear_impl *impl; // non-NULL: an sqz layout (type/w/row_bytes/k unused), weights in data
    const void *data;
    const struct sqz_lora *lora; // unmerged LoRA adapter added after the linear (engine/lora.h), or NULL
} sqz_linear;

typedef struct sqz_layer {
    const float *attn_norm, *attn_norm_b; // [n_embd]; _b only for LayerNorm (GPT-2)
    sqz_linear wq, wk, wv, wo;            // Llama: q (n_head*hd), k/v (n_head_kv*hd), o
    sqz_linear wqkv;                      // GPT-2: fused q|k|v, 3*n_embd outputs
    const float *ffn_norm, *ffn_norm_b;
    sqz_linear w_gate, w_up, w_down;      // Llama SwiGLU; GPT-2 uses w_up (c_fc) and w_down (c_proj)
} sqz_layer;

typedef struct sqz_owned {
    void *p;
    size_t nbytes;
} sqz_owned;

// Take ownership of p (freed with the model; nbytes counted in sqz_model_owned_bytes). On failure p
// is freed too.
sqz_status sqz_model_own(sqz_model *m, void *p, size_t nbytes);
// Free the owned block p now (weights being replaced); nothing when p is not owned by the model.
void sqz_model_disown(sqz_model *m, const void *p);

struct sqz_model {
    sqz_model_file *file;
    sqz_model_config cfg;
    sqz_load_opts opts;
    const sqz_tensor *tok_embd; // [n_vocab][n_embd], any float or block type (rows dequantized on lookup)
    const float *pos_embd;      // GPT-2: [n_ctx_train][n_embd]
    sqz_layer *layers;          // [n_layer]
    const float *out_norm, *out_norm_b;
    sqz_linear lm_head;         // [n_vocab][n_embd] (the token embedding when tied)
    float *inv_freq;            // RoPE: [head_dim/2] inverse frequencies, scaling applied
    float *rope_ff;             // RoPE as ggml: [head_dim/2] frequency divisors (1, or llama3 factors)
    float rope_theta_scale;     // base^(-2/head_dim) in float
    float rope_freq_scale;      // 1/factor for linear scaling, else 1
    const sqz_vec_ops *vec;     // float vector ops (llama.cpp rounding)
    int64_t max_n_in;           // largest n_in over all linears (scratch sizing)
    size_t max_act_row;         // largest prepared activation row of any impl linear (scratch sizing)
    sqz_owned *owned;           // transformed tensors (freed with the model or when replaced)
    int n_owned;
    size_t owned_bytes;
    char kernel_name[64];
    sqz_tokenizer *tok;    // NULL if none
    char tok_error[256];
};

struct sqz_ctx {
    sqz_model *m;
    sqz_pool *pool;
    int n_threads;
    int64_t n_ctx, n_batch, pos;
    int64_t n_ctx_pad;        // n_ctx rounded up to 32
    // k_cache and v_cache transposed, [n_layer][n_head_kv*head_dim][n_ctx_pad] (a position is a column;
    // zero-initialized so the padded tail of an attention dot reads finite values).
    float *k_cache, *v_cache;
    // Scratch for one batch of up to n_batch tokens (rows of each buffer are tokens).
    float *x, *xb, *q, *k, *v, *att_out, *hb, *hb2; // x/xb (n_embd), q/att_out (n_head*hd), k/v (kv dim), hb/hb2 (max(n_ff, 3*n_embd))
    void *xa;            // activations converted for the kernels: n_batch rows of the widest layer
    float *att;          // [n_threads][sqz_att_scratch_floats]: attention scores, queries, outputs
    float *wrow;         // [n_threads][max_n_in] exact mode: one dequantized weight row
};

// Bytes of weights a linear streams per token (0 when absent).
size_t sqz_linear_bytes(const sqz_linear *l);
// Output row o of a linear's weights as floats [n_in] (any type or impl).
void sqz_linear_row_to_float(const sqz_linear *l, int64_t o, float *out);

// Linear layer over n rows of activations: x [n][n_in] → y [n][n_out] (contiguous rows).
void sqz_linear_forward(sqz_ctx *c, const sqz_linear *l, const float *x, float *y, int64_t n);

// The same for nl linears sharing the input x (same n_in): ys[i] [n][ls[i]->n_out]. One activation
// conversion and one pool run when their kernels take the same activation type.
void sqz_linear_forward_multi(sqz_ctx *c, const sqz_linear *const *ls, float *const *ys, int nl, const float *x, int64_t n);

// One batch (n ≤ n_batch tokens at positions c->pos ..): fills the KV cache and leaves the final
// normalized hidden states in c->xb [n][n_embd]. Logits are the caller's business.
void sqz_forward_llama(sqz_ctx *c, const int32_t *ids, int64_t n);
void sqz_forward_gpt2(sqz_ctx *c, const int32_t *ids, int64_t n);

// One Llama block (layer l), the loop body of sqz_forward_llama, over the n = n_seq·seq_len rows in
// c->x (n ≤ n_batch): n_seq independent sequences of seq_len tokens, each at positions
// pos0 .. pos0+seq_len-1 of layer l's cache (pos0 + seq_len ≤ n_ctx) and attending only to its own
// tokens and the cache before pos0. Decoding is one sequence at c->pos; calibration capture
// (sqz_block_forward) many at 0. cb (may be NULL) sees the input rows of the linears at each
// sqz_capture_point; when it returns non-zero the block stops there and returns false (c->x is then
// partly updated). Returns true when the block ran to the end (c->x holds its output).
bool sqz_llama_block(sqz_ctx *c, int64_t l, int64_t n_seq, int64_t seq_len, int64_t pos0, sqz_capture_cb cb,
                     void *user);
// RMSNorm of n rows of d (ggml's roundings): out[t] = x[t] / rms(x[t]) · w.
void sqz_rmsnorm_rows(float *out, const float *x, const float *w, int64_t n, int64_t d, float eps);

// Write n tokens' k and v rows (row stride ldkv) into layer l's cache at positions pos0...
void sqz_cache_store(sqz_ctx *c, int64_t l, int64_t pos0, int64_t n, const float *k, const float *v, int64_t ldkv);

// Causal attention for tokens t in [0, n) at positions pos0+t, reading layer l's cache:
// q [n][n_head*hd] → out [n][n_head*hd]. Uses the pool (one (token, head) pair per task).
void sqz_attention(sqz_ctx *c, int64_t l, int64_t pos0, int64_t n);
// Queries one attention work item holds at most (the heads of a kv group × a tile of tokens), and the
// floats of one thread's attention scratch: scores [SQZ_ATT_Q][n_ctx_pad], queries and outputs
// [SQZ_ATT_Q][head_dim] each.
#define SQZ_ATT_Q 16
size_t sqz_att_scratch_floats(const sqz_ctx *c);

// ---- GPTQ-layout linears (gptq_load.c) ----
// Whether the HF model has <base>.qweight for a weight named <base>.weight.
bool sqz_gptq_linear_present(const sqz_model *m, const char *weight_name);
// Unpack <base>.{qweight,qzeros,scales,g_idx} (bits/format from config.json's quantization_config)
// and repack them into the grouped-int layout (impl_qgroup.c), or a dense F32 linear [n_out][n_in]
// when that layout cannot hold the shape; allocations are owned by the model.
sqz_status sqz_gptq_linear_load(sqz_model *m, sqz_linear *l, const char *weight_name, int64_t n_out, int64_t n_in);

// ---- sqz's sparse layouts of pruned linears (impl_sparse.c) ----
// Whether the HF model has <base>.sp_values (N:M compressed) or <base>.csr_val (CSR) for <base>.weight.
bool sqz_sparse_linear_present(const sqz_model *m, const char *weight_name);
// Load that layout into l: N:M as an sqz_linear_impl over the sparse kernels, CSR decoded to dense
// F16. *owned (bytes *bytes) is the allocation to free with the model.
sqz_status sqz_sparse_linear_load(sqz_model *m, sqz_linear *l, const char *weight_name, int64_t n_out, int64_t n_in,
                                  void **owned, size_t *bytes);

#endif

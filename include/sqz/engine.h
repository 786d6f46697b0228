// The inference engine: a runnable model (Llama and GPT-2 families) over a memory-mapped model
// file, per-sequence contexts with a KV cache, batched evaluation, sampling and generation.
//
// Ownership: a sqz_model owns its sqz_model_file (weights stay in the mapping; only transformed
// tensors, e.g. GPT-2 Conv1D weights transposed to [out, in], are copied). A sqz_ctx borrows its
// model (free contexts before the model) and owns its KV cache, scratch and thread pool.
// Activations and the KV cache are F32.
#ifndef SQZ_ENGINE_H
#define SQZ_ENGINE_H

#include <stdbool.h>

#include "sqz/common.h"
#include "sqz/format.h"
#include "sqz/tokenizer.h"
#include "sqz/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sqz_model sqz_model;
typedef struct sqz_ctx sqz_ctx;

typedef struct sqz_load_opts {
    // Use the exact path for every weight type: activations stay F32 and block-quantized weights
    // are dequantized row by row (scalar reference); slow, for checking. The default (false)
    // quantizes activations to 8-bit blocks for Q8_0/Q4_0/Q4_1 weights, as llama.cpp does.
    bool exact;
    // A PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors) to run
    // unmerged on top of the base: every targeted linear adds the F32 term (alpha/r)·B·(A·x).
    // NULL: none. Works for every base format (F32/F16/BF16, GGUF of any type, GPTQ layout).
    const char *adapter;
} sqz_load_opts;

// Open a model (HF directory, .gguf, or a file inside an HF directory) and prepare it to run.
// opts may be NULL (defaults). Errors: anything sqz_model_file_open reports, unsupported
// architecture or weight type, missing tensors, shape mismatches — each naming the file/tensor.
sqz_status sqz_model_load(sqz_model **out, const char *path, const sqz_load_opts *opts);
void sqz_model_free(sqz_model *m);

const sqz_model_config *sqz_model_get_config(const sqz_model *m);
const sqz_model_file *sqz_model_get_file(const sqz_model *m);
// Bytes of weights read to generate one token (all linear layers + lm_head + one embedding row).
size_t sqz_model_weight_bytes(const sqz_model *m);
// The model's parameters as the architecture counts them (embeddings, every linear's weights and
// biases, norms; a tied lm_head once), whatever the storage: packed int4 or a 2:4 layout count every
// weight of the matrix they hold (pruned ones included). Structured pruning gives smaller shapes.
int64_t sqz_model_n_params(const sqz_model *m);
// Bytes the engine allocated for transformed weights (0 when everything is used from the mapping).
size_t sqz_model_owned_bytes(const sqz_model *m);
// The model's tokenizer (GGUF tokenizer.ggml.* keys, or the HF directory's tokenizer.json), or NULL
// when it has none or it failed to load; sqz_model_tokenizer_error then says why. Owned by the model.
const sqz_tokenizer *sqz_model_tokenizer(const sqz_model *m);
const char *sqz_model_tokenizer_error(const sqz_model *m);
// Short description of the kernels in use ("avx2", "avx512-vnni", "ref"; "+exact" when exact).
const char *sqz_model_kernel_name(const sqz_model *m);

// ---- contexts ------------------------------------------------------------------------------------
// A context holds one sequence: a KV cache of n_ctx positions (0 → the model's training context),
// scratch buffers sized for batches of up to n_batch tokens (0 → 512) and a pool of n_threads
// threads (0 → physical cores).
sqz_status sqz_ctx_new(sqz_ctx **out, sqz_model *m, int64_t n_ctx, int64_t n_batch, int n_threads);
void sqz_ctx_free(sqz_ctx *c);
// Forget the sequence (position back to 0); keeps the allocations.
void sqz_ctx_reset(sqz_ctx *c);
// Number of positions filled so far; the capacity; the thread count.
int64_t sqz_ctx_pos(const sqz_ctx *c);
int64_t sqz_ctx_n_ctx(const sqz_ctx *c);
int sqz_ctx_n_threads(const sqz_ctx *c);
// Bytes of the KV cache of the whole context (K and V, all layers, n_ctx positions).
size_t sqz_ctx_kv_bytes(const sqz_ctx *c);

// Logits wanted from sqz_ctx_eval.
typedef enum sqz_eval_logits {
    SQZ_LOGITS_NONE = 0, // only fill the KV cache
    SQZ_LOGITS_LAST = 1, // logits of the last token: [n_vocab]
    SQZ_LOGITS_ALL = 2,  // logits of every token: [n][n_vocab], row-major
} sqz_eval_logits;

// Feed n tokens at positions pos..pos+n-1 (any n ≥ 1; batches larger than n_batch are split) and
// write the requested logits. Errors: SQZ_ERR_RANGE for an id outside [0, n_vocab) or when the
// tokens would not fit in the context (nothing is evaluated then).
sqz_status sqz_ctx_eval(sqz_ctx *c, const int32_t *ids, int64_t n, sqz_eval_logits want, float *logits);

// Parse a list of token ids separated by spaces and/or commas ("1 2,3"). *ids is malloc'd (caller
// frees). SQZ_ERR_ARG naming the offending item for anything that is not a non-negative integer.
sqz_status sqz_parse_ids(const char *s, int32_t **ids, int64_t *n);

// ---- sampling ------------------------------------------------------------------------------------
typedef struct sqz_sampler_params {
    float temp;           // <= 0: greedy (argmax, ties → lowest id)
    int top_k;            // <= 0: off
    float top_p;          // 1: off; in (0, 1]
    float min_p;          // 0: off; in [0, 1]
    float repeat_penalty; // 1: off; > 0 (llama.cpp rule: divide positive logits, multiply negative)
    int repeat_last_n;    // how many recent tokens the penalty looks at
    uint64_t seed;
} sqz_sampler_params;

typedef struct sqz_sampler sqz_sampler;

// Defaults: temp 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1, repeat_last_n 64, seed 0.
sqz_sampler_params sqz_sampler_default_params(void);
// Validates every value (SQZ_ERR_ARG naming the parameter).
sqz_status sqz_sampler_new(sqz_sampler **out, const sqz_sampler_params *p, int64_t n_vocab);
void sqz_sampler_free(sqz_sampler *s);
// Pick a token from one row of logits (the row is not modified); uses the recent-token history.
int32_t sqz_sampler_sample(sqz_sampler *s, const float *logits);
// Record a token in the history (prompt tokens and generated ones) for the repetition penalty.
void sqz_sampler_accept(sqz_sampler *s, int32_t id);

// ---- generation ----------------------------------------------------------------------------------
// Called for each generated token; return non-zero to stop.
typedef int (*sqz_token_cb)(void *user, int32_t id);
// Called with the ids generated so far; return non-zero to stop (e.g. a stop string was seen).
typedef int (*sqz_stop_cb)(void *user, const int32_t *ids, int64_t n);

typedef struct sqz_generate_opts {
    int64_t n_predict; // maximum new tokens (< 0: until EOS or the context is full)
    bool ignore_eos;   // keep going after the model's EOS token
    sqz_token_cb on_token;
    sqz_stop_cb should_stop;
    void *user;
} sqz_generate_opts;

// Reset the context, evaluate the prompt, then sample up to n_predict tokens. Generated ids go
// to out (capacity max_out; *n_out set). An end-of-generation token (the tokenizer's EOS/EOT
// tokens, else the config's eos_id) ends generation unless ignore_eos, and is not included. Errors: empty prompt, prompt too long for the context, ids out of range.
sqz_status sqz_generate(sqz_ctx *c, sqz_sampler *s, const int32_t *prompt, int64_t n_prompt,
                        const sqz_generate_opts *o, int32_t *out, int64_t max_out, int64_t *n_out);

// ---- perplexity (llama-perplexity's default mode) --------------------------------------------------
typedef struct sqz_ppl_result {
    int64_t n_chunks, n_scored;
    double ppl, ppl_err;           // exp(mean nll) and llama.cpp's ± estimate
} sqz_ppl_result;
// Called after each chunk with the chunk index and the cumulative perplexity so far.
typedef void (*sqz_ppl_cb)(void *user, int64_t chunk, int64_t n_chunks, double ppl_so_far);

// Non-overlapping chunks of n_chunk_ctx tokens; each chunk evaluated from position 0 with its first
// token replaced by bos_id (if bos_id >= 0); the second half (j in [n/2, n-2]) scored against the
// next token. Needs a context with n_ctx >= n_chunk_ctx and at least one full chunk of tokens
// (SQZ_ERR_ARG otherwise). Leftover tokens after the last full chunk are ignored.
sqz_status sqz_perplexity(sqz_ctx *c, const int32_t *tokens, int64_t n_tokens, int64_t n_chunk_ctx,
                          int32_t bos_id, sqz_ppl_cb cb, void *user, sqz_ppl_result *out);

// ---- bandwidth probe -------------------------------------------------------------------------------
// Measure the machine's memory read bandwidth in GB/s (1e9 bytes/s): n_threads threads (0 → physical
// cores) stream-read disjoint parts of a freshly allocated buffer of `bytes` (0 → 1 GiB); best of
// `reps` passes after one warm-up pass. SQZ_ERR_NOMEM if the buffer cannot be allocated.
sqz_status sqz_measure_read_bandwidth(int n_threads, size_t bytes, int reps, double *gbps);

// ---- BLAS ----------------------------------------------------------------------------------------
// The OPENBLAS_CORETYPE value sqz should run with, or NULL when OpenBLAS's own choice is fine (or the
// variable is already set). OpenBLAS picks its kernels from its CPUID table when it is loaded, and an
// older OpenBLAS on a newer CPU falls back to a much slower core type (measured: "Prescott", 3.7x
// slower sgemm than "SkylakeX" on an Emerald Rapids Xeon). It reads the variable only at load time, so
// a program acts on the answer by re-executing itself with it set (the sqz program does).
const char *sqz_blas_coretype_wanted(void);
// What numbers computed here depend on besides model and settings, for result signatures: the CPU
// features, the kernel tier in use (SQZ_ISA may lower it) and OpenBLAS's core type, as
// "avx2 fma ...; kernels avx512-vnni; openblas SkylakeX". Static storage.
const char *sqz_compute_env(void);

// ================================ calibration capture ============================================
// What the compress pipeline needs from the engine: run the transformer one block at a time on
// many calibration sequences, see the input of every linear, and replace weights in memory.
// Llama family only (GPT-2: SQZ_ERR_UNSUPPORTED).

// The linear layers of a Llama block, in forward order.
typedef enum sqz_lin_role {
    SQZ_LIN_Q = 0, SQZ_LIN_K, SQZ_LIN_V, SQZ_LIN_O, SQZ_LIN_GATE, SQZ_LIN_UP, SQZ_LIN_DOWN, SQZ_LIN_COUNT
} sqz_lin_role;

// The four distinct linear inputs of a block: q/k/v share ATTN_IN (rmsnorm(x)), o reads ATTN_OUT
// (the attention heads), gate/up share MLP_IN (rmsnorm(x)), down reads MLP_MID (silu(gate)·up).
typedef enum sqz_capture_point {
    SQZ_CAP_ATTN_IN = 0, SQZ_CAP_ATTN_OUT, SQZ_CAP_MLP_IN, SQZ_CAP_MLP_MID, SQZ_CAP_COUNT
} sqz_capture_point;

// Capture point of each role (Q/K/V → ATTN_IN, ...).
sqz_capture_point sqz_lin_role_input(sqz_lin_role r);
// "q", "k", "v", "o", "gate", "up", "down".
const char *sqz_lin_role_name(sqz_lin_role r);

// Called with the rows x [n][width] that are about to enter the linears of a capture point.
// Return non-zero to stop the block there (the hidden states are then left unchanged).
typedef int (*sqz_capture_cb)(void *user, sqz_capture_point p, const float *x, int64_t n, int64_t width);

typedef struct sqz_linear_info {
    const char *name; // tensor name in the model file (GGUF or HF naming)
    sqz_type type;
    int64_t n_out, n_in;
    bool has_bias;
} sqz_linear_info;

// The output head as a "layer" of the linear functions below (the role is then ignored): its weights
// are the token embedding when the model ties them (sqz_model_head_tied); replacing them unties the
// head and leaves the embedding as it was.
#define SQZ_LAYER_HEAD (-1)
// Whether the output head reads the token-embedding matrix (tied embeddings, not replaced since).
bool sqz_model_head_tied(const sqz_model *m);
// out[n][n_embd] = the final norm of the hidden states x[n][n_embd] (what the output head reads).
sqz_status sqz_model_final_norm(const sqz_model *m, const float *x, int64_t n, float *out);

// Shape, type and tensor name of linear `r` of block `layer` (or of the head, SQZ_LAYER_HEAD; its name is
// the embedding's when tied). Errors: layer/role out of range, a GPT-2 model.
sqz_status sqz_model_linear_info(const sqz_model *m, int64_t layer, sqz_lin_role r, sqz_linear_info *out);
// The weights dequantized to out[n_out][n_in] (F32).
sqz_status sqz_model_linear_get(const sqz_model *m, int64_t layer, sqz_lin_role r, float *out);
// Replace the weights by `data` (n_out · row_size(type, n_in) bytes of any type the engine runs),
// copied into memory the model owns; biases are kept. What the layer ran on before is let go: an earlier
// replacement is freed, and the layer's pages of the file mapping are dropped from the resident set
// (the file is never written; they are read again if touched).
sqz_status sqz_model_linear_set(sqz_model *m, int64_t layer, sqz_lin_role r, sqz_type type, const void *data,
                                size_t nbytes);
struct sqz_qweight; // sqz/quant.h
// Replace the weights by integer weights q, run in the grouped-int layout the engine uses for GPTQ
// checkpoints (what a saved variant runs), packed into model-owned memory; earlier weights let go as by
// sqz_model_linear_set. Errors: a shape mismatch; SQZ_ERR_UNSUPPORTED when the layout cannot hold q
// (input scales, groups that are not whole multiples of 32 columns) — the layer is then unchanged.
sqz_status sqz_model_linear_set_qweight(sqz_model *m, int64_t layer, sqz_lin_role r, const struct sqz_qweight *q);
// The RMSNorm weights [n_embd] in front of the attention (ffn = false) or the MLP (ffn = true);
// _set copies `w` into owned memory (AWQ folds its input scales there).
sqz_status sqz_model_norm_get(const sqz_model *m, int64_t layer, bool ffn, const float **out);
sqz_status sqz_model_norm_set(sqz_model *m, int64_t layer, bool ffn, const float *w);

// Token embeddings of ids[n] into x [n][n_embd]. Errors: ids outside the vocabulary.
sqz_status sqz_model_embed(const sqz_model *m, const int32_t *ids, int64_t n, float *x);

// Run block `layer` in place on x [n_seq·seq_len][n_embd]: n_seq independent sequences of
// seq_len tokens, each at positions 0..seq_len−1 (the context's KV cache of that layer is
// overwritten). cb (may be NULL) sees each capture point's input for all rows. The context needs
// n_ctx ≥ n_seq·seq_len (its batch size is the rows per call). Mirrors sqz_forward_llama's block
// exactly (tests/compress checks that all blocks + sqz_model_head give sqz_ctx_eval's logits).
sqz_status sqz_block_forward(sqz_ctx *c, int64_t layer, float *x, int64_t n_seq, int64_t seq_len,
                             sqz_capture_cb cb, void *user);
// Final norm and lm_head: x [n][n_embd] → logits [n][n_vocab] (x is left unchanged).
sqz_status sqz_model_head(sqz_ctx *c, const float *x, int64_t n, float *logits);

#ifdef __cplusplus
}
#endif
#endif

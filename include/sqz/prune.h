// Pruning and low-rank compression of linear layers, and the sparse storage formats that make a
// pruned weight actually smaller. Like the quant module, everything works on one row-major weight
// W [n_out][n_in] (n_in contiguous) plus activation statistics of that layer's input
// (sqz_actstats); the compress pipeline walks a model and calls these per layer. Masks are
// uint8_t [n_out][n_in], 1 = kept, 0 = pruned (the weight is set to 0). Exact definitions, storage
// layouts and what is real vs simulated: docs/prune.md.
#ifndef SQZ_PRUNE_H
#define SQZ_PRUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sqz/common.h"
#include "sqz/quant.h"

#ifdef __cplusplus
extern "C" {
#endif

// ================================ sparsity patterns ==============================================
// N:M semi-structured sparsity: in every group of M consecutive input columns of a row, at most N
// weights are kept (NVIDIA's convention: 2:4 keeps 2 of 4). n = m = 0 means unstructured.
typedef struct sqz_nm {
    int n, m;
} sqz_nm;

// Parse "none" or "N:M" (1 <= N < M, M a power of two in 4..64). Errors name the text.
sqz_status sqz_nm_parse(const char *text, sqz_nm *out);
// Check that a pattern fits a weight: 1 <= N < M <= 64, n_in a multiple of M. `method` prefixes the
// message.
sqz_status sqz_nm_check(const char *method, sqz_nm nm, int64_t n_in);

// Fraction of zeros in w[0..n).
double sqz_sparsity_of(const float *w, size_t n);

// ================================ unstructured / N:M masks =======================================
// Magnitude pruning of one layer: prunes exactly floor(sparsity · n_out · n_in) weights of
// smallest |w| (ties: lower flat index first), or with an N:M pattern the M − N smallest of every
// group (sparsity is then ignored). w is modified in place; mask (may be NULL) receives the mask.
// Errors: sparsity outside [0, 1), bad pattern, n_in not a multiple of M.
sqz_status sqz_prune_magnitude(float *w, int64_t n_out, int64_t n_in, double sparsity, sqz_nm nm, uint8_t *mask);

// Global magnitude pruning over several layers: one threshold over all their weights, exactly
// floor(sparsity · Σ n_out·n_in) pruned (ties: earlier layer, then lower index first). ws[i] is
// [n_out[i]][n_in[i]], modified in place; masks may be NULL or hold NULL entries.
sqz_status sqz_prune_magnitude_global(float *const *ws, const int64_t *n_out, const int64_t *n_in, int n_layers,
                                      double sparsity, uint8_t *const *masks);

// Wanda (Sun et al. 2023, "A Simple and Effective Pruning Approach for LLMs"): score
// S[o][j] = |W[o][j]| · ‖X_j‖₂ with ‖X_j‖₂² = Σ x_j² over the calibration rows (stats->sq_sum);
// unstructured: per output row, the floor(sparsity · n_in) lowest scores are pruned (stable: ties
// by column); N:M: the M − N lowest of every group. As the reference `prune_wanda` (no variant).
sqz_status sqz_prune_wanda(float *w, int64_t n_out, int64_t n_in, const sqz_actstats *stats, double sparsity,
                           sqz_nm nm, uint8_t *mask);

typedef struct sqz_sparsegpt_params {
    double sparsity; // unstructured target (ignored with an N:M pattern)
    sqz_nm nm;       // {0, 0} = unstructured
    double damp;     // fraction of mean(diag H) added to the diagonal (0.01)
    int block;       // Bs: columns per lazy-update block, also the adaptive mask interval (128)
    sqz_qparams q;   // q.bits = 0: prune only; 2..8: joint quantization (AutoGPTQ quantizer; group
                     // 0 = per row with parameters from the unpruned W as the reference does)
} sqz_sparsegpt_params;

// SparseGPT (Frantar & Alistarh 2023) as the reference `fasterprune`: H = 2/n Σ xxᵀ, dead
// columns, damping, U = chol(H⁻¹) upper; per block of Bs columns, mask from w²/U_jj² (unstructured:
// over the whole n_out × Bs block; N:M: every M columns per row), then column by column: prune
// (and quantize), OBS update of the block's remaining columns, lazy update of the rest. w is
// replaced by the pruned (and fake-quantized) weights; mask may be NULL; with q.bits > 0 and qw
// non-NULL, *qw receives the integer codes (pruned weights hold the zero point's code). loss
// (may be NULL) receives Σ (w−q)²/U_jj² / 2. Errors as GPTQ's plus sparsity/pattern checks.
sqz_status sqz_prune_sparsegpt(float *w, int64_t n_out, int64_t n_in, const sqz_actstats *stats,
                               sqz_sparsegpt_params p, uint8_t *mask, sqz_qweight **qw, double *loss);

// Keep a mask through a later quantization step (`wanda:... + gptq:...`): GPTQ/AWQ/RTN do not know
// the mask, and GPTQ's updates make pruned weights nonzero again, so the pipeline re-applies it:
// codes of masked weights are set to their group's zero point, i.e. they dequantize to exactly 0.
void sqz_qweight_apply_mask(sqz_qweight *q, const uint8_t *mask);

// ================================ low rank =======================================================
// W ≈ A·B with A [n_out][rank], B [rank][n_in] from the truncated SVD (LAPACK dgesdd).
// Activation-aware (stats != NULL): s_j = sqrt(Σ x_j² / n_rows) (1 for dead columns);
// W·diag(s) = UΣVᵀ, A = U_r Σ_r, B = V_rᵀ diag(s)⁻¹, which minimises ||X Wᵀ − X (AB)ᵀ|| when the
// input columns are uncorrelated (see docs/prune.md). rank > 0 fixes the rank; otherwise the
// smallest rank whose Σσ² reaches `energy` of the total. Errors: rank > min(n_out, n_in), energy
// outside (0, 1], SVD failure.
typedef struct sqz_lowrank {
    int64_t n_out, n_in, rank;
    float *a;        // [n_out][rank]
    float *b;        // [rank][n_in]
    double energy;   // kept Σσ² / total (of the scaled matrix when activation-aware)
} sqz_lowrank;

sqz_status sqz_lowrank_svd(const float *w, int64_t n_out, int64_t n_in, const sqz_actstats *stats, int64_t rank,
                           double energy, sqz_lowrank **out);
void sqz_lowrank_free(sqz_lowrank *lr);
// out[n_out][n_in] = A·B.
void sqz_lowrank_product(const sqz_lowrank *lr, float *out);

// ================================ structured pruning =============================================
// Channel scores are Wanda-style, aggregated (as in Wanda's structured variant and FLAP/LLM-Pruner
// style width pruning): for input channel j of the layer that consumes a structure,
// s_j = ‖X_j‖₂ · Σ_o |W[o][j]|. Attention heads are scored on o_proj (input = the concatenated
// head outputs), MLP channels on down_proj (input = the intermediate activations).

// scores[n_in] of the input channels of W [n_out][n_in] with its input statistics.
sqz_status sqz_prune_channel_scores(const float *w, int64_t n_out, int64_t n_in, const sqz_actstats *stats,
                                    double *scores);

// Scores of the n_kv_heads head groups of an attention layer: the sum of the channel scores of
// o_proj's columns belonging to the group's query heads (n_heads/n_kv_heads heads of head_dim).
// Dropping heads drops whole GQA groups, so a model keeps n_heads % n_kv_heads == 0.
sqz_status sqz_prune_head_scores(const float *w_o, int64_t d_model, int n_heads, int n_kv_heads, int head_dim,
                                 const sqz_actstats *o_in, double *group_scores);

// The k lowest of scores[0..n) (ties: lower index), marked keep[i] = 0; the others keep[i] = 1.
// Errors: k < 0 or k >= n (something must remain).
sqz_status sqz_prune_lowest(const double *scores, int64_t n, int64_t k, uint8_t *keep);

// Copy the kept rows (keep[n_out]) / columns (keep[n_in]) of W into dst, a smaller dense matrix
// [kept][n_in] / [n_out][kept]. Returns the number kept.
int64_t sqz_matrix_keep_rows(const float *w, int64_t n_out, int64_t n_in, const uint8_t *keep, float *dst);
int64_t sqz_matrix_keep_cols(const float *w, int64_t n_out, int64_t n_in, const uint8_t *keep, float *dst);

// A structured pruning plan for a model with n_layer blocks. NULL arrays keep everything of that
// kind. keep_kv_group[l][g] (g < n_head_kv) keeps KV group g of layer l together with its
// n_head/n_head_kv query heads; keep_ff[l][j] keeps MLP channel j. Kept layers must keep the same
// number of groups and of channels (HF config.json holds one value of each).
typedef struct sqz_structured_plan {
    int n_layer;
    const uint8_t *keep_layer;            // [n_layer]
    const uint8_t *const *keep_kv_group;  // [n_layer][n_head_kv]
    const uint8_t *const *keep_ff;        // [n_layer][n_ff]
} sqz_structured_plan;

// Write the pruned model of the HF directory in_dir (llama, mistral, qwen2) into out_dir: a
// smaller dense model.safetensors (q/k/v rows and o_proj columns of dropped heads, gate/up rows
// and down_proj columns of dropped channels, dropped blocks removed and the rest renumbered),
// config.json with the new num_hidden_layers, num_attention_heads, num_key_value_heads,
// intermediate_size and an explicit head_dim, and the tokenizer files. Convert it to GGUF with
// sqz_convert. Errors: a GGUF input, GPT-2, a plan that does not fit the config or is not uniform.
sqz_status sqz_prune_structured(const char *in_dir, const char *out_dir, const sqz_structured_plan *plan);

// Block influence (ShortGPT, Men et al. 2024): BI = 1 − mean_t cos(x_in_t, x_out_t) over the
// calibration tokens t of a transformer block's input and output hidden states. Accumulate over
// batches, then read.
typedef struct sqz_block_influence {
    double sum_cos;
    int64_t n_tokens;
} sqz_block_influence;

// x_in, x_out: [n_tokens][d]. A zero vector counts as cosine 1 (no change). Errors: d <= 0.
sqz_status sqz_block_influence_add(sqz_block_influence *bi, const float *x_in, const float *x_out, int64_t n_tokens,
                                   int64_t d);
// 1 − mean cosine; error if nothing was accumulated.
sqz_status sqz_block_influence_get(const sqz_block_influence *bi, double *out);

// ================================ sparse storage =================================================
// A pruned weight stored compressed. N:M layouts (2:4, 4:8) keep exactly n_in/2 values per row
// (rows with fewer nonzeros in a group store explicit zeros) plus 2 bits of metadata per kept value;
// values are F16, or symmetric group-quantized int8/int4 with one fp16 scale per `group` input
// columns and row. Byte-exact layouts: docs/prune.md. Unstructured sparsity uses CSR, and only when
// it is smaller than the dense tensor.
typedef enum sqz_sp_values {
    SQZ_SP_F16 = 0,
    SQZ_SP_I8 = 1, // codes −127..127
    SQZ_SP_I4 = 2, // codes −8..7, stored +8 in nibbles
} sqz_sp_values;

typedef struct sqz_sparse_nm {
    int64_t n_out, n_in;
    int n, m;             // 2:4 or 4:8
    sqz_sp_values vt;
    int group;            // int types: columns per scale (a multiple of 64); 0 for F16
    size_t values_row;    // bytes of one row of values
    size_t meta_row;      // bytes of one row of metadata (n_in/8)
    uint8_t *values;      // [n_out][values_row]
    uint8_t *meta;        // [n_out][meta_row]
    uint16_t *scales;     // [n_out][n_in/group] fp16 (int types), else NULL
    uint8_t *zeros;       // int4 only: [n_out][n_in/group] zero points 0..16, value = scale·(nibble − zero);
                          // NULL: symmetric, zero 8 (nibble = code + 8)
} sqz_sparse_nm;

// Encode W [n_out][n_in] (which must already satisfy the N:M pattern: at most n nonzeros in every
// group of m) into a new sparse tensor. nm must be 2:4 or 4:8, n_in a multiple of 64; int types
// need group a multiple of 64 dividing n_in. Int codes: scale = max|w|/qmax per (row, group) over
// the kept values, code = round(w/scale) clamped (qmax 127 or 7). Errors name the violating row.
sqz_status sqz_sparse_nm_encode(const float *w, int64_t n_out, int64_t n_in, sqz_nm nm, sqz_sp_values vt, int group,
                                sqz_sparse_nm **out);
// Encode int4 weights given as GPTQ-form codes — codes [n_out][n_in] (0..15), scales and zero points per
// (group, row) laid out [n_groups][n_out] (as sqz_qweight: scales fp16-representable, zeros 0..16),
// groups of n_in/n_groups contiguous columns — into an N:M int4 tensor with zero points holding the
// same weights exactly. A weight counts as pruned when its code equals its group's zero point (its
// value is 0); every group of m columns must have at most n others. Errors: a group of columns that
// is not a multiple of 64, a code or zero out of range, a group of m with too many nonzero weights.
sqz_status sqz_sparse_nm_encode_int4(const uint8_t *codes, const float *scales, const int32_t *zeros, int64_t n_out,
                                     int64_t n_in, int64_t n_groups, sqz_nm nm, sqz_sparse_nm **out);
void sqz_sparse_nm_free(sqz_sparse_nm *s);
// Decode into out[n_out][n_in] (dense, zeros where pruned).
void sqz_sparse_nm_decode(const sqz_sparse_nm *s, float *out);
// F16 values only: the dense row-major [n_out][n_in] fp16 bit patterns (zeros where pruned).
void sqz_sparse_nm_decode_f16(const sqz_sparse_nm *s, uint16_t *out);
// Bytes of the stored tensor (values + metadata + scales).
size_t sqz_sparse_nm_nbytes(const sqz_sparse_nm *s);
// Bytes the same values take dense (F16: 2·n; int8: n + scales; int4: n/2 + scales).
size_t sqz_sparse_nm_dense_nbytes(const sqz_sparse_nm *s);

// Unstructured: CSR with F16 values, uint16 column indices (n_in ≤ 65536) and uint32 row pointers.
typedef struct sqz_sparse_csr {
    int64_t n_out, n_in, nnz;
    uint32_t *row_ptr; // [n_out + 1]
    uint16_t *col;     // [nnz]
    uint16_t *val;     // [nnz] fp16
} sqz_sparse_csr;

// Bytes of CSR for nnz nonzeros: 4(n_out+1) + 4·nnz; dense F16 is 2·n_out·n_in. CSR is smaller only
// below 50 % density (minus the row pointers).
size_t sqz_sparse_csr_nbytes_for(int64_t n_out, int64_t nnz);
// Encode W as CSR if that is smaller than dense F16: *out = NULL (and SQZ_OK) when it is not.
sqz_status sqz_sparse_csr_encode(const float *w, int64_t n_out, int64_t n_in, sqz_sparse_csr **out);
void sqz_sparse_csr_free(sqz_sparse_csr *s);
void sqz_sparse_csr_decode(const sqz_sparse_csr *s, float *out);

// What a pruned layer is stored as, for the manifest. Storage sizes are for F16 values.
typedef enum sqz_sp_storage {
    SQZ_SP_STORE_DENSE = 0, // zeros kept in a dense tensor: sparsity simulated, nothing saved
    SQZ_SP_STORE_NM = 1,    // 2:4 / 4:8 compressed (sqz_sparse_nm), sparse GEMV kernel
    SQZ_SP_STORE_CSR = 2,   // CSR (sqz_sparse_csr): smaller on disk, no sparse kernel (decoded at load)
} sqz_sp_storage;

typedef struct sqz_sparse_summary {
    double sparsity;        // achieved fraction of exact zeros
    sqz_nm nm;              // 2:4 or 4:8 when every group satisfies it (2:4 preferred), else {0, 0}
    sqz_sp_storage storage; // NM when nm is set and n_in % 64 == 0; else CSR when smaller; else DENSE
    size_t nbytes;          // bytes as stored
    size_t dense_nbytes;    // bytes of the dense F16 tensor
    const char *describe;   // one line for `sqz info`, saying plainly when sparsity is only simulated
} sqz_sparse_summary;

// Summarise W [n_out][n_in] (any values; zeros count as pruned).
void sqz_sparse_summarize(const float *w, int64_t n_out, int64_t n_in, sqz_sparse_summary *out);

// ================================ one pruning step on one layer ==================================
// Apply an unstructured/N:M pruning step (magnitude with scope=layer, wanda, sparsegpt) or
// lowrank to W [n_out][n_in] in place (lowrank: W becomes A·B and *lr, if non-NULL, receives the
// factors). sparsegpt with bits > 0 also fills *qw when non-NULL. Structured steps (heads, mlp,
// layers) and magnitude scope=global act on a whole model and are rejected here with a message
// saying so. Errors: missing statistics for steps that need them, shape mismatches.
sqz_status sqz_prune_layer(const sqz_recipe_step *step, float *w, int64_t n_out, int64_t n_in,
                           const sqz_actstats *stats, uint8_t *mask, sqz_qweight **qw, sqz_lowrank **lr);

#ifdef __cplusplus
}
#endif
#endif

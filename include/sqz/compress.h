// The compress pipeline: apply a recipe's quantization steps to a real model layer by layer with
// calibration data, keep the result runnable in memory, and save it as a GGUF (when the weights
// fit llama.cpp's types), a Hugging Face directory (GPTQ/AutoGPTQ layout for integer weights) and a
// manifest. Exact behaviour, file layouts and the calibration split: docs/compress.md.
#ifndef SQZ_COMPRESS_H
#define SQZ_COMPRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "sqz/common.h"
#include "sqz/engine.h"
#include "sqz/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

// ================================ corpus and calibration =========================================
// The default corpus, relative to the project root (tests and the CLI run there).
#define SQZ_CALIB_DEFAULT_PATH "../shared/data/datasets/python-corpus/cpython-3.11.2-stdlib-toplevel.tar"

// The text of one side of the split: the members of a tar corpus that are (heldout) or are not
// held out, in archive order, each followed by "\n". *out is malloc'd and NUL-terminated.
sqz_status sqz_corpus_text(const char *tar_path, bool heldout, char **out, size_t *len);

// Calibration sequences: n_seq windows of seq_len token ids.
typedef struct sqz_calib {
    int64_t n_seq, seq_len;
    int32_t *ids;        // [n_seq][seq_len]
    int64_t n_pool;      // tokens of the corpus part they were drawn from
    char sha256[65];     // of the ids as little-endian int32, in order
} sqz_calib;

// Draw calibration data from `path`: a .tar corpus (its calibration side: members shuffled with
// `seed`, tokenized one by one without special tokens until 2·n_seq·seq_len tokens or the end), or
// any other file as plain text (all of it). The windows start at offsets drawn with `seed`
// (xorshift64*) from [0, n_pool − seq_len]. Errors: missing file, n_seq/seq_len < 1, fewer than
// n_seq·seq_len tokens available ("too small").
sqz_status sqz_calib_draw(const sqz_tokenizer *tok, const char *path, int64_t n_seq, int64_t seq_len, uint64_t seed,
                          sqz_calib **out);
void sqz_calib_free(sqz_calib *c);

// ================================ compression ====================================================
typedef struct sqz_compress_progress {
    int64_t layer, n_layer;   // block just finished (0-based) and the block count
    double elapsed_s, eta_s;  // since the start; estimate of what is left
    const char *what;         // "block", "save"
} sqz_compress_progress;
typedef void (*sqz_compress_progress_cb)(void *user, const sqz_compress_progress *p);

typedef struct sqz_compress_opts {
    const char *recipe;       // recipe text (see sqz/quant.h)
    const char *calib_path;   // corpus for steps that need data; NULL → such steps fail
    int64_t calib_n;          // sequences (0 → 32)
    int64_t calib_len;        // tokens per sequence (0 → 256)
    uint64_t seed;            // calibration draw
    int n_threads;            // 0 → physical cores
    bool exact;               // load the model with sqz_load_opts.exact (block types run dequantized)
    sqz_compress_progress_cb progress;
    void *user;
} sqz_compress_opts;

// One compressed linear layer, for the manifest.
typedef struct sqz_compress_layer {
    char name[96];            // GGUF tensor name, e.g. "blk.3.attn_q.weight"
    int64_t layer;
    sqz_lin_role role;
    int64_t n_out, n_in;
    const char *method;       // recipe step name, or "none"
    double bpw;               // bits per weight as stored (codes + scales + zeros [+ g_idx])
    double weight_err;        // ||W − Ŵ||² / ||W||²
    double output_err;        // ||X(W − Ŵ)ᵀ||² / ||XWᵀ||² on the calibration inputs (−1 without data)
    double method_loss;       // the method's own loss (GPTQ/AWQ), else 0
    sqz_type gguf_type;       // type in the GGUF (SQZ_TYPE_COUNT when not representable)
    // Pruning / low rank (prune is NULL for layers no such step touched):
    const char *prune;        // pruning or low-rank step name
    double sparsity;          // achieved fraction of exact zeros in the weights the model runs
    int sp_storage;           // sqz_sp_storage (sqz/prune.h) of the HF checkpoint
    int nm_n, nm_m;           // N:M pattern the stored weights satisfy (0:0 if none)
    const char *storage;      // one line: "2:4 compressed ...", "CSR ...", "dense with zeros: sparsity simulated ..."
    const char *compute;      // "sparse: 2:4 F16 GEMV kernel" or "dense"
    int64_t rank;             // low rank: r of W ≈ A·B (0 otherwise)
} sqz_compress_layer;

// What a structured step (heads, mlp, layers) removed, for the manifest. Layer indices are the
// source model's.
typedef struct sqz_compress_structured {
    bool applied;
    int64_t n_layer_before, n_layer_after;
    int64_t n_head_before, n_head_after, n_head_kv_before, n_head_kv_after, n_ff_before, n_ff_after;
    int64_t *dropped_layers;  // [n_dropped] ascending
    int64_t n_dropped;
    double *block_influence;  // [n_layer_before] (layers step), else NULL
} sqz_compress_structured;

typedef struct sqz_compressed sqz_compressed;

// Compress a model (HF directory or .gguf; an HF source is first converted to a temporary GGUF,
// which is the working copy). Structured steps (heads, mlp, layers) run first: one scoring pass
// over the calibration data, then model surgery (sqz_prune_structured) into a temporary smaller
// model, which becomes the working copy. Then blocks are processed in order; each block's
// calibration inputs come from the already-compressed earlier blocks; per linear a pruning or
// low-rank step (magnitude, wanda, sparsegpt, lowrank) runs before its quantization step, whose
// result keeps the pruning mask. The result owns a runnable model whose weights are the
// compressed ones (dequantized integer weights in F32, block types as they are, pruned or low-rank
// weights without a quantization step in F16). Errors: bad recipe, a group size not dividing a
// layer's width, two pruning or two quantization steps on one tensor, missing or too little
// calibration data, structured parameters that do not fit the model, unsupported architecture
// (GPT-2).
sqz_status sqz_compress(const char *model_path, const sqz_compress_opts *o, sqz_compressed **out);
void sqz_compressed_free(sqz_compressed *c);

sqz_model *sqz_compressed_model(sqz_compressed *c);
const sqz_compress_layer *sqz_compressed_layers(const sqz_compressed *c, int64_t *n);
const sqz_calib *sqz_compressed_calib(const sqz_compressed *c); // NULL when no step needed data
// The structured pruning the pipeline applied (applied = false when the recipe had no such step).
const sqz_compress_structured *sqz_compressed_structured(const sqz_compressed *c);
// Whether every compressed layer maps exactly onto a llama.cpp type (so a GGUF is written).
bool sqz_compressed_gguf_ok(const sqz_compressed *c);

// What sqz_compressed_save writes.
enum { SQZ_SAVE_GGUF = 1, SQZ_SAVE_HF = 2, SQZ_SAVE_ALL = 3 };

// Write into out_dir (created if missing): model.gguf (when sqz_compressed_gguf_ok), hf/ (config.json
// with quantization_config for integer weights, model.safetensors, tokenizer files) and
// manifest.json. Errors: unwritable directory, I/O.
sqz_status sqz_compressed_save(sqz_compressed *c, const char *out_dir, unsigned what);

#ifdef __cplusplus
}
#endif
#endif

// Compress pipeline internals shared by compress.c (the layer-by-layer driver) and
// compress_save.c (GGUF, HF directory and manifest writers).
#ifndef SQZ_COMPRESS_INTERNAL_H
#define SQZ_COMPRESS_INTERNAL_H

#include "core/error.h"
#include "sqz/compress.h"
#include "sqz/format.h"
#include "sqz/prune.h"
#include "sqz/quant.h"

// How one linear layer ended up.
typedef struct lin_store {
    const sqz_recipe_step *step; // quantization step; NULL: none
    const sqz_recipe_step *prune; // pruning / low-rank step; NULL: none (sparsegpt bits>0 fills qw)
    sqz_qweight *qw;             // integer weights (rtn/gptq/awq), scales fp16-rounded, AWQ scales folded
    float *dense;                // [n_out][n_in] the values the in-memory model runs (for qw)
    sqz_type type;               // block/cast steps: storage type of data
    void *data;                  // block/cast steps: n_out · row_size bytes
    size_t nbytes;
    sqz_type gguf_type;          // llama.cpp type that holds the weights exactly-ish (qw: made when written),
                                 // SQZ_TYPE_COUNT if none
    sqz_sparse_summary sp;       // pruned layers: what the HF checkpoint stores (sp.storage)
} lin_store;

// Whether linear s differs from the source (a quantization or a pruning step touched it).
static inline bool lin_changed(const lin_store *s) { return s->step || s->prune; }

struct sqz_compressed {
    sqz_model *m;
    char *src_path, *work_gguf, *tmp_dir; // tmp_dir (removed on free) holds work_gguf for HF sources
    char src_sha256[65];
    sqz_recipe *recipe;
    char *recipe_str;
    sqz_calib *calib;
    int64_t n_lin;             // n_layer · SQZ_LIN_COUNT
    lin_store *store;          // [n_layer][SQZ_LIN_COUNT]
    sqz_compress_layer *stats; // [n_layer][SQZ_LIN_COUNT]
    bool *norm_set;            // [n_layer][2] attn/ffn norm replaced (AWQ)
    double seconds;
    sqz_compress_structured structured;
    uint32_t glob_thr;         // magnitude scope=global: |w| bit pattern of the k-th smallest weight
    int64_t glob_ties;         // weights equal to glob_thr still to prune (in layer order)
    char *struct_dir;          // temporary directory of the structured pass (removed on free)
    char notes[512];           // what the manifest should say about approximations
};

// Map an integer weight onto Q4_0 (sym, 4 bits), Q4_1 (asym, 4 bits) or Q8_0 (8 bits with every
// code − zero in int8), group 32 (or per channel for Q8_0) with monotone g_idx. Fills gguf_*.
sqz_status sqz_compress_map_gguf(lin_store *s);

// Calibration states of the layer-by-layer driver.
typedef struct calib_state {
    sqz_ctx *ctx;
    float *x;   // [n_seq·seq_len][n_embd] hidden states entering the current block
} calib_state;

// Draw cc->calib (unless drawn already), make a context over cc->m and embed the sequences into
// cs->x. Errors: no calibration path, too little data.
sqz_status sqz_compress_calib_init(sqz_compressed *cc, const sqz_compress_opts *o, calib_state *cs);

// Structured steps (heads, mlp, layers) of cc->recipe: score on calibration data, write the smaller
// model into a temporary directory and make it the working copy (compress_structured.c).
sqz_status sqz_compress_structured_pass(sqz_compressed *cc, const sqz_compress_opts *o);
// Open `path` (HF directory or .gguf) as the working model (HF converted to a temporary GGUF).
sqz_status sqz_compress_open_work(sqz_compressed *cc, const char *path, bool exact);
// Recursively remove a directory tree made by the pipeline (best effort).
void sqz_compress_rmtree(const char *dir);

#endif

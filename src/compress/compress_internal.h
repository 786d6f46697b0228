// Compress pipeline internals shared by compress.c (the layer-by-layer driver) and
// compress_save.c (GGUF, HF directory and manifest writers).
#ifndef SQZ_COMPRESS_INTERNAL_H
#define SQZ_COMPRESS_INTERNAL_H

#include "core/error.h"
#include "sqz/compress.h"
#include "sqz/format.h"
#include "sqz/quant.h"

// How one linear layer ended up.
typedef struct lin_store {
    const sqz_recipe_step *step; // NULL: left as it was
    sqz_qweight *qw;             // integer weights (rtn/gptq/awq), scales fp16-rounded, AWQ scales folded
    float *dense;                // [n_out][n_in] the values the in-memory model runs (for qw)
    sqz_type type;               // block/cast steps: storage type of data
    void *data;                  // block/cast steps: n_out · row_size bytes
    size_t nbytes;
    sqz_type gguf_type;          // llama.cpp type that holds the weights exactly-ish, SQZ_TYPE_COUNT if none
    void *gguf_data;             // qw mapped onto gguf_type (NULL when data is used as is)
    size_t gguf_nbytes;
} lin_store;

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
    char notes[512];           // what the manifest should say about approximations
};

// Map an integer weight onto Q4_0 (sym, 4 bits), Q4_1 (asym, 4 bits) or Q8_0 (8 bits with every
// code − zero in int8), group 32 (or per channel for Q8_0) with monotone g_idx. Fills gguf_*.
sqz_status sqz_compress_map_gguf(lin_store *s);

#endif

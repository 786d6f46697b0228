// Internal pieces of the training module shared between files.
#ifndef SQZ_TRAIN_INTERNAL_H
#define SQZ_TRAIN_INTERNAL_H

#include "sqz/tokenizer.h"
#include "train/model.h"

typedef struct tr_stream {
    int32_t *ids;
    size_t n, cap;
} tr_stream;

typedef struct tr_data {
    sqz_tokenizer *tok; // NULL = byte-level
    int32_t eos;
    int64_t n_vocab;
    int n_files;
    tr_stream train, eval;
} tr_data;

// Load and tokenize a corpus (tar or text file; max_bytes of file content, 0 = all). tokenizer:
// a path, or NULL / "bytes" for the byte-level vocabulary.
sqz_status tr_data_load(tr_data *d, const char *corpus, const char *tokenizer, size_t max_bytes);
void tr_data_free(tr_data *d);
void tr_data_batch(const tr_stream *s, uint64_t seed, int64_t step, int micro, int B, int Tn, int32_t *tok,
                   int32_t *tgt);
void tr_data_eval_batch(const tr_stream *s, int i, int n_batches, int B, int Tn, int32_t *tok, int32_t *tgt);

// A model opened for training: GGUF inputs are converted to an F32 HF directory in a temp dir.
typedef struct tr_src {
    char dir[4096];     // HF directory the weights come from
    char tmp[256];      // temp dir to remove ("" if none)
    sqz_type base_type; // weight type of a GGUF source's matrices (F32 for HF)
    sqz_model_file *mf;
} tr_src;

// The distillation student for `spec` (see student.c): LAYERS ("every2", "0,2,4") copies teacher blocks;
// CONFIG ("student.json" or "student.json:0,2") builds a narrower model initialised by structured
// truncation, scoring channels/heads on the teacher's activations over calibration batches of `train`
// (the teacher's batch size must be set). cfg_json receives the config path the output's config.json
// comes from (unchanged for LAYERS).
sqz_status tr_student_new(tr_model **out, tr_model *teacher, const char *spec, const tr_stream *train, uint64_t seed,
                          char *cfg_json, size_t cfg_cap);

sqz_status tr_src_open(tr_src *s, const char *path);
void tr_src_close(tr_src *s); // removes the temp directory

#endif

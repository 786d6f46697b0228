// Internals shared by convert.c and synth.c: llama.cpp's GGUF metadata and vocabulary writers, and
// tensor type conversion. Everything here mirrors what llama.cpp's convert_hf_to_gguf.py writes.
#ifndef SQZ_FORMAT_CONVERT_H
#define SQZ_FORMAT_CONVERT_H

#include "sqz/format.h"

// llama.cpp's llama_ftype for a file whose matrices are of type t (general.file_type).
int sqz_cv_file_type(sqz_type t);

// Write general.* and <arch>.* hyper-parameters of c (arch llama / qwen2 / gpt2) the way
// convert_hf_to_gguf.py does. `name` goes to general.name (may be NULL); `mat_type` is the
// matrices' type (general.file_type).
sqz_status sqz_cv_write_hparams(sqz_gguf_writer *w, const sqz_model_config *c, const char *name,
                                sqz_type mat_type);

// Write tokenizer.ggml.* from the tokenizer files of an HF directory: tokenizer.model
// (SentencePiece, preferred as llama.cpp does) or tokenizer.json (byte-level BPE -> "gpt2",
// BPE with byte_fallback -> "llama"), plus tokenizer_config.json / config.json special tokens.
// n_vocab: the model's vocab size (the token list is padded with [PADi] UNUSED tokens to it).
// With no tokenizer files, writes tokenizer.ggml.model = "none".
sqz_status sqz_cv_write_vocab_hf(sqz_gguf_writer *w, const char *dir, const sqz_model_config *c);

// Same from one tokenizer.json (tok_config may be NULL); c supplies n_vocab, arch and bos/eos ids.
sqz_status sqz_cv_write_vocab_tokenizer_json(sqz_gguf_writer *w, const char *tokenizer_json,
                                             const char *tok_config, const sqz_model_config *c);

// Copy every tokenizer.* key of src into w; the token list must have n_vocab entries.
sqz_status sqz_cv_copy_vocab_gguf(sqz_gguf_writer *w, const sqz_gguf *src, int64_t n_vocab);

// Convert n floats to type t into dst (sqz_type_row_size(t, n) bytes), using the scalar reference
// codecs (bit-exact with ggml's quantize_row_*_ref). n must be a multiple of the block size.
sqz_status sqz_cv_from_float(sqz_type t, const float *src, void *dst, int64_t n);

#endif

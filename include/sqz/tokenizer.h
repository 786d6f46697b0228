// Tokenizers: exact re-implementations of Hugging Face `tokenizer.json` pipelines (BPE models with
// byte-level or SentencePiece-style pre-processing) and of llama.cpp's GGUF vocabularies
// (`tokenizer.ggml.model` = gpt2: byte-level BPE with the pre-tokenizer named by tokenizer.ggml.pre;
// = llama: SentencePiece scores). Regexes run on PCRE2, Unicode normalization on utf8proc.
//
// A tokenizer is immutable after loading: encode/decode may be called from several threads at once.
#ifndef SQZ_TOKENIZER_H
#define SQZ_TOKENIZER_H

#include <stdbool.h>

#include "sqz/common.h"
#include "sqz/format.h"
#include "sqz/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sqz_tokenizer sqz_tokenizer;

// Load a tokenizer from `path`: a tokenizer.json, a Hugging Face directory (its tokenizer.json), or a
// .gguf file (its tokenizer.ggml.* keys). Errors name the file and the offending field: malformed JSON
// (with line/column), missing model, unknown model/pre-tokenizer/normalizer/decoder type, merges that
// reference unknown tokens, bad token ids.
sqz_status sqz_tokenizer_load(sqz_tokenizer **out, const char *path);

// Parse a tokenizer.json held in memory (`name` is used in error messages only).
sqz_status sqz_tokenizer_from_json(sqz_tokenizer **out, const char *json, size_t len, const char *name);

// Build the tokenizer described by an opened GGUF file's tokenizer.ggml.* keys. The tokenizer copies
// what it needs: `g` may be freed afterwards.
sqz_status sqz_tokenizer_from_gguf(sqz_tokenizer **out, const sqz_gguf *g);

void sqz_tokenizer_free(sqz_tokenizer *t);

// Flags for sqz_tokenizer_encode_ex.
enum {
    SQZ_TOK_ADD_SPECIAL = 1u << 0,   // add BOS/EOS as the tokenizer declares (HF post-processor, GGUF add_bos)
    SQZ_TOK_NO_PARSE_SPECIAL = 1u << 1, // treat special/control token text in the input as plain text
                                        // (user-defined / non-special added tokens are still matched)
};

// Encode `len` bytes of UTF-8 text. Special-token text in the input (e.g. "<|im_start|>") is matched
// as the token; add_special adds BOS/EOS as the tokenizer declares. *ids is malloc'd (caller frees;
// NULL when *n == 0 is allowed). Invalid UTF-8 is tolerated (bytes are tokenized as they are).
sqz_status sqz_tokenizer_encode(const sqz_tokenizer *t, const char *text, size_t len, bool add_special,
                                int32_t **ids, size_t *n);
// Same with SQZ_TOK_* flags.
sqz_status sqz_tokenizer_encode_ex(const sqz_tokenizer *t, const char *text, size_t len, unsigned flags,
                                   int32_t **ids, size_t *n);

// Decode ids to UTF-8 text (invalid byte sequences become U+FFFD, as HF does). skip_special drops
// special/control tokens. *out is malloc'd and NUL-terminated; *len excludes the NUL (may be NULL).
// SQZ_ERR_RANGE if an id is outside the vocabulary.
sqz_status sqz_tokenizer_decode(const sqz_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                                char **out, size_t *len);

int64_t sqz_tokenizer_n_vocab(const sqz_tokenizer *t);
// The vocabulary entry of `id` as stored (byte-level form such as "Ġthe", or "▁the"), not
// NUL-terminated: *len receives its length. NULL if id is out of range.
const char *sqz_tokenizer_piece(const sqz_tokenizer *t, int32_t id, size_t *len);
// Id of an exact vocabulary entry (including added tokens), or -1.
int32_t sqz_tokenizer_token_to_id(const sqz_tokenizer *t, const char *piece, size_t len);
int32_t sqz_tokenizer_bos(const sqz_tokenizer *t); // -1 if none
int32_t sqz_tokenizer_eos(const sqz_tokenizer *t); // -1 if none
// True for special tokens (HF added tokens marked special; GGUF CONTROL/UNKNOWN tokens).
bool sqz_tokenizer_is_special(const sqz_tokenizer *t, int32_t id);
// True if a generated token ends generation (EOS, and end-of-turn tokens such as <|im_end|>).
bool sqz_tokenizer_is_eog(const sqz_tokenizer *t, int32_t id);
// Whether encode with add_special puts a BOS first.
bool sqz_tokenizer_adds_bos(const sqz_tokenizer *t);
// Model kind: "bpe-bytelevel" (GPT-2 style), "bpe-spm" (SentencePiece-style BPE by merges, byte
// fallback), "spm" (llama.cpp SentencePiece by scores).
const char *sqz_tokenizer_kind(const sqz_tokenizer *t);
// Pre-tokenizer name: the GGUF tokenizer.ggml.pre value ("gpt-2", "llama-bpe", ... or "default"), or
// for tokenizer.json a short description such as "Sequence[Digits,ByteLevel]" ("none" if absent).
const char *sqz_tokenizer_pre(const sqz_tokenizer *t);

// ---- streaming detokenizer --------------------------------------------------------------------
// Turns a stream of ids into text pieces that are always whole UTF-8 characters: bytes of an
// incomplete character (byte-fallback or byte-level tokens) are held back until completed; an
// invalid sequence is emitted as U+FFFD. The concatenation of all pieces plus the final flush equals
// sqz_tokenizer_decode of the whole sequence.
typedef struct sqz_detok sqz_detok;

sqz_status sqz_detok_new(sqz_detok **out, const sqz_tokenizer *t, bool skip_special);
// Push one id; *text/*len receive the newly completed text (possibly empty), valid until the next call
// on this detokenizer. SQZ_ERR_RANGE for an id outside the vocabulary.
sqz_status sqz_detok_push(sqz_detok *d, int32_t id, const char **text, size_t *len);
// Emit whatever is held back (incomplete bytes as U+FFFD) and reset to the start-of-text state.
sqz_status sqz_detok_flush(sqz_detok *d, const char **text, size_t *len);
void sqz_detok_free(sqz_detok *d);

#ifdef __cplusplus
}
#endif
#endif

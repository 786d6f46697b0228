// Internal structures of the tokenizer module. A tokenizer is a pipeline:
//   added-token partition -> normalizers -> pre-tokenizers -> model (BPE or SPM) -> post-processor
// and, backwards, decoders. tokenizer.json and GGUF loaders both fill the same struct.
#ifndef SQZ_TOK_INTERNAL_H
#define SQZ_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "sqz/tokenizer.h"

// ---- growable buffers --------------------------------------------------------------------------
typedef struct tok_buf {
    char *p;
    size_t n, cap;
} tok_buf;

sqz_status tok_buf_put(tok_buf *b, const void *s, size_t n);
static inline sqz_status tok_buf_putc(tok_buf *b, char c) { return tok_buf_put(b, &c, 1); }
void tok_buf_free(tok_buf *b);

typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
} tok_ids;

sqz_status tok_ids_push(tok_ids *a, int32_t id);

// A list of strings (the "splits" of a pre-tokenizer): spans into one byte buffer. `start` marks a
// piece that begins at offset 0 of the original input (Metaspace prepend_scheme "first").
typedef struct tok_span {
    size_t off, len;
    bool start;
} tok_span;

typedef struct tok_strs {
    tok_buf buf;
    tok_span *s;
    size_t n, cap;
} tok_strs;

sqz_status tok_strs_add(tok_strs *l, const char *p, size_t n, bool start);
void tok_strs_reset(tok_strs *l);
void tok_strs_free(tok_strs *l);

// ---- hash maps -----------------------------------------------------------------------------------
// Open addressing over ids; keys are the vocabulary strings themselves.
typedef struct tok_strmap {
    int32_t *slot; // -1 = empty
    size_t mask;
} tok_strmap;

// (left id, right id) -> merge rank and merged id.
typedef struct tok_pairmap {
    uint64_t *key; // UINT64_MAX = empty
    int32_t *rank, *merged;
    size_t mask, n;
} tok_pairmap;

uint64_t tok_hash(const char *s, size_t n);

// ---- pipeline pieces --------------------------------------------------------------------------------
typedef enum {
    NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD, NORM_LOWER, NORM_PREPEND, NORM_REPLACE, NORM_STRIP,
} tok_norm_kind;

typedef enum {
    SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS,
} tok_split_behavior;

typedef enum {
    PRE_SPLIT,      // regex or literal split with a behavior
    PRE_BYTELEVEL,  // optional prefix space, optional GPT-2 regex split, then byte -> unicode mapping
    PRE_METASPACE,  // ' ' -> replacement, prepend, optional split
} tok_pre_kind;

// A normalizer or pre-tokenizer step. Fields used depend on kind.
typedef struct tok_step {
    int kind;
    pcre2_code *re;        // Split/Replace regex, ByteLevel regex (NULL: literal or none)
    char *str, *str2;      // literal pattern / prepend / replacement / content
    size_t str_len, str2_len;
    tok_split_behavior behavior;
    bool invert, flag_a, flag_b; // Strip: left/right; ByteLevel: add_prefix_space; Metaspace: split
    int prepend;           // Metaspace: 0 never, 1 first, 2 always
} tok_step;

typedef enum { DEC_BYTELEVEL, DEC_REPLACE, DEC_BYTEFALLBACK, DEC_FUSE, DEC_STRIP, DEC_METASPACE } tok_dec_kind;

typedef struct tok_dec {
    tok_dec_kind kind;
    char *from, *to; // Replace pattern / content; Metaspace replacement in `from`
    size_t from_len, to_len;
    int start, stop;  // Strip counts; Metaspace: start = 1 if it strips the first token's space
    uint32_t strip_cp; // Strip content codepoint
} tok_dec;

// Token attributes (GGUF token types and HF added-token options).
enum {
    TA_NORMAL = 1 << 0,
    TA_SPECIAL = 1 << 1,      // HF special added token / GGUF CONTROL
    TA_USER = 1 << 2,         // GGUF USER_DEFINED / HF non-special added token
    TA_UNKNOWN = 1 << 3,
    TA_BYTE = 1 << 4,         // GGUF BYTE (<0xXX>)
    TA_UNUSED = 1 << 5,
    TA_LSTRIP = 1 << 6,
    TA_RSTRIP = 1 << 7,
    TA_SINGLE_WORD = 1 << 8,
    TA_ADDED = 1 << 9,        // matched in the input before splitting
    TA_EOG = 1 << 10,
    TA_RAW = 1 << 11,         // decoded verbatim (GGUF control/user-defined text)
};

typedef enum { MODEL_BPE, MODEL_SPM } tok_model_kind;

struct sqz_tokenizer {
    // vocabulary: piece i = blob[off[i] .. off[i]+len[i]); holes have len 0 and attr 0
    char *blob;
    uint32_t *off, *len;
    uint16_t *attr;
    float *score;          // SPM only
    int32_t n_vocab;
    tok_strmap map;

    tok_model_kind model;
    tok_pairmap merges;
    bool byte_fallback, fuse_unk, ignore_merges, bytelevel_model;
    int32_t unk_id, bos_id, eos_id;
    int32_t bpe_unk_id;    // what BPE emits for a character missing from the vocabulary (-1: drop it)
    int32_t byte_id[256];  // <0xXX> tokens (byte fallback), -1 if absent

    // added / special tokens, matched before normalization; sorted by decreasing length
    int32_t *added;
    size_t n_added;
    bool llama_partition;  // llama.cpp order (longest token first over all fragments) vs leftmost-longest
    bool spm_space_prefix; // SPM: prepend ' ' to a fragment at the start or after a special token

    tok_step *norm;
    size_t n_norm;
    tok_step *pre;
    size_t n_pre;
    tok_dec *dec;
    size_t n_dec;
    bool dec_join_space;   // no decoder: tokens joined with ' ' (HF)

    // post-processing with add_special
    int32_t *prefix, *suffix;
    size_t n_prefix, n_suffix;

    char kind[24];
    char pre_name[128];
};

// vocab.c
sqz_status tok_vocab_alloc(sqz_tokenizer *t, int32_t n, size_t blob_bytes);
sqz_status tok_vocab_build_map(sqz_tokenizer *t, const char *what);
int32_t tok_lookup(const sqz_tokenizer *t, const char *s, size_t n);
sqz_status tok_pairmap_init(tok_pairmap *m, size_t n);
sqz_status tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t merged);
bool tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *merged);
void tok_pairmap_free(tok_pairmap *m);
void tok_find_byte_tokens(sqz_tokenizer *t);
sqz_status tok_finish(sqz_tokenizer *t); // sort added tokens, fill derived fields

// model.c
size_t tok_bytelevel_enc(unsigned char b, char out[2]); // byte -> UTF-8 of its GPT-2 codepoint
int tok_bytelevel_dec(uint32_t cp);                     // GPT-2 codepoint -> byte, or -1
sqz_status tok_bytelevel_map(tok_buf *out, const char *s, size_t n);
sqz_status tok_bpe_word(const sqz_tokenizer *t, const char *w, size_t n, tok_ids *out);
typedef struct {
    uint64_t hash;
    uint32_t key_off, key_len, ids_off, n_ids;
    bool used;
} tok_cache_slot;

typedef struct tok_cache {
    tok_cache_slot *slot;
    size_t mask, n;
    tok_buf keys;
    tok_ids ids;
} tok_cache;

sqz_status tok_bpe_word_cached(const sqz_tokenizer *t, tok_cache *c, const char *w, size_t n, tok_ids *out);
void tok_cache_free(tok_cache *c);
sqz_status tok_spm_fragment(const sqz_tokenizer *t, const char *s, size_t n, tok_ids *out);

// pipeline.c
sqz_status tok_regex_compile(pcre2_code **re, const char *pattern, size_t len, uint32_t opts, const char *what);
sqz_status tok_normalize(const sqz_tokenizer *t, const char *s, size_t n, tok_buf *out);
sqz_status tok_pretokenize(const sqz_tokenizer *t, tok_strs *in, tok_strs *tmp);
void tok_step_free(tok_step *s);
size_t tok_utf8_len(unsigned char c);
uint32_t tok_utf8_decode(const char *s, size_t n, size_t *adv);
size_t tok_utf8_encode(uint32_t cp, char out[4]);

// decode.c
sqz_status tok_decode_token(const sqz_tokenizer *t, int32_t id, bool first, tok_buf *out);

// loaders
sqz_status tok_load_hf_json(sqz_tokenizer *t, const char *json, size_t len, const char *name);
void tok_hf_apply_config(sqz_tokenizer *t, const char *json_path); // BOS/EOS from sibling config files
sqz_status tok_load_gguf(sqz_tokenizer *t, const sqz_gguf *g);

#endif

// Internal text utilities shared by the metrics: growable buffers, UTF-8 decoding, Python's
// str.isspace / str.split / str.lower semantics, and an n-gram counting hash table.
#ifndef SQZ_METRICS_TEXT_H
#define SQZ_METRICS_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sqz/common.h"
#include "sqz/metrics.h"

// Growable byte buffer, always NUL-terminated once anything was pushed. Allocation failure is
// sticky (oom) so callers can push freely and check once.
typedef struct mt_buf {
    char *p;
    size_t n, cap;
    bool oom;
} mt_buf;

void mt_buf_push(mt_buf *b, const char *s, size_t n);
void mt_buf_putc(mt_buf *b, char c);
void mt_buf_put_cp(mt_buf *b, uint32_t cp); // UTF-8 encode one code point
void mt_buf_free(mt_buf *b);
// Terminate and hand over the bytes (never NULL unless oom): caller frees.
sqz_status mt_buf_take(mt_buf *b, char **out, size_t *len);

// Growable code point vector.
typedef struct mt_u32 {
    uint32_t *p;
    size_t n, cap;
    bool oom;
} mt_u32;

void mt_u32_push(mt_u32 *v, uint32_t c);
void mt_u32_free(mt_u32 *v);

// Decode `len` bytes of UTF-8 into code points (appended to *out). Invalid UTF-8 gives
// SQZ_ERR_FORMAT naming the byte offset.
sqz_status mt_decode(const char *s, size_t len, mt_u32 *out);
// Check that s is valid UTF-8.
sqz_status mt_validate(const char *s, size_t len);

// Python's str.isspace() for one code point (Zs, or bidirectional class WS/B/S).
bool mt_is_space(uint32_t c);

// Python's str.lower() of a code point sequence (full mapping: U+0130 → "i̇", final sigma).
void mt_lower(const uint32_t *in, size_t n, mt_u32 *out);
// str.lower() of UTF-8 text into a new malloc'd UTF-8 string.
sqz_status mt_lower_utf8(const char *s, size_t len, char **out, size_t *out_len);

// A token: a byte span [off, off+len) of some string.
typedef struct mt_span {
    size_t off, len;
} mt_span;

typedef struct mt_spans {
    mt_span *p;
    size_t n, cap;
    bool oom;
} mt_spans;

void mt_spans_push(mt_spans *v, size_t off, size_t len);
void mt_spans_free(mt_spans *v);

// Python str.split(): maximal runs of non-whitespace code points of valid UTF-8 `s`.
void mt_split_ws(const char *s, size_t len, mt_spans *out);
// Length of s without trailing whitespace (str.rstrip()) / leading whitespace offset.
size_t mt_rstrip_len(const char *s, size_t len);
size_t mt_lstrip_off(const char *s, size_t len);

// N-gram counting table: open addressing, keys are borrowed byte spans (they must outlive the
// table), counts are int64.
typedef struct mt_ngram {
    const char *key;
    uint32_t len;
    uint32_t hash;
    int64_t count;
} mt_ngram;

typedef struct mt_table {
    mt_ngram *slots;
    size_t cap, n;   // cap is 0 or a power of two
    int64_t total;   // sum of all counts
    bool oom;
} mt_table;

void mt_table_add(mt_table *t, const char *key, size_t len, int64_t inc);
// Set key to max(current, count).
void mt_table_max(mt_table *t, const char *key, size_t len, int64_t count);
int64_t mt_table_get(const mt_table *t, const char *key, size_t len);
void mt_table_clear(mt_table *t); // keep the allocation
void mt_table_free(mt_table *t);

// Validate a metric's input: n >= 1 segments, each with a hypothesis and n_refs >= 1 non-NULL
// references. Errors name `metric` and the segment (1-based).
sqz_status mt_check_pairs(const char *metric, const sqz_text_pair *pairs, size_t n);

#endif

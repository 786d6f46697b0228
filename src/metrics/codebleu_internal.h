// Internal pieces of CodeBLEU (see codebleu.c for the overview and the reference quirks reproduced).
#ifndef SQZ_METRICS_CODEBLEU_INTERNAL_H
#define SQZ_METRICS_CODEBLEU_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tree_sitter/api.h>

#include "sqz/codebleu.h"

// A growable byte buffer (NUL-terminated when non-empty).
typedef struct cb_buf {
    char *p;
    size_t n, cap;
} cb_buf;
sqz_status cb_buf_put(cb_buf *b, const char *s, size_t n);
void cb_buf_free(cb_buf *b);

// A slice of text (not owned).
typedef struct cb_span {
    const char *p;
    size_t n;
} cb_span;

// ---- text (codebleu_text.c) ------------------------------------------------------------------------
// Decode one UTF-8 code point at s[*i] (input already validated), advancing *i.
uint32_t cb_utf8_next(const char *s, size_t n, size_t *i);
bool cb_py_isspace(uint32_t cp); // Python's str.isspace() for one code point
// Python str.strip(): the span of s without leading/trailing Unicode whitespace.
cb_span cb_py_strip(const char *s, size_t n);
// Python str.split() (no argument): whitespace-separated tokens. *toks is malloc'd.
sqz_status cb_py_split(const char *s, size_t n, cb_span **toks, size_t *n_toks);
// Comment removal as the references' remove_comments_and_docstrings(src, mode): "java" mode (the
// C-family regex, used for every language except python) or python mode (tokenize-based).
// In python mode *ok is false when Python's tokenizer would raise (the caller then keeps the
// source unchanged, as the references' try/except does). out is reset and filled.
sqz_status cb_remove_comments(const char *src, size_t n, bool python, cb_buf *out, bool *ok);

// ---- n-gram BLEU (codebleu_ngram.c) ----------------------------------------------------------------
// hyps[i] / refs[i*n_refs+r] are stripped texts. keywords: NULL-terminated list.
sqz_status cb_bleu_corpus(const cb_span *hyps, const cb_span *refs, int64_t n, int n_refs,
                          const char *const *keywords, double *bleu, double *weighted);

// ---- parse trees (codebleu_tree.c) -----------------------------------------------------------------
// A tree flattened breadth-first so that each node's children are contiguous: children of node i
// are nodes[first_child .. first_child + n_children).
typedef struct cb_node {
    TSNode ts;
    const char *type;
    TSPoint start, end;
    uint32_t first_child, n_children;
} cb_node;

typedef struct cb_tree {
    TSTree *tree;
    cb_node *nodes; // nodes[0] is the root
    uint32_t n_nodes;
    const char *src; // the parsed text (not owned)
    size_t src_n;
} cb_tree;

sqz_status cb_tree_parse(TSParser *parser, const char *src, size_t n, cb_tree *t);
void cb_tree_free(cb_tree *t);
// Index of the child of node i that tree-sitter's child_by_field_name(field) returns, or -1.
int64_t cb_tree_field(const cb_tree *t, uint32_t i, const char *field);

// Syntax match of one (candidate, reference) pair: adds to *match and *total the number of
// reference subtree S-expressions found among the candidate's, and the reference subtree count.
sqz_status cb_syntax_pair(const cb_tree *cand, const cb_tree *ref, int64_t *match, int64_t *total);

// ---- data flow (codebleu_dataflow.c) ---------------------------------------------------------------
typedef enum cb_lang { CB_PYTHON, CB_JAVA, CB_CSHARP, CB_C, CB_CPP, CB_JS } cb_lang;

sqz_status cb_dataflow_pair(const cb_tree *cand, const cb_tree *ref, cb_lang lang,
                            sqz_codebleu_flavor flavor, int64_t *match, int64_t *total);

// CPython 3.11 iteration order of set(items) for str items under PYTHONHASHSEED=0: writes the
// indices (into items) of the distinct items, in the order list(set(items)) yields them.
sqz_status cb_pyset_order(const cb_span *items, size_t n, size_t *order, size_t *n_out);
// Python's hash(str) under PYTHONHASHSEED=0 (siphash13 of the PEP 393 representation).
int64_t cb_pyhash_str(const char *s, size_t n);

#endif

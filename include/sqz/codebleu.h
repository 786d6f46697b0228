// CodeBLEU (Ren et al. 2020): a weighted sum of BLEU, keyword-weighted BLEU, syntax (AST subtree)
// match and data-flow match, parsing code with tree-sitter. See docs/codebleu.md for the two
// reference implementations it reproduces and where they differ.
#ifndef SQZ_CODEBLEU_H
#define SQZ_CODEBLEU_H

#include <stdint.h>

#include "sqz/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sqz_codebleu_result {
    double codebleu, ngram_match, weighted_ngram_match, syntax_match, dataflow_match;
} sqz_codebleu_result;

typedef enum sqz_codebleu_flavor {
    SQZ_CODEBLEU_PYPI = 0,      // the maintained PyPI `codebleu` package (k4black/codebleu 0.7.0)
    SQZ_CODEBLEU_CODEXGLUE = 1, // original CodeXGLUE evaluator, deterministic sorted-names variant
} sqz_codebleu_flavor;

// Corpus-level CodeBLEU, as the references compute it.
//   lang: "python", "java", "c_sharp" (alias "cs", "csharp"), "c", "cpp", "javascript" (alias "js").
//         The CodeXGLUE flavor has keyword lists for python, java and c_sharp only.
//   weights: alpha, beta, gamma, delta for the four components; NULL = 0.25 each.
//   hyps[i] is hypothesis i (UTF-8); refs[i * n_refs + r] is reference r of segment i.
//   n >= 1 segments, n_refs >= 1. NULL strings are an error; empty strings are valid code.
// Code that does not parse still scores (tree-sitter recovers with ERROR nodes), as in the references.
// Flavor PYPI reproduces codebleu 0.7.0 run with PYTHONHASHSEED=0, including its quirk that a zero
// data-flow score counts as 1 in the weighted sum (out->dataflow_match still reports 0).
// Returns SQZ_ERR_ARG for an unknown language/flavor or bad arguments, SQZ_ERR_NOMEM, or
// SQZ_ERR_INTERNAL if tree-sitter rejects a grammar; *out is written only on success.
sqz_status sqz_codebleu_corpus(const char *lang, sqz_codebleu_flavor flavor, const double *weights,
                               const char *const *hyps, const char *const *refs, int64_t n, int n_refs,
                               sqz_codebleu_result *out);

// Canonical language name ("c_sharp" for "cs"), or NULL if the language is not supported.
const char *sqz_codebleu_lang_name(const char *lang);

#ifdef __cplusplus
}
#endif
#endif

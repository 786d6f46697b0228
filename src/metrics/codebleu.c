// CodeBLEU = α·BLEU + β·weighted BLEU + γ·syntax match + δ·data-flow match (Ren et al. 2020),
// reproducing two reference implementations (full notes: docs/codebleu.md):
//
//  SQZ_CODEBLEU_PYPI: the PyPI `codebleu` 0.7.0 package (k4black/codebleu) with the grammar
//    packages tree-sitter-{python 0.23.6, java 0.23.5, c-sharp 0.23.1, c 0.23.4, cpp 0.23.4,
//    javascript 0.23.1} compiled from their sdists (cmake/grammars.cmake). Matched on all four
//    components with PYTHONHASHSEED=0: the data-flow merge uses list(set(names)), whose order we
//    emulate (codebleu_pyset.c). Quirks kept: comments are removed per language (python via the
//    tokenize module, everything else with the C-family regex), the candidate is re-cleaned once
//    per reference, c and cpp use the C# data-flow rules, and a data-flow score of 0 counts as 1
//    in the weighted sum.
//
//  SQZ_CODEBLEU_CODEXGLUE: microsoft/CodeXGLUE's evaluator (calc_code_bleu.py), deterministic
//    "sorted names" variant (list(set(x)) → sorted(set(x))), keyword lists from the evaluator.
//    Comment removal is always the Java-mode regex (so Python `//` floor divisions are removed and
//    `#` comments stay), as in the evaluator. N-gram and weighted n-gram components are exact.
//    Syntax and data flow run on today's grammars, not the evaluator's 2020 `my-languages.so`, so
//    they differ where node types changed. Known, documented differences:
//      - node type names and shapes changed (e.g. Java/C# string literals now have children,
//        C# `variable_declarator` holds `= value` directly instead of an `equals_value_clause`;
//        we map the latter back so declarations still produce data flow);
//      - S-expressions now carry field names (`name: (identifier)`), which 2020's sexp() lacked;
//        both sides of a comparison use the same form, so only grammar differences matter;
//      - where the evaluator divides by zero (no reference data flow in the whole corpus) the
//        data-flow score is defined as 0.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/error.h"
#include "metrics/codebleu_internal.h"

const TSLanguage *tree_sitter_python(void);
const TSLanguage *tree_sitter_java(void);
const TSLanguage *tree_sitter_c_sharp(void);
const TSLanguage *tree_sitter_c(void);
const TSLanguage *tree_sitter_cpp(void);
const TSLanguage *tree_sitter_javascript(void);
// Generated from the keyword lists by cmake/grammars.cmake: NULL-terminated, or NULL for an
// unknown language. flavor 0 = PyPI package lists, 1 = CodeXGLUE evaluator lists (may be empty).
const char *const *sqz_codebleu_keywords(int flavor, const char *lang);

typedef struct lang_def {
    const char *name, *alias1, *alias2;
    cb_lang id;
    const TSLanguage *(*ts)(void);
} lang_def;

static const lang_def LANGS[] = {
    {"python", "py", NULL, CB_PYTHON, tree_sitter_python},
    {"java", NULL, NULL, CB_JAVA, tree_sitter_java},
    {"c_sharp", "cs", "csharp", CB_CSHARP, tree_sitter_c_sharp},
    {"c", NULL, NULL, CB_C, tree_sitter_c},
    {"cpp", "c++", NULL, CB_CPP, tree_sitter_cpp},
    {"javascript", "js", NULL, CB_JS, tree_sitter_javascript},
};

static const lang_def *find_lang(const char *lang) {
    if (!lang)
        return NULL;
    for (size_t i = 0; i < sizeof LANGS / sizeof LANGS[0]; i++) {
        const lang_def *l = &LANGS[i];
        if (!strcmp(lang, l->name) || (l->alias1 && !strcmp(lang, l->alias1)) ||
            (l->alias2 && !strcmp(lang, l->alias2)))
            return l;
    }
    return NULL;
}

const char *sqz_codebleu_lang_name(const char *lang) {
    const lang_def *l = find_lang(lang);
    return l ? l->name : NULL;
}

static sqz_status check_text(const char *s, const char *what, int64_t i, int r) {
    if (!s)
        return r < 0 ? sqz_error(SQZ_ERR_ARG, "codebleu: %s[%lld] is NULL", what, (long long)i)
                     : sqz_error(SQZ_ERR_ARG, "codebleu: %s[%lld] (segment %lld, reference %d) is NULL",
                                 what, (long long)i, (long long)(i), r);
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_ssize_t n = (utf8proc_ssize_t)strlen(s), off = 0;
    while (off < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p + off, n - off, &cp);
        if (k < 0)
            return sqz_error(SQZ_ERR_ARG, "codebleu: %s[%lld] is not valid UTF-8 (byte %lld)", what,
                             (long long)i, (long long)off);
        off += k;
    }
    return SQZ_OK;
}

static sqz_status check_args(const lang_def *l, const char *lang, sqz_codebleu_flavor flavor,
                             const double *weights, const char *const *hyps, const char *const *refs,
                             int64_t n, int n_refs, const sqz_codebleu_result *out) {
    SQZ_FAIL_IF(!l, SQZ_ERR_ARG,
                "codebleu: unknown language '%s' (supported: python, java, c_sharp/cs, c, cpp, javascript/js)",
                lang ? lang : "(null)");
    SQZ_FAIL_IF(flavor != SQZ_CODEBLEU_PYPI && flavor != SQZ_CODEBLEU_CODEXGLUE, SQZ_ERR_ARG,
                "codebleu: unknown flavor %d", (int)flavor);
    SQZ_FAIL_IF(!out || !hyps || !refs, SQZ_ERR_ARG, "codebleu: NULL hyps, refs or out");
    SQZ_FAIL_IF(n < 1, SQZ_ERR_ARG, "codebleu: need at least one segment (n = %lld)", (long long)n);
    SQZ_FAIL_IF(n_refs < 1, SQZ_ERR_ARG, "codebleu: need at least one reference per segment (n_refs = %d)", n_refs);
    SQZ_FAIL_IF((uint64_t)n > (uint64_t)INT32_MAX / (uint64_t)(n_refs + 1), SQZ_ERR_ARG,
                "codebleu: too many segments (%lld x %d references)", (long long)n, n_refs);
    for (int k = 0; weights && k < 4; k++)
        SQZ_FAIL_IF(!isfinite(weights[k]), SQZ_ERR_ARG, "codebleu: weight %d is not finite", k);
    const char *const *kw = sqz_codebleu_keywords(flavor, l->name);
    SQZ_FAIL_IF(!kw || !kw[0], SQZ_ERR_UNSUPPORTED,
                "codebleu: the %s flavor has no keyword list for '%s' (CodeXGLUE ships python, java and c_sharp)",
                flavor == SQZ_CODEBLEU_PYPI ? "PyPI" : "CodeXGLUE", l->name);
    for (int64_t i = 0; i < n; i++)
        SQZ_TRY(check_text(hyps[i], "hyps", i, -1));
    for (int64_t i = 0; i < n * n_refs; i++)
        SQZ_TRY(check_text(refs[i], "refs", i, (int)(i % n_refs)));
    return SQZ_OK;
}

// The syntax and data-flow loops of one segment (both references clean the candidate again for
// every reference, cumulatively).
static sqz_status structure_segment(TSParser *parser, const lang_def *l, sqz_codebleu_flavor flavor,
                                    cb_span hyp, const cb_span *refs, int n_refs, int64_t cnt[4]) {
    bool python_mode = flavor == SQZ_CODEBLEU_PYPI && l->id == CB_PYTHON;
    cb_buf cand = {0}, tmp = {0}, ref = {0};
    sqz_status st = cb_buf_put(&cand, hyp.p, hyp.n);
    for (int r = 0; r < n_refs && st == SQZ_OK; r++) {
        bool ok;
        st = cb_remove_comments(cand.p, cand.n, python_mode, &tmp, &ok);
        if (st == SQZ_OK && ok) {
            cb_buf swap = cand;
            cand = tmp;
            tmp = swap;
        }
        if (st == SQZ_OK)
            st = cb_remove_comments(refs[r].p, refs[r].n, python_mode, &ref, &ok);
        if (st == SQZ_OK && !ok) {
            ref.n = 0;
            st = cb_buf_put(&ref, refs[r].p, refs[r].n);
        }
        cb_tree ct = {0}, rt = {0};
        if (st == SQZ_OK)
            st = cb_tree_parse(parser, cand.p, cand.n, &ct);
        if (st == SQZ_OK)
            st = cb_tree_parse(parser, ref.p, ref.n, &rt);
        if (st == SQZ_OK)
            st = cb_syntax_pair(&ct, &rt, &cnt[0], &cnt[1]);
        if (st == SQZ_OK)
            st = cb_dataflow_pair(&ct, &rt, l->id, flavor, &cnt[2], &cnt[3]);
        cb_tree_free(&ct);
        cb_tree_free(&rt);
    }
    cb_buf_free(&cand);
    cb_buf_free(&tmp);
    cb_buf_free(&ref);
    return st;
}

static sqz_status structure_corpus(const lang_def *l, sqz_codebleu_flavor flavor, const cb_span *hyps,
                                   const cb_span *refs, int64_t n, int n_refs, int64_t cnt[4]) {
    TSParser *parser = ts_parser_new();
    SQZ_FAIL_IF(!parser, SQZ_ERR_NOMEM, "codebleu: cannot create a tree-sitter parser");
    sqz_status st = SQZ_OK;
    if (!ts_parser_set_language(parser, l->ts()))
        st = sqz_error(SQZ_ERR_INTERNAL, "codebleu: tree-sitter rejects the %s grammar (ABI %u)", l->name,
                       ts_language_version(l->ts()));
    for (int64_t i = 0; i < n && st == SQZ_OK; i++)
        st = structure_segment(parser, l, flavor, hyps[i], refs + i * n_refs, n_refs, cnt);
    ts_parser_delete(parser);
    return st;
}

sqz_status sqz_codebleu_corpus(const char *lang, sqz_codebleu_flavor flavor, const double *weights,
                               const char *const *hyps, const char *const *refs, int64_t n, int n_refs,
                               sqz_codebleu_result *out) {
    const lang_def *l = find_lang(lang);
    SQZ_TRY(check_args(l, lang, flavor, weights, hyps, refs, n, n_refs, out));
    static const double default_w[4] = {0.25, 0.25, 0.25, 0.25};
    const double *w = weights ? weights : default_w;
    size_t n_refs_all = (size_t)n * (size_t)n_refs;
    cb_span *hs = malloc((size_t)n * sizeof *hs), *rs = malloc(n_refs_all * sizeof *rs);
    if (!hs || !rs) {
        free(hs);
        free(rs);
        return sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
    }
    for (int64_t i = 0; i < n; i++)
        hs[i] = cb_py_strip(hyps[i], strlen(hyps[i]));
    for (size_t i = 0; i < n_refs_all; i++)
        rs[i] = cb_py_strip(refs[i], strlen(refs[i]));
    sqz_codebleu_result r = {0};
    int64_t cnt[4] = {0}; // syntax match, syntax total, data-flow match, data-flow total
    sqz_status st = cb_bleu_corpus(hs, rs, n, n_refs, sqz_codebleu_keywords(flavor, l->name), &r.ngram_match,
                                   &r.weighted_ngram_match);
    if (st == SQZ_OK)
        st = structure_corpus(l, flavor, hs, rs, n, n_refs, cnt);
    free(hs);
    free(rs);
    SQZ_TRY(st);
    r.syntax_match = cnt[1] ? (double)cnt[0] / (double)cnt[1] : 0.0;
    r.dataflow_match = cnt[3] ? (double)cnt[2] / (double)cnt[3] : 0.0;
    double df = r.dataflow_match;
    if (flavor == SQZ_CODEBLEU_PYPI && df == 0.0)
        df = 1.0; // codebleu 0.7.0: `theta * (dataflow_match_score or 1)`
    r.codebleu = w[0] * r.ngram_match + w[1] * r.weighted_ngram_match + w[2] * r.syntax_match + w[3] * df;
    *out = r;
    return SQZ_OK;
}

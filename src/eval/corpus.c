// The held-out code corpus: the compress module's by-file split (sqz/compress.h:
// sqz_corpus_is_heldout, so no file used for calibration is evaluated on) and cutting completion
// problems out of top-level functions.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sqz/compress.h"
#include "sqz/eval.h"

void sqz_corpus_default_path(const char *data_dir, char *buf, size_t size) {
    snprintf(buf, size, "%s/python-corpus/cpython-3.11.2-stdlib-toplevel.tar", data_dir);
}

void sqz_corpus_free(sqz_corpus_file *files, size_t n) {
    for (size_t i = 0; files && i < n; i++)
        free(files[i].name), free(files[i].text);
    free(files);
}

typedef struct corpus_acc {
    bool held_out_only;
    sqz_corpus_file *files;
    size_t n;
    sqz_status st;
} corpus_acc;

static int corpus_add(void *user, const char *name, const uint8_t *data, size_t size) {
    corpus_acc *a = user;
    if (a->held_out_only && !sqz_corpus_is_heldout(name))
        return 0;
    sqz_corpus_file *f = realloc(a->files, (a->n + 1) * sizeof *f);
    if (!f) {
        a->st = sqz_error(SQZ_ERR_NOMEM, "corpus: out of memory");
        return 1;
    }
    a->files = f;
    f[a->n].name = strdup(name);
    f[a->n].text = malloc(size + 1);
    if (!f[a->n].name || !f[a->n].text) {
        free(f[a->n].name), free(f[a->n].text);
        a->st = sqz_error(SQZ_ERR_NOMEM, "corpus: out of memory for %s", name);
        return 1;
    }
    memcpy(f[a->n].text, data, size);
    f[a->n].text[size] = 0;
    f[a->n].len = size;
    a->n++;
    return 0;
}

sqz_status sqz_corpus_read(const char *tar_path, bool held_out_only, sqz_corpus_file **files, size_t *n) {
    corpus_acc a = {.held_out_only = held_out_only};
    sqz_status st = sqz_tar_foreach(tar_path, corpus_add, &a);
    if (st == SQZ_OK)
        st = a.st;
    if (st != SQZ_OK) {
        sqz_corpus_free(a.files, a.n);
        a.files = NULL, a.n = 0;
    }
    *files = a.files;
    *n = a.n;
    return st;
}

sqz_status sqz_corpus_heldout_text(const char *tar_path, char **out, size_t *len) {
    return sqz_corpus_text(tar_path, true, out, len);
}

// ---- completion problems -----------------------------------------------------------------------

void sqz_code_fns_free(sqz_code_fn *fns, size_t n) {
    for (size_t i = 0; fns && i < n; i++)
        free(fns[i].id), free(fns[i].prefix), free(fns[i].target);
    free(fns);
}

typedef struct line_span {
    size_t start, end; // [start, end) excluding the '\n'
} line_span;

static bool blank(const char *s, line_span l) {
    for (size_t i = l.start; i < l.end; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

// A line that ends a top-level function: non-blank and starting at column 0 (closing brackets of a
// multi-line signature are not).
static bool top_level(const char *s, line_span l) {
    return !blank(s, l) && s[l.start] != ' ' && s[l.start] != '\t' && s[l.start] != ')' && s[l.start] != ']';
}

static bool ends_with_colon(const char *s, line_span l) {
    size_t e = l.end;
    while (e > l.start && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r'))
        e--;
    return e > l.start && s[e - 1] == ':';
}

// Index of the line after a docstring starting at line i (or i when line i has none).
static size_t skip_docstring(const char *s, const line_span *ls, size_t i, size_t end) {
    if (i >= end)
        return i;
    size_t p = ls[i].start;
    while (p < ls[i].end && (s[p] == ' ' || s[p] == '\t'))
        p++;
    if (p < ls[i].end && (s[p] == 'r' || s[p] == 'R' || s[p] == 'u' || s[p] == 'U'))
        p++;
    if (ls[i].end - p < 3 || (strncmp(s + p, "\"\"\"", 3) && strncmp(s + p, "'''", 3)))
        return i;
    char q[4] = {s[p], s[p], s[p], 0};
    const char *close = memmem(s + p + 3, ls[i].end - p - 3, q, 3);
    if (close)
        return i + 1;
    for (size_t j = i + 1; j < end; j++)
        if (memmem(s + ls[j].start, ls[j].end - ls[j].start, q, 3))
            return j + 1;
    return i; // unterminated: treat as code
}

static char *span_dup(const char *s, size_t a, size_t b) {
    return strndup(s + a, b - a);
}

static sqz_status add_fn(sqz_code_fn **fns, size_t *n, const char *file, size_t line, char *prefix, char *target) {
    sqz_code_fn *f = realloc(*fns, (*n + 1) * sizeof **fns);
    char id[320];
    snprintf(id, sizeof id, "%s:%zu", file, line + 1);
    if (f)
        *fns = f;
    if (!f || !prefix || !target || !(f[*n].id = strdup(id))) {
        free(prefix), free(target);
        return sqz_error(SQZ_ERR_NOMEM, "completion: out of memory");
    }
    f[*n].prefix = prefix;
    f[*n].target = target;
    (*n)++;
    return SQZ_OK;
}

// Cut one function spanning lines [d, e) (e: first top-level line after it, trailing blanks dropped).
static sqz_status cut_fn(const char *file, const char *s, const line_span *ls, size_t d, size_t e, int k,
                         sqz_code_fn **fns, size_t *n) {
    size_t sig = d;
    while (sig < e && !ends_with_colon(s, ls[sig]))
        sig++;
    if (sig >= e)
        return SQZ_OK;
    size_t body = skip_docstring(s, ls, sig + 1, e);
    size_t cut = body;
    for (int taken = 0; cut < e && taken < k; cut++)
        if (!blank(s, ls[cut]))
            taken++;
    int rest = 0;
    for (size_t j = cut; j < e; j++)
        rest += !blank(s, ls[j]);
    if (rest < 2)
        return SQZ_OK;
    char *prefix = span_dup(s, ls[d].start, ls[cut - 1].end + 1);
    char *target = span_dup(s, ls[cut].start, ls[e - 1].end);
    return add_fn(fns, n, file, d, prefix, target);
}

sqz_status sqz_code_fns_extract(const char *file_name, const char *text, int k_lines, sqz_code_fn **fns,
                                size_t *n) {
    size_t len = strlen(text), nl = 0, cap = 64;
    line_span *ls = malloc(cap * sizeof *ls);
    SQZ_FAIL_IF(!ls, SQZ_ERR_NOMEM, "completion: out of memory");
    for (size_t p = 0; p < len;) {
        const char *q = memchr(text + p, '\n', len - p);
        size_t e = q ? (size_t)(q - text) : len;
        if (nl == cap) {
            line_span *g = realloc(ls, (cap *= 2) * sizeof *ls);
            if (!g) {
                free(ls);
                return sqz_error(SQZ_ERR_NOMEM, "completion: out of memory");
            }
            ls = g;
        }
        ls[nl++] = (line_span){p, e};
        p = e + 1;
    }
    sqz_status st = SQZ_OK;
    for (size_t i = 0; i < nl && st == SQZ_OK; i++) {
        if (ls[i].end - ls[i].start < 4 || strncmp(text + ls[i].start, "def ", 4))
            continue;
        size_t e = i + 1;
        while (e < nl && !top_level(text, ls[e]))
            e++;
        size_t last = e;
        while (last > i + 1 && blank(text, ls[last - 1]))
            last--;
        st = cut_fn(file_name, text, ls, i, last, k_lines, fns, n);
        i = e - 1;
    }
    free(ls);
    return st;
}

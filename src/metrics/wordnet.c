// WordNet 3.0 from the Princeton dict files, read as NLTK 3.8's WordNetCorpusReader does for
// synsets(word): index.<pos> maps a lemma to synset offsets per part of speech (lines starting
// with a space are the licence header), <pos>.exc maps irregular forms to base forms (a later
// line for the same form replaces an earlier one, as NLTK's dict assignment), data.<pos> holds
// one synset per line at its byte offset. morphy() is NLTK's _morphy: exceptions first, then the
// suffix rules applied repeatedly until some form is a lemma of that part of speech.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "metrics/wordnet.h"

enum { WN_NOUN, WN_VERB, WN_ADJ, WN_ADV, WN_NPOS };
static const char *const wn_file[WN_NPOS] = {"noun", "verb", "adj", "adv"};
static const char wn_tag[WN_NPOS] = {'n', 'v', 'a', 'r'};

struct sqz_wordnet {
    sqz_mmap index[WN_NPOS], data[WN_NPOS], exc[WN_NPOS];
    mt_table lemmas[WN_NPOS];     // lemma → 1 + line number in lines[pos]
    mt_table exceptions[WN_NPOS]; // form → 1 + line number in exc_lines[pos]
    const char **lines[WN_NPOS], **exc_lines[WN_NPOS];
    size_t n_lines[WN_NPOS], n_exc[WN_NPOS];
};

const char *sqz_wordnet_default_dir(void) {
    const char *e = getenv("SQZ_WORDNET");
    return e && *e ? e : "/usr/share/wordnet";
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

// Next whitespace-separated token of [*p, end) on the current line; false at end of line.
static bool next_tok(const char **p, const char *end, const char **tok, size_t *len) {
    const char *s = *p;
    while (s < end && is_ws(*s) && *s != '\n')
        s++;
    if (s >= end || *s == '\n')
        return *p = s, false;
    const char *t = s;
    while (s < end && !is_ws(*s))
        s++;
    *tok = t, *len = (size_t)(s - t), *p = s;
    return true;
}

static const char *line_end(const char *p, const char *end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? nl : end;
}

// Index every line of a file: lines[i] = start of line i; keys = its first token.
static sqz_status load_keys(const sqz_mmap *m, bool skip_space_lines, mt_table *keys,
                            const char ***lines, size_t *n_lines) {
    const char *p = (const char *)m->data, *end = p + m->size;
    size_t cap = 0;
    for (size_t lineno = 1; p && p < end; lineno++) {
        const char *le = line_end(p, end), *q = p, *tok;
        size_t tl;
        if (!(skip_space_lines && *p == ' ') && next_tok(&q, le, &tok, &tl)) {
            if (*n_lines == cap) {
                cap = cap ? cap * 2 : 4096;
                const char **nl = realloc(*lines, cap * sizeof *nl);
                if (!nl)
                    return sqz_error(SQZ_ERR_NOMEM, "%s: out of memory", m->path);
                *lines = nl;
            }
            (*lines)[*n_lines] = p;
            mt_table_max(keys, tok, tl, (int64_t)++*n_lines);
        }
        p = le + 1;
    }
    return keys->oom ? sqz_error(SQZ_ERR_NOMEM, "%s: out of memory", m->path) : SQZ_OK;
}

void sqz_wordnet_free(sqz_wordnet *wn) {
    if (!wn)
        return;
    for (int i = 0; i < WN_NPOS; i++) {
        sqz_mmap_close(&wn->index[i]);
        sqz_mmap_close(&wn->data[i]);
        sqz_mmap_close(&wn->exc[i]);
        mt_table_free(&wn->lemmas[i]);
        mt_table_free(&wn->exceptions[i]);
        free(wn->lines[i]);
        free(wn->exc_lines[i]);
    }
    free(wn);
}

sqz_status sqz_wordnet_open(const char *dir, sqz_wordnet **out) {
    *out = NULL;
    sqz_wordnet *wn = calloc(1, sizeof *wn);
    if (!wn)
        return sqz_error(SQZ_ERR_NOMEM, "WordNet: out of memory");
    sqz_status st = SQZ_OK;
    char path[4096];
    for (int i = 0; i < WN_NPOS && st == SQZ_OK; i++) {
        snprintf(path, sizeof path, "%s/index.%s", dir, wn_file[i]);
        st = sqz_mmap_open(&wn->index[i], path);
        if (st == SQZ_OK)
            snprintf(path, sizeof path, "%s/data.%s", dir, wn_file[i]), st = sqz_mmap_open(&wn->data[i], path);
        if (st == SQZ_OK)
            snprintf(path, sizeof path, "%s/%s.exc", dir, wn_file[i]), st = sqz_mmap_open(&wn->exc[i], path);
        if (st != SQZ_OK) {
            st = sqz_error_prefix(SQZ_ERR_NOT_FOUND, "WordNet in %s: ", dir);
            break;
        }
        st = load_keys(&wn->index[i], true, &wn->lemmas[i], &wn->lines[i], &wn->n_lines[i]);
        if (st == SQZ_OK)
            st = load_keys(&wn->exc[i], false, &wn->exceptions[i], &wn->exc_lines[i], &wn->n_exc[i]);
    }
    if (st != SQZ_OK) {
        sqz_wordnet_free(wn);
        return st;
    }
    *out = wn;
    return SQZ_OK;
}

// A list of candidate forms (malloc'd strings).
typedef struct forms {
    char **s;
    size_t n, cap;
    bool oom;
} forms;

static void forms_add(forms *f, const char *s, size_t len) {
    for (size_t i = 0; i < f->n; i++) // duplicates never change morphy's result set
        if (strlen(f->s[i]) == len && !memcmp(f->s[i], s, len))
            return;
    if (f->n == f->cap) {
        size_t c = f->cap ? f->cap * 2 : 8;
        char **ns = realloc(f->s, c * sizeof *ns);
        if (!ns)
            return (void)(f->oom = true);
        f->s = ns, f->cap = c;
    }
    char *d = malloc(len + 1);
    if (!d)
        return (void)(f->oom = true);
    memcpy(d, s, len);
    d[len] = 0;
    f->s[f->n++] = d;
}

static void forms_free(forms *f) {
    for (size_t i = 0; i < f->n; i++)
        free(f->s[i]);
    free(f->s);
    memset(f, 0, sizeof *f);
}

static const char *const subst[WN_NPOS][10][2] = {
    {{"s", ""}, {"ses", "s"}, {"ves", "f"}, {"xes", "x"}, {"zes", "z"}, {"ches", "ch"},
     {"shes", "sh"}, {"men", "man"}, {"ies", "y"}},
    {{"s", ""}, {"ies", "y"}, {"es", "e"}, {"es", ""}, {"ed", "e"}, {"ed", ""}, {"ing", "e"},
     {"ing", ""}},
    {{"er", ""}, {"est", ""}, {"er", "e"}, {"est", "e"}},
    {{0}},
};

static void apply_rules(int pos, const forms *in, forms *out) {
    for (size_t i = 0; i < in->n; i++) {
        size_t len = strlen(in->s[i]);
        char *buf = malloc(len + 4); // a substitution lengthens a form by at most 0 bytes
        if (!buf) {
            out->oom = true;
            return;
        }
        for (int r = 0; r < 10 && subst[pos][r][0]; r++) {
            size_t ol = strlen(subst[pos][r][0]), nl = strlen(subst[pos][r][1]);
            if (len < ol || memcmp(in->s[i] + len - ol, subst[pos][r][0], ol))
                continue;
            memcpy(buf, in->s[i], len - ol);
            memcpy(buf + len - ol, subst[pos][r][1], nl);
            forms_add(out, buf, len - ol + nl);
        }
        free(buf);
    }
}

// filter_forms: the forms that are lemmas of `pos`, appended to res (deduplicated).
static void filter_forms(const sqz_wordnet *wn, int pos, const forms *in, forms *res) {
    for (size_t i = 0; i < in->n; i++)
        if (mt_table_get(&wn->lemmas[pos], in->s[i], strlen(in->s[i])))
            forms_add(res, in->s[i], strlen(in->s[i]));
}

static void morphy(const sqz_wordnet *wn, int pos, const char *w, size_t len, forms *res) {
    forms cur = {0}, next = {0};
    forms_add(&cur, w, len);
    int64_t exc = mt_table_get(&wn->exceptions[pos], w, len);
    if (exc) { // [form] + exceptions[form]
        const char *p = wn->exc_lines[pos][exc - 1], *end = (const char *)wn->exc[pos].data + wn->exc[pos].size;
        const char *le = line_end(p, end), *tok;
        size_t tl;
        next_tok(&p, le, &tok, &tl); // the form itself
        while (next_tok(&p, le, &tok, &tl))
            forms_add(&cur, tok, tl);
        filter_forms(wn, pos, &cur, res);
        res->oom |= cur.oom;
        forms_free(&cur);
        return;
    }
    apply_rules(pos, &cur, &next);
    for (size_t i = 0; i < next.n; i++)
        forms_add(&cur, next.s[i], strlen(next.s[i]));
    filter_forms(wn, pos, &cur, res);
    forms_free(&cur);
    while (!res->n && next.n && !next.oom) {
        cur = next;
        memset(&next, 0, sizeof next);
        apply_rules(pos, &cur, &next);
        filter_forms(wn, pos, &next, res);
        forms_free(&cur);
    }
    res->oom |= next.oom;
    forms_free(&next);
}

// Add the '_'-free lemma names of the synset at `offset` in data.<pos>.
static sqz_status add_synset(const sqz_wordnet *wn, int pos, unsigned long offset, mt_table *out) {
    const sqz_mmap *m = &wn->data[pos];
    const char *base = (const char *)m->data, *end = base + m->size;
    SQZ_FAIL_IF(offset >= m->size, SQZ_ERR_FORMAT, "%s: synset offset %lu past end of file", m->path, offset);
    const char *p = base + offset, *le = line_end(p, end), *tok;
    size_t tl;
    char want[32];
    snprintf(want, sizeof want, "%08lu", offset);
    SQZ_FAIL_IF(!next_tok(&p, le, &tok, &tl) || tl != strlen(want) || memcmp(tok, want, tl),
                SQZ_ERR_FORMAT, "%s: no synset at offset %lu", m->path, offset);
    const char *lex, *ss, *cnt;
    size_t ll, sl, cl;
    SQZ_FAIL_IF(!next_tok(&p, le, &lex, &ll) || !next_tok(&p, le, &ss, &sl) ||
                    !next_tok(&p, le, &cnt, &cl) || cl > 8,
                SQZ_ERR_FORMAT, "%s: truncated synset at offset %lu", m->path, offset);
    char hex[9] = {0};
    memcpy(hex, cnt, cl);
    unsigned long n = strtoul(hex, NULL, 16);
    for (unsigned long i = 0; i < n; i++) {
        const char *lid;
        size_t lidl;
        SQZ_FAIL_IF(!next_tok(&p, le, &tok, &tl) || !next_tok(&p, le, &lid, &lidl), SQZ_ERR_FORMAT,
                    "%s: synset at offset %lu lists %lu lemmas but ends early", m->path, offset, n);
        // (.*?)(\(.*\))?$ — drop a syntactic marker such as "(a)" or "(ip)"
        if (tl >= 2 && tok[tl - 1] == ')') {
            const char *open = memchr(tok, '(', tl - 1);
            if (open)
                tl = (size_t)(open - tok);
        }
        if (!memchr(tok, '_', tl))
            mt_table_max(out, tok, tl, 1);
    }
    return SQZ_OK;
}

sqz_status mt_wordnet_synonyms(const sqz_wordnet *wn, const char *word, size_t len, mt_table *out) {
    mt_table_max(out, word, len, 1);
    for (int pos = 0; pos < WN_NPOS; pos++) {
        forms res = {0};
        morphy(wn, pos, word, len, &res);
        sqz_status st = res.oom ? sqz_error(SQZ_ERR_NOMEM, "WordNet: out of memory") : SQZ_OK;
        for (size_t f = 0; f < res.n && st == SQZ_OK; f++) {
            // index line: lemma pos n_synsets n_pointers ptr... n_senses rank offsets...
            int64_t li = mt_table_get(&wn->lemmas[pos], res.s[f], strlen(res.s[f]));
            const sqz_mmap *m = &wn->index[pos];
            const char *p = wn->lines[pos][li - 1], *le = line_end(p, (const char *)m->data + m->size), *tok;
            size_t tl;
            long v[4] = {0};
            bool ok = next_tok(&p, le, &tok, &tl) && next_tok(&p, le, &tok, &tl) &&
                      tl == 1 && tok[0] == wn_tag[pos];
            for (int k = 0; ok && k < 2; k++)
                ok = next_tok(&p, le, &tok, &tl) && (v[k] = strtol(tok, NULL, 10)) >= 0;
            for (long k = 0; ok && k < v[1]; k++)
                ok = next_tok(&p, le, &tok, &tl);
            ok = ok && next_tok(&p, le, &tok, &tl) && next_tok(&p, le, &tok, &tl);
            for (long k = 0; ok && k < v[0] && st == SQZ_OK; k++) {
                ok = next_tok(&p, le, &tok, &tl);
                if (ok)
                    st = add_synset(wn, pos, strtoul(tok, NULL, 10), out);
            }
            if (!ok && st == SQZ_OK)
                st = sqz_error(SQZ_ERR_FORMAT, "%s: malformed entry for '%s'", m->path, res.s[f]);
        }
        forms_free(&res);
        if (st != SQZ_OK)
            return st;
    }
    return out->oom ? sqz_error(SQZ_ERR_NOMEM, "WordNet: out of memory") : SQZ_OK;
}

// CodeBLEU text handling: Python's str.strip()/str.split() semantics, and the references'
// remove_comments_and_docstrings() in its two modes:
//   "java" mode  = re.sub(r'//.*?$|/\*.*?\*/|\'(?:\\.|[^\\\'])*\'|"(?:\\.|[^\\"])*"', DOTALL|MULTILINE)
//                  replacing comments by one space and keeping string literals, then dropping blank
//                  lines. Reproduced with the same regex in PCRE2 (byte mode: the pattern only
//                  inspects ASCII, so UTF-8 multi-byte sequences behave as in Python).
//   python mode  = a walk over tokenize.generate_tokens() (CPython 3.11's pure-Python tokenizer)
//                  that drops COMMENT tokens and docstring-like STRING tokens and re-joins the rest
//                  by columns. The tokenizer is ported below with its own regexes (PCRE2, UTF+UCP).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "metrics/codebleu_internal.h"

sqz_status cb_buf_put(cb_buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory (%zu bytes)", cap);
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return SQZ_OK;
}

void cb_buf_free(cb_buf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

uint32_t cb_utf8_next(const char *s, size_t n, size_t *i) {
    const unsigned char *u = (const unsigned char *)s;
    size_t k = *i;
    uint32_t c = u[k];
    int len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (k + (size_t)len > n)
        len = 1;
    if (len == 1) {
        *i = k + 1;
        return c;
    }
    c &= (uint32_t)(0x7F >> len);
    for (int j = 1; j < len; j++)
        c = (c << 6) | (u[k + (size_t)j] & 0x3F);
    *i = k + (size_t)len;
    return c;
}

bool cb_py_isspace(uint32_t c) {
    if (c < 0x80)
        return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

cb_span cb_py_strip(const char *s, size_t n) {
    size_t a = 0, b = n;
    while (a < n) {
        size_t j = a;
        if (!cb_py_isspace(cb_utf8_next(s, n, &j)))
            break;
        a = j;
    }
    while (b > a) {
        size_t k = b - 1;
        while (k > a && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        size_t j = k;
        if (!cb_py_isspace(cb_utf8_next(s, n, &j)))
            break;
        b = k;
    }
    return (cb_span){s + a, b - a};
}

sqz_status cb_py_split(const char *s, size_t n, cb_span **toks, size_t *n_toks) {
    size_t cap = 16, cnt = 0, i = 0;
    cb_span *t = malloc(cap * sizeof *t);
    if (!t)
        return sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
    while (i < n) {
        size_t j = i;
        if (cb_py_isspace(cb_utf8_next(s, n, &j))) {
            i = j;
            continue;
        }
        size_t start = i;
        while (i < n) {
            j = i;
            if (cb_py_isspace(cb_utf8_next(s, n, &j)))
                break;
            i = j;
        }
        if (cnt == cap) {
            cb_span *nt = realloc(t, 2 * cap * sizeof *t);
            if (!nt) {
                free(t);
                return sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
            }
            t = nt;
            cap *= 2;
        }
        t[cnt++] = (cb_span){s + start, i - start};
    }
    *toks = t;
    *n_toks = cnt;
    return SQZ_OK;
}

// '\n'.join(x for x in text.split('\n') if x.strip() != '')
static sqz_status drop_blank_lines(const char *s, size_t n, cb_buf *out) {
    out->n = 0;
    SQZ_TRY(cb_buf_put(out, "", 0));
    bool first = true;
    size_t a = 0;
    while (a <= n) {
        const char *nl = memchr(s + a, '\n', n - a);
        size_t b = nl ? (size_t)(nl - s) : n;
        if (cb_py_strip(s + a, b - a).n) {
            if (!first)
                SQZ_TRY(cb_buf_put(out, "\n", 1));
            SQZ_TRY(cb_buf_put(out, s + a, b - a));
            first = false;
        }
        a = b + 1;
    }
    return SQZ_OK;
}

// ---- compiled regexes (built once) -------------------------------------------------------------------
enum { RX_JAVA, RX_PSEUDO, RX_SINGLE, RX_DOUBLE, RX_SINGLE3, RX_DOUBLE3, RX_COUNT };
static pcre2_code *g_rx[RX_COUNT];
static pthread_once_t g_rx_once = PTHREAD_ONCE_INIT;
static bool g_rx_ok;

#define SP "(?:[bB][rR]?|[rR][bBfF]?|[uU]|[fF][rR]?)?" // StringPrefix (all prefixes, or none)
#define DIG "[0-9](?:_?[0-9])*"
#define EXPO "[eE][-+]?" DIG
#define POINTFLOAT "(?:" DIG "\\.(?:" DIG ")?|\\." DIG ")(?:" EXPO ")?"
#define FLOATNUM "(?:" POINTFLOAT "|" DIG EXPO ")"
#define INTNUM "(?:0[xX](?:_?[0-9a-fA-F])+|0[bB](?:_?[01])+|0[oO](?:_?[0-7])+|(?:0(?:_?0)*|[1-9](?:_?[0-9])*))"
#define NUMBER "(?:(?:" DIG "[jJ]|" FLOATNUM "[jJ])|" FLOATNUM "|" INTNUM ")"
// tokenize.Special: the exact operator tokens of Python 3.11, sorted in reverse (longest first).
#define SPECIAL "~|\\}|\\|=|\\||\\{|\\^=|\\^|\\]|\\[|@=|@|>>=|>>|>=|>|==|=|<=|<<=|<<|<|;|:=|:|/=|//=|//|/" \
                "|\\.\\.\\.|\\.|\\->|\\-=|\\-|,|\\+=|\\+|\\*=|\\*\\*=|\\*\\*|\\*|\\)|\\(|&=|&|%=|%|!="
#define FUNNY "(?:\\r?\\n|" SPECIAL ")"
#define CONTSTR "(?:" SP "'[^\\n'\\\\]*(?:\\\\.[^\\n'\\\\]*)*(?:'|\\\\\\r?\\n)|" \
                SP "\"[^\\n\"\\\\]*(?:\\\\.[^\\n\"\\\\]*)*(?:\"|\\\\\\r?\\n))"
#define TRIPLE "(?:" SP "'''|" SP "\"\"\")"
#define PSEUDOEXTRAS "(?:\\\\\\r?\\n|\\z|#[^\\r\\n]*|" TRIPLE ")"
#define PSEUDOTOKEN "[ \\f\\t]*(" PSEUDOEXTRAS "|" NUMBER "|" FUNNY "|" CONTSTR "|\\w+)"

static void rx_init(void) {
    static const struct { const char *pat; uint32_t opts; } defs[RX_COUNT] = {
        [RX_JAVA] = {"//.*?$|/\\*.*?\\*/|'(?:\\\\.|[^\\\\'])*'|\"(?:\\\\.|[^\\\\\"])*\"",
                     PCRE2_DOTALL | PCRE2_MULTILINE},
        [RX_PSEUDO] = {PSEUDOTOKEN, PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK},
        [RX_SINGLE] = {"[^'\\\\]*(?:\\\\.[^'\\\\]*)*'", PCRE2_UTF | PCRE2_NO_UTF_CHECK},
        [RX_DOUBLE] = {"[^\"\\\\]*(?:\\\\.[^\"\\\\]*)*\"", PCRE2_UTF | PCRE2_NO_UTF_CHECK},
        [RX_SINGLE3] = {"[^'\\\\]*(?:(?:\\\\.|'(?!''))[^'\\\\]*)*'''", PCRE2_UTF | PCRE2_NO_UTF_CHECK},
        [RX_DOUBLE3] = {"[^\"\\\\]*(?:(?:\\\\.|\"(?!\"\"))[^\"\\\\]*)*\"\"\"", PCRE2_UTF | PCRE2_NO_UTF_CHECK},
    };
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!cc)
        return;
    pcre2_set_newline(cc, PCRE2_NEWLINE_LF); // Python's '.' and '$' know only '\n'
    g_rx_ok = true;
    for (int i = 0; i < RX_COUNT; i++) {
        int err;
        PCRE2_SIZE off;
        g_rx[i] = pcre2_compile((PCRE2_SPTR)defs[i].pat, PCRE2_ZERO_TERMINATED, defs[i].opts, &err, &off, cc);
        if (!g_rx[i])
            g_rx_ok = false;
    }
    pcre2_compile_context_free(cc);
}

static sqz_status rx_ready(void) {
    pthread_once(&g_rx_once, rx_init);
    SQZ_FAIL_IF(!g_rx_ok, SQZ_ERR_INTERNAL, "codebleu: cannot compile the comment-removal regexes");
    return SQZ_OK;
}

// Anchored match of regex `rx` on s[0..n) at byte `pos`; returns the end offset or -1.
static int64_t rx_match_at(int rx, const char *s, size_t n, size_t pos, pcre2_match_data *md,
                           size_t *g1_start) {
    int rc = pcre2_match(g_rx[rx], (PCRE2_SPTR)s, n, pos, PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, md, NULL);
    if (rc < 0)
        return -1;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    if (g1_start)
        *g1_start = rc > 1 ? ov[2] : ov[0];
    return (int64_t)ov[1];
}

// ---- java mode ------------------------------------------------------------------------------------
static sqz_status remove_java(const char *s, size_t n, cb_buf *out) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(g_rx[RX_JAVA], NULL);
    SQZ_FAIL_IF(!md, SQZ_ERR_NOMEM, "codebleu: out of memory");
    cb_buf tmp = {0};
    sqz_status st = cb_buf_put(&tmp, "", 0);
    size_t pos = 0;
    while (st == SQZ_OK && pos <= n) {
        int rc = pcre2_match(g_rx[RX_JAVA], (PCRE2_SPTR)s, n, pos, 0, md, NULL);
        if (rc < 0)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        st = cb_buf_put(&tmp, s + pos, ov[0] - pos);
        if (st == SQZ_OK)
            st = s[ov[0]] == '/' ? cb_buf_put(&tmp, " ", 1) : cb_buf_put(&tmp, s + ov[0], ov[1] - ov[0]);
        pos = ov[1]; // every alternative consumes at least 2 bytes
    }
    if (st == SQZ_OK && pos < n)
        st = cb_buf_put(&tmp, s + pos, n - pos);
    pcre2_match_data_free(md);
    if (st == SQZ_OK)
        st = drop_blank_lines(tmp.p, tmp.n, out);
    cb_buf_free(&tmp);
    return st;
}

// ---- python mode: a port of CPython 3.11 tokenize._tokenize feeding the docstring remover ----------
enum { TK_OTHER, TK_COMMENT, TK_STRING, TK_INDENT, TK_NEWLINE };

typedef struct py_rm {
    cb_buf out;
    int prev_type;
    int64_t last_lineno, last_col;
} py_rm;

// Number of code points in s[0..b).
static int64_t cp_count(const char *s, size_t b) {
    int64_t c = 0;
    for (size_t i = 0; i < b; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

// The remover's per-token step (remove_comments_and_docstrings, python branch). Columns in code points.
static sqz_status py_emit(py_rm *r, int type, const char *tok, size_t tok_n, int64_t sl, int64_t sc,
                          int64_t el, int64_t ec) {
    if (sl > r->last_lineno)
        r->last_col = 0;
    for (int64_t k = r->last_col; k < sc; k++)
        SQZ_TRY(cb_buf_put(&r->out, " ", 1));
    if (type == TK_COMMENT) {
    } else if (type == TK_STRING) {
        if (r->prev_type != TK_INDENT && r->prev_type != TK_NEWLINE && sc > 0)
            SQZ_TRY(cb_buf_put(&r->out, tok, tok_n));
    } else {
        SQZ_TRY(cb_buf_put(&r->out, tok, tok_n));
    }
    r->prev_type = type;
    r->last_col = ec;
    r->last_lineno = el;
    return SQZ_OK;
}

static bool is_ident_start(uint32_t c) {
    if (c < 0x80)
        return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    return true; // approximation: non-ASCII letters (Python: XID_Start)
}

typedef struct py_tok {
    const char *src;
    size_t n;
    pcre2_match_data *md;
    py_rm *rm;
    // tokenizer state
    int64_t lnum, parenlev, indents[256];
    int n_indents;
    bool continued, needcont;
    cb_buf contstr;
    int endprog;
    int64_t str_sl, str_sc;
    bool failed; // TokenError / IndentationError
} py_tok;

// Tokenize the rest of one line from byte `pos` (the inner `while pos < max` loop).
static sqz_status py_line_tokens(py_tok *t, const char *line, size_t max, size_t pos) {
    while (pos < max) {
        size_t start;
        int64_t end = rx_match_at(RX_PSEUDO, line, max, pos, t->md, &start);
        if (end < 0) { // ERRORTOKEN: one character
            size_t j = pos;
            cb_utf8_next(line, max, &j);
            int64_t c = cp_count(line, pos);
            SQZ_TRY(py_emit(t->rm, TK_OTHER, line + pos, j - pos, t->lnum, c, t->lnum, c + 1));
            pos = j;
            continue;
        }
        pos = (size_t)end;
        if (start == (size_t)end)
            continue;
        const char *tok = line + start;
        size_t tn = (size_t)end - start;
        int64_t sc = cp_count(line, start), ec = sc + cp_count(tok, tn);
        char c0 = tok[0];
        if ((c0 >= '0' && c0 <= '9') || (c0 == '.' && !(tn == 1) && !(tn == 3 && !memcmp(tok, "...", 3)))) {
            SQZ_TRY(py_emit(t->rm, TK_OTHER, tok, tn, t->lnum, sc, t->lnum, ec));
        } else if (c0 == '\r' || c0 == '\n') {
            SQZ_TRY(py_emit(t->rm, t->parenlev > 0 ? TK_OTHER : TK_NEWLINE, tok, tn, t->lnum, sc, t->lnum, ec));
        } else if (c0 == '#') {
            SQZ_TRY(py_emit(t->rm, TK_COMMENT, tok, tn, t->lnum, sc, t->lnum, ec));
        } else {
            // string prefix length (0-2 letters) followed by a quote?
            size_t p = 0;
            while (p < tn && p < 2 && strchr("bBrRuUfF", tok[p]))
                p++;
            bool quote = p < tn && (tok[p] == '\'' || tok[p] == '"');
            bool triple = quote && tn == p + 3 && tok[p + 1] == tok[p] && tok[p + 2] == tok[p];
            if (triple) {
                int prog = tok[p] == '\'' ? RX_SINGLE3 : RX_DOUBLE3;
                int64_t e = rx_match_at(prog, line, max, pos, t->md, NULL);
                if (e >= 0) {
                    pos = (size_t)e;
                    SQZ_TRY(py_emit(t->rm, TK_STRING, tok, (size_t)e - start, t->lnum, sc, t->lnum,
                                    cp_count(line, (size_t)e)));
                } else {
                    t->str_sl = t->lnum;
                    t->str_sc = sc;
                    t->endprog = prog;
                    t->contstr.n = 0;
                    SQZ_TRY(cb_buf_put(&t->contstr, tok, max - start));
                    return SQZ_OK;
                }
            } else if (quote) {
                if (tok[tn - 1] == '\n') { // continued single-quoted string
                    t->str_sl = t->lnum;
                    t->str_sc = sc;
                    t->endprog = tok[p] == '\'' ? RX_SINGLE : RX_DOUBLE;
                    t->contstr.n = 0;
                    t->needcont = true;
                    SQZ_TRY(cb_buf_put(&t->contstr, tok, max - start));
                    return SQZ_OK;
                }
                SQZ_TRY(py_emit(t->rm, TK_STRING, tok, tn, t->lnum, sc, t->lnum, ec));
            } else {
                size_t j = 0;
                uint32_t cp = cb_utf8_next(tok, tn, &j);
                if (is_ident_start(cp)) {
                    SQZ_TRY(py_emit(t->rm, TK_OTHER, tok, tn, t->lnum, sc, t->lnum, ec));
                } else if (c0 == '\\') {
                    t->continued = true;
                } else {
                    if (c0 == '(' || c0 == '[' || c0 == '{')
                        t->parenlev++;
                    else if (c0 == ')' || c0 == ']' || c0 == '}')
                        t->parenlev--;
                    SQZ_TRY(py_emit(t->rm, TK_OTHER, tok, tn, t->lnum, sc, t->lnum, ec));
                }
            }
        }
    }
    return SQZ_OK;
}

// Start of a new statement line: indentation, blank/comment lines, INDENT/DEDENT.
// Sets *pos to where tokens start, *skip when the line is done, *stop at end of input.
static sqz_status py_new_statement(py_tok *t, const char *line, size_t max, size_t *pos, bool *skip, bool *stop) {
    int64_t column = 0;
    size_t p = 0;
    for (; p < max; p++) {
        if (line[p] == ' ')
            column++;
        else if (line[p] == '\t')
            column = (column / 8 + 1) * 8;
        else if (line[p] == '\f')
            column = 0;
        else
            break;
    }
    if (p == max) {
        *stop = true;
        return SQZ_OK;
    }
    if (line[p] == '#' || line[p] == '\r' || line[p] == '\n') {
        if (line[p] == '#') {
            size_t e = max;
            while (e > p && (line[e - 1] == '\r' || line[e - 1] == '\n'))
                e--;
            int64_t sc = cp_count(line, p);
            SQZ_TRY(py_emit(t->rm, TK_COMMENT, line + p, e - p, t->lnum, sc, t->lnum, sc + cp_count(line + p, e - p)));
            p = e;
        }
        SQZ_TRY(py_emit(t->rm, TK_OTHER, line + p, max - p, t->lnum, cp_count(line, p), t->lnum, cp_count(line, max)));
        *skip = true;
        return SQZ_OK;
    }
    int64_t cpos = cp_count(line, p);
    if (column > t->indents[t->n_indents - 1]) {
        if (t->n_indents == (int)(sizeof t->indents / sizeof t->indents[0])) {
            t->failed = true; // deeper than we track: treat as a tokenizer failure
            *stop = true;
            return SQZ_OK;
        }
        t->indents[t->n_indents++] = column;
        SQZ_TRY(py_emit(t->rm, TK_INDENT, line, p, t->lnum, 0, t->lnum, cpos));
    }
    while (column < t->indents[t->n_indents - 1]) {
        bool found = false;
        for (int k = 0; k < t->n_indents; k++)
            found |= t->indents[k] == column;
        if (!found) { // IndentationError: unindent does not match any outer indentation level
            t->failed = true;
            *stop = true;
            return SQZ_OK;
        }
        t->n_indents--;
        SQZ_TRY(py_emit(t->rm, TK_OTHER, "", 0, t->lnum, cpos, t->lnum, cpos));
    }
    *pos = p;
    return SQZ_OK;
}

// The continued-string branch; returns with *pos set where tokenizing resumes, or *skip.
static sqz_status py_cont_string(py_tok *t, const char *line, size_t max, size_t *pos, bool *skip) {
    int64_t e = rx_match_at(t->endprog, line, max, 0, t->md, NULL);
    if (e >= 0) {
        SQZ_TRY(cb_buf_put(&t->contstr, line, (size_t)e));
        SQZ_TRY(py_emit(t->rm, TK_STRING, t->contstr.p, t->contstr.n, t->str_sl, t->str_sc, t->lnum,
                        cp_count(line, (size_t)e)));
        t->contstr.n = 0;
        t->needcont = false;
        *pos = (size_t)e;
        return SQZ_OK;
    }
    if (t->needcont && !(max >= 2 && line[max - 2] == '\\' && line[max - 1] == '\n') &&
        !(max >= 3 && !memcmp(line + max - 3, "\\\r\n", 3))) {
        SQZ_TRY(cb_buf_put(&t->contstr, line, max));
        SQZ_TRY(py_emit(t->rm, TK_OTHER, t->contstr.p, t->contstr.n, t->str_sl, t->str_sc, t->lnum,
                        cp_count(line, max)));
        t->contstr.n = 0;
        t->needcont = false; // (the reference leaves needcont set; it only matters with contstr)
        *skip = true;
        return SQZ_OK;
    }
    SQZ_TRY(cb_buf_put(&t->contstr, line, max));
    *skip = true;
    return SQZ_OK;
}

static sqz_status py_tokenize(py_tok *t) {
    const char *s = t->src, *last_line = NULL, *cur_line = NULL;
    size_t n = t->n, off = 0, last_n = 0, cur_n = 0;
    bool in_str = false;
    t->indents[0] = 0;
    t->n_indents = 1;
    for (;;) {
        const char *line = s + off;
        const char *nl = off < n ? memchr(line, '\n', n - off) : NULL;
        size_t max = off < n ? (nl ? (size_t)(nl - line) + 1 : n - off) : 0;
        last_line = cur_line; // the reference's `last_line`: the line read before this one
        last_n = cur_n;
        cur_line = line;
        cur_n = max;
        off += max;
        t->lnum++;
        size_t pos = 0;
        bool skip = false, stop = false;
        in_str = t->contstr.n > 0;
        if (in_str) {
            if (!max) { // TokenError: EOF in multi-line string
                t->failed = true;
                return SQZ_OK;
            }
            SQZ_TRY(py_cont_string(t, line, max, &pos, &skip));
        } else if (t->parenlev == 0 && !t->continued) {
            if (!max)
                break;
            SQZ_TRY(py_new_statement(t, line, max, &pos, &skip, &stop));
            if (t->failed)
                return SQZ_OK;
            if (stop)
                break;
        } else {
            if (!max) { // TokenError: EOF in multi-line statement
                t->failed = true;
                return SQZ_OK;
            }
            t->continued = false;
        }
        if (!skip)
            SQZ_TRY(py_line_tokens(t, line, max, pos));
    }
    // implicit NEWLINE when the input does not end in one (and the last line is not a comment)
    if (last_n && last_line[last_n - 1] != '\n' && last_line[last_n - 1] != '\r') {
        cb_span st = cb_py_strip(last_line, last_n);
        if (!(st.n && st.p[0] == '#')) {
            int64_t c = cp_count(last_line, last_n);
            SQZ_TRY(py_emit(t->rm, TK_NEWLINE, "", 0, t->lnum - 1, c, t->lnum - 1, c + 1));
        }
    }
    for (int k = 1; k < t->n_indents; k++)
        SQZ_TRY(py_emit(t->rm, TK_OTHER, "", 0, t->lnum, 0, t->lnum, 0));
    return py_emit(t->rm, TK_OTHER, "", 0, t->lnum, 0, t->lnum, 0);
}

static sqz_status remove_python(const char *s, size_t n, cb_buf *out, bool *ok) {
    py_rm rm = {.prev_type = TK_INDENT, .last_lineno = -1};
    py_tok t = {.src = s, .n = n, .rm = &rm};
    t.md = pcre2_match_data_create(8, NULL);
    SQZ_FAIL_IF(!t.md, SQZ_ERR_NOMEM, "codebleu: out of memory");
    sqz_status st = cb_buf_put(&rm.out, "", 0);
    if (st == SQZ_OK)
        st = py_tokenize(&t);
    *ok = !t.failed;
    if (st == SQZ_OK && *ok)
        st = drop_blank_lines(rm.out.p, rm.out.n, out);
    pcre2_match_data_free(t.md);
    cb_buf_free(&t.contstr);
    cb_buf_free(&rm.out);
    return st;
}

sqz_status cb_remove_comments(const char *src, size_t n, bool python, cb_buf *out, bool *ok) {
    SQZ_TRY(rx_ready());
    *ok = true;
    if (python)
        return remove_python(src, n, out, ok);
    return remove_java(src, n, out);
}

// sacrebleu 2.6.0 tokenizers: 13a (mteval-v13a), intl (mteval-v14 international), char, none.
// Each regex substitution of the reference is one left-to-right pass with Python re.sub's
// non-overlapping semantics; passes run in the reference's order.
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "metrics/bleu_tok.h"

// Replace every occurrence of `old` by `rep` (Python str.replace).
static void replace_all(mt_buf *dst, const char *s, size_t n, const char *old, const char *rep) {
    size_t ol = strlen(old), rl = strlen(rep);
    size_t i = 0;
    while (i < n) {
        if (i + ol <= n && !memcmp(s + i, old, ol)) {
            mt_buf_push(dst, rep, rl);
            i += ol;
        } else {
            mt_buf_putc(dst, s[i++]);
        }
    }
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

// [\{-\~\[-\` -\&\(-\+\:-\@\/]: ASCII punctuation except ' , - . (and the space itself).
static bool is_13a_punct(char c) {
    return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') ||
           (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}

// Join the whitespace-split tokens of s with single spaces (' '.join(s.split())).
static void join_tokens(mt_buf *dst, const char *s, size_t n) {
    mt_spans toks = {0};
    mt_split_ws(s, n, &toks);
    for (size_t i = 0; i < toks.n; i++) {
        if (i)
            mt_buf_putc(dst, ' ');
        mt_buf_push(dst, s + toks.p[i].off, toks.p[i].len);
    }
    dst->oom |= toks.oom;
    mt_spans_free(&toks);
}

// Swap b into a (a's old contents are freed) and reset b.
static void take(mt_buf *a, mt_buf *b) {
    bool oom = a->oom || b->oom;
    mt_buf_free(a);
    *a = *b;
    a->oom = oom;
    memset(b, 0, sizeof *b);
    if (!a->p)
        mt_buf_push(a, "", 0);
}

// The regex passes work on bytes: a multi-byte code point never contains an ASCII byte, so a
// byte-level [^0-9] gives the same matches and output as the code-point-level one.
static void tok_13a(const char *s, size_t n, mt_buf *out) {
    mt_buf a = {0}, b = {0};
    replace_all(&a, s, n, "<skipped>", "");
    replace_all(&b, a.p ? a.p : "", a.n, "-\n", ""), take(&a, &b);
    replace_all(&b, a.p, a.n, "\n", " "), take(&a, &b);
    if (memchr(a.p, '&', a.n)) {
        static const char *const ent[4][2] = {
            {"&quot;", "\""}, {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}};
        for (int k = 0; k < 4; k++)
            replace_all(&b, a.p, a.n, ent[k][0], ent[k][1]), take(&a, &b);
    }
    // f' {line} ' then ([\{-\~\[-\` -\&\(-\+\:-\@\/]) → ' \1 ' (the space is in the class too)
    mt_buf_putc(&b, ' ');
    mt_buf_push(&b, a.p, a.n);
    mt_buf_putc(&b, ' ');
    take(&a, &b);
    for (size_t i = 0; i < a.n; i++) {
        if (is_13a_punct(a.p[i])) {
            char t[3] = {' ', a.p[i], ' '};
            mt_buf_push(&b, t, 3);
        } else {
            mt_buf_putc(&b, a.p[i]);
        }
    }
    take(&a, &b);
    // ([^0-9])([\.,]) → '\1 \2 '
    for (size_t i = 0; i < a.n;) {
        if (i + 1 < a.n && !is_digit(a.p[i]) && (a.p[i + 1] == '.' || a.p[i + 1] == ',')) {
            char t[4] = {a.p[i], ' ', a.p[i + 1], ' '};
            mt_buf_push(&b, t, 4);
            i += 2;
        } else {
            mt_buf_putc(&b, a.p[i++]);
        }
    }
    take(&a, &b);
    // ([\.,])([^0-9]) → ' \1 \2'
    for (size_t i = 0; i < a.n;) {
        if (i + 1 < a.n && (a.p[i] == '.' || a.p[i] == ',') && !is_digit(a.p[i + 1])) {
            char t[4] = {' ', a.p[i], ' ', a.p[i + 1]};
            mt_buf_push(&b, t, 4);
            i += 2;
        } else {
            mt_buf_putc(&b, a.p[i++]);
        }
    }
    take(&a, &b);
    // ([0-9])(-) → '\1 \2 '
    for (size_t i = 0; i < a.n;) {
        if (i + 1 < a.n && is_digit(a.p[i]) && a.p[i + 1] == '-') {
            char t[4] = {a.p[i], ' ', '-', ' '};
            mt_buf_push(&b, t, 4);
            i += 2;
        } else {
            mt_buf_putc(&b, a.p[i++]);
        }
    }
    take(&a, &b);
    join_tokens(out, a.p, a.n);
    out->oom |= a.oom;
    mt_buf_free(&a);
}

// Unicode general categories as the `regex` module's \p{N}, \p{P}, \p{S}.
static bool is_n(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

static bool is_p(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

static bool is_s(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_SM && k <= UTF8PROC_CATEGORY_SO;
}

static void tok_intl(const uint32_t *c, size_t n, mt_buf *out) {
    mt_u32 a = {0}, b = {0};
    // (\P{N})(\p{P}) → '\1 \2 '
    for (size_t i = 0; i < n;) {
        if (i + 1 < n && !is_n(c[i]) && is_p(c[i + 1])) {
            mt_u32_push(&a, c[i]), mt_u32_push(&a, ' '), mt_u32_push(&a, c[i + 1]);
            mt_u32_push(&a, ' ');
            i += 2;
        } else {
            mt_u32_push(&a, c[i++]);
        }
    }
    // (\p{P})(\P{N}) → ' \1 \2'
    for (size_t i = 0; i < a.n;) {
        if (i + 1 < a.n && is_p(a.p[i]) && !is_n(a.p[i + 1])) {
            mt_u32_push(&b, ' '), mt_u32_push(&b, a.p[i]), mt_u32_push(&b, ' ');
            mt_u32_push(&b, a.p[i + 1]);
            i += 2;
        } else {
            mt_u32_push(&b, a.p[i++]);
        }
    }
    // (\p{S}) → ' \1 '
    mt_buf enc = {0};
    for (size_t i = 0; i < b.n; i++) {
        bool sym = is_s(b.p[i]);
        if (sym)
            mt_buf_putc(&enc, ' ');
        mt_buf_put_cp(&enc, b.p[i]);
        if (sym)
            mt_buf_putc(&enc, ' ');
    }
    join_tokens(out, enc.p ? enc.p : "", enc.n);
    out->oom |= a.oom || b.oom || enc.oom;
    mt_u32_free(&a);
    mt_u32_free(&b);
    mt_buf_free(&enc);
}

sqz_status mt_bleu_tokenize(const char *line, size_t len, sqz_bleu_tokenizer tok, bool lowercase,
                            mt_buf *out) {
    char *low = NULL;
    sqz_status st = mt_validate(line, len);
    if (st == SQZ_OK && lowercase) {
        st = mt_lower_utf8(line, len, &low, &len);
        line = low;
    }
    if (st != SQZ_OK)
        return st;
    len = mt_rstrip_len(line, len);
    mt_u32 cps = {0};
    switch (tok) {
    case SQZ_BLEU_TOK_13A:
        tok_13a(line, len, out);
        break;
    case SQZ_BLEU_TOK_INTL:
        st = mt_decode(line, len, &cps);
        if (st == SQZ_OK)
            tok_intl(cps.p, cps.n, out);
        break;
    case SQZ_BLEU_TOK_CHAR: // " ".join(chars); the later split drops whitespace characters
        st = mt_decode(line, len, &cps);
        for (size_t i = 0; st == SQZ_OK && i < cps.n; i++) {
            if (mt_is_space(cps.p[i]))
                continue;
            if (out->n)
                mt_buf_putc(out, ' ');
            mt_buf_put_cp(out, cps.p[i]);
        }
        break;
    case SQZ_BLEU_TOK_NONE:
        join_tokens(out, line, len);
        break;
    default:
        st = sqz_error(SQZ_ERR_ARG, "BLEU: unknown tokenizer %d", (int)tok);
    }
    mt_u32_free(&cps);
    free(low);
    mt_buf_push(out, "", 0);
    if (st == SQZ_OK && out->oom)
        st = sqz_error(SQZ_ERR_NOMEM, "BLEU: out of memory tokenizing");
    return st;
}

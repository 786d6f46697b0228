// Normalizers and pre-tokenizers (HF tokenizers semantics). A pre-tokenizer step turns a list of
// strings into a finer list; regex splitting reports matches and the gaps between them, and the
// step's behavior decides what to keep (Isolated, Removed, MergedWithPrevious/Next, Contiguous).
#define _GNU_SOURCE // memmem
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tok/tok_internal.h"

// ---- UTF-8 --------------------------------------------------------------------------------------------
size_t tok_utf8_len(unsigned char c) {
    if (c < 0x80)
        return 1;
    if (c >= 0xF0 && c <= 0xF7)
        return 4;
    if (c >= 0xE0)
        return c <= 0xEF ? 3 : 1;
    return c >= 0xC0 ? 2 : 1;
}

// Decode one code point; invalid or truncated input yields the byte value with *adv = 1.
uint32_t tok_utf8_decode(const char *s, size_t n, size_t *adv) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &cp);
    if (r <= 0) {
        *adv = 1;
        return (unsigned char)s[0];
    }
    *adv = (size_t)r;
    return (uint32_t)cp;
}

size_t tok_utf8_encode(uint32_t cp, char out[4]) {
    return (size_t)utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)out);
}

sqz_status tok_regex_compile(pcre2_code **re, const char *pattern, size_t len, uint32_t opts, const char *what) {
    int err;
    PCRE2_SIZE at;
    opts |= PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
    *re = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &err, &at, NULL);
    if (!*re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        return sqz_error(SQZ_ERR_FORMAT, "%s: bad regex '%.*s' at offset %zu: %s", what, (int)len, pattern,
                         (size_t)at, (const char *)msg);
    }
    pcre2_jit_compile(*re, PCRE2_JIT_COMPLETE); // falls back to the interpreter if JIT is unavailable
    return SQZ_OK;
}

void tok_step_free(tok_step *s) {
    if (!s)
        return;
    pcre2_code_free(s->re);
    free(s->str);
    free(s->str2);
}

// ---- matching: segments of a string, each a match or a gap ------------------------------------------------
typedef struct {
    size_t off, len;
    bool match;
} seg;

typedef struct {
    seg *v;
    size_t n, cap;
} segs;

static sqz_status segs_add(segs *a, size_t off, size_t len, bool match) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        seg *v = realloc(a->v, cap * sizeof *v);
        if (!v)
            return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory");
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = (seg){off, len, match};
    return SQZ_OK;
}

// Find matches of a step's pattern (regex or literal) in s[0..n): fills matches and gaps in order.
// Empty matches only mark a boundary.
static sqz_status find_segs(const tok_step *st, const char *s, size_t n, pcre2_match_data *md, segs *out) {
    size_t pos = 0, gap = 0;
    while (pos <= n) {
        size_t ms, me;
        if (st->re) {
            int rc = pcre2_match(st->re, (PCRE2_SPTR)s, n, pos, 0, md, NULL);
            if (rc == PCRE2_ERROR_NOMATCH)
                break;
            SQZ_FAIL_IF(rc < 0, SQZ_ERR_INTERNAL, "tokenizer: regex match failed (PCRE2 error %d)", rc);
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            ms = ov[0];
            me = ov[1];
        } else {
            if (st->str_len == 0 || pos + st->str_len > n)
                break;
            const char *f = memmem(s + pos, n - pos, st->str, st->str_len);
            if (!f)
                break;
            ms = (size_t)(f - s);
            me = ms + st->str_len;
        }
        if (ms > gap)
            SQZ_TRY(segs_add(out, gap, ms - gap, false));
        if (me > ms) {
            SQZ_TRY(segs_add(out, ms, me - ms, true));
            pos = gap = me;
        } else {
            gap = ms;
            if (ms >= n)
                break;
            pos = ms + tok_utf8_len((unsigned char)s[ms]);
        }
    }
    if (gap < n)
        SQZ_TRY(segs_add(out, gap, n - gap, false));
    return SQZ_OK;
}

// Apply a split behavior to segments (HF SplitDelimiterBehavior) and append the pieces to out.
static sqz_status emit_split(const char *s, segs *g, tok_split_behavior b, bool invert, bool start, tok_strs *out) {
    for (size_t i = 0; i < g->n; i++)
        g->v[i].match ^= invert;
    size_t k = 0; // merged segments are written back into g->v[0..k)
    bool prev_match = false;
    if (b == SPLIT_MERGED_NEXT) {
        // fold from the end: a match (not following another match) joins the piece after it; the
        // folded list is built in a copy since it grows from index 0 while the input is read backwards
        seg *src = malloc((g->n ? g->n : 1) * sizeof *src);
        if (!src)
            return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory");
        memcpy(src, g->v, g->n * sizeof *src);
        for (size_t i = g->n; i-- > 0;) {
            seg c = src[i];
            if (c.match && !prev_match && k > 0) {
                g->v[k - 1].len += g->v[k - 1].off - c.off;
                g->v[k - 1].off = c.off;
            } else {
                g->v[k++] = (seg){c.off, c.len, false};
            }
            prev_match = c.match;
        }
        free(src);
        for (size_t i = 0; i < k / 2; i++) {
            seg t = g->v[i];
            g->v[i] = g->v[k - 1 - i];
            g->v[k - 1 - i] = t;
        }
    } else {
        for (size_t i = 0; i < g->n; i++) {
            seg c = g->v[i];
            bool join = (b == SPLIT_MERGED_PREV && c.match && !prev_match) ||
                        (b == SPLIT_CONTIGUOUS && c.match == prev_match);
            if (b == SPLIT_REMOVED && c.match) {
                prev_match = true;
                continue;
            }
            if (join && k > 0)
                g->v[k - 1].len = c.off + c.len - g->v[k - 1].off;
            else
                g->v[k++] = (seg){c.off, c.len, false};
            prev_match = c.match;
        }
    }
    for (size_t i = 0; i < k; i++)
        if (g->v[i].len)
            SQZ_TRY(tok_strs_add(out, s + g->v[i].off, g->v[i].len, start && g->v[i].off == 0));
    return SQZ_OK;
}

static sqz_status split_piece(const tok_step *st, const char *s, size_t n, bool start, pcre2_match_data *md,
                              tok_strs *out) {
    segs g = {0};
    sqz_status r = find_segs(st, s, n, md, &g);
    if (r == SQZ_OK)
        r = emit_split(s, &g, st->behavior, st->invert, start, out);
    free(g.v);
    return r;
}

// ByteLevel: optional prefix space, optional GPT-2 regex split, then each byte -> its unicode char.
static sqz_status bytelevel_piece(const tok_step *st, const char *s, size_t n, bool start, pcre2_match_data *md,
                                  tok_strs *out, tok_strs *tmp) {
    tok_buf pre = {0};
    sqz_status r = SQZ_OK;
    if (st->flag_a && (n == 0 || s[0] != ' ')) {
        r = tok_buf_putc(&pre, ' ');
        if (r == SQZ_OK)
            r = tok_buf_put(&pre, s, n);
        s = pre.p;
        n = pre.n;
    }
    tok_strs_reset(tmp);
    if (r == SQZ_OK)
        r = st->re ? split_piece(st, s, n, start, md, tmp) : tok_strs_add(tmp, s, n, start);
    tok_buf mapped = {0};
    for (size_t i = 0; r == SQZ_OK && i < tmp->n; i++) {
        mapped.n = 0;
        r = tok_bytelevel_map(&mapped, tmp->buf.p + tmp->s[i].off, tmp->s[i].len);
        if (r == SQZ_OK && mapped.n)
            r = tok_strs_add(out, mapped.p, mapped.n, tmp->s[i].start);
    }
    tok_buf_free(&mapped);
    tok_buf_free(&pre);
    return r;
}

// Replace every occurrence of a literal in s with rep, appending to out.
static sqz_status replace_lit(const char *s, size_t n, const char *pat, size_t pn, const char *rep, size_t rn,
                              tok_buf *out) {
    size_t i = 0;
    while (pn && i < n) {
        const char *f = memmem(s + i, n - i, pat, pn);
        if (!f)
            break;
        SQZ_TRY(tok_buf_put(out, s + i, (size_t)(f - (s + i))));
        SQZ_TRY(tok_buf_put(out, rep, rn));
        i = (size_t)(f - s) + pn;
    }
    return tok_buf_put(out, s + i, n - i);
}

// Metaspace: ' ' -> replacement, prepend it (always, or only at the start of the input), optional split
// before each replacement character.
static sqz_status metaspace_piece(const tok_step *st, const char *s, size_t n, bool start, pcre2_match_data *md,
                                  tok_strs *out) {
    tok_buf b = {0};
    bool has = n >= st->str_len && memcmp(s, st->str, st->str_len) == 0;
    sqz_status r = SQZ_OK;
    if (!has && (st->prepend == 2 || (st->prepend == 1 && start)))
        r = tok_buf_put(&b, st->str, st->str_len);
    if (r == SQZ_OK)
        r = replace_lit(s, n, " ", 1, st->str, st->str_len, &b);
    if (r == SQZ_OK && !st->flag_b && b.n)
        r = tok_strs_add(out, b.p, b.n, start);
    if (r == SQZ_OK && st->flag_b) {
        tok_step lit = {.str = st->str, .str_len = st->str_len, .behavior = SPLIT_MERGED_NEXT};
        r = split_piece(&lit, b.p ? b.p : "", b.n, start, md, out);
    }
    tok_buf_free(&b);
    return r;
}

sqz_status tok_pretokenize(const sqz_tokenizer *t, tok_strs *in, tok_strs *tmp) {
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md)
        return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory");
    tok_strs out = {0}, scratch = {0};
    sqz_status r = SQZ_OK;
    for (size_t k = 0; r == SQZ_OK && k < t->n_pre; k++) {
        const tok_step *st = &t->pre[k];
        tok_strs_reset(&out);
        for (size_t i = 0; r == SQZ_OK && i < in->n; i++) {
            const char *s = in->buf.p + in->s[i].off;
            size_t n = in->s[i].len;
            bool start = in->s[i].start;
            if (st->kind == PRE_SPLIT)
                r = split_piece(st, s, n, start, md, &out);
            else if (st->kind == PRE_BYTELEVEL)
                r = bytelevel_piece(st, s, n, start, md, &out, &scratch);
            else
                r = metaspace_piece(st, s, n, start, md, &out);
        }
        tok_strs swap = *in;
        *in = out;
        out = swap;
    }
    tok_strs_free(&out);
    tok_strs_free(&scratch);
    pcre2_match_data_free(md);
    (void)tmp;
    return r;
}

// ---- normalizers ---------------------------------------------------------------------------------------------
static bool is_ws(uint32_t c) {
    if (c == ' ' || (c >= 9 && c <= 13) || c == 0x85)
        return true;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

static sqz_status norm_unicode(int kind, const char *s, size_t n, tok_buf *out) {
    static const int opts[] = {
        [NORM_NFC] = UTF8PROC_STABLE | UTF8PROC_COMPOSE,
        [NORM_NFD] = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE,
        [NORM_NFKC] = UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT,
        [NORM_NFKD] = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT,
    };
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst,
                                      (utf8proc_option_t)opts[kind]);
    if (r < 0) { // invalid UTF-8: left as it is
        free(dst);
        return tok_buf_put(out, s, n);
    }
    sqz_status st = tok_buf_put(out, dst, (size_t)r);
    free(dst);
    return st;
}

static sqz_status norm_lower(const char *s, size_t n, tok_buf *out) {
    for (size_t i = 0; i < n;) {
        size_t adv;
        uint32_t c = tok_utf8_decode(s + i, n - i, &adv);
        if (adv == 1 && (unsigned char)s[i] >= 0x80) {
            SQZ_TRY(tok_buf_put(out, s + i, 1)); // invalid byte kept
        } else {
            char u[4];
            SQZ_TRY(tok_buf_put(out, u, tok_utf8_encode((uint32_t)utf8proc_tolower((utf8proc_int32_t)c), u)));
        }
        i += adv;
    }
    return SQZ_OK;
}

static sqz_status norm_strip(const tok_step *st, const char *s, size_t n, tok_buf *out) {
    size_t a = 0, b = n, adv;
    while (st->flag_a && a < b && is_ws(tok_utf8_decode(s + a, b - a, &adv)))
        a += adv;
    while (st->flag_b && b > a) {
        size_t k = b - 1;
        while (k > a && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
        if (!is_ws(tok_utf8_decode(s + k, b - k, &adv)) || k + adv != b)
            break;
        b = k;
    }
    return tok_buf_put(out, s + a, b - a);
}

static sqz_status norm_replace_re(const tok_step *st, const char *s, size_t n, tok_buf *out) {
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md)
        return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory");
    segs g = {0};
    sqz_status r = find_segs(st, s, n, md, &g);
    for (size_t i = 0; r == SQZ_OK && i < g.n; i++)
        r = g.v[i].match ? tok_buf_put(out, st->str2, st->str2_len) : tok_buf_put(out, s + g.v[i].off, g.v[i].len);
    free(g.v);
    pcre2_match_data_free(md);
    return r;
}

static sqz_status norm_one(const tok_step *st, const char *s, size_t n, tok_buf *out) {
    switch (st->kind) {
    case NORM_NFC:
    case NORM_NFD:
    case NORM_NFKC:
    case NORM_NFKD:
        return norm_unicode(st->kind, s, n, out);
    case NORM_LOWER:
        return norm_lower(s, n, out);
    case NORM_PREPEND:
        if (n)
            SQZ_TRY(tok_buf_put(out, st->str, st->str_len));
        return tok_buf_put(out, s, n);
    case NORM_REPLACE:
        if (st->re)
            return norm_replace_re(st, s, n, out);
        return replace_lit(s, n, st->str, st->str_len, st->str2, st->str2_len, out);
    case NORM_STRIP:
        return norm_strip(st, s, n, out);
    }
    return sqz_error(SQZ_ERR_INTERNAL, "tokenizer: bad normalizer kind %d", st->kind);
}

sqz_status tok_normalize(const sqz_tokenizer *t, const char *s, size_t n, tok_buf *out) {
    out->n = 0;
    SQZ_TRY(tok_buf_put(out, s, n));
    tok_buf tmp = {0};
    for (size_t k = 0; k < t->n_norm; k++) {
        tmp.n = 0;
        sqz_status r = norm_one(&t->norm[k], out->p, out->n, &tmp);
        if (r != SQZ_OK) {
            tok_buf_free(&tmp);
            return r;
        }
        tok_buf swap = *out;
        *out = tmp;
        tmp = swap;
    }
    tok_buf_free(&tmp);
    return SQZ_OK;
}

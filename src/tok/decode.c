// Decoding: each token's piece goes through the decoder chain (ByteLevel, Replace, ByteFallback, Fuse,
// Strip, Metaspace) to raw bytes; the bytes of the whole sequence are then made valid UTF-8 the way
// Rust's from_utf8_lossy does (each maximal invalid subpart -> U+FFFD). The streaming detokenizer
// runs the same per-token step and holds back an incomplete trailing character.
#define _GNU_SOURCE // memmem
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

static sqz_status dec_bytelevel(const char *s, size_t n, tok_buf *out) {
    for (size_t i = 0; i < n;) {
        size_t adv;
        uint32_t cp = tok_utf8_decode(s + i, n - i, &adv);
        int b = tok_bytelevel_dec(cp);
        if (b >= 0) {
            char c = (char)b;
            SQZ_TRY(tok_buf_put(out, &c, 1));
        } else {
            SQZ_TRY(tok_buf_put(out, s + i, adv)); // not a byte-level character: kept as it is
        }
        i += adv;
    }
    return SQZ_OK;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static sqz_status dec_replace(const char *s, size_t n, const char *from, size_t fn, const char *to, size_t tn,
                              tok_buf *out) {
    size_t i = 0;
    while (fn && i < n) {
        const char *f = memmem(s + i, n - i, from, fn);
        if (!f)
            break;
        SQZ_TRY(tok_buf_put(out, s + i, (size_t)(f - (s + i))));
        SQZ_TRY(tok_buf_put(out, to, tn));
        i = (size_t)(f - s) + fn;
    }
    return tok_buf_put(out, s + i, n - i);
}

// Strip up to `count` copies of code point cp from the start (front) or end of s.
static void strip_cp(const char *s, size_t *a, size_t *b, uint32_t cp, int count, bool front) {
    char u[4];
    size_t ul = tok_utf8_encode(cp, u);
    for (int k = 0; k < count; k++) {
        if (*b - *a < ul)
            return;
        if (front && memcmp(s + *a, u, ul) == 0)
            *a += ul;
        else if (!front && memcmp(s + *b - ul, u, ul) == 0)
            *b -= ul;
        else
            return;
    }
}

// One decoder step on one token's current bytes.
static sqz_status dec_step(const tok_dec *d, const char *s, size_t n, bool first, bool fused, tok_buf *out) {
    switch (d->kind) {
    case DEC_BYTELEVEL:
        return dec_bytelevel(s, n, out);
    case DEC_REPLACE:
        return dec_replace(s, n, d->from, d->from_len, d->to, d->to_len, out);
    case DEC_BYTEFALLBACK:
        if (n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' && hexval(s[3]) >= 0 && hexval(s[4]) >= 0) {
            char c = (char)(hexval(s[3]) * 16 + hexval(s[4]));
            return tok_buf_put(out, &c, 1);
        }
        return tok_buf_put(out, s, n);
    case DEC_FUSE:
        return tok_buf_put(out, s, n);
    case DEC_STRIP: {
        size_t a = 0, b = n;
        if (first || !fused) // after Fuse the whole text is one token: strip only its start
            strip_cp(s, &a, &b, d->strip_cp, d->start, true);
        if (!fused)
            strip_cp(s, &a, &b, d->strip_cp, d->stop, false);
        return tok_buf_put(out, s + a, b - a);
    }
    case DEC_METASPACE: {
        tok_buf tmp = {0};
        sqz_status st = dec_replace(s, n, d->from, d->from_len, " ", 1, &tmp);
        size_t a = (first && d->start && tmp.n && tmp.p[0] == ' ') ? 1 : 0;
        if (st == SQZ_OK)
            st = tok_buf_put(out, tmp.p ? tmp.p + a : "", tmp.n - a);
        tok_buf_free(&tmp);
        return st;
    }
    }
    return sqz_error(SQZ_ERR_INTERNAL, "tokenizer: bad decoder kind %d", (int)d->kind);
}

// Append the raw bytes of token id to out. `first`: the first token given to the decoder (HF applies
// Metaspace's and a fused Strip's leading-space removal to it only).
sqz_status tok_decode_token(const sqz_tokenizer *t, int32_t id, bool first, tok_buf *out) {
    const char *s = t->blob + t->off[id];
    size_t n = t->len[id];
    if ((t->attr[id] & TA_RAW) || t->n_dec == 0)
        return tok_buf_put(out, s, n);
    tok_buf a = {0}, b = {0};
    sqz_status st = tok_buf_put(&a, s, n);
    bool fused = false;
    for (size_t k = 0; st == SQZ_OK && k < t->n_dec; k++) {
        b.n = 0;
        st = dec_step(&t->dec[k], a.p, a.n, first, fused, &b);
        fused |= t->dec[k].kind == DEC_FUSE || t->dec[k].kind == DEC_BYTELEVEL;
        tok_buf swap = a;
        a = b;
        b = swap;
    }
    if (st == SQZ_OK)
        st = tok_buf_put(out, a.p, a.n);
    tok_buf_free(&a);
    tok_buf_free(&b);
    return st;
}

// ---- UTF-8 repair -------------------------------------------------------------------------------------------
// Length of the valid character at s (0 if invalid), or -k if s[0..n) is a valid but incomplete prefix
// of k bytes. Invalid sequences report their maximal invalid subpart length in *bad.
static int utf8_check(const unsigned char *s, size_t n, size_t *bad) {
    unsigned c = s[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        *bad = 1;
        return 0;
    }
    size_t i = 1;
    for (; i < need && i < n; i++) {
        unsigned x = s[i];
        bool ok = i == 1 ? (x >= lo && x <= hi) : (x >= 0x80 && x <= 0xBF);
        if (!ok) {
            *bad = i;
            return 0;
        }
    }
    if (i < need)
        return -(int)i;
    return (int)need;
}

// Append the valid UTF-8 form of s[0..n) to out; returns in *used how much was consumed (all of it
// if final, else up to an incomplete trailing character).
static sqz_status utf8_repair(const char *s, size_t n, bool final, tok_buf *out, size_t *used) {
    size_t i = 0, run = 0; // run: start of the current stretch of valid bytes
    while (i < n) {
        size_t bad = 0;
        int r = utf8_check((const unsigned char *)s + i, n - i, &bad);
        if (r > 0) {
            i += (size_t)r;
            continue;
        }
        SQZ_TRY(tok_buf_put(out, s + run, i - run));
        if (r < 0 && !final) {
            *used = i;
            return SQZ_OK;
        }
        SQZ_TRY(tok_buf_put(out, "\xEF\xBF\xBD", 3));
        i += r < 0 ? (size_t)-r : bad;
        run = i;
    }
    SQZ_TRY(tok_buf_put(out, s + run, i - run));
    *used = n;
    return SQZ_OK;
}

static sqz_status check_id(const sqz_tokenizer *t, int32_t id) {
    SQZ_FAIL_IF(id < 0 || id >= t->n_vocab, SQZ_ERR_RANGE, "tokenizer: token id %d outside the vocabulary (0..%d)",
                (int)id, (int)t->n_vocab - 1);
    return SQZ_OK;
}

sqz_status sqz_tokenizer_decode(const sqz_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                                char **out, size_t *len) {
    *out = NULL;
    tok_buf raw = {0}, text = {0};
    sqz_status st = tok_buf_put(&raw, "", 0);
    bool first = true;
    for (size_t i = 0; st == SQZ_OK && i < n; i++) {
        st = check_id(t, ids[i]);
        if (st != SQZ_OK || (skip_special && sqz_tokenizer_is_special(t, ids[i])))
            continue;
        if (t->dec_join_space && !first)
            st = tok_buf_putc(&raw, ' ');
        if (st == SQZ_OK)
            st = tok_decode_token(t, ids[i], first, &raw);
        first = false;
    }
    size_t used;
    if (st == SQZ_OK)
        st = utf8_repair(raw.p, raw.n, true, &text, &used);
    if (st == SQZ_OK)
        st = tok_buf_put(&text, "", 0);
    tok_buf_free(&raw);
    if (st != SQZ_OK) {
        tok_buf_free(&text);
        return st;
    }
    *out = text.p;
    if (len)
        *len = text.n;
    return SQZ_OK;
}

// ---- streaming ------------------------------------------------------------------------------------------------
struct sqz_detok {
    const sqz_tokenizer *t;
    bool skip_special, first;
    tok_buf pending, out;
};

sqz_status sqz_detok_new(sqz_detok **out, const sqz_tokenizer *t, bool skip_special) {
    sqz_detok *d = calloc(1, sizeof *d);
    if (!d)
        return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory");
    d->t = t;
    d->skip_special = skip_special;
    d->first = true;
    *out = d;
    return SQZ_OK;
}

void sqz_detok_free(sqz_detok *d) {
    if (!d)
        return;
    tok_buf_free(&d->pending);
    tok_buf_free(&d->out);
    free(d);
}

static sqz_status detok_emit(sqz_detok *d, bool final, const char **text, size_t *len) {
    size_t used;
    d->out.n = 0;
    SQZ_TRY(tok_buf_put(&d->out, "", 0));
    SQZ_TRY(utf8_repair(d->pending.p ? d->pending.p : "", d->pending.n, final, &d->out, &used));
    memmove(d->pending.p, d->pending.p + used, d->pending.n - used);
    d->pending.n -= used;
    *text = d->out.p;
    *len = d->out.n;
    return SQZ_OK;
}

sqz_status sqz_detok_push(sqz_detok *d, int32_t id, const char **text, size_t *len) {
    *text = "";
    *len = 0;
    SQZ_TRY(check_id(d->t, id));
    SQZ_TRY(tok_buf_put(&d->pending, "", 0));
    if (d->skip_special && sqz_tokenizer_is_special(d->t, id))
        return detok_emit(d, false, text, len);
    if (d->t->dec_join_space && !d->first)
        SQZ_TRY(tok_buf_putc(&d->pending, ' '));
    SQZ_TRY(tok_decode_token(d->t, id, d->first, &d->pending));
    d->first = false;
    return detok_emit(d, false, text, len);
}

sqz_status sqz_detok_flush(sqz_detok *d, const char **text, size_t *len) {
    SQZ_TRY(tok_buf_put(&d->pending, "", 0));
    SQZ_TRY(detok_emit(d, true, text, len));
    d->first = true;
    return SQZ_OK;
}

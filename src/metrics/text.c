// Text utilities with Python's string semantics (the reference metrics are Python programs).
#include "metrics/text.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

// ---- buffers -----------------------------------------------------------------------------------
static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem)
            return false;
        c *= 2;
    }
    void *q = realloc(*p, c * elem);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

void mt_buf_push(mt_buf *b, const char *s, size_t n) {
    if (b->oom || n > SIZE_MAX - b->n - 1 || !grow((void **)&b->p, &b->cap, b->n + n + 1, 1)) {
        b->oom = true;
        return;
    }
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void mt_buf_putc(mt_buf *b, char c) { mt_buf_push(b, &c, 1); }

void mt_buf_put_cp(mt_buf *b, uint32_t cp) {
    utf8proc_uint8_t tmp[4];
    utf8proc_ssize_t k = utf8proc_encode_char((utf8proc_int32_t)cp, tmp);
    mt_buf_push(b, (const char *)tmp, (size_t)k);
}

void mt_buf_free(mt_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

sqz_status mt_buf_take(mt_buf *b, char **out, size_t *len) {
    mt_buf_push(b, "", 0);
    if (b->oom) {
        mt_buf_free(b);
        return sqz_error(SQZ_ERR_NOMEM, "out of memory building a string");
    }
    *out = b->p;
    if (len)
        *len = b->n;
    memset(b, 0, sizeof *b);
    return SQZ_OK;
}

void mt_u32_push(mt_u32 *v, uint32_t c) {
    if (v->oom || !grow((void **)&v->p, &v->cap, v->n + 1, sizeof *v->p)) {
        v->oom = true;
        return;
    }
    v->p[v->n++] = c;
}

void mt_u32_free(mt_u32 *v) {
    free(v->p);
    memset(v, 0, sizeof *v);
}

void mt_spans_push(mt_spans *v, size_t off, size_t len) {
    if (v->oom || !grow((void **)&v->p, &v->cap, v->n + 1, sizeof *v->p)) {
        v->oom = true;
        return;
    }
    v->p[v->n++] = (mt_span){off, len};
}

void mt_spans_free(mt_spans *v) {
    free(v->p);
    memset(v, 0, sizeof *v);
}

// ---- UTF-8 -------------------------------------------------------------------------------------
// Decode one code point at s[i]; returns its byte length, or -1 when invalid.
static int next_cp(const char *s, size_t len, size_t i, uint32_t *cp) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    utf8proc_int32_t v;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                          (utf8proc_ssize_t)(len - i), &v);
    if (k <= 0)
        return -1;
    *cp = (uint32_t)v;
    return (int)k;
}

sqz_status mt_decode(const char *s, size_t len, mt_u32 *out) {
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = next_cp(s, len, i, &cp);
        if (k < 0)
            return sqz_error(SQZ_ERR_FORMAT, "invalid UTF-8 at byte %zu", i);
        mt_u32_push(out, cp);
        i += (size_t)k;
    }
    return out->oom ? sqz_error(SQZ_ERR_NOMEM, "out of memory decoding text") : SQZ_OK;
}

sqz_status mt_validate(const char *s, size_t len) {
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = next_cp(s, len, i, &cp);
        if (k < 0)
            return sqz_error(SQZ_ERR_FORMAT, "invalid UTF-8 at byte %zu", i);
        i += (size_t)k;
    }
    return SQZ_OK;
}

// ---- Python character classes ------------------------------------------------------------------
bool mt_is_space(uint32_t c) {
    if (c < 0x80)
        return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)c);
    return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
           p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

// Python's _PyUnicode_IsCased / _PyUnicode_IsCaseIgnorable, approximated from general categories
// (plus the Word_Break MidLetter/MidNumLet/Single_Quote characters). Used only for final sigma.
static bool is_cased(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT;
}

static bool is_case_ignorable(uint32_t c) {
    switch (c) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x5F4: case 0x2018:
    case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07:
    case 0xFF0E: case 0xFF1A:
        return true;
    default:
        break;
    }
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK;
}

// Capital sigma at in[i] lowercases to final ς when preceded by a cased letter and not followed
// by one (skipping case-ignorable characters), as CPython's handle_capital_sigma.
static uint32_t lower_sigma(const uint32_t *in, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && is_case_ignorable(in[j - 1]))
        j--;
    if (j == 0 || !is_cased(in[j - 1]))
        return 0x3C3;
    j = i + 1;
    while (j < n && is_case_ignorable(in[j]))
        j++;
    return (j == n || !is_cased(in[j])) ? 0x3C2 : 0x3C3;
}

void mt_lower(const uint32_t *in, size_t n, mt_u32 *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t c = in[i];
        if (c < 0x80) {
            mt_u32_push(out, (c >= 'A' && c <= 'Z') ? c + 32 : c);
        } else if (c == 0x130) { // the one unconditional multi-character lowercase mapping
            mt_u32_push(out, 'i');
            mt_u32_push(out, 0x307);
        } else if (c == 0x3A3) {
            mt_u32_push(out, lower_sigma(in, n, i));
        } else {
            mt_u32_push(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
        }
    }
}

sqz_status mt_lower_utf8(const char *s, size_t len, char **out, size_t *out_len) {
    mt_u32 cps = {0}, low = {0};
    mt_buf b = {0};
    sqz_status st = mt_decode(s, len, &cps);
    if (st == SQZ_OK) {
        mt_lower(cps.p, cps.n, &low);
        for (size_t i = 0; i < low.n; i++)
            mt_buf_put_cp(&b, low.p[i]);
        b.oom |= low.oom;
        st = mt_buf_take(&b, out, out_len);
    }
    mt_u32_free(&cps);
    mt_u32_free(&low);
    mt_buf_free(&b);
    return st;
}

void mt_split_ws(const char *s, size_t len, mt_spans *out) {
    size_t start = 0;
    bool in_tok = false;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = next_cp(s, len, i, &cp);
        if (k < 0)
            k = 1, cp = 0xFFFD; // callers validate first; never split inside bad bytes
        bool sp = mt_is_space(cp);
        if (sp && in_tok)
            mt_spans_push(out, start, i - start);
        else if (!sp && !in_tok)
            start = i;
        in_tok = !sp;
        i += (size_t)k;
    }
    if (in_tok)
        mt_spans_push(out, start, len - start);
}

size_t mt_rstrip_len(const char *s, size_t len) {
    size_t end = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = next_cp(s, len, i, &cp);
        if (k < 0)
            k = 1, cp = 0xFFFD;
        i += (size_t)k;
        if (!mt_is_space(cp))
            end = i;
    }
    return end;
}

size_t mt_lstrip_off(const char *s, size_t len) {
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = next_cp(s, len, i, &cp);
        if (k < 0 || !mt_is_space(cp))
            return i;
        i += (size_t)k;
    }
    return len;
}

// ---- n-gram table ------------------------------------------------------------------------------
static uint32_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; // FNV-1a 64, folded
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return (uint32_t)(h ^ (h >> 32));
}

static mt_ngram *find_slot(mt_ngram *slots, size_t cap, const char *key, size_t len, uint32_t h) {
    size_t mask = cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        mt_ngram *e = &slots[i];
        if (!e->key || (e->hash == h && e->len == len && !memcmp(e->key, key, len)))
            return e;
    }
}

static bool rehash(mt_table *t) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    mt_ngram *s = calloc(cap, sizeof *s);
    if (!s)
        return false;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].key)
            *find_slot(s, cap, t->slots[i].key, t->slots[i].len, t->slots[i].hash) = t->slots[i];
    free(t->slots);
    t->slots = s;
    t->cap = cap;
    return true;
}

// The slot for key, inserted with count 0 if new; NULL on allocation failure.
static mt_ngram *upsert(mt_table *t, const char *key, size_t len) {
    if (t->oom || len > UINT32_MAX)
        return (t->oom = true), NULL;
    if ((t->n + 1) * 4 > t->cap * 3 && !rehash(t))
        return (t->oom = true), NULL;
    uint32_t h = hash_bytes(key, len);
    mt_ngram *e = find_slot(t->slots, t->cap, key, len, h);
    if (!e->key) {
        *e = (mt_ngram){key ? key : "", (uint32_t)len, h, 0};
        t->n++;
    }
    return e;
}

void mt_table_add(mt_table *t, const char *key, size_t len, int64_t inc) {
    mt_ngram *e = upsert(t, key, len);
    if (e) {
        e->count += inc;
        t->total += inc;
    }
}

void mt_table_max(mt_table *t, const char *key, size_t len, int64_t count) {
    mt_ngram *e = upsert(t, key, len);
    if (e && count > e->count) {
        t->total += count - e->count;
        e->count = count;
    }
}

int64_t mt_table_get(const mt_table *t, const char *key, size_t len) {
    if (!t->cap)
        return 0;
    const mt_ngram *e = find_slot(t->slots, t->cap, key, len, hash_bytes(key, len));
    return e->key ? e->count : 0;
}

void mt_table_clear(mt_table *t) {
    if (t->slots)
        memset(t->slots, 0, t->cap * sizeof *t->slots);
    t->n = 0;
    t->total = 0;
    t->oom = false;
}

void mt_table_free(mt_table *t) {
    free(t->slots);
    memset(t, 0, sizeof *t);
}

sqz_status mt_check_pairs(const char *metric, const sqz_text_pair *pairs, size_t n) {
    if (n == 0 || !pairs)
        return sqz_error(SQZ_ERR_ARG, "%s: no segments to score", metric);
    for (size_t i = 0; i < n; i++) {
        if (!pairs[i].hyp)
            return sqz_error(SQZ_ERR_ARG, "%s: segment %zu has no hypothesis", metric, i + 1);
        if (pairs[i].n_refs == 0 || !pairs[i].refs)
            return sqz_error(SQZ_ERR_ARG, "%s: segment %zu has no reference", metric, i + 1);
        for (size_t r = 0; r < pairs[i].n_refs; r++)
            if (!pairs[i].refs[r])
                return sqz_error(SQZ_ERR_ARG, "%s: segment %zu reference %zu is NULL", metric,
                                 i + 1, r + 1);
    }
    return SQZ_OK;
}

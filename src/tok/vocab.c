// Vocabulary storage and the two hash maps of a tokenizer: piece -> id and (left, right) -> merge.
#define _GNU_SOURCE // qsort_r
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

// ---- buffers ------------------------------------------------------------------------------------
static sqz_status grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return SQZ_OK;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    size_t bytes;
    if (!sqz_mul_ok(c, elem, &bytes))
        return sqz_error(SQZ_ERR_NOMEM, "tokenizer: buffer size overflow");
    void *q = realloc(*p, bytes);
    if (!q)
        return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory (%zu bytes)", bytes);
    *p = q;
    *cap = c;
    return SQZ_OK;
}

sqz_status tok_buf_put(tok_buf *b, const void *s, size_t n) {
    SQZ_TRY(grow((void **)&b->p, &b->cap, b->n + n + 1, 1));
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return SQZ_OK;
}

void tok_buf_free(tok_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

sqz_status tok_ids_push(tok_ids *a, int32_t id) {
    SQZ_TRY(grow((void **)&a->v, &a->cap, a->n + 1, sizeof(int32_t)));
    a->v[a->n++] = id;
    return SQZ_OK;
}

sqz_status tok_strs_add(tok_strs *l, const char *p, size_t n, bool start) {
    SQZ_TRY(grow((void **)&l->s, &l->cap, l->n + 1, sizeof(tok_span)));
    l->s[l->n++] = (tok_span){l->buf.n, n, start};
    return tok_buf_put(&l->buf, p, n);
}

void tok_strs_reset(tok_strs *l) {
    l->n = 0;
    l->buf.n = 0;
}

void tok_strs_free(tok_strs *l) {
    tok_buf_free(&l->buf);
    free(l->s);
    memset(l, 0, sizeof *l);
}

// ---- piece -> id -------------------------------------------------------------------------------------
uint64_t tok_hash(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull; // FNV-1a, then a final mix so the low bits are usable
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

sqz_status tok_vocab_alloc(sqz_tokenizer *t, int32_t n, size_t blob_bytes) {
    t->n_vocab = n;
    t->off = calloc((size_t)n + 1, sizeof *t->off);
    t->len = calloc((size_t)n + 1, sizeof *t->len);
    t->attr = calloc((size_t)n + 1, sizeof *t->attr);
    t->blob = malloc(blob_bytes + 1);
    if (!t->off || !t->len || !t->attr || !t->blob)
        return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory for %d tokens", (int)n);
    return SQZ_OK;
}

int32_t tok_lookup(const sqz_tokenizer *t, const char *s, size_t n) {
    if (!t->map.slot)
        return -1;
    for (size_t i = tok_hash(s, n) & t->map.mask;; i = (i + 1) & t->map.mask) {
        int32_t id = t->map.slot[i];
        if (id < 0)
            return -1;
        if (t->len[id] == n && memcmp(t->blob + t->off[id], s, n) == 0)
            return id;
    }
}

// Index every non-empty piece. Duplicates are an error: ids must be a function of the text.
sqz_status tok_vocab_build_map(sqz_tokenizer *t, const char *what) {
    size_t cap = 16;
    while (cap < (size_t)t->n_vocab * 2)
        cap *= 2;
    t->map.slot = malloc(cap * sizeof(int32_t));
    if (!t->map.slot)
        return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory");
    memset(t->map.slot, 0xff, cap * sizeof(int32_t));
    t->map.mask = cap - 1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (!t->attr[id])
            continue; // hole
        const char *s = t->blob + t->off[id];
        size_t i = tok_hash(s, t->len[id]) & t->map.mask;
        for (;; i = (i + 1) & t->map.mask) {
            int32_t o = t->map.slot[i];
            if (o < 0)
                break;
            if (t->len[o] == t->len[id] && memcmp(t->blob + t->off[o], s, t->len[id]) == 0)
                return sqz_error(SQZ_ERR_FORMAT, "%s: duplicate token '%.*s' (ids %d and %d)", what,
                                 (int)t->len[id], s, (int)o, (int)id);
        }
        t->map.slot[i] = id;
    }
    return SQZ_OK;
}

// ---- (a, b) -> merge -----------------------------------------------------------------------------------
static uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

static size_t pair_slot(const tok_pairmap *m, uint64_t k) {
    uint64_t h = k * 0x9e3779b97f4a7c15ull;
    return (size_t)(h ^ (h >> 29)) & m->mask;
}

sqz_status tok_pairmap_init(tok_pairmap *m, size_t n) {
    size_t cap = 16;
    while (cap < n * 2 + 2)
        cap *= 2;
    m->key = malloc(cap * sizeof *m->key);
    m->rank = malloc(cap * sizeof *m->rank);
    m->merged = malloc(cap * sizeof *m->merged);
    if (!m->key || !m->rank || !m->merged)
        return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory for %zu merges", n);
    memset(m->key, 0xff, cap * sizeof *m->key);
    m->mask = cap - 1;
    m->n = 0;
    return SQZ_OK;
}

// The first rank given to a pair wins (later duplicates are ignored, as in HF and llama.cpp).
sqz_status tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t merged) {
    if ((m->n + 1) * 2 > m->mask + 1)
        return sqz_error(SQZ_ERR_INTERNAL, "tokenizer: merge table full");
    uint64_t k = pair_key(a, b);
    size_t i = pair_slot(m, k);
    for (; m->key[i] != UINT64_MAX; i = (i + 1) & m->mask)
        if (m->key[i] == k)
            return SQZ_OK;
    m->key[i] = k;
    m->rank[i] = rank;
    m->merged[i] = merged;
    m->n++;
    return SQZ_OK;
}

bool tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *merged) {
    if (!m->key)
        return false;
    uint64_t k = pair_key(a, b);
    for (size_t i = pair_slot(m, k); m->key[i] != UINT64_MAX; i = (i + 1) & m->mask)
        if (m->key[i] == k) {
            *rank = m->rank[i];
            *merged = m->merged[i];
            return true;
        }
    return false;
}

void tok_pairmap_free(tok_pairmap *m) {
    free(m->key);
    free(m->rank);
    free(m->merged);
    memset(m, 0, sizeof *m);
}

void tok_find_byte_tokens(sqz_tokenizer *t) {
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_id[b] = tok_lookup(t, name, 6);
    }
}

// Sort added tokens by decreasing length (ties: lower id first) so the first match is the longest.
static int cmp_added(const void *a, const void *b, void *ctx) {
    const sqz_tokenizer *t = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->len[x] != t->len[y])
        return t->len[x] > t->len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

sqz_status tok_finish(sqz_tokenizer *t) {
    size_t n = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        n += (t->attr[id] & TA_ADDED) && t->len[id] > 0;
    t->added = malloc((n ? n : 1) * sizeof *t->added);
    if (!t->added)
        return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory");
    t->n_added = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if ((t->attr[id] & TA_ADDED) && t->len[id] > 0)
            t->added[t->n_added++] = id;
    qsort_r(t->added, t->n_added, sizeof *t->added, cmp_added, t);
    tok_find_byte_tokens(t);
    return SQZ_OK;
}

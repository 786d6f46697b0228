// The two tokenization models:
//  - BPE (HF `BPE` model and llama.cpp `gpt2` vocabularies): a word's characters are merged pairwise,
//    always the lowest-ranked pair first (leftmost on ties), until no ranked pair remains. Symbols form
//    a linked list; candidate pairs live in a binary heap, so a word of n characters costs O(n log n).
//  - SPM (llama.cpp `llama` vocabularies): the same scheme over a whole fragment, but the pair whose
//    concatenation is the highest-scoring vocabulary entry wins; leftovers become <0xXX> bytes.
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

// ---- GPT-2 byte <-> unicode mapping -------------------------------------------------------------
// Printable bytes (33..126, 161..172, 174..255) map to themselves; the other 68 bytes, in order, to
// U+0100.. U+0143.
static bool printable(unsigned b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174; }

size_t tok_bytelevel_enc(unsigned char b, char out[2]) {
    uint32_t cp = b;
    if (!printable(b))
        cp = 256 + (b <= 32 ? b : b <= 160 ? 33 + (b - 127u) : 67u);
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

int tok_bytelevel_dec(uint32_t cp) {
    if (cp < 256)
        return printable(cp) ? (int)cp : -1;
    if (cp < 256 + 33)
        return (int)(cp - 256);
    if (cp < 256 + 67)
        return (int)(127 + cp - 256 - 33);
    return cp == 256 + 67 ? 173 : -1;
}

sqz_status tok_bytelevel_map(tok_buf *out, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char u[2];
        SQZ_TRY(tok_buf_put(out, u, tok_bytelevel_enc((unsigned char)s[i], u)));
    }
    return SQZ_OK;
}

// ---- a small binary heap of candidate merges ------------------------------------------------------
typedef struct {
    double prio; // BPE: rank (lower first); SPM: -score (lower first)
    int32_t left, right;
    int32_t a, b; // BPE: ids of the pair when pushed; SPM: byte size of the merged text in `a`
} cand;

typedef struct {
    cand *v;
    size_t n, cap;
    bool owned; // v was malloc'd (it starts on the caller's stack)
} heap;

static bool before(const cand *x, const cand *y) {
    return x->prio < y->prio || (x->prio == y->prio && x->left < y->left);
}

static sqz_status heap_push(heap *h, cand c) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        cand *v = h->owned ? realloc(h->v, cap * sizeof *v) : malloc(cap * sizeof *v);
        if (!v)
            return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory");
        if (!h->owned && h->n)
            memcpy(v, h->v, h->n * sizeof *v);
        h->v = v;
        h->cap = cap;
        h->owned = true;
    }
    size_t i = h->n++;
    while (i > 0 && before(&c, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = c;
    return SQZ_OK;
}

static cand heap_pop(heap *h) {
    cand top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n)
        h->v[i] = last;
    return top;
}

// ---- BPE ------------------------------------------------------------------------------------------------
typedef struct {
    int32_t id; // -1 once merged into its left neighbour
    int32_t prev, next;
    uint32_t off, n; // bytes of the word covered (SPM)
} sym;

typedef struct {
    sym *s;
    size_t n, cap;
    bool owned;
} syms;

static sqz_status syms_push(syms *a, sym x) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        sym *v = a->owned ? realloc(a->s, cap * sizeof *v) : malloc(cap * sizeof *v);
        if (!v)
            return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory");
        if (!a->owned && a->n)
            memcpy(v, a->s, a->n * sizeof *v);
        a->s = v;
        a->cap = cap;
        a->owned = true;
    }
    a->s[a->n++] = x;
    return SQZ_OK;
}

static size_t char_len(const char *w, size_t i, size_t n) {
    size_t l = tok_utf8_len((unsigned char)w[i]);
    return l > n - i ? n - i : l;
}

// Initial symbols of a BPE word: one per character; characters missing from the vocabulary become
// <0xXX> byte tokens (byte_fallback), the unknown token (fused when fuse_unk), or are dropped.
static sqz_status bpe_init(const sqz_tokenizer *t, const char *w, size_t n, syms *a) {
    bool prev_unk = false;
    for (size_t i = 0; i < n;) {
        size_t l = char_len(w, i, n);
        int32_t id = tok_lookup(t, w + i, l);
        if (id >= 0) {
            SQZ_TRY(syms_push(a, (sym){id, 0, 0, (uint32_t)i, (uint32_t)l}));
            prev_unk = false;
        } else {
            bool bytes_ok = t->byte_fallback;
            for (size_t k = 0; bytes_ok && k < l; k++)
                bytes_ok = t->byte_id[(unsigned char)w[i + k]] >= 0;
            if (bytes_ok) {
                for (size_t k = 0; k < l; k++)
                    SQZ_TRY(syms_push(a, (sym){t->byte_id[(unsigned char)w[i + k]], 0, 0, (uint32_t)(i + k), 1}));
                prev_unk = false;
            } else if (t->bpe_unk_id >= 0) {
                if (!(t->fuse_unk && prev_unk))
                    SQZ_TRY(syms_push(a, (sym){t->bpe_unk_id, 0, 0, (uint32_t)i, (uint32_t)l}));
                prev_unk = true;
            }
        }
        i += l;
    }
    for (size_t i = 0; i < a->n; i++) {
        a->s[i].prev = (int32_t)i - 1;
        a->s[i].next = i + 1 < a->n ? (int32_t)i + 1 : -1;
    }
    return SQZ_OK;
}

static sqz_status bpe_try_pair(const sqz_tokenizer *t, const syms *a, heap *h, int32_t l, int32_t r) {
    if (l < 0 || r < 0)
        return SQZ_OK;
    int32_t rank, merged;
    if (!tok_pairmap_get(&t->merges, a->s[l].id, a->s[r].id, &rank, &merged))
        return SQZ_OK;
    return heap_push(h, (cand){rank, l, r, a->s[l].id, a->s[r].id});
}

static sqz_status bpe_merge(const sqz_tokenizer *t, syms *a, heap *h) {
    for (int32_t i = 0; i + 1 < (int32_t)a->n; i++)
        SQZ_TRY(bpe_try_pair(t, a, h, i, i + 1));
    while (h->n) {
        cand c = heap_pop(h);
        sym *L = &a->s[c.left];
        // stale if either side has changed since the pair was pushed
        if (L->id != c.a || L->next != c.right || a->s[c.right].id != c.b)
            continue;
        int32_t rank, merged;
        tok_pairmap_get(&t->merges, c.a, c.b, &rank, &merged);
        sym *R = &a->s[c.right];
        L->id = merged;
        L->n += R->n;
        R->id = -1;
        L->next = R->next;
        if (R->next >= 0)
            a->s[R->next].prev = c.left;
        SQZ_TRY(bpe_try_pair(t, a, h, L->prev, c.left));
        SQZ_TRY(bpe_try_pair(t, a, h, c.left, L->next));
    }
    return SQZ_OK;
}

sqz_status tok_bpe_word(const sqz_tokenizer *t, const char *w, size_t n, tok_ids *out) {
    if (n == 0)
        return SQZ_OK;
    if (t->ignore_merges) {
        int32_t id = tok_lookup(t, w, n);
        if (id >= 0)
            return tok_ids_push(out, id);
    }
    sym sbuf[64];
    cand hbuf[128];
    syms a = {sbuf, 0, 64, false};
    heap h = {hbuf, 0, 128, false};
    sqz_status st = bpe_init(t, w, n, &a);
    if (st == SQZ_OK)
        st = bpe_merge(t, &a, &h);
    for (int32_t i = a.n ? 0 : -1; st == SQZ_OK && i >= 0; i = a.s[i].next)
        st = tok_ids_push(out, a.s[i].id);
    if (a.owned)
        free(a.s);
    if (h.owned)
        free(h.v);
    return st;
}

// ---- SPM (llama.cpp scores) ---------------------------------------------------------------------------
static sqz_status spm_try_pair(const sqz_tokenizer *t, const char *s, const syms *a, heap *h, int32_t l,
                               int32_t r) {
    if (l < 0 || r < 0)
        return SQZ_OK;
    uint32_t size = a->s[l].n + a->s[r].n;
    int32_t id = tok_lookup(t, s + a->s[l].off, size);
    if (id < 0)
        return SQZ_OK;
    return heap_push(h, (cand){-(double)t->score[id], l, r, (int32_t)size, 0});
}

static sqz_status spm_emit(const sqz_tokenizer *t, const char *s, size_t n, tok_ids *out) {
    int32_t id = tok_lookup(t, s, n);
    if (id >= 0)
        return tok_ids_push(out, id);
    for (size_t k = 0; k < n; k++) {
        unsigned char b = (unsigned char)s[k];
        id = t->byte_id[b] >= 0 ? t->byte_id[b] : tok_lookup(t, s + k, 1);
        if (id < 0)
            id = t->unk_id;
        SQZ_FAIL_IF(id < 0, SQZ_ERR_FORMAT, "tokenizer: byte 0x%02X has no token and there is no unknown token", b);
        SQZ_TRY(tok_ids_push(out, id));
    }
    return SQZ_OK;
}

sqz_status tok_spm_fragment(const sqz_tokenizer *t, const char *s, size_t n, tok_ids *out) {
    syms a = {NULL, 0, 0, true};
    heap h = {NULL, 0, 0, true};
    sqz_status st = SQZ_OK;
    for (size_t i = 0; i < n && st == SQZ_OK;) {
        size_t l = char_len(s, i, n);
        st = syms_push(&a, (sym){0, (int32_t)a.n - 1, (i + l < n) ? (int32_t)a.n + 1 : -1, (uint32_t)i, (uint32_t)l});
        i += l;
    }
    for (int32_t i = 1; st == SQZ_OK && i < (int32_t)a.n; i++)
        st = spm_try_pair(t, s, &a, &h, i - 1, i);
    while (st == SQZ_OK && h.n) {
        cand c = heap_pop(&h);
        sym *L = &a.s[c.left], *R = &a.s[c.right];
        if (L->n == 0 || R->n == 0 || L->n + R->n != (uint32_t)c.a)
            continue;
        L->n += R->n;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0)
            a.s[R->next].prev = c.left;
        st = spm_try_pair(t, s, &a, &h, L->prev, c.left);
        if (st == SQZ_OK)
            st = spm_try_pair(t, s, &a, &h, c.left, L->next);
    }
    for (int32_t i = a.n ? 0 : -1; st == SQZ_OK && i >= 0; i = a.s[i].next)
        st = spm_emit(t, s + a.s[i].off, a.s[i].n, out);
    if (a.owned)
        free(a.s);
    if (h.owned)
        free(h.v);
    return st;
}

// ---- per-call word cache -----------------------------------------------------------------------------
// Source code repeats words constantly; an encode call remembers the ids of each word it has merged.
#define CACHE_MAX_WORD 64
#define CACHE_MAX_ENTRIES (1u << 16)

void tok_cache_free(tok_cache *c) {
    free(c->slot);
    tok_buf_free(&c->keys);
    free(c->ids.v);
    memset(c, 0, sizeof *c);
}

static sqz_status cache_grow(tok_cache *c) {
    size_t cap = c->mask ? (c->mask + 1) * 2 : 1024;
    tok_cache_slot *s = calloc(cap, sizeof *s);
    if (!s)
        return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory");
    for (size_t i = 0; c->slot && i <= c->mask; i++) {
        if (!c->slot[i].used)
            continue;
        size_t j = c->slot[i].hash & (cap - 1);
        while (s[j].used)
            j = (j + 1) & (cap - 1);
        s[j] = c->slot[i];
    }
    free(c->slot);
    c->slot = s;
    c->mask = cap - 1;
    return SQZ_OK;
}

sqz_status tok_bpe_word_cached(const sqz_tokenizer *t, tok_cache *c, const char *w, size_t n, tok_ids *out) {
    if (n > CACHE_MAX_WORD || n == 0)
        return tok_bpe_word(t, w, n, out);
    uint64_t h = tok_hash(w, n);
    for (size_t i = c->slot ? (h & c->mask) : 0; c->slot && c->slot[i].used; i = (i + 1) & c->mask) {
        tok_cache_slot *e = &c->slot[i];
        if (e->hash == h && e->key_len == n && memcmp(c->keys.p + e->key_off, w, n) == 0) {
            for (uint32_t k = 0; k < e->n_ids; k++)
                SQZ_TRY(tok_ids_push(out, c->ids.v[e->ids_off + k]));
            return SQZ_OK;
        }
    }
    size_t before = out->n;
    SQZ_TRY(tok_bpe_word(t, w, n, out));
    if (c->n >= CACHE_MAX_ENTRIES)
        return SQZ_OK;
    if ((c->n + 1) * 2 > (c->slot ? c->mask + 1 : 0))
        SQZ_TRY(cache_grow(c));
    tok_cache_slot e = {h, (uint32_t)c->keys.n, (uint32_t)n, (uint32_t)c->ids.n, (uint32_t)(out->n - before), true};
    SQZ_TRY(tok_buf_put(&c->keys, w, n));
    for (size_t k = before; k < out->n; k++)
        SQZ_TRY(tok_ids_push(&c->ids, out->v[k]));
    size_t i = h & c->mask;
    while (c->slot[i].used)
        i = (i + 1) & c->mask;
    c->slot[i] = e;
    c->n++;
    return SQZ_OK;
}

// Calibration data: the corpus tar reader, the held-out split rule, and the seeded draw of
// token windows (GPTQ's reference draws random windows of seqlen tokens the same way).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sqz/compress.h"

// ---- tar -------------------------------------------------------------------------------------------

typedef struct {
    char *buf;
    size_t len, cap;
    bool heldout, oom;
} text_acc;

static int text_add(void *user, const char *name, const uint8_t *data, size_t size) {
    text_acc *a = user;
    if (sqz_corpus_is_heldout(name) != a->heldout)
        return 0;
    if (a->len + size + 2 > a->cap) {
        size_t cap = (a->len + size + 2) * 2;
        char *g = realloc(a->buf, cap);
        if (!g) {
            a->oom = true;
            return 1;
        }
        a->buf = g, a->cap = cap;
    }
    memcpy(a->buf + a->len, data, size);
    a->len += size;
    a->buf[a->len++] = '\n';
    a->buf[a->len] = 0;
    return 0;
}

sqz_status sqz_corpus_text(const char *tar_path, bool heldout, char **out, size_t *len) {
    text_acc a = {.heldout = heldout};
    sqz_status st = sqz_tar_foreach(tar_path, text_add, &a);
    if (st == SQZ_OK && a.oom)
        st = sqz_error(SQZ_ERR_NOMEM, "out of memory reading %s", tar_path);
    if (st == SQZ_OK && !a.buf)
        st = sqz_error(SQZ_ERR_FORMAT, "%s: no %s files in the corpus", tar_path, heldout ? "held-out" : "calibration");
    if (st != SQZ_OK) {
        free(a.buf);
        return st;
    }
    *out = a.buf;
    if (len)
        *len = a.len;
    return SQZ_OK;
}

// ---- the draw -----------------------------------------------------------------------------------------

static uint64_t xorshift64s(uint64_t *s) {
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

typedef struct {
    const uint8_t **data;
    size_t *size;
    int64_t n, cap;
    bool oom;
} member_list;

static int member_add(void *user, const char *name, const uint8_t *data, size_t size) {
    member_list *l = user;
    if (sqz_corpus_is_heldout(name))
        return 0;
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 64;
        const uint8_t **d = realloc(l->data, (size_t)cap * sizeof *d);
        size_t *s = d ? realloc(l->size, (size_t)cap * sizeof *s) : NULL;
        if (d)
            l->data = d;
        if (!s) {
            l->oom = true;
            return 1;
        }
        l->size = s, l->cap = cap;
    }
    l->data[l->n] = data, l->size[l->n++] = size;
    return 0;
}

typedef struct {
    int32_t *ids;
    int64_t n, cap;
} id_pool;

static sqz_status pool_add(id_pool *p, const sqz_tokenizer *tok, const char *text, size_t len) {
    int32_t *ids = NULL;
    size_t n = 0;
    SQZ_TRY(sqz_tokenizer_encode(tok, text, len, false, &ids, &n));
    if (p->n + (int64_t)n > p->cap) {
        int64_t cap = (p->n + (int64_t)n) * 2;
        int32_t *g = realloc(p->ids, (size_t)cap * sizeof *g);
        if (!g) {
            free(ids);
            return sqz_error(SQZ_ERR_NOMEM, "out of memory tokenizing calibration data");
        }
        p->ids = g, p->cap = cap;
    }
    if (n)
        memcpy(p->ids + p->n, ids, n * sizeof *ids);
    p->n += (int64_t)n;
    free(ids);
    return SQZ_OK;
}

static bool is_tar(const char *path) {
    size_t n = strlen(path);
    return n >= 4 && !strcmp(path + n - 4, ".tar");
}

// The calibration side of a tar, members in a seeded order, tokenized until `want` tokens.
static sqz_status pool_from_tar(id_pool *p, const sqz_tokenizer *tok, const char *path, int64_t want, uint64_t seed) {
    sqz_mmap mm; // one mapping for the walk and the tokenization (members point into it)
    SQZ_TRY(sqz_mmap_open(&mm, path));
    member_list l = {0};
    sqz_status st = sqz_tar_foreach_mapped(&mm, member_add, &l);
    if (st == SQZ_OK && l.oom)
        st = sqz_error(SQZ_ERR_NOMEM, "out of memory");
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (int64_t i = l.n - 1; i > 0 && st == SQZ_OK; i--) { // Fisher-Yates
        int64_t j = (int64_t)(xorshift64s(&s) % (uint64_t)(i + 1));
        const uint8_t *d = l.data[i];
        size_t z = l.size[i];
        l.data[i] = l.data[j], l.size[i] = l.size[j];
        l.data[j] = d, l.size[j] = z;
    }
    for (int64_t i = 0; i < l.n && st == SQZ_OK && p->n < want; i++)
        st = pool_add(p, tok, (const char *)l.data[i], l.size[i]);
    free(l.data), free(l.size);
    sqz_mmap_close(&mm);
    return st;
}

static sqz_status pool_from_text(id_pool *p, const sqz_tokenizer *tok, const char *path) {
    char *text;
    size_t len;
    SQZ_TRY(sqz_read_file(path, &text, &len));
    sqz_status st = pool_add(p, tok, text, len);
    free(text);
    return st;
}

sqz_status sqz_calib_draw(const sqz_tokenizer *tok, const char *path, int64_t n_seq, int64_t seq_len, uint64_t seed,
                          sqz_calib **out) {
    *out = NULL;
    SQZ_FAIL_IF(!tok, SQZ_ERR_ARG, "calibration needs the model's tokenizer, and the model has none");
    SQZ_FAIL_IF(n_seq < 1 || seq_len < 1 || n_seq > (1 << 20) || seq_len > (1 << 20), SQZ_ERR_ARG,
                "calibration: %lld sequences of %lld tokens is not a valid request", (long long)n_seq,
                (long long)seq_len);
    int64_t need = n_seq * seq_len;
    id_pool p = {0};
    sqz_status st = is_tar(path) ? pool_from_tar(&p, tok, path, 2 * need, seed) : pool_from_text(&p, tok, path);
    if (st == SQZ_OK && p.n < need)
        st = sqz_error(SQZ_ERR_ARG,
                       "calibration data '%s' is too small: %lld tokens, need at least %lld (%lld sequences of %lld)",
                       path, (long long)p.n, (long long)need, (long long)n_seq, (long long)seq_len);
    sqz_calib *c = st == SQZ_OK ? calloc(1, sizeof *c) : NULL;
    if (st == SQZ_OK && (!c || !(c->ids = malloc((size_t)need * sizeof *c->ids))))
        st = sqz_error(SQZ_ERR_NOMEM, "out of memory");
    if (st != SQZ_OK) {
        if (c)
            free(c);
        free(p.ids);
        return sqz_error_prefix(st, "calibration: ");
    }
    c->n_seq = n_seq, c->seq_len = seq_len, c->n_pool = p.n;
    uint64_t s = seed ^ 0xD1B54A32D192ED03ULL;
    for (int64_t i = 0; i < n_seq; i++) {
        int64_t off = (int64_t)(xorshift64s(&s) % (uint64_t)(p.n - seq_len + 1));
        memcpy(c->ids + i * seq_len, p.ids + off, (size_t)seq_len * sizeof *c->ids);
    }
    free(p.ids);
    sqz_sha256_hex(c->ids, (size_t)need * sizeof *c->ids, c->sha256); // x86: already little-endian
    *out = c;
    return SQZ_OK;
}

void sqz_calib_free(sqz_calib *c) {
    if (!c)
        return;
    free(c->ids);
    free(c);
}

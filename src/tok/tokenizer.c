// Top level of the tokenizer: loading by path, encode (added-token partition, then per fragment
// normalize -> pre-tokenize -> model), post-processing, accessors.
#define _GNU_SOURCE // memmem
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "tok/tok_internal.h"

// ---- loading ------------------------------------------------------------------------------------------
static sqz_status tok_new(sqz_tokenizer **out) {
    sqz_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory");
    t->unk_id = t->bos_id = t->eos_id = t->bpe_unk_id = -1;
    *out = t;
    return SQZ_OK;
}

void sqz_tokenizer_free(sqz_tokenizer *t) {
    if (!t)
        return;
    free(t->blob);
    free(t->off);
    free(t->len);
    free(t->attr);
    free(t->score);
    free(t->map.slot);
    tok_pairmap_free(&t->merges);
    free(t->added);
    for (size_t i = 0; i < t->n_norm; i++)
        tok_step_free(&t->norm[i]);
    free(t->norm);
    for (size_t i = 0; i < t->n_pre; i++)
        tok_step_free(&t->pre[i]);
    free(t->pre);
    for (size_t i = 0; i < t->n_dec; i++) {
        free(t->dec[i].from);
        free(t->dec[i].to);
    }
    free(t->dec);
    free(t->prefix);
    free(t->suffix);
    free(t);
}

sqz_status sqz_tokenizer_from_json(sqz_tokenizer **out, const char *json, size_t len, const char *name) {
    *out = NULL;
    sqz_tokenizer *t = NULL;
    SQZ_TRY(tok_new(&t));
    sqz_status st = tok_load_hf_json(t, json, len, name);
    if (st == SQZ_OK)
        st = tok_finish(t);
    if (st != SQZ_OK) {
        sqz_tokenizer_free(t);
        return st;
    }
    *out = t;
    return SQZ_OK;
}

sqz_status sqz_tokenizer_from_gguf(sqz_tokenizer **out, const sqz_gguf *g) {
    *out = NULL;
    sqz_tokenizer *t = NULL;
    SQZ_TRY(tok_new(&t));
    sqz_status st = tok_load_gguf(t, g);
    if (st == SQZ_OK)
        st = tok_finish(t);
    if (st != SQZ_OK) {
        sqz_tokenizer_free(t);
        return sqz_error_prefix(st, "%s: ", sqz_gguf_path(g));
    }
    *out = t;
    return SQZ_OK;
}

static bool has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

sqz_status sqz_tokenizer_load(sqz_tokenizer **out, const char *path) {
    *out = NULL;
    struct stat sb;
    SQZ_FAIL_IF(stat(path, &sb) != 0, SQZ_ERR_IO, "%s: no such file or directory", path);
    if (S_ISDIR(sb.st_mode)) {
        size_t n = strlen(path) + sizeof "/tokenizer.json";
        char *p = malloc(n);
        if (!p)
            return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory");
        snprintf(p, n, "%s/tokenizer.json", path);
        struct stat sj;
        sqz_status st = stat(p, &sj) == 0 ? sqz_tokenizer_load(out, p)
                                          : sqz_error(SQZ_ERR_NOT_FOUND, "%s: directory has no tokenizer.json", path);
        free(p);
        return st;
    }
    char *data = NULL;
    size_t len = 0;
    SQZ_TRY(sqz_read_file(path, &data, &len));
    if (len >= 4 && memcmp(data, "GGUF", 4) == 0) {
        free(data);
        sqz_gguf *g = NULL;
        SQZ_TRY(sqz_gguf_open(&g, path));
        sqz_status st = sqz_tokenizer_from_gguf(out, g);
        sqz_gguf_free(g);
        return st;
    }
    if (has_suffix(path, ".gguf")) {
        free(data);
        return sqz_error(SQZ_ERR_FORMAT, "%s: not a GGUF file (bad magic)", path);
    }
    sqz_status st = sqz_tokenizer_from_json(out, data, len, path);
    free(data);
    if (st == SQZ_OK)
        tok_hf_apply_config(*out, path);
    return st;
}

// ---- added-token partition ----------------------------------------------------------------------------------
// A fragment of the input: raw text [off, off+len) or a matched added token.
typedef struct {
    size_t off, len;
    int32_t id; // -1 for text
} frag;

typedef struct {
    frag *v;
    size_t n, cap;
} frags;

static sqz_status frags_add(frags *f, size_t off, size_t len, int32_t id) {
    if (id < 0 && len == 0)
        return SQZ_OK;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        frag *v = realloc(f->v, cap * sizeof *v);
        if (!v)
            return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory");
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = (frag){off, len, id};
    return SQZ_OK;
}

static bool matchable(const sqz_tokenizer *t, int32_t id, unsigned flags) {
    return !((flags & SQZ_TOK_NO_PARSE_SPECIAL) && (t->attr[id] & (TA_SPECIAL | TA_UNKNOWN)));
}

static bool is_word_char(const char *s, size_t n) {
    size_t adv;
    uint32_t c = tok_utf8_decode(s, n, &adv);
    if (c == '_')
        return true;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

static bool ws_byte(unsigned char c) { return c == ' ' || (c >= 9 && c <= 13); }

// llama.cpp's tokenizer_st_partition: every special token, longest first, splits all text fragments.
static sqz_status partition_llama(const sqz_tokenizer *t, const char *s, size_t n, unsigned flags, frags *f) {
    frags a = {0}, b = {0};
    sqz_status st = frags_add(&a, 0, n, -1);
    for (size_t k = 0; st == SQZ_OK && k < t->n_added; k++) {
        int32_t id = t->added[k];
        if (!matchable(t, id, flags))
            continue;
        const char *tx = t->blob + t->off[id];
        size_t tl = t->len[id];
        b.n = 0;
        for (size_t i = 0; st == SQZ_OK && i < a.n; i++) {
            frag fr = a.v[i];
            if (fr.id >= 0) {
                st = frags_add(&b, fr.off, fr.len, fr.id);
                continue;
            }
            size_t pos = fr.off, end = fr.off + fr.len;
            const char *m;
            while (st == SQZ_OK && pos < end && (m = memmem(s + pos, end - pos, tx, tl))) {
                size_t ms = (size_t)(m - s), le = ms;
                if (t->attr[id] & TA_LSTRIP)
                    while (le > pos && ws_byte((unsigned char)s[le - 1]))
                        le--;
                st = frags_add(&b, pos, le - pos, -1);
                if (st == SQZ_OK)
                    st = frags_add(&b, ms, tl, id);
                pos = ms + tl;
                if (t->attr[id] & TA_RSTRIP)
                    while (pos < end && ws_byte((unsigned char)s[pos]))
                        pos++;
            }
            if (st == SQZ_OK && pos < end)
                st = frags_add(&b, pos, end - pos, -1);
        }
        frags tmp = a;
        a = b;
        b = tmp;
    }
    free(b.v);
    *f = a;
    return st;
}

// HF AddedVocabulary: leftmost-longest matching, honouring single_word, lstrip and rstrip.
static sqz_status partition_hf(const sqz_tokenizer *t, const char *s, size_t n, unsigned flags, frags *f) {
    size_t text_start = 0;
    for (size_t p = 0; p < n;) {
        int32_t hit = -1;
        for (size_t k = 0; k < t->n_added && hit < 0; k++) {
            int32_t id = t->added[k];
            size_t tl = t->len[id];
            if (tl > n - p || memcmp(s + p, t->blob + t->off[id], tl) != 0 || !matchable(t, id, flags))
                continue;
            if (t->attr[id] & TA_SINGLE_WORD) {
                size_t q = p ? p - 1 : 0; // start of the character before the match
                while (q > 0 && ((unsigned char)s[q] & 0xC0) == 0x80)
                    q--;
                if ((p > 0 && is_word_char(s + q, n - q)) ||
                    (p + tl < n && is_word_char(s + p + tl, n - p - tl)))
                    continue;
            }
            hit = id;
        }
        if (hit < 0) {
            p++;
            continue;
        }
        size_t ms = p, me = p + t->len[hit];
        if (t->attr[hit] & TA_LSTRIP)
            while (ms > text_start && ws_byte((unsigned char)s[ms - 1]))
                ms--;
        if (t->attr[hit] & TA_RSTRIP)
            while (me < n && ws_byte((unsigned char)s[me]))
                me++;
        SQZ_TRY(frags_add(f, text_start, ms - text_start, -1));
        SQZ_TRY(frags_add(f, ms, me - ms, hit));
        p = text_start = me;
    }
    return frags_add(f, text_start, n - text_start, -1);
}

// ---- encode ---------------------------------------------------------------------------------------------------
static sqz_status encode_text(const sqz_tokenizer *t, tok_cache *cache, const char *s, size_t n, bool at_start,
                              bool prev_special, tok_ids *out) {
    if (t->model == MODEL_SPM) { // llama.cpp: optional leading space, ' ' -> U+2581, then SPM by scores
        tok_buf b = {0};
        sqz_status st = SQZ_OK;
        if (t->spm_space_prefix && prev_special)
            st = tok_buf_put(&b, "\xE2\x96\x81", 3);
        for (size_t i = 0; st == SQZ_OK && i < n; i++)
            st = s[i] == ' ' ? tok_buf_put(&b, "\xE2\x96\x81", 3) : tok_buf_putc(&b, s[i]);
        if (st == SQZ_OK)
            st = tok_spm_fragment(t, b.p, b.n, out);
        tok_buf_free(&b);
        return st;
    }
    tok_buf norm = {0};
    tok_strs words = {0}, tmp = {0};
    sqz_status st = tok_normalize(t, s, n, &norm);
    if (st == SQZ_OK && norm.n)
        st = tok_strs_add(&words, norm.p, norm.n, at_start);
    if (st == SQZ_OK)
        st = tok_pretokenize(t, &words, &tmp);
    for (size_t i = 0; st == SQZ_OK && i < words.n; i++)
        st = tok_bpe_word_cached(t, cache, words.buf.p + words.s[i].off, words.s[i].len, out);
    tok_buf_free(&norm);
    tok_strs_free(&words);
    tok_strs_free(&tmp);
    return st;
}

sqz_status sqz_tokenizer_encode_ex(const sqz_tokenizer *t, const char *text, size_t len, unsigned flags,
                                   int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    SQZ_FAIL_IF(!text && len, SQZ_ERR_ARG, "tokenizer: NULL text");
    tok_ids out = {0};
    frags f = {0};
    tok_cache cache = {0};
    bool add = flags & SQZ_TOK_ADD_SPECIAL;
    sqz_status st = SQZ_OK;
    for (size_t i = 0; add && st == SQZ_OK && i < t->n_prefix; i++)
        st = tok_ids_push(&out, t->prefix[i]);
    if (st == SQZ_OK && len)
        st = t->llama_partition ? partition_llama(t, text, len, flags, &f) : partition_hf(t, text, len, flags, &f);
    bool prev_special = true;
    for (size_t i = 0; st == SQZ_OK && i < f.n; i++) {
        if (f.v[i].id >= 0) {
            st = tok_ids_push(&out, f.v[i].id);
            prev_special = true;
        } else {
            st = encode_text(t, &cache, text + f.v[i].off, f.v[i].len, f.v[i].off == 0, prev_special, &out);
            prev_special = false;
        }
    }
    for (size_t i = 0; add && st == SQZ_OK && i < t->n_suffix; i++)
        st = tok_ids_push(&out, t->suffix[i]);
    free(f.v);
    tok_cache_free(&cache);
    if (st != SQZ_OK) {
        free(out.v);
        return st;
    }
    *ids = out.v;
    *n = out.n;
    return SQZ_OK;
}

sqz_status sqz_tokenizer_encode(const sqz_tokenizer *t, const char *text, size_t len, bool add_special,
                                int32_t **ids, size_t *n) {
    return sqz_tokenizer_encode_ex(t, text, len, add_special ? SQZ_TOK_ADD_SPECIAL : 0, ids, n);
}

// ---- accessors ------------------------------------------------------------------------------------------------
int64_t sqz_tokenizer_n_vocab(const sqz_tokenizer *t) { return t->n_vocab; }

const char *sqz_tokenizer_piece(const sqz_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab)
        return NULL;
    if (len)
        *len = t->len[id];
    return t->blob + t->off[id];
}

int32_t sqz_tokenizer_token_to_id(const sqz_tokenizer *t, const char *piece, size_t len) {
    return tok_lookup(t, piece, len);
}

int32_t sqz_tokenizer_bos(const sqz_tokenizer *t) { return t->bos_id; }
int32_t sqz_tokenizer_eos(const sqz_tokenizer *t) { return t->eos_id; }

bool sqz_tokenizer_is_special(const sqz_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && (t->attr[id] & (TA_SPECIAL | TA_UNKNOWN));
}

bool sqz_tokenizer_is_eog(const sqz_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && (id == t->eos_id || (t->attr[id] & TA_EOG));
}

bool sqz_tokenizer_adds_bos(const sqz_tokenizer *t) { return t->n_prefix > 0; }
const char *sqz_tokenizer_kind(const sqz_tokenizer *t) { return t->kind; }
const char *sqz_tokenizer_pre(const sqz_tokenizer *t) { return t->pre_name; }

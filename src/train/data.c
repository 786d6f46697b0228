// Training data: a corpus (a ustar/GNU tar of text files, or one text file) tokenized into two
// token streams, train and held-out. The held-out split is by FILE and is the project-wide rule of
// sqz_corpus_is_heldout (include/sqz/compress.h): a member is held out when the first 4 bytes of
// sha256(member name), read big-endian, are ≡ 0 mod 10 — so text that perplexity evaluation and
// calibration keep apart is never trained on either.
// Documents are joined with the tokenizer's EOS (or nothing when it has none).
// Tokenizers: an sqz tokenizer (tokenizer.json / HF dir / GGUF), or "bytes" (id = byte value).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/train_internal.h"

static sqz_status push(tr_stream *s, const int32_t *ids, size_t n) {
    if (s->n + n > s->cap) {
        size_t cap = s->cap ? s->cap : 1 << 16;
        while (cap < s->n + n)
            cap *= 2;
        int32_t *p = realloc(s->ids, cap * sizeof *p);
        SQZ_FAIL_IF(!p, SQZ_ERR_NOMEM, "corpus: out of memory for %zu tokens", cap);
        s->ids = p, s->cap = cap;
    }
    memcpy(s->ids + s->n, ids, n * sizeof *ids);
    s->n += n;
    return SQZ_OK;
}

static sqz_status add_doc(tr_data *d, tr_stream *s, const char *text, size_t len) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (d->tok) {
        SQZ_TRY(sqz_tokenizer_encode_ex(d->tok, text, len, SQZ_TOK_NO_PARSE_SPECIAL, &ids, &n));
    } else {
        ids = malloc((len ? len : 1) * sizeof *ids);
        SQZ_FAIL_IF(!ids, SQZ_ERR_NOMEM, "corpus: out of memory");
        for (size_t i = 0; i < len; i++)
            ids[i] = (uint8_t)text[i];
        n = len;
    }
    sqz_status st = push(s, ids, n);
    free(ids);
    if (st == SQZ_OK && d->eos >= 0)
        st = push(s, &d->eos, 1);
    return st;
}

static uint64_t octal(const char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n && p[i]; i++)
        if (p[i] >= '0' && p[i] <= '7')
            v = v * 8 + (uint64_t)(p[i] - '0');
    return v;
}

static bool is_heldout(const char *name) {
    char hex[65];
    sqz_sha256_hex(name, strlen(name), hex);
    hex[8] = 0;
    return strtoul(hex, NULL, 16) % 10 == 0;
}

// Walk a tar archive: regular files only ('0' or NUL typeflag; names with the ustar prefix or a
// preceding GNU 'L' long-name entry), sizes bounds-checked.
static sqz_status load_tar(tr_data *d, const char *path, const char *buf, size_t len, size_t max_bytes) {
    size_t off = 0, used = 0;
    char longname[4096] = "", name[4096];
    while (off + 512 <= len) {
        const char *h = buf + off;
        if (!h[0])
            break; // end-of-archive block
        SQZ_FAIL_IF(memcmp(h + 257, "ustar", 5) != 0, SQZ_ERR_FORMAT, "%s: not a ustar archive at offset %zu",
                    path, off);
        uint64_t size = octal(h + 124, 12);
        SQZ_FAIL_IF(size > len - off - 512, SQZ_ERR_FORMAT,
                    "%s: entry at offset %zu (size %llu) extends past the end", path, off,
                    (unsigned long long)size);
        if (h[156] == 'L') {
            size_t n = size < sizeof longname - 1 ? (size_t)size : sizeof longname - 1;
            memcpy(longname, h + 512, n);
            longname[n] = 0;
        } else {
            if (longname[0])
                snprintf(name, sizeof name, "%s", longname);
            else if (h[345])
                snprintf(name, sizeof name, "%.155s/%.100s", h + 345, h);
            else
                snprintf(name, sizeof name, "%.100s", h);
            longname[0] = 0;
            if ((h[156] == '0' || h[156] == 0) && (!max_bytes || used < max_bytes)) {
                tr_stream *s = is_heldout(name) ? &d->eval : &d->train;
                SQZ_TRY_CTX(add_doc(d, s, buf + off + 512, (size_t)size), "%s: %s: ", path, name);
                used += size;
                d->n_files++;
            }
        }
        off += 512 + ((size_t)size + 511) / 512 * 512;
    }
    return SQZ_OK;
}

sqz_status tr_data_load(tr_data *d, const char *corpus, const char *tokenizer, size_t max_bytes) {
    memset(d, 0, sizeof *d);
    d->eos = -1;
    if (tokenizer && strcmp(tokenizer, "bytes") != 0) {
        SQZ_TRY(sqz_tokenizer_load(&d->tok, tokenizer));
        d->eos = sqz_tokenizer_eos(d->tok);
        d->n_vocab = sqz_tokenizer_n_vocab(d->tok);
    } else {
        d->n_vocab = 256;
    }
    char *buf = NULL;
    size_t len = 0;
    SQZ_TRY(sqz_read_file(corpus, &buf, &len));
    sqz_status st;
    if (len >= 512 && memcmp(buf + 257, "ustar", 5) == 0) {
        st = load_tar(d, corpus, buf, len, max_bytes);
    } else { // one text file: the last 10 % of it is held out
        size_t n = max_bytes && len > max_bytes ? max_bytes : len, cut = n - n / 10;
        st = add_doc(d, &d->train, buf, cut);
        if (st == SQZ_OK)
            st = add_doc(d, &d->eval, buf + cut, n - cut);
        d->n_files = 1;
    }
    free(buf);
    SQZ_TRY(st);
    SQZ_FAIL_IF(d->train.n < 2 || d->eval.n < 2, SQZ_ERR_ARG,
                "%s: corpus too small (%zu train, %zu held-out tokens)", corpus, d->train.n, d->eval.n);
    return SQZ_OK;
}

void tr_data_free(tr_data *d) {
    if (!d)
        return;
    free(d->train.ids);
    free(d->eval.ids);
    sqz_tokenizer_free(d->tok);
    memset(d, 0, sizeof *d);
}

static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Fill tokens/targets[B][Tn] for (seed, step, micro): a pure function of its arguments, so a resumed
// run sees exactly the batches of an uninterrupted one. Windows shorter than the stream wrap around.
void tr_data_batch(const tr_stream *s, uint64_t seed, int64_t step, int micro, int B, int Tn, int32_t *tok,
                   int32_t *tgt) {
    for (int b = 0; b < B; b++) {
        uint64_t r = mix(seed * 0x9e3779b97f4a7c15ull ^
                         mix((uint64_t)step * 1315423911u + (uint64_t)micro * 7919u + (uint64_t)b));
        size_t start = s->n > (size_t)Tn + 1 ? r % (s->n - (size_t)Tn - 1) : 0;
        for (int t = 0; t < Tn; t++) {
            tok[b * Tn + t] = s->ids[(start + (size_t)t) % s->n];
            tgt[b * Tn + t] = s->ids[(start + (size_t)t + 1) % s->n];
        }
    }
}

// Held-out batch i of a fixed evaluation set: windows spaced evenly through the stream.
void tr_data_eval_batch(const tr_stream *s, int i, int n_batches, int B, int Tn, int32_t *tok, int32_t *tgt) {
    size_t span = s->n > (size_t)Tn + 1 ? s->n - (size_t)Tn - 1 : 1, nw = (size_t)n_batches * (size_t)B;
    for (int b = 0; b < B; b++) {
        size_t start = span * ((size_t)i * B + (size_t)b) / nw;
        for (int t = 0; t < Tn; t++) {
            tok[b * Tn + t] = s->ids[(start + (size_t)t) % s->n];
            tgt[b * Tn + t] = s->ids[(start + (size_t)t + 1) % s->n];
        }
    }
}

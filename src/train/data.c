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

// One member of a tar corpus: held-out files (sqz_corpus_is_heldout, the split compress and eval
// use too) go to the evaluation stream, the rest to training, until max_bytes have been read.
typedef struct {
    tr_data *d;
    size_t used, max_bytes;
    sqz_status st;
} tar_load;

static int tar_member(void *user, const char *name, const uint8_t *data, size_t size) {
    tar_load *t = user;
    if (t->max_bytes && t->used >= t->max_bytes)
        return 1;
    tr_stream *s = sqz_corpus_is_heldout(name) ? &t->d->eval : &t->d->train;
    t->st = add_doc(t->d, s, (const char *)data, size);
    if (t->st != SQZ_OK) {
        sqz_error_prefix(t->st, "%s: ", name);
        return 1;
    }
    t->used += size;
    t->d->n_files++;
    return 0;
}

static sqz_status load_tar(tr_data *d, const char *path, const char *buf, size_t len, size_t max_bytes) {
    sqz_mmap mm = {.data = (const uint8_t *)buf, .size = len, .path = (char *)(uintptr_t)path};
    tar_load t = {d, 0, max_bytes, SQZ_OK};
    SQZ_TRY(sqz_tar_foreach_mapped(&mm, tar_member, &t));
    return t.st != SQZ_OK ? sqz_error_prefix(t.st, "%s: ", path) : SQZ_OK;
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

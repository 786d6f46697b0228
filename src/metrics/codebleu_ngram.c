// CodeBLEU's two n-gram components, as both references compute them (NLTK-derived bleu.py and
// weighted_ngram_match.py; tokens = str.split()):
//   BLEU:     corpus modified precision for n = 1..4, numerators/denominators summed over segments,
//             denominators max(1, hyp n-grams); brevity penalty from the closest reference lengths
//             (ties → shorter); 0 if no unigram matches; SmoothingFunction().method1 (0 → 0.1);
//             bp · exp(fsum(0.25 · log p_n)).
//   weighted: the same but with `modified_recall`: clipped counts over each *reference's* n-grams,
//             summed over references, denominators max(1, ref n-grams); for n = 1 each reference
//             token counts with weight 1 if it is a keyword of the language, else 0.2. Its brevity
//             penalty takes len() of each [tokens, weights] reference pair, i.e. 2 per segment.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "metrics/codebleu_internal.h"

// ---- token interning: every distinct token string gets a small integer id ------------------------
typedef struct interner {
    cb_span *keys;
    uint32_t *ids;
    size_t cap, n;
} interner;

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

static sqz_status intern(interner *in, cb_span s, uint32_t *id) {
    if (2 * (in->n + 1) > in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 1024;
        cb_span *k = calloc(cap, sizeof *k);
        uint32_t *v = calloc(cap, sizeof *v);
        if (!k || !v) {
            free(k);
            free(v);
            return sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
        }
        for (size_t i = 0; i < in->cap; i++) {
            if (!in->keys[i].p)
                continue;
            size_t j = hash_bytes(in->keys[i].p, in->keys[i].n) & (cap - 1);
            while (k[j].p)
                j = (j + 1) & (cap - 1);
            k[j] = in->keys[i];
            v[j] = in->ids[i];
        }
        free(in->keys);
        free(in->ids);
        in->keys = k;
        in->ids = v;
        in->cap = cap;
    }
    size_t j = hash_bytes(s.p, s.n) & (in->cap - 1);
    while (in->keys[j].p) {
        if (in->keys[j].n == s.n && !memcmp(in->keys[j].p, s.p, s.n)) {
            *id = in->ids[j];
            return SQZ_OK;
        }
        j = (j + 1) & (in->cap - 1);
    }
    in->keys[j] = s;
    in->ids[j] = *id = (uint32_t)in->n++;
    return SQZ_OK;
}

// ---- n-gram counting over id sequences -------------------------------------------------------------
// A tiny open-addressing multiset of n-grams (n <= 4), reset per use.
typedef struct ngram_tab {
    uint32_t (*key)[4];
    int32_t *cnt;
    int32_t *order; // slot of the i-th distinct n-gram, in first-occurrence order
    size_t cap, n;
} ngram_tab;

static uint64_t ngram_hash(const uint32_t *g, int n) {
    uint64_t h = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < n; i++)
        h = (h ^ g[i]) * 0xBF58476D1CE4E5B9ULL;
    return h ^ (h >> 31);
}

static sqz_status tab_reset(ngram_tab *t, size_t need) {
    size_t cap = 64;
    while (cap < 2 * need + 2)
        cap *= 2;
    if (cap > t->cap) {
        free(t->key);
        free(t->cnt);
        free(t->order);
        t->key = malloc(cap * sizeof *t->key);
        t->cnt = malloc(cap * sizeof *t->cnt);
        t->order = malloc(cap * sizeof *t->order);
        SQZ_FAIL_IF(!t->key || !t->cnt || !t->order, SQZ_ERR_NOMEM, "codebleu: out of memory");
        t->cap = cap;
    }
    for (size_t i = 0; i < t->cap; i++)
        t->cnt[i] = -1;
    t->n = 0;
    return SQZ_OK;
}

// Slot of n-gram g (inserted with count 0 if absent and `insert`), or -1.
static int64_t tab_slot(ngram_tab *t, const uint32_t *g, int n, bool insert) {
    size_t j = ngram_hash(g, n) & (t->cap - 1);
    while (t->cnt[j] >= 0) {
        if (!memcmp(t->key[j], g, (size_t)n * sizeof *g))
            return (int64_t)j;
        j = (j + 1) & (t->cap - 1);
    }
    if (!insert)
        return -1;
    memcpy(t->key[j], g, (size_t)n * sizeof *g);
    t->cnt[j] = 0;
    t->order[t->n++] = (int32_t)j;
    return (int64_t)j;
}

static sqz_status tab_count(ngram_tab *t, const uint32_t *ids, size_t len, int n) {
    SQZ_TRY(tab_reset(t, len));
    for (size_t i = 0; i + (size_t)n <= len; i++)
        t->cnt[tab_slot(t, ids + i, n, true)]++;
    return SQZ_OK;
}

static void tab_free(ngram_tab *t) {
    free(t->key);
    free(t->cnt);
    free(t->order);
}

// Shewchuk's exact summation, as math.fsum (few terms).
static double fsum(const double *x, int n) {
    double p[8];
    int np = 0;
    for (int i = 0; i < n; i++) {
        double v = x[i];
        int k = 0;
        for (int j = 0; j < np; j++) {
            double y = p[j];
            if (fabs(v) < fabs(y)) {
                double t = v;
                v = y;
                y = t;
            }
            double hi = v + y, lo = y - (hi - v);
            if (lo != 0.0)
                p[k++] = lo;
            v = hi;
        }
        p[k++] = v;
        np = k;
    }
    double s = 0;
    for (int j = np - 1; j >= 0; j--)
        s += p[j];
    return s;
}

typedef struct seg_ids {
    uint32_t *ids;
    size_t len;
} seg_ids;

typedef struct bleu_acc {
    double num[4], den[4];
    int64_t hyp_len, ref_len;
} bleu_acc;

static double bleu_finish(const bleu_acc *a) {
    if (a->num[0] == 0)
        return 0.0;
    double bp;
    if (a->hyp_len > a->ref_len)
        bp = 1.0;
    else if (a->hyp_len == 0)
        bp = 0.0;
    else
        bp = exp(1.0 - (double)a->ref_len / (double)a->hyp_len);
    double terms[4];
    for (int i = 0; i < 4; i++) {
        double num = a->num[i] == 0 ? 0.1 : a->num[i]; // method1, epsilon 0.1
        terms[i] = 0.25 * log(num / a->den[i]);
    }
    return bp * exp(fsum(terms, 4));
}

static int64_t closest_ref_len(const seg_ids *refs, int n_refs, size_t hyp_len) {
    int64_t best = -1, best_d = 0;
    for (int r = 0; r < n_refs; r++) {
        int64_t l = (int64_t)refs[r].len, d = llabs(l - (int64_t)hyp_len);
        if (best < 0 || d < best_d || (d == best_d && l < best)) {
            best = l;
            best_d = d;
        }
    }
    return best;
}

// modified_precision summed into a->num/den for one segment.
static sqz_status seg_precision(const seg_ids *hyp, const seg_ids *refs, int n_refs, ngram_tab *th,
                                ngram_tab *tr, int32_t *maxc, bleu_acc *a) {
    for (int n = 1; n <= 4; n++) {
        SQZ_TRY(tab_count(th, hyp->ids, hyp->len, n));
        for (size_t k = 0; k < th->n; k++)
            maxc[k] = 0;
        for (int r = 0; r < n_refs; r++) {
            SQZ_TRY(tab_count(tr, refs[r].ids, refs[r].len, n));
            for (size_t k = 0; k < th->n; k++) {
                int64_t s = tab_slot(tr, th->key[th->order[k]], n, false);
                int32_t c = s >= 0 ? tr->cnt[s] : 0;
                if (c > maxc[k])
                    maxc[k] = c;
            }
        }
        int64_t num = 0, den = 0;
        for (size_t k = 0; k < th->n; k++) {
            int32_t c = th->cnt[th->order[k]];
            num += c < maxc[k] ? c : maxc[k];
            den += c;
        }
        a->num[n - 1] += (double)num;
        a->den[n - 1] += (double)(den > 1 ? den : 1);
    }
    return SQZ_OK;
}

// modified_recall summed into a->num/den for one segment; kw[id] = token is a keyword.
static sqz_status seg_recall(const seg_ids *hyp, const seg_ids *refs, int n_refs, ngram_tab *th,
                             ngram_tab *tr, const uint8_t *kw, bleu_acc *a) {
    for (int n = 1; n <= 4; n++) {
        SQZ_TRY(tab_count(th, hyp->ids, hyp->len, n));
        double seg_num = 0, seg_den = 0; // summed per segment first, as the reference does
        for (int r = 0; r < n_refs; r++) {
            SQZ_TRY(tab_count(tr, refs[r].ids, refs[r].len, n));
            double num = 0, den = 0;
            for (size_t k = 0; k < tr->n; k++) { // reference n-grams in first-occurrence order
                int32_t rc = tr->cnt[tr->order[k]];
                int64_t s = tab_slot(th, tr->key[tr->order[k]], n, false);
                int32_t hc = s >= 0 ? th->cnt[s] : 0;
                int32_t clip = rc < hc ? rc : hc;
                double w = n == 1 ? (kw[tr->key[tr->order[k]][0]] ? 1.0 : 0.2) : 1.0;
                num += n == 1 ? clip * w : clip;
                den += n == 1 ? rc * w : rc;
            }
            seg_num += num;
            seg_den += den > 1 ? den : 1;
        }
        a->num[n - 1] += seg_num;
        a->den[n - 1] += seg_den;
    }
    return SQZ_OK;
}

static sqz_status tokenize_all(const cb_span *texts, size_t count, interner *in, seg_ids *out) {
    for (size_t i = 0; i < count; i++) {
        cb_span *toks;
        size_t nt;
        SQZ_TRY(cb_py_split(texts[i].p, texts[i].n, &toks, &nt));
        out[i].ids = malloc((nt ? nt : 1) * sizeof(uint32_t));
        if (!out[i].ids) {
            free(toks);
            return sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
        }
        out[i].len = nt;
        sqz_status st = SQZ_OK;
        for (size_t k = 0; k < nt && st == SQZ_OK; k++)
            st = intern(in, toks[k], &out[i].ids[k]);
        free(toks);
        SQZ_TRY(st);
    }
    return SQZ_OK;
}

static sqz_status bleu_run(const seg_ids *h, const seg_ids *r, int64_t n, int n_refs, const uint8_t *kw,
                           size_t max_len, double *bleu, double *weighted) {
    ngram_tab th = {0}, tr = {0};
    bleu_acc a = {0}, b = {0};
    int32_t *maxc = malloc((max_len + 1) * sizeof *maxc);
    sqz_status st = maxc ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
    for (int64_t i = 0; i < n && st == SQZ_OK; i++) {
        const seg_ids *refs = r + i * n_refs;
        st = seg_precision(&h[i], refs, n_refs, &th, &tr, maxc, &a);
        if (st == SQZ_OK)
            st = seg_recall(&h[i], refs, n_refs, &th, &tr, kw, &b);
        int64_t cl = closest_ref_len(refs, n_refs, h[i].len);
        a.hyp_len += (int64_t)h[i].len;
        a.ref_len += cl;
        b.hyp_len += (int64_t)h[i].len;
        b.ref_len += 2; // the weighted variant's references are [tokens, weights] pairs: len() == 2
    }
    if (st == SQZ_OK) {
        *bleu = bleu_finish(&a);
        *weighted = bleu_finish(&b);
    }
    free(maxc);
    tab_free(&th);
    tab_free(&tr);
    return st;
}

sqz_status cb_bleu_corpus(const cb_span *hyps, const cb_span *refs, int64_t n, int n_refs,
                          const char *const *keywords, double *bleu, double *weighted) {
    size_t n_all = (size_t)n * (size_t)(n_refs + 1);
    seg_ids *seg = calloc(n_all, sizeof *seg);
    interner in = {0};
    uint8_t *kw = NULL;
    sqz_status st = seg ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
    if (st == SQZ_OK)
        st = tokenize_all(hyps, (size_t)n, &in, seg);
    if (st == SQZ_OK)
        st = tokenize_all(refs, (size_t)n * (size_t)n_refs, &in, seg + n);
    size_t n_tok_types = in.n;
    if (st == SQZ_OK && !(kw = calloc(n_tok_types + 1, 1)))
        st = sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
    for (size_t k = 0; st == SQZ_OK && keywords && keywords[k]; k++) {
        uint32_t id;
        size_t before = in.n;
        st = intern(&in, (cb_span){keywords[k], strlen(keywords[k])}, &id);
        if (st == SQZ_OK && in.n == before && id < n_tok_types)
            kw[id] = 1;
    }
    size_t max_len = 0;
    for (size_t i = 0; st == SQZ_OK && i < n_all; i++)
        max_len = seg[i].len > max_len ? seg[i].len : max_len;
    if (st == SQZ_OK)
        st = bleu_run(seg, seg + n, n, n_refs, kw, max_len, bleu, weighted);
    for (size_t i = 0; seg && i < n_all; i++)
        free(seg[i].ids);
    free(seg);
    free(kw);
    free(in.keys);
    free(in.ids);
    return st;
}

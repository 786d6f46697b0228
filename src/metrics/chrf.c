// chrF / chrF++ as sacrebleu 2.6.0 (metrics/chrf.py). Character n-grams (1..char_order) of the
// segment with whitespace removed, plus word n-grams (1..word_order) of the whitespace tokens
// with one leading or trailing ASCII punctuation mark split off. Per segment the reference with
// the best sentence F is kept; corpus statistics are sums of [hyp, ref, match] per order.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "metrics/text.h"

#define CHRF_MAX_CHAR 32
#define CHRF_MAX_WORD 8
#define CHRF_MAX (CHRF_MAX_CHAR + CHRF_MAX_WORD)

void sqz_chrf_opts_default(sqz_chrf_opts *o) { *o = (sqz_chrf_opts){6, 0, 2, false, false, false}; }

// The n-gram tables of one side (hypothesis or one reference). Keys point into text/words.
typedef struct side {
    mt_buf text, words;
    mt_table t[CHRF_MAX];
} side;

static void side_free(side *s) {
    mt_buf_free(&s->text);
    mt_buf_free(&s->words);
    for (int i = 0; i < CHRF_MAX; i++)
        mt_table_free(&s->t[i]);
}

static bool is_punct(char c) { return c >= 0 && c < 0x7F && c > ' ' && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", c); }

// CHRF._remove_punctuation, then the words joined by single spaces into s->words.
static void split_words(const char *line, size_t len, mt_buf *out, mt_spans *w) {
    mt_spans raw = {0};
    mt_split_ws(line, len, &raw);
    for (size_t i = 0; i < raw.n; i++) {
        const char *p = line + raw.p[i].off;
        size_t n = raw.p[i].len;
        size_t first = 1; // bytes of the first code point
        while (first < n && ((unsigned char)p[first] & 0xC0) == 0x80)
            first++;
        const char *parts[2] = {p, NULL};
        size_t lens[2] = {n, 0};
        if (first < n) { // more than one code point
            if (is_punct(p[n - 1]))
                lens[0] = n - 1, parts[1] = p + n - 1, lens[1] = 1;
            else if (is_punct(p[0]))
                lens[0] = 1, parts[1] = p + 1, lens[1] = n - 1;
        }
        for (int k = 0; k < 2 && parts[k]; k++) {
            if (out->n)
                mt_buf_putc(out, ' ');
            mt_spans_push(w, out->n, lens[k]);
            mt_buf_push(out, parts[k], lens[k]);
        }
    }
    w->oom |= raw.oom;
    mt_spans_free(&raw);
}

static sqz_status side_build(side *s, const char *line, const sqz_chrf_opts *o) {
    char *low = NULL;
    size_t len = strlen(line);
    SQZ_TRY(mt_validate(line, len));
    if (o->lowercase) {
        SQZ_TRY(mt_lower_utf8(line, len, &low, &len));
        line = low;
    }
    // Character n-grams over code points of the (whitespace-stripped) line.
    mt_spans cp = {0};
    for (size_t i = 0; i < len;) {
        size_t k = 1;
        while (i + k < len && ((unsigned char)line[i + k] & 0xC0) == 0x80)
            k++;
        mt_spans tmp = {0};
        mt_split_ws(line + i, k, &tmp); // one code point: a token iff not whitespace
        if (o->whitespace || tmp.n) {
            mt_spans_push(&cp, s->text.n, k);
            mt_buf_push(&s->text, line + i, k);
        }
        mt_spans_free(&tmp);
        i += k;
    }
    mt_buf_push(&s->text, "", 0);
    for (int n = 1; n <= o->char_order; n++)
        for (size_t i = 0; i + (size_t)n <= cp.n; i++) {
            size_t off = cp.p[i].off, end = cp.p[i + n - 1].off + cp.p[i + n - 1].len;
            mt_table_add(&s->t[n - 1], s->text.p + off, end - off, 1);
        }
    mt_spans w = {0};
    if (o->word_order > 0) {
        split_words(line, len, &s->words, &w);
        mt_buf_push(&s->words, "", 0);
    }
    for (int n = 1; n <= o->word_order; n++)
        for (size_t i = 0; i + (size_t)n <= w.n; i++) {
            size_t off = w.p[i].off, end = w.p[i + n - 1].off + w.p[i + n - 1].len;
            mt_table_add(&s->t[o->char_order + n - 1], s->words.p + off, end - off, 1);
        }
    bool oom = cp.oom || w.oom || s->text.oom || s->words.oom;
    for (int i = 0; i < CHRF_MAX; i++)
        oom |= s->t[i].oom;
    mt_spans_free(&cp);
    mt_spans_free(&w);
    free(low);
    return oom ? sqz_error(SQZ_ERR_NOMEM, "chrF: out of memory") : SQZ_OK;
}

// CHRF._compute_f_score over stats[3 * order] = [hyp, ref, match] per order.
static double f_score(const int64_t *stats, const sqz_chrf_opts *o) {
    const double eps = 1e-16;
    int order = o->char_order + o->word_order, eff = 0;
    double factor = (double)o->beta * o->beta, score = 0.0, avg_prec = 0.0, avg_rec = 0.0;
    for (int i = 0; i < order; i++) {
        int64_t h = stats[3 * i], r = stats[3 * i + 1], m = stats[3 * i + 2];
        double prec = h > 0 ? (double)m / (double)h : eps;
        double rec = r > 0 ? (double)m / (double)r : eps;
        double denom = factor * prec + rec;
        score += denom > 0 ? (1 + factor) * prec * rec / denom : eps;
        if (h > 0 && r > 0) {
            avg_prec += prec;
            avg_rec += rec;
            eff++;
        }
    }
    if (o->eps_smoothing)
        return 100 * score / order;
    if (eff == 0) {
        avg_prec = avg_rec = 0.0;
    } else {
        avg_prec /= eff;
        avg_rec /= eff;
    }
    if (avg_prec + avg_rec == 0.0)
        return 0.0;
    double s = (1 + factor) * avg_prec * avg_rec; // the reference's operation order, for exactness
    s /= (factor * avg_prec) + avg_rec;
    return 100 * s;
}

static void match_stats(const side *h, const side *r, int order, int64_t *stats) {
    for (int i = 0; i < order; i++) {
        const mt_table *ht = &h->t[i], *rt = &r->t[i];
        int64_t match = 0;
        for (size_t k = 0; k < ht->cap && rt->n; k++) {
            const mt_ngram *e = &ht->slots[k];
            if (e->key) {
                int64_t c = mt_table_get(rt, e->key, e->len);
                match += e->count < c ? e->count : c;
            }
        }
        stats[3 * i] = rt->n ? ht->total : 0; // no hits counted without reference n-grams
        stats[3 * i + 1] = rt->total;
        stats[3 * i + 2] = match;
    }
}

// Best-reference statistics of one segment, added into sum.
static sqz_status segment(const sqz_text_pair *p, const sqz_chrf_opts *o, int64_t *sum) {
    int order = o->char_order + o->word_order;
    side h = {0}, r = {0};
    int64_t best[3 * CHRF_MAX] = {0}, cur[3 * CHRF_MAX];
    double best_f = -1.0;
    sqz_status st = side_build(&h, p->hyp, o);
    for (size_t k = 0; st == SQZ_OK && k < p->n_refs; k++) {
        side_free(&r);
        memset(&r, 0, sizeof r);
        st = side_build(&r, p->refs[k], o);
        if (st != SQZ_OK)
            break;
        match_stats(&h, &r, order, cur);
        double f = f_score(cur, o);
        if (f > best_f) {
            best_f = f;
            memcpy(best, cur, sizeof(int64_t) * 3 * (size_t)order);
        }
    }
    side_free(&h);
    side_free(&r);
    for (int i = 0; st == SQZ_OK && i < 3 * order; i++)
        sum[i] += best[i];
    return st;
}

sqz_status sqz_chrf_corpus(const sqz_text_pair *pairs, size_t n, const sqz_chrf_opts *o,
                           sqz_chrf_result *out) {
    SQZ_TRY(mt_check_pairs("chrF", pairs, n));
    SQZ_FAIL_IF(o->char_order < 0 || o->char_order > CHRF_MAX_CHAR || o->word_order < 0 ||
                    o->word_order > CHRF_MAX_WORD || o->char_order + o->word_order == 0,
                SQZ_ERR_ARG, "chrF: char_order must be 0..%d and word_order 0..%d (got %d, %d)",
                CHRF_MAX_CHAR, CHRF_MAX_WORD, o->char_order, o->word_order);
    SQZ_FAIL_IF(o->beta < 0 || o->beta > 1000, SQZ_ERR_ARG, "chrF: beta %d out of range", o->beta);
    int64_t sum[3 * CHRF_MAX] = {0};
    for (size_t i = 0; i < n; i++)
        SQZ_TRY_CTX(segment(&pairs[i], o, sum), "chrF: segment %zu: ", i + 1);
    memset(out, 0, sizeof *out);
    out->score = f_score(sum, o);
    snprintf(out->name, sizeof out->name, "chrF%d%.*s", o->beta, o->word_order, "++++++++");
    char nrefs[32];
    snprintf(nrefs, sizeof nrefs, "%zu", pairs[0].n_refs);
    for (size_t i = 1; i < n; i++)
        if (pairs[i].n_refs != pairs[0].n_refs)
            snprintf(nrefs, sizeof nrefs, "var");
    snprintf(out->signature, sizeof out->signature,
             "nrefs:%s|case:%s|eff:%s|nc:%d|nw:%d|space:%s|version:2.6.0", nrefs,
             o->lowercase ? "lc" : "mixed", o->eps_smoothing ? "no" : "yes", o->char_order,
             o->word_order, o->whitespace ? "yes" : "no");
    return SQZ_OK;
}

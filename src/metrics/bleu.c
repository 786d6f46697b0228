// BLEU as sacrebleu 2.6.0 (metrics/bleu.py): per segment, hypothesis n-gram counts are clipped by
// the maximum count of that n-gram over the references, the reference length is the one closest
// to the hypothesis length (ties → shorter); statistics are summed over the corpus and turned
// into a score with the chosen smoothing.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "metrics/bleu_tok.h"
#include "sqz/metrics.h"

void sqz_bleu_opts_default(sqz_bleu_opts *o) {
    *o = (sqz_bleu_opts){SQZ_BLEU_TOK_13A, SQZ_BLEU_SMOOTH_EXP, NAN, false, false};
}

static const char *tok_name(sqz_bleu_tokenizer t) {
    switch (t) {
    case SQZ_BLEU_TOK_13A: return "13a";
    case SQZ_BLEU_TOK_INTL: return "intl";
    case SQZ_BLEU_TOK_CHAR: return "char";
    case SQZ_BLEU_TOK_NONE: return "none";
    }
    return "?";
}

// Segment statistics: [hyp_len, ref_len, correct[4], total[4]].
typedef struct seg_stats {
    int64_t hyp_len, ref_len, correct[SQZ_BLEU_MAX_ORDER], total[SQZ_BLEU_MAX_ORDER];
} seg_stats;

// Add every n-gram (1..4) of the space-joined token string s to t with `add` (count) or `max`.
static void count_ngrams(const char *s, size_t len, mt_table *t, mt_table *merge, int64_t *ntok) {
    mt_spans tk = {0};
    mt_split_ws(s, len, &tk);
    mt_table local = {0};
    mt_table *dst = merge ? &local : t;
    for (size_t n = 1; n <= SQZ_BLEU_MAX_ORDER; n++)
        for (size_t i = 0; i + n <= tk.n; i++) {
            size_t off = tk.p[i].off, end = tk.p[i + n - 1].off + tk.p[i + n - 1].len;
            mt_table_add(dst, s + off, end - off, 1);
        }
    if (merge) {
        for (size_t i = 0; i < local.cap; i++)
            if (local.slots[i].key)
                mt_table_max(merge, local.slots[i].key, local.slots[i].len, local.slots[i].count);
        merge->oom |= local.oom;
        mt_table_free(&local);
    }
    t->oom |= tk.oom;
    *ntok = (int64_t)tk.n;
    mt_spans_free(&tk);
}

static int64_t closest_ref_len(int64_t hyp_len, const int64_t *lens, size_t n) {
    int64_t best_diff = -1, best = -1;
    for (size_t i = 0; i < n; i++) {
        int64_t d = llabs(hyp_len - lens[i]);
        if (best_diff == -1 || d < best_diff)
            best_diff = d, best = lens[i];
        else if (d == best_diff && lens[i] < best)
            best = lens[i];
    }
    return best;
}

static sqz_status segment_stats(const sqz_text_pair *p, const sqz_bleu_opts *o, seg_stats *st) {
    sqz_status rc = SQZ_OK;
    size_t nr = p->n_refs;
    mt_buf *rtok = calloc(nr, sizeof *rtok);
    int64_t *rlen = calloc(nr, sizeof *rlen);
    mt_buf htok = {0};
    mt_table refs = {0}, hyp = {0};
    if (!rtok || !rlen) {
        rc = sqz_error(SQZ_ERR_NOMEM, "BLEU: out of memory");
        goto done;
    }
    for (size_t r = 0; r < nr && rc == SQZ_OK; r++) {
        rc = mt_bleu_tokenize(p->refs[r], strlen(p->refs[r]), o->tokenize, o->lowercase, &rtok[r]);
        if (rc == SQZ_OK)
            count_ngrams(rtok[r].p, rtok[r].n, &refs, r ? &refs : NULL, &rlen[r]);
    }
    if (rc == SQZ_OK)
        rc = mt_bleu_tokenize(p->hyp, strlen(p->hyp), o->tokenize, o->lowercase, &htok);
    if (rc != SQZ_OK)
        goto done;
    count_ngrams(htok.p, htok.n, &hyp, NULL, &st->hyp_len);
    st->ref_len = closest_ref_len(st->hyp_len, rlen, nr);
    for (size_t i = 0; i < hyp.cap; i++) {
        const mt_ngram *e = &hyp.slots[i];
        if (!e->key)
            continue;
        size_t order = 1; // tokens hold no spaces, so spaces count the order
        for (uint32_t k = 0; k < e->len; k++)
            order += e->key[k] == ' ';
        st->total[order - 1] += e->count;
        int64_t rc_ = mt_table_get(&refs, e->key, e->len);
        st->correct[order - 1] += e->count < rc_ ? e->count : rc_;
    }
    if (refs.oom || hyp.oom)
        rc = sqz_error(SQZ_ERR_NOMEM, "BLEU: out of memory counting n-grams");
done:
    for (size_t r = 0; rtok && r < nr; r++)
        mt_buf_free(&rtok[r]);
    free(rtok);
    free(rlen);
    mt_buf_free(&htok);
    mt_table_free(&refs);
    mt_table_free(&hyp);
    return rc;
}

static double my_log(double x) { return x == 0.0 ? -9999999999.0 : log(x); }

// BLEU.compute_bleu on summed statistics.
static void compute_bleu(const seg_stats *s, const sqz_bleu_opts *o, sqz_bleu_result *r) {
    double sv = o->smooth_value;
    if (isnan(sv))
        sv = o->smooth == SQZ_BLEU_SMOOTH_FLOOR ? 0.1 : 1.0;
    r->sys_len = s->hyp_len;
    r->ref_len = s->ref_len;
    bool any = false;
    for (int n = 0; n < SQZ_BLEU_MAX_ORDER; n++) {
        r->counts[n] = (double)s->correct[n];
        r->totals[n] = (double)s->total[n];
        r->precisions[n] = 0.0;
        any |= s->correct[n] != 0;
    }
    r->bp = 1.0;
    if (s->hyp_len < s->ref_len)
        r->bp = s->hyp_len > 0 ? exp(1.0 - (double)s->ref_len / (double)s->hyp_len) : 0.0;
    r->score = 0.0;
    if (!any) // early stop when nothing matches (sacrebleu #141)
        return;
    double smooth_mteval = 1.0;
    int eff_order = SQZ_BLEU_MAX_ORDER;
    for (int n = 1; n <= SQZ_BLEU_MAX_ORDER; n++) {
        if (o->smooth == SQZ_BLEU_SMOOTH_ADD_K && n > 1) {
            r->counts[n - 1] += sv;
            r->totals[n - 1] += sv;
        }
        if (r->totals[n - 1] == 0)
            break;
        if (o->effective_order)
            eff_order = n;
        if (r->counts[n - 1] == 0) {
            if (o->smooth == SQZ_BLEU_SMOOTH_EXP) {
                smooth_mteval *= 2;
                r->precisions[n - 1] = 100.0 / (smooth_mteval * r->totals[n - 1]);
            } else if (o->smooth == SQZ_BLEU_SMOOTH_FLOOR) {
                r->precisions[n - 1] = 100.0 * sv / r->totals[n - 1];
            }
        } else {
            r->precisions[n - 1] = 100.0 * r->counts[n - 1] / r->totals[n - 1];
        }
    }
    double sum = 0.0;
    for (int n = 0; n < eff_order; n++)
        sum += my_log(r->precisions[n]);
    r->score = r->bp * exp(sum / eff_order);
}

static void signature(const sqz_text_pair *pairs, size_t n, const sqz_bleu_opts *o, char *out,
                      size_t size) {
    char nrefs[32];
    snprintf(nrefs, sizeof nrefs, "%zu", pairs[0].n_refs);
    for (size_t i = 1; i < n; i++)
        if (pairs[i].n_refs != pairs[0].n_refs)
            snprintf(nrefs, sizeof nrefs, "var");
    char smooth[48];
    switch (o->smooth) {
    case SQZ_BLEU_SMOOTH_EXP: snprintf(smooth, sizeof smooth, "exp"); break;
    case SQZ_BLEU_SMOOTH_NONE: snprintf(smooth, sizeof smooth, "none"); break;
    case SQZ_BLEU_SMOOTH_FLOOR:
        snprintf(smooth, sizeof smooth, "floor[%.2f]", isnan(o->smooth_value) ? 0.1 : o->smooth_value);
        break;
    case SQZ_BLEU_SMOOTH_ADD_K:
        snprintf(smooth, sizeof smooth, "add-k[%.2f]", isnan(o->smooth_value) ? 1.0 : o->smooth_value);
        break;
    }
    snprintf(out, size, "nrefs:%s|case:%s|eff:%s|tok:%s|smooth:%s|version:2.6.0", nrefs,
             o->lowercase ? "lc" : "mixed", o->effective_order ? "yes" : "no",
             tok_name(o->tokenize), smooth);
}

sqz_status sqz_bleu_corpus(const sqz_text_pair *pairs, size_t n, const sqz_bleu_opts *o,
                           sqz_bleu_result *out) {
    SQZ_TRY(mt_check_pairs("BLEU", pairs, n));
    SQZ_FAIL_IF(o->tokenize < SQZ_BLEU_TOK_13A || o->tokenize > SQZ_BLEU_TOK_NONE, SQZ_ERR_ARG,
                "BLEU: unknown tokenizer %d", (int)o->tokenize);
    SQZ_FAIL_IF(o->smooth < SQZ_BLEU_SMOOTH_EXP || o->smooth > SQZ_BLEU_SMOOTH_NONE, SQZ_ERR_ARG,
                "BLEU: unknown smoothing method %d", (int)o->smooth);
    seg_stats sum = {0};
    for (size_t i = 0; i < n; i++) {
        seg_stats s = {0};
        sqz_status st = segment_stats(&pairs[i], o, &s);
        if (st != SQZ_OK)
            return sqz_error_prefix(st, "BLEU: segment %zu: ", i + 1);
        sum.hyp_len += s.hyp_len;
        sum.ref_len += s.ref_len;
        for (int k = 0; k < SQZ_BLEU_MAX_ORDER; k++) {
            sum.correct[k] += s.correct[k];
            sum.total[k] += s.total[k];
        }
    }
    memset(out, 0, sizeof *out);
    compute_bleu(&sum, o, out);
    signature(pairs, n, o, out->signature, sizeof out->signature);
    return SQZ_OK;
}

int sqz_bleu_format(const sqz_bleu_result *r, char *buf, size_t size) {
    double ratio = r->ref_len ? (double)r->sys_len / (double)r->ref_len : 0.0;
    return snprintf(buf, size,
                    "BLEU = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %lld "
                    "ref_len = %lld)",
                    r->score, r->precisions[0], r->precisions[1], r->precisions[2],
                    r->precisions[3], r->bp, ratio, (long long)r->sys_len, (long long)r->ref_len);
}

sqz_status sqz_bleu_tokenize(const char *line, const sqz_bleu_opts *o, char **out) {
    mt_buf b = {0};
    sqz_status st = mt_bleu_tokenize(line, strlen(line), o->tokenize, o->lowercase, &b);
    if (st != SQZ_OK) {
        mt_buf_free(&b);
        return st;
    }
    return mt_buf_take(&b, out, NULL);
}

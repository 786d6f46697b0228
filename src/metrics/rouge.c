// ROUGE as rouge-score 0.1.2 (rouge_scorer.py, tokenize.py): text is lowercased (str.lower), every
// run of characters outside [a-z0-9] becomes a separator (so non-ASCII letters vanish), tokens
// longer than 3 characters are optionally Porter-stemmed. rouge1/rouge2 are clipped n-gram
// overlaps, rougeL the LCS, rougeLsum the summary-level union LCS over '\n'-separated sentences.
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "metrics/porter.h"
#include "metrics/text.h"

// Tokens of one text: their bytes back to back in `text`, spans into it, and each token's id
// (equal strings ↔ equal ids) for the LCS tables.
typedef struct toks {
    mt_buf text;
    mt_spans sp;
} toks;

static void toks_free(toks *t) {
    mt_buf_free(&t->text);
    mt_spans_free(&t->sp);
}

// tokenize.tokenize(text, stemmer) of s[0..len).
static sqz_status tokenize(const char *s, size_t len, bool stem, toks *out) {
    mt_u32 cps = {0}, low = {0}, st = {0};
    SQZ_TRY(mt_decode(s, len, &cps));
    mt_lower(cps.p, cps.n, &low);
    for (size_t i = 0; i < low.n;) {
        size_t j = i;
        while (j < low.n && ((low.p[j] >= 'a' && low.p[j] <= 'z') || (low.p[j] >= '0' && low.p[j] <= '9')))
            j++;
        if (j == i) {
            i++;
            continue;
        }
        const uint32_t *w = low.p + i;
        size_t n = j - i;
        if (stem && n > 3) {
            st.n = 0;
            mt_porter_stem(w, n, &st);
            w = st.p, n = st.n;
        }
        if (n > 0) { // the stem of an [a-z0-9] token is [a-z0-9]: VALID_TOKEN_RE keeps it
            size_t off = out->text.n;
            for (size_t k = 0; k < n; k++)
                mt_buf_putc(&out->text, (char)w[k]);
            mt_spans_push(&out->sp, off, n);
        }
        i = j;
    }
    mt_buf_push(&out->text, "", 0);
    bool oom = cps.oom || low.oom || st.oom || out->text.oom || out->sp.oom;
    mt_u32_free(&cps);
    mt_u32_free(&low);
    mt_u32_free(&st);
    return oom ? sqz_error(SQZ_ERR_NOMEM, "ROUGE: out of memory tokenizing") : SQZ_OK;
}

static bool tok_eq(const toks *a, size_t i, const toks *b, size_t j) {
    return a->sp.p[i].len == b->sp.p[j].len &&
           !memcmp(a->text.p + a->sp.p[i].off, b->text.p + b->sp.p[j].off, a->sp.p[i].len);
}

static double fmeasure(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }

// _score_ngrams for n-grams of order n.
static sqz_status score_ngrams(const toks *tgt, const toks *pred, size_t n, sqz_rouge_prf *out) {
    // Key an n-gram by the concatenation "tok\x01tok\x01…" (tokens never contain \x01).
    mt_buf kt = {0}, kp = {0};
    mt_spans st = {0}, sp = {0};
    const toks *src[2] = {tgt, pred};
    mt_buf *kb[2] = {&kt, &kp};
    mt_spans *ks[2] = {&st, &sp};
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i + n <= src[s]->sp.n; i++) {
            size_t off = kb[s]->n;
            for (size_t k = 0; k < n; k++) {
                const mt_span *t = &src[s]->sp.p[i + k];
                mt_buf_push(kb[s], src[s]->text.p + t->off, t->len);
                mt_buf_putc(kb[s], 1);
            }
            mt_spans_push(ks[s], off, kb[s]->n - off);
        }
    mt_table tt = {0}, tp = {0};
    for (size_t i = 0; i < st.n; i++)
        mt_table_add(&tt, kt.p + st.p[i].off, st.p[i].len, 1);
    for (size_t i = 0; i < sp.n; i++)
        mt_table_add(&tp, kp.p + sp.p[i].off, sp.p[i].len, 1);
    int64_t inter = 0;
    for (size_t i = 0; i < tt.cap; i++)
        if (tt.slots[i].key) {
            int64_t c = mt_table_get(&tp, tt.slots[i].key, tt.slots[i].len);
            inter += tt.slots[i].count < c ? tt.slots[i].count : c;
        }
    out->precision = (double)inter / (double)(tp.total > 1 ? tp.total : 1);
    out->recall = (double)inter / (double)(tt.total > 1 ? tt.total : 1);
    out->fmeasure = fmeasure(out->precision, out->recall);
    bool oom = kt.oom || kp.oom || st.oom || sp.oom || tt.oom || tp.oom;
    mt_buf_free(&kt), mt_buf_free(&kp), mt_spans_free(&st), mt_spans_free(&sp);
    mt_table_free(&tt), mt_table_free(&tp);
    return oom ? sqz_error(SQZ_ERR_NOMEM, "ROUGE: out of memory") : SQZ_OK;
}

// _lcs_table over token ranges ref[r0..r1) × can[c0..c1): (rows+1) × (cols+1) ints, malloc'd.
static int32_t *lcs_table(const toks *ref, size_t r0, size_t r1, const toks *can, size_t c0,
                          size_t c1) {
    size_t rows = r1 - r0, cols = c1 - c0;
    if (rows + 1 > SIZE_MAX / (cols + 1) / sizeof(int32_t))
        return NULL;
    int32_t *t = calloc((rows + 1) * (cols + 1), sizeof *t);
    if (!t)
        return NULL;
    size_t w = cols + 1;
    for (size_t i = 1; i <= rows; i++)
        for (size_t j = 1; j <= cols; j++) {
            if (tok_eq(ref, r0 + i - 1, can, c0 + j - 1))
                t[i * w + j] = t[(i - 1) * w + j - 1] + 1;
            else
                t[i * w + j] = t[(i - 1) * w + j] > t[i * w + j - 1] ? t[(i - 1) * w + j] : t[i * w + j - 1];
        }
    return t;
}

static sqz_status score_lcs(const toks *tgt, const toks *pred, sqz_rouge_prf *out) {
    *out = (sqz_rouge_prf){0, 0, 0};
    if (!tgt->sp.n || !pred->sp.n)
        return SQZ_OK;
    int32_t *t = lcs_table(tgt, 0, tgt->sp.n, pred, 0, pred->sp.n);
    if (!t)
        return sqz_error(SQZ_ERR_NOMEM, "ROUGE-L: out of memory (%zu x %zu tokens)", tgt->sp.n,
                         pred->sp.n);
    double lcs = t[tgt->sp.n * (pred->sp.n + 1) + pred->sp.n];
    free(t);
    out->precision = lcs / (double)pred->sp.n;
    out->recall = lcs / (double)tgt->sp.n;
    out->fmeasure = fmeasure(out->precision, out->recall);
    return SQZ_OK;
}

// A text split on '\n' into non-empty sentences, each tokenized: tokens of all sentences live in
// one toks, sentence k spans tokens [start[k], start[k+1]).
typedef struct sents {
    toks t;
    size_t *start;
    size_t n;
} sents;

static sqz_status split_sents(const char *s, bool stem, sents *out) {
    size_t len = strlen(s), count = 1;
    for (size_t i = 0; i < len; i++)
        count += s[i] == '\n';
    out->start = calloc(count + 1, sizeof *out->start);
    if (!out->start)
        return sqz_error(SQZ_ERR_NOMEM, "ROUGE: out of memory");
    for (size_t i = 0; i <= len;) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - s) : len;
        if (end > i) { // `if len(x)`: a sentence of only spaces is kept (it has no tokens)
            out->start[out->n++] = out->t.sp.n;
            SQZ_TRY(tokenize(s + i, end - i, stem, &out->t));
        }
        i = end + 1;
    }
    out->start[out->n] = out->t.sp.n;
    return SQZ_OK;
}

// lcs_ind + _backtrack_norec: mark (in hit[]) the ref tokens [r0, r1) on one LCS with can[c0, c1).
static sqz_status union_lcs_mark(const toks *ref, size_t r0, size_t r1, const toks *can, size_t c0,
                                 size_t c1, bool *hit) {
    int32_t *t = lcs_table(ref, r0, r1, can, c0, c1);
    if (!t)
        return sqz_error(SQZ_ERR_NOMEM, "ROUGE-Lsum: out of memory");
    size_t w = c1 - c0 + 1, i = r1 - r0, j = c1 - c0;
    while (i > 0 && j > 0) {
        if (tok_eq(ref, r0 + i - 1, can, c0 + j - 1)) {
            hit[i - 1] = true;
            i--, j--;
        } else if (t[i * w + j - 1] > t[(i - 1) * w + j]) {
            j--;
        } else {
            i--;
        }
    }
    free(t);
    return SQZ_OK;
}

// _summary_level_lcs(ref_sent, can_sent).
static sqz_status summary_lcs(const sents *ref, const sents *can, sqz_rouge_prf *out) {
    *out = (sqz_rouge_prf){0, 0, 0};
    size_t m = ref->t.sp.n, n = can->t.sp.n;
    if (!ref->n || !can->n || !m || !n)
        return SQZ_OK;
    // Token multiset counts: token_cnts_r / token_cnts_c.
    mt_table cr = {0}, cc = {0};
    for (size_t i = 0; i < m; i++)
        mt_table_add(&cr, ref->t.text.p + ref->t.sp.p[i].off, ref->t.sp.p[i].len, 1);
    for (size_t i = 0; i < n; i++)
        mt_table_add(&cc, can->t.text.p + can->t.sp.p[i].off, can->t.sp.p[i].len, 1);
    sqz_status st = (cr.oom || cc.oom) ? sqz_error(SQZ_ERR_NOMEM, "ROUGE-Lsum: out of memory") : SQZ_OK;
    bool *hit = calloc(m, 1);
    if (!hit && st == SQZ_OK)
        st = sqz_error(SQZ_ERR_NOMEM, "ROUGE-Lsum: out of memory");
    int64_t hits = 0;
    for (size_t r = 0; st == SQZ_OK && r < ref->n; r++) {
        size_t r0 = ref->start[r], r1 = ref->start[r + 1];
        memset(hit, 0, m);
        for (size_t c = 0; st == SQZ_OK && c < can->n; c++)
            st = union_lcs_mark(&ref->t, r0, r1, &can->t, can->start[c], can->start[c + 1], hit);
        for (size_t i = 0; st == SQZ_OK && i < r1 - r0; i++) { // sorted union of LCS indices
            if (!hit[i])
                continue;
            const mt_span *sp = &ref->t.sp.p[r0 + i];
            const char *k = ref->t.text.p + sp->off;
            if (mt_table_get(&cc, k, sp->len) > 0 && mt_table_get(&cr, k, sp->len) > 0) {
                hits++;
                mt_table_add(&cc, k, sp->len, -1);
                mt_table_add(&cr, k, sp->len, -1);
            }
        }
    }
    free(hit);
    mt_table_free(&cr);
    mt_table_free(&cc);
    if (st != SQZ_OK)
        return st;
    out->recall = (double)hits / (double)m;
    out->precision = (double)hits / (double)n;
    out->fmeasure = fmeasure(out->precision, out->recall);
    return SQZ_OK;
}

static void sents_free(sents *s) {
    toks_free(&s->t);
    free(s->start);
}

// RougeScorer.score(target, prediction) for all four types.
static sqz_status score_one(const char *target, const char *pred, bool stem, sqz_rouge_result *r) {
    toks tt = {0}, tp = {0};
    sents st = {0}, sp = {0};
    sqz_status rc = tokenize(target, strlen(target), stem, &tt);
    if (rc == SQZ_OK)
        rc = tokenize(pred, strlen(pred), stem, &tp);
    if (rc == SQZ_OK)
        rc = score_ngrams(&tt, &tp, 1, &r->rouge1);
    if (rc == SQZ_OK)
        rc = score_ngrams(&tt, &tp, 2, &r->rouge2);
    if (rc == SQZ_OK)
        rc = score_lcs(&tt, &tp, &r->rougeL);
    if (rc == SQZ_OK)
        rc = split_sents(target, stem, &st);
    if (rc == SQZ_OK)
        rc = split_sents(pred, stem, &sp);
    if (rc == SQZ_OK)
        rc = summary_lcs(&st, &sp, &r->rougeLsum);
    toks_free(&tt), toks_free(&tp);
    sents_free(&st), sents_free(&sp);
    return rc;
}

sqz_status sqz_rouge_sentence(const sqz_text_pair *pair, bool use_stemmer, sqz_rouge_result *out) {
    SQZ_TRY(mt_check_pairs("ROUGE", pair, 1));
    for (size_t k = 0; k < pair->n_refs; k++) {
        sqz_rouge_result r;
        SQZ_TRY_CTX(score_one(pair->refs[k], pair->hyp, use_stemmer, &r), "reference %zu: ", k + 1);
        // score_multi: per type, the reference with the highest F (np.argmax: first on ties)
        if (k == 0 || r.rouge1.fmeasure > out->rouge1.fmeasure)
            out->rouge1 = r.rouge1;
        if (k == 0 || r.rouge2.fmeasure > out->rouge2.fmeasure)
            out->rouge2 = r.rouge2;
        if (k == 0 || r.rougeL.fmeasure > out->rougeL.fmeasure)
            out->rougeL = r.rougeL;
        if (k == 0 || r.rougeLsum.fmeasure > out->rougeLsum.fmeasure)
            out->rougeLsum = r.rougeLsum;
    }
    return SQZ_OK;
}

static void add_prf(sqz_rouge_prf *a, const sqz_rouge_prf *b) {
    a->precision += b->precision;
    a->recall += b->recall;
    a->fmeasure += b->fmeasure;
}

static void div_prf(sqz_rouge_prf *a, double n) {
    a->precision /= n;
    a->recall /= n;
    a->fmeasure /= n;
}

sqz_status sqz_rouge_corpus(const sqz_text_pair *pairs, size_t n, bool use_stemmer,
                            sqz_rouge_result *out) {
    SQZ_TRY(mt_check_pairs("ROUGE", pairs, n));
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        sqz_rouge_result r;
        SQZ_TRY_CTX(sqz_rouge_sentence(&pairs[i], use_stemmer, &r), "ROUGE: segment %zu: ", i + 1);
        add_prf(&out->rouge1, &r.rouge1);
        add_prf(&out->rouge2, &r.rouge2);
        add_prf(&out->rougeL, &r.rougeL);
        add_prf(&out->rougeLsum, &r.rougeLsum);
    }
    div_prf(&out->rouge1, (double)n);
    div_prf(&out->rouge2, (double)n);
    div_prf(&out->rougeL, (double)n);
    div_prf(&out->rougeLsum, (double)n);
    return SQZ_OK;
}

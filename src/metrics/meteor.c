// METEOR as NLTK 3.8 nltk.translate.meteor_score. Words are str.split() tokens, lowercased.
// Alignment is greedy in three stages, each scanning hypothesis words from last to first and,
// for each, reference words from last to first, taking the first match:
//   1. exact string match;
//   2. Porter-stem match of the words left over (the leftover lists then hold the *stems*, and
//      NLTK's stage 3 looks those up — reproduced here);
//   3. WordNet synonyms: the reference word is among the '_'-free lemma names of
//      wordnet.synsets(hyp word), or equals it.
// Score = (1 − γ·(chunks/matches)^β) · P·R / (α·P + (1−α)·R), 0 without matches; the maximum
// over references. Without a WordNet (opts.wordnet == NULL) stage 3 is skipped.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "metrics/porter.h"
#include "metrics/wordnet.h"

void sqz_meteor_opts_default(sqz_meteor_opts *o) { *o = (sqz_meteor_opts){0.9, 3.0, 0.5, NULL}; }

typedef struct ew { // an enumerated word: (position, text)
    size_t idx;
    char *s;
    size_t len;
} ew;

typedef struct ewlist {
    ew *p;
    size_t n;
} ewlist;

static void ewlist_free(ewlist *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->p[i].s);
    free(l->p);
    memset(l, 0, sizeof *l);
}

static void pop(ewlist *l, size_t i) {
    free(l->p[i].s);
    memmove(&l->p[i], &l->p[i + 1], (l->n - i - 1) * sizeof *l->p);
    l->n--;
}

// _generate_enums: lowercased whitespace tokens of s.
static sqz_status enumerate(const char *s, ewlist *out) {
    size_t len = strlen(s);
    SQZ_TRY(mt_validate(s, len));
    mt_spans sp = {0};
    mt_split_ws(s, len, &sp);
    out->p = calloc(sp.n ? sp.n : 1, sizeof *out->p);
    sqz_status st = (!out->p || sp.oom) ? sqz_error(SQZ_ERR_NOMEM, "METEOR: out of memory") : SQZ_OK;
    for (size_t i = 0; i < sp.n && st == SQZ_OK; i++) {
        st = mt_lower_utf8(s + sp.p[i].off, sp.p[i].len, &out->p[i].s, &out->p[i].len);
        out->p[i].idx = i;
        out->n += st == SQZ_OK;
    }
    mt_spans_free(&sp);
    return st;
}

typedef struct match {
    size_t h, r;
} match;

static bool same(const ew *a, const ew *b) { return a->len == b->len && !memcmp(a->s, b->s, a->len); }

// _match_enums (exact or, on stemmed lists, stem match).
static void match_enums(ewlist *h, ewlist *r, match *m, size_t *nm) {
    for (size_t i = h->n; i-- > 0;)
        for (size_t j = r->n; j-- > 0;)
            if (same(&h->p[i], &r->p[j])) {
                m[(*nm)++] = (match){h->p[i].idx, r->p[j].idx};
                pop(h, i);
                pop(r, j);
                break;
            }
}

static sqz_status stem_list(ewlist *l) {
    for (size_t i = 0; i < l->n; i++) {
        mt_u32 cps = {0}, st = {0};
        mt_buf b = {0};
        sqz_status rc = mt_decode(l->p[i].s, l->p[i].len, &cps);
        if (rc == SQZ_OK) {
            mt_porter_stem(cps.p, cps.n, &st);
            for (size_t k = 0; k < st.n; k++)
                mt_buf_put_cp(&b, st.p[k]);
            b.oom |= st.oom;
            free(l->p[i].s);
            l->p[i].s = NULL;
            rc = mt_buf_take(&b, &l->p[i].s, &l->p[i].len);
        }
        mt_u32_free(&cps);
        mt_u32_free(&st);
        mt_buf_free(&b);
        if (rc != SQZ_OK)
            return rc;
    }
    return SQZ_OK;
}

static sqz_status wordnet_match(const sqz_wordnet *wn, ewlist *h, ewlist *r, match *m, size_t *nm) {
    for (size_t i = h->n; i-- > 0;) {
        mt_table syn = {0};
        sqz_status st = mt_wordnet_synonyms(wn, h->p[i].s, h->p[i].len, &syn);
        for (size_t j = r->n; st == SQZ_OK && j-- > 0;)
            if (mt_table_get(&syn, r->p[j].s, r->p[j].len)) {
                m[(*nm)++] = (match){h->p[i].idx, r->p[j].idx};
                mt_table_free(&syn); // keys borrow h->p[i].s: free before popping it
                pop(h, i);
                pop(r, j);
                break;
            }
        mt_table_free(&syn);
        if (st != SQZ_OK)
            return st;
    }
    return SQZ_OK;
}

static int cmp_match(const void *a, const void *b) {
    size_t x = ((const match *)a)->h, y = ((const match *)b)->h;
    return x < y ? -1 : x > y;
}

static sqz_status single(const char *ref, const char *hyp, const sqz_meteor_opts *o, double *out) {
    ewlist h = {0}, r = {0};
    match *m = NULL;
    size_t nm = 0;
    *out = 0.0;
    sqz_status st = enumerate(hyp, &h);
    if (st == SQZ_OK)
        st = enumerate(ref, &r);
    size_t hlen = h.n, rlen = r.n;
    if (st == SQZ_OK && !(m = calloc(hlen + 1, sizeof *m)))
        st = sqz_error(SQZ_ERR_NOMEM, "METEOR: out of memory");
    if (st == SQZ_OK) {
        match_enums(&h, &r, m, &nm);
        st = stem_list(&h);
    }
    if (st == SQZ_OK && (st = stem_list(&r)) == SQZ_OK)
        match_enums(&h, &r, m, &nm);
    if (st == SQZ_OK && o->wordnet)
        st = wordnet_match(o->wordnet, &h, &r, m, &nm);
    if (st == SQZ_OK && nm > 0 && hlen > 0 && rlen > 0) {
        qsort(m, nm, sizeof *m, cmp_match);
        size_t chunks = 1;
        for (size_t i = 0; i + 1 < nm; i++)
            if (!(m[i + 1].h == m[i].h + 1 && m[i + 1].r == m[i].r + 1))
                chunks++;
        double precision = (double)nm / (double)hlen, recall = (double)nm / (double)rlen;
        double denom = o->alpha * precision + (1 - o->alpha) * recall;
        if (denom != 0.0) {
            double fmean = (precision * recall) / denom;
            double frag = (double)chunks / (double)nm;
            *out = (1 - o->gamma * pow(frag, o->beta)) * fmean;
        }
    }
    ewlist_free(&h);
    ewlist_free(&r);
    free(m);
    return st;
}

sqz_status sqz_meteor_sentence(const sqz_text_pair *pair, const sqz_meteor_opts *o, double *out) {
    SQZ_TRY(mt_check_pairs("METEOR", pair, 1));
    double best = 0.0;
    for (size_t k = 0; k < pair->n_refs; k++) {
        double s;
        SQZ_TRY_CTX(single(pair->refs[k], pair->hyp, o, &s), "METEOR: reference %zu: ", k + 1);
        if (k == 0 || s > best)
            best = s;
    }
    *out = best;
    return SQZ_OK;
}

sqz_status sqz_meteor_corpus(const sqz_text_pair *pairs, size_t n, const sqz_meteor_opts *o,
                             double *out) {
    SQZ_TRY(mt_check_pairs("METEOR", pairs, n));
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double s;
        SQZ_TRY_CTX(sqz_meteor_sentence(&pairs[i], o, &s), "segment %zu: ", i + 1);
        sum += s;
    }
    *out = sum / (double)n;
    return SQZ_OK;
}

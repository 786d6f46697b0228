// Exact match and normalized edit similarity (definitions in sqz/metrics.h).
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "metrics/text.h"

static bool strip_equal(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    size_t oa = mt_lstrip_off(a, la), ob = mt_lstrip_off(b, lb);
    size_t ea = mt_rstrip_len(a, la), eb = mt_rstrip_len(b, lb);
    size_t na = ea > oa ? ea - oa : 0, nb = eb > ob ? eb - ob : 0;
    return na == nb && !memcmp(a + oa, b + ob, na);
}

sqz_status sqz_exact_match_sentence(const sqz_text_pair *pair, double *out) {
    SQZ_TRY(mt_check_pairs("exact match", pair, 1));
    SQZ_TRY(mt_validate(pair->hyp, strlen(pair->hyp)));
    *out = 0.0;
    for (size_t k = 0; k < pair->n_refs; k++) {
        SQZ_TRY(mt_validate(pair->refs[k], strlen(pair->refs[k])));
        if (strip_equal(pair->hyp, pair->refs[k]))
            *out = 1.0;
    }
    return SQZ_OK;
}

// Levenshtein distance over code points, two-row dynamic programme: O(|a|·|b|) time, O(|b|) space.
static size_t levenshtein(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, size_t *row) {
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0]; // D[i-1][j-1]
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j]; // D[i-1][j]
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

static sqz_status edit_sim(const char *h, const char *r, double *out) {
    mt_u32 a = {0}, b = {0};
    sqz_status st = mt_decode(h, strlen(h), &a);
    if (st == SQZ_OK)
        st = mt_decode(r, strlen(r), &b);
    size_t *row = st == SQZ_OK ? malloc((b.n + 1) * sizeof *row) : NULL;
    if (st == SQZ_OK && !row)
        st = sqz_error(SQZ_ERR_NOMEM, "edit similarity: out of memory");
    if (st == SQZ_OK) {
        size_t mx = a.n > b.n ? a.n : b.n;
        *out = mx ? 1.0 - (double)levenshtein(a.p, a.n, b.p, b.n, row) / (double)mx : 1.0;
    }
    free(row);
    mt_u32_free(&a);
    mt_u32_free(&b);
    return st;
}

sqz_status sqz_edit_similarity_sentence(const sqz_text_pair *pair, double *out) {
    SQZ_TRY(mt_check_pairs("edit similarity", pair, 1));
    double best = 0.0;
    for (size_t k = 0; k < pair->n_refs; k++) {
        double s;
        SQZ_TRY_CTX(edit_sim(pair->hyp, pair->refs[k], &s), "reference %zu: ", k + 1);
        if (k == 0 || s > best)
            best = s;
    }
    *out = best;
    return SQZ_OK;
}

typedef sqz_status (*sentence_fn)(const sqz_text_pair *, double *);

static sqz_status mean_of(const char *name, sentence_fn f, const sqz_text_pair *pairs, size_t n,
                          double *out) {
    SQZ_TRY(mt_check_pairs(name, pairs, n));
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double s;
        SQZ_TRY_CTX(f(&pairs[i], &s), "%s: segment %zu: ", name, i + 1);
        sum += s;
    }
    *out = sum / (double)n;
    return SQZ_OK;
}

sqz_status sqz_exact_match_corpus(const sqz_text_pair *pairs, size_t n, double *out) {
    return mean_of("exact match", sqz_exact_match_sentence, pairs, n, out);
}

sqz_status sqz_edit_similarity_corpus(const sqz_text_pair *pairs, size_t n, double *out) {
    return mean_of("edit similarity", sqz_edit_similarity_sentence, pairs, n, out);
}

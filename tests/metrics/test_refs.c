// Every public oracle vector in ../shared/refs/metrics/public/ (sacrebleu 2.6.0 sentence and
// corpus BLEU/chrF/chrF++, rouge-score 0.1.2, NLTK 3.8 METEOR with WordNet 3.0) recomputed with
// libsqz and compared field by field: scores to 1e-4 (max diff printed), integer statistics,
// signatures and sacrebleu's formatted line exactly.
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sqz/metrics.h"

#define DIR "../shared/refs/metrics/public/"
#define TOL 1e-4

static double max_diff[8];
enum { D_BLEU, D_CHRF, D_ROUGE, D_METEOR, D_CORPUS };

static bool close_to(int which, double got, double want) {
    double d = fabs(got - want);
    if (d > max_diff[which])
        max_diff[which] = d;
    return d <= TOL;
}

// A record's hyps[i] / refs[i] as a text pair; METEOR tokens are joined by spaces.
typedef struct seg {
    char *hyp;
    char **refs;
    size_t n_refs;
} seg;

static char *text_of(json_t *v) {
    if (json_is_string(v))
        return strdup(json_string_value(v));
    size_t len = 0, i;
    json_t *t;
    json_array_foreach(v, i, t) len += strlen(json_string_value(t)) + 1;
    char *s = calloc(len + 1, 1);
    json_array_foreach(v, i, t) {
        if (i)
            strcat(s, " ");
        strcat(s, json_string_value(t));
    }
    return s;
}

static void seg_load(json_t *hyps, json_t *refs, size_t i, seg *s, sqz_text_pair *p) {
    s->hyp = text_of(json_array_get(hyps, i));
    json_t *r = json_array_get(refs, i);
    s->n_refs = 0;
    s->refs = calloc(json_array_size(r) + 1, sizeof *s->refs);
    for (size_t k = 0; k < json_array_size(r); k++)
        if (!json_is_null(json_array_get(r, k))) // corpus ref streams are padded with None
            s->refs[s->n_refs++] = text_of(json_array_get(r, k));
    *p = (sqz_text_pair){s->hyp, (const char *const *)s->refs, s->n_refs};
}

static void seg_free(seg *s) {
    free(s->hyp);
    for (size_t k = 0; k < s->n_refs; k++)
        free(s->refs[k]);
    free(s->refs);
}

static sqz_bleu_tokenizer tok_of(const char *s) {
    return !strcmp(s, "none") ? SQZ_BLEU_TOK_NONE : !strcmp(s, "intl") ? SQZ_BLEU_TOK_INTL
           : !strcmp(s, "char") ? SQZ_BLEU_TOK_CHAR : SQZ_BLEU_TOK_13A;
}

static void check_bleu(const char *id, const sqz_bleu_result *r, json_t *e, int which) {
    CHECK_MSG(close_to(which, r->score, json_number_value(json_object_get(e, "score"))),
              "%s: score %.10f vs %.10f", id, r->score, json_number_value(json_object_get(e, "score")));
    for (int n = 0; n < 4; n++) {
        CHECK_MSG(r->counts[n] == json_number_value(json_array_get(json_object_get(e, "counts"), n)),
                  "%s: counts[%d]", id, n);
        CHECK_MSG(r->totals[n] == json_number_value(json_array_get(json_object_get(e, "totals"), n)),
                  "%s: totals[%d]", id, n);
        CHECK_MSG(close_to(which, r->precisions[n],
                           json_number_value(json_array_get(json_object_get(e, "precisions"), n))),
                  "%s: precisions[%d]", id, n);
    }
    CHECK_MSG(close_to(which, r->bp, json_number_value(json_object_get(e, "bp"))), "%s: bp", id);
    CHECK_MSG(r->sys_len == json_integer_value(json_object_get(e, "sys_len")), "%s: sys_len", id);
    CHECK_MSG(r->ref_len == json_integer_value(json_object_get(e, "ref_len")), "%s: ref_len", id);
    const char *sig = json_string_value(json_object_get(e, "signature"));
    CHECK_MSG(!strcmp(r->signature, sig), "%s: signature '%s' vs '%s'", id, r->signature, sig);
    char line[256];
    sqz_bleu_format(r, line, sizeof line);
    const char *fmt = json_string_value(json_object_get(e, "formatted"));
    CHECK_MSG(!strcmp(line, fmt), "%s: formatted '%s' vs '%s'", id, line, fmt);
}

static void check_chrf(const char *id, const sqz_chrf_result *r, json_t *e, int which) {
    double want = json_number_value(json_object_get(e, "score"));
    CHECK_MSG(close_to(which, r->score, want), "%s: chrF %.10f vs %.10f", id, r->score, want);
    const char *sig = json_string_value(json_object_get(e, "signature"));
    CHECK_MSG(!strcmp(r->signature, sig), "%s: signature '%s' vs '%s'", id, r->signature, sig);
    char line[64];
    snprintf(line, sizeof line, "%s = %.2f", r->name, r->score);
    const char *fmt = json_string_value(json_object_get(e, "formatted"));
    CHECK_MSG(!strcmp(line, fmt), "%s: formatted '%s' vs '%s'", id, line, fmt);
}

static void check_prf(const char *id, const char *type, const sqz_rouge_prf *p, json_t *e) {
    json_t *x = json_object_get(e, type);
    CHECK_MSG(close_to(D_ROUGE, p->precision, json_number_value(json_object_get(x, "precision"))) &&
                  close_to(D_ROUGE, p->recall, json_number_value(json_object_get(x, "recall"))) &&
                  close_to(D_ROUGE, p->fmeasure, json_number_value(json_object_get(x, "fmeasure"))),
              "%s %s: P/R/F %.6f %.6f %.6f vs %s", id, type, p->precision, p->recall, p->fmeasure,
              json_dumps(x, JSON_COMPACT));
}

static int run_record(json_t *rec, const sqz_wordnet *wn) {
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *metric = json_string_value(json_object_get(rec, "metric"));
    json_t *params = json_object_get(rec, "params"), *e = json_object_get(rec, "expected");
    seg s;
    sqz_text_pair p;
    seg_load(json_object_get(rec, "hyps"), json_object_get(rec, "refs"), 0, &s, &p);
    if (!strcmp(metric, "sacrebleu.sentence_bleu")) {
        sqz_bleu_opts o;
        sqz_bleu_opts_default(&o);
        o.tokenize = tok_of(json_string_value(json_object_get(params, "tokenize")));
        o.effective_order = json_is_true(json_object_get(params, "use_effective_order"));
        sqz_bleu_result r;
        CHECK_OK(sqz_bleu_corpus(&p, 1, &o, &r));
        check_bleu(id, &r, e, D_BLEU);
    } else if (!strcmp(metric, "sacrebleu.sentence_chrf")) {
        sqz_chrf_opts o;
        sqz_chrf_opts_default(&o);
        o.word_order = (int)json_integer_value(json_object_get(params, "word_order"));
        sqz_chrf_result r;
        CHECK_OK(sqz_chrf_corpus(&p, 1, &o, &r));
        check_chrf(id, &r, e, D_CHRF);
    } else if (!strcmp(metric, "rouge_score")) {
        sqz_rouge_result r;
        CHECK_OK(sqz_rouge_sentence(&p, json_is_true(json_object_get(params, "use_stemmer")), &r));
        check_prf(id, "rouge1", &r.rouge1, e);
        check_prf(id, "rouge2", &r.rouge2, e);
        check_prf(id, "rougeL", &r.rougeL, e);
        check_prf(id, "rougeLsum", &r.rougeLsum, e);
    } else if (!strcmp(metric, "nltk.meteor_score")) {
        sqz_meteor_opts o;
        sqz_meteor_opts_default(&o);
        o.wordnet = wn;
        double sc = -1;
        CHECK_OK(sqz_meteor_sentence(&p, &o, &sc));
        double want = json_number_value(json_object_get(e, "score"));
        CHECK_MSG(close_to(D_METEOR, sc, want), "%s: METEOR %.10f vs %.10f", id, sc, want);
    } else {
        CHECK_MSG(0, "%s: unknown metric %s", id, metric);
    }
    seg_free(&s);
    return 1;
}

static int run_jsonl(const char *name, const sqz_wordnet *wn) {
    char path[256];
    snprintf(path, sizeof path, DIR "%s", name);
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *rec = json_loads(line, 0, &err);
        CHECK_MSG(rec != NULL, "%s: %s", path, err.text);
        if (rec)
            n += run_record(rec, wn);
        json_decref(rec);
    }
    free(line);
    fclose(f);
    return n;
}

// sacrebleu_corpus.json: each set scored at corpus level with every tokenizer and chrF/chrF++.
static int run_corpus(void) {
    json_error_t err;
    json_t *root = json_load_file(DIR "sacrebleu_corpus.json", 0, &err);
    CHECK_MSG(root != NULL, "sacrebleu_corpus.json: %s", err.text);
    if (!root)
        return 0;
    const char *set;
    json_t *v;
    int n = 0;
    json_object_foreach(root, set, v) {
        json_t *hyps = json_object_get(v, "hyps"), *refs = json_object_get(v, "refs");
        size_t ns = json_array_size(hyps);
        seg *segs = calloc(ns, sizeof *segs);
        sqz_text_pair *pairs = calloc(ns, sizeof *pairs);
        for (size_t i = 0; i < ns; i++)
            seg_load(hyps, refs, i, &segs[i], &pairs[i]);
        const char *toks[3] = {"13a", "none", "intl"};
        for (int t = 0; t < 3; t++) {
            char key[32], id[96];
            snprintf(key, sizeof key, "bleu_tok_%s", toks[t]);
            snprintf(id, sizeof id, "%s.%s", set, key);
            sqz_bleu_opts o;
            sqz_bleu_opts_default(&o);
            o.tokenize = tok_of(toks[t]);
            sqz_bleu_result r;
            CHECK_OK(sqz_bleu_corpus(pairs, ns, &o, &r));
            check_bleu(id, &r, json_object_get(json_object_get(v, "expected"), key), D_CORPUS);
            n++;
        }
        for (int wo = 0; wo <= 2; wo += 2) {
            sqz_chrf_opts o;
            sqz_chrf_opts_default(&o);
            o.word_order = wo;
            sqz_chrf_result r;
            char id[96];
            snprintf(id, sizeof id, "%s.%s", set, wo ? "chrf++" : "chrf");
            CHECK_OK(sqz_chrf_corpus(pairs, ns, &o, &r));
            check_chrf(id, &r, json_object_get(json_object_get(v, "expected"), wo ? "chrf++" : "chrf"),
                       D_CORPUS);
            n++;
        }
        for (size_t i = 0; i < ns; i++)
            seg_free(&segs[i]);
        free(segs);
        free(pairs);
    }
    json_decref(root);
    return n;
}

int main(void) {
    sqz_wordnet *wn = NULL;
    CHECK_OK(sqz_wordnet_open(sqz_wordnet_default_dir(), &wn)); // Debian wordnet-base
    int n = run_jsonl("sacrebleu_sentence_bleu.jsonl", wn);
    printf("sentence BLEU: %d records, max |diff| %.3g\n", n, max_diff[D_BLEU]);
    n = run_jsonl("sacrebleu_sentence_chrf.jsonl", wn);
    printf("sentence chrF: %d records, max |diff| %.3g\n", n, max_diff[D_CHRF]);
    n = run_jsonl("rouge_score.jsonl", wn);
    printf("ROUGE: %d records, max |diff| %.3g\n", n, max_diff[D_ROUGE]);
    n = wn ? run_jsonl("nltk_meteor.jsonl", wn) : 0;
    printf("METEOR: %d records, max |diff| %.3g\n", n, max_diff[D_METEOR]);
    n = run_corpus();
    printf("corpus BLEU/chrF: %d scores, max |diff| %.3g\n", n, max_diff[D_CORPUS]);
    sqz_wordnet_free(wn);
    return test_summary();
}

// Metric speed on the 1,000-line CodeXGLUE Java→C# test set: the Java side scored as hypothesis
// against the C# side as reference (real, partly overlapping code). Prints seconds per corpus
// score (best of 3) for BLEU, chrF, chrF++, ROUGE, METEOR and edit similarity.
//   build/bench/metrics [DIR]   (DIR defaults to ../shared/data/datasets/codexglue-code2code-trans/data)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqz.h"

static char **lines_of(char *buf, size_t *n) {
    size_t cap = 1024, k = 0;
    char **v = malloc(cap * sizeof *v);
    for (char *p = buf; v && *p;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        if (k == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[k++] = p;
        p = nl ? nl + 1 : p + strlen(p);
    }
    *n = k;
    return v;
}

typedef struct ctx {
    sqz_text_pair *pairs;
    size_t n;
    const sqz_wordnet *wn;
} ctx;

static double best_of_3(sqz_status (*fn)(const ctx *), const ctx *c) {
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = sqz_time_now();
        if (fn(c) != SQZ_OK) {
            fprintf(stderr, "error: %s\n", sqz_last_error());
            exit(1);
        }
        double t = sqz_time_now() - t0;
        best = t < best ? t : best;
    }
    return best;
}

static double last_score;

static sqz_status run_bleu(const ctx *c) {
    sqz_bleu_opts o;
    sqz_bleu_result r;
    sqz_bleu_opts_default(&o);
    sqz_status st = sqz_bleu_corpus(c->pairs, c->n, &o, &r);
    last_score = r.score;
    return st;
}

static sqz_status run_chrf_w(const ctx *c, int word_order) {
    sqz_chrf_opts o;
    sqz_chrf_result r;
    sqz_chrf_opts_default(&o);
    o.word_order = word_order;
    sqz_status st = sqz_chrf_corpus(c->pairs, c->n, &o, &r);
    last_score = r.score;
    return st;
}
static sqz_status run_chrf(const ctx *c) { return run_chrf_w(c, 0); }
static sqz_status run_chrfpp(const ctx *c) { return run_chrf_w(c, 2); }

static sqz_status run_rouge(const ctx *c) {
    sqz_rouge_result r;
    sqz_status st = sqz_rouge_corpus(c->pairs, c->n, true, &r);
    last_score = r.rougeL.fmeasure;
    return st;
}

static sqz_status run_meteor(const ctx *c) {
    sqz_meteor_opts o;
    sqz_meteor_opts_default(&o);
    o.wordnet = c->wn;
    return sqz_meteor_corpus(c->pairs, c->n, &o, &last_score);
}

static sqz_status run_editsim(const ctx *c) { return sqz_edit_similarity_corpus(c->pairs, c->n, &last_score); }

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "../shared/data/datasets/codexglue-code2code-trans/data";
    char path[1024], *hb, *rb;
    snprintf(path, sizeof path, "%s/test.java-cs.txt.java", dir);
    if (sqz_read_file(path, &hb, NULL) != SQZ_OK)
        return fprintf(stderr, "%s\n", sqz_last_error()), 1;
    snprintf(path, sizeof path, "%s/test.java-cs.txt.cs", dir);
    if (sqz_read_file(path, &rb, NULL) != SQZ_OK)
        return fprintf(stderr, "%s\n", sqz_last_error()), 1;
    size_t nh, nr;
    char **h = lines_of(hb, &nh), **r = lines_of(rb, &nr);
    if (nh != nr)
        return fprintf(stderr, "line counts differ: %zu vs %zu\n", nh, nr), 1;
    sqz_text_pair *pairs = calloc(nh, sizeof *pairs);
    for (size_t i = 0; i < nh; i++)
        pairs[i] = (sqz_text_pair){h[i], (const char *const *)&r[i], 1};
    sqz_wordnet *wn = NULL;
    if (sqz_wordnet_open(sqz_wordnet_default_dir(), &wn) != SQZ_OK)
        fprintf(stderr, "note: %s (METEOR without synonyms)\n", sqz_last_error());
    ctx c = {pairs, nh, wn};
    struct { const char *name; sqz_status (*fn)(const ctx *); } runs[] = {
        {"BLEU (13a)", run_bleu}, {"chrF", run_chrf},        {"chrF++", run_chrfpp},
        {"ROUGE (stem)", run_rouge}, {"METEOR", run_meteor}, {"EditSim", run_editsim},
    };
    printf("%zu segments (CodeXGLUE test java vs cs)\n", nh);
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        double t = best_of_3(runs[i].fn, &c);
        printf("%-13s %8.3f s   (score %.4f)\n", runs[i].name, t, last_score);
    }
    sqz_wordnet_free(wn);
    free(pairs), free(h), free(r), free(hb), free(rb);
    return 0;
}

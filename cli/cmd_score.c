// sqz score: text and code metrics over line-aligned files or a JSONL file of pairs.
//   sqz score --metric bleu|chrf|chrf++|rouge|meteor|codebleu|em|editsim
//             (--hyp FILE --ref FILE [--ref FILE ...] | --pairs FILE.jsonl)
//             [--tokenize 13a|intl|char|none] [--lowercase] [--smooth exp|floor|add-k|none]
//             [--smooth-value V] [--stem] [--wordnet DIR] [--lang L] [--flavor codexglue|pypi]
//             [--sentence] [--json]
// Line-aligned files are read like sacrebleu: one segment per line ('\n', a trailing '\r' is
// dropped), every --ref file must have as many lines as --hyp. --pairs reads one
// {"hyp": "...", "refs": ["...", ...]} object per line (blank lines skipped), for multi-line code.
// --sentence prints one result per segment (sentence BLEU uses effective order, as
// sacrebleu.sentence_bleu); --json prints JSON objects (one per line with --sentence).
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "cli.h"

#define MAX_REFS 64

typedef struct input {
    sqz_text_pair *pairs;
    const char **ref_ptrs; // n * max_refs pointers, pairs[i].refs points into it
    size_t n;
    char *bufs[MAX_REFS + 1]; // file contents (lines point into them)
    json_t *json;             // --pairs: the parsed lines (strings point into them)
} input;

typedef struct opts {
    const char *metric, *hyp, *refs[MAX_REFS], *pairs, *lang, *wordnet, *flavor;
    int n_refs;
    bool sentence, json, stem;
    sqz_bleu_opts bleu;
} opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: sqz score --metric bleu|chrf|chrf++|rouge|meteor|codebleu|em|editsim\n"
            "                 (--hyp FILE --ref FILE [--ref FILE ...] | --pairs FILE.jsonl)\n"
            "                 [--sentence] [--json]\n"
            "  BLEU:     [--tokenize 13a|intl|char|none] [--lowercase] [--smooth exp|floor|add-k|none]\n"
            "            [--smooth-value V]\n"
            "  chrF:     [--lowercase]\n"
            "  ROUGE:    [--stem]   (rouge-score's Porter stemmer)\n"
            "  METEOR:   [--wordnet DIR]  (default $SQZ_WORDNET or /usr/share/wordnet; without it:\n"
            "            exact and stem stages only)\n"
            "  CodeBLEU: --lang python|java|c_sharp|cs|c|cpp|javascript [--flavor codexglue|pypi]\n");
}

static void input_free(input *in) {
    free(in->pairs);
    free(in->ref_ptrs);
    for (int i = 0; i <= MAX_REFS; i++)
        free(in->bufs[i]);
    json_decref(in->json);
}

// Split buf into lines in place: the returned array (malloc'd) points into buf.
static char **split_lines(char *buf, size_t len, size_t *n) {
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        count += buf[i] == '\n';
    if (len && buf[len - 1] != '\n')
        count++;
    char **lines = calloc(count ? count : 1, sizeof *lines);
    if (!lines)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < len && k < count;) {
        char *nl = memchr(buf + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - buf) : len;
        buf[end] = 0;
        if (end > i && buf[end - 1] == '\r')
            buf[end - 1] = 0;
        lines[k++] = buf + i;
        i = end + 1;
    }
    *n = count;
    return lines;
}

static int read_files(const opts *o, input *in) {
    size_t n_hyp = 0, len;
    if (sqz_read_file(o->hyp, &in->bufs[0], &len) != SQZ_OK)
        return cli_fail("score");
    char **hyp = split_lines(in->bufs[0], len, &n_hyp);
    char **ref[MAX_REFS] = {0};
    int rc = hyp ? 0 : 1;
    for (int r = 0; r < o->n_refs && !rc; r++) {
        size_t n_ref = 0;
        if (sqz_read_file(o->refs[r], &in->bufs[r + 1], &len) != SQZ_OK) {
            rc = cli_fail("score");
            break;
        }
        ref[r] = split_lines(in->bufs[r + 1], len, &n_ref);
        if (ref[r] && n_ref != n_hyp) {
            fprintf(stderr, "sqz score: --ref %s has %zu lines but --hyp %s has %zu lines\n",
                    o->refs[r], n_ref, o->hyp, n_hyp);
            rc = 1;
        }
        rc |= !ref[r];
    }
    if (!rc && n_hyp == 0) {
        fprintf(stderr, "sqz score: --hyp %s is empty\n", o->hyp);
        rc = 1;
    }
    if (!rc) {
        in->n = n_hyp;
        in->pairs = calloc(n_hyp, sizeof *in->pairs);
        in->ref_ptrs = calloc(n_hyp * (size_t)o->n_refs, sizeof *in->ref_ptrs);
        rc = !in->pairs || !in->ref_ptrs;
        for (size_t i = 0; !rc && i < n_hyp; i++) {
            for (int r = 0; r < o->n_refs; r++)
                in->ref_ptrs[i * (size_t)o->n_refs + (size_t)r] = ref[r][i];
            in->pairs[i] = (sqz_text_pair){hyp[i], in->ref_ptrs + i * (size_t)o->n_refs, (size_t)o->n_refs};
        }
    }
    free(hyp);
    for (int r = 0; r < o->n_refs; r++)
        free(ref[r]);
    return rc;
}

// One --pairs line → pair i; refs may be "refs": [..] or "ref": "..".
static int parse_pair(json_t *obj, const char *path, size_t lineno, input *in, size_t i) {
    json_t *h = json_object_get(obj, "hyp"), *rs = json_object_get(obj, "refs");
    if (!rs)
        rs = json_object_get(obj, "ref");
    size_t nr = json_is_array(rs) ? json_array_size(rs) : json_is_string(rs) ? 1 : 0;
    if (!json_is_object(obj) || !json_is_string(h) || nr == 0 || nr > MAX_REFS) {
        fprintf(stderr, "sqz score: %s:%zu: expected {\"hyp\": string, \"refs\": [1..%d strings]}\n",
                path, lineno, MAX_REFS);
        return 1;
    }
    const char **rp = in->ref_ptrs + i * MAX_REFS;
    for (size_t k = 0; k < nr; k++) {
        json_t *r = json_is_array(rs) ? json_array_get(rs, k) : rs;
        if (!json_is_string(r)) {
            fprintf(stderr, "sqz score: %s:%zu: refs[%zu] is not a string\n", path, lineno, k);
            return 1;
        }
        rp[k] = json_string_value(r);
    }
    in->pairs[i] = (sqz_text_pair){json_string_value(h), rp, nr};
    return 0;
}

static int read_pairs(const char *path, input *in) {
    size_t len, n_lines;
    if (sqz_read_file(path, &in->bufs[0], &len) != SQZ_OK)
        return cli_fail("score");
    char **lines = split_lines(in->bufs[0], len, &n_lines);
    in->json = json_array();
    in->pairs = calloc(n_lines ? n_lines : 1, sizeof *in->pairs);
    in->ref_ptrs = calloc((n_lines ? n_lines : 1) * MAX_REFS, sizeof *in->ref_ptrs);
    int rc = !lines || !in->json || !in->pairs || !in->ref_ptrs;
    for (size_t l = 0; !rc && l < n_lines; l++) {
        if (strspn(lines[l], " \t") == strlen(lines[l]))
            continue;
        json_error_t err;
        json_t *obj = json_loads(lines[l], JSON_REJECT_DUPLICATES, &err);
        if (!obj) {
            fprintf(stderr, "sqz score: %s:%zu: malformed JSON: %s (column %d)\n", path, l + 1,
                    err.text, err.column);
            rc = 1;
            break;
        }
        json_array_append_new(in->json, obj);
        rc = parse_pair(obj, path, l + 1, in, in->n++);
    }
    if (!rc && in->n == 0) {
        fprintf(stderr, "sqz score: %s has no pairs\n", path);
        rc = 1;
    }
    free(lines);
    return rc;
}

// ---- output ------------------------------------------------------------------------------------
static void emit(json_t *obj) {
    char *s = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(17));
    puts(s ? s : "{}");
    free(s);
    json_decref(obj);
}

static json_t *num(double v) { // integers print as integers, like Python's int statistics
    return (v == floor(v) && fabs(v) < 9e15) ? json_integer((json_int_t)v) : json_real(v);
}

static int do_bleu(const opts *o, const input *in) {
    sqz_bleu_opts bo = o->bleu;
    size_t count = o->sentence ? in->n : 1;
    if (o->sentence)
        bo.effective_order = true;
    sqz_bleu_result r;
    char line[256];
    for (size_t i = 0; i < count; i++) {
        if (sqz_bleu_corpus(o->sentence ? &in->pairs[i] : in->pairs, o->sentence ? 1 : in->n, &bo, &r))
            return cli_fail("score");
        sqz_bleu_format(&r, line, sizeof line);
        if (!o->json) {
            puts(line);
            if (i + 1 == count)
                printf("%s\n", r.signature);
            continue;
        }
        json_t *c = json_array(), *t = json_array(), *p = json_array();
        for (int k = 0; k < SQZ_BLEU_MAX_ORDER; k++) {
            json_array_append_new(c, num(r.counts[k]));
            json_array_append_new(t, num(r.totals[k]));
            json_array_append_new(p, json_real(r.precisions[k]));
        }
        emit(json_pack("{s:s, s:f, s:o, s:o, s:o, s:f, s:I, s:I, s:s, s:s}", "name", "BLEU", "score",
                       r.score, "counts", c, "totals", t, "precisions", p, "bp", r.bp, "sys_len",
                       (json_int_t)r.sys_len, "ref_len", (json_int_t)r.ref_len, "signature",
                       r.signature, "formatted", line));
    }
    return 0;
}

static int do_chrf(const opts *o, const input *in, int word_order) {
    sqz_chrf_opts co;
    sqz_chrf_opts_default(&co);
    co.word_order = word_order;
    co.lowercase = o->bleu.lowercase;
    size_t count = o->sentence ? in->n : 1;
    for (size_t i = 0; i < count; i++) {
        sqz_chrf_result r;
        if (sqz_chrf_corpus(o->sentence ? &in->pairs[i] : in->pairs, o->sentence ? 1 : in->n, &co, &r))
            return cli_fail("score");
        char line[64];
        snprintf(line, sizeof line, "%s = %.2f", r.name, r.score);
        if (o->json)
            emit(json_pack("{s:s, s:f, s:s, s:s}", "name", r.name, "score", r.score, "signature",
                           r.signature, "formatted", line));
        else if (puts(line), i + 1 == count)
            printf("%s\n", r.signature);
    }
    return 0;
}

static json_t *prf(const sqz_rouge_prf *p) {
    return json_pack("{s:f, s:f, s:f}", "precision", p->precision, "recall", p->recall, "fmeasure",
                     p->fmeasure);
}

static int do_rouge(const opts *o, const input *in) {
    size_t count = o->sentence ? in->n : 1;
    for (size_t i = 0; i < count; i++) {
        sqz_rouge_result r;
        sqz_status st = o->sentence ? sqz_rouge_sentence(&in->pairs[i], o->stem, &r)
                                    : sqz_rouge_corpus(in->pairs, in->n, o->stem, &r);
        if (st)
            return cli_fail("score");
        if (o->json) {
            emit(json_pack("{s:o, s:o, s:o, s:o}", "rouge1", prf(&r.rouge1), "rouge2", prf(&r.rouge2),
                           "rougeL", prf(&r.rougeL), "rougeLsum", prf(&r.rougeLsum)));
            continue;
        }
        const sqz_rouge_prf *v[4] = {&r.rouge1, &r.rouge2, &r.rougeL, &r.rougeLsum};
        const char *names[4] = {"rouge1", "rouge2", "rougeL", "rougeLsum"};
        for (int k = 0; k < 4; k++)
            printf("%-9s P = %.4f R = %.4f F = %.4f\n", names[k], v[k]->precision, v[k]->recall,
                   v[k]->fmeasure);
    }
    if (!o->json)
        printf("rouge-score 0.1.2|stemmer:%s|mean over %zu segments\n", o->stem ? "porter" : "no", in->n);
    return 0;
}

typedef sqz_status (*score_fn)(const sqz_text_pair *, double *);

// METEOR, exact match, edit similarity: a single number per segment, corpus = mean.
static int do_scalar(const opts *o, const input *in, const char *name, score_fn sent,
                     const sqz_meteor_opts *mo) {
    double sum = 0.0;
    for (size_t i = 0; i < in->n; i++) {
        double s;
        sqz_status st = mo ? sqz_meteor_sentence(&in->pairs[i], mo, &s) : sent(&in->pairs[i], &s);
        if (st) {
            fprintf(stderr, "sqz score: segment %zu: %s\n", i + 1, sqz_last_error());
            return 1;
        }
        sum += s;
        if (o->sentence && o->json)
            emit(mo ? json_pack("{s:s, s:f, s:b}", "name", name, "score", s, "wordnet", mo->wordnet != NULL)
                    : json_pack("{s:s, s:f}", "name", name, "score", s));
        else if (o->sentence)
            printf("%s = %.4f\n", name, s);
    }
    double mean = sum / (double)in->n;
    if (o->sentence)
        return 0;
    if (o->json)
        emit(mo ? json_pack("{s:s, s:f, s:b}", "name", name, "score", mean, "wordnet", mo->wordnet != NULL)
                : json_pack("{s:s, s:f}", "name", name, "score", mean));
    else
        printf("%s = %.4f (mean over %zu segments)\n", name, mean, in->n);
    return 0;
}

static int do_meteor(const opts *o, const input *in) {
    sqz_meteor_opts mo;
    sqz_meteor_opts_default(&mo);
    sqz_wordnet *wn = NULL;
    const char *dir = o->wordnet ? o->wordnet : sqz_wordnet_default_dir();
    if (sqz_wordnet_open(dir, &wn) != SQZ_OK) {
        if (o->wordnet) // asked for explicitly: an error
            return cli_fail("score");
        fprintf(stderr, "sqz score: note: no WordNet (%s); METEOR uses exact and stem matches only\n",
                sqz_last_error());
    }
    mo.wordnet = wn;
    int rc = do_scalar(o, in, "METEOR", NULL, &mo);
    sqz_wordnet_free(wn);
    return rc;
}

static int do_codebleu(const opts *o, const input *in) {
    sqz_codebleu_flavor fl = !strcmp(o->flavor, "pypi") ? SQZ_CODEBLEU_PYPI : SQZ_CODEBLEU_CODEXGLUE;
    size_t nr = in->pairs[0].n_refs;
    for (size_t i = 1; i < in->n; i++)
        if (in->pairs[i].n_refs != nr) {
            fprintf(stderr, "sqz score: CodeBLEU needs the same number of references per segment\n");
            return 1;
        }
    const char **hyps = calloc(in->n, sizeof *hyps), **refs = calloc(in->n * nr, sizeof *refs);
    int rc = !hyps || !refs;
    for (size_t i = 0; !rc && i < in->n; i++) {
        hyps[i] = in->pairs[i].hyp;
        for (size_t r = 0; r < nr; r++)
            refs[i * nr + r] = in->pairs[i].refs[r];
    }
    size_t count = o->sentence ? in->n : 1;
    for (size_t i = 0; !rc && i < count; i++) {
        sqz_codebleu_result r;
        size_t off = o->sentence ? i : 0, n = o->sentence ? 1 : in->n;
        if (sqz_codebleu_corpus(o->lang, fl, NULL, hyps + off, refs + off * nr, (int64_t)n, (int)nr, &r)) {
            rc = cli_fail("score");
            break;
        }
        if (o->json)
            emit(json_pack("{s:f, s:f, s:f, s:f, s:f}", "codebleu", r.codebleu, "ngram_match",
                           r.ngram_match, "weighted_ngram_match", r.weighted_ngram_match,
                           "syntax_match", r.syntax_match, "dataflow_match", r.dataflow_match));
        else
            printf("CodeBLEU = %.4f (ngram %.4f, weighted %.4f, syntax %.4f, dataflow %.4f)\n",
                   r.codebleu, r.ngram_match, r.weighted_ngram_match, r.syntax_match, r.dataflow_match);
    }
    free(hyps);
    free(refs);
    return rc;
}

// ---- options -----------------------------------------------------------------------------------
static bool lang_ok(const char *l) {
    return sqz_codebleu_lang_name(l) != NULL;
}

static int parse_enum(const char *opt, const char *v, const char *const *names, int n, int *out) {
    for (int i = 0; i < n; i++)
        if (v && !strcmp(v, names[i]))
            return *out = i, 1;
    cli_usage_error("score", "unknown %s '%s'", opt, v ? v : "(nothing)");
    return 0;
}

static int parse_args(int argc, char **argv, opts *o) {
    static const char *const toks[] = {"13a", "intl", "char", "none"};
    static const char *const smooth[] = {"exp", "floor", "add-k", "none"};
    sqz_bleu_opts_default(&o->bleu);
    o->flavor = "codexglue";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int e;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return usage(stdout), -1;
        else if (!strcmp(a, "--sentence"))
            o->sentence = true;
        else if (!strcmp(a, "--json"))
            o->json = true;
        else if (!strcmp(a, "--stem"))
            o->stem = true;
        else if (!strcmp(a, "--lowercase"))
            o->bleu.lowercase = true;
        else if (!v)
            return cli_usage_error("score", "%s needs a value (or is unknown)", a);
        else if (i++, !strcmp(a, "--metric"))
            o->metric = v;
        else if (!strcmp(a, "--hyp"))
            o->hyp = v;
        else if (!strcmp(a, "--ref")) {
            if (o->n_refs == MAX_REFS)
                return cli_usage_error("score", "at most %d --ref files", MAX_REFS);
            o->refs[o->n_refs++] = v;
        } else if (!strcmp(a, "--pairs"))
            o->pairs = v;
        else if (!strcmp(a, "--lang"))
            o->lang = v;
        else if (!strcmp(a, "--wordnet"))
            o->wordnet = v;
        else if (!strcmp(a, "--flavor")) {
            if (strcmp(v, "codexglue") && strcmp(v, "pypi"))
                return cli_usage_error("score", "unknown --flavor '%s' (codexglue, pypi)", v);
            o->flavor = v;
        } else if (!strcmp(a, "--tokenize")) {
            if (!parse_enum("--tokenize", v, toks, 4, &e))
                return 2;
            o->bleu.tokenize = (sqz_bleu_tokenizer)e;
        } else if (!strcmp(a, "--smooth")) {
            if (!parse_enum("--smooth", v, smooth, 4, &e))
                return 2;
            o->bleu.smooth = (sqz_bleu_smooth)e;
        } else if (!strcmp(a, "--smooth-value")) {
            if (!cli_parse_double("score", a, v, &o->bleu.smooth_value))
                return 2;
        } else
            return cli_usage_error("score", "unknown option '%s'", a);
    }
    if (!o->metric)
        return cli_usage_error("score", "--metric is required");
    if (!o->pairs == !o->hyp || (o->hyp && !o->n_refs) || (o->pairs && o->n_refs))
        return cli_usage_error("score", "give either --hyp FILE with --ref FILE..., or --pairs FILE");
    if (!strcmp(o->metric, "codebleu") && !o->lang)
        return cli_usage_error("score", "--metric codebleu needs --lang");
    if (o->lang && !lang_ok(o->lang))
        return cli_usage_error("score", "unknown --lang '%s' (python, java, c_sharp/cs, c, cpp, "
                                        "javascript)", o->lang);
    return 0;
}

int sqz_cmd_score(int argc, char **argv) {
    opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    static const char *const metrics[] = {"bleu", "chrf", "chrf++", "rouge", "meteor",
                                          "codebleu", "em", "editsim"};
    int m;
    if (!parse_enum("--metric", o.metric, metrics, 8, &m))
        return 2;
    input in = {0};
    rc = o.pairs ? read_pairs(o.pairs, &in) : read_files(&o, &in);
    if (!rc) {
        switch (m) {
        case 0: rc = do_bleu(&o, &in); break;
        case 1: rc = do_chrf(&o, &in, 0); break;
        case 2: rc = do_chrf(&o, &in, 2); break;
        case 3: rc = do_rouge(&o, &in); break;
        case 4: rc = do_meteor(&o, &in); break;
        case 5: rc = do_codebleu(&o, &in); break;
        case 6: rc = do_scalar(&o, &in, "EM", sqz_exact_match_sentence, NULL); break;
        default: rc = do_scalar(&o, &in, "EditSim", sqz_edit_similarity_sentence, NULL); break;
        }
    }
    input_free(&in);
    return rc;
}

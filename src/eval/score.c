// Scoring generations: sandbox runs + pass@k for exec tasks, then CodeBLEU / BLEU / exact match /
// edit similarity on the first sample of each item (docs/tasks.md lists which task reports what).
#define _GNU_SOURCE
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/eval_internal.h"
#include "sqz/metrics.h"
#include "sqz/store.h"

void sqz_task_scores_clear(sqz_task_scores *s) {
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->item_json ? s->item_json[i] : NULL);
    for (size_t i = 0; i < s->n_metrics; i++)
        free(s->names[i]);
    free(s->outcome), free(s->item_json), free(s->names), free(s->values);
    memset(s, 0, sizeof *s);
}

static sqz_status add_metric(sqz_task_scores *s, const char *name, double v) {
    char **nm = realloc(s->names, (s->n_metrics + 1) * sizeof *nm);
    if (nm)
        s->names = nm;
    double *vs = nm ? realloc(s->values, (s->n_metrics + 1) * sizeof *vs) : NULL;
    if (vs)
        s->values = vs;
    SQZ_FAIL_IF(!nm || !vs || !(nm[s->n_metrics] = strdup(name)), SQZ_ERR_NOMEM, "scores: out of memory");
    vs[s->n_metrics++] = v;
    return SQZ_OK;
}

// ---- exec tasks ------------------------------------------------------------------------------------
static const char *const k_py_argv[] = {"/usr/bin/python3", "-I", "main.py", NULL};

// Run every sample; passed[i] = passing samples of item i, first[i] = whether sample 0 passed.
static sqz_status run_exec(const sqz_task *t, const char *const *gens, int ns, int workers, int *passed, int *ok_out) {
    size_t n = t->n_items * (size_t)ns;
    sqz_sandbox_job *jobs = calloc(n ? n : 1, sizeof *jobs);
    sqz_code_job *cj = calloc(n ? n : 1, sizeof *cj);
    char **progs = calloc(n ? n : 1, sizeof *progs);
    sqz_sandbox_file *files = calloc(n ? n : 1, sizeof *files);
    sqz_sandbox_result *res = calloc(n ? n : 1, sizeof *res);
    sqz_status st = jobs && cj && progs && files && res ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "scores: out of memory");
    const sqz_sandbox_limits lim = {.timeout_s = t->timeout_s}; // 0 fields: the language's defaults
    for (size_t j = 0; j < n && st == SQZ_OK; j++) {
        size_t i = j / (size_t)ns;
        if (t->code) {
            st = sqz_code_job_make(t->code, t->code_index[i], gens[j], &lim, &cj[j]);
            jobs[j] = cj[j].job;
        } else { // MBPP: the generated code, then the setup code and asserts
            if (asprintf(&progs[j], "%s\n%s", gens[j], t->item_tests[i]) < 0) {
                progs[j] = NULL;
                st = sqz_error(SQZ_ERR_NOMEM, "scores: out of memory");
                break;
            }
            files[j] = (sqz_sandbox_file){"main.py", progs[j], strlen(progs[j])};
            jobs[j] = (sqz_sandbox_job){.argv = k_py_argv, .files = &files[j], .n_files = 1, .limits = lim};
        }
    }
    if (st == SQZ_OK && n)
        st = sqz_sandbox_run_many(jobs, n, workers, res);
    for (size_t j = 0; st == SQZ_OK && j < n; j++) {
        int ok = res[j].outcome == SQZ_OUTCOME_PASSED;
        passed[j / (size_t)ns] += ok;
        ok_out[j] = ok;
    }
    for (size_t j = 0; j < n && res; j++)
        sqz_sandbox_result_clear(&res[j]);
    for (size_t j = 0; j < n && cj; j++)
        if (t->code)
            sqz_code_job_free(&cj[j]);
    for (size_t j = 0; j < n && progs; j++)
        free(progs[j]);
    free(jobs), free(cj), free(progs), free(files), free(res);
    return st;
}

// ---- text metrics --------------------------------------------------------------------------------
// The hypothesis text scored: translations are stripped (the prompt ends "C#:"), completions and
// repairs right-stripped; exec tasks with a context get context + generation.
static char *hyp_text(const sqz_task *t, const sqz_task_item *it, const char *gen) {
    const char *a = gen, *e = gen + strlen(gen);
    if (t->kind == SQZ_EVAL_TRANSLATION)
        while (*a && isspace((unsigned char)*a))
            a++;
    if (t->kind != SQZ_EVAL_EXEC || !it->context)
        while (e > a && isspace((unsigned char)e[-1]))
            e--;
    char *s = NULL;
    if (asprintf(&s, "%s%.*s", it->context ? it->context : "", (int)(e - a), a) < 0)
        return NULL;
    return s;
}

static char *ref_text(const sqz_task_item *it) {
    char *s = NULL;
    if (asprintf(&s, "%s%s", it->context ? it->context : "", it->reference) < 0)
        return NULL;
    return s;
}

static sqz_status item_metrics(const sqz_task *t, const char *hyp, const char *ref, json_t *o) {
    const char *refs[1] = {ref};
    sqz_text_pair p = {hyp, refs, 1};
    double em = 0, es = 0;
    sqz_codebleu_result cb;
    SQZ_TRY(sqz_exact_match_sentence(&p, &em));
    SQZ_TRY(sqz_edit_similarity_sentence(&p, &es));
    SQZ_TRY(sqz_codebleu_corpus(t->code_lang, sqz_task_codebleu_flavor(t), NULL, &hyp, &ref, 1, 1, &cb));
    json_object_set_new(o, "exact_match", json_real(em));
    json_object_set_new(o, "edit_sim", json_real(es));
    json_object_set_new(o, "codebleu", json_real(cb.codebleu));
    if (t->kind == SQZ_EVAL_TRANSLATION) {
        sqz_bleu_opts bo;
        sqz_bleu_result br;
        sqz_bleu_opts_default(&bo);
        bo.effective_order = true;
        SQZ_TRY(sqz_bleu_corpus(&p, 1, &bo, &br));
        json_object_set_new(o, "bleu", json_real(br.score));
    }
    return SQZ_OK;
}

static sqz_status corpus_metrics(const sqz_task *t, char **hyps, char **refs, sqz_task_scores *s) {
    size_t n = t->n_items;
    sqz_text_pair *pairs = malloc(n * sizeof *pairs);
    SQZ_FAIL_IF(!pairs, SQZ_ERR_NOMEM, "scores: out of memory");
    for (size_t i = 0; i < n; i++)
        pairs[i] = (sqz_text_pair){hyps[i], (const char *const *)&refs[i], 1};
    sqz_codebleu_result cb;
    double em = 0, es = 0;
    sqz_status st = sqz_codebleu_corpus(t->code_lang, sqz_task_codebleu_flavor(t), NULL, (const char *const *)hyps,
                                        (const char *const *)refs, (int64_t)n, 1, &cb);
    if (st == SQZ_OK)
        st = sqz_exact_match_corpus(pairs, n, &em);
    if (st == SQZ_OK)
        st = sqz_edit_similarity_corpus(pairs, n, &es);
    if (st == SQZ_OK)
        st = add_metric(s, "codebleu", cb.codebleu);
    if (st == SQZ_OK && t->kind == SQZ_EVAL_TRANSLATION) {
        sqz_bleu_opts bo;
        sqz_bleu_result br;
        sqz_bleu_opts_default(&bo);
        st = sqz_bleu_corpus(pairs, n, &bo, &br);
        if (st == SQZ_OK)
            st = add_metric(s, "bleu", br.score);
    }
    if (st == SQZ_OK && t->kind != SQZ_EVAL_EXEC) {
        st = add_metric(s, "codebleu_ngram", cb.ngram_match);
        if (st == SQZ_OK)
            st = add_metric(s, "codebleu_syntax", cb.syntax_match);
        if (st == SQZ_OK)
            st = add_metric(s, "codebleu_dataflow", cb.dataflow_match);
    }
    if (st == SQZ_OK)
        st = add_metric(s, "exact_match", em);
    if (st == SQZ_OK)
        st = add_metric(s, "edit_sim", es);
    free(pairs);
    return st;
}

// Primary metric first: pass@1 for exec tasks, CodeBLEU for translation and completion.
static sqz_status score_all(const sqz_task *t, const char *const *gens, int ns, int workers, sqz_task_scores *s,
                            char **hyps, char **refs, int *passed, int *ok) {
    size_t n = t->n_items;
    if (t->kind == SQZ_EVAL_EXEC) {
        SQZ_TRY(run_exec(t, gens, ns, workers, passed, ok));
        static const int ks[] = {1, 10, 100};
        for (int k = 0; k < 3; k++) {
            if (ks[k] > ns)
                break;
            double sum = 0;
            for (size_t i = 0; i < n; i++)
                sum += sqz_pass_at_k(ns, passed[i], ks[k]);
            char name[16];
            snprintf(name, sizeof name, "pass@%d", ks[k]);
            SQZ_TRY(add_metric(s, name, n ? sum / (double)n : NAN));
        }
    }
    for (size_t i = 0; i < n; i++) {
        hyps[i] = hyp_text(t, &t->items[i], gens[i * (size_t)ns]);
        refs[i] = ref_text(&t->items[i]);
        SQZ_FAIL_IF(!hyps[i] || !refs[i], SQZ_ERR_NOMEM, "scores: out of memory");
        json_t *o = json_object();
        if (t->kind == SQZ_EVAL_EXEC) {
            json_object_set_new(o, "passed", json_integer(passed[i]));
            json_object_set_new(o, "n", json_integer(ns));
        }
        sqz_status st = item_metrics(t, hyps[i], refs[i], o);
        s->item_json[i] = st == SQZ_OK ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(10)) : NULL;
        for (size_t j = i * (size_t)ns; j < (i + 1) * (size_t)ns; j++)
            s->outcome[j] = t->kind == SQZ_EVAL_EXEC ? (ok[j] ? SQZ_OUTCOME_PASS : SQZ_OUTCOME_FAIL) : SQZ_OUTCOME_NONE;
        json_decref(o);
        SQZ_TRY_CTX(st, "%s item %s: ", t->name, t->items[i].id);
        SQZ_FAIL_IF(!s->item_json[i], SQZ_ERR_NOMEM, "scores: out of memory");
    }
    return n ? corpus_metrics(t, hyps, refs, s) : SQZ_OK;
}

sqz_status sqz_task_score(const sqz_task *t, const char *const *gens, int n_samples, int n_workers,
                          sqz_task_scores *out) {
    memset(out, 0, sizeof *out);
    SQZ_FAIL_IF(t->kind == SQZ_EVAL_PERPLEXITY || t->kind == SQZ_EVAL_DIVERGENCE, SQZ_ERR_ARG,
                "%s: not a generation task", t->name);
    SQZ_FAIL_IF(n_samples < 1, SQZ_ERR_ARG, "%s: n_samples must be >= 1", t->name);
    size_t n = t->n_items, n1 = n ? n : 1, ns1 = n1 * (size_t)n_samples;
    out->n = n;
    out->outcome = calloc(ns1, sizeof *out->outcome);
    out->item_json = calloc(n1, sizeof *out->item_json);
    char **hyps = calloc(n1, sizeof *hyps), **refs = calloc(n1, sizeof *refs);
    int *passed = calloc(n1, sizeof *passed), *ok = calloc(ns1, sizeof *ok);
    sqz_status st = out->outcome && out->item_json && hyps && refs && passed && ok
                        ? score_all(t, gens, n_samples, n_workers, out, hyps, refs, passed, ok)
                        : sqz_error(SQZ_ERR_NOMEM, "scores: out of memory");
    for (size_t i = 0; i < n && hyps && refs; i++)
        free(hyps[i]), free(refs[i]);
    free(hyps), free(refs), free(passed), free(ok);
    if (st != SQZ_OK)
        sqz_task_scores_clear(out);
    return st;
}

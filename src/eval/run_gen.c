// Generation tasks in the runner: prompt → tokens (left-truncated to fit), generate with the task's
// stop rules, cut, score; per-request latency, TTFT, prefill/decode throughput and cost.
//
// Trailing whitespace of a prompt is not fed to the model (as bigcode-evaluation-harness does with
// HumanEval's prompt.strip()): BPE vocabularies merge "\n" with the next line's indentation, so a
// prompt ending in a bare "\n" sits on a token boundary the model never saw in training, and
// small models then emit a stop sequence at once. The model regenerates that whitespace; the
// completion is the text after the original prompt (the generated text minus the whitespace that
// was held back, when it starts with it), and the stop rules apply to that.
#define _GNU_SOURCE
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/runner.h"
#include "sqz/store.h"

typedef struct gen_state {
    const sqz_task *task;
    const char *held;   // the prompt's trailing whitespace, not fed to the model
    size_t n_held;
    sqz_detok *dt;
    char *buf;
    size_t len, cap;
    double t0, ttft;
    sqz_status st;
} gen_state;

static int append(gen_state *g, const char *s, size_t n) {
    if (g->len + n + 1 > g->cap) {
        size_t cap = (g->len + n + 1) * 2;
        char *b = realloc(g->buf, cap);
        if (!b) {
            g->st = sqz_error(SQZ_ERR_NOMEM, "out of memory");
            return 1;
        }
        g->buf = b, g->cap = cap;
    }
    memcpy(g->buf + g->len, s, n);
    g->len += n;
    g->buf[g->len] = 0;
    return 0;
}

static int on_token(void *user, int32_t id) {
    gen_state *g = user;
    if (g->ttft < 0)
        g->ttft = sqz_time_now() - g->t0;
    const char *s;
    size_t n;
    g->st = sqz_detok_push(g->dt, id, &s, &n);
    return g->st != SQZ_OK || append(g, s, n);
}

// The completion so far: the generated text after the held-back whitespace when it starts with
// it. *pending is set while the generated text is still a proper prefix of that whitespace.
static const char *completion_view(const gen_state *g, size_t *len, bool *pending) {
    const char *b = g->buf ? g->buf : "";
    size_t k = g->n_held < g->len ? g->n_held : g->len;
    *pending = false;
    if (g->n_held && memcmp(b, g->held, k) == 0) {
        *pending = g->len < g->n_held;
        *len = g->len - k;
        return b + k;
    }
    *len = g->len;
    return b;
}

static int should_stop(void *user, const int32_t *ids, int64_t n) {
    gen_state *g = user;
    size_t len;
    bool pending;
    const char *v = completion_view(g, &len, &pending);
    return !pending && sqz_task_stop_at(g->task, v, len) >= 0;
}

// Tokenize a prompt and keep its last `keep` tokens (BOS, when the tokenizer adds one, stays first).
static sqz_status prompt_ids(const sqz_tokenizer *tok, const char *prompt, int64_t keep, int32_t **ids, int64_t *n,
                             bool *truncated) {
    size_t nn = 0;
    SQZ_TRY(sqz_tokenizer_encode_ex(tok, prompt, strlen(prompt), SQZ_TOK_ADD_SPECIAL | SQZ_TOK_NO_PARSE_SPECIAL, ids, &nn));
    *n = (int64_t)nn;
    *truncated = *n > keep;
    if (*truncated) {
        bool bos = sqz_tokenizer_adds_bos(tok) && nn && (*ids)[0] == sqz_tokenizer_bos(tok);
        int64_t tail = bos ? keep - 1 : keep;
        memmove(*ids + (bos ? 1 : 0), *ids + (*n - tail), (size_t)tail * sizeof **ids);
        *n = keep;
    }
    return SQZ_OK;
}

// One sample: generate, record timing, cut the text at the task's stop rule.
static sqz_status gen_one(eval_run *run, const sqz_task *task, const sqz_sampler_params *sp, const int32_t *ids,
                          int64_t n, int max_new, const char *held, sqz_eval_sample *s) {
    gen_state g = {.task = task, .held = held, .n_held = strlen(held), .ttft = -1};
    sqz_sampler *smp = NULL;
    int32_t *out = malloc((size_t)max_new * sizeof *out);
    int64_t n_out = 0;
    SQZ_FAIL_IF(!out, SQZ_ERR_NOMEM, "out of memory");
    sqz_status st = sqz_sampler_new(&smp, sp, run->n_vocab);
    if (st == SQZ_OK)
        st = sqz_detok_new(&g.dt, run->tok, true);
    sqz_generate_opts go = {.n_predict = max_new, .on_token = on_token, .should_stop = should_stop, .user = &g};
    g.t0 = sqz_time_now();
    if (st == SQZ_OK)
        st = sqz_generate(run->ctx, smp, ids, n, &go, out, max_new, &n_out);
    double lat = sqz_time_now() - g.t0;
    if (st == SQZ_OK)
        st = g.st;
    const char *rest;
    size_t rn;
    if (st == SQZ_OK && (st = sqz_detok_flush(g.dt, &rest, &rn)) == SQZ_OK && append(&g, rest, rn))
        st = g.st;
    if (st == SQZ_OK) {
        size_t len;
        bool pending;
        const char *v = completion_view(&g, &len, &pending);
        long cut = sqz_task_stop_at(task, v, len);
        s->generated = strndup(v, cut >= 0 ? (size_t)cut : len);
        s->latency_s = lat, s->ttft_s = g.ttft >= 0 ? g.ttft : lat;
        s->n_prompt = n, s->n_gen = n_out;
        if (!s->generated)
            st = sqz_error(SQZ_ERR_NOMEM, "out of memory");
    }
    sqz_detok_free(g.dt);
    sqz_sampler_free(smp);
    free(out), free(g.buf);
    return st;
}

// Latency percentiles of the samples whose prompt length is in [lo, hi) (all when hi == 0).
static sqz_status latency_metrics(sqz_eval_task_result *t, const char *suffix, int64_t lo, int64_t hi) {
    double *v = malloc((t->n_samples ? t->n_samples : 1) * sizeof *v);
    SQZ_FAIL_IF(!v, SQZ_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < t->n_samples; i++)
        if (hi == 0 || (t->samples[i].n_prompt >= lo && t->samples[i].n_prompt < hi))
            v[k++] = t->samples[i].latency_s;
    sqz_status st = SQZ_OK;
    static const double qs[] = {0.5, 0.9, 0.99};
    static const char *const qn[] = {"p50", "p90", "p99"};
    for (int q = 0; k && q < 3 && st == SQZ_OK; q++) {
        char name[96];
        snprintf(name, sizeof name, "latency_%s_s%s", qn[q], suffix);
        st = eval_metric(t, name, sqz_latency_percentile(v, k, qs[q]), -1, false);
    }
    free(v);
    return st;
}

static sqz_status systems_metrics(const sqz_eval_opts *o, sqz_eval_task_result *t) {
    double s_ttft = 0, s_prompt = 0, s_dec_t = 0, s_dec_n = 0, s_lat = 0, s_gen = 0;
    double *ttft = malloc((t->n_samples ? t->n_samples : 1) * sizeof *ttft);
    SQZ_FAIL_IF(!ttft, SQZ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < t->n_samples; i++) {
        const sqz_eval_sample *s = &t->samples[i];
        s_ttft += s->ttft_s, s_prompt += (double)s->n_prompt, s_lat += s->latency_s, s_gen += (double)s->n_gen;
        if (s->n_gen > 1)
            s_dec_t += s->latency_s - s->ttft_s, s_dec_n += (double)(s->n_gen - 1);
        ttft[i] = s->ttft_s;
    }
    double ttft50 = sqz_latency_percentile(ttft, t->n_samples, 0.5);
    free(ttft);
    SQZ_TRY(eval_metric(t, "ttft_p50_s", ttft50, -1, false));
    SQZ_TRY(eval_metric(t, "prefill_tok_s", s_ttft > 0 ? s_prompt / s_ttft : NAN, 1, false));
    SQZ_TRY(eval_metric(t, "decode_tok_s", s_dec_t > 0 ? s_dec_n / s_dec_t : NAN, 1, false));
    double gen_tps = s_lat > 0 ? s_gen / s_lat : NAN;
    SQZ_TRY(eval_metric(t, "gen_tok_s", gen_tps, 1, false));
    SQZ_TRY(latency_metrics(t, "", 0, 0));
    static const int64_t edges[] = {0, 64, 256, 1024, INT64_MAX};
    for (int b = 0; b < 4; b++) {
        char suffix[48];
        if (edges[b + 1] == INT64_MAX)
            snprintf(suffix, sizeof suffix, "_prompt_%lld_up", (long long)edges[b]);
        else
            snprintf(suffix, sizeof suffix, "_prompt_%lld_%lld", (long long)edges[b], (long long)edges[b + 1] - 1);
        SQZ_TRY(latency_metrics(t, suffix, edges[b], edges[b + 1]));
    }
    if (o->price_per_hour > 0) // $/h ÷ (generated tokens/s · 3600 s/h) · 1000
        SQZ_TRY(eval_metric(t, "cost_per_1k_gen_tokens_usd", o->price_per_hour / (gen_tps * 3600.0) * 1000.0, -1, false));
    SQZ_TRY(eval_metric(t, "gen_tokens", s_gen, 0, false));
    return eval_metric(t, "prompt_tokens", s_prompt, 0, false);
}

// The nucleus actually used: 1 when greedy, else top_p (0 = the default 0.95).
static double eval_top_p(const sqz_eval_opts *o) { return o->temp <= 0 ? 1.0 : o->top_p > 0 ? o->top_p : 0.95; }

static sqz_status generate_all(const sqz_eval_opts *o, eval_run *run, const sqz_task *task, sqz_eval_task_result *t,
                               int ns, int *n_truncated) {
    size_t n = sqz_task_count(task);
    int64_t n_ctx = sqz_ctx_n_ctx(run->ctx);
    int max_new = o->max_tokens > 0 ? o->max_tokens : sqz_task_max_tokens(task);
    if (max_new > n_ctx / 2)
        max_new = (int)(n_ctx / 2); // small contexts: keep room for the prompt
    if (max_new < 1)
        max_new = 1;
    sqz_sampler_params sp = sqz_sampler_default_params();
    sp.temp = o->temp, sp.top_k = o->temp > 0 ? o->top_k : 0, sp.top_p = (float)eval_top_p(o), sp.min_p = 0;
    for (size_t i = 0; i < n; i++) {
        const sqz_task_item *it = sqz_task_item_at(task, i);
        int32_t *ids = NULL;
        int64_t nid = 0;
        bool trunc = false;
        size_t plen = strlen(it->prompt), fed = plen;
        while (fed > 0 && strchr(" \t\r\n", it->prompt[fed - 1]))
            fed--;
        char *fed_prompt = strndup(it->prompt, fed);
        SQZ_FAIL_IF(!fed_prompt, SQZ_ERR_NOMEM, "out of memory");
        sqz_status pst = prompt_ids(run->tok, fed_prompt, n_ctx - max_new, &ids, &nid, &trunc);
        free(fed_prompt);
        SQZ_TRY(pst);
        *n_truncated += trunc;
        sqz_status st = SQZ_OK;
        for (int s = 0; s < ns && st == SQZ_OK; s++) {
            sqz_eval_sample *smp = &t->samples[i * (size_t)ns + (size_t)s];
            sp.seed = o->task.seed * 1000003u + (uint64_t)(i * (size_t)ns + (size_t)s);
            smp->item_id = strdup(it->id), smp->prompt = strdup(it->prompt), smp->reference = strdup(it->reference);
            st = !smp->item_id || !smp->prompt || !smp->reference ? sqz_error(SQZ_ERR_NOMEM, "out of memory")
                 : nid < 1 ? sqz_error(SQZ_ERR_ARG, "item %s: empty prompt", it->id)
                           : gen_one(run, task, &sp, ids, nid, max_new, it->prompt + fed, smp);
        }
        free(ids);
        SQZ_TRY_CTX(st, "item %s: ", it->id);
        if (o->progress)
            o->progress(o->user, sqz_task_name(task), i + 1, n);
    }
    return SQZ_OK;
}

sqz_status eval_generate(const sqz_eval_opts *o, eval_run *run, const sqz_task *task, sqz_eval_task_result *t) {
    int ns = o->n_samples > 0 ? o->n_samples : 1;
    size_t n = sqz_task_count(task), total = n * (size_t)ns;
    SQZ_FAIL_IF(ns > 1 && o->temp <= 0, SQZ_ERR_ARG, "%d samples per item need a temperature > 0", ns);
    SQZ_FAIL_IF(!(o->top_p >= 0 && o->top_p <= 1) || o->top_k < 0, SQZ_ERR_ARG,
                "top_p %g (want 0..1, 0 = default) / top_k %d (want >= 0)", o->top_p, o->top_k);
    t->samples = calloc(total ? total : 1, sizeof *t->samples);
    SQZ_FAIL_IF(!t->samples, SQZ_ERR_NOMEM, "out of memory");
    t->n_samples = total;
    int n_trunc = 0;
    SQZ_TRY(generate_all(o, run, task, t, ns, &n_trunc));
    const char **gens = malloc((total ? total : 1) * sizeof *gens);
    SQZ_FAIL_IF(!gens, SQZ_ERR_NOMEM, "out of memory");
    for (size_t j = 0; j < total; j++)
        gens[j] = t->samples[j].generated;
    sqz_task_scores sc;
    sqz_status st = sqz_task_score(task, gens, ns, o->sandbox_workers, &sc);
    free(gens);
    SQZ_TRY(st);
    for (size_t j = 0; j < total; j++) {
        t->samples[j].outcome = sc.outcome[j];
        t->samples[j].metrics_json = strdup(sc.item_json[j / (size_t)ns]);
    }
    for (size_t m = 0; m < sc.n_metrics && st == SQZ_OK; m++)
        st = eval_metric(t, sc.names[m], sc.values[m], 1, m == 0);
    sqz_task_scores_clear(&sc);
    SQZ_TRY(st);
    SQZ_TRY(eval_metric(t, "n_items", (double)n, 0, false));
    SQZ_TRY(eval_metric(t, "prompts_truncated", n_trunc, 0, false));
    return systems_metrics(o, t);
}

sqz_status eval_sampling_json(const sqz_eval_opts *o, sqz_eval_kind kind, int task_max_tokens, char **out) {
    json_t *j = json_object();
    if (kind == SQZ_EVAL_PERPLEXITY || kind == SQZ_EVAL_DIVERGENCE) {
        json_object_set_new(j, "mode", json_string("teacher-forced"));
    } else {
        json_object_set_new(j, "temperature", json_real(o->temp));
        json_object_set_new(j, "top_p", json_real(eval_top_p(o)));
        if (o->temp > 0 && o->top_k > 0) // absent when off, so older signatures stay valid
            json_object_set_new(j, "top_k", json_integer(o->top_k));
        json_object_set_new(j, "n", json_integer(o->n_samples > 0 ? o->n_samples : 1));
        json_object_set_new(j, "max_tokens", json_integer(o->max_tokens > 0 ? o->max_tokens : task_max_tokens));
        json_object_set_new(j, "prompt_truncation", json_string("left, keep BOS; max_tokens <= n_ctx/2"));
    }
    json_object_set_new(j, "n_ctx", json_integer(o->n_ctx));
    *out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    SQZ_FAIL_IF(!*out, SQZ_ERR_NOMEM, "out of memory");
    return SQZ_OK;
}

// Intrinsic tasks in the runner: perplexity (sqz_perplexity, llama-perplexity chunking) and KL
// divergence against a stored baseline, both over the held-out corpus text (or --text FILE).
#define _GNU_SOURCE
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/runner.h"

// Tokens of the evaluation text exactly as `sqz perplexity -f` tokenizes it, and the BOS id that
// replaces each chunk's first token.
static sqz_status text_tokens(const sqz_eval_opts *o, eval_run *run, int32_t **ids, int64_t *n, int32_t *bos) {
    char *text = NULL, path[1024];
    size_t len = 0, nn = 0;
    if (o->text_file) {
        SQZ_TRY(sqz_read_file(o->text_file, &text, &len));
    } else {
        sqz_corpus_default_path(o->task.data_dir, path, sizeof path);
        SQZ_TRY(sqz_corpus_heldout_text(path, &text, &len));
    }
    sqz_status st = sqz_tokenizer_encode(run->tok, text, len, true, ids, &nn);
    free(text);
    *n = (int64_t)nn;
    *bos = sqz_tokenizer_adds_bos(run->tok) ? sqz_tokenizer_bos(run->tok) : -1;
    return st;
}

static int64_t chunk_size(const sqz_eval_opts *o, const eval_run *run) {
    int64_t c = sqz_ctx_n_ctx(run->ctx);
    return o->n_ctx > 0 ? o->n_ctx : c < 512 ? c : 512;
}

// metric_json + {"chunk": c, "text": ..., extra...}
static sqz_status extend_metric_json(char **metric_json, const sqz_eval_opts *o, int64_t chunk, json_t *extra) {
    json_t *j = json_loads(*metric_json, 0, NULL);
    if (!j)
        j = json_object();
    json_object_set_new(j, "chunk", json_integer(chunk));
    json_object_set_new(j, "text", json_string(o->text_file ? o->text_file : "held-out corpus (sqz_corpus_is_heldout)"));
    if (extra)
        json_object_update(j, extra);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    SQZ_FAIL_IF(!s, SQZ_ERR_NOMEM, "out of memory");
    free(*metric_json);
    *metric_json = s;
    return SQZ_OK;
}

sqz_status eval_perplexity(const sqz_eval_opts *o, eval_run *run, sqz_eval_task_result *t) {
    int32_t *ids = NULL, bos;
    int64_t n = 0, chunk = chunk_size(o, run);
    sqz_status st = text_tokens(o, run, &ids, &n, &bos);
    if (st == SQZ_OK && o->task.limit > 0 && n > o->task.limit * chunk)
        n = o->task.limit * chunk; // --limit counts chunks
    sqz_ppl_result r;
    double t0 = sqz_time_now();
    if (st == SQZ_OK)
        st = sqz_perplexity(run->ctx, ids, n, chunk, bos, NULL, NULL, &r);
    double dt = sqz_time_now() - t0;
    free(ids);
    SQZ_TRY(st);
    SQZ_TRY(eval_metric(t, "perplexity", r.ppl, -1, true));
    SQZ_TRY(eval_metric(t, "perplexity_err", r.ppl_err, 0, false));
    SQZ_TRY(eval_metric(t, "n_chunks", (double)r.n_chunks, 0, false));
    SQZ_TRY(eval_metric(t, "n_scored", (double)r.n_scored, 0, false));
    return eval_metric(t, "prefill_tok_s", dt > 0 ? (double)(r.n_chunks * chunk) / dt : NAN, 1, false);
}

static sqz_status kl_metrics(sqz_eval_task_result *t, const sqz_kl_stats *s) {
    const struct { const char *name; double v; int dir; } m[] = {
        {"kld_mean", s->kld_mean, -1}, {"kld_err", s->kld_err, 0}, {"kld_max", s->kld_max, -1},
        {"kld_p99.9", s->kld_p999, -1}, {"kld_p99", s->kld_p99, -1}, {"kld_p95", s->kld_p95, -1},
        {"kld_p90", s->kld_p90, -1}, {"kld_median", s->kld_median, -1}, {"kld_p10", s->kld_p10, -1},
        {"kld_p5", s->kld_p05, -1}, {"kld_p1", s->kld_p01, -1}, {"kld_p0.1", s->kld_p001, -1},
        {"kld_min", s->kld_min, -1}, {"same_top", s->same_top, 1}, {"same_top_err", s->same_top_err, 0},
        {"dp_mean", s->dp_mean, 0}, {"dp_err", s->dp_err, 0}, {"dp_max", s->dp_max, 0}, {"dp_p99.9", s->dp_p999, 0},
        {"dp_p99", s->dp_p99, 0}, {"dp_p95", s->dp_p95, 0}, {"dp_p90", s->dp_p90, 0}, {"dp_p75", s->dp_p75, 0},
        {"dp_median", s->dp_median, 0}, {"dp_p25", s->dp_p25, 0}, {"dp_p10", s->dp_p10, 0}, {"dp_p5", s->dp_p05, 0},
        {"dp_p1", s->dp_p01, 0}, {"dp_p0.1", s->dp_p001, 0}, {"dp_min", s->dp_min, 0}, {"dp_rms", s->dp_rms, -1},
        {"dp_rms_err", s->dp_rms_err, 0}, {"ppl_q", s->ppl, -1}, {"ppl_q_err", s->ppl_err, 0},
        {"ppl_base", s->ppl_base, 0}, {"ln_ppl_ratio", s->ln_ppl_ratio, -1}, {"ln_ppl_ratio_err", s->ln_ppl_ratio_err, 0},
        {"n_tokens", (double)s->count, 0},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        SQZ_TRY(eval_metric(t, m[i].name, m[i].v, m[i].dir, i == 0));
    return SQZ_OK;
}

// Write the baseline of the model in `run` (tokens of the evaluation text, chunks as perplexity).
static sqz_status write_baseline(const sqz_eval_opts *o, eval_run *run, const char *path, sqz_eval_task_result *t) {
    int32_t *ids = NULL, bos;
    int64_t n = 0, chunk = chunk_size(o, run);
    SQZ_TRY(text_tokens(o, run, &ids, &n, &bos));
    int64_t nch = n / chunk;
    if (o->task.limit > 0 && nch > o->task.limit)
        nch = o->task.limit;
    double t0 = sqz_time_now();
    sqz_status st = sqz_kl_baseline_write(run->ctx, run->n_vocab, ids, n, chunk, nch, bos,
                                          o->kl_top_k > 0 ? o->kl_top_k : 32, path);
    free(ids);
    SQZ_TRY(st);
    if (t) {
        SQZ_TRY(eval_metric(t, "baseline_chunks", (double)nch, 0, false));
        SQZ_TRY(eval_metric(t, "prefill_tok_s", (double)(nch * chunk) / (sqz_time_now() - t0), 1, false));
    }
    return SQZ_OK;
}

// --kl-base-model: run the full model first when its baseline file does not exist yet.
static sqz_status ensure_baseline(const sqz_eval_opts *o) {
    FILE *f = fopen(o->kl_base, "rb");
    if (f) {
        fclose(f);
        return SQZ_OK;
    }
    eval_run base = {0};
    sqz_status st = sqz_model_load(&base.model, o->kl_base_model, NULL);
    if (st == SQZ_OK) {
        base.tok = sqz_model_tokenizer(base.model);
        base.n_vocab = sqz_model_get_config(base.model)->n_vocab;
        const sqz_model_config *cfg = sqz_model_get_config(base.model);
        int64_t n_ctx = o->n_ctx > 0 ? o->n_ctx : cfg->n_ctx_train > 0 && cfg->n_ctx_train < 2048 ? cfg->n_ctx_train : 2048;
        st = !base.tok ? sqz_error(SQZ_ERR_UNSUPPORTED, "%s: no usable tokenizer", o->kl_base_model)
                       : sqz_ctx_new(&base.ctx, base.model, n_ctx, 0, o->n_threads);
    }
    if (st == SQZ_OK)
        st = write_baseline(o, &base, o->kl_base, NULL);
    sqz_ctx_free(base.ctx);
    sqz_model_free(base.model);
    return st == SQZ_OK ? st : sqz_error_prefix(st, "baseline model %s: ", o->kl_base_model);
}

sqz_status eval_divergence(const sqz_eval_opts *o, eval_run *run, sqz_eval_task_result *t) {
    int32_t bos = sqz_tokenizer_adds_bos(run->tok) ? sqz_tokenizer_bos(run->tok) : -1;
    if (o->kl_base_out)
        return write_baseline(o, run, o->kl_base_out, t);
    sqz_kl_baseline *b = NULL;
    SQZ_TRY(sqz_kl_baseline_read(o->kl_base, &b));
    sqz_kl_stats s;
    sqz_status st = sqz_kl_divergence(run->ctx, run->n_vocab, b, bos, o->task.limit, &s);
    if (st == SQZ_OK)
        st = kl_metrics(t, &s);
    sqz_kl_baseline_free(b);
    return st;
}

sqz_status eval_intrinsic_prepare(const sqz_eval_opts *o, eval_run *run, sqz_eval_kind kind, char **metric_json) {
    if (kind == SQZ_EVAL_PERPLEXITY)
        return extend_metric_json(metric_json, o, chunk_size(o, run), NULL);
    SQZ_FAIL_IF(!o->kl_base == !o->kl_base_out, SQZ_ERR_ARG,
                "divergence needs exactly one of a baseline to compare with (--kl-base) or to write (--kl-base-out)");
    SQZ_FAIL_IF(o->kl_base_model && !o->kl_base, SQZ_ERR_ARG, "--kl-base-model needs --kl-base FILE");
    if (o->kl_base_out)
        return extend_metric_json(metric_json, o, chunk_size(o, run), NULL);
    if (o->kl_base_model)
        SQZ_TRY(ensure_baseline(o));
    // the baseline's identity is part of what determines the numbers
    sqz_kl_baseline *b = NULL;
    SQZ_TRY(sqz_kl_baseline_read(o->kl_base, &b));
    char *data = NULL, hex[65];
    size_t len = 0;
    sqz_status st = sqz_read_file(o->kl_base, &data, &len);
    if (st == SQZ_OK) {
        sqz_sha256_hex(data, len, hex);
        json_t *x = json_pack("{s:s,s:I,s:s}", "baseline_sha256", hex, "baseline_top_k",
                              (json_int_t)sqz_kl_baseline_top_k(b), "truncation", "top-k + rest bucket");
        st = extend_metric_json(metric_json, o, sqz_kl_baseline_n_ctx(b), x);
        json_decref(x);
    }
    free(data);
    sqz_kl_baseline_free(b);
    return st;
}

// Internals of the runner (eval.c, generate.c, intrinsic.c, json.c).
#ifndef SQZ_EVAL_RUNNER_H
#define SQZ_EVAL_RUNNER_H

#include "sqz/eval.h"

typedef struct eval_run {
    sqz_model *model;
    sqz_ctx *ctx;
    const sqz_tokenizer *tok;
    int64_t n_vocab;
    char *manifest_json; // the variant's compress manifest, or NULL
} eval_run;

// Append a metric (dir: 1 maximize, -1 minimize, 0 informational).
sqz_status eval_metric(sqz_eval_task_result *t, const char *name, double v, int dir, bool primary);

// Generation tasks: generate every sample, cut at stops, score, latency/throughput metrics.
sqz_status eval_generate(const sqz_eval_opts *o, eval_run *run, const sqz_task *task, sqz_eval_task_result *t);
// Before a perplexity / divergence run: check the options, write a --kl-base-model baseline that is
// missing, and replace *metric_json by one that adds the chunking (and the baseline's identity).
sqz_status eval_intrinsic_prepare(const sqz_eval_opts *o, eval_run *run, sqz_eval_kind kind, char **metric_json);
// Perplexity / divergence over the held-out corpus (or --text).
sqz_status eval_perplexity(const sqz_eval_opts *o, eval_run *run, sqz_eval_task_result *t);
sqz_status eval_divergence(const sqz_eval_opts *o, eval_run *run, sqz_eval_task_result *t);
// The sampling settings of the run as a JSON object (for the signature).
sqz_status eval_sampling_json(const sqz_eval_opts *o, sqz_eval_kind kind, int task_max_tokens, char **out);

#endif

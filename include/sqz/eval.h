// Evaluation: the task registry (data loader + prompt builder + stop rules + scorer per task), the
// held-out code corpus, llama-perplexity-style KL divergence against a stored top-k baseline, and
// the runner behind `sqz eval` with its systems measurements. Task definitions: docs/tasks.md.
#ifndef SQZ_EVAL_H
#define SQZ_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sqz/common.h"
#include "sqz/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---- the held-out code corpus ---------------------------------------------------------------------
// The Python corpus is a ustar tar of source files. The held-out split is the compress module's
// (sqz/compress.h sqz_corpus_is_heldout: by file name hash, about one file in ten), so the text that
// perplexity, divergence and completion are measured on is never used for calibration.
typedef struct sqz_corpus_file {
    char *name;
    char *text; // NUL-terminated
    size_t len;
} sqz_corpus_file;

// Read the regular files of a tar archive (all of them, or only the held-out ones), in archive
// order. Errors (sqz_tar_foreach's) name the archive.
sqz_status sqz_corpus_read(const char *tar_path, bool held_out_only, sqz_corpus_file **files, size_t *n);
void sqz_corpus_free(sqz_corpus_file *files, size_t n);
// The default corpus: data_dir/python-corpus/cpython-3.11.2-stdlib-toplevel.tar (into buf).
void sqz_corpus_default_path(const char *data_dir, char *buf, size_t size);
// The held-out text used by the perplexity and divergence tasks: sqz_corpus_text(tar, true) — the
// held-out files in archive order, each followed by "\n" (= `sqz compress --heldout-text`).
sqz_status sqz_corpus_heldout_text(const char *tar_path, char **out, size_t *len);

// One completion problem cut from a top-level function (a line starting with "def " at column 0, up
// to the next line that starts at column 0 with anything but whitespace or ')' — trailing blank
// lines dropped): prefix = signature (through the line ending in ':') + docstring, if any + the first
// `k_lines` body lines; target = the rest of the function.
typedef struct sqz_code_fn {
    char *id;     // "<file>:<line of def>"
    char *prefix; // ends with "\n"
    char *target; // no trailing newline
} sqz_code_fn;

// Cut functions from one source file (functions whose target would be empty or that have fewer
// than 2 body lines after the prefix are skipped). Appends to *fns (realloc'd; *n updated).
sqz_status sqz_code_fns_extract(const char *file_name, const char *text, int k_lines, sqz_code_fn **fns,
                                size_t *n);
void sqz_code_fns_free(sqz_code_fn *fns, size_t n);

// ---- tasks ------------------------------------------------------------------------------------------
typedef enum sqz_eval_kind {
    SQZ_EVAL_EXEC = 0,        // generated code is run against tests: pass@k (+ CodeBLEU)
    SQZ_EVAL_TRANSLATION = 1, // BLEU, CodeBLEU, exact match
    SQZ_EVAL_COMPLETION = 2,  // CodeBLEU, edit similarity, exact match
    SQZ_EVAL_PERPLEXITY = 3,  // no generation: llama-perplexity over the held-out corpus
    SQZ_EVAL_DIVERGENCE = 4,  // no generation: KL etc. against a stored baseline
} sqz_eval_kind;

// One item of a generation task. Strings are owned by the task.
typedef struct sqz_task_item {
    const char *id;        // "HumanEval/0", "test:17", "ast.py:120"
    const char *prompt;    // the exact text given to the model
    const char *reference; // expected output (canonical completion, target translation, rest of fn)
    const char *context;   // prepended to both generation and reference for CodeBLEU (HumanEval: the
                           // prompt), or NULL
} sqz_task_item;

typedef struct sqz_task sqz_task;

// Task names: "humaneval", "humaneval-x:<python|cpp|java|js>", "quixbugs", "codexglue-java-cs",
// "codexglue-cs-java", "completion", "perplexity", "divergence", "mbpp" (needs mbpp_path).
// NULL-terminated list of the fixed names.
const char *const *sqz_task_names(void);

typedef struct sqz_task_opts {
    const char *data_dir;  // folder holding humaneval/, humaneval-x/, quixbugs/, ... (required)
    const char *mbpp_path; // MBPP JSONL file for "mbpp" (not shipped here)
    int64_t limit;         // items kept (0 = all); perplexity/divergence: chunks
    uint64_t seed;         // the subset: a seeded Fisher–Yates shuffle of the items, first `limit`
                           // kept in their original order (seed ignored without a limit)
    int completion_k;      // completion: body lines kept in the prefix (default 2 when 0)
    double timeout_s;      // exec tasks: sandbox wall-clock limit per program run (compile + tests);
                           // 0 = the language's default (10 s; C++ and Java 30 s). In the signature
                           // (metric "timeout_s") when set.
} sqz_task_opts;

// Load a task's data and build its prompts. SQZ_ERR_ARG for an unknown name (listing the known
// ones); loader errors name the file and line.
sqz_status sqz_task_open(sqz_task **out, const char *name, const sqz_task_opts *o);
void sqz_task_free(sqz_task *t);

const char *sqz_task_name(const sqz_task *t);
sqz_eval_kind sqz_task_get_kind(const sqz_task *t);
size_t sqz_task_count(const sqz_task *t); // items after the subset (0 for perplexity/divergence)
const sqz_task_item *sqz_task_item_at(const sqz_task *t, size_t i);
// Stop strings; generation ends at the first occurrence of any (removed from the output unless the
// task keeps it, see sqz_task_truncate). NULL-terminated.
const char *const *sqz_task_stops(const sqz_task *t);
// Maximum new tokens per item (task default).
int sqz_task_max_tokens(const sqz_task *t);
// Language for CodeBLEU ("python", "java", "c_sharp", "cpp", "javascript").
const char *sqz_task_code_lang(const sqz_task *t);
// The metric settings as a JSON object (for result signatures); caller frees.
char *sqz_task_metric_json(const sqz_task *t);

// Where generated text must be cut (byte offset), or -1 if no stop rule matches yet. The stop text
// itself is excluded, except for brace languages whose closing "\n}" is kept; the completion task
// also stops at the first new top-level line.
long sqz_task_stop_at(const sqz_task *t, const char *text, size_t len);

// Per-item scores and the task's corpus metrics.
typedef struct sqz_task_scores {
    int *outcome;         // [n * n_samples] SQZ_OUTCOME_PASS / FAIL, or -1 when the task has no pass/fail
    char **item_json;     // [n] per-item metric values, a JSON object each (owned)
    size_t n;
    char **names;         // corpus metrics, primary first
    double *values;
    size_t n_metrics;
} sqz_task_scores;

// Score generations gens[i * n_samples + s] (s-th sample of item i) for every item of the task.
// Exec tasks run the sandbox on n_workers (0 = physical cores) and report pass@1 (and pass@k for
// k <= n_samples in {1, 10, 100}); outcome[i * n_samples + s] is sample s's. CodeBLEU etc. use the
// first sample of each item.
sqz_status sqz_task_score(const sqz_task *t, const char *const *gens, int n_samples, int n_workers,
                          sqz_task_scores *out);
void sqz_task_scores_clear(sqz_task_scores *s);

// ---- KL divergence against a stored baseline (llama-perplexity --kl-divergence) ---------------------
// The baseline file keeps, per scored token, the baseline model's top-k log-probs (ids + values),
// log of the remaining probability mass, and the log-prob of the actual next token. See
// docs/tasks.md for the file layout and how the truncation enters the KL.
typedef struct sqz_kl_baseline sqz_kl_baseline;

// Evaluate `c`'s model (vocabulary n_vocab) on n_chunks chunks of n_ctx tokens (chunking as
// sqz_perplexity: first token of each chunk replaced by bos_id when >= 0, second half scored) and
// write the baseline to path (atomically). top_k in [1, min(n_vocab, 1024)]. SQZ_ERR_ARG when the
// tokens hold fewer than n_chunks full chunks.
sqz_status sqz_kl_baseline_write(sqz_ctx *c, int64_t n_vocab, const int32_t *tokens, int64_t n_tokens,
                                 int64_t n_ctx, int64_t n_chunks, int32_t bos_id, int top_k, const char *path);
sqz_status sqz_kl_baseline_read(const char *path, sqz_kl_baseline **out);
void sqz_kl_baseline_free(sqz_kl_baseline *b);
int64_t sqz_kl_baseline_n_ctx(const sqz_kl_baseline *b);
int64_t sqz_kl_baseline_n_chunks(const sqz_kl_baseline *b);
int64_t sqz_kl_baseline_n_vocab(const sqz_kl_baseline *b);
int sqz_kl_baseline_top_k(const sqz_kl_baseline *b);

typedef struct sqz_kl_stats {
    int64_t count;                       // scored tokens
    double ppl, ppl_err;                 // Mean PPL(Q) ± (llama.cpp mean_and_uncertainty)
    double ppl_base, ppl_base_err;       // Mean PPL(base)
    double ln_ppl_ratio, ln_ppl_ratio_err;
    double kld_mean, kld_err;
    double kld_max, kld_p999, kld_p99, kld_p95, kld_p90, kld_median, kld_p10, kld_p05, kld_p01, kld_p001, kld_min;
    double dp_mean, dp_err;              // Δp = p_Q(next) − p_base(next), as fractions (not %)
    double dp_max, dp_p999, dp_p99, dp_p95, dp_p90, dp_p75, dp_median, dp_p25, dp_p10, dp_p05, dp_p01, dp_p001, dp_min;
    double dp_rms, dp_rms_err;
    double same_top, same_top_err;       // fraction of tokens whose argmax equals the baseline's
} sqz_kl_stats;

// Evaluate `c`'s model on the baseline's tokens (same chunking, bos_id as when written) and compute
// llama-perplexity's statistics. SQZ_ERR_ARG when the vocabulary sizes differ or the context is
// too small. max_chunks > 0 limits the chunks used.
sqz_status sqz_kl_divergence(sqz_ctx *c, int64_t n_vocab, const sqz_kl_baseline *b, int32_t bos_id,
                             int64_t max_chunks, sqz_kl_stats *out);
// The KL statistics from per-token values (kld[n], dp[n] are sorted in place) and running sums;
// exposed for tests. sums: nll, nll², nll_base, nll_base², nll·nll_base, same_top count.
void sqz_kl_stats_finish(float *kld, float *dp, int64_t n, const double sums[6], sqz_kl_stats *out);
// llama.cpp's percentile over sorted values: linear interpolation at fraction·(n−1).
double sqz_percentile_sorted(const float *v, int64_t n, double fraction);

// ---- the runner (`sqz eval`) ---------------------------------------------------------------------
typedef struct sqz_eval_opts {
    const char *model;        // model or variant path (required)
    const char *const *tasks; // task names (required), n_tasks of them
    size_t n_tasks;
    sqz_task_opts task;       // data_dir, limit, seed, ...
    int n_samples;            // samples per item (default 1)
    float temp;               // 0 = greedy (default); > 0 samples with top_p (below)
    double top_p;             // nucleus with temp > 0: 0 = default 0.95; else in (0, 1]
    int top_k;                // keep the k most likely tokens with temp > 0 (0 = all)
    int max_tokens;           // 0 = each task's default
    int n_threads;            // 0 = physical cores
    int64_t n_ctx;            // 0 = min(model's training context, 2048)
    double price_per_hour;    // 0 = no cost figures
    int sandbox_workers;      // 0 = physical cores
    const char *kl_base;      // divergence: baseline file to compare against
    const char *kl_base_out;  // divergence: write this model's baseline here instead
    const char *kl_base_model; // divergence: the full model; writes kl_base first when it is missing
    const char *text_file;    // perplexity/divergence: this text instead of the held-out corpus
    int kl_top_k;             // baseline top-k (default 32)
    const char *db;           // results store (may be NULL): model, variant and one cell per task; a
                              // task whose cell is finished with the same signature is skipped
    // Progress: called after each item (task, done, total). May be NULL.
    void (*progress)(void *user, const char *task, size_t done, size_t total);
    void *user;
} sqz_eval_opts;

// One generated sample (all strings owned).
typedef struct sqz_eval_sample {
    char *item_id, *prompt, *generated, *reference;
    int outcome;        // SQZ_OUTCOME_PASS/FAIL, -1 = none
    char *metrics_json;
    double latency_s, ttft_s;
    int64_t n_prompt, n_gen;
} sqz_eval_sample;

typedef struct sqz_eval_metric {
    char *name;
    double value;
    int direction; // 1 larger is better, -1 smaller is better, 0 informational
    bool primary;
} sqz_eval_metric;

typedef struct sqz_eval_task_result {
    char *task;
    char *signature_json; // canonical signature (sqz_signature_json) and its hash
    char signature_hash[65];
    sqz_eval_sample *samples;
    size_t n_samples;
    sqz_eval_metric *metrics; // quality metrics first, then systems measurements
    size_t n_metrics;
    double wall_s;
    bool skipped;         // with a store: an identical finished cell was there; nothing was run
} sqz_eval_task_result;

typedef struct sqz_eval_result {
    char *model_path, model_sha256[65];
    char *recipe;           // from the variant's manifest, or "none"
    char *source_path;      // a variant's source model (manifest "source"), or NULL
    char source_sha256[65]; // the manifest's "source_sha256", or "" (then the model is its own baseline)
    double load_s;          // model load time
    int64_t bytes_on_disk;
    double bits_per_weight; // over tensors with 2+ dimensions; a variant's manifest value if given
    int64_t n_params;
    double peak_rss_mb;     // getrusage ru_maxrss at the end
    sqz_eval_task_result *tasks;
    size_t n_tasks;
} sqz_eval_result;

// Load the model, run every task, score, measure, and store (opts->db) — see docs/tasks.md.
sqz_status sqz_eval_run(const sqz_eval_opts *o, sqz_eval_result *out);
void sqz_eval_result_clear(sqz_eval_result *r);
// The whole result as a JSON document (caller frees).
char *sqz_eval_result_json(const sqz_eval_result *r);

// Percentile used for latencies: linear interpolation between order statistics at q·(n−1)
// (numpy.percentile's default), q in [0, 1]. v is sorted in place. NaN when n == 0.
double sqz_latency_percentile(double *v, size_t n, double q);

#ifdef __cplusplus
}
#endif
#endif

// The results store: one SQLite file (WAL) holding models, compressed variants, evaluation runs
// ("cells": one variant x one task), their per-sample rows and their metrics. The schema, its
// versions and the meaning of every column: docs/results-schema.md.
//
// A sweep drives it like this (every call is one transaction, so a crash at any point leaves
// the file consistent):
//   sqz_store_open -> sqz_store_put_model -> sqz_store_put_variant
//   for each cell: sqz_store_cell_begin (skip when *state == SQZ_CELL_DONE)
//                  sqz_store_add_samples (batches) ... sqz_store_cell_finish | sqz_store_cell_fail
// A cell is identified by the hash of its signature (everything that determines its numbers), so
// re-running a sweep skips finished cells and redoes, from scratch, a cell a crash left running.
#ifndef SQZ_STORE_H
#define SQZ_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sqz/common.h"

#ifdef __cplusplus
extern "C" {
#endif

// Version of the schema this build writes; sqz_store_open migrates older files up to it.
#define SQZ_STORE_SCHEMA_VERSION 1

typedef struct sqz_store sqz_store;

// Open (creating if needed) the database at `path`, enable WAL, foreign keys and a busy timeout,
// and create or migrate the schema. A file written by a newer sqz (higher schema version) is
// refused. On error (unwritable directory, not a database, ...) returns SQZ_ERR_IO/FORMAT with a
// message naming the path.
sqz_status sqz_store_open(const char *path, sqz_store **out);
void sqz_store_free(sqz_store *s); // closes the database; accepts NULL

// Schema version recorded in the file (after open: SQZ_STORE_SCHEMA_VERSION).
int sqz_store_schema_version(sqz_store *s);

// ---- models and variants -------------------------------------------------------------------------
typedef struct sqz_model_info {
    const char *sha256;  // hex SHA-256 of the model file: the identity of a model (required)
    const char *path;    // where it was read from (required)
    const char *name;    // display name, e.g. "SmolLM2-135M-Instruct" (may be NULL)
    const char *arch;    // "llama", ... (may be NULL)
    int64_t n_params;    // parameters (0 = unknown)
    int64_t bytes;       // file size
} sqz_model_info;

// Insert the model or, when its sha256 is already there, update path/name/arch/sizes. *id gets
// its row id.
sqz_status sqz_store_put_model(sqz_store *s, const sqz_model_info *m, int64_t *id);

// Recipe string of the uncompressed model (the baseline every variant is compared with).
#define SQZ_RECIPE_NONE "none"

typedef struct sqz_variant_info {
    int64_t model_id;
    const char *name;          // display name, e.g. "gptq-4b" (required)
    const char *recipe;        // canonical recipe (sqz_recipe_str) or SQZ_RECIPE_NONE (required)
    const char *path;          // the variant's file (NULL when it is the model itself)
    const char *sha256;        // of the variant file (may be NULL)
    int64_t bytes;             // size on disk
    double bits_per_weight;    // of the linear weights (0 = unknown)
    const char *manifest_json; // the compress manifest, a JSON document (may be NULL)
} sqz_variant_info;

// Insert the variant or update it when (model_id, recipe) is already there. *id gets its row id.
sqz_status sqz_store_put_variant(sqz_store *s, const sqz_variant_info *v, int64_t *id);

// ---- signatures ----------------------------------------------------------------------------------
// Everything that determines a cell's numbers. Two cells with equal signatures must give equal
// numbers (greedy decoding); when numbers differ, the signatures say why.
typedef struct sqz_signature {
    const char *model_sha256;   // required
    const char *variant_sha256; // may be NULL (e.g. the baseline)
    const char *recipe;         // canonical recipe, required
    const char *task;           // "humaneval", "humaneval-x:java", ... required
    const char *metric_json;    // metric settings, a JSON object (NULL = {})
    const char *sampling_json;  // temperature, top_p, top_k, max_tokens, n, ... (NULL = {})
    int64_t limit;              // items evaluated (0 = all)
    uint64_t seed;
    const char *sqz_version;    // NULL = SQZ_VERSION_STRING
    const char *cpu_features;   // the compute environment (sqz_compute_env()); NULL = sqz_cpu_features()
} sqz_signature;

// The canonical JSON text of a signature (keys sorted, compact; the JSON settings objects are
// re-serialised canonically too) and its hex SHA-256. The caller frees *json. Returns
// SQZ_ERR_ARG when a required field is missing or a settings string is not a JSON object.
sqz_status sqz_signature_json(const sqz_signature *sig, char **json, char hash[65]);

// Why two signatures differ: every top-level key whose value differs (settings objects compared
// whole), as "seed: 1 -> 2; cpu_features: \"avx2\" -> \"avx2 avx512f\"". *out = NULL when they are
// equal. The caller frees *out. SQZ_ERR_FORMAT when either is not a JSON object.
sqz_status sqz_signature_diff(const char *a_json, const char *b_json, char **out);

// ---- cells ---------------------------------------------------------------------------------------
typedef enum sqz_cell_state {
    SQZ_CELL_NEW = 0, // first time: the run row was created, status running
    SQZ_CELL_REDO,    // was left running by a crash or failed: its partial rows were deleted
    SQZ_CELL_DONE,    // already finished: skip it (nothing was changed)
    SQZ_CELL_BUSY,    // running in another live process on this host: skip it for now
} sqz_cell_state;

// Begin the cell (variant_id, sig->task). Idempotent on the signature hash: a finished cell is
// reported as SQZ_CELL_DONE and left alone; a cell left "running" by a process that is gone (one
// on another host cannot be checked and counts as gone) or "failed" is reset in one transaction (its sample and metric rows deleted, status running,
// attempts + 1) and reported as SQZ_CELL_REDO. *run_id gets the run's row id in every case.
sqz_status sqz_store_cell_begin(sqz_store *s, int64_t variant_id, const sqz_signature *sig,
                                int64_t *run_id, sqz_cell_state *state);

// Outcome of one generated sample.
#define SQZ_OUTCOME_NONE (-1) // the task has no pass/fail (translation, perplexity, ...)
#define SQZ_OUTCOME_FAIL 0
#define SQZ_OUTCOME_PASS 1

typedef struct sqz_sample_row {
    int64_t index;            // sample index within the run, unique per run (0, 1, ...)
    const char *item_id;      // the task item ("HumanEval/0"); several samples may share one
    const char *prompt;       // may be NULL
    const char *generated;    // the generated text (may be NULL)
    const char *reference;    // may be NULL
    int outcome;              // SQZ_OUTCOME_*
    const char *metrics_json; // per-sample metric values, a JSON object (may be NULL)
    double latency_s;         // whole request (negative = not measured)
    double ttft_s;            // time to first token (negative = not measured)
    int64_t n_prompt_tokens, n_gen_tokens;
} sqz_sample_row;

// Append n sample rows to a running cell in one transaction. Fails (SQZ_ERR_ARG) when the run is
// not running, is owned by another process (it was reset and taken over), or a sample index is
// already recorded; nothing of the batch is written then.
sqz_status sqz_store_add_samples(sqz_store *s, int64_t run_id, const sqz_sample_row *rows, size_t n);

// Metric direction: whether a larger value is better.
typedef enum sqz_direction {
    SQZ_DIR_NONE = 0,     // informational (counts, timings that are not a quality)
    SQZ_DIR_MAXIMIZE = 1, // pass@1, BLEU, CodeBLEU, tokens/s
    SQZ_DIR_MINIMIZE = -1 // perplexity, KL divergence, latency, bytes
} sqz_direction;

typedef struct sqz_metric_row {
    const char *name;          // "pass@1", "codebleu", "latency_p50_s", ... unique per run
    double value;
    double ci_low, ci_high;    // NAN when there is no interval
    sqz_direction direction;
    bool primary;              // the task's quality metric (one per run)
    const char *settings_json; // how it was computed, a JSON object (may be NULL)
} sqz_metric_row;

// Finish a running cell this process owns atomically: its metric rows, n_samples, wall time and
// status done, in one transaction (nothing is written if any part fails).
sqz_status sqz_store_cell_finish(sqz_store *s, int64_t run_id, const sqz_metric_row *metrics,
                                 size_t n, double wall_s);

// Mark a running cell failed with a message (it is redone by the next sqz_store_cell_begin).
sqz_status sqz_store_cell_fail(sqz_store *s, int64_t run_id, const char *message);

// Number of sample rows of a run (for progress and tests); -1 on error.
int64_t sqz_store_count_samples(sqz_store *s, int64_t run_id);

// ---- reading results back ------------------------------------------------------------------------
// A snapshot of the finished results, for analysis and reports. For each (variant, task) only the
// most recently finished run is kept (older runs with other signatures stay in the file).
typedef struct sqz_res_sample {
    char *item_id;
    int outcome;      // SQZ_OUTCOME_*
    double latency_s; // negative = not measured
} sqz_res_sample;

typedef struct sqz_res_metric {
    char *name;
    double value, ci_low, ci_high;
    sqz_direction direction;
    bool primary;
    char *settings_json;
} sqz_res_metric;

typedef struct sqz_res_run {
    int64_t id;
    int variant;                 // index into sqz_results.variants
    char *task;
    char *signature_json;
    char *signature_hash;
    double wall_s;
    char *started_at, *finished_at; // ISO-8601 UTC
    int n_metrics;
    sqz_res_metric *metrics;
    // The previous finished run of the same (variant, task), if any: its signature and primary
    // metric value, so a report can show what changed between re-runs and why.
    char *prev_signature_json;   // NULL when this is the only run
    double prev_primary;         // NAN when none
    size_t n_samples;
    sqz_res_sample *samples;     // in sample-index order
} sqz_res_run;

typedef struct sqz_res_variant {
    int64_t id;
    int model;                   // index into sqz_results.models
    char *name, *recipe, *path, *sha256, *manifest_json;
    int64_t bytes;
    double bits_per_weight;
} sqz_res_variant;

typedef struct sqz_res_model {
    int64_t id;
    char *sha256, *path, *name, *arch;
    int64_t n_params, bytes;
} sqz_res_model;

typedef struct sqz_results {
    int n_models, n_variants, n_runs;
    sqz_res_model *models;
    sqz_res_variant *variants; // ordered by model, then id (insertion order)
    sqz_res_run *runs;         // ordered by variant, then task
} sqz_results;

// Load every model, variant and latest finished run (with metrics and samples). Free with
// sqz_results_free.
sqz_status sqz_store_load(sqz_store *s, sqz_results **out);
void sqz_results_free(sqz_results *r);

// Helpers over a snapshot: the run of (variant, task) or NULL; a metric of a run by name or NULL;
// the run's primary metric (or its first metric with a direction) or NULL.
const sqz_res_run *sqz_results_find_run(const sqz_results *r, int variant, const char *task);
const sqz_res_metric *sqz_res_run_metric(const sqz_res_run *run, const char *name);
const sqz_res_metric *sqz_res_run_primary(const sqz_res_run *run);

#ifdef __cplusplus
}
#endif
#endif

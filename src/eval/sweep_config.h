// The sweep config: one YAML file naming models x recipes x tasks, limits, sampling settings and
// the results database, parsed (libyaml) and checked into a plan before any work starts.
//
//   db: results.db               # required; relative paths are relative to the config file
//   seed: 1234                   # default 0
//   price_per_hour: 0.50         # machine price for cost estimates (default 0 = unknown)
//   data_dir: ../data/datasets   # task data (default: none; must exist when given)
//   limits: {items: 20, max_tokens: 256, timeout_s: 10}   # items 0 = all; timeout_s: per program
//                                # run in the sandbox (default: the language's, 10 s / C++, Java 30 s)
//   sampling: {temperature: 0.8, top_p: 0.95, top_k: 0, n: 10}  # default greedy, n 1; top_p
//                                # defaults to 0.95 with a temperature, else 1; n > 1 needs one
//   models:                      # a path, or {path, name}
//     - models/SmolLM2-135M-Instruct.Q4_1.gguf
//   recipes:                     # a recipe, or {recipe, name}; "none" = the uncompressed model
//     - none
//     - {name: q4, recipe: "rtn:bits=4,group=32"}
//   tasks:                       # a name, or {name, limit, max_tokens, timeout_s} overriding
//     - humaneval                # limits.items / max_tokens / timeout_s for that task
//     - {name: "humaneval-x:java", limit: 8, timeout_s: 60}
//     - codexglue-java-cs
//
// Every error names the file, line and column and what is wrong:
//   "sweep.yaml:9:5: tasks[1]: unknown task 'humaneva' (known: humaneval, ...)".
#ifndef SQZ_EVAL_SWEEP_CONFIG_H
#define SQZ_EVAL_SWEEP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "sqz/common.h"

typedef struct sqz_sweep_model {
    char *path; // resolved against the config's directory; an existing readable file
    char *name; // given, else the file name without its extension
} sqz_sweep_model;

typedef struct sqz_sweep_recipe {
    char *name;      // given, else "full" for none, else the recipe as written
    char *text;      // as written
    char *canonical; // sqz_recipe_str of the parsed recipe, or "none"
} sqz_sweep_recipe;

// A task of the plan with its own limits (the plan's `limits` unless its entry sets them).
typedef struct sqz_sweep_task {
    char *name;
    int64_t limit;      // items (perplexity/divergence: chunks), 0 = all
    int64_t max_tokens; // generated tokens per sample
    double timeout_s;   // per program run in the sandbox; 0 = the language's default
} sqz_sweep_task;

typedef struct sqz_sweep_plan {
    char *config_path;
    char *db_path;  // resolved
    char *db_error; // why db_path cannot be used (its directory is missing or not writable), or NULL;
                    // sqz_sweep_config_load fails with it, a sweep only when no --db replaces the path
    sqz_status db_status;
    char *data_dir; // resolved, or NULL
    int n_models, n_recipes, n_tasks;
    sqz_sweep_model *models;
    sqz_sweep_recipe *recipes;
    sqz_sweep_task *tasks;
    int64_t limit;       // limits.items: items per task, 0 = all
    int64_t max_tokens;  // limits.max_tokens: generated tokens per sample
    double timeout_s;    // limits.timeout_s: per program run in the sandbox, 0 = the language's default
    uint64_t seed;       // the items subset and the sampling seed
    double temperature, top_p; // top_p as used: 1 when greedy unless given
    int64_t top_k, n_samples;  // n_samples per item (pass@k); > 1 needs temperature > 0
    double price_per_hour;
} sqz_sweep_plan;

// The task names accepted when the caller passes no list: humaneval, humaneval-x:<cpp|java|js|
// python>, mbpp, quixbugs, codexglue-java-cs, codexglue-cs-java, completion, perplexity,
// divergence. NULL-terminated.
const char *const *sqz_sweep_default_tasks(void);

// Read and check the config at path. `tasks` is the NULL-terminated list of known task names
// (NULL = sqz_sweep_default_tasks()). Checks everything that can be checked before work starts:
// syntax, unknown or duplicate keys, types and ranges, recipes (sqz_recipe_parse), task names,
// model files readable, database directory writable. SQZ_ERR_ARG/FORMAT/NOT_FOUND/IO with a
// file:line:col message.
sqz_status sqz_sweep_config_load(const char *path, const char *const *tasks, sqz_sweep_plan **out);

// The same from text in memory; `name` is used in messages and relative paths resolve against
// base_dir.
sqz_status sqz_sweep_config_parse(const char *text, size_t len, const char *name, const char *base_dir,
                                  const char *const *tasks, sqz_sweep_plan **out);
void sqz_sweep_plan_free(sqz_sweep_plan *p);

// Cells of the plan: models x recipes x tasks.
size_t sqz_sweep_plan_cells(const sqz_sweep_plan *p);

// The sampling settings of task t as the canonical JSON object stored in run signatures (caller
// frees): {"max_tokens":..,"n":..,"temperature":..,"top_k":..,"top_p":..}. NULL on out-of-memory.
// (The sandbox timeout goes into the task's metric settings, sqz_task_metric_json.)
char *sqz_sweep_sampling_json(const sqz_sweep_plan *p, const sqz_sweep_task *t);

#endif

// The sweep config: one YAML file naming models x recipes x tasks, limits, sampling settings and
// the results database, parsed (libyaml) and checked into a plan before any work starts.
//
//   db: results.db               # required; relative paths are relative to the config file
//   seed: 1234                   # default 0
//   price_per_hour: 0.50         # machine price for cost estimates (default 0 = unknown)
//   data_dir: ../data/datasets   # task data (default: none; must exist when given)
//   limits: {items: 20, max_tokens: 256, timeout_s: 10}   # items 0 = all
//   sampling: {temperature: 0, top_p: 1, top_k: 0, n: 1}  # greedy by default
//   models:                      # a path, or {path, name}
//     - models/SmolLM2-135M-Instruct.Q4_1.gguf
//   recipes:                     # a recipe, or {recipe, name}; "none" = the uncompressed model
//     - none
//     - {name: q4, recipe: "rtn:bits=4,group=32"}
//   tasks: [humaneval, "humaneval-x:java", codexglue-java-cs]
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

typedef struct sqz_sweep_plan {
    char *config_path;
    char *db_path;  // resolved; its directory exists and is writable
    char *data_dir; // resolved, or NULL
    int n_models, n_recipes, n_tasks;
    sqz_sweep_model *models;
    sqz_sweep_recipe *recipes;
    char **tasks;
    int64_t limit;       // items per task, 0 = all
    int64_t max_tokens;  // generated tokens per sample
    double timeout_s;    // per program run in the sandbox
    uint64_t seed;
    double temperature, top_p;
    int64_t top_k, n_samples;
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

// The sampling settings as the canonical JSON object stored in run signatures (caller frees):
// {"max_tokens":..,"n":..,"temperature":..,"top_k":..,"top_p":..}. NULL on out-of-memory.
char *sqz_sweep_sampling_json(const sqz_sweep_plan *p);

#endif

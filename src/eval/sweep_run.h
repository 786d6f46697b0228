// Internals of the sweep runner (sweep.c: plan, cells, progress; sweep_run_variant.c: variants,
// hashes, KL baselines).
#ifndef SQZ_EVAL_SWEEP_RUN_H
#define SQZ_EVAL_SWEEP_RUN_H

#include "eval/sweep_config.h"
#include "sqz/eval.h"
#include "sqz/store.h"
#include "sqz/sweep.h"

#define SWEEP_PATH 4096

// One model of the plan while the sweep works on it.
typedef struct sweep_model {
    const sqz_sweep_model *m;
    char sha256[65];
    int64_t bytes, id;       // file size, store row id
    char kl_path[SWEEP_PATH]; // its KL baseline file ("" until written or found)
    char kl_sha256[65];
} sweep_model;

// One variant (model x recipe).
typedef struct sweep_variant {
    const sqz_sweep_recipe *r;
    char dir[SWEEP_PATH];    // OUT/<model>/<recipe name> ("" for the baseline)
    char path[SWEEP_PATH];   // what the engine loads: the model file, dir/model.gguf or dir/hf
    char sha256[65];         // of the loaded file (a directory: over its files)
    int64_t bytes, id;
    double bpw;
    char *manifest_json;     // NULL for the baseline
    bool reused;
} sweep_variant;

typedef struct sweep {
    const sqz_sweep_opts *o;
    sqz_sweep_plan *plan;
    sqz_task **tasks;        // [plan->n_tasks], opened once (signature settings, data checked)
    sqz_store *db;
    char data_dir[SWEEP_PATH], out_dir[SWEEP_PATH], db_path[SWEEP_PATH];
    sqz_sweep_summary *sum;
    sqz_sweep_progress prog;
    double t0, work_s;       // start; seconds spent in cells that ran (for the ETA)
    size_t cells_worked;     // cells that ran (not skipped)
    double last_report;
} sweep;

// SHA-256 of a file, or of a directory as sqz eval defines it (over "name\nsha\n" of its regular
// files in name order; symbolic links left out); *bytes gets the total size.
sqz_status sweep_path_sha256(const char *path, char hex[65], int64_t *bytes);
// Bits per weight of the tensors with 2+ dimensions of a model file (0 when it cannot be read).
double sweep_file_bpw(const char *path);

// The variant of recipe r for model m: the model itself for "none", else reuse or compress.
sqz_status sweep_variant_prepare(sweep *s, const sweep_model *m, const sqz_sweep_recipe *r, sweep_variant *v);
void sweep_variant_clear(sweep_variant *v);

// Make sure m->kl_path holds the model's KL baseline over `limit` chunks (0 = all; the divergence
// task's limit), written once and reused afterwards.
sqz_status sweep_kl_baseline(sweep *s, sweep_model *m, int64_t limit);

// Report progress (rate-limited unless force).
void sweep_progress(sweep *s, bool force);

#endif

// The sweep: models x recipes x tasks from one YAML config (format: src/eval/sweep_config.h;
// `${NAME}` in it is replaced by the environment variable NAME, and ${SQZ_MODELS} defaults to
// $HOME/.cache/sqz/models), compressing each variant once, evaluating every (variant, task) cell into the results store,
// resumable after a crash or an interrupt without redoing finished cells or duplicating rows.
//
// For each model: its uncompressed file is the baseline (recipe "none"); each other recipe is
// compressed into OUT/<model>/<recipe name>/ (an existing variant whose manifest has the same
// canonical recipe, source SHA-256 and calibration size is reused). Divergence cells compare with
// a top-k log-prob file of the baseline written once per model (OUT/<model>/kl-base-*.bin).
// Each cell is keyed in the store by its signature (sqz_signature: model and variant SHA-256,
// canonical recipe, task, task settings + the KL baseline's SHA-256, sampling, limit, seed, sqz
// version, CPU features), taken before the work starts: a finished cell is skipped, a cell a
// crash left running is redone from scratch. The library never prints: progress goes through a
// callback.
#ifndef SQZ_SWEEP_H
#define SQZ_SWEEP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sqz/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sqz_sweep_progress {
    size_t cells_done;     // cells finished so far, skipped ones included
    size_t cells_total;    // models x recipes x tasks
    size_t cells_skipped;  // of cells_done: already finished by an earlier run
    size_t cells_failed;   // of cells_done: failed (recorded as failed in the store)
    const char *phase;     // "compress", "kl-baseline", "eval", "skip", "done"
    const char *model;     // display names of what is being worked on (NULL when phase is "done")
    const char *variant;
    const char *task;
    size_t items_done, items_total; // within the current cell (0/0 when unknown)
    double elapsed_s;      // since sqz_sweep_run started
    double eta_s;          // estimate of the time left; negative when unknown
} sqz_sweep_progress;

typedef struct sqz_sweep_opts {
    const char *db;        // results database; NULL = the config's `db`
    const char *out_dir;   // where variants and KL baselines go; NULL = "<db directory>/variants"
    const char *data_dir;  // task data; NULL = the config's data_dir, else $SQZ_DATA, else
                           // "../shared/data/datasets"
    const char *calib_path; // calibration corpus for compression; NULL = SQZ_CALIB_DEFAULT_PATH
    int64_t calib_n, calib_len; // calibration sequences x tokens (0 = sqz_compress defaults)
    int n_threads;         // 0 = physical cores
    int kl_top_k;          // top-k of the KL baselines (0 = 32)
    // Checked between cells: when it becomes non-zero the sweep stops after the current cell
    // (what is finished stays; the next run continues). May be NULL.
    const volatile sig_atomic_t *stop;
    void (*progress)(void *user, const sqz_sweep_progress *p); // may be NULL
    void *user;
} sqz_sweep_opts;

typedef struct sqz_sweep_summary {
    size_t cells_total, cells_run, cells_skipped, cells_failed, cells_busy;
    size_t variants_compressed, variants_reused;
    bool stopped;          // opts->stop ended the sweep early
    double wall_s;
    char db_path[4096];    // the database written
    char out_dir[4096];    // the variants folder
    char first_error[512]; // the first cell or compression error, "" when none
} sqz_sweep_summary;

// Load and check the config and everything that can be checked before any work starts: the
// config itself (unknown task, missing model file, bad recipe, unwritable db directory: see
// sqz_sweep_config_load), that every task's data loads from the data folder, that the database
// opens and the variants folder can be created. Writes nothing but the variants folder. Errors
// name the config file (line:column) or the path at fault.
sqz_status sqz_sweep_check(const char *config_path, const sqz_sweep_opts *opts, size_t *n_cells);

// Run the sweep (sqz_sweep_check first: a bad config fails before any work). Cells that fail are
// recorded as failed in the store and the sweep goes on; *out counts them (and keeps the first
// message). Returns an error only for what stops the whole sweep (bad config, database errors).
sqz_status sqz_sweep_run(const char *config_path, const sqz_sweep_opts *opts, sqz_sweep_summary *out);

// The price per hour and the database path the config names (for the report after a sweep);
// *db_path is malloc'd.
sqz_status sqz_sweep_config_info(const char *config_path, char **db_path, double *price_per_hour);

#ifdef __cplusplus
}
#endif
#endif

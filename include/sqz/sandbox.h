// Running generated code with its tests: the process sandbox, the code tasks (HumanEval,
// HumanEval-X, QuixBugs), and pass@k (DESIGN.md §5). Mechanisms: docs/sandbox.md.
#ifndef SQZ_SANDBOX_H
#define SQZ_SANDBOX_H
#include <stddef.h>

#include "sqz/common.h"
#include "sqz/types.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---- pass@k ------------------------------------------------------------------------------------

// Unbiased pass@k estimator of Chen et al. 2021 for one task with n samples of which c passed:
// 1 - C(n-c, k) / C(n, k), computed as the product 1 - prod_{i=n-c+1..n} (1 - k/i) (no binomials,
// stable for large n). Returns 1 when n - c < k, NaN when k > n, k < 1 or c is outside [0, n].
double sqz_pass_at_k(int n, int c, int k);

// ---- the sandbox -------------------------------------------------------------------------------

// What happened to one sample. On-disk/JSON names from sqz_outcome_str (append-only).
typedef enum sqz_outcome {
    SQZ_OUTCOME_PASSED = 0,    // exit status 0 (and, for fail_on_output jobs, no output)
    SQZ_OUTCOME_FAILED = 1,    // non-zero exit: a failed assertion, an exception, a compile error
    SQZ_OUTCOME_TIMEOUT = 2,   // the wall-clock limit or the CPU-time limit (SIGXCPU) was hit
    SQZ_OUTCOME_CRASHED = 3,   // killed by a signal other than SIGSYS/SIGXCPU (SIGSEGV, SIGABRT, ...)
    SQZ_OUTCOME_VIOLATION = 4, // killed by the seccomp filter (SIGSYS): a forbidden system call
} sqz_outcome;

// "passed", "failed", "timeout", "crashed", "sandbox-violation".
const char *sqz_outcome_str(sqz_outcome o);

// Resource limits of one run. Zero fields mean "use the default" (sqz_sandbox_limits_default).
typedef struct sqz_sandbox_limits {
    double timeout_s;      // wall clock for the whole run (compile + test); default 10
    int cpu_s;             // RLIMIT_CPU per process; default ceil(timeout_s) + 1
    size_t mem_bytes;      // RLIMIT_AS per process; default 2 GiB
    int max_procs;         // RLIMIT_NPROC (per sandbox uid, one uid per worker); default 64
    size_t max_file_bytes; // RLIMIT_FSIZE; default 16 MiB
    int max_open_files;    // RLIMIT_NOFILE; default 64
    size_t tmpfs_bytes;    // size of the private /tmp working directory; default 64 MiB
    size_t stdout_cap;     // bytes of stdout kept (the head); default 64 KiB
    size_t stderr_cap;     // bytes of stderr kept (the tail); default 4 KiB
} sqz_sandbox_limits;

// Fill in the defaults documented above for every zero field.
void sqz_sandbox_limits_default(sqz_sandbox_limits *l);

// A file placed in the private working directory before the program starts. `name` is a relative
// path ("main.py", "python_programs/gcd.py"); parent folders are created. Bytes are borrowed.
typedef struct sqz_sandbox_file {
    const char *name;
    const char *data;
    size_t len;
} sqz_sandbox_file;

// One program to run. All pointers are borrowed for the duration of the run.
typedef struct sqz_sandbox_job {
    const char *const *argv; // NULL-terminated; argv[0] is an absolute path (no PATH search)
    // Optional first step (a compiler), run in the same sandbox; if it does not exit 0 the run
    // stops and the outcome is that of the step (a compile error is "failed"). NULL: none.
    const char *const *compile_argv;
    const sqz_sandbox_file *files;
    size_t n_files;
    sqz_sandbox_limits limits;
    int fail_on_output; // 1: any stdout/stderr output counts as failed (HumanEval-X JavaScript rule)
} sqz_sandbox_job;

typedef struct sqz_sandbox_result {
    sqz_outcome outcome;
    int exit_code;     // exit status, or -1 when killed by a signal
    int term_signal;   // the killing signal, or 0
    double wall_s;     // wall-clock time of the run
    char *out;         // head of stdout, NUL-terminated (owned)
    size_t out_len;
    char *err;         // tail of stderr, NUL-terminated (owned)
    size_t err_len;
    int out_truncated; // 1 if stdout/stderr were longer than the caps
    int err_truncated;
} sqz_sandbox_result;

// Run one job in a fresh sandbox (docs/sandbox.md): new PID, network, mount, IPC and UTS
// namespaces; the file system read-only except a private tmpfs /tmp that is the working
// directory and HOME; an unprivileged uid (65000 + slot, so concurrent runs do not share their
// process limit); rlimits; a seccomp filter; a clean environment; the wall-clock limit kills every
// process of the run. `slot` (0..999) identifies the worker. A program that fails, crashes or times
// out is a normal result (SQZ_OK with res->outcome); errors are only for a sandbox that cannot be
// set up (SQZ_ERR_SANDBOX, e.g. no privileges, argv[0] cannot be executed) or bad arguments.
// On success the caller owns res (release with sqz_sandbox_result_clear).
sqz_status sqz_sandbox_run(const sqz_sandbox_job *job, int slot, sqz_sandbox_result *res);

// Free the buffers of a result and zero it (accepts a zeroed result).
void sqz_sandbox_result_clear(sqz_sandbox_result *res);

// Run n jobs on a pool of n_workers threads (0 = number of physical cores); results[i] belongs to
// jobs[i]. Stops at the first sandbox setup error (returned, with results cleared).
sqz_status sqz_sandbox_run_many(const sqz_sandbox_job *jobs, size_t n, int n_workers,
                                sqz_sandbox_result *results);

// ---- code tasks --------------------------------------------------------------------------------

typedef enum sqz_lang { SQZ_LANG_PYTHON, SQZ_LANG_CPP, SQZ_LANG_JAVA, SQZ_LANG_JS } sqz_lang;

// "python", "cpp", "java", "js". Parsing accepts these and "c++", "javascript";
// SQZ_ERR_ARG "unknown language" otherwise.
const char *sqz_lang_str(sqz_lang l);
sqz_status sqz_lang_parse(const char *s, sqz_lang *out);
// 1 if the toolchain for a language is installed (/usr/bin/python3, g++, javac+java, node).
int sqz_lang_available(sqz_lang l);

typedef struct sqz_code_task sqz_code_task; // the problems of a benchmark, with their tests

// Load a benchmark from data_dir (the folder holding humaneval/, humaneval-x/, quixbugs/):
//   "humaneval"          data_dir/humaneval/HumanEval.jsonl.gz, 164 Python problems
//   "humaneval-x-<lang>" data_dir/humaneval-x/humaneval_<lang>.jsonl.gz (cpp, java, js, python)
//   "quixbugs"           data_dir/quixbugs: 40 Python programs; a completion is a whole program
// Unknown names give SQZ_ERR_ARG; missing or malformed files name the file and line.
sqz_status sqz_code_task_load(sqz_code_task **out, const char *name, const char *data_dir);
// Load HumanEval-format problems ({task_id, prompt, canonical_solution, test, entry_point} per
// line) from any file, gzip-compressed or plain (human-eval's --problem_file).
sqz_status sqz_code_task_load_humaneval(sqz_code_task **out, const char *path);
void sqz_code_task_free(sqz_code_task *t);

size_t sqz_code_task_count(const sqz_code_task *t);
sqz_lang sqz_code_task_lang(const sqz_code_task *t);
const char *sqz_code_task_id(const sqz_code_task *t, size_t i);
// Index of a task id, or -1.
long sqz_code_task_find(const sqz_code_task *t, const char *task_id);
// The prompt given to a model (HumanEval: the function signature and docstring; QuixBugs: the
// buggy program).
const char *sqz_code_task_prompt(const sqz_code_task *t, size_t i);
// A known-good completion: HumanEval's canonical solution, QuixBugs' corrected program.
const char *sqz_code_task_reference(const sqz_code_task *t, size_t i);
// A known-bad completion where the benchmark has one (QuixBugs' buggy program), else NULL.
const char *sqz_code_task_buggy(const sqz_code_task *t, size_t i);

// A job built for one completion of task i: owns its argv and files (the job field points into
// it). Release with sqz_code_job_free.
typedef struct sqz_code_job {
    sqz_sandbox_job job;
    char *storage[4]; // owned buffers behind job (the assembled program, ...)
    sqz_sandbox_file files_[8];
    const char *argv_[16], *cc_argv_[16];
} sqz_code_job;

// Assemble the program of task i with `completion` as the reference harnesses do (human-eval:
// prompt + completion + "\n" + test + "\n" + "check(entry_point)"; HumanEval-X as CodeGeeX's
// evaluate_humaneval_x.py; QuixBugs: the program and its python_testcases test file run by a
// small pytest-compatible runner). `limits` may be NULL for the language defaults.
sqz_status sqz_code_job_make(const sqz_code_task *t, size_t i, const char *completion,
                             const sqz_sandbox_limits *limits, sqz_code_job *out);
void sqz_code_job_free(sqz_code_job *j);

// ---- samples and checking ----------------------------------------------------------------------

typedef struct sqz_sample {
    char *task_id;
    char *completion;
} sqz_sample;

// Parse HumanEval-style samples JSONL ({"task_id": ..., "completion": ...} per line; blank lines
// skipped; other keys ignored). `name` is used in messages ("samples.jsonl:3: ..."). Errors:
// SQZ_ERR_FORMAT for bad JSON or missing/non-string fields, SQZ_ERR_IO for unreadable files.
sqz_status sqz_samples_parse(const char *text, size_t len, const char *name, sqz_sample **out,
                             size_t *n_out);
sqz_status sqz_samples_read(const char *path, sqz_sample **out, size_t *n_out);
void sqz_samples_free(sqz_sample *s, size_t n);

typedef struct sqz_check_task {
    const char *task_id; // borrowed from the sqz_code_task
    int n;               // samples of this task
    int c;               // of which passed
} sqz_check_task;

typedef struct sqz_check_result {
    sqz_sandbox_result *samples; // one per input sample, in input order
    size_t n_samples;
    sqz_check_task *tasks;       // tasks that have samples, in benchmark order
    size_t n_tasks;
    int *ks;                     // the k asked
    double *pass_at_k;           // mean over tasks; NaN where some task has fewer than k samples
    size_t n_k;
    double wall_s;
} sqz_check_result;

// Run every sample against its task's tests on n_workers (0 = physical cores) and compute pass@k
// for each k in ks (human-eval rule: pass@k is only defined when every task has n >= k; else NaN).
// Unknown task ids give SQZ_ERR_ARG naming the sample's line.
sqz_status sqz_check_run(const sqz_code_task *t, const sqz_sample *samples, size_t n_samples,
                         const int *ks, size_t n_k, int n_workers, const sqz_sandbox_limits *limits,
                         sqz_check_result *out);
void sqz_check_result_clear(sqz_check_result *r);

#ifdef __cplusplus
}
#endif
#endif

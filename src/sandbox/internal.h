// Internals of the sandbox module shared between its files.
#ifndef SQZ_SANDBOX_INTERNAL_H
#define SQZ_SANDBOX_INTERNAL_H

#include <linux/filter.h>

#include "sqz/sandbox.h"

// The seccomp filter as a classic-BPF program, built once per process with libseccomp and
// exported, so the sandboxed child can install it with one prctl (no allocation after clone).
// The pointer stays valid for the life of the process.
sqz_status sqz_sbx_filter_get(const struct sock_fprog **out);

// A benchmark problem. QuixBugs: prompt = buggy = python_programs/<name>.py, reference =
// correct_python_programs/<name>.py, test = python_testcases/test_<name>.py.
typedef struct sqz_problem {
    char *task_id, *prompt, *reference, *buggy, *test, *entry_point;
    char *json_cases; // QuixBugs: json_testcases/<name>.json, or NULL
} sqz_problem;

typedef enum { SQZ_TASK_HUMANEVAL, SQZ_TASK_HUMANEVAL_X, SQZ_TASK_QUIXBUGS } sqz_task_kind;

struct sqz_code_task {
    sqz_task_kind kind;
    sqz_lang lang;
    sqz_problem *p;
    size_t n;
    char *qb_load_testdata, *qb_node; // QuixBugs python_testcases helpers
};

#endif

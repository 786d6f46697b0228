// Shared by test_humaneval.c and test_quixbugs.c: run every task of a benchmark with one
// known-good or known-bad completion each, through sqz_check_run.
#ifndef SQZ_TEST_RUN_ALL_H
#define SQZ_TEST_RUN_ALL_H
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"
#include "sqz/sandbox.h"

#define DATA "../shared/data/datasets"

// Run one completion per task (known-good or known-bad) and count the outcomes.
static inline void run_all(const sqz_code_task *t, int good, const sqz_sandbox_limits *lim, int *n_pass,
                    int *n_tasks) {
    size_t n = sqz_code_task_count(t);
    sqz_sample *s = calloc(n, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        const char *buggy = sqz_code_task_buggy(t, i);
        s[i].task_id = (char *)(uintptr_t)sqz_code_task_id(t, i);
        s[i].completion = (char *)(uintptr_t)(good ? sqz_code_task_reference(t, i) : buggy ? buggy : "");
    }
    int ks[2] = {1, 2};
    sqz_check_result r;
    double t0 = sqz_time_now();
    CHECK_OK(sqz_check_run(t, s, n, ks, 2, 0, lim, &r));
    *n_pass = 0;
    *n_tasks = (int)r.n_tasks;
    for (size_t i = 0; i < r.n_samples; i++) {
        int passed = r.samples[i].outcome == SQZ_OUTCOME_PASSED;
        *n_pass += passed;
        if (passed != good)
            fprintf(stderr, "  %s: %s (%s)\n", s[i].task_id, sqz_outcome_str(r.samples[i].outcome),
                    r.samples[i].err);
    }
    CHECK(isnan(r.pass_at_k[1])); // one sample per task: pass@2 is undefined
    CHECK(fabs(r.pass_at_k[0] - (double)*n_pass / (double)n) < 1e-12);
    printf("%zu %s completions: %d passed in %.1f s\n", n, good ? "good" : "bad", *n_pass,
           sqz_time_now() - t0);
    sqz_check_result_clear(&r);
    free(s);
}

#endif

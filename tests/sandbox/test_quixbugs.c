// The 40 QuixBugs Python programs fail in their buggy versions and pass in their corrected
// versions (run through QuixBugs' own python_testcases).
#include "run_all.h"

int main(void) {
    sqz_code_task *qb;
    int n_pass, n_tasks;
    CHECK_OK(sqz_code_task_load(&qb, "quixbugs", DATA));
    run_all(qb, 1, NULL, &n_pass, &n_tasks); // default 10 s: the correct levenshtein is slow
    CHECK(n_tasks == 40 && n_pass == 40);
    sqz_sandbox_limits lim = {.timeout_s = 5}; // two buggy programs never terminate
    run_all(qb, 0, &lim, &n_pass, &n_tasks);
    CHECK(n_tasks == 40 && n_pass == 0);
    sqz_code_task_free(qb);
    return test_summary();
}

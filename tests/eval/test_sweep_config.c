// Sweep config: a full valid config, per-task limits and sampling settings, how they enter a cell's
// signature (and reach the sandbox), and every class of error with its file:line:col message.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval/sweep_config.h"
#include "harness.h"
#include "sqz/eval.h"
#include "sqz/store.h"

static char dir[64];

static void write_file(const char *name, const char *text) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

// Write text as sweep.yaml and load it.
static sqz_status load(const char *text, sqz_sweep_plan **p) {
    write_file("sweep.yaml", text);
    char path[256];
    snprintf(path, sizeof path, "%s/sweep.yaml", dir);
    return sqz_sweep_config_load(path, NULL, p);
}

static const char *GOOD =
    "# a small sweep\n"
    "db: results.db\n"
    "seed: 1234\n"
    "price_per_hour: 0.5\n"
    "limits: {items: 20, max_tokens: 128, timeout_s: 5}\n"
    "sampling:\n"
    "  temperature: 0\n"
    "  top_k: 0\n"
    "models:\n"
    "  - models/smol.Q4_1.gguf\n"
    "  - {path: models/other.gguf, name: other}\n"
    "recipes:\n"
    "  - none\n"
    "  - {name: q4, recipe: \"rtn:bits=4,group=32\"}\n"
    "  - q8_0\n"
    "tasks: [humaneval, \"humaneval-x:java\", codexglue-java-cs, perplexity]\n";

static void test_good(void) {
    sqz_sweep_plan *p = NULL;
    CHECK_OK(load(GOOD, &p));
    if (!p)
        return;
    char want[256];
    snprintf(want, sizeof want, "%s/results.db", dir);
    CHECK(!strcmp(p->db_path, want));
    CHECK(p->n_models == 2 && p->n_recipes == 3 && p->n_tasks == 4);
    snprintf(want, sizeof want, "%s/models/smol.Q4_1.gguf", dir);
    CHECK(!strcmp(p->models[0].path, want) && !strcmp(p->models[0].name, "smol.Q4_1"));
    CHECK(!strcmp(p->models[1].name, "other"));
    CHECK(!strcmp(p->recipes[0].name, "full") && !strcmp(p->recipes[0].canonical, SQZ_RECIPE_NONE));
    CHECK(!strcmp(p->recipes[1].name, "q4") && !strcmp(p->recipes[1].text, "rtn:bits=4,group=32"));
    CHECK_MSG(strstr(p->recipes[1].canonical, "rtn:bits=4,group=32") == p->recipes[1].canonical, "%s",
              p->recipes[1].canonical);
    CHECK(!strcmp(p->recipes[2].name, "q8_0"));
    CHECK(!strcmp(p->tasks[1].name, "humaneval-x:java"));
    CHECK(p->limit == 20 && p->max_tokens == 128 && p->timeout_s == 5 && p->seed == 1234);
    for (int i = 0; i < p->n_tasks; i++) // no entry overrides: every task has the plan's limits
        CHECK(p->tasks[i].limit == 20 && p->tasks[i].max_tokens == 128 && p->tasks[i].timeout_s == 5);
    CHECK(p->temperature == 0 && p->top_p == 1 && p->n_samples == 1 && p->price_per_hour == 0.5);
    CHECK(sqz_sweep_plan_cells(p) == 24);
    char *js = sqz_sweep_sampling_json(p, &p->tasks[0]);
    CHECK(js && !strcmp(js, "{\"max_tokens\":128,\"n\":1,\"temperature\":0.0,\"top_k\":0,\"top_p\":1.0}"));
    free(js);
    sqz_sweep_plan_free(p);
    // A caller-supplied task list replaces the default one.
    const char *tasks[] = {"mytask", NULL};
    const char *mem = "db: r.db\nmodels: [models/other.gguf]\nrecipes: [none]\ntasks: [humaneval]\n";
    CHECK_ERR(sqz_sweep_config_parse(mem, strlen(mem), "mem.yaml", dir, tasks, &p),
              SQZ_ERR_ARG, "mem.yaml:4:9: tasks[0]: unknown task 'humaneval' (known: mytask)");
}

// The signature hash of a cell of plan p's task ti, as the sweep writes it (metric settings from the
// task opened with the task's limit and timeout; sampling settings of the plan and task, none for
// perplexity and divergence).
static void cell_hash(const sqz_sweep_plan *p, int ti, char hash[65]) {
    const sqz_sweep_task *pt = &p->tasks[ti];
    sqz_task_opts to = {.data_dir = "../shared/data/datasets", .limit = pt->limit, .seed = p->seed,
                        .timeout_s = pt->timeout_s};
    sqz_task *t = NULL;
    char *metric = NULL, *sampling = NULL, *json = NULL;
    hash[0] = 0;
    CHECK_OK(sqz_task_open(&t, pt->name, &to));
    if (!t)
        return;
    metric = sqz_task_metric_json(t);
    sqz_eval_kind k = sqz_task_get_kind(t);
    sampling = k == SQZ_EVAL_PERPLEXITY || k == SQZ_EVAL_DIVERGENCE ? strdup("{}") : sqz_sweep_sampling_json(p, pt);
    sqz_signature sig = {"0", NULL, "none", pt->name, metric, sampling, pt->limit, p->seed, "0", "x"};
    CHECK_OK(sqz_signature_json(&sig, &json, hash));
    free(json), free(metric), free(sampling);
    sqz_task_free(t);
}

static sqz_sweep_plan *load_ok(const char *text) {
    sqz_sweep_plan *p = NULL;
    CHECK_OK(load(text, &p));
    return p;
}

#define BASE "db: r.db\nmodels: [models/other.gguf]\nrecipes: [none]\n"

// Task entries override the plan's limits, in any key order; the defaults of timeout and top_p.
static void test_task_entries(void) {
    sqz_sweep_plan *p = load_ok(BASE "tasks:\n  - {name: humaneval, limit: 8, max_tokens: 64, timeout_s: 30}\n"
                                     "  - perplexity\n  - {name: mbpp, timeout_s: 2.5}\n"
                                     "limits: {items: 20, max_tokens: 128, timeout_s: 5}\n");
    if (!p)
        return;
    const sqz_sweep_task *t = p->tasks;
    CHECK(p->n_tasks == 3 && !strcmp(t[0].name, "humaneval") && !strcmp(t[1].name, "perplexity"));
    CHECK(t[0].limit == 8 && t[0].max_tokens == 64 && t[0].timeout_s == 30);
    CHECK(t[1].limit == 20 && t[1].max_tokens == 128 && t[1].timeout_s == 5);
    CHECK(t[2].limit == 20 && t[2].max_tokens == 128 && t[2].timeout_s == 2.5);
    char *a = sqz_sweep_sampling_json(p, &t[0]), *b = sqz_sweep_sampling_json(p, &t[1]);
    CHECK_MSG(a && !strcmp(a, "{\"max_tokens\":64,\"n\":1,\"temperature\":0.0,\"top_k\":0,\"top_p\":1.0}"), "%s", a);
    CHECK(b && strstr(b, "\"max_tokens\":128"));
    free(a), free(b);
    sqz_sweep_plan_free(p);
    // No limits anywhere: all items, 512 tokens, the sandbox's per-language timeout (0).
    p = load_ok(BASE "tasks: [{name: humaneval}]\n");
    CHECK(p && p->tasks[0].limit == 0 && p->tasks[0].max_tokens == 512 && p->tasks[0].timeout_s == 0);
    CHECK(p && p->top_p == 1 && p->temperature == 0 && p->top_k == 0 && p->n_samples == 1);
    sqz_sweep_plan_free(p);
    // top_p: 0.95 with a temperature (as sqz eval), else as given.
    p = load_ok(BASE "tasks: [humaneval]\nsampling: {temperature: 0.8, n: 10, top_k: 40}\n");
    CHECK(p && p->top_p == 0.95 && p->temperature == 0.8 && p->n_samples == 10 && p->top_k == 40);
    sqz_sweep_plan_free(p);
    p = load_ok(BASE "tasks: [humaneval]\nsampling: {temperature: 0.8, top_p: 0.5}\n");
    CHECK(p && p->top_p == 0.5);
    sqz_sweep_plan_free(p);
}

// Every setting that changes a cell's numbers changes its signature hash, so a resumed sweep never
// reuses a cell computed with other settings; settings a task does not use leave its hash alone.
static void test_signatures(void) {
    static const char *const variants[] = {
        "sampling: {temperature: 0.8}\n",                      // 0: the reference (top_p 0.95)
        "sampling: {temperature: 0.8, top_p: 0.95}\n",         // 1: = 0 (the default written out)
        "sampling: {temperature: 0.8, top_p: 0.9}\n",          // 2: top_p
        "sampling: {temperature: 0.8, top_k: 5}\n",            // 3: top_k
        "sampling: {temperature: 0.7}\n",                      // 4: temperature
        "sampling: {temperature: 0.8, n: 3}\n",                // 5: samples per item
        "sampling: {temperature: 0.8}\nseed: 2\n",             // 6: seed
        "sampling: {temperature: 0.8}\nlimits: {timeout_s: 3}\n",   // 7: sandbox timeout
        "sampling: {temperature: 0.8}\nlimits: {timeout_s: 4}\n",   // 8: another timeout
        "sampling: {temperature: 0.8}\nlimits: {max_tokens: 100}\n", // 9: max tokens
        "sampling: {temperature: 0.8}\nlimits: {items: 3}\n",       // 10: limit
    };
    enum { N = sizeof variants / sizeof *variants };
    char h[N][65], hp[N][65];
    for (int i = 0; i < N; i++) {
        char text[512];
        snprintf(text, sizeof text, BASE "tasks: [humaneval, perplexity]\n%s", variants[i]);
        sqz_sweep_plan *p = load_ok(text);
        h[i][0] = hp[i][0] = 0;
        if (p)
            cell_hash(p, 0, h[i]), cell_hash(p, 1, hp[i]);
        sqz_sweep_plan_free(p);
    }
    CHECK(h[0][0] && !strcmp(h[0], h[1]));
    for (int i = 2; i < N; i++)
        for (int j = 0; j < i; j++)
            CHECK_MSG(strcmp(h[i], h[j]) != 0, "humaneval: variant %d has the signature of variant %d", i, j);
    // perplexity samples nothing and runs no programs: only its limit changes it.
    for (int i = 1; i < N - 1; i++)
        CHECK_MSG(!strcmp(hp[i], hp[0]) == (i != 6), "perplexity: variant %d", i); // (seed is in every signature)
    CHECK(strcmp(hp[N - 1], hp[0]) != 0);
    // A per-task override is the same cell as the plan-wide setting it equals.
    char a[65] = "", b[65] = "";
    sqz_sweep_plan *p = load_ok(BASE "tasks: [{name: humaneval, timeout_s: 3, limit: 2}]\n");
    if (p)
        cell_hash(p, 0, a);
    sqz_sweep_plan_free(p);
    p = load_ok(BASE "tasks: [humaneval]\nlimits: {timeout_s: 3, items: 2}\n");
    if (p)
        cell_hash(p, 0, b);
    sqz_sweep_plan_free(p);
    CHECK(a[0] && !strcmp(a, b));
}

// The timeout reaches the sandbox: a HumanEval program that never ends is stopped after the task's
// timeout, not the default 10 s.
static void test_timeout_reaches_sandbox(void) {
    sqz_task_opts to = {.data_dir = "../shared/data/datasets", .limit = 1, .timeout_s = 1.0};
    sqz_task *t = NULL;
    CHECK_OK(sqz_task_open(&t, "humaneval", &to));
    if (!t)
        return;
    const char *gens[] = {"    while True:\n        pass\n"};
    sqz_task_scores sc;
    double t0 = sqz_time_now();
    CHECK_OK(sqz_task_score(t, gens, 1, 1, &sc));
    double dt = sqz_time_now() - t0;
    CHECK_MSG(dt > 0.9 && dt < 6, "an endless program with timeout 1 s took %.2f s", dt);
    CHECK(sc.outcome && sc.outcome[0] == 0);
    sqz_task_scores_clear(&sc);
    sqz_task_free(t);
    to.timeout_s = -1;
    CHECK_ERR(sqz_task_open(&t, "humaneval", &to), SQZ_ERR_ARG, "timeout -1 s: expected 0..86400");
}

// Replace the first occurrence of `from` in GOOD by `to` and expect an error.
static void expect(const char *from, const char *to, sqz_status code, const char *needle) {
    const char *at = strstr(GOOD, from);
    char text[2048];
    if (!at) {
        CHECK_MSG(0, "'%s' not in the config", from);
        return;
    }
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - GOOD), GOOD, to, at + strlen(from));
    sqz_sweep_plan *p = NULL;
    sqz_status st = load(text, &p);
    const char *m = sqz_last_error();
    CHECK_MSG(st == code && strstr(m, needle) && strstr(m, "sweep.yaml:"), "replacing '%s': status %d, '%s'",
              from, (int)st, m);
    CHECK(p == NULL);
    sqz_sweep_plan_free(p);
}

static void test_errors(void) {
    expect("humaneval, ", "humaneva, ", SQZ_ERR_ARG, "sweep.yaml:16:9: tasks[0]: unknown task 'humaneva' (known: humaneval,");
    expect("models/smol.Q4_1.gguf", "models/missing.gguf", SQZ_ERR_NOT_FOUND,
           "sweep.yaml:10:5: models[0]: model file");
    expect("models/smol.Q4_1.gguf", "models/missing.gguf", SQZ_ERR_NOT_FOUND, "missing.gguf' does not exist");
    expect("\"rtn:bits=4,group=32\"", "\"rtn:bits=5x\"", SQZ_ERR_ARG, "sweep.yaml:14:24: recipes[1]: recipe 'rtn:bits=5x'");
    expect("q8_0\n", "q9_0\n", SQZ_ERR_ARG, "sweep.yaml:15:5: recipes[2]:");
    expect("db: results.db", "db: /nonexistent-sqz/results.db", SQZ_ERR_IO,
           "sweep.yaml:2:5: db: directory '/nonexistent-sqz' does not exist");
    expect("db: results.db", "db: models", SQZ_ERR_IO, "is not a writable file");
    expect("seed: 1234", "seed: abc", SQZ_ERR_ARG, "sweep.yaml:3:7: seed: expected an integer");
    expect("seed: 1234", "sead: 1234", SQZ_ERR_ARG, "sweep.yaml:3:1: config: unknown key 'sead' (known: db, seed,");
    expect("seed: 1234", "seed: 1\nseed: 2", SQZ_ERR_ARG, "key 'seed' given twice");
    expect("top_k: 0", "top_p: 0", SQZ_ERR_ARG, "sampling.top_p: must be > 0");
    expect("temperature: 0", "temperature: -1", SQZ_ERR_ARG, "sweep.yaml:7:16: sampling.temperature: expected a number");
    expect("items: 20", "items: -1", SQZ_ERR_ARG, "limits.items: expected an integer in 0..");
    expect("timeout_s: 5", "timeout_s: soon", SQZ_ERR_ARG, "limits.timeout_s");
    expect("limits: {", "limits: {bogus: 1, ", SQZ_ERR_ARG, "limits: unknown key 'bogus'");
    expect("tasks: [humaneval, \"humaneval-x:java\", codexglue-java-cs, perplexity]", "tasks: []", SQZ_ERR_ARG,
           "tasks: the list is empty");
    expect("tasks: [humaneval, \"humaneval-x:java\", codexglue-java-cs, perplexity]\n", "", SQZ_ERR_ARG,
           "missing required key 'tasks'");
    expect("perplexity]", "humaneval]", SQZ_ERR_ARG, "tasks[3]: 'humaneval' is already tasks[0]");
    expect("  - q8_0", "  - \"q8_0:imatrix=0\"\n  - q8_0", SQZ_ERR_ARG, "recipes[3]: the same recipe as recipes[2]");
    expect("{path: models/other.gguf, name: other}", "{name: other}", SQZ_ERR_ARG, "models[1]: missing 'path'");
    expect("{path: models/other.gguf, name: other}", "{path: models/smol.Q4_1.gguf}", SQZ_ERR_ARG,
           "models[1]: same path or name as models[0]");
    expect("models:\n  - models/smol.Q4_1.gguf\n  - {path: models/other.gguf, name: other}", "models: x",
           SQZ_ERR_ARG, "models: expected a list");
    expect("tasks: [", "tasks: [[1], ", SQZ_ERR_ARG, "tasks[0]: expected a string");
    expect("perplexity]", "perplexity", SQZ_ERR_FORMAT, "YAML syntax error");
    // task entries
    expect("humaneval, ", "{name: humaneval, limit: -1}, ", SQZ_ERR_ARG,
           "sweep.yaml:16:34: tasks[0].limit: expected an integer in 0..");
    expect("humaneval, ", "{name: humaneval, max_tokens: 0}, ", SQZ_ERR_ARG, "tasks[0].max_tokens: expected an integer in 1..");
    expect("humaneval, ", "{name: humaneval, timeout_s: 0}, ", SQZ_ERR_ARG,
           "sweep.yaml:16:38: tasks[0].timeout_s: expected a number in 0.001..86400, got '0'");
    expect("humaneval, ", "{name: humaneval, top_p: 0.5}, ", SQZ_ERR_ARG,
           "sweep.yaml:16:27: tasks[0]: unknown key 'top_p' (known: name, limit, max_tokens, timeout_s)");
    expect("humaneval, ", "{name: humaneval, limit: 1, limit: 2}, ", SQZ_ERR_ARG, "tasks[0]: key 'limit' given twice");
    expect("humaneval, ", "{limit: 3}, ", SQZ_ERR_ARG, "sweep.yaml:16:9: tasks[0]: missing 'name'");
    expect("humaneval, ", "{name: humaneva, limit: 3}, ", SQZ_ERR_ARG, "sweep.yaml:16:16: tasks[0]: unknown task 'humaneva'");
    expect("humaneval, ", "{name: [humaneval]}, ", SQZ_ERR_ARG, "tasks[0].name: expected a string");
    expect("perplexity]", "{name: humaneval, limit: 2}]", SQZ_ERR_ARG, "tasks[3]: 'humaneval' is already tasks[0]");
    // sampling settings that only make sense together
    expect("top_k: 0", "top_k: 0\n  n: 4", SQZ_ERR_ARG,
           "sweep.yaml:7:3: sampling.n: 4 samples per item need sampling.temperature > 0");
    expect("top_k: 0", "top_k: -1", SQZ_ERR_ARG, "sampling.top_k: expected an integer in 0..");
    expect("top_k: 0", "top_p: 1.5", SQZ_ERR_ARG, "sampling.top_p: expected a number in 0..1");
    expect("top_k: 0", "n: 0", SQZ_ERR_ARG, "sampling.n: expected an integer in 1..");
    expect("top_k: 0", "seed: 3", SQZ_ERR_ARG, "sampling: unknown key 'seed' (known: temperature, top_p, top_k, n)");
    sqz_sweep_plan *p = NULL;
    CHECK_ERR(load("", &p), SQZ_ERR_ARG, "the config is empty");
    CHECK_ERR(load("- a\n- b\n", &p), SQZ_ERR_ARG, "sweep.yaml:1:1: config: expected a mapping");
    CHECK_ERR(sqz_sweep_config_load("/nonexistent-sqz/sweep.yaml", NULL, &p), SQZ_ERR_IO, "/nonexistent-sqz/sweep.yaml");
    if (geteuid() != 0) { // root ignores permission bits
        char ro[128];
        snprintf(ro, sizeof ro, "%s/ro", dir);
        mkdir(ro, 0500);
        expect("db: results.db", "db: ro/results.db", SQZ_ERR_IO, "is not writable");
    }
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/sqz-sweep-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    char p[128];
    snprintf(p, sizeof p, "%s/models", dir);
    mkdir(p, 0755);
    write_file("models/smol.Q4_1.gguf", "GGUF");
    write_file("models/other.gguf", "GGUF");
    test_good();
    test_errors();
    test_task_entries();
    test_signatures();
    test_timeout_reaches_sandbox();
    char cmd[256];
    snprintf(cmd, sizeof cmd, "chmod -R u+w %s; rm -rf %s", dir, dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_summary();
}

// Sweep config: a full valid config, and every class of error with its file:line:col message.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval/sweep_config.h"
#include "harness.h"
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
    CHECK(!strcmp(p->tasks[1], "humaneval-x:java"));
    CHECK(p->limit == 20 && p->max_tokens == 128 && p->timeout_s == 5 && p->seed == 1234);
    CHECK(p->temperature == 0 && p->top_p == 1 && p->n_samples == 1 && p->price_per_hour == 0.5);
    CHECK(sqz_sweep_plan_cells(p) == 24);
    char *js = sqz_sweep_sampling_json(p);
    CHECK(js && !strcmp(js, "{\"max_tokens\":128,\"n\":1,\"temperature\":0.0,\"top_k\":0,\"top_p\":1.0}"));
    free(js);
    sqz_sweep_plan_free(p);
    // A caller-supplied task list replaces the default one.
    const char *tasks[] = {"mytask", NULL};
    const char *mem = "db: r.db\nmodels: [models/other.gguf]\nrecipes: [none]\ntasks: [humaneval]\n";
    CHECK_ERR(sqz_sweep_config_parse(mem, strlen(mem), "mem.yaml", dir, tasks, &p),
              SQZ_ERR_ARG, "mem.yaml:4:9: tasks[0]: unknown task 'humaneval' (known: mytask)");
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
    char cmd[256];
    snprintf(cmd, sizeof cmd, "chmod -R u+w %s; rm -rf %s", dir, dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_summary();
}

// Task registry on the real datasets: loaders and prompts (counts, first items), subsets, stop
// rules, scorers on known inputs (canonical solutions pass, buggy programs fail, references score
// 1), the held-out corpus split, MBPP's JSONL format on a fixture, and the statistics helpers.
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "sqz.h"

#define DATA "../shared/data/datasets"

static sqz_task *open_task(const char *name, int64_t limit, uint64_t seed) {
    sqz_task_opts o = {.data_dir = DATA, .limit = limit, .seed = seed};
    sqz_task *t = NULL;
    CHECK_OK(sqz_task_open(&t, name, &o));
    return t;
}

// Score each item's reference (or `gen` when non-NULL) as the generation; returns the primary value.
static double score_refs(sqz_task *t, const char *gen, sqz_task_scores *sc) {
    size_t n = sqz_task_count(t);
    const char **g = malloc(n * sizeof *g);
    for (size_t i = 0; i < n; i++)
        g[i] = gen ? gen : sqz_task_item_at(t, i)->reference;
    sqz_status st = sqz_task_score(t, g, 1, 2, sc);
    CHECK_MSG(st == SQZ_OK, "%s", sqz_last_error());
    free(g);
    return st == SQZ_OK && sc->n_metrics ? sc->values[0] : NAN;
}

static double metric_of(const sqz_task_scores *s, const char *name) {
    for (size_t i = 0; i < s->n_metrics; i++)
        if (!strcmp(s->names[i], name))
            return s->values[i];
    return NAN;
}

static void test_humaneval(void) {
    sqz_task *t = open_task("humaneval", 0, 0);
    if (!t)
        return;
    CHECK(sqz_task_count(t) == 164);
    CHECK(sqz_task_get_kind(t) == SQZ_EVAL_EXEC);
    const sqz_task_item *it = sqz_task_item_at(t, 0);
    CHECK(!strcmp(it->id, "HumanEval/0"));
    CHECK(strstr(it->prompt, "def has_close_elements(numbers: List[float], threshold: float) -> bool:") != NULL);
    CHECK(it->context && !strcmp(it->context, it->prompt));
    CHECK(strstr(it->reference, "for idx, elem in enumerate(numbers):") == it->reference + 4);
    const char *const *stops = sqz_task_stops(t);
    CHECK(!strcmp(stops[0], "\ndef ") && !strcmp(stops[4], "\n#") && !stops[5]);
    const char *g = "    return 1\n\ndef other():\n";
    CHECK(sqz_task_stop_at(t, g, strlen(g)) == 13);
    CHECK(sqz_task_stop_at(t, "    return 1\n", 13) == -1);
    sqz_task_free(t);

    // subsets: deterministic for a seed, in benchmark order, different for another seed
    sqz_task *a = open_task("humaneval", 5, 7), *b = open_task("humaneval", 5, 7), *c = open_task("humaneval", 5, 8);
    if (!a || !b || !c)
        return;
    CHECK(sqz_task_count(a) == 5);
    int same = 1, diff = 0, ordered = 1;
    for (size_t i = 0; i < 5; i++) {
        same &= !strcmp(sqz_task_item_at(a, i)->id, sqz_task_item_at(b, i)->id);
        diff |= strcmp(sqz_task_item_at(a, i)->id, sqz_task_item_at(c, i)->id) != 0;
        if (i)
            ordered &= atoi(sqz_task_item_at(a, i - 1)->id + 10) < atoi(sqz_task_item_at(a, i)->id + 10);
    }
    CHECK(same && diff && ordered);
    // the canonical solution passes, CodeBLEU of a reference against itself is 1
    sqz_task_scores sc;
    CHECK(score_refs(a, NULL, &sc) == 1.0);
    CHECK(!strcmp(sc.names[0], "pass@1"));
    CHECK(fabs(metric_of(&sc, "codebleu") - 1.0) < 1e-9);
    CHECK(metric_of(&sc, "exact_match") == 1.0);
    CHECK(sc.outcome[0] == SQZ_OUTCOME_PASS && strstr(sc.item_json[0], "\"passed\":1"));
    sqz_task_scores_clear(&sc);
    // a wrong body fails every problem
    CHECK(score_refs(a, "    return None\n", &sc) == 0.0);
    CHECK(sc.outcome[4] == SQZ_OUTCOME_FAIL);
    sqz_task_scores_clear(&sc);
    sqz_task_free(a), sqz_task_free(b), sqz_task_free(c);
}

static void test_humaneval_x(void) {
    static const char *const langs[] = {"python", "cpp", "java", "js"};
    static const sqz_lang ids[] = {SQZ_LANG_PYTHON, SQZ_LANG_CPP, SQZ_LANG_JAVA, SQZ_LANG_JS};
    for (int l = 0; l < 4; l++) {
        char name[64];
        snprintf(name, sizeof name, "humaneval-x:%s", langs[l]);
        sqz_task *t = open_task(name, 0, 0);
        if (!t)
            continue;
        CHECK(sqz_task_count(t) == 164);
        CHECK(strstr(sqz_task_item_at(t, 0)->id, "/0") != NULL);
        if (l == 1) { // brace languages keep the closing "\n}"
            const char *g = "  return x;\n}\nint main(){}";
            CHECK(sqz_task_stop_at(t, g, strlen(g)) == 13);
            CHECK(!strcmp(sqz_task_code_lang(t), "cpp"));
        }
        sqz_task_free(t);
        if (!sqz_lang_available(ids[l]))
            continue;
        t = open_task(name, 2, 1);
        sqz_task_scores sc;
        if (t)
            CHECK_MSG(score_refs(t, NULL, &sc) == 1.0, "%s canonical pass@1", name);
        sqz_task_scores_clear(&sc);
        sqz_task_free(t);
    }
    sqz_task *t = NULL;
    sqz_task_opts o = {.data_dir = DATA};
    CHECK_ERR(sqz_task_open(&t, "humaneval-x:cobol", &o), SQZ_ERR_ARG, "unknown language");
    CHECK_ERR(sqz_task_open(&t, "nope", &o), SQZ_ERR_ARG, "unknown task 'nope'");
}

static void test_quixbugs(void) {
    sqz_task *t = open_task("quixbugs", 0, 0);
    if (!t)
        return;
    CHECK(sqz_task_count(t) == 40);
    const sqz_task_item *it = sqz_task_item_at(t, 0);
    CHECK(!strncmp(it->prompt, "### Buggy Python program (one line is wrong)\n", 45));
    CHECK(strstr(it->prompt, "\n### Fixed Python program\n") != NULL);
    CHECK(strstr(it->prompt, "def ") != NULL && it->context == NULL);
    const char *g = "def f():\n    return 1\n### Buggy";
    CHECK(sqz_task_stop_at(t, g, strlen(g)) == 21);
    sqz_task_free(t);
    t = open_task("quixbugs", 3, 0);
    sqz_task_scores sc;
    if (!t)
        return;
    CHECK(score_refs(t, NULL, &sc) == 1.0); // the corrected programs pass
    sqz_task_scores_clear(&sc);
    sqz_task_free(t);
}

static void test_translation(void) {
    sqz_task *t = open_task("codexglue-java-cs", 0, 0);
    if (!t)
        return;
    CHECK(sqz_task_count(t) == 1000);
    const sqz_task_item *it = sqz_task_item_at(t, 0);
    CHECK(!strcmp(it->id, "test:0"));
    CHECK(!strcmp(it->reference, "public override void Serialize(ILittleEndianOutput out1){out1.WriteShort(field_1_vcenter);}"));
    CHECK(!strncmp(it->prompt, "// Translate Java to C#.\nJava: ", 31));
    const char *tail = "Java: public void serialize(LittleEndianOutput out) {out.writeShort(field_1_vcenter);}\nC#:";
    CHECK(strlen(it->prompt) > strlen(tail) && !strcmp(it->prompt + strlen(it->prompt) - strlen(tail), tail));
    CHECK(!strcmp(sqz_task_code_lang(t), "c_sharp"));
    CHECK(sqz_task_stop_at(t, " a;\nJava:", 9) == 3);
    sqz_task_free(t);
    t = open_task("codexglue-cs-java", 4, 3);
    if (!t)
        return;
    sqz_task_scores sc;
    CHECK(fabs(score_refs(t, NULL, &sc) - 1.0) < 1e-9); // CodeBLEU of the references
    CHECK(fabs(metric_of(&sc, "bleu") - 100.0) < 1e-9);
    CHECK(metric_of(&sc, "exact_match") == 1.0);
    sqz_task_scores_clear(&sc);
    CHECK(score_refs(t, " x", &sc) < 0.5);
    CHECK(metric_of(&sc, "exact_match") == 0.0);
    sqz_task_scores_clear(&sc);
    sqz_task_free(t);
}

static void test_corpus_and_completion(void) {
    char path[512];
    sqz_corpus_default_path(DATA, path, sizeof path);
    sqz_corpus_file *all = NULL, *held = NULL;
    size_t na = 0, nh = 0;
    CHECK_OK(sqz_corpus_read(path, false, &all, &na));
    CHECK_OK(sqz_corpus_read(path, true, &held, &nh));
    CHECK(na == 169 && nh == 18); // 171 entries, 169 regular files; 18 held out (sha256 of the name)
    if (na == 169 && nh == 18) {
        CHECK(!strcmp(all[0].name, "__future__.py") && all[0].len == 5218);
        CHECK(!strcmp(held[0].name, "__hello__.py") && !strcmp(held[0].name, all[1].name));
        CHECK(!strcmp(held[17].name, "types.py") && !strcmp(held[17].name, all[157].name));
        CHECK(!strcmp(held[17].text, all[157].text));
    }
    sqz_corpus_free(all, na), sqz_corpus_free(held, nh);
    CHECK(sqz_corpus_read("../shared/data/datasets/humaneval/README.md", false, &all, &na) != SQZ_OK);
    CHECK(strstr(sqz_last_error(), "README.md") != NULL && all == NULL && na == 0);

    const char *src = "import os\n\ndef f(a,\n      b):\n    \"\"\"Doc\n    string.\"\"\"\n    x = 1\n    y = 2\n\n"
                      "    z = 3\n    return x + y + z\n\n\nclass C:\n    def m(self):\n        pass\n"
                      "def g():\n    return 1\n";
    sqz_code_fn *fns = NULL;
    size_t nf = 0;
    CHECK_OK(sqz_code_fns_extract("m.py", src, 2, &fns, &nf));
    CHECK(nf == 1); // g has too short a rest; methods are not top-level
    if (nf == 1) {
        CHECK(!strcmp(fns[0].id, "m.py:3"));
        CHECK(!strcmp(fns[0].prefix, "def f(a,\n      b):\n    \"\"\"Doc\n    string.\"\"\"\n    x = 1\n    y = 2\n"));
        CHECK(!strcmp(fns[0].target, "\n    z = 3\n    return x + y + z"));
    }
    sqz_code_fns_free(fns, nf);

    sqz_task *t = open_task("completion", 0, 0);
    if (!t)
        return;
    CHECK_MSG(sqz_task_count(t) == 142, "%zu functions", sqz_task_count(t));
    const sqz_task_item *it = sqz_task_item_at(t, 0);
    CHECK(!strncmp(it->prompt, "def ", 4) && it->prompt[strlen(it->prompt) - 1] == '\n');
    CHECK(strstr(it->id, ".py:") != NULL);
    const char *g = "    return 1\n\nclass X:\n";
    CHECK(sqz_task_stop_at(t, g, strlen(g)) == 13);
    CHECK(sqz_task_stop_at(t, "x = 1", 5) == 0);
    CHECK(sqz_task_stop_at(t, "    a\n    )\n", 12) == -1);
    sqz_task_free(t);
    t = open_task("completion", 6, 2);
    sqz_task_scores sc;
    if (t) {
        CHECK(fabs(score_refs(t, NULL, &sc) - 1.0) < 1e-9);
        CHECK(metric_of(&sc, "edit_sim") == 1.0 && metric_of(&sc, "exact_match") == 1.0);
        sqz_task_scores_clear(&sc);
    }
    sqz_task_free(t);
}

static void test_mbpp(void) {
    char path[] = "/tmp/sqz_mbpp_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fputs("{\"text\": \"Write a function to add two numbers.\", \"code\": \"def add(a, b):\\n    return a + b\", "
          "\"task_id\": 11, \"test_setup_code\": \"\", \"test_list\": [\"assert add(1, 2) == 3\", "
          "\"assert add(0, 0) == 0\"], \"challenge_test_list\": []}\n\n"
          "{\"text\": \"Write a function to square.\", \"code\": \"def sq(x):\\n    return x * x\", \"task_id\": 12, "
          "\"test_list\": [\"assert sq(3) == 9\"]}\n", f);
    fclose(f);
    sqz_task_opts o = {.data_dir = DATA, .mbpp_path = path};
    sqz_task *t = NULL;
    CHECK_OK(sqz_task_open(&t, "mbpp", &o));
    if (t) {
        CHECK(sqz_task_count(t) == 2);
        const sqz_task_item *it = sqz_task_item_at(t, 0);
        CHECK(!strcmp(it->id, "Mbpp/11"));
        CHECK(!strcmp(it->prompt, "You are an expert Python programmer, and here is your task: Write a function to add two "
                                  "numbers. Your code should pass these tests:\n\nassert add(1, 2) == 3\nassert add(0, 0) "
                                  "== 0\n[BEGIN]\n"));
        CHECK(sqz_task_stop_at(t, "def f(): pass\n[DONE]", 20) == 14);
        sqz_task_scores sc;
        CHECK(score_refs(t, NULL, &sc) == 1.0);
        sqz_task_scores_clear(&sc);
        CHECK(score_refs(t, "def add(a, b):\n    return a - b\n", &sc) == 0.0);
        sqz_task_scores_clear(&sc);
        sqz_task_free(t);
    }
    f = fopen(path, "w");
    fputs("{\"text\": \"x\", \"code\": \"y\", \"task_id\": 1, \"test_list\": [\"assert True\"]}\n{\"text\": 3}\n", f);
    fclose(f);
    CHECK_ERR(sqz_task_open(&t, "mbpp", &o), SQZ_ERR_FORMAT, ":2: missing task_id");
    unlink(path);
    o.mbpp_path = NULL;
    CHECK_ERR(sqz_task_open(&t, "mbpp", &o), SQZ_ERR_ARG, "not shipped");
}

static void test_stats(void) {
    float v[] = {1, 2, 3, 4, 5};
    CHECK(sqz_percentile_sorted(v, 5, 0.5) == 3.0);
    CHECK(fabs(sqz_percentile_sorted(v, 5, 0.9) - 4.6) < 1e-6);
    CHECK(sqz_percentile_sorted(v, 5, 0) == 1.0 && sqz_percentile_sorted(v, 5, 1) == 5.0);
    double d[] = {5, 1, 4, 2, 3};
    CHECK(fabs(sqz_latency_percentile(d, 5, 0.99) - 4.96) < 1e-12); // numpy.percentile([1..5], 99)
    float kld[12], dp[12];
    double sums[6] = {0};
    for (int i = 0; i < 12; i++) {
        kld[i] = (float)(11 - i) * 0.01f, dp[i] = (i % 2 ? 0.1f : -0.1f);
        double nll = 1.0 + 0.1 * i, nb = 1.0;
        sums[0] += nll, sums[1] += nll * nll, sums[2] += nb, sums[3] += nb * nb, sums[4] += nll * nb;
        sums[5] += i < 9;
    }
    sqz_kl_stats s;
    sqz_kl_stats_finish(kld, dp, 12, sums, &s);
    CHECK(s.count == 12 && fabs(s.kld_mean - 0.055) < 1e-7 && fabs(s.kld_median - 0.055) < 1e-7);
    CHECK(fabs(s.kld_max - 0.11) < 1e-7 && s.kld_min == 0);
    CHECK(fabs(s.same_top - 0.75) < 1e-12 && fabs(s.same_top_err - sqrt(0.75 * 0.25 / 11)) < 1e-12);
    CHECK(fabs(s.dp_mean) < 1e-9 && fabs(s.dp_rms - 0.1) < 1e-7);
    CHECK(fabs(s.ppl - exp(1.55)) < 1e-9 && fabs(s.ppl_base - exp(1.0)) < 1e-12);
    sqz_kl_baseline *b = NULL;
    CHECK_ERR(sqz_kl_baseline_read("../shared/data/datasets/humaneval/README.md", &b), SQZ_ERR_FORMAT, "bad magic");
}

// The baseline file: written, read back, self-divergence 0; truncated or corrupted files are refused.
static void test_baseline_file(void) {
    sqz_model *m = NULL;
    sqz_ctx *c = NULL;
    CHECK_OK(sqz_model_load(&m, "../shared/refs/models/aidreams260K-gguf/aidreams260K.gguf", NULL));
    if (!m)
        return;
    CHECK_OK(sqz_ctx_new(&c, m, 64, 0, 1));
    int32_t toks[160];
    for (int i = 0; i < 160; i++)
        toks[i] = 3 + (i * 37) % 500;
    const char *path = "/tmp/sqz_test_base.kl";
    CHECK_ERR(sqz_kl_baseline_write(c, 512, toks, 160, 32, 6, 1, 4, path), SQZ_ERR_ARG, "hold 5 chunks of 32, 6 asked");
    CHECK_OK(sqz_kl_baseline_write(c, 512, toks, 160, 32, 5, 1, 4, path));
    sqz_kl_baseline *b = NULL;
    CHECK_OK(sqz_kl_baseline_read(path, &b));
    if (b) {
        CHECK(sqz_kl_baseline_n_ctx(b) == 32 && sqz_kl_baseline_n_chunks(b) == 5 && sqz_kl_baseline_n_vocab(b) == 512);
        CHECK(sqz_kl_baseline_top_k(b) == 4);
        sqz_kl_stats s;
        CHECK_OK(sqz_kl_divergence(c, 512, b, 1, 0, &s));
        CHECK(s.count == 5 * 15 && s.kld_mean == 0 && s.kld_max == 0 && s.same_top == 1 && s.dp_rms == 0);
        CHECK(fabs(s.ppl - s.ppl_base) < 1e-9 * s.ppl);
        CHECK_OK(sqz_kl_divergence(c, 512, b, 1, 2, &s));
        CHECK(s.count == 2 * 15);
        CHECK_ERR(sqz_kl_divergence(c, 511, b, 1, 0, &s), SQZ_ERR_ARG, "vocabulary");
        sqz_kl_baseline_free(b);
    }
    // 28-byte header + 5·32 tokens + 5·15 records of (4 ids + 4 logp + rest + next) · 4 bytes
    FILE *f = fopen(path, "r+b");
    long size = 28 + 5 * 32 * 4 + 5 * 15 * 40;
    CHECK(f && fseek(f, 0, SEEK_END) == 0 && ftell(f) == size);
    if (f) {
        int32_t bad = 9999;
        fseek(f, 28 + 5 * 32 * 4 + 40 * 3, SEEK_SET); // first id of record 3
        fwrite(&bad, 4, 1, f);
        fclose(f);
        CHECK_ERR(sqz_kl_baseline_read(path, &b), SQZ_ERR_FORMAT, "record 3: id 9999 outside the vocabulary");
        CHECK(truncate(path, size - 1) == 0);
        CHECK_ERR(sqz_kl_baseline_read(path, &b), SQZ_ERR_FORMAT, "expected");
    }
    unlink(path);
    sqz_ctx_free(c);
    sqz_model_free(m);
}

int main(void) {
    test_humaneval();
    test_humaneval_x();
    test_quixbugs();
    test_translation();
    test_corpus_and_completion();
    test_mbpp();
    test_stats();
    test_baseline_file();
    return test_summary();
}

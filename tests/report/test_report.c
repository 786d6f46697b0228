// Analysis of a synthetic database and the four report files.
// With `--make-db PATH` it only writes the synthetic database (used by the CLI and Python tests).
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sqz/report.h"
#include "synth_results.h"

// fontconfig (under pango) keeps a few hundred bytes of its configuration for the process
// lifetime in a way LeakSanitizer reports as a leak; sanitizer builds read this hook (it is unused
// otherwise). Only that library's allocations are suppressed.
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libfontconfig.so\n"; }

static char tmpdir[64];

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = calloc(1, (size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n)
        b[0] = 0;
    fclose(f);
    return b;
}

// Output of a shell command (for pdfinfo/pdftotext).
static char *run_cmd(const char *cmd) {
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = calloc(1, cap);
    while (b && n + 1 < cap) {
        size_t k = fread(b + n, 1, cap - 1 - n, p);
        if (k == 0)
            break;
        n += k;
    }
    pclose(p);
    return b;
}

static int variant_index(const sqz_results *r, const char *name) {
    for (int i = 0; i < r->n_variants; i++)
        if (!strcmp(r->variants[i].name, name))
            return i;
    return -1;
}

static void test_analysis(const sqz_results *r) {
    sqz_analysis_opts o = {.boot = {.n_resamples = 2000, .confidence = 0.95, .seed = 3}};
    sqz_analysis *a = NULL;
    CHECK_OK(sqz_analysis_run(r, &o, &a));
    if (!a)
        return;
    int full = variant_index(r, "full"), q8 = variant_index(r, "q8"), q4 = variant_index(r, "q4"),
        q3 = variant_index(r, "q3"), q5 = variant_index(r, "q5");
    CHECK(a->baseline == full);
    double want_q8 = (1.0 + 0.40 / 0.41 + 1.0) / 3, // perplexity 9.9 < 10: capped at 1
           want_q4 = (18.0 / 20 + 0.38 / 0.41 + 10.0 / 10.6) / 3;
    CHECK_MSG(fabs(a->v[q8].retained - want_q8) < 1e-12, "q8 retained %.15g", a->v[q8].retained);
    CHECK(fabs(a->v[q4].retained - want_q4) < 1e-12 && a->v[full].retained == 1.0);
    CHECK(a->v[q8].n_tasks == 3);
    CHECK(a->v[q8].success && !a->v[q4].success && !a->v[q3].success && !a->v[full].success);
    CHECK(fabs(a->v[q8].shrink - 538.0 / 143) < 1e-12);
    CHECK(a->v[q8].speedup > 1.7 && a->v[q8].speedup < 2.4); // 0.8 / 0.4 with LCG noise
    CHECK(a->v[full].front_size && a->v[q8].front_size && a->v[q4].front_size && a->v[q3].front_size);
    CHECK(!a->v[q5].front_size && !a->v[q5].front_latency && a->v[q4].front_latency);
    CHECK(a->v[q8].lat_p50 <= a->v[q8].lat_p90 && a->v[q8].lat_p90 <= a->v[q8].lat_p99);
    // Flips: humaneval only (the other tasks have no pass/fail), 4 variants.
    CHECK(a->n_flips == 4);
    for (int i = 0; i < a->n_flips; i++) {
        const sqz_flips *f = &a->flips[i].f;
        CHECK(!strcmp(a->flips[i].task, "humaneval") && f->n == 40);
        if (a->flips[i].variant == q8)
            CHECK(f->pass_fail == 2 && f->fail_pass == 2 && f->mcnemar_p == 1.0 && f->delta == 0);
        if (a->flips[i].variant == q3) {
            CHECK(f->pass_fail == 10 && f->fail_pass == 0 && fabs(f->mcnemar_p - 2.0 / 1024) < 1e-15);
            CHECK(fabs(f->delta + 0.25) < 1e-15 && f->ci_high < 0 && f->ci_low < f->delta);
        }
    }
    // Recommendation: within 100 MB the best is q4; with everything allowed, the full model.
    CHECK(sqz_recommend_size(a, 100e6) == q4 && sqz_recommend_size(a, 1e12) == full);
    CHECK(sqz_recommend_size(a, 150e6) == q8 && sqz_recommend_size(a, 10e6) == -1);
    CHECK(sqz_recommend_latency(a, 1e9) == full);
    sqz_analysis_free(a);
    o.baseline = "nope";
    CHECK_ERR(sqz_analysis_run(r, &o, &a), SQZ_ERR_NOT_FOUND, "baseline variant 'nope'");
    o.baseline = "q8"; // any variant can be the reference
    CHECK_OK(sqz_analysis_run(r, &o, &a));
    CHECK(a && a->baseline == q8 && a->v[q8].retained == 1.0);
    sqz_analysis_free(a);
}

static void check_csv(const char *dir) {
    char p[256];
    snprintf(p, sizeof p, "%s/results.csv", dir);
    char *csv = slurp(p);
    CHECK(csv != NULL);
    if (!csv)
        return;
    CHECK(!strncmp(csv, "model,variant,recipe,task,metric,value,ci_low,ci_high,direction,primary,"
                        "baseline,retained,n_samples,signature_hash,signature\n", 120));
    int lines = 0;
    for (char *c = csv; *c; c++)
        lines += *c == '\n';
    CHECK_MSG(lines == 1 + 5 * 5, "%d lines", lines); // per variant: 2 + 2 + 1 metrics
    CHECK(strstr(csv, "SmolLM2-135M-Instruct,q4,\"rtn:bits=4,group=32,sym=0\",humaneval,pass@1,0.45,"));
    CHECK(strstr(csv, ",max,1,0.5,0.9,40,")); // baseline 0.5, retained 0.9, 40 samples
    CHECK(strstr(csv, "q3,gptq:bits=3,group=128") == NULL); // recipe with commas is quoted
    CHECK(strstr(csv, "\"{\"\"cpu_features\"\":")); // the signature JSON, quotes doubled
    free(csv);
}

static void check_json(const char *dir) {
    char p[256];
    snprintf(p, sizeof p, "%s/results.json", dir);
    json_error_t e;
    json_t *doc = json_load_file(p, 0, &e);
    CHECK_MSG(doc != NULL, "%s", e.text);
    if (!doc)
        return;
    CHECK(!strcmp(json_string_value(json_object_get(doc, "baseline")), "full"));
    const char *note = json_string_value(json_object_get(doc, "baseline_note"));
    CHECK(note && !strcmp(note, "the full model is SmolLM2-135M-Instruct's Q4_1 weights, dequantized"));
    json_t *vars = json_object_get(doc, "variants");
    CHECK(json_array_size(vars) == 5);
    json_t *q8 = json_array_get(vars, 1);
    CHECK(!strcmp(json_string_value(json_object_get(q8, "name")), "q8"));
    CHECK(json_is_true(json_object_get(q8, "success")));
    CHECK(json_array_size(json_object_get(doc, "results")) == 15);
    CHECK(json_array_size(json_object_get(doc, "flips")) == 4);
    json_t *run0 = json_array_get(json_object_get(doc, "results"), 0);
    CHECK(json_integer_value(json_object_get(json_object_get(run0, "signature"), "seed")) == 1234);
    CHECK(strlen(json_string_value(json_object_get(run0, "signature_hash"))) == 64);
    json_t *by_size = json_object_get(json_object_get(doc, "recommendation"), "by_size");
    CHECK(json_array_size(by_size) == 5);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(by_size, 2), "variant")), "q4")); // <= 90 MB
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(by_size, 0), "variant")), "q3"));
    json_decref(doc);
}

static void check_markdown(const char *dir) {
    char p[256];
    snprintf(p, sizeof p, "%s/report.md", dir);
    char *md = slurp(p);
    CHECK(md != NULL);
    if (!md)
        return;
    CHECK(strstr(md, "# Synthetic sweep\n"));
    CHECK(strstr(md, "- Baseline: full — the full model is SmolLM2-135M-Instruct's Q4_1 weights, dequantized"));
    CHECK(strstr(md, "| q8 | q8_0 | 143.0 MB | 8.50 | 99.2 % |"));
    CHECK(strstr(md, "**q8** passes the success test"));
    CHECK(strstr(md, "| q3 | humaneval | 40 | 10 | 0 | 0.001953 | -0.2500 |"));
    CHECK(strstr(md, "| ≤ 76.0 MB | q4 | 92.3 % |"));
    CHECK(strstr(md, "## Signatures"));
    free(md);
}

static void check_pdf(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "pdfinfo %s/report.pdf 2>&1", dir);
    char *info = run_cmd(cmd);
    // title + 2 Pareto pages + 5 bar charts (2 pages) + latency + recommendation
    CHECK_MSG(info && strstr(info, "Pages:           7\n"), "%s", info ? info : "(no pdfinfo)");
    CHECK(info && strstr(info, "Title:           Synthetic sweep"));
    free(info);
    snprintf(cmd, sizeof cmd, "pdftotext -layout %s/report.pdf - 2>&1", dir);
    char *text = run_cmd(cmd);
    CHECK(text != NULL);
    if (!text)
        return;
    const char *want[] = {"Synthetic sweep", "Q4_1 weights, dequantized", "Pareto: quality vs size",
                          "Pareto: quality vs latency", "humaneval: pass@1", "perplexity: perplexity (lower is better)",
                          "Latency distribution", "Recommendation", "q8 passes the success test", "q3"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK_MSG(strstr(text, want[i]), "PDF text lacks '%s'", want[i]);
    // Pages are separated by form feeds: the recommendation is on the last page.
    int ff = 0;
    for (char *c = text; *c; c++)
        ff += *c == '\f';
    CHECK(ff == 7);
    free(text);
}

// Two models, each with its own uncompressed variant: each variant is compared with its own model.
static void test_two_models(void) {
    char db[128];
    snprintf(db, sizeof db, "%s/two.db", tmpdir);
    sqz_store *s = NULL;
    CHECK_OK(sqz_store_open(db, &s));
    if (!s)
        return;
    const char *shas[2] = {"aa", "bb"};
    const double acc[2][2] = {{0.5, 0.45}, {0.8, 0.2}}; // [model][none, q4]
    for (int m = 0; m < 2; m++) {
        sqz_model_info mi = {.sha256 = shas[m], .path = m ? "b.gguf" : "a.gguf", .bytes = 100};
        int64_t mid, vid;
        CHECK_OK(sqz_store_put_model(s, &mi, &mid));
        for (int v = 0; v < 2; v++) {
            char name[16];
            snprintf(name, sizeof name, "%c-%s", 'a' + m, v ? "q4" : "full");
            sqz_variant_info vi = {.model_id = mid, .name = name, .recipe = v ? "rtn:bits=4" : SQZ_RECIPE_NONE,
                                   .bytes = v ? 25 : 100};
            CHECK_OK(sqz_store_put_variant(s, &vi, &vid));
            sqz_signature g = {.model_sha256 = shas[m], .recipe = vi.recipe, .task = "mbpp"};
            int64_t run;
            sqz_cell_state st;
            CHECK_OK(sqz_store_cell_begin(s, vid, &g, &run, &st));
            sqz_metric_row mr = {"pass@1", acc[m][v], NAN, NAN, SQZ_DIR_MAXIMIZE, true, NULL};
            CHECK_OK(sqz_store_cell_finish(s, run, &mr, 1, 1));
        }
    }
    // Re-run a-q4 with another seed: the report shows both numbers and what changed.
    sqz_signature g = {.model_sha256 = "aa", .recipe = "rtn:bits=4", .task = "mbpp", .seed = 5};
    int64_t run;
    sqz_cell_state cs;
    CHECK_OK(sqz_store_cell_begin(s, 2, &g, &run, &cs));
    sqz_metric_row mr = {"pass@1", 0.47, NAN, NAN, SQZ_DIR_MAXIMIZE, true, NULL};
    CHECK_OK(sqz_store_cell_finish(s, run, &mr, 1, 1));
    sqz_results *r = NULL;
    sqz_analysis *a = NULL;
    CHECK_OK(sqz_store_load(s, &r));
    char out[128], p[160];
    snprintf(out, sizeof out, "%s/two-out", tmpdir);
    sqz_report_opts ro = {0};
    CHECK_OK(sqz_report_write(r, &ro, out));
    snprintf(p, sizeof p, "%s/report.md", out);
    char *md = slurp(p);
    CHECK_MSG(md && strstr(md, "## Re-runs") && strstr(md, "| a-q4 | mbpp | 0.45 | 0.47 | seed: 0 -> 5 |"), "%s", md);
    free(md);
    sqz_analysis_opts o = {0};
    CHECK_OK(sqz_analysis_run(r, &o, &a));
    if (a) {
        CHECK(a->baseline == 0 && a->v[1].baseline == 0 && a->v[3].baseline == 2 && a->v[2].baseline == 2);
        CHECK(fabs(a->v[1].retained - 0.94) < 1e-12 && fabs(a->v[3].retained - 0.25) < 1e-12);
        CHECK(a->v[2].retained == 1.0 && fabs(a->v[3].shrink - 4) < 1e-12);
    }
    sqz_analysis_free(a);
    o.baseline = "a-full"; // a named baseline is everyone's reference
    CHECK_OK(sqz_analysis_run(r, &o, &a));
    if (a)
        CHECK(a->v[3].baseline == 0 && fabs(a->v[3].retained - 0.4) < 1e-12 && a->v[1].retained == 0.47 / 0.5);
    sqz_analysis_free(a);
    sqz_results_free(r);
    sqz_store_free(s);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--make-db"))
        return syn_make_db(argv[2]);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sqz-report-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    char db[128], out[128];
    snprintf(db, sizeof db, "%s/r.db", tmpdir);
    snprintf(out, sizeof out, "%s/out", tmpdir);
    CHECK(syn_make_db(db) == 0);
    sqz_store *s = NULL;
    sqz_results *r = NULL;
    CHECK_OK(sqz_store_open(db, &s));
    CHECK_OK(sqz_store_load(s, &r));
    if (r) {
        CHECK(r->n_variants == 5 && r->n_runs == 15);
        test_analysis(r);
        sqz_report_opts o = {.title = "Synthetic sweep", .analysis = {.boot = {.n_resamples = 1000}}};
        CHECK_OK(sqz_report_write(r, &o, out));
        check_csv(out);
        check_json(out);
        check_markdown(out);
        check_pdf(out);
        test_two_models();
        CHECK_ERR(sqz_report_write(r, &o, "/nonexistent-sqz/x/y"), SQZ_ERR_IO, "cannot create directory");
    }
    sqz_results_free(r);
    sqz_store_free(s);
    if (getenv("SQZ_KEEP_REPORT"))
        printf("kept %s\n", out);
    else {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return test_summary();
}

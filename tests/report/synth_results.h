// A plausible results database made with the store API, shared by the report tests: SmolLM2's
// Q4_1 GGUF as the full model and four compressed variants, on three tasks.
//   humaneval (40 problems, greedy): full passes 0..19; q8 loses 0,1 and gains 20,21; q4 loses
//     0,1,2 and gains 20; q3 passes 0..9 only; q5 loses 0..3 and gains 20.
//   q5 is larger, slower and worse than q4: dominated on both Pareto plots.
//   codexglue-java-cs (20 items): codebleu (primary) and bleu, no pass/fail.
//   perplexity: one metric, lower is better, no samples.
// Latencies: full 0.8 s, q8 0.4 s, q4 0.3 s, q3 0.25 s, q5 0.42 s, times (1 + 0.5 u), u from an LCG.
#ifndef SQZ_TEST_SYNTH_RESULTS_H
#define SQZ_TEST_SYNTH_RESULTS_H

#include <math.h>
#include <stdio.h>

#include "sqz/store.h"

#define SYN_N_VARIANTS 5
#define SYN_N_HUMANEVAL 40
#define SYN_N_CODEXGLUE 20

static const char *SYN_NAMES[SYN_N_VARIANTS] = {"full", "q8", "q4", "q3", "q5"};
static const char *SYN_RECIPES[SYN_N_VARIANTS] = {SQZ_RECIPE_NONE, "q8_0", "rtn:bits=4,group=32,sym=0",
                                                  "gptq:bits=3,group=128",
                                                  "rtn:bits=5,group=32"};
static const double SYN_BYTES[SYN_N_VARIANTS] = {538e6, 143e6, 76e6, 60e6, 90e6};
static const double SYN_BPW[SYN_N_VARIANTS] = {32, 8.5, 5, 3.25, 6};
static const double SYN_LAT[SYN_N_VARIANTS] = {0.8, 0.4, 0.3, 0.25, 0.42};
static const double SYN_CODEBLEU[SYN_N_VARIANTS] = {0.41, 0.40, 0.38, 0.30, 0.37};
static const double SYN_BLEU[SYN_N_VARIANTS] = {22.5, 22.0, 20.1, 15.0, 19.0};
static const double SYN_PPL[SYN_N_VARIANTS] = {10.0, 9.9, 10.6, 13.0, 10.7}; // q8 beats full: capped at 100 %

static int syn_pass(int v, int i) {
    switch (v) {
    case 0: return i < 20;
    case 1: return (i < 20 && i > 1) || i == 20 || i == 21;
    case 2: return (i < 20 && i > 2) || i == 20;
    case 3: return i < 10;
    default: return (i < 20 && i > 3) || i == 20;
    }
}

static double syn_u(unsigned *state) {
    *state = *state * 1103515245u + 12345u;
    return (double)((*state >> 8) & 0xffff) / 65536.0;
}

static int syn_cell(sqz_store *s, int64_t vid, int v, const char *task, int n_items, unsigned *rng,
                    const sqz_metric_row *m, int n_metrics) {
    sqz_signature g = {.model_sha256 = "5d1f8c1e0b7a2d3c4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5061728394a5b",
                       .recipe = SYN_RECIPES[v], .task = task,
                       .metric_json = "{\"k\":[1],\"timeout_s\":10}",
                       .sampling_json = "{\"temperature\":0,\"max_tokens\":256,\"n\":1}", .limit = n_items,
                       .seed = 1234};
    int64_t run;
    sqz_cell_state state;
    if (sqz_store_cell_begin(s, vid, &g, &run, &state) != SQZ_OK)
        return 1;
    for (int i = 0; i < n_items; i++) {
        char id[48], gen[64];
        int he = !strcmp(task, "humaneval");
        snprintf(id, sizeof id, "%s/%d", he ? "HumanEval" : "codexglue", i);
        snprintf(gen, sizeof gen, "    return x + %d  # \"%s\", ok", i, SYN_NAMES[v]);
        sqz_sample_row row = {.index = i, .item_id = id, .prompt = "def f(x):\n", .generated = gen,
                              .reference = "    return x", .outcome = he ? syn_pass(v, i) : SQZ_OUTCOME_NONE,
                              .latency_s = SYN_LAT[v] * (1 + 0.5 * syn_u(rng)), .ttft_s = 0.05,
                              .n_prompt_tokens = 40, .n_gen_tokens = 30};
        if (sqz_store_add_samples(s, run, &row, 1) != SQZ_OK)
            return 1;
    }
    return sqz_store_cell_finish(s, run, m, (size_t)n_metrics, 12.5) != SQZ_OK;
}

static int syn_variant(sqz_store *s, int64_t mid, int v, unsigned *rng) {
    sqz_variant_info vi = {.model_id = mid, .name = SYN_NAMES[v], .recipe = SYN_RECIPES[v],
                           .bytes = (int64_t)SYN_BYTES[v], .bits_per_weight = SYN_BPW[v],
                           .manifest_json = "{\"steps\":[]}"};
    int64_t vid;
    if (sqz_store_put_variant(s, &vi, &vid) != SQZ_OK)
        return 1;
    int passes = 0;
    for (int i = 0; i < SYN_N_HUMANEVAL; i++)
        passes += syn_pass(v, i);
    double p = (double)passes / SYN_N_HUMANEVAL, se = sqrt(p * (1 - p) / SYN_N_HUMANEVAL);
    sqz_metric_row he[2] = {{"pass@1", p, p - 1.96 * se, p + 1.96 * se, SQZ_DIR_MAXIMIZE, true, "{\"k\":1}"},
                            {"latency_p50_s", SYN_LAT[v] * 1.25, NAN, NAN, SQZ_DIR_MINIMIZE, false, NULL}};
    sqz_metric_row cx[2] = {{"codebleu", SYN_CODEBLEU[v], NAN, NAN, SQZ_DIR_MAXIMIZE, true, "{\"lang\":\"c_sharp\"}"},
                            {"bleu", SYN_BLEU[v], NAN, NAN, SQZ_DIR_MAXIMIZE, false, "{\"tokenize\":\"13a\"}"}};
    sqz_metric_row pp = {"perplexity", SYN_PPL[v], SYN_PPL[v] - 0.2, SYN_PPL[v] + 0.2, SQZ_DIR_MINIMIZE, true,
                         "{\"ctx\":512}"};
    return syn_cell(s, vid, v, "humaneval", SYN_N_HUMANEVAL, rng, he, 2) ||
           syn_cell(s, vid, v, "codexglue-java-cs", SYN_N_CODEXGLUE, rng, cx, 2) ||
           syn_cell(s, vid, v, "perplexity", 0, rng, &pp, 1);
}

// Fill a new database at path; 0 on success.
static int syn_make_db(const char *path) {
    sqz_store *s = NULL;
    if (sqz_store_open(path, &s) != SQZ_OK)
        return 1;
    sqz_model_info m = {.sha256 = "5d1f8c1e0b7a2d3c4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5061728394a5b",
                        .path = "/root/.cache/sqz/models/SmolLM2-135M-Instruct.Q4_1.gguf",
                        .name = "SmolLM2-135M-Instruct", .arch = "llama", .n_params = 134515008,
                        .bytes = 92233728};
    int64_t mid;
    unsigned rng = 7;
    int bad = sqz_store_put_model(s, &m, &mid) != SQZ_OK;
    for (int v = 0; v < SYN_N_VARIANTS && !bad; v++)
        bad = syn_variant(s, mid, v, &rng);
    if (bad)
        fprintf(stderr, "synth db: %s\n", sqz_last_error());
    sqz_store_free(s);
    return bad;
}

#endif

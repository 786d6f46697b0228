// The compress pipeline on real tiny models: block-by-block forward = sqz_ctx_eval; for every method,
// compress → save → load (GGUF and HF directory) → logits equal to the in-memory result; the HF
// GPTQ tensors unpack to the in-memory weights; calibration split/draw; the errors the issue names.
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "sqz.h"

#define AIDREAMS "../shared/refs/models/aidreams260K-gguf/aidreams260K.gguf"
#define GQA_HF "build/test-models/llama-gqa" // 64/128 wide: group 32 and llama.cpp blocks fit
#define CORPUS SQZ_CALIB_DEFAULT_PATH

static const int32_t IDS[] = {1, 403, 407, 261, 378, 299, 284, 266, 2, 77, 300, 301, 45, 10, 11, 500};
#define N_IDS ((int64_t)(sizeof IDS / sizeof *IDS))

// Logits of IDS for every position: [N_IDS][n_vocab], malloc'd.
static float *logits_of(sqz_model *m) {
    int64_t nv = sqz_model_get_config(m)->n_vocab;
    float *out = malloc((size_t)(N_IDS * nv) * sizeof *out);
    sqz_ctx *c = NULL;
    if (!out || sqz_ctx_new(&c, m, 64, 64, 1) != SQZ_OK || sqz_ctx_eval(c, IDS, N_IDS, SQZ_LOGITS_ALL, out) != SQZ_OK) {
        fprintf(stderr, "eval failed: %s\n", sqz_last_error());
        free(out);
        out = NULL;
    }
    sqz_ctx_free(c);
    return out;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fabs((double)a[i] - b[i]) > m ? fabs((double)a[i] - b[i]) : m;
    return m;
}

// Embedding → every block (sqz_block_forward, 2 sequences at once) → head gives sqz_ctx_eval's logits.
static void test_block_forward(void) {
    sqz_model *m = NULL;
    CHECK_OK(sqz_model_load(&m, AIDREAMS, NULL));
    if (!m)
        return;
    const sqz_model_config *cfg = sqz_model_get_config(m);
    int64_t d = cfg->n_embd, nv = cfg->n_vocab, L = N_IDS / 2;
    float *ref = logits_of(m), *x = malloc((size_t)(N_IDS * d) * sizeof *x), *got = malloc((size_t)(N_IDS * nv) * 4);
    sqz_ctx *c = NULL;
    CHECK_OK(sqz_ctx_new(&c, m, N_IDS, N_IDS, 1));
    // two sequences: IDS[0..L) and IDS[L..2L), each at positions 0..L-1
    CHECK_OK(sqz_model_embed(m, IDS, N_IDS, x));
    for (int64_t l = 0; l < cfg->n_layer; l++)
        CHECK_OK(sqz_block_forward(c, l, x, 2, L, NULL, NULL));
    CHECK_OK(sqz_model_head(c, x, N_IDS, got));
    float *ref2 = NULL;
    sqz_ctx *c2 = NULL;
    CHECK_OK(sqz_ctx_new(&c2, m, 64, 64, 1));
    ref2 = malloc((size_t)(L * nv) * 4);
    CHECK_OK(sqz_ctx_eval(c2, IDS + L, L, SQZ_LOGITS_ALL, ref2)); // second sequence from a fresh cache
    double d1 = max_diff(got, ref, (size_t)(L * nv)), d2 = max_diff(got + L * nv, ref2, (size_t)(L * nv));
    printf("block forward vs eval: max |dlogit| %.2e / %.2e\n", d1, d2);
    CHECK(d1 < 1e-4 && d2 < 1e-4);
    CHECK_ERR(sqz_block_forward(c, cfg->n_layer, x, 1, L, NULL, NULL), SQZ_ERR_RANGE, "layer");
    free(ref), free(ref2), free(x), free(got);
    sqz_ctx_free(c), sqz_ctx_free(c2);
    sqz_model_free(m);
}

static void test_calib(void) {
    CHECK(!sqz_corpus_is_heldout("__future__.py") || sqz_corpus_is_heldout("__future__.py")); // deterministic
    char *held = NULL, *cal = NULL;
    size_t nh = 0, nc = 0;
    CHECK_OK(sqz_corpus_text(CORPUS, true, &held, &nh));
    CHECK_OK(sqz_corpus_text(CORPUS, false, &cal, &nc));
    printf("corpus split: held-out %zu bytes, calibration %zu bytes\n", nh, nc);
    CHECK(nh > 100000 && nc > 8 * nh); // about 1 file in 10
    free(held), free(cal);
    sqz_model *m = NULL;
    CHECK_OK(sqz_model_load(&m, AIDREAMS, NULL));
    sqz_calib *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(sqz_calib_draw(sqz_model_tokenizer(m), CORPUS, 4, 32, 7, &a));
    CHECK_OK(sqz_calib_draw(sqz_model_tokenizer(m), CORPUS, 4, 32, 7, &b));
    CHECK_OK(sqz_calib_draw(sqz_model_tokenizer(m), CORPUS, 4, 32, 8, &c));
    CHECK(a && b && c && !strcmp(a->sha256, b->sha256) && strcmp(a->sha256, c->sha256) != 0);
    CHECK(a && !memcmp(a->ids, b->ids, 4 * 32 * sizeof(int32_t)));
    sqz_calib_free(a), sqz_calib_free(b), sqz_calib_free(c);
    // too small: a text file of a few tokens
    const char *tiny = "/tmp/sqz_test_compress_tiny.txt";
    FILE *f = fopen(tiny, "w");
    fputs("def f(x):\n    return x\n", f);
    fclose(f);
    sqz_calib *t = NULL;
    CHECK_ERR(sqz_calib_draw(sqz_model_tokenizer(m), tiny, 4, 32, 0, &t), SQZ_ERR_ARG, "too small");
    CHECK_ERR(sqz_calib_draw(sqz_model_tokenizer(m), "/nonexistent/corpus.tar", 4, 32, 0, &t), SQZ_ERR_IO,
              "/nonexistent/corpus.tar");
    unlink(tiny);
    sqz_model_free(m);
}

// Compress, save, reload both outputs and compare logits with the in-memory model.
static void roundtrip(const char *model, const char *recipe, bool want_gguf, double gguf_tol) {
    sqz_compress_opts o = {.recipe = recipe, .calib_path = CORPUS, .calib_n = 8, .calib_len = 64, .n_threads = 1,
                           .exact = true};
    sqz_compressed *cc = NULL;
    sqz_status st = sqz_compress(model, &o, &cc);
    CHECK_MSG(st == SQZ_OK, "%s: %s", recipe, sqz_last_error());
    if (st != SQZ_OK)
        return;
    sqz_model *mem = sqz_compressed_model(cc);
    int64_t nv = sqz_model_get_config(mem)->n_vocab;
    size_t n = (size_t)(N_IDS * nv);
    float *ref = logits_of(mem);
    char dir[] = "/tmp/sqz-test-compress-XXXXXX", path[256];
    CHECK(mkdtemp(dir) != NULL);
    CHECK_OK(sqz_compressed_save(cc, dir, SQZ_SAVE_ALL));
    CHECK_MSG(sqz_compressed_gguf_ok(cc) == want_gguf, "%s: gguf_ok %d", recipe, sqz_compressed_gguf_ok(cc));
    sqz_load_opts exact = {.exact = true};
    double dg = -1, dh = -1;
    sqz_model *m = NULL;
    if (want_gguf) {
        snprintf(path, sizeof path, "%s/model.gguf", dir);
        CHECK_OK(sqz_model_load(&m, path, &exact));
        float *got = m ? logits_of(m) : NULL;
        dg = got && ref ? max_diff(got, ref, n) : 1e9;
        CHECK_MSG(dg <= gguf_tol, "%s: GGUF max |dlogit| %.3g", recipe, dg);
        free(got);
        sqz_model_free(m);
    }
    snprintf(path, sizeof path, "%s/hf", dir);
    CHECK_OK(sqz_model_load(&m, path, &exact));
    float *got = m ? logits_of(m) : NULL;
    dh = got && ref ? max_diff(got, ref, n) : 1e9;
    CHECK_MSG(dh <= 2e-4, "%s: HF max |dlogit| %.3g", recipe, dh);
    free(got);
    // The HF GPTQ tensors unpack to the in-memory weights (v, o, gate, up, down: same row order).
    int64_t nl;
    const sqz_compress_layer *L = sqz_compressed_layers(cc, &nl);
    double wd = 0;
    for (int64_t i = 0; m && i < nl; i++) {
        if (L[i].role < SQZ_LIN_V)
            continue;
        size_t k = (size_t)(L[i].n_out * L[i].n_in);
        float *a = malloc(k * 4), *b = malloc(k * 4);
        sqz_model_linear_get(mem, L[i].layer, L[i].role, a);
        sqz_model_linear_get(m, L[i].layer, L[i].role, b);
        double dd = max_diff(a, b, k);
        wd = dd > wd ? dd : wd;
        free(a), free(b);
    }
    CHECK_MSG(wd <= 1e-6, "%s: HF weights differ by %.3g", recipe, wd);
    printf("%-40s gguf %s max|dlogit| %-9.2g hf max|dlogit| %-9.2g weights %.1g\n", recipe,
           want_gguf ? "yes" : "no ", dg, dh, wd);
    sqz_model_free(m);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    CHECK(system(path) == 0);
    free(ref);
    sqz_compressed_free(cc);
}

static void test_roundtrips(void) {
    // aidreams: widths 64 and 172 (not a multiple of 32): per-channel integer weights, block types
    // fall back to F16 on down_proj (still a llama.cpp type).
    roundtrip(AIDREAMS, "rtn:bits=8", false, 0);
    roundtrip(AIDREAMS, "rtn:bits=4,group=0,sym=0", false, 0);
    roundtrip(AIDREAMS, "gptq:bits=4,group=0", false, 0);
    roundtrip(AIDREAMS, "gptq:bits=3,group=0,act_order=1", false, 0);
    roundtrip(AIDREAMS, "awq:bits=4,group=0", false, 0);
    roundtrip(AIDREAMS, "q8_0", true, 0);
    roundtrip(AIDREAMS, "q4_0:imatrix=1", true, 0);
    roundtrip(AIDREAMS, "cast:to=f16", true, 0);
    struct stat sb;
    if (stat(GQA_HF, &sb) != 0) {
        printf("skip: %s not built (scripts/setup.sh)\n", GQA_HF);
        return;
    }
    // llama-gqa (HF source, GQA): group 32 maps onto Q4_0 / Q4_1 / Q8_0 exactly (Q4_1: m rounded).
    roundtrip(GQA_HF, "gptq:bits=4,group=32", true, 1e-4);
    roundtrip(GQA_HF, "gptq:bits=4,group=32,sym=0", true, 5e-3);
    roundtrip(GQA_HF, "rtn:bits=4,group=32", true, 1e-4);
    roundtrip(GQA_HF, "awq:bits=4,group=32", true, 5e-3); // Q4_1 with the scales folded into the norms
    roundtrip(GQA_HF, "rtn:bits=8,group=0", true, 1e-4);
    roundtrip(GQA_HF, "gptq:bits=2,group=32", false, 0);
    roundtrip(GQA_HF, "q4_1", true, 0);
    // The output head too (a skip list without output.*): RTN and GPTQ (statistics = final norm of the last
    // block's calibration outputs), 4-bit groups of 32 → Q4_0 in the GGUF, lm_head.qweight in hf/.
    roundtrip(GQA_HF, "rtn:bits=4,group=32,skip=token_embd.*", true, 1e-4);
    roundtrip(GQA_HF, "gptq:bits=4,group=32,skip=token_embd.*", true, 1e-4);
}

// The head is quantized only when a step does not skip it; then it is the last layer of the summary, runs
// as grouped int in memory and after loading, and hf/ says lm_head: true.
static void test_head(void) {
    struct stat sb;
    if (stat(GQA_HF, &sb) != 0)
        return;
    sqz_compress_opts o = {.recipe = "rtn:bits=4,group=32", .n_threads = 1};
    sqz_compressed *cc = NULL;
    CHECK_OK(sqz_compress(GQA_HF, &o, &cc)); // default skip: the head stays
    int64_t nl = 0;
    const sqz_compress_layer *L = cc ? sqz_compressed_layers(cc, &nl) : NULL;
    CHECK_MSG(nl == 2 * SQZ_LIN_COUNT, "default skip: %lld layers", (long long)nl);
    sqz_compressed_free(cc);
    o.recipe = "rtn:bits=4,group=32,skip=token_embd.*";
    CHECK_OK(sqz_compress(GQA_HF, &o, &cc));
    L = cc ? sqz_compressed_layers(cc, &nl) : NULL;
    CHECK_MSG(nl == 2 * SQZ_LIN_COUNT + 1 && L && !strcmp(L[nl - 1].name, "output.weight") &&
                  !strcmp(L[nl - 1].method, "rtn") && L[nl - 1].layer == SQZ_LAYER_HEAD && L[nl - 1].bpw < 5,
              "head layer: n %lld, name %s, method %s, bpw %.2f", (long long)nl, L ? L[nl - 1].name : "?",
              L ? L[nl - 1].method : "?", L ? L[nl - 1].bpw : 0.0);
    char dir[] = "/tmp/sqz-test-head-XXXXXX", cmd[512];
    CHECK(mkdtemp(dir) != NULL);
    if (cc)
        CHECK_OK(sqz_compressed_save(cc, dir, SQZ_SAVE_HF));
    snprintf(cmd, sizeof cmd,
             "grep -q '\"lm_head\": true' '%s/hf/config.json' && grep -q 'lm_head.qweight' '%s/hf/model.safetensors' && "
             "! grep -q 'lm_head.weight' '%s/hf/model.safetensors'", dir, dir, dir);
    CHECK_MSG(system(cmd) == 0, "hf/ should hold lm_head.qweight and say lm_head: true (%s)", dir);
    sqz_compressed_free(cc);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    // a tied head, and steps that cannot quantize a head: clear errors before any work
    o.recipe = "rtn:bits=4,group=32,skip=token_embd.*";
    CHECK_ERR(sqz_compress(GQA_HF "-tied", &o, &cc), SQZ_ERR_UNSUPPORTED, "ties it to the token embedding");
    o.recipe = "awq:bits=4,group=32,skip=token_embd.*", o.calib_path = CORPUS, o.calib_n = 4, o.calib_len = 32;
    CHECK_ERR(sqz_compress(GQA_HF, &o, &cc), SQZ_ERR_UNSUPPORTED, "does not apply to the output head");
    o.recipe = "wanda:sparsity=0.5,skip=none";
    CHECK_ERR(sqz_compress(GQA_HF, &o, &cc), SQZ_ERR_UNSUPPORTED, "does not apply to the output head");
    CHECK(cc == NULL);
}

static void test_errors(void) {
    sqz_compressed *cc = NULL;
    sqz_compress_opts o = {.recipe = "gptq:bits=5x", .calib_path = CORPUS, .calib_n = 4, .calib_len = 32};
    CHECK_ERR(sqz_compress(AIDREAMS, &o, &cc), SQZ_ERR_ARG, "bits");
    o.recipe = "gptq:bits=4,group=32"; // down_proj is 172 wide
    CHECK_ERR(sqz_compress(AIDREAMS, &o, &cc), SQZ_ERR_ARG, "does not divide the width 172");
    o.recipe = "gptq:bits=4,group=0", o.calib_path = NULL;
    CHECK_ERR(sqz_compress(AIDREAMS, &o, &cc), SQZ_ERR_ARG, "needs calibration data");
    o.calib_path = "/nonexistent/calib.txt";
    CHECK_ERR(sqz_compress(AIDREAMS, &o, &cc), SQZ_ERR_IO, "/nonexistent/calib.txt");
    o.calib_path = CORPUS, o.calib_n = 100000, o.calib_len = 128;
    CHECK_ERR(sqz_compress(AIDREAMS, &o, &cc), SQZ_ERR_ARG, "too small");
    o.recipe = "rtn:bits=8 + q8_0";
    CHECK_ERR(sqz_compress(AIDREAMS, &o, &cc), SQZ_ERR_ARG, "two steps");
    CHECK_ERR(sqz_compress("/nonexistent/model.gguf", &o, &cc), SQZ_ERR_IO, "no such model");
    CHECK(cc == NULL);
    o.recipe = "rtn:bits=8";
    CHECK_OK(sqz_compress(AIDREAMS, &o, &cc));
    if (cc)
        CHECK_ERR(sqz_compressed_save(cc, "/proc/sqz-cannot-write", SQZ_SAVE_ALL), SQZ_ERR_IO, "/proc/sqz-cannot-write");
    sqz_compressed_free(cc);
}

// ---- pruning and low rank (issue #7) ----------------------------------------------------------------

// Fraction of exact zeros in linear (l, r) of m.
static double zeros_of(sqz_model *m, int64_t l, sqz_lin_role r) {
    sqz_linear_info li;
    if (sqz_model_linear_info(m, l, r, &li) != SQZ_OK)
        return -1;
    size_t n = (size_t)(li.n_out * li.n_in), z = 0;
    float *w = malloc(n * 4);
    sqz_model_linear_get(m, l, r, w);
    for (size_t i = 0; i < n; i++)
        z += w[i] == 0.0f;
    free(w);
    return (double)z / (double)n;
}

static void test_prune_roundtrips(void) {
    struct stat sb;
    if (stat(GQA_HF, &sb) != 0) {
        printf("skip: %s not built (scripts/setup.sh)\n", GQA_HF);
        return;
    }
    // F16 values: 2:4 runs through the sparse kernel after loading (max |dlogit| ~1e-6, sum order).
    roundtrip(GQA_HF, "magnitude:sparsity=0.5", true, 1e-4);
    roundtrip(GQA_HF, "magnitude:sparsity=0.75,scope=global", true, 1e-4);
    roundtrip(GQA_HF, "magnitude:pattern=4:8", true, 1e-4);
    roundtrip(GQA_HF, "wanda:sparsity=0.5", true, 1e-4);
    roundtrip(GQA_HF, "wanda:pattern=2:4", true, 1e-4);
    roundtrip(GQA_HF, "sparsegpt:sparsity=0.6", true, 1e-4);
    roundtrip(GQA_HF, "sparsegpt:pattern=2:4,bits=4,group=32", true, 1e-2); // Q4_1 in GGUF: m rounded
    roundtrip(GQA_HF, "sparsegpt:pattern=2:4,bits=4,group=0", false, 0);
    roundtrip(GQA_HF, "lowrank:rank=16", true, 1e-4);
    roundtrip(GQA_HF, "lowrank:energy=0.9,act=1", true, 1e-4);
    roundtrip(GQA_HF, "wanda:pattern=2:4 + rtn:bits=8,group=0", true, 1e-4);
    roundtrip(GQA_HF, "magnitude:pattern=2:4 + gptq:bits=4,group=32", true, 5e-3);
    roundtrip(GQA_HF, "heads:drop=2", true, 1e-4);
    roundtrip(GQA_HF, "mlp:channels=0.25", true, 1e-4);
    roundtrip(GQA_HF, "layers:drop=1", true, 1e-4);
    roundtrip(GQA_HF, "layers:drop=1 + heads:drop=2 + mlp:channels=0.5 + wanda:pattern=2:4", true, 1e-4);
    // int4 with group-of-64 scales after N:M pruning: sqz's N:M int4 layout (exact mode decodes it)
    roundtrip(GQA_HF, "magnitude:pattern=2:4 + rtn:bits=4,group=64", false, 0);
    roundtrip(GQA_HF, "wanda:pattern=2:4 + gptq:bits=4,group=64,sym=0", false, 0);
    roundtrip(GQA_HF, "sparsegpt:pattern=2:4,bits=4,group=64", false, 0);
    roundtrip(GQA_HF, "magnitude:pattern=4:8 + rtn:bits=4,group=0", false, 0);
    roundtrip(AIDREAMS, "magnitude:pattern=2:4", true, 1e-4); // widths 64/172: 2:4 layout or dense
    roundtrip(AIDREAMS, "sparsegpt:sparsity=0.5,bits=8", false, 0);
}

// What the manifest-facing layer records and the HF files say for a 2:4 model; sparsity reached.
static void test_prune_records(void) {
    sqz_compress_opts o = {.recipe = "wanda:pattern=2:4 + rtn:bits=8,group=0", .calib_path = CORPUS, .calib_n = 4,
                           .calib_len = 64, .n_threads = 1};
    sqz_compressed *cc = NULL;
    CHECK_OK(sqz_compress(GQA_HF, &o, &cc));
    if (cc) {
        int64_t n;
        const sqz_compress_layer *L = sqz_compressed_layers(cc, &n);
        for (int64_t i = 0; i < n; i++) {
            CHECK(L[i].prune && !strcmp(L[i].prune, "wanda") && !strcmp(L[i].method, "rtn"));
            CHECK_MSG(L[i].sparsity >= 0.5 && L[i].nm_n == 2 && L[i].nm_m == 4, "%s: sparsity %.3f %d:%d",
                      L[i].name, L[i].sparsity, L[i].nm_n, L[i].nm_m);
            CHECK(strstr(L[i].storage, "simulated") && !strcmp(L[i].compute, "dense"));
        }
        sqz_compressed_free(cc);
    }
    o.recipe = "wanda:pattern=2:4";
    CHECK_OK(sqz_compress(GQA_HF, &o, &cc));
    if (!cc)
        return;
    int64_t n;
    const sqz_compress_layer *L = sqz_compressed_layers(cc, &n);
    for (int64_t i = 0; i < n; i++) {
        CHECK_MSG(L[i].sparsity == 0.5 && L[i].sp_storage == SQZ_SP_STORE_NM && fabs(L[i].bpw - 9.0) < 1e-9,
                  "%s: %.3f storage %d bpw %.3f", L[i].name, L[i].sparsity, L[i].sp_storage, L[i].bpw);
        CHECK(strstr(L[i].compute, "2:4") != NULL);
        CHECK(zeros_of(sqz_compressed_model(cc), L[i].layer, L[i].role) >= 0.5);
    }
    char dir[] = "/tmp/sqz-test-prune-XXXXXX", path[300];
    CHECK(mkdtemp(dir) != NULL);
    CHECK_OK(sqz_compressed_save(cc, dir, SQZ_SAVE_ALL));
    snprintf(path, sizeof path, "%s/hf/model.safetensors", dir);
    sqz_safetensors *st = NULL;
    CHECK_OK(sqz_safetensors_open(&st, path));
    if (st) { // 2:4: values [n_out][n_in/2] F16 + metadata [n_out][n_in/8]; no dense weight
        const sqz_tensor *v = sqz_safetensors_find(st, "model.layers.0.mlp.down_proj.sp_values");
        const sqz_tensor *mt = sqz_safetensors_find(st, "model.layers.0.mlp.down_proj.sp_meta");
        CHECK(v && v->type == SQZ_TYPE_F16 && v->shape[0] == 64 && v->shape[1] == 64);
        CHECK(mt && mt->type == SQZ_TYPE_U8 && mt->shape[0] == 64 && mt->shape[1] == 16);
        CHECK(!sqz_safetensors_find(st, "model.layers.0.mlp.down_proj.weight"));
        sqz_safetensors_free(st);
    }
    // The loaded linear streams 9/16 of the dense F16 bytes.
    sqz_model *m = NULL;
    snprintf(path, sizeof path, "%s/hf", dir);
    CHECK_OK(sqz_model_load(&m, path, NULL));
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    sqz_model *g = NULL;
    CHECK_OK(sqz_model_load(&g, path, NULL));
    if (m && g) {
        printf("2:4 weight bytes: hf (sparse) %zu, gguf (dense F16) %zu\n", sqz_model_weight_bytes(m),
               sqz_model_weight_bytes(g));
        CHECK(sqz_model_weight_bytes(m) < sqz_model_weight_bytes(g));
    }
    sqz_model_free(m), sqz_model_free(g);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    CHECK(system(path) == 0);
    sqz_compressed_free(cc);
}

// scope=global in bounded memory equals sqz_prune_magnitude_global over all linears at once.
static void test_global_magnitude(void) {
    sqz_model *src = NULL;
    CHECK_OK(sqz_model_load(&src, AIDREAMS, NULL));
    sqz_compress_opts o = {.recipe = "magnitude:sparsity=0.6,scope=global", .n_threads = 1};
    sqz_compressed *cc = NULL;
    CHECK_OK(sqz_compress(AIDREAMS, &o, &cc));
    if (!src || !cc) {
        sqz_model_free(src), sqz_compressed_free(cc);
        return;
    }
    int64_t nl = sqz_model_get_config(src)->n_layer, k = 0, n = nl * SQZ_LIN_COUNT;
    float **ws = calloc((size_t)n, sizeof *ws);
    int64_t *no = calloc((size_t)n, 8), *ni = calloc((size_t)n, 8);
    for (int64_t l = 0; l < nl; l++)
        for (int r = 0; r < SQZ_LIN_COUNT; r++, k++) {
            sqz_linear_info li;
            sqz_model_linear_info(src, l, (sqz_lin_role)r, &li);
            no[k] = li.n_out, ni[k] = li.n_in;
            ws[k] = malloc((size_t)(li.n_out * li.n_in) * 4);
            sqz_model_linear_get(src, l, (sqz_lin_role)r, ws[k]);
        }
    CHECK_OK(sqz_prune_magnitude_global(ws, no, ni, (int)n, 0.6, NULL));
    int64_t diff = 0, zeros = 0, total = 0;
    for (k = 0; k < n; k++) {
        size_t m = (size_t)(no[k] * ni[k]);
        float *got = malloc(m * 4);
        sqz_model_linear_get(sqz_compressed_model(cc), k / SQZ_LIN_COUNT, (sqz_lin_role)(k % SQZ_LIN_COUNT), got);
        for (size_t i = 0; i < m; i++)
            diff += (got[i] == 0.0f) != (ws[k][i] == 0.0f), zeros += got[i] == 0.0f;
        total += (int64_t)m;
        free(got), free(ws[k]);
    }
    printf("magnitude scope=global: %lld of %lld zero (%.4f), %lld differ from sqz_prune_magnitude_global\n",
           (long long)zeros, (long long)total, (double)zeros / (double)total, (long long)diff);
    CHECK(diff == 0 && zeros == (int64_t)(0.6 * (double)total));
    free(ws), free(no), free(ni);
    sqz_model_free(src);
    sqz_compressed_free(cc);
}

// Structured output: new shapes; the HF directory converts to a GGUF (sqz_convert) with the same logits.
static void test_structured_convert(void) {
    struct stat sb;
    if (stat(GQA_HF, &sb) != 0)
        return;
    sqz_compress_opts o = {.recipe = "layers:drop=1 + heads:drop=2 + mlp:channels=0.25", .calib_path = CORPUS,
                           .calib_n = 4, .calib_len = 64, .n_threads = 1};
    sqz_compressed *cc = NULL;
    CHECK_OK(sqz_compress(GQA_HF, &o, &cc));
    if (!cc)
        return;
    const sqz_model_config *c = sqz_model_get_config(sqz_compressed_model(cc));
    const sqz_compress_structured *s = sqz_compressed_structured(cc);
    CHECK(s->applied && c->n_layer == 1 && c->n_head == 2 && c->n_head_kv == 1 && c->n_ff == 96);
    CHECK(s->n_dropped == 1 && s->block_influence && s->n_layer_before == 2 && s->n_ff_after == 96);
    printf("structured: layers %lld→%lld (dropped %lld, BI %.4f / %.4f), heads %lld→%lld, ff %lld→%lld\n",
           (long long)s->n_layer_before, (long long)s->n_layer_after, (long long)s->dropped_layers[0],
           s->block_influence[0], s->block_influence[1], (long long)s->n_head_before, (long long)s->n_head_after,
           (long long)s->n_ff_before, (long long)s->n_ff_after);
    float *ref = logits_of(sqz_compressed_model(cc));
    char dir[] = "/tmp/sqz-test-struct-XXXXXX", path[300], gg[300];
    CHECK(mkdtemp(dir) != NULL);
    CHECK_OK(sqz_compressed_save(cc, dir, SQZ_SAVE_HF));
    snprintf(path, sizeof path, "%s/hf", dir);
    snprintf(gg, sizeof gg, "%s/converted.gguf", dir);
    CHECK_OK(sqz_convert(path, gg, SQZ_TYPE_COUNT));
    sqz_model *m = NULL;
    CHECK_OK(sqz_model_load(&m, gg, NULL));
    float *got = m ? logits_of(m) : NULL;
    double d = got && ref ? max_diff(got, ref, (size_t)(N_IDS * c->n_vocab)) : 1e9;
    printf("structured → hf → sqz convert → gguf: max |dlogit| %.2g\n", d);
    CHECK(d < 1e-4);
    free(got), free(ref);
    sqz_model_free(m);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    CHECK(system(path) == 0);
    sqz_compressed_free(cc);
}

// Rewrite hf/model.safetensors with tensor `name`'s first 2 bytes set to `v` (a corrupt checkpoint).
static void corrupt_tensor(const char *hf, const char *name, uint16_t v) {
    char path[400];
    snprintf(path, sizeof path, "%s/model.safetensors", hf);
    sqz_safetensors *st = NULL;
    CHECK_OK(sqz_safetensors_open(&st, path));
    if (!st)
        return;
    int64_t n = sqz_safetensors_n_tensors(st);
    sqz_tensor *ts = malloc((size_t)n * sizeof *ts);
    void *copy = NULL;
    for (int64_t i = 0; i < n; i++) {
        ts[i] = *sqz_safetensors_tensor(st, i);
        if (!strcmp(ts[i].name, name)) {
            copy = malloc(ts[i].nbytes);
            memcpy(copy, ts[i].data, ts[i].nbytes);
            memcpy(copy, &v, 2);
            ts[i].data = copy;
        }
    }
    CHECK(copy != NULL);
    static const char *const meta[] = {"format", "pt"};
    CHECK_OK(sqz_safetensors_write(path, ts, n, meta, 1));
    free(copy), free(ts);
    sqz_safetensors_free(st);
}

// A damaged sparse checkpoint is rejected with the tensor named, never read out of bounds.
static void test_sparse_load_errors(void) {
    struct stat sb;
    if (stat(GQA_HF, &sb) != 0)
        return;
    static const struct {
        const char *recipe, *tensor, *needle;
        uint16_t v;
    } cases[] = {
        {"magnitude:sparsity=0.8", "model.layers.0.mlp.down_proj.csr_col", "csr_col': column 65535 out of range", 0xffff},
        {"magnitude:sparsity=0.8", "model.layers.1.mlp.up_proj.csr_row_ptr", "csr_row_ptr': bad row pointer", 7},
        {"magnitude:pattern=4:8", "model.layers.0.self_attn.q_proj.sp_meta", "4:8 needs 4", 0x0707},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sqz_compress_opts o = {.recipe = cases[i].recipe, .n_threads = 1};
        sqz_compressed *cc = NULL;
        CHECK_OK(sqz_compress(GQA_HF, &o, &cc));
        char dir[] = "/tmp/sqz-test-spbad-XXXXXX", hf[300], cmd[300];
        CHECK(mkdtemp(dir) != NULL);
        CHECK_OK(sqz_compressed_save(cc, dir, SQZ_SAVE_HF));
        snprintf(hf, sizeof hf, "%s/hf", dir);
        corrupt_tensor(hf, cases[i].tensor, cases[i].v);
        sqz_model *m = NULL;
        CHECK_ERR(sqz_model_load(&m, hf, NULL), SQZ_ERR_FORMAT, cases[i].needle);
        sqz_model_free(m);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
        sqz_compressed_free(cc);
    }
}

static void prune_err(const char *model, const char *recipe, const char *calib, sqz_status code, const char *needle) {
    sqz_compress_opts o = {.recipe = recipe, .calib_path = calib, .calib_n = 4, .calib_len = 32, .n_threads = 1};
    sqz_compressed *cc = NULL;
    CHECK_ERR(sqz_compress(model, &o, &cc), code, needle);
    CHECK(cc == NULL);
}

static void test_prune_errors(void) {
    prune_err(AIDREAMS, "wanda:sparsity=0.5", NULL, SQZ_ERR_ARG, "needs calibration data");
    prune_err(AIDREAMS, "rtn:bits=8 + wanda", CORPUS, SQZ_ERR_ARG, "must come before the quantization step");
    prune_err(AIDREAMS, "wanda + awq:bits=4,group=0", CORPUS, SQZ_ERR_UNSUPPORTED, "awq after 'wanda'");
    prune_err(AIDREAMS, "magnitude + wanda", CORPUS, SQZ_ERR_ARG, "pruned by two steps");
    prune_err(AIDREAMS, "sparsegpt:bits=4 + rtn:bits=8", CORPUS, SQZ_ERR_ARG, "already quantizes");
    prune_err(AIDREAMS, "magnitude:pattern=8:16", CORPUS, SQZ_ERR_ARG, "172"); // 172 % 16 != 0
    prune_err(AIDREAMS, "lowrank:rank=100", CORPUS, SQZ_ERR_ARG, "rank");
    prune_err(AIDREAMS, "magnitude:scope=global + magnitude:scope=global", CORPUS, SQZ_ERR_ARG, "at most one");
    prune_err(AIDREAMS, "heads:drop=8", CORPUS, SQZ_ERR_ARG, "would remove all");
    prune_err(AIDREAMS, "layers:drop=9", CORPUS, SQZ_ERR_ARG, "would remove all");
    prune_err(AIDREAMS, "mlp:channels=0.001", CORPUS, SQZ_ERR_ARG, "removes 0");
    prune_err(AIDREAMS, "heads + heads:drop=2", CORPUS, SQZ_ERR_ARG, "given twice");
    prune_err(GQA_HF, "heads:drop=1", CORPUS, SQZ_ERR_ARG, "multiple of the GQA group size 2");
}

// A 2:4-pruned int4 variant runs on the sparse int4 kernel: every linear in that layout, logits within the
// 8-bit activation noise of the exact path, prefill and token-by-token within the attention-order noise,
// and the file smaller than the dense int4 variant's.
static void test_int4_sparse_engine(void) {
    struct stat sb;
    if (stat(GQA_HF, &sb) != 0)
        return;
    char dir[] = "/tmp/sqz-test-sp-int4-XXXXXX", path[300], dense_dir[] = "/tmp/sqz-test-int4-XXXXXX";
    CHECK(mkdtemp(dir) != NULL && mkdtemp(dense_dir) != NULL);
    sqz_compress_opts o = {.recipe = "magnitude:pattern=2:4 + rtn:bits=4,group=64", .calib_path = CORPUS, .calib_n = 4,
                           .calib_len = 32, .n_threads = 1};
    sqz_compressed *cc = NULL, *cd = NULL;
    CHECK_OK(sqz_compress(GQA_HF, &o, &cc));
    o.recipe = "magnitude:pattern=2:4 + rtn:bits=4,group=32"; // groups of 32: no N:M int layout, dense int4
    CHECK_OK(sqz_compress(GQA_HF, &o, &cd));
    if (!cc || !cd)
        goto out;
    CHECK_OK(sqz_compressed_save(cc, dir, SQZ_SAVE_HF));
    CHECK_OK(sqz_compressed_save(cd, dense_dir, SQZ_SAVE_HF));
    int64_t nl;
    const sqz_compress_layer *L = sqz_compressed_layers(cd, &nl);
    CHECK(nl > 0 && strstr(L[0].storage, "simulated") != NULL);
    snprintf(path, sizeof path, "%s/hf/model.safetensors", dir);
    struct stat s1, s2;
    char p2[300];
    snprintf(p2, sizeof p2, "%s/hf/model.safetensors", dense_dir);
    CHECK(stat(path, &s1) == 0 && stat(p2, &s2) == 0 && s1.st_size < s2.st_size);
    printf("2:4 int4 g64 file %lld bytes, dense int4 g32 %lld bytes\n", (long long)s1.st_size, (long long)s2.st_size);
    snprintf(path, sizeof path, "%s/hf", dir);
    sqz_model *fast = NULL, *exact = NULL;
    sqz_load_opts eo = {.exact = true};
    CHECK_OK(sqz_model_load(&fast, path, NULL));
    CHECK_OK(sqz_model_load(&exact, path, &eo));
    if (fast && exact) {
        CHECK_MSG(strstr(sqz_model_kernel_name(fast), "2:4 int4 sparse") != NULL, "kernel '%s'", sqz_model_kernel_name(fast));
        int64_t nv = sqz_model_get_config(fast)->n_vocab;
        size_t n = (size_t)(N_IDS * nv);
        float *a = logits_of(fast), *b = logits_of(exact), *step = malloc(n * sizeof *step);
        sqz_ctx *c = NULL;
        CHECK_OK(sqz_ctx_new(&c, fast, 64, 1, 1));
        for (int64_t i = 0; c && i < N_IDS; i++)
            CHECK_OK(sqz_ctx_eval(c, IDS + i, 1, SQZ_LOGITS_ALL, step + i * nv));
        sqz_ctx_free(c);
        double de = a && b ? max_diff(a, b, n) : 1e9, ds = a ? max_diff(a, step, n) : 1e9;
        printf("2:4 int4 sparse kernel vs exact max|dlogit| %.3g; prefill vs token by token %.3g\n", de, ds);
        CHECK_MSG(de <= 0.15, "sparse int4 vs exact: %.3g", de);
        CHECK_MSG(ds <= 0.05, "sparse int4 prefill vs decode: %.3g", ds);
        free(a), free(b), free(step);
    }
    sqz_model_free(fast), sqz_model_free(exact);
out:
    sqz_compressed_free(cc), sqz_compressed_free(cd);
    snprintf(path, sizeof path, "rm -rf '%s' '%s'", dir, dense_dir);
    CHECK(system(path) == 0);
}

int main(void) {
    test_block_forward();
    test_calib();
    test_errors();
    test_prune_errors();
    test_global_magnitude();
    test_prune_records();
    test_structured_convert();
    test_sparse_load_errors();
    test_prune_roundtrips();
    test_int4_sparse_engine();
    test_roundtrips();
    test_head();
    return test_summary();
}

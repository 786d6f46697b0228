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
    o.recipe = "wanda:sparsity=0.5";
    CHECK_ERR(sqz_compress(AIDREAMS, &o, &cc), SQZ_ERR_UNSUPPORTED, "pruning");
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

int main(void) {
    test_block_forward();
    test_calib();
    test_errors();
    test_roundtrips();
    return test_summary();
}

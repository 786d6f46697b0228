// Pruning quality on a real model: held-out Python-corpus perplexity of SmolLM2-135M after
// magnitude, Wanda and SparseGPT at 50 % unstructured and at 2:4, next to the dense model. Each
// variant is made by the compress pipeline (sqz_compress: the sequential layer-by-layer calibration
// of docs/compress.md — per capture point statistics from the block as already pruned, the next
// block's inputs through the pruned block) and evaluated in memory. Pruned linears run as F16 (the
// pipeline's value type for pruned weights, sparsity simulated in memory); the dense baseline is the
// same model with every linear cast to F16 (`cast:to=f16`).
//   build/bench/prune_ppl [model ("" = SmolLM2 Q4_1 GGUF in $SQZ_MODELS)] [calib_n (32)] [calib_len (256)]
//                         [ppl_chunks (16)] [chunk_ctx (512)] [threads (0)]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqz.h"

static const char *VARIANTS[] = {"cast:to=f16",
                                 "magnitude:sparsity=0.5",
                                 "wanda:sparsity=0.5",
                                 "sparsegpt:sparsity=0.5",
                                 "magnitude:pattern=2:4",
                                 "wanda:pattern=2:4",
                                 "sparsegpt:pattern=2:4"};
#define N_VARIANTS (int)(sizeof VARIANTS / sizeof *VARIANTS)

// Mean achieved sparsity over the compressed linears (weighted by size).
static double sparsity_of(sqz_compressed *cc) {
    int64_t n;
    const sqz_compress_layer *L = sqz_compressed_layers(cc, &n);
    double z = 0, t = 0;
    for (int64_t i = 0; i < n; i++) {
        double k = (double)(L[i].n_out * L[i].n_in);
        z += (L[i].prune ? L[i].sparsity : 0) * k, t += k;
    }
    return t > 0 ? z / t : 0;
}

static int fail(const char *what) {
    fprintf(stderr, "prune_ppl: %s: %s\n", what, sqz_last_error());
    return 1;
}

int main(int argc, char **argv) {
    char def[1024];
    const char *models = getenv("SQZ_MODELS"), *home = getenv("HOME");
    if (models)
        snprintf(def, sizeof def, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", models);
    else
        snprintf(def, sizeof def, "%s/.cache/sqz/models/SmolLM2-135M-Instruct.Q4_1.gguf", home ? home : ".");
    const char *path = argc > 1 && argv[1][0] ? argv[1] : def;
    int64_t calib_n = argc > 2 ? atoll(argv[2]) : 32, calib_len = argc > 3 ? atoll(argv[3]) : 256;
    int64_t chunks = argc > 4 ? atoll(argv[4]) : 16, chunk_ctx = argc > 5 ? atoll(argv[5]) : 512;
    int threads = argc > 6 ? atoi(argv[6]) : 0;
    sqz_model *m = NULL;
    if (sqz_model_load(&m, path, NULL) != SQZ_OK)
        return fail(path);
    const sqz_tokenizer *tok = sqz_model_tokenizer(m);
    char *text = NULL;
    size_t len = 0;
    if (!tok)
        return fail("tokenizer");
    if (sqz_corpus_text(SQZ_CALIB_DEFAULT_PATH, true, &text, &len) != SQZ_OK)
        return fail("held-out corpus");
    size_t want_bytes = (size_t)(chunks * chunk_ctx) * 8; // ~4 bytes/token of code; tokenize a prefix
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (sqz_tokenizer_encode(tok, text, len < want_bytes ? len : want_bytes, false, &ids, &n_ids) != SQZ_OK)
        return fail("tokenize");
    if ((int64_t)n_ids > chunks * chunk_ctx)
        n_ids = (size_t)(chunks * chunk_ctx);
    int32_t bos = sqz_tokenizer_bos(tok);
    sqz_model_free(m);
    printf("%s: held-out python corpus, %zu tokens in chunks of %lld; calibration %lld x %lld tokens\n", path, n_ids,
           (long long)chunk_ctx, (long long)calib_n, (long long)calib_len);
    printf("%-26s %10s %10s %8s\n", "variant", "sparsity", "ppl", "seconds");
    for (int v = 0; v < N_VARIANTS; v++) {
        double t0 = sqz_time_now();
        sqz_compress_opts o = {.recipe = VARIANTS[v], .calib_path = SQZ_CALIB_DEFAULT_PATH, .calib_n = calib_n,
                               .calib_len = calib_len, .seed = 1234, .n_threads = threads};
        sqz_compressed *cc = NULL;
        sqz_ctx *c = NULL;
        sqz_ppl_result res = {0};
        if (sqz_compress(path, &o, &cc) != SQZ_OK ||
            sqz_ctx_new(&c, sqz_compressed_model(cc), chunk_ctx, chunk_ctx, threads) != SQZ_OK ||
            sqz_perplexity(c, ids, (int64_t)n_ids, chunk_ctx, bos, NULL, NULL, &res) != SQZ_OK)
            return fail(VARIANTS[v]);
        printf("%-26s %10.4f %10.3f %8.1f\n", VARIANTS[v], sparsity_of(cc), res.ppl, sqz_time_now() - t0);
        fflush(stdout);
        sqz_ctx_free(c);
        sqz_compressed_free(cc);
    }
    free(ids);
    free(text);
    return 0;
}

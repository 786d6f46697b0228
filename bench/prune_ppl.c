// Pruning quality on a real model: held-out Python-corpus perplexity of SmolLM2-135M after
// magnitude, Wanda and SparseGPT at 50 % unstructured and at 2:4, next to the dense model.
// Calibration follows the compress pipeline's sequential scheme: sequences from the calibration
// side of the corpus, blocks processed in order, each capture point's statistics taken from the
// block as already pruned, and the next block's inputs computed through the pruned block. Pruned
// weights are set as F32 (zeros in dense tensors: sparsity simulated, quality only); the dense
// baseline is the same model with every linear set to its F32 dequantization.
//   build/bench/prune_ppl [model ("" = SmolLM2 Q4_1 GGUF in $SQZ_MODELS)] [calib_n (32)] [calib_len (256)]
//                         [ppl_chunks (16)] [chunk_ctx (512)] [threads (0)]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sqz.h"
#include "sqz/compress.h"
#include "sqz/prune.h"

static const char *VARIANTS[] = {"dense",
                                 "magnitude:sparsity=0.5",
                                 "wanda:sparsity=0.5",
                                 "sparsegpt:sparsity=0.5",
                                 "magnitude:pattern=2:4",
                                 "wanda:pattern=2:4",
                                 "sparsegpt:pattern=2:4"};
#define N_VARIANTS (int)(sizeof VARIANTS / sizeof *VARIANTS)

static const int ROLES_OF[SQZ_CAP_COUNT][3] = {
    {SQZ_LIN_Q, SQZ_LIN_K, SQZ_LIN_V}, {SQZ_LIN_O, -1, -1}, {SQZ_LIN_GATE, SQZ_LIN_UP, -1}, {SQZ_LIN_DOWN, -1, -1}};

typedef struct counts {
    double zeros, total;
} counts;

typedef struct cap {
    sqz_actstats *st;
    int point;
    sqz_status err;
} cap;

static int on_capture(void *user, sqz_capture_point p, const float *x, int64_t n, int64_t width) {
    cap *c = user;
    if ((int)p != c->point)
        return 0;
    if (c->err == SQZ_OK)
        c->err = sqz_actstats_add(c->st, x, n);
    return 1; // stop here: the hidden states stay as they were
}

// Prune (or just re-set as F32 when step == NULL) linear r of block l.
static sqz_status prune_one(sqz_model *m, int64_t l, int r, const sqz_recipe_step *step, const sqz_actstats *st,
                            counts *cnt) {
    sqz_linear_info li;
    SQZ_TRY(sqz_model_linear_info(m, l, (sqz_lin_role)r, &li));
    size_t n = (size_t)(li.n_out * li.n_in);
    float *w = malloc(n * sizeof *w);
    SQZ_FAIL_IF(!w, SQZ_ERR_NOMEM, "out of memory");
    sqz_status e = sqz_model_linear_get(m, l, (sqz_lin_role)r, w);
    if (e == SQZ_OK && step)
        e = sqz_prune_layer(step, w, li.n_out, li.n_in, st, NULL, NULL, NULL);
    if (e == SQZ_OK) {
        cnt->zeros += sqz_sparsity_of(w, n) * (double)n;
        cnt->total += (double)n;
        e = sqz_model_linear_set(m, l, (sqz_lin_role)r, SQZ_TYPE_F32, w, n * sizeof *w);
    }
    free(w);
    return e;
}

static sqz_status prune_model(sqz_model *m, const sqz_recipe_step *step, const sqz_calib *cal, int threads,
                              counts *cnt) {
    const sqz_model_config *cfg = sqz_model_get_config(m);
    bool calib = step && sqz_step_needs_calib(step);
    sqz_ctx *ctx = NULL;
    float *x = NULL;
    int64_t rows = cal->n_seq * cal->seq_len, per = cal->seq_len >= 2048 ? 1 : 2048 / cal->seq_len;
    if (per > cal->n_seq)
        per = cal->n_seq;
    if (calib) {
        SQZ_TRY(sqz_ctx_new(&ctx, m, per * cal->seq_len, per * cal->seq_len, threads));
        x = malloc((size_t)(rows * cfg->n_embd) * sizeof *x);
        SQZ_FAIL_IF(!x, SQZ_ERR_NOMEM, "out of memory");
        SQZ_TRY(sqz_model_embed(m, cal->ids, rows, x));
    }
    sqz_status e = SQZ_OK;
    for (int64_t l = 0; l < cfg->n_layer && e == SQZ_OK; l++) {
        for (int p = 0; p < SQZ_CAP_COUNT && e == SQZ_OK; p++) {
            cap c = {.point = p};
            if (calib) {
                int64_t width = p == SQZ_CAP_ATTN_OUT ? cfg->n_head * cfg->head_dim
                                : p == SQZ_CAP_MLP_MID ? cfg->n_ff
                                                       : cfg->n_embd;
                e = sqz_actstats_new(width, &c.st);
                if (e == SQZ_OK)
                    e = sqz_block_forward(ctx, l, x, cal->n_seq, cal->seq_len, on_capture, &c);
                if (e == SQZ_OK)
                    e = c.err;
            }
            for (int i = 0; i < 3 && e == SQZ_OK; i++)
                if (ROLES_OF[p][i] >= 0)
                    e = prune_one(m, l, ROLES_OF[p][i], step, c.st, cnt);
            sqz_actstats_free(c.st);
        }
        if (calib && e == SQZ_OK) // the next block's inputs, through the pruned block
            e = sqz_block_forward(ctx, l, x, cal->n_seq, cal->seq_len, NULL, NULL);
    }
    free(x);
    sqz_ctx_free(ctx);
    return e;
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
    sqz_calib *cal = NULL;
    if (!tok)
        return fail("tokenizer");
    if (sqz_corpus_text(SQZ_CALIB_DEFAULT_PATH, true, &text, &len) != SQZ_OK)
        return fail("held-out corpus");
    if (sqz_calib_draw(tok, SQZ_CALIB_DEFAULT_PATH, calib_n, calib_len, 1234, &cal) != SQZ_OK)
        return fail("calibration");
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
        sqz_recipe *r = NULL;
        if (v > 0 && sqz_recipe_parse(VARIANTS[v], &r) != SQZ_OK)
            return fail(VARIANTS[v]);
        counts cnt = {0};
        sqz_ctx *c = NULL;
        sqz_ppl_result res = {0};
        if (sqz_model_load(&m, path, NULL) != SQZ_OK || prune_model(m, r ? &r->steps[0] : NULL, cal, threads, &cnt) ||
            sqz_ctx_new(&c, m, chunk_ctx, chunk_ctx, threads) != SQZ_OK ||
            sqz_perplexity(c, ids, (int64_t)n_ids, chunk_ctx, bos, NULL, NULL, &res) != SQZ_OK)
            return fail(VARIANTS[v]);
        printf("%-26s %10.4f %10.3f %8.1f\n", VARIANTS[v], cnt.zeros / cnt.total, res.ppl, sqz_time_now() - t0);
        fflush(stdout);
        sqz_ctx_free(c);
        sqz_model_free(m);
        sqz_recipe_free(r);
    }
    free(ids);
    free(text);
    sqz_calib_free(cal);
    return 0;
}

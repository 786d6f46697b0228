// Pruning: recipe rows and their errors, N:M parsing, argument errors of every algorithm, global
// magnitude, structured scores/selection/removal, block influence, low-rank shapes, the per-layer
// entry point and sticky masks through quantization. (Reference comparisons: test_prune_ref.py.)
#include <stdlib.h>

#include "harness.h"
#include "sqz/prune.h"

static char *canon(const char *text) {
    sqz_recipe *r = NULL;
    if (sqz_recipe_parse(text, &r) != SQZ_OK)
        return NULL;
    char *s = sqz_recipe_str(r);
    sqz_recipe_free(r);
    return s;
}

static void check_canon(const char *text, const char *want) {
    char *s = canon(text);
    CHECK_MSG(s && !strcmp(s, want), "'%s' -> '%s', want '%s' (%s)", text, s ? s : "(error)", want,
              sqz_last_error());
    free(s);
}

static void check_bad(const char *text, const char *needle) {
    sqz_recipe *r = NULL;
    CHECK_ERR(sqz_recipe_parse(text, &r), SQZ_ERR_ARG, needle);
    CHECK(r == NULL);
}

static void test_recipe(void) {
    check_canon("magnitude", "magnitude:sparsity=0.5,scope=layer,pattern=none");
    check_canon("magnitude:sparsity=0.3,scope=global", "magnitude:sparsity=0.3,scope=global,pattern=none");
    check_canon("wanda:pattern=2:4", "wanda:sparsity=0.5,pattern=2:4");
    check_canon("wanda:sparsity=0.5,pattern=4:8", "wanda:sparsity=0.5,pattern=4:8");
    check_canon("sparsegpt:sparsity=0.6,bits=4",
                "sparsegpt:sparsity=0.6,pattern=none,bits=4,group=0,sym=0,damp=0.01,block=128");
    check_canon("heads:drop=2", "heads:drop=2");
    check_canon("mlp:channels=0.25", "mlp:channels=0.25");
    check_canon("layers:drop=3", "layers:drop=3");
    check_canon("lowrank:rank=64", "lowrank:rank=64,energy=0,act=0");
    check_canon("lowrank:energy=0.9,act=1", "lowrank:rank=0,energy=0.9,act=1");
    check_canon("wanda:pattern=2:4 + gptq:bits=4", "wanda:sparsity=0.5,pattern=2:4 + gptq:bits=4,group=128,"
                                                   "act_order=0,damp=0.01,static_groups=0,sym=1,block=128");
    sqz_recipe *r = NULL;
    CHECK_OK(sqz_recipe_parse("wanda:sparsity=0.5 + magnitude + lowrank:rank=4 + sparsegpt", &r));
    if (r) {
        CHECK(r->n_steps == 4 && r->steps[0].kind == SQZ_STEP_WANDA && r->steps[1].kind == SQZ_STEP_MAGNITUDE);
        CHECK(sqz_step_needs_calib(&r->steps[0]) && !sqz_step_needs_calib(&r->steps[1]));
        CHECK(!sqz_step_needs_calib(&r->steps[2]) && sqz_step_needs_calib(&r->steps[3]));
        CHECK(sqz_step_skips(&r->steps[0], "model.embed_tokens.weight"));
    }
    sqz_recipe_free(r);

    check_bad("wanda:sparsity=1", "sparsity must be in [0, 1)");
    check_bad("wanda:sparsity=-0.1", "sparsity: expected a number in 0..1");
    check_bad("magnitude:sparsity=1.5", "expected a number in 0..1");
    check_bad("wanda:pattern=4:4", "N must satisfy 1 <= N < M");
    check_bad("wanda:pattern=5:4", "N must satisfy 1 <= N < M");
    check_bad("wanda:pattern=0:4", "N must satisfy 1 <= N < M");
    check_bad("sparsegpt:pattern=2:6", "M must be a power of two");
    check_bad("sparsegpt:pattern=1:2", "M must be a power of two in 4..64");
    check_bad("wanda:pattern=2-4", "expected N:M");
    check_bad("wanda:sparsity=0.3,pattern=2:4", "contradicts pattern=2:4");
    check_bad("magnitude:scope=global,pattern=2:4", "scope=global cannot be combined");
    check_bad("magnitude:scope=row", "expected one of layer|global");
    check_bad("sparsegpt:bits=1", "bits must be 0");
    check_bad("sparsegpt:bits=9", "expected an integer in 0..8");
    check_bad("heads:drop=0", "drop: expected an integer in 1..4096");
    check_bad("mlp:channels=1", "channels");
    check_bad("mlp:channels=0", "channels");
    check_bad("lowrank", "exactly one of rank=R or energy=E");
    check_bad("lowrank:rank=4,energy=0.5", "exactly one of rank=R or energy=E");
    check_bad("lowrank:rank=0", "rank must be >= 1");
    check_bad("lowrank:energy=0", "energy must be in (0, 1]");
    check_bad("lowrank:energy=1.5", "expected a number in 0..1");
}

static void test_nm(void) {
    sqz_nm nm;
    CHECK_OK(sqz_nm_parse("2:4", &nm));
    CHECK(nm.n == 2 && nm.m == 4);
    CHECK_OK(sqz_nm_parse("none", &nm));
    CHECK(nm.n == 0 && nm.m == 0);
    CHECK_ERR(sqz_nm_parse("4:4", &nm), SQZ_ERR_ARG, "1 <= N < M");
    CHECK_ERR(sqz_nm_parse("2:4x", &nm), SQZ_ERR_ARG, "expected N:M");
    CHECK_ERR(sqz_nm_parse("3:12", &nm), SQZ_ERR_ARG, "power of two");
    CHECK_ERR(sqz_nm_check("wanda", (sqz_nm){2, 4}, 30), SQZ_ERR_ARG, "not a multiple of 4");
    CHECK_ERR(sqz_nm_check("wanda", (sqz_nm){2, 128}, 256), SQZ_ERR_ARG, "N < M <= 64");
}

static uint64_t rng = 42;
static float frand(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

static void test_errors(void) {
    float w[8 * 16];
    for (int i = 0; i < 128; i++)
        w[i] = frand();
    sqz_actstats *st = NULL;
    CHECK_OK(sqz_actstats_new(16, &st));
    float x[4 * 16];
    for (int i = 0; i < 64; i++)
        x[i] = frand();
    CHECK_ERR(sqz_prune_wanda(w, 8, 16, st, 0.5, (sqz_nm){0, 0}, NULL), SQZ_ERR_ARG, "no calibration rows");
    CHECK_OK(sqz_actstats_add(st, x, 4));
    CHECK_ERR(sqz_prune_magnitude(w, 8, 16, 1.0, (sqz_nm){0, 0}, NULL), SQZ_ERR_ARG, "sparsity must be in [0, 1)");
    CHECK_ERR(sqz_prune_magnitude(w, 8, 16, -0.5, (sqz_nm){0, 0}, NULL), SQZ_ERR_ARG, "got -0.5");
    CHECK_ERR(sqz_prune_magnitude(w, 8, 16, 0.5, (sqz_nm){4, 4}, NULL), SQZ_ERR_ARG, "need 1 <= N < M");
    CHECK_ERR(sqz_prune_wanda(w, 8, 16, st, 0.5, (sqz_nm){4, 2}, NULL), SQZ_ERR_ARG, "need 1 <= N < M");
    CHECK_ERR(sqz_prune_wanda(w, 4, 32, st, 0.5, (sqz_nm){0, 0}, NULL), SQZ_ERR_ARG, "statistics are for 16 inputs");
    CHECK_ERR(sqz_prune_wanda(w, 8, 16, NULL, 0.5, (sqz_nm){0, 0}, NULL), SQZ_ERR_ARG, "needs calibration");
    sqz_sparsegpt_params p = {.sparsity = 1.2, .damp = 0.01, .block = 128};
    CHECK_ERR(sqz_prune_sparsegpt(w, 8, 16, st, p, NULL, NULL, NULL), SQZ_ERR_ARG, "sparsity must be in [0, 1)");
    p = (sqz_sparsegpt_params){.nm = {2, 8}, .damp = 0.01, .block = 12};
    CHECK_ERR(sqz_prune_sparsegpt(w, 8, 16, st, p, NULL, NULL, NULL), SQZ_ERR_ARG, "block 12 must be a multiple");
    sqz_lowrank *lr = NULL;
    CHECK_ERR(sqz_lowrank_svd(w, 8, 16, NULL, 9, 0, &lr), SQZ_ERR_ARG, "rank 9 is larger than the matrix allows");
    CHECK_ERR(sqz_lowrank_svd(w, 8, 16, NULL, 0, 1.5, &lr), SQZ_ERR_ARG, "energy must be in (0, 1]");
    CHECK(lr == NULL);
    w[17] = NAN;
    CHECK_ERR(sqz_prune_magnitude(w, 8, 16, 0.5, (sqz_nm){0, 0}, NULL), SQZ_ERR_ARG, "non-finite weight at [1][1]");
    sqz_sparsegpt_params p2 = {.sparsity = 0.5, .damp = 0.01, .block = 128};
    CHECK_ERR(sqz_prune_sparsegpt(w, 8, 16, st, p2, NULL, NULL, NULL), SQZ_ERR_ARG, "non-finite");
    CHECK_ERR(sqz_lowrank_svd(w, 8, 16, NULL, 2, 0, &lr), SQZ_ERR_ARG, "non-finite");
    w[17] = 0.5f;
    uint8_t keep[4];
    double sc[4] = {1, 2, 3, 4};
    CHECK_ERR(sqz_prune_lowest(sc, 4, 4, keep), SQZ_ERR_ARG, "cannot drop 4 of 4");
    sqz_actstats_free(st);
}

static void test_global(void) {
    float a[4] = {0.1f, -5.0f, 0.2f, 3.0f}, b[6] = {-0.15f, 4.0f, 0.05f, 1.0f, -0.3f, 2.0f};
    float *ws[2] = {a, b};
    int64_t n_out[2] = {1, 2}, n_in[2] = {4, 3};
    uint8_t ma[4], mb[6];
    uint8_t *ms[2] = {ma, mb};
    CHECK_OK(sqz_prune_magnitude_global(ws, n_out, n_in, 2, 0.5, ms)); // 5 of 10 smallest: .05 .1 .15 .2 .3
    CHECK(a[0] == 0 && a[2] == 0 && a[1] == -5.0f && a[3] == 3.0f);
    CHECK(b[0] == 0 && b[2] == 0 && b[4] == 0 && b[3] == 1.0f && ma[0] == 0 && ma[1] == 1 && mb[3] == 1);
    float t[4] = {1, 1, 1, 1};
    CHECK_OK(sqz_prune_magnitude(t, 1, 4, 0.5, (sqz_nm){0, 0}, NULL)); // ties: earlier first
    CHECK(t[0] == 0 && t[1] == 0 && t[2] == 1 && t[3] == 1);
}

static void test_structured(void) {
    // o_proj [d=4][3 heads x 2]: head 1's columns carry tiny weights → lowest score
    float wo[4 * 6];
    for (int o = 0; o < 4; o++)
        for (int j = 0; j < 6; j++)
            wo[o * 6 + j] = (j / 2 == 1 ? 0.01f : 1.0f) * (o % 2 ? -1.0f : 1.0f);
    sqz_actstats *st = NULL;
    CHECK_OK(sqz_actstats_new(6, &st));
    float x[10 * 6];
    for (int i = 0; i < 60; i++)
        x[i] = frand();
    CHECK_OK(sqz_actstats_add(st, x, 10));
    double gs[3];
    CHECK_OK(sqz_prune_head_scores(wo, 4, 3, 3, 2, st, gs));
    uint8_t keep[3];
    CHECK_OK(sqz_prune_lowest(gs, 3, 1, keep));
    CHECK(keep[0] == 1 && keep[1] == 0 && keep[2] == 1);
    CHECK_ERR(sqz_prune_head_scores(wo, 4, 3, 2, 2, st, gs), SQZ_ERR_ARG, "multiple of KV heads");
    uint8_t kc[6] = {1, 1, 0, 0, 1, 1};
    float small[4 * 4];
    CHECK(sqz_matrix_keep_cols(wo, 4, 6, kc, small) == 4);
    CHECK(small[0] == wo[0] && small[2] == wo[4] && small[4 + 3] == wo[6 + 5]);
    uint8_t kr[4] = {0, 1, 0, 1};
    float rows[2 * 6];
    CHECK(sqz_matrix_keep_rows(wo, 4, 6, kr, rows) == 2);
    CHECK(rows[0] == wo[6] && rows[6 + 5] == wo[18 + 5]);
    sqz_actstats_free(st);

    // block influence: identical in/out → 0; orthogonal → 1; opposite → 2
    float a[2 * 3] = {1, 0, 0, 0, 2, 0}, b[2 * 3] = {0, 1, 0, 0, 0, 3}, c[3] = {-1, 0, 0};
    sqz_block_influence bi = {0};
    double v = -1;
    CHECK_ERR(sqz_block_influence_get(&bi, &v), SQZ_ERR_ARG, "no calibration tokens");
    CHECK_OK(sqz_block_influence_add(&bi, a, a, 2, 3));
    CHECK_OK(sqz_block_influence_get(&bi, &v));
    CHECK(fabs(v) < 1e-12);
    bi = (sqz_block_influence){0};
    CHECK_OK(sqz_block_influence_add(&bi, a, b, 2, 3));
    CHECK_OK(sqz_block_influence_get(&bi, &v));
    CHECK(fabs(v - 1.0) < 1e-12);
    bi = (sqz_block_influence){0};
    CHECK_OK(sqz_block_influence_add(&bi, a, c, 1, 3));
    CHECK_OK(sqz_block_influence_get(&bi, &v));
    CHECK(fabs(v - 2.0) < 1e-12);
}

static void test_layer(void) {
    int64_t n_out = 12, n_in = 32;
    float w[12 * 32], w0[12 * 32], x[64 * 32];
    for (int i = 0; i < 12 * 32; i++)
        w0[i] = frand();
    for (int i = 0; i < 64 * 32; i++)
        x[i] = frand();
    sqz_actstats *st = NULL;
    CHECK_OK(sqz_actstats_new(n_in, &st));
    CHECK_OK(sqz_actstats_add(st, x, 64));
    sqz_recipe *r = NULL;
    CHECK_OK(sqz_recipe_parse("lowrank:rank=5 + heads:drop=1 + magnitude:scope=global + wanda", &r));
    if (!r)
        return;
    memcpy(w, w0, sizeof w);
    sqz_lowrank *lr = NULL;
    CHECK_OK(sqz_prune_layer(&r->steps[0], w, n_out, n_in, NULL, NULL, NULL, &lr));
    CHECK(lr && lr->rank == 5 && lr->energy > 0 && lr->energy < 1);
    sqz_lowrank_free(lr);
    CHECK_ERR(sqz_prune_layer(&r->steps[1], w, n_out, n_in, st, NULL, NULL, NULL), SQZ_ERR_ARG, "whole model");
    CHECK_ERR(sqz_prune_layer(&r->steps[2], w, n_out, n_in, st, NULL, NULL, NULL), SQZ_ERR_ARG,
              "scope=global needs all layers");
    CHECK_ERR(sqz_prune_layer(&r->steps[3], w, n_out, n_in, NULL, NULL, NULL, NULL), SQZ_ERR_ARG,
              "needs calibration data");
    uint8_t mask[12 * 32];
    memcpy(w, w0, sizeof w);
    CHECK_OK(sqz_prune_layer(&r->steps[3], w, n_out, n_in, st, mask, NULL, NULL));
    CHECK(fabs(sqz_sparsity_of(w, 12 * 32) - 0.5) < 1e-9);
    sqz_recipe_free(r);

    // sparsegpt with bits: codes of pruned weights are the zero points; sticky mask after rtn
    sqz_sparsegpt_params p = {.nm = {2, 4}, .damp = 0.01, .block = 16, .q = {.bits = 4, .group = 0, .sym = false}};
    sqz_qweight *q = NULL;
    memcpy(w, w0, sizeof w);
    CHECK_OK(sqz_prune_sparsegpt(w, n_out, n_in, st, p, mask, &q, NULL));
    if (q) {
        float deq[12 * 32];
        sqz_qweight_dequant(q, deq);
        double md = 0;
        for (int i = 0; i < 12 * 32; i++)
            md = fmax(md, fabs(deq[i] - w[i]));
        CHECK_MSG(md < 1e-6, "sparsegpt bits=4: dequantized codes differ from weights by %g", md);
        CHECK(fabs(sqz_sparsity_of(deq, 12 * 32) - 0.5) < 1e-9);
    }
    sqz_qweight_free(q);
    sqz_qweight *rq = NULL;
    CHECK_OK(sqz_quant_rtn(w0, n_out, n_in, (sqz_qparams){4, 0, false}, &rq));
    if (rq) {
        sqz_qweight_apply_mask(rq, mask);
        float deq[12 * 32];
        sqz_qweight_dequant(rq, deq);
        int bad = 0;
        for (int i = 0; i < 12 * 32; i++)
            bad += !mask[i] && deq[i] != 0.0f;
        CHECK(bad == 0);
    }
    sqz_qweight_free(rq);
    sqz_actstats_free(st);
}

static void test_summary_storage(void) {
    float w[4 * 128];
    for (int i = 0; i < 4 * 128; i++)
        w[i] = (i % 4 < 2) ? 1.0f + (float)i : 0.0f; // 2:4
    sqz_sparse_summary s;
    sqz_sparse_summarize(w, 4, 128, &s);
    CHECK(s.storage == SQZ_SP_STORE_NM && s.nm.n == 2 && s.nm.m == 4 && fabs(s.sparsity - 0.5) < 1e-12);
    CHECK(s.nbytes == 4 * (128 + 16) && s.dense_nbytes == 4 * 256 && strstr(s.describe, "2:4 compressed"));
    for (int i = 0; i < 4 * 128; i++)
        w[i] = (i % 8 < 4) ? 1.0f : 0.0f; // 4:8, not 2:4
    sqz_sparse_summarize(w, 4, 128, &s);
    CHECK(s.storage == SQZ_SP_STORE_NM && s.nm.n == 4 && s.nm.m == 8);
    for (int i = 0; i < 4 * 128; i++)
        w[i] = (i % 64 < 5) ? 1.0f : 0.0f; // 92 % sparse, not N:M (5 in a group of 8): CSR is smaller
    sqz_sparse_summarize(w, 4, 128, &s);
    CHECK(s.storage == SQZ_SP_STORE_CSR && s.nbytes == sqz_sparse_csr_nbytes_for(4, 40) && s.nbytes < s.dense_nbytes);
    for (int i = 0; i < 4 * 128; i++)
        w[i] = (i % 3 == 0) ? 0.0f : 1.0f; // 33 % unstructured: dense, simulated
    sqz_sparse_summarize(w, 4, 128, &s);
    CHECK(s.storage == SQZ_SP_STORE_DENSE && strstr(s.describe, "simulated") && s.nbytes == s.dense_nbytes);
}

int main(void) {
    test_summary_storage();
    test_recipe();
    test_nm();
    test_errors();
    test_global();
    test_structured();
    test_layer();
    return test_summary();
}

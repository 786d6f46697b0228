// Quantization methods on plain matrices: RTN by hand, GPTQ/AWQ behaviour and error handling,
// llama.cpp blocks (plain = reference codecs), casts, and the one-step-on-one-layer entry point.
// Exact agreement with the reference implementations is in the test_*_ref.py tests.
#include <stdlib.h>

#include "harness.h"
#include "kernels/quant.h"
#include "sqz/quant.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float randn(void) { // Box-Muller from xorshift
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    double u1 = ((rng >> 11) + 0.5) / 9007199254740992.0;
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    double u2 = ((rng >> 11) + 0.5) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static float *randm(int64_t n) {
    float *p = malloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = randn();
    return p;
}

// Correlated activations: x = z·M with M = I + N/sqrt(n).
static float *corr_x(int64_t rows, int64_t n) {
    float *m = randm(n * n), *z = randm(rows * n), *x = calloc((size_t)(rows * n), sizeof *x);
    for (int64_t i = 0; i < n * n; i++)
        m[i] = m[i] / sqrtf((float)n) + (i % (n + 1) == 0 ? 1.0f : 0.0f);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < n; k++)
            for (int64_t j = 0; j < n; j++)
                x[r * n + j] += z[r * n + k] * m[k * n + j];
    free(m);
    free(z);
    return x;
}

static double out_err(const float *w, const float *d, const float *x, int64_t n_out, int64_t n_in, int64_t rows) {
    double e = 0.0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < n_out; o++) {
            double s = 0.0;
            for (int64_t i = 0; i < n_in; i++)
                s += (double)x[r * n_in + i] * (w[o * n_in + i] - d[o * n_in + i]);
            e += s * s;
        }
    return sqrt(e);
}

// A worked example: row [-1, -0.5, 0.25, 2] at 2 bits.
static void test_rtn_by_hand(void) {
    float w[4] = {-1.0f, -0.5f, 0.25f, 2.0f};
    sqz_qweight *q = NULL;
    // asymmetric: scale = 3/3 = 1, zero = round(1/1) = 1; codes = round(w) + 1 → [0, 1 (−0.5→−0 even), 1, 3]
    CHECK_OK(sqz_quant_rtn(w, 1, 4, (sqz_qparams){2, 0, false}, &q));
    CHECK(q && q->scales[0] == 1.0f && q->zeros[0] == 1);
    CHECK(q && q->codes[0] == 0 && q->codes[1] == 1 && q->codes[2] == 1 && q->codes[3] == 3);
    sqz_qweight_free(q);
    // symmetric: max = 2, range [−2, 2], scale = 4/3, zero = 2: codes round(w·3/4) + 2 → [1, 2, 2, 4→3 clamped]
    CHECK_OK(sqz_quant_rtn(w, 1, 4, (sqz_qparams){2, 0, true}, &q));
    CHECK(q && fabsf(q->scales[0] - 4.0f / 3.0f) < 1e-7f && q->zeros[0] == 2);
    CHECK(q && q->codes[0] == 1 && q->codes[1] == 2 && q->codes[2] == 2 && q->codes[3] == 3);
    sqz_qweight_free(q);
    // all-zero group: range forced to [−1, 1]
    float z[4] = {0};
    CHECK_OK(sqz_quant_rtn(z, 1, 4, (sqz_qparams){4, 0, false}, &q));
    CHECK(q && q->scales[0] == 2.0f / 15.0f && q->zeros[0] == 7 && q->codes[0] == 7); // 1/(2/15) = 7.4999996f
    sqz_qweight_free(q);
}

// int8 per channel: error ≤ scale/2; groups are independent; dequant reproduces scale·(q−z).
static void test_rtn_bounds(void) {
    int64_t n_out = 16, n_in = 256;
    float *w = randm(n_out * n_in), *d = malloc((size_t)(n_out * n_in) * sizeof *d);
    int bits[] = {8, 4, 3, 2}, groups[] = {0, 32, 64, 128};
    for (int b = 0; b < 4; b++) {
        for (int g = 0; g < 4; g++) {
            for (int sym = 0; sym < 2; sym++) {
                sqz_qweight *q = NULL;
                CHECK_OK(sqz_quant_rtn(w, n_out, n_in, (sqz_qparams){bits[b], groups[g], sym}, &q));
                if (!q)
                    continue;
                sqz_qweight_dequant(q, d);
                int ok = q->n_groups == (groups[g] ? n_in / groups[g] : 1);
                for (int64_t o = 0; o < n_out; o++)
                    for (int64_t i = 0; i < n_in; i++) {
                        float s = q->scales[q->g_idx[i] * n_out + o];
                        ok &= q->codes[o * n_in + i] < (1 << bits[b]);
                        ok &= fabsf(d[o * n_in + i] - w[o * n_in + i]) <= 0.5f * s * 1.0001f;
                    }
                CHECK_MSG(ok, "rtn bits=%d group=%d sym=%d: error beyond scale/2", bits[b], groups[g], sym);
                sqz_qweight_free(q);
            }
        }
    }
    sqz_qweight *q = (sqz_qweight *)1;
    CHECK_ERR(sqz_quant_rtn(w, n_out, n_in, (sqz_qparams){4, 96, true}, &q), SQZ_ERR_ARG,
              "rtn: group size 96 does not divide the input width 256");
    CHECK(q == NULL);
    CHECK_ERR(sqz_quant_rtn(w, n_out, n_in, (sqz_qparams){9, 32, true}, &q), SQZ_ERR_ARG, "bits must be in 2..8");
    CHECK_ERR(sqz_quant_rtn(w, 0, n_in, (sqz_qparams){4, 32, true}, &q), SQZ_ERR_ARG, "bad weight shape");
    free(w);
    free(d);
}

static void test_gptq_vs_rtn(void) {
    int64_t n_out = 64, n_in = 128, rows = 1024;
    float *w = randm(n_out * n_in), *x = corr_x(rows, n_in), *d = malloc((size_t)(n_out * n_in) * sizeof *d);
    sqz_actstats *st = NULL;
    CHECK_OK(sqz_actstats_new(n_in, &st));
    CHECK_OK(sqz_actstats_add(st, x, rows / 2)); // two batches = one
    CHECK_OK(sqz_actstats_add(st, x + rows / 2 * n_in, rows / 2));
    CHECK(st->n_rows == rows);
    sqz_qweight *g = NULL, *r = NULL;
    sqz_gptq_params p = {.q = {4, 32, true}, .act_order = true, .damp = 0.01, .block = 128};
    CHECK_OK(sqz_quant_gptq(w, n_out, n_in, st, p, &g));
    CHECK_OK(sqz_quant_rtn(w, n_out, n_in, p.q, &r));
    if (g && r) {
        sqz_qweight_dequant(g, d);
        double eg = out_err(w, d, x, n_out, n_in, rows);
        sqz_qweight_dequant(r, d);
        double er = out_err(w, d, x, n_out, n_in, rows);
        printf("4-bit g32: ||X(W-Ŵ)ᵀ|| GPTQ %.4g, RTN %.4g\n", eg, er);
        CHECK_MSG(eg < 0.9 * er, "GPTQ %g vs RTN %g", eg, er);
        int perm_like = 0; // act-order: g_idx is not monotone
        for (int64_t i = 1; i < n_in; i++)
            perm_like |= g->g_idx[i] < g->g_idx[i - 1];
        CHECK(perm_like && g->loss > 0.0);
    }
    sqz_qweight_free(g);
    sqz_qweight_free(r);
    // errors: missing calibration, shape mismatch, group not dividing, no rows, bad block, singular H
    CHECK_ERR(sqz_quant_gptq(w, n_out, n_in, NULL, p, &g), SQZ_ERR_ARG, "gptq: needs calibration statistics");
    CHECK_ERR(sqz_quant_gptq(w, n_in, n_out, st, p, &g), SQZ_ERR_ARG, "statistics are for 128 inputs, the weight has 64");
    p.q.group = 48;
    CHECK_ERR(sqz_quant_gptq(w, n_out, n_in, st, p, &g), SQZ_ERR_ARG, "group size 48 does not divide");
    p.q.group = 32;
    p.block = 0;
    CHECK_ERR(sqz_quant_gptq(w, n_out, n_in, st, p, &g), SQZ_ERR_ARG, "block must be >= 1");
    p.block = 128;
    sqz_actstats *empty = NULL, *rank1 = NULL;
    CHECK_OK(sqz_actstats_new(n_in, &empty));
    CHECK_ERR(sqz_quant_gptq(w, n_out, n_in, empty, p, &g), SQZ_ERR_ARG, "no calibration rows");
    CHECK_OK(sqz_actstats_new(n_in, &rank1)); // one row of all ones: H is rank 1, damp=0 cannot fix it
    float ones[128];
    for (int i = 0; i < 128; i++)
        ones[i] = 1.0f;
    CHECK_OK(sqz_actstats_add(rank1, ones, 1));
    p.damp = 0.0;
    CHECK_ERR(sqz_quant_gptq(w, n_out, n_in, rank1, p, &g), SQZ_ERR_ARG, "not positive definite");
    p.damp = 0.01;
    CHECK_OK(sqz_quant_gptq(w, n_out, n_in, rank1, p, &g)); // damping makes it solvable
    sqz_qweight_free(g);
    float bad[128] = {0};
    bad[5] = NAN;
    CHECK_ERR(sqz_actstats_add(st, bad, 1), SQZ_ERR_ARG, "non-finite activation at row 0, column 5");
    CHECK(st->n_rows == rows);
    sqz_actstats_free(empty);
    sqz_actstats_free(rank1);
    sqz_actstats_free(st);
    sqz_actstats_free(NULL);
    free(w);
    free(x);
    free(d);
}

static void test_awq_vs_rtn(void) {
    int64_t n_out = 64, n_in = 128, rows = 512;
    float *w = randm(n_out * n_in), *x = corr_x(rows, n_in), *d = malloc((size_t)(n_out * n_in) * sizeof *d);
    for (int64_t r = 0; r < rows; r++) // salient channels
        for (int c = 0; c < 4; c++)
            x[r * n_in + c * 31] *= 20.0f;
    sqz_actstats *st = NULL;
    CHECK_OK(sqz_actstats_new(n_in, &st));
    CHECK_OK(sqz_actstats_add(st, x, rows));
    sqz_qweight *a = NULL, *r = NULL;
    CHECK_OK(sqz_quant_awq(w, n_out, n_in, st, (sqz_awq_params){{4, 32, false}, true, 20}, &a));
    CHECK_OK(sqz_quant_rtn(w, n_out, n_in, (sqz_qparams){4, 32, false}, &r));
    if (a && r) {
        CHECK(a->in_scales != NULL);
        sqz_qweight_dequant(a, d);
        double ea = out_err(w, d, x, n_out, n_in, rows);
        sqz_qweight_dequant(r, d);
        double er = out_err(w, d, x, n_out, n_in, rows);
        printf("4-bit g32 with salient channels: ||X(W-Ŵ)ᵀ|| AWQ %.4g, RTN %.4g\n", ea, er);
        CHECK_MSG(ea < er, "AWQ %g vs RTN %g", ea, er);
        sqz_gptq_tensors *t = NULL;
        CHECK_ERR(sqz_gptq_pack(a, SQZ_GPTQ_V2, &t), SQZ_ERR_ARG, "fold 1/s");
    }
    sqz_qweight_free(a);
    sqz_qweight_free(r);
    CHECK_ERR(sqz_quant_awq(w, n_out, n_in, NULL, (sqz_awq_params){{4, 32, false}, true, 20}, &a), SQZ_ERR_ARG,
              "awq: needs calibration statistics");
    CHECK_ERR(sqz_quant_awq(w, n_out, n_in, st, (sqz_awq_params){{4, 48, false}, true, 20}, &a), SQZ_ERR_ARG,
              "does not divide");
    sqz_actstats_free(st);
    free(w);
    free(x);
    free(d);
}

static void test_blocks(void) {
    int64_t n_out = 8, n_in = 96;
    float *w = randm(n_out * n_in);
    sqz_type types[] = {SQZ_TYPE_Q8_0, SQZ_TYPE_Q4_0, SQZ_TYPE_Q4_1};
    for (int t = 0; t < 3; t++) {
        size_t row = sqz_type_row_size(types[t], n_in);
        uint8_t *a = malloc(row * n_out), *b = malloc(row * n_out);
        CHECK_OK(sqz_quant_blocks(types[t], w, n_out, n_in, NULL, a));
        for (int64_t o = 0; o < n_out; o++)
            sqz_type_traits_of(types[t])->from_float_ref(w + o * n_in, b + o * row, n_in);
        CHECK_MSG(!memcmp(a, b, row * n_out), "%s plain != reference codec", sqz_type_name(types[t]));
        float *imp = malloc((size_t)n_in * sizeof *imp), *d = malloc((size_t)(n_out * n_in) * sizeof *d);
        for (int64_t i = 0; i < n_in; i++)
            imp[i] = i % 7 == 0 ? 50.0f : 1.0f;
        CHECK_OK(sqz_quant_blocks(types[t], w, n_out, n_in, imp, b));
        double ew = 0, ep = 0;
        for (int k = 0; k < 2; k++) {
            for (int64_t o = 0; o < n_out; o++)
                sqz_type_traits_of(types[t])->to_float((k ? a : b) + o * row, d + o * n_in, n_in);
            for (int64_t i = 0; i < n_out * n_in; i++)
                *(k ? &ep : &ew) += imp[i % n_in] * (w[i] - d[i]) * (w[i] - d[i]);
        }
        CHECK_MSG(ew < ep, "%s: weighted error %g (imatrix) vs %g (plain)", sqz_type_name(types[t]), ew, ep);
        imp[3] = -1.0f;
        CHECK_ERR(sqz_quant_blocks(types[t], w, n_out, n_in, imp, b), SQZ_ERR_ARG, "importance[3]");
        free(imp);
        free(d);
        free(a);
        free(b);
    }
    CHECK_ERR(sqz_quant_blocks(SQZ_TYPE_Q4_0, w, 4, 48, NULL, NULL), SQZ_ERR_ARG, "not a whole number of 32-element");
    CHECK_ERR(sqz_quant_blocks(SQZ_TYPE_F16, w, 4, 64, NULL, NULL), SQZ_ERR_UNSUPPORTED, "not a llama.cpp block type");
    free(w);
}

static void test_layer(void) {
    int64_t n_out = 32, n_in = 64, rows = 256;
    float *w = randm(n_out * n_in), *x = randm(rows * n_in);
    sqz_actstats *st = NULL;
    CHECK_OK(sqz_actstats_new(n_in, &st));
    CHECK_OK(sqz_actstats_add(st, x, rows));
    const char *recipes[] = {"cast:bf16", "cast:f16", "rtn:bits=8", "rtn:bits=3,group=32,sym=0", "gptq:bits=4,group=32",
                             "awq:bits=4,group=32", "q8_0", "q4_0:imatrix=1", "q4_1"};
    for (int k = 0; k < 9; k++) {
        sqz_recipe *r = NULL;
        sqz_quant_out out;
        CHECK_OK(sqz_recipe_parse(recipes[k], &r));
        if (!r)
            continue;
        CHECK_OK(sqz_quant_layer(&r->steps[0], w, n_out, n_in, st, &out));
        CHECK_MSG(out.qw || (out.data && out.nbytes == sqz_type_row_size(out.type, n_in) * (size_t)n_out), "%s",
                  recipes[k]);
        if (k == 0)
            CHECK(out.type == SQZ_TYPE_BF16 && ((uint16_t *)out.data)[3] == sqz_fp32_to_bf16(w[3]));
        if (k == 1)
            CHECK(out.type == SQZ_TYPE_F16 && ((uint16_t *)out.data)[5] == sqz_fp32_to_fp16(w[5]));
        if (k == 2)
            CHECK(out.qw && out.qw->bits == 8 && out.qw->n_groups == 1);
        sqz_quant_out_clear(&out);
        if (sqz_step_needs_calib(&r->steps[0]))
            CHECK_ERR(sqz_quant_layer(&r->steps[0], w, n_out, n_in, NULL, &out), SQZ_ERR_ARG,
                      "needs calibration data");
        sqz_recipe_free(r);
    }
    sqz_recipe *r = NULL;
    sqz_quant_out out;
    CHECK_OK(sqz_recipe_parse("rtn:bits=4,group=128", &r));
    CHECK_ERR(sqz_quant_layer(&r->steps[0], w, n_out, n_in, NULL, &out), SQZ_ERR_ARG,
              "group size 128 does not divide the input width 64");
    w[7] = INFINITY;
    CHECK_ERR(sqz_quant_layer(&r->steps[0], w, n_out, n_in, NULL, &out), SQZ_ERR_ARG, "non-finite weight at [0][7]");
    sqz_recipe_free(r);
    sqz_quant_out_clear(NULL);
    sqz_actstats_free(st);
    free(w);
    free(x);
}

int main(void) {
    test_rtn_by_hand();
    test_rtn_bounds();
    test_gptq_vs_rtn();
    test_awq_vs_rtn();
    test_blocks();
    test_layer();
    return test_summary();
}

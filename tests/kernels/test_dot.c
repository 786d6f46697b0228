// Every dot kernel tier against its scalar reference, and the references against an f64 dot of
// the dequantized weights. Prints the max relative error per kernel (error / Σ|w·x|).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kernels/gemv.h"
#include "kernels/kernels.h"
#include "sqz.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) { // uniform in [-1, 1)
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static const sqz_type types[] = {SQZ_TYPE_F32, SQZ_TYPE_F16, SQZ_TYPE_BF16, SQZ_TYPE_Q8_0, SQZ_TYPE_Q4_0, SQZ_TYPE_Q4_1};

// Random weights of type t (n elements), quantized with the reference codec.
static void *make_weights(sqz_type t, int64_t n, float *wf) {
    for (int64_t i = 0; i < n; i++)
        wf[i] = frand() * (i % 7 == 0 ? 3.0f : 1.0f);
    void *w = malloc(sqz_type_row_size(t, n) + 64);
    sqz_type_traits_of(t)->from_float_ref(wf, w, n);
    sqz_type_traits_of(t)->to_float(w, wf, n); // wf = what the kernel should see
    return w;
}

static void test_quantizer(sqz_isa isa) {
    int64_t n = 4096;
    float *x = malloc(n * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = frand() * (float)(1 + i % 5);
    x[64] = 0.5f / 127.0f * 3; // values near rounding ties
    block_q8a *a = malloc(sqz_act_row_size(SQZ_ACT_Q8A, n)), *b = malloc(sqz_act_row_size(SQZ_ACT_Q8A, n));
    sqz_quant_row_q8a1_ref(x, a, n);
    sqz_act_converter_isa(SQZ_ACT_Q8A1, isa)(x, b, n);
    CHECK_MSG(memcmp(a, b, sqz_act_row_size(SQZ_ACT_Q8A1, n)) == 0, "q8a1 quantizer isa %d differs from ref", isa);
    for (int64_t i = 0; i < n / QK8A; i++) { // s = fp16(d_unrounded · Σq): within 2^-11 relative of d·Σq
        int sum = 0;
        for (int j = 0; j < QK8A; j++)
            sum += a[i].qs[j];
        CHECK_MSG(fabs(a[i].s - a[i].d * sum) <= 2.5e-3 * fabs(a[i].d * sum) + 1e-30, "q8a1 s block %lld", (long long)i);
    }
    sqz_quant_row_q8a_ref(x, a, n);
    sqz_act_converter_isa(SQZ_ACT_Q8A, isa)(x, b, n);
    CHECK_MSG(memcmp(a, b, sqz_act_row_size(SQZ_ACT_Q8A, n)) == 0, "q8a quantizer isa %d differs from ref", isa);
    // Q8A round trip error ≤ d/2 per element, plus 127·|d - fp16(d)| ≤ 127·2^-11·d for the fp16 scale.
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        const block_q8a *blk = &a[i / QK8A];
        double e = fabs(x[i] - blk->qs[i % QK8A] * blk->d) / (blk->d > 0 ? blk->d : 1);
        worst = e > worst ? e : worst;
    }
    CHECK_MSG(worst <= 0.5 + 127.0 / 2048 + 1e-4, "q8a error %.4f d", worst);
    free(x), free(a), free(b);
}

// One tier vs the ref for one type, over several lengths (including non-multiples of 8/16 for floats).
static void test_kernel(sqz_type t, sqz_isa isa) {
    const sqz_kernel *kr = sqz_kernel_for_isa(t, SQZ_ISA_REF), *k = sqz_kernel_for_isa(t, isa);
    if (!k)
        return;
    const int64_t lens[] = {32, 64, 96, 172, 576, 1536, 4096, 8192};
    double worst_ref = 0, worst_exact = 0;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int64_t n = lens[li];
        if (k->act != SQZ_ACT_F32 && n % QK8A)
            continue;
        float *wf = malloc(n * sizeof *wf), *x = malloc(n * sizeof *x), *xq = malloc(n * sizeof *xq);
        void *w = make_weights(t, n, wf);
        for (int64_t i = 0; i < n; i++)
            x[i] = frand();
        void *xa = malloc(sqz_act_row_size(k->act, n));
        sqz_act_converter_isa(k->act, SQZ_ISA_REF)(x, xa, n);
        // What the activations are after conversion (for the exact check).
        for (int64_t i = 0; i < n; i++)
            xq[i] = k->act == SQZ_ACT_F32 ? x[i] : ((block_q8a *)xa)[i / QK8A].qs[i % QK8A] * ((block_q8a *)xa)[i / QK8A].d;
        double exact = 0, mag = 0;
        for (int64_t i = 0; i < n; i++)
            exact += (double)wf[i] * xq[i], mag += fabs((double)wf[i] * xq[i]);
        float r, s;
        kr->dot(n, w, xa, &r);
        k->dot(n, w, xa, &s);
        double e1 = fabs(s - r) / mag, e2 = fabs(r - exact) / mag;
        worst_ref = e1 > worst_ref ? e1 : worst_ref;
        worst_exact = e2 > worst_exact ? e2 : worst_exact;
        free(wf), free(x), free(xq), free(w), free(xa);
    }
    printf("  %-5s isa %d: max rel diff vs ref %.2e, ref vs f64(dequant) %.2e\n", sqz_type_name(t), isa, worst_ref,
           worst_exact);
    CHECK_MSG(worst_ref < 2e-6, "%s isa %d vs ref: %.3e", sqz_type_name(t), isa, worst_ref);
    // Q8A1 (Q4_1's activations) stores s = d·Σq rounded to fp16, as ggml's Q8_1 does: the m·s term
    // then carries a relative error up to 2^-11, so that pairing gets a wider budget.
    double budget = k->act == SQZ_ACT_Q8A1 ? 1e-3 : 2e-6;
    CHECK_MSG(worst_exact < budget, "%s ref vs exact: %.3e", sqz_type_name(t), worst_exact);
}

// The multi-row (decode) kernel of a tier against that tier's own single-row dot: bit-identical per row
// (the engine's n = 1 path uses gemv, its batch path dot; the SmolLM2 llama.cpp parity needs both to agree),
// for row counts around the kernels' 2-, 4- and 8-row groups, odd lengths, and padded row strides.
static void test_gemv(sqz_type t, sqz_isa isa) {
    const sqz_kernel *k = sqz_kernel_for_isa(t, isa);
    sqz_gemv_fn gemv = sqz_gemv_for(k);
    if (!gemv)
        return;
    const int64_t lens[] = {32, 64, 172, 576, 1003, 1017, 2048}; // 1017 = 31·32 + 16 + 9: every float step
    const int64_t rows[] = {1, 2, 3, 4, 5, 7, 8, 13};
    int bad = 0, runs = 0;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int64_t n = lens[li];
        if (k->act != SQZ_ACT_F32 && n % QK8A)
            continue;
        for (int pad = 0; pad <= 64; pad += 64) {
            size_t rb = sqz_type_row_size(t, n) + (size_t)pad;
            int64_t nr = 13;
            uint8_t *w = malloc(rb * (size_t)nr);
            float *wf = malloc(n * sizeof *wf), *x = malloc(n * sizeof *x);
            for (int64_t r = 0; r < nr; r++) {
                void *row = make_weights(t, n, wf);
                memcpy(w + r * rb, row, sqz_type_row_size(t, n));
                memset(w + r * rb + sqz_type_row_size(t, n), 0xff, (size_t)pad); // NaN bytes: must not be read
                free(row);
            }
            for (int64_t i = 0; i < n; i++)
                x[i] = frand() * (i % 11 == 0 ? 20.0f : 1.0f);
            void *xa = malloc(sqz_act_row_size(k->act, n));
            sqz_act_converter_isa(k->act, isa)(x, xa, n);
            float want[13], got[13];
            for (int64_t r = 0; r < nr; r++)
                k->dot(n, w + r * rb, xa, &want[r]);
            for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++) {
                int64_t m = rows[ri];
                memset(got, 0, sizeof got);
                gemv(n, w + (nr - m) * rb, rb, m, xa, got); // the last m rows
                bad += memcmp(got, want + (nr - m), (size_t)m * sizeof(float)) != 0;
                runs++;
            }
            free(w), free(wf), free(x), free(xa);
        }
    }
    printf("  %-5s isa %d: gemv == dot in %d of %d runs\n", sqz_type_name(t), isa, runs - bad, runs);
    CHECK_MSG(bad == 0, "%s isa %d: gemv differs from dot in %d of %d runs", sqz_type_name(t), isa, bad, runs);
}

// The llama.cpp-rounding vector ops: each tier bit-identical to the scalar reference; exp within 2 ulp
// of libm (ggml's bound is 1.45 ulp) incl. the saturating ranges; dots and sums close to f64.
typedef void (*rows_fn)(int64_t n, const float *a, size_t stride, int64_t m, const float *x, size_t ldx, int nq,
                        float *out, size_t ldo);
// How many outputs of a rows kernel, in tier fv and in the reference fr, differ from `dot` on the same
// (row, vector): m rows of a (stride apart) against nq vectors of b (ldb apart).
static int rows_differ(rows_fn fv, rows_fn fr, float (*dot)(int64_t, const float *, const float *), int64_t n,
                       const float *a, size_t stride, int64_t m, const float *b, size_t ldb, int nq, float *outv,
                       float *outr, size_t ldo) {
    fv(n, a, stride, m, b, ldb, nq, outv, ldo);
    fr(n, a, stride, m, b, ldb, nq, outr, ldo);
    int bad = 0;
    for (int64_t i = 0; i < m; i++)
        for (int q = 0; q < nq; q++) {
            float d = dot(n, a + (size_t)i * stride, b + (size_t)q * ldb);
            bad += memcmp(&d, &outv[(size_t)q * ldo + (size_t)i], 4) != 0 ||
                   memcmp(&d, &outr[(size_t)q * ldo + (size_t)i], 4) != 0;
        }
    return bad;
}

static void test_vec_ops(sqz_isa isa) {
    const sqz_vec_ops *r = sqz_vec_ops_ref_of(isa), *v = sqz_vec_ops_isa(isa);
    CHECK(r && v);
    if (!r || !v)
        return;
    CHECK_MSG(r->chunk == v->chunk, "isa %d: chunk %d, its reference's %d", isa, v->chunk, r->chunk);
    enum { N = 1003 };
    float x[N], up[N], g1[N], g2[N], y1[N], y2[N];
    for (int i = 0; i < N; i++)
        x[i] = frand() * (i % 50 == 0 ? 120.0f : 12.0f), up[i] = frand();
    x[7] = -INFINITY, x[8] = 90.0f, x[9] = -105.0f, x[10] = -200.0f, x[11] = 0.0f;
    int bad_ulp = 0;
    float (*expf_of_tier)(float) = r->chunk == 16 ? sqz_expf_ggml16 : sqz_expf_ggml;
    for (int i = 0; i < N; i++) {
        float e = expf_of_tier(x[i]), l = expf(x[i]);
        if (isinf(l) || l == 0.0f || l < 1e-37f)
            bad_ulp += !(e == l || fabsf(e - l) <= 1e-37f);
        else
            bad_ulp += fabsf(e - l) > 2.0f * (nextafterf(l, INFINITY) - l);
    }
    CHECK_MSG(bad_ulp == 0, "ggml expf: %d values more than 2 ulp from libm", bad_ulp);
    for (int i = 0; i < N; i++)
        g1[i] = g2[i] = x[i] * 0.1f;
    r->silu_mul(N, g1, up);
    v->silu_mul(N, g2, up);
    CHECK_MSG(memcmp(g1, g2, sizeof g1) == 0, "silu_mul isa %d differs from ref", isa);
    double want = 0;
    for (int i = 0; i < N; i++) {
        double xi = x[i] * 0.1, s = xi / (1 + exp(-xi)) * up[i];
        want = fmax(want, fabs(s - g1[i]) / (fabs(s) + 1e-6));
    }
    CHECK_MSG(want < 1e-5, "silu_mul rel error %.2e", want);
    float mx = -INFINITY;
    for (int i = 0; i < 1000; i++)
        mx = fmaxf(mx, x[i]);
    double s1 = r->softmax_exp(1000, y1, x, mx), s2 = v->softmax_exp(1000, y2, x, mx), s64 = 0;
    CHECK_MSG(s1 == s2 && memcmp(y1, y2, 1000 * sizeof(float)) == 0, "softmax_exp isa %d differs from ref", isa);
    for (int i = 0; i < 1000; i++)
        s64 += exp((double)x[i] - mx);
    CHECK_MSG(fabs(s1 - s64) < 1e-5 * s64, "softmax sum %.9g vs %.9g", s1, s64);
    CHECK(y1[7] == 0.0f);
    for (int i = 0; i < N; i++)
        y2[i] = frand() * 3.0f;
    const int64_t lens[] = {64, 96, 1000, 1003};
    for (size_t li = 0; li < 4; li++) {
        int64_t n = lens[li];
        double d64 = 0, mag = 0;
        for (int64_t i = 0; i < n; i++)
            d64 += (double)up[i] * y2[i], mag += fabs((double)up[i] * y2[i]);
        float a = r->dot_f32(n, up, y2), b = v->dot_f32(n, up, y2);
        CHECK_MSG(memcmp(&a, &b, 4) == 0, "dot_f32 n=%lld isa %d differs from ref", (long long)n, isa);
        CHECK_MSG(fabs(a - d64) < 1e-6 * mag, "dot_f32 n=%lld: %.9g vs %.9g", (long long)n, a, d64);
        if (n % v->chunk == 0) {
            a = r->dot_f32_chain(n, up, y2), b = v->dot_f32_chain(n, up, y2);
            CHECK_MSG(memcmp(&a, &b, 4) == 0, "dot_f32_chain n=%lld isa %d differs from ref", (long long)n, isa);
            CHECK_MSG(fabs(a - d64) < 1e-6 * mag, "dot_f32_chain n=%lld: %.9g vs %.9g", (long long)n, a, d64);
        }
    }
    // dot_f32_cols: on every column of a transposed matrix and every vector, the same bits as dot_f32 on
    // that column and vector, for head sizes with and without a tail, column counts around the lane
    // multiples and vector counts around the kernels' groups; the reference too. dot_f32_chain_rows:
    // the same bits as dot_f32_chain per row and vector.
    static const int64_t hds[] = {64, 128, 80, 40, 13, 96, 160};
    static const int64_t ms[] = {1, 7, 16, 17, 33, 50};
    static const int nqs[] = {1, 2, 5, 7, 13};
    int bad_cols = 0, bad_rows = 0, bad_dot_rows = 0;
    for (size_t hi = 0; hi < sizeof hds / sizeof *hds; hi++)
        for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++) {
            int64_t n = hds[hi], m = ms[mi];
            int nq = nqs[(hi + mi) % (sizeof nqs / sizeof *nqs)];
            size_t stride = (size_t)((m + 15) / 16 * 16 + 3), ldb = (size_t)n + 5, ldo = (size_t)m + 2;
            size_t rows = (size_t)(n > m ? n : m); // n rows for the columns, m rows for the chains
            float *at = malloc(rows * stride * sizeof *at), *col = malloc((size_t)n * sizeof *col);
            float *bv = malloc((size_t)nq * ldb * sizeof *bv), *outv = malloc((size_t)nq * ldo * sizeof *outv);
            float *outr = malloc((size_t)nq * ldo * sizeof *outr);
            for (size_t i = 0; i < rows * stride; i++)
                at[i] = frand() * 2.0f;
            for (size_t i = 0; i < (size_t)nq * ldb; i++)
                bv[i] = frand();
            v->dot_f32_cols(n, at, stride, m, bv, ldb, nq, outv, ldo);
            r->dot_f32_cols(n, at, stride, m, bv, ldb, nq, outr, ldo);
            for (int64_t p = 0; p < m; p++) {
                for (int64_t i = 0; i < n; i++)
                    col[i] = at[(size_t)i * stride + (size_t)p];
                for (int q = 0; q < nq; q++) {
                    float dot = v->dot_f32(n, col, bv + (size_t)q * ldb);
                    bad_cols += memcmp(&dot, &outv[(size_t)q * ldo + (size_t)p], 4) != 0 ||
                                memcmp(&dot, &outr[(size_t)q * ldo + (size_t)p], 4) != 0;
                }
            }
            // chain rows: m rows of length n rounded down to the chunk, the same vectors
            int64_t nc = n / v->chunk * v->chunk;
            if (nc > 0)
                bad_rows += rows_differ(v->dot_f32_chain_rows, r->dot_f32_chain_rows, v->dot_f32_chain, nc, at, stride,
                                        m, bv, ldb, nq, outv, outr, ldo);
            // dot_f32_rows: m rows of length n (stride ≥ n), the same bits as dot_f32 per row and vector
            size_t rs = (size_t)n + 3;
            float *ar = malloc((size_t)m * rs * sizeof *ar);
            for (size_t i = 0; i < (size_t)m * rs; i++)
                ar[i] = frand() * 2.0f;
            bad_dot_rows += rows_differ(v->dot_f32_rows, r->dot_f32_rows, v->dot_f32, n, ar, rs, m, bv, ldb, nq, outv,
                                        outr, ldo);
            free(ar);
            free(at), free(col), free(bv), free(outv), free(outr);
        }
    CHECK_MSG(bad_dot_rows == 0, "dot_f32_rows isa %d: %d outputs differ from dot_f32", isa, bad_dot_rows);
    CHECK_MSG(bad_rows == 0, "dot_f32_chain_rows isa %d: %d outputs differ from dot_f32_chain", isa, bad_rows);
    CHECK_MSG(bad_cols == 0, "dot_f32_cols isa %d: %d columns differ from dot_f32", isa, bad_cols);
}

int main(void) {
    printf("cpu: %s; dispatch picks %s\n", sqz_cpu_features(), sqz_kernels_isa_name());
    CHECK(sqz_kernel_for(SQZ_TYPE_Q4_1) != NULL);
    CHECK(sqz_kernel_for(SQZ_TYPE_I32) == NULL);
    for (int isa = SQZ_ISA_REF; isa <= SQZ_ISA_AVX512; isa++) {
        if (!sqz_isa_supported((sqz_isa)isa)) {
            printf("isa %d not supported on this CPU: skipped\n", isa);
            continue;
        }
        test_quantizer((sqz_isa)isa);
        test_vec_ops((sqz_isa)isa);
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
            test_kernel(types[i], (sqz_isa)isa);
            test_gemv(types[i], (sqz_isa)isa);
        }
    }
    return test_summary();
}

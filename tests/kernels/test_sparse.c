// N:M sparse storage and GEMV kernels: exact round trips, sizes as computed from the layout, the
// reference kernels against a float dot of the decoded weights, and every SIMD kernel against its
// reference with an error budget (max differences printed).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "kernels/kernels.h"
#include "kernels/sparse.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rng_next(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}
static float frand(void) { // uniform in [-1, 1)
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

// Random W with exactly n of every m kept (random positions; some kept values set to 0 too, to
// exercise padding of groups with fewer nonzeros).
static void random_nm(float *w, int64_t n_out, int64_t n_in, int n, int m) {
    for (int64_t i = 0; i < n_out * n_in; i++)
        w[i] = frand();
    for (int64_t r = 0; r < n_out; r++)
        for (int64_t g = 0; g < n_in / m; g++) {
            float *gp = w + r * n_in + g * m;
            int dropped = 0;
            while (dropped < m - n) {
                int j = (int)((frand() + 1.0f) * 0.5f * (float)m) % m;
                if (gp[j] != 0.0f)
                    gp[j] = 0.0f, dropped++;
            }
            if (frand() > 0.9f)
                for (int j = 0; j < m; j++)
                    if (gp[j] != 0.0f) {
                        gp[j] = 0.0f;
                        break;
                    }
        }
}

static void test_roundtrip(int n, int m, sqz_sp_values vt) {
    int64_t n_out = 37, n_in = 256;
    float *w = malloc(sizeof(float) * n_out * n_in), *d = malloc(sizeof(float) * n_out * n_in);
    float *ref = malloc(sizeof(float) * n_out * n_in);
    random_nm(w, n_out, n_in, n, m);
    sqz_sparse_nm *s = NULL;
    CHECK_OK(sqz_sparse_nm_encode(w, n_out, n_in, (sqz_nm){n, m}, vt, 128, &s));
    if (!s)
        return;
    sqz_sparse_nm_decode(s, d);
    if (vt == SQZ_SP_F16) {
        for (int64_t i = 0; i < n_out * n_in; i++)
            ref[i] = sqz_fp16_to_fp32(sqz_fp32_to_fp16(w[i]));
    } else { // same scales and codes as the dense group quantizer of the pruned matrix
        sqz_dense_q *q = NULL;
        CHECK_OK(sqz_dense_q_encode(w, n_out, n_in, vt, 128, &q));
        if (q)
            sqz_dense_q_decode(q, ref);
        sqz_dense_q_free(q);
    }
    int64_t bad = 0;
    for (int64_t i = 0; i < n_out * n_in; i++)
        bad += d[i] != ref[i] || (w[i] == 0.0f && d[i] != 0.0f);
    CHECK_MSG(bad == 0, "%d:%d vt %d: %lld values differ after round trip", n, m, (int)vt, (long long)bad);
    // size: values (n_in/2 kept) + 2 bits per kept value + fp16 scale per group
    size_t vbytes = vt == SQZ_SP_F16 ? 2 * (n_in / 2) : vt == SQZ_SP_I8 ? n_in / 2 : n_in / 4;
    size_t want = (size_t)n_out * (vbytes + n_in / 8 + (vt == SQZ_SP_F16 ? 0 : 2 * (n_in / 128)));
    CHECK_MSG(sqz_sparse_nm_nbytes(s) == want, "nbytes %zu, want %zu", sqz_sparse_nm_nbytes(s), want);
    size_t dense = (size_t)n_out * ((vt == SQZ_SP_F16 ? 2 * n_in : vt == SQZ_SP_I8 ? n_in : n_in / 2) +
                                    (vt == SQZ_SP_F16 ? 0 : 2 * (n_in / 128)));
    CHECK(sqz_sparse_nm_dense_nbytes(s) == dense && sqz_sparse_nm_nbytes(s) < dense);
    printf("  %d:%d %s: %zu bytes vs %zu dense (%.3f)\n", n, m, vt == SQZ_SP_F16 ? "f16" : vt == SQZ_SP_I8 ? "i8" : "i4",
           sqz_sparse_nm_nbytes(s), dense, (double)sqz_sparse_nm_nbytes(s) / (double)dense);
    sqz_sparse_nm_free(s);
    free(w), free(d), free(ref);
}

static void test_errors(void) {
    float w[64 * 2] = {0};
    for (int j = 0; j < 3; j++)
        w[64 + 8 + j] = 1.0f; // row 1, group at columns 8..11: 3 nonzeros
    sqz_sparse_nm *s = NULL;
    CHECK_ERR(sqz_sparse_nm_encode(w, 2, 64, (sqz_nm){2, 4}, SQZ_SP_F16, 0, &s), SQZ_ERR_ARG, "row 1, columns 8..11");
    CHECK_ERR(sqz_sparse_nm_encode(w, 2, 64, (sqz_nm){1, 4}, SQZ_SP_F16, 0, &s), SQZ_ERR_UNSUPPORTED, "1:4");
    CHECK_ERR(sqz_sparse_nm_encode(w, 4, 32, (sqz_nm){2, 4}, SQZ_SP_F16, 0, &s), SQZ_ERR_ARG, "multiple of 64");
    CHECK_ERR(sqz_sparse_nm_encode(w, 2, 64, (sqz_nm){2, 4}, SQZ_SP_I4, 32, &s), SQZ_ERR_ARG, "group 32");
    CHECK(s == NULL);
}

static void test_csr(void) {
    int64_t n_out = 16, n_in = 100;
    float w[1600], d[1600];
    for (int i = 0; i < 1600; i++)
        w[i] = frand() > 0.4f ? sqz_fp16_to_fp32(sqz_fp32_to_fp16(frand())) : 0.0f; // ~30 % dense
    sqz_sparse_csr *s = NULL;
    CHECK_OK(sqz_sparse_csr_encode(w, n_out, n_in, &s));
    CHECK(s != NULL);
    if (s) {
        sqz_sparse_csr_decode(s, d);
        CHECK(memcmp(w, d, sizeof w) == 0);
        CHECK(sqz_sparse_csr_nbytes_for(n_out, s->nnz) == 4 * 17 + 4 * (size_t)s->nnz);
        CHECK(sqz_sparse_csr_nbytes_for(n_out, s->nnz) < 2 * 1600);
    }
    sqz_sparse_csr_free(s);
    for (int i = 0; i < 1600; i++)
        w[i] = frand() > -0.2f ? 1.0f : 0.0f; // ~60 % dense: CSR would be larger, so none
    CHECK_OK(sqz_sparse_csr_encode(w, n_out, n_in, &s));
    CHECK(s == NULL);
}

// Kernels: ref vs float dot of decoded weights, then AVX2 vs ref.
// The int GEMV of every SIMD tier this CPU runs against the reference y0 (two row ranges, as two threads
// split them; outputs never written show as NaN).
static void check_q_tiers(const sqz_sparse_nm *s, const int8_t *xq, const float *xd, const float *y0, double maxy,
                          const char *what) {
    struct {
        const char *name;
        sqz_sp_gemv_q_fn fn;
        bool ok;
    } tiers[] = {
        {"avx2", sqz_sp_gemv_q_avx2, sqz_isa_supported(SQZ_ISA_AVX2)},
        {"avx512", sqz_sp_gemv_q_avx512, sqz_isa_supported(SQZ_ISA_AVX512) && strstr(sqz_cpu_features(), "avx512vbmi")},
    };
    float *y1 = malloc((size_t)s->n_out * sizeof *y1);
    for (size_t t = 0; t < sizeof tiers / sizeof *tiers; t++) {
        if (!tiers[t].ok) {
            printf("  %s: %s not run (CPU)\n", what, tiers[t].name);
            continue;
        }
        for (int64_t r = 0; r < s->n_out; r++)
            y1[r] = NAN;
        int64_t mid = s->n_out / 3 + 1;
        tiers[t].fn(s, xq, xd, y1, 0, mid);
        tiers[t].fn(s, xq, xd, y1, mid, s->n_out);
        double md = 0;
        for (int64_t r = 0; r < s->n_out; r++)
            md = isnan(y1[r]) ? INFINITY : fmax(md, fabs((double)y1[r] - y0[r]));
        printf("  %s: %s vs ref max diff %.3g\n", what, tiers[t].name, md);
        CHECK_MSG(md <= 1e-5 * maxy + 1e-5, "%s: %s vs ref %.3g", what, tiers[t].name, md);
    }
    free(y1);
}

static void test_kernels(int n, int m, sqz_sp_values vt, int64_t n_out, int64_t n_in, int group) {
    float *w = malloc(sizeof(float) * n_out * n_in), *d = malloc(sizeof(float) * n_out * n_in);
    float *x = malloc(sizeof(float) * n_in), *y0 = malloc(sizeof(float) * n_out), *y1 = malloc(sizeof(float) * n_out);
    float *xd = malloc(sizeof(float) * (n_in / 64));
    int8_t *xq = malloc((size_t)n_in);
    random_nm(w, n_out, n_in, n, m);
    for (int64_t j = 0; j < n_in; j++)
        x[j] = frand() * 3.0f;
    sqz_sparse_nm *s = NULL;
    CHECK_OK(sqz_sparse_nm_encode(w, n_out, n_in, (sqz_nm){n, m}, vt, group, &s));
    if (!s)
        return;
    sqz_sparse_nm_decode(s, d);
    const float *xin = x;
    if (vt != SQZ_SP_F16) { // the int kernels see quantized activations; compare on those
        sqz_sp_quant_x_ref(x, n_in, xq, xd);
        for (int64_t j = 0; j < n_in; j++)
            x[j] = (float)xq[j] * xd[j / 64];
        sqz_sp_gemv_q_ref(s, xq, xd, y0, 0, n_out);
    } else {
        sqz_sp_gemv_f16_ref(s, xin, y0, 0, n_out);
    }
    double maxd = 0, maxy = 0;
    for (int64_t r = 0; r < n_out; r++) {
        double acc = 0;
        for (int64_t j = 0; j < n_in; j++)
            acc += (double)d[r * n_in + j] * x[j];
        maxd = fmax(maxd, fabs(acc - y0[r]));
        maxy = fmax(maxy, fabs(acc));
    }
    const char *vn = vt == SQZ_SP_F16 ? "f16" : vt == SQZ_SP_I8 ? "i8" : "i4";
    printf("  %d:%d %s [%lld][%lld]: ref vs float64 dot of decoded: max diff %.3g (max |y| %.3g)\n", n, m, vn,
           (long long)n_out, (long long)n_in, maxd, maxy);
    CHECK(maxd <= 1e-4 * maxy + 1e-4);
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
        if (vt != SQZ_SP_F16) {
            char what[32];
            snprintf(what, sizeof what, "%d:%d %s", n, m, vn);
            check_q_tiers(s, xq, xd, y0, maxy, what);
            sqz_sparse_nm_free(s);
            free(w), free(d), free(x), free(y0), free(y1), free(xd), free(xq);
            return;
        }
        sqz_sp_gemv_f16_avx2(s, xin, y1, 0, n_out);
        double md = 0;
        for (int64_t r = 0; r < n_out; r++)
            md = fmax(md, fabs((double)y1[r] - y0[r]));
        printf("  %d:%d %s: avx2 vs ref max diff %.3g\n", n, m, vn, md);
        CHECK(md <= 1e-5 * maxy + 1e-5);
        if (vt == SQZ_SP_F16 && sqz_isa_supported(SQZ_ISA_AVX512)) {
            for (int64_t r = 0; r < n_out; r++)
                y1[r] = NAN;
            int64_t mid = n_out / 3 + 1; // two row ranges, as two threads split them
            sqz_sp_gemv_f16_avx512(s, xin, y1, 0, mid);
            sqz_sp_gemv_f16_avx512(s, xin, y1, mid, n_out);
            md = 0;
            for (int64_t r = 0; r < n_out; r++)
                md = isnan(y1[r]) ? INFINITY : fmax(md, fabs((double)y1[r] - y0[r]));
            printf("  %d:%d %s: avx512 vs ref max diff %.3g\n", n, m, vn, md);
            CHECK(md <= 1e-5 * maxy + 1e-5);
        }
    } else {
        printf("  (no AVX2 on this CPU: SIMD kernels not tested)\n");
    }
    sqz_sparse_nm_free(s);
    free(w), free(d), free(x), free(y0), free(y1), free(xd), free(xq);
}

static void test_quant_x_and_dense(sqz_sp_values vt) {
    int64_t n_out = 33, n_in = 512;
    float *w = malloc(sizeof(float) * n_out * n_in), *d = malloc(sizeof(float) * n_out * n_in);
    float x[512], xd[8], xd2[8], y0[33], y1[33];
    int8_t xq[512], xq2[512];
    for (int64_t i = 0; i < n_out * n_in; i++)
        w[i] = frand();
    for (int j = 0; j < 512; j++)
        x[j] = frand() * 2.0f;
    sqz_sp_quant_x_ref(x, n_in, xq, xd);
    sqz_dense_q *q = NULL;
    CHECK_OK(sqz_dense_q_encode(w, n_out, n_in, vt, 128, &q));
    if (!q)
        return;
    sqz_dense_q_decode(q, d);
    sqz_dq_gemv_ref(q, xq, xd, y0, 0, n_out);
    double maxd = 0, maxy = 0;
    for (int64_t r = 0; r < n_out; r++) {
        double acc = 0;
        for (int64_t j = 0; j < n_in; j++)
            acc += (double)d[r * n_in + j] * xq[j] * xd[j / 64];
        maxd = fmax(maxd, fabs(acc - y0[r]));
        maxy = fmax(maxy, fabs(acc));
    }
    printf("  dense %s: ref vs float64 max diff %.3g\n", vt == SQZ_SP_I8 ? "i8" : "i4", maxd);
    CHECK(maxd <= 1e-4 * maxy + 1e-4);
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
        sqz_sp_quant_x_avx2(x, n_in, xq2, xd2);
        CHECK(memcmp(xq, xq2, sizeof xq) == 0 && memcmp(xd, xd2, sizeof xd) == 0);
        sqz_dq_gemv_avx2(q, xq, xd, y1, 0, n_out);
        double md = 0;
        for (int64_t r = 0; r < n_out; r++)
            md = fmax(md, fabs((double)y1[r] - y0[r]));
        printf("  dense %s: avx2 vs ref max diff %.3g\n", vt == SQZ_SP_I8 ? "i8" : "i4", md);
        CHECK(md <= 1e-5 * maxy + 1e-5);
    }
    sqz_dense_q_free(q);
    free(w), free(d);
}

// int4 with zero points from GPTQ-form codes: pruned weights are those whose code is the zero point;
// the encoded tensor decodes to exactly scale·(code − zero), every kernel tier agrees with the
// reference, and too many nonzeros in a group of 4 is an error naming the row and columns.
static void test_int4_zeros(int64_t n_out, int64_t n_in, int64_t group) {
    int64_t ng = n_in / group;
    uint8_t *codes = malloc((size_t)(n_out * n_in));
    float *scales = malloc((size_t)(ng * n_out) * sizeof *scales), *d = malloc((size_t)(n_out * n_in) * sizeof *d);
    int32_t *zeros = malloc((size_t)(ng * n_out) * sizeof *zeros);
    for (int64_t i = 0; i < ng * n_out; i++)
        scales[i] = sqz_fp16_to_fp32(sqz_fp32_to_fp16(0.001f + 0.01f * fabsf(frand()))), zeros[i] = (int32_t)(rng_next() % 16);
    for (int64_t r = 0; r < n_out; r++)
        for (int64_t j = 0; j < n_in; j += 4) {
            int32_t z = zeros[(j / group) * n_out + r];
            int keep0 = (int)(rng_next() % 4), keep1 = (keep0 + 1 + (int)(rng_next() % 3)) % 4;
            for (int k = 0; k < 4; k++) // two kept codes (any value, the zero point included), two pruned
                codes[r * n_in + j + k] = (uint8_t)(k == keep0 || k == keep1 ? rng_next() % 16 : (uint32_t)z);
        }
    sqz_sparse_nm *s = NULL;
    CHECK_OK(sqz_sparse_nm_encode_int4(codes, scales, zeros, n_out, n_in, ng, (sqz_nm){2, 4}, &s));
    if (!s)
        goto out;
    sqz_sparse_nm_decode(s, d);
    int64_t bad = 0;
    for (int64_t r = 0; r < n_out; r++)
        for (int64_t j = 0; j < n_in; j++) {
            int64_t gi = (j / group) * n_out + r;
            float want = scales[gi] * (float)((int)codes[r * n_in + j] - zeros[gi]);
            bad += d[r * n_in + j] != want;
        }
    CHECK_MSG(bad == 0, "int4 with zeros [%lld][%lld] g%lld: %lld weights decode wrong", (long long)n_out,
              (long long)n_in, (long long)group, (long long)bad);
    float *x = malloc((size_t)n_in * sizeof *x), *xd = malloc((size_t)(n_in / 64) * sizeof *xd);
    float *y0 = malloc((size_t)n_out * sizeof *y0);
    int8_t *xq = malloc((size_t)n_in);
    for (int64_t j = 0; j < n_in; j++)
        x[j] = 2.0f * frand();
    sqz_sp_quant_x_ref(x, n_in, xq, xd);
    sqz_sp_gemv_q_ref(s, xq, xd, y0, 0, n_out);
    double maxd = 0, maxy = 0;
    for (int64_t r = 0; r < n_out; r++) {
        double acc = 0;
        for (int64_t j = 0; j < n_in; j++)
            acc += (double)d[r * n_in + j] * xq[j] * xd[j / 64];
        maxd = fmax(maxd, fabs(acc - y0[r])), maxy = fmax(maxy, fabs(acc));
    }
    printf("  int4 zeros [%lld][%lld] g%lld: ref vs float64 max diff %.3g (max |y| %.3g)\n", (long long)n_out,
           (long long)n_in, (long long)group, maxd, maxy);
    CHECK(maxd <= 1e-4 * maxy + 1e-4);
    check_q_tiers(s, xq, xd, y0, maxy, "int4 zeros");
    free(x), free(xd), free(y0), free(xq);
    sqz_sparse_nm_free(s);
    // three nonzeros in one group of four
    codes[5 * n_in + 9] = (uint8_t)((zeros[(9 / group) * n_out + 5] + 1) % 16);
    codes[5 * n_in + 10] = (uint8_t)((zeros[(10 / group) * n_out + 5] + 1) % 16);
    codes[5 * n_in + 11] = (uint8_t)((zeros[(11 / group) * n_out + 5] + 1) % 16);
    CHECK_ERR(sqz_sparse_nm_encode_int4(codes, scales, zeros, n_out, n_in, ng, (sqz_nm){2, 4}, &s), SQZ_ERR_ARG,
              "row 5, columns 8..11");
    CHECK_ERR(sqz_sparse_nm_encode_int4(codes, scales, zeros, n_out, n_in, n_in / 32, (sqz_nm){2, 4}, &s), SQZ_ERR_ARG,
              "multiple of 64");
out:
    free(codes), free(scales), free(zeros), free(d);
}

int main(void) {
    for (int vt = 0; vt < 3; vt++) {
        test_roundtrip(2, 4, (sqz_sp_values)vt);
        test_roundtrip(4, 8, (sqz_sp_values)vt);
    }
    test_errors();
    test_csr();
    for (int vt = 0; vt < 3; vt++) {
        test_kernels(2, 4, (sqz_sp_values)vt, 67, 640, 128);
        test_kernels(2, 4, (sqz_sp_values)vt, 5, 2048, 64);
        test_kernels(4, 8, (sqz_sp_values)vt, 9, 256, 256);
    }
    test_int4_zeros(37, 640, 128);
    test_int4_zeros(9, 2048, 2048);
    test_quant_x_and_dense(SQZ_SP_I8);
    test_quant_x_and_dense(SQZ_SP_I4);
    return test_summary();
}

// Analysis primitives against hand-computed values.
#include <stdlib.h>

#include "harness.h"
#include "sqz/report.h"

static void test_retained(void) {
    CHECK(fabs(sqz_quality_retained(0.5, 0.6, SQZ_DIR_MAXIMIZE) - 0.5 / 0.6) < 1e-15);
    CHECK(fabs(sqz_quality_retained(12, 10, SQZ_DIR_MINIMIZE) - 10.0 / 12) < 1e-15); // perplexity
    CHECK(isnan(sqz_quality_retained(0.5, 0, SQZ_DIR_MAXIMIZE)));
    CHECK(isnan(sqz_quality_retained(0.5, 0.6, SQZ_DIR_NONE)));
    CHECK(isnan(sqz_quality_retained(NAN, 0.6, SQZ_DIR_MAXIMIZE)));
}

static void test_pareto(void) {
    //                 A     B     C     D     E     F    G
    double size[] = {100, 50, 60, 25, 25, NAN, 25};
    double q[] = {1.0, 0.97, 0.95, 0.80, 0.80, 2.0, 0.70};
    bool f[7];
    sqz_pareto_front(size, SQZ_DIR_MINIMIZE, q, SQZ_DIR_MAXIMIZE, 7, f);
    bool want[7] = {true, true, false, true, true, false, false}; // C by B, G by D; F is NaN
    for (int i = 0; i < 7; i++)
        CHECK_MSG(f[i] == want[i], "point %d", i);
    // Both axes maximised: (1,1) dominates everything else.
    double x2[] = {1, 0.5, 1}, y2[] = {1, 1, 0.2};
    sqz_pareto_front(x2, SQZ_DIR_MAXIMIZE, y2, SQZ_DIR_MAXIMIZE, 3, f);
    CHECK(f[0] && !f[1] && !f[2]);
}

static void test_success(void) {
    CHECK(sqz_success_test(0.96, 2.1, 1.0));
    CHECK(sqz_success_test(0.95, 1.0, 2.0)); // boundaries are inclusive
    CHECK(!sqz_success_test(0.96, 1.5, 1.9));
    CHECK(!sqz_success_test(0.94, 3, 3));
    CHECK(!sqz_success_test(NAN, 3, 3));
    CHECK(sqz_success_test(1.0, NAN, 4)); // unknown latency, but 4x smaller
}

static void test_mcnemar(void) {
    CHECK(sqz_mcnemar_exact(0, 0) == 1.0);
    CHECK(fabs(sqz_mcnemar_exact(1, 9) - 22.0 / 1024) < 1e-14);  // 2 (C(10,0)+C(10,1)) / 2^10
    CHECK(fabs(sqz_mcnemar_exact(9, 1) - 22.0 / 1024) < 1e-14);
    CHECK(fabs(sqz_mcnemar_exact(0, 5) - 2.0 / 32) < 1e-15);
    CHECK(fabs(sqz_mcnemar_exact(3, 12) - 2.0 * 576 / 32768) < 1e-14);
    CHECK(sqz_mcnemar_exact(5, 5) == 1.0);
    double p = sqz_mcnemar_exact(400, 500); // large n: finite, in (0, 1)
    CHECK(p > 0 && p < 1 && fabs(p - sqz_mcnemar_exact(500, 400)) < 1e-15);
    CHECK(sqz_mcnemar_exact(0, 2000) > 0 || sqz_mcnemar_exact(0, 2000) == 0); // no NaN
    CHECK(!isnan(sqz_mcnemar_exact(0, 2000)));
}

static void test_flips(void) {
    double base[10] = {1, 1, 1, 1, 0, 0, 0, 1, 1, 0};
    double var[10] = {1, 0, 1, 0, 0, 1, 0, 1, 0, 0};
    sqz_bootstrap_opts o = {.n_resamples = 2000, .confidence = 0.95, .seed = 1};
    sqz_flips f;
    CHECK_OK(sqz_flips_compute(base, var, 10, &o, &f));
    CHECK(f.n == 10 && f.both_pass == 3 && f.both_fail == 3 && f.pass_fail == 3 && f.fail_pass == 1);
    CHECK(fabs(f.delta - (-0.2)) < 1e-15);
    CHECK(fabs(f.mcnemar_p - 2.0 * 5 / 16) < 1e-14); // n=4, k=1: 2 (1 + 4) / 16
    CHECK(f.ci_low <= f.delta && f.delta <= f.ci_high && f.ci_low >= -1 && f.ci_high <= 1);
    CHECK(f.ci_low < f.ci_high);
    sqz_flips g;
    CHECK_OK(sqz_flips_compute(base, var, 10, &o, &g)); // seeded: reproducible
    CHECK(g.ci_low == f.ci_low && g.ci_high == f.ci_high);
    // Constant difference: every resample has the same delta.
    double b2[3] = {0, 0, 0}, v2[3] = {1, 1, 1};
    CHECK_OK(sqz_flips_compute(b2, v2, 3, &o, &g));
    CHECK(g.delta == 1 && g.ci_low == 1 && g.ci_high == 1 && g.fail_pass == 3);
    CHECK_ERR(sqz_flips_compute(base, var, 0, &o, &g), SQZ_ERR_ARG, "no problems");
    o.confidence = 1.5;
    CHECK_ERR(sqz_flips_compute(base, var, 10, &o, &g), SQZ_ERR_ARG, "confidence");
    // Indices are uniform over 0..n-1.
    uint64_t st = 99;
    int hist[7] = {0};
    for (int i = 0; i < 70000; i++)
        hist[sqz_bootstrap_index(&st, 7)]++;
    for (int i = 0; i < 7; i++)
        CHECK_MSG(abs(hist[i] - 10000) < 400, "bucket %d: %d", i, hist[i]);
}

int main(void) {
    test_retained();
    test_pareto();
    test_success();
    test_mcnemar();
    test_flips();
    return test_summary();
}

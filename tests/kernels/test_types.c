// Core utilities: errors, mmap, fp16/bf16 conversions, block codecs round trips.
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "kernels/quant.h"
#include "sqz.h"

static void test_errors(void) {
    CHECK(sqz_error(SQZ_ERR_FORMAT, "x.gguf: bad magic %d", 7) == SQZ_ERR_FORMAT);
    CHECK(!strcmp(sqz_last_error(), "x.gguf: bad magic 7"));
    sqz_error_prefix(SQZ_ERR_FORMAT, "loading: ");
    CHECK(!strcmp(sqz_last_error(), "loading: x.gguf: bad magic 7"));
    sqz_mmap m;
    CHECK_ERR(sqz_mmap_open(&m, "/nonexistent/file"), SQZ_ERR_IO, "/nonexistent/file");
}

static void test_half(void) {
    // Exhaustive: every finite fp16 round-trips through fp32.
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00)
            continue;
        if (sqz_fp32_to_fp16(sqz_fp16_to_fp32((uint16_t)h)) != h)
            bad++;
    }
    CHECK_MSG(bad == 0, "%d fp16 values do not round-trip", bad);
    CHECK(sqz_fp32_to_fp16(65520.0f) == 0x7c00);     // rounds to inf
    CHECK(sqz_fp32_to_fp16(65519.0f) == 0x7bff);     // max half
    CHECK(sqz_fp32_to_fp16(1.0f + 1.0f / 2048) == 0x3c00); // tie → even
    CHECK(sqz_fp32_to_fp16(5.96e-8f) == 0x0001);     // smallest subnormal
    CHECK(sqz_fp32_to_bf16(1.0f) == 0x3f80);
    CHECK(sqz_bf16_to_fp32(0x4049) == 3.140625f);
    CHECK(isnan(sqz_bf16_to_fp32(sqz_fp32_to_bf16(NAN))));
}

static void test_blocks(void) {
    enum { N = 256 };
    float x[N], y[N];
    srand(1);
    for (int i = 0; i < N; i++)
        x[i] = (float)rand() / RAND_MAX * 2 - 1;
    sqz_type types[] = {SQZ_TYPE_Q8_0, SQZ_TYPE_Q4_0, SQZ_TYPE_Q4_1, SQZ_TYPE_F16, SQZ_TYPE_BF16};
    double budget[] = {0.01, 0.15, 0.08, 1e-3, 1e-2};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const sqz_type_traits *tr = sqz_type_traits_of(types[t]);
        unsigned char buf[N * 4];
        tr->from_float_ref(x, buf, N);
        tr->to_float(buf, y, N);
        double maxd = 0;
        for (int i = 0; i < N; i++)
            maxd = fmax(maxd, fabs(x[i] - y[i]));
        CHECK_MSG(maxd < budget[t], "%s max abs error %g", tr->name, maxd);
        printf("%-5s round-trip max abs error %.3g\n", tr->name, maxd);
    }
    CHECK(sqz_type_row_size(SQZ_TYPE_Q4_0, 64) == 36);
    CHECK(sqz_type_row_size(SQZ_TYPE_Q4_0, 33) == 0);
}

int main(void) {
    test_errors();
    test_half();
    test_blocks();
    return test_summary();
}

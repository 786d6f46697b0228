// Activation statistics of one linear layer's input, accumulated over calibration batches.
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "sqz/quant.h"

sqz_status sqz_actstats_new(int64_t n_in, sqz_actstats **out) {
    *out = NULL;
    size_t n2;
    SQZ_FAIL_IF(n_in <= 0 || !sqz_mul_ok((size_t)n_in, (size_t)n_in, &n2) || n2 > ((size_t)1 << 40), SQZ_ERR_ARG,
                "actstats: bad input width %lld", (long long)n_in);
    sqz_actstats *s = calloc(1, sizeof *s);
    SQZ_FAIL_IF(!s, SQZ_ERR_NOMEM, "actstats: out of memory");
    s->n_in = n_in;
    s->gram = calloc(n2, sizeof(float));
    s->abs_sum = calloc((size_t)n_in, sizeof(double));
    s->sq_sum = calloc((size_t)n_in, sizeof(double));
    if (!s->gram || !s->abs_sum || !s->sq_sum) {
        sqz_actstats_free(s);
        return sqz_error(SQZ_ERR_NOMEM, "actstats: out of memory for a %lld x %lld Gram matrix", (long long)n_in,
                         (long long)n_in);
    }
    *out = s;
    return SQZ_OK;
}

void sqz_actstats_free(sqz_actstats *s) {
    if (!s)
        return;
    free(s->gram);
    free(s->abs_sum);
    free(s->sq_sum);
    free(s);
}

sqz_status sqz_actstats_add(sqz_actstats *s, const float *x, int64_t n) {
    SQZ_FAIL_IF(n < 0 || (n > 0 && !x), SQZ_ERR_ARG, "actstats: bad batch (%lld rows)", (long long)n);
    if (n == 0)
        return SQZ_OK;
    SQZ_FAIL_IF(n > INT32_MAX || s->n_in > INT32_MAX, SQZ_ERR_RANGE, "actstats: batch too large for BLAS");
    size_t total = (size_t)n * (size_t)s->n_in; // checked first, so a bad batch leaves s unchanged
    for (size_t k = 0; k < total; k++)
        SQZ_FAIL_IF(!isfinite(x[k]), SQZ_ERR_ARG, "actstats: non-finite activation at row %zu, column %zu",
                    k / (size_t)s->n_in, k % (size_t)s->n_in);
    for (int64_t r = 0; r < n; r++) {
        const float *row = x + r * s->n_in;
        for (int64_t i = 0; i < s->n_in; i++) {
            s->abs_sum[i] += fabs((double)row[i]);
            s->sq_sum[i] += (double)row[i] * row[i];
        }
    }
    // gram (upper, row-major) += Xᵀ X
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)s->n_in, (int)n, 1.0f, x, (int)s->n_in, 1.0f, s->gram,
                (int)s->n_in);
    s->n_rows += n;
    return SQZ_OK;
}

sqz_status sqz_actstats_imatrix(const sqz_actstats *s, float *out) {
    SQZ_FAIL_IF(s->n_rows == 0, SQZ_ERR_ARG, "imatrix: no calibration rows accumulated");
    for (int64_t i = 0; i < s->n_in; i++)
        out[i] = (float)(s->sq_sum[i] / (double)s->n_rows);
    return SQZ_OK;
}

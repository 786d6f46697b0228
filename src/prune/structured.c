// Structured pruning: Wanda-style channel scores for attention heads and MLP channels, selection of
// the lowest, row/column removal (a genuinely smaller dense matrix), and block influence for
// dropping whole transformer blocks.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "prune/prune_internal.h"

sqz_status sqz_prune_channel_scores(const float *w, int64_t n_out, int64_t n_in, const sqz_actstats *stats,
                                    double *scores) {
    SQZ_FAIL_IF(!w || n_out <= 0 || n_in <= 0, SQZ_ERR_ARG, "channel scores: bad weight shape [%lld][%lld]",
                (long long)n_out, (long long)n_in);
    SQZ_TRY(sqz_prune_check_stats("channel scores", stats, n_in));
    for (int64_t j = 0; j < n_in; j++)
        scores[j] = 0.0;
    for (int64_t o = 0; o < n_out; o++)
        for (int64_t j = 0; j < n_in; j++)
            scores[j] += fabs((double)w[o * n_in + j]);
    for (int64_t j = 0; j < n_in; j++)
        scores[j] *= sqrt(stats->sq_sum[j] / (double)stats->n_rows);
    return SQZ_OK;
}

sqz_status sqz_prune_head_scores(const float *w_o, int64_t d_model, int n_heads, int n_kv_heads, int head_dim,
                                 const sqz_actstats *o_in, double *group_scores) {
    SQZ_FAIL_IF(n_heads <= 0 || n_kv_heads <= 0 || head_dim <= 0 || n_heads % n_kv_heads, SQZ_ERR_ARG,
                "head scores: %d heads, %d KV heads, head_dim %d: heads must be a positive multiple of KV heads",
                n_heads, n_kv_heads, head_dim);
    int64_t n_in = (int64_t)n_heads * head_dim;
    double *cs = malloc((size_t)n_in * sizeof *cs);
    SQZ_FAIL_IF(!cs, SQZ_ERR_NOMEM, "head scores: out of memory");
    sqz_status st = sqz_prune_channel_scores(w_o, d_model, n_in, o_in, cs);
    if (st == SQZ_OK) {
        int per = n_heads / n_kv_heads;
        for (int g = 0; g < n_kv_heads; g++) {
            group_scores[g] = 0.0;
            for (int64_t j = (int64_t)g * per * head_dim; j < (int64_t)(g + 1) * per * head_dim; j++)
                group_scores[g] += cs[j];
        }
    }
    free(cs);
    return st;
}

sqz_status sqz_prune_lowest(const double *scores, int64_t n, int64_t k, uint8_t *keep) {
    SQZ_FAIL_IF(n <= 0 || k < 0 || k >= n, SQZ_ERR_ARG,
                "structured pruning: cannot drop %lld of %lld (at least one must remain)", (long long)k, (long long)n);
    for (int64_t i = 0; i < n; i++) {
        int64_t rank = 0; // position of i in ascending order, ties by index
        for (int64_t j = 0; j < n; j++)
            rank += scores[j] < scores[i] || (scores[j] == scores[i] && j < i);
        keep[i] = rank >= k;
    }
    return SQZ_OK;
}

int64_t sqz_matrix_keep_rows(const float *w, int64_t n_out, int64_t n_in, const uint8_t *keep, float *dst) {
    int64_t k = 0;
    for (int64_t o = 0; o < n_out; o++)
        if (keep[o])
            memcpy(dst + (k++) * n_in, w + o * n_in, (size_t)n_in * sizeof *dst);
    return k;
}

int64_t sqz_matrix_keep_cols(const float *w, int64_t n_out, int64_t n_in, const uint8_t *keep, float *dst) {
    int64_t kept = 0;
    for (int64_t j = 0; j < n_in; j++)
        kept += keep[j] != 0;
    for (int64_t o = 0; o < n_out; o++) {
        float *d = dst + o * kept;
        for (int64_t j = 0; j < n_in; j++)
            if (keep[j])
                *d++ = w[o * n_in + j];
    }
    return kept;
}

sqz_status sqz_block_influence_add(sqz_block_influence *bi, const float *x_in, const float *x_out, int64_t n_tokens,
                                   int64_t d) {
    SQZ_FAIL_IF(d <= 0 || n_tokens < 0, SQZ_ERR_ARG, "block influence: bad shape [%lld][%lld]", (long long)n_tokens,
                (long long)d);
    for (int64_t t = 0; t < n_tokens; t++) {
        const float *a = x_in + t * d, *b = x_out + t * d;
        double ab = 0.0, aa = 0.0, bb = 0.0;
        for (int64_t i = 0; i < d; i++)
            ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
        bi->sum_cos += aa > 0.0 && bb > 0.0 ? ab / sqrt(aa * bb) : 1.0;
    }
    bi->n_tokens += n_tokens;
    return SQZ_OK;
}

sqz_status sqz_block_influence_get(const sqz_block_influence *bi, double *out) {
    SQZ_FAIL_IF(bi->n_tokens == 0, SQZ_ERR_ARG, "block influence: no calibration tokens accumulated");
    *out = 1.0 - bi->sum_cos / (double)bi->n_tokens;
    return SQZ_OK;
}

// KL divergence against a stored baseline, with llama-perplexity's (--kl-divergence) statistics.
//
// Baseline file (little-endian), docs/tasks.md:
//   "SQZKLB1\0" | u32 n_ctx | u32 n_vocab | u32 n_chunks | u32 top_k | i32 bos_id
//   | i32 tokens[n_chunks * n_ctx]
//   | per chunk, per scored position j in [n_ctx/2, n_ctx-2] (m = n_ctx - 1 - n_ctx/2 of them):
//       i32 ids[top_k] (descending log-prob, ties: lower id first) | f32 logp[top_k]
//       | f32 logp_rest (log of the probability of all other tokens) | f32 logp_next (log-prob of
//         the actual next token tokens[j+1])
// Log-probs are float(l_i − logsumexp(l)) computed in double; the comparison computes the
// evaluated model's log-probs the same way, so a model compared with its own baseline gives KL 0.
//
// Truncation: KL is computed between the two distributions coarsened to top_k + 1 outcomes (the
// baseline's top-k tokens and "everything else"): Σ_topk p_i (log p_i − log q_i) + p_rest (log
// p_rest − log q_rest), where q_rest is the evaluated model's total probability of the tokens
// outside the baseline's top-k. This is a lower bound of the full KL (it is exact when top_k =
// n_vocab), always >= 0; llama.cpp instead stores all log-probs as 16-bit values and drops tokens
// with log p <= −16.
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sqz/eval.h"

#define KLB_MAGIC "SQZKLB1"

struct sqz_kl_baseline {
    sqz_mmap map;
    uint32_t n_ctx, n_vocab, n_chunks, top_k;
    int32_t bos_id;
    const uint8_t *tokens, *records; // unaligned little-endian data inside the mapping
    size_t rec_size, per_chunk;      // bytes per record, records per chunk
};

static uint32_t rd_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

void sqz_kl_baseline_free(sqz_kl_baseline *b) {
    if (!b)
        return;
    sqz_mmap_close(&b->map);
    free(b);
}

int64_t sqz_kl_baseline_n_ctx(const sqz_kl_baseline *b) { return b->n_ctx; }
int64_t sqz_kl_baseline_n_chunks(const sqz_kl_baseline *b) { return b->n_chunks; }
int64_t sqz_kl_baseline_n_vocab(const sqz_kl_baseline *b) { return b->n_vocab; }
int sqz_kl_baseline_top_k(const sqz_kl_baseline *b) { return (int)b->top_k; }

sqz_status sqz_kl_baseline_read(const char *path, sqz_kl_baseline **out) {
    *out = NULL;
    sqz_kl_baseline *b = calloc(1, sizeof *b);
    SQZ_FAIL_IF(!b, SQZ_ERR_NOMEM, "out of memory");
    sqz_status st = sqz_mmap_open(&b->map, path);
    const uint8_t *d = b->map.data;
    if (st == SQZ_OK && (b->map.size < 28 || memcmp(d, KLB_MAGIC, 8) != 0))
        st = sqz_error(SQZ_ERR_FORMAT, "%s: not an sqz KL baseline (bad magic)", path);
    if (st == SQZ_OK) {
        b->n_ctx = rd_u32(d + 8), b->n_vocab = rd_u32(d + 12), b->n_chunks = rd_u32(d + 16);
        b->top_k = rd_u32(d + 20), b->bos_id = (int32_t)rd_u32(d + 24);
        b->per_chunk = b->n_ctx >= 4 ? b->n_ctx - 1 - b->n_ctx / 2 : 0;
        b->rec_size = (size_t)b->top_k * 8 + 8;
        // sizes are u32 products, computed in 64 bits: no overflow
        uint64_t need = 28 + (uint64_t)b->n_chunks * b->n_ctx * 4 + (uint64_t)b->n_chunks * b->per_chunk * b->rec_size;
        if (b->n_ctx < 4 || b->n_vocab < 2 || b->top_k < 1 || b->top_k > b->n_vocab || b->top_k > 1024 || b->n_chunks < 1)
            st = sqz_error(SQZ_ERR_FORMAT, "%s: bad header (n_ctx %u, n_vocab %u, n_chunks %u, top_k %u)", path,
                           b->n_ctx, b->n_vocab, b->n_chunks, b->top_k);
        else if (need != b->map.size)
            st = sqz_error(SQZ_ERR_FORMAT, "%s: size %zu, expected %llu from the header", path, b->map.size,
                           (unsigned long long)need);
        b->tokens = d + 28;
        b->records = b->tokens + (size_t)b->n_chunks * b->n_ctx * 4;
    }
    for (size_t i = 0; st == SQZ_OK && i < (size_t)b->n_chunks * b->n_ctx; i++) {
        uint32_t t = rd_u32(b->tokens + 4 * i);
        if (t >= b->n_vocab)
            st = sqz_error(SQZ_ERR_FORMAT, "%s: token %zu = %u outside the vocabulary (%u)", path, i, t, b->n_vocab);
    }
    size_t n_rec = st == SQZ_OK ? (size_t)b->n_chunks * b->per_chunk : 0;
    for (size_t r = 0; r < n_rec && st == SQZ_OK; r++)
        for (uint32_t i = 0; i < b->top_k && st == SQZ_OK; i++) {
            uint32_t id = rd_u32(b->records + r * b->rec_size + 4 * i);
            if (id >= b->n_vocab)
                st = sqz_error(SQZ_ERR_FORMAT, "%s: record %zu: id %u outside the vocabulary", path, r, id);
        }
    if (st != SQZ_OK) {
        sqz_kl_baseline_free(b);
        return st;
    }
    *out = b;
    return SQZ_OK;
}

static double log_sum_exp(const float *l, int64_t n) {
    float mx = l[0];
    for (int64_t i = 1; i < n; i++)
        mx = l[i] > mx ? l[i] : mx;
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += exp((double)l[i] - mx);
    return mx + log(s);
}

// Evaluate one chunk: positions [0, n_ctx) with the first token replaced by bos; writes the logits
// of the scored positions n_ctx/2 .. n_ctx-2 into lg[m][n_vocab].
static sqz_status eval_chunk(sqz_ctx *c, const int32_t *chunk, int64_t n_ctx, int32_t bos, int32_t *buf, float *lg) {
    memcpy(buf, chunk, (size_t)n_ctx * sizeof *buf);
    if (bos >= 0)
        buf[0] = bos;
    int64_t first = n_ctx / 2;
    sqz_ctx_reset(c);
    SQZ_TRY(sqz_ctx_eval(c, buf, first, SQZ_LOGITS_NONE, NULL));
    return sqz_ctx_eval(c, buf + first, n_ctx - 1 - first, SQZ_LOGITS_ALL, lg);
}

// Top-k of a row (descending, ties to the lower id) by insertion into a sorted list.
static void top_k(const float *row, int64_t nv, int k, int32_t *ids) {
    int nb = 0;
    for (int32_t v = 0; v < nv; v++) {
        if (nb == k && row[v] <= row[ids[k - 1]])
            continue;
        int j = nb < k ? nb++ : k - 1;
        while (j > 0 && row[ids[j - 1]] < row[v])
            ids[j] = ids[j - 1], j--;
        ids[j] = v;
    }
}

static sqz_status write_chunks(FILE *f, const char *path, sqz_ctx *c, const int32_t *tokens, int64_t n_ctx,
                               int64_t n_chunks, int32_t bos, int k, int64_t nv, int32_t *buf, float *lg, int32_t *ids,
                               uint8_t *mark) {
    int64_t first = n_ctx / 2, m = n_ctx - 1 - first;
    for (int64_t ch = 0; ch < n_chunks; ch++) {
        const int32_t *chunk = tokens + ch * n_ctx;
        SQZ_TRY(eval_chunk(c, chunk, n_ctx, bos, buf, lg));
        for (int64_t j = 0; j < m; j++) {
            const float *row = lg + j * nv;
            double lse = log_sum_exp(row, nv), rest = 0;
            float lp[1024 + 2];
            top_k(row, nv, k, ids);
            for (int i = 0; i < k; i++)
                lp[i] = (float)(row[ids[i]] - lse), mark[ids[i]] = 1;
            for (int64_t v = 0; v < nv; v++)
                rest += mark[v] ? 0 : exp(row[v] - lse);
            for (int i = 0; i < k; i++)
                mark[ids[i]] = 0;
            lp[k] = rest > 0 ? (float)log(rest) : -INFINITY;
            lp[k + 1] = (float)(row[chunk[first + j + 1]] - lse);
            if (fwrite(ids, 4, (size_t)k, f) != (size_t)k || fwrite(lp, 4, (size_t)k + 2, f) != (size_t)k + 2)
                return sqz_error(SQZ_ERR_IO, "%s: write failed", path);
        }
    }
    return SQZ_OK;
}

sqz_status sqz_kl_baseline_write(sqz_ctx *c, int64_t n_vocab, const int32_t *tokens, int64_t n_tokens,
                                 int64_t n_ctx, int64_t n_chunks, int32_t bos_id, int k, const char *path) {
    SQZ_FAIL_IF(n_ctx < 4 || n_ctx > sqz_ctx_n_ctx(c), SQZ_ERR_ARG, "KL baseline: chunk size %lld must be in [4, %lld]",
                (long long)n_ctx, (long long)sqz_ctx_n_ctx(c));
    SQZ_FAIL_IF(k < 1 || k > 1024 || k > n_vocab, SQZ_ERR_ARG, "KL baseline: top_k %d must be in [1, min(n_vocab, 1024)]", k);
    SQZ_FAIL_IF(n_chunks < 1 || n_chunks > n_tokens / n_ctx || n_chunks > UINT32_MAX, SQZ_ERR_ARG,
                "KL baseline: %lld tokens hold %lld chunks of %lld, %lld asked", (long long)n_tokens,
                (long long)(n_tokens / n_ctx), (long long)n_ctx, (long long)n_chunks);
    int64_t m = n_ctx - 1 - n_ctx / 2;
    int32_t *buf = malloc((size_t)n_ctx * sizeof *buf), *ids = malloc((size_t)k * sizeof *ids);
    float *lg = malloc((size_t)m * (size_t)n_vocab * sizeof *lg);
    uint8_t *mark = calloc((size_t)n_vocab, 1);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = buf && ids && lg && mark ? fopen(tmp, "wb") : NULL;
    sqz_status st = !buf || !ids || !lg || !mark ? sqz_error(SQZ_ERR_NOMEM, "KL baseline: out of memory")
                    : !f                          ? sqz_error(SQZ_ERR_IO, "%s: cannot create", tmp)
                                                  : SQZ_OK;
    if (st == SQZ_OK) {
        uint32_t hdr[5] = {(uint32_t)n_ctx, (uint32_t)n_vocab, (uint32_t)n_chunks, (uint32_t)k, (uint32_t)bos_id};
        if (fwrite(KLB_MAGIC, 1, 8, f) != 8 || fwrite(hdr, 4, 5, f) != 5 ||
            fwrite(tokens, 4, (size_t)(n_chunks * n_ctx), f) != (size_t)(n_chunks * n_ctx))
            st = sqz_error(SQZ_ERR_IO, "%s: write failed", tmp);
    }
    if (st == SQZ_OK)
        st = write_chunks(f, tmp, c, tokens, n_ctx, n_chunks, bos_id, k, n_vocab, buf, lg, ids, mark);
    if (f && fclose(f) != 0 && st == SQZ_OK)
        st = sqz_error(SQZ_ERR_IO, "%s: write failed", tmp);
    if (st == SQZ_OK && rename(tmp, path) != 0)
        st = sqz_error(SQZ_ERR_IO, "%s: cannot rename to %s", tmp, path);
    if (st != SQZ_OK && f)
        remove(tmp);
    free(buf), free(ids), free(lg), free(mark);
    return st;
}

// ---- statistics (llama.cpp perplexity.cpp kl_divergence) -----------------------------------------
// mean_and_uncertainty: mean, and sqrt(var / (count − 1)) when var > 0 and count > 10, else 0.
static void mean_unc(double sum, double sum2, int64_t n, double *mean, double *unc) {
    if (n < 1) {
        *mean = *unc = 0;
        return;
    }
    double f = sum / (double)n, df = sum2 / (double)n - f * f;
    *mean = f;
    *unc = df > 0 && n > 10 ? sqrt(df / (double)(n - 1)) : 0.;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

// As llama.cpp, in float: p = fraction·(n − 1), linear interpolation between neighbours.
double sqz_percentile_sorted(const float *v, int64_t n, double fraction) {
    if (n < 1)
        return NAN;
    float fr = (float)fraction;
    if (fr <= 0)
        return v[0];
    if (fr >= 1)
        return v[n - 1];
    float p = fr * (float)(n - 1);
    size_t ip = (size_t)p;
    p -= (float)ip;
    size_t ip1 = ip + 1 < (size_t)n ? ip + 1 : (size_t)n - 1;
    return (1 - p) * v[ip] + p * v[ip1];
}

static double median_sorted(const float *v, int64_t n) {
    return n % 2 == 0 ? 0.5f * (v[n / 2] + v[n / 2 - 1]) : v[n / 2];
}

void sqz_kl_stats_finish(float *kld, float *dp, int64_t n, const double sums[6], sqz_kl_stats *o) {
    memset(o, 0, sizeof *o);
    o->count = n;
    if (n < 1)
        return;
    double skl = 0, skl2 = 0, sdp = 0, sdp2 = 0, sdp4 = 0, u, lu, lbu, mse, mse_u, cov = 0;
    for (int64_t i = 0; i < n; i++) {
        skl += kld[i], skl2 += (double)kld[i] * kld[i];
        double d2 = (double)dp[i] * dp[i];
        sdp += dp[i], sdp2 += d2, sdp4 += d2 * d2;
    }
    double lppl, lppl_b;
    mean_unc(sums[0], sums[1], n, &lppl, &lu);
    mean_unc(sums[2], sums[3], n, &lppl_b, &lbu);
    o->ppl = exp(lppl), o->ppl_err = o->ppl * lu;
    o->ppl_base = exp(lppl_b), o->ppl_base_err = o->ppl_base * lbu;
    if (n >= 10)
        cov = (sums[4] / (double)n - (sums[0] / (double)n) * (sums[2] / (double)n)) / (double)(n - 1);
    o->ln_ppl_ratio = lppl - lppl_b;
    u = lu * lu + lbu * lbu - 2.0 * cov;
    o->ln_ppl_ratio_err = u > 0 ? sqrt(u) : 0;
    mean_unc(skl, skl2, n, &o->kld_mean, &o->kld_err);
    mean_unc(sdp, sdp2, n, &o->dp_mean, &o->dp_err);
    mean_unc(sdp2, sdp4, n, &mse, &mse_u);
    o->dp_rms = sqrt(mse);
    o->dp_rms_err = o->dp_rms > 0 ? 0.5 / o->dp_rms * mse_u : 0;
    o->same_top = sums[5] / (double)n;
    o->same_top_err = n > 1 ? sqrt(o->same_top * (1.0 - o->same_top) / (double)(n - 1)) : 0;
    qsort(kld, (size_t)n, sizeof *kld, cmp_float);
    qsort(dp, (size_t)n, sizeof *dp, cmp_float);
    o->kld_max = kld[n - 1], o->kld_min = kld[0], o->kld_median = median_sorted(kld, n);
    o->kld_p999 = sqz_percentile_sorted(kld, n, 0.999), o->kld_p99 = sqz_percentile_sorted(kld, n, 0.99);
    o->kld_p95 = sqz_percentile_sorted(kld, n, 0.95), o->kld_p90 = sqz_percentile_sorted(kld, n, 0.90);
    o->kld_p10 = sqz_percentile_sorted(kld, n, 0.10), o->kld_p05 = sqz_percentile_sorted(kld, n, 0.05);
    o->kld_p01 = sqz_percentile_sorted(kld, n, 0.01), o->kld_p001 = sqz_percentile_sorted(kld, n, 0.001);
    o->dp_max = dp[n - 1], o->dp_min = dp[0], o->dp_median = median_sorted(dp, n);
    o->dp_p999 = sqz_percentile_sorted(dp, n, 0.999), o->dp_p99 = sqz_percentile_sorted(dp, n, 0.99);
    o->dp_p95 = sqz_percentile_sorted(dp, n, 0.95), o->dp_p90 = sqz_percentile_sorted(dp, n, 0.90);
    o->dp_p75 = sqz_percentile_sorted(dp, n, 0.75), o->dp_p25 = sqz_percentile_sorted(dp, n, 0.25);
    o->dp_p10 = sqz_percentile_sorted(dp, n, 0.10), o->dp_p05 = sqz_percentile_sorted(dp, n, 0.05);
    o->dp_p01 = sqz_percentile_sorted(dp, n, 0.01), o->dp_p001 = sqz_percentile_sorted(dp, n, 0.001);
}

// One scored position: the record of the baseline against the evaluated logits row.
static void kl_position(const uint8_t *rec, int k, const float *row, int64_t nv, int32_t next, uint8_t *mark,
                        double sums[6], float *kld, float *dp) {
    int32_t ids[1024];
    float lp[1024 + 2];
    memcpy(ids, rec, (size_t)k * 4);
    memcpy(lp, rec + (size_t)k * 4, ((size_t)k + 2) * 4);
    double lse = log_sum_exp(row, nv), kl = 0, q_rest = 0;
    int32_t imax = 0;
    for (int64_t v = 1; v < nv; v++)
        imax = row[v] > row[imax] ? (int32_t)v : imax;
    for (int i = 0; i < k; i++) {
        mark[ids[i]] = 1;
        double lq = (float)(row[ids[i]] - lse);
        kl += exp((double)lp[i]) * ((double)lp[i] - lq);
    }
    for (int64_t v = 0; v < nv; v++)
        q_rest += mark[v] ? 0 : exp(row[v] - lse);
    for (int i = 0; i < k; i++)
        mark[ids[i]] = 0;
    if (isfinite(lp[k])) {
        double lq_rest = q_rest > 0 ? (float)log(q_rest) : -INFINITY;
        kl += exp((double)lp[k]) * ((double)lp[k] - lq_rest);
    }
    double nll = -(double)(float)(row[next] - lse), nll_base = -(double)lp[k + 1];
    sums[0] += nll, sums[1] += nll * nll, sums[2] += nll_base, sums[3] += nll_base * nll_base;
    sums[4] += nll * nll_base, sums[5] += imax == ids[0];
    *kld = (float)kl;
    *dp = (float)(exp(-nll) - exp(-nll_base));
}

sqz_status sqz_kl_divergence(sqz_ctx *c, int64_t n_vocab, const sqz_kl_baseline *b, int32_t bos_id,
                             int64_t max_chunks, sqz_kl_stats *out) {
    SQZ_FAIL_IF(n_vocab != b->n_vocab, SQZ_ERR_ARG, "%s: baseline vocabulary %u, model vocabulary %lld", b->map.path,
                b->n_vocab, (long long)n_vocab);
    SQZ_FAIL_IF(b->n_ctx > sqz_ctx_n_ctx(c), SQZ_ERR_ARG, "%s: baseline chunks of %u tokens, context only %lld",
                b->map.path, b->n_ctx, (long long)sqz_ctx_n_ctx(c));
    int64_t n_ctx = b->n_ctx, m = (int64_t)b->per_chunk, first = n_ctx / 2;
    int64_t nch = max_chunks > 0 && max_chunks < b->n_chunks ? max_chunks : b->n_chunks;
    int32_t *toks = malloc((size_t)n_ctx * sizeof *toks), *buf = malloc((size_t)n_ctx * sizeof *buf);
    float *lg = malloc((size_t)m * (size_t)n_vocab * sizeof *lg);
    float *kld = malloc((size_t)(nch * m) * sizeof *kld), *dp = malloc((size_t)(nch * m) * sizeof *dp);
    uint8_t *mark = calloc((size_t)n_vocab, 1);
    double sums[6] = {0};
    sqz_status st = toks && buf && lg && kld && dp && mark ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "KL: out of memory");
    for (int64_t ch = 0; ch < nch && st == SQZ_OK; ch++) {
        memcpy(toks, b->tokens + (size_t)ch * (size_t)n_ctx * 4, (size_t)n_ctx * 4);
        st = eval_chunk(c, toks, n_ctx, bos_id, buf, lg);
        for (int64_t j = 0; j < m && st == SQZ_OK; j++) {
            const uint8_t *rec = b->records + ((size_t)ch * (size_t)m + (size_t)j) * b->rec_size;
            kl_position(rec, (int)b->top_k, lg + j * n_vocab, n_vocab, toks[first + j + 1], mark, sums,
                        &kld[ch * m + j], &dp[ch * m + j]);
        }
    }
    if (st == SQZ_OK)
        sqz_kl_stats_finish(kld, dp, nch * m, sums, out);
    free(toks), free(buf), free(lg), free(kld), free(dp), free(mark);
    return st;
}

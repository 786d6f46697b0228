// Score-based masks: N:M patterns, magnitude (layer and global scope) and Wanda.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "prune/prune_internal.h"

sqz_status sqz_nm_parse(const char *text, sqz_nm *out) {
    *out = (sqz_nm){0, 0};
    SQZ_FAIL_IF(!text, SQZ_ERR_ARG, "pattern: NULL text");
    if (!strcmp(text, "none"))
        return SQZ_OK;
    int n, m, used = 0;
    SQZ_FAIL_IF(sscanf(text, "%d:%d%n", &n, &m, &used) != 2 || text[used], SQZ_ERR_ARG,
                "pattern '%s': expected N:M (e.g. 2:4) or none", text);
    SQZ_FAIL_IF(m < 4 || m > 64 || (m & (m - 1)), SQZ_ERR_ARG, "pattern '%s': M must be a power of two in 4..64",
                text);
    SQZ_FAIL_IF(n < 1 || n >= m, SQZ_ERR_ARG, "pattern '%s': N must satisfy 1 <= N < M", text);
    *out = (sqz_nm){n, m};
    return SQZ_OK;
}

sqz_status sqz_nm_check(const char *method, sqz_nm nm, int64_t n_in) {
    if (nm.m == 0 && nm.n == 0)
        return SQZ_OK;
    SQZ_FAIL_IF(nm.m < 2 || nm.m > 64 || nm.n < 1 || nm.n >= nm.m, SQZ_ERR_ARG,
                "%s: pattern %d:%d: need 1 <= N < M <= 64", method, nm.n, nm.m);
    SQZ_FAIL_IF(n_in % nm.m, SQZ_ERR_ARG, "%s: pattern %d:%d: n_in = %lld is not a multiple of %d", method, nm.n,
                nm.m, (long long)n_in, nm.m);
    return SQZ_OK;
}

double sqz_sparsity_of(const float *w, size_t n) {
    size_t z = 0;
    for (size_t i = 0; i < n; i++)
        z += w[i] == 0.0f;
    return n ? (double)z / (double)n : 0.0;
}

sqz_status sqz_prune_check_sparsity(const char *method, double sparsity) {
    SQZ_FAIL_IF(!(sparsity >= 0.0 && sparsity < 1.0), SQZ_ERR_ARG, "%s: sparsity must be in [0, 1), got %g", method,
                sparsity);
    return SQZ_OK;
}

// k-th smallest (0-based) of a[0..n), reordering a (Hoare quickselect, median of three).
static float select_kth(float *a, size_t n, size_t k) {
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        float x = a[lo], y = a[mid], z = a[hi];
        float pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                float t = a[i];
                a[i] = a[j], a[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return a[k];
    }
    return a[k];
}

sqz_status sqz_prune_smallest(float *const *scores, const size_t *len, int n_parts, size_t k, uint8_t *const *keep) {
    size_t total = 0;
    for (int p = 0; p < n_parts; p++)
        total += len[p];
    for (int p = 0; p < n_parts; p++)
        memset(keep[p], 1, len[p]);
    if (k == 0 || total == 0)
        return SQZ_OK;
    float *all = malloc(total * sizeof *all);
    SQZ_FAIL_IF(!all, SQZ_ERR_NOMEM, "prune: out of memory for %zu scores", total);
    size_t off = 0;
    for (int p = 0; p < n_parts; p++) {
        memcpy(all + off, scores[p], len[p] * sizeof *all);
        off += len[p];
    }
    float t = select_kth(all, total, k - 1); // the k-th smallest score is pruned, all below it too
    free(all);
    size_t below = 0;
    for (int p = 0; p < n_parts; p++)
        for (size_t i = 0; i < len[p]; i++)
            below += scores[p][i] < t;
    size_t ties = k - below; // prune this many scores equal to t, earliest first
    for (int p = 0; p < n_parts; p++)
        for (size_t i = 0; i < len[p]; i++)
            if (scores[p][i] < t || (scores[p][i] == t && ties && ties--))
                keep[p][i] = 0;
    return SQZ_OK;
}

void sqz_prune_nm_mask(const float *score, int64_t n_out, int64_t n_in, sqz_nm nm, uint8_t *keep) {
    for (int64_t r = 0; r < n_out; r++)
        for (int64_t g = 0; g < n_in; g += nm.m) {
            const float *s = score + r * n_in + g;
            uint8_t *kp = keep + r * n_in + g;
            // rank of each column in its group (ties: lower column ranks lower); the M−N lowest go
            for (int j = 0; j < nm.m; j++) {
                int rank = 0;
                for (int i = 0; i < nm.m; i++)
                    rank += s[i] < s[j] || (s[i] == s[j] && i < j);
                kp[j] = rank >= nm.m - nm.n;
            }
        }
}

void sqz_prune_apply(float *w, const uint8_t *keep, size_t n, uint8_t *mask) {
    for (size_t i = 0; i < n; i++)
        if (!keep[i])
            w[i] = 0.0f;
    if (mask)
        memcpy(mask, keep, n);
}

// Unstructured per-row selection: floor(sparsity · n_in) lowest scores of each row pruned.
static sqz_status per_row_mask(float *score, int64_t n_out, int64_t n_in, double sparsity, uint8_t *keep) {
    size_t k = (size_t)floor(sparsity * (double)n_in), len = (size_t)n_in;
    for (int64_t r = 0; r < n_out; r++) {
        float *s = score + r * n_in;
        uint8_t *kp = keep + r * n_in;
        SQZ_TRY(sqz_prune_smallest(&s, &len, 1, k, &kp));
    }
    return SQZ_OK;
}

sqz_status sqz_prune_check_weight(const char *method, const float *w, int64_t n_out, int64_t n_in, size_t *n) {
    SQZ_FAIL_IF(!w || n_out <= 0 || n_in <= 0 || !sqz_mul_ok((size_t)n_out, (size_t)n_in, n), SQZ_ERR_ARG,
                "%s: bad weight shape [%lld][%lld]", method, (long long)n_out, (long long)n_in);
    for (size_t i = 0; i < *n; i++)
        SQZ_FAIL_IF(!isfinite(w[i]), SQZ_ERR_ARG, "%s: non-finite weight at [%zu][%zu]", method, i / (size_t)n_in,
                    i % (size_t)n_in);
    return SQZ_OK;
}

sqz_status sqz_prune_magnitude(float *w, int64_t n_out, int64_t n_in, double sparsity, sqz_nm nm, uint8_t *mask) {
    size_t n = 0;
    SQZ_TRY(sqz_prune_check_weight("magnitude", w, n_out, n_in, &n));
    SQZ_TRY(sqz_nm_check("magnitude", nm, n_in));
    if (nm.m == 0)
        SQZ_TRY(sqz_prune_check_sparsity("magnitude", sparsity));
    float *score = malloc(n * sizeof *score);
    uint8_t *keep = malloc(n);
    sqz_status st = !score || !keep ? sqz_error(SQZ_ERR_NOMEM, "magnitude: out of memory") : SQZ_OK;
    if (st == SQZ_OK) {
        for (size_t i = 0; i < n; i++)
            score[i] = fabsf(w[i]);
        if (nm.m)
            sqz_prune_nm_mask(score, n_out, n_in, nm, keep);
        else
            st = sqz_prune_smallest(&score, &n, 1, (size_t)floor(sparsity * (double)n), &keep);
    }
    if (st == SQZ_OK)
        sqz_prune_apply(w, keep, n, mask);
    free(score);
    free(keep);
    return st;
}

sqz_status sqz_prune_magnitude_global(float *const *ws, const int64_t *n_out, const int64_t *n_in, int n_layers,
                                      double sparsity, uint8_t *const *masks) {
    SQZ_FAIL_IF(n_layers <= 0, SQZ_ERR_ARG, "magnitude (global): no layers given");
    SQZ_TRY(sqz_prune_check_sparsity("magnitude (global)", sparsity));
    float **sc = calloc((size_t)n_layers, sizeof *sc);
    uint8_t **keep = calloc((size_t)n_layers, sizeof *keep);
    size_t *len = calloc((size_t)n_layers, sizeof *len), total = 0;
    sqz_status st = !sc || !keep || !len ? sqz_error(SQZ_ERR_NOMEM, "magnitude (global): out of memory") : SQZ_OK;
    for (int l = 0; l < n_layers && st == SQZ_OK; l++) {
        st = sqz_prune_check_weight("magnitude (global)", ws[l], n_out[l], n_in[l], &len[l]);
        if (st != SQZ_OK)
            break;
        sc[l] = malloc(len[l] * sizeof **sc);
        keep[l] = malloc(len[l]);
        if (!sc[l] || !keep[l]) {
            st = sqz_error(SQZ_ERR_NOMEM, "magnitude (global): out of memory for layer %d", l);
            break;
        }
        for (size_t i = 0; i < len[l]; i++)
            sc[l][i] = fabsf(ws[l][i]);
        total += len[l];
    }
    if (st == SQZ_OK)
        st = sqz_prune_smallest(sc, len, n_layers, (size_t)floor(sparsity * (double)total), keep);
    for (int l = 0; l < n_layers && st == SQZ_OK; l++)
        sqz_prune_apply(ws[l], keep[l], len[l], masks ? masks[l] : NULL);
    for (int l = 0; sc && keep && l < n_layers; l++) {
        free(sc[l]);
        free(keep[l]);
    }
    free(sc);
    free(keep);
    free(len);
    return st;
}

sqz_status sqz_prune_check_stats(const char *method, const sqz_actstats *stats, int64_t n_in) {
    SQZ_FAIL_IF(!stats, SQZ_ERR_ARG, "%s: needs calibration statistics (none given)", method);
    SQZ_FAIL_IF(stats->n_in != n_in, SQZ_ERR_ARG, "%s: statistics are for %lld inputs, the weight has %lld", method,
                (long long)stats->n_in, (long long)n_in);
    SQZ_FAIL_IF(stats->n_rows == 0, SQZ_ERR_ARG, "%s: no calibration rows accumulated", method);
    return SQZ_OK;
}

sqz_status sqz_prune_wanda(float *w, int64_t n_out, int64_t n_in, const sqz_actstats *stats, double sparsity,
                           sqz_nm nm, uint8_t *mask) {
    size_t n = 0;
    SQZ_TRY(sqz_prune_check_weight("wanda", w, n_out, n_in, &n));
    SQZ_TRY(sqz_prune_check_stats("wanda", stats, n_in));
    SQZ_TRY(sqz_nm_check("wanda", nm, n_in));
    if (nm.m == 0)
        SQZ_TRY(sqz_prune_check_sparsity("wanda", sparsity));
    float *score = malloc(n * sizeof *score);
    uint8_t *keep = malloc(n);
    sqz_status st = !score || !keep ? sqz_error(SQZ_ERR_NOMEM, "wanda: out of memory") : SQZ_OK;
    if (st == SQZ_OK) {
        // ‖X_j‖₂ up to a per-layer constant (the reference averages over samples; per-row and
        // per-group comparisons do not change under a common factor).
        for (int64_t j = 0; j < n_in; j++) {
            float xn = (float)sqrt(stats->sq_sum[j] / (double)stats->n_rows);
            for (int64_t o = 0; o < n_out; o++)
                score[o * n_in + j] = fabsf(w[o * n_in + j]) * xn;
        }
        if (nm.m)
            sqz_prune_nm_mask(score, n_out, n_in, nm, keep);
        else
            st = per_row_mask(score, n_out, n_in, sparsity, keep);
    }
    if (st == SQZ_OK)
        sqz_prune_apply(w, keep, n, mask);
    free(score);
    free(keep);
    return st;
}

void sqz_qweight_apply_mask(sqz_qweight *q, const uint8_t *mask) {
    for (int64_t o = 0; o < q->n_out; o++)
        for (int64_t j = 0; j < q->n_in; j++)
            if (!mask[o * q->n_in + j])
                q->codes[o * q->n_in + j] = (uint8_t)q->zeros[(int64_t)q->g_idx[j] * q->n_out + o];
}

// Whether every group of m columns of W has at most n nonzeros.
static bool fits_nm(const float *w, int64_t n_out, int64_t n_in, int n, int m) {
    if (n_in % m)
        return false;
    for (int64_t g = 0; g < n_out * n_in; g += m) {
        int nz = 0;
        for (int j = 0; j < m; j++)
            nz += w[g + j] != 0.0f;
        if (nz > n)
            return false;
    }
    return true;
}

void sqz_sparse_summarize(const float *w, int64_t n_out, int64_t n_in, sqz_sparse_summary *out) {
    size_t n = (size_t)(n_out * n_in), nnz = 0;
    for (size_t i = 0; i < n; i++)
        nnz += w[i] != 0.0f;
    memset(out, 0, sizeof *out);
    out->sparsity = n ? 1.0 - (double)nnz / (double)n : 0.0;
    out->dense_nbytes = 2 * n;
    out->nbytes = out->dense_nbytes;
    out->storage = SQZ_SP_STORE_DENSE;
    out->describe = "dense with zeros: sparsity simulated (no bytes or time saved)";
    if (fits_nm(w, n_out, n_in, 2, 4))
        out->nm = (sqz_nm){2, 4};
    else if (fits_nm(w, n_out, n_in, 4, 8))
        out->nm = (sqz_nm){4, 8};
    if (out->nm.m && n_in % 64 == 0) {
        out->storage = SQZ_SP_STORE_NM;
        out->nbytes = (size_t)n_out * (size_t)(n_in + n_in / 8); // n_in/2 fp16 values + 2 bits per value
        out->describe = out->nm.m == 4 ? "2:4 compressed (F16 values + 2-bit indices); sparse GEMV kernel"
                                       : "4:8 compressed (F16 values + 8-bit group masks); reference kernel only";
    } else if (n_in <= 65536 && sqz_sparse_csr_nbytes_for(n_out, (int64_t)nnz) < out->dense_nbytes) {
        out->storage = SQZ_SP_STORE_CSR;
        out->nbytes = sqz_sparse_csr_nbytes_for(n_out, (int64_t)nnz);
        out->describe = "CSR (F16 values + 16-bit columns): smaller file, computed dense after decoding";
    }
}

// Truncated SVD of a linear layer (LAPACK dgesdd from OpenBLAS), optionally activation-aware:
// with s_j = RMS of input column j, W·diag(s) = UΣVᵀ, A = U_r Σ_r, B = V_rᵀ diag(s)⁻¹. For inputs
// whose columns are uncorrelated, ||X Wᵀ − X (AB)ᵀ||_F = ||(W − AB)·diag(s)||_F·sqrt(n), so the
// truncated SVD of the scaled matrix minimises the output error (ASVD-style; Yuan et al. 2023).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "prune/prune_internal.h"

// LAPACK (Fortran ABI, inside OpenBLAS); the trailing size_t is the hidden length of jobz.
void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s, double *u,
             const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork, int *iwork, int *info,
             size_t jobz_len);

void sqz_lowrank_free(sqz_lowrank *lr) {
    if (!lr)
        return;
    free(lr->a);
    free(lr->b);
    free(lr);
}

void sqz_lowrank_product(const sqz_lowrank *lr, float *out) {
    for (int64_t o = 0; o < lr->n_out; o++)
        for (int64_t j = 0; j < lr->n_in; j++) {
            double acc = 0.0;
            for (int64_t r = 0; r < lr->rank; r++)
                acc += (double)lr->a[o * lr->rank + r] * lr->b[r * lr->n_in + j];
            out[o * lr->n_in + j] = (float)acc;
        }
}

// Thin SVD of the column-major m×n matrix a (destroyed): s[k], u [m][k] cm, vt [k][n] cm, k = min.
static sqz_status svd(double *a, int m, int n, double *s, double *u, double *vt) {
    int k = m < n ? m : n, info = 0, lwork = -1;
    int *iwork = malloc(8 * (size_t)k * sizeof *iwork);
    double wq = 0.0;
    SQZ_FAIL_IF(!iwork, SQZ_ERR_NOMEM, "lowrank: out of memory");
    dgesdd_("S", &m, &n, a, &m, s, u, &m, vt, &k, &wq, &lwork, iwork, &info, 1);
    lwork = (int)wq + 1;
    double *work = info == 0 ? malloc((size_t)lwork * sizeof *work) : NULL;
    if (work)
        dgesdd_("S", &m, &n, a, &m, s, u, &m, vt, &k, work, &lwork, iwork, &info, 1);
    free(work);
    free(iwork);
    SQZ_FAIL_IF(info == 0 && !work, SQZ_ERR_NOMEM, "lowrank: out of memory for the SVD workspace");
    SQZ_FAIL_IF(info != 0, SQZ_ERR_ARG, "lowrank: SVD did not converge (dgesdd info %d)", info);
    return SQZ_OK;
}

static sqz_status lowrank_check(int64_t n_out, int64_t n_in, const sqz_actstats *stats, int64_t rank,
                                double energy) {
    SQZ_FAIL_IF(n_out <= 0 || n_in <= 0 || n_out > 65536 || n_in > 65536, SQZ_ERR_ARG,
                "lowrank: bad weight shape [%lld][%lld]", (long long)n_out, (long long)n_in);
    int64_t k = n_out < n_in ? n_out : n_in;
    SQZ_FAIL_IF(rank < 0 || rank > k, SQZ_ERR_ARG, "lowrank: rank %lld is larger than the matrix allows (min(%lld, %lld) = %lld)",
                (long long)rank, (long long)n_out, (long long)n_in, (long long)k);
    SQZ_FAIL_IF(rank == 0 && !(energy > 0.0 && energy <= 1.0), SQZ_ERR_ARG,
                "lowrank: energy must be in (0, 1] (or give a rank >= 1), got %g", energy);
    if (stats)
        SQZ_TRY(sqz_prune_check_stats("lowrank (activation-aware)", stats, n_in));
    return SQZ_OK;
}

// Smallest r with Σ_{i<r} σ_i² >= energy · Σ σ².
static int64_t rank_for_energy(const double *s, int64_t k, double energy) {
    double total = 0.0, acc = 0.0;
    for (int64_t i = 0; i < k; i++)
        total += s[i] * s[i];
    int64_t r = 0;
    while (r < k && (r == 0 || acc < energy * total * (1.0 - 1e-12)))
        acc += s[r] * s[r], r++;
    return r;
}

sqz_status sqz_lowrank_svd(const float *w, int64_t n_out, int64_t n_in, const sqz_actstats *stats, int64_t rank,
                           double energy, sqz_lowrank **out) {
    *out = NULL;
    SQZ_TRY(lowrank_check(n_out, n_in, stats, rank, energy));
    size_t nw;
    SQZ_TRY(sqz_prune_check_weight("lowrank", w, n_out, n_in, &nw));
    int m = (int)n_out, n = (int)n_in, k = m < n ? m : n;
    double *a = malloc((size_t)m * n * sizeof *a), *s = malloc((size_t)k * sizeof *s);
    double *u = malloc((size_t)m * k * sizeof *u), *vt = malloc((size_t)k * n * sizeof *vt);
    double *sc = malloc((size_t)n * sizeof *sc);
    sqz_lowrank *lr = calloc(1, sizeof *lr);
    sqz_status st = !a || !s || !u || !vt || !sc || !lr ? sqz_error(SQZ_ERR_NOMEM, "lowrank: out of memory") : SQZ_OK;
    if (st == SQZ_OK) {
        for (int j = 0; j < n; j++) {
            double v = stats ? sqrt(stats->sq_sum[j] / (double)stats->n_rows) : 1.0;
            sc[j] = v > 0.0 ? v : 1.0; // a dead input column: its weights do not matter
        }
        for (int o = 0; o < m; o++) // column-major copy of W·diag(s)
            for (int j = 0; j < n; j++)
                a[o + (size_t)j * m] = (double)w[(size_t)o * n + j] * sc[j];
        st = svd(a, m, n, s, u, vt);
    }
    if (st == SQZ_OK) {
        int64_t r = rank > 0 ? rank : rank_for_energy(s, k, energy);
        double tot = 0.0, acc = 0.0;
        for (int i = 0; i < k; i++)
            tot += s[i] * s[i], acc += i < r ? s[i] * s[i] : 0.0;
        *lr = (sqz_lowrank){.n_out = n_out, .n_in = n_in, .rank = r, .energy = tot > 0 ? acc / tot : 1.0};
        lr->a = malloc((size_t)(n_out * r) * sizeof *lr->a);
        lr->b = malloc((size_t)(r * n_in) * sizeof *lr->b);
        if (!lr->a || !lr->b)
            st = sqz_error(SQZ_ERR_NOMEM, "lowrank: out of memory for rank %lld factors", (long long)r);
        for (int64_t o = 0; o < n_out && st == SQZ_OK; o++)
            for (int64_t i = 0; i < r; i++)
                lr->a[o * r + i] = (float)(u[o + i * m] * s[i]);
        for (int64_t i = 0; i < r && st == SQZ_OK; i++)
            for (int64_t j = 0; j < n_in; j++)
                lr->b[i * n_in + j] = (float)(vt[i + j * k] / sc[j]);
    }
    free(a), free(s), free(u), free(vt), free(sc);
    if (st != SQZ_OK) {
        sqz_lowrank_free(lr);
        return st;
    }
    *out = lr;
    return SQZ_OK;
}

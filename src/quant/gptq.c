// GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative
// Pre-trained Transformers"), following the reference `fasterquant` of IST-DASLab/gptq and
// AutoGPTQ step for step, so codes match a transcription of it:
//   H = 2/n Σ xxᵀ; dead columns (H_ii = 0): H_ii = 1, W[:, i] = 0; optional act-order permutation
//   by descending diag H; H += damp·mean(diag H)·I; U = chol(H⁻¹) upper (H⁻¹ = UᵀU);
//   for each block of `block` columns: quantize column by column, spreading each column's scaled
//   error err = (w − q)/U_ii over the rest of the block (rank-1), then over the columns right of
//   the block in one GEMM (the "lazy batch" update).
// Group parameters are found when a group starts, from W as it stands then: updated by the lazy
// updates of earlier blocks but not by the in-block updates of the current block — exactly as the
// reference (it reads W, not its block copy W1).
// Linear algebra: Cholesky/inverse in float64 (LAPACK), the column loop and updates in float32
// (BLAS sgemm for the lazy update), as the reference runs in float32.
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quant/quant_internal.h"

// LAPACK (Fortran ABI, shipped inside OpenBLAS); the trailing size_t is the hidden length of uplo.
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t uplo_len);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t uplo_len);

typedef struct gptq_work {
    int64_t n_out, n;
    float *w;        // [n_out][n] working weights, columns in processing order
    float *hinv;     // [n][n] row-major, upper triangle: U with H⁻¹ = UᵀU (processing order)
    int64_t *perm;   // processing position → original column
    float *wb, *eb;  // [block][n_out] the current block's columns, and their scaled errors
    qgrid *grid;     // [n_out] parameters of the current dynamic group, per row
    const qgrid *cur; // [n_out] parameters in use (grid, or a row of statics)
    qgrid *statics;  // static groups / per-channel: [n_groups][n_out], in original group order
} gptq_work;

static void work_free(gptq_work *g) {
    free(g->w);
    free(g->hinv);
    free(g->perm);
    free(g->wb);
    free(g->eb);
    free(g->grid);
    free(g->statics);
}

// Stable descending order of diag (ties keep column order), as torch.sort(stable=True).
static int64_t *argsort_desc(const double *diag, int64_t n) {
    int64_t *p = malloc((size_t)n * sizeof *p);
    if (!p)
        return NULL;
    for (int64_t i = 0; i < n; i++)
        p[i] = i;
    // bottom-up merge sort: stable, O(n log n)
    int64_t *tmp = malloc((size_t)n * sizeof *tmp);
    if (!tmp) {
        free(p);
        return NULL;
    }
    for (int64_t width = 1; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            int64_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                tmp[k++] = diag[p[b]] > diag[p[a]] ? p[b++] : p[a++];
            while (a < mid)
                tmp[k++] = p[a++];
            while (b < hi)
                tmp[k++] = p[b++];
        }
        memcpy(p, tmp, (size_t)n * sizeof *p);
    }
    free(tmp);
    return p;
}

// H (processing order, damped) → upper U with H⁻¹ = UᵀU, into g->hinv as float. h is [n][n] full
// symmetric, destroyed. LAPACK is column-major: its lower triangle is our row-major upper one, so
// potrf('L') → potri('L') → potrf('L') leaves Uᵀ's column-major lower = U row-major upper.
static sqz_status hessian_inverse_chol(gptq_work *g, double *h, double damp_frac) {
    int n = (int)g->n, info = 0;
    double mean = 0.0;
    for (int i = 0; i < n; i++)
        mean += h[(size_t)i * n + i];
    mean /= n;
    for (int i = 0; i < n; i++)
        h[(size_t)i * n + i] += damp_frac * mean;
    dpotrf_("L", &n, h, &n, &info, 1);
    SQZ_FAIL_IF(info != 0, SQZ_ERR_ARG,
                "gptq: Hessian is not positive definite after damping (damp=%g, leading minor %d); raise damp",
                damp_frac, info);
    dpotri_("L", &n, h, &n, &info, 1);
    SQZ_FAIL_IF(info != 0, SQZ_ERR_ARG, "gptq: Hessian is singular (pivot %d)", info);
    dpotrf_("L", &n, h, &n, &info, 1);
    SQZ_FAIL_IF(info != 0, SQZ_ERR_ARG, "gptq: inverse Hessian is not positive definite (minor %d); raise damp",
                info);
    for (int64_t i = 0; i < g->n; i++)
        for (int64_t j = i; j < g->n; j++)
            g->hinv[i * g->n + j] = (float)h[i * g->n + j];
    return SQZ_OK;
}

// Full H = 2/n_rows · gram in original column order, dead columns fixed (and zeroed in w).
static double *build_hessian(const sqz_actstats *st, float *w, int64_t n_out) {
    int64_t n = st->n_in;
    double *h = malloc((size_t)(n * n) * sizeof *h);
    if (!h)
        return NULL;
    double c = 2.0 / (double)st->n_rows;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i; j < n; j++)
            h[i * n + j] = h[j * n + i] = c * st->gram[i * n + j];
    for (int64_t i = 0; i < n; i++) {
        if (h[i * n + i] == 0.0) {
            h[i * n + i] = 1.0;
            for (int64_t o = 0; o < n_out; o++)
                w[o * n + i] = 0.0f;
        }
    }
    return h;
}

// Permute columns of w and rows/columns of h by perm (processing position → original column).
static sqz_status apply_perm(gptq_work *g, const float *w_orig, double **hp) {
    int64_t n = g->n;
    for (int64_t o = 0; o < g->n_out; o++)
        for (int64_t k = 0; k < n; k++)
            g->w[o * n + k] = w_orig[o * n + g->perm[k]];
    bool identity = true;
    for (int64_t k = 0; k < n && identity; k++)
        identity = g->perm[k] == k;
    if (identity)
        return SQZ_OK;
    double *hq = malloc((size_t)(n * n) * sizeof *hq);
    SQZ_FAIL_IF(!hq, SQZ_ERR_NOMEM, "gptq: out of memory");
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = 0; b < n; b++)
            hq[a * n + b] = (*hp)[g->perm[a] * n + g->perm[b]];
    free(*hp);
    *hp = hq;
    return SQZ_OK;
}

// Quantize processing column `col` (block column j of the current block starting at i1).
static double quant_column(gptq_work *g, sqz_qweight *q, int64_t i1, int64_t j, int64_t cnt) {
    int64_t n = g->n, n_out = g->n_out, col = i1 + j;
    float d = g->hinv[col * n + col];
    float *wcol = g->wb + j * n_out, *ecol = g->eb + j * n_out;
    double loss = 0.0;
    for (int64_t o = 0; o < n_out; o++) {
        int code = sqz_qgrid_code(g->cur[o], wcol[o]);
        float err = wcol[o] - sqz_qgrid_deq(g->cur[o], code);
        q->codes[o * n + g->perm[col]] = (uint8_t)code;
        loss += (double)err * err / ((double)d * d);
        ecol[o] = err / d;
    }
    for (int64_t jj = j + 1; jj < cnt; jj++) {
        float h = g->hinv[col * n + i1 + jj], *dst = g->wb + jj * n_out;
        for (int64_t o = 0; o < n_out; o++)
            dst[o] -= ecol[o] * h;
    }
    return loss / 2.0;
}

// At processing column col: point g->cur at the parameters of col's group (computing them from
// the current W when a dynamic group starts).
static void update_grid(gptq_work *g, sqz_qweight *q, int64_t col, const sqz_gptq_params *p) {
    int64_t n = g->n, n_out = g->n_out;
    if (p->q.group == 0 || p->static_groups) {
        g->cur = g->statics + (p->q.group == 0 ? 0 : g->perm[col] / p->q.group) * n_out;
        return;
    }
    g->cur = g->grid;
    if (col % p->q.group != 0)
        return;
    int64_t grp = col / p->q.group;
    for (int64_t o = 0; o < n_out; o++) {
        g->grid[o] = sqz_qgrid_gptq(g->w + o * n + col, p->q.group, p->q.bits, p->q.sym);
        q->scales[grp * n_out + o] = g->grid[o].scale;
        q->zeros[grp * n_out + o] = (int32_t)g->grid[o].zero;
    }
}

static sqz_status gptq_run(gptq_work *g, sqz_qweight *q, const sqz_gptq_params *p) {
    int64_t n = g->n, n_out = g->n_out, bs = p->block;
    for (int64_t i1 = 0; i1 < n; i1 += bs) {
        int64_t i2 = i1 + bs < n ? i1 + bs : n, cnt = i2 - i1;
        for (int64_t j = 0; j < cnt; j++)
            for (int64_t o = 0; o < n_out; o++)
                g->wb[j * n_out + o] = g->w[o * n + i1 + j];
        for (int64_t j = 0; j < cnt; j++) {
            update_grid(g, q, i1 + j, p);
            q->loss += quant_column(g, q, i1, j, cnt);
        }
        if (i2 < n) // W[:, i2:] -= Err1 · Hinv[i1:i2, i2:], Err1 = ebᵀ
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n_out, (int)(n - i2), (int)cnt, -1.0f, g->eb,
                        (int)n_out, g->hinv + i1 * n + i2, (int)n, 1.0f, g->w + i2, (int)n);
    }
    return SQZ_OK;
}

// Per-channel parameters (from W before dead columns are zeroed, as the reference) or static
// group parameters (after), in original column order; recorded as the qweight's scales/zeros.
static void fixed_grids(gptq_work *g, sqz_qweight *q, const float *w, const sqz_gptq_params *p) {
    int64_t n = g->n, n_out = g->n_out, gs = q->group;
    for (int64_t grp = 0; grp < q->n_groups; grp++) {
        for (int64_t o = 0; o < n_out; o++) {
            qgrid qg = sqz_qgrid_gptq(w + o * n + grp * gs, gs, p->q.bits, p->q.sym);
            g->statics[grp * n_out + o] = qg;
            q->scales[grp * n_out + o] = qg.scale;
            q->zeros[grp * n_out + o] = (int32_t)qg.zero;
        }
    }
}

static sqz_status gptq_check(int64_t n_out, int64_t n_in, const sqz_actstats *st, const sqz_gptq_params *p) {
    SQZ_TRY(sqz_qparams_check("gptq", n_out, n_in, p->q));
    SQZ_FAIL_IF(!st, SQZ_ERR_ARG, "gptq: needs calibration statistics (none given)");
    SQZ_FAIL_IF(st->n_in != n_in, SQZ_ERR_ARG, "gptq: statistics are for %lld inputs, the weight has %lld",
                (long long)st->n_in, (long long)n_in);
    SQZ_FAIL_IF(st->n_rows == 0, SQZ_ERR_ARG, "gptq: no calibration rows accumulated");
    SQZ_FAIL_IF(p->block < 1, SQZ_ERR_ARG, "gptq: block must be >= 1, got %d", p->block);
    SQZ_FAIL_IF(!(p->damp >= 0.0), SQZ_ERR_ARG, "gptq: damp must be >= 0, got %g", p->damp);
    SQZ_FAIL_IF(p->static_groups && p->q.group == 0, SQZ_ERR_ARG, "gptq: static_groups needs group > 0");
    SQZ_FAIL_IF(n_in > INT32_MAX || n_out > INT32_MAX, SQZ_ERR_RANGE, "gptq: weight too large for BLAS");
    return SQZ_OK;
}

sqz_status sqz_quant_gptq(const float *w, int64_t n_out, int64_t n_in, const sqz_actstats *stats,
                          sqz_gptq_params p, sqz_qweight **out) {
    *out = NULL;
    SQZ_TRY(gptq_check(n_out, n_in, stats, &p));
    gptq_work g = {.n_out = n_out, .n = n_in};
    sqz_qweight *q = NULL;
    double *h = NULL;
    float *w0 = malloc((size_t)(n_out * n_in) * sizeof *w0);
    g.w = malloc((size_t)(n_out * n_in) * sizeof *g.w);
    g.hinv = malloc((size_t)(n_in * n_in) * sizeof *g.hinv);
    g.wb = malloc((size_t)(p.block * n_out) * sizeof *g.wb);
    g.eb = malloc((size_t)(p.block * n_out) * sizeof *g.eb);
    g.grid = malloc((size_t)n_out * sizeof *g.grid);
    sqz_status st = sqz_qweight_alloc(n_out, n_in, p.q.bits, p.q.group, p.q.sym, &q);
    if (st == SQZ_OK && (!w0 || !g.w || !g.hinv || !g.wb || !g.eb || !g.grid))
        st = sqz_error(SQZ_ERR_NOMEM, "gptq: out of memory for a [%lld][%lld] layer", (long long)n_out,
                       (long long)n_in);
    if (st == SQZ_OK) {
        g.statics = malloc((size_t)(q->n_groups * n_out) * sizeof *g.statics);
        memcpy(w0, w, (size_t)(n_out * n_in) * sizeof *w0);
        if (p.q.group == 0)
            fixed_grids(&g, q, w0, &p);
        h = build_hessian(stats, w0, n_out);
        if (p.static_groups)
            fixed_grids(&g, q, w0, &p);
        double *diag = malloc((size_t)n_in * sizeof *diag);
        if (h && diag)
            for (int64_t i = 0; i < n_in; i++)
                diag[i] = h[i * n_in + i];
        g.perm = !h || !diag ? NULL : p.act_order ? argsort_desc(diag, n_in) : malloc((size_t)n_in * sizeof(int64_t));
        if (g.perm && !p.act_order)
            for (int64_t i = 0; i < n_in; i++)
                g.perm[i] = i;
        free(diag);
        st = !g.statics || !g.perm ? sqz_error(SQZ_ERR_NOMEM, "gptq: out of memory") : SQZ_OK;
    }
    if (st == SQZ_OK)
        st = apply_perm(&g, w0, &h);
    if (st == SQZ_OK)
        st = hessian_inverse_chol(&g, h, p.damp);
    free(h);
    free(w0);
    if (st == SQZ_OK)
        st = gptq_run(&g, q, &p);
    if (st == SQZ_OK && p.q.group > 0 && !p.static_groups)
        for (int64_t k = 0; k < n_in; k++) // g_idx[original column] = processing group
            q->g_idx[g.perm[k]] = (int32_t)(k / p.q.group);
    work_free(&g);
    if (st != SQZ_OK) {
        sqz_qweight_free(q);
        return st;
    }
    *out = q;
    return SQZ_OK;
}

// Shared with SparseGPT (src/prune/sparsegpt.c), which uses the same Hessian pipeline.
sqz_status sqz_gptq_hinv_chol(const sqz_actstats *stats, float *w, int64_t n_out, double damp, float *hinv) {
    gptq_work g = {.n_out = n_out, .n = stats->n_in, .hinv = hinv};
    double *h = build_hessian(stats, w, n_out);
    SQZ_FAIL_IF(!h, SQZ_ERR_NOMEM, "gptq: out of memory for a %lld x %lld Hessian", (long long)stats->n_in,
                (long long)stats->n_in);
    sqz_status st = hessian_inverse_chol(&g, h, damp);
    free(h);
    return st;
}

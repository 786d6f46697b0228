// SparseGPT (Frantar & Alistarh 2023, "SparseGPT: Massive Language Models Can Be Accurately Pruned
// in One-Shot"), following the reference `SparseGPT.fasterprune` (IST-DASLab/sparsegpt) step for
// step, in float32 like the reference (Cholesky in float64 via the GPTQ helper):
//   H = 2/n Σ xxᵀ, dead columns, H += damp·mean(diag H)·I, U = chol(H⁻¹) upper;
//   for each block of Bs columns [i1, i2):
//     unstructured: mask = the floor(s·n_out·Bs) lowest w²/U_jj² of the whole block (chosen once,
//                   from the block as it stands when the block starts — the "adaptive mask");
//     N:M:          at every M-th column, per row, the M − N lowest w²/U_jj² of the next M columns
//                   (from the in-block-updated weights);
//     per column j: q = w with masked entries 0 (then quantized when bits > 0), err = (w − q)/U_jj,
//                   W1[:, j:] −= err · U[j, j:] (OBS update within the block);
//   then W[:, i2:] −= Err1 · U[i1:i2, i2:] (lazy update, one GEMM).
// One deliberate difference: the reference's threshold `tmp <= sort(tmp)[k]` prunes k+1 entries
// (and one entry even at sparsity 0); here exactly k = floor(s·numel) are pruned.
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "prune/prune_internal.h"
#include "quant/quant_internal.h"

typedef struct sgpt_work {
    int64_t n_out, n;
    float *w;      // [n_out][n] working weights
    float *hinv;   // [n][n] upper U
    float *wb;     // [Bs][n_out] current block, column-major
    float *eb;     // [Bs][n_out] scaled errors of the block
    uint8_t *kb;   // [Bs][n_out] keep mask of the block
    float *score;  // [Bs][n_out] scores for mask selection
    qgrid *grid;   // [n_out] quantizer of the current group (bits > 0)
} sgpt_work;

static void work_free(sgpt_work *g) {
    free(g->w);
    free(g->hinv);
    free(g->wb);
    free(g->eb);
    free(g->kb);
    free(g->score);
    free(g->grid);
}

// Unstructured mask of block [i1, i1+cnt) over all rows at once.
static sqz_status block_mask(sgpt_work *g, int64_t i1, int64_t cnt, double sparsity) {
    size_t len = (size_t)(cnt * g->n_out);
    for (int64_t j = 0; j < cnt; j++) {
        float d = g->hinv[(i1 + j) * g->n + i1 + j];
        for (int64_t o = 0; o < g->n_out; o++) {
            float v = g->wb[j * g->n_out + o];
            g->score[j * g->n_out + o] = v * v / (d * d);
        }
    }
    // ties are broken by position in the block's column-major order
    return sqz_prune_smallest(&g->score, &len, 1, (size_t)floor(sparsity * (double)len), &g->kb);
}

// N:M mask of columns [j, j+M) of the block (row by row), from the current block weights.
static void nm_mask(sgpt_work *g, int64_t i1, int64_t j, sqz_nm nm) {
    float s[64];
    uint8_t k[64];
    for (int64_t o = 0; o < g->n_out; o++) {
        for (int t = 0; t < nm.m; t++) {
            float v = g->wb[(j + t) * g->n_out + o], d = g->hinv[(i1 + j + t) * g->n + i1 + j + t];
            s[t] = v * v / (d * d);
        }
        sqz_prune_nm_mask(s, 1, nm.m, nm, k);
        for (int t = 0; t < nm.m; t++)
            g->kb[(j + t) * g->n_out + o] = k[t];
    }
}

// Prune (and quantize) block column j; OBS-update the block's later columns. Returns the loss part.
static double prune_column(sgpt_work *g, int64_t i1, int64_t j, int64_t cnt, bool quant, sqz_qweight *qw) {
    int64_t n = g->n, n_out = g->n_out, col = i1 + j;
    float d = g->hinv[col * n + col];
    float *wcol = g->wb + j * n_out, *ecol = g->eb + j * n_out;
    const uint8_t *keep = g->kb + j * n_out;
    double loss = 0.0;
    for (int64_t o = 0; o < n_out; o++) {
        float w = wcol[o], q = keep[o] ? w : 0.0f;
        if (quant) {
            int code = sqz_qgrid_code(g->grid[o], q);
            q = sqz_qgrid_deq(g->grid[o], code);
            if (qw)
                qw->codes[o * n + col] = (uint8_t)code;
        }
        wcol[o] = q;
        loss += (double)(w - q) * (w - q) / ((double)d * d);
        ecol[o] = (w - q) / d;
    }
    for (int64_t jj = j + 1; jj < cnt; jj++) {
        float h = g->hinv[col * n + i1 + jj], *dst = g->wb + jj * n_out;
        for (int64_t o = 0; o < n_out; o++)
            dst[o] -= ecol[o] * h;
    }
    return loss / 2.0;
}

// Quantizer parameters of the group starting at column col (group > 0), from the current W.
static void group_grid(sgpt_work *g, const sqz_sparsegpt_params *p, int64_t col, sqz_qweight *qw) {
    int64_t grp = col / p->q.group;
    for (int64_t o = 0; o < g->n_out; o++) {
        g->grid[o] = sqz_qgrid_gptq(g->w + o * g->n + col, p->q.group, p->q.bits, p->q.sym);
        if (qw) {
            qw->scales[grp * g->n_out + o] = g->grid[o].scale;
            qw->zeros[grp * g->n_out + o] = (int32_t)g->grid[o].zero;
        }
    }
}

static sqz_status sgpt_run(sgpt_work *g, const sqz_sparsegpt_params *p, sqz_qweight *qw, uint8_t *mask,
                           double *loss) {
    int64_t n = g->n, n_out = g->n_out, bs = p->block;
    bool quant = p->q.bits > 0;
    for (int64_t i1 = 0; i1 < n; i1 += bs) {
        int64_t i2 = i1 + bs < n ? i1 + bs : n, cnt = i2 - i1;
        for (int64_t j = 0; j < cnt; j++)
            for (int64_t o = 0; o < n_out; o++)
                g->wb[j * n_out + o] = g->w[o * n + i1 + j];
        if (p->nm.m == 0)
            SQZ_TRY(block_mask(g, i1, cnt, p->sparsity));
        for (int64_t j = 0; j < cnt; j++) {
            if (p->nm.m && j % p->nm.m == 0)
                nm_mask(g, i1, j, p->nm);
            if (quant && p->q.group > 0 && (i1 + j) % p->q.group == 0)
                group_grid(g, p, i1 + j, qw); // from W without this block's in-block updates, as GPTQ
            *loss += prune_column(g, i1, j, cnt, quant, qw);
        }
        for (int64_t j = 0; j < cnt; j++)
            for (int64_t o = 0; o < n_out; o++) {
                g->w[o * n + i1 + j] = g->wb[j * n_out + o];
                if (mask)
                    mask[o * n + i1 + j] = g->kb[j * n_out + o];
            }
        if (i2 < n)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n_out, (int)(n - i2), (int)cnt, -1.0f, g->eb,
                        (int)n_out, g->hinv + i1 * n + i2, (int)n, 1.0f, g->w + i2, (int)n);
    }
    return SQZ_OK;
}

static sqz_status sgpt_check(const float *w, int64_t n_out, int64_t n_in, const sqz_actstats *st,
                             const sqz_sparsegpt_params *p) {
    SQZ_FAIL_IF(n_in > INT32_MAX || n_out > INT32_MAX, SQZ_ERR_ARG, "sparsegpt: weight [%lld][%lld] too large for BLAS",
                (long long)n_out, (long long)n_in);
    size_t n;
    SQZ_TRY(sqz_prune_check_weight("sparsegpt", w, n_out, n_in, &n));
    SQZ_TRY(sqz_prune_check_stats("sparsegpt", st, n_in));
    SQZ_TRY(sqz_nm_check("sparsegpt", p->nm, n_in));
    if (p->nm.m == 0)
        SQZ_TRY(sqz_prune_check_sparsity("sparsegpt", p->sparsity));
    SQZ_FAIL_IF(p->block < 1, SQZ_ERR_ARG, "sparsegpt: block must be >= 1, got %d", p->block);
    SQZ_FAIL_IF(p->nm.m && p->block % p->nm.m, SQZ_ERR_ARG, "sparsegpt: block %d must be a multiple of M = %d",
                p->block, p->nm.m);
    SQZ_FAIL_IF(!(p->damp >= 0.0), SQZ_ERR_ARG, "sparsegpt: damp must be >= 0, got %g", p->damp);
    if (p->q.bits)
        SQZ_TRY(sqz_qparams_check("sparsegpt", n_out, n_in, p->q));
    return SQZ_OK;
}

sqz_status sqz_prune_sparsegpt(float *w, int64_t n_out, int64_t n_in, const sqz_actstats *stats,
                               sqz_sparsegpt_params p, uint8_t *mask, sqz_qweight **qw, double *loss) {
    if (qw)
        *qw = NULL;
    SQZ_TRY(sgpt_check(w, n_out, n_in, stats, &p));
    size_t n = (size_t)(n_out * n_in), nb = (size_t)(p.block * n_out);
    sgpt_work g = {.n_out = n_out, .n = n_in};
    sqz_qweight *q = NULL;
    g.w = malloc(n * sizeof *g.w);
    g.hinv = malloc((size_t)(n_in * n_in) * sizeof *g.hinv);
    g.wb = malloc(nb * sizeof *g.wb);
    g.eb = calloc(nb, sizeof *g.eb);
    g.kb = malloc(nb);
    g.score = malloc(nb * sizeof *g.score);
    g.grid = malloc((size_t)n_out * sizeof *g.grid);
    sqz_status st = SQZ_OK;
    if (!g.w || !g.hinv || !g.wb || !g.eb || !g.kb || !g.score || !g.grid)
        st = sqz_error(SQZ_ERR_NOMEM, "sparsegpt: out of memory for a [%lld][%lld] layer", (long long)n_out,
                       (long long)n_in);
    if (st == SQZ_OK && p.q.bits && qw)
        st = sqz_qweight_alloc(n_out, n_in, p.q.bits, p.q.group, p.q.sym, &q);
    if (st == SQZ_OK) {
        memcpy(g.w, w, n * sizeof *g.w);
        if (p.q.bits && p.q.group == 0) // per row, from W before dead columns are zeroed (as the reference)
            for (int64_t o = 0; o < n_out; o++) {
                g.grid[o] = sqz_qgrid_gptq(w + o * n_in, n_in, p.q.bits, p.q.sym);
                if (q)
                    q->scales[o] = g.grid[o].scale, q->zeros[o] = (int32_t)g.grid[o].zero;
            }
        st = sqz_gptq_hinv_chol(stats, g.w, n_out, p.damp, g.hinv);
        if (st != SQZ_OK)
            st = sqz_error_prefix(st, "sparsegpt");
    }
    double l = 0.0;
    if (st == SQZ_OK)
        st = sgpt_run(&g, &p, q, mask, &l);
    if (st == SQZ_OK) {
        memcpy(w, g.w, n * sizeof *w);
        if (q)
            q->loss = l;
        if (loss)
            *loss = l;
    }
    work_free(&g);
    if (st != SQZ_OK) {
        sqz_qweight_free(q);
        return st;
    }
    if (qw)
        *qw = q;
    return SQZ_OK;
}

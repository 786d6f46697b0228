// AWQ (Lin et al. 2023, "AWQ: Activation-aware Weight Quantization"), following llm-awq's
// auto_scale (grid search of the per-input-channel scale exponent) and auto_clip (per-group
// clipping range search) on one weight matrix, with llm-awq's pseudo-quantizer.
// Output errors ||X Wᵀ − X Ŵᵀ||² are computed from the Gram matrix G = XᵀX as Σ_o Δ_o G Δ_oᵀ, which
// equals the token-space sum exactly (in exact arithmetic) and costs n_out·n_in² instead of
// n_tokens·n_out·n_in; the clip search therefore uses every calibration row where llm-awq
// subsamples 512 tokens.
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quant/quant_internal.h"

#define CLIP_GRID 20
#define CLIP_MAX_SHRINK 0.5

// dst[o][i] = W quantized per group with llm-awq's quantizer (values already scaled), dequantized.
static void pseudo_quant(const float *w, int64_t n_out, int64_t n, int gs, int bits, bool sym, float *dst) {
    for (int64_t o = 0; o < n_out; o++) {
        for (int64_t c = 0; c < n; c += gs) {
            const float *x = w + o * n + c;
            qgrid g = sqz_qgrid_awq(x, gs, bits, sym);
            for (int i = 0; i < gs; i++)
                dst[o * n + c + i] = sqz_qgrid_deq(g, sqz_qgrid_code(g, x[i]));
        }
    }
}

// Σ_o Δ_o G Δ_oᵀ for Δ [n_out][n] (ld ldd) and G [n][n] (ld ldg); tmp holds n_out·n floats.
static double quad_form(const float *d, int64_t n_out, int64_t n, int64_t ldd, const float *g, int64_t ldg, float *tmp,
                        double *per_row) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n_out, (int)n, (int)n, 1.0f, d, (int)ldd, g, (int)ldg,
                0.0f, tmp, (int)n);
    double total = 0.0;
    for (int64_t o = 0; o < n_out; o++) {
        double s = 0.0;
        for (int64_t i = 0; i < n; i++)
            s += (double)tmp[o * n + i] * d[o * ldd + i];
        if (per_row)
            per_row[o] = s;
        total += s;
    }
    return total;
}

typedef struct awq_work {
    int64_t n_out, n, n_rows;
    float *g;       // [n][n] full Gram matrix Σ xxᵀ
    float *ws, *wq; // [n_out][n] scratch
    float *tmp;     // [n_out][n]
    float *s;       // [n] candidate scales
} awq_work;

// s = clamp(mean|x|^ratio, 1e-4) / sqrt(max(s)·min(s)), as llm-awq.
static void ratio_scales(const sqz_actstats *st, double ratio, float *s) {
    float mx = 0.0f, mn = INFINITY;
    for (int64_t i = 0; i < st->n_in; i++) {
        float xm = (float)(st->abs_sum[i] / (double)st->n_rows);
        s[i] = fmaxf(powf(xm, (float)ratio), 1e-4f);
        mx = fmaxf(mx, s[i]);
        mn = fminf(mn, s[i]);
    }
    float norm = sqrtf(mx * mn);
    for (int64_t i = 0; i < st->n_in; i++)
        s[i] /= norm;
}

// Mean squared output error of quantizing W with scales s.
static double scale_loss(awq_work *a, const float *w, const sqz_awq_params *p, int gs) {
    int64_t n = a->n;
    for (int64_t o = 0; o < a->n_out; o++)
        for (int64_t i = 0; i < n; i++)
            a->ws[o * n + i] = w[o * n + i] * a->s[i];
    pseudo_quant(a->ws, a->n_out, n, gs, p->q.bits, p->q.sym, a->wq);
    for (int64_t k = 0; k < a->n_out * n; k++) // Δ = W − Q(W·s)/s
        a->wq[k] = w[k] - a->wq[k] / a->s[k % n];
    return quad_form(a->wq, a->n_out, n, n, a->g, n, a->tmp, NULL) / ((double)a->n_rows * (double)a->n_out);
}

// Fill delta [n_out][gs] = W_c − Q(clamp(W_c, ±(1 − k/20)·max|W_c|)) for group columns [c, c+gs).
static void clip_delta(awq_work *a, const sqz_awq_params *p, int64_t c, int gs, int k, float *cw, float *delta) {
    float shrink = (float)(1.0 - (double)k / CLIP_GRID);
    for (int64_t o = 0; o < a->n_out; o++) {
        const float *x = a->ws + o * a->n + c;
        float amax = 0.0f;
        for (int i = 0; i < gs; i++)
            amax = fmaxf(amax, fabsf(x[i]));
        float mv = amax * shrink;
        for (int i = 0; i < gs; i++)
            cw[i] = fminf(fmaxf(x[i], -mv), mv);
        qgrid g = sqz_qgrid_awq(cw, gs, p->q.bits, p->q.sym);
        for (int i = 0; i < gs; i++)
            delta[o * gs + i] = x[i] - sqz_qgrid_deq(g, sqz_qgrid_code(g, cw[i]));
    }
}

// llm-awq auto_clip on the scaled weight ws (in place): per (row, group) the max |w| range among
// (1 − k/20)·max|w|, k = 0..9, with the least output error on the scaled inputs (Gram G/s/s).
static sqz_status clip_search(awq_work *a, const sqz_awq_params *p, int gs) {
    int64_t n = a->n, n_out = a->n_out;
    float *gg = malloc((size_t)gs * gs * sizeof *gg), *shrink = malloc((size_t)n_out * sizeof *shrink);
    float *delta = malloc((size_t)(n_out * gs) * sizeof *delta), *cw = malloc((size_t)gs * sizeof *cw);
    double *err = malloc((size_t)n_out * sizeof *err), *min_err = malloc((size_t)n_out * sizeof *min_err);
    sqz_status st = gg && shrink && delta && cw && err && min_err ? SQZ_OK
                                                                   : sqz_error(SQZ_ERR_NOMEM, "awq: out of memory");
    for (int64_t c = 0; st == SQZ_OK && c < n; c += gs) {
        for (int i = 0; i < gs; i++)
            for (int j = 0; j < gs; j++)
                gg[i * gs + j] = a->g[(c + i) * n + c + j] / (a->s[c + i] * a->s[c + j]);
        for (int64_t o = 0; o < n_out; o++) {
            min_err[o] = 1e9;
            shrink[o] = 1.0f;
        }
        for (int k = 0; k < (int)(CLIP_MAX_SHRINK * CLIP_GRID); k++) {
            clip_delta(a, p, c, gs, k, cw, delta);
            quad_form(delta, n_out, gs, gs, gg, gs, a->tmp, err);
            for (int64_t o = 0; o < n_out; o++) {
                double e = err[o] / (double)a->n_rows;
                if (e < min_err[o]) {
                    min_err[o] = e;
                    shrink[o] = (float)(1.0 - (double)k / CLIP_GRID);
                }
            }
        }
        for (int64_t o = 0; o < n_out; o++) {
            float *x = a->ws + o * n + c, amax = 0.0f;
            for (int i = 0; i < gs; i++)
                amax = fmaxf(amax, fabsf(x[i]));
            float mv = amax * shrink[o];
            for (int i = 0; i < gs; i++)
                x[i] = fminf(fmaxf(x[i], -mv), mv);
        }
    }
    free(gg);
    free(shrink);
    free(delta);
    free(cw);
    free(err);
    free(min_err);
    return st;
}

static void awq_work_free(awq_work *a) {
    free(a->g);
    free(a->ws);
    free(a->wq);
    free(a->tmp);
    free(a->s);
}

static sqz_status awq_check(int64_t n_out, int64_t n_in, const sqz_actstats *st, const sqz_awq_params *p) {
    SQZ_TRY(sqz_qparams_check("awq", n_out, n_in, p->q));
    SQZ_FAIL_IF(!st, SQZ_ERR_ARG, "awq: needs calibration statistics (none given)");
    SQZ_FAIL_IF(st->n_in != n_in, SQZ_ERR_ARG, "awq: statistics are for %lld inputs, the weight has %lld",
                (long long)st->n_in, (long long)n_in);
    SQZ_FAIL_IF(st->n_rows == 0, SQZ_ERR_ARG, "awq: no calibration rows accumulated");
    SQZ_FAIL_IF(p->grid < 1, SQZ_ERR_ARG, "awq: grid must be >= 1, got %d", p->grid);
    SQZ_FAIL_IF(n_in > INT32_MAX || n_out > INT32_MAX, SQZ_ERR_RANGE, "awq: weight too large for BLAS");
    return SQZ_OK;
}

// Final codes of the scaled (and clipped) weight a->ws, with s as in_scales.
static void awq_finish(awq_work *a, const sqz_awq_params *p, sqz_qweight *q) {
    int64_t n = a->n, n_out = a->n_out;
    for (int64_t o = 0; o < n_out; o++) {
        for (int64_t grp = 0; grp < q->n_groups; grp++) {
            const float *x = a->ws + o * n + grp * q->group;
            qgrid g = sqz_qgrid_awq(x, q->group, p->q.bits, p->q.sym);
            q->scales[grp * n_out + o] = g.scale;
            q->zeros[grp * n_out + o] = (int32_t)g.zero;
            for (int i = 0; i < q->group; i++)
                q->codes[o * n + grp * q->group + i] = (uint8_t)sqz_qgrid_code(g, x[i]);
        }
    }
    memcpy(q->in_scales, a->s, (size_t)n * sizeof *a->s);
}

sqz_status sqz_quant_awq(const float *w, int64_t n_out, int64_t n_in, const sqz_actstats *stats, sqz_awq_params p,
                         sqz_qweight **out) {
    *out = NULL;
    SQZ_TRY(awq_check(n_out, n_in, stats, &p));
    int64_t n = n_in;
    int gs = p.q.group > 0 ? p.q.group : (int)n;
    awq_work a = {.n_out = n_out, .n = n, .n_rows = stats->n_rows};
    a.g = malloc((size_t)(n * n) * sizeof *a.g);
    a.ws = malloc((size_t)(n_out * n) * sizeof *a.ws);
    a.wq = malloc((size_t)(n_out * n) * sizeof *a.wq);
    a.tmp = malloc((size_t)(n_out * n) * sizeof *a.tmp);
    a.s = malloc((size_t)n * sizeof *a.s);
    sqz_qweight *q = NULL;
    sqz_status st = sqz_qweight_alloc(n_out, n, p.q.bits, p.q.group, p.q.sym, &q);
    if (st == SQZ_OK && (!a.g || !a.ws || !a.wq || !a.tmp || !a.s || !(q->in_scales = malloc((size_t)n * sizeof(float)))))
        st = sqz_error(SQZ_ERR_NOMEM, "awq: out of memory for a [%lld][%lld] layer", (long long)n_out, (long long)n);
    if (st == SQZ_OK) {
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i; j < n; j++)
                a.g[i * n + j] = a.g[j * n + i] = stats->gram[i * n + j];
        double best = INFINITY, best_ratio = 0.0;
        for (int r = 0; r < p.grid; r++) { // α = r/grid, as llm-awq's `ratio * 1 / n_grid`
            double ratio = (double)r * 1.0 / p.grid;
            ratio_scales(stats, ratio, a.s);
            double loss = scale_loss(&a, w, &p, gs);
            if (loss < best) {
                best = loss;
                best_ratio = ratio;
            }
        }
        ratio_scales(stats, best_ratio, a.s);
        q->loss = best;
        for (int64_t k = 0; k < n_out * n; k++)
            a.ws[k] = w[k] * a.s[k % n];
        if (p.clip)
            st = clip_search(&a, &p, gs);
    }
    if (st == SQZ_OK)
        awq_finish(&a, &p, q);
    awq_work_free(&a);
    if (st != SQZ_OK) {
        sqz_qweight_free(q);
        return st;
    }
    *out = q;
    return SQZ_OK;
}

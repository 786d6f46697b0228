// The linear layer: activations are converted once to the kernel's activation type, then threads
// split the output rows (ith, nth) and stream their weight rows once for all tokens of the batch:
// one dot kernel call per output for a single token, the kernel's GEMM for a batch. F32 weights
// with a batch use OpenBLAS sgemm (called from one thread; OpenBLAS has its own).
#include <cblas.h>
#include <string.h>

#include "engine/internal.h"
#include "engine/lora.h"
#include "kernels/gemv.h"

typedef struct {
    sqz_ctx *c;
    const sqz_linear *l;
    const float *x;
    float *y;
    int64_t n;
    sqz_act_fn convert;
    size_t act_row;
} linear_job;

// Batches go to the kernel's GEMM (kernels/gemm.h) when it has one. Otherwise (F32 weights in a
// multi-linear job, --exact aside; any type without a GEMM): tiles of ROW_TILE weight rows, each dotted
// with every token before moving on, so the tile stays in L1/L2 while the activations stream from L2.
#define ROW_TILE 16

static void dot_rows(const linear_job *j, int ith, int64_t r0, int64_t r1) {
    const sqz_linear *l = j->l;
    const uint8_t *xa = j->convert ? (const uint8_t *)j->c->xa : (const uint8_t *)j->x;
    if (j->n >= 2 && l->k->gemm) { // a batch: the register-blocked GEMM (bit-identical for block types)
        l->k->gemm(l->n_in, l->w, l->row_bytes, r0, r1, xa, j->act_row, j->n, j->y, l->n_out);
        return;
    }
    sqz_gemv_fn gemv = j->n == 1 ? sqz_gemv_for(l->k) : NULL;
    if (gemv) { // one token: the multi-row kernel (bit-identical to dot per row)
        gemv(l->n_in, l->w + r0 * l->row_bytes, l->row_bytes, r1 - r0, xa, j->y + r0);
        return;
    }
    for (int64_t t0 = r0; t0 < r1; t0 += ROW_TILE) {
        int64_t t1 = t0 + ROW_TILE < r1 ? t0 + ROW_TILE : r1;
        for (int64_t t = 0; t < j->n; t++) {
            float *yt = j->y + t * l->n_out;
            for (int64_t o = t0; o < t1; o++)
                l->k->dot(l->n_in, l->w + o * l->row_bytes, xa + t * j->act_row, &yt[o]);
        }
    }
    (void)ith;
}

size_t sqz_linear_bytes(const sqz_linear *l) {
    if (l->impl)
        return l->impl->bytes(l);
    return l->w ? l->row_bytes * (size_t)l->n_out : 0;
}

void sqz_linear_row_to_float(const sqz_linear *l, int64_t o, float *out) {
    if (l->impl)
        l->impl->row_to_float(l, o, out);
    else
        sqz_type_traits_of(l->type)->to_float(l->w + o * l->row_bytes, out, l->n_in);
}

// Exact mode: dequantize each weight row (reference codec), then the reference f32 dot.
static void dot_rows_exact(const linear_job *j, int ith, int64_t r0, int64_t r1) {
    const sqz_linear *l = j->l;
    float *wrow = j->c->wrow + ith * j->c->m->max_n_in;
    for (int64_t o = r0; o < r1; o++) {
        sqz_linear_row_to_float(l, o, wrow);
        for (int64_t t = 0; t < j->n; t++)
            sqz_dot_f32_ref(l->n_in, wrow, j->x + t * l->n_in, &j->y[t * l->n_out + o]);
    }
}

// Rows [*r0, *r1) of part `part` of n_parts: contiguous, split on multiples of 4 rows (the decode
// kernels' row group), the last part taking the remainder.
static void part_rows(int64_t n_out, int64_t part, int64_t n_parts, int64_t *r0, int64_t *r1) {
    int64_t lo, hi;
    sqz_split_range((n_out + 3) / 4, (int)part, (int)n_parts, &lo, &hi);
    *r0 = lo * 4 < n_out ? lo * 4 : n_out, *r1 = hi * 4 < n_out ? hi * 4 : n_out;
}

// Parts per thread of a decode step's job: claimed dynamically, so a thread that runs late or is
// interrupted by other jobs on the machine leaves its rows to the others.
#define PARTS_PER_THREAD 4
static int64_t n_parts_for(const sqz_ctx *c, int64_t n) { return n == 1 ? PARTS_PER_THREAD * sqz_pool_size(c->pool) : sqz_pool_size(c->pool); }

static void linear_task(void *arg, int64_t part, int64_t n_parts, int tid) {
    const linear_job *j = arg;
    const sqz_linear *l = j->l;
    int64_t r0, r1;
    part_rows(l->n_out, part, n_parts, &r0, &r1);
    if (l->exact)
        dot_rows_exact(j, tid, r0, r1);
    else if (l->impl)
        l->impl->rows(l, j->convert ? j->c->xa : (const void *)j->x, j->act_row, j->y, j->n, r0, r1);
    else
        dot_rows(j, tid, r0, r1);
    if (l->b)
        for (int64_t t = 0; t < j->n; t++)
            for (int64_t o = r0; o < r1; o++)
                j->y[t * l->n_out + o] += l->b[o];
}

static void convert_task(void *arg, int ith, int nth) {
    const linear_job *j = arg;
    int64_t t0, t1;
    sqz_split_range(j->n, ith, nth, &t0, &t1);
    for (int64_t t = t0; t < t1; t++)
        j->convert(j->x + t * j->l->n_in, (uint8_t *)j->c->xa + t * j->act_row, j->l->n_in);
}

// An impl linear's activation preparation, one token per task.
static void prep_task(void *arg, int ith, int nth) {
    const linear_job *j = arg;
    int64_t t0, t1;
    sqz_split_range(j->n, ith, nth, &t0, &t1);
    for (int64_t t = t0; t < t1; t++)
        j->l->impl->prep(j->l, j->x + t * j->l->n_in, (uint8_t *)j->c->xa + t * j->act_row);
}

// Marks "activations converted into c->xa" for impl linears (whose prep is not an sqz_act_fn).
static void impl_prepared(const float *x, void *y, int64_t n) { (void)x, (void)y, (void)n; }

static void add_bias(const sqz_linear *l, float *y, int64_t n) {
    if (l->b)
        for (int64_t t = 0; t < n; t++)
            for (int64_t o = 0; o < l->n_out; o++)
                y[t * l->n_out + o] += l->b[o];
}

void sqz_linear_forward(sqz_ctx *c, const sqz_linear *l, const float *x, float *y, int64_t n) {
    if (!l->impl && l->type == SQZ_TYPE_F32 && n > 1) { // GEMM: y[n][n_out] = x[n][n_in] · W[n_out][n_in]ᵀ
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)l->n_out, (int)l->n_in, 1.0f, x,
                    (int)l->n_in, (const float *)l->w, (int)l->n_in, 0.0f, y, (int)l->n_out);
        add_bias(l, y, n);
        sqz_lora_apply(l, x, y, n);
        return;
    }
    linear_job j = {c, l, x, y, n, NULL, (size_t)l->n_in * sizeof(float)};
    if (l->impl && !l->exact) {
        j.act_row = l->impl->act_row_size(l);
        if (j.act_row) {
            j.convert = impl_prepared;
            if (n == 1)
                l->impl->prep(l, x, c->xa);
            else
                sqz_pool_run(c->pool, prep_task, &j);
        } else
            j.act_row = (size_t)l->n_in * sizeof(float);
    } else if (!l->exact) {
        j.act_row = sqz_act_row_size(l->k->act, l->n_in);
        j.convert = sqz_act_converter(l->k->act);
        if (l->k->act == SQZ_ACT_F32) // the kernels read x as it is
            j.convert = NULL;
        else if (n == 1)
            j.convert(x, c->xa, l->n_in);
        else
            sqz_pool_run(c->pool, convert_task, &j);
    }
    sqz_pool_run_parts(c->pool, linear_task, &j, n_parts_for(c, n));
    sqz_lora_apply(l, x, y, n);
}

// ---- several linears over the same input -------------------------------------------------------------
// q/k/v (and gate/up) read the same activations: convert them once and run all outputs in one pool
// job, the threads splitting the concatenated output rows, so a decode step pays one barrier instead
// of three (two). Falls back to one call per linear when the kernels want different activations.
typedef struct {
    sqz_ctx *c;
    const sqz_linear *const *ls;
    float *const *ys;
    int nl;
    const float *x;
    int64_t n;
    size_t act_row;
    bool converted;
} multi_job;

static void multi_task(void *arg, int64_t part, int64_t n_parts, int ith) {
    const multi_job *j = arg;
    int64_t total = 0;
    for (int i = 0; i < j->nl; i++)
        total += j->ls[i]->n_out;
    int64_t r0, r1, base = 0;
    part_rows(total, part, n_parts, &r0, &r1);
    for (int i = 0; i < j->nl; i++) {
        const sqz_linear *l = j->ls[i];
        int64_t lo = r0 > base ? r0 - base : 0, hi = r1 - base < l->n_out ? r1 - base : l->n_out;
        if (lo < hi) {
            linear_job lj = {j->c, l, j->x, j->ys[i], j->n, j->converted ? sqz_act_converter(l->k->act) : NULL, j->act_row};
            dot_rows(&lj, ith, lo, hi);
            if (l->b)
                for (int64_t t = 0; t < j->n; t++)
                    for (int64_t o = lo; o < hi; o++)
                        j->ys[i][t * l->n_out + o] += l->b[o];
        }
        base += l->n_out;
    }
}

void sqz_linear_forward_multi(sqz_ctx *c, const sqz_linear *const *ls, float *const *ys, int nl, const float *x, int64_t n) {
    bool same = true;
    for (int i = 0; i < nl; i++)
        same = same && !ls[i]->exact && !ls[i]->impl && ls[i]->type != SQZ_TYPE_F32 && ls[i]->n_in == ls[0]->n_in &&
               ls[i]->k->act == ls[0]->k->act;
    if (!same || (ls[0]->type == SQZ_TYPE_F32 && n > 1)) {
        for (int i = 0; i < nl; i++)
            sqz_linear_forward(c, ls[i], x, ys[i], n);
        return;
    }
    const sqz_linear *l = ls[0];
    multi_job j = {c, ls, ys, nl, x, n, sqz_act_row_size(l->k->act, l->n_in), l->k->act != SQZ_ACT_F32};
    if (j.converted) {
        linear_job cj = {c, l, x, NULL, n, sqz_act_converter(l->k->act), j.act_row};
        if (n == 1)
            cj.convert(x, c->xa, l->n_in);
        else
            sqz_pool_run(c->pool, convert_task, &cj);
    }
    sqz_pool_run_parts(c->pool, multi_task, &j, n_parts_for(c, n));
    for (int i = 0; i < nl; i++)
        sqz_lora_apply(ls[i], x, ys[i], n);
}

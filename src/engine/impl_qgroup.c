// Grouped-int linears: sqz_linear_impl over an sqz_qgroup. Activations are prepared once per token
// (gathered through the act-order permutation, quantized to block_q8a), then the threads' row ranges
// run the GEMM kernel of the best ISA, every weight block reused for all tokens of the batch.
// Exact mode uses row_to_float (the dequantized weights, bit-identical to sqz_qweight_dequant).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/impl_qgroup.h"

typedef struct qg_linear {
    sqz_linear_impl impl; // vtable; impl.name points to layout[]
    const sqz_qgroup *w;
    sqz_qgroup_gemm_fn gemm;
    sqz_act_fn quant;
    char layout[40]; // "int4 g128", "int8 ch", "int3 g128 act-order"
    char tensor[];   // tensor name
} qg_linear;

static const qg_linear *qg(const sqz_linear *l) { return l->data; }

static size_t act_row_size(const sqz_linear *l) { return sqz_qgroup_act_size(qg(l)->w); }

static void prep(const sqz_linear *l, const float *x, void *xa) { sqz_qgroup_prep(qg(l)->w, x, xa, qg(l)->quant); }

static void rows(const sqz_linear *l, const void *xa, size_t act_row, float *y, int64_t n, int64_t r0, int64_t r1) {
    qg(l)->gemm(qg(l)->w, xa, act_row, n, y, l->n_out, r0, r1);
}

static void row_to_float(const sqz_linear *l, int64_t o, float *out) { sqz_qgroup_row_to_float(qg(l)->w, o, out); }

static size_t bytes(const sqz_linear *l) { return sqz_qgroup_nbytes(qg(l)->w); }

sqz_status sqz_qgroup_linear_init(sqz_model *m, sqz_linear *l, const char *name, sqz_qgroup *w) {
    SQZ_TRY(sqz_model_own(m, w, sqz_qgroup_nbytes(w)));
    size_t nlen = strlen(name) + 1;
    qg_linear *q = calloc(1, sizeof *q + nlen);
    SQZ_FAIL_IF(!q, SQZ_ERR_NOMEM, "out of memory for '%s'", name);
    SQZ_TRY(sqz_model_own(m, q, sizeof *q + nlen));
    memcpy(q->tensor, name, nlen);
    char group[16];
    snprintf(group, sizeof group, w->group == w->n_in ? "ch" : "g%d", w->group);
    snprintf(q->layout, sizeof q->layout, "int%d %s%s", w->src_bits, group, w->perm ? " act-order" : "");
    q->impl = (sqz_linear_impl){q->layout, act_row_size, prep, rows, row_to_float, bytes};
    q->w = w;
    q->gemm = sqz_qgroup_gemm_best();
    q->quant = sqz_act_converter(SQZ_ACT_Q8A);
    // type F32: what sqz_model_linear_get/_info callers see (the dequantized weights); unused by linear.c
    *l = (sqz_linear){.name = q->tensor, .type = SQZ_TYPE_F32, .n_out = w->n_out, .n_in = w->n_in,
                      .exact = m->opts.exact, .impl = &q->impl, .data = q};
    if (w->n_in > m->max_n_in)
        m->max_n_in = w->n_in;
    if (sqz_qgroup_act_size(w) > m->max_act_row)
        m->max_act_row = sqz_qgroup_act_size(w);
    return SQZ_OK;
}

// One recipe step applied to one weight matrix: the entry point the compress pipeline calls.
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quant/quant_internal.h"

static sqz_qparams step_qparams(const sqz_recipe_step *s) {
    return (sqz_qparams){.bits = sqz_step_int(s, "bits"), .group = sqz_step_int(s, "group"),
                         .sym = sqz_step_int(s, "sym") != 0};
}

// cast:to=f16|bf16 → a buffer of that type.
static sqz_status quant_cast(const sqz_recipe_step *s, const float *w, size_t n, sqz_quant_out *out) {
    bool bf16 = !strcmp(sqz_step_str(s, "to"), "bf16");
    uint16_t *d = malloc(n * sizeof *d);
    SQZ_FAIL_IF(!d, SQZ_ERR_NOMEM, "cast: out of memory for %zu elements", n);
    for (size_t i = 0; i < n; i++)
        d[i] = bf16 ? sqz_fp32_to_bf16(w[i]) : sqz_fp32_to_fp16(w[i]);
    out->type = bf16 ? SQZ_TYPE_BF16 : SQZ_TYPE_F16;
    out->data = d;
    out->nbytes = n * sizeof *d;
    return SQZ_OK;
}

static sqz_status quant_blocks_step(const sqz_recipe_step *s, sqz_type type, const float *w, int64_t n_out,
                                    int64_t n_in, const sqz_actstats *stats, sqz_quant_out *out) {
    float *imp = NULL;
    if (sqz_step_int(s, "imatrix")) {
        SQZ_FAIL_IF(!stats, SQZ_ERR_ARG, "%s: imatrix=1 needs calibration statistics (none given)", s->name);
        SQZ_FAIL_IF(stats->n_in != n_in, SQZ_ERR_ARG, "%s: statistics are for %lld inputs, the weight has %lld",
                    s->name, (long long)stats->n_in, (long long)n_in);
        imp = malloc((size_t)n_in * sizeof *imp);
        SQZ_FAIL_IF(!imp, SQZ_ERR_NOMEM, "%s: out of memory", s->name);
        sqz_status st = sqz_actstats_imatrix(stats, imp);
        if (st != SQZ_OK) {
            free(imp);
            return st;
        }
    }
    size_t row = n_in % 32 == 0 ? sqz_type_row_size(type, n_in) : 0;
    out->data = row ? malloc(row * (size_t)n_out) : NULL;
    sqz_status st = !row ? sqz_quant_blocks(type, w, n_out, n_in, imp, NULL) // reports the shape error
                    : !out->data ? sqz_error(SQZ_ERR_NOMEM, "%s: out of memory", s->name)
                                 : sqz_quant_blocks(type, w, n_out, n_in, imp, out->data);
    free(imp);
    out->type = type;
    out->nbytes = row * (size_t)n_out;
    return st;
}

sqz_status sqz_quant_layer(const sqz_recipe_step *step, const float *w, int64_t n_out, int64_t n_in,
                           const sqz_actstats *stats, sqz_quant_out *out) {
    memset(out, 0, sizeof *out);
    size_t n;
    SQZ_FAIL_IF(n_out <= 0 || n_in <= 0 || !sqz_mul_ok((size_t)n_out, (size_t)n_in, &n), SQZ_ERR_ARG,
                "%s: bad weight shape [%lld][%lld]", step->name, (long long)n_out, (long long)n_in);
    for (size_t i = 0; i < n; i++)
        SQZ_FAIL_IF(!isfinite(w[i]), SQZ_ERR_ARG, "%s: non-finite weight at [%zu][%zu]", step->name,
                    i / (size_t)n_in, i % (size_t)n_in);
    SQZ_FAIL_IF(sqz_step_needs_calib(step) && (!stats || stats->n_rows == 0), SQZ_ERR_ARG,
                "%s: needs calibration data (activation statistics), none given", step->name);
    sqz_status st;
    switch (step->kind) {
    case SQZ_STEP_CAST:
        st = quant_cast(step, w, n, out);
        break;
    case SQZ_STEP_RTN:
        st = sqz_quant_rtn(w, n_out, n_in, step_qparams(step), &out->qw);
        break;
    case SQZ_STEP_GPTQ: {
        sqz_gptq_params p = {.q = step_qparams(step), .act_order = sqz_step_int(step, "act_order") != 0,
                             .static_groups = sqz_step_int(step, "static_groups") != 0,
                             .damp = sqz_step_num(step, "damp"), .block = sqz_step_int(step, "block")};
        st = sqz_quant_gptq(w, n_out, n_in, stats, p, &out->qw);
        break;
    }
    case SQZ_STEP_AWQ: {
        sqz_awq_params p = {.q = step_qparams(step), .clip = sqz_step_int(step, "clip") != 0,
                            .grid = sqz_step_int(step, "grid")};
        st = sqz_quant_awq(w, n_out, n_in, stats, p, &out->qw);
        break;
    }
    case SQZ_STEP_Q8_0:
        st = quant_blocks_step(step, SQZ_TYPE_Q8_0, w, n_out, n_in, stats, out);
        break;
    case SQZ_STEP_Q4_0:
        st = quant_blocks_step(step, SQZ_TYPE_Q4_0, w, n_out, n_in, stats, out);
        break;
    case SQZ_STEP_Q4_1:
        st = quant_blocks_step(step, SQZ_TYPE_Q4_1, w, n_out, n_in, stats, out);
        break;
    default:
        st = sqz_error(SQZ_ERR_UNSUPPORTED, "%s: not a quantization step", step->name);
    }
    if (st != SQZ_OK)
        sqz_quant_out_clear(out);
    return st;
}

void sqz_quant_out_clear(sqz_quant_out *o) {
    if (!o)
        return;
    sqz_qweight_free(o->qw);
    free(o->data);
    memset(o, 0, sizeof *o);
}

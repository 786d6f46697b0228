// One pruning step on one layer: the entry point the compress pipeline calls per linear weight.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "prune/prune_internal.h"

static sqz_status step_nm(const sqz_recipe_step *s, sqz_nm *nm) {
    SQZ_TRY_CTX(sqz_nm_parse(sqz_step_str(s, "pattern"), nm), "%s", s->name);
    return SQZ_OK;
}

static sqz_status layer_lowrank(const sqz_recipe_step *s, float *w, int64_t n_out, int64_t n_in,
                                const sqz_actstats *stats, sqz_lowrank **lr_out) {
    bool act = sqz_step_int(s, "act") != 0;
    SQZ_FAIL_IF(act && !stats, SQZ_ERR_ARG, "lowrank: act=1 needs calibration statistics (none given)");
    sqz_lowrank *lr = NULL;
    SQZ_TRY(sqz_lowrank_svd(w, n_out, n_in, act ? stats : NULL, sqz_step_int(s, "rank"), sqz_step_num(s, "energy"),
                            &lr));
    sqz_lowrank_product(lr, w);
    if (lr_out)
        *lr_out = lr;
    else
        sqz_lowrank_free(lr);
    return SQZ_OK;
}

sqz_status sqz_prune_layer(const sqz_recipe_step *step, float *w, int64_t n_out, int64_t n_in,
                           const sqz_actstats *stats, uint8_t *mask, sqz_qweight **qw, sqz_lowrank **lr) {
    if (qw)
        *qw = NULL;
    if (lr)
        *lr = NULL;
    size_t n = 0;
    SQZ_FAIL_IF(!w || n_out <= 0 || n_in <= 0 || !sqz_mul_ok((size_t)n_out, (size_t)n_in, &n), SQZ_ERR_ARG,
                "%s: bad weight shape [%lld][%lld]", step->name, (long long)n_out, (long long)n_in);
    for (size_t i = 0; i < n; i++)
        SQZ_FAIL_IF(!isfinite(w[i]), SQZ_ERR_ARG, "%s: non-finite weight at [%zu][%zu]", step->name,
                    i / (size_t)n_in, i % (size_t)n_in);
    SQZ_FAIL_IF(sqz_step_needs_calib(step) && (!stats || stats->n_rows == 0), SQZ_ERR_ARG,
                "%s: needs calibration data (activation statistics), none given", step->name);
    sqz_nm nm = {0, 0};
    switch (step->kind) {
    case SQZ_STEP_MAGNITUDE:
        SQZ_FAIL_IF(!strcmp(sqz_step_str(step, "scope"), "global"), SQZ_ERR_ARG,
                    "magnitude: scope=global needs all layers at once (sqz_prune_magnitude_global), not one layer");
        SQZ_TRY(step_nm(step, &nm));
        return sqz_prune_magnitude(w, n_out, n_in, sqz_step_num(step, "sparsity"), nm, mask);
    case SQZ_STEP_WANDA:
        SQZ_TRY(step_nm(step, &nm));
        return sqz_prune_wanda(w, n_out, n_in, stats, sqz_step_num(step, "sparsity"), nm, mask);
    case SQZ_STEP_SPARSEGPT: {
        SQZ_TRY(step_nm(step, &nm));
        sqz_sparsegpt_params p = {.sparsity = sqz_step_num(step, "sparsity"), .nm = nm,
                                  .damp = sqz_step_num(step, "damp"), .block = sqz_step_int(step, "block"),
                                  .q = {.bits = sqz_step_int(step, "bits"), .group = sqz_step_int(step, "group"),
                                        .sym = sqz_step_int(step, "sym") != 0}};
        return sqz_prune_sparsegpt(w, n_out, n_in, stats, p, mask, qw, NULL);
    }
    case SQZ_STEP_LOWRANK:
        return layer_lowrank(step, w, n_out, n_in, stats, lr);
    case SQZ_STEP_HEADS:
    case SQZ_STEP_MLP:
    case SQZ_STEP_LAYERS:
        return sqz_error(SQZ_ERR_ARG, "%s: a structured step changes the model's shapes; it runs on the whole model, "
                         "not on one layer", step->name);
    default:
        return sqz_error(SQZ_ERR_UNSUPPORTED, "%s: not a pruning step", step->name);
    }
}

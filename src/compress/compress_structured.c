// The structured pass of the compress pipeline: heads / mlp / layers steps make a genuinely smaller
// dense model before any per-linear step runs.
//
// One pass over the calibration data through the model as it is (one-shot scoring, as ShortGPT and
// FLAP): per block, the statistics of o_proj's input (head scores, sqz_prune_head_scores) and
// down_proj's input (channel scores, sqz_prune_channel_scores), and the block influence of its
// input → output hidden states (sqz_block_influence_*). The lowest-scoring KV groups / channels
// per layer and the lowest-influence blocks form a plan; sqz_prune_structured writes the smaller HF
// model into a temporary directory, which becomes the working copy for the remaining steps.
// Memory: the calibration hidden states (twice, for the layers step) and one block's statistics.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "compress/compress_internal.h"

typedef struct {
    const sqz_recipe_step *heads, *mlp, *layers;
} struct_steps;

static sqz_status find_steps(const sqz_recipe *r, struct_steps *ss) {
    memset(ss, 0, sizeof *ss);
    for (int i = 0; i < r->n_steps; i++) {
        const sqz_recipe_step *s = &r->steps[i];
        const sqz_recipe_step **slot = s->kind == SQZ_STEP_HEADS ? &ss->heads
                                     : s->kind == SQZ_STEP_MLP   ? &ss->mlp
                                     : s->kind == SQZ_STEP_LAYERS ? &ss->layers
                                                                  : NULL;
        if (!slot)
            continue;
        SQZ_FAIL_IF(*slot, SQZ_ERR_ARG, "recipe: step '%s' given twice (structured steps apply once to the model)",
                    s->name);
        *slot = s;
    }
    return SQZ_OK;
}

// Check the parameters against the model. *groups: KV groups to drop per layer; *chans: MLP
// channels to drop per layer.
static sqz_status check_params(const struct_steps *ss, const sqz_model_config *c, int64_t *groups, int64_t *chans) {
    *groups = *chans = 0;
    if (ss->heads) {
        int64_t k = sqz_step_int(ss->heads, "drop"), gs = c->n_head / c->n_head_kv;
        SQZ_FAIL_IF(k % gs, SQZ_ERR_ARG,
                    "heads: drop=%lld must be a multiple of the GQA group size %lld (%lld query heads share each of "
                    "the %lld KV heads; heads are dropped with their KV head)",
                    (long long)k, (long long)gs, (long long)gs, (long long)c->n_head_kv);
        SQZ_FAIL_IF(k >= c->n_head, SQZ_ERR_ARG, "heads: drop=%lld would remove all %lld heads of a layer",
                    (long long)k, (long long)c->n_head);
        *groups = k / gs;
    }
    if (ss->mlp) {
        double f = sqz_step_num(ss->mlp, "channels");
        *chans = (int64_t)floor(f * (double)c->n_ff);
        SQZ_FAIL_IF(*chans < 1 || *chans >= c->n_ff, SQZ_ERR_ARG,
                    "mlp: channels=%g of %lld MLP channels removes %lld; it must remove at least one and keep one", f,
                    (long long)c->n_ff, (long long)*chans);
    }
    if (ss->layers)
        SQZ_FAIL_IF(sqz_step_int(ss->layers, "drop") >= c->n_layer, SQZ_ERR_ARG,
                    "layers: drop=%d would remove all %lld transformer blocks", sqz_step_int(ss->layers, "drop"),
                    (long long)c->n_layer);
    return SQZ_OK;
}

typedef struct {
    sqz_actstats *attn_out, *mlp_mid;
    sqz_status err;
} scap;

static int scap_cb(void *user, sqz_capture_point p, const float *x, int64_t n, int64_t width) {
    scap *c = user;
    sqz_actstats *st = p == SQZ_CAP_ATTN_OUT ? c->attn_out : p == SQZ_CAP_MLP_MID ? c->mlp_mid : NULL;
    if (st && c->err == SQZ_OK && st->n_in == width)
        c->err = sqz_actstats_add(st, x, n);
    return 0;
}

typedef struct {
    uint8_t *keep_layer;     // [n_layer]
    uint8_t **keep_kv;       // [n_layer][n_head_kv]
    uint8_t **keep_ff;       // [n_layer][n_ff]
    double *bi;              // [n_layer]
} plan_buf;

static void plan_free(plan_buf *p, int64_t n_layer) {
    for (int64_t l = 0; l < n_layer; l++) {
        if (p->keep_kv)
            free(p->keep_kv[l]);
        if (p->keep_ff)
            free(p->keep_ff[l]);
    }
    free(p->keep_layer), free(p->keep_kv), free(p->keep_ff), free(p->bi);
}

// Score block l (its statistics are in cap) into the plan.
static sqz_status score_block(sqz_compressed *cc, const sqz_model_config *c, int64_t l, const scap *cap,
                              int64_t groups, int64_t chans, plan_buf *p) {
    if (groups > 0) {
        float *wo = malloc((size_t)(c->n_embd * c->n_head * c->head_dim) * sizeof *wo);
        double *gs = malloc((size_t)c->n_head_kv * sizeof *gs);
        sqz_status e = wo && gs ? sqz_model_linear_get(cc->m, l, SQZ_LIN_O, wo) : sqz_error(SQZ_ERR_NOMEM, "out of memory");
        if (e == SQZ_OK)
            e = sqz_prune_head_scores(wo, c->n_embd, (int)c->n_head, (int)c->n_head_kv, (int)c->head_dim,
                                      cap->attn_out, gs);
        if (e == SQZ_OK)
            e = sqz_prune_lowest(gs, c->n_head_kv, groups, p->keep_kv[l]);
        free(wo), free(gs);
        SQZ_TRY_CTX(e, "heads: layer %lld: ", (long long)l);
    }
    if (chans > 0) {
        float *wd = malloc((size_t)(c->n_embd * c->n_ff) * sizeof *wd);
        double *sc = malloc((size_t)c->n_ff * sizeof *sc);
        sqz_status e = wd && sc ? sqz_model_linear_get(cc->m, l, SQZ_LIN_DOWN, wd) : sqz_error(SQZ_ERR_NOMEM, "out of memory");
        if (e == SQZ_OK)
            e = sqz_prune_channel_scores(wd, c->n_embd, c->n_ff, cap->mlp_mid, sc);
        if (e == SQZ_OK)
            e = sqz_prune_lowest(sc, c->n_ff, chans, p->keep_ff[l]);
        free(wd), free(sc);
        SQZ_TRY_CTX(e, "mlp: layer %lld: ", (long long)l);
    }
    return SQZ_OK;
}

static sqz_status plan_alloc(plan_buf *p, const sqz_model_config *c) {
    int64_t L = c->n_layer;
    p->keep_layer = malloc((size_t)L);
    p->keep_kv = calloc((size_t)L, sizeof *p->keep_kv);
    p->keep_ff = calloc((size_t)L, sizeof *p->keep_ff);
    p->bi = calloc((size_t)L, sizeof *p->bi);
    SQZ_FAIL_IF(!p->keep_layer || !p->keep_kv || !p->keep_ff || !p->bi, SQZ_ERR_NOMEM, "out of memory");
    memset(p->keep_layer, 1, (size_t)L);
    for (int64_t l = 0; l < L; l++) {
        p->keep_kv[l] = malloc((size_t)c->n_head_kv);
        p->keep_ff[l] = malloc((size_t)c->n_ff);
        SQZ_FAIL_IF(!p->keep_kv[l] || !p->keep_ff[l], SQZ_ERR_NOMEM, "out of memory");
        memset(p->keep_kv[l], 1, (size_t)c->n_head_kv);
        memset(p->keep_ff[l], 1, (size_t)c->n_ff);
    }
    return SQZ_OK;
}

// The scoring pass over all blocks (the hidden states advance through the unpruned model).
static sqz_status score_all(sqz_compressed *cc, const sqz_compress_opts *o, const struct_steps *ss, int64_t groups,
                            int64_t chans, plan_buf *p) {
    const sqz_model_config *c = sqz_model_get_config(cc->m);
    calib_state cs = {0};
    float *xin = NULL;
    sqz_status e = sqz_compress_calib_init(cc, o, &cs);
    int64_t rows = cc->calib ? cc->calib->n_seq * cc->calib->seq_len : 0;
    if (e == SQZ_OK && ss->layers && !(xin = malloc((size_t)(rows * c->n_embd) * sizeof *xin)))
        e = sqz_error(SQZ_ERR_NOMEM, "out of memory for the block-influence states");
    for (int64_t l = 0; l < c->n_layer && e == SQZ_OK; l++) {
        scap cap = {0};
        if (groups > 0)
            e = sqz_actstats_new(c->n_head * c->head_dim, &cap.attn_out);
        if (e == SQZ_OK && chans > 0)
            e = sqz_actstats_new(c->n_ff, &cap.mlp_mid);
        if (e == SQZ_OK && xin)
            memcpy(xin, cs.x, (size_t)(rows * c->n_embd) * sizeof *xin);
        if (e == SQZ_OK)
            e = sqz_block_forward(cs.ctx, l, cs.x, cc->calib->n_seq, cc->calib->seq_len, scap_cb, &cap);
        if (e == SQZ_OK)
            e = cap.err;
        sqz_block_influence bi = {0};
        if (e == SQZ_OK && xin)
            e = sqz_block_influence_add(&bi, xin, cs.x, rows, c->n_embd);
        if (e == SQZ_OK && xin)
            e = sqz_block_influence_get(&bi, &p->bi[l]);
        if (e == SQZ_OK)
            e = score_block(cc, c, l, &cap, groups, chans, p);
        sqz_actstats_free(cap.attn_out);
        sqz_actstats_free(cap.mlp_mid);
    }
    if (e == SQZ_OK && ss->layers)
        e = sqz_prune_lowest(p->bi, c->n_layer, sqz_step_int(ss->layers, "drop"), p->keep_layer);
    free(xin);
    free(cs.x);
    sqz_ctx_free(cs.ctx);
    return e;
}

// Record what was removed (source layer indices) for the manifest.
static sqz_status record(sqz_compressed *cc, const sqz_model_config *before, const plan_buf *p, bool layers) {
    sqz_compress_structured *r = &cc->structured;
    r->applied = true;
    r->n_layer_before = before->n_layer, r->n_head_before = before->n_head;
    r->n_head_kv_before = before->n_head_kv, r->n_ff_before = before->n_ff;
    r->dropped_layers = malloc((size_t)before->n_layer * sizeof *r->dropped_layers);
    SQZ_FAIL_IF(!r->dropped_layers, SQZ_ERR_NOMEM, "out of memory");
    for (int64_t l = 0; l < before->n_layer; l++)
        if (!p->keep_layer[l])
            r->dropped_layers[r->n_dropped++] = l;
    if (layers) {
        r->block_influence = malloc((size_t)before->n_layer * sizeof *r->block_influence);
        SQZ_FAIL_IF(!r->block_influence, SQZ_ERR_NOMEM, "out of memory");
        memcpy(r->block_influence, p->bi, (size_t)before->n_layer * sizeof *p->bi);
    }
    return SQZ_OK;
}

// The HF directory to cut: the source itself when it is one, else the working GGUF converted.
static sqz_status hf_input(sqz_compressed *cc, char *buf, size_t cap) {
    struct stat sb;
    if (stat(cc->src_path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(buf, cap, "%s", cc->src_path);
        return SQZ_OK;
    }
    snprintf(buf, cap, "%s/source-hf", cc->struct_dir);
    SQZ_TRY_CTX(sqz_convert_gguf_to_hf(cc->work_gguf, buf, SQZ_TYPE_COUNT), "structured pruning: converting %s to HF: ",
                cc->work_gguf);
    return SQZ_OK;
}

sqz_status sqz_compress_structured_pass(sqz_compressed *cc, const sqz_compress_opts *o) {
    struct_steps ss;
    SQZ_TRY(find_steps(cc->recipe, &ss));
    if (!ss.heads && !ss.mlp && !ss.layers)
        return SQZ_OK;
    sqz_model_config before = *sqz_model_get_config(cc->m);
    int64_t groups, chans;
    SQZ_TRY(check_params(&ss, &before, &groups, &chans));
    plan_buf p = {0};
    sqz_status e = plan_alloc(&p, &before);
    if (e == SQZ_OK)
        e = score_all(cc, o, &ss, groups, chans, &p);
    char tmpl[] = "/tmp/sqz-structured-XXXXXX", in[4096], out[4200];
    if (e == SQZ_OK && !mkdtemp(tmpl))
        e = sqz_error(SQZ_ERR_IO, "cannot create a temporary directory in /tmp");
    if (e == SQZ_OK && !(cc->struct_dir = strdup(tmpl)))
        e = sqz_error(SQZ_ERR_NOMEM, "out of memory");
    if (e == SQZ_OK)
        e = hf_input(cc, in, sizeof in);
    if (e == SQZ_OK) {
        snprintf(out, sizeof out, "%s/model", cc->struct_dir);
        sqz_structured_plan plan = {.n_layer = (int)before.n_layer,
                                    .keep_layer = p.keep_layer,
                                    .keep_kv_group = groups ? (const uint8_t *const *)p.keep_kv : NULL,
                                    .keep_ff = chans ? (const uint8_t *const *)p.keep_ff : NULL};
        e = sqz_prune_structured(in, out, &plan);
        if (strcmp(in, cc->src_path) != 0)
            sqz_compress_rmtree(in); // the converted source is no longer needed
    }
    if (e == SQZ_OK)
        e = record(cc, &before, &p, ss.layers != NULL);
    plan_free(&p, before.n_layer);
    if (e == SQZ_OK) // the smaller model is the working copy from here on
        e = sqz_compress_open_work(cc, out, o->exact);
    if (e == SQZ_OK) {
        const sqz_model_config *c = sqz_model_get_config(cc->m);
        cc->structured.n_layer_after = c->n_layer, cc->structured.n_head_after = c->n_head;
        cc->structured.n_head_kv_after = c->n_head_kv, cc->structured.n_ff_after = c->n_ff;
    }
    return e;
}

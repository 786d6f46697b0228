// Contexts: KV cache, batch scratch, thread pool; sqz_ctx_eval splits a request into batches and
// runs the architecture's forward pass, then the lm_head on the rows whose logits are wanted.
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

static float *alloc_f32(size_t n, bool *ok) {
    float *p = malloc(n ? n * sizeof(float) : 1); // untouched pages cost no RSS
    if (!p)
        *ok = false;
    return p;
}

sqz_status sqz_ctx_new(sqz_ctx **out, sqz_model *m, int64_t n_ctx, int64_t n_batch, int n_threads) {
    *out = NULL;
    const sqz_model_config *cfg = &m->cfg;
    if (n_ctx <= 0)
        n_ctx = cfg->n_ctx_train > 0 ? cfg->n_ctx_train : 2048;
    if (n_batch <= 0)
        n_batch = 512;
    if (n_threads <= 0)
        n_threads = sqz_n_physical_cores();
    SQZ_FAIL_IF(n_ctx > (1 << 20), SQZ_ERR_ARG, "context size %lld is too large", (long long)n_ctx);
    SQZ_FAIL_IF(cfg->arch == SQZ_ARCH_GPT2 && n_ctx > cfg->n_ctx_train, SQZ_ERR_RANGE,
                "context size %lld exceeds the model's %lld learned positions", (long long)n_ctx,
                (long long)cfg->n_ctx_train);
    if (n_batch > n_ctx)
        n_batch = n_ctx;
    sqz_ctx *c = calloc(1, sizeof *c);
    SQZ_FAIL_IF(!c, SQZ_ERR_NOMEM, "out of memory");
    c->m = m, c->n_ctx = n_ctx, c->n_batch = n_batch, c->n_threads = n_threads;
    c->n_ctx_pad = (n_ctx + 31) & ~(int64_t)31;
    sqz_status st = sqz_pool_new(&c->pool, n_threads);
    if (st != SQZ_OK) {
        free(c);
        return st;
    }
    size_t d = (size_t)cfg->n_embd, qd = (size_t)(cfg->n_head * cfg->head_dim), kvd = (size_t)(cfg->n_head_kv * cfg->head_dim);
    size_t hw = (size_t)cfg->n_ff > 3 * d ? (size_t)cfg->n_ff : 3 * d, nb = (size_t)n_batch;
    bool ok = true;
    c->k_cache = calloc((size_t)cfg->n_layer * (size_t)c->n_ctx_pad * kvd, sizeof(float));
    c->v_cache = calloc((size_t)cfg->n_layer * (size_t)c->n_ctx_pad * kvd, sizeof(float));
    ok = ok && c->k_cache && c->v_cache;
    c->x = alloc_f32(nb * d, &ok), c->xb = alloc_f32(nb * d, &ok);
    c->q = alloc_f32(nb * qd, &ok), c->att_out = alloc_f32(nb * qd, &ok);
    c->k = alloc_f32(nb * kvd, &ok), c->v = alloc_f32(nb * kvd, &ok);
    c->hb = alloc_f32(nb * hw, &ok), c->hb2 = alloc_f32(nb * hw, &ok);
    size_t xa_row = sqz_act_row_size(SQZ_ACT_F32, m->max_n_in);
    c->xa = malloc(nb * (xa_row > m->max_act_row ? xa_row : m->max_act_row));
    c->att = alloc_f32((size_t)n_threads * sqz_att_scratch_floats(c), &ok);
    c->wrow = alloc_f32((size_t)n_threads * (size_t)m->max_n_in, &ok);
    if (!ok || !c->xa) {
        sqz_ctx_free(c);
        return sqz_error(SQZ_ERR_NOMEM, "out of memory allocating a context of %lld positions", (long long)n_ctx);
    }
    openblas_set_num_threads(n_threads); // sgemm runs while our pool idles: they never overlap
    *out = c;
    return SQZ_OK;
}

void sqz_ctx_free(sqz_ctx *c) {
    if (!c)
        return;
    sqz_pool_free(c->pool);
    free(c->k_cache), free(c->v_cache), free(c->x), free(c->xb), free(c->q), free(c->att_out);
    free(c->k), free(c->v), free(c->hb), free(c->hb2), free(c->xa), free(c->att), free(c->wrow);
    free(c);
}

size_t sqz_att_scratch_floats(const sqz_ctx *c) {
    size_t q = SQZ_ATT_Q, hd = (size_t)c->m->cfg.head_dim;
    return q * (size_t)c->n_ctx_pad + 2 * q * hd;
}

void sqz_ctx_reset(sqz_ctx *c) { c->pos = 0; }
int64_t sqz_ctx_pos(const sqz_ctx *c) { return c->pos; }
int64_t sqz_ctx_n_ctx(const sqz_ctx *c) { return c->n_ctx; }
int sqz_ctx_n_threads(const sqz_ctx *c) { return c->n_threads; }
size_t sqz_ctx_kv_bytes(const sqz_ctx *c) {
    const sqz_model_config *cfg = &c->m->cfg;
    return (size_t)cfg->n_layer * (size_t)(cfg->n_head_kv * cfg->head_dim) * sizeof(float) *
           (size_t)(2 * c->n_ctx_pad);
}

sqz_status sqz_ctx_eval(sqz_ctx *c, const int32_t *ids, int64_t n, sqz_eval_logits want, float *logits) {
    const sqz_model *m = c->m;
    int64_t nv = m->cfg.n_vocab, d = m->cfg.n_embd;
    SQZ_FAIL_IF(n < 1, SQZ_ERR_ARG, "eval: no tokens");
    SQZ_FAIL_IF(want != SQZ_LOGITS_NONE && !logits, SQZ_ERR_ARG, "eval: logits requested but no buffer given");
    SQZ_FAIL_IF(n > c->n_ctx - c->pos, SQZ_ERR_RANGE,
                "context overflow: %lld tokens at position %lld exceed the context size %lld", (long long)n,
                (long long)c->pos, (long long)c->n_ctx);
    for (int64_t i = 0; i < n; i++)
        SQZ_FAIL_IF(ids[i] < 0 || ids[i] >= nv, SQZ_ERR_RANGE, "token id %d at index %lld is outside the vocabulary [0, %lld)",
                    ids[i], (long long)i, (long long)nv);
    for (int64_t done = 0; done < n;) {
        int64_t nb = n - done < c->n_batch ? n - done : c->n_batch;
        if (m->cfg.arch == SQZ_ARCH_GPT2)
            sqz_forward_gpt2(c, ids + done, nb);
        else
            sqz_forward_llama(c, ids + done, nb);
        c->pos += nb;
        if (want == SQZ_LOGITS_ALL)
            sqz_linear_forward(c, &m->lm_head, c->xb, logits + done * nv, nb);
        else if (want == SQZ_LOGITS_LAST && done + nb == n)
            sqz_linear_forward(c, &m->lm_head, c->xb + (nb - 1) * d, logits, 1);
        done += nb;
    }
    return SQZ_OK;
}

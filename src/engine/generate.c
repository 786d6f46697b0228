// Generation (prompt → sampled continuation) and perplexity (llama-perplexity's default mode).
#include <math.h>
#include <stdlib.h>

#include "engine/internal.h"

sqz_status sqz_generate(sqz_ctx *c, sqz_sampler *s, const int32_t *prompt, int64_t n_prompt,
                        const sqz_generate_opts *o, int32_t *out, int64_t max_out, int64_t *n_out) {
    *n_out = 0;
    SQZ_FAIL_IF(n_prompt < 1, SQZ_ERR_ARG, "generate: empty prompt");
    SQZ_FAIL_IF(n_prompt > c->n_ctx, SQZ_ERR_RANGE, "prompt of %lld tokens does not fit the context size %lld",
                (long long)n_prompt, (long long)c->n_ctx);
    int64_t nv = c->m->cfg.n_vocab, eos = c->m->cfg.eos_id;
    float *logits = malloc((size_t)nv * sizeof *logits);
    SQZ_FAIL_IF(!logits, SQZ_ERR_NOMEM, "out of memory");
    sqz_ctx_reset(c);
    for (int64_t i = 0; i < n_prompt; i++)
        sqz_sampler_accept(s, prompt[i]);
    sqz_status st = sqz_ctx_eval(c, prompt, n_prompt, SQZ_LOGITS_LAST, logits);
    int64_t limit = o->n_predict < 0 || o->n_predict > max_out ? max_out : o->n_predict;
    while (st == SQZ_OK && *n_out < limit) {
        int32_t id = sqz_sampler_sample(s, logits);
        bool eog = c->m->tok ? sqz_tokenizer_is_eog(c->m->tok, id) || id == eos : id == eos;
        if (eog && !o->ignore_eos)
            break;
        sqz_sampler_accept(s, id);
        out[(*n_out)++] = id;
        if (o->on_token && o->on_token(o->user, id))
            break;
        if (o->should_stop && o->should_stop(o->user, out, *n_out))
            break;
        if (*n_out == limit || c->pos >= c->n_ctx) // the last token need not be evaluated
            break;
        st = sqz_ctx_eval(c, &id, 1, SQZ_LOGITS_LAST, logits);
    }
    free(logits);
    return st;
}

// -log softmax(row)[target], in double.
static double nll_of(const float *row, int64_t nv, int32_t target) {
    float max = row[0];
    for (int64_t i = 1; i < nv; i++)
        max = row[i] > max ? row[i] : max;
    double sum = 0;
    for (int64_t i = 0; i < nv; i++)
        sum += exp((double)row[i] - max);
    return log(sum) - ((double)row[target] - max);
}

sqz_status sqz_perplexity(sqz_ctx *c, const int32_t *tokens, int64_t n_tokens, int64_t n_chunk_ctx, int32_t bos_id,
                          sqz_ppl_cb cb, void *user, sqz_ppl_result *out) {
    SQZ_FAIL_IF(n_chunk_ctx < 4 || n_chunk_ctx > c->n_ctx, SQZ_ERR_ARG,
                "perplexity context %lld must be in [4, %lld] (the context size)", (long long)n_chunk_ctx,
                (long long)c->n_ctx);
    int64_t n_chunks = n_tokens / n_chunk_ctx, nv = c->m->cfg.n_vocab;
    SQZ_FAIL_IF(n_chunks < 1, SQZ_ERR_ARG, "perplexity needs at least %lld tokens (one chunk), got %lld",
                (long long)n_chunk_ctx, (long long)n_tokens);
    float *logits = malloc((size_t)n_chunk_ctx * (size_t)nv * sizeof *logits);
    int32_t *chunk = malloc((size_t)n_chunk_ctx * sizeof *chunk);
    if (!logits || !chunk) {
        free(logits), free(chunk);
        return sqz_error(SQZ_ERR_NOMEM, "out of memory");
    }
    double nll = 0, nll2 = 0;
    int64_t count = 0;
    sqz_status st = SQZ_OK;
    for (int64_t k = 0; k < n_chunks && st == SQZ_OK; k++) {
        const int32_t *w = tokens + k * n_chunk_ctx;
        for (int64_t j = 0; j < n_chunk_ctx; j++)
            chunk[j] = w[j];
        if (bos_id >= 0)
            chunk[0] = bos_id;
        sqz_ctx_reset(c);
        st = sqz_ctx_eval(c, chunk, n_chunk_ctx, SQZ_LOGITS_ALL, logits);
        for (int64_t j = n_chunk_ctx / 2; st == SQZ_OK && j < n_chunk_ctx - 1; j++) {
            double v = nll_of(logits + j * nv, nv, w[j + 1]);
            nll += v, nll2 += v * v, count++;
        }
        if (st == SQZ_OK && cb)
            cb(user, k, n_chunks, exp(nll / (double)count));
    }
    free(logits), free(chunk);
    SQZ_TRY(st);
    double mean = nll / (double)count, var = nll2 / (double)count - mean * mean;
    out->n_chunks = n_chunks, out->n_scored = count;
    out->ppl = exp(mean);
    out->ppl_err = var > 0 && count > 1 ? sqrt(var / (double)(count - 1)) * out->ppl : 0;
    return SQZ_OK;
}

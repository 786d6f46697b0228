// Sampling, in llama.cpp's default order: repetition penalty → top-k → top-p → min-p →
// temperature → draw. top-p and min-p look at the softmax of the untempered logits, as there.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

struct sqz_sampler {
    sqz_sampler_params p;
    int64_t n_vocab;
    uint64_t rng;
    int32_t *hist; // ring of the last repeat_last_n accepted ids
    int64_t n_hist, hist_at;
    float *logit;  // [n_vocab] working copy
    int32_t *cand; // [n_vocab] candidate ids, best first
    float *prob;   // [n_vocab]
};

sqz_sampler_params sqz_sampler_default_params(void) {
    return (sqz_sampler_params){.temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .repeat_penalty = 1.0f,
                                .repeat_last_n = 64, .seed = 0};
}

sqz_status sqz_sampler_new(sqz_sampler **out, const sqz_sampler_params *p, int64_t n_vocab) {
    *out = NULL;
    SQZ_FAIL_IF(!isfinite(p->temp), SQZ_ERR_ARG, "temperature must be a finite number");
    SQZ_FAIL_IF(!(p->top_p > 0.0f && p->top_p <= 1.0f), SQZ_ERR_ARG, "top-p must be in (0, 1], got %g", p->top_p);
    SQZ_FAIL_IF(!(p->min_p >= 0.0f && p->min_p <= 1.0f), SQZ_ERR_ARG, "min-p must be in [0, 1], got %g", p->min_p);
    SQZ_FAIL_IF(!(p->repeat_penalty > 0.0f) || !isfinite(p->repeat_penalty), SQZ_ERR_ARG,
                "repeat penalty must be > 0, got %g", p->repeat_penalty);
    SQZ_FAIL_IF(p->repeat_last_n < 0, SQZ_ERR_ARG, "repeat-last-n must be >= 0, got %d", p->repeat_last_n);
    SQZ_FAIL_IF(p->top_k < 0, SQZ_ERR_ARG, "top-k must be >= 0, got %d", p->top_k);
    SQZ_FAIL_IF(n_vocab < 1, SQZ_ERR_ARG, "sampler: empty vocabulary");
    sqz_sampler *s = calloc(1, sizeof *s);
    SQZ_FAIL_IF(!s, SQZ_ERR_NOMEM, "out of memory");
    s->p = *p, s->n_vocab = n_vocab;
    s->rng = p->seed ^ 0x9e3779b97f4a7c15ull;
    s->hist = malloc(((size_t)p->repeat_last_n + 1) * sizeof *s->hist);
    s->logit = malloc((size_t)n_vocab * sizeof *s->logit);
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->prob = malloc((size_t)n_vocab * sizeof *s->prob);
    if (!s->hist || !s->logit || !s->cand || !s->prob) {
        sqz_sampler_free(s);
        return sqz_error(SQZ_ERR_NOMEM, "out of memory");
    }
    *out = s;
    return SQZ_OK;
}

void sqz_sampler_free(sqz_sampler *s) {
    if (!s)
        return;
    free(s->hist), free(s->logit), free(s->cand), free(s->prob);
    free(s);
}

void sqz_sampler_accept(sqz_sampler *s, int32_t id) {
    if (s->p.repeat_last_n == 0)
        return;
    s->hist[s->hist_at] = id;
    s->hist_at = (s->hist_at + 1) % s->p.repeat_last_n;
    if (s->n_hist < s->p.repeat_last_n)
        s->n_hist++;
}

static double next_uniform(sqz_sampler *s) { // splitmix64 → [0, 1)
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) * (1.0 / 9007199254740992.0);
}

static int32_t argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return (int32_t)best;
}

static _Thread_local const float *cmp_logits; // qsort has no context argument
static int by_logit_desc(const void *a, const void *b) {
    float x = cmp_logits[*(const int32_t *)a], y = cmp_logits[*(const int32_t *)b];
    if (x != y)
        return x > y ? -1 : 1;
    return *(const int32_t *)a - *(const int32_t *)b;
}

// Candidates sorted best first; with top-k only the k best are kept (heap-free: one partial pass).
static int64_t sort_candidates(sqz_sampler *s) {
    int64_t n = s->n_vocab, k = s->p.top_k > 0 && s->p.top_k < n ? s->p.top_k : n;
    for (int64_t i = 0; i < n; i++)
        s->cand[i] = (int32_t)i;
    cmp_logits = s->logit;
    if (k < n && k <= 256) { // selection: keep a sorted prefix of k
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++) {
            if (m == k && s->logit[i] <= s->logit[s->cand[m - 1]])
                continue;
            int64_t j = m < k ? m++ : k - 1;
            while (j > 0 && s->logit[s->cand[j - 1]] < s->logit[i])
                s->cand[j] = s->cand[j - 1], j--;
            s->cand[j] = (int32_t)i;
        }
        return k;
    }
    qsort(s->cand, (size_t)n, sizeof *s->cand, by_logit_desc);
    return k;
}

static void penalize(sqz_sampler *s) {
    if (s->p.repeat_penalty == 1.0f)
        return;
    for (int64_t i = 0; i < s->n_hist; i++) {
        int32_t id = s->hist[i];
        bool seen = false; // each distinct id once
        for (int64_t j = 0; j < i; j++)
            seen |= s->hist[j] == id;
        if (seen || id < 0 || id >= s->n_vocab)
            continue;
        float *l = &s->logit[id];
        *l = *l > 0 ? *l / s->p.repeat_penalty : *l * s->p.repeat_penalty;
    }
}

int32_t sqz_sampler_sample(sqz_sampler *s, const float *logits) {
    memcpy(s->logit, logits, (size_t)s->n_vocab * sizeof *s->logit);
    penalize(s);
    if (s->p.temp <= 0.0f)
        return argmax(s->logit, s->n_vocab);
    int64_t n = sort_candidates(s);
    // softmax of the untempered logits for top-p / min-p
    float max = s->logit[s->cand[0]];
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += s->prob[i] = expf(s->logit[s->cand[i]] - max);
    double cum = 0;
    for (int64_t i = 0; i < n; i++) { // top-p: smallest prefix whose mass reaches p
        cum += s->prob[i] / sum;
        if (cum >= s->p.top_p) {
            n = i + 1;
            break;
        }
    }
    for (int64_t i = 1; i < n; i++) // min-p: drop tokens below min_p * p(best)
        if (s->prob[i] < s->p.min_p * s->prob[0]) {
            n = i;
            break;
        }
    // temperature, then draw from the renormalized survivors
    sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += s->prob[i] = expf((s->logit[s->cand[i]] - max) / s->p.temp);
    double r = next_uniform(s) * sum;
    for (int64_t i = 0; i < n; i++) {
        r -= s->prob[i];
        if (r < 0)
            return s->cand[i];
    }
    return s->cand[n - 1];
}

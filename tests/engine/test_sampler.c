// Sampler unit tests: greedy ties, top-k, top-p, min-p, temperature, repetition penalty (llama.cpp's
// rule and window), seeding, parameter validation. Distribution checks draw 20000 samples and compare
// frequencies with the probabilities the filters should leave (tolerance 0.02 absolute).
#include <stdlib.h>

#include "harness.h"
#include "sqz.h"

#define NV 6
#define DRAWS 20000

static sqz_sampler *make(float temp, int top_k, float top_p, float min_p, float rep, int last_n, uint64_t seed) {
    sqz_sampler_params p = {.temp = temp, .top_k = top_k, .top_p = top_p, .min_p = min_p, .repeat_penalty = rep,
                            .repeat_last_n = last_n, .seed = seed};
    sqz_sampler *s = NULL;
    CHECK_OK(sqz_sampler_new(&s, &p, NV));
    return s;
}

// Frequencies of each id over DRAWS samples.
static void histogram(sqz_sampler *s, const float *logits, double *freq) {
    int counts[NV] = {0};
    for (int i = 0; i < DRAWS; i++) {
        int32_t id = sqz_sampler_sample(s, logits);
        if (id >= 0 && id < NV)
            counts[id]++;
    }
    for (int i = 0; i < NV; i++)
        freq[i] = (double)counts[i] / DRAWS;
}

// Expected distribution: softmax(logits / temp) restricted to ids [0, keep) (logits sorted descending).
static void expected(const float *logits, int keep, float temp, double *want) {
    double sum = 0;
    for (int i = 0; i < NV; i++)
        sum += want[i] = i < keep ? exp((logits[i] - logits[0]) / temp) : 0.0;
    for (int i = 0; i < NV; i++)
        want[i] /= sum;
}

static void check_dist(const char *what, const double *got, const double *want) {
    double worst = 0;
    for (int i = 0; i < NV; i++)
        worst = fmax(worst, fabs(got[i] - want[i]));
    CHECK_MSG(worst < 0.02, "%s: max |freq - p| = %.4f", what, worst);
}

int main(void) {
    // softmax of these (temp 1): ≈ 0.4316 0.2618 0.1588 0.0963 0.0354 0.0161 (sorted, distinct)
    const float lg[NV] = {2.0f, 1.5f, 1.0f, 0.5f, -0.5f, -1.3f};
    double got[NV], want[NV];

    // greedy: argmax, ties → lowest id
    sqz_sampler *s = make(0.0f, 40, 0.95f, 0.05f, 1.0f, 64, 1);
    const float tie[NV] = {0.1f, 3.0f, 3.0f, -1.0f, 2.9f, 0.0f};
    CHECK(sqz_sampler_sample(s, tie) == 1);
    CHECK(sqz_sampler_sample(s, lg) == 0);
    sqz_sampler_free(s);

    // no filters, temp 1: the full softmax
    s = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 64, 11);
    histogram(s, lg, got), expected(lg, NV, 1.0f, want), check_dist("plain softmax", got, want);
    sqz_sampler_free(s);
    // temperature 0.5 sharpens: softmax(l / 0.5)
    s = make(0.5f, 0, 1.0f, 0.0f, 1.0f, 64, 12);
    histogram(s, lg, got), expected(lg, NV, 0.5f, want), check_dist("temp 0.5", got, want);
    sqz_sampler_free(s);
    // top-k 2: only the two best, renormalized
    s = make(1.0f, 2, 1.0f, 0.0f, 1.0f, 64, 13);
    histogram(s, lg, got), expected(lg, 2, 1.0f, want), check_dist("top-k 2", got, want);
    CHECK(got[2] == 0 && got[5] == 0);
    sqz_sampler_free(s);
    // top-k 1 with a temperature is greedy
    s = make(1.5f, 1, 1.0f, 0.0f, 1.0f, 64, 14);
    histogram(s, lg, got);
    CHECK(got[0] == 1.0);
    sqz_sampler_free(s);
    // top-p 0.6: smallest prefix with mass ≥ 0.6 is {0, 1} (0.43, then 0.69)
    s = make(1.0f, 0, 0.6f, 0.0f, 1.0f, 64, 15);
    histogram(s, lg, got), expected(lg, 2, 1.0f, want), check_dist("top-p 0.6", got, want);
    sqz_sampler_free(s);
    // top-p 0.8: {0, 1, 2} (0.85)
    s = make(1.0f, 0, 0.8f, 0.0f, 1.0f, 64, 16);
    histogram(s, lg, got), expected(lg, 3, 1.0f, want), check_dist("top-p 0.8", got, want);
    sqz_sampler_free(s);
    // min-p 0.3: keep p ≥ 0.3·p(best) = 0.129: ids 0, 1, 2 (0.159 ≥ 0.129 > 0.096)
    s = make(1.0f, 0, 1.0f, 0.3f, 1.0f, 64, 17);
    histogram(s, lg, got), expected(lg, 3, 1.0f, want), check_dist("min-p 0.3", got, want);
    sqz_sampler_free(s);
    // min-p looks at the untempered probabilities; the temperature applies to the survivors
    s = make(2.0f, 0, 1.0f, 0.3f, 1.0f, 64, 18);
    histogram(s, lg, got), expected(lg, 3, 2.0f, want), check_dist("min-p 0.3, temp 2", got, want);
    sqz_sampler_free(s);

    // repetition penalty (llama.cpp rule): a seen positive logit is divided, a negative one multiplied
    s = make(0.0f, 40, 1.0f, 0.0f, 1.5f, 3, 1);
    const float pos[NV] = {2.0f, 1.9f, 0.0f, -5.0f, -5.0f, -5.0f};
    CHECK(sqz_sampler_sample(s, pos) == 0);
    sqz_sampler_accept(s, 0); // 2.0 / 1.5 = 1.33 < 1.9
    CHECK(sqz_sampler_sample(s, pos) == 1);
    sqz_sampler_accept(s, 0); // the same id twice is penalized once (1.33, not 0.89): 1.9 still wins,
    sqz_sampler_accept(s, 1); // then id 1 too: 1.9 / 1.5 = 1.27 < 1.33
    CHECK(sqz_sampler_sample(s, pos) == 0);
    sqz_sampler_accept(s, 4), sqz_sampler_accept(s, 4); // window of 3: {4, 4, 1}, id 0 dropped out
    const float third[NV] = {2.0f, 1.9f, 1.5f, -5.0f, -5.0f, -5.0f}; // 0 penalized would lose to 2 (1.33 < 1.5)
    CHECK(sqz_sampler_sample(s, third) == 0);
    sqz_sampler_free(s);
    s = make(0.0f, 40, 1.0f, 0.0f, 1.5f, 8, 1);
    const float neg[NV] = {-1.0f, -1.2f, -9.0f, -9.0f, -9.0f, -9.0f};
    sqz_sampler_accept(s, 0); // -1.0 · 1.5 = -1.5 < -1.2
    CHECK(sqz_sampler_sample(s, neg) == 1);
    sqz_sampler_free(s);

    // seeds: the same seed repeats the sequence, another seed gives another one
    int32_t a[64], b[64], c[64];
    sqz_sampler *s1 = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 64, 42), *s2 = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 64, 42),
                *s3 = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 64, 43);
    for (int i = 0; i < 64; i++)
        a[i] = sqz_sampler_sample(s1, lg), b[i] = sqz_sampler_sample(s2, lg), c[i] = sqz_sampler_sample(s3, lg);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    sqz_sampler_free(s1), sqz_sampler_free(s2), sqz_sampler_free(s3);

    // validation
    sqz_sampler_params p = sqz_sampler_default_params();
    CHECK(p.temp == 0.8f && p.top_k == 40 && p.top_p == 0.95f && p.min_p == 0.05f);
    sqz_sampler *bad = NULL;
    p.top_p = 0.0f;
    CHECK_ERR(sqz_sampler_new(&bad, &p, NV), SQZ_ERR_ARG, "top-p");
    p = sqz_sampler_default_params(), p.min_p = 1.5f;
    CHECK_ERR(sqz_sampler_new(&bad, &p, NV), SQZ_ERR_ARG, "min-p");
    p = sqz_sampler_default_params(), p.repeat_penalty = 0.0f;
    CHECK_ERR(sqz_sampler_new(&bad, &p, NV), SQZ_ERR_ARG, "repeat penalty");
    p = sqz_sampler_default_params(), p.top_k = -1;
    CHECK_ERR(sqz_sampler_new(&bad, &p, NV), SQZ_ERR_ARG, "top-k");
    p = sqz_sampler_default_params(), p.temp = NAN;
    CHECK_ERR(sqz_sampler_new(&bad, &p, NV), SQZ_ERR_ARG, "temperature");
    p = sqz_sampler_default_params();
    CHECK_ERR(sqz_sampler_new(&bad, &p, 0), SQZ_ERR_ARG, "vocabulary");
    CHECK(bad == NULL);
    sqz_sampler_free(NULL);
    return test_summary();
}

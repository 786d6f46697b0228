// GPTQ time for one linear layer: accumulate the Hessian of n_seq × seq_len calibration rows, then
// quantize (4-bit, group 128, act-order). Default shape: TinyLlama's down_proj, [2048][5632] (the
// largest Hessian of the model; 128 × 512 rows, as the GPTQ paper's calibration set).
//   build/bench/quant [n_out n_in n_seq seq_len]
// OpenBLAS misdetects Zen 5: run with OPENBLAS_CORETYPE=SkylakeX for its AVX-512 kernels.
#include <stdio.h>
#include <stdlib.h>

#include "sqz.h"
#include "sqz/quant.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float urand(void) { // uniform in [-1, 1)
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)(rng >> 40) / 8388608.0f - 1.0f;
}

int main(int argc, char **argv) {
    int64_t n_out = argc > 1 ? atoll(argv[1]) : 2048, n_in = argc > 2 ? atoll(argv[2]) : 5632;
    int64_t n_seq = argc > 3 ? atoll(argv[3]) : 128, seq_len = argc > 4 ? atoll(argv[4]) : 512;
    float *w = malloc((size_t)(n_out * n_in) * sizeof *w), *x = malloc((size_t)(seq_len * n_in) * sizeof *x);
    float *chan = malloc((size_t)n_in * sizeof *chan);
    if (!w || !x || !chan)
        return 1;
    for (int64_t i = 0; i < n_out * n_in; i++)
        w[i] = 0.02f * urand();
    for (int64_t i = 0; i < n_in; i++) // uneven channel magnitudes, as real activations have
        chan[i] = 0.1f + 2.0f * (urand() + 1.0f) * (i % 97 == 0 ? 10.0f : 1.0f);
    sqz_actstats *st = NULL;
    if (sqz_actstats_new(n_in, &st) != SQZ_OK) {
        fprintf(stderr, "%s\n", sqz_last_error());
        return 1;
    }
    double t_gen = 0.0, t0 = sqz_time_now();
    for (int64_t s = 0; s < n_seq; s++) {
        double g0 = sqz_time_now();
        for (int64_t r = 0; r < seq_len; r++) {
            float common = urand(); // a shared component correlates the channels
            for (int64_t i = 0; i < n_in; i++)
                x[r * n_in + i] = chan[i] * (urand() + 0.5f * common);
        }
        t_gen += sqz_time_now() - g0;
        if (sqz_actstats_add(st, x, seq_len) != SQZ_OK) {
            fprintf(stderr, "%s\n", sqz_last_error());
            return 1;
        }
    }
    double t_hess = sqz_time_now() - t0 - t_gen;
    sqz_gptq_params p = {.q = {4, 128, true}, .act_order = true, .damp = 0.01, .block = 128};
    sqz_qweight *q = NULL;
    t0 = sqz_time_now();
    if (sqz_quant_gptq(w, n_out, n_in, st, p, &q) != SQZ_OK) {
        fprintf(stderr, "%s\n", sqz_last_error());
        return 1;
    }
    double t_gptq = sqz_time_now() - t0;
    printf("gptq [%lld][%lld], %lld x %lld calibration rows: hessian %.2f s, quantize %.2f s (4-bit, group 128, "
           "act_order), loss %.4g\n",
           (long long)n_out, (long long)n_in, (long long)n_seq, (long long)seq_len, t_hess, t_gptq, q->loss);
    sqz_qweight_free(q);
    sqz_actstats_free(st);
    free(w);
    free(x);
    free(chan);
    return 0;
}

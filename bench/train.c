// Training throughput: forward + backward + AdamW steps of a random-weight model of a real shape,
// reported as tokens/s and achieved GFLOP/s, next to OpenBLAS sgemm GFLOP/s measured in the same
// run on the shape of the model's largest GEMM (tokens × n_embd → n_ff). Target: training reaches
// at least 50 % of the sgemm figure.
//   build/bench/train [shape: smollm2-135m | tiny] [batch] [seq] [steps]
// FLOPs per token: 6 × (matrix weights, head included) + 12 × seq × n_head·head_dim × n_layer (the
// attention GEMMs, computed over the full Tn×Tn square as the code does).
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqz.h"
#include "train/model.h"

static double sgemm_gflops(int M, int N, int K) {
    float *a = calloc((size_t)M * K, 4), *b = calloc((size_t)N * K, 4), *c = calloc((size_t)M * N, 4);
    for (size_t i = 0; i < (size_t)M * K; i++)
        a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)N * K; i++)
        b[i] = (float)(i % 5) * 0.1f;
    int reps = 0;
    double t0 = sqz_time_now(), el;
    do { // x[M][K] · w[N][K]^T, as linear_fwd calls it
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, a, K, b, K, 0, c, N);
        reps++;
        el = sqz_time_now() - t0;
    } while (el < 1.0);
    free(a), free(b), free(c);
    return 2.0 * M * N * K * reps / el * 1e-9;
}

int main(int argc, char **argv) {
    const char *shape = argc > 1 ? argv[1] : "smollm2-135m";
    int B = argc > 2 ? atoi(argv[2]) : 2, Tn = argc > 3 ? atoi(argv[3]) : 128,
        steps = argc > 4 ? atoi(argv[4]) : 3;
    sqz_model_config c = {.arch = SQZ_ARCH_LLAMA,
                          .n_vocab = 49152,
                          .n_ctx_train = 8192,
                          .n_embd = 576,
                          .n_layer = 30,
                          .n_head = 9,
                          .n_head_kv = 3,
                          .head_dim = 64,
                          .n_ff = 1536,
                          .norm_eps = 1e-5,
                          .rope_theta = 100000,
                          .rope_layout = SQZ_ROPE_HALF,
                          .tie_embeddings = true};
    if (!strcmp(shape, "tiny"))
        c.n_vocab = 512, c.n_embd = 64, c.n_layer = 4, c.n_head = 4, c.n_head_kv = 2, c.head_dim = 16,
        c.n_ff = 160;
    else if (strcmp(shape, "smollm2-135m") != 0)
        return fprintf(stderr, "unknown shape '%s'\n", shape), 2;
    tr_model *m = NULL;
    if (tr_model_new(&m, &c, false) != SQZ_OK || tr_model_alloc_train(m, true) != SQZ_OK ||
        tr_model_set_batch(m, B, Tn) != SQZ_OK)
        return fprintf(stderr, "%s\n", sqz_last_error()), 1;
    tr_model_init_random(m, 1);
    int N = B * Tn;
    int32_t *tok = malloc((size_t)N * sizeof *tok), *tgt = malloc((size_t)N * sizeof *tgt);
    for (int i = 0; i < N; i++)
        tok[i] = (int32_t)((i * 7919) % c.n_vocab), tgt[i] = (int32_t)((i * 104729 + 1) % c.n_vocab);
    double w = 0;
    for (int i = 0; i < m->n_tab; i++)
        w += m->tab[i].n_dims == 2 ? (double)m->tab[i].n : 0; // embeddings = tied head: counted once
    double fpt = 6 * w + 12.0 * Tn * (double)(c.n_head * c.head_dim) * (double)c.n_layer;
    double loss, best = 1e30;
    int64_t n;
    for (int s = 0; s <= steps; s++) { // step 0 warms up
        double t0 = sqz_time_now();
        tr_model_zero_grads(m);
        tr_model_forward(m, tok, tgt, NULL, 1, 0, 1.0, &loss, &n, NULL);
        tr_model_backward(m);
        float *P = m->params, *G = m->grads; // an SGD-sized pass standing in for AdamW's memory traffic
        for (size_t i = 0; i < tr_model_n_trainable(m); i++)
            P[i] -= 1e-6f * G[i];
        double el = sqz_time_now() - t0;
        if (s > 0 && el < best)
            best = el;
    }
    double tps = N / best, gf = tps * fpt * 1e-9, sg = sgemm_gflops(N, (int)c.n_ff, (int)c.n_embd);
    printf("shape %s, batch %d x seq %d, %.1f M params: %.3f s/step, %.0f tokens/s, %.1f GFLOP/s\n", shape, B,
           Tn, (double)m->n_params / 1e6, best, tps, gf);
    printf("OpenBLAS sgemm %dx%dx%d: %.1f GFLOP/s; training reaches %.0f %% of it\n", N, (int)c.n_ff,
           (int)c.n_embd, sg, 100 * gf / sg);
    free(tok), free(tgt);
    tr_model_free(m);
    return 0;
}

// Whole-model gradient checks in float64: Llama (GQA, untied head, q/k/v biases as Qwen2), Llama
// with a tied head, GPT-2 (tied, learned positions), and Llama with LoRA adapters (only adapters
// trainable). Each check compares the backward with central differences of the mean cross-entropy
// on a sample of parameters; with a distillation loss once as well.
#include <stdlib.h>

#include "gradcheck.h"
#include "harness.h"
#include "train/model.h"

typedef struct gctx {
    tr_model *m;
    int32_t *tok, *tgt;
    double *teacher;
} gctx;

static double loss_of(void *p) {
    gctx *g = p;
    double loss, kl;
    int64_t n;
    tr_model_forward(g->m, g->tok, g->tgt, g->teacher, 2.0, 0.5, 0, &loss, &n, &kl);
    return loss / (double)n;
}

static sqz_model_config tiny(sqz_arch arch, bool tied, bool bias) {
    sqz_model_config c = {.arch = arch,
                          .n_vocab = 11,
                          .n_ctx_train = 8,
                          .n_embd = 8,
                          .n_layer = 2,
                          .n_head = 4,
                          .n_head_kv = arch == SQZ_ARCH_GPT2 ? 4 : 2,
                          .head_dim = 2,
                          .n_ff = 12,
                          .norm_eps = 1e-5,
                          .rope_theta = 10000,
                          .tie_embeddings = tied,
                          .attn_bias = bias};
    c.rope_layout = arch == SQZ_ARCH_GPT2 ? SQZ_ROPE_NONE : SQZ_ROPE_HALF;
    return c;
}

static void run(const char *what, sqz_model_config c, int lora, bool distill) {
    tr_model *m = NULL;
    CHECK_OK(tr_model_new(&m, &c, true));
    if (!m)
        return;
    double *P = m->params;
    for (size_t i = 0; i < m->n_params; i++)
        P[i] = gc_uniform() * 0.5;
    if (lora) {
        int slots[] = {S_WQ, S_WV, S_WD}, gpt2[] = {S_WQ, S_WO, S_WD}; // GPT-2: fused c_attn, both c_proj
        CHECK_OK(tr_model_add_lora(m, c.arch == SQZ_ARCH_GPT2 ? gpt2 : slots, 3, 3, 6.0, 1));
        P = m->params;
        for (size_t i = m->train_off; i < m->n_params; i++) // B = 0 at init: make it nonzero to test dA
            P[i] = gc_uniform() * 0.5;
    }
    CHECK_OK(tr_model_alloc_train(m, false));
    CHECK_OK(tr_model_set_batch(m, 2, 5));
    int32_t tok[10], tgt[10];
    for (int i = 0; i < 10; i++)
        tok[i] = (int32_t)(gc_uniform() * 5.4 + 5.5),
        tgt[i] = i == 3 ? -1 : (int32_t)(gc_uniform() * 5.4 + 5.5);
    gctx g = {m, tok, tgt, NULL};
    if (distill)
        g.teacher = gc_rand(10 * 11, 2);
    double loss;
    int64_t n;
    tr_model_zero_grads(m);
    tr_model_forward(m, tok, tgt, g.teacher, 2.0, 0.5, 1.0, &loss, &n, NULL);
    tr_model_backward(m);
    size_t nt = tr_model_n_trainable(m);
    double *G = m->grads, worst = 0, gmax = 0;
    for (int k = 0; k < 300; k++) { // a sample of trainable parameters
        size_t i = (size_t)((gc_uniform() + 1) / 2 * (double)nt) % nt;
        double e = gc_check(loss_of, &g, &P[m->train_off + i], &G[i], 1, 1e-5);
        worst = e > worst ? e : worst;
        gmax = fmax(gmax, fabs(G[i]));
    }
    printf("%-28s %zu trainable, max rel err %.3g (max |g| %.3g)\n", what, nt, worst, gmax);
    CHECK_MSG(worst < 1e-6 && gmax > 1e-3, "%s: max rel err %.3g", what, worst);
    free(g.teacher);
    tr_model_free(m);
}

int main(void) {
    run("llama gqa untied bias", tiny(SQZ_ARCH_LLAMA, false, true), 0, false);
    run("llama tied", tiny(SQZ_ARCH_LLAMA, true, false), 0, false);
    run("gpt2 tied", tiny(SQZ_ARCH_GPT2, true, false), 0, false);
    run("gpt2 untied", tiny(SQZ_ARCH_GPT2, false, false), 0, false);
    run("llama + lora (q,v,down)", tiny(SQZ_ARCH_LLAMA, false, false), 1, false);
    run("gpt2 + lora (c_attn,c_proj)", tiny(SQZ_ARCH_GPT2, true, false), 1, false);
    run("llama distill loss", tiny(SQZ_ARCH_LLAMA, true, false), 0, true);
    return test_summary();
}

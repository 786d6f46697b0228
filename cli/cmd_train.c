// sqz train pretrain|lora|distill — see docs/training.md.
#include <math.h>
#include <string.h>

#include "cli.h"

static const char *const USAGE =
    "usage: sqz train pretrain --config CONFIG_JSON [--init MODEL] --corpus PATH -o DIR [budget]\n"
    "       sqz train lora --base MODEL [--rank R] [--alpha A] [--targets q_proj,v_proj,...|c_attn,c_proj,...]\n"
    "                      [--merge] --corpus PATH -o ADAPTER_DIR [budget]\n"
    "       sqz train distill --teacher MODEL --student LAYERS|CONFIG [--tau T] [--kl-weight W]\n"
    "                      LAYERS: every2 | 0,2,4,...  CONFIG: student.json[:0,2,...] (narrower HF config)\n"
    "                      --corpus PATH -o DIR [budget]\n"
    "       sqz train merge --base MODEL --adapter ADAPTER_DIR -o OUT_DIR\n"
    "budget and options: --steps N | --tokens N, --lr X, --batch B, --seq T, --accum K, --seed S,\n"
    "  --threads N, --warmup N, --weight-decay X, --clip X, --eval-every N, --eval-batches N, --ckpt-every "
    "N,\n"
    "  --stop-after N, --resume, --tokenizer PATH|bytes, --corpus-bytes N, --quiet\n";

static void progress(const sqz_train_progress *p, void *user) {
    int quiet = *(int *)user;
    if (quiet && isnan(p->eval_loss))
        return;
    printf("step %lld/%lld  loss %.4f", (long long)p->step, (long long)p->steps, p->loss);
    if (p->kl > 0)
        printf("  kl %.4f", p->kl);
    printf("  lr %.3g  |g| %.3g  %.0f tok/s  eta %.0fs", p->lr, p->grad_norm, p->tokens_per_s, p->eta_s);
    if (!isnan(p->eval_loss))
        printf("  held-out loss %.4f (ppl %.2f)", p->eval_loss, exp(p->eval_loss));
    if (!isnan(p->eval_kl))
        printf("  held-out kl %.4f", p->eval_kl);
    printf("\n");
    fflush(stdout);
}

static int parse_opt(sqz_train_opts *o, int *quiet, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    long long n;
    double d;
#define NEXT()                                                                                               \
    do {                                                                                                     \
        if (!v)                                                                                              \
            return cli_usage_error("train", "%s needs a value", a);                                          \
        (*i)++;                                                                                              \
    } while (0)
#define INT(field)                                                                                           \
    do {                                                                                                     \
        NEXT();                                                                                              \
        if (!cli_parse_int("train", a, v, &n))                                                               \
            return 2;                                                                                        \
        field = n;                                                                                           \
    } while (0)
#define DBL(field)                                                                                           \
    do {                                                                                                     \
        NEXT();                                                                                              \
        if (!cli_parse_double("train", a, v, &d))                                                            \
            return 2;                                                                                        \
        field = d;                                                                                           \
    } while (0)
    if (!strcmp(a, "--config") || !strcmp(a, "--base") || !strcmp(a, "--teacher")) {
        NEXT();
        o->model = v;
    } else if (!strcmp(a, "--init")) {
        NEXT();
        o->init = v;
    } else if (!strcmp(a, "--student")) {
        NEXT();
        o->student = v;
    } else if (!strcmp(a, "--corpus")) {
        NEXT();
        o->corpus = v;
    } else if (!strcmp(a, "--tokenizer")) {
        NEXT();
        o->tokenizer = v;
    } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
        NEXT();
        o->out_dir = v;
    } else if (!strcmp(a, "--targets")) {
        NEXT();
        o->lora_targets = v;
    } else if (!strcmp(a, "--steps"))
        INT(o->steps);
    else if (!strcmp(a, "--tokens"))
        INT(o->tokens);
    else if (!strcmp(a, "--batch"))
        INT(o->batch);
    else if (!strcmp(a, "--seq"))
        INT(o->seq);
    else if (!strcmp(a, "--accum"))
        INT(o->accum);
    else if (!strcmp(a, "--seed"))
        INT(o->seed);
    else if (!strcmp(a, "--threads"))
        INT(o->threads);
    else if (!strcmp(a, "--warmup"))
        INT(o->warmup);
    else if (!strcmp(a, "--rank"))
        INT(o->lora_rank);
    else if (!strcmp(a, "--eval-every"))
        INT(o->eval_every);
    else if (!strcmp(a, "--eval-batches"))
        INT(o->eval_batches);
    else if (!strcmp(a, "--ckpt-every"))
        INT(o->ckpt_every);
    else if (!strcmp(a, "--stop-after"))
        INT(o->stop_after);
    else if (!strcmp(a, "--corpus-bytes"))
        INT(o->corpus_bytes);
    else if (!strcmp(a, "--lr"))
        DBL(o->lr);
    else if (!strcmp(a, "--alpha"))
        DBL(o->lora_alpha);
    else if (!strcmp(a, "--tau"))
        DBL(o->tau);
    else if (!strcmp(a, "--kl-weight"))
        DBL(o->alpha);
    else if (!strcmp(a, "--weight-decay"))
        DBL(o->weight_decay);
    else if (!strcmp(a, "--clip"))
        DBL(o->clip);
    else if (!strcmp(a, "--merge"))
        o->merge = true;
    else if (!strcmp(a, "--resume"))
        o->resume = true;
    else if (!strcmp(a, "--quiet"))
        *quiet = 1;
    else
        return cli_usage_error("train", "unknown option '%s'\n%s", a, USAGE);
    return 0;
#undef NEXT
#undef INT
#undef DBL
}

static int merge(int argc, char **argv) {
    const char *base = NULL, *adapter = NULL, *out = NULL;
    for (int i = 2; i < argc; i++) {
        const char **dst = !strcmp(argv[i], "--base")                                 ? &base
                           : !strcmp(argv[i], "--adapter")                            ? &adapter
                           : (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) ? &out
                                                                                      : NULL;
        if (!dst)
            return cli_usage_error("train", "unknown option '%s'\n%s", argv[i], USAGE);
        if (i + 1 >= argc)
            return cli_usage_error("train", "%s needs a value", argv[i]);
        *dst = argv[++i];
    }
    if (!base || !adapter || !out)
        return cli_usage_error("train", "merge needs --base, --adapter and -o\n%s", USAGE);
    if (sqz_train_lora_merge(base, adapter, out) != SQZ_OK)
        return cli_fail("train");
    printf("merged %s into %s -> %s\n", adapter, base, out);
    return 0;
}

int sqz_cmd_train(int argc, char **argv) {
    if (argc < 2)
        return cli_usage_error("train", "missing mode\n%s", USAGE);
    if (!strcmp(argv[1], "merge"))
        return merge(argc, argv);
    sqz_train_opts o;
    sqz_train_opts_default(&o);
    if (!strcmp(argv[1], "pretrain"))
        o.mode = SQZ_TRAIN_PRETRAIN;
    else if (!strcmp(argv[1], "lora"))
        o.mode = SQZ_TRAIN_LORA, o.lr = 1e-3;
    else if (!strcmp(argv[1], "distill"))
        o.mode = SQZ_TRAIN_DISTILL, o.lr = 1e-4;
    else
        return cli_usage_error("train", "unknown mode '%s'\n%s", argv[1], USAGE);
    int quiet = 0;
    for (int i = 2; i < argc; i++) {
        int rc = parse_opt(&o, &quiet, argc, argv, &i);
        if (rc)
            return rc;
    }
    if (!o.model || !o.corpus || !o.out_dir)
        return cli_usage_error("train", "model, --corpus and -o are required\n%s", USAGE);
    o.progress = progress, o.user = &quiet;
    sqz_train_result r;
    if (sqz_train_run(&o, &r) != SQZ_OK)
        return cli_fail("train");
    printf("trained %lld steps, %lld tokens in %.1fs: %.0f tok/s, %.2f GFLOP/s; %lld trainable parameters\n",
           (long long)r.steps, (long long)r.tokens, r.seconds, r.tokens_per_s, r.gflops,
           (long long)r.n_trainable);
    printf("held-out loss %.4f -> %.4f (ppl %.2f -> %.2f)", r.eval_loss_before, r.eval_loss_after,
           exp(r.eval_loss_before), exp(r.eval_loss_after));
    if (!isnan(r.eval_kl_before))
        printf("; held-out KL to teacher %.4f -> %.4f", r.eval_kl_before, r.eval_kl_after);
    printf("\n");
    return 0;
}

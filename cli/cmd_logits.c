// sqz logits MODEL --ids "ID ID ..." [--out FILE] [-t N] [-c N] [-b N] [--exact] [--adapter DIR]
// With --out: little-endian float32 logits, row-major [n_tokens][n_vocab]. Without: top 5 per position.
#include <string.h>

#include "cli.h"

static const char *usage_text =
    "usage: sqz logits MODEL --ids \"ID ID ...\" [--out FILE] [-t THREADS] [-c CTX] [-b BATCH] [--exact]\n"
    "                  [--adapter DIR]\n"
    "  --out FILE   write float32 logits [n_tokens][n_vocab] (little-endian) instead of printing the top 5\n"
    "  -b BATCH     evaluate at most BATCH tokens per forward pass (default 512; 1 = token by token)\n"
    "  --exact      f32 activations for quantized weights (dequantize-then-dot reference path)\n"
    "  --adapter DIR  run a PEFT LoRA adapter directory on top of MODEL, unmerged\n";

static void print_top5(const float *row, int64_t nv, int64_t pos, int32_t id) {
    int32_t best[5];
    int nb = 0;
    for (int32_t v = 0; v < nv; v++) {
        if (nb == 5 && row[v] <= row[best[4]]) // not better than the current 5th
            continue;
        int j = nb < 5 ? nb++ : 4;
        while (j > 0 && row[best[j - 1]] < row[v])
            best[j] = best[j - 1], j--;
        best[j] = v;
    }
    printf("%lld (id %d):", (long long)pos, id);
    for (int k = 0; k < nb; k++)
        printf(" %d=%.4f", best[k], row[best[k]]);
    printf("\n");
}

int sqz_cmd_logits(int argc, char **argv) {
    const char *model = NULL, *ids_s = NULL, *out = NULL;
    long long threads = 0, n_ctx = 0, n_batch = 0;
    sqz_load_opts lo = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return printf("%s", usage_text), 0;
        else if (!strcmp(a, "--ids") && v)
            ids_s = v, i++;
        else if (!strcmp(a, "--out") && v)
            out = v, i++;
        else if (!strcmp(a, "--adapter") && v)
            lo.adapter = v, i++;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!cli_parse_int("logits", a, v, &threads))
                return 2;
            i++;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!cli_parse_int("logits", a, v, &n_ctx))
                return 2;
            i++;
        } else if (!strcmp(a, "-b") || !strcmp(a, "--batch")) {
            if (!cli_parse_int("logits", a, v, &n_batch) || n_batch < 1)
                return n_batch < 1 ? cli_usage_error("logits", "-b needs a positive count") : 2;
            i++;
        } else if (!strcmp(a, "--exact"))
            lo.exact = true;
        else if (a[0] == '-' || model)
            return cli_usage_error("logits", "unexpected argument '%s'\n%s", a, usage_text);
        else
            model = a;
    }
    if (!model || !ids_s)
        return cli_usage_error("logits", "MODEL and --ids are required\n%s", usage_text);
    int32_t *ids = NULL;
    int64_t n = 0;
    if (sqz_parse_ids(ids_s, &ids, &n) != SQZ_OK)
        return cli_usage_error("logits", "%s", sqz_last_error());
    if (n == 0) {
        free(ids);
        return cli_usage_error("logits", "--ids is empty");
    }
    sqz_model *m = NULL;
    sqz_ctx *c = NULL;
    float *lg = NULL;
    int rc = 1;
    if (sqz_model_load(&m, model, &lo) != SQZ_OK)
        goto done;
    int64_t nv = sqz_model_get_config(m)->n_vocab;
    if (n_ctx <= 0) // the model's context, or just enough for the ids when they need more
        n_ctx = n > sqz_model_get_config(m)->n_ctx_train ? n : 0;
    if (sqz_ctx_new(&c, m, n_ctx, n_batch, (int)threads) != SQZ_OK)
        goto done;
    lg = malloc((size_t)n * (size_t)nv * sizeof *lg);
    if (!lg) {
        sqz_error(SQZ_ERR_NOMEM, "out of memory for %lld x %lld logits", (long long)n, (long long)nv);
        goto done;
    }
    if (sqz_ctx_eval(c, ids, n, SQZ_LOGITS_ALL, lg) != SQZ_OK)
        goto done;
    if (out) {
        FILE *f = fopen(out, "wb");
        if (!f || fwrite(lg, sizeof *lg, (size_t)(n * nv), f) != (size_t)(n * nv) || fclose(f) != 0) {
            sqz_error(SQZ_ERR_IO, "%s: cannot write logits", out);
            goto done;
        }
    } else {
        for (int64_t p = 0; p < n; p++)
            print_top5(lg + p * nv, nv, p, ids[p]);
    }
    rc = 0;
done:
    if (rc)
        cli_fail("logits");
    free(lg), free(ids);
    sqz_ctx_free(c);
    sqz_model_free(m);
    return rc;
}

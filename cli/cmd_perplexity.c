// sqz perplexity MODEL (-f FILE | --ids-file FILE) [-c CTX] [-b BATCH] [-t THREADS] [--exact] [--adapter DIR]
// llama-perplexity's default mode: non-overlapping chunks of CTX tokens, each evaluated from a
// fresh cache with its first token replaced by BOS, second half scored. Prints the cumulative
// value after each chunk ("[1]43.4118,[2]...") and a final line "PPL = X +/- Y".
#include <string.h>

#include "cli.h"

static const char *usage_text =
    "usage: sqz perplexity MODEL (-f FILE | --ids-file FILE) [-c CTX] [-b BATCH] [-t THREADS] [--exact]\n"
    "                  [--adapter DIR]\n"
    "  -f FILE         text file (tokenized with the model's tokenizer, BOS added as it declares)\n"
    "  --ids-file FILE token ids (whitespace-separated) instead of text\n"
    "  -c CTX          chunk size (default 512)   -b BATCH  tokens per forward batch (default CTX)\n"
    "  --adapter DIR   run a PEFT LoRA adapter directory on top of MODEL, unmerged\n";

static void on_chunk(void *user, int64_t k, int64_t n, double ppl) {
    (void)user;
    printf("[%lld]%.4f,", (long long)k + 1, ppl);
    if (k + 1 == n)
        printf("\n");
    fflush(stdout);
}

int sqz_cmd_perplexity(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *ids_file = NULL;
    long long n_chunk = 512, n_batch = 0, threads = 0;
    sqz_load_opts lo = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return printf("%s", usage_text), 0;
        else if (!strcmp(a, "-f") && v)
            file = v, i++;
        else if (!strcmp(a, "--ids-file") && v)
            ids_file = v, i++;
        else if (!strcmp(a, "--adapter") && v)
            lo.adapter = v, i++;
        else if (!strcmp(a, "-c") || !strcmp(a, "-b") || !strcmp(a, "-t")) {
            long long *dst = a[1] == 'c' ? &n_chunk : a[1] == 'b' ? &n_batch : &threads;
            if (!cli_parse_int("perplexity", a, v, dst))
                return 2;
            i++;
        } else if (!strcmp(a, "--exact"))
            lo.exact = true;
        else if (a[0] == '-' || model)
            return cli_usage_error("perplexity", "unexpected argument '%s'\n%s", a, usage_text);
        else
            model = a;
    }
    if (!model || (!file == !ids_file))
        return cli_usage_error("perplexity", "MODEL and exactly one of -f / --ids-file are required\n%s", usage_text);
    if (n_chunk < 4 || n_batch < 0 || threads < 0)
        return cli_usage_error("perplexity", "-c must be >= 4; -b and -t >= 0");
    sqz_model *m = NULL;
    sqz_ctx *c = NULL;
    char *text = NULL;
    size_t len = 0;
    int32_t *ids = NULL;
    int64_t n_ids = 0;
    int32_t bos = -1;
    int rc = 1;
    if (sqz_read_file(file ? file : ids_file, &text, &len) != SQZ_OK || sqz_model_load(&m, model, &lo) != SQZ_OK)
        goto done;
    const sqz_tokenizer *tok = sqz_model_tokenizer(m);
    if (ids_file) {
        if (sqz_parse_ids(text, &ids, &n_ids) != SQZ_OK)
            goto done;
        bos = (int32_t)sqz_model_get_config(m)->bos_id;
    } else {
        size_t n = 0;
        if (!tok) {
            sqz_error(SQZ_ERR_UNSUPPORTED, "%s: no usable tokenizer (%s); use --ids-file", model,
                      sqz_model_tokenizer_error(m));
            goto done;
        }
        if (sqz_tokenizer_encode(tok, text, len, true, &ids, &n) != SQZ_OK)
            goto done;
        n_ids = (int64_t)n;
        bos = sqz_tokenizer_adds_bos(tok) ? sqz_tokenizer_bos(tok) : -1;
    }
    if (sqz_ctx_new(&c, m, n_chunk, n_batch > 0 ? n_batch : n_chunk, (int)threads) != SQZ_OK)
        goto done;
    fprintf(stderr, "perplexity: %lld tokens, %lld chunks of %lld, %d threads\n", (long long)n_ids,
            (long long)(n_ids / n_chunk), n_chunk, sqz_ctx_n_threads(c));
    sqz_ppl_result r;
    if (sqz_perplexity(c, ids, n_ids, n_chunk, bos, on_chunk, NULL, &r) != SQZ_OK)
        goto done;
    printf("PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_err);
    rc = 0;
done:
    if (rc)
        cli_fail("perplexity");
    free(text), free(ids);
    sqz_ctx_free(c);
    sqz_model_free(m);
    return rc;
}

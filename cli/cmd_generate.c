// sqz generate MODEL (-p PROMPT | --prompt-ids "ID ...") [-n N] [--temp T] [--top-k K] [--top-p P]
//   [--min-p P] [--repeat-penalty R] [--repeat-last-n N] [--seed S] [--stop STR]... [--stream]
//   [--ignore-eos] [--ids] [-t THREADS] [-c CTX] [--exact] [--adapter DIR]
// Prints the continuation (not the prompt); --ids prints the generated ids on one line instead.
#include <string.h>

#include "cli.h"

static const char *usage_text =
    "usage: sqz generate MODEL (-p PROMPT | --prompt-ids \"ID ...\") [options]\n"
    "  -n N              tokens to generate (default 128)\n"
    "  --temp T          temperature (default 0.8; 0 = greedy)\n"
    "  --top-k K --top-p P --min-p P --repeat-penalty R --repeat-last-n N --seed S\n"
    "  --stop STR        stop when STR appears in the output (repeatable; STR is not printed)\n"
    "  --stream          print tokens as they are generated\n"
    "  --ignore-eos      do not stop at the end-of-generation token\n"
    "  --ids             print generated token ids (space-separated) instead of text\n"
    "  -t THREADS        threads (default: physical cores)   -c CTX  context size\n"
    "  --exact           f32 activations for quantized weights (reference path)\n"
    "  --adapter DIR     run a PEFT LoRA adapter directory on top of MODEL, unmerged\n";

#define MAX_STOP 16

typedef struct {
    const sqz_tokenizer *tok;
    sqz_detok *detok;
    bool stream, print_ids;
    const char *stop[MAX_STOP];
    int n_stop;
    char *text; // decoded text so far (for stop strings)
    size_t len, cap;
    size_t printed; // bytes of text already written (streaming)
    size_t cut;     // where a stop string starts (or len)
} gen_state;

static int append(gen_state *g, const char *s, size_t n) {
    if (g->len + n + 1 > g->cap) {
        size_t cap = (g->len + n + 1) * 2;
        char *t = realloc(g->text, cap);
        if (!t)
            return 0;
        g->text = t, g->cap = cap;
    }
    memcpy(g->text + g->len, s, n);
    g->len += n;
    g->text[g->len] = 0;
    return 1;
}

// Earliest stop-string match in the text, or len.
static size_t stop_at(const gen_state *g) {
    size_t at = g->len;
    for (int i = 0; i < g->n_stop; i++) {
        const char *p = strstr(g->text ? g->text : "", g->stop[i]);
        if (p && (size_t)(p - g->text) < at)
            at = (size_t)(p - g->text);
    }
    return at;
}

// Longest suffix of the text that is a prefix of a stop string (held back while streaming).
static size_t held_back(const gen_state *g) {
    size_t hold = 0;
    for (int i = 0; i < g->n_stop; i++)
        for (size_t k = strlen(g->stop[i]) - 1; k > hold; k--)
            if (k <= g->len && !memcmp(g->text + g->len - k, g->stop[i], k))
                hold = k;
    return hold;
}

static int on_token(void *user, int32_t id) {
    gen_state *g = user;
    if (g->print_ids || !g->detok)
        return 0;
    const char *piece;
    size_t n;
    if (sqz_detok_push(g->detok, id, &piece, &n) != SQZ_OK || !append(g, piece, n))
        return 1;
    g->cut = stop_at(g);
    if (g->stream) {
        size_t upto = g->cut < g->len ? g->cut : g->len - held_back(g);
        if (upto > g->printed) {
            fwrite(g->text + g->printed, 1, upto - g->printed, stdout);
            fflush(stdout);
            g->printed = upto;
        }
    }
    return g->cut < g->len; // a stop string appeared
}

static int parse_sampling(int *i, int argc, char **argv, sqz_sampler_params *sp, int *ok) {
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    double d;
    long long k;
    *ok = 1;
    if (!strcmp(a, "--temp") || !strcmp(a, "--top-p") || !strcmp(a, "--min-p") || !strcmp(a, "--repeat-penalty")) {
        if (!(*ok = cli_parse_double("generate", a, v, &d)))
            return 1;
        if (!strcmp(a, "--temp"))
            sp->temp = (float)d;
        else if (!strcmp(a, "--top-p"))
            sp->top_p = (float)d;
        else if (!strcmp(a, "--min-p"))
            sp->min_p = (float)d;
        else
            sp->repeat_penalty = (float)d;
    } else if (!strcmp(a, "--top-k") || !strcmp(a, "--seed") || !strcmp(a, "--repeat-last-n")) {
        if (!(*ok = cli_parse_int("generate", a, v, &k)))
            return 1;
        if (!strcmp(a, "--top-k"))
            sp->top_k = k < -1 ? -2 : (int)k; // negative → rejected by the sampler
        else if (!strcmp(a, "--seed"))
            sp->seed = (uint64_t)k;
        else
            sp->repeat_last_n = (int)k;
    } else {
        return 0;
    }
    (*i)++;
    return 1;
}

int sqz_cmd_generate(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *prompt_ids = NULL;
    long long n_predict = 128, threads = 0, n_ctx = 0;
    bool ignore_eos = false;
    sqz_load_opts lo = {0};
    sqz_sampler_params sp = sqz_sampler_default_params();
    gen_state g = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok;
        if (parse_sampling(&i, argc, argv, &sp, &ok)) {
            if (!ok)
                return 2;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return printf("%s", usage_text), 0;
        else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && v)
            prompt = v, i++;
        else if (!strcmp(a, "--prompt-ids") && v)
            prompt_ids = v, i++;
        else if (!strcmp(a, "--adapter") && v)
            lo.adapter = v, i++;
        else if (!strcmp(a, "--stop") && v) {
            if (g.n_stop == MAX_STOP || !*v)
                return cli_usage_error("generate", "--stop: at most %d non-empty strings", MAX_STOP);
            g.stop[g.n_stop++] = v, i++;
        } else if (!strcmp(a, "-n") || !strcmp(a, "-t") || !strcmp(a, "-c")) {
            long long *dst = a[1] == 'n' ? &n_predict : a[1] == 't' ? &threads : &n_ctx;
            if (!cli_parse_int("generate", a, v, dst))
                return 2;
            i++;
        } else if (!strcmp(a, "--stream"))
            g.stream = true;
        else if (!strcmp(a, "--ignore-eos"))
            ignore_eos = true;
        else if (!strcmp(a, "--ids"))
            g.print_ids = true;
        else if (!strcmp(a, "--exact"))
            lo.exact = true;
        else if (a[0] == '-' || model)
            return cli_usage_error("generate", "unexpected argument '%s'\n%s", a, usage_text);
        else
            model = a;
    }
    if (!model || (!prompt == !prompt_ids))
        return cli_usage_error("generate", "MODEL and exactly one of -p / --prompt-ids are required\n%s", usage_text);
    if (n_predict < 0 || threads < 0 || n_ctx < 0)
        return cli_usage_error("generate", "-n, -t and -c must be >= 0");

    sqz_model *m = NULL;
    sqz_ctx *c = NULL;
    sqz_sampler *s = NULL;
    int32_t *ids = NULL, *out = NULL;
    int64_t n_ids = 0, n_out = 0;
    int rc = 1;
    if (prompt_ids && sqz_parse_ids(prompt_ids, &ids, &n_ids) != SQZ_OK) {
        rc = cli_usage_error("generate", "%s", sqz_last_error());
        goto done;
    }
    if (sqz_model_load(&m, model, &lo) != SQZ_OK)
        goto done;
    g.tok = sqz_model_tokenizer(m);
    if (!g.tok && (prompt || !g.print_ids)) {
        sqz_error(SQZ_ERR_UNSUPPORTED, "%s: no usable tokenizer (%s); use --prompt-ids and --ids", model,
                  sqz_model_tokenizer_error(m));
        goto done;
    }
    if (prompt) {
        size_t n = 0;
        if (sqz_tokenizer_encode(g.tok, prompt, strlen(prompt), true, &ids, &n) != SQZ_OK)
            goto done;
        n_ids = (int64_t)n;
    }
    if (n_ids == 0) {
        rc = cli_usage_error("generate", "the prompt is empty");
        goto done;
    }
    if (sqz_sampler_new(&s, &sp, sqz_model_get_config(m)->n_vocab) != SQZ_OK)
        goto done;
    if (n_ctx == 0) // the model's context, or enough for prompt + continuation when that is larger
        n_ctx = n_ids + n_predict > sqz_model_get_config(m)->n_ctx_train ? n_ids + n_predict : 0;
    if (sqz_ctx_new(&c, m, n_ctx, 0, (int)threads) != SQZ_OK)
        goto done;
    if (g.tok && !g.print_ids && sqz_detok_new(&g.detok, g.tok, true) != SQZ_OK)
        goto done;
    out = malloc(((size_t)n_predict + 1) * sizeof *out);
    sqz_generate_opts go = {.n_predict = n_predict, .ignore_eos = ignore_eos, .on_token = on_token, .user = &g};
    if (!out || sqz_generate(c, s, ids, n_ids, &go, out, n_predict, &n_out) != SQZ_OK)
        goto done;
    if (g.print_ids) {
        for (int64_t i = 0; i < n_out; i++)
            printf(i ? " %d" : "%d", out[i]);
        printf("\n");
    } else {
        const char *rest;
        size_t n;
        if (g.cut == g.len && sqz_detok_flush(g.detok, &rest, &n) == SQZ_OK)
            append(&g, rest, n), g.cut = stop_at(&g);
        size_t end = g.cut < g.len ? g.cut : g.len;
        if (end > g.printed)
            fwrite(g.text + g.printed, 1, end - g.printed, stdout);
        printf("\n");
    }
    rc = 0;
done:
    if (rc == 1)
        cli_fail("generate");
    free(ids), free(out), free(g.text);
    sqz_detok_free(g.detok);
    sqz_sampler_free(s);
    sqz_ctx_free(c);
    sqz_model_free(m);
    return rc;
}

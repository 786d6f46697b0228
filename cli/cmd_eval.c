// sqz eval MODEL --tasks t1,t2 [options]: run tasks on a model or variant, print a summary table,
// optionally store into the results database and write the full results as JSON (docs/tasks.md).
#include <math.h>
#include <string.h>

#include "cli.h"

static const char *usage_text =
    "usage: sqz eval MODEL --tasks T1,T2,... [options]\n"
    "  tasks: humaneval, humaneval-x:<python|cpp|java|js>, quixbugs, codexglue-java-cs, codexglue-cs-java,\n"
    "         completion, perplexity, divergence, mbpp\n"
    "  --limit N            items per task (perplexity/divergence: chunks); 0 = all\n"
    "  --seed S             the subset and sampling seed (default 0)\n"
    "  --n-samples K --temp T   K samples per item at temperature T (default 1, greedy)\n"
    "  --top-p P --top-k K  sampling with --temp: nucleus (default 0.95) and top-k (default 0 = all)\n"
    "  --max-tokens N       new tokens per item (default: the task's)\n"
    "  --timeout S          sandbox seconds per program run (default: the language's, 10; C++/Java 30)\n"
    "  -c, --ctx N          context size (default min(training context, 2048)); perplexity chunk size\n"
    "  -t, --threads N      engine threads (default: physical cores)\n"
    "  --workers N          sandbox workers (default: physical cores)\n"
    "  --price-per-hour P   hardware price in $/h: adds cost per 1k generated tokens\n"
    "  --kl-base FILE       divergence: compare with this baseline (written by --kl-base-out)\n"
    "  --kl-base-out FILE   divergence: write this model's top-k baseline (--kl-top-k K, default 32)\n"
    "  --kl-base-model M    divergence: the full model; writes --kl-base FILE first if it does not exist\n"
    "  --text FILE          perplexity/divergence text instead of the held-out corpus\n"
    "  --data DIR           datasets folder (default $SQZ_DATA or ../shared/data/datasets)\n"
    "  --mbpp FILE          MBPP JSONL for the mbpp task (not shipped)\n"
    "  --completion-k K     completion: body lines kept in the prefix (default 2)\n"
    "  --db FILE            store results in this SQLite results database\n"
    "  --out FILE           write the full results (samples, metrics, signatures) as JSON\n"
    "  --json               print the JSON results to stdout instead of the table\n";

static void progress(void *user, const char *task, size_t done, size_t total) {
    (void)user;
    fprintf(stderr, "\r%s: %zu/%zu", task, done, total);
    if (done == total)
        fprintf(stderr, "\n");
}

static double metric(const sqz_eval_task_result *t, const char *name) {
    for (size_t i = 0; i < t->n_metrics; i++)
        if (!strcmp(t->metrics[i].name, name))
            return t->metrics[i].value;
    return NAN;
}

static void print_table(const sqz_eval_result *r) {
    printf("model %s  sha256 %.12s  recipe %s\n", r->model_path, r->model_sha256, r->recipe);
    printf("  %.1f MB on disk, %.3f bits/weight, %lld params, load %.3f s, peak RSS %.1f MB\n",
           (double)r->bytes_on_disk / 1e6, r->bits_per_weight, (long long)r->n_params, r->load_s, r->peak_rss_mb);
    printf("%-20s %-14s %10s %6s %9s %9s %10s %10s %8s\n", "task", "metric", "value", "n", "lat p50", "lat p99",
           "prefill/s", "decode/s", "wall s");
    for (size_t i = 0; i < r->n_tasks; i++) {
        const sqz_eval_task_result *t = &r->tasks[i];
        if (t->skipped) {
            printf("%-20s already in the database with the same signature: skipped\n", t->task);
            continue;
        }
        const sqz_eval_metric *p = NULL;
        for (size_t k = 0; k < t->n_metrics && !p; k++)
            p = t->metrics[k].primary ? &t->metrics[k] : NULL;
        double n = metric(t, "n_items");
        if (isnan(n))
            n = metric(t, "n_chunks");
        printf("%-20s %-14s %10.4f %6.0f %9.3f %9.3f %10.1f %10.1f %8.1f\n", t->task, p ? p->name : "-",
               p ? p->value : NAN, n, metric(t, "latency_p50_s"), metric(t, "latency_p99_s"),
               metric(t, "prefill_tok_s"), metric(t, "decode_tok_s"), t->wall_s);
        double cost = metric(t, "cost_per_1k_gen_tokens_usd");
        if (!isnan(cost))
            printf("%-20s cost per 1k generated tokens: $%.6f\n", "", cost);
        if (!isnan(metric(t, "same_top")))
            printf("%-20s KLD median %.6f p99 %.6f, same top %.3f %%, RMS dp %.3f %%\n", "",
                   metric(t, "kld_median"), metric(t, "kld_p99"), 100 * metric(t, "same_top"), 100 * metric(t, "dp_rms"));
    }
}

// Split "a,b,c" in place into at most cap names.
static size_t split_tasks(char *s, const char **out, size_t cap) {
    size_t n = 0;
    for (char *tok = strtok(s, ","); tok && n < cap; tok = strtok(NULL, ","))
        if (*tok)
            out[n++] = tok;
    return n;
}

int sqz_cmd_eval(int argc, char **argv) {
    sqz_eval_opts o = {0};
    const char *tasks_s = NULL, *out_path = NULL;
    bool json = false;
    long long iv = 0;
    double dv = 0;
    o.task.data_dir = getenv("SQZ_DATA") ? getenv("SQZ_DATA") : "../shared/data/datasets";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define INT_OPT(flag, dst)                                                                                             \
    else if (!strcmp(a, flag)) {                                                                                       \
        if (!cli_parse_int("eval", a, v, &iv) || iv < 0)                                                               \
            return iv < 0 ? cli_usage_error("eval", "%s must be >= 0", a) : 2;                                         \
        dst = iv, i++;                                                                                                 \
    }
#define STR_OPT(flag, dst)                                                                                             \
    else if (!strcmp(a, flag)) {                                                                                       \
        if (!v)                                                                                                        \
            return cli_usage_error("eval", "%s needs a value", a);                                                     \
        dst = v, i++;                                                                                                  \
    }
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return printf("%s", usage_text), 0;
        STR_OPT("--tasks", tasks_s)
        INT_OPT("--limit", o.task.limit)
        INT_OPT("--seed", o.task.seed)
        INT_OPT("--n-samples", o.n_samples)
        INT_OPT("--max-tokens", o.max_tokens)
        INT_OPT("--top-k", o.top_k)
        INT_OPT("-c", o.n_ctx)
        INT_OPT("--ctx", o.n_ctx)
        INT_OPT("-t", o.n_threads)
        INT_OPT("--threads", o.n_threads)
        INT_OPT("--workers", o.sandbox_workers)
        INT_OPT("--kl-top-k", o.kl_top_k)
        INT_OPT("--completion-k", o.task.completion_k)
        STR_OPT("--kl-base", o.kl_base)
        STR_OPT("--kl-base-out", o.kl_base_out)
        STR_OPT("--kl-base-model", o.kl_base_model)
        STR_OPT("--text", o.text_file)
        STR_OPT("--data", o.task.data_dir)
        STR_OPT("--mbpp", o.task.mbpp_path)
        STR_OPT("--db", o.db)
        STR_OPT("--out", out_path)
        else if (!strcmp(a, "--temp") || !strcmp(a, "--price-per-hour") || !strcmp(a, "--top-p") ||
                 !strcmp(a, "--timeout")) {
            if (!cli_parse_double("eval", a, v, &dv))
                return 2;
            if (dv < 0)
                return cli_usage_error("eval", "%s must be >= 0", a);
            if (!strcmp(a, "--temp"))
                o.temp = (float)dv;
            else if (!strcmp(a, "--top-p"))
                o.top_p = dv;
            else if (!strcmp(a, "--timeout"))
                o.task.timeout_s = dv;
            else
                o.price_per_hour = dv;
            i++;
        } else if (!strcmp(a, "--json"))
            json = true;
        else if (a[0] == '-' || o.model)
            return cli_usage_error("eval", "unexpected argument '%s'\n%s", a, usage_text);
        else
            o.model = a;
#undef INT_OPT
#undef STR_OPT
    }
    if (!o.model || !tasks_s)
        return cli_usage_error("eval", "MODEL and --tasks are required\n%s", usage_text);
    char *tasks_buf = strdup(tasks_s);
    const char *names[64];
    o.tasks = names;
    o.n_tasks = tasks_buf ? split_tasks(tasks_buf, names, 64) : 0;
    if (!o.n_tasks) {
        free(tasks_buf);
        return cli_usage_error("eval", "--tasks is empty");
    }
    o.progress = progress;
    sqz_eval_result r;
    int rc = 0;
    if (sqz_eval_run(&o, &r) != SQZ_OK) {
        free(tasks_buf);
        return cli_fail("eval");
    }
    char *js = (json || out_path) ? sqz_eval_result_json(&r) : NULL;
    if (out_path) {
        FILE *f = fopen(out_path, "w");
        if (!f || !js || fputs(js, f) < 0 || fclose(f) != 0) {
            fprintf(stderr, "sqz eval: cannot write %s\n", out_path);
            rc = 1;
        }
    }
    if (json && js)
        printf("%s\n", js);
    else if (!json)
        print_table(&r);
    free(js);
    sqz_eval_result_clear(&r);
    free(tasks_buf);
    return rc;
}

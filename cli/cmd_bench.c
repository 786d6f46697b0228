// sqz bench MODEL [-p 512] [-n 128] [-r 5] [-t THREADS] [-o md|csv|json] [--no-probe] [--exact]
// llama-bench style: prompt processing (pp: one batch of P random tokens from position 0) and text
// generation (tg: N single-token evaluations from position 0), each repeated R times after a
// warm-up, reported as mean ± sd tokens/s. For tg it also prints the weight-read bandwidth achieved
// (weight bytes per token × tokens/s) next to the machine's read bandwidth from a probe.
#include <math.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"

static const char *usage_text =
    "usage: sqz bench MODEL [-p 512] [-n 128] [-r 5] [-t THREADS] [-o md|csv|json] [--no-probe] [--exact]\n"
    "  (-p 0 or -n 0 skips that test)\n";

typedef struct {
    char test[32];
    int64_t n_tokens;
    double mean, sd;   // tokens/s
    double gbps;       // tg only: weight bytes read per second
} result;

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static int32_t random_id(int64_t nv) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (int32_t)(rng_state % (uint64_t)nv);
}

// One run of a test: seconds taken. pp: one eval of n tokens; tg: n evals of one token.
static sqz_status run_once(sqz_ctx *c, bool pp, int64_t n, int64_t nv, float *logits, double *secs) {
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    if (!ids)
        return sqz_error(SQZ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++)
        ids[i] = random_id(nv);
    sqz_ctx_reset(c);
    double t0 = sqz_time_now();
    sqz_status st = SQZ_OK;
    if (pp)
        st = sqz_ctx_eval(c, ids, n, SQZ_LOGITS_LAST, logits);
    for (int64_t i = 0; !pp && i < n && st == SQZ_OK; i++)
        st = sqz_ctx_eval(c, &ids[i], 1, SQZ_LOGITS_LAST, logits);
    *secs = sqz_time_now() - t0;
    free(ids);
    return st;
}

static sqz_status run_test(sqz_ctx *c, bool pp, int64_t n, int reps, int64_t nv, result *r) {
    float *logits = malloc((size_t)nv * sizeof *logits);
    double *tps = malloc((size_t)reps * sizeof *tps), secs;
    if (!logits || !tps) {
        free(logits), free(tps);
        return sqz_error(SQZ_ERR_NOMEM, "out of memory");
    }
    sqz_status st = run_once(c, pp, n, nv, logits, &secs); // warm-up
    for (int i = 0; i < reps && st == SQZ_OK; i++) {
        st = run_once(c, pp, n, nv, logits, &secs);
        tps[i] = (double)n / secs;
    }
    if (st == SQZ_OK) {
        double sum = 0, sq = 0;
        for (int i = 0; i < reps; i++)
            sum += tps[i];
        r->mean = sum / reps;
        for (int i = 0; i < reps; i++)
            sq += (tps[i] - r->mean) * (tps[i] - r->mean);
        r->sd = reps > 1 ? sqrt(sq / (reps - 1)) : 0;
        snprintf(r->test, sizeof r->test, "%s%lld", pp ? "pp" : "tg", (long long)n);
        r->n_tokens = n;
    }
    free(logits), free(tps);
    return st;
}

// Peak resident set of this process so far, MiB (Linux: ru_maxrss in KiB).
static double peak_rss_mib(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : 0.0;
}

typedef struct {
    double peak_mib, file_mib, kv_mib; // peak RSS after the tests (before the probe), file size, KV cache
} mem_info;

static void print_results(const char *fmt, const char *name, const sqz_model *m, int threads, const result *r, int nr,
                          double probe, const mem_info *mem) {
    const sqz_model_file *f = sqz_model_get_file(m);
    double mib = (double)sqz_model_file_nbytes(f) / (1024.0 * 1024.0), mparams = (double)sqz_model_n_params(m) / 1e6;
    if (!strcmp(fmt, "csv")) {
        printf("model,size_mib,params_m,backend,threads,test,t_s_mean,t_s_sd,weight_gbps,probe_gbps,peak_rss_mib,kv_mib\n");
        for (int i = 0; i < nr; i++)
            printf("\"%s\",%.2f,%.2f,CPU-%s,%d,%s,%.3f,%.3f,%.3f,%.3f,%.1f,%.1f\n", name, mib, mparams,
                   sqz_model_kernel_name(m), threads, r[i].test, r[i].mean, r[i].sd, r[i].gbps, probe, mem->peak_mib,
                   mem->kv_mib);
    } else if (!strcmp(fmt, "json")) {
        printf("[\n");
        for (int i = 0; i < nr; i++)
            printf("  {\"model\": \"%s\", \"size_mib\": %.2f, \"params_m\": %.2f, \"backend\": \"CPU-%s\", "
                   "\"threads\": %d, \"test\": \"%s\", \"t_s_mean\": %.3f, \"t_s_sd\": %.3f, \"weight_gbps\": %.3f, "
                   "\"probe_gbps\": %.3f, \"peak_rss_mib\": %.1f, \"kv_mib\": %.1f}%s\n",
                   name, mib, mparams, sqz_model_kernel_name(m), threads, r[i].test, r[i].mean, r[i].sd, r[i].gbps, probe,
                   mem->peak_mib, mem->kv_mib, i + 1 < nr ? "," : "");
        printf("]\n");
    } else {
        printf("| model | size | params | backend | threads | test | t/s | weight GB/s |\n");
        printf("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n");
        for (int i = 0; i < nr; i++) {
            char bw[64] = "";
            if (r[i].gbps > 0)
                snprintf(bw, sizeof bw, probe > 0 ? "%.2f (%.0f%% of %.2f)" : "%.2f", r[i].gbps,
                         100.0 * r[i].gbps / probe, probe);
            printf("| %s | %.2f MiB | %.2f M | CPU %s | %d | %s | %.2f ± %.2f | %s |\n", name, mib, mparams,
                   sqz_model_kernel_name(m), threads, r[i].test, r[i].mean, r[i].sd, bw);
        }
        double limit = mem->file_mib + mem->kv_mib + 64.0;
        printf("\npeak RSS %.1f MiB (limit file %.1f + KV %.1f + 64 = %.1f MiB: %s)\n", mem->peak_mib, mem->file_mib,
               mem->kv_mib, limit, mem->peak_mib <= limit ? "within" : "OVER");
    }
}

int sqz_cmd_bench(int argc, char **argv) {
    const char *model = NULL, *fmt = "md";
    long long n_pp = 512, n_tg = 128, reps = 5, threads = 0;
    bool probe = true;
    sqz_load_opts lo = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return printf("%s", usage_text), 0;
        else if (!strcmp(a, "-p") || !strcmp(a, "-n") || !strcmp(a, "-r") || !strcmp(a, "-t")) {
            long long *dst = a[1] == 'p' ? &n_pp : a[1] == 'n' ? &n_tg : a[1] == 'r' ? &reps : &threads;
            if (!cli_parse_int("bench", a, v, dst))
                return 2;
            i++;
        } else if (!strcmp(a, "-o") && v)
            fmt = v, i++;
        else if (!strcmp(a, "--no-probe"))
            probe = false;
        else if (!strcmp(a, "--exact"))
            lo.exact = true;
        else if (a[0] == '-' || model)
            return cli_usage_error("bench", "unexpected argument '%s'\n%s", a, usage_text);
        else
            model = a;
    }
    if (!model)
        return cli_usage_error("bench", "MODEL is required\n%s", usage_text);
    if (strcmp(fmt, "md") && strcmp(fmt, "csv") && strcmp(fmt, "json"))
        return cli_usage_error("bench", "-o must be md, csv or json, got '%s'", fmt);
    if (n_pp < 0 || n_tg < 0 || reps < 1 || threads < 0 || n_pp + n_tg == 0)
        return cli_usage_error("bench", "-p/-n must be >= 0 (not both 0), -r >= 1, -t >= 0");
    sqz_model *m = NULL;
    sqz_ctx *c = NULL;
    result res[2] = {0};
    int nr = 0, rc = 1;
    double probe_gbps = 0;
    if (sqz_model_load(&m, model, &lo) != SQZ_OK)
        goto done;
    int64_t need = n_pp > n_tg ? n_pp : n_tg, nv = sqz_model_get_config(m)->n_vocab;
    // Context of exactly the positions the tests use (llama-bench does the same), so the KV cache
    // in the memory figure is the one the run needs.
    if (sqz_ctx_new(&c, m, need, n_pp > 0 ? n_pp : 1, (int)threads) != SQZ_OK)
        goto done;
    if (n_pp > 0 && run_test(c, true, n_pp, (int)reps, nv, &res[nr++]) != SQZ_OK)
        goto done;
    if (n_tg > 0) {
        if (run_test(c, false, n_tg, (int)reps, nv, &res[nr]) != SQZ_OK)
            goto done;
        res[nr].gbps = (double)sqz_model_weight_bytes(m) * res[nr].mean / 1e9;
        nr++;
    }
    mem_info mem = {peak_rss_mib(), (double)sqz_model_file_nbytes(sqz_model_get_file(m)) / (1024.0 * 1024.0),
                    (double)sqz_ctx_kv_bytes(c) / (1024.0 * 1024.0)};
    if (probe && sqz_measure_read_bandwidth(sqz_ctx_n_threads(c), 0, 5, &probe_gbps) != SQZ_OK)
        goto done;
    const char *base = strrchr(model, '/');
    print_results(fmt, base && base[1] ? base + 1 : model, m, sqz_ctx_n_threads(c), res, nr, probe_gbps, &mem);
    rc = 0;
done:
    if (rc)
        cli_fail("bench");
    sqz_ctx_free(c);
    sqz_model_free(m);
    return rc;
}

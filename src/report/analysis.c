// Analysis of a results snapshot: per-variant quality retained, latency percentiles, speed-up,
// shrink, the success test, Pareto fronts, and paired flips against the baseline.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "report_internal.h"

// Baseline: the named variant, else the one with recipe "none", else the largest; -1 if none.
static sqz_status pick_baseline(const sqz_results *r, const char *name, int *out) {
    *out = -1;
    for (int i = 0; i < r->n_variants; i++) {
        const sqz_res_variant *v = &r->variants[i];
        if (name ? !strcmp(v->name, name) : !strcmp(v->recipe, SQZ_RECIPE_NONE)) {
            *out = i;
            return SQZ_OK;
        }
    }
    SQZ_FAIL_IF(name, SQZ_ERR_NOT_FOUND, "baseline variant '%s' is not in the results", name);
    for (int i = 0; i < r->n_variants; i++)
        if (*out < 0 || r->variants[i].bytes > r->variants[*out].bytes)
            *out = i;
    return SQZ_OK;
}

// The reference of variant v without a named baseline: its own model's uncompressed variant, so a
// models x recipes sweep compares each variant with its own full model; else the global one.
static int model_baseline(const sqz_results *r, int v, int global) {
    for (int i = 0; i < r->n_variants; i++)
        if (r->variants[i].model == r->variants[v].model && !strcmp(r->variants[i].recipe, SQZ_RECIPE_NONE))
            return i;
    return global;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double report_percentile(const double *sorted, size_t n, double q) {
    if (n == 0)
        return NAN;
    double pos = q / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
    return sorted[lo] + (pos - (double)lo) * (sorted[hi] - sorted[lo]);
}

size_t report_latencies(const sqz_results *r, int variant, const char *task, double **out) {
    size_t n = 0, cap = 0;
    double *v = NULL;
    for (int i = 0; i < r->n_runs; i++) {
        const sqz_res_run *run = &r->runs[i];
        if (run->variant != variant || (task && strcmp(run->task, task)))
            continue;
        for (size_t j = 0; j < run->n_samples; j++) {
            if (run->samples[j].latency_s < 0)
                continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                double *p = realloc(v, cap * sizeof *v);
                if (!p) {
                    free(v);
                    *out = NULL;
                    return 0;
                }
                v = p;
            }
            v[n++] = run->samples[j].latency_s;
        }
    }
    if (n)
        qsort(v, n, sizeof *v, cmp_double);
    *out = v;
    return n;
}

// Mean quality retained over the tasks both the variant and the baseline have a primary metric for,
// each task's share capped at 1: a variant is not credited for beating the baseline, which with the
// small samples of a quick sweep is noise far more often than an improvement (uncapped, one noisy
// task at 300 % hides a real loss elsewhere). The per-task tables show the uncapped values.
static void summarize_quality(const sqz_results *r, int base, sqz_variant_summary *s) {
    double sum = 0;
    s->n_tasks = 0;
    for (int i = 0; i < r->n_runs; i++) {
        const sqz_res_run *run = &r->runs[i];
        if (run->variant != s->variant)
            continue;
        const sqz_res_metric *m = sqz_res_run_primary(run);
        const sqz_res_run *brun = base >= 0 ? sqz_results_find_run(r, base, run->task) : NULL;
        const sqz_res_metric *bm = m && brun ? sqz_res_run_metric(brun, m->name) : NULL;
        double q = bm ? sqz_quality_retained(m->value, bm->value, m->direction) : NAN;
        if (isfinite(q)) {
            sum += q < 1 ? q : 1;
            s->n_tasks++;
        }
    }
    s->retained = s->n_tasks ? sum / s->n_tasks : NAN;
}

static void summarize_latency(const sqz_results *r, double price, sqz_variant_summary *s) {
    double *lat;
    size_t n = report_latencies(r, s->variant, NULL, &lat);
    s->lat_p50 = report_percentile(lat, n, 50);
    s->lat_p90 = report_percentile(lat, n, 90);
    s->lat_p99 = report_percentile(lat, n, 99);
    double mean = 0;
    for (size_t i = 0; i < n; i++)
        mean += lat[i] / (double)n;
    s->cost_per_1k = price > 0 && n ? price * mean / 3.6 : NAN;
    free(lat);
}

static void summarize_fronts(sqz_analysis *a) {
    int n = a->n;
    double *size = malloc((size_t)(n ? n : 1) * sizeof *size), *lat = malloc((size_t)(n ? n : 1) * sizeof *lat);
    double *q = malloc((size_t)(n ? n : 1) * sizeof *q);
    bool *f1 = calloc((size_t)(n ? n : 1), sizeof *f1), *f2 = calloc((size_t)(n ? n : 1), sizeof *f2);
    if (size && lat && q && f1 && f2) {
        for (int i = 0; i < n; i++) {
            size[i] = a->results->variants[i].bytes > 0 ? (double)a->results->variants[i].bytes : NAN;
            lat[i] = a->v[i].lat_p50;
            q[i] = a->v[i].retained;
        }
        sqz_pareto_front(size, SQZ_DIR_MINIMIZE, q, SQZ_DIR_MAXIMIZE, (size_t)n, f1);
        sqz_pareto_front(lat, SQZ_DIR_MINIMIZE, q, SQZ_DIR_MAXIMIZE, (size_t)n, f2);
        for (int i = 0; i < n; i++)
            a->v[i].front_size = f1[i], a->v[i].front_latency = f2[i];
    }
    free(size), free(lat), free(q), free(f1), free(f2);
}

// ---- flips ---------------------------------------------------------------------------------------
typedef struct item_rate {
    const char *id;
    double rate; // pass fraction over the item's samples
} item_rate;

static int cmp_item(const void *a, const void *b) {
    return strcmp(((const item_rate *)a)->id, ((const item_rate *)b)->id);
}

// Per-item pass fractions of a run's pass/fail samples, sorted by item id; *n = 0 if none.
static item_rate *item_rates(const sqz_res_run *run, size_t *n) {
    *n = 0;
    item_rate *v = malloc((run->n_samples ? run->n_samples : 1) * sizeof *v);
    double *cnt = calloc(run->n_samples ? run->n_samples : 1, sizeof *cnt);
    if (!v || !cnt) {
        free(v), free(cnt);
        return NULL;
    }
    for (size_t i = 0; i < run->n_samples; i++) {
        const sqz_res_sample *s = &run->samples[i];
        if (s->outcome == SQZ_OUTCOME_NONE)
            continue;
        size_t k = 0; // linear: items of one run are few hundred; keeps first-seen order simple
        while (k < *n && strcmp(v[k].id, s->item_id))
            k++;
        if (k == *n)
            v[(*n)++] = (item_rate){s->item_id, 0};
        v[k].rate += s->outcome == SQZ_OUTCOME_PASS;
        cnt[k] += 1;
    }
    for (size_t k = 0; k < *n; k++)
        v[k].rate /= cnt[k];
    free(cnt);
    qsort(v, *n, sizeof *v, cmp_item);
    return v;
}

// Pair the items both runs have; compute the flips.
static sqz_status run_flips(const sqz_res_run *b, const sqz_res_run *v, const sqz_bootstrap_opts *o,
                            sqz_flips *f, int *have) {
    size_t nb, nv, np = 0;
    item_rate *ib = item_rates(b, &nb), *iv = item_rates(v, &nv);
    double *xb = malloc((nb ? nb : 1) * sizeof *xb), *xv = malloc((nb ? nb : 1) * sizeof *xv);
    sqz_status st = ib && iv && xb && xv ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "flips: out of memory");
    for (size_t i = 0, j = 0; st == SQZ_OK && i < nb && j < nv;) {
        int c = strcmp(ib[i].id, iv[j].id);
        if (c == 0)
            xb[np] = ib[i++].rate, xv[np++] = iv[j++].rate;
        else if (c < 0)
            i++;
        else
            j++;
    }
    *have = st == SQZ_OK && np > 0;
    if (*have)
        st = sqz_flips_compute(xb, xv, np, o, f);
    free(ib), free(iv), free(xb), free(xv);
    return st;
}

static sqz_status analyse_flips(sqz_analysis *a, const sqz_bootstrap_opts *o) {
    const sqz_results *r = a->results;
    a->flips = calloc((size_t)(r->n_runs ? r->n_runs : 1), sizeof *a->flips);
    SQZ_FAIL_IF(!a->flips, SQZ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < r->n_runs; i++) {
        const sqz_res_run *run = &r->runs[i];
        int base = a->v[run->variant].baseline;
        const sqz_res_run *brun = base >= 0 ? sqz_results_find_run(r, base, run->task) : NULL;
        if (run->variant == base || !brun)
            continue;
        int have = 0;
        struct sqz_task_flips *tf = &a->flips[a->n_flips];
        SQZ_TRY(run_flips(brun, run, o, &tf->f, &have));
        if (have) {
            tf->variant = run->variant;
            tf->task = run->task;
            a->n_flips++;
        }
    }
    return SQZ_OK;
}

sqz_status sqz_analysis_run(const sqz_results *r, const sqz_analysis_opts *opts, sqz_analysis **out) {
    *out = NULL;
    sqz_analysis *a = calloc(1, sizeof *a);
    SQZ_FAIL_IF(!a, SQZ_ERR_NOMEM, "out of memory");
    a->results = r;
    a->n = r->n_variants;
    a->v = calloc((size_t)(a->n ? a->n : 1), sizeof *a->v);
    sqz_status st = a->v ? pick_baseline(r, opts->baseline, &a->baseline)
                         : sqz_error(SQZ_ERR_NOMEM, "out of memory");
    for (int i = 0; st == SQZ_OK && i < a->n; i++) {
        sqz_variant_summary *s = &a->v[i];
        s->variant = i;
        s->baseline = opts->baseline ? a->baseline : model_baseline(r, i, a->baseline);
        summarize_quality(r, s->baseline, s);
        summarize_latency(r, opts->price_per_hour, s);
    }
    for (int i = 0; st == SQZ_OK && i < a->n; i++) {
        sqz_variant_summary *s = &a->v[i];
        const sqz_variant_summary *b = s->baseline >= 0 ? &a->v[s->baseline] : NULL;
        int64_t bytes = r->variants[i].bytes;
        s->speedup = b && s->lat_p50 > 0 ? b->lat_p50 / s->lat_p50 : NAN;
        s->shrink = b && bytes > 0 ? (double)r->variants[s->baseline].bytes / (double)bytes : NAN;
        s->success = sqz_success_test(s->retained, s->speedup, s->shrink);
    }
    if (st == SQZ_OK)
        summarize_fronts(a);
    sqz_bootstrap_opts boot = opts->boot;
    if (boot.n_resamples == 0)
        boot.n_resamples = 10000;
    if (boot.confidence == 0)
        boot.confidence = 0.95;
    a->boot = boot;
    a->price_per_hour = opts->price_per_hour;
    if (st == SQZ_OK)
        st = analyse_flips(a, &boot);
    if (st != SQZ_OK) {
        sqz_analysis_free(a);
        return st;
    }
    *out = a;
    return SQZ_OK;
}

void sqz_analysis_free(sqz_analysis *a) {
    if (!a)
        return;
    free(a->v);
    free(a->flips);
    free(a);
}

// Best variant (quality retained) whose key (bytes or p50) is within the budget.
static int recommend(const sqz_analysis *a, double budget, int by_size) {
    int best = -1;
    for (int i = 0; i < a->n; i++) {
        const sqz_variant_summary *s = &a->v[i];
        double key = by_size ? (double)a->results->variants[i].bytes : s->lat_p50;
        if (!isfinite(s->retained) || !(key > 0) || key > budget)
            continue;
        if (best < 0) {
            best = i;
            continue;
        }
        const sqz_variant_summary *b = &a->v[best];
        double bb = (double)a->results->variants[best].bytes, sb = (double)a->results->variants[i].bytes;
        if (s->retained > b->retained ||
            (s->retained == b->retained && (sb < bb || (sb == bb && s->lat_p50 < b->lat_p50))))
            best = i;
    }
    return best;
}

int sqz_recommend_size(const sqz_analysis *a, double max_bytes) { return recommend(a, max_bytes, 1); }
int sqz_recommend_latency(const sqz_analysis *a, double max_p50_s) { return recommend(a, max_p50_s, 0); }

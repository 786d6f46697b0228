// Analysis of evaluation results (quality retained, Pareto frontiers, the success test, paired
// per-problem flips with McNemar's test and bootstrap intervals) and the report writers
// (CSV, JSON, Markdown, and a PDF with plots drawn with cairo/pango).
#ifndef SQZ_REPORT_H
#define SQZ_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sqz/common.h"
#include "sqz/store.h"

#ifdef __cplusplus
extern "C" {
#endif

// ================================ analysis primitives ============================================

// Quality retained by a variant: value / baseline for a metric where larger is better,
// baseline / value where smaller is better (perplexity, KL), so 1.0 = as good as the baseline
// and < 1 = worse in both cases. NAN when undefined (no direction, a zero or non-finite input).
double sqz_quality_retained(double value, double baseline, sqz_direction dir);

// Pareto frontier over two axes: on_front[i] = whether point i is not dominated. Point j
// dominates i when it is at least as good on both axes and strictly better on one (direction per
// axis). Points with a non-finite coordinate are never on the front and dominate nothing. Equal
// points are all on the front. O(n^2); n is the number of variants.
void sqz_pareto_front(const double *x, sqz_direction dx, const double *y, sqz_direction dy, size_t n,
                      bool *on_front);

// The project's success test: keeps >= 95 % of baseline quality (retained >= 0.95) while being
// >= 2x faster (speedup = baseline latency / variant latency) or >= 2x smaller (shrink = baseline
// bytes / variant bytes). Non-finite inputs fail.
#define SQZ_SUCCESS_MIN_RETAINED 0.95
#define SQZ_SUCCESS_MIN_FACTOR 2.0
bool sqz_success_test(double retained, double speedup, double shrink);

// Two-sided exact McNemar test: under H0 the b + c discordant pairs split Binomial(b + c, 1/2);
// p = min(1, 2 * P[X <= min(b, c)]). 1.0 when b + c == 0.
double sqz_mcnemar_exact(int64_t b, int64_t c);

// Paired comparison of a baseline and a variant over the same n problems. base[i] and var[i] are
// per-problem pass@1 estimates in [0, 1] (c/n over the problem's samples; 0 or 1 when greedy).
typedef struct sqz_flips {
    int64_t n;                 // problems compared
    int64_t both_pass, both_fail;
    int64_t pass_fail;         // baseline passed, variant failed (regressions)
    int64_t fail_pass;         // baseline failed, variant passed (improvements)
    double mcnemar_p;          // exact McNemar over (pass_fail, fail_pass)
    double delta;              // mean(var) - mean(base): delta pass@1
    double ci_low, ci_high;    // bootstrap percentile interval of delta
} sqz_flips;

typedef struct sqz_bootstrap_opts {
    int n_resamples;   // e.g. 10000
    double confidence; // e.g. 0.95
    uint64_t seed;
} sqz_bootstrap_opts;

// Count flips (a problem "passes" when its pass@1 >= 0.5), McNemar's p, and a paired bootstrap
// interval on delta: each resample draws n problem indices uniformly with replacement (the same
// indices for both sides) from the generator described at sqz_bootstrap_index; the interval is
// the (1-confidence)/2 and (1+confidence)/2 percentiles of the resampled deltas with linear
// interpolation (numpy.percentile's default). SQZ_ERR_ARG for n == 0 or bad options.
sqz_status sqz_flips_compute(const double *base, const double *var, size_t n,
                             const sqz_bootstrap_opts *opts, sqz_flips *out);

// The bootstrap's index generator, exposed so other implementations can reproduce it exactly:
// state advances by splitmix64 (state += 0x9E3779B97F4A7C15, then the splitmix64 output mix of
// the new state); an index is (uint64 output * n) >> 64 (128-bit product).
size_t sqz_bootstrap_index(uint64_t *state, size_t n);

// ================================ analysis of a results snapshot ================================

// Per-variant summary against the baseline variant.
typedef struct sqz_variant_summary {
    int variant;          // index into sqz_results.variants
    int baseline;         // the variant it is compared with: the named baseline, else the
                          // uncompressed variant of its own model, else the global baseline
    int n_tasks;          // tasks with a primary metric for both this variant and the baseline
    double retained;      // mean over those tasks of quality retained (NAN if none)
    double lat_p50, lat_p90, lat_p99; // per-sample latency percentiles over all tasks, seconds
    double speedup;       // baseline p50 latency / this p50 (NAN if unknown)
    double shrink;        // baseline bytes / this variant's bytes (NAN if unknown)
    double cost_per_1k;   // price_per_hour * mean latency / 3.6 (cost of 1000 requests; NAN if no price)
    bool success;         // sqz_success_test
    bool front_size;      // on the Pareto front of (bytes min, retained max)
    bool front_latency;   // on the Pareto front of (p50 latency min, retained max)
} sqz_variant_summary;

typedef struct sqz_analysis {
    const sqz_results *results; // borrowed
    int baseline;               // the global baseline variant (see sqz_analysis_opts), -1 if none;
                                // each variant's own reference is sqz_variant_summary.baseline
    int n;                      // = results->n_variants
    sqz_variant_summary *v;     // one per variant, same order
    // Flips of every (variant != baseline, task with pass/fail samples on both sides).
    int n_flips;
    struct sqz_task_flips {
        int variant;
        const char *task; // borrowed from the results
        sqz_flips f;
    } *flips;
    sqz_bootstrap_opts boot; // the options the flips were computed with (defaults filled in)
    double price_per_hour;
} sqz_analysis;

typedef struct sqz_analysis_opts {
    const char *baseline;      // variant name: every variant is compared with it. NULL = each
                               // variant with its own model's SQZ_RECIPE_NONE variant; the global
                               // baseline is the first such variant, else the largest variant
    double price_per_hour;     // for cost estimates; 0 = unknown
    sqz_bootstrap_opts boot;   // n_resamples 0 = 10000, confidence 0 = 0.95
} sqz_analysis_opts;

// Analyse a results snapshot. SQZ_ERR_NOT_FOUND when opts->baseline names no variant.
sqz_status sqz_analysis_run(const sqz_results *r, const sqz_analysis_opts *opts, sqz_analysis **out);
void sqz_analysis_free(sqz_analysis *a);

// ================================ reports ========================================================
typedef struct sqz_report_opts {
    sqz_analysis_opts analysis;
    const char *title;        // NULL = "sqz report"
} sqz_report_opts;

// Write results.csv, results.json, report.md and report.pdf into dir (created if missing).
// CSV: one row per variant x task x metric, with the signature hash and JSON. PDF pages: title
// (setup), Pareto quality vs size, Pareto quality vs latency, per-metric bars (up to 4 charts a
// page), latency distributions, recommendation. Errors name the file.
sqz_status sqz_report_write(const sqz_results *r, const sqz_report_opts *opts, const char *dir);

// The individual writers (used by sqz_report_write), each to one path.
sqz_status sqz_report_csv(const sqz_analysis *a, const char *path);
sqz_status sqz_report_json(const sqz_analysis *a, const char *path);
sqz_status sqz_report_markdown(const sqz_analysis *a, const sqz_report_opts *opts, const char *path);
sqz_status sqz_report_pdf(const sqz_analysis *a, const sqz_report_opts *opts, const char *path);

// Recommendation: for a size budget (bytes) or latency budget (p50 seconds), the variant of best
// quality retained within it (ties: the smaller, then the faster); -1 when none fits.
int sqz_recommend_size(const sqz_analysis *a, double max_bytes);
int sqz_recommend_latency(const sqz_analysis *a, double max_p50_s);

#ifdef __cplusplus
}
#endif
#endif

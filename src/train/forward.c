// Instantiates model_tmpl.h for float and double and dispatches on the model's element type.
#include <cblas.h>
#include <string.h>

#include "train/model.h"
#include "train/ops.h"

#define T float
#define MOP(name) tr_##name##_f32
#define OPS(name) sqz_tr_##name##_f32
#define GEMM cblas_sgemm
#include "train/model_tmpl.h"
#undef T
#undef MOP
#undef OPS
#undef GEMM

#define T double
#define MOP(name) tr_##name##_f64
#define OPS(name) sqz_tr_##name##_f64
#define GEMM cblas_dgemm
#include "train/model_tmpl.h"
#undef T
#undef MOP
#undef OPS
#undef GEMM

void tr_model_forward(tr_model *m, const int32_t *tokens, const int32_t *targets, const void *teacher_logits,
                      double tau, double alpha, double grad_scale, double *loss, int64_t *n_rows,
                      double *kl) {
    if (m->f64)
        tr_forward_f64(m, tokens, targets, teacher_logits, tau, alpha, grad_scale, loss, n_rows, kl);
    else
        tr_forward_f32(m, tokens, targets, teacher_logits, tau, alpha, grad_scale, loss, n_rows, kl);
}

void tr_model_backward(tr_model *m) {
    if (m->f64)
        tr_backward_f64(m);
    else
        tr_backward_f32(m);
}

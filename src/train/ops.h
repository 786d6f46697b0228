// Training ops, forward and backward, in float (training) and double (gradient checks).
// Semantics and shapes: see ops_tmpl.h, where each op is written once over a scalar type.
#ifndef SQZ_TRAIN_OPS_H
#define SQZ_TRAIN_OPS_H

#include <stddef.h>
#include <stdint.h>

void sqz_tr_linear_fwd_f32(float *y, const float *x, const float *w, const float *b, int N, int Ni, int No);
void sqz_tr_linear_bwd_f32(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                           int N, int Ni, int No);
void sqz_tr_embed_fwd_f32(float *out, const int32_t *tok, const float *wte, const float *wpe, int N, int Tn,
                          int C);
void sqz_tr_embed_bwd_f32(float *dwte, float *dwpe, const float *dout, const int32_t *tok, int N, int Tn,
                          int C);
void sqz_tr_rmsnorm_fwd_f32(float *y, float *rstd, const float *x, const float *w, int N, int C, double eps);
void sqz_tr_rmsnorm_bwd_f32(float *dx, float *dw, const float *dy, const float *x, const float *w,
                            const float *rstd, int N, int C);
void sqz_tr_layernorm_fwd_f32(float *y, float *mean, float *rstd, const float *x, const float *w,
                              const float *b, int N, int C, double eps);
void sqz_tr_layernorm_bwd_f32(float *dx, float *dw, float *db, const float *dy, const float *x,
                              const float *w, const float *mean, const float *rstd, int N, int C);
void sqz_tr_rope_f32(float *x, const double *cs, int N, int Tn, int H, int hd, int dir);
void sqz_tr_attn_fwd_f32(float *out, float *att, const float *q, const float *k, const float *v, int B,
                         int Tn, int H, int Hkv, int hd);
void sqz_tr_attn_bwd_f32(float *dq, float *dk, float *dv, float *scratch, const float *dout, const float *att,
                         const float *q, const float *k, const float *v, int B, int Tn, int H, int Hkv,
                         int hd);
void sqz_tr_swiglu_fwd_f32(float *h, const float *g, const float *u, size_t n);
void sqz_tr_swiglu_bwd_f32(float *dg, float *du, const float *dh, const float *g, const float *u, size_t n);
void sqz_tr_gelu_fwd_f32(float *y, const float *x, size_t n);
void sqz_tr_gelu_bwd_f32(float *dx, const float *dy, const float *x, size_t n);
double sqz_tr_xent_f32(float *logits, const int32_t *tgt, int N, int V, double grad_scale);
double sqz_tr_distill_f32(float *student, const float *teacher, const int32_t *tgt, int N, int V, double tau,
                          double alpha, double grad_scale, double *kl_sum);

void sqz_tr_linear_fwd_f64(double *y, const double *x, const double *w, const double *b, int N, int Ni,
                           int No);
void sqz_tr_linear_bwd_f64(double *dx, double *dw, double *db, const double *dy, const double *x,
                           const double *w, int N, int Ni, int No);
void sqz_tr_embed_fwd_f64(double *out, const int32_t *tok, const double *wte, const double *wpe, int N,
                          int Tn, int C);
void sqz_tr_embed_bwd_f64(double *dwte, double *dwpe, const double *dout, const int32_t *tok, int N, int Tn,
                          int C);
void sqz_tr_rmsnorm_fwd_f64(double *y, double *rstd, const double *x, const double *w, int N, int C,
                            double eps);
void sqz_tr_rmsnorm_bwd_f64(double *dx, double *dw, const double *dy, const double *x, const double *w,
                            const double *rstd, int N, int C);
void sqz_tr_layernorm_fwd_f64(double *y, double *mean, double *rstd, const double *x, const double *w,
                              const double *b, int N, int C, double eps);
void sqz_tr_layernorm_bwd_f64(double *dx, double *dw, double *db, const double *dy, const double *x,
                              const double *w, const double *mean, const double *rstd, int N, int C);
void sqz_tr_rope_f64(double *x, const double *cs, int N, int Tn, int H, int hd, int dir);
void sqz_tr_attn_fwd_f64(double *out, double *att, const double *q, const double *k, const double *v, int B,
                         int Tn, int H, int Hkv, int hd);
void sqz_tr_attn_bwd_f64(double *dq, double *dk, double *dv, double *scratch, const double *dout,
                         const double *att, const double *q, const double *k, const double *v, int B, int Tn,
                         int H, int Hkv, int hd);
void sqz_tr_swiglu_fwd_f64(double *h, const double *g, const double *u, size_t n);
void sqz_tr_swiglu_bwd_f64(double *dg, double *du, const double *dh, const double *g, const double *u,
                           size_t n);
void sqz_tr_gelu_fwd_f64(double *y, const double *x, size_t n);
void sqz_tr_gelu_bwd_f64(double *dx, const double *dy, const double *x, size_t n);
double sqz_tr_xent_f64(double *logits, const int32_t *tgt, int N, int V, double grad_scale);
double sqz_tr_distill_f64(double *student, const double *teacher, const int32_t *tgt, int N, int V,
                          double tau, double alpha, double grad_scale, double *kl_sum);

#endif

// Every training op's backward against float64 central differences (small shapes), and the float
// instantiation against the double one. The loss of an op with output y is Σ r·y for a random r, so
// the analytic gradient is the op's backward with dy = r.
#include <string.h>

#include "gradcheck.h"
#include "harness.h"
#include "train/ops.h"

#define TOL 1e-6
#define H 1e-5

typedef struct ctx {
    int N, Tn, B, C, Ni, No, Hh, Hkv, hd, V;
    double *x, *w, *b, *w2, *r, *y, *s1, *s2, *t;
    int32_t *tok;
    double cs[64];
    double tau, alpha;
} ctx;

static void report(const char *op, const char *wrt, double err) {
    CHECK_MSG(err < TOL, "%s d/d%s: max rel err %.3g", op, wrt, err);
    printf("%-10s d/d%-4s max rel err %.3g\n", op, wrt, err);
}

// ---- linear ----
static double loss_linear(void *p) {
    ctx *c = p;
    sqz_tr_linear_fwd_f64(c->y, c->x, c->w, c->b, c->N, c->Ni, c->No);
    return gc_dot(c->y, c->r, (size_t)c->N * c->No);
}
static void test_linear(void) {
    ctx c = {.N = 5, .Ni = 7, .No = 3};
    c.x = gc_rand(35, 1), c.w = gc_rand(21, 1), c.b = gc_rand(3, 1), c.r = gc_rand(15, 1), c.y = gc_zeros(15);
    double *dx = gc_zeros(35), *dw = gc_zeros(21), *db = gc_zeros(3);
    sqz_tr_linear_bwd_f64(dx, dw, db, c.r, c.x, c.w, c.N, c.Ni, c.No);
    report("linear", "x", gc_check(loss_linear, &c, c.x, dx, 35, H));
    report("linear", "w", gc_check(loss_linear, &c, c.w, dw, 21, H));
    report("linear", "b", gc_check(loss_linear, &c, c.b, db, 3, H));
    free(c.x), free(c.w), free(c.b), free(c.r), free(c.y), free(dx), free(dw), free(db);
}

// ---- embedding (token + position) ----
static double loss_embed(void *p) {
    ctx *c = p;
    sqz_tr_embed_fwd_f64(c->y, c->tok, c->w, c->b, c->N, c->Tn, c->C);
    return gc_dot(c->y, c->r, (size_t)c->N * c->C);
}
static void test_embed(void) {
    int32_t tok[6] = {3, 1, 3, 0, 2, 3};
    ctx c = {.N = 6, .Tn = 3, .C = 4, .tok = tok};
    c.w = gc_rand(16, 1), c.b = gc_rand(12, 1), c.r = gc_rand(24, 1), c.y = gc_zeros(24);
    double *dw = gc_zeros(16), *db = gc_zeros(12);
    sqz_tr_embed_bwd_f64(dw, db, c.r, tok, c.N, c.Tn, c.C);
    report("embed", "wte", gc_check(loss_embed, &c, c.w, dw, 16, H));
    report("embed", "wpe", gc_check(loss_embed, &c, c.b, db, 12, H));
    free(c.w), free(c.b), free(c.r), free(c.y), free(dw), free(db);
}

// ---- RMSNorm ----
static double loss_rms(void *p) {
    ctx *c = p;
    sqz_tr_rmsnorm_fwd_f64(c->y, c->s1, c->x, c->w, c->N, c->C, 1e-5);
    return gc_dot(c->y, c->r, (size_t)c->N * c->C);
}
static void test_rmsnorm(void) {
    ctx c = {.N = 4, .C = 6};
    c.x = gc_rand(24, 1), c.w = gc_rand(6, 1), c.r = gc_rand(24, 1), c.y = gc_zeros(24), c.s1 = gc_zeros(4);
    double *dx = gc_zeros(24), *dw = gc_zeros(6);
    loss_rms(&c);
    sqz_tr_rmsnorm_bwd_f64(dx, dw, c.r, c.x, c.w, c.s1, c.N, c.C);
    report("rmsnorm", "x", gc_check(loss_rms, &c, c.x, dx, 24, H));
    report("rmsnorm", "w", gc_check(loss_rms, &c, c.w, dw, 6, H));
    free(c.x), free(c.w), free(c.r), free(c.y), free(c.s1), free(dx), free(dw);
}

// ---- LayerNorm ----
static double loss_ln(void *p) {
    ctx *c = p;
    sqz_tr_layernorm_fwd_f64(c->y, c->s1, c->s2, c->x, c->w, c->b, c->N, c->C, 1e-5);
    return gc_dot(c->y, c->r, (size_t)c->N * c->C);
}
static void test_layernorm(void) {
    ctx c = {.N = 4, .C = 6};
    c.x = gc_rand(24, 1), c.w = gc_rand(6, 1), c.b = gc_rand(6, 1), c.r = gc_rand(24, 1), c.y = gc_zeros(24);
    c.s1 = gc_zeros(4), c.s2 = gc_zeros(4);
    double *dx = gc_zeros(24), *dw = gc_zeros(6), *db = gc_zeros(6);
    loss_ln(&c);
    sqz_tr_layernorm_bwd_f64(dx, dw, db, c.r, c.x, c.w, c.s1, c.s2, c.N, c.C);
    report("layernorm", "x", gc_check(loss_ln, &c, c.x, dx, 24, H));
    report("layernorm", "w", gc_check(loss_ln, &c, c.w, dw, 6, H));
    report("layernorm", "b", gc_check(loss_ln, &c, c.b, db, 6, H));
    free(c.x), free(c.w), free(c.b), free(c.r), free(c.y), free(c.s1), free(c.s2), free(dx), free(dw),
        free(db);
}

// ---- RoPE ----
static double loss_rope(void *p) {
    ctx *c = p;
    size_t n = (size_t)c->N * c->Hh * c->hd;
    memcpy(c->y, c->x, n * sizeof(double));
    sqz_tr_rope_f64(c->y, c->cs, c->N, c->Tn, c->Hh, c->hd, 1);
    return gc_dot(c->y, c->r, n);
}
static void test_rope(void) {
    ctx c = {.N = 6, .Tn = 3, .Hh = 2, .hd = 4};
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < 2; i++) {
            double th = t * pow(10000.0, -2.0 * i / 4);
            c.cs[(t * 2 + i) * 2] = cos(th), c.cs[(t * 2 + i) * 2 + 1] = sin(th);
        }
    c.x = gc_rand(48, 1), c.r = gc_rand(48, 1), c.y = gc_zeros(48);
    double *dx = malloc(48 * sizeof *dx);
    memcpy(dx, c.r, 48 * sizeof *dx);
    sqz_tr_rope_f64(dx, c.cs, c.N, c.Tn, c.Hh, c.hd, -1);
    report("rope", "x", gc_check(loss_rope, &c, c.x, dx, 48, H));
    free(c.x), free(c.r), free(c.y), free(dx);
}

// ---- causal GQA attention: q in x, k in w, v in b ----
static double loss_attn(void *p) {
    ctx *c = p;
    sqz_tr_attn_fwd_f64(c->y, c->s1, c->x, c->w, c->b, c->B, c->Tn, c->Hh, c->Hkv, c->hd);
    return gc_dot(c->y, c->r, (size_t)c->B * c->Tn * c->Hh * c->hd);
}
static void test_attn(void) {
    ctx c = {.B = 2, .Tn = 4, .Hh = 4, .Hkv = 2, .hd = 3};
    size_t nq = 2 * 4 * 4 * 3, nk = 2 * 4 * 2 * 3;
    c.x = gc_rand(nq, 1), c.w = gc_rand(nk, 1), c.b = gc_rand(nk, 1), c.r = gc_rand(nq, 1),
    c.y = gc_zeros(nq);
    c.s1 = gc_zeros(2 * 4 * 16);
    double *dq = gc_zeros(nq), *dk = gc_zeros(nk), *dv = gc_zeros(nk), *scr = gc_zeros(16);
    loss_attn(&c);
    sqz_tr_attn_bwd_f64(dq, dk, dv, scr, c.r, c.s1, c.x, c.w, c.b, c.B, c.Tn, c.Hh, c.Hkv, c.hd);
    report("attention", "q", gc_check(loss_attn, &c, c.x, dq, nq, H));
    report("attention", "k", gc_check(loss_attn, &c, c.w, dk, nk, H));
    report("attention", "v", gc_check(loss_attn, &c, c.b, dv, nk, H));
    // causality: changing the last position's k/v must not change earlier outputs
    double y0 = c.y[0];
    c.w[nk / 2 - 1] += 1, c.b[nk / 2 - 1] += 1;
    loss_attn(&c);
    CHECK(c.y[0] == y0);
    free(c.x), free(c.w), free(c.b), free(c.r), free(c.y), free(c.s1), free(dq), free(dk), free(dv),
        free(scr);
}

// ---- SwiGLU, GELU ----
static double loss_swiglu(void *p) {
    ctx *c = p;
    sqz_tr_swiglu_fwd_f64(c->y, c->x, c->w, 20);
    return gc_dot(c->y, c->r, 20);
}
static double loss_gelu(void *p) {
    ctx *c = p;
    sqz_tr_gelu_fwd_f64(c->y, c->x, 20);
    return gc_dot(c->y, c->r, 20);
}
static void test_mlp_acts(void) {
    ctx c = {0};
    c.x = gc_rand(20, 3), c.w = gc_rand(20, 2), c.r = gc_rand(20, 1), c.y = gc_zeros(20);
    double *dg = gc_zeros(20), *du = gc_zeros(20), *dx = gc_zeros(20);
    sqz_tr_swiglu_bwd_f64(dg, du, c.r, c.x, c.w, 20);
    report("swiglu", "gate", gc_check(loss_swiglu, &c, c.x, dg, 20, H));
    report("swiglu", "up", gc_check(loss_swiglu, &c, c.w, du, 20, H));
    sqz_tr_gelu_bwd_f64(dx, c.r, c.x, 20);
    report("gelu", "x", gc_check(loss_gelu, &c, c.x, dx, 20, H));
    free(c.x), free(c.w), free(c.r), free(c.y), free(dg), free(du), free(dx);
}

// ---- cross-entropy and distillation (their losses are already scalars) ----
static double loss_xent(void *p) {
    ctx *c = p;
    memcpy(c->y, c->x, (size_t)c->N * c->V * sizeof(double));
    return sqz_tr_xent_f64(c->y, c->tok, c->N, c->V, 0);
}
static double loss_distill(void *p) {
    ctx *c = p;
    memcpy(c->y, c->x, (size_t)c->N * c->V * sizeof(double));
    return sqz_tr_distill_f64(c->y, c->t, c->tok, c->N, c->V, c->tau, c->alpha, 0, NULL);
}
static void test_losses(void) {
    int32_t tgt[4] = {2, -1, 0, 4};
    ctx c = {.N = 4, .V = 5, .tok = tgt, .tau = 2.0, .alpha = 0.7};
    c.x = gc_rand(20, 3), c.t = gc_rand(20, 3), c.y = gc_zeros(20);
    double *g = malloc(20 * sizeof *g);
    memcpy(g, c.x, 20 * sizeof *g);
    double l = sqz_tr_xent_f64(g, tgt, 4, 5, 1.0);
    CHECK(fabs(l - loss_xent(&c)) < 1e-12);
    report("xent", "z", gc_check(loss_xent, &c, c.x, g, 20, H));
    memcpy(g, c.x, 20 * sizeof *g);
    double kl = -1;
    sqz_tr_distill_f64(g, c.t, tgt, 4, 5, c.tau, c.alpha, 1.0, &kl);
    CHECK(kl > 0);
    report("distill", "z", gc_check(loss_distill, &c, c.x, g, 20, H));
    // alpha = 0 is plain cross-entropy; identical logits give KL = 0
    c.alpha = 0;
    CHECK(fabs(loss_distill(&c) - loss_xent(&c)) < 1e-12);
    sqz_tr_distill_f64(c.y, c.x, tgt, 4, 5, 1.0, 1.0, 0, &kl);
    CHECK(fabs(kl) < 1e-12);
    free(c.x), free(c.t), free(c.y), free(g);
}

// ---- the float instantiation agrees with the double one ----
static void test_f32_matches_f64(void) {
    int B = 2, Tn = 5, Hh = 2, Hkv = 1, hd = 4, Cq = Hh * hd, Ck = Hkv * hd, N = B * Tn;
    double *q = gc_rand(N * Cq, 1), *k = gc_rand(N * Ck, 1), *v = gc_rand(N * Ck, 1);
    double *o = gc_zeros(N * Cq), *a = gc_zeros(B * Hh * Tn * Tn);
    float qf[80], kf[40], vf[40], of[80], af[100];
    for (int i = 0; i < N * Cq; i++)
        qf[i] = (float)q[i];
    for (int i = 0; i < N * Ck; i++)
        kf[i] = (float)k[i], vf[i] = (float)v[i];
    sqz_tr_attn_fwd_f64(o, a, q, k, v, B, Tn, Hh, Hkv, hd);
    sqz_tr_attn_fwd_f32(of, af, qf, kf, vf, B, Tn, Hh, Hkv, hd);
    double md = 0;
    for (int i = 0; i < N * Cq; i++)
        md = fmax(md, fabs(o[i] - of[i]));
    printf("attention f32 vs f64: max abs diff %.3g\n", md);
    CHECK(md < 1e-5);
    free(q), free(k), free(v), free(o), free(a);
}

int main(void) {
    test_linear();
    test_embed();
    test_rmsnorm();
    test_layernorm();
    test_rope();
    test_attn();
    test_mlp_acts();
    test_losses();
    test_f32_matches_f64();
    return test_summary();
}

// Forward and backward of every op of the Llama and GPT-2 blocks, written once over a scalar type.
// ops.c includes this file twice: with T = float (suffix _f32, used by training) and T = double
// (suffix _f64, used by the float64 gradient-check harness in tests/train/). Define before including:
//   T        the scalar type
//   OP(name) the suffixed function name
//   GEMM     cblas_sgemm or cblas_dgemm
//
// Conventions (llm.c style): activations are row-major [N][C] with N = B*Tn rows (B sequences of
// Tn positions). Backward functions ACCUMULATE (+=) into every gradient they write, so one buffer can
// collect the gradient of a tensor that feeds two consumers, and gradient accumulation over
// micro-batches is free. A NULL gradient pointer means "not needed" (frozen weight, or input).

// ---- linear: y[N][No] = x[N][Ni] · w[No][Ni]^T + b[No] (b may be NULL) ----
void OP(linear_fwd)(T *y, const T *x, const T *w, const T *b, int N, int Ni, int No) {
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, N, No, Ni, 1, x, Ni, w, Ni, 0, y, No);
    if (b)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < No; o++)
                y[(size_t)n * No + o] += b[o];
}

// dx[N][Ni] += dy · w;  dw[No][Ni] += dy^T · x;  db[No] += Σ_n dy.
void OP(linear_bwd)(T *dx, T *dw, T *db, const T *dy, const T *x, const T *w, int N, int Ni, int No) {
    if (dx)
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, Ni, No, 1, dy, No, w, Ni, 1, dx, Ni);
    if (dw)
        GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, No, Ni, N, 1, dy, No, x, Ni, 1, dw, Ni);
    if (db)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < No; o++)
                db[o] += dy[(size_t)n * No + o];
}

// ---- embedding: out[n] = wte[tok[n]] (+ wpe[n % Tn] when wpe is not NULL) ----
void OP(embed_fwd)(T *out, const int32_t *tok, const T *wte, const T *wpe, int N, int Tn, int C) {
    for (int n = 0; n < N; n++) {
        const T *e = wte + (size_t)tok[n] * C;
        const T *p = wpe ? wpe + (size_t)(n % Tn) * C : NULL;
        for (int c = 0; c < C; c++)
            out[(size_t)n * C + c] = e[c] + (p ? p[c] : 0);
    }
}

void OP(embed_bwd)(T *dwte, T *dwpe, const T *dout, const int32_t *tok, int N, int Tn, int C) {
    for (int n = 0; n < N; n++) {
        const T *d = dout + (size_t)n * C;
        if (dwte)
            for (int c = 0; c < C; c++)
                dwte[(size_t)tok[n] * C + c] += d[c];
        if (dwpe)
            for (int c = 0; c < C; c++)
                dwpe[(size_t)(n % Tn) * C + c] += d[c];
    }
}

// ---- RMSNorm: y = x / sqrt(mean(x²) + eps) * w; saves rstd[N] ----
void OP(rmsnorm_fwd)(T *y, T *rstd, const T *x, const T *w, int N, int C, double eps) {
    for (int n = 0; n < N; n++) {
        const T *xn = x + (size_t)n * C;
        double ss = 0;
        for (int c = 0; c < C; c++)
            ss += (double)xn[c] * xn[c];
        T r = (T)(1.0 / sqrt(ss / C + eps));
        rstd[n] = r;
        for (int c = 0; c < C; c++)
            y[(size_t)n * C + c] = xn[c] * r * w[c];
    }
}

// dx += r·w·dy − x·r³/C·Σ(w·dy·x);  dw += Σ_n dy·x·r.
void OP(rmsnorm_bwd)(T *dx, T *dw, const T *dy, const T *x, const T *w, const T *rstd, int N, int C) {
    for (int n = 0; n < N; n++) {
        const T *xn = x + (size_t)n * C, *dyn = dy + (size_t)n * C;
        T r = rstd[n];
        double dot = 0;
        for (int c = 0; c < C; c++)
            dot += (double)w[c] * dyn[c] * xn[c];
        T k = (T)(dot * r * r * r / C);
        for (int c = 0; c < C; c++) {
            if (dx)
                dx[(size_t)n * C + c] += r * w[c] * dyn[c] - xn[c] * k;
            if (dw)
                dw[c] += dyn[c] * xn[c] * r;
        }
    }
}

// ---- LayerNorm: y = (x − mean)·rstd·w + b; saves mean[N], rstd[N] ----
void OP(layernorm_fwd)(T *y, T *mean, T *rstd, const T *x, const T *w, const T *b, int N, int C, double eps) {
    for (int n = 0; n < N; n++) {
        const T *xn = x + (size_t)n * C;
        double m = 0, v = 0;
        for (int c = 0; c < C; c++)
            m += xn[c];
        m /= C;
        for (int c = 0; c < C; c++)
            v += ((double)xn[c] - m) * ((double)xn[c] - m);
        T r = (T)(1.0 / sqrt(v / C + eps));
        mean[n] = (T)m;
        rstd[n] = r;
        for (int c = 0; c < C; c++)
            y[(size_t)n * C + c] = (xn[c] - (T)m) * r * w[c] + b[c];
    }
}

// With xhat = (x − mean)·rstd and g = w·dy: dx += rstd·(g − mean(g) − xhat·mean(g·xhat)).
void OP(layernorm_bwd)(T *dx, T *dw, T *db, const T *dy, const T *x, const T *w, const T *mean, const T *rstd,
                       int N, int C) {
    for (int n = 0; n < N; n++) {
        const T *xn = x + (size_t)n * C, *dyn = dy + (size_t)n * C;
        T m = mean[n], r = rstd[n];
        double mg = 0, mgx = 0;
        for (int c = 0; c < C; c++) {
            T xh = (xn[c] - m) * r;
            mg += (double)w[c] * dyn[c];
            mgx += (double)w[c] * dyn[c] * xh;
        }
        T a = (T)(mg / C), bb = (T)(mgx / C);
        for (int c = 0; c < C; c++) {
            T xh = (xn[c] - m) * r;
            if (dx)
                dx[(size_t)n * C + c] += r * (w[c] * dyn[c] - a - xh * bb);
            if (dw)
                dw[c] += dyn[c] * xh;
            if (db)
                db[c] += dyn[c];
        }
    }
}

// ---- RoPE, HF "rotate half" layout, in place on x[N][H·hd]; position of row n is n % Tn.
// cs[p][hd/2][2] holds (cos, sin) of position p. dir = +1 rotates (forward), −1 rotates back, which
// is also the backward: the rotation is orthogonal, so dx = R^T·dy.
void OP(rope)(T *x, const double *cs, int N, int Tn, int H, int hd, int dir) {
    int h2 = hd / 2;
    for (int n = 0; n < N; n++) {
        const double *c = cs + (size_t)(n % Tn) * h2 * 2;
        for (int h = 0; h < H; h++) {
            T *v = x + (size_t)n * H * hd + (size_t)h * hd;
            for (int i = 0; i < h2; i++) {
                T co = (T)c[2 * i], si = (T)(dir * c[2 * i + 1]);
                T a = v[i], b = v[i + h2];
                v[i] = a * co - b * si;
                v[i + h2] = b * co + a * si;
            }
        }
    }
}

// ---- causal grouped-query attention ----
// q[N][H·hd], k,v[N][Hkv·hd] → out[N][H·hd]; head h reads kv head h / (H/Hkv). att[B][H][Tn][Tn]
// receives the softmax probabilities (zeros above the diagonal), kept for the backward.
void OP(attn_fwd)(T *out, T *att, const T *q, const T *k, const T *v, int B, int Tn, int H, int Hkv, int hd) {
    int C = H * hd, Ckv = Hkv * hd, grp = H / Hkv;
    T scale = (T)(1.0 / sqrt((double)hd));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            size_t qo = (size_t)b * Tn * C + (size_t)h * hd,
                   ko = (size_t)b * Tn * Ckv + (size_t)(h / grp) * hd;
            T *P = att + ((size_t)b * H + h) * Tn * Tn;
            GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, Tn, Tn, hd, scale, q + qo, C, k + ko, Ckv, 0, P,
                 Tn);
            for (int t = 0; t < Tn; t++) { // causal softmax of row t over positions 0..t
                T *row = P + (size_t)t * Tn, mx = row[0];
                for (int s = 1; s <= t; s++)
                    mx = row[s] > mx ? row[s] : mx;
                double sum = 0;
                for (int s = 0; s <= t; s++) {
                    row[s] = (T)exp((double)(row[s] - mx));
                    sum += row[s];
                }
                for (int s = 0; s <= t; s++)
                    row[s] = (T)(row[s] / sum);
                for (int s = t + 1; s < Tn; s++)
                    row[s] = 0;
            }
            GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tn, hd, Tn, 1, P, Tn, v + ko, Ckv, 0, out + qo,
                 C);
        }
}

// dq, dk, dv accumulate. scratch: Tn·Tn elements.
void OP(attn_bwd)(T *dq, T *dk, T *dv, T *scratch, const T *dout, const T *att, const T *q, const T *k,
                  const T *v, int B, int Tn, int H, int Hkv, int hd) {
    int C = H * hd, Ckv = Hkv * hd, grp = H / Hkv;
    T scale = (T)(1.0 / sqrt((double)hd));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            size_t qo = (size_t)b * Tn * C + (size_t)h * hd,
                   ko = (size_t)b * Tn * Ckv + (size_t)(h / grp) * hd;
            const T *P = att + ((size_t)b * H + h) * Tn * Tn;
            T *dP = scratch;
            // dP = dO·V^T;  dV += P^T·dO
            GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, Tn, Tn, hd, 1, dout + qo, C, v + ko, Ckv, 0, dP,
                 Tn);
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, Tn, hd, Tn, 1, P, Tn, dout + qo, C, 1, dv + ko,
                 Ckv);
            // softmax backward: dS = P ⊙ (dP − Σ_s P·dP), then the 1/sqrt(hd) scale
            for (int t = 0; t < Tn; t++) {
                const T *p = P + (size_t)t * Tn;
                T *d = dP + (size_t)t * Tn;
                double dot = 0;
                for (int s = 0; s <= t; s++)
                    dot += (double)p[s] * d[s];
                for (int s = 0; s <= t; s++)
                    d[s] = p[s] * (d[s] - (T)dot) * scale;
                for (int s = t + 1; s < Tn; s++)
                    d[s] = 0;
            }
            // dQ += dS·K;  dK += dS^T·Q
            GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tn, hd, Tn, 1, dP, Tn, k + ko, Ckv, 1, dq + qo,
                 C);
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, Tn, hd, Tn, 1, dP, Tn, q + qo, C, 1, dk + ko, Ckv);
        }
}

// ---- SwiGLU: h = silu(g) ⊙ u over n elements ----
void OP(swiglu_fwd)(T *h, const T *g, const T *u, size_t n) {
    for (size_t i = 0; i < n; i++)
        h[i] = g[i] / (1 + (T)exp(-(double)g[i])) * u[i];
}

void OP(swiglu_bwd)(T *dg, T *du, const T *dh, const T *g, const T *u, size_t n) {
    for (size_t i = 0; i < n; i++) {
        T s = (T)(1.0 / (1.0 + exp(-(double)g[i])));
        dg[i] += dh[i] * u[i] * s * (1 + g[i] * (1 - s));
        du[i] += dh[i] * g[i] * s;
    }
}

// ---- GELU, tanh approximation (GPT-2's gelu_new) ----
#define GELU_K 0.7978845608028654 // sqrt(2/pi)
void OP(gelu_fwd)(T *y, const T *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double a = x[i];
        y[i] = (T)(0.5 * a * (1 + tanh(GELU_K * (a + 0.044715 * a * a * a))));
    }
}

void OP(gelu_bwd)(T *dx, const T *dy, const T *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double a = x[i], u = GELU_K * (a + 0.044715 * a * a * a), th = tanh(u);
        double du = GELU_K * (1 + 3 * 0.044715 * a * a);
        dx[i] += dy[i] * (T)(0.5 * (1 + th) + 0.5 * a * (1 - th * th) * du);
    }
}
#undef GELU_K

// ---- softmax cross-entropy over logits[N][V] ----
// Returns Σ_n −log softmax(logits[n])[tgt[n]] over rows with tgt[n] >= 0. If grad_scale != 0, the
// logits are overwritten IN PLACE by grad_scale·(softmax − onehot) (rows with tgt < 0 get zeros):
// the logits buffer doubles as its gradient, which saves N·V floats.
double OP(xent)(T *logits, const int32_t *tgt, int N, int V, double grad_scale) {
    double total = 0;
    for (int n = 0; n < N; n++) {
        T *z = logits + (size_t)n * V;
        if (tgt[n] < 0) {
            if (grad_scale != 0)
                memset(z, 0, (size_t)V * sizeof *z);
            continue;
        }
        double mx = z[0], sum = 0;
        for (int j = 1; j < V; j++)
            mx = z[j] > mx ? z[j] : mx;
        for (int j = 0; j < V; j++)
            sum += exp((double)z[j] - mx);
        double lse = mx + log(sum);
        total += lse - z[tgt[n]];
        if (grad_scale != 0) {
            for (int j = 0; j < V; j++)
                z[j] = (T)(grad_scale * exp((double)z[j] - lse));
            z[tgt[n]] -= (T)grad_scale;
        }
    }
    return total;
}

// ---- distillation: per row, alpha·τ²·KL(p_t^τ ‖ p_s^τ) + (1 − alpha)·CE(student, tgt) ----
// p^τ = softmax(logits / τ). teacher[N][V] are teacher logits. Rows with tgt < 0 skip the CE term
// (the KL term still counts). Returns the summed loss; with grad_scale != 0 the student logits are
// replaced in place by grad_scale·(alpha·τ·(p_s^τ − p_t^τ) + (1 − alpha)·(p_s − onehot)).
// *kl_sum (may be NULL) receives Σ KL(p_t^τ ‖ p_s^τ) without the τ² factor.
double OP(distill)(T *student, const T *teacher, const int32_t *tgt, int N, int V, double tau, double alpha,
                   double grad_scale, double *kl_sum) {
    double total = 0, kls = 0;
    for (int n = 0; n < N; n++) {
        T *z = student + (size_t)n * V;
        const T *zt = teacher + (size_t)n * V;
        double ms = z[0], mt = zt[0], ss = 0, st = 0, s1 = 0, m1 = z[0];
        for (int j = 1; j < V; j++) {
            ms = z[j] > ms ? z[j] : ms;
            mt = zt[j] > mt ? zt[j] : mt;
        }
        m1 = ms;
        for (int j = 0; j < V; j++) {
            ss += exp(((double)z[j] - ms) / tau);
            st += exp(((double)zt[j] - mt) / tau);
            s1 += exp((double)z[j] - m1);
        }
        double lss = log(ss), lst = log(st), lse1 = m1 + log(s1), kl = 0;
        for (int j = 0; j < V; j++) {
            double lps = ((double)z[j] - ms) / tau - lss, lpt = ((double)zt[j] - mt) / tau - lst;
            kl += exp(lpt) * (lpt - lps);
        }
        double ce = tgt[n] >= 0 ? lse1 - z[tgt[n]] : 0, wce = tgt[n] >= 0 ? 1 - alpha : 0;
        kls += kl;
        total += alpha * tau * tau * kl + wce * ce;
        if (grad_scale != 0) {
            for (int j = 0; j < V; j++) {
                double ps = exp(((double)z[j] - ms) / tau - lss), pt = exp(((double)zt[j] - mt) / tau - lst);
                double p1 = exp((double)z[j] - lse1);
                z[j] = (T)(grad_scale * (alpha * tau * (ps - pt) + wce * p1));
            }
            if (tgt[n] >= 0)
                z[tgt[n]] -= (T)(grad_scale * wce);
        }
    }
    if (kl_sum)
        *kl_sum = kls;
    return total;
}

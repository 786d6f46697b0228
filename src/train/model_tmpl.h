// Forward and backward of a whole model, written once over T (see ops_tmpl.h for the convention).
// Define T, MOP(name) (suffixed model function), OPS(name) (matching op), GEMM before including.
// Reads top to bottom like llama2.c's forward: one comment per block, shapes in comments, where
// N = B·Tn rows, E = n_embd, Q = n_head·head_dim, KV = n_head_kv·head_dim, F = n_ff, V = n_vocab.

#define PW(off) ((off) == TR_NONE ? NULL : (T *)m->params + (off))
// Gradient of the parameter at `off`, or NULL when it is frozen (or absent).
#define GW(off) ((off) == TR_NONE || (off) < m->train_off ? NULL : (T *)m->grads + ((off)-m->train_off))

// Element offset of the rows of B that slot s uses: a fused c_attn adapter's k and v parts are the
// second and third No-row blocks of B.
static size_t MOP(lora_b_off)(const tr_lora *a, int s, int No) {
    size_t part = !a->fused || s == S_WQ ? 0 : s == S_WK ? 1 : 2;
    return a->b + part * (size_t)No * (size_t)a->rank;
}

// y[N][No] = x·W^T + b (+ scale·(x·A^T)·B^T with a LoRA adapter, keeping x·A^T for the backward).
static void MOP(lin_fwd)(tr_model *m, int l, int s, int sb, T *y, const T *x, int N, int Ni, int No) {
    OPS(linear_fwd)(y, x, PW(m->slot[l][s]), sb >= 0 ? PW(m->slot[l][sb]) : NULL, N, Ni, No);
    int li = m->lora_lslot[l][s];
    if (li >= 0) {
        const tr_lora *a = &m->lora[li];
        T *xa = m->acts[l].xa[a->slot];
        if (s == a->slot) // a fused adapter's k/v parts reuse the q part's x·A^T (same input)
            OPS(linear_fwd)(xa, x, PW(a->a), NULL, N, Ni, a->rank);
        GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, N, No, a->rank, (T)m->lora_scale, xa, a->rank,
             PW(MOP(lora_b_off)(a, s, No)), a->rank, 1, y, No);
    }
}

static void MOP(lin_bwd)(tr_model *m, int l, int s, int sb, T *dx, const T *dy, const T *x, int N, int Ni,
                         int No) {
    OPS(linear_bwd)
    (dx, GW(m->slot[l][s]), sb >= 0 ? GW(m->slot[l][sb]) : NULL, dy, x, PW(m->slot[l][s]), N, Ni, No);
    int li = m->lora_lslot[l][s];
    if (li >= 0) {
        const tr_lora *a = &m->lora[li];
        const T *xa = m->acts[l].xa[a->slot];
        T *dxa = m->d_xa, sc = (T)m->lora_scale;
        size_t b = MOP(lora_b_off)(a, s, No);
        if (GW(b)) // dB[No][r] += scale·dy^T·xa
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, No, a->rank, N, sc, dy, No, xa, a->rank, 1, GW(b),
                 a->rank);
        // dxa[N][r] = scale·dy·B, then through A (a fused adapter's three parts each add to dA and dx)
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, a->rank, No, sc, dy, No, PW(b), a->rank, 0, dxa,
             a->rank);
        OPS(linear_bwd)(dx, GW(a->a), NULL, dxa, x, PW(a->a), N, Ni, a->rank);
    }
}

static void MOP(norm_fwd)(tr_model *m, T *y, T *mean, T *rstd, const T *x, size_t w, size_t b, int N) {
    int E = (int)m->cfg.n_embd;
    if (m->cfg.arch == SQZ_ARCH_GPT2)
        OPS(layernorm_fwd)(y, mean, rstd, x, PW(w), PW(b), N, E, m->cfg.norm_eps);
    else
        OPS(rmsnorm_fwd)(y, rstd, x, PW(w), N, E, m->cfg.norm_eps);
}

static void MOP(norm_bwd)(tr_model *m, T *dx, const T *dy, const T *x, const T *mean, const T *rstd, size_t w,
                          size_t b, int N) {
    int E = (int)m->cfg.n_embd;
    if (m->cfg.arch == SQZ_ARCH_GPT2)
        OPS(layernorm_bwd)(dx, GW(w), GW(b), dy, x, PW(w), mean, rstd, N, E);
    else
        OPS(rmsnorm_bwd)(dx, GW(w), dy, x, PW(w), rstd, N, E);
}

static void MOP(add)(T *y, const T *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

// One block: acts[l].res (input) -> out.
static void MOP(block_fwd)(tr_model *m, int l, T *out) {
    const sqz_model_config *c = &m->cfg;
    tr_acts *a = &m->acts[l];
    int N = m->B * m->Tn, E = (int)c->n_embd, H = (int)c->n_head, Hkv = (int)c->n_head_kv,
        hd = (int)c->head_dim;
    int Q = H * hd, KV = Hkv * hd, F = (int)c->n_ff;
    bool gpt2 = c->arch == SQZ_ARCH_GPT2;
    // attention: ln1 = norm(res); q,k,v = ln1·W^T (+b); RoPE on q,k; atty = softmax(q·k^T/√hd)·v
    MOP(norm_fwd)(m, a->ln1, a->ln1_m, a->ln1_r, a->res, m->slot[l][S_LN1W], m->slot[l][S_LN1B], N);
    MOP(lin_fwd)(m, l, S_WQ, S_BQ, a->q, a->ln1, N, E, Q);  // q: (N, H, hd)
    MOP(lin_fwd)(m, l, S_WK, S_BK, a->k, a->ln1, N, E, KV); // k: (N, Hkv, hd)
    MOP(lin_fwd)(m, l, S_WV, S_BV, a->v, a->ln1, N, E, KV);
    if (!gpt2) {
        OPS(rope)(a->q, m->rope_cs, N, m->Tn, H, hd, 1);
        OPS(rope)(a->k, m->rope_cs, N, m->Tn, Hkv, hd, 1);
    }
    OPS(attn_fwd)(a->atty, a->att, a->q, a->k, a->v, m->B, m->Tn, H, Hkv, hd);
    // res2 = res + atty·Wo^T (+bo)
    MOP(lin_fwd)(m, l, S_WO, S_BO, a->res2, a->atty, N, Q, E);
    MOP(add)(a->res2, a->res, (size_t)N * E);
    // MLP: ln2 = norm(res2); Llama h = silu(ln2·Wg^T)⊙(ln2·Wu^T); GPT-2 h = gelu(ln2·Wfc^T + b)
    MOP(norm_fwd)(m, a->ln2, a->ln2_m, a->ln2_r, a->res2, m->slot[l][S_LN2W], m->slot[l][S_LN2B], N);
    MOP(lin_fwd)(m, l, S_WU, S_BU, a->u, a->ln2, N, E, F); // u: (N, F)
    if (gpt2) {
        OPS(gelu_fwd)(a->h, a->u, (size_t)N * F);
    } else {
        MOP(lin_fwd)(m, l, S_WG, -1, a->g, a->ln2, N, E, F);
        OPS(swiglu_fwd)(a->h, a->g, a->u, (size_t)N * F);
    }
    // out = res2 + h·Wd^T (+bd)
    MOP(lin_fwd)(m, l, S_WD, S_BD, out, a->h, N, F, E);
    MOP(add)(out, a->res2, (size_t)N * E);
}

// Backward of one block: d_res holds dL/d(out) on entry and dL/d(res) on return.
static void MOP(block_bwd)(tr_model *m, int l) {
    const sqz_model_config *c = &m->cfg;
    tr_acts *a = &m->acts[l];
    int N = m->B * m->Tn, E = (int)c->n_embd, H = (int)c->n_head, Hkv = (int)c->n_head_kv,
        hd = (int)c->head_dim;
    int Q = H * hd, KV = Hkv * hd, F = (int)c->n_ff;
    bool gpt2 = c->arch == SQZ_ARCH_GPT2;
    T *dres = m->d_res, *dln = m->d_ln, *dh = m->d_h, *du = m->d_u, *dg = m->d_g;
    size_t nF = (size_t)N * F, nE = (size_t)N * E;
    // MLP (d_res passes through the residual unchanged)
    memset(dh, 0, nF * sizeof(T));
    MOP(lin_bwd)(m, l, S_WD, S_BD, dh, dres, a->h, N, F, E);
    memset(du, 0, nF * sizeof(T));
    memset(dln, 0, nE * sizeof(T));
    if (gpt2) {
        OPS(gelu_bwd)(du, dh, a->u, nF);
    } else {
        memset(dg, 0, nF * sizeof(T));
        OPS(swiglu_bwd)(dg, du, dh, a->g, a->u, nF);
        MOP(lin_bwd)(m, l, S_WG, -1, dln, dg, a->ln2, N, E, F);
    }
    MOP(lin_bwd)(m, l, S_WU, S_BU, dln, du, a->ln2, N, E, F);
    MOP(norm_bwd)(m, dres, dln, a->res2, a->ln2_m, a->ln2_r, m->slot[l][S_LN2W], m->slot[l][S_LN2B], N);
    // attention
    T *datty = m->d_atty, *dq = m->d_q, *dk = m->d_k, *dv = m->d_v;
    memset(datty, 0, (size_t)N * Q * sizeof(T));
    MOP(lin_bwd)(m, l, S_WO, S_BO, datty, dres, a->atty, N, Q, E);
    memset(dq, 0, (size_t)N * Q * sizeof(T));
    memset(dk, 0, (size_t)N * KV * sizeof(T));
    memset(dv, 0, (size_t)N * KV * sizeof(T));
    OPS(attn_bwd)(dq, dk, dv, m->scratch, datty, a->att, a->q, a->k, a->v, m->B, m->Tn, H, Hkv, hd);
    if (!gpt2) { // RoPE is a rotation: its backward rotates back
        OPS(rope)(dq, m->rope_cs, N, m->Tn, H, hd, -1);
        OPS(rope)(dk, m->rope_cs, N, m->Tn, Hkv, hd, -1);
    }
    memset(dln, 0, nE * sizeof(T));
    MOP(lin_bwd)(m, l, S_WQ, S_BQ, dln, dq, a->ln1, N, E, Q);
    MOP(lin_bwd)(m, l, S_WK, S_BK, dln, dk, a->ln1, N, E, KV);
    MOP(lin_bwd)(m, l, S_WV, S_BV, dln, dv, a->ln1, N, E, KV);
    MOP(norm_bwd)(m, dres, dln, a->res, a->ln1_m, a->ln1_r, m->slot[l][S_LN1W], m->slot[l][S_LN1B], N);
}

static void MOP(forward)(tr_model *m, const int32_t *tokens, const int32_t *targets, const void *teacher,
                         double tau, double alpha, double grad_scale, double *loss, int64_t *n_rows,
                         double *kl) {
    const sqz_model_config *c = &m->cfg;
    int N = m->B * m->Tn, E = (int)c->n_embd, V = (int)c->n_vocab, L = (int)c->n_layer;
    memcpy(m->tokens, tokens, (size_t)N * sizeof *tokens);
    // x = wte[tokens] (+ wpe[positions]) : (N, E)
    OPS(embed_fwd)(m->acts[0].res, tokens, PW(m->glob[G_WTE]), PW(m->glob[G_WPE]), N, m->Tn, E);
    for (int l = 0; l < L; l++)
        MOP(block_fwd)(m, l, l + 1 < L ? (T *)m->acts[l + 1].res : (T *)m->res_out);
    // logits = norm(x)·head^T : (N, V); the head is wte when tied
    MOP(norm_fwd)(m, m->lnf, m->lnf_m, m->lnf_r, m->res_out, m->glob[G_LNFW], m->glob[G_LNFB], N);
    size_t head = m->glob[G_HEAD] != TR_NONE ? m->glob[G_HEAD] : m->glob[G_WTE];
    OPS(linear_fwd)(m->logits, m->lnf, PW(head), NULL, N, E, V);
    int64_t n = 0;
    for (int i = 0; i < N; i++)
        n += teacher || targets[i] >= 0;
    double gs = n ? grad_scale / (double)n : 0;
    if (kl)
        *kl = 0;
    if (teacher)
        *loss = OPS(distill)(m->logits, teacher, targets, N, V, tau, alpha, gs, kl);
    else
        *loss = OPS(xent)(m->logits, targets, N, V, gs);
    *n_rows = n;
}

static void MOP(backward)(tr_model *m) {
    const sqz_model_config *c = &m->cfg;
    int N = m->B * m->Tn, E = (int)c->n_embd, V = (int)c->n_vocab;
    size_t head = m->glob[G_HEAD] != TR_NONE ? m->glob[G_HEAD] : m->glob[G_WTE];
    T *dln = m->d_ln;
    memset(dln, 0, (size_t)N * E * sizeof(T));
    OPS(linear_bwd)(dln, GW(head), NULL, m->logits, m->lnf, PW(head), N, E, V);
    memset(m->d_res, 0, (size_t)N * E * sizeof(T));
    MOP(norm_bwd)(m, m->d_res, dln, m->res_out, m->lnf_m, m->lnf_r, m->glob[G_LNFW], m->glob[G_LNFB], N);
    for (int l = (int)c->n_layer - 1; l >= 0; l--)
        MOP(block_bwd)(m, l);
    OPS(embed_bwd)(GW(m->glob[G_WTE]), GW(m->glob[G_WPE]), m->d_res, m->tokens, N, m->Tn, E);
}

#undef PW
#undef GW

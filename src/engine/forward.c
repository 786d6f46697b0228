// Forward passes. Each reads top to bottom like llama2.c's forward(): one comment per block,
// shapes in comments. A batch holds n tokens at positions pos0 .. pos0+n-1; rows are tokens.
#include <math.h>
#include <string.h>

#include "engine/internal.h"

// ---- small ops (single-threaded: O(n·d), negligible next to the linears) ------------------------

// RMSNorm as ggml computes it: Σ of float squares in double, mean rounded to float, scale =
// 1/sqrtf(mean + eps) in float, then (x·scale)·w. The same roundings as llama.cpp matter because
// the result feeds an 8-bit activation quantizer (see kernels.h, "float vector ops").
static void rmsnorm(float *out, const float *x, const float *w, int64_t d, float eps) {
    double ss = 0;
    for (int64_t i = 0; i < d; i++)
        ss += (double)(x[i] * x[i]);
    float mean = (float)(ss / (double)d);
    float s = 1.0f / sqrtf(mean + eps);
    for (int64_t i = 0; i < d; i++)
        out[i] = x[i] * s * w[i];
}

static void layernorm(float *out, const float *x, const float *w, const float *b, int64_t d, float eps) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < d; i++)
        mean += x[i];
    mean /= (double)d;
    for (int64_t i = 0; i < d; i++)
        var += ((double)x[i] - mean) * ((double)x[i] - mean);
    float s = (float)(1.0 / sqrt(var / (double)d + eps));
    for (int64_t i = 0; i < d; i++)
        out[i] = (float)(x[i] - mean) * s * w[i] + b[i];
}

// Rotate each head's pairs: adjacent pairs (2i, 2i+1) for GGUF llama, halves (i, i + hd/2) for HF
// checkpoints (and qwen2 GGUF). x: (n_heads, hd). Angles as ggml forms them: θ starts at pos and is
// multiplied by theta_scale = base^(-2/hd) (in float) per pair; angle = freq_scale·θ/ff[i]. The
// rotation is fused the way llama.cpp's build compiles it (x0·cos − x1·sin as fma(x0, cos, −(x1·sin)),
// x0·sin + x1·cos as fma(x0, sin, x1·cos)): with it, SmolLM2 Q4_1 logits match llama.cpp bit for bit.
static void rope(float *x, int64_t n_heads, int64_t hd, int64_t pos, const sqz_model *m, sqz_rope_layout layout) {
    int64_t half = hd / 2;
    float theta = (float)pos;
    for (int64_t i = 0; i < half; i++) {
        float a = m->rope_freq_scale * (theta / m->rope_ff[i]);
        float cs = cosf(a), sn = sinf(a);
        theta *= m->rope_theta_scale;
        for (int64_t h = 0; h < n_heads; h++) {
            float *v = x + h * hd;
            int64_t i0 = layout == SQZ_ROPE_ADJACENT ? 2 * i : i, i1 = layout == SQZ_ROPE_ADJACENT ? 2 * i + 1 : i + half;
            float a0 = v[i0], a1 = v[i1];
            v[i0] = fmaf(a0, cs, -(a1 * sn));
            v[i1] = fmaf(a0, sn, a1 * cs);
        }
    }
}

static void embed_row(const sqz_model *m, int32_t id, float *out) {
    const sqz_tensor *te = m->tok_embd;
    size_t row = sqz_type_row_size(te->type, m->cfg.n_embd);
    sqz_type_traits_of(te->type)->to_float((const uint8_t *)te->data + (size_t)id * row, out, m->cfg.n_embd);
}

static void add_rows(float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        x[i] += y[i];
}

void sqz_cache_store(sqz_ctx *c, int64_t l, int64_t pos0, int64_t n, const float *k, const float *v, int64_t ldkv) {
    int64_t kvd = c->m->cfg.n_head_kv * c->m->cfg.head_dim;
    float *kc = c->k_cache + (l * c->n_ctx + pos0) * kvd, *vt = c->v_cache + l * kvd * c->n_ctx_pad;
    for (int64_t t = 0; t < n; t++) {
        memcpy(kc + t * kvd, k + t * ldkv, (size_t)kvd * sizeof(float));
        for (int64_t i = 0; i < kvd; i++)
            vt[i * c->n_ctx_pad + pos0 + t] = v[t * ldkv + i];
    }
}

// ---- attention ------------------------------------------------------------------------------------
typedef struct {
    sqz_ctx *c;
    int64_t l, pos0, n;
} att_job;

// One (token, head): softmax(q·Kᵀ/√hd) over positions 0..pos, then the weighted sum of V — in
// llama.cpp's order (no flash attention, F32 cache): KQ dots by ggml's vec_dot_f32; the softmax over
// the row padded with -inf to whole chunks of the vector ops' lanes (8 or 16, see sqz_vec_ops);
// probabilities scaled by (float)(1/Σ); then each output dim as a dot of the transposed V row with the
// probabilities over the cache padded to 32 (llama.cpp's KV padding; zeros beyond pos): ggml's
// vec_dot_f32 for one token, llamafile's chain for a batch (llama.cpp's F32 GEMM for two or more
// columns), whose zero products beyond the chunk change nothing.
static void attend_one(sqz_ctx *c, int64_t l, int64_t pos, int64_t t, int64_t h, float *att, bool batch) {
    const sqz_model_config *cfg = &c->m->cfg;
    const sqz_vec_ops *ops = c->m->vec;
    int64_t hd = cfg->head_dim, kvd = cfg->n_head_kv * hd, kvh = h / (cfg->n_head / cfg->n_head_kv);
    const float *q = c->q + (t * cfg->n_head + h) * hd;
    const float *kc = c->k_cache + l * c->n_ctx * kvd + kvh * hd;
    const float *vt = c->v_cache + (l * kvd + kvh * hd) * c->n_ctx_pad;
    float scale = 1.0f / sqrtf((float)hd), max = -INFINITY;
    int64_t ch = ops->chunk, n = pos + 1, nc = (n + ch - 1) / ch * ch, n32 = (n + 31) & ~(int64_t)31;
    for (int64_t p = 0; p < n; p++) {
        att[p] = ops->dot_f32(hd, kc + p * kvd, q) * scale;
        max = att[p] > max ? att[p] : max;
    }
    for (int64_t p = n; p < nc; p++)
        att[p] = -INFINITY;
    float inv = (float)(1.0 / ops->softmax_exp(nc, att, att, max));
    for (int64_t p = 0; p < n; p++)
        att[p] *= inv;
    for (int64_t p = n; p < n32; p++)
        att[p] = 0.0f;
    float *out = c->att_out + (t * cfg->n_head + h) * hd;
    for (int64_t i = 0; i < hd; i++)
        out[i] = batch ? ops->dot_f32_chain(nc, vt + i * c->n_ctx_pad, att) : ops->dot_f32(n32, vt + i * c->n_ctx_pad, att);
}

static void attention_task(void *arg, int ith, int nth) {
    const att_job *j = arg;
    int64_t nh = j->c->m->cfg.n_head;
    // (token, head) items dealt round-robin: causal rows grow with the token, so contiguous ranges
    // would give the last thread most of the work (3/4 of it with 2 threads on a fresh prompt).
    for (int64_t i = ith; i < j->n * nh; i += nth)
        attend_one(j->c, j->l, j->pos0 + i / nh, i / nh, i % nh, j->c->att + ith * j->c->n_ctx_pad, j->n > 1);
}

void sqz_attention(sqz_ctx *c, int64_t l, int64_t pos0, int64_t n) {
    att_job j = {c, l, pos0, n};
    sqz_pool_run(c->pool, attention_task, &j);
}

// ---- Llama family ---------------------------------------------------------------------------------
// Each sequence's k/v go to positions pos0.. of layer l's cache, then attention runs on that
// sequence's rows (the q/att_out scratch pointers are moved to them for the call; restored after).
static void attention_seqs(sqz_ctx *c, int64_t l, int64_t n_seq, int64_t seq_len, int64_t pos0) {
    const sqz_model_config *cfg = &c->m->cfg;
    int64_t qd = cfg->n_head * cfg->head_dim, kvd = cfg->n_head_kv * cfg->head_dim;
    float *q0 = c->q, *o0 = c->att_out;
    for (int64_t s = 0; s < n_seq; s++) {
        sqz_cache_store(c, l, pos0, seq_len, c->k + s * seq_len * kvd, c->v + s * seq_len * kvd, kvd);
        c->q = q0 + s * seq_len * qd, c->att_out = o0 + s * seq_len * qd;
        sqz_attention(c, l, pos0, seq_len);
    }
    c->q = q0, c->att_out = o0;
}

void sqz_rmsnorm_rows(float *out, const float *x, const float *w, int64_t n, int64_t d, float eps) {
    for (int64_t t = 0; t < n; t++)
        rmsnorm(out + t * d, x + t * d, w, d, eps);
}

// A capture point: show the rows to the callback (if any); true when it asks to stop.
static bool capture(sqz_capture_cb cb, void *user, sqz_capture_point p, const float *x, int64_t n, int64_t width) {
    return cb && cb(user, p, x, n, width) != 0;
}

bool sqz_llama_block(sqz_ctx *c, int64_t l, int64_t n_seq, int64_t seq_len, int64_t pos0, sqz_capture_cb cb,
                     void *user) {
    const sqz_model *m = c->m;
    const sqz_model_config *cfg = &m->cfg;
    const sqz_layer *L = &m->layers[l];
    int64_t n = n_seq * seq_len, d = cfg->n_embd, hd = cfg->head_dim, qd = cfg->n_head * hd,
            kvd = cfg->n_head_kv * hd, ff = cfg->n_ff;
    float eps = (float)cfg->norm_eps;
    // attention block: xb = rmsnorm(x); q (n, n_head, hd), k/v (n, n_head_kv, hd), rotated at their positions
    sqz_rmsnorm_rows(c->xb, c->x, L->attn_norm, n, d, eps);
    if (capture(cb, user, SQZ_CAP_ATTN_IN, c->xb, n, d))
        return false;
    const sqz_linear *qkv[3] = {&L->wq, &L->wk, &L->wv};
    float *qkv_out[3] = {c->q, c->k, c->v};
    sqz_linear_forward_multi(c, qkv, qkv_out, 3, c->xb, n);
    for (int64_t t = 0; t < n; t++) {
        rope(c->q + t * qd, cfg->n_head, hd, pos0 + t % seq_len, m, cfg->rope_layout);
        rope(c->k + t * kvd, cfg->n_head_kv, hd, pos0 + t % seq_len, m, cfg->rope_layout);
    }
    attention_seqs(c, l, n_seq, seq_len, pos0); // att_out: (n, n_head, hd)
    if (capture(cb, user, SQZ_CAP_ATTN_OUT, c->att_out, n, qd))
        return false;
    // x += o(att_out)
    sqz_linear_forward(c, &L->wo, c->att_out, c->xb, n);
    add_rows(c->x, c->xb, n * d);
    // MLP block (SwiGLU): x += down(silu(gate(xb)) * up(xb)), xb = rmsnorm(x); hb/hb2: (n, ff)
    sqz_rmsnorm_rows(c->xb, c->x, L->ffn_norm, n, d, eps);
    if (capture(cb, user, SQZ_CAP_MLP_IN, c->xb, n, d))
        return false;
    const sqz_linear *gu[2] = {&L->w_gate, &L->w_up};
    float *gu_out[2] = {c->hb, c->hb2};
    sqz_linear_forward_multi(c, gu, gu_out, 2, c->xb, n);
    for (int64_t t = 0; t < n; t++) // row by row: ggml's 8-lane chunks restart at each row
        m->vec->silu_mul(ff, c->hb + t * ff, c->hb2 + t * ff);
    if (capture(cb, user, SQZ_CAP_MLP_MID, c->hb, n, ff))
        return false;
    sqz_linear_forward(c, &L->w_down, c->hb, c->xb, n);
    add_rows(c->x, c->xb, n * d);
    return true;
}

void sqz_forward_llama(sqz_ctx *c, const int32_t *ids, int64_t n) {
    const sqz_model *m = c->m;
    int64_t d = m->cfg.n_embd;
    // x: (n, d) token embeddings
    for (int64_t t = 0; t < n; t++)
        embed_row(m, ids[t], c->x + t * d);
    // every block: one sequence of n tokens at positions c->pos .., attending to the cache before it
    for (int64_t l = 0; l < m->cfg.n_layer; l++)
        sqz_llama_block(c, l, 1, n, c->pos, NULL, NULL);
    // final norm: xb (n, d)
    sqz_rmsnorm_rows(c->xb, c->x, m->out_norm, n, d, (float)m->cfg.norm_eps);
}

// ---- GPT-2 family ---------------------------------------------------------------------------------
static float gelu_tanh(float x) {
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

void sqz_forward_gpt2(sqz_ctx *c, const int32_t *ids, int64_t n) {
    const sqz_model *m = c->m;
    const sqz_model_config *cfg = &m->cfg;
    int64_t d = cfg->n_embd, ff = cfg->n_ff;
    float eps = (float)cfg->norm_eps;
    // x: (n, d) = token embedding + learned position embedding
    for (int64_t t = 0; t < n; t++) {
        embed_row(m, ids[t], c->x + t * d);
        add_rows(c->x + t * d, m->pos_embd + (c->pos + t) * d, d);
    }
    for (int64_t l = 0; l < cfg->n_layer; l++) {
        const sqz_layer *L = &m->layers[l];
        // attention block: xb = ln_1(x); qkv (n, 3d) = c_attn(xb), split into q | k | v
        for (int64_t t = 0; t < n; t++)
            layernorm(c->xb + t * d, c->x + t * d, L->attn_norm, L->attn_norm_b, d, eps);
        sqz_linear_forward(c, &L->wqkv, c->xb, c->hb, n);
        for (int64_t t = 0; t < n; t++)
            memcpy(c->q + t * d, c->hb + t * 3 * d, (size_t)d * sizeof(float));
        sqz_cache_store(c, l, c->pos, n, c->hb + d, c->hb + 2 * d, 3 * d);
        sqz_attention(c, l, c->pos, n);
        // x += c_proj(att_out)
        sqz_linear_forward(c, &L->wo, c->att_out, c->xb, n);
        add_rows(c->x, c->xb, n * d);
        // MLP block: x += c_proj(gelu(c_fc(ln_2(x)))); hb: (n, ff)
        for (int64_t t = 0; t < n; t++)
            layernorm(c->xb + t * d, c->x + t * d, L->ffn_norm, L->ffn_norm_b, d, eps);
        sqz_linear_forward(c, &L->w_up, c->xb, c->hb, n);
        for (int64_t i = 0; i < n * ff; i++)
            c->hb[i] = gelu_tanh(c->hb[i]);
        sqz_linear_forward(c, &L->w_down, c->hb, c->xb, n);
        add_rows(c->x, c->xb, n * d);
    }
    // final norm: xb (n, d) = ln_f(x)
    for (int64_t t = 0; t < n; t++)
        layernorm(c->xb + t * d, c->x + t * d, m->out_norm, m->out_norm_b, d, eps);
}

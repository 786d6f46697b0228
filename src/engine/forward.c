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

// K and V are both cached transposed, [kvd][n_ctx_pad] per layer: a position is a column.
void sqz_cache_store(sqz_ctx *c, int64_t l, int64_t pos0, int64_t n, const float *k, const float *v, int64_t ldkv) {
    int64_t kvd = c->m->cfg.n_head_kv * c->m->cfg.head_dim;
    float *kt = c->k_cache + l * kvd * c->n_ctx_pad, *vt = c->v_cache + l * kvd * c->n_ctx_pad;
    for (int64_t t = 0; t < n; t++)
        for (int64_t i = 0; i < kvd; i++) {
            kt[i * c->n_ctx_pad + pos0 + t] = k[t * ldkv + i];
            vt[i * c->n_ctx_pad + pos0 + t] = v[t * ldkv + i];
        }
}

// ---- attention ------------------------------------------------------------------------------------
typedef struct {
    sqz_ctx *c;
    int64_t l, pos0, n;
} att_job;

// Queries of one kv head taken together: the heads of its group for a tile of consecutive tokens, at
// most SQZ_ATT_Q, so each load of the K and V caches serves all of them (sqz_vec_ops.dot_f32_cols and
// dot_f32_chain_rows compute every (query, position) with exactly the bits of one dot).
//
// Per query (token t at position pos, head h) the arithmetic is llama.cpp's (no flash attention, F32
// cache): softmax(q·Kᵀ/√hd) over positions 0..pos — KQ by ggml's vec_dot_f32, scaled, the row padded
// with -inf to whole chunks of the vector ops' lanes (8 or 16, see sqz_vec_ops), probabilities scaled
// by (float)(1/Σ) — then each output dim as the dot of a transposed V row with the probabilities over
// the cache padded to 32 (llama.cpp's KV padding; zeros beyond pos): ggml's vec_dot_f32 for one token,
// llamafile's chain for a batch (llama.cpp's F32 GEMM for two or more columns). The tile works over the
// positions of its last token: the earlier tokens' extra positions are -inf scores (exp 0: the chunk
// sums do not change) and zero probabilities (zero products: the chains do not change).
// Tokens [t0, t1) × heads [h0, h0 + H) of one kv group (H·(t1 − t0) ≤ SQZ_ATT_Q).
static void attend_tile(sqz_ctx *c, int64_t l, int64_t pos0, int64_t t0, int64_t t1, int64_t h0, int64_t H,
                        float *scratch, bool batch) {
    const sqz_model_config *cfg = &c->m->cfg;
    const sqz_vec_ops *ops = c->m->vec;
    int64_t hd = cfg->head_dim, kvd = cfg->n_head_kv * hd, g = h0 / (cfg->n_head / cfg->n_head_kv), np = c->n_ctx_pad;
    int nq = (int)((t1 - t0) * H), G = (int)H;
    float *S = scratch, *qb = S + SQZ_ATT_Q * np, *ob = qb + SQZ_ATT_Q * hd; // scores, queries, outputs
    for (int64_t t = t0; t < t1; t++) // queries (t, h0 + k), contiguous
        memcpy(qb + (t - t0) * G * hd, c->q + (t * cfg->n_head + h0) * hd, (size_t)(G * hd) * sizeof(float));
    const float *kt = c->k_cache + (l * kvd + g * hd) * np;
    const float *vt = c->v_cache + (l * kvd + g * hd) * np;
    int64_t ch = ops->chunk, n_max = pos0 + t1, nc = (n_max + ch - 1) / ch * ch;
    ops->dot_f32_cols(hd, kt, (size_t)np, n_max, qb, (size_t)hd, nq, S, (size_t)np);
    float scale = 1.0f / sqrtf((float)hd);
    for (int q = 0; q < nq; q++) {
        float *att = S + q * np, max = -INFINITY;
        int64_t n = pos0 + t0 + q / G + 1, n32 = (n + 31) & ~(int64_t)31;
        for (int64_t p = 0; p < n; p++) {
            att[p] *= scale;
            max = att[p] > max ? att[p] : max;
        }
        for (int64_t p = n; p < nc; p++)
            att[p] = -INFINITY;
        float inv = (float)(1.0 / ops->softmax_exp(nc, att, att, max));
        for (int64_t p = 0; p < n; p++)
            att[p] *= inv;
        for (int64_t p = n; p < (nc > n32 ? nc : n32); p++)
            att[p] = 0.0f;
    }
    if (batch)
        ops->dot_f32_chain_rows(nc, vt, (size_t)np, hd, S, (size_t)np, nq, ob, (size_t)hd);
    else // one token: every query has the same n32 (the heads of one position)
        ops->dot_f32_rows((pos0 + t0 + 1 + 31) & ~(int64_t)31, vt, (size_t)np, hd, S, (size_t)np, nq, ob, (size_t)hd);
    for (int64_t t = t0; t < t1; t++)
        memcpy(c->att_out + (t * cfg->n_head + h0) * hd, ob + (t - t0) * G * hd, (size_t)(G * hd) * sizeof(float));
}

static void attention_task(void *arg, int ith, int nth) {
    const att_job *j = arg;
    const sqz_model_config *cfg = &j->c->m->cfg;
    // Work items: a tile of T tokens × a block of H heads of one kv group (H·T ≤ SQZ_ATT_Q queries).
    int64_t G = cfg->n_head / cfg->n_head_kv, H = G < SQZ_ATT_Q ? G : SQZ_ATT_Q, T = SQZ_ATT_Q / H;
    int64_t bpg = (G + H - 1) / H, blocks = cfg->n_head_kv * bpg, n_tiles = (j->n + T - 1) / T;
    float *scratch = j->c->att + (size_t)ith * sqz_att_scratch_floats(j->c);
    // Items dealt round-robin: causal rows grow with the token, so contiguous ranges would give the last
    // thread most of the work (3/4 of it with 2 threads on a fresh prompt).
    for (int64_t i = ith; i < n_tiles * blocks; i += nth) {
        int64_t t0 = (i / blocks) * T, t1 = t0 + T < j->n ? t0 + T : j->n, b = i % blocks;
        int64_t h0 = (b / bpg) * G + (b % bpg) * H, hn = G - (b % bpg) * H < H ? G - (b % bpg) * H : H;
        attend_tile(j->c, j->l, j->pos0, t0, t1, h0, hn, scratch, j->n > 1);
    }
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

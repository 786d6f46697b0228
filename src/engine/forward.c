// Forward passes. Each reads top to bottom like llama2.c's forward(): one comment per block,
// shapes in comments. A batch holds n tokens at positions pos0 .. pos0+n-1; rows are tokens.
#include <math.h>
#include <string.h>

#include "engine/internal.h"

// ---- small ops (single-threaded: O(n·d), negligible next to the linears) ------------------------

static void rmsnorm(float *out, const float *x, const float *w, int64_t d, float eps) {
    double ss = 0;
    for (int64_t i = 0; i < d; i++)
        ss += (double)x[i] * x[i];
    float s = (float)(1.0 / sqrt(ss / (double)d + eps));
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

// Rotate each head's pairs by pos·inv_freq[i]: adjacent pairs (2i, 2i+1) for GGUF llama, halves
// (i, i + hd/2) for HF checkpoints (and qwen2 GGUF). x: (n_heads, hd).
static void rope(float *x, int64_t n_heads, int64_t hd, int64_t pos, const float *inv_freq, sqz_rope_layout layout) {
    int64_t half = hd / 2;
    for (int64_t i = 0; i < half; i++) {
        double a = (double)pos * inv_freq[i];
        float cs = (float)cos(a), sn = (float)sin(a);
        for (int64_t h = 0; h < n_heads; h++) {
            float *v = x + h * hd;
            int64_t i0 = layout == SQZ_ROPE_ADJACENT ? 2 * i : i, i1 = layout == SQZ_ROPE_ADJACENT ? 2 * i + 1 : i + half;
            float a0 = v[i0], a1 = v[i1];
            v[i0] = a0 * cs - a1 * sn;
            v[i1] = a0 * sn + a1 * cs;
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

// Write this batch's k and v rows into layer l's cache at positions pos0..pos0+n-1.
static void cache_store(sqz_ctx *c, int64_t l, int64_t pos0, int64_t n, const float *k, const float *v, int64_t ldkv) {
    int64_t kvd = c->m->cfg.n_head_kv * c->m->cfg.head_dim;
    float *kc = c->k_cache + (l * c->n_ctx + pos0) * kvd, *vc = c->v_cache + (l * c->n_ctx + pos0) * kvd;
    for (int64_t t = 0; t < n; t++) {
        memcpy(kc + t * kvd, k + t * ldkv, (size_t)kvd * sizeof(float));
        memcpy(vc + t * kvd, v + t * ldkv, (size_t)kvd * sizeof(float));
    }
}

// ---- attention ------------------------------------------------------------------------------------
typedef struct {
    sqz_ctx *c;
    int64_t l, pos0, n;
} att_job;

// One (token, head): softmax(q·Kᵀ/√hd) over positions 0..pos0+t, then the weighted sum of V.
static void attend_one(sqz_ctx *c, int64_t l, int64_t pos, int64_t t, int64_t h, float *att) {
    const sqz_model_config *cfg = &c->m->cfg;
    int64_t hd = cfg->head_dim, kvd = cfg->n_head_kv * hd, kvh = h / (cfg->n_head / cfg->n_head_kv);
    const float *q = c->q + (t * cfg->n_head + h) * hd;
    const float *kc = c->k_cache + l * c->n_ctx * kvd + kvh * hd, *vc = c->v_cache + l * c->n_ctx * kvd + kvh * hd;
    float scale = 1.0f / sqrtf((float)hd), max = -INFINITY;
    for (int64_t p = 0; p <= pos; p++) {
        float s = 0;
        for (int64_t i = 0; i < hd; i++)
            s += q[i] * kc[p * kvd + i];
        att[p] = s * scale;
        max = att[p] > max ? att[p] : max;
    }
    float sum = 0;
    for (int64_t p = 0; p <= pos; p++)
        sum += att[p] = expf(att[p] - max);
    float *out = c->att_out + (t * cfg->n_head + h) * hd, inv = 1.0f / sum;
    memset(out, 0, (size_t)hd * sizeof *out);
    for (int64_t p = 0; p <= pos; p++) {
        float a = att[p] * inv;
        for (int64_t i = 0; i < hd; i++)
            out[i] += a * vc[p * kvd + i];
    }
}

static void attention_task(void *arg, int ith, int nth) {
    const att_job *j = arg;
    int64_t nh = j->c->m->cfg.n_head, lo, hi;
    sqz_split_range(j->n * nh, ith, nth, &lo, &hi);
    for (int64_t i = lo; i < hi; i++)
        attend_one(j->c, j->l, j->pos0 + i / nh, i / nh, i % nh, j->c->att + ith * j->c->n_ctx);
}

void sqz_attention(sqz_ctx *c, int64_t l, int64_t pos0, int64_t n) {
    att_job j = {c, l, pos0, n};
    sqz_pool_run(c->pool, attention_task, &j);
}

// ---- Llama family ---------------------------------------------------------------------------------
void sqz_forward_llama(sqz_ctx *c, const int32_t *ids, int64_t n) {
    const sqz_model *m = c->m;
    const sqz_model_config *cfg = &m->cfg;
    int64_t d = cfg->n_embd, hd = cfg->head_dim, qd = cfg->n_head * hd, kvd = cfg->n_head_kv * hd, ff = cfg->n_ff;
    float eps = (float)cfg->norm_eps;
    // x: (n, d) token embeddings
    for (int64_t t = 0; t < n; t++)
        embed_row(m, ids[t], c->x + t * d);
    for (int64_t l = 0; l < cfg->n_layer; l++) {
        const sqz_layer *L = &m->layers[l];
        // attention block: xb = rmsnorm(x); q (n, n_head, hd), k/v (n, n_head_kv, hd)
        for (int64_t t = 0; t < n; t++)
            rmsnorm(c->xb + t * d, c->x + t * d, L->attn_norm, d, eps);
        sqz_linear_forward(c, &L->wq, c->xb, c->q, n);
        sqz_linear_forward(c, &L->wk, c->xb, c->k, n);
        sqz_linear_forward(c, &L->wv, c->xb, c->v, n);
        for (int64_t t = 0; t < n; t++) {
            rope(c->q + t * qd, cfg->n_head, hd, c->pos + t, m->inv_freq, cfg->rope_layout);
            rope(c->k + t * kvd, cfg->n_head_kv, hd, c->pos + t, m->inv_freq, cfg->rope_layout);
        }
        cache_store(c, l, c->pos, n, c->k, c->v, kvd);
        sqz_attention(c, l, c->pos, n); // att_out: (n, n_head, hd)
        // x += o(att_out)
        sqz_linear_forward(c, &L->wo, c->att_out, c->xb, n);
        add_rows(c->x, c->xb, n * d);
        // MLP block (SwiGLU): x += down(silu(gate(xb)) * up(xb)), xb = rmsnorm(x); hb/hb2: (n, ff)
        for (int64_t t = 0; t < n; t++)
            rmsnorm(c->xb + t * d, c->x + t * d, L->ffn_norm, d, eps);
        sqz_linear_forward(c, &L->w_gate, c->xb, c->hb, n);
        sqz_linear_forward(c, &L->w_up, c->xb, c->hb2, n);
        for (int64_t i = 0; i < n * ff; i++) {
            float g = c->hb[i];
            c->hb[i] = g / (1.0f + expf(-g)) * c->hb2[i];
        }
        sqz_linear_forward(c, &L->w_down, c->hb, c->xb, n);
        add_rows(c->x, c->xb, n * d);
    }
    // final norm: xb (n, d)
    for (int64_t t = 0; t < n; t++)
        rmsnorm(c->xb + t * d, c->x + t * d, m->out_norm, d, eps);
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
        cache_store(c, l, c->pos, n, c->hb + d, c->hb + 2 * d, 3 * d);
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

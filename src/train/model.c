// Training model: parameter table, weight loading, LoRA adapters, activation carving.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/model.h"

static const char *const LLAMA_SLOT[N_SLOTS] = {
    [S_LN1W] = "input_layernorm.weight", [S_WQ] = "self_attn.q_proj.weight",
    [S_BQ] = "self_attn.q_proj.bias",    [S_WK] = "self_attn.k_proj.weight",
    [S_BK] = "self_attn.k_proj.bias",    [S_WV] = "self_attn.v_proj.weight",
    [S_BV] = "self_attn.v_proj.bias",    [S_WO] = "self_attn.o_proj.weight",
    [S_BO] = "self_attn.o_proj.bias",    [S_LN2W] = "post_attention_layernorm.weight",
    [S_WG] = "mlp.gate_proj.weight",     [S_WU] = "mlp.up_proj.weight",
    [S_WD] = "mlp.down_proj.weight",
};

const char *tr_slot_name(int gpt2, int slot) {
    static const char *const GPT2[N_SLOTS] = {
        [S_WQ] = "attn.c_attn", [S_WO] = "attn.c_proj", [S_WU] = "mlp.c_fc", [S_WD] = "mlp.c_proj"};
    static const char *const LL[N_SLOTS] = {
        [S_WQ] = "self_attn.q_proj", [S_WK] = "self_attn.k_proj", [S_WV] = "self_attn.v_proj",
        [S_WO] = "self_attn.o_proj", [S_WG] = "mlp.gate_proj",    [S_WU] = "mlp.up_proj",
        [S_WD] = "mlp.down_proj"};
    if (slot < 0 || slot >= N_SLOTS)
        return NULL;
    return gpt2 ? GPT2[slot] : LL[slot];
}

// Append a table entry; returns its element offset.
// Name: `prefix` alone when l < 0, else "prefix.l.s".
static size_t add_param(tr_model *m, int64_t d0, int64_t d1, const char *prefix, long long l, const char *s) {
    if (m->n_tab == m->cap_tab) {
        m->cap_tab = m->cap_tab ? 2 * m->cap_tab : 64;
        tr_param *t = realloc(m->tab, (size_t)m->cap_tab * sizeof *m->tab);
        if (!t) { // reported by the caller through m->oom
            m->oom = true;
            m->cap_tab = m->n_tab;
            return 0;
        }
        m->tab = t;
    }
    tr_param *p = &m->tab[m->n_tab++];
    memset(p, 0, sizeof *p);
    if (l < 0)
        snprintf(p->name, sizeof p->name, "%s", prefix);
    else
        snprintf(p->name, sizeof p->name, "%s.%lld.%s", prefix, l, s);
    p->n_dims = d1 > 0 ? 2 : 1;
    p->shape[0] = d0, p->shape[1] = d1 > 0 ? d1 : 0;
    p->n = (size_t)d0 * (size_t)(d1 > 0 ? d1 : 1);
    p->off = m->n_params;
    m->n_params += p->n;
    return p->off;
}

static void build_llama(tr_model *m) {
    const sqz_model_config *c = &m->cfg;
    int64_t E = c->n_embd, Q = c->n_head * c->head_dim, KV = c->n_head_kv * c->head_dim, F = c->n_ff;
    m->glob[G_WTE] = add_param(m, c->n_vocab, E, "model.embed_tokens.weight", -1, NULL);
    for (int64_t l = 0; l < c->n_layer; l++) {
        size_t *s = m->slot[l];
        const char *f = "model.layers";
        s[S_LN1W] = add_param(m, E, 0, f, l, LLAMA_SLOT[S_LN1W]);
        s[S_WQ] = add_param(m, Q, E, f, l, LLAMA_SLOT[S_WQ]);
        s[S_WK] = add_param(m, KV, E, f, l, LLAMA_SLOT[S_WK]);
        s[S_WV] = add_param(m, KV, E, f, l, LLAMA_SLOT[S_WV]);
        if (c->attn_bias) {
            s[S_BQ] = add_param(m, Q, 0, f, l, LLAMA_SLOT[S_BQ]);
            s[S_BK] = add_param(m, KV, 0, f, l, LLAMA_SLOT[S_BK]);
            s[S_BV] = add_param(m, KV, 0, f, l, LLAMA_SLOT[S_BV]);
        }
        s[S_WO] = add_param(m, E, Q, f, l, LLAMA_SLOT[S_WO]);
        s[S_LN2W] = add_param(m, E, 0, f, l, LLAMA_SLOT[S_LN2W]);
        s[S_WG] = add_param(m, F, E, f, l, LLAMA_SLOT[S_WG]);
        s[S_WU] = add_param(m, F, E, f, l, LLAMA_SLOT[S_WU]);
        s[S_WD] = add_param(m, E, F, f, l, LLAMA_SLOT[S_WD]);
    }
    m->glob[G_LNFW] = add_param(m, E, 0, "model.norm.weight", -1, NULL);
    if (!c->tie_embeddings)
        m->glob[G_HEAD] = add_param(m, c->n_vocab, E, "lm_head.weight", -1, NULL);
}

// GPT-2: c_attn is one [3E][E] tensor (transposed from Conv1D); the q/k/v slots point into it.
static void build_gpt2(tr_model *m) {
    const sqz_model_config *c = &m->cfg;
    int64_t E = c->n_embd, F = c->n_ff;
    m->glob[G_WTE] = add_param(m, c->n_vocab, E, "transformer.wte.weight", -1, NULL);
    m->glob[G_WPE] = add_param(m, c->n_ctx_train, E, "transformer.wpe.weight", -1, NULL);
    for (int64_t l = 0; l < c->n_layer; l++) {
        size_t *s = m->slot[l];
        const char *f = "transformer.h";
        s[S_LN1W] = add_param(m, E, 0, f, l, "ln_1.weight");
        s[S_LN1B] = add_param(m, E, 0, f, l, "ln_1.bias");
        s[S_WQ] = add_param(m, 3 * E, E, f, l, "attn.c_attn.weight");
        s[S_WK] = s[S_WQ] + (size_t)(E * E), s[S_WV] = s[S_WQ] + (size_t)(2 * E * E);
        s[S_BQ] = add_param(m, 3 * E, 0, f, l, "attn.c_attn.bias");
        s[S_BK] = s[S_BQ] + (size_t)E, s[S_BV] = s[S_BQ] + (size_t)(2 * E);
        s[S_WO] = add_param(m, E, E, f, l, "attn.c_proj.weight");
        s[S_BO] = add_param(m, E, 0, f, l, "attn.c_proj.bias");
        s[S_LN2W] = add_param(m, E, 0, f, l, "ln_2.weight");
        s[S_LN2B] = add_param(m, E, 0, f, l, "ln_2.bias");
        s[S_WU] = add_param(m, F, E, f, l, "mlp.c_fc.weight");
        s[S_BU] = add_param(m, F, 0, f, l, "mlp.c_fc.bias");
        s[S_WD] = add_param(m, E, F, f, l, "mlp.c_proj.weight");
        s[S_BD] = add_param(m, E, 0, f, l, "mlp.c_proj.bias");
    }
    m->glob[G_LNFW] = add_param(m, E, 0, "transformer.ln_f.weight", -1, NULL);
    m->glob[G_LNFB] = add_param(m, E, 0, "transformer.ln_f.bias", -1, NULL);
    if (!c->tie_embeddings)
        m->glob[G_HEAD] = add_param(m, c->n_vocab, E, "lm_head.weight", -1, NULL);
}

static sqz_status check_config(const sqz_model_config *c) {
    SQZ_FAIL_IF(c->n_layer < 1 || c->n_layer > 256, SQZ_ERR_UNSUPPORTED,
                "train: %lld layers (1..256 supported)", (long long)c->n_layer);
    SQZ_FAIL_IF(c->n_head < 1 || c->n_head_kv < 1 || c->n_head % c->n_head_kv, SQZ_ERR_FORMAT,
                "train: %lld heads not a multiple of %lld kv heads", (long long)c->n_head,
                (long long)c->n_head_kv);
    SQZ_FAIL_IF(c->head_dim < 2 || c->head_dim % 2, SQZ_ERR_FORMAT, "train: head_dim %lld must be even",
                (long long)c->head_dim);
    SQZ_FAIL_IF(c->n_embd > (1 << 16) || c->n_ff > (1 << 18) || c->n_vocab > (1 << 22) || c->n_vocab < 1,
                SQZ_ERR_UNSUPPORTED, "train: model dimensions too large for the training engine");
    SQZ_FAIL_IF(c->arch == SQZ_ARCH_GPT2 && c->n_head * c->head_dim != c->n_embd, SQZ_ERR_FORMAT,
                "train: gpt2 needs n_head*head_dim == n_embd");
    return SQZ_OK;
}

sqz_status tr_model_new(tr_model **out, const sqz_model_config *cfg, bool f64) {
    *out = NULL;
    SQZ_TRY(check_config(cfg));
    tr_model *m = calloc(1, sizeof *m);
    SQZ_FAIL_IF(!m, SQZ_ERR_NOMEM, "train: out of memory");
    m->cfg = *cfg;
    m->f64 = f64;
    m->esz = f64 ? sizeof(double) : sizeof(float);
    memset(m->slot, 0xff, sizeof m->slot);
    memset(m->glob, 0xff, sizeof m->glob);
    memset(m->lora_lslot, 0xff, sizeof m->lora_lslot);
    if (cfg->arch == SQZ_ARCH_GPT2)
        build_gpt2(m);
    else
        build_llama(m);
    m->params = m->oom ? NULL : calloc(m->n_params, m->esz);
    if (!m->params) {
        tr_model_free(m);
        return sqz_error(SQZ_ERR_NOMEM, "train: out of memory for %zu parameters", m->n_params);
    }
    *out = m;
    return SQZ_OK;
}

void tr_model_free(tr_model *m) {
    if (!m)
        return;
    free(m->tab);
    free(m->params);
    free(m->grads);
    free(m->adam_m);
    free(m->adam_v);
    free(m->lora);
    free(m->act_mem);
    free(m->acts);
    free(m->tokens);
    free(m->rope_cs);
    free(m);
}

static void put(tr_model *m, size_t i, double v) {
    if (m->f64)
        ((double *)m->params)[i] = v;
    else
        ((float *)m->params)[i] = (float)v;
}

static bool is_conv1d(const tr_model *m, const tr_param *p) {
    return m->cfg.arch == SQZ_ARCH_GPT2 && p->n_dims == 2 && strstr(p->name, ".h.") != NULL;
}

// GPT-2 files may lack the "transformer." prefix.
static const sqz_tensor *find_tensor(const sqz_model_file *mf, const char *name) {
    const sqz_tensor *t = sqz_model_file_find(mf, name);
    if (!t && strncmp(name, "transformer.", 12) == 0)
        t = sqz_model_file_find(mf, name + 12);
    return t;
}

static sqz_status load_one(tr_model *m, const tr_param *p, const sqz_tensor *t, float *tmp) {
    const sqz_type_traits *tt = sqz_type_traits_of(t->type);
    SQZ_FAIL_IF(!tt || !tt->to_float, SQZ_ERR_UNSUPPORTED, "train: tensor '%s' has type %s", p->name,
                sqz_type_name(t->type));
    SQZ_FAIL_IF((size_t)sqz_tensor_nelements(t) != p->n, SQZ_ERR_FORMAT,
                "train: tensor '%s' has %lld elements, expected %zu", p->name,
                (long long)sqz_tensor_nelements(t), p->n);
    tt->to_float(t->data, tmp, (int64_t)p->n);
    bool tr = is_conv1d(m, p); // Conv1D [in][out] -> [out][in]
    int64_t R = p->shape[0], C = p->n_dims == 2 ? p->shape[1] : 1;
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < C; j++)
            put(m, p->off + (size_t)(i * C + j), tr ? tmp[j * R + i] : tmp[i * C + j]);
    return SQZ_OK;
}

sqz_status tr_model_load_weights(tr_model *m, const sqz_model_file *mf) {
    size_t maxn = 0;
    for (int i = 0; i < m->n_tab; i++)
        maxn = m->tab[i].n > maxn ? m->tab[i].n : maxn;
    float *tmp = malloc(maxn * sizeof *tmp);
    SQZ_FAIL_IF(!tmp, SQZ_ERR_NOMEM, "train: out of memory");
    sqz_status st = SQZ_OK;
    for (int i = 0; i < m->n_tab && st == SQZ_OK; i++) {
        const tr_param *p = &m->tab[i];
        if (strstr(p->name, "lora_"))
            continue;
        const sqz_tensor *t = find_tensor(mf, p->name);
        if (!t)
            st = sqz_error(SQZ_ERR_NOT_FOUND, "train: %s: tensor '%s' not found", sqz_model_file_path(mf),
                           p->name);
        else
            st = load_one(m, p, t, tmp);
    }
    free(tmp);
    return st;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double unif(uint64_t *s) {
    return (double)(splitmix(s) >> 11) / (double)(1ull << 53);
}
static double normal(uint64_t *s) {
    double u = unif(s), v = unif(s);
    return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

void tr_model_init_random(tr_model *m, uint64_t seed) {
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int i = 0; i < m->n_tab; i++) {
        const tr_param *p = &m->tab[i];
        bool norm = strstr(p->name, "norm") || strstr(p->name, "ln_");
        for (size_t j = 0; j < p->n; j++)
            put(m, p->off + j,
                p->n_dims == 2                      ? 0.02 * normal(&s)
                : norm && strstr(p->name, "weight") ? 1.0
                                                    : 0.0);
    }
}

sqz_status tr_model_add_lora(tr_model *m, const int *slots, int n_slots, int rank, double alpha,
                             uint64_t seed) {
    SQZ_FAIL_IF(rank < 1 || rank > 4096, SQZ_ERR_ARG, "lora: rank %d out of range", rank);
    SQZ_FAIL_IF(m->grads, SQZ_ERR_ARG, "lora: adapters must be added before training buffers");
    const sqz_model_config *c = &m->cfg;
    size_t base = m->n_params;
    int n = (int)c->n_layer * n_slots;
    m->lora = calloc((size_t)n, sizeof *m->lora);
    SQZ_FAIL_IF(!m->lora, SQZ_ERR_NOMEM, "lora: out of memory");
    for (int l = 0; l < c->n_layer; l++)
        for (int k = 0; k < n_slots; k++) {
            int s = slots[k];
            const char *nm = tr_slot_name(c->arch == SQZ_ARCH_GPT2, s);
            SQZ_FAIL_IF(!nm || m->slot[l][s] == TR_NONE, SQZ_ERR_ARG, "lora: slot %d is not a linear layer",
                        s);
            int64_t no = s == S_WQ && c->arch != SQZ_ARCH_GPT2 ? c->n_head * c->head_dim
                         : (s == S_WK || s == S_WV)            ? c->n_head_kv * c->head_dim
                         : s == S_WO                           ? c->n_embd
                         : s == S_WD                           ? c->n_embd
                         : s == S_WQ                           ? 3 * c->n_embd
                                                               : c->n_ff;
            int64_t ni = s == S_WO ? c->n_head * c->head_dim : s == S_WD ? c->n_ff : c->n_embd;
            tr_lora *a = &m->lora[m->n_lora];
            a->layer = l, a->slot = s, a->rank = rank;
            const char *pre = c->arch == SQZ_ARCH_GPT2 ? "transformer.h" : "model.layers";
            char fa[96], fb[96];
            snprintf(fa, sizeof fa, "%s.lora_A.weight", nm);
            snprintf(fb, sizeof fb, "%s.lora_B.weight", nm);
            a->a = add_param(m, rank, ni, pre, l, fa);
            a->b = add_param(m, no, rank, pre, l, fb);
            a->fused = c->arch == SQZ_ARCH_GPT2 && s == S_WQ;
            if (a->fused) // c_attn: k and v are the other two thirds of the same adapter
                m->lora_lslot[l][S_WK] = m->lora_lslot[l][S_WV] = m->n_lora;
            m->lora_lslot[l][s] = m->n_lora++;
        }
    void *p = m->oom ? NULL : realloc(m->params, m->n_params * m->esz);
    SQZ_FAIL_IF(!p, SQZ_ERR_NOMEM, "lora: out of memory");
    m->params = p;
    uint64_t st = seed * 0x9e3779b97f4a7c15ull + 7;
    for (int i = 0; i < m->n_lora; i++) { // kaiming_uniform(a=sqrt(5)) bound = 1/sqrt(in); B = 0
        const tr_param *pa = &m->tab[m->n_tab - 2 * m->n_lora + 2 * i];
        double bound = 1.0 / sqrt((double)pa->shape[1]);
        for (size_t j = 0; j < pa->n; j++)
            put(m, pa->off + j, (2 * unif(&st) - 1) * bound);
        const tr_param *pb = pa + 1;
        for (size_t j = 0; j < pb->n; j++)
            put(m, pb->off + j, 0);
    }
    m->lora_scale = alpha / rank;
    m->train_off = base;
    return SQZ_OK;
}

size_t tr_model_n_trainable(const tr_model *m) {
    return m->n_params - m->train_off;
}

sqz_status tr_model_alloc_train(tr_model *m, bool adam) {
    size_t n = tr_model_n_trainable(m);
    if (!m->grads)
        m->grads = calloc(n, m->esz);
    if (adam && !m->adam_m) {
        m->adam_m = calloc(n, sizeof(float));
        m->adam_v = calloc(n, sizeof(float));
    }
    SQZ_FAIL_IF(!m->grads || (adam && (!m->adam_m || !m->adam_v)), SQZ_ERR_NOMEM,
                "train: out of memory for %zu trainable parameters", n);
    return SQZ_OK;
}

void tr_model_zero_grads(tr_model *m) {
    if (m->grads)
        memset(m->grads, 0, tr_model_n_trainable(m) * m->esz);
}

// RoPE (cos, sin) table for positions 0..Tn-1 with the config's frequency scaling (HF semantics).
static double *rope_table(const sqz_model_config *c, int Tn) {
    int h2 = (int)c->head_dim / 2;
    double *cs = malloc((size_t)Tn * h2 * 2 * sizeof *cs);
    if (!cs)
        return NULL;
    for (int i = 0; i < h2; i++) {
        double f = pow(c->rope_theta, -2.0 * i / (double)c->head_dim);
        if (c->rope_scaling == SQZ_ROPE_SCALING_LINEAR && c->rope_factor > 0) {
            f /= c->rope_factor;
        } else if (c->rope_scaling == SQZ_ROPE_SCALING_LLAMA3 && c->rope_factor > 0) {
            double wl = 2 * M_PI / f, lo = c->rope_orig_ctx / c->rope_low_freq_factor;
            double hi = c->rope_orig_ctx / c->rope_high_freq_factor;
            if (wl > lo) {
                f /= c->rope_factor;
            } else if (wl >= hi) {
                double sm = (c->rope_orig_ctx / wl - c->rope_low_freq_factor) /
                            (c->rope_high_freq_factor - c->rope_low_freq_factor);
                f = (1 - sm) * f / c->rope_factor + sm * f;
            }
        }
        for (int t = 0; t < Tn; t++) {
            cs[((size_t)t * h2 + i) * 2] = cos(t * f);
            cs[((size_t)t * h2 + i) * 2 + 1] = sin(t * f);
        }
    }
    return cs;
}

// Carve activations: sizes in elements, laid out in one allocation.
typedef struct carver {
    char *base;
    size_t used, esz;
} carver;
static void *carve(carver *cv, size_t n) {
    void *p = cv->base ? cv->base + cv->used * cv->esz : NULL;
    cv->used += (n + 15) & ~(size_t)15;
    return p;
}

static void carve_all(tr_model *m, carver *cv) {
    const sqz_model_config *c = &m->cfg;
    size_t N = (size_t)m->B * m->Tn, E = (size_t)c->n_embd, Q = (size_t)(c->n_head * c->head_dim);
    size_t KV = (size_t)(c->n_head_kv * c->head_dim), F = (size_t)c->n_ff, V = (size_t)c->n_vocab;
    size_t ATT = (size_t)m->B * (size_t)c->n_head * m->Tn * m->Tn;
    int rmax = 0;
    for (int i = 0; i < m->n_lora; i++)
        rmax = m->lora[i].rank > rmax ? m->lora[i].rank : rmax;
    for (int l = 0; l < c->n_layer; l++) {
        tr_acts *a = &m->acts[l];
        a->res = carve(cv, N * E), a->ln1 = carve(cv, N * E), a->ln1_m = carve(cv, N),
        a->ln1_r = carve(cv, N);
        a->q = carve(cv, N * Q), a->k = carve(cv, N * KV), a->v = carve(cv, N * KV), a->att = carve(cv, ATT);
        a->atty = carve(cv, N * Q), a->res2 = carve(cv, N * E), a->ln2 = carve(cv, N * E);
        a->ln2_m = carve(cv, N), a->ln2_r = carve(cv, N);
        a->g = c->arch == SQZ_ARCH_GPT2 ? NULL : carve(cv, N * F);
        a->u = carve(cv, N * F), a->h = carve(cv, N * F);
        for (int s = 0; s < N_SLOTS; s++) // one x·A^T per adapter (a fused c_attn keeps it at S_WQ)
            a->xa[s] = m->lora_lslot[l][s] >= 0 && m->lora[m->lora_lslot[l][s]].slot == s
                           ? carve(cv, N * (size_t)m->lora[m->lora_lslot[l][s]].rank)
                           : NULL;
    }
    m->res_out = carve(cv, N * E), m->lnf = carve(cv, N * E), m->lnf_m = carve(cv, N),
    m->lnf_r = carve(cv, N);
    m->logits = carve(cv, N * V);
    size_t W = Q > F ? Q : F; // widest layer activation
    m->d_res = carve(cv, N * E), m->d_ln = carve(cv, N * (E > W ? E : W)), m->d_q = carve(cv, N * Q);
    m->d_k = carve(cv, N * KV), m->d_v = carve(cv, N * KV), m->d_atty = carve(cv, N * Q);
    m->d_g = carve(cv, N * F), m->d_u = carve(cv, N * F), m->d_h = carve(cv, N * F);
    m->d_xa = carve(cv, N * (size_t)(rmax ? rmax : 1)), m->scratch = carve(cv, (size_t)m->Tn * m->Tn);
}

sqz_status tr_model_set_batch(tr_model *m, int B, int Tn) {
    const sqz_model_config *c = &m->cfg;
    SQZ_FAIL_IF(B < 1 || Tn < 1 || Tn > c->n_ctx_train || (int64_t)B * Tn > (1 << 20) ||
                    (int64_t)B * Tn * c->n_vocab > INT32_MAX,
                SQZ_ERR_ARG, "train: batch %d x seq %d (seq must be 1..%lld, batch*seq*vocab below 2^31)", B,
                Tn, (long long)c->n_ctx_train);
    free(m->act_mem), free(m->acts), free(m->tokens), free(m->rope_cs);
    m->B = B, m->Tn = Tn;
    m->acts = calloc((size_t)c->n_layer, sizeof *m->acts);
    carver cv = {NULL, 0, m->esz};
    carve_all(m, &cv);
    m->act_mem = calloc(cv.used, m->esz);
    m->tokens = malloc((size_t)B * Tn * sizeof *m->tokens);
    m->rope_cs = rope_table(c, Tn);
    SQZ_FAIL_IF(!m->acts || !m->act_mem || !m->tokens || !m->rope_cs, SQZ_ERR_NOMEM,
                "train: out of memory for activations (%zu MB)", cv.used * m->esz >> 20);
    cv = (carver){m->act_mem, 0, m->esz};
    carve_all(m, &cv);
    return SQZ_OK;
}

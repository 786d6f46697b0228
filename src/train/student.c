// Distillation students initialised from the teacher.
//
// LAYERS ("every2", "0,2,4"): the teacher's config with the listed blocks; every tensor copied.
// CONFIG (an HF config.json path, optionally "PATH:0,2,4" to name the kept blocks): a narrower student
// of the same architecture with fewer blocks and/or smaller widths, initialised by structured
// truncation of the teacher:
//  - blocks: the listed ones, else n' spread evenly (block i of the student = teacher block ⌊i·L/n'⌋);
//  - MLP channels (intermediate_size): the n_ff' channels with the highest Wanda-style score
//    s_j = ‖X_j‖·Σ_o |W_down[o][j]| (sqz_prune_channel_scores), X = the teacher's down_proj inputs on
//    calibration batches; gate/up rows and down columns of the kept channels;
//  - attention heads: KV groups ranked by the summed scores of o_proj's columns of their query
//    heads (the same score on o_proj's input), the top n_head_kv' kept; inside each kept group the
//    top n_head'/n_head_kv' query heads; q rows, k/v rows and o columns of what is kept (head_dim
//    stays the teacher's);
//  - hidden size (Llama family only): one orthonormal projection P [E][E'] for the whole residual
//    stream, the top E' right singular vectors of the token embedding (sqz_lowrank_svd): the residual
//    stream starts as embedding rows and, when tied, is read out by the same matrix, so its
//    dominant directions are where the stream lives. Writers of the stream are projected (Pᵀ·W_o,
//    Pᵀ·W_down, embedding·P); readers fold their RMSNorm gain in (W·diag(g)·P); the student's norm
//    gains become √(E/E'), which makes RMSNorm of Pᵀx equal RMSNorm of x for x in the span of P.
//    With tied embeddings the final norm gain cannot be folded into the shared matrix, so it becomes
//    √(E/E')·diag(Pᵀ·diag(g)·P) (exact when g is constant).
// GPT-2 students may drop blocks and MLP channels (LayerNorm's mean subtraction does not commute
// with the projection, and its head count is tied to the hidden size).
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sqz/prune.h"
#include "train/train_internal.h"

#define CALIB_BATCHES 4

// Teacher block indices from "0,2,4" or "everyK".
static sqz_status parse_layers(const char *spec, int64_t n_layer, int *idx, int *n) {
    *n = 0;
    SQZ_FAIL_IF(!spec || !*spec, SQZ_ERR_ARG,
                "distill: --student LAYERS|CONFIG is required (e.g. every2, 0,2,4 or student.json)");
    if (strncmp(spec, "every", 5) == 0) {
        long k = strtol(spec + 5, NULL, 10);
        SQZ_FAIL_IF(k < 1 || k > n_layer, SQZ_ERR_ARG, "distill: bad student spec '%s'", spec);
        for (int64_t l = 0; l < n_layer; l += k)
            idx[(*n)++] = (int)l;
        return SQZ_OK;
    }
    for (const char *p = spec; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        SQZ_FAIL_IF(end == p || v < 0 || v >= n_layer || *n >= 256, SQZ_ERR_ARG,
                    "distill: bad student layer list '%s' (teacher has %lld blocks)", spec, (long long)n_layer);
        idx[(*n)++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        SQZ_FAIL_IF(*p && *end != ',', SQZ_ERR_ARG, "distill: bad student layer list '%s'", spec);
    }
    return SQZ_OK;
}

// Same-shape student with the listed blocks: every tensor copied by name.
static sqz_status copy_blocks(tr_model *s, const tr_model *t, const int *idx) {
    for (int i = 0; i < s->n_tab; i++) {
        const tr_param *p = &s->tab[i];
        char name[160];
        const char *dot = strstr(p->name, "layers.") ? strstr(p->name, "layers.") + 7
                          : strstr(p->name, ".h.")   ? strstr(p->name, ".h.") + 3
                                                     : NULL;
        if (dot)
            snprintf(name, sizeof name, "%.*s%d%s", (int)(dot - p->name), p->name, idx[atoi(dot)], strchr(dot, '.'));
        else
            snprintf(name, sizeof name, "%s", p->name);
        int k = 0;
        while (k < t->n_tab && strcmp(t->tab[k].name, name) != 0)
            k++;
        SQZ_FAIL_IF(k == t->n_tab, SQZ_ERR_NOT_FOUND, "distill: teacher has no tensor '%s'", name);
        memcpy((float *)s->params + p->off, (const float *)t->params + t->tab[k].off, p->n * sizeof(float));
    }
    return SQZ_OK;
}

// ---- narrower students ---------------------------------------------------------------------------

static sqz_status check_student(const char *path, const sqz_model_config *s, const sqz_model_config *t) {
#define TOO_BIG(field, key)                                                                                  \
    SQZ_FAIL_IF(s->field > t->field, SQZ_ERR_ARG, "distill: %s: %s %lld is larger than the teacher's %lld", path, \
                key, (long long)s->field, (long long)t->field)
    SQZ_FAIL_IF(t->n_head > 256, SQZ_ERR_UNSUPPORTED, "distill: narrowing a teacher with more than 256 heads");
    SQZ_FAIL_IF(s->arch != t->arch, SQZ_ERR_ARG, "distill: %s: architecture %s differs from the teacher's %s", path,
                s->arch_name, t->arch_name);
    SQZ_FAIL_IF(s->n_vocab != t->n_vocab, SQZ_ERR_ARG, "distill: %s: vocab_size %lld differs from the teacher's %lld",
                path, (long long)s->n_vocab, (long long)t->n_vocab);
    TOO_BIG(n_layer, "num_hidden_layers");
    TOO_BIG(n_embd, "hidden_size");
    TOO_BIG(n_ff, "intermediate_size");
    TOO_BIG(n_head, "num_attention_heads");
    TOO_BIG(n_head_kv, "num_key_value_heads");
    TOO_BIG(n_ctx_train, "max_position_embeddings");
#undef TOO_BIG
    SQZ_FAIL_IF(s->n_head_kv < 1 || s->n_head % s->n_head_kv, SQZ_ERR_ARG,
                "distill: %s: %lld attention heads are not a multiple of %lld KV heads", path, (long long)s->n_head,
                (long long)s->n_head_kv);
    SQZ_FAIL_IF(s->n_head / s->n_head_kv > t->n_head / t->n_head_kv, SQZ_ERR_ARG,
                "distill: %s: %lld query heads per KV head, the teacher has only %lld", path,
                (long long)(s->n_head / s->n_head_kv), (long long)(t->n_head / t->n_head_kv));
    SQZ_FAIL_IF(s->head_dim != t->head_dim, SQZ_ERR_ARG,
                "distill: %s: head dimension %lld (hidden_size / num_attention_heads) differs from the teacher's "
                "%lld; heads are kept whole",
                path, (long long)s->head_dim, (long long)t->head_dim);
    SQZ_FAIL_IF(s->attn_bias != t->attn_bias, SQZ_ERR_ARG, "distill: %s: attention biases differ from the teacher",
                path);
    SQZ_FAIL_IF(s->arch == SQZ_ARCH_GPT2 && (s->n_embd != t->n_embd || s->n_head != t->n_head), SQZ_ERR_ARG,
                "distill: %s: a GPT-2 student keeps the teacher's n_embd and n_head (only n_layer and n_inner shrink)",
                path);
    return SQZ_OK;
}

// Per kept block: the teacher's Σx² of o_proj's and down_proj's inputs over calibration batches.
typedef struct calib {
    double *o_sq, *d_sq; // [n][Q], [n][F]
    int64_t rows;
} calib;

static sqz_status collect(tr_model *t, const tr_stream *train, uint64_t seed, const int *idx, int n, calib *cb) {
    const sqz_model_config *c = &t->cfg;
    int64_t Q = c->n_head * c->head_dim, F = c->n_ff, N = (int64_t)t->B * t->Tn;
    cb->o_sq = calloc((size_t)(n * Q), sizeof *cb->o_sq);
    cb->d_sq = calloc((size_t)(n * F), sizeof *cb->d_sq);
    int32_t *tok = malloc((size_t)N * sizeof *tok), *tgt = malloc((size_t)N * sizeof *tgt);
    sqz_status st = SQZ_OK;
    if (!cb->o_sq || !cb->d_sq || !tok || !tgt)
        st = sqz_error(SQZ_ERR_NOMEM, "distill: out of memory for calibration statistics");
    for (int b = 0; b < CALIB_BATCHES && st == SQZ_OK; b++) {
        tr_data_batch(train, seed ^ 0x5eedca1bull, b, 0, t->B, t->Tn, tok, tgt);
        double loss;
        int64_t nr;
        tr_model_forward(t, tok, tgt, NULL, 1, 0, 0, &loss, &nr, NULL);
        for (int i = 0; i < n; i++) {
            const float *o = t->acts[idx[i]].atty, *h = t->acts[idx[i]].h;
            for (int64_t r = 0; r < N; r++) {
                for (int64_t j = 0; j < Q; j++)
                    cb->o_sq[i * Q + j] += (double)o[r * Q + j] * o[r * Q + j];
                for (int64_t j = 0; j < F; j++)
                    cb->d_sq[i * F + j] += (double)h[r * F + j] * h[r * F + j];
            }
        }
        cb->rows += N;
    }
    free(tok);
    free(tgt);
    return st;
}

// What a student block keeps of its teacher block: query rows (whole heads), k/v rows (whole groups),
// MLP channels; ascending order.
typedef struct keep {
    int64_t *q, *kv, *ff;
    int64_t nq, nkv, nff;
} keep;

// Indices i with keep[i] into out; returns the count.
static int64_t kept(const uint8_t *k, int64_t n, int64_t *out) {
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (k[i])
            out[m++] = i;
    return m;
}

static sqz_status select_block(const tr_model *t, const sqz_model_config *sc, int tl, double *o_sq,
                               double *d_sq, int64_t rows, keep *kp) {
    const sqz_model_config *c = &t->cfg;
    int64_t E = c->n_embd, hd = c->head_dim, H = c->n_head, Hkv = c->n_head_kv, g = H / Hkv, F = c->n_ff;
    int64_t Q = H * hd, gs = sc->n_head / sc->n_head_kv;
    const float *P = t->params;
    double *cs = malloc((size_t)(Q > F ? Q : F) * sizeof *cs), hs[256], gsc[256];
    uint8_t *mask = malloc((size_t)(Q > F ? Q : F));
    sqz_status st = cs && mask ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "distill: out of memory");
    // MLP channels by the score of down_proj's input columns
    sqz_actstats sd = {.n_in = F, .n_rows = rows, .sq_sum = d_sq};
    if (st == SQZ_OK)
        st = sqz_prune_channel_scores(P + t->slot[tl][S_WD], E, F, &sd, cs);
    if (st == SQZ_OK && sc->n_ff < F)
        st = sqz_prune_lowest(cs, F, F - sc->n_ff, mask);
    else if (st == SQZ_OK)
        memset(mask, 1, (size_t)F);
    if (st == SQZ_OK)
        kp->nff = kept(mask, F, kp->ff);
    // heads by the score of o_proj's input columns: per head, per KV group
    sqz_actstats so = {.n_in = Q, .n_rows = rows, .sq_sum = o_sq};
    if (st == SQZ_OK)
        st = sqz_prune_channel_scores(P + t->slot[tl][S_WO], E, Q, &so, cs);
    if (st != SQZ_OK) {
        free(cs), free(mask);
        return st;
    }
    for (int64_t h = 0; h < H; h++) {
        hs[h] = 0;
        for (int64_t j = h * hd; j < (h + 1) * hd; j++)
            hs[h] += cs[j];
    }
    for (int64_t k = 0; k < Hkv; k++) {
        gsc[k] = 0;
        for (int64_t h = k * g; h < (k + 1) * g; h++)
            gsc[k] += hs[h];
    }
    uint8_t gk[256], hk[256];
    if (sc->n_head_kv < Hkv)
        st = sqz_prune_lowest(gsc, Hkv, Hkv - sc->n_head_kv, gk);
    else
        memset(gk, 1, sizeof gk);
    kp->nq = kp->nkv = 0;
    for (int64_t k = 0; k < Hkv && st == SQZ_OK; k++) {
        if (!gk[k])
            continue;
        if (gs < g)
            st = sqz_prune_lowest(hs + k * g, g, g - gs, hk);
        else
            memset(hk, 1, sizeof hk);
        for (int64_t j = 0; j < hd; j++)
            kp->kv[kp->nkv++] = k * hd + j;
        for (int64_t h = 0; h < g; h++)
            if (hk[h])
                for (int64_t j = 0; j < hd; j++)
                    kp->q[kp->nq++] = (k * g + h) * hd + j;
    }
    free(cs), free(mask);
    return st;
}

// dst[n][C] = src rows r[0..n); dst[R][n] = src columns c[0..n).
static void take_rows(const float *src, int64_t C, const int64_t *r, int64_t n, float *dst) {
    for (int64_t i = 0; i < n; i++)
        memcpy(dst + i * C, src + r[i] * C, (size_t)C * sizeof *dst);
}
static void take_cols(const float *src, int64_t R, int64_t C, const int64_t *c, int64_t n, float *dst) {
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < n; j++)
            dst[i * n + j] = src[i * C + c[j]];
}

// The residual-stream projection P [E][E'] (NULL when E' == E) and the two ways weights meet it.
typedef struct proj {
    const float *p;
    int64_t E, Ep;
    float *tmp; // scratch of the largest teacher matrix
} proj;

// dst[R][E'] = (src[R][E] ⊙ g) · P, g per input column (NULL: 1); a plain copy without projection.
static void proj_in(const proj *pj, const float *src, int64_t R, const float *g, float *dst) {
    if (!pj->p) {
        memcpy(dst, src, (size_t)(R * pj->E) * sizeof *dst);
        return;
    }
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < pj->E; j++)
            pj->tmp[i * pj->E + j] = src[i * pj->E + j] * (g ? g[j] : 1.0f);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, (int)pj->Ep, (int)pj->E, 1.0f, pj->tmp, (int)pj->E,
                pj->p, (int)pj->Ep, 0.0f, dst, (int)pj->Ep);
}
// dst[E'][C] = Pᵀ · src[E][C]; a plain copy without projection.
static void proj_out(const proj *pj, const float *src, int64_t C, float *dst) {
    if (!pj->p)
        memcpy(dst, src, (size_t)(pj->E * C) * sizeof *dst);
    else
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)pj->Ep, (int)C, (int)pj->E, 1.0f, pj->p, (int)pj->Ep,
                    src, (int)C, 0.0f, dst, (int)C);
}

static void set_gain(tr_model *s, size_t off, const proj *pj, const float *g) {
    float *d = (float *)s->params + off;
    for (int64_t j = 0; j < pj->Ep; j++)
        d[j] = pj->p ? (float)sqrt((double)pj->E / (double)pj->Ep) : g[j];
}

// One student block l from teacher block tl with the kept rows/channels; w: scratch.
static void fill_block(tr_model *s, const tr_model *t, int l, int tl, const keep *kp, const proj *pj, float *w) {
    const float *TP = t->params;
    float *SP = s->params;
    const size_t *ts = t->slot[tl], *ss = s->slot[l];
    int64_t E = t->cfg.n_embd, Q = t->cfg.n_head * t->cfg.head_dim, F = t->cfg.n_ff;
    const float *g1 = TP + ts[S_LN1W], *g2 = TP + ts[S_LN2W];
    bool gpt2 = t->cfg.arch == SQZ_ARCH_GPT2;
    if (gpt2) { // only MLP channels shrink: copy everything else
        for (int k = 0; k < N_SLOTS; k++)
            if (ss[k] != TR_NONE && k != S_WU && k != S_BU && k != S_WD && k != S_WK && k != S_WV && k != S_BK &&
                k != S_BV) {
                size_t n = 0;
                for (int i = 0; i < t->n_tab; i++)
                    n = t->tab[i].off == ts[k] ? t->tab[i].n : n;
                memcpy(SP + ss[k], TP + ts[k], n * sizeof *SP);
            }
        take_rows(TP + ts[S_WU], E, kp->ff, kp->nff, SP + ss[S_WU]);
        take_rows(TP + ts[S_BU], 1, kp->ff, kp->nff, SP + ss[S_BU]);
        take_cols(TP + ts[S_WD], E, F, kp->ff, kp->nff, SP + ss[S_WD]);
        return;
    }
    set_gain(s, ss[S_LN1W], pj, g1);
    set_gain(s, ss[S_LN2W], pj, g2);
    const int qkv[3] = {S_WQ, S_WK, S_WV}, bias[3] = {S_BQ, S_BK, S_BV};
    for (int i = 0; i < 3; i++) {
        const int64_t *r = i == 0 ? kp->q : kp->kv, n = i == 0 ? kp->nq : kp->nkv;
        take_rows(TP + ts[qkv[i]], E, r, n, w);
        proj_in(pj, w, n, g1, SP + ss[qkv[i]]);
        if (ts[bias[i]] != TR_NONE)
            take_rows(TP + ts[bias[i]], 1, r, n, SP + ss[bias[i]]);
    }
    take_cols(TP + ts[S_WO], E, Q, kp->q, kp->nq, w);
    proj_out(pj, w, kp->nq, SP + ss[S_WO]);
    take_rows(TP + ts[S_WG], E, kp->ff, kp->nff, w);
    proj_in(pj, w, kp->nff, g2, SP + ss[S_WG]);
    take_rows(TP + ts[S_WU], E, kp->ff, kp->nff, w);
    proj_in(pj, w, kp->nff, g2, SP + ss[S_WU]);
    take_cols(TP + ts[S_WD], E, F, kp->ff, kp->nff, w);
    proj_out(pj, w, kp->nff, SP + ss[S_WD]);
}

// Embeddings, positions, final norm and head.
static void fill_globals(tr_model *s, const tr_model *t, const proj *pj) {
    const float *TP = t->params;
    float *SP = s->params;
    int64_t V = t->cfg.n_vocab, E = t->cfg.n_embd;
    const float *gf = TP + t->glob[G_LNFW];
    proj_in(pj, TP + t->glob[G_WTE], V, NULL, SP + s->glob[G_WTE]);
    if (s->glob[G_WPE] != TR_NONE)
        memcpy(SP + s->glob[G_WPE], TP + t->glob[G_WPE], (size_t)(s->cfg.n_ctx_train * E) * sizeof *SP);
    if (s->glob[G_LNFB] != TR_NONE)
        memcpy(SP + s->glob[G_LNFB], TP + t->glob[G_LNFB], (size_t)E * sizeof *SP);
    set_gain(s, s->glob[G_LNFW], pj, gf);
    size_t th = t->glob[G_HEAD] != TR_NONE ? t->glob[G_HEAD] : t->glob[G_WTE];
    if (s->glob[G_HEAD] != TR_NONE) {
        proj_in(pj, TP + th, V, gf, SP + s->glob[G_HEAD]);
    } else if (pj->p) { // tied: the gain stays in the norm, as √(E/E')·diag(Pᵀ·diag(gf)·P)
        float *d = SP + s->glob[G_LNFW];
        for (int64_t k = 0; k < pj->Ep; k++) {
            double acc = 0;
            for (int64_t j = 0; j < E; j++)
                acc += (double)pj->p[j * pj->Ep + k] * pj->p[j * pj->Ep + k] * gf[j];
            d[k] = (float)(acc * sqrt((double)E / (double)pj->Ep));
        }
    }
}

// P [E][E'] = the top E' right singular vectors of the teacher's token embedding.
static sqz_status embedding_basis(const tr_model *t, int64_t Ep, float **out) {
    *out = NULL;
    int64_t V = t->cfg.n_vocab, E = t->cfg.n_embd;
    sqz_lowrank *lr = NULL;
    SQZ_TRY_CTX(sqz_lowrank_svd((const float *)t->params + t->glob[G_WTE], V, E, NULL, Ep, 1.0, &lr),
                "distill: SVD of the token embedding: ");
    float *p = malloc((size_t)(E * Ep) * sizeof *p);
    if (p)
        for (int64_t k = 0; k < Ep; k++)
            for (int64_t j = 0; j < E; j++)
                p[j * Ep + k] = lr->b[k * E + j]; // B = V_rᵀ [E'][E]
    sqz_lowrank_free(lr);
    SQZ_FAIL_IF(!p, SQZ_ERR_NOMEM, "distill: out of memory");
    *out = p;
    return SQZ_OK;
}

static sqz_status narrow_student(tr_model **out, tr_model *t, const char *path, const char *layers,
                                 const tr_stream *train, uint64_t seed) {
    sqz_model_config sc;
    SQZ_TRY_CTX(sqz_config_from_hf_json(&sc, path), "distill: student config: ");
    SQZ_TRY(check_student(path, &sc, &t->cfg));
    int idx[256], n = 0;
    if (layers) {
        SQZ_TRY(parse_layers(layers, t->cfg.n_layer, idx, &n));
        SQZ_FAIL_IF(n != sc.n_layer, SQZ_ERR_ARG, "distill: %d blocks listed, %s has num_hidden_layers %lld", n, path,
                    (long long)sc.n_layer);
    } else {
        for (n = 0; n < sc.n_layer; n++)
            idx[n] = (int)(n * t->cfg.n_layer / sc.n_layer);
    }
    SQZ_TRY(tr_model_new(out, &sc, false));
    tr_model *s = *out;
    calib cb = {0};
    proj pj = {NULL, t->cfg.n_embd, sc.n_embd, NULL};
    float *basis = NULL, *w = NULL;
    int64_t E = t->cfg.n_embd, big = t->cfg.n_vocab > t->cfg.n_ff ? t->cfg.n_vocab : t->cfg.n_ff;
    big = big > t->cfg.n_head * t->cfg.head_dim ? big : t->cfg.n_head * t->cfg.head_dim;
    keep kp = {malloc((size_t)t->cfg.n_head * t->cfg.head_dim * sizeof(int64_t)),
               malloc((size_t)t->cfg.n_head_kv * t->cfg.head_dim * sizeof(int64_t)),
               malloc((size_t)t->cfg.n_ff * sizeof(int64_t)), 0, 0, 0};
    w = malloc((size_t)(big * E) * sizeof *w);
    pj.tmp = malloc((size_t)(big * E) * sizeof *pj.tmp);
    sqz_status st = w && pj.tmp && kp.q && kp.kv && kp.ff ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "distill: out of memory");
    if (st == SQZ_OK)
        st = collect(t, train, seed, idx, n, &cb);
    if (st == SQZ_OK && sc.n_embd < E && (st = embedding_basis(t, sc.n_embd, &basis)) == SQZ_OK)
        pj.p = basis;
    int64_t Q = t->cfg.n_head * t->cfg.head_dim, F = t->cfg.n_ff;
    for (int l = 0; l < n && st == SQZ_OK; l++) {
        st = select_block(t, &sc, idx[l], cb.o_sq + l * Q, cb.d_sq + l * F, cb.rows, &kp);
        if (st == SQZ_OK)
            fill_block(s, t, l, idx[l], &kp, &pj, w);
    }
    if (st == SQZ_OK)
        fill_globals(s, t, &pj);
    free(cb.o_sq), free(cb.d_sq), free(basis), free(w), free(pj.tmp), free(kp.q), free(kp.kv), free(kp.ff);
    return st;
}

sqz_status tr_student_new(tr_model **out, tr_model *teacher, const char *spec, const tr_stream *train, uint64_t seed,
                          char *cfg_json, size_t cfg_cap) {
    *out = NULL;
    SQZ_FAIL_IF(!spec || !*spec, SQZ_ERR_ARG,
                "distill: --student LAYERS|CONFIG is required (e.g. every2, 0,2,4 or student.json)");
    const char *json = strstr(spec, ".json");
    if (json) { // CONFIG or CONFIG:LAYERS
        char path[4096];
        const char *colon = json[5] == ':' ? json + 5 : NULL;
        SQZ_FAIL_IF(!colon && json[5], SQZ_ERR_ARG, "distill: bad student spec '%s' (CONFIG.json[:LAYERS])", spec);
        snprintf(path, sizeof path, "%.*s", (int)(json + 5 - spec), spec);
        snprintf(cfg_json, cfg_cap, "%s", path);
        return narrow_student(out, teacher, path, colon ? colon + 1 : NULL, train, seed);
    }
    int idx[256], n = 0;
    SQZ_TRY(parse_layers(spec, teacher->cfg.n_layer, idx, &n));
    sqz_model_config c = teacher->cfg;
    c.n_layer = n;
    SQZ_TRY(tr_model_new(out, &c, false));
    return copy_blocks(*out, teacher, idx);
}

// The training loop shared by pretrain, LoRA and distillation: data → micro-batches → forward +
// backward (accumulated) → global-norm clip → AdamW with warmup + cosine → held-out evaluation →
// checkpoints. Deterministic for a seed: batches are a pure function of (seed, step, micro-batch)
// and the state saved in a checkpoint is everything the next step reads.
#define _XOPEN_SOURCE 700 // nftw
#include <cblas.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "train/train_internal.h"

void sqz_train_opts_default(sqz_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->lr = 3e-4, o->min_lr_frac = 0.1, o->batch = 4, o->seq = 128, o->accum = 1, o->seed = 1;
    o->weight_decay = 0.01, o->beta1 = 0.9, o->beta2 = 0.999, o->eps = 1e-8, o->clip = 1.0;
    o->lora_rank = 8, o->lora_alpha = 16, o->lora_targets = "q_proj,v_proj", o->tau = 2, o->alpha = 0.5;
    o->eval_batches = 4;
}

// ---- learning rate: linear warmup, then cosine from lr to lr·min_lr_frac ----
static double lr_at(const sqz_train_opts *o, int64_t step, int64_t steps) { // step 0-based
    if (step < o->warmup)
        return o->lr * (double)(step + 1) / (double)o->warmup;
    double span = (double)(steps - o->warmup), p = span > 0 ? (double)(step - o->warmup) / span : 1;
    double mn = o->lr * o->min_lr_frac;
    return mn + 0.5 * (o->lr - mn) * (1 + cos(M_PI * p));
}

// ---- AdamW over the trainable region; weight decay only on matrices ----
static void adamw(tr_model *m, const sqz_train_opts *o, double lr, int64_t t) {
    float *P = m->params, *G = m->grads;
    double b1c = 1 - pow(o->beta1, (double)t), b2c = 1 - pow(o->beta2, (double)t);
    for (int i = 0; i < m->n_tab; i++) {
        const tr_param *p = &m->tab[i];
        if (p->off < m->train_off)
            continue;
        double wd = p->n_dims == 2 ? o->weight_decay : 0;
        for (size_t j = 0; j < p->n; j++) {
            size_t k = p->off - m->train_off + j;
            float g = G[k];
            m->adam_m[k] = (float)(o->beta1 * m->adam_m[k] + (1 - o->beta1) * g);
            m->adam_v[k] = (float)(o->beta2 * m->adam_v[k] + (1 - o->beta2) * g * g);
            double mh = m->adam_m[k] / b1c, vh = m->adam_v[k] / b2c;
            float *w = &P[p->off + j];
            *w -= (float)(lr * (mh / (sqrt(vh) + o->eps) + wd * *w));
        }
    }
}

static double clip_grads(tr_model *m, double clip) {
    float *G = m->grads;
    size_t n = tr_model_n_trainable(m);
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (double)G[i] * G[i];
    double norm = sqrt(ss);
    if (clip > 0 && norm > clip) {
        float s = (float)(clip / norm);
        for (size_t i = 0; i < n; i++)
            G[i] *= s;
    }
    return norm;
}

// ---- checkpoint: magic, step, sizes, then the trainable parameters, AdamW m and v ----
// Frozen parameters (a LoRA base) are not stored: they are reloaded from the base model.
static const char CK_MAGIC[8] = {'S', 'Q', 'Z', 'T', 'R', 'C', 'K', '1'};

static sqz_status ckpt_save(const tr_model *m, const char *dir, int64_t step) {
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/checkpoint.bin", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    SQZ_FAIL_IF(!f, SQZ_ERR_IO, "%s: %s", tmp, strerror(errno));
    uint64_t hdr[3] = {(uint64_t)step, m->n_params, m->train_off};
    size_t nt = tr_model_n_trainable(m);
    bool ok = fwrite(CK_MAGIC, 8, 1, f) == 1 && fwrite(hdr, sizeof hdr, 1, f) == 1 &&
              fwrite((float *)m->params + m->train_off, sizeof(float), nt, f) == nt &&
              fwrite(m->adam_m, sizeof(float), nt, f) == nt && fwrite(m->adam_v, sizeof(float), nt, f) == nt;
    ok = (fclose(f) == 0) && ok;
    SQZ_FAIL_IF(!ok || rename(tmp, path) != 0, SQZ_ERR_IO, "%s: write failed", path);
    return SQZ_OK;
}

static sqz_status ckpt_load(tr_model *m, const char *dir, int64_t *step) {
    char path[4096];
    snprintf(path, sizeof path, "%s/checkpoint.bin", dir);
    FILE *f = fopen(path, "rb");
    SQZ_FAIL_IF(!f, SQZ_ERR_IO, "%s: %s", path, strerror(errno));
    char mg[8];
    uint64_t hdr[3];
    size_t nt = tr_model_n_trainable(m);
    bool ok = fread(mg, 8, 1, f) == 1 && memcmp(mg, CK_MAGIC, 8) == 0 && fread(hdr, sizeof hdr, 1, f) == 1;
    if (ok && (hdr[1] != m->n_params || hdr[2] != m->train_off)) {
        fclose(f);
        return sqz_error(SQZ_ERR_FORMAT, "%s: checkpoint of a different model (%llu params, expected %zu)",
                         path, (unsigned long long)hdr[1], m->n_params);
    }
    ok = ok && fread((float *)m->params + m->train_off, sizeof(float), nt, f) == nt &&
         fread(m->adam_m, sizeof(float), nt, f) == nt && fread(m->adam_v, sizeof(float), nt, f) == nt;
    fclose(f);
    SQZ_FAIL_IF(!ok, SQZ_ERR_FORMAT, "%s: not an sqz checkpoint or truncated", path);
    *step = (int64_t)hdr[0];
    return SQZ_OK;
}

// ---- opening models: GGUF is converted to an F32 HF directory in a temp dir first ----
static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}
static void rm_tree(const char *dir) {
    if (dir && dir[0])
        nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

sqz_status tr_src_open(tr_src *s, const char *path) {
    memset(s, 0, sizeof *s);
    s->base_type = SQZ_TYPE_F32;
    SQZ_TRY(sqz_model_file_open(&s->mf, path));
    if (sqz_model_file_layout(s->mf) == SQZ_LAYOUT_GGUF) {
        const sqz_tensor *t = sqz_model_file_find(s->mf, "blk.0.attn_q.weight");
        if (!t)
            t = sqz_model_file_find(s->mf, "blk.0.attn_qkv.weight");
        s->base_type = t ? t->type : SQZ_TYPE_F32;
        sqz_model_file_free(s->mf);
        s->mf = NULL;
        snprintf(s->tmp, sizeof s->tmp, "/tmp/sqz-train-XXXXXX");
        SQZ_FAIL_IF(!mkdtemp(s->tmp), SQZ_ERR_IO, "train: cannot create a temp directory: %s",
                    strerror(errno));
        SQZ_TRY_CTX(sqz_convert_gguf_to_hf(path, s->tmp, SQZ_TYPE_F32), "train: converting %s", path);
        snprintf(s->dir, sizeof s->dir, "%s", s->tmp);
        return sqz_model_file_open(&s->mf, s->dir);
    }
    snprintf(s->dir, sizeof s->dir, "%s", sqz_model_file_path(s->mf));
    return SQZ_OK;
}

void tr_src_close(tr_src *s) {
    sqz_model_file_free(s->mf);
    s->mf = NULL;
    rm_tree(s->tmp);
    s->tmp[0] = 0;
}

// ---- a job: the model being trained, the teacher (distill), data and the batch buffers ----
typedef struct job {
    const sqz_train_opts *o;
    tr_src src;
    tr_model *m, *teacher;
    tr_data data;
    int32_t *tok, *tgt;
    char cfg_dir[4096];  // where tokenizer files are copied from
    char cfg_json[4200]; // the config.json the output's config is derived from
} job;

static void job_free(job *j) {
    tr_model_free(j->m);
    tr_model_free(j->teacher);
    tr_data_free(&j->data);
    free(j->tok);
    free(j->tgt);
    tr_src_close(&j->src);
}

// The slots a target name adapts, as PEFT matches target_modules (a module whose name ends with
// ".<target>"): GPT-2's "c_proj" is both attn.c_proj and mlp.c_proj. Returns the count (0: unknown).
static int slots_of(bool gpt2, const char *name, size_t len, int out[2]) {
    static const struct {
        const char *n;
        int s0, s1;
    } LL[] = {{"q_proj", S_WQ, -1},    {"k_proj", S_WK, -1},  {"v_proj", S_WV, -1},   {"o_proj", S_WO, -1},
              {"gate_proj", S_WG, -1}, {"up_proj", S_WU, -1}, {"down_proj", S_WD, -1}},
      G2[] = {{"c_attn", S_WQ, -1},      {"attn.c_attn", S_WQ, -1}, {"c_proj", S_WO, S_WD}, {"attn.c_proj", S_WO, -1},
              {"mlp.c_proj", S_WD, -1}, {"c_fc", S_WU, -1},        {"mlp.c_fc", S_WU, -1}};
    const size_t n = gpt2 ? sizeof G2 / sizeof *G2 : sizeof LL / sizeof *LL;
    for (size_t i = 0; i < n; i++) {
        const char *t = gpt2 ? G2[i].n : LL[i].n;
        if (strlen(t) == len && memcmp(t, name, len) == 0) {
            out[0] = gpt2 ? G2[i].s0 : LL[i].s0, out[1] = gpt2 ? G2[i].s1 : LL[i].s1;
            return out[1] >= 0 ? 2 : 1;
        }
    }
    return 0;
}

static sqz_status setup_lora(job *j) {
    const sqz_train_opts *o = j->o;
    bool gpt2 = j->m->cfg.arch == SQZ_ARCH_GPT2;
    int slots[N_SLOTS], n = 0;
    for (const char *p = o->lora_targets; p && *p;) {
        size_t len = strcspn(p, ",");
        int ss[2], k = slots_of(gpt2, p, len, ss);
        SQZ_FAIL_IF(k == 0, SQZ_ERR_ARG, "lora: unknown or unsupported target '%.*s' (%s)", (int)len, p,
                    gpt2 ? "GPT-2: c_attn,c_proj,c_fc,attn.c_proj,mlp.c_proj"
                         : "Llama: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj");
        for (int q = 0; q < k; q++) {
            bool dup = false;
            for (int i = 0; i < n; i++)
                dup |= slots[i] == ss[q];
            if (!dup)
                slots[n++] = ss[q];
        }
        p += len + (p[len] == ',');
    }
    SQZ_FAIL_IF(n == 0, SQZ_ERR_ARG, "lora: no targets");
    return tr_model_add_lora(j->m, slots, n, o->lora_rank, o->lora_alpha, o->seed);
}

static sqz_status setup_models(job *j) {
    const sqz_train_opts *o = j->o;
    if (o->mode == SQZ_TRAIN_PRETRAIN) {
        sqz_model_config c;
        struct stat sb;
        char cfg[4096];
        bool dir = stat(o->model, &sb) == 0 && S_ISDIR(sb.st_mode);
        snprintf(cfg, sizeof cfg, dir ? "%s/config.json" : "%s", o->model);
        SQZ_TRY(sqz_config_from_hf_json(&c, cfg));
        snprintf(j->cfg_json, sizeof j->cfg_json, "%s", cfg);
        snprintf(j->cfg_dir, sizeof j->cfg_dir, "%s", cfg);
        char *slash = strrchr(j->cfg_dir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(j->cfg_dir, sizeof j->cfg_dir, ".");
        SQZ_TRY(tr_model_new(&j->m, &c, false));
        tr_model_init_random(j->m, o->seed);
        if (!o->init)
            return SQZ_OK;
        SQZ_TRY(tr_src_open(&j->src, o->init));
        return tr_model_load_weights(j->m, j->src.mf);
    }
    SQZ_TRY(tr_src_open(&j->src, o->model));
    snprintf(j->cfg_dir, sizeof j->cfg_dir, "%s", j->src.dir);
    snprintf(j->cfg_json, sizeof j->cfg_json, "%s/config.json", j->src.dir);
    const sqz_model_config *c = sqz_model_file_config(j->src.mf);
    tr_model **dst = o->mode == SQZ_TRAIN_DISTILL ? &j->teacher : &j->m;
    SQZ_TRY(tr_model_new(dst, c, false));
    SQZ_TRY(tr_model_load_weights(*dst, j->src.mf));
    if (o->mode == SQZ_TRAIN_DISTILL) // the student is built once the data is there (calibration)
        return SQZ_OK;
    return setup_lora(j);
}

static sqz_status setup(job *j) {
    const sqz_train_opts *o = j->o;
    SQZ_FAIL_IF(!o->model || !o->corpus || !o->out_dir, SQZ_ERR_ARG,
                "train: model, corpus and output are required");
    SQZ_FAIL_IF(o->batch < 1 || o->seq < 2 || o->accum < 1 || o->lr <= 0, SQZ_ERR_ARG,
                "train: bad budget (batch %d, seq %d, accum %d, lr %g)", o->batch, o->seq, o->accum, o->lr);
    if (o->threads > 0)
        openblas_set_num_threads(o->threads);
    SQZ_TRY(setup_models(j));
    const char *tokp = o->tokenizer;
    if (!tokp)
        tokp = o->mode == SQZ_TRAIN_PRETRAIN ? "bytes" : j->cfg_dir;
    SQZ_TRY(tr_data_load(&j->data, o->corpus, tokp, o->corpus_bytes));
    if (j->teacher) {
        SQZ_TRY(tr_model_set_batch(j->teacher, o->batch, o->seq));
        SQZ_TRY(tr_student_new(&j->m, j->teacher, o->student, &j->data.train, o->seed, j->cfg_json,
                               sizeof j->cfg_json));
    }
    SQZ_FAIL_IF(j->data.n_vocab > j->m->cfg.n_vocab, SQZ_ERR_ARG,
                "train: tokenizer has %lld tokens, model only %lld", (long long)j->data.n_vocab,
                (long long)j->m->cfg.n_vocab);
    SQZ_TRY(tr_model_alloc_train(j->m, true));
    SQZ_TRY(tr_model_set_batch(j->m, o->batch, o->seq));
    size_t N = (size_t)o->batch * o->seq;
    j->tok = malloc(N * sizeof *j->tok), j->tgt = malloc(N * sizeof *j->tgt);
    SQZ_FAIL_IF(!j->tok || !j->tgt, SQZ_ERR_NOMEM, "train: out of memory");
    mkdir(o->out_dir, 0755);
    return SQZ_OK;
}

// Forward (+ backward when grad_scale != 0) of the current batch. Returns the mean loss.
static double step_batch(job *j, double grad_scale, double *kl_mean, double *ce_mean) {
    double loss, kl = 0;
    int64_t n;
    const void *tl = NULL;
    if (j->teacher) {
        tr_model_forward(j->teacher, j->tok, j->tgt, NULL, 1, 0, 0, &loss, &n, NULL);
        tl = j->teacher->logits;
    }
    tr_model_forward(j->m, j->tok, j->tgt, tl, j->o->tau, j->o->alpha, grad_scale, &loss, &n, &kl);
    if (ce_mean) { // plain held-out cross-entropy needs the logits before they became gradients
        double ce;
        int64_t nc;
        tr_model_forward(j->m, j->tok, j->tgt, NULL, 1, 0, 0, &ce, &nc, NULL);
        *ce_mean = nc ? ce / (double)nc : 0;
    }
    if (grad_scale != 0)
        tr_model_backward(j->m);
    if (kl_mean)
        *kl_mean = n ? kl / (double)n : 0;
    return n ? loss / (double)n : 0;
}

static void evaluate(job *j, double *ce, double *kl) {
    const sqz_train_opts *o = j->o;
    double sce = 0, skl = 0;
    for (int i = 0; i < o->eval_batches; i++) {
        tr_data_eval_batch(&j->data.eval, i, o->eval_batches, o->batch, o->seq, j->tok, j->tgt);
        double c = 0, k = 0;
        if (j->teacher)
            step_batch(j, 0, &k, &c);
        else
            c = step_batch(j, 0, NULL, NULL);
        sce += c, skl += k;
    }
    *ce = sce / o->eval_batches;
    *kl = j->teacher ? skl / o->eval_batches : NAN;
}

// FLOPs of one training token of the trained model: per matrix weight 2 (forward) + 2 (input
// gradient) + 2 more when the weight is trainable (its own gradient); attention QK^T and PV are
// 2·2·Tn·Q per token forward and twice that backward (counted over the full Tn×Tn square, as the
// GEMMs compute it). Token embeddings count only as the tied head. A distillation teacher's forward
// is not counted.
static double flops_per_token(const tr_model *m) {
    const sqz_model_config *c = &m->cfg;
    double f = 0;
    for (int i = 0; i < m->n_tab; i++) {
        const tr_param *p = &m->tab[i];
        if (p->n_dims == 2 && p->off != m->glob[G_WTE] && p->off != m->glob[G_WPE])
            f += (p->off >= m->train_off ? 6.0 : 4.0) * (double)p->n;
    }
    if (m->glob[G_HEAD] == TR_NONE)
        f += (m->glob[G_WTE] >= m->train_off ? 6.0 : 4.0) * (double)(c->n_vocab * c->n_embd);
    return f + 12.0 * m->Tn * (double)(c->n_head * c->head_dim) * (double)c->n_layer;
}

// ---- outputs ----
static sqz_status save_lora(job *j) {
    const sqz_train_opts *o = j->o;
    tr_model *m = j->m;
    int n = 2 * m->n_lora;
    sqz_tensor *t = calloc((size_t)n, sizeof *t);
    char(*names)[160] = calloc((size_t)n, sizeof *names);
    SQZ_FAIL_IF(!t || !names, SQZ_ERR_NOMEM, "lora: out of memory");
    int k = 0;
    for (int i = 0; i < m->n_tab; i++) {
        const tr_param *p = &m->tab[i];
        if (!strstr(p->name, "lora_"))
            continue;
        snprintf(names[k], sizeof names[k], "base_model.model.%s", p->name); // PEFT's key prefix
        t[k] = (sqz_tensor){.name = names[k],
                            .type = SQZ_TYPE_F32,
                            .n_dims = 2,
                            .shape = {p->shape[0], p->shape[1]},
                            .data = (const float *)m->params + p->off,
                            .nbytes = p->n * sizeof(float)};
        k++;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", o->out_dir);
    const char *meta[] = {"format", "pt"};
    sqz_status st = sqz_safetensors_write(path, t, n, meta, 1);
    free(t);
    free(names);
    SQZ_TRY(st);
    json_t *cfg = json_object(), *tm = json_array();
    for (const char *p = o->lora_targets; *p;) {
        size_t len = strcspn(p, ",");
        json_array_append_new(tm, json_stringn(p, len));
        p += len + (p[len] == ',');
    }
    json_object_set_new(cfg, "peft_type", json_string("LORA"));
    json_object_set_new(cfg, "task_type", json_string("CAUSAL_LM"));
    json_object_set_new(cfg, "r", json_integer(o->lora_rank));
    json_object_set_new(cfg, "lora_alpha", json_real(o->lora_alpha));
    json_object_set_new(cfg, "lora_dropout", json_real(0));
    json_object_set_new(cfg, "target_modules", tm);
    json_object_set_new(cfg, "bias", json_string("none"));
    // GPT-2's Conv1D stores weights [in][out]; PEFT records that (it only affects merging).
    json_object_set_new(cfg, "fan_in_fan_out", json_boolean(j->m->cfg.arch == SQZ_ARCH_GPT2));
    json_object_set_new(cfg, "inference_mode", json_true());
    json_object_set_new(cfg, "init_lora_weights", json_true());
    json_object_set_new(cfg, "use_rslora", json_false());
    json_object_set_new(cfg, "base_model_name_or_path", json_string(o->model));
    snprintf(path, sizeof path, "%s/adapter_config.json", o->out_dir);
    int rc = json_dump_file(cfg, path, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(cfg);
    SQZ_FAIL_IF(rc != 0, SQZ_ERR_IO, "%s: cannot write", path);
    return SQZ_OK;
}

// W += scale·B·A for every adapter (in place; the adapters then stop mattering for saving).
static void merge_lora(tr_model *m) {
    float *P = m->params;
    for (int i = 0; i < m->n_lora; i++) {
        const tr_lora *a = &m->lora[i];
        const tr_param *pa = NULL;
        for (int k = 0; k < m->n_tab && !pa; k++)
            pa = m->tab[k].off == a->a ? &m->tab[k] : NULL;
        int64_t ni = pa->shape[1], no = (int64_t)((m->tab[pa - m->tab + 1].n) / (size_t)a->rank);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)no, (int)ni, a->rank,
                    (float)m->lora_scale, P + a->b, a->rank, P + a->a, (int)ni, 1,
                    P + m->slot[a->layer][a->slot], (int)ni);
    }
}

static sqz_status save_outputs(job *j) {
    const sqz_train_opts *o = j->o;
    char path[4096];
    if (o->mode == SQZ_TRAIN_LORA) {
        SQZ_TRY(save_lora(j));
        if (!o->merge)
            return SQZ_OK;
        merge_lora(j->m);
        snprintf(path, sizeof path, "%s/merged", o->out_dir);
        SQZ_TRY(tr_model_save_hf(j->m, j->cfg_json, j->cfg_dir, path));
        if (j->src.base_type != SQZ_TYPE_F32) { // quantized base: merge, then re-quantize
            char g[4200];
            snprintf(g, sizeof g, "%s/merged.gguf", o->out_dir);
            SQZ_TRY(sqz_convert_hf_to_gguf(path, g, j->src.base_type));
        }
        return SQZ_OK;
    }
    SQZ_TRY(tr_model_save_hf(j->m, j->cfg_json, j->cfg_dir, o->out_dir));
    if (o->mode == SQZ_TRAIN_DISTILL) {
        snprintf(path, sizeof path, "%s/model.gguf", o->out_dir);
        SQZ_TRY(sqz_convert_hf_to_gguf(o->out_dir, path, SQZ_TYPE_F32));
    }
    return SQZ_OK;
}

static sqz_status train_loop(job *j, sqz_train_result *r) {
    const sqz_train_opts *o = j->o;
    tr_model *m = j->m;
    int64_t tok_step = (int64_t)o->batch * o->seq * o->accum;
    int64_t steps = o->steps ? o->steps : (o->tokens + tok_step - 1) / tok_step;
    SQZ_FAIL_IF(steps < 1, SQZ_ERR_ARG, "train: give --steps or --tokens");
    int64_t step = 0;
    if (o->resume)
        SQZ_TRY(ckpt_load(m, o->out_dir, &step));
    evaluate(j, &r->eval_loss_before, &r->eval_kl_before);
    double t0 = sqz_time_now(), fpt = flops_per_token(m);
    int64_t done0 = step;
    for (; step < steps; step++) {
        tr_model_zero_grads(m);
        double loss = 0, kl = 0;
        for (int a = 0; a < o->accum; a++) {
            double k = 0;
            tr_data_batch(&j->data.train, o->seed, step, a, o->batch, o->seq, j->tok, j->tgt);
            loss += step_batch(j, 1.0 / o->accum, &k, NULL) / o->accum;
            kl += k / o->accum;
        }
        double gn = clip_grads(m, o->clip), lr = lr_at(o, step, steps);
        adamw(m, o, lr, step + 1);
        if (step == done0)
            r->first_loss = loss;
        r->last_loss = loss;
        double el = sqz_time_now() - t0, tps = (double)(step + 1 - done0) * (double)tok_step / el;
        sqz_train_progress p = {.step = step + 1,
                                .steps = steps,
                                .loss = loss,
                                .kl = kl,
                                .lr = lr,
                                .grad_norm = gn,
                                .tokens_per_s = tps,
                                .eta_s = (double)(steps - step - 1) * (double)tok_step / tps,
                                .eval_loss = NAN,
                                .eval_kl = NAN};
        bool last = step + 1 == steps || step + 1 == o->stop_after;
        if ((o->eval_every && (step + 1) % o->eval_every == 0) || last)
            evaluate(j, &p.eval_loss, &p.eval_kl);
        if (last)
            r->eval_loss_after = p.eval_loss, r->eval_kl_after = p.eval_kl;
        if (o->progress)
            o->progress(&p, o->user);
        if ((o->ckpt_every && (step + 1) % o->ckpt_every == 0) || last)
            SQZ_TRY(ckpt_save(m, o->out_dir, step + 1));
        if (step + 1 == o->stop_after) {
            step++;
            break;
        }
    }
    r->steps = step;
    r->tokens = (step - done0) * tok_step;
    r->seconds = sqz_time_now() - t0;
    r->tokens_per_s = r->seconds > 0 ? (double)r->tokens / r->seconds : 0;
    r->gflops = r->tokens_per_s * fpt * 1e-9;
    return SQZ_OK;
}

sqz_status sqz_train_run(const sqz_train_opts *o, sqz_train_result *res) {
    sqz_train_result r = {.eval_kl_before = NAN, .eval_kl_after = NAN};
    job j = {.o = o};
    sqz_status st = setup(&j);
    if (st == SQZ_OK) {
        r.n_trainable = (int64_t)tr_model_n_trainable(j.m);
        st = train_loop(&j, &r);
    }
    if (st == SQZ_OK)
        st = save_outputs(&j);
    job_free(&j);
    if (res)
        *res = r;
    return st;
}

// The layer-by-layer driver (GPTQ reference style): the hidden states of all calibration tokens
// [n_seq·seq_len][n_embd] are kept between blocks; each block is run on them to capture the
// inputs of its linears, its linears are quantized and replaced in memory, and the block is run
// again to produce the next block's inputs (so later blocks see quantized inputs).
//
// Within a block GPTQ/RTN/block types go "true sequential": q/k/v (shared input), then o, then
// gate/up, then down, each from a fresh pass through the partially quantized block. AWQ follows
// llm-awq: all four inputs are captured once from the block as it is, o and down are searched
// first and their input scales folded into v and up (rows), then q/k/v and gate/up are searched
// stacked (one scale vector per shared input) and their scales folded into the RMSNorm weights.
//
// Pruning (docs/prune.md "In the compress pipeline"): structured steps run first and replace the
// working model by a smaller one (compress_structured.c); per linear a magnitude / wanda / sparsegpt
// / lowrank step runs before its quantization step, with the same statistics, and the quantized
// weights keep its mask. magnitude scope=global finds its one threshold in two histogram passes.
#define _GNU_SOURCE // nftw
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cblas.h>

#include "compress/compress_internal.h"

#define LIN(cc, l, r) ((l) * SQZ_LIN_COUNT + (r))

// Linear (l, r) as the engine addresses it: block l, or the output head, which takes the slot after the
// blocks' (l = n_layer, r = 0) when a step applies to it.
static int64_t mlayer(const sqz_compressed *cc, int64_t l) {
    return l == sqz_model_get_config(cc->m)->n_layer ? SQZ_LAYER_HEAD : l;
}

static float *get_weights(sqz_compressed *cc, int64_t l, int r);

static bool is_int_step(const sqz_recipe_step *s) {
    return s && (s->kind == SQZ_STEP_RTN || s->kind == SQZ_STEP_GPTQ || s->kind == SQZ_STEP_AWQ);
}

static void note(sqz_compressed *cc, const char *text) {
    if (strstr(cc->notes, text))
        return;
    size_t n = strlen(cc->notes);
    snprintf(cc->notes + n, sizeof cc->notes - n, "%s%s", n ? " " : "", text);
}

// ---- source ----------------------------------------------------------------------------------------

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

// sha256 of a file (mapped), into hex.
static sqz_status file_sha256(const char *path, char hex[65]) {
    sqz_mmap mm;
    SQZ_TRY(sqz_mmap_open(&mm, path));
    sqz_sha256_hex(mm.data ? (const void *)mm.data : "", mm.size, hex);
    sqz_mmap_close(&mm);
    return SQZ_OK;
}

// The source hash: sha256 of the .gguf; for an HF directory, sha256 over the concatenated hex
// digests of config.json and each model*.safetensors (in name order).
static sqz_status source_hash(const char *path, bool gguf, char out[65]) {
    if (gguf)
        return file_sha256(path, out);
    const char *names[] = {"config.json", "model.safetensors", "model-00001-of-00002.safetensors",
                           "model-00002-of-00002.safetensors"};
    char cat[4 * 64 + 1] = "", buf[4096], hex[65];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(buf, sizeof buf, "%s/%s", path, names[i]);
        if (access(buf, R_OK) != 0)
            continue;
        SQZ_TRY(file_sha256(buf, hex));
        strcat(cat, hex);
    }
    sqz_sha256_hex(cat, strlen(cat), out);
    return SQZ_OK;
}

// Open the working model: a .gguf is used as it is; an HF directory is converted to a temporary
// GGUF (types kept) so that every variant is produced from one naming and one q/k row order. A
// previous working model (the source, before a structured pass) is released first.
sqz_status sqz_compress_open_work(sqz_compressed *cc, const char *path, bool exact) {
    sqz_model_free(cc->m);
    cc->m = NULL;
    if (cc->tmp_dir) {
        unlink(cc->work_gguf);
        rmdir(cc->tmp_dir);
        free(cc->tmp_dir);
        cc->tmp_dir = NULL;
    }
    free(cc->work_gguf);
    cc->work_gguf = NULL;
    struct stat sb;
    SQZ_FAIL_IF(stat(path, &sb) != 0, SQZ_ERR_IO, "%s: no such model file or directory", path);
    if (S_ISREG(sb.st_mode) && ends_with(path, ".gguf")) {
        cc->work_gguf = strdup(path);
        SQZ_FAIL_IF(!cc->work_gguf, SQZ_ERR_NOMEM, "out of memory");
    } else {
        char tmpl[] = "/tmp/sqz-compress-XXXXXX";
        SQZ_FAIL_IF(!mkdtemp(tmpl), SQZ_ERR_IO, "cannot create a temporary directory in /tmp");
        cc->tmp_dir = strdup(tmpl);
        size_t n = strlen(tmpl) + 16;
        cc->work_gguf = malloc(n);
        SQZ_FAIL_IF(!cc->tmp_dir || !cc->work_gguf, SQZ_ERR_NOMEM, "out of memory");
        snprintf(cc->work_gguf, n, "%s/work.gguf", tmpl);
        SQZ_TRY_CTX(sqz_convert(path, cc->work_gguf, SQZ_TYPE_COUNT), "converting %s to GGUF: ", path);
    }
    sqz_load_opts lo = {.exact = exact};
    return sqz_model_load(&cc->m, cc->work_gguf, &lo);
}

static sqz_status open_source(sqz_compressed *cc, const char *path, bool exact) {
    struct stat sb;
    SQZ_FAIL_IF(stat(path, &sb) != 0, SQZ_ERR_IO, "%s: no such model file or directory", path);
    cc->src_path = strdup(path);
    SQZ_FAIL_IF(!cc->src_path, SQZ_ERR_NOMEM, "out of memory");
    SQZ_TRY(source_hash(path, S_ISREG(sb.st_mode) && ends_with(path, ".gguf"), cc->src_sha256));
    return sqz_compress_open_work(cc, path, exact);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

void sqz_compress_rmtree(const char *dir) {
    if (dir && !strncmp(dir, "/tmp/sqz-", 9)) // only the pipeline's own temporary trees
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

// ---- recipe → per-layer steps --------------------------------------------------------------------------

static bool is_quant_kind(sqz_step_kind k) { return k <= SQZ_STEP_Q4_1; }
static bool is_structured_kind(sqz_step_kind k) {
    return k == SQZ_STEP_HEADS || k == SQZ_STEP_MLP || k == SQZ_STEP_LAYERS;
}
static bool is_global(const sqz_recipe_step *s) {
    return s && s->kind == SQZ_STEP_MAGNITUDE && !strcmp(sqz_step_str(s, "scope"), "global");
}

// Attach step `step` to linear s (name `name`): at most one quantization and one pruning/low-rank
// step per tensor, pruning first (it sets the zeros the quantized weights then keep).
static sqz_status attach(lin_store *s, const sqz_recipe_step *step, const char *name) {
    if (is_quant_kind(step->kind)) {
        SQZ_FAIL_IF(s->step, SQZ_ERR_ARG, "recipe: tensor '%s' is quantized by two steps ('%s' and '%s')", name,
                    s->step->name, step->name);
        SQZ_FAIL_IF(s->prune && s->prune->kind == SQZ_STEP_SPARSEGPT && sqz_step_int(s->prune, "bits") > 0,
                    SQZ_ERR_ARG, "recipe: tensor '%s': sparsegpt:bits=%d already quantizes it; drop '%s' or use bits=0",
                    name, sqz_step_int(s->prune, "bits"), step->name);
        SQZ_FAIL_IF(s->prune && step->kind == SQZ_STEP_AWQ, SQZ_ERR_UNSUPPORTED,
                    "recipe: tensor '%s': awq after '%s' is not supported (its scale search does not keep the pruning "
                    "mask); use gptq or rtn", name, s->prune->name);
        s->step = step;
        return SQZ_OK;
    }
    SQZ_FAIL_IF(s->prune, SQZ_ERR_ARG, "recipe: tensor '%s' is pruned by two steps ('%s' and '%s')", name,
                s->prune->name, step->name);
    SQZ_FAIL_IF(s->step, SQZ_ERR_ARG, "recipe: tensor '%s': the pruning step '%s' must come before the quantization "
                "step '%s' (write '%s + %s')", name, step->name, s->step->name, step->name, s->step->name);
    s->prune = step;
    return SQZ_OK;
}

// The output head ("output.weight"; the default skip list keeps it, as GPTQModel's lm_head=false does) gets
// a slot after the blocks' when a step does not skip it: quantization steps only (rtn, gptq, the llama.cpp
// block types, casts), and only when the head is its own matrix (not tied to the token embedding).
static const char HEAD_NAME[] = "output.weight";

static sqz_status assign_head(sqz_compressed *cc) {
    const sqz_model_config *cfg = sqz_model_get_config(cc->m);
    const sqz_recipe_step *step = NULL;
    for (int i = 0; i < cc->recipe->n_steps; i++) {
        const sqz_recipe_step *t = &cc->recipe->steps[i];
        if (is_structured_kind(t->kind) || sqz_step_skips(t, HEAD_NAME))
            continue;
        SQZ_FAIL_IF(!is_quant_kind(t->kind) || t->kind == SQZ_STEP_AWQ, SQZ_ERR_UNSUPPORTED,
                    "recipe: step '%s' does not apply to the output head '%s' (quantization steps rtn, gptq, q8_0, "
                    "q4_0, q4_1 and cast do); keep the default skip= list, or add '%s' to it",
                    t->name, HEAD_NAME, HEAD_NAME);
        SQZ_FAIL_IF(sqz_model_head_tied(cc->m), SQZ_ERR_UNSUPPORTED,
                    "recipe: step '%s' would quantize the output head, but this model ties it to the token embedding "
                    "(tie_word_embeddings); quantizing a tied head is not supported: keep '%s' in skip=",
                    t->name, HEAD_NAME);
        SQZ_FAIL_IF(step, SQZ_ERR_ARG, "recipe: the output head is quantized by two steps ('%s' and '%s')", step->name,
                    t->name);
        step = t;
    }
    if (!step)
        return SQZ_OK;
    sqz_linear_info li;
    SQZ_TRY(sqz_model_linear_info(cc->m, SQZ_LAYER_HEAD, SQZ_LIN_Q, &li));
    int64_t k = LIN(cc, cfg->n_layer, 0);
    lin_store *s = &cc->store[k];
    sqz_compress_layer *st = &cc->stats[k];
    *st = (sqz_compress_layer){.layer = SQZ_LAYER_HEAD, .role = SQZ_LIN_COUNT, .n_out = li.n_out, .n_in = li.n_in,
                               .method = step->name, .output_err = -1, .gguf_type = li.type};
    snprintf(st->name, sizeof st->name, "%s", HEAD_NAME);
    st->bpw = 8.0 * (double)sqz_type_row_size(li.type, li.n_in) / (double)li.n_in;
    s->gguf_type = li.type;
    s->step = step;
    int group = is_int_step(step) ? sqz_step_int(step, "group") : 0;
    SQZ_FAIL_IF(group > 0 && li.n_in % group, SQZ_ERR_ARG,
                "%s: group size %d does not divide the width %lld of '%s' (use group=0 for per-channel, or skip= it)",
                step->name, group, (long long)li.n_in, HEAD_NAME);
    cc->n_lin = k + 1;
    return SQZ_OK;
}

static sqz_status assign_steps(sqz_compressed *cc) {
    const sqz_model_config *cfg = sqz_model_get_config(cc->m);
    int n_global = 0;
    for (int i = 0; i < cc->recipe->n_steps; i++)
        n_global += is_global(&cc->recipe->steps[i]);
    SQZ_FAIL_IF(n_global > 1, SQZ_ERR_ARG, "recipe: at most one magnitude:scope=global step (one global threshold)");
    for (int64_t l = 0; l < cfg->n_layer; l++)
        for (int r = 0; r < SQZ_LIN_COUNT; r++) {
            sqz_linear_info li;
            SQZ_TRY(sqz_model_linear_info(cc->m, l, (sqz_lin_role)r, &li));
            lin_store *s = &cc->store[LIN(cc, l, r)];
            sqz_compress_layer *st = &cc->stats[LIN(cc, l, r)];
            *st = (sqz_compress_layer){.layer = l, .role = (sqz_lin_role)r, .n_out = li.n_out, .n_in = li.n_in,
                                       .method = "none", .output_err = -1, .gguf_type = li.type};
            snprintf(st->name, sizeof st->name, "%s", li.name);
            st->bpw = 8.0 * (double)sqz_type_row_size(li.type, li.n_in) / (double)li.n_in;
            s->gguf_type = li.type;
            for (int i = 0; i < cc->recipe->n_steps; i++) {
                const sqz_recipe_step *step = &cc->recipe->steps[i];
                if (is_structured_kind(step->kind) || sqz_step_skips(step, li.name))
                    continue;
                SQZ_TRY(attach(s, step, li.name));
                bool joint = step->kind == SQZ_STEP_SPARSEGPT && sqz_step_int(step, "bits") > 0;
                int group = is_int_step(step) || joint ? sqz_step_int(step, "group") : 0;
                SQZ_FAIL_IF(group > 0 && li.n_in % group, SQZ_ERR_ARG,
                            "%s: group size %d does not divide the width %lld of '%s' (use group=0 for per-channel, "
                            "or skip= the tensor)",
                            step->name, group, (long long)li.n_in, li.name);
            }
            st->method = s->step ? s->step->name : s->prune ? s->prune->name : "none";
            st->prune = s->prune ? s->prune->name : NULL;
        }
    return assign_head(cc);
}

static bool any_needs_calib(const sqz_compressed *cc) {
    for (int i = 0; i < cc->recipe->n_steps; i++)
        if (!is_structured_kind(cc->recipe->steps[i].kind) && sqz_step_needs_calib(&cc->recipe->steps[i]))
            return true;
    return false;
}

// ---- magnitude scope=global: one threshold over all its layers, in bounded memory ---------------------
// The k = floor(s · Σn) smallest |w| over the layers (in (layer, role) order) are pruned, ties by
// layer then index — sqz_prune_magnitude_global's definition — without holding every weight: |w|'s
// float bits order like the values, so two 16-bit histogram passes find the k-th smallest bit
// pattern T exactly; weights below T are pruned, and of those equal to T the first `ties` in order.

static sqz_status global_hist(sqz_compressed *cc, int64_t *hist, bool low, uint32_t hi) {
    for (int64_t k = 0; k < cc->n_lin; k++) {
        if (!is_global(cc->store[k].prune))
            continue;
        float *w = get_weights(cc, cc->stats[k].layer, cc->stats[k].role);
        SQZ_FAIL_IF(!w, SQZ_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < cc->stats[k].n_out * cc->stats[k].n_in; i++) {
            uint32_t b;
            memcpy(&b, &w[i], 4);
            b &= 0x7fffffffu;
            if (!low)
                hist[b >> 16]++;
            else if (b >> 16 == hi)
                hist[b & 0xffff]++;
        }
        free(w);
    }
    return SQZ_OK;
}

// The bucket holding the k-th smallest (0-based) of hist; *below = count in earlier buckets.
static uint32_t hist_pick(const int64_t *hist, int64_t k, int64_t *below) {
    int64_t cum = 0;
    uint32_t b = 0;
    for (; b < 65535 && cum + hist[b] <= k; b++)
        cum += hist[b];
    *below = cum;
    return b;
}

static sqz_status global_threshold(sqz_compressed *cc) {
    const sqz_recipe_step *g = NULL;
    int64_t total = 0;
    for (int64_t k = 0; k < cc->n_lin; k++)
        if (is_global(cc->store[k].prune))
            g = cc->store[k].prune, total += cc->stats[k].n_out * cc->stats[k].n_in;
    if (!g)
        return SQZ_OK;
    double sp = sqz_step_num(g, "sparsity");
    SQZ_FAIL_IF(!(sp >= 0 && sp < 1), SQZ_ERR_ARG, "magnitude: sparsity must be in [0, 1), got %g", sp);
    int64_t k = (int64_t)floor(sp * (double)total);
    cc->glob_thr = 0, cc->glob_ties = 0;
    if (k == 0)
        return SQZ_OK;
    int64_t *hist = calloc(65536, sizeof *hist), below_hi = 0, below_lo = 0;
    SQZ_FAIL_IF(!hist, SQZ_ERR_NOMEM, "out of memory");
    sqz_status e = global_hist(cc, hist, false, 0);
    uint32_t hi = hist_pick(hist, k, &below_hi), lo = 0;
    if (e == SQZ_OK) {
        memset(hist, 0, 65536 * sizeof *hist);
        e = global_hist(cc, hist, true, hi);
        lo = hist_pick(hist, k - below_hi, &below_lo);
    }
    free(hist);
    cc->glob_thr = hi << 16 | lo;
    cc->glob_ties = k - below_hi - below_lo; // the k-th smallest is the (ties)-th occurrence of T
    return e;
}

// Prune w with the global threshold (layers must come in (layer, role) order).
static void global_apply(sqz_compressed *cc, float *w, size_t n, uint8_t *mask) {
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &w[i], 4);
        b &= 0x7fffffffu;
        bool cut = b < cc->glob_thr || (b == cc->glob_thr && cc->glob_ties > 0);
        if (b == cc->glob_thr && cut)
            cc->glob_ties--;
        mask[i] = !cut;
        if (cut)
            w[i] = 0.0f;
    }
}

// ---- one layer -------------------------------------------------------------------------------------------

// ||E||² and, with statistics, Σ_o e_o G e_oᵀ (= ||X Eᵀ||²) for E [n_out][n_in].
static double weighted_sq(const float *e, int64_t n_out, int64_t n_in, const sqz_actstats *st, float *tmp) {
    cblas_ssymm(CblasRowMajor, CblasRight, CblasUpper, (int)n_out, (int)n_in, 1.0f, st->gram, (int)n_in, e, (int)n_in,
                0.0f, tmp, (int)n_in);
    double s = 0;
    for (int64_t i = 0; i < n_out * n_in; i++)
        s += (double)e[i] * tmp[i];
    return s;
}

// Error metrics of Ŵ against W (both [n_out][n_in]).
static sqz_status layer_errors(sqz_compress_layer *st, const float *w, const float *wq, const sqz_actstats *stats) {
    size_t n = (size_t)(st->n_out * st->n_in);
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)w[i] - wq[i];
        num += e * e, den += (double)w[i] * w[i];
    }
    st->weight_err = den > 0 ? num / den : 0;
    if (!stats || stats->n_rows == 0)
        return SQZ_OK;
    float *e = malloc(n * sizeof *e), *tmp = malloc(n * sizeof *tmp);
    if (!e || !tmp) {
        free(e), free(tmp);
        return sqz_error(SQZ_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        e[i] = w[i] - wq[i];
    double en = weighted_sq(e, st->n_out, st->n_in, stats, tmp), wn = weighted_sq(w, st->n_out, st->n_in, stats, tmp);
    st->output_err = wn > 0 ? en / wn : 0;
    free(e), free(tmp);
    return SQZ_OK;
}

// Stored bits per weight of an integer weight in the GPTQ layout: codes, fp16 scale and packed
// zero per (group, row), int32 g_idx per column.
static double int_bpw(const sqz_qweight *q) {
    double bits = (double)q->bits * (double)(q->n_out * q->n_in) + (16.0 + q->bits) * (double)(q->n_groups * q->n_out) +
                  32.0 * (double)q->n_in;
    return bits / (double)(q->n_out * q->n_in);
}

// Finish an integer weight: fp16 scales (as every storage layout keeps them), metrics against the
// original W, then (AWQ) drop the input scales — the caller has folded them — and build the
// dense values the model runs.
static sqz_status finish_int(sqz_compressed *cc, int64_t l, int r, sqz_qweight *q, const float *w,
                             const sqz_actstats *stats, bool fold) {
    lin_store *s = &cc->store[LIN(cc, l, r)];
    sqz_compress_layer *st = &cc->stats[LIN(cc, l, r)];
    for (int64_t i = 0; i < q->n_groups * q->n_out; i++)
        q->scales[i] = sqz_fp16_to_fp32(sqz_fp32_to_fp16(q->scales[i]));
    s->qw = q;
    s->dense = malloc((size_t)(q->n_out * q->n_in) * sizeof(float));
    SQZ_FAIL_IF(!s->dense, SQZ_ERR_NOMEM, "out of memory");
    sqz_qweight_dequant(q, s->dense); // effective weights (with 1/s for AWQ)
    SQZ_TRY(layer_errors(st, w, s->dense, stats));
    st->method_loss = q->loss;
    st->bpw = int_bpw(q);
    if (fold && q->in_scales) {
        free(q->in_scales);
        q->in_scales = NULL;
        sqz_qweight_dequant(q, s->dense);
    }
    SQZ_TRY(sqz_compress_map_gguf(s));
    st->gguf_type = s->gguf_type;
    return sqz_model_linear_set(cc->m, mlayer(cc, l), (sqz_lin_role)r, SQZ_TYPE_F32, s->dense,
                                (size_t)(q->n_out * q->n_in) * sizeof(float));
}

// Block and cast steps: the stored data is what the model runs. A block type on a width that is
// not a multiple of 32 falls back to F16, as llama.cpp's converter does.
// w: the weights to store (pruned when a pruning step ran); ref: the original, for the metrics.
static sqz_status finish_data(sqz_compressed *cc, int64_t l, int r, const float *w, const float *ref,
                              const sqz_actstats *stats) {
    lin_store *s = &cc->store[LIN(cc, l, r)];
    sqz_compress_layer *st = &cc->stats[LIN(cc, l, r)];
    int64_t n_out = st->n_out, n_in = st->n_in;
    sqz_quant_out qo;
    if (s->step->kind != SQZ_STEP_CAST && n_in % 32) {
        note(cc, "Block-type steps store tensors whose width is not a multiple of 32 as F16 (as llama.cpp's "
                 "converter).");
        sqz_recipe *f16;
        SQZ_TRY(sqz_recipe_parse("cast:to=f16", &f16));
        sqz_status e = sqz_quant_layer(&f16->steps[0], w, n_out, n_in, NULL, &qo);
        sqz_recipe_free(f16);
        SQZ_TRY(e);
    } else {
        SQZ_TRY(sqz_quant_layer(s->step, w, n_out, n_in, stats, &qo));
    }
    s->type = qo.type, s->data = qo.data, s->nbytes = qo.nbytes, s->gguf_type = qo.type;
    st->gguf_type = qo.type;
    st->bpw = 8.0 * (double)qo.nbytes / (double)(n_out * n_in);
    float *wq = malloc((size_t)(n_out * n_in) * sizeof *wq);
    SQZ_FAIL_IF(!wq, SQZ_ERR_NOMEM, "out of memory");
    size_t row = sqz_type_row_size(qo.type, n_in);
    for (int64_t o = 0; o < n_out; o++)
        sqz_type_traits_of(qo.type)->to_float((const uint8_t *)qo.data + (size_t)o * row, wq + o * n_in, n_in);
    sqz_status e = layer_errors(st, ref, wq, stats);
    free(wq);
    SQZ_TRY(e);
    return sqz_model_linear_set(cc->m, mlayer(cc, l), (sqz_lin_role)r, qo.type, qo.data, qo.nbytes);
}

// A pruned or low-rank weight without a quantization step: stored as F16 (the value type of the
// sparse layouts; an F32 source is rounded), dense in GGUF, compressed in the HF checkpoint when a
// layout fits (record_sparse).
static sqz_status finish_pruned(sqz_compressed *cc, int64_t l, int r, const float *w, const float *ref,
                                const sqz_actstats *stats) {
    lin_store *s = &cc->store[LIN(cc, l, r)];
    sqz_compress_layer *st = &cc->stats[LIN(cc, l, r)];
    size_t n = (size_t)(st->n_out * st->n_in);
    uint16_t *h = malloc(n * sizeof *h);
    float *wq = malloc(n * sizeof *wq);
    if (!h || !wq) {
        free(h), free(wq);
        return sqz_error(SQZ_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        wq[i] = sqz_fp16_to_fp32(h[i] = sqz_fp32_to_fp16(w[i]));
    s->type = SQZ_TYPE_F16, s->data = h, s->nbytes = n * sizeof *h, s->gguf_type = SQZ_TYPE_F16;
    st->gguf_type = SQZ_TYPE_F16;
    st->bpw = 16;
    sqz_status e = layer_errors(st, ref, wq, stats);
    free(wq);
    SQZ_TRY(e);
    return sqz_model_linear_set(cc->m, mlayer(cc, l), (sqz_lin_role)r, SQZ_TYPE_F16, h, s->nbytes);
}

// Whether int weights q (pruned to nm) fit the N:M int4 layout: 4-bit codes, groups of contiguous
// columns (no act-order) a multiple of 64 wide, no AWQ input scales, and every group of m with at most
// n codes other than the zero point (then every pruned weight is exactly 0 and the layout holds them).
static bool int4_nm_fits(const sqz_qweight *q, sqz_nm nm) {
    if (!q || q->bits != 4 || q->in_scales || nm.m == 0 || q->n_in % 64 || q->group % 64)
        return false;
    for (int64_t i = 0; i < q->n_in; i++)
        if (q->g_idx && q->g_idx[i] != i / q->group)
            return false;
    for (int64_t o = 0; o < q->n_out; o++)
        for (int64_t j = 0; j < q->n_in; j += nm.m) {
            int nz = 0;
            for (int k = 0; k < nm.m; k++)
                nz += q->codes[o * q->n_in + j + k] != q->zeros[((j + k) / q->group) * q->n_out + o];
            if (nz > nm.n)
                return false;
        }
    return true;
}

// What a pruned layer is stored as and how it is computed (manifest; compress_save.c writes the
// layouts). Pruned F16 weights and pruned int4 weights (2:4 or 4:8 with group-of-64 scales) get sqz's
// compressed layouts; other quantized pruned weights stay in their dense layout with zeros, low-rank
// weights as the dense product.
static sqz_status record_sparse(sqz_compressed *cc, int64_t l, int r, int64_t rank) {
    lin_store *s = &cc->store[LIN(cc, l, r)];
    sqz_compress_layer *st = &cc->stats[LIN(cc, l, r)];
    float *w = get_weights(cc, l, r);
    SQZ_FAIL_IF(!w, SQZ_ERR_NOMEM, "out of memory");
    sqz_sparse_summarize(w, st->n_out, st->n_in, &s->sp);
    free(w);
    st->sparsity = s->sp.sparsity, st->rank = rank;
    st->compute = "dense";
    if (rank > 0) {
        s->sp.storage = SQZ_SP_STORE_DENSE, s->sp.nm = (sqz_nm){0, 0};
        st->storage = "dense A·B product (factors not stored: no bytes saved; the engine has no two-factor layout)";
    } else if (s->qw && int4_nm_fits(s->qw, s->sp.nm)) {
        s->sp.storage = SQZ_SP_STORE_NM;
        const sqz_qweight *q = s->qw;
        s->sp.nbytes = (size_t)q->n_out * ((size_t)q->n_in / 4 + (size_t)q->n_in / 8 + (size_t)q->n_groups * 3);
        st->storage = s->sp.nm.m == 4 ? "2:4 compressed (int4 values + 2-bit indices; fp16 scale, zero point per group)"
                                      : "4:8 compressed (int4 values + 8-bit group masks; fp16 scale, zero point per group)";
        st->compute = s->sp.nm.m == 4 ? "sparse: 2:4 int4 GEMV kernel (int8 activations per 64 columns)"
                                      : "sparse: 4:8 int4 reference kernel";
        st->bpw = 8.0 * (double)s->sp.nbytes / (double)(st->n_out * st->n_in);
    } else if (s->type != SQZ_TYPE_F16 || s->step) {
        s->sp.storage = SQZ_SP_STORE_DENSE;
        st->storage = "dense with zeros: sparsity simulated (quantized layouts have no sparse form; no bytes or time "
                      "saved)";
    } else {
        st->storage = s->sp.storage == SQZ_SP_STORE_NM
                          ? (s->sp.nm.m == 4 ? "2:4 compressed (F16 values + 2-bit indices)"
                                             : "4:8 compressed (F16 values + 8-bit group masks)")
                      : s->sp.storage == SQZ_SP_STORE_CSR
                          ? "CSR (F16 values + 16-bit columns + 32-bit row pointers)"
                          : "dense with zeros: sparsity simulated (no bytes or time saved)";
        st->bpw = 8.0 * (double)s->sp.nbytes / (double)(st->n_out * st->n_in);
        if (s->sp.storage == SQZ_SP_STORE_NM)
            st->compute = s->sp.nm.m == 4 ? "sparse: 2:4 F16 GEMV kernel" : "sparse: 4:8 F16 reference kernel";
        else if (s->sp.storage == SQZ_SP_STORE_CSR)
            st->compute = "dense: CSR decoded to F16 at load";
    }
    st->sp_storage = (int)s->sp.storage, st->nm_n = s->sp.nm.n, st->nm_m = s->sp.nm.m;
    return SQZ_OK;
}

static float *get_weights(sqz_compressed *cc, int64_t l, int r) {
    const sqz_compress_layer *st = &cc->stats[LIN(cc, l, r)];
    float *w = malloc((size_t)(st->n_out * st->n_in) * sizeof *w);
    if (!w) {
        sqz_error(SQZ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (sqz_model_linear_get(cc->m, mlayer(cc, l), (sqz_lin_role)r, w) != SQZ_OK) {
        free(w);
        return NULL;
    }
    return w;
}

// The pruning / low-rank step of linear (l, r) on w (in place): mask [n_out·n_in] (not for
// low rank), *qw for sparsegpt with bits > 0, *rank for low rank.
static sqz_status prune_weights(sqz_compressed *cc, const sqz_recipe_step *step, float *w, int64_t n_out,
                                int64_t n_in, const sqz_actstats *stats, uint8_t *mask, sqz_qweight **qw,
                                int64_t *rank) {
    if (is_global(step)) {
        global_apply(cc, w, (size_t)(n_out * n_in), mask);
        return SQZ_OK;
    }
    sqz_lowrank *lr = NULL;
    bool low = step->kind == SQZ_STEP_LOWRANK;
    SQZ_TRY(sqz_prune_layer(step, w, n_out, n_in, stats, low ? NULL : mask, qw, low ? &lr : NULL));
    if (lr)
        *rank = lr->rank;
    sqz_lowrank_free(lr);
    return SQZ_OK;
}

// Compress linear (l, r) on its own with its input statistics (may be NULL): pruning or low rank
// first, then the quantization step, which keeps the mask (sqz_qweight_apply_mask). Metrics are
// against the original weights.
static sqz_status compress_one(sqz_compressed *cc, int64_t l, int r, const sqz_actstats *stats) {
    lin_store *s = &cc->store[LIN(cc, l, r)];
    sqz_compress_layer *st = &cc->stats[LIN(cc, l, r)];
    size_t n = (size_t)(st->n_out * st->n_in);
    float *w = get_weights(cc, l, r), *wp = s->prune ? malloc(n * sizeof *wp) : w;
    uint8_t *mask = s->prune ? malloc(n) : NULL;
    sqz_qweight *qw = NULL;
    int64_t rank = 0;
    sqz_status e = w && wp && (mask || !s->prune) ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "out of memory");
    if (e == SQZ_OK && s->prune) {
        memcpy(wp, w, n * sizeof *wp);
        e = prune_weights(cc, s->prune, wp, st->n_out, st->n_in, stats, mask, &qw, &rank);
    }
    if (e == SQZ_OK && qw) { // sparsegpt with joint quantization
        e = finish_int(cc, l, r, qw, w, stats, false);
    } else if (e == SQZ_OK && is_int_step(s->step)) {
        sqz_quant_out qo;
        e = sqz_quant_layer(s->step, wp, st->n_out, st->n_in, stats, &qo);
        if (e == SQZ_OK && s->prune && rank == 0)
            sqz_qweight_apply_mask(qo.qw, mask);
        if (e == SQZ_OK)
            e = finish_int(cc, l, r, qo.qw, w, stats, false);
    } else if (e == SQZ_OK && s->step) {
        e = finish_data(cc, l, r, wp, w, stats);
    } else if (e == SQZ_OK) {
        e = finish_pruned(cc, l, r, wp, w, stats);
    }
    if (e == SQZ_OK && s->prune)
        e = record_sparse(cc, l, r, rank);
    if (wp != w)
        free(wp);
    free(w), free(mask);
    return e == SQZ_OK ? SQZ_OK : sqz_error_prefix(e, "%s: ", st->name);
}

// ---- AWQ -----------------------------------------------------------------------------------------------------

static sqz_awq_params awq_params(const sqz_recipe_step *s) {
    return (sqz_awq_params){.q = {sqz_step_int(s, "bits"), sqz_step_int(s, "group"), sqz_step_int(s, "sym") != 0},
                            .clip = sqz_step_int(s, "clip") != 0, .grid = sqz_step_int(s, "grid")};
}

// Rows [r0, r1) of q as a new qweight (codes, scales, zeros; g_idx and in_scales copied).
static sqz_qweight *qw_rows(const sqz_qweight *q, int64_t r0, int64_t r1) {
    sqz_qweight *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    *o = *q;
    int64_t n = r1 - r0;
    o->n_out = n;
    o->codes = malloc((size_t)(n * q->n_in));
    o->scales = malloc((size_t)(q->n_groups * n) * sizeof *o->scales);
    o->zeros = malloc((size_t)(q->n_groups * n) * sizeof *o->zeros);
    o->g_idx = malloc((size_t)q->n_in * sizeof *o->g_idx);
    o->in_scales = q->in_scales ? malloc((size_t)q->n_in * sizeof *o->in_scales) : NULL;
    if (!o->codes || !o->scales || !o->zeros || !o->g_idx || (q->in_scales && !o->in_scales)) {
        sqz_qweight_free(o);
        return NULL;
    }
    memcpy(o->codes, q->codes + r0 * q->n_in, (size_t)(n * q->n_in));
    for (int64_t g = 0; g < q->n_groups; g++) {
        memcpy(o->scales + g * n, q->scales + g * q->n_out + r0, (size_t)n * sizeof *o->scales);
        memcpy(o->zeros + g * n, q->zeros + g * q->n_out + r0, (size_t)n * sizeof *o->zeros);
    }
    memcpy(o->g_idx, q->g_idx, (size_t)q->n_in * sizeof *o->g_idx);
    if (q->in_scales)
        memcpy(o->in_scales, q->in_scales, (size_t)q->n_in * sizeof *o->in_scales);
    return o;
}

// AWQ on the roles r[0..n) sharing one input, stacked along n_out; their scales are folded into the
// RMSNorm weight `ffn`. w[i] are the (possibly row-scaled) fp weights.
static sqz_status awq_stacked(sqz_compressed *cc, int64_t l, const int *r, int n, float **w, const sqz_actstats *stats,
                              bool ffn) {
    const sqz_recipe_step *step = cc->store[LIN(cc, l, r[0])].step;
    int64_t n_in = cc->stats[LIN(cc, l, r[0])].n_in, rows = 0, off[4] = {0};
    for (int i = 0; i < n; i++) {
        SQZ_FAIL_IF(cc->store[LIN(cc, l, r[i])].step != step, SQZ_ERR_ARG,
                    "awq: '%s' and '%s' share an input and must be quantized by the same awq step",
                    cc->stats[LIN(cc, l, r[0])].name, cc->stats[LIN(cc, l, r[i])].name);
        off[i] = rows;
        rows += cc->stats[LIN(cc, l, r[i])].n_out;
    }
    float *all = malloc((size_t)(rows * n_in) * sizeof *all);
    SQZ_FAIL_IF(!all, SQZ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        memcpy(all + off[i] * n_in, w[i], (size_t)(cc->stats[LIN(cc, l, r[i])].n_out * n_in) * sizeof *all);
    sqz_qweight *q = NULL;
    sqz_status e = sqz_quant_awq(all, rows, n_in, stats, awq_params(step), &q);
    free(all);
    SQZ_TRY_CTX(e, "%s: ", cc->stats[LIN(cc, l, r[0])].name);
    // RMSNorm weight / s: the layers then see x/s and hold Q(W·s).
    const float *norm;
    SQZ_TRY(sqz_model_norm_get(cc->m, l, ffn, &norm));
    float *nn = malloc((size_t)n_in * sizeof *nn);
    SQZ_FAIL_IF(!nn, SQZ_ERR_NOMEM, "out of memory");
    for (int64_t j = 0; j < n_in; j++)
        nn[j] = norm[j] / q->in_scales[j];
    e = sqz_model_norm_set(cc->m, l, ffn, nn);
    free(nn);
    cc->norm_set[l * 2 + (ffn ? 1 : 0)] = true;
    for (int i = 0; i < n && e == SQZ_OK; i++) {
        int64_t no = cc->stats[LIN(cc, l, r[i])].n_out;
        sqz_qweight *part = qw_rows(q, off[i], off[i] + no);
        e = part ? finish_int(cc, l, r[i], part, w[i], stats, true) : sqz_error(SQZ_ERR_NOMEM, "out of memory");
    }
    sqz_qweight_free(q);
    return e;
}

// AWQ of a layer whose scales fold into the rows of the producer `prev` (o → v, down → up): its
// search runs first; prev_w rows are divided by s. When the shapes do not allow it (GQA: v has
// fewer rows than o has columns) the layer is quantized with AWQ's quantizer without scales (RTN
// asym, llm-awq skips that scaling too).
static sqz_status awq_folded(sqz_compressed *cc, int64_t l, int r, int prev, float *w, float *prev_w,
                             const sqz_actstats *stats) {
    const sqz_recipe_step *step = cc->store[LIN(cc, l, r)].step;
    const sqz_compress_layer *st = &cc->stats[LIN(cc, l, r)];
    bool can = cc->store[LIN(cc, l, prev)].step == step && cc->stats[LIN(cc, l, prev)].n_out == st->n_in;
    sqz_qweight *q = NULL;
    if (can) {
        SQZ_TRY_CTX(sqz_quant_awq(w, st->n_out, st->n_in, stats, awq_params(step), &q), "%s: ", st->name);
        for (int64_t o = 0; o < st->n_in; o++)
            for (int64_t i = 0; i < cc->stats[LIN(cc, l, prev)].n_in; i++)
                prev_w[o * cc->stats[LIN(cc, l, prev)].n_in + i] /= q->in_scales[o];
    } else {
        note(cc, "AWQ: o_proj under grouped-query attention is quantized without input scales (as llm-awq).");
        SQZ_TRY_CTX(sqz_quant_rtn(w, st->n_out, st->n_in, awq_params(step).q, &q), "%s: ", st->name);
    }
    return finish_int(cc, l, r, q, w, stats, true);
}

// ---- the block loop ----------------------------------------------------------------------------------------

typedef struct {
    sqz_actstats *st[SQZ_CAP_COUNT];
    int stop_at; // capture point after which the block stops (-1: run it all)
    sqz_status err;
} capture;

static int capture_cb(void *user, sqz_capture_point p, const float *x, int64_t n, int64_t width) {
    capture *c = user;
    if (c->st[p] && c->err == SQZ_OK && c->st[p]->n_in == width)
        c->err = sqz_actstats_add(c->st[p], x, n);
    return (int)p == c->stop_at;
}

static int64_t cap_width(const sqz_model_config *cfg, int p) {
    return p == SQZ_CAP_ATTN_OUT ? cfg->n_head * cfg->head_dim : p == SQZ_CAP_MLP_MID ? cfg->n_ff : cfg->n_embd;
}

// Run block l over the calibration states collecting the statistics of the capture points in
// `want` (bitmask), stopping after `stop_at` (-1: none; the states are then not advanced either).
static sqz_status collect(sqz_compressed *cc, calib_state *cs, int64_t l, unsigned want, int stop_at, capture *cap) {
    const sqz_model_config *cfg = sqz_model_get_config(cc->m);
    memset(cap, 0, sizeof *cap);
    cap->stop_at = stop_at;
    for (int p = 0; p < SQZ_CAP_COUNT; p++)
        if (want & (1u << p))
            SQZ_TRY(sqz_actstats_new(cap_width(cfg, p), &cap->st[p]));
    float *x = cs->x;
    size_t bytes = (size_t)(cc->calib->n_seq * cc->calib->seq_len * cfg->n_embd) * sizeof(float);
    float *scratch = NULL;
    if (stop_at < 0) { // a full run would advance the states: run on a copy
        scratch = malloc(bytes);
        SQZ_FAIL_IF(!scratch, SQZ_ERR_NOMEM, "out of memory");
        memcpy(scratch, x, bytes);
        x = scratch;
    }
    sqz_status e = sqz_block_forward(cs->ctx, l, x, cc->calib->n_seq, cc->calib->seq_len, capture_cb, cap);
    free(scratch);
    return e != SQZ_OK ? e : cap->err;
}

static void capture_free(capture *cap) {
    for (int p = 0; p < SQZ_CAP_COUNT; p++)
        sqz_actstats_free(cap->st[p]);
}

static const int roles_of[SQZ_CAP_COUNT][3] = {
    {SQZ_LIN_Q, SQZ_LIN_K, SQZ_LIN_V}, {SQZ_LIN_O, -1, -1}, {SQZ_LIN_GATE, SQZ_LIN_UP, -1}, {SQZ_LIN_DOWN, -1, -1}};

// True-sequential block: per capture point, fresh statistics from the partially quantized block.
static sqz_status block_sequential(sqz_compressed *cc, calib_state *cs, int64_t l) {
    for (int p = 0; p < SQZ_CAP_COUNT; p++) {
        bool any = false;
        for (int i = 0; i < 3; i++)
            any |= roles_of[p][i] >= 0 && lin_changed(&cc->store[LIN(cc, l, roles_of[p][i])]);
        if (!any)
            continue;
        capture cap = {0};
        sqz_status e = cs ? collect(cc, cs, l, 1u << p, p, &cap) : SQZ_OK;
        for (int i = 0; i < 3 && e == SQZ_OK; i++)
            if (roles_of[p][i] >= 0 && lin_changed(&cc->store[LIN(cc, l, roles_of[p][i])]))
                e = compress_one(cc, l, roles_of[p][i], cap.st[p]);
        capture_free(&cap);
        SQZ_TRY(e);
    }
    return SQZ_OK;
}

static bool block_has_awq(const sqz_compressed *cc, int64_t l) {
    for (int r = 0; r < SQZ_LIN_COUNT; r++)
        if (cc->store[LIN(cc, l, r)].step && cc->store[LIN(cc, l, r)].step->kind == SQZ_STEP_AWQ)
            return true;
    return false;
}

static bool is_awq(const sqz_compressed *cc, int64_t l, int r) {
    return cc->store[LIN(cc, l, r)].step && cc->store[LIN(cc, l, r)].step->kind == SQZ_STEP_AWQ;
}

// The AWQ block (see the file comment). Non-AWQ layers of the block use the same statistics.
static sqz_status block_awq(sqz_compressed *cc, calib_state *cs, int64_t l) {
    capture cap;
    SQZ_TRY(collect(cc, cs, l, 0xF, -1, &cap));
    float *w[SQZ_LIN_COUNT] = {0};
    sqz_status e = SQZ_OK;
    for (int r = 0; r < SQZ_LIN_COUNT && e == SQZ_OK; r++)
        if (!(w[r] = get_weights(cc, l, r)))
            e = sqz_error(SQZ_ERR_NOMEM, "out of memory");
    // o and down first: their scales go into the rows of v and up.
    static const int folded[2][2] = {{SQZ_LIN_O, SQZ_LIN_V}, {SQZ_LIN_DOWN, SQZ_LIN_UP}};
    for (int i = 0; i < 2 && e == SQZ_OK; i++) {
        int r = folded[i][0];
        if (is_awq(cc, l, r))
            e = awq_folded(cc, l, r, folded[i][1], w[r], w[folded[i][1]], cap.st[sqz_lin_role_input((sqz_lin_role)r)]);
        else if (lin_changed(&cc->store[LIN(cc, l, r)]))
            e = compress_one(cc, l, r, cap.st[sqz_lin_role_input((sqz_lin_role)r)]);
    }
    static const int shared[2][3] = {{SQZ_LIN_Q, SQZ_LIN_K, SQZ_LIN_V}, {SQZ_LIN_GATE, SQZ_LIN_UP, -1}};
    for (int i = 0; i < 2 && e == SQZ_OK; i++) {
        int n = shared[i][2] < 0 ? 2 : 3, r0 = shared[i][0];
        float *ws[3] = {w[shared[i][0]], w[shared[i][1]], n == 3 ? w[shared[i][2]] : NULL};
        const sqz_actstats *st = cap.st[sqz_lin_role_input((sqz_lin_role)r0)];
        bool awq = false;
        for (int k = 0; k < n; k++)
            awq |= is_awq(cc, l, shared[i][k]);
        if (awq) {
            e = awq_stacked(cc, l, shared[i], n, ws, st, i == 1);
            continue;
        }
        for (int k = 0; k < n && e == SQZ_OK; k++) // a v/up whose rows were scaled is set even if unquantized
            if (lin_changed(&cc->store[LIN(cc, l, shared[i][k])]))
                e = compress_one(cc, l, shared[i][k], st);
    }
    for (int r = 0; r < SQZ_LIN_COUNT; r++)
        free(w[r]);
    capture_free(&cap);
    return e;
}

sqz_status sqz_compress_calib_init(sqz_compressed *cc, const sqz_compress_opts *o, calib_state *cs) {
    const sqz_model_config *cfg = sqz_model_get_config(cc->m);
    int64_t n = o->calib_n > 0 ? o->calib_n : 32, len = o->calib_len > 0 ? o->calib_len : 256;
    SQZ_FAIL_IF(!o->calib_path, SQZ_ERR_ARG, "the recipe needs calibration data and none was given (--calib)");
    if (!cc->calib) // a structured pass drew it already (same tokenizer)
        SQZ_TRY(sqz_calib_draw(sqz_model_tokenizer(cc->m), o->calib_path, n, len, o->seed, &cc->calib));
    int64_t per = len >= 2048 ? 1 : 2048 / len; // sequences per batch: rows for sgemm, bounded scratch
    if (per > n)
        per = n;
    SQZ_TRY(sqz_ctx_new(&cs->ctx, cc->m, per * len, per * len, o->n_threads));
    cs->x = malloc((size_t)(n * len * cfg->n_embd) * sizeof *cs->x);
    SQZ_FAIL_IF(!cs->x, SQZ_ERR_NOMEM, "out of memory for %lld calibration hidden states", (long long)(n * len));
    return sqz_model_embed(cc->m, cc->calib->ids, n * len, cs->x);
}

// Block l is final once the next block's inputs are computed: its integer layers then run in the
// grouped-int layout (what the saved variant runs; exact mode: their dequantized weights) and their F32
// copies are freed, so memory holds the variant about at its own size, not 4 bytes per weight (a layer
// that layout cannot hold, e.g. with AWQ input scales, stays F32).
static sqz_status compact_block(sqz_compressed *cc, int64_t l) {
    for (int r = 0; r < SQZ_LIN_COUNT; r++) {
        lin_store *s = &cc->store[LIN(cc, l, r)];
        if (!s->qw || !s->dense)
            continue;
        sqz_status e = sqz_model_linear_set_qweight(cc->m, l, (sqz_lin_role)r, s->qw);
        if (e == SQZ_ERR_UNSUPPORTED) {
            sqz_error_clear();
            continue;
        }
        SQZ_TRY(e);
        free(s->dense);
        s->dense = NULL;
    }
    return SQZ_OK;
}

static sqz_status run_blocks(sqz_compressed *cc, const sqz_compress_opts *o, calib_state *cs) {
    const sqz_model_config *cfg = sqz_model_get_config(cc->m);
    double t0 = sqz_time_now();
    for (int64_t l = 0; l < cfg->n_layer; l++) {
        if (cs && block_has_awq(cc, l))
            SQZ_TRY(block_awq(cc, cs, l));
        else
            SQZ_TRY(block_sequential(cc, cs, l));
        if (cs) // the next block's inputs, through the compressed block
            SQZ_TRY(sqz_block_forward(cs->ctx, l, cs->x, cc->calib->n_seq, cc->calib->seq_len, NULL, NULL));
        SQZ_TRY(compact_block(cc, l));
        if (o->progress) {
            double el = sqz_time_now() - t0;
            sqz_compress_progress p = {l, cfg->n_layer, el, el / (double)(l + 1) * (double)(cfg->n_layer - l - 1),
                                       "block"};
            o->progress(o->user, &p);
        }
    }
    return SQZ_OK;
}

// The output head, after the last block: its input statistics are the final norm of the calibration
// hidden states the last (compressed) block produced — what GPTQModel's lm_head quantization sees.
static sqz_status run_head(sqz_compressed *cc, calib_state *cs) {
    const sqz_model_config *cfg = sqz_model_get_config(cc->m);
    int64_t l = cfg->n_layer;
    sqz_actstats *stats = NULL;
    if (cs) {
        int64_t rows = cc->calib->n_seq * cc->calib->seq_len, chunk = 256;
        float *xn = malloc((size_t)(chunk * cfg->n_embd) * sizeof *xn);
        sqz_status e = xn ? sqz_actstats_new(cfg->n_embd, &stats) : sqz_error(SQZ_ERR_NOMEM, "out of memory");
        for (int64_t r0 = 0; e == SQZ_OK && r0 < rows; r0 += chunk) {
            int64_t n = rows - r0 < chunk ? rows - r0 : chunk;
            e = sqz_model_final_norm(cc->m, cs->x + r0 * cfg->n_embd, n, xn);
            if (e == SQZ_OK)
                e = sqz_actstats_add(stats, xn, n);
        }
        free(xn);
        if (e != SQZ_OK) {
            sqz_actstats_free(stats);
            return e;
        }
    }
    sqz_status e = compress_one(cc, l, 0, stats);
    sqz_actstats_free(stats);
    SQZ_TRY(e);
    lin_store *s = &cc->store[LIN(cc, l, 0)];
    if (s->qw && s->dense) { // run it as the saved variant does (compact_block for the head)
        e = sqz_model_linear_set_qweight(cc->m, SQZ_LAYER_HEAD, SQZ_LIN_Q, s->qw);
        if (e == SQZ_ERR_UNSUPPORTED)
            sqz_error_clear();
        else if (e == SQZ_OK)
            free(s->dense), s->dense = NULL;
        else
            return e;
    }
    return SQZ_OK;
}

static sqz_status compress(sqz_compressed *cc, const char *model_path, const sqz_compress_opts *o) {
    SQZ_FAIL_IF(!o || !o->recipe, SQZ_ERR_ARG, "compress: no recipe given");
    SQZ_TRY(sqz_recipe_parse(o->recipe, &cc->recipe));
    cc->recipe_str = sqz_recipe_str(cc->recipe);
    SQZ_FAIL_IF(!cc->recipe_str, SQZ_ERR_NOMEM, "out of memory");
    SQZ_TRY(open_source(cc, model_path, o->exact));
    SQZ_FAIL_IF(sqz_model_get_config(cc->m)->arch == SQZ_ARCH_GPT2, SQZ_ERR_UNSUPPORTED,
                "%s: compress supports the Llama family, not GPT-2", model_path);
    double t0 = sqz_time_now();
    SQZ_TRY(sqz_compress_structured_pass(cc, o)); // may replace cc->m by the smaller model
    const sqz_model_config *cfg = sqz_model_get_config(cc->m);
    cc->n_lin = cfg->n_layer * SQZ_LIN_COUNT; // + 1 when a step applies to the head (assign_head)
    cc->store = calloc((size_t)cc->n_lin + 1, sizeof *cc->store);
    cc->stats = calloc((size_t)cc->n_lin + 1, sizeof *cc->stats);
    cc->norm_set = calloc((size_t)cfg->n_layer * 2, sizeof *cc->norm_set);
    SQZ_FAIL_IF(!cc->store || !cc->stats || !cc->norm_set, SQZ_ERR_NOMEM, "out of memory");
    SQZ_TRY(assign_steps(cc));
    SQZ_TRY(global_threshold(cc));
    calib_state cs = {0};
    sqz_status e = any_needs_calib(cc) ? sqz_compress_calib_init(cc, o, &cs) : SQZ_OK;
    if (e == SQZ_OK)
        e = run_blocks(cc, o, cs.ctx ? &cs : NULL);
    if (e == SQZ_OK && cc->n_lin > cfg->n_layer * SQZ_LIN_COUNT)
        e = run_head(cc, cs.ctx ? &cs : NULL);
    cc->seconds = sqz_time_now() - t0;
    sqz_ctx_free(cs.ctx);
    free(cs.x);
    return e;
}

sqz_status sqz_compress(const char *model_path, const sqz_compress_opts *o, sqz_compressed **out) {
    *out = NULL;
    sqz_compressed *cc = calloc(1, sizeof *cc);
    SQZ_FAIL_IF(!cc, SQZ_ERR_NOMEM, "out of memory");
    sqz_status e = compress(cc, model_path, o);
    if (e != SQZ_OK) {
        sqz_compressed_free(cc);
        return e;
    }
    *out = cc;
    return SQZ_OK;
}

void sqz_compressed_free(sqz_compressed *c) {
    if (!c)
        return;
    for (int64_t i = 0; c->store && i < c->n_lin; i++) {
        sqz_qweight_free(c->store[i].qw);
        free(c->store[i].dense), free(c->store[i].data);
    }
    sqz_model_free(c->m);
    if (c->tmp_dir) {
        unlink(c->work_gguf);
        rmdir(c->tmp_dir);
    }
    sqz_compress_rmtree(c->struct_dir);
    free(c->struct_dir);
    free(c->structured.dropped_layers), free(c->structured.block_influence);
    free(c->store), free(c->stats), free(c->norm_set);
    free(c->src_path), free(c->work_gguf), free(c->tmp_dir), free(c->recipe_str);
    sqz_recipe_free(c->recipe);
    sqz_calib_free(c->calib);
    free(c);
}

sqz_model *sqz_compressed_model(sqz_compressed *c) { return c->m; }
const sqz_compress_structured *sqz_compressed_structured(const sqz_compressed *c) { return &c->structured; }
const sqz_calib *sqz_compressed_calib(const sqz_compressed *c) { return c->calib; }
const sqz_compress_layer *sqz_compressed_layers(const sqz_compressed *c, int64_t *n) {
    *n = c->n_lin;
    return c->stats;
}

bool sqz_compressed_gguf_ok(const sqz_compressed *c) {
    for (int64_t i = 0; i < c->n_lin; i++)
        if (lin_changed(&c->store[i]) && c->store[i].gguf_type == SQZ_TYPE_COUNT)
            return false;
    return true;
}

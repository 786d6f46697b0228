// Merging a PEFT LoRA adapter (written by sqz or by PEFT itself) into its base model:
// W += scale·B·A for every lora_A/lora_B pair, scale = lora_alpha / r (alpha / sqrt(r) with rsLoRA).
// GPT-2 adapters (fan_in_fan_out: the base is a Conv1D [in][out]) need no special case: the training
// model holds every weight as [out][in] and transposes Conv1D back when saving.
#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/train_internal.h"

typedef struct adapter_cfg {
    double scale;
    int rank;
} adapter_cfg;

static sqz_status read_adapter_config(const char *dir, adapter_cfg *ac) {
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    SQZ_FAIL_IF(!j, SQZ_ERR_FORMAT, "%s:%d:%d: %s", path, err.line, err.column, err.text);
    json_t *r = json_object_get(j, "r"), *a = json_object_get(j, "lora_alpha"),
           *t = json_object_get(j, "peft_type");
    json_t *rs = json_object_get(j, "use_rslora");
    sqz_status st = SQZ_OK;
    if (!json_is_integer(r) || json_integer_value(r) < 1 || !json_is_number(a))
        st = sqz_error(SQZ_ERR_FORMAT, "%s: needs integer r >= 1 and numeric lora_alpha", path);
    else if (!json_is_string(t) || strcmp(json_string_value(t), "LORA") != 0)
        st = sqz_error(SQZ_ERR_UNSUPPORTED, "%s: peft_type is not LORA", path);
    if (st == SQZ_OK) {
        ac->rank = (int)json_integer_value(r);
        double alpha = json_number_value(a);
        ac->scale = json_is_true(rs) ? alpha / sqrt((double)ac->rank) : alpha / ac->rank;
    }
    json_decref(j);
    return st;
}

// "base_model.model.<W>.lora_A.weight" -> index of the table entry named "<W>.weight", or -1.
static int base_of(const tr_model *m, const char *lora_name, const char *which) {
    const char *pre = "base_model.model.", *end = strstr(lora_name, which);
    if (strncmp(lora_name, pre, strlen(pre)) != 0 || !end)
        return -1;
    char name[200];
    int n = (int)(end - lora_name - (int)strlen(pre));
    snprintf(name, sizeof name, "%.*s.weight", n, lora_name + strlen(pre));
    for (int i = 0; i < m->n_tab; i++)
        if (!strcmp(m->tab[i].name, name))
            return i;
    return -1;
}

static sqz_status to_f32(const sqz_tensor *t, float **out) {
    const sqz_type_traits *tt = sqz_type_traits_of(t->type);
    SQZ_FAIL_IF(!tt || !tt->to_float || t->n_dims != 2, SQZ_ERR_FORMAT,
                "adapter: tensor '%s' is not a float matrix", t->name);
    *out = malloc((size_t)sqz_tensor_nelements(t) * sizeof **out);
    SQZ_FAIL_IF(!*out, SQZ_ERR_NOMEM, "adapter: out of memory");
    tt->to_float(t->data, *out, sqz_tensor_nelements(t));
    return SQZ_OK;
}

// Merge one A/B pair into base table entry w.
static sqz_status merge_pair(tr_model *m, const tr_param *w, const sqz_tensor *a, const sqz_tensor *b,
                             double scale) {
    int64_t r = a->shape[0];
    SQZ_FAIL_IF(w->n_dims != 2 || a->shape[1] != w->shape[1] || b->shape[0] != w->shape[0] ||
                    b->shape[1] != r,
                SQZ_ERR_FORMAT, "adapter: '%s' [%lld][%lld] / '%s' [%lld][%lld] do not fit '%s' [%lld][%lld]",
                a->name, (long long)a->shape[0], (long long)a->shape[1], b->name, (long long)b->shape[0],
                (long long)b->shape[1], w->name, (long long)w->shape[0], (long long)w->shape[1]);
    float *fa = NULL, *fb = NULL;
    sqz_status st = to_f32(a, &fa);
    if (st == SQZ_OK)
        st = to_f32(b, &fb);
    if (st == SQZ_OK)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)w->shape[0], (int)w->shape[1], (int)r,
                    (float)scale, fb, (int)r, fa, (int)w->shape[1], 1, (float *)m->params + w->off,
                    (int)w->shape[1]);
    free(fa);
    free(fb);
    return st;
}

static sqz_status merge_all(tr_model *m, const char *adapter_dir, double scale, int *n_merged) {
    char path[4096];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", adapter_dir);
    sqz_safetensors *st = NULL;
    SQZ_TRY(sqz_safetensors_open(&st, path));
    sqz_status rc = SQZ_OK;
    *n_merged = 0;
    for (int64_t i = 0; i < sqz_safetensors_n_tensors(st) && rc == SQZ_OK; i++) {
        const sqz_tensor *a = sqz_safetensors_tensor(st, i);
        if (!strstr(a->name, ".lora_A."))
            continue;
        char bname[256];
        snprintf(bname, sizeof bname, "%s", a->name);
        memcpy(strstr(bname, ".lora_A.") + 6, "B", 1);
        const sqz_tensor *b = sqz_safetensors_find(st, bname);
        int w = base_of(m, a->name, ".lora_A.");
        if (!b || w < 0)
            rc = sqz_error(SQZ_ERR_FORMAT, "%s: '%s' has no %s", path, a->name,
                           !b ? "lora_B partner" : "base weight");
        else if ((rc = merge_pair(m, &m->tab[w], a, b, scale)) == SQZ_OK)
            (*n_merged)++;
    }
    sqz_safetensors_free(st);
    SQZ_TRY(rc);
    SQZ_FAIL_IF(*n_merged == 0, SQZ_ERR_FORMAT, "%s: no lora_A/lora_B tensors", path);
    return SQZ_OK;
}

sqz_status sqz_train_lora_merge(const char *base, const char *adapter_dir, const char *out_dir) {
    adapter_cfg ac = {0};
    SQZ_TRY(read_adapter_config(adapter_dir, &ac));
    tr_src src;
    tr_model *m = NULL;
    sqz_status st = tr_src_open(&src, base);
    if (st == SQZ_OK)
        st = tr_model_new(&m, sqz_model_file_config(src.mf), false);
    if (st == SQZ_OK)
        st = tr_model_load_weights(m, src.mf);
    int n = 0;
    if (st == SQZ_OK)
        st = merge_all(m, adapter_dir, ac.scale, &n);
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", src.dir);
    if (st == SQZ_OK)
        st = tr_model_save_hf(m, cfg, src.dir, out_dir);
    if (st == SQZ_OK && src.base_type != SQZ_TYPE_F32) { // quantized base: merge, then re-quantize
        char g[4200];
        snprintf(g, sizeof g, "%s/model.gguf", out_dir);
        st = sqz_convert_hf_to_gguf(out_dir, g, src.base_type);
    }
    tr_model_free(m);
    tr_src_close(&src);
    return st;
}

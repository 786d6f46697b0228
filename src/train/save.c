// Writing trained weights: HF directories (config.json patched to the model, model.safetensors with
// HF names and layouts, tokenizer files copied) and PEFT LoRA adapters.
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "train/model.h"

static sqz_status copy_file(const char *from, const char *to) {
    char *buf = NULL;
    size_t len = 0;
    if (sqz_read_file(from, &buf, &len) != SQZ_OK)
        return SQZ_OK; // optional file absent
    FILE *f = fopen(to, "wb");
    bool ok = f && fwrite(buf, 1, len, f) == len;
    if (f && fclose(f) != 0)
        ok = false;
    free(buf);
    SQZ_FAIL_IF(!ok, SQZ_ERR_IO, "%s: cannot write", to);
    return SQZ_OK;
}

static sqz_status write_json(json_t *j, const char *path) {
    int rc = json_dump_file(j, path, JSON_INDENT(2) | JSON_SORT_KEYS);
    SQZ_FAIL_IF(rc != 0, SQZ_ERR_IO, "%s: cannot write", path);
    return SQZ_OK;
}

// Tensors of the base model (no LoRA), as F32 in HF layout (GPT-2 Conv1D transposed back).
// *tmp receives the allocation backing transposed tensors (caller frees).
static sqz_status hf_tensors(const tr_model *m, sqz_tensor **out, int *n, float **tmp) {
    const float *P = m->params;
    size_t tr_elems = 0;
    int nb = 0;
    for (int i = 0; i < m->n_tab; i++)
        if (!strstr(m->tab[i].name, "lora_")) {
            nb++;
            if (m->cfg.arch == SQZ_ARCH_GPT2 && m->tab[i].n_dims == 2 && strstr(m->tab[i].name, ".h."))
                tr_elems += m->tab[i].n;
        }
    sqz_tensor *t = calloc((size_t)nb, sizeof *t);
    float *buf = malloc((tr_elems ? tr_elems : 1) * sizeof *buf), *w = buf;
    SQZ_FAIL_IF(!t || !buf, SQZ_ERR_NOMEM, "save: out of memory");
    int k = 0;
    for (int i = 0; i < m->n_tab; i++) {
        const tr_param *p = &m->tab[i];
        if (strstr(p->name, "lora_"))
            continue;
        sqz_tensor *x = &t[k++];
        x->name = p->name, x->type = SQZ_TYPE_F32, x->n_dims = p->n_dims;
        x->shape[0] = p->shape[0], x->shape[1] = p->shape[1];
        x->data = P + p->off, x->nbytes = p->n * sizeof(float);
        if (m->cfg.arch == SQZ_ARCH_GPT2 && p->n_dims == 2 && strstr(p->name, ".h.")) {
            int64_t R = p->shape[0], C = p->shape[1];
            for (int64_t r = 0; r < R; r++)
                for (int64_t c = 0; c < C; c++)
                    w[c * R + r] = P[p->off + (size_t)(r * C + c)];
            x->shape[0] = C, x->shape[1] = R, x->data = w;
            w += p->n;
        }
    }
    *out = t, *n = nb, *tmp = buf;
    return SQZ_OK;
}

static sqz_status write_config(const tr_model *m, const char *in, const char *out_dir) {
    char out[4096];
    snprintf(out, sizeof out, "%s/config.json", out_dir);
    json_error_t err;
    json_t *j = json_load_file(in, 0, &err);
    SQZ_FAIL_IF(!j, SQZ_ERR_FORMAT, "%s:%d:%d: %s", in, err.line, err.column, err.text);
    bool gpt2 = m->cfg.arch == SQZ_ARCH_GPT2;
    json_object_set_new(j, gpt2 ? "n_layer" : "num_hidden_layers", json_integer(m->cfg.n_layer));
    json_object_set_new(j, "vocab_size", json_integer(m->cfg.n_vocab));
    json_object_set_new(j, "torch_dtype", json_string("float32"));
    sqz_status st = write_json(j, out);
    json_decref(j);
    return st;
}

sqz_status tr_model_save_hf(const tr_model *m, const char *config_json, const char *src_dir,
                            const char *out_dir) {
    SQZ_FAIL_IF(m->f64, SQZ_ERR_ARG, "save: float64 models are for gradient checks only");
    mkdir(out_dir, 0755);
    SQZ_TRY(write_config(m, config_json, out_dir));
    static const char *const extra[] = {"tokenizer.json", "tokenizer_config.json", "tokenizer.model",
                                        "generation_config.json", "special_tokens_map.json"};
    char a[4096], b[4096];
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) {
        snprintf(a, sizeof a, "%s/%s", src_dir, extra[i]);
        snprintf(b, sizeof b, "%s/%s", out_dir, extra[i]);
        SQZ_TRY(copy_file(a, b));
    }
    sqz_tensor *t = NULL;
    float *tmp = NULL;
    int n = 0;
    SQZ_TRY(hf_tensors(m, &t, &n, &tmp));
    snprintf(a, sizeof a, "%s/model.safetensors", out_dir);
    const char *meta[] = {"format", "pt"};
    sqz_status st = sqz_safetensors_write(a, t, n, meta, 1);
    free(t);
    free(tmp);
    return st;
}

// Structured pruning of a whole HF model directory: drop transformer blocks, attention KV groups
// (with their query heads) and MLP channels, writing a genuinely smaller dense model (new shapes in
// config.json, explicit head_dim). Tensors are sliced by rows/columns; nothing is re-quantized.
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "prune/prune_internal.h"
#include "sqz/format.h"

typedef struct surgery {
    const sqz_model_config *c;
    const sqz_structured_plan *plan;
    int64_t kept_groups, kept_ff; // per kept layer (uniform)
    int *new_index;               // [n_layer] new block index, −1 when dropped
} surgery;

static int64_t count_kept(const uint8_t *keep, int64_t n) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        k += keep[i] != 0;
    return k;
}

// Check the plan against the config; kept counts must be uniform (HF configs hold one value).
static sqz_status plan_check(surgery *s) {
    const sqz_model_config *c = s->c;
    const sqz_structured_plan *p = s->plan;
    SQZ_FAIL_IF(c->arch == SQZ_ARCH_GPT2, SQZ_ERR_UNSUPPORTED,
                "structured pruning: GPT-2's fused c_attn is not supported (llama, mistral, qwen2 are)");
    SQZ_FAIL_IF(p->n_layer != c->n_layer, SQZ_ERR_ARG, "structured pruning: plan has %d layers, the model %lld",
                p->n_layer, (long long)c->n_layer);
    int64_t kept_layers = p->keep_layer ? count_kept(p->keep_layer, c->n_layer) : c->n_layer;
    SQZ_FAIL_IF(kept_layers < 1, SQZ_ERR_ARG, "structured pruning: every layer dropped");
    s->kept_groups = c->n_head_kv, s->kept_ff = c->n_ff;
    for (int l = 0, ni = 0; l < c->n_layer; l++) {
        bool kept = !p->keep_layer || p->keep_layer[l];
        s->new_index[l] = kept ? ni++ : -1;
        if (!kept)
            continue;
        int64_t g = p->keep_kv_group ? count_kept(p->keep_kv_group[l], c->n_head_kv) : c->n_head_kv;
        int64_t f = p->keep_ff ? count_kept(p->keep_ff[l], c->n_ff) : c->n_ff;
        SQZ_FAIL_IF(g < 1 || f < 1, SQZ_ERR_ARG, "structured pruning: layer %d keeps %lld KV groups and %lld MLP "
                    "channels; at least one of each must remain", l, (long long)g, (long long)f);
        SQZ_FAIL_IF(ni > 1 && (g != s->kept_groups || f != s->kept_ff), SQZ_ERR_ARG,
                    "structured pruning: layer %d keeps %lld KV groups / %lld channels, other layers %lld / %lld "
                    "(config.json holds one value, so counts must match)",
                    l, (long long)g, (long long)f, (long long)s->kept_groups, (long long)s->kept_ff);
        s->kept_groups = g, s->kept_ff = f;
    }
    return SQZ_OK;
}

// Row keep mask of a tensor's dim 0 (rows) or dim 1 (cols) for HF Llama tensor `rest` of layer l:
// which structure it slices, expanded to one flag per row/column. NULL = copy unchanged.
static uint8_t *slice_mask(const surgery *s, int l, const char *rest, int *dim) {
    const sqz_model_config *c = s->c;
    const sqz_structured_plan *p = s->plan;
    int64_t per = c->n_head / c->n_head_kv, hd = c->head_dim, n = 0, unit = 0;
    const uint8_t *src = NULL;
    if (p->keep_kv_group && (!strncmp(rest, "self_attn.q_proj.", 17) || !strcmp(rest, "self_attn.o_proj.weight")))
        src = p->keep_kv_group[l], n = c->n_head_kv, unit = per * hd, *dim = rest[10] == 'o' ? 1 : 0;
    else if (p->keep_kv_group && (!strncmp(rest, "self_attn.k_proj.", 17) || !strncmp(rest, "self_attn.v_proj.", 17)))
        src = p->keep_kv_group[l], n = c->n_head_kv, unit = hd, *dim = 0;
    else if (p->keep_ff && (!strcmp(rest, "mlp.gate_proj.weight") || !strcmp(rest, "mlp.up_proj.weight")))
        src = p->keep_ff[l], n = c->n_ff, unit = 1, *dim = 0;
    else if (p->keep_ff && !strcmp(rest, "mlp.down_proj.weight"))
        src = p->keep_ff[l], n = c->n_ff, unit = 1, *dim = 1;
    if (!src)
        return NULL;
    uint8_t *m = malloc((size_t)(n * unit));
    if (m)
        for (int64_t i = 0; i < n * unit; i++)
            m[i] = src[i / unit] != 0;
    return m;
}

// Slice tensor t by mask along dim (0: rows of a 1-D/2-D tensor, 1: columns) into a new buffer.
static sqz_status slice_tensor(const sqz_tensor *t, const uint8_t *mask, int dim, sqz_tensor *out, void **buf) {
    const sqz_type_traits *tr = sqz_type_traits_of(t->type);
    SQZ_FAIL_IF(!tr || tr->block_size != 1 || t->n_dims < 1 || t->n_dims > 2 || (dim == 1 && t->n_dims != 2),
                SQZ_ERR_UNSUPPORTED, "structured pruning: tensor '%s' (%d dims, type %d) cannot be sliced", t->name,
                t->n_dims, (int)t->type);
    size_t es = sqz_type_row_size(t->type, 1);
    int64_t rows = t->shape[0], cols = t->n_dims == 2 ? t->shape[1] : 1;
    int64_t kept = count_kept(mask, dim == 0 ? rows : cols);
    *out = *t;
    out->shape[dim] = kept;
    out->nbytes = (size_t)(dim == 0 ? kept * cols : rows * kept) * es;
    uint8_t *d = malloc(out->nbytes ? out->nbytes : 1);
    SQZ_FAIL_IF(!d, SQZ_ERR_NOMEM, "structured pruning: out of memory for '%s'", t->name);
    const uint8_t *src = t->data;
    size_t off = 0;
    for (int64_t r = 0; r < rows; r++) {
        if (dim == 0 && !mask[r])
            continue;
        for (int64_t j = 0; j < cols; j++)
            if (dim == 0 || mask[j]) {
                memcpy(d + off, src + ((size_t)(r * cols + j)) * es, es);
                off += es;
            }
    }
    *buf = d;
    out->data = d;
    return SQZ_OK;
}

// New name and data of one tensor; *drop when its block is removed.
static sqz_status map_tensor(const surgery *s, const sqz_tensor *t, sqz_tensor *out, void **buf, char **name,
                             bool *drop) {
    *buf = NULL, *drop = false, *out = *t;
    int l, used = 0;
    if (sscanf(t->name, "model.layers.%d.%n", &l, &used) != 1 || used == 0 || l < 0 || l >= s->c->n_layer) {
        *name = strdup(t->name);
        SQZ_FAIL_IF(!*name, SQZ_ERR_NOMEM, "structured pruning: out of memory");
        out->name = *name;
        return SQZ_OK;
    }
    if (s->new_index[l] < 0) {
        *drop = true, *name = NULL;
        return SQZ_OK;
    }
    const char *rest = t->name + used;
    size_t len = strlen(rest) + 32;
    *name = malloc(len);
    SQZ_FAIL_IF(!*name, SQZ_ERR_NOMEM, "structured pruning: out of memory");
    snprintf(*name, len, "model.layers.%d.%s", s->new_index[l], rest);
    out->name = *name;
    int dim = 0;
    uint8_t *mask = slice_mask(s, l, rest, &dim);
    if (!mask)
        return SQZ_OK;
    sqz_status st = slice_tensor(t, mask, dim, out, buf);
    out->name = *name;
    free(mask);
    return st;
}

static sqz_status write_config(const surgery *s, const char *in_dir, const char *out_dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", in_dir);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    SQZ_FAIL_IF(!j || !json_is_object(j), SQZ_ERR_FORMAT, "%s:%d:%d: %s", path, err.line, err.column, err.text);
    int64_t per = s->c->n_head / s->c->n_head_kv, kept_layers = 0;
    for (int l = 0; l < s->c->n_layer; l++)
        kept_layers += s->new_index[l] >= 0;
    json_object_set_new(j, "num_hidden_layers", json_integer(kept_layers));
    json_object_set_new(j, "num_attention_heads", json_integer(s->kept_groups * per));
    json_object_set_new(j, "num_key_value_heads", json_integer(s->kept_groups));
    json_object_set_new(j, "head_dim", json_integer(s->c->head_dim));
    json_object_set_new(j, "intermediate_size", json_integer(s->kept_ff));
    snprintf(path, sizeof path, "%s/config.json", out_dir);
    int rc = json_dump_file(j, path, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    SQZ_FAIL_IF(rc != 0, SQZ_ERR_IO, "%s: cannot write", path);
    return SQZ_OK;
}

// Copy the tokenizer and generation files that exist.
static sqz_status copy_side_files(const char *in_dir, const char *out_dir) {
    static const char *files[] = {"tokenizer.json", "tokenizer_config.json", "tokenizer.model",
                                  "special_tokens_map.json", "generation_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char src[4096], dst[4096];
        snprintf(src, sizeof src, "%s/%s", in_dir, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", out_dir, files[i]);
        char *data = NULL;
        size_t len = 0;
        if (sqz_read_file(src, &data, &len) != SQZ_OK)
            continue; // absent
        FILE *f = fopen(dst, "wb");
        bool ok = f && fwrite(data, 1, len, f) == len;
        if (f)
            ok = fclose(f) == 0 && ok;
        free(data);
        SQZ_FAIL_IF(!ok, SQZ_ERR_IO, "%s: cannot write", dst);
    }
    return SQZ_OK;
}

static sqz_status write_model(const surgery *s, const sqz_model_file *mf, const char *out_dir) {
    int64_t n = sqz_model_file_n_tensors(mf), k = 0;
    sqz_tensor *ts = calloc((size_t)n, sizeof *ts);
    void **bufs = calloc((size_t)n, sizeof *bufs);
    char **names = calloc((size_t)n, sizeof *names);
    sqz_status st = !ts || !bufs || !names ? sqz_error(SQZ_ERR_NOMEM, "structured pruning: out of memory") : SQZ_OK;
    for (int64_t i = 0; i < n && st == SQZ_OK; i++) {
        bool drop = false;
        st = map_tensor(s, sqz_model_file_tensor(mf, i), &ts[k], &bufs[k], &names[k], &drop);
        if (!drop)
            k++;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
    static const char *const meta[] = {"format", "pt"}; // transformers refuses files without it
    if (st == SQZ_OK)
        st = sqz_safetensors_write(path, ts, k, meta, 1);
    for (int64_t i = 0; names && bufs && i < n; i++)
        free(names[i]), free(bufs[i]);
    free(ts), free(bufs), free(names);
    return st;
}

sqz_status sqz_prune_structured(const char *in_dir, const char *out_dir, const sqz_structured_plan *plan) {
    sqz_model_file *mf = NULL;
    SQZ_TRY(sqz_model_file_open(&mf, in_dir));
    surgery s = {.c = sqz_model_file_config(mf), .plan = plan};
    sqz_status st = sqz_model_file_gguf(mf)
                        ? sqz_error(SQZ_ERR_UNSUPPORTED, "structured pruning: %s is a GGUF; prune the HF directory "
                                    "and convert the result", in_dir)
                        : SQZ_OK;
    s.new_index = st == SQZ_OK ? malloc((size_t)s.c->n_layer * sizeof *s.new_index) : NULL;
    if (st == SQZ_OK && !s.new_index)
        st = sqz_error(SQZ_ERR_NOMEM, "structured pruning: out of memory");
    if (st == SQZ_OK)
        st = plan_check(&s);
    if (st == SQZ_OK && mkdir(out_dir, 0777) != 0) {
        struct stat sb;
        if (stat(out_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            st = sqz_error(SQZ_ERR_IO, "structured pruning: cannot create directory %s", out_dir);
    }
    if (st == SQZ_OK)
        st = write_model(&s, mf, out_dir);
    if (st == SQZ_OK)
        st = write_config(&s, sqz_model_file_path(mf), out_dir);
    if (st == SQZ_OK)
        st = copy_side_files(sqz_model_file_path(mf), out_dir);
    free(s.new_index);
    sqz_model_file_free(mf);
    return st;
}

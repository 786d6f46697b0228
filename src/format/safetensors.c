// safetensors reader (single file or sharded via model.safetensors.index.json) and writer.
//
// File layout: u64 little-endian header length N, N bytes of JSON header
//   {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
// then the data section; offsets are relative to its start (byte 8 + N).
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "format/format_internal.h"

#define ST_MAX_HEADER (100u * 1000u * 1000u) // the reference implementation's limit

typedef struct st_file {
    sqz_mmap map; // zeroed for in-memory input
    const uint8_t *base;
    size_t size;
    char *name;   // path, for messages
} st_file;

struct sqz_safetensors {
    st_file *files;
    int n_files;
    sqz_tensor *tensors;
    char **names;    // tensors[i].name == names[i]
    int *file_of;    // shard index of each tensor
    int64_t n_tensors, cap;
    sqz_name_index index;
    char **meta;     // __metadata__ of the first file: key, value, key, value, ...
    int64_t n_meta;
};

static const struct {
    const char *name;
    sqz_type type;
} dtypes[] = {
    {"F32", SQZ_TYPE_F32}, {"F16", SQZ_TYPE_F16}, {"BF16", SQZ_TYPE_BF16}, {"I8", SQZ_TYPE_I8},
    {"U8", SQZ_TYPE_U8},   {"I16", SQZ_TYPE_I16}, {"I32", SQZ_TYPE_I32},   {"I64", SQZ_TYPE_I64},
    {"F64", SQZ_TYPE_F64},
};

static const char *dtype_name(sqz_type t) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].type == t)
            return dtypes[i].name;
    return NULL;
}

static sqz_status dtype_parse(const char *s, sqz_type *t) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        if (!strcmp(dtypes[i].name, s)) {
            *t = dtypes[i].type;
            return SQZ_OK;
        }
    }
    return sqz_error(SQZ_ERR_UNSUPPORTED, "unsupported dtype '%s'", s);
}

// ---- reading -------------------------------------------------------------------------------------
static sqz_status grow(sqz_safetensors *st, int64_t extra) {
    if (st->n_tensors + extra <= st->cap)
        return SQZ_OK;
    int64_t cap = st->cap ? st->cap : 64;
    while (cap < st->n_tensors + extra)
        cap *= 2;
    sqz_tensor *t = realloc(st->tensors, (size_t)cap * sizeof *t);
    if (t)
        st->tensors = t;
    char **n = realloc(st->names, (size_t)cap * sizeof *n);
    if (n)
        st->names = n;
    int *f = realloc(st->file_of, (size_t)cap * sizeof *f);
    if (f)
        st->file_of = f;
    SQZ_FAIL_IF(!t || !n || !f, SQZ_ERR_NOMEM, "out of memory for %lld tensors", (long long)cap);
    st->cap = cap;
    return SQZ_OK;
}

static sqz_status json_uint(const json_t *j, const char *what, uint64_t *out) {
    SQZ_FAIL_IF(!json_is_integer(j) || json_integer_value(j) < 0, SQZ_ERR_FORMAT,
                "%s is not a non-negative integer", what);
    *out = (uint64_t)json_integer_value(j);
    return SQZ_OK;
}

// One header entry → tensor (data pointer into the file's data section of `avail` bytes).
static sqz_status parse_entry(sqz_tensor *t, const json_t *e, const uint8_t *data, size_t avail) {
    SQZ_FAIL_IF(!json_is_object(e), SQZ_ERR_FORMAT, "entry is not an object");
    const json_t *jd = json_object_get(e, "dtype"), *js = json_object_get(e, "shape"),
                 *jo = json_object_get(e, "data_offsets");
    SQZ_FAIL_IF(!json_is_string(jd), SQZ_ERR_FORMAT, "missing or non-string 'dtype'");
    SQZ_TRY(dtype_parse(json_string_value(jd), &t->type));
    SQZ_FAIL_IF(!json_is_array(js), SQZ_ERR_FORMAT, "missing or non-array 'shape'");
    size_t nd = json_array_size(js);
    SQZ_FAIL_IF(nd > SQZ_MAX_DIMS, SQZ_ERR_UNSUPPORTED, "%zu dimensions (at most %d supported)", nd, SQZ_MAX_DIMS);
    t->n_dims = (int)nd;
    size_t nel = 1;
    for (size_t d = 0; d < nd; d++) {
        uint64_t v = 0;
        SQZ_TRY(json_uint(json_array_get(js, d), "shape element", &v));
        t->shape[d] = (int64_t)v;
        SQZ_FAIL_IF(!sqz_mul_ok(nel, (size_t)v, &nel), SQZ_ERR_FORMAT, "element count overflows");
    }
    SQZ_FAIL_IF(!json_is_array(jo) || json_array_size(jo) != 2, SQZ_ERR_FORMAT,
                "missing 'data_offsets' [begin, end]");
    uint64_t b = 0, en = 0;
    SQZ_TRY(json_uint(json_array_get(jo, 0), "data_offsets begin", &b));
    SQZ_TRY(json_uint(json_array_get(jo, 1), "data_offsets end", &en));
    SQZ_FAIL_IF(b > en, SQZ_ERR_FORMAT, "data_offsets [%llu, %llu] end before they begin", (unsigned long long)b,
                (unsigned long long)en);
    SQZ_FAIL_IF(en > avail, SQZ_ERR_FORMAT, "extends past end of file (data_offsets [%llu, %llu], data section %zu bytes)",
                (unsigned long long)b, (unsigned long long)en, avail);
    size_t want;
    SQZ_FAIL_IF(!sqz_mul_ok(nel, sqz_type_traits_of(t->type)->type_size, &want), SQZ_ERR_FORMAT,
                "byte size overflows");
    SQZ_FAIL_IF(want != en - b, SQZ_ERR_FORMAT, "data_offsets [%llu, %llu] hold %llu bytes, shape and dtype need %zu",
                (unsigned long long)b, (unsigned long long)en, (unsigned long long)(en - b), want);
    t->data = data + b;
    t->nbytes = want;
    return SQZ_OK;
}

static sqz_status parse_meta(sqz_safetensors *st, const json_t *m, bool keep) {
    SQZ_FAIL_IF(!json_is_object(m), SQZ_ERR_FORMAT, "__metadata__ is not an object");
    const char *k;
    const json_t *v;
    size_t n = json_object_size(m), i = 0;
    if (keep) {
        st->meta = calloc(2 * n + 1, sizeof *st->meta);
        SQZ_FAIL_IF(!st->meta, SQZ_ERR_NOMEM, "out of memory");
    }
    json_object_foreach((json_t *)(uintptr_t)m, k, v) {
        SQZ_FAIL_IF(!json_is_string(v), SQZ_ERR_FORMAT, "__metadata__ value of '%s' is not a string", k);
        if (!keep)
            continue;
        st->meta[2 * i] = strdup(k);
        st->meta[2 * i + 1] = strdup(json_string_value(v));
        st->n_meta = (int64_t)++i;
        SQZ_FAIL_IF(!st->meta[2 * i - 2] || !st->meta[2 * i - 1], SQZ_ERR_NOMEM, "out of memory");
    }
    return SQZ_OK;
}

static int cmp_tensor_data(const void *a, const void *b) {
    const sqz_tensor *x = *(const sqz_tensor *const *)a, *y = *(const sqz_tensor *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

// Tensors [first, n_tensors) all live in one file: sort them by offset and check for overlaps.
static sqz_status check_overlaps(sqz_safetensors *st, int64_t first, const uint8_t *data) {
    int64_t n = st->n_tensors - first;
    if (n < 2)
        return SQZ_OK;
    const sqz_tensor **order = malloc((size_t)n * sizeof *order);
    SQZ_FAIL_IF(!order, SQZ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++)
        order[i] = &st->tensors[first + i];
    qsort(order, (size_t)n, sizeof *order, cmp_tensor_data);
    sqz_status s = SQZ_OK;
    for (int64_t i = 1; i < n && s == SQZ_OK; i++) {
        const sqz_tensor *a = order[i - 1], *b = order[i];
        if (a->nbytes && b->nbytes && (const uint8_t *)a->data + a->nbytes > (const uint8_t *)b->data)
            s = sqz_error(SQZ_ERR_FORMAT, "tensors '%s' and '%s' overlap (data_offsets %zu and %zu)", a->name, b->name,
                          (size_t)((const uint8_t *)a->data - data), (size_t)((const uint8_t *)b->data - data));
    }
    free(order);
    return s;
}

static sqz_status parse_header_json(const st_file *f, json_t **out, size_t *hlen_out) {
    SQZ_FAIL_IF(f->size < 8, SQZ_ERR_FORMAT, "file too short (%zu bytes) for a safetensors header", f->size);
    uint64_t hlen = 0;
    memcpy(&hlen, f->base, 8);
    SQZ_FAIL_IF(hlen > f->size - 8, SQZ_ERR_FORMAT, "header length %llu exceeds the file size (%zu bytes)",
                (unsigned long long)hlen, f->size);
    SQZ_FAIL_IF(hlen > ST_MAX_HEADER, SQZ_ERR_FORMAT, "header length %llu exceeds the 100 MB limit",
                (unsigned long long)hlen);
    json_error_t err;
    *out = json_loadb((const char *)f->base + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &err);
    SQZ_FAIL_IF(!*out, SQZ_ERR_FORMAT, "header JSON: %s (line %d, column %d)", err.text, err.line, err.column);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return sqz_error(SQZ_ERR_FORMAT, "header JSON is not an object");
    }
    *hlen_out = (size_t)hlen;
    return SQZ_OK;
}

static sqz_status parse_file_entries(sqz_safetensors *st, int fi, json_t *h, size_t hlen) {
    const st_file *f = &st->files[fi];
    const uint8_t *data = f->base + 8 + hlen;
    size_t avail = f->size - 8 - hlen;
    int64_t first = st->n_tensors;
    SQZ_TRY(grow(st, (int64_t)json_object_size(h)));
    const char *k;
    json_t *v;
    json_object_foreach(h, k, v) {
        if (!strcmp(k, "__metadata__")) {
            SQZ_TRY(parse_meta(st, v, fi == 0));
            continue;
        }
        sqz_tensor *t = &st->tensors[st->n_tensors];
        memset(t, 0, sizeof *t);
        SQZ_TRY_CTX(parse_entry(t, v, data, avail), "tensor '%s': ", k);
        char *name = strdup(k);
        SQZ_FAIL_IF(!name, SQZ_ERR_NOMEM, "out of memory");
        t->name = name;
        st->names[st->n_tensors] = name;
        st->file_of[st->n_tensors++] = fi;
    }
    return check_overlaps(st, first, data);
}

static sqz_status parse_file(sqz_safetensors *st, int fi) {
    json_t *h = NULL;
    size_t hlen = 0;
    sqz_status s = parse_header_json(&st->files[fi], &h, &hlen);
    if (s == SQZ_OK)
        s = parse_file_entries(st, fi, h, hlen);
    json_decref(h);
    return s == SQZ_OK ? SQZ_OK : sqz_error_prefix(s, "%s: ", st->files[fi].name);
}

static sqz_status build_index(sqz_safetensors *st) {
    SQZ_TRY(sqz_name_index_init(&st->index, (size_t)st->n_tensors));
    for (int64_t i = 0; i < st->n_tensors; i++) {
        const char *const *names = (const char *const *)st->names;
        int64_t j = sqz_name_index_find(&st->index, names, names[i], strlen(names[i]));
        SQZ_FAIL_IF(j >= 0, SQZ_ERR_FORMAT, "tensor '%s' appears in both %s and %s", names[i],
                    st->files[st->file_of[j]].name, st->files[st->file_of[i]].name);
        sqz_name_index_insert(&st->index, names, i);
    }
    return SQZ_OK;
}

static sqz_status add_file(sqz_safetensors *st, const char *path, int *fi) {
    st_file *f = realloc(st->files, (size_t)(st->n_files + 1) * sizeof *f);
    SQZ_FAIL_IF(!f, SQZ_ERR_NOMEM, "out of memory");
    st->files = f;
    f = &st->files[st->n_files];
    memset(f, 0, sizeof *f);
    f->name = strdup(path);
    SQZ_FAIL_IF(!f->name, SQZ_ERR_NOMEM, "out of memory");
    *fi = st->n_files++;
    SQZ_TRY(sqz_mmap_open(&f->map, path));
    f->base = f->map.data;
    f->size = f->map.size;
    return SQZ_OK;
}

static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
}

static sqz_status shard_file(const char *key, const json_t *v, const char **out) {
    SQZ_FAIL_IF(!json_is_string(v), SQZ_ERR_FORMAT, "weight_map entry '%s' is not a string", key);
    const char *s = json_string_value(v);
    SQZ_FAIL_IF(!*s || strchr(s, '/') || !strcmp(s, "..") || !strcmp(s, "."), SQZ_ERR_FORMAT,
                "weight_map entry '%s' names '%s', which is not a file name in the same directory", key, s);
    *out = s;
    return SQZ_OK;
}

// Open every shard named by weight_map once; then check that each listed tensor is in its shard
// and that no shard holds tensors the index does not list.
static sqz_status open_shards(sqz_safetensors *st, const json_t *wm, const char *dir) {
    const char *k, *file = NULL;
    const json_t *v;
    json_object_foreach((json_t *)(uintptr_t)wm, k, v) {
        SQZ_TRY(shard_file(k, v, &file));
        char *path = path_join(dir, file);
        SQZ_FAIL_IF(!path, SQZ_ERR_NOMEM, "out of memory");
        bool seen = false;
        for (int i = 0; i < st->n_files && !seen; i++)
            seen = !strcmp(st->files[i].name, path);
        int fi = 0;
        sqz_status s = seen ? SQZ_OK : add_file(st, path, &fi);
        free(path);
        SQZ_TRY(s);
        if (!seen)
            SQZ_TRY(parse_file(st, fi));
    }
    SQZ_TRY(build_index(st));
    json_object_foreach((json_t *)(uintptr_t)wm, k, v) {
        SQZ_TRY(shard_file(k, v, &file));
        int64_t i = sqz_name_index_find(&st->index, (const char *const *)st->names, k, strlen(k));
        SQZ_FAIL_IF(i < 0, SQZ_ERR_NOT_FOUND, "tensor '%s' listed in weight_map is missing from %s", k, file);
        const char *actual = strrchr(st->files[st->file_of[i]].name, '/');
        actual = actual ? actual + 1 : st->files[st->file_of[i]].name;
        SQZ_FAIL_IF(strcmp(actual, file) != 0, SQZ_ERR_FORMAT, "tensor '%s' is listed in %s but stored in %s", k, file,
                    actual);
    }
    SQZ_FAIL_IF((size_t)st->n_tensors != json_object_size(wm), SQZ_ERR_FORMAT,
                "the shards hold %lld tensors but weight_map lists %zu", (long long)st->n_tensors,
                json_object_size(wm));
    return SQZ_OK;
}

static sqz_status open_index(sqz_safetensors *st, const char *path) {
    json_error_t err;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    SQZ_FAIL_IF(!j, SQZ_ERR_FORMAT, "%s: %s (line %d, column %d)", path, err.text, err.line, err.column);
    const json_t *wm = json_object_get(j, "weight_map");
    char *dir = dir_of(path);
    sqz_status s = SQZ_OK;
    if (!dir)
        s = sqz_error(SQZ_ERR_NOMEM, "out of memory");
    else if (!json_is_object(wm))
        s = sqz_error(SQZ_ERR_FORMAT, "%s: missing 'weight_map' object", path);
    else if (json_object_size(wm) == 0)
        s = sqz_error(SQZ_ERR_FORMAT, "%s: 'weight_map' is empty", path);
    else if ((s = open_shards(st, wm, dir)) != SQZ_OK)
        sqz_error_prefix(s, "%s: ", path);
    free(dir);
    json_decref(j);
    return s;
}

static bool is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static sqz_status open_path(sqz_safetensors *st, const char *path) {
    if (is_dir(path)) {
        char *idx = path_join(path, "model.safetensors.index.json");
        char *single = path_join(path, "model.safetensors");
        sqz_status s = SQZ_OK;
        if (!idx || !single)
            s = sqz_error(SQZ_ERR_NOMEM, "out of memory");
        else if (access(idx, F_OK) == 0)
            s = open_index(st, idx);
        else if (access(single, F_OK) == 0)
            s = open_path(st, single);
        else
            s = sqz_error(SQZ_ERR_NOT_FOUND, "%s: no model.safetensors or model.safetensors.index.json", path);
        free(idx);
        free(single);
        return s;
    }
    if (ends_with(path, ".json"))
        return open_index(st, path);
    int fi;
    SQZ_TRY(add_file(st, path, &fi));
    SQZ_TRY(parse_file(st, fi));
    return build_index(st);
}

sqz_status sqz_safetensors_open(sqz_safetensors **out, const char *path) {
    *out = NULL;
    sqz_safetensors *st = calloc(1, sizeof *st);
    SQZ_FAIL_IF(!st, SQZ_ERR_NOMEM, "%s: out of memory", path);
    sqz_status s = open_path(st, path);
    if (s != SQZ_OK) {
        sqz_safetensors_free(st);
        return s;
    }
    *out = st;
    return SQZ_OK;
}

sqz_status sqz_safetensors_open_mem(sqz_safetensors **out, const void *data, size_t size, const char *name) {
    *out = NULL;
    sqz_safetensors *st = calloc(1, sizeof *st);
    st_file *f = calloc(1, sizeof *f);
    char *nm = strdup(name);
    if (!st || !f || !nm) {
        free(st);
        free(f);
        free(nm);
        return sqz_error(SQZ_ERR_NOMEM, "%s: out of memory", name);
    }
    *f = (st_file){.base = data, .size = size, .name = nm};
    st->files = f;
    st->n_files = 1;
    sqz_status s = parse_file(st, 0);
    if (s == SQZ_OK)
        s = build_index(st);
    if (s != SQZ_OK) {
        sqz_safetensors_free(st);
        return s;
    }
    *out = st;
    return SQZ_OK;
}

void sqz_safetensors_free(sqz_safetensors *st) {
    if (!st)
        return;
    for (int i = 0; i < st->n_files; i++) {
        sqz_mmap_close(&st->files[i].map);
        free(st->files[i].name);
    }
    for (int64_t i = 0; i < st->n_tensors; i++)
        free(st->names[i]);
    for (int64_t i = 0; i < 2 * st->n_meta; i++)
        free(st->meta[i]);
    free(st->meta);
    free(st->files);
    free(st->tensors);
    free(st->names);
    free(st->file_of);
    sqz_name_index_free(&st->index);
    free(st);
}

int64_t sqz_safetensors_n_tensors(const sqz_safetensors *st) { return st->n_tensors; }

const sqz_tensor *sqz_safetensors_tensor(const sqz_safetensors *st, int64_t i) {
    return i >= 0 && i < st->n_tensors ? &st->tensors[i] : NULL;
}

const sqz_tensor *sqz_safetensors_find(const sqz_safetensors *st, const char *name) {
    int64_t i = sqz_name_index_find(&st->index, (const char *const *)st->names, name, strlen(name));
    return i >= 0 ? &st->tensors[i] : NULL;
}

const char *sqz_safetensors_meta(const sqz_safetensors *st, const char *key) {
    for (int64_t i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta[2 * i], key))
            return st->meta[2 * i + 1];
    return NULL;
}

// ---- writing -------------------------------------------------------------------------------------
static sqz_status check_tensor(const sqz_tensor *t) {
    SQZ_FAIL_IF(!dtype_name(t->type), SQZ_ERR_UNSUPPORTED, "tensor '%s': type %s cannot be stored in safetensors",
                t->name, sqz_type_name(t->type));
    SQZ_FAIL_IF(t->n_dims < 0 || t->n_dims > SQZ_MAX_DIMS, SQZ_ERR_ARG, "tensor '%s': %d dimensions", t->name,
                t->n_dims);
    size_t nel = 1, want;
    for (int d = 0; d < t->n_dims; d++)
        SQZ_FAIL_IF(t->shape[d] < 0 || !sqz_mul_ok(nel, (size_t)t->shape[d], &nel), SQZ_ERR_ARG,
                    "tensor '%s': bad shape", t->name);
    SQZ_FAIL_IF(!sqz_mul_ok(nel, sqz_type_traits_of(t->type)->type_size, &want) || want != t->nbytes, SQZ_ERR_ARG,
                "tensor '%s': nbytes %zu does not match its shape and type", t->name, t->nbytes);
    return SQZ_OK;
}

static json_t *tensor_entry(const sqz_tensor *t, size_t begin) {
    json_t *shape = json_array();
    for (int d = 0; d < t->n_dims; d++)
        json_array_append_new(shape, json_integer(t->shape[d]));
    return json_pack("{s:s, s:o, s:[I, I]}", "dtype", dtype_name(t->type), "shape", shape, "data_offsets",
                     (json_int_t)begin, (json_int_t)(begin + t->nbytes));
}

// The header JSON, compact, padded with spaces to a multiple of 8 bytes as the reference does.
static sqz_status build_header(const sqz_tensor *tensors, int64_t n, const char *const *meta, int64_t n_meta,
                               char **out, size_t *len) {
    json_t *h = json_object();
    SQZ_FAIL_IF(!h, SQZ_ERR_NOMEM, "out of memory");
    sqz_status s = SQZ_OK;
    if (n_meta > 0) {
        json_t *m = json_object();
        for (int64_t i = 0; i < n_meta; i++)
            json_object_set_new(m, meta[2 * i], json_string(meta[2 * i + 1]));
        json_object_set_new(h, "__metadata__", m);
    }
    size_t off = 0;
    for (int64_t i = 0; i < n && s == SQZ_OK; i++) {
        if ((s = check_tensor(&tensors[i])) != SQZ_OK)
            break;
        if (json_object_get(h, tensors[i].name))
            s = sqz_error(SQZ_ERR_ARG, "duplicate tensor '%s'", tensors[i].name);
        else if (json_object_set_new(h, tensors[i].name, tensor_entry(&tensors[i], off)) != 0)
            s = sqz_error(SQZ_ERR_NOMEM, "tensor '%s': cannot build header entry", tensors[i].name);
        off += tensors[i].nbytes;
    }
    char *txt = s == SQZ_OK ? json_dumps(h, JSON_COMPACT) : NULL;
    json_decref(h);
    SQZ_TRY(s);
    SQZ_FAIL_IF(!txt, SQZ_ERR_NOMEM, "out of memory for the header");
    size_t l = strlen(txt), padded = (l + 7) / 8 * 8;
    char *p = realloc(txt, padded + 1);
    if (!p) {
        free(txt);
        return sqz_error(SQZ_ERR_NOMEM, "out of memory for the header");
    }
    memset(p + l, ' ', padded - l);
    p[padded] = 0;
    *out = p;
    *len = padded;
    return SQZ_OK;
}

// Header, then every tensor's bytes in order; a tensor without data is produced by fill into one
// buffer that grows to the largest such tensor (so memory stays one tensor deep).
static sqz_status write_stream(FILE *f, const char *hdr, size_t hlen, const sqz_tensor *tensors, int64_t n,
                               sqz_tensor_fill fill, void *user) {
    uint64_t hl = hlen;
    bool ok = fwrite(&hl, 8, 1, f) == 1 && fwrite(hdr, 1, hlen, f) == hlen;
    void *buf = NULL;
    size_t cap = 0;
    sqz_status st = SQZ_OK;
    for (int64_t i = 0; i < n && ok && st == SQZ_OK; i++) {
        const void *data = tensors[i].data;
        if (!data && tensors[i].nbytes) {
            if (!fill) {
                st = sqz_error(SQZ_ERR_ARG, "tensor '%s' has no data", tensors[i].name);
                break;
            }
            if (tensors[i].nbytes > cap) {
                free(buf);
                cap = tensors[i].nbytes;
                if (!(buf = malloc(cap))) {
                    st = sqz_error(SQZ_ERR_NOMEM, "out of memory for tensor '%s' (%zu bytes)", tensors[i].name, cap);
                    break;
                }
            }
            st = fill(user, i, buf);
            data = buf;
        }
        ok = st != SQZ_OK || !tensors[i].nbytes || fwrite(data, 1, tensors[i].nbytes, f) == tensors[i].nbytes;
    }
    free(buf);
    SQZ_TRY(st);
    SQZ_FAIL_IF(!ok, SQZ_ERR_IO, "write failed: %s", strerror(errno));
    return SQZ_OK;
}

sqz_status sqz_safetensors_write(const char *path, const sqz_tensor *tensors, int64_t n, const char *const *meta,
                                 int64_t n_meta) {
    return sqz_safetensors_write_fill(path, tensors, n, meta, n_meta, NULL, NULL);
}

sqz_status sqz_safetensors_write_fill(const char *path, const sqz_tensor *tensors, int64_t n, const char *const *meta,
                                      int64_t n_meta, sqz_tensor_fill fill, void *user) {
    char *hdr = NULL;
    size_t hlen = 0;
    SQZ_TRY_CTX(build_header(tensors, n, meta, n_meta, &hdr, &hlen), "%s: ", path);
    size_t tl = strlen(path) + 32;
    char *tmp = malloc(tl);
    FILE *f = NULL;
    if (tmp) {
        snprintf(tmp, tl, "%s.tmp%ld", path, (long)getpid());
        f = fopen(tmp, "wb");
    }
    sqz_status s = SQZ_OK;
    if (!f)
        s = sqz_error(SQZ_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    else {
        s = write_stream(f, hdr, hlen, tensors, n, fill, user);
        if (fclose(f) != 0 && s == SQZ_OK)
            s = sqz_error(SQZ_ERR_IO, "write failed: %s", strerror(errno));
        if (s == SQZ_OK && rename(tmp, path) != 0)
            s = sqz_error(SQZ_ERR_IO, "cannot rename %s into place: %s", tmp, strerror(errno));
        if (s != SQZ_OK) {
            unlink(tmp);
            sqz_error_prefix(s, "%s: ", path);
        }
    }
    free(tmp);
    free(hdr);
    return s;
}

static sqz_status write_index(const char *dir, const sqz_tensor *tensors, int64_t n, const int *shard_of,
                              int n_shards, size_t total) {
    json_t *wm = json_object();
    char fname[64];
    for (int64_t i = 0; i < n; i++) {
        snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", shard_of[i] + 1, n_shards);
        json_object_set_new(wm, tensors[i].name, json_string(fname));
    }
    json_t *j = json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)total, "weight_map", wm);
    char *path = path_join(dir, "model.safetensors.index.json");
    int rc = j && path ? json_dump_file(j, path, JSON_INDENT(2)) : -1;
    json_decref(j);
    sqz_status s = rc == 0 ? SQZ_OK : sqz_error(SQZ_ERR_IO, "%s: cannot write", path ? path : dir);
    free(path);
    return s;
}

// A shard's tensors are a slice of the caller's list: fill them by their index in the whole list.
typedef struct {
    sqz_tensor_fill fill;
    void *user;
    int64_t offset;
} shard_fill;

static sqz_status fill_shard(void *user, int64_t i, void *buf) {
    const shard_fill *sf = user;
    return sf->fill(sf->user, sf->offset + i, buf);
}

sqz_status sqz_safetensors_write_sharded(const char *dir, const sqz_tensor *tensors, int64_t n,
                                         size_t max_shard_bytes) {
    return sqz_safetensors_write_sharded_fill(dir, tensors, n, max_shard_bytes, NULL, NULL);
}

sqz_status sqz_safetensors_write_sharded_fill(const char *dir, const sqz_tensor *tensors, int64_t n,
                                              size_t max_shard_bytes, sqz_tensor_fill fill, void *user) {
    SQZ_FAIL_IF(mkdir(dir, 0755) != 0 && errno != EEXIST, SQZ_ERR_IO, "%s: cannot create directory: %s", dir,
                strerror(errno));
    int *shard_of = malloc((size_t)(n > 0 ? n : 1) * sizeof *shard_of);
    SQZ_FAIL_IF(!shard_of, SQZ_ERR_NOMEM, "out of memory");
    // Greedy packing in the given order; a tensor larger than the limit gets a shard of its own.
    static const char *const meta[] = {"format", "pt"}; // transformers refuses files without it
    int n_shards = 1;
    size_t cur = 0, total = 0;
    for (int64_t i = 0; i < n; i++) {
        if (cur > 0 && cur + tensors[i].nbytes > max_shard_bytes) {
            n_shards++;
            cur = 0;
        }
        cur += tensors[i].nbytes;
        total += tensors[i].nbytes;
        shard_of[i] = n_shards - 1;
    }
    sqz_status s = SQZ_OK;
    if (n_shards == 1) {
        char *path = path_join(dir, "model.safetensors");
        s = path ? sqz_safetensors_write_fill(path, tensors, n, meta, 1, fill, user)
                 : sqz_error(SQZ_ERR_NOMEM, "out of memory");
        free(path);
        free(shard_of);
        return s;
    }
    int64_t i0 = 0;
    for (int k = 0; k < n_shards && s == SQZ_OK; k++) {
        int64_t i1 = i0;
        while (i1 < n && shard_of[i1] == k)
            i1++;
        char fname[64];
        snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", k + 1, n_shards);
        char *path = path_join(dir, fname);
        shard_fill sf = {fill, user, i0};
        s = path ? sqz_safetensors_write_fill(path, tensors + i0, i1 - i0, meta, 1, fill ? fill_shard : NULL, &sf)
                 : sqz_error(SQZ_ERR_NOMEM, "out of memory");
        free(path);
        i0 = i1;
    }
    if (s == SQZ_OK)
        s = write_index(dir, tensors, n, shard_of, n_shards, total);
    free(shard_of);
    return s;
}

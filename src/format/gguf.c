// GGUF v2/v3 reader (memory-mapped, every field validated) and v3 writer.
//
// File layout (little-endian): "GGUF", u32 version, u64 n_tensors, u64 n_kv, n_kv × (string key,
// u32 value type, value), n_tensors × (string name, u32 n_dims, u64 ne[n_dims] innermost-first,
// u32 ggml type, u64 offset), padding to general.alignment, tensor data (offsets relative to here).
// A string is u64 length + bytes (no NUL); an array is u32 element type + u64 count + elements.
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "format/format_internal.h"

#define GGUF_MAX_DEPTH 8 // nesting of arrays of arrays; real files use at most 1
#define GGUF_DEFAULT_ALIGNMENT 32

// Extra allocations (string tables, nested arrays) are chained so one free releases them all.
typedef struct gguf_block {
    struct gguf_block *next;
    alignas(max_align_t) unsigned char data[];
} gguf_block;

struct sqz_gguf {
    sqz_mmap map;         // owned mapping (zeroed when parsing a caller's buffer)
    const uint8_t *base;  // file bytes
    size_t size;
    char *path;
    uint32_t version;
    size_t alignment, data_offset;
    int64_t n_kv, n_tensors;
    char **keys;          // NUL-terminated copies
    sqz_gguf_value *values;
    char **tensor_names;  // tensors[i].name == tensor_names[i]
    sqz_tensor *tensors;
    sqz_name_index kv_index, tensor_index;
    gguf_block *blocks;
};

// ---- type tables ---------------------------------------------------------------------------------
static const char *const ggml_names[] = {
    "f32", "f16", "q4_0", "q4_1", "q4_2", "q4_3", "q5_0", "q5_1", "q8_0", "q8_1", "q2_K", "q3_K",
    "q4_K", "q5_K", "q6_K", "q8_K", "iq2_xxs", "iq2_xs", "iq3_xxs", "iq1_s", "iq4_nl", "iq3_s",
    "iq2_s", "iq4_xs", "i8", "i16", "i32", "i64", "f64", "iq1_m", "bf16", "q4_0_4_4", "q4_0_4_8",
    "q4_0_8_8", "tq1_0", "tq2_0", "iq4_nl_4_4", "iq4_nl_4_8", "iq4_nl_8_8", "mxfp4",
};

const char *sqz_ggml_type_name(int t) {
    return t >= 0 && t < (int)(sizeof ggml_names / sizeof ggml_names[0]) ? ggml_names[t] : "?";
}

// ggml type id of each sqz type (-1: none).
static const int sqz_to_ggml[SQZ_TYPE_COUNT] = {
    [SQZ_TYPE_F32] = 0, [SQZ_TYPE_F16] = 1, [SQZ_TYPE_BF16] = 30, [SQZ_TYPE_Q8_0] = 8,
    [SQZ_TYPE_Q4_0] = 2, [SQZ_TYPE_Q4_1] = 3, [SQZ_TYPE_I8] = 24, [SQZ_TYPE_U8] = -1,
    [SQZ_TYPE_I16] = 25, [SQZ_TYPE_I32] = 26, [SQZ_TYPE_I64] = 27, [SQZ_TYPE_F64] = 28,
};

int sqz_gguf_type_from_sqz(sqz_type t) { return (unsigned)t < SQZ_TYPE_COUNT ? sqz_to_ggml[t] : -1; }

sqz_type sqz_gguf_type_to_sqz(int ggml_type) {
    for (int t = 0; t < SQZ_TYPE_COUNT; t++)
        if (sqz_to_ggml[t] == ggml_type && ggml_type >= 0)
            return (sqz_type)t;
    return SQZ_TYPE_COUNT;
}

// Bytes of one scalar of a metadata type; 0 for STRING/ARRAY/unknown.
static size_t vtype_size(uint32_t t) {
    switch (t) {
    case SQZ_GGUF_UINT8: case SQZ_GGUF_INT8: case SQZ_GGUF_BOOL: return 1;
    case SQZ_GGUF_UINT16: case SQZ_GGUF_INT16: return 2;
    case SQZ_GGUF_UINT32: case SQZ_GGUF_INT32: case SQZ_GGUF_FLOAT32: return 4;
    case SQZ_GGUF_UINT64: case SQZ_GGUF_INT64: case SQZ_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

// ---- reading -------------------------------------------------------------------------------------
typedef struct reader {
    const uint8_t *p;
    size_t size, pos;
} reader;

static sqz_status rd_bytes(reader *r, void *dst, size_t n) {
    SQZ_FAIL_IF(n > r->size - r->pos, SQZ_ERR_FORMAT,
                "truncated: need %zu bytes at offset %zu, file has %zu", n, r->pos, r->size);
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
    return SQZ_OK;
}

static sqz_status rd_u32(reader *r, uint32_t *v) { return rd_bytes(r, v, 4); }
static sqz_status rd_u64(reader *r, uint64_t *v) { return rd_bytes(r, v, 8); }

static sqz_status rd_str(reader *r, sqz_gguf_str *s) {
    uint64_t len = 0;
    SQZ_TRY(rd_u64(r, &len));
    SQZ_FAIL_IF(len > r->size - r->pos, SQZ_ERR_FORMAT,
                "string of %llu bytes at offset %zu runs past the end of the file (%zu bytes)",
                (unsigned long long)len, r->pos - 8, r->size);
    s->ptr = (const char *)r->p + r->pos;
    s->len = len;
    r->pos += len;
    return SQZ_OK;
}

static void *gguf_alloc(sqz_gguf *g, size_t n, size_t elem) {
    size_t bytes, total;
    if (!sqz_mul_ok(n, elem, &bytes) || !sqz_add_ok(bytes, sizeof(gguf_block), &total))
        return NULL;
    gguf_block *b = calloc(1, total);
    if (!b)
        return NULL;
    b->next = g->blocks;
    g->blocks = b;
    return b->data;
}

// NUL-terminated copy of a string that must not contain NUL bytes (keys and tensor names).
static sqz_status str_dup_checked(sqz_gguf *g, sqz_gguf_str s, char **out) {
    SQZ_FAIL_IF(memchr(s.ptr, 0, s.len) != NULL, SQZ_ERR_FORMAT, "name contains a NUL byte");
    char *c = gguf_alloc(g, s.len + 1, 1);
    SQZ_FAIL_IF(!c, SQZ_ERR_NOMEM, "out of memory for a %llu-byte name", (unsigned long long)s.len);
    memcpy(c, s.ptr, s.len);
    *out = c;
    return SQZ_OK;
}

static sqz_status read_array(sqz_gguf *g, reader *r, sqz_gguf_value *v, int depth);

static sqz_status read_scalar(reader *r, uint32_t type, sqz_gguf_value *v) {
    uint8_t b[8] = {0};
    SQZ_TRY(rd_bytes(r, b, vtype_size(type)));
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    float f;
    memcpy(&u8, b, 1);
    memcpy(&u16, b, 2);
    memcpy(&u32, b, 4);
    memcpy(&f, b, 4);
    switch (type) {
    case SQZ_GGUF_UINT8: v->v.u64 = u8; break;
    case SQZ_GGUF_INT8: v->v.i64 = (int8_t)u8; break;
    case SQZ_GGUF_UINT16: v->v.u64 = u16; break;
    case SQZ_GGUF_INT16: v->v.i64 = (int16_t)u16; break;
    case SQZ_GGUF_UINT32: v->v.u64 = u32; break;
    case SQZ_GGUF_INT32: v->v.i64 = (int32_t)u32; break;
    case SQZ_GGUF_FLOAT32: v->v.f64 = f; break;
    case SQZ_GGUF_UINT64: memcpy(&v->v.u64, b, 8); break;
    case SQZ_GGUF_INT64: memcpy(&v->v.i64, b, 8); break;
    case SQZ_GGUF_FLOAT64: memcpy(&v->v.f64, b, 8); break;
    case SQZ_GGUF_BOOL:
        SQZ_FAIL_IF(u8 > 1, SQZ_ERR_FORMAT, "bool value %u at offset %zu is not 0 or 1", u8, r->pos - 1);
        v->v.b = u8;
        break;
    }
    return SQZ_OK;
}

static sqz_status read_value(sqz_gguf *g, reader *r, uint32_t type, sqz_gguf_value *v, int depth) {
    v->type = (sqz_gguf_vtype)type;
    if (type == SQZ_GGUF_STRING)
        return rd_str(r, &v->v.str);
    if (type == SQZ_GGUF_ARRAY)
        return read_array(g, r, v, depth);
    SQZ_FAIL_IF(!vtype_size(type), SQZ_ERR_FORMAT, "unknown value type %u at offset %zu", type, r->pos);
    return read_scalar(r, type, v);
}

// Array body: u32 element type, u64 count, elements. Counts are checked against the bytes left
// before anything is allocated, so a hostile count cannot make us allocate more than the file size.
static sqz_status read_array(sqz_gguf *g, reader *r, sqz_gguf_value *v, int depth) {
    SQZ_FAIL_IF(depth >= GGUF_MAX_DEPTH, SQZ_ERR_FORMAT, "arrays nested deeper than %d", GGUF_MAX_DEPTH);
    uint32_t et = 0;
    uint64_t n = 0;
    SQZ_TRY(rd_u32(r, &et));
    SQZ_TRY(rd_u64(r, &n));
    size_t left = r->size - r->pos, esize = vtype_size(et);
    v->v.arr.elem_type = (sqz_gguf_vtype)et;
    v->v.arr.n = n;
    if (esize) {
        SQZ_FAIL_IF(n > left / esize, SQZ_ERR_FORMAT, "array of %llu elements of %zu bytes runs past the end of the file",
                    (unsigned long long)n, esize);
        v->v.arr.raw = r->p + r->pos;
        if (et == SQZ_GGUF_BOOL)
            for (uint64_t i = 0; i < n; i++)
                SQZ_FAIL_IF(r->p[r->pos + i] > 1, SQZ_ERR_FORMAT, "bool array element %llu is not 0 or 1",
                            (unsigned long long)i);
        r->pos += n * esize;
        return SQZ_OK;
    }
    if (et == SQZ_GGUF_STRING) {
        SQZ_FAIL_IF(n > left / 8, SQZ_ERR_FORMAT, "array of %llu strings runs past the end of the file",
                    (unsigned long long)n);
        sqz_gguf_str *s = gguf_alloc(g, n ? n : 1, sizeof *s);
        SQZ_FAIL_IF(!s, SQZ_ERR_NOMEM, "out of memory for %llu strings", (unsigned long long)n);
        for (uint64_t i = 0; i < n; i++)
            SQZ_TRY_CTX(rd_str(r, &s[i]), "string %llu: ", (unsigned long long)i);
        v->v.arr.strs = s;
        return SQZ_OK;
    }
    SQZ_FAIL_IF(et != SQZ_GGUF_ARRAY, SQZ_ERR_FORMAT, "unknown array element type %u", et);
    SQZ_FAIL_IF(n > left / 12, SQZ_ERR_FORMAT, "array of %llu arrays runs past the end of the file",
                (unsigned long long)n);
    sqz_gguf_value *e = gguf_alloc(g, n ? n : 1, sizeof *e);
    SQZ_FAIL_IF(!e, SQZ_ERR_NOMEM, "out of memory for %llu nested arrays", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        e[i].type = SQZ_GGUF_ARRAY;
        SQZ_TRY_CTX(read_array(g, r, &e[i], depth + 1), "element %llu: ", (unsigned long long)i);
    }
    v->v.arr.elems = e;
    return SQZ_OK;
}

static sqz_status read_header(sqz_gguf *g, reader *r) {
    char magic[4] = {0};
    SQZ_TRY(rd_bytes(r, magic, 4));
    SQZ_FAIL_IF(memcmp(magic, "GGUF", 4) != 0, SQZ_ERR_FORMAT, "not a GGUF file (bad magic %02x %02x %02x %02x)",
                (uint8_t)magic[0], (uint8_t)magic[1], (uint8_t)magic[2], (uint8_t)magic[3]);
    SQZ_TRY(rd_u32(r, &g->version));
    SQZ_FAIL_IF(g->version >= 0x10000, SQZ_ERR_UNSUPPORTED, "GGUF version 0x%08x: big-endian files are not supported",
                g->version);
    SQZ_FAIL_IF(g->version != 2 && g->version != 3, SQZ_ERR_UNSUPPORTED, "unsupported GGUF version %u (need 2 or 3)",
                g->version);
    uint64_t nt = 0, nkv = 0;
    SQZ_TRY(rd_u64(r, &nt));
    SQZ_TRY(rd_u64(r, &nkv));
    // Smallest encodings: a kv is 8 (key length) + 4 (type) + 1 byte; a tensor info 8 + 4 + 4 + 8.
    size_t left = r->size - r->pos;
    SQZ_FAIL_IF(nkv > left / 13, SQZ_ERR_FORMAT, "metadata count %llu is impossible for a %zu-byte file",
                (unsigned long long)nkv, r->size);
    SQZ_FAIL_IF(nt > left / 24, SQZ_ERR_FORMAT, "tensor count %llu is impossible for a %zu-byte file",
                (unsigned long long)nt, r->size);
    g->n_kv = (int64_t)nkv;
    g->n_tensors = (int64_t)nt;
    return SQZ_OK;
}

static sqz_status read_kvs(sqz_gguf *g, reader *r) {
    g->keys = calloc((size_t)g->n_kv + 1, sizeof *g->keys);
    g->values = calloc((size_t)g->n_kv + 1, sizeof *g->values);
    SQZ_FAIL_IF(!g->keys || !g->values, SQZ_ERR_NOMEM, "out of memory for %lld keys", (long long)g->n_kv);
    SQZ_TRY(sqz_name_index_init(&g->kv_index, (size_t)g->n_kv));
    for (int64_t i = 0; i < g->n_kv; i++) {
        sqz_gguf_str k;
        uint32_t type = 0;
        SQZ_TRY_CTX(rd_str(r, &k), "key #%lld: ", (long long)i);
        SQZ_TRY_CTX(str_dup_checked(g, k, &g->keys[i]), "key #%lld: ", (long long)i);
        const char *key = g->keys[i];
        SQZ_FAIL_IF(sqz_name_index_find(&g->kv_index, (const char *const *)g->keys, key, k.len) >= 0,
                    SQZ_ERR_FORMAT, "duplicate key '%s'", key);
        sqz_name_index_insert(&g->kv_index, (const char *const *)g->keys, i);
        SQZ_TRY_CTX(rd_u32(r, &type), "key '%s': ", key);
        SQZ_TRY_CTX(read_value(g, r, type, &g->values[i], 0), "key '%s': ", key);
    }
    return SQZ_OK;
}

static sqz_status read_alignment(sqz_gguf *g) {
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const sqz_gguf_value *v = sqz_gguf_get(g, "general.alignment");
    if (!v)
        return SQZ_OK;
    int64_t a;
    SQZ_TRY(sqz_gguf_get_i64(g, "general.alignment", &a));
    SQZ_FAIL_IF(a <= 0 || (a & (a - 1)) || a > (1 << 30), SQZ_ERR_FORMAT,
                "general.alignment = %lld is not a power of two", (long long)a);
    g->alignment = (size_t)a;
    return SQZ_OK;
}

// One tensor info; the offset is kept relative to the data section until that is known.
static sqz_status read_tensor_info(sqz_gguf *g, reader *r, int64_t i, uint64_t *offset) {
    sqz_gguf_str s;
    SQZ_TRY(rd_str(r, &s));
    SQZ_TRY(str_dup_checked(g, s, &g->tensor_names[i]));
    const char *name = g->tensor_names[i];
    sqz_tensor *t = &g->tensors[i];
    t->name = name;
    SQZ_FAIL_IF(sqz_name_index_find(&g->tensor_index, (const char *const *)g->tensor_names, name, s.len) >= 0,
                SQZ_ERR_FORMAT, "duplicate tensor '%s'", name);
    sqz_name_index_insert(&g->tensor_index, (const char *const *)g->tensor_names, i);
    uint32_t n_dims = 0, type = 0;
    SQZ_TRY_CTX(rd_u32(r, &n_dims), "tensor '%s': ", name);
    SQZ_FAIL_IF(n_dims > SQZ_MAX_DIMS, SQZ_ERR_FORMAT, "tensor '%s' has %u dimensions (at most %d)", name, n_dims,
                SQZ_MAX_DIMS);
    t->n_dims = (int)n_dims;
    for (uint32_t d = 0; d < n_dims; d++) {
        uint64_t ne = 0;
        SQZ_TRY_CTX(rd_u64(r, &ne), "tensor '%s': ", name);
        SQZ_FAIL_IF(ne > INT64_MAX, SQZ_ERR_FORMAT, "tensor '%s': dimension %u is negative", name, d);
        t->shape[n_dims - 1 - d] = (int64_t)ne; // ne[] is innermost-first
    }
    SQZ_TRY_CTX(rd_u32(r, &type), "tensor '%s': ", name);
    t->type = sqz_gguf_type_to_sqz((int)type);
    SQZ_FAIL_IF(type > 0x7fffffff || t->type == SQZ_TYPE_COUNT, SQZ_ERR_UNSUPPORTED,
                "unsupported tensor type %u (%s) of tensor '%s'", type, sqz_ggml_type_name((int)type), name);
    SQZ_TRY_CTX(rd_u64(r, offset), "tensor '%s': ", name);
    return SQZ_OK;
}

// Element count and byte size of a tensor, overflow-checked.
static sqz_status tensor_size(const sqz_tensor *t, size_t *nbytes) {
    const sqz_type_traits *tr = sqz_type_traits_of(t->type);
    int64_t n = 1, ne0 = t->n_dims ? t->shape[t->n_dims - 1] : 1;
    for (int d = 0; d < t->n_dims; d++)
        SQZ_FAIL_IF(__builtin_mul_overflow(n, t->shape[d], &n), SQZ_ERR_FORMAT,
                    "tensor '%s': element count overflows", t->name);
    SQZ_FAIL_IF(ne0 % tr->block_size != 0, SQZ_ERR_FORMAT,
                "tensor '%s': row length %lld is not a multiple of the %s block size %d", t->name, (long long)ne0,
                tr->name, tr->block_size);
    SQZ_FAIL_IF(!sqz_mul_ok((size_t)(n / tr->block_size), tr->type_size, nbytes), SQZ_ERR_FORMAT,
                "tensor '%s': byte size overflows", t->name);
    return SQZ_OK;
}

static int cmp_by_offset(const void *a, const void *b) {
    const sqz_tensor *x = *(const sqz_tensor *const *)a, *y = *(const sqz_tensor *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

static sqz_status check_overlaps(sqz_gguf *g) {
    if (g->n_tensors < 2)
        return SQZ_OK;
    const sqz_tensor **order = malloc((size_t)g->n_tensors * sizeof *order);
    SQZ_FAIL_IF(!order, SQZ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < g->n_tensors; i++)
        order[i] = &g->tensors[i];
    qsort(order, (size_t)g->n_tensors, sizeof *order, cmp_by_offset);
    sqz_status st = SQZ_OK;
    for (int64_t i = 1; i < g->n_tensors && st == SQZ_OK; i++) {
        const sqz_tensor *a = order[i - 1], *b = order[i];
        if (a->nbytes && b->nbytes && (const uint8_t *)a->data + a->nbytes > (const uint8_t *)b->data)
            st = sqz_error(SQZ_ERR_FORMAT, "tensors '%s' and '%s' overlap (offsets %zu and %zu, %zu bytes)", a->name,
                           b->name, (size_t)((const uint8_t *)a->data - g->base - g->data_offset),
                           (size_t)((const uint8_t *)b->data - g->base - g->data_offset), a->nbytes);
    }
    free(order);
    return st;
}

static sqz_status read_tensors(sqz_gguf *g, reader *r) {
    size_t n = (size_t)g->n_tensors;
    g->tensors = calloc(n + 1, sizeof *g->tensors);
    g->tensor_names = calloc(n + 1, sizeof *g->tensor_names);
    uint64_t *offs = calloc(n + 1, sizeof *offs);
    sqz_status st = SQZ_OK;
    if (!g->tensors || !g->tensor_names || !offs)
        st = sqz_error(SQZ_ERR_NOMEM, "out of memory for %zu tensors", n);
    if (st == SQZ_OK)
        st = sqz_name_index_init(&g->tensor_index, n);
    for (size_t i = 0; i < n && st == SQZ_OK; i++) {
        st = read_tensor_info(g, r, (int64_t)i, &offs[i]);
        if (st != SQZ_OK && !g->tensor_names[i])
            st = sqz_error_prefix(st, "tensor #%zu: ", i);
    }
    // The data section starts at the next multiple of the alignment after the tensor infos.
    g->data_offset = (r->pos + g->alignment - 1) / g->alignment * g->alignment;
    if (st == SQZ_OK && n > 0 && g->data_offset > g->size)
        st = sqz_error(SQZ_ERR_FORMAT, "data section at offset %zu starts past the end of the file (%zu bytes)",
                       g->data_offset, g->size);
    size_t avail = g->data_offset <= g->size ? g->size - g->data_offset : 0;
    for (size_t i = 0; i < n && st == SQZ_OK; i++) {
        sqz_tensor *t = &g->tensors[i];
        st = tensor_size(t, &t->nbytes);
        if (st != SQZ_OK)
            break;
        if (offs[i] % g->alignment)
            st = sqz_error(SQZ_ERR_FORMAT, "tensor '%s': offset %llu is not a multiple of the alignment %zu", t->name,
                           (unsigned long long)offs[i], g->alignment);
        else if (offs[i] > avail || t->nbytes > avail - offs[i])
            st = sqz_error(SQZ_ERR_FORMAT,
                           "tensor '%s' extends past end of file (offset %llu, size %zu, data section %zu bytes)",
                           t->name, (unsigned long long)offs[i], t->nbytes, avail);
        else
            t->data = g->base + g->data_offset + offs[i];
    }
    free(offs);
    return st == SQZ_OK ? check_overlaps(g) : st;
}

static sqz_status gguf_parse(sqz_gguf *g) {
    reader r = {g->base, g->size, 0};
    SQZ_TRY(read_header(g, &r));
    SQZ_TRY(read_kvs(g, &r));
    SQZ_TRY(read_alignment(g));
    return read_tensors(g, &r);
}

static sqz_status gguf_open_common(sqz_gguf **out, sqz_gguf *g, const char *name) {
    *out = NULL;
    g->path = strdup(name);
    sqz_status st = g->path ? gguf_parse(g) : sqz_error(SQZ_ERR_NOMEM, "out of memory");
    if (st != SQZ_OK) {
        sqz_error_prefix(st, "%s: ", name);
        sqz_gguf_free(g);
        return st;
    }
    *out = g;
    return SQZ_OK;
}

sqz_status sqz_gguf_open(sqz_gguf **out, const char *path) {
    *out = NULL;
    sqz_gguf *g = calloc(1, sizeof *g);
    SQZ_FAIL_IF(!g, SQZ_ERR_NOMEM, "%s: out of memory", path);
    sqz_status st = sqz_mmap_open(&g->map, path);
    if (st != SQZ_OK) {
        free(g);
        return st;
    }
    g->base = g->map.data;
    g->size = g->map.size;
    return gguf_open_common(out, g, path);
}

sqz_status sqz_gguf_open_mem(sqz_gguf **out, const void *data, size_t size, const char *name) {
    *out = NULL;
    sqz_gguf *g = calloc(1, sizeof *g);
    SQZ_FAIL_IF(!g, SQZ_ERR_NOMEM, "%s: out of memory", name);
    g->base = data;
    g->size = size;
    return gguf_open_common(out, g, name);
}

void sqz_gguf_free(sqz_gguf *g) {
    if (!g)
        return;
    while (g->blocks) {
        gguf_block *next = g->blocks->next;
        free(g->blocks);
        g->blocks = next;
    }
    sqz_name_index_free(&g->kv_index);
    sqz_name_index_free(&g->tensor_index);
    free(g->keys);
    free(g->values);
    free(g->tensor_names);
    free(g->tensors);
    free(g->path);
    sqz_mmap_close(&g->map);
    free(g);
}

// ---- accessors -----------------------------------------------------------------------------------
const char *sqz_gguf_path(const sqz_gguf *g) { return g->path; }
uint32_t sqz_gguf_version(const sqz_gguf *g) { return g->version; }
size_t sqz_gguf_alignment(const sqz_gguf *g) { return g->alignment; }
size_t sqz_gguf_data_offset(const sqz_gguf *g) { return g->data_offset; }
int64_t sqz_gguf_n_kv(const sqz_gguf *g) { return g->n_kv; }
int64_t sqz_gguf_n_tensors(const sqz_gguf *g) { return g->n_tensors; }

const char *sqz_gguf_kv_key(const sqz_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? g->keys[i] : NULL;
}

const sqz_gguf_value *sqz_gguf_kv_value(const sqz_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? &g->values[i] : NULL;
}

const sqz_gguf_value *sqz_gguf_get(const sqz_gguf *g, const char *key) {
    int64_t i = sqz_name_index_find(&g->kv_index, (const char *const *)g->keys, key, strlen(key));
    return i >= 0 ? &g->values[i] : NULL;
}

const sqz_tensor *sqz_gguf_tensor(const sqz_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const sqz_tensor *sqz_gguf_find_tensor(const sqz_gguf *g, const char *name) {
    int64_t i = sqz_name_index_find(&g->tensor_index, (const char *const *)g->tensor_names, name, strlen(name));
    return i >= 0 ? &g->tensors[i] : NULL;
}

static bool is_unsigned(sqz_gguf_vtype t) {
    return t == SQZ_GGUF_UINT8 || t == SQZ_GGUF_UINT16 || t == SQZ_GGUF_UINT32 || t == SQZ_GGUF_UINT64;
}
static bool is_signed(sqz_gguf_vtype t) {
    return t == SQZ_GGUF_INT8 || t == SQZ_GGUF_INT16 || t == SQZ_GGUF_INT32 || t == SQZ_GGUF_INT64;
}
static bool is_float(sqz_gguf_vtype t) { return t == SQZ_GGUF_FLOAT32 || t == SQZ_GGUF_FLOAT64; }

static const char *vtype_name(sqz_gguf_vtype t) {
    static const char *const n[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                                    "bool", "string", "array", "uint64", "int64", "float64"};
    return (unsigned)t < 13 ? n[t] : "?";
}

sqz_status sqz_gguf_get_i64(const sqz_gguf *g, const char *key, int64_t *out) {
    const sqz_gguf_value *v = sqz_gguf_get(g, key);
    SQZ_FAIL_IF(!v, SQZ_ERR_NOT_FOUND, "%s: missing key '%s'", g->path, key);
    if (is_unsigned(v->type)) {
        SQZ_FAIL_IF(v->v.u64 > INT64_MAX, SQZ_ERR_FORMAT, "%s: key '%s' = %llu is out of range", g->path, key,
                    (unsigned long long)v->v.u64);
        *out = (int64_t)v->v.u64;
    } else if (is_signed(v->type)) {
        *out = v->v.i64;
    } else if (is_float(v->type)) {
        double f = v->v.f64;
        SQZ_FAIL_IF(!(f >= -9.2e18 && f <= 9.2e18) || f != (double)(int64_t)f, SQZ_ERR_FORMAT,
                    "%s: key '%s' = %g is not an integer", g->path, key, f);
        *out = (int64_t)f;
    } else if (v->type == SQZ_GGUF_BOOL) {
        *out = v->v.b;
    } else {
        return sqz_error(SQZ_ERR_FORMAT, "%s: key '%s' is a %s, expected an integer", g->path, key,
                         vtype_name(v->type));
    }
    return SQZ_OK;
}

sqz_status sqz_gguf_get_f64(const sqz_gguf *g, const char *key, double *out) {
    const sqz_gguf_value *v = sqz_gguf_get(g, key);
    SQZ_FAIL_IF(!v, SQZ_ERR_NOT_FOUND, "%s: missing key '%s'", g->path, key);
    if (is_float(v->type))
        *out = v->v.f64;
    else if (is_unsigned(v->type))
        *out = (double)v->v.u64;
    else if (is_signed(v->type))
        *out = (double)v->v.i64;
    else
        return sqz_error(SQZ_ERR_FORMAT, "%s: key '%s' is a %s, expected a number", g->path, key,
                         vtype_name(v->type));
    return SQZ_OK;
}

sqz_status sqz_gguf_get_str(const sqz_gguf *g, const char *key, sqz_gguf_str *out) {
    const sqz_gguf_value *v = sqz_gguf_get(g, key);
    SQZ_FAIL_IF(!v, SQZ_ERR_NOT_FOUND, "%s: missing key '%s'", g->path, key);
    SQZ_FAIL_IF(v->type != SQZ_GGUF_STRING, SQZ_ERR_FORMAT, "%s: key '%s' is a %s, expected a string", g->path,
                key, vtype_name(v->type));
    *out = v->v.str;
    return SQZ_OK;
}

int64_t sqz_gguf_get_i64_or(const sqz_gguf *g, const char *key, int64_t def) {
    int64_t v;
    return sqz_gguf_get(g, key) && sqz_gguf_get_i64(g, key, &v) == SQZ_OK ? v : def;
}

double sqz_gguf_get_f64_or(const sqz_gguf *g, const char *key, double def) {
    double v;
    return sqz_gguf_get(g, key) && sqz_gguf_get_f64(g, key, &v) == SQZ_OK ? v : def;
}

// Element i of a scalar array, decoded into v (v.type = the element type).
static sqz_gguf_value arr_elem(const sqz_gguf_value *arr, uint64_t i) {
    sqz_gguf_value v = {.type = arr->v.arr.elem_type};
    size_t es = vtype_size(v.type);
    if (es) {
        reader r = {(const uint8_t *)arr->v.arr.raw + i * es, es, 0};
        if (read_scalar(&r, v.type, &v) != SQZ_OK)
            v.v.u64 = 0;
    }
    return v;
}

int64_t sqz_gguf_arr_i64(const sqz_gguf_value *arr, uint64_t i) {
    sqz_gguf_value v = arr_elem(arr, i);
    if (is_unsigned(v.type))
        return (int64_t)v.v.u64;
    if (is_float(v.type))
        return (int64_t)v.v.f64;
    return v.type == SQZ_GGUF_BOOL ? v.v.b : is_signed(v.type) ? v.v.i64 : 0;
}

double sqz_gguf_arr_f64(const sqz_gguf_value *arr, uint64_t i) {
    sqz_gguf_value v = arr_elem(arr, i);
    if (is_unsigned(v.type))
        return (double)v.v.u64;
    if (is_float(v.type))
        return v.v.f64;
    return v.type == SQZ_GGUF_BOOL ? v.v.b : is_signed(v.type) ? (double)v.v.i64 : 0;
}

// ---- writer --------------------------------------------------------------------------------------
typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} bytes;

static void put(bytes *b, const void *data, size_t n) {
    if (b->oom || !n)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(bytes *b, uint64_t v) { put(b, &v, 8); }
static void put_str(bytes *b, const char *s, uint64_t len) {
    put_u64(b, len);
    put(b, s, len);
}

typedef struct wkv {
    char *key;
    bytes val; // u32 type + encoded value
} wkv;

typedef struct wtensor {
    char *name;
    sqz_type type;
    int n_dims;
    int64_t shape[SQZ_MAX_DIMS];
    const void *data;
    size_t nbytes;
} wtensor;

struct sqz_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    size_t alignment;
};

sqz_status sqz_gguf_writer_new(sqz_gguf_writer **out) {
    *out = calloc(1, sizeof **out);
    SQZ_FAIL_IF(!*out, SQZ_ERR_NOMEM, "gguf writer: out of memory");
    (*out)->alignment = GGUF_DEFAULT_ALIGNMENT;
    return SQZ_OK;
}

void sqz_gguf_writer_free(sqz_gguf_writer *w) {
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val.p);
    }
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

static void encode_array(bytes *b, const sqz_gguf_value *v);

// Encode a value's payload (without its type tag).
static void encode_value(bytes *b, const sqz_gguf_value *v) {
    uint8_t u8 = 0;
    uint16_t u16 = 0;
    uint32_t u32 = 0;
    float f = 0;
    switch (v->type) {
    case SQZ_GGUF_UINT8: u8 = (uint8_t)v->v.u64; put(b, &u8, 1); break;
    case SQZ_GGUF_INT8: u8 = (uint8_t)(int8_t)v->v.i64; put(b, &u8, 1); break;
    case SQZ_GGUF_BOOL: u8 = v->v.b; put(b, &u8, 1); break;
    case SQZ_GGUF_UINT16: u16 = (uint16_t)v->v.u64; put(b, &u16, 2); break;
    case SQZ_GGUF_INT16: u16 = (uint16_t)(int16_t)v->v.i64; put(b, &u16, 2); break;
    case SQZ_GGUF_UINT32: u32 = (uint32_t)v->v.u64; put(b, &u32, 4); break;
    case SQZ_GGUF_INT32: u32 = (uint32_t)(int32_t)v->v.i64; put(b, &u32, 4); break;
    case SQZ_GGUF_FLOAT32: f = (float)v->v.f64; put(b, &f, 4); break;
    case SQZ_GGUF_UINT64: put(b, &v->v.u64, 8); break;
    case SQZ_GGUF_INT64: put(b, &v->v.i64, 8); break;
    case SQZ_GGUF_FLOAT64: put(b, &v->v.f64, 8); break;
    case SQZ_GGUF_STRING: put_str(b, v->v.str.ptr, v->v.str.len); break;
    case SQZ_GGUF_ARRAY: encode_array(b, v); break;
    }
}

static void encode_array(bytes *b, const sqz_gguf_value *v) {
    sqz_gguf_vtype et = v->v.arr.elem_type;
    uint64_t n = v->v.arr.n;
    put_u32(b, (uint32_t)et);
    put_u64(b, n);
    if (et == SQZ_GGUF_STRING) {
        for (uint64_t i = 0; i < n; i++)
            put_str(b, v->v.arr.strs[i].ptr, v->v.arr.strs[i].len);
    } else if (et == SQZ_GGUF_ARRAY) {
        for (uint64_t i = 0; i < n; i++)
            encode_array(b, &v->v.arr.elems[i]);
    } else {
        put(b, v->v.arr.raw, n * vtype_size(et));
    }
}

static sqz_status check_value(const char *key, const sqz_gguf_value *v, int depth) {
    SQZ_FAIL_IF(depth >= GGUF_MAX_DEPTH, SQZ_ERR_ARG, "gguf writer: key '%s': arrays nested too deep", key);
    if (v->type != SQZ_GGUF_ARRAY) {
        SQZ_FAIL_IF(v->type != SQZ_GGUF_STRING && !vtype_size(v->type), SQZ_ERR_ARG,
                    "gguf writer: key '%s': unknown value type %d", key, (int)v->type);
        return SQZ_OK;
    }
    sqz_gguf_vtype et = v->v.arr.elem_type;
    if (et == SQZ_GGUF_ARRAY) {
        for (uint64_t i = 0; i < v->v.arr.n; i++) {
            SQZ_FAIL_IF(v->v.arr.elems[i].type != SQZ_GGUF_ARRAY, SQZ_ERR_ARG,
                        "gguf writer: key '%s': nested element is not an array", key);
            SQZ_TRY(check_value(key, &v->v.arr.elems[i], depth + 1));
        }
        return SQZ_OK;
    }
    SQZ_FAIL_IF(et != SQZ_GGUF_STRING && !vtype_size(et), SQZ_ERR_ARG,
                "gguf writer: key '%s': unknown array element type %d", key, (int)et);
    return SQZ_OK;
}

sqz_status sqz_gguf_writer_set_value(sqz_gguf_writer *w, const char *key, const sqz_gguf_value *v) {
    SQZ_TRY(check_value(key, v, 0));
    if (!strcmp(key, "general.alignment")) {
        int64_t a = is_unsigned(v->type) ? (int64_t)v->v.u64 : is_signed(v->type) ? v->v.i64 : -1;
        SQZ_FAIL_IF(v->type != SQZ_GGUF_UINT32 || a <= 0 || (a & (a - 1)), SQZ_ERR_ARG,
                    "gguf writer: general.alignment must be a uint32 power of two");
        w->alignment = (size_t)a;
    }
    bytes b = {0};
    put_u32(&b, (uint32_t)v->type);
    encode_value(&b, v);
    SQZ_FAIL_IF(b.oom, SQZ_ERR_NOMEM, "gguf writer: out of memory for key '%s'", key);
    for (size_t i = 0; i < w->n_kv; i++) {
        if (!strcmp(w->kv[i].key, key)) {
            free(w->kv[i].val.p);
            w->kv[i].val = b;
            return SQZ_OK;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 32;
        wkv *kv = realloc(w->kv, cap * sizeof *kv);
        if (!kv) {
            free(b.p);
            return sqz_error(SQZ_ERR_NOMEM, "gguf writer: out of memory");
        }
        w->kv = kv;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(b.p);
        return sqz_error(SQZ_ERR_NOMEM, "gguf writer: out of memory");
    }
    w->kv[w->n_kv++] = (wkv){k, b};
    return SQZ_OK;
}

sqz_status sqz_gguf_writer_set_u32(sqz_gguf_writer *w, const char *key, uint32_t x) {
    sqz_gguf_value v = {.type = SQZ_GGUF_UINT32, .v.u64 = x};
    return sqz_gguf_writer_set_value(w, key, &v);
}
sqz_status sqz_gguf_writer_set_i32(sqz_gguf_writer *w, const char *key, int32_t x) {
    sqz_gguf_value v = {.type = SQZ_GGUF_INT32, .v.i64 = x};
    return sqz_gguf_writer_set_value(w, key, &v);
}
sqz_status sqz_gguf_writer_set_u64(sqz_gguf_writer *w, const char *key, uint64_t x) {
    sqz_gguf_value v = {.type = SQZ_GGUF_UINT64, .v.u64 = x};
    return sqz_gguf_writer_set_value(w, key, &v);
}
sqz_status sqz_gguf_writer_set_f32(sqz_gguf_writer *w, const char *key, float x) {
    sqz_gguf_value v = {.type = SQZ_GGUF_FLOAT32, .v.f64 = x};
    return sqz_gguf_writer_set_value(w, key, &v);
}
sqz_status sqz_gguf_writer_set_bool(sqz_gguf_writer *w, const char *key, bool x) {
    sqz_gguf_value v = {.type = SQZ_GGUF_BOOL, .v.b = x};
    return sqz_gguf_writer_set_value(w, key, &v);
}
sqz_status sqz_gguf_writer_set_str(sqz_gguf_writer *w, const char *key, const char *x) {
    sqz_gguf_value v = {.type = SQZ_GGUF_STRING, .v.str = {x, strlen(x)}};
    return sqz_gguf_writer_set_value(w, key, &v);
}
sqz_status sqz_gguf_writer_set_arr(sqz_gguf_writer *w, const char *key, sqz_gguf_vtype elem_type, const void *data,
                                   uint64_t n) {
    SQZ_FAIL_IF(!vtype_size(elem_type), SQZ_ERR_ARG, "gguf writer: key '%s': set_arr needs a scalar element type",
                key);
    sqz_gguf_value v = {.type = SQZ_GGUF_ARRAY};
    v.v.arr.elem_type = elem_type;
    v.v.arr.n = n;
    v.v.arr.raw = data;
    return sqz_gguf_writer_set_value(w, key, &v);
}
sqz_status sqz_gguf_writer_set_arr_str(sqz_gguf_writer *w, const char *key, const sqz_gguf_str *strs, uint64_t n) {
    sqz_gguf_value v = {.type = SQZ_GGUF_ARRAY};
    v.v.arr.elem_type = SQZ_GGUF_STRING;
    v.v.arr.n = n;
    v.v.arr.strs = strs;
    return sqz_gguf_writer_set_value(w, key, &v);
}

sqz_status sqz_gguf_writer_add_tensor(sqz_gguf_writer *w, const char *name, sqz_type type, int n_dims,
                                      const int64_t *shape, const void *data, size_t nbytes) {
    SQZ_FAIL_IF(sqz_gguf_type_from_sqz(type) < 0, SQZ_ERR_UNSUPPORTED,
                "gguf writer: tensor '%s': type %s has no GGUF equivalent", name, sqz_type_name(type));
    SQZ_FAIL_IF(n_dims < 1 || n_dims > SQZ_MAX_DIMS, SQZ_ERR_ARG, "gguf writer: tensor '%s': %d dimensions", name,
                n_dims);
    wtensor t = {.type = type, .n_dims = n_dims, .data = data, .nbytes = nbytes};
    memcpy(t.shape, shape, (size_t)n_dims * sizeof *shape);
    size_t want;
    SQZ_TRY_CTX(tensor_size(&(sqz_tensor){.name = name, .type = type, .n_dims = n_dims,
                                          .shape = {t.shape[0], t.shape[1], t.shape[2], t.shape[3]}},
                            &want),
                "gguf writer: ");
    SQZ_FAIL_IF(want != nbytes, SQZ_ERR_ARG, "gguf writer: tensor '%s': %zu bytes given, %s shape needs %zu", name,
                nbytes, sqz_type_name(type), want);
    for (size_t i = 0; i < w->n_t; i++)
        SQZ_FAIL_IF(!strcmp(w->t[i].name, name), SQZ_ERR_ARG, "gguf writer: duplicate tensor '%s'", name);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *nt = realloc(w->t, cap * sizeof *nt);
        SQZ_FAIL_IF(!nt, SQZ_ERR_NOMEM, "gguf writer: out of memory");
        w->t = nt;
        w->cap_t = cap;
    }
    t.name = strdup(name);
    SQZ_FAIL_IF(!t.name, SQZ_ERR_NOMEM, "gguf writer: out of memory");
    w->t[w->n_t++] = t;
    return SQZ_OK;
}

static size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

// Header, metadata and tensor infos, padded to the alignment.
static sqz_status writer_header(const sqz_gguf_writer *w, bytes *b) {
    put(b, "GGUF", 4);
    put_u32(b, 3);
    put_u64(b, w->n_t);
    put_u64(b, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(b, w->kv[i].key, strlen(w->kv[i].key));
        put(b, w->kv[i].val.p, w->kv[i].val.n);
    }
    size_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(b, t->name, strlen(t->name));
        put_u32(b, (uint32_t)t->n_dims);
        for (int d = t->n_dims - 1; d >= 0; d--)
            put_u64(b, (uint64_t)t->shape[d]);
        put_u32(b, (uint32_t)sqz_gguf_type_from_sqz(t->type));
        put_u64(b, off);
        off = align_up(off + t->nbytes, w->alignment);
    }
    static const uint8_t zeros[64];
    while (!b->oom && b->n % w->alignment)
        put(b, zeros, w->alignment - b->n % w->alignment < 64 ? w->alignment - b->n % w->alignment : 64);
    SQZ_FAIL_IF(b->oom, SQZ_ERR_NOMEM, "gguf writer: out of memory");
    return SQZ_OK;
}

static sqz_status write_all(FILE *f, const char *path, const void *p, size_t n) {
    SQZ_FAIL_IF(n && fwrite(p, 1, n, f) != n, SQZ_ERR_IO, "%s: write failed", path);
    return SQZ_OK;
}

// Header, then the tensors; a tensor added without data is produced by fill into one buffer that grows
// to the largest such tensor.
static sqz_status writer_body(const sqz_gguf_writer *w, FILE *f, const char *path, sqz_tensor_fill fill, void *user) {
    bytes hdr = {0};
    sqz_status st = writer_header(w, &hdr);
    if (st == SQZ_OK)
        st = write_all(f, path, hdr.p, hdr.n);
    free(hdr.p);
    static const uint8_t zeros[4096];
    void *buf = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < w->n_t && st == SQZ_OK; i++) {
        const wtensor *t = &w->t[i];
        const void *data = t->data;
        if (!data && t->nbytes) {
            if (!fill) {
                st = sqz_error(SQZ_ERR_ARG, "%s: tensor '%s' has no data", path, t->name);
                break;
            }
            if (t->nbytes > cap) {
                free(buf);
                cap = t->nbytes;
                if (!(buf = malloc(cap))) {
                    st = sqz_error(SQZ_ERR_NOMEM, "%s: out of memory for tensor '%s'", path, t->name);
                    break;
                }
            }
            st = fill(user, (int64_t)i, buf);
            data = buf;
        }
        if (st == SQZ_OK)
            st = write_all(f, path, data, t->nbytes);
        size_t pad = align_up(t->nbytes, w->alignment) - t->nbytes;
        while (st == SQZ_OK && pad) {
            size_t k = pad < sizeof zeros ? pad : sizeof zeros;
            st = write_all(f, path, zeros, k);
            pad -= k;
        }
    }
    free(buf);
    return st;
}

sqz_status sqz_gguf_writer_write(sqz_gguf_writer *w, const char *path) {
    return sqz_gguf_writer_write_fill(w, path, NULL, NULL);
}

sqz_status sqz_gguf_writer_write_fill(sqz_gguf_writer *w, const char *path, sqz_tensor_fill fill, void *user) {
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    SQZ_FAIL_IF(!tmp, SQZ_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        sqz_status st = sqz_error(SQZ_ERR_IO, "%s: cannot create", tmp);
        free(tmp);
        return st;
    }
    sqz_status st = writer_body(w, f, path, fill, user);
    if (fclose(f) != 0 && st == SQZ_OK)
        st = sqz_error(SQZ_ERR_IO, "%s: write failed", path);
    if (st == SQZ_OK && rename(tmp, path) != 0)
        st = sqz_error(SQZ_ERR_IO, "%s: cannot rename %s into place", path, tmp);
    if (st != SQZ_OK)
        unlink(tmp);
    free(tmp);
    return st;
}

// libFuzzer target for the GGUF reader: parse the input from memory, then walk every value
// (nested arrays included), every tensor's bytes, and the model-config reader on top.
#include <stdint.h>
#include <stdlib.h>

#include "format/format_internal.h"
#include "sqz/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t walk(const sqz_gguf_value *v, int depth) {
    uint64_t h = (uint64_t)v->type;
    if (v->type == SQZ_GGUF_STRING)
        return h + v->v.str.len + (v->v.str.len ? (uint8_t)v->v.str.ptr[v->v.str.len - 1] : 0);
    if (v->type != SQZ_GGUF_ARRAY)
        return h + v->v.u64;
    for (uint64_t i = 0; i < v->v.arr.n; i++) {
        if (v->v.arr.elem_type == SQZ_GGUF_ARRAY)
            h += walk(&v->v.arr.elems[i], depth + 1);
        else if (v->v.arr.elem_type == SQZ_GGUF_STRING)
            h += v->v.arr.strs[i].len;
        else
            h += (uint64_t)sqz_gguf_arr_i64(v, i) + (uint64_t)sqz_gguf_arr_f64(v, i);
    }
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sqz_gguf *g = NULL;
    if (sqz_gguf_open_mem(&g, data, size, "fuzz.gguf") != SQZ_OK)
        return 0;
    volatile uint64_t h = 0;
    for (int64_t i = 0; i < sqz_gguf_n_kv(g); i++) {
        h += walk(sqz_gguf_kv_value(g, i), 0);
        h += sqz_gguf_get(g, sqz_gguf_kv_key(g, i)) == sqz_gguf_kv_value(g, i);
    }
    for (int64_t i = 0; i < sqz_gguf_n_tensors(g); i++) {
        const sqz_tensor *t = sqz_gguf_tensor(g, i);
        if (t->nbytes)
            h += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
        h += sqz_gguf_find_tensor(g, t->name) == t;
    }
    sqz_model_config c;
    if (sqz_config_from_gguf(&c, g) == SQZ_OK)
        h += (uint64_t)c.n_embd;
    sqz_gguf_free(g);
    return 0;
}

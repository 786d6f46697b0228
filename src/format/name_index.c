// Name → index hash table shared by the GGUF and safetensors readers (tensor and key lookups).
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "format/format_internal.h"

static uint64_t hash_name(const char *s, size_t len) { // FNV-1a
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

sqz_status sqz_name_index_init(sqz_name_index *ix, size_t cap) {
    SQZ_FAIL_IF(cap >= UINT32_MAX / 4, SQZ_ERR_NOMEM, "name index: %zu names is too many", cap);
    size_t n = 16;
    while (n < 2 * cap) {
        n *= 2;
    }
    ix->slots = calloc(n, sizeof *ix->slots);
    ix->n_slots = ix->slots ? n : 0;
    SQZ_FAIL_IF(!ix->slots, SQZ_ERR_NOMEM, "name index: out of memory for %zu names", cap);
    return SQZ_OK;
}

void sqz_name_index_free(sqz_name_index *ix) {
    if (!ix)
        return;
    free(ix->slots);
    ix->slots = NULL;
    ix->n_slots = 0;
}

int64_t sqz_name_index_find(const sqz_name_index *ix, const char *const *names, const char *name, size_t len) {
    if (!ix->n_slots)
        return -1;
    size_t mask = ix->n_slots - 1;
    for (size_t s = hash_name(name, len) & mask;; s = (s + 1) & mask) {
        uint32_t v = ix->slots[s];
        if (!v)
            return -1;
        const char *cand = names[v - 1];
        if (strncmp(cand, name, len) == 0 && cand[len] == 0)
            return (int64_t)v - 1;
    }
}

void sqz_name_index_insert(sqz_name_index *ix, const char *const *names, int64_t i) {
    size_t mask = ix->n_slots - 1;
    size_t s = hash_name(names[i], strlen(names[i])) & mask;
    while (ix->slots[s])
        s = (s + 1) & mask;
    ix->slots[s] = (uint32_t)(i + 1);
}

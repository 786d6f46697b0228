// Internals shared by the format readers: a name → index hash table, open-from-memory entry points
// (used by the fuzz targets), and the ggml type-name table used in error messages.
#ifndef SQZ_FORMAT_INTERNAL_H
#define SQZ_FORMAT_INTERNAL_H

#include "sqz/format.h"

// Open-addressing hash index over an array of names (strings owned by the caller). Lookups are
// O(1) on average; building it rejects nothing (the caller checks for duplicates with find first).
typedef struct sqz_name_index {
    uint32_t *slots; // index + 1 of the name in the slot, 0 = empty; n_slots is a power of two
    size_t n_slots;
} sqz_name_index;

// Allocate a table for up to `cap` names. SQZ_ERR_NOMEM on failure.
sqz_status sqz_name_index_init(sqz_name_index *ix, size_t cap);
void sqz_name_index_free(sqz_name_index *ix);
// Find `name` (len bytes) among names[] already inserted; returns the index or -1.
int64_t sqz_name_index_find(const sqz_name_index *ix, const char *const *names, const char *name, size_t len);
// Insert names[i] (assumed absent).
void sqz_name_index_insert(sqz_name_index *ix, const char *const *names, int64_t i);

// Parse a GGUF held in memory (data must outlive the result; `name` is used in error messages).
sqz_status sqz_gguf_open_mem(sqz_gguf **out, const void *data, size_t size, const char *name);
// Parse one safetensors file held in memory (same contract).
sqz_status sqz_safetensors_open_mem(sqz_safetensors **out, const void *data, size_t size, const char *name);

// Name of a ggml type id as llama.cpp spells it ("q6_K"), or "?" for ids it does not know.
const char *sqz_ggml_type_name(int ggml_type);

#endif

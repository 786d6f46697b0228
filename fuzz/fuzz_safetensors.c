// libFuzzer target for the safetensors reader: parse one file from memory, then touch every
// tensor's first and last byte and look each one up by name.
#include <stdint.h>
#include <stdlib.h>

#include "format/format_internal.h"
#include "sqz/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sqz_safetensors *st = NULL;
    if (sqz_safetensors_open_mem(&st, data, size, "fuzz.safetensors") != SQZ_OK)
        return 0;
    volatile uint64_t h = 0;
    for (int64_t i = 0; i < sqz_safetensors_n_tensors(st); i++) {
        const sqz_tensor *t = sqz_safetensors_tensor(st, i);
        if (t->nbytes)
            h += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
        h += sqz_safetensors_find(st, t->name) == t;
        h += (uint64_t)sqz_tensor_nelements(t);
    }
    h += sqz_safetensors_meta(st, "format") != NULL;
    sqz_safetensors_free(st);
    return 0;
}

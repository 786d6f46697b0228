// Unmerged LoRA adapters at inference (lora.c): a PEFT adapter directory loaded next to a base model
// of any weight format; every targeted linear adds the F32 term y += B·(A·x), the scale
// lora_alpha/r (lora_alpha/√r with rsLoRA) folded into B when loading.
#ifndef SQZ_ENGINE_LORA_H
#define SQZ_ENGINE_LORA_H

#include "engine/internal.h"

// One linear's adapter: A [rank][n_in], B [n_out][rank] (scaled; rows in the engine's order, i.e.
// permuted like the base weight for GGUF Llama q/k). Owned by the model.
typedef struct sqz_lora {
    int64_t rank;
    const float *a, *b;
} sqz_lora;

// Load the PEFT adapter directory `dir` (adapter_config.json + adapter_model.safetensors) onto the
// model's linears. Errors name the file and tensor: not a LoRA config, a rank different from
// config's r, a module the engine has no linear for, a lora_A without its lora_B (or the reverse),
// shapes that do not fit the base linear.
sqz_status sqz_lora_load(sqz_model *m, const char *dir);

// y[n][n_out] += B·(A·x[t]) for every token when the linear has an adapter (no-op otherwise).
void sqz_lora_apply(const sqz_linear *l, const float *x, float *y, int64_t n);

#endif

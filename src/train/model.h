// The training model: one contiguous parameter buffer carved by a table (llm.c style), a gradient
// buffer and AdamW moments for the trainable part, and the activations of one micro-batch.
//
// Activation policy: everything the backward needs is KEPT from the forward, per layer (residual
// input, norm outputs and statistics, q/k/v after RoPE, attention probabilities, attention output,
// MLP pre-activations), and activation gradients reuse one layer-sized set of buffers. Per layer and
// token that is about 6·E + Q + 2·KV + 3·F floats plus H·Tn attention probabilities; the logits
// buffer [N][V] doubles as its own gradient. SmolLM2-135M at B·Tn = 4·256 needs about 1.5 GB of
// activations, plus 4 × 0.54 GB for weights, gradients and the two AdamW moments (see
// docs/training.md).
//
// Parameters use Hugging Face names and layouts (RoPE rotating halves; GPT-2's Conv1D weights are
// transposed to [out][in] on load and back on save; c_attn is split into q/k/v slots). GGUF inputs
// are converted to an F32 HF directory first (sqz_convert_gguf_to_hf).
//
// The model is built over float (training) or double (the gradient-check harness): `f64` selects
// the element type of params, grads and activations; model_tmpl.h holds forward/backward once.
#ifndef SQZ_TRAIN_MODEL_H
#define SQZ_TRAIN_MODEL_H

#include <stdbool.h>

#include "sqz/format.h"
#include "sqz/train.h"

// Per-layer parameter slots. Llama: WG/WU/WD = gate/up/down. GPT-2: WU/BU = c_fc, WD/BD = mlp.c_proj.
enum {
    S_LN1W,
    S_LN1B,
    S_WQ,
    S_BQ,
    S_WK,
    S_BK,
    S_WV,
    S_BV,
    S_WO,
    S_BO,
    S_LN2W,
    S_LN2B,
    S_WG,
    S_WU,
    S_BU,
    S_WD,
    S_BD,
    N_SLOTS
};
enum { G_WTE, G_WPE, G_LNFW, G_LNFB, G_HEAD, N_GLOBALS };
#define TR_NONE ((size_t)-1)

typedef struct tr_param {
    char name[112]; // HF name
    int n_dims;
    int64_t shape[2]; // [out][in] for matrices
    size_t off, n;    // element offset in params, element count
} tr_param;

// A LoRA adapter on one linear slot of one layer: y += scale · (x·A^T)·B^T.
// GPT-2's fused c_attn (slot S_WQ, `fused`): one A [rank][E] and B [3E][rank] over q|k|v; the S_WK and
// S_WV slots map to the same adapter and use rows E..2E / 2E..3E of B (x·A^T is computed once, at S_WQ).
typedef struct tr_lora {
    int layer, slot, rank;
    bool fused;
    size_t a, b; // element offsets of A[rank][in] and B[out][rank] in params
} tr_lora;

typedef struct tr_acts { // one layer's kept activations (element type per model), see policy above
    void *res, *ln1, *ln1_m, *ln1_r, *q, *k, *v, *att, *atty, *res2, *ln2, *ln2_m, *ln2_r, *g, *u, *h;
    void *xa[N_SLOTS]; // LoRA x·A^T [N][rank] per adapted slot
} tr_acts;

typedef struct tr_model {
    sqz_model_config cfg;
    bool f64;
    size_t esz; // sizeof element
    tr_param *tab;
    int n_tab, cap_tab;
    bool oom;                  // a table allocation failed
    size_t slot[256][N_SLOTS]; // param table index per layer/slot, TR_NONE if absent
    size_t glob[N_GLOBALS];
    size_t n_params; // elements in params
    void *params;
    size_t train_off; // params[train_off..n_params) are trainable; grads/m/v cover them
    void *grads;
    float *adam_m, *adam_v;
    tr_lora *lora;
    int n_lora;
    double lora_scale;
    int lora_lslot[256][N_SLOTS]; // index into lora[] or -1
    // micro-batch state
    int B, Tn;
    void *act_mem;
    tr_acts *acts; // n_layer entries
    void *res_out, *lnf, *lnf_m, *lnf_r, *logits;
    void *d_res, *d_ln, *d_q, *d_k, *d_v, *d_atty, *d_g, *d_u, *d_h, *d_xa, *scratch;
    int32_t *tokens;
    double *rope_cs; // [Tn][hd/2][2]
} tr_model;

sqz_status tr_model_new(tr_model **out, const sqz_model_config *cfg, bool f64);
void tr_model_free(tr_model *m);
// Copy weights from an opened HF-layout model file (any float dtype, converted). Missing tied head ok.
sqz_status tr_model_load_weights(tr_model *m, const sqz_model_file *mf);
// Allocate grads (+ AdamW moments when `adam`) for params[train_off..).
sqz_status tr_model_alloc_train(tr_model *m, bool adam);
// Allocate activations for micro-batches of B sequences of Tn tokens (Tn <= n_ctx_train).
sqz_status tr_model_set_batch(tr_model *m, int B, int Tn);
// Add LoRA adapters of rank r on the given slots of every layer (A ~ U(±1/sqrt(in)), B = 0, as
// PEFT's default init), placed after the base weights; sets train_off to make them the only
// trainable tensors. Call before tr_model_alloc_train.
sqz_status tr_model_add_lora(tr_model *m, const int *slots, int n_slots, int rank, double alpha,
                             uint64_t seed);
// Random init for pretraining (N(0, 0.02), norms 1, biases 0), deterministic from seed.
void tr_model_init_random(tr_model *m, uint64_t seed);

// Forward one micro-batch: tokens[B·Tn], targets[B·Tn] (−1 = ignore). With teacher_logits
// ([B·Tn][V], same element type) the loss is the distillation loss (tau, alpha), else cross-entropy.
// Returns the loss SUM over counted rows in *loss and the count in *n_rows. With grad_scale != 0
// the logits buffer receives grad_scale·dloss/dlogits, ready for tr_model_backward.
// *kl (may be NULL) receives Σ KL(teacher ‖ student) at temperature tau.
void tr_model_forward(tr_model *m, const int32_t *tokens, const int32_t *targets, const void *teacher_logits,
                      double tau, double alpha, double grad_scale, double *loss, int64_t *n_rows, double *kl);
// Backward from the logits gradient left by tr_model_forward; ACCUMULATES into grads.
void tr_model_backward(tr_model *m);
void tr_model_zero_grads(tr_model *m);
size_t tr_model_n_trainable(const tr_model *m);

// Save params (without LoRA tensors) as an HF directory: config.json from `config_json` (layer count,
// vocab size and dtype patched to this model), model.safetensors (F32), tokenizer files copied from
// src_dir when present.
sqz_status tr_model_save_hf(const tr_model *m, const char *config_json, const char *src_dir,
                            const char *out_dir);

const char *tr_slot_name(int arch_gpt2, int slot); // e.g. "self_attn.q_proj" (NULL if no HF name)

#endif

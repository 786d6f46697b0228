// Training engine: F32 forward + backward of Llama and GPT-2 models, AdamW, pretraining, LoRA
// adapters and knowledge distillation. See docs/training.md for the activation-memory policy, the
// data split and the file layouts.
#ifndef SQZ_TRAIN_H
#define SQZ_TRAIN_H

#include "sqz/common.h"
#include "sqz/format.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sqz_train_mode {
    SQZ_TRAIN_PRETRAIN = 0, // from scratch: `model` is an HF config.json (or a directory holding one)
    SQZ_TRAIN_LORA = 1,     // frozen base `model` + trainable F32 adapters
    SQZ_TRAIN_DISTILL = 2,  // `model` is the teacher; the student keeps the blocks listed in `student`
} sqz_train_mode;

typedef struct sqz_train_progress {
    int64_t step, steps;  // step just finished (1-based), total
    double loss;          // mean training loss of this step
    double kl;            // distill: mean KL(teacher ‖ student) at temperature tau, else 0
    double lr, grad_norm; // learning rate used, gradient norm before clipping
    double tokens_per_s, eta_s;
    double eval_loss; // held-out mean cross-entropy when evaluated at this step, else NAN
    double eval_kl;   // distill: held-out KL when evaluated, else NAN
} sqz_train_progress;

typedef struct sqz_train_opts {
    sqz_train_mode mode;
    const char *model;      // see sqz_train_mode; HF directory or .gguf (converted to F32 HF first)
    const char *init;       // pretrain: start from these weights (HF dir or .gguf) instead of random
    const char *student;    // distill: teacher blocks "0,2,4" / "every2", or an HF config.json of a
                            // narrower student, "student.json[:0,2,4]" (src/train/student.c)
    const char *corpus;     // tar of text files or one text file
    const char *tokenizer;  // path, or "bytes"; NULL = the model's own tokenizer (pretrain: "bytes")
    size_t corpus_bytes;    // read at most this much file content (0 = all)
    const char *out_dir;    // created if missing
    int64_t steps;          // optimizer steps; if 0, derived from `tokens`
    int64_t tokens;         // token budget (used when steps == 0)
    double lr, min_lr_frac; // peak learning rate; cosine decays to lr·min_lr_frac
    int64_t warmup;         // linear warmup steps
    int batch, seq, accum;  // micro-batch B×seq, gradient accumulation micro-batches per step
    uint64_t seed;
    int threads;         // OpenBLAS threads for the GEMMs (0 = its default); other ops run on one
    double weight_decay; // AdamW, decoupled, on matrices only (not norms, biases)
    double beta1, beta2, eps;
    double clip; // global gradient-norm clip (0 = off)
    int lora_rank;
    double lora_alpha;
    const char *lora_targets; // comma list: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj;
                              // GPT-2: c_attn, c_proj (attn and mlp), attn.c_proj, mlp.c_proj, c_fc
    bool merge;               // LoRA: also write the merged model to out_dir/merged/
    double tau, alpha;        // distill temperature and KL weight (1 − alpha on cross-entropy)
    int64_t eval_every;       // held-out evaluation every N steps (0 = only at the end)
    int eval_batches;
    int64_t ckpt_every; // write out_dir/checkpoint.bin every N steps (0 = only at the end)
    int64_t stop_after; // stop (after checkpointing) once this step is done; 0 = run to the end
    bool resume;        // continue from out_dir/checkpoint.bin
    void (*progress)(const sqz_train_progress *p, void *user);
    void *user;
} sqz_train_opts;

// Defaults: lr 3e-4 (LoRA 1e-3 / distill 1e-4 are chosen by callers), min_lr_frac 0.1, warmup 0,
// batch 4, seq 128, accum 1, weight_decay 0.01, betas 0.9/0.999, eps 1e-8, clip 1.0, rank 8,
// alpha 16, targets q_proj,v_proj, tau 2, alpha 0.5, eval_batches 4.
void sqz_train_opts_default(sqz_train_opts *o);

typedef struct sqz_train_result {
    int64_t steps, tokens;
    double first_loss, last_loss;             // mean training loss of the first and last step
    double eval_loss_before, eval_loss_after; // held-out cross-entropy before training and at the end
    double eval_kl_before, eval_kl_after;     // distill only (NAN otherwise)
    double seconds, tokens_per_s, gflops;     // training throughput; FLOPs: 6 per trainable and 4 per frozen
                                              // matrix weight per token, plus attention (docs/training.md)
    int64_t n_trainable;
} sqz_train_result;

// Run a training job. Writes into out_dir: pretrain / distill: an HF directory (config.json,
// model.safetensors, tokenizer files when the source has them) and, for distill, model.gguf
// (F32, loadable by the engine); LoRA: adapter_config.json + adapter_model.safetensors (PEFT layout)
// and with merge, merged/ (HF directory; merged.gguf re-quantized to the base's type when the base
// was a quantized GGUF). Always checkpoint.bin (trainable params + AdamW state + step) for exact
// resumption with `resume`. Errors: bad options, unreadable model/corpus/tokenizer, I/O; the message
// names the file or option.
sqz_status sqz_train_run(const sqz_train_opts *o, sqz_train_result *res);

// Merge a PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors, written by
// sqz or by PEFT; Llama-family bases) into `base` (HF directory or GGUF of any type, dequantized) and
// write the merged model as an F32 HF directory to out_dir; for a quantized GGUF base also
// out_dir/model.gguf re-quantized to the base's type (merge, then re-quantize: a new rounding error).
// Errors: malformed adapter config, adapter tensors that name no base weight or do not fit it.
sqz_status sqz_train_lora_merge(const char *base, const char *adapter_dir, const char *out_dir);

#ifdef __cplusplus
}
#endif
#endif

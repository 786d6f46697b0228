// Quantization of linear-layer weight matrices, and the recipe language that names compression
// steps. Everything here works on plain row-major matrices W [n_out][n_in] (n_in contiguous) and
// on activation statistics accumulated from calibration rows X [n][n_in]; the compress pipeline
// walks a model's linear layers and calls these. Exact definitions of every method: docs/quant.md.
#ifndef SQZ_QUANT_H
#define SQZ_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sqz/common.h"
#include "sqz/types.h"

#ifdef __cplusplus
extern "C" {
#endif

// ================================ recipes ========================================================
// A recipe is `step (+ step)*`, a step is `name[:key=value(,key=value)*]`, e.g.
//   "gptq:bits=4,group=128,act_order=1,damp=0.01 + cast:bf16"
// Every step kind is a row of a table (name, keys with type/range/default); unknown names, keys
// and bad values are errors naming the step, the key and the value. Every step has `skip=`, a
// ';'-separated list of glob patterns of tensor names the step leaves alone (default: embeddings
// and lm_head in HF and GGUF naming).

typedef enum sqz_step_kind {
    SQZ_STEP_CAST = 0, // cast:to=f16|bf16
    SQZ_STEP_RTN,      // rtn:bits,group,sym
    SQZ_STEP_GPTQ,     // gptq:bits,group,act_order,damp,static_groups,sym,block
    SQZ_STEP_AWQ,      // awq:bits,group,sym,clip,grid
    SQZ_STEP_Q8_0,     // llama.cpp block types, optional imatrix=0|1
    SQZ_STEP_Q4_0,
    SQZ_STEP_Q4_1,
    SQZ_STEP_MAGNITUDE, // pruning steps: see include/sqz/prune.h and docs/prune.md
    SQZ_STEP_WANDA,
    SQZ_STEP_SPARSEGPT,
    SQZ_STEP_HEADS,
    SQZ_STEP_MLP,
    SQZ_STEP_LAYERS,
    SQZ_STEP_LOWRANK,
    SQZ_STEP_KIND_COUNT
} sqz_step_kind;

#define SQZ_STEP_MAX_PARAMS 12

// One parsed step. Values of every key of the step's table row are filled (given or default), in
// table order; read them with sqz_step_int/num/str.
typedef struct sqz_recipe_step {
    sqz_step_kind kind;
    const char *name;                       // static table name ("gptq")
    int n_params;
    double num[SQZ_STEP_MAX_PARAMS];        // numeric value (integer, bool, float keys)
    char *str[SQZ_STEP_MAX_PARAMS];         // owned text value (enum and list keys), else NULL
    bool given[SQZ_STEP_MAX_PARAMS];        // written in the recipe (vs default)
} sqz_recipe_step;

typedef struct sqz_recipe {
    int n_steps;
    sqz_recipe_step *steps;
} sqz_recipe;

// Parse a recipe. On success *out owns a new recipe (free with sqz_recipe_free). On error returns
// SQZ_ERR_ARG with a message such as
//   "recipe 'gptq:bits=5x': bits: expected an integer in 2..8, got '5x'".
sqz_status sqz_recipe_parse(const char *text, sqz_recipe **out);
void sqz_recipe_free(sqz_recipe *r);

// Canonical form: every key of every step written explicitly in table order (skip only when not
// the default), steps joined by " + ". Two recipes that mean the same thing print the same. The
// caller frees the string. NULL on out-of-memory.
char *sqz_recipe_str(const sqz_recipe *r);

// Value of `key` in a step (the default when not given). A key the step does not have is a
// programming error: the num/int accessors return 0 and str returns NULL.
double sqz_step_num(const sqz_recipe_step *s, const char *key);
int sqz_step_int(const sqz_recipe_step *s, const char *key);
const char *sqz_step_str(const sqz_recipe_step *s, const char *key);

// Whether the step leaves tensor `name` alone (its skip= list matches the name; fnmatch globs).
bool sqz_step_skips(const sqz_recipe_step *s, const char *name);

// Whether the step needs calibration statistics (gptq, awq, block types with imatrix=1).
bool sqz_step_needs_calib(const sqz_recipe_step *s);

// ================================ activation statistics ==========================================
// Statistics of the inputs of one linear layer, accumulated from calibration rows: the Gram
// matrix Σ x xᵀ (GPTQ's Hessian is 2/n of it; AWQ's losses use it), Σ|x| per column (AWQ's
// activation scale) and Σ x² per column (llama.cpp's imatrix). Layers sharing one input (q/k/v,
// gate/up) share one accumulator.
typedef struct sqz_actstats {
    int64_t n_in;
    int64_t n_rows;   // rows accumulated so far
    float *gram;      // [n_in][n_in] Σ x xᵀ; only the upper triangle (j >= i) is maintained
    double *abs_sum;  // [n_in] Σ |x_i|
    double *sq_sum;   // [n_in] Σ x_i²
} sqz_actstats;

sqz_status sqz_actstats_new(int64_t n_in, sqz_actstats **out);
void sqz_actstats_free(sqz_actstats *s);
// Add n rows of activations X [n][n_in] (row-major). Uses BLAS ssyrk for the Gram matrix.
sqz_status sqz_actstats_add(sqz_actstats *s, const float *x, int64_t n);
// The importance vector of llama.cpp's imatrix: mean x_i² per column, into out[n_in].
sqz_status sqz_actstats_imatrix(const sqz_actstats *s, float *out);

// ================================ integer weights (RTN, GPTQ, AWQ) ===============================
// A weight quantized to `bits`-bit integer codes with a scale and zero point per (group, output
// row): W[o][i] ≈ scales[g][o] · (codes[o][i] − zeros[g][o]) with g = g_idx[i]; for AWQ the
// weight is that times 1/in_scales[i] (see sqz_quant_awq).
typedef struct sqz_qweight {
    int64_t n_out, n_in;
    int bits;         // 2..8
    int group;        // input columns per group (n_in when per-channel)
    int64_t n_groups; // n_in / group
    bool sym;
    uint8_t *codes;   // [n_out][n_in], 0 .. 2^bits−1
    float *scales;    // [n_groups][n_out]
    int32_t *zeros;   // [n_groups][n_out], 0 .. 2^bits−1
    int32_t *g_idx;   // [n_in] group of each input column (not monotone under GPTQ act-order)
    float *in_scales; // AWQ: [n_in] per-input-channel scales s; NULL for RTN/GPTQ
    double loss;      // method error: GPTQ Σ (w−q)²/(2 d²) as the reference reports; AWQ best grid
                      // loss; RTN 0
} sqz_qweight;

void sqz_qweight_free(sqz_qweight *q);
// Dequantize into out[n_out][n_in] (including the 1/in_scales factor of AWQ).
void sqz_qweight_dequant(const sqz_qweight *q, float *out);

typedef struct sqz_qparams {
    int bits;   // 2..8
    int group;  // 0 = per output channel, else columns per group (must divide n_in)
    bool sym;   // symmetric (zero = 2^(bits−1)) or asymmetric
} sqz_qparams;

// Round-to-nearest with AutoGPTQ's quantizer: per (row, group) range [min(x,0), max(x,0)];
// asymmetric: scale = (max−min)/(2^b−1), zero = round(−min/scale); symmetric: max = max(|min|,
// max), min = −max, zero = 2^(b−1). codes = clamp(round(w/scale) + zero, 0, 2^b−1), round half to
// even. W is [n_out][n_in]. On success *out is new (free with sqz_qweight_free).
sqz_status sqz_quant_rtn(const float *w, int64_t n_out, int64_t n_in, sqz_qparams p, sqz_qweight **out);

typedef struct sqz_gptq_params {
    sqz_qparams q;
    bool act_order;     // process columns by descending Hessian diagonal
    bool static_groups; // group parameters fixed up front from the unmodified W (needs group > 0)
    double damp;        // damping fraction of mean(diag H), e.g. 0.01
    int block;          // lazy-update block width (128)
} sqz_gptq_params;

// GPTQ (Frantar et al. 2022) as IST-DASLab's gptq.py `fasterquant` / AutoGPTQ: H = 2/n Σ xxᵀ from
// `stats`, dead columns (H_ii = 0) zeroed, damping, optional act-order, Cholesky of H⁻¹ (upper),
// lazy block updates, group parameters at group boundaries. Errors: shapes that do not match the
// statistics, group not dividing n_in, no calibration rows, H not positive definite after damping.
sqz_status sqz_quant_gptq(const float *w, int64_t n_out, int64_t n_in, const sqz_actstats *stats,
                          sqz_gptq_params p, sqz_qweight **out);

typedef struct sqz_awq_params {
    sqz_qparams q; // AWQ defaults: asymmetric (llm-awq zero_point=True)
    bool clip;     // llm-awq auto_clip search of the per-group max range
    int grid;      // grid steps of α in [0, 1) (20)
} sqz_awq_params;

// AWQ (Lin et al. 2023) as llm-awq's auto_scale/auto_clip on one matrix: per-input-channel scales
// s = mean|x|^α (normalised by sqrt(max·min)), α chosen on a grid to minimise
// ||X Wᵀ − X (Q(W·diag(s))·diag(s)⁻¹)ᵀ||², then optional clip search, then llm-awq's
// pseudo-quantizer of W·diag(s). The result quantizes W·diag(s); in_scales holds s. To use it
// exactly as AWQ does, fold 1/s into whatever produces this layer's input (RMSNorm weight, the
// previous linear); sqz_qweight_dequant applies 1/s itself. Stack layers that share an input
// (q/k/v) along n_out to search one s for all of them.
sqz_status sqz_quant_awq(const float *w, int64_t n_out, int64_t n_in, const sqz_actstats *stats,
                         sqz_awq_params p, sqz_qweight **out);

// ================================ llama.cpp block types ==========================================
// Quantize W [n_out][n_in] row by row into llama.cpp blocks of `type` (Q8_0, Q4_0, Q4_1; n_in a
// multiple of 32) at dst (n_out · sqz_type_row_size(type, n_in) bytes). importance == NULL gives
// the reference codecs bit for bit; with importance[n_in] (mean x² per column, see
// sqz_actstats_imatrix) each block's scale (and min) minimises Σ w_i (x_i − x̂_i)², with
// llama.cpp's weights w_i = imp_i · sqrt(σ² + x_i²) (Q4_0/Q4_1 bit-exact with llama.cpp's imatrix
// path; Q8_0, which llama.cpp quantizes plainly, uses the same search — see docs/quant.md).
sqz_status sqz_quant_blocks(sqz_type type, const float *w, int64_t n_out, int64_t n_in,
                            const float *importance, void *dst);

// ================================ one step on one layer ==========================================
// The result of applying one quantization step to a weight matrix: either an integer weight (rtn,
// gptq, awq) or a buffer of a storage type (cast → F16/BF16, q8_0/q4_0/q4_1 → blocks).
typedef struct sqz_quant_out {
    sqz_qweight *qw;  // rtn/gptq/awq, else NULL
    sqz_type type;    // type of data (when qw == NULL)
    void *data;       // n_out · row_size(type, n_in) bytes (when qw == NULL)
    size_t nbytes;
} sqz_quant_out;

// Apply a quantization step to W [n_out][n_in]. `stats` may be NULL for steps that need no
// calibration; a step that needs it and gets NULL fails with SQZ_ERR_ARG naming the step.
// Free the result with sqz_quant_out_clear.
sqz_status sqz_quant_layer(const sqz_recipe_step *step, const float *w, int64_t n_out, int64_t n_in,
                           const sqz_actstats *stats, sqz_quant_out *out);
void sqz_quant_out_clear(sqz_quant_out *o);

// ================================ GPTQ storage layout (AutoGPTQ / GPTQModel) =====================
// checkpoint_format "gptq" (v1) stores zero−1 in qzeros (readers add 1 back); "gptq_v2"
// (GPTQModel) stores zero as is. A zero point of 0 cannot be written in v1.
typedef enum sqz_gptq_format { SQZ_GPTQ_V1 = 1, SQZ_GPTQ_V2 = 2 } sqz_gptq_format;

// The tensors of one GPTQ linear layer [out][in] (all little-endian, as in safetensors):
//   qweight int32 [in·bits/32][out]  codes of column-block along `in`, LSB-first bit stream
//   qzeros  int32 [n_groups][out·bits/32]  zeros (v1: zero−1) along `out`, same bit stream
//   scales  fp16  [n_groups][out]
//   g_idx   int32 [in]
// For bits 2/4/8 a word holds 32/bits values, value k in bits [k·bits, (k+1)·bits); 3-bit packs 32
// values in 3 words as one continuous LSB-first stream (AutoGPTQ's layout, values straddle words).
typedef struct sqz_gptq_tensors {
    int64_t n_out, n_in, n_groups;
    int bits, group;
    int32_t *qweight, *qzeros, *g_idx;
    uint16_t *scales;
} sqz_gptq_tensors;

// Pack a quantized weight. Errors: bits not in {2,3,4,8}, in·bits or out·bits not a multiple of 32,
// a zero point of 0 with SQZ_GPTQ_V1. Scales are rounded to fp16.
sqz_status sqz_gptq_pack(const sqz_qweight *q, sqz_gptq_format fmt, sqz_gptq_tensors **out);
// Unpack into a new qweight (codes, fp16-rounded scales, zeros, g_idx; group from the tensors).
sqz_status sqz_gptq_unpack(const sqz_gptq_tensors *t, sqz_gptq_format fmt, sqz_qweight **out);
void sqz_gptq_tensors_free(sqz_gptq_tensors *t);

// The `quantization_config` object for config.json of a model quantized with `step` (gptq or awq,
// stored in the GPTQ layout), as a JSON string the caller frees: quant_method, bits, group_size
// (−1 per channel), desc_act, sym, damp_percent, static_groups, true_sequential,
// checkpoint_format, ... NULL with an error set for steps that have none.
char *sqz_gptq_config_json(const sqz_recipe_step *step, sqz_gptq_format fmt);

#ifdef __cplusplus
}
#endif
#endif

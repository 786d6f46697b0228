// Model file formats: GGUF v3, safetensors (single and sharded), HF config.json, and the
// "model file" that opens whichever of them a user points at. All readers memory-map the file;
// tensor data pointers point into the mapping and stay valid until the reader is freed.
#ifndef SQZ_FORMAT_H
#define SQZ_FORMAT_H

#include "sqz/common.h"
#include "sqz/types.h"

#ifdef __cplusplus
extern "C" {
#endif

// ================================ GGUF v3 ========================================================
// Metadata value types, numbered as in the GGUF spec.
typedef enum sqz_gguf_vtype {
    SQZ_GGUF_UINT8 = 0,
    SQZ_GGUF_INT8 = 1,
    SQZ_GGUF_UINT16 = 2,
    SQZ_GGUF_INT16 = 3,
    SQZ_GGUF_UINT32 = 4,
    SQZ_GGUF_INT32 = 5,
    SQZ_GGUF_FLOAT32 = 6,
    SQZ_GGUF_BOOL = 7,
    SQZ_GGUF_STRING = 8,
    SQZ_GGUF_ARRAY = 9,
    SQZ_GGUF_UINT64 = 10,
    SQZ_GGUF_INT64 = 11,
    SQZ_GGUF_FLOAT64 = 12,
} sqz_gguf_vtype;

// A string inside the mapping: not NUL-terminated.
typedef struct sqz_gguf_str {
    const char *ptr;
    uint64_t len;
} sqz_gguf_str;

typedef struct sqz_gguf_value sqz_gguf_value;
struct sqz_gguf_value {
    sqz_gguf_vtype type;
    union {
        uint64_t u64;     // UINT8/16/32/64 widened
        int64_t i64;      // INT8/16/32/64 widened
        double f64;       // FLOAT32/64 widened
        bool b;
        sqz_gguf_str str;
        struct {
            sqz_gguf_vtype elem_type;
            uint64_t n;
            const void *raw;             // scalar elements: packed little-endian in the mapping
            const sqz_gguf_str *strs;    // STRING elements (n of them)
            const sqz_gguf_value *elems; // ARRAY elements (nested arrays, n of them)
        } arr;
    } v;
};

typedef struct sqz_gguf sqz_gguf; // an opened GGUF file (opaque)

// Open and validate a GGUF file (v2 or v3): magic, version, counts, every key/value (including
// nested arrays), tensor infos (type, dims, offsets aligned and inside the file, no overlaps).
// Errors name the path and the offending key or tensor.
sqz_status sqz_gguf_open(sqz_gguf **out, const char *path);
void sqz_gguf_free(sqz_gguf *g);

const char *sqz_gguf_path(const sqz_gguf *g);
uint32_t sqz_gguf_version(const sqz_gguf *g);
size_t sqz_gguf_alignment(const sqz_gguf *g);
size_t sqz_gguf_data_offset(const sqz_gguf *g); // start of the tensor data section

int64_t sqz_gguf_n_kv(const sqz_gguf *g);
const char *sqz_gguf_kv_key(const sqz_gguf *g, int64_t i); // NUL-terminated copy
const sqz_gguf_value *sqz_gguf_kv_value(const sqz_gguf *g, int64_t i);
const sqz_gguf_value *sqz_gguf_get(const sqz_gguf *g, const char *key); // NULL if absent

// Typed getters: convert any integer/float type; SQZ_ERR_NOT_FOUND if absent (message names the
// key), SQZ_ERR_FORMAT if the type does not fit. The _or variants return a default when absent.
sqz_status sqz_gguf_get_i64(const sqz_gguf *g, const char *key, int64_t *out);
sqz_status sqz_gguf_get_f64(const sqz_gguf *g, const char *key, double *out);
sqz_status sqz_gguf_get_str(const sqz_gguf *g, const char *key, sqz_gguf_str *out);
int64_t sqz_gguf_get_i64_or(const sqz_gguf *g, const char *key, int64_t def);
double sqz_gguf_get_f64_or(const sqz_gguf *g, const char *key, double def);
// Element i of a scalar array value, widened (no bounds check beyond i < arr.n, which callers ensure).
int64_t sqz_gguf_arr_i64(const sqz_gguf_value *arr, uint64_t i);
double sqz_gguf_arr_f64(const sqz_gguf_value *arr, uint64_t i);

int64_t sqz_gguf_n_tensors(const sqz_gguf *g);
const sqz_tensor *sqz_gguf_tensor(const sqz_gguf *g, int64_t i);
const sqz_tensor *sqz_gguf_find_tensor(const sqz_gguf *g, const char *name); // NULL if absent

// Map between sqz types and ggml_type ids; -1 / SQZ_TYPE_COUNT when there is no equivalent.
int sqz_gguf_type_from_sqz(sqz_type t);
sqz_type sqz_gguf_type_to_sqz(int ggml_type);

// ---- writer ----
// Producer of a tensor's bytes for the writers below (GGUF and safetensors): write the nbytes of tensor
// i into buf. Lets a writer stream a model that is never whole in memory.
typedef sqz_status (*sqz_tensor_fill)(void *user, int64_t i, void *buf);

typedef struct sqz_gguf_writer sqz_gguf_writer;

sqz_status sqz_gguf_writer_new(sqz_gguf_writer **out);
void sqz_gguf_writer_free(sqz_gguf_writer *w);
// Set a key (replacing an earlier value of the same key). Values are copied.
sqz_status sqz_gguf_writer_set_u32(sqz_gguf_writer *w, const char *key, uint32_t v);
sqz_status sqz_gguf_writer_set_i32(sqz_gguf_writer *w, const char *key, int32_t v);
sqz_status sqz_gguf_writer_set_u64(sqz_gguf_writer *w, const char *key, uint64_t v);
sqz_status sqz_gguf_writer_set_f32(sqz_gguf_writer *w, const char *key, float v);
sqz_status sqz_gguf_writer_set_bool(sqz_gguf_writer *w, const char *key, bool v);
sqz_status sqz_gguf_writer_set_str(sqz_gguf_writer *w, const char *key, const char *v);
// Array of scalars (elem_type not STRING/ARRAY): n elements packed little-endian at data.
sqz_status sqz_gguf_writer_set_arr(sqz_gguf_writer *w, const char *key, sqz_gguf_vtype elem_type,
                                   const void *data, uint64_t n);
sqz_status sqz_gguf_writer_set_arr_str(sqz_gguf_writer *w, const char *key, const sqz_gguf_str *strs,
                                       uint64_t n);
// Any value as read by the reader (including nested arrays): copies a key from one file to another.
sqz_status sqz_gguf_writer_set_value(sqz_gguf_writer *w, const char *key, const sqz_gguf_value *v);
// Add a tensor; shape is outermost-first like sqz_tensor. data is NOT copied: it must stay valid
// until sqz_gguf_writer_write returns. nbytes must equal sqz_type_row_size(type, nelements). data may be
// NULL when the file is written with sqz_gguf_writer_write_fill (the tensor is produced then).
sqz_status sqz_gguf_writer_add_tensor(sqz_gguf_writer *w, const char *name, sqz_type type, int n_dims,
                                      const int64_t *shape, const void *data, size_t nbytes);
// Write a GGUF v3 file (general.alignment honoured, default 32) atomically: temp file + rename.
sqz_status sqz_gguf_writer_write(sqz_gguf_writer *w, const char *path);
// The same, producing each tensor added without data by fill(user, i, buf) (i: the order of
// sqz_gguf_writer_add_tensor calls) into one reused buffer.
sqz_status sqz_gguf_writer_write_fill(sqz_gguf_writer *w, const char *path, sqz_tensor_fill fill, void *user);

// ================================ safetensors ====================================================
typedef struct sqz_safetensors sqz_safetensors; // one file, or all shards of a sharded model

// Open `path`: a .safetensors file, a model.safetensors.index.json (all its shards), or a directory
// holding model.safetensors or model.safetensors.index.json. Validates the 8-byte header length,
// header JSON (line/column on syntax errors; duplicate keys rejected), dtypes, shapes, offsets inside
// the data section, byte counts = product(shape) * dtype size, and no overlapping tensors.
sqz_status sqz_safetensors_open(sqz_safetensors **out, const char *path);
void sqz_safetensors_free(sqz_safetensors *st);

int64_t sqz_safetensors_n_tensors(const sqz_safetensors *st);
const sqz_tensor *sqz_safetensors_tensor(const sqz_safetensors *st, int64_t i);
const sqz_tensor *sqz_safetensors_find(const sqz_safetensors *st, const char *name);
// __metadata__ entry of the (first) file, or NULL.
const char *sqz_safetensors_meta(const sqz_safetensors *st, const char *key);

// Write one safetensors file with the given tensors (in the given order, data copied from each
// tensor's data pointer) and optional __metadata__ pairs (meta[2i] = key, meta[2i+1] = value).
// Written atomically (temp file + rename). Types: F32/F16/BF16/I8/U8/I16/I32/I64/F64.
sqz_status sqz_safetensors_write(const char *path, const sqz_tensor *tensors, int64_t n,
                                 const char *const *meta, int64_t n_meta);
// Write shards model-0000k-of-0000n.safetensors of at most max_shard_bytes each plus
// model.safetensors.index.json into dir (a single model.safetensors if everything fits one shard).
sqz_status sqz_safetensors_write_sharded(const char *dir, const sqz_tensor *tensors, int64_t n,
                                         size_t max_shard_bytes);
// The same two writers with tensors produced on demand: a tensor whose data is NULL (and nbytes > 0)
// is filled by fill(user, i, buf) — i its index in `tensors`, buf nbytes long — when the writer reaches
// it, into one buffer reused for every such tensor, so a model is written with one tensor in memory.
sqz_status sqz_safetensors_write_fill(const char *path, const sqz_tensor *tensors, int64_t n,
                                      const char *const *meta, int64_t n_meta, sqz_tensor_fill fill, void *user);
sqz_status sqz_safetensors_write_sharded_fill(const char *dir, const sqz_tensor *tensors, int64_t n,
                                              size_t max_shard_bytes, sqz_tensor_fill fill, void *user);

// ================================ model config ===================================================
typedef enum sqz_arch {
    SQZ_ARCH_LLAMA = 0, // Llama 2/3, TinyLlama, SmolLM, Mistral, DeepSeek-Coder
    SQZ_ARCH_QWEN2 = 1, // Llama + q/k/v biases
    SQZ_ARCH_GPT2 = 2,
} sqz_arch;

// How RoPE pairs dimensions: HF checkpoints rotate halves (i, i+d/2) — "neox" in llama.cpp —
// while GGUF `llama` tensors are permuted for adjacent pairs (2i, 2i+1) — "norm".
typedef enum sqz_rope_layout {
    SQZ_ROPE_NONE = 0, // GPT-2: learned positions
    SQZ_ROPE_HALF = 1,
    SQZ_ROPE_ADJACENT = 2,
} sqz_rope_layout;

typedef enum sqz_rope_scaling {
    SQZ_ROPE_SCALING_NONE = 0,
    SQZ_ROPE_SCALING_LINEAR = 1,
    SQZ_ROPE_SCALING_LLAMA3 = 2,
} sqz_rope_scaling;

typedef struct sqz_model_config {
    sqz_arch arch;
    char arch_name[32];     // as declared: "llama", "mistral", "qwen2", "gpt2"
    char hf_class[64];      // e.g. "LlamaForCausalLM" ("" when read from GGUF)
    int64_t n_vocab;
    int64_t n_ctx_train;    // max_position_embeddings / n_positions / <arch>.context_length
    int64_t n_embd;         // hidden size
    int64_t n_layer;
    int64_t n_head;
    int64_t n_head_kv;      // = n_head without GQA
    int64_t head_dim;       // usually n_embd / n_head
    int64_t n_ff;           // MLP intermediate size
    double norm_eps;        // rms_norm_eps or layer_norm_epsilon
    double rope_theta;
    sqz_rope_layout rope_layout;
    sqz_rope_scaling rope_scaling;
    double rope_factor;     // linear / llama3 factor
    double rope_low_freq_factor, rope_high_freq_factor; // llama3
    int64_t rope_orig_ctx;  // llama3 original_max_position_embeddings
    int64_t sliding_window; // Mistral; 0 = none
    bool tie_embeddings;    // lm_head shares token embeddings
    bool attn_bias;         // q/k/v biases (Qwen2; GPT-2 has all biases)
    int64_t bos_id, eos_id, pad_id; // -1 if unknown
} sqz_model_config;

// Parse a HF config.json (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel).
// Errors: malformed JSON with line/column, unknown architecture, missing or inconsistent fields.
sqz_status sqz_config_from_hf_json(sqz_model_config *c, const char *config_json_path);
// Read <arch>.* metadata of a GGUF with general.architecture = llama / qwen2 / gpt2.
sqz_status sqz_config_from_gguf(sqz_model_config *c, const sqz_gguf *g);

// ================================ model files ====================================================
typedef enum sqz_layout {
    SQZ_LAYOUT_HF = 0,   // HF directory: config.json + safetensors (+ tokenizer.json)
    SQZ_LAYOUT_GGUF = 1,
} sqz_layout;

typedef struct sqz_model_file sqz_model_file; // what is on disk, validated, not yet a runnable model

// Open an HF directory, a .gguf file, or a config.json / .safetensors / index.json inside an HF
// directory. Reads the config and the tensor table; checks that the tensors the architecture needs
// exist with the right shapes.
sqz_status sqz_model_file_open(sqz_model_file **out, const char *path);
void sqz_model_file_free(sqz_model_file *mf);

sqz_layout sqz_model_file_layout(const sqz_model_file *mf);
const char *sqz_model_file_path(const sqz_model_file *mf);   // the .gguf, or the HF directory
const sqz_model_config *sqz_model_file_config(const sqz_model_file *mf);
int64_t sqz_model_file_n_tensors(const sqz_model_file *mf);
const sqz_tensor *sqz_model_file_tensor(const sqz_model_file *mf, int64_t i);
const sqz_tensor *sqz_model_file_find(const sqz_model_file *mf, const char *name);
const sqz_gguf *sqz_model_file_gguf(const sqz_model_file *mf); // NULL for HF layout
// Total bytes of tensor data and parameter count (elements of all tensors).
size_t sqz_model_file_nbytes(const sqz_model_file *mf);
int64_t sqz_model_file_n_params(const sqz_model_file *mf);

// ================================ convert and synth ==============================================
// Conversion between the two on-disk layouts, written the way llama.cpp's convert_hf_to_gguf.py
// writes GGUF (tensor names, <arch>.* keys, tokenizer.ggml.*, q/k rows permuted for `llama`), so a
// model sqz reads can be handed to llama.cpp and back.

// out_type for sqz_convert: SQZ_TYPE_COUNT keeps each tensor's source type (quantized sources become
// F32 in an HF directory). Otherwise F32/F16/BF16 (any direction) or Q8_0/Q4_0/Q4_1 (to GGUF only;
// 1-D tensors, norms, biases and position embeddings stay F32, and a matrix whose rows are not a
// multiple of 32 falls back to F16, as llama.cpp's converter does).
//
// HF directory -> GGUF: `in` is a directory with config.json + safetensors (+ tokenizer.model or
// tokenizer.json, tokenizer_config.json); `out` is the .gguf to write (atomically).
sqz_status sqz_convert_hf_to_gguf(const char *in_dir, const char *out_gguf, sqz_type out_type);
// GGUF -> HF directory: writes config.json, model.safetensors (HF names, q/k un-permuted, GPT-2
// Conv1D layout), tokenizer.json + tokenizer_config.json (gpt2 BPE or llama SPM vocabularies) and
// generation_config.json into out_dir (created if missing). out_type: SQZ_TYPE_COUNT, F32, F16, BF16.
sqz_status sqz_convert_gguf_to_hf(const char *in_gguf, const char *out_dir, sqz_type out_type);
// Either direction, chosen from `in` (a .gguf file, or an HF directory / file inside one).
sqz_status sqz_convert(const char *in, const char *out, sqz_type out_type);

// Random-weight models of real shapes, for speed measurements without downloads.
typedef struct sqz_synth_opts {
    const char *shape;     // "smollm2-135m", "tinyllama-1.1b" or "tiny" (see sqz_synth_shapes)
    sqz_type type;         // weight type of the matrices: F32, F16, BF16, Q8_0, Q4_0, Q4_1
    uint64_t seed;
    // Vocabulary: NULL = a byte-level placeholder vocab of the shape's size (256 byte tokens, then
    // "<tok_N>" fillers; usable for ids, meaningless as text). Otherwise a tokenizer.json (gpt2-style
    // BPE or SPM-BPE) or a .gguf whose tokenizer.ggml.* keys are copied; its size must match.
    const char *vocab;
} sqz_synth_opts;

// Names of the shapes sqz_synth knows, NULL-terminated.
const char *const *sqz_synth_shapes(void);
// Write a GGUF (llama architecture, llama.cpp-loadable) with N(0, sigma) weights scaled so that
// activations stay finite, norms = 1. Each tensor is generated row by row straight into its final
// type, so memory is one copy of the output's tensor data (2.2 GB for tinyllama-1.1b F16) plus a row.
// Errors: unknown shape or type, vocab size mismatch, I/O.
sqz_status sqz_synth(const sqz_synth_opts *opts, const char *out_gguf);

#ifdef __cplusplus
}
#endif
#endif

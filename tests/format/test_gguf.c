// GGUF reader/writer tests on the real files in ../shared, plus mutated copies for every kind of
// bad input. Also a tool mode used by test_gguf_ref.py:
//   format_test_gguf --copy IN OUT [ALIGN]   re-add every kv and tensor of IN to a writer (setting
//                                            general.alignment = ALIGN if given) and write OUT.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sqz/format.h"

#define AIDREAMS "../shared/refs/models/aidreams260K-gguf/aidreams260K.gguf"
#define GPT2 "../shared/refs/models/gpt2-tiny-random/gpt2-tiny-random.f32.gguf"
#define Q4_0 "../shared/refs/models/aidreams260K-quant/aidreams260K-Q4_0.gguf"
#define Q8_0 "../shared/refs/models/aidreams260K-quant/aidreams260K-Q8_0.gguf"
#define F16 "../shared/refs/models/aidreams260K-quant/aidreams260K-F16.gguf"
#define STORIES "../shared/refs/models/stories260K-gguf/stories260K.gguf"
#define VOCAB_DIR "../shared/data/tokenizers/vocab-gguf/"

static char tmpdir[64];

static uint8_t *slurp(const char *path, size_t *n) {
    char *buf = NULL;
    if (sqz_read_file(path, &buf, n) != SQZ_OK)
        return NULL;
    return (uint8_t *)buf;
}

static const char *spit(const char *name, const void *data, size_t n) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
    return path;
}

static size_t find_bytes(const uint8_t *hay, size_t n, const void *needle, size_t m) {
    for (size_t i = 0; i + m <= n; i++)
        if (!memcmp(hay + i, needle, m))
            return i;
    return (size_t)-1;
}

// Offset of the tensor info of `name` (at its u64 name length).
static size_t tensor_info_at(const uint8_t *buf, size_t n, const char *name) {
    uint8_t pat[128];
    uint64_t len = strlen(name);
    memcpy(pat, &len, 8);
    memcpy(pat + 8, name, len);
    return find_bytes(buf, n, pat, 8 + len);
}

// Copy every kv and tensor of `in` through the writer; align > 0 also sets general.alignment.
static sqz_status copy_gguf(const char *in, const char *out, unsigned align) {
    sqz_gguf *g;
    sqz_gguf_writer *w;
    sqz_status st = sqz_gguf_open(&g, in);
    if (st != SQZ_OK)
        return st;
    st = sqz_gguf_writer_new(&w);
    for (int64_t i = 0; i < sqz_gguf_n_kv(g) && st == SQZ_OK; i++)
        st = sqz_gguf_writer_set_value(w, sqz_gguf_kv_key(g, i), sqz_gguf_kv_value(g, i));
    if (align && st == SQZ_OK)
        st = sqz_gguf_writer_set_u32(w, "general.alignment", align);
    for (int64_t i = 0; i < sqz_gguf_n_tensors(g) && st == SQZ_OK; i++) {
        const sqz_tensor *t = sqz_gguf_tensor(g, i);
        st = sqz_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->shape, t->data, t->nbytes);
    }
    if (st == SQZ_OK)
        st = sqz_gguf_writer_write(w, out);
    sqz_gguf_writer_free(w);
    sqz_gguf_free(g);
    return st;
}

static void test_aidreams(void) {
    sqz_gguf *g = NULL;
    CHECK_OK(sqz_gguf_open(&g, AIDREAMS));
    if (!g)
        return;
    CHECK(sqz_gguf_version(g) == 3);
    CHECK(sqz_gguf_n_tensors(g) == 39);
    CHECK(sqz_gguf_n_kv(g) == 19);
    CHECK(sqz_gguf_alignment(g) == 32);
    CHECK(sqz_gguf_data_offset(g) == 13664); // as gguf-py reports
    int64_t v = 0;
    CHECK_OK(sqz_gguf_get_i64(g, "llama.feed_forward_length", &v));
    CHECK(v == 172);
    double eps = 0;
    CHECK_OK(sqz_gguf_get_f64(g, "llama.attention.layer_norm_rms_epsilon", &eps));
    CHECK(fabs(eps - 1e-5) < 1e-10);
    sqz_gguf_str s;
    CHECK_OK(sqz_gguf_get_str(g, "general.architecture", &s));
    CHECK(s.len == 5 && !memcmp(s.ptr, "llama", 5));
    CHECK_ERR(sqz_gguf_get_i64(g, "general.architecture", &v), SQZ_ERR_FORMAT, "general.architecture");
    CHECK_ERR(sqz_gguf_get_i64(g, "no.such.key", &v), SQZ_ERR_NOT_FOUND, "no.such.key");
    CHECK(sqz_gguf_get_i64_or(g, "llama.rope.freq_base", 7) == 7);
    const sqz_gguf_value *toks = sqz_gguf_get(g, "tokenizer.ggml.tokens");
    CHECK(toks && toks->type == SQZ_GGUF_ARRAY && toks->v.arr.elem_type == SQZ_GGUF_STRING && toks->v.arr.n == 512);
    if (toks)
        CHECK(toks->v.arr.strs[1].len == 3 && !memcmp(toks->v.arr.strs[1].ptr, "<s>", 3));
    const sqz_gguf_value *tt = sqz_gguf_get(g, "tokenizer.ggml.token_type");
    CHECK(tt && sqz_gguf_arr_i64(tt, 1) == 3 && sqz_gguf_arr_i64(tt, 3) == 6); // CONTROL, BYTE
    const sqz_tensor *t = sqz_gguf_find_tensor(g, "blk.0.ffn_down.weight");
    CHECK(t && t->n_dims == 2 && t->shape[0] == 64 && t->shape[1] == 172 && t->type == SQZ_TYPE_F32);
    CHECK(t && t->nbytes == 64 * 172 * 4);
    CHECK(sqz_gguf_find_tensor(g, "blk.0.ffn_down") == NULL);
    // The embedding table must be byte-identical to the llama2.c checkpoint it was converted from
    // (header of 7 int32, then token_embedding_table [512, 64] f32).
    size_t bn = 0;
    uint8_t *bin = slurp("../shared/data/models/aidreams260K-llama2c/aidreams260K.bin", &bn);
    t = sqz_gguf_find_tensor(g, "token_embd.weight");
    CHECK(bin && t && bn > 28 + t->nbytes && !memcmp(bin + 28, t->data, t->nbytes));
    free(bin);
    sqz_gguf_free(g);
}

static void test_real_files(void) {
    const char *files[] = {AIDREAMS, GPT2, Q4_0, Q8_0, F16, STORIES};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        sqz_gguf *g = NULL;
        CHECK_OK(sqz_gguf_open(&g, files[i]));
        CHECK(g && sqz_gguf_n_tensors(g) > 0);
        sqz_gguf_free(g);
    }
    sqz_gguf *g = NULL;
    CHECK_OK(sqz_gguf_open(&g, Q4_0));
    const sqz_tensor *t = g ? sqz_gguf_find_tensor(g, "blk.0.attn_q.weight") : NULL;
    CHECK(t && t->type == SQZ_TYPE_Q4_0 && t->nbytes == 64 * 64 / 32 * 18);
    t = g ? sqz_gguf_find_tensor(g, "output.weight") : NULL;
    CHECK(t && t->type == SQZ_TYPE_Q8_0);
    sqz_gguf_free(g);
    // Vocabulary-only files from llama.cpp's test suite: metadata only.
    const char *vocab[] = {"baichuan", "bert-bge", "deepseek-coder", "deepseek-llm", "falcon", "gpt-2",
                           "gpt-neox", "llama-spm", "mpt", "phi-3", "refact", "starcoder"};
    for (size_t i = 0; i < sizeof vocab / sizeof vocab[0]; i++) {
        char p[256];
        snprintf(p, sizeof p, VOCAB_DIR "ggml-vocab-%s.gguf", vocab[i]);
        g = NULL;
        CHECK_OK(sqz_gguf_open(&g, p));
        const sqz_gguf_value *tok = g ? sqz_gguf_get(g, "tokenizer.ggml.tokens") : NULL;
        CHECK_MSG(tok && tok->v.arr.n > 1000, "%s", p);
        if (!strcmp(vocab[i], "gpt-2"))
            CHECK(tok && tok->v.arr.n == 50257);
        sqz_gguf_free(g);
    }
    // The real SmolLM2-135M (Q4_1 + Q8_0 embeddings), when the setup script has fetched it.
    const char *models = getenv("SQZ_MODELS");
    char p[512];
    snprintf(p, sizeof p, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", models ? models : ".");
    if (access(p, R_OK) == 0) {
        g = NULL;
        CHECK_OK(sqz_gguf_open(&g, p));
        CHECK(g && sqz_gguf_n_tensors(g) == 272 && sqz_gguf_data_offset(g) == 1785664);
        t = g ? sqz_gguf_find_tensor(g, "blk.0.ffn_down.weight") : NULL;
        CHECK(t && t->type == SQZ_TYPE_Q4_1 && t->shape[0] == 576 && t->shape[1] == 1536);
        const sqz_gguf_value *m = g ? sqz_gguf_get(g, "tokenizer.ggml.merges") : NULL;
        CHECK(m && m->v.arr.n == 48900);
        sqz_gguf_free(g);
    } else {
        printf("note: %s not present, SmolLM2 checks skipped\n", p);
    }
}

static bool same_value(const sqz_gguf_value *a, const sqz_gguf_value *b);

static bool same_array(const sqz_gguf_value *a, const sqz_gguf_value *b) {
    if (a->v.arr.elem_type != b->v.arr.elem_type || a->v.arr.n != b->v.arr.n)
        return false;
    for (uint64_t i = 0; i < a->v.arr.n; i++) {
        if (a->v.arr.elem_type == SQZ_GGUF_STRING) {
            const sqz_gguf_str *x = &a->v.arr.strs[i], *y = &b->v.arr.strs[i];
            if (x->len != y->len || memcmp(x->ptr, y->ptr, x->len))
                return false;
        } else if (a->v.arr.elem_type == SQZ_GGUF_ARRAY) {
            if (!same_value(&a->v.arr.elems[i], &b->v.arr.elems[i]))
                return false;
        } else if (sqz_gguf_arr_f64(a, i) != sqz_gguf_arr_f64(b, i) ||
                   sqz_gguf_arr_i64(a, i) != sqz_gguf_arr_i64(b, i)) {
            return false;
        }
    }
    return true;
}

static bool same_value(const sqz_gguf_value *a, const sqz_gguf_value *b) {
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case SQZ_GGUF_STRING: return a->v.str.len == b->v.str.len && !memcmp(a->v.str.ptr, b->v.str.ptr, a->v.str.len);
    case SQZ_GGUF_ARRAY: return same_array(a, b);
    case SQZ_GGUF_BOOL: return a->v.b == b->v.b;
    case SQZ_GGUF_FLOAT32: case SQZ_GGUF_FLOAT64: return a->v.f64 == b->v.f64;
    default: return a->v.u64 == b->v.u64;
    }
}

static void check_same_file(const char *a_path, const char *b_path) {
    sqz_gguf *a = NULL, *b = NULL;
    CHECK_OK(sqz_gguf_open(&a, a_path));
    CHECK_OK(sqz_gguf_open(&b, b_path));
    if (!a || !b) {
        sqz_gguf_free(a);
        sqz_gguf_free(b);
        return;
    }
    CHECK(sqz_gguf_n_kv(a) == sqz_gguf_n_kv(b) && sqz_gguf_n_tensors(a) == sqz_gguf_n_tensors(b));
    int bad = 0;
    for (int64_t i = 0; i < sqz_gguf_n_kv(a) && i < sqz_gguf_n_kv(b); i++)
        bad += strcmp(sqz_gguf_kv_key(a, i), sqz_gguf_kv_key(b, i)) != 0 ||
               !same_value(sqz_gguf_kv_value(a, i), sqz_gguf_kv_value(b, i));
    for (int64_t i = 0; i < sqz_gguf_n_tensors(a) && i < sqz_gguf_n_tensors(b); i++) {
        const sqz_tensor *x = sqz_gguf_tensor(a, i), *y = sqz_gguf_tensor(b, i);
        bad += strcmp(x->name, y->name) || x->type != y->type || x->n_dims != y->n_dims ||
               memcmp(x->shape, y->shape, sizeof x->shape) || x->nbytes != y->nbytes ||
               memcmp(x->data, y->data, x->nbytes);
    }
    CHECK_MSG(bad == 0, "%s vs %s: %d differences", a_path, b_path, bad);
    sqz_gguf_free(a);
    sqz_gguf_free(b);
}

static void test_writer_roundtrip(void) {
    char out[256];
    const char *files[] = {AIDREAMS, Q4_0, GPT2, VOCAB_DIR "ggml-vocab-llama-spm.gguf"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(out, sizeof out, "%s/copy%zu.gguf", tmpdir, i);
        CHECK_OK(copy_gguf(files[i], out, 0));
        check_same_file(files[i], out);
    }
    // The copy of the all-F32 file is byte-identical to llama.cpp's own output.
    size_t n1, n2;
    uint8_t *a = slurp(AIDREAMS, &n1);
    snprintf(out, sizeof out, "%s/copy0.gguf", tmpdir);
    uint8_t *b = slurp(out, &n2);
    CHECK(a && b && n1 == n2 && !memcmp(a, b, n1));
    free(a);
    free(b);
}

static void test_writer_values(void) {
    sqz_gguf_writer *w = NULL;
    CHECK_OK(sqz_gguf_writer_new(&w));
    if (!w)
        return;
    CHECK_OK(sqz_gguf_writer_set_u32(w, "general.alignment", 64));
    CHECK_OK(sqz_gguf_writer_set_i32(w, "a.i32", -5));
    CHECK_OK(sqz_gguf_writer_set_u64(w, "a.u64", 1ull << 40));
    CHECK_OK(sqz_gguf_writer_set_f32(w, "a.f32", 0.5f));
    CHECK_OK(sqz_gguf_writer_set_bool(w, "a.bool", true));
    CHECK_OK(sqz_gguf_writer_set_str(w, "a.str", "first"));
    CHECK_OK(sqz_gguf_writer_set_str(w, "a.str", "héllo")); // replaces
    int16_t i16[3] = {-1, 2, -3};
    CHECK_OK(sqz_gguf_writer_set_arr(w, "a.arr", SQZ_GGUF_INT16, i16, 3));
    sqz_gguf_str strs[2] = {{"x", 1}, {"yz", 2}};
    CHECK_OK(sqz_gguf_writer_set_arr_str(w, "a.strs", strs, 2));
    // An array of two arrays: [[1.5, 2.5], ["x", "yz"]].
    float f2[2] = {1.5f, 2.5f};
    sqz_gguf_value inner[2] = {{.type = SQZ_GGUF_ARRAY}, {.type = SQZ_GGUF_ARRAY}};
    inner[0].v.arr.elem_type = SQZ_GGUF_FLOAT32, inner[0].v.arr.n = 2, inner[0].v.arr.raw = f2;
    inner[1].v.arr.elem_type = SQZ_GGUF_STRING, inner[1].v.arr.n = 2, inner[1].v.arr.strs = strs;
    sqz_gguf_value nested = {.type = SQZ_GGUF_ARRAY};
    nested.v.arr.elem_type = SQZ_GGUF_ARRAY, nested.v.arr.n = 2, nested.v.arr.elems = inner;
    CHECK_OK(sqz_gguf_writer_set_value(w, "a.nested", &nested));
    CHECK_ERR(sqz_gguf_writer_set_u32(w, "general.alignment", 48), SQZ_ERR_ARG, "power of two");
    float data[64];
    for (int i = 0; i < 64; i++)
        data[i] = (float)i;
    int64_t shape[2] = {2, 32};
    CHECK_OK(sqz_gguf_writer_add_tensor(w, "t0", SQZ_TYPE_F32, 2, shape, data, sizeof data));
    CHECK_ERR(sqz_gguf_writer_add_tensor(w, "t0", SQZ_TYPE_F32, 2, shape, data, sizeof data), SQZ_ERR_ARG,
              "duplicate");
    CHECK_ERR(sqz_gguf_writer_add_tensor(w, "t1", SQZ_TYPE_F32, 2, shape, data, 12), SQZ_ERR_ARG, "t1");
    int64_t odd[1] = {33};
    CHECK_ERR(sqz_gguf_writer_add_tensor(w, "t2", SQZ_TYPE_Q8_0, 1, odd, data, 34), SQZ_ERR_FORMAT, "block size");
    int64_t one[1] = {3};
    CHECK_OK(sqz_gguf_writer_add_tensor(w, "t3", SQZ_TYPE_F16, 1, one, data, 6));
    char path[256];
    snprintf(path, sizeof path, "%s/values.gguf", tmpdir);
    CHECK_OK(sqz_gguf_writer_write(w, path));
    sqz_gguf_writer_free(w);

    sqz_gguf *g = NULL;
    CHECK_OK(sqz_gguf_open(&g, path));
    if (!g)
        return;
    CHECK(sqz_gguf_alignment(g) == 64 && sqz_gguf_data_offset(g) % 64 == 0);
    CHECK(sqz_gguf_get_i64_or(g, "a.i32", 0) == -5 && sqz_gguf_get_i64_or(g, "a.u64", 0) == (1ll << 40));
    CHECK(sqz_gguf_get_f64_or(g, "a.f32", 0) == 0.5 && sqz_gguf_get_i64_or(g, "a.bool", 0) == 1);
    sqz_gguf_str s = {0};
    CHECK_OK(sqz_gguf_get_str(g, "a.str", &s));
    CHECK(s.len == 6 && !memcmp(s.ptr, "héllo", 6));
    const sqz_gguf_value *a = sqz_gguf_get(g, "a.arr");
    CHECK(a && a->v.arr.n == 3 && sqz_gguf_arr_i64(a, 2) == -3 && sqz_gguf_arr_f64(a, 0) == -1);
    const sqz_gguf_value *nv = sqz_gguf_get(g, "a.nested");
    CHECK(nv && same_value(nv, &nested));
    const sqz_tensor *t = sqz_gguf_find_tensor(g, "t0");
    CHECK(t && t->shape[0] == 2 && t->shape[1] == 32 && !memcmp(t->data, data, sizeof data));
    const sqz_tensor *t3 = sqz_gguf_find_tensor(g, "t3");
    CHECK(t3 && ((uintptr_t)t3->data - (uintptr_t)t->data) % 64 == 0);
    sqz_gguf_free(g);
}

// ---- bad input -----------------------------------------------------------------------------------
static void expect_bad(const uint8_t *buf, size_t n, sqz_status code, const char *needle, const char *label) {
    const char *p = spit("bad.gguf", buf, n);
    sqz_gguf *g = NULL;
    sqz_status st = sqz_gguf_open(&g, p);
    CHECK_MSG(st == code && strstr(sqz_last_error(), needle) && strstr(sqz_last_error(), "bad.gguf"),
              "%s: status %d, message '%s'", label, (int)st, sqz_last_error());
    sqz_gguf_free(g);
}

static void put_u64_at(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static void put_u32_at(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static void test_bad_inputs(void) {
    size_t n = 0;
    uint8_t *orig = slurp(AIDREAMS, &n);
    CHECK(orig != NULL);
    if (!orig)
        return;
    uint8_t *b = malloc(n);
    // Truncation anywhere in the header and inside the data: always a clean error.
    int trunc_ok = 0, trunc_n = 0;
    for (size_t cut = 0; cut < n; cut += cut < 14000 ? 7 : 40000) {
        const char *p = spit("trunc.gguf", orig, cut);
        sqz_gguf *g = NULL;
        sqz_status st = sqz_gguf_open(&g, p);
        trunc_ok += st == SQZ_ERR_FORMAT && strstr(sqz_last_error(), "trunc.gguf") != NULL;
        trunc_n++;
        sqz_gguf_free(g);
    }
    CHECK_MSG(trunc_ok == trunc_n, "%d of %d truncations rejected", trunc_ok, trunc_n);
    expect_bad(orig, 2000, SQZ_ERR_FORMAT, "tokenizer.ggml.tokens", "truncated header");
    expect_bad(orig, 13000, SQZ_ERR_FORMAT, "truncated", "truncated tensor infos");
    expect_bad(orig, 100, SQZ_ERR_FORMAT, "metadata count 19 is impossible", "count vs size");
    expect_bad(orig, n - 1, SQZ_ERR_FORMAT, "extends past end of file", "truncated data");

    memcpy(b, orig, n), memcpy(b, "GGML", 4);
    expect_bad(b, n, SQZ_ERR_FORMAT, "bad magic", "magic");
    memcpy(b, orig, n), put_u32_at(b + 4, 4);
    expect_bad(b, n, SQZ_ERR_UNSUPPORTED, "version 4", "version");
    memcpy(b, orig, n), put_u32_at(b + 4, 0x03000000);
    expect_bad(b, n, SQZ_ERR_UNSUPPORTED, "big-endian", "big-endian");
    memcpy(b, orig, n), put_u64_at(b + 8, 1ull << 60);
    expect_bad(b, n, SQZ_ERR_FORMAT, "tensor count", "absurd tensor count");
    memcpy(b, orig, n), put_u64_at(b + 16, 1ull << 40);
    expect_bad(b, n, SQZ_ERR_FORMAT, "metadata count", "absurd kv count");
    memcpy(b, orig, n), put_u64_at(b + 24, 1ull << 62); // length of the first key
    expect_bad(b, n, SQZ_ERR_FORMAT, "past the end", "absurd string length");
    // tokenizer.ggml.tokens: u64 len, key, u32 type=ARRAY, u32 elem type, u64 count
    size_t tk = find_bytes(orig, n, "tokenizer.ggml.tokens", 21);
    memcpy(b, orig, n), put_u64_at(b + tk + 21 + 8, 1ull << 61);
    expect_bad(b, n, SQZ_ERR_FORMAT, "tokenizer.ggml.tokens", "absurd array count");
    memcpy(b, orig, n), put_u32_at(b + tk + 21 + 4, 13);
    expect_bad(b, n, SQZ_ERR_FORMAT, "unknown array element type 13", "bad element type");
    memcpy(b, orig, n), put_u32_at(b + tk + 21, 42);
    expect_bad(b, n, SQZ_ERR_FORMAT, "unknown value type 42", "bad value type");
    // Duplicate key: overwrite one key with another of the same length.
    size_t k1 = find_bytes(orig, n, "tokenizer.ggml.bos_token_id", 27);
    size_t k2 = find_bytes(orig, n, "tokenizer.ggml.eos_token_id", 27);
    memcpy(b, orig, n), memcpy(b + k2, b + k1, 27);
    expect_bad(b, n, SQZ_ERR_FORMAT, "duplicate key 'tokenizer.ggml.bos_token_id'", "duplicate key");

    size_t te = tensor_info_at(orig, n, "token_embd.weight"); // then u32 n_dims, u64 ne[2], u32 type, u64 off
    size_t te_dims = te + 8 + 17, te_type = te_dims + 4 + 16, te_off = te_type + 4;
    size_t ow = tensor_info_at(orig, n, "output.weight");
    size_t ow_off = ow + 8 + 13 + 4 + 16 + 4;
    CHECK(te != (size_t)-1 && ow != (size_t)-1);
    memcpy(b, orig, n), put_u32_at(b + te_type, 14);
    expect_bad(b, n, SQZ_ERR_UNSUPPORTED, "unsupported tensor type 14 (q6_K) of tensor 'token_embd.weight'",
               "unsupported type");
    memcpy(b, orig, n), put_u32_at(b + te_type, 2); // Q4_0 with rows of 64: fine size-wise, but smaller
    {
        const char *p = spit("retyped.gguf", b, n);
        sqz_gguf *g = NULL;
        CHECK_OK(sqz_gguf_open(&g, p)); // a smaller tensor inside its old extent is still valid
        sqz_gguf_free(g);
    }
    memcpy(b, orig, n), put_u32_at(b + te_dims, 5);
    expect_bad(b, n, SQZ_ERR_FORMAT, "5 dimensions", "n_dims");
    memcpy(b, orig, n), put_u64_at(b + te_dims + 4, 1ull << 63);
    expect_bad(b, n, SQZ_ERR_FORMAT, "negative", "negative dim");
    memcpy(b, orig, n), put_u64_at(b + te_dims + 4, 1ull << 40), put_u64_at(b + te_dims + 12, 1ull << 40);
    expect_bad(b, n, SQZ_ERR_FORMAT, "overflows", "size overflow");
    memcpy(b, orig, n), put_u64_at(b + te_off, 1ull << 50);
    expect_bad(b, n, SQZ_ERR_FORMAT, "'token_embd.weight' extends past end of file", "offset past end");
    memcpy(b, orig, n), put_u64_at(b + te_off, 4);
    expect_bad(b, n, SQZ_ERR_FORMAT, "not a multiple of the alignment", "misaligned offset");
    memcpy(b, orig, n), put_u64_at(b + ow_off, 1024);
    expect_bad(b, n, SQZ_ERR_FORMAT, "overlap", "overlapping tensors");
    // Duplicate tensor name: rename blk.1.ffn_norm.weight to blk.0.ffn_norm.weight (same length).
    size_t q1 = tensor_info_at(orig, n, "blk.1.ffn_norm.weight");
    memcpy(b, orig, n), memcpy(b + q1 + 8, "blk.0.ffn_norm.weight", 21);
    expect_bad(b, n, SQZ_ERR_FORMAT, "duplicate tensor 'blk.0.ffn_norm.weight'", "duplicate tensor");
    free(b);
    free(orig);

    // Bad alignment values, written by hand: a GGUF with only general.alignment.
    uint8_t hb[256];
    size_t k = 0;
    memcpy(hb, "GGUF", 4), put_u32_at(hb + 4, 3), put_u64_at(hb + 8, 0), put_u64_at(hb + 16, 1);
    k = 24;
    put_u64_at(hb + k, 17), memcpy(hb + k + 8, "general.alignment", 17), k += 25;
    put_u32_at(hb + k, SQZ_GGUF_UINT32), put_u32_at(hb + k + 4, 24), k += 8;
    expect_bad(hb, k, SQZ_ERR_FORMAT, "general.alignment = 24 is not a power of two", "alignment 24");
    put_u32_at(hb + k - 4, 0);
    expect_bad(hb, k, SQZ_ERR_FORMAT, "not a power of two", "alignment 0");
    put_u32_at(hb + k - 4, 16);
    {
        sqz_gguf *g = NULL;
        CHECK_OK(sqz_gguf_open(&g, spit("align16.gguf", hb, k)));
        CHECK(g && sqz_gguf_alignment(g) == 16);
        sqz_gguf_free(g);
    }
    // bool that is not 0/1; deeply nested arrays.
    put_u32_at(hb + k - 8, SQZ_GGUF_BOOL), hb[k - 4] = 7;
    expect_bad(hb, k - 3, SQZ_ERR_FORMAT, "not 0 or 1", "bool 7");
    k = 24;
    put_u64_at(hb + k, 1), hb[k + 8] = 'x', k += 9;
    put_u32_at(hb + k, SQZ_GGUF_ARRAY), k += 4;
    for (int d = 0; d < 9; d++)
        put_u32_at(hb + k, SQZ_GGUF_ARRAY), put_u64_at(hb + k + 4, 1), k += 12;
    expect_bad(hb, k, SQZ_ERR_FORMAT, "nested deeper", "deep nesting");
    expect_bad(hb, 0, SQZ_ERR_FORMAT, "truncated", "empty file");
}

int main(int argc, char **argv) {
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "--copy")) {
        sqz_status st = copy_gguf(argv[2], argv[3], argc == 5 ? (unsigned)atoi(argv[4]) : 0);
        if (st != SQZ_OK)
            fprintf(stderr, "%s\n", sqz_last_error());
        return st != SQZ_OK;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sqz_test_gguf_XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    test_aidreams();
    test_real_files();
    test_writer_roundtrip();
    test_writer_values();
    test_bad_inputs();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_summary();
}

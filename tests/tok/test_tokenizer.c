// Tokenizer acceptance vectors: llama.cpp's vocab-gguf .inp/.out pairs, the SmolLM2 oracle (HF
// tokenizers + llama.cpp), the tiny reference models' tokenizer checks, HF json == GGUF on the real
// SmolLM2 model, round trips on vocabularies without vectors, the streaming detokenizer, and errors.
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sqz.h"

#define SHARED "../shared/"
#define VOCAB SHARED "data/tokenizers/vocab-gguf/"
#define SMOL_JSON SHARED "data/tokenizers/smollm2-135m/tokenizer.json"

static char *read_all(const char *path, size_t *len) {
    char *d = NULL;
    if (sqz_read_file(path, &d, len) != SQZ_OK) {
        fprintf(stderr, "cannot read %s: %s\n", path, sqz_last_error());
        return NULL;
    }
    return d;
}

static bool ids_equal(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void print_ids(const char *tag, const int32_t *v, size_t n) {
    fprintf(stderr, "  %s:", tag);
    for (size_t i = 0; i < n && i < 40; i++)
        fprintf(stderr, " %d", (int)v[i]);
    fprintf(stderr, "\n");
}

// Encode and compare with expected ids; reports the text on mismatch.
static void check_encode(const sqz_tokenizer *t, const char *what, const char *text, size_t len, unsigned flags,
                         const int32_t *want, size_t n_want) {
    int32_t *ids = NULL;
    size_t n = 0;
    sqz_status st = sqz_tokenizer_encode_ex(t, text, len, flags, &ids, &n);
    bool ok = st == SQZ_OK && ids_equal(ids, n, want, n_want);
    CHECK_MSG(ok, "%s: '%.*s'", what, (int)(len > 80 ? 80 : len), text);
    if (!ok) {
        print_ids("got ", ids, n);
        print_ids("want", want, n_want);
    }
    free(ids);
}

// ---- llama.cpp test-tokenizer-0 vectors: texts split by "\n__ggml_vocab_test__\n", one line of ids
// each, tokenized with add_special = false and parse_special = false.
static void test_vocab_file(const char *name) {
    char path[512];
    snprintf(path, sizeof path, VOCAB "%s", name);
    sqz_tokenizer *t = NULL;
    CHECK_OK(sqz_tokenizer_load(&t, path));
    if (!t)
        return;
    char ip[600], op[600];
    snprintf(ip, sizeof ip, "%s.inp", path);
    snprintf(op, sizeof op, "%s.out", path);
    size_t il, ol;
    char *inp = read_all(ip, &il), *out = read_all(op, &ol);
    CHECK(inp && out);
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t sl = strlen(sep), pos = 0, line = 0, fails0 = (size_t)t_failed;
    char *oline = out;
    while (inp && out && pos < il && oline && *oline) {
        const char *nx = strstr(inp + pos, sep);
        size_t end = nx ? (size_t)(nx - inp) : il;
        char *eol = strchr(oline, '\n');
        if (eol)
            *eol = 0;
        int32_t want[1024];
        size_t nw = 0;
        for (char *p = oline, *e; nw < 1024; p = e) {
            long v = strtol(p, &e, 10);
            if (e == p)
                break;
            want[nw++] = (int32_t)v;
        }
        check_encode(t, name, inp + pos, end - pos, SQZ_TOK_NO_PARSE_SPECIAL, want, nw);
        line++;
        oline = eol ? eol + 1 : NULL;
        pos = nx ? end + sl : il;
    }
    CHECK_MSG(pos >= il, "%s: more texts than expected lines", name);
    printf("%-32s %3zu texts, %zu mismatches\n", name, line, (size_t)t_failed - fails0);
    free(inp);
    free(out);
    sqz_tokenizer_free(t);
}

static size_t json_ids(json_t *arr, int32_t *v, size_t cap) {
    size_t n = 0;
    for (; n < json_array_size(arr) && n < cap; n++)
        v[n] = (int32_t)json_integer_value(json_array_get(arr, n));
    return n;
}

static void check_decode(const sqz_tokenizer *t, const int32_t *ids, size_t n, bool skip, json_t *want) {
    if (!json_is_string(want))
        return;
    char *s = NULL;
    size_t len = 0;
    CHECK_OK(sqz_tokenizer_decode(t, ids, n, skip, &s, &len));
    bool ok = s && len == json_string_length(want) && memcmp(s, json_string_value(want), len) == 0;
    CHECK_MSG(ok, "decode(skip=%d) gave '%s', want '%s'", skip, s ? s : "(null)", json_string_value(want));
    free(s);
}

// Every line of a JSONL file: {"text", <ids_key>: [...], optional "decoded"/"decoded_skip_special"}.
static void test_jsonl(const char *tok_path, const char *jsonl, const char *ids_key, unsigned flags) {
    sqz_tokenizer *t = NULL;
    CHECK_OK(sqz_tokenizer_load(&t, tok_path));
    size_t len;
    char *data = read_all(jsonl, &len);
    if (!t || !data) {
        CHECK(t && data);
        free(data);
        sqz_tokenizer_free(t);
        return;
    }
    size_t rows = 0, fails0 = (size_t)t_failed;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t err;
        json_t *o = json_loads(line, JSON_ALLOW_NUL, &err);
        json_t *text = json_object_get(o, "text");
        int32_t want[4096];
        size_t nw = json_ids(json_object_get(o, ids_key), want, 4096);
        check_encode(t, jsonl, json_string_value(text), json_string_length(text), flags, want, nw);
        check_decode(t, want, nw, false, json_object_get(o, "decoded"));
        check_decode(t, want, nw, true, json_object_get(o, "decoded_skip_special"));
        if (!strcmp(ids_key, "ids_hf_tokenizers_npm"))
            check_decode(t, want, nw, true, json_object_get(o, "decoded_hf_tokenizers_npm_skip_special"));
        json_decref(o);
        rows++;
    }
    printf("%-32s %3zu rows (%s), %zu failures\n", strrchr(jsonl, '/') + 1, rows, ids_key,
           (size_t)t_failed - fails0);
    free(data);
    sqz_tokenizer_free(t);
}

// ---- round trips on code ------------------------------------------------------------------------------
static const char *const CODE[] = {
    "def f(x):\n    return x * 2  # double\n\n\nclass A(B):\n\tpass\r\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }  // 1234567 0x1F\n",
    "public static void Main(string[] args) {\n    Console.WriteLine(\"héllo wörld ✓ 😀\");\n}\n",
    "  leading and trailing spaces   \n\n\n    indented\n",
    "Ünïcödé: Ελληνικά, Русский, 日本語のテキスト, 한국어, العربية, emoji 👩‍👩‍👧 🇫🇷",
    "x=[1,2,3]\ny={'a':1,\"b\":2}\nprint(f\"{x!r:>10}\")  \t\t\n",
};

static void roundtrip(const sqz_tokenizer *t, const char *name, const char *s) {
    int32_t *ids = NULL;
    size_t n = 0;
    char *back = NULL;
    size_t bl = 0;
    CHECK_OK(sqz_tokenizer_encode(t, s, strlen(s), false, &ids, &n));
    CHECK_OK(sqz_tokenizer_decode(t, ids, n, false, &back, &bl));
    CHECK_MSG(back && bl == strlen(s) && memcmp(back, s, bl) == 0, "%s: round trip of '%s' gave '%s'", name, s,
              back ? back : "(null)");
    CHECK_MSG(n > 0 && n < strlen(s), "%s: %zu tokens for %zu bytes", name, n, strlen(s));
    free(ids);
    free(back);
}

static void test_roundtrip_vocab(const char *file) {
    char path[512];
    snprintf(path, sizeof path, VOCAB "%s", file);
    sqz_tokenizer *t = NULL;
    CHECK_OK(sqz_tokenizer_load(&t, path));
    for (size_t i = 0; t && i < sizeof CODE / sizeof CODE[0]; i++)
        roundtrip(t, file, CODE[i]);
    sqz_tokenizer_free(t);
}

// ---- HF tokenizer.json and the real GGUF give the same ids ---------------------------------------------------
static void test_smollm2_gguf_equals_json(void) {
    const char *models = getenv("SQZ_MODELS");
    char path[1024];
    snprintf(path, sizeof path, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", models ? models : "");
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("note: %s not found, real-GGUF checks skipped\n", path);
        return;
    }
    fclose(f);
    test_jsonl(path, SHARED "refs/tokenizers/smollm2/smollm2_tokenizer_public.llamacpp.jsonl", "ids", 0);
    test_jsonl(path, SHARED "refs/tokenizers/smollm2/smollm2_tokenizer_public.jsonl", "ids", 0);
    sqz_tokenizer *a = NULL, *b = NULL;
    CHECK_OK(sqz_tokenizer_load(&a, SMOL_JSON));
    CHECK_OK(sqz_tokenizer_load(&b, path));
    for (size_t i = 0; a && b && i < sizeof CODE / sizeof CODE[0]; i++) {
        int32_t *x = NULL, *y = NULL;
        size_t nx = 0, ny = 0;
        CHECK_OK(sqz_tokenizer_encode(a, CODE[i], strlen(CODE[i]), true, &x, &nx));
        CHECK_OK(sqz_tokenizer_encode(b, CODE[i], strlen(CODE[i]), true, &y, &ny));
        CHECK_MSG(ids_equal(x, nx, y, ny), "json and gguf differ on '%s'", CODE[i]);
        free(x);
        free(y);
    }
    CHECK(b && sqz_tokenizer_bos(b) == 1 && sqz_tokenizer_eos(b) == 2 && !sqz_tokenizer_adds_bos(b));
    CHECK(b && sqz_tokenizer_is_eog(b, 2) && strcmp(sqz_tokenizer_pre(b), "smollm") == 0);
    sqz_tokenizer_free(a);
    sqz_tokenizer_free(b);
}

// ---- streaming detokenizer ------------------------------------------------------------------------------------
static bool utf8_complete(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t l = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (i + l > n)
            return false;
        i += l;
    }
    return true;
}

static void test_stream(const char *path, const char *text) {
    sqz_tokenizer *t = NULL;
    CHECK_OK(sqz_tokenizer_load(&t, path));
    if (!t)
        return;
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK_OK(sqz_tokenizer_encode(t, text, strlen(text), true, &ids, &n));
    for (int skip = 0; skip <= 1; skip++) {
        sqz_detok *d = NULL;
        CHECK_OK(sqz_detok_new(&d, t, skip));
        char acc[4096] = "";
        size_t al = 0;
        bool whole = true;
        for (size_t i = 0; d && i <= n; i++) {
            const char *piece;
            size_t pl;
            if (i < n)
                CHECK_OK(sqz_detok_push(d, ids[i], &piece, &pl));
            else
                CHECK_OK(sqz_detok_flush(d, &piece, &pl));
            whole = whole && utf8_complete(piece, pl);
            if (al + pl < sizeof acc) {
                memcpy(acc + al, piece, pl);
                al += pl;
            }
        }
        char *full = NULL;
        size_t fl = 0;
        CHECK_OK(sqz_tokenizer_decode(t, ids, n, skip, &full, &fl));
        CHECK_MSG(full && fl == al && memcmp(full, acc, al) == 0, "%s: stream '%.*s' != decode '%s'", path, (int)al,
                  acc, full ? full : "");
        CHECK_MSG(whole, "%s: a streamed piece ended inside a UTF-8 character", path);
        free(full);
        sqz_detok_free(d);
    }
    const char *p;
    size_t pl;
    sqz_detok *d = NULL;
    CHECK_OK(sqz_detok_new(&d, t, false));
    CHECK_ERR(sqz_detok_push(d, (int32_t)sqz_tokenizer_n_vocab(t), &p, &pl), SQZ_ERR_RANGE, "outside the vocabulary");
    sqz_detok_free(d);
    free(ids);
    sqz_tokenizer_free(t);
}

// A byte-fallback emoji split over four <0xXX> tokens is held back until complete.
static void test_stream_bytes(void) {
    sqz_tokenizer *t = NULL;
    CHECK_OK(sqz_tokenizer_load(&t, VOCAB "ggml-vocab-llama-spm.gguf"));
    if (!t)
        return;
    const unsigned char emoji[4] = {0xF0, 0x9F, 0xA6, 0x99}; // U+1F999
    sqz_detok *d = NULL;
    CHECK_OK(sqz_detok_new(&d, t, true));
    for (int i = 0; i < 4; i++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", emoji[i]);
        int32_t id = sqz_tokenizer_token_to_id(t, name, 6);
        const char *p;
        size_t pl;
        CHECK_OK(sqz_detok_push(d, id, &p, &pl));
        CHECK(i < 3 ? pl == 0 : (pl == 4 && memcmp(p, emoji, 4) == 0));
    }
    const char *p;
    size_t pl;
    int32_t id = sqz_tokenizer_token_to_id(t, "<0xE2>", 6); // incomplete at the end: U+FFFD
    CHECK_OK(sqz_detok_push(d, id, &p, &pl));
    CHECK(pl == 0);
    CHECK_OK(sqz_detok_flush(d, &p, &pl));
    CHECK(pl == 3 && memcmp(p, "\xEF\xBF\xBD", 3) == 0);
    sqz_detok_free(d);
    sqz_tokenizer_free(t);
}

// ---- errors -------------------------------------------------------------------------------------------------------
static void check_json_err(const char *json, sqz_status code, const char *needle) {
    sqz_tokenizer *t = NULL;
    CHECK_ERR(sqz_tokenizer_from_json(&t, json, strlen(json), "t.json"), code, needle);
    CHECK(t == NULL);
}

static void test_errors(void) {
    check_json_err("{\"model\": {\"type\": \"BPE\",\n \"vocab\": {\"a\": 0,}}}", SQZ_ERR_FORMAT, "line 2, column");
    check_json_err("{\"version\": \"1.0\"}", SQZ_ERR_FORMAT, "missing \"model\"");
    check_json_err("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", SQZ_ERR_UNSUPPORTED,
                   "unsupported model type 'Unigram'");
    check_json_err("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a c\"]}}",
                   SQZ_ERR_FORMAT, "references unknown token 'c'");
    check_json_err("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}",
                   SQZ_ERR_FORMAT, "references unknown token 'ab'");
    check_json_err("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                   " \"pre_tokenizer\": {\"type\": \"Frobnicate\"}}",
                   SQZ_ERR_UNSUPPORTED, "unsupported pre_tokenizer type 'Frobnicate'");
    check_json_err("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                   " \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}}}",
                   SQZ_ERR_FORMAT, "bad regex");
    check_json_err("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}", SQZ_ERR_FORMAT,
                   "gives id 0 to both");
    check_json_err("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}", SQZ_ERR_FORMAT,
                   "is not a token id");
    sqz_tokenizer *t = NULL;
    CHECK_ERR(sqz_tokenizer_load(&t, "no/such/tokenizer.json"), SQZ_ERR_IO, "no/such/tokenizer.json");
    CHECK_ERR(sqz_tokenizer_load(&t, VOCAB "ggml-vocab-bert-bge.gguf"), SQZ_ERR_UNSUPPORTED,
              "unsupported tokenizer model 'bert'");
    CHECK_OK(sqz_tokenizer_load(&t, SMOL_JSON));
    int32_t bad = 49152;
    char *s = NULL;
    CHECK_ERR(sqz_tokenizer_decode(t, &bad, 1, false, &s, NULL), SQZ_ERR_RANGE, "outside the vocabulary");
    sqz_tokenizer_free(t);
}

// Small hand-built tokenizer.json exercising normalizers, Metaspace, Split behaviors and added tokens.
static void test_pipeline_pieces(void) {
    const char *json =
        "{\"added_tokens\": [{\"id\": 6, \"content\": \"<x>\", \"special\": true, \"lstrip\": true, \"rstrip\": false,"
        " \"single_word\": false, \"normalized\": false}],"
        " \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFKC\"}, {\"type\": \"Lowercase\"}]},"
        " \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\xE2\x96\x81\", \"prepend_scheme\": \"first\","
        " \"split\": true},"
        " \"decoder\": {\"type\": \"Metaspace\", \"replacement\": \"\xE2\x96\x81\", \"prepend_scheme\": \"first\"},"
        " \"model\": {\"type\": \"BPE\", \"vocab\": {\"\xE2\x96\x81\": 0, \"a\": 1, \"b\": 2, \"\xE2\x96\x81" "a\": 3,"
        " \"ab\": 4, \"\xE2\x96\x81" "ab\": 5}, \"merges\": [[\"a\", \"b\"], [\"\xE2\x96\x81\", \"ab\"],"
        " [\"\xE2\x96\x81\", \"a\"]]}}";
    sqz_tokenizer *t = NULL;
    CHECK_OK(sqz_tokenizer_from_json(&t, json, strlen(json), "inline"));
    if (!t)
        return;
    const char *text = "AB \xEF\xBC\xA1" "b <x>ab"; // fullwidth A -> a by NFKC
    int32_t want[] = {5, 5, 6, 4};               // ▁ab ▁ab <x>(eats the space) ab (no prepend: not at start)
    check_encode(t, "inline", text, strlen(text), 0, want, 4);
    char *s = NULL;
    CHECK_OK(sqz_tokenizer_decode(t, want, 4, false, &s, NULL));
    CHECK_MSG(s && strcmp(s, "ab ab<x>ab") == 0, "decoded '%s'", s ? s : "");
    free(s);
    CHECK(strcmp(sqz_tokenizer_kind(t), "bpe") == 0 && strcmp(sqz_tokenizer_pre(t), "Metaspace") == 0);
    sqz_tokenizer_free(t);
}

int main(void) {
    static const char *const vocabs[] = {"ggml-vocab-deepseek-llm.gguf", "ggml-vocab-falcon.gguf",
                                         "ggml-vocab-gpt-2.gguf",        "ggml-vocab-llama-spm.gguf",
                                         "ggml-vocab-mpt.gguf",          "ggml-vocab-phi-3.gguf",
                                         "ggml-vocab-refact.gguf"};
    for (size_t i = 0; i < sizeof vocabs / sizeof vocabs[0]; i++)
        test_vocab_file(vocabs[i]);
    test_jsonl(SMOL_JSON, SHARED "refs/tokenizers/smollm2/smollm2_tokenizer_public.jsonl", "ids", 0);
    test_jsonl(SMOL_JSON, SHARED "refs/tokenizers/smollm2/smollm2_tokenizer_public.jsonl", "ids", SQZ_TOK_ADD_SPECIAL);
    test_jsonl(SMOL_JSON, SHARED "refs/tokenizers/smollm2/smollm2_tokenizer_public.llamacpp.jsonl", "ids", 0);
    test_jsonl(SHARED "refs/models/aidreams260K-hf", SHARED "refs/models/aidreams260K-hf/tokenizer_check.jsonl",
               "ids_hf_tokenizers_npm", SQZ_TOK_ADD_SPECIAL);
    test_jsonl(SHARED "refs/models/aidreams260K-gguf/aidreams260K.gguf",
               SHARED "refs/models/aidreams260K-hf/tokenizer_check.jsonl", "ids_llamacpp",
               SQZ_TOK_ADD_SPECIAL | SQZ_TOK_NO_PARSE_SPECIAL);
    test_jsonl(SHARED "refs/models/gpt2-tiny-random/hf", SHARED "refs/models/gpt2-tiny-random/tokenizer_check.jsonl",
               "ids", SQZ_TOK_ADD_SPECIAL);
    test_jsonl(SHARED "refs/models/gpt2-tiny-random/gpt2-tiny-random.f32.gguf",
               SHARED "refs/models/gpt2-tiny-random/tokenizer_check.jsonl", "ids_llamacpp", SQZ_TOK_ADD_SPECIAL);
    test_smollm2_gguf_equals_json();
    static const char *const rt[] = {"ggml-vocab-deepseek-coder.gguf", "ggml-vocab-starcoder.gguf",
                                     "ggml-vocab-gpt-neox.gguf",       "ggml-vocab-gpt-2.gguf",
                                     "ggml-vocab-baichuan.gguf",       "ggml-vocab-llama-spm.gguf",
                                     "ggml-vocab-deepseek-llm.gguf",   "ggml-vocab-falcon.gguf"};
    for (size_t i = 0; i < sizeof rt / sizeof rt[0]; i++)
        test_roundtrip_vocab(rt[i]);
    test_stream(SMOL_JSON, "<|im_start|>user\nhéllo 😀 世界 \xF0\x9F\x87\xAB\xF0\x9F\x87\xB7<|im_end|>");
    test_stream(VOCAB "ggml-vocab-llama-spm.gguf", " hello 🦙 wörld 日本");
    test_stream(SHARED "refs/models/aidreams260K-hf", "I dreamed 😀 of Ωmega");
    test_stream_bytes();
    test_pipeline_pieces();
    test_errors();
    return test_summary();
}

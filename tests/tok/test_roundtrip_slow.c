// decode(encode(x)) == x for byte-level tokenizers over every file of the Python corpus (a tar read
// in place: 512-byte ustar headers, data padded to 512 bytes), for the SmolLM2 tokenizer.json, the
// real SmolLM2 GGUF and several llama.cpp vocabularies.
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sqz.h"

#define CORPUS "../shared/data/datasets/python-corpus/cpython-3.11.2-stdlib-toplevel.tar"

static void roundtrip_corpus(const char *path, const char *tar, size_t tar_len) {
    sqz_tokenizer *t = NULL;
    CHECK_OK(sqz_tokenizer_load(&t, path));
    if (!t)
        return;
    size_t files = 0, bytes = 0, tokens = 0, bad = 0;
    for (size_t off = 0; off + 512 <= tar_len;) {
        const char *h = tar + off;
        if (!h[0])
            break; // end-of-archive block
        size_t size = (size_t)strtoull(h + 124, NULL, 8);
        off += 512;
        if (off + size > tar_len) {
            CHECK_MSG(0, "truncated tar member %.100s", h);
            break;
        }
        if (h[156] == '0' || h[156] == 0) {
            int32_t *ids = NULL;
            size_t n = 0, bl = 0;
            char *back = NULL;
            CHECK_OK(sqz_tokenizer_encode(t, tar + off, size, false, &ids, &n));
            CHECK_OK(sqz_tokenizer_decode(t, ids, n, false, &back, &bl));
            bool same = back && bl == size && memcmp(back, tar + off, size) == 0;
            CHECK_MSG(same, "%s: round trip differs on %.100s", path, h);
            bad += !same;
            files++;
            bytes += size;
            tokens += n;
            free(ids);
            free(back);
        }
        off += (size + 511) / 512 * 512;
    }
    printf("%-60s %zu files, %zu bytes, %zu tokens, %zu differ\n", path, files, bytes, tokens, bad);
    CHECK(files > 100);
    sqz_tokenizer_free(t);
}

int main(void) {
    char *tar = NULL;
    size_t len = 0;
    CHECK_OK(sqz_read_file(CORPUS, &tar, &len));
    if (!tar)
        return test_summary();
    roundtrip_corpus("../shared/data/tokenizers/smollm2-135m/tokenizer.json", tar, len);
    static const char *const vocabs[] = {"gpt-2", "deepseek-coder", "starcoder", "gpt-neox", "falcon"};
    for (size_t i = 0; i < sizeof vocabs / sizeof vocabs[0]; i++) {
        char p[256];
        snprintf(p, sizeof p, "../shared/data/tokenizers/vocab-gguf/ggml-vocab-%s.gguf", vocabs[i]);
        roundtrip_corpus(p, tar, len);
    }
    const char *models = getenv("SQZ_MODELS");
    char p[1024];
    snprintf(p, sizeof p, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", models ? models : "");
    FILE *f = fopen(p, "rb");
    if (f) {
        fclose(f);
        roundtrip_corpus(p, tar, len);
    }
    free(tar);
    return test_summary();
}

// Tokenizer throughput: encode the whole Python corpus (every file of the tar, one encode call per
// file) on one thread; prints MB/s (best of --reps runs) and tokens/s for each tokenizer given, by
// default the SmolLM2 tokenizer.json and the real SmolLM2 GGUF.
//   build/bench/tokenizer [--reps N] [TOKENIZER...]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqz.h"

#define CORPUS "../shared/data/datasets/python-corpus/cpython-3.11.2-stdlib-toplevel.tar"

static int bench_one(const char *path, const char *tar, size_t len, int reps) {
    sqz_tokenizer *t = NULL;
    double t0 = sqz_time_now();
    if (sqz_tokenizer_load(&t, path) != SQZ_OK) {
        fprintf(stderr, "bench: %s\n", sqz_last_error());
        return 1;
    }
    double load_s = sqz_time_now() - t0, best = 1e30;
    size_t bytes = 0, tokens = 0;
    for (int r = 0; r < reps; r++) {
        bytes = tokens = 0;
        double s = sqz_time_now();
        for (size_t off = 0; off + 512 <= len && tar[off];) {
            size_t size = (size_t)strtoull(tar + off + 124, NULL, 8);
            off += 512;
            if (off + size > len)
                break;
            int32_t *ids = NULL;
            size_t n = 0;
            if (sqz_tokenizer_encode(t, tar + off, size, false, &ids, &n) != SQZ_OK) {
                fprintf(stderr, "bench: %s\n", sqz_last_error());
                return 1;
            }
            free(ids);
            bytes += size;
            tokens += n;
            off += (size + 511) / 512 * 512;
        }
        double el = sqz_time_now() - s;
        best = el < best ? el : best;
    }
    printf("%-44s %-14s load %6.3f s  encode %7.2f MB/s  %9.0f tokens/s  (%zu bytes -> %zu tokens, best of %d)\n",
           strrchr(path, '/') ? strrchr(path, '/') + 1 : path, sqz_tokenizer_kind(t), load_s, bytes / best / 1e6,
           tokens / best, bytes, tokens, reps);
    sqz_tokenizer_free(t);
    return 0;
}

int main(int argc, char **argv) {
    int reps = 3, first = 1;
    if (argc > 2 && !strcmp(argv[1], "--reps")) {
        reps = atoi(argv[2]);
        first = 3;
    }
    char *tar = NULL;
    size_t len = 0;
    if (sqz_read_file(CORPUS, &tar, &len) != SQZ_OK) {
        fprintf(stderr, "bench: %s (run from the project root)\n", sqz_last_error());
        return 1;
    }
    int rc = 0;
    if (first < argc) {
        for (int i = first; i < argc; i++)
            rc |= bench_one(argv[i], tar, len, reps);
    } else {
        const char *models = getenv("SQZ_MODELS");
        char gguf[1024];
        snprintf(gguf, sizeof gguf, "%s/SmolLM2-135M-Instruct.Q4_1.gguf",
                 models ? models : strcat(strcpy(gguf, getenv("HOME") ? getenv("HOME") : "."), "/.cache/sqz/models"));
        rc |= bench_one("../shared/data/tokenizers/smollm2-135m/tokenizer.json", tar, len, reps);
        rc |= bench_one(gguf, tar, len, reps);
    }
    free(tar);
    return rc;
}

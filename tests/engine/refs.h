// Reading the reference logit files of ../shared/refs/models (LGT1 binary and the JSON form; see
// ../shared/refs/models/aidreams260K-gguf/README.md for both formats).
#ifndef SQZ_TEST_ENGINE_REFS_H
#define SQZ_TEST_ENGINE_REFS_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int n_prompt, n_gen;
    int32_t *ids, *greedy; // greedy may be NULL (n_gen 0)
    float *logits;         // [n_prompt][n_vocab]
} ref_case;

typedef struct {
    int n_cases, n_vocab;
    ref_case *cases;
} ref_file;

static int ref_read_i32(FILE *f, int32_t *v, size_t n) { return fread(v, 4, n, f) == n; }

static int ref_load_bin(ref_file *r, const char *path) {
    FILE *f = fopen(path, "rb");
    char magic[4];
    int32_t hdr[2];
    if (!f || fread(magic, 1, 4, f) != 4 || memcmp(magic, "LGT1", 4) || !ref_read_i32(f, hdr, 2)) {
        if (f)
            fclose(f);
        return 0;
    }
    r->n_cases = hdr[0], r->n_vocab = hdr[1];
    r->cases = calloc((size_t)r->n_cases, sizeof *r->cases);
    for (int i = 0; i < r->n_cases; i++) {
        ref_case *c = &r->cases[i];
        int32_t n;
        if (!ref_read_i32(f, &n, 1))
            return fclose(f), 0;
        c->n_prompt = n;
        c->ids = malloc(4 * (size_t)n);
        ref_read_i32(f, c->ids, (size_t)n);
        ref_read_i32(f, &n, 1);
        c->n_gen = n;
        c->greedy = malloc(4 * (size_t)n + 4);
        ref_read_i32(f, c->greedy, (size_t)n);
        c->logits = malloc(4 * (size_t)c->n_prompt * r->n_vocab);
        if (fread(c->logits, 4, (size_t)c->n_prompt * r->n_vocab, f) != (size_t)c->n_prompt * r->n_vocab)
            return fclose(f), 0;
    }
    fclose(f);
    return 1;
}

static int32_t *ref_json_ids(json_t *a, int *n) {
    *n = a ? (int)json_array_size(a) : 0;
    int32_t *v = malloc(4 * (size_t)*n + 4);
    for (int i = 0; i < *n; i++)
        v[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    return v;
}

static int ref_load_json(ref_file *r, const char *path) {
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root)
        return 0;
    r->n_vocab = (int)json_integer_value(json_object_get(root, "n_vocab"));
    json_t *cases = json_object_get(root, "cases");
    r->n_cases = (int)json_array_size(cases);
    r->cases = calloc((size_t)r->n_cases, sizeof *r->cases);
    for (int i = 0; i < r->n_cases; i++) {
        json_t *jc = json_array_get(cases, (size_t)i);
        ref_case *c = &r->cases[i];
        c->ids = ref_json_ids(json_object_get(jc, "prompt_ids"), &c->n_prompt);
        c->greedy = ref_json_ids(json_object_get(jc, "greedy_ids"), &c->n_gen);
        json_t *lg = json_object_get(jc, "logits");
        c->logits = malloc(4 * (size_t)c->n_prompt * r->n_vocab);
        for (int p = 0; p < c->n_prompt; p++)
            for (int v = 0; v < r->n_vocab; v++)
                c->logits[(size_t)p * r->n_vocab + v] =
                    (float)json_number_value(json_array_get(json_array_get(lg, (size_t)p), (size_t)v));
    }
    json_decref(root);
    return 1;
}

static int ref_load(ref_file *r, const char *path) {
    size_t n = strlen(path);
    return n > 5 && !strcmp(path + n - 5, ".json") ? ref_load_json(r, path) : ref_load_bin(r, path);
}

static void ref_free(ref_file *r) {
    for (int i = 0; i < r->n_cases; i++)
        free(r->cases[i].ids), free(r->cases[i].greedy), free(r->cases[i].logits);
    free(r->cases);
}

#endif

// sqz convert MODEL -o OUT [--type T]: HF directory <-> GGUF (direction chosen from MODEL).
#include <string.h>

#include "cli.h"

// Weight type by name ("keep" = SQZ_TYPE_COUNT). Returns false for unknown names.
static int parse_type(const char *s, sqz_type *out) {
    if (!strcmp(s, "keep") || !strcmp(s, "auto")) {
        *out = SQZ_TYPE_COUNT;
        return 1;
    }
    for (int t = 0; t < SQZ_TYPE_COUNT; t++)
        if (!strcmp(s, sqz_type_name((sqz_type)t))) {
            *out = (sqz_type)t;
            return 1;
        }
    return 0;
}

static void usage(FILE *f) {
    fprintf(f, "usage: sqz convert MODEL -o OUT [--type keep|f32|f16|bf16|q8_0|q4_0|q4_1]\n\n"
               "  MODEL an HF directory (config.json + safetensors + tokenizer) -> OUT a .gguf file\n"
               "        (llama.cpp's tensor names and metadata; q/k rows permuted for llama), or\n"
               "  MODEL a .gguf file -> OUT an HF directory (config.json, model.safetensors, tokenizer.json).\n"
               "  --type  weight type of the matrices (default keep; q8_0/q4_0/q4_1 only for GGUF output;\n"
               "          quantized GGUF weights become F32 in an HF directory unless --type f16/bf16).\n");
}


int sqz_cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    sqz_type type = SQZ_TYPE_COUNT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--out")) && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(a, "--type") && i + 1 < argc) {
            if (!parse_type(argv[++i], &type))
                return cli_usage_error("convert", "unknown --type '%s'", argv[i]);
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("convert", "unknown option '%s' (try --help)", a);
        } else if (!in) {
            in = a;
        } else {
            return cli_usage_error("convert", "unexpected argument '%s'", a);
        }
    }
    if (!in || !out) {
        usage(stderr);
        return 2;
    }
    double t0 = sqz_time_now();
    if (sqz_convert(in, out, type) != SQZ_OK)
        return cli_fail("convert");
    fprintf(stderr, "sqz convert: wrote %s (%.2f s)\n", out, sqz_time_now() - t0);
    return 0;
}

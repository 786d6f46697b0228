// sqz synth --shape S [--type T] [--seed N] [--vocab FILE] -o FILE.gguf: a random-weight model of a
// real shape, for speed measurements without downloads.
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f, "usage: sqz synth --shape SHAPE [--type f32|f16|bf16|q8_0|q4_0|q4_1] [--seed N] [--vocab FILE]"
               " -o FILE.gguf\n\n  shapes:");
    for (const char *const *s = sqz_synth_shapes(); *s; s++)
        fprintf(f, " %s", *s);
    fprintf(f, "\n  --type   matrix weight type (default f16; norms stay f32)\n"
               "  --seed   random seed (default 0)\n"
               "  --vocab  tokenizer.json or .gguf whose vocabulary to embed (its size must match the shape);\n"
               "           default: a byte-level placeholder vocabulary (ids only, no meaningful text)\n");
}


int sqz_cmd_synth(int argc, char **argv) {
    sqz_synth_opts o = {.type = SQZ_TYPE_F16};
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--shape") && has) {
            o.shape = argv[++i];
        } else if (!strcmp(a, "--type") && has) {
            const char *t = argv[++i];
            int found = 0;
            for (int k = 0; k < SQZ_TYPE_COUNT && !found; k++)
                if (!strcmp(t, sqz_type_name((sqz_type)k)))
                    o.type = (sqz_type)k, found = 1;
            if (!found)
                return cli_usage_error("synth", "unknown --type '%s'", t);
        } else if (!strcmp(a, "--seed") && has) {
            long long v;
            if (!cli_parse_int("synth", "--seed", argv[++i], &v))
                return 2;
            o.seed = (uint64_t)v;
        } else if (!strcmp(a, "--vocab") && has) {
            o.vocab = argv[++i];
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--out")) && has) {
            out = argv[++i];
        } else {
            return cli_usage_error("synth", "unknown or incomplete option '%s' (try --help)", a);
        }
    }
    if (!o.shape || !out) {
        usage(stderr);
        return 2;
    }
    double t0 = sqz_time_now();
    if (sqz_synth(&o, out) != SQZ_OK)
        return cli_fail("synth");
    fprintf(stderr, "sqz synth: wrote %s (%.1f s)\n", out, sqz_time_now() - t0);
    return 0;
}

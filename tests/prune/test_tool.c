// Driver the Python reference tests call, and (without arguments) a self-check of it:
//   prune_test_tool run RECIPE N_OUT N_IN N_ROWS W.f32 X.f32|- OUTDIR
// applies the recipe's steps in order to W (pruning steps via sqz_prune_layer, quantization steps
// via sqz_quant_layer, whose result is dequantized for the next step) and writes
// OUTDIR/{w.f32 (final weights), mask.u8 (mask of the last unstructured/N:M step), loss.txt,
// rank.txt (lowrank)}.
//   prune_test_tool structured IN_DIR OUT_DIR LAYERS GROUPS FF [OUT.gguf]
// runs sqz_prune_structured with keep flags given as '0'/'1' strings ('-' = keep all): LAYERS has
// n_layer flags, GROUPS n_layer·n_head_kv, FF n_layer·n_ff (layer-major); with OUT.gguf it also
// converts the result to GGUF and opens it again.
#include <stdlib.h>

#include "harness.h"
#include "sqz/format.h"
#include "sqz/prune.h"

static int write_file(const char *dir, const char *name, const void *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(p, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

static float *read_f32(const char *path, size_t n) {
    FILE *f = fopen(path, "rb");
    float *p = f ? malloc(n * sizeof *p) : NULL;
    if (p && fread(p, sizeof *p, n, f) != n) {
        free(p);
        p = NULL;
    }
    if (f)
        fclose(f);
    return p;
}

static bool is_prune_step(sqz_step_kind k) { return k >= SQZ_STEP_MAGNITUDE && k <= SQZ_STEP_LOWRANK; }

// Apply one step to w in place; mask/rank filled for pruning steps.
static sqz_status apply_step(const sqz_recipe_step *s, float *w, int64_t n_out, int64_t n_in, const sqz_actstats *st,
                             uint8_t *mask, int64_t *rank) {
    if (is_prune_step(s->kind)) {
        sqz_lowrank *lr = NULL;
        sqz_status rc = sqz_prune_layer(s, w, n_out, n_in, st, mask, NULL, &lr);
        if (lr)
            *rank = lr->rank;
        sqz_lowrank_free(lr);
        return rc;
    }
    sqz_quant_out out = {0};
    sqz_status rc = sqz_quant_layer(s, w, n_out, n_in, st, &out);
    if (rc == SQZ_OK && out.qw) {
        sqz_qweight_apply_mask(out.qw, mask); // masks are sticky across later quantization steps
        sqz_qweight_dequant(out.qw, w);
    }
    else if (rc == SQZ_OK)
        rc = sqz_error(SQZ_ERR_UNSUPPORTED, "test tool: step %s has no dequantized form here", s->name);
    sqz_quant_out_clear(&out);
    return rc;
}

static int driver(int argc, char **argv) {
    if (argc < 9) {
        fprintf(stderr, "usage: %s run RECIPE N_OUT N_IN N_ROWS W.f32 X.f32|- OUTDIR\n", argv[0]);
        return 2;
    }
    int64_t n_out = atoll(argv[3]), n_in = atoll(argv[4]), n_rows = atoll(argv[5]), rank = 0;
    const char *dir = argv[8];
    sqz_recipe *r;
    if (sqz_recipe_parse(argv[2], &r) != SQZ_OK) {
        fprintf(stderr, "%s\n", sqz_last_error());
        return 1;
    }
    size_t n = (size_t)(n_out * n_in);
    float *w = read_f32(argv[6], n);
    float *x = strcmp(argv[7], "-") ? read_f32(argv[7], (size_t)(n_rows * n_in)) : NULL;
    uint8_t *mask = malloc(n);
    sqz_actstats *st = NULL;
    int rc = !w || !mask || (strcmp(argv[7], "-") && !x);
    if (!rc && x)
        rc = sqz_actstats_new(n_in, &st) != SQZ_OK || sqz_actstats_add(st, x, n_rows) != SQZ_OK;
    if (mask)
        memset(mask, 1, n);
    for (int i = 0; i < r->n_steps && !rc; i++)
        if (apply_step(&r->steps[i], w, n_out, n_in, st, mask, &rank) != SQZ_OK) {
            fprintf(stderr, "%s\n", sqz_last_error());
            rc = 1;
        }
    if (!rc) {
        char txt[64];
        snprintf(txt, sizeof txt, "%lld\n", (long long)rank);
        rc = write_file(dir, "w.f32", w, n * 4) | write_file(dir, "mask.u8", mask, n) |
             write_file(dir, "rank.txt", txt, strlen(txt));
    }
    sqz_actstats_free(st);
    sqz_recipe_free(r);
    free(w), free(x), free(mask);
    return rc ? 1 : 0;
}

static uint8_t *flags(const char *s, size_t n) {
    if (!strcmp(s, "-"))
        return NULL;
    if (strlen(s) != n) {
        fprintf(stderr, "expected %zu flags, got %zu\n", n, strlen(s));
        exit(2);
    }
    uint8_t *f = malloc(n);
    for (size_t i = 0; i < n; i++)
        f[i] = s[i] == '1';
    return f;
}

static int structured(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s structured IN_DIR OUT_DIR LAYERS GROUPS FF [OUT.gguf]\n", argv[0]);
        return 2;
    }
    sqz_model_file *mf = NULL;
    if (sqz_model_file_open(&mf, argv[2]) != SQZ_OK) {
        fprintf(stderr, "%s\n", sqz_last_error());
        return 1;
    }
    sqz_model_config c = *sqz_model_file_config(mf);
    sqz_model_file_free(mf);
    uint8_t *layers = flags(argv[4], (size_t)c.n_layer);
    uint8_t *groups = flags(argv[5], (size_t)(c.n_layer * c.n_head_kv)), *ff = flags(argv[6], (size_t)(c.n_layer * c.n_ff));
    const uint8_t **g_rows = calloc((size_t)c.n_layer, sizeof *g_rows), **f_rows = calloc((size_t)c.n_layer, sizeof *f_rows);
    for (int64_t l = 0; l < c.n_layer; l++) {
        g_rows[l] = groups ? groups + l * c.n_head_kv : NULL;
        f_rows[l] = ff ? ff + l * c.n_ff : NULL;
    }
    sqz_structured_plan plan = {.n_layer = (int)c.n_layer, .keep_layer = layers,
                                .keep_kv_group = groups ? g_rows : NULL, .keep_ff = ff ? f_rows : NULL};
    int rc = sqz_prune_structured(argv[2], argv[3], &plan) != SQZ_OK;
    if (!rc && argc > 7) {
        rc = sqz_convert_hf_to_gguf(argv[3], argv[7], SQZ_TYPE_COUNT) != SQZ_OK;
        if (!rc)
            rc = sqz_model_file_open(&mf, argv[7]) != SQZ_OK;
        if (!rc) {
            const sqz_model_config *g = sqz_model_file_config(mf);
            printf("gguf: n_layer %lld n_head %lld n_head_kv %lld head_dim %lld n_ff %lld\n", (long long)g->n_layer,
                   (long long)g->n_head, (long long)g->n_head_kv, (long long)g->head_dim, (long long)g->n_ff);
            sqz_model_file_free(mf);
        }
    }
    if (rc)
        fprintf(stderr, "%s\n", sqz_last_error());
    free(layers), free(groups), free(ff), free(g_rows), free(f_rows);
    return rc;
}

// Self-check: every unstructured/N:M step reaches its sparsity through the driver path.
static void self_check(void) {
    int64_t n_out = 16, n_in = 64, n_rows = 200;
    float w[16 * 64], x[200 * 64];
    uint64_t s = 1;
    for (size_t i = 0; i < sizeof x / sizeof *x; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((int)(s >> 40) % 2000) / 1000.0f;
    }
    sqz_actstats *st = NULL;
    CHECK_OK(sqz_actstats_new(n_in, &st));
    CHECK_OK(sqz_actstats_add(st, x, n_rows));
    const char *recipes[] = {"magnitude:sparsity=0.5", "wanda:pattern=2:4", "sparsegpt:sparsity=0.5",
                             "sparsegpt:pattern=2:4,bits=4", "wanda:sparsity=0.5 + gptq:bits=4,group=0"};
    for (int k = 0; k < 5; k++) {
        for (int i = 0; i < 16 * 64; i++)
            w[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
        sqz_recipe *r = NULL;
        CHECK_OK(sqz_recipe_parse(recipes[k], &r));
        uint8_t mask[16 * 64];
        int64_t rank = 0;
        for (int i = 0; r && i < r->n_steps; i++)
            CHECK_OK(apply_step(&r->steps[i], w, n_out, n_in, st, mask, &rank));
        double sp = sqz_sparsity_of(w, (size_t)(n_out * n_in));
        CHECK_MSG(sp >= 0.5 - 1e-9, "%s: sparsity %g", recipes[k], sp);
        sqz_recipe_free(r);
    }
    sqz_actstats_free(st);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "run"))
        return driver(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "structured"))
        return structured(argc, argv);
    self_check();
    return test_summary();
}

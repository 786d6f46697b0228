// GPTQ storage layout round trips (no arguments), and, with arguments, the driver the Python
// reference tests call to run sqz on their matrices:
//   quant_test_tool run RECIPE N_OUT N_IN N_ROWS W.f32 X.f32|- OUTDIR [v1|v2]
// writes OUTDIR/{codes.u8,scales.f32,zeros.i32,g_idx.i32,deq.f32,loss.txt[,in_scales.f32]} for
// rtn/gptq/awq (and, with v1|v2, the packed qweight.i32, qzeros.i32, scales.f16, g_idx_packed.i32,
// config.json), or OUTDIR/{blocks.bin[,imatrix.f32]} for q8_0/q4_0/q4_1/cast.
#include <stdlib.h>

#include "harness.h"
#include "sqz/quant.h"

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

static int write_qweight(const char *dir, const sqz_qweight *q, const char *fmt) {
    size_t n = (size_t)(q->n_out * q->n_in), ng = (size_t)(q->n_groups * q->n_out);
    float *deq = malloc(n * sizeof *deq);
    sqz_qweight_dequant(q, deq);
    int rc = write_file(dir, "codes.u8", q->codes, n) | write_file(dir, "scales.f32", q->scales, ng * 4) |
             write_file(dir, "zeros.i32", q->zeros, ng * 4) |
             write_file(dir, "g_idx.i32", q->g_idx, (size_t)q->n_in * 4) | write_file(dir, "deq.f32", deq, n * 4);
    free(deq);
    if (q->in_scales)
        rc |= write_file(dir, "in_scales.f32", q->in_scales, (size_t)q->n_in * 4);
    char loss[64];
    snprintf(loss, sizeof loss, "%.17g\n", q->loss);
    rc |= write_file(dir, "loss.txt", loss, strlen(loss));
    if (fmt && !rc) {
        sqz_gptq_tensors *t;
        sqz_gptq_format f = !strcmp(fmt, "v2") ? SQZ_GPTQ_V2 : SQZ_GPTQ_V1;
        if (sqz_gptq_pack(q, f, &t) != SQZ_OK) {
            fprintf(stderr, "pack: %s\n", sqz_last_error());
            return -1;
        }
        rc |= write_file(dir, "qweight.i32", t->qweight, (size_t)(t->n_in * t->bits / 32 * t->n_out) * 4) |
              write_file(dir, "qzeros.i32", t->qzeros, (size_t)(t->n_groups * t->n_out * t->bits / 32) * 4) |
              write_file(dir, "scales.f16", t->scales, (size_t)(t->n_groups * t->n_out) * 2) |
              write_file(dir, "g_idx_packed.i32", t->g_idx, (size_t)t->n_in * 4);
        sqz_gptq_tensors_free(t);
    }
    return rc;
}

static int driver(int argc, char **argv) {
    if (argc < 9) {
        fprintf(stderr, "usage: %s run RECIPE N_OUT N_IN N_ROWS W.f32 X.f32|- OUTDIR [v1|v2]\n", argv[0]);
        return 2;
    }
    int64_t n_out = atoll(argv[3]), n_in = atoll(argv[4]), n_rows = atoll(argv[5]);
    const char *dir = argv[8], *fmt = argc > 9 ? argv[9] : NULL;
    sqz_recipe *r;
    if (sqz_recipe_parse(argv[2], &r) != SQZ_OK) {
        fprintf(stderr, "%s\n", sqz_last_error());
        return 1;
    }
    float *w = read_f32(argv[6], (size_t)(n_out * n_in));
    float *x = strcmp(argv[7], "-") ? read_f32(argv[7], (size_t)(n_rows * n_in)) : NULL;
    sqz_actstats *st = NULL;
    int rc = !w || (strcmp(argv[7], "-") && !x);
    if (!rc && x)
        rc = sqz_actstats_new(n_in, &st) != SQZ_OK || sqz_actstats_add(st, x, n_rows) != SQZ_OK;
    sqz_quant_out out = {0};
    if (!rc && sqz_quant_layer(&r->steps[0], w, n_out, n_in, st, &out) != SQZ_OK) {
        fprintf(stderr, "%s\n", sqz_last_error());
        rc = 1;
    }
    if (!rc && out.qw)
        rc = write_qweight(dir, out.qw, fmt);
    else if (!rc)
        rc = write_file(dir, "blocks.bin", out.data, out.nbytes);
    if (!rc && st) {
        float *imp = malloc((size_t)n_in * sizeof *imp);
        sqz_actstats_imatrix(st, imp);
        rc = write_file(dir, "imatrix.f32", imp, (size_t)n_in * 4);
        free(imp);
    }
    if (!rc && fmt && out.qw) {
        char *cfg = sqz_gptq_config_json(&r->steps[0], !strcmp(fmt, "v2") ? SQZ_GPTQ_V2 : SQZ_GPTQ_V1);
        rc = !cfg || write_file(dir, "config.json", cfg, strlen(cfg));
        free(cfg);
    }
    sqz_quant_out_clear(&out);
    sqz_actstats_free(st);
    sqz_recipe_free(r);
    free(w);
    free(x);
    return rc ? 1 : 0;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

// A random qweight with every code and zero in range (zeros >= 1 unless allow_zero0).
static sqz_qweight *random_qweight(int64_t n_out, int64_t n_in, int bits, int group, bool allow_zero0) {
    sqz_qweight *q = NULL;
    float *w = malloc((size_t)(n_out * n_in) * sizeof *w);
    for (int64_t i = 0; i < n_out * n_in; i++)
        w[i] = (float)(rnd() % 2001) / 1000.0f - 1.0f;
    sqz_quant_rtn(w, n_out, n_in, (sqz_qparams){bits, group, false}, &q);
    free(w);
    uint32_t maxq = (1u << bits) - 1;
    for (int64_t i = 0; i < n_out * n_in; i++)
        q->codes[i] = (uint8_t)(rnd() & maxq);
    for (int64_t i = 0; i < q->n_groups * n_out; i++)
        q->zeros[i] = (int32_t)(allow_zero0 ? rnd() & maxq : 1 + rnd() % maxq);
    for (int64_t i = 0; i < n_in; i++) // a scrambled g_idx, as act-order makes
        q->g_idx[i] = (int32_t)(rnd() % (uint32_t)q->n_groups);
    return q;
}

static void test_roundtrip(int bits, sqz_gptq_format fmt) {
    int64_t n_out = 64, n_in = 128;
    sqz_qweight *q = random_qweight(n_out, n_in, bits, 32, fmt == SQZ_GPTQ_V2), *u = NULL;
    sqz_gptq_tensors *t = NULL;
    CHECK_OK(sqz_gptq_pack(q, fmt, &t));
    CHECK_OK(sqz_gptq_unpack(t, fmt, &u));
    if (t && u) {
        CHECK_MSG(!memcmp(q->codes, u->codes, (size_t)(n_out * n_in)), "%d-bit codes round trip", bits);
        CHECK_MSG(!memcmp(q->zeros, u->zeros, (size_t)(q->n_groups * n_out) * 4), "%d-bit zeros round trip", bits);
        CHECK(!memcmp(q->g_idx, u->g_idx, (size_t)n_in * 4));
        CHECK(u->group == 32 && u->n_groups == 4);
        float maxrel = 0.0f;
        for (int64_t i = 0; i < q->n_groups * n_out; i++)
            maxrel = fmaxf(maxrel, fabsf(u->scales[i] - q->scales[i]) / q->scales[i]);
        CHECK_MSG(maxrel < 1e-3f, "fp16 scales rel diff %g", maxrel);
    }
    sqz_gptq_tensors_free(t);
    sqz_qweight_free(q);
    sqz_qweight_free(u);
}

// 3-bit: 32 values in 3 words; value 10 straddles words 0/1 (2 bits + 1 bit), value 21 words 1/2.
static void test_3bit_layout(void) {
    sqz_qweight *q = random_qweight(32, 32, 3, 0, false);
    memset(q->codes, 0, 32 * 32);
    q->codes[10] = 7; // row 0, input 10
    q->codes[21] = 5; // row 0, input 21: 0b101
    q->codes[31] = 7;
    sqz_gptq_tensors *t = NULL;
    CHECK_OK(sqz_gptq_pack(q, SQZ_GPTQ_V1, &t));
    if (t) {
        // qweight is [3][32]: word r of output column 0 is t->qweight[r * 32]
        CHECK((uint32_t)t->qweight[0] == 0xC0000000u);              // low 2 bits of value 10 at 30..31
        CHECK((uint32_t)t->qweight[32] == (0x1u | 0x80000000u));     // its bit 2 at 0; bit 0 of value 21 at 31
        CHECK((uint32_t)t->qweight[64] == (0x2u | (7u << 29)));      // bits 1..2 of value 21 (0b10); value 31 at 29..31
    }
    sqz_gptq_tensors_free(t);
    sqz_qweight_free(q);
}

static void test_errors(void) {
    sqz_qweight *q = random_qweight(32, 64, 4, 32, true);
    sqz_gptq_tensors *t = NULL;
    q->zeros[0] = 0;
    CHECK_ERR(sqz_gptq_pack(q, SQZ_GPTQ_V1, &t), SQZ_ERR_UNSUPPORTED, "cannot be stored in checkpoint_format 'gptq'");
    CHECK_OK(sqz_gptq_pack(q, SQZ_GPTQ_V2, &t));
    sqz_gptq_tensors_free(t);
    q->bits = 5;
    CHECK_ERR(sqz_gptq_pack(q, SQZ_GPTQ_V2, &t), SQZ_ERR_UNSUPPORTED, "5-bit weights have no GPTQ storage layout");
    sqz_qweight_free(q);
    q = random_qweight(12, 64, 3, 0, false);
    CHECK_ERR(sqz_gptq_pack(q, SQZ_GPTQ_V1, &t), SQZ_ERR_ARG, "multiples of 32");
    sqz_qweight_free(q);
}

static void test_config(void) {
    sqz_recipe *r = NULL;
    CHECK_OK(sqz_recipe_parse("gptq:bits=4,group=128,act_order=1 + rtn:bits=8", &r));
    char *s = sqz_gptq_config_json(&r->steps[0], SQZ_GPTQ_V1);
    CHECK(s && strstr(s, "\"quant_method\": \"gptq\"") && strstr(s, "\"bits\": 4") &&
          strstr(s, "\"group_size\": 128") && strstr(s, "\"desc_act\": true") && strstr(s, "\"sym\": true") &&
          strstr(s, "\"damp_percent\": 0.01") && strstr(s, "\"checkpoint_format\": \"gptq\""));
    free(s);
    CHECK(sqz_gptq_config_json(&r->steps[1], SQZ_GPTQ_V1) == NULL && strstr(sqz_last_error(), "rtn"));
    sqz_recipe_free(r);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "run"))
        return driver(argc, argv);
    int bits[] = {2, 3, 4, 8};
    for (int i = 0; i < 4; i++) {
        test_roundtrip(bits[i], SQZ_GPTQ_V1);
        test_roundtrip(bits[i], SQZ_GPTQ_V2);
    }
    test_3bit_layout();
    test_errors();
    test_config();
    return test_summary();
}

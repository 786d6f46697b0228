// The recipe language: parsing, defaults, canonical form, skip patterns, and every error class.
#include <stdlib.h>

#include "harness.h"
#include "sqz/quant.h"

static char *canon(const char *text) {
    sqz_recipe *r = NULL;
    if (sqz_recipe_parse(text, &r) != SQZ_OK)
        return NULL;
    char *s = sqz_recipe_str(r);
    sqz_recipe_free(r);
    return s;
}

static void check_canon(const char *text, const char *want) {
    char *s = canon(text);
    CHECK_MSG(s && !strcmp(s, want), "'%s' -> '%s', want '%s' (%s)", text, s ? s : "(error)", want,
              sqz_last_error());
    free(s);
}

static void test_parse(void) {
    sqz_recipe *r = NULL;
    CHECK_OK(sqz_recipe_parse("gptq:bits=4,group=128,act_order=1,damp=0.01 + cast:bf16", &r));
    if (!r)
        return;
    CHECK(r->n_steps == 2);
    CHECK(r->steps[0].kind == SQZ_STEP_GPTQ && !strcmp(r->steps[0].name, "gptq"));
    CHECK(sqz_step_int(&r->steps[0], "bits") == 4 && sqz_step_int(&r->steps[0], "group") == 128);
    CHECK(sqz_step_int(&r->steps[0], "act_order") == 1 && sqz_step_num(&r->steps[0], "damp") == 0.01);
    CHECK(sqz_step_int(&r->steps[0], "block") == 128 && sqz_step_int(&r->steps[0], "sym") == 1); // defaults
    CHECK(r->steps[1].kind == SQZ_STEP_CAST && !strcmp(sqz_step_str(&r->steps[1], "to"), "bf16"));
    CHECK(sqz_step_needs_calib(&r->steps[0]) && !sqz_step_needs_calib(&r->steps[1]));
    CHECK(sqz_step_str(&r->steps[0], "nokey") == NULL && sqz_step_int(&r->steps[0], "nokey") == 0);
    sqz_recipe_free(r);

    CHECK_OK(sqz_recipe_parse("q4_0", &r));
    CHECK(r && r->n_steps == 1 && r->steps[0].kind == SQZ_STEP_Q4_0 && !sqz_step_needs_calib(&r->steps[0]));
    sqz_recipe_free(r);
    CHECK_OK(sqz_recipe_parse("q4_1:imatrix=1", &r));
    CHECK(r && sqz_step_needs_calib(&r->steps[0]));
    sqz_recipe_free(r);
    sqz_recipe_free(NULL);
}

static void test_canonical(void) {
    check_canon("rtn:bits=8", "rtn:bits=8,group=0,sym=1");
    check_canon(" rtn:bits=4 ", "rtn:bits=4,group=0,sym=1");
    check_canon("cast:f16", "cast:to=f16");
    check_canon("cast:to=bf16", "cast:to=bf16");
    check_canon("gptq:damp=0.1,bits=3", "gptq:bits=3,group=128,act_order=0,damp=0.1,static_groups=0,sym=1,block=128");
    check_canon("awq:bits=4,group=128", "awq:bits=4,group=128,sym=0,clip=1,grid=20");
    check_canon("rtn:bits=4 , group=32 + q8_0", "rtn:bits=4,group=32,sym=1 + q8_0:imatrix=0");
    check_canon("q4_0:skip=*.0.*;lm_head*", "q4_0:imatrix=0,skip=*.0.*;lm_head*");
    // the same meaning prints the same
    char *a = canon("gptq:act_order=1,bits=4"), *b = canon("gptq:bits=4,group=128,act_order=1,damp=0.01");
    CHECK(a && b && !strcmp(a, b));
    free(a);
    free(b);
}

static void test_skip(void) {
    sqz_recipe *r = NULL;
    CHECK_OK(sqz_recipe_parse("rtn:bits=8", &r));
    const sqz_recipe_step *s = &r->steps[0];
    CHECK(sqz_step_skips(s, "model.embed_tokens.weight"));
    CHECK(sqz_step_skips(s, "lm_head.weight"));
    CHECK(sqz_step_skips(s, "token_embd.weight") && sqz_step_skips(s, "output.weight"));
    CHECK(sqz_step_skips(s, "transformer.wte.weight"));
    CHECK(!sqz_step_skips(s, "model.layers.0.self_attn.q_proj.weight"));
    CHECK(!sqz_step_skips(s, "blk.0.attn_output.weight"));
    sqz_recipe_free(r);
    CHECK_OK(sqz_recipe_parse("rtn:bits=8,skip=*.mlp.*;*layers.0.*", &r));
    s = &r->steps[0];
    CHECK(sqz_step_skips(s, "model.layers.3.mlp.down_proj.weight"));
    CHECK(sqz_step_skips(s, "model.layers.0.self_attn.q_proj.weight"));
    CHECK(!sqz_step_skips(s, "model.layers.1.self_attn.q_proj.weight"));
    CHECK(!sqz_step_skips(s, "lm_head.weight")); // an explicit list replaces the default
    sqz_recipe_free(r);
    CHECK_OK(sqz_recipe_parse("q8_0:skip=none", &r));
    CHECK(!sqz_step_skips(&r->steps[0], "lm_head.weight"));
    sqz_recipe_free(r);
}

#define BAD(text, needle)                                                                                  \
    do {                                                                                                   \
        sqz_recipe *r_ = (sqz_recipe *)1;                                                                  \
        CHECK_ERR(sqz_recipe_parse(text, &r_), SQZ_ERR_ARG, needle);                                      \
        CHECK(r_ == NULL);                                                                                 \
    } while (0)

static void test_errors(void) {
    BAD("gptq:bits=5x", "recipe 'gptq:bits=5x': bits: expected an integer in 2..8, got '5x'");
    BAD("gptq:bits=9", "bits: expected an integer in 2..8, got '9'");
    BAD("rtn:bits=", "bits: expected an integer in 2..8, got ''");
    BAD("gptq:bitz=4", "gptq: unknown key 'bitz' (valid keys: bits, group, act_order, damp, static_groups, sym, "
                       "block, skip)");
    BAD("gptqq:bits=4", "unknown step 'gptqq' (known steps: cast, rtn, gptq, awq, q8_0, q4_0, q4_1");
    BAD("rtn:group=48", "group: expected 0 (per channel) or a power of two in 8..65536, got '48'");
    BAD("rtn:group=-32", "group: expected 0 (per channel) or a power of two");
    BAD("gptq:act_order=yes", "act_order: expected 0 or 1, got 'yes'");
    BAD("gptq:damp=2", "damp: expected a number in 0..1, got '2'");
    BAD("gptq:damp=nan", "damp: expected a number in 0..1, got 'nan'");
    BAD("cast:f32", "to: expected one of f16|bf16, got 'f32'");
    BAD("rtn:4", "rtn: expected key=value, got '4' (keys: bits, group, sym, skip)");
    BAD("rtn:bits=4,bits=8", "key 'bits' given twice");
    BAD("rtn:bits=4,", "rtn: empty key=value item");
    BAD("rtn:", "rtn: nothing after ':'");
    BAD("rtn:bits=4 + ", "empty step");
    BAD("", "empty step");
    BAD("+ q4_0", "empty step");
    BAD("q4_0:skip=", "skip: empty pattern list");
    BAD("gptq:static_groups=1,group=0", "static_groups=1 needs group > 0");
    BAD("awq:grid=0", "grid: expected an integer in 1..1000, got '0'");
    CHECK_ERR(sqz_recipe_parse(NULL, &(sqz_recipe *){NULL}), SQZ_ERR_ARG, "NULL");
}

int main(void) {
    test_parse();
    test_canonical();
    test_skip();
    test_errors();
    return test_summary();
}

// The recipe language: `step (+ step)*`, `step = name[:key=value(,key=value)*]`. The table below
// is the whole grammar of values: adding a step (pruning: magnitude, wanda, sparsegpt, heads, mlp,
// layers, lowrank) is adding a row with its keys.
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sqz/quant.h"

typedef enum key_type {
    K_INT,   // integer in [lo, hi]
    K_GROUP, // 0 (per channel) or a power of two in [lo, hi]
    K_BOOL,  // 0 | 1
    K_FLOAT, // real in [lo, hi]
    K_ENUM,  // one of choices ('|'-separated)
    K_LIST,  // ';'-separated glob patterns
    K_NM,    // "none" or an N:M sparsity pattern, 1 <= N < M, M a power of two in [lo, hi]
} key_type;

typedef struct key_def {
    const char *key;
    key_type type;
    double lo, hi;
    const char *def;     // default, as recipe text
    const char *choices; // K_ENUM
} key_def;

typedef struct step_def {
    const char *name;
    sqz_step_kind kind;
    const char *positional; // key a bare value sets ("cast:bf16" = "cast:to=bf16"), or NULL
    key_def keys[SQZ_STEP_MAX_PARAMS];
} step_def;

// Embeddings and the output head in HF (Llama, GPT-2) and GGUF naming.
#define DEFAULT_SKIP "*embed_tokens*;*lm_head*;*wte*;*wpe*;token_embd.*;output.*"
#define SKIP_KEY {"skip", K_LIST, 0, 0, DEFAULT_SKIP, NULL}
#define BITS_KEY(d) {"bits", K_INT, 2, 8, d, NULL}
#define GROUP_KEY(d) {"group", K_GROUP, 8, 65536, d, NULL}
#define SYM_KEY(d) {"sym", K_BOOL, 0, 1, d, NULL}
#define IMATRIX_KEY {"imatrix", K_BOOL, 0, 1, "0", NULL}
// Pruning: sparsity is checked to be < 1 in step_validate (ranges here are inclusive).
#define SPARSITY_KEY {"sparsity", K_FLOAT, 0, 1, "0.5", NULL}
#define PATTERN_KEY {"pattern", K_NM, 4, 64, "none", NULL}

static const step_def STEPS[] = {
    {"cast", SQZ_STEP_CAST, "to", {{"to", K_ENUM, 0, 0, "f16", "f16|bf16"}, SKIP_KEY}},
    {"rtn", SQZ_STEP_RTN, NULL, {BITS_KEY("8"), GROUP_KEY("0"), SYM_KEY("1"), SKIP_KEY}},
    {"gptq", SQZ_STEP_GPTQ, NULL,
     {BITS_KEY("4"), GROUP_KEY("128"), {"act_order", K_BOOL, 0, 1, "0", NULL},
      {"damp", K_FLOAT, 0, 1, "0.01", NULL}, {"static_groups", K_BOOL, 0, 1, "0", NULL}, SYM_KEY("1"),
      {"block", K_INT, 1, 4096, "128", NULL}, SKIP_KEY}},
    {"awq", SQZ_STEP_AWQ, NULL,
     {BITS_KEY("4"), GROUP_KEY("128"), SYM_KEY("0"), {"clip", K_BOOL, 0, 1, "1", NULL},
      {"grid", K_INT, 1, 1000, "20", NULL}, SKIP_KEY}},
    {"q8_0", SQZ_STEP_Q8_0, NULL, {IMATRIX_KEY, SKIP_KEY}},
    {"q4_0", SQZ_STEP_Q4_0, NULL, {IMATRIX_KEY, SKIP_KEY}},
    {"q4_1", SQZ_STEP_Q4_1, NULL, {IMATRIX_KEY, SKIP_KEY}},
    {"magnitude", SQZ_STEP_MAGNITUDE, NULL,
     {SPARSITY_KEY, {"scope", K_ENUM, 0, 0, "layer", "layer|global"}, PATTERN_KEY, SKIP_KEY}},
    {"wanda", SQZ_STEP_WANDA, NULL, {SPARSITY_KEY, PATTERN_KEY, SKIP_KEY}},
    {"sparsegpt", SQZ_STEP_SPARSEGPT, NULL,
     {SPARSITY_KEY, PATTERN_KEY, {"bits", K_INT, 0, 8, "0", NULL}, GROUP_KEY("0"), SYM_KEY("0"),
      {"damp", K_FLOAT, 0, 1, "0.01", NULL}, {"block", K_INT, 1, 4096, "128", NULL}, SKIP_KEY}},
    {"heads", SQZ_STEP_HEADS, NULL, {{"drop", K_INT, 1, 4096, "1", NULL}, SKIP_KEY}},
    {"mlp", SQZ_STEP_MLP, NULL, {{"channels", K_FLOAT, 0, 1, "0.25", NULL}, SKIP_KEY}},
    {"layers", SQZ_STEP_LAYERS, NULL, {{"drop", K_INT, 1, 4096, "1", NULL}, SKIP_KEY}},
    {"lowrank", SQZ_STEP_LOWRANK, NULL,
     {{"rank", K_INT, 0, 1 << 20, "0", NULL}, {"energy", K_FLOAT, 0, 1, "0", NULL},
      {"act", K_BOOL, 0, 1, "0", NULL}, SKIP_KEY}},
};
#define N_STEPS (int)(sizeof(STEPS) / sizeof(STEPS[0]))

static int n_keys(const step_def *d) {
    int n = 0;
    while (n < SQZ_STEP_MAX_PARAMS && d->keys[n].key)
        n++;
    return n;
}

static const step_def *step_def_of(sqz_step_kind kind) {
    for (int i = 0; i < N_STEPS; i++)
        if (STEPS[i].kind == kind)
            return &STEPS[i];
    return NULL;
}

static int key_index(const step_def *d, const char *key, size_t len) {
    for (int i = 0; i < n_keys(d); i++)
        if (strlen(d->keys[i].key) == len && memcmp(d->keys[i].key, key, len) == 0)
            return i;
    return -1;
}

// "bits, group, sym, skip" — for the unknown-key message.
static void key_list(const step_def *d, char *buf, size_t cap) {
    buf[0] = 0;
    for (int i = 0; i < n_keys(d); i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i ? ", " : "", d->keys[i].key);
}

static bool parse_long(const char *v, long *out) {
    if (!*v)
        return false;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (*end || errno)
        return false;
    *out = x;
    return true;
}

static bool enum_has(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && memcmp(p, v, n) == 0)
            return true;
        if (!bar)
            break;
        p = bar + 1;
    }
    return false;
}

// "none", or "N:M" with 1 <= N < M and M a power of two in [k->lo, k->hi].
static sqz_status check_nm(const char *ctx, const key_def *k, const char *v) {
    if (!strcmp(v, "none"))
        return SQZ_OK;
    const char *colon = strchr(v, ':');
    char nbuf[32];
    long n, m;
    bool ok = colon && (size_t)(colon - v) < sizeof nbuf;
    if (ok) {
        memcpy(nbuf, v, (size_t)(colon - v));
        nbuf[colon - v] = 0;
        ok = parse_long(nbuf, &n) && parse_long(colon + 1, &m);
    }
    SQZ_FAIL_IF(!ok, SQZ_ERR_ARG, "recipe '%s': %s: expected N:M (e.g. 2:4) or none, got '%s'", ctx, k->key, v);
    SQZ_FAIL_IF(m < k->lo || m > k->hi || (m & (m - 1)), SQZ_ERR_ARG,
                "recipe '%s': %s: M must be a power of two in %.0f..%.0f, got '%s'", ctx, k->key, k->lo, k->hi, v);
    SQZ_FAIL_IF(n < 1 || n >= m, SQZ_ERR_ARG, "recipe '%s': %s: N must satisfy 1 <= N < M, got '%s'", ctx, k->key,
                v);
    return SQZ_OK;
}

// Check `v` against the key's type and range; fill num/str of parameter i. `ctx` is the recipe.
static sqz_status set_value(const char *ctx, const key_def *k, const char *v, sqz_recipe_step *s, int i) {
    long x;
    switch (k->type) {
    case K_INT:
        SQZ_FAIL_IF(!parse_long(v, &x) || x < k->lo || x > k->hi, SQZ_ERR_ARG,
                    "recipe '%s': %s: expected an integer in %.0f..%.0f, got '%s'", ctx, k->key, k->lo, k->hi, v);
        s->num[i] = (double)x;
        return SQZ_OK;
    case K_GROUP:
        SQZ_FAIL_IF(!parse_long(v, &x) || (x != 0 && (x < k->lo || x > k->hi || (x & (x - 1)))), SQZ_ERR_ARG,
                    "recipe '%s': %s: expected 0 (per channel) or a power of two in %.0f..%.0f, got '%s'", ctx,
                    k->key, k->lo, k->hi, v);
        s->num[i] = (double)x;
        return SQZ_OK;
    case K_BOOL:
        SQZ_FAIL_IF(strcmp(v, "0") && strcmp(v, "1"), SQZ_ERR_ARG, "recipe '%s': %s: expected 0 or 1, got '%s'", ctx,
                    k->key, v);
        s->num[i] = v[0] == '1';
        return SQZ_OK;
    case K_FLOAT: {
        char *end;
        double d = *v ? strtod(v, &end) : NAN;
        SQZ_FAIL_IF(!*v || *end || !isfinite(d) || d < k->lo || d > k->hi, SQZ_ERR_ARG,
                    "recipe '%s': %s: expected a number in %g..%g, got '%s'", ctx, k->key, k->lo, k->hi, v);
        s->num[i] = d;
        return SQZ_OK;
    }
    case K_ENUM:
        SQZ_FAIL_IF(!enum_has(k->choices, v), SQZ_ERR_ARG, "recipe '%s': %s: expected one of %s, got '%s'", ctx,
                    k->key, k->choices, v);
        break;
    case K_NM:
        SQZ_TRY(check_nm(ctx, k, v));
        break;
    case K_LIST:
        SQZ_FAIL_IF(!*v, SQZ_ERR_ARG, "recipe '%s': %s: empty pattern list (write %s=none to skip nothing)", ctx,
                    k->key, k->key);
        for (const char *p = v; *p; p++)
            SQZ_FAIL_IF(*p == ' ' || *p == '+' || *p == ',' || *p == ':' || *p == '=', SQZ_ERR_ARG,
                        "recipe '%s': %s: character '%c' not allowed in a pattern, got '%s'", ctx, k->key, *p, v);
        break;
    }
    free(s->str[i]);
    s->str[i] = strdup(v);
    SQZ_FAIL_IF(!s->str[i], SQZ_ERR_NOMEM, "recipe '%s': out of memory", ctx);
    return SQZ_OK;
}

static char *trim_dup(const char *p, size_t len) {
    while (len && isspace((unsigned char)*p))
        p++, len--;
    while (len && isspace((unsigned char)p[len - 1]))
        len--;
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, p, len);
        s[len] = 0;
    }
    return s;
}

// Cross-key rules of a step, checked once all keys are set.
static sqz_status step_validate(const char *ctx, const sqz_recipe_step *s) {
    if (s->kind == SQZ_STEP_GPTQ)
        SQZ_FAIL_IF(sqz_step_int(s, "static_groups") && sqz_step_int(s, "group") == 0, SQZ_ERR_ARG,
                    "recipe '%s': static_groups=1 needs group > 0", ctx);
    if (s->kind == SQZ_STEP_MAGNITUDE || s->kind == SQZ_STEP_WANDA || s->kind == SQZ_STEP_SPARSEGPT) {
        SQZ_FAIL_IF(sqz_step_num(s, "sparsity") >= 1.0, SQZ_ERR_ARG,
                    "recipe '%s': %s: sparsity must be in [0, 1), got %g", ctx, s->name, sqz_step_num(s, "sparsity"));
        const char *pat = sqz_step_str(s, "pattern");
        long n, m;
        if (strcmp(pat, "none") && s->given[0] && sscanf(pat, "%ld:%ld", &n, &m) == 2)
            SQZ_FAIL_IF(fabs(sqz_step_num(s, "sparsity") - (1.0 - (double)n / (double)m)) > 1e-9, SQZ_ERR_ARG,
                        "recipe '%s': %s: sparsity=%g contradicts pattern=%s (which means sparsity %g)", ctx, s->name,
                        sqz_step_num(s, "sparsity"), pat, 1.0 - (double)n / (double)m);
    }
    if (s->kind == SQZ_STEP_MAGNITUDE)
        SQZ_FAIL_IF(strcmp(sqz_step_str(s, "pattern"), "none") && !strcmp(sqz_step_str(s, "scope"), "global"),
                    SQZ_ERR_ARG, "recipe '%s': magnitude: scope=global cannot be combined with an N:M pattern", ctx);
    if (s->kind == SQZ_STEP_SPARSEGPT)
        SQZ_FAIL_IF(sqz_step_int(s, "bits") == 1, SQZ_ERR_ARG,
                    "recipe '%s': sparsegpt: bits must be 0 (no quantization) or 2..8, got 1", ctx);
    if (s->kind == SQZ_STEP_MLP)
        SQZ_FAIL_IF(sqz_step_num(s, "channels") <= 0.0 || sqz_step_num(s, "channels") >= 1.0, SQZ_ERR_ARG,
                    "recipe '%s': mlp: channels (fraction of MLP channels to remove) must be in (0, 1), got %g", ctx,
                    sqz_step_num(s, "channels"));
    if (s->kind == SQZ_STEP_LOWRANK) {
        bool r = s->given[0], e = s->given[1];
        SQZ_FAIL_IF(r == e, SQZ_ERR_ARG, "recipe '%s': lowrank: give exactly one of rank=R or energy=E", ctx);
        SQZ_FAIL_IF(r && sqz_step_int(s, "rank") < 1, SQZ_ERR_ARG, "recipe '%s': lowrank: rank must be >= 1, got %d",
                    ctx, sqz_step_int(s, "rank"));
        SQZ_FAIL_IF(e && sqz_step_num(s, "energy") <= 0.0, SQZ_ERR_ARG,
                    "recipe '%s': lowrank: energy must be in (0, 1], got %g", ctx, sqz_step_num(s, "energy"));
    }
    return SQZ_OK;
}

// Parse one `key=value` (or a bare positional value) into step s.
static sqz_status parse_assign(const char *ctx, const step_def *d, const char *item, sqz_recipe_step *s) {
    const char *eq = strchr(item, '=');
    const char *key = eq ? item : d->positional;
    if (!eq && !d->positional) {
        char keys[256];
        key_list(d, keys, sizeof keys);
        return sqz_error(SQZ_ERR_ARG, "recipe '%s': %s: expected key=value, got '%s' (keys: %s)", ctx, d->name, item,
                         keys);
    }
    size_t klen = eq ? (size_t)(eq - item) : strlen(key);
    int ki = key_index(d, key, klen);
    if (ki < 0) {
        char keys[256];
        key_list(d, keys, sizeof keys);
        return sqz_error(SQZ_ERR_ARG, "recipe '%s': %s: unknown key '%.*s' (valid keys: %s)", ctx, d->name, (int)klen,
                         key, keys);
    }
    SQZ_FAIL_IF(s->given[ki], SQZ_ERR_ARG, "recipe '%s': %s: key '%s' given twice", ctx, d->name, d->keys[ki].key);
    s->given[ki] = true;
    return set_value(ctx, &d->keys[ki], eq ? eq + 1 : item, s, ki);
}

static void step_clear(sqz_recipe_step *s) {
    for (int i = 0; i < SQZ_STEP_MAX_PARAMS; i++) {
        free(s->str[i]);
        s->str[i] = NULL;
    }
}

// Parse one step `name[:k=v,...]` (text already trimmed) into s.
static sqz_status parse_step(const char *ctx, const char *text, sqz_recipe_step *s) {
    SQZ_FAIL_IF(!*text, SQZ_ERR_ARG, "recipe '%s': empty step", ctx);
    const char *colon = strchr(text, ':');
    size_t nlen = colon ? (size_t)(colon - text) : strlen(text);
    const step_def *d = NULL;
    for (int i = 0; i < N_STEPS; i++)
        if (strlen(STEPS[i].name) == nlen && memcmp(STEPS[i].name, text, nlen) == 0)
            d = &STEPS[i];
    if (!d) {
        char names[256] = "";
        for (int i = 0; i < N_STEPS; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", STEPS[i].name);
        return sqz_error(SQZ_ERR_ARG, "recipe '%s': unknown step '%.*s' (known steps: %s)", ctx, (int)nlen, text,
                         names);
    }
    memset(s, 0, sizeof *s);
    s->kind = d->kind;
    s->name = d->name;
    s->n_params = n_keys(d);
    for (int i = 0; i < s->n_params; i++)
        SQZ_TRY(set_value(ctx, &d->keys[i], d->keys[i].def, s, i));
    if (colon) {
        SQZ_FAIL_IF(!colon[1], SQZ_ERR_ARG, "recipe '%s': %s: nothing after ':'", ctx, d->name);
        for (const char *p = colon + 1;;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            char *item = trim_dup(p, len);
            SQZ_FAIL_IF(!item, SQZ_ERR_NOMEM, "recipe '%s': out of memory", ctx);
            sqz_status st = *item ? parse_assign(ctx, d, item, s)
                                  : sqz_error(SQZ_ERR_ARG, "recipe '%s': %s: empty key=value item", ctx, d->name);
            free(item);
            SQZ_TRY(st);
            if (!comma)
                break;
            p = comma + 1;
        }
    }
    return step_validate(ctx, s);
}

sqz_status sqz_recipe_parse(const char *text, sqz_recipe **out) {
    *out = NULL;
    SQZ_FAIL_IF(!text, SQZ_ERR_ARG, "recipe: NULL text");
    sqz_recipe *r = calloc(1, sizeof *r);
    SQZ_FAIL_IF(!r, SQZ_ERR_NOMEM, "recipe: out of memory");
    sqz_status st = SQZ_OK;
    for (const char *p = text; st == SQZ_OK;) {
        const char *plus = strchr(p, '+');
        char *piece = trim_dup(p, plus ? (size_t)(plus - p) : strlen(p));
        sqz_recipe_step *grown = realloc(r->steps, (size_t)(r->n_steps + 1) * sizeof *grown);
        if (!piece || !grown) {
            free(piece);
            if (grown)
                r->steps = grown;
            st = sqz_error(SQZ_ERR_NOMEM, "recipe: out of memory");
            break;
        }
        r->steps = grown;
        memset(&r->steps[r->n_steps], 0, sizeof *grown);
        st = parse_step(text, piece, &r->steps[r->n_steps]);
        r->n_steps++; // counted even on failure so its strings are freed
        free(piece);
        if (!plus)
            break;
        p = plus + 1;
    }
    if (st != SQZ_OK) {
        sqz_recipe_free(r);
        return st;
    }
    *out = r;
    return SQZ_OK;
}

void sqz_recipe_free(sqz_recipe *r) {
    if (!r)
        return;
    for (int i = 0; i < r->n_steps; i++)
        step_clear(&r->steps[i]);
    free(r->steps);
    free(r);
}

// Shortest decimal text that reads back to the same double.
static void fmt_num(char *buf, size_t cap, double v) {
    if (v == (double)(long long)v && fabs(v) < 1e15) {
        snprintf(buf, cap, "%lld", (long long)v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

char *sqz_recipe_str(const sqz_recipe *r) {
    size_t cap = 256, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    buf[0] = 0;
    for (int si = 0; si < r->n_steps; si++) {
        const sqz_recipe_step *s = &r->steps[si];
        const step_def *d = step_def_of(s->kind);
        char piece[1024];
        int n = snprintf(piece, sizeof piece, "%s%s", si ? " + " : "", s->name);
        for (int i = 0; i < s->n_params && n < (int)sizeof piece; i++) {
            const key_def *k = &d->keys[i];
            char val[64];
            const char *v = s->str[i];
            if (k->type == K_LIST && !strcmp(v, k->def))
                continue;
            if (!v) {
                fmt_num(val, sizeof val, s->num[i]);
                v = val;
            }
            n += snprintf(piece + n, sizeof piece - (size_t)n, "%s%s=%s", i ? "," : ":", k->key, v);
        }
        size_t plen = strlen(piece); // long skip lists are cut at sizeof piece; they are rare
        if (len + plen + 1 > cap) {
            cap = (len + plen + 1) * 2;
            char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                return NULL;
            }
            buf = grown;
        }
        memcpy(buf + len, piece, plen + 1);
        len += plen;
    }
    return buf;
}

static int param_index(const sqz_recipe_step *s, const char *key) {
    const step_def *d = step_def_of(s->kind);
    return d ? key_index(d, key, strlen(key)) : -1;
}

double sqz_step_num(const sqz_recipe_step *s, const char *key) {
    int i = param_index(s, key);
    return i < 0 ? 0.0 : s->num[i];
}

int sqz_step_int(const sqz_recipe_step *s, const char *key) { return (int)sqz_step_num(s, key); }

const char *sqz_step_str(const sqz_recipe_step *s, const char *key) {
    int i = param_index(s, key);
    return i < 0 ? NULL : s->str[i];
}

bool sqz_step_skips(const sqz_recipe_step *s, const char *name) {
    const char *list = sqz_step_str(s, "skip");
    if (!list || !strcmp(list, "none"))
        return false;
    char pat[256];
    for (const char *p = list; *p;) {
        const char *semi = strchr(p, ';');
        size_t len = semi ? (size_t)(semi - p) : strlen(p);
        if (len && len < sizeof pat) {
            memcpy(pat, p, len);
            pat[len] = 0;
            if (fnmatch(pat, name, 0) == 0)
                return true;
        }
        if (!semi)
            break;
        p = semi + 1;
    }
    return false;
}

bool sqz_step_needs_calib(const sqz_recipe_step *s) {
    switch (s->kind) {
    case SQZ_STEP_GPTQ:
    case SQZ_STEP_AWQ:
    case SQZ_STEP_WANDA:
    case SQZ_STEP_SPARSEGPT:
    case SQZ_STEP_HEADS:
    case SQZ_STEP_MLP:
    case SQZ_STEP_LAYERS:
        return true;
    case SQZ_STEP_LOWRANK:
        return sqz_step_int(s, "act") != 0;
    case SQZ_STEP_Q8_0:
    case SQZ_STEP_Q4_0:
    case SQZ_STEP_Q4_1:
        return sqz_step_int(s, "imatrix") != 0;
    default:
        return false;
    }
}

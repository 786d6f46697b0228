// Loader for Hugging Face tokenizer.json (the `tokenizers` library's serialization): model BPE,
// added_tokens, normalizer, pre_tokenizer, post_processor and decoder, each possibly a Sequence.
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

typedef struct {
    const char *name; // file name for messages
    sqz_tokenizer *t;
} ctx;

static const char *jstr(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool jbool(json_t *o, const char *key, bool def) {
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

static char *dup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

static sqz_status dup_json_str(const ctx *c, json_t *v, const char *what, char **out, size_t *len) {
    SQZ_FAIL_IF(!json_is_string(v), SQZ_ERR_FORMAT, "%s: %s must be a string", c->name, what);
    *len = json_string_length(v);
    *out = dup_n(json_string_value(v), *len);
    SQZ_FAIL_IF(!*out, SQZ_ERR_NOMEM, "tokenizer: out of memory");
    return SQZ_OK;
}

// A {"String": s} or {"Regex": r} pattern: literal into str, or compiled into re.
static sqz_status parse_pattern(const ctx *c, json_t *pat, const char *what, tok_step *st) {
    json_t *s = json_object_get(pat, "String"), *r = json_object_get(pat, "Regex");
    if (json_is_string(s))
        return dup_json_str(c, s, what, &st->str, &st->str_len);
    SQZ_FAIL_IF(!json_is_string(r), SQZ_ERR_FORMAT, "%s: %s pattern must be {\"String\": ...} or {\"Regex\": ...}",
                c->name, what);
    return tok_regex_compile(&st->re, json_string_value(r), json_string_length(r), 0, c->name);
}

static sqz_status add_step(tok_step **v, size_t *n, tok_step s) {
    tok_step *p = realloc(*v, (*n + 1) * sizeof *p);
    if (!p) {
        tok_step_free(&s);
        return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory");
    }
    p[(*n)++] = s;
    *v = p;
    return SQZ_OK;
}

// ---- normalizers ------------------------------------------------------------------------------------
static sqz_status parse_normalizer(ctx *c, json_t *n) {
    if (json_is_null(n) || !n)
        return SQZ_OK;
    const char *type = jstr(n, "type");
    SQZ_FAIL_IF(!type, SQZ_ERR_FORMAT, "%s: normalizer without a \"type\"", c->name);
    sqz_tokenizer *t = c->t;
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(n, "normalizers");
        SQZ_FAIL_IF(!json_is_array(list), SQZ_ERR_FORMAT, "%s: Sequence normalizer without \"normalizers\"", c->name);
        for (size_t i = 0; i < json_array_size(list); i++)
            SQZ_TRY(parse_normalizer(c, json_array_get(list, i)));
        return SQZ_OK;
    }
    tok_step s = {0};
    sqz_status st = SQZ_OK;
    if (!strcmp(type, "NFC"))
        s.kind = NORM_NFC;
    else if (!strcmp(type, "NFD"))
        s.kind = NORM_NFD;
    else if (!strcmp(type, "NFKC"))
        s.kind = NORM_NFKC;
    else if (!strcmp(type, "NFKD"))
        s.kind = NORM_NFKD;
    else if (!strcmp(type, "Lowercase"))
        s.kind = NORM_LOWER;
    else if (!strcmp(type, "Prepend")) {
        s.kind = NORM_PREPEND;
        st = dup_json_str(c, json_object_get(n, "prepend"), "Prepend.prepend", &s.str, &s.str_len);
    } else if (!strcmp(type, "Replace")) {
        s.kind = NORM_REPLACE;
        st = parse_pattern(c, json_object_get(n, "pattern"), "Replace normalizer", &s);
        if (st == SQZ_OK)
            st = dup_json_str(c, json_object_get(n, "content"), "Replace.content", &s.str2, &s.str2_len);
    } else if (!strcmp(type, "Strip")) {
        s.kind = NORM_STRIP;
        s.flag_a = jbool(n, "strip_left", true);
        s.flag_b = jbool(n, "strip_right", true);
    } else {
        return sqz_error(SQZ_ERR_UNSUPPORTED, "%s: unsupported normalizer type '%s'", c->name, type);
    }
    if (st != SQZ_OK) {
        tok_step_free(&s);
        return st;
    }
    return add_step(&t->norm, &t->n_norm, s);
}

// ---- pre-tokenizers ------------------------------------------------------------------------------------
static const char GPT2_RE[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static sqz_status parse_behavior(const ctx *c, json_t *n, tok_split_behavior def, tok_split_behavior *b) {
    const char *s = jstr(n, "behavior");
    *b = def;
    if (!s)
        return SQZ_OK;
    static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, names[i])) {
            *b = (tok_split_behavior)i;
            return SQZ_OK;
        }
    return sqz_error(SQZ_ERR_UNSUPPORTED, "%s: unknown split behavior '%s'", c->name, s);
}

static sqz_status regex_step(ctx *c, const char *re, tok_split_behavior b, bool invert) {
    tok_step s = {.kind = PRE_SPLIT, .behavior = b, .invert = invert};
    SQZ_TRY(tok_regex_compile(&s.re, re, strlen(re), 0, c->name));
    return add_step(&c->t->pre, &c->t->n_pre, s);
}

static void name_append(sqz_tokenizer *t, const char *s) {
    size_t n = strlen(t->pre_name);
    snprintf(t->pre_name + n, sizeof t->pre_name - n, "%s%s", n && t->pre_name[n - 1] != '[' ? "," : "", s);
}

static sqz_status parse_pre(ctx *c, json_t *n) {
    const char *type = jstr(n, "type");
    SQZ_FAIL_IF(!type, SQZ_ERR_FORMAT, "%s: pre_tokenizer without a \"type\"", c->name);
    sqz_tokenizer *t = c->t;
    name_append(t, type);
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(n, "pretokenizers");
        SQZ_FAIL_IF(!json_is_array(list), SQZ_ERR_FORMAT, "%s: Sequence pre_tokenizer without \"pretokenizers\"", c->name);
        name_append(t, "[");
        for (size_t i = 0; i < json_array_size(list); i++)
            SQZ_TRY(parse_pre(c, json_array_get(list, i)));
        size_t l = strlen(t->pre_name);
        if (l + 1 < sizeof t->pre_name)
            strcat(t->pre_name, "]");
        return SQZ_OK;
    }
    tok_split_behavior b;
    if (!strcmp(type, "ByteLevel")) {
        tok_step s = {.kind = PRE_BYTELEVEL, .flag_a = jbool(n, "add_prefix_space", true), .behavior = SPLIT_ISOLATED};
        if (jbool(n, "use_regex", true))
            SQZ_TRY(tok_regex_compile(&s.re, GPT2_RE, strlen(GPT2_RE), 0, c->name));
        t->bytelevel_model = true;
        return add_step(&t->pre, &t->n_pre, s);
    }
    if (!strcmp(type, "Split")) {
        tok_step s = {.kind = PRE_SPLIT, .invert = jbool(n, "invert", false)};
        sqz_status st = parse_behavior(c, n, SPLIT_ISOLATED, &s.behavior);
        if (st == SQZ_OK)
            st = parse_pattern(c, json_object_get(n, "pattern"), "Split", &s);
        if (st != SQZ_OK) {
            tok_step_free(&s);
            return st;
        }
        return add_step(&t->pre, &t->n_pre, s);
    }
    if (!strcmp(type, "Digits"))
        return regex_step(c, "\\p{N}", jbool(n, "individual_digits", false) ? SPLIT_ISOLATED : SPLIT_CONTIGUOUS, false);
    if (!strcmp(type, "Whitespace"))
        return regex_step(c, "\\w+|[^\\w\\s]+", SPLIT_REMOVED, true);
    if (!strcmp(type, "WhitespaceSplit"))
        return regex_step(c, "\\s+", SPLIT_REMOVED, false);
    if (!strcmp(type, "Punctuation")) {
        SQZ_TRY(parse_behavior(c, n, SPLIT_ISOLATED, &b));
        return regex_step(c, "[\\p{P}!-/:-@\\[-`{-~]", b, false);
    }
    if (!strcmp(type, "BertPreTokenizer")) {
        SQZ_TRY(regex_step(c, "\\s+", SPLIT_REMOVED, false));
        return regex_step(c, "[\\p{P}!-/:-@\\[-`{-~]", SPLIT_ISOLATED, false);
    }
    if (!strcmp(type, "Metaspace")) {
        tok_step s = {.kind = PRE_METASPACE, .flag_b = jbool(n, "split", true)};
        const char *rep = jstr(n, "replacement");
        const char *scheme = jstr(n, "prepend_scheme");
        s.prepend = scheme ? (!strcmp(scheme, "always") ? 2 : !strcmp(scheme, "first") ? 1 : 0)
                           : (jbool(n, "add_prefix_space", true) ? 2 : 0);
        s.str = dup_n(rep ? rep : "\xE2\x96\x81", strlen(rep ? rep : "\xE2\x96\x81"));
        SQZ_FAIL_IF(!s.str, SQZ_ERR_NOMEM, "tokenizer: out of memory");
        s.str_len = strlen(s.str);
        return add_step(&t->pre, &t->n_pre, s);
    }
    return sqz_error(SQZ_ERR_UNSUPPORTED, "%s: unsupported pre_tokenizer type '%s'", c->name, type);
}

// ---- decoders --------------------------------------------------------------------------------------------------
static sqz_status add_dec(sqz_tokenizer *t, tok_dec d) {
    tok_dec *p = realloc(t->dec, (t->n_dec + 1) * sizeof *p);
    if (!p) {
        free(d.from);
        free(d.to);
        return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory");
    }
    p[t->n_dec++] = d;
    t->dec = p;
    return SQZ_OK;
}

static sqz_status parse_decoder(ctx *c, json_t *n) {
    const char *type = jstr(n, "type");
    SQZ_FAIL_IF(!type, SQZ_ERR_FORMAT, "%s: decoder without a \"type\"", c->name);
    tok_dec d = {0};
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(n, "decoders");
        SQZ_FAIL_IF(!json_is_array(list), SQZ_ERR_FORMAT, "%s: Sequence decoder without \"decoders\"", c->name);
        for (size_t i = 0; i < json_array_size(list); i++)
            SQZ_TRY(parse_decoder(c, json_array_get(list, i)));
        return SQZ_OK;
    }
    if (!strcmp(type, "ByteLevel"))
        d.kind = DEC_BYTELEVEL;
    else if (!strcmp(type, "ByteFallback"))
        d.kind = DEC_BYTEFALLBACK;
    else if (!strcmp(type, "Fuse"))
        d.kind = DEC_FUSE;
    else if (!strcmp(type, "Replace")) {
        d.kind = DEC_REPLACE;
        json_t *s = json_object_get(json_object_get(n, "pattern"), "String");
        SQZ_FAIL_IF(!json_is_string(s), SQZ_ERR_UNSUPPORTED, "%s: Replace decoder supports only String patterns",
                    c->name);
        SQZ_TRY(dup_json_str(c, s, "Replace.pattern", &d.from, &d.from_len));
        sqz_status st = dup_json_str(c, json_object_get(n, "content"), "Replace.content", &d.to, &d.to_len);
        if (st != SQZ_OK) {
            free(d.from);
            return st;
        }
    } else if (!strcmp(type, "Strip")) {
        d.kind = DEC_STRIP;
        const char *content = jstr(n, "content");
        size_t adv;
        d.strip_cp = content && *content ? tok_utf8_decode(content, strlen(content), &adv) : ' ';
        d.start = (int)json_integer_value(json_object_get(n, "start"));
        d.stop = (int)json_integer_value(json_object_get(n, "stop"));
    } else if (!strcmp(type, "Metaspace")) {
        d.kind = DEC_METASPACE;
        const char *rep = jstr(n, "replacement");
        rep = rep ? rep : "\xE2\x96\x81";
        d.from = dup_n(rep, strlen(rep));
        SQZ_FAIL_IF(!d.from, SQZ_ERR_NOMEM, "tokenizer: out of memory");
        d.from_len = strlen(rep);
        const char *scheme = jstr(n, "prepend_scheme");
        d.start = scheme ? strcmp(scheme, "never") != 0 : jbool(n, "add_prefix_space", true);
    } else {
        return sqz_error(SQZ_ERR_UNSUPPORTED, "%s: unsupported decoder type '%s'", c->name, type);
    }
    return add_dec(c->t, d);
}

// ---- post-processors ---------------------------------------------------------------------------------------------
static sqz_status push_id(int32_t **v, size_t *n, int32_t id) {
    int32_t *p = realloc(*v, (*n + 1) * sizeof *p);
    if (!p)
        return sqz_error(SQZ_ERR_NOMEM, "tokenizer: out of memory");
    p[(*n)++] = id;
    *v = p;
    return SQZ_OK;
}

static sqz_status check_post_id(const ctx *c, json_int_t id) {
    SQZ_FAIL_IF(id < 0 || id >= c->t->n_vocab, SQZ_ERR_FORMAT, "%s: post_processor token id %lld outside the vocabulary",
                c->name, (long long)id);
    return SQZ_OK;
}

// TemplateProcessing "single": special tokens before $A go to prefix, after it to suffix.
static sqz_status parse_template(ctx *c, json_t *n) {
    json_t *single = json_object_get(n, "single"), *specials = json_object_get(n, "special_tokens");
    SQZ_FAIL_IF(!json_is_array(single), SQZ_ERR_FORMAT, "%s: TemplateProcessing without \"single\"", c->name);
    bool after = false;
    for (size_t i = 0; i < json_array_size(single); i++) {
        json_t *item = json_array_get(single, i);
        if (json_object_get(item, "Sequence")) {
            after = true;
            continue;
        }
        const char *name = jstr(json_object_get(item, "SpecialToken"), "id");
        SQZ_FAIL_IF(!name, SQZ_ERR_FORMAT, "%s: TemplateProcessing item %zu is neither Sequence nor SpecialToken", c->name, i);
        json_t *ids = json_object_get(json_object_get(specials, name), "ids");
        SQZ_FAIL_IF(!json_is_array(ids), SQZ_ERR_FORMAT, "%s: TemplateProcessing special token '%s' has no ids",
                    c->name, name);
        for (size_t k = 0; k < json_array_size(ids); k++) {
            json_int_t id = json_integer_value(json_array_get(ids, k));
            SQZ_TRY(check_post_id(c, id));
            SQZ_TRY(after ? push_id(&c->t->suffix, &c->t->n_suffix, (int32_t)id)
                          : push_id(&c->t->prefix, &c->t->n_prefix, (int32_t)id));
        }
    }
    return SQZ_OK;
}

static sqz_status parse_post(ctx *c, json_t *n) {
    if (!n || json_is_null(n))
        return SQZ_OK;
    const char *type = jstr(n, "type");
    SQZ_FAIL_IF(!type, SQZ_ERR_FORMAT, "%s: post_processor without a \"type\"", c->name);
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(n, "processors");
        for (size_t i = 0; i < json_array_size(list); i++)
            SQZ_TRY(parse_post(c, json_array_get(list, i)));
        return SQZ_OK;
    }
    if (!strcmp(type, "ByteLevel"))
        return SQZ_OK; // only adjusts offsets
    if (!strcmp(type, "TemplateProcessing"))
        return parse_template(c, n);
    if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        json_int_t cls = json_integer_value(json_array_get(json_object_get(n, "cls"), 1));
        json_int_t sep = json_integer_value(json_array_get(json_object_get(n, "sep"), 1));
        SQZ_TRY(check_post_id(c, cls));
        SQZ_TRY(check_post_id(c, sep));
        SQZ_TRY(push_id(&c->t->prefix, &c->t->n_prefix, (int32_t)cls));
        return push_id(&c->t->suffix, &c->t->n_suffix, (int32_t)sep);
    }
    return sqz_error(SQZ_ERR_UNSUPPORTED, "%s: unsupported post_processor type '%s'", c->name, type);
}

// ---- model + added tokens --------------------------------------------------------------------------------------
#define MAX_VOCAB (1 << 24)

typedef struct {
    const char *s;
    size_t n;
} strref;

static sqz_status collect_vocab(ctx *c, json_t *vocab, json_t *added, strref **pieces) {
    json_int_t max_id = -1;
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v) {
        SQZ_FAIL_IF(!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= MAX_VOCAB,
                    SQZ_ERR_FORMAT, "%s: model.vocab['%s'] is not a token id in 0..%d", c->name, key, MAX_VOCAB - 1);
        if (json_integer_value(v) > max_id)
            max_id = json_integer_value(v);
    }
    size_t i;
    json_array_foreach(added, i, v) {
        json_t *id = json_object_get(v, "id");
        SQZ_FAIL_IF(!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= MAX_VOCAB ||
                        !json_is_string(json_object_get(v, "content")),
                    SQZ_ERR_FORMAT, "%s: added_tokens[%zu] needs an \"id\" in 0..%d and a \"content\" string", c->name,
                    i, MAX_VOCAB - 1);
        if (json_integer_value(id) > max_id)
            max_id = json_integer_value(id);
    }
    SQZ_FAIL_IF(max_id < 0, SQZ_ERR_FORMAT, "%s: empty vocabulary", c->name);
    *pieces = calloc((size_t)max_id + 1, sizeof **pieces);
    SQZ_FAIL_IF(!*pieces, SQZ_ERR_NOMEM, "tokenizer: out of memory");
    c->t->n_vocab = (int32_t)max_id + 1;
    // object keys are unique strings; jansson's keys cannot hold NUL bytes, so strlen is exact
    json_object_foreach(vocab, key, v) {
        json_int_t id = json_integer_value(v);
        SQZ_FAIL_IF((*pieces)[id].s, SQZ_ERR_FORMAT, "%s: model.vocab gives id %lld to both '%s' and '%s'", c->name,
                    (long long)id, (*pieces)[id].s, key);
        (*pieces)[id] = (strref){key, strlen(key)};
    }
    json_array_foreach(added, i, v) {
        json_int_t id = json_integer_value(json_object_get(v, "id"));
        json_t *content = json_object_get(v, "content");
        (*pieces)[id] = (strref){json_string_value(content), json_string_length(content)};
    }
    return SQZ_OK;
}

static sqz_status build_vocab(ctx *c, json_t *vocab, json_t *added) {
    sqz_tokenizer *t = c->t;
    strref *pieces = NULL;
    sqz_status st = collect_vocab(c, vocab, added, &pieces);
    size_t bytes = 0;
    for (int32_t i = 0; st == SQZ_OK && i < t->n_vocab; i++)
        bytes += pieces[i].n;
    int32_t n = t->n_vocab;
    if (st == SQZ_OK)
        st = tok_vocab_alloc(t, n, bytes);
    size_t off = 0;
    for (int32_t i = 0; st == SQZ_OK && i < n; i++) {
        t->off[i] = (uint32_t)off;
        t->len[i] = (uint32_t)pieces[i].n;
        if (pieces[i].s) {
            memcpy(t->blob + off, pieces[i].s, pieces[i].n);
            t->attr[i] = TA_NORMAL;
        }
        off += pieces[i].n;
    }
    free(pieces);
    if (st != SQZ_OK)
        return st;
    size_t i;
    json_t *v;
    json_array_foreach(added, i, v) {
        int32_t id = (int32_t)json_integer_value(json_object_get(v, "id"));
        uint16_t a = TA_ADDED | (jbool(v, "special", false) ? TA_SPECIAL : TA_USER);
        a |= jbool(v, "lstrip", false) ? TA_LSTRIP : 0;
        a |= jbool(v, "rstrip", false) ? TA_RSTRIP : 0;
        a |= jbool(v, "single_word", false) ? TA_SINGLE_WORD : 0;
        t->attr[id] = a;
    }
    return tok_vocab_build_map(t, c->name);
}

// "a b" strings (split at the first space after the first character) or ["a", "b"] pairs.
static sqz_status merge_parts(const ctx *c, json_t *m, size_t i, strref *a, strref *b) {
    if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
        json_is_string(json_array_get(m, 1))) {
        *a = (strref){json_string_value(json_array_get(m, 0)), json_string_length(json_array_get(m, 0))};
        *b = (strref){json_string_value(json_array_get(m, 1)), json_string_length(json_array_get(m, 1))};
        return SQZ_OK;
    }
    SQZ_FAIL_IF(!json_is_string(m), SQZ_ERR_FORMAT, "%s: model.merges[%zu] must be \"a b\" or [a, b]", c->name, i);
    const char *s = json_string_value(m);
    size_t n = json_string_length(m);
    const char *sp = n > 1 ? memchr(s + 1, ' ', n - 1) : NULL;
    SQZ_FAIL_IF(!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s)), SQZ_ERR_FORMAT,
                "%s: model.merges[%zu] '%s' is not two tokens separated by one space", c->name, i, s);
    *a = (strref){s, (size_t)(sp - s)};
    *b = (strref){sp + 1, n - (size_t)(sp + 1 - s)};
    return SQZ_OK;
}

static sqz_status build_merges(ctx *c, json_t *merges) {
    sqz_tokenizer *t = c->t;
    size_t n = json_array_size(merges);
    SQZ_TRY(tok_pairmap_init(&t->merges, n));
    tok_buf cat = {0};
    sqz_status st = SQZ_OK;
    for (size_t i = 0; st == SQZ_OK && i < n; i++) {
        strref a = {0}, b = {0};
        st = merge_parts(c, json_array_get(merges, i), i, &a, &b);
        if (st != SQZ_OK)
            break;
        cat.n = 0;
        st = tok_buf_put(&cat, a.s, a.n);
        if (st == SQZ_OK)
            st = tok_buf_put(&cat, b.s, b.n);
        int32_t ia = tok_lookup(t, a.s, a.n), ib = tok_lookup(t, b.s, b.n);
        int32_t im = st == SQZ_OK ? tok_lookup(t, cat.p, cat.n) : -1;
        const strref *miss = ia < 0 ? &a : ib < 0 ? &b : NULL;
        if (st == SQZ_OK && (miss || im < 0))
            st = sqz_error(SQZ_ERR_FORMAT, "%s: model.merges[%zu] references unknown token '%.*s'", c->name, i,
                           (int)(miss ? miss->n : cat.n), miss ? miss->s : cat.p);
        if (st == SQZ_OK)
            st = tok_pairmap_put(&t->merges, ia, ib, (int32_t)i, im);
    }
    tok_buf_free(&cat);
    return st;
}

static sqz_status parse_model(ctx *c, json_t *model, json_t *added) {
    SQZ_FAIL_IF(!json_is_object(model), SQZ_ERR_FORMAT, "%s: missing \"model\"", c->name);
    const char *type = jstr(model, "type");
    json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
    if (!type && json_is_array(merges))
        type = "BPE"; // old files omit the type
    SQZ_FAIL_IF(!type, SQZ_ERR_FORMAT, "%s: model has no \"type\"", c->name);
    SQZ_FAIL_IF(strcmp(type, "BPE") != 0, SQZ_ERR_UNSUPPORTED,
                "%s: unsupported model type '%s' (supported: BPE)", c->name, type);
    SQZ_FAIL_IF(!json_is_object(vocab), SQZ_ERR_FORMAT, "%s: model.vocab must be an object", c->name);
    SQZ_FAIL_IF(!json_is_array(merges), SQZ_ERR_FORMAT, "%s: model.merges must be an array", c->name);
    const char *pfx = jstr(model, "continuing_subword_prefix"), *sfx = jstr(model, "end_of_word_suffix");
    SQZ_FAIL_IF((pfx && *pfx) || (sfx && *sfx), SQZ_ERR_UNSUPPORTED,
                "%s: BPE continuing_subword_prefix/end_of_word_suffix are not supported", c->name);
    SQZ_FAIL_IF(added && !json_is_array(added), SQZ_ERR_FORMAT, "%s: added_tokens must be an array", c->name);
    sqz_tokenizer *t = c->t;
    t->model = MODEL_BPE;
    t->byte_fallback = jbool(model, "byte_fallback", false);
    t->fuse_unk = jbool(model, "fuse_unk", false);
    t->ignore_merges = jbool(model, "ignore_merges", false);
    SQZ_TRY(build_vocab(c, vocab, added));
    const char *unk = jstr(model, "unk_token");
    if (unk) {
        t->unk_id = tok_lookup(t, unk, strlen(unk));
        SQZ_FAIL_IF(t->unk_id < 0, SQZ_ERR_FORMAT, "%s: unk_token '%s' is not in the vocabulary", c->name, unk);
        t->bpe_unk_id = t->unk_id;
    }
    return build_merges(c, merges);
}

static void mark_eog(sqz_tokenizer *t) {
    static const char *const names[] = {"<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>",
                                        "<|end_of_text|>", "<|EOT|>", "<EOT>", "</s>", "<|eom_id|>",
                                        "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int32_t id = tok_lookup(t, names[i], strlen(names[i]));
        if (id >= 0 && (t->attr[id] & (TA_SPECIAL | TA_UNKNOWN | TA_ADDED)))
            t->attr[id] |= TA_EOG;
    }
}

sqz_status tok_load_hf_json(sqz_tokenizer *t, const char *json, size_t len, const char *name) {
    json_error_t err;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    SQZ_FAIL_IF(!root, SQZ_ERR_FORMAT, "%s: invalid JSON at line %d, column %d: %s", name, err.line, err.column, err.text);
    ctx c = {name, t};
    sqz_status st = json_is_object(root) ? SQZ_OK : sqz_error(SQZ_ERR_FORMAT, "%s: top level is not an object", name);
    if (st == SQZ_OK)
        st = parse_model(&c, json_object_get(root, "model"), json_object_get(root, "added_tokens"));
    if (st == SQZ_OK)
        st = parse_normalizer(&c, json_object_get(root, "normalizer"));
    json_t *pre = json_object_get(root, "pre_tokenizer");
    if (st == SQZ_OK && pre && !json_is_null(pre))
        st = parse_pre(&c, pre);
    json_t *dec = json_object_get(root, "decoder");
    if (st == SQZ_OK && dec && !json_is_null(dec))
        st = parse_decoder(&c, dec);
    t->dec_join_space = !dec || json_is_null(dec);
    if (st == SQZ_OK)
        st = parse_post(&c, json_object_get(root, "post_processor"));
    json_decref(root);
    if (st != SQZ_OK)
        return st;
    if (!t->pre_name[0])
        snprintf(t->pre_name, sizeof t->pre_name, "none");
    snprintf(t->kind, sizeof t->kind, "%s", t->bytelevel_model ? "bpe-bytelevel" : t->byte_fallback ? "bpe-spm" : "bpe");
    t->bos_id = t->n_prefix ? t->prefix[0] : -1;
    t->eos_id = t->n_suffix ? t->suffix[t->n_suffix - 1] : -1;
    mark_eog(t);
    return SQZ_OK;
}

// ---- tokenizer_config.json / config.json beside a tokenizer.json: BOS and EOS ids ----------------------
static int32_t config_token(const sqz_tokenizer *t, json_t *v) {
    if (json_is_object(v))
        v = json_object_get(v, "content");
    if (!json_is_string(v))
        return -1;
    return tok_lookup(t, json_string_value(v), json_string_length(v));
}

static json_t *load_sibling(const char *json_path, const char *file) {
    const char *slash = strrchr(json_path, '/');
    size_t dir = slash ? (size_t)(slash - json_path) + 1 : 0;
    size_t n = dir + strlen(file) + 1;
    char *p = malloc(n);
    if (!p)
        return NULL;
    snprintf(p, n, "%.*s%s", (int)dir, json_path, file);
    json_t *root = json_load_file(p, 0, NULL);
    free(p);
    return root;
}

void tok_hf_apply_config(sqz_tokenizer *t, const char *json_path) {
    json_t *tc = load_sibling(json_path, "tokenizer_config.json");
    json_t *mc = load_sibling(json_path, "config.json");
    int32_t bos = config_token(t, json_object_get(tc, "bos_token"));
    int32_t eos = config_token(t, json_object_get(tc, "eos_token"));
    json_t *b = json_object_get(mc, "bos_token_id"), *e = json_object_get(mc, "eos_token_id");
    if (bos < 0 && json_is_integer(b) && json_integer_value(b) >= 0 && json_integer_value(b) < t->n_vocab)
        bos = (int32_t)json_integer_value(b);
    if (eos < 0 && json_is_integer(e) && json_integer_value(e) >= 0 && json_integer_value(e) < t->n_vocab)
        eos = (int32_t)json_integer_value(e);
    if (bos >= 0)
        t->bos_id = bos;
    if (eos >= 0) {
        t->eos_id = eos;
        t->attr[eos] |= TA_EOG;
    }
    json_decref(tc);
    json_decref(mc);
}

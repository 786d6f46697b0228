// Loader for GGUF vocabularies (tokenizer.ggml.*), following llama.cpp's llama-vocab.cpp:
//  - model "gpt2": byte-level BPE; tokenizer.ggml.pre names a list of regexes applied in turn (each
//    splits every piece into its matches and the gaps between them), then bytes map to GPT-2 chars;
//  - model "llama": SentencePiece by scores, ' ' -> U+2581, a leading space, <0xXX> byte fallback.
// CONTROL / USER_DEFINED / UNKNOWN tokens are matched in the text before splitting (longest first).
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

// ---- pre-tokenizer regexes by tokenizer.ggml.pre (llama.cpp's table) ----------------------------------
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_LLAMA3_HEAD "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
#define RE_LLAMA3_TAIL "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_CJK "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"

typedef struct {
    const char *names; // '|'-separated tokenizer.ggml.pre values
    const char *re[6];
    bool ignore_merges, add_bos;
} pre_def;

static const pre_def PRE_DEFS[] = {
    {"llama3|llama-v3|llama-bpe|falcon3|pixtral|dbrx|smaug-bpe|chatglm-bpe|glm4",
     {RE_LLAMA3_HEAD "\\p{N}{1,3}" RE_LLAMA3_TAIL}, true, true},
    {"qwen2|deepseek-r1-qwen|stablelm2|megrez", {RE_LLAMA3_HEAD "\\p{N}" RE_LLAMA3_TAIL}, false, false},
    {"deepseek-llm",
     {"[\\r\\n]", "\\s?[\\p{Lu}\\p{Ll}\\p{Lt}]+",
      "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+", "\\s+$", RE_CJK,
      "\\p{N}+"},
     false, false},
    {"deepseek-coder", {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}"}, false, false},
    {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}, false, false},
    {"starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b", {"\\p{N}", RE_GPT2}, false, false},
    {"gpt-2|phi-2|mpt|olmo|jais|jina-es|jina-de|gigachat|jina-v2-es|jina-v2-de|jina-v1-en|jina-v2-code|"
     "roberta-bpe|trillion|exaone4|mellum",
     {RE_GPT2}, false, false},
    {"default", {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}, false, false},
};

static const pre_def *find_pre(const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof PRE_DEFS / sizeof PRE_DEFS[0]; i++)
        for (const char *p = PRE_DEFS[i].names; *p;) {
            const char *e = strchr(p, '|');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            if (l == n && memcmp(p, name, n) == 0)
                return &PRE_DEFS[i];
            p += l + (e != NULL);
        }
    return NULL;
}

// ---- metadata helpers ------------------------------------------------------------------------------------
static bool get_bool(const sqz_gguf *g, const char *key, bool def) {
    const sqz_gguf_value *v = sqz_gguf_get(g, key);
    if (!v)
        return def;
    if (v->type == SQZ_GGUF_BOOL)
        return v->v.b;
    int64_t i;
    return sqz_gguf_get_i64(g, key, &i) == SQZ_OK ? i != 0 : def;
}

static void get_id(const sqz_gguf *g, const char *key, int32_t n_vocab, int32_t *id) {
    int64_t v;
    if (sqz_gguf_get_i64(g, key, &v) == SQZ_OK && v >= 0 && v < n_vocab)
        *id = (int32_t)v; // out-of-range ids are ignored, as llama.cpp does ("bad special token")
}

static const sqz_gguf_value *get_arr(const sqz_gguf *g, const char *key, sqz_gguf_vtype elem, bool alt_ok,
                                     sqz_gguf_vtype alt) {
    const sqz_gguf_value *v = sqz_gguf_get(g, key);
    if (!v || v->type != SQZ_GGUF_ARRAY)
        return NULL;
    return (v->v.arr.elem_type == elem || (alt_ok && v->v.arr.elem_type == alt)) ? v : NULL;
}

// ---- vocabulary ------------------------------------------------------------------------------------------
static sqz_status load_tokens(sqz_tokenizer *t, const sqz_gguf *g) {
    const sqz_gguf_value *toks = get_arr(g, "tokenizer.ggml.tokens", SQZ_GGUF_STRING, false, SQZ_GGUF_STRING);
    SQZ_FAIL_IF(!toks, SQZ_ERR_FORMAT, "tokenizer.ggml.tokens is missing or not an array of strings");
    uint64_t n = toks->v.arr.n;
    SQZ_FAIL_IF(n == 0 || n >= (1u << 24), SQZ_ERR_FORMAT, "tokenizer.ggml.tokens has %llu entries",
                (unsigned long long)n);
    const sqz_gguf_value *types = get_arr(g, "tokenizer.ggml.token_type", SQZ_GGUF_INT32, false, SQZ_GGUF_INT32);
    const sqz_gguf_value *scores = get_arr(g, "tokenizer.ggml.scores", SQZ_GGUF_FLOAT32, true, SQZ_GGUF_INT32);
    SQZ_FAIL_IF(types && types->v.arr.n < n, SQZ_ERR_FORMAT, "tokenizer.ggml.token_type has fewer entries than tokens");
    SQZ_FAIL_IF(scores && scores->v.arr.n < n, SQZ_ERR_FORMAT, "tokenizer.ggml.scores has fewer entries than tokens");
    size_t bytes = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l = toks->v.arr.strs[i].len ? toks->v.arr.strs[i].len : 32; // "[EMPTY_i]"
        SQZ_FAIL_IF(l > (1u << 20), SQZ_ERR_FORMAT, "tokenizer.ggml.tokens[%llu] is %llu bytes long",
                    (unsigned long long)i, (unsigned long long)l);
        bytes += (size_t)l;
    }
    SQZ_TRY(tok_vocab_alloc(t, (int32_t)n, bytes));
    t->score = calloc((size_t)n, sizeof *t->score);
    SQZ_FAIL_IF(!t->score, SQZ_ERR_NOMEM, "tokenizer: out of memory");
    size_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        const sqz_gguf_str *s = &toks->v.arr.strs[i];
        t->off[i] = (uint32_t)off;
        if (s->len)
            memcpy(t->blob + off, s->ptr, s->len);
        else
            snprintf(t->blob + off, 32, "[EMPTY_%llu]", (unsigned long long)i);
        t->len[i] = s->len ? (uint32_t)s->len : (uint32_t)strlen(t->blob + off);
        off += t->len[i];
        t->score[i] = scores ? (float)sqz_gguf_arr_f64(scores, i) : 0.0f;
        int64_t ty = types ? sqz_gguf_arr_i64(types, i) : TT_NORMAL;
        uint16_t a = TA_NORMAL;
        if (ty == TT_CONTROL)
            a = TA_SPECIAL | TA_ADDED | TA_RAW;
        else if (ty == TT_USER)
            a = TA_USER | TA_ADDED | TA_RAW;
        else if (ty == TT_UNKNOWN)
            a = TA_UNKNOWN | TA_ADDED | TA_RAW;
        else if (ty == TT_BYTE)
            a = TA_BYTE;
        else if (ty == TT_UNUSED)
            a = TA_UNUSED;
        t->attr[i] = a;
    }
    return tok_vocab_build_map(t, "tokenizer.ggml.tokens");
}

// Merges "a b" (split at the first space after the first byte). Merges naming unknown tokens, or
// whose result is not a token, can never apply to our id-based symbols and are skipped.
static sqz_status load_merges(sqz_tokenizer *t, const sqz_gguf *g) {
    const sqz_gguf_value *m = get_arr(g, "tokenizer.ggml.merges", SQZ_GGUF_STRING, false, SQZ_GGUF_STRING);
    SQZ_FAIL_IF(!m, SQZ_ERR_FORMAT, "tokenizer.ggml.merges is missing or not an array of strings");
    SQZ_TRY(tok_pairmap_init(&t->merges, (size_t)m->v.arr.n));
    tok_buf cat = {0};
    sqz_status st = SQZ_OK;
    for (uint64_t i = 0; st == SQZ_OK && i < m->v.arr.n; i++) {
        const char *s = m->v.arr.strs[i].ptr;
        size_t n = (size_t)m->v.arr.strs[i].len;
        const char *sp = n > 1 ? memchr(s + 1, ' ', n - 1) : NULL;
        if (!sp)
            continue;
        size_t la = (size_t)(sp - s), lb = n - la - 1;
        cat.n = 0;
        st = tok_buf_put(&cat, s, la);
        if (st == SQZ_OK)
            st = tok_buf_put(&cat, sp + 1, lb);
        int32_t a = tok_lookup(t, s, la), b = tok_lookup(t, sp + 1, lb), r = tok_lookup(t, cat.p, cat.n);
        if (st == SQZ_OK && a >= 0 && b >= 0 && r >= 0)
            st = tok_pairmap_put(&t->merges, a, b, (int32_t)i, r);
    }
    tok_buf_free(&cat);
    return st;
}

static sqz_status add_pre_regex(sqz_tokenizer *t, const char *re) {
    tok_step *p = realloc(t->pre, (t->n_pre + 1) * sizeof *p);
    SQZ_FAIL_IF(!p, SQZ_ERR_NOMEM, "tokenizer: out of memory");
    t->pre = p;
    tok_step s = {.kind = PRE_SPLIT, .behavior = SPLIT_ISOLATED};
    if (re)
        SQZ_TRY(tok_regex_compile(&s.re, re, strlen(re), PCRE2_DOLLAR_ENDONLY, "tokenizer.ggml.pre"));
    else
        s.kind = PRE_BYTELEVEL; // no prefix space, no regex: only the byte mapping
    t->pre[t->n_pre++] = s;
    return SQZ_OK;
}

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

static sqz_status setup_bpe(sqz_tokenizer *t, const sqz_gguf *g, bool *add_bos) {
    SQZ_TRY(load_merges(t, g));
    sqz_gguf_str pre = {0};
    char name[64] = "default";
    if (sqz_gguf_get_str(g, "tokenizer.ggml.pre", &pre) == SQZ_OK)
        snprintf(name, sizeof name, "%.*s", (int)(pre.len < 63 ? pre.len : 63), pre.ptr);
    const pre_def *d = find_pre(name);
    SQZ_FAIL_IF(!d, SQZ_ERR_UNSUPPORTED, "unsupported pre-tokenizer type '%s' (tokenizer.ggml.pre)", name);
    snprintf(t->pre_name, sizeof t->pre_name, "%s", name);
    for (int i = 0; i < 6 && d->re[i]; i++)
        SQZ_TRY(add_pre_regex(t, d->re[i]));
    SQZ_TRY(add_pre_regex(t, NULL));
    t->ignore_merges = d->ignore_merges;
    *add_bos = d->add_bos;
    t->bytelevel_model = true;
    snprintf(t->kind, sizeof t->kind, "bpe-bytelevel");
    return add_dec(t, (tok_dec){.kind = DEC_BYTELEVEL});
}

static sqz_status setup_spm(sqz_tokenizer *t) {
    t->model = MODEL_SPM;
    snprintf(t->kind, sizeof t->kind, "spm");
    snprintf(t->pre_name, sizeof t->pre_name, "default");
    tok_dec r = {.kind = DEC_REPLACE, .from = strdup("\xE2\x96\x81"), .to = strdup(" "), .from_len = 3, .to_len = 1};
    SQZ_FAIL_IF(!r.from || !r.to, SQZ_ERR_NOMEM, "tokenizer: out of memory");
    SQZ_TRY(add_dec(t, r));
    SQZ_TRY(add_dec(t, (tok_dec){.kind = DEC_BYTEFALLBACK}));
    SQZ_TRY(add_dec(t, (tok_dec){.kind = DEC_FUSE}));
    if (t->spm_space_prefix)
        SQZ_TRY(add_dec(t, (tok_dec){.kind = DEC_STRIP, .strip_cp = ' ', .start = 1}));
    return SQZ_OK;
}

// llama.cpp gives the special tokens of models named phi-3 an rstrip attribute.
static void phi3_attrs(sqz_tokenizer *t, const sqz_gguf *g) {
    sqz_gguf_str nm = {0};
    if (sqz_gguf_get_str(g, "general.name", &nm) != SQZ_OK)
        return;
    char low[128];
    size_t n = nm.len < sizeof low - 1 ? (size_t)nm.len : sizeof low - 1;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)nm.ptr[i]);
    low[n] = 0;
    if (!strstr(low, "phi-3") && !strstr(low, "phi3"))
        return;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->attr[id] & TA_ADDED)
            t->attr[id] |= TA_RSTRIP;
    static const char *const off[] = {"<unk>", "<s>", "<|endoftext|>"};
    for (int i = 0; i < 3; i++) {
        int32_t id = tok_lookup(t, off[i], strlen(off[i]));
        if (id >= 0)
            t->attr[id] &= (uint16_t)~TA_RSTRIP;
    }
    int32_t eos = tok_lookup(t, "</s>", 4);
    if (eos >= 0)
        t->attr[eos] |= TA_RSTRIP;
}

static void mark_eog(sqz_tokenizer *t) {
    static const char *const names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                        "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>",
                                        "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int32_t id = tok_lookup(t, names[i], strlen(names[i]));
        if (id >= 0)
            t->attr[id] |= TA_EOG;
    }
    if (t->eos_id >= 0)
        t->attr[t->eos_id] |= TA_EOG;
}

sqz_status tok_load_gguf(sqz_tokenizer *t, const sqz_gguf *g) {
    sqz_gguf_str model = {0};
    SQZ_FAIL_IF(sqz_gguf_get_str(g, "tokenizer.ggml.model", &model) != SQZ_OK, SQZ_ERR_NOT_FOUND,
                "no tokenizer (tokenizer.ggml.model is missing)");
    bool bpe = model.len == 4 && !memcmp(model.ptr, "gpt2", 4);
    bool spm = model.len == 5 && !memcmp(model.ptr, "llama", 5);
    SQZ_FAIL_IF(!bpe && !spm, SQZ_ERR_UNSUPPORTED, "unsupported tokenizer model '%.*s' (supported: gpt2, llama)",
                (int)model.len, model.ptr);
    SQZ_TRY(load_tokens(t, g));
    t->llama_partition = true;
    bool add_bos = spm;
    t->spm_space_prefix = get_bool(g, "tokenizer.ggml.add_space_prefix", spm);
    if (bpe)
        SQZ_TRY(setup_bpe(t, g, &add_bos));
    else
        SQZ_TRY(setup_spm(t));
    // llama.cpp defaults, then the file's keys
    t->bos_id = bpe ? 11 : 1;
    t->eos_id = bpe ? 11 : 2;
    t->unk_id = spm ? 0 : -1;
    if (t->bos_id >= t->n_vocab)
        t->bos_id = t->eos_id = -1;
    get_id(g, "tokenizer.ggml.bos_token_id", t->n_vocab, &t->bos_id);
    get_id(g, "tokenizer.ggml.eos_token_id", t->n_vocab, &t->eos_id);
    get_id(g, "tokenizer.ggml.unknown_token_id", t->n_vocab, &t->unk_id);
    add_bos = get_bool(g, "tokenizer.ggml.add_bos_token", add_bos);
    bool add_eos = get_bool(g, "tokenizer.ggml.add_eos_token", false);
    SQZ_FAIL_IF(add_bos && t->bos_id < 0, SQZ_ERR_FORMAT, "tokenizer.ggml.add_bos_token is true but there is no BOS token");
    SQZ_FAIL_IF(add_eos && t->eos_id < 0, SQZ_ERR_FORMAT, "tokenizer.ggml.add_eos_token is true but there is no EOS token");
    t->prefix = malloc(sizeof *t->prefix);
    t->suffix = malloc(sizeof *t->suffix);
    SQZ_FAIL_IF(!t->prefix || !t->suffix, SQZ_ERR_NOMEM, "tokenizer: out of memory");
    if (add_bos)
        t->prefix[t->n_prefix++] = t->bos_id;
    if (add_eos)
        t->suffix[t->n_suffix++] = t->eos_id;
    phi3_attrs(t, g);
    mark_eog(t);
    return SQZ_OK;
}

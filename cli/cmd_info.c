// sqz info MODEL [--json]: a model's architecture, sizes, dtypes and tokenizer.
// MODEL is an HF directory (or a file inside one), a .gguf, or a tokenizer.json (tokenizer facts only;
// a vocabulary-only GGUF also shows just its tokenizer).
#include <jansson.h>
#include <string.h>

#include "cli.h"

static const char *const usage_text =
    "usage: sqz info MODEL [--json]\n"
    "  MODEL   HF model directory (or its config.json / *.safetensors), .gguf file, tokenizer.json, or an\n"
    "          `sqz compress` output directory (or its hf/): the model plus its manifest (recipe, per-layer\n"
    "          method, bits/weight, achieved sparsity, storage and compute, structured pruning)\n"
    "  --json  print one JSON object with stable keys: arch, n_layer, n_head, n_head_kv, head_dim,\n"
    "          n_embd, n_ff, n_vocab, n_ctx_train, rope_theta, rope_layout, rope_scaling,\n"
    "          tie_embeddings, n_params, n_bytes, dtypes, tokenizer {kind, pre}, layout, path\n"
    "          (+ compress: the manifest.json object, for a compress output)\n";

static const char *rope_layout_name(sqz_rope_layout l) {
    return l == SQZ_ROPE_HALF ? "half" : l == SQZ_ROPE_ADJACENT ? "adjacent" : "none";
}

static const char *rope_scaling_name(sqz_rope_scaling s) {
    return s == SQZ_ROPE_SCALING_LINEAR ? "linear" : s == SQZ_ROPE_SCALING_LLAMA3 ? "llama3" : "none";
}

static json_t *gguf_str_json(const sqz_gguf *g, const char *key) {
    sqz_gguf_str s;
    if (!sqz_gguf_get(g, key) || sqz_gguf_get_str(g, key, &s) != SQZ_OK)
        return json_null();
    return json_stringn(s.ptr, (size_t)s.len);
}

// {kind, pre, n_tokens} of a GGUF's tokenizer.ggml.* keys.
static json_t *tokenizer_from_gguf(const sqz_gguf *g) {
    const sqz_gguf_value *toks = sqz_gguf_get(g, "tokenizer.ggml.tokens");
    const sqz_gguf_value *merges = sqz_gguf_get(g, "tokenizer.ggml.merges");
    json_t *t = json_object();
    json_object_set_new(t, "kind", gguf_str_json(g, "tokenizer.ggml.model"));
    json_object_set_new(t, "pre", gguf_str_json(g, "tokenizer.ggml.pre"));
    if (toks && toks->type == SQZ_GGUF_ARRAY)
        json_object_set_new(t, "n_tokens", json_integer((json_int_t)toks->v.arr.n));
    if (merges && merges->type == SQZ_GGUF_ARRAY)
        json_object_set_new(t, "n_merges", json_integer((json_int_t)merges->v.arr.n));
    return t;
}

// {kind, pre, n_tokens, n_merges, n_added} of a HF tokenizer.json (model.type, pre_tokenizer.type).
// Returns NULL (and prints nothing) if the file does not exist; on malformed JSON sets *err.
static json_t *tokenizer_from_json(const char *path, char *err, size_t errlen) {
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j) {
        if (e.line >= 0)
            snprintf(err, errlen, "%s: %s (line %d, column %d)", path, e.text, e.line, e.column);
        return NULL;
    }
    const json_t *model = json_object_get(j, "model");
    const json_t *pre = json_object_get(j, "pre_tokenizer");
    const json_t *type = json_object_get(model, "type");
    json_t *t = json_object();
    json_object_set_new(t, "kind", json_is_string(type) ? json_copy((json_t *)(uintptr_t)type) : json_null());
    const json_t *pt = json_object_get(pre, "type");
    json_object_set_new(t, "pre", json_is_string(pt) ? json_copy((json_t *)(uintptr_t)pt) : json_null());
    const json_t *vocab = json_object_get(model, "vocab");
    if (json_is_object(vocab) || json_is_array(vocab))
        json_object_set_new(t, "n_tokens", json_integer((json_int_t)(json_is_object(vocab) ? json_object_size(vocab)
                                                                                          : json_array_size(vocab))));
    const json_t *merges = json_object_get(model, "merges");
    if (json_is_array(merges))
        json_object_set_new(t, "n_merges", json_integer((json_int_t)json_array_size(merges)));
    json_object_set_new(t, "n_added", json_integer((json_int_t)json_array_size(json_object_get(j, "added_tokens"))));
    json_decref(j);
    return t;
}

// Tensor dtypes → counts, most frequent first (ties by name).
static json_t *dtype_counts(const sqz_model_file *mf) {
    int64_t counts[SQZ_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < sqz_model_file_n_tensors(mf); i++)
        counts[sqz_model_file_tensor(mf, i)->type]++;
    json_t *d = json_object();
    for (;;) {
        int best = -1;
        for (int t = 0; t < SQZ_TYPE_COUNT; t++)
            if (counts[t] > 0 && (best < 0 || counts[t] > counts[best] ||
                                  (counts[t] == counts[best] && strcmp(sqz_type_name(t), sqz_type_name(best)) < 0)))
                best = t;
        if (best < 0)
            break;
        json_object_set_new(d, sqz_type_name(best), json_integer(counts[best]));
        counts[best] = 0;
    }
    return d;
}

static json_t *model_json(const sqz_model_file *mf) {
    const sqz_model_config *c = sqz_model_file_config(mf);
    json_t *o = json_object();
    json_object_set_new(o, "path", json_string(sqz_model_file_path(mf)));
    json_object_set_new(o, "layout", json_string(sqz_model_file_layout(mf) == SQZ_LAYOUT_GGUF ? "gguf" : "hf"));
    json_object_set_new(o, "arch", json_string(c->arch_name));
    if (c->hf_class[0])
        json_object_set_new(o, "hf_class", json_string(c->hf_class));
    json_object_set_new(o, "n_layer", json_integer(c->n_layer));
    json_object_set_new(o, "n_head", json_integer(c->n_head));
    json_object_set_new(o, "n_head_kv", json_integer(c->n_head_kv));
    json_object_set_new(o, "head_dim", json_integer(c->head_dim));
    json_object_set_new(o, "n_embd", json_integer(c->n_embd));
    json_object_set_new(o, "n_ff", json_integer(c->n_ff));
    json_object_set_new(o, "n_vocab", json_integer(c->n_vocab));
    json_object_set_new(o, "n_ctx_train", json_integer(c->n_ctx_train));
    json_object_set_new(o, "rope_theta", c->rope_layout == SQZ_ROPE_NONE ? json_null() : json_real(c->rope_theta));
    json_object_set_new(o, "rope_layout", json_string(rope_layout_name(c->rope_layout)));
    json_object_set_new(o, "rope_scaling", json_string(rope_scaling_name(c->rope_scaling)));
    if (c->rope_scaling != SQZ_ROPE_SCALING_NONE)
        json_object_set_new(o, "rope_factor", json_real(c->rope_factor));
    json_object_set_new(o, "norm_eps", json_real(c->norm_eps));
    json_object_set_new(o, "tie_embeddings", json_boolean(c->tie_embeddings));
    json_object_set_new(o, "n_params", json_integer(sqz_model_file_n_params(mf)));
    json_object_set_new(o, "n_bytes", json_integer((json_int_t)sqz_model_file_nbytes(mf)));
    json_object_set_new(o, "n_tensors", json_integer(sqz_model_file_n_tensors(mf)));
    json_object_set_new(o, "dtypes", dtype_counts(mf));
    return o;
}

static void print_human_size(const char *label, double v, const char *const *units, double step) {
    int u = 0;
    while (v >= step && units[u + 1])
        v /= step, u++;
    printf("%s (%.*f%s)\n", label, u ? 2 : 0, v, units[u]);
}

static void print_tokenizer(const json_t *t) {
    const char *kind = json_string_value(json_object_get(t, "kind"));
    const char *pre = json_string_value(json_object_get(t, "pre"));
    printf("tokenizer:       %s", kind ? kind : "(none)");
    if (pre)
        printf(", pre %s", pre);
    if (json_object_get(t, "n_tokens"))
        printf(", %lld tokens", (long long)json_integer_value(json_object_get(t, "n_tokens")));
    if (json_object_get(t, "n_merges"))
        printf(", %lld merges", (long long)json_integer_value(json_object_get(t, "n_merges")));
    printf("\n");
}

static void print_human(const json_t *o) {
#define S(k) json_string_value(json_object_get(o, k))
#define I(k) (long long)json_integer_value(json_object_get(o, k))
    printf("path:            %s\n", S("path"));
    if (!json_object_get(o, "arch")) {
        print_tokenizer(json_object_get(o, "tokenizer"));
        return;
    }
    printf("layout:          %s\n", S("layout"));
    printf("architecture:    %s%s%s%s\n", S("arch"), S("hf_class") ? " (" : "", S("hf_class") ? S("hf_class") : "",
           S("hf_class") ? ")" : "");
    printf("layers:          %lld\n", I("n_layer"));
    printf("heads:           %lld (kv heads %lld, head dim %lld)\n", I("n_head"), I("n_head_kv"), I("head_dim"));
    printf("hidden size:     %lld\n", I("n_embd"));
    printf("ffn size:        %lld\n", I("n_ff"));
    printf("vocab:           %lld\n", I("n_vocab"));
    printf("context length:  %lld\n", I("n_ctx_train"));
    if (json_is_null(json_object_get(o, "rope_theta")))
        printf("rope:            none (learned positions)\n");
    else
        printf("rope:            theta %g, layout %s, scaling %s\n", json_real_value(json_object_get(o, "rope_theta")),
               S("rope_layout"), S("rope_scaling"));
    printf("tied embeddings: %s\n", json_is_true(json_object_get(o, "tie_embeddings")) ? "yes" : "no");
    static const char *const count_units[] = {"", "K", "M", "B", NULL};
    static const char *const byte_units[] = {" B", " KiB", " MiB", " GiB", NULL};
    char label[64];
    snprintf(label, sizeof label, "parameters:      %lld", I("n_params"));
    print_human_size(label, (double)I("n_params"), count_units, 1000);
    snprintf(label, sizeof label, "bytes:           %lld", I("n_bytes"));
    print_human_size(label, (double)I("n_bytes"), byte_units, 1024);
    printf("dtypes:          ");
    const char *k;
    json_t *v;
    int first = 1;
    json_object_foreach(json_object_get(o, "dtypes"), k, v) {
        printf("%s%s: %lld", first ? "" : ", ", k, (long long)json_integer_value(v));
        first = 0;
    }
    printf("\n");
    print_tokenizer(json_object_get(o, "tokenizer"));
#undef S
#undef I
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

// A tokenizer.json, or a GGUF without tensors (vocabulary only): tokenizer facts only.
static json_t *tokenizer_only(const char *path) {
    json_t *t = NULL;
    if (ends_with(path, ".gguf")) {
        sqz_gguf *g = NULL;
        if (sqz_gguf_open(&g, path) != SQZ_OK || sqz_gguf_n_tensors(g) > 0) {
            sqz_gguf_free(g);
            return NULL;
        }
        t = tokenizer_from_gguf(g);
        sqz_gguf_free(g);
    } else if (ends_with(path, "tokenizer.json")) {
        char err[512] = "";
        t = tokenizer_from_json(path, err, sizeof err);
        if (!t) {
            sqz_error(SQZ_ERR_FORMAT, "%s", err[0] ? err : path);
            return NULL;
        }
    } else {
        return NULL;
    }
    json_t *o = json_object();
    json_object_set_new(o, "path", json_string(path));
    json_object_set_new(o, "tokenizer", t);
    return o;
}

static json_t *model_info(const char *path, int *rc) {
    sqz_model_file *mf = NULL;
    json_t *o = tokenizer_only(path);
    if (o)
        return o;
    if (ends_with(path, "tokenizer.json") || sqz_model_file_open(&mf, path) != SQZ_OK) {
        *rc = cli_fail("info");
        return NULL;
    }
    o = model_json(mf);
    json_t *tok = NULL;
    if (sqz_model_file_gguf(mf)) {
        tok = tokenizer_from_gguf(sqz_model_file_gguf(mf));
    } else {
        char tp[4096], err[512] = "";
        snprintf(tp, sizeof tp, "%s/tokenizer.json", sqz_model_file_path(mf));
        tok = tokenizer_from_json(tp, err, sizeof err);
        if (!tok && err[0])
            fprintf(stderr, "sqz info: warning: %s\n", err);
    }
    if (!tok) {
        tok = json_object();
        json_object_set_new(tok, "kind", json_null());
        json_object_set_new(tok, "pre", json_null());
    }
    json_object_set_new(o, "tokenizer", tok);
    sqz_model_file_free(mf);
    return o;
}

// ---- compress outputs --------------------------------------------------------------------------------

static int is_file(const char *p) {
    FILE *f = fopen(p, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

// The manifest of an `sqz compress` output: <path>/manifest.json (the output directory; the model
// is then its hf/ or model.gguf) or <path>/../manifest.json (path is its hf/). NULL when none.
static json_t *compress_manifest(const char *path, char *model, size_t cap) {
    char mp[4096];
    snprintf(mp, sizeof mp, "%s/manifest.json", path);
    int out_dir = is_file(mp);
    if (!out_dir)
        snprintf(mp, sizeof mp, "%s/../manifest.json", path);
    if (!is_file(mp))
        return NULL;
    json_error_t e;
    json_t *m = json_load_file(mp, 0, &e);
    if (!m || !json_object_get(m, "layers")) {
        json_decref(m);
        return NULL;
    }
    snprintf(model, cap, "%s", path);
    if (out_dir) {
        snprintf(mp, sizeof mp, "%s/hf/config.json", path);
        snprintf(model, cap, is_file(mp) ? "%s/hf" : "%s/model.gguf", path);
    }
    return m;
}

static void print_manifest(const json_t *m) {
#define MS(o, k) json_string_value(json_object_get(o, k))
    printf("compress recipe: %s\n", MS(m, "recipe"));
    json_t *files = json_object_get(m, "files");
    printf("files:           gguf %s, hf %s\n", MS(files, "gguf") ? MS(files, "gguf") : "-",
           MS(files, "hf") ? MS(files, "hf") : "-");
    printf("bits/weight:     %.3f (linears)\n", json_real_value(json_object_get(m, "linear_bits_per_weight")));
    json_t *st = json_object_get(m, "structured");
    if (json_is_object(st)) {
#define P(k, i) (long long)json_integer_value(json_array_get(json_object_get(st, k), i))
        printf("structured:      layers %lld -> %lld, heads %lld -> %lld (kv %lld -> %lld), ffn %lld -> %lld; %s\n",
               P("n_layer", 0), P("n_layer", 1), P("n_head", 0), P("n_head", 1), P("n_head_kv", 0), P("n_head_kv", 1),
               P("n_ff", 0), P("n_ff", 1), MS(st, "storage"));
#undef P
        json_t *d = json_object_get(st, "dropped_layers");
        if (json_array_size(d)) {
            printf("dropped layers: ");
            for (size_t i = 0; i < json_array_size(d); i++)
                printf(" %lld", (long long)json_integer_value(json_array_get(d, i)));
            printf(" (source indices)\n");
        }
    }
    if (MS(m, "sparsity"))
        printf("sparsity:        %s\n", MS(m, "sparsity"));
    size_t i;
    json_t *l;
    int header = 0;
    json_array_foreach(json_object_get(m, "layers"), i, l) {
        json_t *p = json_object_get(l, "pruning");
        if (!strcmp(MS(l, "method") ? MS(l, "method") : "none", "none") && !p)
            continue;
        if (!header++)
            printf("%-28s %-10s %6s %8s %-5s  %s\n", "layer", "method", "bpw", "sparsity", "N:M", "storage / compute");
        char meth[64];
        snprintf(meth, sizeof meth, "%s%s%s", p ? MS(p, "step") : "", p && strcmp(MS(p, "step"), MS(l, "method")) ? "+" : "",
                 p && !strcmp(MS(p, "step"), MS(l, "method")) ? "" : MS(l, "method"));
        if (!p) {
            printf("%-28s %-10s %6.3f\n", MS(l, "name"), meth, json_real_value(json_object_get(l, "bits_per_weight")));
            continue;
        }
        printf("%-28s %-10s %6.3f %8.4f %-5s  %s; compute %s\n", MS(l, "name"), meth,
               json_real_value(json_object_get(l, "bits_per_weight")), json_real_value(json_object_get(p, "sparsity")),
               MS(p, "pattern") ? MS(p, "pattern") : "-", MS(p, "storage"), MS(p, "compute"));
    }
#undef MS
}

int sqz_cmd_info(int argc, char **argv) {
    const char *path = NULL;
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            as_json = 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("info", "unknown option '%s'\n%s", argv[i], usage_text);
        } else if (path) {
            return cli_usage_error("info", "only one MODEL may be given\n%s", usage_text);
        } else {
            path = argv[i];
        }
    }
    if (!path)
        return cli_usage_error("info", "missing MODEL\n%s", usage_text);
    int rc = 0;
    char model[4200];
    json_t *man = compress_manifest(path, model, sizeof model);
    json_t *o = model_info(man ? model : path, &rc);
    if (!o) {
        json_decref(man);
        return rc ? rc : 1;
    }
    if (man)
        json_object_set_new(o, "compress", man);
    if (as_json) {
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
        printf("%s\n", s ? s : "{}");
        free(s);
    } else {
        print_human(o);
        if (man)
            print_manifest(man);
    }
    json_decref(o);
    return 0;
}

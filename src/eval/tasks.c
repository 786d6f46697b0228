// The task registry: for each task its data loader, prompt builder, stop rules and default length.
// Scoring lives in score.c. Definitions and sources: docs/tasks.md.
#define _GNU_SOURCE
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/eval_internal.h"

static const char *const k_names[] = {
    "humaneval", "humaneval-x:python", "humaneval-x:cpp", "humaneval-x:java", "humaneval-x:js", "quixbugs",
    "codexglue-java-cs", "codexglue-cs-java", "completion", "perplexity", "divergence", "mbpp", NULL};

const char *const *sqz_task_names(void) {
    return k_names;
}

// Stops used by human-eval / Codex (Chen et al. 2021) for Python function bodies.
static const char *const k_py_stops[] = {"\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", NULL};
static const char *const k_brace_stops[] = {"\n}", NULL};
static const char *const k_line_stops[] = {"\n", NULL};
static const char *const k_repair_stops[] = {"\n###", "\n```", NULL};
static const char *const k_mbpp_stops[] = {"[DONE]", NULL};
static const char *const k_no_stops[] = {NULL};

// Items hold owned strings behind const pointers (the public view).
static void free_c(const char *p) {
    free((void *)(uintptr_t)p);
}

static void item_free(sqz_task_item *it) {
    free_c(it->id), free_c(it->prompt), free_c(it->reference), free_c(it->context);
}

void sqz_task_free(sqz_task *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->n_items; i++) {
        item_free(&t->items[i]);
        free(t->item_tests ? t->item_tests[i] : NULL);
    }
    free(t->items), free(t->item_tests), free(t->code_index);
    sqz_code_task_free(t->code);
    free(t->name);
    free(t);
}

const char *sqz_task_name(const sqz_task *t) { return t->name; }
sqz_eval_kind sqz_task_get_kind(const sqz_task *t) { return t->kind; }
size_t sqz_task_count(const sqz_task *t) { return t->n_items; }
const sqz_task_item *sqz_task_item_at(const sqz_task *t, size_t i) { return i < t->n_items ? &t->items[i] : NULL; }
const char *const *sqz_task_stops(const sqz_task *t) { return t->stops; }
int sqz_task_max_tokens(const sqz_task *t) { return t->max_tokens; }
const char *sqz_task_code_lang(const sqz_task *t) { return t->code_lang; }

// Append an item; takes ownership of the malloc'd strings (freed on failure).
static sqz_status push_item(sqz_task *t, char *id, char *prompt, char *ref, char *ctx, char *tests) {
    if (t->n_items == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        sqz_task_item *it = realloc(t->items, cap * sizeof *it);
        char **ts = it ? realloc(t->item_tests, cap * sizeof *ts) : NULL;
        if (it)
            t->items = it;
        if (ts)
            t->item_tests = ts;
        if (!it || !ts) {
            free(id), free(prompt), free(ref), free(ctx), free(tests);
            return sqz_error(SQZ_ERR_NOMEM, "%s: out of memory", t->name);
        }
        t->cap = cap;
    }
    t->items[t->n_items] = (sqz_task_item){id, prompt, ref, ctx};
    t->item_tests[t->n_items] = tests;
    t->n_items++;
    if (!id || !prompt || !ref)
        return sqz_error(SQZ_ERR_NOMEM, "%s: out of memory", t->name);
    return SQZ_OK;
}

static char *fmt_str(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_str(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

// ---- code tasks with executable tests (via the sandbox's loaders) -------------------------------
static sqz_status load_code(sqz_task *t, const char *sandbox_name, const char *data_dir) {
    SQZ_TRY(sqz_code_task_load(&t->code, sandbox_name, data_dir));
    size_t n = sqz_code_task_count(t->code);
    bool repair = !strcmp(sandbox_name, "quixbugs");
    for (size_t i = 0; i < n; i++) {
        const char *p = sqz_code_task_prompt(t->code, i);
        char *prompt = repair ? fmt_str("### Buggy Python program (one line is wrong)\n%s\n### Fixed Python program\n", p)
                              : strdup(p);
        SQZ_TRY(push_item(t, strdup(sqz_code_task_id(t->code, i)), prompt,
                          strdup(sqz_code_task_reference(t->code, i)), repair ? NULL : strdup(p), NULL));
    }
    return SQZ_OK;
}

// ---- CodeXGLUE Java <-> C# translation ---------------------------------------------------------
// Split text into lines in place (a final line without "\n" counts). *lines is malloc'd.
static sqz_status split_lines(char *text, const char *path, char ***lines, size_t *n) {
    size_t cap = 1;
    for (const char *p = text; *p; p++)
        cap += *p == '\n';
    char **l = malloc(cap * sizeof *l);
    SQZ_FAIL_IF(!l, SQZ_ERR_NOMEM, "%s: out of memory", path);
    size_t k = 0;
    for (char *p = text; *p;) {
        char *e = strchr(p, '\n');
        if (e)
            *e = 0;
        size_t len = strlen(p);
        if (len && p[len - 1] == '\r')
            p[len - 1] = 0;
        l[k++] = p;
        p = e ? e + 1 : p + len;
    }
    *lines = l;
    *n = k;
    return SQZ_OK;
}

typedef struct pair_file {
    char *src_text, *tgt_text;
    char **src, **tgt;
    size_t n;
} pair_file;

static void pair_file_free(pair_file *p) {
    free(p->src_text), free(p->tgt_text), free(p->src), free(p->tgt);
}

static sqz_status pair_file_read(pair_file *p, const char *dir, const char *split, const char *se, const char *te) {
    char a[1024], b[1024];
    size_t na = 0, nb = 0;
    snprintf(a, sizeof a, "%s/codexglue-code2code-trans/data/%s.java-cs.txt.%s", dir, split, se);
    snprintf(b, sizeof b, "%s/codexglue-code2code-trans/data/%s.java-cs.txt.%s", dir, split, te);
    SQZ_TRY(sqz_read_file(a, &p->src_text, NULL));
    SQZ_TRY(sqz_read_file(b, &p->tgt_text, NULL));
    SQZ_TRY(split_lines(p->src_text, a, &p->src, &na));
    SQZ_TRY(split_lines(p->tgt_text, b, &p->tgt, &nb));
    SQZ_FAIL_IF(na != nb, SQZ_ERR_FORMAT, "%s has %zu lines but %s has %zu", a, na, b, nb);
    p->n = na;
    return SQZ_OK;
}

// Few-shot prompt: the first two training pairs whose sides are both under 160 bytes.
static sqz_status load_translation(sqz_task *t, const char *dir, bool java_to_cs) {
    const char *se = java_to_cs ? "java" : "cs", *te = java_to_cs ? "cs" : "java";
    const char *sl = java_to_cs ? "Java" : "C#", *tl = java_to_cs ? "C#" : "Java";
    pair_file train = {0}, test = {0};
    sqz_status st = pair_file_read(&train, dir, "train", se, te);
    if (st == SQZ_OK)
        st = pair_file_read(&test, dir, "test", se, te);
    char *shots = NULL;
    size_t len = 0;
    FILE *f = st == SQZ_OK ? open_memstream(&shots, &len) : NULL;
    if (st == SQZ_OK && !f)
        st = sqz_error(SQZ_ERR_NOMEM, "%s: out of memory", t->name);
    if (f) {
        fprintf(f, "// Translate %s to %s.\n", sl, tl);
        for (size_t i = 0, k = 0; i < train.n && k < 2; i++)
            if (strlen(train.src[i]) < 160 && strlen(train.tgt[i]) < 160 && *train.src[i])
                fprintf(f, "%s: %s\n%s: %s\n\n", sl, train.src[i], tl, train.tgt[i]), k++;
        fclose(f);
    }
    for (size_t i = 0; st == SQZ_OK && i < test.n; i++)
        st = push_item(t, fmt_str("test:%zu", i), fmt_str("%s%s: %s\n%s:", shots, sl, test.src[i], tl),
                       strdup(test.tgt[i]), NULL, NULL);
    free(shots);
    pair_file_free(&train), pair_file_free(&test);
    return st;
}

// ---- completion from the held-out corpus ---------------------------------------------------------
static sqz_status load_completion(sqz_task *t, const char *dir, int k) {
    char path[1024];
    sqz_corpus_default_path(dir, path, sizeof path);
    sqz_corpus_file *files = NULL;
    size_t nf = 0, nfn = 0;
    sqz_code_fn *fns = NULL;
    SQZ_TRY(sqz_corpus_read(path, true, &files, &nf));
    sqz_status st = SQZ_OK;
    for (size_t i = 0; i < nf && st == SQZ_OK; i++)
        st = sqz_code_fns_extract(files[i].name, files[i].text, k, &fns, &nfn);
    sqz_corpus_free(files, nf);
    for (size_t i = 0; i < nfn && st == SQZ_OK; i++) {
        st = push_item(t, fns[i].id, fns[i].prefix, fns[i].target, NULL, NULL);
        fns[i].id = fns[i].prefix = fns[i].target = NULL;
    }
    sqz_code_fns_free(fns, nfn);
    return st;
}

// ---- MBPP (JSONL: task_id, text, code, test_list[, test_setup_code]) ----------------------------
// Prompt as lm-evaluation-harness's "mbpp" task (Austin et al. 2021 format), ending "[BEGIN]\n".
static sqz_status mbpp_item(sqz_task *t, json_t *o, const char *path, size_t line) {
    json_t *id = json_object_get(o, "task_id"), *text = json_object_get(o, "text"), *code = json_object_get(o, "code");
    json_t *tests = json_object_get(o, "test_list"), *setup = json_object_get(o, "test_setup_code");
    SQZ_FAIL_IF(!json_is_integer(id) && !json_is_string(id), SQZ_ERR_FORMAT, "%s:%zu: missing task_id", path, line);
    SQZ_FAIL_IF(!json_is_string(text) || !json_is_string(code), SQZ_ERR_FORMAT,
                "%s:%zu: 'text' and 'code' must be strings", path, line);
    SQZ_FAIL_IF(!json_is_array(tests) || json_array_size(tests) == 0, SQZ_ERR_FORMAT,
                "%s:%zu: 'test_list' must be a non-empty array", path, line);
    char *tl = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&tl, &tlen);
    SQZ_FAIL_IF(!f, SQZ_ERR_NOMEM, "%s: out of memory", path);
    size_t k;
    json_t *v;
    bool bad = false;
    json_array_foreach(tests, k, v) {
        bad |= !json_is_string(v);
        fprintf(f, "%s%s", k ? "\n" : "", json_is_string(v) ? json_string_value(v) : "");
    }
    fclose(f);
    if (bad) {
        free(tl);
        return sqz_error(SQZ_ERR_FORMAT, "%s:%zu: test_list entries must be strings", path, line);
    }
    char *ids = json_is_integer(id) ? fmt_str("Mbpp/%lld", (long long)json_integer_value(id))
                                    : fmt_str("%s", json_string_value(id));
    char *prompt = fmt_str("You are an expert Python programmer, and here is your task: %s Your code should pass "
                           "these tests:\n\n%s\n[BEGIN]\n", json_string_value(text), tl);
    const char *su = json_is_string(setup) ? json_string_value(setup) : "";
    char *prog_tests = fmt_str("%s%s%s\n", su, *su ? "\n" : "", tl);
    free(tl);
    return push_item(t, ids, prompt, strdup(json_string_value(code)), NULL, prog_tests);
}

static sqz_status load_mbpp(sqz_task *t, const char *path) {
    SQZ_FAIL_IF(!path, SQZ_ERR_ARG, "mbpp: the dataset is not shipped here; give its JSONL file (--mbpp FILE)");
    char *text = NULL;
    SQZ_TRY(sqz_read_file(path, &text, NULL));
    sqz_status st = SQZ_OK;
    size_t line = 0;
    for (char *p = text; *p && st == SQZ_OK;) {
        char *e = strchr(p, '\n');
        if (e)
            *e = 0;
        line++;
        if (strspn(p, " \t\r") != strlen(p)) {
            json_error_t err;
            json_t *o = json_loads(p, 0, &err);
            st = !json_is_object(o) ? sqz_error(SQZ_ERR_FORMAT, "%s:%zu: %s", path, line,
                                                o ? "not a JSON object" : err.text)
                                    : mbpp_item(t, o, path, line);
            json_decref(o);
        }
        p = e ? e + 1 : p + strlen(p);
    }
    free(text);
    return st;
}

// ---- the seeded subset ---------------------------------------------------------------------------
static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static sqz_status take_subset(sqz_task *t, int64_t limit, uint64_t seed) {
    if (limit <= 0 || (size_t)limit >= t->n_items)
        return SQZ_OK;
    size_t n = t->n_items, *idx = malloc(n * sizeof *idx);
    SQZ_FAIL_IF(!idx, SQZ_ERR_NOMEM, "%s: out of memory", t->name);
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    uint64_t s = seed;
    for (size_t i = n - 1; i > 0; i--) { // Fisher–Yates
        size_t j = (size_t)(splitmix64(&s) % (i + 1)), tmp = idx[i];
        idx[i] = idx[j], idx[j] = tmp;
    }
    size_t keep = (size_t)limit;
    qsort(idx, keep, sizeof *idx, cmp_size);
    char *mark = calloc(n, 1);
    if (!mark) {
        free(idx);
        return sqz_error(SQZ_ERR_NOMEM, "%s: out of memory", t->name);
    }
    for (size_t i = 0; i < keep; i++)
        mark[idx[i]] = 1;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (mark[i]) {
            t->items[o] = t->items[i], t->item_tests[o] = t->item_tests[i], o++;
        } else {
            item_free(&t->items[i]);
            free(t->item_tests[i]);
        }
    }
    t->n_items = o;
    free(idx), free(mark);
    return SQZ_OK;
}

// Map items to the sandbox task's problem indices (after the subset).
static sqz_status index_code(sqz_task *t) {
    if (!t->code)
        return SQZ_OK;
    t->code_index = malloc((t->n_items ? t->n_items : 1) * sizeof *t->code_index);
    SQZ_FAIL_IF(!t->code_index, SQZ_ERR_NOMEM, "%s: out of memory", t->name);
    for (size_t i = 0; i < t->n_items; i++) {
        long k = sqz_code_task_find(t->code, t->items[i].id);
        SQZ_FAIL_IF(k < 0, SQZ_ERR_INTERNAL, "%s: item %s not in its benchmark", t->name, t->items[i].id);
        t->code_index[i] = (size_t)k;
    }
    return SQZ_OK;
}

static sqz_status task_setup(sqz_task *t, const char *name, const sqz_task_opts *o) {
    const char *dir = o->data_dir;
    int k = o->completion_k > 0 ? o->completion_k : 2;
    t->stops = k_no_stops;
    t->code_lang = "python";
    t->max_tokens = 256;
    if (!strcmp(name, "humaneval")) {
        t->kind = SQZ_EVAL_EXEC, t->stops = k_py_stops, t->max_tokens = 384;
        return load_code(t, "humaneval", dir);
    }
    if (!strncmp(name, "humaneval-x:", 12)) {
        sqz_lang l;
        SQZ_TRY(sqz_lang_parse(name + 12, &l));
        char sb[64];
        snprintf(sb, sizeof sb, "humaneval-x-%s", sqz_lang_str(l));
        t->kind = SQZ_EVAL_EXEC, t->max_tokens = 384;
        t->stops = l == SQZ_LANG_PYTHON ? k_py_stops : k_brace_stops;
        t->keep_brace = l != SQZ_LANG_PYTHON;
        t->code_lang = l == SQZ_LANG_CPP ? "cpp" : l == SQZ_LANG_JAVA ? "java" : l == SQZ_LANG_JS ? "javascript" : "python";
        return load_code(t, sb, dir);
    }
    if (!strcmp(name, "quixbugs")) {
        t->kind = SQZ_EVAL_EXEC, t->stops = k_repair_stops, t->max_tokens = 768;
        return load_code(t, "quixbugs", dir);
    }
    if (!strcmp(name, "codexglue-java-cs") || !strcmp(name, "codexglue-cs-java")) {
        bool j2c = !strcmp(name, "codexglue-java-cs");
        t->kind = SQZ_EVAL_TRANSLATION, t->stops = k_line_stops, t->max_tokens = 384;
        t->code_lang = j2c ? "c_sharp" : "java";
        return load_translation(t, dir, j2c);
    }
    if (!strcmp(name, "completion")) {
        t->kind = SQZ_EVAL_COMPLETION, t->stop_toplevel = true, t->max_tokens = 256;
        return load_completion(t, dir, k);
    }
    if (!strcmp(name, "mbpp")) {
        t->kind = SQZ_EVAL_EXEC, t->stops = k_mbpp_stops, t->max_tokens = 512;
        return load_mbpp(t, o->mbpp_path);
    }
    if (!strcmp(name, "perplexity") || !strcmp(name, "divergence")) {
        t->kind = name[0] == 'p' ? SQZ_EVAL_PERPLEXITY : SQZ_EVAL_DIVERGENCE;
        return SQZ_OK; // no items: the runner reads the held-out corpus text
    }
    return sqz_error(SQZ_ERR_ARG, "unknown task '%s' (known: humaneval, humaneval-x:<python|cpp|java|js>, quixbugs, "
                     "codexglue-java-cs, codexglue-cs-java, completion, perplexity, divergence, mbpp)", name);
}

sqz_status sqz_task_open(sqz_task **out, const char *name, const sqz_task_opts *o) {
    *out = NULL;
    SQZ_FAIL_IF(!name || !o || !o->data_dir, SQZ_ERR_ARG, "sqz_task_open: name and data_dir are required");
    sqz_task *t = calloc(1, sizeof *t);
    SQZ_FAIL_IF(!t, SQZ_ERR_NOMEM, "out of memory");
    t->name = strdup(name);
    t->limit = o->limit;
    t->seed = o->seed;
    t->completion_k = o->completion_k > 0 ? o->completion_k : 2;
    t->timeout_s = o->timeout_s;
    sqz_status st = t->name ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "out of memory");
    if (st == SQZ_OK && !(o->timeout_s >= 0 && o->timeout_s <= 86400))
        st = sqz_error(SQZ_ERR_ARG, "timeout %g s: expected 0..86400 (0 = the language's default)", o->timeout_s);
    if (st == SQZ_OK)
        st = task_setup(t, name, o);
    if (st == SQZ_OK && t->kind != SQZ_EVAL_PERPLEXITY && t->kind != SQZ_EVAL_DIVERGENCE) {
        st = take_subset(t, o->limit, o->seed);
        if (st == SQZ_OK)
            st = index_code(t);
    }
    if (st != SQZ_OK) {
        sqz_task_free(t);
        return sqz_error_prefix(st, "task %s: ", name);
    }
    *out = t;
    return SQZ_OK;
}

// ---- stop rules --------------------------------------------------------------------------------
long sqz_task_stop_at(const sqz_task *t, const char *text, size_t len) {
    long best = -1;
    for (const char *const *s = t->stops; *s; s++) {
        const char *p = memmem(text, len, *s, strlen(*s));
        if (!p)
            continue;
        long at = (long)(p - text) + (t->keep_brace ? (long)strlen(*s) : 0);
        if (best < 0 || at < best)
            best = at;
    }
    if (t->stop_toplevel) { // a new top-level line: '\n' (or the start) followed by a non-blank at column 0
        for (size_t i = 0; i < len; i++) {
            if (i > 0 && text[i - 1] != '\n')
                continue;
            char c = text[i];
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != ')' && c != ']') {
                long at = i > 0 ? (long)i - 1 : 0;
                if (best < 0 || at < best)
                    best = at;
                break;
            }
        }
    }
    return best;
}

char *sqz_task_metric_json(const sqz_task *t) {
    json_t *o = json_object();
    json_t *stops = json_array();
    for (const char *const *s = t->stops; *s; s++)
        json_array_append_new(stops, json_string(*s));
    json_object_set_new(o, "stops", stops);
    json_object_set_new(o, "keep_brace", json_boolean(t->keep_brace));
    json_object_set_new(o, "stop_toplevel", json_boolean(t->stop_toplevel));
    json_object_set_new(o, "code_lang", json_string(t->code_lang));
    json_object_set_new(o, "codebleu", json_string(sqz_task_codebleu_flavor(t) == SQZ_CODEBLEU_CODEXGLUE
                                                        ? "codexglue" : "pypi-0.7.0"));
    if (t->kind == SQZ_EVAL_TRANSLATION)
        json_object_set_new(o, "bleu", json_string("sacrebleu-2.6.0 corpus 13a exp"));
    if (t->kind == SQZ_EVAL_COMPLETION)
        json_object_set_new(o, "prefix_body_lines", json_integer(t->completion_k));
    if (t->kind == SQZ_EVAL_EXEC && t->timeout_s > 0) // a shorter limit turns slow passes into timeouts
        json_object_set_new(o, "timeout_s", json_real(t->timeout_s));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

// CodeXGLUE's evaluator has keyword lists for python, java and c_sharp; other languages use the
// maintained PyPI package's flavor.
sqz_codebleu_flavor sqz_task_codebleu_flavor(const sqz_task *t) {
    const char *l = t->code_lang;
    return !strcmp(l, "python") || !strcmp(l, "java") || !strcmp(l, "c_sharp") ? SQZ_CODEBLEU_CODEXGLUE
                                                                                 : SQZ_CODEBLEU_PYPI;
}

// Parsing and checking a sweep config (libyaml's document API: every node keeps its line and
// column, so every error can point at the offending text).
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/error.h"
#include "eval/sweep_config.h"
#include "sqz/quant.h"
#include "sqz/store.h"

static const char *const DEFAULT_TASKS[] = {
    "humaneval", "humaneval-x:cpp", "humaneval-x:java", "humaneval-x:js", "humaneval-x:python",
    "mbpp", "quixbugs", "codexglue-java-cs", "codexglue-cs-java", "completion", "perplexity",
    "divergence", NULL};

const char *const *sqz_sweep_default_tasks(void) { return DEFAULT_TASKS; }

#define MAX_LIST 4096 // entries per list: a config is written by hand

typedef struct cfg {
    const char *name, *base;
    const char *const *tasks;
    yaml_document_t doc;
    yaml_node_t *sampling; // the `sampling` map, for errors that involve two of its keys
    sqz_sweep_plan *p;
} cfg;

// Error at a node: "name:line:col: message".
static sqz_status __attribute__((format(printf, 4, 5)))
at(const cfg *c, const yaml_node_t *n, sqz_status code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sqz_error(code, "%s:%zu:%zu: %s", c->name, n->start_mark.line + 1, n->start_mark.column + 1, msg);
}

static yaml_node_t *node(cfg *c, int id) { return yaml_document_get_node(&c->doc, id); }

static sqz_status get_str(cfg *c, yaml_node_t *n, const char *field, const char **out) {
    if (n->type != YAML_SCALAR_NODE)
        return at(c, n, SQZ_ERR_ARG, "%s: expected a string", field);
    *out = (const char *)n->data.scalar.value;
    if (strlen(*out) != n->data.scalar.length)
        return at(c, n, SQZ_ERR_ARG, "%s: contains a NUL byte", field);
    return SQZ_OK;
}

static sqz_status get_int(cfg *c, yaml_node_t *n, const char *field, int64_t lo, int64_t hi, int64_t *out) {
    const char *s;
    SQZ_TRY(get_str(c, n, field, &s));
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return at(c, n, SQZ_ERR_ARG, "%s: expected an integer in %lld..%lld, got '%s'", field, (long long)lo,
                  (long long)hi, s);
    *out = v;
    return SQZ_OK;
}

static sqz_status get_num(cfg *c, yaml_node_t *n, const char *field, double lo, double hi, double *out) {
    const char *s;
    SQZ_TRY(get_str(c, n, field, &s));
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !(v >= lo && v <= hi))
        return at(c, n, SQZ_ERR_ARG, "%s: expected a number in %g..%g, got '%s'", field, lo, hi, s);
    *out = v;
    return SQZ_OK;
}

static sqz_status set_dup(char **dst, const char *s) {
    *dst = strdup(s);
    return *dst ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "out of memory");
}

// path relative to the config's directory (absolute paths as they are).
static sqz_status resolve(const cfg *c, const char *path, char **out) {
    if (path[0] == '/' || !c->base || !c->base[0] || !strcmp(c->base, "."))
        return set_dup(out, path);
    size_t n = strlen(c->base) + strlen(path) + 2;
    *out = malloc(n);
    if (!*out)
        return sqz_error(SQZ_ERR_NOMEM, "out of memory");
    snprintf(*out, n, "%s/%s", c->base, path);
    return SQZ_OK;
}

// Iterate a mapping: calls fn for each (key, value) after checking the key is known and unique.
typedef sqz_status (*field_fn)(cfg *c, const char *key, yaml_node_t *val, void *ctx);

static sqz_status each_field(cfg *c, yaml_node_t *map, const char *what, const char *const *keys,
                             field_fn fn, void *ctx) {
    if (map->type != YAML_MAPPING_NODE)
        return at(c, map, SQZ_ERR_ARG, "%s: expected a mapping", what);
    unsigned seen = 0;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = node(c, pr->key), *v = node(c, pr->value);
        const char *key;
        SQZ_TRY(get_str(c, k, "key", &key));
        int idx = -1;
        for (int i = 0; keys[i]; i++)
            if (!strcmp(keys[i], key))
                idx = i;
        if (idx < 0) {
            char known[256] = "";
            for (int i = 0; keys[i]; i++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", keys[i]);
            return at(c, k, SQZ_ERR_ARG, "%s: unknown key '%s' (known: %s)", what, key, known);
        }
        if (seen & (1u << idx))
            return at(c, k, SQZ_ERR_ARG, "%s: key '%s' given twice", what, key);
        seen |= 1u << idx;
        SQZ_TRY(fn(c, key, v, ctx));
    }
    return SQZ_OK;
}

// ---- limits and sampling ---------------------------------------------------------------------------
// The ranges of the limits, shared by the `limits` map and a task entry's overrides.
static sqz_status get_items(cfg *c, yaml_node_t *v, const char *field, int64_t *out) {
    return get_int(c, v, field, 0, INT32_MAX, out);
}
static sqz_status get_max_tokens(cfg *c, yaml_node_t *v, const char *field, int64_t *out) {
    return get_int(c, v, field, 1, 1 << 20, out);
}
static sqz_status get_timeout(cfg *c, yaml_node_t *v, const char *field, double *out) {
    return get_num(c, v, field, 0.001, 86400, out);
}

static sqz_status limits_field(cfg *c, const char *key, yaml_node_t *v, void *ctx) {
    (void)ctx;
    sqz_sweep_plan *p = c->p;
    if (!strcmp(key, "items"))
        return get_items(c, v, "limits.items", &p->limit);
    if (!strcmp(key, "max_tokens"))
        return get_max_tokens(c, v, "limits.max_tokens", &p->max_tokens);
    return get_timeout(c, v, "limits.timeout_s", &p->timeout_s);
}

static sqz_status sampling_field(cfg *c, const char *key, yaml_node_t *v, void *ctx) {
    (void)ctx;
    sqz_sweep_plan *p = c->p;
    if (!strcmp(key, "temperature"))
        return get_num(c, v, "sampling.temperature", 0, 100, &p->temperature);
    if (!strcmp(key, "top_k"))
        return get_int(c, v, "sampling.top_k", 0, 1 << 24, &p->top_k);
    if (!strcmp(key, "n"))
        return get_int(c, v, "sampling.n", 1, 10000, &p->n_samples);
    SQZ_TRY(get_num(c, v, "sampling.top_p", 0, 1, &p->top_p));
    if (p->top_p <= 0)
        return at(c, v, SQZ_ERR_ARG, "sampling.top_p: must be > 0");
    return SQZ_OK;
}

// ---- lists -----------------------------------------------------------------------------------------
static sqz_status check_list(cfg *c, yaml_node_t *n, const char *what) {
    if (n->type != YAML_SEQUENCE_NODE)
        return at(c, n, SQZ_ERR_ARG, "%s: expected a list", what);
    long len = n->data.sequence.items.top - n->data.sequence.items.start;
    if (len == 0)
        return at(c, n, SQZ_ERR_ARG, "%s: the list is empty", what);
    if (len > MAX_LIST)
        return at(c, n, SQZ_ERR_ARG, "%s: more than %d entries", what, MAX_LIST);
    return SQZ_OK;
}

// The model file must exist and be readable now, not hours into the sweep.
static sqz_status check_model_file(cfg *c, yaml_node_t *n, int i, const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0)
        return at(c, n, SQZ_ERR_NOT_FOUND, "models[%d]: model file '%s' does not exist", i, path);
    if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) // a GGUF/safetensors file or an HF directory
        return at(c, n, SQZ_ERR_ARG, "models[%d]: '%s' is not a file or directory", i, path);
    if (access(path, R_OK) != 0)
        return at(c, n, SQZ_ERR_IO, "models[%d]: cannot read '%s': %s", i, path, strerror(errno));
    return SQZ_OK;
}

typedef struct entry {
    const char *a, *name;
    yaml_node_t *an;
} entry;

static sqz_status entry_field(cfg *c, const char *key, yaml_node_t *v, void *ctx) {
    entry *e = ctx;
    if (!strcmp(key, "name"))
        return get_str(c, v, "name", &e->name);
    e->an = v;
    return get_str(c, v, key, &e->a);
}

// An entry that is a scalar, or a mapping {<main>: ..., name: ...}.
static sqz_status get_entry(cfg *c, yaml_node_t *n, const char *what, const char *main_key, entry *e) {
    *e = (entry){.an = n};
    if (n->type == YAML_SCALAR_NODE)
        return get_str(c, n, what, &e->a);
    const char *keys[] = {main_key, "name", NULL};
    SQZ_TRY(each_field(c, n, what, keys, entry_field, e));
    if (!e->a)
        return at(c, n, SQZ_ERR_ARG, "%s: missing '%s'", what, main_key);
    return SQZ_OK;
}

static sqz_status default_model_name(const char *path, char **out) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    SQZ_TRY(set_dup(out, b));
    char *dot = strrchr(*out, '.');
    if (dot && dot != *out)
        *dot = 0;
    return SQZ_OK;
}

static sqz_status parse_models(cfg *c, yaml_node_t *n) {
    SQZ_TRY(check_list(c, n, "models"));
    sqz_sweep_plan *p = c->p;
    long len = n->data.sequence.items.top - n->data.sequence.items.start;
    p->models = calloc((size_t)len, sizeof *p->models);
    SQZ_FAIL_IF(!p->models, SQZ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < len; i++) {
        yaml_node_t *it = node(c, n->data.sequence.items.start[i]);
        char what[32];
        snprintf(what, sizeof what, "models[%d]", i);
        entry e;
        SQZ_TRY(get_entry(c, it, what, "path", &e));
        sqz_sweep_model *m = &p->models[p->n_models++];
        SQZ_TRY(resolve(c, e.a, &m->path));
        SQZ_TRY(e.name ? set_dup(&m->name, e.name) : default_model_name(m->path, &m->name));
        SQZ_TRY(check_model_file(c, e.an, i, m->path));
        for (int j = 0; j < i; j++)
            if (!strcmp(p->models[j].path, m->path) || !strcmp(p->models[j].name, m->name))
                return at(c, it, SQZ_ERR_ARG, "models[%d]: same path or name as models[%d]", i, j);
    }
    return SQZ_OK;
}

static sqz_status recipe_canonical(cfg *c, yaml_node_t *n, int i, const char *text, char **out) {
    if (!strcmp(text, SQZ_RECIPE_NONE))
        return set_dup(out, SQZ_RECIPE_NONE);
    sqz_recipe *r = NULL;
    if (sqz_recipe_parse(text, &r) != SQZ_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", sqz_last_error());
        return at(c, n, SQZ_ERR_ARG, "recipes[%d]: %s", i, msg);
    }
    *out = sqz_recipe_str(r);
    sqz_recipe_free(r);
    return *out ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "out of memory");
}

static sqz_status parse_recipes(cfg *c, yaml_node_t *n) {
    SQZ_TRY(check_list(c, n, "recipes"));
    sqz_sweep_plan *p = c->p;
    long len = n->data.sequence.items.top - n->data.sequence.items.start;
    p->recipes = calloc((size_t)len, sizeof *p->recipes);
    SQZ_FAIL_IF(!p->recipes, SQZ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < len; i++) {
        yaml_node_t *it = node(c, n->data.sequence.items.start[i]);
        char what[32];
        snprintf(what, sizeof what, "recipes[%d]", i);
        entry e;
        SQZ_TRY(get_entry(c, it, what, "recipe", &e));
        sqz_sweep_recipe *r = &p->recipes[p->n_recipes++];
        SQZ_TRY(set_dup(&r->text, e.a));
        SQZ_TRY(recipe_canonical(c, e.an, i, e.a, &r->canonical));
        SQZ_TRY(set_dup(&r->name, e.name ? e.name : !strcmp(e.a, SQZ_RECIPE_NONE) ? "full" : e.a));
        for (int j = 0; j < i; j++) {
            if (!strcmp(p->recipes[j].canonical, r->canonical))
                return at(c, it, SQZ_ERR_ARG, "recipes[%d]: the same recipe as recipes[%d] (%s)", i, j, r->canonical);
            if (!strcmp(p->recipes[j].name, r->name))
                return at(c, it, SQZ_ERR_ARG, "recipes[%d]: name '%s' already used by recipes[%d]", i, r->name, j);
        }
    }
    return SQZ_OK;
}

static sqz_status unknown_task(cfg *c, yaml_node_t *n, int i, const char *t) {
    char known[1024] = "";
    for (int k = 0; c->tasks[k] && strlen(known) < sizeof known - 64; k++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "", c->tasks[k]);
    return at(c, n, SQZ_ERR_ARG, "tasks[%d]: unknown task '%s' (known: %s)", i, t, known);
}

// A task entry: a name, or {name, limit, max_tokens, timeout_s}. Limits not given stay unset
// (-1) until the plan's `limits` are known (plan_finish).
typedef struct task_entry {
    int i;
    const char *name;
    yaml_node_t *name_node;
    sqz_sweep_task *t;
} task_entry;

static sqz_status task_field(cfg *c, const char *key, yaml_node_t *v, void *ctx) {
    task_entry *e = ctx;
    char field[64];
    snprintf(field, sizeof field, "tasks[%d].%s", e->i, key);
    if (!strcmp(key, "name")) {
        e->name_node = v;
        return get_str(c, v, field, &e->name);
    }
    if (!strcmp(key, "limit"))
        return get_items(c, v, field, &e->t->limit);
    if (!strcmp(key, "max_tokens"))
        return get_max_tokens(c, v, field, &e->t->max_tokens);
    return get_timeout(c, v, field, &e->t->timeout_s);
}

static sqz_status parse_task(cfg *c, yaml_node_t *it, int i, sqz_sweep_task *t) {
    static const char *const keys[] = {"name", "limit", "max_tokens", "timeout_s", NULL};
    char what[32];
    snprintf(what, sizeof what, "tasks[%d]", i);
    *t = (sqz_sweep_task){.limit = -1, .max_tokens = -1, .timeout_s = -1};
    task_entry e = {.i = i, .name_node = it, .t = t};
    if (it->type == YAML_MAPPING_NODE) {
        SQZ_TRY(each_field(c, it, what, keys, task_field, &e));
        if (!e.name)
            return at(c, it, SQZ_ERR_ARG, "%s: missing 'name'", what);
    } else {
        SQZ_TRY(get_str(c, it, what, &e.name));
    }
    int known = 0;
    for (int k = 0; c->tasks[k] && !known; k++)
        known = !strcmp(c->tasks[k], e.name);
    if (!known)
        return unknown_task(c, e.name_node, i, e.name);
    for (int j = 0; j < i; j++)
        if (!strcmp(c->p->tasks[j].name, e.name))
            return at(c, it, SQZ_ERR_ARG, "tasks[%d]: '%s' is already tasks[%d]", i, e.name, j);
    return set_dup(&t->name, e.name);
}

static sqz_status parse_tasks(cfg *c, yaml_node_t *n) {
    SQZ_TRY(check_list(c, n, "tasks"));
    sqz_sweep_plan *p = c->p;
    long len = n->data.sequence.items.top - n->data.sequence.items.start;
    p->tasks = calloc((size_t)len, sizeof *p->tasks);
    SQZ_FAIL_IF(!p->tasks, SQZ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < len; i++) {
        SQZ_TRY(parse_task(c, node(c, n->data.sequence.items.start[i]), i, &p->tasks[i]));
        p->n_tasks++;
    }
    return SQZ_OK;
}

// The database's directory must exist and be writable (and the file, when it exists).
static sqz_status check_db(cfg *c, yaml_node_t *n, const char *path) {
    char *dir = strdup(path);
    SQZ_FAIL_IF(!dir, SQZ_ERR_NOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    const char *d = slash ? (slash == dir ? "/" : (*slash = 0, dir)) : ".";
    struct stat sb;
    sqz_status st = SQZ_OK;
    if (stat(d, &sb) != 0 || !S_ISDIR(sb.st_mode))
        st = at(c, n, SQZ_ERR_IO, "db: directory '%s' does not exist", d);
    else if (access(d, W_OK) != 0)
        st = at(c, n, SQZ_ERR_IO, "db: directory '%s' is not writable", d);
    else if (stat(path, &sb) == 0 && (!S_ISREG(sb.st_mode) || access(path, W_OK) != 0))
        st = at(c, n, SQZ_ERR_IO, "db: '%s' is not a writable file", path);
    free(dir);
    return st;
}

static sqz_status top_field(cfg *c, const char *key, yaml_node_t *v, void *ctx) {
    sqz_sweep_plan *p = c->p;
    const char *s;
    if (!strcmp(key, "db")) {
        SQZ_TRY(get_str(c, v, "db", &s));
        SQZ_TRY(resolve(c, s, &p->db_path));
        // Kept, not raised: `sqz sweep --db` replaces this path, and then it does not matter.
        sqz_status st = check_db(c, v, p->db_path);
        if (st != SQZ_OK) {
            free(p->db_error);
            SQZ_FAIL_IF(!(p->db_error = strdup(sqz_last_error())), SQZ_ERR_NOMEM, "out of memory");
            p->db_status = st;
        }
        return SQZ_OK;
    }
    if (!strcmp(key, "data_dir")) {
        SQZ_TRY(get_str(c, v, "data_dir", &s));
        SQZ_TRY(resolve(c, s, &p->data_dir));
        struct stat sb;
        if (stat(p->data_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return at(c, v, SQZ_ERR_NOT_FOUND, "data_dir: '%s' is not a directory", p->data_dir);
        return SQZ_OK;
    }
    if (!strcmp(key, "seed")) {
        int64_t seed;
        SQZ_TRY(get_int(c, v, "seed", 0, INT64_MAX, &seed));
        p->seed = (uint64_t)seed;
        return SQZ_OK;
    }
    if (!strcmp(key, "price_per_hour"))
        return get_num(c, v, "price_per_hour", 0, 1e9, &p->price_per_hour);
    if (!strcmp(key, "limits"))
        return each_field(c, v, "limits", (const char *[]){"items", "max_tokens", "timeout_s", NULL}, limits_field, NULL);
    if (!strcmp(key, "sampling")) {
        c->sampling = v;
        return each_field(c, v, "sampling", (const char *[]){"temperature", "top_p", "top_k", "n", NULL}, sampling_field, NULL);
    }
    if (!strcmp(key, "models"))
        return parse_models(c, v);
    if (!strcmp(key, "recipes"))
        return parse_recipes(c, v);
    return parse_tasks(c, v);
}

// Settings that depend on each other, once every key is read: the tasks' limits default to the
// plan's; top_p defaults to 0.95 with a temperature (as `sqz eval`), else 1; n > 1 needs sampling.
static sqz_status plan_finish(cfg *c) {
    sqz_sweep_plan *p = c->p;
    for (int i = 0; i < p->n_tasks; i++) {
        sqz_sweep_task *t = &p->tasks[i];
        t->limit = t->limit < 0 ? p->limit : t->limit;
        t->max_tokens = t->max_tokens < 0 ? p->max_tokens : t->max_tokens;
        t->timeout_s = t->timeout_s < 0 ? p->timeout_s : t->timeout_s;
    }
    if (p->top_p == 0)
        p->top_p = p->temperature > 0 ? 0.95 : 1.0;
    if (p->n_samples > 1 && p->temperature <= 0)
        return at(c, c->sampling, SQZ_ERR_ARG, "sampling.n: %lld samples per item need sampling.temperature > 0",
                  (long long)p->n_samples);
    return SQZ_OK;
}

static const char *const TOP_KEYS[] = {"db", "seed", "price_per_hour", "data_dir", "limits", "sampling",
                                       "models", "recipes", "tasks", NULL};

static sqz_status parse_root(cfg *c) {
    yaml_node_t *root = yaml_document_get_root_node(&c->doc);
    if (!root)
        return sqz_error(SQZ_ERR_ARG, "%s: the config is empty", c->name);
    SQZ_TRY(each_field(c, root, "config", TOP_KEYS, top_field, NULL));
    const sqz_sweep_plan *p = c->p;
    const char *missing = !p->db_path ? "db" : !p->n_models ? "models" : !p->n_recipes ? "recipes"
                        : !p->n_tasks ? "tasks" : NULL;
    if (missing)
        return at(c, root, SQZ_ERR_ARG, "missing required key '%s'", missing);
    return plan_finish(c);
}

static sqz_status load_doc(cfg *c, const char *text, size_t len) {
    yaml_parser_t parser;
    SQZ_FAIL_IF(!yaml_parser_initialize(&parser), SQZ_ERR_NOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    sqz_status st = SQZ_OK;
    if (!yaml_parser_load(&parser, &c->doc)) {
        st = sqz_error(SQZ_ERR_FORMAT, "%s:%zu:%zu: YAML syntax error: %s%s%s", c->name,
                       parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                       parser.problem ? parser.problem : "unknown", parser.context ? " " : "",
                       parser.context ? parser.context : "");
        memset(&c->doc, 0, sizeof c->doc);
    }
    yaml_parser_delete(&parser);
    return st;
}

sqz_status sqz_sweep_config_parse(const char *text, size_t len, const char *name, const char *base_dir,
                                  const char *const *tasks, sqz_sweep_plan **out) {
    *out = NULL;
    cfg c = {.name = name, .base = base_dir, .tasks = tasks ? tasks : DEFAULT_TASKS};
    c.p = calloc(1, sizeof *c.p);
    SQZ_FAIL_IF(!c.p, SQZ_ERR_NOMEM, "out of memory");
    *c.p = (sqz_sweep_plan){.max_tokens = 512, .n_samples = 1}; // top_p 0: set by plan_finish
    sqz_status st = set_dup(&c.p->config_path, name);
    int loaded = 0;
    if (st == SQZ_OK && (st = load_doc(&c, text, len)) == SQZ_OK) {
        loaded = 1;
        st = parse_root(&c);
    }
    if (loaded)
        yaml_document_delete(&c.doc);
    if (st != SQZ_OK) {
        sqz_sweep_plan_free(c.p);
        return st;
    }
    *out = c.p;
    return SQZ_OK;
}

sqz_status sqz_sweep_config_load(const char *path, const char *const *tasks, sqz_sweep_plan **out) {
    *out = NULL;
    char *text = NULL, *base = NULL;
    size_t len = 0;
    SQZ_TRY(sqz_read_file(path, &text, &len));
    base = strdup(path);
    sqz_status st = base ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "out of memory");
    if (st == SQZ_OK) {
        char *slash = strrchr(base, '/');
        if (slash)
            slash == base ? (void)(slash[1] = 0) : (void)(*slash = 0);
        else
            strcpy(base, ".");
        st = sqz_sweep_config_parse(text, len, path, base, tasks, out);
    }
    if (st == SQZ_OK && (*out)->db_error) {
        st = sqz_error((*out)->db_status, "%s", (*out)->db_error);
        sqz_sweep_plan_free(*out);
        *out = NULL;
    }
    free(text);
    free(base);
    return st;
}

void sqz_sweep_plan_free(sqz_sweep_plan *p) {
    if (!p)
        return;
    for (int i = 0; i < p->n_models; i++)
        free(p->models[i].path), free(p->models[i].name);
    for (int i = 0; i < p->n_recipes; i++)
        free(p->recipes[i].name), free(p->recipes[i].text), free(p->recipes[i].canonical);
    for (int i = 0; i < p->n_tasks; i++)
        free(p->tasks[i].name);
    free(p->models), free(p->recipes), free(p->tasks);
    free(p->config_path), free(p->db_path), free(p->db_error), free(p->data_dir);
    free(p);
}

size_t sqz_sweep_plan_cells(const sqz_sweep_plan *p) {
    return (size_t)p->n_models * (size_t)p->n_recipes * (size_t)p->n_tasks;
}

char *sqz_sweep_sampling_json(const sqz_sweep_plan *p, const sqz_sweep_task *t) {
    json_t *o = json_pack("{s:I, s:I, s:f, s:I, s:f}", "max_tokens", (json_int_t)t->max_tokens, "n",
                          (json_int_t)p->n_samples, "temperature", p->temperature, "top_k",
                          (json_int_t)p->top_k, "top_p", p->top_p);
    char *s = o ? json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

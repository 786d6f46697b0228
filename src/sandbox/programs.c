// Assembling the program (files, command lines, limits) of one completion of a code task; the
// rules of each benchmark are described at the top of tasks.c.
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sandbox/internal.h"

// CodeGeeX's IMPORT_HELPER lists (codegeex/benchmark/utils.py).
static const char k_py_helper[] =
    "import math\nimport re\nimport sys\nimport copy\nimport datetime\nimport itertools\n"
    "import collections\nimport heapq\nimport statistics\nimport functools\nimport hashlib\n"
    "import numpy\nimport numpy as np\nimport string\nfrom typing import *\n"
    "from collections import *\n";
static const char *const k_cpp_helper[] = {
    "#include<stdlib.h>", "#include<algorithm>", "#include<math.h>", "#include<stdio.h>",
    "#include<vector>",   "#include<string>",    "#include<climits>", "#include<cstring>",
    "#include<iostream>",
};

// A minimal stand-in for the parts of pytest that QuixBugs' python_testcases use.
static const char k_pytest_shim[] =
    "\"\"\"The parts of pytest used by QuixBugs' python_testcases (sqz sandbox).\"\"\"\n"
    "import builtins\n"
    "use_correct = False  # the program under test is python_programs/<name>.py\n"
    "run_slow = False     # QuixBugs' conftest default (--runslow not given)\n"
    "class Skipped(BaseException):\n"
    "    pass\n"
    "def skip(msg=''):\n"
    "    raise Skipped(msg)\n"
    "class _Mark:\n"
    "    def parametrize(self, argnames, argvalues):\n"
    "        names = [n.strip() for n in argnames.split(',')] if isinstance(argnames, str) else list(argnames)\n"
    "        def deco(f):\n"
    "            f._sqz_params = (names, list(argvalues))\n"
    "            return f\n"
    "        return deco\n"
    "mark = _Mark()\n"
    "class approx:\n"
    "    def __init__(self, expected, rel=None, abs=None):\n"
    "        self.expected, self.rel, self.abs = expected, rel, abs\n"
    "    def __eq__(self, actual):\n"
    "        if self.rel is None and self.abs is not None:\n"
    "            tol = self.abs  # pytest: abs alone disables the relative tolerance\n"
    "        else:\n"
    "            rel = 1e-6 if self.rel is None else self.rel\n"
    "            tol = max(rel * builtins.abs(self.expected), 1e-12 if self.abs is None else self.abs)\n"
    "        return builtins.abs(actual - self.expected) <= tol\n"
    "    def __repr__(self):\n"
    "        return 'approx(%r)' % (self.expected,)\n";

static const char k_qb_runner[] =
    "import os, sys, traceback\n"
    "here = os.getcwd()\n"
    "sys.path[:0] = [here, os.path.join(here, 'python_testcases')]\n"
    "import pytest\n"
    "name = sys.argv[1]\n"
    "mod = __import__('test_' + name)\n"
    "n_pass = n_skip = 0\n"
    "for fname, f in list(vars(mod).items()):\n"
    "    if not fname.startswith('test') or not callable(f):\n"
    "        continue\n"
    "    names, values = getattr(f, '_sqz_params', ([], [()]))\n"
    "    for i, v in enumerate(values):\n"
    "        if len(names) > 1:\n"
    "            args = dict(zip(names, v))\n"
    "        else:\n"
    "            args = {names[0]: v} if names else {}\n"
    "        label = '%s[%d]' % (fname, i) if names else fname\n"
    "        try:\n"
    "            f(**args)\n"
    "            n_pass += 1\n"
    "        except pytest.Skipped:\n"
    "            n_skip += 1\n"
    "        except BaseException:\n"
    "            print('FAILED', label, file=sys.stderr)\n"
    "            traceback.print_exc()\n"
    "            sys.exit(1)\n"
    "print('%d passed, %d skipped' % (n_pass, n_skip))\n";

// Concatenate NULL-terminated list of strings into a new buffer.
static char *cat(const char *first, ...) {
    va_list ap;
    size_t len = 0;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        len += strlen(s);
    va_end(ap);
    char *out = malloc(len + 1), *w = out;
    if (!out)
        return NULL;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        size_t l = strlen(s);
        memcpy(w, s, l);
        w += l;
    }
    va_end(ap);
    *w = 0;
    return out;
}

static void add_file(sqz_code_job *j, const char *name, const char *data) {
    j->files_[j->job.n_files++] = (sqz_sandbox_file){name, data, strlen(data)};
}

// Copy a NULL-terminated argv into one of sqz_code_job's fixed arrays (16 slots).
static void set_argv(const char **dst, const char *const *src) {
    size_t i = 0;
    for (; src[i] && i < 15; i++)
        dst[i] = src[i];
    dst[i] = NULL;
}

// CodeGeeX cuts a Python completion at its first non-blank line that is not indented.
static char *py_cut(const char *c) {
    const char *line = c;
    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        if (strspn(line, " \t\r\f\v") < ll && line[0] != ' ' && line[0] != '\t')
            return line == c ? strdup("") : strndup(c, (size_t)(line - c - 1));
        line += ll + (nl ? 1 : 0);
    }
    return strdup(c);
}

static sqz_status make_python(const sqz_code_task *t, const sqz_problem *p, const char *completion,
                              sqz_code_job *j) {
    static const char *const argv[] = {"/usr/bin/python3", "-I", "-B", "main.py", NULL};
    if (t->kind == SQZ_TASK_HUMANEVAL) {
        j->storage[0] = cat(p->prompt, completion, "\n", p->test, "\n", "check(", p->entry_point, ")\n",
                            NULL);
    } else {
        char *cut = py_cut(completion);
        j->storage[0] = cut ? cat(k_py_helper, p->prompt, cut, "\n", p->test, "\n", NULL) : NULL;
        free(cut);
    }
    SQZ_FAIL_IF(!j->storage[0], SQZ_ERR_NOMEM, "out of memory");
    add_file(j, "main.py", j->storage[0]);
    set_argv(j->argv_, argv);
    return SQZ_OK;
}

static sqz_status make_cpp(const sqz_problem *p, const char *completion, sqz_code_job *j) {
    size_t hl = 0;
    for (size_t i = 0; i < sizeof k_cpp_helper / sizeof *k_cpp_helper; i++)
        hl += strlen(k_cpp_helper[i]) + 1;
    char *helper = calloc(hl + 1, 1);
    SQZ_FAIL_IF(!helper, SQZ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < sizeof k_cpp_helper / sizeof *k_cpp_helper; i++)
        if (!strstr(p->prompt, k_cpp_helper[i]))
            strcat(strcat(helper, k_cpp_helper[i]), "\n");
    j->storage[0] = cat(helper, "\n", p->prompt, completion, "\n", p->test, NULL);
    free(helper);
    SQZ_FAIL_IF(!j->storage[0], SQZ_ERR_NOMEM, "out of memory");
    add_file(j, "test.cpp", j->storage[0]);
    static const char *const cc[] = {"/usr/bin/g++", "-std=c++11", "-o", "a.out", "test.cpp", NULL};
    static const char *const cc_ssl[] = {"/usr/bin/g++", "-std=c++11", "-o", "a.out", "test.cpp",
                                         "-lcrypto", "-lssl", NULL};
    static const char *const run[] = {"/tmp/a.out", NULL};
    set_argv(j->cc_argv_, strstr(j->storage[0], "openssl/") ? cc_ssl : cc);
    set_argv(j->argv_, run);
    j->job.limits.timeout_s = 30;
    return SQZ_OK;
}

static sqz_status make_java(const sqz_problem *p, const char *completion, sqz_code_job *j) {
    j->storage[0] = cat(p->prompt, completion, "\n", p->test, NULL);
    SQZ_FAIL_IF(!j->storage[0], SQZ_ERR_NOMEM, "out of memory");
    add_file(j, "Main.java", j->storage[0]);
    static const char *const cc[] = {"/usr/bin/javac", "-J-Xmx512m", "-J-XX:+UseSerialGC",
                                     "-J-XX:TieredStopAtLevel=1", "-J-XX:-UsePerfData", "-nowarn",
                                     "Main.java", NULL};
    static const char *const run[] = {"/usr/bin/java", "-Xmx512m", "-XX:+UseSerialGC",
                                      "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData", "-cp", "/tmp",
                                      "Main", NULL};
    set_argv(j->cc_argv_, cc);
    set_argv(j->argv_, run);
    j->job.limits.timeout_s = 30;
    j->job.limits.mem_bytes = (size_t)8 << 30; // the JVM reserves (not commits) address space
    j->job.limits.max_procs = 256;             // JVM threads count against RLIMIT_NPROC
    j->job.limits.max_open_files = 256;
    return SQZ_OK;
}

static sqz_status make_js(const sqz_problem *p, const char *completion, sqz_code_job *j) {
    j->storage[0] = cat(p->prompt, completion, "\n", p->test, NULL);
    SQZ_FAIL_IF(!j->storage[0], SQZ_ERR_NOMEM, "out of memory");
    add_file(j, "test.js", j->storage[0]);
    static const char *const run[] = {"/usr/bin/node", "test.js", NULL};
    set_argv(j->argv_, run);
    j->job.fail_on_output = 1;
    j->job.limits.mem_bytes = (size_t)16 << 30; // V8 reserves a large virtual cage up front
    j->job.limits.max_procs = 256;
    j->job.limits.max_open_files = 256;
    return SQZ_OK;
}

static sqz_status make_quixbugs(const sqz_code_task *t, const sqz_problem *p, const char *completion,
                                sqz_code_job *j) {
    const char *name = p->task_id;
    j->storage[0] = cat("python_programs/", name, ".py", NULL);
    j->storage[1] = cat("python_testcases/test_", name, ".py", NULL);
    j->storage[2] = cat("json_testcases/", name, ".json", NULL);
    j->storage[3] = strdup(name);
    for (int i = 0; i < 4; i++)
        SQZ_FAIL_IF(!j->storage[i], SQZ_ERR_NOMEM, "out of memory");
    add_file(j, "pytest.py", k_pytest_shim);
    add_file(j, "sqz_quixbugs_run.py", k_qb_runner);
    add_file(j, "python_testcases/load_testdata.py", t->qb_load_testdata);
    add_file(j, "python_testcases/node.py", t->qb_node);
    add_file(j, j->storage[1], p->test);
    add_file(j, j->storage[0], completion);
    if (p->json_cases)
        add_file(j, j->storage[2], p->json_cases);
    const char *argv[] = {"/usr/bin/python3", "-I", "-B", "sqz_quixbugs_run.py", j->storage[3], NULL};
    set_argv(j->argv_, argv);
    return SQZ_OK;
}

sqz_status sqz_code_job_make(const sqz_code_task *t, size_t i, const char *completion,
                             const sqz_sandbox_limits *limits, sqz_code_job *j) {
    memset(j, 0, sizeof *j);
    SQZ_FAIL_IF(!t || i >= t->n, SQZ_ERR_RANGE, "code task: problem index %zu out of range", i);
    SQZ_FAIL_IF(!completion, SQZ_ERR_ARG, "code task: NULL completion for %s", t->p[i].task_id);
    j->job.files = j->files_;
    j->job.argv = j->argv_;
    const sqz_problem *p = &t->p[i];
    sqz_status st;
    if (t->kind == SQZ_TASK_QUIXBUGS)
        st = make_quixbugs(t, p, completion, j);
    else if (t->lang == SQZ_LANG_PYTHON)
        st = make_python(t, p, completion, j);
    else if (t->lang == SQZ_LANG_CPP)
        st = make_cpp(p, completion, j);
    else if (t->lang == SQZ_LANG_JAVA)
        st = make_java(p, completion, j);
    else
        st = make_js(p, completion, j);
    if (st != SQZ_OK) {
        sqz_code_job_free(j);
        return st;
    }
    if (j->cc_argv_[0])
        j->job.compile_argv = j->cc_argv_;
    if (limits) { // caller's non-zero fields override the language defaults
        sqz_sandbox_limits *l = &j->job.limits;
        if (limits->timeout_s > 0)
            l->timeout_s = limits->timeout_s;
        if (limits->cpu_s > 0)
            l->cpu_s = limits->cpu_s;
        if (limits->mem_bytes)
            l->mem_bytes = limits->mem_bytes;
        if (limits->max_procs > 0)
            l->max_procs = limits->max_procs;
        if (limits->max_file_bytes)
            l->max_file_bytes = limits->max_file_bytes;
        if (limits->max_open_files > 0)
            l->max_open_files = limits->max_open_files;
        if (limits->tmpfs_bytes)
            l->tmpfs_bytes = limits->tmpfs_bytes;
        if (limits->stdout_cap)
            l->stdout_cap = limits->stdout_cap;
        if (limits->stderr_cap)
            l->stderr_cap = limits->stderr_cap;
    }
    return SQZ_OK;
}

void sqz_code_job_free(sqz_code_job *j) {
    if (!j)
        return;
    for (int i = 0; i < 4; i++)
        free(j->storage[i]);
    memset(j, 0, sizeof *j);
}

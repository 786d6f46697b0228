// Helpers shared by the report writers: setup description, budgets, number formatting.
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "report_internal.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int report_budgets(const sqz_analysis *a, int by_size, double *budgets) {
    int n = 0;
    for (int i = 0; i < a->n; i++) {
        double k = by_size ? (double)a->results->variants[i].bytes : a->v[i].lat_p50;
        if (k > 0 && isfinite(k) && isfinite(a->v[i].retained))
            budgets[n++] = k;
    }
    qsort(budgets, (size_t)n, sizeof *budgets, cmp_double);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (m == 0 || budgets[i] != budgets[m - 1])
            budgets[m++] = budgets[i];
    return m;
}

// "SmolLM2-135M-Instruct.Q4_1.gguf" -> name "SmolLM2-135M-Instruct", type "Q4_1": a GGUF whose
// name carries a llama.cpp quantization type, i.e. the "full" model is itself quantized weights
// that sqz dequantizes (DESIGN.md: say so in reports).
static int gguf_quant_type(const char *path, char *name, size_t nn, char *type, size_t nt) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len < 6 || strcmp(base + len - 5, ".gguf"))
        return 0;
    const char *dot = NULL;
    for (const char *p = base; p < base + len - 5; p++)
        if (*p == '.')
            dot = p;
    if (!dot)
        return 0;
    const char *t = dot + 1;
    int ok = (t[0] == 'Q' && t[1] >= '0' && t[1] <= '9') || (t[0] == 'I' && t[1] == 'Q');
    if (!ok)
        return 0;
    snprintf(name, nn, "%.*s", (int)(dot - base), base);
    snprintf(type, nt, "%.*s", (int)(base + len - 5 - t), t);
    return 1;
}

void report_setup_get(const sqz_analysis *a, report_setup *out) {
    const sqz_results *r = a->results;
    snprintf(out->sqz_version, sizeof out->sqz_version, "%s", SQZ_VERSION_STRING);
    snprintf(out->cpu_features, sizeof out->cpu_features, "%s", sqz_cpu_features());
    out->baseline_note[0] = 0;
    json_t *sig = r->n_runs ? json_loads(r->runs[0].signature_json, 0, NULL) : NULL;
    const char *v = json_string_value(json_object_get(sig, "sqz_version"));
    const char *c = json_string_value(json_object_get(sig, "cpu_features"));
    if (v)
        snprintf(out->sqz_version, sizeof out->sqz_version, "%s", v);
    if (c)
        snprintf(out->cpu_features, sizeof out->cpu_features, "%s", c);
    json_decref(sig);
    if (a->baseline < 0)
        return;
    const sqz_res_variant *b = &r->variants[a->baseline];
    const sqz_res_model *m = b->model >= 0 ? &r->models[b->model] : NULL;
    char name[256], type[32];
    if (m && m->path && gguf_quant_type(m->path, name, sizeof name, type, sizeof type) &&
        !strcmp(b->recipe, SQZ_RECIPE_NONE))
        snprintf(out->baseline_note, sizeof out->baseline_note,
                 "the full model is %s's %s weights, dequantized", name, type);
}

const char *report_fmt_mb(double bytes, char *buf) {
    if (!isfinite(bytes) || bytes <= 0)
        return "-";
    snprintf(buf, 32, "%.1f MB", bytes / 1e6);
    return buf;
}

const char *report_fmt_ms(double s, char *buf) {
    if (!isfinite(s) || s < 0)
        return "-";
    snprintf(buf, 32, "%.1f ms", s * 1e3);
    return buf;
}

const char *report_fmt_pct(double ratio, char *buf) {
    if (!isfinite(ratio))
        return "-";
    snprintf(buf, 32, "%.1f %%", ratio * 100);
    return buf;
}

const char *report_fmt_num(double v, char *buf) {
    if (!isfinite(v))
        return "-";
    snprintf(buf, 32, "%.4g", v);
    return buf;
}

double report_baseline_value(const sqz_analysis *a, const sqz_res_run *run, const sqz_res_metric *m) {
    int base = run->variant >= 0 ? a->v[run->variant].baseline : -1;
    if (base < 0)
        return NAN;
    const sqz_res_run *b = sqz_results_find_run(a->results, base, run->task);
    const sqz_res_metric *bm = b ? sqz_res_run_metric(b, m->name) : NULL;
    return bm ? bm->value : NAN;
}

// results.csv: one row per variant x task x metric (RFC 4180 quoting), with the signature.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "report_internal.h"

// A field, quoted when it holds a comma, quote or line break (quotes doubled).
static void csv_field(FILE *f, const char *s, int last) {
    s = s ? s : "";
    if (strpbrk(s, ",\"\r\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
    fputc(last ? '\n' : ',', f);
}

static const char *num(double v, char *buf) {
    if (!isfinite(v))
        return ""; // empty cell = no value
    snprintf(buf, 32, "%.10g", v);
    return buf;
}

static const char *dir_name(sqz_direction d) {
    return d == SQZ_DIR_MAXIMIZE ? "max" : d == SQZ_DIR_MINIMIZE ? "min" : "";
}

static void csv_run(FILE *f, const sqz_analysis *a, const sqz_res_run *run) {
    const sqz_results *r = a->results;
    const sqz_res_variant *v = &r->variants[run->variant];
    const char *model = v->model >= 0 ? (r->models[v->model].name ? r->models[v->model].name : r->models[v->model].path) : "";
    char b[7][32], n[32];
    snprintf(n, sizeof n, "%zu", run->n_samples);
    for (int j = 0; j < run->n_metrics; j++) {
        const sqz_res_metric *m = &run->metrics[j];
        double base = report_baseline_value(a, run, m);
        const char *cells[] = {model, v->name, v->recipe, run->task, m->name, num(m->value, b[0]),
                               num(m->ci_low, b[1]), num(m->ci_high, b[2]), dir_name(m->direction),
                               m->primary ? "1" : "0", num(base, b[3]),
                               num(sqz_quality_retained(m->value, base, m->direction), b[4]), n,
                               run->signature_hash, run->signature_json};
        size_t nc = sizeof cells / sizeof cells[0];
        for (size_t c = 0; c < nc; c++)
            csv_field(f, cells[c], c + 1 == nc);
    }
}

sqz_status sqz_report_csv(const sqz_analysis *a, const char *path) {
    FILE *f = fopen(path, "w");
    SQZ_FAIL_IF(!f, SQZ_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    fputs("model,variant,recipe,task,metric,value,ci_low,ci_high,direction,primary,baseline,"
          "retained,n_samples,signature_hash,signature\n", f);
    for (int i = 0; i < a->results->n_runs; i++)
        csv_run(f, a, &a->results->runs[i]);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    SQZ_FAIL_IF(bad, SQZ_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return SQZ_OK;
}

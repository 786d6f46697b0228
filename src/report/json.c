// results.json: the whole analysis as one JSON document (NaN -> null).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/error.h"
#include "report_internal.h"

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }
static json_t *jstr(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *json_variant(const sqz_analysis *a, int i) {
    const sqz_res_variant *v = &a->results->variants[i];
    const sqz_variant_summary *s = &a->v[i];
    const sqz_res_model *m = v->model >= 0 ? &a->results->models[v->model] : NULL;
    return json_pack("{s:o, s:o, s:o, s:I, s:o, s:b, s:o, s:i, s:o, s:{s:o, s:o, s:o}, s:o, s:o, s:o, "
                     "s:b, s:{s:b, s:b}}",
                     "name", jstr(v->name), "recipe", jstr(v->recipe),
                     "model", jstr(m ? (m->name ? m->name : m->path) : NULL),
                     "bytes", (json_int_t)v->bytes, "bits_per_weight", jnum(v->bits_per_weight),
                     "baseline", i == a->baseline, "compared_with",
                     jstr(s->baseline >= 0 ? a->results->variants[s->baseline].name : NULL), "n_tasks", s->n_tasks,
                     "quality_retained", jnum(s->retained), "latency_s", "p50", jnum(s->lat_p50),
                     "p90", jnum(s->lat_p90), "p99", jnum(s->lat_p99), "speedup", jnum(s->speedup),
                     "shrink", jnum(s->shrink), "cost_per_1k_requests", jnum(s->cost_per_1k),
                     "success", s->success, "pareto", "size", s->front_size, "latency",
                     s->front_latency);
}

static json_t *json_run(const sqz_analysis *a, const sqz_res_run *run) {
    json_t *metrics = json_array();
    for (int j = 0; j < run->n_metrics; j++) {
        const sqz_res_metric *m = &run->metrics[j];
        double base = report_baseline_value(a, run, m);
        json_t *settings = m->settings_json ? json_loads(m->settings_json, 0, NULL) : NULL;
        json_array_append_new(metrics, json_pack("{s:s, s:o, s:o, s:o, s:i, s:b, s:o, s:o, s:o}",
                                                 "name", m->name, "value", jnum(m->value),
                                                 "ci_low", jnum(m->ci_low), "ci_high", jnum(m->ci_high),
                                                 "direction", (int)m->direction, "primary", m->primary,
                                                 "baseline", jnum(base), "retained",
                                                 jnum(sqz_quality_retained(m->value, base, m->direction)),
                                                 "settings", settings ? settings : json_null()));
    }
    json_t *sig = json_loads(run->signature_json, 0, NULL), *prev = json_null();
    char *why = NULL;
    if (run->prev_signature_json && sqz_signature_diff(run->prev_signature_json, run->signature_json, &why) == SQZ_OK)
        prev = json_pack("{s:o, s:o}", "primary", jnum(run->prev_primary), "signature_changes", jstr(why));
    free(why);
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:I, s:o, s:o, s:o}", "variant",
                     a->results->variants[run->variant].name, "task", run->task, "signature_hash",
                     run->signature_hash, "signature", sig ? sig : json_null(), "wall_s",
                     jnum(run->wall_s), "n_samples", (json_int_t)run->n_samples, "finished_at",
                     jstr(run->finished_at), "previous_run", prev ? prev : json_null(), "metrics", metrics);
}

static json_t *json_flips(const sqz_analysis *a) {
    json_t *arr = json_array();
    for (int i = 0; i < a->n_flips; i++) {
        const struct sqz_task_flips *t = &a->flips[i];
        const sqz_flips *f = &t->f;
        json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:f, s:i}",
                                             "variant", a->results->variants[t->variant].name,
                                             "task", t->task, "n", (json_int_t)f->n,
                                             "both_pass", (json_int_t)f->both_pass,
                                             "both_fail", (json_int_t)f->both_fail,
                                             "pass_fail", (json_int_t)f->pass_fail,
                                             "fail_pass", (json_int_t)f->fail_pass,
                                             "mcnemar_p", jnum(f->mcnemar_p), "delta_pass1",
                                             jnum(f->delta), "ci_low", jnum(f->ci_low), "ci_high",
                                             jnum(f->ci_high), "confidence", a->boot.confidence,
                                             "n_resamples", a->boot.n_resamples));
    }
    return arr;
}

static json_t *json_recommend(const sqz_analysis *a, int by_size) {
    json_t *arr = json_array();
    double *budgets = malloc((size_t)(a->n > 0 ? a->n : 1) * sizeof *budgets);
    int nb = budgets ? report_budgets(a, by_size, budgets) : 0;
    for (int i = 0; i < nb; i++) {
        int v = by_size ? sqz_recommend_size(a, budgets[i]) : sqz_recommend_latency(a, budgets[i]);
        json_array_append_new(arr, json_pack("{s:f, s:o, s:o}", by_size ? "max_bytes" : "max_p50_s",
                                             budgets[i], "variant",
                                             jstr(v >= 0 ? a->results->variants[v].name : NULL),
                                             "quality_retained", jnum(v >= 0 ? a->v[v].retained : NAN)));
    }
    free(budgets);
    return arr;
}

static json_t *json_document(const sqz_analysis *a) {
    report_setup setup;
    report_setup_get(a, &setup);
    json_t *variants = json_array(), *runs = json_array(), *models = json_array();
    for (int i = 0; i < a->results->n_models; i++) {
        const sqz_res_model *m = &a->results->models[i];
        json_array_append_new(models, json_pack("{s:o, s:o, s:o, s:o, s:I, s:I}", "name", jstr(m->name),
                                                "path", jstr(m->path), "sha256", jstr(m->sha256), "arch",
                                                jstr(m->arch), "n_params", (json_int_t)m->n_params,
                                                "bytes", (json_int_t)m->bytes));
    }
    for (int i = 0; i < a->n; i++)
        json_array_append_new(variants, json_variant(a, i));
    for (int i = 0; i < a->results->n_runs; i++)
        json_array_append_new(runs, json_run(a, &a->results->runs[i]));
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:o, s:o}}", "sqz_version",
                     setup.sqz_version, "cpu_features", setup.cpu_features, "baseline",
                     jstr(a->baseline >= 0 ? a->results->variants[a->baseline].name : NULL),
                     "baseline_note", setup.baseline_note[0] ? json_string(setup.baseline_note) : json_null(),
                     "price_per_hour", jnum(a->price_per_hour > 0 ? a->price_per_hour : NAN),
                     "models", models, "variants", variants, "results", runs, "flips", json_flips(a),
                     "recommendation", "by_size", json_recommend(a, 1), "by_latency",
                     json_recommend(a, 0));
}

sqz_status sqz_report_json(const sqz_analysis *a, const char *path) {
    json_t *doc = json_document(a);
    SQZ_FAIL_IF(!doc, SQZ_ERR_NOMEM, "%s: building the JSON document failed", path);
    int rc = json_dump_file(doc, path, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
    json_decref(doc);
    SQZ_FAIL_IF(rc != 0, SQZ_ERR_IO, "%s: cannot write", path);
    return SQZ_OK;
}

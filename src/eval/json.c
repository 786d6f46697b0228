// The eval result as a JSON document (the --json output and the results file of `sqz eval`).
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "sqz/eval.h"

// NaN / inf are not JSON: written as null.
static json_t *num(double v) {
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *str_or_null(const char *s) {
    return s ? json_string(s) : json_null();
}

static json_t *task_json(const sqz_eval_task_result *t) {
    json_t *o = json_object(), *metrics = json_object(), *samples = json_array();
    json_object_set_new(o, "task", json_string(t->task));
    json_object_set_new(o, "signature", t->signature_json ? json_loads(t->signature_json, 0, NULL) : json_null());
    json_object_set_new(o, "signature_hash", json_string(t->signature_hash));
    json_object_set_new(o, "wall_s", num(t->wall_s));
    json_object_set_new(o, "skipped", json_boolean(t->skipped));
    for (size_t i = 0; i < t->n_metrics; i++) {
        json_object_set_new(metrics, t->metrics[i].name, num(t->metrics[i].value));
        if (t->metrics[i].primary)
            json_object_set_new(o, "primary", json_string(t->metrics[i].name));
    }
    json_object_set_new(o, "metrics", metrics);
    for (size_t i = 0; i < t->n_samples; i++) {
        const sqz_eval_sample *s = &t->samples[i];
        json_t *m = s->metrics_json ? json_loads(s->metrics_json, 0, NULL) : NULL;
        json_array_append_new(samples, json_pack("{s:o,s:o,s:o,s:o,s:i,s:o,s:o,s:o,s:I,s:I}", "item_id",
                                                 str_or_null(s->item_id), "prompt", str_or_null(s->prompt),
                                                 "generated", str_or_null(s->generated), "reference",
                                                 str_or_null(s->reference), "outcome", s->outcome, "metrics",
                                                 m ? m : json_object(), "latency_s", num(s->latency_s), "ttft_s",
                                                 num(s->ttft_s), "n_prompt_tokens", (json_int_t)s->n_prompt,
                                                 "n_gen_tokens", (json_int_t)s->n_gen));
    }
    json_object_set_new(o, "samples", samples);
    return o;
}

char *sqz_eval_result_json(const sqz_eval_result *r) {
    json_t *o = json_object(), *tasks = json_array();
    json_object_set_new(o, "model", str_or_null(r->model_path));
    json_object_set_new(o, "model_sha256", json_string(r->model_sha256));
    json_object_set_new(o, "recipe", str_or_null(r->recipe));
    json_object_set_new(o, "source", str_or_null(r->source_path));
    json_object_set_new(o, "source_sha256", r->source_sha256[0] ? json_string(r->source_sha256) : json_null());
    json_object_set_new(o, "sqz_version", json_string(SQZ_VERSION_STRING));
    json_object_set_new(o, "cpu_features", json_string(sqz_compute_env()));
    json_object_set_new(o, "load_s", num(r->load_s));
    json_object_set_new(o, "bytes_on_disk", json_integer(r->bytes_on_disk));
    json_object_set_new(o, "bits_per_weight", num(r->bits_per_weight));
    json_object_set_new(o, "n_params", json_integer(r->n_params));
    json_object_set_new(o, "peak_rss_mb", num(r->peak_rss_mb));
    for (size_t i = 0; i < r->n_tasks; i++)
        json_array_append_new(tasks, task_json(&r->tasks[i]));
    json_object_set_new(o, "tasks", tasks);
    char *s = json_dumps(o, JSON_INDENT(1) | JSON_REAL_PRECISION(10));
    json_decref(o);
    return s;
}

// The runner behind `sqz eval`: load the model once, run each task (generate → cut at stops →
// score, or perplexity / KL divergence), measure the system while doing it, attach a signature,
// and store the cell (docs/tasks.md).
#define _GNU_SOURCE
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "core/error.h"
#include "eval/eval_internal.h"
#include "eval/runner.h"
#include "sqz/store.h"

double sqz_latency_percentile(double *v, size_t n, double q) {
    if (!n)
        return NAN;
    for (size_t i = 1; i < n; i++) // insertion sort: latencies are few
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1], v[j - 1] = t;
        }
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)pos, hi = lo + 1 < n ? lo + 1 : n - 1;
    return v[lo] + (pos - (double)lo) * (v[hi] - v[lo]);
}

// ---- model identity and size ---------------------------------------------------------------------
static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// SHA-256 of a file; of a directory: SHA-256 over "name\n<sha256 of file>\n" for its regular files
// in name order. *bytes gets the total size.
static sqz_status path_sha256(const char *path, char hex[65], int64_t *bytes) {
    struct stat sb;
    SQZ_FAIL_IF(stat(path, &sb) != 0, SQZ_ERR_IO, "%s: cannot stat", path);
    if (!S_ISDIR(sb.st_mode)) {
        sqz_mmap m = {0};
        SQZ_TRY(sqz_mmap_open(&m, path));
        sqz_sha256_hex(m.data ? (const void *)m.data : "", m.size, hex);
        *bytes = (int64_t)m.size;
        sqz_mmap_close(&m);
        return SQZ_OK;
    }
    DIR *d = opendir(path);
    SQZ_FAIL_IF(!d, SQZ_ERR_IO, "%s: cannot list", path);
    char **names = NULL, *acc = NULL;
    size_t n = 0, acc_len = 0;
    struct dirent *e;
    sqz_status st = SQZ_OK;
    while ((e = readdir(d)) && st == SQZ_OK) {
        char **g = e->d_name[0] != '.' ? realloc(names, (n + 1) * sizeof *names) : names;
        if (!g || (e->d_name[0] != '.' && !(g[n++] = strdup(e->d_name))))
            st = sqz_error(SQZ_ERR_NOMEM, "out of memory");
        names = g ? g : names;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    FILE *f = st == SQZ_OK ? open_memstream(&acc, &acc_len) : NULL;
    *bytes = 0;
    for (size_t i = 0; i < n && f && st == SQZ_OK; i++) {
        char p[4096], h[65];
        int64_t b = 0;
        snprintf(p, sizeof p, "%s/%s", path, names[i]);
        if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        st = path_sha256(p, h, &b);
        *bytes += b;
        fprintf(f, "%s\n%s\n", names[i], h);
    }
    if (f)
        fclose(f);
    if (st == SQZ_OK)
        sqz_sha256_hex(acc ? acc : "", acc_len, hex);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names), free(acc);
    return st;
}

// Bits per weight over the tensors with 2+ dimensions (the matrices a recipe compresses).
static double bits_per_weight(const sqz_model_file *mf) {
    double bits = 0, nel = 0;
    for (int64_t i = 0; i < sqz_model_file_n_tensors(mf); i++) {
        const sqz_tensor *t = sqz_model_file_tensor(mf, i);
        if (t->n_dims >= 2)
            bits += 8.0 * (double)t->nbytes, nel += (double)sqz_tensor_nelements(t);
    }
    return nel > 0 ? bits / nel : 0;
}

// The compress manifest of a variant (`sqz compress -o OUT` writes OUT/{model.gguf, hf/, manifest.json}):
// <model>.manifest.json, <dir>/manifest.json for a directory, or manifest.json beside the model
// (OUT/model.gguf, OUT/hf). Its "recipe" is the variant's recipe and "source"/"source_sha256" the
// model it was made from, "linear_bits_per_weight" replaces the tensor-table figure. Absent or
// without a recipe: the model is its own baseline.
static void read_manifest(const char *model, eval_run *r, sqz_eval_result *out) {
    char p[3][4096], dir[4096];
    struct stat sb;
    bool is_dir = stat(model, &sb) == 0 && S_ISDIR(sb.st_mode);
    snprintf(dir, sizeof dir, "%s", model);
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        dir[--n] = 0;
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    snprintf(p[0], sizeof p[0], "%s.manifest.json", model);
    snprintf(p[1], sizeof p[1], "%s/manifest.json", is_dir ? model : dir);
    snprintf(p[2], sizeof p[2], "%s/manifest.json", dir);
    for (int i = 0; i < 3 && !r->manifest_json; i++) {
        char *text = NULL;
        if (sqz_read_file(p[i], &text, NULL) != SQZ_OK) {
            sqz_error_clear();
            continue;
        }
        json_t *o = json_loads(text, 0, NULL);
        json_t *rec = json_object_get(o, "recipe"), *src = json_object_get(o, "source");
        json_t *ssha = json_object_get(o, "source_sha256"), *bpw = json_object_get(o, "linear_bits_per_weight");
        if (json_is_string(rec)) {
            out->recipe = strdup(json_string_value(rec));
            if (json_is_string(src))
                out->source_path = strdup(json_string_value(src));
            if (json_is_string(ssha) && strlen(json_string_value(ssha)) == 64)
                memcpy(out->source_sha256, json_string_value(ssha), 65);
            if (json_is_number(bpw) && json_number_value(bpw) > 0) // what the recipe stores, not how
                out->bits_per_weight = json_number_value(bpw);     // this file lays it out (F32 HF)
            r->manifest_json = text, text = NULL;
        }
        json_decref(o);
        free(text);
    }
}

// A variant directory written by `sqz compress` (no config.json, a model.gguf or hf/ inside) loads
// its model.gguf, else its hf/ directory; anything else loads as given.
static void resolve_model_path(const char *model, char *out, size_t size) {
    struct stat sb;
    snprintf(out, size, "%s", model);
    if (stat(model, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return;
    char p[4096];
    snprintf(p, sizeof p, "%s/config.json", model);
    if (stat(p, &sb) == 0)
        return;
    snprintf(p, sizeof p, "%s/model.gguf", model);
    if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
        snprintf(out, size, "%s", p);
        return;
    }
    snprintf(p, sizeof p, "%s/hf", model);
    if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(out, size, "%s", p);
}

static double peak_rss_mb(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : NAN; // ru_maxrss is KiB on Linux
}

static sqz_status open_model(const sqz_eval_opts *o, eval_run *r, sqz_eval_result *out) {
    char path[4096];
    resolve_model_path(o->model, path, sizeof path);
    double t0 = sqz_time_now();
    SQZ_TRY(sqz_model_load(&r->model, path, NULL));
    out->load_s = sqz_time_now() - t0;
    const sqz_model_file *mf = sqz_model_get_file(r->model);
    out->bits_per_weight = bits_per_weight(mf);
    out->n_params = sqz_model_n_params(r->model);
    out->model_path = strdup(path);
    SQZ_TRY(path_sha256(sqz_model_file_path(mf), out->model_sha256, &out->bytes_on_disk));
    read_manifest(o->model, r, out);
    if (!out->recipe)
        out->recipe = strdup(SQZ_RECIPE_NONE);
    SQZ_FAIL_IF(!out->model_path || !out->recipe, SQZ_ERR_NOMEM, "out of memory");
    r->tok = sqz_model_tokenizer(r->model);
    SQZ_FAIL_IF(!r->tok, SQZ_ERR_UNSUPPORTED, "%s: no usable tokenizer (%s)", o->model,
                sqz_model_tokenizer_error(r->model));
    const sqz_model_config *cfg = sqz_model_get_config(r->model);
    int64_t n_ctx = o->n_ctx > 0 ? o->n_ctx : cfg->n_ctx_train > 0 && cfg->n_ctx_train < 2048 ? cfg->n_ctx_train : 2048;
    r->n_vocab = cfg->n_vocab;
    return sqz_ctx_new(&r->ctx, r->model, n_ctx, 0, o->n_threads);
}

// ---- results -----------------------------------------------------------------------------------
static void task_result_clear(sqz_eval_task_result *t) {
    for (size_t i = 0; i < t->n_samples; i++) {
        sqz_eval_sample *s = &t->samples[i];
        free(s->item_id), free(s->prompt), free(s->generated), free(s->reference), free(s->metrics_json);
    }
    for (size_t i = 0; i < t->n_metrics; i++)
        free(t->metrics[i].name);
    free(t->samples), free(t->metrics), free(t->task), free(t->signature_json);
}

void sqz_eval_result_clear(sqz_eval_result *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->n_tasks; i++)
        task_result_clear(&r->tasks[i]);
    free(r->tasks), free(r->model_path), free(r->recipe), free(r->source_path);
    memset(r, 0, sizeof *r);
}

sqz_status eval_metric(sqz_eval_task_result *t, const char *name, double v, int dir, bool primary) {
    sqz_eval_metric *m = realloc(t->metrics, (t->n_metrics + 1) * sizeof *m);
    SQZ_FAIL_IF(!m, SQZ_ERR_NOMEM, "out of memory");
    t->metrics = m;
    m[t->n_metrics] = (sqz_eval_metric){strdup(name), v, dir, primary};
    SQZ_FAIL_IF(!m[t->n_metrics].name, SQZ_ERR_NOMEM, "out of memory");
    t->n_metrics++;
    return SQZ_OK;
}

static sqz_status model_metrics(const sqz_eval_result *r, sqz_eval_task_result *t) {
    SQZ_TRY(eval_metric(t, "load_s", r->load_s, -1, false));
    SQZ_TRY(eval_metric(t, "bytes_on_disk", (double)r->bytes_on_disk, -1, false));
    SQZ_TRY(eval_metric(t, "bits_per_weight", r->bits_per_weight, -1, false));
    return eval_metric(t, "peak_rss_mb", peak_rss_mb(), -1, false);
}

// ---- signature and store -----------------------------------------------------------------------
static sqz_status make_signature(const sqz_eval_opts *o, const sqz_eval_result *r, const char *task,
                                 const char *metric_json, sqz_eval_task_result *t, sqz_signature *sig,
                                 char *sampling) {
    bool variant = r->source_sha256[0] != 0;
    *sig = (sqz_signature){.model_sha256 = variant ? r->source_sha256 : r->model_sha256,
                           .variant_sha256 = variant ? r->model_sha256 : NULL, .recipe = r->recipe, .task = task,
                           .metric_json = metric_json, .sampling_json = sampling, .limit = o->task.limit,
                           .seed = o->task.seed, .cpu_features = sqz_compute_env()};
    return sqz_signature_json(sig, &t->signature_json, t->signature_hash);
}

// Write a finished task into its running cell (samples, then metrics + done in one transaction).
static sqz_status store_cell(sqz_store *db, int64_t run_id, const sqz_eval_task_result *t) {
    sqz_sample_row *rows = calloc(t->n_samples ? t->n_samples : 1, sizeof *rows);
    sqz_metric_row *mr = calloc(t->n_metrics ? t->n_metrics : 1, sizeof *mr);
    sqz_status st = rows && mr ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == SQZ_OK && i < t->n_samples; i++) {
        const sqz_eval_sample *s = &t->samples[i];
        rows[i] = (sqz_sample_row){(int64_t)i, s->item_id, s->prompt, s->generated, s->reference, s->outcome,
                                   s->metrics_json, s->latency_s, s->ttft_s, s->n_prompt, s->n_gen};
    }
    for (size_t i = 0; st == SQZ_OK && i < t->n_metrics; i++) {
        const sqz_eval_metric *m = &t->metrics[i];
        mr[i] = (sqz_metric_row){m->name, m->value, NAN, NAN, (sqz_direction)m->direction, m->primary, NULL};
    }
    if (st == SQZ_OK && t->n_samples)
        st = sqz_store_add_samples(db, run_id, rows, t->n_samples);
    if (st == SQZ_OK)
        st = sqz_store_cell_finish(db, run_id, mr, t->n_metrics, t->wall_s);
    free(rows), free(mr);
    return st;
}

static sqz_status store_open(const sqz_eval_opts *o, const sqz_eval_result *r, const eval_run *run, sqz_store **db,
                             int64_t *variant_id) {
    SQZ_TRY(sqz_store_open(o->db, db));
    const sqz_model_config *cfg = sqz_model_get_config(run->model);
    const char *base = strrchr(o->model, '/');
    base = base && base[1] ? base + 1 : o->model;
    // a variant is filed under the model it was made from (its manifest's source); sizes of the
    // source are unknown here unless it is the model itself
    bool variant = r->source_sha256[0] != 0;
    const char *src = variant && r->source_path ? r->source_path : r->model_path;
    const char *sbase = strrchr(src, '/');
    struct stat sb;
    int64_t src_bytes = variant ? (stat(src, &sb) == 0 && S_ISREG(sb.st_mode) ? (int64_t)sb.st_size : 0)
                                : r->bytes_on_disk;
    sqz_model_info mi = {variant ? r->source_sha256 : r->model_sha256, src,
                         variant ? (sbase && sbase[1] ? sbase + 1 : src) : base, cfg->arch_name, r->n_params,
                         src_bytes};
    int64_t model_id;
    SQZ_TRY(sqz_store_put_model(*db, &mi, &model_id));
    sqz_variant_info vi = {model_id, strcmp(r->recipe, SQZ_RECIPE_NONE) ? r->recipe : "baseline", r->recipe,
                           variant ? r->model_path : NULL, r->model_sha256, r->bytes_on_disk, r->bits_per_weight,
                           run->manifest_json};
    return sqz_store_put_variant(*db, &vi, variant_id);
}

// ---- the run -----------------------------------------------------------------------------------
static sqz_status execute(const sqz_eval_opts *o, eval_run *run, const sqz_eval_result *r, const sqz_task *task,
                          sqz_eval_task_result *t) {
    double t0 = sqz_time_now();
    sqz_eval_kind kind = sqz_task_get_kind(task);
    sqz_status st = kind == SQZ_EVAL_PERPLEXITY   ? eval_perplexity(o, run, t)
                    : kind == SQZ_EVAL_DIVERGENCE ? eval_divergence(o, run, t)
                                                  : eval_generate(o, run, task, t);
    if (st == SQZ_OK)
        st = model_metrics(r, t);
    t->wall_s = sqz_time_now() - t0;
    return st;
}

// One task: its signature first, then (with a store) its cell — skipped when an identical cell is
// already finished — then the run, stored or marked failed.
static sqz_status run_task(const sqz_eval_opts *o, eval_run *run, sqz_eval_result *r, const char *name,
                           sqz_eval_task_result *t, sqz_store *db, int64_t variant_id) {
    sqz_task *task = NULL;
    SQZ_TRY(sqz_task_open(&task, name, &o->task));
    sqz_eval_kind kind = sqz_task_get_kind(task);
    char *metric_json = sqz_task_metric_json(task), *sampling = NULL;
    sqz_status st = metric_json ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "out of memory");
    if (st == SQZ_OK && (kind == SQZ_EVAL_PERPLEXITY || kind == SQZ_EVAL_DIVERGENCE))
        st = eval_intrinsic_prepare(o, run, kind, &metric_json);
    if (st == SQZ_OK)
        st = eval_sampling_json(o, kind, sqz_task_max_tokens(task), &sampling);
    sqz_signature sig;
    if (st == SQZ_OK)
        st = make_signature(o, r, name, metric_json, t, &sig, sampling);
    bool stored = db && !(kind == SQZ_EVAL_DIVERGENCE && o->kl_base_out); // writing a baseline is no cell
    int64_t run_id = 0;
    sqz_cell_state state = SQZ_CELL_NEW;
    if (st == SQZ_OK && stored)
        st = sqz_store_cell_begin(db, variant_id, &sig, &run_id, &state);
    if (st == SQZ_OK && stored && (state == SQZ_CELL_DONE || state == SQZ_CELL_BUSY)) {
        t->skipped = true; // same signature, same numbers: already there (or being made)
    } else if (st == SQZ_OK) {
        st = execute(o, run, r, task, t);
        if (stored && st == SQZ_OK)
            st = store_cell(db, run_id, t);
        if (stored && st != SQZ_OK) { // the cell is redone by the next run
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", sqz_last_error());
            sqz_store_cell_fail(db, run_id, msg);
            sqz_error(st, "%s", msg);
        }
    }
    free(metric_json), free(sampling);
    sqz_task_free(task);
    return st == SQZ_OK ? st : sqz_error_prefix(st, "task %s: ", name);
}

sqz_status sqz_eval_run(const sqz_eval_opts *o, sqz_eval_result *out) {
    memset(out, 0, sizeof *out);
    SQZ_FAIL_IF(!o || !o->model || !o->tasks || !o->n_tasks || !o->task.data_dir, SQZ_ERR_ARG,
                "eval: model, tasks and data_dir are required");
    eval_run run = {0};
    sqz_store *db = NULL;
    int64_t variant_id = 0;
    sqz_status st = open_model(o, &run, out);
    out->tasks = st == SQZ_OK ? calloc(o->n_tasks, sizeof *out->tasks) : NULL;
    if (st == SQZ_OK && !out->tasks)
        st = sqz_error(SQZ_ERR_NOMEM, "out of memory");
    if (st == SQZ_OK && o->db)
        st = store_open(o, out, &run, &db, &variant_id);
    for (size_t i = 0; st == SQZ_OK && i < o->n_tasks; i++) {
        sqz_eval_task_result *t = &out->tasks[out->n_tasks++];
        t->task = strdup(o->tasks[i]);
        st = t->task ? run_task(o, &run, out, o->tasks[i], t, db, variant_id) : sqz_error(SQZ_ERR_NOMEM, "out of memory");
    }
    out->peak_rss_mb = peak_rss_mb();
    sqz_store_free(db);
    sqz_ctx_free(run.ctx);
    sqz_model_free(run.model);
    free(run.manifest_json);
    if (st != SQZ_OK)
        sqz_eval_result_clear(out);
    return st;
}

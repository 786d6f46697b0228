// The sweep runner: plan (checked before any work) → for each model, each variant, each task: a
// store cell keyed by its signature (skip finished, redo interrupted), evaluated with sqz_eval_run
// and recorded with its samples, metrics and systems measurements.
#define _GNU_SOURCE
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "eval/sweep_run.h"
#include "sqz/compress.h"
#include "sqz/format.h"
#include "sqz/quant.h"

// ---- progress --------------------------------------------------------------------------------------
void sweep_progress(sweep *s, bool force) {
    if (!s->o->progress)
        return;
    double now = sqz_time_now();
    if (!force && now - s->last_report < 0.2)
        return;
    s->last_report = now;
    sqz_sweep_progress *p = &s->prog;
    p->elapsed_s = now - s->t0;
    p->cells_skipped = s->sum->cells_skipped, p->cells_failed = s->sum->cells_failed;
    // ETA: the mean time of the cells that ran in this process (compression included) times the
    // cells left, less the part of the current cell already done.
    size_t left = p->cells_total - p->cells_done;
    double frac = p->items_total ? (double)p->items_done / (double)p->items_total : 0;
    p->eta_s = s->cells_worked ? s->work_s / (double)s->cells_worked * ((double)left - frac) : -1;
    if (p->eta_s < 0 && s->cells_worked)
        p->eta_s = 0;
    s->o->progress(s->o->user, p);
}

static void on_item(void *user, const char *task, size_t done, size_t total) {
    (void)task;
    sweep *s = user;
    s->prog.items_done = done, s->prog.items_total = total;
    sweep_progress(s, false);
}

// ---- the plan and what it needs ------------------------------------------------------------------
static sqz_status dir_of(const char *path, char *out, size_t size) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, size, ".");
    else if (slash == path)
        snprintf(out, size, "/");
    else
        snprintf(out, size, "%.*s", (int)(slash - path), path);
    return SQZ_OK;
}

static sqz_status check_db_dir(const char *db) {
    char dir[SWEEP_PATH];
    dir_of(db, dir, sizeof dir);
    struct stat sb;
    SQZ_FAIL_IF(stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode), SQZ_ERR_IO, "--db %s: directory '%s' does not exist", db, dir);
    SQZ_FAIL_IF(access(dir, W_OK) != 0, SQZ_ERR_IO, "--db %s: directory '%s' is not writable", db, dir);
    SQZ_FAIL_IF(stat(db, &sb) == 0 && (!S_ISREG(sb.st_mode) || access(db, W_OK) != 0), SQZ_ERR_IO,
                "--db %s: not a writable file", db);
    return SQZ_OK;
}

static sqz_status set_path(char *dst, const char *src, const char *what) {
    SQZ_FAIL_IF(strlen(src) >= SWEEP_PATH, SQZ_ERR_ARG, "%s: path too long", what);
    strcpy(dst, src);
    return SQZ_OK;
}

// The variants folder must be creatable: its nearest existing ancestor must be a writable directory.
static sqz_status check_out_dir(const char *out) {
    char p[SWEEP_PATH];
    snprintf(p, sizeof p, "%s", out);
    struct stat sb;
    while (stat(p, &sb) != 0) {
        char *slash = strrchr(p, '/');
        if (!slash) {
            snprintf(p, sizeof p, ".");
            break;
        }
        slash == p ? (void)(p[1] = 0) : (void)(*slash = 0);
    }
    SQZ_FAIL_IF(stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode), SQZ_ERR_IO, "variants folder %s: '%s' is not a directory", out, p);
    SQZ_FAIL_IF(access(p, W_OK) != 0, SQZ_ERR_IO, "variants folder %s: '%s' is not writable", out, p);
    return SQZ_OK;
}

// The width a step needs every compressed weight's input dimension to be a multiple of (0 = none).
static int64_t step_multiple(const sqz_recipe_step *st) {
    switch (st->kind) {
    case SQZ_STEP_RTN:
    case SQZ_STEP_GPTQ:
    case SQZ_STEP_AWQ:
        return sqz_step_int(st, "group");
    case SQZ_STEP_Q8_0:
    case SQZ_STEP_Q4_0:
    case SQZ_STEP_Q4_1:
        return 32; // llama.cpp blocks
    default:
        return 0;
    }
}

// A recipe must fit the model's shapes: checked here so that a group size that does not divide a
// layer's width fails before hours of other variants, not when its turn comes.
static sqz_status check_recipe_fits(const sweep *s, const sqz_sweep_model *m, int ri, const sqz_model_file *mf) {
    const sqz_sweep_recipe *r = &s->plan->recipes[ri];
    sqz_recipe *rc = NULL;
    SQZ_TRY(sqz_recipe_parse(r->text, &rc));
    sqz_status st = SQZ_OK;
    for (int k = 0; k < rc->n_steps && st == SQZ_OK; k++) {
        const sqz_recipe_step *step = &rc->steps[k];
        int64_t g = step_multiple(step);
        for (int64_t i = 0; g > 0 && i < sqz_model_file_n_tensors(mf) && st == SQZ_OK; i++) {
            const sqz_tensor *t = sqz_model_file_tensor(mf, i);
            if (t->n_dims == 2 && !sqz_step_skips(step, t->name) && t->shape[1] % g != 0)
                st = sqz_error(SQZ_ERR_ARG,
                               "%s: recipes[%d] '%s': step '%s' needs widths divisible by %lld, but '%s' of model "
                               "'%s' is %lld wide (choose a group that divides it, group=0 for per-channel, or "
                               "skip= the tensor)",
                               s->plan->config_path, ri, r->text, step->name, (long long)g, t->name, m->name,
                               (long long)t->shape[1]);
        }
    }
    sqz_recipe_free(rc);
    return st;
}

static bool recipe_needs_calib(const char *text) {
    sqz_recipe *rc = NULL;
    bool need = false;
    if (sqz_recipe_parse(text, &rc) != SQZ_OK) {
        sqz_error_clear();
        return false;
    }
    for (int k = 0; k < rc->n_steps; k++)
        need = need || sqz_step_needs_calib(&rc->steps[k]);
    sqz_recipe_free(rc);
    return need;
}

static sqz_status check_recipes(const sweep *s) {
    const sqz_sweep_plan *p = s->plan;
    const char *calib = s->o->calib_path ? s->o->calib_path : SQZ_CALIB_DEFAULT_PATH;
    for (int i = 0; i < p->n_recipes; i++)
        SQZ_FAIL_IF(recipe_needs_calib(p->recipes[i].text) && access(calib, R_OK) != 0, SQZ_ERR_NOT_FOUND,
                    "%s: recipes[%d] '%s' needs calibration data, but '%s' is not readable (--calib)", p->config_path,
                    i, p->recipes[i].text, calib);
    for (int mi = 0; mi < p->n_models; mi++) {
        sqz_model_file *mf = NULL;
        SQZ_TRY_CTX(sqz_model_file_open(&mf, p->models[mi].path), "%s: models[%d]: ", p->config_path, mi);
        sqz_status st = SQZ_OK;
        for (int ri = 0; ri < p->n_recipes && st == SQZ_OK; ri++)
            if (strcmp(p->recipes[ri].canonical, SQZ_RECIPE_NONE))
                st = check_recipe_fits(s, &p->models[mi], ri, mf);
        sqz_model_file_free(mf);
        SQZ_TRY(st);
    }
    return SQZ_OK;
}

// The task settings of a plan's task: what its signature and its evaluation both use.
static sqz_task_opts task_opts(const sweep *s, const sqz_sweep_task *t) {
    return (sqz_task_opts){.data_dir = s->data_dir, .limit = t->limit, .seed = s->plan->seed, .timeout_s = t->timeout_s};
}

static sqz_status open_tasks(sweep *s) {
    const sqz_sweep_plan *p = s->plan;
    s->tasks = calloc((size_t)p->n_tasks, sizeof *s->tasks);
    SQZ_FAIL_IF(!s->tasks, SQZ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < p->n_tasks; i++) {
        sqz_task_opts to = task_opts(s, &p->tasks[i]);
        SQZ_TRY_CTX(sqz_task_open(&s->tasks[i], p->tasks[i].name, &to), "%s: task %s: ", p->config_path,
                    p->tasks[i].name);
    }
    return SQZ_OK;
}

// ${NAME} in a config is replaced by the environment variable NAME; ${SQZ_MODELS} defaults to
// $HOME/.cache/sqz/models (where scripts/setup.sh puts models). An unset variable is an error.
static sqz_status expand_env(const char *name, const char *text, char **out, size_t *len) {
    FILE *f = open_memstream(out, len);
    SQZ_FAIL_IF(!f, SQZ_ERR_NOMEM, "out of memory");
    int line = 1;
    sqz_status st = SQZ_OK;
    for (const char *c = text; *c && st == SQZ_OK; c++) {
        line += *c == '\n';
        const char *end = c[0] == '$' && c[1] == '{' ? strchr(c + 2, '}') : NULL;
        if (!end) {
            fputc(*c, f);
            continue;
        }
        char var[128], home[SWEEP_PATH];
        snprintf(var, sizeof var, "%.*s", (int)(end - c - 2), c + 2);
        const char *v = getenv(var);
        if (!v && !strcmp(var, "SQZ_MODELS") && getenv("HOME"))
            v = (snprintf(home, sizeof home, "%s/.cache/sqz/models", getenv("HOME")), home);
        if (!v)
            st = sqz_error(SQZ_ERR_ARG, "%s:%d: environment variable '%s' is not set", name, line, var);
        else
            fputs(v, f);
        c = end;
    }
    fclose(f);
    if (st != SQZ_OK)
        free(*out), *out = NULL;
    return st;
}

static sqz_status config_load(const char *path, sqz_sweep_plan **plan) {
    char *text = NULL, *exp = NULL, base[SWEEP_PATH];
    size_t len = 0;
    SQZ_TRY(sqz_read_file(path, &text, NULL));
    sqz_status st = expand_env(path, text, &exp, &len);
    free(text);
    SQZ_TRY(st);
    dir_of(path, base, sizeof base);
    st = sqz_sweep_config_parse(exp, len, path, base, NULL, plan);
    free(exp);
    return st;
}

static sqz_status plan_open(sweep *s, const char *config) {
    const sqz_sweep_opts *o = s->o;
    SQZ_TRY(config_load(config, &s->plan));
    const sqz_sweep_plan *p = s->plan;
    if (o->db)
        SQZ_TRY(check_db_dir(o->db));
    else if (p->db_error)
        return sqz_error(p->db_status, "%s", p->db_error);
    SQZ_TRY(set_path(s->db_path, o->db ? o->db : p->db_path, "db"));
    const char *data = o->data_dir ? o->data_dir : p->data_dir ? p->data_dir : getenv("SQZ_DATA") ? getenv("SQZ_DATA")
                                                                                   : "../shared/data/datasets";
    SQZ_TRY(set_path(s->data_dir, data, "data_dir"));
    struct stat sb;
    SQZ_FAIL_IF(stat(s->data_dir, &sb) != 0 || !S_ISDIR(sb.st_mode), SQZ_ERR_NOT_FOUND,
                "data folder '%s' does not exist (set data_dir in %s, or --data)", s->data_dir, config);
    if (o->out_dir) {
        SQZ_TRY(set_path(s->out_dir, o->out_dir, "out_dir"));
    } else {
        char d[SWEEP_PATH];
        dir_of(s->db_path, d, sizeof d);
        SQZ_FAIL_IF((size_t)snprintf(s->out_dir, sizeof s->out_dir, "%s/variants", d) >= sizeof s->out_dir, SQZ_ERR_ARG,
                    "%s: path too long", d);
    }
    SQZ_TRY(check_out_dir(s->out_dir));
    SQZ_TRY(check_recipes(s));
    SQZ_TRY(open_tasks(s));
    snprintf(s->sum->db_path, sizeof s->sum->db_path, "%s", s->db_path);
    snprintf(s->sum->out_dir, sizeof s->sum->out_dir, "%s", s->out_dir);
    return SQZ_OK;
}

static void sweep_clear(sweep *s) {
    for (int i = 0; s->tasks && i < s->plan->n_tasks; i++)
        sqz_task_free(s->tasks[i]);
    free(s->tasks);
    sqz_store_free(s->db);
    sqz_sweep_plan_free(s->plan);
}

sqz_status sqz_sweep_check(const char *config_path, const sqz_sweep_opts *opts, size_t *n_cells) {
    sqz_sweep_opts none = {0};
    sqz_sweep_summary sum;
    memset(&sum, 0, sizeof sum);
    sweep s = {.o = opts ? opts : &none, .sum = &sum};
    sqz_status st = plan_open(&s, config_path);
    if (st == SQZ_OK && n_cells)
        *n_cells = sqz_sweep_plan_cells(s.plan);
    sweep_clear(&s);
    return st;
}

sqz_status sqz_sweep_config_info(const char *config_path, char **db_path, double *price_per_hour) {
    sqz_sweep_plan *p = NULL;
    SQZ_TRY(config_load(config_path, &p));
    *db_path = strdup(p->db_path);
    *price_per_hour = p->price_per_hour;
    sqz_sweep_plan_free(p);
    SQZ_FAIL_IF(!*db_path, SQZ_ERR_NOMEM, "out of memory");
    return SQZ_OK;
}

// ---- one cell --------------------------------------------------------------------------------------
// The task's settings + what the sweep adds (the KL baseline's identity for divergence).
static char *cell_metric_json(const sqz_task *t, const sweep_model *m) {
    char *base = sqz_task_metric_json(t);
    if (!base || sqz_task_get_kind(t) != SQZ_EVAL_DIVERGENCE)
        return base;
    json_t *j = json_loads(base, 0, NULL);
    free(base);
    if (!j)
        j = json_object();
    json_object_set_new(j, "kl_baseline_sha256", json_string(m->kl_sha256));
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

static bool intrinsic(const sqz_task *t) {
    sqz_eval_kind k = sqz_task_get_kind(t);
    return k == SQZ_EVAL_PERPLEXITY || k == SQZ_EVAL_DIVERGENCE;
}

// User + system CPU seconds of this process and its waited-for children.
static double cpu_seconds(void) {
    struct rusage a, b;
    if (getrusage(RUSAGE_SELF, &a) != 0 || getrusage(RUSAGE_CHILDREN, &b) != 0)
        return NAN;
    return (double)(a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec + b.ru_stime.tv_sec) +
           1e-6 * (double)(a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec + b.ru_stime.tv_usec);
}

static bool has_metric(const sqz_eval_task_result *t, const char *name) {
    for (size_t i = 0; i < t->n_metrics; i++)
        if (!strcmp(t->metrics[i].name, name))
            return true;
    return false;
}

// Write the evaluated cell: samples, then metrics and done in one transaction. The runner's own
// signature (with its exact chunking) goes into the primary metric's settings.
static sqz_status cell_store(sweep *s, int64_t run_id, const sqz_eval_task_result *t, double cpu_s) {
    sqz_sample_row *rows = calloc(t->n_samples ? t->n_samples : 1, sizeof *rows);
    sqz_metric_row *mr = calloc(t->n_metrics + 1, sizeof *mr);
    sqz_status st = rows && mr ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == SQZ_OK && i < t->n_samples; i++) {
        const sqz_eval_sample *x = &t->samples[i];
        rows[i] = (sqz_sample_row){(int64_t)i, x->item_id, x->prompt, x->generated, x->reference, x->outcome,
                                   x->metrics_json, x->latency_s, x->ttft_s, x->n_prompt, x->n_gen};
    }
    for (size_t i = 0; st == SQZ_OK && i < t->n_metrics; i++) {
        const sqz_eval_metric *m = &t->metrics[i];
        mr[i] = (sqz_metric_row){m->name, m->value, NAN, NAN, (sqz_direction)m->direction, m->primary,
                                 m->primary ? t->signature_json : NULL};
    }
    // CPU seconds of the cell (this process and the sandboxed programs it ran): with wall_s it
    // shows how much a loaded machine stretched the timings.
    mr[t->n_metrics] = (sqz_metric_row){"cpu_s", cpu_s, NAN, NAN, SQZ_DIR_NONE, false, NULL};
    for (size_t i = 0; st == SQZ_OK && i < t->n_samples; i += 256) // batches: one transaction each
        st = sqz_store_add_samples(s->db, run_id, rows + i, t->n_samples - i < 256 ? t->n_samples - i : 256);
    if (st == SQZ_OK)
        st = sqz_store_cell_finish(s->db, run_id, mr, t->n_metrics + !has_metric(t, "cpu_s"), t->wall_s);
    free(rows), free(mr);
    return st;
}

static sqz_status cell_eval(sweep *s, const sweep_model *m, const sweep_variant *v, int ti, int64_t run_id) {
    const sqz_sweep_plan *p = s->plan;
    const sqz_sweep_task *pt = &p->tasks[ti];
    const char *tasks[] = {pt->name};
    bool div = sqz_task_get_kind(s->tasks[ti]) == SQZ_EVAL_DIVERGENCE;
    // Every setting in the cell's signature (run_cell) is passed on here.
    sqz_eval_opts eo = {.model = v->path, .tasks = tasks, .n_tasks = 1, .task = task_opts(s, pt),
                        .n_samples = (int)p->n_samples, .temp = (float)p->temperature, .top_p = p->top_p,
                        .top_k = (int)p->top_k, .max_tokens = (int)pt->max_tokens,
                        .n_threads = s->o->n_threads, .price_per_hour = p->price_per_hour,
                        .kl_base = div ? m->kl_path : NULL, .kl_top_k = s->o->kl_top_k, .progress = on_item, .user = s};
    sqz_eval_result res;
    double cpu0 = cpu_seconds();
    SQZ_TRY(sqz_eval_run(&eo, &res));
    sqz_status st = res.n_tasks == 1 ? cell_store(s, run_id, &res.tasks[0], cpu_seconds() - cpu0)
                                     : sqz_error(SQZ_ERR_INTERNAL, "eval returned %zu task results", res.n_tasks);
    sqz_eval_result_clear(&res);
    return st;
}

static void note_failure(sweep *s, const char *what) {
    s->sum->cells_failed++;
    size_t n = sizeof s->sum->first_error;
    if (!s->sum->first_error[0] && (size_t)snprintf(s->sum->first_error, n, "%s: %s", what, sqz_last_error()) >= n)
        memcpy(s->sum->first_error + n - 4, "...", 4); // the message was cut
}

// One cell: signature → begin (skip when done) → evaluate → store. Errors inside the cell are
// recorded as a failed cell; only store errors stop the sweep.
static sqz_status run_cell(sweep *s, sweep_model *m, const sweep_variant *v, int ti) {
    const sqz_sweep_task *pt = &s->plan->tasks[ti];
    const sqz_task *task = s->tasks[ti];
    char what[512];
    snprintf(what, sizeof what, "%s / %s / %s", m->m->name, v->r->name, pt->name);
    s->prog.task = pt->name, s->prog.items_done = s->prog.items_total = 0;
    double t0 = sqz_time_now();
    if (sqz_task_get_kind(task) == SQZ_EVAL_DIVERGENCE && sweep_kl_baseline(s, m, pt->limit) != SQZ_OK) {
        note_failure(s, what);
        return SQZ_OK;
    }
    // The signature: the task's metric settings (stops, sandbox timeout, ...), its sampling
    // settings, limit and seed — everything cell_eval passes to the evaluation.
    char *metric = cell_metric_json(task, m), *sampling = intrinsic(task) ? strdup("{}") : sqz_sweep_sampling_json(s->plan, pt);
    char *sig_json = NULL, hash[65];
    sqz_status st = metric && sampling ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "out of memory");
    sqz_signature sig = {.model_sha256 = m->sha256, .variant_sha256 = v->sha256, .recipe = v->r->canonical,
                         .task = pt->name, .metric_json = metric, .sampling_json = sampling, .limit = pt->limit,
                         .seed = s->plan->seed, .cpu_features = sqz_compute_env()};
    int64_t run_id = 0;
    sqz_cell_state state = SQZ_CELL_NEW;
    if (st == SQZ_OK)
        st = sqz_signature_json(&sig, &sig_json, hash);
    if (st == SQZ_OK)
        st = sqz_store_cell_begin(s->db, v->id, &sig, &run_id, &state);
    free(metric), free(sampling), free(sig_json);
    SQZ_TRY(st);
    if (state == SQZ_CELL_DONE || state == SQZ_CELL_BUSY) {
        state == SQZ_CELL_DONE ? s->sum->cells_skipped++ : s->sum->cells_busy++;
        s->prog.phase = "skip";
        return SQZ_OK;
    }
    s->prog.phase = "eval";
    sweep_progress(s, true);
    if (cell_eval(s, m, v, ti, run_id) != SQZ_OK) {
        note_failure(s, what);
        SQZ_TRY(sqz_store_cell_fail(s->db, run_id, sqz_last_error()));
    } else {
        s->sum->cells_run++;
    }
    s->work_s += sqz_time_now() - t0, s->cells_worked++;
    return SQZ_OK;
}

// ---- models and variants -------------------------------------------------------------------------
static sqz_status model_begin(sweep *s, sweep_model *m) {
    SQZ_TRY(sweep_path_sha256(m->m->path, m->sha256, &m->bytes));
    sqz_model_file *mf = NULL;
    SQZ_TRY(sqz_model_file_open(&mf, m->m->path));
    const sqz_model_config *cfg = sqz_model_file_config(mf);
    sqz_model_info mi = {m->sha256, m->m->path, m->m->name, cfg ? cfg->arch_name : NULL, sqz_model_file_n_params(mf),
                         m->bytes};
    sqz_status st = sqz_store_put_model(s->db, &mi, &m->id);
    sqz_model_file_free(mf);
    return st;
}

static sqz_status run_variant(sweep *s, sweep_model *m, const sqz_sweep_recipe *r) {
    const sqz_sweep_plan *p = s->plan;
    s->prog.variant = r->name, s->prog.task = NULL;
    if (s->o->stop && *s->o->stop) { // not worth starting a compression
        s->sum->stopped = true;
        return SQZ_OK;
    }
    sweep_variant v;
    double t0 = sqz_time_now();
    if (sweep_variant_prepare(s, m, r, &v) != SQZ_OK) { // every cell of the variant fails
        char what[512];
        snprintf(what, sizeof what, "%s / %s: compress", m->m->name, r->name);
        for (int t = 0; t < p->n_tasks; t++, s->prog.cells_done++)
            note_failure(s, what);
        s->work_s += sqz_time_now() - t0, s->cells_worked += (size_t)p->n_tasks;
        sweep_variant_clear(&v);
        return SQZ_OK;
    }
    s->work_s += sqz_time_now() - t0; // compression time is spread over the cells that follow
    sqz_variant_info vi = {m->id, r->name, r->canonical, v.dir[0] ? v.path : NULL, v.sha256, v.bytes, v.bpw,
                           v.manifest_json};
    sqz_status st = sqz_store_put_variant(s->db, &vi, &v.id);
    for (int t = 0; st == SQZ_OK && t < p->n_tasks; t++) {
        if (s->o->stop && *s->o->stop) {
            s->sum->stopped = true;
            break;
        }
        st = run_cell(s, m, &v, t);
        s->prog.cells_done++;
        sweep_progress(s, true);
    }
    sweep_variant_clear(&v);
    return st;
}

static sqz_status run_all(sweep *s) {
    const sqz_sweep_plan *p = s->plan;
    SQZ_TRY(sqz_store_open(s->db_path, &s->db));
    for (int mi = 0; mi < p->n_models && !s->sum->stopped; mi++) {
        sweep_model m = {.m = &p->models[mi]};
        s->prog.model = m.m->name;
        SQZ_TRY_CTX(model_begin(s, &m), "model %s: ", m.m->name);
        for (int ri = 0; ri < p->n_recipes && !s->sum->stopped; ri++)
            SQZ_TRY(run_variant(s, &m, &p->recipes[ri]));
    }
    return SQZ_OK;
}

sqz_status sqz_sweep_run(const char *config_path, const sqz_sweep_opts *opts, sqz_sweep_summary *out) {
    memset(out, 0, sizeof *out);
    sqz_sweep_opts none = {0};
    sweep s = {.o = opts ? opts : &none, .sum = out, .t0 = sqz_time_now()};
    sqz_status st = plan_open(&s, config_path);
    if (st == SQZ_OK) {
        out->cells_total = s.prog.cells_total = sqz_sweep_plan_cells(s.plan);
        st = run_all(&s);
    }
    out->wall_s = sqz_time_now() - s.t0;
    if (st == SQZ_OK) {
        s.prog = (sqz_sweep_progress){.cells_done = s.prog.cells_done, .cells_total = s.prog.cells_total, .phase = "done"};
        sweep_progress(&s, true);
    }
    sweep_clear(&s);
    return st;
}

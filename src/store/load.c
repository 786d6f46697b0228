// Reading the store back: a snapshot of models, variants and the latest finished run of each
// (variant, task), for analysis and reports.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

static double col_double(sqlite3_stmt *st, int i, double if_null) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? if_null : sqlite3_column_double(st, i);
}

// Grow *arr (of elem bytes) to hold n + 1 elements; zero the new one.
static int grow(void *arr, int n, size_t elem) {
    void **p = arr;
    void *q = realloc(*p, (size_t)(n + 1) * elem);
    if (!q)
        return 0;
    memset((char *)q + (size_t)n * elem, 0, elem);
    *p = q;
    return 1;
}

static sqz_status load_models(sqz_store *s, sqz_results *r) {
    sqlite3_stmt *st;
    SQZ_TRY(store_prepare(s, "SELECT id, sha256, path, name, arch, n_params, bytes FROM models "
                             "ORDER BY id", &st));
    int rc, oom = 0;
    while (!oom && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!grow(&r->models, r->n_models, sizeof *r->models)) {
            oom = 1;
            break;
        }
        sqz_res_model *m = &r->models[r->n_models++];
        m->id = sqlite3_column_int64(st, 0);
        m->sha256 = store_col_dup(st, 1, &oom);
        m->path = store_col_dup(st, 2, &oom);
        m->name = store_col_dup(st, 3, &oom);
        m->arch = store_col_dup(st, 4, &oom);
        m->n_params = sqlite3_column_int64(st, 5);
        m->bytes = sqlite3_column_int64(st, 6);
    }
    sqlite3_finalize(st);
    return oom ? sqz_error(SQZ_ERR_NOMEM, "out of memory") : SQZ_OK;
}

static int model_index(const sqz_results *r, int64_t id) {
    for (int i = 0; i < r->n_models; i++)
        if (r->models[i].id == id)
            return i;
    return -1;
}

static int variant_index(const sqz_results *r, int64_t id) {
    for (int i = 0; i < r->n_variants; i++)
        if (r->variants[i].id == id)
            return i;
    return -1;
}

static sqz_status load_variants(sqz_store *s, sqz_results *r) {
    sqlite3_stmt *st;
    SQZ_TRY(store_prepare(s, "SELECT id, model_id, name, recipe, path, sha256, bytes, "
                             "bits_per_weight, manifest FROM variants ORDER BY model_id, id", &st));
    int oom = 0;
    while (!oom && sqlite3_step(st) == SQLITE_ROW) {
        if (!grow(&r->variants, r->n_variants, sizeof *r->variants)) {
            oom = 1;
            break;
        }
        sqz_res_variant *v = &r->variants[r->n_variants++];
        v->id = sqlite3_column_int64(st, 0);
        v->model = model_index(r, sqlite3_column_int64(st, 1));
        v->name = store_col_dup(st, 2, &oom);
        v->recipe = store_col_dup(st, 3, &oom);
        v->path = store_col_dup(st, 4, &oom);
        v->sha256 = store_col_dup(st, 5, &oom);
        v->bytes = sqlite3_column_int64(st, 6);
        v->bits_per_weight = col_double(st, 7, 0);
        v->manifest_json = store_col_dup(st, 8, &oom);
    }
    sqlite3_finalize(st);
    return oom ? sqz_error(SQZ_ERR_NOMEM, "out of memory") : SQZ_OK;
}

static sqz_status load_metrics(sqz_store *s, sqz_res_run *run) {
    sqlite3_stmt *st;
    SQZ_TRY(store_prepare(s, "SELECT name, value, ci_low, ci_high, direction, is_primary, settings "
                             "FROM metrics WHERE run_id = ?1 ORDER BY id", &st));
    sqlite3_bind_int64(st, 1, run->id);
    int oom = 0;
    while (!oom && sqlite3_step(st) == SQLITE_ROW) {
        if (!grow(&run->metrics, run->n_metrics, sizeof *run->metrics)) {
            oom = 1;
            break;
        }
        sqz_res_metric *m = &run->metrics[run->n_metrics++];
        m->name = store_col_dup(st, 0, &oom);
        m->value = col_double(st, 1, NAN);
        m->ci_low = col_double(st, 2, NAN);
        m->ci_high = col_double(st, 3, NAN);
        m->direction = (sqz_direction)sqlite3_column_int(st, 4);
        m->primary = sqlite3_column_int(st, 5) != 0;
        m->settings_json = store_col_dup(st, 6, &oom);
    }
    sqlite3_finalize(st);
    return oom ? sqz_error(SQZ_ERR_NOMEM, "out of memory") : SQZ_OK;
}

static sqz_status load_samples(sqz_store *s, sqz_res_run *run) {
    sqlite3_stmt *st;
    SQZ_TRY(store_prepare(s, "SELECT item_id, outcome, latency_s FROM samples WHERE run_id = ?1 "
                             "ORDER BY sample_index", &st));
    sqlite3_bind_int64(st, 1, run->id);
    int oom = 0;
    size_t cap = 0;
    while (!oom && sqlite3_step(st) == SQLITE_ROW) {
        if (run->n_samples == cap) {
            size_t nc = cap ? 2 * cap : 64;
            sqz_res_sample *p = realloc(run->samples, nc * sizeof *p);
            if (!p) {
                oom = 1;
                break;
            }
            run->samples = p;
            cap = nc;
        }
        sqz_res_sample *x = &run->samples[run->n_samples++];
        x->item_id = store_col_dup(st, 0, &oom);
        x->outcome = sqlite3_column_type(st, 1) == SQLITE_NULL ? SQZ_OUTCOME_NONE : sqlite3_column_int(st, 1);
        x->latency_s = col_double(st, 2, -1);
    }
    sqlite3_finalize(st);
    return oom ? sqz_error(SQZ_ERR_NOMEM, "out of memory") : SQZ_OK;
}

// The latest finished run of each (variant, task), in portable SQL (no window functions needed).
static const char *RUNS_SQL =
    "SELECT r.id, r.variant_id, r.task, r.signature, r.signature_hash, r.wall_s, r.started_at, "
    "r.finished_at FROM runs r WHERE r.status = 'done' AND NOT EXISTS (SELECT 1 FROM runs r2 "
    "WHERE r2.variant_id = r.variant_id AND r2.task = r.task AND r2.status = 'done' AND "
    "(r2.finished_at > r.finished_at OR (r2.finished_at = r.finished_at AND r2.id > r.id))) "
    "ORDER BY r.variant_id, r.task";

// The previous finished run of the same (variant, task): its signature and primary value.
static sqz_status load_previous(sqz_store *s, const sqz_results *r, sqz_res_run *run) {
    run->prev_primary = NAN;
    sqlite3_stmt *st;
    SQZ_TRY(store_prepare(s, "SELECT r.signature, m.value FROM runs r LEFT JOIN metrics m ON "
                             "m.run_id = r.id AND m.is_primary = 1 WHERE r.variant_id = ?1 AND "
                             "r.task = ?2 AND r.status = 'done' AND r.id <> ?3 ORDER BY "
                             "r.finished_at DESC, r.id DESC LIMIT 1", &st));
    sqlite3_bind_int64(st, 1, r->variants[run->variant].id);
    store_bind_text(st, 2, run->task);
    sqlite3_bind_int64(st, 3, run->id);
    int oom = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        run->prev_signature_json = store_col_dup(st, 0, &oom);
        run->prev_primary = col_double(st, 1, NAN);
    }
    sqlite3_finalize(st);
    return oom ? sqz_error(SQZ_ERR_NOMEM, "out of memory") : SQZ_OK;
}

static sqz_status load_runs(sqz_store *s, sqz_results *r) {
    sqlite3_stmt *st;
    SQZ_TRY(store_prepare(s, RUNS_SQL, &st));
    int oom = 0;
    while (!oom && sqlite3_step(st) == SQLITE_ROW) {
        if (!grow(&r->runs, r->n_runs, sizeof *r->runs)) {
            oom = 1;
            break;
        }
        sqz_res_run *run = &r->runs[r->n_runs++];
        run->prev_primary = NAN;
        run->id = sqlite3_column_int64(st, 0);
        run->variant = variant_index(r, sqlite3_column_int64(st, 1));
        run->task = store_col_dup(st, 2, &oom);
        run->signature_json = store_col_dup(st, 3, &oom);
        run->signature_hash = store_col_dup(st, 4, &oom);
        run->wall_s = col_double(st, 5, NAN);
        run->started_at = store_col_dup(st, 6, &oom);
        run->finished_at = store_col_dup(st, 7, &oom);
    }
    sqlite3_finalize(st);
    if (oom)
        return sqz_error(SQZ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < r->n_runs; i++) {
        SQZ_TRY(load_metrics(s, &r->runs[i]));
        SQZ_TRY(load_samples(s, &r->runs[i]));
        if (r->runs[i].variant >= 0)
            SQZ_TRY(load_previous(s, r, &r->runs[i]));
    }
    return SQZ_OK;
}

sqz_status sqz_store_load(sqz_store *s, sqz_results **out) {
    *out = NULL;
    sqz_results *r = calloc(1, sizeof *r);
    if (!r)
        return sqz_error(SQZ_ERR_NOMEM, "out of memory");
    // One read transaction: a consistent snapshot even while a sweep is writing (WAL).
    sqz_status st = store_exec(s, "BEGIN");
    if (st == SQZ_OK)
        st = load_models(s, r);
    if (st == SQZ_OK)
        st = load_variants(s, r);
    if (st == SQZ_OK)
        st = load_runs(s, r);
    store_rollback(s);
    if (st != SQZ_OK) {
        sqz_results_free(r);
        return sqz_error_prefix(st, "%s: loading results: ", s->path);
    }
    *out = r;
    return SQZ_OK;
}

void sqz_results_free(sqz_results *r) {
    if (!r)
        return;
    for (int i = 0; i < r->n_models; i++) {
        sqz_res_model *m = &r->models[i];
        free(m->sha256), free(m->path), free(m->name), free(m->arch);
    }
    for (int i = 0; i < r->n_variants; i++) {
        sqz_res_variant *v = &r->variants[i];
        free(v->name), free(v->recipe), free(v->path), free(v->sha256), free(v->manifest_json);
    }
    for (int i = 0; i < r->n_runs; i++) {
        sqz_res_run *run = &r->runs[i];
        free(run->task), free(run->signature_json), free(run->signature_hash);
        free(run->started_at), free(run->finished_at), free(run->prev_signature_json);
        for (int j = 0; j < run->n_metrics; j++)
            free(run->metrics[j].name), free(run->metrics[j].settings_json);
        free(run->metrics);
        for (size_t j = 0; j < run->n_samples; j++)
            free(run->samples[j].item_id);
        free(run->samples);
    }
    free(r->models);
    free(r->variants);
    free(r->runs);
    free(r);
}

const sqz_res_run *sqz_results_find_run(const sqz_results *r, int variant, const char *task) {
    for (int i = 0; i < r->n_runs; i++)
        if (r->runs[i].variant == variant && !strcmp(r->runs[i].task, task))
            return &r->runs[i];
    return NULL;
}

const sqz_res_metric *sqz_res_run_metric(const sqz_res_run *run, const char *name) {
    for (int i = 0; i < run->n_metrics; i++)
        if (!strcmp(run->metrics[i].name, name))
            return &run->metrics[i];
    return NULL;
}


const sqz_res_metric *sqz_res_run_primary(const sqz_res_run *run) {
    for (int i = 0; i < run->n_metrics; i++)
        if (run->metrics[i].primary)
            return &run->metrics[i];
    for (int i = 0; i < run->n_metrics; i++)
        if (run->metrics[i].direction != SQZ_DIR_NONE)
            return &run->metrics[i];
    return NULL;
}

// Writing to the store: models, variants, signatures and the life of a cell
// (begin -> samples -> finish | fail), each step one transaction.
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_internal.h"

// Step a prepared write statement once and finalize it.
static sqz_status step_done(sqz_store *s, sqlite3_stmt *st, const char *what) {
    int rc = sqlite3_step(st);
    sqz_status out = rc == SQLITE_DONE || rc == SQLITE_ROW ? SQZ_OK : store_err(s, SQZ_ERR_IO, what);
    sqlite3_finalize(st);
    return out;
}

// Run a one-column integer query bound to a text key; *found = whether a row came back.
static sqz_status query_id(sqz_store *s, sqlite3_stmt *st, int64_t *id, const char *what) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return store_err(s, SQZ_ERR_IO, what);
    return SQZ_OK;
}

sqz_status sqz_store_put_model(sqz_store *s, const sqz_model_info *m, int64_t *id) {
    SQZ_FAIL_IF(!m->sha256 || !m->path, SQZ_ERR_ARG, "%s: model needs a sha256 and a path", s->path);
    char now[32];
    store_now(now);
    sqlite3_stmt *st;
    // Portable upsert (SQLite >= 3.24, PostgreSQL >= 9.5).
    SQZ_TRY(store_prepare(s,
                          "INSERT INTO models (sha256, path, name, arch, n_params, bytes, created_at) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (sha256) DO UPDATE SET "
                          "path = excluded.path, name = excluded.name, arch = excluded.arch, "
                          "n_params = excluded.n_params, bytes = excluded.bytes", &st));
    store_bind_text(st, 1, m->sha256);
    store_bind_text(st, 2, m->path);
    store_bind_text(st, 3, m->name);
    store_bind_text(st, 4, m->arch);
    sqlite3_bind_int64(st, 5, m->n_params);
    sqlite3_bind_int64(st, 6, m->bytes);
    store_bind_text(st, 7, now);
    SQZ_TRY(step_done(s, st, "recording a model"));
    SQZ_TRY(store_prepare(s, "SELECT id FROM models WHERE sha256 = ?1", &st));
    store_bind_text(st, 1, m->sha256);
    return query_id(s, st, id, "looking up a model");
}

sqz_status sqz_store_put_variant(sqz_store *s, const sqz_variant_info *v, int64_t *id) {
    SQZ_FAIL_IF(!v->name || !v->recipe, SQZ_ERR_ARG, "%s: variant needs a name and a recipe", s->path);
    char now[32];
    store_now(now);
    sqlite3_stmt *st;
    SQZ_TRY(store_prepare(s,
                          "INSERT INTO variants (model_id, name, recipe, path, sha256, bytes, "
                          "bits_per_weight, manifest, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                          "?7, ?8, ?9) ON CONFLICT (model_id, recipe) DO UPDATE SET "
                          "name = excluded.name, path = excluded.path, sha256 = excluded.sha256, "
                          "bytes = excluded.bytes, bits_per_weight = excluded.bits_per_weight, "
                          "manifest = excluded.manifest", &st));
    sqlite3_bind_int64(st, 1, v->model_id);
    store_bind_text(st, 2, v->name);
    store_bind_text(st, 3, v->recipe);
    store_bind_text(st, 4, v->path);
    store_bind_text(st, 5, v->sha256);
    sqlite3_bind_int64(st, 6, v->bytes);
    sqlite3_bind_double(st, 7, v->bits_per_weight);
    store_bind_text(st, 8, v->manifest_json);
    store_bind_text(st, 9, now);
    SQZ_TRY(step_done(s, st, "recording a variant (does its model exist?)"));
    SQZ_TRY(store_prepare(s, "SELECT id FROM variants WHERE model_id = ?1 AND recipe = ?2", &st));
    sqlite3_bind_int64(st, 1, v->model_id);
    store_bind_text(st, 2, v->recipe);
    return query_id(s, st, id, "looking up a variant");
}

// ---- signatures ----------------------------------------------------------------------------------

// Parse a settings object (NULL = {}); *out gets a new reference.
static sqz_status settings_object(const char *text, const char *field, json_t **out) {
    if (!text) {
        *out = json_object();
        return *out ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "out of memory");
    }
    json_error_t e;
    *out = json_loads(text, 0, &e);
    if (!*out || !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return sqz_error(SQZ_ERR_ARG, "signature: %s is not a JSON object: %s", field,
                         e.text[0] ? e.text : "not an object");
    }
    return SQZ_OK;
}

static sqz_status signature_build(const sqz_signature *g, json_t *o) {
    json_t *metric = NULL, *sampling = NULL;
    SQZ_TRY(settings_object(g->metric_json, "metric settings", &metric));
    sqz_status st = settings_object(g->sampling_json, "sampling settings", &sampling);
    if (st != SQZ_OK) {
        json_decref(metric);
        return st;
    }
    int bad = json_object_set_new(o, "metric", metric);
    bad |= json_object_set_new(o, "sampling", sampling);
    bad |= json_object_set_new(o, "model_sha256", json_string(g->model_sha256));
    bad |= json_object_set_new(o, "variant_sha256", g->variant_sha256 ? json_string(g->variant_sha256) : json_null());
    bad |= json_object_set_new(o, "recipe", json_string(g->recipe));
    bad |= json_object_set_new(o, "task", json_string(g->task));
    bad |= json_object_set_new(o, "limit", json_integer(g->limit));
    // JSON integers are signed 64-bit in jansson (and most readers): larger seeds go as text.
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)g->seed);
    bad |= json_object_set_new(o, "seed", g->seed <= INT64_MAX ? json_integer((json_int_t)g->seed) : json_string(seed));
    bad |= json_object_set_new(o, "sqz_version", json_string(g->sqz_version ? g->sqz_version : SQZ_VERSION_STRING));
    bad |= json_object_set_new(o, "cpu_features", json_string(g->cpu_features ? g->cpu_features : sqz_cpu_features()));
    return bad ? sqz_error(SQZ_ERR_ARG, "signature: a text field is not valid UTF-8") : SQZ_OK;
}

sqz_status sqz_signature_json(const sqz_signature *g, char **json, char hash[65]) {
    *json = NULL;
    SQZ_FAIL_IF(!g->model_sha256 || !g->recipe || !g->task, SQZ_ERR_ARG,
                "signature: model_sha256, recipe and task are required");
    json_t *o = json_object();
    if (!o)
        return sqz_error(SQZ_ERR_NOMEM, "out of memory");
    sqz_status st = signature_build(g, o);
    if (st == SQZ_OK) {
        *json = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII);
        if (!*json)
            st = sqz_error(SQZ_ERR_NOMEM, "out of memory");
        else
            sqz_sha256_hex(*json, strlen(*json), hash);
    }
    json_decref(o);
    return st;
}

static sqz_status diff_append(char **buf, size_t *len, const char *key, json_t *x, json_t *y) {
    char *xs = x ? json_dumps(x, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *ys = y ? json_dumps(y, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    size_t need = *len + strlen(key) + (xs ? strlen(xs) : 9) + (ys ? strlen(ys) : 9) + 16;
    char *nb = realloc(*buf, need);
    if (nb) {
        *len += (size_t)snprintf(nb + *len, need - *len, "%s%s: %s -> %s", *len ? "; " : "", key,
                                 xs ? xs : "(absent)", ys ? ys : "(absent)");
        *buf = nb;
    }
    free(xs), free(ys);
    return nb ? SQZ_OK : sqz_error(SQZ_ERR_NOMEM, "out of memory");
}

// Keys of b that a lacks, in sorted order, appended after a's keys.
static sqz_status diff_objects(json_t *a, json_t *b, char **out) {
    size_t len = 0;
    const char *key;
    json_t *x;
    sqz_status st = SQZ_OK;
    json_object_foreach(a, key, x) {
        json_t *y = json_object_get(b, key);
        if (st == SQZ_OK && (!y || !json_equal(x, y)))
            st = diff_append(out, &len, key, x, y);
    }
    json_object_foreach(b, key, x) {
        if (st == SQZ_OK && !json_object_get(a, key))
            st = diff_append(out, &len, key, NULL, x);
    }
    return st;
}

sqz_status sqz_signature_diff(const char *a_json, const char *b_json, char **out) {
    *out = NULL;
    json_t *a = json_loads(a_json, 0, NULL), *b = json_loads(b_json, 0, NULL);
    sqz_status st = json_is_object(a) && json_is_object(b)
                        ? diff_objects(a, b, out)
                        : sqz_error(SQZ_ERR_FORMAT, "signature diff: a signature is not a JSON object");
    json_decref(a), json_decref(b);
    if (st != SQZ_OK) {
        free(*out);
        *out = NULL;
    }
    return st;
}

// ---- cells ---------------------------------------------------------------------------------------

// "host:pid" of this process: who is running a cell.
static void owner_id(char buf[300]) {
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    snprintf(buf, 300, "%s:%ld", host, (long)getpid());
}

// Whether `owner` names another live process on this host.
static int owner_alive(const char *owner) {
    char me[300];
    owner_id(me);
    const char *colon = owner ? strrchr(owner, ':') : NULL;
    const char *mine = strrchr(me, ':');
    if (!colon || colon - owner != mine - me || strncmp(owner, me, (size_t)(mine - me)) != 0)
        return 0; // another host (or no owner): cannot tell, treat as gone
    long pid = strtol(colon + 1, NULL, 10);
    if (pid <= 0 || pid == (long)getpid())
        return 0;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

typedef struct run_row {
    int64_t id;
    char status[16];
    char *owner;
} run_row;

// Look up the run of a signature hash; *found = 0 when there is none.
static sqz_status run_lookup(sqz_store *s, const char *hash, run_row *r, int *found) {
    sqlite3_stmt *st;
    SQZ_TRY(store_prepare(s, "SELECT id, status, owner FROM runs WHERE signature_hash = ?1", &st));
    store_bind_text(st, 1, hash);
    int rc = sqlite3_step(st), oom = 0;
    *found = rc == SQLITE_ROW;
    if (*found) {
        r->id = sqlite3_column_int64(st, 0);
        snprintf(r->status, sizeof r->status, "%s", (const char *)sqlite3_column_text(st, 1));
        r->owner = store_col_dup(st, 2, &oom);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_err(s, SQZ_ERR_IO, "looking up a run");
    return oom ? sqz_error(SQZ_ERR_NOMEM, "out of memory") : SQZ_OK;
}

static sqz_status run_insert(sqz_store *s, int64_t variant_id, const sqz_signature *g,
                             const char *json, const char *hash, int64_t *id) {
    char now[32], owner[300];
    store_now(now);
    owner_id(owner);
    sqlite3_stmt *st;
    SQZ_TRY(store_prepare(s,
                          "INSERT INTO runs (variant_id, task, signature, signature_hash, status, "
                          "attempts, owner, started_at) VALUES (?1, ?2, ?3, ?4, 'running', 1, ?5, ?6)",
                          &st));
    sqlite3_bind_int64(st, 1, variant_id);
    store_bind_text(st, 2, g->task);
    store_bind_text(st, 3, json);
    store_bind_text(st, 4, hash);
    store_bind_text(st, 5, owner);
    store_bind_text(st, 6, now);
    SQZ_TRY(step_done(s, st, "creating a run (does the variant exist?)"));
    *id = sqlite3_last_insert_rowid(s->db);
    return SQZ_OK;
}

// Reset a crashed or failed run: drop its partial rows and mark it running again.
static sqz_status run_reset(sqz_store *s, int64_t id) {
    static const char *const sql[] = {
        "DELETE FROM samples WHERE run_id = ?1",
        "DELETE FROM metrics WHERE run_id = ?1",
        ("UPDATE runs SET status = 'running', attempts = attempts + 1, owner = ?2, error = NULL, "
         "n_samples = NULL, wall_s = NULL, started_at = ?3, finished_at = NULL WHERE id = ?1"),
    };
    char now[32], owner[300];
    store_now(now);
    owner_id(owner);
    for (int i = 0; i < 3; i++) {
        sqlite3_stmt *st;
        SQZ_TRY(store_prepare(s, sql[i], &st));
        sqlite3_bind_int64(st, 1, id);
        if (i == 2) {
            store_bind_text(st, 2, owner);
            store_bind_text(st, 3, now);
        }
        SQZ_TRY(step_done(s, st, "resetting an interrupted run"));
    }
    return SQZ_OK;
}

static sqz_status cell_begin_tx(sqz_store *s, int64_t variant_id, const sqz_signature *g,
                                const char *json, const char *hash, int64_t *run_id,
                                sqz_cell_state *state) {
    run_row r = {0};
    int found = 0;
    SQZ_TRY(run_lookup(s, hash, &r, &found));
    sqz_status st = SQZ_OK;
    if (!found) {
        *state = SQZ_CELL_NEW;
        st = run_insert(s, variant_id, g, json, hash, run_id);
    } else {
        *run_id = r.id;
        if (!strcmp(r.status, "done"))
            *state = SQZ_CELL_DONE;
        else if (!strcmp(r.status, "running") && owner_alive(r.owner))
            *state = SQZ_CELL_BUSY;
        else {
            *state = SQZ_CELL_REDO;
            st = run_reset(s, r.id);
        }
    }
    free(r.owner);
    return st;
}

sqz_status sqz_store_cell_begin(sqz_store *s, int64_t variant_id, const sqz_signature *sig,
                                int64_t *run_id, sqz_cell_state *state) {
    char *json = NULL, hash[65];
    SQZ_TRY(sqz_signature_json(sig, &json, hash));
    sqz_status st = store_begin(s);
    if (st == SQZ_OK)
        st = cell_begin_tx(s, variant_id, sig, json, hash, run_id, state);
    if (st == SQZ_OK)
        st = store_commit(s);
    if (st != SQZ_OK) {
        store_rollback(s);
        sqz_error_prefix(st, "beginning cell '%s' (%s): ", sig->task, sig->recipe);
    }
    free(json);
    return st;
}

// The run must exist, be running, and be ours: a cell another process reset and took over (after
// deciding this one was gone) refuses our writes instead of mixing two attempts' rows.
static sqz_status run_check_running(sqz_store *s, int64_t run_id) {
    sqlite3_stmt *st;
    SQZ_TRY(store_prepare(s, "SELECT status, owner FROM runs WHERE id = ?1", &st));
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st);
    char status[16] = "missing", owner[300] = "", me[300];
    if (rc == SQLITE_ROW) {
        snprintf(status, sizeof status, "%s", (const char *)sqlite3_column_text(st, 0));
        const unsigned char *o = sqlite3_column_text(st, 1);
        snprintf(owner, sizeof owner, "%s", o ? (const char *)o : "");
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_err(s, SQZ_ERR_IO, "looking up a run");
    SQZ_FAIL_IF(strcmp(status, "running"), SQZ_ERR_ARG, "%s: run %lld is %s, not running", s->path,
                (long long)run_id, status);
    owner_id(me);
    SQZ_FAIL_IF(strcmp(owner, me), SQZ_ERR_ARG, "%s: run %lld was taken over by %s", s->path,
                (long long)run_id, owner);
    return SQZ_OK;
}

static void bind_opt_double(sqlite3_stmt *st, int i, double v) {
    if (v < 0 || isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

static sqz_status samples_insert(sqz_store *s, int64_t run_id, const sqz_sample_row *rows, size_t n) {
    sqlite3_stmt *st;
    SQZ_TRY(store_prepare(s,
                          "INSERT INTO samples (run_id, sample_index, item_id, prompt, generated, "
                          "reference, outcome, metrics, latency_s, ttft_s, n_prompt_tokens, "
                          "n_gen_tokens) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                          &st));
    sqz_status out = SQZ_OK;
    for (size_t i = 0; i < n && out == SQZ_OK; i++) {
        const sqz_sample_row *r = &rows[i];
        if (!r->item_id) {
            out = sqz_error(SQZ_ERR_ARG, "%s: sample %lld has no item id", s->path, (long long)r->index);
            break;
        }
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int64(st, 2, r->index);
        store_bind_text(st, 3, r->item_id);
        store_bind_text(st, 4, r->prompt);
        store_bind_text(st, 5, r->generated);
        store_bind_text(st, 6, r->reference);
        if (r->outcome == SQZ_OUTCOME_PASS || r->outcome == SQZ_OUTCOME_FAIL)
            sqlite3_bind_int(st, 7, r->outcome);
        else
            sqlite3_bind_null(st, 7);
        store_bind_text(st, 8, r->metrics_json);
        bind_opt_double(st, 9, r->latency_s);
        bind_opt_double(st, 10, r->ttft_s);
        sqlite3_bind_int64(st, 11, r->n_prompt_tokens);
        sqlite3_bind_int64(st, 12, r->n_gen_tokens);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_CONSTRAINT)
            out = sqz_error(SQZ_ERR_ARG, "%s: run %lld: sample %lld is already recorded", s->path,
                            (long long)run_id, (long long)r->index);
        else if (rc != SQLITE_DONE)
            out = store_err(s, SQZ_ERR_IO, "recording a sample");
    }
    sqlite3_finalize(st);
    return out;
}

sqz_status sqz_store_add_samples(sqz_store *s, int64_t run_id, const sqz_sample_row *rows, size_t n) {
    SQZ_TRY(store_begin(s));
    sqz_status st = run_check_running(s, run_id);
    if (st == SQZ_OK)
        st = samples_insert(s, run_id, rows, n);
    if (st == SQZ_OK)
        st = store_commit(s);
    if (st != SQZ_OK)
        store_rollback(s);
    return st;
}

static sqz_status metrics_insert(sqz_store *s, int64_t run_id, const sqz_metric_row *m, size_t n) {
    sqlite3_stmt *st;
    SQZ_TRY(store_prepare(s,
                          "INSERT INTO metrics (run_id, name, value, ci_low, ci_high, direction, "
                          "is_primary, settings) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &st));
    sqz_status out = SQZ_OK;
    for (size_t i = 0; i < n && out == SQZ_OK; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, run_id);
        store_bind_text(st, 2, m[i].name);
        if (isfinite(m[i].value))
            sqlite3_bind_double(st, 3, m[i].value);
        else
            sqlite3_bind_null(st, 3); // SQL has no NaN/inf; NULL = not computable
        if (isfinite(m[i].ci_low) && isfinite(m[i].ci_high)) {
            sqlite3_bind_double(st, 4, m[i].ci_low);
            sqlite3_bind_double(st, 5, m[i].ci_high);
        } else {
            sqlite3_bind_null(st, 4);
            sqlite3_bind_null(st, 5);
        }
        sqlite3_bind_int(st, 6, (int)m[i].direction);
        sqlite3_bind_int(st, 7, m[i].primary ? 1 : 0);
        store_bind_text(st, 8, m[i].settings_json);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
            out = rc == SQLITE_CONSTRAINT
                      ? sqz_error(SQZ_ERR_ARG, "%s: run %lld: metric '%s' missing a name or given twice",
                                  s->path, (long long)run_id, m[i].name ? m[i].name : "(null)")
                      : store_err(s, SQZ_ERR_IO, "recording a metric");
    }
    sqlite3_finalize(st);
    return out;
}

static sqz_status run_mark_done(sqz_store *s, int64_t run_id, double wall_s) {
    char now[32];
    store_now(now);
    sqlite3_stmt *st;
    SQZ_TRY(store_prepare(s,
                          "UPDATE runs SET status = 'done', wall_s = ?2, finished_at = ?3, "
                          "n_samples = (SELECT COUNT(*) FROM samples WHERE run_id = ?1) WHERE id = ?1",
                          &st));
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_double(st, 2, wall_s);
    store_bind_text(st, 3, now);
    return step_done(s, st, "finishing a run");
}

sqz_status sqz_store_cell_finish(sqz_store *s, int64_t run_id, const sqz_metric_row *metrics,
                                 size_t n, double wall_s) {
    SQZ_TRY(store_begin(s));
    sqz_status st = run_check_running(s, run_id);
    if (st == SQZ_OK)
        st = metrics_insert(s, run_id, metrics, n);
    if (st == SQZ_OK)
        st = run_mark_done(s, run_id, wall_s);
    if (st == SQZ_OK)
        st = store_commit(s);
    if (st != SQZ_OK)
        store_rollback(s);
    return st;
}

sqz_status sqz_store_cell_fail(sqz_store *s, int64_t run_id, const char *message) {
    char now[32], me[300];
    store_now(now);
    owner_id(me);
    sqlite3_stmt *st;
    // Only our own running cell: one taken over by another process is not ours to fail.
    SQZ_TRY(store_prepare(s, "UPDATE runs SET status = 'failed', error = ?2, finished_at = ?3 "
                             "WHERE id = ?1 AND status = 'running' AND owner = ?4", &st));
    sqlite3_bind_int64(st, 1, run_id);
    store_bind_text(st, 2, message);
    store_bind_text(st, 3, now);
    store_bind_text(st, 4, me);
    return step_done(s, st, "marking a run failed");
}

int64_t sqz_store_count_samples(sqz_store *s, int64_t run_id) {
    sqlite3_stmt *st;
    if (store_prepare(s, "SELECT COUNT(*) FROM samples WHERE run_id = ?1", &st) != SQZ_OK)
        return -1;
    sqlite3_bind_int64(st, 1, run_id);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return n;
}

// Opening the store: connection settings, the versioned schema and its migrations.
// The schema is written in SQL that SQLite and PostgreSQL both accept, except where noted in
// docs/results-schema.md (INTEGER PRIMARY KEY row ids, PRAGMAs, BEGIN IMMEDIATE).
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_internal.h"

// Migration n takes the schema from version n-1 to n. Append-only: never edit a shipped one.
typedef struct migration {
    int version;
    const char *description;
    const char *sql;
} migration;

static const migration MIGRATIONS[] = {
    {1, "models, variants, runs, samples, metrics",
     "CREATE TABLE models ("
     "  id INTEGER PRIMARY KEY,"
     "  sha256 TEXT NOT NULL UNIQUE,"
     "  path TEXT NOT NULL,"
     "  name TEXT,"
     "  arch TEXT,"
     "  n_params BIGINT,"
     "  bytes BIGINT,"
     "  created_at TEXT NOT NULL);"
     "CREATE TABLE variants ("
     "  id INTEGER PRIMARY KEY,"
     "  model_id INTEGER NOT NULL REFERENCES models(id),"
     "  name TEXT NOT NULL,"
     "  recipe TEXT NOT NULL,"
     "  path TEXT,"
     "  sha256 TEXT,"
     "  bytes BIGINT,"
     "  bits_per_weight DOUBLE PRECISION,"
     "  manifest TEXT,"
     "  created_at TEXT NOT NULL,"
     "  UNIQUE (model_id, recipe));"
     "CREATE TABLE runs ("
     "  id INTEGER PRIMARY KEY,"
     "  variant_id INTEGER NOT NULL REFERENCES variants(id),"
     "  task TEXT NOT NULL,"
     "  signature TEXT NOT NULL,"
     "  signature_hash TEXT NOT NULL UNIQUE,"
     "  status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),"
     "  attempts INTEGER NOT NULL,"
     "  owner TEXT,"
     "  error TEXT,"
     "  n_samples INTEGER,"
     "  wall_s DOUBLE PRECISION,"
     "  started_at TEXT,"
     "  finished_at TEXT);"
     "CREATE INDEX runs_variant_task ON runs (variant_id, task);"
     "CREATE TABLE samples ("
     "  id INTEGER PRIMARY KEY,"
     "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
     "  sample_index INTEGER NOT NULL,"
     "  item_id TEXT NOT NULL,"
     "  prompt TEXT,"
     "  generated TEXT,"
     "  reference TEXT,"
     "  outcome INTEGER CHECK (outcome IN (0, 1)),"
     "  metrics TEXT,"
     "  latency_s DOUBLE PRECISION,"
     "  ttft_s DOUBLE PRECISION,"
     "  n_prompt_tokens INTEGER,"
     "  n_gen_tokens INTEGER,"
     "  UNIQUE (run_id, sample_index));"
     "CREATE INDEX samples_item ON samples (run_id, item_id);"
     "CREATE TABLE metrics ("
     "  id INTEGER PRIMARY KEY,"
     "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
     "  name TEXT NOT NULL,"
     "  value DOUBLE PRECISION,"
     "  ci_low DOUBLE PRECISION,"
     "  ci_high DOUBLE PRECISION,"
     "  direction INTEGER NOT NULL CHECK (direction IN (-1, 0, 1)),"
     "  is_primary INTEGER NOT NULL CHECK (is_primary IN (0, 1)),"
     "  settings TEXT,"
     "  UNIQUE (run_id, name));"},
};
#define N_MIGRATIONS (sizeof MIGRATIONS / sizeof MIGRATIONS[0])

sqz_status store_err(sqz_store *s, sqz_status code, const char *what) {
    return sqz_error(code, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

sqz_status store_exec(sqz_store *s, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        sqz_status st = sqz_error(SQZ_ERR_IO, "%s: %s", s->path, msg ? msg : "SQL error");
        sqlite3_free(msg);
        return st;
    }
    return SQZ_OK;
}

sqz_status store_prepare(sqz_store *s, const char *sql, sqlite3_stmt **st) {
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        int rc = sqlite3_errcode(s->db);
        sqz_status code = rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT ? SQZ_ERR_FORMAT
                          : rc == SQLITE_ERROR                        ? SQZ_ERR_INTERNAL
                                                                      : SQZ_ERR_IO;
        return store_err(s, code, "preparing a query");
    }
    return SQZ_OK;
}

sqz_status store_begin(sqz_store *s) { return store_exec(s, "BEGIN IMMEDIATE"); }
sqz_status store_commit(sqz_store *s) { return store_exec(s, "COMMIT"); }
void store_rollback(sqz_store *s) {
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

void store_now(char buf[32]) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int store_bind_text(sqlite3_stmt *st, int i, const char *v) {
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

char *store_col_dup(sqlite3_stmt *st, int i, int *oom) {
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t)
        return NULL;
    char *d = strdup((const char *)t);
    if (!d)
        *oom = 1;
    return d;
}

// Highest applied migration (0 for a new file).
static sqz_status schema_current(sqz_store *s, int *version) {
    SQZ_TRY(store_exec(s, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                          "  version INTEGER PRIMARY KEY,"
                          "  description TEXT NOT NULL,"
                          "  applied_at TEXT NOT NULL)"));
    sqlite3_stmt *st;
    SQZ_TRY(store_prepare(s, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &st));
    int rc = sqlite3_step(st);
    *version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return store_err(s, SQZ_ERR_IO, "reading the schema version");
    return SQZ_OK;
}

static sqz_status schema_apply(sqz_store *s, const migration *m) {
    SQZ_TRY(store_exec(s, m->sql));
    sqlite3_stmt *st;
    SQZ_TRY(store_prepare(s, "INSERT INTO schema_migrations (version, description, applied_at) "
                             "VALUES (?, ?, ?)", &st));
    char now[32];
    store_now(now);
    sqlite3_bind_int(st, 1, m->version);
    store_bind_text(st, 2, m->description);
    store_bind_text(st, 3, now);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return store_err(s, SQZ_ERR_IO, "recording a migration");
    return SQZ_OK;
}

// Bring the schema up to SQZ_STORE_SCHEMA_VERSION, all migrations in one transaction.
static sqz_status schema_migrate(sqz_store *s) {
    SQZ_TRY(store_begin(s));
    int v = 0;
    sqz_status st = schema_current(s, &v);
    if (st == SQZ_OK && v > SQZ_STORE_SCHEMA_VERSION)
        st = sqz_error(SQZ_ERR_UNSUPPORTED,
                       "%s: schema version %d is newer than this sqz supports (%d)", s->path, v,
                       SQZ_STORE_SCHEMA_VERSION);
    for (size_t i = 0; st == SQZ_OK && i < N_MIGRATIONS; i++)
        if (MIGRATIONS[i].version > v)
            st = schema_apply(s, &MIGRATIONS[i]);
    if (st == SQZ_OK)
        st = store_commit(s);
    if (st != SQZ_OK)
        store_rollback(s);
    return st;
}

// The directory of path must exist and be writable (SQLite also creates -wal/-shm files there);
// checked up front for a clear message instead of SQLite's "unable to open database file".
static sqz_status check_dir(const char *path) {
    char *dir = strdup(path);
    if (!dir)
        return sqz_error(SQZ_ERR_NOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    const char *d = slash ? (slash == dir ? "/" : (*slash = 0, dir)) : ".";
    struct stat sb;
    sqz_status st = SQZ_OK;
    if (stat(d, &sb) != 0 || !S_ISDIR(sb.st_mode))
        st = sqz_error(SQZ_ERR_IO, "%s: directory '%s' does not exist", path, d);
    else if (access(d, W_OK) != 0)
        st = sqz_error(SQZ_ERR_IO, "%s: directory '%s' is not writable: %s", path, d,
                       strerror(errno));
    else if (access(path, F_OK) == 0 && access(path, W_OK) != 0)
        st = sqz_error(SQZ_ERR_IO, "%s: file is not writable: %s", path, strerror(errno));
    free(dir);
    return st;
}

static sqz_status store_configure(sqz_store *s) {
    sqlite3_busy_timeout(s->db, 30000);
    // journal_mode returns the mode it ended up in: a file that cannot do WAL is an error.
    sqlite3_stmt *st;
    SQZ_TRY(store_prepare(s, "PRAGMA journal_mode=WAL", &st));
    int rc = sqlite3_step(st);
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    int wal = mode && !strcmp(mode, "wal");
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return store_err(s, SQZ_ERR_FORMAT, "opening the database");
    if (!wal)
        return sqz_error(SQZ_ERR_IO, "%s: cannot switch the database to WAL mode", s->path);
    // NORMAL is durable across process crashes in WAL mode (only a power loss may drop the last
    // commits), which is what a resumable sweep needs.
    return store_exec(s, "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL");
}

sqz_status sqz_store_open(const char *path, sqz_store **out) {
    *out = NULL;
    SQZ_FAIL_IF(!path || !*path, SQZ_ERR_ARG, "results store: empty database path");
    SQZ_TRY(check_dir(path));
    sqz_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return sqz_error(SQZ_ERR_NOMEM, "out of memory");
    }
    sqz_status st = SQZ_OK;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        st = s->db ? store_err(s, SQZ_ERR_IO, "cannot open")
                   : sqz_error(SQZ_ERR_NOMEM, "%s: out of memory", path);
    if (st == SQZ_OK)
        st = store_configure(s);
    if (st == SQZ_OK)
        st = schema_migrate(s);
    if (st != SQZ_OK) {
        sqz_store_free(s);
        return st;
    }
    *out = s;
    return SQZ_OK;
}

void sqz_store_free(sqz_store *s) {
    if (!s)
        return;
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

int sqz_store_schema_version(sqz_store *s) {
    int v = -1;
    if (schema_current(s, &v) != SQZ_OK)
        return -1;
    return v;
}

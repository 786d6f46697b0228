// Shared by the store's source files: the handle and small SQLite helpers.
#ifndef SQZ_STORE_INTERNAL_H
#define SQZ_STORE_INTERNAL_H

#include <sqlite3.h>

#include "core/error.h"
#include "sqz/store.h"

struct sqz_store {
    sqlite3 *db;
    char *path; // for error messages
};

// Set the error message from SQLite's ("results.db: <what>: <sqlite message>") and return code.
sqz_status store_err(sqz_store *s, sqz_status code, const char *what);
// Run SQL without results (one or more statements).
sqz_status store_exec(sqz_store *s, const char *sql);
// Prepare one statement; on failure the message names the statement's purpose.
sqz_status store_prepare(sqz_store *s, const char *sql, sqlite3_stmt **st);
// Write transactions: BEGIN IMMEDIATE takes the write lock up front, so two writers wait on the
// busy timeout instead of deadlocking on a lock upgrade. rollback never fails (best effort).
sqz_status store_begin(sqz_store *s);
sqz_status store_commit(sqz_store *s);
void store_rollback(sqz_store *s);
// Current UTC time as ISO-8601 ("2026-11-23T07:39:00Z") into buf[32].
void store_now(char buf[32]);
// Bind helpers: NULL text binds SQL NULL.
int store_bind_text(sqlite3_stmt *st, int i, const char *v);
// Column text as a malloc'd copy (NULL for SQL NULL); sets *oom on allocation failure.
char *store_col_dup(sqlite3_stmt *st, int i, int *oom);

#endif

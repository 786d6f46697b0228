// Results store: schema creation and migrations, upserts, signatures, the cell life cycle, crash
// recovery (a child killed with SIGKILL mid-sweep, then resumed) and clear errors for bad paths.
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "sqz/store.h"

static char tmpdir[64];

static void path_in_tmp(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", tmpdir, name); }

// One integer from a SQL query on a separate connection (what another reader sees).
static long long sql_int(const char *db, const char *sql) {
    sqlite3 *h;
    long long v = -999;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        else
            fprintf(stderr, "query failed: %s: %s\n", sql, sqlite3_errmsg(h));
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return v;
}

static sqz_signature sig_of(const char *task, uint64_t seed) {
    sqz_signature g = {.model_sha256 = "ab12", .recipe = "rtn:bits=4", .task = task,
                       .metric_json = "{\"k\": [1], \"timeout_s\": 10}",
                       .sampling_json = "{\"temperature\": 0, \"max_tokens\": 64}",
                       .limit = 20, .seed = seed, .sqz_version = "0.1.0", .cpu_features = "avx2"};
    return g;
}

static void make_rows(sqz_sample_row *rows, char ids[][32], int from, int n) {
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], 32, "Item/%d", from + i);
        rows[i] = (sqz_sample_row){.index = from + i, .item_id = ids[i], .prompt = "def f():",
                                   .generated = "  return 1", .reference = "  return 1",
                                   .outcome = (from + i) % 3 ? SQZ_OUTCOME_PASS : SQZ_OUTCOME_FAIL,
                                   .metrics_json = "{\"edit_sim\": 1}", .latency_s = 0.01 * (i + 1),
                                   .ttft_s = 0.001, .n_prompt_tokens = 5, .n_gen_tokens = 4};
    }
}

static void test_schema(void) {
    char db[128];
    path_in_tmp(db, sizeof db, "schema.db");
    sqz_store *s = NULL;
    CHECK_OK(sqz_store_open(db, &s));
    CHECK(sqz_store_schema_version(s) == SQZ_STORE_SCHEMA_VERSION);
    sqz_store_free(s);
    CHECK_OK(sqz_store_open(db, &s)); // reopening migrates nothing
    sqz_store_free(s);
    CHECK(sql_int(db, "SELECT COUNT(*) FROM schema_migrations") == SQZ_STORE_SCHEMA_VERSION);
    CHECK(sql_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                      "('models', 'variants', 'runs', 'samples', 'metrics')") == 5);
    sqlite3 *h;
    sqlite3_open(db, &h);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL);
    CHECK(sqlite3_step(st) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(st, 0), "wal"));
    sqlite3_finalize(st);
    // A file from a newer sqz is refused, not silently misread.
    sqlite3_exec(h, "INSERT INTO schema_migrations VALUES (99, 'future', 'x')", NULL, NULL, NULL);
    sqlite3_close(h);
    CHECK_ERR(sqz_store_open(db, &s), SQZ_ERR_UNSUPPORTED, "schema version 99 is newer");
    CHECK(s == NULL);
}

static void test_bad_paths(void) {
    sqz_store *s = NULL;
    CHECK_ERR(sqz_store_open("/nonexistent-sqz-dir/r.db", &s), SQZ_ERR_IO,
              "directory '/nonexistent-sqz-dir' does not exist");
    char p[128];
    path_in_tmp(p, sizeof p, "garbage.db");
    FILE *f = fopen(p, "wb");
    for (int i = 0; i < 512; i++)
        fputs("not a database ", f);
    fclose(f);
    CHECK_ERR(sqz_store_open(p, &s), SQZ_ERR_FORMAT, "garbage.db");
    if (geteuid() != 0) { // root ignores permission bits
        char ro[128];
        path_in_tmp(ro, sizeof ro, "ro");
        mkdir(ro, 0500);
        strcat(ro, "/r.db");
        CHECK_ERR(sqz_store_open(ro, &s), SQZ_ERR_IO, "is not writable");
    }
    CHECK(s == NULL);
}

static void test_signature(void) {
    sqz_signature a = sig_of("humaneval", 7), b = a;
    b.metric_json = "{\"timeout_s\":10,\"k\":[1]}"; // same settings, other key order/spacing
    char *ja, *jb, ha[65], hb[65];
    CHECK_OK(sqz_signature_json(&a, &ja, ha));
    CHECK_OK(sqz_signature_json(&b, &jb, hb));
    CHECK(!strcmp(ja, jb) && !strcmp(ha, hb));
    CHECK(strstr(ja, "\"cpu_features\":\"avx2\"") && strstr(ja, "\"seed\":7"));
    CHECK(strstr(ja, "\"cpu_features\"") < strstr(ja, "\"task\"")); // sorted keys
    char sentinel = 0, *why = &sentinel;
    CHECK_OK(sqz_signature_diff(ja, jb, &why));
    CHECK(why == NULL); // equal signatures: nothing to explain
    free(jb);
    b.seed = 8;
    b.cpu_features = "avx2 avx512f";
    CHECK_OK(sqz_signature_json(&b, &jb, hb));
    CHECK(strcmp(ha, hb) != 0);
    CHECK_OK(sqz_signature_diff(ja, jb, &why));
    CHECK_MSG(why && !strcmp(why, "cpu_features: \"avx2\" -> \"avx2 avx512f\"; seed: 7 -> 8"), "%s", why);
    free(why);
    CHECK_ERR(sqz_signature_diff(ja, "[1]", &why), SQZ_ERR_FORMAT, "not a JSON object");
    CHECK_OK(sqz_signature_diff("{\"a\":1}", "{\"b\":{\"c\":2}}", &why));
    CHECK_MSG(why && !strcmp(why, "a: 1 -> (absent); b: (absent) -> {\"c\":2}"), "%s", why);
    free(why);
    free(ja), free(jb);
    b.sampling_json = "[1, 2]";
    CHECK_ERR(sqz_signature_json(&b, &jb, hb), SQZ_ERR_ARG, "sampling settings is not a JSON object");
    b.sampling_json = "{bad";
    CHECK_ERR(sqz_signature_json(&b, &jb, hb), SQZ_ERR_ARG, "sampling settings");
    b = a;
    b.task = NULL;
    CHECK_ERR(sqz_signature_json(&b, &jb, hb), SQZ_ERR_ARG, "required");
}

// Model + one variant in a fresh store; returns the variant id.
static int64_t setup_variant(sqz_store *s) {
    sqz_model_info m = {.sha256 = "ab12", .path = "m.gguf", .name = "M", .arch = "llama",
                        .n_params = 135000000, .bytes = 1000};
    int64_t mid = 0, mid2 = 0, vid = 0, vid2 = 0;
    CHECK_OK(sqz_store_put_model(s, &m, &mid));
    m.path = "moved/m.gguf";
    CHECK_OK(sqz_store_put_model(s, &m, &mid2));
    CHECK(mid == mid2 && mid > 0);
    sqz_variant_info v = {.model_id = mid, .name = "rtn4", .recipe = "rtn:bits=4", .bytes = 300,
                          .bits_per_weight = 4.5, .manifest_json = "{}"};
    CHECK_OK(sqz_store_put_variant(s, &v, &vid));
    v.bytes = 310;
    CHECK_OK(sqz_store_put_variant(s, &v, &vid2));
    CHECK(vid == vid2 && vid > 0);
    v.model_id = 999; // no such model: the foreign key refuses it
    CHECK_ERR(sqz_store_put_variant(s, &v, &vid2), SQZ_ERR_IO, "recording a variant");
    return vid;
}

static void test_cells(void) {
    char db[128];
    path_in_tmp(db, sizeof db, "cells.db");
    sqz_store *s = NULL;
    CHECK_OK(sqz_store_open(db, &s));
    if (!s)
        return;
    int64_t vid = setup_variant(s);
    sqz_signature g = sig_of("humaneval", 1);
    int64_t run = 0, run2 = 0;
    sqz_cell_state state;
    CHECK_OK(sqz_store_cell_begin(s, vid, &g, &run, &state));
    CHECK(state == SQZ_CELL_NEW);
    sqz_sample_row rows[10];
    char ids[10][32];
    make_rows(rows, ids, 0, 10);
    CHECK_OK(sqz_store_add_samples(s, run, rows, 5));
    // A batch repeating an index is refused as a whole (rows 3..7: 3 and 4 exist).
    CHECK_ERR(sqz_store_add_samples(s, run, rows + 3, 5), SQZ_ERR_ARG, "sample 3 is already recorded");
    CHECK(sqz_store_count_samples(s, run) == 5);
    CHECK_OK(sqz_store_add_samples(s, run, rows + 5, 5));
    sqz_metric_row m[2] = {{"pass@1", 0.6, 0.3, 0.9, SQZ_DIR_MAXIMIZE, true, "{\"k\":1}"},
                           {"latency_p50_s", 0.05, NAN, NAN, SQZ_DIR_MINIMIZE, false, NULL}};
    CHECK_OK(sqz_store_cell_finish(s, run, m, 2, 1.5));
    CHECK(sql_int(db, "SELECT n_samples FROM runs") == 10);
    // Begin again: done, skipped, nothing changed; writes to a finished cell are refused.
    CHECK_OK(sqz_store_cell_begin(s, vid, &g, &run2, &state));
    CHECK(state == SQZ_CELL_DONE && run2 == run);
    CHECK_ERR(sqz_store_add_samples(s, run, rows, 1), SQZ_ERR_ARG, "is done, not running");
    CHECK_ERR(sqz_store_cell_finish(s, run, m, 2, 1), SQZ_ERR_ARG, "is done, not running");
    // A failed cell is redone from scratch.
    sqz_signature g2 = sig_of("mbpp", 1);
    CHECK_OK(sqz_store_cell_begin(s, vid, &g2, &run2, &state));
    CHECK_OK(sqz_store_add_samples(s, run2, rows, 3));
    CHECK_OK(sqz_store_cell_fail(s, run2, "out of memory"));
    CHECK(sql_int(db, "SELECT COUNT(*) FROM runs WHERE status = 'failed'") == 1);
    int64_t run3 = 0;
    CHECK_OK(sqz_store_cell_begin(s, vid, &g2, &run3, &state));
    CHECK(state == SQZ_CELL_REDO && run3 == run2 && sqz_store_count_samples(s, run2) == 0);
    CHECK(sql_int(db, "SELECT attempts FROM runs WHERE task = 'mbpp'") == 2);
    // Another machine took the cell over (it judged us gone): our writes are refused, and a
    // begin from here cannot tell whether that machine lives, so it resets the cell.
    {
        sqlite3 *h;
        sqlite3_open(db, &h);
        sqlite3_exec(h, "UPDATE runs SET owner = 'otherhost:1' WHERE id = 2", NULL, NULL, NULL);
        sqlite3_close(h);
    }
    CHECK_ERR(sqz_store_add_samples(s, run2, rows, 1), SQZ_ERR_ARG, "run 2 was taken over by otherhost:1");
    CHECK_OK(sqz_store_cell_begin(s, vid, &g2, &run3, &state));
    CHECK(state == SQZ_CELL_REDO && run3 == run2);
    CHECK(sql_int(db, "SELECT attempts FROM runs WHERE task = 'mbpp'") == 3);
    // Metric names are unique per run; a failed finish leaves the cell running with no metrics.
    sqz_metric_row dup[2] = {m[0], m[0]};
    CHECK_ERR(sqz_store_cell_finish(s, run2, dup, 2, 1), SQZ_ERR_ARG, "given twice");
    CHECK(sql_int(db, "SELECT COUNT(*) FROM metrics WHERE run_id = 2") == 0);
    CHECK(sql_int(db, "SELECT COUNT(*) FROM runs WHERE status = 'running'") == 1);
    // The same cell with another seed is another run; the snapshot keeps the latest and points
    // at the previous one so a report can explain the difference.
    sqz_signature g3 = sig_of("humaneval", 2);
    int64_t run4 = 0;
    CHECK_OK(sqz_store_cell_begin(s, vid, &g3, &run4, &state));
    CHECK(state == SQZ_CELL_NEW && run4 != run);
    sqz_metric_row m3 = {"pass@1", 0.55, NAN, NAN, SQZ_DIR_MAXIMIZE, true, NULL};
    CHECK_OK(sqz_store_add_samples(s, run4, rows, 10));
    CHECK_OK(sqz_store_cell_finish(s, run4, &m3, 1, 1.0));
    // The snapshot holds the finished run with its metrics and samples.
    sqz_results *r = NULL;
    CHECK_OK(sqz_store_load(s, &r));
    if (r) {
        CHECK(r->n_models == 1 && r->n_variants == 1 && r->n_runs == 1);
        const sqz_res_run *latest = sqz_results_find_run(r, 0, "humaneval");
        CHECK(latest && latest->id == run4 && latest->prev_primary == 0.6);
        CHECK(latest && latest->prev_signature_json && strstr(latest->prev_signature_json, "\"seed\":1"));
    }
    sqz_results_free(r);
    r = NULL;
    // Drop the re-run again so the checks below see the first run.
    {
        sqlite3 *h;
        sqlite3_open(db, &h);
        sqlite3_exec(h, "PRAGMA foreign_keys=ON; DELETE FROM runs WHERE signature LIKE '%\"seed\":2%'", NULL, NULL, NULL);
        sqlite3_close(h);
    }
    CHECK(sql_int(db, "SELECT COUNT(*) FROM samples WHERE run_id = 4") == 0); // cascaded
    CHECK_OK(sqz_store_load(s, &r));
    if (r) {
        CHECK(r->n_models == 1 && r->n_variants == 1 && r->n_runs == 1);
        const sqz_res_run *x = sqz_results_find_run(r, 0, "humaneval");
        CHECK(x && x->n_samples == 10 && x->n_metrics == 2);
        CHECK(x && sqz_res_run_primary(x) && !strcmp(sqz_res_run_primary(x)->name, "pass@1"));
        CHECK(x && isnan(sqz_res_run_metric(x, "latency_p50_s")->ci_low));
        CHECK(x && x->samples[0].outcome == SQZ_OUTCOME_FAIL && x->samples[1].outcome == SQZ_OUTCOME_PASS);
        CHECK(r->variants[0].bytes == 310 && !strcmp(r->models[0].path, "moved/m.gguf"));
    }
    sqz_results_free(r);
    sqz_store_free(s);
}

// ---- crash recovery ------------------------------------------------------------------------------
#define N_CELLS 6
#define N_PER_CELL 24
#define BATCH 4

static const char *CELL_TASKS[N_CELLS] = {"humaneval", "mbpp", "quixbugs", "completion",
                                          "perplexity", "humaneval-x:java"};

// A sweep over N_CELLS cells as the runner will drive it; with `pace`, it sleeps between batches
// so it can be killed anywhere. Returns 0 on success; *redone counts REDO cells, *skipped DONE.
static int sweep(const char *db, int pace_us, int notify_fd, int *redone, int *skipped) {
    sqz_store *s = NULL;
    if (sqz_store_open(db, &s) != SQZ_OK)
        return 1;
    int64_t vid = 0;
    sqz_model_info m = {.sha256 = "ab12", .path = "m.gguf", .bytes = 1000};
    sqz_variant_info v = {.name = "rtn4", .recipe = "rtn:bits=4", .bytes = 300};
    int bad = sqz_store_put_model(s, &m, &v.model_id) || sqz_store_put_variant(s, &v, &vid);
    for (int c = 0; c < N_CELLS && !bad; c++) {
        sqz_signature g = sig_of(CELL_TASKS[c], 42);
        int64_t run;
        sqz_cell_state state;
        if (sqz_store_cell_begin(s, vid, &g, &run, &state)) {
            bad = 1;
            break;
        }
        *redone += state == SQZ_CELL_REDO;
        *skipped += state == SQZ_CELL_DONE;
        if (state == SQZ_CELL_DONE)
            continue;
        for (int i = 0; i < N_PER_CELL && !bad; i += BATCH) {
            sqz_sample_row rows[BATCH];
            char ids[BATCH][32];
            make_rows(rows, ids, i, BATCH);
            bad = sqz_store_add_samples(s, run, rows, BATCH) != SQZ_OK;
            if (notify_fd >= 0 && c == 2 && i == 2 * BATCH) { // tell the parent we are mid-cell
                (void)!write(notify_fd, "x", 1);
                pause();
            }
            if (pace_us)
                usleep((useconds_t)pace_us);
        }
        sqz_metric_row met = {"pass@1", 0.5, NAN, NAN, SQZ_DIR_MAXIMIZE, true, NULL};
        bad = bad || sqz_store_cell_finish(s, run, &met, 1, 0.1) != SQZ_OK;
    }
    if (bad)
        fprintf(stderr, "sweep: %s\n", sqz_last_error());
    sqz_store_free(s);
    return bad;
}

static void check_complete(const char *db) {
    CHECK(sql_int(db, "SELECT COUNT(*) FROM runs") == N_CELLS);
    CHECK(sql_int(db, "SELECT COUNT(*) FROM runs WHERE status = 'done'") == N_CELLS);
    CHECK(sql_int(db, "SELECT COUNT(*) FROM samples") == N_CELLS * N_PER_CELL);
    CHECK(sql_int(db, "SELECT COUNT(*) FROM (SELECT DISTINCT run_id, sample_index FROM samples) t") ==
          N_CELLS * N_PER_CELL);
    CHECK(sql_int(db, "SELECT MIN(n_samples) FROM runs") == N_PER_CELL);
    CHECK(sql_int(db, "SELECT COUNT(*) FROM metrics") == N_CELLS);
}

// Deterministic kill: the child stops in the middle of cell 2 (two cells done, batches of the
// third written); while it lives its cell is BUSY for others; after SIGKILL the resume skips the
// two done cells, redoes the third from scratch and runs the rest.
static void test_crash_midcell(void) {
    char db[128];
    path_in_tmp(db, sizeof db, "crash.db");
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        int r = 0, k = 0;
        _exit(sweep(db, 0, fds[1], &r, &k));
    }
    close(fds[1]);
    char ch;
    CHECK(read(fds[0], &ch, 1) == 1);
    close(fds[0]);
    CHECK(sql_int(db, "SELECT COUNT(*) FROM runs WHERE status = 'done'") == 2);
    CHECK(sql_int(db, "SELECT COUNT(*) FROM samples WHERE run_id = 3") == 3 * BATCH);
    sqz_store *s = NULL;
    CHECK_OK(sqz_store_open(db, &s));
    sqz_signature g = sig_of(CELL_TASKS[2], 42);
    int64_t run;
    sqz_cell_state state = SQZ_CELL_NEW;
    CHECK_OK(sqz_store_cell_begin(s, 1, &g, &run, &state));
    CHECK(state == SQZ_CELL_BUSY); // the child still holds it
    sqz_store_free(s);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    int redone = 0, skipped = 0;
    CHECK(sweep(db, 0, -1, &redone, &skipped) == 0);
    CHECK_MSG(redone == 1 && skipped == 2, "redone %d skipped %d", redone, skipped);
    check_complete(db);
    CHECK(sql_int(db, "SELECT attempts FROM runs WHERE id = 3") == 2);
}

// Random kills: a paced sweep killed at several arbitrary moments (inside or between
// transactions), resumed each time; the end state is always complete and duplicate-free.
static void test_crash_random(void) {
    char db[128];
    path_in_tmp(db, sizeof db, "crash-random.db");
    srand(12345);
    for (int round = 0; round < 4; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            int r = 0, k = 0;
            _exit(sweep(db, 1500, -1, &r, &k));
        }
        usleep((useconds_t)(5000 + rand() % 40000));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    int redone = 0, skipped = 0;
    CHECK(sweep(db, 0, -1, &redone, &skipped) == 0);
    printf("random kills: resumed with %d cells done, %d redone\n", skipped, redone);
    check_complete(db);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sqz-store-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    test_schema();
    test_bad_paths();
    test_signature();
    test_cells();
    test_crash_midcell();
    test_crash_random();
    char cmd[256];
    snprintf(cmd, sizeof cmd, "chmod -R u+w %s && rm -rf %s", tmpdir, tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_summary();
}

// sqz sweep CONFIG [--db FILE] [--out DIR] [--report DIR] [--data DIR] [--calib PATH]
//                  [--calib-n N] [--calib-len L] [-t THREADS] [--title TEXT] [--check]
// Runs models x recipes x tasks from a YAML config into the results store, with a progress line
// and ETA on stderr; Ctrl-C stops after the current cell (twice: at once). Re-running continues
// where it stopped. With --report, writes the report of the whole database afterwards.
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *usage_text =
    "usage: sqz sweep CONFIG [--db FILE] [--out DIR] [--report DIR] [options]\n"
    "  CONFIG            YAML: db, models, recipes, tasks, limits, sampling, seed (configs/*.yaml)\n"
    "  --db FILE         results database (default: the config's db)\n"
    "  --out DIR         variants and KL baselines (default: <db folder>/variants)\n"
    "  --report DIR      afterwards, write results.csv/json, report.md, report.pdf there\n"
    "  --title TEXT      report title\n"
    "  --data DIR        task data (default: config data_dir, $SQZ_DATA, ../shared/data/datasets)\n"
    "  --calib PATH      calibration corpus for compression (default: the held-in python corpus)\n"
    "  --calib-n N       calibration sequences (default 32)   --calib-len L  tokens each (256)\n"
    "  -t THREADS        threads (default: physical cores)\n"
    "  --check           check the config and exit (prints the number of cells)\n"
    "Ctrl-C stops after the current cell; a second Ctrl-C stops at once. Re-run to continue.\n";

static volatile sig_atomic_t g_stop;

static void on_sigint(int sig) {
    if (g_stop) { // second Ctrl-C: abandon the cell (the store redoes it next time)
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_stop = 1;
    static const char msg[] = "\nsqz sweep: stopping after this cell (Ctrl-C again to stop now)\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
}

static void fmt_time(double s, char *buf, size_t n) {
    if (s < 0)
        snprintf(buf, n, "?");
    else if (s < 3600)
        snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, n, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

static void on_progress(void *user, const sqz_sweep_progress *p) {
    bool tty = *(bool *)user;
    char el[32], eta[32];
    fmt_time(p->elapsed_s, el, sizeof el);
    fmt_time(p->eta_s, eta, sizeof eta);
    if (!strcmp(p->phase, "done")) {
        fprintf(stderr, "%ssweep: %zu/%zu cells (%zu skipped, %zu failed) in %s\n", tty ? "\r\033[K" : "", p->cells_done,
                p->cells_total, p->cells_skipped, p->cells_failed, el);
        return;
    }
    if (!tty && strcmp(p->phase, "eval") && strcmp(p->phase, "compress") && strcmp(p->phase, "kl-baseline"))
        return; // without a terminal: one line per step, no redraws
    if (!tty && p->items_done)
        return;
    const int width = 20;
    int fill = p->cells_total ? (int)(width * p->cells_done / p->cells_total) : 0;
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    char items[48] = "";
    if (p->items_total)
        snprintf(items, sizeof items, " %zu/%zu", p->items_done, p->items_total);
    fprintf(stderr, "%s[%s] %zu/%zu cells  %s %s/%s%s%s%s  %s elapsed, ETA %s%s", tty ? "\r\033[K" : "", bar,
            p->cells_done, p->cells_total, p->phase, p->model ? p->model : "", p->variant ? p->variant : "",
            p->task ? "/" : "", p->task ? p->task : "", items, el, eta, tty ? "" : "\n");
}

typedef struct args {
    const char *config, *report, *title;
    bool check;
    sqz_sweep_opts o;
} args;

static int parse(int argc, char **argv, args *a) {
    long long n;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(k, "-h") || !strcmp(k, "--help"))
            return printf("%s", usage_text), 0;
        if (!strcmp(k, "--check")) {
            a->check = true;
            continue;
        }
        if (k[0] != '-') {
            if (a->config)
                return cli_usage_error("sweep", "unexpected argument '%s'\n%s", k, usage_text);
            a->config = k;
            continue;
        }
        if (!v)
            return cli_usage_error("sweep", "unknown option or missing value: %s\n%s", k, usage_text);
        i++;
        const char **str = !strcmp(k, "--db") ? &a->o.db : !strcmp(k, "--out") ? &a->o.out_dir
                         : !strcmp(k, "--report") ? &a->report : !strcmp(k, "--title") ? &a->title
                         : !strcmp(k, "--data") ? &a->o.data_dir : !strcmp(k, "--calib") ? &a->o.calib_path : NULL;
        if (str) {
            *str = v;
        } else if (!strcmp(k, "--calib-n") || !strcmp(k, "--calib-len") || !strcmp(k, "-t")) {
            if (!cli_parse_int("sweep", k, v, &n))
                return 2;
            if (n < 0 || n > 1000000)
                return cli_usage_error("sweep", "%s expects 0..1000000", k);
            if (!strcmp(k, "-t"))
                a->o.n_threads = (int)n;
            else
                *(!strcmp(k, "--calib-n") ? &a->o.calib_n : &a->o.calib_len) = n;
        } else {
            return cli_usage_error("sweep", "unknown option %s\n%s", k, usage_text);
        }
    }
    if (!a->config)
        return cli_usage_error("sweep", "CONFIG is required\n%s", usage_text);
    return -1;
}

static int write_report(const args *a, const char *db) {
    char *cfg_db = NULL;
    double price = 0;
    if (sqz_sweep_config_info(a->config, &cfg_db, &price) != SQZ_OK)
        return cli_fail("sweep");
    free(cfg_db);
    sqz_report_opts ro = {.analysis = {.price_per_hour = price, .boot = {.n_resamples = 10000, .confidence = 0.95}},
                          .title = a->title};
    sqz_store *s = NULL;
    sqz_results *r = NULL;
    sqz_status st = sqz_store_open(db, &s);
    if (st == SQZ_OK)
        st = sqz_store_load(s, &r);
    if (st == SQZ_OK)
        st = sqz_report_write(r, &ro, a->report);
    sqz_results_free(r);
    sqz_store_free(s);
    if (st != SQZ_OK)
        return cli_fail("sweep");
    printf("report: %s/report.pdf (also report.md, results.csv, results.json)\n", a->report);
    return 0;
}

int sqz_cmd_sweep(int argc, char **argv) {
    args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (a.check) {
        size_t n = 0;
        if (sqz_sweep_check(a.config, &a.o, &n) != SQZ_OK)
            return cli_fail("sweep");
        printf("%s: ok, %zu cells\n", a.config, n);
        return 0;
    }
    bool tty = isatty(STDERR_FILENO);
    a.o.progress = on_progress, a.o.user = &tty, a.o.stop = &g_stop;
    struct sigaction sa = {.sa_handler = on_sigint};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sqz_sweep_summary sum;
    if (sqz_sweep_run(a.config, &a.o, &sum) != SQZ_OK)
        return cli_fail("sweep");
    printf("sweep: %zu cells: %zu run, %zu already done, %zu failed%s; %zu variants compressed, %zu reused; "
           "%.1f s\n",
           sum.cells_total, sum.cells_run, sum.cells_skipped, sum.cells_failed,
           sum.stopped ? " (stopped early: re-run to continue)" : "", sum.variants_compressed, sum.variants_reused,
           sum.wall_s);
    printf("results: %s\n", sum.db_path);
    if (sum.cells_failed)
        fprintf(stderr, "sqz sweep: %zu cells failed; first: %s\n", sum.cells_failed, sum.first_error);
    if (a.report && !sum.stopped && write_report(&a, sum.db_path) != 0)
        return 1;
    return sum.cells_failed || sum.stopped ? 1 : 0;
}

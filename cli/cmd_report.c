// sqz report: CSV/JSON/Markdown/PDF report from a results database.
//   sqz report --db FILE -o DIR [--baseline VARIANT] [--price-per-hour P] [--title TEXT]
//              [--resamples N] [--confidence C] [--seed N]
#include <string.h>
#include <unistd.h>

#include "cli.h"

// fontconfig (under pango) keeps a few hundred bytes of its configuration for the process
// lifetime in a way LeakSanitizer reports as a leak; sanitizer builds read this hook (it is unused
// otherwise). Only that library's allocations are suppressed.
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libfontconfig.so\n"; }

static void usage(FILE *f) {
    fprintf(f, "usage: sqz report --db FILE -o DIR [--baseline VARIANT] [--price-per-hour P]\n"
               "                  [--title TEXT] [--resamples N] [--confidence C] [--seed N]\n"
               "Writes DIR/results.csv, results.json, report.md and report.pdf.\n"
               "  --baseline        variant to compare with (default: recipe 'none', else the largest)\n"
               "  --price-per-hour  machine price, for cost per 1000 requests\n"
               "  --resamples/--confidence/--seed  bootstrap of delta pass@1 (10000, 0.95, 0)\n");
}

int sqz_cmd_report(int argc, char **argv) {
    const char *db = NULL, *out = NULL;
    sqz_report_opts o = {.analysis = {.boot = {.n_resamples = 10000, .confidence = 0.95}}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!v)
            return cli_usage_error("report", "unknown option or missing value: %s", a);
        i++;
        if (!strcmp(a, "--db"))
            db = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--out"))
            out = v;
        else if (!strcmp(a, "--baseline"))
            o.analysis.baseline = v;
        else if (!strcmp(a, "--title"))
            o.title = v;
        else if (!strcmp(a, "--price-per-hour")) {
            if (!cli_parse_double("report", a, v, &o.analysis.price_per_hour))
                return 2;
        } else if (!strcmp(a, "--confidence")) {
            if (!cli_parse_double("report", a, v, &o.analysis.boot.confidence))
                return 2;
        } else if (!strcmp(a, "--resamples")) {
            if (!cli_parse_int("report", a, v, &n) || n < 1 || n > 10000000)
                return cli_usage_error("report", "--resamples expects 1..10000000");
            o.analysis.boot.n_resamples = (int)n;
        } else if (!strcmp(a, "--seed")) {
            if (!cli_parse_int("report", a, v, &n))
                return 2;
            o.analysis.boot.seed = (uint64_t)n;
        } else
            return cli_usage_error("report", "unknown option %s", a);
    }
    if (!db || !out) {
        usage(stderr);
        return 2;
    }
    if (access(db, R_OK) != 0) // opening would create an empty database
        return cli_usage_error("report", "%s: no such results database", db);
    sqz_store *s = NULL;
    sqz_results *r = NULL;
    if (sqz_store_open(db, &s) != SQZ_OK || sqz_store_load(s, &r) != SQZ_OK) {
        sqz_store_free(s);
        return cli_fail("report");
    }
    sqz_status st = sqz_report_write(r, &o, out);
    sqz_results_free(r);
    sqz_store_free(s);
    if (st != SQZ_OK)
        return cli_fail("report");
    printf("wrote %s/results.csv, results.json, report.md, report.pdf\n", out);
    return 0;
}

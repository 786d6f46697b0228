// sqz_report_write: analyse a snapshot and write the four report files into a directory.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "report_internal.h"

static sqz_status make_dir(const char *dir) {
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        SQZ_FAIL_IF(!S_ISDIR(sb.st_mode), SQZ_ERR_IO, "%s: exists and is not a directory", dir);
        return SQZ_OK;
    }
    SQZ_FAIL_IF(mkdir(dir, 0777) != 0, SQZ_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    return SQZ_OK;
}

sqz_status sqz_report_write(const sqz_results *r, const sqz_report_opts *opts, const char *dir) {
    SQZ_TRY(make_dir(dir));
    sqz_analysis *a = NULL;
    SQZ_TRY(sqz_analysis_run(r, &opts->analysis, &a));
    char path[4096];
    sqz_status st = SQZ_OK;
    snprintf(path, sizeof path, "%s/results.csv", dir);
    st = sqz_report_csv(a, path);
    if (st == SQZ_OK) {
        snprintf(path, sizeof path, "%s/results.json", dir);
        st = sqz_report_json(a, path);
    }
    if (st == SQZ_OK) {
        snprintf(path, sizeof path, "%s/report.md", dir);
        st = sqz_report_markdown(a, opts, path);
    }
    if (st == SQZ_OK) {
        snprintf(path, sizeof path, "%s/report.pdf", dir);
        st = sqz_report_pdf(a, opts, path);
    }
    sqz_analysis_free(a);
    return st;
}

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "cli.h"

int cli_fail(const char *cmd) {
    const char *msg = sqz_last_error();
    fprintf(stderr, "sqz %s: %s\n", cmd, msg[0] ? msg : "failed");
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sqz %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 2;
}

int cli_parse_int(const char *cmd, const char *opt, const char *s, long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || errno) {
        cli_usage_error(cmd, "%s expects an integer, got '%s'", opt, s ? s : "(nothing)");
        return 0;
    }
    *out = v;
    return 1;
}

int cli_parse_double(const char *cmd, const char *opt, const char *s, double *out) {
    char *end = NULL;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || *end || errno) {
        cli_usage_error(cmd, "%s expects a number, got '%s'", opt, s ? s : "(nothing)");
        return 0;
    }
    *out = v;
    return 1;
}

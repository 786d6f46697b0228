// Per-thread error message: set by the function that detects a problem, optionally prefixed with
// context by its callers, read by the CLI. No global state is shared between threads.
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sqz/common.h"

#define SQZ_ERRBUF 2048
static _Thread_local char errbuf[SQZ_ERRBUF];

const char *sqz_status_str(sqz_status s) {
    switch (s) {
    case SQZ_OK: return "ok";
    case SQZ_ERR_IO: return "I/O error";
    case SQZ_ERR_FORMAT: return "format error";
    case SQZ_ERR_UNSUPPORTED: return "unsupported";
    case SQZ_ERR_NOMEM: return "out of memory";
    case SQZ_ERR_ARG: return "invalid argument";
    case SQZ_ERR_NOT_FOUND: return "not found";
    case SQZ_ERR_RANGE: return "out of range";
    case SQZ_ERR_TIMEOUT: return "timeout";
    case SQZ_ERR_SANDBOX: return "sandbox error";
    case SQZ_ERR_INTERNAL: return "internal error";
    }
    return "unknown error";
}

const char *sqz_last_error(void) { return errbuf; }

void sqz_error_clear(void) { errbuf[0] = 0; }

sqz_status sqz_error(sqz_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return code;
}

sqz_status sqz_error_prefix(sqz_status code, const char *fmt, ...) {
    char prefix[SQZ_ERRBUF], old[SQZ_ERRBUF];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, errbuf, sizeof old);
    size_t n = strlen(prefix);
    memcpy(errbuf, prefix, n + 1);
    if (n + 1 < sizeof errbuf) { // append as much of the old message as fits
        size_t m = strnlen(old, sizeof errbuf - n - 1);
        memcpy(errbuf + n, old, m);
        errbuf[n + m] = 0;
    }
    return code;
}

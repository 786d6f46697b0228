// Minimal test harness: CHECK records a failure and continues; the last line printed is
// "N passed, N failed" (read by CI) and the exit code is non-zero on any failure.
#ifndef SQZ_TEST_HARNESS_H
#define SQZ_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int t_passed, t_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            t_passed++;                                                                            \
        } else {                                                                                   \
            t_failed++;                                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (cond) {                                                                                \
            t_passed++;                                                                            \
        } else {                                                                                   \
            t_failed++;                                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
        }                                                                                          \
    } while (0)

// Check that an sqz call fails with `code` and that its message contains `needle`.
#define CHECK_ERR(expr, code, needle)                                                              \
    do {                                                                                           \
        sqz_status st_ = (expr);                                                                   \
        const char *m_ = sqz_last_error();                                                         \
        CHECK_MSG(st_ == (code) && strstr(m_, (needle)) != NULL, "status %d, message '%s'",       \
                  (int)st_, m_);                                                                   \
    } while (0)

#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        sqz_status st_ = (expr);                                                                   \
        CHECK_MSG(st_ == SQZ_OK, "status %d: %s", (int)st_, sqz_last_error());                     \
    } while (0)

static inline int test_summary(void) {
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed ? 1 : 0;
}

#endif

// Internal error-propagation helpers (zstd's FORWARD_IF_ERROR style).
#ifndef SQZ_CORE_ERROR_H
#define SQZ_CORE_ERROR_H

#include "sqz/common.h"

// Evaluate an sqz_status expression; return it from the current function if it failed.
#define SQZ_TRY(expr)                                                                              \
    do {                                                                                           \
        sqz_status sqz_try_st_ = (expr);                                                           \
        if (sqz_try_st_ != SQZ_OK)                                                                 \
            return sqz_try_st_;                                                                    \
    } while (0)

// If cond holds, set the error message and return code from the current function.
#define SQZ_FAIL_IF(cond, code, ...)                                                               \
    do {                                                                                           \
        if (cond)                                                                                  \
            return sqz_error((code), __VA_ARGS__);                                                 \
    } while (0)

// Like SQZ_TRY but prefixes context to the message on failure.
#define SQZ_TRY_CTX(expr, ...)                                                                     \
    do {                                                                                           \
        sqz_status sqz_try_st_ = (expr);                                                           \
        if (sqz_try_st_ != SQZ_OK)                                                                 \
            return sqz_error_prefix(sqz_try_st_, __VA_ARGS__);                                     \
    } while (0)

// Overflow-checked size arithmetic for untrusted input: return false on overflow.
static inline int sqz_mul_ok(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline int sqz_add_ok(size_t a, size_t b, size_t *out) { return !__builtin_add_overflow(a, b, out); }

#endif

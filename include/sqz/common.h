// Status codes, errors, version, small utilities shared by every module.
#ifndef SQZ_COMMON_H
#define SQZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SQZ_VERSION_STRING "0.1.0"

typedef enum sqz_status {
    SQZ_OK = 0,
    SQZ_ERR_IO = -1,          // cannot open/read/write/map a file
    SQZ_ERR_FORMAT = -2,      // malformed input: bad magic, truncated, bad JSON, out-of-range offset
    SQZ_ERR_UNSUPPORTED = -3, // well-formed but not supported (architecture, dtype, tokenizer kind)
    SQZ_ERR_NOMEM = -4,
    SQZ_ERR_ARG = -5,         // invalid argument from the caller (bad option value, bad recipe)
    SQZ_ERR_NOT_FOUND = -6,   // missing tensor/key/file
    SQZ_ERR_RANGE = -7,       // value out of range (context overflow, id >= vocab)
    SQZ_ERR_TIMEOUT = -8,
    SQZ_ERR_SANDBOX = -9,     // the sandbox could not be set up
    SQZ_ERR_INTERNAL = -10,
} sqz_status;

// Name of a status code ("format error", ...).
const char *sqz_status_str(sqz_status s);

// The message of the last error on this thread (never NULL; "" if none). Valid until the next
// failing call on the same thread.
const char *sqz_last_error(void);

// Set the calling thread's error message (printf-style) and return `code`, so library code can
// write `return sqz_error(SQZ_ERR_FORMAT, "%s: bad magic", path);`.
sqz_status sqz_error(sqz_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Prefix the current error message with context ("loading x.gguf: " + old message); returns code.
sqz_status sqz_error_prefix(sqz_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void sqz_error_clear(void);

// Monotonic clock in seconds.
double sqz_time_now(void);

// Number of physical cores (falls back to online CPUs).
int sqz_n_physical_cores(void);

// CPU features detected once at start-up (CPUID), as a space-separated string such as
// "avx2 fma f16c avx512f avx512bw avx512vl avx512vnni avx512bf16".
const char *sqz_cpu_features(void);

// ---- memory-mapped files -------------------------------------------------------------------------
typedef struct sqz_mmap {
    const uint8_t *data; // read-only mapping (NULL for an empty file)
    size_t size;
    char *path;          // owned copy of the path, for error messages
} sqz_mmap;

// Map a whole file read-only. On error returns a status and sets a message naming the path.
sqz_status sqz_mmap_open(sqz_mmap *m, const char *path);
void sqz_mmap_close(sqz_mmap *m); // accepts a zeroed or already-closed map
// Drop the resident pages of [p, p+n) inside a read-only mapping from this process (the whole pages in
// the range): they no longer count in its resident set and are read again from the file if touched.
// For streaming through a large mapped file once (conversion, compression) with bounded memory.
void sqz_mmap_release(const void *p, size_t n);

// Read a whole file into a NUL-terminated malloc'd buffer (caller frees). *len may be NULL.
sqz_status sqz_read_file(const char *path, char **out, size_t *len);

// ---- tar corpora ----------------------------------------------------------------------------------
// The held-out / calibration split of a tar corpus, by file: member `name` is held out (used for
// perplexity, never for calibration) when the first 4 bytes of sha256(name), read big-endian, are
// ≡ 0 mod 10 — about one file in ten, independent of order and of the other files.
bool sqz_corpus_is_heldout(const char *member_name);

// Called for each regular file of a POSIX/ustar tar (512-byte headers); return non-zero to stop.
typedef int (*sqz_tar_cb)(void *user, const char *name, const uint8_t *data, size_t size);
// Walk the regular files of a tar. Errors: unreadable file, bad header checksum, a member that
// runs past the end of the file.
sqz_status sqz_tar_foreach(const char *path, sqz_tar_cb cb, void *user);
// The same over an already-mapped tar (its path is used in messages).
sqz_status sqz_tar_foreach_mapped(const sqz_mmap *mm, sqz_tar_cb cb, void *user);

// SHA-256 of a buffer, as 64 lowercase hex characters + NUL.
void sqz_sha256_hex(const void *data, size_t len, char out[65]);

#ifdef __cplusplus
}
#endif
#endif

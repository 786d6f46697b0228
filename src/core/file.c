// Memory-mapped files and whole-file reads.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

sqz_status sqz_mmap_open(sqz_mmap *m, const char *path) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    SQZ_FAIL_IF(fd < 0, SQZ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sqz_error(SQZ_ERR_IO, "%s: not a regular file", path);
    }
    m->size = (size_t)st.st_size;
    if (m->size > 0) {
        void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return sqz_error(SQZ_ERR_IO, "%s: cannot mmap %zu bytes: %s", path, m->size, strerror(e));
        }
        m->data = p;
    }
    close(fd);
    m->path = strdup(path);
    if (!m->path) {
        sqz_mmap_close(m);
        return sqz_error(SQZ_ERR_NOMEM, "%s: out of memory", path);
    }
    return SQZ_OK;
}

void sqz_mmap_close(sqz_mmap *m) {
    if (!m)
        return;
    if (m->data)
        munmap((void *)(uintptr_t)m->data, m->size);
    free(m->path);
    memset(m, 0, sizeof *m);
}

void sqz_mmap_release(const void *p, size_t n) {
    long page = sysconf(_SC_PAGESIZE);
    if (!p || page <= 0)
        return;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1), b = ((uintptr_t)p + n) & ~(uintptr_t)(page - 1);
    if (b > a)
        madvise((void *)a, b - a, MADV_DONTNEED); // read-only private mapping: pages re-read from the file if touched again
}

sqz_status sqz_read_file(const char *path, char **out, size_t *len) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    SQZ_FAIL_IF(!f, SQZ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int err = ferror(f);
    fclose(f);
    SQZ_FAIL_IF(!buf, SQZ_ERR_NOMEM, "%s: out of memory reading file", path);
    if (err) {
        free(buf);
        return sqz_error(SQZ_ERR_IO, "%s: read error", path);
    }
    buf[n] = 0;
    *out = buf;
    if (len)
        *len = n;
    return SQZ_OK;
}

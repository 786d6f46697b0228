// POSIX/ustar tar walking (the corpora are plain tars) and the corpus held-out split, shared by
// calibration (compress), evaluation and training so all three see the same split.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static uint64_t octal(const uint8_t *p, size_t n, bool *ok) {
    uint64_t v = 0;
    size_t i = 0;
    while (i < n && p[i] == ' ')
        i++;
    for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
        if (v >> 60) {
            *ok = false;
            return 0;
        }
        v = v * 8 + (uint64_t)(p[i] - '0');
    }
    if (i < n && p[i] != 0 && p[i] != ' ')
        *ok = false;
    return v;
}

static bool zero_block(const uint8_t *h) {
    for (int i = 0; i < 512; i++)
        if (h[i])
            return false;
    return true;
}

// Header checksum: the sum of all 512 bytes with the checksum field counted as spaces.
static bool checksum_ok(const uint8_t *h) {
    bool ok = true;
    uint64_t want = octal(h + 148, 8, &ok), sum = 0;
    for (int i = 0; i < 512; i++)
        sum += (i >= 148 && i < 156) ? ' ' : h[i];
    return ok && sum == want;
}

sqz_status sqz_tar_foreach_mapped(const sqz_mmap *mmp, sqz_tar_cb cb, void *user) {
    const sqz_mmap mm = *mmp;
    const char *path = mm.path ? mm.path : "(tar)";
    sqz_status st = SQZ_OK;
    char longname[4096] = "";
    for (size_t off = 0; off + 512 <= mm.size;) {
        const uint8_t *h = mm.data + off;
        if (zero_block(h))
            break;
        bool ok = checksum_ok(h);
        uint64_t size = octal(h + 124, 12, &ok);
        if (!ok) {
            st = sqz_error(SQZ_ERR_FORMAT, "%s: bad tar header at offset %zu", path, off);
            break;
        }
        size_t data = off + 512, padded = (size_t)((size + 511) / 512 * 512);
        if (size > mm.size || data + padded > mm.size + 511 || data + size > mm.size) {
            st = sqz_error(SQZ_ERR_FORMAT, "%s: tar member at offset %zu (%llu bytes) runs past the end", path, off,
                           (unsigned long long)size);
            break;
        }
        char type = (char)h[156];
        if (type == 'L') { // GNU long name: the data is the next member's name
            size_t n = size < sizeof longname - 1 ? (size_t)size : sizeof longname - 1;
            memcpy(longname, mm.data + data, n);
            longname[n] = 0;
        } else {
            char name[4096];
            if (longname[0]) {
                snprintf(name, sizeof name, "%s", longname);
                longname[0] = 0;
            } else if (!memcmp(h + 257, "ustar", 5) && h[345]) {
                snprintf(name, sizeof name, "%.155s/%.100s", (const char *)h + 345, (const char *)h);
            } else {
                snprintf(name, sizeof name, "%.100s", (const char *)h);
            }
            if ((type == '0' || type == 0) && cb(user, name, mm.data + data, (size_t)size))
                break;
        }
        off = data + padded;
    }
    return st;
}

sqz_status sqz_tar_foreach(const char *path, sqz_tar_cb cb, void *user) {
    sqz_mmap mm;
    SQZ_TRY(sqz_mmap_open(&mm, path));
    sqz_status st = sqz_tar_foreach_mapped(&mm, cb, user);
    sqz_mmap_close(&mm);
    return st;
}

// ---- split ------------------------------------------------------------------------------------------

bool sqz_corpus_is_heldout(const char *member_name) {
    char hex[65];
    sqz_sha256_hex(member_name, strlen(member_name), hex);
    char first[9];
    memcpy(first, hex, 8);
    first[8] = 0;
    return strtoul(first, NULL, 16) % 10 == 0;
}


// CPython 3.11 set iteration order for str items, under PYTHONHASHSEED=0.
//
// The references merge data-flow name lists with list(set(a + b)); the resulting order decides how
// variables are numbered, so the data-flow score depends on Python's string hashes. With
// PYTHONHASHSEED=0 the siphash key is all zeros, which makes that order reproducible: hash(str) is
// siphash13(k0 = k1 = 0) over the PEP 393 representation (1, 2 or 4 bytes per code point), and the
// set is an open-addressing table (8 slots to start, linear probes of 9, perturbed re-probing,
// resize to > 4·used when 5·fill >= 3·mask), iterated slot by slot.
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "metrics/codebleu_internal.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define HALF_ROUND(a, b, c, d, s, t)                                                               \
    a += b;                                                                                        \
    c += d;                                                                                        \
    b = ROTL(b, s) ^ a;                                                                            \
    d = ROTL(d, t) ^ c;                                                                            \
    a = ROTL(a, 32);
#define SINGLE_ROUND(v0, v1, v2, v3)                                                               \
    HALF_ROUND(v0, v1, v2, v3, 13, 16);                                                            \
    HALF_ROUND(v2, v1, v0, v3, 17, 21);

static uint64_t siphash13_zero_key(const uint8_t *in, size_t sz) {
    uint64_t b = (uint64_t)sz << 56;
    uint64_t v0 = 0x736f6d6570736575ULL, v1 = 0x646f72616e646f6dULL;
    uint64_t v2 = 0x6c7967656e657261ULL, v3 = 0x7465646279746573ULL;
    while (sz >= 8) {
        uint64_t mi = 0;
        for (int k = 0; k < 8; k++)
            mi |= (uint64_t)in[k] << (8 * k);
        in += 8;
        sz -= 8;
        v3 ^= mi;
        SINGLE_ROUND(v0, v1, v2, v3);
        v0 ^= mi;
    }
    uint64_t t = 0;
    for (size_t k = 0; k < sz; k++)
        t |= (uint64_t)in[k] << (8 * k);
    b |= t;
    v3 ^= b;
    SINGLE_ROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    SINGLE_ROUND(v0, v1, v2, v3);
    SINGLE_ROUND(v0, v1, v2, v3);
    SINGLE_ROUND(v0, v1, v2, v3);
    return (v0 ^ v1) ^ (v2 ^ v3);
}

int64_t cb_pyhash_str(const char *s, size_t n) {
    size_t len = 0, i = 0;
    uint32_t maxc = 0;
    while (i < n) {
        uint32_t c = cb_utf8_next(s, n, &i);
        maxc = c > maxc ? c : maxc;
        len++;
    }
    if (len == 0)
        return 0;
    int kind = maxc < 0x100 ? 1 : maxc < 0x10000 ? 2 : 4;
    uint8_t small[256];
    uint8_t *buf = len * (size_t)kind <= sizeof small ? small : malloc(len * (size_t)kind);
    if (!buf)
        return 0; // unreachable in practice; any fixed hash keeps the order deterministic
    size_t o = 0;
    for (i = 0; i < n;) {
        uint32_t c = cb_utf8_next(s, n, &i);
        for (int k = 0; k < kind; k++)
            buf[o++] = (uint8_t)(c >> (8 * k)); // little-endian, as in CPython's memory on x86/arm
    }
    int64_t h = (int64_t)siphash13_zero_key(buf, o);
    if (buf != small)
        free(buf);
    return h == -1 ? -2 : h;
}

typedef struct py_entry {
    int64_t hash;
    int64_t key; // index into items, -1 = empty
} py_entry;

static void insert_clean(py_entry *tab, size_t mask, int64_t key, int64_t hash) {
    size_t perturb = (size_t)hash, i = (size_t)hash & mask;
    for (;;) {
        if (tab[i].key < 0)
            goto found;
        if (i + 9 <= mask) {
            for (size_t j = 0; j < 9; j++) {
                i++;
                if (tab[i].key < 0)
                    goto found;
            }
        }
        perturb >>= 5;
        i = (i * 5 + 1 + perturb) & mask;
    }
found:
    tab[i].key = key;
    tab[i].hash = hash;
}

sqz_status cb_pyset_order(const cb_span *items, size_t n, size_t *order, size_t *n_out) {
    size_t mask = 7, used = 0;
    py_entry *tab = malloc(8 * sizeof *tab);
    SQZ_FAIL_IF(!tab, SQZ_ERR_NOMEM, "codebleu: out of memory");
    for (size_t k = 0; k < 8; k++)
        tab[k].key = -1;
    for (size_t it = 0; it < n; it++) {
        int64_t hash = cb_pyhash_str(items[it].p, items[it].n);
        size_t perturb = (size_t)hash, i = (size_t)hash & mask;
        bool dup = false;
        for (;;) {
            size_t e = i;
            int probes = (i + 9 <= mask) ? 9 : 0;
            bool empty = false;
            do {
                if (tab[e].key < 0) {
                    empty = true;
                    break;
                }
                const cb_span *o = &items[tab[e].key];
                if (tab[e].hash == hash && o->n == items[it].n && !memcmp(o->p, items[it].p, o->n)) {
                    dup = true;
                    break;
                }
                e++;
            } while (probes--);
            if (empty || dup) {
                i = e;
                break;
            }
            perturb >>= 5;
            i = (i * 5 + 1 + perturb) & mask;
        }
        if (dup)
            continue;
        tab[i].key = (int64_t)it;
        tab[i].hash = hash;
        used++; // fill == used: nothing is ever deleted
        if (used * 5 < mask * 3)
            continue;
        size_t newsize = 8, minused = used > 50000 ? used * 2 : used * 4;
        while (newsize <= minused)
            newsize <<= 1;
        py_entry *nt = malloc(newsize * sizeof *nt);
        if (!nt) {
            free(tab);
            return sqz_error(SQZ_ERR_NOMEM, "codebleu: out of memory");
        }
        for (size_t k = 0; k < newsize; k++)
            nt[k].key = -1;
        for (size_t k = 0; k <= mask; k++)
            if (tab[k].key >= 0)
                insert_clean(nt, newsize - 1, tab[k].key, tab[k].hash);
        free(tab);
        tab = nt;
        mask = newsize - 1;
    }
    size_t c = 0;
    for (size_t k = 0; k <= mask; k++)
        if (tab[k].key >= 0)
            order[c++] = (size_t)tab[k].key;
    *n_out = c;
    free(tab);
    return SQZ_OK;
}

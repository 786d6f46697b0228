// Clock, core count, CPU features, hashing.
#include <cpuid.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sqz/common.h"

double sqz_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Count distinct (physical id, core id) pairs in /proc/cpuinfo; hyperthreads share a core id.
int sqz_n_physical_cores(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    int n_online = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (!f)
        return n_online > 0 ? n_online : 1;
    char line[512];
    int phys = 0, seen[1024], n_seen = 0;
    while (fgets(line, sizeof line, f)) {
        int v;
        if (sscanf(line, "physical id : %d", &v) == 1)
            phys = v;
        else if (sscanf(line, "core id : %d", &v) == 1) {
            int key = phys * 4096 + v, dup = 0;
            for (int i = 0; i < n_seen; i++)
                dup |= seen[i] == key;
            if (!dup && n_seen < 1024)
                seen[n_seen++] = key;
        }
    }
    fclose(f);
    if (n_seen == 0)
        return n_online > 0 ? n_online : 1;
    return n_seen;
}

// CPUID leaf 7 sub-leaf 1, EAX bit 5 (not every compiler's __builtin_cpu_supports knows it).
static int has_avx512bf16(void) {
    unsigned a, b, c, d;
    if (!__builtin_cpu_supports("avx512f") || !__get_cpuid_count(7, 1, &a, &b, &c, &d))
        return 0;
    return (a >> 5) & 1;
}

const char *sqz_cpu_features(void) {
    static char buf[256];
    static int done;
    if (done)
        return buf;
    __builtin_cpu_init();
    struct { const char *name; int on; } f[] = {
        {"avx2", __builtin_cpu_supports("avx2")},
        {"fma", __builtin_cpu_supports("fma")},
        {"f16c", __builtin_cpu_supports("f16c")},
        {"avx512f", __builtin_cpu_supports("avx512f")},
        {"avx512bw", __builtin_cpu_supports("avx512bw")},
        {"avx512vl", __builtin_cpu_supports("avx512vl")},
        {"avx512vnni", __builtin_cpu_supports("avx512vnni")},
        {"avx512bf16", has_avx512bf16()},
    };
    buf[0] = 0;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (!f[i].on)
            continue;
        if (buf[0])
            strcat(buf, " ");
        strcat(buf, f[i].name);
    }
    done = 1;
    return buf;
}

void sqz_sha256_hex(const void *data, size_t len, char out[65]) {
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

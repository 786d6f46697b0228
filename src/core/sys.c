// Clock, core count, CPU features, hashing.
#include <cpuid.h>
#include <pthread.h>
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

// Features from CPUID, with the OS's XSAVE state (XGETBV) confirming that AVX / AVX-512 registers
// are enabled. Read directly because compilers disagree on which names __builtin_cpu_supports knows.
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static char cpu_features[256];

static void detect_cpu_features(void) {
    char *buf = cpu_features;
    unsigned a = 0, b = 0, c = 0, d = 0, b7 = 0, c7 = 0, a71 = 0;
    __get_cpuid(1, &a, &b, &c, &d);
    int osxsave = (c >> 27) & 1;
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    int avx_os = (xcr0 & 0x6) == 0x6, avx512_os = (xcr0 & 0xe6) == 0xe6;
    int fma = (c >> 12) & 1, f16c = (c >> 29) & 1, avx = (c >> 28) & 1;
    if (__get_cpuid_count(7, 0, &a, &b7, &c7, &d))
        __get_cpuid_count(7, 1, &a71, &b, &c, &d);
    struct { const char *name; int on; } f[] = {
        {"avx2", avx && avx_os && ((b7 >> 5) & 1)},
        {"fma", fma && avx_os},
        {"f16c", f16c && avx_os},
        {"avx512f", avx512_os && ((b7 >> 16) & 1)},
        {"avx512dq", avx512_os && ((b7 >> 17) & 1)},
        {"avx512bw", avx512_os && ((b7 >> 30) & 1)},
        {"avx512vl", avx512_os && ((b7 >> 31) & 1)},
        {"avx512vbmi", avx512_os && ((c7 >> 1) & 1)},
        {"avx512vnni", avx512_os && ((c7 >> 11) & 1)},
        {"avx512bf16", avx512_os && ((a71 >> 5) & 1)},
    };
    buf[0] = 0;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (!f[i].on)
            continue;
        if (buf[0])
            strcat(buf, " ");
        strcat(buf, f[i].name);
    }
}

const char *sqz_cpu_features(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, detect_cpu_features);
    return cpu_features;
}

void sqz_sha256_hex(const void *data, size_t len, char out[65]) {
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

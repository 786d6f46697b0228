// Memory read-bandwidth probe: the ceiling for memory-bound decode (weights streamed once per token).
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

typedef struct {
    const uint64_t *buf;
    size_t n;         // uint64 words
    uint64_t sink[64]; // per-thread sums (keeps the reads alive)
} bw_job;

// Parts are claimed dynamically (sqz_pool_run_parts), so a thread that starts late or is
// interrupted does not leave the others idle at the end: the probe sees the machine's rate.
#define PROBE_PARTS 256

static void read_task(void *arg, int64_t part, int64_t n_parts, int tid) {
    bw_job *j = arg;
    int64_t lo, hi;
    sqz_split_range((int64_t)(j->n / 8), (int)part, (int)n_parts, &lo, &hi);
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int64_t i = lo * 8; i < hi * 8; i += 8) { // independent chains so loads stay in flight
        s0 += j->buf[i] ^ j->buf[i + 4];
        s1 += j->buf[i + 1] ^ j->buf[i + 5];
        s2 += j->buf[i + 2] ^ j->buf[i + 6];
        s3 += j->buf[i + 3] ^ j->buf[i + 7];
    }
    j->sink[tid % 64] += s0 + s1 + s2 + s3;
}

sqz_status sqz_measure_read_bandwidth(int n_threads, size_t bytes, int reps, double *gbps) {
    *gbps = 0;
    if (n_threads <= 0)
        n_threads = sqz_n_physical_cores();
    if (bytes == 0)
        bytes = (size_t)1 << 30;
    if (reps < 1)
        reps = 1;
    bytes &= ~(size_t)63;
    SQZ_FAIL_IF(bytes < 64, SQZ_ERR_ARG, "bandwidth probe: buffer too small");
    uint64_t *buf = malloc(bytes);
    SQZ_FAIL_IF(!buf, SQZ_ERR_NOMEM, "bandwidth probe: cannot allocate %zu bytes", bytes);
    memset(buf, 1, bytes); // fault every page in before timing
    sqz_pool *pool = NULL;
    sqz_status st = sqz_pool_new(&pool, n_threads);
    if (st == SQZ_OK) {
        bw_job j = {buf, bytes / 8, {0}};
        sqz_pool_run_parts(pool, read_task, &j, PROBE_PARTS); // warm-up
        for (int r = 0; r < reps; r++) {
            double t0 = sqz_time_now();
            sqz_pool_run_parts(pool, read_task, &j, PROBE_PARTS);
            double g = (double)bytes / (sqz_time_now() - t0) / 1e9;
            *gbps = g > *gbps ? g : *gbps;
        }
    }
    sqz_pool_free(pool);
    free(buf);
    return st;
}

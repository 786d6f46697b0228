// Grouped-int kernels (kernels/qgroup.h: GPTQ/AWQ/RTN checkpoints) per ISA tier, in one run: decode (one
// token against weights larger than the caches, threads splitting the rows as the engine does) in GB/s
// of codes + scales + zeros, next to the read-bandwidth probe; and prefill (n tokens) in GFLOP/s.
// Best of R runs (the machine may be shared); with one thread, the thread's CPU time.
//
//   build/bench/qgroup [-t THREADS (2)] [-r REPS (5)] [-n N_IN (5632)] [-o N_OUT (2048)] [-m MIB (512)]
//                      [-b BITS (4)] [-g GROUP (128)] [-p PREFILL_TOKENS (64)]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/pool.h"
#include "kernels/qgroup.h"
#include "sqz.h"

typedef struct {
    sqz_qgroup_gemm_fn fn;
    sqz_qgroup *const *w; // n_mats matrices (together larger than the caches for decode)
    int n_mats;
    const block_q8a *x;
    size_t x_stride;
    int64_t n;
    float *y;
} job;

static void task(void *arg, int ith, int nth) {
    const job *j = arg;
    for (int m = 0; m < j->n_mats; m++) {
        int64_t r0, r1, n_out = j->w[m]->n_out;
        sqz_split_range((n_out + 3) / 4, ith, nth, &r0, &r1);
        r0 *= 4, r1 = r1 * 4 < n_out ? r1 * 4 : n_out;
        j->fn(j->w[m], j->x, j->x_stride, j->n, j->y, n_out, r0, r1);
    }
}

static double thread_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Best of reps. One thread: the calling thread runs the job and its CPU time is measured (time the
// process was descheduled does not count, so other jobs on the machine disturb it less).
static double best_seconds(sqz_pool *pool, int threads, job *j, int reps) {
    double best = 1e30;
    sqz_pool_run(pool, task, j); // warm-up
    for (int i = 0; i < reps; i++) {
        double t0 = threads == 1 ? thread_cpu_now() : sqz_time_now();
        if (threads == 1)
            task(j, 0, 1);
        else
            sqz_pool_run(pool, task, j);
        double s = (threads == 1 ? thread_cpu_now() : sqz_time_now()) - t0;
        best = s < best ? s : best;
    }
    return best;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t urand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

static sqz_qgroup *make(int64_t n_out, int64_t n_in, int bits, int64_t group) {
    int64_t ng = n_in / group;
    uint8_t *codes = malloc((size_t)(n_out * n_in));
    float *scales = malloc((size_t)(ng * n_out) * sizeof(float));
    int32_t *zeros = malloc((size_t)(ng * n_out) * sizeof(int32_t));
    for (int64_t i = 0; i < n_out * n_in; i++)
        codes[i] = (uint8_t)(urand() % (1u << bits));
    for (int64_t i = 0; i < ng * n_out; i++)
        scales[i] = 0.001f + 0.01f * (float)(urand() % 100) / 100.0f, zeros[i] = (int32_t)(urand() % (1u << bits));
    sqz_qgroup_src src = {n_out, n_in, ng, bits, codes, scales, zeros, NULL};
    sqz_qgroup *w = NULL;
    if (sqz_qgroup_pack(&src, &w) != SQZ_OK)
        fprintf(stderr, "qgroup: pack failed: %s\n", sqz_last_error());
    free(codes), free(scales), free(zeros);
    return w;
}

int main(int argc, char **argv) {
    int threads = 2, reps = 5, bits = 4;
    int64_t n_in = 5632, n_out = 2048, mib = 512, group = 128, n_pre = 64;
    for (int i = 1; i + 1 < argc; i += 2) {
        int64_t v = atoll(argv[i + 1]);
        if (!strcmp(argv[i], "-t"))
            threads = (int)v;
        else if (!strcmp(argv[i], "-r"))
            reps = (int)v;
        else if (!strcmp(argv[i], "-n"))
            n_in = v;
        else if (!strcmp(argv[i], "-o"))
            n_out = v;
        else if (!strcmp(argv[i], "-m"))
            mib = v;
        else if (!strcmp(argv[i], "-b"))
            bits = (int)v;
        else if (!strcmp(argv[i], "-g"))
            group = v;
        else if (!strcmp(argv[i], "-p"))
            n_pre = v;
        else {
            fprintf(stderr, "usage: qgroup [-t T] [-r R] [-n N_IN] [-o N_OUT] [-m MIB] [-b BITS] [-g GROUP] [-p TOKENS]\n");
            return 2;
        }
    }
    sqz_pool *pool = NULL;
    if (threads < 1 || n_in % 32 || group % 32 || n_in % group || bits < 2 || bits > 8 || n_pre < 1 ||
        sqz_pool_new(&pool, threads) != SQZ_OK) {
        fprintf(stderr, "qgroup: bad arguments\n");
        return 2;
    }
    sqz_qgroup *one = make(n_out, n_in, bits, group);
    if (!one)
        return 1;
    size_t bytes = sqz_qgroup_nbytes(one);
    int n_mats = (int)(((size_t)mib << 20) / bytes);
    n_mats = n_mats < 1 ? 1 : n_mats;
    sqz_qgroup **w = malloc((size_t)n_mats * sizeof *w);
    w[0] = one;
    for (int m = 1; m < n_mats; m++)
        w[m] = make(n_out, n_in, bits, group);
    double probe = 0;
    sqz_measure_read_bandwidth(threads, (size_t)n_mats * bytes, reps, &probe);
    size_t as = sqz_qgroup_act_size(one);
    block_q8a *x = malloc(as * (size_t)n_pre);
    float *xf = malloc((size_t)n_in * sizeof *xf), *y = malloc((size_t)(n_out * n_pre) * sizeof *y);
    for (int64_t t = 0; t < n_pre; t++) {
        for (int64_t i = 0; i < n_in; i++)
            xf[i] = (float)((int)(urand() % 2001) - 1000) / 500.0f;
        sqz_act_converter(SQZ_ACT_Q8A)(xf, (uint8_t *)x + (size_t)t * as, n_in);
    }
    printf("int%d g%lld, [%lld][%lld] x %d matrices (%.0f MiB), %d threads, best of %d; read-bandwidth probe %.2f GB/s\n",
           bits, (long long)group, (long long)n_out, (long long)n_in, n_mats, (double)(n_mats * bytes) / 1048576.0,
           threads, reps, probe);
    printf("| isa | decode GB/s | decode / probe | prefill %lld tok GFLOP/s |\n| --- | ---: | ---: | ---: |\n",
           (long long)n_pre);
    static const char *names[] = {"ref", "avx2", "avx512"};
    for (int isa = SQZ_ISA_AVX2; isa <= SQZ_ISA_AVX512; isa++) {
        sqz_qgroup_gemm_fn fn = sqz_qgroup_gemm_isa((sqz_isa)isa);
        if (!fn)
            continue;
        job dj = {fn, w, n_mats, x, as, 1, y};
        double sd = best_seconds(pool, threads, &dj, reps);
        job pj = {fn, w, 1, x, as, n_pre, y};
        double sp = best_seconds(pool, threads, &pj, reps);
        double gbps = (double)(n_mats * bytes) / sd / 1e9;
        printf("| %s | %.2f | %.0f %% | %.1f |\n", names[isa], gbps, probe > 0 ? 100 * gbps / probe : 0,
               2.0 * (double)n_out * (double)n_in * (double)n_pre / sp / 1e9);
    }
    for (int m = 0; m < n_mats; m++)
        sqz_qgroup_free(w[m]);
    free(w), free(x), free(xf), free(y);
    sqz_pool_free(pool);
    return 0;
}

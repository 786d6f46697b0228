// Decode GEMV streaming speed: one activation row against a weight matrix larger than the caches,
// split over the threads of an sqz pool, per weight type and kernel tier (AVX2, AVX-512: every tier
// this CPU runs, or those named by -I), with the per-row dot kernel and the multi-row kernel
// (kernels/gemv.h), next to the machine's read bandwidth (sqz_measure_read_bandwidth, the probe
// `sqz bench` prints). Best of R runs each, the kernels of one type taking turns run by run, since on
// a shared machine the best run is the one least disturbed by other jobs.
//
//   build/bench/gemv [-t THREADS] [-r REPS] [-n N_IN] [-m MIB] [-T f16,q4_0,...] [-I avx2,avx512]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "kernels/gemv.h"
#include "kernels/kernels.h"
#include "sqz.h"

typedef struct {
    const sqz_kernel *k;
    sqz_gemv_fn gemv; // NULL: dot per row
    const uint8_t *w;
    size_t row_bytes;
    int64_t n_in, n_rows;
    const void *xa;
    float *y;
} job;

static void task(void *arg, int ith, int nth) {
    const job *j = arg;
    int64_t r0, r1;
    sqz_split_range(j->n_rows, ith, nth, &r0, &r1);
    if (j->gemv)
        j->gemv(j->n_in, j->w + r0 * j->row_bytes, j->row_bytes, r1 - r0, j->xa, j->y + r0);
    else
        for (int64_t r = r0; r < r1; r++)
            j->k->dot(j->n_in, j->w + r * j->row_bytes, j->xa, &j->y[r]);
}

static double run_gbps(sqz_pool *pool, job *j) {
    double t0 = sqz_time_now();
    sqz_pool_run(pool, task, j);
    return (double)j->row_bytes * (double)j->n_rows / (sqz_time_now() - t0) / 1e9;
}

static const char *isa_name(sqz_isa isa) { return isa == SQZ_ISA_AVX512 ? "avx512" : isa == SQZ_ISA_AVX2 ? "avx2" : "ref"; }

int main(int argc, char **argv) {
    int threads = 2, reps = 10;
    int64_t n_in = 2048, mib = 512;
    const char *types = "f16,q8_0,q4_0,q4_1", *isas = "avx2,avx512";
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 == argc)
            argv[i] = "-h"; // an option without a value: usage
        if (!strcmp(argv[i], "-t"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-r"))
            reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-n"))
            n_in = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "-m"))
            mib = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "-T"))
            types = argv[i + 1];
        else if (!strcmp(argv[i], "-I"))
            isas = argv[i + 1];
        else {
            fprintf(stderr, "usage: gemv [-t THREADS] [-r REPS] [-n N_IN] [-m MIB] [-T f16,q4_0,...] [-I avx2,avx512]\n");
            return 2;
        }
    }
    sqz_pool *pool = NULL;
    if (threads < 1 || n_in % 32 || n_in < 32 || mib < 1 || sqz_pool_new(&pool, threads) != SQZ_OK) {
        fprintf(stderr, "gemv: bad arguments (threads >= 1, n_in a multiple of 32, MiB >= 1)\n");
        return 2;
    }
    double probe = 0;
    if (sqz_measure_read_bandwidth(threads, (size_t)mib << 20, reps, &probe) != SQZ_OK)
        fprintf(stderr, "gemv: probe failed: %s\n", sqz_last_error());
    sqz_isa tiers[2];
    int n_tiers = 0;
    for (sqz_isa isa = SQZ_ISA_AVX2; isa <= SQZ_ISA_AVX512; isa++)
        if (strstr(isas, isa_name(isa)) && sqz_isa_supported(isa))
            tiers[n_tiers++] = isa;
    printf("%d threads, n_in %lld, %lld MiB of weights, best of %d; read-bandwidth probe %.2f GB/s\n", threads,
           (long long)n_in, (long long)mib, reps, probe);
    printf("| type | tier | dot per row GB/s | gemv GB/s | gemv / dot | gemv / probe |\n| --- | --- | ---: | ---: | ---: | ---: |\n");
    float *x = malloc((size_t)n_in * sizeof *x);
    for (int64_t i = 0; i < n_in; i++)
        x[i] = (float)((i * 7919) % 201 - 100) / 50.0f;
    char list[256];
    snprintf(list, sizeof list, "%s", types);
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        sqz_type t = SQZ_TYPE_COUNT;
        for (int i = 0; i < SQZ_TYPE_COUNT; i++)
            if (sqz_type_name((sqz_type)i) && !strcmp(sqz_type_name((sqz_type)i), name))
                t = (sqz_type)i;
        const sqz_type_traits *tr = t != SQZ_TYPE_COUNT ? sqz_type_traits_of(t) : NULL;
        if (!tr || !tr->from_float_ref || !sqz_kernel_for(t)) {
            fprintf(stderr, "gemv: no kernel for type '%s'\n", name);
            continue;
        }
        size_t rb = sqz_type_row_size(t, n_in);
        int64_t rows = (int64_t)(((size_t)mib << 20) / rb);
        uint8_t *w = malloc(rb * (size_t)rows);
        float *y = malloc((size_t)rows * sizeof *y), *row = malloc((size_t)n_in * sizeof *row);
        for (int64_t i = 0; i < n_in; i++)
            row[i] = (float)((i * 104729) % 97 - 48) / 64.0f;
        tr->from_float_ref(row, w, n_in);
        for (int64_t r = 1; r < rows; r++) // touch every page
            memcpy(w + r * rb, w, rb);
        // jobs[2k]: tier k's dot per row, jobs[2k + 1]: its gemv (if any); xa: activations per tier
        job jobs[4];
        void *xa[2] = {NULL, NULL};
        double best[4] = {0};
        for (int k = 0; k < n_tiers; k++) {
            const sqz_kernel *kk = sqz_kernel_for_isa(t, tiers[k]);
            if (!kk) { // no kernel for this type in this tier: nothing to time
                jobs[2 * k] = jobs[2 * k + 1] = (job){0};
                continue;
            }
            xa[k] = malloc(sqz_act_row_size(kk->act, n_in));
            sqz_act_converter_isa(kk->act, tiers[k])(x, xa[k], n_in);
            jobs[2 * k] = (job){kk, NULL, w, rb, n_in, rows, xa[k], y};
            jobs[2 * k + 1] = (job){kk, sqz_gemv_for(kk), w, rb, n_in, rows, xa[k], y};
        }
        for (int i = -1; i < reps; i++) // i = -1: warm-up
            for (int c = 0; c < 2 * n_tiers; c++) {
                double g = !jobs[c].k || ((c & 1) && !jobs[c].gemv) ? 0 : run_gbps(pool, &jobs[c]);
                best[c] = i >= 0 && g > best[c] ? g : best[c];
            }
        for (int k = 0; k < n_tiers; k++) {
            double dot = best[2 * k], gv = best[2 * k + 1];
            printf("| %s | %s | %.2f | %.2f | %.2fx | %.0f %% |\n", name, isa_name(tiers[k]), dot, gv, dot > 0 ? gv / dot : 0,
                   probe > 0 ? 100 * gv / probe : 0);
            free(xa[k]);
        }
        free(w), free(y), free(row);
    }
    free(x);
    sqz_pool_free(pool);
    return 0;
}

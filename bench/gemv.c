// Decode GEMV streaming speed: one activation row against a weight matrix larger than the caches,
// split over the threads of an sqz pool, per weight type, with the per-row dot kernel (what the
// engine ran before) and the multi-row kernel (kernels/gemv.h), next to the machine's read
// bandwidth (sqz_measure_read_bandwidth, the probe `sqz bench` prints). Best of R runs each, since
// on a shared machine the best run is the one least disturbed by other jobs.
//
//   build/bench/gemv [-t THREADS] [-r REPS] [-n N_IN] [-m MIB] [-T f16,q4_0,...]
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

static double best_gbps(sqz_pool *pool, job *j, int reps) {
    double best = 0;
    sqz_pool_run(pool, task, j); // warm-up
    for (int i = 0; i < reps; i++) {
        double t0 = sqz_time_now();
        sqz_pool_run(pool, task, j);
        double g = (double)j->row_bytes * (double)j->n_rows / (sqz_time_now() - t0) / 1e9;
        best = g > best ? g : best;
    }
    return best;
}

int main(int argc, char **argv) {
    int threads = 2, reps = 10;
    int64_t n_in = 2048, mib = 512;
    const char *types = "f16,q8_0,q4_0,q4_1";
    for (int i = 1; i + 1 < argc; i += 2) {
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
        else {
            fprintf(stderr, "usage: gemv [-t THREADS] [-r REPS] [-n N_IN] [-m MIB] [-T f16,q4_0,...]\n");
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
    printf("isa %s, %d threads, n_in %lld, %lld MiB of weights, best of %d; read-bandwidth probe %.2f GB/s\n",
           sqz_kernels_isa_name(), threads, (long long)n_in, (long long)mib, reps, probe);
    printf("| type | dot per row GB/s | gemv GB/s | gemv / dot | gemv / probe |\n| --- | ---: | ---: | ---: | ---: |\n");
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
        const sqz_kernel *k = t != SQZ_TYPE_COUNT ? sqz_kernel_for(t) : NULL;
        if (!k) {
            fprintf(stderr, "gemv: no kernel for type '%s'\n", name);
            continue;
        }
        size_t rb = sqz_type_row_size(t, n_in);
        int64_t rows = (int64_t)(((size_t)mib << 20) / rb);
        uint8_t *w = malloc(rb * (size_t)rows);
        float *y = malloc((size_t)rows * sizeof *y), *row = malloc((size_t)n_in * sizeof *row);
        void *xa = malloc(sqz_act_row_size(k->act, n_in));
        for (int64_t i = 0; i < n_in; i++)
            row[i] = (float)((i * 104729) % 97 - 48) / 64.0f;
        sqz_type_traits_of(t)->from_float_ref(row, w, n_in);
        for (int64_t r = 1; r < rows; r++) // touch every page
            memcpy(w + r * rb, w, rb);
        sqz_act_converter(k->act)(x, xa, n_in);
        job j = {k, NULL, w, rb, n_in, rows, xa, y};
        double dot = best_gbps(pool, &j, reps);
        j.gemv = sqz_gemv_for(k);
        double gv = j.gemv ? best_gbps(pool, &j, reps) : 0;
        printf("| %s | %.2f | %.2f | %.2fx | %.0f %% |\n", name, dot, gv, dot > 0 ? gv / dot : 0, probe > 0 ? 100 * gv / probe : 0);
        free(w), free(y), free(row), free(xa);
    }
    free(x);
    sqz_pool_free(pool);
    return 0;
}

// GEMV speed of 2:4-sparse vs dense weights at TinyLlama-1.1B's layer shapes (one block: q, k, v,
// o [2048|256][2048], gate, up [5632][2048], down [2048][5632]), the block repeated `blocks` times
// with distinct copies so the weights stream from memory as in generation. Formats:
//   f16        dense F16 rows, the engine's dot kernel (kernels.h, F32 activations)
//   f16 2:4    sqz_sparse_nm F16 (n_in/2 values + 2-bit indices), sparse kernel
//   i4 / i8    dense symmetric int, fp16 scale per 128 columns, activations int8 per 64
//   i4/i8 2:4  the same quantization, 2:4-compressed
//   q4_0       llama.cpp Q4_0 (engine kernel, Q8A activations), for reference
// Prints per format: bytes per pass, bits/weight, best and median ms per pass, GB/s, and the
// sparse/dense speed ratio measured in the same run.
//   build/bench/prune [blocks (4)] [threads (1)] [rounds (5)]
// Each round runs 3 passes of every format in turn; best and median are over all passes.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "kernels/kernels.h"
#include "kernels/sparse.h"
#include "sqz.h"

#define N_LAYERS 7
static const int64_t SHAPES[N_LAYERS][2] = {{2048, 2048}, {256, 2048},  {256, 2048}, {2048, 2048},
                                            {5632, 2048}, {5632, 2048}, {2048, 5632}};
enum { F_F16, F_F16_24, F_I4, F_I4_24, F_I8, F_I8_24, F_Q4_0, N_FMT };
static const char *FMT_NAME[N_FMT] = {"f16", "f16 2:4", "i4", "i4 2:4", "i8", "i8 2:4", "q4_0"};

typedef struct mat {
    int64_t n_out, n_in;
    void *dense;        // f16 rows or q4_0 blocks
    sqz_sparse_nm *sp;  // 2:4 formats
    sqz_dense_q *dq;    // i4 / i8
    size_t nbytes;
} mat;

typedef struct job {
    const mat *m;
    int fmt;
    const float *x;
    void *xa;           // q8a activations (q4_0)
    int8_t *xq;         // int8 activations (i4/i8)
    float *xd;
    float *y;
    const sqz_kernel *kf16, *kq40;
    sqz_sp_gemv_f_fn spf;
    sqz_sp_gemv_q_fn spq;
    sqz_dq_gemv_fn dqf;
} job;

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float urand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)(rng >> 40) / 8388608.0f - 1.0f;
}

static void run_rows(void *arg, int ith, int nth) {
    const job *j = arg;
    const mat *m = j->m;
    int64_t r0, r1;
    sqz_split_range(m->n_out, ith, nth, &r0, &r1);
    switch (j->fmt) {
    case F_F16: {
        size_t row = (size_t)m->n_in * 2;
        for (int64_t r = r0; r < r1; r++)
            j->kf16->dot(m->n_in, (const uint8_t *)m->dense + r * row, j->x, &j->y[r]);
        break;
    }
    case F_Q4_0: {
        size_t row = sqz_type_row_size(SQZ_TYPE_Q4_0, m->n_in);
        for (int64_t r = r0; r < r1; r++)
            j->kq40->dot(m->n_in, (const uint8_t *)m->dense + r * row, j->xa, &j->y[r]);
        break;
    }
    case F_F16_24:
        j->spf(m->sp, j->x, j->y, r0, r1);
        break;
    case F_I4_24:
    case F_I8_24:
        j->spq(m->sp, j->xq, j->xd, j->y, r0, r1);
        break;
    default:
        j->dqf(m->dq, j->xq, j->xd, j->y, r0, r1);
    }
}

static sqz_sparse_nm *copy_sp(const sqz_sparse_nm *s) {
    sqz_sparse_nm *c = malloc(sizeof *c);
    *c = *s;
    size_t nv = (size_t)s->n_out * s->values_row, nm = (size_t)s->n_out * s->meta_row;
    c->values = malloc(nv), c->meta = malloc(nm);
    memcpy(c->values, s->values, nv), memcpy(c->meta, s->meta, nm);
    if (s->scales) {
        size_t ns = (size_t)s->n_out * (size_t)(s->n_in / s->group) * 2;
        c->scales = malloc(ns);
        memcpy(c->scales, s->scales, ns);
    }
    return c;
}

static sqz_dense_q *copy_dq(const sqz_dense_q *q) {
    sqz_dense_q *c = malloc(sizeof *c);
    *c = *q;
    size_t nc = (size_t)q->n_out * q->row, ns = (size_t)q->n_out * (size_t)(q->n_in / q->group) * 2;
    c->codes = malloc(nc), c->scales = malloc(ns);
    memcpy(c->codes, q->codes, nc), memcpy(c->scales, q->scales, ns);
    return c;
}

static void *copy_buf(const void *p, size_t n) {
    void *c = malloc(n);
    memcpy(c, p, n);
    return c;
}

// Build all formats of one layer shape (mats[fmt][0]); copies for the other blocks.
static int build_layer(int64_t n_out, int64_t n_in, int blocks, mat **mats, int li) {
    size_t n = (size_t)(n_out * n_in);
    float *w = malloc(n * sizeof *w), *w24 = malloc(n * sizeof *w24);
    for (size_t i = 0; i < n; i++)
        w[i] = 0.02f * urand();
    memcpy(w24, w, n * sizeof *w);
    if (sqz_prune_magnitude(w24, n_out, n_in, 0, (sqz_nm){2, 4}, NULL) != SQZ_OK)
        return -1;
    mat base[N_FMT] = {{0}};
    for (int f = 0; f < N_FMT; f++)
        base[f].n_out = n_out, base[f].n_in = n_in;
    uint16_t *f16 = malloc(n * 2);
    for (size_t i = 0; i < n; i++)
        f16[i] = sqz_fp32_to_fp16(w[i]);
    base[F_F16].dense = f16, base[F_F16].nbytes = n * 2;
    size_t q4row = sqz_type_row_size(SQZ_TYPE_Q4_0, n_in);
    base[F_Q4_0].dense = malloc(q4row * (size_t)n_out);
    base[F_Q4_0].nbytes = q4row * (size_t)n_out;
    sqz_status st = sqz_quant_blocks(SQZ_TYPE_Q4_0, w, n_out, n_in, NULL, base[F_Q4_0].dense);
    if (st == SQZ_OK)
        st = sqz_sparse_nm_encode(w24, n_out, n_in, (sqz_nm){2, 4}, SQZ_SP_F16, 0, &base[F_F16_24].sp);
    if (st == SQZ_OK)
        st = sqz_sparse_nm_encode(w24, n_out, n_in, (sqz_nm){2, 4}, SQZ_SP_I4, 128, &base[F_I4_24].sp);
    if (st == SQZ_OK)
        st = sqz_sparse_nm_encode(w24, n_out, n_in, (sqz_nm){2, 4}, SQZ_SP_I8, 128, &base[F_I8_24].sp);
    if (st == SQZ_OK)
        st = sqz_dense_q_encode(w, n_out, n_in, SQZ_SP_I4, 128, &base[F_I4].dq);
    if (st == SQZ_OK)
        st = sqz_dense_q_encode(w, n_out, n_in, SQZ_SP_I8, 128, &base[F_I8].dq);
    free(w), free(w24);
    if (st != SQZ_OK) {
        fprintf(stderr, "%s\n", sqz_last_error());
        return -1;
    }
    for (int f = 0; f < N_FMT; f++) {
        if (base[f].sp)
            base[f].nbytes = sqz_sparse_nm_nbytes(base[f].sp);
        if (base[f].dq)
            base[f].nbytes = (size_t)n_out * (base[f].dq->row + (size_t)(n_in / 128) * 2);
        for (int b = 0; b < blocks; b++) {
            mat *m = &mats[f][b * N_LAYERS + li];
            *m = base[f];
            if (b == 0)
                continue;
            if (base[f].sp)
                m->sp = copy_sp(base[f].sp);
            if (base[f].dq)
                m->dq = copy_dq(base[f].dq);
            if (base[f].dense)
                m->dense = copy_buf(base[f].dense, base[f].nbytes);
        }
    }
    return 0;
}

// One pass over all matrices of format f. Activations are converted per matrix (as an engine would
// per distinct input; q/k/v and gate/up would share one conversion).
static void one_pass(sqz_pool *pool, mat *ms, int n_mats, int f, job *proto, const float *x5632) {
    for (int i = 0; i < n_mats; i++) {
        job j = *proto;
        j.m = &ms[i];
        j.fmt = f;
        j.x = x5632;
        if (f == F_Q4_0)
            sqz_act_converter(SQZ_ACT_Q8A)(x5632, j.xa, ms[i].n_in);
        else if (f != F_F16 && f != F_F16_24)
            sqz_sp_quant_x_best()(x5632, ms[i].n_in, j.xq, j.xd);
        sqz_pool_run(pool, run_rows, &j);
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int blocks = argc > 1 ? atoi(argv[1]) : 4, threads = argc > 2 ? atoi(argv[2]) : 1;
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    if (blocks < 1 || threads < 1 || rounds < 1) {
        fprintf(stderr, "usage: %s [blocks] [threads] [rounds]\n", argv[0]);
        return 2;
    }
    int n_mats = blocks * N_LAYERS;
    mat *mats[N_FMT];
    for (int f = 0; f < N_FMT; f++)
        mats[f] = calloc((size_t)n_mats, sizeof(mat));
    for (int li = 0; li < N_LAYERS; li++)
        if (build_layer(SHAPES[li][0], SHAPES[li][1], blocks, mats, li) != 0)
            return 1;
    float *x = malloc(5632 * sizeof *x), *y = malloc(5632 * sizeof *y);
    for (int i = 0; i < 5632; i++)
        x[i] = urand();
    void *xa = malloc(sqz_act_row_size(SQZ_ACT_Q8A, 5632));
    int8_t *xq = malloc(5632);
    float *xd = malloc(5632 / 64 * sizeof *xd);
    job proto = {.xa = xa, .xq = xq, .xd = xd, .y = y, .kf16 = sqz_kernel_for(SQZ_TYPE_F16),
                 .kq40 = sqz_kernel_for(SQZ_TYPE_Q4_0), .spf = sqz_sp_gemv_f16_best(), .spq = sqz_sp_gemv_q_best(),
                 .dqf = sqz_dq_gemv_best()};
    sqz_pool *pool = NULL;
    if (!proto.kf16 || !proto.kq40 || sqz_pool_new(&pool, threads) != SQZ_OK) {
        fprintf(stderr, "bench: no kernels or no pool: %s\n", sqz_last_error());
        return 1;
    }
    int64_t weights = 0;
    for (int li = 0; li < N_LAYERS; li++)
        weights += SHAPES[li][0] * SHAPES[li][1] * blocks;
    printf("TinyLlama-1.1B block shapes x %d blocks (%.1f M weights), %d thread(s), kernels: %s%s\n", blocks,
           (double)weights / 1e6, threads, sqz_kernels_isa_name(),
           proto.spf == sqz_sp_gemv_f16_ref ? " (sparse: ref)" : proto.spf == sqz_sp_gemv_f16_avx512 ? " (sparse f16: avx512)" : " (sparse: avx2)");
    printf("%-9s %10s %9s %10s %10s %8s\n", "format", "MB/pass", "bits/w", "best ms", "median ms", "GB/s");
    // Formats are interleaved round by round so that load changes on a shared machine hit all alike.
    double best[N_FMT], *times[N_FMT];
    int n_t = 0;
    for (int f = 0; f < N_FMT; f++) {
        times[f] = malloc((size_t)rounds * 3 * sizeof(double));
        one_pass(pool, mats[f], n_mats, f, &proto, x); // warm-up
    }
    for (int round = 0; round < rounds; round++, n_t += 3)
        for (int f = 0; f < N_FMT; f++)
            for (int k = 0; k < 3; k++) {
                double t0 = sqz_time_now();
                one_pass(pool, mats[f], n_mats, f, &proto, x);
                times[f][n_t + k] = sqz_time_now() - t0;
            }
    for (int f = 0; f < N_FMT; f++) {
        size_t bytes = 0;
        for (int i = 0; i < n_mats; i++)
            bytes += mats[f][i].nbytes;
        qsort(times[f], (size_t)n_t, sizeof(double), cmp_double);
        best[f] = times[f][0];
        printf("%-9s %10.1f %9.3f %10.2f %10.2f %8.2f\n", FMT_NAME[f], (double)bytes / 1e6,
               8.0 * (double)bytes / (double)weights, best[f] * 1e3, times[f][n_t / 2] * 1e3, (double)bytes / best[f] / 1e9);
    }
    double bw = 0.0;
    if (sqz_measure_read_bandwidth(threads, (size_t)1 << 29, 3, &bw) == SQZ_OK)
        printf("machine read bandwidth with %d thread(s): %.2f GB/s (a GEMV at that speed is memory-bound)\n", threads,
               bw);
    printf("speed ratio sparse/dense (best pass): f16 2:4 / f16 = %.2fx, i4 2:4 / i4 = %.2fx, i8 2:4 / i8 = %.2fx, "
           "i4 2:4 / q4_0 = %.2fx\n",
           best[F_F16] / best[F_F16_24], best[F_I4] / best[F_I4_24], best[F_I8] / best[F_I8_24],
           best[F_Q4_0] / best[F_I4_24]);
    sqz_pool_free(pool);
    return 0; // matrices are freed at exit
}

// GEMM kernels side by side, and the per-row dot loop they replace in batched prompt processing, one
// thread.
//
//   build/bench/gemm [n_tokens] [reps]
//
// For each weight type and a few real layer shapes (SmolLM2-135M and TinyLlama-1.1B projections), times
// y = W·X for n_tokens tokens (default 512) with every GEMM this CPU runs — the AVX2 tier's, the AVX-512
// tier's bit-identical-to-dot kernel and, for Q8_0/Q4_0, its block-fma kernels (VNNI, AMX; the tier
// dispatches to AMX when it may run) — and with the old loop (16 rows × every token, one dot call per
// output of the dispatched tier). The kernels run interleaved, best of reps; GFLOP/s (2·n_out·n_in·n per
// call) from the thread's CPU time, so other processes on a shared machine slow it less than wall time.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kernels/kernels.h"
#include "sqz.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void dot_loop(const sqz_kernel *k, int64_t n_in, const uint8_t *w, size_t row, int64_t n_out,
                     const uint8_t *xa, size_t act_row, int64_t n, float *y) {
    for (int64_t t0 = 0; t0 < n_out; t0 += 16)
        for (int64_t t = 0; t < n; t++)
            for (int64_t o = t0; o < t0 + 16 && o < n_out; o++)
                k->dot(n_in, w + o * row, xa + t * act_row, &y[t * n_out + o]);
}

enum { K_AVX2, K_AVX512, K_BLK_VNNI, K_BLK_AMX, K_DOTS, NK };

// The GEMMs of type t this CPU runs, by column (NULL: not applicable here).
static void kernels_for(sqz_type t, sqz_gemm_fn g[NK]) {
    const sqz_kernel *k2 = sqz_kernel_for_isa(t, SQZ_ISA_AVX2);
    int avx512 = sqz_isa_supported(SQZ_ISA_AVX512), amx = avx512 && sqz_amx_ready();
    for (int i = 0; i < NK; i++)
        g[i] = NULL;
    g[K_AVX2] = k2 ? k2->gemm : NULL;
    if (!avx512)
        return;
    if (t == SQZ_TYPE_Q8_0)
        g[K_AVX512] = sqz_gemm_q8_0_avx512vnni, g[K_BLK_VNNI] = sqz_gemm_q8_0_blk_vnni,
        g[K_BLK_AMX] = amx ? sqz_gemm_q8_0_blk_amx : NULL;
    else if (t == SQZ_TYPE_Q4_0)
        g[K_AVX512] = sqz_gemm_q4_0_avx512vnni, g[K_BLK_VNNI] = sqz_gemm_q4_0_blk_vnni,
        g[K_BLK_AMX] = amx ? sqz_gemm_q4_0_blk_amx : NULL;
    else if (t == SQZ_TYPE_Q4_1)
        g[K_AVX512] = sqz_gemm_q4_1_avx512vnni;
    else if (t == SQZ_TYPE_F16)
        g[K_AVX512] = sqz_gemm_f16_avx512;
    else if (t == SQZ_TYPE_BF16)
        g[K_AVX512] = sqz_gemm_bf16_avx512;
}

int main(int argc, char **argv) {
    int64_t n = argc > 1 ? atoll(argv[1]) : 512;
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    static const sqz_type types[] = {SQZ_TYPE_Q4_0, SQZ_TYPE_Q8_0, SQZ_TYPE_Q4_1, SQZ_TYPE_F16, SQZ_TYPE_BF16};
    static const int64_t shapes[][2] = {{576, 1536}, {1536, 576}, {2048, 2048}, {5632, 2048}}; // n_in, n_out
    printf("kernels: %s, %lld tokens, best of %d, GFLOP/s\n\n"
           "| type | n_in × n_out | avx2 | avx512 (= dot) | avx512 blk vnni | avx512 blk amx | dot loop | best vs avx2 |\n"
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
           sqz_kernels_isa_name(), (long long)n, reps);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const sqz_kernel *k = sqz_kernel_for(types[ti]);
            sqz_gemm_fn g[NK];
            kernels_for(types[ti], g);
            int64_t n_in = shapes[si][0], n_out = shapes[si][1];
            size_t row = sqz_type_row_size(types[ti], n_in), act_row = sqz_act_row_size(k->act, n_in);
            float *wf = malloc((size_t)n_in * sizeof(float)), *x = malloc((size_t)n_in * sizeof(float));
            uint8_t *w = malloc(row * (size_t)n_out), *xa = malloc(act_row * (size_t)n);
            float *y = malloc((size_t)(n * n_out) * sizeof(float));
            for (int64_t o = 0; o < n_out; o++) {
                for (int64_t i = 0; i < n_in; i++)
                    wf[i] = (float)((o * 7 + i * 13) % 29 - 14) / 14.0f;
                sqz_type_traits_of(types[ti])->from_float_ref(wf, w + o * row, n_in);
            }
            for (int64_t t = 0; t < n; t++) {
                for (int64_t i = 0; i < n_in; i++)
                    x[i] = (float)((t * 5 + i * 3) % 31 - 15) / 15.0f;
                sqz_act_converter(k->act)(x, xa + t * act_row, n_in);
            }
            double best[NK];
            for (int i = 0; i < NK; i++)
                best[i] = 1e30;
            for (int r = 0; r < reps; r++)
                for (int i = 0; i < NK; i++) {
                    if (i != K_DOTS && !g[i])
                        continue;
                    double t0 = cpu_now();
                    if (i == K_DOTS)
                        dot_loop(k, n_in, w, row, n_out, xa, act_row, n, y);
                    else
                        g[i](n_in, w, row, 0, n_out, xa, act_row, n, y, n_out);
                    double dt = cpu_now() - t0;
                    best[i] = dt < best[i] ? dt : best[i];
                }
            double flop = 2.0 * (double)n_in * (double)n_out * (double)n, fastest = 1e30;
            printf("| %s | %lld × %lld |", sqz_type_name(types[ti]), (long long)n_in, (long long)n_out);
            for (int i = 0; i < NK; i++) {
                if (best[i] < 1e30)
                    printf(" %.1f |", flop / best[i] * 1e-9);
                else
                    printf(" - |");
                if (i != K_DOTS && i != K_AVX2 && best[i] < fastest)
                    fastest = best[i];
            }
            if (g[K_AVX2] && fastest < 1e30)
                printf(" %.2fx |\n", best[K_AVX2] / fastest);
            else
                printf(" - |\n");
            free(wf), free(x), free(w), free(xa), free(y);
        }
    return 0;
}

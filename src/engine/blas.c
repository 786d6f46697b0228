// OpenBLAS's kernel choice. Debian's OpenBLAS (0.3.21) picks its kernels from its own CPUID table at
// load time; CPUs newer than that table get a much weaker core type (an Emerald Rapids Xeon: "Prescott",
// SSE3, 60 GFLOP/s sgemm on 2 threads where SkylakeX reaches 224; an AVX-512 Zen 4: "Zen", the AVX2
// kernels). It reads OPENBLAS_CORETYPE only while loading, so the fix is to run with it set: this file
// says which value, the program (cli/main.c) re-executes itself with it. And what a result's numbers
// depend on besides the model and settings: CPU, kernel tier, BLAS kernels (sqz_compute_env).
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/internal.h"

static bool name_in(const char *name, const char *const *list) {
    for (; *list; list++)
        if (!strcasecmp(name, *list))
            return true;
    return false;
}

static bool has(const char *feature) {
    const char *f = sqz_cpu_features();
    size_t n = strlen(feature);
    for (const char *p = strstr(f, feature); p; p = strstr(p + 1, feature))
        if ((p == f || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
            return true;
    return false;
}

const char *sqz_blas_coretype_wanted(void) {
    const char *env = getenv("OPENBLAS_CORETYPE");
    if (env && *env) // the user's (or an earlier re-execution's) choice stands
        return NULL;
    const char *core = openblas_get_corename();
    if (!core)
        return NULL;
    // Core types whose sgemm uses AVX-512 / at least AVX2+FMA (OpenBLAS's names, any case).
    static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids", NULL};
    static const char *const avx2[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "Skylake", NULL};
    if (has("avx512f") && has("avx512bw") && has("avx512vl") && has("avx512dq") && !name_in(core, avx512))
        return "SkylakeX";
    if (has("avx2") && has("fma") && !name_in(core, avx2))
        return "Haswell";
    return NULL;
}

const char *sqz_compute_env(void) {
    static char env[512]; // benign race: every thread writes the same text
    const char *core = openblas_get_corename();
    snprintf(env, sizeof env, "%s; kernels %s; openblas %s", sqz_cpu_features(), sqz_kernels_isa_name(),
             core ? core : "?");
    return env;
}

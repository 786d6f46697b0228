// Makes a degraded variant of a model for LoRA-recovery measurements: every linear weight of every
// block round-to-nearest quantized (sqz_quant_rtn, AutoGPTQ's quantizer) to `bits` with `group`
// columns per group, then dequantized back, written as an F32 HF directory. The frozen LoRA base
// then holds exactly the values the low-bit codes represent (embeddings and norms untouched).
//   build/bench/train_variant MODEL OUT_DIR [bits=3] [group=64]
// Then: sqz train lora --base OUT_DIR ... and compare held-out losses with the original model.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqz.h"
#include "train/model.h"
#include "train/train_internal.h"

static int fail(void) {
    fprintf(stderr, "train_variant: %s\n", sqz_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return fprintf(stderr, "usage: train_variant MODEL OUT_DIR [bits] [group]\n"), 2;
    int bits = argc > 3 ? atoi(argv[3]) : 3, group = argc > 4 ? atoi(argv[4]) : 64;
    tr_src src;
    tr_model *m = NULL;
    if (tr_src_open(&src, argv[1]) != SQZ_OK ||
        tr_model_new(&m, sqz_model_file_config(src.mf), false) != SQZ_OK ||
        tr_model_load_weights(m, src.mf) != SQZ_OK)
        return fail();
    sqz_qparams qp = {.bits = bits, .group = group, .sym = false};
    int n = 0;
    double err = 0, ref = 0;
    for (int i = 0; i < m->n_tab; i++) {
        tr_param *p = &m->tab[i];
        if (p->n_dims != 2 || !strstr(p->name, "layers."))
            continue;
        float *w = (float *)m->params + p->off;
        sqz_qweight *q = NULL;
        if (sqz_quant_rtn(w, p->shape[0], p->shape[1], qp, &q) != SQZ_OK)
            return fail();
        float *d = malloc(p->n * sizeof *d);
        sqz_qweight_dequant(q, d);
        for (size_t j = 0; j < p->n; j++)
            err += ((double)d[j] - w[j]) * ((double)d[j] - w[j]), ref += (double)w[j] * w[j];
        memcpy(w, d, p->n * sizeof *d);
        free(d);
        sqz_qweight_free(q);
        n++;
    }
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", src.dir);
    if (tr_model_save_hf(m, cfg, src.dir, argv[2]) != SQZ_OK)
        return fail();
    printf("%d linears RTN %d-bit group %d, relative weight error %.4f -> %s\n", n, bits, group, ref > 0 ? err / ref : 0,
           argv[2]);
    tr_model_free(m);
    tr_src_close(&src);
    return 0;
}

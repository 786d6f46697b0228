// sqz compress MODEL --recipe R [-o OUT] [--calib PATH] [--calib-n N] [--calib-len L] [--seed S]
//              [--formats gguf,hf] [--ppl FILE [-c CTX]] [-t THREADS]
// sqz compress --heldout-text OUT.txt [--calib TAR]
// Compresses layer by layer (progress with ETA on stderr), optionally measures the perplexity of
// the in-memory result on a text file, and writes OUT/{model.gguf, hf/, manifest.json}.
#include <string.h>

#include "cli.h"

static const char *usage_text =
    "usage: sqz compress MODEL --recipe R [-o OUT] [options]\n"
    "       sqz compress --heldout-text OUT.txt [--calib TAR]\n"
    "  --recipe R        e.g. 'gptq:bits=4,group=128' (docs/quant.md), 'wanda:pattern=2:4 + rtn:bits=8',\n"
    "                    'layers:drop=2 + heads:drop=4' (pruning: docs/prune.md); `sqz info OUT` shows the result\n"
    "  -o OUT            output directory: model.gguf (llama.cpp types only; pruned weights dense with zeros),\n"
    "                    hf/ (pruned F16 weights in sqz's 2:4 / CSR layouts: loads in sqz only), manifest.json\n"
    "  --calib PATH      calibration corpus: .tar (its non-held-out files) or a text file\n"
    "                    (default " SQZ_CALIB_DEFAULT_PATH ")\n"
    "  --calib-n N       sequences (default 32)    --calib-len L  tokens each (default 256)\n"
    "  --seed S          calibration draw (default 0)\n"
    "  --formats LIST    gguf,hf (default both)\n"
    "  --ppl FILE        perplexity of the compressed model (in memory) on a text file, -c CTX (512)\n"
    "  --heldout-text F  write the corpus's held-out files (the perplexity side of the split) to F\n"
    "  -t THREADS        threads (default: physical cores)\n";

static void on_progress(void *user, const sqz_compress_progress *p) {
    (void)user;
    fprintf(stderr, "\rcompress: block %lld/%lld  %.1fs elapsed, ETA %.1fs   ", (long long)p->layer + 1,
            (long long)p->n_layer, p->elapsed_s, p->eta_s);
    if (p->layer + 1 == p->n_layer)
        fprintf(stderr, "\n");
}

static int heldout_text(const char *calib, const char *out) {
    char *text = NULL;
    size_t len = 0;
    if (sqz_corpus_text(calib, true, &text, &len) != SQZ_OK)
        return cli_fail("compress");
    FILE *f = fopen(out, "wb");
    int ok = f && fwrite(text, 1, len, f) == len;
    if (f && fclose(f) != 0)
        ok = 0;
    free(text);
    if (!ok) {
        sqz_error(SQZ_ERR_IO, "%s: cannot write", out);
        return cli_fail("compress");
    }
    fprintf(stderr, "compress: wrote %zu bytes of held-out text to %s\n", len, out);
    return 0;
}

static int perplexity(sqz_model *m, const char *file, long long n_ctx, int threads) {
    char *text = NULL;
    int32_t *ids = NULL;
    size_t len = 0, n = 0;
    sqz_ctx *c = NULL;
    const sqz_tokenizer *tok = sqz_model_tokenizer(m);
    sqz_ppl_result r;
    int rc = 1;
    if (!tok)
        sqz_error(SQZ_ERR_UNSUPPORTED, "--ppl: the model has no tokenizer");
    else if (sqz_read_file(file, &text, &len) == SQZ_OK && sqz_tokenizer_encode(tok, text, len, true, &ids, &n) == SQZ_OK &&
             sqz_ctx_new(&c, m, n_ctx, n_ctx, threads) == SQZ_OK &&
             sqz_perplexity(c, ids, (int64_t)n, n_ctx, sqz_tokenizer_adds_bos(tok) ? sqz_tokenizer_bos(tok) : -1, NULL,
                            NULL, &r) == SQZ_OK) {
        printf("PPL = %.4f +/- %.5f (%lld chunks of %lld)\n", r.ppl, r.ppl_err, (long long)r.n_chunks, n_ctx);
        rc = 0;
    }
    free(text), free(ids);
    sqz_ctx_free(c);
    return rc ? cli_fail("compress") : 0;
}

static void print_summary(sqz_compressed *cc) {
    int64_t n;
    const sqz_compress_layer *L = sqz_compressed_layers(cc, &n);
    double bits = 0, w = 0, oe = 0;
    int64_t n_oe = 0;
    for (int64_t i = 0; i < n; i++) {
        double k = (double)(L[i].n_out * L[i].n_in);
        bits += L[i].bpw * k, w += k;
        if (L[i].output_err >= 0)
            oe += L[i].output_err, n_oe++;
    }
    const sqz_calib *cal = sqz_compressed_calib(cc);
    fprintf(stderr, "compress: %lld linears, %.3f bits/weight%s", (long long)n, bits / w, cal ? "" : "\n");
    if (cal)
        fprintf(stderr, ", mean output error %.3g, calibration %lldx%lld sha256 %.16s...\n", n_oe ? oe / (double)n_oe : 0,
                (long long)cal->n_seq, (long long)cal->seq_len, cal->sha256);
}

int sqz_cmd_compress(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *ppl = NULL, *heldout = NULL, *formats = "gguf,hf";
    sqz_compress_opts o = {.calib_path = SQZ_CALIB_DEFAULT_PATH, .progress = on_progress};
    long long n = 0, len = 0, seed = 0, threads = 0, n_ctx = 512;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long *num = !strcmp(a, "--calib-n") ? &n : !strcmp(a, "--calib-len") ? &len : !strcmp(a, "--seed") ? &seed
                       : !strcmp(a, "-t") ? &threads : !strcmp(a, "-c") ? &n_ctx : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return printf("%s", usage_text), 0;
        if (num) {
            if (!cli_parse_int("compress", a, v, num))
                return 2;
            i++;
        } else if (v && (!strcmp(a, "--recipe") || !strcmp(a, "-o") || !strcmp(a, "--calib") || !strcmp(a, "--ppl") ||
                         !strcmp(a, "--formats") || !strcmp(a, "--heldout-text"))) {
            *(!strcmp(a, "--recipe") ? &o.recipe : !strcmp(a, "-o") ? &out : !strcmp(a, "--calib") ? &o.calib_path
              : !strcmp(a, "--ppl") ? &ppl : !strcmp(a, "--formats") ? &formats : &heldout) = v;
            i++;
        } else if (a[0] == '-' || model) {
            return cli_usage_error("compress", "unexpected argument '%s'\n%s", a, usage_text);
        } else {
            model = a;
        }
    }
    if (heldout)
        return heldout_text(o.calib_path, heldout);
    if (!model || !o.recipe || (!out && !ppl))
        return cli_usage_error("compress", "MODEL, --recipe and -o (or --ppl) are required\n%s", usage_text);
    if (n < 0 || len < 0 || threads < 0 || n_ctx < 4)
        return cli_usage_error("compress", "--calib-n, --calib-len, -t must be >= 0 and -c >= 4");
    unsigned what = (strstr(formats, "gguf") ? SQZ_SAVE_GGUF : 0) | (strstr(formats, "hf") ? SQZ_SAVE_HF : 0);
    if (!what)
        return cli_usage_error("compress", "--formats: expected gguf, hf or gguf,hf, got '%s'", formats);
    o.calib_n = n, o.calib_len = len, o.seed = (uint64_t)seed, o.n_threads = (int)threads;
    sqz_compressed *cc = NULL;
    if (sqz_compress(model, &o, &cc) != SQZ_OK)
        return cli_fail("compress");
    print_summary(cc);
    int rc = ppl ? perplexity(sqz_compressed_model(cc), ppl, n_ctx, (int)threads) : 0;
    if (rc == 0 && out) {
        if (sqz_compressed_save(cc, out, what) != SQZ_OK)
            rc = cli_fail("compress");
        else
            fprintf(stderr, "compress: wrote %s (%s%s manifest.json)\n", out,
                    (what & SQZ_SAVE_GGUF) && sqz_compressed_gguf_ok(cc) ? "model.gguf, " : "",
                    what & SQZ_SAVE_HF ? "hf/," : "");
    }
    sqz_compressed_free(cc);
    return rc;
}

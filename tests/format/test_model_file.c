// Model config (config.json / GGUF metadata) and model-file tests on the real models in ../shared,
// plus broken configs and broken tensor tables. Tool mode used by test_model_file_ref.py:
//   format_test_model_file --info PATH   prints the config and totals as key=value lines
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "sqz/format.h"

#define REFS "../shared/refs/models/"
#define AID_HF REFS "aidreams260K-hf"
#define AID_GGUF REFS "aidreams260K-gguf/aidreams260K.gguf"
#define STORIES_HF REFS "stories260K-hf"
#define STORIES_GGUF REFS "stories260K-gguf/stories260K.gguf"
#define GPT2_HF REFS "gpt2-tiny-random/hf"
#define GPT2_GGUF REFS "gpt2-tiny-random/gpt2-tiny-random.f32.gguf"

static char tmpdir[64];

static const char *tmp_path(const char *name) {
    static char path[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", tmpdir, name);
    return path[k];
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static int info(const char *path) {
    sqz_model_file *mf = NULL;
    if (sqz_model_file_open(&mf, path) != SQZ_OK) {
        fprintf(stderr, "%s\n", sqz_last_error());
        return 1;
    }
    const sqz_model_config *c = sqz_model_file_config(mf);
    printf("arch=%s\nhf_class=%s\nn_vocab=%lld\nn_ctx_train=%lld\nn_embd=%lld\nn_layer=%lld\nn_head=%lld\n"
           "n_head_kv=%lld\nhead_dim=%lld\nn_ff=%lld\nnorm_eps=%.9g\nrope_theta=%.9g\nrope_layout=%d\n"
           "rope_scaling=%d\nrope_factor=%.9g\nsliding_window=%lld\ntie_embeddings=%d\nattn_bias=%d\n"
           "bos_id=%lld\neos_id=%lld\npad_id=%lld\nn_tensors=%lld\nn_params=%lld\nn_bytes=%zu\nlayout=%d\n",
           c->arch_name, c->hf_class, (long long)c->n_vocab, (long long)c->n_ctx_train, (long long)c->n_embd,
           (long long)c->n_layer, (long long)c->n_head, (long long)c->n_head_kv, (long long)c->head_dim,
           (long long)c->n_ff, c->norm_eps, c->rope_theta, (int)c->rope_layout, (int)c->rope_scaling,
           c->rope_factor, (long long)c->sliding_window, c->tie_embeddings, c->attn_bias, (long long)c->bos_id,
           (long long)c->eos_id, (long long)c->pad_id, (long long)sqz_model_file_n_tensors(mf),
           (long long)sqz_model_file_n_params(mf), sqz_model_file_nbytes(mf), (int)sqz_model_file_layout(mf));
    sqz_model_file_free(mf);
    return 0;
}

static void test_hf_configs(void) {
    sqz_model_config c;
    CHECK_OK(sqz_config_from_hf_json(&c, AID_HF "/config.json"));
    CHECK(c.arch == SQZ_ARCH_LLAMA && !strcmp(c.arch_name, "llama") && !strcmp(c.hf_class, "LlamaForCausalLM"));
    CHECK(c.n_vocab == 512 && c.n_embd == 64 && c.n_layer == 4 && c.n_head == 4 && c.n_head_kv == 4);
    CHECK(c.head_dim == 16 && c.n_ff == 172 && c.n_ctx_train == 128 && c.rope_layout == SQZ_ROPE_HALF);
    CHECK(c.tie_embeddings && !c.attn_bias && c.bos_id == 1 && c.eos_id == 2 && c.rope_theta == 10000.0);
    CHECK(fabs(c.norm_eps - 1e-5) < 1e-12 && c.rope_scaling == SQZ_ROPE_SCALING_NONE);
    CHECK_OK(sqz_config_from_hf_json(&c, STORIES_HF "/config.json"));
    CHECK(c.n_head == 8 && c.n_head_kv == 4 && c.head_dim == 8 && c.n_layer == 5 && c.n_ctx_train == 512);
    CHECK_OK(sqz_config_from_hf_json(&c, GPT2_HF "/config.json"));
    CHECK(c.arch == SQZ_ARCH_GPT2 && c.n_ff == 256 && c.head_dim == 16 && c.n_ctx_train == 128);
    CHECK(c.rope_layout == SQZ_ROPE_NONE && c.tie_embeddings && c.attn_bias && c.bos_id == 511);
    CHECK_OK(sqz_config_from_hf_json(&c, "../shared/data/tokenizers/smollm2-135m/config.json"));
    CHECK(c.n_embd == 576 && c.n_head == 9 && c.n_head_kv == 3 && c.head_dim == 64 && c.n_layer == 30);
    CHECK(c.rope_theta == 100000.0 && c.n_vocab == 49152 && c.n_ctx_train == 8192 && c.pad_id == 2);
}

static void test_hf_config_variants(void) {
    sqz_model_config c;
    const char *p = tmp_path("config.json");
    write_text(p, "{\"architectures\":[\"LlamaForCausalLM\"],\"vocab_size\":1000,\"hidden_size\":256,"
                  "\"intermediate_size\":512,\"num_hidden_layers\":2,\"num_attention_heads\":8,"
                  "\"num_key_value_heads\":2,\"rope_theta\":500000.0,\"eos_token_id\":[7,8],"
                  "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":1.0,"
                  "\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192}}");
    CHECK_OK(sqz_config_from_hf_json(&c, p));
    CHECK(c.rope_scaling == SQZ_ROPE_SCALING_LLAMA3 && c.rope_factor == 8.0 && c.rope_high_freq_factor == 4.0);
    CHECK(c.rope_orig_ctx == 8192 && c.eos_id == 7 && c.n_head_kv == 2 && c.head_dim == 32 && !c.tie_embeddings);
    write_text(p, "{\"architectures\":[\"Qwen2ForCausalLM\"],\"vocab_size\":1000,\"hidden_size\":64,"
                  "\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                  "\"num_key_value_heads\":2,\"sliding_window\":4096,\"use_sliding_window\":false,"
                  "\"tie_word_embeddings\":true,\"rope_scaling\":{\"type\":\"linear\",\"factor\":2}}");
    CHECK_OK(sqz_config_from_hf_json(&c, p));
    CHECK(c.arch == SQZ_ARCH_QWEN2 && c.attn_bias && c.sliding_window == 0 && c.tie_embeddings);
    CHECK(c.rope_scaling == SQZ_ROPE_SCALING_LINEAR && c.rope_factor == 2.0 && c.rope_layout == SQZ_ROPE_HALF);
    write_text(p, "{\"architectures\":[\"MistralForCausalLM\"],\"vocab_size\":1000,\"hidden_size\":64,"
                  "\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                  "\"head_dim\":32,\"sliding_window\":4096}");
    CHECK_OK(sqz_config_from_hf_json(&c, p));
    CHECK(!strcmp(c.arch_name, "mistral") && c.sliding_window == 4096 && c.head_dim == 32);
    // GPT-2 with n_inner given and defaults elsewhere.
    write_text(p, "{\"model_type\":\"gpt2\",\"n_embd\":32,\"n_layer\":1,\"n_head\":2,\"n_inner\":100}");
    CHECK_OK(sqz_config_from_hf_json(&c, p));
    CHECK(c.n_ff == 100 && c.n_vocab == 50257 && c.n_ctx_train == 1024 && c.eos_id == 50256);

    // Errors.
    write_text(p, "{\"architectures\":[\"LlamaForCausalLM\"],\n  \"hidden_size\": 64,,\n}");
    CHECK_ERR(sqz_config_from_hf_json(&c, p), SQZ_ERR_FORMAT, "line 2, column");
    write_text(p, "{\"architectures\":[\"BertForMaskedLM\"],\"hidden_size\":64}");
    CHECK_ERR(sqz_config_from_hf_json(&c, p), SQZ_ERR_UNSUPPORTED, "unsupported architecture 'BertForMaskedLM'");
    write_text(p, "{\"hidden_size\":64}");
    CHECK_ERR(sqz_config_from_hf_json(&c, p), SQZ_ERR_UNSUPPORTED, "no 'architectures'");
    write_text(p, "{\"architectures\":[\"LlamaForCausalLM\"],\"vocab_size\":10,\"intermediate_size\":128,"
                  "\"num_hidden_layers\":2,\"num_attention_heads\":4}");
    CHECK_ERR(sqz_config_from_hf_json(&c, p), SQZ_ERR_FORMAT, "missing 'hidden_size'");
    write_text(p, "{\"architectures\":[\"LlamaForCausalLM\"],\"vocab_size\":10,\"hidden_size\":64,"
                  "\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                  "\"num_key_value_heads\":3}");
    CHECK_ERR(sqz_config_from_hf_json(&c, p), SQZ_ERR_FORMAT, "not a multiple of the kv head count 3");
    write_text(p, "{\"architectures\":[\"LlamaForCausalLM\"],\"vocab_size\":10,\"hidden_size\":66,"
                  "\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4}");
    CHECK_ERR(sqz_config_from_hf_json(&c, p), SQZ_ERR_FORMAT, "hidden size 66 is not a multiple of the head count 4");
    write_text(p, "{\"architectures\":[\"LlamaForCausalLM\"],\"vocab_size\":10,\"hidden_size\":64,"
                  "\"intermediate_size\":-1,\"num_hidden_layers\":2,\"num_attention_heads\":4}");
    CHECK_ERR(sqz_config_from_hf_json(&c, p), SQZ_ERR_FORMAT, "feed-forward size -1");
    write_text(p, "{\"architectures\":[\"LlamaForCausalLM\"],\"vocab_size\":10,\"hidden_size\":64,"
                  "\"intermediate_size\":128,\"num_hidden_layers\":\"2\",\"num_attention_heads\":4}");
    CHECK_ERR(sqz_config_from_hf_json(&c, p), SQZ_ERR_FORMAT, "'num_hidden_layers' is not an integer");
    write_text(p, "{\"architectures\":[\"LlamaForCausalLM\"],\"vocab_size\":10,\"hidden_size\":64,"
                  "\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                  "\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4}}");
    CHECK_ERR(sqz_config_from_hf_json(&c, p), SQZ_ERR_UNSUPPORTED, "rope_scaling type 'yarn'");
    CHECK_ERR(sqz_config_from_hf_json(&c, tmp_path("missing.json")), SQZ_ERR_IO, "missing.json");
}

static void test_gguf_configs(void) {
    sqz_model_file *mf = NULL;
    CHECK_OK(sqz_model_file_open(&mf, AID_GGUF));
    if (mf) {
        const sqz_model_config *c = sqz_model_file_config(mf);
        CHECK(c->arch == SQZ_ARCH_LLAMA && c->rope_layout == SQZ_ROPE_ADJACENT && c->hf_class[0] == 0);
        CHECK(c->n_vocab == 512 && c->n_embd == 64 && c->n_ff == 172 && c->head_dim == 16 && c->n_ctx_train == 128);
        CHECK(!c->tie_embeddings && c->bos_id == 1 && c->eos_id == 2 && c->pad_id == -1); // pad = 0xFFFFFFFF
        CHECK(sqz_model_file_layout(mf) == SQZ_LAYOUT_GGUF && sqz_model_file_gguf(mf) != NULL);
        CHECK(sqz_model_file_n_tensors(mf) == 39 && sqz_model_file_n_params(mf) == 263744);
        CHECK(sqz_model_file_nbytes(mf) == 263744 * 4);
    }
    sqz_model_file_free(mf);
    mf = NULL;
    CHECK_OK(sqz_model_file_open(&mf, STORIES_GGUF));
    if (mf) {
        const sqz_model_config *c = sqz_model_file_config(mf);
        CHECK(c->n_head == 8 && c->n_head_kv == 4 && c->head_dim == 8 && c->n_layer == 5);
    }
    sqz_model_file_free(mf);
    mf = NULL;
    CHECK_OK(sqz_model_file_open(&mf, GPT2_GGUF));
    if (mf) {
        const sqz_model_config *c = sqz_model_file_config(mf);
        CHECK(c->arch == SQZ_ARCH_GPT2 && c->rope_layout == SQZ_ROPE_NONE && c->tie_embeddings && c->n_ff == 256);
        CHECK(c->bos_id == 511 && c->attn_bias);
    }
    sqz_model_file_free(mf);
    const char *models = getenv("SQZ_MODELS");
    char p[512];
    snprintf(p, sizeof p, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", models ? models : ".");
    if (access(p, R_OK) == 0) {
        mf = NULL;
        CHECK_OK(sqz_model_file_open(&mf, p));
        if (mf) {
            const sqz_model_config *c = sqz_model_file_config(mf);
            CHECK(c->n_embd == 576 && c->n_head == 9 && c->n_head_kv == 3 && c->head_dim == 64 && c->n_layer == 30);
            CHECK(c->rope_theta == 100000.0 && c->n_vocab == 49152 && c->tie_embeddings && c->n_ctx_train == 8192);
            CHECK(sqz_model_file_n_params(mf) == 134515008); // = gguf-py's sum of tensor element counts
        }
        sqz_model_file_free(mf);
    }
    // Vocabulary-only GGUFs open as GGUF but are not models.
    CHECK_ERR(sqz_model_file_open(&mf, "../shared/data/tokenizers/vocab-gguf/ggml-vocab-llama-spm.gguf"),
              SQZ_ERR_NOT_FOUND, "no tensors");
}

static void test_hf_model_files(void) {
    const char *paths[] = {AID_HF, AID_HF "/", AID_HF "/config.json", AID_HF "/model.safetensors"};
    for (int i = 0; i < 4; i++) {
        sqz_model_file *mf = NULL;
        CHECK_OK(sqz_model_file_open(&mf, paths[i]));
        CHECK_MSG(mf && !strcmp(sqz_model_file_path(mf), AID_HF), "%s -> %s", paths[i],
                  mf ? sqz_model_file_path(mf) : "?");
        CHECK(mf && sqz_model_file_layout(mf) == SQZ_LAYOUT_HF && sqz_model_file_gguf(mf) == NULL);
        CHECK(mf && sqz_model_file_n_params(mf) == 230976 && sqz_model_file_find(mf, "model.norm.weight"));
        sqz_model_file_free(mf);
    }
    sqz_model_file *mf = NULL;
    CHECK_OK(sqz_model_file_open(&mf, GPT2_HF));
    CHECK(mf && sqz_model_file_config(mf)->arch == SQZ_ARCH_GPT2 && sqz_model_file_n_tensors(mf) == 28);
    sqz_model_file_free(mf);
    mf = NULL;
    CHECK_OK(sqz_model_file_open(&mf, STORIES_HF));
    sqz_model_file_free(mf);
    CHECK_ERR(sqz_model_file_open(&mf, REFS "nope"), SQZ_ERR_IO, "nope");
}

// Copy aidreams-hf into dir with config.json, dropping tensor `drop` and reshaping tensor `reshape`.
static void make_broken_hf(const char *dir, const char *drop, const char *reshape) {
    mkdir(dir, 0755);
    char *cfg = NULL;
    size_t n = 0;
    if (sqz_read_file(AID_HF "/config.json", &cfg, &n) == SQZ_OK) {
        char p[300];
        snprintf(p, sizeof p, "%s/config.json", dir);
        write_text(p, cfg);
    }
    free(cfg);
    sqz_safetensors *st = NULL;
    if (sqz_safetensors_open(&st, AID_HF) != SQZ_OK)
        return;
    int64_t nt = sqz_safetensors_n_tensors(st), k = 0;
    sqz_tensor *ts = calloc((size_t)nt, sizeof *ts);
    for (int64_t i = 0; i < nt; i++) {
        sqz_tensor t = *sqz_safetensors_tensor(st, i);
        if (drop && !strcmp(t.name, drop))
            continue;
        if (reshape && !strcmp(t.name, reshape)) { // [172, 64] → [64, 100] (fewer bytes, still valid)
            t.shape[0] = 64, t.shape[1] = 100, t.nbytes = 64 * 100 * 4;
        }
        ts[k++] = t;
    }
    sqz_safetensors_write_sharded(dir, ts, k, 1u << 30);
    free(ts);
    sqz_safetensors_free(st);
}

static void test_broken_models(void) {
    sqz_model_file *mf = NULL;
    char d1[256], d2[256];
    snprintf(d1, sizeof d1, "%s", tmp_path("missing"));
    snprintf(d2, sizeof d2, "%s", tmp_path("shape"));
    make_broken_hf(d1, "model.layers.2.self_attn.v_proj.weight", NULL);
    CHECK_ERR(sqz_model_file_open(&mf, d1), SQZ_ERR_NOT_FOUND, "missing tensor 'model.layers.2.self_attn.v_proj.weight'");
    make_broken_hf(d2, NULL, "model.layers.3.mlp.up_proj.weight");
    CHECK_ERR(sqz_model_file_open(&mf, d2), SQZ_ERR_FORMAT,
              "tensor 'model.layers.3.mlp.up_proj.weight' has shape [64, 100], expected [172, 64]");

    // GGUF without a needed tensor, and with an unknown architecture.
    sqz_gguf *g = NULL;
    CHECK_OK(sqz_gguf_open(&g, AID_GGUF));
    if (!g)
        return;
    const char *outs[2] = {tmp_path("missing.gguf"), tmp_path("bert.gguf")};
    for (int v = 0; v < 2; v++) {
        sqz_gguf_writer *w = NULL;
        CHECK_OK(sqz_gguf_writer_new(&w));
        for (int64_t i = 0; i < sqz_gguf_n_kv(g); i++)
            sqz_gguf_writer_set_value(w, sqz_gguf_kv_key(g, i), sqz_gguf_kv_value(g, i));
        if (v == 1)
            sqz_gguf_writer_set_str(w, "general.architecture", "bert");
        for (int64_t i = 0; i < sqz_gguf_n_tensors(g); i++) {
            const sqz_tensor *t = sqz_gguf_tensor(g, i);
            if (v == 0 && !strcmp(t->name, "blk.0.attn_q.weight"))
                continue;
            sqz_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->shape, t->data, t->nbytes);
        }
        CHECK_OK(sqz_gguf_writer_write(w, outs[v]));
        sqz_gguf_writer_free(w);
    }
    sqz_gguf_free(g);
    CHECK_ERR(sqz_model_file_open(&mf, outs[0]), SQZ_ERR_NOT_FOUND, "missing tensor 'blk.0.attn_q.weight'");
    CHECK_ERR(sqz_model_file_open(&mf, outs[1]), SQZ_ERR_UNSUPPORTED, "unsupported architecture 'bert'");
}

// aidreams260K re-labelled as a qwen2 GGUF (llama.* keys renamed, zero q/k/v biases added when
// with_bias): qwen2 keeps rotate-half RoPE in GGUF and needs the biases.
static sqz_status write_qwen2(const char *out, bool with_bias) {
    sqz_gguf *g = NULL;
    sqz_status st0 = sqz_gguf_open(&g, AID_GGUF);
    if (st0 != SQZ_OK)
        return st0;
    sqz_gguf_writer *w = NULL;
    sqz_status st = sqz_gguf_writer_new(&w);
    static float zeros[64];
    for (int64_t i = 0; i < sqz_gguf_n_kv(g) && st == SQZ_OK; i++) {
        const char *k = sqz_gguf_kv_key(g, i);
        char key[128];
        snprintf(key, sizeof key, "%s%s", strncmp(k, "llama.", 6) ? "" : "qwen2.", strncmp(k, "llama.", 6) ? k : k + 6);
        st = sqz_gguf_writer_set_value(w, key, sqz_gguf_kv_value(g, i));
    }
    if (st == SQZ_OK)
        st = sqz_gguf_writer_set_str(w, "general.architecture", "qwen2");
    for (int64_t i = 0; i < sqz_gguf_n_tensors(g) && st == SQZ_OK; i++) {
        const sqz_tensor *t = sqz_gguf_tensor(g, i);
        st = sqz_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->shape, t->data, t->nbytes);
    }
    for (int l = 0; l < 4 && with_bias && st == SQZ_OK; l++) {
        const char *qkv[3] = {"q", "k", "v"};
        for (int j = 0; j < 3 && st == SQZ_OK; j++) {
            char name[64];
            int64_t shape[1] = {64};
            snprintf(name, sizeof name, "blk.%d.attn_%s.bias", l, qkv[j]);
            st = sqz_gguf_writer_add_tensor(w, name, SQZ_TYPE_F32, 1, shape, zeros, sizeof zeros);
        }
    }
    if (st == SQZ_OK)
        st = sqz_gguf_writer_write(w, out);
    sqz_gguf_writer_free(w);
    sqz_gguf_free(g);
    return st;
}

static void test_qwen2_gguf(void) {
    char p1[256], p2[256];
    snprintf(p1, sizeof p1, "%s", tmp_path("qwen2.gguf"));
    snprintf(p2, sizeof p2, "%s", tmp_path("qwen2_nobias.gguf"));
    CHECK_OK(write_qwen2(p1, true));
    CHECK_OK(write_qwen2(p2, false));
    sqz_model_file *mf = NULL;
    CHECK_OK(sqz_model_file_open(&mf, p1));
    if (mf) {
        const sqz_model_config *c = sqz_model_file_config(mf);
        CHECK(c->arch == SQZ_ARCH_QWEN2 && c->rope_layout == SQZ_ROPE_HALF && c->attn_bias && c->n_ff == 172);
    }
    sqz_model_file_free(mf);
    CHECK_ERR(sqz_model_file_open(&mf, p2), SQZ_ERR_NOT_FOUND, "missing tensor 'blk.0.attn_q.bias'");
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--info"))
        return info(argv[2]);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sqz_test_mf_XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    test_hf_configs();
    test_hf_config_variants();
    test_gguf_configs();
    test_hf_model_files();
    test_broken_models();
    test_qwen2_gguf();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_summary();
}

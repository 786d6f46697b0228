// safetensors reader/writer tests on the real HF files in ../shared, hand-made bad files, and the
// sharded writer. Tool modes used by test_safetensors_ref.py:
//   format_test_safetensors --dump PATH             one line per tensor: name dtype d0,d1,.. sha256
//   format_test_safetensors --copy IN OUT           read IN (file/dir/index) and write one file OUT
//   format_test_safetensors --shard IN DIR MAXBYTES read IN and write it sharded into DIR
#include <fcntl.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sqz/format.h"

#define AID_HF "../shared/refs/models/aidreams260K-hf"
#define GPT2_HF "../shared/refs/models/gpt2-tiny-random/hf"
#define STORIES_HF "../shared/refs/models/stories260K-hf"
#define AID_GGUF "../shared/refs/models/aidreams260K-gguf/aidreams260K.gguf"

static char tmpdir[64];

static const char *tmp_path(const char *name) {
    static char path[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", tmpdir, name);
    return path[k];
}

static const char *dtype_of(sqz_type t) {
    switch (t) {
    case SQZ_TYPE_F32: return "F32";
    case SQZ_TYPE_F16: return "F16";
    case SQZ_TYPE_BF16: return "BF16";
    case SQZ_TYPE_I8: return "I8";
    case SQZ_TYPE_U8: return "U8";
    case SQZ_TYPE_I16: return "I16";
    case SQZ_TYPE_I32: return "I32";
    case SQZ_TYPE_I64: return "I64";
    case SQZ_TYPE_F64: return "F64";
    default: return "?";
    }
}

static int tool(int argc, char **argv) {
    sqz_safetensors *st = NULL;
    sqz_status s = sqz_safetensors_open(&st, argv[2]);
    if (s == SQZ_OK && !strcmp(argv[1], "--dump")) {
        for (int64_t i = 0; i < sqz_safetensors_n_tensors(st); i++) {
            const sqz_tensor *t = sqz_safetensors_tensor(st, i);
            char hex[65];
            sqz_sha256_hex(t->data, t->nbytes, hex);
            printf("%s %s ", t->name, dtype_of(t->type));
            for (int d = 0; d < t->n_dims; d++)
                printf("%s%lld", d ? "," : "", (long long)t->shape[d]);
            printf(" %s\n", hex);
        }
        const char *fmt = sqz_safetensors_meta(st, "format");
        printf("__metadata__.format %s\n", fmt ? fmt : "-");
    } else if (s == SQZ_OK) {
        int64_t n = sqz_safetensors_n_tensors(st);
        sqz_tensor *ts = calloc((size_t)n + 1, sizeof *ts);
        for (int64_t i = 0; i < n; i++)
            ts[i] = *sqz_safetensors_tensor(st, i);
        static const char *const meta[] = {"format", "pt"};
        if (!strcmp(argv[1], "--copy"))
            s = sqz_safetensors_write(argv[3], ts, n, meta, 1);
        else
            s = sqz_safetensors_write_sharded(argv[3], ts, n, (size_t)atoll(argv[4]));
        free(ts);
    }
    sqz_safetensors_free(st);
    if (s != SQZ_OK)
        fprintf(stderr, "%s\n", sqz_last_error());
    return s != SQZ_OK;
}

static void test_real(void) {
    sqz_safetensors *st = NULL;
    CHECK_OK(sqz_safetensors_open(&st, AID_HF "/model.safetensors"));
    if (!st)
        return;
    CHECK(sqz_safetensors_n_tensors(st) == 38);
    const char *fmt = sqz_safetensors_meta(st, "format");
    CHECK(fmt && !strcmp(fmt, "pt"));
    CHECK(sqz_safetensors_meta(st, "nope") == NULL);
    const sqz_tensor *e = sqz_safetensors_find(st, "model.embed_tokens.weight");
    CHECK(e && e->type == SQZ_TYPE_F32 && e->n_dims == 2 && e->shape[0] == 512 && e->shape[1] == 64);
    const sqz_tensor *d = sqz_safetensors_find(st, "model.layers.3.mlp.down_proj.weight");
    CHECK(d && d->shape[0] == 64 && d->shape[1] == 172 && d->nbytes == 64 * 172 * 4);
    // Same weights as the GGUF made from the same llama2.c checkpoint (embeddings are not permuted).
    sqz_gguf *g = NULL;
    CHECK_OK(sqz_gguf_open(&g, AID_GGUF));
    const sqz_tensor *ge = g ? sqz_gguf_find_tensor(g, "token_embd.weight") : NULL;
    CHECK(e && ge && ge->nbytes == e->nbytes && !memcmp(ge->data, e->data, e->nbytes));
    const sqz_tensor *gd = g ? sqz_gguf_find_tensor(g, "blk.3.ffn_down.weight") : NULL;
    CHECK(d && gd && !memcmp(gd->data, d->data, d->nbytes));
    sqz_gguf_free(g);
    sqz_safetensors_free(st);

    const char *dirs[] = {AID_HF, GPT2_HF, STORIES_HF};
    const int64_t counts[] = {38, 28, 47};
    for (int i = 0; i < 3; i++) {
        st = NULL;
        CHECK_OK(sqz_safetensors_open(&st, dirs[i]));
        CHECK_MSG(st && sqz_safetensors_n_tensors(st) == counts[i], "%s", dirs[i]);
        sqz_safetensors_free(st);
    }
}

static bool same_tensors(const sqz_safetensors *a, const sqz_safetensors *b) {
    if (sqz_safetensors_n_tensors(a) != sqz_safetensors_n_tensors(b))
        return false;
    for (int64_t i = 0; i < sqz_safetensors_n_tensors(a); i++) {
        const sqz_tensor *x = sqz_safetensors_tensor(a, i), *y = sqz_safetensors_find(b, x->name);
        if (!y || x->type != y->type || x->n_dims != y->n_dims || memcmp(x->shape, y->shape, sizeof x->shape) ||
            x->nbytes != y->nbytes || memcmp(x->data, y->data, x->nbytes))
            return false;
    }
    return true;
}

static void test_writer(void) {
    sqz_safetensors *src = NULL, *back = NULL;
    CHECK_OK(sqz_safetensors_open(&src, AID_HF));
    if (!src)
        return;
    int64_t n = sqz_safetensors_n_tensors(src);
    sqz_tensor *ts = calloc((size_t)n, sizeof *ts);
    for (int64_t i = 0; i < n; i++)
        ts[i] = *sqz_safetensors_tensor(src, n - 1 - i); // reversed order
    const char *meta[] = {"format", "pt", "note", "written by sqz"};
    const char *one = tmp_path("one.safetensors");
    CHECK_OK(sqz_safetensors_write(one, ts, n, meta, 2));
    CHECK_OK(sqz_safetensors_open(&back, one));
    CHECK(back && same_tensors(src, back));
    CHECK(back && sqz_safetensors_tensor(back, 0) && !strcmp(sqz_safetensors_tensor(back, 0)->name, ts[0].name));
    CHECK(back && sqz_safetensors_meta(back, "note") && !strcmp(sqz_safetensors_meta(back, "note"), "written by sqz"));
    sqz_safetensors_free(back);
    // Header padded with spaces to a multiple of 8, as the reference writer does.
    char *buf = NULL;
    size_t len = 0;
    CHECK_OK(sqz_read_file(one, &buf, &len));
    uint64_t hl = 0;
    if (buf)
        memcpy(&hl, buf, 8);
    CHECK(hl % 8 == 0 && hl < len && buf[8] == '{' && (buf[8 + hl - 1] == ' ' || buf[8 + hl - 1] == '}'));
    free(buf);

    // Sharded: 100 KB shards → several files + index; reading the directory gives the same tensors.
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tmp_path("sharded"));
    CHECK_OK(sqz_safetensors_write_sharded(dir, ts, n, 100000));
    CHECK(access(tmp_path("sharded/model.safetensors.index.json"), F_OK) == 0);
    CHECK(access(tmp_path("sharded/model-00001-of-00011.safetensors"), F_OK) == 0);
    CHECK(access(tmp_path("sharded/model-00011-of-00011.safetensors"), F_OK) == 0);
    back = NULL;
    CHECK_OK(sqz_safetensors_open(&back, dir));
    CHECK(back && same_tensors(src, back));
    sqz_safetensors_free(back);
    back = NULL;
    CHECK_OK(sqz_safetensors_open(&back, tmp_path("sharded/model.safetensors.index.json")));
    CHECK(back && same_tensors(src, back));
    sqz_safetensors_free(back);
    // Everything fits one shard → a single model.safetensors, no index.
    const char *dir1 = tmp_path("single");
    CHECK_OK(sqz_safetensors_write_sharded(dir1, ts, n, 1u << 30));
    CHECK(access(tmp_path("single/model.safetensors"), F_OK) == 0);
    CHECK(access(tmp_path("single/model.safetensors.index.json"), F_OK) != 0);

    sqz_tensor bad = ts[0];
    bad.type = SQZ_TYPE_Q4_0;
    CHECK_ERR(sqz_safetensors_write(tmp_path("bad.safetensors"), &bad, 1, NULL, 0), SQZ_ERR_UNSUPPORTED, "q4_0");
    bad = ts[0];
    bad.nbytes -= 4;
    CHECK_ERR(sqz_safetensors_write(tmp_path("bad.safetensors"), &bad, 1, NULL, 0), SQZ_ERR_ARG, "nbytes");
    sqz_tensor dup[2] = {ts[0], ts[0]};
    CHECK_ERR(sqz_safetensors_write(tmp_path("bad.safetensors"), dup, 2, NULL, 0), SQZ_ERR_ARG, "duplicate");
    free(ts);
    sqz_safetensors_free(src);
}

// ---- bad input -----------------------------------------------------------------------------------
// Write a safetensors file with the given header text and `data_len` bytes of data.
static const char *make_st(const char *name, const char *header, size_t data_len) {
    const char *p = tmp_path(name);
    FILE *f = fopen(p, "wb");
    uint64_t hl = strlen(header);
    fwrite(&hl, 8, 1, f);
    fwrite(header, 1, hl, f);
    for (size_t i = 0; i < data_len; i++)
        fputc(0, f);
    fclose(f);
    return p;
}

static void expect_bad(const char *header, size_t data_len, sqz_status code, const char *needle) {
    const char *p = make_st("bad.safetensors", header, data_len);
    sqz_safetensors *st = NULL;
    sqz_status s = sqz_safetensors_open(&st, p);
    CHECK_MSG(s == code && strstr(sqz_last_error(), needle) && strstr(sqz_last_error(), "bad.safetensors"),
              "header %s: status %d, message '%s'", header, (int)s, sqz_last_error());
    sqz_safetensors_free(st);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_bad(void) {
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}";
    sqz_safetensors *st = NULL;
    CHECK_OK(sqz_safetensors_open(&st, make_st("ok.safetensors", ok, 24)));
    sqz_safetensors_free(st);
    expect_bad(ok, 20, SQZ_ERR_FORMAT, "tensor 'a': extends past end of file (data_offsets [0, 24], data section 20");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\n\"data_offsets\":[0,24],}}", 24, SQZ_ERR_FORMAT,
               "line 2, column");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24, SQZ_ERR_FORMAT,
               "need 24");
    expect_bad("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, SQZ_ERR_UNSUPPORTED,
               "tensor 'a': unsupported dtype 'F8_E4M3'");
    expect_bad("{\"flag\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, SQZ_ERR_UNSUPPORTED,
               "tensor 'flag': unsupported dtype 'BOOL'");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               12, SQZ_ERR_FORMAT, "overlap");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, SQZ_ERR_FORMAT, "end before");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, SQZ_ERR_FORMAT,
               "non-negative");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
               16, SQZ_ERR_FORMAT, "duplicate");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}",
               8, SQZ_ERR_FORMAT, "overflow");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, SQZ_ERR_UNSUPPORTED,
               "5 dimensions");
    expect_bad("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, SQZ_ERR_FORMAT, "dtype");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, SQZ_ERR_FORMAT, "data_offsets");
    expect_bad("[1,2]", 0, SQZ_ERR_FORMAT, "not an object");
    expect_bad("{\"__metadata__\":{\"x\":1}}", 0, SQZ_ERR_FORMAT, "__metadata__ value of 'x'");
    expect_bad("", 0, SQZ_ERR_FORMAT, "header JSON");

    // Length field: larger than the file, absurd, file shorter than 8 bytes.
    const char *p = tmp_path("len.safetensors");
    FILE *f = fopen(p, "wb");
    uint64_t hl = 1ull << 40;
    fwrite(&hl, 8, 1, f);
    fputs("{}", f);
    fclose(f);
    CHECK_ERR(sqz_safetensors_open(&st, p), SQZ_ERR_FORMAT, "exceeds the file size");
    f = fopen(p, "wb");
    fputs("abc", f);
    fclose(f);
    CHECK_ERR(sqz_safetensors_open(&st, p), SQZ_ERR_FORMAT, "too short");
    // A 101 MB header length inside a (sparse) 120 MB file hits the 100 MB limit, not malloc.
    int fd = open(p, O_WRONLY | O_TRUNC);
    hl = 101u * 1000u * 1000u;
    CHECK(fd >= 0 && write(fd, &hl, 8) == 8 && ftruncate(fd, 120u * 1000u * 1000u) == 0);
    close(fd);
    CHECK_ERR(sqz_safetensors_open(&st, p), SQZ_ERR_FORMAT, "100 MB");
    unlink(p);

    // Sharded index problems.
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tmp_path("idx"));
    mkdir(dir, 0755);
    make_st("idx/s1.safetensors", ok, 24);
    write_text(tmp_path("idx/model.safetensors.index.json"), "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s1.safetensors\"}}");
    CHECK_ERR(sqz_safetensors_open(&st, dir), SQZ_ERR_NOT_FOUND, "tensor 'b' listed in weight_map is missing");
    write_text(tmp_path("idx/model.safetensors.index.json"), "{\"weight_map\":{\"a\":\"../s1.safetensors\"}}");
    CHECK_ERR(sqz_safetensors_open(&st, dir), SQZ_ERR_FORMAT, "not a file name");
    write_text(tmp_path("idx/model.safetensors.index.json"), "{\"weight_map\":{\"a\":\"s2.safetensors\"}}");
    CHECK_ERR(sqz_safetensors_open(&st, dir), SQZ_ERR_IO, "s2.safetensors");
    write_text(tmp_path("idx/model.safetensors.index.json"), "{\"weight_map\":{\"a\":\"s1.safetensors\"},}");
    CHECK_ERR(sqz_safetensors_open(&st, dir), SQZ_ERR_FORMAT, "line 1, column");
    make_st("idx/s2.safetensors", "{\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                                  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
    write_text(tmp_path("idx/model.safetensors.index.json"),
               "{\"weight_map\":{\"a\":\"s1.safetensors\",\"c\":\"s2.safetensors\"}}");
    CHECK_ERR(sqz_safetensors_open(&st, dir), SQZ_ERR_FORMAT, "tensor 'a' appears in both");
    make_st("idx/s2.safetensors", "{\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                                  "\"d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
    CHECK_ERR(sqz_safetensors_open(&st, dir), SQZ_ERR_FORMAT, "weight_map lists 2");
    write_text(tmp_path("idx/model.safetensors.index.json"),
               "{\"weight_map\":{\"a\":\"s1.safetensors\",\"c\":\"s2.safetensors\",\"d\":\"s1.safetensors\"}}");
    CHECK_ERR(sqz_safetensors_open(&st, dir), SQZ_ERR_FORMAT, "'d' is listed in s1.safetensors but stored in s2");
    write_text(tmp_path("idx/model.safetensors.index.json"),
               "{\"weight_map\":{\"a\":\"s1.safetensors\",\"c\":\"s2.safetensors\",\"d\":\"s2.safetensors\"}}");
    st = NULL;
    CHECK_OK(sqz_safetensors_open(&st, dir));
    CHECK(st && sqz_safetensors_n_tensors(st) == 3 && sqz_safetensors_find(st, "d"));
    sqz_safetensors_free(st);
    CHECK_ERR(sqz_safetensors_open(&st, tmpdir), SQZ_ERR_NOT_FOUND, "no model.safetensors");
}

int main(int argc, char **argv) {
    if ((argc == 3 && !strcmp(argv[1], "--dump")) || (argc == 4 && !strcmp(argv[1], "--copy")) ||
        (argc == 5 && !strcmp(argv[1], "--shard")))
        return tool(argc, argv);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sqz_test_st_XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    test_real();
    test_writer();
    test_bad();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_summary();
}

// Variants of a sweep: the baseline is the model file itself; a recipe's variant is compressed
// once into OUT/<model>/<recipe name>/ and reused while its manifest still matches. Also the
// per-model KL baseline file and content hashes.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "eval/sweep_run.h"
#include "sqz/compress.h"
#include "sqz/format.h"

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static sqz_status file_sha256(const char *path, char hex[65], int64_t *bytes) {
    sqz_mmap m = {0};
    SQZ_TRY(sqz_mmap_open(&m, path));
    sqz_sha256_hex(m.data ? (const void *)m.data : "", m.size, hex);
    *bytes = (int64_t)m.size;
    sqz_mmap_close(&m);
    return SQZ_OK;
}

static sqz_status list_dir(const char *path, char ***names, size_t *n) {
    DIR *d = opendir(path);
    SQZ_FAIL_IF(!d, SQZ_ERR_IO, "%s: cannot list: %s", path, strerror(errno));
    *names = NULL, *n = 0;
    sqz_status st = SQZ_OK;
    for (struct dirent *e; st == SQZ_OK && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char **g = realloc(*names, (*n + 1) * sizeof **names);
        if (!g || !(g[*n] = strdup(e->d_name)))
            st = sqz_error(SQZ_ERR_NOMEM, "out of memory");
        if (g)
            *names = g, *n += st == SQZ_OK;
    }
    closedir(d);
    if (*n)
        qsort(*names, *n, sizeof **names, cmp_str);
    return st;
}

sqz_status sweep_path_sha256(const char *path, char hex[65], int64_t *bytes) {
    struct stat sb;
    SQZ_FAIL_IF(stat(path, &sb) != 0, SQZ_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return file_sha256(path, hex, bytes);
    char **names = NULL, *acc = NULL;
    size_t n = 0, acc_len = 0;
    sqz_status st = list_dir(path, &names, &n);
    FILE *f = st == SQZ_OK ? open_memstream(&acc, &acc_len) : NULL;
    if (st == SQZ_OK && !f)
        st = sqz_error(SQZ_ERR_NOMEM, "out of memory");
    *bytes = 0;
    for (size_t i = 0; st == SQZ_OK && i < n; i++) {
        char p[SWEEP_PATH], h[65];
        int64_t b = 0;
        snprintf(p, sizeof p, "%s/%s", path, names[i]);
        if (lstat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) // links (the manifest link) are not content
            continue;
        st = file_sha256(p, h, &b);
        *bytes += b;
        fprintf(f, "%s\n%s\n", names[i], h);
    }
    if (f)
        fclose(f);
    if (st == SQZ_OK)
        sqz_sha256_hex(acc ? acc : "", acc_len, hex);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names), free(acc);
    return st;
}

double sweep_file_bpw(const char *path) {
    sqz_model_file *mf = NULL;
    if (sqz_model_file_open(&mf, path) != SQZ_OK) {
        sqz_error_clear();
        return 0;
    }
    double bits = 0, nel = 0;
    for (int64_t i = 0; i < sqz_model_file_n_tensors(mf); i++) {
        const sqz_tensor *t = sqz_model_file_tensor(mf, i);
        if (t->n_dims >= 2)
            bits += 8.0 * (double)t->nbytes, nel += (double)sqz_tensor_nelements(t);
    }
    sqz_model_file_free(mf);
    return nel > 0 ? bits / nel : 0;
}

// mkdir -p
static sqz_status make_dirs(const char *path) {
    char p[SWEEP_PATH];
    SQZ_FAIL_IF(strlen(path) >= sizeof p, SQZ_ERR_ARG, "%s: path too long", path);
    strcpy(p, path);
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c)
            continue;
        char save = *c;
        *c = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            return sqz_error(SQZ_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
        if (!(*c = save))
            break;
    }
    return SQZ_OK;
}

// File name from a display name: letters, digits, '.', '-', '_' kept, anything else '_'.
static void safe_name(const char *name, char *out, size_t size) {
    size_t i = 0;
    for (; name[i] && i + 1 < size; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                  ch == '-' || ch == '_';
        out[i] = ok && !(i == 0 && ch == '.') ? ch : '_';
    }
    out[i] = 0;
}

static int64_t calib_n(const sweep *s) { return s->o->calib_n > 0 ? s->o->calib_n : 32; }
static int64_t calib_len(const sweep *s) { return s->o->calib_len > 0 ? s->o->calib_len : 256; }

// out = a + b; false when it does not fit.
static bool join(char *out, size_t size, const char *a, const char *b) {
    return (size_t)snprintf(out, size, "%s%s", a, b) < size;
}

// Whether hf/config.json (under dir) has a sparsity_config: pruned linears stored in sqz's N:M layouts,
// which the engine runs sparse; model.gguf holds the same weights dense (zeros stored and multiplied).
static bool hf_is_sparse(const char *dir) {
    char p[SWEEP_PATH + 32];
    if (!join(p, sizeof p, dir, "/hf/config.json"))
        return false;
    json_t *cfg = json_load_file(p, 0, NULL);
    bool sparse = cfg && json_is_object(json_object_get(cfg, "sparsity_config"));
    json_decref(cfg);
    return sparse;
}

// The file the engine loads from a variant directory: hf/ when it stores pruned linears sparse (that is
// what saves bytes and time), else model.gguf when written, else hf/.
static bool variant_load_path(const char *dir, char *out, size_t size) {
    struct stat sb;
    char gguf[SWEEP_PATH + 16];
    bool hf = join(out, size, dir, "/hf") && stat(out, &sb) == 0 && S_ISDIR(sb.st_mode); // out = hf/
    if (hf && hf_is_sparse(dir))
        return true;
    if (join(gguf, sizeof gguf, dir, "/model.gguf") && stat(gguf, &sb) == 0 && S_ISREG(sb.st_mode))
        return join(out, size, gguf, "");
    return hf;
}

// Whether dir holds a finished variant of (recipe, source): the manifest is written last, so its
// presence means the files before it are complete.
static bool manifest_matches(sweep *s, const sweep_model *m, sweep_variant *v, char **text) {
    char p[SWEEP_PATH + 16];
    *text = NULL;
    if (!join(p, sizeof p, v->dir, "/manifest.json") || sqz_read_file(p, text, NULL) != SQZ_OK) {
        sqz_error_clear();
        return false;
    }
    json_t *j = json_loads(*text, 0, NULL), *cal = json_object_get(j, "calibration");
    const char *recipe = json_string_value(json_object_get(j, "recipe"));
    const char *src = json_string_value(json_object_get(j, "source_sha256"));
    bool ok = recipe && src && !strcmp(recipe, v->r->canonical) && !strcmp(src, m->sha256);
    if (ok && json_is_object(cal))
        ok = json_integer_value(json_object_get(cal, "n_seq")) == calib_n(s) &&
             json_integer_value(json_object_get(cal, "seq_len")) == calib_len(s);
    json_decref(j);
    if (ok)
        ok = variant_load_path(v->dir, v->path, sizeof v->path);
    if (!ok)
        free(*text), *text = NULL;
    return ok;
}

typedef struct compress_cb {
    sweep *s;
} compress_cb;

static void on_compress(void *user, const sqz_compress_progress *p) {
    sweep *s = ((compress_cb *)user)->s;
    s->prog.items_done = (size_t)(p->layer + 1), s->prog.items_total = (size_t)p->n_layer;
    sweep_progress(s, false);
}

static sqz_status compress_variant(sweep *s, const sweep_model *m, sweep_variant *v) {
    char p[SWEEP_PATH + 16];
    snprintf(p, sizeof p, "%s/manifest.json", v->dir);
    if (unlink(p) != 0 && errno != ENOENT) // a stale manifest must not vouch for half-written files
        return sqz_error(SQZ_ERR_IO, "%s: cannot remove: %s", p, strerror(errno));
    compress_cb cb = {s};
    sqz_compress_opts co = {.recipe = v->r->text, .calib_path = s->o->calib_path ? s->o->calib_path : SQZ_CALIB_DEFAULT_PATH,
                            .calib_n = calib_n(s), .calib_len = calib_len(s), .seed = s->plan->seed,
                            .n_threads = s->o->n_threads, .progress = on_compress, .user = &cb};
    s->prog.phase = "compress", s->prog.items_done = s->prog.items_total = 0;
    sweep_progress(s, true);
    sqz_compressed *cc = NULL;
    sqz_status st = sqz_compress(m->m->path, &co, &cc);
    if (st == SQZ_OK)
        st = sqz_compressed_save(cc, v->dir, SQZ_SAVE_ALL);
    sqz_compressed_free(cc);
    SQZ_TRY(st);
    char *text = NULL;
    SQZ_FAIL_IF(!manifest_matches(s, m, v, &text), SQZ_ERR_FORMAT,
                "%s: the compressed variant's manifest does not match recipe '%s'", v->dir, v->r->canonical);
    free(text);
    return SQZ_OK;
}

// sqz eval reads a model file's recipe from <file>.manifest.json: link it next to model.gguf. (Not
// into hf/: a link there would change the directory's size and hash, which sqz eval measures.)
static void link_manifest(const sweep_variant *v) {
    char link[SWEEP_PATH + 32];
    struct stat sb;
    if (stat(v->path, &sb) != 0 || S_ISDIR(sb.st_mode))
        return;
    snprintf(link, sizeof link, "%s.manifest.json", v->path);
    unlink(link);
    if (symlink("manifest.json", link) != 0)
        (void)0; // only a convenience for running `sqz eval` on the variant by hand
}

sqz_status sweep_variant_prepare(sweep *s, const sweep_model *m, const sqz_sweep_recipe *r, sweep_variant *v) {
    *v = (sweep_variant){.r = r};
    if (!strcmp(r->canonical, SQZ_RECIPE_NONE)) {
        snprintf(v->path, sizeof v->path, "%s", m->m->path);
        memcpy(v->sha256, m->sha256, sizeof v->sha256);
        v->bytes = m->bytes;
        v->bpw = sweep_file_bpw(v->path);
        return SQZ_OK;
    }
    char mname[256], rname[256];
    safe_name(m->m->name, mname, sizeof mname);
    safe_name(r->name, rname, sizeof rname);
    SQZ_FAIL_IF((size_t)snprintf(v->dir, sizeof v->dir, "%s/%s/%s", s->out_dir, mname, rname) >= sizeof v->dir,
                SQZ_ERR_ARG, "%s: variant path too long", s->out_dir);
    SQZ_TRY(make_dirs(v->dir));
    v->reused = manifest_matches(s, m, v, &v->manifest_json);
    if (!v->reused) {
        sqz_status st = compress_variant(s, m, v);
        if (st != SQZ_OK)
            (void)rmdir(v->dir); // a recipe that failed leaves no empty folder behind (fails if not empty)
        SQZ_TRY(st);
        s->sum->variants_compressed++;
    } else {
        s->sum->variants_reused++;
    }
    if (!v->manifest_json) {
        char p[SWEEP_PATH + 16];
        snprintf(p, sizeof p, "%s/manifest.json", v->dir);
        SQZ_TRY(sqz_read_file(p, &v->manifest_json, NULL));
    }
    link_manifest(v);
    SQZ_TRY(sweep_path_sha256(v->path, v->sha256, &v->bytes));
    // Bits per weight as stored, from the manifest (the engine may hold integer weights unpacked).
    json_t *j = json_loads(v->manifest_json, 0, NULL);
    json_t *bpw = json_object_get(j, "linear_bits_per_weight");
    v->bpw = json_is_number(bpw) ? json_number_value(bpw) : sweep_file_bpw(v->path);
    json_decref(j);
    return SQZ_OK;
}

void sweep_variant_clear(sweep_variant *v) {
    free(v->manifest_json);
    v->manifest_json = NULL;
}

static void on_kl_item(void *user, const char *task, size_t done, size_t total) {
    (void)task;
    sweep *s = user;
    s->prog.items_done = done, s->prog.items_total = total;
    sweep_progress(s, false);
}

sqz_status sweep_kl_baseline(sweep *s, sweep_model *m, int64_t limit) {
    if (m->kl_path[0])
        return SQZ_OK;
    const sqz_sweep_plan *p = s->plan;
    int top_k = s->o->kl_top_k > 0 ? s->o->kl_top_k : 32;
    char mname[256], dir[SWEEP_PATH + 256], path[SWEEP_PATH + 512];
    safe_name(m->m->name, mname, sizeof mname);
    snprintf(dir, sizeof dir, "%s/%s", s->out_dir, mname);
    SQZ_TRY(make_dirs(dir));
    // Everything the file depends on is in its name: the model's content, the chunks, top-k.
    SQZ_FAIL_IF((size_t)snprintf(path, sizeof path, "%s/kl-base-%.16s-chunks%lld-top%d.bin", dir, m->sha256,
                                 (long long)limit, top_k) >= sizeof m->kl_path,
                SQZ_ERR_ARG, "%s: path too long", dir);
    struct stat sb;
    if (stat(path, &sb) != 0) { // written atomically by the runner: present means complete
        const char *tasks[] = {"divergence"};
        sqz_eval_opts eo = {.model = m->m->path, .tasks = tasks, .n_tasks = 1,
                            .task = {.data_dir = s->data_dir, .limit = limit, .seed = p->seed},
                            .n_threads = s->o->n_threads, .kl_base_out = path, .kl_top_k = top_k,
                            .progress = on_kl_item, .user = s};
        s->prog.phase = "kl-baseline", s->prog.items_done = s->prog.items_total = 0;
        sweep_progress(s, true);
        sqz_eval_result res;
        SQZ_TRY_CTX(sqz_eval_run(&eo, &res), "KL baseline of %s: ", m->m->name);
        sqz_eval_result_clear(&res);
    }
    int64_t bytes;
    SQZ_TRY(file_sha256(path, m->kl_sha256, &bytes));
    memcpy(m->kl_path, path, strlen(path) + 1);
    return SQZ_OK;
}

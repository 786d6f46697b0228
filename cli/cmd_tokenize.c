// sqz tokenize MODEL [--no-bos] [--no-parse-special] [--pieces] [--batch] [--file F | TEXT]
// Prints the token ids of a text as one line of space-separated integers.
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f, "usage: sqz tokenize MODEL [--no-bos] [--no-parse-special] [--pieces] [--batch] [--file F | TEXT]\n"
               "  MODEL               an HF directory, a tokenizer.json or a .gguf\n"
               "  --no-bos            do not add the special tokens (BOS/EOS) the tokenizer declares\n"
               "  --no-parse-special  treat special-token text in the input as plain text\n"
               "  --pieces            print one vocabulary piece per line (escaped) instead of ids\n"
               "  --file F            tokenize the contents of F ('-' = stdin)\n"
               "  --batch             the input holds several texts separated by NUL bytes: one line of\n"
               "                      ids per text\n");
}

static void print_escaped(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\')
            fputs("\\\\", stdout);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('\n');
}

static int print_one(const sqz_tokenizer *t, const char *text, size_t len, unsigned flags, int pieces) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (sqz_tokenizer_encode_ex(t, text, len, flags, &ids, &n) != SQZ_OK)
        return cli_fail("tokenize");
    for (size_t i = 0; i < n; i++) {
        if (pieces) {
            size_t pl = 0;
            const char *p = sqz_tokenizer_piece(t, ids[i], &pl);
            print_escaped(p, pl);
        } else {
            printf(i ? " %d" : "%d", (int)ids[i]);
        }
    }
    if (!pieces)
        putchar('\n');
    free(ids);
    return 0;
}

static int read_input(const char *file, char **data, size_t *len) {
    if (strcmp(file, "-") != 0)
        return sqz_read_file(file, data, len) == SQZ_OK ? 0 : cli_fail("tokenize");
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, stdin)) > 0;) {
        n += got;
        if (n == cap) {
            char *p = realloc(buf, cap * 2 + 1);
            if (!p)
                break;
            buf = p;
            cap *= 2;
        }
    }
    if (!buf) {
        fprintf(stderr, "sqz tokenize: out of memory\n");
        return 1;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

int sqz_cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *text = NULL;
    unsigned flags = SQZ_TOK_ADD_SPECIAL;
    int pieces = 0, batch = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--no-bos")) {
            flags &= ~(unsigned)SQZ_TOK_ADD_SPECIAL;
        } else if (!strcmp(argv[i], "--no-parse-special")) {
            flags |= SQZ_TOK_NO_PARSE_SPECIAL;
        } else if (!strcmp(argv[i], "--pieces")) {
            pieces = 1;
        } else if (!strcmp(argv[i], "--batch")) {
            batch = 1;
        } else if (!strcmp(argv[i], "--file")) {
            if (++i >= argc)
                return cli_usage_error("tokenize", "--file needs a file name");
            file = argv[i];
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            return cli_usage_error("tokenize", "unknown option '%s' (see sqz tokenize --help)", argv[i]);
        } else if (!model) {
            model = argv[i];
        } else if (!text) {
            text = argv[i];
        } else {
            return cli_usage_error("tokenize", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!model || (!text && !file) || (text && file)) {
        usage(stderr);
        return 2;
    }
    sqz_tokenizer *t = NULL;
    if (sqz_tokenizer_load(&t, model) != SQZ_OK)
        return cli_fail("tokenize");
    char *data = NULL;
    size_t len = 0;
    int rc = 0;
    if (file)
        rc = read_input(file, &data, &len);
    else {
        data = strdup(text);
        len = strlen(text);
    }
    if (rc == 0 && !batch)
        rc = print_one(t, data, len, flags, pieces);
    for (size_t a = 0; rc == 0 && batch && a <= len;) { // n NULs separate n + 1 texts
        const char *e = memchr(data + a, 0, len - a);
        size_t b = e ? (size_t)(e - data) : len;
        rc = print_one(t, data + a, b - a, flags, pieces);
        a = b + 1;
    }
    free(data);
    sqz_tokenizer_free(t);
    return rc;
}

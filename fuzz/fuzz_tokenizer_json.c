// libFuzzer target: the input is a tokenizer.json. If it loads, encode a fixed string and a slice of
// the input itself, decode the ids (whole and streamed), and check the streamed text equals decode.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sqz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const sqz_tokenizer *t, const char *text, size_t len) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (sqz_tokenizer_encode(t, text, len, true, &ids, &n) != SQZ_OK)
        return;
    char *s = NULL;
    size_t sl = 0;
    if (sqz_tokenizer_decode(t, ids, n, false, &s, &sl) == SQZ_OK) {
        sqz_detok *d = NULL;
        size_t at = 0;
        if (sqz_detok_new(&d, t, false) == SQZ_OK) {
            const char *p;
            size_t pl;
            for (size_t i = 0; i <= n; i++) {
                sqz_status st = i < n ? sqz_detok_push(d, ids[i], &p, &pl) : sqz_detok_flush(d, &p, &pl);
                if (st != SQZ_OK)
                    abort();
                if (at + pl > sl || memcmp(s + at, p, pl) != 0)
                    abort(); // streamed text must equal the whole decode
                at += pl;
            }
            if (at != sl)
                abort();
        }
        sqz_detok_free(d);
    }
    free(s);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sqz_tokenizer *t = NULL;
    if (sqz_tokenizer_from_json(&t, (const char *)data, size, "fuzz.json") != SQZ_OK)
        return 0;
    static const char text[] = "Hello  world!\n\tdef f(x): return 12345 # h\xC3\xA9llo \xF0\x9F\x98\x80 <s> \xE2\x96\x81";
    exercise(t, text, sizeof text - 1);
    exercise(t, (const char *)data, size < 256 ? size : 256);
    sqz_tokenizer_free(t);
    return 0;
}

// CodeBLEU speed: the 1,000-line CodeXGLUE C# test set against a corrupted copy of itself (every
// 7th token renamed, every 11th dropped), both flavors. Run from the project root:
//   build/bench/codebleu [path-to-test.java-cs.txt.cs]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqz/codebleu.h"

static char *corrupt(const char *s, int seed) {
    size_t n = strlen(s);
    char *o = malloc(2 * n + 2), *p = o;
    int tok = seed;
    for (size_t i = 0; i < n;) {
        if (s[i] == ' ') {
            *p++ = s[i++];
            continue;
        }
        size_t j = i;
        while (j < n && s[j] != ' ')
            j++;
        tok++;
        if (tok % 11 != 0) {
            memcpy(p, s + i, j - i);
            p += j - i;
            if (tok % 7 == 0)
                *p++ = 'X';
        }
        i = j;
    }
    *p = 0;
    return o;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "../shared/data/datasets/codexglue-code2code-trans/data/test.java-cs.txt.cs";
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    char **refs = NULL, **hyps = NULL, *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        refs = realloc(refs, (n + 1) * sizeof *refs);
        hyps = realloc(hyps, (n + 1) * sizeof *hyps);
        refs[n] = strdup(line);
        hyps[n] = corrupt(line, (int)n);
        n++;
    }
    free(line);
    fclose(f);
    for (int fl = 0; fl < 2; fl++) {
        sqz_codebleu_result r;
        double t0 = sqz_time_now();
        sqz_status st = sqz_codebleu_corpus("c_sharp", (sqz_codebleu_flavor)fl, NULL, (const char *const *)hyps,
                                            (const char *const *)refs, (int64_t)n, 1, &r);
        double dt = sqz_time_now() - t0;
        if (st != SQZ_OK) {
            fprintf(stderr, "codebleu: %s\n", sqz_last_error());
            return 1;
        }
        printf("codebleu %-9s %zu lines: %.3f s  (codebleu %.4f ngram %.4f weighted %.4f syntax %.4f dataflow %.4f)\n",
               fl ? "codexglue" : "pypi", n, dt, r.codebleu, r.ngram_match, r.weighted_ngram_match, r.syntax_match,
               r.dataflow_match);
    }
    for (size_t i = 0; i < n; i++) {
        free(refs[i]);
        free(hyps[i]);
    }
    free(refs);
    free(hyps);
    return 0;
}

// Internals of the eval module shared between its files.
#ifndef SQZ_EVAL_INTERNAL_H
#define SQZ_EVAL_INTERNAL_H

#include "sqz/codebleu.h"
#include "sqz/eval.h"
#include "sqz/sandbox.h"

struct sqz_task {
    char *name;
    sqz_eval_kind kind;
    sqz_task_item *items; // owned strings
    char **item_tests;    // [n_items] MBPP: setup + asserts appended to the program; else NULL
    size_t n_items, cap;
    const char *const *stops;
    bool keep_brace;      // keep the matched "\n}" (HumanEval-X cpp/java/js)
    bool stop_toplevel;   // completion: stop at the first new top-level line
    int max_tokens;
    const char *code_lang; // CodeBLEU language
    sqz_code_task *code;   // the sandbox benchmark behind an exec task (NULL for MBPP)
    size_t *code_index;    // [n_items] problem index in `code`
    int64_t limit;
    uint64_t seed;
    int completion_k;
    double timeout_s;      // exec tasks: sandbox limit per run (0 = the language's default)
};

sqz_codebleu_flavor sqz_task_codebleu_flavor(const sqz_task *t);

#endif

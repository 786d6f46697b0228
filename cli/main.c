// sqz: one program, subcommands following the pipeline (DESIGN.md §1).
// The table lists every subcommand; each is defined in cli/cmd_<name>.c. Commands are weak
// references so the table can name a command whose file is not in this build (it then reports
// "not available in this build" instead of failing to link).
#include <string.h>

#include "cli.h"

#define SQZ_COMMANDS(X)                                                                            \
    X(info, "show a model's architecture, sizes, dtypes and tokenizer")                            \
    X(tokenize, "print the token ids of a text")                                                   \
    X(generate, "generate a continuation of a prompt")                                             \
    X(logits, "print or dump the logits of a token sequence")                                      \
    X(perplexity, "perplexity of a text file (llama-perplexity chunking)")                         \
    X(bench, "prompt-processing and generation speed (llama-bench style)")                         \
    X(convert, "convert between HF directory and GGUF")                                            \
    X(synth, "make a random-weight model of a real shape")                                         \
    X(compress, "make a compressed variant from a recipe")                                         \
    X(score, "text and code metrics (BLEU, chrF, ROUGE, METEOR, CodeBLEU, ...)")                   \
    X(check, "run generated code against a task's tests in the sandbox (pass@k)")                  \
    X(eval, "evaluate a model or variant on tasks")                                                \
    X(sweep, "models x recipes x tasks from one config file")                                      \
    X(report, "CSV/JSON/Markdown/PDF report from a results database")                              \
    X(train, "pretrain, distill or LoRA-train a model")                                            \
    X(serve, "OpenAI-compatible server, router and dashboard")

#define DECLARE(name, help) extern int sqz_cmd_##name(int argc, char **argv) __attribute__((weak));
SQZ_COMMANDS(DECLARE)

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} command;

#define ENTRY(name, help) {#name, sqz_cmd_##name, help},
static const command commands[] = {SQZ_COMMANDS(ENTRY)};

static void usage(FILE *f) {
    fprintf(f, "sqz %s — LLM compression trade-off evaluator\n\nusage: sqz <command> [options]\n\n",
            SQZ_VERSION_STRING);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (commands[i].fn)
            fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nRun 'sqz <command> --help' for a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("sqz %s\n", SQZ_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        if (!commands[i].fn) {
            fprintf(stderr, "sqz: command '%s' is not available in this build\n", argv[1]);
            return 2;
        }
        return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "sqz: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}

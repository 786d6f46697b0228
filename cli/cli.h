// Shared helpers for the sqz program. Only cli/ prints and exits; libsqz never does.
#ifndef SQZ_CLI_H
#define SQZ_CLI_H

#include <stdio.h>
#include <stdlib.h>

#include "sqz.h"

// Each subcommand lives in cli/cmd_<name>.c as `int sqz_cmd_<name>(int argc, char **argv)`, where
// argv[0] is the subcommand name. It returns the process exit code (0 ok, 1 error, 2 usage).

// Every subcommand, in the order `sqz --help` lists them: X(name, one-line help).
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
    X(train, "pretrain, distill or LoRA-train a model")

#define SQZ_CMD_DECLARE(name, help) int sqz_cmd_##name(int argc, char **argv);
SQZ_COMMANDS(SQZ_CMD_DECLARE)

// Print "sqz <cmd>: <last library error>" to stderr and return 1 (use: return cli_fail("info");).
int cli_fail(const char *cmd);
// Print "sqz <cmd>: <message>" to stderr and return 2 (usage errors).
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Parse helpers: strict; on garbage they print a usage error naming the option and return false.
int cli_parse_int(const char *cmd, const char *opt, const char *s, long long *out);
int cli_parse_double(const char *cmd, const char *opt, const char *s, double *out);

#endif

// sqz: one program, subcommands following the pipeline (DESIGN.md §1).
// The table (SQZ_COMMANDS in cli.h) lists every subcommand; each is defined in cli/cmd_<name>.c.
#include <string.h>

#include "cli.h"

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
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "sqz: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}

// sqz: one program, subcommands following the pipeline (DESIGN.md §1).
// The table (SQZ_COMMANDS in cli.h) lists every subcommand; each is defined in cli/cmd_<name>.c.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

// OpenBLAS reads OPENBLAS_CORETYPE only while it is loaded: when its own kernel choice is weaker than
// this CPU runs (an OpenBLAS older than the CPU), run again with the variable set — once, since it is
// then set. If the re-execution fails, carry on with the slower kernels.
static void rerun_for_blas(char **argv) {
    const char *core = sqz_blas_coretype_wanted();
    if (core && setenv("OPENBLAS_CORETYPE", core, 1) == 0)
        execv("/proc/self/exe", argv);
}

int main(int argc, char **argv) {
    rerun_for_blas(argv);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("sqz %s\nmachine: %s\n", SQZ_VERSION_STRING, sqz_compute_env());
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

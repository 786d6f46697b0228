// Shared helpers for the sqz program. Only cli/ prints and exits; libsqz never does.
#ifndef SQZ_CLI_H
#define SQZ_CLI_H

#include <stdio.h>
#include <stdlib.h>

#include "sqz.h"

// Each subcommand lives in cli/cmd_<name>.c as `int sqz_cmd_<name>(int argc, char **argv)`, where
// argv[0] is the subcommand name. It returns the process exit code (0 ok, 1 error, 2 usage).

// Print "sqz <cmd>: <last library error>" to stderr and return 1 (use: return cli_fail("info");).
int cli_fail(const char *cmd);
// Print "sqz <cmd>: <message>" to stderr and return 2 (usage errors).
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Parse helpers: strict; on garbage they print a usage error naming the option and return false.
int cli_parse_int(const char *cmd, const char *opt, const char *s, long long *out);
int cli_parse_double(const char *cmd, const char *opt, const char *s, double *out);

#endif

/* cli.h — what the blendarray command's files share. The command is a client
 * of include/blendarray.h, plus a few of the library's internal helpers
 * (src/internal.h: integer parsing, removing a folder) rather than copies. */
#ifndef BLENDARRAY_CLI_H
#define BLENDARRAY_CLI_H

#include "blendarray.h"
#include "internal.h"

/* Subcommands: each parses its own arguments (argv[0] is the subcommand's
 * name) and returns the process exit status: 0 success, 1 failure (a one-line
 * "blendarray: ..." message already on stderr), 2 bad usage. */
int cmd_render(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_preview(int argc, char **argv);

/* "blendarray: <message>\n" on stderr; returns 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

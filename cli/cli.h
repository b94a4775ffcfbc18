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

/* The blendarray Python package's folder (locate.c): $BLENDARRAY_PACKAGE,
 * else found beside this program. 0, or 1 with the reason on stderr. */
int cli_find_package(char *out, size_t cap);

/* What the render command's options say about its renderer (render.c fills
 * it; NULL / 0: the default, denoise -1: the scene's). */
/* The Python beside this program (a venv's bin/python3) or NULL: with bpy,
 * the default Python of the bpy flavour. buf holds the path. */
const char *cli_default_python(char *buf, size_t cap);

/* The whole member `name` of the .npz at path, NUL-terminated, into *text
 * (ba_npz_read_bytes': free it with ba_free(); inspect.c). BA_ENOCHANNEL: no such
 * member; else ba_npz_read_open's and ba_npz_read_bytes' errors. */
int cli_npz_member(const char *path, const char *name, char **text, size_t *len);

/* "blendarray: <message>\n" on stderr; returns 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

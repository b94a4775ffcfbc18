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
typedef struct cli_render_opts {
    const char *blender, *python, *scene, *passes, *engine, *setup;
    int samples, width, height, threads, denoise, display, annotations;
    long long seed;
    int workers, ring, retries;
    double timeout; /* seconds, 0: no limit */
    int verbose;
    volatile const int *stop;
} cli_render_opts;

/* The defaults: 1 worker, ring 4, 1 retry, denoise -1 (open.c). */
void cli_render_opts_init(cli_render_opts *o);

/* The library's options for c (open.c): its settings as JSON, the package
 * folder, and $BLENDARRAY_BLENDER / $BLENDARRAY_PYTHON where c leaves them
 * unset; killed runs' temporary folders are swept first. 0 with *out to free
 * (ba_renderer_options_free), or 1 with the reason on stderr. */
int cli_renderer_options(const cli_render_opts *c, const char *package, ba_renderer_options **out);

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

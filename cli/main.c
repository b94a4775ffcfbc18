/* main.c — the blendarray command: render, inspect, preview.
 * A client of include/blendarray.h only (see cli.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("blendarray: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static void usage(FILE *f)
{
    fputs("usage: blendarray <command> [options]\n"
          "\n"
          "Blender renders, straight into NumPy arrays.\n"
          "\n"
          "commands:\n"
          "  render SCENE.blend   render frames to .npz, .npy files or a stdout stream\n"
          "  inspect FILE...      arrays in .npy/.npz files: shapes, dtypes, statistics\n"
          "  preview FILE -o PNG  a contact sheet of a frame's passes\n"
          "\n"
          "  blendarray <command> --help   options of a command, with examples\n"
          "  blendarray --version\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("blendarray %s\n", ba_version_string());
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "render") == 0) return cmd_render(argc - 1, argv + 1);
    if (strcmp(cmd, "inspect") == 0) return cmd_inspect(argc - 1, argv + 1);
    if (strcmp(cmd, "preview") == 0) return cmd_preview(argc - 1, argv + 1);
    cli_fail("unknown command '%s'; the commands are render, inspect and preview", cmd);
    return 2;
}

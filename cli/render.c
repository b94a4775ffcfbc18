/* render.c — `blendarray render`: frames from Blender workers into .npz,
 * .npy files, a stream of NPY arrays on stdout, a COCO dataset or WebDataset
 * shards. The run:
 * its options (render_args.c), its outputs (render_outputs.c), the library's
 * renderer (render_open.c), and what happened, said once. */
#include <limits.h>
#include <signal.h>
#include <string.h>

#include "render.h"

static volatile int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* Ctrl-C, kill and a closed terminal stop the run (whole files kept); a
 * closed pipe or a full disk is an error to report, not death. */
static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
}

int cmd_render(int argc, char **argv)
{
    render_args a;
    render_plan plan = {0};
    outputs *out = NULL;
    ba_renderer_options *opts = NULL;
    ba_renderer *r = NULL;
    char package[PATH_MAX];
    int status = render_parse_args(argc, argv, &a);
    if (status == 0) status = render_plan_frames(&a, &plan);
    if (status == 0) status = outputs_open(&out, &a, &plan);
    if (status == 0) {
        catch_signals();
        a.stop = &stop_flag;
        status = cli_find_package(package, sizeof package) ||
                 render_options(&a, package, &opts);
    }
    if (status == 0) {
        render_todo todo = {0};
        int err = ba_renderer_open(&r, opts);
        if (err == BA_OK) err = outputs_start(out, &a, &plan, r, &todo);
        if (err == BA_OK)
            err = ba_renderer_run_indices(r, todo.indices, todo.frames,
                                          (const char *const *)todo.params, todo.count,
                                          outputs_frame, out);
        render_todo_free(&todo);
        if (err == BA_OK) err = outputs_finish(out, a.scene);
        if (err != BA_OK) {
            int interrupted = err == BA_EINTR || stop_flag;
            /* the renderer's words; those of the options when it could not open */
            outputs_fail(out, interrupted,
                         r ? ba_renderer_message(r) : ba_renderer_options_message(opts), err);
            status = interrupted ? 130 : 1;
        }
    }
    outputs_free(out);
    ba_renderer_close(r);
    ba_renderer_options_free(opts);
    render_plan_free(&plan);
    render_args_free(&a);
    return status < 0 ? 0 : status; /* -1: --help */
}

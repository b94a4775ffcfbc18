/* render_open.c — the render command's renderer options, as the library takes them:
 * the render settings as one JSON object (the same "settings" the Python API
 * sends, docs/protocol.md), the rest through the options' setters, and the
 * command's environment variables, which the library leaves to its callers:
 *
 *   $BLENDARRAY_BLENDER   the Blender to run when --blender is not given
 *   $BLENDARRAY_PYTHON    the Python of the bpy flavour when --python is not
 *                         given (else the python3 beside this program, else
 *                         the library's default, python3 on PATH)
 *   $BLENDARRAY_PACKAGE   the package folder (locate.c)
 *
 * and, as the library leaves that to its callers too, it removes the
 * temporary folders of runs that were killed (ba_tmp_sweep). */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

/* --setup's string, described as the worker reads Python's setup= string. */
static char *setup_json(const char *spec)
{
    json_t *j = json_pack("{s:s,s:s}", "kind", "string", "spec", spec);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return text;
}

static const char *env_or(const char *value, const char *name)
{
    const char *env = getenv(name);
    return value ? value : env && *env ? env : NULL;
}

int render_options(const render_args *c, const char *package, ba_renderer_options **out)
{
    /* the folders that killed runs left, before this run makes its own: best
     * effort (a $TMPDIR that cannot be read fails the workers' start, saying so) */
    if (ba_tmp_sweep(NULL) != BA_OK && c->verbose)
        fprintf(stderr, "blendarray: cannot look for stale folders in $TMPDIR: %s\n",
                strerror(errno));
    ba_renderer_options *o = NULL;
    int err = ba_renderer_options_new(&o);
    if (err != BA_OK) return cli_fail("out of memory");
    char *settings = json_dumps(c->settings, JSON_COMPACT);
    char *setup = c->setup ? setup_json(c->setup) : NULL;
    char python[PATH_MAX + 16];
    const char *py = env_or(c->python, "BLENDARRAY_PYTHON");
    if (!py) py = cli_default_python(python, sizeof python);
    /* --timeout's seconds in whole milliseconds, rounded up: never 0 (no limit) */
    double ms = ceil(c->timeout * 1000);
    if (!settings || (c->setup && !setup)) err = BA_ENOMEM;
    if (c->timeout > 0 && !(ms <= INT32_MAX)) {
        err = BA_EINVAL;
        cli_fail("--timeout wants at most %d seconds, not %g", INT32_MAX / 1000, c->timeout);
    }
    const struct { int option; const char *value; } strs[] = {
        {BA_OPT_BLENDER, env_or(c->blender, "BLENDARRAY_BLENDER")}, {BA_OPT_PYTHON, py},
        {BA_OPT_PACKAGE_DIR, package}, {BA_OPT_SCENE, c->scene}, {BA_OPT_SETTINGS, settings},
        {BA_OPT_SETUP, setup}};
    const struct { int option; int64_t value; } ints[] = {
        {BA_OPT_SEED, c->seed}, {BA_OPT_WORKERS, c->workers}, {BA_OPT_RING, c->ring},
        {BA_OPT_RETRIES, c->retries}, {BA_OPT_TIMEOUT_MS, c->timeout > 0 ? (int64_t)ms : 0},
        {BA_OPT_VERBOSE, c->verbose}, {BA_OPT_MAX_WORKER_FRAMES, c->max_worker_frames},
        {BA_OPT_MAX_WORKER_MEMORY, c->max_worker_memory}};
    for (size_t i = 0; err == BA_OK && i < sizeof strs / sizeof *strs; i++)
        if (strs[i].value) err = ba_renderer_options_set_str(o, strs[i].option, strs[i].value);
    for (size_t i = 0; err == BA_OK && i < sizeof ints / sizeof *ints; i++)
        err = ba_renderer_options_set_int(o, ints[i].option, ints[i].value);
    if (err == BA_OK) err = ba_renderer_options_set_stop(o, c->stop);
    free(settings);
    free(setup);
    if (err == BA_ENOMEM) cli_fail("out of memory");
    else if (err != BA_OK && ba_renderer_options_message(o)[0])
        cli_fail("%s", ba_renderer_options_message(o));
    if (err != BA_OK) {
        ba_renderer_options_free(o);
        return 1;
    }
    *out = o;
    return 0;
}

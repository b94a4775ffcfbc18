/* abi_options.c — the ABI test of the renderer's options. One binary, built
 * against include/blendarray.h and linked to the shared library
 * (libblendarray.so.0.MINOR), is run twice by meson test: against that
 * library, and against a second build of it whose internal options struct
 * has grown in front of and behind its fields (-DBA_TEST_GROW_OPTIONS, as a
 * later release may add options), preloaded in its place and built with
 * AddressSanitizer where the compiler has it. Both runs must do the same:
 * a program never sees the options' layout, the library makes and fills
 * them. (With 0.2's caller-allocated struct the second run wrote past the
 * program's struct.)
 *
 *   abi_options LIBRARY PACKAGE ROGUE SCENE
 *
 * LIBRARY: the file the library must have been loaded from (checked with
 * dladdr: the run tests the library it means to); PACKAGE: a built
 * blendarray package folder; ROGUE: tests/python/rogue_worker.py, the fake
 * worker standing in for Blender ($ROGUE_PYTHONPATH and $BLENDARRAY_LIB as
 * test_renderer has them); SCENE: any existing file (the fake worker does
 * not open it). */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blendarray.h"
#include "check.h"

static const char *g_pkg, *g_rogue, *g_scene;

/* Every option set through its setter, each to a value other than its default. */
static ba_renderer_options *all_options(volatile const int *stop)
{
    ba_renderer_options *o = (ba_renderer_options *)1;
    CHECK_RC(ba_renderer_options_new(&o), BA_OK);
    if (!o) return NULL;
    CHECK_RC(ba_renderer_options_set_str(o, BA_OPT_BLENDER, g_rogue), BA_OK);
    CHECK_RC(ba_renderer_options_set_str(o, BA_OPT_PYTHON, "python3"), BA_OK);
    CHECK_RC(ba_renderer_options_set_str(o, BA_OPT_PACKAGE_DIR, g_pkg), BA_OK);
    CHECK_RC(ba_renderer_options_set_str(o, BA_OPT_SCENE, g_scene), BA_OK);
    CHECK_RC(ba_renderer_options_set_str(o, BA_OPT_SETTINGS,
                                         "{\"passes\": [\"rgba\"], \"resolution\": [4, 4], "
                                         "\"samples\": 1, \"display\": false}"),
             BA_OK);
    CHECK_RC(ba_renderer_options_set_str(o, BA_OPT_SETUP,
                                         "{\"kind\": \"string\", \"spec\": \"hook.py:fn\"}"),
             BA_OK);
    CHECK_RC(ba_renderer_options_set_int(o, BA_OPT_SEED, 12345), BA_OK);
    CHECK_RC(ba_renderer_options_set_int(o, BA_OPT_WORKERS, 2), BA_OK);
    CHECK_RC(ba_renderer_options_set_int(o, BA_OPT_RING, 3), BA_OK);
    CHECK_RC(ba_renderer_options_set_int(o, BA_OPT_RETRIES, 2), BA_OK);
    CHECK_RC(ba_renderer_options_set_int(o, BA_OPT_TIMEOUT_MS, 60000), BA_OK);
    CHECK_RC(ba_renderer_options_set_int(o, BA_OPT_VERBOSE, 0), BA_OK);
    CHECK_RC(ba_renderer_options_set_stop(o, stop), BA_OK);
    /* refused, with a message, and nothing changed (2 workers below) */
    CHECK_RC(ba_renderer_options_set_int(o, BA_OPT_WORKERS, 257), BA_EINVAL);
    CHECK(strstr(ba_renderer_options_message(o), "workers") != NULL);
    CHECK_RC(ba_renderer_options_set_str(o, BA_OPT_SETTINGS, "[1]"), BA_EINVAL);
    int64_t lo = -1, hi = -1;
    CHECK_RC(ba_renderer_option_bounds(BA_OPT_RING, &lo, &hi), BA_OK);
    CHECK(lo == 0 && hi == 1024); /* 0: by frame size */
    return o;
}

static void test_render_with_every_option(void)
{
    static volatile int stop = 0;
    ba_renderer_options *o = all_options(&stop);
    REQUIRE(o);
    ba_renderer *r = NULL;
    int err = ba_renderer_open(&r, o);
    if (err != BA_OK) T_REPORT("open: %s: %s", ba_strerror(err), ba_renderer_options_message(o));
    ba_renderer_options_free(o); /* the renderer has its own copy */
    REQUIRE(r);
    CHECK_INT(ba_renderer_workers(r), 2);
    for (int64_t i = 0; i < 8; i++) {
        char params[48];
        snprintf(params, sizeof params, "{\"frame\": %lld}", (long long)(50 + i));
        CHECK_RC(ba_renderer_submit(r, i, params), BA_OK);
    }
    for (int64_t i = 0; i < 8; i++) {
        const ba_frame *f = NULL;
        err = ba_renderer_next(r, BA_NEXT_ORDERED, 30000, &f);
        CHECK_RC(err, BA_OK);
        if (err != BA_OK) break;
        CHECK_INT(f->index, i);
        CHECK_INT(f->frame, 50 + i);
        CHECK(f->narrays == 1 && strcmp(f->arrays[0].name, "rgba") == 0);
        const float *v = f->arrays[0].data;
        CHECK(v[0] == (float)i && v[63] == (float)i);
        ba_renderer_release(r, f);
    }
    const ba_frame *f = NULL;
    CHECK_RC(ba_renderer_next(r, BA_NEXT_ORDERED, 0, &f), BA_EDONE);
    ba_renderer_close(r);
}

/* A failed open: *out NULL, why kept in the options (the library writes it
 * into its own struct, wherever that field lies). */
static void test_failed_open(void)
{
    ba_renderer_options *o = all_options(NULL);
    REQUIRE(o);
    CHECK_RC(ba_renderer_options_set_str(o, BA_OPT_PACKAGE_DIR, "/nonexistent"), BA_OK);
    ba_renderer *r = (ba_renderer *)1;
    CHECK_RC(ba_renderer_open(&r, o), BA_EINVAL);
    CHECK(r == NULL);
    CHECK(strstr(ba_renderer_options_message(o), "/nonexistent") != NULL);
    CHECK(strstr(ba_renderer_options_error_json(o), "\"BlendArrayError\"") != NULL);
    ba_renderer_options_free(o);
}

int main(int argc, char **argv)
{
    /* the grown library's run preloads it (and ASan's runtime): the fake
     * workers, plain python3 processes, must not inherit that */
    if (unsetenv("LD_PRELOAD") != 0) perror("unsetenv");
    if (argc != 5) {
        fprintf(stderr, "usage: abi_options LIBRARY PACKAGE ROGUE SCENE\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    g_pkg = argv[2];
    g_rogue = argv[3];
    g_scene = argv[4];
    Dl_info info;
    char loaded[PATH_MAX] = "", want[PATH_MAX] = "";
    if (!dladdr((void *)ba_renderer_options_new, &info) || !info.dli_fname ||
        !realpath(info.dli_fname, loaded) || !realpath(argv[1], want) || strcmp(loaded, want)) {
        fprintf(stderr, "abi_options: the library loaded is %s, not %s\n", loaded, argv[1]);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    setenv("ROGUE", "good", 1);
    setenv("ROGUE_DELAY", "0", 1);
    RUN(test_render_with_every_option);
    RUN(test_failed_open);
    return t_summary();
}

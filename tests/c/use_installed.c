/* use_installed.c — a C program as a user of the installed library writes it:
 * built by tests/python/test_install.py against `meson install`'s copy with
 * `cc use_installed.c $(pkg-config --cflags --libs blendarray)`.
 *
 *   use_installed OUT.npy            checks that the header and the library
 *                                    loaded agree, and writes a known 2x3
 *                                    array that the test reads with NumPy
 *   use_installed OUT.npy SETTINGS   renders one frame of the built-in demo
 *                                    scene with the default options (no
 *                                    package folder named: the installed one)
 *                                    and these settings (JSON), and writes
 *                                    its "rgba" array
 */
#include <stdio.h>
#include <string.h>

#include <blendarray.h>

static int fail(const char *what, int err, const char *detail)
{
    fprintf(stderr, "%s: %s%s%s\n", what, ba_strerror(err), detail && *detail ? ": " : "",
            detail ? detail : "");
    return 1;
}

static int save_rgba(const char *path, const char *settings)
{
    ba_renderer_options *o = NULL;
    ba_renderer *r = NULL;
    int err = ba_renderer_options_new(&o);
    if (err != BA_OK) return fail("ba_renderer_options_new", err, NULL);
    err = ba_renderer_options_set_str(o, BA_OPT_SETTINGS, settings);
    if (err == BA_OK) err = ba_renderer_open(&r, o);
    if (err != BA_OK) {
        fail("ba_renderer_open", err, ba_renderer_options_message(o));
        ba_renderer_options_free(o);
        return 1;
    }
    ba_renderer_options_free(o);
    const ba_frame *f = NULL;
    err = ba_renderer_submit(r, 0, "{\"frame\": 1}");
    if (err == BA_OK) err = ba_renderer_next(r, BA_NEXT_ORDERED, -1, &f);
    const ba_frame_array *rgba = NULL;
    for (int i = 0; err == BA_OK && i < f->narrays; i++)
        if (strcmp(f->arrays[i].name, "rgba") == 0) rgba = &f->arrays[i];
    if (err == BA_OK && !rgba) {
        fprintf(stderr, "the frame has no rgba array\n");
        err = BA_ENOCHANNEL;
    } else if (err == BA_OK) {
        err = ba_npy_save(path, rgba->dtype, rgba->ndim, rgba->shape, rgba->data, rgba->nbytes, 0);
        if (err != BA_OK) fail("ba_npy_save", err, NULL);
    } else {
        fail("rendering", err, ba_renderer_message(r));
    }
    ba_renderer_release(r, f);
    ba_renderer_close(r);
    return err != BA_OK;
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: use_installed OUT.npy [SETTINGS_JSON]\n");
        return 2;
    }
    if (ba_version_number() != BA_VERSION_NUMBER) {
        fprintf(stderr, "header %d, library %u\n", BA_VERSION_NUMBER, ba_version_number());
        return 1;
    }
    if (argc == 3) return save_rgba(argv[1], argv[2]);
    float v[6] = {0.5f, 1.5f, 2.5f, -1.0f, 0.0f, 42.0f};
    uint64_t shape[2] = {2, 3};
    int err = ba_npy_save(argv[1], BA_DTYPE_F32, 2, shape, v, sizeof v, 0);
    if (err != BA_OK) return fail("ba_npy_save", err, NULL);
    printf("blendarray %s\n", ba_version_string());
    return 0;
}

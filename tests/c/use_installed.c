/* use_installed.c — a C program as a user of the installed library writes it:
 * built by tests/python/test_install.py against `meson install`'s copy with
 * `cc use_installed.c $(pkg-config --cflags --libs blendarray)`. It checks
 * that the header and the library loaded agree, and writes an .npy that the
 * test reads with NumPy. */
#include <stdio.h>
#include <string.h>

#include <blendarray.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: use_installed OUT.npy\n");
        return 2;
    }
    if (ba_version_number() != BA_VERSION_NUMBER) {
        fprintf(stderr, "header %d, library %u\n", BA_VERSION_NUMBER, ba_version_number());
        return 1;
    }
    float v[6] = {0.5f, 1.5f, 2.5f, -1.0f, 0.0f, 42.0f};
    uint64_t shape[2] = {2, 3};
    int err = ba_npy_save(argv[1], BA_DTYPE_F32, 2, shape, v, sizeof v, 0);
    if (err != BA_OK) {
        fprintf(stderr, "ba_npy_save: %s\n", ba_strerror(err));
        return 1;
    }
    printf("blendarray %s\n", ba_version_string());
    return 0;
}

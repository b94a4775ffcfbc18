/* blend_fuzzer.c — ba_blend_version on arbitrary bytes: a .blend's header,
 * plain or inside a gzip or zstd stream (a scene file a user names is read by
 * it before Blender). Whatever it answers must be consistent:
 *   - only BA_OK, BA_EFORMAT, BA_EUNSUPPORTED (or BA_ENOMEM);
 *   - a version read from 3 or 4 digits (major < 100, minor < 100), and the
 *     outputs untouched on failure;
 *   - a plain header is judged on its first 17 bytes alone, and a version
 *     read from one agrees with the digits at the place each format has them;
 *   - the same answer through a file (ba_blend_version_fd, a memfd). */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "blendarray.h"
#include "fuzz_memfd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int digit_at(const uint8_t *d, size_t i)
{
    return d[i] - '0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int major = -1, minor = -1;
    int rc = ba_blend_version(data, size, &major, &minor);
    if (rc != BA_OK && rc != BA_EFORMAT && rc != BA_EUNSUPPORTED && rc != BA_ENOMEM)
        __builtin_trap();
    if (rc != BA_OK && (major != -1 || minor != -1)) __builtin_trap();
    if (rc == BA_OK && (major < 0 || major > 99 || minor < 0 || minor > 99)) __builtin_trap();

    int gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    int zstd = size >= 4 && !memcmp(data, "\x28\xb5\x2f\xfd", 4);
    if (!gzip && !zstd) {
        int m2 = -1, n2 = -1;
        if (ba_blend_version(data, size < 17 ? size : 17, &m2, &n2) != rc || m2 != major ||
            n2 != minor)
            __builtin_trap();
        if (rc == BA_OK) { /* "BLENDER" then '_'/'-' 'v'/'V' ddd, or "17-01v" dddd */
            if (memcmp(data, "BLENDER", 7) != 0) __builtin_trap();
            int v = data[7] == '_' || data[7] == '-'
                        ? digit_at(data, 9) * 100 + digit_at(data, 10) * 10 + digit_at(data, 11)
                        : digit_at(data, 13) * 1000 + digit_at(data, 14) * 100 +
                              digit_at(data, 15) * 10 + digit_at(data, 16);
            if (v != major * 100 + minor) __builtin_trap();
            if (!(data[7] == '_' || data[7] == '-') && memcmp(data + 7, "17-01v", 6) != 0)
                __builtin_trap();
        }
    }

    if (size <= BA_BLEND_HEAD_MAX) {
        int fd = fuzz_memfd("blend-fuzz", data, size, 0);
        if (fd >= 0) {
            int m3 = -1, n3 = -1, rc3 = ba_blend_version_fd(fd, &m3, &n3);
            close(fd);
            if (rc3 != BA_ENOMEM && rc != BA_ENOMEM && (rc3 != rc || m3 != major || n3 != minor))
                __builtin_trap();
        }
    }
    return 0;
}

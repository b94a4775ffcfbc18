/* exr_fuzzer.c — ba_exr_open_memory, channel listing and ba_exr_read. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blendarray.h"

/* keep decoded images (and so allocations) small */
#define MAX_FLOATS ((size_t)1 << 22)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ba_exr *exr = NULL;
    if (ba_exr_open_memory(&exr, data, size) != BA_OK) return 0;

    int32_t w = 0, h = 0;
    if (ba_exr_size(exr, &w, &h) != BA_OK || w < 1 || h < 1) __builtin_trap();
    int n = ba_exr_channel_count(exr);
    if (n < 1) __builtin_trap();
    if (n > 64) n = 64;
    const char *names[65];
    size_t total_len = 0;
    for (int i = 0; i < n; ++i) {
        names[i] = ba_exr_channel_name(exr, i);
        if (!names[i]) __builtin_trap();
        total_len += strlen(names[i]);
        int t = ba_exr_channel_type(exr, i);
        if (t < BA_EXR_UINT || t > BA_EXR_FLOAT) __builtin_trap();
    }
    (void)total_len;

    if ((size_t)w * (size_t)h * (size_t)n <= MAX_FLOATS) {
        size_t stride = (size_t)w * (size_t)n * 4;
        size_t bytes = stride * (size_t)h;
        float *buf = malloc(bytes);
        if (buf) {
            /* all channels in file order */
            ba_exr_read(exr, names, n, buf, stride, bytes);
            (void)ba_exr_message(exr);
            /* the first channel twice, then the last: duplicates and a
             * different unpack path */
            if ((size_t)w * (size_t)h * 3 <= MAX_FLOATS) {
                const char *sel[3] = {names[0], names[0], names[n - 1]};
                size_t s3 = (size_t)w * 12;
                if (s3 * (size_t)h <= bytes) ba_exr_read(exr, sel, 3, buf, s3, bytes);
            }
            free(buf);
        }
    }
    ba_exr_close(exr);
    return 0;
}

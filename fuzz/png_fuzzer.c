/* png_fuzzer.c — ba_png_size and ba_png_decode_rgba8. */
#include <stdint.h>
#include <stdlib.h>

#include "blendarray.h"

#define MAX_PIXELS ((size_t)1 << 22)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t w = 0, h = 0;
    if (ba_png_size(data, size, &w, &h) != BA_OK) return 0;
    if (w == 0 || h == 0) __builtin_trap(); /* libpng rejects these */
    if ((size_t)w * (size_t)h > MAX_PIXELS) return 0;
    size_t stride = (size_t)w * 4 + 3; /* padded rows */
    size_t bytes = stride * (size_t)h;
    uint8_t *buf = malloc(bytes);
    if (!buf) return 0;
    ba_png_decode_rgba8(data, size, buf, stride, bytes);
    free(buf);
    return 0;
}

/* png_fuzzer.c — ba_png_size and ba_png_decode_rgba8.
 *
 * The decode goes into a buffer with padded rows, filled with a byte
 * pattern first: the bytes between rows (and after the last one) must
 * still hold it afterwards, whether the decode succeeded or not. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blendarray.h"

#define MAX_PIXELS ((size_t)1 << 22)
#define PAT 0xA5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t w = 0, h = 0;
    if (ba_png_size(data, size, &w, &h) != BA_OK) return 0;
    if (w == 0 || h == 0) __builtin_trap(); /* libpng rejects these */
    if ((size_t)w * (size_t)h > MAX_PIXELS) return 0;
    size_t row_bytes = (size_t)w * 4;
    size_t stride = row_bytes + 3; /* padded rows */
    size_t bytes = stride * (size_t)h + 5; /* and a tail after the last row */
    uint8_t *buf = malloc(bytes);
    if (!buf) return 0;
    memset(buf, PAT, bytes);
    ba_png_decode_rgba8(data, size, buf, stride, bytes);
    for (size_t off = 0; off < bytes; ++off)
        if ((off / stride >= h || off % stride >= row_bytes) && buf[off] != PAT) {
            fprintf(stderr, "png_fuzzer: padding byte changed in row %zu at byte %zu of the row\n",
                    off / stride, off % stride);
            abort();
        }
    free(buf);
    return 0;
}

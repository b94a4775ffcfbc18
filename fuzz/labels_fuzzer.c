/* labels_fuzzer.c — COCO RLE strings and ba_instances_find on arbitrary bytes.
 *
 * First byte even: the rest is an RLE string. Whatever ba_rle_from_string
 * accepts must survive ba_rle_to_string and back unchanged (a canonical
 * re-encoding), and decode as a (sum, 1) mask when the counts' sum fits.
 * First byte odd: bytes 1..3 pick the dtype, height and width (<= 16 x 16),
 * the rest is the image, padded rows. Every instance found must match its
 * mask rebuilt from the image (decode, area, box, ascending ids). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blendarray.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_string(const uint8_t *s, size_t len)
{
    size_t n = 0, m = 0, slen = 0;
    uint32_t *counts = malloc((len ? len : 1) * sizeof *counts);
    if (!counts) return;
    int rc = ba_rle_from_string((const char *)s, len, counts, len, &n);
    if (rc != BA_OK && rc != BA_EFORMAT) __builtin_trap();
    if (rc == BA_OK) {
        if (n > len) __builtin_trap();
        /* too small a buffer: EBUFSIZE and the same count */
        if (n > 0 && (ba_rle_from_string((const char *)s, len, counts, n - 1, &m) != BA_EBUFSIZE ||
                      m != n))
            __builtin_trap();
        size_t cap = ba_rle_string_bound(n);
        char *str = malloc(cap);
        uint32_t *back = malloc((cap ? cap : 1) * sizeof *back);
        if (str && back) {
            if (ba_rle_to_string(counts, n, str, cap, &slen) != BA_OK) __builtin_trap();
            if (slen + 1 > cap || strlen(str) != slen) __builtin_trap();
            if (ba_rle_from_string(str, slen, back, cap, &m) != BA_OK || m != n ||
                memcmp(back, counts, n * sizeof *counts) != 0)
                __builtin_trap();
        }
        free(str);
        free(back);
        uint64_t sum = 0, ones = 0;
        for (size_t i = 0; i < n; i++) {
            sum += counts[i];
            if (i % 2) ones += counts[i];
        }
        if (sum <= 4096) {
            uint8_t mask[4096];
            memset(mask, 0, sizeof mask);
            if (ba_rle_decode(counts, n, (size_t)sum, 1, mask, 1, 1) != BA_OK) __builtin_trap();
            uint64_t on = 0;
            for (size_t i = 0; i < sum; i++) on += mask[i];
            if (on != ones) __builtin_trap();
            if (sum > 0 && ba_rle_decode(counts, n, (size_t)sum + 1, 1, mask, 1, 1) != BA_EFORMAT)
                __builtin_trap();
        }
    }
    free(counts);
}

static uint32_t pixel(const uint8_t *img, int dtype, size_t stride, size_t ps, size_t y, size_t x,
                      int *bad)
{
    const uint8_t *p = img + y * stride + x * ps;
    uint32_t u = 0;
    uint16_t u16;
    float f;
    switch (dtype) {
    case BA_DTYPE_U8: return *p;
    case BA_DTYPE_U16: memcpy(&u16, p, 2); return u16;
    case BA_DTYPE_F32:
        memcpy(&f, p, 4);
        if (!(f >= 0.0f && f < 4294967296.0f) || (float)(uint32_t)f != f) {
            *bad = 1;
            return 0;
        }
        return (uint32_t)f;
    default:
        memcpy(&u, p, 4);
        if (dtype == BA_DTYPE_I32 && (int32_t)u < 0) *bad = 1;
        return u;
    }
}

static void fuzz_image(const uint8_t *data, size_t size)
{
    static const int dtypes[] = {BA_DTYPE_U8, BA_DTYPE_U16, BA_DTYPE_U32, BA_DTYPE_I32,
                                 BA_DTYPE_F32, BA_DTYPE_F16};
    if (size < 4) return;
    int dtype = dtypes[data[1] % 6];
    size_t h = data[2] % 17, w = data[3] % 17, max = data[1] / 6 % 8, pad = data[1] / 48 % 3;
    /* pixels 1 to 3 elements apart (one channel of an interleaved image) */
    size_t elem = ba_dtype_size(dtype), ps = elem * (1 + data[2] / 17 % 3);
    data += 4;
    size = size - 4;
    size_t stride = (w ? (w - 1) * ps + elem : 0) + pad;
    if (h * stride > size) h = stride ? size / stride : 0;
    const uint8_t *img = data;
    ba_instances *in = NULL;
    int rc = ba_instances_find(&in, img, dtype, h, w, stride, ps, max);
    if (rc == BA_EUNSUPPORTED && dtype == BA_DTYPE_F16 && !in) return;
    if (dtype == BA_DTYPE_F16) __builtin_trap();
    /* BA_ERANGE exactly when a pixel is no id or there are too many ids */
    int bad = 0;
    uint32_t ids[16 * 16];
    size_t distinct = 0;
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++) {
            uint32_t v = pixel(img, dtype, stride, ps, y, x, &bad);
            size_t k = 0;
            while (k < distinct && ids[k] != v) k++;
            if (v && k == distinct) ids[distinct++] = v;
        }
    if ((rc == BA_ERANGE) != (bad || distinct > max)) __builtin_trap();
    if (rc != BA_OK) {
        if (rc != BA_ERANGE || in != NULL) __builtin_trap();
        return;
    }
    if (!in || ba_instances_count(in) != distinct) __builtin_trap();
    uint8_t mask[16 * 16];
    size_t seen = 0;
    for (size_t i = 0; i < ba_instances_count(in); i++) {
        uint32_t id = ba_instances_id(in, i), box[4];
        if (id == 0 || (i && ba_instances_id(in, i - 1) >= id)) __builtin_trap();
        size_t n;
        const uint32_t *c = ba_instances_rle(in, i, &n);
        memset(mask, 0, sizeof mask);
        if (!c || ba_rle_decode(c, n, h, w, mask, w, 1) != BA_OK) __builtin_trap();
        uint64_t area = 0;
        size_t x0 = w, y0 = h, x1 = 0, y1 = 0;
        for (size_t y = 0; y < h; y++)
            for (size_t x = 0; x < w; x++) {
                int on = pixel(img, dtype, stride, ps, y, x, &bad) == id;
                if (on != mask[y * w + x]) __builtin_trap();
                if (!on) continue;
                area++;
                x0 = x < x0 ? x : x0;
                x1 = x > x1 ? x : x1;
                y0 = y < y0 ? y : y0;
                y1 = y > y1 ? y : y1;
            }
        ba_instances_box(in, i, box);
        if (area == 0 || ba_instances_area(in, i) != area || box[0] != x0 || box[1] != y0 ||
            box[2] != x1 - x0 + 1 || box[3] != y1 - y0 + 1)
            __builtin_trap();
        seen += area;
    }
    /* every non-zero pixel belongs to one of them */
    size_t nonzero = 0;
    for (size_t y = 0; y < h; y++)
        for (size_t x = 0; x < w; x++) nonzero += pixel(img, dtype, stride, ps, y, x, &bad) != 0;
    if (nonzero != seen) __builtin_trap();
    ba_instances_free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    if (data[0] % 2 == 0)
        fuzz_string(data + 1, size - 1);
    else
        fuzz_image(data, size);
    return 0;
}
